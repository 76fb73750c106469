;; # SGD from small initialization: saddle to saddle
;;
;; A depth-3 chain starting near zero learns a teacher with singular values
;; 4, 2, 1 from noisy samples by minibatch SGD ([SDE]; doc/science.md §4,
;; §7). The modes are learned one at a time, largest first, and the loss
;; falls in a staircase down to the label-noise floor m σ²/2.
;;
;; The numbers come from `dlnlab.examples/run-example`.
(ns sgd-saddle-to-saddle
  (:require [dlnlab.examples :as ex]))

;; `-Ddlnlab.notebooks.quick=true`: the shorter run the tests use.
(def example (ex/run-example "sgd-saddle-to-saddle"
                             {:quick (Boolean/getBoolean "dlnlab.notebooks.quick")}))

;; Figures are Vega-Lite maps; the Kindly tag tells Clay, Clerk and Portal to draw them.
(def figures (update-vals (:figures example) #(vary-meta % assoc :kindly/kind :kind/vega-lite)))

;; ## The experiment
(:notes example)

;; ## What it shows
;; `learning-order` (modes sorted by the step they are learned) equals
;; `order-of-singular-values`, and `final-loss` sits at `noise-floor`.
(ex/rounded (:summary example))

;; ## Loss: a staircase
(:loss figures)

;; ## Mode strengths
(:modes figures)

;; ## Mode strengths on a log scale
;; Near a saddle a mode grows exponentially, a straight line here, until it
;; reaches its target.
(:modes-log figures)
