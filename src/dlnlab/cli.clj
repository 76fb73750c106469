(ns dlnlab.cli
  "The dlnlab command line: run, sweep, plot, validate, describe, inspect.

  `main*` runs one command line in-process and returns its exit code, printing
  to whatever *out* and *err* are bound to (tests bind them to strings); `-main`
  calls it and exits the JVM with that code.

  Exit codes: 0 the command did its work (a run that completed, stopped on
  :loss-below or diverged: the result says which); 1 internal error (a bug,
  or a sweep point that failed); 2 bad input (unreadable or invalid files,
  bad arguments, an output directory that cannot be written), with one
  paragraph on stderr naming the problem and nothing written; 130 interrupted
  (Ctrl-C: the result so far is written with status :stopped and :stop-reason
  :interrupted)."
  (:require [clojure.edn :as edn]
            [clojure.java.io :as io]
            [clojure.pprint :as pprint]
            [clojure.string :as str]
            [dlnlab.core :as core]
            [dlnlab.experiment :as experiment]
            [dlnlab.io :as dio]
            [dlnlab.metrics :as metrics]
            [dlnlab.plot :as plot]
            [dlnlab.spec :as spec]
            [dlnlab.sweep :as sweep])
  (:import [java.io File PushbackReader StringReader Writer]
           [java.util.concurrent.atomic AtomicBoolean AtomicLong]
           [sun.misc Signal SignalHandler])
  (:gen-class))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def usage
  "Usage: dlnlab COMMAND [ARGS]

