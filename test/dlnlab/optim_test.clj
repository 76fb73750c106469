(ns dlnlab.optim-test
  "The optimizers through dlnlab.core/run: what each sampler draws (observed
  through a one-hot dataset whose updates reveal the batch), Langevin's
  stationary law on a quadratic, and the learning-rate multiplier of :mup and
  :ntk in gradient descent, gradient flow and the analysis.

  Every statistical assertion below runs on fixed seeds, so it is deterministic;
  the false-alarm rate given with each is the probability that a correct
  implementation fails it on a fresh seed, and the bug each is meant to catch
  moves the statistic by many times its threshold."
  (:require [clojure.test :refer [deftest is testing]]
            [dlnlab.analysis :as analysis]
            [dlnlab.core :as core]
            [dlnlab.theory :as th]))

(set! *warn-on-reflection* true)

;; --- a dataset that reveals its batches ------------------------------------------------
;;
;; n samples x_i = e_i (one-hot, D = n), y_i a scalar, a depth-1 chain F = W (1 x n,
;; standard parameterization, alpha = 1) started at W = 0. A batch B of m samples (with
;; multiplicities k_i) has minibatch loss 1/(2m) sum_B (W x_j - y_j)^2, whose gradient
;; is (k_i/m) (W_i - y_i) in coordinate i and 0 elsewhere, so one SGD step is
;;   W_i - y_i  <-  (1 - lr k_i / m) (W_i - y_i)        (every other coordinate unchanged)
;; and the full training loss is 1/(2n) sum_i (W_i - y_i)^2.

(defn- one-hot-experiment [ys optimizer steps seed]
  (let [n (count ys)]
    {:seed seed
     :model {:kind :chain :widths [n 1] :init {:kind :given :weights [[[(vec (repeat n 0.0))]]]}}
     :task {:kind :dataset
            :x (vec (for [i (range n)] (vec (for [j (range n)] (if (= i j) 1.0 0.0)))))
            :y (mapv vector ys)}
     :optimizer optimizer
     :steps steps
     :record {:every 1 :metrics [:loss]}}))

(defn- final-row [result] (get-in result [:final :weights 0 0 0]))

(defn- draw-counts
  "Times each index was drawn by :with-replacement SGD with batch size b over the
  run: with y = 1 every draw of i multiplies 1 - W_i by (1 - lr/b) to first order
  (k draws in one step give 1 - lr k/b, which differs by (lr/b)^2 k^2/2, below the
  rounding tolerance for lr/b = 1e-4 and the counts here)."
  [n b steps seed]
  (let [lr 1e-4
        r (core/run (one-hot-experiment (vec (repeat n 1.0))
                                        {:kind :sgd :lr lr :batch-size b :sampling :with-replacement}
                                        steps seed))
        w (final-row r)]
    (mapv (fn [i] (/ (* (- (Math/log1p (- (double (w i))))) (double b)) lr)) (range n))))

