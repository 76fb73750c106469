(ns dlnlab.studies.transfer-test
  "Checks of the [BP] reproduction: the helpers against closed forms, the
  linearized (lazy) dynamics against a true gradient step and against the
  derived kernel scale L/D, and the qualitative claims on `reduced` with
  contrast cases that would fail them."
  (:require [clojure.edn :as edn]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.core :as core]
            [dlnlab.engine :as engine]
            [dlnlab.studies.transfer :as tr]
            [dlnlab.studies.transfer.estimate :as est]
            [dlnlab.studies.transfer.runs :as runs]
            [dlnlab.studies.transfer.verdict :as verdict]
            [dlnlab.theory :as theory]
            [dlnlab.vega :as vega])
  (:import [dlnlab.kernel Blas]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- close? [^double a ^double b ^double tol] (<= (Math/abs (- a b)) tol))

;; ---------------------------------------------------------------- helpers

(deftest power-law-fit-recovers-exact-power-laws
  (doseq [[c e] [[3.0 -0.7] [0.02 -1.3] [5.0 0.4]]]
    (let [xs (mapv #(Math/pow 10.0 (/ (double %) 10.0)) (range 0 31))
          ys (mapv #(* (double c) (Math/pow (double %) (double e))) xs)
          fit (est/power-law-fit xs ys)]
      (is (close? e (:exponent fit) 1e-10))
      (is (close? c (:prefactor fit) (* 1e-9 (double c))))
      (is (close? 1.0 (:r2 fit) 1e-12))))
  (testing "non-positive points are skipped; fewer than 3 points give nil"
    (is (close? -2.0 (:exponent (est/power-law-fit [0 1 2 4 -1] [5 1.0 0.25 0.0625 3])) 1e-12))
    (is (nil? (est/power-law-fit [1 2] [1 2])))))

(deftest fit-in-window-uses-only-the-window
  ;; slope -1 before step 10, -2 after (continuous at 10)
  (let [steps (vec (range 0 101))
        ls (mapv (fn [^long s] (if (<= s 10) (/ 1.0 (max s 1)) (* 10.0 (Math/pow s -2.0)))) steps)]
    (is (close? -2.0 (:exponent (est/fit-in-window steps ls [10 100])) 1e-9))
    (is (close? -1.0 (:exponent (est/fit-in-window steps ls [1 10])) 1e-9))
    (is (= [10 100] (:window (est/fit-in-window steps ls [10 100]))))))

(deftest tail-mean-argmin-and-level-window
  (is (close? (Math/exp 3.5) (est/geometric-tail-mean (mapv #(Math/exp (double %)) (range 5)) 0.4) 1e-9))
  (is (nil? (est/geometric-tail-mean [1.0 2.0 Double/NaN] 0.2)))
  (is (nil? (est/geometric-tail-mean [] 0.5)))
  (is (= 2 (est/argmin-index [nil 3.0 1.0 nil 1.0 2.0])))
  (is (nil? (est/argmin-index [nil nil])))
  (is (= [1 3] (est/level-window [0 1 2 3 4] [1.0 0.5 0.3 0.1 0.05] 0.5 0.1)))
  (is (nil? (est/level-window [0 1 2] [1.0 0.5 0.3] 0.5 0.1)))
  (is (close? 0.0 (runs/curve-distance [1.0 0.5] [1.0 0.5]) 0.0))
  (is (close? (Math/log 2.0) (runs/curve-distance [1.0 0.5] [2.0 0.25]) 1e-12))
  (is (nil? (runs/curve-distance [1.0 Double/NaN] [1.0 1.0])))
  (testing "seed averages of optima on a log grid, in half-octaves"
    (is (close? 2.0 (tr/geometric-mean-lr [1.0 2.0 4.0] [0 2]) 1e-12))
    (is (nil? (tr/geometric-mean-lr [1.0 2.0] [0 nil])))
    (is (close? 2.0 (tr/half-octave-spread [1.0 2.0 1.5]) 1e-12))
    (is (close? 1.0 (tr/half-octave-spread [0.5 (Math/sqrt 0.5)]) 1e-12))
    (is (nil? (tr/half-octave-spread [1.0 nil])))))

(deftest isotropic-lazy-losses-closed-forms
  (testing "D = 2: each eigendirection decays as (1 - c lambda)^(2s)"
    (let [ls (est/isotropic-lazy-losses 1.0 2 0.3 5)]
      (doseq [s (range 6) :let [s (double s)]]
        (is (close? (/ (+ (Math/pow 0.7 (* 2.0 s)) (* 0.5 (Math/pow 0.85 (* 2.0 s)))) 1.5)
                    (nth ls s) 1e-14)))))
  (testing "the D -> infinity exponent -(alpha-1)/alpha against a direct sum with D = 10^6"
    ;; independent route: the sum itself at log-spaced times, far from the D cutoff
    (doseq [alpha [1.5 2.0]]
      (let [D 1000000
            lams (double-array (map #(Math/pow (double %) (- (double alpha))) (range 1 (inc D))))
            loss (fn [^double t] (areduce lams k acc 0.0 (+ acc (* (aget lams k) (Math/exp (* -2.0 (aget lams k) t))))))
            ts (mapv #(Math/pow 10.0 (/ (double %) 4.0)) (range 8 17))
            fit (est/power-law-fit ts (mapv loss ts))]
        (is (close? (theory/lazy-exponent alpha) (:exponent fit) 0.02) (str "alpha " alpha)))))
  (is (close? (/ -2.0 3.0) (theory/rich-exponent 2.0) 1e-12)))

;; ---------------------------------------------------------------- the 1/N extrapolation

(deftest seed-mean-and-standard-error
  (let [{:keys [mean se n]} (est/mean-and-standard-error [1.0 2.0 3.0 4.0])]
    (is (close? 2.5 mean 1e-15))
    ;; unbiased variance 5/3, se = sqrt(5/3 / 4)
    (is (close? (Math/sqrt (/ 5.0 12.0)) se 1e-15))
    (is (= 4 n)))
  (is (nil? (est/mean-and-standard-error [1.0])))
  (is (nil? (est/mean-and-standard-error [1.0 Double/NaN]))))

(deftest t-quantiles-match-closed-forms
  ;; dof 1 is the Cauchy law: t = tan(pi (p - 1/2)); dof 2: t = (2p - 1) / sqrt(2 p (1 - p))
  (is (close? (Math/tan (* Math/PI 0.475)) (est/t-quantile-975 1) 1e-3))
  (is (close? (/ 0.95 (Math/sqrt (* 2.0 0.975 0.025))) (est/t-quantile-975 2) 1e-3))
  (is (close? 1.96 (est/t-quantile-975 1000) 1e-12))
  (is (apply > (map est/t-quantile-975 (range 1 31)))))

(def ^:private widths [32 64 128 256 512 1024])

(deftest inverse-width-fit-recovers-exact-lines
  (doseq [[l c] [[0.004 1.0] [0.05 -0.3] [1.0 0.0]]]
    (let [ys (mapv #(+ (double l) (/ (double c) (double %))) widths)
          ses (mapv #(/ 0.1 (Math/sqrt (double %))) widths)
          fit (est/inverse-width-fit widths ys ses)]
      (is (close? l (:l-inf fit) 1e-12))
      (is (close? c (:c fit) 1e-9))
      (is (close? 0.0 (:chi2 fit) 1e-12))
      (is (= 4 (:dof fit)))
      (is (== 1.0 (:scale fit)))))
  (is (nil? (est/inverse-width-fit [32] [1.0] [0.1])))
  (is (nil? (est/inverse-width-fit [32 64] [1.0 0.5] [0.1 0.0]))))

(defn- weighted-rss [widths ys ses l c]
  (reduce + (map (fn [N y e] (let [r (- (double y) (double l) (/ (double c) (double N)))] (/ (* r r) (* (double e) (double e)))))
                 widths ys ses)))

(deftest inverse-width-fit-minimizes-the-weighted-residuals
  ;; independent route: the closed form is the minimum of the weighted residual
  ;; sum of squares; a step of relative size 1e-4 in either parameter raises it
  (let [rng (java.util.Random. 7)
        ses (mapv #(/ 0.2 (double %)) [1 2 3 4 5 6])
        ys (mapv (fn [N e] (+ 0.01 (/ 1.0 (double N)) (* (double e) (.nextGaussian rng)))) widths ses)
        {:keys [l-inf c]} (est/inverse-width-fit widths ys ses)
        f0 (weighted-rss widths ys ses l-inf c)]
    (doseq [[dl dc] [[1e-4 0] [-1e-4 0] [0 1e-4] [0 -1e-4] [1e-4 1e-4] [1e-4 -1e-4]]]
      (is (< f0 (weighted-rss widths ys ses (+ (double l-inf) (* (double dl) (Math/abs (double l-inf))))
                              (+ (double c) (* (double dc) (Math/abs (double c))))))))))

(deftest inverse-width-fit-errors-match-monte-carlo
  ;; synthetic seed means with known L_inf, c and Gaussian errors of known se:
  ;; the estimates are unbiased, the sd of c over draws is sqrt(S/Delta) (the
  ;; unscaled c-se), and the 95% intervals cover the true c at least 95% of the
  ;; time (Birge scaling and the t quantile only widen them)
  (let [rng (java.util.Random. 11)
        l 0.004 c 1.0 draws 4000
        ses (mapv #(/ 0.05 (Math/sqrt (double %))) widths)
        fits (vec (repeatedly draws (fn [] (est/inverse-width-fit
                                            widths
                                            (mapv (fn [N e] (+ l (/ c (double N)) (* (double e) (.nextGaussian rng)))) widths ses)
                                            ses))))
        cs (mapv :c fits)
        mean-c (/ (double (reduce + cs)) draws)
        sd-c (Math/sqrt (/ (double (reduce + (map #(let [d (- (double %) mean-c)] (* d d)) cs))) (dec draws)))
        unscaled-se (let [f (first fits)] (/ (double (:c-se f)) (Math/sqrt (double (:scale f)))))
        covered (count (filter (fn [{[lo hi] :c-interval}] (<= (double lo) c (double hi))) fits))
        preds (mapv #(:predicted (est/inverse-width-prediction % 4096)) fits)
        mean-p (/ (double (reduce + preds)) draws)
        sd-p (Math/sqrt (/ (double (reduce + (map #(let [d (- (double %) mean-p)] (* d d)) preds))) (dec draws)))
        unscaled-sd-p (let [f (first fits)] (/ (double (:sd (est/inverse-width-prediction f 4096))) (Math/sqrt (double (:scale f)))))]
    ;; the mean of 4000 draws is within 4 of its standard errors
    (is (< (Math/abs (- mean-c c)) (* 4.0 (/ unscaled-se (Math/sqrt draws)))))
    ;; the relative error of a sd from n draws is about 1/sqrt(2n) ~ 1.1%
    (is (close? unscaled-se sd-c (* 0.05 unscaled-se)))
    ;; binomial sd of the coverage at 95% over 4000 draws ~ 0.0035
    (is (>= (/ (double covered) draws) (- 0.95 (* 4.0 0.0035))))
    (testing "the prediction at an unseen width N = 4096: unbiased, its sd (covariance included) as over the draws"
      (is (< (Math/abs (- mean-p (+ l (/ c 4096.0)))) (* 4.0 (/ unscaled-sd-p (Math/sqrt draws)))))
      (is (close? unscaled-sd-p sd-p (* 0.05 unscaled-sd-p))))))

;; ---------------------------------------------------------------- linearized dynamics

(defn- small-net [model]
  (core/network {:seed 3 :model model
                 :task {:kind :teacher-student :input-dim 5 :output-dim 2 :samples 40 :test-samples 0
                        :covariance {:power-law 1.0}}}))

(defn- gd-step-change
  "F after one true gradient step minus F before, from the engine's gradient."
  ^doubles [net ^double lr]
  (let [p ^doubles (:params net)
        g (engine/gradient net)
        q (aclone p)
        lr-eff (* lr (double (:lr-multiplier net)))
        _ (Blas/axpy (alength q) (- lr-eff) g 0 q 0)
        f0 ^doubles (:f (engine/end-to-end net p))
        f1 ^doubles (:f (engine/end-to-end net q))]
    (amap f1 i ret (- (aget f1 i) (aget f0 i)))))

(defn- linearized-step-change
  "The change of F in one linearized step: -lr_eff sum_j c_j P_j R Q_j."
  ^doubles [net ^double lr]
  (let [terms (est/tangent-kernel-terms net)
        din 5 dout 2 m (* din dout)
        obj ^dlnlab.kernel.Objective (:objective net)
        f ^doubles (:f (engine/end-to-end net (:params net)))
        r (double-array m) t (double-array m) out (double-array m)
        lr-eff (* lr (double (:lr-multiplier net)))]
    (.lossAndResidual obj f r (double-array (.workSize obj)))
    (doseq [{:keys [c p q]} terms]
      (Blas/gemm false false dout din dout 1.0 p 0 dout r 0 dout 0.0 t 0 dout)
      (Blas/gemm false false dout din din (- (* lr-eff (double c))) t 0 dout q 0 din 1.0 out 0 dout))
    out))

(defn- rel-diff ^double [^doubles a ^doubles b]
  (let [^doubles d (amap a i ret (- (aget a i) (aget b i)))]
    (/ (Blas/nrm2 (alength d) d 0) (Blas/nrm2 (alength a) a 0))))

(deftest tangent-kernel-is-the-first-order-change-of-a-gradient-step
  (doseq [model [{:kind :chain :depth 3 :width 7 :parameterization :mup :gamma0 1.0}
                 {:kind :chain :depth 2 :width 6 :parameterization :ntk :gamma0 0.5}
                 {:kind :residual :depth 3 :width 6 :parameterization :mup :gamma0 1.0 :beta0 1.0}]]
    (let [net (small-net model)
          e1 (rel-diff (gd-step-change net 1e-3) (linearized-step-change net 1e-3))
          e2 (rel-diff (gd-step-change net 5e-4) (linearized-step-change net 5e-4))]
      (testing (str model)
        ;; the remainder is second order in lr: small, and halving lr halves it
        (is (< e1 1e-2))
        (is (close? 2.0 (/ e1 e2) 0.1))))))

(deftest linearized-losses-step-matches-the-kernel-terms
  (let [net (small-net {:kind :chain :depth 3 :width 7 :parameterization :mup :gamma0 1.0})
        ls (est/linearized-losses net 1e-3 1)
        f ^doubles (:f (engine/end-to-end net (:params net)))
        ^doubles dl (linearized-step-change net 1e-3)
        f1 (amap f i ret (+ (aget f i) (aget dl i)))
        obj ^dlnlab.kernel.Objective (:objective net)]
    (is (= 2 (count ls)))
    (is (close? (core/loss net) (first ls) 1e-14))
    (is (close? (.lossAndResidual obj f1 nil (double-array (.workSize obj))) (second ls) 1e-14))))

(deftest wide-mup-chain-kernel-scale-is-depth-over-input-dim
  ;; doc/science.md §1 muP: each of the L layers contributes about 1/D per unit lr to
  ;; the kernel at initialization, so sum_j m c_j tr(P_j)/dout tr(Q_j)/din -> L/D
  (doseq [[L D N] [[3 8 1024] [2 4 1024]]]
    (let [net (core/network {:seed 1 :model {:kind :chain :depth L :width N :parameterization :mup :gamma0 0.7}
                             :task {:kind :teacher-student :input-dim D :output-dim 1 :samples 16 :test-samples 0}})
          mult (double (:lr-multiplier net))
          trace (fn [^doubles a ^long n] (loop [i 0 s 0.0] (if (< i n) (recur (inc i) (+ s (aget a (+ i (* i n))))) s)))
          scale (reduce + (for [{:keys [c p q]} (est/tangent-kernel-terms net)]
                            (* mult (double c) (double (trace p 1)) (/ (double (trace q D)) (double D)))))]
      (is (close? (/ (double L) (double D)) scale (* 0.1 (/ (double L) (double D)))) (str [L D N])))))

(deftest linearized-losses-follow-a-lazy-run
  ;; gamma0 -> 0 under muP is the lazy limit: the run stays on the linearized path
  (let [exp {:seed 2 :model {:kind :chain :depth 3 :width 256 :parameterization :mup :gamma0 0.02}
             :task {:kind :teacher-student :input-dim 8 :output-dim 1 :samples 64 :test-samples 0
                    :covariance {:power-law 1.0}}
             :optimizer {:kind :gd :lr 0.5} :steps 50
             :record {:every 1 :metrics [:loss] :final-weights false}}
        run (get-in (core/run exp) [:trajectory :loss])
        lin (est/linearized-losses (core/network exp) 0.5 50)
        rich (get-in (core/run (assoc-in exp [:model :gamma0] 2.0)) [:trajectory :loss])
        lin-rich (est/linearized-losses (core/network (assoc-in exp [:model :gamma0] 2.0)) 0.5 50)]
    (is (< (runs/curve-distance run lin) 0.02))
    (testing "contrast: a rich network leaves its linearization"
      (is (> (runs/curve-distance rich lin-rich) 0.1)))))

;; ---------------------------------------------------------------- the claims on `reduced`

(def ^:private report (delay (tr/reduced)))

(defn- part [k] (get-in @report [:parts k :result]))

(deftest width-mup-optimum-stays-ntk-optimum-moves
  (let [w (part :width)
        by (fn [p] (get-in w [:summary p :best-index-by-seed 1]))
        row (fn [p N] (first (filter #(and (= p (:parameterization %)) (= N (:width %))) (:runs w))))]
    (is (= [16 64 256] (:widths w)))
    (testing "each run's best index is the first argmin of its scores, recomputed here from the scores"
      (doseq [r (:runs w)]
        (is (= (:best-index r) (ffirst (sort-by second (keep-indexed (fn [i x] (when x [i x])) (:scores r))))))))
    (testing "muP: the same optimal lr index at every width (within one half-octave)"
      (is (every? some? (by :mup)))
      (is (<= (- (long (apply max (by :mup))) (long (apply min (by :mup)))) 1)))
    (testing "NTK: the optimum moves up by at least two half-octaves from N = D to N = 16 D"
      (is (>= (- (long (last (by :ntk))) (long (first (by :ntk)))) 2)))
    (testing "at N = D the two parameterizations are the same network (doc/science.md §1)"
      (is (= (:scores (row :mup 16)) (:scores (row :ntk 16))))
      (is (not= (:scores (row :mup 256)) (:scores (row :ntk 256)))))
    (testing "the widest NTK network is nearer its lazy (linearized) optimum than the narrowest"
      (let [gap (fn [N] (Math/abs (- (long (:best-index (row :ntk N))) (long (:lazy-best-index (row :ntk N))))))]
        (is (< (gap 256) (gap 16)))))))

(defn- unscaled-residual-curves
  "Loss curves of the reduced depth runs with branches not scaled by 1/sqrt(L)
  (beta0 = sqrt L makes the branch scale 1)."
  []
  (vec (for [L [4 8 16]]
         (get-in (core/run (-> tr/depth-experiment
                               (assoc :seed 1 :steps 40)
                               (assoc-in [:model :width] 64)
                               (assoc-in [:model :depth] L)
                               (assoc-in [:model :beta0] (Math/sqrt L))
                               (assoc-in [:optimizer :lr] 0.25)))
                 [:trajectory :loss]))))

(deftest residual-curves-converge-with-depth
  (let [d (part :depth)
        [d4 d8] (get-in d [:summary :pooled-distance-to-deepest])]
    (is (= [4 8 16] (:depths d)))
    (testing "with 1/sqrt(L) branches the curves approach each other as L grows"
      (is (< (double d8) (double d4)))
      (is (< (double d8) 0.5)))
    (testing "contrast: unscaled branches give curves far apart (or diverging runs)"
      (let [[c4 c8 c16] (unscaled-residual-curves)
            far (fn [a b] (let [x (runs/curve-distance a b)] (or (nil? x) (> (double x) (* 3.0 (double d8))))))]
        (is (far c8 c16))
        (is (far c4 c16))))))

(deftest residual-optimum-settles-with-depth
  (let [d (part :depth)
        s (:summary d)
        half-octaves (fn [a b] (tr/half-octave-spread [a b]))]
    (is (= [1 2 3 4] (:seeds d)))
    (testing "per-seed grid optima are reported for every depth"
      (is (= #{1 2 3 4} (set (keys (:best-index-by-seed s)))))
      (is (every? #(= 3 (count %)) (vals (:best-index-by-seed s)))))
    (testing "with 1/sqrt(L) branches the seed-geometric-mean optimum moves by at most one half-octave for L >= 8"
      (is (every? some? (:geometric-mean-best-lr s)))
      (is (<= (double (:deep-spread-half-octaves s)) 1.0))
      (is (:optimum-settles? (get-in @report [:parts :depth :verdict]))))
    (testing "contrast: unscaled branches (beta0 = sqrt L): the optimum falls by two half-octaves or more from L = 4 to 8, and no lr trains L = 16"
      (let [u (tr/depth-transfer (assoc (tr/part-options :reduced :depth {}) :branch-scale :unscaled
                                        :lrs (mapv #(Math/pow 2.0 (/ (double %) 2.0)) (range -12 3))))
            [g4 g8 g16] (get-in u [:summary :geometric-mean-best-lr])]
        (is (= :unscaled (:branch-scale u)))
        (is (>= (double (half-octaves g4 g8)) 2.0))
        (is (nil? g16))
        (is (nil? (get-in u [:summary :deep-spread-half-octaves])) "the criterion cannot pass without an optimum at every depth")))))

(deftest depth-transfer-rejects-unknown-branch-scales
  (let [e (try (tr/depth-transfer {:branch-scale :none}) nil (catch clojure.lang.ExceptionInfo e e))]
    (is (= [:branch-scale] (:path (ex-data e))))
    (is (= :none (:value (ex-data e))))))

(deftest one-pass-beats-repeated-data-once-data-repeat
  (let [dr (part :data)
        m (get-in dr [:by-seed 1])
        test-at (fn [k i] (double (nth (get-in m [k :test-loss]) i)))]
    (doseq [[rep one] [[:repeated-full-batch :one-pass-full-batch] [:repeated-epochs :one-pass-small-batch]]]
      (testing (str rep " vs " one)
        (is (= 0.0 (Math/abs (- (double (test-at rep 0)) (double (test-at one 0))))) "same initial network and test set")
        (is (< (/ (double (test-at rep 1)) (double (test-at one 1))) 1.5) "close while data is nearly fresh (step 5)")))
    (doseq [[rep one] [[:repeated-full-batch :one-pass-full-batch] [:repeated-epochs :one-pass-small-batch]]]
      (let [r (double (get-in m [rep :final-test-loss])) o (double (get-in m [one :final-test-loss]))]
        (is (> (/ r o) 10.0) (str rep " test loss stays far above " one))))
    (testing "repeated data is fit (train loss far below test loss); one-pass is not overfit"
      (is (< (* 30.0 (double (get-in m [:repeated-full-batch :final-loss])))
             (double (get-in m [:repeated-full-batch :final-test-loss]))))
      (is (< (double (get-in m [:one-pass-full-batch :final-test-loss]))
             (* 10.0 (double (get-in m [:one-pass-full-batch :final-loss]))))))))

(deftest power-law-exponents
  (let [pl (part :power-law)
        [lazy rich] (:runs pl)
        e (fn [r k1 k2] (double (get-in r [k1 k2 :exponent])))]
    (is (= [0.1 1.0] (mapv :gamma0 (:runs pl))))
    (testing "lazy: a power-law decay whose exponent is the linearized network's"
      (is (< (double (e lazy :late :run)) -0.3))
      (is (close? (double (e lazy :late :linearized)) (double (e lazy :late :run)) 0.05))
      (testing "and close to the isotropic lazy model at the same D and window (doc/science.md §2 data)"
        (is (close? (double (e lazy :late :isotropic)) (double (e lazy :late :run)) 0.15)))
      (testing "no shallower than the D -> infinity lazy exponent -(alpha-1)/alpha (a finite D only removes slow modes)"
        (is (< (double (e lazy :late :run)) (theory/lazy-exponent (:alpha pl))))))
    (testing "rich: the run leaves its linearization and decays faster"
      (is (< (double (e rich :late :run)) (- (double (e rich :late :linearized)) 0.2)))
      (is (< (double (e rich :level :run)) (double (e rich :level :linearized)))))
    (testing "contrast: the lazy run stays within 0.05 of its linearization, the rich one does not"
      (is (> (Math/abs (- (double (e rich :late :run)) (double (e rich :late :linearized)))) 0.05)))))

(deftest wider-is-better-under-mup
  (let [w (part :wider)
        v (get-in @report [:parts :wider :verdict])]
    (testing "the reduced run is the quick variant's width study, so the suite runs its check"
      (is (= (tr/part-options :quick :wider {}) (tr/part-options :reduced :wider {}))))
    (testing "the seed means at the judged step, recomputed here from fresh runs at N = 32"
      (let [ls (for [seed (:seeds w)]
                 (-> (core/run (-> tr/wider-experiment (assoc :seed seed) (assoc-in [:model :width] 32)))
                     (get-in [:trajectory :loss])
                     (nth (:at-step w))))
            m (/ (double (reduce + ls)) (count ls))]
        (is (close? m (first (:mup-mean v)) (* 1e-3 m)))))
    (testing "muP: seed means fall with width and c > 0 with its 95% interval above 0"
      (is (:mup-decreasing? v))
      (is (pos? (double (first (get-in v [:mup-fit :c-interval])))))
      (is (< (double (first (get-in v [:mup-fit :l-inf-interval]))) (double (last (:mup-mean v))))))
    (testing "the fit predicts the held-out wider network it did not see"
      (is (= 2048 (get-in v [:holdout :width])))
      (is (:holdout-predicted? v)))
    (testing "the extrapolated L_inf(t) is drawn dashed on the muP width figure, with seed bands"
      (let [f (first (filter #(= :wider-curves-mup (:name %)) (:figures @report)))
            layers (get-in f [:panels 0 :layers])]
        (is (some #(and (= :line (:mark %)) (:dash %) (re-find #"N → ∞" (:series %))) layers))
        (is (= (count (:widths w)) (count (filter #(= :band (:mark %)) layers))))))
    (testing "contrast: means that rise with N fail both parts of the claim"
      (let [bad (-> w
                    (assoc-in [:by-param :mup :at-step :mean] [0.01 0.011 0.012])
                    (assoc-in [:by-param :mup :fit] (est/inverse-width-fit [32 64 128] [0.01 0.011 0.012] [1e-4 1e-4 1e-4])))
            bv (verdict/wider-verdict bad)]
        (is (not (:mup-decreasing? bv)))
        (is (not (:mup-c-positive? bv)))))))

(deftest report-is-plain-data-with-checks-and-figures
  (let [r @report]
    (is (= r (edn/read-string (pr-str r))))
    (testing "every check the CLI prints passes on the reduced run"
      (is (= #{:mup-optimum-fixed :ntk-optimum-moves :depth-curves-converge :depth-optimum-settles
               :one-pass-beats-repeated :lazy-exponent-is-linearized :rich-exponent-steeper
               :wider-is-better :wider-is-better-fit :wider-extrapolation-holds}
             (set (keys (:checks r)))))
      (is (every? :pass? (vals (:checks r))))
      (is (= [:mup-optimum-fixed :wider-extrapolation-holds] ((juxt first last) (keys (:checks r))))
          "printed in the order of the parts"))
    (is (re-find #"\| 256 \|" (get-in r [:main :table])))
    (testing "figures are dlnlab.figure figure data: one per part at least, each a valid Vega-Lite spec"
      (is (<= 6 (count (:figures r))))
      (is (apply distinct? (map :name (:figures r))))
      (doseq [f (:figures r)]
        (is (seq (:series f)) (str (:name f)))
        (is (map? (vega/spec f)) (str (:name f)))))))

(deftest reproduce-rejects-unknown-variants-and-parts
  (let [e (try (tr/reproduce {:variant :medium}) nil (catch clojure.lang.ExceptionInfo e e))]
    (is (= [:variant] (:path (ex-data e))))
    (is (= :medium (:value (ex-data e)))))
  (let [e (try (tr/reproduce {:parts [:widht]}) nil (catch clojure.lang.ExceptionInfo e e))]
    (is (= [:parts] (:path (ex-data e))))
    (is (= :widht (:value (ex-data e))))))