Commands:
  run FILE.edn [--out DIR] [--set PATH=VALUE ...] [--no-plots]
      Validate the experiment, run it, write DIR/result.edn (the whole result
      map) and DIR/trajectory.csv (one row per recorded row), print a summary.
      DIR defaults to results/<file name without .edn>. --set changes one key
      before validation; PATH is dotted (optimizer.lr) or an EDN vector
      ([:optimizer :lr]), VALUE is read as EDN (0.05, :sgd, [1 2], \"text\"),
      e.g. --set optimizer.lr=0.05 --set '[:model :depth]=4'. Repeatable.
      DIR also gets the standard figures as SVG (loss.svg, sharpness.svg, ...,
      as recorded); --no-plots skips them. An experiment {:kind :sde :seed n
      :sde {...}} simulates the per-mode SDE ensemble instead (trajectory.csv:
      mean, std, quantiles of each mode strength; figures sde-ensemble,
      learning-times, stationary); `dlnlab describe` lists its keys.
  sweep FILE.edn [--out DIR] [--jobs N] [--no-plots]
      Run every point of a sweep file {:base EXPERIMENT :grid {PATH [VALUES]}
      :seeds :derived|:shared} in parallel (N jobs, default: the number of
      cores). Writes DIR/sweep.edn, DIR/runs/<index>-<point>/result.edn and
      trajectory.csv (and the run's figures) as each point finishes, then
      DIR/summary.csv and the sweep's figures as they apply (loss,
      bifurcation, loss-vs-lr, sharpness-vs-lr, shares-vs-lr; for :sde
      experiments learning-time-sweep and stationary-sweep). Rerunning into the same DIR skips the points already done.
  plot RESULT.edn|DIR [--figure NAME] [--out FILE.svg|FILE.png|DIR]
      Draw figures from results already written: RESULT.edn (a run's result),
      a run directory (holding result.edn) or a sweep directory (holding
      sweep.edn and runs/*/result.edn). Without --figure, writes the standard
      figures as SVG beside the input (or into --out DIR). With --figure, writes
      that one figure to --out (SVG or PNG by the extension; default
      <input dir>/<NAME>.svg). NAME for a run: loss, sharpness, modes,
      pathway-shares, balance-gap; for a sweep: loss, modes, bifurcation,
      loss-vs-lr, sharpness-vs-lr, shares-vs-lr, learning-time-sweep,
      stationary-sweep; for an :sde run: sde-ensemble, stationary,
      learning-times.
  reproduce NAME [--out DIR] [--full] [--jobs N] [--no-plots]
      Reproduce a source paper's headline result with the theory beside it:
      NAME is multipathway, edge-of-stability, transfer or saddle-to-saddle
      (examples/README.md says what each shows). Writes DIR/report.edn (the
      measured numbers, the theory's and the checks) and the figures, and prints
      the claim and a summary. DIR defaults to results/<NAME>. --full runs the
      longer variant.
  validate FILE.edn [--set PATH=VALUE ...]
      Check an experiment (or a sweep file) and print it with every default filled.
  describe
      Every model, init, task, optimizer, stop and record option with its
      default (and every option of :sde experiments), and every metric.
  inspect FILE.edn [--set PATH=VALUE ...]
      Build the experiment's network; print its loss, test loss, sharpness
      (top Hessian eigenvalue) and size.
  version    print the version
  help       this text

Exit codes: 0 done (completed, stopped or diverged: see the summary), 1 internal
error or a failed sweep point, 2 bad input (nothing is written), 130 interrupted
(Ctrl-C; the result so far is written with status :stopped).

  bin/dlnlab test    runs the test suite (launcher only)")

;; ---------------------------------------------------------------- errors

(defn- bad-input!
  "Throws the ex-info main* reports as bad input (exit 2)."
  ([msg] (bad-input! msg nil))
  ([msg data] (throw (ex-info msg (merge {::bad-input true} data)))))

(defn- usage-error! [msg] (bad-input! msg {::usage true}))

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
  {"run" {"--out" :value "--set" :multi "--no-plots" :flag}
   "sweep" {"--out" :value "--jobs" :value "--no-plots" :flag}
   "plot" {"--out" :value "--figure" :value}
   "reproduce" {"--out" :value "--jobs" :value "--full" :flag "--no-plots" :flag}
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
                                         "--set" "--set optimizer.lr=0.05" (str k " VALUE")) ".")))
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

(defn parse-set
  "Parses one --set argument PATH=VALUE into [path value]. PATH is dotted
  (optimizer.lr; a segment of digits is a vector index) or an EDN vector of
  keywords and indices ([:optimizer :lr]); VALUE is read with clojure.edn.
  Throws bad input naming the argument and what is allowed."
  [^String arg]
  (let [i (str/index-of arg "=")
        allowed "PATH=VALUE with PATH dotted (optimizer.lr) or an EDN vector ([:optimizer :lr]) and VALUE an EDN value (0.05, :sgd, [1 2], \"text\")"
        fail (fn [why] (bad-input! (str "--set " (pr-str arg) ": " why " Expected " allowed ".")
                                   {:path [:set] :value arg :allowed allowed}))]
    (when-not i (fail "no '=' between the key path and the value."))
    (let [path-str (str/trim (subs arg 0 i))
          value-str (subs arg (inc (long i)))
          path (if (str/starts-with? path-str "[")
                 (let [p (try (read-edn-value path-str)
                              (catch Exception e (fail (str "the key path " (pr-str path-str) " is not readable EDN (" (ex-message e) ")."))))]
                   (when-not (and (vector? p) (seq p) (every? #(or (keyword? %) (nat-int? %)) p))
                     (fail (str "the key path " (pr-str path-str) " must be a non-empty vector of keywords (and indices).")))
                   p)
                 (let [segs (str/split path-str #"\." -1)]
                   (when (or (str/blank? path-str) (some str/blank? segs)
                             (some #(re-find #"[\s\[\]{}()\"]" %) segs))
                     (fail (str "the key path " (pr-str path-str) " is not a dotted path of key names like optimizer.lr.")))
                   (mapv (fn [^String s] (if (re-matches #"\d+" s) (Long/parseLong s) (keyword (str/replace s #"^:" "")))) segs)))
          value (try (read-edn-value value-str)
                     (catch Exception e
                       (fail (str "the value " (pr-str value-str) " is not one EDN value (" (ex-message e) ")."))))]
      [path value])))

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
  has no :optimizer (a network experiment; an :sde experiment needs none)."
  [exp file set-args what]
  (let [sets (map (fn [a] [(first (parse-set a)) a]) set-args)]
    (try
      (let [n (spec/normalize exp)]
        (when (and what (not (:optimizer n)) (not= :sde (:kind n)))
          (bad-input! (str file ": the experiment has no :optimizer, so there is nothing to " what
                           "; add e.g. :optimizer {:kind :gd :lr 0.01} :steps 1000 (dlnlab describe lists every optimizer).")
                      {:path [:optimizer] :value nil :allowed "an optimizer map"}))
        n)
      (catch clojure.lang.ExceptionInfo e
        (let [{:keys [path value]} (ex-data e)
              from (some (fn [[p a]] (when (and path (= p (vec (take (count p) path)))) a)) (reverse sets))]
          (if (::bad-input (ex-data e))
            (throw e)
            (bad-input! (str file ": " (ex-message e)
                             (when from (str " (The value comes from --set " from
                                             (when (symbol? value) (str "; a keyword is written :" value
                                                                        ", a string \"" value "\""))
                                             ".)")))
                        (ex-data e))))))))

(defn- base-name [file]
  (str/replace (.getName (io/file file)) #"\.edn$" ""))

(defn- default-out [file] (str "results" File/separator (base-name file)))

;; ---------------------------------------------------------------- formatting

(defn- fmt-num ^String [x]
  (cond (nil? x) "-"
        (integer? x) (str x)
        (number? x) (let [d (double x)]
                      (cond (Double/isNaN d) "NaN"
                            (Double/isInfinite d) (if (pos? d) "Inf" "-Inf")
                            (zero? d) "0"
                            (or (>= (Math/abs d) 1e5) (< (Math/abs d) 1e-3)) (format "%.4e" d)
                            :else (let [s (format "%.6g" d)]
                                    (if (str/includes? s ".") (str/replace s #"\.?0+$" "") s))))
        (keyword? x) (name x)
        :else (str x)))

(defn- fmt-duration ^String [^double seconds]
  (let [s (long (Math/round seconds))]
    (cond (< seconds 10.0) (format "%.1f s" seconds)
          (< s 3600) (format "%d:%02d" (quot s 60) (rem s 60))
          :else (format "%d:%02d:%02d" (quot s 3600) (quot (rem s 3600) 60) (rem s 60)))))

(defn- wrap
  "text wrapped to width columns: the first line is indent spaces, then prefix
  (kept as is, default \"\"), then words; later lines start with hang spaces
  (default indent)."
  ([text indent width] (wrap text indent width indent ""))
  ([^String text indent width hang ^String prefix]
   (let [width (long width)
         pad (apply str (repeat indent " "))
         hang-pad (apply str (repeat hang " "))
         words (remove str/blank? (str/split (or text "") #"\s+"))]
     (loop [ws words line (str pad prefix) fresh? (str/blank? prefix) lines []]
       (if-let [w (first ws)]
         (let [cand (if fresh? (str line w) (str line " " w))]
           (if (and (> (count cand) width) (not fresh?))
             (recur ws hang-pad true (conj lines line))
             (recur (rest ws) cand false lines)))
         (str/join "\n" (if (and fresh? (str/blank? line)) lines (conj lines line))))))))

;; ---------------------------------------------------------------- progress

(defn- erase-line ^String [] "\r\u001b[K")

(defn- run-progress
  "{:progress f :on-record g :finish h} drawing one line on err, at most ten
  times a second: step/steps, steps/s, ETA, loss, last sharpness."
  [^Writer err]
  (let [start (System/nanoTime)
        last-draw (AtomicLong. (- start 1000000000))
        sharp (volatile! nil)
        thr (volatile! nil)
        drawn (volatile! false)]
    {:progress (fn [{:keys [step steps loss]}]
                 (let [now (System/nanoTime)]
                   (when (> (- now (.get last-draw)) 100000000)
                     (.set last-draw now)
                     (let [step (long step) steps (long steps)
                           secs (/ (- now start) 1e9)
                           rate (if (pos? secs) (/ step secs) 0.0)
                           eta (if (pos? rate) (/ (- steps step) rate) 0.0)
                           line (str "step " step "/" steps
                                     (format " %3d%%" (long (/ (* 100 step) (max 1 steps))))
                                     "  " (fmt-num (Math/round rate)) " steps/s"
                                     "  ETA " (fmt-duration eta)
                                     "  loss " (fmt-num loss)
                                     (when-some [s @sharp]
                                       (str "  sharpness " (fmt-num s)
                                            (when-some [t @thr] (str " (2/lr " (fmt-num t) ")")))))]
                       (vreset! drawn true)
                       (.write err (str (erase-line) line))
                       (.flush err)))))
     :on-record (fn [row]
                  (when-some [s (:sharpness row)] (vreset! sharp s))
                  (when-some [t (:stability-threshold row)] (vreset! thr t)))
     :finish (fn [] (when @drawn (.write err (erase-line)) (.flush err)))}))

;; ---------------------------------------------------------------- interrupts

(defn- with-sigint
  "Calls (f) with a SIGINT handler that sets flag (the run then stops at its
  next step); a second Ctrl-C exits at once with code 130. Restores the previous
  handler afterwards."
  [^AtomicBoolean flag ^Writer err f]
  (let [sig (try (Signal. "INT") (catch Exception _ nil))
        handler (reify SignalHandler
                  (handle [_ _]
                    (if (.getAndSet flag true)
                      (System/exit 130)
                      (do (.write err (str (erase-line) "dlnlab: interrupted; stopping at the next step and writing the result so far (Ctrl-C again to quit at once)\n"))
                          (.flush err)))))
        old (when sig (try (Signal/handle sig handler) (catch Exception _ nil)))]
    (try (f)
         (finally (when old (try (Signal/handle sig old) (catch Exception _ nil)))))))

;; ---------------------------------------------------------------- figures

(defn write-figures!
  "HOOK for dlnlab.plot (issue 5): writes the standard figures of result (or of
  a sweep's vector of results) into dir by calling dlnlab.plot/write-figures!
  when that namespace exists; does nothing
  otherwise. Resolved at run time so the CLI has no compile-time dependency on
  plotting. Returns what the plot function returns, or nil."
  [result dir]
  (when (or (io/resource "dlnlab/plot.clj") (io/resource "dlnlab/plot__init.class"))
    (when-let [f (requiring-resolve 'dlnlab.plot/write-figures!)]
      (f result dir))))

(defn- figure-warning
  "Writes the figures of data into dir through `write-figures!`; returns nil, or
  a warning line when they could not be written."
  [data dir]
  (try (write-figures! data dir) nil
       (catch Exception e
         (str "dlnlab: warning: the figures in " dir " could not be written (" (ex-message e)
              "); the result files are complete."))))

(defn- figures! [result dir no-plots?]
  (when-not no-plots?
    (when-let [w (figure-warning result dir)]
      (binding [*out* *err*] (println w)))))

;; ---------------------------------------------------------------- result files

(defn write-result!
  "Writes dir/result.edn (the whole result map) and dir/trajectory.csv (one row
  per recorded row, metrics in the experiment's record order; for an :sde
  experiment mean, std, the quantiles, diffusion, gradient flow, kept paths),
  each atomically.
  Returns {:result path :trajectory path}."
  [result dir]
  (let [edn-path (str (io/file dir "result.edn"))
        csv-path (str (io/file dir "trajectory.csv"))
        order (if (= :sde (get-in result [:experiment :kind]))
                (let [qs (filter #(re-matches #"q[0-9.]+" (name %)) (keys (:trajectory result)))]
                  (concat [:mean :std] (sort-by #(Double/parseDouble (subs (name %) 1)) qs)
                          [:diffusion :gradient-flow :paths]))
                (get-in result [:experiment :record :metrics]))]
    (dio/write-atomically! csv-path (fn [^Writer w] (dio/write-trajectory-csv w (:trajectory result) order)))
    (dio/write-edn-file! edn-path result)
    {:result edn-path :trajectory csv-path}))

(defn- last-recorded [traj k]
  (let [steps (:step traj)]
    (loop [i (dec (count (get traj k)))]
      (when (>= i 0)
        (let [v (nth (get traj k) i)]
          (if (some? v) [(nth steps i) v] (recur (dec i))))))))

(defn- late-stats
  "{:mean :min :max :n} of the non-nil values of column k in the last fifth of
  the rows, or nil."
  [traj k]
  (let [col (get traj k)
        n (count col)
        vs (filter number? (subvec (vec col) (long (* 0.8 n)) n))]
    (when (seq vs)
      (let [ds (map double vs)]
        {:mean (/ (double (reduce + ds)) (count vs)) :min (reduce min ds) :max (reduce max ds) :n (count vs)}))))

(defn- n-target-modes
  "How many modes have a non-zero target (all recorded modes when unknown)."
  ^long [analysis]
  (let [k (count (take-while #(and % (> (double %) 1e-12)) (:mode-targets analysis)))]
    (if (pos? k) k (count (or (:mode-periods analysis) (:final-pathway-shares analysis))))))

(defn- stop-text [{:keys [status stop-reason experiment final]}]
  (let [step (:step final)]
    (case [status stop-reason]
      [:completed nil] (str "completed " step " " (if (= :gradient-flow (get-in experiment [:optimizer :kind])) "grid points" "steps"))
      [:diverged :non-finite] (str "DIVERGED at step " step " (the loss became NaN or infinite)")
      [:diverged :loss-above] (str "DIVERGED at step " step " (the loss exceeded " (fmt-num (get-in experiment [:stop :loss-above])) ")")
      [:stopped :loss-below] (str "stopped at step " step " (the loss fell below " (fmt-num (get-in experiment [:stop :loss-below])) ")")
      [:stopped :interrupted] (str "INTERRUPTED at step " step " (Ctrl-C); the result so far is written")
      (str (name status) (when stop-reason (str " (" (name stop-reason) ")")) " at step " step))))

(defn- per-mode
  "\"mode 1 x; mode 2 y\" from f of each mode index that gives a string."
  [n f]
  (str/join "; " (keep (fn [i] (when-let [t (f i)] (str "mode " (inc (long i)) " " t))) (range n))))

(defn- sde-summary-lines
  "`summary-lines` of an :sde experiment's result (dlnlab.sde/result-ensemble
  documents its shape)."
  [result]
  (let [{:keys [experiment analysis final meta status]} result
        {:keys [modes paths lr batch-size label-noise scheme depth]} (:sde experiment)
        n (count modes)
        ltimes (:learning-times analysis)
        frac (:fraction (first ltimes))]
    (remove nil?
            [(str "status:           " (if (= status :diverged)
                                         (str "DIVERGED: every path of some mode passed the bound (see :final :diverged)")
                                         "completed")
                  ", " (:step final) " steps to SDE time " (fmt-num (:time final))
                  (when-let [ms (:elapsed-ms meta)] (str " in " (fmt-duration (/ (double ms) 1000.0)))))
             (str "ensemble:         " paths " paths x " n " mode" (when (> n 1) "s") ", L = " depth ", " (name scheme)
                  ", lr = " (fmt-num lr) ", B = " (fmt-num batch-size) ", label noise " (fmt-num label-noise))
             (str "final pi:         " (per-mode n (fn [i] (let [m (get-in final [:mean i])]
                                                             (str (fmt-num m) (when m (str " ± " (fmt-num (get-in final [:std i]))))
                                                                  " (target " (fmt-num (:s (modes i))) ")")))))
             (when (seq ltimes)
               (str "learned (" (fmt-num frac) " s):  "
                    (per-mode n (fn [i] (let [{:keys [median learned gradient-flow-time]} (ltimes i)]
                                          (str "median t " (fmt-num median) " (" learned "/" paths " paths; gradient flow "
                                               (fmt-num gradient-flow-time) ")"))))))
             (when-let [dp (seq (:diffusion-peak analysis))]
               (str "diffusion peak:   " (per-mode n (fn [i] (let [{:keys [peak-time precedes-learning?]} (nth dp i)]
                                                               (str "t " (fmt-num peak-time) (if precedes-learning? " (before learning)" "")))))))
             (when-let [st (seq (:stationary analysis))]
               (str "stationary:       " (per-mode n (fn [i] (let [{:keys [variance ks theory error]} (nth st i)]
                                                               (if error
                                                                 "not normalizable"
                                                                 (str "variance " (fmt-num variance) " (theory " (fmt-num (:variance theory))
                                                                      "), KS " (fmt-num ks))))))))
             (let [hz (:hit-zero final) dv (:diverged final)]
               (when (some pos? (concat hz dv))
                 (str "boundary:         " (per-mode n (fn [i] (let [z (long (nth hz i 0)) d (long (nth dv i 0))]
                                                                 (when (or (pos? z) (pos? d))
                                                                   (str z " hit 0, " d " diverged"))))))))])))

(defn- network-summary-lines
  "`summary-lines` of a network run."
  [result]
  (let [{:keys [trajectory analysis final meta]} result
        thr (:stability-threshold analysis)
        [sstep sval] (last-recorded trajectory :sharpness)
        late (late-stats trajectory :sharpness)
        lp (:loss-period analysis)]
    (remove nil?
            [(str "status:           " (stop-text result)
                  (when-let [ms (:elapsed-ms meta)] (str " in " (fmt-duration (/ (double ms) 1000.0)))))
             (str "final loss:       " (fmt-num (:loss final))
                  (when (some? (:test-loss final)) (str "   test loss: " (fmt-num (:test-loss final)))))
             (when sval
               (str "sharpness:        " (fmt-num sval) " at step " sstep
                    (when thr (str "   2/lr = " (fmt-num thr)))))
             (when (and late (> (long (:n late)) 1))
               (str "late sharpness:   mean " (fmt-num (:mean late)) ", range " (fmt-num (:min late))
                    " to " (fmt-num (:max late)) " over the last fifth of the run"))
             (when-let [s (:sharpening-end-step analysis)]
               (str "sharpening ends:  step " s " (sharpness first reaches 2/lr)"))
             (when-let [bad (seq (for [[metric {:keys [calls unconverged]}] (:eigensolves meta)
                                       :when (pos? (long unconverged))]
                                   (str unconverged " of " calls " " (name metric) " records")))]
               (str "warning:          Lanczos missed its tolerance in " (str/join ", " bad)
                    " (the best Ritz values are recorded; raise the metric's :max-iter)"))
             (when lp
               (str "loss period:      " (fmt-num lp)
                    (cond (= lp 1) " (settled)"
                          (integer? lp) " (the loss oscillates)"
                          (= lp :aperiodic) " (irregular)"
                          :else "")))
             (when-let [steps (:mode-learned-steps analysis)]
               (let [targets (:mode-targets analysis)
                     k (n-target-modes analysis)]
                 (str "modes learned:    " (str/join ", " (map #(if % (str "step " %) "not yet") (take k steps)))
                      " (modes 1.." k ", targets " (str/join ", " (map fmt-num (take k targets))) ")")))
             (let [periods (take (n-target-modes analysis) (:mode-periods analysis))
                   osc (keep-indexed (fn [i p] (when (and (integer? p) (> (long p) 1)) (str "mode " (inc (long i)) " (period " p ")"))) periods)
                   irregular (keep-indexed (fn [i p] (when (= p :aperiodic) (inc (long i)))) periods)]
               (when (or (seq osc) (seq irregular))
                 (str "late modes:       "
                      (str/join "; " (concat osc (when (seq irregular)
                                                   [(str "mode" (when (next irregular) "s") " " (str/join ", " irregular)
                                                         " irregular (noise or chaos)")]))))))
             (when-let [shares (:final-pathway-shares analysis)]
               (when (> (count (first (remove nil? shares))) 1)
                 (let [k (min (n-target-modes analysis) (count shares))]
                   (str "pathway shares:   "
                        (str/join "; " (map-indexed (fn [i row] (str "mode " (inc (long i)) " "
                                                                     (if row (str/join "/" (map #(format "%.3f" (double %)) row)) "-")))
                                                    (take k shares)))))))])))

(defn summary-lines
  "The short plain-text summary of a result that `run` prints: status, steps,
  final loss, last sharpness, analysis highlights (modes are numbered from 1,
  as in trajectory.csv); for an :sde experiment the ensemble, the final mean
  strengths, learning times, diffusion peaks and the stationary comparison."
  [result]
  (if (= :sde (get-in result [:experiment :kind]))
    (sde-summary-lines result)
    (network-summary-lines result)))

(defn- run-result-code [result]
  (if (= :interrupted (:stop-reason result)) 130 0))

(defn- check-out-dir! [dir]
  (try (dio/check-writable-dir! dir)
       (catch clojure.lang.ExceptionInfo e
         (bad-input! (str (ex-message e) " Choose another --out directory.") (ex-data e)))))

(defn- bad-input-data? [data]
  (or (::bad-input data) (contains? data :path) (contains? data :problem)))

(defn- run-experiment
  "Runs exp (from file) with the CLI's progress display and SIGINT handling;
  returns the result."
  [exp file]
  (let [flag (or *interrupt-flag* (AtomicBoolean. false))
        ^Writer err *err*
        prog (when (terminal?) (run-progress err))
        opts (cond-> {:interrupt flag}
               prog (assoc :progress (:progress prog) :on-record (:on-record prog)))]
    (try
      (with-sigint flag err #(experiment/run exp opts))
      (catch clojure.lang.ExceptionInfo e
        (if (bad-input-data? (ex-data e))
          (bad-input! (str file ": the experiment cannot be run: " (ex-message e)) (ex-data e))
          (throw e)))
      (finally (when prog ((:finish prog)))))))

(defn- cmd-run [{:keys [files opts]}]
  (let [file (one-file "run" files)
        raw (read-map file "the experiment")
        _ (when (and (contains? raw :grid) (contains? raw :base))
            (bad-input! (str file " is a sweep file (it has :base and :grid); run it with `dlnlab sweep " file "`.")))
        exp (validated (apply-sets raw (get opts "--set")) file (get opts "--set") "run")
        dir (or (get opts "--out") (default-out file))
        _ (check-out-dir! dir)
        result (run-experiment exp file)
        paths (write-result! result dir)]
    (figures! result dir (get opts "--no-plots"))
    (doseq [l (summary-lines result)] (println l))
    (println (str "wrote:            " (:result paths) " and " (:trajectory paths)))
    (run-result-code result)))

;; ---------------------------------------------------------------- sweeps

(def ^:private sweep-keys #{:base :grid :seeds :name :description})

(defn- normalize-sweep
  "{:base :grid [[path values] ...] :seeds} from a sweep file, every point's
  experiment validated; bad input naming the problem (and the point)."
  [raw file]
  (doseq [k (keys raw)]
    (when-not (sweep-keys k)
      (let [dym (spec/did-you-mean k sweep-keys)]
        (bad-input! (str file ": unknown key " (pr-str k) " in a sweep file."
                         (when dym (str " Did you mean " (pr-str dym) "?"))
                         " A sweep file is {:base EXPERIMENT :grid {PATH [VALUES] ...} :seeds :derived|:shared}"
                         " (optional :name, :description)."
                         (when (#{:model :task :optimizer} k) " Put the experiment's keys under :base."))
                    {:path [k] :value (get raw k) :allowed (vec (sort sweep-keys))}))))
  (doseq [k [:base :grid]]
    (when-not (contains? raw k)
      (bad-input! (str file ": a sweep file needs " k "; it is {:base EXPERIMENT :grid {PATH [VALUES] ...}}, e.g. "
                       "{:base {...} :grid {[:optimizer :lr] [0.01 0.02]}}.")
                  {:path [k] :value nil :allowed (if (= k :base) "an experiment map" "a grid map")})))
  (when-not (map? (:base raw))
    (bad-input! (str file ": [:base] must be an experiment map, got " (pr-str (:base raw)) ".")
                {:path [:base] :value (:base raw) :allowed "an experiment map"}))
  (let [seeds (:seeds raw :derived)]
    (when-not (#{:derived :shared} seeds)
      (bad-input! (str file ": [:seeds] must be :derived (each point its own seed) or :shared (every point the base seed), got "
                       (pr-str seeds) ".")
                  {:path [:seeds] :value seeds :allowed [:derived :shared]}))
    (let [points (try (sweep/grid-points (:grid raw))
                      (catch clojure.lang.ExceptionInfo e
                        (bad-input! (str file ": " (ex-message e)) (ex-data e))))
          grid (vec (map vec (seq (:grid raw))))]
      (doseq [[i point] (map-indexed vector points)]
        (try (validated (sweep/point-experiment (:base raw) point seeds) file nil "sweep")
             (catch clojure.lang.ExceptionInfo e
               (bad-input! (str "Grid point " i " " (pr-str (into {} point)) " of " (ex-message e)) (ex-data e)))))
      (merge (select-keys raw [:name :description])
             {:base (:base raw) :grid grid :seeds seeds}))))

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

(defn- summary-row
  "One summary.csv row: point values then the run's facts."
  [i dir-name point result]
  (let [traj (:trajectory result)
        [_ sharp] (last-recorded traj :sharpness)]
    (concat [i dir-name] (map second point)
            [(get-in result [:experiment :seed])
             (:status result) (:stop-reason result)
             (get-in result [:final :step]) (get-in result [:final :loss]) (get-in result [:final :test-loss])
             sharp (get-in result [:analysis :stability-threshold])
             (get-in result [:analysis :loss-period]) (get-in result [:analysis :sharpening-end-step])
             (when-let [steps (get-in result [:analysis :mode-learned-steps])]
               (str/join " " (map #(if % (str %) "-") (take (n-target-modes (:analysis result)) steps))))
             (get-in result [:meta :elapsed-ms]) (:error result)])))

(defn- summary-header [grid]
  (concat ["index" "dir"]
          (map (fn [[path _]] (str/join "." (map #(if (keyword? %) (name %) (str %)) path))) grid)
          ["seed" "status" "stop_reason" "steps" "final_loss" "final_test_loss" "final_sharpness"
           "stability_threshold" "loss_period" "sharpening_end_step" "modes_learned_steps" "elapsed_ms" "error"]))

(defn- sweep-progress [^Writer err ^long total ^long skipped]
  (let [start (System/nanoTime) done (AtomicLong. 0) last-draw (AtomicLong. (- start 1000000000)) drawn (volatile! false)]
    {:start (fn []
              (when (< skipped total)
                (locking err
                  (vreset! drawn true)
                  (.write err (str (erase-line) "sweep " skipped "/" total " done"
                                   (when (pos? skipped) (str " (" skipped " from before)"))
                                   "  ETA after the first run"))
                  (.flush err))))
     :tick (fn []
             (let [d (.incrementAndGet done)
                   now (System/nanoTime)]
               (when (or (> (- now (.get last-draw)) 100000000) (= (+ d skipped) total))
                 (.set last-draw now)
                 (let [secs (/ (- now start) 1e9)
                       rate (/ d (max secs 1e-9))
                       left (- total skipped d)
                       line (str "sweep " (+ d skipped) "/" total " done"
                                 (when (pos? skipped) (str " (" skipped " from before)"))
                                 "  " (format "%.2f" (* 60.0 rate)) " runs/min"
                                 "  ETA " (fmt-duration (/ left (max rate 1e-9))))]
                   (locking err
                     (vreset! drawn true)
                     (.write err (str (erase-line) line))
                     (.flush err))))))
     :finish (fn [] (when @drawn (locking err (.write err "\n") (.flush err))))}))

(defn- parse-jobs [s]
  (let [n (when (and s (re-matches #"\s*\d+\s*" s)) (try (Long/parseLong (str/trim s)) (catch Exception _ nil)))]
    (when (or (nil? n) (< (long n) 1))
      (bad-input! (str "--jobs must be a positive integer (the number of runs at a time), got " (pr-str s) ".")
                  {:path [:jobs] :value s :allowed "a positive integer"}))
    n))

(defn- cmd-sweep [{:keys [files opts]}]
  (let [file (one-file "sweep" files)
        raw (read-map file "the sweep: {:base EXPERIMENT :grid {PATH [VALUES]}}")
        _ (when-not (or (contains? raw :base) (contains? raw :grid))
            (bad-input! (str file " is not a sweep file (it has no :base and :grid); run a single experiment with `dlnlab run "
                             file "`, or write {:base EXPERIMENT :grid {[:optimizer :lr] [0.01 0.02]}}.")))
        jobs (if-let [j (get opts "--jobs")] (parse-jobs j) (.availableProcessors (Runtime/getRuntime)))
        norm (normalize-sweep raw file)
        dir (or (get opts "--out") (default-out file))
        _ (check-out-dir! dir)
        sweep-file (io/file dir "sweep.edn")
        _ (when (.exists sweep-file)
            (let [old (try (dio/read-edn-file sweep-file)
                           (catch clojure.lang.ExceptionInfo e
                             (bad-input! (str "Cannot resume in " dir ": " (ex-message e) " Use another --out directory."))))]
              (when (not= old norm)
                (let [diff (filter #(not= (get old %) (get norm %)) [:base :grid :seeds :name :description])
                      what (str/join " and " (map pr-str diff))]
                  (bad-input! (str sweep-file " holds a different sweep (" (if (empty? diff) "the file differs"
                                                                               (str "its " what (if (next diff) " differ" " differs")))
                                   " from " file "), so the results there cannot be resumed; use another --out directory, or delete "
                                   dir " to start over.")
                              {:path [:sweep] :value (str sweep-file) :allowed "the same sweep as before"})))))
        points (sweep/grid-points (:grid norm))
        n (count points)
        dirs (vec (map-indexed (fn [i p] (io/file dir "runs" (run-dir-name i n p))) points))
        done? (fn [^long i] (.exists (io/file (nth dirs i) "result.edn")))
        skipped (count (filter done? (range n)))
        ^AtomicBoolean flag (or *interrupt-flag* (AtomicBoolean. false))
        ^Writer err *err*
        prog (when (terminal?) (sweep-progress err n skipped))
        write-errors (atom [])
        no-plots? (get opts "--no-plots")
        figure-warnings (atom [])
        _ (dio/write-edn-file! (str sweep-file) norm)
        _ (println (str "sweep: " n " points, " skipped " already done, running " (- n skipped)
                        " with " jobs " job" (when (> (long jobs) 1) "s")))
        _ (when prog ((:start prog)))
        results (with-sigint flag err
                  (fn []
                    (sweep/sweep (:base norm) (:grid norm)
                                 {:jobs jobs :seeds (:seeds norm)
                                  :run-opts {:interrupt flag}
                                  :skip? (fn [i _] (done? i))
                                  :on-result (fn [i _ r]
                                               (when-not (or (= :failed (:status r)) (= :interrupted (:stop-reason r)))
                                                 (try (write-result! r (nth dirs i))
                                                      (when-not no-plots?
                                                        (when-let [w (figure-warning r (nth dirs i))]
                                                          (swap! figure-warnings conj w)))
                                                      (catch Exception e (swap! write-errors conj (ex-message e)))))
                                               (when prog ((:tick prog))))})))
        _ (when prog ((:finish prog)))
        all-results (vec (for [i (range n)]
                           (or (nth results i)
                               (try (dio/read-edn-file (io/file (nth dirs i) "result.edn"))
                                    (catch Exception e {:status :unreadable :error (ex-message e)})))))
        rows (vec (for [i (range n)]
                    (summary-row i (.getName ^File (nth dirs i)) (nth points i) (nth all-results i))))
        summary-path (str (io/file dir "summary.csv"))]
    (dio/write-atomically! summary-path (fn [^Writer w] (dio/write-csv w (summary-header (:grid norm)) rows)))
    (when-not (or no-plots? (.get flag))
      (when-let [w (figure-warning all-results dir)] (swap! figure-warnings conj w)))
    (let [ran (remove nil? results)
          statuses (frequencies (map (fn [r] (if (= :interrupted (:stop-reason r)) :interrupted (:status r))) ran))
          failed (filter #(= :failed (:status %)) ran)]
      (println (str "ran " (count ran) " point" (when (not= 1 (count ran)) "s")
                    (when (seq statuses)
                      (str " (" (str/join ", " (for [[s c] (sort-by (comp name key) statuses)] (str c " " (name s)))) ")"))
                    (when (pos? skipped) (str "; " skipped " done before"))))
      (doseq [r failed]
        (binding [*out* *err*]
          (println (str "dlnlab: grid point " (get-in r [:sweep :index]) " " (pr-str (get-in r [:sweep :point]))
                        " failed: " (:error r)))))
      (doseq [m @write-errors] (binding [*out* *err*] (println (str "dlnlab: " m))))
      (doseq [w @figure-warnings] (binding [*out* *err*] (println w)))
      (println (str "wrote:  " (str sweep-file) ", " (str (io/file dir "runs")) File/separator "*/, " summary-path))
      (cond (.get flag) (do (println "interrupted: rerun the same command to finish the remaining points.") 130)
            (or (seq failed) (seq @write-errors)) 1
            :else 0))))

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

