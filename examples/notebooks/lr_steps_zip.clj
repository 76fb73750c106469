;; # A sweep with zipped axes
;;
;; examples/lr-steps-zip.edn: a sweep whose :zip ties the learning rate and
;; the number of steps together, so every point trains GD to the same time
;; η · steps = 4, beside a cartesian axis of two seeds. At equal time GD
;; approaches gradient flow as η → 0: each halving of η halves the change in
;; the final loss.
;;
;; It reads examples/lr-steps-zip.edn and runs it.
(ns lr-steps-zip
  (:require [clojure.java.io :as io]
            [dlnlab.examples :as ex]
            [dlnlab.io :as dio]
            [dlnlab.sweep :as sweep]))

;; `-Ddlnlab.notebooks.quick=true` (the tests): one core.
(def quick? (Boolean/getBoolean "dlnlab.notebooks.quick"))

(def sweep-map (dio/read-edn-file (io/file (ex/examples-dir {}) "lr-steps-zip.edn")))

(def runs (sweep/sweep (:base sweep-map) (:grid sweep-map)
                       {:zip (:zip sweep-map) :seeds (:seeds sweep-map)
                        :jobs (if quick? 1 (.availableProcessors (Runtime/getRuntime)))}))

;; ## The points, in grid order
(def table
  (vec (for [r runs]
         {:lr (get-in r [:experiment :optimizer :lr]) :steps (get-in r [:experiment :steps])
          :seed (get-in r [:experiment :seed]) :time (get-in r [:final :time]) :final-loss (get-in r [:final :loss])})))

(ex/rounded table)

;; ## Final loss against η, one line per seed
(def loss-figure
  (with-meta
    {:$schema "https://vega.github.io/schema/vega-lite/v5.json"
     :title "Final loss at time 4 against the learning rate"
     :data {:values (mapv #(update % :seed str) table)}
     :mark {:type :line :point true}
     :encoding {:x {:field :lr :type :quantitative :scale {:type :log} :title "η"}
                :y {:field :final-loss :type :quantitative :title "loss at t = 4"}
                :color {:field :seed :type :nominal}}}
    {:kindly/kind :kind/vega-lite}))

loss-figure
