(ns dlnlab.theory.sde
  "SGD as a per-mode SDE (doc/science.md §7), one pure function per formula: the
  minibatch gradient noise variance along a mode, the drift and diffusion of the
  per-mode SDE in pi, where the diffusion peaks, the Gibbs-like temperature and
  variance near the minimum, the linearized stationary variances (continuous and
  discrete), and the stationary density (zero-flux Fokker-Planck) with its
  normalization, moments, pdf and cdf by quadrature.

  Conventions as dlnlab.theory's: s > 0 a target singular value, pi = a^L a
  mode's strength, L the depth, lr the learning rate, B the batch size, sigma the
  label noise; SDE time is t = lr * steps. Invalid arguments throw ex-info with
  {:path [key] :value v :allowed description}."
  (:require [dlnlab.error :as error]
            [dlnlab.numeric :as numeric]
            [dlnlab.theory :refer [single-path-sharpness]]
            [dlnlab.theory.common :refer [depth! non-negative! positive!]]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn sgd-noise-variance
  "Variance (2 e^2 + sigma^2) / B of the minibatch gradient noise along one mode
  with error e = pi - s (doc/science.md §7).

  Takes {:e :label-noise :batch-size}."
  ^double [{:keys [e label-noise batch-size]}]
  (let [e (double e) sg (non-negative! :label-noise label-noise) b (positive! :batch-size batch-size)]
    (/ (+ (* 2.0 e e) (* sg sg)) b)))

(defn- sde-params [{:keys [s depth lr batch-size label-noise] :or {label-noise 0.0}}]
  {:s (positive! :s s) :l (depth! depth 1) :lr (positive! :lr lr)
   :b (positive! :batch-size batch-size) :sigma (non-negative! :label-noise label-noise)})

(defn diffusion
  "Diffusion D(pi) = (lr/B) L^2 pi^(4-4/L) (2 (pi - s)^2 + sigma^2) of the per-mode SDE in pi
  (doc/science.md §7).

  Takes {:s :depth :lr :batch-size :label-noise (0)} and pi >= 0."
  ^double [params pi]
  (let [{:keys [^double s ^long l ^double lr ^double b ^double sigma]} (sde-params params)
        p (non-negative! :pi pi) e (- p s)]
    (* (/ lr b) l l (Math/pow p (- 4.0 (/ 4.0 l))) (+ (* 2.0 e e) (* sigma sigma)))))

(defn drift
  "Ito drift of the per-mode SDE in pi (doc/science.md §7):
  L pi^(2-2/L) (s - pi) + (lr/2B) L (L-1) pi^(3-4/L) (2 (pi - s)^2 + sigma^2).

  Takes {:s :depth :lr :batch-size :label-noise (0)} and pi >= 0."
  ^double [params pi]
  (let [{:keys [^double s ^long l ^double lr ^double b ^double sigma]} (sde-params params)
        p (non-negative! :pi pi) e (- p s)]
    (+ (* l (Math/pow p (- 2.0 (/ 2.0 l))) (- s p))
       (* (/ lr (* 2.0 b)) l (- l 1.0) (Math/pow p (- 3.0 (/ 4.0 l))) (+ (* 2.0 e e) (* sigma sigma))))))

(defn peak-diffusion-pi
  "Strength pi* in (0, s) where the diffusion D(pi) peaks (doc/science.md §7).
  Without label noise pi* = 2(L-1) s / (3L-2); with label noise the interior maximum is
  found by golden-section search where D has one (nil otherwise).

  Takes {:s :depth :label-noise (0)} (lr and B only scale D)."
  [{:keys [s depth label-noise] :or {label-noise 0.0}}]
  (let [s (positive! :s s) l (depth! depth 2) sg (non-negative! :label-noise label-noise)]
    (if (zero? sg)
      (/ (* 2.0 (- l 1.0) s) (- (* 3.0 l) 2.0))
      (let [d (fn ^double [^double p] (* (Math/pow p (- 4.0 (/ 4.0 l))) (+ (* 2.0 (- p s) (- p s)) (* sg sg))))
            x (numeric/golden-max d (* 1e-9 s) s)]
        ;; interior maximum only if D falls on both sides
        (when (and (< x (* s (- 1.0 1e-6)))
                   (> (.invokePrim ^clojure.lang.IFn$DD d x) (.invokePrim ^clojure.lang.IFn$DD d (* s (- 1.0 1e-9)))))
          x)))))

(defn gibbs-temperature
  "Temperature T = lr sigma^2 / (2B) of the Gibbs-like stationary density near the
  minimum (doc/science.md §7). Takes {:lr :label-noise :batch-size}."
  ^double [{:keys [lr label-noise batch-size]}]
  (/ (* (positive! :lr lr) (Math/pow (non-negative! :label-noise label-noise) 2.0))
     (* 2.0 (positive! :batch-size batch-size))))

(defn gibbs-variance
  "Gibbs-like approximation Var(pi) = T L s^(2-2/L) of the stationary variance of the
  per-mode SDE (doc/science.md §7). Takes {:s :depth :lr :label-noise :batch-size}."
  ^double [{:keys [s depth] :as params}]
  (* (gibbs-temperature params) (single-path-sharpness s depth)))

(defn linear-stationary-variance
  "Stationary variance of a learned mode's strength in the linearized per-mode
  dynamics with the full minibatch noise variance (2 e^2 + sigma^2)/B, e = pi - s
  (a derivation of ours, doc/science.md §7). Near pi = s the drift is -S e and
  the noise standard deviation per unit time sqrt(lr/B) S sqrt(2 e^2 + sigma^2),
  S = L s^(2-2/L); keeping the 2 e^2 part gives
    continuous SDE:         Var = lr sigma^2 S / (2 (B - lr S)),
    discrete (SGD's step):  Var = lr sigma^2 S / (B (2 - lr S) - 2 lr S),
  which reduce to T S (T = lr sigma^2/(2B)) for lr S << B; the discrete one is
  `discrete-stationary-variance`.
  Takes {:s :depth :lr :batch-size :label-noise}; option :discrete? (false).
  Returns the variance, or nil when the denominator is not positive (the
  multiplicative noise wins: no finite linearized variance)."
  ([params] (linear-stationary-variance params {}))
  ([{:keys [s depth lr batch-size label-noise]} {:keys [discrete?]}]
   (let [sharp (single-path-sharpness (double s) depth)
         lr (double lr) b (double batch-size) sg (double label-noise)
         x (* lr sharp)
         den (if discrete? (- (* b (- 2.0 x)) (* 2.0 x)) (* 2.0 (- b x)))]
     (when (pos? den) (/ (* lr sg sg sharp) den)))))

(defn discrete-stationary-variance
  "Stationary variance of a learned mode's strength under discrete SGD (one step
  per lr of time), linearized at pi = s with S = L s^(2-2/L) and the full
  minibatch noise variance (2 e^2 + sigma^2)/B, e = pi - s (doc/science.md §7):
    Var(pi) = lr sigma^2 S / (B (2 - lr S) - 2 lr S).
  It is the fixed point of the exact second-moment recursion of the linearized
  step e' = (1 - lr S) e + lr S sqrt((2 e^2 + sigma^2)/B) xi; dropping the 2 e^2
  part of the noise would give lr sigma^2 S / (B (2 - lr S)), too small.
  Requires B (2 - lr S) > 2 lr S, i.e. lr S < 2B/(B + 2) (above it the
  multiplicative noise wins and the linearized variance grows without bound).
  Takes {:s :depth :lr :label-noise :batch-size}; throws ex-info naming :lr
  otherwise."
  ^double [{:keys [s depth lr label-noise batch-size] :as params}]
  (let [sharp (single-path-sharpness s depth) lr (positive! :lr lr)
        b (positive! :batch-size batch-size)]
    (non-negative! :label-noise label-noise)
    (or (linear-stationary-variance params {:discrete? true})
        (error/fail! :invalid-argument
                     (str "[:lr] = " (error/show lr) " is not allowed: the discrete stationary variance needs lr below 2B/((B + 2) S) = "
                          (/ (* 2.0 b) (* (+ b 2.0) sharp)) ", S = L s^(2-2/L) = " sharp ".")
                     {:path [:lr] :value lr :allowed (str "below 2B/((B + 2) S) = " (/ (* 2.0 b) (* (+ b 2.0) sharp)))}))))

;; Stationary density. In y = ln pi, with u = e^y:
;;   log p(pi) = -(3 - 3/L) ln pi - ln q(pi) - K I(pi),   q(u) = 2 (u - s)^2 + sigma^2,
;;   K = 2B / (lr L),   I(pi) = int_{ln s}^{ln pi} (u - s) u^(2/L - 1) / q(u) dy.

(defn- stationary-parts [params]
  (let [{:keys [^double s ^long l ^double lr ^double b ^double sigma]} (sde-params params)]
    (when-not (pos? sigma)
      (error/fail! :invalid-argument (str "[:label-noise] = " (error/show (:label-noise params))
                                          " is not allowed: it must be > 0 (without label noise the density is not normalizable).")
                   {:path [:label-noise] :value (:label-noise params) :allowed "> 0"}))
    (let [sg2 (* sigma sigma)
          q (fn ^double [^double u] (let [e (- u s)] (+ (* 2.0 e e) sg2)))
          k (/ (* 2.0 b) (* lr l))
          c0 (- 3.0 (/ 3.0 l))
          ys (Math/log s)
          ;; u - s = s expm1(y - ln s) keeps full relative accuracy near pi = s
          integrand (fn ^double [^double y]
                      (let [e (* s (Math/expm1 (- y ys)))]
                        (/ (* e (Math/exp (* (- (/ 2.0 l) 1.0) y))) (+ (* 2.0 e e) sg2))))
          ;; log p given y and I(y); the density in y carries the Jacobian e^y.
          logp (fn ^double [^double y ^double i]
                 (- (- (* (- c0) y) (Math/log (.invokePrim ^clojure.lang.IFn$DD q (Math/exp y)))) (* k i)))]
      {:s s :l l :integrand integrand :logp logp :ys ys
       :width (/ (Math/sqrt (gibbs-variance params)) s)})))

(defn stationary-log-density
  "Unnormalized log stationary density of the per-mode SDE in pi (doc/science.md §7,
  zero-flux Fokker-Planck):
  log p(pi) = -(3 - 3/L) ln pi - ln(2 (pi - s)^2 + sigma^2)
              - (2B/(lr L)) int_s^pi (u - s) / (u^(2-2/L) (2 (u - s)^2 + sigma^2)) du,
  normalized so that the integral term vanishes at pi = s (adaptive Gauss-Kronrod in ln u).

  Takes {:s :depth :lr :batch-size :label-noise} (label-noise > 0) and pi > 0."
  ^double [params pi]
  (let [{:keys [integrand logp ys]} (stationary-parts params)
        y (Math/log (positive! :pi pi))]
    (.invokePrim ^clojure.lang.IFn$DDD logp y (numeric/integrate integrand ys y))))

