(ns dlnlab.sweep-zip-test
  "Sweep axes that vary together (:zip in dlnlab.sweep): zipped paths take their
  i-th values together, in grid order beside the cartesian axes, bad zips name
  the group, and the example's claim (GD at equal time converges at rate lr)."
  (:require [clojure.edn :as edn]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.sweep :as sweep]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(deftest zipped-axes-vary-together-in-grid-order
  (let [grid [[[:a] [1 2]] [[:b] [:x :y :z]] [[:c] [10 20]] [[:d] [:p :q :r]]]]
    (testing "without zip: the cartesian product, first path slowest"
      (is (= 36 (count (sweep/grid-points grid))))
      (is (= (sweep/grid-points grid) (sweep/grid-points grid nil))))
    (testing "[:b] and [:d] zipped: one axis of 3 at [:b]'s place"
      (let [pts (sweep/grid-points grid [[[:b] [:d]]])]
        (is (= 12 (count pts)))
        (is (= (for [a [1 2] [b d] [[:x :p] [:y :q] [:z :r]] c [10 20]]
                 [[[:a] a] [[:b] b] [[:d] d] [[:c] c]])
               pts))))
    (testing "a group placed where its first grid path is, whatever order the group lists"
      (is (= (sweep/grid-points grid [[[:b] [:d]]]) (sweep/grid-points grid [[[:d] [:b]]]))))))

(deftest bad-zips-name-the-group
  (let [grid {[:a] [1 2] [:b] [1 2 3] [:c] [5 6]}
        err (fn [zip] (ex-data (try (sweep/grid-points grid zip) nil (catch clojure.lang.ExceptionInfo e e))))]
    (is (= [:zip 0] (:path (err [[[:a] [:b]]]))) "unequal lengths")
    (is (= [:zip 0] (:path (err [[[:a] [:nope]]]))) "not a grid path")
    (is (= [:zip 1] (:path (err [[[:a] [:c]] [[:c] [:a]]]))) "a path in two groups")
    (is (= [:zip] (:path (err [[[:a]]]))) "a group of one")
    (is (= :invalid-experiment (:dlnlab/error (err [[[:a] [:b]]]))))))

(deftest the-zip-example
  (let [s (edn/read-string (slurp "examples/lr-steps-zip.edn"))
        rs (sweep/sweep (:base s) (:grid s) {:zip (:zip s) :seeds :shared :jobs 2})
        loss (fn [r] (double (get-in r [:final :loss])))]
    (is (= 8 (count rs)))
    (is (= [[0.04 100 3] [0.04 100 4] [0.02 200 3] [0.02 200 4]]
           (mapv #(vector (get-in % [:experiment :optimizer :lr]) (get-in % [:experiment :steps]) (get-in % [:experiment :seed]))
                 (take 4 rs))))
    (is (every? #(< (Math/abs (- 4.0 (double (get-in % [:final :time])))) 1e-12) rs) "every point trains to time 4")
    (doseq [seed [3 4]]
      (let [ls (mapv loss (filter #(= seed (get-in % [:experiment :seed])) rs))
            steps (mapv #(Math/abs (- (double %1) (double %2))) ls (rest ls))]
        (testing (str "seed " seed ": final losses " ls)
          (doseq [[a b] (partition 2 1 steps)]
            (is (< 1.7 (/ (double a) (double b)) 2.3))))))))
