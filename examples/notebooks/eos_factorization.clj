;; # Edge of stability on deep matrix factorization
;;
;; Gradient descent on a depth-3 factorization whose learning rate is just
;; above 2/S₁, where S₁ = L s₁^(2−2/L) is the sharpness of the balanced
;; minimum ([EOS]; SCIENCE.md §5–§6). The sharpness rises until it reaches
;; 2/η, then hovers around it while the loss and the top mode settle into a
;; period-2 oscillation.
;;
;; Everything shown here is computed by `dlnlab.examples/run-example`, which
;; the test suite runs too; this file only displays it.
(ns eos-factorization
  {:nextjournal.clerk/visibility {:code :hide}}
  (:require [dlnlab.examples :as ex]
            [nextjournal.clerk :as clerk]))

^{::clerk/visibility {:result :hide}}
(def example (ex/run-example "eos-factorization"))

;; ## The experiment
(clerk/md (str "```\n" (:notes example) "\n```"))

;; ## What it shows
;; `late-sharpness-mean` is the mean sharpness over the last fifth of the run:
;; it should sit at `stability-threshold` = 2/η, not at the balanced
;; minimum's `balanced-minimum-sharpness`.
(clerk/table (ex/summary-table (:summary example)))

;; ## Sharpness and the 2/η line
(clerk/vl (get-in example [:figures :sharpness]))

;; ## Loss
(clerk/vl (get-in example [:figures :loss]))

;; ## Mode strengths and their targets
;; The modes are learned one at a time in the order of their singular values;
;; mode 1, the only one with η S₁ > 2, keeps oscillating around its target.
(clerk/vl (get-in example [:figures :modes]))

;; ## Balance between layers
(clerk/vl (get-in example [:figures :balance-gap]))
