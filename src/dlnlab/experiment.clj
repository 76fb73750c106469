(ns dlnlab.experiment
  "Runs an experiment map to a result map of plain data: builds the network,
  steps the optimizer, records metrics on a cadence, stops on divergence, on a
  stop condition or on interrupt keeping everything recorded so far, and
  analyzes the trajectory. See doc/design.md for the result map's shape."
  (:require [dlnlab.analysis :as analysis]
            [dlnlab.engine :as engine]
            [dlnlab.metrics :as metrics]
            [dlnlab.network :as network]
            [dlnlab.optim :as optim]
            [dlnlab.spec :as spec])
  (:import [dlnlab.kernel Blas]
           [java.util.concurrent.atomic AtomicBoolean]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def version
  (or (some-> (clojure.java.io/resource "dlnlab/version.txt") slurp clojure.string/trim) "dev"))

(defn- due? [^long step ^long every] (zero? (rem step every)))

(defn- row-due?
  "True when some metric's own cadence (a long array) falls on step (a metric
  may ask for a finer cadence than the record's :every)."
  [^long step ^longs cadences]
  (loop [i 0]
    (cond (== i (alength cadences)) false
          (due? step (aget cadences i)) true
          :else (recur (inc i)))))

(defn- metric-cadences
  "{metric every} for each recorded metric: its own :every or the record's."
  [record]
  (let [every (long (:every record 1))]
    (into {} (for [m (:metrics record)]
               [m (long (get-in record [m :every] every))]))))

(defn- finite? [^double x] (not (or (Double/isNaN x) (Double/isInfinite x))))

(defn- all-finite? [^doubles a]
  (loop [i 0] (cond (= i (alength a)) true (finite? (aget a i)) (recur (inc i)) :else false)))

(defn- measure-row
  "Computes every metric due at step (all of them when force?) on params; a
  metric found in known (a map, e.g. {:loss l} when the stepper has just
  computed the training loss at params) takes that value. Where the parameters
  are no longer finite only the loss is recorded. The parameters are copied for
  the metrics only when some metric has to be computed."
  [net ^doubles params cadences ctx step force? known]
  (let [step (long step)
        due-now? (fn [m every] (and (or force? (due? step (long every))) (not (contains? known m))))
        snapshot (when (reduce-kv (fn [_ m every] (if (due-now? m every) (reduced true) false)) false cadences)
                   (assoc net :params (aclone params)))
        finite-params? (or (nil? snapshot) (all-finite? params))]
    (reduce-kv (fn [row m every]
                 (assoc row m (cond
                                (not (or force? (due? step (long every)))) nil
                                (contains? known m) (get known m)
                                (or finite-params? (= m :loss))
                                (metrics/measure m snapshot (assoc ctx :options (get-in ctx [:record m]))))))
               {} cadences)))

(defn- classify-loss
  "nil while the run may go on, else [status reason]; loss-above and loss-below
  are doubles (loss-below NaN when there is none)."
  [^double loss ^double loss-above ^double loss-below]
  (cond
    (not (finite? loss)) [:diverged :non-finite]
    (> loss loss-above) [:diverged :loss-above]
    (< loss loss-below) [:stopped :loss-below]))

(defn- stop-bounds
  "[loss-above loss-below] of a :stop map as doubles (1e12 and NaN by default)."
  [stop]
  [(double (:loss-above stop 1e12)) (if (:loss-below stop) (double (:loss-below stop)) Double/NaN)])

(defn- interrupted? [opts]
  (let [flag (:interrupt opts)]
    (boolean (or (and (instance? AtomicBoolean flag) (.get ^AtomicBoolean flag))
                 (and (instance? clojure.lang.IDeref flag) @flag)))))

(defn- recorder
  "A recording closure over the trajectory's columns; returns {:record! f
  :columns f}. Recording a step again (a run that stops on a step it already
  recorded) fills that row's missing values instead of adding a row. Columns
  grow as transients; call :columns once, at the end."
  [metric-keys on-record]
  (let [ks (vec metric-keys)
        n (count ks)
        steps (volatile! (transient []))
        times (volatile! (transient []))
        cols (object-array (repeatedly n #(transient [])))
        last-step (volatile! nil)]
    {:record! (fn [step time row]
                (if (= step @last-step)
                  (dotimes [i n]
                    (let [^clojure.lang.ITransientVector c (aget cols i)
                          j (dec (count c))]
                      (when (nil? (nth c j))
                        (aset cols i (assoc! c j (get row (ks i)))))))
                  (do (vswap! steps conj! step)
                      (vswap! times conj! time)
                      (vreset! last-step step)
                      (dotimes [i n]
                        (aset cols i (conj! (aget cols i) (get row (ks i)))))))
                (when on-record (on-record (assoc row :step step :time time))))
     :columns (fn []
                (into {:step (persistent! @steps) :time (persistent! @times)}
                      (map (fn [i] [(ks i) (persistent! (aget cols i))]) (range n))))}))

(defn- discrete-loop
  "GD, SGD and Langevin: returns {:status :stop-reason :step :time :loss}."
  [net ^doubles params exp opts record!]
  (let [{:keys [record stop steps seed]} exp
        steps (long steps)
        {:keys [gradient! apply! ^double lr ^double dt full-batch?]} (optim/stepper net (:optimizer exp) seed)
        cadences (metric-cadences record)
        cadence-arr (long-array (vals cadences))
        every (long (:every record 1))
        [^double loss-above ^double loss-below] (stop-bounds stop)
        state (volatile! {})
        progress (:progress opts)
        ctx {:lr lr :state state :record record}
        record-loss? (and full-batch? (contains? cadences :loss))
        row! (fn [^long step force? known]
               (record! step (* dt step)
                        (measure-row net params cadences (assoc ctx :step step :time (* dt step)) step force? known)))]
    ;; the row of a step is measured after the stepper's loss at that step (the
    ;; parameters are not changed until apply!), so a full-batch loss is recorded
    ;; as computed rather than computed again
    (loop [step 0]
      (let [due (or (due? step every) (row-due? step cadence-arr) (= step steps))]
        (if (>= step steps)
          (do (when due (row! step true {}))
              {:status :completed :step step :time (* dt step) :state state})
          (let [loss (double (gradient! params step))
                known (if record-loss? {:loss loss} {})
                _ (when due (row! step false known))
                verdict (or (classify-loss loss loss-above loss-below)
                            (when (interrupted? opts) [:stopped :interrupted]))]
            (when progress (progress {:step step :steps steps :loss loss}))
            (if verdict
              (do (row! step true known)
                  {:status (first verdict) :stop-reason (second verdict) :step step :time (* dt step) :state state})
              (do (apply! params step)
                  (recur (inc step))))))))))

(defn- flow-loop
  "Gradient flow on the grid t_k = k * time / steps."
  [net ^doubles params exp opts record!]
  (let [{:keys [record stop seed]} exp
        total (double (:time exp))
        steps (long (:steps exp 100))
        dt (/ total steps)
        cadences (metric-cadences record)
        cadence-arr (long-array (vals cadences))
        [^double loss-above ^double loss-below] (stop-bounds stop)
        every (long (:every record 1))
        state (volatile! {})
        sharp-state (volatile! {})
        sharpness-fn (fn [^doubles p]
                       (metrics/sharpness (assoc net :params p)
                                          {:state sharp-state :tol 1e-3}))
        advance! (optim/flow-integrator net (:optimizer exp) sharpness-fn)
        progress (:progress opts)
        ctx {:lr nil :state state :record record}
        row! (fn [^long k force?]
               (record! k (* dt k)
                        (measure-row net params cadences (assoc ctx :step k :time (* dt k)) k force? {})))]
    (loop [k 0]
      (when (or (due? k every) (row-due? k cadence-arr) (= k steps))
        (row! k (= k steps)))
      (if (>= k steps)
        {:status :completed :step k :time (* dt k) :state state}
        (let [{:keys [^double loss]} (advance! params (* dt k) (* dt (inc k)))
              verdict (or (classify-loss loss loss-above loss-below) (when (interrupted? opts) [:stopped :interrupted]))]
          (when progress (progress {:step (inc k) :steps steps :loss loss}))
          (if verdict
            (do (row! (inc k) true)
                {:status (first verdict) :stop-reason (second verdict) :step (inc k) :time (* dt (inc k)) :state state})
            (recur (inc k))))))))

(defn- run-network
  "`run` for a network experiment (no :kind, or :kind :network)."
  [experiment opts]
  (when-not (contains? experiment :optimizer)
    (throw (ex-info (str "The experiment has no :optimizer, so there is nothing to run. Add one, e.g. "
                         ":optimizer {:kind :gd :lr 0.01} with :steps 1000 (kinds: :gd, :sgd, :gradient-flow, :langevin).")
                    {:path [:optimizer] :value nil :allowed [:gd :sgd :gradient-flow :langevin]})))
  (let [started (System/currentTimeMillis)
        net (network/network experiment)
        exp (:experiment net)
        params (aclone ^doubles (:params net))
        metric-keys (vec (get-in exp [:record :metrics]))
        {:keys [record! columns]} (recorder metric-keys (:on-record opts))
        flow? (= :gradient-flow (get-in exp [:optimizer :kind]))
        outcome ((if flow? flow-loop discrete-loop) net params exp opts record!)
        final-net (assoc net :params params)
        trajectory (columns)
        result {:experiment exp
                :status (:status outcome)
                :stop-reason (:stop-reason outcome)
                :trajectory trajectory
                :final {:step (:step outcome)
                        :time (:time outcome)
                        :loss (engine/loss final-net)
                        :test-loss (network/test-loss final-net)
                        :weights (when (get-in exp [:record :final-weights] true)
                                   (network/weights final-net))}}]
    (assoc result
           :analysis (analysis/analyze result
                                       (cond-> {:targets (get-in net [:task :target-svd :singular-values])}
                                         (not flow?) (assoc :lr (optim/effective-lr net (:optimizer exp)))))
           :meta (cond-> {:version version
                          :elapsed-ms (- (System/currentTimeMillis) started)
                          :blas (Blas/describe)
                          :java (System/getProperty "java.version")}
                   (metrics/eigensolve-counts (:state outcome))
                   (assoc :eigensolves (metrics/eigensolve-counts (:state outcome)))))))

(defmulti run-kind
  "Runs an experiment whose :kind is not :network (see `run`): one method per
  kind, e.g. :sde in dlnlab.sde. Takes the experiment as given (the method
  validates it) and `run`'s options; returns a result map of the same outer
  shape as a network run's."
  (fn [experiment _opts] (:kind experiment)))

(def ^:private kind-namespaces
  "A var of the namespace defining the `run-kind` method of each experiment
  kind; that namespace requires this one, so it is loaded on first use (by
  requiring-resolve, which is safe from the threads of a sweep)."
  {:sde 'dlnlab.sde/simulate})

(defn run
  "Runs an experiment map (validated, defaults filled) and returns the result map
  of doc/design.md: {:experiment :status :stop-reason :trajectory :final :analysis :meta}.

  Options: :progress (fn [{:step :steps :loss}]) called every step (keep it cheap);
  :on-record (fn [row]) called with each recorded row (a map of metric values
  with :step and :time), for live notebooks; :interrupt an AtomicBoolean or a
  deref-able that, when true, stops the run after the current step with status
  :stopped and :stop-reason :interrupted.
  A diverging run (loss NaN, Inf or above [:stop :loss-above]) ends with status
  :diverged and keeps every row recorded so far plus the row where it diverged.
  An experiment with :kind :sde is an ensemble of the per-mode SDE instead
  (dlnlab.sde, through `run-kind`): its result has the same outer shape, and
  the options are ignored.
  Throws ex-info on an invalid experiment."
  ([experiment] (run experiment {}))
  ([experiment opts]
   (if (and (map? experiment) (some? (:kind experiment)) (not= :network (:kind experiment)))
     (let [kind (:kind (spec/normalize experiment))]
       (some-> (kind-namespaces kind) requiring-resolve)
       (run-kind experiment opts))
     (run-network experiment opts))))
