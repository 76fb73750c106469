(ns dlnlab.figure
  "Figures as plain data. A figure is a map (title, axes, panels of layers of
  points; see `build-figure`) built from results by `figure`, then turned into
  a Vega-Lite spec by dlnlab.vega or drawn to SVG/PNG by dlnlab.render, so both
  show the same numbers. Nothing here knows a renderer.

  The built-in figures are methods of `build-figure` in dlnlab.figure.run
  (loss, sharpness, modes, pathway shares, balance gap), dlnlab.figure.sweep
  (bifurcation, final loss, late sharpness and shares against the learning
  rate) and dlnlab.figure.sde (SDE ensembles, stationary densities, learning
  times and their sweeps). Require those (dlnlab.vega and dlnlab.render do);
  add a figure with a defmethod of `build-figure` and an entry of
  `figure-catalog`. Beside it: dlnlab.figure.layout (several runs in one
  figure: panels, series, replicate bands) and dlnlab.figure.axis (ticks,
  tick labels, rounding for the renderers).

  Inputs are the plain-data maps of doc/design.md: a run result
  {:experiment :trajectory :final :analysis ...}, a sweep (a vector of results,
  each with :sweep {:index i :point {path value}}; nil or failed slots are
  skipped), or a per-mode SDE ensemble {:time :mean :std :quantiles ...}
  (dlnlab.result/ensemble). Results are read through dlnlab.result. Modes and
  layers are numbered from 1 in labels (mode 1 has the largest target singular
  value s_1), as in papers."
  (:require [clojure.string :as str]
            [dlnlab.error :as error]
            [dlnlab.figure.style :as style]
            [dlnlab.result :as result]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------- small helpers

(defn finite?
  "True for a number that is neither NaN nor infinite."
  [x]
  (and (number? x) (Double/isFinite (double x))))

(defn positive?
  "True for a finite number > 0."
  [x]
  (and (finite? x) (> (double x) 0.0)))

(def fmt
  "A number as a short label (dlnlab.result/short-number)."
  result/short-number)

(defn fmt-value
  "A grid value as a label: keywords by name, numbers by `fmt`, others printed."
  [v]
  (cond (keyword? v) (name v)
        (number? v) (fmt v)
        :else (pr-str v)))

(defn fail!
  "Throws the ex-info of a figure error: kind :invalid-argument for data of the
  wrong shape, :invalid-option for an option (path starting with an option key)."
  [kind msg path value allowed]
  (error/fail! kind msg {:path path :value value :allowed allowed}))

(defn ensemble?
  "True for a per-mode SDE ensemble map (it has :mean and :time)."
  [x]
  (and (map? x) (contains? x :mean) (contains? x :time)))

(defn runs
  "The results in data (one result or a sequence of them), without nil or
  failed slots. Throws ex-info when data is neither."
  [data]
  (cond
    (result/result? data) [data]
    (sequential? data) (filterv result/result? data)
    :else (fail! :invalid-argument
                 (str "Expected a result map with :trajectory or a sequence of results, got "
                      (if (map? data) (str "a map with keys " (pr-str (vec (take 8 (keys data))))) (pr-str (type data))) ".")
                 [] (if (map? data) (vec (keys data)) (type data)) "a result {:trajectory ...} or a vector of results")))

(defn of-kind
  "The results of rs that `dlnlab.result/kind` says are of kind k."
  [k rs]
  (filterv #(= k (result/kind %)) rs))

(defn x-key
  "The trajectory column on x for result r: (:x opts), else
  `dlnlab.result/default-x-axis`. Throws ex-info for an :x other than :step or :time."
  [r opts]
  (let [k (or (:x opts) (result/default-x-axis r))]
    (when-not (#{:step :time} k)
      (fail! :invalid-option (str "Option :x is " (pr-str k) "; allowed are :step and :time.") [:x] k #{:step :time}))
    k))

(defn x-title
  "The axis title of x column k."
  [k]
  (case k
    :step "step"
    :time "time t (effective lr × steps)"))

(defn grid
  "n evenly spaced points from lo to hi."
  [lo hi ^long n]
  (let [lo (double lo) hi (double hi)]
    (mapv (fn [^long i] (+ lo (* (- hi lo) (/ (double i) (double (dec n)))))) (range n))))

;; ---------------------------------------------------------------- the floating-point floor of a loss

(def floor-factor
  "(10 ε)², ε the double's unit roundoff: a loss ½‖F − M‖² whose residual
  entries are below ten roundoffs of the problem's scale is rounding noise."
  (let [e (Math/ulp 1.0)] (* 100.0 e e)))

(defn loss-floor
  "The floating-point floor of run r's loss: `floor-factor` times its scale, the
  larger of ½ Σ s_i² (the loss at F = 0 of its target) and its first recorded
  loss. Below it, differences between losses (1e-35 against 1e-32) are
  rounding, not training. nil without a positive scale."
  [r]
  (let [targets (result/mode-targets r)
        half-norm (when (seq targets) (* 0.5 (double (reduce + (map #(* (double %) (double %)) targets)))))
        first-loss (first (filter positive? (get-in r [:trajectory :loss])))
        scale (max (double (or half-norm 0.0)) (double (or first-loss 0.0)))]
    (when (pos? scale) (* (double floor-factor) scale))))

(defn at-floor
  "points [[x y] ...] with every positive y below floor drawn at floor (nil
  floor: as they are). Zeros and negative values stay (a log axis drops them)."
  [points floor]
  (if floor
    (let [f (double floor)] (mapv (fn [[x y]] [x (if (and (positive? y) (< (double y) f)) f y)]) points))
    points))

(defn floor-layers
  "The reference line of the floating-point floor for runs rs (their
  `loss-floor`s) when one of the losses ys falls below it: [] when none does
  or the floors differ by more than tenfold; drawn at the largest floor."
  [rs ys]
  (let [floors (keep loss-floor rs)]
    (if (and (seq floors)
             (<= (/ (double (reduce max floors)) (double (reduce min floors))) 10.0)
             (some #(and (positive? %) (< (double %) (double (reduce min floors)))) ys))
      [{:mark :rule :series (str "floating-point floor ≈ " (fmt (reduce max floors)))
        :color "#888888" :dash [1 3] :y (reduce max floors)}]
      [])))

;; ---------------------------------------------------------------- labels

(defn threshold-label
  "The name of the stability threshold c/η of a run with stability constant c
  (dlnlab.result/stability-constant): \"2/η\" for GD (or c nil), else e.g. \"3/η\"."
  [c]
  (if (or (nil? c) (< (Math/abs (- (double c) 2.0)) 1e-12)) "2/η" (str (fmt c) "/η")))

;; ---------------------------------------------------------------- colors

(def palette
  "The categorical palette; a layer's integer :color indexes it (cyclically)."
  ["#4c78a8" "#f58518" "#e45756" "#72b7b2" "#54a24b" "#eeca3b" "#b279a2" "#ff9da6" "#9d755d" "#bab0ac"])

(def rule-color
  "The color of reference lines shared by every series."
  "#333333")

(defn color-of
  "The hex color of a layer's :color: a hex string as is, an integer into `palette`."
  [c]
  (cond (string? c) c
        (integer? c) (nth palette (mod (long c) (count palette)))
        :else (nth palette 0)))

;; ---------------------------------------------------------------- the figure-data model

(defmulti build-figure
  "Builds the figure data of the figure called name from data (see `figure`,
  which also cleans and checks what this returns). A method returns
  {:name kw :title str :subtitle str-or-nil
   :x {:title str :log? bool} :y {:title str :log? bool}
   :panels [{:title str-or-nil :layers [layer ...]} ...]}
  where a layer is {:series name :color palette-index-or-hex :dash [on off]-or-nil}
  plus one of
    {:mark :line :points [[x y] ...] :point? bool}   a polyline (optionally with dots)
    {:mark :point :points [[x y] ...]}               dots
    {:mark :rule :y v}                               a horizontal line across the panel
    {:mark :x-rule :x v}                             a vertical line across the panel
    {:mark :band :points [[x lo hi] ...]}            a filled band between lo and hi
    {:mark :bar :points [[x0 x1 h] ...]}             histogram bars from 0 to h.
  An axis may say :log? :auto (log when its values are positive and span two
  decades; `figure` decides) and :zero? true (a linear axis that includes 0).
  Panels of one figure have the same layers in the same order (one panel per mode).
  Add a figure with a defmethod."
  (fn [name _data _opts] name))

(defmethod build-figure :default [name _ _]
  (let [known (set (keys (dissoc (methods build-figure) :default)))]
    (fail! :invalid-argument (str "Unknown figure " (pr-str name) "; allowed are " (pr-str (sort known)) ".")
           [:figure] name known)))

(defn thin
  "At most about max-points points of a polyline [[x y] ...]: when longer, each of max-points/2
  buckets keeps its smallest and largest y in x order, so oscillations keep their
  envelope (plain striding would alias a period-2 cycle into a flat line)."
  [points ^long max-points]
  (let [n (count points)]
    (if (<= n max-points)
      points
      (let [buckets (max 1 (quot max-points 2))
            size (long (Math/ceil (/ (double n) (double buckets))))]
        (into [] (mapcat (fn [bucket]
                           (let [lo (apply min-key #(double (second %)) bucket)
                                 hi (apply max-key #(double (second %)) bucket)]
                             (if (identical? lo hi) [lo]
                                 (sort-by #(double (first %)) [lo hi])))))
              (partition-all size points))))))

(defn sieve
  "At most one point of a scatter [[x y] ...] per cell of a cells x cells grid
  laid over the points' own range (log-scaled on a log axis), the first of each
  cell, in order. A marker covers a few pixels, so points closer than a cell of
  a `figure-pixels` wide figure draw the same image; a bifurcation diagram of
  tens of thousands of repeated orbit values keeps what it shows and sheds the
  weight. Points must be finite (and positive on a log axis)."
  [points log-x? log-y? ^long cells]
  (if (<= (count points) cells)
    points
    (let [tx (fn [v] (if log-x? (Math/log10 (double v)) (double v)))
          ty (fn [v] (if log-y? (Math/log10 (double v)) (double v)))
          span (fn [vs] [(reduce min vs) (reduce max vs)])
          [x0 x1] (span (map (comp tx first) points))
          [y0 y1] (span (map (comp ty second) points))
          cell (fn ^long [^double v ^double lo ^double hi]
                 (if (== lo hi) 0 (long (Math/floor (* (double cells) (/ (- v lo) (- hi lo)))))))]
      (first (reduce (fn [[out seen] [x y :as p]]
                       (let [k [(cell (tx x) x0 x1) (cell (ty y) y0 y1)]]
                         (if (contains? seen k) [out seen] [(conj out p) (conj seen k)])))
                     [[] #{}] points)))))

(defn- sieve-to
  "A scatter sieved (`sieve`) on grids of 1000, 500, 250 ... cells per axis,
  the finest that leaves at most budget points (64 cells at the coarsest), so
  no scatter outweighs its figure."
  [points log-x? log-y? ^long budget]
  (loop [cells 1000]
    (let [kept (sieve points log-x? log-y? cells)]
      (if (or (<= (count kept) budget) (<= cells 64)) kept (recur (quot cells 2))))))

(defn- clean-layer
  "Drops points a renderer cannot draw: non-finite coordinates, and values <= 0 on a log axis."
  [layer log-x? log-y? max-points]
  (let [ok-x (if log-x? positive? finite?)
        ok-y (if log-y? positive? finite?)]
    (case (:mark layer)
      (:line :point) (update layer :points
                             (fn [ps] (cond-> (filterv (fn [[x y]] (and (ok-x x) (ok-y y))) ps)
                                        (= :line (:mark layer)) (thin max-points)
                                        (= :point (:mark layer)) (sieve-to log-x? log-y? (quot (long max-points) 8)))))
      :rule (if (ok-y (:y layer)) layer (assoc layer :y nil))
      :x-rule (if (ok-x (:x layer)) layer (assoc layer :x nil))
      :band (update layer :points (fn [ps] (filterv (fn [[x lo hi]] (and (ok-x x) (ok-y lo) (ok-y hi))) ps)))
      :bar (update layer :points (fn [ps] (filterv (fn [[x0 x1 h]] (and (ok-x x0) (ok-x x1) (finite? h))) ps))))))

(defn layer-empty?
  "True when a layer has nothing to draw."
  [layer]
  (case (:mark layer)
    :rule (nil? (:y layer))
    :x-rule (nil? (:x layer))
    (empty? (:points layer))))

(defn auto-log?
  "True when every value is positive and they span at least two decades."
  [values]
  (let [vs (filter finite? values)]
    (boolean (and (seq vs) (every? positive? vs)
                  (>= (/ (double (apply max vs)) (double (apply min vs))) 100.0)))))

(defn layer-ys
  "The y values a layer shows (bars rise from 0, so 0 is one of theirs)."
  [layer]
  (case (:mark layer)
    (:line :point) (map second (:points layer))
    :rule (when (:y layer) [(:y layer)])
    :x-rule nil
    :band (mapcat rest (:points layer))
    :bar (when (seq (:points layer)) (cons 0.0 (map #(nth % 2) (:points layer))))))

(defn layer-xs
  "The x values a layer shows."
  [layer]
  (case (:mark layer)
    (:line :point :band) (map first (:points layer))
    :rule nil
    :x-rule (when (:x layer) [(:x layer)])
    :bar (mapcat #(take 2 %) (:points layer))))

(defn- resolve-log
  "An axis {:log? :auto} becomes true or false from the values it shows."
  [axis values]
  (if (= :auto (:log? axis)) (assoc axis :log? (auto-log? values)) (update axis :log? boolean)))

(def figure-pixels
  "The widest figure the data is prepared for, in pixels: coordinates keep ten
  steps per pixel of it (dlnlab.figure.axis/axis-rounder) and polylines keep a minimum and a
  maximum per pixel of the drawn width (:max-points)."
  2000)

(defn- within-x
  "layer with the points whose x fails keep? left out (rules by their x)."
  [layer keep?]
  (case (:mark layer)
    (:line :point :band) (update layer :points (fn [ps] (filterv #(keep? (first %)) ps)))
    :bar (update layer :points (fn [ps] (filterv (fn [[x0 x1]] (and (keep? x0) (keep? x1))) ps)))
    :x-rule (if (and (:x layer) (keep? (:x layer))) layer (assoc layer :x nil))
    layer))

(defn adjust-x
  "Figure data fig with its x axis as opts ask, for figures already built (a
  reproduction's) as for new ones (`figure` applies it): :log-x true or false
  makes the x axis log or linear (a log axis leaves out x <= 0); :x-range
  [lo hi] shows x from lo to hi only (kept as [:x :range], which the renderers
  use as the axis' extent). Throws ex-info for a range that is not two
  increasing numbers (positive on a log axis)."
  [fig {:keys [log-x x-range] :as opts}]
  (let [log? (if (contains? opts :log-x) (boolean log-x) (boolean (get-in fig [:x :log?])))]
    (when x-range
      (let [[lo hi] x-range]
        (when-not (and (= 2 (count x-range)) (finite? lo) (finite? hi) (< (double lo) (double hi))
                       (or (not log?) (positive? lo)))
          (fail! :invalid-option (str "Option :x-range must be [lo hi] with lo < hi" (when log? ", both > 0 on a log axis")
                                      ", got " (pr-str x-range) ".")
                 [:x-range] x-range "[lo hi], lo < hi"))))
    (let [keep? (fn [x] (and (if log? (positive? x) (finite? x))
                             (or (nil? x-range) (<= (double (first x-range)) (double x) (double (second x-range))))))]
      (if (and (not (contains? opts :log-x)) (nil? x-range))
        fig
        (cond-> (-> fig
                    (assoc-in [:x :log?] log?)
                    (update :panels (fn [ps] (mapv (fn [p] (update p :layers (fn [ls] (mapv #(within-x % keep?) ls)))) ps))))
          x-range (assoc-in [:x :range] (mapv double x-range)))))))

(defn figure
  "The figure data of the figure called name for data: the plain map described at
  `build-figure`, with points a renderer cannot draw removed (non-finite, or <= 0
  on a log axis), long polylines thinned, and the legend's series listed as
  :series [{:name :color :mark :dash} ...] in order.

  Names (see `figure-catalog`): :loss :sharpness :modes :pathway-shares
  :balance-gap (a result); :bifurcation :loss-vs-lr :sharpness-vs-lr
  :shares-vs-lr (a sweep); :sde-ensemble :stationary :learning-times (SDE data);
  :learning-time-sweep :stationary-sweep (a sweep of :sde experiments). Options
  common to all: :title and :subtitle override the defaults; :log-x and
  :x-range as in `adjust-x`; :max-points (4000:
  a minimum and a maximum per pixel of a `figure-pixels` wide figure) per
  polyline; the others are listed with each figure in `figure-catalog`.
  Returns the figure data. Throws ex-info for an unknown name, data of the wrong
  shape, or data with nothing recorded to plot."
  ([name data] (figure name data {}))
  ([name data opts]
   (let [raw (build-figure name data opts)
         all-layers (mapcat :layers (:panels raw))
         x (resolve-log (:x raw) (mapcat layer-xs all-layers))
         y (resolve-log (:y raw) (mapcat layer-ys all-layers))
         max-points (long (:max-points opts (* 2 (long figure-pixels))))
         panels (mapv (fn [p] (update p :layers (fn [ls] (mapv #(clean-layer % (:log? x) (:log? y) max-points) ls))))
                      (:panels raw))
         drawn (remove layer-empty? (mapcat :layers panels))
         ;; reference lines (2/η, targets) alone are not a figure of the data
         drawn (if (every? #(#{:rule :x-rule} (:mark %)) drawn) () drawn)
         panels (if (= 1 (count panels)) (update-in panels [0 :layers] #(vec (remove layer-empty? %))) panels)]
     (when (empty? drawn)
       (fail! :invalid-argument
              (str "Figure " (pr-str name) " has nothing to plot: no finite values were recorded"
                   (when (or (:log? x) (:log? y)) " (values <= 0 cannot be shown on its log axis)") ".")
              [:figure name] nil "data with recorded values"))
     (let [arranged (style/arrange (assoc raw :x x :y y :panels panels) color-of)
           ;; the legend lists series in the order the figure built them, not drawn them
           built-order (into {} (map-indexed (fn [i nm] [nm i])) (distinct (map :series drawn)))
           series (->> (remove layer-empty? (mapcat :layers (:panels arranged)))
                       (sort-by #(get built-order (:series %) 0))
                       (map (fn [l] {:name (:series l) :color (color-of (:color l)) :mark (:mark l) :dash (:dash l)}))
                       ;; one entry per name, drawn as its line when it has one
                       ;; (a replicate band and its median line share a name)
                       (reduce (fn [acc s]
                                 (if-let [i (first (keep-indexed (fn [i e] (when (= (:name s) (:name e)) i)) acc))]
                                   (if (and (= :line (:mark s)) (not= :line (:mark (nth acc i)))) (assoc acc i s) acc)
                                   (conj acc s)))
                               []))]
       (cond-> (adjust-x (assoc arranged :series series) opts)
         (:title opts) (assoc :title (:title opts))
         (contains? opts :subtitle) (assoc :subtitle (:subtitle opts)))))))

;; ---------------------------------------------------------------- catalog

(def figure-catalog
  "Every figure `figure` can build: {name {:inputs #{:result :sweep :ensemble}
  (what the CLI may draw it from) :data what it takes :options {opt doc}}}."
  {:loss {:inputs #{:result :sweep} :data "a result, or a sequence of results (one line each)"
          :options {:x ":step (default; :time for gradient flow) or :time"
                    :labels "legend label per result (default: the sweep point, else \"run i\"); given labels turn facets off"
                    :facet "false: one panel; default: with two or more varying grid coordinates, one panel per value of the one with the fewest values (at most 4), series for the others, colored dark to light along a numeric one"}}
   :sharpness {:inputs #{:result} :data "a result that recorded :sharpness"
               :options {:x ":step or :time" :lr "η for the stability-threshold line (default: the run's own, dlnlab.result/stability-threshold)"
                         :log-y ":auto (default: log when the values span two decades), true or false"}}
   :modes {:inputs #{:result :sweep} :data "a result that recorded :modes, or a sequence of results (mode :mode of each)"
           :options {:x ":step or :time" :targets "[s_i ...] (default: dlnlab.result/mode-targets)"
                     :theory "{:step or :time [...] :modes [[value per mode] per row]}, or a function of step/time giving [value per mode]: dotted theory curves"
                     :log-y "false (default), true or :auto"
                     :all-modes? "false (default): modes whose target is 0 are left out; true shows every mode"
                     :mode "for a sequence of results: the mode index, 0-based (0)"
                     :facet "for a sequence of results: as for :loss"}}
   :pathway-shares {:inputs #{:result} :data "a result that recorded :pathway-shares" :options {:x ":step or :time"}}
   :balance-gap {:inputs #{:result} :data "a result that recorded :balance-gap" :options {:x ":step or :time" :log-y "true (default)"}}
   :bifurcation {:inputs #{:sweep} :data "a sweep: a vector of results"
                 :options {:metric ":mode (default when recorded), :loss or :sharpness"
                           :mode "mode index, 0-based (0)" :last "late values per run (50)"
                           :lr ":effective (default when every run has one) or :raw"
                           :lr-path "the grid path of the learning rate ([:optimizer :lr]); other grid coordinates make separate series"
                           :log-x ":auto (default)" :log-y ":auto for :loss and :sharpness, false for :mode"
                           :note "for a GD sweep of a standard :chain on :matrix-factorization, a vertical line marks c/S_i with S_i = L s_i^(2-2/L) (c = 2 for GD), where mode i starts to oscillate (doc/science.md, sharpness and the edge of stability)"}}
   :loss-vs-lr {:inputs #{:sweep} :data "a sweep: a vector of results"
                :options {:lr ":raw (default: the base lr, which muP transfers across widths) or :effective"
                          :width-fn "fn of a result giving its series key (default: the model's hidden width)"
                          :log-x "true" :log-y "true"}}
   :sharpness-vs-lr {:inputs #{:sweep} :data "a sweep over the learning rate whose runs recorded :sharpness"
                     :options {:lr ":effective (default when every run has one, with the stability-threshold curve) or :raw"
                               :log-y ":auto (default)"
                               :note "the mean and range of the last fifth of each run's sharpness records; other grid coordinates make series"}}
   :shares-vs-lr {:inputs #{:sweep} :data "a sweep over the learning rate of multi-pathway runs that recorded :pathway-shares"
                  :options {:lr ":effective (default when every run has one) or :raw"
                            :note "one panel per mode: the largest pathway share at the end; for GD of a standard :multi-pathway model on :matrix-factorization, dashed lines at 2/S_single and 2/S_split (dlnlab.theory/rebalancing-window)"}}
   :sde-ensemble {:inputs #{:ensemble} :data "{:time [...] :mean [[per mode] per time] :std [...] :quantiles {q [[per mode] per time]}}, or the result of an :sde experiment"
                  :options {:quantiles "[lo hi] keys of :quantiles for the band (default: the lowest and highest)"
                            :targets "[s_i ...] dashed lines (default: an :sde result's targets)" :log-y "false"}}
   :stationary {:inputs #{:ensemble} :data "samples: a sequence of numbers, {:samples [...] :density [[x p] ...]}, an ensemble (final values: :final, else the last of :paths), or the result of an :sde experiment (with its analytic density when the label noise is > 0)"
                :options {:density "[[x p] ...] or a function x -> p (drawn at 200 points over the bins), the analytic density as a line"
                          :bins "number of bins (sqrt n, 10..60)"
                          :range "[lo hi] of the bins" :mode "mode index for an ensemble (0)" :x-title "x axis title"}}
   :learning-time-sweep {:inputs #{:sweep} :data "a sweep of :sde experiments: a vector of their results"
                         :options {:note "x is the numeric grid coordinate with the most values; other varying coordinates make series; one panel per mode, with the gradient-flow learning time (dlnlab.theory/learning-time) dashed"}}
   :stationary-sweep {:inputs #{:sweep} :data "a sweep of :sde experiments with label noise > 0"
                      :options {:note "x as for :learning-time-sweep; the measured variance of each mode at the end, with the variance of the SDE's stationary density (dlnlab.theory.sde/stationary-density) and its Gibbs approximation"}}
   :lyapunov-vs-lr {:inputs #{:sweep} :data "a sweep over the learning rate of GD runs that recorded :lyapunov"
                    :options {:theory-points "points of the per-mode map's exponent curve (200)"
                              :note "the mean of each run's late :lyapunov records; for GD of a standard :chain on :matrix-factorization the per-mode GD map of mode 1 (dlnlab.theory.gd-map/gd-map-lyapunov) dashed, with 2/S_1 and the onset of chaos r_inf/S_1 marked"}}
   :compare-loss {:inputs #{:result} :data "the result of an experiment with :compare" :options {:x ":step, or :time (default when a variant is gradient flow)"}}
   :compare-distance {:inputs #{:result} :data "the result of an experiment with :compare" :options {:x "as for :compare-loss" :log-y ":auto (default)"}}
   :compare-cosine {:inputs #{:result} :data "the result of an experiment with :compare" :options {:x "as for :compare-loss"}}
   :compare-loss-difference {:inputs #{:result} :data "the result of an experiment with :compare" :options {:x "as for :compare-loss"}}
   :hessian-density {:inputs #{} :data "the map of dlnlab.hessian/hessian-density (grid, density, nodes and weights)"
                     :options {:eigenvalues "the exact spectrum, broadened by the same sigma and drawn beside it"
                               :threshold "x of a vertical line, e.g. 2/eta" :log-y "true (default): a log density axis"}}
   :learning-times {:inputs #{:ensemble} :data "a sequence of times, {label [t ...]}, rows [[t per mode] per path], an ensemble (its :first-passage at the smallest fraction, else :learned-time), or the result of an :sde experiment"
                    :options {:bins "number of bins" :range "[lo hi]" :x-title "x axis title"}}})

(def figure-names
  "Every name in `figure-catalog`, in the order figures are listed (run, sweep,
  then SDE figures)."
  [:loss :sharpness :modes :pathway-shares :balance-gap :bifurcation :loss-vs-lr
   :sharpness-vs-lr :shares-vs-lr :lyapunov-vs-lr :compare-loss :compare-distance :compare-cosine :compare-loss-difference
   :sde-ensemble :stationary :learning-times :learning-time-sweep :stationary-sweep :hessian-density])

;; ---------------------------------------------------------------- standard figures

(defn input-kind
  "What data is, for `standard-names`: :ensemble for an SDE ensemble map,
  :compare for a side-by-side result (dlnlab.figure.compare), (dlnlab.result/kind r) for another result r, [:sweep kind] for a sequence of results
  (the kind of its first result), :none otherwise."
  [data]
  (cond
    (ensemble? data) :ensemble
    (result/result? data) (if (:compare data) :compare (result/kind data))
    (sequential? data) (if-let [r (first (filter result/result? data))] [:sweep (result/kind r)] :none)
    :else :none))

(defmulti standard-names
  "The names of the figures that apply to data, in order, dispatched on
  `input-kind`: each figure family (dlnlab.figure.run, .sweep, .sde) says which
  of its figures apply to what was recorded. Returns a vector ([] for data no
  method knows)."
  input-kind)

(defmethod standard-names :default [_] [])

(defn standard
  "{name figure-data} of the standard figures of data (`standard-names`); a
  figure with nothing finite to plot (e.g. a diverged run) is left out.
  Options: :figures (all) a collection of names to keep; :figure-opts {name
  options} passed to `figure` for that figure; the rest goes to every `figure`
  call. Returns a map (sorted by name)."
  ([data] (standard data {}))
  ([data opts]
   (into (sorted-map)
         (keep (fn [nm]
                 (try [nm (figure nm data (merge (dissoc opts :figure-opts) (get-in opts [:figure-opts nm])))]
                      (catch clojure.lang.ExceptionInfo e
                        (if (= [:figure nm] (:path (ex-data e))) nil (throw e))))))
         (let [names (standard-names data)]
           (if-let [only (:figures opts)] (filterv (set only) names) names)))))
