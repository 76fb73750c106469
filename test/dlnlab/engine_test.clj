(ns dlnlab.engine-test
  "Kernel-level checks of Blas and Engine against independent routes: naive
  products, central finite differences, dense Hessians and the closed-form
  spectra of SCIENCE.md §5."
  (:require [clojure.test :refer [deftest is testing]]
            [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.generators :as gen]
            [clojure.test.check.properties :as prop])
  (:import [dlnlab.kernel Arch Blas Engine Engine$Workspace Objective Rng]))

(set! *warn-on-reflection* true)

(defn- gaussians ^doubles [n seed]
  (let [a (double-array n)] (Rng/fillGaussian seed 7 0 1.0 a 0 n) a))

(defn- naive-gemm
  "C = op(A) op(B) by the definition, entries looked up one by one."
  ^doubles [ta tb m n k ^doubles a ao lda ^doubles b bo ldb]
  (let [m (long m) n (long n) k (long k) ao (long ao) lda (long lda) bo (long bo) ldb (long ldb)
        c (double-array (* m n))]
    (doseq [i (range m) j (range n)]
      (aset c (+ ^long i (* m ^long j))
            (double (reduce + (for [p (range k)]
                                (* (aget a (+ ao (if ta (+ ^long p (* lda ^long i)) (+ ^long i (* lda ^long p)))))
                                   (aget b (+ bo (if tb (+ ^long j (* ldb ^long p)) (+ ^long p (* ldb ^long j)))))))))))
    c))

(defn- max-abs-diff ^double [^doubles x ^doubles y]
  (areduce x i acc 0.0 (max acc (Math/abs (- (aget x i) (aget y i))))))

(defn- max-abs ^double [^doubles x]
  (areduce x i acc 0.0 (max acc (Math/abs (aget x i)))))

(defspec gemm-matches-naive-product 40
  (prop/for-all [[m n k] (gen/vector (gen/choose 1 40) 3)
                 ta gen/boolean, tb gen/boolean
                 [ao bo co] (gen/vector (gen/choose 0 5) 3)
                 seed gen/nat]
    (let [lda (+ (if ta k m) 2) ldb (+ (if tb n k) 1) ldc (+ m 3)
          a (gaussians (+ ao (* lda (if ta m k))) seed)
          b (gaussians (+ bo (* ldb (if tb k n))) (+ 1 seed))
          ^doubles c (gaussians (+ co (* ldc n)) (+ 2 seed))
          ^doubles c-before (aclone c)
          _ (Blas/gemm ta tb m n k 1.5 a ao lda b bo ldb 0.5 c co ldc)
          ^doubles ref (naive-gemm ta tb m n k a ao lda b bo ldb)]
      (and (every? true?
                   (for [i (range m) j (range n)]
                     (let [idx (+ co ^long i (* ldc ^long j))
                           want (+ (* 1.5 (aget ref (+ ^long i (* m ^long j)))) (* 0.5 (aget c-before idx)))]
                       (< (Math/abs (- want (aget c idx))) (* 1e-12 (+ 1.0 (Math/abs want) (double k)))))))
           ;; entries outside C's m x n window are untouched
           (every? true? (for [idx (range co) ] (= (aget c ^long idx) (aget c-before ^long idx))))))))

