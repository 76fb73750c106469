(ns dlnlab.studies.edge-of-stability.figures
  "The figures of the [EOS] study (dlnlab.studies.edge-of-stability),
  registered as dlnlab.figure/build-figure methods when this namespace loads:
  oscillating modes against the learning rate with the theory's count, the
  balance gap against time, and the bifurcation diagram of map and network."
  (:require [dlnlab.figure :as fig]
            [dlnlab.theory :as theory]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- depth-name [depth suffix] (keyword (str "L" depth "-" suffix)))

(defn- theory-steps
  "The polyline of the theory's count #{i : lr > 2/S_i} over [lo, hi]: flat
  between the thresholds, a vertical step at each one."
  [thresholds ^double lo ^double hi]
  (let [inside (filter #(< lo (double %) hi) thresholds)
        below (count (filter #(<= (double %) lo) thresholds))]
    (vec (concat [[lo below]]
                 (mapcat (fn [t k] [[t k] [t (inc (long k))]]) inside (iterate inc below))
                 [[hi (+ below (count inside))]]))))

(defn- count-figure
  "Raw figure data: the measured number of oscillating modes of each sweep row
  against lr, the theory's step curve and the thresholds 2/S_i."
  [{:keys [depth targets rows]}]
  (let [t (theory/oscillation-thresholds depth targets)
        lrs (map #(double (:lr %)) rows)]
    {:name (depth-name depth "oscillating-modes")
     :title (str "Oscillating modes vs learning rate (L = " depth ", s = " targets ")")
     :subtitle "dashed: the thresholds 2/S_i, S_i = L s_i^(2-2/L) (doc/science.md §6 [EOS])"
     :x {:title "learning rate η" :log? false}
     :y {:title "oscillating modes" :log? false :zero? true}
     :panels [{:title nil
               :layers (into [{:mark :line :series "theory #{i : η > 2/S_i}" :color 0
                               :points (theory-steps t (apply min lrs) (apply max lrs))}
                              {:mark :point :series "measured (dlnlab.analysis)" :color 1
                               :points (vec (for [r rows :when (:measured r)] [(:lr r) (:measured r)]))}]
                             (map-indexed (fn [i x] {:mark :x-rule :series (str "2/S_" (inc (long i))) :color (+ 2 (long i))
                                                     :dash [4 4] :x x})
                                          t))}]}))

(defn- gap-figure
  "Raw figure data: the balance gap against time lr x steps for each labelled
  run, [[label [[time gap] ...]] ...]."
  [{:keys [depth series]}]
  {:name (depth-name depth "balance-gap")
   :title (str "Balance gap vs time (L = " depth ")")
   :subtitle "gap = sqrt(Σ_l ||W_(l+1)^T W_(l+1) - W_l W_l^T||^2); time = η × steps"
   :x {:title "time (η × steps)" :log? false}
   :y {:title "balance gap" :log? true}
   :panels [{:title nil
             :layers (vec (map-indexed (fn [i [label pts]] {:mark :line :series label :color i :points (vec pts)})
                                       series))}]})

(defn- bifurcation-figure
  "Raw figure data: late x = (pi/s)^(1/L) against r = lr S_i for the per-mode map
  (map-rows [{:r :xs}]) and the network's modes (net-rows [{:r :xs :mode}]),
  with the map's period-doubling points and zero crisis (pd) as vertical lines."
  [{:keys [depth map-rows net-rows pd]}]
  (let [modes (sort (distinct (map :mode net-rows)))]
    {:name (depth-name depth "bifurcation")
     :title (str "Period doubling: late x = (π/s)^(1/L) vs r = η S_i (L = " depth ")")
     :subtitle (str "dashed: the map's period-doubling points and zero crisis"
                    (when (even? (long depth)) "; |x| for even L"))
     :x {:title "r = η S_i" :log? false}
     :y {:title "late x" :log? false}
     :panels [{:title nil
               :layers (vec (concat
                             [{:mark :point :series "per-mode map" :color 0
                               :points (vec (for [{:keys [r xs]} map-rows x xs] [r x]))}]
                             (for [m modes]
                               {:mark :point :series (str "network, mode " (inc (long m))) :color (inc (long m))
                                :points (vec (for [{:keys [r xs mode]} net-rows :when (= mode m) x xs] [r x]))})
                             (for [k [:r2 :r4 :r8 :r16 :r32 :r-inf :zero-crisis] :when (get pd k)]
                               {:mark :x-rule :series "the map's r_2, r_4, ..., r_∞, zero crisis" :color "#888888"
                                :dash [4 4] :x (get pd k)})))}]}))

(defmethod fig/build-figure :eos-oscillating-modes [_ data _] (count-figure data))
(defmethod fig/build-figure :eos-balance-gap [_ data _] (gap-figure data))
(defmethod fig/build-figure :eos-bifurcation [_ data _] (bifurcation-figure data))

(def figure-names
  "The figures this namespace adds to dlnlab.figure/build-figure, each named
  L<depth>-<kind> in a report: :eos-oscillating-modes ({:depth :targets :rows
  [count row ...]}), :eos-balance-gap ({:depth :series [[label [[time gap]
  ...]] ...]}), :eos-bifurcation ({:depth :map-rows :net-rows :pd})."
  [:eos-oscillating-modes :eos-balance-gap :eos-bifurcation])

