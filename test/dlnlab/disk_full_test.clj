(ns dlnlab.disk-full-test
  "A real full disk: a small tmpfs (when this process may mount one, as root in
  CI) or a file-size limit (`ulimit -f` in a child process, SIGXFSZ ignored so
  writes fail with EFBIG). Afterwards the disk is read: the previous complete
  run is intact, and nothing is reported complete that is not on disk."
  (:require [clojure.data.csv :as csv]
            [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [dlnlab.cli-runner :as runner]
            [dlnlab.io :as dio]
            [dlnlab.temp-dir :as temp-dir :refer [path]])
  (:import [java.io File FileOutputStream IOException]))

(set! *warn-on-reflection* true)

(use-fixtures :each (temp-dir/fixture "dlnlab-disk-full"))

(defn- sh
  "Runs a command: {:exit :out :err}."
  [& args]
  (let [p (.start (ProcessBuilder. ^java.util.List (vec args)))
        out (future (slurp (.getInputStream p)))
        err (slurp (.getErrorStream p))]
    {:exit (.waitFor p) :out @out :err err}))

(defn- mount-tmpfs!
  "Mounts a tmpfs of kb kilobytes at dir; true when it worked (root, a kernel
  that allows it)."
  [^File dir ^long kb]
  (.mkdirs dir)
  (try (zero? (long (:exit (sh "mount" "-t" "tmpfs" "-o" (str "size=" kb "k") "tmpfs" (str dir)))))
       (catch IOException _ false)))

(defn- umount! [^File dir] (sh "umount" "-l" (str dir)))

(defn- fill!
  "Fills the filesystem of dir until a write fails, then frees keep-bytes
  (rounded to whole 4 KB pages) by truncating the filler. Returns the filler."
  ^File [^File dir ^long keep-bytes]
  (let [f (io/file dir "filler")
        chunk (byte-array 4096)]
    (with-open [out (FileOutputStream. f)]
      (try (loop [] (.write out chunk) (recur))
           (catch IOException _ nil)))
    (with-open [ch (.getChannel (java.io.RandomAccessFile. f "rw"))]
      (.truncate ch (max 0 (- (.length f) keep-bytes))))
    f))

(def ^:private tiny
  {:seed 3
   :model {:kind :chain :depth 2 :width 3}
   :task {:kind :matrix-factorization :singular-values [2.0 1.0] :dims [3 3]}
   :optimizer {:kind :gd :lr 0.1}
   :steps 20
   :record {:every 5 :metrics [:loss :modes]}})

(defn- bigger
  "tiny recording every step for n steps: files of tens of kilobytes."
  [^long n]
  (assoc tiny :steps n :record {:every 1 :metrics [:loss :modes :weight-norms]}))

(defn- write-exp [nm exp] (let [p (path nm)] (spit p (pr-str exp)) p))

(defn- complete-run?
  "True when run directory d holds a result.edn that parses to a result and a
  trajectory.csv with one row per recorded row."
  [^File d]
  (try (let [r (dio/read-edn-file (io/file d "result.edn"))
             rows (with-open [rd (io/reader (io/file d "trajectory.csv"))] (count (csv/read-csv rd)))]
         (= (inc (count (get-in r [:trajectory :step]))) rows))
       (catch Exception _ false)))

(defn- snapshot [^File d] (into {} (for [nm ["result.edn" "trajectory.csv" "result.json"]] [nm (slurp (io/file d nm))])))

