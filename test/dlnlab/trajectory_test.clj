(ns dlnlab.trajectory-test
  "Trajectories written as they are recorded (issue 11, item 3): the streamed
  CSV is the one written from the whole trajectory afterwards, row for row,
  and is on disk after each row; with a sink the result keeps a bounded,
  evenly thinned part of the rows (always the last) and says how many the file
  holds; a vector metric that grows widens the header without losing a cell.
  A 10^6-step run recorded every step under a 256 MB heap is ^:slow."
  (:require [clojure.data.csv :as csv]
            [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [dlnlab.child-jvm :refer [start-cli]]
            [dlnlab.experiment :as experiment]
            [dlnlab.io :as dio]
            [dlnlab.store :as store]
            [dlnlab.temp-dir :as temp-dir :refer [path]]
            [dlnlab.trajectory :as trajectory])
  (:import [java.io StringWriter]
           [java.util.concurrent TimeUnit]))

(set! *warn-on-reflection* true)

(use-fixtures :each (temp-dir/fixture "dlnlab-trajectory-test"))

(def exp
  {:seed 4
   :model {:kind :chain :depth 3 :width 4 :init {:kind :gaussian :std 0.2}}
   :task {:kind :matrix-factorization :singular-values [2.0 1.0 0.5] :dims [4 4]}
   :optimizer {:kind :gd :lr 0.05}
   :steps 300
   :record {:every 3 :metrics [:loss :modes :sharpness] :sharpness {:every 30}}})

(defn- csv-of
  "The CSV text write-trajectory-csv writes for a whole trajectory."
  [traj metrics]
  (let [w (StringWriter.)]
    (dio/write-trajectory-csv w traj metrics)
    (str w)))

(defn- read-rows [f] (with-open [r (io/reader f)] (doall (csv/read-csv r))))

(deftest the-streamed-csv-is-the-whole-trajectory-written-afterwards
  (doseq [[what e] [["completed" exp]
                    ["stopped by :loss-below on a step it had recorded"
                     (assoc exp :stop {:loss-below 0.3})]
                    ["interrupted" exp]]]
    (testing what
      (let [f (path "t.csv")
            flag (atom (= what "interrupted"))
            r (experiment/run e {:trajectory-file f :interrupt flag})
            metrics (get-in r [:experiment :record :metrics])]
        (is (nil? (:trajectory-file r)) "a short run keeps every row")
        (is (= (csv-of (:trajectory r) metrics) (slurp f)))
        (when (= what "interrupted") (is (= :interrupted (:stop-reason r))))))))

(deftest rows-are-on-disk-as-they-are-recorded
  (let [f (path "live.csv")
        sink (trajectory/csv-sink f [:loss :modes])]
    ((:row! sink) 0 0.0 {:loss 1.5 :modes [1.0 2.0]} false)
    (is (= [["step" "time" "loss" "modes_1" "modes_2"] ["0" "0.0" "1.5" "1.0" "2.0"]] (read-rows f))
        "written and flushed before the sink is closed")
    ((:row! sink) 1 0.1 {:loss 1.0 :modes nil} false)
    ((:row! sink) 1 0.1 {:loss 1.0 :modes [3.0 4.0]} true)
    (is (= [["1" "0.1" "1.0" "3.0" "4.0"]] (drop 2 (read-rows f))) "a step recorded again replaces its row")
    (is (= {:rows 2 :file f} ((:close! sink))))))

(deftest a-growing-vector-widens-the-header-and-keeps-every-cell
  (let [rows [[0 0.0 {:loss 1.0 :eig nil}]
              [1 0.5 {:loss 0.5 :eig [1.0]}]
              [2 1.0 {:loss 0.25 :eig [2.0 3.0]}]
              [3 1.5 {:loss "a,b" :eig [4.0 5.0 6.0]}]]
        f (path "wide.csv")
        sink (trajectory/csv-sink f [:loss :eig])]
    (doseq [[s t row] rows] ((:row! sink) s t row false))
    ((:close! sink))
    (is (= (csv-of {:step (mapv first rows) :time (mapv second rows)
                    :loss (mapv #(:loss (nth % 2)) rows) :eig (mapv #(:eig (nth % 2)) rows)}
                   [:loss :eig])
           (slurp f)))))

(deftest with-a-sink-the-result-keeps-a-thinned-part
  (let [f (path "long.csv")
        e (assoc exp :steps 1000 :record {:every 1 :metrics [:loss]})
        r (experiment/run e {:trajectory-file f :max-rows 40})
        [header & body] (read-rows f)
        kept (:step (:trajectory r))
        [early tail] (split-at (- (count kept) 20) kept)
        strides (set (map - (rest early) early))]
    (is (= 1001 (count body)) "the file holds every row")
    (is (= {:rows 1001 :kept (count kept)} (:trajectory-file r)))
    (is (<= 25 (count kept) 30) "max-rows/2 whole, fewer than max-rows/4 thinned")
    (is (= 1 (get-in r [:analysis :period-unit-steps :loss])) "the analyses see the run's own row spacing")
    (is (= (range 981 1001) tail) "the last max-rows/2 rows are kept whole")
    (is (= 1 (count strides)) "the earlier ones evenly thinned")
    (is (= 0 (first kept)))
    (let [by-step (into {} (map (fn [[s _ l]] [(parse-long s) l]) body))]
      (is (= (map #(get by-step %) kept) (map dio/csv-cell (:loss (:trajectory r))))
          "the kept rows are rows of the file"))
    (is (= ["step" "time" "loss"] header))
    (testing "write-run! publishes the streamed file and names it in result.edn"
      (store/write-run! r (path "run") {:trajectory-file f})
      (is (not (.exists (io/file f))))
      (is (= 1002 (count (read-rows (path "run" "trajectory.csv")))))
      (is (= "trajectory.csv" (get-in (store/read-run (path "run")) [:trajectory-file :file]))))))

(deftest ^:slow a-million-steps-recorded-every-step-fit-a-256-mb-heap
  ;; Before streaming this run held every row in memory (twice, as the EDN and
  ;; CSV text were built) and died of OutOfMemoryError under -Xmx250m.
  (let [file (path "million.edn")
        _ (spit file (pr-str (assoc exp :steps 1000000 :record {:every 1 :metrics [:loss]})))
        proc (start-cli "million" ["-Xmx256m"] "run" file "--out" (path "out"))]
    (is (.waitFor proc 1800 TimeUnit/SECONDS) "the run ends")
    (is (= 0 (.exitValue proc)) (slurp (path "million.err")))
    (let [r (store/read-run (path "out"))]
      (is (= {:rows 1000001 :file "trajectory.csv"} (dissoc (:trajectory-file r) :kept)))
      (is (= 1000000 (peek (get-in r [:trajectory :step])))))
    (with-open [rd (io/reader (path "out" "trajectory.csv"))]
      (is (= 1000002 (count (line-seq rd)))))
    (is (str/includes? (slurp (path "million.out")) "wrote:"))))
