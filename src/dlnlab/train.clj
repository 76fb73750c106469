(ns dlnlab.train
  "The :network experiment kind's run (dlnlab.kind/run-kind :network): builds the
  network, steps the optimizer (or integrates gradient flow for an optimizer
  that runs for :time), records metrics on a cadence, stops on divergence, on a
  stop condition or on interrupt keeping everything recorded so far, and records
  the run's :facts (dlnlab.result). See doc/design.md for the result map."
  (:require [dlnlab.error :as error]
            [dlnlab.engine :as engine]
            [dlnlab.flow :as flow]
            [dlnlab.kind :as kind]
            [dlnlab.limits :as limits]
            [dlnlab.metrics :as metrics]
            [dlnlab.network :as network]
            [dlnlab.optim :as optim]
            [dlnlab.schedule :as schedule]
            [dlnlab.spec :as spec]
            [dlnlab.trajectory :as trajectory])
  (:import [dlnlab.kernel Blas Rng]
           [java.util.concurrent.atomic AtomicBoolean]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

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

(defn- all-finite? [^doubles a]
  (loop [i 0] (cond (= i (alength a)) true (Double/isFinite (aget a i)) (recur (inc i)) :else false)))

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
    (not (Double/isFinite loss)) [:diverged :non-finite]
    (> loss loss-above) [:diverged :loss-above]
    (< loss loss-below) [:stopped :loss-below]))

(defn- stop-bounds
  "[loss-above loss-below] of a :stop map as doubles (1e12 and NaN by default)."
  [stop]
  [(double (:loss-above stop 1e12)) (if (:loss-below stop) (double (:loss-below stop)) Double/NaN)])

(defn interrupted?
  "True once the :interrupt of run opts (an AtomicBoolean or a deref-able) is set."
  [opts]
  (let [flag (:interrupt opts)]
    (boolean (or (and (instance? AtomicBoolean flag) (.get ^AtomicBoolean flag))
                 (and (instance? clojure.lang.IDeref flag) @flag)))))

(defn- flow-advancer
  "The gradient-flow integrator of optimizer opt on net (dlnlab.flow), its step
  capped by a sharpness estimate warm-started from its own state."
  [net opt]
  (let [sharp-state (volatile! {})]
    (flow/integrator net opt (fn [^doubles p]
                               (metrics/sharpness (assoc net :params p) {:state sharp-state :tol 1e-3})))))

(defn- flow-stepper
  "Gradient flow as a stepper (a schedule's switch to it): each step integrates
  the flow over time dt."
  [net opt ^double dt]
  (let [advance! (flow-advancer net opt)]
    {:gradient! (fn ^double [^doubles p ^long _step] (engine/loss net p))
     :apply! (fn [^doubles p ^long _step] (advance! p 0.0 dt))
     :lr nil :dt dt :full-batch? true}))

(defn by-time?
  "True when optimizer opt runs for the experiment's :time (its schema says
  :duration :time), not for :steps."
  [opt]
  (= :time (:duration (kind/schema :optimizer (:kind opt)))))

(defn optimizer-in-place
  "What a stepping loop knows of optimizer opt on net, in place from step s0 at
  time t0: its dlnlab.optim stepper (for gradient flow, one that integrates the
  flow over time dt each step) with :opt, :s0, :t0 and the stability
  :threshold at its effective :lr; step k is at time (+ t0 (* dt (- k s0)))."
  [net opt seed dt s0 t0]
  (let [st (if (by-time? opt) (flow-stepper net opt (double dt)) (optim/stepper net opt seed))]
    (assoc st :opt opt :s0 s0 :t0 t0
           :threshold (when (:lr st) (kind/stability-threshold opt (:lr st))))))

(defn- time-at ^double [cur ^long step]
  (+ (double (:t0 cur)) (* (double (:dt cur)) (double (- step (long (:s0 cur)))))))

