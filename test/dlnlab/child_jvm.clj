(ns dlnlab.child-jvm
  "The command line in a child JVM, for the tests that send it signals or give
  it a small heap: `start-cli`, `await-file`, `check-signals-stop-run!`."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [is testing]]
            [dlnlab.io :as dio]
            [dlnlab.temp-dir :refer [*dir* path]])
  (:import [java.io File]
           [java.util.concurrent TimeUnit]))

(set! *warn-on-reflection* true)

(defn start-cli
  "Starts `dlnlab args` in a child JVM on this classpath (with the JVM options
  jvm-opts first when args starts with a vector of them), stdout and stderr to
  the files tag.out and tag.err in the test's temporary directory. Returns the
  Process."
  ^Process [tag & args]
  (let [[jvm-opts args] (if (vector? (first args)) [(first args) (rest args)] [[] args])
        java (str (io/file (System/getProperty "java.home") "bin" "java"))
        cmd (concat [java] jvm-opts ["-cp" (System/getProperty "java.class.path") "clojure.main" "-m" "dlnlab.cli"] args)]
    (-> (ProcessBuilder. ^"[Ljava.lang.String;" (into-array String cmd))
        (.redirectOutput (io/file (path (str tag ".out"))))
        (.redirectError (io/file (path (str tag ".err"))))
        (.start))))

(defn await-file
  "True once f exists, false when it does not within ms milliseconds."
  [^File f ^long ms]
  (let [end (+ (System/currentTimeMillis) ms)]
    (while (and (not (.exists f)) (< (System/currentTimeMillis) end)) (Thread/sleep 100))
    (.exists f)))

(defn check-signals-stop-run!
  "Starts `dlnlab run file --out out-SIG --no-plots --no-report` for SIG = TERM
  (what timeout, Slurm and docker stop send) and HUP (a closed terminal), sends
  each run its signal a few seconds after it took its lock, and checks (with
  clojure.test) that it exits 128 + the signal's number, with a result.edn
  of status :stopped :stop-reason :interrupted whose final step is below
  max-step, a trajectory.csv holding every recorded row, and its lock released.
  Returns the stderr text of each run by signal name."
  [file ^long max-step]
  (let [runs (doall (for [[sig code] [["TERM" 143] ["HUP" 129]]]
                      {:sig sig :code code :out (path (str "out-" sig))
                       :proc (start-cli sig "run" file "--out" (path (str "out-" sig)) "--no-plots" "--no-report")}))]
    (doseq [{:keys [sig ^Process proc]} runs]
      ;; the lock is taken once the experiment is valid, just before the run starts
      (is (await-file (io/file *dir* (str ".out-" sig ".lock")) 400000) (slurp (path (str sig ".err"))))
      (Thread/sleep 4000)
      (.waitFor (.start (ProcessBuilder. ^"[Ljava.lang.String;" (into-array String ["kill" (str "-" sig) (str (.pid proc))])))))
    (into {}
          (for [{:keys [sig code ^Process proc out]} runs]
            (testing sig
              (is (.waitFor proc 120 TimeUnit/SECONDS) "the run stops")
              (is (= code (.exitValue proc)) (slurp (path (str sig ".err"))))
              (let [r (dio/read-edn-file (io/file out "result.edn"))
                    rows (dec (count (str/split-lines (slurp (io/file out "trajectory.csv")))))]
                (is (= :stopped (:status r)))
                (is (= :interrupted (:stop-reason r)))
                (is (< (long (get-in r [:final :step])) max-step) "stopped early")
                (is (pos? rows) "every recorded row is kept")
                ;; a long run keeps a thinned part of its rows in result.edn and
                ;; says how many the streamed trajectory.csv holds
                (is (= (or (get-in r [:trajectory-file :rows]) (count (get-in r [:trajectory :step]))) rows)
                    "result.edn accounts for every row of trajectory.csv")
                (is (= (get-in r [:final :step]) (peek (get-in r [:trajectory :step]))) "the last row is kept"))
              (is (not (.exists (io/file *dir* (str ".out-" sig ".lock")))) "the lock is released")
              [sig (slurp (path (str sig ".err")))])))))
