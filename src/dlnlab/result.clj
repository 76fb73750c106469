(ns dlnlab.result
  "The one reader of results. A run records what it knew once, in the result's
  :facts map, and every consumer (analysis, figures, summaries, studies) reads
  it here instead of re-deriving it from the experiment.

  :facts of a network run (written by the run, before the first step):
    :lr-multiplier        the parameterization's learning-rate multiplier (1 for
                          :standard)
    :effective-lr         the optimizer's :lr times :lr-multiplier; nil for
                          gradient flow
    :stability-threshold  the sharpness above which the optimizer is linearly
                          unstable (2/η for GD, 2(1+β)/η for heavy ball); nil
                          where there is none (gradient flow)
    :time-scale           the training time one step advances (η_eff for GD;
                          nil when the run is indexed by :time)
    :x-axis               :step or :time, what the trajectory is indexed by
    :targets              the target's singular values, largest first (nil when
                          the task has no target matrix)
    :dims                 [d-in d-out]
    :parameter-count      n, the length of the packed parameter vector

  :facts of an :sde run hold the same keys where they apply."
  (:refer-clojure :exclude [time])
  (:require [clojure.string :as str]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn facts
  "The :facts map of result r (nil for results written before facts existed)."
  [r]
  (:facts r))

(defn fact
  "One recorded fact of result r, nil when absent."
  [r k]
  (get-in r [:facts k]))

(defn lr-multiplier "See `facts`." [r] (fact r :lr-multiplier))
(declare legacy-effective-lr legacy-stability-threshold)

(defn effective-lr
  "See `facts`. For a result written before runs recorded :facts, derived as
  figures always did: [:analysis :lr]; 2 / [:analysis :stability-threshold];
  2 / the last recorded :stability-threshold; the optimizer's :lr times
  [:analysis :lr-multiplier] or [:meta :lr-multiplier], or times 1 for the
  :standard parameterization. nil when unknown (gradient flow, or a :mup/:ntk
  result that does not say its multiplier)."
  [r]
  (if (contains? r :facts) (fact r :effective-lr) (legacy-effective-lr r)))

(defn stability-threshold
  "See `facts`. For a result without :facts: [:analysis :stability-threshold],
  else the last recorded :stability-threshold, else 2 / `effective-lr` (such
  results come from GD, SGD or Langevin runs). nil when unknown."
  [r]
  (if (contains? r :facts) (fact r :stability-threshold) (legacy-stability-threshold r)))
(defn time-scale "See `facts`." [r] (fact r :time-scale))
(defn x-axis "See `facts`." [r] (fact r :x-axis))
(defn targets "See `facts`." [r] (fact r :targets))

(defn kind
  "What produced result r: :sde for a per-mode SDE experiment, :network for a
  network run. Presentation code dispatches on this (a multimethod on
  `result/kind`) instead of testing for :sde itself."
  [r]
  (or (get-in r [:experiment :kind]) :network))

;; ---------------------------------------------------------------- accessors
;; What consumers read from a result besides its facts: recorded series, last
;; and late values, mode targets, the SDE ensemble, a one-line summary, and the
;; derivations of facts for results written before runs recorded :facts.

(defn- finite-number? [x] (and (number? x) (Double/isFinite (double x))))

(defn- positive-number? [x] (and (finite-number? x) (> (double x) 0.0)))

(defn result?
  "True for a result map (it has a :trajectory map); false for nil, a failed
  sweep slot or anything else."
  [x]
  (and (map? x) (map? (:trajectory x))))

(defn recorded
  "[[x v] ...]: the rows of r's trajectory where both column x-key (:step or
  :time) and column k hold a value, in row order."
  [r x-key k]
  (let [traj (:trajectory r)]
    (vec (keep (fn [[x v]] (when (and (some? x) (some? v)) [x v]))
               (map vector (get traj x-key) (get traj k))))))

(defn last-recorded
  "The last non-nil value of trajectory column k of r, or nil."
  [r k]
  (last (remove nil? (get-in r [:trajectory k]))))

(defn any-recorded?
  "True when trajectory column k of r holds a value in some row."
  [r k]
  (boolean (some some? (get-in r [:trajectory k]))))