(defn- gk ^double [f ^double a ^double b]
  (numeric/gauss-kronrod-15 f a b))

(defn- density-table
  "Cells in y = ln pi around ln s (widths from a tenth of the Gibbs width, growing
  geometrically to 1), with I, log p and the density in y at every edge and the
  mass, first and centred second moment of every cell by Gauss-Kronrod (I at the
  nodes by nested quadrature from the cell's left edge)."
  [params]
  (let [{:keys [integrand logp ^double ys ^double width]} (stationary-parts params)
        logp ^clojure.lang.IFn$DDD logp
        h0 (/ (min 0.05 (max 1e-8 width)) 10.0)
        side (fn [^double dir ^double extent]
               (loop [acc [] off 0.0 h h0]
                 (if (>= off extent)
                   acc
                   (let [off (min extent (+ off h))]
                     (recur (conj acc (+ ys (* dir off))) off (min 1.0 (* h 1.08)))))))
        left (side -1.0 700.0)
        edges ^doubles (double-array (concat (reverse left) [ys] (side 1.0 40.0)))
        n (alength edges)
        centre (count left)
        i-edges (double-array n)]
    ;; I at the edges, integrating outward from ys (I = 0 there)
    (loop [k (inc centre)]
      (when (< k n)
        (aset i-edges k (+ (aget i-edges (dec k)) (gk integrand (aget edges (dec k)) (aget edges k))))
        (recur (inc k))))
    (loop [k (dec centre)]
      (when (>= k 0)
        (aset i-edges k (- (aget i-edges (inc k)) (gk integrand (aget edges k) (aget edges (inc k)))))
        (recur (dec k))))
    (let [log-edge (double-array n)
          _ (dotimes [k n]
              (let [y (aget edges k)]
                (aset log-edge k (+ (.invokePrim logp y (aget i-edges k)) y))))
          mx (double (areduce log-edge k acc Double/NEGATIVE_INFINITY (max acc (aget log-edge k))))
          ;; log of the density in y (log p + y) inside cell k, relative to mx
          in-cell (fn [^long k]
                    (let [a (aget edges k) ia (aget i-edges k)]
                      (fn ^double [^double y]
                        (- (+ (.invokePrim logp y (+ ia (gk integrand a y))) y) mx))))
          masses (double-array (dec n))
          firsts (double-array (dec n))]
      (dotimes [k (dec n)]
        (let [f ^clojure.lang.IFn$DD (in-cell k)
              a (aget edges k) b (aget edges (inc k))]
          (aset masses k (gk (fn ^double [^double y] (Math/exp (.invokePrim f y))) a b))
          (aset firsts k (gk (fn ^double [^double y] (Math/exp (+ (.invokePrim f y) y))) a b))))
      (let [z (double (areduce masses k acc 0.0 (+ acc (aget masses k))))
            mean (/ (double (areduce firsts k acc 0.0 (+ acc (aget firsts k)))) z)
            seconds (double-array (dec n))
            _ (dotimes [k (dec n)]
                (let [f ^clojure.lang.IFn$DD (in-cell k)]
                  (aset seconds k (gk (fn ^double [^double y]
                                        (let [d (- (Math/exp y) mean)]
                                          (* d d (Math/exp (.invokePrim f y)))))
                                      (aget edges k) (aget edges (inc k))))))
            variance (/ (double (areduce seconds k acc 0.0 (+ acc (aget seconds k)))) z)
            cdf (double-array n)]
        (loop [k 1]
          (when (< k n)
            (aset cdf k (+ (aget cdf (dec k)) (/ (aget masses (dec k)) z)))
            (recur (inc k))))
        {:edges edges :log-dens-y log-edge :cdf cdf
         :log-z (+ mx (Math/log z)) :mean mean :variance variance
         :lowest-cell-mass (/ (aget masses 0) z)}))))

