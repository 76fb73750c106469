(ns dlnlab.metrics.noise-test
  "The SGD noise metrics against a direct covariance over every minibatch of a
  small dataset: each minibatch gradient from the engine on that batch's own
  objective (not from per-sample gradients), the covariance as a dense matrix,
  its top Hessian eigenvectors from the dense Hessian by LAPACK (not Lanczos),
  and the mode entries of the F-gradient by nested-vector arithmetic."
  (:require [clojure.edn :as edn]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.core]
            [dlnlab.engine :as engine]
            [dlnlab.experiment :as experiment]
            [dlnlab.metrics :as metrics]
            [dlnlab.metrics.noise :as noise]
            [dlnlab.network :as network])
  (:import [dlnlab.kernel Arch Blas Objective]))

(set! *warn-on-reflection* true)

(def ^:private sigma 0.3)

(defn- small-net [sampling]
  (network/network {:seed 4
                    :model {:kind :chain :widths [3 4 2] :init {:kind :gaussian :std 0.7}}
                    :task {:kind :teacher-student :input-dim 3 :output-dim 2 :samples 5 :label-noise sigma}
                    :optimizer {:kind :sgd :lr 0.05 :batch-size 2 :sampling sampling}
                    :steps 1}))

(defn- batches
  "Every minibatch of b of n samples, each equally likely: ordered tuples with
  replacement, or subsets without (:epochs)."
  [n b sampling]
  (let [idx (range n)]
    (if (= sampling :epochs)
      (loop [k 1 acc (map vector idx)]
        (if (= k b) acc (recur (inc k) (for [c acc i idx :when (> i (peek c))] (conj c i)))))
      (loop [k 1 acc (map vector idx)]
        (if (= k b) acc (recur (inc k) (for [c acc i idx] (conj c i))))))))

(defn- batch-data [net batch]
  (let [^Arch arch (:arch net) din (.din arch) dout (.dout arch)
        ^doubles x (get-in net [:task :x]) ^doubles y (get-in net [:task :y])]
    [(double-array (mapcat (fn [i] (for [k (range din)] (aget x (+ (* (long i) din) k)))) batch))
     (double-array (mapcat (fn [i] (for [k (range dout)] (aget y (+ (* (long i) dout) k)))) batch))]))

(defn- batch-gradient [net batch]
  (let [^Arch arch (:arch net)
        [bx by] (batch-data net batch)]
    (vec (engine/gradient (assoc net :objective (Objective/batch (count batch) (.din arch) (.dout arch) bx by))))))

