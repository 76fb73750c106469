(ns dlnlab.forward-test
  "The end-to-end matrix of every model kind against the product written out from
  the weights and the documented multipliers (doc/design.md), by plain
  nested-vector algebra: gradients and Hessians are checked against finite
  differences of the same forward pass, so only this catches a wrong forward pass."
  (:require [clojure.test :refer [deftest is testing]]
            [dlnlab.core :as core]
            [dlnlab.dense :as dense]))

(defn- identity-matrix [n] (mapv (fn [i] (mapv #(if (= i %) 1.0 0.0) (range n))) (range n)))

(defn- scale [c a] (mapv #(mapv (fn [x] (* (double c) (double x))) %) a))

(defn- chain-product
  "G_L ... G_1 for G_l = alpha_l W_l (+ I)."
  [factors]
  (reduce (fn [acc g] (dense/mmul g acc)) factors))

(defn- close-matrices? [a b]
  (let [scale (reduce max 1e-300 (map dense/absd (flatten b)))]
    (every? #(< (dense/absd %) (* 1e-12 scale)) (flatten (dense/msub a b)))))

(def ^:private task {:kind :matrix-factorization :singular-values [2.0 1.0 0.5] :dims [3 4] :basis :random})

(deftest residual-networks
  ;; F = W_out (I + (beta0/sqrt L) W_L) ... (I + (beta0/sqrt L) W_1) W_in (standard)
  (doseq [[depth beta0] [[1 1.0] [3 0.7]]]
    (let [net (core/network {:seed 6 :task task
                             :model {:kind :residual :depth depth :width 5 :beta0 beta0 :init {:kind :gaussian :std 0.5}}})
          {:keys [in blocks out]} (core/weights net)
          c (/ beta0 (Math/sqrt depth))
          want (chain-product (concat [in] (map #(dense/madd (identity-matrix 5) (scale c %)) blocks) [out]))]
      (is (close-matrices? (core/end-to-end net) want) (str "depth " depth)))))

(deftest chains-and-pathways-under-every-parameterization
  ;; D = 4, hidden width N = 3: alpha = 1 (standard); first 1/sqrt D, hidden 1/sqrt N,
  ;; readout 1/(gamma0 N) (:mup) or 1/(gamma0 sqrt(N D)) (:ntk)
  (doseq [p [:standard :mup :ntk] pathways [1 2]]
    (let [g 1.5 D 4 N 3
          net (core/network {:seed 8 :task task
                             :model {:kind :multi-pathway :pathways pathways :depth 3 :width N
                                     :parameterization p :gamma0 g :init {:kind :gaussian :std 0.6}}})
          alphas (case p
                   :standard [1.0 1.0 1.0]
                   :mup [(/ 1.0 (Math/sqrt D)) (/ 1.0 (Math/sqrt N)) (/ 1.0 (* g N))]
                   :ntk [(/ 1.0 (Math/sqrt D)) (/ 1.0 (Math/sqrt N)) (/ 1.0 (* g (Math/sqrt (* N D))))])
          want (reduce dense/madd (for [ws (core/weights net)] (chain-product (map scale alphas ws))))]
      (testing (str p " with " pathways " pathways")
        (is (close-matrices? (core/end-to-end net) want))))))