(defn late-values
  "The recorded values of column k in the last fifth of r's recorded rows (at
  least the last one), in row order: what a run settled to. [] when none."
  [r k]
  (let [vs (mapv second (recorded r :step k))
        n (count vs)]
    (subvec vs (min (max 0 (dec n)) (quot (* 4 n) 5)))))

(defn default-x-axis
  "What r's figures put on x: its recorded :x-axis fact, else :time for gradient
  flow and :step otherwise (results written before :facts)."
  [r]
  (or (x-axis r)
      (if (= :gradient-flow (get-in r [:experiment :optimizer :kind])) :time :step)))

(defn base-lr
  "The optimizer's :lr as configured (before the parameterization's
  multiplier), a double, or nil when absent or not positive."
  [r]
  (let [lr (get-in r [:experiment :optimizer :lr])] (when (positive-number? lr) (double lr))))

(defn hidden-width
  "The hidden width N of r's model: :width, else the largest hidden entry of
  :widths; nil when neither says."
  [r]
  (let [model (get-in r [:experiment :model])
        ws (:widths model)]
    (or (:width model)
        (when (> (count ws) 2) (apply max (subvec (vec ws) 1 (dec (count ws))))))))

(defn- legacy-effective-lr [r]
  (let [a (:analysis r)
        mult (or (:lr-multiplier a) (get-in r [:meta :lr-multiplier])
                 (when (contains? #{nil :standard} (get-in r [:experiment :model :parameterization])) 1.0))
        recorded-threshold (last-recorded r :stability-threshold)]
    (cond
      (positive-number? (:lr a)) (double (:lr a))
      ;; results without :facts come from GD, SGD or Langevin, whose threshold is 2/η
      (positive-number? (:stability-threshold a)) (/ 2.0 (double (:stability-threshold a)))
      (positive-number? recorded-threshold) (/ 2.0 (double recorded-threshold))
      (and (base-lr r) (positive-number? mult)) (* (double (base-lr r)) (double mult))
      :else nil)))

(defn- legacy-stability-threshold [r]
  (let [t (or (get-in r [:analysis :stability-threshold]) (last-recorded r :stability-threshold))]
    (if (positive-number? t)
      (double t)
      (when-let [lr (legacy-effective-lr r)] (/ 2.0 (double lr))))))

(defn stability-constant
  "c in threshold = c/η for r's optimizer: `stability-threshold` times
  `effective-lr` (2 for GD, 2(1+β) for heavy ball); nil when r has no
  threshold (gradient flow). Thresholds of every optimizer scale as 1/η, so c/η' is the
  threshold the same optimizer would have at another learning rate η'."
  [r]
  (if (contains? r :facts)
    (let [t (stability-threshold r) lr (effective-lr r)]
      (when (and (positive-number? t) (positive-number? lr))
        ;; rounded to 12 digits so runs of one optimizer at different η agree exactly
        (/ (Math/rint (* 1e12 (double t) (double lr))) 1e12)))
    ;; results without :facts come from GD, SGD or Langevin
    (when (legacy-stability-threshold r) 2.0)))

(defn stability-threshold-at
  "The stability threshold of r's optimizer at effective learning rate lr:
  `stability-constant` / lr, with c = 2 (plain gradient descent) when r does not
  say."
  [r lr]
  (/ (double (or (stability-constant r) 2.0)) (double lr)))

(defn mode-targets
  "Target singular values s_i of r in mode order: the :targets fact, else
  [:analysis :targets], else [:analysis :mode-targets], else the
  :singular-values of a :matrix-factorization task. A vector of doubles or nil."
  [r]
  (let [a (:analysis r)
        task (get-in r [:experiment :task])
        t (or (targets r) (:targets a) (:mode-targets a)
              (when (= :matrix-factorization (:kind task)) (:singular-values task)))]
    (when (seq t) (mapv double t))))

(def share-fraction
  "The default fraction of its target a mode's strength must reach for its
  pathway shares to mean something (`meaningful-shares`)."
  0.1)

(defn meaningful-shares
  "The pathway shares of each mode where they mean something, nil elsewhere: a
  mode whose target s_i is 0 (or unknown) has none, and neither has a mode whose
  strength |pi_i| is below fraction x s_i (shares of a near-zero total are ratios
  of noise, e.g. [790.2 -789.2]). shares is [[share per pathway] per mode] (nil
  entries allowed), strengths [pi_i ...] or nil (then only targets decide),
  targets [s_i ...]. Options: :fraction (`share-fraction`). Returns a vector as
  long as shares, or nil for nil shares."
  ([shares strengths targets] (meaningful-shares shares strengths targets {}))
  ([shares strengths targets {:keys [fraction] :or {fraction share-fraction}}]
   (when shares
     (vec (map-indexed
           (fn [i sh]
             (let [s (nth targets i nil)
                   p (nth strengths i nil)]
               (when (and sh (positive-number? s)
                          (or (nil? strengths)
                              (and (finite-number? p) (>= (Math/abs (double p)) (* (double fraction) (double s))))))
                 sh)))
           shares)))))

(defn final-shares
  "The last recorded pathway shares of r kept by `meaningful-shares` (against
  its last recorded mode strengths and `mode-targets`); without targets, the
  recorded shares as they are. Options as `meaningful-shares`."
  ([r] (final-shares r {}))
  ([r opts]
   (let [shares (last-recorded r :pathway-shares)
         targets (mode-targets r)]
     (if (and shares targets)
       (meaningful-shares shares (last-recorded r :modes) targets opts)
       shares))))

(defn ensemble
  "The per-mode ensemble of the result r of an :sde experiment, the one shape
  every SDE figure and summary reads: {:time :mean :std :quantiles {q [[per
  mode] per time]} :paths [[[pi per mode] per time] per kept path] :final [[pi
  per mode] per path] :first-passage {fraction [[t per mode] per path]}
  :learned-time :n-paths :lr :batch-size :targets [s_i ...] :stationary-density
  {mode [[pi p] ...]} (when r has the stationary analysis)}."
  [r]
  (let [{:keys [experiment trajectory final analysis]} r
        sde (:sde experiment)
        qs (get-in sde [:record :quantiles])
        rows (:paths trajectory)]
    {:time (:time trajectory)
     :mean (:mean trajectory)
     :std (:std trajectory)
     :quantiles (into (sorted-map) (for [q qs :let [col (get trajectory (keyword (str "q" q)))] :when col] [q col]))
     :paths (vec (for [p (range (count (first rows)))] (mapv #(nth % p nil) rows)))
     :final (:strengths final)
     :first-passage (into (sorted-map) (:first-passage final))
     :learned-time (:learned-time analysis)
     :n-paths (:paths sde)
     :lr (:lr sde)
     :batch-size (:batch-size sde)
     :targets (mapv :s (:modes sde))
     :stationary-density (into {} (for [st (:stationary analysis)
                                        :let [{:keys [edges theory-density]} (:histogram st)]
                                        :when (seq theory-density)]
                                    [(:mode st) (mapv (fn [[a b] p] [(* 0.5 (+ (double a) (double b))) p])
                                                      (partition 2 1 edges) theory-density)]))}))

(defn short-number
  "x as a short label: integers plainly (below 1e6), others with 4 significant
  digits and no trailing zeros; non-numbers and non-finite numbers by str."
  [x]
  (cond
    (not (finite-number? x)) (str x)
    (and (== (double x) (Math/rint (double x))) (< (Math/abs (double x)) 1e6)) (str (long (double x)))
    :else (-> (format "%.4g" (double x))
              (str/replace #"(\.\d*?)0+(e|$)" "$1$2")
              (str/replace #"\.(e|$)" "$1"))))

(defn run-summary
  "One line saying what run r was: optimizer kind, lr, model (depth, width,
  parameterization) and status, e.g. \"gd, lr = 0.05, chain (L = 2), completed\"."
  [r]
  (let [exp (:experiment r)
        opt (:optimizer exp)
        model (:model exp)]
    (str/join ", "
              (remove nil?
                      [(some-> (:kind opt) name)
                       (when (:lr opt) (str "lr = " (short-number (:lr opt))))
                       (when model
                         (let [details (remove nil? [(when (:depth model) (str "L = " (:depth model)))
                                                     (when (:width model) (str "N = " (:width model)))
                                                     (some-> (:parameterization model) name)])]
                           (str (some-> (:kind model) name)
                                (when (seq details) (str " (" (str/join ", " details) ")")))))
                       (some-> (:status r) name)]))))
