(ns dlnlab.result-accessors-test
  "Tests of the accessors section of dlnlab.result on hand-built results: facts
  derived for results written before :facts, mode targets, recorded series."
  (:require [clojure.test :refer [deftest is testing]]
            [dlnlab.result :as result]
            [dlnlab.figure-fixtures :refer [synthetic-run]]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(deftest effective-lr-is-looked-up-in-one-place
  (let [run (synthetic-run {:lr 0.05})]
    (testing "standard parameterization: the experiment's lr times 1"
      (is (== 0.05 (result/effective-lr run)))
      (is (== 0.05 (result/effective-lr (update-in run [:experiment :model] dissoc :parameterization)))
          "a hand-written result without :parameterization is standard too")
      (is (== (/ 2.0 0.05) (result/stability-threshold run))))
    (testing "an analysis lr wins over everything else"
      (is (== 0.2 (result/effective-lr (assoc-in run [:analysis :lr] 0.2)))))
    (testing "the analysis' stability threshold gives 2/threshold"
      (is (== 0.1 (result/effective-lr (assoc-in run [:analysis :stability-threshold] 20.0)))))
    (testing "a recorded threshold column gives 2/threshold"
      (is (== 0.25 (result/effective-lr (assoc-in run [:trajectory :stability-threshold]
                                                (vec (concat [nil] (repeat 10 8.0))))))))
    (testing "muP: lr times the multiplier the result reports, nil when it reports none"
      (let [mup (assoc-in run [:experiment :model :parameterization] :mup)]
        (is (nil? (result/effective-lr mup)))
        (is (nil? (result/stability-threshold mup)))
        (is (== (* 0.05 64.0) (result/effective-lr (assoc-in mup [:analysis :lr-multiplier] 64.0))))))
    (testing "gradient flow has no learning rate"
      (is (nil? (result/effective-lr (assoc-in run [:experiment :optimizer] {:kind :gradient-flow})))))))

(deftest mode-targets-sources
  (let [run (synthetic-run {:targets [3.0 1.0]})]
    (is (= [3.0 1.0] (result/mode-targets (update run :analysis dissoc :mode-targets))) "from the factorization task")
    (is (= [5.0] (result/mode-targets (assoc-in run [:analysis :targets] [5]))) "analysis :targets first")
    (is (nil? (result/mode-targets (-> run (update :analysis dissoc :mode-targets)
                                     (assoc-in [:experiment :task] {:kind :teacher-student})))))))

(defn- with-facts
  "run as a run that recorded :facts: heavy ball with momentum beta at base lr,
  multiplier mult, so threshold 2(1+beta)/(lr mult)."
  [run lr mult beta]
  (let [eta (* (double lr) (double mult))]
    (assoc run :facts {:lr-multiplier mult :effective-lr eta
                       :stability-threshold (/ (* 2.0 (+ 1.0 (double beta))) eta)
                       :time-scale eta :x-axis :step :targets [4.0 2.0]})))

(deftest recorded-facts-win-over-every-derivation
  (let [run (-> (synthetic-run {:lr 0.05})
                (assoc-in [:analysis :lr] 0.2)
                (assoc-in [:trajectory :stability-threshold] (vec (repeat 201 8.0))))
        r (with-facts run 0.05 4.0 0.5)]
    (is (== 0.2 (result/effective-lr (with-facts run 0.05 4.0 0.5))))
    (is (== (/ 3.0 0.2) (result/stability-threshold r)) "2(1+β)/η, not 2/η nor the recorded column")
    (is (== 3.0 (result/stability-constant r)))
    (is (== (/ 3.0 0.5) (result/stability-threshold-at r 0.5)) "the same optimizer at another η")
    (is (= [4.0 2.0] (result/mode-targets r)) "the :targets fact before the analysis")
    (testing "a fact recorded as nil (gradient flow) is not re-derived"
      (let [flow (assoc r :facts {:effective-lr nil :stability-threshold nil :x-axis :time})]
        (is (nil? (result/effective-lr flow)))
        (is (nil? (result/stability-threshold flow)))
        (is (nil? (result/stability-constant flow)))
        (is (= :time (result/default-x-axis flow)))))
    (testing "without facts: the GD constant 2, and gradient flow's x axis is time"
      (is (== 2.0 (result/stability-constant run)))
      (is (== (/ 2.0 0.4) (result/stability-threshold-at run 0.4)))
      (is (= :step (result/default-x-axis run)))
      (is (= :time (result/default-x-axis (assoc-in run [:experiment :optimizer] {:kind :gradient-flow})))))))

(deftest recorded-series-and-late-values
  (let [r {:trajectory {:step [0 1 2 3 4 5 6 7 8 9]
                        :time [0.0 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9]
                        :sharpness [nil 1.0 nil 2.0 nil 3.0 nil 4.0 nil 5.0]
                        :loss [1.0 0.5 nil 0.25 0.2 0.1 0.05 0.02 0.01 nil]}}]
    (is (= [[1 1.0] [3 2.0] [5 3.0] [7 4.0] [9 5.0]] (result/recorded r :step :sharpness)))
    (is (= [[0.1 1.0] [0.3 2.0]] (take 2 (result/recorded r :time :sharpness))))
    (is (== 0.01 (result/last-recorded r :loss)) "the last non-nil value")
    (is (= [5.0] (result/late-values r :sharpness)) "the last fifth of 5 records is the last one")
    (is (= [0.02 0.01] (result/late-values r :loss)) "the last fifth of 8 records: rows 6 and 7 of 8")
    (is (= [] (result/late-values r :modes)))
    (is (result/any-recorded? r :loss))
    (is (not (result/any-recorded? r :modes)))
    (is (= "gd, lr = 0.05, chain (L = 2, N = 16, standard), completed" (result/run-summary (synthetic-run {:lr 0.05 :pathways 1}))))))

(deftest the-ensemble-of-an-sde-result
  (let [r {:experiment {:kind :sde :sde {:modes [{:s 2.0} {:s 0.5}] :paths 3 :lr 0.1 :batch-size 4
                                         :record {:quantiles [0.1 0.9]}}}
           :trajectory {:time [0.0 1.0]
                        :mean [[0.1 0.2] [1.0 0.4]] :std [[0.0 0.0] [0.1 0.05]]
                        :q0.1 [[0.1 0.2] [0.9 0.35]] :q0.9 [[0.1 0.2] [1.1 0.45]]
                        ;; rows per time, each [[pi per mode] per kept path]
                        :paths [[[0.1 0.2] [0.1 0.2]] [[0.9 0.4] [1.1 0.4]]]}
           :final {:strengths [[0.9 0.4] [1.1 0.4] [1.0 0.4]] :first-passage {0.5 [[0.3 nil] [0.4 2.0] [0.5 nil]]}}
           :analysis {:learned-time {0 [0.3 0.4 0.5]}
                      :stationary [{:mode 1 :histogram {:edges [0.0 0.2 0.6] :theory-density [1.0 2.0]}}]}}
        e (result/ensemble r)]
    (is (= {0.1 [[0.1 0.2] [0.9 0.35]] 0.9 [[0.1 0.2] [1.1 0.45]]} (:quantiles e)))
    (is (= [[[0.1 0.2] [0.9 0.4]] [[0.1 0.2] [1.1 0.4]]] (:paths e)) "per path, then per time")
    (is (= [[0.9 0.4] [1.1 0.4] [1.0 0.4]] (:final e)))
    (is (= [2.0 0.5] (:targets e)))
    (is (= [3 0.1 4] [(:n-paths e) (:lr e) (:batch-size e)]))
    (is (= {1 [[0.1 1.0] [0.4 2.0]]} (:stationary-density e)) "the density at the bin midpoints")
    (is (= :sde (result/kind r)))))

(deftest shares-only-where-the-mode-has-grown
  (let [shares [[0.6 0.4] [790.2 -789.2] [0.5 0.5] nil]]
    (testing "target 0: no shares; strength below a tenth of the target: none; a nil stays nil"
      (is (= [[0.6 0.4] nil nil nil] (result/meaningful-shares shares [0.9 1e-9 0.01 0.0] [1.0 0.0 0.5 0.2]))))
    (testing "without strengths only the targets decide"
      (is (= [[0.6 0.4] nil [0.5 0.5] nil] (result/meaningful-shares shares nil [1.0 0.0 0.5 0.2]))))
    (testing "the fraction is an option: 0.01 of 0.5 is 0.005, below 0.01"
      (is (= [0.5 0.5] (nth (result/meaningful-shares shares [0.9 1.0 0.01 0.0] [1.0 0.0 0.5 0.2] {:fraction 0.01}) 2))))
    (testing "final-shares reads the last recorded shares, modes and targets of a run"
      (let [r (-> (synthetic-run {:pathways 2 :targets [3.0 0.0] :steps 20})
                  (assoc-in [:analysis :mode-targets] [3.0 0.0]))]
        (is (nil? (second (result/final-shares r))))
        (is (some? (first (result/final-shares r))) "mode 1 grew past a tenth of s_1 = 3")
        (is (= (first (result/last-recorded r :pathway-shares)) (first (result/final-shares r))))))))
