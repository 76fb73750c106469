;; # Multi-pathway re-balancing under large-step gradient descent
;;
;; Two pathways of depth 3 start with 95% of every mode in pathway 1. For
;; mode 1 the learning rate lies in the window 2/S_single < η < 2/S_split
;; ([MP]; SCIENCE.md §5): gradient descent cannot stay at the lopsided
;; minimum, oscillates, and drifts to a split whose sharpness is just below
;; 2/η. Mode 2 is stable at this learning rate and keeps its split, as
;; gradient flow would.
;;
;; Everything shown here is computed by `dlnlab.examples/run-example`, which
;; the test suite runs too; this file only displays it.
(ns multi-pathway-rebalancing
  {:nextjournal.clerk/visibility {:code :hide}}
  (:require [dlnlab.examples :as ex]
            [nextjournal.clerk :as clerk]))

^{::clerk/visibility {:result :hide}}
(def example (ex/run-example "multi-pathway-rebalancing"))

;; ## The experiment
(clerk/md (str "```\n" (:notes example) "\n```"))

;; ## What it shows
(clerk/table (ex/summary-table (dissoc (:summary example) :modes)))

;; Per mode: the sharpness of a single pathway and of an equal split, whether
;; η exceeds 2/S_single, and the share of the larger pathway before and after.
;; `final-split-sharpness` is L Σₖ πₖ^(2−2/L) of the final split.
(clerk/table (ex/rounded (get-in example [:summary :modes])))

;; ## Pathway shares
(clerk/vl (get-in example [:figures :pathway-shares]))

;; ## Sharpness and the 2/η line
(clerk/vl (get-in example [:figures :sharpness]))

;; ## Mode strengths
(clerk/vl (get-in example [:figures :modes]))

;; ## Loss
(clerk/vl (get-in example [:figures :loss]))
