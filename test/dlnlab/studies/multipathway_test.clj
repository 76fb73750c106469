(ns dlnlab.studies.multipathway-test
  "The [MP] reproduction (doc/science.md §5): the theory this namespace adds (edge
  split, plateau strength, window) against independent routes (the dense Hessian
  of a network built at the split + LAPACK, dlnlab.theory's learning time), and
  the qualitative claim on `reduced` with margins and the contrast cases (small
  lr vs window lr, L = 3 vs L = 2, above the window)."
  (:require [clojure.edn :as edn]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.core :as core]
            [dlnlab.dense :as dense]
            [dlnlab.studies.multipathway :as mp]
            [dlnlab.theory :as th])
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

(deftest theory-sharpness-matches-the-networks-dense-hessian
  (testing "dlnlab.theory's multi-pathway sharpness at the minima this namespace builds"
    (doseq [[L s shares] [[3 1.0 [0.7 0.3]] [4 2.0 [0.5 0.3 0.2]] [2 1.5 [0.6 0.4]] [5 0.8 [1.0 0.0]]]]
      (let [top (dense-top-eigenvalue (split-network L s shares))]
        (is (close? (th/multi-pathway-sharpness (map #(* (double s) (double %)) shares) L) top (* 1e-8 top))
            (str "L=" L " s=" s " shares=" shares))))))

(deftest window-marks-empty-windows
  (is (false? (:empty? (th/pathway-window 3 1.0 2))))
  (is (true? (:empty? (th/pathway-window 2 1.0 3))))
  (is (true? (:empty? (th/pathway-window 4 1.0 1))))
  (testing "the window widens with depth and with K"
    (let [ratio (fn [L K] (let [{:keys [lr-min lr-max]} (th/pathway-window L 1.0 K)]
                            (/ (double lr-max) (double lr-min))))]
      (is (< (double (ratio 3 2)) (double (ratio 5 2)) (double (ratio 7 2))))
      (is (< (double (ratio 4 2)) (double (ratio 4 3)) (double (ratio 4 4)))))))

(deftest edge-split-has-hessian-sharpness-two-over-lr
  (doseq [[L K f] [[3 2 0.4] [5 2 0.7] [4 3 0.5] [3 4 0.8]]]
    (let [{:keys [lr-min lr-max]} (th/pathway-window L 1.0 K)
          lr (+ (double lr-min) (* (double f) (- (double lr-max) (double lr-min))))
          {:keys [regime shares dominant-share]} (th/edge-split L 1.0 K lr)]
      (testing (str "L=" L " K=" K " lr=" lr)
        (is (= :split regime))
        (is (close? 1.0 (reduce + shares) 1e-12))
        (is (= dominant-share (apply max shares)))
        (is (close? (/ 2.0 lr) (dense-top-eigenvalue (split-network L 1.0 shares)) 1e-7)))))
  (testing "outside the window"
    (is (= :single (:regime (th/edge-split 3 1.0 2 0.5))))
    (is (= :no-stable-split (:regime (th/edge-split 3 1.0 2 0.9))))
    (is (= :no-stable-split (:regime (th/edge-split 2 1.0 2 1.01)))))
  (let [e (try (th/edge-split 1 1.0 2 0.1) (catch clojure.lang.ExceptionInfo e e))]
    (is (= [:depth] (:path (ex-data e))))
    (is (= 1 (:value (ex-data e))))))

(deftest plateau-strength-inverts-the-learning-time
  (doseq [[L s t0] [[3 1.0 50.0] [5 2.0 50.0] [7 0.5 20.0] [2 1.0 7.0]]]
    (is (close? t0 (th/learning-time {:s s :pi0 (th/plateau-strength L s t0) :depth L} {:method :asymptotic})
                (* 1e-9 (double t0)))
        (str "L=" L " s=" s))))

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

;; ---------------------------------------------------------------- the claim, recomputed without the study's code

(defn- shares-by-hand
  "Each pathway's product W_L ... W_1 (a 1 x 1 target, so a number) from a run's
  final weights [[W_1 .. W_L] per pathway], by plain matrix products, and its
  share of their sum: {:products [...] :shares [...]}."
  [result]
  (let [products (mapv (fn [ws] (double (ffirst (reduce (fn [acc w] (dense/mmul w acc)) (first ws) (rest ws)))))
                       (get-in result [:final :weights]))
        total (double (reduce + products))]
    {:products products :shares (mapv #(/ (double %) total) products)}))

(deftest the-claim-recomputed-from-the-final-weights
  ;; At L = 3, K = 2 from the 0.6 / 0.4 split: a small learning rate ends with one
  ;; pathway holding everything (the winner-takes-all split of dlnlab.theory), a
  ;; learning rate mid-window ends re-balanced at the edge split, whose sharpness
  ;; is 2/lr. Shares from the final weights by hand, sharpness from the dense
  ;; Hessian by LAPACK. Converged means the products sum to s = 1 within 1e-6
  ;; (the runs stop at loss 1e-24, |F - 1| ~ 1e-12).
  (let [cfg {:depth 3 :pathways 2 :max-steps 20000}
        grid (mp/lr-grid 3 1.0 2 {:below [0.05] :inside [0.5] :above []})
        run-at (fn [place] (let [lr (double (:lr (first (filter #(= place (:place %)) grid))))]
                             [lr (core/run (mp/experiment cfg {:kind :gd :lr lr}))]))]
    (testing "small lr: winner takes all, as the conserved quantities predict"
      (let [[_ r] (run-at :below)
            {:keys [products shares]} (shares-by-hand r)
            c0 (mapv #(* (double (th/plateau-strength 3 1.0 50.0)) (double %)) [0.6 0.4])
            wta (double (apply max (th/winner-takes-all-split c0 1.0 3)))]
        (is (close? 1.0 (reduce + products) 1e-6))
        (is (> (double (apply max shares)) 0.99))
        (is (close? wta (apply max shares) 0.002))))
    (testing "mid-window lr: re-balanced at the edge split, sharpness just below 2/lr"
      (let [[lr r] (run-at :inside)
            {:keys [products shares]} (shares-by-hand r)
            edge (th/edge-split 3 1.0 2 lr)
            top (dense-top-eigenvalue (core/set-weights (core/network (:experiment r)) (get-in r [:final :weights])))]
        (is (close? 1.0 (reduce + products) 1e-6))
        (is (< (double (apply max shares)) 0.9) (str shares))
        (is (close? (:dominant-share edge) (apply max shares) 0.02) (str shares " vs " (:shares edge)))
        (is (<= 0.97 (/ top (/ 2.0 (double lr))) 1.0) (str "sharpness " top " vs 2/lr " (/ 2.0 (double lr))))))))
