(ns dlnlab.numeric-test
  "dlnlab.numeric against closed forms and definitions."
  (:require [clojure.test :refer [deftest is testing]]
            [dlnlab.numeric :as numeric]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- close? [a b rel]
  (<= (Math/abs (- (double a) (double b))) (* (double rel) (max 1e-300 (Math/abs (double b))))))

(deftest integrate-against-closed-forms
  (is (close? (numeric/integrate (fn ^double [^double x] (Math/exp x)) 0.0 1.0) (- Math/E 1.0) 1e-13))
  (is (close? (numeric/integrate (fn ^double [^double x] (Math/sin x)) 0.0 Math/PI) 2.0 1e-13))
  (testing "a narrow peak is resolved"
    (is (close? (numeric/integrate (fn ^double [^double x] (Math/exp (/ (- (Math/pow (- x 0.3) 2.0)) 2e-4))) 0.0 1.0)
                (* 0.01 (Math/sqrt (* 2.0 Math/PI))) 1e-9)))
  (is (close? (numeric/integrate (fn ^double [^double x] (* x x)) 2.0 -1.0) -3.0 1e-13)))

(deftest gauss-kronrod-15-is-exact-for-polynomials-up-to-degree-22
  (is (close? (numeric/gauss-kronrod-15 (fn ^double [^double x] (Math/pow x 22.0)) 0.0 1.0) (/ 1.0 23.0) 1e-14)))

(deftest bisect-and-golden-max-against-closed-forms
  (is (close? (numeric/bisect (fn ^double [^double x] (- (* x x) 2.0)) 0.0 2.0) (Math/sqrt 2.0) 1e-15)
      "to a few ulp")
  (is (close? (numeric/bisect (fn ^double [^double x] (- (Math/cos x) x)) 0.0 1.0) 0.7390851332151607 1e-15))
  (is (close? (numeric/golden-max (fn ^double [^double x] (- (Math/pow (- x 0.3) 2.0))) 0.0 1.0) 0.3 1e-7)
      "golden section resolves the maximizer to about sqrt(eps)")
  (is (close? (numeric/golden-max (fn ^double [^double x] (* x (Math/exp (- x)))) 0.0 5.0) 1.0 1e-7)))

(deftest finite-is-a-number-neither-nan-nor-infinite
  (is (every? numeric/finite? [0 -1.5 1e308 3/4]))
  (is (not-any? numeric/finite? [##NaN ##Inf ##-Inf nil "1" :a])))

(deftest interpolate-rows-linearly-in-time
  (let [ts [0.0 1.0 3.0]
        ys [[0.0 10.0] [2.0 nil] [6.0 30.0]]]
    (is (= [1.0 nil] (numeric/interpolate ts ys 0.5)) "nil where an end is unknown")
    (is (= [4.0 nil] (numeric/interpolate ts ys 2.0)))
    (is (= [6.0 nil] (numeric/interpolate ts ys 3.0)) "nil when either neighbour is unknown")
    (is (= [6.0 30.0] (numeric/interpolate ts (assoc ys 1 [2.0 20.0]) 9.0)) "held at the last row")))

(deftest statistics-by-definition
  (let [xs [4.0 1.0 3.0 2.0]]
    (is (= [2.5 (Math/sqrt (/ (/ 5.0 3.0) 4.0))] (numeric/mean-and-se xs))
        "the mean and sqrt(sample variance / n)")
    (is (nil? (numeric/mean-and-se [])))
    (let [{:keys [count mean std median quantiles]} (numeric/summary (conj xs nil) [0.25])]
      (is (= 4 count) "nil values are dropped")
      (is (= 2.5 mean median))
      (is (close? std (Math/sqrt (/ 5.0 3.0)) 1e-15))
      (is (= 1.75 (get quantiles 0.25)) "type 7: 1 + 0.75 (2 - 1)"))
    (is (= {:edges [1.0 2.5 4.0] :counts [2 2]} (numeric/histogram xs 2)))
    (is (= {:edges [] :counts []} (numeric/histogram [] 3)))))

(deftest ks-distance-by-definition
  (testing "one sample at the median of U(0, 1): the empirical CDF jumps from 0 to 1 at 0.5"
    (is (= 0.5 (numeric/ks-distance [0.5] (fn [x] x)))))
  (testing "n evenly placed samples (k - 1/2)/n: the distance is 1/(2n)"
    (let [n 50 xs (map #(/ (+ (double %) 0.5) n) (range n))]
      (is (close? (numeric/ks-distance xs (fn [x] x)) (/ 0.5 n) 1e-12)))))
