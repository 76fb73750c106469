(ns dlnlab.compare
  "Side-by-side runs: an experiment's :compare {name overrides} trains its
  variants in lockstep from one initialization and one dataset and records, each
  recorded step, how far they have drifted apart.

  Every stepped variant takes one step per step. A gradient-flow variant is
  integrated, each step, over the time one step of the clock takes: the clock is
  the first stepped variant by name (so GD at eta is compared with the flow at
  equal time t = eta steps), or :time / :steps when every variant is a flow.

  Trajectory columns, besides :step and :time (the clock's):
    :loss-<v>             the training loss of variant v
  and for every variant v but the first (by name), against the first variant a:
    :distance-<v>         |theta_v - theta_a|, the Euclidean parameter distance
    :cosine-<v>           <theta_a, theta_v> / (|theta_a| |theta_v|)
    :end-to-end-distance-<v>  |F_v - F_a|_F, the end-to-end matrices' distance
    :loss-difference-<v>  l(theta_v) - l(theta_a)"
  (:require [dlnlab.engine :as engine]
            [dlnlab.network :as network]
            [dlnlab.optim :as optim]
            [dlnlab.schedule :as schedule]
            [dlnlab.train :as train])
  (:import [dlnlab.kernel Blas]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- column [prefix v] (keyword (str prefix "-" (name v))))

(defn- distance ^double [^doubles a ^doubles b]
  (let [n (alength a)]
    (loop [i 0 acc 0.0]
      (if (< i n)
        (let [d (- (aget a i) (aget b i))] (recur (inc i) (+ acc (* d d))))
        (Math/sqrt acc)))))

(defn- cosine ^double [^doubles a ^doubles b]
  (let [n (alength a)]
    (/ (Blas/dot n a 0 b 0) (* (Math/sqrt (Blas/dot n a 0 a 0)) (Math/sqrt (Blas/dot n b 0 b 0))))))

(defn- end-to-end ^doubles [net ^doubles params]
  (:f (engine/end-to-end net params)))

(defn pair-measures
  "The measures of params pb against pa on net: {:distance :cosine
  :end-to-end-distance :loss-difference} (the loss difference is lb - la)."
  [net ^doubles pa ^doubles pb la lb]
  {:distance (distance pa pb)
   :cosine (cosine pa pb)
   :end-to-end-distance (distance (end-to-end net pa) (end-to-end net pb))
   :loss-difference (- (double lb) (double la))})

(defn- variant-experiment [exp v overrides]
  (cond-> (assoc (dissoc exp :compare) :optimizer (schedule/check-optimizer! exp (train/variant-optimizer exp overrides)
                                                                            [:compare v :optimizer]))
    (get-in overrides [:seeds :batches]) (assoc-in [:seeds :batches] (get-in overrides [:seeds :batches]))))

(defn run
  "Runs a normalized experiment with :compare (see the namespace docstring);
  opts as dlnlab.experiment/run's (:progress :interrupt). Returns {:experiment
  :status :stop-reason :trajectory :final {:step :time :losses {v loss}
  :weights {v weights} (when [:record :final-weights])} :facts (the first
  variant's) :compare {:variants [v ...] :reference a :clock v-or-nil
  :optimizers {v opt} :facts {v facts}} :analysis {:final {v {measure value}}}}
  and :diverging-variant when one diverged.
  A variant whose loss is not finite or exceeds [:stop :loss-above] ends the run
  with status :diverged."
  [exp opts]
  (let [net (network/network (dissoc exp :compare))
        exp (assoc (:experiment net) :compare (:compare exp))
        names (vec (sort (keys (:compare exp))))
        reference (first names)
        vexps (into {} (for [v names] [v (variant-experiment exp v (get-in exp [:compare v]))]))
        stepped (filterv #(not (train/by-time? (:optimizer (vexps %)))) names)
        clock (first stepped)
        steps (long (or (:steps exp) 100))
        clock-dt (if clock
                   (double (:dt (train/optimizer-in-place net (:optimizer (vexps clock)) 0 0.0 0 0.0)))
                   (/ (double (:time exp)) (double steps)))
        steppers (into {} (for [v names]
                            [v (train/optimizer-in-place net (:optimizer (vexps v))
                                                         (optim/role-seed (vexps v) :batches)
                                                         clock-dt 0 0.0)]))
        params (into {} (for [v names] [v (aclone ^doubles (:params net))]))
        every (long (get-in exp [:record :every] 1))
        loss-above (double (get-in exp [:stop :loss-above] 1e12))
        others (rest names)
        rows (volatile! [])
        record! (fn [^long step losses]
                  (let [^doubles pa (params reference)
                        la (double (losses reference))
                        row (into {:step step :time (* clock-dt step)}
                                  (map (fn [v] [(column "loss" v) (losses v)]))
                                  names)]
                    (vswap! rows conj
                            (reduce (fn [row v]
                                      (if (every? #(Double/isFinite (double (losses %))) [reference v])
                                        (into row (map (fn [[k x]] [(column (name k) v) x]))
                                              (pair-measures net pa (params v) la (double (losses v))))
                                        row))
                                    row others))))
        outcome (loop [step 0]
                  (let [losses (into {} (for [v names]
                                          [v (double ((:gradient! (steppers v)) (params v) step))]))
                        bad (some (fn [v] (let [l (double (losses v))]
                                            (when-not (and (Double/isFinite l) (<= l loss-above)) v)))
                                  names)
                        stop? (or bad (>= step steps)
                                  (train/interrupted? opts))]
                    (when (or stop? (zero? (rem step every))) (record! step losses))
                    (when-let [p (:progress opts)] (p {:step step :steps steps :loss (losses reference)}))
                    (cond
                      bad {:status :diverged :step step :variant bad :losses losses
                           :stop-reason (if (Double/isFinite (double (losses bad))) :loss-above :non-finite)}
                      (>= step steps) {:status :completed :step step :losses losses}
                      stop? {:status :stopped :stop-reason :interrupted :step step :losses losses}
                      :else (do (doseq [v names] ((:apply! (steppers v)) (params v) step))
                                (recur (inc step))))))
        rs @rows
        cols (distinct (mapcat keys rs))
        final-row (last rs)]
    (cond->
     {:experiment exp
     :status (:status outcome)
     :stop-reason (:stop-reason outcome)
     :trajectory (into {} (for [c cols] [c (mapv #(get % c) rs)]))
     :final (cond-> {:step (:step outcome) :time (* clock-dt (long (:step outcome))) :losses (:losses outcome)}
              (get-in exp [:record :final-weights] true)
              (assoc :weights (into {} (for [v names] [v (network/packed->weights net (params v))]))))
     :facts (train/facts net (:optimizer (vexps reference)))
     :compare {:variants names :reference reference :clock clock
               :optimizers (into {} (for [v names] [v (:optimizer (vexps v))]))
               :facts (into {} (for [v names] [v (train/facts net (:optimizer (vexps v)))]))}
     :analysis {:final (into {} (for [v others]
                                  [v (into {} (for [k [:distance :cosine :end-to-end-distance :loss-difference]]
                                                [k (get final-row (column (name k) v))]))]))}}
      (:variant outcome) (assoc :diverging-variant (:variant outcome)))))

(defmethod train/run-mode :compare [exp opts] (run exp opts))
