(ns dlnlab.spark-test
  "The Spark engine (lein with-profile +spark test :only dlnlab.spark-test):
  a sweep run on Spark local[2] writes the same files as the in-process pool,
  byte for byte but for timings; resume works across engines; the Parquet
  tables hold what summary.csv and aggregate.csv hold, typed. (The standalone
  cluster: dlnlab.spark-cluster-test.)"
  (:require [clojure.data.csv :as csv]
            [clojure.edn :as edn]
            [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [dlnlab.cli-runner :as runner]
            [dlnlab.spark :as spark]
            [dlnlab.spark.cluster :as cluster]
            [dlnlab.store :as store]
            [dlnlab.temp-dir :as temp-dir :refer [path]])
  (:import [org.apache.spark.sql Row SparkSession]
           [org.apache.spark.sql.types StructField]))

(set! *warn-on-reflection* true)

(use-fixtures :each (temp-dir/fixture "dlnlab-spark-test"))

(def ^:private tiny-sweep
  (store/normalize-sweep
   {:base {:seed 3
           :model {:kind :chain :depth 2 :width 3 :init {:kind :gaussian :std 0.3}}
           :task {:kind :matrix-factorization :singular-values [2.0 1.0] :dims [3 3]}
           :optimizer {:kind :gd :lr 0.1}
           :steps 30
           :record {:every 5 :metrics [:loss :sharpness :modes]}}
    :grid {[:optimizer :lr] [0.05 0.1 1.3]}
    :replicates 2}))

(deftest spark-local-writes-what-the-pool-writes
  (let [pool (path "pool")
        on-spark (path "spark")
        engine (spark/engine {:master "local[2]"})]
    (store/run-sweep! tiny-sweep pool {:jobs 2 :log (fn [_])})
    (testing "half the points on the pool, the rest on Spark: resume across engines"
      (store/run-sweep! tiny-sweep on-spark {:jobs 1 :shard [1 2] :log (fn [_])})
      (let [r (store/run-sweep! tiny-sweep on-spark {:engine engine :log (fn [_])})]
        (is (= 3 (:skipped r)))
        (is (= [1 3 5] (map :index (:ran r))))))
    (is (= (runner/files-under (io/file pool)) (runner/files-under (io/file on-spark))))
    (doseq [f (runner/files-under (io/file pool))]
      (is (= (runner/untimed (io/file pool f)) (runner/untimed (io/file on-spark f))) f))
    (testing "every point on Spark"
      (let [all (path "all-spark")]
        (store/run-sweep! tiny-sweep all {:engine engine :log (fn [_])})
        (doseq [f (runner/files-under (io/file pool))]
          (is (= (runner/untimed (io/file pool f)) (runner/untimed (io/file all f))) f))))))

(defn- read-parquet
  "[{column type-name} rows] of the Parquet file f, read back by Spark: the
  schema and every row as a vector of values."
  [f]
  (let [session (-> (SparkSession/builder) (.master "local[1]") (.config "spark.ui.enabled" "false") (.getOrCreate))]
    (try
      (let [ds (.parquet (.read session) ^"[Ljava.lang.String;" (into-array String [(str f)]))
            fields (.fields (.schema ds))]
        [(into {} (map (fn [^StructField c] [(.name c) (.typeName (.dataType c))]) fields))
         (mapv (fn [^Row r] (mapv #(.get r (int %)) (range (count fields)))) (.collectAsList ds))])
      (finally (.stop session)))))

(defn- same-cell?
  "True when the CSV text s and the Parquet value v are the same datum."
  [^String s v]
  (cond (nil? v) (= "" s)
        (instance? Double v) (let [d (double v)]
                               (if (Double/isNaN d) (= "NaN" s)
                                   (== d (double (case s "Inf" Double/POSITIVE_INFINITY "-Inf" Double/NEGATIVE_INFINITY
                                                   (Double/parseDouble s))))))
        (instance? Long v) (= (Long/parseLong s) v)
        (instance? Boolean v) (= (str v) s)
        :else (= s v)))

(deftest parquet-tables-hold-the-csv-tables-typed
  (let [dir (path "sweep")]
    (store/run-sweep! tiny-sweep dir {:engine (spark/engine {:master "local[2]"}) :log (fn [_])})
    (is (= [(path "sweep" "summary.parquet") (path "sweep" "aggregate.parquet")] (spark/write-parquet-tables! dir)))
    (is (= ["aggregate.csv" "aggregate.parquet" "summary.csv" "summary.parquet" "sweep.edn" "trajectories.csv"]
           (sort (map #(.getName ^java.io.File %) (filter #(.isFile ^java.io.File %) (.listFiles (io/file dir))))))
        "one file per table, no staging left")
    (doseq [t ["summary" "aggregate"]]
      (let [[header & rows] (csv/read-csv (slurp (io/file dir (str t ".csv"))))
            [types prows] (read-parquet (io/file dir (str t ".parquet")))]
        (testing (str t ": the columns and rows of the CSV table, in order")
          (is (= (set header) (set (keys types))))
          (is (= (count rows) (count prows)))
          (doseq [[row prow] (map vector rows prows)
                  [j s v] (map vector (range) row prow)]
            (is (same-cell? s v) (str t " " (nth header j) ": " (pr-str s) " vs " (pr-str v)))))
        (when (= t "summary")
          (testing "one type per quantity"
            (is (= {"index" "long" "optimizer.lr" "double" "seed" "long" "replicate" "long" "status" "string"
                    "final_loss" "double" "final_sharpness" "double" "mode_1_learned_step" "long"}
                   (select-keys types ["index" "optimizer.lr" "seed" "replicate" "status" "final_loss"
                                       "final_sharpness" "mode_1_learned_step"])))))))))

(deftest column-types-are-the-narrowest-that-read-every-cell
  (is (= [:long :double :double :boolean :string :string]
         (spark/column-types ["a" "b" "c" "d" "e" "f"]
                             [["-4967729108592344819" "1" "NaN" "true" "x" ""]
                              ["-20" "2.5e-3" "-Inf" "" "1" ""]
                              ["" "1.0E10" "Inf" "false" "true" ""]])))
  (testing "a column with no value takes the type its name has in the tidy tables"
    (is (= [:double :long :double :long :boolean :string :string]
           (spark/column-types ["final_loss_sd" "final_loss_count" "mode_2_largest_share" "mode_2_learned_step"
                                "loss_converged" "error" "model.width"]
                               [["" "" "" "" "" "" ""]])))))

(deftest an-interrupt-cancels-the-spark-job
  (let [flag (java.util.concurrent.atomic.AtomicBoolean. false)
        dir (path "stopped")
        r (store/run-sweep! tiny-sweep dir {:engine (spark/engine {:master "local[1]"}) :interrupt flag :log (fn [_])
                                            :on-result (fn [_ _] (.set flag true))})]
    (is (:interrupted? r))
    (is (< 0 (count (:ran r)) 6) "the job stops before its last point")
    (is (= (count (:ran r)) (count (.listFiles (io/file dir "runs")))) "every point handled is written")))

(deftest the-command-line-runs-a-sweep-on-spark
  (let [f (path "sw.edn")
        _ (spit f (pr-str (dissoc tiny-sweep :replicates)))
        {:keys [code out err]} (runner/run-cli false ["sweep" f "--out" (path "cli") "--engine" "spark" "--master" "local[2]" "--no-plots"])]
    (is (= 0 code) err)
    (is (re-find #"ran 3 points \(2 completed, 1 diverged\)" out) out)
    (is (re-find #"wrote: .*\baggregate\.parquet\b" out) out)
    (is (re-find #"wrote: .*\bsummary\.parquet\b" out) out)
    (is (.isFile (io/file (path "cli") "summary.parquet")))
    (is (= 3 (count (rest (str/split-lines (slurp (io/file (path "cli") "summary.csv")))))))
    (let [{:keys [code err]} (runner/run-cli false ["sweep" f "--out" (path "never") "--engine" "flink"])]
      (is (= 2 code))
      (is (re-find #"--engine must be local .* or spark" err)))))

(deftest deps-edn-spark-alias-matches-the-spark-profile
  (let [alias (get-in (edn/read-string (slurp "deps.edn")) [:aliases :spark])
        jars (set (map #(last (str/split % #"/")) (str/split (System/getProperty "java.class.path") #":")))]
    (doseq [[lib {:keys [mvn/version]}] (:extra-deps alias)]
      (is (contains? jars (str (name lib) "-" version ".jar")) (str lib " " version " is what the :spark profile resolves")))
    (is (= (set cluster/add-opens) (set (:jvm-opts alias))) "the JVM options Spark needs on Java 17")
    (doseq [p (:extra-paths alias)]
      (is (.isDirectory (io/file p)) p))))
