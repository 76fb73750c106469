(ns dlnlab.figure.style
  "Draw order and styling of figure data, so every run stays visible:
  `dlnlab.figure/figure` applies `arrange` after it has cleaned the layers.

  - Crowded panels become small multiples: a single panel with more than
    `max-series` data series is split into panels of at most that many, each
    with the reference lines of the original (`split-crowded`).
  - Draw order: fills (bands, bars) first, then faint dots (single
    replicates), then solid data lines and points, then dashed lines (theory curves, thresholds), then reference rules; among
    solid lines of the same kind the busiest (largest variation) is drawn
    first, so an oscillating run does not cover the calm ones (`order-layers`).
  - Many lines in one panel are drawn thinner and partly transparent
    (:stroke-width and :opacity on each line layer; `line-style`).
  - Two line series of one color, or with the same points, get distinct dash
    patterns (`distinct-dashes`), so neither hides under the other.

  Works on the figure-data map of dlnlab.figure/build-figure only (no
  dependency on dlnlab.figure, which requires this namespace).")

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def max-series
  "The most data series one panel shows before it is split into small multiples."
  8)

(def dash-patterns
  "The dash patterns given, in order, to line series that would otherwise share
  a color and a dash: dashes, dots, dash-dot, long dashes, dash-dot-dot,
  short dashes; beyond them a series keeps its own dash."
  [[6 3] [2 2] [8 3 2 3] [12 4] [8 3 2 3 2 3] [3 3]])

