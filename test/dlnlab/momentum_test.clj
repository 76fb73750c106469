(ns dlnlab.momentum-test
  "Heavy-ball momentum (:momentum, defined in dlnlab.optim only): the run agrees
  with a heavy ball stepped by hand, it is stable below 2 (1 + beta) / lr and
  diverges above, and the run records that threshold as a fact and a metric."
  (:require [clojure.test :refer [deftest is testing]]
            [dlnlab.core :as core]
            [dlnlab.engine :as engine]
            [dlnlab.result :as result]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def ^:private tiny
  {:seed 3
   :model {:kind :chain :depth 2 :width 3}
   :task {:kind :matrix-factorization :singular-values [1.5 0.5]}
   :optimizer {:kind :momentum :lr 0.05 :beta 0.8}
   :steps 40
   :record {:metrics [:loss]}})

(defn- hand-stepped
  "Packed parameters after n heavy-ball steps v <- beta v - lr g, theta <- theta + v
  from the network's initial parameters, v starting at 0."
  ^doubles [net ^double lr ^double beta ^long n]
  (let [p (aclone ^doubles (:params net))
        v (double-array (alength p))]
    (dotimes [_ n]
      (let [^doubles g (engine/gradient (assoc net :params p))]
        (dotimes [i (alength p)]
          (aset v i (+ (* beta (aget v i)) (* (- lr) (aget g i))))
          (aset p i (+ (aget p i) (aget v i))))))
    p))

(deftest a-run-is-the-heavy-ball-stepped-by-hand
  (let [net (core/network tiny)
        r (core/run tiny)
        ^doubles want (hand-stepped net 0.05 0.8 40)
        got (:params (core/set-weights net (get-in r [:final :weights])))]
    (is (= :completed (:status r)))
    (is (= (alength want) (alength ^doubles got)))
    (is (every? true? (map (fn [^double a ^double b] (<= (Math/abs (- a b)) (* 1e-14 (max 1.0 (Math/abs a)))))
                           want got))
        "the same arithmetic in the same order: equal to rounding")
    (testing "the loss column is the loss at each step's parameters"
      (is (< (Math/abs (- (double (peek (get-in r [:trajectory :loss])))
                          (double (core/loss (assoc net :params want)))))
             1e-14)))))

(defn- linear-run
  "Heavy ball (or GD) on l = 1/2 ||W - M||^2 with one 2 x 2 layer: the Hessian is
  the identity, so the top curvature lambda is exactly 1."
  [opt steps]
  (core/run {:seed 1
             :model {:kind :chain :depth 1 :init {:kind :gaussian :std 1.0}}
             :task {:kind :matrix-factorization :singular-values [2.0 1.0]}
             :optimizer opt
             :steps steps
             :record {:metrics [:loss :sharpness] :every 50}}))

(deftest stable-below-2-1-plus-beta-over-lr-divergent-above
  ;; the recurrence of one direction with curvature lambda has the characteristic
  ;; polynomial r^2 - (1 + beta - lr lambda) r + beta, whose roots leave the unit
  ;; disc exactly when lr lambda > 2 (1 + beta); beta = 0.5 puts it at lr = 3
  (let [below (linear-run {:kind :momentum :lr 2.9 :beta 0.5} 400)
        above (linear-run {:kind :momentum :lr 3.1 :beta 0.5} 400)
        gd (linear-run {:kind :gd :lr 2.9} 400)]
    (is (< (Math/abs (- 1.0 (double (first (get-in below [:trajectory :sharpness]))))) 1e-10)
        "the top curvature is lambda = 1")
    (is (= :completed (:status below)))
    (is (< (double (get-in below [:final :loss])) 1e-20) "|r| = sqrt(beta) < 1: converges")
    (is (= :diverged (:status above)) "a root at (-1.6 - sqrt 0.56)/2 = -1.17 grows")
    (is (= :diverged (:status gd)) "GD at the same lr is past its 2/lr threshold")))

(deftest the-threshold-is-recorded-as-a-fact-and-a-metric
  ;; :mup with gamma0 = 0.5 and hidden width 8 multiplies lr by gamma0^2 N = 2
  (let [lr 0.01 beta 0.7 m 2.0
        want (/ (* 2.0 (+ 1.0 beta)) (* lr m))
        r (core/run {:seed 2
                     :model {:kind :chain :depth 2 :width 8 :parameterization :mup :gamma0 0.5}
                     :task {:kind :matrix-factorization :singular-values [1.0 0.5]}
                     :optimizer {:kind :momentum :lr lr :beta beta}
                     :steps 5
                     :record {:metrics [:loss :stability-threshold]}})]
    (is (< (Math/abs (- m (double (result/lr-multiplier r)))) 1e-14))
    (is (< (Math/abs (- (* lr m) (double (result/effective-lr r)))) 1e-15))
    (is (< (Math/abs (- want (double (result/stability-threshold r)))) (* 1e-14 want)))
    (is (every? #(< (Math/abs (- want (double %))) (* 1e-14 want)) (get-in r [:trajectory :stability-threshold])))
    (is (< (Math/abs (- (/ (* lr m) (- 1.0 beta)) (double (result/time-scale r)))) 1e-14)
        "a step advances lr_eff / (1 - beta), the heavy ball's continuous-time scale")
    (is (= :step (result/x-axis r)))
    (testing "the default beta is 0.9"
      (is (= 0.9 (get-in (core/normalize {:model {:kind :chain :depth 1}
                                           :task {:kind :matrix-factorization :singular-values [1.0]}
                                           :optimizer {:kind :momentum :lr 0.1} :steps 1})
                         [:optimizer :beta]))))
    (testing "beta must lie in [0, 1)"
      (let [e (try (core/normalize {:model {:kind :chain :depth 1}
                                    :task {:kind :matrix-factorization :singular-values [1.0]}
                                    :optimizer {:kind :momentum :lr 0.1 :beta 1.0} :steps 1})
                   nil (catch clojure.lang.ExceptionInfo e e))]
        (is (= [:optimizer :beta] (:path (ex-data e))))
        (is (= 1.0 (:value (ex-data e))))))))
