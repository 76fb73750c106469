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
  `figure-catalog`.

  Inputs are the plain-data maps of doc/design.md: a run result
  {:experiment :trajectory :final :analysis ...}, a sweep (a vector of results,
  each with :sweep {:index i :point {path value}}; nil or failed slots are
  skipped), or a per-mode SDE ensemble {:time :mean :std :quantiles ...}
  (dlnlab.result/ensemble). Results are read through dlnlab.result. Modes and
  layers are numbered from 1 in labels (mode 1 has the largest target singular
  value s_1), as in papers."
  (:require [clojure.string :as str]
            [dlnlab.error :as error]
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

(def ^:private sequential-palette
  "Dark to light along viridis, stopping before its pale yellow end (which
  vanishes on white): for series ordered by a number, e.g. the learning rate."
  ["#440154" "#46327e" "#365c8d" "#277f8e" "#1fa187" "#4ac16d" "#8fc83a" "#c2bb1b"])

(defn- hex-color
  "The color at fraction f in [0, 1] along a palette of hex colors (linear in RGB)."
  [palette ^double f]
  (let [n (dec (count palette))
        x (* (max 0.0 (min 1.0 f)) n)
        i (min (dec n) (long (Math/floor x)))
        t (- x i)
        rgb (fn [^String h] (let [v (Long/parseLong (subs h 1) 16)]
                              [(bit-and (bit-shift-right v 16) 0xff) (bit-and (bit-shift-right v 8) 0xff) (bit-and v 0xff)]))
        a (rgb (nth palette i)) b (rgb (nth palette (inc i)))]
    (apply format "#%02x%02x%02x" (map (fn [^long u ^long v] (Math/round (+ u (* t (- v u))))) a b))))

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

