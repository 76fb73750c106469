(ns dlnlab.plot
  "Figures from results: Vega-Lite specs as plain EDN maps (for Clerk, Clay,
  Portal or any Vega-Lite viewer; nothing here depends on those tools) and the
  same figures rendered to SVG or PNG files with XChart (for the CLI).

  Every figure is first built as figure data by `figure` (a plain map: title,
  axes, panels of layers of points; see `build-figure`), then turned into a
  Vega-Lite spec by `vega-lite` or drawn to a file by `render!`, so both outputs
  show the same numbers. The named functions (`loss-spec`, `sharpness-spec`, ...)
  go straight from data to a Vega-Lite spec; `standard-figures` and
  `write-figures!` pick the figures that apply to what was recorded.

  Inputs are the plain-data maps of doc/design.md: a run result
  {:experiment :trajectory :final :analysis ...}, a sweep (a vector of results,
  each with :sweep {:index i :point {path value}}; nil or failed slots are
  skipped), or a per-mode SDE ensemble {:time :mean :std :quantiles ...}.
  Modes and layers are numbered from 1 in labels (mode 1 has the largest target
  singular value s_1), as in papers."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [dlnlab.theory :as theory])
  (:import [de.erichseifert.vectorgraphics2d Document Processor Processors VectorGraphics2D]
           [de.erichseifert.vectorgraphics2d.util PageSize]
           [java.awt BasicStroke Color Font Graphics2D RenderingHints]
           [java.awt.image BufferedImage]
           [java.io File OutputStream]
           [java.nio.file AtomicMoveNotSupportedException Files StandardCopyOption]
           [javax.imageio ImageIO]
           [org.knowm.xchart XYChart XYSeries XYSeries$XYSeriesRenderStyle]
           [org.knowm.xchart.style XYStyler]
           [org.knowm.xchart.style.markers SeriesMarkers]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------- small helpers

(defn- finite? [x] (and (number? x) (Double/isFinite (double x))))

(defn- positive? [x] (and (finite? x) (> (double x) 0.0)))

(defn- fmt
  "A number as a short label: integers plainly, others with 4 significant digits."
  [x]
  (cond
    (not (number? x)) (str x)
    (not (finite? x)) (str x)
    (and (== (double x) (Math/rint (double x))) (< (Math/abs (double x)) 1e6)) (str (long (double x)))
    :else (-> (format "%.4g" (double x))
              (str/replace #"(\.\d*?)0+(e|$)" "$1$2")
              (str/replace #"\.(e|$)" "$1"))))

(defn- fmt-value [v]
  (cond (keyword? v) (name v)
        (number? v) (fmt v)
        :else (pr-str v)))

(defn- fail! [msg path value allowed]
  (throw (ex-info msg {:path path :value value :allowed allowed})))

(defn- recorded
  "[[x v] ...] for the trajectory rows where both column xk and column k hold a value."
  [traj xk k]
  (let [xs (get traj xk) vs (get traj k)]
    (vec (keep (fn [[x v]] (when (and (some? x) (some? v)) [x v]))
               (map vector xs vs)))))

(defn- last-recorded [traj k] (last (remove nil? (get traj k))))

(defn- result? [x] (and (map? x) (map? (:trajectory x))))

(defn- ensemble? [x] (and (map? x) (contains? x :mean) (contains? x :time)))

(defn- sde-result?
  "True for the result of an :sde experiment (dlnlab.core/run of {:kind :sde ...})."
  [x]
  (and (result? x) (= :sde (get-in x [:experiment :kind]))))

(defn sde-ensemble
  "The input of the SDE figures (:sde-ensemble, :stationary, :learning-times)
  from the result of an :sde experiment (dlnlab.core/run of {:kind :sde :sde
  {...}}; its shape is documented at dlnlab.sde/result-ensemble): {:time :mean
  :std :quantiles {q [[per mode] per time]} :paths [[[pi per mode] per time] per
  kept path] :final [[pi per mode] per path] :first-passage {fraction [[t per
  mode] per path]} :learned-time :n-paths :lr :batch-size :targets [s_i ...]
  :stationary-density {mode [[pi p] ...]} (when the result has the stationary
  analysis)}. The figures call it themselves when given such a result."
  [result]
  (let [{:keys [experiment trajectory final analysis]} result
        sde (:sde experiment)
        qs (get-in sde [:record :quantiles])
        rows (:paths trajectory)]
    {:time (:time trajectory)
     :mean (:mean trajectory)
     :std (:std trajectory)
     :quantiles (into (sorted-map) (for [q qs :let [col (get trajectory (keyword (str "q" q)))] :when col] [q col]))
     :paths (vec (for [p (range (count (first rows)))] (mapv #(nth % p nil) rows)))
     :final (:strengths final)
     :first-passage (into (sorted-map) (:first-passage final))
     :learned-time (:learned-time analysis)
     :n-paths (:paths sde)
     :lr (:lr sde)
     :batch-size (:batch-size sde)
     :targets (mapv :s (:modes sde))
     :stationary-density (into {} (for [st (:stationary analysis)
                                        :let [{:keys [edges theory-density]} (:histogram st)]
                                        :when (seq theory-density)]
                                    [(:mode st) (mapv (fn [[a b] p] [(* 0.5 (+ (double a) (double b))) p])
                                                      (partition 2 1 edges) theory-density)]))}))

(defn- runs
  "The results in data (one result or a sequence of them), without nil or failed slots."
  [data]
  (cond
    (result? data) [data]
    (sequential? data) (filterv result? data)
    :else (fail! (str "Expected a result map with :trajectory or a sequence of results, got "
                      (if (map? data) (str "a map with keys " (pr-str (vec (take 8 (keys data))))) (pr-str (type data))) ".")
                 [] (if (map? data) (vec (keys data)) (type data)) "a result {:trajectory ...} or a vector of results")))

(defn- default-x [result]
  (if (= :gradient-flow (get-in result [:experiment :optimizer :kind])) :time :step))

(defn- x-key [result opts]
  (let [k (or (:x opts) (default-x result))]
    (when-not (#{:step :time} k)
      (fail! (str "Option :x is " (pr-str k) "; allowed are :step and :time.") [:x] k #{:step :time}))
    k))

(defn- x-title [k]
  (case k
    :step "step"
    :time "time t (effective lr × steps)"))

(defn- run-label
  "A legend label for run i of several: its sweep point, else \"run i+1\"."
  [r ^long i]
  (if-let [point (seq (get-in r [:sweep :point]))]
    (str/join ", " (for [[path v] point] (str (name (last path)) " = " (fmt-value v))))
    (str "run " (inc i))))

(defn- run-summary
  "One line saying what a run was: optimizer, learning rate, model, status."
  [r]
  (let [exp (:experiment r)
        opt (:optimizer exp)
        model (:model exp)]
    (str/join ", "
              (remove nil?
                      [(some-> (:kind opt) name)
                       (when (:lr opt) (str "lr = " (fmt (:lr opt))))
                       (when model
                         (let [details (remove nil? [(when (:depth model) (str "L = " (:depth model)))
                                                     (when (:width model) (str "N = " (:width model)))
                                                     (some-> (:parameterization model) name)])]
                           (str (some-> (:kind model) name)
                                (when (seq details) (str " (" (str/join ", " details) ")")))))
                       (some-> (:status r) name)]))))

;; ---------------------------------------------------------------- learning rate and targets

(defn effective-lr
  "The effective learning rate η of a run (doc/design.md: :lr times the network's
  learning-rate multiplier, SCIENCE.md §1), the one place figures look it up.
  Sources, first found wins: [:analysis :lr]; 2 / [:analysis :stability-threshold];
  2 / the last recorded :stability-threshold; [:experiment :optimizer :lr] times
  [:analysis :lr-multiplier] or [:meta :lr-multiplier], or times 1 when the
  parameterization is :standard (or absent). Returns a double, or nil (gradient
  flow, or a non-standard parameterization whose multiplier the result does not say)."
  [result]
  (let [a (:analysis result)
        traj (:trajectory result)
        exp (:experiment result)
        lr (get-in exp [:optimizer :lr])
        mult (or (:lr-multiplier a) (get-in result [:meta :lr-multiplier])
                 (when (contains? #{nil :standard} (get-in exp [:model :parameterization])) 1.0))]
    (cond
      (positive? (:lr a)) (double (:lr a))
      (positive? (:stability-threshold a)) (/ 2.0 (double (:stability-threshold a)))
      (positive? (last-recorded traj :stability-threshold)) (/ 2.0 (double (last-recorded traj :stability-threshold)))
      (and (positive? lr) (positive? mult)) (* (double lr) (double mult))
      :else nil)))

(defn stability-threshold
  "2/η for a run, with η from `effective-lr` (SCIENCE.md §5-§6: GD is stable at a
  minimum only while the sharpness stays below 2/η). Returns a double or nil."
  [result]
  (when-let [lr (effective-lr result)] (/ 2.0 (double lr))))

(defn mode-targets
  "Target singular values s_i of a run, in mode order: [:analysis :targets], else
  [:analysis :mode-targets], else [:experiment :task :singular-values] for a
  :matrix-factorization task. Returns a vector of doubles or nil."
  [result]
  (let [a (:analysis result)
        task (get-in result [:experiment :task])
        t (or (:targets a) (:mode-targets a)
              (when (= :matrix-factorization (:kind task)) (:singular-values task)))]
    (when (seq t) (mapv double t))))

(defn- raw-lr [result] (let [lr (get-in result [:experiment :optimizer :lr])] (when (positive? lr) (double lr))))

(defn- model-width
  "Hidden width N of a run's model: :width, else the largest hidden entry of :widths."
  [result]
  (let [model (get-in result [:experiment :model])
        ws (:widths model)]
    (or (:width model)
        (when (> (count ws) 2) (apply max (subvec (vec ws) 1 (dec (count ws))))))))

;; ---------------------------------------------------------------- figure data

(def ^:private palette
  ["#4c78a8" "#f58518" "#e45756" "#72b7b2" "#54a24b" "#eeca3b" "#b279a2" "#ff9da6" "#9d755d" "#bab0ac"])

(def ^:private rule-color "#333333")

(defn- color-of [c]
  (cond (string? c) c
        (integer? c) (nth palette (mod (long c) (count palette)))
        :else (nth palette 0)))

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
  (fail! (str "Unknown figure " (pr-str name) "; allowed are " (pr-str (sort (keys (dissoc (methods build-figure) :default)))) ".")
         [:figure] name (set (keys (dissoc (methods build-figure) :default)))))

(defn- thin
  "At most about max-points points of a polyline: when longer, each of max-points/2
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

(defn- layer-empty? [layer]
  (case (:mark layer)
    :rule (nil? (:y layer))
    :x-rule (nil? (:x layer))
    (empty? (:points layer))))

(defn- auto-log?
  "True when every value is positive and they span at least two decades."
  [values]
  (let [vs (filter finite? values)]
    (boolean (and (seq vs) (every? positive? vs)
                  (>= (/ (double (apply max vs)) (double (apply min vs))) 100.0)))))

(defn- layer-ys [layer]
  (case (:mark layer)
    (:line :point) (map second (:points layer))
    :rule (when (:y layer) [(:y layer)])
    :x-rule nil
    :band (mapcat rest (:points layer))
    :bar (map #(nth % 2) (:points layer))))

(defn- layer-xs [layer]
  (case (:mark layer)
    (:line :point :band) (map first (:points layer))
    :rule nil
    :x-rule (when (:x layer) [(:x layer)])
    :bar (mapcat #(take 2 %) (:points layer))))

(defn- resolve-log
  "An axis {:log? :auto} becomes true or false from the values it shows."
  [axis values]
  (if (= :auto (:log? axis)) (assoc axis :log? (auto-log? values)) (update axis :log? boolean)))

(defn figure
  "The figure data of the figure called name for data: the plain map described at
  `build-figure`, with points a renderer cannot draw removed (non-finite, or <= 0
  on a log axis), long polylines thinned, and the legend's series listed as
  :series [{:name :color :mark :dash} ...] in order.

  Names (see `figure-catalog`): :loss :sharpness :modes :pathway-shares
  :balance-gap (a result); :bifurcation :loss-vs-lr (a sweep); :sde-ensemble
  :stationary :learning-times (SDE data). Options common to all: :title and
  :subtitle override the defaults; :max-points (4000) per polyline; the others
  are listed with each figure in `figure-catalog`.
  Returns the figure data. Throws ex-info for an unknown name, data of the wrong
  shape, or data with nothing recorded to plot."
  ([name data] (figure name data {}))
  ([name data opts]
   (let [data (if (and (sde-result? data) (#{:sde-ensemble :stationary :learning-times} name)) (sde-ensemble data) data)
         raw (build-figure name data opts)
         all-layers (mapcat :layers (:panels raw))
         x (resolve-log (:x raw) (mapcat layer-xs all-layers))
         y (resolve-log (:y raw) (mapcat layer-ys all-layers))
         max-points (long (:max-points opts 4000))
         panels (mapv (fn [p] (update p :layers (fn [ls] (mapv #(clean-layer % (:log? x) (:log? y) max-points) ls))))
                      (:panels raw))
         drawn (remove layer-empty? (mapcat :layers panels))
         ;; reference lines (2/η, targets) alone are not a figure of the data
         drawn (if (every? #(#{:rule :x-rule} (:mark %)) drawn) () drawn)
         panels (if (= 1 (count panels)) (update-in panels [0 :layers] #(vec (remove layer-empty? %))) panels)]
     (when (empty? drawn)
       (fail! (str "Figure " (pr-str name) " has nothing to plot: no finite values were recorded"
                   (when (or (:log? x) (:log? y)) " (values <= 0 cannot be shown on its log axis)") ".")
              [:figure name] nil "data with recorded values"))
     (let [series (->> drawn
                       (map (fn [l] {:name (:series l) :color (color-of (:color l)) :mark (:mark l) :dash (:dash l)}))
                       (reduce (fn [acc s] (if (some #(= (:name s) (:name %)) acc) acc (conj acc s))) []))]
       (cond-> (assoc raw :x x :y y :panels panels :series series)
         (:title opts) (assoc :title (:title opts))
         (contains? opts :subtitle) (assoc :subtitle (:subtitle opts)))))))

;; ---------------------------------------------------------------- run figures

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

(defn- coordinate-label [path v] (str (name (last path)) " = " (fmt-value v)))

(defn- sweep-coordinates
  "[[path [value ...]] ...]: the grid coordinates of rs (their [:sweep :point])
  that take two or more values, values in order of first appearance."
  [rs]
  (let [points (map #(get-in % [:sweep :point]) rs)]
    (vec (for [path (distinct (mapcat keys points))
               :let [vs (vec (distinct (map #(get % path) points)))]
               :when (> (count vs) 1)]
           [path vs]))))

(defn- sweep-layout
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

(defn- sweep-panels
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

(defn- sweep-subtitle [rs layout]
  (str (count rs) " runs"
       (when (> (count (:panels layout)) 1) (str " in " (count (:panels layout)) " panels"))
       (let [shared (run-summary (assoc (first rs) :status nil))]
         (when (and (seq shared) (every? #(= shared (run-summary (assoc % :status nil))) rs))
           (str "; " shared)))))

(defmethod build-figure :loss [_ data opts]
  (let [rs (runs data)
        _ (when (empty? rs) (fail! "No results to plot the loss of (every slot is nil or failed)." [] data "results with :trajectory"))
        xk (x-key (first rs) opts)
        single? (= 1 (count rs))
        test (when single?
               (let [pts (recorded (:trajectory (first rs)) xk :test-loss)]
                 (when (seq pts) [{:mark :line :series "test loss" :color 1 :dash [6 3] :points pts}])))
        layout (sweep-layout rs opts)]
    {:name :loss
     :title (str "Loss vs " (if (= xk :step) "step" "time"))
     :subtitle (if single? (run-summary (first rs)) (sweep-subtitle rs layout))
     :x {:title (x-title xk) :log? false}
     :y {:title "loss" :log? true}
     :panels (if single?
               [{:title nil :layers (vec (concat [{:mark :line :series "training loss" :color 0
                                                   :points (recorded (:trajectory (first rs)) xk :loss)}]
                                                 test))}]
               (sweep-panels rs layout #(recorded (:trajectory %) xk :loss) nil))}))

(defmethod build-figure :sharpness [_ data opts]
  (let [r (first (runs data))
        xk (x-key r opts)
        thr (if (:lr opts) (/ 2.0 (double (:lr opts))) (stability-threshold r))]
    {:name :sharpness
     :title (str "Sharpness vs " (if (= xk :step) "step" "time"))
     :subtitle (str (run-summary r) (when thr (str "; dashed: 2/η = " (fmt thr))))
     :x {:title (x-title xk) :log? false}
     :y {:title "sharpness λ_max(Hessian)" :log? (get opts :log-y :auto)}
     :panels [{:title nil
               :layers (cond-> [{:mark :line :series "sharpness" :color 0 :points (recorded (:trajectory r) xk :sharpness)}]
                         thr (conj {:mark :rule :series (str "2/η = " (fmt thr)) :color rule-color :dash [6 4] :y thr}))}]}))

(defn- grid
  "n evenly spaced points from lo to hi."
  [lo hi ^long n]
  (let [lo (double lo) hi (double hi)]
    (mapv (fn [^long i] (+ lo (* (- hi lo) (/ (double i) (double (dec n)))))) (range n))))

(defn- theory-rows
  "[[x [v per mode]] ...] from a theory curve {xk [...] :modes [[v per mode] per row]},
  or from a function of x giving [v per mode], evaluated at 200 points across xs."
  [theory xk xs]
  (cond
    (nil? theory) nil
    (fn? theory) (let [xs (filter finite? xs)]
                   (when (seq xs)
                     (mapv (fn [x] [x (theory x)]) (grid (apply min xs) (apply max xs) 200))))
    (and (map? theory) (sequential? (get theory xk)) (sequential? (:modes theory)))
    (map vector (get theory xk) (:modes theory))
    :else (fail! (str "Option :theory must be {" xk " [...] :modes [[value per mode] per row]} or a function of "
                      (name xk) " giving [value per mode], got " (if (map? theory) (str "keys " (pr-str (keys theory))) (pr-str theory)) ".")
                 [:theory] theory (str "{" xk " [...] :modes [[...] ...]} or (fn [x] [pi per mode])"))))

(defn- sweep-modes
  "The :modes figure of several runs: mode (:mode opts, 0-based) of each run,
  laid out by `sweep-layout`, with the target when every run has the same one."
  [rs opts]
  (let [xk (x-key (first rs) opts)
        mode (long (:mode opts 0))
        layout (sweep-layout rs opts)
        targets (distinct (map #(nth (mode-targets %) mode nil) rs))
        target (when (and (= 1 (count targets)) (first targets)) (double (first targets)))
        points-of (fn [r] (vec (keep (fn [[x v]] (when-some [p (nth v mode nil)] [x p]))
                                     (recorded (:trajectory r) xk :modes))))]
    {:name :modes
     :title (str "Mode " (inc mode) " strength vs " (if (= xk :step) "step" "time"))
     :subtitle (str (sweep-subtitle rs layout) (when target "; dashed: target"))
     :x {:title (x-title xk) :log? false}
     :y {:title (str "mode " (inc mode) " strength π_" (inc mode)) :log? (get opts :log-y false)}
     :panels (sweep-panels rs layout points-of
                           (when target [{:mark :rule :series (str "target s" (inc mode) " = " (fmt target))
                                          :color rule-color :dash [6 4] :y target}]))}))

(defmethod build-figure :modes [_ data opts]
  (let [rs (runs data)]
    (when (empty? rs) (fail! "No results to plot the modes of (every slot is nil or failed)." [] data "results with :trajectory"))
    (if (> (count rs) 1)
      (sweep-modes rs opts)
      (let [r (first rs)
            xk (x-key r opts)
            rows (recorded (:trajectory r) xk :modes)
            n (count (second (first rows)))
            targets (or (some->> (:targets opts) (mapv double)) (mode-targets r))
            target-of (fn [^long i] (when (< i (count targets)) (nth targets i)))
            ;; modes the target does not have (s_i = 0) stay near 0 and crowd the legend
            with-target (filterv #(when-let [t (target-of %)] (> (double t) 0.0)) (range n))
            shown (if (or (:all-modes? opts) (empty? with-target)) (vec (range n)) with-target)
            hidden (- n (count shown))
            theory (theory-rows (:theory opts) xk (map first rows))
            label (fn [^long i] (let [t (target-of i)] (str "mode " (inc i) (when t (str ", s" (inc i) " = " (fmt t))))))
            ;; the mode's line and its target share a legend entry; the targets
            ;; come last so an oscillating mode does not hide them
            layers (vec (concat
                         (for [i shown :let [i (long i)]]
                           {:mark :line :series (label i) :color i
                            :points (mapv (fn [[x v]] [x (nth v i nil)]) rows)})
                         (when theory
                           (for [i shown :let [i (long i)]]
                             {:mark :line :series (str "theory, mode " (inc i)) :color i :dash [2 2]
                              :points (mapv (fn [[x v]] [x (nth v i nil)]) theory)}))
                         (for [i shown :let [i (long i) t (target-of i)] :when t]
                           {:mark :rule :series (label i) :color i :dash [6 4] :y t})))]
        {:name :modes
         :title (str "Mode strengths vs " (if (= xk :step) "step" "time"))
         :subtitle (str (run-summary r) (when (seq targets) "; dashed: targets s_i")
                        (when theory "; dotted: theory")
                        (when (pos? hidden) (str "; " hidden " mode" (when (> hidden 1) "s") " with target 0 not shown")))
         :x {:title (x-title xk) :log? false}
         :y {:title "mode strength π_i = u_iᵀ F v_i" :log? (get opts :log-y false)}
         :panels [{:title nil :layers layers}]}))))

(defmethod build-figure :pathway-shares [_ data opts]
  (let [r (first (runs data))
        xk (x-key r opts)
        rows (recorded (:trajectory r) xk :pathway-shares)
        n-modes (count (second (first rows)))
        n-paths (or (some #(some (fn [m] (when m (count m))) (second %)) rows) 0)
        panel (fn [^long m]
                (let [per-row (keep (fn [[x shares]]
                                      (when-let [s (nth shares m nil)]
                                        [x (reductions + 0.0 (map double s))]))
                                    rows)]
                  {:title (str "mode " (inc m))
                   :layers (vec (for [k (range n-paths)
                                      :let [k (long k)]]
                                  {:mark :band :series (str "pathway " (inc k)) :color k
                                   :points (mapv (fn [[x cum]] [x (nth cum k) (nth cum (inc k))]) per-row)}))}))]
    {:name :pathway-shares
     :title "Pathway shares per mode"
     :subtitle (str (run-summary r) "; stacked, each mode's shares add up to 1")
     :x {:title (x-title xk) :log? false}
     :y {:title "share of the mode's strength" :log? false}
     :panels (mapv panel (range n-modes))}))

(defmethod build-figure :balance-gap [_ data opts]
  (let [r (first (runs data))
        xk (x-key r opts)
        rows (recorded (:trajectory r) xk :balance-gap)
        shape (second (first rows))
        n-paths (count shape)
        layers (vec (for [k (range n-paths)
                          j (range (count (nth shape k)))
                          :let [k (long k) j (long j)]]
                      {:mark :line
                       :series (str (when (> n-paths 1) (str "pathway " (inc k) ", ")) "layers " (inc j) "–" (+ 2 j))
                       :color (+ (* k (count (nth shape k))) j)
                       :points (mapv (fn [[x g]] [x (get-in g [k j])]) rows)}))]
    {:name :balance-gap
     :title "Balance gap per layer pair"
     :subtitle (str (run-summary r) "; zeros are not shown on a log axis")
     :x {:title (x-title xk) :log? false}
     :y {:title "balance gap ‖Wₗ₊₁ᵀWₗ₊₁ − WₗWₗᵀ‖_F" :log? (get opts :log-y true)}
     :panels [{:title nil :layers layers}]}))

;; ---------------------------------------------------------------- sweep figures

(defn- sweep-lr
  "The x of a sweep run: its effective lr (kind :effective) or its base lr (:raw)."
  [r kind]
  (if (= kind :raw) (raw-lr r) (effective-lr r)))

(defn- other-coordinates
  "A label for the grid coordinates of run r other than the learning rate's path."
  [r lr-path]
  (let [point (remove (fn [[path _]] (= path lr-path)) (get-in r [:sweep :point]))]
    (when (seq point)
      (str/join ", " (for [[path v] point] (str (name (last path)) " = " (fmt-value v)))))))

(defn- edge-of-stability-lr
  "2/S_i, the learning rate above which mode i oscillates, with S_i = L s_i^(2-2/L)
  its sharpness at the balanced minimum (SCIENCE.md §5, §6), for a run of GD on a
  :matrix-factorization task with a :chain of the standard parameterization;
  nil for any other run."
  [r ^long i]
  (let [exp (:experiment r)
        model (:model exp)
        s (nth (mode-targets r) i nil)
        depth (:depth model)]
    (when (and (= :chain (:kind model)) (contains? #{nil :standard} (:parameterization model))
               (= :matrix-factorization (get-in exp [:task :kind])) (= :gd (get-in exp [:optimizer :kind]))
               (positive? s) (integer? depth) (pos? (long depth)))
      (let [L (double depth)]
        (/ 2.0 (* L (Math/pow (double s) (- 2.0 (/ 2.0 L)))))))))

(defmethod build-figure :bifurcation [_ data opts]
  (let [rs (runs data)
        _ (when (empty? rs) (fail! "A bifurcation diagram needs a sweep: a vector of results." [] data "a vector of results"))
        metric (or (:metric opts) (if (some #(seq (recorded (:trajectory %) :step :modes)) rs) :mode :loss))
        _ (when-not (#{:mode :loss :sharpness} metric)
            (fail! (str "Option :metric is " (pr-str metric) "; allowed are :mode, :loss and :sharpness.")
                   [:metric] metric #{:mode :loss :sharpness}))
        mode (long (:mode opts 0))
        n-last (long (:last opts 50))
        lr-path (:lr-path opts [:optimizer :lr])
        kind (or (:lr opts) (if (every? effective-lr rs) :effective :raw))
        late (fn [r]
               (let [vals (case metric
                            :mode (keep #(when % (nth % mode nil)) (get-in r [:trajectory :modes]))
                            (remove nil? (get-in r [:trajectory metric])))]
                 (take-last n-last vals)))
        groups (group-by #(other-coordinates % lr-path) rs)
        group-keys (sort-by str (keys groups))
        what (case metric :mode (str "mode " (inc mode) " strength") :loss "loss" :sharpness "sharpness")
        targets (when (= metric :mode) (some mode-targets rs))
        edges (when (= metric :mode) (distinct (map #(edge-of-stability-lr % mode) rs)))
        edge (when (and (= 1 (count edges)) (= kind :effective)) (first edges))
        layers (vec (concat
                     (map-indexed (fn [i g]
                                    {:mark :point :series (or g what) :color i
                                     :points (vec (for [r (get groups g)
                                                        :let [lr (sweep-lr r kind)]
                                                        :when lr
                                                        v (late r)]
                                                    [lr v]))})
                                  group-keys)
                     (when (and targets (< mode (count targets)))
                       [{:mark :rule :series (str "target s" (inc mode) " = " (fmt (nth targets mode)))
                         :color rule-color :dash [6 4] :y (nth targets mode)}])
                     (when edge
                       [{:mark :x-rule :series (str "2/S" (inc mode) " = " (fmt edge) " (edge of stability)")
                         :color "#e45756" :dash [2 3] :x edge}])))]
    {:name :bifurcation
     :title (str "Bifurcation diagram: late " what " vs learning rate")
     :subtitle (str "last " n-last " recorded values of each of " (count rs) " runs")
     :x {:title (if (= kind :raw) "learning rate (base lr)" "learning rate η (effective)") :log? (get opts :log-x :auto)}
     :y {:title what :log? (get opts :log-y (if (= metric :mode) false :auto))}
     :panels [{:title nil :layers layers}]}))

(defmethod build-figure :loss-vs-lr [_ data opts]
  (let [rs (runs data)
        _ (when (empty? rs) (fail! "Loss vs learning rate needs a sweep: a vector of results." [] data "a vector of results"))
        kind (:lr opts :raw)
        width-fn (:width-fn opts model-width)
        final-loss (fn [r] (let [l (or (get-in r [:final :loss]) (last-recorded (:trajectory r) :loss))]
                             (when (positive? l) (double l))))
        usable (filter #(and (sweep-lr % kind) (final-loss %)) rs)
        dropped (- (count rs) (count usable))
        by-width (group-by width-fn usable)
        widths (sort-by #(if (number? %) (double %) Double/MAX_VALUE) (keys by-width))
        layers (vec (map-indexed
                     (fn [i w]
                       {:mark :line :point? true :series (if (some? w) (str "width N = " w) "all runs") :color i
                        ;; several runs at one (width, lr), e.g. seeds: their mean
                        :points (->> (get by-width w)
                                     (group-by #(sweep-lr % kind))
                                     (map (fn [[lr group]] [lr (/ (double (reduce + (map final-loss group))) (count group))]))
                                     (sort-by first)
                                     vec)})
                     widths))]
    {:name :loss-vs-lr
     :title (str "Final loss vs learning rate" (when (> (count widths) 1) " per width"))
     :subtitle (str (count usable) " runs" (when (pos? dropped) (str "; " dropped " diverged or unfinished runs not shown")))
     :x {:title (if (= kind :raw) "learning rate (base lr)" "learning rate η (effective)") :log? (get opts :log-x true)}
     :y {:title "final training loss" :log? (get opts :log-y true)}
     :panels [{:title nil :layers layers}]}))

;; ---------------------------------------------------------------- late values against the learning rate

(defn- late-values
  "The recorded values of column k in the last fifth of run r's recorded rows (at
  least the last one)."
  [r k]
  (let [vs (mapv second (recorded (:trajectory r) :step k))
        n (count vs)]
    (subvec vs (min (max 0 (dec n)) (quot (* 4 n) 5)))))

(defn- lr-series
  "The runs of a learning-rate sweep grouped by their other grid coordinates, in
  label order: [[label-or-nil [run ...]] ...], runs sorted by lr."
  [rs kind]
  (let [groups (group-by #(other-coordinates % [:optimizer :lr]) rs)]
    (vec (for [g (sort-by str (keys groups))]
           [g (sort-by #(double (sweep-lr % kind)) (get groups g))]))))

(defn- lr-kind
  "The lr on x: :effective when every run has one (opts :lr overrides), else :raw."
  [rs opts]
  (or (:lr opts) (if (every? effective-lr rs) :effective :raw)))

(defn- lr-axis [kind]
  {:title (if (= kind :raw) "learning rate (base lr)" "learning rate η (effective)") :log? true})

(defmethod build-figure :sharpness-vs-lr [_ data opts]
  (let [rs (filterv #(seq (late-values % :sharpness)) (runs data))
        kind (lr-kind rs opts)
        rs (filterv #(sweep-lr % kind) rs)
        _ (when (< (count (distinct (map #(sweep-lr % kind) rs))) 2)
            (fail! "Sharpness vs learning rate needs a sweep over two or more learning rates that recorded :sharpness."
                   [] (count rs) "runs at two or more learning rates with :sharpness recorded"))
        lrs (map #(double (sweep-lr % kind)) rs)
        lo (* 0.9 (double (reduce min lrs))) hi (* 1.1 (double (reduce max lrs)))
        mean (fn [xs] (/ (double (reduce + (map double xs))) (count xs)))
        top (* 1.25 (double (reduce max (mapcat #(late-values % :sharpness) rs))))
        layers (vec (mapcat (fn [i [label group]]
                              [{:mark :band :series (str (when label (str label ": ")) "late range") :color i
                                :points (vec (for [r group :let [v (late-values r :sharpness)]]
                                               [(sweep-lr r kind) (reduce min v) (reduce max v)]))}
                               {:mark :line :point? true :series (str (when label (str label ": ")) "late mean") :color i
                                :points (vec (for [r group] [(sweep-lr r kind) (mean (late-values r :sharpness))]))}])
                            (range) (lr-series rs kind)))]
    {:name :sharpness-vs-lr
     :title "Sharpness late in training vs learning rate"
     :subtitle (str "mean and range over the last fifth of each run's sharpness records; " (count rs) " runs"
                    (when (= kind :effective) "; at the edge of stability it sits at 2/η"))
     :x (lr-axis kind)
     :y {:title "sharpness λ_max(Hessian)" :log? (get opts :log-y :auto)}
     :panels [{:title nil
               :layers (cond-> layers
                         (= kind :effective)
                         (conj {:mark :line :series "2/η" :color rule-color :dash [6 4]
                                :points (vec (for [k (range 101)
                                                   :let [lr (* lo (Math/pow (/ hi lo) (/ (double k) 100.0)))]
                                                   :when (<= (/ 2.0 lr) top)]
                                               [lr (/ 2.0 lr)]))}))}]}))

(defn- rebalancing-window
  "[2/S_single 2/S_split] for mode i of a GD run of a standard :multi-pathway model
  on a :matrix-factorization task (SCIENCE.md §5 [MP]), or nil."
  [r ^long i]
  (let [exp (:experiment r)
        model (:model exp)
        s (nth (mode-targets r) i nil)]
    (when (and (= :multi-pathway (:kind model)) (contains? #{nil :standard} (:parameterization model))
               (= :matrix-factorization (get-in exp [:task :kind])) (= :gd (get-in exp [:optimizer :kind]))
               (positive? s) (integer? (:depth model)) (integer? (:pathways model)))
      ((juxt :lr-min :lr-max) (theory/rebalancing-window (double s) (:pathways model) (:depth model))))))

(defmethod build-figure :shares-vs-lr [_ data opts]
  (let [final-shares (fn [r] (last-recorded (:trajectory r) :pathway-shares))
        rs (filterv #(some (fn [m] (and m (> (count m) 1))) (final-shares %)) (runs data))
        kind (lr-kind rs opts)
        rs (filterv #(sweep-lr % kind) rs)
        _ (when (< (count (distinct (map #(sweep-lr % kind) rs))) 2)
            (fail! "Pathway shares vs learning rate needs a sweep over two or more learning rates of multi-pathway runs that recorded :pathway-shares."
                   [] (count rs) "runs at two or more learning rates with :pathway-shares of two or more pathways"))
        ;; modes whose shares are defined (a mode with target 0 has none)
        modes (filterv (fn [m] (some #(some? (nth (final-shares %) m nil)) rs))
                       (range (reduce max (map #(count (final-shares %)) rs))))
        ks (distinct (keep #(get-in % [:experiment :model :pathways]) rs))
        lrs (map #(double (sweep-lr % kind)) rs)
        in-range (fn [x] (when (<= (double (reduce min lrs)) (double x) (double (reduce max lrs))) x))
        ;; the window edges of each mode, when all runs agree on them (nil outside the swept lrs)
        windows (when (= kind :effective)
                  (let [ws (mapv (fn [m] (distinct (map #(rebalancing-window % m) rs))) modes)]
                    (when (every? #(and (= 1 (count %)) (first %)) ws)
                      (mapv #(mapv in-range (first %)) ws))))
        series (lr-series rs kind)
        largest (fn [r ^long m] (when-let [sh (nth (final-shares r) m nil)] (reduce max (map double sh))))]
    {:name :shares-vs-lr
     :title "Largest pathway share at the end vs learning rate"
     :subtitle (str "1 = winner takes all"
                    (when (= 1 (count ks)) (str ", " (fmt (/ 1.0 (double (first ks)))) " = equal split"))
                    (when windows "; dashed: the re-balancing window (SCIENCE.md §5)"))
     :x (lr-axis kind)
     :y {:title "largest share of the mode" :log? false}
     :panels (vec (for [[j m] (map-indexed vector modes)]
                    {:title (str "mode " (inc (long m)))
                     :layers (cond-> (vec (map-indexed (fn [i [label group]]
                                                         {:mark :line :point? true :series (or label "largest share") :color i
                                                          :points (vec (for [r group :let [v (largest r m)] :when v]
                                                                         [(sweep-lr r kind) v]))})
                                                       series))
                               (= 1 (count ks))
                               (conj {:mark :rule :series "equal split 1/K" :color rule-color :dash [2 3]
                                      :y (/ 1.0 (double (first ks)))})
                               windows
                               (into [{:mark :x-rule :series "2/S_single" :color "#e45756" :dash [6 4] :x (first (windows j))}
                                      {:mark :x-rule :series "2/S_split" :color "#54a24b" :dash [6 4] :x (second (windows j))}]))}))}))

;; ---------------------------------------------------------------- SDE figures

(defn- quantile-pair [quantiles opts]
  (let [qs (sort-by #(double %) (filter number? (keys quantiles)))]
    (or (:quantiles opts)
        (when (>= (count qs) 2) [(first qs) (last qs)]))))

(defmethod build-figure :sde-ensemble [_ data opts]
  (when-not (ensemble? data)
    (fail! "An SDE ensemble figure needs {:time [...] :mean [[per mode] per time] ...}." [] (type data) "an SDE ensemble map"))
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
     :x {:title (x-title :time) :log? false}
     :y {:title "mode strength π" :log? (get opts :log-y false)}
     :panels [{:title nil :layers layers}]}))

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
  "[lo hi] covering xs (and extra), widened when all values are equal."
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

(defmethod build-figure :stationary [_ data opts]
  (let [mode (long (:mode opts 0))
        samples (filterv finite? (cond (ensemble? data) (ensemble-final-values data mode)
                                       (map? data) (:samples data)
                                       :else data))
        density (or (:density opts) (when (map? data) (:density data))
                    (when (ensemble? data) (get-in data [:stationary-density mode])))
        _ (when (empty? samples) (fail! "A stationary histogram needs samples: a sequence of numbers." [] data "a non-empty sequence of finite numbers"))
        n (count samples)
        [lo hi] (or (:range opts) (bin-range samples))
        bins (histogram samples (double lo) (double hi) (bin-count n opts))
        dens-bars (mapv (fn [[x0 x1 c]] [x0 x1 (/ (double c) (* n (- (double x1) (double x0))))]) bins)
        density (if (fn? density)
                  (mapv (fn [x] [x (density x)]) (grid lo hi 200))
                  density)]
    {:name :stationary
     :title "Stationary distribution of the mode strength"
     :subtitle (str n " samples" (when density "; line: analytic density (SCIENCE.md §7)"))
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
      (and (ensemble? data) (seq (:first-passage data)))
      (learning-time-series (val (first (sort-by #(double (key %)) (:first-passage data)))))
      (ensemble? data) (learning-time-series (:learned-time data))
      (and (map? data) (contains? data :times)) (learning-time-series (:times data))
      (map? data) (vec (for [[k ts] (sort-by (comp str key) data)] [(label k) (vec ts)]))
      (and (sequential? data) (every? sequential? data) (seq data))
      (let [n (count (first data))]
        (vec (for [i (range n)] [(label i) (mapv #(nth % i nil) data)])))
      (sequential? data) [["learning time" (vec data)]]
      :else (fail! "Learning times must be a sequence of numbers, a map {label times} or rows [[t per mode] per path]."
                   [] data "numbers, {label [t ...]} or [[t ...] ...]"))))

(defmethod build-figure :learning-times [_ data opts]
  (let [series (learning-time-series data)
        all (filter finite? (mapcat second series))
        _ (when (empty? all) (fail! "No finite learning times to plot." [] data "at least one finite time"))
        missing (long (reduce + (map (fn [[_ ts]] (count (remove finite? ts))) series)))]
    {:name :learning-times
     :title "Learning-time distribution"
     :subtitle (str (count all) " learning times, binned per series"
                    (when (pos? missing) (str "; " missing " never learned (not shown)")))
     :x {:title (:x-title opts (if-let [fp (and (ensemble? data) (seq (:first-passage data)))]
                                 (str "time t (lr × steps) to reach " (fmt (reduce min (map #(double (key %)) fp))) " × s_i")
                                 "learning time t (effective lr × steps)"))
         :log? false}
     :y {:title "count" :log? false :zero? true}
     :panels [{:title nil
               :layers (vec (map-indexed (fn [i [lab ts]]
                                           {:mark :bar :series lab :color i
                                            :points (let [ts (filter finite? ts)
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
  (let [coords (sweep-coordinates rs)
        numeric (filter (fn [[_ vs]] (every? number? vs)) coords)
        _ (when (empty? numeric)
            (fail! (str "An SDE sweep figure needs a numeric grid coordinate that takes two or more values; the"
                        " varying coordinates are " (pr-str (mapv first coords)) ".")
                   [:sweep :point] (mapv first coords) "a numeric grid coordinate with two or more values"))
        x-path (first (apply max-key (comp count second) (reverse numeric)))
        others (remove #(= x-path (first %)) coords)
        key-of (fn [r] (mapv (fn [[path _]] (get-in r [:sweep :point path])) others))
        by-key (group-by key-of rs)]
    {:x-path x-path
     :groups (vec (for [k (distinct (map key-of rs))]
                    [(when (seq others) (str/join ", " (map (fn [[path _] v] (coordinate-label path v)) others k)))
                     (sort-by #(double (get-in % [:sweep :point x-path])) (by-key k))]))}))

(defn- sde-sweep-figure
  "Figure data with one panel per mode against the sweep's x coordinate: for each
  series of runs, (layers label color [[x run] ...] mode) gives its layers and
  (theory label color [[x run] ...] mode) the theory's; when the theory is the
  same for every series (in every mode) it is drawn once, unlabelled, in the
  rule color."
  [data {:keys [name title subtitle y-title log-y layers theory]}]
  (let [rs (filterv sde-result? (runs data))
        _ (when (< (count rs) 2)
            (fail! "An SDE sweep figure needs the results of two or more :sde experiments of a sweep." [] (count rs)
                   "two or more :sde results"))
        {:keys [x-path groups]} (sde-sweep-groups rs)
        xr (fn [runs] (mapv (fn [r] [(get-in r [:sweep :point x-path]) r]) runs))
        targets (mode-targets (first rs))
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
                                            (theory nil rule-color (xr (second (first groups))) m)
                                            (apply concat (per-series theory m)))))}))}))

(defn- series-name [label what] (if label (str label ": " what) what))

(defmethod build-figure :learning-time-sweep [_ data _]
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

(defmethod build-figure :stationary-sweep [_ data _]
  (sde-sweep-figure
   data
   {:name :stationary-sweep
    :title "Stationary variance vs the swept parameter"
    :subtitle "variance of π over paths at the end, against the stationary density's (SCIENCE.md §7; label noise > 0)"
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

;; ---------------------------------------------------------------- catalog

(def figure-catalog
  "Every figure `figure` can build: {name {:inputs #{:result :sweep :ensemble}
  (what the CLI may draw it from) :data what it takes :options {opt doc}}}."
  {:loss {:inputs #{:result :sweep} :data "a result, or a sequence of results (one line each)"
          :options {:x ":step (default; :time for gradient flow) or :time"
                    :labels "legend label per result (default: the sweep point, else \"run i\"); given labels turn facets off"
                    :facet "false: one panel; default: with two or more varying grid coordinates, one panel per value of the one with the fewest values (at most 4), series for the others, colored dark to light along a numeric one"}}
   :sharpness {:inputs #{:result} :data "a result that recorded :sharpness"
               :options {:x ":step or :time" :lr "η for the 2/η line (default: `effective-lr`)"
                         :log-y ":auto (default: log when the values span two decades), true or false"}}
   :modes {:inputs #{:result :sweep} :data "a result that recorded :modes, or a sequence of results (mode :mode of each)"
           :options {:x ":step or :time" :targets "[s_i ...] (default: `mode-targets`)"
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
                           :note "for a GD sweep of a standard :chain on :matrix-factorization, a vertical line marks 2/S_i = 2/(L s_i^(2-2/L)), where mode i starts to oscillate (SCIENCE.md §5-§6)"}}
   :loss-vs-lr {:inputs #{:sweep} :data "a sweep: a vector of results"
                :options {:lr ":raw (default: the base lr, which muP transfers across widths) or :effective"
                          :width-fn "fn of a result giving its series key (default: the model's hidden width)"
                          :log-x "true" :log-y "true"}}
   :sharpness-vs-lr {:inputs #{:sweep} :data "a sweep over the learning rate whose runs recorded :sharpness"
                     :options {:lr ":effective (default when every run has one, with the 2/η curve) or :raw"
                               :log-y ":auto (default)"
                               :note "the mean and range of the last fifth of each run's sharpness records; other grid coordinates make series"}}
   :shares-vs-lr {:inputs #{:sweep} :data "a sweep over the learning rate of multi-pathway runs that recorded :pathway-shares"
                  :options {:lr ":effective (default when every run has one) or :raw"
                            :note "one panel per mode: the largest pathway share at the end; for GD of a standard :multi-pathway model on :matrix-factorization, dashed lines at 2/S_single and 2/S_split (SCIENCE.md §5)"}}
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
                      :options {:note "x as for :learning-time-sweep; the measured variance of each mode at the end, with the variance of the SDE's stationary density (dlnlab.theory/stationary-density) and its Gibbs approximation, SCIENCE.md §7"}}
   :learning-times {:inputs #{:ensemble} :data "a sequence of times, {label [t ...]}, rows [[t per mode] per path], an ensemble (its :first-passage at the smallest fraction, else :learned-time), or the result of an :sde experiment"
                    :options {:bins "number of bins" :range "[lo hi]" :x-title "x axis title"}}})

(def figure-names
  "Every name in `figure-catalog`, in the order figures are listed (run, sweep,
  then SDE figures)."
  [:loss :sharpness :modes :pathway-shares :balance-gap :bifurcation :loss-vs-lr
   :sharpness-vs-lr :shares-vs-lr :sde-ensemble :stationary :learning-times :learning-time-sweep :stationary-sweep])

;; ---------------------------------------------------------------- Vega-Lite

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
  "A Vega-Lite scale for an axis; a log axis over less than two decades is not
  widened to whole decades (nice false), so narrow lr grids fill the plot."
  [axis]
  (if (:log? axis)
    (cond-> {:type "log"} (not (:decades? axis)) (assoc :nice false))
    {:zero (boolean (:zero? axis))}))

(def ^:private log-label-expr
  "Vega expression for log-axis labels: 0.01, 1, 100 plainly, 1e-6 and 1e6 beyond."
  "abs(datum.value) >= 0.001 && abs(datum.value) < 100000 ? format(datum.value, '~g') : replace(format(datum.value, '.0e'), 'e+', 'e')")

(defn- decade-ticks
  "Tick values for a log axis over values: the powers of ten they span, every
  k-th so there are at most 10; nil when they span fewer than two powers of ten
  (Vega's own ticks then)."
  [values]
  (let [vs (filter positive? values)]
    (when (seq vs)
      (let [lo (long (Math/floor (Math/log10 (double (apply min vs)))))
            hi (long (Math/ceil (Math/log10 (double (apply max vs)))))
            n (- hi lo)
            k (max 1 (long (Math/ceil (/ (double n) 10.0))))]
        (when (>= n 2)
          (vec (for [e (range lo (inc hi)) :when (zero? (rem (- (long e) lo) k))] (Math/pow 10.0 (double e)))))))))

(defn- vl-axis
  "Axis options: on a log axis spanning decades, ticks and grid lines at powers
  of ten only (Vega would add 2..9 of each decade) with readable labels."
  [axis]
  (when-let [ticks (:ticks axis)]
    {:axis {:values ticks :labelExpr log-label-expr}}))

(defn- vl-layer [j layer x y color]
  (let [xenc (merge {:field "x" :type "quantitative" :title (:title x) :scale (vl-scale x)} (vl-axis x))
        yenc (merge {:field "y" :type "quantitative" :title (:title y) :scale (vl-scale y)} (vl-axis y))
        dash (when (:dash layer) {:strokeDash (:dash layer)})]
    (merge
     {:transform [{:filter (str "datum.layer === " j)}]}
     (case (:mark layer)
       :line {:mark (merge {:type "line" :strokeWidth 2 :clip true} dash
                           (when (:point? layer) {:point {:filled true :size 30}}))
              :encoding {:x xenc :y yenc :color color}}
       :point {:mark {:type "point" :filled true :size 14 :opacity 0.7 :clip true}
               :encoding {:x xenc :y yenc :color color}}
       :rule {:mark (merge {:type "rule" :strokeWidth 1.5} dash)
              :encoding {:y yenc :color color}}
       :x-rule {:mark (merge {:type "rule" :strokeWidth 1.5} dash)
                :encoding {:x xenc :color color}}
       :band {:mark {:type "area" :opacity 0.3 :clip true}
              :encoding {:x xenc :y yenc :y2 {:field "y2"} :color color}}
       :bar {:mark {:type "rect" :opacity 0.55 :clip true}
             :encoding {:x xenc :x2 {:field "x2"} :y yenc :y2 {:datum 0} :color color}}))))

(defn vega-lite
  "The Vega-Lite spec (v5, a plain EDN map with keyword keys, data inline) of
  figure data from `figure`: one layer per series, a color legend when there is
  more than one series, log scales where the figure data says so, and one
  facet row per panel when there are several. `vega-lite-json` turns it into JSON.

  Options: :width (520) and :height (300; 160 per panel when faceted) in pixels.
  Returns the spec map."
  ([fig] (vega-lite fig {}))
  ([fig {:keys [width height] :or {width 520}}]
   (let [{:keys [title subtitle panels series]} fig
         all-layers (mapcat :layers panels)
         xs (mapcat layer-xs all-layers)
         ys (mapcat layer-ys all-layers)
         x (assoc (:x fig) :decades? (auto-log? xs) :ticks (when (get-in fig [:x :log?]) (decade-ticks xs)))
         y (assoc (:y fig) :decades? (auto-log? ys) :ticks (when (get-in fig [:y :log?]) (decade-ticks ys)))
         faceted? (> (count panels) 1)
         height (or height (if faceted? 160 300))
         color {:field "series" :type "nominal"
                :scale {:domain (mapv :name series) :range (mapv :color series)}
                :legend (when (> (count series) 1) {:title nil :orient "right" :labelLimit 400})}
         template (:layers (first panels))
         rows (vec (for [p panels
                         [j layer] (map-indexed vector (:layers p))
                         row (layer-rows j (:title p) layer)]
                     row))
         layers (vec (map-indexed (fn [j l] (vl-layer j l x y color)) template))
         head (cond-> {:$schema schema-url
                       :title (cond-> {:text title :anchor "start"} subtitle (assoc :subtitle subtitle))
                       :usermeta {:figure (name (:name fig))}
                       :data {:values rows}
                       :config {:axis {:labelFontSize 11 :titleFontSize 12}
                                :legend {:labelFontSize 11}}})]
     (if faceted?
       (assoc head
              :facet {:row {:field "panel" :type "nominal" :title nil :sort (mapv :title panels)
                            :header {:labelAngle 0 :labelOrient "top" :labelAnchor "start" :labelFontSize 12}}}
              :spec {:width width :height height :layer layers})
       (assoc head :width width :height height :layer layers)))))

;; ---------------------------------------------------------------- JSON

(defn- json-string [^String s]
  (let [sb (StringBuilder. (+ 2 (.length s)))]
    (.append sb \")
    (dotimes [i (.length s)]
      (let [c (.charAt s i)]
        (case c
          \" (.append sb "\\\"")
          \\ (.append sb "\\\\")
          \newline (.append sb "\\n")
          \return (.append sb "\\r")
          \tab (.append sb "\\t")
          (if (< (int c) 0x20)
            (.append sb (format "\\u%04x" (int c)))
            (.append sb c)))))
    (.append sb \")
    (.toString sb)))

(defn- json-number [x]
  (cond
    (integer? x) (str x)
    (not (finite? x)) "null"
    :else (let [d (double x)]
            (if (and (== d (Math/rint d)) (< (Math/abs d) 1e15))
              (str (long d))
              (str d)))))

(defn- json-key [k]
  (cond (keyword? k) (if-let [ns (namespace k)] (str ns "/" (name k)) (name k))
        (string? k) k
        :else (str k)))

(defn- write-json [^StringBuilder sb v]
  (cond
    (nil? v) (.append sb "null")
    (boolean? v) (.append sb (str v))
    (number? v) (.append sb ^String (json-number v))
    (string? v) (.append sb ^String (json-string v))
    (keyword? v) (.append sb ^String (json-string (json-key v)))
    (symbol? v) (.append sb ^String (json-string (str v)))
    (map? v) (do (.append sb "{")
                 (loop [es (seq v) first? true]
                   (when es
                     (let [[k x] (first es)]
                       (when-not first? (.append sb ","))
                       (.append sb ^String (json-string (json-key k)))
                       (.append sb ":")
                       (write-json sb x)
                       (recur (next es) false))))
                 (.append sb "}"))
    (or (sequential? v) (set? v)) (do (.append sb "[")
                                      (loop [xs (seq v) first? true]
                                        (when xs
                                          (when-not first? (.append sb ","))
                                          (write-json sb (first xs))
                                          (recur (next xs) false)))
                                      (.append sb "]"))
    :else (fail! (str "Cannot write a " (.getName (class v)) " as JSON: " (pr-str v) ".")
                 [] v "nil, booleans, numbers, strings, keywords, maps and sequences")))

(defn vega-lite-json
  "The JSON text of a Vega-Lite spec (or of any plain data): keywords become
  strings (map keys too), NaN and infinities become null. Returns a string.
  Throws ex-info for values JSON cannot hold (functions, arrays, ...)."
  [spec]
  (let [sb (StringBuilder.)]
    (write-json sb spec)
    (.toString sb)))

;; ---------------------------------------------------------------- named figures as Vega-Lite

(defn- spec-of [name data opts] (vega-lite (figure name data opts) opts))

(defn loss-spec
  "Vega-Lite spec: training loss (and test loss when recorded) vs step, log y;
  several results give one line each. Options: see :loss in `figure-catalog`."
  ([data] (loss-spec data {})) ([data opts] (spec-of :loss data opts)))

(defn sharpness-spec
  "Vega-Lite spec: sharpness vs step with the 2/η line (SCIENCE.md §5-§6).
  Options: see :sharpness in `figure-catalog`."
  ([result] (sharpness-spec result {})) ([result opts] (spec-of :sharpness result opts)))

(defn modes-spec
  "Vega-Lite spec: mode strengths vs step, targets dashed, optional theory curves
  dotted (SCIENCE.md §4). Options: see :modes in `figure-catalog`."
  ([result] (modes-spec result {})) ([result opts] (spec-of :modes result opts)))

(defn pathway-shares-spec
  "Vega-Lite spec: stacked pathway shares over time, one panel per mode
  (SCIENCE.md §5 [MP]). Options: see :pathway-shares in `figure-catalog`."
  ([result] (pathway-shares-spec result {})) ([result opts] (spec-of :pathway-shares result opts)))

(defn balance-gap-spec
  "Vega-Lite spec: balance gap per adjacent layer pair vs step, log y
  (SCIENCE.md §4, §6). Options: see :balance-gap in `figure-catalog`."
  ([result] (balance-gap-spec result {})) ([result opts] (spec-of :balance-gap result opts)))

(defn bifurcation-spec
  "Vega-Lite spec: late values of a mode strength (or the loss) of each sweep run
  as points against its learning rate (SCIENCE.md §6). Options: see :bifurcation
  in `figure-catalog`."
  ([sweep] (bifurcation-spec sweep {})) ([sweep opts] (spec-of :bifurcation sweep opts)))

(defn loss-vs-lr-spec
  "Vega-Lite spec: final loss of each sweep run vs its learning rate, one line per
  width, log-log (hyperparameter transfer, SCIENCE.md §1). Options: see
  :loss-vs-lr in `figure-catalog`."
  ([sweep] (loss-vs-lr-spec sweep {})) ([sweep opts] (spec-of :loss-vs-lr sweep opts)))

(defn sde-ensemble-spec
  "Vega-Lite spec: per-mode SDE ensemble mean and quantile band vs time
  (SCIENCE.md §7). Options: see :sde-ensemble in `figure-catalog`."
  ([ensemble] (sde-ensemble-spec ensemble {})) ([ensemble opts] (spec-of :sde-ensemble ensemble opts)))

(defn stationary-spec
  "Vega-Lite spec: histogram (as a density) of samples with the analytic density
  passed as :density [[x p] ...] (SCIENCE.md §7). Options: see :stationary in
  `figure-catalog`."
  ([samples] (stationary-spec samples {})) ([samples opts] (spec-of :stationary samples opts)))

(defn learning-times-spec
  "Vega-Lite spec: histogram of learning times, one series per mode or label.
  Options: see :learning-times in `figure-catalog`."
  ([times] (learning-times-spec times {})) ([times opts] (spec-of :learning-times times opts)))

;; ---------------------------------------------------------------- XChart rendering

(defn- ensure-headless! []
  (when-not (System/getProperty "java.awt.headless")
    (System/setProperty "java.awt.headless" "true")))

(defn- awt-color
  (^Color [^String hex] (awt-color hex 255))
  (^Color [^String hex ^long alpha]
   (let [rgb (Long/parseLong (subs hex 1) 16)]
     (Color. (int (bit-and (bit-shift-right rgb 16) 0xff))
             (int (bit-and (bit-shift-right rgb 8) 0xff))
             (int (bit-and rgb 0xff))
             (int alpha)))))

(defn- stroke ^BasicStroke [^double w dash]
  (if dash
    (BasicStroke. (float w) BasicStroke/CAP_BUTT BasicStroke/JOIN_ROUND (float 10.0)
                  (float-array (map float dash)) (float 0.0))
    (BasicStroke. (float w) BasicStroke/CAP_ROUND BasicStroke/JOIN_ROUND)))

(defn- doubles-of ^doubles [xs] (double-array (map double xs)))

(defn- style!
  "Sets the render style, marker and colors of an XChart series; nil options are left alone."
  [^XYSeries s {:keys [^XYSeries$XYSeriesRenderStyle render marker ^Color marker-color ^Color line-color
                       ^Color fill-color ^BasicStroke line-stroke]}]
  (.setXYSeriesRenderStyle s render)
  (.setMarker s (or marker SeriesMarkers/NONE))
  (when marker-color (.setMarkerColor s marker-color))
  (when line-color (.setLineColor s line-color))
  (when fill-color (.setFillColor s fill-color))
  (when line-stroke (.setLineStyle s line-stroke))
  s)

(defn- sci-label
  "x in short scientific notation: 2.5e-4, 1e6."
  [^double x]
  (let [[m e] (str/split (format "%.3e" x) #"e")]
    (str (-> m (str/replace #"(\.\d*?)0+$" "$1") (str/replace #"\.$" ""))
         "e" (Long/parseLong (str/replace e #"^\+" "")))))

(defn- tick-label
  "A tick label for a value on a linear axis: plain decimals (0.028, 1500) with
  at most 6 significant digits, scientific notation below 1e-3 or from 1e6 on
  (XChart's default pattern writes 0.028 as .028)."
  [v]
  (let [v (double v) a (Math/abs v)]
    (cond
      (< a 1e-12) "0"
      (or (< a 1e-3) (>= a 1e6)) (sci-label v)
      (== v (Math/rint v)) (str (long v))
      :else (-> (format "%.6g" v) (str/replace #"(\.\d*?)0+$" "$1") (str/replace #"\.$" "")))))

(defn- log-label
  "A tick label for the exponent v of a log10-transformed axis: 0.01, 1, 100 or
  1e-5 at whole decades, three significant digits between them (two would print
  neighbours on a narrow axis alike)."
  [v]
  (let [v (double v)]
    (cond
      (and (== v (Math/rint v)) (<= -3.0 v 3.0)) (fmt (Math/pow 10.0 v))
      (== v (Math/rint v)) (str "1e" (long v))
      :else (tick-label (Double/parseDouble (format "%.3g" (Math/pow 10.0 v)))))))

(defn- axis-transform
  "The map from data to chart coordinates on an axis: log10 on a log axis (XChart's
  own log axis labels every decade, unreadable over 30 decades; a linear axis in
  log10 units with `log-label` ticks picks a readable spacing), else identity."
  [axis]
  (if (:log? axis) (fn ^double [x] (Math/log10 (double x))) (fn ^double [x] (double x))))

(defn- add-layer!
  "Adds layer j of a panel to chart as an XChart series, coordinates through tx
  and ty; x-range and y-range [lo hi] (data units) span rules."
  [^XYChart chart j layer [xlo xhi] [ylo yhi] tx ty]
  (let [hex (color-of (:color layer))
        color (awt-color hex)
        ;; XChart wants distinct series names; a line and its reference rule may
        ;; share a legend entry (the legend is drawn by `draw-legend!`)
        nm (str j ": " (:series layer))
        add (fn [xs ys opts] (style! (.addSeries chart nm (doubles-of (map tx xs)) (doubles-of (map ty ys))) opts))]
    (when-not (layer-empty? layer)
      (case (:mark layer)
        :line (add (map first (:points layer)) (map second (:points layer))
                   {:render XYSeries$XYSeriesRenderStyle/Line
                    :marker (when (:point? layer) SeriesMarkers/CIRCLE)
                    :marker-color color :line-color color :line-stroke (stroke 2.0 (:dash layer))})
        :point (add (map first (:points layer)) (map second (:points layer))
                    {:render XYSeries$XYSeriesRenderStyle/Scatter :marker SeriesMarkers/CIRCLE
                     :marker-color (awt-color hex 190)})
        :rule (when (and xlo xhi)
                (add [xlo xhi] [(:y layer) (:y layer)]
                     {:render XYSeries$XYSeriesRenderStyle/Line :line-color color
                      :line-stroke (stroke 1.5 (or (:dash layer) [6 4]))}))
        :x-rule (when (and ylo yhi)
                  (add [(:x layer) (:x layer)] [ylo yhi]
                       {:render XYSeries$XYSeriesRenderStyle/Line :line-color color
                        :line-stroke (stroke 1.5 (or (:dash layer) [6 4]))}))
        :band (let [ps (:points layer)]
                (add (concat (map first ps) (reverse (map first ps)))
                     (concat (map #(nth % 2) ps) (reverse (map second ps)))
                     {:render XYSeries$XYSeriesRenderStyle/PolygonArea :fill-color (awt-color hex 80)
                      :line-color (awt-color hex 160) :line-stroke (stroke 0.8 nil)}))
        :bar (let [ps (:points layer)
                   ;; the outline of the bars as one polygon from the baseline
                   outline (concat [[(first (first ps)) 0.0]]
                                   (mapcat (fn [[x0 x1 h]] [[x0 h] [x1 h]]) ps)
                                   [[(second (last ps)) 0.0]])]
               (add (map first outline) (map second outline)
                    {:render XYSeries$XYSeriesRenderStyle/PolygonArea :fill-color (awt-color hex 110)
                     :line-color color :line-stroke (stroke 1.0 nil)}))))))

(defn- inner-point
  "A value strictly inside [lo, hi] at an irrational fraction."
  ^double [lo hi]
  (let [lo (double lo) hi (double hi)] (+ lo (* 0.381966 (- hi lo)))))

(defn- add-tick-breaker!
  "Adds an invisible one-point series inside the data's box (chart coordinates).
  XChart places ticks only at data values when the distinct x (or y) values of all
  series are equally spaced (steps 0, 2, 4, ... or histogram bin edges), which
  gives ticks like 16, 32, 48 or 1.9000098; one value off that grid makes it
  pick round ticks."
  [^XYChart chart xs ys]
  (when (and (seq xs) (seq ys))
    (let [s (.addSeries chart "dlnlab-tick-breaker"
                        (double-array [(inner-point (apply min xs) (apply max xs))])
                        (double-array [(inner-point (apply min ys) (apply max ys))]))]
      (.setXYSeriesRenderStyle s XYSeries$XYSeriesRenderStyle/Scatter)
      (.setMarker s SeriesMarkers/NONE)
      (.setShowInLegend s false))))

(defn- formatter ^java.util.function.Function [f]
  (reify java.util.function.Function (apply [_ v] (f v))))

(defn- panel-chart
  "An XChart chart of one panel's layers, without title, axis titles or legend
  (paint-figure! draws those as text). shared, when given, is {:xs [lo hi] :ys
  [lo hi]}: the data ranges of every panel, so stacked panels share their scales
  (as Vega-Lite facets do)."
  ^XYChart [fig panel w h shared]
  (let [chart (XYChart. (int w) (int h))
        ^XYStyler styler (.getStyler chart)
        layers (:layers panel)
        tx (axis-transform (:x fig))
        ty (axis-transform (:y fig))
        xs (or (:xs shared) (filter finite? (mapcat layer-xs layers)))
        ys (or (:ys shared) (filter finite? (mapcat layer-ys layers)))
        x-range (when (seq xs) [(apply min xs) (apply max xs)])
        y-range (when (seq ys) [(apply min ys) (apply max ys)])]
    (when shared
      (let [[xlo xhi] (:xs shared) [ylo yhi] (:ys shared)]
        (when (and xlo (< (double xlo) (double xhi)))
          (.setXAxisMin styler (Double/valueOf (double (tx xlo))))
          (.setXAxisMax styler (Double/valueOf (double (tx xhi)))))
        (when (and ylo (< (double ylo) (double yhi)))
          (.setYAxisMin styler (Double/valueOf (double (ty ylo))))
          (.setYAxisMax styler (Double/valueOf (double (ty yhi)))))))
    (doto styler
      (.setChartTitleVisible false)
      (.setAxisTitlesVisible false)
      (.setChartPadding 8)
      (.setChartBackgroundColor Color/WHITE)
      (.setPlotBackgroundColor Color/WHITE)
      (.setPlotBorderColor (Color. 200 200 200))
      (.setPlotGridLinesColor (Color. 230 230 230))
      (.setLegendVisible false)
      (.setMarkerSize 5)
      (.setAntiAlias true)
      (.setAxisTickLabelsFont (Font. Font/SANS_SERIF Font/PLAIN 11)))
    ;; On a log axis spanning two decades or more, a tick spacing hint of about
    ;; 0.8 decade makes XChart round its step up to one decade (ticks 1e-5, 1e-4, ...).
    (let [span (fn [vs] (if (seq vs) (- (double (apply max vs)) (double (apply min vs))) 0.0))
          ;; a tick every k decades, k the smallest of 1, 2, 5, 10, 20 that
          ;; keeps ticks about 30 px apart (stacked panels are short)
          hint (fn ^long [^double px ^double decades]
                 (let [k (double (or (first (filter #(<= (/ decades (double %)) (/ px 30.0)) [1 2 5 10 20])) 50))]
                   (max 20 (long (* 0.8 0.92 (/ px decades) k)))))]
      (when-not (get-in fig [:x :log?]) (.setxAxisTickLabelsFormattingFunction styler (formatter tick-label)))
      (when-not (get-in fig [:y :log?]) (.setyAxisTickLabelsFormattingFunction styler (formatter tick-label)))
      (when (get-in fig [:x :log?])
        (.setxAxisTickLabelsFormattingFunction styler (formatter log-label))
        (let [d (double (span (map tx xs)))]
          (when (>= d 2.0) (.setXAxisTickMarkSpacingHint styler (int (hint (- (double w) 80.0) d))))))
      (when (get-in fig [:y :log?])
        (.setyAxisTickLabelsFormattingFunction styler (formatter log-label))
        (let [d (double (span (map ty ys)))]
          (when (>= d 2.0) (.setYAxisTickMarkSpacingHint styler (int (hint (- (double h) 40.0) d)))))))
    (doseq [[j layer] (map-indexed vector layers)] (add-layer! chart j layer x-range y-range tx ty))
    (add-tick-breaker! chart (map tx xs) (map ty ys))
    chart))

(defn- header-height
  "Pixels above the charts for the figure's title and subtitle."
  ^long [fig]
  (if (:subtitle fig) 50 32))

(def ^:private ^:const legend-row 20)

(defn- legend-width
  "Pixels of the legend column: the widest series name plus its swatch, or 0 for
  a figure of one series."
  ^long [^Graphics2D g fig]
  (if (> (count (:series fig)) 1)
    (let [fm (.getFontMetrics g (Font. Font/SANS_SERIF Font/PLAIN 12))]
      (+ 52 (long (apply max (map #(.stringWidth fm (str (:name %))) (:series fig))))))
    0))

(defn- draw-legend!
  "Draws one legend entry per series of fig (swatch in its color, dashed as drawn,
  and its name as text) in a column starting at (x, y)."
  [^Graphics2D g fig x y]
  (let [x (long x) y (long y)]
    (.setFont g (Font. Font/SANS_SERIF Font/PLAIN 12))
    (doseq [[i {:keys [name color mark dash]}] (map-indexed vector (:series fig))]
      (let [cy (+ y (* (long i) legend-row))
            c (awt-color color)]
        (case mark
          (:band :bar) (do (.setStroke g (stroke 1.0 nil))
                           (.setColor g (awt-color color 110))
                           (.fillRect g (int x) (int (- cy 6)) 22 12)
                           (.setColor g c)
                           (.drawRect g (int x) (int (- cy 6)) 22 12))
          :point (do (.setColor g c) (.fillOval g (int (+ x 7)) (int (- cy 4)) 8 8))
          :line (do (.setColor g c)
                    (.setStroke g (stroke 2.0 dash))
                    (.drawLine g (int x) (int cy) (int (+ x 22)) (int cy))
                    (when (some #(and (= name (:series %)) (:point? %)) (mapcat :layers (:panels fig)))
                      (.fillOval g (int (+ x 7)) (int (- cy 4)) 8 8)))
          (:rule :x-rule) (do (.setColor g c)
                    (.setStroke g (stroke 1.5 (or dash [6 4])))
                    (.drawLine g (int x) (int cy) (int (+ x 22)) (int cy))))
        (.setColor g Color/BLACK)
        (.drawString g (str name) (int (+ x 30)) (int (+ cy 4)))))))

(defn- narrow-log-as-linear
  "fig with each log axis whose values span less than a factor 10 drawn linear:
  XChart would put its ticks at unround log-spaced values (0.0288, 0.0302, ...),
  and over less than a decade the two scales look nearly alike. Vega-Lite specs
  keep the log scale."
  [fig]
  (let [all-layers (mapcat :layers (:panels fig))
        narrow? (fn [vs] (let [vs (filter positive? vs)]
                           (and (seq vs) (< (/ (double (apply max vs)) (double (apply min vs))) 10.0))))]
    (cond-> fig
      (and (get-in fig [:x :log?]) (narrow? (mapcat layer-xs all-layers))) (assoc-in [:x :log?] false)
      (and (get-in fig [:y :log?]) (narrow? (mapcat layer-ys all-layers))) (assoc-in [:y :log?] false))))

(defn- paint-figure!
  "Paints fig onto g at size w x h: its title and subtitle, a legend column on the
  right, then one chart per panel stacked vertically, each with its panel title
  (when several) and axis titles. Text other than XChart's tick labels is drawn
  here as text, so SVG output holds it as <text> elements."
  [^Graphics2D g fig w h]
  (let [w (long w) h (long h)
        fig (narrow-log-as-linear fig)
        panels (vec (remove #(every? layer-empty? (:layers %)) (:panels fig)))
        n (count panels)
        faceted? (> n 1)
        all-layers (mapcat :layers panels)
        extent (fn [vs] (let [vs (filter finite? vs)] (when (seq vs) [(apply min vs) (apply max vs)])))
        shared (when faceted? {:xs (extent (mapcat layer-xs all-layers)) :ys (extent (mapcat layer-ys all-layers))})
        top (header-height fig)
        lw (legend-width g fig)
        pw (- w lw)
        ph (quot (- h top) (max 1 n))
        panel-title-h (if faceted? 20 0)
        axis-font (Font. Font/SANS_SERIF Font/PLAIN 13)]
    (.setRenderingHint g RenderingHints/KEY_ANTIALIASING RenderingHints/VALUE_ANTIALIAS_ON)
    (.setRenderingHint g RenderingHints/KEY_TEXT_ANTIALIASING RenderingHints/VALUE_TEXT_ANTIALIAS_ON)
    (.setColor g Color/WHITE)
    (.fillRect g 0 0 (int w) (int h))
    (.setColor g Color/BLACK)
    (.setFont g (Font. Font/SANS_SERIF Font/BOLD 16))
    (.drawString g (str (:title fig)) (int 16) (int 22))
    (when-let [sub (:subtitle fig)]
      (.setColor g (Color. 90 90 90))
      (.setFont g (Font. Font/SANS_SERIF Font/PLAIN 12))
      (.drawString g (str sub) (int 16) (int 40)))
    (doseq [[i panel] (map-indexed vector panels)]
      (let [py (+ top (* (long i) ph))
            chart-y (+ py panel-title-h)
            chart-h (- ph panel-title-h 24)
            chart (panel-chart fig panel (- pw 26) chart-h shared)
            t (.getTransform g)
            fm (.getFontMetrics g axis-font)]
        (when faceted?
          (.setColor g Color/BLACK)
          (.setFont g (Font. Font/SANS_SERIF Font/BOLD 13))
          (.drawString g (str (:title panel)) (int 60) (int (+ py 15))))
        (.translate g 26 (int chart-y))
        (.paint chart g (int (- pw 26)) (int chart-h))
        (.setTransform g t)
        (.setColor g Color/BLACK)
        (.setFont g axis-font)
        (let [xt (str (get-in fig [:x :title]))
              yt (str (get-in fig [:y :title]))]
          (.drawString g xt (int (+ 26 (quot (- (- pw 26) (.stringWidth fm xt)) 2))) (int (+ chart-y chart-h 16)))
          (.translate g 18 (int (+ chart-y (quot (+ chart-h (.stringWidth fm yt)) 2))))
          (.rotate g (- (/ Math/PI 2.0)))
          (.drawString g yt (int 0) (int 0))
          (.setTransform g t))))
    (when (pos? lw)
      (draw-legend! g fig (+ pw 8) (+ top panel-title-h 20)))))

(defn- write-atomically!
  "Writes a file by calling (write! output-stream) on a temporary file in the
  same directory, then renaming it over path, so readers never see half a file."
  [path write!]
  (let [target (.getAbsoluteFile (io/file path))
        dir (.getParentFile target)]
    (when dir (.mkdirs dir))
    (let [tmp (File/createTempFile (str "." (.getName target) ".") ".tmp" dir)]
      (try
        (with-open [out (io/output-stream tmp)] (write! out))
        (try
          (Files/move (.toPath tmp) (.toPath target)
                      (into-array StandardCopyOption [StandardCopyOption/ATOMIC_MOVE StandardCopyOption/REPLACE_EXISTING]))
          (catch AtomicMoveNotSupportedException _
            (Files/move (.toPath tmp) (.toPath target)
                        (into-array StandardCopyOption [StandardCopyOption/REPLACE_EXISTING]))))
        (finally (.delete tmp))))
    (str path)))

(defn- format-of [path]
  (let [p (str/lower-case (str path))]
    (cond (str/ends-with? p ".svg") :svg
          (str/ends-with? p ".png") :png
          :else (fail! (str "Cannot tell the image format of " (pr-str (str path)) "; the file name must end in .svg or .png.")
                       [:path] (str path) #{".svg" ".png"}))))

(defn render!
  "Draws figure data from `figure` with XChart to path, as SVG or PNG by the
  file's extension, atomically (a temporary file beside it, then a rename).
  Options: :width (800) and :height (500, or 300 per panel for several panels)
  in pixels; :scale (2.0) the PNG's pixels per unit, for sharp raster output.
  Returns path. Throws ex-info for an extension other than .svg or .png."
  ([fig path] (render! fig path {}))
  ([fig path {:keys [width height scale] :or {width 800 scale 2.0}}]
   (ensure-headless!)
   (let [fmt-kind (format-of path)
         n (count (remove #(every? layer-empty? (:layers %)) (:panels fig)))
         w (long width)
         h (long (or height (if (> n 1) (+ (header-height fig) (* 280 n)) 520)))]
     (case fmt-kind
       :svg (let [g (VectorGraphics2D.)]
              (paint-figure! g fig w h)
              (let [^Processor p (Processors/get "svg")
                    ^Document doc (.getDocument p (.getCommands g) (PageSize. 0.0 0.0 (double w) (double h)))]
                (write-atomically! path (fn [^OutputStream out] (.writeTo doc out)))))
       :png (let [s (double scale)
                  img (BufferedImage. (int (Math/round (* s w))) (int (Math/round (* s h))) BufferedImage/TYPE_INT_RGB)
                  g (.createGraphics img)]
              (try
                (.scale g s s)
                (paint-figure! g fig w h)
                (finally (.dispose g)))
              (write-atomically! path (fn [^OutputStream out] (ImageIO/write img "png" out)))))
     (str path))))

;; ---------------------------------------------------------------- standard figures

(defn- any-recorded? [r k] (boolean (some some? (get-in r [:trajectory k]))))

(defn standard-figure-names
  "The names of the figures that apply to data, in order: for a result :loss,
  :sharpness, :modes, :pathway-shares (two or more pathways) and :balance-gap,
  each when its metric was recorded; for a sweep :loss and :modes (up to 12
  runs, when recorded), :bifurcation and :loss-vs-lr (two or more learning
  rates), :sharpness-vs-lr and :shares-vs-lr (two or more learning rates, when
  :sharpness or multi-pathway :pathway-shares were recorded); for a sweep of :sde experiments :learning-time-sweep and
  :stationary-sweep (label noise > 0), when a numeric grid coordinate varies;
  for an SDE ensemble
  :sde-ensemble and :learning-times (when it has :learned-time); for the result
  of an :sde experiment :sde-ensemble, :learning-times (when a path learned a
  mode) and :stationary (when the label noise is > 0). Returns a vector."
  [data]
  (cond
    (ensemble? data)
    (cond-> [:sde-ensemble]
      (seq (:learned-time data)) (conj :learning-times))

    (sde-result? data)
    (cond-> [:sde-ensemble]
      (some #(some some? %) (mapcat val (get-in data [:final :first-passage]))) (conj :learning-times)
      (seq (get-in data [:analysis :stationary])) (conj :stationary))

    (result? data)
    (let [shares (last-recorded (:trajectory data) :pathway-shares)]
      (cond-> []
        (any-recorded? data :loss) (conj :loss)
        (any-recorded? data :sharpness) (conj :sharpness)
        (any-recorded? data :modes) (conj :modes)
        (and shares (some #(and % (> (count %) 1)) shares)) (conj :pathway-shares)
        (some #(some seq %) (remove nil? (get-in data [:trajectory :balance-gap]))) (conj :balance-gap)))

    (and (sequential? data) (some sde-result? data))
    (let [rs (filterv sde-result? data)
          swept? (and (>= (count rs) 2) (some (fn [[_ vs]] (every? number? vs)) (sweep-coordinates rs)))]
      (cond-> []
        swept? (conj :learning-time-sweep)
        (and swept? (some #(some :variance (get-in % [:analysis :stationary])) rs)) (conj :stationary-sweep)))

    (sequential? data)
    (let [rs (filterv result? data)
          lrs (set (keep raw-lr rs))]
      (cond-> []
        (and (seq rs) (<= (count rs) 12) (some #(any-recorded? % :loss) rs)) (conj :loss)
        (and (seq rs) (<= (count rs) 12) (some #(any-recorded? % :modes) rs)) (conj :modes)
        (>= (count lrs) 2) (conj :bifurcation :loss-vs-lr)
        (and (>= (count lrs) 2) (some #(any-recorded? % :sharpness) rs)) (conj :sharpness-vs-lr)
        (and (>= (count lrs) 2)
             (some #(some (fn [m] (and m (> (count m) 1))) (last-recorded (:trajectory %) :pathway-shares)) rs))
        (conj :shares-vs-lr)))

    :else []))

(defn- standard-figure-data
  "{name figure-data} of the standard figures of data; a figure with nothing
  finite to plot (e.g. a diverged run) is left out."
  [data opts]
  (into {}
        (keep (fn [nm]
                (try [nm (figure nm data (merge (dissoc opts :figure-opts) (get-in opts [:figure-opts nm])))]
                     (catch clojure.lang.ExceptionInfo e
                       (if (= [:figure nm] (:path (ex-data e))) nil (throw e))))))
        (let [names (standard-figure-names data)]
          (if-let [only (:figures opts)] (filterv (set only) names) names))))

(defn standard-figures
  "{figure-name Vega-Lite spec} for the figures that apply to what data recorded
  (see `standard-figure-names`). Options: :figures (all) a collection of names to
  keep; :figure-opts {name options} passed to `figure` for that figure; the rest
  goes to every `figure` and `vega-lite` call (e.g. :x :time).
  Returns a map (sorted by name)."
  ([data] (standard-figures data {}))
  ([data opts]
   (into (sorted-map) (map (fn [[nm fig]] [nm (vega-lite fig opts)])) (standard-figure-data data opts))))

(defn- image-formats
  "The image formats of opts' :formats ([:svg]); throws ex-info for one that is
  neither :svg nor :png."
  [opts]
  (let [formats (or (:formats opts) [:svg])]
    (doseq [f formats]
      (when-not (#{:svg :png} f)
        (fail! (str "Option :formats has " (pr-str f) "; allowed are :svg and :png.") [:formats] f #{:svg :png})))
    formats))

(defn write-figures!
  "Writes the standard figures of data (a result, a sweep vector or an SDE
  ensemble) into dir as <name>.svg, and <name>.png when :png is among :formats,
  each atomically. Options: :formats ([:svg]) any of :svg :png; :figures and
  :figure-opts as in `standard-figures`; :width, :height, :scale as in `render!`.
  Returns {name [path ...]}. Throws ex-info when a file cannot be written."
  ([data dir] (write-figures! data dir {}))
  ([data dir opts]
   (let [formats (image-formats opts)]
     (into (sorted-map)
           (for [[nm fig] (standard-figure-data data opts)]
             [nm (mapv (fn [f] (render! fig (str (io/file dir (str (name nm) "." (name f)))) opts)) formats)])))))

(defn write-figure-data!
  "Writes figures (figure data as `figure` returns, each with its :name) into
  dir: <name>.svg, and <name>.png when :png is among :formats, drawn by
  `render!`, and <name>.vl.json, the figure's Vega-Lite spec; each atomically.
  Options: :formats ([:svg]) any of :svg :png; :width, :height, :scale as in
  `render!`. Returns {name [path ...]}. Throws ex-info for an unknown format."
  ([figures dir] (write-figure-data! figures dir {}))
  ([figures dir opts]
   (let [formats (image-formats opts)]
     (into (sorted-map)
           (for [fig figures
                 :let [base (str (io/file dir (name (:name fig))))
                       json (str base ".vl.json")]]
             (do (write-atomically! json (fn [^OutputStream out]
                                           (.write out (.getBytes ^String (vega-lite-json (vega-lite fig)) "UTF-8"))))
                 [(:name fig) (conj (mapv #(render! fig (str base "." (name %)) opts) formats) json)]))))))
