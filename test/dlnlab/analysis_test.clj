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
