(ns dlnlab.spectra-kernels-test
  "Helpers of Lanczos in dlnlab.kernel.Spectra against independent routes: the
  blocked sweeps of the reorthogonalization (Spectra/project, Spectra/accumulate,
  Spectra/axpy2) against one Blas/dot or Blas/axpy per basis vector, equal bit
  for bit for every number of columns (each remainder of the blocking) and
  vector length; the fused sweeps of a Lanczos step (Spectra/dotPair,
  Spectra/axpy2Dot, Spectra/axpyDot) against the Blas calls they replace,
  bit for bit; the QL eigenvalues and last eigenvector row of a tridiagonal
  matrix (Spectra/tridiagonalLastRow) against LAPACK's dstev with full
  eigenvectors (Blas/tridiagonalEigen)."
  (:require [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.generators :as gen]
            [clojure.test.check.properties :as prop])
  (:import (dlnlab.kernel Blas Operator Rng Spectra)))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- gaussians
  "n seeded standard normals."
  ^doubles [n seed stream]
  (let [n (long n) a (double-array n)] (Rng/fillGaussian (long seed) (long stream) 0 1.0 a 0 n) a))

(defn- same-bits? [^doubles a ^doubles b]
  (and (== (alength a) (alength b))
       (every? (fn [^long i] (== (Double/doubleToRawLongBits (aget a i)) (Double/doubleToRawLongBits (aget b i))))
               (range (alength a)))))

(def ^:private shapes
  ;; lengths around the 4-way unrolling, column counts through every remainder
  (gen/tuple (gen/choose 1 37) (gen/choose 1 11) (gen/choose 0 100000)))

(defspec project-equals-one-dot-per-column 60
  (prop/for-all [[n cols seed] shapes]
    (let [n (long n) cols (long cols) seed (long seed)
          q (gaussians (* n cols) seed 0)
          w (gaussians n seed 1)
          h (double-array cols)
          ref (double-array cols)]
      (Spectra/project n cols q w h)
      (dotimes [c cols] (aset ref c (Blas/dot n q (* c n) w 0)))
      (same-bits? h ref))))

(defspec accumulate-equals-one-axpy-per-column 60
  (prop/for-all [[n cols seed] shapes negate? gen/boolean]
    (let [n (long n) cols (long cols) seed (long seed)
          q (gaussians (* n cols) seed 0)
          h (gaussians cols seed 2)
          w (gaussians n seed 1)
          ref (aclone w)]
      (Spectra/accumulate n cols q h (boolean negate?) w)
      (dotimes [c cols] (Blas/axpy n (if negate? (- (aget h c)) (aget h c)) q (* c n) ref 0))
      (same-bits? w ref))))

(defspec axpy2-equals-two-axpys 40
  (prop/for-all [[n _ seed] shapes]
    (let [n (long n) seed (long seed)
          x (gaussians (* 3 n) seed 0)
          w (gaussians n seed 1)
          ref (aclone w)
          a 0.37 b -1.9]
      (Spectra/axpy2 n a x n b x (* 2 n) w)
      (Blas/axpy n a x n ref 0)
      (Blas/axpy n b x (* 2 n) ref 0)
      (same-bits? w ref))))

(defspec dot-pair-equals-two-dots 40
  (prop/for-all [[n _ seed] shapes]
    (let [n (long n) seed (long seed)
          q (gaussians (* 2 n) seed 0)
          w (gaussians n seed 1)
          out (double-array 2)]
      (Spectra/dotPair n q n w out)
      (same-bits? out (double-array [(Blas/dot n w 0 w 0) (Blas/dot n q n w 0)])))))

(defspec axpy2-dot-equals-axpys-then-dot 40
  (prop/for-all [[n _ seed] shapes two? gen/boolean]
    (let [n (long n) seed (long seed)
          q (gaussians (* 3 n) seed 0)
          w (gaussians n seed 1)
          ref (aclone w)
          a -0.61 b 2.3
          s (if two?
              (Spectra/axpy2Dot n a q (* 2 n) b n w)
              (Spectra/axpy2Dot n a q (* 2 n) 0.0 -1 w))]
      (if two?
        (Spectra/axpy2 n a q (* 2 n) b q n ref)
        (Blas/axpy n a q (* 2 n) ref 0))
      (and (same-bits? w ref)
           (same-bits? (double-array [s]) (double-array [(Blas/dot n q (* 2 n) ref 0)]))))))

