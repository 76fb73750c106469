(ns dlnlab.linalg
  "The small dense linear algebra the model and task builders share: conversion
  between row-major nested vectors and column-major double[], a thin SVD (`svd`)
  that is exact for rank-deficient and repeated singular values, and seeded
  random orthonormal columns (`random-orthonormal`)."
  (:require [dlnlab.error :as error])
  (:import [dlnlab.kernel Blas Rng]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- nested->array
  "A double[] holding entry (i, j) of the nested rows m at i row-stride + j
  col-stride."
  ^doubles [m ^long row-stride ^long col-stride]
  (let [rows (count m)
        cols (count (first m))
        a (double-array (* rows cols))]
    (dotimes [i rows]
      (let [row (nth m i)]
        (dotimes [j cols]
          (aset a (+ (* i row-stride) (* j col-stride)) (double (nth row j))))))
    a))

(defn matrix->array
  "Column-major double[] (leading dimension rows) of a row-major nested matrix."
  ^doubles [m]
  (nested->array m 1 (count m)))

(defn array->matrix
  "Row-major nested vectors of the rows x cols column-major matrix in a (from offset off)."
  ([rows cols a] (array->matrix rows cols a 0))
  ([^long rows ^long cols ^doubles a ^long off]
   ;; a row is built in an array that `vec` adopts (up to 32 entries, without a
   ;; copy): results are written on every run, so this is on the fixed cost
   (loop [i 0 out (transient [])]
     (if (< i rows)
       (let [row (object-array cols)]
         (dotimes [j cols] (aset row j (Double/valueOf (aget a (+ off i (* j rows))))))
         (recur (inc i) (conj! out (vec row))))
       (persistent! out)))))

(defn rows->array
  "Row-major double[] of nested rows (samples as rows): the column-major d x n
  layout of Objective with samples as columns."
  ^doubles [rows]
  (nested->array rows (count (first rows)) 1))

(defmacro ^:private col-dot
  "Dot product of column p of a and column q of b (m rows each, column-major)."
  [m a p b q]
  `(Blas/dot ~m ~a (* ~p ~m) ~b (* ~q ~m)))

(defn- orthonormalize-column!
  "Makes column j of a (m rows) orthogonal to columns 0..j-1 (two passes of
  modified Gram-Schmidt) and normalizes it. Returns its norm after projection."
  ^double [^long m ^doubles a ^long j]
  (dotimes [_ 2]
    (dotimes [p j]
      (let [c (col-dot m a p a j)]
        (Blas/axpy m (- c) a (* p m) a (* j m)))))
  (let [nrm (Blas/nrm2 m a (* j m))]
    (when (> nrm 0.0) (Blas/scal m (/ 1.0 nrm) a (* j m)))
    nrm))

(defn random-orthonormal
  "A rows x cols column-major matrix with orthonormal columns (rows >= cols): the
  Q of the QR factorization (R with positive diagonal) of a matrix of independent
  N(0,1) entries Rng/gaussian(seed, stream, i + j*rows), so Haar-distributed.
  Throws ex-info when cols > rows."
  ^doubles [seed stream rows cols]
  (let [seed (long seed) stream (long stream) rows (long rows) cols (long cols)]
    (when (> cols rows)
      (error/fail! :invalid-argument (str "random-orthonormal: cannot have " cols " orthonormal columns of length " rows ".")
                   {:path [] :value [rows cols] :allowed "cols <= rows"}))
    (let [a (double-array (* rows cols))]
      (Rng/fillGaussian seed stream 0 1.0 a 0 (* rows cols))
      (dotimes [j cols]
        (when-not (> (orthonormalize-column! rows a j) 1e-8)
          (error/fail! :internal "random-orthonormal: degenerate Gaussian draw" {:path [] :value [seed stream] :allowed "a generic draw"})))
      a)))

(defn- complete-orthonormal!
  "Fills the columns of a (m rows, ncols columns) whose index is in fill with
  orthonormal vectors orthogonal to every other column of a (which must be
  orthonormal): Gram-Schmidt of the standard basis vector with the largest
  remaining component (the first such on ties)."
  [^long m ^long ncols ^doubles a fill]
  (let [fill (set fill)
        done (long-array ncols)
        ndone (long-array 1)]
    (doseq [j (range ncols) :when (not (fill j))]
      (aset done (aget ndone 0) (long j))
      (aset ndone 0 (inc (aget ndone 0))))
    (doseq [j (sort fill)]
      (let [j (long j)
            nd (aget ndone 0)
            best (long
                  (loop [i 0 best 0 bestr -1.0]
                   (if (< i m)
                     (let [r (double
                              (loop [p 0 s 0.0]
                               (if (< p nd)
                                 (let [v (aget a (+ i (* (aget done p) m)))] (recur (inc p) (+ s (* v v))))
                                 (- 1.0 s))))]
                       (if (> r (+ bestr 1e-12)) (recur (inc i) i r) (recur (inc i) best bestr)))
                     best)))]
        (java.util.Arrays/fill a (* j m) (* (inc j) m) 0.0)
        (aset a (+ best (* j m)) 1.0)
        (dotimes [_ 2]
          (dotimes [p nd]
            (let [q (aget done p)
                  c (col-dot m a q a j)]
              (Blas/axpy m (- c) a (* q m) a (* j m)))))
        (Blas/scal m (/ 1.0 (Blas/nrm2 m a (* j m))) a (* j m))
        (aset done nd j)
        (aset ndone 0 (inc nd))))
    a))

(defn- jacobi-sweeps!
  "One-sided Jacobi: rotates the columns of b (m x n) until they are mutually
  orthogonal to working precision, applying the same rotations to the columns of v
  (n x n)."
  [^long m ^long n ^doubles b ^doubles v]
  (let [tol (* 4.0 (Math/ulp 1.0) (Math/sqrt (double m)))]
    (loop [sweep 0]
      (when (> sweep 100)
        (error/fail! :invalid-argument "svd: one-sided Jacobi did not converge in 100 sweeps" {:path [] :value m :allowed "a finite matrix"}))
      (let [rotations (long-array 1)]
        (dotimes [p n]
          (loop [q (inc p)]
            (when (< q n)
              (let [alpha (col-dot m b p b p)
                    beta (col-dot m b q b q)
                    gamma (col-dot m b p b q)]
                (when (and (> alpha 0.0) (> beta 0.0)
                           (> (Math/abs gamma) (* tol (Math/sqrt (* alpha beta)))))
                  (aset rotations 0 (inc (aget rotations 0)))
                  (let [zeta (/ (- beta alpha) (* 2.0 gamma))
                        t (/ (if (>= zeta 0.0) 1.0 -1.0)
                             (+ (Math/abs zeta) (Math/sqrt (+ 1.0 (* zeta zeta)))))
                        c (/ 1.0 (Math/sqrt (+ 1.0 (* t t))))
                        s (* c t)]
                    (dotimes [i m]
                      (let [ip (+ i (* p m)) iq (+ i (* q m))
                            x (aget b ip) y (aget b iq)]
                        (aset b ip (- (* c x) (* s y)))
                        (aset b iq (+ (* s x) (* c y)))))
                    (dotimes [i n]
                      (let [ip (+ i (* p n)) iq (+ i (* q n))
                            x (aget v ip) y (aget v iq)]
                        (aset v ip (- (* c x) (* s y)))
                        (aset v iq (+ (* s x) (* c y))))))))
              (recur (inc q)))))
        (when (pos? (aget rotations 0)) (recur (inc sweep)))))))

(defn- svd-tall
  "Thin SVD of the m x n (m >= n) column-major matrix a: [s u v] with s descending
  (double[] n), u (m x n) and v (n x n) column-major. Starts from the eigenvectors
  of a^T a (LAPACK) and finishes with one-sided Jacobi, which gives every singular
  value with absolute error O(eps ||a||) and orthonormal u even for repeated or zero
  singular values (zero ones get an orthonormal completion)."
  [^long m ^long n ^doubles a]
  (let [g (double-array (* n n))
        w (double-array n)
        _ (Blas/gemm true false n n m 1.0 a 0 m a 0 m 0.0 g 0 n)
        _ (Blas/symmetricEigen n g w true)
        v g
        b (double-array (* m n))
        _ (Blas/gemm false false m n n 1.0 a 0 m v 0 n 0.0 b 0 m)
        _ (jacobi-sweeps! m n b v)
        norms (double-array n)
        _ (dotimes [j n] (aset norms j (Blas/nrm2 m b (* j m))))
        order (vec (sort-by (fn [^long j] (- (aget norms j))) (range n)))
        smax (if (pos? n) (aget norms (long (first order))) 0.0)
        cut (* smax (double (max m n)) (Math/ulp 1.0))
        s (double-array n)
        u (double-array (* m n))
        vs (double-array (* n n))
        zero (transient [])]
    (dotimes [k n]
      (let [j (long (nth order k))
            sj (aget norms j)]
        (System/arraycopy v (* j n) vs (* k n) n)
        (if (and (> sj cut) (> sj 0.0))
          (do (aset s k sj)
              (dotimes [i m] (aset u (+ i (* k m)) (/ (aget b (+ i (* j m))) sj))))
          (conj! zero k))))
    (let [zero (persistent! zero)]
      (when (seq zero) (complete-orthonormal! m n u zero)))
    ;; sign convention: the largest-magnitude entry of each v_k is positive
    (dotimes [k n]
      (let [off (* k n)
            imax (long (apply max-key (fn [^long i] (Math/abs (aget vs (+ off i)))) (range n)))]
        (when (neg? (aget vs (+ off imax)))
          (Blas/scal n -1.0 vs off)
          (Blas/scal m -1.0 u (* k m)))))
    [s u vs]))

(defn svd-array
  "Thin SVD of the rows x cols column-major matrix a: {:s double[k] :u double[rows*k]
  :v double[cols*k]} with k = min(rows, cols), M = U diag(s) V^T, s descending and
  u_i^T M v_i = s_i >= 0; u and v have orthonormal columns (completed for zero
  singular values); the largest-magnitude entry of each v_i is positive."
  [^long rows ^long cols ^doubles a]
  (if (>= rows cols)
    (let [[s u v] (svd-tall rows cols a)] {:s s :u u :v v})
    (let [at (double-array (* rows cols))]
      (dotimes [i rows] (dotimes [j cols] (aset at (+ j (* i cols)) (aget a (+ i (* j rows))))))
      ;; M^T = U' S V'^T  =>  M = V' S U'^T; flip signs to keep the convention on v = U'
      (let [[s ^doubles u' ^doubles v'] (svd-tall cols rows at)
            k rows]
        (dotimes [c k]
          (let [off (* c cols)
                imax (long (apply max-key (fn [^long i] (Math/abs (aget u' (+ off i)))) (range cols)))]
            (when (neg? (aget u' (+ off imax)))
              (Blas/scal cols -1.0 u' off)
              (Blas/scal rows -1.0 v' (* c rows)))))
        {:s s :u v' :v u'}))))

(defn svd
  "Thin SVD of a row-major nested matrix M (dout x din) as plain data:
  {:singular-values [s_1 ... s_k] :u U :v V}, k = min(dout, din), U (dout x k) and
  V (din x k) row-major nested with the singular vectors as columns, so
  M = U diag(s) V^T; s descending, u_i^T M v_i = s_i >= 0, exact for rank-deficient
  and repeated singular values (singular vectors of zero singular values complete
  U and V to orthonormal columns). Singular values below max(dout, din) eps s_1 are
  reported as 0 (the numerical rank, as numpy.linalg.matrix_rank decides it)."
  [m]
  (let [rows (count m) cols (count (first m))
        {:keys [^doubles s u v]} (svd-array rows cols (matrix->array m))
        k (min rows cols)]
    {:singular-values (vec s)
     :u (array->matrix rows k u)
     :v (array->matrix cols k v)}))
