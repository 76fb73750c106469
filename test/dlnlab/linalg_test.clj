(ns dlnlab.linalg-test
  (:require [dlnlab.dense :refer [absd col dot eye frob2 max-abs-diff mmul transpose]]
            [clojure.test :refer [deftest is testing]]
            [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.generators :as gen]
            [clojure.test.check.properties :as prop]
            [dlnlab.gen :as g]
            [dlnlab.linalg :as linalg]))

;; ---------------------------------------------------------------------------
;; SVD

(defn- svd-checks
  "{what true-or-false} of the properties of a thin SVD d of the matrix m."
  [m {:keys [singular-values u v]}]
  (let [k (min (count m) (count (first m)))
        scale (max 1.0 (Math/sqrt (frob2 m)))
        us (mapv (fn [row] (mapv * row singular-values)) u)]
    {"k singular values and vectors" (= k (count singular-values) (count (first u)) (count (first v)))
     "non-negative" (every? #(>= % 0.0) singular-values)
     "descending" (apply >= singular-values)
     "M = U diag(s) V^T" (< (max-abs-diff (mmul us (transpose v)) m) (* 1e-12 scale))
     "U has orthonormal columns" (< (max-abs-diff (mmul (transpose u) u) (eye k)) 1e-12)
     "V has orthonormal columns" (< (max-abs-diff (mmul (transpose v) v) (eye k)) 1e-12)
     "u_i^T M v_i = s_i" (every? (fn [i] (< (absd (- (dot (col u i) (mapv #(dot % (col v i)) m)) (nth singular-values i)))
                                            (* 1e-12 scale)))
                                 (range k))
     "sum s_i^2 = ||M||_F^2" (< (absd (- (reduce + (map #(* % %) singular-values)) (frob2 m))) (* 1e-11 scale scale))}))

(defn- check-svd
  "Asserts that svd of m is a valid thin SVD; returns the svd."
  [m]
  (let [d (linalg/svd m)]
    (doseq [[what ok?] (svd-checks m d)] (is ok? what))
    d))

(defspec svd-of-random-matrices 40
  (prop/for-all [m (gen/let [r g/dim c g/dim] (g/matrix r c))]
    (every? true? (vals (svd-checks m (linalg/svd m))))))

(defn- orthonormal [seed stream rows cols]
  (linalg/array->matrix rows cols (linalg/random-orthonormal seed stream rows cols)))

(deftest svd-with-repeated-and-zero-singular-values
  (doseq [[rows cols s] [[5 3 [2.0 2.0 0.5]] [3 5 [1.0 1.0 1.0]] [4 4 [3.0 0.0 0.0 0.0]]
                         [6 2 [0.0 0.0]] [2 6 [1.5 0.0]] [1 1 [0.0]] [4 3 [1.0 1.0 1e-9]]]]
    (let [k (count s)
          q1 (orthonormal 11 1 rows k)
          q2 (orthonormal 11 2 cols k)
          m (mmul (mapv (fn [row] (mapv * row s)) q1) (transpose q2))
          d (check-svd m)]
      (is (< (max-abs-diff (:singular-values d) (sort > s)) 1e-12) (str "singular values of " [rows cols s])))))

(deftest svd-of-a-rank-one-product
  (let [a [[1.0] [2.0] [-1.0]]
        b [[0.5 -1.0 2.0 1.0]]
        m (mmul a b)
        d (check-svd m)]
    (is (< (absd (- (first (:singular-values d)) (* (Math/sqrt 6.0) (Math/sqrt 6.25)))) 1e-12))
    (is (every? #(< % 1e-12) (rest (:singular-values d))))))

(deftest random-orthonormal-is-orthonormal-and-seeded
  (doseq [[r c] [[1 1] [5 3] [6 6] [40 7]]]
    (let [q (orthonormal 3 9 r c)]
      (is (< (max-abs-diff (mmul (transpose q) q) (eye c)) 1e-13))))
  (is (= (orthonormal 3 9 5 3) (orthonormal 3 9 5 3)))
  (is (not= (orthonormal 3 9 5 3) (orthonormal 3 10 5 3)))
  (is (not= (orthonormal 3 9 5 3) (orthonormal 4 9 5 3)))
  (is (thrown? clojure.lang.ExceptionInfo (linalg/random-orthonormal 1 1 2 3))))

(deftest array->matrix-reads-column-major-into-rows
  (testing "entry (i, j) of the nested rows is a[off + i + j rows], for widths on both sides of 32"
    (doseq [[rows cols off] [[1 1 0] [3 5 2] [7 33 1] [40 2 0]]]
      (let [a (double-array (map #(- (* 0.5 (double %)) 3.0) (range (+ off (* rows cols)))))
            m (linalg/array->matrix rows cols a off)]
        (is (= (for [i (range rows)] (for [j (range cols)] (aget a (+ off i (* j rows))))) m))
        (is (vector? m))
        (is (every? vector? m))
        (is (= [rows cols] [(count m) (count (first m))]))))))
