;; # Multi-pathway re-balancing under large-step gradient descent
;;
;; Two pathways of depth 3 start with 95% of every mode in pathway 1. For
;; mode 1 the learning rate lies in the window 2/S_single < η < 2/S_split
;; ([MP]; doc/science.md §5): gradient descent cannot stay at the lopsided
;; minimum, oscillates, and drifts to a split whose sharpness is just below
;; 2/η. Mode 2 is stable at this learning rate and keeps its split, as
;; gradient flow would.
;;
;; The numbers come from `dlnlab.examples/run-example`.
(ns multi-pathway-rebalancing
  (:require [dlnlab.examples :as ex]))

;; `-Ddlnlab.notebooks.quick=true`: the reduced run the tests use.
(def example (ex/run-example "multi-pathway-rebalancing"
                             {:quick (Boolean/getBoolean "dlnlab.notebooks.quick")}))

;; Figures are Vega-Lite maps; the Kindly tag tells Clay, Clerk and Portal to draw them.
(def figures (update-vals (:figures example) #(vary-meta % assoc :kindly/kind :kind/vega-lite)))

;; ## The experiment
(:notes example)

;; ## What it shows
(ex/rounded (dissoc (:summary example) :modes))

;; Per mode: the sharpness of a single pathway and of an equal split, whether
;; η exceeds 2/S_single, and the share of the larger pathway before and after.
;; `final-split-sharpness` is L Σₖ πₖ^(2−2/L) of the final split.
(ex/rounded (get-in example [:summary :modes]))

;; ## Pathway shares
(:pathway-shares figures)

;; ## Sharpness and the 2/η line
(:sharpness figures)

;; ## Mode strengths
(:modes figures)

;; ## Loss
(:loss figures)
