;; # Re-balancing across learning rates
;;
;; The run of multi_pathway_rebalancing.clj swept over the learning rate
;; ([MP]; doc/science.md §5). Two pathways of depth 3 learn targets 1.0 and
;; 0.3 from a 95/5 split. For mode 1 a single pathway has sharpness
;; S_single = L s^(2−2/L) and an equal split S_split = S_single K^(2/L−1):
;; below η = 2/S_single gradient descent keeps the lopsided split; inside the
;; window 2/S_single < η < 2/S_split it oscillates off it and settles at a
;; split whose sharpness is just below 2/η; above the window no split is
;; stable.
;;
;; It reads examples/multi-pathway-lr-sweep.edn and runs it.
(ns multi-pathway-lr-sweep
  (:require [clojure.java.io :as io]
            [dlnlab.core :as dln]
            [dlnlab.examples :as ex]
            [dlnlab.io :as dio]
            [dlnlab.vega :as vega]
            [dlnlab.theory :as theory]))

;; `-Ddlnlab.notebooks.quick=true` (the tests): one learning rate below, two
;; inside and one above the window, 600 steps, one core.
(def quick? (Boolean/getBoolean "dlnlab.notebooks.quick"))

(def sweep-file (dio/read-edn-file (io/file (ex/examples-dir {}) "multi-pathway-lr-sweep.edn")))

(def sweep-map
  (cond-> sweep-file
    quick? (-> (assoc-in [:base :steps] 600)
               (assoc :grid {[:optimizer :lr] [0.5 0.75 0.8 0.86]}))))

(def runs (dln/sweep (:base sweep-map) (:grid sweep-map)
                     {:seeds (:seeds sweep-map) :jobs (if quick? 1 (.availableProcessors (Runtime/getRuntime)))}))

;; ## The window of mode 1, from the theory
(def window
  (let [{:keys [model task]} (:base sweep-map)]
    (theory/rebalancing-window (first (:singular-values task)) (:pathways model) (:depth model))))

(ex/rounded window)

;; ## What each learning rate does to mode 1
;; The larger pathway's final share of mode 1, the last recorded sharpness and
;; 2/η. Inside the window the share falls below its starting 0.95 and the
;; sharpness sits just below 2/η; below it the split stays lopsided.
(def table
  (vec (for [r runs
             :let [lr (double (get-in r [:experiment :optimizer :lr]))
                   shares (first (get-in r [:analysis :final-pathway-shares]))
                   sharpness (last (filter some? (get-in r [:trajectory :sharpness])))]]
         (array-map :lr lr
                    :where (cond (<= lr (double (:lr-min window))) :below-window
                                 (< lr (double (:lr-max window))) :inside-window
                                 :else :above-window)
                    :status (:status r)
                    :mode-1-largest-share (when shares (reduce max shares))
                    :final-sharpness sharpness
                    :two-over-lr (/ 2.0 lr)))))

(ex/rounded table)

;; Figures are Vega-Lite maps; the Kindly tag tells Clay, Clerk and Portal to draw them.
(def figures (update-vals (vega/standard-specs runs) #(vary-meta % assoc :kindly/kind :kind/vega-lite)))

;; ## Largest pathway share per mode against η, window dashed
(:shares-vs-lr figures)

;; ## Late sharpness against η, with the 2/η curve
(:sharpness-vs-lr figures)

;; ## Late values against η (the bifurcation diagram)
(:bifurcation figures)
