(ns dlnlab.studies.edge-of-stability.measure
  "What the [EOS] study (dlnlab.studies.edge-of-stability) measures on a run
  beyond dlnlab.analysis: per-layer mode strengths and the misalignment in the
  target's singular-vector basis, the balance gap per mode, the map variable
  x = (pi/s)^(1/L) of a mode, exact periods of late values, and how late values
  agree with the per-mode map (its cycles, or the KS distance to its orbit)."
  (:require [dlnlab.sde :as sde]
            [dlnlab.task :as task]
            [dlnlab.theory.gd-map :as gd-map]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- bilinear
  "q^T W p for row-major W and vectors q, p."
  ^double [w q p]
  (reduce + 0.0 (map (fn [row ^double qa] (* qa (double (reduce + 0.0 (map * row p))))) w q)))

(defn- column [m ^long i] (mapv #(nth % i) m))

(defn mode-layer-strengths
  "Per-layer strength of each target mode in the singular-vector stationary form
  of the scaled-identity run ([EOS]): W_l = V diag(a_l) V^T for l < L and
  W_L = U diag(a_L) V^T, so a_(l,i) = v_i^T W_l v_i and a_(L,i) = u_i^T W_L v_i.
  chain-weights is [W_1 ... W_L] (row-major nested, dlnlab.core/weights' form of
  one pathway); u and v the target's singular vectors as columns (row-major
  nested, :target-svd of dlnlab.task). Returns [[a_(l,i) per mode] per layer]."
  [chain-weights u v]
  (let [depth (count chain-weights)
        r (count (first u))]
    (vec (map-indexed (fn [l w]
                        (mapv (fn [^long i]
                                (let [vi (column v i)]
                                  (bilinear w (if (= (inc (long l)) depth) (column u i) vi) vi)))
                              (range r)))
                      chain-weights))))

(defn- mat-mul [a b]
  (let [bt (apply mapv vector b)]
    (mapv (fn [row] (mapv (fn [col] (reduce + 0.0 (map * row col))) bt)) a)))

(defn misalignment
  "How far the end-to-end matrix F = W_L ... W_1 is from the target's singular
  vectors: ||offdiag(U^T F V)||_F / ||U^T F V||_F, with U and V the target's
  singular vectors (columns of u and v, row-major nested; square here). 0 in the
  singular-vector stationary set of the scaled-identity init ([EOS]).
  Returns a double (NaN when the weights are not finite)."
  ^double [chain-weights u v]
  (let [f (reduce (fn [acc w] (mat-mul w acc)) (first chain-weights) (rest chain-weights))
        c (mat-mul (mat-mul (apply mapv vector u) f) v)
        sq (fn [x] (* (double x) (double x)))
        total (double (reduce + 0.0 (map sq (apply concat c))))
        diag (double (reduce + 0.0 (map-indexed (fn [i row] (sq (nth row i))) c)))]
    (Math/sqrt (/ (max 0.0 (- total diag)) total))))

(defn target-vectors
  "{:u :v} of an experiment's target (its task rebuilt at its seed)."
  [exp]
  (select-keys (:target-svd (task/build-task (:task exp) (:seed exp))) [:u :v]))

(defn per-mode-gaps
  "a_(L,i)^2 - a_(L-1,i)^2 for each mode from the final weights."
  [weights {:keys [u v]}]
  (let [a (mode-layer-strengths weights u v)
        last-l (peek a) prev (nth a (- (count a) 2))]
    (mapv (fn [x y] (- (* (double x) (double x)) (* (double y) (double y)))) last-l prev)))

(defn gap-norm
  "One number from a :balance-gap value: the Euclidean norm over every adjacent pair."
  ^double [g]
  (Math/sqrt (double (reduce + 0.0 (map #(* (double %) (double %)) (apply concat g))))))

(defn late-values
  "The last k recorded values of mode i."
  [result ^long i ^long k]
  (mapv #(nth % i) (take-last k (remove nil? (get-in result [:trajectory :modes])))))

(defn strength->x
  "x = sign(pi) |pi/s|^(1/L): the map's variable for a mode of strength pi; for
  even L only |x| is defined by pi (the map is odd), so x >= 0 there."
  ^double [^double pi ^double s ^long depth]
  (* (Math/signum pi) (Math/pow (Math/abs (/ pi s)) (/ 1.0 depth))))

(defn fold
  "x for odd L; |x| for even L (where x and -x give the same strength)."
  ^double [^long depth ^double x]
  (if (even? depth) (Math/abs x) x))

(defn empirical-cdf
  "The empirical CDF of the sample xs as a fn of one double: the fraction of xs
  at or below x. With it dlnlab.sde/ks-distance gives the two-sample distance
  sup |F_a - F_b| (exactly, when the samples share no value)."
  [xs]
  (let [^doubles a (double-array (sort xs)) n (alength a)]
    (fn ^double [^double x]
      (loop [lo 0 hi n]                   ; first index with a[i] > x
        (if (< lo hi)
          (let [mid (quot (+ lo hi) 2)]
            (if (<= (aget a mid) x) (recur (inc mid) hi) (recur lo mid)))
          (/ (double lo) n))))))

(defn exact-period
  "The smallest p in 1..max-p with |x_(t+p) - x_t| <= tol max(1, |x_t|) over the
  last 3p values of xs (every p, not only powers of two: periodic windows inside
  chaos have periods 3, 5, 6, ...), or nil."
  [xs max-p tol]
  (let [v (vec xs) n (count v) tol (double tol)]
    (first (for [p (range 1 (inc (long max-p)))
                 :let [p (long p)]
                 :when (and (< (* 3 p) n)
                            (every? (fn [^long t]
                                      (let [a (double (v t))]
                                        (<= (Math/abs (- (double (v (+ t p))) a)) (* tol (max 1.0 (Math/abs a))))))
                                    (range (- n (* 4 p)) (- n p))))]
             p))))

(defn map-agreement
  "How the late values xs (x of one mode, `fold`ed) of a network run at r compare
  with the per-mode map at r. When xs repeat with a period p <= 64
  (`exact-period`, tolerance 1e-7): the largest distance from a value to the
  map's own p-cycle (dlnlab.theory.gd-map/gd-map-cycle after 10^5 transient steps). Otherwise (chaos,
  or not yet settled): the Kolmogorov-Smirnov distance to 20000 values of a map
  orbit, the same distance for (count xs) values of a second map orbit (a control
  for the sample size), and the fraction of xs outside the orbit's band [min,
  max] widened by 1e-9.
  Returns {:r :period p :max-distance d} or {:r :period nil :ks d :ks-control d
  :outside-band f}."
  [depth r xs]
  (let [depth (long depth) r (double r)
        p (exact-period xs 64 1e-7)]
    (if p
      (let [c (gd-map/gd-map-cycle r depth p {:transient 100000})
            pts (map #(fold depth (double %)) (:points c))]
        {:r r :period p
         :max-distance (if c
                         (reduce max 0.0 (for [x xs] (reduce min (map #(Math/abs (- (double x) (double %))) pts))))
                         Double/NaN)})
      (let [orbit (mapv #(fold depth (double %)) (gd-map/gd-map-orbit r depth 0.9 10000 20000))
            control (mapv #(fold depth (double %)) (gd-map/gd-map-orbit r depth 0.7 10000 (count xs)))
            lo (- (double (reduce min orbit)) 1e-9) hi (+ (double (reduce max orbit)) 1e-9)]
        {:r r :period nil
         :ks (sde/ks-distance xs (empirical-cdf orbit))
         :ks-control (sde/ks-distance control (empirical-cdf orbit))
         :outside-band (/ (double (count (remove #(<= lo (double %) hi) xs))) (count xs))}))))

