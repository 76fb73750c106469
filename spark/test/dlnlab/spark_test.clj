(ns dlnlab.spark-test
  "The Spark engine (lein with-profile +spark test :only dlnlab.spark-test):
  a sweep run on Spark local[2] writes the same files as the in-process pool,
  byte for byte but for timings; resume works across engines."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [dlnlab.cli-runner :as runner]
            [dlnlab.spark :as spark]
            [dlnlab.store :as store]
            [dlnlab.temp-dir :as temp-dir :refer [path]]))

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

(deftest the-command-line-runs-a-sweep-on-spark
  (let [f (path "sw.edn")
        _ (spit f (pr-str (dissoc tiny-sweep :replicates)))
        {:keys [code out err]} (runner/run-cli false ["sweep" f "--out" (path "cli") "--engine" "spark" "--master" "local[2]" "--no-plots"])]
    (is (= 0 code) err)
    (is (re-find #"ran 3 points \(2 completed, 1 diverged\)" out) out)
    (is (= 3 (count (rest (str/split-lines (slurp (io/file (path "cli") "summary.csv")))))))
    (let [{:keys [code err]} (runner/run-cli false ["sweep" f "--out" (path "never") "--engine" "flink"])]
      (is (= 2 code))
      (is (re-find #"--engine must be local .* or spark" err)))))
