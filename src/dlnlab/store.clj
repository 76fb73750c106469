(ns dlnlab.store
  "Runs and sweeps on disk, callable from the REPL as from the command line.

  A run directory holds result.edn (the whole result map; a long run streamed
  to its trajectory file keeps a bounded part of its rows there, see
  `write-run!`) and trajectory.csv (one row per recorded row), plus whatever
  the caller adds (figures). A
  sweep directory holds sweep.edn (the normalized sweep and its :provenance,
  dlnlab.provenance/collect), runs/<index>-<point>/
  (one run directory per grid point) and summary.csv (one row per point whose
  files are on disk, or that failed).

  What is guaranteed:
  - A run's files are written into a temporary directory beside the target,
    synced to disk, and published by one rename; a reader sees the old run
    or the new one, never a mix. An existing run directory is moved aside and
    deleted only after the new one is in place, so a failed write leaves the
    previous complete run intact.
  - A directory being written is claimed by a lock file beside it
    (.<name>.lock, created atomically, holding pid, host and start time); a
    second writer gets an ex-info of kind :conflict naming the holder. A lock
    whose process is gone (same host) is taken over (dlnlab.store.lock).
  - `run-sweep!` resumes: a point counts as done only when its result.edn
    parses and records the point's experiment; damaged points are rerun (with
    a warning through :log), and the temporary files of killed writers are
    removed first. Only summaries are kept in memory.

  Functions: `write-run!`, `read-run`, `check-run-dir!`, `normalize-sweep`,
  `run-sweep!`, `read-sweep`, `read-input`; locks are dlnlab.store.lock's
  (`lock!`, `unlock!`, `with-lock`), the JSON twin and the sweep tables
  dlnlab.store.tables'."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [dlnlab.error :as error]
            [dlnlab.io :as dio]
            [dlnlab.provenance :as provenance]
            [dlnlab.result :as result]
            [dlnlab.spec :as spec]
            [dlnlab.store.lock :as lock]
            [dlnlab.store.tables :as tables]
            [dlnlab.summary :as summary]
            [dlnlab.sweep :as sweep])
  (:import [java.io File Writer]
           [java.util.concurrent.atomic AtomicBoolean]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------- run directories

(defmulti trajectory-metrics
  "The column order of a result's trajectory.csv after step and time, by
  dlnlab.result/kind: a network run's recorded metrics in the experiment's
  record order; an :sde run's mean, std, the quantiles (ascending), diffusion,
  gradient flow and kept paths."
  result/kind)

(defmethod trajectory-metrics :default [r] (get-in r [:experiment :record :metrics]))

(defmethod trajectory-metrics :sde [r]
  (let [qs (filter #(re-matches #"q[0-9.]+" (name %)) (keys (:trajectory r)))]
    (concat [:mean :std] (sort-by #(Double/parseDouble (subs (name %) 1)) qs)
            [:diffusion :gradient-flow :paths])))

(def ^:private run-files
  "Names a run directory may hold that dlnlab wrote."
  #"result\.edn|trajectory\.csv|.+\.(svg|png|pdf|json|html)")

(defn check-run-dir!
  "Checks that a run may be written to dir: dir is absent or empty, or force?
  is true and dir holds only files a run writes (result.edn, trajectory.csv,
  figures), which the new run then replaces. Returns dir. Throws ex-info of
  kind :unwritable naming what is in the way."
  [dir force?]
  (let [d (io/file dir)
        names (sort (.list d))]
    (when (.exists d)
      (when-not (.isDirectory d)
        (error/fail! :unwritable (str "Cannot write results to " dir ": it is a file, not a directory.")
                     {:path [:out] :value (str dir) :allowed "a directory"}))
      (when (seq names)
        (if-not force?
          (error/fail! :unwritable
                       (str dir " already holds " (count names) " file" (when (next names) "s") " ("
                            (str/join ", " (take 4 names)) (when (> (count names) 4) ", ...")
                            "); a run writes into an empty directory. Use --force to replace the run there, "
                            "or choose another --out.")
                       {:path [:out] :value (str dir) :allowed "an empty or new directory (or --force)"})
          (when-let [foreign (seq (remove #(re-matches run-files %) names))]
            (error/fail! :unwritable
                         (str dir " holds files a run does not write (" (str/join ", " (take 4 foreign))
                              "); --force replaces only run directories. Move them away or choose another --out.")
                         {:path [:out] :value (str dir) :allowed "a directory holding only a previous run"})))))
    dir))

(defn- publish!
  "Moves the directory staging to target in one rename; an existing target is
  first moved aside and deleted once the new one is in place (moved back when
  the rename fails)."
  [^File staging ^File target]
  (let [parent (.getParentFile target)
        aside (when (.exists target)
                (let [a (io/file parent (str "." (.getName target) ".old-" (System/nanoTime)))]
                  (dio/move-atomically! target a)
                  a))]
    (try (dio/move-atomically! staging target)
         (catch Exception e
           (when aside (dio/move-atomically! aside target))
           (throw e)))
    (when aside (lock/delete-tree! aside))
    target))

(defn write-run!
  "Writes result as the run directory dir: result.edn, result.json (its JSON
  twin, dlnlab.store.tables/result-json), trajectory.csv (columns
  by `trajectory-metrics`; or the file :trajectory-file of opts when it exists,
  the CSV a run wrote as it recorded, see `trajectory-stream-file`) and
  whatever (extra! staging-dir) writes (e.g. figures), all into a temporary
  directory beside dir, synced, then published by one rename (see the
  namespace docstring). A result whose :trajectory holds fewer rows than the
  streamed file (dlnlab.train/run) gets :file \"trajectory.csv\" in its
  :trajectory-file. An existing dir is replaced as a whole; `check-run-dir!`
  is the caller's guard against that. Returns {:dir :result :trajectory :extra
  (what extra! returned)}. Throws ex-info of kind :unwritable when the files
  cannot be written (dir is then unchanged)."
  ([result dir] (write-run! result dir {}))
  ([result dir {:keys [extra! trajectory-file]}]
   (dio/check-writable-dir! dir)
   (let [target (.getAbsoluteFile (io/file dir))
         parent (doto (.getParentFile target) .mkdirs)
         staging (io/file parent (str "." (.getName target) ".staging-" (System/nanoTime)))
         streamed (when (and trajectory-file (.exists (io/file trajectory-file))) (io/file trajectory-file))
         result (cond-> result (:trajectory-file result) (assoc-in [:trajectory-file :file] "trajectory.csv"))]
     (try
       (.mkdirs staging)
       (if streamed
         (dio/move-atomically! (dio/fsync! streamed) (io/file staging "trajectory.csv"))
         (dio/write-atomically! (io/file staging "trajectory.csv")
                                (fn [^Writer w] (dio/write-trajectory-csv w (:trajectory result) (trajectory-metrics result)))))
       (dio/write-edn-file! (io/file staging "result.edn") result)
       (dio/write-atomically! (io/file staging "result.json") (tables/result-json result))
       (let [extra (when extra! (extra! (str staging)))]
         (dio/fsync! staging)
         (try (publish! staging target)
              (catch java.io.IOException e
                (error/fail! :unwritable (str "Cannot write results to " dir ": " (.getMessage e))
                             {:path [:out] :value (str dir) :allowed "a writable directory"} e)))
         {:dir (str dir) :result (str (io/file dir "result.edn")) :trajectory (str (io/file dir "trajectory.csv"))
          :extra extra})
       (finally (when (.exists staging) (lock/delete-tree! staging)))))))

(defn trajectory-stream-file
  "A fresh file beside run directory dir for a run to write its trajectory.csv
  into as it records (dlnlab.experiment/run's :trajectory-file), which
  `write-run!` then moves into the run directory; one a killed run leaves is a
  leftover (dlnlab.store.lock/leftover?)."
  ^File [dir]
  (let [target (.getAbsoluteFile (io/file dir))]
    (io/file (doto (.getParentFile target) .mkdirs) (str "." (.getName target) ".stream-" (System/nanoTime) ".csv"))))

(defn clean-run-leftovers!
  "Deletes what killed writers of run directory dir left beside it (staging
  and set-aside copies, streamed trajectories; see `trajectory-stream-file`).
  Call it holding the lock of dir. Returns the names deleted."
  [dir]
  (let [target (.getAbsoluteFile (io/file dir))
        prefix (str "." (.getName target) ".")
        found (filter #(let [nm (.getName ^File %)]
                         (and (str/starts-with? nm prefix) (lock/leftover? nm) (not (str/ends-with? nm ".lock"))))
                      (.listFiles (.getParentFile target)))]
    (doseq [f found] (lock/delete-tree! f))
    (mapv #(.getName ^File %) found)))

(defn read-run
  "The result stored in run directory dir (its result.edn). Throws ex-info of
  kind :unreadable-file naming the file when it is missing or damaged, or is
  not a result map."
  [dir]
  (let [f (io/file dir "result.edn")
        r (dio/read-edn-file f)]
    (when-not (and (map? r) (map? (:trajectory r)))
      (error/fail! :unreadable-file (str f " is not a run result (a map with a :trajectory).")
                   {:path [:file] :value (str f) :allowed "a result map"}))
    r))

;; ---------------------------------------------------------------- sweeps

(def ^:private sweep-keys #{:base :grid :zip :seeds :replicates :name :description})

(defn- invalid! [msg data] (error/fail! :invalid-experiment msg data))

(defn check-runnable!
  "Throws ex-info of kind :invalid-experiment when the normalized experiment n
  (from source, a file name for messages) cannot be run because it has nothing
  to run: a network experiment without :optimizer. what is the verb (\"run\")."
  [n source what]
  (when (and (= :network (result/kind {:experiment n})) (not (:optimizer n)))
    (invalid! (str source ": the experiment has no :optimizer, so there is nothing to " what
                   "; add e.g. :optimizer {:kind :gd :lr 0.01} :steps 1000 (dlnlab describe lists every optimizer).")
              {:path [:optimizer] :value nil :allowed "an optimizer map"}))
  n)

(defn sweep-grid
  "The grid a normalized sweep runs: its :grid, then the pseudo-axis
  [:replicate] [0 .. R-1] when it has :replicates R > 1."
  [norm]
  (let [r (long (:replicates norm 1))]
    (cond-> (vec (:grid norm)) (> r 1) (conj [[:replicate] (vec (range r))]))))

(defn sweep-points
  "The points of a normalized sweep in run order (dlnlab.sweep/grid-points of
  `sweep-grid` and its :zip groups)."
  [norm]
  (sweep/grid-points (sweep-grid norm) (:zip norm)))

(defn normalize-sweep
  "{:base :grid [[path values] ...] :seeds} (with :replicates when above 1,
  :zip, :name and :description when given) from a sweep map {:base EXPERIMENT
  :grid {PATH [VALUES]} :zip [[PATH PATH ...] ...] :seeds
  :derived|:shared|:independent :replicates R}, every
  point's experiment validated (dlnlab.sweep/seed-modes says what each :seeds
  mode means; a [:seed] axis is used as given). source names the sweep
  in messages (a file name). Throws ex-info of kind :invalid-experiment naming
  the problem (and the grid point)."
  ([raw] (normalize-sweep raw "the sweep"))
  ([raw source]
   (doseq [k (keys raw)]
     (when-not (or (sweep-keys k) (= :provenance k)) ; sweep.edn's record, ignored
       (let [dym (error/did-you-mean k sweep-keys)]
         (invalid! (str source ": unknown key " (pr-str k) " in a sweep file."
                        (when dym (str " Did you mean " (pr-str dym) "?"))
                        " A sweep file is {:base EXPERIMENT :grid {PATH [VALUES] ...} :seeds :derived|:shared|:independent"
                        " :replicates R} (optional :zip, :seeds, :replicates, :name, :description)."
                        (when (#{:model :task :optimizer} k) " Put the experiment's keys under :base."))
                   {:path [k] :value (get raw k) :allowed (vec (sort sweep-keys))}))))
   (doseq [k [:base :grid]]
     (when-not (contains? raw k)
       (invalid! (str source ": a sweep file needs " k "; it is {:base EXPERIMENT :grid {PATH [VALUES] ...}}, e.g. "
                      "{:base {...} :grid {[:optimizer :lr] [0.01 0.02]}}.")
                 {:path [k] :value nil :allowed (if (= k :base) "an experiment map" "a grid map")})))
   (when-not (map? (:base raw))
     (invalid! (str source ": [:base] must be an experiment map, got " (error/show (:base raw)) ".")
               {:path [:base] :value (:base raw) :allowed "an experiment map"}))
   (let [seeds (:seeds raw :derived)
         reps (:replicates raw 1)]
     (when-not (contains? sweep/seed-modes seeds)
       (invalid! (str source ": [:seeds] must be :derived (paired: the optimizer's coordinates share seeds), "
                      ":shared (the base seed everywhere) or :independent (every point its own seed), got "
                      (pr-str seeds) ". `dlnlab describe` explains each.")
                 {:path [:seeds] :value seeds :allowed (vec (keys sweep/seed-modes))}))
     (when-not (and (integer? reps) (pos? (long reps)))
       (invalid! (str source ": [:replicates] must be a positive integer (the number of seeds per point), got "
                      (error/show reps) ".")
                 {:path [:replicates] :value reps :allowed "a positive integer"}))
     (let [g (:grid raw)
           paths (when (or (map? g) (vector? g)) (set (keep #(when (vector? %) (first %)) g)))]
       (when (contains? paths [:replicate])
         (invalid! (str source ": [:replicate] is not a grid path; give :replicates R to run R seeds per point.")
                   {:path [:grid [:replicate]] :value (get (:grid raw) [:replicate]) :allowed ":replicates R"}))
       (when (and (contains? paths [:seed]) (> (long reps) 1))
         (invalid! (str source ": a grid over [:seed] and :replicates " reps " both choose seeds; give one of them.")
                   {:path [:replicates] :value reps :allowed "1 when the grid has a [:seed] axis"})))
     (let [_ (try (sweep/grid-points (:grid raw) (:zip raw))
                  (catch clojure.lang.ExceptionInfo e
                    (invalid! (str source ": " (ex-message e)) (ex-data e))))
           norm (merge (select-keys raw [:name :description :zip])
                       {:base (:base raw) :grid (vec (map vec (seq (:grid raw)))) :seeds seeds}
                       (when (> (long reps) 1) {:replicates reps}))]
       (doseq [[i point] (map-indexed vector (sweep-points norm))]
         (try (-> (sweep/point-experiment (:base raw) point seeds)
                  spec/normalize
                  (check-runnable! source "sweep"))
              (catch clojure.lang.ExceptionInfo e
                (let [msg (ex-message e)
                      msg (if (str/starts-with? msg (str source ": ")) msg (str source ": " msg))]
                  (invalid! (str "Grid point " i " " (pr-str (into {} point)) " of " msg) (ex-data e))))))
       norm))))

(defn- value-label ^String [v]
  (cond (keyword? v) (name v)
        (string? v) v
        :else (pr-str v)))

(defn point-label
  "A short readable directory name for a grid point: the last key of each path
  and its value (lr=0.05_depth=3), characters outside [A-Za-z0-9._=+-] replaced
  by '-', at most 60 characters."
  [point]
  (let [s (str/join "_" (for [[path v] point] (str (name (peek path)) "=" (value-label v))))
        s (str/replace s #"[^A-Za-z0-9._=+\-]" "-")]
    (if (> (count s) 60) (subs s 0 60) s)))

(defn- run-dir-name [^long i ^long n point]
  (let [digits (max 3 (count (str (dec n))))]
    (str (format (str "%0" digits "d") i) "-" (point-label point))))

(defn point-dirs
  "The run directories of a normalized sweep's points under dir, in grid order."
  [norm dir]
  (let [points (sweep-points norm)
        n (count points)]
    (vec (map-indexed (fn [i p] (io/file dir "runs" (run-dir-name i n p))) points))))

(defn- check-resumable!
  "Throws ex-info of kind :conflict when dir/sweep.edn holds another sweep than
  norm (or cannot be read)."
  [norm dir source]
  (let [sweep-file (io/file dir "sweep.edn")]
    (when (.exists sweep-file)
      (let [old (try (dio/read-edn-file sweep-file)
                     (catch clojure.lang.ExceptionInfo e
                       (error/fail! :conflict (str "Cannot resume in " dir ": " (ex-message e) " Use another --out directory.")
                                    {:path [:sweep] :value (str sweep-file) :allowed "a readable sweep.edn"})))]
        (when (not= (dissoc old :provenance) norm)
          (let [diff (filter #(not= (get old %) (get norm %)) [:base :grid :seeds :replicates :name :description])
                what (str/join " and " (map pr-str diff))]
            (error/fail! :conflict
                         (str sweep-file " holds a different sweep (" (if (empty? diff) "the file differs"
                                                                         (str "its " what (if (next diff) " differ" " differs")))
                              " from " source "), so the results there cannot be resumed; use another --out directory, or delete "
                              dir " to start over.")
                         {:path [:sweep] :value (str sweep-file) :allowed "the same sweep as before"})))))))

(defn- stored-point
  "The result stored for point i in run directory d when it is complete and is
  that point's run: {:result r}; {:damaged why} when files are there but
  unusable; nil when nothing is there."
  [norm i point ^File d]
  (let [f (io/file d "result.edn")]
    (when (.exists d)
      (try
        (let [r (read-run d)
              expected (spec/normalize (sweep/point-experiment (:base norm) point (:seeds norm)))]
          (cond (not= expected (:experiment r)) {:damaged "its result.edn records another experiment"}
                (not= {:index i :point (into {} point)} (:sweep r)) {:damaged "its result.edn records another grid point"}
                (not (.exists (io/file d "trajectory.csv"))) {:damaged "trajectory.csv is missing"}
                :else {:result r}))
        (catch clojure.lang.ExceptionInfo e
          {:damaged (if (.exists f) (ex-message e) "result.edn is missing")})))))

(defn parse-shard
  "[k n] from a shard \"K/N\" (1 <= K <= N): the points whose index i has
  i mod N = K - 1. Throws ex-info of kind :invalid-argument otherwise."
  [^String s]
  (let [[_ k n] (when s (re-matches #"\s*(\d{1,9})\s*/\s*(\d{1,9})\s*" s))
        k (some-> k Long/parseLong)
        n (some-> n Long/parseLong)]
    (when-not (and k n (<= 1 (long k) (long n)))
      (error/fail! :invalid-argument
                   (str "--shard must be K/N with 1 <= K <= N (this job's part of N), got " (pr-str s)
                        "; in a Slurm array numbered from 0 use --shard $((SLURM_ARRAY_TASK_ID + 1))/N.")
                   {:path [:shard] :value s :allowed "K/N, 1 <= K <= N"}))
    [k n]))

(defn- in-shard? [[^long k ^long n] ^long i] (= (mod i n) (dec k)))

(defn- shard-lock-dir ^File [dir [k n]] (io/file dir (str "shard-" k "-of-" n)))

(defn- clean-shard-leftovers!
  "Deletes what killed writers of the run directories named names left (staging
  and set-aside copies in runs/, temporary files inside them), leaving other
  shards' files alone."
  [dir names]
  (let [runs (io/file dir "runs")
        own (set names)]
    (doseq [^File f (.listFiles runs)
            :let [nm (.getName f)
                  [_ target] (re-matches #"\.(.+)\.(?:staging|old)-[0-9]+" nm)]]
      (cond (and target (own target)) (lock/delete-tree! f)
            (and (own nm) (.isDirectory f)) (doseq [^File g (.listFiles f) :when (lock/leftover? (.getName g))] (lock/delete-tree! g))))))

(defn run-sweep!
  "Runs the normalized sweep norm (see `normalize-sweep`) into directory dir,
  resuming: points whose run directory is complete are skipped, damaged ones
  rerun. Writes dir/sweep.edn first, each point's run directory (`write-run!`)
  as it finishes, then the tables (dlnlab.store.tables/write-tables!: summary.csv, aggregate.csv,
  trajectories.csv). Holds the lock of dir throughout (a second writer gets
  :conflict). Keeps only summary rows in memory.

  Options: :jobs (available processors) runs at a time; :shard [k n] runs only
  the points whose index i has i mod n = k - 1 (see `parse-shard`), holding a
  lock of its own so that the n shards may write into dir at once, and writes
  no tables (a later unsharded run-sweep! of the same sweep, or :merge?, does);
  :merge? true runs nothing and writes the tables of the points on disk;
  :engine (dlnlab.sweep/sweep) the function that runs the points, with the
  arguments and options of dlnlab.sweep/sweep (dlnlab.spark/engine runs them
  on Spark);
  :interrupt an AtomicBoolean that stops the runs at their next step
  (interrupted points are not written and not listed); :run-opts for each run;
  :source (\"the sweep\") names the sweep in messages; :log (fn [line]) for
  warnings (default prints to *err*); :on-start (fn [{:keys [points skipped
  jobs]}]) before the first run; :on-result (fn [index result]) after each
  point is written; :extra! (fn [result run-dir]) writes more files into each
  run directory (figures).

  Returns {:dir :points n :skipped k :ran [{:index :point :status
  (:unwritten when its files could not be written) :stop-reason :error}]
  :write-errors [msg] :damaged [index] :missing [index] (points
  without a result, when merging) :interrupted? :summary path (nil for a
  shard)}. Throws ex-info (:invalid-experiment, :conflict, :unwritable)
  before running anything when the sweep or dir is unusable."
  [norm dir {:keys [jobs ^AtomicBoolean interrupt run-opts source log on-start on-result extra! shard merge? engine]
             :or {jobs (.availableProcessors (Runtime/getRuntime)) source "the sweep"}}]
  (dio/check-writable-dir! dir)
  (if shard
    (lock/refuse-if-held! (lock/lock-file dir) "an unsharded sweep" dir)
    (doseq [^File f (.listFiles (io/file dir)) :when (re-matches #"\.shard-\d+-of-\d+\.lock" (.getName f))]
      (lock/refuse-if-held! f (str "shard " (str/replace (.getName f) #"\.shard-|\.lock" "")) dir)))
  (lock/with-lock (if shard (shard-lock-dir dir shard) dir)
    (let [log (or log (fn [line] (binding [*out* *err*] (println line))))
          interrupt (or interrupt (AtomicBoolean. false))
          points (sweep-points norm)
          n (count points)
          dirs (point-dirs norm dir)
          mine? (fn [^long i] (or (nil? shard) (in-shard? shard i)))
          _ (.mkdirs (io/file dir))
          _ (if shard
              (clean-shard-leftovers! dir (keep-indexed (fn [i ^File d] (when (mine? i) (.getName d))) dirs))
              (do (lock/clean-leftovers! (io/file dir "runs"))
                  (lock/clean-leftovers! dir)))
          _ (check-resumable! norm dir source)
          rows (atom (sorted-map))
          invocation provenance/*invocation*
          prov (provenance/collect {:invocation invocation :experiment (:base norm)})
          done (volatile! #{})
          damaged (volatile! [])]
      (doseq [[i point] (map-indexed vector points)
              :when (mine? i)
              :let [^File d (nth dirs i)
                    {r :result why :damaged} (stored-point norm i point d)]]
        (cond r (do (swap! rows assoc i (summary/tidy-row i (.getName d) point r))
                    (vswap! done conj i))
              why (do (vswap! damaged conj i)
                      (log (str "dlnlab: warning: " d " is damaged (" why ")"
                                (if merge? "; it is left out." (str "; rerunning grid point " i ".")))))))
      (dio/write-edn-file! (io/file dir "sweep.edn") (assoc norm :provenance prov))
      (let [skipped (count @done)
            ran (atom [])
            write-errors (atom [])
            _ (when on-start (on-start {:points n :skipped skipped :jobs jobs}))
            _ (when-not merge?
                ((or engine sweep/sweep) (:base norm) (sweep-grid norm)
                             {:jobs jobs :seeds (:seeds norm) :zip (:zip norm) :keep-results? false
                              :run-opts (cond-> (assoc (or run-opts {}) :interrupt interrupt)
                                          invocation (update :invocation #(or % invocation)))
                              :skip? (fn [i _] (or (not (mine? i)) (contains? @done i)))
                              :on-result
                              (fn [i point r]
                                (let [^File d (nth dirs i)
                                      interrupted? (= :interrupted (:stop-reason r))
                                      failed? (= :failed (:status r))
                                      werr (when-not (or failed? interrupted?)
                                             (try (write-run! r d {:extra! (when extra! #(extra! r %))}) nil
                                                  (catch Exception e (ex-message e))))]
                                  ;; a point whose files could not be written is not reported completed
                                  (swap! ran conj (cond-> (assoc (select-keys r [:status :stop-reason :error])
                                                                 :index i :point (into {} point))
                                                    werr (assoc :status :unwritten :error werr)))
                                  (cond werr (do (swap! write-errors conj werr)
                                                 (swap! rows assoc i (summary/tidy-row i "" point
                                                                                       (assoc r :status :unwritten :error werr))))
                                        failed? (swap! rows assoc i (summary/tidy-row i "" point r))
                                        interrupted? nil
                                        :else (swap! rows assoc i (summary/tidy-row i (.getName d) point r)))
                                  (when on-result (on-result i r))))}))
            tables (when-not shard (tables/write-tables! (sweep-grid norm) dir (vals @rows)))
            _ (when-not (.get interrupt)
                (dio/write-edn-file! (io/file dir "sweep.edn") (assoc norm :provenance (assoc prov :ended (provenance/now)))))]
        {:dir (str dir) :points n :skipped skipped :ran (vec (sort-by :index @ran)) :write-errors @write-errors
         :damaged @damaged :missing (if merge? (vec (remove @done (filter mine? (range n)))) [])
         :interrupted? (.get interrupt) :summary (:summary tables)}))))

(defn read-sweep
  "What a sweep directory holds: {:sweep (sweep.edn without its :provenance,
  or nil) :provenance (sweep.edn's) :dirs [run
  directory names] :results [result ...]}, the results of the run directories
  under dir/runs that hold a result.edn, in directory order. Throws ex-info of
  kind :unreadable-file when one of those cannot be read."
  [dir]
  (let [runs (io/file dir "runs")
        ds (->> (or (.listFiles runs) (make-array File 0))
                (filter #(and (.isDirectory ^File %) (not (str/starts-with? (.getName ^File %) "."))))
                (filter #(.exists (io/file % "result.edn")))
                (sort-by #(.getName ^File %)))
        sweep-file (io/file dir "sweep.edn")
        s (when (.exists sweep-file) (dio/read-edn-file sweep-file))]
    {:sweep (cond-> s (map? s) (dissoc :provenance))
     :provenance (when (map? s) (:provenance s))
     :dirs (mapv #(.getName ^File %) ds)
     :results (mapv #(dio/read-edn-file (io/file % "result.edn")) ds)}))

;; ---------------------------------------------------------------- reading what a path holds

(defn- unreadable! [msg data] (error/fail! :unreadable-file msg data))

(defn- check-result!
  "r, when it looks like a run result (a map whose :trajectory is a map of
  vectors); otherwise an :unreadable-file error naming file."
  [r file]
  (let [traj (:trajectory r)]
    (when-not (and (map? r) (map? traj) (seq traj) (every? #(or (nil? %) (sequential? %)) (vals traj)))
      (unreadable! (str file " is not a run result: "
                       (cond (not (map? r)) (str "it holds " (if (nil? r) "nil" (str "a " (.getSimpleName (class r)))) ", not a map")
                             (and (contains? r :base) (contains? r :grid))
                             "it is a sweep file; run it with `dlnlab sweep`, then plot its output directory"
                             (not (contains? r :trajectory))
                             (str "it has no :trajectory (its keys are " (str/join " " (map pr-str (take 8 (keys r)))) ")")
                             :else "its :trajectory is not a map of recorded columns")
                       ". Give a result.edn written by `dlnlab run` or `dlnlab sweep`, a run directory or a sweep directory.")
                  {:path [:trajectory] :value (str file) :allowed "a run result {:trajectory {...} ...}"}))
    r))

(defn- read-sweep-dir
  "The results under dir/runs/*/result.edn in directory order; an error when
  there are none or one cannot be read."
  [^File dir]
  (let [runs (io/file dir "runs")
        {:keys [dirs results]} (read-sweep dir)]
    (when (empty? results)
      (unreadable! (str dir " is a sweep directory without results: " runs
                       " holds no */result.edn yet. Run the sweep first (dlnlab sweep FILE.edn --out " dir ").")
                  {:path [:runs] :value (str runs) :allowed "runs/*/result.edn"}))
    (mapv (fn [d r] (check-result! r (str (io/file runs d "result.edn")))) dirs results)))

(defn- result-kind
  "The plot input kind of a run result: :result for a network run, :ensemble
  for the others (an :sde run's figures are the SDE ones)."
  [r]
  (if (= :network (result/kind r)) :result :ensemble))

(defn read-input
  "What path holds, for drawing: {:kind :result (a network run's result) |
  :ensemble (an :sde run's result, or an SDE ensemble file) | :sweep (the
  results of a sweep directory) :data <the result, ensemble or vector of
  results> :dir <the directory of the input>}. path is a result.edn, a run
  directory, a sweep directory or its sweep.edn. Throws ex-info of kind
  :unreadable-file naming the problem otherwise."
  [path]
  (let [f (io/file path)]
    (cond
      (not (.exists f))
      (unreadable! (str "No such file or directory: " path ". Give a result.edn, a run directory or a sweep directory.")
                  {:path [:input] :value path :allowed "a result.edn, a run directory or a sweep directory"})

      (.isDirectory f)
      (cond
        (.exists (io/file f "result.edn"))
        (let [r (check-result! (dio/read-edn-file (io/file f "result.edn")) (str (io/file f "result.edn")))]
          {:kind (result-kind r) :dir f :data r})
        (.exists (io/file f "sweep.edn"))
        {:kind :sweep :dir f :data (read-sweep-dir f)}
        :else
        (unreadable! (str "The directory " path " holds neither result.edn (a run) nor sweep.edn (a sweep); "
                         "give a result file, a run directory or a sweep directory.")
                    {:path [:input] :value path :allowed "a directory with result.edn or sweep.edn"}))

      :else
      (let [v (dio/read-edn-file f)
            dir (or (.getParentFile (.getAbsoluteFile f)) (io/file "."))]
        (cond
          (and (map? v) (contains? v :base) (contains? v :grid) (.exists (io/file dir "runs")))
          {:kind :sweep :dir dir :data (read-sweep-dir dir)}
          (and (map? v) (contains? v :time) (contains? v :mean) (not (contains? v :trajectory)))
          {:kind :ensemble :dir dir :data v}
          :else (let [r (check-result! v path)] {:kind (result-kind r) :dir dir :data r}))))))
