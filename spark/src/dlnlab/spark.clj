(ns dlnlab.spark
  "The Spark engine of sweeps (issue 15), outside the library: on the
  classpath only with the :spark profile (lein with-profile +spark ...) or in
  target/dlnlab-spark.jar (bin/dlnlab builds it on the first --engine spark).
  `engine` returns a function with the contract of dlnlab.sweep/sweep, for
  dlnlab.store/run-sweep!'s :engine option: each point to run travels to an
  executor as EDN text, runs the ordinary dlnlab.experiment/run there and comes
  back as EDN text as soon as its task finishes; the driver writes its run
  directory atomically as the in-process engine does, so the files are the
  same byte for byte (timings aside) and a retried task writes nothing twice.
  `write-parquet-tables!` adds summary.parquet and aggregate.parquet beside the
  CSV tables, written by Spark's own Parquet writer on the driver."
  (:require [clojure.data.csv :as csv]
            [clojure.edn :as edn]
            [clojure.java.io :as io]
            [dlnlab.experiment :as experiment]
            [dlnlab.io :as dio]
            [dlnlab.spec :as spec]
            [dlnlab.summary :as summary]
            [dlnlab.sweep :as sweep])
  (:import [dlnlab.spark PointJob RunPoint]
           [java.io File]
           [java.util List]
           [java.util.concurrent Callable Executors Future LinkedBlockingQueue TimeUnit]
           [java.util.concurrent.atomic AtomicBoolean]
           [org.apache.spark FutureAction SparkConf]
           [org.apache.spark.api.java JavaSparkContext]
           [org.apache.spark.sql Dataset Row RowFactory SparkSession]
           [org.apache.spark.sql.types DataType DataTypes StructField StructType]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn run-point-edn
  "Runs the point described by the EDN text s ({:index :base :point :seeds
  :run-opts}) and returns {:index :result} as EDN text (a run that throws
  gives {:status :failed :error message}, as in dlnlab.sweep/sweep). Called
  on the executors through dlnlab.spark.RunPoint."
  ^String [^String s]
  (let [{:keys [index base point seeds run-opts]} (edn/read-string s)
        exp (sweep/point-experiment base point seeds)
        r (try (experiment/run exp (or run-opts {}))
               (catch Exception e {:experiment exp :status :failed :error (ex-message e)}))]
    (dio/edn-str {:index index :result r})))

(defn spark-conf
  "The SparkConf of a dlnlab application: the spark.* system properties
  (spark-submit sets them), then master (when given; else spark.master, else
  local[2]), jars to ship to the executors and the settings of conf (a map of
  Spark keys to values)."
  ^SparkConf [{:keys [master jars conf app-name] :or {app-name "dlnlab sweep"}}]
  (let [c (SparkConf. true)]
    (.setAppName c ^String app-name)
    (cond master (.setMaster c ^String master)
          (not (.contains c "spark.master")) (.setMaster c "local[2]"))
    (when (seq jars) (.setJars c ^"[Ljava.lang.String;" (into-array String (map str jars))))
    (doseq [[k v] conf] (.set c (str k) (str v)))
    c))

(defn- drain!
  "Hands the results of job (EDN texts from queue) to handle! as they come,
  until the job is over; cancels the job when interrupt is set. Rethrows the
  job's failure."
  [^FutureAction job ^LinkedBlockingQueue queue handle! ^AtomicBoolean interrupt]
  (loop []
    (if (and interrupt (.get interrupt))
      (.cancel job)
      (if-let [s (.poll queue 200 TimeUnit/MILLISECONDS)]
        (do (handle! s) (recur))
        (if (.isCompleted job)
          (if (.isEmpty queue) (.get job) (recur))
          (recur))))))