(defn- apply-event!
  "Applies schedule event e at step to params and the optimizer in place (a
  volatile); returns the event as it happened, for the result's :events."
  [net ^doubles params exp cur step e]
  (let [step (long step)
        c @cur
        t (time-at c step)
        seed (optim/role-seed exp :batches)
        logged (-> (dissoc e :at :index) (assoc :step step :time t))]
    (if-let [p (:perturb e)]
      (let [pseed (long (or (:seed p) (Rng/derive (Rng/derive seed 0x50455254) step)))
            [^doubles v info] (schedule/perturbation net params p pseed)]
        (Blas/axpy (alength params) 1.0 v 0 params 0)
        (merge logged info))
      (let [opt (schedule/next-optimizer exp (:opt c) e)
            nc (vreset! cur (optimizer-in-place net opt seed (:dt c) step t))]
        (assoc logged
               :effective-lr (:lr nc)
               :stability-threshold (:threshold nc)
               :time-scale (when (:lr nc) (kind/time-scale opt (:lr nc))))))))

(defn- discrete-loop
  "GD, SGD, Langevin and heavy ball, following the experiment's :schedule:
  returns {:status :stop-reason :step :time :state :events}."
  [net ^doubles params exp opts record!]
  (let [{:keys [record stop steps]} exp
        steps (long steps)
        scheduled? (contains? exp :schedule)
        events (schedule/expand (:schedule exp))
        next-event (volatile! 0)
        happened (volatile! [])
        cur (volatile! (optimizer-in-place net (:optimizer exp) (optim/role-seed exp :batches) 0.0 0 0.0))
        cadences (metric-cadences record)
        cadence-arr (long-array (vals cadences))
        every (long (:every record 1))
        [^double loss-above ^double loss-below] (stop-bounds stop)
        state (volatile! {})
        progress (:progress opts)
        row! (fn [^long step force? known]
               (let [c @cur
                     t (time-at c step)
                     ctx {:lr (:lr c) :stability-threshold (:threshold c) :state state :record record :step step :time t}
                     row (measure-row net params cadences ctx step force? known)]
                 (record! step t (cond-> row
                                   scheduled? (assoc :effective-lr (:lr c) :stability-threshold (:threshold c))))))
        events-at! (fn [^long step]
                     (loop [any? false]
                       (let [i (long @next-event)]
                         (if (and (< i (count events)) (= step (long (:at (nth events i)))))
                           (do (vswap! happened conj (apply-event! net params exp cur step (nth events i)))
                               (vreset! next-event (inc i))
                               (recur true))
                           any?))))
        end (fn [status reason ^long step]
              {:status status :stop-reason reason :step step :time (time-at @cur step) :state state :events @happened})]
    ;; the row of a step is measured after the stepper's loss at that step (the
    ;; parameters are not changed until apply!), so a full-batch loss is recorded
    ;; as computed rather than computed again; a step with events is measured
    ;; after them
    (loop [step 0]
      (let [changed? (and (< step steps) (events-at! step))
            due (or changed? (due? step every) (row-due? step cadence-arr) (= step steps))
            {:keys [gradient! apply! full-batch?]} @cur]
        (if (>= step steps)
          (do (when due (row! step true {}))
              (end :completed nil step))
          (let [loss (double (gradient! params step))
                known (if (and full-batch? (contains? cadences :loss)) {:loss loss} {})
                _ (when due (row! step false known))
                verdict (or (classify-loss loss loss-above loss-below)
                            (when (interrupted? opts) [:stopped :interrupted]))]
            (when progress (progress {:step step :steps steps :loss loss}))
            (if verdict
              (do (row! step true known)
                  (end (first verdict) (second verdict) step))
              (do (apply! params step)
                  (recur (inc step))))))))))

