(ns dlnlab.figure-style-test
  "Draw order and styling (dlnlab.figure.style through dlnlab.figure/figure),
  the floating-point floor of losses, and the step line of a scheduled
  stability threshold."
  (:require [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.figure :as figure]
            [dlnlab.figure.style :as style]
            [dlnlab.figure-fixtures :refer [synthetic-run synthetic-sweep layer]]
            [dlnlab.vega :as vega]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- lr-sweep
  "n runs at learning rates 0.05, 0.06, ... (one grid coordinate), the last
  oscillating: its loss alternates between two values a decade apart."
  [^long n]
  (vec (for [i (range n)
             :let [lr (+ 0.05 (* 0.01 (double i)))
                   r (synthetic-run {:lr lr :steps 100 :sweep-point {:index i :point {[:optimizer :lr] lr}}})]]
         (if (= i (dec n))
           (assoc-in r [:trajectory :loss] (mapv #(if (even? (long %)) 1.0 0.1) (range (count (get-in r [:trajectory :step])))))
           r))))

(defn- data-lines [panel] (filter #(and (= :line (:mark %)) (not (style/reference? %))) (:layers panel)))

(deftest many-runs-are-drawn-thin-and-busiest-first
  (let [fig (figure/figure :loss (lr-sweep 6))
        [p] (:panels fig)
        lines (data-lines p)]
    (testing "six series share a panel: thinner, partly transparent lines"
      (is (every? #(< (double (:stroke-width %)) 2.0) lines))
      (is (every? #(< (double (:opacity %)) 1.0) lines)))
    (testing "the oscillating run is drawn first, under the calm ones"
      (is (= "lr = 0.1" (:series (first lines)))))
    (testing "the legend keeps the sweep's order"
      (is (= (mapv #(str "lr = " (figure/fmt (+ 0.05 (* 0.01 (double %))))) (range 6))
             (vec (take 6 (map :name (:series fig))))))))
  (testing "one or two series keep 2 px opaque lines"
    (let [fig (figure/figure :loss (lr-sweep 2))]
      (is (every? #(and (== 2.0 (double (:stroke-width %))) (== 1.0 (double (:opacity %))))
                  (data-lines (first (:panels fig))))))))

(deftest more-than-eight-series-become-small-multiples
  (let [fig (figure/figure :loss (lr-sweep 11))
        per-panel (mapv #(count (distinct (map :series (data-lines %)))) (:panels fig))]
    (is (= 2 (count (:panels fig))))
    (is (= 11 (reduce + per-panel)) "every run is drawn once")
    (is (every? #(<= (long %) (long style/max-series)) per-panel))
    (is (apply = (map #(mapv :mark (:layers %)) (:panels fig))) "every panel has the same layers in the same order")
    (is (every? #(str/includes? (:title %) " … ") (:panels fig)))))

(deftest references-are-drawn-over-the-data
  (let [raw {:name :t :title "t" :x {:title "x" :log? false} :y {:title "y" :log? false}
             :panels [{:title nil :layers [{:mark :rule :series "target" :color 0 :dash [6 4] :y 1.0}
                                           {:mark :line :series "theory" :color 1 :dash [2 2] :points [[0 0] [1 1]]}
                                           {:mark :line :series "run" :color 1 :points [[0 0] [1 1]]}
                                           {:mark :band :series "run" :color 1 :points [[0 0 1] [1 0 1]]}]}]}
        ordered (style/order-layers (get-in raw [:panels 0 :layers]) false)]
    (is (= [:band :line :line :rule] (mapv :mark ordered)) "fills, data, dashed theory, rules")
    (is (= ["run" "theory"] (mapv :series (filter #(= :line (:mark %)) ordered))))))

(deftest same-color-same-dash-series-get-distinct-dashes
  (let [layers [{:mark :line :series "a" :color 0 :points [[0 1]]}
                {:mark :line :series "b" :color 0 :points [[0 2]]}
                {:mark :line :series "c" :color 0 :points [[0 3]]}
                {:mark :line :series "d" :color 1 :points [[0 4]]}
                {:mark :line :series "e" :color 0 :dash [2 2] :points [[0 5]]}]
        dashes (style/distinct-dashes layers identity)]
    (is (= #{"b" "c"} (set (keys dashes))) "a, d and e already look distinct")
    (is (apply distinct? (concat [nil [2 2]] (vals dashes)))))
  (testing "two series with the same points: the later one dashed, so both show"
    (let [ps [[0 1] [1 2]]]
      (is (= ["y"] (keys (style/distinct-dashes [{:mark :line :series "x" :color 0 :points ps}
                                                 {:mark :line :series "y" :color 1 :points ps}]
                                                identity)))))))

(deftest vega-legends-show-the-dash-of-each-series
  (let [fig (figure/figure :modes (synthetic-run {}) {:theory {:step [0 200 400] :modes [[0.1 0.1] [2.9 0.9] [3.0 1.0]]}})
        spec (vega/spec fig)
        theory-layer (first (filter #(get-in % [:encoding :strokeDash]) (:layer spec)))
        scale (get-in theory-layer [:encoding :strokeDash :scale])]
    (is theory-layer "dashed series are encoded by series, so the legend draws their dash")
    (is (= (mapv :name (:series fig)) (:domain scale)))
    (is (= (mapv #(or (:dash %) [1 0]) (:series fig)) (:range scale)))
    (is (some #(= [2 2] %) (:range scale)))
    (testing "a target rule sharing its name with a solid line keeps its own dash"
      (is (some #(and (= "rule" (get-in % [:mark :type])) (= [6 4] (get-in % [:mark :strokeDash]))) (:layer spec))))))

;; ---------------------------------------------------------------- the floating-point floor

(deftest the-floor-is-ten-roundoffs-of-the-loss-scale
  (let [eps (Math/pow 2.0 -52)
        r (synthetic-run {:targets [3.0 1.0]})
        first-loss (double (first (get-in r [:trajectory :loss])))]
    (is (== (* 100.0 eps eps) (double figure/floor-factor)))
    (is (< (Math/abs (- (double (figure/loss-floor r)) (* 100.0 eps eps (max 5.0 first-loss))))
           (* 1e-12 (double (figure/loss-floor r))))
        "(10 ε)² times the larger of ½ Σ s_i² = 5 and the first loss")))

(deftest losses-below-the-floor-are-drawn-at-it
  (let [r (synthetic-run {:steps 40 :every 1})
        f (double (figure/loss-floor r))
        noise [1e-35 1e-32 3e-34 2e-31]
        r (update-in r [:trajectory :loss] #(into (vec (drop-last 4 %)) noise))
        fig (figure/figure :loss (update r :trajectory dissoc :test-loss))
        pts (:points (layer fig "training loss"))
        floor (first (filter #(= :rule (:mark %)) (:layers (first (:panels fig)))))]
    (is (= (repeat 4 f) (map second (take-last 4 pts))) "rounding noise is flat at the floor, not a trend")
    (is (== f (double (:y floor))))
    (is (str/starts-with? (:series floor) "floating-point floor"))
    (is (re-find #"floating-point floor" (:subtitle fig)))
    (testing "no floor line when every loss is above it"
      (let [clean (update-in r [:trajectory :loss] #(mapv (fn [v] (max 1e-3 (double v))) %))]
        (is (not-any? #(= :rule (:mark %)) (mapcat :layers (:panels (figure/figure :loss clean)))))))
    (testing "final losses against the lr: at the floor too"
      (let [fig (figure/figure :loss-vs-lr (synthetic-sweep))]
        (is (every? #(>= (double (second %)) (* 0.999 f)) (mapcat :points (filter #(= :line (:mark %)) (mapcat :layers (:panels fig))))))))))

;; ---------------------------------------------------------------- scheduled thresholds

(deftest a-scheduled-threshold-is-a-step-line
  (let [r (synthetic-run {:steps 40 :every 1 :lr 0.05})
        steps (get-in r [:trajectory :step])
        thr (mapv #(cond (< (long %) 10) 40.0 (< (long %) 30) 50.0 :else 60.0) steps)
        r (assoc-in r [:trajectory :stability-threshold] thr)
        fig (figure/figure :sharpness r)
        line (layer fig "2/η (scheduled)")]
    (is (= :line (:mark line)))
    (is (= [[0 40.0] [10 40.0] [10 50.0] [30 50.0] [30 60.0] [40 60.0]] (:points line))
        "flat between the changes, vertical at them")
    (is (not-any? #(= :rule (:mark %)) (mapcat :layers (:panels fig))) "no constant line beside it")
    (is (= line (last (:layers (first (:panels fig))))) "drawn over the sharpness")
    (testing "a threshold that never changed stays one rule"
      (let [fig (figure/figure :sharpness (assoc-in r [:trajectory :stability-threshold] (mapv (constantly 40.0) steps)))]
        (is (= 1 (count (filter #(= :rule (:mark %)) (mapcat :layers (:panels fig))))))))))

;; ---------------------------------------------------------------- the x axis as asked

(deftest x-range-and-log-x-adjust-the-x-axis
  (let [r (synthetic-run {:steps 100 :every 1})
        fig (figure/figure :modes r {:x-range [10 20]})
        xs (mapcat #(map first (:points %)) (filter :points (mapcat :layers (:panels fig))))]
    (is (= [10.0 20.0] (get-in fig [:x :range])))
    (is (= (range 10 21) (distinct (sort xs))) "exactly the points inside the range")
    (testing "the renderers' axis spans the range"
      (let [spec (vega/spec fig)
            enc (get-in (first (:layer spec)) [:encoding :x :scale])]
        (is (= [10.0 20.0] (:domain enc)))))
    (testing "--log-x on a step axis: a log axis without step 0"
      (let [fig (figure/figure :loss r {:log-x true})]
        (is (true? (get-in fig [:x :log?])))
        (is (every? #(pos? (double (first %))) (:points (layer fig "training loss"))))))
    (testing "a linear lr axis on request"
      (is (false? (get-in (figure/figure :loss-vs-lr (synthetic-sweep) {:log-x false}) [:x :log?]))))
    (testing "a bad range is an error naming the option"
      (is (thrown-with-msg? clojure.lang.ExceptionInfo #":x-range" (figure/figure :loss r {:x-range [5 1]}))))))
