(ns dlnlab.store-test
  "dlnlab.store called directly, as from the REPL: a run directory round-trips,
  is replaced as a whole and survives a failed write; locks exclude a second
  writer and are taken over from a dead one; run-sweep! resumes, reruns damaged
  points with a warning, cleans what killed writers left, and lists in
  summary.csv only points whose files are on disk. dlnlab.summary dispatches on
  the result's kind."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [dlnlab.experiment :as experiment]
            [dlnlab.io :as dio]
            [dlnlab.provenance :as provenance]
            [dlnlab.store :as store]
            [dlnlab.store.lock :as lock]
            [dlnlab.summary :as summary]
            [dlnlab.temp-dir :as temp-dir :refer [*dir* path]])
  (:import [java.io File]
           [java.util.concurrent.atomic AtomicBoolean]))

(set! *warn-on-reflection* true)

(use-fixtures :each (temp-dir/fixture "dlnlab-store-test"))

(defn- listing [& parts] (set (.list ^File (apply io/file *dir* parts))))

(def tiny
  {:seed 3
   :model {:kind :chain :depth 2 :width 3 :init {:kind :gaussian :std 0.3}}
   :task {:kind :matrix-factorization :singular-values [2.0 1.0] :dims [3 3]}
   :optimizer {:kind :gd :lr 0.1}
   :steps 20
   :record {:every 5 :metrics [:loss :modes]}})

(defn- thrown-data [f]
  (try (f) nil (catch clojure.lang.ExceptionInfo e (assoc (ex-data e) ::message (ex-message e)))))

