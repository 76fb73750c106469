(ns dlnlab.spark-cluster-test
  "The Spark engine on a real standalone cluster started on this machine (a
  Master and two Workers, child processes bound to 127.0.0.1, from the Maven
  jars; see dlnlab.spark.cluster): a sweep writes the same files as the
  in-process pool, and still does when one Worker (with its executor) is
  killed in the middle of the sweep. ^:slow; .ci/run's Spark stage runs it:
    lein with-profile +spark test :only dlnlab.spark-cluster-test"
  (:require [clojure.java.io :as io]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [dlnlab.cli-runner :as runner]
            [dlnlab.spark :as spark]
            [dlnlab.spark.cluster :as cluster]
            [dlnlab.store :as store]
            [dlnlab.temp-dir :as temp-dir :refer [path]])
  (:import [java.io File]))

(set! *warn-on-reflection* true)

(use-fixtures :each (temp-dir/fixture "dlnlab-spark-cluster-test"))

(defn- sweep-of
  "A sweep of n-lr learning rates x 2 replicates of a small chain, steps long."
  [lrs steps]
  (store/normalize-sweep
   {:base {:seed 5
           :model {:kind :chain :depth 3 :width 4 :init {:kind :gaussian :std 0.3}}
           :task {:kind :matrix-factorization :singular-values [2.0 1.0 0.5] :dims [4 4]}
           :optimizer {:kind :gd :lr 0.1}
           :steps steps
           :record {:every 5 :metrics [:loss :sharpness :modes]}}
    :grid {[:optimizer :lr] lrs}
    :replicates 2}))

(defn- same-files?
  "Asserts that dirs a and b hold the same files with the same contents
  (result.edn/json without timings and provenance)."
  [a b]
  (is (= (runner/files-under (io/file a)) (runner/files-under (io/file b))))
  (doseq [f (runner/files-under (io/file a))]
    (is (= (runner/untimed (io/file a f)) (runner/untimed (io/file b f))) f)))

(defn- executor-logs
  "The stderr files of the executors worker i of cluster c has started."
  [c i]
  (filter #(= "stderr" (.getName ^File %)) (file-seq (io/file (:home c) (str "work-" i)))))

(defn- log-count [c i re]
  (reduce + (map #(count (re-seq re (slurp %))) (executor-logs c i))))

(defn- busy-worker
  "The index of a worker of c whose executor is running a task now (it has
  started more tasks than it finished), waiting for one; nil after timeout."
  [c]
  (let [deadline (+ (System/currentTimeMillis) 30000)]
    (loop []
      (or (first (filter #(> (long (log-count c % #"Running task")) (long (log-count c % #"Finished task")))
                         (range (count (:workers c)))))
          (when (< (System/currentTimeMillis) deadline)
            (Thread/sleep 20)
            (recur))))))

(defn- calling-after
  "engine whose :on-result also calls (f) once, after the n-th result."
  [engine n f]
  (fn [base grid opts]
    (let [seen (atom 0)]
      (engine base grid (update opts :on-result (fn [g] (fn [i p r] (g i p r) (when (= n (swap! seen inc)) (f)))))))))

(deftest ^:slow a-standalone-cluster-writes-what-the-pool-writes-though-a-worker-dies
  (let [jar (cluster/app-jar! (path "app.jar"))
        conf {"spark.ui.enabled" "false" "spark.driver.host" "127.0.0.1" "spark.driver.bindAddress" "127.0.0.1"
              ;; both executors up before the first task, so both take part
              "spark.scheduler.minRegisteredResourcesRatio" "1.0"}
        sw (sweep-of [0.02 0.03 0.04 0.05 0.06 0.07 0.08] 800)]
    (store/run-sweep! sw (path "pool") {:jobs 2 :log (fn [_])})
    (cluster/with-cluster [c {:workers 2}]
      (let [engine (spark/engine {:master (:url c) :jars [jar] :conf conf})
            killed (atom nil)
            both-ran (atom nil)
            kill #(let [i (busy-worker c)]
                    (reset! both-ran (every? (fn [w] (pos? (long (log-count c w #"Running task")))) [0 1]))
                    (reset! killed i)
                    (when i (cluster/kill! (nth (:workers c) i))))
            r (store/run-sweep! sw (path "cluster") {:engine (calling-after engine 2 kill) :log (fn [_])})
            survivor (when-let [i @killed] (- 1 (long i)))]
        (testing "both workers' executors ran points"
          (is @both-ran))
        (testing "a Worker killed with its executor mid-sweep: its point ran again on the other"
          (is (some? @killed) "a worker was running a point when it was killed")
          (is (not (.isAlive ^Process (nth (:workers c) @killed))))
          (is (pos? (long (log-count c survivor #"Running task \d+\.[1-9]"))) "a lost task ran again on the survivor"))
        (testing "every point ran once and wrote what the in-process pool wrote"
          (is (= 14 (count (:ran r))))
          (is (not-any? #(= :failed (:status %)) (:ran r)))
          (same-files? (path "pool") (path "cluster")))))))
