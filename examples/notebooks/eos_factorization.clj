;; # Edge of stability on deep matrix factorization
;;
;; Gradient descent on a depth-3 factorization whose learning rate is just
;; above 2/S₁, where S₁ = L s₁^(2−2/L) is the sharpness of the balanced
;; minimum ([EOS]; doc/science.md §5–§6). The sharpness rises until it
;; reaches 2/η, then hovers around it while the loss and the top mode settle
;; into a period-2 oscillation.
;;
;; A plain namespace: it needs only dlnlab. Figures are Vega-Lite maps tagged
;; `{:kindly/kind :kind/vega-lite}`, so Clay, Clerk (with Kindly support) and
;; Portal draw them; see examples/notebooks/README.md. Everything shown is
;; computed by `dlnlab.examples/run-example`, which the test suite runs too.
(ns eos-factorization
  (:require [dlnlab.examples :as ex]))

;; With the JVM property `dlnlab.notebooks.quick=true` (what the tests set)
;; the example runs at its reduced size; the claims hold there as well.
(def quick? (Boolean/getBoolean "dlnlab.notebooks.quick"))

(def example (ex/run-example "eos-factorization" {:quick quick?}))

;; Figures are Vega-Lite maps; the Kindly tag tells Clay, Clerk and Portal to draw them.
(def figures (update-vals (:figures example) #(vary-meta % assoc :kindly/kind :kind/vega-lite)))

;; ## The experiment
(:notes example)

;; ## What it shows
;; `late-sharpness-mean` is the mean sharpness over the last fifth of the run:
;; it sits at `stability-threshold` = 2/η, not at the balanced minimum's
;; `balanced-minimum-sharpness`.
(ex/rounded (:summary example))

;; ## Sharpness and the 2/η line
(:sharpness figures)

;; ## Loss
(:loss figures)

;; ## Mode strengths and their targets
;; The modes are learned one at a time in the order of their singular values;
;; mode 1, the only one with η S₁ > 2, keeps oscillating around its target.
(:modes figures)

;; ## Balance between layers
(:balance-gap figures)
