(ns dlnlab.dense
  "Plain nested-vector linear algebra for tests: the independent route that the
  kernels are checked against. Matrices are row-major vectors of rows; nothing
  here touches BLAS or the engine.")

(defn absd ^double [x] (Math/abs (double x)))

(defn transpose [a] (apply mapv vector a))

(defn mmul
  "The matrix product a b by the definition."
  [a b]
  (let [bt (transpose b)]
    (mapv (fn [row] (mapv (fn [c] (reduce + (map * row c))) bt)) a)))

(defn madd [a b] (mapv #(mapv + %1 %2) a b))

(defn msub [a b] (mapv #(mapv - %1 %2) a b))

(defn dot [x y] (reduce + (map * x y)))

(defn frob2 "The squared Frobenius norm." [a] (reduce + (map #(* % %) (flatten a))))

(defn max-abs-diff
  "The largest absolute entrywise difference of two equally shaped matrices (or vectors)."
  [a b]
  (reduce max 0.0 (map #(absd (- (double %1) (double %2))) (flatten a) (flatten b))))

(defn eye [n] (mapv (fn [i] (mapv (fn [j] (if (= i j) 1.0 0.0)) (range n))) (range n)))

(defn col "Column j of m." [m j] (mapv #(nth % j) m))

(defn normal-cdf
  "Phi(x) = 1/2 + phi(x) sum_n x^(2n+1) / (2n+1)!! (all terms positive for x > 0)."
  ^double [^double x]
  (if (neg? x)
    (- 1.0 (normal-cdf (- x)))
    (let [phi (/ (Math/exp (* -0.5 x x)) (Math/sqrt (* 2.0 Math/PI)))]
      (loop [n 0 term x sum 0.0]
        (if (or (< term (* 1e-17 sum)) (> n 2000))
          (min 1.0 (+ 0.5 (* phi sum)))
          (recur (inc n) (/ (* term x x) (+ (* 2.0 n) 3.0)) (+ sum term)))))))
