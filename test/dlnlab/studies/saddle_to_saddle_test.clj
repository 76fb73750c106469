(ns dlnlab.studies.saddle-to-saddle-test
  "The [SDE] reproduction (doc/science.md §7): what this namespace adds (the
  linearized stationary variances, the shape fit, the second-difference
  diffusion estimator, the weak error) against independent routes (Monte Carlo
  of the linear recursion, synthetic bins and paths with a known diffusion, a
  hand computation), and the claims on `reduced` with margins and their
  contrast cases (large label noise: no peak before learning; SGD's own step:
  off the continuous stationary density; large lr: large weak error)."
  (:require [clojure.edn :as edn]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.studies.saddle-to-saddle :as s2s]
            [dlnlab.studies.saddle-to-saddle.estimate :as est]
            [dlnlab.numeric :as numeric]
            [dlnlab.theory :as th]
            [dlnlab.theory.sde :as th-sde])
  (:import [java.util Random]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- rel ^double [a b] (/ (Math/abs (- (double a) (double b))) (Math/abs (double b))))

;; ---------------------------------------------------------------- theory added here

(deftest linear-variances-match-monte-carlo-of-the-linear-recursion
  ;; e <- (1 - lr S) e + lr S sqrt((2 e^2 + sigma^2)/B) xi, the linearized SGD step
  ;; of a learned mode, simulated directly; the formula is its exact fixed point.
  (doseq [[s L lr B sigma] [[3.0 3 0.05 4 0.5] [1.0 2 0.2 2 0.3] [2.0 4 0.02 1 1.0]]]
    (let [p {:s s :depth L :lr lr :batch-size B :label-noise sigma}
          S (th/single-path-sharpness s L)
          x (* (double lr) S)
          rng (Random. 7)
          n 20000 steps 400
          es (double-array n)]
      (dotimes [_ steps]
        (dotimes [k n]
          (let [e (aget es k)]
            (aset es k (+ (* (- 1.0 x) e)
                          (* x (Math/sqrt (/ (+ (* 2.0 e e) (* (double sigma) (double sigma))) (double B)))
                             (.nextGaussian rng)))))))
      (let [v (/ (double (areduce es k acc 0.0 (+ acc (* (aget es k) (aget es k))))) n)
            f (th-sde/linear-stationary-variance p {:discrete? true})]
        (testing (str p)
          ;; 5 standard errors of a variance from n normal-ish samples
          (is (< (rel v f) (* 5.0 (Math/sqrt (/ 2.0 n)))) (str "MC " v " formula " f))
          (testing "it is dlnlab.theory.sde's discrete stationary variance (doc/science.md §7)"
            (is (< (rel (th-sde/discrete-stationary-variance p) f) 1e-12))))))))

(deftest linear-variances-reduce-to-sciences-formulas-for-small-lr
  (doseq [L [2 3 4]]
    (let [p {:s 1.5 :depth L :lr 1e-5 :batch-size 8 :label-noise 0.4}]
      (is (< (rel (th-sde/linear-stationary-variance p) (th-sde/gibbs-variance p)) 1e-4))
      (is (< (rel (th-sde/linear-stationary-variance p {:discrete? true}) (th-sde/discrete-stationary-variance p)) 1e-4))
      (testing "and the continuous one is the exact density's variance to O(T)"
        (is (< (rel (th-sde/linear-stationary-variance p) (:variance (th-sde/stationary-density p))) 1e-3)))))
  (testing "no finite linearized variance once the multiplicative noise wins"
    (is (nil? (th-sde/linear-stationary-variance {:s 1.0 :depth 2 :lr 0.6 :batch-size 1 :label-noise 0.1})))))

