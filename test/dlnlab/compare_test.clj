(ns dlnlab.compare-test
  "Side-by-side runs (dlnlab.compare): GD tends to gradient flow at rate O(lr)
  at equal time, the flow variant is the flow run on its own, the recorded
  measures are those of the final weights, and bad variants name their path."
  (:require [clojure.edn :as edn]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.core :as core]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def ^:private example (edn/read-string (slurp "examples/gd-vs-flow.edn")))

(defn- at-lr [^double lr]
  (core/run (assoc example :optimizer {:kind :gd :lr lr} :steps (Math/round (/ 4.0 lr)))))

(defn- packed ^doubles [w] (:params (core/set-weights (core/network example) w)))

(deftest gd-tends-to-gradient-flow-at-rate-lr
  (let [rs (mapv at-lr [0.04 0.02 0.01])
        d (mapv #(double (get-in % [:analysis :final :gd :distance])) rs)]
    (is (every? #(= :completed (:status %)) rs))
    (is (every? #(< (Math/abs (- 4.0 (double (get-in % [:final :time])))) 1e-12) rs) "equal final time")
    (testing "halving lr halves the distance (Euler's global error C lr + O(lr^2))"
      (doseq [[a b] (partition 2 1 d)]
        (is (< 1.8 (/ (double a) (double b)) 2.2) (str "distances " d))))
    (testing "the loss difference and end-to-end distance shrink with lr too"
      (let [e (mapv #(Math/abs (double (get-in % [:analysis :final :gd :end-to-end-distance]))) rs)]
        (is (apply > e))))))

(deftest the-recorded-measures-are-those-of-the-runs
  (let [r (core/run example)
        tr (:trajectory r)
        ^doubles pf (packed (get-in r [:final :weights :flow]))
        ^doubles pg (packed (get-in r [:final :weights :gd]))
        n (alength pf)
        dist (Math/sqrt (reduce + (map (fn [^long i] (let [x (- (aget pf i) (aget pg i))] (* x x))) (range n))))
        dot (fn ^double [^doubles a ^doubles b] (reduce + (map (fn [^long i] (* (aget a i) (aget b i))) (range n))))]
    (is (= [:flow :gd] (get-in r [:compare :variants])))
    (is (= :gd (get-in r [:compare :clock])))
    (is (= 0.0 (first (:distance-gd tr))) "same initialization")
    (is (= 1.0 (first (:cosine-gd tr))))
    (is (< (Math/abs (- dist (double (last (:distance-gd tr))))) 1e-12))
    (is (< (Math/abs (- (/ (double (dot pf pg)) (Math/sqrt (* (double (dot pf pf)) (double (dot pg pg))))) (double (last (:cosine-gd tr))))) 1e-12))
    (is (= (- (double (last (:loss-gd tr))) (double (last (:loss-flow tr)))) (last (:loss-difference-gd tr))))
    (testing "the GD variant is the plain GD run bit for bit"
      (let [plain (core/run (dissoc example :compare))]
        (is (= (get-in plain [:final :weights]) (get-in r [:final :weights :gd])))))
    (testing "the flow variant is the gradient-flow run to the same time"
      (let [flow (core/run (-> (dissoc example :compare)
                               (assoc :optimizer {:kind :gradient-flow :rtol 1e-10 :atol 1e-12} :time 4.0)))]
        (is (< (Math/abs (- (double (get-in flow [:final :loss])) (double (last (:loss-flow tr))))) 1e-8))))))

(deftest bad-variants-name-their-path
  (let [path (fn [c] (:path (ex-data (try (core/normalize (assoc example :compare c)) nil
                                          (catch clojure.lang.ExceptionInfo e e)))))]
    (is (= [:compare] (path {:a {}})))
    (is (= [:compare :b :model] (path {:a {} :b {:model {:kind :chain :depth 3}}})))
    (is (= [:compare :b :seeds :init] (path {:a {} :b {:seeds {:init 2}}})))
    (is (= [:compare :b :optimizer] (path {:a {} :b {:optimizer {:lr -1.0}}})))))
