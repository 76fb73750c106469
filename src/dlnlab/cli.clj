(ns dlnlab.cli
  "The dlnlab command line: run, sweep, plot, report, reproduce, validate,
  describe, inspect.

  `main*` runs one command line in-process and returns its exit code, printing
  to whatever *out* and *err* are bound to (tests bind them to strings); `-main`
  calls it and exits the JVM with that code.

  Exit codes: 0 the command did its work (a run that completed, stopped on
  :loss-below or diverged: the result says which); 1 internal error (a bug,
  or a sweep point that failed); 2 bad input (unreadable or invalid files,
  bad arguments, an output directory that cannot be written or that another
  process is writing: the exceptions of dlnlab.error whose kind is not
  :internal), with one paragraph on stderr naming the problem and nothing
  written; 128 + the signal's number when interrupted by SIGINT (130, Ctrl-C),
  SIGTERM (143) or SIGHUP (129): the result so far is written with status
  :stopped and :stop-reason :interrupted.

  The files themselves are written by dlnlab.store (run directories, resumable
  sweeps, locks) and the text by dlnlab.summary."
  (:require [clojure.edn :as edn]
            [clojure.java.io :as io]
            [clojure.pprint :as pprint]
            [clojure.string :as str]
            [dlnlab.core :as core]
            [dlnlab.error :as error]
            [dlnlab.experiment :as experiment]
            [dlnlab.io :as dio]
            [dlnlab.plot :as plot]
            [dlnlab.progress :as progress]
            [dlnlab.report :as report]
            [dlnlab.result :as result]
            [dlnlab.spec :as spec]
            [dlnlab.store :as store]
            [dlnlab.summary :as summary :refer [fmt-duration wrap]]
            [dlnlab.sweep :as sweep])
  (:import [java.io File PushbackReader StringReader Writer]
           [java.util.concurrent.atomic AtomicBoolean AtomicLong]
           [sun.misc Signal SignalHandler])
  (:gen-class))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def usage
  "The text of `dlnlab help` (resources/dlnlab/usage.txt)."
  (str/trimr (slurp (io/resource "dlnlab/usage.txt"))))

;; ---------------------------------------------------------------- errors

(defn- bad-input!
  "Throws a dlnlab.error ex-info the caller can fix (exit 2): of the kind in
  data (when data comes from another error) or :invalid-argument."
  ([msg] (bad-input! msg nil))
  ([msg data] (error/fail! (or (:dlnlab/error data) :invalid-argument) msg (dissoc data :dlnlab/error))))

(defn- usage-error! [msg] (error/fail! :usage msg {}))

