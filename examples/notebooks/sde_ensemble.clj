;; # The per-mode SDE of SGD
;;
;; Not a network: an ensemble of paths of the one-dimensional SDE that SGD
;; follows along each mode of an aligned, balanced depth-3 network
;; ([SDE]; doc/science.md §7), with the learning rate, batch size and label
;; noise of sgd-saddle-to-saddle.edn. Each mode is learned after a plateau,
;; largest first, close to its gradient-flow time; its diffusion peaks before
;; it is learned; once learned it fluctuates around its target with the
;; variance of the stationary density.
;;
;; It reads examples/sde-ensemble.edn and runs it.
(ns sde-ensemble
  (:require [clojure.java.io :as io]
            [dlnlab.core :as dln]
            [dlnlab.examples :as ex]
            [dlnlab.io :as dio]
            [dlnlab.vega :as vega]
            [dlnlab.theory :as theory]))

;; `-Ddlnlab.notebooks.quick=true` (the tests): 200 paths instead of 2000.
(def quick? (Boolean/getBoolean "dlnlab.notebooks.quick"))

(def experiment
  (cond-> (dio/read-edn-file (io/file (ex/examples-dir {}) "sde-ensemble.edn"))
    quick? (assoc-in [:sde :paths] 200)))

(def result (dln/run experiment))

;; ## Learning times against gradient flow
;; Per mode, the median time at which a path reaches 90% of its target, its
;; 5–95% spread, and the time of gradient flow from the same start.
(def learning
  (let [{:keys [modes depth]} (:sde experiment)]
    (vec (for [{:keys [mode median quantiles]} (get-in result [:analysis :learned-time 0.9])
               :let [{:keys [s pi0]} (nth modes mode)]]
           (array-map :mode (inc (long mode))
                      :median-time median
                      :spread-5-95 (- (double (get quantiles 0.95)) (double (get quantiles 0.05)))
                      :gradient-flow-time (theory/gradient-flow-time {:s s :pi0 pi0 :depth depth}
                                                                     (* 0.9 (double s))))))))

(ex/rounded learning)

;; ## The diffusion peaks first
;; Where the diffusion of each mode peaks (measured and 2(L−1)s/(3L−2) from
;; the theory, for σ = 0) and whether that comes before the mode is learned.
(ex/rounded (mapv #(select-keys % [:mode :peak-pi :theory-peak-pi :peak-time :median-learned-time :precedes-learning?])
                  (get-in result [:analysis :diffusion-peak])))

;; ## Stationary fluctuations
;; The variance of each mode around its target at the end, against the
;; variance of the SDE's stationary density and its Gibbs approximation.
(ex/rounded (mapv (fn [{:keys [mode variance ks] th :theory}]
                    (array-map :mode (inc (long mode)) :variance variance
                               :theory (:variance th) :gibbs (:gibbs-variance th) :ks-distance ks))
                  (get-in result [:analysis :stationary])))

;; Figures are Vega-Lite maps; the Kindly tag tells Clay, Clerk and Portal to draw them.
(def figures (update-vals (vega/standard-specs result) #(vary-meta % assoc :kindly/kind :kind/vega-lite)))

;; ## The ensemble: mean and 5–95% band per mode
(:sde-ensemble figures)

;; ## Learning-time histograms
(:learning-times figures)

;; ## Stationary histogram and the analytic density
(:stationary figures)
