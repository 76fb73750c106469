;; # SGD noise across batch sizes
;;
;; The ensemble of sde_ensemble.clj swept over the batch size B
;; ([SDE]; doc/science.md §7). The noise of SGD scales as lr/B: the median
;; learning time stays at the gradient-flow time while its spread shrinks like
;; 1/√B, and the stationary variance of each mode around its target falls like
;; 1/B, as the stationary density of the SDE says.
;;
;; It reads examples/sde-batch-size.edn and runs it.
(ns sde-batch-size
  (:require [clojure.java.io :as io]
            [dlnlab.core :as dln]
            [dlnlab.examples :as ex]
            [dlnlab.io :as dio]
            [dlnlab.vega :as vega]))

;; `-Ddlnlab.notebooks.quick=true` (the tests): three batch sizes, 200 paths.
(def quick? (Boolean/getBoolean "dlnlab.notebooks.quick"))

(def sweep-map
  (cond-> (dio/read-edn-file (io/file (ex/examples-dir {}) "sde-batch-size.edn"))
    quick? (-> (assoc-in [:base :sde :paths] 200)
               (assoc :grid {[:sde :batch-size] [1 4 16]}))))

(def runs (dln/sweep (:base sweep-map) (:grid sweep-map)
                     {:seeds (:seeds sweep-map) :jobs (if quick? 1 (.availableProcessors (Runtime/getRuntime)))}))

;; ## Mode 1 at each batch size
;; The 5–95% spread of its learning time, and its stationary variance against
;; the theory's.
(ex/rounded
 (vec (for [r runs
            :let [lt (first (get-in r [:analysis :learned-time 0.9]))
                  st (first (get-in r [:analysis :stationary]))]]
        (array-map :batch-size (get-in r [:experiment :sde :batch-size])
                   :median-time (:median lt)
                   :spread-5-95 (- (double (get-in lt [:quantiles 0.95])) (double (get-in lt [:quantiles 0.05])))
                   :variance (:variance st)
                   :theory-variance (get-in st [:theory :variance])))))

;; Figures are Vega-Lite maps; the Kindly tag tells Clay, Clerk and Portal to draw them.
(def figures (update-vals (vega/standard-specs runs) #(vary-meta % assoc :kindly/kind :kind/vega-lite)))

;; ## Learning time against B, gradient-flow time dashed
(:learning-time-sweep figures)

;; ## Stationary variance against B, with the theory
(:stationary-sweep figures)
