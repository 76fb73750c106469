(ns dlnlab.figure.chaos
  "The Lyapunov exponent of a learning-rate sweep (:lyapunov-vs-lr, a method of
  dlnlab.figure/build-figure): each run's recorded :lyapunov
  (dlnlab.metrics.lyapunov) against its effective learning rate, across the
  period-doubling cascade beyond the edge of stability. For GD on a standard
  :chain on :matrix-factorization the per-mode GD map of the top mode gives the
  theory (doc/science.md §6, dlnlab.theory.gd-map): its exponent as a curve,
  the edge of stability 2/S_1 and the onset of chaos r_inf/S_1 (the
  accumulation point of the doubling cascade, r = lr S_1) as vertical lines."
  (:require [dlnlab.figure :as fig :refer [fmt]]
            [dlnlab.figure.layout :as layout]
            [dlnlab.result :as result]
            [dlnlab.theory :as theory]
            [dlnlab.theory.gd-map :as gd-map]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- late-exponent
  "The mean of the late records of :lyapunov of run r (the last fifth of its
  rows; with :window? true that is the exponent over the end of the run), or nil."
  [r]
  (let [vs (filter fig/finite? (result/late-values r :lyapunov))]
    (when (seq vs) (/ (double (reduce + vs)) (count vs)))))

(defn- top-mode-map
  "{:s S_1 :depth L} when every run is GD on a standard :chain on
  :matrix-factorization with one depth and top target (where the per-mode map
  describes the top mode), else nil."
  [rs]
  (let [facts (distinct (for [r rs
                              :let [exp (:experiment r) model (:model exp)
                                    depth (or (:depth model) (when-let [w (:widths model)] (dec (count w))))]]
                          (when (and (= :chain (:kind model)) (contains? #{nil :standard} (:parameterization model))
                                     (= :matrix-factorization (get-in exp [:task :kind]))
                                     (= :gd (get-in exp [:optimizer :kind])) (integer? depth) (>= (long depth) 2))
                            {:depth depth :s (first (result/mode-targets r))})))]
    (when (and (= 1 (count facts)) (first facts) (fig/positive? (:s (first facts))))
      (let [{:keys [depth s]} (first facts)]
        {:depth depth :sharpness (theory/single-path-sharpness (double s) depth)}))))

(defmethod fig/build-figure :lyapunov-vs-lr [_ data opts]
  (let [rs (filterv #(and (result/effective-lr %) (late-exponent %)) (fig/runs data))
        _ (when (empty? rs)
            (fig/fail! :invalid-argument "A Lyapunov-exponent sweep needs runs that recorded :lyapunov (GD), each with a learning rate." []
                       (if (map? data) (vec (keys data)) (count data)) "a vector of results that recorded :lyapunov"))
        groups (group-by #(layout/setting-label % [[:optimizer :lr]]) rs)
        ks (sort-by str (keys groups))
        xs (map #(double (result/effective-lr %)) rs)
        lo (reduce min xs) hi (reduce max xs)
        {:keys [depth sharpness]} (top-mode-map rs)
        depth (when depth (long depth))
        s1 (when sharpness (double sharpness))
        curve (when s1
                (vec (keep (fn [lr] (when-let [l (gd-map/gd-map-lyapunov (* (double lr) (double s1)) depth {:n 20000})]
                                      [lr (max -3.0 (double l))]))
                           (fig/grid lo hi (long (:theory-points opts 200))))))
        onset (when s1 (/ (double (:r-inf (gd-map/doubling-points depth))) (double s1)))
        edge (when s1 (/ 2.0 (double s1)))
        in-range? (fn [x] (and x (<= lo (double x) hi)))]
    {:name :lyapunov-vs-lr
     :title "Largest Lyapunov exponent of GD vs learning rate"
     :subtitle (str (count rs) " runs; each point the mean of the late :lyapunov records"
                    (when s1 (str "; theory: the per-mode GD map of mode 1 (L = " depth ", S_1 = " (fmt s1) ")")))
     :x {:title (layout/lr-title :effective rs) :log? false}
     :y {:title "Lyapunov exponent per step" :log? false :zero? true}
     :panels [{:title nil
               :layers (vec (concat
                             (map-indexed (fn [i g]
                                            {:mark :line :point? true :series (or g "measured (network)") :color i
                                             :points (vec (sort (for [r (get groups g)] [(double (result/effective-lr r)) (late-exponent r)])))})
                                          ks)
                             (when (seq curve)
                               [{:mark :line :series "per-mode GD map (theory)" :color "#555555" :dash [4 3] :points curve}])
                             [{:mark :rule :series "zero: chaos above" :color fig/rule-color :dash [1 3] :y 0.0}]
                             (when (in-range? edge)
                               [{:mark :x-rule :series (str "2/S_1 = " (fmt edge) " (edge of stability)") :color "#4c78a8" :dash [6 4] :x edge}])
                             (when (in-range? onset)
                               [{:mark :x-rule :series (str "r_∞/S_1 = " (fmt onset) " (onset of chaos)") :color "#e45756" :dash [2 3] :x onset}])))}]}))
