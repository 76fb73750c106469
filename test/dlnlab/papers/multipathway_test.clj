(ns dlnlab.papers.multipathway-test
  "The [MP] reproduction (SCIENCE.md §5): the theory helpers against independent
  routes (dense Hessian + LAPACK, an RK4 integration of the balanced pathway
  flow, closed forms), and the qualitative claim on `reduced` with margins and
  the contrast cases (small lr vs window lr, L = 3 vs L = 2, above the window)."
  (:require [clojure.edn :as edn]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.core :as core]
            [dlnlab.papers.multipathway :as mp])
  (:import [dlnlab.kernel Blas]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- close? [a b tol] (<= (Math/abs (- (double a) (double b))) (double tol)))

(defn- dense-top-eigenvalue
  "Largest eigenvalue of the dense Hessian of net (built column by column from
  exact HVPs), by LAPACK dsyevd."
  ^double [net]
  (let [h (core/hessian net)
        n (count h)
        a (double-array (for [j (range n) i (range n)] (double (nth (nth h i) j))))
        w (double-array n)]
    (Blas/symmetricEigen n a w false)
    (aget w (dec n))))

(defn- split-network
  "A global minimum of the 1 x 1 target s: K balanced, aligned pathways of
  depth L and width 2 with products s x shares."
  [L s shares]
  (core/network {:seed 3
                 :model {:kind :multi-pathway :pathways (count shares) :depth L :width 2
                         :init {:kind :pathway-split :strengths [s] :shares (mapv vector shares)}}
                 :task {:kind :matrix-factorization :singular-values [s]}}))

