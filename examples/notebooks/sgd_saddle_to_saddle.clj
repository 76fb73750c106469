;; # SGD from small initialization: saddle to saddle
;;
;; A depth-3 chain starting near zero learns a teacher with singular values
;; 4, 2, 1 from noisy samples by minibatch SGD ([SDE]; SCIENCE.md §4, §7). The
;; modes are learned one at a time, largest first, and the loss falls in a
;; staircase down to the label-noise floor m σ²/2.
;;
;; Everything shown here is computed by `dlnlab.examples/run-example`, which
;; the test suite runs too; this file only displays it.
(ns sgd-saddle-to-saddle
  {:nextjournal.clerk/visibility {:code :hide}}
  (:require [dlnlab.examples :as ex]
            [nextjournal.clerk :as clerk]))

^{::clerk/visibility {:result :hide}}
(def example (ex/run-example "sgd-saddle-to-saddle"))

;; ## The experiment
(clerk/md (str "```\n" (:notes example) "\n```"))

;; ## What it shows
;; `learning-order` (modes sorted by the step they are learned) should equal
;; `order-of-singular-values`, and `final-loss` should sit at `noise-floor`.
(clerk/table (ex/summary-table (:summary example)))

;; ## Loss: a staircase
(clerk/vl (get-in example [:figures :loss]))

;; ## Mode strengths
(clerk/vl (get-in example [:figures :modes]))

;; ## Mode strengths on a log scale
;; Near a saddle a mode grows exponentially, a straight line here, until it
;; reaches its target.
(clerk/vl (get-in example [:figures :modes-log]))
