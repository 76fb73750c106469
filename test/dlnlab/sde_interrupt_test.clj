(ns dlnlab.sde-interrupt-test
  "An :sde run stops when interrupted (issue 11, item 2): the kernel runs an
  ensemble in record ranges that resume where the previous one stopped, giving
  the same numbers bit for bit as one call; an interrupted simulation keeps the
  records so far (a prefix of the uninterrupted run's), and the run's result
  says :stopped :interrupted. The command line part (SIGTERM and SIGHUP to a
  child JVM, exit 128 + the signal) is ^:slow."
  (:require [clojure.test :refer [deftest is testing use-fixtures]]
            [dlnlab.child-jvm :refer [check-signals-stop-run!]]
            [dlnlab.experiment :as experiment]
            [dlnlab.sde :as sde]
            [dlnlab.temp-dir :as temp-dir :refer [path]])
  (:import [dlnlab.kernel Sde]
           [java.util Arrays Random]))

(set! *warn-on-reflection* true)

(use-fixtures :each (temp-dir/fixture "dlnlab-sde-interrupt-test"))

;; ---------------------------------------------------------------- the kernel in record ranges

(defn- run-ranges
  "Runs one ensemble through Sde/ensemble over the record ranges between the cut
  points (nil: the one-call form) and returns [out passage status]."
  [{:keys [depth s a0 c sigma paths seed scheme dt steps every boundary bound levels threads]} cuts]
  (let [modes (count s)
        records (inc (quot (long steps) (long every)))
        nl (quot (count levels) modes)
        out (double-array (* records modes (long paths)))
        passage (double-array (* nl modes (long paths)))
        status (byte-array (* modes (long paths)))
        s (double-array s) a0 (double-array a0) levels (double-array levels)
        depth (int depth) modes (int modes) c (double c) sigma (double sigma) paths (int paths) seed (long seed)
        scheme (int scheme) dt (double dt) steps (int steps) every (int every) boundary (int boundary)
        bound (double bound) nl (int nl) threads (int threads)]
    (if cuts
      (doseq [[from to] (partition 2 1 (concat [0] cuts [(dec records)]))]
        (Sde/ensemble depth s modes c sigma a0 paths seed scheme dt steps every boundary bound levels nl threads
                      (int from) (int to) out passage status))
      (Sde/ensemble depth s modes c sigma a0 paths seed scheme dt steps every boundary bound levels nl threads
                    out passage status))
    [out passage status]))

(deftest record-ranges-give-the-one-call-numbers-bit-for-bit
  ;; Strong noise, a small bound and small initial values make paths hit zero,
  ;; diverge and pass levels, so every part of the state a range resumes from is
  ;; exercised; 103 steps with a record every 10 leave 3 steps after the last record.
  (let [rng (Random. 11)]
    (doseq [depth [2 5]
            scheme [Sde/EULER_MARUYAMA Sde/MILSTEIN Sde/TAYLOR_15]
            boundary [Sde/ABSORBING Sde/REFLECTING]
            threads [1 3]]
      (let [spec {:depth depth :s [1.0 0.3] :a0 [0.05 0.6] :c 1.5 :sigma 0.8 :paths 700 :seed 5 :scheme scheme
                  :dt 0.05 :steps 103 :every 10 :boundary boundary :bound 1.6 :levels [0.5 0.4 0.9 0.6]
                  :threads threads}
            whole (run-ranges spec nil)
            cuts (sort (distinct (repeatedly 4 #(inc (.nextInt rng 9)))))
            pieces (run-ranges spec cuts)
            [out _ status] whole]
        (testing (str "depth " depth " scheme " scheme " boundary " boundary " threads " threads " cuts " (vec cuts))
          (is (Arrays/equals ^doubles (first whole) ^doubles (first pieces)) "records")
          (is (Arrays/equals ^doubles (second whole) ^doubles (second pieces)) "first passages")
          (is (Arrays/equals ^bytes (nth whole 2) ^bytes (nth pieces 2)) "statuses")
          (is (some #(pos? (bit-and (long %) Sde/DIVERGED)) status) "some paths diverge")
          (is (some #(pos? (bit-and (long %) Sde/HIT_ZERO)) status) "some paths hit zero")
          (is (some #(< 0.0 (double %) 1.6) (take-last 1400 out)) "some paths are inside at the end"))))))

(deftest a-range-outside-the-records-is-refused
  (doseq [[from to] [[-1 2] [3 2] [0 11]]]
    (is (thrown? IllegalArgumentException
                 (Sde/ensemble 2 (double-array [1.0]) 1 0.1 0.0 (double-array [0.1]) 4 1 Sde/EULER_MARUYAMA 0.1 100 10
                               Sde/ABSORBING 10.0 nil 0 1 (int from) (int to)
                               (double-array (* 11 4)) nil (byte-array 4)))
        [from to])))

;; ---------------------------------------------------------------- simulate and run, interrupted

(defn- interrupt-after
  "A deref-able interrupt flag that reads true from its (n+1)th look on."
  [^long n]
  (let [looks (atom 0)]
    (reify clojure.lang.IDeref
      (deref [_] (> (long (swap! looks inc)) n)))))

(def ^:private long-sde
  ;; 1000 paths of 2 modes, 200 000 steps with a record every 2000: 8 record
  ;; intervals a range (2^25 path-mode steps), so the ensemble looks at the flag
  ;; 12 times
  {:modes [{:s 1.0 :pi0 0.01} {:s 0.5 :pi0 0.02}] :depth 2 :lr 0.05 :paths 1000 :dt 0.001 :time 200.0
   :record {:points 101} :seed 3 :threads 2})

(deftest an-interrupted-simulation-keeps-a-prefix-of-the-records
  (let [full (sde/simulate long-sde)
        cut (sde/simulate long-sde {:interrupt (interrupt-after 1)})
        n (count (:time cut))]
    (is (nil? (:interrupted? full)))
    (is (:interrupted? cut))
    (is (< 1 n (count (:time full))) "stopped after the second range, not before the first or at the end")
    (is (= (* (dec n) 2000) (:steps cut)) "the steps run end on a record")
    (doseq [k [:time :mean :std :diffusion :gradient-flow]]
      (is (= (subvec (k full) 0 n) (k cut)) k))
    (is (= (update-vals (:quantiles full) #(subvec % 0 n)) (:quantiles cut)))
    (is (= (mapv #(subvec % 0 n) (:paths full)) (:paths cut)))
    (is (= (mapv #(nth % (dec n)) (:paths full)) (vec (take 8 (:final cut))))
        "the final strengths are those at the last record run")))

(deftest an-interrupted-sde-run-is-stopped-and-its-trajectory-ends-early
  (let [exp {:kind :sde :seed 3 :sde (dissoc long-sde :seed)}
        r (experiment/run exp {:interrupt (interrupt-after 0)})
        steps (get-in r [:trajectory :step])]
    (is (= :stopped (:status r)))
    (is (= :interrupted (:stop-reason r)))
    (is (= (peek steps) (get-in r [:final :step])))
    (is (< (count steps) 101))
    (is (= (count steps) (count (get-in r [:trajectory :mean]))))
    (testing "an uninterrupted run is complete"
      (is (= :completed (:status (experiment/run (assoc-in exp [:sde :time] 2.0) {:interrupt (interrupt-after 99)})))))))

;; ---------------------------------------------------------------- signals to the command line

(deftest ^:slow signals-stop-an-sde-run-and-keep-its-records
  ;; An ensemble of 10^4 paths over 10^7 steps would take hours; TERM (timeout,
  ;; Slurm, docker stop) and HUP (a closed terminal) stop it at its next record
  ;; range, the result so far is written and the exit code is 128 + the signal.
  (let [file (path "long-sde.edn")]
    (spit file (pr-str {:kind :sde :seed 1
                        :sde {:modes [{:s 1.0 :pi0 0.01}] :paths 10000 :dt 0.0001 :time 1000.0
                              :record {:points 1001} :threads 1}}))
    (check-signals-stop-run! file 10000000)))