(defn engine
  "A sweep engine running points as Spark tasks (see the namespace docstring),
  one task per point, in one Spark application per call.
  Options: :master (\"local[2]\"; \"spark://host:port\" for a standalone
  cluster; without it spark.master when spark-submit set it), :jars (jars to
  ship to the executors: target/dlnlab-spark.jar), :conf (more Spark settings,
  {\"spark.ui.enabled\" \"false\"}), :writers (4) threads on the driver that
  read the results and hand them to :on-result, which writes their files (a
  driver writing one point at a time would cap a large cluster's rate).
  The returned (fn [base grid opts]) takes the options of dlnlab.sweep/sweep
  that run-sweep! gives (:seeds :zip :skip? :on-result; :run-opts, whose
  :interrupt cancels the Spark job) and returns nil once every result it
  received is handled. :on-result is called from the writer threads, as the
  tasks finish."
  [opts]
  (fn [base grid {:keys [seeds zip skip? on-result run-opts]}]
    (let [points (sweep/grid-points grid zip)
          todo (vec (keep-indexed
                     (fn [i point]
                       (when-not (and skip? (skip? i point))
                         (spec/normalize (sweep/point-experiment base point seeds))
                         (dio/edn-str {:index i :base base :point point :seeds (or seeds :derived)
                                       :run-opts (dissoc run-opts :interrupt :progress :on-record)})))
                     points))]
      (when (seq todo)
        (let [sc (JavaSparkContext. (spark-conf opts))
              queue (LinkedBlockingQueue.)
              writers (Executors/newFixedThreadPool (int (max 1 (long (or (:writers opts) 4)))))
              pending (java.util.ArrayList.)
              handle (fn [^String s]
                       (let [{:keys [index result]} (edn/read-string s)
                             point (nth points index)]
                         (on-result index point (assoc result :sweep {:index index :point (into {} point)}))))]
          (try
            (drain! (PointJob/submit sc ^List todo (RunPoint. "dlnlab.spark" "run-point-edn") queue)
                    queue
                    (fn [s] (.add pending (.submit writers ^Callable #(handle s))))
                    (:interrupt run-opts))
            (doseq [^Future f pending] (.get f))
            (finally
              (.shutdown writers)
              (.stop sc))))))
    nil))

;; ---------------------------------------------------------------- Parquet tables

(defn- parse-cell
  "The value of one CSV cell of a tidy table under type t (:long :double
  :boolean :string); nil for an empty cell."
  [t ^String s]
  (when-not (= "" s)
    (case t
      :long (Long/parseLong s)
      :double (case s "Inf" Double/POSITIVE_INFINITY "-Inf" Double/NEGATIVE_INFINITY (Double/parseDouble s))
      :boolean (Boolean/parseBoolean s)
      :string s)))

(defn- long-text? [^String s]
  (try (Long/parseLong s) true (catch NumberFormatException _ false)))

(defn- cell-type
  "The narrowest of :long :double :boolean :string that reads the non-empty
  cell s; nil for an empty one."
  [^String s]
  (cond (= "" s) nil
        (long-text? s) :long
        (or (#{"NaN" "Inf" "-Inf"} s) (re-matches #"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?" s)) :double
        (#{"true" "false"} s) :boolean
        :else :string))

(defn column-types
  "The type of each column of a CSV table (header, rows of strings) as a
  keyword: :long when every non-empty cell is an integer, :double when each is
  a number (NaN, Inf, -Inf included), :boolean for true/false, else :string;
  a column of empty cells has the type its name has in the tidy tables
  (dlnlab.summary/column-type), :string when the name is not one of theirs."
  [header rows]
  (vec (for [j (range (count header))]
         (let [ts (set (keep #(cell-type (nth % j)) rows))]
           (cond (empty? ts) (or (summary/column-type (nth header j)) :string)
                 (= ts #{:long}) :long
                 (every? #{:long :double} ts) :double
                 (= ts #{:boolean}) :boolean
                 :else :string)))))

(def ^:private spark-type
  {:long DataTypes/LongType :double DataTypes/DoubleType :boolean DataTypes/BooleanType :string DataTypes/StringType})

(defn- csv-dataset
  "The CSV table in file f as a Spark Dataset, one typed column per CSV column
  (`column-types`), the rows in file order."
  ^Dataset [^SparkSession session ^File f]
  (let [[header & rows] (with-open [r (io/reader f)] (doall (csv/read-csv r)))
        types (column-types header rows)
        schema (StructType. ^"[Lorg.apache.spark.sql.types.StructField;"
                            (into-array StructField (map (fn [^String c t] (DataTypes/createStructField c ^DataType (spark-type t) true))
                                                         header types)))
        data (map (fn [row] (RowFactory/create (object-array (map parse-cell types row)))) rows)]
    (.createDataFrame session ^List (java.util.ArrayList. ^java.util.Collection data) schema)))

(defn- write-parquet-file!
  "Writes dataset ds as the single Parquet file target with Spark's writer:
  into a staging directory beside target, whose one part file then replaces
  target in one rename."
  [^Dataset ds ^File target]
  (let [staging (io/file (.getParentFile target) (str "." (.getName target) ".staging-" (System/nanoTime)))]
    (try
      (.parquet (.mode (.write (.coalesce ds 1)) "overwrite") (str staging))
      (let [part (first (filter #(re-matches #"part-.*\.parquet" (.getName ^File %)) (.listFiles staging)))]
        (dio/move-atomically! part target))
      (finally
        (doseq [^File f (reverse (file-seq staging))] (.delete f))))
    target))

(defn write-parquet-tables!
  "Writes dir/summary.parquet and dir/aggregate.parquet, the tidy tables of a
  sweep directory (its summary.csv and aggregate.csv, which must exist) as
  typed Parquet columns (`column-types`; empty cells are nulls), each one file
  written by Spark's Parquet writer in a local Spark session on this machine
  (the driver), so no executor needs to reach dir. Returns the paths written."
  [dir]
  (let [session (-> (SparkSession/builder) (.master "local[1]") (.appName "dlnlab tables")
                    (.config "spark.ui.enabled" "false") (.getOrCreate))]
    (try
      (vec (for [t ["summary" "aggregate"]
                 :let [csv-file (io/file dir (str t ".csv"))]
                 :when (.exists csv-file)]
             (str (write-parquet-file! (csv-dataset session csv-file) (io/file dir (str t ".parquet"))))))
      (finally (.stop session)))))
