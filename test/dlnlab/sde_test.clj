(ns dlnlab.sde-test
  "The SDE kernel and dlnlab.sde: the normal generator's distribution, strong
  convergence orders on geometric Brownian motion (shared Brownian paths across step
  sizes), the ensemble against single-path integration with the documented
  increments, the noise-free limit against gradient flow, stationary statistics
  against dlnlab.theory, determinism across thread counts, boundary and divergence
  handling, and the spec's error messages. As an experiment kind: a run through
  dlnlab.core/run against a direct simulation, sweeps over the learning rate,
  the experiment schema's errors. (The weak error against full-network SGD is
  tested with its study, dlnlab.studies.saddle-to-saddle.network-test.)"
  (:require [clojure.edn :as edn]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.core :as core]
            [dlnlab.dense :refer [normal-cdf]]
            [dlnlab.figure :as fig]
            [dlnlab.figure.sde]
            [dlnlab.sde :as sde]
            [dlnlab.spec :as spec]
            [dlnlab.sweep :as sweep]
            [dlnlab.numeric :as numeric]
            [dlnlab.theory :as th]
            [dlnlab.theory.sde :as th-sde]
            [dlnlab.theory.gd-map :as gd-map])
  (:import [dlnlab.kernel Normal Rng Sde]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- close? [a b rel]
  (<= (Math/abs (- (double a) (double b))) (* (double rel) (max 1e-300 (Math/abs (double b))))))

;; --- the normal generator -------------------------------------------------------------

(defn- draws [key n]
  (let [out (double-array n)] (Normal/fill key 0 out 0 (int n)) out))

