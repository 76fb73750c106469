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