(defn stationary-density
  "Normalization, mean and variance of the stationary density of the per-mode SDE in pi
  (doc/science.md §7), by Gauss-Kronrod quadrature over cells in ln pi from
  s e^-700 to s e^40 (cells a tenth of the Gibbs width near s, growing geometrically).

  Takes {:s :depth :lr :batch-size :label-noise} (label-noise > 0).
  Returns {:log-normalization ln Z (Z = integral of exp(stationary-log-density)),
  :mean :variance :std}. Throws ex-info when the density is not normalizable (mass
  piling up at pi -> 0, e.g. L = 2 with lr large against B s / (2 s^2 + sigma^2))."
  [params]
  (let [{:keys [log-z mean variance lowest-cell-mass]} (density-table params)]
    (when (> (double lowest-cell-mass) 1e-10)
      (error/fail! :invalid-argument (str "[:lr] = " (error/show (:lr params))
                                          " is too large: the stationary density is not normalizable at pi -> 0.")
                   {:path [:lr] :value (:lr params) :allowed "small enough that the stationary density is normalizable at pi -> 0"}))
    {:log-normalization log-z :mean mean :variance variance :std (Math/sqrt (double variance))}))

(defn stationary-pdf
  "The normalized stationary density of the per-mode SDE in pi as a function
  pi -> p(pi) (doc/science.md §7; see stationary-density). Takes the same params."
  [params]
  (let [{:keys [log-normalization]} (stationary-density params)
        {:keys [integrand logp ys]} (stationary-parts params)]
    (fn ^double [^double pi]
      (if (<= pi 0.0)
        0.0
        (let [y (Math/log pi)]
          (Math/exp (- (.invokePrim ^clojure.lang.IFn$DDD logp y (numeric/integrate integrand ys y))
                       (double log-normalization))))))))

