(ns dlnlab.bench.spark
  "Benchmark of the sweep engines (issue 15, item 7): one 200-point sweep of
  short runs through the in-process pool, Spark local[2] and a 2-worker
  standalone cluster on this machine (dlnlab.spark.cluster; one core per
  Worker), each into a fresh directory, all in the same run.

  For each engine: the wall time of run-sweep! (start-up included), the time
  to the first point written (start-up: the Spark application, its executors,
  loading dlnlab on them), the steady rate from the first point written to the
  last (points/s), and from it the cost of one point per slot (slots / rate)
  and its overhead over the pool's (what a point costs beyond its run). The
  driver's own time per point (reading the result, writing its files) is
  measured too: it bounds the rate of any cluster, since the driver writes
  every point's files.

  Projection for a 10^4-point sweep of such runs on M machines of this
  machine's kind (2 cores, one executor slot each): start-up + max(10^4 x
  cost per point / (2M), 10^4 x driver time per point / 4 driver writer
  threads), with the standalone cluster's measured start-up, cost and driver
  time.

  Run: lein with-profile +spark run -m dlnlab.bench.spark [--points N].
  Prints a Markdown report and writes it to bench/out/spark.md."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [dlnlab.spark :as spark]
            [dlnlab.spark.cluster :as cluster]
            [dlnlab.store :as store])
  (:import [java.nio.file Files]
           [java.nio.file.attribute FileAttribute]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- log [& xs] (binding [*out* *err*] (apply println xs) (flush)))

(defn- bench-sweep
  "n points: n/2 learning rates x 2 replicates of a short run of a small chain."
  [^long n]
  (store/normalize-sweep
   {:base {:seed 11
           :model {:kind :chain :depth 3 :width 4 :init {:kind :gaussian :std 0.3}}
           :task {:kind :matrix-factorization :singular-values [2.0 1.0 0.5] :dims [4 4]}
           :optimizer {:kind :gd :lr 0.1}
           :steps 100
           :record {:every 10 :metrics [:loss :sharpness]}}
    :grid {[:optimizer :lr] (vec (for [i (range (quot n 2))] (+ 0.01 (* 0.001 (double i)))))}
    :replicates 2}))

(defn- timed-engine
  "engine (nil: the pool) whose driver-side handling of each result is timed
  into the atom spent (nanoseconds, summed)."
  [engine spent]
  (when engine
    (fn [base grid opts]
      (engine base grid (update opts :on-result
                                (fn [g] (fn [i p r]
                                          (let [t (System/nanoTime)]
                                            (g i p r)
                                            (swap! spent + (- (System/nanoTime) t))))))))))

(defn- measure
  "Runs sweep sw into a fresh directory under root with engine (nil: the pool
  with 2 jobs): {:wall :first :rate :driver} in seconds and points/s."
  [sw root label engine]
  (let [dir (io/file root label)
        stamps (atom [])
        spent (atom 0)
        t0 (System/nanoTime)
        r (store/run-sweep! sw dir {:jobs 2 :engine (timed-engine engine spent) :log (fn [_])
                                    :on-result (fn [_ _] (swap! stamps conj (System/nanoTime)))})
        wall (/ (- (System/nanoTime) t0) 1e9)
        ts (sort @stamps)
        n (count ts)
        first-s (/ (- (long (first ts)) t0) 1e9)
        span (/ (- (long (last ts)) (long (first ts))) 1e9)]
    (when-not (= n (count (:ran r)) (:points r))
      (throw (ex-info (str label ": ran " (count (:ran r)) " of " (:points r) " points") {})))
    (log (format "%-22s wall %.1f s, first point at %.1f s" label wall first-s))
    {:label label :points n :wall wall :first first-s :rate (/ (dec n) span)
     :driver (when engine (/ (double @spent) 1e9 n))}))

(defn- projection
  "Projected wall seconds of n points on m machines of 2 slots from measurement x."
  ^double [{:keys [^double first ^double rate driver]} ^long n ^long m]
  (let [cost (/ 2.0 rate)]
    (+ first (max (/ (* n cost) (* 2.0 m)) (/ (* n (double (or driver 0.0))) 4.0)))))

(defn report
  "The Markdown report of the measurements ms (pool first)."
  [ms n]
  (let [pool-cost (/ 2.0 (double (:rate (first ms))))
        cl (last ms)]
    (str/join
     "\n"
     (concat
      [(str "# Sweep engines: " n " points of short runs (2 slots each)")
       ""
       "| engine | wall s | start-up s | points/s | s per point per slot | overhead per point s | driver s per point |"
       "|---|---|---|---|---|---|---|"]
      (for [{:keys [label wall first rate driver]} ms
            :let [cost (/ 2.0 (double rate))]]
        (format "| %s | %.1f | %.1f | %.1f | %.4f | %.4f | %s |" label wall first rate cost (- cost pool-cost)
                (if driver (format "%.4f" (double driver)) "-")))
      [""
       (format "Projected wall time of 10^4 such points from the standalone cluster's numbers (start-up %.0f s, %.4f s per point per slot, driver %.4f s per point on each of 4 writer threads), on machines of 2 slots:"
               (double (:first cl)) (/ 2.0 (double (:rate cl))) (double (:driver cl)))
       ""
       "| machines | projected wall |"
       "|---|---|"]
      (for [m [10 100]]
        (format "| %d | %.0f s |" m (projection cl 10000 m)))
      [""]))))

(defn -main [& args]
  (let [n (or (some-> (second (drop-while #(not= "--points" %) args)) Long/parseLong) 200)
        sw (bench-sweep n)
        root (.toFile (Files/createTempDirectory "dlnlab-bench-spark" (make-array FileAttribute 0)))
        jar (cluster/app-jar! (io/file root "app.jar"))
        conf {"spark.ui.enabled" "false" "spark.driver.host" "127.0.0.1" "spark.driver.bindAddress" "127.0.0.1"
              "spark.scheduler.minRegisteredResourcesRatio" "1.0"}]
    (try
      (let [ms [(measure sw root "in-process pool" nil)
                (measure sw root "Spark local[2]" (spark/engine {:master "local[2]" :conf conf}))
                (cluster/with-cluster [c {:workers 2}]
                  (measure sw root "standalone, 2 workers" (spark/engine {:master (:url c) :jars [jar] :conf conf})))]
            text (report ms n)]
        (println text)
        (io/make-parents "bench/out/spark.md")
        (spit "bench/out/spark.md" text))
      (finally (cluster/delete-tree! root)))
    (shutdown-agents)))