(deftest split-sharpness-matches-the-dense-hessian
  (doseq [[L s shares] [[3 1.0 [0.7 0.3]] [4 2.0 [0.5 0.3 0.2]] [2 1.5 [0.6 0.4]] [5 0.8 [1.0 0.0]]]]
    (testing (str "L=" L " s=" s " shares=" shares)
      (let [net (split-network L s shares)
            top (dense-top-eigenvalue net)]
        (is (close? (mp/split-sharpness L (map #(* (double s) (double %)) shares)) top (* 1e-8 top)))
        (when (= 1.0 (double (apply max shares)))
          (is (close? (mp/single-path-sharpness L s) top (* 1e-8 top))))))))

(deftest equal-split-and-window-closed-forms
  (is (close? (mp/equal-split-sharpness 3 1.0 2) (* 3.0 (Math/pow 2.0 (- (/ 2.0 3.0) 1.0))) 1e-12))
  (is (close? (mp/equal-split-sharpness 4 1.0 4) (mp/split-sharpness 4 [0.25 0.25 0.25 0.25]) 1e-12))
  (let [w (mp/rebalancing-window 3 1.0 2)]
    (is (close? (:lr-single w) (/ 2.0 3.0) 1e-12))
    (is (close? (:lr-split w) (/ 2.0 (* 3.0 (Math/pow 2.0 (/ -1.0 3.0)))) 1e-12))
    (is (false? (:empty? w))))
  (testing "the window is empty at L = 2 and for one pathway"
    (is (true? (:empty? (mp/rebalancing-window 2 1.0 3))))
    (is (true? (:empty? (mp/rebalancing-window 4 1.0 1)))))
  (testing "the window widens with depth and with K"
    (let [ratio (fn [L K] (let [{:keys [lr-single lr-split]} (mp/rebalancing-window L 1.0 K)]
                            (/ (double lr-split) (double lr-single))))]
      (is (< (double (ratio 3 2)) (double (ratio 5 2)) (double (ratio 7 2))))
      (is (< (double (ratio 4 2)) (double (ratio 4 3)) (double (ratio 4 4)))))))

(defn- integrate-pathways
  "RK4 on the balanced pathway flow d pi_k/dt = L pi_k^(2-2/L) (s - sum pi),
  from pis for time t in steps of dt (a route independent of the conserved quantity)."
  [L s pis t dt]
  (let [L (double L) s (double s) dt (double dt) b (- 2.0 (/ 2.0 L))
        f (fn [p] (let [e (- s (double (reduce + 0.0 p)))] (mapv #(* L (Math/pow (max 0.0 (double %)) b) e) p)))
        add (fn [p k h] (mapv #(+ (double %1) (* (double h) (double %2))) p k))]
    (loop [p (mapv double pis) time 0.0]
      (if (>= time (double t))
        p
        (let [k1 (f p) k2 (f (add p k1 (* 0.5 dt))) k3 (f (add p k2 (* 0.5 dt))) k4 (f (add p k3 dt))]
          (recur (mapv (fn [x a b c d] (+ (double x) (* (/ (double dt) 6.0) (+ (double a) (* 2.0 (double b)) (* 2.0 (double c)) (double d)))))
                       p k1 k2 k3 k4)
                 (+ time (double dt))))))))

(deftest winner-takes-all-split-matches-an-integration-of-the-flow
  (doseq [[L s pis t dt] [[3 1.0 [6e-4 4e-4] 200.0 0.01]
                          [4 2.0 [1e-2 5e-3 2e-3] 60.0 0.002]
                          [2 1.0 [6e-3 4e-3] 20.0 0.005]]]
    (testing (str "L=" L " s=" s " pis=" pis)
      (let [predicted (mp/winner-takes-all-split L s pis)
            integrated (integrate-pathways L s pis t dt)]
        (is (close? s (reduce + predicted) 1e-12))
        (doseq [[a b] (map vector predicted integrated)]
          (is (close? a b 1e-5))))))
  (testing "L = 2 keeps the ratio; L > 2 gives the larger pathway more than its share"
    (is (close? 0.6 (first (mp/winner-takes-all-split 2 1.0 [6e-5 4e-5])) 1e-12))
    (is (> (double (first (mp/winner-takes-all-split 3 1.0 [6e-5 4e-5]))) 0.99)))
  (is (thrown-with-msg? clojure.lang.ExceptionInfo #"positive"
                        (mp/winner-takes-all-split 3 1.0 [1e-3 0.0]))))

(deftest edge-split-has-hessian-sharpness-two-over-lr
  (doseq [[L K f] [[3 2 0.4] [5 2 0.7] [4 3 0.5] [3 4 0.8]]]
    (let [{:keys [lr-single lr-split]} (mp/rebalancing-window L 1.0 K)
          lr (+ (double lr-single) (* (double f) (- (double lr-split) (double lr-single))))
          {:keys [regime shares dominant-share]} (mp/edge-split L 1.0 K lr)]
      (testing (str "L=" L " K=" K " lr=" lr)
        (is (= :split regime))
        (is (close? 1.0 (reduce + shares) 1e-12))
        (is (= dominant-share (apply max shares)))
        (is (close? (/ 2.0 lr) (dense-top-eigenvalue (split-network L 1.0 shares)) 1e-7)))))
  (testing "outside the window"
    (is (= :single (:regime (mp/edge-split 3 1.0 2 0.5))))
    (is (= :no-stable-split (:regime (mp/edge-split 3 1.0 2 0.9))))
    (is (= :no-stable-split (:regime (mp/edge-split 2 1.0 2 1.01)))))
  (let [e (try (mp/edge-split 1 1.0 2 0.1) (catch clojure.lang.ExceptionInfo e e))]
    (is (= [:depth] (:path (ex-data e))))
    (is (= 1 (:value (ex-data e))))))

(deftest plateau-strength-inverts-the-learning-time
  (is (close? 50.0 (/ (Math/pow (mp/plateau-strength 3 1.0 50.0) (- (/ 1.0 3.0))) 1.0) 1e-9))
  (is (close? 50.0 (/ (Math/pow (mp/plateau-strength 5 2.0 50.0) -0.6) (* 3.0 2.0)) 1e-9))
  (is (close? 7.0 (/ (Math/log (/ 1.0 (mp/plateau-strength 2 1.0 7.0))) 2.0) 1e-9)))

(def ^:private report (delay (mp/reduced)))

(defn- family [L K] (first (filter #(= [L K] [(:depth %) (:pathways %)]) (:families @report))))
(defn- row [L K place pred] (first (filter #(and (= place (:place %)) (pred %)) (:rows (family L K)))))

(deftest reduced-reproduces-the-claim
  (let [r @report]
    (testing "every check of the report passes"
      (doseq [[k c] (:checks r)]
        (is (:pass? c) (str k " failed: " (pr-str (:failures c))))))
    (testing "winner-takes-all at L = 3 for gradient flow and small lr, as the conserved quantity predicts"
      (doseq [place [:flow :below]]
        (let [x (row 3 2 place (constantly true))]
          (is (= :converged (:status x)))
          (is (> (double (:dominant-share x)) 0.99))
          (is (close? (:dominant-share x) (:wta-share x) 0.002)))))
    (testing "mid-window lr: re-balanced below 0.9, sharpness just below 2/lr, at the edge split"
      (let [x (row 3 2 :inside #(== 0.5 (double (:fraction %))))
            ratio (/ (double (:final-sharpness x)) (double (:two-over-lr x)))]
        (is (= :converged (:status x)))
        (is (< (double (:dominant-share x)) 0.9))
        (is (<= 0.97 ratio 1.0))
        (is (close? (:dominant-share x) (:edge-share x) 0.02))))
    (testing "contrast: the small lr run fails the re-balancing criteria"
      (let [x (row 3 2 :below (constantly true))]
        (is (not (< (double (:dominant-share x)) 0.9)))
        (is (> (double (:final-sharpness x)) (double (:two-over-lr (row 3 2 :inside (constantly true))))))))
    (testing "contrast: L = 2 keeps the initial 0.6 / 0.4 split (no winner-takes-all, empty window)"
      (doseq [place [:flow :below]]
        (let [x (row 2 2 place (constantly true))]
          (is (close? 0.6 (:dominant-share x) 1e-3))
          (is (< (double (:dominant-share x)) 0.99)))))
    (testing "above the window nothing converges"
      (is (every? #(not= :converged (:status %))
                  (concat (filter #(= :above (:place %)) (:rows (family 3 2)))
                          (filter #(= :above (:place %)) (:rows (family 2 2)))))))))

(deftest reduced-report-is-plain-data
  (let [r @report]
    (is (= r (edn/read-string (pr-str r))))
    (is (string? (get-in r [:main :table])))
    (is (every? #(and (keyword? (:name %)) (vector? (:panels %))) (:figures r)))
    (is (thrown-with-msg? clojure.lang.ExceptionInfo #":variant" (mp/reproduce {:variant :nope})))))
