(ns dlnlab.error
  "The one error vocabulary of dlnlab. Every error a caller can act on is an
  ex-info whose data carries

    {:dlnlab/error kind      ; a keyword from `kinds`
     :path         [..]      ; the key path of the offending value
     :value        v         ; the offending value (shortened in messages)
     :allowed      a}        ; what would have been accepted

  plus whatever else helps (:did-you-mean, :line, :holder ...). Messages name the
  key, the value and what is allowed. The CLI maps the kind to an exit code with
  `input-error?` instead of guessing from the keys of the data.

  Functions: `fail!` (throw), `check!` (throw unless), `conform!` (clojure.spec
  at an API edge), `did-you-mean` (near misses), `show` (a value, short),
  `kind-of` and `input-error?` (reading an exception)."
  (:require [clojure.spec.alpha :as s]
            [clojure.string :as str]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def kinds
  "The error kinds and what each means. All but :internal are the caller's to fix."
  {:invalid-experiment "a key of an experiment (or sweep) map is missing, unknown or out of range"
   :invalid-option     "an option of an API call is unknown or out of range"
   :invalid-argument   "an argument of an API call has the wrong type or shape"
   :unreadable-file    "an input file is missing, unreadable or malformed"
   :unwritable         "an output path cannot be written"
   :too-large          "the request would exceed a size or memory limit"
   :conflict           "another writer holds the output directory"
   :usage              "the command line is malformed"
   :internal           "a bug in dlnlab"})

(def ^:private max-shown
  "Longest printed form of a value inside a message."
  120)

(defn show
  "A short printed form of v for messages: at most limit characters (default
  120), collections cut after 8 items and 3 levels."
  (^String [v] (show v max-shown))
  (^String [v limit]
   (let [limit (max 8 (long limit))
         p (binding [*print-length* 8 *print-level* 3] (pr-str v))]
     (if (> (count p) limit) (str (subs p 0 (- limit 3)) "...") p))))

(def ^:private max-token
  "Longest run of non-blank characters a message keeps whole (longer ones are
  cut to 120): long enough for any file path a message names."
  240)

(defn shorten-message
  "msg with the values it echoes shortened: where the printed form (or, for a
  string, the text) of data's :value, its :path or a key of its :path appears
  longer than 120 characters, it is replaced by its `show` form; then any run
  of more than 240 non-blank characters is cut to 120. A message of at most
  240 characters is returned as it is."
  ^String [^String msg data]
  (if (<= (count msg) (long max-token))
    msg
    (let [printed (fn [v] (binding [*print-length* nil *print-level* nil] (pr-str v)))
          path (:path data)
          candidates (concat (when (contains? data :value) [(:value data)])
                             (when (some? path) [path])
                             (when (sequential? path) path))
          msg (reduce (fn [^String m v]
                        (reduce (fn [^String m ^String text]
                                  (if (and (> (count text) (long max-shown)) (str/includes? m text))
                                    (str/replace m text (show v))
                                    m))
                                m (distinct (cond-> [(printed v)] (string? v) (conj v)))))
                      msg candidates)]
      (str/replace msg (re-pattern (str "\\S{" (inc (long max-token)) ",}"))
                   (fn [^String t] (str (subs t 0 (- (long max-shown) 3)) "..."))))))