(defspec axpy-dot-equals-axpy-then-dot 40
  ;; the dot with another vector, and with w itself (its squared norm)
  (prop/for-all [[n _ seed] shapes self? gen/boolean]
    (let [n (long n) seed (long seed)
          q (gaussians (* 2 n) seed 0)
          w (gaussians n seed 1)
          ref (aclone w)
          s (if self? (Spectra/axpyDot n 0.83 q n w w 0) (Spectra/axpyDot n 0.83 q n w q 0))]
      (Blas/axpy n 0.83 q n ref 0)
      (and (same-bits? w ref)
           (same-bits? (double-array [s]) (double-array [(if self? (Blas/dot n ref 0 ref 0) (Blas/dot n q 0 ref 0))]))))))

(def ^:private tridiagonals
  ;; size, seed, and a scale for the off-diagonal (small ones make near-splits)
  (gen/tuple (gen/choose 1 40) (gen/choose 0 100000) (gen/elements [1.0 1e-3 1e-9 0.0])))

(defspec tridiagonal-last-row-matches-lapack 80
  (prop/for-all [[n seed off] tridiagonals]
    (let [n (long n) seed (long seed) off (double off)
          d0 (gaussians n seed 0)
          e0 (let [e (gaussians (max n 1) seed 1)] (dotimes [i n] (aset e i (* off (aget e i)))) e)
          ;; LAPACK: eigenvalues ascending, eigenvectors as columns
          dl (aclone d0) el (aclone e0) z (double-array (* n n))
          _ (Blas/tridiagonalEigen n dl el z)
          dq (aclone d0) eq (aclone e0) zl (double-array n)
          ok (Spectra/tridiagonalLastRow n dq eq zl)
          scale (double (reduce max 1e-300 (map #(Math/abs (double %)) dl)))]
      (and ok
           (every? (fn [^long i] (<= (Math/abs (- (aget dq i) (aget dl i))) (* 1e-13 scale))) (range n))
           ;; the last components agree up to sign where the eigenvalue is simple
           (every? (fn [^long i]
                     (let [gap (double (min (if (pos? i) (- (aget dl i) (aget dl (dec i))) Double/POSITIVE_INFINITY)
                                            (if (< i (dec n)) (- (aget dl (inc i)) (aget dl i)) Double/POSITIVE_INFINITY)))]
                       (or (< gap (* 1e-6 scale))
                           (<= (Math/abs (- (Math/abs (aget zl i)) (Math/abs (aget z (+ (dec n) (* i n))))))
                               (* 1e-10 (/ scale gap))))))
                   (range n))))))

(defn- symmetric-operator
  "The operator of a seeded random symmetric n x n matrix."
  ^Operator [^long n ^long seed]
  (let [a (gaussians (* n n) seed 0)]
    (dotimes [i n] (dotimes [j i] (aset a (+ i (* j n)) (aget a (+ j (* i n))))))
    (reify Operator
      (size [_] n)
      (apply [_ x y] (Blas/gemm false false n 1 n 1.0 a 0 n x 0 n 0.0 y 0 n)))))

(defn- solve
  "values, residuals, vectors and info of Spectra/lanczos, as one vector of doubles."
  [^Operator op k which warm & [lanczos-seed]]
  (let [n (.size op) k (long k)
        values (double-array k) residuals (double-array k) vectors (double-array (* n k))
        info (int-array Spectra/INFO_LENGTH)]
    (Spectra/lanczos op (int k) (int which) 1e-10 (int (min n 80)) nil warm (if warm 1 0) (long (or lanczos-seed 7)) true
                     values vectors residuals info)
    (double-array (concat values residuals vectors info))))

(defspec a-reused-workspace-solves-as-a-new-one 12
  ;; a thread keeps the arrays of its last solve (and its random start and warm
  ;; perturbation, for their seed) for the next solve of the same shape: a solve
  ;; after one of the same shape with another seed, and a solve from inside an
  ;; operator (a nested solve), give the bits of the same solve on new arrays (a
  ;; solve of another shape before it leaves none to reuse)
  (prop/for-all [n (gen/choose 3 90) k (gen/choose 1 3) which (gen/choose 0 2) seed (gen/choose 0 100000)]
    (let [n (long n) k (min (long k) n) seed (long seed)
          op (symmetric-operator n seed)
          other (symmetric-operator n (inc seed))
          evict #(solve (symmetric-operator (inc n) seed) k which nil)
          fresh (do (evict) (solve op k which nil))
          warm (java.util.Arrays/copyOfRange ^doubles fresh (int (* 2 k)) (int (+ (* 2 k) n)))
          fresh-warm (do (evict) (solve op k which warm))
          nesting (reify Operator
                    (size [_] n)
                    (apply [_ x y]
                      (solve other k which nil 8)
                      (.apply op x y)))]
      (evict)
      (solve other k which nil 8)
      (and (same-bits? fresh (solve op k which nil))
           (same-bits? fresh (solve nesting k which nil))
           (do (evict)
               (solve other k which warm 8)
               (same-bits? fresh-warm (solve op k which warm)))))))

(def ^:private clustered-tridiagonals
  ;; size, seed, how the diagonal is made (:random, :clusters of nearly equal
  ;; values, :repeated exact blocks split by zero couplings), off-diagonal scale
  (gen/tuple (gen/choose 1 60) (gen/choose 0 100000) (gen/elements [:random :clusters :repeated])
             (gen/elements [1.0 1e-3 1e-8])))

(defn- tridiagonal
  "[alpha beta] of a seeded symmetric tridiagonal matrix of size n."
  [n seed kind off]
  (let [n (long n) off (double off)
        g (gaussians n seed 0)
        e (gaussians (max n 1) seed 1)
        alpha (double-array n)
        beta (double-array (max n 1))]
    (dotimes [i n]
      (aset alpha i (case kind
                      :random (aget g i)
                      ;; values in groups of 3 within 1e-12 of each other
                      :clusters (+ (double (quot i 3)) (* 1e-12 (aget g i)))
                      ;; the same 4 x 4 block again and again, uncoupled: each
                      ;; eigenvalue repeated
                      :repeated (double (mod i 4))))
      (aset beta i (case kind
                     :repeated (if (== 3 (mod i 4)) 0.0 off)
                     (* off (aget e i)))))
    [alpha beta]))

(defspec tridiagonal-eigenvalue-matches-lapack 100
  ;; each eigenvalue of T from Gershgorin's bracket and a guess that is none, the
  ;; eigenvalue itself, a neighbour (so Newton heads for the wrong one), or a
  ;; random point: within the routine's 1e-10 relative bracket of LAPACK's dstev
  ;; (whose own error is a few eps ||T||)
  (prop/for-all [[n seed kind off] clustered-tridiagonals]
    (let [n (long n) seed (long seed)
          [^doubles alpha ^doubles beta] (tridiagonal n seed kind off)
          lam (aclone alpha)
          _ (Blas/tridiagonalEigen n lam (aclone beta) nil)
          bound (fn [^long i ^double sign]
                  (+ (aget alpha i) (* sign (+ (if (pos? i) (Math/abs (aget beta (dec i))) 0.0)
                                               (if (< i (dec n)) (Math/abs (aget beta i)) 0.0)))))
          lo (double (reduce min (map #(bound % -1.0) (range n))))
          hi (double (reduce max (map #(bound % 1.0) (range n))))
          emax (double (reduce max 0.0 (map #(Math/abs (aget beta (long %))) (range (dec n)))))
          pivmin (* Double/MIN_NORMAL (max 1.0 (* emax emax)))
          norm (max (Math/abs lo) (Math/abs hi))
          rng (java.util.Random. seed)
          work (double-array 1)]
      (every? (fn [^long idx]
                (let [exact (aget lam idx)]
                  (every? (fn [guess]
                            (let [theta (Spectra/tridiagonalEigenvalue n alpha beta idx lo hi (double guess) pivmin work)]
                              (<= (Math/abs (- theta exact)) (+ (* 0.5e-10 (Math/abs exact)) (* 1e-13 norm)))))
                          [Double/NaN exact
                           (aget lam (max 0 (dec idx))) (aget lam (min (dec n) (inc idx)))
                           (+ exact (* 1e-9 norm)) (+ lo (* (.nextDouble rng) (- hi lo)))])))
              (range n)))))
