(ns dlnlab.io
  "Reading experiments and writing results: EDN read with clojure.edn only, EDN
  and CSV (clojure.data.csv) written through a Writer, files written atomically
  (temp file in the same directory, synced, then an atomic move; the one
  atomic writer of dlnlab). Errors are dlnlab.error ex-infos (:unreadable-file,
  :unwritable, :invalid-argument).

  - `read-edn-file`, `read-edn-string`: one EDN value from a file or a string,
    with errors a person can act on (nesting limited by `*max-edn-depth*`).
  - `write-edn`, `edn-str`: pretty but compact EDN that clojure.edn reads back
    to an equal value (##NaN, ##Inf and ##-Inf included).
  - `trajectory-columns`, `write-trajectory-csv`: a columnar trajectory as CSV,
    vector-valued metrics flattened into one column per entry
    (`write-trajectory-row`: one row of it).
  - `write-csv`: a plain table as CSV.
  - `write-atomically!` (text), `write-stream-atomically!` (bytes),
    `move-atomically!`, `fsync!`, `check-writable-dir!`, `check-path!`: safe
    output; `temp-file?` recognizes what a killed writer left."
  (:require [clojure.data.csv :as csv]
            [clojure.edn :as edn]
            [clojure.java.io :as io]
            [clojure.string :as str]
            [dlnlab.error :as error])
  (:import [java.io BufferedWriter File FileOutputStream OutputStreamWriter PushbackReader StringWriter Writer]
           [java.nio.channels FileChannel]
           [java.nio.charset StandardCharsets]
           [java.nio.file AtomicMoveNotSupportedException Files OpenOption StandardCopyOption StandardOpenOption]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------- reading

(defn- unreadable! [msg path problem & [cause]]
  (error/fail! :unreadable-file msg
               {:path [:file] :value (str path) :problem problem :allowed "a readable file holding one EDN value"}
               cause))

(def ^:dynamic *max-edn-depth*
  "The deepest nesting of collections the EDN readers of dlnlab accept (200):
  clojure.edn reads nested collections by recursion, so much deeper input would
  end in a StackOverflowError. Experiments and results nest fewer than 10 deep."
  200)

(defn edn-depth
  "{:depth d :line l} when the EDN text on the Reader r nests collections deeper
  than limit (d = limit + 1, l the 1-based line of the bracket that goes too
  deep), else nil. Brackets inside strings, comments and character literals
  (\\( ...) do not count. Reads r to its end, or to that bracket."
  [^java.io.Reader r ^long limit]
  (let [r (if (instance? java.io.BufferedReader r) r (java.io.BufferedReader. r))]
    ;; state 0 code, 1 string, 2 comment
    (loop [depth 0 line 1 state 0]
      (let [c (.read ^java.io.BufferedReader r)]
        (cond
          (neg? c) nil
          (== c 10) (recur depth (inc line) (if (== state 2) 0 state))
          (== state 2) (recur depth line 2)
          (== state 1) (cond (== c 92) (let [d (.read ^java.io.BufferedReader r)]
                                         (recur depth (if (== d 10) (inc line) line) 1))
                             (== c 34) (recur depth line 0)
                             :else (recur depth line 1))
          (== c 34) (recur depth line 1)
          (== c 59) (recur depth line 2)
          (== c 92) (let [d (.read ^java.io.BufferedReader r)]
                      (recur depth (if (== d 10) (inc line) line) 0))
          (or (== c 40) (== c 91) (== c 123))
          (if (>= depth limit) {:depth (inc depth) :line line} (recur (inc depth) line 0))
          (or (== c 41) (== c 93) (== c 125)) (recur (max 0 (dec depth)) line 0)
          :else (recur depth line 0))))))

(defn- too-deep! [what {:keys [line]} path]
  (error/fail! :unreadable-file
               (str what " nests collections more than " *max-edn-depth* " deep (at line " line
                    "); an experiment needs far fewer levels. Is a closing bracket missing, or was the file generated wrongly?")
               {:path [:file] :value (str path) :problem :too-deep :line line
                :allowed (str "EDN nested at most " *max-edn-depth* " deep")}))

(defn read-edn-string
  "The single EDN value in the string s, read with clojure.edn. what names s in
  messages (\"--set optimizer.lr\"). Throws ex-info of kind :unreadable-file
  (:problem :too-deep) when s nests deeper than `*max-edn-depth*`; clojure.edn's
  own exception when s is not EDN; ex-info of kind :unreadable-file (:problem
  :empty or :trailing-forms) when s holds no value or more than one."
  [^String s what]
  (when-let [deep (edn-depth (java.io.StringReader. s) *max-edn-depth*)] (too-deep! what deep what))
  (let [r (PushbackReader. (java.io.StringReader. s))
        eof (Object.)
        v (edn/read {:eof eof} r)]
    (when (identical? v eof) (unreadable! (str what " is empty") what :empty))
    (when-not (identical? eof (edn/read {:eof eof} r))
      (unreadable! (str what " holds more than one EDN form") what :trailing-forms))
    v))

(defn read-edn-file
  "Reads one EDN value from path with clojure.edn. Throws ex-info of kind
  :unreadable-file naming the file and the problem (:problem :not-found,
  :directory, :unreadable, :malformed, :empty, :trailing-forms or :too-deep)
  when it is missing, unreadable, empty, truncated, holds more than one form
  or nests deeper than `*max-edn-depth*`."
  [path]
  (let [f (io/file path)]
    (when-not (.exists f) (unreadable! (str "File not found: " path) path :not-found))
    (when (.isDirectory f) (unreadable! (str path " is a directory; expected an EDN file.") path :directory))
    (when-not (.canRead f) (unreadable! (str "File is not readable: " path) path :unreadable))
    (when-let [deep (with-open [r (io/reader f)] (edn-depth r *max-edn-depth*))]
      (too-deep! (str "The file " path) deep path))
    (with-open [r (PushbackReader. (io/reader f))]
      (let [eof (Object.)
            v (try (edn/read {:eof eof} r)
                   (catch Exception e
                     (unreadable! (str "Cannot read " path " as EDN: " (.getMessage e)
                                       " (is the file truncated or missing a closing bracket?)")
                                  path :malformed e)))]
        (when (identical? v eof)
          (unreadable! (str "File " path " is empty; expected one EDN map.") path :empty))
        (let [more (try (edn/read {:eof eof} r) (catch Exception _ ::junk))]
          (when-not (identical? more eof)
            (unreadable! (str "File " path " holds more than one EDN form; expected exactly one map.")
                         path :trailing-forms)))
        v))))

;; ---------------------------------------------------------------- EDN writing

(def ^:private ^:const edn-width 100)

(defn- double-str ^String [^double d]
  (cond (Double/isNaN d) "##NaN"
        (== d Double/POSITIVE_INFINITY) "##Inf"
        (== d Double/NEGATIVE_INFINITY) "##-Inf"
        :else (Double/toString d)))

(defn- scalar? [x] (not (coll? x)))

(defn- scalar-str
  "x printed as EDN; throws ex-info for a value EDN cannot hold."
  ^String [x]
  (cond
    (nil? x) "nil"
    (instance? Double x) (double-str (.doubleValue ^Double x))
    (instance? Long x) (Long/toString (.longValue ^Long x))
    (keyword? x) (str x)
    (instance? Float x) (double-str (.doubleValue ^Float x))
    (or (string? x) (number? x) (boolean? x) (symbol? x) (char? x) (uuid? x) (inst? x))
    (binding [*print-length* nil *print-level* nil *print-readably* true] (pr-str x))
    :else (error/fail! :invalid-argument
                       (str "Cannot write a " (.getName (class x)) " as EDN; results must be plain data "
                            "(numbers, strings, keywords, vectors, maps).")
                       {:path [] :value (str x) :allowed "plain data"})))

(defn- open-str ^String [x] (cond (map? x) "{" (vector? x) "[" (set? x) "#{" :else "("))
(defn- close-str ^String [x] (cond (map? x) "}" (vector? x) "]" (set? x) "}" :else ")"))

(defn- flat-len
  "Length of x printed on one line; stops counting (returning a value > budget)
  once it exceeds budget."
  ^long [x ^long budget]
  (if (scalar? x)
    (long (.length (scalar-str x)))
    (let [items (if (map? x) (mapcat identity x) x)]
      (loop [s (seq items) n (+ (.length (open-str x)) 1) first? true]
        (cond (> n budget) n
              (nil? s) n
              :else (recur (next s) (+ n (if first? 0 1) (flat-len (first s) (- budget n))) false))))))

(deftype ^:private Out [^Writer w ^:unsynchronized-mutable ^long col]
  clojure.lang.IDeref
  (deref [_] col)
  clojure.lang.IFn
  (invoke [this s]
    (let [^String s s]
      (.write w s)
      (set! col (+ col (.length s)))
      this))
  (invoke [this _ n]
    ;; newline, then n spaces
    (.write w "\n")
    (dotimes [_ n] (.write w " "))
    (set! col (long n))
    this))

(defn- column ^long [^Out out] (long @out))

(defn- emit-flat [^Out out x]
  (if (scalar? x)
    (out (scalar-str x))
    (let [items (if (map? x) (mapcat identity x) x)]
      (out (open-str x))
      (loop [s (seq items) first? true]
        (when s
          (when-not first? (out " "))
          (emit-flat out (first s))
          (recur (next s) false)))
      (out (close-str x)))))

(defn- emit-flow
  "A collection of scalars, wrapped at the width, continuation lines aligned
  after the opening bracket."
  [^Out out x]
  (out (open-str x))
  (let [inner (column out)]
    (loop [s (seq x) first? true]
      (when s
        (let [t (scalar-str (first s))]
          (when-not first?
            (if (> (+ (column out) 1 (.length t)) edn-width)
              (out nil inner)
              (out " ")))
          (out t))
        (recur (next s) false))))
  (out (close-str x)))

(defn- scalars? [x] (and (not (map? x)) (every? scalar? x)))

(defn- emit [^Out out x]
  (let [room (- edn-width (column out))]
    (cond
      (scalar? x) (out (scalar-str x))
      (scalars? x) (emit-flow out x)
      (<= (flat-len x room) room) (emit-flat out x)
      (map? x)
      (do (out "{")
          (let [inner (column out)]
            (loop [s (seq x) first? true]
              (when s
                (let [[k v] (first s)]
                  (when-not first? (out nil inner))
                  (emit-flat out k)
                  (let [room (- edn-width (column out) 1)]
                    (cond
                      (scalar? v) (do (out " ") (out (scalar-str v)))
                      (scalars? v) (do (out " ") (emit-flow out v))
                      (<= (flat-len v room) room) (do (out " ") (emit-flat out v))
                      :else (do (out nil inner) (emit out v)))))
                (recur (next s) false))))
          (out "}"))
      :else
      (do (out (open-str x))
          (let [inner (column out)]
            (loop [s (seq x) first? true]
              (when s
                (when-not first? (out nil inner))
                (emit out (first s))
                (recur (next s) false))))
          (out (close-str x))))))

(defn write-edn
  "Writes x to the Writer w as pretty but compact EDN: a collection that fits in
  100 columns on one line, else maps one entry per line, collections of scalars
  wrapped, other collections one element per line. Doubles are written with
  Double/toString (exact round trip) and NaN/infinities as ##NaN, ##Inf, ##-Inf,
  so clojure.edn reads back an equal value (sets and maps keep their entries,
  lists come back as lists). Ends with a newline.
  Throws ex-info for a value EDN cannot hold (arrays, functions, objects)."
  [^Writer w x]
  (let [out (Out. w 0)]
    (emit out x)
    (.write w "\n")
    nil))

(defn edn-str
  "x as the text `write-edn` writes (ending with a newline)."
  ^String [x]
  (let [sw (StringWriter.)]
    (write-edn sw x)
    (.toString sw)))

;; ---------------------------------------------------------------- CSV writing

(defn- csv-double ^String [^double d]
  (cond (Double/isNaN d) "NaN"
        (== d Double/POSITIVE_INFINITY) "Inf"
        (== d Double/NEGATIVE_INFINITY) "-Inf"
        :else (Double/toString d)))

(defn- needs-quotes?
  "True when a CSV cell must be quoted: it holds a comma, quote or line break
  (the rule of clojure.data.csv, checked without a set lookup per character)."
  [^String s]
  (or (str/includes? s ",") (str/includes? s "\"") (str/includes? s "\n") (str/includes? s "\r")))

(defn- cell-text
  "The unquoted text of one CSV cell (see `csv-cell`)."
  ^String [x]
  (cond
    (nil? x) ""
    (instance? Double x) (csv-double (.doubleValue ^Double x))
    (instance? Long x) (Long/toString (.longValue ^Long x))
    (instance? Float x) (csv-double (.doubleValue ^Float x))
    (keyword? x) (if (namespace x) (str (namespace x) "/" (name x)) (name x))
    (string? x) x
    :else (pr-str x)))

(defn csv-cell
  "The CSV text of one cell: nil empty, doubles via Double/toString with NaN, Inf
  and -Inf, keywords by name, strings quoted when they hold a comma, quote or
  line break, anything else printed."
  ^String [x]
  (let [s (cell-text x)]
    (if (needs-quotes? s) (str "\"" (str/replace s "\"" "\"\"") "\"") s)))

(defn write-csv
  "Writes a table to the Writer w with clojure.data.csv: the header (a sequence
  of column names) then each row (a sequence of cells, see `csv-cell`), lines
  ending in \\n."
  [^Writer w header rows]
  (csv/write-csv w (cons (map cell-text header) (map #(map cell-text %) rows)) :quote? needs-quotes?)
  nil)

(defn write-csv-rows
  "Writes rows (sequences of cells, see `csv-cell`) to the Writer w as
  `write-csv` does, without a header: for tables written in parts."
  [^Writer w rows]
  (csv/write-csv w (map #(map cell-text %) rows) :quote? needs-quotes?)
  nil)

(def ^:private level-labels
  "Letters naming the index at each nesting level of a vector-valued metric's
  CSV columns (pathway_shares_m1_p2 is mode 1, pathway 2); metrics not listed
  get bare indices (modes_3)."
  {:pathway-shares ["m" "p"]
   :balance-gap ["p" "l"]
   :layer-singular-values ["p" "l" "s"]
   :weight-norms ["p" "l"]})

(defn- merge-dims [a b]
  (cond (= a b) a
        (empty? a) b
        (empty? b) a
        :else (mapv (fn [i] (max (long (nth a i 0)) (long (nth b i 0)))) (range (max (count a) (count b))))))

(defn- dims
  "The rectangular shape of a value: [] for a scalar or nil, else [n ...] with the
  longest length at each level."
  [x]
  (cond
    (not (sequential? x)) []
    (every? #(not (sequential? %)) x) [(count x)]
    :else (into [(count x)] (reduce (fn [acc v] (merge-dims acc (dims v))) [] x))))

(defn- index-paths [shape]
  (reduce (fn [paths ^long n] (vec (for [p paths i (range n)] (conj p i)))) [[]] shape))

(defn- column-name [metric path]
  (let [base (str/replace (name metric) "-" "_")
        labels (get level-labels metric)]
    (apply str base (map-indexed (fn [level i] (str "_" (nth labels level "") (inc (long i)))) path))))

(defn trajectory-columns
  "The CSV columns of a columnar trajectory: :step and :time first (when
  present), then each metric in the order of `metrics` (default: the
  trajectory's other keys, sorted). A scalar metric is one column; a
  vector-valued one is flattened into a column per entry of its longest shape
  over all rows (modes_1 modes_2 ..., pathway_shares_m1_p1 ..., balance_gap_p1_l1
  ..., layer_singular_values_p1_l2_s3 ...; indices 1-based). Returns
  [{:name \"modes_1\" :metric :modes :path [0]} ...]."
  ([trajectory] (trajectory-columns trajectory nil))
  ([trajectory metrics]
   (let [fixed (filter #(contains? trajectory %) [:step :time])
         metrics (or (seq (remove #{:step :time} metrics))
                     (sort (remove #{:step :time} (keys trajectory))))]
     (vec (concat
           (for [k fixed] {:name (name k) :metric k :path []})
           (for [m metrics
                 :let [shape (reduce (fn [acc v] (if (sequential? v) (merge-dims acc (dims v)) acc))
                                     [] (get trajectory m))]
                 p (index-paths shape)]
             {:name (column-name m p) :metric m :path p}))))))

(defn- cell-at
  "The scalar at index path inside v, or nil where v is shorter or not nested."
  [v ^objects path]
  (let [n (alength path)]
    (loop [v v i 0]
      (cond (== i n) (when-not (sequential? v) v)
            (and (sequential? v) (< (long (aget path i)) (count v))) (recur (nth v (aget path i)) (inc i))
            :else nil))))

(defn write-trajectory-csv
  "Writes a columnar trajectory {:step [...] :time [...] metric [...]} as CSV to
  the Writer w: one header row of the `trajectory-columns` names, then one row
  per recorded row; nil (a metric not due at that row) as an empty cell.
  Options as `trajectory-columns` (metrics: the column order)."
  ([^Writer w trajectory] (write-trajectory-csv w trajectory nil))
  ([^Writer w trajectory metrics]
   (let [cols (trajectory-columns trajectory metrics)
         colv (mapv #(vec (get trajectory (:metric %))) cols)
         paths (mapv #(object-array (:path %)) cols)
         n (long (reduce max 0 (map count colv)))
         row (fn [^long r]
               (map (fn [^clojure.lang.IPersistentVector col path]
                      (cell-text (cell-at (when (< r (count col)) (nth col r)) path)))
                    colv paths))]
     (csv/write-csv w (cons (map :name cols) (map row (range n))) :quote? needs-quotes?)
     nil)))

(defn write-trajectory-row
  "Writes one recorded row (a map of metric values with :step and :time) to the
  Writer w as a CSV line in the columns cols (from `trajectory-columns`), as
  `write-trajectory-csv` writes it: for trajectories written as they are
  recorded."
  [^Writer w cols row]
  (csv/write-csv w [(map (fn [{:keys [metric path]}] (cell-text (cell-at (get row metric) (object-array path)))) cols)]
                 :quote? needs-quotes?)
  nil)

;; ---------------------------------------------------------------- files

(defn- nearest-existing ^File [^File f]
  (loop [f (.getAbsoluteFile f)]
    (cond (nil? f) nil
          (.exists f) f
          :else (recur (.getParentFile f)))))

(defn check-path!
  "Refuses an empty or blank output path (which java.io would take for the
  filesystem root or the current directory): throws ex-info of kind
  :unwritable naming what (e.g. \"--out\"). Returns path."
  [path what]
  (when (str/blank? (str path))
    (error/fail! :unwritable (str what " must name a directory, got " (pr-str (str path)) " (an empty path).")
                 {:path [:out] :value (str path) :allowed "a non-empty path"}))
  path)

(defn check-writable-dir!
  "Checks, without leaving anything behind, that dir is or can be created as a
  writable directory: dir must not be blank, and the nearest existing ancestor
  must be a directory in which a file can be created (probed with a temporary
  file, deleted at once). Returns dir. Throws ex-info of kind :unwritable
  (:problem :unwritable) naming the reason."
  [dir]
  (check-path! dir "The output directory")
  (let [f (io/file dir)
        existing (nearest-existing f)
        fail (fn [why] (error/fail! :unwritable (str "Cannot write results to " dir ": " why)
                                    {:path [:out] :problem :unwritable :value (str dir)
                                     :allowed "a writable directory (or a path where one can be created)"}))]
    (cond
      (nil? existing) (fail "no part of the path exists.")
      (not (.isDirectory existing))
      (fail (str (.getPath existing) " is a file, not a directory."))
      :else
      (let [probe (try (File/createTempFile ".dlnlab-probe" ".tmp" existing)
                       (catch java.io.IOException e
                         (fail (str "the directory " (.getPath existing) " is not writable ("
                                    (.getMessage e) ")."))))]
        (.delete ^File probe)))
    dir))

(defn fsync!
  "Forces the file or directory f (its data and, for a directory, its entries)
  to the storage device. Directories that cannot be opened for syncing (some
  filesystems) are skipped. Returns f."
  [f]
  (let [^File f (io/file f)]
    (try
      (with-open [ch (FileChannel/open (.toPath f) (into-array OpenOption [(if (.isDirectory f)
                                                                               StandardOpenOption/READ
                                                                               StandardOpenOption/WRITE)]))]
        (.force ch true))
      (catch java.io.IOException e
        (when-not (.isDirectory f) (throw e))))
    f))

(defn move-atomically!
  "Renames from to to atomically (replacing a file at to), falling back to a
  plain move where the filesystem cannot do it atomically, then syncs the
  parent directory of to. Returns to."
  [from to]
  (let [src (.toPath (io/file from)) dst (.toPath (io/file to))]
    (try
      (Files/move src dst (into-array StandardCopyOption [StandardCopyOption/ATOMIC_MOVE
                                                          StandardCopyOption/REPLACE_EXISTING]))
      (catch AtomicMoveNotSupportedException _
        (Files/move src dst (into-array StandardCopyOption [StandardCopyOption/REPLACE_EXISTING]))))
    (when-let [parent (.getParentFile (.getAbsoluteFile (io/file to)))] (fsync! parent))
    to))

(defn temp-file?
  "True for the name of a temporary file `write-atomically!` makes (.NAME.<n>.tmp),
  which a killed process may leave behind."
  [^String nm]
  (boolean (re-matches #"\..+\.[0-9]+\.tmp" nm)))

(defn write-stream-atomically!
  "Writes path by calling (write! output-stream) on a temporary file in path's
  directory (created when missing), syncing it to disk, then renaming it over
  path, so readers never see half a file and a power loss cannot leave a
  renamed empty file. On failure the temporary file is removed and path is
  untouched. Returns path. Throws ex-info of kind :unwritable (:problem
  :unwritable) naming the path when it cannot be written."
  [path write!]
  (let [target (.getAbsoluteFile (io/file path))
        dir (.getParentFile target)]
    (try
      (when dir (.mkdirs dir))
      (let [tmp (File/createTempFile (str "." (.getName target) ".") ".tmp" dir)]
        (try
          (with-open [out (FileOutputStream. tmp)]
            (write! out)
            (.flush out)
            (.sync (.getFD out)))
          (move-atomically! tmp target)
          (finally (.delete tmp))))
      (catch java.io.IOException e
        (error/fail! :unwritable (str "Cannot write " path ": " (.getMessage e)
                                      " (check that the directory exists and is writable, and that the disk has room)")
                     {:path [:out] :value (str path) :problem :unwritable :allowed "a writable path"} e)))
    path))

(defn write-atomically!
  "Writes content to path atomically (see `write-stream-atomically!`): a
  string, a byte array (e.g. an image), or a function called with a buffered
  UTF-8 java.io.Writer that writes the content. Returns path."
  [path content]
  (write-stream-atomically!
   path
   (fn [^java.io.OutputStream out]
     (if (bytes? content)
       (.write out ^bytes content)
       (let [w (BufferedWriter. (OutputStreamWriter. out StandardCharsets/UTF_8) (* 1 1024 1024))]
         (if (string? content) (.write w ^String content) (content w))
         (.flush w))))))

(defn write-edn-file!
  "Writes x to path as `write-edn` EDN, atomically (see `write-atomically!`)."
  [path x]
  (write-atomically! path (fn [^Writer w] (write-edn w x))))
