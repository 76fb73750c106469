(ns dlnlab.sweep-memory-test
  "A sweep holds only the summaries of its points in memory (issue 11, item 4):
  forty points whose results are about 4 MB each in memory (20 000 recorded
  rows) run to the end in a child JVM whose heap (96 MB) holds far fewer of
  them, and every point is on disk and in the summary. Before, a sweep kept
  every result and died of OutOfMemoryError halfway, writing no summary."
  (:require [clojure.data.csv :as csv]
            [clojure.java.io :as io]
            [clojure.test :refer [deftest is]]
            [dlnlab.child-jvm :refer [start-cli]]
            [dlnlab.temp-dir :as temp-dir :refer [path]])
  (:import [java.util.concurrent TimeUnit]))

(set! *warn-on-reflection* true)

(clojure.test/use-fixtures :each (temp-dir/fixture "dlnlab-sweep-memory-test"))

(def ^:private points 40)

(def ^:private sweep
  {:base {:seed 3
          :model {:kind :chain :depth 2 :width 4 :init {:kind :gaussian :std 0.2}}
          :task {:kind :matrix-factorization :singular-values [1.0 0.5 0.25] :dims [4 4]}
          :optimizer {:kind :gd :lr 0.05}
          :steps 20000
          :record {:every 1 :metrics [:loss :modes]}}
   :grid {[:optimizer :lr] (mapv #(+ 0.01 (* 0.001 (double %))) (range points))}})

(deftest ^:slow a-sweep-of-big-results-fits-a-small-heap
  (let [file (path "sweep.edn")
        _ (spit file (pr-str sweep))
        proc (start-cli "sweep" ["-Xmx96m"] "sweep" file "--out" (path "out") "--jobs" "2" "--no-plots" "--no-report")]
    (is (.waitFor proc 1800 TimeUnit/SECONDS) "the sweep ends")
    (is (= 0 (.exitValue proc)) (slurp (path "sweep.err")))
    (let [rows (with-open [r (io/reader (path "out" "summary.csv"))] (doall (csv/read-csv r)))
          status (.indexOf ^java.util.List (first rows) "status")]
      (is (= points (count (rest rows))) "one summary row per point")
      (is (every? #(= "completed" (nth % status)) (rest rows))))
    (is (= points (count (filter #(.exists (io/file ^java.io.File % "result.edn"))
                                 (.listFiles (io/file (path "out" "runs")))))))))
