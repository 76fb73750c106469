(ns dlnlab.papers.saddle-to-saddle
  "Reproduction of [SDE] (\"Stochastic Gradient Descent in the Saddle-to-Saddle
  Regime of Deep Linear Networks\", arXiv 2604.06366; SCIENCE.md §4 and §7):
  one-pass minibatch SGD on a teacher-student task (x ~ N(0, I), y = M x + xi)
  from a small, balanced and aligned initialization, against the per-mode SDE
  of dlnlab.sde, on the time axis t = lr x steps.

  Three claims, each put next to its theory:
  1. The per-mode diffusion D(pi) = (lr/B) L^2 pi^(4-4/L) (2 (pi - s)^2 + sigma^2)
     peaks at pi* = 2(L-1)s/(3L-2) < s, so without label noise a mode's
     diffusion is largest shortly BEFORE the mode is learned: in the SDE
     ensemble (dlnlab.sde/diffusion-peak) and in the full network, where D is
     estimated from the mode strengths' second differences across seeds
     (`diffusion-estimate`). A large label noise removes the interior maximum
     (the contrast case).
  2. With label noise the strength of a learned mode fluctuates with the
     stationary density of dlnlab.theory; the SDE ensemble matches it (KS
     distance), its variance is near the Gibbs-like T L s^(2-2/L),
     T = lr sigma^2/(2B); the discrete process (SGD's own step) has the larger
     discrete-time variance (`linear-stationary-variance`).
  3. The ensemble mean of each mode strength of the SDE follows the mean over
     seeds of full-network SGD; the weak error max_t |mean_SDE - mean_SGD| / s
     shrinks with the learning rate (`weak-error`).

  Why one-pass sampling: the SDE's noise model draws a fresh Gaussian batch each
  step, which is exactly what :sampling :one-pass does; a finite training set
  would add a fixed sampling error (its least-squares optimum differs from the
  teacher by O(1/sqrt(n))) and correlations between steps that reuse samples.

  `reproduce` runs everything and returns a plain-data report; `reduced` is the
  seconds-long version the tests run; dlnlab.plot/write-figure-data! draws its :figures. What
  the runs show, with numbers, is in examples/papers/saddle-to-saddle.md."
  (:refer-clojure :exclude [reduced])
  (:require [clojure.string :as str]
            [dlnlab.plot :as plot]
            [dlnlab.sde :as sde]
            [dlnlab.sweep :as sweep]
            [dlnlab.theory :as theory]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------- small helpers

(defn- fail! [msg path value allowed]
  (throw (ex-info msg {:path path :value value :allowed allowed})))

(defn- elapsed-ms ^long [^long t0] (quot (- (System/nanoTime) t0) 1000000))

(defn- mean ^double [xs]
  (let [v (vec xs) n (count v)]
    (if (zero? n) Double/NaN (/ (double (reduce + 0.0 v)) n))))

(defn- sample-variance ^double [xs]
  (let [v (vec xs) n (count v) m (mean v)]
    (if (< n 2) Double/NaN
        (/ (double (reduce + 0.0 (map #(let [d (- (double %) m)] (* d d)) v))) (dec n)))))

(defn- median [xs]
  (let [v (vec (sort xs)) n (count v)]
    (cond (zero? n) nil
          (odd? n) (double (v (quot n 2)))
          :else (* 0.5 (+ (double (v (dec (quot n 2)))) (double (v (quot n 2))))))))

(defn- interp
  "Linear interpolation of the samples ys on the increasing grid ts at t (clamped
  to the grid's ends)."
  ^double [ts ys ^double t]
  (let [ts (vec ts) n (count ts)]
    (cond
      (<= t (double (ts 0))) (double (nth ys 0))
      (>= t (double (ts (dec n)))) (double (nth ys (dec n)))
      :else (let [k (long (loop [lo 0 hi (dec n)]          ; ts[lo] <= t < ts[hi]
                            (if (<= (- hi lo) 1) lo
                                (let [mid (quot (+ lo hi) 2)]
                                  (if (<= (double (ts mid)) t) (recur mid hi) (recur lo mid))))))
                  t0 (double (ts k)) t1 (double (ts (inc k)))
                  y0 (double (nth ys k)) y1 (double (nth ys (inc k)))]
              (+ y0 (* (- y1 y0) (/ (- t t0) (- t1 t0))))))))

;; ---------------------------------------------------------------- the setting

(def setup
  "The default setting: a depth-3 chain of width 6 learns a 3 x 3 teacher with
  singular values 3, 2 and 1 (identity singular vectors, x ~ N(0, I)) by one-pass
  SGD with batch size 4 from the balanced, aligned initialization with every mode
  at pi0 = 1e-3 (plateaus of about pi0^(-1/3)/s = 3.3, 5 and 10 time units,
  SCIENCE.md §4), over the time span 12 (t = lr x steps)."
  {:depth 3 :targets [3.0 2.0 1.0] :width 6 :pi0 1.0e-3 :batch-size 4 :label-noise 0.0
   :time 12.0 :seed 1})

;; ---------------------------------------------------------------- theory beside the runs

(defn mode-params
  "The dlnlab.theory parameter map of target mode s under cfg (keys of `setup`,
  plus :lr, :batch-size and :label-noise): {:s :pi0 :depth :lr :batch-size :label-noise}."
  [cfg s]
  (let [{:keys [pi0 depth lr batch-size label-noise]} (merge setup cfg)]
    {:s (double s) :pi0 (double pi0) :depth depth :lr (double lr) :batch-size batch-size
     :label-noise (double (or label-noise 0.0))}))

(defn linear-stationary-variance
  "Stationary variance of a learned mode's strength in the linearized per-mode
  dynamics with the full minibatch noise variance (2 e^2 + sigma^2)/B, e = pi - s
  (a derivation of ours, SCIENCE.md §7). Near pi = s the drift is -S e and the
  noise standard deviation per unit time sqrt(lr/B) S sqrt(2 e^2 + sigma^2),
  S = L s^(2-2/L); keeping the 2 e^2 part (SCIENCE.md's Gibbs and discrete
  formulas drop it) gives
    continuous SDE:         Var = lr sigma^2 S / (2 (B - lr S)),
    discrete (SGD's step):  Var = lr sigma^2 S / (B (2 - lr S) - 2 lr S),
  which reduce to T S (T = lr sigma^2/(2B)) and lr sigma^2 S / (B (2 - lr S))
  for lr S << B.

  Takes {:s :depth :lr :batch-size :label-noise}; option :discrete? (false).
  Returns the variance, or nil when the denominator is not positive (the
  multiplicative noise wins: no finite linearized variance)."
  ([params] (linear-stationary-variance params {}))
  ([{:keys [s depth lr batch-size label-noise]} {:keys [discrete?]}]
   (let [sharp (theory/single-path-sharpness (double s) depth)
         lr (double lr) b (double batch-size) sg (double label-noise)
         x (* lr sharp)
         den (if discrete? (- (* b (- 2.0 x)) (* 2.0 x)) (* 2.0 (- b x)))]
     (when (pos? den) (/ (* lr sg sg sharp) den)))))

(defn gradient-flow-times
  "Gradient-flow times of one mode from pi0 (dlnlab.theory/gradient-flow-time,
  SCIENCE.md §4): {:peak time to reach pi* (dlnlab.theory/peak-diffusion-pi;
  nil without an interior maximum) :learned {fraction time}}."
  [params fractions]
  (let [pstar (theory/peak-diffusion-pi params)
        pi0 (double (:pi0 params))]
    {:peak (when (and pstar (> (double pstar) pi0)) (theory/gradient-flow-time params pstar))
     :peak-pi pstar
     :learned (into (sorted-map) (for [f fractions] [f (theory/learning-time params {:fraction f})]))}))

;; ---------------------------------------------------------------- experiments as data

(defn steps-for
  "Number of SGD steps for SDE time t at learning rate lr: round(t / lr)."
  ^long [lr t]
  (long (Math/round (/ (double t) (double lr)))))

(defn experiment
  "The experiment map of one full-network SGD run under cfg (keys of `setup`):
  a :chain of depth L and hidden width :width, :balanced-aligned init with
  :strengths (default pi0 for every mode), a :teacher-student task with the
  :targets as teacher singular values, identity covariance and :label-noise,
  one-pass SGD with :lr and :batch-size for (steps-for lr :time) steps, :modes
  recorded every :every steps (1). Returns the map for dlnlab.experiment/run."
  [cfg]
  (let [{:keys [depth targets width pi0 strengths lr batch-size label-noise time every seed]} (merge setup cfg)
        d (count targets)]
    (when-not lr (fail! "cfg needs :lr, the SGD learning rate." [:lr] lr "a positive number"))
    {:seed seed
     :model {:kind :chain :depth depth :width width
             :init {:kind :balanced-aligned :strengths (vec (or strengths (repeat d pi0)))}}
     :task {:kind :teacher-student :input-dim d :output-dim d :samples 16 :test-samples 0
            :teacher {:singular-values (vec targets)} :label-noise (double label-noise)}
     :optimizer {:kind :sgd :lr lr :batch-size batch-size :sampling :one-pass}
     :steps (steps-for lr time)
     :record {:every (long (or every 1)) :metrics [:modes] :final-weights false}}))

(defn sde-spec
  "The dlnlab.sde/simulate spec of the per-mode SDE under cfg (keys of `setup`):
  one mode per target at its initial strength, the same lr, B, sigma and time
  span as `experiment`.
  Options: :paths (2000), :dt (SDE time step, default lr/10), :record-time
  (record interval, default 0.02), :seed (11), :threads (1),
  :learned-fractions ([0.5 0.9]). Returns the spec."
  [cfg {:keys [paths dt record-time seed threads learned-fractions]
        :or {paths 2000 record-time 0.02 seed 11 threads 1 learned-fractions [0.5 0.9]}}]
  (let [{:keys [depth targets pi0 strengths lr batch-size label-noise time]} (merge setup cfg)
        dt (double (or dt (/ (double lr) 10.0)))
        rt (max dt (double record-time))]
    {:modes (mapv (fn [s p] {:s (double s) :pi0 (double p)}) targets (or strengths (repeat pi0)))
     :depth depth :lr (double lr) :batch-size batch-size :label-noise (double label-noise)
     :paths paths :dt dt :time (double time) :seed seed :threads threads
     :learned-fractions learned-fractions
     :record {:every-time rt :paths 0}}))

(defn network-ensemble
  "Runs `experiment` of cfg once per seed (dlnlab.sweep/sweep over [:seed] with
  :seeds :shared, so seed k is run k) and collects the mode strengths.

  Options: :jobs (2) parallel runs; :progress (fn [{:stage :done :total}]) after
  each run; :stage (a label for :progress).
  Returns {:time [t per record] :paths [[[pi per mode] per record] per completed
  seed] :seeds n :status {status count} :elapsed-ms}."
  [cfg seeds {:keys [jobs progress stage] :or {jobs 2}}]
  (let [t0 (System/nanoTime)
        total (count seeds)
        done (atom 0)
        nm (count (:targets (merge setup cfg)))
        rs (sweep/sweep (experiment cfg) {[:seed] (vec seeds)}
                        {:jobs jobs :seeds :shared
                         :on-result (fn [_ _ _] (let [d (swap! done inc)]
                                                  (when progress (progress {:stage stage :done d :total total}))))})
        ok (filterv #(= :completed (:status %)) rs)]
    {:time (vec (get-in (first ok) [:trajectory :time]))
     :paths (mapv (fn [r] (mapv #(vec (take nm %)) (get-in r [:trajectory :modes]))) ok)
     :seeds (count ok)
     :status (frequencies (map :status rs))
     :elapsed-ms (elapsed-ms t0)}))

(defn ensemble-moments
  "Mean and standard error over paths of every mode at every record:
  {:mean [[per mode] per time] :se [[..]]} of paths [[[pi per mode] per time] per path]."
  [paths]
  (let [n (count paths) nt (count (first paths)) nm (count (first (first paths)))]
    {:mean (vec (for [k (range nt)] (vec (for [i (range nm)] (mean (map #(get-in % [k i]) paths))))))
     :se (vec (for [k (range nt)]
                (vec (for [i (range nm)]
                       (Math/sqrt (/ (sample-variance (map #(get-in % [k i]) paths)) n))))))}))

;; ---------------------------------------------------------------- 1. diffusion peak

(defn first-passage
  "Time of the first record where pi of mode i reaches fraction x s on one path, or nil."
  [times path ^long i ^double level]
  (some (fn [k] (when (>= (double (get-in path [k i])) level) (nth times k))) (range (count path))))

(defn- window-curve
  "[[t mean-estimate mean-theory count] ...] of per-step values grouped into windows
  of w consecutive indices; values is a vector per path of [index est theory]."
  [values times ^long w]
  (let [nt (count times)
        sums (reduce (fn [acc [^long k ^double e ^double t]]
                       (let [b (quot k w)]
                         (-> acc (update-in [b 0] + e) (update-in [b 1] + t) (update-in [b 2] inc))))
                     (vec (repeat (inc (quot nt w)) [0.0 0.0 0]))
                     (apply concat values))]
    (vec (keep-indexed (fn [b [e t c]]
                         (when (pos? (long c))
                           (let [mid (min (dec nt) (+ (* (long b) w) (quot w 2)))]
                             [(nth times mid) (/ (double e) (long c)) (/ (double t) (long c)) c])))
                       sums))))

(defn- argmax-by [f xs] (when (seq xs) (apply max-key #(double (f %)) xs)))

(defn- solve3
  "Solution of the 3 x 3 linear system a x = b (Cramer's rule); nil when singular."
  [a b]
  (let [det (fn [m] (let [[[a1 a2 a3] [b1 b2 b3] [c1 c2 c3]] m]
                      (- (+ (* (double a1) (- (* (double b2) (double c3)) (* (double b3) (double c2))))
                            (* (double a3) (- (* (double b1) (double c2)) (* (double b2) (double c1)))))
                         (* (double a2) (- (* (double b1) (double c3)) (* (double b3) (double c1)))))))
        d (double (det a))]
    (when (> (Math/abs d) 1e-300)
      (vec (for [j (range 3)]
             (/ (double (det (mapv (fn [row bi] (assoc row j bi)) a b))) d))))))

(defn shape-fit
  "Fits log D = c + p log x + q log(1 - x) to binned diffusion estimates by least
  squares weighted by the bins' sample counts, and returns {:p :q :peak-x p/(p+q)}
  (nil when p + q <= 0 or the system is singular). For the per-mode formula
  D ∝ x^(4-4/L) (1 - x)^2 (SCIENCE.md §7, no label noise) p = 4 - 4/L, q = 2 and
  the peak is 2(L-1)/(3L-2).
  bins: [{:x :n :estimate} ...]; bins with x outside (0, 1), no estimate or
  estimate <= 0 are skipped."
  [bins]
  (let [rows (for [{:keys [x n estimate]} bins
                   :when (and estimate (pos? (double estimate)) (< 0.0 (double x) 1.0) (pos? (long n)))]
               [(double n) [1.0 (Math/log (double x)) (Math/log (- 1.0 (double x)))] (Math/log (double estimate))])
        ata (vec (for [i (range 3)] (vec (for [j (range 3)] (reduce + 0.0 (map (fn [[w f]] (* (double w) (double (f i)) (double (f j)))) rows))))))
        atb (vec (for [i (range 3)] (reduce + 0.0 (map (fn [[w f y]] (* (double w) (double (f i)) (double y))) rows))))]
    (when (>= (count rows) 3)
      (when-let [[_ p q] (solve3 ata atb)]
        (let [p (double p) q (double q)]
          (when (pos? (+ p q)) {:p p :q q :peak-x (/ p (+ p q))}))))))

(defn diffusion-estimate
  "Estimates the diffusion of each mode strength in full-network SGD from an
  ensemble recorded every step (`network-ensemble` with :every 1).

  Per step k and path, with increments d_k = pi_(k+1) - pi_k, the squared second
  difference (d_(k+1) - d_k)^2 / (2 lr) estimates D(pi_(k+1)): an SGD step is
  pi_(k+1) = pi_k + lr b(pi_k) + sqrt(lr D) xi_k with fresh noise every step, so
  the drift cancels to O(lr^2 b b') and the noise contributes 2 lr D. It is set
  beside dlnlab.theory/diffusion at the same path's pi (SCIENCE.md §7).

  Options: :window (5) steps per point of the time curve; :bin-width (0.05) of
  the bins in x = pi/s; :min-count (20) samples for a bin to count for the peak;
  :fractions ([0.5 0.9]) learning fractions.
  Returns one map per mode:
  {:mode i :s s :theory-peak-x pi*/s
   :time-curve [[t estimate theory count] ...] (means over paths and the window)
   :peak-time (argmax of the estimate) :theory-peak-time (argmax of the theory curve)
   :learned {fraction {:median t :times [t per path]}}
   :aligned-curve [[tau estimate theory count] ...] (tau = t - the path's own
   time of reaching the largest fraction) :aligned-peak :theory-aligned-peak
   :bins [{:x centre :n :estimate :theory :ratio}] :peak-x (argmax bin centre)
   :shape-fit (`shape-fit` of the bins with >= :min-count samples in 0.05..0.95)
   :bulk-ratio (sum estimate / sum theory over 0.1 <= x <= 0.9)}.
  Throws ex-info when the ensemble was not recorded every step."
  [ens cfg {:keys [window bin-width min-count fractions]
            :or {window 5 bin-width 0.05 min-count 20 fractions [0.5 0.9]}}]
  (let [{:keys [targets lr]} (merge setup cfg)
        lr (double lr)
        times (:time ens)
        paths (:paths ens)
        nt (count times)
        _ (when (or (< nt 3) (> (Math/abs (- (- (double (nth times 1)) (double (nth times 0))) lr)) (* 1e-9 lr)))
            (fail! (str "diffusion-estimate needs an ensemble recorded every step (times lr apart, lr = " lr
                        "); its first time step is " (when (>= nt 2) (- (double (nth times 1)) (double (nth times 0)))) ".")
                   [:time] (vec (take 3 times)) "record times t_k = lr k"))
        w (long window)
        bw (double bin-width)
        fmax (double (apply max fractions))]
    (vec
     (for [i (range (count targets))]
       (let [i (long i)
             s (double (nth targets i))
             params (mode-params cfg s)
             dth (fn ^double [^double p] (theory/diffusion params (max 0.0 p)))
             ;; per path: [[k est theory pi] ...]
             per-path (mapv (fn [path]
                              (vec (for [k (range 1 (dec nt))]
                                     (let [k (long k)
                                           a (double (get-in path [(dec k) i]))
                                           b (double (get-in path [k i]))
                                           c (double (get-in path [(inc k) i]))
                                           d2 (- (- c b) (- b a))]
                                       [k (/ (* d2 d2) (* 2.0 lr)) (dth b) b]))))
                            paths)
             curve (window-curve (mapv #(mapv (fn [[k e t]] [k e t]) %) per-path) times w)
             peak (argmax-by second curve)
             tpeak (argmax-by #(nth % 2) curve)
             learned (into (sorted-map)
                           (for [f fractions]
                             (let [ts (mapv #(first-passage times % i (* (double f) s)) paths)]
                               [f {:median (median (remove nil? ts)) :times ts}])))
             ;; aligned on each path's own time of reaching fmax s
             k-learned (mapv (fn [path] (some (fn [k] (when (>= (double (get-in path [k i])) (* fmax s)) k)) (range nt)))
                             paths)
             offset (long (* 2 nt))
             aligned (window-curve (vec (for [[rows kl] (map vector per-path k-learned) :when kl]
                                          (mapv (fn [[k e t]] [(+ (- (long k) (long kl)) offset) e t]) rows)))
                                   (vec (for [j (range (* 4 nt))] (* lr (- (double j) offset))))
                                   w)
             apeak (argmax-by second aligned)
             atpeak (argmax-by #(nth % 2) aligned)
             nb (long (Math/round (/ 1.0 bw)))
             bins (vec (for [b (range nb)]
                         (let [lo (* (double b) bw) hi (+ lo bw)
                               xs (for [rows per-path [_ e t p] rows
                                        :let [x (/ (double p) s)] :when (and (>= x lo) (< x hi))]
                                    [e t])
                               n (count xs)
                               se (double (reduce + 0.0 (map first xs)))
                               st (double (reduce + 0.0 (map second xs)))]
                           {:x (+ lo (* 0.5 bw)) :n n
                            :estimate (when (pos? n) (/ se n)) :theory (when (pos? n) (/ st n))
                            :ratio (when (pos? st) (/ se st))})))
             good (filter #(>= (long (:n %)) (long min-count)) bins)
             bulk (for [rows per-path [_ e t p] rows :let [x (/ (double p) s)] :when (<= 0.1 x 0.9)] [e t])]
         {:mode i :s s
          :theory-peak-x (when-let [p (theory/peak-diffusion-pi params)] (/ (double p) s))
          :time-curve curve
          :peak-time (first peak) :peak-estimate (second peak)
          :theory-peak-time (first tpeak)
          :learned learned
          :aligned-curve (vec (filter #(<= -3.0 (double (first %)) 1.0) aligned))
          :aligned-peak (first apeak) :theory-aligned-peak (first atpeak)
          :bins bins
          :peak-x (:x (argmax-by :estimate good))
          :shape-fit (shape-fit (filter #(<= 0.05 (double (:x %)) 0.95) good))
          :bulk-ratio (let [st (double (reduce + 0.0 (map second bulk)))]
                        (when (pos? st) (/ (double (reduce + 0.0 (map first bulk))) st)))})))))

(defn sde-diffusion-summary
  "The SDE ensemble's diffusion peak against learning, per mode: dlnlab.sde/diffusion-peak
  at the largest tracked fraction, the median learned times
  (dlnlab.sde/learning-time-distribution) and the gradient-flow times of
  `gradient-flow-times`. Returns a vector of maps, one per mode."
  [res cfg]
  (let [fracs (get-in res [:spec :learned-fractions])
        peaks (sde/diffusion-peak res {:fraction (apply max fracs)})
        lt (into {} (for [f fracs] [f (sde/learning-time-distribution res {:fraction f})]))]
    (vec (for [{:keys [mode] :as p} peaks
               :let [s (double (get-in res [:spec :modes mode :s]))
                     gf (gradient-flow-times (mode-params cfg s) fracs)]]
           {:mode mode :s s
            :peak-time (:peak-time p) :peak-pi (:peak-pi p) :theory-peak-pi (:theory-peak-pi p)
            :median-learned (into (sorted-map) (for [f fracs] [f (get-in lt [f mode :median])]))
            :precedes-learning? (:precedes-learning? p)
            :paths-peak-before-learning (:paths-peak-before-learning p)
            :gradient-flow {:peak (:peak gf) :learned (:learned gf)}}))))

(defn diffusion-study
  "Claim 1: the diffusion peak against learning, in the SDE ensemble (no label
  noise and, as the contrast, a label noise :contrast-noise large enough that D
  has no interior maximum) and in the full network (`diffusion-estimate`).

  Options: :lr, :seeds, :paths, :dt, :window, :contrast-noise, :network-contrast?
  (also run the network with the contrast noise), :sde-seed (11), :jobs, :progress.
  Returns {:lr :batch-size :sde [per mode] :sde-contrast [per mode] :network [per
  mode] :network-contrast [per mode or nil] :timing-ms {..}}."
  [cfg {:keys [lr seeds paths dt window contrast-noise network-contrast? sde-seed jobs progress]
        :or {jobs 2 sde-seed 11}}]
  (let [cfg (assoc (merge setup cfg) :lr lr :label-noise 0.0 :every 1)
        t0 (System/nanoTime)
        sde-res (sde/simulate (sde-spec cfg {:paths paths :dt dt :threads jobs :seed sde-seed}))
        noisy (assoc cfg :label-noise contrast-noise)
        sde-contrast (sde/simulate (sde-spec noisy {:paths paths :dt dt :threads jobs :seed (inc (long sde-seed))}))
        t-sde (elapsed-ms t0)
        t1 (System/nanoTime)
        ens (network-ensemble cfg seeds {:jobs jobs :progress progress :stage :diffusion})
        est (diffusion-estimate ens cfg {:window window})
        t-net (elapsed-ms t1)
        t2 (System/nanoTime)
        est-contrast (when network-contrast?
                       (diffusion-estimate (network-ensemble noisy seeds {:jobs jobs :progress progress
                                                                          :stage :diffusion-contrast})
                                           noisy {:window window}))
        t-con (elapsed-ms t2)
        strip (fn [m] (-> m (dissoc :time-curve :aligned-curve :bins)
                          (update :learned update-vals :median)))]
    {:lr lr :batch-size (:batch-size cfg) :seeds (:seeds ens) :paths paths :window window
     :sde (sde-diffusion-summary sde-res cfg)
     :sde-contrast (mapv #(assoc % :label-noise contrast-noise) (sde-diffusion-summary sde-contrast noisy))
     :sde-curves {:time (:time sde-res) :diffusion (:diffusion sde-res) :mean (:mean sde-res)}
     :network (mapv strip est)
     :network-curves (mapv #(select-keys % [:mode :s :time-curve :aligned-curve :bins :theory-peak-x]) est)
     :network-contrast (when est-contrast (mapv #(assoc (strip %) :label-noise contrast-noise) est-contrast))
     :timing-ms {:sde t-sde :network t-net :network-contrast t-con}}))

;; ---------------------------------------------------------------- 2. stationary distribution

(defn- lag1-correlation
  "Lag-1 autocorrelation of the series (each a vector of numbers) about their pooled mean."
  ^double [series]
  (let [m (mean (apply concat series))
        [num den] (reduce (fn [[num den] xs]
                            (let [v (mapv #(- (double %) m) xs)]
                              [(+ (double num) (double (reduce + 0.0 (map * v (rest v)))))
                               (+ (double den) (double (reduce + 0.0 (map * v v))))]))
                          [0.0 0.0] series)]
    (if (pos? (double den)) (/ (double num) (double den)) 0.0)))

(defn ks-threshold
  "The KS distance a sample of effective size n_eff stays below with probability
  1 - alpha under the null (asymptotic Kolmogorov quantile / sqrt(n_eff)):
  1.36 (alpha 0.05) or 1.63 (alpha 0.01)."
  ^double [n-eff alpha]
  (/ (case alpha 0.05 1.36 0.01 1.63) (Math/sqrt (double n-eff))))

(defn- theory-variances [params]
  (let [exact (theory/stationary-density params)
        sharp (theory/single-path-sharpness (:s params) (:depth params))]
    {:mean (:mean exact)
     :exact (:variance exact)
     :gibbs (theory/gibbs-variance params)
     :discrete (when (< (* (double (:lr params)) sharp) 2.0) (theory/discrete-stationary-variance params))
     :linear-continuous (linear-stationary-variance params)
     :linear-discrete (linear-stationary-variance params {:discrete? true})
     :lr-sharpness (* (double (:lr params)) sharp)}))

(defn stationary-study
  "Claim 2 at one learning rate: modes started at their targets with label
  noise; the per-mode SDE (small dt, the continuous process) and the same SDE
  at dt = lr (Euler-Maruyama at SGD's step: aligned SGD itself), both against
  the analytic stationary density (dlnlab.sde/stationary-comparison), and the
  full network's late mode strengths (samples every :sample-every steps after
  :burn-time, pooled over seeds; effective sample size n (1 - rho)/(1 + rho)
  from their lag-1 autocorrelation rho).

  Options: :lr, :label-noise, :paths, :dt (continuous SDE step), :sde-time,
  :seeds (network; empty skips it), :net-time, :burn-time, :sample-every,
  :sde-seed (21; the two SDE runs use seeds derived from it and lr), :jobs, :progress.
  Returns {:lr :batch-size :label-noise :modes [{:mode :s :theory {..} :sde {..}
  :discrete {..} :network {..}}] :timing-ms}; each simulation block has :n
  (:n-eff) :mean :variance :ks :ks-threshold-95 :ks-threshold-99."
  [cfg {:keys [lr label-noise paths dt sde-time seeds net-time burn-time sample-every sde-seed jobs progress]
        :or {jobs 2 sde-seed 21}}]
  (let [{:keys [targets] :as cfg} (assoc (merge setup cfg) :lr lr :label-noise label-noise
                                         :strengths (:targets (merge setup cfg)))
        t0 (System/nanoTime)
        run-sde (fn [dt seed] (sde/simulate (sde-spec (assoc cfg :time sde-time)
                                                      {:paths paths :dt dt :threads jobs :seed seed
                                                       :record-time (/ (double sde-time) 10.0)})))
        seed-base (+ (long sde-seed) (* 2 (long (Math/round (* 1e4 (double lr))))))
        cont (run-sde dt seed-base)
        disc (run-sde (double lr) (inc seed-base))
        t-sde (elapsed-ms t0)
        t1 (System/nanoTime)
        ens (when (seq seeds)
              (network-ensemble (assoc cfg :time net-time :every sample-every) seeds
                                {:jobs jobs :progress progress :stage [:stationary lr]}))
        t-net (elapsed-ms t1)
        block (fn [cmp]
                (let [n (long (:n cmp))]
                  {:n n :mean (:mean cmp) :variance (:variance cmp) :ks (:ks cmp)
                   :ks-threshold-95 (ks-threshold n 0.05) :ks-threshold-99 (ks-threshold n 0.01)}))]
    {:lr lr :batch-size (:batch-size cfg) :label-noise label-noise
     :temperature (theory/gibbs-temperature (mode-params cfg 1.0))
     :modes
     (vec (for [i (range (count targets))]
            (let [s (double (nth targets i))
                  params (mode-params cfg s)
                  c (sde/stationary-comparison cont {:mode i})
                  d (sde/stationary-comparison disc {:mode i})]
              {:mode i :s s
               :theory (theory-variances params)
               :sde (assoc (block c) :dt dt)
               :discrete (assoc (block d) :dt lr)
               :network
               (when ens
                 (let [k0 (long (Math/ceil (/ (double burn-time) (* (double lr) (double sample-every)))))
                       series (mapv (fn [path] (mapv #(double (nth % i)) (drop k0 path))) (:paths ens))
                       xs (vec (apply concat series))
                       n (count xs)
                       rho (max 0.0 (lag1-correlation series))
                       n-eff (* n (/ (- 1.0 rho) (+ 1.0 rho)))]
                   {:n n :n-eff n-eff :lag1-correlation rho :seeds (:seeds ens)
                    :mean (mean xs) :variance (sample-variance xs)
                    :ks (sde/ks-distance xs (theory/stationary-cdf params))
                    :ks-threshold-95 (ks-threshold n-eff 0.05) :ks-threshold-99 (ks-threshold n-eff 0.01)
                    :samples-every sample-every
                    :histogram (let [edges (get-in c [:histogram :edges])
                                     lo (double (first edges)) w (- (double (second edges)) lo)
                                     nb (dec (count edges))
                                     counts (reduce (fn [acc x] (let [b (long (Math/floor (/ (- (double x) lo) w)))]
                                                                  (if (< -1 b nb) (update acc b inc) acc)))
                                                    (vec (repeat nb 0)) xs)]
                                 {:edges edges :density (mapv #(/ (double %) (* n w)) counts)})}))
               :histogram (:histogram c)
               :histogram-discrete (:histogram d)})))
     :timing-ms {:sde t-sde :network t-net}}))

;; ---------------------------------------------------------------- 3. weak error

(defn weak-error
  "Weak error between the mean over seeds of full-network SGD (`ensemble-moments`
  of a `network-ensemble`) and a reference mean trajectory, per mode:
  max over the network's record times of |mean_SGD(t) - ref(t)| / s, with the
  reference interpolated linearly in t (both on t = lr x steps).

  ref is an SDE result (dlnlab.sde/simulate: its :mean, with standard error
  :std / sqrt(paths)) or {:time [..] :mean [[per mode] ..]} without error.
  Returns one map per mode: {:mode :s :weak-error :at-time :se-at (the standard
  error of the difference there, relative to s) :max-se (its max over t)}."
  [net-time moments ref targets]
  (let [rt (:time ref)
        n-ref (get-in ref [:spec :paths])]
    (vec (for [i (range (count targets))]
           (let [i (long i) s (double (nth targets i))
                 rm (mapv #(double (nth % i)) (:mean ref))
                 rs (when (and n-ref (:std ref)) (mapv #(double (or (nth % i) 0.0)) (:std ref)))
                 rows (vec (for [[k t] (map-indexed vector net-time)]
                             (let [t (double t)
                                   m (double (get-in moments [:mean k i]))
                                   se (double (get-in moments [:se k i]))
                                   r (interp rt rm t)
                                   rse (if rs (/ (interp rt rs t) (Math/sqrt (double n-ref))) 0.0)]
                               [t (/ (Math/abs (- m r)) s) (/ (Math/sqrt (+ (* se se) (* rse rse))) s)])))
                 [t e se] (argmax-by second rows)]
             {:mode i :s s :weak-error e :at-time t :se-at se
              :max-se (double (reduce max 0.0 (map #(nth % 2) rows)))})))))

(defn weak-error-study
  "Claim 3: for each learning rate, the mean over seeds of full-network SGD
  against (a) the per-mode SDE at small dt (the continuous process, lr/5 by
  default), (b) the same SDE at dt = lr (aligned SGD: Euler-Maruyama at SGD's
  step), (c) gradient flow (the SDE's noise-free RK4 curve); and (b) against (a)
  (the time-discretization part alone, from two large ensembles).

  Options: :lrs, :batch-size, :label-noise (0), :seeds, :paths, :dt-fraction
  (0.2: SDE dt = fraction x lr, at most :max-dt 0.002), :sde-seed (31), :jobs, :progress.
  Returns {:batch-size :label-noise :rows [{:lr :seeds :weak-error (max over
  modes, vs the SDE) :per-mode [..] :vs-discrete :vs-gradient-flow
  :discrete-vs-sde :max-se :curves {..}}] :timing-ms}."
  [cfg {:keys [lrs batch-size label-noise seeds paths dt-fraction max-dt sde-seed jobs progress]
        :or {label-noise 0.0 dt-fraction 0.2 max-dt 0.002 sde-seed 31 jobs 2}}]
  (let [base (assoc (merge setup cfg) :batch-size batch-size :label-noise label-noise)
        targets (:targets base)
        t0 (System/nanoTime)
        rows
        (vec
         (for [lr lrs]
           (let [lr (double lr)
                 rec (max 1 (steps-for lr 0.02))
                 c (assoc base :lr lr :every rec)
                 t1 (System/nanoTime)
                 ens (network-ensemble c seeds {:jobs jobs :progress progress :stage [:weak-error lr]})
                 mom (ensemble-moments (:paths ens))
                 t-net (elapsed-ms t1)
                 t2 (System/nanoTime)
                 dt (min (double max-dt) (* (double dt-fraction) lr))
                 cont (sde/simulate (sde-spec c {:paths paths :dt dt :threads jobs :record-time (* lr rec) :seed sde-seed}))
                 disc (sde/simulate (sde-spec c {:paths paths :dt lr :threads jobs :record-time (* lr rec)
                                                 :seed (inc (long sde-seed))}))
                 t-sde (elapsed-ms t2)
                 gf {:time (:time cont) :mean (:gradient-flow cont)}
                 per-mode (weak-error (:time ens) mom cont targets)
                 vs-disc (weak-error (:time ens) mom disc targets)
                 vs-gf (weak-error (:time ens) mom gf targets)
                 disc-vs-sde (weak-error (:time disc) {:mean (:mean disc)
                                                        :se (mapv (fn [row] (mapv #(/ (double (or % 0.0)) (Math/sqrt (double paths))) row))
                                                                  (:std disc))}
                                         cont targets)
                 mx (fn [rows] (double (reduce max 0.0 (map :weak-error rows))))]
             {:lr lr :seeds (:seeds ens) :paths paths :sde-dt dt
              :weak-error (mx per-mode)
              :per-mode per-mode
              :vs-discrete (mx vs-disc) :vs-discrete-per-mode (mapv :weak-error vs-disc)
              :vs-gradient-flow (mx vs-gf) :vs-gradient-flow-per-mode (mapv :weak-error vs-gf)
              :discrete-vs-sde (mx disc-vs-sde) :discrete-vs-sde-per-mode (mapv :weak-error disc-vs-sde)
              :max-se (double (reduce max 0.0 (map :max-se per-mode)))
              :curves {:time (:time ens) :network (:mean mom) :network-se (:se mom)
                       :sde-time (:time cont) :sde (:mean cont) :gradient-flow (:gradient-flow cont)}
              :timing-ms {:network t-net :sde t-sde}})))]
    {:batch-size batch-size :label-noise label-noise :rows rows :timing-ms (elapsed-ms t0)}))

;; ---------------------------------------------------------------- figures

(defn- vline [x y0 y1 series color]
  {:mark :line :series series :color color :dash [4 4] :points [[x y0] [x y1]]})

(defn- diffusion-time-figure
  "Figure data: per mode, the network's diffusion estimate and the theory at the
  network's own strengths against t, the SDE ensemble's mean D(pi), and the median
  learning time (pi = 0.9 s) of the network runs."
  [{:keys [network network-curves sde-curves lr batch-size seeds]}]
  (let [panels
        (vec (for [{:keys [mode s time-curve]} network-curves
                   :let [mode (long mode)
                         tl (get-in network [mode :learned 0.9])
                         ys (keep #(let [y (second %)] (when (pos? (double y)) y)) time-curve)
                         top (* 2.0 (double (reduce max 1e-300 ys)))
                         floor (* 1e-9 top)
                         shown (fn [pts] (filterv (fn [[_ y]] (and y (>= (double y) floor))) pts))]]
               {:title (str "mode " (inc mode) " (s = " s ")")
                :layers [{:mark :line :series "network: second-difference estimate" :color 0
                          :points (shown (mapv (fn [[t e]] [t e]) time-curve))}
                         {:mark :line :series "network: theory D(π) at the runs' π" :color 1 :dash [6 3]
                          :points (shown (mapv (fn [[t _ th]] [t th]) time-curve))}
                         {:mark :line :series "per-mode SDE: ensemble mean of D(π)" :color 2 :dash [2 2]
                          :points (shown (mapv (fn [t row] [t (nth row mode)]) (:time sde-curves) (:diffusion sde-curves)))}
                         (vline tl floor top "network: median time of π = 0.9 s" 3)]}))]
    {:name :s2s-diffusion-vs-time
     :title "Diffusion of each mode strength peaks before the mode is learned"
     :subtitle (str "one-pass SGD, lr = " lr ", B = " batch-size ", " seeds " seeds; window means; values below 1e-9 of the panel's peak not drawn")
     :x {:title "t = lr × steps" :log? false}
     :y {:title "diffusion D (per unit time)" :log? true}
     :panels panels}))

(defn- diffusion-strength-figure
  "Figure data: per mode, the network's diffusion estimate binned by x = pi/s
  against dlnlab.theory/diffusion, both divided by D at pi*, with pi*/s marked."
  [{:keys [network-curves lr batch-size]} cfg]
  (let [panels
        (vec (for [{:keys [mode s bins theory-peak-x]} network-curves
                   :let [params (mode-params (assoc cfg :lr lr :batch-size batch-size :label-noise 0.0) s)
                         dstar (theory/diffusion params (* (double theory-peak-x) (double s)))]]
               {:title (str "mode " (inc (long mode)) " (s = " s ")")
                :layers [{:mark :point :series "network: binned estimate" :color 0
                          :points (vec (for [{:keys [x n estimate]} bins :when (and estimate (>= (long n) 20))]
                                         [x (/ (double estimate) dstar)]))}
                         {:mark :line :series "theory D(π) / D(π*)" :color 1
                          :points (vec (for [k (range 1 101) :let [x (/ (double k) 100.0)]]
                                         [x (/ (theory/diffusion params (* x (double s))) dstar)]))}
                         (vline theory-peak-x 0.0 1.2 "π*/s = 2(L-1)/(3L-2)" 2)]}))]
    {:name :s2s-diffusion-vs-strength
     :title "Network diffusion against the per-mode formula D(π) (SCIENCE.md §7)"
     :subtitle "bins of width 0.05 in π/s with at least 20 samples"
     :x {:title "π / s" :log? false}
     :y {:title "D / D(π*)" :log? false :zero? true}
     :panels panels}))

(defn- aligned-figure
  "Figure data: the network's diffusion estimate against tau = t - (each run's own
  time of reaching 0.9 s), normalized by its maximum, one series per mode."
  [{:keys [network-curves]}]
  {:name :s2s-diffusion-aligned
   :title "Diffusion against the time to each run's own learning (π = 0.9 s)"
   :subtitle "peaks at τ < 0: before the mode is learned"
   :x {:title "τ = t − t(π = 0.9 s) of the same run" :log? false}
   :y {:title "D / max D" :log? false :zero? true}
   :panels [{:title nil
             :layers (vec (concat
                           (for [{:keys [mode aligned-curve]} network-curves
                                 :let [mx (double (reduce max 1e-300 (map second aligned-curve)))]]
                             {:mark :line :series (str "mode " (inc (long mode))) :color mode
                              :points (mapv (fn [[t e]] [t (/ (double e) mx)]) aligned-curve)})
                           [(vline 0.0 0.0 1.0 "τ = 0" 5)]))}]})

(defn- means-figure
  "Figure data: per mode, the network's mean over seeds (± 2 standard errors),
  the per-mode SDE's ensemble mean and gradient flow, against t."
  [row nm]
  (let [{:keys [time network network-se sde-time sde gradient-flow]} (:curves row)]
    {:name nm
     :title (str "Mean mode strengths: full-network SGD vs per-mode SDE, lr = " (:lr row))
     :subtitle (str (:seeds row) " SGD seeds, " (:paths row) " SDE paths; weak error "
                    (format "%.3f" (double (:weak-error row))) " s")
     :x {:title "t = lr × steps" :log? false}
     :y {:title "mode strength π" :log? false}
     :panels (vec (for [i (range (count (first network)))]
                    {:title (str "mode " (inc (long i)))
                     :layers [{:mark :band :series "SGD mean ± 2 s.e." :color 0
                               :points (mapv (fn [t m se] (let [m (double (nth m i)) e (* 2.0 (double (nth se i)))]
                                                            [t (- m e) (+ m e)]))
                                             time network network-se)}
                              {:mark :line :series "SGD mean over seeds" :color 0
                               :points (mapv (fn [t m] [t (nth m i)]) time network)}
                              {:mark :line :series "per-mode SDE mean" :color 1 :dash [6 3]
                               :points (mapv (fn [t m] [t (nth m i)]) sde-time sde)}
                              {:mark :line :series "gradient flow" :color 2 :dash [2 2]
                               :points (mapv (fn [t m] [t (nth m i)]) sde-time gradient-flow)}]}))}))

(defn- weak-error-figure
  "Figure data: weak error against lr: vs the SDE, vs aligned SGD (the SDE at
  dt = lr), vs gradient flow, aligned SGD vs the SDE, and twice the standard error."
  [{:keys [rows batch-size label-noise]}]
  (let [series (fn [k] (mapv (fn [r] [(:lr r) (get r k)]) rows))]
    {:name :s2s-weak-error
     :title "Weak error max_t |mean_SGD − mean_ref| / s (max over modes)"
     :subtitle (str "B = " batch-size ", label noise " label-noise)
     :x {:title "learning rate η" :log? true}
     :y {:title "weak error / s" :log? true}
     :panels [{:title nil
               :layers [{:mark :line :point? true :series "SGD vs per-mode SDE" :color 0 :points (series :weak-error)}
                        {:mark :line :point? true :series "SGD vs aligned SGD (SDE at dt = lr)" :color 1 :points (series :vs-discrete)}
                        {:mark :line :point? true :series "SGD vs gradient flow" :color 2 :points (series :vs-gradient-flow)}
                        {:mark :line :point? true :series "aligned SGD vs SDE (time step only)" :color 3 :points (series :discrete-vs-sde)}
                        {:mark :line :series "2 × standard error" :color 4 :dash [2 2]
                         :points (mapv (fn [r] [(:lr r) (* 2.0 (double (:max-se r)))]) rows)}]}]}))

(defn- stationary-figure
  "Figure data: per mode, histograms of the SDE's final strengths (continuous and
  at dt = lr) with the analytic stationary density, at one learning rate."
  [{:keys [lr batch-size label-noise modes]}]
  {:name (keyword (str "s2s-stationary-lr-" lr))
   :title (str "Stationary distribution with label noise σ = " label-noise ", lr = " lr ", B = " batch-size)
   :subtitle "bars: per-mode SDE (small dt) and aligned SGD (dt = lr); lines: full network (on the SDE's bins) and the analytic density"
   :x {:title "mode strength π" :log? false}
   :y {:title "probability density" :log? false :zero? true}
   :panels (vec (for [{:keys [mode s histogram histogram-discrete network]} modes]
                  (let [bars (fn [{:keys [edges density]}]
                               (mapv (fn [[a b] d] [a b d]) (partition 2 1 edges) density))]
                    {:title (str "mode " (inc (long mode)) " (s = " s ")")
                     :layers [{:mark :bar :series "per-mode SDE, small dt" :color 0 :points (bars histogram)}
                              {:mark :bar :series "aligned SGD (dt = lr)" :color 3 :points (bars histogram-discrete)}
                              {:mark :line :series "full network, pooled late samples" :color 2
                               :points (if-let [h (:histogram network)]
                                         (mapv (fn [[a b] d] [(* 0.5 (+ (double a) (double b))) d])
                                               (partition 2 1 (:edges h)) (:density h))
                                         [])}
                              {:mark :line :series "analytic stationary density" :color 1
                               :points (mapv (fn [[a b] d] [(* 0.5 (+ (double a) (double b))) d])
                                             (partition 2 1 (:edges histogram)) (:theory-density histogram))}]})))})

(defmethod plot/build-figure :s2s-diffusion-vs-time [_ data _] (diffusion-time-figure data))
(defmethod plot/build-figure :s2s-diffusion-vs-strength [_ data opts] (diffusion-strength-figure data (:cfg opts setup)))
(defmethod plot/build-figure :s2s-diffusion-aligned [_ data _] (aligned-figure data))
(defmethod plot/build-figure :s2s-mean-trajectories [_ row opts] (means-figure row (:name opts :s2s-mean-trajectories)))
(defmethod plot/build-figure :s2s-weak-error [_ data _] (weak-error-figure data))
(defmethod plot/build-figure :s2s-stationary [_ data _] (stationary-figure data))

(def figure-names
  "The figures this namespace adds to dlnlab.plot/build-figure:
  :s2s-diffusion-vs-time, :s2s-diffusion-vs-strength (option :cfg) and
  :s2s-diffusion-aligned (a `diffusion-study` with its curves);
  :s2s-mean-trajectories (a `weak-error-study` row with :curves; option :name);
  :s2s-weak-error (a `weak-error-study`); :s2s-stationary (a `stationary-study`
  with histograms)."
  [:s2s-diffusion-vs-time :s2s-diffusion-vs-strength :s2s-diffusion-aligned
   :s2s-mean-trajectories :s2s-weak-error :s2s-stationary])

;; ---------------------------------------------------------------- checks and tables

(defn- check [claim failures & {:as extra}]
  (merge {:claim claim :pass? (empty? failures) :failures (vec (take 10 failures))} extra))

(defn- rel-diff ^double [a b] (/ (Math/abs (- (double a) (double b))) (Math/abs (double b))))

(defn variance-tolerance
  "Relative tolerance for a sample variance of n independent, near-Gaussian
  values: four standard errors, 4 sqrt(2/(n-1))."
  ^double [n]
  (* 4.0 (Math/sqrt (/ 2.0 (dec (double n))))))

(defn checks
  "The pass/fail checks of a report's sections (each {:claim :pass? :failures}),
  with the margins stated in each claim."
  [{:keys [diffusion stationary weak-error]}]
  (let [{:keys [sde sde-contrast network network-contrast]} diffusion
        main (:main weak-error)
        lr-rows (:rows main)
        small (first lr-rows) large (peek lr-rows)]
    {:sde-peak-before-learning
     (check "per-mode SDE, no label noise: for every mode the ensemble-mean diffusion peaks before the median time of pi = 0.9 s, in at least 90% of the paths each path's own peak comes before its own learning, and the ensemble mean at the peak is within 15% of pi* = 2(L-1)s/(3L-2)"
            (for [m sde :when (not (and (:precedes-learning? m)
                                        (>= (double (:paths-peak-before-learning m)) 0.9)
                                        (< (rel-diff (:peak-pi m) (:theory-peak-pi m)) 0.15)))]
              m))
     :network-peak-before-learning
     (check "full-network SGD, no label noise: for every mode the estimated diffusion, aligned on each run's own time of reaching 0.9 s, peaks at least one window before it (tau <= -window x lr), and the ensemble's estimated diffusion peaks before the median time of pi = 0.9 s"
            (for [m network :let [tl (get-in m [:learned 0.9])]
                  :when (not (and tl (:peak-time m) (:aligned-peak m)
                                  (< (double (:peak-time m)) (double tl))
                                  (<= (double (:aligned-peak m)) (- (* (double (:window diffusion)) (double (:lr diffusion)))))))]
              m))
     :network-diffusion-formula
     (check "full-network SGD: the second-difference estimate of D over 0.1 <= pi/s <= 0.9 is within 25% of dlnlab.theory/diffusion at the same strengths, and the peak p/(p+q) of the fit D ~ x^p (1-x)^q to its bins is within 0.1 of pi*/s"
            (for [m network :let [fx (get-in m [:shape-fit :peak-x])]
                  :when (not (and (:bulk-ratio m) (<= 0.8 (double (:bulk-ratio m)) 1.25)
                                  fx (<= (Math/abs (- (double fx) (double (:theory-peak-x m)))) 0.1)))]
              m))
     :label-noise-contrast
     (check (str "contrast, label noise sigma = " (:label-noise (first sde-contrast))
                 ": D(pi) has no interior maximum, and the diffusion does not peak before learning (SDE: peak after the median learning time; network: aligned peak at tau > 0)")
            (concat (for [m sde-contrast :when (or (:theory-peak-pi m) (:precedes-learning? m))] m)
                    (for [m network-contrast :when (not (pos? (double (:aligned-peak m))))] m)))
     :stationary-sde
     (check "per-mode SDE with label noise (small dt): KS distance to the analytic stationary CDF below 1.63/sqrt(n) (the 1% Kolmogorov quantile) and variance within 4 standard errors (4 sqrt(2/(n-1)), relative) of the density's, for every mode and learning rate"
            (for [st stationary m (:modes st)
                  :when (not (and (< (double (get-in m [:sde :ks])) (double (get-in m [:sde :ks-threshold-99])))
                                  (< (rel-diff (get-in m [:sde :variance]) (get-in m [:theory :exact]))
                                     (variance-tolerance (get-in m [:sde :n])))))]
              {:lr (:lr st) :mode (:mode m) :sde (:sde m) :theory (:theory m)}))
     :stationary-discrete
     (check "aligned SGD (the SDE at dt = lr): variance within 4 standard errors of the linearized discrete variance lr sigma^2 S / (B(2 - lr S) - 2 lr S) for every mode; at the largest lr its top mode is off the continuous density (KS above 1.63/sqrt(n))"
            (concat
             (for [st stationary m (:modes st)
                   :let [v (get-in m [:theory :linear-discrete])]
                   :when (not (and v (< (rel-diff (get-in m [:discrete :variance]) v)
                                        (variance-tolerance (get-in m [:discrete :n])))))]
               {:lr (:lr st) :mode (:mode m) :discrete (:discrete m) :theory (:theory m)})
             (let [m (first (:modes (peek stationary)))]
               (when-not (> (double (get-in m [:discrete :ks])) (double (get-in m [:discrete :ks-threshold-99])))
                 [{:lr (:lr (peek stationary)) :mode 0 :discrete (:discrete m)}]))))
     :weak-error
     (check (str "weak error (max over modes) below 0.05 s at the smallest lr (" (:lr small) ") and at the largest lr ("
                 (:lr large) ") above twice that and above 0.05 s")
            (concat
             (when-not (< (double (:weak-error small)) 0.05) [(select-keys small [:lr :weak-error :max-se])])
             (when-not (and (> (double (:weak-error large)) (* 2.0 (double (:weak-error small))))
                            (> (double (:weak-error large)) 0.05))
               [(select-keys large [:lr :weak-error :max-se])])))}))

(defn- fmt [x]
  (cond (nil? x) "–"
        (keyword? x) (name x)
        (boolean? x) (str x)
        (integer? x) (str x)
        (number? x) (let [d (double x)]
                      (cond (zero? d) "0"
                            (<= 0.1 (Math/abs d) 1e5) (format "%.4f" d)
                            (<= 1e-4 (Math/abs d) 0.1) (format "%.4g" d)
                            :else (format "%.3e" d)))
        :else (str x)))

(defn markdown-table
  "A Markdown table of rows (maps) with the given columns [[key header] ...]."
  [rows columns]
  (str/join "\n"
            (concat [(str "| " (str/join " | " (map second columns)) " |")
                     (str "|" (str/join "|" (repeat (count columns) "---")) "|")]
                    (for [r rows] (str "| " (str/join " | " (map #(fmt (get r (first %))) columns)) " |")))))

(defn- diffusion-rows [{:keys [sde network]}]
  (vec (for [[a b] (map vector sde network)]
         {:mode (inc (long (:mode a))) :s (:s a)
          :pi-star (:theory-peak-pi a)
          :gf-peak (get-in a [:gradient-flow :peak]) :gf-learned (get-in a [:gradient-flow :learned 0.9])
          :sde-peak (:peak-time a) :sde-learned (get-in a [:median-learned 0.9])
          :sde-paths-before (:paths-peak-before-learning a)
          :net-peak (:peak-time b) :net-learned-half (get-in b [:learned 0.5]) :net-learned (get-in b [:learned 0.9])
          :net-aligned (:aligned-peak b) :net-peak-x (:peak-x b) :net-fit-x (get-in b [:shape-fit :peak-x])
          :theory-peak-x (:theory-peak-x b)
          :net-ratio (:bulk-ratio b)})))

(def diffusion-columns
  [[:mode "mode"] [:s "s"] [:pi-star "π*"] [:gf-peak "GF: t(π*)"] [:gf-learned "GF: t(0.9 s)"]
   [:sde-peak "SDE: peak t"] [:sde-learned "SDE: median t(0.9 s)"] [:sde-paths-before "SDE: paths peak first"]
   [:net-peak "SGD: peak t"] [:net-learned-half "SGD: median t(0.5 s)"] [:net-learned "SGD: median t(0.9 s)"]
   [:net-aligned "SGD: peak τ"] [:net-peak-x "SGD: largest bin π/s"] [:net-fit-x "SGD: fitted peak π/s"]
   [:theory-peak-x "π*/s"] [:net-ratio "SGD: D̂/D"]])

(defn- stationary-rows [stationary]
  (vec (for [st stationary m (:modes st)]
         {:lr (:lr st) :mode (inc (long (:mode m))) :s (:s m)
          :lr-s (get-in m [:theory :lr-sharpness])
          :exact (get-in m [:theory :exact]) :gibbs (get-in m [:theory :gibbs])
          :discrete (get-in m [:theory :discrete]) :lin-discrete (get-in m [:theory :linear-discrete])
          :sde-var (get-in m [:sde :variance]) :sde-ks (get-in m [:sde :ks]) :sde-thr (get-in m [:sde :ks-threshold-95])
          :disc-var (get-in m [:discrete :variance]) :disc-ks (get-in m [:discrete :ks])
          :net-var (get-in m [:network :variance]) :net-mean-offset (when (:network m) (- (double (get-in m [:network :mean])) (double (get-in m [:theory :mean]))))
          :net-ks (get-in m [:network :ks]) :net-thr (get-in m [:network :ks-threshold-95]) :net-neff (get-in m [:network :n-eff])})))

(def stationary-columns
  [[:lr "η"] [:mode "mode"] [:lr-s "η S"] [:exact "Var exact"] [:gibbs "Var Gibbs T S"] [:discrete "Var discrete (§7)"]
   [:lin-discrete "Var discrete, with 2e²"] [:sde-var "SDE Var"] [:sde-ks "SDE KS"] [:sde-thr "1.36/√n"]
   [:disc-var "aligned SGD Var"] [:disc-ks "aligned SGD KS"]
   [:net-var "network Var"] [:net-mean-offset "network mean − exact"] [:net-ks "network KS"] [:net-thr "1.36/√n_eff"]])

(defn- weak-rows [{:keys [rows batch-size label-noise]}]
  (vec (for [r rows]
         (merge {:lr (:lr r) :batch-size batch-size :label-noise label-noise :seeds (:seeds r)
                 :weak-error (:weak-error r) :max-se (:max-se r)
                 :vs-discrete (:vs-discrete r) :vs-gradient-flow (:vs-gradient-flow r) :discrete-vs-sde (:discrete-vs-sde r)}
                (into {} (map-indexed (fn [i m] [(keyword (str "mode" (inc (long i)))) (:weak-error m)]) (:per-mode r)))))))

(def weak-columns
  [[:lr "η"] [:batch-size "B"] [:label-noise "σ"] [:seeds "seeds"] [:weak-error "SGD vs SDE"]
   [:mode1 "mode 1"] [:mode2 "mode 2"] [:mode3 "mode 3"] [:max-se "max s.e."]
   [:vs-discrete "SGD vs aligned SGD"] [:discrete-vs-sde "aligned SGD vs SDE"] [:vs-gradient-flow "SGD vs GF"]])

;; ---------------------------------------------------------------- variants and the report

(def variants
  "What `reproduce` runs for each :variant (all on `setup`: L = 3, s = 3, 2, 1,
  width 6, B = 4, pi0 = 1e-3, t up to 12).
  :quick (default; about a minute on 2 cores): diffusion at lr 0.005 over 40
  seeds recorded every step (SDE: 2000 paths, dt 0.001; contrast label noise
  sigma = 2 for both); stationary at lr 0.01 and 0.05 with sigma = 0.5 (SDE 4000
  paths; network 40 seeds, t up to 24); weak error at lr 0.0025 ... 0.04 over 60
  seeds (SDE 2000 paths), plus B = 16 at lr 0.01 and 0.04 and sigma = 0.5 at lr
  0.005 and 0.02.
  :full (several minutes): 120 seeds for the diffusion (SDE 4000 paths), 160
  for the weak error at lr 0.00125 ... 0.04 (SDE 3000 paths) and for B = 16
  and sigma = 0.5 at lr 0.0025, 0.01, 0.04; stationary at lr 0.005, 0.01, 0.02,
  0.05 (SDE 8000 paths, dt 0.0005; network 80 seeds, t up to 40).
  :reduced (seconds; the tests): diffusion at lr 0.005 over 24 seeds (SDE 400
  paths); stationary at lr 0.01 and 0.05 (SDE only, 2000 paths); weak error over
  t <= 4 (the top mode's transition) at lr 0.0025 and 0.04 with B = 32 and 64
  seeds (SDE 1000 paths)."
  {:quick {:diffusion {:lr 0.005 :seeds 40 :paths 2000 :dt 0.001 :window 5 :contrast-noise 2.0 :network-contrast? true}
           :stationary {:lrs [0.01 0.05] :label-noise 0.5 :paths 4000 :dt 0.001 :sde-time 4.0 :seeds 40
                        :net-time 24.0 :burn-time 4.0 :sample-time 0.1}
           :weak-error {:lrs [0.0025 0.005 0.01 0.02 0.04] :seeds 60 :paths 2000}
           :batch-contrast {:batch-size 16 :lrs [0.01 0.04]}
           :label-noise {:label-noise 0.5 :lrs [0.005 0.02]}}
   :full {:diffusion {:lr 0.005 :seeds 120 :paths 4000 :dt 0.001 :window 5 :contrast-noise 2.0 :network-contrast? true}
          :stationary {:lrs [0.005 0.01 0.02 0.05] :label-noise 0.5 :paths 8000 :dt 0.0005 :sde-time 4.0 :seeds 80
                       :net-time 40.0 :burn-time 4.0 :sample-time 0.1}
          :weak-error {:lrs [0.00125 0.0025 0.005 0.01 0.02 0.04] :seeds 160 :paths 3000}
          :batch-contrast {:batch-size 16 :lrs [0.0025 0.01 0.04]}
          :label-noise {:label-noise 0.5 :lrs [0.0025 0.01 0.04]}}
   :reduced {:diffusion {:lr 0.005 :seeds 24 :paths 400 :dt 0.002 :window 5 :contrast-noise 2.0 :network-contrast? true}
             :stationary {:lrs [0.01 0.05] :label-noise 0.5 :paths 2000 :dt 0.001 :sde-time 3.0 :seeds 0}
             :weak-error {:lrs [0.0025 0.04] :seeds 64 :paths 1000 :time 4.0 :batch-size 32}}})

(def claim
  "The claim reproduced (issue 6, item 4; SCIENCE.md §7 [SDE])."
  (str "SGD in the saddle-to-saddle regime of deep linear networks (small, balanced and aligned initialization, "
       "one-pass minibatch SGD on x ~ N(0, I) teacher-student data) is described mode by mode by the SDE "
       "da = a^(L-1)(s - a^L) dt + sqrt(lr/B) a^(L-1) sqrt(2(a^L - s)^2 + sigma^2) dW on t = lr x steps. Its diffusion "
       "D(pi) = (lr/B) L^2 pi^(4-4/L)(2(pi-s)^2 + sigma^2) peaks at pi* = 2(L-1)s/(3L-2) < s, so without label noise "
       "the noise is largest just before each mode is learned; with label noise a learned mode fluctuates with the "
       "SDE's stationary density (variance near T L s^(2-2/L), T = lr sigma^2/(2B)); and the SDE ensemble's mean "
       "trajectories follow full-network SGD with a weak error that shrinks with lr."))

(defn- timed [f] (let [t0 (System/nanoTime) v (f)] [v (elapsed-ms t0)]))

(defn- strip-curves
  "A weak-error study with :curves kept only in the rows at the given learning rates."
  [study keep-lrs]
  (update study :rows (fn [rows] (mapv #(if (some #{(:lr %)} keep-lrs) % (dissoc % :curves)) rows))))

(defn reproduce
  "Runs the [SDE] reproduction (see `claim` and `variants`) and returns its
  report as plain data.

  Options: :variant (:quick; :full or :reduced); :jobs (2) parallel runs and
  SDE threads; :progress (fn [{:stage :done :total}]) called after each network
  run (possibly from worker threads); :seed-base (1): the network runs use seeds
  seed-base, seed-base + 1, ... and the SDE seeds move with it (to check that a
  result does not hang on one draw).
  Returns {:paper :claim :reference :variant :setup
  :diffusion (`diffusion-study`; :table Markdown)
  :stationary [`stationary-study` per lr] :stationary-table
  :weak-error {:main :batch-contrast :label-noise (`weak-error-study`s) :table}
  :checks {name {:claim :pass? :failures}} :figures [figure data ...]
  :timing-ms {...}}.
  Throws ex-info for an unknown variant."
  ([] (reproduce {}))
  ([{:keys [variant jobs progress seed-base] :or {variant :quick jobs 2 seed-base 1}}]
   (let [v (or (get variants variant)
               (fail! (str "Unknown :variant " (pr-str variant) "; allowed are " (pr-str (sort (keys variants))) ".")
                      [:variant] variant (set (keys variants))))
         seed-base (long seed-base)
         seeds (fn [n] (vec (range seed-base (+ seed-base (long n)))))
         sde-seed (fn [^long k] (+ k (* 100 (dec seed-base))))
         cfg setup
         {dv :diffusion sv :stationary wv :weak-error bc :batch-contrast ln :label-noise} v
         [diff t-diff] (timed #(diffusion-study cfg (assoc dv :seeds (seeds (:seeds dv)) :jobs jobs :progress progress
                                                                :sde-seed (sde-seed 11))))
         [stat t-stat] (timed (fn []
                                (mapv (fn [lr]
                                        (stationary-study cfg (assoc sv :lr lr :seeds (seeds (:seeds sv)) :jobs jobs :progress progress
                                                                     :sde-seed (sde-seed 21)
                                                                     :sample-every (max 1 (steps-for lr (:sample-time sv 0.1))))))
                                      (:lrs sv))))
         wcfg (cond-> cfg (:time wv) (assoc :time (:time wv)))
         wopts (fn [m] (merge {:seeds (seeds (:seeds wv)) :paths (:paths wv) :jobs jobs :progress progress
                               :sde-seed (sde-seed 31)
                               :batch-size (:batch-size wv (:batch-size cfg))}
                              m))
         [main t-main] (timed #(weak-error-study wcfg (wopts {:lrs (:lrs wv)})))
         [bcs t-bc] (if bc (timed #(weak-error-study wcfg (wopts {:lrs (:lrs bc) :batch-size (:batch-size bc)}))) [nil 0])
         [lns t-ln] (if ln (timed #(weak-error-study wcfg (wopts {:lrs (:lrs ln) :label-noise (:label-noise ln)}))) [nil 0])
         lrs (:lrs wv)
         main (strip-curves main [(first lrs) (peek lrs)])
         report {:diffusion diff :stationary stat :weak-error {:main main}}
         figs (vec (concat
                    [(plot/figure :s2s-diffusion-vs-time diff)
                     (plot/figure :s2s-diffusion-vs-strength diff {:cfg cfg})
                     (plot/figure :s2s-diffusion-aligned diff)
                     (plot/figure :s2s-weak-error main)
                     (plot/figure :s2s-mean-trajectories (first (:rows main)) {:name :s2s-means-small-lr})
                     (plot/figure :s2s-mean-trajectories (peek (:rows main)) {:name :s2s-means-large-lr})]
                    (map #(plot/figure :s2s-stationary %) stat)))
         strip-diff (fn [d] (-> d (dissoc :sde-curves)
                                (update :network-curves (fn [cs] (mapv #(select-keys % [:mode :s :bins]) cs)))))
         strip-stat (fn [st] (update st :modes (fn [ms] (mapv #(-> % (dissoc :histogram :histogram-discrete)
                                                                    (update :network dissoc :histogram))
                                                              ms))))
         strip-weak (fn [w] (when w (update w :rows (fn [rows] (mapv #(dissoc % :curves) rows)))))]
     {:paper :saddle-to-saddle
      :claim claim
      :reference "SCIENCE.md §4, §7 [SDE]; issue 6, item 4"
      :variant variant
      :setup {:network "chain, depth 3, width 6, balanced-aligned init, every mode at pi0 = 1e-3"
              :task "teacher-student, 3 x 3 teacher with singular values 3, 2, 1 (identity basis), x ~ N(0, I)"
              :optimizer (str "one-pass SGD, B = " (:batch-size (wopts {})) " (weak error), "
                              (:batch-size cfg) " (diffusion, stationary); time t = lr x steps")
              :sde "dlnlab.sde/simulate, Euler-Maruyama, one mode per target"
              :why-one-pass (str "the SDE's noise is that of a fresh Gaussian batch each step, which one-pass sampling draws; "
                                 "a finite training set would add a fixed O(1/sqrt(n)) offset of its optimum from the teacher "
                                 "and correlations between steps that reuse samples")}
      :diffusion (assoc (strip-diff diff) :table (markdown-table (diffusion-rows diff) diffusion-columns))
      :stationary (mapv strip-stat stat)
      :stationary-table (markdown-table (stationary-rows stat) stationary-columns)
      :weak-error {:main (strip-weak main) :batch-contrast (strip-weak bcs) :label-noise (strip-weak lns)
                   :table (markdown-table (vec (concat (weak-rows main) (when bcs (weak-rows bcs)) (when lns (weak-rows lns))))
                                          weak-columns)}
      :checks (checks report)
      :figures figs
      :timing-ms {:total (+ (long t-diff) (long t-stat) (long t-main) (long t-bc) (long t-ln))
                  :diffusion t-diff :diffusion-parts (:timing-ms diff)
                  :stationary t-stat :stationary-parts (mapv :timing-ms stat)
                  :weak-error t-main :weak-error-parts (mapv :timing-ms (:rows main))
                  :batch-contrast t-bc :label-noise t-ln :jobs jobs}})))

(defn reduced
  "The seconds-long version of `reproduce` used by the tests:
  (reproduce {:variant :reduced :jobs 2})."
  []
  (reproduce {:variant :reduced :jobs 2}))
