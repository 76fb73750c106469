(ns dlnlab.analysis-test
  "Analyses on synthetic series with known answers: cycles of the logistic map
  (period doubling at known parameters, chaos at r = 3.9), exact patterns with
  drift and noise, converging series, a sigmoid with a closed-form crossing."
  (:require [clojure.test :refer [deftest is testing]]
            [dlnlab.analysis :as analysis])
  (:import [java.util Random]))

(set! *warn-on-reflection* true)

(defn- logistic
  "n values of x <- r x (1 - x) after a transient of 5000 iterations."
  [^double r ^long n]
  (let [xs (iterate (fn [^double x] (* r x (- 1.0 x))) 0.3)]
    (vec (take n (drop 5000 xs)))))

(defn- noisy [xs ^double sigma ^long seed]
  (let [rng (Random. seed)]
    (mapv (fn [^double x] (+ x (* sigma (.nextGaussian rng)))) xs)))

(defn- pattern
  "n values repeating p random values in [1, 2) plus a linear drift."
  [^long p ^long n ^double drift ^long seed]
  (let [rng (Random. seed)
        pat (vec (repeatedly p #(+ 1.0 (.nextDouble rng))))]
    (mapv (fn [^long t] (+ ^double (pat (rem t p)) (* drift t))) (range n))))

(deftest logistic-map-period-doubling
  ;; the logistic map's cycles: 2 on (3, 3.449), 4 on (3.449, 3.544), 8 on
  ;; (3.544, 3.564), 16 on (3.564, 3.569); fixed point below 3
  (doseq [[r want] [[2.8 :converged] [3.2 2] [3.5 4] [3.55 8] [3.566 16]]]
    (let [xs (logistic r 400)]
      (is (= want (analysis/period xs)) (str "r = " r))
      (testing "with noise 1e-6 the period is still found"
        (when (number? want)
          (is (= want (analysis/period (noisy xs 1e-6 (long (* r 1000)))))) (str "r = " r))))))

(deftest periodic-windows-inside-chaos
  ;; the logistic map's period-3 window opens at 1 + sqrt 8 = 3.8284...
  (is (= 3 (analysis/period (logistic 3.835 400))) "period 3 at r = 3.835")
  (is (= 5 (analysis/period (pattern 5 400 0.0 11))) "an exact period 5")
  (is (= 6 (analysis/period (pattern 6 400 1e-4 12))) "period 6 with drift"))

(deftest chaos-and-noise-are-aperiodic
  (is (= :aperiodic (analysis/period (logistic 3.9 400))))
  (is (= :aperiodic (analysis/period (noisy (repeat 400 1.0) 1e-3 7))))
  (testing "a period-2 series drowned in noise is not reported as periodic"
    (is (= :aperiodic (analysis/period (noisy (pattern 2 400 0.0 3) 0.3 8))))))

(deftest exact-patterns-with-drift
  (doseq [p [2 4 8 32]]
    (is (= p (analysis/period (pattern p 400 0.0 p))) (str "period " p))
    (is (= p (analysis/period (pattern p 400 1e-3 p))) (str "period " p " on a linear drift"))
    (is (= p (analysis/period (noisy (pattern p 400 0.0 p) 1e-4 (+ 100 ^long p))))
        (str "period " p " with small noise")))
  (testing "a period beyond :max-period is aperiodic"
    (is (= :aperiodic (analysis/period (pattern 8 400 0.0 1) {:max-period 4})))))

(deftest converging-and-monotone-series
  (is (= :converged (analysis/period (mapv #(+ 2.0 (Math/pow 0.5 %)) (range 200)))))
  (is (= :converged (analysis/period (mapv #(Math/pow 0.5 %) (range 200))))
      "decays below :atol")
  (is (= 1 (analysis/period (mapv #(/ 1.0 (inc ^long %)) (range 200))))
      "still decreasing: not oscillating, not converged")
  (is (= 1 (analysis/period (mapv #(Math/sin (/ ^long % 300.0)) (range 400))))
      "a slow smooth wave does not oscillate at the record cadence")
  (is (= :converged (analysis/period (noisy (repeat 200 3.0) 1e-10 4)))
      "noise below :rtol")
  (testing "a 2-cycle whose amplitude decays slowly is still period 2"
    (is (= 2 (analysis/period (mapv #(+ 1.0 (* (Math/pow -1.0 %) (Math/pow 0.999 %))) (range 400)))))))

(deftest period-edge-cases
  (is (nil? (analysis/period [1.0 2.0 1.0])) "too short")
  (is (nil? (analysis/period (conj (pattern 2 100 0.0 1) Double/NaN))) "non-finite")
  (is (= 2 (analysis/period (interleave (pattern 2 200 0.0 1) (repeat nil)))) "nil rows are dropped")
  (is (= 2 (analysis/period (concat (logistic 3.9 300) (pattern 2 200 0.0 2))))
      "only the late part counts (the last 128 values by default)")
  (is (= :aperiodic (analysis/period (concat (logistic 3.9 300) (pattern 2 100 0.0 2))))
      "the default window reaches back into the chaotic part")
  (is (= 2 (analysis/period (concat (logistic 3.9 300) (pattern 2 100 0.0 2)) {:window 40})))
  (is (= :aperiodic (analysis/period (concat (logistic 3.9 300) (pattern 2 100 0.0 2)) {:window 400}))))

(deftest oscillating
  (is (every? analysis/oscillating? [2 4 32 :aperiodic]))
  (is (not-any? analysis/oscillating? [1 :converged nil])))

(defn- sigmoid [^double s ^double t0 ^double tau ^double t]
  (/ s (+ 1.0 (Math/exp (- (/ (- t t0) tau))))))

(deftest learned-step-on-a-sigmoid
  (doseq [[s t0 tau every frac] [[3.0 120.0 15.0 1 0.9] [0.5 40.0 3.0 5 0.9] [2.0 300.0 40.0 10 0.5]]]
    (let [every (long every)
          steps (vec (range 0 1000 every))
          xs (mapv #(sigmoid s t0 tau %) steps)
          ;; s / (1 + e^{-(t - t0)/tau}) >= f s  <=>  t >= t0 + tau ln(f / (1 - f))
          t* (+ ^double t0 (* ^double tau (Math/log (/ ^double frac (- 1.0 ^double frac)))))
          want (* every (long (Math/ceil (/ t* every))))]
      (is (= want (analysis/learned-step steps xs s {:fraction frac}))
          (str "s " s " t0 " t0 " tau " tau " every " every))))
  (is (= 122 (analysis/learned-step (vec (range 200)) (mapv #(sigmoid 1.0 100.0 10.0 %) (range 200)) 1.0))
      "default fraction 0.9: t >= 100 + 10 ln 9 = 121.97")
  (is (nil? (analysis/learned-step [0 1 2] [0.1 0.2 0.3] 1.0)) "never learned")
  (is (nil? (analysis/learned-step [0 1 2] [0.1 0.2 0.3] 0.0)) "zero target")
  (is (= 2 (analysis/learned-step [0 1 2 3] [0.1 nil 0.95 nil] 1.0)) "nil rows skipped"))

(deftest sharpening-end
  (let [lr 0.01 thr (/ 2.0 lr)
        steps (vec (range 0 500 2))
        ;; sharpness rising linearly from 50 at 0.5 per step: reaches 200 at step 300
        sharp (mapv #(+ 50.0 (* 0.5 ^long %)) steps)]
    (is (= 300 (analysis/sharpening-end-step steps sharp thr)))
    (is (= 280 (analysis/sharpening-end-step steps sharp thr {:fraction 0.95}))
        "0.95 * 200 = 190 is reached at step 280")
    (is (nil? (analysis/sharpening-end-step steps (mapv #(min 150.0 ^double %) sharp) thr)) "never")
    (is (nil? (analysis/sharpening-end-step steps sharp nil)) "gradient flow has no threshold")))

;; ---------------------------------------------------------------- analyze

(defn- balanced-gd
  "Per-mode strengths pi_i = a_i^L under GD on aligned balanced weights, the map
  a <- a - lr a^(L-1) (a^L - s) of SCIENCE.md §4, for steps 0..n."
  [s depth lr a0 n]
  (let [depth (long depth) lr (double lr) n (long n)
        step (fn [^double si ^double a]
               (- a (* lr (Math/pow a (dec depth)) (- (Math/pow a depth) si))))
        paths (mapv (fn [si] (vec (take (inc n) (iterate #(step si %) a0)))) s)]
    (mapv (fn [^long t] (mapv #(Math/pow (nth % t) depth) paths)) (range (inc n)))))

(def ^:private edge-of-stability
  "lr = 0.3 on s = [4 1] with L = 2: S_i = 2 s_i, so mode 0 (2/S = 0.25 < lr)
  oscillates with lr S = 2.4 and mode 1 (2/S = 1) converges (SCIENCE.md §6)."
  {:seed 0 :model {:kind :chain :depth 2 :width 2}
   :task {:kind :matrix-factorization :singular-values [4.0 1.0]}
   :optimizer {:kind :gd :lr 0.3} :steps 600})

(defn- synthetic-result [exp ^long every]
  (let [n 600
        pis (balanced-gd [4.0 1.0] 2 0.3 0.1 n)
        steps (vec (range 0 (inc n) every))
        rows (mapv #(nth pis %) steps)
        sharp-due? (fn [^long t] (zero? (rem t 10)))]
    {:experiment exp
     :facts {:targets [4.0 1.0] :stability-threshold (/ 2.0 0.3)}
     :trajectory {:step steps
                  :time (mapv #(* 0.3 ^long %) steps)
                  :loss (mapv (fn [[p0 p1]] (* 0.5 (+ (Math/pow (- ^double p0 4.0) 2) (Math/pow (- ^double p1 1.0) 2)))) rows)
                  :modes rows
                  ;; sharpness rising by 0.05 per step from 1: crosses 2/0.3 = 6.67 at step 113.3
                  :sharpness (mapv #(when (sharp-due? %) (+ 1.0 (* 0.05 ^long %))) steps)
                  :pathway-shares (mapv #(when (sharp-due? %) [[1.0] [1.0]]) steps)}}))

(deftest analyze-a-balanced-gd-run
  (let [pis (balanced-gd [4.0 1.0] 2 0.3 0.1 600)
        [a b c] (map #(nth % 0) (take-last 3 pis))]
    (is (< (Math/abs (- ^double a ^double c)) 1e-10) "mode 0 has settled on a cycle of period 2 ...")
    (is (> (Math/abs (- ^double a ^double b)) 0.1) "... not on a fixed point"))
  (let [result (synthetic-result edge-of-stability 1)
        out (analysis/analyze result)
        traj (:trajectory result)]
    (is (= 2 (:loss-period out)))
    (is (= [2 :converged] (:mode-periods out)))
    (is (= [0] (:oscillating-modes out)))
    (is (= {:loss 1 :modes 1} (:period-unit-steps out)))
    (is (= [4.0 1.0] (:mode-targets out)) "the recorded fact")
    (is (< (Math/abs (- (/ 2.0 0.3) ^double (:stability-threshold out))) 1e-12) "the recorded fact")
    (is (= 120 (:sharpening-end-step out)) "the first recorded sharpness (every 10 steps) above 6.67")
    (is (< (Math/abs (- 36.0 ^double (:sharpening-end-time out))) 1e-9))
    (is (= [[1.0] [1.0]] (:final-pathway-shares out)))
    (testing "learned steps: the first row at or above 0.9 s_i"
      (doseq [[i s] [[0 4.0] [1 1.0]]]
        (let [t (long (nth (:mode-learned-steps out) i))
              xs (mapv #(nth % i) (:modes traj))]
          (is (>= ^double (nth xs t) (* 0.9 ^double s)))
          (is (every? #(< ^double % (* 0.9 ^double s)) (subvec xs 0 t))))))
    (is (= (mapv #(* 0.3 ^long %) (:mode-learned-steps out)) (:mode-learned-times out)))
    (is (= out (read-string (pr-str out))) "plain data"))
  (testing "recorded every 2 steps, the 2-cycle aliases to a constant (documented)"
    (let [out (analysis/analyze (synthetic-result edge-of-stability 2))]
      (is (= [:converged :converged] (:mode-periods out)))
      (is (= {:loss 2 :modes 2} (:period-unit-steps out)))))
  (testing "options instead of the facts; a recorded threshold wins"
    (let [result (-> (synthetic-result {} 1)
                     (dissoc :facts)
                     (assoc-in [:trajectory :stability-threshold] (vec (repeat 601 nil))))
          out (analysis/analyze result {:targets [5.0 1.0] :stability-threshold 8.0 :learned-fraction 0.5})]
      (is (= [5.0 1.0] (:mode-targets out)))
      (is (= 8.0 (:stability-threshold out)))
      (is (= 140 (:sharpening-end-step out)) "1 + 0.05 t >= 8 at t = 140")
      (is (= 0.5 (:learned-fraction out)))
      (is (= 10.0 (:stability-threshold
                   (analysis/analyze (assoc-in result [:trajectory :stability-threshold 5] 10.0) {:stability-threshold 8.0})))))))

(deftest analyze-with-little-recorded
  (let [out (analysis/analyze {:experiment {:optimizer {:kind :gradient-flow}}
                               :trajectory {:step [0 1 2] :time [0.0 0.1 0.2] :loss [1.0 0.5 0.25]}})]
    (is (nil? (:loss-period out)) "three rows are too few for a period")
    (is (every? nil? (map out [:mode-periods :oscillating-modes :sharpening-end-step :mode-learned-steps
                               :final-pathway-shares :stability-threshold])))))

(deftest final-shares-only-for-modes-that-grew-towards-a-nonzero-target
  (let [base (synthetic-result edge-of-stability 1)
        n (count (get-in base [:trajectory :step]))
        ;; mode 1 made target 0 (its strength stays near 1, but s = 0 has no shares),
        ;; and a run whose mode 0 has only reached 0.1 of 4 (below a tenth)
        zero-target (-> base (assoc-in [:facts :targets] [4.0 0.0])
                        (assoc-in [:trajectory :pathway-shares] (vec (repeat n [[0.6 0.4] [790.2 -789.2]]))))
        small (-> base (assoc-in [:trajectory :modes] (vec (repeat n [0.1 1.0])))
                  (assoc-in [:trajectory :pathway-shares] (vec (repeat n [[0.6 0.4] [0.3 0.7]]))))]
    (is (= [[0.6 0.4] nil] (:final-pathway-shares (analysis/analyze zero-target))))
    (is (= [nil [0.3 0.7]] (:final-pathway-shares (analysis/analyze small))))))
