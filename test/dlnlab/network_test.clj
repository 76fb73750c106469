(ns dlnlab.network-test
  "Properties of the public network API over random experiments (every model,
  task, parameterization and init, depth 1-5, pathways 1-3, widths 1-6), each
  against an independent route: central finite differences, the dense Hessian
  and a LAPACK eigendecomposition."
  (:require [clojure.edn]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.generators :as gen]
            [clojure.test.check.properties :as prop]
            [dlnlab.core :as core]
            [dlnlab.gen :as g]
            [dlnlab.hessian :as hessian]))

(defn- flat [w] (vec (flatten (if (map? w) [(:in w) (:blocks w) (:out w)] w))))

(defn- unflatten
  "Puts the numbers xs back into the nested shape of template."
  [template xs]
  (let [xs (volatile! (seq xs))
        take1 (fn [] (let [x (first @xs)] (vswap! xs next) x))
        walk (fn walk [t] (if (sequential? t) (mapv walk t) (take1)))]
    (if (map? template)
      {:in (walk (:in template)) :blocks (walk (:blocks template)) :out (walk (:out template))}
      (walk template))))

(defn- max-abs-diff [a b] (reduce max 0.0 (map #(Math/abs (- (double %1) (double %2))) a b)))
(defn- max-abs [a] (reduce max 0.0 (map #(Math/abs (double %)) a)))

(defn- shifted [net w i h]
  (core/set-weights net (unflatten w (update (flat w) i + h))))

(defn- along [net w v t]
  (core/set-weights net (unflatten w (mapv #(+ %1 (* t %2)) (flat w) v))))

(def gen-net
  (gen/fmap core/network g/experiment))

(defspec gradient-matches-central-differences 40
  (prop/for-all [net gen-net]
    (let [w (core/weights net)
          g (flat (core/gradient net))
          h 1e-6
          fd (mapv (fn [i] (/ (- (core/loss (shifted net w i h)) (core/loss (shifted net w i (- h)))) (* 2 h)))
                   (range (count g)))]
      (< (max-abs-diff g fd) (* 1e-5 (+ 1.0 (max-abs g)))))))

(defspec hvp-matches-differences-of-the-gradient 40
  (prop/for-all [net gen-net
                 seed (gen/choose 0 1000)]
    (let [w (core/weights net)
          n (count (flat w))
          r (java.util.Random. seed)
          v (vec (repeatedly n #(.nextGaussian r)))
          hv (flat (core/hvp net (unflatten w v)))
          h 1e-5
          gp (flat (core/gradient (along net w v h)))
          gm (flat (core/gradient (along net w v (- h))))
          fd (mapv #(/ (- %1 %2) (* 2 h)) gp gm)]
      (< (max-abs-diff hv fd) (* 1e-4 (+ 1.0 (max-abs hv)))))))

(defspec dense-hessian-is-symmetric-and-lanczos-matches-its-spectrum 30
  (prop/for-all [net gen-net
                 k (gen/choose 1 4)
                 which (gen/elements [:largest :smallest :magnitude])]
    (let [hm (core/hessian net)
          n (count hm)
          k (min k n)
          dense (hessian/dense-eigenvalues hm)
          want (take k (case which
                         :largest dense
                         :smallest (reverse dense)
                         :magnitude (sort-by #(- (Math/abs (double %))) dense)))
          ;; a Krylov space of full dimension n: Lanczos with full reorthogonalization
          ;; is then exact even on the clusters and repeated eigenvalues that the
          ;; default dimension (60) may not resolve to 1e-10 (it says so then)
          got (:values (core/hessian-eigenvalues net {:k k :which which :tol 1e-10 :max-iter n}))
          default (core/hessian-eigenvalues net {:k k :which which :tol 1e-10})
          scale (+ 1.0 (max-abs dense))]
      (and (every? true? (for [i (range n) j (range i)]
                           (< (Math/abs (- (double (get-in hm [i j])) (double (get-in hm [j i])))) (* 1e-9 scale))))
           ;; ties in magnitude (+a and -a) make the :magnitude set ambiguous: compare |values|
           (if (= which :magnitude)
             (< (max-abs-diff (sort > (map #(Math/abs (double %)) want)) (sort > (map #(Math/abs (double %)) got)))
                (* 1e-6 scale))
             (< (max-abs-diff (sort > want) got) (* 1e-6 scale)))
           ;; at the default dimension: converged means converged; not converged
           ;; means a pair misses the tolerance or a run hit the dimension cap
           (if (:converged? default)
             (every? #(< (double %) (* 1e-8 scale)) (:residuals default))
             (or (= (:krylov-dim default) (hessian/default-max-iter n k))
                 (some (fn [[v r]] (> (double r) (* 1e-10 (Math/abs (double v)))))
                       (map vector (:values default) (:residuals default)))))))))

(deftest hessian-trace-is-exact-in-expectation
  (let [net (core/network {:seed 3 :model {:kind :multi-pathway :pathways 2 :depth 2 :width 3}
                           :task {:kind :matrix-factorization :singular-values [2.0 1.0 0.5]}})
        exact (reduce + (map-indexed (fn [i row] (nth row i)) (core/hessian net)))
        {:keys [estimate std-error]} (core/hessian-trace net {:probes 400})]
    (is (< (Math/abs (- (double estimate) (double exact))) (* 4 (double std-error))) (str "estimate " estimate " vs " exact))))

(deftest top-eigenvalue-at-a-saddle-is-the-largest-algebraic
  ;; at the origin of a depth-2 factorization the Hessian is [[0 -M] [-M^T 0]]-like:
  ;; eigenvalues +-s_i; the top must be +s_1, not the negative one
  (let [net (core/network {:seed 1 :model {:kind :chain :depth 2 :width 2
                                           :init {:kind :given :weights [[[[0.0 0.0] [0.0 0.0]] [[0.0 0.0] [0.0 0.0]]]]}}
                           :task {:kind :matrix-factorization :singular-values [3.0 1.0]}})
        {:keys [values]} (core/hessian-eigenvalues net {:k 1})
        {bottom :values} (core/hessian-eigenvalues net {:k 1 :which :smallest})]
    (is (< (Math/abs (- (first values) 3.0)) 1e-8))
    (is (< (Math/abs (+ (first bottom) 3.0)) 1e-8))))

(deftest end-to-end-is-the-sum-of-pathway-products
  (let [net (core/network {:seed 4 :model {:kind :multi-pathway :pathways 3 :depth 2 :width 2}
                           :task {:kind :matrix-factorization :singular-values [1.0 0.5]}})
        ps (core/pathway-products net)
        ws (core/weights net)
        mm (fn [a b] (let [bt (apply mapv vector b)] (mapv (fn [r] (mapv #(reduce + (map * r %)) bt)) a)))]
    (is (= 3 (count ps)))
    (is (< (max-abs-diff (flatten (core/end-to-end net)) (flatten (reduce (fn [a b] (mapv (partial mapv +) a b)) ps)))
           1e-12)
        "F = sum_k P_k")
    (is (< (max-abs-diff (flatten (first ps)) (flatten (mm (second (first ws)) (first (first ws))))) 1e-12)
        "P_1 = W_2 W_1")))

(defn- thrown-message [f]
  (try (f) nil (catch clojure.lang.ExceptionInfo e (ex-message e))))

(deftest bad-input-gets-a-clear-message
  (let [net (core/network {:seed 1 :model {:kind :chain :depth 2 :width 3}
                           :task {:kind :matrix-factorization :singular-values [1.0 0.5]}})]
    (testing "a direction of the wrong shape"
      (let [m (thrown-message #(core/hvp net [[[[1.0]]]]))]
        (is (some? m))
        (is (str/includes? (str m) "layer"))))
    (testing "given weights of the wrong shape name the layer and the expected shape"
      (let [m (thrown-message #(core/network {:seed 1 :model {:kind :chain :depth 2 :width 3
                                                              :init {:kind :given :weights [[[[1.0 2.0]] [[1.0]]]]}}
                                              :task {:kind :matrix-factorization :singular-values [1.0 0.5]}}))]
        (is (some? m))
        (is (re-find #"3 rows|3 x 2|rows" (str m)) m)))
    (testing "NaN in data"
      (let [m (thrown-message #(core/network {:seed 1 :model {:kind :chain :depth 1}
                                              :task {:kind :dataset :x [[1.0 ##NaN]] :y [[1.0]]}}))]
        (is (some? m))
        (is (str/includes? (str m) "NaN") m)))
    (testing "the dense Hessian refuses a large network"
      (let [big (core/network {:seed 1 :model {:kind :chain :depth 2 :width 64}
                               :task {:kind :matrix-factorization :singular-values (vec (repeat 40 1.0))}})
            m (thrown-message #(core/hessian big))]
        (is (re-find #"5120" (str m)) m)))
    (testing "an :sde experiment has no network: the message says so and names :kind"
      (let [e (try (core/network {:kind :sde :seed 1 :sde {:modes [{:s 1.0 :pi0 0.01}] :depth 2 :lr 0.1 :time 1.0}})
                   nil (catch clojure.lang.ExceptionInfo e e))]
        (is (= [:kind] (:path (ex-data e))))
        (is (= :sde (:value (ex-data e))))
        (is (re-find #"no network" (str (ex-message e))))))))

(deftest a-network-prints-as-a-short-summary
  (let [exp {:seed 3 :model {:kind :multi-pathway :pathways 2 :depth 2 :width 5}
             :task {:kind :matrix-factorization :singular-values [2.0 1.0]}}
        net (core/network exp)
        printed (pr-str net)
        shown (clojure.edn/read-string {:readers {'dlnlab/network identity}} printed)]
    (testing "the value is still the plain map with the documented keys"
      (is (map? net))
      (is (= #{:experiment :arch :params :layout :lr-multiplier :objective :test-objective :task} (set (keys net)))))
    (testing "it prints kind, widths, pathways, parameter count and loss, and no Java internals"
      (is (str/starts-with? printed "#dlnlab/network {"))
      (is (not (str/includes? printed "#object")))
      (is (< (count printed) 200))
      (is (= :multi-pathway (:kind shown)))
      (is (= [2 5 2] (:widths shown)))
      (is (= 2 (:pathways shown)))
      ;; counted from the widths independently of the layout: K * sum_l d_l d_(l-1)
      (is (= (* 2 (+ (* 5 2) (* 2 5))) (:parameters shown)))
      (is (= (count (flat (core/weights net))) (:parameters shown)))
      (is (== (core/loss net) (:loss shown))))
    (testing "a network with new weights prints its own loss"
      (let [zero (core/set-weights net (unflatten (core/weights net) (repeat 0.0)))]
        (is (== (core/loss zero) (:loss (clojure.edn/read-string {:readers {'dlnlab/network identity}} (pr-str zero)))))))))
