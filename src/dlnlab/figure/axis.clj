(ns dlnlab.figure.axis
  "What the axes of figure data show, for the renderers (dlnlab.vega and
  dlnlab.render): ticks of a log axis at 1-2-5 x 10^k or at the data
  (`log-ticks`, `axis-ticks`), their labels (`tick-label`), and coordinates
  rounded to what a figure `dlnlab.figure/figure-pixels` wide can show
  (`round-coordinates`), which keeps written files light."
  (:require [clojure.string :as str]
            [dlnlab.figure :as fig :refer [finite? positive? layer-xs layer-ys]]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------- rounding

(defn axis-rounder
  "A function rounding a coordinate to what a figure `dlnlab.figure/figure-pixels` wide can
  show on an axis over values (log? for a log axis): to a decimal step of at
  most 1/(10 figure-pixels) of the span on a linear axis, to as many
  significant digits as resolve that fraction of the span in log scale on a log
  axis. Non-finite values pass unchanged; identity without a span."
  [values log?]
  (let [vs (filter (if log? positive? finite?) values)]
    (if (empty? vs)
      identity
      (let [lo (double (reduce min (map double vs))) hi (double (reduce max (map double vs)))
            resolution (* 10.0 (double fig/figure-pixels))]
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
  points take few values (a swept learning rate or batch size); an x axis with
  a :range (dlnlab.figure/adjust-x) spans exactly that range."
  [fig]
  (let [layers (mapcat :layers (:panels fig))]
    {:x (when (get-in fig [:x :log?])
          (if-let [[lo hi] (get-in fig [:x :range])]
            ;; a range the user set is the axis' extent, without a margin
            (assoc (log-ticks [lo hi]) :domain [lo hi])
            (log-ticks (mapcat layer-xs layers)
                       {:at-data? true :data (mapcat layer-xs (remove #(#{:rule :x-rule} (:mark %)) layers))})))
     :y (when (get-in fig [:y :log?]) (log-ticks (mapcat layer-ys layers)))}))