(defn reference?
  "True for a layer that is a reference rather than data: a rule across the
  panel, a dashed line (a theory curve or threshold), or one marked :overlay?."
  [layer]
  (boolean (or (#{:rule :x-rule} (:mark layer)) (:dash layer) (:overlay? layer))))

(defn- data-series
  "The names of the data series of a panel's layers, in order."
  [layers]
  (vec (distinct (map :series (remove reference? layers)))))

(defn- signature
  "What must be equal for two layers to trade places in every panel: their mark
  and how it is drawn."
  [layer]
  [(:mark layer) (boolean (:point? layer)) (boolean (:faint? layer)) (:dash layer) (boolean (:overlay? layer))])

;; ---------------------------------------------------------------- small multiples

(defn- chunks
  "xs in consecutive groups of at most n, as even in size as possible."
  [xs ^long n]
  (let [k (long (Math/ceil (/ (double (count xs)) (double n))))
        size (long (Math/ceil (/ (double (count xs)) (double (max 1 k)))))]
    (partition-all (max 1 size) xs)))

(defn split-crowded
  "fig with its one panel split into small multiples when it holds more than
  `max-series` data series whose layers have the same kinds: panels of at most
  that many series each (in order), each titled by its first and last series
  and keeping the reference layers of the original. Figures of several panels
  (already faceted) are returned as they are."
  [fig]
  (let [panels (:panels fig)
        layers (:layers (first panels))
        names (data-series layers)
        by-series (group-by :series (remove reference? layers))
        shapes (distinct (map (fn [nm] (mapv signature (get by-series nm))) names))]
    (if (or (not= 1 (count panels)) (<= (count names) (long max-series)) (not= 1 (count shapes)))
      fig
      (let [refs (filterv reference? layers)
            title (:title (first panels))
            groups (chunks names max-series)
            per-series (count (first shapes))
            width (* per-series (count (first groups)))]
        (assoc fig :panels
               (vec (for [group groups
                          :let [in (set group)
                                data (filterv #(and (not (reference? %)) (in (:series %))) layers)
                                ;; every panel has the same layers in the same order:
                                ;; a shorter group is padded with empty copies of its last series
                                pad (map #(assoc % :points []) (take-last per-series data))]]
                      {:title (str (when title (str title ": ")) (first group)
                                   (when (next group) (str " … " (last group))))
                       :layers (-> data
                                   (into (take (- width (count data)) (cycle pad)))
                                   (into refs))})))))))

;; ---------------------------------------------------------------- draw order

(defn- rank
  "The drawing rank of a layer: fills 0, faint dots (single replicates) 1, data
  lines and points 2, dashed lines and overlays 3, rules 4."
  ^long [layer]
  (cond (#{:rule :x-rule} (:mark layer)) 4
        (reference? layer) 3
        (#{:band :bar} (:mark layer)) 0
        (:faint? layer) 1
        :else 2))

(defn variation
  "The total variation of a polyline's y (in log10 when log-y?): how much ink it
  lays down across the panel."
  ^double [points log-y?]
  (let [ys (map (fn [[_ y]] (let [y (double y)] (if log-y? (Math/log10 y) y))) points)]
    (double (reduce + 0.0 (map (fn [^double a ^double b] (Math/abs (- b a))) ys (rest ys))))))

(defn- busiest-first
  "layers with the solid data lines of each signature reordered among their own
  positions, largest `variation` first."
  [layers log-y?]
  (let [movable? (fn [l] (and (= :line (:mark l)) (not (reference? l))))
        groups (group-by signature (filter movable? layers))
        sorted (update-vals groups (fn [ls] (sort-by #(- (variation (:points %) log-y?)) ls)))]
    (first (reduce (fn [[out left] l]
                     (if (movable? l)
                       (let [sig (signature l)]
                         [(conj out (first (get left sig))) (update left sig rest)])
                       [(conj out l) left]))
                   [[] sorted] layers))))

(defn order-layers
  "The layers of a panel in drawing order: by rank (fills, faint dots, data,
  dashed overlays, rules; stable within a rank), the busiest solid lines first."
  [layers log-y?]
  (busiest-first (vec (sort-by rank layers)) log-y?))

;; ---------------------------------------------------------------- line widths, transparency, dashes

(defn line-style
  "{:stroke-width :opacity} for data lines when n data series share a panel:
  2 px opaque for up to 3, thinner and partly transparent beyond."
  [^long n]
  (cond (<= n 3) {:stroke-width 2.0 :opacity 1.0}
        (<= n 6) {:stroke-width 1.5 :opacity 0.85}
        :else {:stroke-width 1.2 :opacity 0.7}))

(defn distinct-dashes
  "{series dash} for the line series of layers (of every panel) that would look
  like an earlier one: each line series after the first of one color (by
  color-of, which turns a layer's :color into the color drawn) and one dash, or
  with the same points and dash as an earlier one (drawn over it, it would hide
  it), gets the next unused pattern of `dash-patterns`."
  [layers color-of]
  (let [lines (filter #(= :line (:mark %)) layers)
        first-of (reduce (fn [m l] (if (contains? m (:series l)) m (assoc m (:series l) l))) {} lines)]
    ;; a new pattern is one no series uses yet, nor will keep later
    (loop [names (distinct (map :series lines)) seen #{} used (set (map :dash (vals first-of))) out {}]
      (if-let [nm (first names)]
        (let [{:keys [color dash points]} (first-of nm)
              color (color-of color)]
          ;; alike: the same color and dash, or the same points and dash (one would hide the other)
          (if (or (contains? seen [color dash]) (and (seq points) (contains? seen [points dash])))
            (let [new (or (first (remove used dash-patterns)) dash)]
              (recur (rest names) (conj seen [color new] [points new]) (conj used new) (assoc out nm new)))
            (recur (rest names) (conj seen [color dash] [points dash]) used out)))
        out))))

(defn arrange
  "fig (cleaned figure data) split into small multiples when crowded, each
  panel's layers in drawing order with distinct dashes, and its data lines
  styled for the number of series they share a panel with (the most of any
  panel, so every panel looks alike). color-of turns a layer's :color into the
  color drawn (dlnlab.figure/color-of)."
  [fig color-of]
  (let [fig (split-crowded fig)
        log-y? (boolean (get-in fig [:y :log?]))
        n (long (reduce max 0 (map #(count (data-series (:layers %))) (:panels fig))))
        style (line-style n)
        dashes (distinct-dashes (mapcat :layers (:panels fig)) color-of)
        restyle (fn [l]
                  (cond-> l
                    (and (= :line (:mark l)) (not (reference? l))) (->> (merge style))
                    (and (= :line (:mark l)) (contains? dashes (:series l))) (assoc :dash (get dashes (:series l)))))]
    (update fig :panels
            (fn [ps] (mapv (fn [p] (update p :layers (fn [ls] (mapv restyle (order-layers ls log-y?))))) ps)))))