(defn stationary-cdf
  "The stationary CDF of the per-mode SDE in pi as a function pi -> P(pi' <= pi)
  (doc/science.md §7): cell masses by quadrature, cubic Hermite interpolation in
  ln pi inside a cell (its edges' CDF values and densities). Takes the params of
  stationary-density."
  [params]
  (let [{:keys [^doubles edges ^doubles cdf ^doubles log-dens-y log-z]} (density-table params)
        n (alength edges)
        lz (double log-z)]
    (fn ^double [^double pi]
      (if (<= pi 0.0)
        0.0
        (let [y (Math/log pi)]
          (cond
            (<= y (aget edges 0)) 0.0
            (>= y (aget edges (dec n))) 1.0
            :else
            (let [k (let [r (java.util.Arrays/binarySearch edges y)] (if (neg? r) (- (- r) 2) (min r (- n 2))))
                  a (aget edges k) b (aget edges (inc k)) h (- b a)
                  t (/ (- y a) h)
                  ;; densities in y, normalized; log-dens-y holds log p + y unnormalized by Z
                  da (* h (Math/exp (- (aget log-dens-y k) lz)))
                  db (* h (Math/exp (- (aget log-dens-y (inc k)) lz)))
                  fa (aget cdf k) fb (aget cdf (inc k))
                  t2 (* t t) t3 (* t2 t)]
              (min 1.0 (max 0.0 (+ (* (+ (- (* 2.0 t3) (* 3.0 t2)) 1.0) fa)
                                   (* (+ (- t3 (* 2.0 t2)) t) da)
                                   (* (+ (* -2.0 t3) (* 3.0 t2)) fb)
                                   (* (- t3 t2) db)))))))))))
