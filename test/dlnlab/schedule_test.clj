(ns dlnlab.schedule-test
  "Schedules and interventions (dlnlab.schedule, run by dlnlab.train) and seeds
  by role: a scheduled run is the hand-stepped run bit for bit, shapes expand to
  their formulas, perturbations have their norm and direction, switches follow
  the new optimizer, bad schedules name the event, and :seeds fixes each source
  of randomness on its own without changing runs that do not use it."
  (:require [clojure.edn :as edn]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.core :as core]
            [dlnlab.engine :as engine]
            [dlnlab.result :as result]
            [dlnlab.schedule :as schedule]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def ^:private tiny
  {:seed 3
   :model {:kind :chain :depth 2 :width 3}
   :task {:kind :matrix-factorization :singular-values [1.5 0.5]}
   :optimizer {:kind :gd :lr 0.05}
   :steps 40
   :record {:metrics [:loss]}})

(defn- final-params ^doubles [r]
  (:params (core/set-weights (core/network (:experiment r)) (get-in r [:final :weights]))))

(defn- thrown [f]
  (try (f) nil (catch clojure.lang.ExceptionInfo e e)))

(deftest a-schedule-is-the-hand-stepped-run-bit-for-bit
  (let [k 17
        a (core/run (assoc tiny :steps k))
        b (core/run (assoc tiny
                           :steps (- 40 k)
                           :optimizer {:kind :gd :lr 0.08}
                           :model (assoc (:model tiny) :init {:kind :given :weights (get-in a [:final :weights])})))
        s (core/run (assoc tiny :schedule [{:at k :set {[:optimizer :lr] 0.08}}]))]
    (is (= (vec (final-params b)) (vec (final-params s))) "same final weights, bit for bit")
    (is (= (get-in b [:final :loss]) (get-in s [:final :loss])))
    (testing "the recorded optimizer follows the schedule"
      (let [lr (get-in s [:trajectory :effective-lr])
            thr (get-in s [:trajectory :stability-threshold])
            time (get-in s [:trajectory :time])]
        (is (= [0.05 0.08] [(nth lr (dec k)) (nth lr k)]))
        (is (= (/ 2.0 0.08) (nth thr k)))
        (is (= (* 0.05 k) (nth time k)) "time is the sum of the steps' learning rates")
        (is (< (Math/abs (- (+ (* 0.05 k) (* 0.08 (- 40 k))) (double (last time)))) 1e-12))
        (is (= [{:set {[:optimizer :lr] 0.08} :step k :time (* 0.05 k)
                 :effective-lr 0.08 :stability-threshold 25.0 :time-scale 0.08}]
               (:events s)))
        (is (= 0.05 (result/effective-lr s)) "the :facts are those before the first step")))))

