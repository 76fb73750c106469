(ns dlnlab.metrics-spectral-test
  "The spectral metrics of dlnlab.metrics.spectral against independent routes:
  the mode directions by finite differences of u_i^T F v_j, the Hessian as a
  dense matrix decomposed by LAPACK, the eigenvalues lambda_ij of a balanced
  minimum in closed form (doc/science.md §5), and the number of oscillating
  modes of the beyond-edge-of-stability theory (§6, dlnlab.theory)."
  (:require [clojure.test :refer [deftest is testing]]
            [dlnlab.core :as dln]
            [dlnlab.dense :as dense]
            [dlnlab.engine :as engine]
            [dlnlab.metrics.spectral :as spectral]
            [dlnlab.network :as network]
            [dlnlab.studies.edge-of-stability :as eos]
            [dlnlab.theory :as theory])
  (:import [dlnlab.kernel Blas]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def ^:private targets [3.0 2.0 1.0])
(def ^:private depth 3)

(defn- at-minimum
  "A chain of depth 3 at the balanced aligned global minimum of a 3 x 3
  factorization with random singular vectors."
  []
  (dln/network {:seed 5
                :model {:kind :chain :depth depth :width 3
                        :init {:kind :balanced-aligned :strengths targets}}
                :task {:kind :matrix-factorization :singular-values targets :dims [3 3]}}))

(defn- lambda
  "lambda_ij = sum_l s_i^(2(L-l)/L) s_j^(2(l-1)/L) (doc/science.md §5)."
  ^double [^double si ^double sj ^long L]
  (reduce + (for [^long l (range 1 (inc L))]
              (* (Math/pow si (/ (* 2.0 (- L l)) L)) (Math/pow sj (/ (* 2.0 (dec l)) L))))))

(defn- fd-directions
  "d_ij = grad of u_i^T F v_j over the packed weights, by central differences
  of the end-to-end matrix (F is a polynomial of degree 3 in the weights, so
  the error is h^2 times its third derivative, about 1e-10 here):
  {[i j] packed vector}."
  [net]
  (let [{:keys [u v]} (get-in net [:task :target-svd])
        p0 ^doubles (:params net)
        n (alength p0)
        h 1e-5
        f-at (fn [^long k ^double dx]
               (let [p (aclone p0)]
                 (aset p k (+ (aget p k) dx))
                 (network/end-to-end (assoc net :params p))))
        diffs (mapv (fn [k] (dense/msub (f-at k h) (f-at k (- h)))) (range n))
        r (count targets)]
    (into {} (for [i (range r) j (range r)]
               [[i j] (mapv (fn [df] (/ (double (dense/dot (dense/col u i) (mapv #(dense/dot % (dense/col v j)) df)))
                                        (* 2.0 h)))
                            diffs)]))))

(defn- dense-eigen
  "Eigenvalues (descending) and unit eigenvectors of the dense Hessian, by LAPACK dsyevd."
  [net]
  (let [hm (dln/hessian net)
        n (count hm)
        a (double-array (* n n))]
    (dotimes [i n] (dotimes [j n] (aset a (+ i (* j n)) (double (get-in hm [i j])))))
    (let [w (double-array n)]
      (Blas/symmetricEigen n a w true)
      {:hessian hm
       :values (vec (reverse w))
       :vectors (vec (reverse (for [^long c (range n)] (vec (java.util.Arrays/copyOfRange a (int (* c n)) (int (* (inc c) n)))))))})))

(defn- unit [v] (let [nv (Math/sqrt (double (dense/dot v v)))] (mapv #(/ (double %) nv) v)))

(deftest mode-directions-are-the-hessian-eigenvectors-at-a-balanced-minimum
  (let [net (at-minimum)
        {:keys [hessian]} (dense-eigen net)
        dirs (fd-directions net)]
    (is (< (dln/loss net) 1e-20))
    (doseq [[[i j] d] dirs
            :let [lam (lambda (targets i) (targets j) depth)
                  hd (mapv #(dense/dot % d) hessian)
                  nd (Math/sqrt (double (dense/dot d d)))]]
      ;; the residual of the closed-form pair, relative to lambda ||d|| (finite differences: ~1e-10)
      (is (< (/ (Math/sqrt (double (dense/frob2 (mapv #(- (double %1) (* lam (double %2))) hd d)))) (* lam nd)) 1e-7)
          (str "H d_" i j " = lambda_" i j " d_" i j)))))

(deftest eigvec-mode-overlap-matches-the-dense-route
  (let [net (at-minimum)
        k 6
        ;; the top six: lambda_11, the pair lambda_12 = lambda_21, lambda_22, the pair lambda_13 = lambda_31
        overlaps (spectral/eigvec-mode-overlap net {:k k :tol 1e-12})
        {:keys [values vectors]} (dense-eigen net)
        dirs (into {} (for [[ij d] (fd-directions net)] [ij (unit d)]))
        r (count targets)
        clusters (partition-by #(Math/round (* 1e6 (double %))) (take k values))]
    (is (= k (count overlaps)))
    (is (= [1 2 1 2] (map count clusters)) "the closed form's multiplicities")
    (is (> (dense/absd (- (double (nth values k)) (double (last (take k values))))) 1.0)
        "the seventh eigenvalue lies apart: the clusters are complete")
    (loop [start 0 [c & more] clusters]
      (when c
        (let [start (long start)
              idx (range start (+ start (count c)))
              lam (double (first c))]
          (doseq [i (range r) j (range r)
                  :let [metric-sum (reduce + 0.0 (map #(double (get-in (vec overlaps) [% i j])) idx))
                        dense-sum (reduce + 0.0 (map #(Math/pow (double (dense/dot (nth vectors %) (dirs [i j]))) 2.0) idx))
                        in-cluster? (< (dense/absd (- lam (lambda (targets i) (targets j) depth))) 1e-9)]]
            ;; within a cluster the sum of squared overlaps is basis-free (the projector onto the eigenspace)
            (is (< (dense/absd (- (double metric-sum) (double dense-sum))) 1e-6) (str "cluster " lam " mode pair " [i j]))
            (is (< (dense/absd (- (double metric-sum) (if in-cluster? 1.0 0.0))) 1e-6)
                (str "cluster " lam " carries mode pair " [i j] " exactly when lambda_ij = " lam)))
          (recur (+ start (count c)) more))))))

(deftest eigvec-mode-overlap-edges
  (testing "at the origin no mode pair has a direction: every entry is nil"
    (let [zero [[[[0.0 0.0] [0.0 0.0]] [[0.0 0.0] [0.0 0.0]]]]
          net (dln/network {:seed 1 :model {:kind :chain :depth 2 :width 2 :init {:kind :given :weights zero}}
                            :task {:kind :matrix-factorization :singular-values [2.0 1.0] :dims [2 2]}})]
      (is (= [[[nil nil] [nil nil]]] (spectral/eigvec-mode-overlap net {:k 1})))))
  (testing "off the minimum, with orthogonal mode directions (scaled identity, last layer zero), the overlaps of a unit vector add up to at most 1"
    (let [net (dln/network {:seed 1 :model {:kind :chain :depth 3 :width 2 :init {:kind :scaled-identity :alpha 0.1}}
                            :task {:kind :matrix-factorization :singular-values [2.0 1.0] :dims [2 2]}})]
      (doseq [o (spectral/eigvec-mode-overlap net {:k 3})]
        (is (every? #(<= 0.0 (double %)) (flatten o)))
        (is (<= (double (reduce + (flatten o))) (+ 1.0 1e-12))))))
  (testing "the metric runs in an experiment with a warm start from its state"
    (let [r (dln/run {:seed 5
                      :model {:kind :chain :depth depth :width 3 :init {:kind :balanced-aligned :strengths targets}}
                      :task {:kind :matrix-factorization :singular-values targets :dims [3 3]}
                      :optimizer {:kind :gd :lr 0.01} :steps 4
                      :record {:every 2 :metrics [:eigvec-mode-overlap] :eigvec-mode-overlap {:k 1}}})
          rows (get-in r [:trajectory :eigvec-mode-overlap])]
      (is (= 3 (count rows)))
      ;; the top eigenvector stays on mode pair (1, 1)
      (is (every? #(< (dense/absd (- 1.0 (double (get-in % [0 0 0])))) 1e-8) rows)))))

;; ---------------------------------------------------------------- oscillation subspace

(defn- eos-run
  "GD on the beyond-edge-of-stability setting (studies: depth 3, targets 10,
  8.5, 7, scaled-identity init) with the oscillation subspace recorded over
  windows of 40 steps; returns the last value."
  [lr]
  (let [exp (-> (eos/factorization-experiment (assoc eos/setup :lr lr :steps 4000 :metrics [:oscillation-subspace]))
                (assoc-in [:record :oscillation-subspace] {:window 40}))
        r (dln/run exp)]
    (is (= :completed (:status r)))
    (last (remove nil? (get-in r [:trajectory :oscillation-subspace])))))

(deftest oscillation-dimension-is-the-theory-count
  ;; one learning rate inside each interval of #{i : lr > 2/S_i} (0 to 3 modes)
  (doseq [lr (eos/claim-learning-rates eos/setup)
          :let [m (theory/oscillating-mode-count (:targets eos/setup) (:depth eos/setup) lr)
                [dim hessian-cos mode-cos] (eos-run lr)]]
    (testing (str "lr " lr ", theory: " m " oscillating modes")
      (is (= m dim))
      (is (= m (count mode-cos)) "the modes above 2/eta are the ones the theory names")
      (is (every? #(> (double %) (- 1.0 1e-6)) mode-cos) "the oscillation spans exactly their directions")
      (when (pos? (long m))
        ;; the top eigenvector of the Hessian averaged over the orbit is mode 1's direction
        (is (> (double (first hessian-cos)) (- 1.0 1e-6)))))))

(deftest oscillation-subspace-of-constructed-iterates
  (let [net (at-minimum)
        n (engine/size net)
        ^doubles p0 (:params net)
        e (fn [^long k] (let [v (double-array n)] (aset v k 1.0) v))
        ;; a period-2 swing along e_0, a period-4 swing along e_1 + e_2 and a drift along e_3
        its (for [t (range 21)]
              (let [p (aclone p0)
                    t (long t)]
                (Blas/axpy n (if (even? t) 0.1 -0.1) (e 0) 0 p 0)
                (Blas/axpy n (case (rem t 4) 0 0.05 1 0.0 2 -0.05 3 0.0) (e 1) 0 p 0)
                (Blas/axpy n (case (rem t 4) 0 0.05 1 0.0 2 -0.05 3 0.0) (e 2) 0 p 0)
                (Blas/axpy n (* 1e-3 (double t)) (e 3) 0 p 0)
                p))
        r (spectral/oscillation-subspace net its {:k 1})]
    (is (= 2 (:dimension r)) "two swinging directions; the constant drift is not an oscillation")
    (is (= 20 (:window r)))
    (is (= 1 (count (get-in r [:hessian :cosines]))))
    (is (nil? (:modes r)) "no threshold given")
    (testing "a still run has dimension 0"
      (is (zero? (long (:dimension (spectral/oscillation-subspace net (repeat 5 p0)))))))
    (testing "too few iterates"
      (is (thrown-with-msg? clojure.lang.ExceptionInfo #"at least 3"
                            (spectral/oscillation-subspace net [p0 p0]))))))