(defn- input-error?
  "True when exception e is the user's to fix (exit 2): a dlnlab.error kind other
  than :internal."
  [e]
  (let [data (ex-data e)]
    (if (contains? data :dlnlab/error)
      (error/input-error? data)
      ;; FALLBACK, to delete once every namespace throws through dlnlab.error:
      ;; ex-info without :dlnlab/error but with a key :path (or :problem) is
      ;; bad input. At 13483cc experiment, task, network, sweep, sde, hessian,
      ;; metrics, theory, plot, examples and papers/* still throw such ex-infos.
      (or (contains? data :path) (contains? data :problem)))))

(def ^:dynamic *interrupt-flag*
  "When bound to an AtomicBoolean, runs use it as their interrupt flag (tests set
  it to simulate Ctrl-C); otherwise each run makes its own."
  nil)

(def ^:dynamic *terminal?*
  "When nil (default), progress is shown only when System/console is non-nil;
  true or false forces it on or off."
  nil)

(defn- terminal? []
  (if (nil? *terminal?*) (some? (System/console)) (boolean *terminal?*)))

;; ---------------------------------------------------------------- arguments

(def ^:private command-options
  {"run" {"--out" :value "--set" :multi "--no-plots" :flag "--force" :flag "--no-report" :flag
          "--grid" :multi "--jobs" :value "--replicates" :value "--seeds" :value "--shard" :value "--merge" :flag}
   "sweep" {"--out" :value "--jobs" :value "--no-plots" :flag "--no-report" :flag "--set" :multi "--grid" :multi
            "--replicates" :value "--seeds" :value "--shard" :value "--merge" :flag
            "--engine" :value "--master" :value}
   "plot" {"--out" :value "--figure" :value}
   "report" {"--out" :value}
   "reproduce" {"--out" :value "--jobs" :value "--full" :flag "--no-plots" :flag "--no-report" :flag}
   "validate" {"--set" :multi}
   "inspect" {"--set" :multi}
   "describe" {}
   "version" {}})

(defn- parse-args
  "{:files [..] :opts {\"--out\" v \"--set\" [v ..] \"--no-plots\" true}} from the
  arguments after the command; throws bad input for an unknown option or a
  missing value."
  [command args]
  (let [allowed (get command-options command {})]
    (loop [[a & more :as args] (seq args) files [] opts {} only-files? false]
      (cond
        (nil? args) {:files files :opts opts}
        (or only-files? (not (str/starts-with? a "-")) (= a "-")) (recur more (conj files a) opts only-files?)
        (= a "--") (recur more files opts true)
        :else
        (let [[k inline] (let [i (str/index-of a "=")] (if i [(subs a 0 i) (subs a (inc (long i)))] [a nil]))
              kind (get allowed k)]
          (case kind
            nil (usage-error! (str "Unknown option " a " for `dlnlab " command "`"
                                   (if (seq allowed)
                                     (str "; its options are " (str/join ", " (sort (keys allowed))) ".")
                                     "; it takes no options.")))
            :flag (if inline
                    (usage-error! (str "Option " k " takes no value, got " (pr-str a) "."))
                    (recur more files (assoc opts k true) only-files?))
            (let [[v more] (if inline [inline more] [(first more) (next more)])]
              (when (nil? v)
                (usage-error! (str "Option " k " needs a value, e.g. "
                                   (case k "--out" "--out results/my-run" "--jobs" "--jobs 2" "--figure" "--figure sharpness"
                                         "--set" "--set optimizer.lr=0.05" "--grid" "--grid optimizer.lr=0.01,0.1"
                                         "--shard" "--shard 1/4" "--replicates" "--replicates 3" "--seeds" "--seeds :derived"
                                         (str k " VALUE")) ".")))
              (recur more files (if (= kind :multi) (update opts k (fnil conj []) v) (assoc opts k v))
                     only-files?))))))))

(defn- one-file [command files]
  (case (count files)
    1 (first files)
    0 (usage-error! (str "`dlnlab " command "` needs an EDN file, e.g. dlnlab " command
                         " examples/eos-factorization.edn."))
    (usage-error! (str "`dlnlab " command "` takes exactly one file, got " (count files) ": "
                       (str/join " " files) "."))))

(defn- read-map
  "The EDN map in file; bad input when it is unreadable or not a map."
  [file what]
  (let [v (dio/read-edn-file file)]
    (when-not (map? v)
      (bad-input! (str "The file " file " must hold one EDN map (" what "), got "
                       (if (nil? v) "nil" (str "a " (.getSimpleName (class v)))) ".")))
    v))

(defn- read-edn-value
  "The single EDN value in s; throws with why when there is none or more."
  [^String s]
  (let [r (PushbackReader. (StringReader. s))
        eof (Object.)
        v (edn/read {:eof eof} r)]
    (when (identical? v eof) (throw (ex-info "it is empty" {})))
    (when-not (identical? eof (edn/read {:eof eof} r)) (throw (ex-info "it holds more than one EDN form" {})))
    v))

(def ^:private path-allowed
  "PATH dotted (optimizer.lr; a segment of digits is a vector index) or an EDN vector of keywords and indices ([:optimizer :lr])")

(defn- parse-path
  "The key path of path-str (see `path-allowed`); calls (fail why) when it is not one."
  [^String path-str fail]
  (if (str/starts-with? path-str "[")
    (let [p (try (read-edn-value path-str)
                 (catch Exception e (fail (str "the key path " (pr-str path-str) " is not readable EDN (" (ex-message e) ")."))))]
      (when-not (and (vector? p) (seq p) (every? #(or (keyword? %) (nat-int? %)) p))
        (fail (str "the key path " (pr-str path-str) " must be a non-empty vector of keywords (and indices).")))
      p)
    (let [segs (str/split path-str #"\." -1)]
      (when (or (str/blank? path-str) (some str/blank? segs)
                (some #(re-find #"[\s\[\]{}()\"]" %) segs))
        (fail (str "the key path " (pr-str path-str) " is not a dotted path of key names like optimizer.lr.")))
      (mapv (fn [^String s] (if (re-matches #"\d+" s) (Long/parseLong s) (keyword (str/replace s #"^:" "")))) segs))))

(defn- parse-assignment
  "[path right-hand-side fail] of an argument PATH=RHS of option opt (\"--set\"),
  where fail throws bad input naming the argument and what is allowed (lhs and
  rhs-doc say it: \"PATH=VALUE\", \"VALUE an EDN value ...\")."
  [opt ^String arg lhs rhs-doc]
  (let [i (str/index-of arg "=")
        allowed (str path-allowed " and " rhs-doc)
        fail (fn [why] (bad-input! (str opt " " (pr-str arg) ": " why " Expected " lhs " with " allowed ".")
                                   {:path [(keyword (subs opt 2))] :value arg :allowed allowed}))]
    (when-not i (fail "no '=' between the key path and the value."))
    [(parse-path (str/trim (subs arg 0 i)) fail) (subs arg (inc (long i))) fail]))

(defn parse-set
  "Parses one --set argument PATH=VALUE into [path value]. PATH is dotted
  (optimizer.lr; a segment of digits is a vector index) or an EDN vector of
  keywords and indices ([:optimizer :lr]); VALUE is read with clojure.edn.
  Throws bad input naming the argument and what is allowed."
  [^String arg]
  (let [[path value-str fail] (parse-assignment "--set" arg "PATH=VALUE" "VALUE an EDN value (0.05, :sgd, [1 2], \"text\")")
        value (try (read-edn-value value-str)
                   (catch Exception e
                     (fail (str "the value " (pr-str value-str) " is not one EDN value (" (ex-message e) ")."))))]
    [path value]))

(defn- spaced
  "n values from a to b, evenly spaced (lin) or geometrically (log), each to 12
  significant digits; longs when a, b and every value are whole (lin)."
  [kind a b n whole?]
  (vec (for [i (range n)]
         (let [a (double a) b (double b) n (long n)
               f (if (= n 1) 0.0 (/ (double i) (dec n)))
               x (if (= kind "log") (* a (Math/pow (/ b a) f)) (+ a (* (- b a) f)))
               x (Double/parseDouble (format "%.12g" x))]
           (if (and whole? (== x (Math/rint x))) (long x) x)))))

(defn parse-grid
  "Parses one --grid argument PATH=VALUES into [path values]. PATH as for
  `parse-set` (seed is the [:seed] axis); VALUES is comma-separated EDN values
  (0.01,0.1 or :gd,:sgd or [1 2],[3 4]), or log:A:B:N (N values from A to B
  spaced geometrically) or lin:A:B:N (evenly; whole numbers stay integers).
  Throws bad input naming the argument and what is allowed."
  [^String arg]
  (let [[path vs fail] (parse-assignment "--grid" arg "PATH=VALUES" "VALUES v1,v2,... (EDN values), log:A:B:N or lin:A:B:N")
        vs (str/trim vs)
        [_ kind a b n] (re-matches #"(log|lin):([^:]+):([^:]+):([^:]+)" vs)
        values (if kind
                 (let [num (fn [t] (try (Double/parseDouble t) (catch Exception _ (fail (str (pr-str t) " in " vs " is not a number.")))))
                       a' (num a) b' (num b)
                       n' (if (re-matches #"\d{1,7}" n) (Long/parseLong n) (fail (str "the count " (pr-str n) " is not a positive integer.")))]
                   (when (< (long n') 1) (fail "the count must be at least 1."))
                   (when (and (= kind "log") (not (and (pos? (double a')) (pos? (double b')))))
                     (fail "log spacing needs two positive ends."))
                   (spaced kind a' b' n' (and (= kind "lin") (every? #(re-matches #"-?\d+" %) [a b]))))
                 (let [v (try (read-edn-value (str "[" vs "]"))
                              (catch Exception e (fail (str "the values " (pr-str vs) " are not EDN values (" (ex-message e) ")."))))]
                   (when (empty? v) (fail "no values given."))
                   v))]
    [path values]))

(defn- apply-set
  "exp with path set to value; bad input when the path runs through a value that
  is not a map (or, for an index, a vector long enough)."
  [exp [path value] arg]
  (loop [i 0 node exp]
    (when (< i (dec (count path)))
      (let [k (nth path i)
            child (if (and (integer? k) (vector? node)) (get node k) (when (map? node) (get node k)))]
        (when-not (or (nil? child) (map? child) (and (vector? child) (integer? (nth path (inc i)))))
          (bad-input! (str "--set " arg ": " (pr-str (subvec path 0 (inc i))) " holds " (pr-str child)
                           ", which is not a map, so " (pr-str path) " cannot be set.")
                      {:path path :value child :allowed "a path through maps"}))
        (recur (inc i) child))))
  (let [parent (get-in exp (pop path))
        k (peek path)]
    (cond
      (integer? k)
      (when-not (and (vector? parent) (<= (long k) (count parent)))
        (bad-input! (str "--set " arg ": index " k " of " (pr-str (pop path)) " needs a vector of at least "
                         k " entries there, found " (pr-str parent) ".")
                    {:path path :value parent :allowed "an index into an existing vector"}))
      (not (or (nil? parent) (map? parent)))
      (bad-input! (str "--set " arg ": " (pr-str (pop path)) " holds " (pr-str parent)
                       ", which is not a map, so " (pr-str path) " cannot be set.")
                  {:path path :value parent :allowed "a path through maps"})))
  (assoc-in exp path value))

(defn- apply-sets [exp set-args]
  (reduce (fn [e arg] (apply-set e (parse-set arg) arg)) exp set-args))

(defn- validated
  "The normalized experiment; bad input naming the file (and the --set that gave
  the bad value) when it is invalid or, when what (\"run\", \"sweep\") is given,
  has nothing to run (see dlnlab.store/check-runnable!)."
  [exp file set-args what]
  (let [sets (map (fn [a] [(first (parse-set a)) a]) set-args)
        n (try
            (spec/normalize exp)
            (catch clojure.lang.ExceptionInfo e
              (let [{:keys [path value]} (ex-data e)
                    from (some (fn [[p a]] (when (and path (= p (vec (take (count p) path)))) a)) (reverse sets))]
                (bad-input! (str file ": " (ex-message e)
                                 (when from (str " (The value comes from --set " from
                                                 (when (symbol? value) (str "; a keyword is written :" value
                                                                            ", a string \"" value "\""))
                                                 ".)")))
                            (ex-data e)))))]
    (if what (store/check-runnable! n file what) n)))

(defn- base-name [file]
  (str/replace (.getName (io/file file)) #"\.edn$" ""))

(defn- default-out [file] (str "results" File/separator (base-name file)))

(defn- out-option
  "The --out option, or default; a usage error when it is empty or blank (which
  would name the filesystem root)."
  [opts default]
  (let [o (get opts "--out")]
    (when (and o (str/blank? o))
      (usage-error! (str "--out must name a directory or file, got " (pr-str o) ".")))
    (or o default)))

;; ---------------------------------------------------------------- interrupts

(def ^:private signal-numbers
  "The signals that stop a run like Ctrl-C, and their numbers (exit code 128 + n)."
  (array-map "INT" 2 "TERM" 15 "HUP" 1))

(def ^:private ^AtomicLong received
  "The number of the last stopping signal received (0: none, as when a test sets
  *interrupt-flag* itself, which counts as SIGINT)."
  (AtomicLong. 0))

(defn- interrupted-code
  "The exit code of an interrupted command: 128 + the signal's number."
  ^long []
  (let [n (.get received)] (+ 128 (if (pos? n) n 2))))

(defn- with-signals
  "Calls (f) with handlers for SIGINT, SIGTERM and SIGHUP that set flag (runs
  then stop at their next step and the result so far is written); a second
  signal exits at once with 128 + its number. Restores the previous handlers
  afterwards. A signal the JVM does not let us handle is left alone."
  [^AtomicBoolean flag ^Writer err f]
  (.set received 0)
  (let [installed
        (doall
         (for [[nm n] signal-numbers
               :let [sig (try (Signal. nm) (catch Exception _ nil))
                     handler (reify SignalHandler
                               (handle [_ _]
                                 (if (.getAndSet flag true)
                                   (System/exit (+ 128 (long n)))
                                   (do (.set received n)
                                       (.write err (str (progress/erase-line) "dlnlab: interrupted"
                                                        (when-not (= nm "INT") (str " (SIG" nm ")"))
                                                        "; stopping at the next step and writing the result so far"
                                                        (if (= nm "INT") " (Ctrl-C again to quit at once)\n"
                                                            " (send it again to quit at once)\n")))
                                       (.flush err)))))
                     old (when sig (try (Signal/handle sig handler) (catch Exception _ nil)))]
               :when old]
           [sig old]))]
    (try (f)
         (finally (doseq [[sig old] installed] (try (Signal/handle sig old) (catch Exception _ nil)))))))

;; ---------------------------------------------------------------- figures

(defn- figure-warning
  "Writes the standard figures of data (a result or a sweep's results) into dir
  with dlnlab.plot; returns nil, or a warning line naming shown-dir when they
  could not be written."
  ([data dir] (figure-warning data dir dir))
  ([data dir shown-dir]
   (try (plot/write-figures! data dir) nil
        (catch Exception e
          (str "dlnlab: warning: the figures in " shown-dir " could not be written (" (ex-message e)
               "); the result files are complete.")))))

(defn- warn! [line] (when line (binding [*out* *err*] (println line))))

(defn- report-page
  "Calls (write!) to write a report page and returns {:report path}, or
  {:warning line} naming shown-dir when the page could not be written (the
  results themselves are complete)."
  [write! shown-dir]
  (try {:report (write!)}
       (catch Exception e
         {:warning (str "dlnlab: warning: the report page in " shown-dir " could not be written (" (ex-message e)
                        "); the result files are complete.")})))

(defn- print-report-path [path] (when path (println (str "report:           " path))))

;; ---------------------------------------------------------------- run

(defn- run-result-code ^long [result]
  (if (= :interrupted (:stop-reason result)) (interrupted-code) 0))

(defn- check-out-dir! [dir]
  (try (dio/check-writable-dir! dir)
       (catch clojure.lang.ExceptionInfo e
         (bad-input! (str (ex-message e) " Choose another --out directory.") (ex-data e)))))

(defn- run-experiment
  "Runs exp (from file) with the CLI's progress display and signal handling;
  returns the result."
  [exp file]
  (let [flag (or *interrupt-flag* (AtomicBoolean. false))
        ^Writer err *err*
        prog (when (terminal?) (progress/run-progress err))
        opts (cond-> {:interrupt flag}
               prog (assoc :progress (:progress prog) :on-record (:on-record prog)))]
    (try
      (with-signals flag err #(experiment/run exp opts))
      (catch clojure.lang.ExceptionInfo e
        (if (input-error? e)
          (bad-input! (str file ": the experiment cannot be run: " (ex-message e)) (ex-data e))
          (throw e)))
      (finally (when prog ((:finish prog)))))))

;; ---------------------------------------------------------------- sweeps

(defn- parse-positive
  "The positive integer of option opt (\"--jobs\") given as s; bad input otherwise."
  [opt what s]
  (let [n (when (and s (re-matches #"\s*\d{1,9}\s*" s)) (Long/parseLong (str/trim s)))]
    (when (or (nil? n) (< (long n) 1))
      (bad-input! (str opt " must be a positive integer (" what "), got " (pr-str s) ".")
                  {:path [(keyword (subs opt 2))] :value s :allowed "a positive integer"}))
    n))

(defn- parse-jobs [s] (parse-positive "--jobs" "the number of runs at a time" s))

(defn- with-grid-args
  "The raw sweep map raw with the command line's changes: --set applied to
  its base, each --grid axis added (or replacing the axis of the same path in
  place), --replicates and --seeds."
  [raw opts]
  (let [add-axis (fn [g arg]
                   (let [[p vs] (parse-grid arg)
                         i (first (keep-indexed (fn [i [q _]] (when (= p q) i)) g))]
                     (if i (assoc g i [p vs]) (conj g [p vs]))))
        grid-args (get opts "--grid")]
    (cond-> (update raw :base #(if (map? %) (apply-sets % (get opts "--set")) %))
      (seq grid-args) (update :grid (fn [g] (reduce add-axis (if (or (map? g) (vector? g)) (vec (map vec g)) []) grid-args)))
      (get opts "--replicates") (assoc :replicates (parse-positive "--replicates" "seeds per point" (get opts "--replicates")))
      (get opts "--seeds") (assoc :seeds (keyword (str/replace (str/trim (get opts "--seeds")) #"^:" ""))))))

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
                  (bad-input! (str "--engine spark needs the Spark profile, which this build does not hold; run "
                                   "`lein with-profile +spark run -m dlnlab.cli sweep ...` (Spark and its dependencies "
                                   "stay out of the default jar).")
                              {:path [:engine] :value e :allowed ["local" "spark"]}))
                (f {:master (or (get opts "--master") "local[2]")
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
                               (when (terminal?)
                                 (reset! prog (progress/sweep-progress err points skipped))
                                 ((:start @prog)))))
                 :on-result (fn [_ _] (when-let [p @prog] ((:tick p))))
                 :extra! (when-not no-plots?
                           (fn [r d] (when-let [w (figure-warning r d)] (swap! figure-warnings conj w))))}))
        _ (when-let [p @prog] ((:finish p)))
        sweep-file (io/file dir "sweep.edn")]
    (when-not (or no-plots? shard (:interrupted? res))
      (when-let [w (figure-warning (:results (store/read-sweep dir)) dir)] (swap! figure-warnings conj w)))
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
                      (str ", " (:summary res) ", aggregate.csv, trajectories.csv"))))
      (when-not (or (get opts "--no-report") shard (:interrupted? res))
        (let [{:keys [warning report]} (report-page #(report/write-report! dir) dir)]
          (warn! warning)
          (print-report-path report)))
      (cond (:interrupted? res) (do (println "interrupted: rerun the same command to finish the remaining points.")
                                    (interrupted-code))
            (or (seq failed) (seq (:write-errors res)) (seq missing)) 1
            :else 0))))

(defn- cmd-sweep [{:keys [files opts]}]
  (let [file (one-file "sweep" files)
        raw (read-map file "the sweep: {:base EXPERIMENT :grid {PATH [VALUES]}}")]
    (when-not (or (contains? raw :base) (contains? raw :grid))
      (bad-input! (str file " is not a sweep file (it has no :base and :grid); run a single experiment with `dlnlab run "
                       file "`, make a sweep of it with `dlnlab run " file " --grid optimizer.lr=0.01,0.1`, or write "
                       "{:base EXPERIMENT :grid {[:optimizer :lr] [0.01 0.02]}}.")))
    (sweep-command file (with-grid-args raw opts) opts)))

;; ---------------------------------------------------------------- run FILE (--grid: a sweep of it)

(defn- run-one [{:keys [opts]} file raw]
  (let [exp (validated (apply-sets raw (get opts "--set")) file (get opts "--set") "run")
        dir (out-option opts (default-out file))]
    (check-out-dir! dir)
    (store/with-lock dir
      (store/check-run-dir! dir (get opts "--force"))
      (let [result (run-experiment exp file)
            page? (not (get opts "--no-report"))
            paths (store/write-run! result dir
                                    {:extra! (fn [staging]
                                               (let [fw (when-not (get opts "--no-plots") (figure-warning result staging dir))
                                                     rp (when page?
                                                          (report-page #(report/run-report! result staging {:title (str "dlnlab run: " (base-name file))})
                                                                       dir))]
                                                 (assoc rp :figure-warning fw)))})
            {:keys [figure-warning warning report]} (:extra paths)]
        (warn! figure-warning)
        (warn! warning)
        (doseq [l (summary/summary-lines result)] (println l))
        (println (str "wrote:            " (:result paths) " and " (:trajectory paths)))
        (print-report-path (when report (str (io/file dir "report.html"))))
        (run-result-code result)))))

(def ^:private sweep-only-options ["--jobs" "--replicates" "--seeds" "--shard" "--merge"])

(defn- cmd-run [{:keys [files opts] :as parsed}]
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

(defn- plot-names
  "The figure names (as strings) plot offers for an input kind (:result,
  :sweep, :ensemble), in catalog order."
  [kind]
  (vec (for [nm plot/figure-names :when (contains? (get-in plot/figure-catalog [nm :inputs]) kind)] (name nm))))

(defn- kind-text [kind]
  (case kind :result "a run result" :sweep "a sweep" :ensemble "an SDE ensemble or :sde run"))

(defn- plot-kinds-text []
  (str "for a run: " (str/join ", " (plot-names :result))
       "; for a sweep directory: " (str/join ", " (plot-names :sweep))
       "; for an SDE ensemble file or an :sde run: " (str/join ", " (plot-names :ensemble))))

(defn- figure-name
  "The figure keyword for --figure s (with or without a leading colon); bad
  input listing the figures when it is not one, or not one for this input."
  [^String s kind input]
  (let [nm (str/lower-case (str/replace (str/trim s) #"^:" ""))
        all (set (map name (keys plot/figure-catalog)))]
    (when-not (all nm)
      (let [dym (error/did-you-mean nm all)]
        (bad-input! (str "Unknown figure " (pr-str s) "." (when dym (str " Did you mean " dym "?"))
                         " The figures are " (plot-kinds-text) ".")
                    {:path [:figure] :value s :allowed (vec (sort all))})))
    (when-not (some #{nm} (plot-names kind))
      (bad-input! (str "The figure " nm " does not apply to " input ", which is " (kind-text kind)
                       "; the figures of " (kind-text kind) " are " (str/join ", " (plot-names kind)) ".")
                  {:path [:figure] :value s :allowed (plot-names kind)}))
    (keyword nm)))

(defn- image-file? [^String s] (boolean (re-find #"(?i)\.(svg|png)$" s)))

(defn- drawn
  "(f), with an exception from drawing data that plot cannot use reported as bad input."
  [input what f]
  (try (f)
       (catch clojure.lang.ExceptionInfo e
         (if (input-error? e)
           (bad-input! (str "Cannot draw " what " from " input ": " (ex-message e)) (ex-data e))
           (throw e)))
       (catch RuntimeException e
         (bad-input! (str "Cannot draw " what " from " input ": its data has an unexpected shape ("
                          (.getSimpleName (class e)) (when (ex-message e) (str ": " (ex-message e))) ").")
                     {:path [:input] :value input :allowed "results written by dlnlab"}))))

(defn- one-input
  "The one path among files; a usage error saying what command needs (the
  example is results/eos) or takes otherwise."
  [command files needs takes]
  (case (count files)
    1 (first files)
    0 (usage-error! (str "`dlnlab " command "` needs " needs ", e.g. dlnlab " command " results/eos."))
    (usage-error! (str "`dlnlab " command "` takes exactly " takes ", got " (count files) ": " (str/join " " files) "."))))

(defn- cmd-plot [{:keys [files opts]}]
  (let [input (one-input "plot" files "a result.edn, a run directory or a sweep directory" "one result file or directory")
        out (out-option opts nil)
        fig-arg (get opts "--figure")]
    (when (and out (not fig-arg) (image-file? out))
      (usage-error! (str "--out " out " names an image file, which needs --figure NAME; without --figure, "
                         "--out is the directory for all the standard figures.")))
    (when (and out fig-arg (not (image-file? out)) (re-find #"\.[A-Za-z0-9]{1,5}$" (.getName (io/file out)))
               (not (.isDirectory (io/file out))))
      (bad-input! (str "--out " out ": the image format is taken from the extension, which must be .svg or .png "
                       "(or give a directory for " fig-arg ".svg).")
                  {:path [:out] :value out :allowed ["FILE.svg" "FILE.png" "DIR"]}))
    (let [{:keys [kind data dir]} (store/read-input input)]
      (if fig-arg
        (let [nm (figure-name fig-arg kind input)
              target (cond (nil? out) (str (io/file dir (str (name nm) ".svg")))
                           (image-file? out) out
                           :else (str (io/file out (str (name nm) ".svg"))))
              parent (or (.getParentFile (.getAbsoluteFile (io/file target))) (io/file "."))
              _ (check-out-dir! (str parent))
              fig (drawn input (str "the " (name nm) " figure") #(plot/figure nm data))]
          (plot/render! fig target)
          (println (str "wrote: " target))
          0)
        (let [target-dir (or out (str dir))
              _ (check-out-dir! target-dir)
              written (drawn input "the figures" #(plot/write-figures! data target-dir))]
          (when (empty? written)
            (bad-input! (str "Nothing to plot in " input ": none of the figures of " (kind-text kind) " ("
                             (str/join ", " (plot-names kind)) ") has finite recorded values to show.")
                        {:path [:input] :value input :allowed "a result with recorded metrics"}))
          (doseq [[_ paths] written p paths] (println (str "wrote: " p)))
          0)))))

;; ---------------------------------------------------------------- validate, describe, inspect

(defn- cmd-validate [{:keys [files opts]}]
  (let [file (one-file "validate" files)
        raw (read-map file "an experiment or a sweep")]
    (if (or (contains? raw :grid) (contains? raw :base))
      (do (when (seq (get opts "--set")) (usage-error! "--set applies to experiments, not to sweep files."))
          (let [norm (store/normalize-sweep raw file)]
            (print (dio/edn-str norm))
            (println (str ";; " (count (store/sweep-points norm)) " grid points, each a valid experiment"))))
      (let [exp (apply-sets raw (get opts "--set"))
            norm (validated exp file (get opts "--set") nil)]
        (print (dio/edn-str norm))
        (when (and (= :network (result/kind {:experiment norm})) (not (:optimizer norm)))
          (println ";; valid network and task; add :optimizer and :steps to run it"))))
    0))

(defn inspect-experiment
  "A plain-data summary of an experiment's initial network: parameter count,
  loss, test loss and the top Hessian eigenvalue."
  [exp]
  (let [net (core/network exp)
        eig (core/hessian-eigenvalues net {:k 1})]
    {:parameters (count (:params net))
     :loss (core/loss net)
     :test-loss (core/test-loss net)
     :sharpness (first (:values eig))
     :sharpness-residual (first (:residuals eig))
     :hvp-count (:hvp-count eig)}))

(defn- cmd-inspect [{:keys [files opts]}]
  (let [file (one-file "inspect" files)
        exp (apply-sets (read-map file "the experiment") (get opts "--set"))
        norm (try (spec/normalize exp)
                  (catch clojure.lang.ExceptionInfo e (bad-input! (str file ": " (ex-message e)) (ex-data e))))
        kind (result/kind {:experiment norm})
        _ (when-not (= :network kind)
            (bad-input! (str file " is an " (pr-str kind) " experiment, which has no network to inspect; `dlnlab validate " file
                             "` prints its options, `dlnlab run " file "` simulates it.")
                        {:path [:kind] :value kind :allowed "a network experiment"}))
        r (try (inspect-experiment exp)
               (catch clojure.lang.ExceptionInfo e
                 (if (input-error? e) (bad-input! (str file ": " (ex-message e)) (ex-data e)) (throw e))))]
    (doseq [[k v] r :when (some? v)] (println (str (name k) ": " v)))
    0))

(defn command-help
  "The section of `usage` about command: its line and the lines under it, up
  to the next command."
  [command]
  (let [lines (str/split-lines usage)
        command-line? #(re-matches #"  [a-z]+( .*)?" %)
        [head & more] (drop-while #(not (re-matches (re-pattern (str "  " (java.util.regex.Pattern/quote command) "( .*)?")) %))
                                  lines)]
    (when head (str/join "\n" (cons head (take-while #(not (or (command-line? %) (str/blank? %))) more))))))

(defn- describe-sections
  "{name text} of the sections of dlnlab.summary/describe-text, by the
  lower-cased heading (model, optimizer, ..., metrics)."
  []
  (let [lines (str/split-lines (summary/describe-text))
        heading #(second (re-matches #"([A-Z][A-Z-]*)  \(.*" %))
        starts (keep-indexed (fn [i l] (when (heading l) i)) lines)]
    (into (array-map)
          (map (fn [[a b]] [(str/lower-case (heading (nth lines a)))
                            (str/trimr (str/join "\n" (subvec (vec lines) a (or b (count lines)))))])
               (partition 2 1 [nil] starts)))))

(defn- cmd-describe [{:keys [files]}]
  (case (count files)
    0 (do (print (summary/describe-text)) 0)
    1 (let [sections (describe-sections)
            nm (str/lower-case (str/replace (first files) #"^:" ""))]
        (if-let [text (get sections nm)]
          (do (println text) 0)
          (usage-error! (str "`dlnlab describe` knows no section " (pr-str (first files)) "."
                             (when-let [dym (error/did-you-mean nm (keys sections))] (str " Did you mean " dym "?"))
                             " The sections are " (str/join ", " (keys sections)) "."))))
    (usage-error! "`dlnlab describe` takes at most one section name, e.g. dlnlab describe optimizer.")))

(defn- version-string []
  (str "dlnlab " (or (some-> (io/resource "dlnlab/version.txt") slurp str/trim) "dev")))

;; ---------------------------------------------------------------- main

(defn- report-error! [command ^String msg usage?]
  (binding [*out* *err*]
    (println (str "dlnlab" (when command (str " " command)) ": " msg
                  (when usage? " Run `dlnlab help` for usage.")))
    (flush)))

;; ---------------------------------------------------------------- reproduce

(def paper-names
  "The paper reproductions `dlnlab reproduce` knows: name -> namespace."
  (array-map "multipathway" 'dlnlab.studies.multipathway
             "edge-of-stability" 'dlnlab.studies.edge-of-stability
             "transfer" 'dlnlab.studies.transfer
             "saddle-to-saddle" 'dlnlab.studies.saddle-to-saddle))

(defn- paper-fn [ns-sym fn-name]
  (try (requiring-resolve (symbol (name ns-sym) fn-name))
       (catch java.io.FileNotFoundException _ nil)))

(defn- write-paper-figures!
  "Writes a report's :figures (dlnlab.plot figure data) into dir as SVG and
  Vega-Lite JSON. Returns the paths written."
  [report dir]
  (vec (mapcat val (plot/write-figure-data! (:figures report) dir))))

(defn- cmd-reproduce [{:keys [files opts]}]
  (let [nm (one-file "reproduce" files)
        ns-sym (or (get paper-names nm)
                   (bad-input! (str "Unknown reproduction " (pr-str nm) "; the names are "
                                    (str/join ", " (keys paper-names)) ".")
                               {:path [:name] :value nm :allowed (vec (keys paper-names))}))
        reproduce (or (paper-fn ns-sym "reproduce")
                      (bad-input! (str "The reproduction " nm " is not part of this build.")
                                  {:path [:name] :value nm :allowed (vec (keys paper-names))}))
        jobs (if-let [j (get opts "--jobs")] (parse-jobs j) 2)
        dir (out-option opts (str "results" File/separator nm))
        _ (check-out-dir! dir)
        ^Writer err *err*
        progress (when (terminal?)
                   (let [n (atom 0)]
                     (fn [_] (let [k (swap! n inc)]
                               (locking err (.write err (str (progress/erase-line) "reproduce " nm ": " k " runs done"))
                                        (.flush err))))))
        t0 (System/nanoTime)
        report (reproduce {:variant (if (get opts "--full") :full :quick) :jobs jobs :progress progress})
        seconds (/ (- (System/nanoTime) t0) 1e9)]
    (when progress (locking err (.write err (str (progress/erase-line))) (.flush err)))
    (.mkdirs (io/file dir))
    (dio/write-edn-file! (str (io/file dir "report.edn")) report)
    (let [figs (when-not (get opts "--no-plots")
                 (try (write-paper-figures! report dir)
                      (catch Exception e
                        (binding [*out* *err*] (println (str "dlnlab reproduce: figures not written: " (ex-message e))))
                        nil)))]
      (println (wrap (:claim report) 0 80 7 "claim: "))
      (println)
      (when-let [table (get-in report [:main :table])] (println table))
      (when-let [summary (:summary report)]
        (println (str/trim (with-out-str (pprint/pprint summary)))))
      (when-let [checks (:checks report)]
        (doseq [[k c] checks :when (map? c)]
          (println (str (if (:pass? c) "PASS " "FAIL ") (name k) (when (:claim c) (str ": " (:claim c)))))))
      (println (str "ran in " (fmt-duration seconds) "; wrote " (io/file dir "report.edn")
                    (when (seq figs) (str " and " (count figs) " figure files"))))
      (when-not (get opts "--no-report")
        (let [{:keys [warning report]} (report-page #(report/write-report! dir) dir)]
          (warn! warning)
          (print-report-path report))))
    0))

;; ---------------------------------------------------------------- report

(defn- cmd-report [{:keys [files opts]}]
  (let [input (one-input "report" files "a run, sweep or reproduction directory or a notebook file" "one directory or notebook file")
        out (get opts "--out")
        target (or out (report/page-path input))
        parent (or (.getParentFile (.getAbsoluteFile (io/file target))) (io/file "."))]
    (check-out-dir! (str parent))
    (let [path (drawn input "the report page" #(report/write-report! input {:out target}))]
      (println (str "wrote: " path))
      0)))

(defn main*
  "Runs one dlnlab command line (args as given to the program) in-process,
  printing to *out* and *err* as bound, and returns the exit code: 0 done, 1
  internal error, 2 bad input, 130 interrupted (see the namespace docstring).
  Never throws and never exits the JVM."
  [args]
  (let [[command & more] args]
    (try
      (let [help? (and (contains? command-options command) (some #{"--help" "-h"} more))
            parsed (when (and (contains? command-options command) (not help?)) (parse-args command more))
            code (if help?
                   (do (println (command-help command)) 0)
                   (case command
                   nil (usage-error! "No command given; the commands are run, sweep, plot, report, reproduce, validate, describe, inspect, version and help.")
                   "run" (cmd-run parsed)
                   "sweep" (cmd-sweep parsed)
                   "plot" (cmd-plot parsed)
                   "report" (cmd-report parsed)
                   "reproduce" (cmd-reproduce parsed)
                   "validate" (cmd-validate parsed)
                   "inspect" (cmd-inspect parsed)
                   "describe" (if (= ["outputs"] (vec (:files parsed)))
                                (do (println (summary/outputs-text)) 0)
                                (cmd-describe parsed))
                   ("version" "--version") (do (println (version-string)) 0)
                   ("help" "--help" "-h") (do (println usage) 0)
                   (let [dym (error/did-you-mean command (conj (keys command-options) "help"))]
                     (usage-error! (str "Unknown command " (pr-str command) "."
                                        (when dym (str " Did you mean " dym "?"))
                                        " Commands are run, sweep, plot, report, reproduce, validate, describe, inspect, version, help.")))))]
        (flush)
        code)
      (catch clojure.lang.ExceptionInfo e
        (flush)
        (if (input-error? e)
          (do (report-error! command (ex-message e) (= :usage (error/kind-of e))) 2)
          (do (report-error! command (str "internal error: " (ex-message e)
                                          (when (System/getenv "DLNLAB_DEBUG") (str "\n" (pr-str e)))
                                          " (set DLNLAB_DEBUG=1 for details)") false)
              1)))
      (catch Throwable e
        (flush)
        (report-error! command (str "internal error: " e
                                    (when (System/getenv "DLNLAB_DEBUG") (str "\n" (pr-str e)))
                                    " (set DLNLAB_DEBUG=1 for details)") false)
        1))))

(defn -main [& args]
  (let [code (main* args)]
    (flush)
    (.flush System/err)
    (shutdown-agents)
    (System/exit code)))