(deftest a-run-directory-round-trips-and-is-replaced-whole
  (let [a (experiment/run tiny)
        b (experiment/run (assoc-in tiny [:optimizer :lr] 0.05))
        dir (path "run")]
    (testing "write-run! writes result.edn and trajectory.csv; read-run gives the result back"
      (let [paths (store/write-run! a dir {:extra! (fn [d] (spit (io/file d "loss.svg") "<svg/>") :figures)})]
        (is (= (str (io/file dir "result.edn")) (:result paths)))
        (is (= :figures (:extra paths)) "extra! ran in the staging directory before publishing")
        (is (= a (store/read-run dir)))
        (is (= #{"result.edn" "result.json" "trajectory.csv" "loss.svg"} (listing "run")))
        (is (= (inc (count (get-in a [:trajectory :step]))) (count (str/split-lines (slurp (io/file dir "trajectory.csv"))))))
        (is (= #{"run"} (listing)) "no staging directory or temporary file left beside it")))
    (testing "a second write replaces the directory as a whole: the old figure is gone"
      (store/write-run! b dir)
      (is (= b (store/read-run dir)))
      (is (= #{"result.edn" "result.json" "trajectory.csv"} (listing "run")))
      (is (= #{"run"} (listing))))
    (testing "a write that fails leaves the previous run intact and nothing beside it"
      (is (thrown? RuntimeException (store/write-run! a dir {:extra! (fn [_] (throw (RuntimeException. "disk full")))})))
      (is (= b (store/read-run dir)))
      (is (= #{"result.edn" "result.json" "trajectory.csv"} (listing "run")))
      (is (= #{"run"} (listing))))
    (testing "read-run names a damaged result"
      (spit (io/file dir "result.edn") "{:experiment {:seed 3")
      (let [d (thrown-data #(store/read-run dir))]
        (is (= :unreadable-file (:dlnlab/error d)))
        (is (str/includes? (::message d) "result.edn"))))))

(deftest check-run-dir-refuses-used-directories
  (.mkdirs (io/file (path "empty")))
  (is (= (path "empty") (store/check-run-dir! (path "empty") false)))
  (is (= (path "new") (store/check-run-dir! (path "new") false)))
  (store/write-run! (experiment/run tiny) (path "used"))
  (let [d (thrown-data #(store/check-run-dir! (path "used") false))]
    (is (= :unwritable (:dlnlab/error d)))
    (is (re-find #"already holds 3 files \(result.edn, result.json, trajectory.csv\).*--force" (::message d))))
  (is (= (path "used") (store/check-run-dir! (path "used") true)) "--force accepts a previous run")
  (spit (io/file (path "used") "notes.txt") "mine")
  (let [d (thrown-data #(store/check-run-dir! (path "used") true))]
    (is (re-find #"files a run does not write \(notes.txt\)" (::message d)) "--force never deletes a stranger's files")))

(defn- dead-pid
  "The pid of a process that has exited."
  ^long []
  (let [p (.start (ProcessBuilder. ^"[Ljava.lang.String;" (into-array String ["true"])))]
    (.waitFor p)
    (.pid p)))

(deftest locks-exclude-a-second-writer
  (let [dir (path "out")
        lock (lock/lock! dir)
        lock-file (io/file *dir* ".out.lock")
        me (.pid (java.lang.ProcessHandle/current))]
    (is (.exists lock-file) "the lock lives beside the directory")
    (is (= me (:pid (dio/read-edn-file lock-file))))
    (testing "a second writer gets :conflict naming the holder"
      (let [d (thrown-data #(lock/lock! dir))]
        (is (= :conflict (:dlnlab/error d)))
        (is (str/includes? (::message d) (str "pid " me)))
        (is (= me (get-in d [:holder :pid])))))
    (lock/unlock! lock)
    (is (not (.exists lock-file)))
    (testing "a lock left by a process that is gone is taken over"
      (spit lock-file (pr-str {:pid (dead-pid) :host (.getHostName (java.net.InetAddress/getLocalHost)) :since "then"}))
      (let [l (lock/lock! dir)]
        (is (= me (:pid (dio/read-edn-file lock-file))))
        (lock/unlock! l)))
    (testing "a lock of a live process on another host is respected"
      (spit lock-file (pr-str {:pid me :host "elsewhere" :since "then"}))
      (is (= :conflict (:dlnlab/error (thrown-data #(lock/lock! dir)))))
      (.delete lock-file))))

(def tiny-sweep (store/normalize-sweep {:base tiny :grid {[:optimizer :lr] [0.05 0.1 0.2]}}))

(defn- summary-rows [dir]
  (mapv #(str/split % #"," -1) (rest (str/split-lines (slurp (io/file dir "summary.csv"))))))

(defn- untimed [r] (update r :meta #(apply dissoc % provenance/run-specific-keys)))

(deftest run-sweep-resumes-and-reruns-damaged-points
  (let [dir (path "sw")
        logged (atom [])
        opts {:jobs 2 :log #(swap! logged conj %)}
        first-run (store/run-sweep! tiny-sweep dir opts)
        runs (io/file dir "runs")
        names (sort (.list runs))
        results (:results (store/read-sweep dir))]
    (is (= 3 (:points first-run)))
    (is (= 0 (:skipped first-run)))
    (is (= [:completed :completed :completed] (map :status (:ran first-run))))
    (is (= ["000-lr=0.05" "001-lr=0.1" "002-lr=0.2"] names))
    (is (= [0.05 0.1 0.2] (map #(get-in % [:experiment :optimizer :lr]) results)))
    (is (= (map #(vector (str %1) %2) (range 3) names) (map #(subvec % 0 2) (summary-rows dir))))
    (is (not (.exists (io/file *dir* ".sw.lock"))) "the lock is released")
    (testing "a rerun skips every complete point"
      (let [again (store/run-sweep! tiny-sweep dir opts)]
        (is (= 3 (:skipped again)))
        (is (empty? (:ran again)))
        (is (= 3 (count (summary-rows dir))))))
    (testing "a truncated result, a result of another point and a killed writer's leftovers"
      (let [r1 (io/file runs (second names) "result.edn")
            text (slurp r1)]
        (spit r1 (subs text 0 (quot (count text) 2)))
        (io/copy (io/file runs (first names) "result.edn") (io/file runs (nth names 2) "result.edn"))
        (spit (io/file runs (first names) ".result.edn.123456.tmp") "")
        (.mkdirs (io/file runs ".001-lr=0.1.staging-42"))
        (reset! logged [])
        (let [r (store/run-sweep! tiny-sweep dir opts)]
          (is (= [1 2] (:damaged r)))
          (is (= [1 2] (map :index (:ran r))) "damaged points are rerun")
          (is (= 1 (:skipped r)))
          (is (= 2 (count @logged)))
          (is (re-find #"001-lr=0.1 is damaged \(Cannot read .*\); rerunning grid point 1" (first @logged)))
          (is (re-find #"002-lr=0.2 is damaged \(its result.edn records another experiment\)" (second @logged)))
          (is (= (set names) (set (.list runs))) "the staging leftover is gone")
          (is (= #{"result.edn" "result.json" "trajectory.csv"} (set (.list (io/file runs (first names))))) "the temp file is gone")
          (is (= (map untimed results) (map untimed (:results (store/read-sweep dir))))
              "the rerun points equal the first run's"))))))

(deftest run-sweep-lists-only-points-on-disk
  (testing "an interrupted sweep writes no point and lists none"
    (let [dir (path "int")
          r (store/run-sweep! tiny-sweep dir {:jobs 1 :interrupt (AtomicBoolean. true)})]
      (is (:interrupted? r))
      (is (= 3 (count (:ran r))))
      (is (every? #(= :interrupted (:stop-reason %)) (:ran r)))
      (is (empty? (summary-rows dir)))
      (is (empty? (.list (io/file dir "runs"))))))
  (testing "points whose files could not be written are not listed as completed"
    (let [dir (path "full")]
      (with-redefs [store/write-run! (fn [& _] (throw (ex-info "No space left on device" {})))]
        (let [r (store/run-sweep! tiny-sweep dir {:jobs 1})
              rows (summary-rows dir)]
          (is (= 3 (count (:write-errors r))))
          (is (= ["" "" ""] (map second rows)) "no directory named")
          (is (= ["unwritten" "unwritten" "unwritten"] (map #(nth % 5) rows)))))))
  (testing "a sweep into a directory another writer holds is refused before anything runs"
    (let [dir (path "held")
          lock (lock/lock! dir)]
      (try
        (let [d (thrown-data #(store/run-sweep! tiny-sweep dir {:jobs 1}))]
          (is (= :conflict (:dlnlab/error d)))
          (is (not (.exists (io/file dir "sweep.edn")))))
        (finally (lock/unlock! lock))))))

(deftest normalize-sweep-names-the-point
  (let [d (thrown-data #(store/normalize-sweep {:base tiny :grid {[:optimizer :lr] [0.1 -0.1]}} "s.edn"))]
    (is (= :invalid-experiment (:dlnlab/error d)))
    (is (re-find #"^Grid point 1 \{\[:optimizer :lr\] -0.1\} of s.edn: \[:optimizer :lr\] must be" (::message d))))
  (let [d (thrown-data #(store/normalize-sweep {:base (dissoc tiny :optimizer) :grid {[:steps] [1]}} "s.edn"))]
    (is (re-find #"^Grid point 0 \{\[:steps\] 1\} of s.edn: the experiment has no :optimizer" (::message d)))))

(deftest summary-lines-dispatch-on-the-result-kind
  (let [net (experiment/run tiny)
        lines (summary/summary-lines net)]
    (is (re-find #"^status: +completed 20 steps" (first lines)))
    (is (some #(str/starts-with? % "final loss:") lines)))
  (let [sde {:experiment {:kind :sde :sde {:modes [{:s 1.0}] :paths 10 :lr 0.1 :batch-size 2 :label-noise 0.1
                                           :scheme :euler-maruyama :depth 2}}
             :status :completed :final {:step 5 :time 0.5 :mean [0.9] :std [0.1]} :analysis {}}
        lines (summary/summary-lines sde)]
    (is (= "status:           completed, 5 steps to SDE time 0.5" (first lines)))
    (is (= "final pi:         mode 1 0.9 ± 0.1 (target 1)" (nth lines 2)))))

(deftest a-compare-run-summarizes-each-variant
  (let [r (experiment/run (assoc tiny :compare {:flow {:optimizer {:kind :gradient-flow :rtol 1e-10 :atol 1e-12}}
                                                :gd {}}))
        lines (vec (summary/summary-lines r))
        losses (get-in r [:final :losses])]
    (is (= "status:           completed 20 steps of gd (time 2)" (str/replace (first lines) #" in .*" "")))
    (is (= (str "final loss:       flow " (summary/fmt-num (:flow losses)) ", gd " (summary/fmt-num (:gd losses)))
           (nth lines 1)))
    (is (not (str/includes? (nth lines 1) "-,")) "both final losses are numbers")
    (is (re-find #"^vs flow: +gd: distance \d" (nth lines 2)))
    (is (str/includes? (nth lines 2) (summary/fmt-num (get-in r [:analysis :final :gd :distance]))))))

(deftest numbers-are-rounded-for-people
  (is (= ["-" "3" "0.333333" "1.2346e+05" "1.0000e-04" "NaN" "Inf" "0" "completed"]
         (map summary/fmt-num [nil 3 (/ 1.0 3.0) 123456.7 1e-4 ##NaN ##Inf 0.0 :completed])))
  (is (= ["4.2 s" "3:05" "1:02:03"] (map summary/fmt-duration [4.2 185.0 3723.0]))))

(deftest concurrent-writers-never-mix
  (testing "two different sweeps started at once into one directory: one is refused, the other's files are all its own"
    (let [dir (path "both")
          other (store/normalize-sweep {:base (assoc tiny :steps 10) :grid {[:optimizer :lr] [0.05 0.1 0.2]}})
          start (promise)
          go (fn [sw] (future @start (try (store/run-sweep! sw dir {:jobs 1}) (catch clojure.lang.ExceptionInfo e e))))
          a (go tiny-sweep)
          b (go other)
          _ (deliver start true)
          outcomes [@a @b]
          won (keep-indexed (fn [i o] (when (map? o) i)) outcomes)
          lost (remove map? outcomes)]
      (is (= 1 (count won)) (pr-str (map #(if (map? %) % (ex-message %)) outcomes)))
      (is (every? #(= :conflict (:dlnlab/error (ex-data %))) lost) "refused: in use, or holding another sweep")
      (let [winner ([tiny-sweep other] (first won))
            {:keys [sweep results]} (store/read-sweep dir)]
        (is (= winner sweep))
        (is (= 3 (count results)))
        (is (every? #(= (get-in winner [:base :steps]) (get-in % [:experiment :steps])) results)))))
  (testing "two runs written at once into one directory: the directory holds one of them whole"
    (let [dir (path "run")
          ra (experiment/run tiny)
          rb (experiment/run (assoc tiny :steps 10))
          start (promise)
          ws (mapv (fn [r] (future @start (try (store/write-run! r dir) (catch clojure.lang.ExceptionInfo e e)))) [ra rb])]
      (deliver start true)
      ;; without the lock (the CLI takes it) a writer may lose the rename race: it then fails cleanly
      (is (some map? (map deref ws)))
      (is (every? #(or (map? %) (= :unwritable (:dlnlab/error (ex-data %)))) (map deref ws)))
      (let [r (store/read-run dir)
            rows (dec (count (str/split-lines (slurp (io/file dir "trajectory.csv")))))]
        (is (contains? #{ra rb} r))
        (is (= (count (get-in r [:trajectory :step])) rows) "trajectory.csv belongs to that result.edn")
        (is (not-any? #(str/starts-with? % ".") (listing)) "no staging or set-aside directory left beside it")))))
