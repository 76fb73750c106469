(ns dlnlab.schedule
  "Schedules and interventions: an experiment's :schedule is a vector of events,
  each at a step, that change the optimizer or the weights during one run.

  Event forms (k a step, 0 <= k < :steps):
    {:at k :set {[:optimizer :lr] 0.02 ...}}  set optimizer keys (any key of the
                                               optimizer's kind: :lr, :batch-size,
                                               :beta, :temperature, ...)
    {:at k :optimizer {:kind :gd :lr 0.01}}    switch to another optimizer; to
                                               {:kind :gradient-flow} each later
                                               step integrates the flow over the
                                               time one step took before; the
                                               new optimizer starts afresh (heavy
                                               ball's velocity restarts at 0)
    {:at k :perturb {:norm r :direction :random | :top-eigenvector :seed s}}
                                               add a vector of norm r to the weights:
                                               a seeded Gaussian direction, or the
                                               current top Hessian eigenvector
    {:at a :shape s :until b :lr eta ...}      a learning-rate shape that `expand`s
                                               to :set events of [:optimizer :lr]
                                               at a, a + :every, ... below b:
      :warmup       eta (k - a + every) / (b - a), rising linearly to eta
      :step-decay   eta factor^j at a + j every (:every required, :factor in (0, 1))
      :exponential  eta rate^(k - a) (:rate in (0, 1))
      :cosine       lr-min + (eta - lr-min)(1 + cos(pi (k - a)/(b - a)))/2

  Events at the same step apply in the order given. The run (dlnlab.train)
  applies each event before the step's gradient, so the row recorded at step k
  already shows the new optimizer (its :effective-lr and :stability-threshold
  columns) and the perturbed weights; the result's :events lists what happened."
  (:require [dlnlab.error :as error]
            [dlnlab.engine :as engine]
            [dlnlab.hessian :as hessian]
            [dlnlab.kind :as kind]
            [dlnlab.spec :as spec])
  (:import [dlnlab.kernel Blas Rng]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def shapes
  "The named learning-rate shapes and the keys each takes besides :at :shape
  :until :lr :every."
  {:warmup #{} :step-decay #{:factor} :exponential #{:rate} :cosine #{:lr-min}})

(defn- positive? [x] (and (number? x) (Double/isFinite (double x)) (pos? (double x))))

(defn- check-step! [path k steps]
  (when-not (and (int? k) (<= 0 (long k)) (or (nil? steps) (< (long k) (long steps))))
    (error/fail! :invalid-experiment
                 (str (spec/path-str path) " must be a step from 0 to " (if steps (dec (long steps)) "the last step")
                      ", got " (error/show k) ".")
                 {:path path :value k :allowed (str "an integer step in [0, " (or steps "steps") ")")})))

(defn- check-shape! [path {:keys [at shape until lr every] :as e} steps]
  (let [allowed (into #{:at :shape :until :lr :every} (get shapes shape))
        at-k (fn [k] (conj (vec path) k))]
    (when-not (contains? shapes shape)
      (error/fail! :invalid-experiment
                   (str (spec/path-str (at-k :shape)) " must be one of " (spec/key-list (keys shapes)) ", got " (error/show shape) ".")
                   {:path (at-k :shape) :value shape :allowed (vec (keys shapes))}))
    (doseq [k (keys e) :when (not (allowed k))]
      (error/fail! :invalid-experiment
                   (str (spec/path-str (at-k k)) ": unknown key " (error/show k) " in a " (pr-str shape)
                        " shape. Allowed keys here: " (spec/key-list (sort allowed)) ".")
                   {:path (at-k k) :value (get e k) :allowed (vec allowed)}))
    (when-not (and (int? until) (> (long until) (long at)) (or (nil? steps) (<= (long until) (long steps))))
      (error/fail! :invalid-experiment
                   (str (spec/path-str (at-k :until)) " must be a step after :at (" at ") and at most :steps, got " (error/show until) ".")
                   {:path (at-k :until) :value until :allowed (str "an integer step after :at " at)}))
    (when-not (positive? lr)
      (error/fail! :invalid-experiment
                   (str (spec/path-str (at-k :lr)) " must be a positive number, the learning rate the shape starts from (or rises to), got " (error/show lr) ".")
                   {:path (at-k :lr) :value lr :allowed "a positive finite number"}))
    (when-not (or (and (nil? every) (not= shape :step-decay)) (pos-int? every))
      (error/fail! :invalid-experiment
                   (str (spec/path-str (at-k :every)) " must be a positive integer (steps between changes"
                        (when (= shape :step-decay) "; a :step-decay needs it") "), got " (error/show every) ".")
                   {:path (at-k :every) :value every :allowed "a positive integer"}))
    (doseq [k [:factor :rate] :when (contains? allowed k)]
      (let [v (get e k)]
        (when-not (and (positive? v) (< (double v) 1.0))
          (error/fail! :invalid-experiment
                       (str (spec/path-str (at-k k)) " must be a number strictly between 0 and 1, got " (error/show v) ".")
                       {:path (at-k k) :value v :allowed "a number in (0, 1)"}))))
    (when (and (= shape :cosine) (contains? e :lr-min)
               (not (and (number? (:lr-min e)) (<= 0.0 (double (:lr-min e)) (double lr)))))
      (error/fail! :invalid-experiment
                   (str (spec/path-str (at-k :lr-min)) " must be a number from 0 to :lr, got " (error/show (:lr-min e)) ".")
                   {:path (at-k :lr-min) :value (:lr-min e) :allowed (str "a number in [0, " lr "]")}))))

(defn shape-events
  "The :set events of [:optimizer :lr] a learning-rate shape expands to (see the
  namespace docstring), in step order."
  [{:keys [at shape until lr every factor rate lr-min]}]
  (let [a (long at) b (long until) eta (double lr) e (long (or every 1))
        lr-at (fn [^long k]
                (case shape
                  :warmup (/ (* eta (double (+ (- k a) e))) (double (- b a)))
                  :step-decay (* eta (Math/pow (double factor) (double (quot (- k a) e))))
                  :exponential (* eta (Math/pow (double rate) (double (- k a))))
                  :cosine (let [m (double (or lr-min 0.0))]
                            (+ m (* 0.5 (- eta m) (+ 1.0 (Math/cos (/ (* Math/PI (double (- k a))) (double (- b a))))))))))]
    (vec (for [k (range a b e)] {:at k :set {[:optimizer :lr] (min eta (double (lr-at k)))}}))))

(defn expand
  "The schedule's events with every shape expanded, in step order (events at the
  same step in the order given); each event keeps :index, its position in the
  schedule."
  [schedule]
  (->> (map-indexed (fn [i e] (if (:shape e)
                                (mapv #(assoc % :index i) (shape-events e))
                                [(assoc e :index i)]))
                    schedule)
       (apply concat)
       (sort-by :at)
       vec))

(defn- optimizer-after
  "The optimizer event e leaves in place of opt."
  [opt e]
  (cond
    (:optimizer e) (:optimizer e)
    (:set e) (reduce (fn [o [path v]] (assoc-in o (subvec path 1) v)) opt (:set e))
    :else opt))

(defn- by-time? [opt] (= :time (:duration (kind/schema :optimizer (:kind opt)))))

(defn check-optimizer!
  "Validates optimizer opt as the experiment's (model, task and seed of exp);
  an error names path, the event that led to it. Returns opt normalized."
  [exp opt path]
  (try
    (:optimizer (spec/normalize (cond-> (-> (select-keys exp [:model :task :seed :seeds])
                                            (assoc :optimizer opt))
                                  (by-time? opt) (assoc :time 1.0)
                                  (not (by-time? opt)) (assoc :steps 1))))
    (catch clojure.lang.ExceptionInfo ex
      (let [d (ex-data ex)]
        (error/fail! :invalid-experiment
                     (str (spec/path-str path) " leaves an invalid optimizer: " (ex-message ex))
                     {:path path :value (:value d) :allowed (:allowed d)})))))

(defn- check-event! [path e steps]
  (when-not (map? e)
    (error/fail! :invalid-experiment
                 (str (spec/path-str path) " must be an event map such as {:at 100 :set {[:optimizer :lr] 0.02}}, got " (error/show e) ".")
                 {:path path :value e :allowed "an event map"}))
  (let [at-k (fn [k] (conj (vec path) k))
        actions (filter #(contains? e %) [:set :optimizer :perturb :shape])]
    (check-step! (at-k :at) (:at e) steps)
    (when-not (= 1 (count actions))
      (error/fail! :invalid-experiment
                   (str (spec/path-str path) " must give exactly one of :set, :optimizer, :perturb or :shape, got "
                        (if (seq actions) (spec/key-list actions) "none") ".")
                   {:path path :value e :allowed "exactly one of :set, :optimizer, :perturb, :shape"}))
    (case (first actions)
      :shape (check-shape! path e steps)
      :set (let [s (:set e)]
             (when-not (and (map? s) (seq s))
               (error/fail! :invalid-experiment
                            (str (spec/path-str (at-k :set)) " must be a non-empty map from optimizer key paths to values, e.g. {[:optimizer :lr] 0.02}, got " (error/show s) ".")
                            {:path (at-k :set) :value s :allowed "a non-empty map {[:optimizer key] value}"}))
             (doseq [p (keys s)]
               (when-not (and (vector? p) (= 2 (count p)) (= :optimizer (first p)) (keyword? (second p)) (not= :kind (second p)))
                 (error/fail! :invalid-experiment
                              (str (spec/path-str (at-k :set)) " sets " (error/show p) "; a schedule sets optimizer keys, [:optimizer key] (to change the kind use {:at k :optimizer {...}}).")
                              {:path (conj (at-k :set) p) :value p :allowed "a path [:optimizer key]"}))))
      :optimizer nil
      :perturb (let [{:keys [norm direction seed] :as p} (:perturb e)
                     pk (fn [k] (conj (at-k :perturb) k))]
                 (when-not (map? p)
                   (error/fail! :invalid-experiment
                                (str (spec/path-str (at-k :perturb)) " must be a map {:norm r :direction :random|:top-eigenvector}, got " (error/show p) ".")
                                {:path (at-k :perturb) :value p :allowed "a map {:norm r :direction d}"}))
                 (doseq [k (keys p) :when (not (#{:norm :direction :seed} k))]
                   (error/fail! :invalid-experiment
                                (str (spec/path-str (pk k)) ": unknown key " (error/show k) "; a perturbation takes :norm, :direction and :seed.")
                                {:path (pk k) :value (get p k) :allowed [:norm :direction :seed]}))
                 (when-not (positive? norm)
                   (error/fail! :invalid-experiment
                                (str (spec/path-str (pk :norm)) " must be a positive number, the length of the perturbation, got " (error/show norm) ".")
                                {:path (pk :norm) :value norm :allowed "a positive finite number"}))
                 (when-not (#{:random :top-eigenvector} (or direction :random))
                   (error/fail! :invalid-experiment
                                (str (spec/path-str (pk :direction)) " must be :random or :top-eigenvector, got " (error/show direction) ".")
                                {:path (pk :direction) :value direction :allowed [:random :top-eigenvector]}))
                 (when-not (or (nil? seed) (int? seed))
                   (error/fail! :invalid-experiment
                                (str (spec/path-str (pk :seed)) " must be an integer, got " (error/show seed) ".")
                                {:path (pk :seed) :value seed :allowed "an integer"})))
      nil)))

(defn check!
  "Validates the :schedule at path of experiment exp (the events, then the
  optimizer every event leaves in place); throws the ex-info of an invalid
  experiment naming the event."
  [path schedule exp]
  (when-not (vector? schedule)
    (error/fail! :invalid-experiment
                 (str (spec/path-str path) " must be a vector of events, e.g. [{:at 1000 :set {[:optimizer :lr] 0.02}}], got " (error/show schedule) ".")
                 {:path path :value schedule :allowed "a vector of events"}))
  (let [steps (:steps exp)]
    (when (and (:optimizer exp) (by-time? (:optimizer exp)))
      (error/fail! :invalid-experiment
                   (str (spec/path-str path) ": a schedule counts steps, but " (pr-str (get-in exp [:optimizer :kind]))
                        " runs for :time; start from a stepped optimizer and switch to it with {:at k :optimizer {:kind :gradient-flow}}.")
                   {:path path :value schedule :allowed "a stepped optimizer"}))
    (doseq [[i e] (map-indexed vector schedule)]
      (check-event! (conj (vec path) i) e steps))
    (when-let [opt (:optimizer exp)]
      (reduce (fn [o e]
                (if (or (:set e) (:optimizer e))
                  (check-optimizer! exp (optimizer-after o e) (conj (vec path) (:index e)))
                  o))
              opt (expand schedule)))))

(defmethod kind/schema [:schedule nil] [_ _]
  {:doc "A vector of events during a stepped run, each at a step: {:at k :set {[:optimizer :lr] 0.02}} sets optimizer keys; {:at k :optimizer {...}} switches optimizer ({:kind :gradient-flow} integrates the flow for the time of the previous step each step); {:at k :perturb {:norm r :direction :random|:top-eigenvector :seed s}} perturbs the weights; {:at a :shape :warmup|:step-decay|:exponential|:cosine :until b :lr eta (:every e :factor f :rate r :lr-min m)} expands to :set events of the learning rate. The result's :events lists them as they happened."
   :allowed "a vector of events (see :schedule)"
   :check check!})

(defn next-optimizer
  "The optimizer after event e (a :set or :optimizer event) replaces opt,
  normalized against experiment exp."
  [exp opt e]
  (check-optimizer! exp (optimizer-after opt e) [:schedule (:index e)]))

(defn perturbation
  "The perturbation vector (a fresh double array of Euclidean norm :norm) of
  event map p at params of net: a Gaussian direction from Rng at seed, or the
  top Hessian eigenvector (Lanczos, start from seed). Returns [vector info]
  where info is plain data for the event log (:eigenvalue for the eigenvector)."
  [net ^doubles params {:keys [norm direction]} ^long seed]
  (let [n (alength params)
        [^doubles v info]
        (case (or direction :random)
          :random (let [v (double-array n)]
                    (dotimes [i n] (aset v i (Rng/gaussian seed 0 i)))
                    [v {}])
          :top-eigenvector (let [op (hessian/operator n (engine/prepared-hvp net params))
                                 r (hessian/eigenvalues op {:k 1 :seed seed :vectors? true :check-multiplicity? false})]
                             [(aclone ^doubles (first (:vectors r))) {:eigenvalue (first (:values r))}]))
        len (Math/sqrt (Blas/dot n v 0 v 0))]
    (Blas/scal n (/ (double norm) len) v 0)
    [v info]))
