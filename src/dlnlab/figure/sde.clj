(ns dlnlab.figure.sde
  "Figures of per-mode SDE ensembles: :sde-ensemble (mean and quantile band vs
  time), :stationary (histogram of final values with the analytic density),
  :learning-times (histograms), and, for a sweep of :sde experiments,
  :learning-time-sweep and :stationary-sweep; methods of
  dlnlab.figure/build-figure and of dlnlab.figure/standard-names for :sde
  results, their sweeps and ensemble maps. A figure given the result of an :sde
  experiment reads its ensemble through dlnlab.result/ensemble."
  (:require [clojure.string :as str]
            [dlnlab.figure :as fig :refer [fmt]]
            [dlnlab.figure.layout :as layout]
            [dlnlab.result :as result]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- as-ensemble
  "data itself, or the ensemble of data when it is a result."
  [data]
  (if (result/result? data) (result/ensemble data) data))

(defn- quantile-pair [quantiles opts]
  (let [qs (sort-by #(double %) (filter number? (keys quantiles)))]
    (or (:quantiles opts)
        (when (>= (count qs) 2) [(first qs) (last qs)]))))

(defmethod fig/build-figure :sde-ensemble [_ data opts]
  (let [data (as-ensemble data)]
    (when-not (fig/ensemble? data)
      (fig/fail! :invalid-argument "An SDE ensemble figure needs {:time [...] :mean [[per mode] per time] ...}."
                 [] (type data) "an SDE ensemble map"))
    (let [ts (:time data)
          mean (:mean data)
          n (count (first mean))
          [qlo qhi :as qpair] (quantile-pair (:quantiles data) opts)
          std (:std data)
          targets (some->> (or (:targets opts) (:targets data)) (mapv double))
          band-label (if qpair
                       (str (fmt (* 100.0 (double qlo))) "–" (fmt (* 100.0 (double qhi))) "% band")
                       "mean ± 1 sd")
          band (fn [^long i]
                 (cond
                   qpair (let [lo (get-in data [:quantiles qlo]) hi (get-in data [:quantiles qhi])]
                           (mapv (fn [t l h] [t (nth l i) (nth h i)]) ts lo hi))
                   std (mapv (fn [t m s] (let [m (double (nth m i)) s (double (nth s i))] [t (- m s) (+ m s)])) ts mean std)))
          layers (vec (for [i (range n)
                            :let [i (long i)]
                            layer (concat
                                   (when-let [b (band i)] [{:mark :band :series (str "mode " (inc i) ", " band-label) :color i :points b}])
                                   [{:mark :line :series (str "mode " (inc i) ", mean") :color i
                                     :points (mapv (fn [t m] [t (nth m i)]) ts mean)}]
                                   (when (< i (count targets))
                                     [{:mark :rule :series (str "target s" (inc i) " = " (fmt (nth targets i)))
                                       :color i :dash [6 4] :y (nth targets i)}]))]
                        layer))]
      {:name :sde-ensemble
       :title (str "SDE ensemble: mode strengths, mean and " band-label)
       :subtitle (str (or (:n-paths data) (count (:paths data)) "?") " paths"
                      (when (:lr data) (str ", lr = " (fmt (:lr data))))
                      (when (:batch-size data) (str ", B = " (:batch-size data))))
       :x {:title (fig/x-title :time) :log? false}
       :y {:title "mode strength π" :log? (get opts :log-y false)}
       :panels [{:title nil :layers layers}]})))

;; ---------------------------------------------------------------- histograms

(defn- histogram
  "Bins [[x0 x1 count] ...] of xs over [lo, hi] in n equal bins."
  [xs ^double lo ^double hi ^long n]
  (let [w (/ (- hi lo) n)
        counts (reduce (fn [acc x]
                         (let [b (min (dec n) (max 0 (long (Math/floor (/ (- (double x) lo) w)))))]
                           (update acc b inc)))
                       (vec (repeat n 0)) xs)]
    (mapv (fn [^long b c] [(+ lo (* b w)) (+ lo (* (inc b) w)) c]) (range n) counts)))

(defn- bin-count ^long [^long n opts]
  (long (or (:bins opts) (max 10 (min 60 (long (Math/ceil (Math/sqrt n))))))))

(defn- bin-range
  "[lo hi] covering xs, widened when all values are equal."
  [xs]
  (let [lo (double (apply min xs)) hi (double (apply max xs))]
    (if (< lo hi) [lo hi] [(- lo (max 0.5 (* 0.05 (Math/abs lo)))) (+ hi (max 0.5 (* 0.05 (Math/abs hi))))])))

(defn- ensemble-final-values
  "Values of mode i at the end of every path: from an ensemble's :final ([[value
  per mode] per path]) when it has one, else from the last time of each of its
  :paths ([[[value per mode] per time] per path])."
  [ens ^long i]
  (if (seq (:final ens))
    (vec (keep #(nth % i nil) (:final ens)))
    (vec (keep (fn [path] (some-> (last path) (nth i nil))) (:paths ens)))))

(defmethod fig/build-figure :stationary [_ data opts]
  (let [data (as-ensemble data)
        mode (long (:mode opts 0))
        samples (filterv fig/finite? (cond (fig/ensemble? data) (ensemble-final-values data mode)
                                           (map? data) (:samples data)
                                           :else data))
        density (or (:density opts) (when (map? data) (:density data))
                    (when (fig/ensemble? data) (get-in data [:stationary-density mode])))
        _ (when (empty? samples)
            (fig/fail! :invalid-argument "A stationary histogram needs samples: a sequence of numbers." [] data
                       "a non-empty sequence of finite numbers"))
        n (count samples)
        [lo hi] (or (:range opts) (bin-range samples))
        bins (histogram samples (double lo) (double hi) (bin-count n opts))
        dens-bars (mapv (fn [[x0 x1 c]] [x0 x1 (/ (double c) (* n (- (double x1) (double x0))))]) bins)
        density (if (fn? density)
                  (mapv (fn [x] [x (density x)]) (fig/grid lo hi 200))
                  density)]
    {:name :stationary
     :title "Stationary distribution of the mode strength"
     :subtitle (str n " samples" (when density "; line: analytic stationary density"))
     :x {:title (:x-title opts "mode strength π") :log? false}
     :y {:title "probability density" :log? false :zero? true}
     :panels [{:title nil
               :layers (cond-> [{:mark :bar :series (str "simulation (n = " n ")") :color 0 :points dens-bars}]
                         density (conj {:mark :line :series "analytic density" :color 2
                                        :points (vec (sort-by #(double (first %)) density))}))}]}))

(defn- learning-time-series
  "[[label [t ...]] ...] from a sequence of times, a map {label times}, rows
  [[t per mode] per path], or an ensemble: its :first-passage rows at the
  smallest fraction (what dlnlab.sde/simulate returns), else its :learned-time."
  [data]
  (let [label (fn [k] (cond (integer? k) (str "mode " (inc (long k)))
                            (keyword? k) (name k)
                            :else (str k)))]
    (cond
      (and (fig/ensemble? data) (seq (:first-passage data)))
      (learning-time-series (val (first (sort-by #(double (key %)) (:first-passage data)))))
      (fig/ensemble? data) (learning-time-series (:learned-time data))
      (and (map? data) (contains? data :times)) (learning-time-series (:times data))
      (map? data) (vec (for [[k ts] (sort-by (comp str key) data)] [(label k) (vec ts)]))
      (and (sequential? data) (every? sequential? data) (seq data))
      (let [n (count (first data))]
        (vec (for [i (range n)] [(label i) (mapv #(nth % i nil) data)])))
      (sequential? data) [["learning time" (vec data)]]
      :else (fig/fail! :invalid-argument
                       "Learning times must be a sequence of numbers, a map {label times} or rows [[t per mode] per path]."
                       [] data "numbers, {label [t ...]} or [[t ...] ...]"))))

(defmethod fig/build-figure :learning-times [_ data opts]
  (let [data (as-ensemble data)
        series (learning-time-series data)
        all (filter fig/finite? (mapcat second series))
        _ (when (empty? all) (fig/fail! :invalid-argument "No finite learning times to plot." [] data "at least one finite time"))
        missing (long (reduce + (map (fn [[_ ts]] (count (remove fig/finite? ts))) series)))]
    {:name :learning-times
     :title "Learning-time distribution"
     :subtitle (str (count all) " learning times, binned per series"
                    (when (pos? missing) (str "; " missing " never learned (not shown)")))
     :x {:title (:x-title opts (if-let [fp (and (fig/ensemble? data) (seq (:first-passage data)))]
                                 (str "time t (lr × steps) to reach " (fmt (reduce min (map #(double (key %)) fp))) " × s_i")
                                 "learning time t (effective lr × steps)"))
         :log? false}
     :y {:title "count" :log? false :zero? true}
     :panels [{:title nil
               :layers (vec (map-indexed (fn [i [lab ts]]
                                           {:mark :bar :series lab :color i
                                            :points (let [ts (filter fig/finite? ts)
                                                          [lo hi] (or (:range opts) (bin-range ts))]
                                                      (if (seq ts)
                                                        (histogram ts (double lo) (double hi) (bin-count (count ts) opts))
                                                        []))})
                                         series))}]}))

;; ---------------------------------------------------------------- SDE sweep figures

(defn- sde-sweep-groups
  "How the SDE results of a sweep are laid out: {:x-path p :groups [[label [run
  ...]] ...]}. x is the numeric grid coordinate with the most values; the other
  varying coordinates name the series (label nil when there are none); runs are
  in order of x."
  [rs]
  (let [coords (layout/sweep-coordinates rs)
        numeric (filter (fn [[_ vs]] (every? number? vs)) coords)
        _ (when (empty? numeric)
            (fig/fail! :invalid-argument
                       (str "An SDE sweep figure needs a numeric grid coordinate that takes two or more values; the"
                            " varying coordinates are " (pr-str (mapv first coords)) ".")
                       [:sweep :point] (mapv first coords) "a numeric grid coordinate with two or more values"))
        x-path (first (apply max-key (comp count second) (reverse numeric)))
        others (remove #(= x-path (first %)) coords)
        key-of (fn [r] (mapv (fn [[path _]] (get-in r [:sweep :point path])) others))
        by-key (group-by key-of rs)]
    {:x-path x-path
     :groups (vec (for [k (distinct (map key-of rs))]
                    [(when (seq others) (str/join ", " (map (fn [[path _] v] (layout/coordinate-label path v)) others k)))
                     (sort-by #(double (get-in % [:sweep :point x-path])) (by-key k))]))}))

(defn- sde-sweep-figure
  "Figure data with one panel per mode against the sweep's x coordinate: for each
  series of runs, (layers label color [[x run] ...] mode) gives its layers and
  (theory label color [[x run] ...] mode) the theory's; when the theory is the
  same for every series (in every mode) it is drawn once, unlabelled, in the
  rule color."
  [data {:keys [name title subtitle y-title log-y layers theory]}]
  (let [rs (fig/of-kind :sde (fig/runs data))
        _ (when (< (count rs) 2)
            (fig/fail! :invalid-argument "An SDE sweep figure needs the results of two or more :sde experiments of a sweep."
                       [] (count rs) "two or more :sde results"))
        {:keys [x-path groups]} (sde-sweep-groups rs)
        xr (fn [runs] (mapv (fn [r] [(get-in r [:sweep :point x-path]) r]) runs))
        targets (result/mode-targets (first rs))
        modes (range (count (get-in (first rs) [:experiment :sde :modes])))
        per-series (fn [f m] (map (fn [i [label runs]] (f label i (xr runs) m)) (range) groups))
        shared? (every? (fn [m] (apply = (map #(map :points %) (per-series theory m)))) modes)]
    {:name name
     :title title
     :subtitle subtitle
     :x {:title (str (clojure.core/name (last x-path)) " " (pr-str x-path))
         ;; batch sizes and learning rates are swept geometrically
         :log? (let [xs (map #(double (get-in % [:sweep :point x-path])) rs)]
                 (and (every? pos? xs) (>= (/ (double (reduce max xs)) (double (reduce min xs))) 8.0)))}
     :y {:title y-title :log? log-y}
     :panels (vec (for [m modes]
                    {:title (str "mode " (inc (long m)) (when-let [s (nth targets m nil)] (str " (s = " (fmt s) ")")))
                     :layers (vec (concat (apply concat (per-series layers m))
                                          (if shared?
                                            (theory nil fig/rule-color (xr (second (first groups))) m)
                                            (apply concat (per-series theory m)))))}))}))

(defn- series-name [label what] (if label (str label ": " what) what))

(defmethod fig/build-figure :learning-time-sweep [_ data _]
  (sde-sweep-figure
   data
   {:name :learning-time-sweep
    :title "Learning time vs the swept parameter"
    :subtitle "median and the outer recorded quantiles of the paths that learned the mode (first of :learned-fractions)"
    :y-title "learning time t (lr × steps)"
    :log-y false
    :layers (fn [label i xr m]
              (let [lt (fn [r] (nth (get-in r [:analysis :learning-times]) m nil))
                    band (fn [r] (let [qs (:quantiles (lt r))]
                                   (when-let [[lo hi] (quantile-pair qs {})] [(get qs lo) (get qs hi)])))
                    qs (some #(quantile-pair (:quantiles (lt (second %))) {}) xr)]
                [{:mark :band :color i
                  :series (series-name label (if qs (str (fmt (first qs)) "-" (fmt (second qs)) " quantiles") "quantiles"))
                  :points (vec (for [[x r] xr :let [[lo hi] (band r)] :when (and lo hi)] [x lo hi]))}
                 {:mark :line :point? true :series (series-name label "median") :color i
                  :points (vec (for [[x r] xr :when (:median (lt r))] [x (:median (lt r))]))}]))
    :theory (fn [label color xr m]
              [{:mark :line :series (series-name label "gradient flow (theory)") :color color :dash [6 4]
                :points (vec (for [[x r] xr :let [t (:gradient-flow-time (nth (get-in r [:analysis :learning-times]) m nil))]
                                   :when t] [x t]))}])}))

(defmethod fig/build-figure :stationary-sweep [_ data _]
  (sde-sweep-figure
   data
   {:name :stationary-sweep
    :title "Stationary variance vs the swept parameter"
    :subtitle "variance of π over paths at the end, against the stationary density's (label noise > 0)"
    :y-title "variance of π"
    :log-y :auto
    :layers (fn [label i xr m]
              [{:mark :line :point? true :series (series-name label "measured") :color i
                :points (vec (for [[x r] xr :let [v (:variance (nth (get-in r [:analysis :stationary]) m nil))] :when v] [x v]))}])
    :theory (fn [label color xr m]
              (for [[k what dash] [[:variance "theory, stationary density" [6 4]] [:gibbs-variance "theory, Gibbs (η → 0)" [2 3]]]]
                {:mark :line :series (series-name label what) :color color :dash dash
                 :points (vec (for [[x r] xr :let [v (get-in (nth (get-in r [:analysis :stationary]) m nil) [:theory k])]
                                    :when v] [x v]))}))}))

;; ---------------------------------------------------------------- standard figures

(defmethod fig/standard-names :ensemble [ens]
  (cond-> [:sde-ensemble]
    (seq (:learned-time ens)) (conj :learning-times)))

(defmethod fig/standard-names :sde [r]
  (cond-> [:sde-ensemble]
    (some #(some some? %) (mapcat val (get-in r [:final :first-passage]))) (conj :learning-times)
    (seq (get-in r [:analysis :stationary])) (conj :stationary)))

(defmethod fig/standard-names [:sweep :sde] [data]
  (let [rs (fig/of-kind :sde (fig/runs data))
        swept? (and (>= (count rs) 2) (some (fn [[_ vs]] (every? number? vs)) (layout/sweep-coordinates rs)))]
    (cond-> []
      swept? (conj :learning-time-sweep)
      (and swept? (some #(some :variance (get-in % [:analysis :stationary])) rs)) (conj :stationary-sweep))))