(deftest shape-fit-recovers-exponents-and-the-peak
  (doseq [[p q] [[(- 4.0 (/ 4.0 3)) 2.0] [2.0 2.0] [3.0 1.5]]]
    (let [p (double p) q (double q)
          bins (for [k (range 1 20) :let [x (* 0.05 (double k))]]
                 {:x x :n (+ 10 (long k)) :estimate (* 0.3 (Math/pow x p) (Math/pow (- 1.0 x) q))})
          fit (est/shape-fit bins)]
      (is (< (Math/abs (- (double (:p fit)) p)) 1e-9))
      (is (< (Math/abs (- (double (:q fit)) q)) 1e-9))
      (is (< (Math/abs (- (double (:peak-x fit)) (/ p (+ p q)))) 1e-9))))
  (testing "on the per-mode formula the fitted peak is pi*/s = 2(L-1)/(3L-2)"
    (doseq [L [2 3 4]]
      (let [L (long L)
            params {:s 2.0 :depth L :lr 0.01 :batch-size 4}
            bins (for [k (range 1 20) :let [x (* 0.05 (double k))]]
                   {:x x :n 50 :estimate (th-sde/diffusion params (* 2.0 x))})]
        (is (< (Math/abs (- (double (:peak-x (est/shape-fit bins))) (/ (* 2.0 (dec L)) (- (* 3.0 L) 2.0)))) 1e-9))))))

(defn- synthetic-ensemble
  "Paths of the per-mode SDE in pi by Euler-Maruyama at step lr, with the drift
  and diffusion of dlnlab.theory.sde: a process whose diffusion is known exactly."
  [params n-paths steps seed]
  (let [lr (double (:lr params)) rng (Random. (long seed))]
    {:time (mapv #(* lr (double %)) (range (inc (long steps))))
     :paths (vec (for [_ (range n-paths)]
                   (loop [k 0 p (double (:pi0 params)) acc [[(:pi0 params)]]]
                     (if (= k (long steps))
                       acc
                       (let [p' (max 1e-12 (+ p (* lr (th-sde/drift params p))
                                              (* (Math/sqrt (* lr (th-sde/diffusion params p))) (.nextGaussian rng))))]
                         (recur (inc k) p' (conj acc [p'])))))))}))

(deftest second-difference-estimator-recovers-a-known-diffusion
  (let [params {:s 2.0 :pi0 0.02 :depth 3 :lr 0.005 :batch-size 2}
        cfg {:targets [2.0] :lr 0.005 :batch-size 2 :depth 3 :pi0 0.02}
        ens (synthetic-ensemble params 60 1600 3)
        [m] (est/diffusion-estimate ens cfg {:window 5})]
    (testing "bulk ratio to the true diffusion within 10% (several thousand samples)"
      (is (< (Math/abs (- 1.0 (double (:bulk-ratio m)))) 0.1) (str (:bulk-ratio m))))
    (is (< (Math/abs (- (double (get-in m [:shape-fit :peak-x])) (/ 4.0 7.0))) 0.05))
    (testing "the diffusion peaks before the paths reach 0.9 s"
      (is (neg? (double (:aligned-peak m))))
      (is (< (double (:peak-time m)) (double (get-in m [:learned 0.9 :median])))))
    (testing "contrast: paths with twice the noise variance (B = 1) give about twice the theory for B = 2"
      (let [[m1] (est/diffusion-estimate (synthetic-ensemble (assoc params :batch-size 1) 60 1600 4) cfg {:window 5})]
        (is (< (Math/abs (- 2.0 (double (:bulk-ratio m1)))) 0.2) (str (:bulk-ratio m1)))))
    (testing "an ensemble not recorded every step is refused"
      (is (thrown-with-msg? clojure.lang.ExceptionInfo #"every step"
                            (est/diffusion-estimate ens (assoc cfg :lr 0.01) {}))))))

(deftest weak-error-by-hand
  (let [times [0.0 1.0 2.0]
        moments {:mean [[0.0 0.0] [1.0 0.5] [2.0 1.0]] :se [[0.0 0.0] [0.1 0.05] [0.0 0.0]]}
        ;; reference on a finer grid: 0, 0.6 (at t = 1 by interpolation) and 2.2 at t = 2
        ref {:time [0.0 0.5 1.0 1.5 2.0] :mean [[0.0 0.0] [0.3 0.25] [0.6 0.5] [1.4 0.75] [2.2 1.0]]}
        [m0 m1] (est/weak-error times moments ref [2.0 1.0])]
    (is (< (Math/abs (- 0.2 (double (:weak-error m0)))) 1e-12))   ; |1.0 - 0.6| / 2
    (is (= 1.0 (:at-time m0)))
    (is (< (Math/abs (- 0.05 (double (:se-at m0)))) 1e-12))        ; 0.1 / 2, no reference error
    (is (< (double (:weak-error m1)) 1e-12))))

