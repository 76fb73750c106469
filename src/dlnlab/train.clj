(ns dlnlab.train
  "The :network experiment kind's run (dlnlab.kind/run-kind :network): builds the
  network, steps the optimizer (or integrates gradient flow for an optimizer
  that runs for :time), records metrics on a cadence, stops on divergence, on a
  stop condition or on interrupt keeping everything recorded so far, and records
  the run's :facts (dlnlab.result). See doc/design.md for the result map."
  (:require [dlnlab.engine :as engine]
            [dlnlab.flow :as flow]
            [dlnlab.kind :as kind]
            [dlnlab.metrics :as metrics]
            [dlnlab.network :as network]
            [dlnlab.optim :as optim]
            [dlnlab.spec :as spec])
  (:import [java.util.concurrent.atomic AtomicBoolean]))

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
        ctx {:lr lr :stability-threshold (kind/stability-threshold (:optimizer exp) lr) :state state :record record}
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
        advance! (flow/integrator net (:optimizer exp) sharpness-fn)
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

(defn- by-time?
  "True when optimizer opt runs for the experiment's :time (its schema says
  :duration :time), not for :steps."
  [opt]
  (= :time (:duration (kind/schema :optimizer (:kind opt)))))

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
  opts as dlnlab.experiment/run's (:progress :on-record :interrupt).
  Throws ex-info when the experiment has no :optimizer."
  [exp opts]
  (when-not (contains? exp :optimizer)
    (let [kinds (spec/kinds-of :optimizer)]
      (spec/fail! [:optimizer] nil kinds
                  (str "The experiment has no :optimizer, so there is nothing to run. Add one, e.g. "
                       ":optimizer {:kind :gd :lr 0.01} with :steps 1000 (kinds: " (spec/key-list kinds) ")."))))
  (let [net (network/network exp)
        exp (:experiment net)
        params (aclone ^doubles (:params net))
        metric-keys (vec (get-in exp [:record :metrics]))
        {:keys [record! columns]} (recorder metric-keys (:on-record opts))
        outcome ((if (by-time? (:optimizer exp)) flow-loop discrete-loop) net params exp opts record!)
        final-net (assoc net :params params)
        eigensolves (metrics/eigensolve-counts (:state outcome))]
    (cond->
     {:experiment exp
     :status (:status outcome)
     :stop-reason (:stop-reason outcome)
     :trajectory (columns)
     :final {:step (:step outcome)
             :time (:time outcome)
             :loss (engine/loss final-net)
             :test-loss (network/test-loss final-net)
             :weights (when (get-in exp [:record :final-weights] true)
                        (network/weights final-net))}
     :facts (facts net (:optimizer exp))}
      eigensolves (assoc-in [:meta :eigensolves] eigensolves))))

(defmethod kind/run-kind :network [exp opts] (run exp opts))