(defn- clean-layer
  "Drops points a renderer cannot draw: non-finite coordinates, and values <= 0 on a log axis."
  [layer log-x? log-y? max-points]
  (let [ok-x (if log-x? positive? finite?)
        ok-y (if log-y? positive? finite?)]
    (case (:mark layer)
      (:line :point) (update layer :points
                             (fn [ps] (cond-> (filterv (fn [[x y]] (and (ok-x x) (ok-y y))) ps)
                                        (= :line (:mark layer)) (thin max-points))))
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
  "The y values a layer shows."
  [layer]
  (case (:mark layer)
    (:line :point) (map second (:points layer))
    :rule (when (:y layer) [(:y layer)])
    :x-rule nil
    :band (mapcat rest (:points layer))
    :bar (map #(nth % 2) (:points layer))))

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
  steps per pixel of it (`axis-rounder`) and polylines keep a minimum and a
  maximum per pixel of the drawn width (:max-points)."
  2000)

(defn axis-rounder
  "A function rounding a coordinate to what a figure `figure-pixels` wide can
  show on an axis over values (log? for a log axis): to a decimal step of at
  most 1/(10 figure-pixels) of the span on a linear axis, to as many
  significant digits as resolve that fraction of the span in log scale on a log
  axis. Non-finite values pass unchanged; identity without a span."
  [values log?]
  (let [vs (filter (if log? positive? finite?) values)]
    (if (empty? vs)
      identity
      (let [lo (double (reduce min (map double vs))) hi (double (reduce max (map double vs)))
            resolution (* 10.0 (double figure-pixels))]
        (cond
          (not (< lo hi)) identity
          log? (let [rel (/ (* (Math/log10 (/ hi lo)) (Math/log 10.0)) resolution)
                     digits (int (max 3 (inc (long (Math/ceil (- (Math/log10 rel)))))))
                     mc (java.math.MathContext. digits java.math.RoundingMode/HALF_EVEN)]
                 (fn [v] (if (finite? v) (.doubleValue (.round (BigDecimal/valueOf (double v)) mc)) v)))
          :else (let [scale (int (- (long (Math/floor (Math/log10 (/ (- hi lo) resolution))))))]
                  (fn [v] (if (finite? v)
                            (.doubleValue (.setScale (BigDecimal/valueOf (double v)) scale java.math.RoundingMode/HALF_EVEN))
                            v))))))))

(defn- round-layer
  "layer with every coordinate of its points rounded: x by rx, y by ry (rules kept)."
  [layer rx ry]
  (case (:mark layer)
    (:line :point) (update layer :points (fn [ps] (mapv (fn [[x y]] [(rx x) (ry y)]) ps)))
    ;; a reference line is one number, and readers look for its exact value
    (:rule :x-rule) layer
    :band (update layer :points (fn [ps] (mapv (fn [[x lo hi]] [(rx x) (ry lo) (ry hi)]) ps)))
    :bar (update layer :points (fn [ps] (mapv (fn [[x0 x1 h]] [(rx x0) (rx x1) (ry h)]) ps)))))

(defn round-coordinates
  "fig (figure data from `figure`) with every coordinate rounded by the
  `axis-rounder` of its axis over the values of every panel: what a file writer
  does to stay light; figure data itself keeps full precision."
  [fig]
  (let [layers (mapcat :layers (:panels fig))
        rx (axis-rounder (mapcat layer-xs layers) (get-in fig [:x :log?]))
        ry (axis-rounder (mapcat layer-ys layers) (get-in fig [:y :log?]))]
    (update fig :panels (fn [ps] (mapv (fn [p] (update p :layers (fn [ls] (mapv #(round-layer % rx ry) ls)))) ps)))))

(defn figure
  "The figure data of the figure called name for data: the plain map described at
  `build-figure`, with points a renderer cannot draw removed (non-finite, or <= 0
  on a log axis), long polylines thinned, and the legend's series listed as
  :series [{:name :color :mark :dash} ...] in order.

  Names (see `figure-catalog`): :loss :sharpness :modes :pathway-shares
  :balance-gap (a result); :bifurcation :loss-vs-lr :sharpness-vs-lr
  :shares-vs-lr (a sweep); :sde-ensemble :stationary :learning-times (SDE data);
  :learning-time-sweep :stationary-sweep (a sweep of :sde experiments). Options
  common to all: :title and :subtitle override the defaults; :max-points (4000:
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
     (let [series (->> drawn
                       (map (fn [l] {:name (:series l) :color (color-of (:color l)) :mark (:mark l) :dash (:dash l)}))
                       ;; one entry per name, drawn as its line when it has one
                       ;; (a replicate band and its median line share a name)
                       (reduce (fn [acc s]
                                 (if-let [i (first (keep-indexed (fn [i e] (when (= (:name s) (:name e)) i)) acc))]
                                   (if (and (= :line (:mark s)) (not= :line (:mark (nth acc i)))) (assoc acc i s) acc)
                                   (conj acc s)))
                               []))]
       (cond-> (assoc raw :x x :y y :panels panels :series series)
         (:title opts) (assoc :title (:title opts))
         (contains? opts :subtitle) (assoc :subtitle (:subtitle opts)))))))

;; ---------------------------------------------------------------- log-axis ticks

(defn tick-label
  "A tick label: integers plainly (below 1e6), other values from 1e-3 to 1e5 as
  decimals with at most 3 significant digits (0.02, 0.0707, 2.5), others in
  short scientific notation (2e-5, 1.5e7)."
  [v]
  (let [v (double v) a (Math/abs v)]
    (cond
      (zero? v) "0"
      (and (== v (Math/rint v)) (< a 1e6)) (str (long v))
      (and (>= a 1e-3) (< a 1e5)) (-> (format "%.3g" v) (str/replace #"(\.\d*?)0+$" "$1") (str/replace #"\.$" ""))
      :else (let [[m e] (str/split (format "%.2e" v) #"e")]
              (str (-> m (str/replace #"(\.\d*?)0+$" "$1") (str/replace #"\.$" ""))
                   "e" (Long/parseLong (str/replace e #"^\+" "")))))))

(defn- pow10 ^double [^long e] (Math/pow 10.0 (double e)))

(defn- mantissa-ticks
  "m x 10^e for each mantissa m in ms and every decade e, within [lo, hi]."
  [ms ^double lo ^double hi]
  (vec (for [e (range (long (Math/floor (Math/log10 lo))) (inc (long (Math/ceil (Math/log10 hi)))))
             m ms
             :let [v (* (double m) (pow10 e))
                   ;; 3 x 10^-1 is 0.30000000000000004 in doubles; print-exact values
                   v (Double/parseDouble (format "%.12g" v))]
             :when (<= (* lo (- 1.0 1e-9)) v (* hi (+ 1.0 1e-9)))]
         v)))

(defn- linear-ticks
  "Multiples of a 1-2-5 x 10^k step in [lo, hi], about four of them."
  [^double lo ^double hi]
  (let [raw (/ (- hi lo) 4.0)
        e (long (Math/floor (Math/log10 raw)))
        step (* (double (first (filter #(>= (* (double %) (pow10 e)) raw) [1 2 5 10]))) (pow10 e))]
    (vec (for [k (range (long (Math/ceil (/ lo step))) (inc (long (Math/floor (/ hi step)))))]
           (Double/parseDouble (format "%.12g" (* (double k) step)))))))

(defn log-ticks
  "Ticks for a log axis showing values (non-positive and non-finite ones are
  ignored): {:domain [lo hi] :major [v ...] :minor [v ...]}, or nil without a
  positive value.

  - at the data: when opts :at-data? is true and the data (opts :data, default
    values; e.g. the points without the reference lines) take from 2 to 10
    distinct values, none closer than 1/30 of the axis' span in log scale (a
    swept learning rate or batch size), the ticks are those values; the domain
    covers values with 5% of the span on each side.
  - over two decades or more: ticks at powers of ten, every k-th so there are at
    most 10, minor ticks at 2..9 x 10^e when every decade has a tick (and at the
    skipped decades otherwise); the domain covers values with 5% of the span
    on each side.
  - over less: ticks at 1-2-5 x 10^e (or 1..9 x 10^e, or a linear 1-2-5 step
    on a very narrow axis) inside the domain, which adds 5% of the span on each
    side; minor ticks at the other 1..9 x 10^e.
  When every value is an integer, ticks are integers too (integers stay
  integers). Label ticks with `tick-label`."
  ([values] (log-ticks values {}))
  ([values {:keys [at-data? data]}]
   (let [sorted-positive (fn [xs] (vec (sort (distinct (map double (filter positive? xs))))))
         vs (sorted-positive values)
         at (if data (sorted-positive data) vs)]
     (when (seq vs)
       (let [lo (double (first vs)) hi (double (peek vs))
             integers? (every? #(== (double %) (Math/rint (double %))) vs)
             span (Math/log10 (/ hi lo))
             pad (if (pos? span) (Math/pow 10.0 (* 0.05 span)) 2.0)
             domain [(/ lo pad) (* hi pad)]
             keep-integers (fn [ts] (if integers? (filterv #(== (double %) (Math/rint (double %))) ts) ts))
             gaps (map (fn [a b] (Math/log10 (/ (double b) (double a)))) at (rest at))]
         (cond
           (and at-data? (<= 2 (count at) 10) (every? #(>= (double %) (/ span 30.0)) gaps))
           {:domain domain :major at :minor []}

           (>= span 2.0)
           (let [e-lo (long (Math/floor (Math/log10 lo)))
                 e-hi (long (Math/ceil (Math/log10 hi)))
                 k (max 1 (long (Math/ceil (/ (double (- e-hi e-lo)) 10.0))))
                 decades (range e-lo (inc e-hi))
                 dlo (double (first domain)) dhi (double (second domain))
                 inside? (fn [^double v] (<= (* dlo (- 1.0 1e-9)) v (* dhi (+ 1.0 1e-9))))
                 major (filterv inside? (map pow10 (filter #(zero? (rem (- (long %) e-lo) k)) decades)))]
             ;; the domain frames the values with a margin, not whole decades: a
             ;; decade rounded out would squeeze data from 0.04 into a fraction of the axis
             {:domain domain
              :major major
              :minor (filterv inside?
                              (if (= k 1)
                                (keep-integers (mantissa-ticks [2 3 4 5 6 7 8 9] (pow10 e-lo) (pow10 e-hi)))
                                (mapv pow10 (remove #(zero? (rem (- (long %) e-lo) k)) decades))))})

           :else
           (let [[dlo dhi] domain
                 major (keep-integers
                        (or (first (filter #(>= (count %) 3)
                                           (map #(keep-integers (mantissa-ticks % dlo dhi))
                                                [[1 2 5] [1 2 3 5] [1 2 3 4 5 6 7 8 9]])))
                            (linear-ticks dlo dhi)))
                 major (if (seq major) major vs)]
             {:domain domain
              :major major
              :minor (vec (remove (set major) (keep-integers (mantissa-ticks [1 2 3 4 5 6 7 8 9] dlo dhi))))})))))))

(defn axis-ticks
  "{:x ticks :y ticks}: `log-ticks` of each log axis of figure data fig over the
  values of every panel, nil for a linear axis. x ticks sit at the data when its
  points take few values (a swept learning rate or batch size)."
  [fig]
  (let [layers (mapcat :layers (:panels fig))]
    {:x (when (get-in fig [:x :log?])
          (log-ticks (mapcat layer-xs layers)
                     {:at-data? true :data (mapcat layer-xs (remove #(#{:rule :x-rule} (:mark %)) layers))}))
     :y (when (get-in fig [:y :log?]) (log-ticks (mapcat layer-ys layers)))}))

;; ---------------------------------------------------------------- several runs in one figure

(defn run-label
  "A legend label for run i of several: its sweep point, else \"run i+1\"."
  [r ^long i]
  (if-let [point (seq (get-in r [:sweep :point]))]
    (str/join ", " (for [[path v] point] (str (name (last path)) " = " (fmt-value v))))
    (str "run " (inc i))))

(defn coordinate-label
  "\"name = value\" for grid coordinate path at value v."
  [path v]
  (str (name (last path)) " = " (fmt-value v)))

(defn sweep-coordinates
  "[[path [value ...]] ...]: the grid coordinates of rs (their [:sweep :point])
  that take two or more values, values in order of first appearance."
  [rs]
  (let [points (map #(get-in % [:sweep :point]) rs)]
    (vec (for [path (distinct (mapcat keys points))
               :let [vs (vec (distinct (map #(get % path) points)))]
               :when (> (count vs) 1)]
           [path vs]))))

(defn sweep-layout
  "How several runs are laid out in a figure: {:panels [title ...] (one nil title
  for no facets) :series [{:name :color} ...] :place (fn [run-index] [panel series])}.
  With two or more varying grid coordinates, the one with the fewest values
  (non-numeric first, at most 4) makes the panels unless (:facet opts) is false;
  the others name the series. When the series vary in one numeric coordinate,
  they are colored in its order along a sequential palette (dark = small).
  Without grid points, or with :labels, every run is its own series."
  [rs opts]
  (let [coords (sweep-coordinates rs)
        n (count rs)
        plain (fn [labels]
                (let [ls (mapv str labels)
                      freq (frequencies ls)
                      ;; legend entries (and XChart series) need distinct names
                      ls (vec (map-indexed (fn [^long i l] (if (> (long (get freq l)) 1) (str l " #" (inc i)) l)) ls))]
                  {:panels [nil]
                   :series (vec (map-indexed (fn [i l] {:name l :color i}) ls))
                   :place (fn [i] [0 i])}))]
    (if (or (:labels opts) (empty? coords) (< n 2))
      (plain (or (:labels opts) (map-indexed (fn [i r] (run-label r i)) rs)))
      (let [facet (when (and (>= (count coords) 2) (not (false? (:facet opts))))
                    (->> coords
                         (filter (fn [[_ vs]] (<= (count vs) 4)))
                         (sort-by (fn [[_ vs]] [(if (every? number? vs) 1 0) (count vs)]))
                         first))
            colored (vec (remove #(= % facet) coords))
            numeric (when (and (= 1 (count colored)) (every? number? (second (first colored))))
                      (first colored))
            key-of (fn [r] (mapv (fn [[path _]] (get-in r [:sweep :point path])) colored))
            keys (cond->> (vec (distinct (map key-of rs)))
                   numeric (sort-by #(double (first %))))
            series (vec (map-indexed
                         (fn [^long i k]
                           {:key k
                            :name (str/join ", " (map (fn [[path _] v] (coordinate-label path v)) colored k))
                            :color (if (and numeric (> (count keys) 1))
                                     (hex-color sequential-palette (/ (double i) (double (dec (count keys)))))
                                     i)})
                         keys))
            series-index (into {} (map-indexed (fn [i s] [(:key s) i]) series))
            panel-values (if facet (second facet) [nil])
            panel-index (into {} (map-indexed (fn [i v] [v i]) panel-values))]
        {:panels (mapv #(when facet (coordinate-label (first facet) %)) panel-values)
         :series (mapv #(dissoc % :key) series)
         :place (fn [i] (let [r (nth rs i)]
                          [(if facet (get panel-index (get-in r [:sweep :point (first facet)])) 0)
                           (get series-index (key-of r))]))}))))

(defn sweep-panels
  "Panels of one line per run: layers (fn [run] points) placed by `sweep-layout`,
  every panel with one layer per series in the same order, plus extra layers
  (e.g. rules) after them."
  [rs layout points-of extra]
  (let [{:keys [panels series place]} layout
        cells (into {} (map-indexed (fn [i r] [(place i) r]) rs))]
    (vec (for [[p title] (map-indexed vector panels)]
           {:title title
            :layers (vec (concat
                          (for [[j {:keys [name color]}] (map-indexed vector series)]
                            {:mark :line :series name :color color
                             :points (if-let [r (get cells [p j])] (points-of r) [])})
                          extra))}))))

(defn sweep-subtitle
  "\"n runs[ in k panels][; what they share]\" for the runs rs laid out by layout."
  [rs layout]
  (str (count rs) " runs"
       (when (> (count (:panels layout)) 1) (str " in " (count (:panels layout)) " panels"))
       (let [shared (result/run-summary (assoc (first rs) :status nil))]
         (when (and (seq shared) (every? #(= shared (result/run-summary (assoc % :status nil))) rs))
           (str "; " shared)))))

;; ---------------------------------------------------------------- settings and replicates

(defn replicate-path?
  "True for a grid coordinate that only repeats a run with another seed (its
  path ends in :seed, e.g. [:seed]): runs that differ in it are replicates."
  [path]
  (= :seed (last path)))

(defn setting-label
  "\"name = value, ...\" for the grid coordinates of run r other than the paths
  in skip (e.g. the x axis) and replicate seeds; nil when nothing is left."
  [r skip]
  (let [skip (set skip)
        point (remove (fn [[path _]] (or (skip path) (replicate-path? path)))
                      (sort-by (comp str key) (get-in r [:sweep :point])))]
    (when (seq point)
      (str/join ", " (for [[path v] point] (coordinate-label path v))))))

(defn replicate-count
  "The number of runs of rs that share a setting and an x: the largest group of
  [(key-fn run) (x-fn run)] (1 without replicates)."
  ^long [rs key-fn x-fn]
  (if (seq rs) (long (reduce max (vals (frequencies (map (juxt key-fn x-fn) rs))))) 0))

(defn median
  "The median of a non-empty collection of numbers (the mean of the middle two
  for an even count)."
  ^double [xs]
  (let [v (vec (sort (map double xs)))
        n (count v)
        h (quot n 2)]
    (if (odd? n)
      (double (nth v h))
      (* 0.5 (+ (double (nth v (dec h))) (double (nth v h)))))))

(defn replicate-layers
  "The layers of one series from points [[x y] ...] in which several y at one x
  are replicates (e.g. seeds): without replicates one line with dots; with them
  a band from the smallest to the largest y at each x, each replicate as a faint
  dot, and the median as a line with dots on top, all under one legend name."
  [series color points]
  (let [by-x (sort-by #(double (key %)) (group-by first (filter (fn [[x y]] (and (finite? x) (finite? y))) points)))
        ys (mapv (fn [[x ps]] [x (mapv second ps)]) by-x)]
    (if (every? #(= 1 (count (second %))) ys)
      [{:mark :line :point? true :series series :color color :points (mapv (fn [[x v]] [x (first v)]) ys)}]
      [{:mark :band :series series :color color
        :points (mapv (fn [[x v]] [x (reduce min v) (reduce max v)]) ys)}
       {:mark :point :series series :color color :faint? true
        :points (vec (for [[x v] ys y v] [x y]))}
       {:mark :line :point? true :series series :color color
        :points (mapv (fn [[x v]] [x (median v)]) ys)}])))

(defn replicate-note
  "The subtitle words for series with k replicates per point: \"\" for k <= 1."
  [^long k]
  (if (> k 1)
    (str "; " k " seeds per point: median line, band min–max, faint dots each seed")
    ""))

(defn count-words
  "\"n runs in k series\" (\"n runs\" for one series)."
  [^long n ^long k]
  (str n " run" (when (not= n 1) "s") (when (> k 1) (str " in " k " series"))))

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
                      :options {:note "x as for :learning-time-sweep; the measured variance of each mode at the end, with the variance of the SDE's stationary density (dlnlab.theory/stationary-density) and its Gibbs approximation"}}
   :lyapunov-vs-lr {:inputs #{:sweep} :data "a sweep over the learning rate of GD runs that recorded :lyapunov"
                    :options {:theory-points "points of the per-mode map's exponent curve (200)"
                              :note "the mean of each run's late :lyapunov records; for GD of a standard :chain on :matrix-factorization the per-mode GD map of mode 1 (dlnlab.theory.gd-map/gd-map-lyapunov) dashed, with 2/S_1 and the onset of chaos r_inf/S_1 marked"}}
   :compare-loss {:inputs #{:result} :data "the result of an experiment with :compare" :options {:x ":step, or :time (default when a variant is gradient flow)"}}
   :compare-distance {:inputs #{:result} :data "the result of an experiment with :compare" :options {:x "as for :compare-loss" :log-y ":auto (default)"}}
   :compare-cosine {:inputs #{:result} :data "the result of an experiment with :compare" :options {:x "as for :compare-loss"}}
   :compare-loss-difference {:inputs #{:result} :data "the result of an experiment with :compare" :options {:x "as for :compare-loss"}}
   :learning-times {:inputs #{:ensemble} :data "a sequence of times, {label [t ...]}, rows [[t per mode] per path], an ensemble (its :first-passage at the smallest fraction, else :learned-time), or the result of an :sde experiment"
                    :options {:bins "number of bins" :range "[lo hi]" :x-title "x axis title"}}})

(def figure-names
  "Every name in `figure-catalog`, in the order figures are listed (run, sweep,
  then SDE figures)."
  [:loss :sharpness :modes :pathway-shares :balance-gap :bifurcation :loss-vs-lr
   :sharpness-vs-lr :shares-vs-lr :lyapunov-vs-lr :compare-loss :compare-distance :compare-cosine :compare-loss-difference
   :sde-ensemble :stationary :learning-times :learning-time-sweep :stationary-sweep])

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