(defn- flow-loop
  "Gradient flow on the grid t_k = k * time / steps."
  [net ^doubles params exp opts record!]
  (let [{:keys [record stop]} exp
        total (double (:time exp))
        steps (long (:steps exp 100))
        dt (/ total steps)
        cadences (metric-cadences record)
        cadence-arr (long-array (vals cadences))
        [^double loss-above ^double loss-below] (stop-bounds stop)
        every (long (:every record 1))
        state (volatile! {})
        advance! (flow-advancer net (:optimizer exp))
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

(defn facts
  "What a run of net with optimizer opt knows before its first step (the :facts
  of dlnlab.result): :lr-multiplier, :effective-lr, :stability-threshold,
  :time-scale, :x-axis, :targets, :dims [d-in d-out], :parameter-count."
  [net opt]
  (let [lr (when (:lr opt) (optim/effective-lr net opt))
        {:keys [input output]} (get-in net [:task :dims])]
    {:lr-multiplier (double (or (:lr-multiplier net) 1.0))
     :effective-lr lr
     :stability-threshold (when lr (kind/stability-threshold opt lr))
     :time-scale (when lr (kind/time-scale opt lr))
     :x-axis (if (by-time? opt) :time :step)
     :targets (get-in net [:task :target-svd :singular-values])
     :dims [input output]
     :parameter-count (alength ^doubles (:params net))}))

(defn run
  "Trains a normalized network experiment (dlnlab.spec/normalize) and returns
  {:experiment :status :stop-reason :trajectory :final :facts (:meta
  {:eigensolves ..} when Lanczos ran)} (doc/design.md);
  opts as dlnlab.experiment/run's (:progress :on-record :interrupt
  :trajectory-file :max-rows): with a :trajectory-file every row is written to
  that CSV as it is recorded (dlnlab.trajectory/csv-sink) and the result's
  :trajectory keeps at most :max-rows (10000) of them (the last half whole,
  the earlier ones evenly thinned);
  when it holds fewer rows than the file, the result has :trajectory-file
  {:rows (in the file) :kept (in :trajectory)}.
  Throws ex-info when the experiment has no :optimizer."
  [exp opts]
  (when-not (contains? exp :optimizer)
    (let [kinds (spec/kinds-of :optimizer)]
      (error/fail! :invalid-experiment (str "The experiment has no :optimizer, so there is nothing to run. Add one, e.g. "
                       ":optimizer {:kind :gd :lr 0.01} with :steps 1000 (kinds: " (spec/key-list kinds) ").")
                   {:path [:optimizer] :value nil :allowed kinds})))
  (let [net (network/network exp)
        exp (:experiment net)
        params (aclone ^doubles (:params net))
        metric-keys (cond-> (vec (get-in exp [:record :metrics]))
                      ;; a scheduled run records the optimizer's lr and threshold in every row
                      (:schedule exp) (into (remove (set (get-in exp [:record :metrics])))
                                            [:effective-lr :stability-threshold]))
        sink (when-let [f (:trajectory-file opts)] (trajectory/csv-sink f metric-keys))
        {:keys [record! columns rows]} (trajectory/recorder metric-keys {:on-record (:on-record opts) :sink sink
                                                                         :max-rows (when sink (:max-rows opts 10000))})
        outcome (try ((if (by-time? (:optimizer exp)) flow-loop discrete-loop) net params exp opts record!)
                     (finally (when sink ((:close! sink)))))
        final-net (assoc net :params params)
        eigensolves (metrics/eigensolve-counts (:state outcome))
        traj (columns)
        kept (count (:step traj))]
    (cond->
     {:experiment exp
     :status (:status outcome)
     :stop-reason (:stop-reason outcome)
     :trajectory traj
     :final {:step (:step outcome)
             :time (:time outcome)
             :loss (engine/loss final-net)
             :test-loss (network/test-loss final-net)
             :weights (when (get-in exp [:record :final-weights] true)
                        (network/weights final-net))}
     :facts (facts net (:optimizer exp))}
      (< kept (long (rows))) (assoc :trajectory-file {:rows (rows) :kept kept})
      (:schedule exp) (assoc :events (:events outcome))
      eigensolves (assoc-in [:meta :eigensolves] eigensolves))))

(defmulti run-mode
  "How a :network experiment runs: :single (one network, `run`), or :compare
  when it has a :compare map (a method of dlnlab.compare, which steps its
  variants with this namespace's steppers; dlnlab.kinds loads it)."
  (fn [exp _opts] (if (:compare exp) :compare :single)))

(defmethod run-mode :single [exp opts] (run exp opts))

(defmethod kind/run-kind :network [exp opts]
  ;; sizes are checked before anything is allocated; rows count when kept in memory
  (limits/check! exp (not (:trajectory-file opts)))
  (run-mode exp opts))

;; ---------------------------------------------------------------------------
;; :compare's schema (run by dlnlab.compare)

(def compare-overrides
  "What a :compare variant may override: the optimizer, and the batch-order seed
  (so every variant starts from the same initialization and data)."
  #{:optimizer :seeds})

(defn variant-optimizer
  "The optimizer of a :compare variant: its :optimizer replaces the experiment's
  when it names a :kind, else is merged into it."
  [exp overrides]
  (let [o (:optimizer overrides)]
    (cond (nil? o) (:optimizer exp)
          (contains? o :kind) o
          :else (merge (:optimizer exp) o))))

(defn- check-compare! [path variants exp]
  (when-not (and (map? variants) (<= 2 (count variants)) (every? keyword? (keys variants)) (every? map? (vals variants)))
    (error/fail! :invalid-experiment (str (spec/path-str path) " must map at least two variant names to overrides, e.g. {:a {} :b {:optimizer {:kind :gradient-flow}}}, got "
                     (error/show variants) ".")
                 {:path (vec path) :value variants :allowed "a map of at least two variants {name overrides}"}))
  (when (contains? exp :schedule)
    (error/fail! :invalid-experiment "[:schedule] and [:compare] do not go together: a comparison steps its variants in lockstep with fixed optimizers."
                 {:path [:schedule] :value (:schedule exp) :allowed "no :schedule with :compare"}))
  (doseq [[v o] variants
          :let [at (fn [& ks] (into (conj (vec path) v) ks))]]
    (doseq [k (keys o) :when (not (compare-overrides k))]
      (error/fail! :invalid-experiment (str (spec/path-str (at k)) ": a variant overrides only " (spec/key-list (sort compare-overrides))
                       ", so that every variant starts from the same initialization and data.")
                   {:path (vec (at k)) :value (get o k) :allowed (vec compare-overrides)}))
    (doseq [k (keys (:seeds o)) :when (not= :batches k)]
      (error/fail! :invalid-experiment (str (spec/path-str (at :seeds k)) ": a variant may change only the batch-order seed, [:seeds :batches].")
                   {:path (vec (at :seeds k)) :value (get-in o [:seeds k]) :allowed [:batches]}))
    (when-let [b (get-in o [:seeds :batches])]
      (when-not (int? b)
        (error/fail! :invalid-experiment (str (spec/path-str (at :seeds :batches)) " must be an integer, got " (error/show b) ".")
                     {:path (vec (at :seeds :batches)) :value b :allowed "an integer"})))
    (when (:optimizer exp)
      (schedule/check-optimizer! exp (variant-optimizer exp o) (at :optimizer)))))

(defmethod kind/schema [:compare nil] [_ _]
  {:doc "Variants {name overrides} trained in lockstep from the same initialization and data; overrides change :optimizer (a map with :kind replaces it, without merges into it) or [:seeds :batches]. Stepped variants take one step per step; gradient flow is integrated to the time of the first stepped variant (by name) at each step, t = eta steps. Each row records every variant's loss and, against the first variant, the parameter distance, cosine similarity, end-to-end matrix distance and loss difference (dlnlab.compare)."
   :allowed "a map {name overrides} of at least two variants (see :compare)"
   :check check-compare!})
