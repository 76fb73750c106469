(ns dlnlab.sweep-test
  "Sweeps: grid order, the seed of each point (:derived, :shared, :independent,
  replicates, an explicit seed axis), results
  independent of the number of parallel jobs, and the options that skip points,
  stream results and keep them out of memory."
  (:require [clojure.test :refer [deftest is testing]]
            [dlnlab.core :as core]
            [dlnlab.sweep :as sweep]))

(def ^:private base
  {:seed 9
   :model {:kind :chain :depth 2 :width 3}
   :task {:kind :teacher-student :input-dim 3 :output-dim 2 :samples 12 :test-samples 0 :label-noise 0.1}
   :optimizer {:kind :sgd :lr 0.05 :batch-size 4}
   :steps 30
   :record {:every 10 :metrics [:loss]}})

(def ^:private grid {[:optimizer :lr] [0.02 0.05] [:optimizer :batch-size] [1 2 3]})

(defn- strip [r] (dissoc r :meta))

(deftest grid-points-come-in-grid-order
  (is (= [[[[:optimizer :lr] 0.02] [[:optimizer :batch-size] 1]]
          [[[:optimizer :lr] 0.02] [[:optimizer :batch-size] 2]]
          [[[:optimizer :lr] 0.02] [[:optimizer :batch-size] 3]]
          [[[:optimizer :lr] 0.05] [[:optimizer :batch-size] 1]]
          [[[:optimizer :lr] 0.05] [[:optimizer :batch-size] 2]]
          [[[:optimizer :lr] 0.05] [[:optimizer :batch-size] 3]]]
         (sweep/grid-points grid))
      "the first path varies slowest")
  (is (= [[[[:b] 1] [[:a] 1]] [[[:b] 1] [[:a] 2]] [[[:b] 2] [[:a] 1]] [[[:b] 2] [[:a] 2]]]
         (sweep/grid-points [[[:b] [1 2]] [[:a] [1 2]]]))
      "a vector of pairs fixes the order")
  (testing "an invalid grid names the offending key"
    (doseq [[g path] [[{} [:grid]] [{[:optimizer :lr] []} [:grid [:optimizer :lr]]] [{[] [1]} [:grid []]]]]
      (is (= path (:path (ex-data (try (sweep/grid-points g) (catch clojure.lang.ExceptionInfo e e)))))))))

