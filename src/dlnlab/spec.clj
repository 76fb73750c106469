(ns dlnlab.spec
  "Experiments as data: the specification of an experiment's :model, :task and
  training keys (and of an :sde experiment's simulation, :kind :sde), its
  validation with person-readable errors, and its defaults.

  One table, `schema`, is the single place where every key of every kind is listed
  with its documentation, the clojure.spec its value must satisfy, whether it is
  required and its default. `validate!`, `normalize`, `defaults` and `describe` are
  all driven by it, so the CLI's `describe` prints exactly what validation enforces.

  Errors are ex-info whose message names the key path, the bad value and what is
  allowed, with data {:path [..] :value v :allowed a}; unknown keys (and unknown
  :kind values) also carry :did-you-mean for near misses."
  (:require [clojure.spec.alpha :as s]
            [clojure.string :as str]
            [dlnlab.error :as error]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------------------
;; Leaf predicates and specs

(defn finite-number?
  "True when x is a number that is neither NaN nor infinite."
  [x]
  (and (number? x)
       (let [d (double x)]
         (not (or (Double/isNaN d) (Double/isInfinite d))))))

(defn- positive-number? [x] (and (finite-number? x) (> (double x) 0.0)))
(defn- non-negative-number? [x] (and (finite-number? x) (>= (double x) 0.0)))
(defn- fraction? [x] (and (finite-number? x) (>= (double x) 0.0) (< (double x) 1.0)))
(defn- non-blank-string? [x] (and (string? x) (not (str/blank? x))))

;; clojure.spec's coll-of expands to boxed arithmetic on :min-count; these forms
;; touch no arrays, so boxed-math warnings are switched off around them.
(set! *unchecked-math* false)
(s/def ::any any?)
(s/def ::seed int?)
(s/def ::pos-int pos-int?)
(s/def ::nat-int nat-int?)
(s/def ::finite finite-number?)
(s/def ::positive positive-number?)
(s/def ::non-negative non-negative-number?)
(s/def ::fraction fraction?)
(s/def ::file non-blank-string?)
(s/def ::widths (s/coll-of ::pos-int :kind sequential? :min-count 2))
(s/def ::parameterization #{:standard :mup :ntk})
(s/def ::basis #{:identity :random})
(s/def ::hidden-basis #{:identity :random})
(s/def ::std (s/or :number ::non-negative :fan-in #{:fan-in}))
(s/def ::strengths (s/coll-of ::non-negative :kind sequential? :min-count 1))
(s/def ::singular-values (s/coll-of ::non-negative :kind sequential? :min-count 1))
(s/def ::eigenvalues (s/coll-of ::non-negative :kind sequential? :min-count 1))
(s/def ::share-row (s/coll-of ::non-negative :kind sequential? :min-count 1))
(s/def ::shares (s/coll-of ::share-row :kind sequential? :min-count 1))
(s/def ::row (s/coll-of ::finite :kind sequential? :min-count 1))
(s/def ::matrix (s/coll-of ::row :kind sequential? :min-count 1))
(s/def ::dims (s/tuple ::pos-int ::pos-int))
(s/def ::weights (s/or :pathways sequential? :residual map?))
(s/def ::boolean boolean?)
(s/def ::sampling #{:with-replacement :epochs :one-pass})
(def metric-names
  "Every metric a run can record (dlnlab.metrics implements each)."
  [:loss :test-loss :grad-norm :sharpness :hessian-top-k :stability-threshold :modes
   :pathway-shares :balance-gap :layer-singular-values :end-to-end-singular-values :weight-norms])
(s/def ::metric (set metric-names))
(s/def ::metrics (s/coll-of ::metric :kind vector? :distinct true))
(s/def ::metric-options (s/and map? #(or (not (contains? % :every)) (pos-int? (:every %)))))
(def experiment-kinds
  "The values of an experiment's :kind: :network (also when :kind is absent)
  trains a network; :sde simulates the per-mode SDE ensemble (dlnlab.sde)."
  [:network :sde])
(s/def ::experiment-kind (set experiment-kinds))
(s/def ::sde-kind #{:sde})
(defn- open-fraction? [x] (and (finite-number? x) (< 0.0 (double x) 1.0)))
(s/def :dlnlab.spec.sde-mode/s positive-number?)
(s/def :dlnlab.spec.sde-mode/pi0 positive-number?)
;; the required keys of a mode are checked after its unknown keys (check-sde!), so
;; a misspelt :pi0 gets a did-you-mean rather than "missing"
(s/def ::sde-mode (s/keys :opt-un [:dlnlab.spec.sde-mode/s :dlnlab.spec.sde-mode/pi0]))
(s/def ::sde-modes (s/coll-of ::sde-mode :kind vector? :min-count 1))
(s/def ::sde-depth (s/and int? #(>= (long %) 2)))
(s/def ::sde-paths (s/and int? #(<= 1 (long %) Integer/MAX_VALUE)))
(s/def ::sde-scheme #{:euler-maruyama :milstein :taylor-1.5})
(s/def ::sde-threads (s/and int? #(<= 1 (long %) 1024)))
(s/def ::sde-boundary #{:absorbing :reflecting})
(s/def ::open-fraction open-fraction?)
(s/def ::learned-fractions (s/coll-of ::open-fraction :kind vector? :min-count 1 :distinct true))
(s/def ::quantiles (s/coll-of ::open-fraction :kind vector?))
(s/def ::record-points (s/and int? #(>= (long %) 2)))
(set! *unchecked-math* :warn-on-boxed)

(def ^:private spec-text
  "What each leaf spec allows, in words (used in error messages and describe)."
  {::any "any value"
   ::seed "an integer"
   ::pos-int "a positive integer"
   ::nat-int "a non-negative integer"
   ::finite "a finite number (NaN and Infinity are not allowed)"
   ::positive "a positive finite number"
   ::non-negative "a non-negative finite number"
   ::fraction "a number in [0, 1)"
   ::file "a file name (a non-blank string)"
   ::widths "a vector [d0 d1 ... dL] of at least two positive integers"
   ::parameterization "one of :standard, :mup, :ntk"
   ::basis "one of :identity, :random"
   ::hidden-basis "one of :identity, :random"
   ::std "a non-negative number or :fan-in (1/sqrt(fan-in) for each layer)"
   ::strengths "a non-empty vector of non-negative finite numbers, one per mode"
   ::singular-values "a non-empty vector of non-negative finite numbers"
   ::eigenvalues "a non-empty vector of non-negative finite numbers"
   ::share-row "a non-empty vector of non-negative numbers, one per mode"
   ::shares "a vector with one vector per pathway, each holding one non-negative share per mode"
   ::row "a row: a non-empty vector of finite numbers"
   ::matrix "a matrix: a non-empty vector of equally long, non-empty rows of finite numbers"
   ::dims "a pair [rows cols] of positive integers"
   ::boolean "true or false"
   ::sampling "one of :with-replacement, :epochs, :one-pass"
   ::metric (str "a metric, one of " (str/join ", " (map pr-str metric-names)))
   ::metrics (str "a vector of distinct metrics, each one of " (str/join ", " (map pr-str metric-names)))
   ::metric-options "a map of the metric's options; :every, when given, a positive integer"
   ::experiment-kind "one of :network, :sde"
   ::sde-kind ":sde"
   ::sde-mode "a mode: a map {:s target > 0, :pi0 initial strength > 0}"
   ::sde-modes "a non-empty vector of modes {:s target > 0, :pi0 initial strength > 0}"
   :dlnlab.spec.sde-mode/s "a positive finite number (the target s_i)"
   :dlnlab.spec.sde-mode/pi0 "a positive finite number (the initial strength pi_i(0))"
   ::sde-depth "an integer >= 2"
   ::sde-paths "an integer from 1 to 2147483647"
   ::sde-scheme "one of :euler-maruyama, :milstein, :taylor-1.5"
   ::sde-threads "an integer from 1 to 1024"
   ::sde-boundary "one of :absorbing, :reflecting"
   ::open-fraction "a number strictly between 0 and 1"
   ::learned-fractions "a non-empty vector of distinct numbers strictly between 0 and 1"
   ::quantiles "a vector of numbers strictly between 0 and 1"
   ::record-points "an integer >= 2"
   ::weights "weights in the form dlnlab.core/weights returns: a vector of pathways, each a vector of layer matrices, or a map {:in .. :blocks [..] :out ..} for :residual"})

;; ---------------------------------------------------------------------------
;; Messages

(def ^:private show error/show)

(defn- path-str [path]
  (if (empty? path) "the experiment" (pr-str (vec path))))

(defn fail!
  "Throws the ex-info of an invalid experiment (kind :invalid-experiment, see
  dlnlab.error): message msg, data {:path path :value value :allowed allowed}
  merged with extra."
  ([path value allowed msg] (fail! path value allowed msg nil))
  ([path value allowed msg extra]
   (error/fail! :invalid-experiment msg (merge {:path (vec path) :value value :allowed allowed} extra))))

(def did-you-mean
  "See dlnlab.error/did-you-mean."
  error/did-you-mean)

(defn- key-list [ks] (str/join ", " (map pr-str ks)))

;; ---------------------------------------------------------------------------
;; Cross-key checks (run on a node once its leaves are valid, its defaults filled
;; and its nested nodes normalized)

(defn- ragged-check!
  "Every row of the matrix at (path) has the length of row 0."
  [path m]
  (let [c (count (first m))]
    (doseq [[i row] (map-indexed vector m)]
      (when (not= c (count row))
        (fail! (conj (vec path) i) row (str "a row of " c " numbers")
               (str (path-str (conj (vec path) i)) " has " (count row) " entries but row 0 has " c
                    "; every row of a matrix must have the same length."))))))

(defn- exclusive!
  "Exactly one of the alternatives (each a set of keys, the first key of each being
  the one that selects it) is present in m."
  [path m alternatives what]
  (let [present (filter #(contains? m (first %)) alternatives)]
    (cond
      (empty? present)
      (fail! path m (str/join " or " (map #(key-list %) alternatives))
             (str (path-str path) " needs " what "."))
      (> (count present) 1)
      (fail! path m (str "only one of " (key-list (map first alternatives)))
             (str (path-str path) " gives both " (pr-str (first (first present))) " and "
                  (pr-str (first (second present))) "; give only one of them: " what ".")))))

(defn- only-with!
  "Keys ks are allowed in m only when key base is present."
  [path m ks base]
  (doseq [k ks]
    (when (and (contains? m k) (not (contains? m base)))
      (fail! (conj (vec path) k) (get m k) (str "only together with " (pr-str base))
             (str (path-str (conj (vec path) k)) " only applies together with " (pr-str base)
                  ", which is not given.")))))

(defn- check-shape! [path m ctx]
  (let [k (:model-kind ctx)]
    (exclusive! path m [[:widths] [:depth :width]]
                "either :widths [d0 ... dL], or :depth L and :width N (input and output sizes then come from the task)")
    (when (and (contains? m :depth) (> (long (:depth m)) 1) (not (contains? m :width)))
      (fail! (conj (vec path) :width) nil "a positive integer"
             (str (path-str path) " has :depth " (:depth m) " but no :width; a network of depth > 1 needs "
                  ":width N for its hidden layers" (when (= k :multi-pathway) " (or :widths instead of :depth)") ".")))))

(defn- check-shares! [path init ctx nmodes]
  (let [K (long (:pathways ctx 1))
        shares (:shares init)
        sp (conj (vec path) :shares)]
    (when (not= K (count shares))
      (fail! sp shares (str "one vector of shares per pathway (" K ")")
             (str sp " has " (count shares) " vector(s) but the model has " K " pathways; give one vector of per-mode shares per pathway.")))
    (when nmodes
      (doseq [[k row] (map-indexed vector shares)]
        (when (not= (long nmodes) (count row))
          (fail! (conj sp k) row (str nmodes " shares, one per mode")
                 (str (conj sp k) " has " (count row) " shares but there are " nmodes
                      " modes (strengths); give one share per mode."))))
      (dotimes [i nmodes]
        (let [tot (double (reduce + (map #(double (nth % i)) shares)))]
          (when (> (Math/abs (- tot 1.0)) 1e-9)
            (fail! sp shares "shares of each mode summing to 1 over the pathways"
                   (str sp ": the shares of mode " i " sum to " tot " over the pathways, but they must sum to 1 "
                        "(pathway k gets strength pi_i * share_ki of mode i)."))))))))

(defn- check-balanced! [path init ctx]
  (exclusive! path init [[:strengths] [:scale]]
              ":strengths [pi_1 ...] (one per mode) or :scale pi (every mode the same)")
  (when (contains? init :shares)
    (when (not= :multi-pathway (:model-kind ctx))
      (fail! (conj (vec path) :shares) (:shares init) "only for :multi-pathway models"
             (str (path-str (conj (vec path) :shares)) " only applies to :multi-pathway models, but the model is "
                  (pr-str (:model-kind ctx)) ".")))
    (when-not (contains? init :strengths)
      (fail! (conj (vec path) :shares) (:shares init) "together with :strengths"
             (str (path-str (conj (vec path) :shares)) " needs :strengths (the shares are per mode).")))
    (check-shares! path init ctx (count (:strengths init)))))

(defn- check-pathway-split! [path init ctx]
  (when (not= :multi-pathway (:model-kind ctx))
    (fail! (conj (vec path) :kind) :pathway-split "an init for a :multi-pathway model"
           (str (path-str (conj (vec path) :kind)) " is :pathway-split, which only applies to :multi-pathway models, "
                "but the model is " (pr-str (:model-kind ctx)) "; use :balanced-aligned instead.")))
  (check-shares! path init ctx (count (:strengths init))))

(defn- check-training!
  "Cross-key rules of a trainable experiment (only when :optimizer is given)."
  [path e _]
  (when-let [opt (:optimizer e)]
    (let [k (:kind opt)
          task-kind (get-in e [:task :kind])
          at (fn [& ks] (into (vec path) ks))]
      (if (= k :gradient-flow)
        (when-not (contains? e :time)
          (fail! (at :time) nil "a positive number"
                 "The experiment trains with :gradient-flow and needs :time, the training time (e.g. :time 10.0)."))
        (do
          (when-not (contains? e :steps)
            (fail! (at :steps) nil "a positive integer"
                   (str "The experiment trains with " (pr-str k) " and needs :steps, the number of steps (e.g. :steps 1000).")))
          (when (contains? e :time)
            (fail! (at :time) (:time e) "only with :gradient-flow"
                   (str "[:time] applies to :gradient-flow; " (pr-str k) " runs for :steps.")))))
      (when (and (= k :sgd) (= task-kind :matrix-factorization))
        (fail! (at :optimizer :kind) k "an optimizer for :matrix-factorization: :gd, :gradient-flow or :langevin"
               "[:optimizer :kind] :sgd needs samples, but a :matrix-factorization task has none; use :teacher-student or :dataset, or :gd."))
      (when (and (= k :sgd) (= :one-pass (:sampling opt)) (not= task-kind :teacher-student))
        (fail! (at :optimizer :sampling) :one-pass ":with-replacement or :epochs for this task"
               (str "[:optimizer :sampling] :one-pass draws fresh samples from a teacher, which only a :teacher-student task has; this task is "
                    (pr-str task-kind) "."))))))

(defn- check-matrix-factorization! [path t _]
  (exclusive! path t [[:matrix] [:singular-values :dims :basis]]
              ":matrix [[..] ..] or :singular-values [s1 ...] (with optional :dims and :basis)")
  (only-with! path t [:dims :basis] :singular-values)
  (when (:matrix t) (ragged-check! (conj (vec path) :matrix) (:matrix t)))
  (when-let [[r c] (:dims t)]
    (let [k (count (:singular-values t))]
      (when (> k (min (long r) (long c)))
        (fail! (conj (vec path) :singular-values) (:singular-values t)
               (str "at most " (min (long r) (long c)) " singular values for :dims " (pr-str (:dims t)))
               (str (path-str (conj (vec path) :singular-values)) " has " k " values but a " r " x " c
                    " matrix has at most " (min (long r) (long c)) "."))))))

(defn- teacher-dims
  "[rows cols] of a teacher given as a valid :matrix, else nil."
  [teacher]
  (when (and (map? teacher) (s/valid? ::matrix (:matrix teacher)))
    [(count (:matrix teacher)) (count (first (:matrix teacher)))]))

(defn- check-teacher-student! [path t _]
  (let [[m d] (teacher-dims (:teacher t))]
    (doseq [[k v] [[:input-dim d] [:output-dim m]]]
      (when (and v (not= (long v) (long (get t k))))
        (fail! (conj (vec path) k) (get t k) (str v " (from the teacher :matrix)")
               (str (path-str (conj (vec path) k)) " is " (get t k) " but the teacher :matrix implies " v "."))))
    (doseq [k [:input-dim :output-dim]]
      (when-not (contains? t k)
        (fail! (conj (vec path) k) nil "a positive integer"
               (str (path-str path) " needs " k " (a positive integer), unless the teacher is given as a :matrix."))))
    (when-let [ev (get-in t [:covariance :eigenvalues])]
      (let [D (long (:input-dim t))]
        (when (not= D (count ev))
          (fail! (conj (vec path) :covariance :eigenvalues) ev (str D " eigenvalues, one per input dimension")
                 (str (path-str (conj (vec path) :covariance :eigenvalues)) " has " (count ev)
                      " values but the input dimension is " D "; give one eigenvalue per input dimension.")))))
    (when-let [sv (get-in t [:teacher :singular-values])]
      (let [D (long (:input-dim t)) M (long (:output-dim t))]
        (when (> (count sv) (min D M))
          (fail! (conj (vec path) :teacher :singular-values) sv
                 (str "at most " (min D M) " singular values")
                 (str (path-str (conj (vec path) :teacher :singular-values)) " has " (count sv)
                      " values but a " M " x " D " teacher has at most " (min D M) ".")))))))

(defn- check-covariance! [path c _]
  (exclusive! path c [[:eigenvalues] [:power-law]]
              ":eigenvalues [l1 ... lD] or :power-law alpha (eigenvalues k^-alpha, k = 1..D)"))

(defn- check-dataset! [path t _]
  (exclusive! path t [[:x] [:x-file]] ":x (rows are samples) or :x-file (a CSV file)")
  (exclusive! path t [[:y] [:y-file]] ":y (rows are samples) or :y-file (a CSV file)")
  (doseq [k [:x :y :test-x :test-y]]
    (when (contains? t k) (ragged-check! (conj (vec path) k) (get t k))))
  (doseq [[a b] [[:test-x :test-x-file] [:test-y :test-y-file]]]
    (when (and (contains? t a) (contains? t b))
      (fail! (conj (vec path) b) (get t b) (str "only one of " a " and " b)
             (str (path-str path) " gives both " a " and " b "; give only one."))))
  (let [tx (or (contains? t :test-x) (contains? t :test-x-file))
        ty (or (contains? t :test-y) (contains? t :test-y-file))]
    (when (not= tx ty)
      (fail! path t "both test inputs and test outputs, or neither"
             (str (path-str path) " gives " (if tx "test inputs but no test outputs (:test-y or :test-y-file)"
                                                 "test outputs but no test inputs (:test-x or :test-x-file)") ".")))
    (when (and tx (contains? t :test-fraction) (pos? (double (:test-fraction t))))
      (fail! (conj (vec path) :test-fraction) (:test-fraction t) "0 when an explicit test set is given"
             (str (path-str (conj (vec path) :test-fraction)) " cannot be used together with an explicit test set."))))
  (when (and (:x t) (:y t) (not= (count (:x t)) (count (:y t))))
    (fail! (conj (vec path) :y) (count (:y t)) (str (count (:x t)) " rows, one per sample of :x")
           (str (path-str (conj (vec path) :y)) " has " (count (:y t)) " rows but :x has " (count (:x t))
                "; x and y need one row per sample.")))
  (when (and (:test-x t) (:test-y t) (not= (count (:test-x t)) (count (:test-y t))))
    (fail! (conj (vec path) :test-y) (count (:test-y t)) (str (count (:test-x t)) " rows")
           (str (path-str (conj (vec path) :test-y)) " has " (count (:test-y t)) " rows but :test-x has "
                (count (:test-x t)) "; they need one row per sample.")))
  (doseq [[a b] [[:x :test-x] [:y :test-y]]]
    (when (and (get t a) (get t b) (not= (count (first (get t a))) (count (first (get t b)))))
      (fail! (conj (vec path) b) (get t b) (str "rows of " (count (first (get t a))) " numbers, like " a)
             (str (path-str (conj (vec path) b)) " has rows of " (count (first (get t b))) " numbers but " a
                  " has rows of " (count (first (get t a))) ".")))))

;; SDE experiments (:kind :sde)

(defn- check-sde! [path m _]
  (doseq [[i mode] (map-indexed vector (:modes m))
          k (keys mode)
          :when (not (#{:s :pi0} k))]
    (let [dym (did-you-mean k [:s :pi0])
          p (into (vec path) [:modes i k])]
      (fail! p (get mode k) [:s :pi0]
             (str (path-str p) ": unknown key " (show k) " in a mode."
                  (when dym (str " Did you mean " (pr-str dym) "?"))
                  " A mode is {:s target :pi0 initial strength}.")
             (when dym {:did-you-mean dym}))))
  (doseq [[i mode] (map-indexed vector (:modes m))
          [k what] [[:s "the target strength s_i"] [:pi0 "the initial strength pi_i(0)"]]
          :when (not (contains? mode k))]
    (let [p (into (vec path) [:modes i])]
      (fail! (conj p k) nil (spec-text (keyword "dlnlab.spec.sde-mode" (name k)))
             (str (path-str p) " needs " (pr-str k) ", " what " (a positive number); a mode is {:s target :pi0 initial strength}."))))
  (let [dt (double (:dt m)) t (double (:time m))
        at (fn [k] (conj (vec path) k))]
    (when (< t dt)
      (fail! (at :time) (:time m) (str "at least :dt = " (:dt m))
             (str (path-str (at :time)) " is " (show (:time m)) " but must be at least one step, :dt = " (show (:dt m)) ".")))
    (when (> (/ t dt) 2.0e9)
      (fail! (at :dt) (:dt m) "large enough that :time / :dt is at most 2e9 steps"
             (str (path-str (at :dt)) " is " (show (:dt m)) ", which makes " (format "%.3g" (/ t dt))
                  " steps of :time " (show (:time m)) "; at most 2e9 steps are allowed."))))
  (when-let [b (:bound m)]
    (let [l (long (:depth m))
          amax (double (reduce max (map #(Math/pow (double (:pi0 %)) (/ 1.0 l)) (:modes m))))
          p (conj (vec path) :bound)]
      (when-not (> (double b) amax)
        (fail! p b (str "a number above the largest initial a = pi0^(1/L) = " amax)
               (str (path-str p) " is " (show b) " but must be above the largest initial a = pi0^(1/L) = " amax
                    ", or every path would start diverged."))))))

(defn- check-sde-record! [path r _]
  (when (and (contains? r :every-time) (contains? r :points))
    (fail! path (select-keys r [:points :every-time]) "only one of :every-time and :points"
           (str (path-str path) " gives both :points and :every-time, " (show (select-keys r [:points :every-time]))
                "; give only one of them: "
                ":points n (evenly spaced times) or :every-time t."))))

(defn- infer-teacher-kind [t]
  (cond (contains? t :singular-values) :spectral
        (contains? t :matrix) :matrix
        (contains? t :std) :gaussian))

;; ---------------------------------------------------------------------------
;; The schema: every key of every kind, in one place

(def schema
  "Every node of an experiment: its documentation and keys. A key entry is a map:
  :doc, and either :spec (a leaf spec) or :node (a nested node); :required;
  :default (a value) or :default-doc with an internal :default-fn (a default that
  depends on other keys). Dispatch nodes choose their keys by :kind (:common keys
  apply to every kind). Read it with `describe` and `defaults`."
  {:experiment
   {:doc "An experiment: a model trained on a task, everything random derived from :seed."
    :keys [[:seed {:spec ::seed :default 0 :doc "Root seed; data, init and training noise derive from it (Rng/derive)."}]
           [:model {:node :model :required true :doc "The network (see :model)."}]
           [:task {:node :task :required true :doc "The data and loss (see :task)."}]
           [:optimizer {:node :optimizer :doc "How to train (see :optimizer); needed by dlnlab.core/run, ignored by network."}]
           [:steps {:spec ::pos-int :doc "Training steps of :gd, :sgd and :langevin; for :gradient-flow the number of grid intervals of :time (default 100)."}]
           [:time {:spec ::positive :doc "Training time of :gradient-flow."}]
           [:stop {:node :stop :default {} :doc "When a run ends early (see :stop)."}]
           [:record {:node :record :default {} :doc "What a run records and how often (see :record)."}]
           [:name {:spec ::any :doc "A name for the experiment (passed through)."}]
           [:description {:spec ::any :doc "Free text (passed through)."}]
           [:kind {:spec ::experiment-kind :doc "What the experiment is: :network (the default; this map) trains a network; :sde simulates the per-mode SDE ensemble of SCIENCE.md §7 and has the keys of :sde-experiment instead."}]]
    :check check-training!}

   :sde-experiment
   {:doc "An SDE experiment, {:kind :sde :seed n :sde {...}}: an ensemble of the per-mode SDE of SGD in an aligned, balanced deep linear network (SCIENCE.md §7), simulated by dlnlab.sde/simulate with the experiment's :seed. dlnlab.core/run and `dlnlab run` return and write a result of the usual shape (trajectory: statistics over paths per recorded time); sweeps vary keys under :sde, e.g. [:sde :lr]."
    :keys [[:kind {:spec ::sde-kind :required true :doc ":sde. (Without :kind, or with :kind :network, the map is a network experiment: see EXPERIMENT.)"}]
           [:seed {:spec ::seed :default 0 :doc "Root seed: the noise of each (path, mode, step) depends only on it, not on :threads; sweeps derive one per point."}]
           [:sde {:node :sde :required true :doc "The simulation (see :sde)."}]
           [:name {:spec ::any :doc "A name for the experiment (passed through)."}]
           [:description {:spec ::any :doc "Free text (passed through)."}]]}

   :sde
   {:doc "The per-mode SDE ensemble of an :sde experiment: the spec of dlnlab.sde/simulate without :seed (the experiment's :seed is used). Per mode, in the per-layer variable a (pi = a^L) and SDE time t = lr x steps: da = a^(L-1) (s - a^L) dt + sqrt(lr/B) a^(L-1) sqrt(2 (a^L - s)^2 + sigma^2) dW (SCIENCE.md §7). Statistics are of pi over paths."
    :keys [[:modes {:spec ::sde-modes :required true :doc "[{:s s_i :pi0 pi_i(0)} ...]: each mode's target strength and initial strength."}]
           [:depth {:spec ::sde-depth :default 2 :doc "L, the depth of the network the SDE reduces."}]
           [:lr {:spec ::positive :default 0.01 :doc "eta, the learning rate of the SGD it models: the noise scales as lr/B (time is lr x steps)."}]
           [:batch-size {:spec ::positive :default 1 :doc "B, the batch size of the SGD it models (any positive number)."}]
           [:label-noise {:spec ::non-negative :default 0.0 :doc "sigma, the standard deviation of the label noise."}]
           [:paths {:spec ::sde-paths :default 1000 :doc "Independent paths in the ensemble."}]
           [:dt {:spec ::positive :default 0.01 :doc "Integration step, in SDE time."}]
           [:time {:spec ::positive :default 10.0 :doc "SDE time simulated (rounded up to whole record intervals)."}]
           [:scheme {:spec ::sde-scheme :default :euler-maruyama :doc ":euler-maruyama (strong order 1/2), :milstein (1) or :taylor-1.5 (Kloeden-Platen, strong order 1.5)."}]
           [:boundary {:spec ::sde-boundary :default :absorbing :doc "At a = 0: :absorbing (the path stays at 0) or :reflecting."}]
           [:noise {:spec ::boolean :default true :doc "false sets the noise to 0, which gives the gradient-flow ODE."}]
           [:bound {:spec ::positive :default-doc "1000 times the largest of s^(1/L) and pi0^(1/L) over the modes"
                    :doc "A path whose a reaches this counts as diverged (left out of the statistics from then on)."}]
           [:threads {:spec ::sde-threads :default-doc "the number of available processors" :doc "Worker threads; the results do not depend on it."}]
           [:learned-fractions {:spec ::learned-fractions :default [0.5 0.9]
                                :doc "A path has learned mode i at the first time pi_i >= fraction x s_i; one first-passage time per fraction."}]
           [:record {:node :sde-record :default {} :doc "The record grid and what is kept (see :sde-record)."}]]
    :check check-sde!}

   :sde-record
   {:doc "What an :sde experiment records: statistics over paths (mean, std, quantiles, mean diffusion) at :points evenly spaced times or every :every-time, and a few whole paths."
    :keys [[:points {:spec ::record-points :default-doc "101, unless :every-time is given"
                     :default-fn (fn [m _] (when-not (contains? m :every-time) 101))
                     :doc "Recorded times, evenly spaced from 0 to :time."}]
           [:every-time {:spec ::positive :doc "Record every this much SDE time (instead of :points)."}]
           [:paths {:spec ::nat-int :default 8 :doc "Whole paths kept in the trajectory (the first ones)."}]
           [:quantiles {:spec ::quantiles :default [0.05 0.25 0.5 0.75 0.95] :doc "Quantiles of pi over paths recorded at each time."}]]
    :check check-sde-record!}

   :model
   {:doc "A deep linear network; weights are the raw parameters (SCIENCE.md §1)."
    :dispatch :kind
    :common [[:parameterization {:spec ::parameterization :default :standard
                                 :doc "Multipliers of SCIENCE.md §1: :standard (all 1), :mup (first 1/sqrt(D), hidden 1/sqrt(fan-in), last 1/(gamma0 fan-in); lr x gamma0^2 N), :ntk (last 1/(gamma0 sqrt(fan-in D)); lr x gamma0^2 D)."}]
             [:gamma0 {:spec ::positive :default 1.0 :doc "Richness gamma0 of :mup/:ntk (unused by :standard)."}]
             [:init {:node :init :default {:kind :gaussian} :doc "How the weights start (see :init)."}]]
    :kinds
    {:chain {:doc "f(x) = W_L ... W_1 x, W_l of d_l rows and d_(l-1) columns."
             :keys [[:widths {:spec ::widths :doc "[d0 d1 ... dL]; d0 and dL must match the task's input and output sizes."}]
                    [:depth {:spec ::pos-int :doc "L, the number of weight matrices (with :width, instead of :widths)."}]
                    [:width {:spec ::pos-int :doc "N, every hidden width (needed when :depth > 1)."}]]
             :check check-shape!}
     :multi-pathway {:doc "K separate chains of the same depth with summed outputs: f(x) = sum_k W_L^k ... W_1^k x."
                     :keys [[:pathways {:spec ::pos-int :required true :doc "K, the number of pathways."}]
                            [:widths {:spec ::widths :doc "[d0 ... dL] for every pathway (instead of :depth and :width)."}]
                            [:depth {:spec ::pos-int :doc "L, weight matrices per pathway."}]
                            [:width {:spec ::pos-int :doc "N, every hidden width (needed when :depth > 1)."}]]
                     :check check-shape!}
     :residual {:doc "h0 = W_in x; h_l = h_(l-1) + (beta0/sqrt L) W_l h_(l-1), l = 1..L; f = W_out h_L."
                :keys [[:depth {:spec ::pos-int :required true :doc "L, the number of residual blocks."}]
                       [:width {:spec ::pos-int :required true :doc "N, the width of the residual stream."}]
                       [:beta0 {:spec ::positive :default 1.0 :doc "Branch scale beta0 (each block is scaled by beta0/sqrt L)."}]]}}
    :ctx (fn [m] {:model-kind (:kind m) :parameterization (:parameterization m)
                  :pathways (:pathways m 1)})}

   :init
   {:doc "Initial weights. Strength-based inits (:balanced-aligned, :pathway-split) set the EFFECTIVE factors alpha_l W_l; the others set the raw weights W_l."
    :dispatch :kind
    :kinds
    {:gaussian {:doc "Independent N(0, std^2) raw weights."
                :keys [[:std {:spec ::std
                              :default-doc ":fan-in (1/sqrt(fan-in) per layer) under :standard; 1.0 under :mup and :ntk (SCIENCE.md §1)"
                              :default-fn (fn [_ ctx] (if (= :standard (:parameterization ctx)) :fan-in 1.0))
                              :doc "Standard deviation of every raw weight, or :fan-in for 1/sqrt(columns) per layer."}]]}
     :orthogonal {:doc "Each W semi-orthogonal (orthonormal columns or rows, from the QR of seeded Gaussians), times :scale."
                  :keys [[:scale {:spec ::finite :default 1.0 :doc "c: every singular value of every raw W is c."}]]}
     :scaled-identity {:doc "alpha times the rectangular identity on every layer, last layer zero ([EOS]). For :residual: W_in and blocks alpha I, W_out zero."
                       :keys [[:alpha {:spec ::finite :default 0.1 :doc "alpha of the raw weights."}]]}
     :balanced-aligned {:doc "W_l = Q_(l+1) diag(a) Q_l^T with Q_(L+1) = U, Q_1 = V from the target's SVD, a_i = pi_i^(1/L) (SCIENCE.md §4), as effective factors. Multi-pathway: pathway k gets pi_i * share_ki. Residual: blocks zero, W_in, W_out a balanced depth-2 chain."
                        :keys [[:strengths {:spec ::strengths :doc "pi_i, the end-to-end strength of mode i (modes of the target, largest singular value first)."}]
                               [:scale {:spec ::non-negative :doc "pi for every mode the narrowest layer allows (instead of :strengths)."}]
                               [:shares {:spec ::shares :doc "Multi-pathway only: one vector per pathway of per-mode shares summing to 1 over pathways. Default: equal shares 1/K."}]
                               [:hidden-basis {:spec ::hidden-basis :default :random :doc "Hidden Q_l: seeded random semi-orthogonal, or the first columns of the identity."}]]
                        :check check-balanced!}
     :pathway-split {:doc "Multi-pathway only: pathway k balanced and aligned with strength pi_i * share_ki of mode i."
                     :keys [[:strengths {:spec ::strengths :required true :doc "pi_i, the total strength of mode i."}]
                            [:shares {:spec ::shares :required true :doc "[[share of mode i in pathway 0 ...] [.. pathway 1 ..] ...], summing to 1 over pathways for each mode."}]
                            [:hidden-basis {:spec ::hidden-basis :default :random :doc "Hidden Q_l: seeded random semi-orthogonal, or the first columns of the identity."}]]
                     :check check-pathway-split!}
     :given {:doc "Explicit raw weights in the form dlnlab.core/weights returns."
             :keys [[:weights {:spec ::weights :required true :doc "Chain/multi-pathway: [[W_1 ... W_L] ...] one vector per pathway, W_l row-major with d_l rows of d_(l-1) numbers; residual: {:in W_in :blocks [W_1 ...] :out W_out}."}]]}}}

   :task
   {:doc "The data and the loss, a function of the end-to-end matrix F (SCIENCE.md §2)."
    :dispatch :kind
    :kinds
    {:matrix-factorization
     {:doc "l = 1/2 ||F - M||_F^2 (whitened inputs)."
      :keys [[:matrix {:spec ::matrix :doc "M explicitly, row-major (dout rows of din numbers)."}]
             [:singular-values {:spec ::singular-values :doc "s_1, s_2, ... of M (instead of :matrix); M = sum_i s_i u_i v_i^T."}]
             [:dims {:spec ::dims :default-doc "[k k], k = number of singular values"
                     :default-fn (fn [m _] (when (:singular-values m) [(count (:singular-values m)) (count (:singular-values m))]))
                     :doc "[dout din] of M (with :singular-values)."}]
             [:basis {:spec ::basis :default-doc ":identity (with :singular-values)"
                      :default-fn (fn [m _] (when (:singular-values m) :identity))
                      :doc "u_i, v_i: columns of the identity, or seeded random orthonormal."}]]
      :check check-matrix-factorization!}
     :teacher-student
     {:doc "x ~ N(0, Sigma), y = M x + eps, eps ~ N(0, sigma^2 I); l = 1/(2n) sum_i ||F x_i - y_i||^2."
      :keys [[:input-dim {:spec ::pos-int
                          :default-doc "the teacher :matrix's columns (required otherwise)"
                          :default-fn (fn [m _] (second (teacher-dims (:teacher m))))
                          :doc "D, the input dimension."}]
             [:output-dim {:spec ::pos-int
                           :default-doc "the teacher :matrix's rows (required otherwise)"
                           :default-fn (fn [m _] (first (teacher-dims (:teacher m))))
                           :doc "m, the output dimension."}]
             [:samples {:spec ::pos-int :required true :doc "n, training samples."}]
             [:test-samples {:spec ::nat-int :default-doc "the same as :samples"
                             :default-fn (fn [m _] (:samples m))
                             :doc "Held-out samples (0: no test set)."}]
             [:covariance {:node :covariance :default {:power-law 0.0} :doc "Sigma, diagonal (see :covariance); default identity."}]
             [:teacher {:node :teacher :default {:kind :gaussian} :doc "The teacher M (see :teacher)."}]
             [:label-noise {:spec ::non-negative :default 0.0 :doc "sigma, the standard deviation of the label noise."}]]
      :check check-teacher-student!}
     :dataset
     {:doc "Explicit samples, rows are samples: inline or CSV files (numbers, comma-separated, optional header row)."
      :keys [[:x {:spec ::matrix :doc "Inputs, n rows of D numbers."}]
             [:y {:spec ::matrix :doc "Outputs, n rows of m numbers."}]
             [:x-file {:spec ::file :doc "CSV file of the inputs (instead of :x)."}]
             [:y-file {:spec ::file :doc "CSV file of the outputs (instead of :y)."}]
             [:test-x {:spec ::matrix :doc "Held-out inputs."}]
             [:test-y {:spec ::matrix :doc "Held-out outputs."}]
             [:test-x-file {:spec ::file :doc "CSV file of held-out inputs."}]
             [:test-y-file {:spec ::file :doc "CSV file of held-out outputs."}]
             [:test-fraction {:spec ::fraction
                              :default-doc "0.0 (when no explicit test set is given)"
                              :default-fn (fn [m _] (when-not (or (:test-x m) (:test-x-file m)) 0.0))
                              :doc "Fraction of the samples held out as a test set, chosen by a seeded shuffle."}]]
      :check check-dataset!}}}

   :optimizer
   {:doc "The training dynamics. Every learning rate is multiplied by the parameterization's learning-rate multiplier (SCIENCE.md §1); time is that effective lr times steps."
    :dispatch :kind
    :kinds
    {:gd {:doc "Full-batch gradient descent: theta <- theta - lr grad l."
          :keys [[:lr {:spec ::positive :required true :doc "The learning rate eta."}]]}
     :sgd {:doc "Minibatch SGD on a sample task (:teacher-student or :dataset)."
           :keys [[:lr {:spec ::positive :required true :doc "The learning rate eta."}]
                  [:batch-size {:spec ::pos-int :required true :doc "B, samples per step."}]
                  [:sampling {:spec ::sampling :default :with-replacement
                              :doc ":with-replacement (B uniform draws per step), :epochs (a fresh shuffle each pass, the last batch of a pass may be smaller), :one-pass (fresh samples from the teacher every step; :teacher-student only)."}]]}
     :gradient-flow {:doc "d theta/dt = -grad l by adaptive Dormand-Prince 5(4), steps capped at 3/sharpness so stiff directions are resolved; recorded on the grid t_k = k :time/:steps."
                     :keys [[:rtol {:spec ::positive :default 1e-6 :doc "Relative tolerance of the local error."}]
                            [:atol {:spec ::positive :default 1e-9 :doc "Absolute tolerance of the local error."}]
                            [:h0 {:spec ::positive :default 1e-3 :doc "First trial step."}]]}
     :langevin {:doc "theta <- theta - lr grad l + sqrt(2 lr T) xi, xi standard normal from the seed."
                :keys [[:lr {:spec ::positive :required true :doc "The learning rate eta."}]
                       [:temperature {:spec ::non-negative :required true :doc "T (0 gives gradient descent)."}]]}}}

   :stop
   {:doc "Early ends of a run. A loss that is NaN, infinite or above :loss-above ends it with status :diverged; below :loss-below with status :stopped. Everything recorded so far is kept."
    :keys [[:loss-below {:spec ::non-negative :doc "Stop once the training loss falls below this."}]
           [:loss-above {:spec ::positive :default 1e12 :doc "Divergence bound on the training loss."}]]}

   :record
   {:doc "What a run records: the :metrics every :every steps (a metric's own {:every n} overrides, e.g. {:sharpness {:every 50}}; a row is recorded wherever any metric is due, the others nil there), and always at the first and last step. Per-metric options go under the metric's name."
    :keys (into [[:every {:spec ::pos-int :default 1 :doc "Record every this many steps (gradient flow: grid points)."}]
                 [:metrics {:spec ::metrics :default [:loss] :doc "The metrics recorded (dlnlab.metrics/catalog describes each)."}]
                 [:final-weights {:spec ::boolean :default true :doc "Put the final weights in the result's :final."}]]
                (for [m metric-names]
                  [m {:spec ::metric-options :doc (str "Options of " (pr-str m) " (see dlnlab.metrics/catalog), e.g. {:every 50}.")}]))
    :check (fn [path r _]
             (doseq [m metric-names
                     :when (and (contains? r m) (not (some #{m} (:metrics r))))]
               (fail! (conj (vec path) m) (get r m) (str "options only for metrics listed in " (pr-str (conj (vec path) :metrics)))
                      (str (path-str (conj (vec path) m)) " gives options for " (pr-str m) " but " (pr-str (conj (vec path) :metrics))
                           " does not record it; add " (pr-str m) " to " (pr-str (conj (vec path) :metrics)) "."))))}

   :covariance
   {:doc "Input covariance Sigma of teacher-student data, diagonal in the standard basis."
    :keys [[:eigenvalues {:spec ::eigenvalues :doc "lambda_1 ... lambda_D."}]
           [:power-law {:spec ::finite :doc "alpha: lambda_k = k^-alpha, k = 1..D (0: identity)."}]]
    :check check-covariance!}

   :teacher
   {:doc "The teacher matrix M (output-dim x input-dim) of teacher-student data. :kind may be left out when :singular-values or :matrix is given."
    :dispatch :kind
    :infer infer-teacher-kind
    :kinds
    {:gaussian {:doc "Entries N(0, std^2)."
                :keys [[:std {:spec ::std :default :fan-in :doc "Entry standard deviation, or :fan-in for 1/sqrt(input-dim)."}]]}
     :spectral {:doc "M = sum_i s_i u_i v_i^T."
                :keys [[:singular-values {:spec ::singular-values :required true :doc "s_1, s_2, ..."}]
                       [:basis {:spec ::basis :default :identity :doc "u_i, v_i: columns of the identity, or seeded random orthonormal."}]]}
     :matrix {:doc "M given explicitly, row-major."
              :keys [[:matrix {:spec ::matrix :required true :doc "M, output-dim rows of input-dim numbers."}]]
              :check (fn [path t _] (ragged-check! (conj (vec path) :matrix) (:matrix t)))}}}})

;; ---------------------------------------------------------------------------
;; The walker

(declare walk)

(defn- leaf-check!
  "Checks value v at path against leaf spec sp; throws naming the innermost bad part."
  [path sp v]
  (when-not (s/valid? sp v)
    (let [problems (::s/problems (s/explain-data sp v))
          p (first (sort-by #(- (count (:in %))) problems))
          in (vec (:in p))
          via (:via p)
          text (if (empty? in)
                 (spec-text sp)
                 (or (some spec-text (reverse via)) (spec-text sp)))
          full (into (vec path) in)]
      (fail! full (if (empty? in) v (:val p)) text
             (str (path-str full) " must be " text ", got " (show (if (empty? in) v (:val p))) ".")))))

(defn- node-label [node-id kind]
  (if kind (str "a " (pr-str kind) " " (name node-id)) (str "the " (name node-id))))

(defn- resolve-kind [node-id node path v]
  (let [kinds (keys (:kinds node))
        k (if (contains? v :kind) (:kind v) ((or (:infer node) (constantly nil)) v))]
    (cond
      (and (nil? k) (not (contains? v :kind)))
      (fail! (conj (vec path) :kind) nil (vec kinds)
             (str (path-str path) " needs :kind, one of " (key-list kinds) "."))
      (contains? (:kinds node) k) k
      :else
      (let [dym (did-you-mean k kinds)]
        (fail! (conj (vec path) :kind) k (vec kinds)
               (str (path-str (conj (vec path) :kind)) " must be one of " (key-list kinds) ", got " (show k) "."
                    (when dym (str " Did you mean " (pr-str dym) "?"))
                    " (The " (name node-id) " kinds are listed by dlnlab.spec/describe.)")
               (when dym {:did-you-mean dym}))))))

(defn- walk
  "Validates map v of node node-id at path and returns it with defaults filled."
  [node-id path v ctx]
  (let [node (get schema node-id)]
    (when-not (map? v)
      (fail! path v (str "a " (name node-id) " map")
             (str (path-str path) " must be a " (name node-id) " map, got " (show v) ". The " (name node-id)
                  " is: " (:doc node) " See dlnlab.spec/describe for its keys.")))
    (let [kind (when (:dispatch node) (resolve-kind node-id node path v))
          kind-node (get-in node [:kinds kind])
          entries (concat (when kind [[:kind {:spec ::any}]]) (:keys node) (:keys kind-node) (:common node))
          allowed (mapv first entries)
          allowed? (set allowed)]
      (doseq [k (keys v)]
        (when-not (allowed? k)
          (let [dym (did-you-mean k allowed)
                p (conj (vec path) k)]
            (fail! p (get v k) allowed
                   (str (path-str p) ": unknown key " (show k) " in " (node-label node-id kind) "."
                        (when dym (str " Did you mean " (pr-str dym) "?"))
                        " Allowed keys here: " (key-list allowed) ".")
                   (when dym {:did-you-mean dym})))))
      (doseq [[k e] entries]
        (when (and (:required e) (not (contains? v k)))
          (fail! (conj (vec path) k) nil (if (:spec e) (spec-text (:spec e)) (str "a " (name (:node e)) " map"))
                 (str (path-str path) " needs " (pr-str k) ": " (:doc e)))))
      (doseq [[k e] entries
              :when (and (:spec e) (contains? v k))]
        (leaf-check! (conj (vec path) k) (:spec e) (get v k)))
      (let [filled (reduce (fn [m [k e]]
                             (cond
                               (or (contains? m k) (:node e)) m
                               (contains? e :default) (assoc m k (:default e))
                               (:default-fn e) (let [d ((:default-fn e) m ctx)]
                                                 (if (nil? d) m (assoc m k d)))
                               :else m))
                           (if kind (assoc v :kind kind) v)
                           entries)
            child-ctx (merge ctx (when-let [f (or (:ctx kind-node) (:ctx node))] (f filled)))
            result (reduce (fn [m [k e]]
                             (if-let [child (:node e)]
                               (cond
                                 (contains? m k) (assoc m k (walk child (conj (vec path) k) (get m k) child-ctx))
                                 (contains? e :default) (assoc m k (walk child (conj (vec path) k) (:default e) child-ctx))
                                 :else m)
                               m))
                           filled
                           entries)]
        (doseq [chk [(:check node) (:check kind-node)] :when chk]
          (chk path result ctx))
        result))))

;; ---------------------------------------------------------------------------
;; Public API

(defn normalize-model
  "Validates a :model map and returns it with every default filled (see `schema`).
  Errors name paths under [:model]. Throws ex-info as `validate!` does."
  [model]
  (walk :model [:model] model {}))

(defn normalize-task
  "Validates a :task map and returns it with every default filled (see `schema`).
  Errors name paths under [:task]. Throws ex-info as `validate!` does."
  [task]
  (walk :task [:task] task {}))

(defn- check-kind!
  "An experiment's :kind, when given, is one of `experiment-kinds`."
  [experiment]
  (when (and (map? experiment) (contains? experiment :kind))
    (let [k (:kind experiment)]
      (when-not (some #{k} experiment-kinds)
        (let [dym (did-you-mean k experiment-kinds)]
          (fail! [:kind] k experiment-kinds
                 (str "[:kind] must be one of " (key-list experiment-kinds) ", got " (show k) "."
                      (when dym (str " Did you mean " (pr-str dym) "?"))
                      " Leave it out for a network experiment.")
                 (when dym {:did-you-mean dym})))))))

(defn- check-sde-placement!
  "Simulation keys of an :sde experiment belong under :sde, its seed at the top."
  [experiment]
  (let [sde-keys (set (map first (get-in schema [:sde :keys])))
        top-keys (set (map first (get-in schema [:sde-experiment :keys])))]
    (doseq [k (keys experiment)
            :when (and (sde-keys k) (not (top-keys k)))]
      (fail! [k] (get experiment k) "a key of :sde"
             (str (path-str [k]) ": " (pr-str k) " belongs under :sde in an :sde experiment, "
                  "e.g. {:kind :sde :seed 0 :sde {" (pr-str k) " " (show (get experiment k)) " ...}}.")))
    (when (and (map? (:sde experiment)) (contains? (:sde experiment) :seed))
      (fail! [:sde :seed] (get-in experiment [:sde :seed]) "the top-level :seed"
             (str "[:sde :seed]: the seed of an :sde experiment is its top-level :seed (sweeps derive it per point); "
                  "move it there: {:kind :sde :seed " (show (get-in experiment [:sde :seed])) " :sde {...}}.")))))

(defn normalize
  "Validates an experiment and returns it with every default filled (see
  `schema`, `defaults`, `describe`). A network experiment (no :kind, or :kind
  :network): :seed, the model's :parameterization, :gamma0, :init and the init's
  options, the task's options, the training keys. An :sde experiment (:kind
  :sde): :seed and the simulation keys under :sde (node :sde-experiment).
  :name and :description are passed through unchanged. Idempotent.
  Throws ex-info {:path :value :allowed (:did-you-mean)} naming the first problem."
  [experiment]
  (check-kind! experiment)
  (if (and (map? experiment) (= :sde (:kind experiment)))
    (do (check-sde-placement! experiment)
        (walk :sde-experiment [] experiment {}))
    (walk :experiment [] experiment {})))

(defn validate!
  "Validates an experiment and returns it unchanged.
  Throws ex-info whose message names the key path, the bad value and what is
  allowed, with data {:path [..] :value v :allowed a} (and :did-you-mean for near
  misses of unknown keys and kinds)."
  [experiment]
  (normalize experiment)
  experiment)

(defn- describe-entry [[k e]]
  [k (cond-> {:doc (:doc e)
              :allowed (if (:spec e) (spec-text (:spec e)) (str "a " (name (:node e)) " map (see " (:node e) ")"))}
       (:required e) (assoc :required true)
       (contains? e :default) (assoc :default (:default e))
       (:default-doc e) (assoc :default-doc (:default-doc e)))])

(defn- describe-keys [entries] (into (array-map) (map describe-entry) entries))

(defn describe
  "Every part of an experiment as plain data, for people and the CLI: for each node
  (:experiment :model :init :task :covariance :teacher :optimizer :stop :record,
  and for :sde experiments :sde-experiment :sde :sde-record) its :doc and :keys, and for
  nodes chosen by :kind the :kinds with their :doc and :keys. Each key maps to
  {:doc :allowed (:required true) (:default v) (:default-doc text)}: :default is a
  literal default, :default-doc says in words how a default that depends on other
  keys (or on the parameterization) is chosen."
  []
  (into (sorted-map)
        (for [[id node] schema]
          [id (cond-> {:doc (:doc node)}
                (:keys node) (assoc :keys (describe-keys (:keys node)))
                (:common node) (assoc :common-keys (describe-keys (:common node)))
                (:kinds node) (assoc :kinds (into (sorted-map)
                                                  (for [[k kn] (:kinds node)]
                                                    [k {:doc (:doc kn) :keys (describe-keys (:keys kn))}]))))])))

(def defaults
  "The literal defaults, {node {key default}} for plain nodes and {node {kind {key
  default}}} for kind-dispatched ones (common keys under :common). Defaults that
  depend on other keys are listed by `describe`."
  (into (sorted-map)
        (for [[id node] schema]
          (let [lit (fn [entries] (into {} (for [[k e] entries :when (contains? e :default)] [k (:default e)])))]
            [id (if (:kinds node)
                  (into (cond-> {} (:common node) (assoc :common (lit (:common node))))
                        (for [[k kn] (:kinds node)] [k (lit (:keys kn))]))
                  (lit (:keys node)))]))))
