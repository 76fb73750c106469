(ns dlnlab.metrics-test
  "Every metric against an independent route: dense nested-vector arithmetic on
  the weights form, finite differences, the dense Hessian's eigenvalues (LAPACK
  dsyevd, not Lanczos), eigenvalues of W^T W instead of an SVD, and closed forms
  of balanced aligned networks (SCIENCE.md §4, §5)."
  (:require [dlnlab.dense :refer [mmul msub transpose]]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.hessian :as hessian]
            [dlnlab.core]
            [dlnlab.metrics :as metrics]
            [dlnlab.network :as network])
  (:import [dlnlab.kernel Arch Blas Objective]))

(set! *warn-on-reflection* true)

;; ---------------------------------------------------------------- dense helpers

(defn- mscale [^double c a] (mapv (fn [row] (mapv #(* c ^double %) row)) a))
(defn- madd-identity [a] (vec (map-indexed (fn [i row] (update row i + 1.0)) a)))
(defn- frob ^double [a] (Math/sqrt (reduce + (for [row a x row] (* ^double x ^double x)))))
(defn- matvec [a v] (mapv #(reduce + (map * % v)) a))
(defn- column [a ^long j] (mapv #(nth % j) a))
(defn- dot ^double [u v] (reduce + (map * u v)))

(defn- close? [^double a ^double b ^double tol] (<= (Math/abs (- a b)) (* tol (+ 1.0 (Math/abs a) (Math/abs b)))))
(defn- all-close? [xs ys tol]
  (and (= (count xs) (count ys)) (every? true? (map #(close? %1 %2 tol) xs ys))))

(defn- factor-list
  "The weights of each pathway as a list of matrices in packed (layout) order."
  [net]
  (let [w (network/weights net)]
    (if (map? w) [(vec (concat [(:in w)] (:blocks w) [(:out w)]))] w)))

(defn- effective-factors
  "Per pathway, per factor: :raw W, :scaled alpha W, :effective alpha W (+ I)."
  [net form]
  (mapv (fn [ws fs]
          (mapv (fn [w f]
                  (case form
                    :raw w
                    :scaled (mscale (:alpha f) w)
                    :effective (cond-> (mscale (:alpha f) w) (:identity? f) madd-identity)))
                ws fs))
        (factor-list net) (:layout net)))

(defn- singular-values-by-eigen
  "Singular values of a, descending, from the eigenvalues of the smaller Gram
  matrix (dsyevd), not from an SVD."
  [a]
  (let [gram (if (<= (count a) (count (first a))) (mmul a (transpose a)) (mmul (transpose a) a))]
    (mapv #(Math/sqrt (max 0.0 ^double %)) (hessian/dense-eigenvalues gram))))

(defn- dense-spectrum [net] (hessian/dense-eigenvalues (network/hessian net)))

(defn- mf
  "An experiment on 1/2 ||F - M||^2 with M = diag-like singular values s."
  [model s & {:keys [basis seed dims] :or {basis :random seed 1}}]
  {:seed seed :model model
   :task (cond-> {:kind :matrix-factorization :singular-values s :basis basis} dims (assoc :dims dims))})

;; ---------------------------------------------------------------- loss, gradient, threshold

(deftest loss-test-loss-and-grad-norm
  (let [net (network/network (mf {:kind :chain :widths [3 5 4 3] :init {:kind :gaussian :std 0.6}} [3.0 2.0 0.5]))
        f (network/end-to-end net)
        m (get-in net [:task :target])]
    (is (close? (metrics/loss net) (* 0.5 (Math/pow (frob (msub f m)) 2)) 1e-12) "1/2 ||F - M||^2")
    (is (nil? (metrics/test-loss net)) "no test set")
    (testing "grad-norm is the slope of the loss along the normalized gradient (central differences)"
      (let [g (metrics/grad-norm net)
            ^doubles p (:params net) ^doubles gv (dlnlab.engine/gradient net)
            n (alength p) h 1e-5
            along (fn [^double t] (let [q (aclone p)] (Blas/axpy n (/ t g) gv 0 q 0) (assoc net :params q)))
            slope (/ (- (metrics/loss (along h)) (metrics/loss (along (- h)))) (* 2 h))]
        (is (> g 0.1))
        (is (close? g slope 1e-7)))))
  (testing "teacher-student test loss is the mean squared error on the held-out samples"
    (let [net (network/network {:seed 3 :model {:kind :chain :widths [4 6 2]}
                                :task {:kind :teacher-student :input-dim 4 :output-dim 2 :samples 20
                                       :test-samples 15 :label-noise 0.1}})
          f (network/end-to-end net)
          {:keys [test-x test-y]} (:task net)
          xs (partition 4 (vec test-x)) ys (partition 2 (vec test-y))
          mse (/ (reduce + (map (fn [x y] (let [r (map - (matvec f x) y)] (dot r r))) xs ys))
                 (* 2.0 (count xs)))]
      (is (= 15 (count xs)))
      (is (close? (double (metrics/test-loss net)) mse 1e-12)))))

(deftest stability-threshold
  (let [net (network/network (mf {:kind :chain :depth 2 :width 3} [1.0 0.5]))
        mup (network/network (mf {:kind :chain :depth 2 :width 8 :parameterization :mup :gamma0 0.5} [1.0 0.5]))]
    (is (= (/ 2.0 0.05) (metrics/stability-threshold net {:kind :gd :lr 0.05})))
    (is (close? (double (metrics/stability-threshold mup {:kind :gd :lr 0.05})) (/ 2.0 (* 0.05 0.25 8)) 1e-14)
        "mup multiplies lr by gamma0^2 N (SCIENCE.md §1)")
    (is (nil? (metrics/stability-threshold net {:kind :gradient-flow})))
    (is (= 40.0 (metrics/measure :stability-threshold net {:lr 0.05 :stability-threshold 40.0}))
        "the metric records the run's threshold, computed once per run")
    (is (nil? (metrics/measure :stability-threshold net {:lr nil})) "gradient flow")))

;; ---------------------------------------------------------------- modes and shares

(deftest modes-are-u-F-v
  (doseq [exp [(mf {:kind :chain :widths [3 4 5 4] :init {:kind :gaussian :std 0.7}} [3.0 1.5 0.5] :seed 2 :dims [4 3])
               (mf {:kind :multi-pathway :pathways 3 :depth 2 :width 4 :init {:kind :gaussian :std 0.7}}
                   [2.0 1.0 0.5] :seed 5)
               {:seed 4 :model {:kind :residual :depth 3 :width 5 :init {:kind :gaussian :std 0.4}}
                :task {:kind :teacher-student :input-dim 3 :output-dim 4 :samples 30}}]]
    (let [net (network/network exp)
          f (network/end-to-end net)
          {:keys [u v singular-values]} (get-in net [:task :target-svd])
          want (mapv (fn [i] (dot (column u i) (matvec f (column v i)))) (range (count singular-values)))]
      (is (all-close? (metrics/modes net) want 1e-12) (str (get-in exp [:model :kind]))))))

(deftest modes-of-balanced-aligned-networks-are-their-strengths
  (doseq [[model pis] [[{:kind :chain :depth 3 :width 4} [2.0 0.7 0.1]]
                       [{:kind :multi-pathway :pathways 2 :depth 4 :width 5} [1.5 0.3 0.02]]]]
    (let [net (network/network (mf (assoc model :init {:kind :balanced-aligned :strengths pis}) [3.0 2.0 1.0]))]
      (is (all-close? (metrics/modes net) pis 1e-12) "u_i^T F v_i = pi_i (SCIENCE.md §4)")
      (is (every? #(< ^double % 1e-12) (flatten (metrics/balance-gap net))) "balanced")
      (is (> (reduce max (flatten (metrics/balance-gap (network/network (mf (assoc model :init {:kind :gaussian}) [3.0 2.0 1.0]))))) 0.1)
          "a Gaussian init is not balanced"))))

(deftest modes-fall-back-to-the-objective
  (testing "a hand-built network without :task uses the SVD of the objective's target"
    (let [arch (Arch. (int-array [2]) (int-array [3 3]) (int-array [3 3]) (double-array [1.0 1.0]) (boolean-array 2))
          m (double-array [3.0 0 0, 0 2.0 0, 0 0 0.5])
          p (double-array (map #(* 0.3 (Math/sin (* 1.7 (double %)))) (range 18)))
          net {:arch arch :objective (Objective/factorization 3 3 m) :params p}
          w1 (transpose (partition 3 (take 9 p))) w2 (transpose (partition 3 (drop 9 p)))
          f (mmul w2 w1)]
      (is (all-close? (metrics/modes net) (mapv #(get-in f [% %]) (range 3)) 1e-12)
          "diag(3, 2, 0.5): u_i = v_i = +-e_i, so u_i^T F v_i = F_ii")
      (is (= [3.0 2.0 0.5] (metrics/target-singular-values net))))))

(deftest pathway-shares
  (testing "shares of a pathway split are the split"
    (let [shares [[0.7 0.2 0.5] [0.3 0.8 0.5]]
          net (network/network (mf {:kind :multi-pathway :pathways 2 :depth 3 :width 4
                                    :init {:kind :pathway-split :strengths [1.0 0.5 0.2] :shares shares}}
                                   [2.0 1.0 0.5]))]
      (is (all-close? (flatten (metrics/pathway-shares net)) (flatten (transpose shares)) 1e-10))))
  (testing "random weights: shares against pathway products, and they add up to 1"
    (let [net (network/network (mf {:kind :multi-pathway :pathways 3 :depth 2 :width 3
                                    :init {:kind :gaussian :std 0.8}} [2.0 1.0] :seed 9))
          ps (network/pathway-products net)
          {:keys [u v]} (get-in net [:task :target-svd])
          got (metrics/pathway-shares net)]
      (is (= 2 (count got)))
      (doseq [i [0 1]]
        (let [c (mapv #(dot (column u i) (matvec % (column v i))) ps)]
          (is (all-close? (nth got i) (mapv #(/ ^double % (reduce + c)) c) 1e-10))
          (is (close? 1.0 (reduce + (nth got i)) 1e-12))))))
  (testing "a mode whose contributions cancel has nil shares, not NaN or huge numbers"
    (let [at-origin (network/network (mf {:kind :multi-pathway :pathways 2 :depth 2 :width 2
                                          :init {:kind :scaled-identity :alpha 0.0}} [1.0 0.5]))]
      (is (= [nil nil] (metrics/pathway-shares at-origin))))
    (let [w [[[1.0 0.0] [0.0 0.5]] [[2.0 0.0] [0.0 1.0]]]
          neg [[[-1.0 0.0] [0.0 -0.5]] [[2.0 0.0] [0.0 1.0]]]
          net (network/network (mf {:kind :multi-pathway :pathways 2 :depth 2 :width 2
                                    :init {:kind :given :weights [w neg]}} [1.0 0.5] :basis :identity))]
      (is (= [nil nil] (metrics/pathway-shares net)) "P_1 = -P_2")
      (is (= [[-1.0 2.0] [-1.0 2.0]]
             (metrics/pathway-shares (network/set-weights net [w (assoc neg 1 [[4.0 0.0] [0.0 2.0]])])))
          "opposing pathways: shares outside [0, 1] still add up to 1"))))

;; ---------------------------------------------------------------- balance, singular values, norms

(defn- dense-gaps [net form]
  (mapv (fn [gs] (mapv (fn [gl gu] (frob (msub (mmul (transpose gu) gu) (mmul gl (transpose gl)))))
                       (butlast gs) (rest gs)))
        (effective-factors net form)))

(deftest balance-gap-against-dense
  (doseq [exp [(mf {:kind :chain :widths [3 5 2 4] :init {:kind :gaussian :std 0.8}} [1.0 0.5 0.2] :seed 3 :dims [4 3])
               (mf {:kind :multi-pathway :pathways 2 :depth 3 :width 4 :parameterization :mup :gamma0 2.0
                    :init {:kind :gaussian}} [1.0 0.5] :seed 4)
               {:seed 6 :model {:kind :residual :depth 3 :width 4 :beta0 2.0 :init {:kind :gaussian :std 0.5}}
                :task {:kind :teacher-student :input-dim 3 :output-dim 2 :samples 10}}]
          form [:scaled :raw :effective]]
    (let [net (network/network exp)
          got (metrics/balance-gap net {:of form})]
      (is (all-close? (flatten got) (flatten (dense-gaps net form)) 1e-12)
          (str (get-in exp [:model :kind]) " " form))
      (is (= (mapv #(dec (count %)) (:layout net)) (mapv count got)) "one gap per adjacent pair")))
  (testing "default :of is :scaled (alpha W); mup makes it differ from :raw"
    (let [net (network/network (mf {:kind :chain :depth 3 :width 6 :parameterization :mup :init {:kind :gaussian}} [1.0]))]
      (is (= (metrics/balance-gap net) (metrics/balance-gap net {:of :scaled})))
      (is (not (all-close? (flatten (metrics/balance-gap net)) (flatten (metrics/balance-gap net {:of :raw})) 1e-3)))))
  (testing "a hand-built balanced scalar chain and an unbalanced one"
    (let [net (network/network (mf {:kind :chain :widths [1 1 1] :init {:kind :given :weights [[[[2.0]] [[2.0]]]]}} [1.0]))]
      (is (= [[0.0]] (metrics/balance-gap net)))
      (is (= [[8.0]] (metrics/balance-gap (network/set-weights net [[[[3.0]] [[1.0]]]]))) "|w2^2 - w1^2| = |1 - 9|")))
  (is (thrown-with-msg? clojure.lang.ExceptionInfo #":of"
                        (metrics/balance-gap (network/network (mf {:kind :chain :depth 2 :width 2} [1.0])) {:of :bad}))))

(deftest singular-values-and-norms
  (doseq [exp [(mf {:kind :multi-pathway :pathways 2 :widths [3 5 2 4] :init {:kind :gaussian :std 0.8}} [1.0 0.5 0.2] :seed 8 :dims [4 3])
               {:seed 2 :model {:kind :residual :depth 2 :width 4 :parameterization :mup :init {:kind :gaussian}}
                :task {:kind :teacher-student :input-dim 3 :output-dim 2 :samples 10}}]]
    (let [net (network/network exp)]
      (doseq [form [:effective :scaled :raw]]
        (is (all-close? (flatten (metrics/layer-singular-values net {:of form}))
                        (flatten (mapv #(mapv singular-values-by-eigen %) (effective-factors net form))) 1e-10)
            (str (get-in exp [:model :kind]) " layer singular values " form))
        (is (all-close? (flatten (metrics/weight-norms net {:of form}))
                        (flatten (mapv #(mapv frob %) (effective-factors net form))) 1e-12)
            (str "weight norms " form)))
      (is (= (metrics/layer-singular-values net) (metrics/layer-singular-values net {:of :effective})))
      (is (= (metrics/weight-norms net) (metrics/weight-norms net {:of :raw})))
      (is (all-close? (metrics/end-to-end-singular-values net) (singular-values-by-eigen (network/end-to-end net)) 1e-10))))
  (testing "a balanced aligned chain has layer singular values pi_i^(1/L)"
    (let [net (network/network (mf {:kind :chain :depth 3 :width 3 :init {:kind :balanced-aligned :strengths [8.0 1.0 0.125]}}
                                   [3.0 2.0 1.0]))]
      (is (all-close? (flatten (metrics/layer-singular-values net)) (flatten (repeat 3 [2.0 1.0 0.5])) 1e-12))
      (is (all-close? (metrics/end-to-end-singular-values net) [8.0 1.0 0.125] 1e-12)))))

;; ---------------------------------------------------------------- sharpness

(deftest sharpness-matches-the-dense-hessian
  (doseq [exp [(mf {:kind :chain :widths [3 4 3 2] :init {:kind :gaussian :std 0.7}} [2.0 1.0] :seed 11 :dims [2 3])
               (mf {:kind :multi-pathway :pathways 2 :depth 3 :width 3 :init {:kind :gaussian :std 0.6}} [1.5 0.5] :seed 12)
               {:seed 13 :model {:kind :residual :depth 2 :width 3 :init {:kind :gaussian :std 0.5}}
                :task {:kind :teacher-student :input-dim 3 :output-dim 2 :samples 12}}]]
    (let [net (network/network exp)
          dense (dense-spectrum net)]
      (is (close? (metrics/sharpness net) (first dense) 1e-9) (str (get-in exp [:model :kind])))
      (is (all-close? (metrics/hessian-top-k net {:k 4}) (take 4 dense) 1e-8))
      (is (= 5 (count (metrics/hessian-top-k net))) "default k = 5")))
  (testing "at a balanced global minimum the sharpness is L s_1^(2-2/L) (SCIENCE.md §5)"
    (let [net (network/network (mf {:kind :chain :depth 3 :width 2 :init {:kind :balanced-aligned :strengths [2.0 1.0]}}
                                   [2.0 1.0]))]
      (is (close? (metrics/sharpness net) (* 3.0 (Math/pow 2.0 (/ 4.0 3.0))) 1e-9)))))

(deftest sharpness-at-saddles-is-the-largest-algebraic-eigenvalue
  (testing "origin of a depth-2 chain: eigenvalues +-s_i, the top is s_1"
    (let [net (network/network (mf {:kind :chain :depth 2 :width 2 :init {:kind :scaled-identity :alpha 0.0}}
                                   [2.0 0.5] :basis :identity))
          dense (dense-spectrum net)]
      (is (close? (first dense) 2.0 1e-12))
      (is (close? (peek dense) -2.0 1e-12))
      (is (close? (metrics/sharpness net) 2.0 1e-9))))
  (testing "depth-2, W_1 = 0 and W_2 = c: top (c^2 + sqrt(c^4 + 4 s^2))/2"
    (let [c 0.1 s 1.0
          net (network/network (mf {:kind :chain :widths [1 1 1] :init {:kind :given :weights [[[[0.0]] [[c]]]]}} [s]))]
      (is (close? (metrics/sharpness net) (/ (+ (* c c) (Math/sqrt (+ (Math/pow c 4) (* 4 s s)))) 2) 1e-9))))
  (testing "scalar depth 3 at w = (a, a, a): eigenvalues (s - a^3) a twice and 3a^4 - 2(s - a^3) a; the negative one is larger in magnitude"
    (let [a 0.1 s 1.0
          net (network/network (mf {:kind :chain :widths [1 1 1 1] :init {:kind :given :weights [[[[a]] [[a]] [[a]]]]}} [s]))
          dense (dense-spectrum net)
          top (* (- s (* a a a)) a)
          bottom (- (* 3 (Math/pow a 4)) (* 2 (- s (* a a a)) a))]
      (is (all-close? dense [top top bottom] 1e-12) "closed form = dense")
      (is (> (Math/abs bottom) top) "so :magnitude would pick the negative one")
      (is (close? (metrics/sharpness net) top 1e-9))
      (is (all-close? (metrics/hessian-top-k net {:k 3}) [top top bottom] 1e-8)))))

(deftest warm-start-saves-products
  (let [net (network/network (mf {:kind :chain :depth 3 :width 12 :init {:kind :gaussian :std 0.5}}
                                 [3.0 2.5 2.0 1.5 1.0 0.5] :seed 21 :basis :random))
        ^doubles p (:params net)
        n (alength p)
        ;; a nearby point: one small gradient step
        ^doubles g (dlnlab.engine/gradient net)
        q (aclone p)
        _ (Blas/axpy n -1e-3 g 0 q 0)
        near (assoc net :params q)
        state (volatile! {})
        ctx {:state state :lr 0.01 :step 0 :time 0.0 :options {:every 10}}
        s0 (metrics/measure :sharpness net ctx)
        cold-count (get-in @state [::metrics/lanczos :sharpness :hvp-count])
        s1 (metrics/measure :sharpness near (assoc ctx :step 1))
        warm-count (get-in @state [::metrics/lanczos :sharpness :hvp-count])
        fresh (volatile! {})
        ;; a warm-started sharpness also settles a second pair (so it notices an
        ;; eigenvalue overtaking the old top); the cold run to compare does the same
        s1-cold (first (metrics/hessian-top-k near {:k 2 :state fresh}))
        fresh-count (get-in @fresh [::metrics/lanczos :hessian-top-k :hvp-count])]
    (is (close? s0 (first (dense-spectrum net)) 1e-9))
    (is (close? s1 (first (dense-spectrum near)) 1e-9))
    (is (close? s1 s1-cold 1e-9))
    (is (pos? (long cold-count)))
    (is (< (long warm-count) (long fresh-count))
        (str "warm " warm-count " products vs cold " fresh-count))))

(deftest non-finite-weights-give-nan-not-errors
  (let [net (network/network (mf {:kind :chain :depth 2 :width 2} [1.0 0.5]))
        ^doubles p (aclone ^doubles (:params net))
        _ (aset p 0 Double/NaN)
        bad (assoc net :params p)]
    (is (Double/isNaN (metrics/sharpness bad)))
    (is (every? #(Double/isNaN %) (metrics/modes bad)))
    (is (every? #(Double/isNaN %) (first (first (metrics/layer-singular-values bad)))) "the layer holding the NaN")
    (is (not-any? #(Double/isNaN %) (second (first (metrics/layer-singular-values bad)))) "the other layer")
    (is (every? #(Double/isNaN %) (metrics/end-to-end-singular-values bad)))))

;; ---------------------------------------------------------------- catalog and measure

(deftest measure-agrees-with-the-functions-and-the-catalog
  (let [net (network/network {:seed 5 :model {:kind :multi-pathway :pathways 2 :depth 2 :width 3}
                              :task {:kind :teacher-student :input-dim 3 :output-dim 2 :samples 10}})
        ctx {:lr 0.1 :stability-threshold 20.0 :step 0 :time 0.0 :state (volatile! {}) :options nil}]
    (is (= (set (keys (metrics/catalog)))
           #{:loss :test-loss :grad-norm :sharpness :hessian-top-k :stability-threshold :modes :pathway-shares
             :balance-gap :layer-singular-values :end-to-end-singular-values :weight-norms
             :eigvec-mode-overlap :oscillation-subspace
              :lyapunov :lyapunov-spectrum :noise-trace :noise-alignment :mode-noise}))
    (doseq [[m {:keys [options description shape]}] (metrics/catalog)]
      (is (and (string? description) (string? shape)) (str m))
      (is (contains? (methods metrics/measure) m) (str m " has a measure method"))
      (is (every? #(contains? (val %) :default) options) (str m " options carry defaults"))
      (let [v (metrics/measure m net ctx)]
        (is (or (number? v) (vector? v) (and (nil? v) (re-find #"\bnil\b" shape))) (str m " is plain data (nil only where its shape says so)"))
        (is (= v (read-string (pr-str v))) (str m " round-trips through EDN"))))
    (is (= (metrics/loss net) (metrics/measure :loss net ctx)))
    (is (= (metrics/test-loss net) (metrics/measure :test-loss net ctx)))
    (is (= (metrics/modes net) (metrics/measure :modes net ctx)))
    (is (= (metrics/balance-gap net {:of :raw}) (metrics/measure :balance-gap net (assoc ctx :options {:every 5 :of :raw}))))
    (is (= 3 (count (metrics/measure :hessian-top-k net (assoc ctx :options {:k 3})))))
    (is (= (:k (:options (:hessian-top-k (metrics/catalog)))) {:default 5 :doc "how many eigenvalues" :allowed "a positive integer up to 2147483647"}))
    (let [e (try (metrics/measure :nope net ctx) (catch clojure.lang.ExceptionInfo e e))]
      (is (instance? clojure.lang.ExceptionInfo e))
      (is (re-find #":nope" (ex-message e)))
      (is (= [:record :metrics] (:path (ex-data e))))
      (is (contains? (:allowed (ex-data e)) :sharpness)))))

(deftest bad-metric-options-fail-before-the-run-starts
  (let [exp {:seed 1 :model {:kind :chain :depth 2 :width 2}
             :task {:kind :matrix-factorization :singular-values [2 1]}
             :optimizer {:kind :gd :lr 0.1} :steps 3}
        thrown (fn [record]
                 (try (dlnlab.core/run (assoc exp :record record)) nil
                      (catch clojure.lang.ExceptionInfo e (ex-data e))))]
    (is (= [:record :hessian-top-k :k] (:path (thrown {:metrics [:hessian-top-k] :hessian-top-k {:k "3"}})))
        "an ex-info naming the option, not a ClassCastException from the run")
    (is (= [:record :sharpness :tol] (:path (thrown {:metrics [:sharpness] :sharpness {:tol -1.0}}))))
    (is (= :every (:did-you-mean (thrown {:metrics [:sharpness] :sharpness {:evry 5}}))))
    (testing "valid options reach the metric"
      (let [r (dlnlab.core/run (assoc exp :record {:metrics [:hessian-top-k] :hessian-top-k {:k 2}}))]
        (is (seq (get-in r [:trajectory :hessian-top-k])))
        (is (every? #(= 2 (count %)) (remove nil? (get-in r [:trajectory :hessian-top-k]))))))))
