(ns dlnlab.spec
  "Experiments as data: the leaf specs of an experiment's values, the schema
  walker that validates an experiment with person-readable errors and fills its
  defaults, and `describe`.

  Every kind brings its own keys as a dlnlab.kind/schema method in the namespace
  that implements it (optimizers in dlnlab.optim, models and inits in
  dlnlab.model, tasks in dlnlab.task, the :sde experiment in dlnlab.sde); this
  namespace defines the frame of a network experiment (:experiment, :stop,
  :record). `schema` assembles the registered methods, and `validate!`,
  `normalize`, `defaults` and `describe` are all driven by it, so the CLI's
  `describe` prints exactly what validation enforces. Require dlnlab.kinds (or
  dlnlab.core) to register every built-in kind.

  Errors are ex-info whose message names the key path, the bad value and what is
  allowed, with data {:path [..] :value v :allowed a}; unknown keys (and unknown
  :kind values) also carry :did-you-mean for near misses."
  (:require [clojure.spec.alpha :as s]
            [clojure.string :as str]
            [dlnlab.error :as error]
            [dlnlab.kind :as kind]
            [dlnlab.numeric :as numeric]
            [dlnlab.spec.memo :as memo]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------------------
;; Leaf predicates and specs

(def finite-number?
  "True when x is a number that is neither NaN nor infinite (dlnlab.numeric/finite?)."
  numeric/finite?)

(defn- positive-number? [x] (and (finite-number? x) (> (double x) 0.0)))
(defn- non-negative-number? [x] (and (finite-number? x) (>= (double x) 0.0)))
(defn- fraction? [x] (and (finite-number? x) (>= (double x) 0.0) (< (double x) 1.0)))
(defn- non-blank-string? [x] (and (string? x) (not (str/blank? x))))

;; clojure.spec's coll-of expands to boxed arithmetic on :min-count; these forms
;; touch no arrays, so boxed-math warnings are switched off around them.
(set! *unchecked-math* false)
(s/def ::any any?)
(s/def ::seed int?)
;; sizes become array lengths and Java ints: at most Integer/MAX_VALUE, checked
;; before any cast; :steps is a long
(s/def ::pos-int (s/and pos-int? #(<= (long %) Integer/MAX_VALUE)))
(s/def ::steps pos-int?)
(s/def ::nat-int nat-int?)
(s/def ::finite finite-number?)
(s/def ::positive positive-number?)
(s/def ::non-negative non-negative-number?)
(s/def ::fraction fraction?)
(s/def ::file non-blank-string?)
(s/def ::widths (s/coll-of ::pos-int :kind sequential? :min-count 2))
(s/def ::parameterization #{:standard :mup :ntk})
(s/def ::basis #{:identity :random})
(s/def ::normals #{:ziggurat :box-muller})
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
(s/def ::factor-form #{:raw :scaled :effective})
(declare experiment-kinds kinds-of metric-names)
(s/def ::metric #(boolean (some #{%} (metric-names))))
(s/def ::metrics (s/coll-of ::metric :kind vector? :distinct true))
(s/def ::experiment-kind #(boolean (some #{%} (experiment-kinds))))
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
   ::pos-int "a positive integer up to 2147483647"
   ::steps "a positive integer"
   ::nat-int "a non-negative integer"
   ::finite "a finite number (NaN and Infinity are not allowed)"
   ::positive "a positive finite number"
   ::non-negative "a non-negative finite number"
   ::fraction "a number in [0, 1)"
   ::file "a file name (a non-blank string)"
   ::widths "a vector [d0 d1 ... dL] of at least two positive integers up to 2147483647"
   ::parameterization "one of :standard, :mup, :ntk"
   ::basis "one of :identity, :random"
   ::normals "one of :ziggurat, :box-muller"
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
   ::factor-form "one of :raw (W), :scaled (alpha W), :effective (alpha W, plus I for identity-flagged factors)"
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


(defn allowed-text
  "What leaf spec sp allows, in words (as error messages and describe say it)."
  [sp]
  (case sp
    ::experiment-kind (str "one of " (str/join ", " (map pr-str (experiment-kinds))))
    ::metric (str "a metric, one of " (str/join ", " (map pr-str (metric-names))))
    ::metrics (str "a vector of distinct metrics, each one of " (str/join ", " (map pr-str (metric-names))))
    (spec-text sp)))

(defn path-str
  "A key path as messages name it: [:a :b], or \"the experiment\" for []."
  [path]
  (if (empty? path) "the experiment" (pr-str (vec path))))

(defn key-list
  "Keys (or kinds) as messages list them: \":a, :b\"."
  [ks] (str/join ", " (map pr-str ks)))

;; ---------------------------------------------------------------------------
;; Cross-key checks (run on a node once its leaves are valid, its defaults filled
;; and its nested nodes normalized)

(defn ragged-check!
  "Every row of the matrix at (path) has the length of row 0."
  [path m]
  (let [c (count (first m))]
    (doseq [[i row] (map-indexed vector m)]
      (when (not= c (count row))
        (error/fail! :invalid-experiment
                     (str (path-str (conj (vec path) i)) " has " (count row) " entries but row 0 has " c
                     "; every row of a matrix must have the same length.")
                     {:path (conj (vec path) i) :value row :allowed (str "a row of " c " numbers")})))))

(defn exclusive!
  "Exactly one of the alternatives (each a set of keys, the first key of each being
  the one that selects it) is present in m."
  [path m alternatives what]
  (let [present (filter #(contains? m (first %)) alternatives)]
    (cond
      (empty? present)
      (error/fail! :invalid-experiment
                   (str (path-str path) " needs " what ".")
                   {:path path :value m :allowed (str/join " or " (map #(key-list %) alternatives))})
      (> (count present) 1)
      (error/fail! :invalid-experiment
                   (str (path-str path) " gives both " (pr-str (first (first present))) " and "
                   (pr-str (first (second present))) "; give only one of them: " what ".")
                   {:path path :value m :allowed (str "only one of " (key-list (map first alternatives)))}))))

(defn only-with!
  "Keys ks are allowed in m only when key base is present."
  [path m ks base]
  (doseq [k ks]
    (when (and (contains? m k) (not (contains? m base)))
      (error/fail! :invalid-experiment
                   (str (path-str (conj (vec path) k)) " only applies together with " (pr-str base)
                   ", which is not given.")
                   {:path (conj (vec path) k) :value (get m k) :allowed (str "only together with " (pr-str base))}))))

(defn- check-training!
  "Cross-key rules of a trainable experiment (only when :optimizer is given): an
  optimizer whose schema says :duration :time runs for :time, the others for
  :steps."
  [path e _]
  (when-let [opt (:optimizer e)]
    (let [k (:kind opt)
          by-time (filterv #(= :time (:duration (kind/schema :optimizer %))) (kinds-of :optimizer))
          at (fn [& ks] (into (vec path) ks))]
      (if (some #{k} by-time)
        (when-not (contains? e :time)
          (error/fail! :invalid-experiment
                       (str "The experiment trains with " (pr-str k) " and needs :time, the training time (e.g. :time 10.0).")
                       {:path (at :time) :value nil :allowed "a positive number"}))
        (do
          (when-not (contains? e :steps)
            (error/fail! :invalid-experiment
                         (str "The experiment trains with " (pr-str k) " and needs :steps, the number of steps (e.g. :steps 1000).")
                         {:path (at :steps) :value nil :allowed "a positive integer"}))
          (when (contains? e :time)
            (error/fail! :invalid-experiment
                         (str "[:time] applies to " (key-list by-time) "; " (pr-str k) " runs for :steps.")
                         {:path (at :time) :value (:time e) :allowed (str "only with " (str/join " or " (map pr-str by-time)))})))))))

;; ---------------------------------------------------------------------------
;; The frame of a network experiment (its model, task and optimizer kinds are
;; defined by dlnlab.model, dlnlab.task and dlnlab.optim)

(defmethod kind/schema [:experiment :network] [_ _]
  {:id :experiment
   :doc "An experiment: a model trained on a task, everything random derived from :seed."
   :keys [[:seed {:spec ::seed :default 0 :doc "Root seed; data, init and training noise derive from it (Rng/derive)."}]
         [:model {:node :model :required true :doc "The network (see :model)."}]
         [:task {:node :task :required true :doc "The data and loss (see :task)."}]
         [:optimizer {:node :optimizer :doc "How to train (see :optimizer); needed by dlnlab.core/run, ignored by network."}]
         [:steps {:spec ::steps :doc "Training steps of :gd, :sgd and :langevin; for :gradient-flow the number of grid intervals of :time (default 100)."}]
         [:time {:spec ::positive :doc "Training time of :gradient-flow."}]
         [:stop {:node :stop :default {} :doc "When a run ends early (see :stop)."}]
         [:record {:node :record :default {} :doc "What a run records and how often (see :record)."}]
         [:seeds {:node :seeds :doc "Seeds by role: fix the data, the initialization or the batch order on its own (see :seeds)."}]
         [:schedule {:checked-by :schedule :doc "Events during training: set optimizer keys, learning-rate shapes, switch optimizer, perturb the weights (see :schedule)."}]
         [:compare {:checked-by :compare :doc "Variants trained in lockstep from the same init and data (see :compare)."}]
         [:name {:spec ::any :doc "A name for the experiment (passed through)."}]
         [:description {:spec ::any :doc "Free text (passed through)."}]
         [:kind {:spec ::experiment-kind :doc "What the experiment is: :network (the default; this map) trains a network; :sde simulates the per-mode SDE ensemble of doc/science.md §7 and has the keys of :sde-experiment instead."}]]
   :ctx (fn [e] {:task-kind (get-in e [:task :kind])})
   :check check-training!})

(defmethod kind/schema [:stop nil] [_ _]
  {:doc "Early ends of a run. A loss that is NaN, infinite or above :loss-above ends it with status :diverged; below :loss-below with status :stopped. Everything recorded so far is kept."
   :keys [[:loss-below {:spec ::non-negative :doc "Stop once the training loss falls below this."}]
         [:loss-above {:spec ::positive :default 1e12 :doc "Divergence bound on the training loss."}]]})

(def ^:private registered-memo "[method-table {node kinds}]" (atom [nil {}]))

(defn- registered-kinds
  "The kinds of node registered as dlnlab.kind/schema methods, read from the
  method table itself (so a schema method may call it while `schema` is being
  assembled): those in the node's :kind-order first, then the others by name."
  [node]
  (let [table (methods kind/schema)
        [t known] @registered-memo]
    (or (when (identical? t table) (get known node))
        (let [ks (keep (fn [[n k]] (when (and (= node n) k) k)) (keys table))
              order (when (contains? table [node nil]) (:kind-order (kind/schema node nil)))
              v (vec (concat (filter (set ks) order) (sort (remove (set order) ks))))]
          (reset! registered-memo [table (assoc (if (identical? t table) known {}) node v)])
          v))))

(defn metric-names
  "Every metric a run can record: the kinds of the :metric node, one per
  dlnlab.kind/schema [:metric m] method (dlnlab.metrics defines the built-in
  ones beside their `measure` methods), in the node's :kind-order."
  []
  (registered-kinds :metric))

(defmethod kind/schema [:record nil] [_ _]
  {:doc "What a run records: the :metrics every :every steps (a metric's own {:every n} overrides, e.g. {:sharpness {:every 50}}; a row is recorded wherever any metric is due, the others nil there), and always at the first and last step. Per-metric options go under the metric's name."
   :keys (into [[:every {:spec ::pos-int :default 1 :doc "Record every this many steps (gradient flow: grid points)."}]
          [:metrics {:spec ::metrics :default [:loss] :doc "The metrics recorded (dlnlab.metrics/catalog describes each)."}]
          [:final-weights {:spec ::boolean :default true :doc "Put the final weights in the result's :final."}]]
         (for [m (metric-names)]
           [m {:node :metric :node-kind m :doc (str "Options of " (pr-str m) " (see dlnlab.metrics/catalog), e.g. {:every 50}.")}]))
   :check (fn [path r _]
          (doseq [m (metric-names)
                  :when (and (contains? r m) (not (some #{m} (:metrics r))))]
            (error/fail! :invalid-experiment
                         (str (path-str (conj (vec path) m)) " gives options for " (pr-str m) " but " (pr-str (conj (vec path) :metrics))
                         " does not record it; add " (pr-str m) " to " (pr-str (conj (vec path) :metrics)) ".")
                         {:path (conj (vec path) m) :value (get r m) :allowed (str "options only for metrics listed in " (pr-str (conj (vec path) :metrics)))})))})

;; ---------------------------------------------------------------------------
;; The schema, assembled from the dlnlab.kind/schema methods

(defn- ordered-kinds
  "The kinds map of a node in its :kind-order, then any other kinds by name."
  [{:keys [kind-order kinds]}]
  (let [order (concat (filter #(contains? kinds %) kind-order)
                      (sort (remove (set kind-order) (keys kinds))))]
    (apply array-map (mapcat (fn [k] [k (get kinds k)]) order))))

(defn- assemble
  "{node-id node} from the method table of dlnlab.kind/schema: [node nil]
  methods give nodes, [node kind] methods their :kinds, and [:experiment kind]
  methods whole root nodes named by their :id."
  [table]
  (let [nodes (reduce (fn [acc [[node k] f]]
                        (let [v (f node k)]
                          (cond
                            (nil? k) (update acc node merge v)
                            (= :experiment node) (assoc acc (:id v) (dissoc v :id :pre-check))
                            :else (assoc-in acc [node :kinds k] v))))
                      {} table)]
    (into {} (map (fn [[id n]] [id (cond-> (dissoc n :kind-order) (:kinds n) (assoc :kinds (ordered-kinds n)))]))
          nodes)))

(def ^:private assembled (atom [nil nil]))

(defn schema
  "Every node of an experiment, {node-id node}, as the dlnlab.kind/schema methods
  registered so far define it (dlnlab.kinds loads the built-in ones). A node is
  {:doc, :keys [[key entry] ...] or :dispatch :kind with :kinds {kind {:doc :keys}}
  (and :common keys)}; a key entry is a map: :doc, and either :spec (a leaf
  spec) or :node (a nested node); :required; :default (a value) or :default-doc
  with an internal :default-fn. Read it with `describe` and `defaults`."
  []
  (let [table (methods kind/schema)
        [t nodes] @assembled]
    (if (identical? t table)
      nodes
      (let [nodes (assemble table)]
        (reset! assembled [table nodes])
        nodes))))

(defn kinds-of
  "The registered kinds of node (e.g. :optimizer), in its :kind-order."
  [node]
  (vec (keys (get-in (schema) [node :kinds]))))

(defn experiment-kinds
  "The values of an experiment's :kind, one per registered experiment kind:
  :network (also when :kind is absent) trains a network; :sde simulates the
  per-mode SDE ensemble (dlnlab.sde)."
  []
  (let [ks (registered-kinds :experiment)]
    (vec (sort-by #(if (= :network %) "" (name %)) ks))))

;; ---------------------------------------------------------------------------
;; The walker

(declare walk)

(defn check-leaf!
  "Checks value v at path against leaf spec sp (e.g. ::seed); throws the ex-info
  of an invalid experiment naming the innermost bad part."
  [path sp v]
  (when-not (s/valid? sp v)
    (let [problems (::s/problems (s/explain-data sp v))
          p (first (sort-by #(- (count (:in %))) problems))
          in (vec (:in p))
          via (:via p)
          text (if (empty? in)
                 (allowed-text sp)
                 (or (some spec-text (reverse via)) (allowed-text sp)))
          full (into (vec path) in)]
      (error/fail! :invalid-experiment
                   (str (path-str full) " must be " text ", got " (error/show (if (empty? in) v (:val p))) ".")
                   {:path full :value (if (empty? in) v (:val p)) :allowed text}))))

(defn- node-label [node-id kind]
  (if kind (str "a " (pr-str kind) " " (name node-id)) (str "the " (name node-id))))

(defn- resolve-kind [node-id node path v]
  (let [kinds (keys (:kinds node))
        k (if (contains? v :kind) (:kind v) ((or (:infer node) (constantly nil)) v))]
    (cond
      (and (nil? k) (not (contains? v :kind)))
      (error/fail! :invalid-experiment
                   (str (path-str path) " needs :kind, one of " (key-list kinds) ".")
                   {:path (conj (vec path) :kind) :value nil :allowed (vec kinds)})
      (contains? (:kinds node) k) k
      :else
      (let [dym (error/did-you-mean k kinds)]
        (error/fail! :invalid-experiment
                     (str (path-str (conj (vec path) :kind)) " must be one of " (key-list kinds) ", got " (error/show k) "."
                     (when dym (str " Did you mean " (pr-str dym) "?"))
                     " (The " (name node-id) " kinds are listed by dlnlab.spec/describe.)")
                     (merge {:path (conj (vec path) :kind) :value k :allowed (vec kinds)} (when dym {:did-you-mean dym})))))))

(defn- a-map
  "\"an experiment map\", \"a model map\": the article for a node's name."
  [node-id]
  (let [nm (name node-id)] (str (if (#{\a \e \i \o \u} (first nm)) "an " "a ") nm " map")))

(defn- walk
  "Validates map v of node node-id at path and returns it with defaults filled.
  fixed-kind, when given, is the kind of a :dispatch node that the position
  decides (the metric named by the key of [:record m]), so v carries no :kind."
  ([node-id path v ctx] (walk node-id path v ctx nil))
  ([node-id path v ctx fixed-kind]
  (let [nodes (schema)
        node (get nodes node-id)]
    (when-not (map? v)
      (error/fail! :invalid-experiment
                   (str (path-str path) " must be " (a-map node-id) ", got " (error/show v) ". The " (name node-id)
                   " is: " (:doc node) " See dlnlab.spec/describe for its keys.")
                   {:path path :value v :allowed (a-map node-id)}))
    (let [kind (or fixed-kind (when (:dispatch node) (resolve-kind node-id node path v)))
          kind-node (get-in node [:kinds kind])
          {:keys [allowed allowed? required leaves checked defaults children]}
          (memo/plan nodes node-id kind (some? fixed-kind)
                     #(let [entries (vec (concat (when (and kind (not fixed-kind)) [[:kind {:spec ::any}]])
                                                 (:keys node) (:keys kind-node) (:common node)))
                            having (fn [p] (filterv (fn [[_ e]] (p e)) entries))]
                        {:allowed (mapv first entries) :allowed? (set (map first entries))
                         :required (having :required) :leaves (having :spec) :checked (having :checked-by)
                         :defaults (having (fn [e] (and (not (:node e)) (or (contains? e :default) (:default-fn e)))))
                         :children (having :node)}))]
      (doseq [k (keys v)]
        (when-not (allowed? k)
          (let [dym (error/did-you-mean k allowed)
                p (conj (vec path) k)]
            (error/fail! :invalid-experiment
                         (str (path-str p) ": unknown key " (error/show k) " in " (node-label node-id kind) "."
                         (when dym (str " Did you mean " (pr-str dym) "?"))
                         " Allowed keys here: " (key-list allowed) ".")
                         (merge {:path p :value (get v k) :allowed allowed} (when dym {:did-you-mean dym}))))))
      (doseq [[k e] required]
        (when-not (contains? v k)
          (error/fail! :invalid-experiment
                       (str (path-str path) " needs " (pr-str k) ": " (:doc e))
                       {:path (conj (vec path) k) :value nil :allowed (if (:spec e) (allowed-text (:spec e)) (str "a " (name (:node e)) " map"))})))
      (doseq [[k e] leaves
              :when (contains? v k)]
        (check-leaf! (conj (vec path) k) (:spec e) (get v k)))
      ;; a value that is not a map (a vector of events, a map of variants) is
      ;; checked by the :check (fn [path value parent]) of node :checked-by
      (doseq [[k e] checked
              :when (contains? v k)]
        ((:check (get nodes (:checked-by e))) (conj (vec path) k) (get v k) v))
      (let [filled (reduce (fn [m [k e]]
                             (cond
                               (contains? m k) m
                               (contains? e :default) (assoc m k (:default e))
                               (:default-fn e) (let [d ((:default-fn e) m ctx)]
                                                 (if (nil? d) m (assoc m k d)))
                               :else m))
                           (if (and kind (not fixed-kind)) (assoc v :kind kind) v)
                           defaults)
            child-ctx (merge ctx (when-let [f (or (:ctx kind-node) (:ctx node))] (f filled)))
            result (reduce (fn [m [k e]]
                             (if-let [child (:node e)]
                               (cond
                                 (contains? m k) (assoc m k (walk child (conj (vec path) k) (get m k) child-ctx (:node-kind e)))
                                 (contains? e :default) (assoc m k (walk child (conj (vec path) k) (:default e) child-ctx))
                                 :else m)
                               m))
                           filled
                           children)]
        (doseq [chk [(:check node) (:check kind-node)] :when chk]
          (chk path result ctx))
        result)))))

;; ---------------------------------------------------------------------------
;; Normalizing is idempotent: a run, whose network, task and model normalize their parts
;; again, finds them by identity (dlnlab.spec.memo). A change of the schema forgets them.

(def ^:dynamic *reuse-normalized?*
  "When false, every normalization walks its map (for tests comparing the two)."
  true)

(defn- normalized
  "v when it is (identical to) a map normalized before as node-id under the
  current schema and still remembered; else (f), remembered."
  [node-id v f]
  (memo/remembered *reuse-normalized?* node-id v f))

;; ---------------------------------------------------------------------------
;; Public API

(defn normalize-model
  "Validates a :model map and returns it with every default filled (see `schema`).
  Errors name paths under [:model]. Throws ex-info as `validate!` does."
  [model]
  (normalized :model model #(walk :model [:model] model {})))

(defn normalize-node
  "Validates v as node node-id of `schema` (e.g. :sde) and returns it with every
  default filled; errors name paths under path. Throws ex-info as `validate!`."
  [node-id path v]
  (walk node-id path v {}))

(defn normalize-task
  "Validates a :task map and returns it with every default filled (see `schema`).
  Errors name paths under [:task]. Throws ex-info as `validate!` does."
  [task]
  (normalized :task task #(walk :task [:task] task {})))

(defn- check-kind!
  "An experiment's :kind, when given, is one of `experiment-kinds`."
  [experiment]
  (when (and (map? experiment) (contains? experiment :kind))
    (let [k (:kind experiment)
          kinds (experiment-kinds)]
      (when-not (some #{k} kinds)
        (let [dym (error/did-you-mean k kinds)]
          (error/fail! :invalid-experiment
                       (str "[:kind] must be one of " (key-list kinds) ", got " (error/show k) "."
                       (when dym (str " Did you mean " (pr-str dym) "?"))
                       " Leave it out for a network experiment.")
                       (merge {:path [:kind] :value k :allowed kinds} (when dym {:did-you-mean dym}))))))))

(defn normalize
  "Validates an experiment and returns it with every default filled (see
  `schema`, `defaults`, `describe`). A network experiment (no :kind, or :kind
  :network): :seed, the model's :parameterization, :gamma0, :init and the init's
  options, the task's options, the training keys. An experiment of another
  :kind (e.g. :sde) is validated by that kind's root node (e.g. :sde-experiment:
  :seed and the simulation keys under :sde).
  :name and :description are passed through unchanged. Idempotent.
  Throws ex-info {:path :value :allowed (:did-you-mean)} naming the first problem."
  [experiment]
  (normalized :experiment experiment
              (fn []
                (check-kind! experiment)
                (let [root (kind/schema :experiment (or (when (map? experiment) (:kind experiment)) :network))]
                  (when-let [pre (:pre-check root)]
                    (when (map? experiment) (pre experiment)))
                  (walk (:id root) [] experiment {})))))

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
              :allowed (cond (:spec e) (allowed-text (:spec e))
                             (:checked-by e) (:allowed (get (schema) (:checked-by e)))
                             :else (str "a " (name (:node e)) " map (see " (:node e) ")"))}
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
  keys (or on the parameterization) is chosen. A node whose schema says
  :describe false (the per-metric options, which dlnlab.metrics/catalog lists)
  is left out."
  []
  (into (sorted-map)
        (for [[id node] (schema)
              :when (not (false? (:describe node)))]
          [id (cond-> {:doc (:doc node)}
                (:keys node) (assoc :keys (describe-keys (:keys node)))
                (:common node) (assoc :common-keys (describe-keys (:common node)))
                (:kinds node) (assoc :kinds (into (sorted-map)
                                                  (for [[k kn] (:kinds node)]
                                                    [k {:doc (:doc kn) :keys (describe-keys (:keys kn))}]))))])))

(defn defaults
  "The literal defaults, {node {key default}} for plain nodes and {node {kind {key
  default}}} for kind-dispatched ones (common keys under :common). Defaults that
  depend on other keys are listed by `describe`."
  []
  (into (sorted-map)
        (for [[id node] (schema)]
          (let [lit (fn [entries] (into {} (for [[k e] entries :when (contains? e :default)] [k (:default e)])))]
            [id (if (:kinds node)
                  (into (cond-> {} (:common node) (assoc :common (lit (:common node))))
                        (for [[k kn] (:kinds node)] [k (lit (:keys kn))]))
                  (lit (:keys node)))]))))