(deftest normal-tables-close-exactly
  (is (< (Math/abs (Normal/topLayerAreaError)) 1e-9))
  (is (every? true? (map > (map #(Normal/layerEdge %) (range 1 (inc Normal/LAYERS)))
                     (map #(Normal/layerEdge %) (range 2 (inc Normal/LAYERS))))))
  (testing "the layer area is r f(r) plus the tail beyond r (quadrature)"
    (let [r Normal/TAIL_START]
      (is (close? Normal/LAYER_AREA
                  (+ (* r (Math/exp (* -0.5 r r))) (numeric/integrate (fn ^double [^double x] (Math/exp (* -0.5 x x))) r (+ r 40.0)))
                  1e-12)))))

(deftest normal-is-a-pure-function-of-key-and-counter
  (let [k (Normal/key 7 3 1) a ^doubles (draws k 1000)]
    (is (= (seq a) (seq (draws k 1000))))
    (is (= (aget a 537) (Normal/at k 537)))
    (is (not= (seq a) (seq (draws (Normal/key 7 3 2) 1000))))))

(deftest normal-moments-tails-and-ks
  (let [n 1000000 xs ^doubles (draws (Normal/key 1 2 3) n)
        m (fn [p] (let [p (long p)] (/ (double (loop [i 0 acc 0.0] (if (< i n) (recur (inc i) (+ acc (Math/pow (aget xs i) p))) acc))) n)))
        mean (double (m 1)) var (- (double (m 2)) (* mean mean))]
    (testing "moments within 5 standard errors"
      (is (< (Math/abs mean) (* 5.0 (Math/sqrt (/ 1.0 n)))))
      (is (< (Math/abs (- var 1.0)) (* 5.0 (Math/sqrt (/ 2.0 n)))))
      (is (< (Math/abs (double (m 3))) (* 5.0 (Math/sqrt (/ 15.0 n)))))
      (is (< (Math/abs (- (double (m 4)) 3.0)) (* 5.0 (Math/sqrt (/ 96.0 n))))))
    (testing "tail frequencies (the ziggurat's wedges and tail) within 5 binomial standard errors"
      (doseq [c [1.0 2.5 3.0 4.0 Normal/TAIL_START]]
        (let [p (* 2.0 (- 1.0 (normal-cdf c)))
              c (double c)
              k (loop [i 0 acc 0] (if (< i n) (recur (inc i) (if (> (Math/abs (aget xs i)) c) (inc acc) acc)) acc))]
          (is (< (Math/abs (- (double k) (* p n))) (* 5.0 (Math/sqrt (* p n)))) (str "|z| > " c)))))
    (testing "Kolmogorov-Smirnov distance to Phi below the 0.1% critical value"
      (let [k 200000 v (java.util.Arrays/copyOf ^doubles xs (int k))]
        (java.util.Arrays/sort v)
        (let [d (loop [i 0 d 0.0]
                  (if (< i k)
                    (let [f (normal-cdf (aget v i))]
                      (recur (inc i) (max d (- (/ (double (inc i)) k) f) (- f (/ (double i) k)))))
                    d))]
          (is (< d (/ 1.95 (Math/sqrt k))) (str "D = " d)))))
    (testing "successive counters and different keys are uncorrelated"
      (let [ys ^doubles (draws (Normal/key 1 2 4) n)
            corr (fn [^doubles a ^doubles b lag]
                   (let [lag (long lag)]
                     (/ (double (loop [i 0 acc 0.0] (if (< (+ i lag) n) (recur (inc i) (+ acc (* (aget a i) (aget b (+ i lag))))) acc))) n)))]
        (is (< (Math/abs (double (corr xs xs 1))) (/ 5.0 (Math/sqrt n))))
        (is (< (Math/abs (double (corr xs ys 0))) (/ 5.0 (Math/sqrt n))))))))

;; --- coefficients and schemes ------------------------------------------------------------

(deftest dln-coefficient-derivatives-match-finite-differences
  (doseq [depth [1 2 3 5] a [0.3 0.9 1.4] sigma [0.0 0.5]]
    (let [c 0.3 s 1.2 h 1e-5
          co (fn [x] (let [w (double-array 6)] (Sde/dlnCoefficients (double x) (int depth) s c sigma w 0) (vec w)))
          [f f1 f2 g g1 g2] (co a)
          [fp _ _ gp] (co (+ (double a) h)) [fm _ _ gm] (co (- (double a) h))
          [_ f1p _ _ g1p] (co (+ (double a) h)) [_ f1m _ _ g1m] (co (- (double a) h))
          d (fn [p m] (/ (- (double p) (double m)) (* 2.0 h)))
          ok? (fn [x y] (<= (Math/abs (- (double x) (double y))) (* 1e-6 (max 1.0 (Math/abs (double y))))))]
      (is (ok? f (* (Math/pow a (double (dec (long depth)))) (- s (Math/pow a (double depth))))))
      (is (ok? f1 (d fp fm)) (str "f' depth " depth " a " a))
      (is (ok? f2 (d f1p f1m)) (str "f'' depth " depth " a " a))
      (is (ok? g1 (d gp gm)) (str "g' depth " depth " a " a " sigma " sigma))
      (is (ok? g2 (d g1p g1m)) (str "g'' depth " depth " a " a " sigma " sigma))
      (is (>= (double g) 0.0)))))

(defn- fine-increments
  "Brownian increments dW and iterated integrals dZ = int (W(s) - W(t_n)) ds on a fine
  grid of n steps of size h: [dW dZ] as double arrays."
  [^long seed ^long path ^long n ^double h]
  (let [dw (double-array n) dz (double-array n)]
    (dotimes [k n]
      (let [u1 (Rng/gaussian seed path (* 2 k)) u2 (Rng/gaussian seed path (inc (* 2 k)))]
        (aset dw k (* (Math/sqrt h) u1))
        (aset dz k (* 0.5 h (Math/sqrt h) (+ u1 (/ u2 (Math/sqrt 3.0)))))))
    [dw dz]))

(defn- coarsen
  "Increments over blocks of m fine steps: dW sums; dZ = sum_k [dZ_k + h (W(t_k) - W(t0))]."
  [[^doubles dw ^doubles dz] ^long m ^double h]
  (let [n (quot (alength dw) m) cw (double-array n) cz (double-array n)]
    (dotimes [b n]
      (loop [k 0 w 0.0 z 0.0]
        (if (< k m)
          (let [j (+ (* b m) k)]
            (recur (inc k) (+ w (aget dw j)) (+ z (aget dz j) (* h w))))
          (do (aset cw b w) (aset cz b z)))))
    [cw cz]))

(defn- slope
  "Least-squares slope of log(err) against log(step)."
  [steps errs]
  (let [xs (map #(Math/log (double %)) steps) ys (map #(Math/log (double %)) errs)
        mx (/ (double (reduce + xs)) (count xs)) my (/ (double (reduce + ys)) (count ys))]
    (/ (double (reduce + (map #(* (- (double %1) mx) (- (double %2) my)) xs ys)))
       (double (reduce + (map #(Math/pow (- (double %) mx) 2.0) xs))))))

(def ^:private scheme-codes {:euler-maruyama Sde/EULER_MARUYAMA :milstein Sde/MILSTEIN :taylor-1.5 Sde/TAYLOR_15})

(defn- strong-errors
  "Mean |X_T(h) - reference| over paths for each coarsening factor, for one scheme."
  [model params y0 scheme paths fine-n t factors reference]
  (let [h (/ (double t) (double fine-n))]
    (vec (for [m factors]
           (/ (double (reduce + (for [p (range paths)]
                                  (let [inc (fine-increments 17 p fine-n h)
                                        [cw cz] (coarsen inc m h)
                                        n (quot (long fine-n) (long m))
                                        y (Sde/integrate (int model) (double-array params) (int (scheme-codes scheme)) (double y0)
                                                         (* h (double m)) (int n) cw 0 cz 0 Sde/ABSORBING 1e12 nil 0)]
                                    (Math/abs (- y (double (reference p inc))))))))
              (double paths))))))

(defn- report-order!
  "Prints a measured strong order (for the record; the assertions are in the tests)."
  [k order]
  (println "measured strong order" k (format "%.3f" (double order))))

(deftest strong-convergence-orders-on-geometric-brownian-motion
  ;; dX = mu X dt + vol X dW, X_T = X_0 exp((mu - vol^2/2) T + vol W_T)
  (let [mu 0.5 vol 0.8 t 1.0 fine-n 2048 factors [128 64 32 16 8] paths 200
        exact (fn [_ [^doubles dw _]] (Math/exp (+ (* (- mu (* 0.5 vol vol)) t) (* vol (double (areduce dw i acc 0.0 (+ acc (aget dw i))))))))
        steps (map #(/ (* t (double %)) fine-n) factors)]
    (doseq [[scheme lo hi] [[:euler-maruyama 0.35 0.7] [:milstein 0.8 1.25] [:taylor-1.5 1.3 1.8]]]
      (let [errs (strong-errors Sde/MODEL_GBM [mu vol] 1.0 scheme paths fine-n t factors exact)
            order (slope steps errs)]
        (report-order! [:gbm scheme] order)
        (is (< lo order hi) (str scheme " strong order " order " errors " errs))))))

(deftest strong-convergence-on-the-per-mode-sde
  ;; reference: the order 1.5 scheme on the fine grid itself
  (let [depth 2 s 1.0 c 0.5 sigma 0.5 a0 0.5 t 1.0 fine-n 2048 factors [64 32 16 8] paths 100
        params [depth s c sigma]
        h (/ t fine-n)
        reference (fn [_ [dw dz]] (Sde/integrate Sde/MODEL_DLN (double-array params) Sde/TAYLOR_15 a0 h (int fine-n) dw 0 dz 0 Sde/ABSORBING 1e12 nil 0))
        steps (map #(/ (* t (double %)) fine-n) factors)
        errs (into {} (for [scheme [:euler-maruyama :milstein :taylor-1.5]]
                        [scheme (strong-errors Sde/MODEL_DLN params a0 scheme paths fine-n t factors reference)]))]
    (doseq [[scheme lo] [[:euler-maruyama 0.35] [:milstein 0.8] [:taylor-1.5 1.2]]]
      (let [order (slope steps (errs scheme))]
        (report-order! [:dln scheme] order)
        (is (< lo order 2.2) (str scheme " order " order " errors " (errs scheme)))))
    (testing "at every step size the higher-order scheme is the more accurate"
      (is (every? true? (map < (errs :milstein) (errs :euler-maruyama))))
      (is (every? true? (map < (errs :taylor-1.5) (errs :milstein)))))))

;; --- the ensemble -------------------------------------------------------------------------

(deftest ensemble-equals-single-paths-with-the-documented-increments
  (doseq [depth [2 3 4 5]
          :let [s [1.0 2.0 0.5] pi0 [0.05 0.3 1.5] c 0.3 sigma 0.4 paths 5 seed 99 dt 0.01 steps 300
                modes (count s) inv-sqrt3 0.5773502691896257645]
          scheme [:euler-maruyama :milstein :taylor-1.5]]
      (let [out (double-array (* 2 modes paths)) status (byte-array (* modes paths))
            a0 (double-array (map #(Math/pow (double %) (/ 1.0 (double depth))) pi0))]
        (Sde/ensemble (int depth) (double-array s) modes c sigma a0 paths seed (int (scheme-codes scheme)) dt steps steps
                      Sde/ABSORBING 100.0 nil 0 2 out nil status)
        (doseq [p (range paths) i (range modes)]
          (let [key (Normal/key seed p i)
                dw (double-array (for [n (range steps)] (* (Math/sqrt dt) (Normal/at key (* 2 (long n))))))
                dz (double-array (for [n (range steps)]
                                   (* (* 0.5 dt (Math/sqrt dt))
                                      (+ (Normal/at key (* 2 (long n))) (* inv-sqrt3 (Normal/at key (inc (* 2 (long n)))))))))
                y (Sde/integrate Sde/MODEL_DLN (double-array [depth (s i) c sigma]) (int (scheme-codes scheme)) (aget a0 i)
                                 dt steps dw 0 dz 0 Sde/ABSORBING 100.0 nil 0)]
            (is (== y (aget out (+ (* (+ modes (long i)) paths) (long p)))) (str scheme " depth " depth " path " p " mode " i)))))))

(deftest zero-noise-is-gradient-flow
  (doseq [depth [2 3]]
    (let [modes [{:s 1.0 :pi0 0.01} {:s 2.0 :pi0 0.05} {:s 0.5 :pi0 0.9}]
          base {:modes modes :depth depth :noise false :paths 3 :dt 1e-3 :time 6.0 :record {:points 7}}
          theory (fn [r] (vec (for [t (:time r)] (mapv #(th/gradient-flow-pi (assoc % :depth depth) t) modes))))]
      (doseq [[scheme tol] [[:euler-maruyama 5e-3] [:milstein 5e-3] [:taylor-1.5 1e-5]]]
        (let [r (sde/simulate (assoc base :scheme scheme))
              want (theory r)]
          (is (every? true? (map #(every? true? (map (fn [x y] (close? x y tol)) %1 %2)) (:mean r) want))
              (str "depth " depth " " scheme))
          (is (every? #(every? (fn [x] (< (double x) 1e-12)) %) (:std r)) "no noise: no spread beyond roundoff")))
      (testing "the result's :gradient-flow (RK4) is the closed form / exact flow"
        (let [r (sde/simulate base)]
          (is (every? true? (map #(every? true? (map (fn [x y] (close? x y 1e-9)) %1 %2)) (:gradient-flow r) (theory r))))))
      (testing "first passages are gradient flow's learning times"
        (let [r (sde/simulate (assoc base :scheme :taylor-1.5 :dt 1e-3))]
          (doseq [[f per-path] (:first-passage r) i [0 1]]
            (is (close? (get-in per-path [0 i]) (th/learning-time (assoc (modes i) :depth depth) {:fraction f}) 1e-3)
                (str "fraction " f " mode " i)))
          (is (= [0.0 0.0] (mapv #(get-in (:first-passage r) [% 0 2]) [0.5 0.9])) "pi0 already above fraction * s"))))))

(deftest stationary-statistics-match-theory
  (doseq [[spec paths] [[{:modes [{:s 1.0 :pi0 1.0}] :depth 2 :lr 0.05 :batch-size 1 :label-noise 0.5} 20000]
                        [{:modes [{:s 1.5 :pi0 1.5}] :depth 3 :lr 0.02 :batch-size 2 :label-noise 0.8} 10000]]]
    (let [r (sde/simulate (merge spec {:paths paths :dt 2e-3 :time 4.0 :seed 3 :record {:points 3 :paths 0}}))
          cmp (sde/stationary-comparison r)
          th (th-sde/stationary-density (merge (first (:modes spec)) (dissoc spec :modes)))
          sd (Math/sqrt (double (:variance th)))]
      (is (= paths (:n cmp)))
      (is (< (Math/abs (- (double (:mean cmp)) (double (:mean th)))) (* 5.0 (/ sd (Math/sqrt paths)))) "mean within 5 standard errors")
      ;; sampling error of the variance about sqrt(2/paths) (1-1.5%); the EM bias is O(dt S) < 1%
      (is (close? (:variance cmp) (:variance th) 0.06) (str "variance " (:variance cmp) " vs " (:variance th)))
      (is (< (double (:ks cmp)) (+ (/ 1.95 (Math/sqrt paths)) 0.005)) (str "KS " (:ks cmp)))
      (is (close? (get-in cmp [:theory :gibbs-variance]) (th-sde/gibbs-variance (merge (first (:modes spec)) (dissoc spec :modes))) 1e-12)))))

(deftest results-do-not-depend-on-thread-count
  (doseq [scheme [:euler-maruyama :taylor-1.5]]
    (let [spec {:modes [{:s 1.0 :pi0 0.01} {:s 3.0 :pi0 0.02} {:s 0.4 :pi0 0.5}] :depth 3 :lr 0.1 :batch-size 2
                :label-noise 0.3 :paths 301 :dt 0.01 :time 3.0 :scheme scheme :seed 42}
          [r1 r2 r3] (map #(dissoc (sde/simulate (assoc spec :threads %)) :spec) [1 2 3])]
      (is (= r1 r2) (str scheme " 1 vs 2 threads"))
      (is (= r1 r3) (str scheme " 1 vs 3 threads"))
      (is (not= r1 (dissoc (sde/simulate (assoc spec :threads 2 :seed 43)) :spec)) "the seed matters"))))

(defn- all-finite? [r]
  (every? #(or (nil? %) (Double/isFinite (double %)))
          (flatten [(:mean r) (:std r) (vals (:quantiles r)) (:diffusion r) (:paths r) (:final r)])))

(deftest boundary-and-divergence-never-give-nan
  (let [spec {:modes [{:s 1.0 :pi0 0.01} {:s 2.0 :pi0 0.001}] :depth 2 :lr 1.0 :batch-size 1 :label-noise 1.0
              :paths 400 :dt 0.1 :time 5.0 :record {:points 51 :paths 400}}]
    (testing "absorbing: paths that hit 0 stay there"
      (let [r (sde/simulate spec)
            hits (get-in r [:status :hit-zero])]
        (is (all-finite? r))
        (is (pos? (long (reduce + hits))) "the step overshoots 0 for some paths")
        (is (some (fn [path] (some #(== 0.0 (double (% 0))) path)) (:paths r)))
        (is (every? (fn [path] (every? (fn [row] (every? #(or (nil? %) (>= (double %) 0.0)) row)) path)) (:paths r)))
        (doseq [path (:paths r) i [0 1]]
          (let [xs (take-while some? (map #(% i) path))
                after (drop-while #(pos? (double %)) xs)]
            (is (every? #(== 0.0 (double %)) after))))))
    (testing "reflecting: values stay positive"
      (let [r (sde/simulate (assoc spec :boundary :reflecting))]
        (is (all-finite? r))
        (is (pos? (long (reduce + (get-in r [:status :hit-zero])))))
        (is (every? #(every? (fn [row] (every? (fn [x] (or (nil? x) (>= (double x) 0.0))) row)) %) (:paths r))))))
  (testing "a step far beyond stability diverges: frozen, excluded, no NaN"
    ;; from a = 0.79 one step of dt = 3 lands near 1.7, the next near -34: beyond the bound 5
    (let [r (sde/simulate {:modes [{:s 1.0 :pi0 0.5} {:s 0.01 :pi0 0.001}] :depth 3 :lr 0.01 :paths 50 :dt 3.0 :time 60.0
                           :bound 5.0 :record {:points 21 :paths 5}})]
      (is (= 50 (get-in r [:status :diverged 0])))
      (is (zero? (long (get-in r [:status :diverged 1]))))
      (is (all-finite? r))
      (is (nil? (peek (mapv first (:mean r)))) "no surviving path: no statistics")
      (is (every? nil? (map first (:final r))))
      (is (every? some? (map second (:final r)))))))

(deftest results-are-plain-data
  (let [r (sde/simulate {:modes [{:s 1.0 :pi0 0.01}] :depth 3 :lr 0.05 :paths 20 :time 2.0 :record {:points 5 :paths 2}})]
    (is (= r (edn/read-string (pr-str r))))
    (is (= 5 (count (:time r)) (count (:mean r)) (count (:gradient-flow r))))
    (is (= 2 (count (:paths r))))
    (is (= 20 (count (:final r)) (count (get-in r [:first-passage 0.5]))))
    (is (= [0.05 0.25 0.5 0.75 0.95] (keys (:quantiles r))))
    (is (every? #(apply <= %) (apply map vector (map #(mapv first %) (vals (:quantiles r))))))))

(deftest analyses
  (let [spec {:modes [{:s 1.0 :pi0 0.001} {:s 2.0 :pi0 0.001}] :depth 3 :lr 0.01 :batch-size 8 :paths 400
              :dt 0.01 :time 40.0 :record {:points 401 :paths 0}}
        r (sde/simulate spec)]
    (testing "learning times: weak noise stays near gradient flow"
      (doseq [{:keys [mode learned paths median gradient-flow-time histogram]} (sde/learning-time-distribution r)]
        (is (= learned paths 400))
        (is (close? median gradient-flow-time 0.05) (str "mode " mode))
        (is (= 400 (reduce + (:counts histogram))))))
    (testing "diffusion peaks at pi* = 2(L-1)s/(3L-2), before the mode is learned"
      (doseq [{:keys [mode peak-pi theory-peak-pi precedes-learning? paths-peak-before-learning]} (sde/diffusion-peak r)]
        (is (close? theory-peak-pi (* (/ 4.0 7.0) (double (:s ((:modes spec) mode)))) 1e-12))
        (is (close? peak-pi theory-peak-pi 0.08) (str "mode " mode))
        (is (true? precedes-learning?))
        (is (> (double paths-peak-before-learning) 0.95))))
    (testing "analysis errors name the key, value and what is allowed"
      (let [e (try (sde/learning-time-distribution r {:fraction 0.7}) (catch clojure.lang.ExceptionInfo e e))]
        (is (= [:fraction] (:path (ex-data e))))
        (is (= [0.5 0.9] (:allowed (ex-data e)))))
      (let [e (try (sde/stationary-comparison r {:mode 5}) (catch clojure.lang.ExceptionInfo e e))]
        (is (= [:mode] (:path (ex-data e))))))))

;; --- spec errors ----------------------------------------------------------------------------

(def ^:private valid {:modes [{:s 1.0 :pi0 0.1}] :paths 4 :time 0.1})

(def ^:private bad-specs
  "[change path value]: each change makes `valid` invalid at path (under [:sde] in
  an experiment) naming value; a missing :pi0 is named at the missing key itself."
  [[{:modes []} [:modes] []]
   [{:modes [{:s -1.0 :pi0 0.1}]} [:modes 0 :s] -1.0]
   [{:modes [{:s 1.0 :pi0 0.0}]} [:modes 0 :pi0] 0.0]
   [{:modes [{:s 1.0}]} [:modes 0 :pi0] nil]
   [{:modes [{:s 1.0 :pi-0 0.1}]} [:modes 0 :pi-0] 0.1]
   [{:depth 1} [:depth] 1]
   [{:depth 2.5} [:depth] 2.5]
   [{:lr 0} [:lr] 0]
   [{:batch-size -2} [:batch-size] -2]
   [{:label-noise -0.1} [:label-noise] -0.1]
   [{:paths 0} [:paths] 0]
   [{:dt ##Inf} [:dt] ##Inf]
   [{:time -1.0} [:time] -1.0]
   [{:time 0.001 :dt 0.01} [:time] 0.001]
   [{:scheme :rk4} [:scheme] :rk4]
   [{:threads 0} [:threads] 0]
   [{:boundary :sticky} [:boundary] :sticky]
   [{:noise "yes"} [:noise] "yes"]
   [{:bound 0.01} [:bound] 0.01]
   [{:learned-fractions [0.5 1.0]} [:learned-fractions 1] 1.0]
   [{:learned-fractions []} [:learned-fractions] []]
   [{:record {:points 1}} [:record :points] 1]
   [{:record {:every-time 0}} [:record :every-time] 0]
   [{:record {:paths -1}} [:record :paths] -1]
   [{:record {:quantiles [0.5 2]}} [:record :quantiles 1] 2]
   [{:record {:points 5 :every-time 0.1}} [:record] {:points 5 :every-time 0.1}]
   [{:record {:pionts 5}} [:record :pionts] 5]
   [{:batchsize 4} [:batchsize] 4]])

(defn- names-the-problem
  "Asserts that ex-info e names the key path, the value and what is allowed."
  [e path value change]
  (let [data (ex-data e) msg (ex-message e)]
    (is (some? e) (pr-str change))
    (when e
      (is (= :invalid-experiment (:dlnlab/error data)) msg)
      (is (= path (:path data)) msg)
      (is (= value (:value data)) msg)
      (is (contains? data :allowed))
      (is (.contains ^String msg (pr-str (if (nil? value) (peek path) path))) msg)
      ;; an unknown key's message lists the allowed keys instead of its value
      (when (and (some? value) (not (re-find #"unknown key" msg)))
        (is (.contains ^String msg (pr-str value)) msg)))))

(deftest every-spec-error-names-key-value-and-allowed
  ;; simulate validates with the :sde node of dlnlab.spec, as an experiment does
  (doseq [[change path value] (conj bad-specs [{:seed 1.5} [:seed] 1.5])]
    (names-the-problem (try (sde/simulate (merge valid change)) nil (catch clojure.lang.ExceptionInfo e e))
                       path value change))
  (testing "typos get a suggestion"
    (is (re-find #"Did you mean :batch-size" (ex-message (try (sde/simulate (assoc valid :batchsize 4)) (catch clojure.lang.ExceptionInfo e e))))))
  (testing "too many records"
    (let [e (try (sde/simulate (assoc valid :paths 3000000 :time 10.0 :record {:points 101})) (catch clojure.lang.ExceptionInfo e e))]
      (is (= [:paths] (:path (ex-data e))))
      (is (= :too-large (:dlnlab/error (ex-data e))))
      (is (re-find #"record fewer points" (ex-message e)))))
  (testing "not a map"
    (let [e (try (sde/simulate 5) (catch clojure.lang.ExceptionInfo e e))]
      (is (= [] (:path (ex-data e))))
      (is (re-find #"must be a sde map, got 5" (ex-message e)))))
  (testing "a missing :modes"
    (is (= [:modes] (:path (ex-data (try (sde/simulate {:paths 3}) (catch clojure.lang.ExceptionInfo e e)))))))
  (testing "a valid spec runs and echoes the normalized spec"
    (let [r (sde/simulate valid)]
      (is (= :euler-maruyama (get-in r [:spec :scheme])))
      (is (= (get-in (spec/defaults) [:sde :learned-fractions]) (get-in r [:spec :learned-fractions]))))))

(deftest deterministic-limits
  (testing "gradient-flow trajectories follow dlnlab.theory's flow"
    (doseq [depth [2 3 4]]
      (let [mode {:s 1.5 :pi0 0.02 :depth depth}
            {:keys [time pi]} (sde/gradient-flow-trajectory mode {:dt 1e-3 :time 5.0 :points 11})]
        (is (= 11 (count time) (count pi)))
        (is (every? true? (map #(close? %2 (th/gradient-flow-pi mode %1) 1e-9) time pi)) (str "depth " depth)))))
  (testing "GD orbits iterate dlnlab.theory's map"
    (let [orbit (sde/gd-orbit 2.3 3 0.6 50)]
      (is (= 51 (count orbit)))
      (is (every? true? (map #(close? %1 %2 1e-12) orbit (take 51 (iterate #(gd-map/gd-map 2.3 3 %) 0.6)))))))
  (is (= {:dlnlab/error :invalid-argument :path [:depth] :value 0 :allowed "an integer >= 1"}
         (ex-data (try (sde/gd-orbit 2.3 0 0.6 5) (catch clojure.lang.ExceptionInfo e e)))))
  (is (= [:n] (:path (ex-data (try (sde/gd-orbit 2.3 3 0.6 -1) (catch clojure.lang.ExceptionInfo e e)))))))

(deftest simulate-uses-the-experiment-schema
  ;; one spec: simulate's defaults are the :sde node's, plus :seed, :threads and :bound
  (let [d (:sde (spec/defaults))
        n (sde/normalize {:modes [{:s 1.0 :pi0 0.1}]})]
    (is (= (dissoc d :record) (select-keys n (keys (dissoc d :record)))))
    (is (= (get-in (spec/normalize {:kind :sde :sde {:modes [{:s 1.0 :pi0 0.1}]}}) [:sde :record]) (:record n)))
    (is (= (get-in (spec/defaults) [:sde-experiment :seed]) (:seed n)))
    (is (= (.availableProcessors (Runtime/getRuntime)) (:threads n)))
    (is (== 1000.0 (:bound n)) "1000 max(s^(1/L), pi0^(1/L)) = 1000 s^(1/2) with s = 1")))

;; --- as an experiment kind ----------------------------------------------------------------

(def ^:private small-experiment
  {:kind :sde :seed 21
   :sde {:modes [{:s 1.0 :pi0 0.02} {:s 0.4 :pi0 0.02}] :depth 2 :lr 0.05 :batch-size 4 :label-noise 0.2
         :paths 300 :dt 0.01 :time 12.0 :record {:points 25 :paths 3}}})

(deftest an-sde-experiment-runs-through-core-run
  (let [r (core/run small-experiment)
        exp (spec/normalize small-experiment)
        sim (sde/simulate (assoc (:sde exp) :seed 21))
        traj (:trajectory r)]
    (testing "the outer shape of a run's result, as plain data"
      (is (= #{:experiment :status :stop-reason :trajectory :final :facts :analysis :meta} (set (keys r))))
      (is (= exp (:experiment r)))
      (is (= :completed (:status r)))
      (is (= r (edn/read-string (pr-str r)))))
    (testing "the trajectory holds the simulation's statistics, one row per recorded time"
      (is (= (:time sim) (:time traj)))
      (is (= (:mean sim) (:mean traj)))
      (is (= (:std sim) (:std traj)))
      (is (= (get-in sim [:quantiles 0.05]) (:q0.05 traj)))
      (is (every? #(= 25 (count %)) (vals traj)))
      (is (every? true? (map #(close? (* 0.01 (double %1)) %2 1e-12) (rest (:step traj)) (rest (:time traj)))) "time = dt x step")
      (is (= (get-in sim [:paths 2 7 1]) (get-in traj [:paths 7 2 1])) "path 3, time 8, mode 2"))
    (testing "result-ensemble gives back exactly what simulate returns"
      (is (= sim (sde/result-ensemble r)))
      (is (= sim (sde/result-ensemble (edn/read-string (pr-str r))))))
    (testing "the analyses are those of the simulation"
      (is (= (sde/learning-time-distribution sim) (get-in r [:analysis :learning-times])))
      (is (= (sde/diffusion-peak sim) (get-in r [:analysis :diffusion-peak])))
      (is (= (sde/stationary-comparison sim {:mode 1}) (get-in r [:analysis :stationary 1])))
      (is (= [1.0 0.4] (get-in r [:analysis :mode-targets]))))
    (testing "the same experiment gives the same result (meta aside)"
      (is (= (dissoc r :meta) (dissoc (core/run small-experiment) :meta))))))

(deftest sweeps-vary-sde-keys
  (let [base (-> small-experiment (assoc-in [:sde :paths] 400) (assoc-in [:sde :record :paths] 0))
        rs (core/sweep base {[:sde :lr] [0.01 0.1]} {:jobs 1})
        [lo hi] rs]
    (is (= [0.01 0.1] (mapv #(get-in % [:experiment :sde :lr]) rs)))
    (is (= [{[:sde :lr] 0.01} {[:sde :lr] 0.1}] (mapv #(get-in % [:sweep :point]) rs)))
    (testing "each point is the run of its point experiment (seed derived from the problem, not the lr)"
      (is (= (dissoc hi :meta :sweep)
             (dissoc (core/run (sweep/point-experiment base [[[:sde :lr] 0.1]])) :meta)))
      (is (= (get-in lo [:experiment :seed]) (get-in hi [:experiment :seed])) "paired: [:sde :lr] is a dynamics key"))
    (testing "the stationary variance grows in proportion to lr"
      ;; Gibbs variance T L s^(2-2/L) with T = lr sigma^2 / (2B) (SCIENCE.md §7): ten
      ;; times larger at lr 0.1; the discrete correction 1/(1 - lr S / 2) and the
      ;; sampling error of 400 paths (sd of a sample variance sqrt(2/400) = 7%) keep
      ;; the measured ratio within 10 x [0.75, 1.35]
      (doseq [i [0 1]]
        (let [v (fn [r] (get-in r [:analysis :stationary i :variance]))
              ratio (/ (double (v hi)) (double (v lo)))]
          (is (< 7.5 ratio 13.5) (str "mode " i ": " ratio)))))
    (testing "the sweep's figures: learning time and stationary variance against lr, from each point's analysis"
      (is (= [:learning-time-sweep :stationary-sweep] (fig/standard-names rs)))
      (let [fig (fig/figure :stationary-sweep rs)
            measured (:points (first (:layers (first (:panels fig)))))]
        (is (= [[0.01 (get-in lo [:analysis :stationary 0 :variance])]
                [0.1 (get-in hi [:analysis :stationary 0 :variance])]]
               measured))))))

(defn- layer [fig series] (first (filter #(= series (:series %)) (mapcat :layers (:panels fig)))))

(deftest sde-results-get-the-sde-figures
  (let [r (core/run small-experiment)
        traj (:trajectory r)]
    (is (= [:sde-ensemble :learning-times :stationary] (fig/standard-names r)))
    (is (= [:sde-ensemble :learning-times]
           (fig/standard-names (core/run (assoc-in small-experiment [:sde :label-noise] 0.0))))
        "no stationary density without label noise")
    (testing "the ensemble figure draws the trajectory's mean and outer quantiles, with the targets"
      (let [fig (fig/figure :sde-ensemble r)]
        (is (= (mapv (fn [t m] [t (m 1)]) (:time traj) (:mean traj)) (:points (layer fig "mode 2, mean"))))
        (is (= (mapv #(% 0) (:q0.95 traj)) (mapv #(nth % 2) (:points (layer fig "mode 1, 5–95% band")))))
        (is (= 0.4 (:y (layer fig "target s2 = 0.4"))))))
    (testing "the stationary histogram holds every path's final value, with the analytic density"
      (let [fig (fig/figure :stationary r {:mode 1})
            bars (:points (layer fig "simulation (n = 300)"))]
        (is (some? bars))
        (is (< (Math/abs (- 1.0 (double (reduce + (map (fn [[x0 x1 h]] (* (- (double x1) (double x0)) (double h))) bars))))) 1e-12))
        (is (= (count (get-in r [:analysis :stationary 1 :histogram :theory-density]))
               (count (:points (layer fig "analytic density")))))))
    (testing "the learning-time histogram counts the paths that reached the smallest fraction"
      (let [fig (fig/figure :learning-times r)
            learned (fn [i] (count (keep #(% i) (get-in r [:final :first-passage 0.5]))))]
        (is (= [(learned 0) (learned 1)]
               (mapv (fn [nm] (reduce + (map #(nth % 2) (:points (layer fig nm))))) ["mode 1" "mode 2"])))))))

(def ^:private valid-experiment {:kind :sde :sde valid})

(deftest experiment-errors-match-simulate-errors
  ;; every bad simulate spec, given under :sde, fails the experiment's validation
  ;; at [:sde <the same path>] naming the value
  (doseq [[change path value] bad-specs]
    (names-the-problem (try (core/run (update valid-experiment :sde merge change)) nil
                            (catch clojure.lang.ExceptionInfo e e))
                       (into [:sde] path) value change))
  (testing "near misses get a suggestion"
    (doseq [[exp hint] [[(assoc-in valid-experiment [:sde :batchsize] 4) :batch-size]
                        [(assoc-in valid-experiment [:sde :modes 0 :pi-0] 0.1) :pi0]
                        [(assoc valid-experiment :kind :sed) :sde]]]
      (let [e (try (core/run exp) nil (catch clojure.lang.ExceptionInfo e e))]
        (is (= hint (:did-you-mean (ex-data e))) (ex-message e))
        (is (.contains ^String (ex-message e) (str "Did you mean " hint)) (ex-message e)))))
  (testing "the seed is the experiment's, and the simulation keys go under :sde"
    (let [e (try (core/run (assoc-in valid-experiment [:sde :seed] 3)) (catch clojure.lang.ExceptionInfo e e))]
      (is (= [:sde :seed] (:path (ex-data e))))
      (is (re-find #"top-level :seed" (ex-message e))))
    (let [e (try (core/run {:kind :sde :lr 0.1 :sde valid}) (catch clojure.lang.ExceptionInfo e e))]
      (is (= [:lr] (:path (ex-data e))))
      (is (re-find #"belongs under :sde" (ex-message e))))
    (let [e (try (core/run {:kind :sde}) (catch clojure.lang.ExceptionInfo e e))]
      (is (= [:sde] (:path (ex-data e))))))
  (testing "a network experiment may say :kind :network; the keys of one kind are unknown to the other"
    (is (= :network (:kind (spec/normalize {:kind :network :model {:kind :chain :depth 1}
                                            :task {:kind :matrix-factorization :singular-values [1.0]}}))))
    (is (= [:model] (:path (ex-data (try (core/run (assoc valid-experiment :model {:kind :chain}))
                                         (catch clojure.lang.ExceptionInfo e e))))))))
