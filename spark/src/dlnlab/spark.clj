(ns dlnlab.spark
  "The Spark engine of sweeps (issue 15), outside the library: on the
  classpath only with the :spark profile (lein with-profile +spark ...).
  `engine` returns a function with the contract of dlnlab.sweep/sweep, for
  dlnlab.store/run-sweep!'s :engine option: each point to run travels to an
  executor as EDN text, runs the ordinary dlnlab.experiment/run there and comes
  back as EDN text; the driver writes its run directory atomically as the
  in-process engine does, so the files are the same byte for byte (timings
  aside) and a retried task writes nothing twice."
  (:require [clojure.edn :as edn]
            [dlnlab.experiment :as experiment]
            [dlnlab.io :as dio]
            [dlnlab.spec :as spec]
            [dlnlab.sweep :as sweep])
  (:import [dlnlab.spark RunPoint]
           [java.util List]
           [org.apache.spark SparkConf]
           [org.apache.spark.api.java JavaRDD JavaSparkContext]))

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

(defn engine
  "A sweep engine running points as Spark tasks (see the namespace docstring).
  Options: :master (\"local[2]\"; \"spark://host:port\" for a standalone
  cluster), :jars (jars to ship to the executors, e.g. target/dlnlab-spark.jar).
  The returned (fn [base grid opts]) takes the options of dlnlab.sweep/sweep
  that run-sweep! gives (:seeds :skip? :on-result; :run-opts without
  :interrupt) and returns nil."
  [{:keys [master jars] :or {master "local[2]"}}]
  (fn [base grid {:keys [seeds skip? on-result run-opts]}]
    (let [points (sweep/grid-points grid)
          todo (vec (keep-indexed
                     (fn [i point]
                       (when-not (and skip? (skip? i point))
                         (spec/normalize (sweep/point-experiment base point seeds))
                         (dio/edn-str {:index i :base base :point point :seeds (or seeds :derived)
                                       :run-opts (dissoc run-opts :interrupt :progress :on-record)})))
                     points))]
      (when (seq todo)
        (let [conf (cond-> (-> (SparkConf.) (.setAppName "dlnlab sweep") (.setMaster ^String master))
                     (seq jars) (.setJars ^"[Ljava.lang.String;" (into-array String jars)))
              sc (JavaSparkContext. conf)]
          (try
            (let [^JavaRDD rdd (.map (.parallelize sc ^List todo (int (count todo))) (RunPoint. "dlnlab.spark" "run-point-edn"))
                  it (.toLocalIterator rdd)]
              (doseq [^String s (iterator-seq it)]
                (let [{:keys [index result]} (edn/read-string s)
                      point (nth points index)]
                  (on-result index point (assoc result :sweep {:index index :point (into {} point)})))))
            (finally (.stop sc))))))
    nil))
