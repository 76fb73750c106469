(ns dlnlab.spectra-kernels-test
  "Helpers of Lanczos in dlnlab.kernel.Spectra against independent routes: the
  blocked sweeps of the reorthogonalization (Spectra/project, Spectra/accumulate,
  Spectra/axpy2, Spectra/project2) against one Blas/dot or Blas/axpy per basis
  vector (two dots for project2), equal bit
  for bit for every number of columns (each remainder of the blocking) and
  vector length; the two sweeps of a Lanczos step (Spectra/stepSweep,
  Spectra/stepResidual) against the Blas calls they replace, bit for bit;
  the eigenvalues, last eigenvector row (Spectra/tridiagonalLastRow,
  Spectra/tridiagonalEigenvalue) and single eigenvectors by inverse iteration
  (Spectra/tridiagonalEigenvector) of a tridiagonal matrix against LAPACK's
  dstev with full eigenvectors (Blas/tridiagonalEigen)."
  (:require [clojure.test :refer [deftest is]]
            [clojure.test.check.clojure-test :refer [defspec]]
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

;; The two sweeps of a Lanczos step against the Blas calls they replace, bit
;; for bit: the operator argument scaled (scal) into the basis column, the
;; product scaled and its squared norm (scal, dot), the previous vector scaled
;; by its own factor and subtracted (scal, axpy; none when it is the argument
;; itself with b = 0) and the dot after it; then the current basis vector
;; subtracted (axpy) into the next vector, the product and the argument left
;; as they were, and its squared norm (dot).

(defspec step-sweep-equals-blas-calls 40
  (prop/for-all [[n _ seed] shapes previous? gen/boolean]
    (let [n (long n) seed (long seed)
          u (gaussians n seed 0)
          p (if previous? (gaussians n seed 2) u)
          q (gaussians (* 3 n) seed 3)
          w (gaussians n seed 1)
          s 0.37 sp 1.7 b (if previous? -1.9 0.0)
          out (double-array 2)
          x (aclone u) rq (aclone q) rw (aclone w) rp (aclone p)]
      (Spectra/stepSweep n s u q n b sp p w out)
      (Blas/scal n s x 0)
      (System/arraycopy x 0 rq n n)
      (Blas/scal n s rw 0)
      (Blas/scal n sp rp 0)
      (let [before (Blas/dot n rw 0 rw 0)]
        (Blas/axpy n (- b) (if previous? rp x) 0 rw 0)
        (and (same-bits? u (gaussians n seed 0)) (same-bits? q rq) (same-bits? w rw)
             (or (not previous?) (same-bits? p (gaussians n seed 2)))
             (same-bits? out (double-array [before (Blas/dot n x 0 rw 0)])))))))

(defspec step-residual-equals-axpy-then-dot 40
  (prop/for-all [[n _ seed] shapes]
    (let [n (long n) seed (long seed)
          u (gaussians n seed 0)
          w (gaussians n seed 1)
          y (double-array n)
          s 0.83
          x (aclone u) rw (aclone w)
          squares (Spectra/stepResidual n -0.61 s u w y)]
      (Blas/scal n s x 0)
      (Blas/axpy n 0.61 x 0 rw 0)
      (and (same-bits? y rw) (same-bits? u (gaussians n seed 0))
           (same-bits? w (gaussians n seed 1))
           (same-bits? (double-array [squares]) (double-array [(Blas/dot n rw 0 rw 0)]))))))

(defspec project2-equals-two-dots-per-column 60
  (prop/for-all [[n cols seed] shapes]
    (let [n (long n) cols (long cols) seed (long seed)
          q (gaussians (* n cols) seed 0)
          u (gaussians n seed 1)
          ;; x at an offset inside a longer array, as the basis column it is
          x (gaussians (* 2 n) seed 2)
          h (double-array cols) g (double-array cols)
          rh (double-array cols) rg (double-array cols)]
      (Spectra/project2 n cols q u x n h g)
      (dotimes [c cols]
        (aset rh c (Blas/dot n q (* c n) u 0))
        (aset rg c (Blas/dot n q (* c n) x n)))
      (and (same-bits? h rh) (same-bits? g rg)))))

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
                      (.apply ^Operator op x y)))]
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
                      :repeated (double (rem i 4))))
      (aset beta i (case kind
                     :repeated (if (== 3 (rem i 4)) 0.0 off)
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

(defspec tridiagonal-eigenvector-against-lapack 100
  ;; Inverse iteration from a shift 0.7e-10 ||T|| off each eigenvalue (within
  ;; the precision of tridiagonalEigenvalue): z is a unit vector, the residual
  ;; returned is ||T z - rho z|| of it, and some eigenvalue lies within that
  ;; residual of rho (true of any unit vector). Where the eigenvalue is apart
  ;; from the others by 1e-3 ||T|| or more, rho is that eigenvalue and z its
  ;; eigenvector (LAPACK's, up to sign): the shift error shrinks by 7e-8 per
  ;; solve, leaving rounding (a few eps ||T|| over the gap).
  (prop/for-all [[n seed kind off] clustered-tridiagonals]
    (let [n (long n) seed (long seed)
          [^doubles alpha ^doubles beta] (tridiagonal n seed kind off)
          lam (aclone alpha)
          vs (double-array (* n n))
          _ (Blas/tridiagonalEigen n lam (aclone beta) vs)
          norm (max 1e-300 (double (reduce max (map #(Math/abs (double %)) lam))))
          z (double-array n)
          work (double-array (* 5 n))
          tz (fn ^double [^long i]
               (+ (* (aget alpha i) (aget z i))
                  (if (pos? i) (* (aget beta (dec i)) (aget z (dec i))) 0.0)
                  (if (< i (dec n)) (* (aget beta i) (aget z (inc i))) 0.0)))]
      (every? (fn [^long idx]
                (let [exact (aget lam idx)
                      rho (Spectra/tridiagonalEigenvector n alpha beta (+ exact (* 0.7e-10 norm))
                                                          (max Double/MIN_NORMAL (* 2.2e-16 norm)) z 0 work)
                      res (aget work 0)
                      unit (Math/sqrt (reduce + (map #(* (aget z (long %)) (aget z (long %))) (range n))))
                      own (Math/sqrt (reduce + (map (fn [^long i] (let [r (- (double (tz i)) (* rho (aget z i)))] (* r r)))
                                                    (range n))))
                      nearest (double (reduce min (map #(Math/abs (- rho (aget lam (long %)))) (range n))))
                      gap (double (reduce min Double/POSITIVE_INFINITY
                                          (map #(Math/abs (- exact (aget lam (long %)))) (remove #{idx} (range n)))))
                      overlap (Math/abs (double (reduce + (map #(* (aget z (long %)) (aget vs (+ (* idx n) (long %))))
                                                               (range n)))))]
                  (and (<= (Math/abs (- unit 1.0)) 1e-14)
                       (<= (Math/abs (- own res)) (* 1e-14 norm))
                       (<= nearest (+ res (* 1e-14 norm)))
                       (or (< gap (* 1e-3 norm))
                           (and (<= res (* 1e-13 norm))
                                (<= (Math/abs (- rho exact)) (* 1e-13 norm))
                                (<= (- 1.0 overlap) 1e-12))))))
              (range n)))))

;; Partial reorthogonalization keeps the Lanczos basis semi-orthogonal: every
;; vector stays within sqrt(eps) = 2^-26 of orthogonal to the earlier ones or
;; is reorthogonalized against them. Measured directly on the basis of runs
;; whose unwanted outliers converge early and pull the later vectors towards
;; them (the classic loss of orthogonality), at both ends; the runs must have
;; reorthogonalized, so the check is not vacuous.

(defn- diagonal-operator ^Operator [^doubles d]
  (let [n (alength d)]
    (reify Operator
      (size [_] n)
      (apply [_ x y] (dotimes [i n] (aset ^doubles y i (* (aget d i) (aget ^doubles x i))))))))

(deftest lanczos-basis-stays-semi-orthogonal
  (let [spectra {:outlier (fn [^long n] (cons 100.0 (map #(/ (double %) n) (range 1 n))))
                 :two-outliers (fn [^long n] (concat [100.0 50.0] (map #(/ (double %) n) (range 2 n))))
                 :geometric (fn [^long n] (map #(Math/pow 0.8 %) (range n)))}
        runs (for [[label f] spectra n [50 400] which [Spectra/LARGEST Spectra/SMALLEST] seed [0 1 2]]
               (let [out (double-array 3)]
                 (Spectra/basisOrthogonality (diagonal-operator (double-array (f n))) which (min 80 (long n)) seed out)
                 {:case [label n which seed] :loss (aget out 0) :reorths (aget out 1) :size (aget out 2)}))]
    (doseq [{:keys [case loss size]} runs]
      (is (<= (double loss) (Math/pow 2.0 -26.0)) (str case ": basis of " size " vectors, largest |q_i.q_j| " loss)))
    (is (some #(and (pos? (double (:reorths %))) (>= (double (:size %)) 40.0)) runs)
        "some long run reorthogonalized (the loss of orthogonality did occur)")))