(deftest ks-thresholds
  (is (< (Math/abs (- 0.0136 (est/ks-threshold 10000 0.05))) 1e-12))
  (is (< (Math/abs (- 0.0163 (est/ks-threshold 10000 0.01))) 1e-12)))

;; ---------------------------------------------------------------- the claims, on the reduced run

(def ^:private report (delay (s2s/reduced)))

(deftest reduced-checks-pass
  (doseq [[k c] (:checks @report)]
    (is (:pass? c) (str k " failed: " (pr-str (:failures c))))))

(deftest diffusion-peaks-before-learning
  (let [{:keys [sde sde-contrast network network-contrast]} (:diffusion @report)]
    (testing "per-mode SDE: peak before the median learning time, at pi* = 2(L-1)s/(3L-2)"
      (doseq [m sde]
        (is (:precedes-learning? m))
        (is (< (rel (:theory-peak-pi m) (/ (* 4.0 (double (:s m))) 7.0)) 1e-12))
        (is (< (double (:peak-time m)) (double (get-in m [:median-learned 0.9]))))))
    (testing "full network: aligned on its own learning each run's diffusion peaks before it, at about pi*"
      (doseq [m network]
        (is (neg? (double (:aligned-peak m))))
        (is (< (Math/abs (- (double (get-in m [:shape-fit :peak-x])) (/ 4.0 7.0))) 0.1))
        (is (< 0.8 (double (:bulk-ratio m)) 1.25))))
    (testing "contrast: label noise sigma = 2 removes the interior maximum: no peak before learning"
      (doseq [m sde-contrast]
        (is (nil? (:theory-peak-pi m)))
        (is (not (:precedes-learning? m))))
      (doseq [m network-contrast]
        (is (pos? (double (:aligned-peak m))))))))

(defn- variance-se
  "Relative standard error of the sample variance of n independent draws from
  the stationary density of params: sqrt((mu4 - sigma^4)/n) / sigma^2, with the
  fourth central moment mu4 by quadrature of dlnlab.theory.sde/stationary-pdf over
  mean +- 12 sd (the density is near Gaussian there, so the rest is negligible)."
  ^double [params ^long n]
  (let [{:keys [mean variance]} (th-sde/stationary-density params)
        m (double mean) v (double variance) sd (Math/sqrt v)
        pdf (th-sde/stationary-pdf params)
        mu4 (numeric/integrate (fn ^double [^double x] (let [d (- x m)] (* (double (pdf x)) d d d d)))
                          (max 0.0 (- m (* 12.0 sd))) (+ m (* 12.0 sd)))]
    (/ (Math/sqrt (/ (- mu4 (* v v)) (double n))) v)))

(deftest variance-standard-error-of-a-gaussian
  ;; at small T the density is close to a Gaussian, whose mu4 = 3 sigma^4: the
  ;; standard error tends to sqrt(2/n)
  (let [p {:s 1.0 :depth 3 :lr 1e-4 :batch-size 8 :label-noise 0.2}]
    (is (< (rel (variance-se p 1000) (Math/sqrt (/ 2.0 1000))) 0.02))))

(deftest stationary-density-with-label-noise
  (let [st (:stationary @report)]
    (doseq [{:keys [lr modes]} st m modes]
      (testing (str "lr " lr " mode " (:mode m))
        (is (< (double (get-in m [:sde :ks])) (double (get-in m [:sde :ks-threshold-99]))))
        (let [params (s2s/mode-params {:lr lr :label-noise (:label-noise (first st)) :batch-size (:batch-size (first st))}
                                      (:s m))
              n (long (get-in m [:sde :n]))]
          (is (< (rel (get-in m [:sde :variance]) (:variance (th-sde/stationary-density params)))
                 (* 4.0 (variance-se params n)))
              "the paths' variance within 4 standard errors of the density's"))))
    (testing "contrast: aligned SGD at lr S = 0.65 has the discrete-time variance and misses the continuous density"
      (let [m (first (:modes (peek st)))]
        (is (> (double (get-in m [:theory :lr-sharpness])) 0.5))
        (is (> (double (get-in m [:discrete :ks])) (double (get-in m [:discrete :ks-threshold-99]))))
        (is (< (rel (get-in m [:discrete :variance]) (get-in m [:theory :linear-discrete]))
               (rel (get-in m [:discrete :variance]) (get-in m [:theory :exact]))))))))

