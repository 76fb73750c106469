;; # The minibatch gradient noise along a run
;;
;; examples/sgd-noise.edn: SGD (B = 16, label noise σ = 0.5) learns a teacher
;; with singular values 3, 1.5 and 0.5 from an aligned, balanced start. At each
;; record the run measures the noise of the minibatch gradient exactly over the
;; 8000 samples: the variance of its entry along each target mode (:mode-noise,
;; beside the per-mode SDE's (2e² + σ²)/B), its total variance (:noise-trace)
;; and the share of it in the top-3 Hessian eigenspace (:noise-alignment).
;; As a mode is learned its error e = π − s goes to 0 and its noise falls to the
;; label-noise floor σ²/B = 0.0156; the modes the teacher does not have sit at
;; that floor throughout.
;;
;; It reads examples/sgd-noise.edn and runs it.
(ns sgd-noise
  (:require [clojure.java.io :as io]
            [dlnlab.core :as dln]
            [dlnlab.examples :as ex]
            [dlnlab.io :as dio]))

;; `-Ddlnlab.notebooks.quick=true` (the tests): 200 steps and 2000 samples.
(def quick? (Boolean/getBoolean "dlnlab.notebooks.quick"))

(def experiment
  (cond-> (dio/read-edn-file (io/file (ex/examples-dir {}) "sgd-noise.edn"))
    quick? (-> (assoc :steps 200) (assoc-in [:task :samples] 2000))))

(def result (dln/run experiment))

(def rows
  (let [tr (:trajectory result)]
    (vec (for [[step row] (map vector (:step tr) (:mode-noise tr))
               [i [measured predicted]] (map-indexed vector (take 3 row))]
           {:step step :mode (str "mode " (inc i)) :measured measured :predicted predicted
            :ratio (/ (double measured) (double predicted))}))))

;; ## Measured over predicted, per mode: within a few percent throughout
(ex/rounded (mapv #(select-keys % [:mode :step :ratio]) (take-nth 9 rows)))

;; ## The total noise and its share in the top-3 Hessian eigenspace
(ex/rounded (mapv (fn [s t a] {:step s :noise-trace t :top-3-share a})
                  (take-nth 5 (get-in result [:trajectory :step]))
                  (take-nth 5 (get-in result [:trajectory :noise-trace]))
                  (take-nth 5 (get-in result [:trajectory :noise-alignment]))))

;; ## The per-mode noise against the step: measured (dots), predicted (lines)
(def noise-figure
  (with-meta
    {:$schema "https://vega.github.io/schema/vega-lite/v5.json"
     :title "Minibatch noise along each mode: measured and (2e² + σ²)/B"
     :data {:values rows}
     :layer [{:mark {:type :line}
              :encoding {:x {:field :step :type :quantitative}
                         :y {:field :predicted :type :quantitative :scale {:type :log} :title "variance of u_iᵀ G v_i"}
                         :color {:field :mode :type :nominal}}}
             {:mark {:type :point}
              :encoding {:x {:field :step :type :quantitative}
                         :y {:field :measured :type :quantitative}
                         :color {:field :mode :type :nominal}}}]}
    {:kindly/kind :kind/vega-lite}))

noise-figure
