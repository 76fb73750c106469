(ns dlnlab.analysis
  "Analyses of a finished run, from its :experiment and :trajectory only: the
  period of the late oscillation of the loss and of each mode strength, which
  modes oscillate, the end of progressive sharpening, the step at which each
  mode is learned, and the final pathway shares (SCIENCE.md §4–§6).

  Each analysis is also a public function on plain vectors (`period`,
  `first-reaching`, `sharpening-end-step`, `learned-step`), so it applies to
  data from anywhere. Trajectory columns hold nil on rows where a metric was not
  due; every function here drops those rows first, so periods are counted in
  rows where the series was recorded. A period in rows is a period in steps only
  when the series was recorded every step: with `:record {:every 2}` a 2-cycle
  is sampled at one phase and looks converged (aliasing). `analyze` reports the
  steps between recorded rows next to each period."
  (:require [dlnlab.numeric :as numeric]
            [dlnlab.result :as result]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------- period

(defn- mean-abs-diff
  "mean_t |x_{t+p} - x_t| (second? false) or mean_t |x_{t+p} - 2 x_t + x_{t-p}|
  (second? true) over the array."
  ^double [^doubles x ^long p second?]
  (let [n (alength x)]
    (if second?
      (let [cnt (- n (* 2 p))]
        (loop [t p acc 0.0]
          (if (< t (- n p))
            (recur (inc t) (+ acc (Math/abs (+ (- (aget x (+ t p)) (* 2.0 (aget x t))) (aget x (- t p))))))
            (/ acc (double cnt)))))
      (let [cnt (- n p)]
        (loop [t 0 acc 0.0]
          (if (< t (- n p))
            (recur (inc t) (+ acc (Math/abs (- (aget x (+ t p)) (aget x t)))))
            (/ acc (double cnt))))))))

(defn- monotone? [^doubles x]
  (let [n (alength x)]
    (loop [t 1 up? true down? true]
      (if (and (< t n) (or up? down?))
        (let [d (- (aget x t) (aget x (dec t)))]
          (recur (inc t) (and up? (>= d 0.0)) (and down? (<= d 0.0))))
        (or up? down?)))))

(defn period
  "Period of the late oscillation of the series xs (nils dropped): 1, 2, 3, 4, ...
  up to :max-period, :converged, :aperiodic, or nil.

  On the last :window values x (the late part):
  - :converged when max x - min x <= max(:atol, :rtol * max |x|);
  - 1 when x does not oscillate: it is monotone, or smooth at lag 1
    (mean |x_{t+1} - 2x_t + x_{t-1}| <= :tol * S, with S = mean |x_{t+1} - x_t|);
  - else the smallest p in 2, 3, ..., :max-period with
    mean |x_{t+p} - 2x_t + x_{t-p}| <= :tol * S: x repeats every p values up to
    a slowly varying trend (a drifting mean or a slowly decaying amplitude); a p
    is tried only when the window holds at least 3p values;
  - :aperiodic when no p fits (chaos, noise, a longer period). Every p is tried,
    so the period-3, 5 and 6 windows inside a chaotic band are found too.
  The period counts values of xs (record rows, see the namespace docstring).

  Options: :window (the last half of xs, at least 16 and at most 128 values);
  :max-period (32); :tol (0.02); :rtol (1e-8); :atol (1e-12).
  Returns nil when the window has fewer than 8 values or a non-finite one."
  ([xs] (period xs {}))
  ([xs {:keys [window max-period tol rtol atol]
        :or {max-period 32 tol 0.02 rtol 1e-8 atol 1e-12}}]
   (let [all (vec (remove nil? xs))
         n (count all)
         w (long (if window
                   (min (long window) n)
                   (min n 128 (max 16 (quot (inc n) 2)))))
         tail (subvec all (- n w))]
     (when (and (>= w 8) (every? numeric/finite? tail))
       (let [x (double-array tail)
             hi (double (areduce x i m Double/NEGATIVE_INFINITY (max m (aget x i))))
             lo (double (areduce x i m Double/POSITIVE_INFINITY (min m (aget x i))))
             scale (max (Math/abs hi) (Math/abs lo))
             tol (double tol)]
         (if (<= (- hi lo) (max (double atol) (* (double rtol) scale)))
           :converged
           (let [s (mean-abs-diff x 1 false)
                 fits? (fn [^long p] (<= (mean-abs-diff x p true) (* tol s)))]
             (cond
               (or (monotone? x) (fits? 1)) 1
               :else (or (first (filter fits? (take-while #(and (<= ^long % (long max-period)) (<= (* 3 ^long %) w))
                                                         (iterate inc 2))))
                         :aperiodic)))))))))

(defn oscillating?
  "True when a period (as returned by `period`) means the series oscillates: a
  period of 2 or more, or :aperiodic. False for 1, :converged and nil."
  [p]
  (boolean (or (= p :aperiodic) (and (number? p) (>= (long p) 2)))))

;; ---------------------------------------------------------------- first crossings

(defn first-reaching
  "The first step at which the series reaches level: the entry of steps paired
  with the first x >= level (rows where x is nil are skipped). steps and xs are
  parallel vectors (e.g. the :step column and a metric's column).
  Returns the step, or nil when xs never reaches level or level is nil or not finite."
  [steps xs level]
  (when (numeric/finite? level)
    (let [level (double level)]
      (some (fn [[s x]] (when (and (numeric/finite? x) (>= (double x) level)) s))
            (map vector steps xs)))))

(defn sharpening-end-step
  "The end of progressive sharpening: the first step at which the sharpness
  reaches the stability threshold 2/lr (Cohen et al. 2021, SCIENCE.md §5–§6).

  Options: :fraction (1.0): the step where sharpness >= fraction * threshold.
  Returns the step, or nil when the sharpness never gets there, was not recorded,
  or there is no threshold (gradient flow)."
  ([steps sharpness threshold] (sharpening-end-step steps sharpness threshold {}))
  ([steps sharpness threshold {:keys [fraction] :or {fraction 1.0}}]
   (when (numeric/finite? threshold)
     (first-reaching steps sharpness (* (double fraction) (double threshold))))))

(defn learned-step
  "The step at which a mode is learned: the first step where its strength
  u^T F v reaches fraction * s of its target singular value s (SCIENCE.md §4).

  Options: :fraction (0.9).
  Returns the step, or nil when it never does or s is not positive (a zero
  target mode has nothing to learn)."
  ([steps strengths s] (learned-step steps strengths s {}))
  ([steps strengths s {:keys [fraction] :or {fraction 0.9}}]
   (when (and (numeric/finite? s) (pos? (double s)))
     (first-reaching steps strengths (* (double fraction) (double s))))))

;; ---------------------------------------------------------------- analyze

(defn- recorded
  "[[step value] ...] of the rows where column k was recorded."
  [traj k]
  (filterv (comp some? second) (map vector (:step traj) (get traj k))))

(defn- row-spacing
  "Median number of steps between consecutive recorded values of column k, or nil."
  [traj k]
  (let [steps (long-array (keep-indexed (fn [i v] (when (some? v) (nth (:step traj) i))) (get traj k)))
        n (dec (alength steps))]
    (when (pos? n)
      (let [gaps (long-array n)]
        (dotimes [i n] (aset gaps i (- (aget steps (inc i)) (aget steps i))))
        (java.util.Arrays/sort gaps)
        (aget gaps (quot n 2))))))

(defn- last-recorded [traj k] (second (peek (recorded traj k))))

(defn- step->time [traj step]
  (when step
    (some (fn [[s t]] (when (= s step) t)) (map vector (:step traj) (:time traj)))))

(defn analyze
  "Analyses of a run result (doc/design.md), reading only its :trajectory and
  :facts (dlnlab.result). Each entry is nil when the metrics it needs were not
  recorded.

  The target singular values s_i and the stability threshold are the facts the
  run recorded (dlnlab.result/targets, dlnlab.result/stability-threshold); a
  recorded :stability-threshold metric wins over the fact.

  Options: :period (options of `period`, default {}); :learned-fraction (0.9, see
  `learned-step`); :sharpening-fraction (1.0, see `sharpening-end-step`);
  :stability-threshold (nil: the threshold, instead of the recorded fact);
  :targets (nil: the target singular values s_i, instead of the recorded fact).

  Returns {:loss-period p :mode-periods [p ...] :oscillating-modes [i ...]
  :period-unit-steps {:loss n :modes n} (steps between recorded rows)
  :stability-threshold (recorded, or the fact when sharpness was recorded)
  :sharpening-end-step n :sharpening-end-time t
  :mode-targets [s ...] :learned-fraction f :mode-learned-steps [n-or-nil ...]
  :mode-learned-times [t-or-nil ...] :final-pathway-shares [[share per pathway] per mode]}
  (a mode's shares are nil when its target is 0 or its final strength below a
  tenth of the target: ratios of a near-zero total mean nothing),
  periods as in `period` (counted in recorded rows), modes 0-based in the target's order."
  ([result] (analyze result {}))
  ([result {:keys [learned-fraction sharpening-fraction] :or {learned-fraction 0.9 sharpening-fraction 1.0}
            :as opts}]
   (let [traj (:trajectory result)
         period-opts (:period opts {})
         mode-rows (recorded traj :modes)
         n-modes (count (second (first mode-rows)))
         mode-series (fn [^long i] (mapv #(nth (second %) i) mode-rows))
         mode-periods (when (seq mode-rows)
                        (mapv #(period (mode-series %) period-opts) (range n-modes)))
         sharp-rows (recorded traj :sharpness)
         thr (or (last-recorded traj :stability-threshold)
                 (when (seq sharp-rows) (or (:stability-threshold opts) (result/stability-threshold result))))
         sharp-step (when (seq sharp-rows)
                      (sharpening-end-step (mapv first sharp-rows) (mapv second sharp-rows) thr
                                           {:fraction sharpening-fraction}))
         targets (when (seq mode-rows) (or (:targets opts) (result/targets result)))
         learned (when (and (seq mode-rows) targets)
                   (mapv (fn [^long i]
                           (when (< i (count targets))
                             (learned-step (mapv first mode-rows) (mode-series i) (nth targets i)
                                           {:fraction learned-fraction})))
                         (range n-modes)))]
     {:loss-period (when (seq (recorded traj :loss)) (period (get traj :loss) period-opts))
      :mode-periods mode-periods
      :oscillating-modes (when mode-periods
                           (vec (keep-indexed (fn [i p] (when (oscillating? p) i)) mode-periods)))
      :period-unit-steps {:loss (row-spacing traj :loss) :modes (row-spacing traj :modes)}
      :stability-threshold thr
      :sharpening-end-step sharp-step
      :sharpening-end-time (step->time traj sharp-step)
      :mode-targets (some-> targets vec)
      :learned-fraction learned-fraction
      :mode-learned-steps learned
      :mode-learned-times (some->> learned (mapv #(step->time traj %)))
      ;; shares only where they mean something: nil for a mode whose target is 0
      ;; or whose strength is below a tenth of it (dlnlab.result/meaningful-shares)
      :final-pathway-shares (let [shares (last-recorded traj :pathway-shares)]
                              (if (and shares targets)
                                (result/meaningful-shares shares (last-recorded traj :modes) targets)
                                shares))})))