(defn- seeds-of [grid seeds]
  (mapv #(:seed (sweep/point-experiment base % seeds)) (sweep/grid-points grid)))

(deftest independent-seeds-depend-on-the-point-only
  (let [points (sweep/grid-points grid)
        seeds (seeds-of grid :independent)]
    (is (apply distinct? seeds) "every point its own seed")
    (is (not-any? #{9} seeds))
    (is (= (sweep/point-seed 9 (first points)) (first seeds)))
    (testing "adding values to the grid does not change a point's seed"
      (let [bigger (sweep/grid-points {[:optimizer :lr] [0.01 0.02 0.05] [:optimizer :batch-size] [1 2 3 4]})]
        (doseq [p points]
          (is (some #{p} bigger))
          (is (= (sweep/point-seed 9 p) (sweep/point-seed 9 (first (filter #{p} bigger))))))))
    (testing "a different base seed moves every point"
      (is (every? true? (map #(not= (sweep/point-seed 9 %) (sweep/point-seed 10 %)) points))))
    (testing ":shared keeps the base seed"
      (is (= #{9} (set (seeds-of grid :shared)))))))

(deftest derived-seeds-pair-the-optimizer-coordinates
  (let [g {[:model :width] [3 4] [:optimizer :lr] [0.02 0.05 0.1] [:replicate] [0 1 2]}
        points (sweep/grid-points g)
        exps (map #(sweep/point-experiment base % :derived) points)
        by (group-by (fn [e] [(get-in e [:model :width]) (:seed e)]) exps)]
    (is (every? #(= 3 (count %)) (vals by)) "one seed per width x replicate, shared by the three learning rates")
    (is (= 6 (count (distinct (map :seed exps)))) "widths and replicates each move the seed")
    (is (not-any? #(contains? % :replicate) exps) "[:replicate] is not an experiment key")
    (testing "replicate r of every learning rate starts from the same weights and data"
      (doseq [[[w _] es] by]
        (let [nets (map core/network es)]
          (is (apply = (map (comp vec :params) nets)) (str "width " w))
          (is (apply = (map core/loss nets))))))
    (testing "different replicates start from different weights"
      (is (apply distinct? (map (comp vec :params core/network)
                                (filter #(and (= 3 (get-in % [:model :width])) (= 0.02 (get-in % [:optimizer :lr]))) exps)))))
    (testing "replicate 0 keeps its seed when replicates are added"
      (is (= (seeds-of {[:optimizer :lr] [0.02]} :derived)
             (seeds-of {[:optimizer :lr] [0.02] [:replicate] [0]} :derived))))
    (testing ":shared: replicate 0 the base seed, replicate r one seed for every point"
      (is (= [9 (first (seeds-of {[:replicate] [1]} :shared))]
             (distinct (seeds-of {[:optimizer :lr] [0.02 0.05] [:replicate] [0 1]} :shared)))))))

(deftest an-explicit-seed-axis-is-used-as-given
  (doseq [mode (keys sweep/seed-modes)]
    (is (= [1 1 2 2 3 3] (seeds-of {[:seed] [1 2 3] [:optimizer :lr] [0.02 0.05]} mode)) (str mode))))

(deftest results-are-those-of-the-point-experiments-whatever-the-jobs
  (let [one (sweep/sweep base grid {:jobs 1})
        three (sweep/sweep base grid {:jobs 3})
        points (sweep/grid-points grid)]
    (is (= (map strip one) (map strip three)) "1 or 3 parallel jobs: the same numbers")
    (is (= (range 6) (map #(get-in % [:sweep :index]) one)))
    (is (= (map #(into {} %) points) (map #(get-in % [:sweep :point]) one)))
    (doseq [[r p] (map vector one points)]
      (is (= (strip (core/run (sweep/point-experiment base p))) (dissoc (strip r) :sweep))
          (str "point " p)))
    (testing ":shared: one seed, so one initialization and one data set"
      (let [shared (sweep/sweep base grid {:seeds :shared :jobs 2})
            independent (sweep/sweep base grid {:seeds :independent :jobs 2})
            first-loss (map #(first (get-in % [:trajectory :loss])) shared)]
        (is (= #{9} (set (map #(get-in % [:experiment :seed]) shared))))
        (is (apply = first-loss))
        (is (apply = (map #(first (get-in % [:trajectory :loss])) one)) "derived seeds over optimizer keys: paired")
        (is (apply distinct? (map #(first (get-in % [:trajectory :loss])) independent)) "independent seeds: different data")))))

(deftest skipping-streaming-and-failures
  (let [seen (atom {})
        kept (sweep/sweep base grid {:jobs 2})
        out (sweep/sweep base grid {:jobs 2 :keep-results? false :skip? (fn [i _] (= i 4))
                                    :on-result (fn [i point r] (swap! seen assoc i [point r]))})]
    (is (= (repeat 6 nil) out) ":keep-results? false keeps nothing")
    (is (= #{0 1 2 3 5} (set (keys @seen))) "every point but the skipped one reported once")
    (doseq [[i [point r]] @seen]
      (is (= (nth (sweep/grid-points grid) i) point))
      (is (= (strip (nth kept i)) (strip r)))))
  (testing "a skipped point leaves nil in its slot; the others run"
    (let [rs (sweep/sweep base grid {:jobs 2 :skip? (fn [i _] (odd? i))})]
      (is (= [false true false true false true] (map nil? rs)))))
  (testing "a point whose experiment is invalid stops the sweep before any point runs, with run's ex-info"
    (let [ran (atom 0)
          e (try (sweep/sweep base {[:optimizer :lr] [0.05 -1.0 0.02]}
                              {:jobs 2 :on-result (fn [& _] (swap! ran inc))})
                 nil
                 (catch clojure.lang.ExceptionInfo e e))]
      (is (= {:dlnlab/error :invalid-experiment :path [:optimizer :lr] :value -1.0}
             (select-keys (ex-data e) [:dlnlab/error :path :value])))
      (is (zero? @ran) "nothing ran"))))
