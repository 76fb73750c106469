(ns dlnlab.experiment-test
  "The run loop against independent routes: the per-mode GD map and the L = 2
  gradient-flow closed form of SCIENCE.md §4, conservation of the balance matrices
  under gradient flow, optimizer equivalences, determinism and early ends."
  (:require [dlnlab.dense :refer [mmul msub transpose]]
            [clojure.edn :as edn]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.core :as core]
            [dlnlab.experiment :as ex]
            [dlnlab.sweep :as sweep])
  (:import [java.util.concurrent.atomic AtomicBoolean]))

(def mf-task {:kind :matrix-factorization :singular-values [3.0 1.5] :dims [2 2]})

(defn- close? [^double tol a b]
  (every? true? (map (fn [x y] (<= (Math/abs (- (double x) (double y))) (* tol (+ 1.0 (Math/abs (double y)))))) a b)))

(deftest gd-from-balanced-aligned-follows-the-per-mode-map
  (doseq [depth [2 3 4]]
    (let [lr 0.05 steps 40 s [3.0 1.5] pi0 [0.2 0.1]
          r (ex/run {:seed 3
                     :model {:kind :chain :depth depth :width 3
                             :init {:kind :balanced-aligned :strengths pi0}}
                     :task mf-task
                     :optimizer {:kind :gd :lr lr} :steps steps
                     :record {:every 1 :metrics [:modes]}})
          ;; SCIENCE.md §4: a <- a - lr a^(L-1) (a^L - s), pi = a^L
          predicted (reductions (fn [as _]
                                  (mapv (fn [^double a ^double si]
                                          (- a (* lr (Math/pow a (dec depth)) (- (Math/pow a depth) si))))
                                        as s))
                                (mapv #(Math/pow % (/ 1.0 depth)) pi0)
                                (range steps))
          got (get-in r [:trajectory :modes])]
      (is (= :completed (:status r)))
      (is (= (inc steps) (count got)))
      (is (every? true? (map (fn [row as] (close? 1e-10 (take 2 row) (map #(Math/pow % depth) as))) got predicted))
          (str "depth " depth ": every recorded step equals the per-mode map")))))

(deftest gradient-flow-matches-the-depth-2-closed-form
  (let [s [3.0 1.5] pi0 [0.01 0.02] total 3.0 grid 30
        r (ex/run {:seed 5
                   :model {:kind :chain :depth 2 :width 2 :init {:kind :balanced-aligned :strengths pi0}}
                   :task mf-task
                   :optimizer {:kind :gradient-flow :rtol 1e-10 :atol 1e-12} :time total :steps grid
                   :record {:every 1 :metrics [:modes]}})
        ;; pi(t) = s e^(2st) / (e^(2st) - 1 + s/pi0)
        closed (fn [^double si ^double p0 ^double t]
                 (let [e (Math/exp (* 2 si t))] (/ (* si e) (+ (- e 1.0) (/ si p0)))))]
    (is (= :completed (:status r)))
    (is (= (vec (map #(* % (/ total grid)) (range (inc grid)))) (get-in r [:trajectory :time])))
    (doseq [[t row] (map vector (get-in r [:trajectory :time]) (get-in r [:trajectory :modes]))]
      (is (close? 1e-7 (take 2 row) (map #(closed %1 %2 t) s pi0)) (str "t = " t)))
    (testing "the modes were really learned (the check is not trivially near pi0)"
      (is (> (first (last (get-in r [:trajectory :modes]))) 2.9)))))


(defn- balance-matrices
  "W_{l+1}^T W_{l+1} - W_l W_l^T for each adjacent pair of one pathway."
  [layers]
  (mapv (fn [[w1 w2]] (msub (mmul (transpose w2) w2) (mmul w1 (transpose w1))))
        (partition 2 1 layers)))

(deftest gradient-flow-conserves-the-balance-matrices
  (let [exp {:seed 11
             :model {:kind :chain :depth 3 :width 3 :init {:kind :gaussian :std 0.5}}
             :task {:kind :matrix-factorization :singular-values [2.0 1.0 0.5]}
             :optimizer {:kind :gradient-flow :rtol 1e-10 :atol 1e-12} :time 2.0 :steps 4
             :record {:every 1 :metrics [:loss]}}
        before (balance-matrices (first (core/weights (core/network exp))))
        r (ex/run exp)
        after (balance-matrices (first (get-in r [:final :weights])))]
    (is (< (get-in r [:final :loss]) (* 0.5 (first (get-in r [:trajectory :loss])))) "it trained")
    (is (close? 1e-7 (flatten after) (flatten before)))
    (testing "GD does not conserve them (so the check can fail)"
      (let [g (ex/run (-> exp (dissoc :time) (assoc :optimizer {:kind :gd :lr 0.1} :steps 20)))]
        (is (not (close? 1e-4 (flatten (balance-matrices (first (get-in g [:final :weights])))) (flatten before))))))))

(def ts-task {:kind :teacher-student :input-dim 4 :output-dim 3 :samples 24 :test-samples 50
              :teacher {:singular-values [2.0 1.0 0.5]} :label-noise 0.1})
(def ts-model {:kind :chain :depth 2 :width 5 :init {:kind :gaussian :std 0.2}})

(deftest sgd-with-the-whole-dataset-per-step-equals-gd
  (let [base {:seed 2 :model ts-model :task ts-task :steps 30 :record {:every 5 :metrics [:loss :modes]}}
        gd (ex/run (assoc base :optimizer {:kind :gd :lr 0.1}))
        sgd (ex/run (assoc base :optimizer {:kind :sgd :lr 0.1 :batch-size 24 :sampling :epochs}))]
    (is (close? 1e-10 (get-in sgd [:trajectory :loss]) (get-in gd [:trajectory :loss])))
    (is (close? 1e-10 (flatten (get-in sgd [:final :weights])) (flatten (get-in gd [:final :weights]))))
    (testing "a smaller batch does differ"
      (let [small (ex/run (assoc base :optimizer {:kind :sgd :lr 0.1 :batch-size 4 :sampling :epochs}))]
        (is (not (close? 1e-6 (get-in small [:trajectory :loss]) (get-in gd [:trajectory :loss]))))))))

(deftest one-pass-sgd-reduces-the-test-loss
  (let [r (ex/run {:seed 4 :model ts-model :task ts-task
                   :optimizer {:kind :sgd :lr 0.05 :batch-size 8 :sampling :one-pass} :steps 300
                   :record {:every 50 :metrics [:test-loss]}})
        tl (get-in r [:trajectory :test-loss])]
    (is (= :completed (:status r)))
    (is (< (last tl) (* 0.3 (first tl))) (str "test loss " (first tl) " -> " (last tl)))))

(deftest langevin-at-zero-temperature-is-gd
  (let [base {:seed 9 :model ts-model :task ts-task :steps 25 :record {:every 5 :metrics [:loss]}}
        gd (ex/run (assoc base :optimizer {:kind :gd :lr 0.1}))
        lv (ex/run (assoc base :optimizer {:kind :langevin :lr 0.1 :temperature 0.0}))
        hot (ex/run (assoc base :optimizer {:kind :langevin :lr 0.1 :temperature 0.01}))]
    (is (= (:trajectory gd) (:trajectory lv)) "bit for bit")
    (is (= (:final gd) (:final lv)))
    (is (not= (:final gd) (:final hot)) "noise does change the run")))

(deftest a-recorded-loss-is-the-training-loss-at-that-step
  ;; the run loop reuses the full-batch loss of the step's gradient as the :loss
  ;; metric; a shorter run's final loss is computed afresh from its final weights
  (doseq [opt [{:kind :gd :lr 0.1} {:kind :langevin :lr 0.1 :temperature 0.01}
               {:kind :sgd :lr 0.1 :batch-size 4 :sampling :with-replacement}]]
    (let [base {:seed 5 :model ts-model :task ts-task :optimizer opt :record {:every 1 :metrics [:loss]}}
          r (ex/run (assoc base :steps 12))]
      (doseq [k [0 1 7]]
        (let [expected (if (zero? k)
                         (core/loss (core/network (dissoc base :optimizer)))
                         (get-in (ex/run (assoc base :steps k)) [:final :loss]))]
          (is (= expected (nth (get-in r [:trajectory :loss]) k))
              (str (:kind opt) ": loss recorded at step " k)))))))

(def eos-exp {:seed 7
              :model {:kind :chain :depth 3 :width 3 :init {:kind :scaled-identity :alpha 0.3}}
              :task {:kind :matrix-factorization :singular-values [4.0 2.0 1.0] :basis :random}
              :optimizer {:kind :gd :lr 0.05} :steps 60
              :record {:every 3 :metrics [:loss :sharpness :modes] :sharpness {:every 6}}})

(deftest results-are-deterministic-plain-data
  (let [a (ex/run eos-exp) b (ex/run eos-exp)]
    (is (= (dissoc a :meta) (dissoc b :meta)) "same experiment and seed, same result")
    (is (= (dissoc a :meta) (edn/read-string (pr-str (dissoc a :meta)))) "round-trips through EDN")
    (is (every? #(or (nil? %) (number? %)) (get-in a [:trajectory :sharpness])))
    (is (= [0 nil 6 nil 12] (map #(when %2 %1) (take 5 (get-in a [:trajectory :step]))
                                 (take 5 (get-in a [:trajectory :sharpness]))))
        "sharpness on its own cadence"))
  (testing "a sweep gives the same numbers with 1 or 3 parallel jobs"
    (let [grid {[:optimizer :lr] [0.02 0.05 0.08]}
          one (sweep/sweep eos-exp grid {:jobs 1})
          three (sweep/sweep eos-exp grid {:jobs 3})]
      (is (= (map #(dissoc % :meta) one) (map #(dissoc % :meta) three)))
      (is (= [0.02 0.05 0.08] (map #(get-in % [:experiment :optimizer :lr]) one)) "grid order")
      (is (apply = (map #(get-in % [:experiment :seed]) one)) "derived seeds pair the learning rates: one seed")
      (is (= #{7} (set (map #(get-in % [:experiment :seed]) (sweep/sweep eos-exp grid {:seeds :shared :jobs 2}))))))))

(deftest a-sweep-validates-every-point-before-running-any
  (let [ran (atom 0)
        grid {[:optimizer :lr] [0.02 -1.0 0.05]}
        thrown (fn [f] (try (f) nil (catch clojure.lang.ExceptionInfo e e)))
        from-sweep (thrown #(sweep/sweep eos-exp grid {:jobs 1 :on-result (fn [_ _ _] (swap! ran inc))}))
        from-run (thrown #(ex/run (assoc-in eos-exp [:optimizer :lr] -1.0)))]
    (is (some? from-sweep) "a bad point throws instead of returning a :failed slot")
    (is (= 0 @ran) "nothing ran")
    (is (= (ex-message from-run) (ex-message from-sweep)))
    (is (= (ex-data from-run) (ex-data from-sweep)))
    (is (= :invalid-experiment (:dlnlab/error (ex-data from-sweep))))
    (testing "a skipped point is not validated"
      (is (= [0.02 nil 0.05] (mapv #(get-in % [:experiment :optimizer :lr])
                                   (sweep/sweep (assoc eos-exp :steps 3) grid {:jobs 1 :skip? (fn [i _] (= i 1))})))))))

(deftest early-ends-keep-what-was-recorded
  (testing "divergence"
    (let [r (ex/run (assoc eos-exp :optimizer {:kind :gd :lr 2.0} :steps 200 :record {:every 1 :metrics [:loss :modes]}))
          losses (get-in r [:trajectory :loss])]
      (is (= :diverged (:status r)))
      (is (< (count losses) 201))
      (is (= (get-in r [:final :step]) (last (get-in r [:trajectory :step]))))
      (is (let [l (double (last losses))] (or (Double/isNaN l) (Double/isInfinite l) (> l 1e12))))
      (is (every? #(< (double %) 1e12) (butlast losses)) "every earlier row is kept")))
  (testing "a loss threshold"
    (let [r (ex/run (assoc eos-exp :steps 5000 :stop {:loss-below 1e-3} :record {:every 10 :metrics [:loss]}))]
      (is (= [:stopped :loss-below] [(:status r) (:stop-reason r)]))
      (is (< (double (last (get-in r [:trajectory :loss]))) 1e-3))
      (is (< (get-in r [:final :step]) 5000))))
  (testing "the last row of an early end has every metric, even on a recorded step"
    (let [r (ex/run (assoc eos-exp :steps 5000 :stop {:loss-below 1e-3}
                           :record {:every 1 :metrics [:loss :sharpness] :sharpness {:every 50}}))
          steps (get-in r [:trajectory :step])]
      (is (= :stopped (:status r)))
      (is (apply < steps) "no step is recorded twice")
      (is (number? (last (get-in r [:trajectory :sharpness]))))))
  (testing "an interrupt"
    (let [flag (AtomicBoolean. false)
          rows (atom 0)
          r (ex/run (assoc eos-exp :steps 10000 :record {:every 1 :metrics [:loss]})
                    {:interrupt flag :on-record (fn [_] (when (= 5 (swap! rows inc)) (.set flag true)))})]
      (is (= [:stopped :interrupted] [(:status r) (:stop-reason r)]))
      (is (<= 5 (count (get-in r [:trajectory :loss])) 7)))))

(deftest a-run-needs-an-optimizer
  (let [e (try (ex/run (dissoc eos-exp :optimizer)) nil (catch clojure.lang.ExceptionInfo e e))]
    (is (= [:optimizer] (:path (ex-data e))))
    (is (re-find #"no :optimizer" (ex-message e)))))

(deftest warm-started-sharpness-follows-a-new-top-eigenvalue
  ;; two pathways: while one pathway's direction stays near 1.29, another
  ;; eigenvalue rises past it; a warm start from the old top vector must not stay
  ;; on the old direction
  (let [exp {:seed 1
             :model {:kind :multi-pathway :pathways 2 :depth 3 :width 4
                     :init {:kind :pathway-split :strengths [0.5 0.15] :shares [[0.95 0.95] [0.05 0.05]]}}
             :task {:kind :matrix-factorization :singular-values [1.0 0.3] :dims [4 4]}
             :optimizer {:kind :gd :lr 0.8} :steps 80
             :record {:every 10 :metrics [:sharpness]}}
        r (ex/run exp)
        net (core/set-weights (core/network exp) (get-in r [:final :weights]))
        cold (first (:values (core/hessian-eigenvalues net {:k 2})))]
    (is (< (Math/abs (- (double (last (get-in r [:trajectory :sharpness]))) (double cold))) 1e-6)
        (str "warm " (last (get-in r [:trajectory :sharpness])) " vs cold " cold))))

(deftest the-result-says-whether-each-recorded-eigensolve-converged
  (let [exp {:seed 3
             :model {:kind :chain :depth 3 :width 3}
             :task {:kind :matrix-factorization :singular-values [3.0 2.0 1.0]}
             :optimizer {:kind :gd :lr 0.05} :steps 40
             :record {:every 10 :metrics [:loss :sharpness]}}
        good (ex/run exp)
        ;; two Krylov vectors cannot resolve 1e-12 in a 27-parameter Hessian
        cut (ex/run (assoc-in exp [:record :sharpness] {:max-iter 2 :tol 1e-12}))
        records (fn [r] (count (filter some? (get-in r [:trajectory :sharpness]))))]
    (is (= {:calls (records good) :unconverged 0} (get-in good [:meta :eigensolves :sharpness])))
    (is (= {:calls (records cut) :unconverged (records cut)} (get-in cut [:meta :eigensolves :sharpness])))
    (testing "no eigensolve, no entry"
      (is (not (contains? (:meta (ex/run (assoc-in exp [:record :metrics] [:loss]))) :eigensolves))))))