(defn- leftovers [^File dir]
  (for [^File f (file-seq dir) :when (re-find #"\.staging-|\.old-|\.tmp$" (.getName f))] (.getName f)))

(defn- check-run-on-full-disk
  "Writes a good run into mnt/run, fills the disk but for keep bytes, reruns a
  bigger experiment there with --force: exit 2 naming the disk, the old run
  byte for byte as it was, no staging left."
  [^File mnt ^long keep]
  (let [out (str (io/file mnt "run"))
        first-run (runner/run-cli false ["run" (write-exp "tiny.edn" tiny) "--out" out "--force" "--no-plots" "--no-report"])
        _ (is (= 0 (:code first-run)) (:err first-run))
        before (snapshot (io/file out))
        ^File filler (fill! mnt keep)
        second-run (runner/run-cli false ["run" (write-exp "big.edn" (bigger 400)) "--out" out "--force"
                                          "--no-plots" "--no-report"])]
    (is (= 2 (:code second-run)) (str "keep " keep ": " (:err second-run)))
    (is (re-find #"(?i)no space|disk" (:err second-run)) (:err second-run))
    (is (= before (snapshot (io/file out))) (str "keep " keep ": the previous complete run is intact"))
    (is (complete-run? (io/file out)))
    (is (empty? (leftovers mnt)) (str "keep " keep))
    (.delete filler)))

(defn- check-sweep-on-full-disk
  "A sweep into a disk with room for about one point: whatever is reported
  completed (the summary line, summary.csv) is on disk and complete."
  [^File mnt]
  (let [out (io/file mnt "sweep")
        _ (.mkdirs out)
        ^File filler (fill! mnt (* 24 1024))
        file (write-exp "sweep.edn" {:base (bigger 200) :grid {[:optimizer :lr] [0.05 0.1 0.15 0.2]}})
        {:keys [code err] printed :out} (runner/run-cli false ["sweep" file "--out" (str out) "--jobs" "1"
                                                               "--no-plots" "--no-report"])
        dirs (filter #(.isDirectory ^File %) (or (.listFiles (io/file out "runs")) (make-array File 0)))
        reported (some-> (re-find #"\((\d+) completed" printed) second Long/parseLong)
        summary (io/file out "summary.csv")]
    (is (not= 0 code) "a sweep that could not write every point does not succeed")
    (is (re-find #"(?i)no space|disk" err) err)
    (testing "every run directory on disk is complete"
      (doseq [d dirs] (is (complete-run? d) (str d))))
    (testing "the summary line counts as completed only points on disk, the others as unwritten"
      (is (<= (long (or reported 0)) (count dirs)) printed)
      (when (< (count dirs) 4)
        (is (str/includes? printed (str (- 4 (count dirs)) " unwritten")) printed)))
    (testing "summary.csv (when it could be written) lists as completed only points on disk"
      (when (.exists summary)
        (let [[header & rows] (with-open [r (io/reader summary)] (doall (csv/read-csv r)))
              col (fn [nm] (.indexOf ^java.util.List header nm))]
          (doseq [row rows :when (= "completed" (nth row (col "status")))]
            (is (complete-run? (io/file out "runs" (nth row (col "dir")))) (pr-str row))))))
    (is (empty? (remove #(= "filler" %) (leftovers mnt))))
    (.delete filler)))

(deftest a-full-tmpfs-keeps-the-previous-run-and-reports-only-what-is-on-disk
  (let [mnt (io/file (path "mnt"))]
    (if-not (mount-tmpfs! mnt 1024)
      (println "disk-full-test: cannot mount a tmpfs here (not root?); the ulimit test covers the run case")
      (try
        (testing "no room at all"
          (check-run-on-full-disk mnt 0))
        (testing "room for the first files of the run but not the rest"
          (check-run-on-full-disk mnt (* 8 1024)))
        (testing "a sweep"
          (check-sweep-on-full-disk mnt))
        (finally (umount! mnt))))))

(deftest ^:slow a-file-size-limit-in-a-child-process-keeps-the-previous-run
  ;; Without root no tmpfs: `ulimit -f` makes every write past the limit fail
  ;; with EFBIG once SIGXFSZ is ignored (trap '' XFSZ is inherited by exec).
  (let [out (path "run")
        java (str (io/file (System/getProperty "java.home") "bin" "java"))
        child (fn [exp-file limit-kb]
                (sh "bash" "-c" (str "ulimit -f " limit-kb "; trap '' XFSZ; exec \"$0\" -cp \"$1\" clojure.main -m dlnlab.cli run \"$2\" --out \"$3\" --force --no-plots --no-report")
                    java (System/getProperty "java.class.path") exp-file out))
        first-run (child (write-exp "tiny.edn" tiny) 100000)
        _ (is (= 0 (long (:exit first-run))) (:err first-run))
        before (snapshot (io/file out))
        second-run (child (write-exp "big.edn" (bigger 2000)) 64)]
    (is (= 2 (long (:exit second-run))) (:err second-run))
    (is (str/includes? (:err second-run) "Cannot write") (:err second-run))
    (is (= before (snapshot (io/file out))) "the previous complete run is intact")
    (is (empty? (leftovers (io/file (path)))))))