(deftest gemm-native-and-java-agree
  (let [m 50 n 40 k 30
        a (gaussians (* m k) 1) b (gaussians (* k n) 2)
        c1 (double-array (* m n)) c2 (double-array (* m n))]
    (is (> (* m n k) Blas/NATIVE_THRESHOLD) "this size goes to OpenBLAS")
    (Blas/gemm false false m n k 1.0 a 0 m b 0 k 0.0 c1 0 m)
    (Blas/gemmJava false false m n k 1.0 a 0 m b 0 k 0.0 c2 0 m)
    (is (< (max-abs-diff c1 c2) 1e-11))
    (testing "beta = 0 overwrites NaN in C"
      (let [c (double-array (* m n) Double/NaN)]
        (Blas/gemm false false m n k 1.0 a 0 m b 0 k 0.0 c 0 m)
        (is (every? #(not (Double/isNaN %)) c))))))

;; ---------------------------------------------------------------- random networks

(def gen-arch-spec
  "Random architectures: pathways of chains, with optional residual-style identity
  factors and multipliers, plus an objective kind."
  (gen/let [k (gen/choose 1 3)
            depth (gen/choose 1 5)
            din (gen/choose 1 5)
            dout (gen/choose 1 5)
            hidden (gen/vector (gen/choose 1 5) (dec depth))
            alphas (gen/vector (gen/elements [1.0 0.5 2.0 0.3]) depth)
            residual? gen/boolean
            obj (gen/elements [:factorization :moments :batch])
            n (gen/choose 1 9)
            seed (gen/choose 0 100000)]
    {:k k :depth depth :din din :dout dout :hidden hidden :alphas alphas
     :residual? (and residual? (>= depth 3)) :obj obj :n n :seed seed}))

(defn- build [{:keys [k depth din dout hidden alphas residual? obj n seed]}]
  (let [hidden (if residual? (vec (repeat (dec ^long depth) (or (first hidden) 2))) hidden)
        dims (vec (concat [din] hidden [dout]))
        rows (vec (for [_ (range k) l (range depth)] (dims (inc ^long l))))
        cols (vec (for [_ (range k) l (range depth)] (dims l)))
        ident (vec (for [_ (range k) l (range depth)]
                     (boolean (and residual? (< 0 ^long l (dec ^long depth))))))
        arch (Arch. (int-array (repeat k depth)) (int-array rows) (int-array cols)
                    (double-array (apply concat (repeat k alphas))) (boolean-array ident))
        x (gaussians (* ^long n ^long din) (+ ^long seed 11))
        y (gaussians (* ^long n ^long dout) (+ ^long seed 12))
        objective (case obj
                    :factorization (Objective/factorization dout din (gaussians (* ^long dout ^long din) (+ ^long seed 13)))
                    :moments (Objective/samples n din dout x y)
                    :batch (Objective/batch n din dout x y))]
    {:arch arch :objective objective
     :params (let [^doubles p (gaussians (.size arch) seed)] (Blas/scal (alength p) 0.7 p 0) p)
     :ws (Engine$Workspace. arch objective)}))

(defn- loss-at ^double [{:keys [^Arch arch ^Objective objective ws]} ^doubles p]
  (Engine/loss arch objective p ws))

(defn- grad-at ^doubles [{:keys [^Arch arch ^Objective objective ws]} ^doubles p]
  (let [g (double-array (.size arch))] (Engine/gradient arch objective p ws g) g))

(defn- hvp-at ^doubles [{:keys [^Arch arch ^Objective objective ws]} ^doubles p ^doubles v]
  (let [out (double-array (.size arch))] (Engine/hvp arch objective p v ws out) out))

(defn- shifted ^doubles [^doubles p ^long i ^double h]
  (let [q (aclone p)] (aset q i (+ (aget q i) h)) q))

(defn- along ^doubles [^doubles p ^doubles v ^double t]
  (let [q (aclone p)] (Blas/axpy (alength q) t v 0 q 0) q))

(defspec gradient-matches-central-differences 60
  (prop/for-all [s gen-arch-spec]
    (let [net (build s) p ^doubles (:params net) g (grad-at net p) h 1e-6
          fd (double-array (alength p)
                           (for [i (range (alength p))]
                             (/ (- (loss-at net (shifted p i h)) (loss-at net (shifted p i (- h)))) (* 2 h))))]
      (< (max-abs-diff g fd) (* 1e-6 (+ 1.0 (max-abs g)))))))

(defspec hvp-matches-differences-of-the-gradient 60
  (prop/for-all [s gen-arch-spec]
    (let [net (build s) p ^doubles (:params net)
          v (gaussians (alength p) (+ 99 ^long (:seed s)))
          hv (hvp-at net p v) h 1e-6
          gp (grad-at net (along p v h)) gm (grad-at net (along p v (- h)))
          fd (double-array (alength p) (map (fn [^double a ^double b] (/ (- a b) (* 2 h))) gp gm))]
      (< (max-abs-diff hv fd) (* 1e-5 (+ 1.0 (max-abs hv)))))))

(defspec a-thread-scratch-loss-is-the-fresh-workspace-loss-bit-for-bit 40
  (prop/for-all [s1 gen-arch-spec s2 gen-arch-spec]
    (let [a (build s1) b (build s2)
          fresh (fn [{:keys [^Arch arch ^Objective objective]} ^doubles p]
                  (Engine/loss arch objective p (Engine$Workspace. arch objective)))
          scratch (fn [{:keys [^Arch arch ^Objective objective]} ^doubles p] (Engine/loss arch objective p))
          same? (fn [net ^doubles p] (== (Double/doubleToRawLongBits (fresh net p))
                                         (Double/doubleToRawLongBits (scratch net p))))
          ^doubles pa (:params a)
          wild (doto (aclone pa) (java.util.Arrays/fill Double/NaN))]
      ;; the scratch kept from an earlier call (other params, another network,
      ;; non-finite values left in it) must not show in the next loss
      (and (same? a pa) (same? a (along pa pa 0.5)) (same? b (:params b))
           (Double/isNaN (scratch a wild)) (same? a pa)
           (same? b (:params b)) (same? a pa)
           ;; a's architecture with each kind of objective, in turn
           (every? (fn [kind] (same? (assoc a :objective (:objective (build (assoc s1 :obj kind)))) pa))
                   [:batch :factorization :moments :batch])))))

(defn- dense-hessian ^doubles [net ^doubles p]
  (let [n (alength p) hm (double-array (* n n))]
    (dotimes [j n]
      (let [e (double-array n)] (aset e j 1.0)
        (System/arraycopy (hvp-at net p e) 0 hm (* j n) n)))
    hm))

(defspec hvp-is-symmetric-and-matches-the-dense-hessian 40
  (prop/for-all [s gen-arch-spec]
    (let [net (build s) p ^doubles (:params net) n (alength p)
          u (gaussians n 5) v (gaussians n 6)
          hu (hvp-at net p u) hv (hvp-at net p v)
          uhv (Blas/dot n u 0 hv 0) vhu (Blas/dot n v 0 hu 0)
          hm (dense-hessian net p)
          dense-hv (double-array n)]
      (Blas/gemm false false n 1 n 1.0 hm 0 n v 0 n 0.0 dense-hv 0 n)
      (and (< (Math/abs (- uhv vhu)) (* 1e-9 (+ 1.0 (Math/abs uhv))))
           (< (max-abs-diff hv dense-hv) (* 1e-9 (+ 1.0 (max-abs hv))))))))

(deftest prepared-hvp-equals-one-shot-hvp
  (let [net (build {:k 2 :depth 3 :din 3 :dout 2 :hidden [4 3] :alphas [1.0 0.5 2.0]
                    :residual? false :obj :moments :n 6 :seed 3})
        {:keys [^Arch arch ^Objective objective ^Engine$Workspace ws]} net
        p ^doubles (:params net) v (gaussians (.size arch) 4)
        a (hvp-at net p v) b (double-array (.size arch))]
    (Engine/prepare arch objective p ws)
    (Engine/hvpPrepared arch objective ws v b)
    (Engine/hvpPrepared arch objective ws v b)
    (is (= (vec a) (vec b)) "bit-identical, and a second product reuses the prepared state")))

;; ---------------------------------------------------------------- SCIENCE.md §5

(defn- sym-eigenvalues [^doubles m ^long n]
  (let [a (aclone m) w (double-array n)]
    (Blas/symmetricEigen n a w false)
    (sort > (vec w))))

(defn- diag-net
  "A balanced global minimum of 1/2||F - diag(s)||^2 with K pathways: pathway k
  has W_l = diag((share_k s)^(1/L)) on every layer."
  [s ^long depth shares]
  (let [d (count s) k (count shares)
        arch (Arch. (int-array (repeat k depth)) (int-array (repeat (* k depth) d)) (int-array (repeat (* k depth) d))
                    (double-array (repeat (* k depth) 1.0)) (boolean-array (* k depth)))
        p (double-array (.size arch))]
    (doseq [kk (range k) l (range depth) i (range d)]
      (aset p (+ (aget ^ints (.offset arch) (+ (* ^long kk depth) ^long l)) (* ^long i (inc d)))
            (Math/pow (* ^double (nth shares kk) ^double (nth s i)) (/ 1.0 depth))))
    (let [m (double-array (* d d))]
      (doseq [i (range d)] (aset m (* ^long i (inc d)) ^double (nth s i)))
      (let [obj (Objective/factorization d d m)]
        {:arch arch :objective obj :params p :ws (Engine$Workspace. arch obj)}))))

(deftest spectrum-at-a-balanced-global-minimum
  (doseq [[s depth] [[[3.0 1.5 0.5] 2] [[2.0 1.0] 3] [[4.0 2.5 1.0] 4]]]
    (let [depth (long depth)
          net (diag-net s depth [1.0])
          p ^doubles (:params net) n (alength p)
          _ (is (< (loss-at net p) 1e-24) "it is a global minimum")
          got (sym-eigenvalues (dense-hessian net p) n)
          predicted (sort > (for [si s sj s]
                              (reduce + (for [l (range 1 (inc depth))]
                                          (* (Math/pow si (/ (* 2.0 (- depth ^long l)) depth))
                                             (Math/pow sj (/ (* 2.0 (dec ^long l)) depth)))))))
          d (count s)]
      (testing (str "s = " s ", L = " depth)
        (is (every? true? (map #(< (Math/abs (- ^double %1 ^double %2)) 1e-9) (take (* d d) got) predicted))
            "the d^2 nonzero eigenvalues are lambda_ij")
        (is (every? #(< (Math/abs ^double %) 1e-9) (drop (* d d) got)) "the rest vanish")
        (is (< (Math/abs (- ^double (first got) (* depth (Math/pow (first s) (- 2.0 (/ 2.0 depth)))))) 1e-9)
            "sharpness L s_1^(2-2/L)")))))

(deftest split-pathways-are-flatter
  (doseq [[depth shares] [[2 [0.5 0.5]] [3 [0.5 0.5]] [4 [1/3 1/3 1/3]] [4 [0.7 0.3]] [5 [1.0 0.0]]]]
    (let [depth (long depth) s 2.0
          net (diag-net [s] depth (map double shares))
          p ^doubles (:params net)
          top (first (sym-eigenvalues (dense-hessian net p) (alength p)))
          predicted (* depth (reduce + (for [pk shares] (Math/pow (* s (double pk)) (- 2.0 (/ 2.0 depth))))))]
      (is (< (Math/abs (- ^double top predicted)) 1e-9)
          (str "L = " depth ", shares " shares ": sharpness L sum pi_k^(2-2/L)")))))

(deftest svd-reconstructs-the-matrix
  (doseq [[m n] [[5 3] [3 5] [4 4] [1 6] [40 30]]]
    (let [a (gaussians (* m n) (+ m n)) r (min m n)
          s (double-array r) u (double-array (* m r)) vt (double-array (* r n))
          work (aclone a)]
      (Blas/svd m n work s u vt)
      (is (apply >= (vec s)) "descending")
      (let [us (double-array (* m r))]
        (dotimes [j r] (dotimes [i m] (aset us (+ i (* j m)) (* (aget u (+ i (* j m))) (aget s j)))))
        (let [back (double-array (* m n))]
          (Blas/gemmJava false false m n r 1.0 us 0 m vt 0 r 0.0 back 0 m)
          (is (< (max-abs-diff a back) 1e-10) (str m "x" n " U S V^T = A"))))
      (testing "singular values alone agree with the eigenvalues of A^T A"
        (let [s2 (double-array r) ata (double-array (* n n)) w (double-array n)]
          (Blas/svd m n (aclone a) s2 nil nil)
          (Blas/gemmJava true false n n m 1.0 a 0 m a 0 m 0.0 ata 0 n)
          (Blas/symmetricEigen n ata w false)
          (is (every? true? (map (fn [^double sv ^double ev] (< (Math/abs (- (* sv sv) ev)) 1e-9))
                                 (vec s2) (take r (sort > (vec w)))))))))))
