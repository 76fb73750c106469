(ns dlnlab.studies.transfer.estimate
  "The estimators of the [BP] study (dlnlab.studies.transfer): the tail
  geometric mean that scores a run, power-law fits of a loss curve (on a step
  window or between two loss levels), and the network linearized at its
  initialization (the lazy / NTK limit, computed from its tangent kernel
  independently of the run loop), with the isotropic finite-D lazy model."
  (:require [dlnlab.engine :as engine]
            [dlnlab.studies.transfer.figures :refer [finite?]])
  (:import [dlnlab.kernel Blas Objective]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn geometric-tail-mean
  "Geometric mean of the last fraction frac (0 < frac <= 1, at least one value)
  of the series xs: exp(mean log x). This is the score of a run in the learning-
  rate sweeps: it averages over the period-2 oscillations that large learning
  rates cause near the edge of stability, which make the single last value noisy.
  Returns nil when xs is empty or a value in the tail is not a positive finite
  number (a diverged run)."
  [xs frac]
  (let [n (count xs)
        k (max 1 (long (Math/ceil (* (double frac) n))))
        tail (take-last k xs)]
    (when (and (pos? n) (every? #(and (finite? %) (pos? (double %))) tail))
      (Math/exp (/ (double (reduce + (map #(Math/log (double %)) tail))) (double (count tail)))))))

(defn argmin-index
  "Index of the smallest number of xs, nils skipped (first on ties); nil when
  every entry is nil."
  [xs]
  (let [idx (filter #(some? (nth xs %)) (range (count xs)))]
    (when (seq idx)
      (reduce (fn [^long b ^long i] (if (< (double (nth xs i)) (double (nth xs b))) i b)) idx))))

(defn power-law-fit
  "Least-squares fit of log y = log c + exponent * log x over the points with
  x and y positive and finite.
  Returns {:exponent :prefactor c :points n :r2} or nil with fewer than 3 points."
  [xs ys]
  (let [pts (filter (fn [[x y]] (and (finite? x) (finite? y) (pos? (double x)) (pos? (double y))))
                    (map vector xs ys))
        n (count pts)]
    (when (>= n 3)
      (let [lx (mapv #(Math/log (double (first %))) pts)
            ly (mapv #(Math/log (double (second %))) pts)
            mx (/ (double (reduce + lx)) n)
            my (/ (double (reduce + ly)) n)
            sxy (double (reduce + (map (fn [^double a ^double b] (* (- a mx) (- b my))) lx ly)))
            sxx (double (reduce + (map (fn [^double a] (* (- a mx) (- a mx))) lx)))
            syy (double (reduce + (map (fn [^double b] (* (- b my) (- b my))) ly)))
            slope (/ sxy sxx)]
        {:exponent slope
         :prefactor (Math/exp (- my (* slope mx)))
         :points n
         :r2 (if (pos? syy) (/ (* sxy sxy) (* sxx syy)) 1.0)}))))

(defn level-window
  "The steps between which the loss series first falls to hi and first falls to
  lo (hi > lo): [first step with loss <= hi, first step with loss <= lo], or nil
  when the loss never reaches lo. steps and losses are parallel vectors."
  [steps losses hi lo]
  (let [first-at (fn [^double level]
                   (some (fn [[s l]] (when (and (finite? l) (<= (double l) level)) s))
                         (map vector steps losses)))
        a (first-at (double hi))
        b (first-at (double lo))]
    (when (and a b (< (long a) (long b))) [a b])))

(defn fit-in-window
  "power-law-fit of losses against steps restricted to steps in [from, to]
  (from >= 1); the map also holds :window [from to]."
  [steps losses [from to]]
  (let [pts (filter (fn [[s _]] (and (>= (long s) (long from)) (<= (long s) (long to)) (pos? (long s))))
                    (map vector steps losses))]
    (some-> (power-law-fit (map first pts) (map second pts))
            (assoc :window [from to]))))

(defn- effective-factor
  "alpha W (+ I for residual blocks) of factor f of the packed params, a fresh
  column-major array."
  ^doubles [f ^doubles params]
  (let [rows (long (:rows f)) cols (long (:cols f)) off (long (:offset f))
        a (double (:alpha f))
        g (double-array (* rows cols))]
    (dotimes [i (* rows cols)] (aset g i (* a (aget params (+ off i)))))
    (when (:identity? f) (dotimes [i (min rows cols)] (aset g (+ i (* i rows)) (+ 1.0 (aget g (+ i (* i rows)))))))
    g))

(defn- gram
  "X^T X (transpose? false, X rows x cols -> cols x cols) or X X^T (transpose?
  true, -> rows x rows) of a column-major X."
  ^doubles [^doubles x ^long rows ^long cols transpose?]
  (if transpose?
    (let [out (double-array (* rows rows))]
      (Blas/gemm false true rows rows cols 1.0 x 0 rows x 0 rows 0.0 out 0 rows)
      out)
    (let [out (double-array (* cols cols))]
      (Blas/gemm true false cols cols rows 1.0 x 0 rows x 0 rows 0.0 out 0 cols)
      out)))

(defn- identity-matrix ^doubles [^long n]
  (let [a (double-array (* n n))] (dotimes [i n] (aset a (+ i (* i n)) 1.0)) a))

(defn tangent-kernel-terms
  "The neural tangent kernel of a network map at its weights, as the terms of
  dF = -lr sum_j c_j P_j R Q_j: for every factor j of every pathway, with
  prefix B_j = G_(j-1)...G_1 and suffix A_j = G_last...G_(j+1) of the effective
  factors G (doc/science.md §3: grad W_j = alpha_j A_j^T R B_j^T), c_j = alpha_j^2,
  P_j = A_j A_j^T (dout x dout) and Q_j = B_j^T B_j (din x din), column-major.
  Returns a vector of {:c :p :q} (arrays; internal to the linearized dynamics)."
  [net]
  (let [params ^doubles (:params net)
        din (long (get-in net [:task :dims :input]))
        dout (long (get-in net [:task :dims :output]))]
    (vec
     (mapcat
      (fn [fs]
        (let [gs (mapv #(effective-factor % params) fs)
              n (count fs)
              ;; prefixes: pre[j] = G_(j-1)...G_1, rows_(j-1) x din; nil = identity
              pres (loop [j 1 acc [nil (aclone ^doubles (gs 0))]]
                     (if (< j (dec n))
                       (let [f (fs j) rows (long (:rows f)) cols (long (:cols f))
                             out (double-array (* rows din))]
                         (Blas/gemm false false rows din cols 1.0 (gs j) 0 rows (acc j) 0 cols 0.0 out 0 rows)
                         (recur (inc j) (conj acc out)))
                       acc))
              ;; suffixes: suf[j] = G_last...G_(j+1), dout x rows_j; nil = identity
              sufs (loop [j (dec n) acc {(dec n) nil}]
                     (if (> j 0)
                       (let [f (fs j) rows (long (:rows f)) cols (long (:cols f))
                             prev (acc j)
                             out (if prev
                                   (let [o (double-array (* dout cols))]
                                     (Blas/gemm false false dout cols rows 1.0 prev 0 dout (gs j) 0 rows 0.0 o 0 dout)
                                     o)
                                   (aclone ^doubles (gs j)))]
                         (recur (dec j) (assoc acc (dec j) out)))
                       acc))]
          (for [j (range n)]
            (let [f (fs j)
                  a (double (:alpha f))
                  pre (nth pres j)
                  suf (sufs j)]
              {:c (* a a)
               :p (if suf (gram suf dout (long (:rows f)) true) (identity-matrix dout))
               :q (if pre (gram pre (long (:cols f)) din false) (identity-matrix din))}))))
      (:layout net)))))

(defn linearized-losses
  "Losses of gradient descent on the network linearized at its current weights
  (the lazy / NTK limit: the kernel of `tangent-kernel-terms` is frozen):
  F <- F - lr_eff sum_j c_j P_j R(F) Q_j from the network's end-to-end F, with
  R(F) = dl/dF of the network's objective and lr_eff = lr times the network's
  :lr-multiplier (doc/science.md §1). This route shares only the loss formula with
  the run loop, not its gradient or update.
  Options: :objective (the network's training objective) the loss recorded.
  Returns a vector of steps + 1 losses (step 0 first)."
  ([net lr steps] (linearized-losses net lr steps {}))
  ([net lr steps {:keys [objective]}]
   (let [^Objective train (:objective net)
         ^Objective rec (or objective train)
         din (long (get-in net [:task :dims :input]))
         dout (long (get-in net [:task :dims :output]))
         m (* din dout)
         lr-eff (* (double lr) (double (or (:lr-multiplier net) 1.0)))
         terms (tangent-kernel-terms net)
         f ^doubles (:f (engine/end-to-end net (:params net)))
         r (double-array m)
         t (double-array m)
         work (double-array (max (.workSize train) (.workSize rec)))]
     (loop [s 0 acc (transient [])]
       (let [l (.lossAndResidual rec f nil work)
             acc (conj! acc l)]
         (if (or (>= s (long steps)) (not (Double/isFinite l)))
           (persistent! acc)
           (do
             (.lossAndResidual train f r work)
             (doseq [{:keys [c p q]} terms]
               (Blas/gemm false false dout din dout 1.0 p 0 dout r 0 dout 0.0 t 0 dout)
               (Blas/gemm false false dout din din (- (* lr-eff (double c))) t 0 dout q 0 din 1.0 f 0 dout))
             (recur (inc s) acc))))))))

(defn isotropic-lazy-losses
  "Losses of the lazy (linearized) model with an isotropic kernel on power-law
  data, normalized to 1 at step 0: l(s) = sum_k lambda_k (1 - c_eta lambda_k)^(2s)
  / sum_k lambda_k, lambda_k = k^-alpha, k = 1..D, for gradient descent with
  kernel-times-learning-rate c_eta and an isotropic initial error (derivation of
  ours: each eigendirection of Sigma decays independently). For a wide :mup chain
  of depth L (doc/science.md §1) c_eta = eta L / D: each of the L layers contributes
  1/D to the kernel at initialization (see `tangent-kernel-terms`).
  Returns a vector of steps + 1 numbers."
  [alpha D c-eta steps]
  (let [lams (mapv #(Math/pow (double %) (- (double alpha))) (range 1 (inc (long D))))
        total (double (reduce + lams))
        ce (double c-eta)]
    (mapv (fn [^long s]
            (/ (double (reduce + (map (fn [^double l] (* l (Math/pow (- 1.0 (* ce l)) (* 2.0 s)))) lams))) total))
          (range (inc (long steps))))))


;; ---------------------------------------------------------------------------
;; Seed statistics and the 1/N extrapolation of the width study

(defn mean-and-standard-error
  "{:mean m :se s :n n} of the numbers xs: the sample mean and its standard
  error sqrt(var / n), var the unbiased sample variance. Returns nil with fewer
  than 2 numbers or a number that is not finite (a diverged run)."
  [xs]
  (let [n (count xs)]
    (when (and (>= n 2) (every? finite? xs))
      (let [m (/ (double (reduce + xs)) n)
            v (/ (double (reduce + (map #(let [d (- (double %) m)] (* d d)) xs))) (dec n))]
        {:mean m :se (Math/sqrt (/ v n)) :n n}))))

(def ^:private student-t-975
  "Two-sided 95% quantiles t_0.975 of Student's t with 1 .. 30 degrees of freedom
  (standard tables); beyond 30 the normal 1.96 is used."
  [12.706 4.303 3.182 2.776 2.571 2.447 2.365 2.306 2.262 2.228
   2.201 2.179 2.160 2.145 2.131 2.120 2.110 2.101 2.093 2.086
   2.080 2.074 2.069 2.064 2.060 2.056 2.052 2.048 2.045 2.042])

(defn t-quantile-975
  "The 97.5% quantile of Student's t with dof >= 1 degrees of freedom (table to
  30, then 1.96)."
  ^double [^long dof]
  (if (<= dof (count student-t-975)) (double (nth student-t-975 (dec (max 1 dof)))) 1.96))

(defn inverse-width-fit
  "Weighted least-squares fit of y_i = l-inf + c / N_i with weights w_i = 1/se_i^2
  (se_i the standard error of y_i, e.g. of a seed mean), in closed form: with
  x = 1/N, S = sum w, Sx = sum w x, Sy = sum w y, Sxx = sum w x^2, Sxy = sum w x y
  and Delta = S Sxx - Sx^2,
    c = (S Sxy - Sx Sy) / Delta,   l-inf = (Sxx Sy - Sx Sxy) / Delta,
    var c = S / Delta,             var l-inf = Sxx / Delta
  (the variances for standard errors that are right). chi2 = sum w r^2 over the
  residuals r, dof = n - 2; when chi2/dof > 1 (scatter beyond the standard
  errors, or curvature the line misses) both variances are multiplied by it
  (the Birge ratio). The 95% intervals are estimate +- t_0.975(dof) sd, or
  1.96 sd when n = 2.
  The covariance of the two is -Sx/Delta (scaled alike).
  Returns {:l-inf :c :l-inf-se :c-se :covariance :l-inf-interval [lo hi]
  :c-interval [lo hi] :chi2 :dof :scale :quantile} (:quantile the t_0.975 or
  1.96 used) or nil with fewer than 2 points or a non-positive se."
  [widths ys ses]
  (let [n (count widths)]
    (when (and (>= n 2) (= n (count ys) (count ses)) (every? #(and (finite? %) (pos? (double %))) ses)
               (every? finite? ys))
      (let [xs (mapv #(/ 1.0 (double %)) widths)
            ws (mapv #(/ 1.0 (* (double %) (double %))) ses)
            sum (fn ^double [f] (double (reduce + (map f ws xs ys))))
            S (double (sum (fn [w _ _] w)))
            Sx (double (sum (fn [w x _] (* (double w) (double x)))))
            Sy (double (sum (fn [w _ y] (* (double w) (double y)))))
            Sxx (double (sum (fn [w x _] (* (double w) (double x) (double x)))))
            Sxy (double (sum (fn [w x y] (* (double w) (double x) (double y)))))
            delta (- (* S Sxx) (* Sx Sx))
            c (/ (- (* S Sxy) (* Sx Sy)) delta)
            l-inf (/ (- (* Sxx Sy) (* Sx Sxy)) delta)
            chi2 (double (sum (fn [w x y] (let [r (- (double y) l-inf (* c (double x)))] (* (double w) r r)))))
            dof (- n 2)
            scale (if (pos? dof) (max 1.0 (/ chi2 (double dof))) 1.0)
            q (if (pos? dof) (t-quantile-975 dof) 1.96)
            c-se (Math/sqrt (* scale (/ S delta)))
            l-se (Math/sqrt (* scale (/ Sxx delta)))]
        {:l-inf l-inf :c c :l-inf-se l-se :c-se c-se :covariance (- (* scale (/ Sx delta)))
         :l-inf-interval [(- l-inf (* q l-se)) (+ l-inf (* q l-se))]
         :c-interval [(- c (* q c-se)) (+ c (* q c-se))]
         :chi2 chi2 :dof dof :scale scale :quantile q}))))

(defn inverse-width-prediction
  "The loss a fit of `inverse-width-fit` predicts at width N, l-inf + c/N, and
  its standard deviation sqrt(var l-inf + var c / N^2 + 2 cov / N).
  Returns {:predicted :sd}."
  [{:keys [l-inf c l-inf-se c-se covariance]} N]
  (let [x (/ 1.0 (double N))]
    {:predicted (+ (double l-inf) (* (double c) x))
     :sd (Math/sqrt (max 0.0 (+ (* (double l-inf-se) (double l-inf-se)) (* x x (double c-se) (double c-se))
                                (* 2.0 x (double covariance)))))}))
