(ns dlnlab.io
  "Reading experiments and writing results: EDN read with clojure.edn only, EDN
  and CSV written through a Writer (no string built per number), files written
  atomically (temp file in the same directory, then an atomic move).

  - `read-edn-file`: one EDN value from a file, with errors a person can act on.
  - `write-edn`, `edn-str`: pretty but compact EDN that clojure.edn reads back
    to an equal value (##NaN, ##Inf and ##-Inf included).
  - `trajectory-columns`, `write-trajectory-csv`: a columnar trajectory as CSV,
    vector-valued metrics flattened into one column per entry.
  - `write-csv`: a plain table as CSV.
  - `write-atomically!`, `check-writable-dir!`: safe output."
  (:require [clojure.edn :as edn]
            [clojure.java.io :as io]
            [clojure.string :as str])
  (:import [java.io BufferedWriter File OutputStreamWriter PushbackReader StringWriter Writer]
           [java.nio.charset StandardCharsets]
           [java.nio.file AtomicMoveNotSupportedException Files StandardCopyOption]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------- reading

(defn read-edn-file
  "Reads one EDN value from path with clojure.edn. Throws ex-info naming the file
  and the problem when it is missing, unreadable, empty, truncated or holds more
  than one form."
  [path]
  (let [f (io/file path)]
    (when-not (.exists f)
      (throw (ex-info (str "File not found: " path) {:path path :problem :not-found})))
    (when (.isDirectory f)
      (throw (ex-info (str path " is a directory; expected an EDN file.") {:path path :problem :directory})))
    (when-not (.canRead f)
      (throw (ex-info (str "File is not readable: " path) {:path path :problem :unreadable})))
    (with-open [r (PushbackReader. (io/reader f))]
      (let [eof (Object.)
            v (try (edn/read {:eof eof} r)
                   (catch Exception e
                     (throw (ex-info (str "Cannot read " path " as EDN: " (.getMessage e)
                                          " (is the file truncated or missing a closing bracket?)")
                                     {:path path :problem :malformed} e))))]
        (when (identical? v eof)
          (throw (ex-info (str "File " path " is empty; expected one EDN map.") {:path path :problem :empty})))
        (let [more (try (edn/read {:eof eof} r) (catch Exception _ ::junk))]
          (when-not (identical? more eof)
            (throw (ex-info (str "File " path " holds more than one EDN form; expected exactly one map.")
                            {:path path :problem :trailing-forms}))))
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
    :else (throw (ex-info (str "Cannot write a " (.getName (class x)) " as EDN; results must be plain data "
                               "(numbers, strings, keywords, vectors, maps).")
                          {:path [] :value (str x) :allowed "plain data"}))))

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

(defn- csv-quote ^String [^String s]
  (if (some #(str/includes? s %) ["," "\"" "\n" "\r"])
    (str "\"" (str/replace s "\"" "\"\"") "\"")
    s))

(defn csv-cell
  "The CSV text of one cell: nil empty, doubles via Double/toString with NaN, Inf
  and -Inf, keywords by name, strings quoted when they hold a comma, quote or
  line break, anything else printed."
  ^String [x]
  (cond
    (nil? x) ""
    (instance? Double x) (csv-double (.doubleValue ^Double x))
    (instance? Long x) (Long/toString (.longValue ^Long x))
    (instance? Float x) (csv-double (.doubleValue ^Float x))
    (keyword? x) (csv-quote (if (namespace x) (str (namespace x) "/" (name x)) (name x)))
    (string? x) (csv-quote x)
    :else (csv-quote (pr-str x))))

(defn write-csv
  "Writes a table to the Writer w: the header (a sequence of column names) then
  each row (a sequence of cells, see `csv-cell`), lines ending in \\n."
  [^Writer w header rows]
  (.write w (str/join "," (map csv-cell header)))
  (.write w "\n")
  (doseq [row rows]
    (loop [s (seq row) first? true]
      (when s
        (when-not first? (.write w ","))
        (.write w (csv-cell (first s)))
        (recur (next s) false)))
    (.write w "\n"))
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
         ncols (count cols)]
     (.write w (str/join "," (map :name cols)))
     (.write w "\n")
     (dotimes [r n]
       (dotimes [c ncols]
         (when (pos? c) (.write w ","))
         (let [^clojure.lang.IPersistentVector col (nth colv c)
               v (when (< r (count col)) (nth col r))]
           (.write w (csv-cell (cell-at v (nth paths c))))))
       (.write w "\n"))
     nil)))

;; ---------------------------------------------------------------- files

(defn- nearest-existing ^File [^File f]
  (loop [f (.getAbsoluteFile f)]
    (cond (nil? f) nil
          (.exists f) f
          :else (recur (.getParentFile f)))))

(defn check-writable-dir!
  "Checks, without leaving anything behind, that dir is or can be created as a
  writable directory: the nearest existing ancestor must be a directory in
  which a file can be created (probed with a temporary file, deleted at once).
  Returns dir. Throws ex-info {:path dir :problem :unwritable} naming the
  reason."
  [dir]
  (let [f (io/file dir)
        existing (nearest-existing f)
        fail (fn [why] (throw (ex-info (str "Cannot write results to " dir ": " why)
                                       {:path (str dir) :problem :unwritable :value (str dir)
                                        :allowed "a writable directory (or a path where one can be created)"})))]
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

(defn write-atomically!
  "Writes content to path: a string, a byte array (e.g. an image), or a function
  called with a buffered UTF-8 java.io.Writer that writes the content. Writes into a temporary file beside
  path, then renames it atomically, so readers never see a half-written file
  (on failure the temporary file is removed and path is untouched). Creates
  parent directories. Returns path. Throws ex-info {:path :problem :unwritable}
  naming the path when it cannot be written."
  [path content]
  (let [target (.getAbsoluteFile (io/file path))
        dir (.getParentFile target)]
    (try
      (when dir (.mkdirs dir))
      (let [tmp (File/createTempFile (str "." (.getName target) ".") ".tmp" dir)]
        (try
          (if (bytes? content)
            (Files/write (.toPath tmp) ^bytes content ^"[Ljava.nio.file.OpenOption;" (make-array java.nio.file.OpenOption 0))
            (with-open [w (BufferedWriter. (OutputStreamWriter. (java.io.FileOutputStream. tmp) StandardCharsets/UTF_8)
                                           (* 1 1024 1024))]
              (if (string? content) (.write w ^String content) (content w))))
          (try
            (Files/move (.toPath tmp) (.toPath target)
                        (into-array StandardCopyOption [StandardCopyOption/ATOMIC_MOVE
                                                        StandardCopyOption/REPLACE_EXISTING]))
            (catch AtomicMoveNotSupportedException _
              (Files/move (.toPath tmp) (.toPath target)
                          (into-array StandardCopyOption [StandardCopyOption/REPLACE_EXISTING]))))
          (finally (.delete tmp))))
      (catch java.io.IOException e
        (throw (ex-info (str "Cannot write " path ": " (.getMessage e)
                             " (check that the directory exists and is writable)")
                        {:path (str path) :problem :unwritable} e))))
    path))

(defn write-edn-file!
  "Writes x to path as `write-edn` EDN, atomically (see `write-atomically!`)."
  [path x]
  (write-atomically! path (fn [^Writer w] (write-edn w x))))
