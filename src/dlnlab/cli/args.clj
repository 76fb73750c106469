(ns dlnlab.cli.args
  "Command-line arguments: options per command, key paths, --set and --grid
  assignments, and the checks that turn bad arguments into messages (exit 2)."
  (:require [clojure.edn :as edn]
            [clojure.java.io :as io]
            [clojure.string :as str]
            [dlnlab.error :as error]
            [dlnlab.experiment :as experiment]
            [dlnlab.io :as dio]
            [dlnlab.spec :as spec]
            [dlnlab.store :as store])
  (:import [java.io File PushbackReader StringReader]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn bad-input!
  "Throws a dlnlab.error ex-info the caller can fix (exit 2): of the kind in
  data (when data comes from another error) or :invalid-argument."
  ([msg] (bad-input! msg nil))
  ([msg data] (error/fail! (or (:dlnlab/error data) :invalid-argument) msg (dissoc data :dlnlab/error))))

(defn usage-error! [msg] (error/fail! :usage msg {}))

(defn input-error?
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

(def command-options
  {"run" {"--out" :value "--set" :multi "--no-plots" :flag "--force" :flag "--no-report" :flag
          "--grid" :multi "--zip" :multi "--jobs" :value "--replicates" :value "--seeds" :value "--shard" :value "--merge" :flag
          "--format" :value "--point-figures" :flag}
   "sweep" {"--out" :value "--jobs" :value "--no-plots" :flag "--no-report" :flag "--set" :multi "--grid" :multi "--zip" :multi
            "--replicates" :value "--seeds" :value "--shard" :value "--merge" :flag
            "--engine" :value "--master" :value "--format" :value "--point-figures" :flag}
   "plot" {"--out" :value "--figure" :value "--format" :value "--x" :value "--x-range" :value
           "--log-x" :flag "--linear-x" :flag}
   "report" {"--out" :value}
   "reproduce" {"--out" :value "--jobs" :value "--full" :flag "--no-plots" :flag "--no-report" :flag
                "--format" :value}
   "validate" {"--set" :multi}
   "inspect" {"--set" :multi}
   "describe" {}
   "version" {}})

(defn parse-args
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
                                         "--set" "--set optimizer.lr=0.05" "--grid" "--grid optimizer.lr=0.01,0.1" "--zip" "--zip optimizer.lr,steps"
                                         "--shard" "--shard 1/4" "--replicates" "--replicates 3" "--seeds" "--seeds :derived"
                                         "--format" "--format png" "--x" "--x time" "--x-range" "--x-range 0:500"
                                         (str k " VALUE")) ".")))
              (recur more files (if (= kind :multi) (update opts k (fnil conj []) v) (assoc opts k v))
                     only-files?))))))))

(defn one-file [command files]
  (case (count files)
    1 (first files)
    0 (usage-error! (str "`dlnlab " command "` needs an EDN file, e.g. dlnlab " command
                         " examples/eos-factorization.edn."))
    (usage-error! (str "`dlnlab " command "` takes exactly one file, got " (count files) ": "
                       (str/join " " files) "."))))

(defn read-map
  "The EDN map in file, its data-file paths resolved against the file's
  directory (dlnlab.experiment/resolve-data-files); bad input when it is
  unreadable or not a map."
  [file what]
  (let [v (dio/read-edn-file file)]
    (when-not (map? v)
      (bad-input! (str "The file " file " must hold one EDN map (" what "), got "
                       (if (nil? v) "nil" (str "a " (.getSimpleName (class v)))) ".")))
    (experiment/resolve-data-files v (.getParentFile (.getAbsoluteFile (io/file file))))))

