(ns dlnlab.statistics-test
  "The Kolmogorov-Smirnov distance on cases whose value is known exactly, on both
  sides of the CDF (a one-sided statistic fails one of them), and against a brute
  force evaluation of sup |F_n - F| on random samples."
  (:require [clojure.test :refer [deftest is testing]]
            [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.generators :as gen]
            [clojure.test.check.properties :as prop]
            [dlnlab.numeric :refer [ks-distance]]))

(defn- uniform-cdf ^double [^double x] (min 1.0 (max 0.0 x)))

(defn- ks= [want xs] (< (Math/abs (- (double want) (double (ks-distance xs uniform-cdf)))) 1e-15))

(deftest ks-distance-on-exact-cases
  (testing "samples all below the CDF's mass: F_n - F is largest, 1 - 0.2 at x = 0.2"
    (is (ks= 0.8 [0.1 0.2])))
  (testing "samples all above it: F - F_n is largest, 0.8 - 0 just below x = 0.8"
    (is (ks= 0.8 [0.9 0.8])))
  (testing "samples at the midpoints (i - 1/2)/n: 1/(2n) on both sides"
    (is (ks= 0.05 (map #(/ (+ % 0.5) 10.0) (range 10)))))
  (testing "one sample: the jump at x from 0 to 1"
    (is (ks= 0.75 [0.25]))
    (is (ks= 0.5 [0.5])))
  (testing "the order of the samples does not matter"
    (is (== (ks-distance [0.3 0.1 0.7 0.2] uniform-cdf) (ks-distance [0.1 0.2 0.3 0.7] uniform-cdf)))))

(defn- brute-force
  "sup |F_n - F| evaluated at every sample from both sides (F_n(x-) and F_n(x)),
  where the supremum of a step function against a continuous increasing F is."
  ^double [xs cdf]
  (let [n (double (count xs))]
    (reduce max (for [x xs
                      :let [below (count (filter #(< (double %) (double x)) xs))
                            at (count (filter #(<= (double %) (double x)) xs))
                            f (double (cdf x))]]
                  (max (Math/abs (- f (/ below n))) (Math/abs (- (/ at n) f)))))))

(defspec ks-distance-is-the-two-sided-supremum 100
  (prop/for-all [xs (gen/not-empty (gen/vector (gen/double* {:min 0.0 :max 1.0 :NaN? false}) 1 40))]
    (< (Math/abs (- (double (ks-distance xs uniform-cdf)) (brute-force xs uniform-cdf))) 1e-12)))