(deftest with-replacement-draws-every-index-uniformly
  ;; Pearson's chi-square of the n = 10 counts against the uniform, 9 degrees of
  ;; freedom: P(X > 27.88) = 1e-3 is the false-alarm rate of each seed. A sampler that
  ;; never draws the last example puts 0 where 300 are expected: X >= 300.
  (doseq [[b steps seed] [[1 3000 11] [3 1000 12]]]
    (let [n 10
          counts (draw-counts n b steps seed)
          rounded (mapv #(Math/round (double %)) counts)
          expected (/ (* (double b) steps) n)
          x2 (reduce + (map #(/ (Math/pow (- (double %) expected) 2.0) expected) rounded))]
      (testing (str "batch " b)
        (is (every? true? (map #(< (Math/abs (- (double %1) (double %2))) 0.05) counts rounded))
            (str "each draw moves W_i by exactly one factor (1 - lr/b): " counts))
        (is (= (* b steps) (reduce + rounded)) "b draws per step")
        (is (< x2 27.88) (str "chi-square " x2 " counts " rounded))
        (is (pos? (long (peek rounded))) "the last example is drawn")))))

(defn- decode-epochs
  "Batch size 1, :epochs sampling, lr 1/2: each step halves the residual of the one
  index drawn, so the drop of the recorded loss, 3/4 r_i^2 / (2n), names it (the
  y_i lie in [1, 1.9), so no two residuals y_i 2^-k can be equal). Returns the
  permutation of each epoch and the worst relative misfit of a step's loss drop."
  [ys seed epochs]
  (let [n (count ys)
        r (core/run (one-hot-experiment ys {:kind :sgd :lr 0.5 :batch-size 1 :sampling :epochs} (* n epochs) seed))
        loss (get-in r [:trajectory :loss])]
    (loop [t 0 res (mapv double ys) perm [] perms [] misfit 0.0]
      (if (= t (* n epochs))
        {:perms perms :misfit misfit}
        (let [drop (- (double (loss t)) (double (loss (inc t))))
              cands (remove (set perm) (range n))
              want (fn [i] (/ (* 0.75 (Math/pow (double (res i)) 2.0)) (* 2.0 n)))
              i (apply min-key #(Math/abs (- drop (double (want %)))) cands)
              misfit (max misfit (/ (Math/abs (- drop (double (want i)))) (double (want i))))
              perm (conj perm i)
              res (update res i #(* 0.5 (double %)))]
          (if (= n (count perm))
            (recur (inc t) res [] (conj perms perm) misfit)
            (recur (inc t) res perm perms misfit)))))))

(defn- cycle-count [perm]
  (loop [seen #{} cycles 0 i 0]
    (cond (= i (count perm)) cycles
          (seen i) (recur seen cycles (inc i))
          :else (recur (into seen (take-while (complement #{i}) (iterate perm (perm i)))) (inc cycles) (inc i)))))

(deftest epochs-are-uniform-random-permutations
  ;; 20 seeds x 20 epochs = 400 permutations of n = 6.
  (let [n 6
        ys (mapv #(+ 1.0 (/ (* 0.9 (double %)) n)) (range n))
        decoded (map #(decode-epochs ys % 20) (range 20))
        perms (vec (mapcat :perms decoded))
        k (count perms)
        mean #(/ (double (reduce + %)) (count %))]
    (is (< (double (reduce max (map :misfit decoded))) 1e-6) "every step is the hand-rebuilt update of one sample")
    (is (= 400 k))
    (is (every? #(= (set (range n)) (set %)) perms) "each epoch draws every sample exactly once")
    (testing "fixed points: mean 1, variance 1 under a uniform permutation"
      ;; |z| < 4: false alarm 6.3e-5 (normal approximation). Only-cyclic shuffles
      ;; (Sattolo) have no fixed point: z = -20.
      (let [fixed (map (fn [p] (count (filter #(= % (p %)) (range n)))) perms)
            z (/ (- (double (mean fixed)) 1.0) (/ 1.0 (Math/sqrt k)))]
        (is (< (Math/abs z) 4.0) (str "z " z))))
    (testing "cycle count: mean H_6, variance H_6 - H_6^(2)"
      ;; |z| < 4 as above; Sattolo's single cycle gives z = -30.
      (let [h1 (reduce + (map #(/ 1.0 (double %)) (range 1 (inc n))))
            h2 (reduce + (map #(/ 1.0 (* (double %) (double %))) (range 1 (inc n))))
            z (/ (- (double (mean (map cycle-count perms))) h1) (Math/sqrt (/ (- h1 h2) k)))]
        (is (< (Math/abs z) 4.0) (str "z " z))))
    (testing "which sample sits at which position: chi-square, 25 degrees of freedom"
      ;; rows and columns of the 6 x 6 table each sum to 400/6 x 6: (n-1)^2 = 25
      ;; degrees of freedom; P(X > 52.62) = 1e-3.
      (let [e (/ (double k) n)
            table (frequencies (for [p perms pos (range n)] [pos (p pos)]))
            x2 (reduce + (for [pos (range n) i (range n)] (/ (Math/pow (- (double (get table [pos i] 0)) e) 2.0) e)))]
        (is (< x2 52.62) (str "chi-square " x2))))
    (testing "a fresh shuffle every epoch"
      ;; consecutive epochs agree with probability 1/720: about 0.5 of 380 pairs
      (let [same (count (filter true? (mapcat (fn [{:keys [perms]}] (map = perms (rest perms))) decoded)))]
        (is (<= same 3) (str same " repeated epochs"))))))

(deftest the-partial-last-batch-is-averaged-over-its-own-samples
  ;; n = 5, batch 2: an epoch is batches of 2, 2 and 1. With lr = 1/2 a sample in a
  ;; full batch has its residual multiplied by 1 - lr/2 = 3/4, the one in the last
  ;; batch by 1 - lr/1 = 1/2. After k epochs every residual ratio r_i / y_i is
  ;; (3/4)^a (1/2)^b with a + b = k, and the b's add up to k (one singleton per epoch).
  ;; A stale sample left in the last batch, a batch padded to b, or a dropped last
  ;; batch breaks one of these.
  (let [ys [1.0 1.3 1.7 2.2 2.9]
        n (count ys)]
    (doseq [epochs [1 2 3] seed [1 2]]
      (let [r (core/run (one-hot-experiment ys {:kind :sgd :lr 0.5 :batch-size 2 :sampling :epochs} (* 3 epochs) seed))
            w (final-row r)
            ratios (mapv (fn [i] (/ (- (double (ys i)) (double (w i))) (double (ys i)))) (range n))
            split (fn [^double ratio]
                    (first (for [b (range (inc epochs))
                                 :let [want (* (Math/pow 0.75 (- epochs (long b))) (Math/pow 0.5 b))]
                                 :when (< (Math/abs (- ratio want)) 1e-12)]
                             b)))
            bs (mapv split ratios)]
        (is (every? some? bs) (str "epochs " epochs " ratios " ratios))
        (when (every? some? bs)
          (is (= epochs (reduce + bs)) (str "one singleton batch per epoch: " bs)))))))

(deftest one-pass-draws-fresh-teacher-samples-every-step
  ;; A teacher-student task with ONE training sample in D = 3: SGD on the training
  ;; set can only move W along x_1 and stays far from the teacher M, while one-pass
  ;; SGD sees a fresh x ~ N(0, I) each step, so E||W - M||^2 shrinks by
  ;; 1 - 2 lr + lr^2 (D + 2) = 0.85 a step: below 1e-100 after 2000 steps.
  (let [exp (fn [sampling] {:seed 5
                            :model {:kind :chain :depth 1 :init {:kind :given :weights [[[[0.0 0.0 0.0]]]]}}
                            :task {:kind :teacher-student :input-dim 3 :output-dim 1 :samples 1 :test-samples 0
                                   :teacher {:kind :matrix :matrix [[1.0 -0.5 0.25]]}}
                            :optimizer {:kind :sgd :lr 0.1 :batch-size 1 :sampling sampling}
                            :steps 2000 :record {:every 1000}})
        dist (fn [r] (Math/sqrt (reduce + (map #(Math/pow (- (double %1) (double %2)) 2.0)
                                                (get-in r [:final :weights 0 0 0]) [1.0 -0.5 0.25]))))]
    (is (< (double (dist (core/run (exp :one-pass)))) 1e-8))
    (is (> (double (dist (core/run (exp :with-replacement)))) 0.1))))

;; --- Langevin ------------------------------------------------------------------------------
;;
;; On l = 1/2 ||W - M||^2 (a depth-1 chain on a matrix-factorization task, Hessian the
;; identity, lambda = 1) each coordinate's residual r = W - M follows
;;   r' = (1 - lr) r + sqrt(2 lr T) xi,   xi ~ N(0, 1) fresh each step,
;; an AR(1) process. Its stationary variance v solves v = (1 - lr)^2 v + 2 lr T:
;;   v = 2 lr T / (1 - (1 - lr)^2) = 2 T / (2 - lr),
;; and its lag-1 correlation is 1 - lr. Started at r = 0 the variance after k steps is
;; v (1 - (1 - lr)^(2k)); with lr = 0.1 and k = 300 the deficit is 2e-28.
;; Runs with seeds 0..R-1 give independent paths; within a run the 16 coordinates draw
;; independent noise. A run of k + 1 steps repeats the k-step run's first k steps (the
;; noise is a function of seed, step and coordinate), so the pair (r_k, r_(k+1)) is one path.

(def ^:private langevin-target [[1.0 0.5 0.0 -1.0] [0.2 2.0 0.3 0.0] [0.0 -0.4 1.5 0.1] [0.7 0.0 0.0 0.9]])

(defn- langevin-residuals [lr temperature steps seed]
  (let [r (core/run {:seed seed
                     :model {:kind :chain :depth 1 :init {:kind :given :weights [[langevin-target]]}}
                     :task {:kind :matrix-factorization :matrix langevin-target}
                     :optimizer {:kind :langevin :lr lr :temperature temperature}
                     :steps steps :record {:every steps}})]
    (mapv - (flatten (get-in r [:final :weights 0 0])) (flatten langevin-target))))

(deftest langevin-stationary-variance-and-fresh-noise
  (let [lr 0.1 temperature 0.02 k 300 runs 150
        pairs (vec (mapcat (fn [seed] (map vector (langevin-residuals lr temperature k seed)
                                           (langevin-residuals lr temperature (inc k) seed)))
                           (range runs)))
        n (count pairs)
        v (/ (* 2.0 temperature) (- 2.0 lr))
        rk (map first pairs) rk1 (map second pairs)
        var-hat (/ (double (reduce + (map #(* (double %) (double %)) rk))) n)
        cov-hat (/ (double (reduce + (map #(* (double %1) (double %2)) rk rk1))) n)]
    (is (= 2400 n))
    (testing "stationary variance 2T/(2 - lr)"
      ;; mean-zero Gaussian: var-hat has standard error v sqrt(2/n) (2.9%); 4 of them
      ;; is a false alarm of 6.3e-5. Noise sqrt(lr T) instead of sqrt(2 lr T) halves
      ;; the variance (17 standard errors).
      (is (< (Math/abs (- var-hat v)) (* 4.0 v (Math/sqrt (/ 2.0 n)))) (str var-hat " vs " v)))
    (testing "lag-1 autocorrelation 1 - lr: the noise is fresh each step"
      ;; the sample correlation of n Gaussian pairs has standard error (1 - rho^2)/sqrt(n)
      ;; = 0.0039; the same noise every step makes r settle at sqrt(2 lr T) xi / lr,
      ;; a correlation of 1 (26 standard errors).
      (let [rho (- 1.0 lr) rho-hat (/ cov-hat var-hat)]
        (is (< (Math/abs (- rho-hat rho)) (* 4.0 (/ (- 1.0 (* rho rho)) (Math/sqrt n)))) (str rho-hat " vs " rho))))
    (testing "different seeds, different noise"
      (is (not= (langevin-residuals lr temperature 5 0) (langevin-residuals lr temperature 5 1))))))

;; --- the learning-rate multiplier ------------------------------------------------------
;;
;; Parameterizations (doc/design.md): a factor with fan-in f gets alpha = 1/sqrt(f),
;; the readout 1/(gamma0 f) under :mup and 1/(gamma0 sqrt(f D)) under :ntk; the
;; learning rate is multiplied by m = gamma0^2 N (:mup, N the readout's fan-in) or
;; gamma0^2 D (:ntk). For raw factors W_l with effective factors E_l = alpha_l W_l,
;; dW_l/dt = -m grad_W l = -m alpha_l grad_E l, so dE_l/dt = -(m alpha_l^2) grad_E l.

(defn- flow-modes [parameterization gamma0 time]
  (core/run {:seed 3
             :model {:kind :chain :widths [4 2 2] :parameterization parameterization :gamma0 gamma0
                     :init {:kind :balanced-aligned :strengths [0.05 0.02] :hidden-basis :random}}
             :task {:kind :matrix-factorization :singular-values [3.0 1.0] :dims [2 4] :basis :random}
             :optimizer {:kind :gradient-flow :rtol 1e-10 :atol 1e-12}
             :time time :steps 10
             :record {:every 1 :metrics [:modes]}}))

(deftest gradient-flow-under-mup-and-ntk-follows-the-per-mode-closed-form
  ;; widths [4 2 2]: D = 4, N = 2. :mup, gamma0 = 1: m = 2, m alpha_1^2 = 2/4 and
  ;; m alpha_2^2 = 2/(1 * 2)^2, both 1/2. :ntk, gamma0 = 1/sqrt 2: m = 4 gamma0^2 = 2,
  ;; m alpha_1^2 = 1/2, m alpha_2^2 = 2/(gamma0^2 * 2 * 4) = 1/2. So the effective
  ;; factors follow standard gradient flow at half speed: a balanced aligned start
  ;; stays balanced and aligned, and mode i is the depth-2 closed form at t/2. Without
  ;; the multiplier both layers would move at rate alpha^2 = 1/4: the closed form at
  ;; t/4, off by far more than the tolerance.
  (doseq [[p g] [[:mup 1.0] [:ntk (/ 1.0 (Math/sqrt 2.0))]]]
    (let [r (flow-modes p g 8.0)
          times (get-in r [:trajectory :time])
          modes (get-in r [:trajectory :modes])]
      (is (= :completed (:status r)))
      (doseq [[t pis] (map vector times modes)
              [i s pi0] [[0 3.0 0.05] [1 1.0 0.02]]]
        (let [want (th/gradient-flow-pi {:s s :pi0 pi0 :depth 2} (* 0.5 (double t)))]
          ;; rtol 1e-10 per step: the trajectory is good to 1e-7 relative
          (is (< (Math/abs (- (double (nth pis i)) want)) (* 1e-6 (max want 1e-3)))
              (str p " t " t " mode " i ": " (nth pis i) " vs " want)))))))

(deftest gradient-descent-uses-the-multiplier
  ;; Depth 1, D = 4, a single factor that is also the readout: alpha = 1/(gamma0 D)
  ;; under both :mup and :ntk, m = gamma0^2 D, so m alpha^2 = 1/D and each GD step
  ;; multiplies F - M by 1 - lr/D: the loss by (1 - lr/D)^2. With gamma0 = 2 a
  ;; dropped multiplier would give 1 - lr/64.
  (doseq [p [:mup :ntk]]
    (let [lr 0.8 steps 20
          r (core/run {:seed 4
                       :model {:kind :chain :depth 1 :parameterization p :gamma0 2.0}
                       :task {:kind :matrix-factorization :singular-values [2.0 1.0 0.5] :dims [3 4] :basis :random}
                       :optimizer {:kind :gd :lr lr}
                       :steps steps :record {:every 1 :metrics [:loss]}})
          loss (get-in r [:trajectory :loss])
          rate (Math/pow (- 1.0 (/ lr 4.0)) 2.0)]
      (doseq [k (range steps)]
        (is (< (Math/abs (- (/ (double (loss (inc k))) (double (loss k))) rate)) 1e-9) (str p " step " k))))))

(deftest the-analysis-threshold-uses-the-effective-learning-rate
  ;; :mup with widths [3 5 2], gamma0 = 1.5: m = gamma0^2 N = 2.25 x 5; the
  ;; stability threshold is 2/(lr m) whether the run passes it to the analysis or the
  ;; analysis derives it from the experiment.
  (let [lr 0.01
        r (core/run {:seed 2
                     :model {:kind :chain :widths [3 5 2] :parameterization :mup :gamma0 1.5}
                     :task {:kind :matrix-factorization :singular-values [1.0 0.5] :dims [2 3]}
                     :optimizer {:kind :gd :lr lr}
                     :steps 4 :record {:every 1 :metrics [:loss :sharpness]}})
        want (/ 2.0 (* lr 2.25 5.0))]
    (is (< (Math/abs (- (double (get-in r [:analysis :stability-threshold])) want)) (* 1e-12 want)))
    (is (< (Math/abs (- (double (:stability-threshold (analysis/analyze (dissoc r :analysis)))) want)) (* 1e-12 want)))))
