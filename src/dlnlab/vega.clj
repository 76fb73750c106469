(ns dlnlab.vega
  "Figure data (dlnlab.figure) as Vega-Lite v5 specs: plain EDN maps with
  keyword keys and inline data, carrying the metadata {:kindly/kind
  :kind/vega-lite} so Clay, Clerk and Portal render them as they are (nothing
  here depends on those tools), and their JSON text (org.clojure/data.json).

  `spec` compiles one figure; the named functions (`loss-spec`,
  `sharpness-spec`, ...) go straight from data to a spec; `standard-specs`
  gives the specs of every figure that applies to what data recorded. Requiring
  this namespace loads the built-in figures (dlnlab.figure.run, .sweep, .sde,
  .compare, .chaos)."
  (:require [clojure.data.json :as json]
            [dlnlab.figure :as fig]
            [dlnlab.figure.axis :as axis]
            [dlnlab.figure.chaos]
            [dlnlab.figure.compare]
            [dlnlab.figure.run]
            [dlnlab.figure.sde]
            [dlnlab.figure.spectrum]
            [dlnlab.figure.sweep]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def ^:private schema-url "https://vega.github.io/schema/vega-lite/v5.json")

(defn- layer-rows
  "The data rows of one layer: {layer series panel x y [x2] [y2]}."
  [^long j panel-title layer]
  (let [base {:layer j :series (:series layer) :panel panel-title}]
    (case (:mark layer)
      (:line :point) (map (fn [[x y]] (assoc base :x x :y y)) (:points layer))
      :rule (when (:y layer) [(assoc base :y (:y layer))])
      :x-rule (when (:x layer) [(assoc base :x (:x layer))])
      :band (map (fn [[x lo hi]] (assoc base :x x :y lo :y2 hi)) (:points layer))
      :bar (map (fn [[x0 x1 h]] (assoc base :x x0 :x2 x1 :y h)) (:points layer)))))

(defn- vl-scale
  "A Vega-Lite scale for an axis: on a log axis the domain of its ticks
  (dlnlab.figure.axis/log-ticks), so the data and the marks sit inside with a margin."
  [axis]
  (if (:log? axis)
    (cond-> {:type "log"} (:ticks axis) (assoc :domain (:domain (:ticks axis)) :nice false))
    (cond-> {:zero (boolean (:zero? axis))} (:range axis) (assoc :domain (:range axis) :nice false))))

(def ^:private log-label-expr
  "Vega expression writing a tick as dlnlab.figure.axis/tick-label does: integers
  plainly, 1e-3 to 1e5 with at most 3 significant digits, 2e-5 beyond."
  (str "datum.value == round(datum.value) && abs(datum.value) < 1e6 ? format(datum.value, 'd')"
       " : abs(datum.value) >= 0.001 && abs(datum.value) < 100000 ? format(datum.value, '.3~g')"
       " : replace(format(datum.value, '.2~e'), 'e+', 'e')"))

(defn- vl-axis
  "Axis options: on a log axis, ticks and grid lines at its dlnlab.figure.axis/log-ticks
  (Vega would add 2..9 of each decade and unround values between)."
  [axis]
  (when-let [ticks (:major (:ticks axis))]
    {:axis {:values ticks :labelExpr log-label-expr}}))

(defn- vl-dash
  "The dash of a line or rule layer: the strokeDash encoding by series when the
  layer is drawn as its series' legend entry says (so the legend shows the dash),
  else its own dash as a mark property (a target rule sharing its name with a
  solid line)."
  [layer series-dash dash-encoding]
  (if (= (:dash layer) (get series-dash (:series layer) ::none))
    {:encoding {:strokeDash dash-encoding}}
    {:mark (when (:dash layer) {:strokeDash (:dash layer)})}))

(defn- vl-layer [j layer x y color series-dash dash-encoding]
  (let [xenc (merge {:field "x" :type "quantitative" :title (:title x) :scale (vl-scale x)} (vl-axis x))
        yenc (merge {:field "y" :type "quantitative" :title (:title y) :scale (vl-scale y)} (vl-axis y))
        dash (when (#{:line :rule :x-rule} (:mark layer)) (vl-dash layer series-dash dash-encoding))
        stroke (fn [w] (cond-> {:strokeWidth (:stroke-width layer w)} (:opacity layer) (assoc :opacity (:opacity layer))))
        base (case (:mark layer)
               :line {:mark (merge {:type "line" :clip true} (stroke 2)
                                   (when (:point? layer) {:point {:filled true :size 30}}))
                      :encoding {:x xenc :y yenc :color color}}
               :point {:mark {:type "point" :filled true :size 14 :opacity (if (:faint? layer) 0.25 0.7) :clip true}
                       :encoding {:x xenc :y yenc :color color}}
               :rule {:mark (merge {:type "rule"} (stroke 1.5))
                      :encoding {:y yenc :color color}}
               :x-rule {:mark (merge {:type "rule"} (stroke 1.5))
                        :encoding {:x xenc :color color}}
               :band {:mark {:type "area" :opacity 0.3 :clip true}
                      :encoding {:x xenc :y yenc :y2 {:field "y2"} :color color}}
               :bar {:mark {:type "rect" :opacity 0.55 :clip true}
                     :encoding {:x xenc :x2 {:field "x2"} :y yenc :y2 {:datum 0} :color color}})]
    (merge {:transform [{:filter (str "datum.layer === " j)}]}
           (-> base
               (update :mark merge (:mark dash))
               (update :encoding merge (:encoding dash))))))

(defn spec
  "The Vega-Lite spec (v5, a plain EDN map with keyword keys, data inline) of
  figure data from dlnlab.figure/figure: one layer per series, a color legend
  when there is more than one series, log scales where the figure data says
  so (ticks and domain from dlnlab.figure.axis/axis-ticks), and one facet row per panel when there are several. Its metadata is
  {:kindly/kind :kind/vega-lite}. `json` turns it into JSON text.

  Options: :width (520) and :height (300; 160 per panel when faceted) in pixels.
  Returns the spec map."
  ([fig] (spec fig {}))
  ([fig {:keys [width height] :or {width 520}}]
   (let [;; coordinates no finer than a 2000-pixel figure shows: light specs
         fig (axis/round-coordinates fig)
         {:keys [title subtitle panels series]} fig
         ticks (axis/axis-ticks fig)
         x (assoc (:x fig) :ticks (:x ticks))
         y (assoc (:y fig) :ticks (:y ticks))
         faceted? (> (count panels) 1)
         height (or height (if faceted? 160 300))
         ;; a line symbol sqrt(symbolSize) pixels long shows a whole dash period
         legend (when (> (count series) 1)
                  (cond-> {:title nil :orient "right" :labelLimit 400}
                    (some :dash series) (assoc :symbolSize 500 :symbolStrokeWidth 2)))
         color {:field "series" :type "nominal"
                :scale {:domain (mapv :name series) :range (mapv :color series)}
                :legend legend}
         ;; dashes as an encoding of the series, so the legend's symbols show them
         series-dash (into {} (map (juxt :name :dash)) series)
         dash-encoding {:field "series" :type "nominal"
                        :scale {:domain (mapv :name series) :range (mapv #(or (:dash %) [1 0]) series)}
                        :legend legend}
         template (:layers (first panels))
         rows (vec (for [p panels
                         [j layer] (map-indexed vector (:layers p))
                         row (layer-rows j (:title p) layer)]
                     row))
         layers (vec (map-indexed (fn [j l] (vl-layer j l x y color series-dash dash-encoding)) template))
         head (cond-> {:$schema schema-url
                       :title (cond-> {:text title :anchor "start"} subtitle (assoc :subtitle subtitle))
                       :usermeta {:figure (name (:name fig))}
                       :data {:values rows}
                       :config {:axis {:labelFontSize 11 :titleFontSize 12}
                                :legend {:labelFontSize 11}}})]
     (with-meta
       (if faceted?
         (assoc head
                :facet {:row {:field "panel" :type "nominal" :title nil :sort (mapv :title panels)
                              :header {:labelAngle 0 :labelOrient "top" :labelAnchor "start" :labelFontSize 12}}}
                :spec {:width width :height height :layer layers})
         (assoc head :width width :height height :layer layers))
       {:kindly/kind :kind/vega-lite}))))

;; ---------------------------------------------------------------- JSON

(defn- json-name
  "A keyword or symbol as a JSON string, with its namespace."
  [k]
  (if-let [ns (namespace k)] (str ns "/" (name k)) (name k)))

(defn- json-key [k]
  (cond (or (keyword? k) (symbol? k)) (json-name k)
        (string? k) k
        :else (str k)))

(defn- json-ready
  "v with what JSON cannot hold as data.json writes it made plain: NaN and
  infinities become nil, whole doubles below 1e15 longs (shorter text),
  keywords and symbols strings with their namespace, sets and sequences
  vectors. Throws ex-info for anything else that is not JSON data."
  [v]
  (cond
    (or (nil? v) (boolean? v) (string? v)) v
    (double? v) (let [d (double v)]
                  (cond (not (Double/isFinite d)) nil
                        (and (== d (Math/rint d)) (< (Math/abs d) 1e15)) (long d)
                        :else v))
    (number? v) (if (fig/finite? v) v nil)
    (or (keyword? v) (symbol? v)) (json-name v)
    (map? v) (reduce-kv (fn [m k x] (assoc m k (json-ready x))) v v)
    (or (sequential? v) (set? v)) (mapv json-ready v)
    :else (fig/fail! :invalid-argument (str "Cannot write a " (.getName (class v)) " as JSON: " (pr-str v) ".")
                     [] v "nil, booleans, numbers, strings, keywords, maps and sequences")))

(defn json
  "The JSON text of a Vega-Lite spec (or of any plain data): keywords become
  strings (map keys too), NaN and infinities become null. Returns a string.
  Throws ex-info for values JSON cannot hold (functions, arrays, ...)."
  ^String [v]
  (json/write-str (json-ready v) :key-fn json-key :escape-unicode false :escape-slash false))

;; ---------------------------------------------------------------- named figures as Vega-Lite

(defn- spec-of [name data opts] (spec (fig/figure name data opts) opts))

(defn loss-spec
  "Vega-Lite spec: training loss (and test loss when recorded) vs step, log y;
  several results give one line each. Options: see :loss in `figure-catalog`."
  ([data] (loss-spec data {})) ([data opts] (spec-of :loss data opts)))

(defn sharpness-spec
  "Vega-Lite spec: sharpness vs step with the run's stability threshold (2/η
  for GD). Options: see :sharpness in dlnlab.figure/figure-catalog."
  ([result] (sharpness-spec result {})) ([result opts] (spec-of :sharpness result opts)))

(defn modes-spec
  "Vega-Lite spec: mode strengths vs step, targets dashed, optional theory curves
  dotted. Options: see :modes in dlnlab.figure/figure-catalog."
  ([result] (modes-spec result {})) ([result opts] (spec-of :modes result opts)))

(defn pathway-shares-spec
  "Vega-Lite spec: stacked pathway shares over time, one panel per mode.
  Options: see :pathway-shares in dlnlab.figure/figure-catalog."
  ([result] (pathway-shares-spec result {})) ([result opts] (spec-of :pathway-shares result opts)))

(defn balance-gap-spec
  "Vega-Lite spec: balance gap per adjacent layer pair vs step, log y.
  Options: see :balance-gap in dlnlab.figure/figure-catalog."
  ([result] (balance-gap-spec result {})) ([result opts] (spec-of :balance-gap result opts)))

(defn bifurcation-spec
  "Vega-Lite spec: late values of a mode strength (or the loss) of each sweep run
  as points against its learning rate. Options: see :bifurcation in
  dlnlab.figure/figure-catalog."
  ([sweep] (bifurcation-spec sweep {})) ([sweep opts] (spec-of :bifurcation sweep opts)))

(defn loss-vs-lr-spec
  "Vega-Lite spec: final loss of each sweep run vs its learning rate, one line per
  width, log-log (hyperparameter transfer). Options: see :loss-vs-lr in
  dlnlab.figure/figure-catalog."
  ([sweep] (loss-vs-lr-spec sweep {})) ([sweep opts] (spec-of :loss-vs-lr sweep opts)))

(defn sde-ensemble-spec
  "Vega-Lite spec: per-mode SDE ensemble mean and quantile band vs time.
  Options: see :sde-ensemble in dlnlab.figure/figure-catalog."
  ([ensemble] (sde-ensemble-spec ensemble {})) ([ensemble opts] (spec-of :sde-ensemble ensemble opts)))

(defn stationary-spec
  "Vega-Lite spec: histogram (as a density) of samples with the analytic density
  passed as :density [[x p] ...]. Options: see :stationary in
  dlnlab.figure/figure-catalog."
  ([samples] (stationary-spec samples {})) ([samples opts] (spec-of :stationary samples opts)))

(defn learning-times-spec
  "Vega-Lite spec: histogram of learning times, one series per mode or label.
  Options: see :learning-times in dlnlab.figure/figure-catalog."
  ([times] (learning-times-spec times {})) ([times opts] (spec-of :learning-times times opts)))

(defn standard-specs
  "{figure-name Vega-Lite spec} for the figures that apply to what data recorded
  (dlnlab.figure/standard-names). Options: :figures (all) a collection of names
  to keep; :figure-opts {name options} passed to dlnlab.figure/figure for that
  figure; the rest goes to every `figure` and `spec` call (e.g. :x :time).
  Returns a map (sorted by name)."
  ([data] (standard-specs data {}))
  ([data opts]
   (into (sorted-map) (map (fn [[nm f]] [nm (spec f opts)])) (fig/standard data opts))))
