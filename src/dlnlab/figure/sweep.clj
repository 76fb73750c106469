(ns dlnlab.figure.sweep
  "Figures of a sweep against the learning rate: :bifurcation (late values of
  each run), :loss-vs-lr (final loss per width), :sharpness-vs-lr (late
  sharpness with the stability threshold c/η) and :shares-vs-lr (largest
  pathway share with the re-balancing window), as methods of
  dlnlab.figure/build-figure. Thresholds come from the runs' facts
  (dlnlab.result/stability-constant) and formulas from dlnlab.theory."
  (:require [clojure.string :as str]
            [dlnlab.figure :as fig :refer [fmt]]
            [dlnlab.figure.layout :as layout]
            [dlnlab.result :as result]
            [dlnlab.theory :as theory]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------- the learning rate on x

(defn- sweep-lr
  "The x of a sweep run: its effective lr (kind :effective) or its base lr (:raw)."
  [r kind]
  (if (= kind :raw) (result/base-lr r) (result/effective-lr r)))

(defn- lr-kind
  "The lr on x: :effective when every run has one (opts :lr overrides), else :raw."
  [rs opts]
  (or (:lr opts) (if (every? result/effective-lr rs) :effective :raw)))

(defn- other-coordinates
  "A label for the grid coordinates of run r other than the learning rate's path
  and replicate seeds (dlnlab.figure.layout/setting-label)."
  [r lr-path]
  (layout/setting-label r [lr-path]))

(defn- lr-series
  "The runs of a learning-rate sweep grouped by their other grid coordinates
  (replicate seeds stay together), in label order: [[label-or-nil [run ...]] ...],
  runs sorted by lr."
  [rs kind]
  (let [groups (group-by #(other-coordinates % [:optimizer :lr]) rs)]
    (vec (for [g (sort-by str (keys groups))]
           [g (sort-by #(double (sweep-lr % kind)) (get groups g))]))))

(defn- standard-gd-on-factorization?
  "True for a GD run of a :standard (or unspecified) parameterization of a model
  of kind model-kind on a :matrix-factorization task: where the balanced-minimum
  sharpness formulas of dlnlab.theory hold."
  [r model-kind]
  (let [exp (:experiment r)
        model (:model exp)]
    (and (= model-kind (:kind model)) (contains? #{nil :standard} (:parameterization model))
         (= :matrix-factorization (get-in exp [:task :kind])) (= :gd (get-in exp [:optimizer :kind]))
         (integer? (:depth model)) (pos? (long (:depth model))))))

(defn- edge-of-stability-lr
  "c/S_i, the learning rate above which mode i oscillates, with S_i = L
  s_i^(2-2/L) its sharpness at the balanced minimum (dlnlab.theory/
  single-path-sharpness) and c the run's stability constant, for a GD run of a
  standard :chain on :matrix-factorization; nil for any other run."
  [r ^long i]
  (let [s (nth (result/mode-targets r) i nil)
        c (result/stability-constant r)]
    (when (and (standard-gd-on-factorization? r :chain) (fig/positive? s) c)
      (/ (double c) (theory/single-path-sharpness s (get-in r [:experiment :model :depth]))))))

;; ---------------------------------------------------------------- bifurcation and final loss

(defmethod fig/build-figure :bifurcation [_ data opts]
  (let [rs (fig/runs data)
        _ (when (empty? rs)
            (fig/fail! :invalid-argument "A bifurcation diagram needs a sweep: a vector of results." [] data "a vector of results"))
        metric (or (:metric opts) (if (some #(seq (result/recorded % :step :modes)) rs) :mode :loss))
        _ (when-not (#{:mode :loss :sharpness} metric)
            (fig/fail! :invalid-option (str "Option :metric is " (pr-str metric) "; allowed are :mode, :loss and :sharpness.")
                       [:metric] metric #{:mode :loss :sharpness}))
        mode (long (:mode opts 0))
        n-last (long (:last opts 50))
        lr-path (:lr-path opts [:optimizer :lr])
        kind (lr-kind rs opts)
        late (fn [r]
               (let [vals (case metric
                            :mode (keep #(when % (nth % mode nil)) (get-in r [:trajectory :modes]))
                            (remove nil? (get-in r [:trajectory metric])))]
                 ;; never the first half of a run: with few records, "the last 50"
                 ;; would reach back to the initial transient
                 (take-last (min n-last (quot (count vals) 2)) vals)))
        groups (group-by #(other-coordinates % lr-path) rs)
        group-keys (sort-by str (keys groups))
        what (case metric :mode (str "mode " (inc mode) " strength") :loss "loss" :sharpness "sharpness")
        targets (when (= metric :mode) (some result/mode-targets rs))
        edges (when (= metric :mode) (distinct (map #(edge-of-stability-lr % mode) rs)))
        edge (when (and (= 1 (count edges)) (= kind :effective)) (first edges))
        layers (vec (concat
                     (map-indexed (fn [i g]
                                    {:mark :point :series (or g what) :color i
                                     ;; a loss below its run's floating-point floor is drawn at the floor
                                     :points (vec (for [r (get groups g)
                                                        :let [lr (sweep-lr r kind)]
                                                        :when lr
                                                        p (cond-> (mapv #(vector lr %) (late r))
                                                            (= metric :loss) (fig/at-floor (fig/loss-floor r)))]
                                                    p))})
                                  group-keys)
                     (when (= metric :loss) (fig/floor-layers rs (mapcat late rs)))
                     (when (and targets (< mode (count targets)))
                       [{:mark :rule :series (str "target s" (inc mode) " = " (fmt (nth targets mode)))
                         :color fig/rule-color :dash [6 4] :y (nth targets mode)}])
                     (when edge
                       [{:mark :x-rule :series (str "2/S" (inc mode) " = " (fmt edge) " (edge of stability)")
                         :color "#e45756" :dash [2 3] :x edge}])))]
    {:name :bifurcation
     :title (str "Bifurcation diagram: late " what " vs learning rate")
     :subtitle (str "the last " n-last " recorded values of each of " (count rs) " runs (at most the last half of its records)")
     :x {:title (layout/lr-title kind rs) :log? (get opts :log-x :auto)}
     :y {:title what :log? (get opts :log-y (if (= metric :mode) false :auto))}
     :panels [{:title nil :layers layers}]}))

(defmethod fig/build-figure :loss-vs-lr [_ data opts]
  (let [rs (fig/runs data)
        _ (when (empty? rs)
            (fig/fail! :invalid-argument "Loss vs learning rate needs a sweep: a vector of results." [] data "a vector of results"))
        kind (:lr opts :raw)
        lr-path (:lr-path opts [:optimizer :lr])
        ;; one series per setting of every grid coordinate other than the lr and
        ;; the seed; runs without grid points by their hidden width
        key-fn (or (:width-fn opts)
                   (if (some #(seq (get-in % [:sweep :point])) rs)
                     #(other-coordinates % lr-path)
                     #(some->> (result/hidden-width %) (str "width N = "))))
        raw-loss (fn [r] (let [l (or (get-in r [:final :loss]) (result/last-recorded r :loss))]
                           (when (fig/positive? l) (double l))))
        ;; a loss below the run's floating-point floor is drawn at the floor
        final-loss (fn [r] (when-let [l (raw-loss r)]
                             (let [f (fig/loss-floor r)] (if (and f (< (double l) (double f))) (double f) l))))
        usable (filter #(and (sweep-lr % kind) (final-loss %)) rs)
        dropped (- (count rs) (count usable))
        groups (group-by key-fn usable)
        ks (sort-by (fn [k] [(if (number? k) 0 1) (if (number? k) (double k) 0.0) (str k)]) (keys groups))
        reps (layout/replicate-count usable key-fn #(sweep-lr % kind))
        layers (vec (mapcat (fn [i k]
                              (layout/replicate-layers (cond (nil? k) "all runs" (number? k) (str "width N = " k) :else (str k))
                                                    i (for [r (get groups k)] [(sweep-lr r kind) (final-loss r)])))
                            (range) ks))
        floor (fig/floor-layers usable (map raw-loss usable))]
    {:name :loss-vs-lr
     :title (str "Final loss vs learning rate" (when (> (count ks) 1) " per setting"))
     :subtitle (str (layout/count-words (count usable) (count ks)) (layout/replicate-note reps)
                    (when (pos? dropped) (str "; " dropped " diverged or unfinished runs not shown"))
                    (when (seq floor) "; dotted: the floating-point floor, losses below it drawn at it"))
     :x {:title (layout/lr-title kind rs) :log? (get opts :log-x true)}
     :y {:title "final training loss" :log? (get opts :log-y true)}
     :panels [{:title nil :layers (into layers floor)}]}))

;; ---------------------------------------------------------------- late values against the learning rate

(defn- lr-sweep-runs
  "The runs of data that keep! accepts and that have an lr of kind (lr-kind);
  throws ex-info with message msg and allowed when they span fewer than two
  learning rates. Returns [runs kind]."
  [data keep? opts msg allowed]
  (let [rs (filterv keep? (fig/runs data))
        kind (lr-kind rs opts)
        rs (filterv #(sweep-lr % kind) rs)]
    (when (< (count (distinct (map #(sweep-lr % kind) rs))) 2)
      (fig/fail! :invalid-argument msg [] (count rs) allowed))
    [rs kind]))

(defmethod fig/build-figure :sharpness-vs-lr [_ data opts]
  (let [[rs kind] (lr-sweep-runs data #(seq (result/late-values % :sharpness)) opts
                                 "Sharpness vs learning rate needs a sweep over two or more learning rates that recorded :sharpness."
                                 "runs at two or more learning rates with :sharpness recorded")
        lrs (map #(double (sweep-lr % kind)) rs)
        lo (* 0.9 (double (reduce min lrs))) hi (* 1.1 (double (reduce max lrs)))
        mean (fn [xs] (/ (double (reduce + (map double xs))) (count xs)))
        top (* 1.25 (double (reduce max (mapcat #(result/late-values % :sharpness) rs))))
        ;; threshold = c/η; one curve when every run has the same c
        cs (distinct (map result/stability-constant rs))
        c (when (and (= kind :effective) (= 1 (count cs))) (first cs))
        threshold-name (when c (fig/threshold-label c))
        series (lr-series rs kind)
        reps (layout/replicate-count rs #(other-coordinates % [:optimizer :lr]) #(sweep-lr % kind))
        layers (vec (mapcat (fn [i [label group]]
                              (if (> reps 1)
                                ;; replicates: the spread over seeds of each run's late mean
                                (layout/replicate-layers (str (when label (str label ": ")) "late mean") i
                                                      (for [r group] [(sweep-lr r kind) (mean (result/late-values r :sharpness))]))
                                [{:mark :band :series (str (when label (str label ": ")) "late range") :color i
                                  :points (vec (for [r group :let [v (result/late-values r :sharpness)]]
                                                 [(sweep-lr r kind) (reduce min v) (reduce max v)]))}
                                 {:mark :line :point? true :series (str (when label (str label ": ")) "late mean") :color i
                                  :points (vec (for [r group] [(sweep-lr r kind) (mean (result/late-values r :sharpness))]))}]))
                            (range) series))]
    {:name :sharpness-vs-lr
     :title "Sharpness late in training vs learning rate"
     :subtitle (str "mean" (when (<= reps 1) " and range") " over the last fifth of each run's sharpness records; "
                    (layout/count-words (count rs) (count series)) (layout/replicate-note reps)
                    (when c (str "; at the edge of stability it sits at " threshold-name)))
     :x {:title (layout/lr-title kind rs) :log? true}
     :y {:title "sharpness λ_max(Hessian)" :log? (get opts :log-y :auto)}
     :panels [{:title nil
               :layers (cond-> layers
                         c (conj {:mark :line :color fig/rule-color :dash [6 4]
                                  :series threshold-name
                                  :points (vec (for [k (range 101)
                                                     :let [lr (* lo (Math/pow (/ hi lo) (/ (double k) 100.0)))
                                                           thr (/ (double c) lr)]
                                                     :when (<= thr top)]
                                                 [lr thr]))}))}]}))

(defn- rebalancing-window
  "[lo hi], the learning rates at which mode i's single-path minimum is
  unstable and its equal split over the pathways stable (dlnlab.theory/
  rebalancing-window, scaled from GD's c = 2 to the run's stability constant),
  for a GD run of a standard :multi-pathway model on :matrix-factorization; nil
  for any other run."
  [r ^long i]
  (let [model (get-in r [:experiment :model])
        s (nth (result/mode-targets r) i nil)
        c (result/stability-constant r)]
    (when (and (standard-gd-on-factorization? r :multi-pathway) (fig/positive? s) c
               (integer? (:pathways model)))
      (let [{:keys [sharpness-single sharpness-split]} (theory/rebalancing-window (double s) (:pathways model) (:depth model))]
        [(/ (double c) (double sharpness-single)) (/ (double c) (double sharpness-split))]))))

(defmethod fig/build-figure :shares-vs-lr [_ data opts]
  (let [recorded-shares (fn [r] (result/last-recorded r :pathway-shares))
        [rs kind] (lr-sweep-runs data #(some (fn [m] (and m (> (count m) 1))) (recorded-shares %)) opts
                                 "Pathway shares vs learning rate needs a sweep over two or more learning rates of multi-pathway runs that recorded :pathway-shares."
                                 "runs at two or more learning rates with :pathway-shares of two or more pathways")
        ;; shares only where they mean something: not for a mode whose target is 0,
        ;; nor for one whose strength is a small fraction of its target
        final-shares (memoize (fn [r] (result/final-shares r)))
        n-modes (long (reduce max (map #(count (recorded-shares %)) rs)))
        zero-target? (fn [^long m] (every? #(let [t (nth (result/mode-targets %) m nil)] (and t (not (fig/positive? t)))) rs))
        hidden (count (filter zero-target? (range n-modes)))
        modes (filterv (fn [m] (some #(some? (nth (final-shares %) m nil)) rs)) (range n-modes))
        ks (distinct (keep #(get-in % [:experiment :model :pathways]) rs))
        lrs (map #(double (sweep-lr % kind)) rs)
        lo (double (reduce min lrs)) hi (double (reduce max lrs))
        ;; a window edge is drawn when every run agrees on it and it lies near the swept lrs
        near (fn [x] (when (and x (<= (/ lo 3.0) (double x) (* hi 3.0))) x))
        window-of (fn [m] (when (= kind :effective)
                            (let [ws (distinct (map #(rebalancing-window % m) rs))]
                              (when (and (= 1 (count ws)) (first ws)) (mapv near (first ws))))))
        windows (mapv window-of modes)
        series (lr-series rs kind)
        reps (layout/replicate-count rs #(other-coordinates % [:optimizer :lr]) #(sweep-lr % kind))
        largest (fn [r ^long m] (when-let [sh (nth (final-shares r) m nil)] (reduce max (map double sh))))]
    (when (empty? modes)
      (fig/fail! :invalid-argument "Pathway shares vs learning rate: no mode has meaningful shares (every mode's target is 0 or its strength below a tenth of it)."
                 [:figure :shares-vs-lr] nil "a mode with target > 0 learned to a tenth of it"))
    {:name :shares-vs-lr
     :title "Largest pathway share at the end vs learning rate"
     :subtitle (str "1 = winner takes all"
                    (when (= 1 (count ks)) (str ", " (fmt (/ 1.0 (double (first ks)))) " = equal split"))
                    (when (some seq (map #(remove nil? %) (remove nil? windows))) "; dashed: the re-balancing window")
                    "; " (layout/count-words (count rs) (count series)) (layout/replicate-note reps)
                    (when (pos? hidden) (str "; " hidden " mode" (when (> hidden 1) "s") " with target 0 not shown")))
     :x {:title (layout/lr-title kind rs) :log? true}
     :y {:title "largest share of the mode" :log? false}
     :panels (vec (for [[j m] (map-indexed vector modes)
                        :let [w (nth windows j)]]
                    {:title (str "mode " (inc (long m)))
                     :layers (cond-> (vec (mapcat (fn [i [label group]]
                                                    (layout/replicate-layers (or label "largest share") i
                                                                          (for [r group :let [v (largest r m)] :when v]
                                                                            [(sweep-lr r kind) v])))
                                                  (range) series))
                               (= 1 (count ks))
                               (conj {:mark :rule :series "equal split 1/K" :color fig/rule-color :dash [2 3]
                                      :y (/ 1.0 (double (first ks)))})
                               ;; every panel has the same layers: a mode without a window gets empty rules
                               true
                               (into [{:mark :x-rule :series "2/S_single" :color "#e45756" :dash [6 4] :x (first w)}
                                      {:mark :x-rule :series "2/S_split" :color "#54a24b" :dash [6 4] :x (second w)}]))}))}))

;; ---------------------------------------------------------------- standard figures of a sweep

(defmethod fig/standard-names [:sweep :network] [data]
  (let [rs (filterv result/result? data)
        lrs (set (keep result/base-lr rs))
        few? (and (seq rs) (<= (count rs) 12))
        swept? (>= (count lrs) 2)]
    (cond-> []
      (and few? (some #(result/any-recorded? % :loss) rs)) (conj :loss)
      (and few? (some #(result/any-recorded? % :modes) rs)) (conj :modes)
      swept? (conj :bifurcation :loss-vs-lr)
      (and swept? (some #(result/any-recorded? % :sharpness) rs)) (conj :sharpness-vs-lr)
      (and swept? (some #(result/any-recorded? % :lyapunov) rs)) (conj :lyapunov-vs-lr)
      (and swept? (some #(some (fn [m] (and m (> (count m) 1))) (result/last-recorded % :pathway-shares)) rs))
      (conj :shares-vs-lr))))
