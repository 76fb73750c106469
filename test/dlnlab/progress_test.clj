(ns dlnlab.progress-test
  "Progress lines on a fake clock: plain lines (no escape codes) at the given
  interval when stderr is not a terminal, and a study's runs done/planned that
  never go back whatever order parallel runs report in."
  (:require [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.progress :as progress])
  (:import [java.io StringWriter]))

(set! *warn-on-reflection* true)

(defn- fake-clock [] (let [t (atom 0)] [t #(deref t)]))

(defn- lines [^StringWriter w] (str/split-lines (str w)))

(deftest run-progress-in-a-log-is-a-plain-line-every-interval
  ;; 100 steps 0.3 s apart with a line every 10 s: lines at 10.2 s (step 34)
  ;; and 20.4 s (step 68), the rate 34/10.2 = 3.33 steps/s, the ETA of the
  ;; first (100 - 34) / 3.33 = 19.8 s.
  (let [[t clock] (fake-clock)
        w (StringWriter.)
        p (progress/run-progress w {:terminal? false :every-s 10 :clock clock})]
    (doseq [s (range 1 101)]
      (swap! t + 300000000)
      ((:progress p) {:step s :steps 100 :loss 0.5}))
    ((:finish p))
    (is (not (str/includes? (str w) "\u001b")) "no escape codes")
    (is (not (str/includes? (str w) "\r")))
    (is (= ["step 34/100  34%  3 steps/s  ETA 0:20  loss 0.5"
            "step 68/100  68%  3 steps/s  ETA 9.6 s  loss 0.5"]
           (lines w)))))

(deftest sweep-progress-in-a-log
  (let [[t clock] (fake-clock)
        w (StringWriter.)
        p (progress/sweep-progress w 10 2 {:terminal? false :every-s 5 :clock clock})]
    ((:start p))
    (is (= "" (str w)) "nothing before the first interval")
    (dotimes [_ 8] (swap! t + 2000000000) ((:tick p)))
    ((:finish p))
    ;; ticks at 2, 4, ..., 16 s; lines at 6 s (3 done) and 12 s (6 done)
    ;; (3 points in 6 s: 30 runs/min, 5 left: 10 s)
    (is (= ["sweep 5/10 done (2 from before)  30.00 runs/min  ETA 0:10"
            "sweep 8/10 done (2 from before)  30.00 runs/min  ETA 4.0 s"]
           (lines w)))))

(deftest sweep-progress-on-a-terminal-redraws-one-line
  (let [[t clock] (fake-clock)
        w (StringWriter.)
        p (progress/sweep-progress w 3 0 {:clock clock})]
    ((:start p))
    (dotimes [_ 3] (swap! t + 1000000000) ((:tick p)))
    ((:finish p))
    (is (str/starts-with? (str w) (str (progress/erase-line) "sweep 0/3 done")))
    (is (str/ends-with? (str w) "sweep 3/3 done  60.00 runs/min  ETA 0.0 s\n"))))

(deftest study-progress-counts-runs-and-never-goes-back
  (let [[t clock] (fake-clock)
        w (StringWriter.)
        p (progress/stage-progress w "reproduce x" {:terminal? false :every-s 0 :clock clock})
        events [{:stage :a :done 2 :total 3}   ; parallel runs report out of order
                {:stage :a :done 1 :total 3}
                {:stage :a :done 3 :total 3}
                {:stage :note}                 ; a stage without runs
                {:stage :a :done 1 :total 2}   ; stage :a runs again, 2 runs
                {:stage :b :family [2 3] :done 1 :total 5 :point {:x 1} :status :completed}]]
    (doseq [ev events] (swap! t + 1000000000) ((:event p) ev))
    (let [counts (for [l (lines w)] (mapv parse-long (rest (re-find #": (\d+)/(\d+) runs" l))))]
      (is (= [[1 3] [2 3] [3 3] [3 3] [4 5] [5 10]] counts))
      (is (apply <= (map first counts)) "done never goes back")
      (is (every? (fn [[d n]] (<= d n)) counts) "always a total, never below done"))
    (is (str/ends-with? (last (lines w)) "now: b family 2 3"))))
