;; # The Lyapunov exponent across the period-doubling cascade
;;
;; examples/lyapunov-cascade.edn: a sweep of GD over the learning rate on a
;; balanced scalar chain of depth 2 (target s = 1, so S_1 = 2 and the per-mode
;; map's parameter is r = 2η). Each run records :lyapunov, the largest
;; Lyapunov exponent of the GD map from the exact tangent map J = I − ηH,
;; with :window? true: each record is the exponent since the previous one.
;; Below the edge of stability (η < 1) the exponent is 0: the scalar chain has
;; a flat direction at its minima (w1 → c w1, w2 → w2/c). On the cycles past
;; it the exponent is negative, it touches 0 at each period doubling, and it
;; turns positive at the onset of chaos r_∞/S_1, where it follows the per-mode
;; GD map's exponent (dlnlab.theory.gd-map).
;;
;; It reads examples/lyapunov-cascade.edn and runs it.
(ns lyapunov-cascade
  (:require [clojure.java.io :as io]
            [dlnlab.examples :as ex] [dlnlab.io :as dio]
            [dlnlab.figure :as fig] [dlnlab.vega :as vega]
            [dlnlab.result :as result] [dlnlab.sweep :as sweep]
            [dlnlab.theory.gd-map :as gd-map]))

;; `-Ddlnlab.notebooks.quick=true` (the tests): every fourth learning rate,
;; 1500 steps, one core.
(def quick? (Boolean/getBoolean "dlnlab.notebooks.quick"))

(def sweep-map (dio/read-edn-file (io/file (ex/examples-dir {}) "lyapunov-cascade.edn")))

(def lrs (let [vs (get-in sweep-map [:grid [:optimizer :lr]])] (if quick? (vec (take-nth 4 vs)) vs)))

(def runs (sweep/sweep (cond-> (:base sweep-map) quick? (assoc :steps 1500 :record {:every 150 :metrics [:loss :lyapunov] :lyapunov {:window? true}}))
                       {[:optimizer :lr] lrs}
                       {:seeds (:seeds sweep-map) :jobs (if quick? 1 (.availableProcessors (Runtime/getRuntime)))}))

;; ## The doubling points of the per-mode map at depth 2, and where they fall in η
(def doubling (gd-map/doubling-points 2))

(ex/rounded (into (sorted-map) (for [[k r] doubling] [k {:r r :lr (/ (double r) 2.0)}])))

;; ## Each run: the exponent over the last fifth, beside the per-mode map's
(def table
  (vec (for [r runs
             :let [lr (double (result/effective-lr r))
                   vs (result/late-values r :lyapunov)]]
         {:lr lr :r (* 2.0 lr)
          :network (/ (double (reduce + vs)) (count vs))
          :per-mode-map (gd-map/gd-map-lyapunov (* 2.0 lr) 2 {:n 20000})
          :period (gd-map/attractor-period (* 2.0 lr) 2)})))

(ex/rounded table)

;; ## The figure the sweep writes (lyapunov-vs-lr)
(def lyapunov-figure (vega/spec (fig/figure :lyapunov-vs-lr runs {})))

lyapunov-figure
