(ns dlnlab.store.tables
  "The tables dlnlab.store writes beside results: a result's JSON twin
  (`result-json`) and a sweep's tidy tables (`write-tables!`: summary.csv,
  aggregate.csv, trajectories.csv)."
  (:require [clojure.data.csv :as csv]
            [clojure.data.json :as json]
            [clojure.java.io :as io]
            [dlnlab.io :as dio]
            [dlnlab.summary :as summary])
  (:import [java.io File Writer]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- json-ready
  "v as JSON data: keywords and symbols as strings (with their namespace), map
  keys as strings (a key path [:optimizer :lr] as optimizer.lr), NaN and the
  infinities as the strings NaN, Infinity and -Infinity, sets and sequences as
  arrays, other numbers as they are."
  [v]
  (cond (or (nil? v) (boolean? v) (string? v)) v
        (or (instance? Double v) (instance? Float v))
        (let [d (double v)]
          (cond (Double/isNaN d) "NaN" (Double/isInfinite d) (if (pos? d) "Infinity" "-Infinity") :else v))
        (ratio? v) (double v)
        (number? v) v
        (or (keyword? v) (symbol? v)) (if (namespace v) (str (namespace v) "/" (name v)) (name v))
        (map? v) (into {} (for [[k x] v]
                            [(cond (vector? k) (summary/column-name k)
                                   (or (keyword? k) (symbol? k)) (json-ready k)
                                   :else (str k))
                             (json-ready x)]))
        (coll? v) (mapv json-ready v)
        :else (str v)))

(defn result-json
  "The JSON text of a result (what result.json holds; see `json-ready`)."
  ^String [result]
  (json/write-str (json-ready result) :escape-unicode false :escape-slash false))

(defn- trajectory-header [^File f]
  (with-open [r (io/reader f)] (first (csv/read-csv r))))

(defn- write-trajectories!
  "Writes dir/trajectories.csv: every point's trajectory.csv (rows as summary
  maps, those with a dir) in long format, the point's index, coordinates,
  replicate and seed first; columns the union of the runs' in first-seen order."
  [dir grid rows]
  (let [rows (filter #(seq (get % "dir")) rows)
        file-of (fn [row] (io/file dir "runs" (get row "dir") "trajectory.csv"))
        lead (concat ["index"] (map summary/column-name (summary/coordinate-paths grid)) ["replicate" "seed"])
        cols (vec (distinct (mapcat #(trajectory-header (file-of %)) rows)))]
    (dio/write-atomically!
     (io/file dir "trajectories.csv")
     (fn [^Writer w]
       (dio/write-csv w (concat lead cols) nil)
       (doseq [row rows]
         (with-open [r (io/reader (file-of row))]
           (let [[header & body] (csv/read-csv r)
                 at (into {} (map-indexed (fn [i c] [c i]) header))
                 prefix (map #(get row %) lead)]
             (dio/write-csv-rows w (map (fn [line] (concat prefix (map #(some->> (at %) (nth line)) cols))) body)))))))))

(defn write-tables!
  "Writes the tidy tables of a sweep into dir from its summary rows (maps from
  dlnlab.summary/tidy-row, in index order) of a sweep over grid (dlnlab.store/
  sweep-grid): summary.csv, aggregate.csv and trajectories.csv (`dlnlab
  describe outputs` lists their columns). Returns the paths."
  [grid dir rows]
  (let [header (summary/tidy-header grid rows)
        [agg-header agg-rows] (summary/aggregate-table grid header rows)
        path #(str (io/file dir %))]
    (dio/write-atomically! (path "summary.csv")
                           (fn [^Writer w] (dio/write-csv w header (map (fn [r] (map #(get r %) header)) rows))))
    (dio/write-atomically! (path "aggregate.csv") (fn [^Writer w] (dio/write-csv w agg-header agg-rows)))
    (write-trajectories! dir grid rows)
    {:summary (path "summary.csv") :aggregate (path "aggregate.csv") :trajectories (path "trajectories.csv")}))