(defn read-edn-value
  "The single EDN value in s; throws with why when there is none or more, or
  when it nests deeper than dlnlab.io/*max-edn-depth*."
  [^String s]
  (when (dio/edn-depth (StringReader. s) dio/*max-edn-depth*)
    (throw (ex-info (str "it nests collections more than " dio/*max-edn-depth* " deep") {})))
  (let [r (PushbackReader. (StringReader. s))
        eof (Object.)
        v (edn/read {:eof eof} r)]
    (when (identical? v eof) (throw (ex-info "it is empty" {})))
    (when-not (identical? eof (edn/read {:eof eof} r)) (throw (ex-info "it holds more than one EDN form" {})))
    v))

(def ^:private path-allowed
  "PATH dotted (optimizer.lr; a segment of digits is a vector index) or an EDN vector of keywords and indices ([:optimizer :lr])")

(defn parse-path
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

(defn parse-assignment
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

(defn spaced
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

(defn parse-zip
  "Parses one --zip argument PATH,PATH,... into a zip group, a vector of key
  paths (each as for `parse-set`; commas inside an EDN vector path do not
  split) that vary together in a sweep (dlnlab.sweep/grid-points). Throws bad
  input naming the argument and what is allowed."
  [^String arg]
  (let [allowed (str "two or more key paths separated by commas, each " path-allowed)
        fail (fn [why] (bad-input! (str "--zip " (pr-str arg) ": " why " Expected PATH,PATH,... with " allowed ".")
                                   {:path [:zip] :value arg :allowed allowed}))
        parts (loop [cs (seq arg) depth 0 cur [] acc []]
                (if-let [[c & more] cs]
                  (cond
                    (and (= c \,) (zero? depth)) (recur more depth [] (conj acc (apply str cur)))
                    (= c \[) (recur more (inc depth) (conj cur c) acc)
                    (= c \]) (recur more (dec depth) (conj cur c) acc)
                    :else (recur more depth (conj cur c) acc))
                  (conj acc (apply str cur))))
        paths (mapv #(parse-path (str/trim %) fail) parts)]
    (when (< (count paths) 2) (fail "a zip group ties at least two grid paths."))
    paths))

(defn apply-set
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

(defn apply-sets [exp set-args]
  (reduce (fn [e arg] (apply-set e (parse-set arg) arg)) exp set-args))

(defn validated
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

(defn base-name [file]
  (str/replace (.getName (io/file file)) #"\.edn$" ""))

(defn default-out [file] (str "results" File/separator (base-name file)))

(defn out-option
  "The --out option, or default; a usage error when it is empty or blank (which
  would name the filesystem root)."
  [opts default]
  (let [o (get opts "--out")]
    (when (and o (str/blank? o))
      (usage-error! (str "--out must name a directory or file, got " (pr-str o) ".")))
    (or o default)))

(defn parse-positive
  "The positive integer of option opt (\"--jobs\") given as s; bad input otherwise."
  [opt what s]
  (let [n (when (and s (re-matches #"\s*\d{1,9}\s*" s)) (Long/parseLong (str/trim s)))]
    (when (or (nil? n) (< (long n) 1))
      (bad-input! (str opt " must be a positive integer (" what "), got " (pr-str s) ".")
                  {:path [(keyword (subs opt 2))] :value s :allowed "a positive integer"}))
    n))

(defn parse-jobs [s] (parse-positive "--jobs" "the number of runs at a time" s))

(defn with-grid-args
  "The raw sweep map raw with the command line's changes: --set applied to
  its base, each --grid axis added (or replacing the axis of the same path in
  place), each --zip group added to its :zip, --replicates and --seeds."
  [raw opts]
  (let [add-axis (fn [g arg]
                   (let [[p vs] (parse-grid arg)
                         i (first (keep-indexed (fn [i [q _]] (when (= p q) i)) g))]
                     (if i (assoc g i [p vs]) (conj g [p vs]))))
        grid-args (get opts "--grid")]
    (cond-> (update raw :base #(if (map? %) (apply-sets % (get opts "--set")) %))
      (seq grid-args) (update :grid (fn [g] (reduce add-axis (if (or (map? g) (vector? g)) (vec (map vec g)) []) grid-args)))
      (seq (get opts "--zip")) (update :zip (fn [z] (into (vec z) (map parse-zip) (get opts "--zip"))))
      (get opts "--replicates") (assoc :replicates (parse-positive "--replicates" "seeds per point" (get opts "--replicates")))
      (get opts "--seeds") (assoc :seeds (keyword (str/replace (str/trim (get opts "--seeds")) #"^:" ""))))))

(defn one-input
  "The one path among files; a usage error saying what command needs (the
  example is results/eos) or takes otherwise."
  [command files needs takes]
  (case (count files)
    1 (first files)
    0 (usage-error! (str "`dlnlab " command "` needs " needs ", e.g. dlnlab " command " results/eos."))
    (usage-error! (str "`dlnlab " command "` takes exactly " takes ", got " (count files) ": " (str/join " " files) "."))))