(defn fail!
  "Throws the ex-info every dlnlab error uses: message msg and data
  {:dlnlab/error kind :path :value :allowed} merged with the rest of data.
  kind is a key of `kinds`; data may be nil. Optional cause is chained. The
  message is shortened (`shorten-message`), so a huge value cannot make a huge
  message; data keeps the value whole."
  ([kind msg data] (fail! kind msg data nil))
  ([kind msg data cause]
   (when-not (contains? kinds kind)
     (throw (IllegalArgumentException. (str "dlnlab.error/fail!: unknown error kind " (pr-str kind)))))
   (let [data (cond-> (assoc data :dlnlab/error kind)
                (contains? data :path) (update :path #(if (sequential? %) (vec %) %)))]
     (let [msg (shorten-message (str msg) data)]
       (throw (if cause (ex-info msg data cause) (ex-info msg data)))))))

(defmacro check!
  "Throws (fail! kind msg data) unless ok is truthy; msg and data are evaluated
  only on failure. Returns nil."
  [ok kind msg data]
  `(when-not ~ok (fail! ~kind ~msg ~data)))

(defn conform!
  "The value x conformed to spec, or an ex-info of kind (default
  :invalid-option) naming path, the value and the spec's explanation."
  ([spec x path] (conform! spec x path :invalid-option))
  ([spec x path kind]
   (let [c (s/conform spec x)]
     (if (s/invalid? c)
       (let [problem (first (::s/problems (s/explain-data spec x)))
             in (into (vec path) (:in problem))
             bad (:val problem x)]
         (fail! kind (str (pr-str in) " must satisfy " (pr-str (s/abbrev (:pred problem)))
                          ", got " (show bad))
                {:path in :value bad :allowed (s/abbrev (:pred problem))}))
       c))))

(defn kind-of
  "The :dlnlab/error kind of a throwable (or of ex-data), nil when it carries none."
  [e]
  (:dlnlab/error (if (map? e) e (ex-data e))))

(defn input-error?
  "True when the throwable (or ex-data) is an error the caller can fix, i.e. any
  dlnlab error kind but :internal. The CLI exits 2 for these."
  [e]
  (let [k (kind-of e)] (boolean (and k (not= k :internal)))))

;; ---------------------------------------------------------------------------
;; Near misses

(defn edit-distance
  "Optimal-string-alignment distance between strings a and b (insertions,
  deletions, substitutions and transpositions of neighbours each cost 1)."
  ^long [^String a ^String b]
  (let [n (.length a) m (.length b)
        w (inc m)
        d (long-array (* (inc n) w))]
    (dotimes [i (inc n)] (aset d (* i w) i))
    (dotimes [j (inc m)] (aset d j j))
    (doseq [i (range 1 (inc n)) j (range 1 (inc m))]
      (let [i (long i) j (long j)
            cost (if (= (.charAt a (dec i)) (.charAt b (dec j))) 0 1)
            best (min (inc (aget d (+ (* (dec i) w) j)))
                      (inc (aget d (+ (* i w) (dec j))))
                      (+ (aget d (+ (* (dec i) w) (dec j))) cost))
            best (if (and (> i 1) (> j 1)
                          (= (.charAt a (dec i)) (.charAt b (- j 2)))
                          (= (.charAt a (- i 2)) (.charAt b (dec j))))
                   (min best (+ (aget d (+ (* (- i 2) w) (- j 2))) cost))
                   best)]
        (aset d (+ (* i w) j) best)))
    (aget d (+ (* n w) m))))

(def synonyms
  "Names people type for dlnlab's keys: {typed canonical}. `did-you-mean` offers
  the canonical name when it is among the candidates."
  {"learning-rate" :lr "learning_rate" :lr "eta" :lr "step-size" :lr
   "batch" :batch-size "batchsize" :batch-size "iterations" :steps "epochs" :steps
   "n-steps" :steps "num-steps" :steps "temp" :temperature "layers" :depth
   "hidden" :width "hidden-size" :width "random-seed" :seed})

(defn did-you-mean
  "The candidate closest to x (a keyword or string) when it is a near miss: a known
  synonym, edit distance at most 1 for names up to 4 characters, at most 2 (or a
  third of the length) for longer ones, or one name a prefix of the other.
  Returns nil otherwise, and for anything but a keyword, symbol or string of
  at most 100 characters (no name is longer; a huge value costs nothing)."
  [x candidates]
  (let [nm (fn [k] (if (keyword? k) (subs (str k) 1) (str k)))
        xs (when (and (or (keyword? x) (symbol? x) (string? x)) (<= (count (nm x)) 100))
             (str/lower-case (nm x)))
        syn (get synonyms xs)]
    (cond
      (nil? xs) nil
      (and syn (some #{syn} candidates)) syn
      :else
      (let [scored (for [c candidates
                         :let [cs (str/lower-case (nm c))
                               limit (max (if (<= (count cs) 4) 1 2) (quot (count cs) 3))
                               ;; the distance is at least the difference of the lengths
                               dist (if (> (Math/abs (- (count xs) (count cs))) limit) Long/MAX_VALUE (edit-distance xs cs))
                               prefix? (and (>= (min (count xs) (count cs)) 3)
                                            (or (str/starts-with? cs xs) (str/starts-with? xs cs)))]
                         :when (or (<= dist limit) prefix?)]
                     [dist c])]
        (when (seq scored) (second (first (sort-by first scored))))))))
