(ns dlnlab.theory-test
  "Every function of dlnlab.theory against an independent route: closed forms against
  ODE integration, 2-cycles against the map, invariants against integrated pathway
  flows, sharpness against Gauss-Newton matrices from finite-difference Jacobians
  and against the dense Hessian of networks built by the engine at those points,
  noise variances against Monte Carlo minibatches, the stationary density against
  the Fokker-Planck zero-flux condition and a trapezoid quadrature."
  (:require [clojure.test :refer [deftest is testing]]
            [dlnlab.core :as core]
            [dlnlab.hessian :as hessian]
            [dlnlab.numeric :as numeric]
            [dlnlab.theory :as th]
            [dlnlab.theory.sde :as th-sde]
            [dlnlab.theory.gd-map :as gd-map])
  (:import [dlnlab.kernel Blas Rng Sde]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- close? [a b rel]
  (<= (Math/abs (- (double a) (double b))) (* (double rel) (max 1e-300 (Math/abs (double b))))))

(defn- rk4-pi
  "pi(t) of per-mode gradient flow by the kernel's RK4 in a (an independent route)."
  [s pi0 depth t dt]
  (let [l (long depth) steps (max 1 (long (Math/round (/ (double t) (double dt)))))
        out (double-array (inc steps))]
    (Sde/gradientFlow (int l) (double s) (Math/pow (double pi0) (/ 1.0 l)) (/ (double t) steps) (int steps) 1 out 0)
    (Math/pow (aget out steps) l)))

(deftest gradient-flow-against-rk4
  (doseq [depth [1 2 3 4] [s pi0] [[1.0 0.01] [2.5 0.3] [1.0 3.0]] t [0.1 0.7 2.0]]
    (let [mode {:s s :pi0 pi0 :depth depth}]
      (is (close? (th/gradient-flow-pi mode t) (rk4-pi s pi0 depth t 1e-4) 1e-9)
          (str "depth " depth " s " s " pi0 " pi0 " t " t)))))

(deftest gradient-flow-time-inverts-the-flow
  (doseq [depth [2 3 5] [s pi0 pi] [[1.0 0.001 0.5] [2.0 0.1 1.999] [1.0 4.0 1.2]]]
    (let [mode {:s s :pi0 pi0 :depth depth}
          t (th/gradient-flow-time mode pi)]
      (is (pos? t))
      (is (close? (rk4-pi s pi0 depth t 1e-5) pi 1e-8) (str "depth " depth " pi " pi))))
  (is (== 0.0 (th/gradient-flow-time {:s 1.0 :pi0 0.2 :depth 3} 0.2)))
  (is (Double/isInfinite (th/gradient-flow-time {:s 1.0 :pi0 0.2 :depth 3} 1.0))))

(deftest learning-time-exact-and-asymptotic
  (testing "exact: the flow reaches fraction * s at that time"
    (doseq [depth [2 3] f [0.5 0.9]]
      (let [mode {:s 1.5 :pi0 0.01 :depth depth}]
        (is (close? (rk4-pi 1.5 0.01 depth (th/learning-time mode {:fraction f}) 1e-5) (* (double f) 1.5) 1e-8)))))
  (testing "already learned"
    (is (== 0.0 (th/learning-time {:s 1.0 :pi0 0.7 :depth 3}))))
  (testing "the small-pi0 formulas are the leading order of the exact time"
    ;; L = 2: ln(s/pi0)/(2s) differs from the exact passage time to s/2 by
    ;; O(pi0/s) only, so at pi0 = 1e-12 they agree to rounding.
    (let [mode {:s 2.0 :pi0 1e-12 :depth 2}]
      (is (close? (th/learning-time mode {:method :asymptotic}) (th/learning-time mode) 1e-12)))
    ;; L > 2: the leading term pi0^-(1-2/L)/((L-2)s) diverges as pi0 -> 0 while
    ;; the time it leaves out (the approach to the target) stays finite: the
    ;; difference approx - exact tends to a constant c(L, s) with 0 < c < 1/s,
    ;; and the next correction is smaller by a factor pi0^(1-2/L).
    (doseq [depth [3 4]]
      (let [gap (fn [pi0] (let [mode {:s 2.0 :pi0 pi0 :depth depth}]
                            (- (th/learning-time mode {:method :asymptotic}) (th/learning-time mode))))
            c (gap 1e-12)]
        (is (< 0.0 c 0.5) (str "depth " depth ": offset " c))
        (is (close? (gap 1e-9) c (* 10.0 (Math/pow 1e-9 (- 1.0 (/ 2.0 depth))))) (str "depth " depth))))))

;; --- sharpness: Gauss-Newton matrices from finite-difference Jacobians -------------

(defn- rot [^double theta] [[(Math/cos theta) (- (Math/sin theta))] [(Math/sin theta) (Math/cos theta)]])
(defn- mm [a b] (vec (for [r a] (vec (for [c (apply map vector b)] (reduce + (map * r c)))))))
(defn- tr [a] (apply mapv vector a))
(defn- diag [xs] (vec (for [i (range (count xs))] (vec (for [j (range (count xs))] (if (= i j) (nth xs i) 0.0))))))

(defn- gauss-newton-eigenvalues
  "Eigenvalues of J J^T for the map from flattened weights to the flattened product
  W_L ... W_1, J by central differences."
  [ws]
  (let [shapes (map (fn [w] [(count w) (count (first w))]) ws)
        flat (vec (mapcat #(mapcat identity %) ws))
        unflat (fn [v] (loop [v v shapes shapes acc []]
                         (if-let [[r c] (first shapes)]
                           (recur (drop (* (long r) (long c)) v) (rest shapes)
                                  (conj acc (mapv vec (partition c (take (* (long r) (long c)) v)))))
                           acc)))
        prod (fn [v] (vec (mapcat identity (reduce (fn [acc w] (mm w acc)) (unflat v)))))
        h 1e-5
        cols (for [k (range (count flat))]
               (let [up (prod (update flat k + h)) dn (prod (update flat k - h))]
                 (mapv #(/ (- (double %1) (double %2)) (* 2.0 h)) up dn)))
        m (count (first cols))
        jjt (double-array (for [j (range m) i (range m)] (reduce + (map #(* (double (nth % i)) (double (nth % j))) cols))))
        w (double-array m)]
    (Blas/symmetricEigen m jjt w false)
    (vec (reverse (sort (seq w))))))

(deftest hessian-eigenvalues-match-gauss-newton-at-a-balanced-minimum
  (doseq [[depth s] [[2 [2.0 0.5]] [3 [3.0 1.2]] [4 [1.7 0.4]]]]
    (let [l (long depth)
          a (map #(Math/pow (double %) (/ 1.0 l)) s)
          qs (vec (concat [(rot 0.4)] (for [k (range 1 l)] (rot (+ 0.3 (* 0.7 (double k))))) [(rot -1.1)]))
          ;; W_l = Q_{l+1} diag(a) Q_l^T with Q_1 = V, Q_{L+1} = U
          ws (vec (for [k (range l)] (mm (mm (qs (inc (long k))) (diag a)) (tr (qs k)))))
          expected (mapv :value (th/hessian-eigenvalues-at-minimum s depth))]
      (is (= 4 (count expected)))
      (is (every? true? (map #(close? %1 %2 1e-7) (gauss-newton-eigenvalues ws) expected)) (str "depth " depth))
      (is (close? (first expected) (th/single-path-sharpness (first s) depth) 1e-12))))
  (testing "rectangular targets pad with zero singular values"
    (let [ev (th/hessian-eigenvalues-at-minimum [2.0] 3 {:dims [2 3]})]
      ;; pairs (0,0); (0,1), (0,2) and (1,0) see one zero singular value: only one term survives
      (is (= 4 (count ev)))
      (is (close? (:value (first ev)) (* 3.0 (Math/pow 2.0 (/ 4.0 3.0))) 1e-12))
      (is (= 3 (count (filter #(close? (:value %) (Math/pow 2.0 (/ 4.0 3.0)) 1e-12) ev)))))))

(deftest multi-pathway-sharpness-matches-gauss-newton
  (doseq [[depth pis] [[2 [0.7 0.3]] [3 [1.0 0.5 0.25]] [4 [0.2 0.9]]]]
    (let [l (long depth)
          ;; scalar pathways: each a chain of L 1x1 layers, outputs summed
          ws (vec (for [p pis] (vec (repeat l [[(Math/pow (double p) (/ 1.0 l))]]))))
          h 1e-6
          f (fn [ws] (reduce + (map (fn [chain] (reduce * (map ffirst chain))) ws)))
          grads (for [k (range (count ws)) j (range l)]
                  (/ (- (double (f (assoc-in ws [k j 0 0] (+ (double (get-in ws [k j 0 0])) h))))
                        (double (f (assoc-in ws [k j 0 0] (- (double (get-in ws [k j 0 0])) h)))))
                     (* 2.0 h)))]
      (is (close? (th/multi-pathway-sharpness pis depth) (reduce + (map #(* (double %) (double %)) grads)) 1e-8)))))

(deftest split-sharpness-and-rebalancing-window
  (doseq [depth [2 3 5] k [1 2 4]]
    (is (close? (th/equal-split-sharpness 2.0 k depth) (th/multi-pathway-sharpness (repeat k (/ 2.0 (double k))) depth) 1e-12)))
  (let [{:keys [lr-min lr-max sharpness-single sharpness-split]} (th/rebalancing-window 2.0 3 4)]
    (is (close? lr-min (/ 2.0 (th/single-path-sharpness 2.0 4)) 1e-14))
    (is (close? lr-max (/ 2.0 (th/multi-pathway-sharpness [(/ 2.0 3.0) (/ 2.0 3.0) (/ 2.0 3.0)] 4)) 1e-12))
    (is (< lr-min lr-max))
    (is (> sharpness-single sharpness-split)))
  (testing "at L = 2 splitting does not change the sharpness, so the window is empty"
    (let [{:keys [lr-min lr-max]} (th/rebalancing-window 2.0 3 2)]
      (is (close? lr-min lr-max 1e-12)))))

;; --- winner takes all --------------------------------------------------------------

(defn- pathway-flow
  "RK4 of d pi_k/dt = L pi_k^(2-2/L) (s - sum_j pi_j); returns the states every `every` steps."
  [pis s depth dt steps every]
  (let [l (double depth) e (- 2.0 (/ 2.0 l))
        rhs (fn [ps] (let [tot (reduce + ps)] (mapv #(* l (Math/pow (double %) e) (- (double s) (double tot))) ps)))
        add (fn [ps ks h] (mapv #(+ (double %1) (* (double h) (double %2))) ps ks))]
    (loop [ps (vec pis) n 0 acc [(vec pis)]]
      (if (>= n (long steps))
        acc
        (let [k1 (rhs ps) k2 (rhs (add ps k1 (* 0.5 (double dt)))) k3 (rhs (add ps k2 (* 0.5 (double dt)))) k4 (rhs (add ps k3 dt))
              ps' (mapv (fn [p a b c d] (+ (double p) (* (/ (double dt) 6.0) (+ (double a) (* 2.0 (double b)) (* 2.0 (double c)) (double d)))))
                        ps k1 k2 k3 k4)]
          (recur ps' (inc n) (if (zero? (long (mod (inc n) (long every)))) (conj acc ps') acc)))))))

(deftest winner-takes-all-invariants-are-conserved-and-predict-the-split
  (doseq [[depth pis] [[3 [0.01 0.02 0.005]] [4 [0.05 0.04]] [2 [0.01 0.03]]]]
    (let [traj (pathway-flow pis 1.0 depth 5e-3 16000 1600)
          inv0 (th/winner-takes-all-invariants pis depth)]
      (doseq [ps traj]
        (is (every? true? (map #(close? %1 %2 1e-6) (th/winner-takes-all-invariants ps depth) inv0))))
      (is (every? true? (map #(close? %1 %2 1e-6) (th/winner-takes-all-split pis 1.0 depth) (peek traj)))
          (str "depth " depth " final " (peek traj)))))
  (testing "from small initialization the larger pathway takes almost everything when L > 2"
    (let [final (th/winner-takes-all-split [1e-4 2e-4] 1.0 4)]
      (is (> (double (second final)) 0.99))
      (is (close? (reduce + final) 1.0 1e-12)))))

;; --- beyond the edge of stability ---------------------------------------------------

(deftest balancing-gap-factor-matches-a-gd-step
  (doseq [[lr s sig] [[0.05 1.0 [0.9 1.3 0.7]] [0.2 2.0 [1.5 0.6 1.1 0.8]]]]
    (let [pi (reduce * sig)
          e (- (double pi) (double s))
          ;; GD on layer l of a scalar chain: sigma_l <- sigma_l - lr e prod_{m != l} sigma_m
          sig' (mapv #(- (double %) (/ (* (double lr) e (double pi)) (double %))) sig)]
      (doseq [i (range (count sig)) j (range (count sig)) :when (< (long i) (long j))]
        (let [b (- (Math/pow (double (sig i)) 2.0) (Math/pow (double (sig j)) 2.0))
              b' (- (Math/pow (double (sig' i)) 2.0) (Math/pow (double (sig' j)) 2.0))]
          (is (close? (th/balancing-gap-factor {:lr lr :pi pi :s s :sigma-i (sig i) :sigma-j (sig j)}) (/ b' b) 1e-9)))))))

(deftest oscillating-modes-are-the-unstable-fixed-points-of-gd
  (let [svs [3.0 1.5 1.0 0.2] depth 3]
    (doseq [lr [0.05 0.2 0.3 0.45 1.0 5.0]]
      (let [unstable (count (filter (fn [s]
                                      (let [a (Math/pow (double s) (/ 1.0 3.0)) h 1e-6
                                            d (/ (- (th/gd-step {:s s :depth depth :lr lr} (+ a h))
                                                    (th/gd-step {:s s :depth depth :lr lr} (- a h)))
                                                 (* 2.0 h))]
                                        (> (Math/abs d) 1.0)))
                                    svs))]
        (is (= unstable (th/oscillating-mode-count svs depth lr)) (str "lr " lr))))))

(deftest gd-map-is-gd-in-normalized-units
  (doseq [depth [2 3 4] [s lr a] [[1.0 0.3 0.8] [2.5 0.1 1.2]]]
    (let [l (long depth) sc (Math/pow (double s) (/ 1.0 l))
          r (* (double lr) (th/single-path-sharpness s depth))]
      (is (close? (* sc (gd-map/gd-map r depth (/ (double a) sc))) (th/gd-step {:s s :depth depth :lr lr} a) 1e-12))))
  (let [out (double-array 6)]
    (Sde/gdMap 3 2.3 0.7 5 out 0)
    (is (close? (aget out 5) (nth (iterate #(gd-map/gd-map 2.3 3 %) 0.7) 5) 1e-14))))

(deftest gd-map-l2-closed-forms
  ;; L = 2: f(x) = x (1 + r/2) - (r/2) x^3. Its 2-cycle around 1 has x1 + x2 = p,
  ;; x1 x2 = q with p^2 = 1 + 6/r, q = 2/r, and multiplier 9 - 2 (1 + r/2)^2, which
  ;; is -1 at r = 2 (sqrt 5 - 1). The critical point x_c^2 = (2 + r)/(3r) maps to
  ;; x_c (2 + r)/3, and that maps to 0 when (2 + r)^2 = 27: r = 3 sqrt 3 - 2.
  (is (< (Math/abs (- (double (second (gd-map/period-doubling-thresholds 2 {:count 2}))) (* 2.0 (- (Math/sqrt 5.0) 1.0)))) 1e-9))
  (is (< (Math/abs (- (gd-map/gd-map-zero-crisis 2) (- (* 3.0 (Math/sqrt 3.0)) 2.0))) 1e-8))
  (let [r 2.3
        c (gd-map/gd-map-cycle r 2 2)
        p (Math/sqrt (+ 1.0 (/ 6.0 r)))
        q (/ 2.0 r)
        [x1 x2] (sort (:points c))
        disc (Math/sqrt (- (* p p) (* 4.0 q)))]
    (is (< (Math/abs (- (double x1) (* 0.5 (- p disc)))) 1e-10))
    (is (< (Math/abs (- (double x2) (* 0.5 (+ p disc)))) 1e-10))
    (is (< (Math/abs (- (double (:multiplier c)) (- 9.0 (* 2.0 (Math/pow (+ 1.0 (/ r 2.0)) 2))))) 1e-10))))

(deftest gd-map-derivative-vs-finite-differences
  (doseq [L [2 3 4 5] r [1.5 2.7 3.3] x [0.3 0.9 1.2]]
    (let [h 1e-6
          x (double x)
          fd (/ (- (gd-map/gd-map r L (+ x h)) (gd-map/gd-map r L (- x h))) (* 2 h))]
      (is (< (Math/abs (- fd (gd-map/gd-map-derivative r L x))) 1e-7) (str [L r x])))))

(deftest gd-map-cycles-of-any-period
  (testing "p = 1 below r = 2: the fixed point 1 with multiplier 1 - r"
    (let [c (gd-map/gd-map-cycle 1.5 3 1)]
      (is (< (Math/abs (- 1.0 (double (first (:points c))))) 1e-12))
      (is (< (Math/abs (- -0.5 (double (:multiplier c)))) 1e-10))))
  (testing "a 2-cycle asked as p = 4 is found but is not minimal"
    (is (false? (:minimal? (gd-map/gd-map-cycle 2.3 3 4)))))
  (testing "every point returns to itself after p plain iterations, and not before"
    (doseq [[r L p] [[2.55 3 4] [2.3 2 2] [2.3 4 2]]]
      (let [{:keys [points minimal?]} (gd-map/gd-map-cycle r L p)
            x (double (first points))]
        (is (= p (count points)))
        (is (true? minimal?) (str [r L p]))
        (is (< (Math/abs (- x (double (nth (iterate #(gd-map/gd-map r L %) x) p)))) 1e-10) (str [r L p]))
        (is (> (Math/abs (- x (double (gd-map/gd-map r L x)))) 1e-3) (str [r L p])))))
  (is (= [:p] (:path (ex-data (try (gd-map/gd-map-cycle 2.3 3 0) (catch clojure.lang.ExceptionInfo e e)))))))

(deftest gd-map-orbit-is-plain-iteration
  (let [orbit (gd-map/gd-map-orbit 2.3 3 0.7 10 5)]
    (is (= 5 (count orbit)))
    (is (< (Math/abs (- (double (first orbit)) (double (nth (iterate #(gd-map/gd-map 2.3 3 %) 0.7) 10)))) 1e-14)))
  (testing "an orbit that escapes is cut before its first non-finite value"
    (is (every? #(Double/isFinite (double %)) (gd-map/gd-map-orbit 5.0 3 1.5 0 400)))
    (is (< (count (gd-map/gd-map-orbit 5.0 3 1.5 0 400)) 400))))

(deftest two-cycle-is-a-fixed-point-of-the-map-twice-not-once
  (doseq [depth [2 3 4] r [2.05 2.2 2.4]]
    (let [{[lo up] :points mult :multiplier} (gd-map/two-cycle r depth)
          f #(gd-map/gd-map r depth %)]
      (is (< (double lo) 1.0 (double up)))
      (is (close? (f (f lo)) lo 1e-10))
      (is (close? (f lo) up 1e-12))
      (is (> (Math/abs (- (double (f lo)) (double lo))) 1e-3))
      (testing "multiplier equals the derivative of the twice-applied map (finite differences)"
        (let [h 1e-6 d (/ (- (double (f (f (+ (double lo) h)))) (double (f (f (- (double lo) h))))) (* 2.0 h))]
          (is (close? mult d 1e-6))))))
  (is (nil? (gd-map/two-cycle 1.9 3)))
  (testing "below r_4 the 2-cycle is the attractor"
    (let [r4 (second (gd-map/period-doubling-thresholds 3 {:count 2}))
          r (- (double r4) 0.02)
          {[lo up] :points mult :multiplier} (gd-map/two-cycle r 3)
          orbit (drop 20000 (take 20002 (iterate #(gd-map/gd-map r 3 %) 0.6)))]
      (is (< (Math/abs (double mult)) 1.0))
      (is (close? (apply min orbit) lo 1e-7))
      (is (close? (apply max orbit) up 1e-7)))))

(deftest period-doubling-thresholds-bracket-the-attractor-periods
  (doseq [depth [2 3]]
    (let [[r2 r4 r8 r16 :as rs] (gd-map/period-doubling-thresholds depth)]
      (is (close? r2 2.0 1e-12) "the fixed point's multiplier 1 - r reaches -1 at r = 2")
      (is (apply < rs))
      (testing "the attractor's period changes at each threshold"
        (doseq [[r p] [[r4 2] [r8 4] [r16 8]]]
          (let [gap (* 0.02 (- (double r) (double r2)))
                opts {:transient 200000 :max-period 32 :tolerance 1e-6}]
            (is (= p (gd-map/attractor-period (- (double r) (* 0.05 gap)) depth opts)) (str "below r_" (* 2 (long p))))
            (is (= (* 2 (long p)) (gd-map/attractor-period (+ (double r) (* 0.05 gap)) depth opts)) (str "above r_" (* 2 (long p)))))))
      (testing "successive gaps shrink towards Feigenbaum's delta = 4.669..."
        (let [delta (/ (- (double r8) (double r4)) (- (double r16) (double r8)))]
          (is (< 4.2 delta 5.2) (str "delta " delta)))))))

;; --- SGD noise and the per-mode SDE --------------------------------------------------

(deftest sgd-noise-variance-matches-minibatch-monte-carlo
  ;; x ~ N(0, I_3), y = M x + xi; aligned F with errors e_i; the minibatch gradient of
  ;; 1/(2B) sum ||F x - y||^2 along mode i is (1/B) sum_b (e_i z_i - eta_i) z_i.
  (let [es [0.7 -0.2 0.0] sigma 0.5 batch 4 trials 25000 seed 11
        g (fn [^long t ^long k] (Rng/gaussian seed t k))
        samples (for [t (range trials)]
                  (let [t (long t)]
                    (vec (for [i (range 3)]
                           (/ (double (reduce + (for [b (range batch)]
                                          (let [z (double (g t (+ (* 8 (long b)) (long i))))
                                                eta (* sigma (double (g t (+ (* 8 (long b)) 4 (long i)))))]
                                            (* (- (* (double (es i)) z) eta) z)))))
                              (double batch))))))
        mean (fn [xs] (/ (double (reduce + xs)) (count xs)))
        cols (apply map vector samples)]
    (doseq [i (range 3)]
      (let [xs (nth cols i) m (double (mean xs))
            v (mean (map #(let [d (- (double %) m)] (* d d)) xs))
            th (th-sde/sgd-noise-variance {:e (es i) :label-noise sigma :batch-size batch})]
        ;; the sample variance has relative standard error at most about sqrt(3/trials) ~ 1.1%
        (is (close? v th 0.04) (str "mode " i))))
    (testing "uncorrelated across modes"
      (let [[a b] cols ma (double (mean a)) mb (double (mean b))
            cov (mean (map #(* (- (double %1) ma) (- (double %2) mb)) a b))
            sd (Math/sqrt (* (th-sde/sgd-noise-variance {:e 0.7 :label-noise sigma :batch-size batch})
                             (th-sde/sgd-noise-variance {:e -0.2 :label-noise sigma :batch-size batch})))]
        ;; standard error of the correlation about 1/sqrt(trials) ~ 0.006
        (is (< (Math/abs (/ (double cov) sd)) 0.03))))))

(deftest drift-and-diffusion-follow-from-ito-in-a
  ;; pi = a^L: mu = L a^(L-1) f + (1/2) L (L-1) a^(L-2) g^2, D = (L a^(L-1) g)^2,
  ;; with f, g from the kernel's coefficients of the a-SDE.
  (doseq [depth [2 3 5] pi [0.05 0.6 1.7] sigma [0.0 0.4]]
    (let [s 1.3 lr 0.1 batch 8 l (long depth)
          a (Math/pow (double pi) (/ 1.0 l))
          c (Math/sqrt (/ lr batch))
          w (double-array 6)
          _ (Sde/dlnCoefficients a (int l) s c sigma w 0)
          f (aget w 0) g (aget w 3)
          mu (+ (* l (Math/pow a (dec l)) f) (* 0.5 l (dec l) (Math/pow a (- l 2)) g g))
          dd (Math/pow (* l (Math/pow a (dec l)) g) 2.0)
          params {:s s :depth depth :lr lr :batch-size batch :label-noise sigma}]
      (is (close? (th-sde/drift params pi) mu 1e-12))
      (is (close? (th-sde/diffusion params pi) dd 1e-12)))))

(defn- grid-argmax
  "Maximizer of f on a uniform grid of n points in (lo, hi), refined by the vertex of
  the parabola through the best grid point and its neighbours."
  [f lo hi n]
  (let [h (/ (- (double hi) (double lo)) (double n))
        xs (mapv #(+ (double lo) (* h (double %))) (range 1 n))
        k (apply max-key #(double (f (xs %))) (range 1 (dec (count xs))))
        [a b c] (map #(double (f (xs %))) [(dec (long k)) k (inc (long k))])]
    (+ (double (xs k)) (* 0.5 h (/ (- (double a) (double c)) (+ (- (double a) (* 2.0 (double b))) (double c)))))))

(deftest peak-diffusion-location
  (doseq [depth [2 3 6] s [0.5 2.0]]
    (let [params {:s s :depth depth :lr 0.1 :batch-size 1}
          best (grid-argmax #(th-sde/diffusion params %) 0.0 s 2000)]
      (is (close? (th-sde/peak-diffusion-pi {:s s :depth depth}) best 1e-6))
      (is (< (th-sde/peak-diffusion-pi {:s s :depth depth}) s))))
  (testing "with label noise: the interior maximum of D"
    (let [params {:s 1.0 :depth 4 :lr 0.1 :batch-size 1 :label-noise 0.2}
          best (grid-argmax #(th-sde/diffusion params %) 0.0 1.0 2000)]
      (is (close? (th-sde/peak-diffusion-pi params) best 1e-6)))
    (is (nil? (th-sde/peak-diffusion-pi {:s 1.0 :depth 3 :label-noise 2.0})) "D increasing on (0, s): no interior peak")))

(defn- log-grid-density
  "The stationary density written out from SCIENCE.md section 7 on a uniform grid in
  y = ln pi (ln s - 25 .. ln s + 25, n intervals), its integral term by a cumulative
  trapezoid rule from pi = s: returns {:ys :logp (unnormalized) :z :mean :variance}."
  [{:keys [s depth lr batch-size label-noise]} n]
  (let [s (double s) l (double depth) k (/ (* 2.0 (double batch-size)) (* (double lr) l))
        sg2 (* (double label-noise) (double label-noise))
        n (long n) ys0 (Math/log s) h (/ 50.0 n) c (quot n 2)
        ys (double-array (inc n)) logp (double-array (inc n))
        g (fn ^double [^double y] (let [u (Math/exp y) e (- u s)] (/ (* e (Math/pow u (- (/ 2.0 l) 1.0))) (+ (* 2.0 e e) sg2))))]
    (dotimes [i (inc n)] (aset ys i (+ ys0 (* h (- i c)))))
    (let [integral (double-array (inc n))]
      (loop [i (inc c)] (when (<= i n) (aset integral i (+ (aget integral (dec i)) (* 0.5 h (+ (.invokePrim ^clojure.lang.IFn$DD g (aget ys (dec i))) (.invokePrim ^clojure.lang.IFn$DD g (aget ys i)))))) (recur (inc i))))
      (loop [i (dec c)] (when (>= i 0) (aset integral i (- (aget integral (inc i)) (* 0.5 h (+ (.invokePrim ^clojure.lang.IFn$DD g (aget ys (inc i))) (.invokePrim ^clojure.lang.IFn$DD g (aget ys i)))))) (recur (dec i))))
      (dotimes [i (inc n)]
        (let [y (aget ys i) u (Math/exp y) e (- u s)]
          (aset logp i (- (* (- (/ 3.0 l) 3.0) y) (Math/log (+ (* 2.0 e e) sg2)) (* k (aget integral i))))))
      (let [mx (reduce max (seq logp))
            w (fn [^long i] (if (or (zero? i) (== i n)) 0.5 1.0))
            moment (fn [f] (loop [i 0 acc 0.0]
                             (if (<= i n)
                               (let [y (aget ys i)]
                                 (recur (inc i) (+ acc (* (double (w i)) h (Math/exp (+ (- (aget logp i) (double mx)) y)) (double (f (Math/exp y)))))))
                               acc)))
            z (double (moment (constantly 1.0)))
            m (/ (double (moment identity)) z)]
        {:ys ys :logp logp :log-z (+ (double mx) (Math/log z)) :mean m
         :variance (/ (double (moment #(let [d (- (double %) m)] (* d d)))) z)}))))

(deftest stationary-density-normalization-moments-and-zero-flux
  (doseq [params [{:s 1.0 :depth 2 :lr 0.1 :batch-size 1 :label-noise 0.5}
                  {:s 2.0 :depth 3 :lr 0.02 :batch-size 2 :label-noise 0.8}
                  {:s 0.7 :depth 4 :lr 0.05 :batch-size 1 :label-noise 0.3}]]
    (let [{:keys [log-normalization mean variance std]} (th-sde/stationary-density params)
          s (double (:s params))
          grid (log-grid-density params 400000)
          pdf (th-sde/stationary-pdf params)
          cdf (th-sde/stationary-cdf params)]
      (testing "normalization and moments agree with an independent log-grid trapezoid"
        (is (close? (:log-z grid) log-normalization 1e-6))
        (is (close? (:mean grid) mean 1e-7))
        (is (close? (:variance grid) variance 1e-5)))
      (testing "the log density itself"
        (doseq [i [150000 199000 200000 201500 230000]]
          (let [^doubles ys (:ys grid) ^doubles lp (:logp grid)]
            (is (close? (th-sde/stationary-log-density params (Math/exp (aget ys i))) (aget lp i) 1e-6)))))
      (testing "zero probability flux: mu p - (1/2) d(D p)/dpi = 0"
        (doseq [pi [(* 0.8 s) s (* 1.1 s)]]
          (let [h (* 1e-5 s)
                dp (fn [x] (* (th-sde/diffusion params x) (double (pdf x))))
                flux (- (* (th-sde/drift params pi) (double (pdf pi))) (* 0.5 (/ (- (double (dp (+ (double pi) h))) (double (dp (- (double pi) h)))) (* 2.0 h))))
                scale (* (Math/abs (th-sde/drift params pi)) (double (pdf pi)))]
            (is (< (Math/abs flux) (+ (* 1e-5 scale) 1e-9))))))
      (testing "CDF: increments equal the density's integral"
        (let [a (- (double mean) (double std)) b (+ (double mean) (* 0.5 (double std)))]
          (is (close? (- (double (cdf b)) (double (cdf a))) (numeric/integrate (fn ^double [^double x] (double (pdf x))) a b) 1e-5))
          (is (< (Math/abs (- (double (cdf 1e12)) 1.0)) 1e-9))
          (is (== 0.0 (double (cdf 0.0))))))))
  (testing "without label noise the density is not normalizable"
    (is (thrown-with-msg? clojure.lang.ExceptionInfo #":label-noise"
                          (th-sde/stationary-density {:s 1.0 :depth 2 :lr 0.1 :batch-size 1 :label-noise 0.0})))))

(deftest gibbs-approximation-holds-at-low-temperature
  (doseq [depth [2 3 4]]
    (let [params {:s 1.5 :depth depth :lr 1e-3 :batch-size 4 :label-noise 0.3}
          {:keys [variance]} (th-sde/stationary-density params)]
      (is (close? (th-sde/gibbs-temperature params) (/ (* 1e-3 0.09) 8.0) 1e-14))
      (is (close? variance (th-sde/gibbs-variance params) 0.01) (str "depth " depth)))))

(deftest discrete-variance-matches-noisy-gd
  ;; per-layer SGD in its linear regime at the minimum: a <- a - lr a^(L-1) (a^L - s + zeta)
  ;; with the minibatch noise zeta of variance (2 (a^L - s)^2 + sigma^2)/B (doc/science.md §7),
  ;; simulated on the weights (not on the linearized pi) with counter-based normals
  (doseq [[depth lr-sharp batch] [[3 0.5 4] [2 0.8 8]]]
    (let [s 1.0 sharp (th/single-path-sharpness s depth)
          lr-sharp (double lr-sharp) batch (double batch)
          lr (/ lr-sharp sharp) sigma 0.02 l (long depth)
          a* (Math/pow s (/ 1.0 l))
          n 400000 burn 2000
          pis (loop [k 0 a a* acc (transient [])]
                (if (>= k n)
                  (persistent! acc)
                  (let [pi (Math/pow a l)
                        e (- pi s)
                        z (* (Math/sqrt (/ (+ (* 2.0 e e) (* sigma sigma)) batch)) (Rng/gaussian 5 depth k))
                        a' (- a (* lr (Math/pow a (dec l)) (+ e z)))]
                    (recur (inc k) a' (if (> k burn) (conj! acc (Math/pow a' l)) acc)))))
          m (/ (double (reduce + pis)) (count pis))
          v (/ (double (reduce + (map #(Math/pow (- (double %) m) 2.0) pis))) (count pis))
          params {:s s :depth depth :lr lr :label-noise sigma :batch-size batch}
          f (th-sde/discrete-stationary-variance params)
          ;; the samples are correlated over ~1/(lr S (2 - lr S)) steps; the variance
          ;; estimate's relative error is about sqrt(2 tau / n), and the linearization
          ;; is good to O(sigma) relative
          tau (/ 1.0 (* lr-sharp (- 2.0 lr-sharp)))
          tol (+ (* 5.0 (Math/sqrt (/ (* 2.0 tau) (- n burn)))) (* 3.0 sigma))]
      (is (< (Math/abs (- (/ v f) 1.0)) tol) (str "depth " depth ": simulated " v ", formula " f))
      (testing "the formula without the 2 e^2 noise misses the simulation"
        (let [additive (/ (* lr sigma sigma sharp) (* batch (- 2.0 (* lr sharp))))]
          (is (> (Math/abs (- (/ v additive) 1.0)) tol))))
      (testing "it is the fixed point of the exact second-moment recursion of the linearized step"
        (let [x (* lr sharp)
              fixed (loop [k 0 w 0.0]
                      (if (= k 20000) w
                          (recur (inc k) (+ (* (- 1.0 x) (- 1.0 x) w) (/ (* x x (+ (* 2.0 w) (* sigma sigma))) batch)))))]
          (is (close? fixed f 1e-10))))))
  (testing "it tends to the Gibbs variance T S as lr S -> 0"
    (let [p {:s 1.5 :depth 3 :lr 1e-6 :label-noise 0.3 :batch-size 4}]
      (is (close? (th-sde/gibbs-variance p) (th-sde/discrete-stationary-variance p) 1e-5))))
  (testing "no finite variance at lr S >= 2B/(B + 2), although lr S < 2"
    (let [e (try (th-sde/discrete-stationary-variance {:s 1.0 :depth 2 :lr 0.34 :label-noise 0.1 :batch-size 1})
                 nil (catch clojure.lang.ExceptionInfo e e))]
      (is (= [:lr] (:path (ex-data e)))))))

(deftest invalid-arguments-name-key-value-and-allowed
  (doseq [[thunk k] [[#(th/gradient-flow-pi {:s -1.0 :pi0 0.1 :depth 2} 1.0) :s]
                     [#(th/gradient-flow-pi {:s 1.0 :pi0 0.1 :depth 1.5} 1.0) :depth]
                     [#(th/gradient-flow-time {:s 1.0 :pi0 0.1 :depth 3} 2.0) :pi]
                     [#(th/learning-time {:s 1.0 :pi0 0.1 :depth 3} {:fraction 1.5}) :fraction]
                     [#(th/learning-time {:s 1.0 :pi0 0.1 :depth 3} {:method :fast}) :method]
                     [#(th/winner-takes-all-split [0.1 -0.2] 1.0 3) :initial-strengths]
                     [#(th-sde/discrete-stationary-variance {:s 1.0 :depth 2 :lr 5.0 :label-noise 0.1 :batch-size 1}) :lr]
                     [#(th-sde/sgd-noise-variance {:e 0.1 :label-noise 0.1 :batch-size 0}) :batch-size]]]
    (let [e (try (thunk) nil (catch clojure.lang.ExceptionInfo e e))]
      (is (some? e) (str k))
      (when e
        (is (= [k] (:path (ex-data e))))
        (is (contains? (ex-data e) :value))
        (is (string? (:allowed (ex-data e))))
        (is (re-find (re-pattern (str ":" (name k))) (ex-message e)))))))

;; --- sharpness against the engine's dense Hessian ------------------------------------

(defn- engine-spectrum
  "Eigenvalues (descending) of the dense Hessian that dlnlab.core builds from exact
  HVPs for the experiment's network at its initialization."
  [exp]
  (hessian/dense-eigenvalues (core/hessian (core/network exp))))

(defn- nonzero [ev]
  (let [top (double (reduce max (map #(Math/abs (double %)) ev)))]
    (vec (filter #(> (Math/abs (double %)) (* 1e-9 top)) ev))))

(deftest balanced-minimum-spectrum-matches-the-engine-hessian
  ;; a chain initialized aligned and balanced with pi_i = s_i sits at a global
  ;; minimum of matrix factorization; hidden widths wider than the rank and a
  ;; rectangular target exercise the zero-padded directions
  (doseq [[depth s dims width] [[2 [2.0 0.5] [2 2] 2]
                                [3 [3.0 1.2] [3 2] 4]
                                [4 [1.7 0.4 0.9] [3 3] 3]
                                [5 [1.3] [2 3] 2]]]
    (let [exp {:seed 4
               :model {:kind :chain :depth depth :width width
                       :init {:kind :balanced-aligned :strengths (vec (sort > s))}}
               :task {:kind :matrix-factorization :singular-values s :dims dims :basis :random}}
          net (core/network exp)
          ev (engine-spectrum exp)
          expected (mapv :value (th/hessian-eigenvalues-at-minimum s depth {:dims dims}))
          got (nonzero ev)
          label (str "depth " depth " s " s " dims " dims " width " width)]
      (is (< (core/loss net) 1e-20) (str "at the global minimum: " label))
      (is (every? #(> (double %) (* -1e-9 (double (first ev)))) ev) (str "positive semi-definite: " label))
      (is (= (count expected) (count got)) (str "as many nonzero eigenvalues as pairs (i, j) with a nonzero term: " label))
      (is (every? true? (map #(close? %1 %2 1e-9) got expected)) label)
      (is (close? (first ev) (th/single-path-sharpness (reduce max s) depth) 1e-9) (str "sharpness: " label)))))

(defn- split-network
  "A multi-pathway network of K chains of depth L at a global minimum of the one-mode
  target s (dims 2 x 2, so the other directions are present), mode shares per pathway."
  [s depth shares]
  {:seed 9
   :model {:kind :multi-pathway :pathways (count shares) :depth depth :width 2
           :init {:kind :pathway-split :strengths [s] :shares (mapv vector shares)}}
   :task {:kind :matrix-factorization :singular-values [s] :dims [2 2]}})

(deftest split-and-single-path-sharpness-match-the-engine-hessian
  (doseq [depth [2 3 4] k [2 3]
          :let [s 1.5
                k (long k)
                single (vec (cons 1.0 (repeat (dec k) 0.0)))
                equal (vec (repeat k (/ 1.0 k)))
                uneven (let [w (mapv #(Math/pow 2.0 (- (double %))) (range k))
                             tot (double (reduce + w))]
                         (mapv #(/ (double %) tot) w))
                label (str "L = " depth ", K = " k)]]
    (testing label
      (let [top (fn [shares] (first (engine-spectrum (split-network s depth shares))))
            s-single (top single) s-equal (top equal) s-uneven (top uneven)
            window (th/rebalancing-window s k depth)]
        (is (close? s-single (th/single-path-sharpness s depth) 1e-9) "single path: L s^(2-2/L)")
        (is (close? s-equal (th/equal-split-sharpness s k depth) 1e-9) "equal split: L s^(2-2/L) K^(2/L-1)")
        (is (close? s-uneven (th/multi-pathway-sharpness (mapv #(* s (double %)) uneven) depth) 1e-9) "any split: L sum_k pi_k^(2-2/L)")
        (is (close? (:sharpness-single window) s-single 1e-9))
        (is (close? (:sharpness-split window) s-equal 1e-9))
        (if (= depth 2)
          (is (close? s-single s-equal 1e-9) "at L = 2 the split does not change the sharpness")
          (is (< s-equal s-uneven s-single) "L > 2: the more even the split, the flatter"))))))
