(ns dlnlab.cli.run
  "`dlnlab run` and `dlnlab sweep`: one experiment into a run directory, or a
  sweep (a file's, or a run file with --grid) into a resumable sweep directory."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [dlnlab.cli.args :refer [bad-input! usage-error! input-error? validated apply-sets out-option
                                      default-out base-name parse-jobs parse-positive with-grid-args
                                      one-file read-map]]
            [dlnlab.cli.common :refer [warn! with-signals interrupted-code progress-opts *interrupt-flag*
                                        figure-warning report-page print-report-path check-out-dir!
                                        run-result-code]]
            [dlnlab.cli.figures :as figures]
            [dlnlab.experiment :as experiment]
            [dlnlab.progress :as progress]
            [dlnlab.report :as report]
            [dlnlab.store :as store]
            [dlnlab.store.lock :as lock]
            [dlnlab.summary :as summary])
  (:import [java.io File Writer]
           [java.util.concurrent.atomic AtomicBoolean]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- run-experiment
  "Runs exp (from file) with the CLI's progress display and signal handling,
  writing its trajectory to the file stream as it records; returns the result."
  [exp file stream]
  (let [flag (or *interrupt-flag* (AtomicBoolean. false))
        ^Writer err *err*
        prog (when-let [o (progress-opts)] (progress/run-progress err o))
        opts (cond-> {:interrupt flag :trajectory-file stream}
               prog (assoc :progress (:progress prog) :on-record (:on-record prog)))]
    (try
      (with-signals flag err #(experiment/run exp opts))
      (catch clojure.lang.ExceptionInfo e
        (if (input-error? e)
          (bad-input! (str file ": the experiment cannot be run: " (ex-message e)) (ex-data e))
          (throw e)))
      (finally (when prog ((:finish prog)))))))

;; ---------------------------------------------------------------- sweeps

(defn- sweep-engine
  "The engine of --engine (nil: the in-process pool; spark: dlnlab.spark/engine
  with --master, when the Spark profile is on the classpath); bad input otherwise."
  [opts]
  (let [e (get opts "--engine")]
    (when (and (get opts "--master") (not= e "spark"))
      (usage-error! "--master names a Spark master; it goes with --engine spark."))
    (case e
      (nil "local") nil
      "spark" (let [f (try (requiring-resolve 'dlnlab.spark/engine) (catch Exception _ nil))]
                (when-not f
                  (bad-input! (str "--engine spark needs the Spark engine, which this jar does not hold; run it through "
                                   "bin/dlnlab (which builds target/dlnlab-spark.jar), spark-submit --class dlnlab.cli "
                                   "target/dlnlab-spark.jar, or `lein with-profile +spark run -m dlnlab.cli sweep ...`.")
                              {:path [:engine] :value e :allowed ["local" "spark"]}))
                ;; no --master: spark-submit's spark.master, else local[2]
                (f {:master (get opts "--master")
                    :jars (when-let [j (System/getProperty "dlnlab.spark.jar")] [j])}))
      (bad-input! (str "--engine must be local (the in-process pool, default) or spark, got " (pr-str e) ".")
                  {:path [:engine] :value e :allowed ["local" "spark"]}))))

(defn- sweep-command
  "Runs the raw sweep map raw (from file, command-line changes applied) into
  --out with --jobs, --shard K/N or --merge; prints what it did; returns the
  exit code."
  [file raw opts]
  (let [jobs (if-let [j (get opts "--jobs")] (parse-jobs j) (.availableProcessors (Runtime/getRuntime)))
        shard (when-let [s (get opts "--shard")] (store/parse-shard s))
        merge? (boolean (get opts "--merge"))
        _ (when (and shard merge?) (usage-error! "--shard runs a part of the sweep and --merge runs none; give one of them."))
        norm (store/normalize-sweep raw file)
        dir (out-option opts (default-out file))
        _ (check-out-dir! dir)
        engine (sweep-engine opts)
        ^AtomicBoolean flag (or *interrupt-flag* (AtomicBoolean. false))
        ^Writer err *err*
        prog (atom nil)
        no-plots? (or (get opts "--no-plots") merge?)
        render-opts (figures/render-options opts)
        figure-warnings (atom [])
        res (with-signals flag err
              #(store/run-sweep!
                norm dir
                {:jobs jobs :interrupt flag :source file :shard shard :merge? merge? :engine engine
                 :on-start (fn [{:keys [points skipped]}]
                             (when-not merge?
                               (println (str "sweep: " points " points" (when shard (str ", shard " (first shard) "/" (second shard)))
                                             ", " skipped " already done, running "
                                             (if shard "the rest of this shard" (- (long points) (long skipped)))
                                             " with " jobs " job" (when (> (long jobs) 1) "s")))
                               (flush)
                               (when-let [o (progress-opts)]
                                 (reset! prog (progress/sweep-progress err points skipped o))
                                 ((:start @prog)))))
                 :on-result (fn [_ _] (when-let [p @prog] ((:tick p))))
                 ;; each point's own figures only when asked: they outweigh the sweep's
                 :extra! (when (and (not no-plots?) (figures/point-figures? opts))
                           (fn [r d] (when-let [w (figure-warning r d d render-opts)] (swap! figure-warnings conj w))))}))
        _ (when-let [p @prog] ((:finish p)))
        _ (when (and engine (:summary res)) ((requiring-resolve 'dlnlab.spark/write-parquet-tables!) dir))
        sweep-file (io/file dir "sweep.edn")]
    (when-not (or no-plots? shard (:interrupted? res))
      (when-let [w (figure-warning (:results (store/read-sweep dir)) dir dir render-opts)] (swap! figure-warnings conj w)))
    (let [ran (:ran res)
          skipped (long (:skipped res))
          statuses (frequencies (map (fn [r] (if (= :interrupted (:stop-reason r)) :interrupted (:status r))) ran))
          failed (filter #(= :failed (:status %)) ran)
          missing (:missing res)]
      (if merge?
        (println (str "merged " skipped " of " (:points res) " points"))
        (println (str "ran " (count ran) " point" (when (not= 1 (count ran)) "s")
                      (when (seq statuses)
                        (str " (" (str/join ", " (for [[s c] (sort-by (comp name key) statuses)] (str c " " (name s)))) ")"))
                      (when (pos? skipped) (str "; " skipped " done before")))))
      (doseq [r failed]
        (warn! (str "dlnlab: grid point " (:index r) " " (pr-str (:point r)) " failed: " (:error r))))
      (doseq [m (:write-errors res)] (warn! (str "dlnlab: " m)))
      (doseq [w @figure-warnings] (warn! w))
      (when (seq missing)
        (warn! (str "dlnlab: " (count missing) " point" (when (next missing) "s") " have no result yet (first: "
                    (str/join ", " (take 5 missing)) "); the tables list the others. Run the remaining shards, "
                    "or `dlnlab sweep " file " --out " dir "` to run what is missing.")))
      (println (str "wrote:  " (str sweep-file) ", " (str (io/file dir "runs")) File/separator "*/"
                    (if shard
                      (str "; the tables come with `dlnlab sweep " file " --out " dir " --merge` once every shard is done")
                      (str ", " (:summary res) ", "
                           (str/join ", " (sort (for [^File f (.listFiles (io/file dir))
                                                      :when (and (.isFile f) (not (#{"sweep.edn" (.getName (io/file (str (:summary res))))} (.getName f))))]
                                                  (.getName f))))))))
      (when-not (or (get opts "--no-report") shard (:interrupted? res))
        (let [{:keys [warning report]} (report-page #(report/write-report! dir) dir)]
          (warn! warning)
          (print-report-path report)))
      (cond (:interrupted? res) (do (println "interrupted: rerun the same command to finish the remaining points.")
                                    (interrupted-code))
            (or (seq failed) (seq (:write-errors res)) (seq missing)) 1
            :else 0))))

(defn cmd-sweep [{:keys [files opts]}]
  (let [file (one-file "sweep" files)
        raw (read-map file "the sweep: {:base EXPERIMENT :grid {PATH [VALUES]}}")]
    (when-not (or (contains? raw :base) (contains? raw :grid))
      (bad-input! (str file " is not a sweep file (it has no :base and :grid); run a single experiment with `dlnlab run "
                       file "`, make a sweep of it with `dlnlab run " file " --grid optimizer.lr=0.01,0.1`, or write "
                       "{:base EXPERIMENT :grid {[:optimizer :lr] [0.01 0.02]}}.")))
    (sweep-command file (with-grid-args raw opts) opts)))

;; ---------------------------------------------------------------- run FILE (--grid: a sweep of it)

(defn- written-files
  "\"DIR/: result.edn, result.json, trajectory.csv, <the rest by name>\": every
  file of the run directory dir, just written as a whole."
  [dir]
  (let [first-names ["result.edn" "result.json" "trajectory.csv"]
        names (sort (for [^File f (.listFiles (io/file dir)) :when (.isFile f)] (.getName f)))]
    (str (io/file dir) File/separator ": "
         (str/join ", " (concat (filter (set names) first-names) (remove (set first-names) names))))))

(defn- run-one [{:keys [opts]} file raw]
  (let [exp (validated (apply-sets raw (get opts "--set")) file (get opts "--set") "run")
        dir (out-option opts (default-out file))
        render-opts (figures/render-options opts)]
    (check-out-dir! dir)
    (lock/with-lock dir
      (store/check-run-dir! dir (get opts "--force"))
      (store/clean-run-leftovers! dir)
      (let [^File stream (store/trajectory-stream-file dir)]
        (try
          (let [result (run-experiment exp file stream)
                page? (not (get opts "--no-report"))
                paths (store/write-run! result dir
                                        {:trajectory-file stream
                                         :extra! (fn [staging]
                                                   (let [fw (when-not (get opts "--no-plots") (figure-warning result staging dir render-opts))
                                                         rp (when page?
                                                              (report-page #(report/run-report! result staging {:title (str "dlnlab run: " (base-name file))})
                                                                           dir))]
                                                     (assoc rp :figure-warning fw)))})
                {:keys [figure-warning warning report]} (:extra paths)]
            (warn! figure-warning)
            (warn! warning)
            (doseq [l (summary/summary-lines result)] (println l))
            (println (str "wrote:            " (written-files dir)))
            (print-report-path (when report (str (io/file dir "report.html"))))
            (run-result-code result))
          (finally (.delete stream)))))))

(def ^:private sweep-only-options ["--zip" "--jobs" "--replicates" "--seeds" "--shard" "--merge"])

(defn cmd-run [{:keys [files opts] :as parsed}]
  (let [file (one-file "run" files)
        raw (read-map file "the experiment")]
    (when (and (contains? raw :grid) (contains? raw :base))
      (bad-input! (str file " is a sweep file (it has :base and :grid); run it with `dlnlab sweep " file "`.")))
    (if (seq (get opts "--grid"))
      (do (when (get opts "--force")
            (usage-error! "--force replaces a run directory; a sweep resumes in its directory instead, so --grid takes no --force."))
          (sweep-command file (with-grid-args {:base raw} opts) opts))
      (do (when-let [o (first (filter #(contains? opts %) sweep-only-options))]
            (usage-error! (str o " applies to sweeps; add --grid PATH=VALUES to make a sweep of " file ".")))
          (run-one parsed file raw)))))

;; ---------------------------------------------------------------- plot
