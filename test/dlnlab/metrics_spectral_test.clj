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

(def ^:private minima
  "Balanced aligned global minima of a 3 x 3 factorization with random singular
  vectors (and random hidden bases), with the strength of each mode in each
  pathway: a chain, and two pathways sharing the modes unequally."
  {:chain {:experiment {:seed 5
                        :model {:kind :chain :depth depth :width 3
                                :init {:kind :balanced-aligned :strengths targets}}
                        :task {:kind :matrix-factorization :singular-values targets :dims [3 3]}}
           :pathway-strengths [targets]}
   :multi-pathway {:experiment {:seed 6
                                :model {:kind :multi-pathway :pathways 2 :depth depth :width 3
                                        :init {:kind :pathway-split :strengths targets
                                               :shares [[0.7 0.5 0.2] [0.3 0.5 0.8]]}}
                                :task {:kind :matrix-factorization :singular-values targets :dims [3 3]}}
                   :pathway-strengths [(mapv * targets [0.7 0.5 0.2]) (mapv * targets [0.3 0.5 0.8])]}})

(defn- at-minimum [kind] (dln/network (get-in minima [kind :experiment])))

(defn- lambda
  "lambda_ij = sum_k sum_l pi_ki^(2(L-l)/L) pi_kj^(2(l-1)/L) over pathways k with
  strengths pi_k (doc/science.md §5 for one pathway: at a minimum the Hessian is
  J^T J, and J J^T (u_i v_j^T) adds up each pathway's factor products)."
  ^double [kind i j]
  (let [L (long depth)]
    (reduce + (for [pis (get-in minima [kind :pathway-strengths])
                    ^long l (range 1 (inc L))]
                (* (Math/pow (double (nth pis i)) (/ (* 2.0 (- L l)) L))
                   (Math/pow (double (nth pis j)) (/ (* 2.0 (dec l)) L)))))))

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
  (doseq [kind (keys minima)
          :let [net (at-minimum kind)
                {:keys [hessian]} (dense-eigen net)]]
    (is (< (dln/loss net) 1e-20) (str kind))
    (doseq [[[i j] d] (fd-directions net)
            :let [lam (lambda kind i j)
                  hd (mapv #(dense/dot % d) hessian)
                  nd (Math/sqrt (double (dense/dot d d)))]]
      ;; the residual of the closed-form pair, relative to lambda ||d|| (finite differences: ~1e-10)
      (is (< (/ (Math/sqrt (double (dense/frob2 (mapv #(- (double %1) (* lam (double %2))) hd d)))) (* lam nd)) 1e-7)
          (str kind ": H d_" i j " = lambda_" i j " d_" i j)))))

(deftest eigvec-mode-overlap-matches-the-dense-route
  (doseq [kind (keys minima)
          :let [net (at-minimum kind)
                r (count targets)
                ;; the closed form's distinct values, largest first, and the pairs of each
                clusters (->> (for [i (range r) j (range r)] [(lambda kind i j) [i j]])
                              (group-by #(Math/round (* 1e6 (double (first %)))))
                              (sort-by key >)
                              (mapv (fn [[_ ps]] {:lambda (first (first ps)) :pairs (set (map second ps))})))
                ;; whole clusters, at least 4 eigenvectors
                k (long (first (filter #(>= (long %) 4) (reductions + (map (comp count :pairs) clusters)))))
                overlaps (vec (spectral/eigvec-mode-overlap net {:k k :tol 1e-12}))
                {:keys [values vectors]} (dense-eigen net)
                dirs (into {} (for [[ij d] (fd-directions net)] [ij (unit d)]))]]
    (is (= k (count overlaps)))
    (is (< (dense/max-abs-diff (take k values) (mapcat #(repeat (count (:pairs %)) (:lambda %)) clusters)) 1e-9)
        (str kind ": the dense spectrum's top " k " are the closed form's, with multiplicity"))
    (is (> (- (double (nth values (dec k))) (double (nth values k))) 0.05)
        (str kind ": the next eigenvalue lies apart, so the clusters are complete"))
    (loop [start 0 [{:keys [lambda pairs]} & more] clusters]
      (when (< start k)
        (let [start (long start)
              idx (range start (+ start (count pairs)))]
          (doseq [i (range r) j (range r)
                  :let [metric-sum (reduce + 0.0 (map #(double (get-in overlaps [% i j])) idx))
                        dense-sum (reduce + 0.0 (map #(Math/pow (double (dense/dot (nth vectors %) (dirs [i j]))) 2.0) idx))]]
            ;; within a cluster the sum of squared overlaps is basis-free (the projector onto the eigenspace)
            (is (< (dense/absd (- (double metric-sum) (double dense-sum))) 1e-6) (str kind " cluster " lambda " mode pair " [i j]))
            (is (< (dense/absd (- (double metric-sum) (if (pairs [i j]) 1.0 0.0))) 1e-6)
                (str kind " cluster " lambda " carries mode pair " [i j] " exactly when lambda_ij = " lambda)))
          (recur (+ start (count pairs)) more))))))

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
    (let [r (dln/run (assoc (get-in minima [:chain :experiment])
                      :optimizer {:kind :gd :lr 0.01} :steps 4
                      :record {:every 2 :metrics [:eigvec-mode-overlap] :eigvec-mode-overlap {:k 1}}))
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
  (let [net (at-minimum :chain)
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