(deftest a-run-without-a-schedule-records-no-extra-columns
  (let [r (core/run tiny)]
    (is (= #{:step :time :loss} (set (keys (:trajectory r)))))
    (is (not (contains? r :events)))))

(deftest shapes-expand-to-their-formulas
  (let [lrs (fn [e] (mapv #(get-in % [:set [:optimizer :lr]]) (schedule/shape-events e)))
        close? (fn [xs ys] (and (= (count xs) (count ys))
                                (every? true? (map #(< (Math/abs (- (double %1) (double %2))) 1e-15) xs ys))))]
    (is (close? [0.025 0.05 0.075 0.1] (lrs {:at 10 :shape :warmup :until 14 :lr 0.1})))
    (is (= [10 11 12 13] (mapv :at (schedule/shape-events {:at 10 :shape :warmup :until 14 :lr 0.1}))))
    (is (close? [0.1 0.05 0.025] (lrs {:at 0 :shape :step-decay :until 30 :every 10 :lr 0.1 :factor 0.5})))
    (is (close? [0.1 0.09 0.081] (lrs {:at 5 :shape :exponential :until 8 :lr 0.1 :rate 0.9})))
    (testing "cosine: from lr at :at, half-way at the middle, toward lr-min"
      (let [v (lrs {:at 0 :shape :cosine :until 4 :lr 0.1 :lr-min 0.02})]
        (is (close? [0.1 (+ 0.02 (* 0.04 (+ 1.0 (Math/sqrt 0.5)))) 0.06 (+ 0.02 (* 0.04 (- 1.0 (Math/sqrt 0.5))))] v))))
    (testing "a shape in a run sets the lr at each of its steps, in order with other events"
      (let [r (core/run (assoc tiny :schedule [{:at 20 :set {[:optimizer :lr] 0.01}}
                                               {:at 0 :shape :warmup :until 4 :lr 0.05}]))
            lr (get-in r [:trajectory :effective-lr])]
        (is (close? [0.0125 0.025 0.0375 0.05 0.05] (subvec lr 0 5)))
        (is (= 0.01 (nth lr 20)))
        (is (= 5 (count (:events r))))))))

(deftest perturbations-have-their-norm-and-direction
  (let [net (core/network tiny)
        ^doubles p (:params net)
        n (alength p)
        norm2 (fn ^double [^doubles v] (Math/sqrt (areduce v i acc 0.0 (+ acc (* (aget v i) (aget v i))))))]
    (testing "random: norm as asked, a fixed function of the seed"
      (let [[^doubles v] (schedule/perturbation net p {:norm 0.3 :direction :random} 11)
            [^doubles w] (schedule/perturbation net p {:norm 0.3 :direction :random} 11)
            [^doubles u] (schedule/perturbation net p {:norm 0.3 :direction :random} 12)]
        (is (< (Math/abs (- 0.3 (double (norm2 v)))) 1e-14))
        (is (= (vec v) (vec w)))
        (is (not= (vec v) (vec u)))))
    (testing "top eigenvector: H v = lambda v by an exact HVP, lambda the largest eigenvalue of the dense Hessian"
      (let [[^doubles v {:keys [eigenvalue]}] (schedule/perturbation net p {:norm 1.0 :direction :top-eigenvector} 5)
            ^doubles hv (engine/hvp net p v)
            dense (core/hessian net)
            top (apply max (map #(reduce + (map * % (vec v))) dense))]
        (is (< (Math/abs (- 1.0 (double (norm2 v)))) 1e-12))
        (is (every? #(< (Math/abs (- (aget hv (int %)) (* (double eigenvalue) (aget v (int %))))) 1e-6) (range n)))
        (is (< (Math/abs (- (double eigenvalue) (double (first (:values (core/hessian-eigenvalues net)))))) 1e-6))
        (is (number? top))))
    (testing "in a run: the weights after the event differ from the unperturbed run's by the perturbation"
      (let [k 10
            plain (core/run (assoc tiny :steps k))
            kicked (core/run (assoc tiny :steps (inc k) :schedule [{:at k :perturb {:norm 0.2 :seed 4}}]
                                    :record {:metrics [:loss] :final-weights true}))
            ^doubles before (final-params plain)
            [^doubles v] (schedule/perturbation net before {:norm 0.2} 4)
            ;; one more GD step from before + v, by hand
            moved (doto (aclone before) (#(dotimes [i n] (aset ^doubles % i (+ (aget ^doubles % i) (aget v i))))))
            ^doubles g (engine/gradient net moved)
            want (mapv (fn [^long i] (- (aget moved i) (* 0.05 (aget g i)))) (range n))]
        (is (= want (vec (final-params kicked))))
        (is (= 0.2 (get-in (first (:events kicked)) [:perturb :norm])))))))

(deftest switching-optimizers
  (testing "GD -> gradient flow: later steps integrate the flow for the last step's time"
    (let [r (core/run (assoc tiny :schedule [{:at 20 :optimizer {:kind :gradient-flow}}]))
          time (get-in r [:trajectory :time])]
      (is (= :completed (:status r)))
      (is (< (Math/abs (- 2.0 (double (last time)))) 1e-12) "40 steps of time 0.05")
      (is (nil? (last (get-in r [:trajectory :stability-threshold]))))
      (is (< (double (get-in r [:final :loss])) (double (nth (get-in r [:trajectory :loss]) 20))))))
  (testing "SGD -> GD on a teacher-student task, and a batch-size switch"
    (let [exp {:seed 2 :model {:kind :chain :depth 2 :width 4}
               :task {:kind :teacher-student :input-dim 3 :output-dim 2 :samples 32}
               :optimizer {:kind :sgd :lr 0.05 :batch-size 4} :steps 30 :record {:metrics [:loss]}}
          r (core/run (assoc exp :schedule [{:at 10 :set {[:optimizer :batch-size] 8}}
                                            {:at 20 :optimizer {:kind :gd :lr 0.05}}]))
          a (core/run (assoc exp :steps 20 :schedule [{:at 10 :set {[:optimizer :batch-size] 8}}]))
          b (core/run (assoc exp :steps 10 :optimizer {:kind :gd :lr 0.05}
                             :model (assoc (:model exp) :init {:kind :given :weights (get-in a [:final :weights])})))]
      (is (= (vec (final-params b)) (vec (final-params r))) "GD part continues from the SGD part bit for bit"))))

(deftest bad-schedules-name-the-event
  (let [bad (fn [sched] (ex-data (thrown #(core/normalize (assoc tiny :schedule sched)))))]
    (is (= [:schedule 0 :at] (:path (bad [{:at 40 :set {[:optimizer :lr] 0.1}}]))))
    (is (= [:schedule 1] (:path (bad [{:at 1 :set {[:optimizer :lr] 0.1}} {:at 2 :set {[:optimizer :lr] -1}}]))))
    (is (= [:schedule 0 :set [:model :width]] (:path (bad [{:at 1 :set {[:model :width] 3}}]))))
    (is (= [:schedule 0 :shape] (:path (bad [{:at 1 :shape :linear :until 5 :lr 0.1}]))))
    (is (= [:schedule 0 :factor] (:path (bad [{:at 1 :shape :step-decay :until 5 :every 2 :lr 0.1 :factor 2}]))))
    (is (= [:schedule 0 :perturb :direction] (:path (bad [{:at 1 :perturb {:norm 1 :direction :up}}]))))
    (is (= [:schedule 0] (:path (bad [{:at 1}]))))
    (is (= [:schedule] (:path (bad {:at 1}))))
    (is (= [:schedule 0] (:path (bad [{:at 1 :optimizer {:kind :sgd :lr 0.1 :batch-size 2}}])))
        ":sgd is not allowed on a matrix-factorization task")
    (is (re-find #"a schedule counts steps"
                 (ex-message (thrown #(core/normalize (assoc tiny :optimizer {:kind :gradient-flow} :time 1.0 :steps 10
                                                             :schedule [{:at 1 :set {[:optimizer :rtol] 1e-3}}]))))))))

(deftest seeds-by-role
  (let [exp {:seed 5 :model {:kind :chain :depth 2 :width 4}
             :task {:kind :teacher-student :input-dim 3 :output-dim 2 :samples 16}
             :optimizer {:kind :sgd :lr 0.05 :batch-size 4} :steps 12 :record {:metrics [:loss]}}
        run-params (fn [e] (vec (final-params (core/run e))))
        init (fn [e] (vec (:params (core/network e))))
        data (fn [e] (core/loss (core/set-weights (core/network e) (core/weights (core/network exp)))))]
    (testing "seeds equal to :seed, or left out, change nothing"
      (is (= (run-params exp) (run-params (assoc exp :seeds {:data 5 :init 5 :batches 5}))))
      (is (= (run-params exp) (run-params (assoc exp :seeds {})))))
    (testing "each role follows its own seed, as if :seed were that value for that role"
      (let [other (assoc exp :seed 9)]
        (is (= (init other) (init (assoc exp :seeds {:init 9}))))
        (is (= (init exp) (init (assoc exp :seeds {:data 9 :batches 9}))) "data and batches leave the init alone")
        (is (= (data other) (data (assoc exp :seeds {:data 9}))) "the same data as :seed 9")
        (is (= (data exp) (data (assoc exp :seeds {:init 9 :batches 9}))))
        (is (not= (run-params exp) (run-params (assoc exp :seeds {:batches 9}))) "batches change the SGD path")))
    (is (= [:seeds :data] (:path (ex-data (thrown #(core/normalize (assoc exp :seeds {:data 1.5})))))))))

(deftest the-lr-drop-example
  (let [exp (edn/read-string (slurp "examples/lr-drop.edn"))
        r (core/run exp)
        rows (result/recorded r :step :sharpness)
        phase (fn [^long a ^long b] (mapv second (filter #(<= (+ a 500) (long (first %)) (dec b)) rows)))
        phases [[0 1000 0.033] [1000 2000 0.032] [2000 3001 0.031]]
        widths (for [[a b lr] phases]
                 (let [vs (phase a b) thr (/ 2.0 (double lr))]
                   (testing (str "late in the phase at lr " lr " the sharpness oscillates across 2/lr")
                     (is (< (double (apply min vs)) thr (double (apply max vs)))))
                   (- (double (apply max vs)) (double (apply min vs)))))]
    (is (= :completed (:status r)))
    (is (= [1000 2000] (mapv :step (:events r))))
    (is (apply > widths) "the oscillation narrows as 2/lr approaches S_1 = 3 * 10^(4/3)")
    (is (< (/ 2.0 0.031) (* 3.0 (Math/pow 10.0 (/ 4.0 3.0)))) "every threshold is below S_1")))
