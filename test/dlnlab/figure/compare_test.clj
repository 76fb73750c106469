(ns dlnlab.figure.compare-test
  "The side-by-side figures and the Lyapunov sweep figure draw the recorded
  numbers: every layer's points are read back against the result's own
  columns, the standard figures of a :compare result are the compare figures
  (on time when a variant is gradient flow), and the chaos figure marks the
  onset r_inf/S_1 and the per-mode map's exponent of dlnlab.theory.gd-map."
  (:require [clojure.test :refer [deftest is testing]]
            [dlnlab.core]
            [dlnlab.experiment :as experiment]
            [dlnlab.figure :as fig]
            [dlnlab.result :as result]
            [dlnlab.sweep :as sweep]
            [dlnlab.theory.gd-map :as gd-map]
            [dlnlab.vega]))

(set! *warn-on-reflection* true)

(def ^:private gd-vs-flow
  {:seed 3 :steps 20
   :model {:kind :chain :depth 2 :width 3 :init {:kind :gaussian :std 0.3}}
   :task {:kind :matrix-factorization :singular-values [2.0 1.0] :dims [3 3]}
   :optimizer {:kind :gd :lr 0.05}
   :compare {:flow {:optimizer {:kind :gradient-flow}} :gd {} :gd2 {:optimizer {:lr 0.1}}}})

(defn- layer [f series] (first (filter #(= series (:series %)) (mapcat :layers (:panels f)))))

(deftest compare-figures-draw-the-recorded-columns
  (let [r (experiment/run gd-vs-flow)
        figs (fig/standard r)]
    (is (= #{:compare-loss :compare-distance :compare-cosine :compare-loss-difference} (set (keys figs))))
    (testing "x is time t = eta steps when a variant is gradient flow; :x :step overrides"
      (is (= "time t (effective lr × steps)" (get-in figs [:compare-loss :x :title])))
      (is (= "step" (get-in (fig/figure :compare-loss r {:x :step}) [:x :title]))))
    (doseq [[nm col v] [[:compare-distance :distance-gd :gd] [:compare-cosine :cosine-gd2 :gd2]
                        [:compare-loss :loss-flow :flow] [:compare-loss-difference :loss-difference-gd :gd]]]
      (let [f (fig/figure nm r {:x :step})
            l (first (filter #(.startsWith ^String (:series %) (str (name v) " (")) (mapcat :layers (:panels f))))]
        (is (= (mapv (fn [s x] [(double s) (double x)]) (get-in r [:trajectory :step]) (get-in r [:trajectory col]))
               (mapv (fn [[s x]] [(double s) (double x)]) (:points l)))
            (str nm " " col))))
    (testing "the reference variant (the first by name) has no distance line of its own"
      (is (nil? (layer (:compare-distance figs) "flow (gradient-flow)"))))
    (testing "a plain run is not drawn as a comparison"
      (let [e (try (fig/figure :compare-loss (experiment/run (dissoc gd-vs-flow :compare))) nil
                   (catch clojure.lang.ExceptionInfo e e))]
        (is (re-find #"needs the result of an experiment with :compare" (ex-message e)))))))

(deftest lyapunov-sweep-figure-marks-the-onset-of-chaos
  (let [base {:seed 1 :steps 1200
              :model {:kind :chain :widths [1 1 1] :init {:kind :given :weights [[[[0.9]] [[0.9]]]]}}
              :task {:kind :matrix-factorization :singular-values [1.0] :basis :identity}
              :optimizer {:kind :gd :lr 1.0}
              :record {:every 200 :metrics [:loss :lyapunov] :lyapunov {:window? true}}}
        rs (sweep/sweep base {[:optimizer :lr] [1.15 1.25 1.4]} {:jobs 2})
        f (fig/figure :lyapunov-vs-lr rs {})
        measured (:points (layer f "measured (network)"))
        onset (first (filter #(= :x-rule (:mark %)) (rest (mapcat :layers (:panels f)))))]
    (is (some #{:lyapunov-vs-lr} (fig/standard-names rs)))
    (testing "one point per run: its effective lr and the mean of its late records"
      (is (= (mapv (fn [r] (let [vs (result/late-values r :lyapunov)]
                             [(double (result/effective-lr r)) (/ (double (reduce + vs)) (count vs))]))
                   rs)
             measured)))
    (testing "the chaotic run is above zero, the periodic ones below"
      (is (= [false false true] (mapv #(pos? (double (second %))) measured))))
    (testing "2/S_1 = 1 lies outside the range; r_inf / S_1 is marked (S_1 = 2 at L = 2, s = 1)"
      (is (= (/ (double (:r-inf (gd-map/doubling-points 2))) 2.0) (:x onset)))
      (is (re-find #"onset of chaos" (:series onset))))
    (testing "the theory curve is the per-mode map's exponent at r = lr S_1"
      (let [[lr l] (nth (:points (layer f "per-mode GD map (theory)")) 100)]
        (is (== (max -3.0 (double (gd-map/gd-map-lyapunov (* 2.0 (double lr)) 2 {:n 20000}))) l))))))
