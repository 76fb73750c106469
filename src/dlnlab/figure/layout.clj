(ns dlnlab.figure.layout
  "How several runs share a figure: panels and series from the grid
  coordinates of a sweep (`sweep-layout`, `sweep-panels`), the label of a
  setting (`setting-label`), and replicates (runs differing only in their seed)
  drawn as a median line with a band and faint dots (`replicate-layers`), with
  subtitles that count series and replicates truthfully."
  (:require [clojure.string :as str]
            [dlnlab.figure :refer [finite? fmt-value]]
            [dlnlab.result :as result]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------- colors in order

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

;; ---------------------------------------------------------------- the learning-rate axis

(defn lr-title
  "The title of a learning-rate axis drawing the runs rs at kind :raw (the
  optimizer's :lr) or :effective (times the parameterization's multiplier):
  \"learning rate η\" when the two agree for every run, so sweep figures of
  standard runs are labelled alike whichever they draw."
  [kind rs]
  (cond
    (every? #(let [b (result/base-lr %) e (result/effective-lr %)] (and b e (== (double b) (double e)))) rs)
    "learning rate η"
    (= kind :raw) "learning rate (base lr, before the parameterization's multiplier)"
    :else "learning rate η (effective)"))
