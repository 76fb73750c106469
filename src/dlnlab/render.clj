(ns dlnlab.render
  "Figure data (dlnlab.figure) drawn to SVG or PNG files with XChart and
  VectorGraphics2D: what the command line writes. Library and notebook users
  need only dlnlab.figure and dlnlab.vega; this is the one namespace that
  imports XChart. Files are written atomically through
  dlnlab.io/write-atomically!.

  `render!` draws one figure; `write-figures!` the standard figures of a result,
  sweep or ensemble; `write-figure-data!` given figures with their Vega-Lite
  specs beside them."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [dlnlab.figure :as fig :refer [color-of finite? layer-empty? layer-xs layer-ys]]
            [dlnlab.figure.axis :as axis]
            [dlnlab.io :as dio]
            [dlnlab.vega :as vega])
  (:import [de.erichseifert.vectorgraphics2d Document Processor Processors VectorGraphics2D]
           [de.erichseifert.vectorgraphics2d.util PageSize]
           [java.awt BasicStroke Color Font Graphics2D RenderingHints]
           [java.awt.image BufferedImage]
           [java.io ByteArrayOutputStream]
           [javax.imageio ImageIO]
           [org.knowm.xchart XYChart XYSeries XYSeries$XYSeriesRenderStyle]
           [org.knowm.xchart.style XYStyler]
           [org.knowm.xchart.style.markers SeriesMarkers]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

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

(defn- axis-transform
  "The map from data to chart coordinates on an axis: log10 on a log axis (drawn
  by XChart as a linear axis in log10 units, with ticks and labels of our own
  from dlnlab.figure.axis/log-ticks), else identity."
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
        :line (let [c (awt-color hex (Math/round (* 255.0 (double (:opacity layer 1.0)))))]
                (add (map first (:points layer)) (map second (:points layer))
                     {:render XYSeries$XYSeriesRenderStyle/Line
                      :marker (when (:point? layer) SeriesMarkers/CIRCLE)
                      :marker-color c :line-color c
                      :line-stroke (stroke (double (:stroke-width layer 2.0)) (:dash layer))}))
        :point (add (map first (:points layer)) (map second (:points layer))
                    {:render XYSeries$XYSeriesRenderStyle/Scatter :marker SeriesMarkers/CIRCLE
                     :marker-color (awt-color hex (if (:faint? layer) 70 190))})
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

(def ^:private ^:const content-size
  "The fraction of the plot area XChart gives the axis range (its default)."
  0.92)

(defn- panel-chart
  "An XChart chart of one panel's layers, without title, axis titles or legend
  (paint-figure! draws those as text), on transparent backgrounds. ranges is
  {:x [lo hi] :y [lo hi]} in data units, the axis ranges (every panel of a
  figure gets the same, so stacked panels share their scales as Vega-Lite
  facets do); a log axis has no XChart ticks or grid (`draw-log-axes!` draws
  them)."
  ^XYChart [fig panel w h ranges]
  (let [chart (XYChart. (int w) (int h))
        ^XYStyler styler (.getStyler chart)
        layers (:layers panel)
        tx (axis-transform (:x fig))
        ty (axis-transform (:y fig))
        xs (filter finite? (mapcat layer-xs layers))
        ys (filter finite? (mapcat layer-ys layers))
        {x-range :x y-range :y} ranges
        clear (Color. 255 255 255 0)]
    (when-let [[lo hi] x-range]
      (.setXAxisMin styler (Double/valueOf (double (tx lo))))
      (.setXAxisMax styler (Double/valueOf (double (tx hi)))))
    (when-let [[lo hi] y-range]
      (.setYAxisMin styler (Double/valueOf (double (ty lo))))
      (.setYAxisMax styler (Double/valueOf (double (ty hi)))))
    (doto styler
      (.setChartTitleVisible false)
      (.setAxisTitlesVisible false)
      (.setChartPadding 8)
      (.setChartBackgroundColor clear)
      (.setPlotBackgroundColor clear)
      (.setPlotContentSize content-size)
      (.setPlotBorderColor (Color. 200 200 200))
      (.setPlotGridLinesColor (Color. 230 230 230))
      (.setLegendVisible false)
      (.setMarkerSize 5)
      (.setAntiAlias true)
      (.setAxisTickLabelsFont (Font. Font/SANS_SERIF Font/PLAIN 11))
      (.setxAxisTickLabelsFormattingFunction (formatter tick-label))
      (.setyAxisTickLabelsFormattingFunction (formatter tick-label)))
    (when (get-in fig [:x :log?])
      (.setXAxisTicksVisible styler false)
      (.setPlotGridVerticalLinesVisible styler false))
    (when (get-in fig [:y :log?])
      (.setYAxisTicksVisible styler false)
      (.setPlotGridHorizontalLinesVisible styler false))
    (doseq [[j layer] (map-indexed vector layers)] (add-layer! chart j layer x-range y-range tx ty))
    (when (and (seq xs) (seq ys)) (add-tick-breaker! chart (map tx xs) (map ty ys)))
    chart))

(defn- axis-ranges
  "{:x [lo hi] :y [lo hi]}: the range of each axis of fig in data units, the
  domain of its `dlnlab.figure.axis/log-ticks` on a log axis (in :ticks), else the
  extent of the values of every panel; nil for an axis whose values are all
  equal (XChart then widens it itself)."
  [fig ticks]
  (let [layers (mapcat :layers (:panels fig))
        extent (fn [vs] (let [vs (filter finite? vs)]
                          (when (seq vs)
                            (let [lo (double (apply min vs)) hi (double (apply max vs))] (when (< lo hi) [lo hi])))))]
    {:x (or (:domain (:x ticks)) (get-in fig [:x :range]) (extent (mapcat layer-xs layers)))
     :y (or (:domain (:y ticks)) (extent (mapcat layer-ys layers)))}))

(defn- plot-box
  "[left top right bottom] in pixels of chart's plot area after a paint: the
  axis ranges map to the middle `content-size` of it."
  [^XYChart chart fig {[xlo xhi] :x [ylo yhi] :y}]
  (let [tx (axis-transform (:x fig)) ty (axis-transform (:y fig))
        a (.getScreenXFromChart chart (double (tx xlo))) b (.getScreenXFromChart chart (double (tx xhi)))
        c (.getScreenYFromChart chart (double (ty yhi))) d (.getScreenYFromChart chart (double (ty ylo)))
        mx (/ (* (- b a) (- 1.0 content-size)) (* 2.0 content-size))
        my (/ (* (- d c) (- 1.0 content-size)) (* 2.0 content-size))]
    [(- a mx) (- c my) (+ b mx) (+ d my)]))

(defn- draw-log-grid!
  "Grid lines at the major ticks of fig's log axes, under the chart."
  [^Graphics2D g ^XYChart chart fig ticks box]
  (let [[l t r b] box]
    (.setColor g (Color. 230 230 230))
    (.setStroke g (stroke 1.0 [3 3]))
    (doseq [v (:major (:x ticks)) :let [x (.getScreenXFromChart chart (Math/log10 (double v)))]]
      (.drawLine g (int (Math/round x)) (int (Math/round (double t))) (int (Math/round x)) (int (Math/round (double b)))))
    (doseq [v (:major (:y ticks)) :let [y (.getScreenYFromChart chart (Math/log10 (double v)))]]
      (.drawLine g (int (Math/round (double l))) (int (Math/round y)) (int (Math/round (double r))) (int (Math/round y))))))

(defn- draw-log-axes!
  "Tick marks (long at major, short at minor ticks) and labels of fig's log
  axes, outside chart's plot box; a label that would overlap the one before is
  left out (its tick stays)."
  [^Graphics2D g ^XYChart chart ticks box]
  (let [[l _ _ b] box
        font (Font. Font/SANS_SERIF Font/PLAIN 11)
        fm (.getFontMetrics g font)
        ascent (double (.getAscent fm))
        px (fn [^double v] (int (Math/round v)))
        l (double l) b (double b)]
    (.setFont g font)
    (.setStroke g (stroke 1.0 nil))
    (.setColor g (Color. 90 90 90))
    (when-let [{:keys [major minor]} (:x ticks)]
      (doseq [v minor :let [x (.getScreenXFromChart chart (Math/log10 (double v)))]]
        (.drawLine g (px x) (px b) (px x) (px (+ b 2.0))))
      (reduce (fn [^double right v]
                (let [x (.getScreenXFromChart chart (Math/log10 (double v)))
                      ^String s (axis/tick-label v)
                      w (double (.stringWidth fm s))
                      x0 (- x (/ w 2.0))]
                  (.drawLine g (px x) (px b) (px x) (px (+ b 4.0)))
                  (if (> x0 (+ right 4.0))
                    (do (.drawString g s (int (px x0)) (int (px (+ b 5.0 ascent)))) (+ x0 w))
                    right)))
              Double/NEGATIVE_INFINITY major))
    (when-let [{:keys [major minor]} (:y ticks)]
      (doseq [v minor :let [y (.getScreenYFromChart chart (Math/log10 (double v)))]]
        (.drawLine g (px (- l 2.0)) (px y) (px l) (px y)))
      (reduce (fn [^double top v]
                (let [y (.getScreenYFromChart chart (Math/log10 (double v)))
                      ^String s (axis/tick-label v)
                      base (+ y (/ ascent 2.0) -1.0)]
                  (.drawLine g (px (- l 4.0)) (px y) (px l) (px y))
                  (if (< base (- top 2.0))
                    (do (.drawString g s (int (px (- l 6.0 (double (.stringWidth fm s))))) (int (px base)))
                        (- base ascent))
                    top)))
              Double/POSITIVE_INFINITY major))))

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

(defn- paint-figure!
  "Paints fig onto g at size w x h: its title and subtitle, a legend column on the
  right, then one chart per panel stacked vertically, each with its panel title
  (when several) and axis titles. Text other than XChart's tick labels is drawn
  here as text, so SVG output holds it as <text> elements."
  [^Graphics2D g fig w h]
  (let [w (long w) h (long h)
        panels (vec (remove #(every? layer-empty? (:layers %)) (:panels fig)))
        n (count panels)
        faceted? (> n 1)
        ticks (axis/axis-ticks fig)
        ranges (axis-ranges fig ticks)
        top (header-height fig)
        lw (legend-width g fig)
        pw (- w lw)
        ph (quot (- h top) (max 1 n))
        panel-title-h (if faceted? 20 0)
        axis-font (Font. Font/SANS_SERIF Font/PLAIN 13)
        ;; room for the labels of a log axis, which XChart does not draw
        tick-fm (.getFontMetrics g (Font. Font/SANS_SERIF Font/PLAIN 11))
        left (if-let [yt (:y ticks)] (+ 8 (long (reduce max 0 (map #(.stringWidth tick-fm (axis/tick-label %)) (:major yt))))) 0)
        below (if (:x ticks) 16 0)
        scratch (.createGraphics (BufferedImage. 1 1 BufferedImage/TYPE_INT_RGB))]
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
            cw (- pw 26 left)
            ch (- chart-h below)
            chart (panel-chart fig panel cw ch ranges)
            log? (and (or (:x ticks) (:y ticks)) (:x ranges) (:y ranges))
            t (.getTransform g)
            fm (.getFontMetrics g axis-font)]
        (when faceted?
          (.setColor g Color/BLACK)
          (.setFont g (Font. Font/SANS_SERIF Font/BOLD 13))
          (.drawString g (str (:title panel)) (int 60) (int (+ py 15))))
        (.translate g (int (+ 26 left)) (int chart-y))
        (if log?
          ;; a first paint lays the chart out, so the grid can go under it
          (do (.paint chart scratch (int cw) (int ch))
              (let [box (plot-box chart fig ranges)]
                (draw-log-grid! g chart fig ticks box)
                (.paint chart g (int cw) (int ch))
                (draw-log-axes! g chart ticks box)))
          (.paint chart g (int cw) (int ch)))
        (.setTransform g t)
        (.setColor g Color/BLACK)
        (.setFont g axis-font)
        (let [xt (str (get-in fig [:x :title]))
              yt (str (get-in fig [:y :title]))]
          (.drawString g xt (int (+ 26 left (quot (- cw (.stringWidth fm xt)) 2))) (int (+ chart-y chart-h 16)))
          (.translate g 18 (int (+ chart-y (quot (+ chart-h (.stringWidth fm yt)) 2))))
          (.rotate g (- (/ Math/PI 2.0)))
          (.drawString g yt (int 0) (int 0))
          (.setTransform g t))))
    (.dispose scratch)
    (when (pos? lw)
      (draw-legend! g fig (+ pw 8) (+ top panel-title-h 20)))))

(defn- format-of [path]
  (let [p (str/lower-case (str path))]
    (cond (str/ends-with? p ".svg") :svg
          (str/ends-with? p ".png") :png
          (str/ends-with? p ".pdf") :pdf
          :else (fig/fail! :invalid-argument
                           (str "Cannot tell the image format of " (pr-str (str path)) "; the file name must end in .svg, .png or .pdf.")
                           [:path] (str path) #{".svg" ".png" ".pdf"}))))

(defn- thin-to-width
  "fig with each polyline thinned (dlnlab.figure/thin) to a minimum and a
  maximum per two pixels of a drawing w pixels wide (its plot is narrower):
  more points cannot be seen."
  [fig ^long w]
  (update fig :panels
          (fn [ps] (mapv (fn [p] (update p :layers (fn [ls] (mapv #(if (= :line (:mark %)) (update % :points fig/thin w) %) ls))))
                         ps))))

(defn- trim-svg-numbers
  "SVG text with the numbers inside attribute values (path data, transforms,
  coordinates in pixels) written with at most 1 decimal: VectorGraphics2D
  writes 127.57600000000002, of which a tenth of a pixel is all one sees.
  Texts between tags (labels) are left alone."
  ^String [^String svg]
  (str/replace svg #"=\"[^\"]*\""
               (fn [^String attr]
                 (str/replace attr #"(-?\d+)\.(\d{2,})"
                              (fn [[_ int-part frac]]
                                (let [v (.setScale (BigDecimal. (str int-part "." frac)) 1 java.math.RoundingMode/HALF_EVEN)
                                      t (-> (.toPlainString v) (str/replace #"0+$" "") (str/replace #"\.$" ""))]
                                  (if (= t "-0") "0" t)))))))

(def ^:private svg-line
  #"(\s*)<line style=\"([^\"]*)\" x1=\"([^\"]*)\" x2=\"([^\"]*)\" y1=\"([^\"]*)\" y2=\"([^\"]*)\"/>")

(defn- join-svg-lines
  "SVG text with each run of consecutive <line> elements of one style, each
  starting where the last ended (XChart draws a polyline segment by segment,
  about 200 bytes each), written as one <path>: the same picture in a tenth of
  the bytes."
  ^String [^String svg]
  (let [flush (fn [^StringBuilder sb run]
                (when (seq run)
                  (if (= 1 (count run))
                    (.append sb (str (:text (first run)) "\n"))
                    (let [{:keys [indent style x1 y1]} (first run)]
                      (.append sb (str indent "<path style=\"" style "\" d=\"M" x1 " " y1
                                       (apply str (map (fn [{:keys [x2 y2]}] (str "L" x2 " " y2)) run))
                                       "\"/>\n"))))))
        sb (StringBuilder.)]
    (loop [lines (str/split-lines svg) run []]
      (if-let [l (first lines)]
        (if-let [[_ indent style x1 x2 y1 y2] (re-matches svg-line l)]
          (let [seg {:text l :indent indent :style style :x1 x1 :y1 y1 :x2 x2 :y2 y2}
                prev (peek run)]
            (if (and prev (= style (:style prev)) (= x1 (:x2 prev)) (= y1 (:y2 prev)))
              (recur (rest lines) (conj run seg))
              (do (flush sb run) (recur (rest lines) [seg]))))
          (do (flush sb run) (.append sb (str l "\n")) (recur (rest lines) [])))
        (do (flush sb run) (.toString sb))))))

(defn render!
  "Draws figure data from dlnlab.figure/figure with XChart to path, as SVG, PNG
  or PDF by the file's extension, atomically (dlnlab.io/write-atomically!).
  Options: :width (800) and :height (500, or 300 per panel for several panels)
  in pixels; :scale (2.0) the PNG's pixels per unit, for sharp raster output.
  Returns path. Throws ex-info for an extension other than .svg, .png or .pdf,
  or a path that cannot be written."
  ([fig path] (render! fig path {}))
  ([fig path {:keys [width height scale] :or {width 800 scale 2.0}}]
   (ensure-headless!)
   (let [fmt-kind (format-of path)
         fig (thin-to-width fig (long width))
         n (count (remove #(every? layer-empty? (:layers %)) (:panels fig)))
         w (long width)
         h (long (or height (if (> n 1) (+ (header-height fig) (* 280 n)) 520)))
         out (ByteArrayOutputStream.)]
     (case fmt-kind
       (:svg :pdf) (let [g (VectorGraphics2D.)]
                     (paint-figure! g fig w h)
                     (let [^Processor p (Processors/get (name fmt-kind))
                           ^Document doc (.getDocument p (.getCommands g) (PageSize. 0.0 0.0 (double w) (double h)))
                           raw (ByteArrayOutputStream.)]
                       (.writeTo doc raw)
                       (if (= :svg fmt-kind)
                         (.write out (.getBytes (join-svg-lines (trim-svg-numbers (.toString raw "UTF-8"))) "UTF-8"))
                         (.write out (.toByteArray raw)))))
       :png (let [s (double scale)
                  img (BufferedImage. (int (Math/round (* s w))) (int (Math/round (* s h))) BufferedImage/TYPE_INT_RGB)
                  g (.createGraphics img)]
              (try
                (.scale g s s)
                (paint-figure! g fig w h)
                (finally (.dispose g)))
              (ImageIO/write img "png" out)))
     (dio/write-atomically! path (.toByteArray out))
     (str path))))

;; ---------------------------------------------------------------- files of standard figures

(defn- image-formats
  "The image formats of opts' :formats ([:svg]); throws ex-info for one that is
  not :svg, :png or :pdf."
  [opts]
  (let [formats (or (:formats opts) [:svg])]
    (doseq [f formats]
      (when-not (#{:svg :png :pdf} f)
        (fig/fail! :invalid-option (str "Option :formats has " (pr-str f) "; allowed are :svg, :png and :pdf.")
                   [:formats] f #{:svg :png :pdf})))
    formats))

(defn write-figures!
  "Writes the standard figures of data (a result, a sweep vector or an SDE
  ensemble; dlnlab.figure/standard) into dir as <name>.<format> for each of
  :formats, each atomically. Options: :formats ([:svg]) any of
  :svg :png :pdf; :figures and :figure-opts as in dlnlab.figure/standard; :width,
  :height, :scale as in `render!`. Returns {name [path ...]}. Throws ex-info
  when a file cannot be written."
  ([data dir] (write-figures! data dir {}))
  ([data dir opts]
   (let [formats (image-formats opts)]
     (into (sorted-map)
           (for [[nm f] (fig/standard data opts)]
             [nm (mapv (fn [ext] (render! f (str (io/file dir (str (name nm) "." (name ext)))) opts)) formats)])))))

(defn write-figure-data!
  "Writes figures (figure data as dlnlab.figure/figure returns, each with its
  :name) into dir: <name>.<format> for each of :formats, drawn
  by `render!`, and <name>.vl.json, the figure's Vega-Lite spec (dlnlab.vega);
  each atomically. Options: :formats ([:svg]) any of :svg :png :pdf; :width,
  :height, :scale as in `render!`. Returns {name [path ...]}. Throws ex-info
  for an unknown format."
  ([figures dir] (write-figure-data! figures dir {}))
  ([figures dir opts]
   (let [formats (image-formats opts)]
     (into (sorted-map)
           (for [f figures
                 :let [base (str (io/file dir (name (:name f))))
                       json (str base ".vl.json")]]
             (do (dio/write-atomically! json (vega/json (vega/spec f)))
                 [(:name f) (conj (mapv #(render! f (str base "." (name %)) opts) formats) json)]))))))
