(ns dlnlab.task
  "Builds a task: the target matrix or the samples (inline, CSV or teacher-student),
  the Java Objective(s) of its loss (doc/science.md §2) and plain-data facts about it
  (:dims, :target, :target-svd).

  Randomness: every random number of a task comes from Rng at the seed
  (Rng/derive seed task-purpose) and a fixed stream per use (see `streams`), so the
  same experiment seed gives the same data bit for bit, and e.g. the test set does
  not change when :samples does."
  (:require [dlnlab.error :as error]
            [clojure.java.io :as io]
            [clojure.spec.alpha :as s]
            [clojure.string :as str]
            [dlnlab.kind :as kind]
            [dlnlab.linalg :as linalg]
            [dlnlab.spec :as spec])
  (:import [dlnlab.kernel Blas Normal Objective Rng]
           [java.io BufferedReader File]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def ^:const task-purpose
  "Rng/derive purpose of the task's seed: (Rng/derive seed task-purpose)."
  1)

(def streams
  "Rng streams under the task seed."
  {:train-x 0 :train-noise 1 :test-x 2 :test-noise 3 :teacher 4 :basis-u 5 :basis-v 6 :split 7})

(defn- fill-normals!
  "Fills out[0 .. n) with standard normals of stream under task seed ts, entry
  k scaled by scales[k mod (count scales)] (rows of samples, a scale per
  column). normals picks the generator (the teacher-student key :normals):
  :ziggurat, Normal at the key (ts, stream, 0) and counter k (about 2 ns a
  draw); :box-muller, Rng/gaussian at (ts, stream, k) (about 18 ns), the data
  dlnlab drew before the ziggurat (CHANGELOG, session 7)."
  [normals ts stream ^doubles scales ^doubles out n]
  (let [ts (long ts) stream (long stream) n (int n)]
    (case normals
      :ziggurat (Normal/fillColumns (Normal/key ts stream 0) 0 scales out 0 n)
      :box-muller (Rng/fillGaussianColumns ts stream 0 scales out 0 n))))

;; ---------------------------------------------------------------------------
;; CSV

(def ^:private number-re #"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")

(defn- csv-fields [^String line]
  (mapv (fn [^String f]
          (let [f (str/trim f)]
            (if (and (>= (count f) 2) (str/starts-with? f "\"") (str/ends-with? f "\""))
              (str/trim (subs f 1 (dec (count f))))
              f)))
        (str/split line #"," -1)))

(defn- parse-number [^String f] (when (re-matches number-re f) (Double/parseDouble f)))

(defn read-csv
  "Reads a CSV file of numbers: comma-separated fields (optionally in double quotes,
  surrounding spaces ignored), blank lines skipped, and an optional header row
  (the first non-blank line, when none of its fields is a number).
  path is the key path used in error messages (default [:file]).
  Returns {:header [names] or nil, :rows [[double ...] ...]}.
  Throws ex-info naming the file, the line (1-based) and what is wrong: a missing
  file, a field that is not a finite number, a row with a different number of fields
  than the first row (e.g. a truncated file), or no data rows."
  ([file] (read-csv file [:file]))
  ([file path]
   (let [f (io/file file)
         fail (fn [line msg allowed]
                (error/fail! :invalid-experiment
                             (str "Cannot read " (pr-str (vec path)) " " (pr-str (str file))
                                  (when line (str ", line " line)) ": " msg)
                             {:path path :value file :allowed allowed :file (str file) :line line}))]
     (when-not (.isFile ^File f)
       (fail nil (str "no such file" (when (.isDirectory ^File f) " (it is a directory)")
                      " (relative paths are resolved against " (System/getProperty "user.dir") ").")
             "an existing CSV file"))
     (with-open [^BufferedReader r (io/reader f)]
       (loop [lines (line-seq r) lineno 1 header nil width nil first-line nil rows (transient [])]
         (if-let [line (when-let [l (first lines)]
                         (if (= lineno 1) (str/replace-first l "\uFEFF" "") l))]
           (if (str/blank? line)
             (recur (rest lines) (inc lineno) header width first-line rows)
             (let [fields (csv-fields line)
                   nums (mapv parse-number fields)]
               (cond
                 (and (nil? width) (every? nil? nums))
                 (recur (rest lines) (inc lineno) fields (count fields) lineno rows)

                 :else
                 (do
                   (when (and width (not= (long width) (count fields)))
                     (fail lineno (str "this row has " (count fields) " fields but "
                                       (if header "the header" "the first row") " (line " first-line ") has " width
                                       "; every row needs the same number of fields"
                                       (when (< (count fields) (long width)) " (is the file truncated?)") ".")
                           (str width " comma-separated numbers per row")))
                   (doseq [[c fld v] (map vector (range) fields nums)]
                     (when (nil? v)
                       (fail lineno (str "field " (inc (long c)) " "
                                         (if (str/blank? fld) "is empty" (str (error/show fld 40) " is not a number"))
                                         "; every field after the header must be a finite number"
                                         (when-not (or header width)
                                           " (a header row, when present, must contain no numbers)")
                                         ".")
                             "finite numbers")))
                   (doseq [[c v] (map vector (range) nums)]
                     (when (Double/isInfinite (double v))
                       (fail lineno (str "field " (inc (long c)) " " (error/show (nth fields c) 40) " overflows to infinity.")
                             "finite numbers")))
                   (recur (rest lines) (inc lineno) header (or width (count fields)) (or first-line lineno)
                          (conj! rows nums))))))
           (let [rows (persistent! rows)]
             (when (empty? rows)
               (fail nil (str "no data rows" (when header " (only a header)") ".") "at least one row of numbers"))
             {:header header :rows rows})))))))

;; ---------------------------------------------------------------------------
;; Task building

(defn- orthonormal-or-identity
  "rows x r column-major: random orthonormal columns (basis :random) or the first
  r columns of the identity."
  ^doubles [basis seed stream rows r]
  (if (= basis :random)
    (linalg/random-orthonormal seed stream rows r)
    (let [a (double-array (* (long rows) (long r)))]
      (dotimes [i r] (aset a (+ i (* i (long rows))) 1.0))
      a)))

(defn- spectral-matrix
  "dout x din column-major M = U diag(s) V^T with U, V from basis (:identity or
  :random with streams basis-u / basis-v under seed)."
  ^doubles [s dout din basis seed]
  (let [r (count s)
        dout (long dout) din (long din)
        u (orthonormal-or-identity basis seed (:basis-u streams) dout r)
        v (orthonormal-or-identity basis seed (:basis-v streams) din r)
        us (double-array (* dout r))]
    (dotimes [k r]
      (let [sk (double (nth s k))]
        (dotimes [i dout] (aset us (+ i (* k dout)) (* sk (aget u (+ i (* k dout))))))))
    (let [m (double-array (* dout din))]
      (Blas/gemmJava false true dout din r 1.0 us 0 dout v 0 din 0.0 m 0 dout)
      m)))

(defn- svd-facts [^long rows ^long cols ^doubles m]
  (let [{:keys [^doubles s u v]} (linalg/svd-array rows cols m)
        k (min rows cols)]
    {:singular-values (vec s) :u (linalg/array->matrix rows k u) :v (linalg/array->matrix cols k v)}))

(defn- samples-part
  "The sample-based parts of a task from training samples x (n x din rows as array)
  and y, plus an optional test set."
  [n din dout x y nt tx ty]
  (let [n (long n) din (long din) dout (long dout) nt (long nt)
        obj (Objective/samples n din dout ^doubles x ^doubles y)]
    {:objective obj
     :test-objective (when (pos? nt) (Objective/samples nt din dout ^doubles tx ^doubles ty))
     :least-squares {:matrix (linalg/array->matrix dout din (.fstar obj)) :loss (.lstar obj)}
     :x x :y y :n n
     :test-x (when (pos? nt) tx) :test-y (when (pos? nt) ty) :test-n nt}))

(defmulti build-kind
  "Builds a normalized task of one :kind with task seed ts (see `build-task`)."
  (fn [task _ts] (:kind task)))

(defmethod build-kind :matrix-factorization [task ts]
  (let [[dout din m] (if-let [mm (:matrix task)]
                       [(count mm) (count (first mm)) (linalg/matrix->array mm)]
                       (let [[r c] (:dims task)]
                         [r c (spectral-matrix (:singular-values task) r c (:basis task) ts)]))
        dout (long dout) din (long din)]
    {:objective (Objective/factorization dout din m)
     :test-objective nil
     :dims {:input din :output dout}
     :target (linalg/array->matrix dout din m)
     :target-svd (svd-facts dout din m)}))

(defn- covariance-eigenvalues [cov ^long d]
  (if-let [ev (:eigenvalues cov)]
    (mapv double ev)
    (let [a (double (:power-law cov))]
      (mapv (fn [^long k] (Math/pow (double k) (- a))) (range 1 (inc d))))))

(defn- teacher-matrix
  "output-dim x input-dim column-major teacher; a :gaussian one drawn by normals."
  ^doubles [teacher dout din ts normals]
  (let [dout (long dout) din (long din)]
    (case (:kind teacher)
      :matrix (linalg/matrix->array (:matrix teacher))
      :spectral (spectral-matrix (:singular-values teacher) dout din (:basis teacher) ts)
      :gaussian (let [std (if (= :fan-in (:std teacher)) (/ 1.0 (Math/sqrt (double din))) (double (:std teacher)))
                      a (double-array (* dout din))]
                  (fill-normals! normals ts (:teacher streams) (double-array [std]) a (* dout din))
                  a))))

(defn- draw-samples
  "n samples x = sqrt(lambda) z and y = M x + sigma eps as row arrays [x y], the
  normals z and eps drawn by normals (see `fill-normals!`)."
  [normals ts n din dout sd m sigma x-stream noise-stream]
  (let [ts (long ts) n (long n) din (long din) dout (long dout)
        ^doubles sd sd ^doubles m m
        x-stream (long x-stream) noise-stream (long noise-stream)
        x (double-array (* n din))
        y (double-array (* n dout))
        sigma (double sigma)]
    (fill-normals! normals ts x-stream sd x (* n din))
    (when (pos? n)
      (Blas/gemm false false dout n din 1.0 m 0 dout x 0 din 0.0 y 0 dout))
    (when (pos? sigma)
      (let [noise (double-array (* n dout))]
        (fill-normals! normals ts noise-stream (double-array [sigma]) noise (* n dout))
        (dotimes [k (* n dout)] (aset y k (+ (aget y k) (aget noise k))))))
    [x y]))

(defmethod build-kind :teacher-student [task ts]
  (let [din (long (:input-dim task)) dout (long (:output-dim task))
        n (long (:samples task)) nt (long (:test-samples task))
        ev (covariance-eigenvalues (:covariance task) din)
        sd (double-array (map #(Math/sqrt (double %)) ev))
        normals (:normals task)
        m (teacher-matrix (:teacher task) dout din ts normals)
        [x y] (draw-samples normals ts n din dout sd m (:label-noise task) (:train-x streams) (:train-noise streams))
        [tx ty] (draw-samples normals ts nt din dout sd m (:label-noise task) (:test-x streams) (:test-noise streams))]
    (merge {:dims {:input din :output dout}
            :target (linalg/array->matrix dout din m)
            :target-svd (svd-facts dout din m)
            :covariance-eigenvalues ev
            :teacher-sampling {:sd sd :teacher m :label-noise (double (:label-noise task)) :normals normals}}
           (samples-part n din dout x y nt tx ty))))

(defn sampler
  "For a built :teacher-student task, a function (fn [seed b] [x y]) drawing b
  fresh samples from the teacher (x ~ N(0, Sigma), y = M x + noise) as row
  arrays, a pure function of seed; nil for other tasks. One-pass SGD draws each
  step's batch with it."
  [task]
  (when-let [{:keys [sd teacher label-noise normals]} (:teacher-sampling task)]
    (let [din (long (get-in task [:dims :input])) dout (long (get-in task [:dims :output]))]
      (fn [seed b] (draw-samples normals seed b din dout sd teacher label-noise 0 1)))))

(defn- dataset-matrix
  "The rows of inline key k or of the CSV file at key kf of the task."
  [task k kf]
  (cond (contains? task k) (get task k)
        (contains? task kf) (:rows (read-csv (get task kf) [:task kf]))))

(defmethod build-kind :dataset [task ts]
  (let [xs (dataset-matrix task :x :x-file)
        ys (dataset-matrix task :y :y-file)
        txs (dataset-matrix task :test-x :test-x-file)
        tys (dataset-matrix task :test-y :test-y-file)
        src (fn [k kf] (if (contains? task k) (str k) (str kf " " (pr-str (get task kf)))))
        _ (when (not= (count xs) (count ys))
            (error/fail! :invalid-experiment
                         (str "The task's outputs (" (src :y :y-file) ") have " (count ys) " rows but its inputs ("
                              (src :x :x-file) ") have " (count xs) "; x and y need one row per sample.")
                         {:path [:task (if (contains? task :y) :y :y-file)] :value (count ys) :allowed (str (count xs) " samples, like the inputs")}))
        _ (when (and txs (not= (count txs) (count tys)))
            (error/fail! :invalid-experiment
                         (str "The task's test outputs (" (src :test-y :test-y-file) ") have " (count tys)
                              " rows but its test inputs (" (src :test-x :test-x-file) ") have " (count txs) ".")
                         {:path [:task (if (contains? task :test-y) :test-y :test-y-file)] :value (count tys) :allowed (str (count txs) " samples")}))
        din (count (first xs)) dout (count (first ys))
        _ (doseq [[rows k kf want] [[txs :test-x :test-x-file din] [tys :test-y :test-y-file dout]]]
            (when (and rows (not= (long want) (count (first rows))))
              (error/fail! :invalid-experiment
                           (str "The task's " (src k kf) " has rows of " (count (first rows))
                                " numbers but the training data has " want ".")
                           {:path [:task (if (contains? task k) k kf)] :value (count (first rows)) :allowed (str want " columns")})))
        frac (double (or (:test-fraction task) 0.0))
        ntot (count xs)
        nt-split (if (pos? frac) (Math/round (* frac (double ntot))) 0)
        _ (when (>= nt-split ntot)
            (error/fail! :invalid-experiment
                         (str "[:task :test-fraction] " (:test-fraction task) " of " ntot
                              " samples leaves no training sample.")
                         {:path [:task :test-fraction] :value (:test-fraction task) :allowed "a fraction that leaves at least one training sample"}))
        test-idx (when (pos? nt-split)
                   (set (take nt-split (sort-by (fn [^long i] (Rng/bits ts (:split streams) i)) (range ntot)))))
        keep-train (fn [rows] (if test-idx (vec (keep-indexed (fn [i r] (when-not (test-idx i) r)) rows)) rows))
        keep-test (fn [rows] (vec (keep-indexed (fn [i r] (when (test-idx i) r)) rows)))
        [trx try' tex tey] (if test-idx
                             [(keep-train xs) (keep-train ys) (keep-test xs) (keep-test ys)]
                             [xs ys txs tys])
        n (count trx) nt (count tex)
        part (samples-part n din dout (linalg/rows->array trx) (linalg/rows->array try')
                           nt (when (pos? nt) (linalg/rows->array tex)) (when (pos? nt) (linalg/rows->array tey)))
        fstar (:matrix (:least-squares part))]
    (merge {:dims {:input din :output dout}
            :target fstar
            :target-svd (svd-facts dout din (linalg/matrix->array fstar))}
           part)))

;; ---------------------------------------------------------------------------
;; Tasks built lately
;;
;; A generated task (teacher-student, matrix factorization) is a pure function
;; of its normalized spec and seed, so a sweep of short runs over, say, learning
;; rates builds the same data again and again. The last few built are kept,
;; bounded in number and in size; their arrays are never written (a network is
;; a value: nothing mutates its arrays), so a run reads the same numbers from a
;; kept task as from a fresh one. :dataset tasks are not kept (their files may
;; change between runs).

(def ^:dynamic *reuse-data?*
  "When false, `build-task` builds every task afresh (tests, and benchmarks of
  the cold cost)."
  true)

(def reuse-limits
  "How many built tasks are kept, and the most doubles (samples and moments)
  they hold together: 64 MB, or a sixteenth of the heap when that is less. A
  task larger than a quarter of that is not kept."
  {:tasks 8 :doubles (min (* 8 1024 1024) (quot (.maxMemory (Runtime/getRuntime)) (* 8 16)))})

(def ^:private ^java.util.LinkedHashMap recent-tasks
  "{[normalized-task task-seed] [doubles built-task]}, oldest first (access order)."
  (java.util.LinkedHashMap. 16 0.75 true))

(defn- task-doubles
  "About how many doubles a built task holds: its samples and its objectives'
  moments."
  ^long [t]
  (let [len (fn [a] (if a (alength ^doubles a) 0))
        moments (fn [^Objective o] (if o (* 4 (.din o) (+ (.din o) (.dout o))) 0))]
    (reduce + 0 (concat (map (comp len t) [:x :y :test-x :test-y])
                        (map (comp moments t) [:objective :test-objective])))))

(defn- keep-task!
  "Keeps built task t under key k, then drops the oldest kept tasks while there
  are more than the limits allow. Returns t."
  [k t]
  (let [size (task-doubles t)
        {:keys [^long tasks ^long doubles]} reuse-limits]
    (when (<= size (quot doubles 4))
      (locking recent-tasks
        (.put recent-tasks k [size t])
        (loop []
          (let [total (reduce + 0 (map first (.values recent-tasks)))]
            (when (or (> (.size recent-tasks) tasks) (> (long total) doubles))
              (let [it (.iterator (.keySet recent-tasks))]
                (.next it)
                (.remove it)
                (recur)))))))
    t))

(defn- kept-task [k]
  (locking recent-tasks (second (.get recent-tasks k))))

(defn build-task
  "Builds a task from its spec (normalized here; see dlnlab.spec) and the
  experiment seed: data from Rng at (Rng/derive seed task-purpose). A generated
  task built lately with the same spec and seed is returned as it was built
  (see `*reuse-data?*`): the same numbers, without drawing them again.
  Returns {:spec normalized-task
           :dims {:input D :output m}
           :objective Objective (FACTORIZATION or exact MOMENTS form)
           :test-objective Objective or nil
           :target dout x din nested vectors (M; the teacher; F* of a dataset)
           :target-svd {:singular-values [..] :u U :v V} (see `svd`)
           ;; sample tasks only (nil/absent for :matrix-factorization):
           :x :y double[] samples as rows (= Objective's column-major din x n), :n
           :test-x :test-y double[] or nil, :test-n
           :least-squares {:matrix F* :loss l*} of the training samples
           ;; teacher-student only: :covariance-eigenvalues [..]}
  Throws ex-info {:path :value :allowed} for an invalid spec, unreadable CSV (with
  :file and :line), or samples whose counts or widths disagree."
  [task-spec seed]
  (when-not (int? seed)
    (error/fail! :invalid-experiment
                 (str "[:seed] must be an integer, got " (pr-str seed) ".")
                 {:path [:seed] :value seed :allowed "an integer"}))
  (let [task (spec/normalize-task task-spec)
        ts (Rng/derive (long seed) task-purpose)
        k [task ts]
        reuse? (and *reuse-data?* (#{:teacher-student :matrix-factorization} (:kind task)))]
    (or (when reuse? (kept-task k))
        (cond->> (assoc (build-kind task ts) :spec task)
          reuse? (keep-task! k)))))

;; ---------------------------------------------------------------------------
;; Kinds: the schema of every task, covariance and teacher kind (dlnlab.kind/schema)

(defn- check-matrix-factorization! [path t _]
  (spec/exclusive! path t [[:matrix] [:singular-values :dims :basis]]
              ":matrix [[..] ..] or :singular-values [s1 ...] (with optional :dims and :basis)")
  (spec/only-with! path t [:dims :basis] :singular-values)
  (when (:matrix t) (spec/ragged-check! (conj (vec path) :matrix) (:matrix t)))
  (when-let [[r c] (:dims t)]
    (let [k (count (:singular-values t))]
      (when (> k (min (long r) (long c)))
        (error/fail! :invalid-experiment
                     (str (spec/path-str (conj (vec path) :singular-values)) " has " k " values but a " r " x " c
                     " matrix has at most " (min (long r) (long c)) ".")
                     {:path (conj (vec path) :singular-values) :value (:singular-values t) :allowed (str "at most " (min (long r) (long c)) " singular values for :dims " (pr-str (:dims t)))})))))

(defn- teacher-dims
  "[rows cols] of a teacher given as a valid :matrix, else nil."
  [teacher]
  (when (and (map? teacher) (s/valid? ::spec/matrix (:matrix teacher)))
    [(count (:matrix teacher)) (count (first (:matrix teacher)))]))

(defn- check-teacher-student! [path t _]
  (let [[m d] (teacher-dims (:teacher t))]
    (doseq [[k v] [[:input-dim d] [:output-dim m]]]
      (when (and v (not= (long v) (long (get t k))))
        (error/fail! :invalid-experiment
                     (str (spec/path-str (conj (vec path) k)) " is " (get t k) " but the teacher :matrix implies " v ".")
                     {:path (conj (vec path) k) :value (get t k) :allowed (str v " (from the teacher :matrix)")})))
    (doseq [k [:input-dim :output-dim]]
      (when-not (contains? t k)
        (error/fail! :invalid-experiment
                     (str (spec/path-str path) " needs " k " (a positive integer), unless the teacher is given as a :matrix.")
                     {:path (conj (vec path) k) :value nil :allowed "a positive integer"})))
    (when-let [ev (get-in t [:covariance :eigenvalues])]
      (let [D (long (:input-dim t))]
        (when (not= D (count ev))
          (error/fail! :invalid-experiment
                       (str (spec/path-str (conj (vec path) :covariance :eigenvalues)) " has " (count ev)
                       " values but the input dimension is " D "; give one eigenvalue per input dimension.")
                       {:path (conj (vec path) :covariance :eigenvalues) :value ev :allowed (str D " eigenvalues, one per input dimension")}))))
    (when-let [sv (get-in t [:teacher :singular-values])]
      (let [D (long (:input-dim t)) M (long (:output-dim t))]
        (when (> (count sv) (min D M))
          (error/fail! :invalid-experiment
                       (str (spec/path-str (conj (vec path) :teacher :singular-values)) " has " (count sv)
                       " values but a " M " x " D " teacher has at most " (min D M) ".")
                       {:path (conj (vec path) :teacher :singular-values) :value sv :allowed (str "at most " (min D M) " singular values")}))))))

(defn- check-covariance! [path c _]
  (spec/exclusive! path c [[:eigenvalues] [:power-law]]
              ":eigenvalues [l1 ... lD] or :power-law alpha (eigenvalues k^-alpha, k = 1..D)"))

(defn- check-dataset! [path t _]
  (spec/exclusive! path t [[:x] [:x-file]] ":x (rows are samples) or :x-file (a CSV file)")
  (spec/exclusive! path t [[:y] [:y-file]] ":y (rows are samples) or :y-file (a CSV file)")
  (doseq [k [:x :y :test-x :test-y]]
    (when (contains? t k) (spec/ragged-check! (conj (vec path) k) (get t k))))
  (doseq [[a b] [[:test-x :test-x-file] [:test-y :test-y-file]]]
    (when (and (contains? t a) (contains? t b))
      (error/fail! :invalid-experiment
                   (str (spec/path-str path) " gives both " a " and " b "; give only one.")
                   {:path (conj (vec path) b) :value (get t b) :allowed (str "only one of " a " and " b)})))
  (let [tx (or (contains? t :test-x) (contains? t :test-x-file))
        ty (or (contains? t :test-y) (contains? t :test-y-file))]
    (when (not= tx ty)
      (error/fail! :invalid-experiment
                   (str (spec/path-str path) " gives " (if tx "test inputs but no test outputs (:test-y or :test-y-file)"
                                                  "test outputs but no test inputs (:test-x or :test-x-file)") ".")
                   {:path path :value t :allowed "both test inputs and test outputs, or neither"}))
    (when (and tx (contains? t :test-fraction) (pos? (double (:test-fraction t))))
      (error/fail! :invalid-experiment
                   (str (spec/path-str (conj (vec path) :test-fraction)) " cannot be used together with an explicit test set.")
                   {:path (conj (vec path) :test-fraction) :value (:test-fraction t) :allowed "0 when an explicit test set is given"})))
  (when (and (:x t) (:y t) (not= (count (:x t)) (count (:y t))))
    (error/fail! :invalid-experiment
                 (str (spec/path-str (conj (vec path) :y)) " has " (count (:y t)) " rows but :x has " (count (:x t))
                 "; x and y need one row per sample.")
                 {:path (conj (vec path) :y) :value (count (:y t)) :allowed (str (count (:x t)) " rows, one per sample of :x")}))
  (when (and (:test-x t) (:test-y t) (not= (count (:test-x t)) (count (:test-y t))))
    (error/fail! :invalid-experiment
                 (str (spec/path-str (conj (vec path) :test-y)) " has " (count (:test-y t)) " rows but :test-x has "
                 (count (:test-x t)) "; they need one row per sample.")
                 {:path (conj (vec path) :test-y) :value (count (:test-y t)) :allowed (str (count (:test-x t)) " rows")}))
  (doseq [[a b] [[:x :test-x] [:y :test-y]]]
    (when (and (get t a) (get t b) (not= (count (first (get t a))) (count (first (get t b)))))
      (error/fail! :invalid-experiment
                   (str (spec/path-str (conj (vec path) b)) " has rows of " (count (first (get t b))) " numbers but " a
                   " has rows of " (count (first (get t a))) ".")
                   {:path (conj (vec path) b) :value (get t b) :allowed (str "rows of " (count (first (get t a))) " numbers, like " a)}))))

(defn- infer-teacher-kind [t]
  (cond (contains? t :singular-values) :spectral
        (contains? t :matrix) :matrix
        (contains? t :std) :gaussian))

(defmethod kind/schema [:task nil] [_ _]
  {:doc "The data and the loss, a function of the end-to-end matrix F (doc/science.md §2)."
   :dispatch :kind
   :kind-order [:matrix-factorization :teacher-student :dataset]})

(defmethod kind/schema [:task :matrix-factorization] [_ _]
  {:doc "l = 1/2 ||F - M||_F^2 (whitened inputs)."
   :keys [[:matrix {:spec ::spec/matrix :doc "M explicitly, row-major (dout rows of din numbers)."}]
          [:singular-values {:spec ::spec/singular-values :doc "s_1, s_2, ... of M (instead of :matrix); M = sum_i s_i u_i v_i^T."}]
          [:dims {:spec ::spec/dims :default-doc "[k k], k = number of singular values"
                  :default-fn (fn [m _] (when (:singular-values m) [(count (:singular-values m)) (count (:singular-values m))]))
                  :doc "[dout din] of M (with :singular-values)."}]
          [:basis {:spec ::spec/basis :default-doc ":identity (with :singular-values)"
                   :default-fn (fn [m _] (when (:singular-values m) :identity))
                   :doc "u_i, v_i: columns of the identity, or seeded random orthonormal."}]]
   :check check-matrix-factorization!})

(defmethod kind/schema [:task :teacher-student] [_ _]
  {:doc "x ~ N(0, Sigma), y = M x + eps, eps ~ N(0, sigma^2 I); l = 1/(2n) sum_i ||F x_i - y_i||^2."
   :keys [[:input-dim {:spec ::spec/pos-int
                       :default-doc "the teacher :matrix's columns (required otherwise)"
                       :default-fn (fn [m _] (second (teacher-dims (:teacher m))))
                       :doc "D, the input dimension."}]
          [:output-dim {:spec ::spec/pos-int
                        :default-doc "the teacher :matrix's rows (required otherwise)"
                        :default-fn (fn [m _] (first (teacher-dims (:teacher m))))
                        :doc "m, the output dimension."}]
          [:samples {:spec ::spec/pos-int :required true :doc "n, training samples."}]
          [:test-samples {:spec ::spec/nat-int :default-doc "the same as :samples"
                          :default-fn (fn [m _] (:samples m))
                          :doc "Held-out samples (0: no test set)."}]
          [:covariance {:node :covariance :default {:power-law 0.0} :doc "Sigma, diagonal (see :covariance); default identity."}]
          [:teacher {:node :teacher :default {:kind :gaussian} :doc "The teacher M (see :teacher)."}]
          [:label-noise {:spec ::spec/non-negative :default 0.0 :doc "sigma, the standard deviation of the label noise."}]
          [:normals {:spec ::spec/normals :default :ziggurat
                     :doc (str "Generator of the Gaussian draws (inputs, label noise, a :gaussian teacher), both exact and"
                               " counter-based: :ziggurat (about 2 ns a draw) or :box-muller (about 18 ns; the data dlnlab"
                               " drew before the ziggurat, to reproduce earlier results).")}]]
   :check check-teacher-student!})

(defmethod kind/schema [:task :dataset] [_ _]
  {:doc "Explicit samples, rows are samples: inline or CSV files (numbers, comma-separated, optional header row)."
   :keys [[:x {:spec ::spec/matrix :doc "Inputs, n rows of D numbers."}]
          [:y {:spec ::spec/matrix :doc "Outputs, n rows of m numbers."}]
          [:x-file {:spec ::spec/file :doc "CSV file of the inputs (instead of :x)."}]
          [:y-file {:spec ::spec/file :doc "CSV file of the outputs (instead of :y)."}]
          [:test-x {:spec ::spec/matrix :doc "Held-out inputs."}]
          [:test-y {:spec ::spec/matrix :doc "Held-out outputs."}]
          [:test-x-file {:spec ::spec/file :doc "CSV file of held-out inputs."}]
          [:test-y-file {:spec ::spec/file :doc "CSV file of held-out outputs."}]
          [:test-fraction {:spec ::spec/fraction
                           :default-doc "0.0 (when no explicit test set is given)"
                           :default-fn (fn [m _] (when-not (or (:test-x m) (:test-x-file m)) 0.0))
                           :doc "Fraction of the samples held out as a test set, chosen by a seeded shuffle."}]]
   :check check-dataset!})

(defmethod kind/schema [:covariance nil] [_ _]
  {:doc "Input covariance Sigma of teacher-student data, diagonal in the standard basis."
   :keys [[:eigenvalues {:spec ::spec/eigenvalues :doc "lambda_1 ... lambda_D."}]
         [:power-law {:spec ::spec/finite :doc "alpha: lambda_k = k^-alpha, k = 1..D (0: identity)."}]]
   :check check-covariance!})

(defmethod kind/schema [:teacher nil] [_ _]
  {:doc "The teacher matrix M (output-dim x input-dim) of teacher-student data. :kind may be left out when :singular-values or :matrix is given."
   :dispatch :kind
   :kind-order [:gaussian :spectral :matrix]
   :infer infer-teacher-kind})

(defmethod kind/schema [:teacher :gaussian] [_ _]
  {:doc "Entries N(0, std^2)."
   :keys [[:std {:spec ::spec/std :default :fan-in :doc "Entry standard deviation, or :fan-in for 1/sqrt(input-dim)."}]]})

(defmethod kind/schema [:teacher :spectral] [_ _]
  {:doc "M = sum_i s_i u_i v_i^T."
   :keys [[:singular-values {:spec ::spec/singular-values :required true :doc "s_1, s_2, ..."}]
          [:basis {:spec ::spec/basis :default :identity :doc "u_i, v_i: columns of the identity, or seeded random orthonormal."}]]})

(defmethod kind/schema [:teacher :matrix] [_ _]
  {:doc "M given explicitly, row-major."
   :keys [[:matrix {:spec ::spec/matrix :required true :doc "M, output-dim rows of input-dim numbers."}]]
   :check (fn [path t _] (spec/ragged-check! (conj (vec path) :matrix) (:matrix t)))})