(defn- check-result!
  "Bad input unless r looks like a run result: a map whose :trajectory is a map of vectors."
  [r file]
  (let [traj (:trajectory r)]
    (when-not (and (map? r) (map? traj) (seq traj) (every? #(or (nil? %) (sequential? %)) (vals traj)))
      (bad-input! (str file " is not a run result: "
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
  "The results under dir/runs/*/result.edn in directory order; bad input when
  there are none or one cannot be read."
  [^File dir]
  (let [runs (io/file dir "runs")
        files (->> (or (.listFiles runs) (make-array File 0))
                   (filter #(.isDirectory ^File %))
                   (sort-by #(.getName ^File %))
                   (map #(io/file % "result.edn"))
                   (filter #(.exists ^File %)))]
    (when (empty? files)
      (bad-input! (str dir " is a sweep directory without results: " runs
                       " holds no */result.edn yet. Run the sweep first (dlnlab sweep FILE.edn --out " dir ").")
                  {:path [:runs] :value (str runs) :allowed "runs/*/result.edn"}))
    (mapv (fn [^File f] (check-result! (dio/read-edn-file f) (str f))) files)))

(defn- result-kind
  "The plot input kind of a run result: :ensemble for an :sde experiment's (its
  figures are the SDE ones), else :result."
  [r]
  (if (= :sde (get-in r [:experiment :kind])) :ensemble :result))

(defn- plot-input
  "What `dlnlab plot` draws from path: {:kind :result|:sweep|:ensemble :data ..
  :dir <directory of the input>}; bad input naming the problem otherwise."
  [path]
  (let [f (io/file path)]
    (cond
      (not (.exists f))
      (bad-input! (str "No such file or directory: " path ". Give a result.edn, a run directory or a sweep directory.")
                  {:path [:input] :value path :allowed "a result.edn, a run directory or a sweep directory"})

      (.isDirectory f)
      (cond
        (.exists (io/file f "result.edn"))
        (let [r (check-result! (dio/read-edn-file (io/file f "result.edn")) (str (io/file f "result.edn")))]
          {:kind (result-kind r) :dir f :data r})
        (.exists (io/file f "sweep.edn"))
        {:kind :sweep :dir f :data (read-sweep-dir f)}
        :else
        (bad-input! (str "The directory " path " holds neither result.edn (a run) nor sweep.edn (a sweep); "
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

(defn- figure-name
  "The figure keyword for --figure s (with or without a leading colon); bad
  input listing the figures when it is not one, or not one for this input."
  [^String s kind input]
  (let [nm (str/lower-case (str/replace (str/trim s) #"^:" ""))
        all (set (map name (keys plot/figure-catalog)))]
    (when-not (all nm)
      (let [dym (spec/did-you-mean nm all)]
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
         (if (bad-input-data? (ex-data e))
           (bad-input! (str "Cannot draw " what " from " input ": " (ex-message e)) (ex-data e))
           (throw e)))
       (catch RuntimeException e
         (bad-input! (str "Cannot draw " what " from " input ": its data has an unexpected shape ("
                          (.getSimpleName (class e)) (when (ex-message e) (str ": " (ex-message e))) ").")
                     {:path [:input] :value input :allowed "results written by dlnlab"}))))

(defn- cmd-plot [{:keys [files opts]}]
  (let [input (case (count files)
                1 (first files)
                0 (usage-error! "`dlnlab plot` needs a result.edn, a run directory or a sweep directory, e.g. dlnlab plot results/eos.")
                (usage-error! (str "`dlnlab plot` takes exactly one result file or directory, got " (count files) ": "
                                   (str/join " " files) ".")))
        out (get opts "--out")
        fig-arg (get opts "--figure")]
    (when (and out (not fig-arg) (image-file? out))
      (usage-error! (str "--out " out " names an image file, which needs --figure NAME; without --figure, "
                         "--out is the directory for all the standard figures.")))
    (when (and out fig-arg (not (image-file? out)) (re-find #"\.[A-Za-z0-9]{1,5}$" (.getName (io/file out)))
               (not (.isDirectory (io/file out))))
      (bad-input! (str "--out " out ": the image format is taken from the extension, which must be .svg or .png "
                       "(or give a directory for " fig-arg ".svg).")
                  {:path [:out] :value out :allowed ["FILE.svg" "FILE.png" "DIR"]}))
    (let [{:keys [kind data dir]} (plot-input input)]
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
          (let [norm (normalize-sweep raw file)]
            (print (dio/edn-str norm))
            (println (str ";; " (count (sweep/grid-points (:grid norm))) " grid points, each a valid experiment"))))
      (let [exp (apply-sets raw (get opts "--set"))
            norm (validated exp file (get opts "--set") nil)]
        (print (dio/edn-str norm))
        (when-not (or (:optimizer norm) (= :sde (:kind norm)))
          (println ";; valid network and task; add :optimizer and :steps to run it"))))
    0))

(def ^:private node-order [:experiment :model :init :task :covariance :teacher :optimizer :stop :record
                           :sde-experiment :sde :sde-record])

(def ^:private node-paths
  {:experiment "the top-level map" :model "[:model]" :init "[:model :init]" :task "[:task]"
   :covariance "[:task :covariance]" :teacher "[:task :teacher]" :optimizer "[:optimizer]"
   :stop "[:stop]" :record "[:record]"
   :sde-experiment "the top-level map when :kind is :sde" :sde "[:sde] of an :sde experiment"
   :sde-record "[:sde :record]"})

(defn- an [^String s] (str/replace s #"\ba ([aeiou])" "an $1"))

(defn- key-lines
  "Lines describing each [key info] of entries (info as in spec/describe): the
  key, what it allows and its default, then its documentation. In the record
  node (the one with :metrics) the per-metric option keys collapse into one line."
  [entries ^long indent]
  (let [metric-set (if (some (fn [[k _]] (= :metrics k)) entries) (set (spec/metric-names)) #{})
        shown (remove (fn [[k _]] (metric-set k)) entries)
        collapsed (some (fn [[k _]] (metric-set k)) entries)
        pad (apply str (repeat indent " "))]
    (concat
     (for [[k {:keys [doc allowed required default default-doc] :as e}] shown]
       (str (wrap (str (an allowed) "; "
                       (cond required "required"
                             (contains? e :default) (str "default " (pr-str default))
                             default-doc (str "default " default-doc)
                             :else "optional"))
                  indent 80 (+ indent 8) (str (pr-str k) " "))
            "\n" (wrap doc (+ indent 4) 80)))
     (when collapsed
       [(str pad ":<metric>  options of one recorded metric, e.g. :sharpness {:every 50 :tol 1e-8}\n"
             (wrap "A map of that metric's options (see METRICS below); :every n records it every n steps instead of the record's :every." (+ indent 4) 80))]))))

(defn- ordered
  "[k info] of the keys in info-map, in the order of the schema entries (then any
  others)."
  [schema-entries info-map]
  (let [order (map first schema-entries)]
    (for [k (concat order (remove (set order) (keys info-map)))
          :when (contains? info-map k)]
      [k (get info-map k)])))

(defn describe-text
  "The plain-text listing `dlnlab describe` prints: every node of an experiment
  (dlnlab.spec/describe) with its keys, what each allows and its default, then
  the metrics catalog."
  []
  (let [d (spec/describe)
        nodes (concat node-order (remove (set node-order) (keys d)))
        section (fn [id]
                  (let [{:keys [doc keys common-keys kinds]} (get d id)
                        node (get (spec/schema) id)]
                    (str/join "\n"
                              (concat
                               [(str (str/upper-case (name id)) "  (" (get node-paths id "a nested map")
                                     (when kinds ", chosen by :kind") ")")
                                (wrap doc 2 80)]
                               (when (seq keys) (cons "" (key-lines (ordered (:keys node) keys) 2)))
                               (when (seq common-keys)
                                 (concat ["" "  Keys of every kind:"] (key-lines (ordered (:common node) common-keys) 4)))
                               (mapcat (fn [[k {kdoc :doc kkeys :keys}]]
                                         (concat ["" (str "  :kind " (pr-str k))]
                                                 [(wrap kdoc 4 80)]
                                                 (if (seq kkeys)
                                                   (key-lines (ordered (get-in node [:kinds k :keys]) kkeys) 6)
                                                   ["      (no other keys)"])))
                                       (ordered (map vector (clojure.core/keys (:kinds node))) kinds))))))
        metric-section
        (str/join "\n"
                  (concat
                   ["METRICS  (:record {:metrics [...]}; each also a function in dlnlab.metrics)"
                    (wrap "Recorded every [:record :every] steps unless the metric's own {:every n} says otherwise; costly metrics are worth a slower cadence. In trajectory.csv a vector-valued metric becomes one column per entry (modes_1, pathway_shares_m1_p2, balance_gap_p1_l1, ...)." 2 80)]
                   (mapcat (fn [m]
                             (let [{:keys [description options cost shape]} (get (metrics/catalog) m)]
                               (concat ["" (str "  " (pr-str m) "  " shape "; " (name cost))
                                        (wrap description 6 80)]
                                       (for [[o {:keys [default doc]}] options]
                                         (wrap (str "default " (pr-str default) "; " doc) 6 80 10
                                               (str "option " (pr-str o) " "))))))
                           (keys (metrics/catalog)))))]
    (str "dlnlab experiments: every key, what it allows and its default.\n"
         "An experiment is an EDN map; `dlnlab validate FILE.edn` prints one with every default filled.\n\n"
         (str/join "\n\n" (map section nodes))
         "\n\n" metric-section "\n")))

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
        _ (when (= :sde (:kind norm))
            (bad-input! (str file " is an :sde experiment, which has no network to inspect; `dlnlab validate " file
                             "` prints its options, `dlnlab run " file "` simulates it.")
                        {:path [:kind] :value :sde :allowed "a network experiment"}))
        r (try (inspect-experiment exp)
               (catch clojure.lang.ExceptionInfo e
                 (if (bad-input-data? (ex-data e)) (bad-input! (str file ": " (ex-message e)) (ex-data e)) (throw e))))]
    (doseq [[k v] r :when (some? v)] (println (str (name k) ": " v)))
    0))

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
        dir (or (get opts "--out") (str "results" File/separator nm))
        _ (check-out-dir! dir)
        ^Writer err *err*
        progress (when (terminal?)
                   (let [n (atom 0)]
                     (fn [_] (let [k (swap! n inc)]
                               (locking err (.write err (str (erase-line) "reproduce " nm ": " k " runs done"))
                                        (.flush err))))))
        t0 (System/nanoTime)
        report (reproduce {:variant (if (get opts "--full") :full :quick) :jobs jobs :progress progress})
        seconds (/ (- (System/nanoTime) t0) 1e9)]
    (when progress (locking err (.write err (str (erase-line))) (.flush err)))
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
                    (when (seq figs) (str " and " (count figs) " figure files")))))
    0))

(defn main*
  "Runs one dlnlab command line (args as given to the program) in-process,
  printing to *out* and *err* as bound, and returns the exit code: 0 done, 1
  internal error, 2 bad input, 130 interrupted (see the namespace docstring).
  Never throws and never exits the JVM."
  [args]
  (let [[command & more] args]
    (try
      (let [parsed (when (contains? command-options command) (parse-args command more))
            code (case command
                   nil (usage-error! "No command given; the commands are run, sweep, plot, validate, describe, inspect, version and help.")
                   "run" (cmd-run parsed)
                   "sweep" (cmd-sweep parsed)
                   "plot" (cmd-plot parsed)
                   "reproduce" (cmd-reproduce parsed)
                   "validate" (cmd-validate parsed)
                   "inspect" (cmd-inspect parsed)
                   "describe" (do (when (seq (:files parsed)) (usage-error! "`dlnlab describe` takes no arguments."))
                                  (print (describe-text)) 0)
                   "version" (do (println (version-string)) 0)
                   ("help" "--help" "-h") (do (println usage) 0)
                   (let [dym (spec/did-you-mean command (conj (keys command-options) "help"))]
                     (usage-error! (str "Unknown command " (pr-str command) "."
                                        (when dym (str " Did you mean " dym "?"))
                                        " Commands are run, sweep, plot, validate, describe, inspect, version, help."))))]
        (flush)
        code)
      (catch clojure.lang.ExceptionInfo e
        (flush)
        (if (bad-input-data? (ex-data e))
          (do (report-error! command (ex-message e) (::usage (ex-data e))) 2)
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
