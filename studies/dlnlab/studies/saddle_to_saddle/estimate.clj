(ns dlnlab.studies.saddle-to-saddle.estimate
  "The estimators of the [SDE] study (dlnlab.studies.saddle-to-saddle) on
  ensembles of runs: moments over paths, first passages, windowed curves, the
  weighted shape fit of the diffusion, lag-1 correlation, the KS threshold of an
  effective sample size, the diffusion estimated from second differences, and
  the weak error between two mean trajectories."
  (:require [dlnlab.error :as error]
            [dlnlab.theory.sde :as theory-sde]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn mean ^double [xs]
  (let [v (vec xs) n (count v)]
    (if (zero? n) Double/NaN (/ (double (reduce + 0.0 v)) n))))

(defn sample-variance ^double [xs]
  (let [v (vec xs) n (count v) m (mean v)]
    (if (< n 2) Double/NaN
        (/ (double (reduce + 0.0 (map #(let [d (- (double %) m)] (* d d)) v))) (dec n)))))

(defn median [xs]
  (let [v (vec (sort xs)) n (count v)]
    (cond (zero? n) nil
          (odd? n) (double (v (quot n 2)))
          :else (* 0.5 (+ (double (v (dec (quot n 2)))) (double (v (quot n 2))))))))

(defn interp
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

(defn ensemble-moments
  "Mean and standard error over paths of every mode at every record:
  {:mean [[per mode] per time] :se [[..]]} of paths [[[pi per mode] per time] per path]."
  [paths]
  (let [n (count paths) nt (count (first paths)) nm (count (first (first paths)))]
    {:mean (vec (for [k (range nt)] (vec (for [i (range nm)] (mean (map #(get-in % [k i]) paths))))))
     :se (vec (for [k (range nt)]
                (vec (for [i (range nm)]
                       (Math/sqrt (/ (sample-variance (map #(get-in % [k i]) paths)) n))))))}))

(defn first-passage
  "Time of the first record where pi of mode i reaches fraction x s on one path, or nil."
  [times path ^long i ^double level]
  (some (fn [k] (when (>= (double (get-in path [k i])) level) (nth times k))) (range (count path))))

(defn window-curve
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

(defn argmax-by [f xs] (when (seq xs) (apply max-key #(double (f %)) xs)))

(defn solve3
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
  D ∝ x^(4-4/L) (1 - x)^2 (doc/science.md §7, no label noise) p = 4 - 4/L, q = 2 and
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

(defn lag1-correlation
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


(defn theory-params
  "The dlnlab.theory parameter map of target mode s under a complete study
  config cfg ({:pi0 :depth :lr :batch-size :label-noise ..}):
  {:s :pi0 :depth :lr :batch-size :label-noise}."
  [cfg s]
  (let [{:keys [pi0 depth lr batch-size label-noise]} cfg]
    {:s (double s) :pi0 (double pi0) :depth depth :lr (double lr) :batch-size batch-size
     :label-noise (double (or label-noise 0.0))}))

(defn diffusion-estimate
  "Estimates the diffusion of each mode strength in full-network SGD from an
  ensemble recorded every step (`network-ensemble` with :every 1); cfg is a
  complete study config (`setup` merged with :lr).

  Per step k and path, with increments d_k = pi_(k+1) - pi_k, the squared second
  difference (d_(k+1) - d_k)^2 / (2 lr) estimates D(pi_(k+1)): an SGD step is
  pi_(k+1) = pi_k + lr b(pi_k) + sqrt(lr D) xi_k with fresh noise every step, so
  the drift cancels to O(lr^2 b b') and the noise contributes 2 lr D. It is set
  beside dlnlab.theory.sde/diffusion at the same path's pi (doc/science.md §7).

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
  (let [{:keys [targets lr]} cfg
        lr (double lr)
        times (:time ens)
        paths (:paths ens)
        nt (count times)
        _ (when (or (< nt 3) (> (Math/abs (- (- (double (nth times 1)) (double (nth times 0))) lr)) (* 1e-9 lr)))
            (error/fail! :invalid-argument (str "diffusion-estimate needs an ensemble recorded every step (times lr apart, lr = " lr
                        "); its first time step is " (when (>= nt 2) (- (double (nth times 1)) (double (nth times 0)))) ".")
                   {:path [:time] :value (vec (take 3 times)) :allowed "record times t_k = lr k"}))
        w (long window)
        bw (double bin-width)
        fmax (double (apply max fractions))]
    (vec
     (for [i (range (count targets))]
       (let [i (long i)
             s (double (nth targets i))
             params (theory-params cfg s)
             dth (fn ^double [^double p] (theory-sde/diffusion params (max 0.0 p)))
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
          :theory-peak-x (when-let [p (theory-sde/peak-diffusion-pi params)] (/ (double p) s))
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