(defn- covariance
  "Mean and covariance (nested vectors) of equally likely vectors gs."
  [gs]
  (let [m (count gs) p (count (first gs))
        mean (mapv (fn [j] (/ (double (reduce + (map #(nth % j) gs))) m)) (range p))
        ds (mapv (fn [g] (mapv - g mean)) gs)]
    [mean (mapv (fn [i] (mapv (fn [j] (/ (double (reduce + (map #(* (double (nth % i)) (double (nth % j))) ds))) m))
                              (range p)))
                (range p))]))

(defn- trace ^double [c] (reduce + (map-indexed (fn [i row] (nth row i)) c)))

(defn- top-eigenvectors
  "The k eigenvectors of the largest eigenvalues of the symmetric matrix a, by dsyevd."
  [a k]
  (let [n (count a) arr (double-array (for [j (range n) i (range n)] (get-in a [i j]))) w (double-array n)]
    (Blas/symmetricEigen n arr w true)
    (for [c (range (dec n) (- n 1 k) -1)]
      (mapv #(aget arr (+ (long %) (* (long c) n))) (range n)))))

(defn- close? [^double a ^double b ^double tol] (<= (Math/abs (- a b)) (* tol (max 1e-300 (Math/abs b)))))

(deftest traces-equal-the-covariance-over-every-minibatch
  (doseq [sampling [:with-replacement :epochs]]
    (let [net (small-net sampling)
          gs (mapv #(batch-gradient net %) (batches 5 2 sampling))
          [mean c] (covariance gs)]
      (testing (str sampling)
        (is (= (if (= sampling :epochs) 10 25) (count gs)))
        (is (every? (fn [[a b]] (< (Math/abs (- (double a) (double b))) 1e-12)) (map vector mean (vec (engine/gradient net))))
            "the minibatch gradients average to the full gradient")
        (is (close? (noise/noise-trace net) (trace c) 1e-10))
        (is (close? (noise/noise-trace net {:batch-size 1}) (* 2.0 (trace c) (if (= sampling :epochs) (/ 4.0 3.0) 1.0)) 1e-10)
            "Sigma/B (n - B)/(n - 1) without replacement; B = 1 gives Sigma")
        (when (= sampling :with-replacement)
          (let [h (network/hessian net)]
            (doseq [k [1 3]]
              (let [vs (top-eigenvectors h k)
                    inside (reduce + (for [v vs] (reduce + (map (fn [row vi] (* (double vi) (double (reduce + (map * row v))))) c v))))]
                (is (close? (noise/noise-alignment net {:k k}) (/ (double inside) (trace c)) 1e-6) (str "k = " k))))))))))

(deftest mode-noise-equals-the-variance-of-the-mode-entries-over-every-minibatch
  (doseq [sampling [:with-replacement :epochs]]
    (let [net (small-net sampling)
          {:keys [singular-values u v]} (get-in net [:task :target-svd])
          f (network/end-to-end net)
          ^Arch arch (:arch net) din (.din arch) dout (.dout arch)
          ^doubles x (get-in net [:task :x]) ^doubles y (get-in net [:task :y])
          xi (fn [i] (mapv #(aget x (+ (* (long i) din) (long %))) (range din)))
          yi (fn [i] (mapv #(aget y (+ (* (long i) dout) (long %))) (range dout)))
          ;; u_j^T G_B v_j with G_B = mean over the batch of (F x - y) x^T
          entry (fn [batch j]
                  (/ (double (reduce + (for [i batch
                                             :let [res (mapv (fn [row yk] (- (double (reduce + (map * row (xi i)))) (double yk))) f (yi i))]]
                                         (* (double (reduce + (map #(* (double (nth %1 j)) (double %2)) u res)))
                                            (double (reduce + (map #(* (double (nth %1 j)) (double %2)) v (xi i))))))))
                     (count batch)))
          bs (batches 5 2 sampling)
          got (noise/mode-noise net)
          modes (metrics/modes net)]
      (is (= (count singular-values) (count got)))
      (doseq [j (range (count singular-values))]
        (let [vals (mapv #(entry % j) bs)
              m (/ (double (reduce + vals)) (count vals))
              var (/ (double (reduce + (map #(let [d (- (double %) m)] (* d d)) vals))) (count vals))
              e (- (double (nth modes j)) (double (nth singular-values j)))
              factor (if (= sampling :epochs) (/ 3.0 (* 4.0 2.0)) 0.5)]
          (is (close? (first (nth got j)) var 1e-10) (str sampling " mode " j))
          (is (close? (second (nth got j)) (* factor (+ (* 2.0 e e) (* sigma sigma))) 1e-12)))))))

(deftest nil-without-samples-and-recorded-in-a-run
  (let [mf (network/network {:seed 1 :model {:kind :chain :widths [2 2 2]}
                             :task {:kind :matrix-factorization :singular-values [1.0 0.5]}})]
    (is (nil? (noise/noise-trace mf)))
    (is (nil? (noise/noise-alignment mf)))
    (is (nil? (noise/mode-noise mf))))
  (let [r (experiment/run {:seed 2 :model {:kind :chain :widths [3 4 2]}
                           :task {:kind :teacher-student :input-dim 3 :output-dim 2 :samples 8 :label-noise 0.1}
                           :optimizer {:kind :sgd :lr 0.05 :batch-size 2} :steps 10
                           :record {:every 5 :metrics [:noise-trace :noise-alignment :mode-noise]
                                    :noise-alignment {:k 2}}})
        tr (:trajectory r)]
    (is (every? pos? (:noise-trace tr)))
    (is (every? #(< 0.0 (double %) 1.0) (:noise-alignment tr)))
    (is (every? #(= 2 (count %)) (:mode-noise tr)))))

(deftest example-sgd-noise-claim
  ;; examples/sgd-noise.edn: the per-mode variances follow (2 e^2 + sigma^2)/B
  ;; along the run within the sampling error of the n samples: for c = (e z - xi) z,
  ;; z, xi Gaussian, the variance estimate has relative standard deviation at
  ;; most sqrt(14/n) (e-dominated; sqrt(8/n) noise-dominated)
  (let [exp (edn/read-string (slurp "examples/sgd-noise.edn"))
        n (long (get-in exp [:task :samples]))
        r (experiment/run exp)
        rows (get-in r [:trajectory :mode-noise])
        tol (* 4.0 (Math/sqrt (/ 14.0 n)))
        share (get-in r [:trajectory :noise-alignment])]
    (is (= :completed (:status r)))
    (is (> (double (ffirst (first rows))) (* 20.0 (double (first (first (peek rows))))))
        "mode 1's noise falls from 2 s^2/B + sigma^2/B toward sigma^2/B as it is learned")
    (doseq [[k row] (map-indexed vector rows)
            [i [measured predicted]] (map-indexed vector row)]
      (is (< (Math/abs (- (/ (double measured) (double predicted)) 1.0)) tol)
          (str "record " k " mode " i ": " measured " vs " predicted)))
    (is (> (double (peek share)) (* 5.0 (double (first share)))) (str "noise alignment " (first share) " -> " (peek share)))))