(deftest weak-error-shrinks-with-lr
  (let [[small large] (get-in @report [:weak-error :main :rows])]
    (is (< (double (:lr small)) (double (:lr large))))
    (is (< (double (:weak-error small)) 0.05))
    (testing "contrast: 16x the learning rate"
      (is (> (double (:weak-error large)) 0.05))
      (is (> (double (:weak-error large)) (* 2.0 (double (:weak-error small))))))))

(deftest reduced-report-is-plain-data
  (let [r @report]
    (is (= r (edn/read-string (pr-str r))))
    (is (string? (get-in r [:diffusion :table])))
    (is (re-find #"predicted peak π\*/s" (get-in r [:main :table])))
    (is (every? #(and (keyword? (:name %)) (vector? (:panels %))) (:figures r)))
    (is (thrown-with-msg? clojure.lang.ExceptionInfo #":variant" (s2s/reproduce {:variant :nope})))))

;; ---------------------------------------------------------------- the claim, recomputed without the study's code

(defn- flow-crossings
  "Times at which gradient flow of one mode, dpi/dt = L pi^(2-2/L) (s - pi) from
  pi0, first reaches each level in levels (ascending), by classical RK4 with step
  dt and linear interpolation inside the crossing step."
  [s L pi0 levels dt]
  (let [s (double s) L (long L) pi0 (double pi0) dt (double dt)
        f (fn ^double [^double p] (* L (Math/pow p (- 2.0 (/ 2.0 L))) (- s p)))]
    (loop [t 0.0 p pi0 levels (seq levels) out []]
      (if (or (nil? levels) (> t 1e4))
        out
        (let [k1 (double (f p)) k2 (double (f (+ p (* 0.5 dt k1))))
              k3 (double (f (+ p (* 0.5 dt k2)))) k4 (double (f (+ p (* dt k3))))
              q (+ p (* (/ dt 6.0) (+ k1 (* 2.0 k2) (* 2.0 k3) k4)))
              level (double (first levels))]
          (if (>= q level)
            (recur t p (next levels) (conj out (+ t (* dt (/ (- level p) (- q p))))))
            (recur (+ t dt) q levels out)))))))

(deftest diffusion-peak-and-learning-times-recomputed
  ;; The claim: without label noise each mode's diffusion D(pi), proportional to
  ;; pi^(4-4/L) (pi - s)^2, peaks at pi* = 2(L-1)s/(3L-2) before the mode is
  ;; learned (pi = 0.9 s). Here: pi* as the argmax of D on a grid of 10^5 points
  ;; (error at most one spacing), and the gradient-flow times of pi* and 0.9 s by
  ;; RK4 with dt = 1e-4 (global error ~ dt^4, interpolation ~ dt^2 |pi''|: far
  ;; below the 1e-6 relative tolerance), against the report's numbers.
  (doseq [m (get-in @report [:diffusion :sde])]
    (let [s (double (:s m))
          {:keys [pi0 depth]} (s2s/mode-params {:lr 0.01} s) ; pi0 and L from the setup; lr plays no part in the flow
          L (long depth)
          n 100000
          h (/ s n)
          d (fn ^double [^double p] (* (Math/pow p (- 4.0 (/ 4.0 L))) (let [e (- p s)] (* e e))))
          argmax (* h (double (apply max-key #(d (* h (double %))) (range 1 n))))
          [t-peak t-learned] (flow-crossings s L (double pi0) [argmax (* 0.9 s)] 1e-4)]
      (testing (str "mode s = " s)
        (is (<= (Math/abs (- argmax (double (:theory-peak-pi m)))) h) "the argmax of D is the report's pi*")
        (is (< (rel (get-in m [:gradient-flow :peak]) t-peak) 1e-4)
            "time to pi* (the grid's argmax, within h of pi*: a relative time error of about h/(pi* rate) < 1e-4)")
        (is (< (rel (get-in m [:gradient-flow :learned 0.9]) t-learned) 1e-6) "time to 0.9 s")
        (is (< (double t-peak) (double t-learned)) "the peak comes before learning")))))
