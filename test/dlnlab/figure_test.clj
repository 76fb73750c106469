(ns dlnlab.figure-test
  "Tests of dlnlab.figure and its families (run, sweep, sde) on hand-built
  results: the figure data each builds, what it drops, its errors and the
  standard figures of a result, sweep or ensemble."
  (:require [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.figure :as figure]
            [dlnlab.figure.axis :as axis]
            [dlnlab.figure.layout :as layout]
            [dlnlab.vega :as vega]
            [dlnlab.figure-fixtures :refer [synthetic-run synthetic-sweep synthetic-ensemble synthetic-sde-sweep synthetic-mp-sweep gaussian-samples gaussian-density theory-curve layer]]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(deftest loss-figure-drops-what-a-log-axis-cannot-show
  (let [run (-> (synthetic-run {})
                (assoc-in [:trajectory :loss 3] 0.0)
                (assoc-in [:trajectory :loss 4] Double/NaN)
                (assoc-in [:trajectory :loss 5] -1.0))
        fig (figure/figure :loss run)
        pts (:points (layer fig "training loss"))
        expected (count (filter #(and % (Double/isFinite (double %)) (pos? (double %))) (get-in run [:trajectory :loss])))]
    (is (true? (get-in fig [:y :log?])))
    (is (= expected (count pts)))
    (is (every? #(pos? (double (second %))) pts))
    (is (= ["training loss" "test loss"] (vec (take 2 (map :name (:series fig))))))
    (is (= ["training loss"] (vec (remove #(str/starts-with? % "floating-point floor")
                                          (map :name (:series (figure/figure :loss (update run :trajectory dissoc :test-loss))))))))))

(deftest sharpness-figure-has-the-stability-line
  (let [fig (figure/figure :sharpness (synthetic-run {:lr 0.05}))
        rule (first (filter #(= :rule (:mark %)) (mapcat :layers (:panels fig))))]
    (is (== (/ 2.0 0.05) (:y rule)))
    (is (re-find #"2/η" (:series rule)))
    (testing "the line follows an explicit :lr"
      (is (== 10.0 (:y (first (filter #(= :rule (:mark %)) (mapcat :layers (:panels (figure/figure :sharpness (synthetic-run {}) {:lr 0.2})))))))))
    (testing "no line for gradient flow"
      (is (not-any? #(= :rule (:mark %))
                    (mapcat :layers (:panels (figure/figure :sharpness (assoc-in (synthetic-run {}) [:experiment :optimizer] {:kind :gradient-flow}) {:x :step})))))))
  (testing "only recorded rows are plotted"
    (let [run (synthetic-run {})]
      (is (= (count (remove nil? (get-in run [:trajectory :sharpness])))
             (count (:points (layer (figure/figure :sharpness run) "sharpness"))))))))

(deftest modes-figure-targets-and-theory
  (let [run (synthetic-run {:targets [3.0 1.0 0.5]})
        theory (theory-curve [3.0 1.0 0.5] 0.05 0.0025 (range 0 401 8))
        fig (figure/figure :modes run {:theory theory})]
    (is (= ["mode 1, s1 = 3" "mode 2, s2 = 1" "mode 3, s3 = 0.5" "theory, mode 1" "theory, mode 2" "theory, mode 3"]
           (mapv :name (:series fig)))
        "a mode and its target share a legend entry; theory curves have their own")
    (is (= [3.0 1.0 0.5] (mapv :y (filter #(= :rule (:mark %)) (mapcat :layers (:panels fig))))))
    (is (= [:line :line :line :line :line :line :rule :rule :rule] (mapv :mark (:layers (first (:panels fig)))))
        "targets are drawn last, over an oscillating mode")
    (testing "modes with target 0 are left out unless asked for"
      (let [r (-> run (assoc-in [:analysis :mode-targets] [3.0 1.0 0.0]))
            f (figure/figure :modes r)]
        (is (= ["mode 1, s1 = 3" "mode 2, s2 = 1"] (mapv :name (:series f))))
        (is (re-find #"1 mode with target 0 not shown" (:subtitle f)))
        (is (= 3 (count (filter #(= :line (:mark %)) (:layers (first (:panels (figure/figure :modes r {:all-modes? true}))))))))))
    (is (= (mapv #(nth % 2) (:modes theory)) (mapv second (:points (layer fig "theory, mode 3")))))
    (is (thrown-with-msg? clojure.lang.ExceptionInfo #":theory" (figure/figure :modes run {:theory {:modes []}})))
    (testing "a theory function of the step is drawn across the recorded steps"
      (let [f (fn [step] (:modes (theory-curve [3.0 1.0 0.5] 0.05 0.0025 [step])))
            pts (:points (layer (figure/figure :modes run {:theory (fn [step] (first (f step)))}) "theory, mode 2"))]
        (is (= 200 (count pts)))
        (is (= [0.0 400.0] [(first (first pts)) (first (last pts))]))
        (is (every? (fn [[x y]] (== (double y) (double (nth (first (f x)) 1)))) pts))))))

(deftest pathway-share-bands-stack-to-one
  (let [run (assoc-in (synthetic-run {}) [:trajectory :pathway-shares 10 1] nil)
        fig (figure/figure :pathway-shares run)
        traj (:trajectory run)
        ;; rows with shares where mode m has reached a tenth of its target (s = [3 1])
        rows (fn [^long m s] (filter (fn [[sh pi]] (and (nth sh m nil) (>= (double (nth pi m)) (* 0.1 (double s)))))
                                     (map vector (:pathway-shares traj) (:modes traj))))]
    (is (= ["mode 1" "mode 2"] (mapv :title (:panels fig))))
    (doseq [p (:panels fig)]
      (let [[b1 b2] (:layers p)]
        (is (every? #(zero? (double (second %))) (:points b1)) "the first band starts at 0")
        (is (= (mapv #(nth % 2) (:points b1)) (mapv second (:points b2))) "bands touch")
        (is (every? #(< (Math/abs (- 1.0 (double (nth % 2)))) 1e-12) (:points b2)) "shares of a mode add up to 1")))
    (is (some #(nil? (nth (first %) 1)) (map vector (:pathway-shares traj))) "the nil entry at row 10 ...")
    (is (= (count (rows 1 1.0)) (count (:points (first (:layers (second (:panels fig))))))) "... and unlearned rows are skipped")
    (is (= (count (rows 0 3.0)) (count (:points (first (:layers (first (:panels fig))))))))))

(deftest balance-gap-zeros-are-dropped-on-the-log-axis
  (let [run (assoc-in (synthetic-run {}) [:trajectory :balance-gap 0] [[0.0] [0.0]])
        fig (figure/figure :balance-gap run)]
    (is (true? (get-in fig [:y :log?])))
    (is (= (dec (count (get-in run [:trajectory :step]))) (count (:points (layer fig "pathway 1, layers 1–2")))))
    (is (= ["pathway 1, layers 1–2" "pathway 2, layers 1–2"] (mapv :name (:series fig))))))

(deftest bifurcation-points-are-late-values-against-lr
  (let [sweep (synthetic-sweep)
        runs (filter :trajectory sweep)
        fig (figure/figure :bifurcation sweep {:last 20})
        pts (mapcat :points (filter #(= :point (:mark %)) (mapcat :layers (:panels fig))))]
    (is (= (* 20 (count runs)) (count pts)) "20 late values per run, the failed slot skipped")
    (is (= (set (map #(get-in % [:experiment :optimizer :lr]) runs)) (set (map first pts))))
    (is (= ["width = 16" "width = 64" "target s1 = 3" "2/S1 = 0.3333 (edge of stability)"] (mapv :name (:series fig))))
    (testing "the edge-of-stability line 2/S_1 (S_1 = L s_1^(2-2/L) = 2 * 3 for L = 2) parts converged from oscillating runs"
      (let [edge (:x (first (filter #(= :x-rule (:mark %)) (mapcat :layers (:panels fig)))))]
        (is (== (/ 2.0 6.0) edge))
        (doseq [r runs
                :let [lr (double (get-in r [:experiment :optimizer :lr]))
                      late (map #(double (first %)) (take-last 20 (get-in r [:trajectory :modes])))
                      spread (- (double (apply max late)) (double (apply min late)))]]
          (is (= (> lr (double edge)) (> spread 1e-6)) (str "lr " lr ": spread " spread)))))
    (testing "no edge line where the formula does not hold (another parameterization)"
      (is (not-any? #(= :x-rule (:mark %))
                    (mapcat :layers (:panels (figure/figure :bifurcation (mapv #(cond-> % (:experiment %) (assoc-in [:experiment :model :parameterization] :ntk)) sweep) {:lr :raw}))))))
    (testing "the late values of one run are its last recorded mode-1 strengths"
      (let [r (first (filter #(= 0.34 (get-in % [:experiment :optimizer :lr])) runs))
            expected (set (map first (take-last 20 (get-in r [:trajectory :modes]))))]
        (is (= expected (set (map second (filter #(= 0.34 (first %)) pts)))))))
    (testing "loss as the metric goes on a log axis when it spans decades"
      (is (true? (get-in (figure/figure :bifurcation sweep {:metric :loss}) [:y :log?]))))))

(deftest bifurcation-keeps-to-the-late-half-and-the-floor
  (let [sweep (synthetic-sweep)
        few (mapv #(cond-> % (:trajectory %) (update :trajectory (fn [t] (update-vals t (fn [col] (vec (take 11 col)))))))
                  sweep)
        runs (filter :trajectory few)
        pts (fn [fig] (mapcat :points (filter #(= :point (:mark %)) (mapcat :layers (:panels fig)))))]
    (testing "with 11 records a run gives its last 5 (not the initial transient), though :last asks for 50"
      (let [fig (figure/figure :bifurcation few {:last 50 :metric :loss})]
        (is (= (* 5 (count runs)) (count (pts fig))))
        (doseq [r runs
                :let [lr (get-in r [:experiment :optimizer :lr])
                      losses (get-in r [:trajectory :loss])]]
          (is (= (set (take-last 5 losses)) (set (map second (filter #(= lr (first %)) (pts fig)))))
              (str "lr " lr)))))
    (testing "losses below a run's floating-point floor are drawn at it, with the floor's rule"
      (let [tiny (mapv #(cond-> % (:trajectory %) (update-in [:trajectory :loss] (fn [l] (mapv (fn [_] 1e-35) l)))) sweep)
            fig (figure/figure :bifurcation tiny {:metric :loss})
            floor (double (figure/loss-floor (first (filter :trajectory sweep))))]
        (is (< 1e-35 floor) "the floor lies above the losses")
        (is (every? #(< (Math/abs (- (double (second %)) floor)) (* 1e-6 floor)) (pts fig))
            "every point at its run's floor (all runs share one scale)")
        (is (some #(= :rule (:mark %)) (mapcat :layers (:panels fig))))))))

(deftest loss-vs-lr-one-line-per-width
  (let [sweep (synthetic-sweep)
        fig (figure/figure :loss-vs-lr sweep)
        runs (filter :trajectory sweep)]
    (is (= ["width = 16" "width = 64"] (vec (take 2 (map :name (:series fig))))))
    (is (and (get-in fig [:x :log?]) (get-in fig [:y :log?])))
    (doseq [w [16 64]]
      (let [pts (:points (layer fig (str "width = " w)))
            mine (filter #(= w (get-in % [:experiment :model :width])) runs)]
        (is (= (sort (map #(get-in % [:experiment :optimizer :lr]) mine)) (map first pts)) "sorted by lr")
        (is (= (set (map #(max (double (get-in % [:final :loss])) (double (figure/loss-floor %))) mine)) (set (map second pts)))
            "final losses, those below the floating-point floor at the floor")))))

(deftest sweep-figures-facet-by-one-coordinate-and-order-the-other
  (let [sweep (synthetic-sweep)
        runs (filter :trajectory sweep)
        lrs [0.3 0.34 0.37 0.4 0.42 0.44]
        run-at (fn [w lr] (first (filter #(and (= w (get-in % [:experiment :model :width]))
                                              (= lr (get-in % [:experiment :optimizer :lr]))) runs)))]
    (doseq [[nm value-of] [[:loss (fn [r] (mapv second (filter second (map vector (get-in r [:trajectory :step]) (get-in r [:trajectory :loss])))))]
                           [:modes (fn [r] (mapv first (get-in r [:trajectory :modes])))]]]
      (testing nm
        (let [fig (figure/figure nm sweep)]
          (is (= ["width = 16" "width = 64"] (mapv :title (:panels fig))) "the coordinate with fewer values makes the panels")
          (is (= (mapv #(str "lr = " %) lrs) (vec (take 6 (map :name (:series fig))))) "series in the order of the lr")
          (is (= ["#440154" "#c2bb1b"] [(:color (first (:series fig))) (:color (nth (:series fig) 5))])
              "dark to light along the lr")
          (doseq [[p w] (map vector (:panels fig) [16 64])
                  [j lr] (map-indexed vector lrs)]
            (is (= (mapv #(let [f (when (= nm :loss) (figure/loss-floor (run-at w lr)))]
                            (if (and f (pos? (double %)) (< (double %) (double f))) f %))
                         (value-of (run-at w lr)))
                   (mapv second (:points (first (filter #(= (str "lr = " lr) (:series %)) (:layers p))))))
                (str "panel width " w ", series " j " is the run at lr " lr))))))
    (testing "with :facet false every run is a series; 12 series make small multiples of 6"
      (let [fig (figure/figure :loss sweep {:facet false})
            data-series (fn [p] (distinct (keep #(when (= :line (:mark %)) (:series %)) (:layers p))))]
        (is (= 2 (count (:panels fig))))
        (is (= [6 6] (mapv #(count (data-series %)) (:panels fig))))
        (is (= 12 (count (remove #(str/starts-with? (:name %) "floating") (:series fig)))))
        (is (= "width = 16, lr = 0.3 … width = 16, lr = 0.44" (:title (first (:panels fig)))))
        (is (some #{"width = 64, lr = 0.37"} (map :name (:series fig))))))
    (testing "a shared target is drawn once; the mode option picks the mode"
      (let [fig (figure/figure :modes sweep {:mode 1})]
        (is (= "Mode 2 strength vs step" (:title fig)))
        (is (= [1.0] (distinct (map :y (filter #(= :rule (:mark %)) (mapcat :layers (:panels fig)))))))))))

(deftest stationary-histogram-is-a-density
  (let [fig (figure/figure :stationary (gaussian-samples 3000 2.0 0.3) {:density (gaussian-density 2.0 0.3) :bins 40})
        bars (:points (layer fig "simulation (n = 3000)"))
        area (reduce + (map (fn [[x0 x1 h]] (* (- (double x1) (double x0)) (double h))) bars))]
    (is (= 40 (count bars)))
    (is (< (Math/abs (- 1.0 (double area))) 1e-12))
    (is (= 101 (count (:points (layer fig "analytic density")))))
    (testing "a density function is drawn at 200 points across the bins"
      (let [pdf (fn [x] (let [z (/ (- (double x) 2.0) 0.3)] (/ (Math/exp (* -0.5 z z)) (* 0.3 (Math/sqrt (* 2.0 Math/PI))))))
            f (figure/figure :stationary (gaussian-samples 3000 2.0 0.3) {:density pdf})
            pts (:points (layer f "analytic density"))
            bars (:points (layer f "simulation (n = 3000)"))]
        (is (= 200 (count pts)))
        (is (= [(first (first bars)) (second (last bars))] [(first (first pts)) (first (last pts))]))
        (is (every? (fn [[x p]] (== (double p) (double (pdf x)))) pts))))
    (testing "samples from an ensemble: the final value of each path"
      (let [ens (synthetic-ensemble)
            f (figure/figure :stationary ens {:mode 1})]
        (is (= (str "simulation (n = " (count (:paths ens)) ")") (:name (first (:series f)))))))))

(deftest learning-time-histograms-count-every-finite-time
  (let [ens (synthetic-ensemble)
        fig (figure/figure :learning-times ens)]
    (is (= ["mode 1" "mode 2"] (mapv :name (:series fig))))
    (is (= 100 (reduce + (map #(nth % 2) (:points (layer fig "mode 1"))))))
    (is (= 99 (reduce + (map #(nth % 2) (:points (layer fig "mode 2"))))) "a nil time (never learned) is left out")
    (is (re-find #"1 never learned" (:subtitle fig)))
    (is (= ["learning time"] (mapv :name (:series (figure/figure :learning-times [1.0 2.0 2.5])))))
    (is (= ["mode 1" "mode 2"] (mapv :name (:series (figure/figure :learning-times [[1.0 5.0] [1.2 5.5]])))))))

(deftest sde-ensemble-band-is-the-outer-quantiles
  (let [ens (synthetic-ensemble)
        fig (figure/figure :sde-ensemble ens)
        band (layer fig "mode 2, 5–95% band")]
    (is (= (mapv #(get-in % [1]) (get-in ens [:quantiles 0.05])) (mapv second (:points band))))
    (is (= (mapv #(get-in % [1]) (get-in ens [:quantiles 0.95])) (mapv #(nth % 2) (:points band))))
    (testing "mean ± sd without quantiles"
      (let [f (figure/figure :sde-ensemble (dissoc ens :quantiles))
            b (layer f "mode 1, mean ± 1 sd")
            m (get-in ens [:mean 50 0]) s (get-in ens [:std 50 0])]
        (is (= [(- (double m) (double s)) (+ (double m) (double s))] (rest (nth (:points b) 50))))))))

(deftest long-polylines-keep-their-oscillation-envelope
  (let [n 100000
        run (-> (synthetic-run {:steps 10 :every 1})
                (assoc :trajectory {:step (vec (range n))
                                    :loss (mapv #(if (even? (long %)) 1.0 (+ 2.0 (* 1e-6 (double %)))) (range n))}))
        pts (:points (layer (figure/figure :loss run {:max-points 1000}) "training loss"))
        ys (map #(double (second %)) pts)]
    (is (<= (count pts) 1002))
    (is (== 1.0 (apply min ys)) "the low phase of the 2-cycle survives")
    (is (== (+ 2.0 (* 1e-6 (dec n))) (apply max ys)) "and the high phase, to the last row")
    (is (apply <= (map #(double (first %)) pts)) "in step order")))

(deftest figure-errors-name-what-is-wrong
  (let [run (synthetic-run {})]
    (let [e (try (figure/figure :nonsense run) (catch clojure.lang.ExceptionInfo e e))]
      (is (= [:figure] (:path (ex-data e))))
      (is (re-find #":loss" (ex-message e)) "lists the allowed names"))
    (is (= [:x] (:path (ex-data (try (figure/figure :loss run {:x :epoch}) (catch clojure.lang.ExceptionInfo e e))))))
    (is (thrown-with-msg? clojure.lang.ExceptionInfo #"nothing to plot"
                          (figure/figure :loss (-> run (assoc-in [:trajectory :loss] (vec (repeat 201 Double/NaN)))
                                                              (update :trajectory dissoc :test-loss)))))
    (is (thrown-with-msg? clojure.lang.ExceptionInfo #"result map" (figure/figure :loss 42)))))

(deftest standard-figures-follow-what-was-recorded
  (let [run (synthetic-run {})]
    (is (= [:loss :sharpness :modes :pathway-shares :balance-gap] (figure/standard-names run)))
    (is (= [:loss] (figure/standard-names (update run :trajectory select-keys [:step :time :loss]))))
    (is (= [:loss :sharpness :modes :balance-gap] (figure/standard-names (synthetic-run {:pathways 1})))
        "one pathway: shares are all 1, not plotted")
    (is (= [:loss :modes :pathway-shares :balance-gap]
           (figure/standard-names (assoc-in run [:trajectory :sharpness] (vec (repeat 201 nil))))))
    (is (= [:loss :modes :bifurcation :loss-vs-lr :sharpness-vs-lr] (figure/standard-names (synthetic-sweep))))
    (is (= [:sde-ensemble :learning-times] (figure/standard-names (synthetic-ensemble))))
    (is (= [:sde-ensemble] (figure/standard-names (dissoc (synthetic-ensemble) :learned-time))))
    (is (= #{:loss :sharpness :modes :pathway-shares :balance-gap} (set (keys (vega/standard-specs run)))))
    (testing "a run whose loss never was finite has no loss figure, and no error"
      (is (not (contains? (vega/standard-specs (-> run (assoc-in [:trajectory :loss] (vec (repeat 201 Double/NaN)))
                                                         (update :trajectory dissoc :test-loss)))
                          :loss))))
    (is (= #{:loss :modes} (set (keys (vega/standard-specs run {:figures [:loss :modes]})))))))

(deftest sde-sweep-figures-put-the-swept-number-on-x-and-the-theory-beside-it
  (let [rs (synthetic-sde-sweep)
        lt (figure/figure :learning-time-sweep rs)
        st (figure/figure :stationary-sweep rs)
        layer-of (fn [fig panel series] (first (filter #(= series (:series %)) (:layers (nth (:panels fig) panel)))))]
    (is (= [:learning-time-sweep :stationary-sweep] (figure/standard-names rs)))
    (is (= [:learning-time-sweep]
           (figure/standard-names (mapv #(update % :analysis dissoc :stationary) rs)))
        "no stationary figure without label noise (no :stationary analysis)")
    (testing "one panel per mode; x is the batch size, the label noise makes the series"
      (is (= ["mode 1 (s = 2)" "mode 2 (s = 0.5)"] (mapv :title (:panels lt))))
      (is (str/includes? (:title (:x lt)) "batch-size"))
      (is (= [[2.0 9.05] [4.0 9.025] [8.0 9.0125] [16.0 9.00625]]
             (:points (layer-of lt 1 "label-noise = 0.3: median")))))
    (testing "a theory the same for every series is drawn once; one that differs, per series"
      (is (= [[2.0 2.0] [4.0 2.0] [8.0 2.0] [16.0 2.0]] (:points (layer-of lt 0 "gradient flow (theory)"))))
      (is (nil? (layer-of st 0 "theory, stationary density")))
      (is (= [(/ (* 0.09 2.0) 2.0) (/ (* 0.09 2.0) 16.0)]
             (mapv second ((juxt first last) (:points (layer-of st 0 "label-noise = 0.3: theory, stationary density")))))))
    (testing "the band spans the outer quantiles"
      (is (= [2.0 1.5 2.5] (first (:points (layer-of lt 0 "label-noise = 0.1: 0.05-0.95 quantiles")))))))
  (testing "without a numeric coordinate that varies, the message names the grid coordinates"
    (let [rs (mapv #(assoc-in % [:sweep :point] {[:sde :scheme] (rand-nth [:milstein :euler-maruyama])})
                   (take 2 (synthetic-sde-sweep)))
          e (try (figure/figure :learning-time-sweep rs) nil (catch clojure.lang.ExceptionInfo e e))]
      (is (some? e))
      (is (re-find #"numeric grid coordinate" (str (ex-message e)))))))

(deftest lr-sweep-figures-show-late-sharpness-and-shares-with-the-window
  (let [rs (synthetic-mp-sweep)
        sh (figure/figure :sharpness-vs-lr rs)
        sv (figure/figure :shares-vs-lr rs)
        layer-of (fn [fig panel series] (first (filter #(= series (:series %)) (:layers (nth (:panels fig) panel)))))]
    (is (= [:sharpness-vs-lr :shares-vs-lr] (filterv #{:sharpness-vs-lr :shares-vs-lr} (figure/standard-names rs))))
    (testing "late mean and range of the sharpness: the last fifth of the records"
      (is (= [[0.5 3.0] [0.6 3.0]] (take 2 (mapv (fn [[x y]] [x (/ (Math/round (* 1e9 (double y))) 1e9)])
                                                  (:points (layer-of sh 0 "late mean"))))))
      (is (= [0.8 (- 2.5 0.1) (+ 2.5 0.1)] (mapv #(/ (Math/round (* 1e9 (double %))) 1e9)
                                                 (nth (:points (layer-of sh 0 "late range")) 3)))))
    (testing "the 2/η curve, cut where it leaves the data's range"
      (let [curve (:points (layer-of sh 0 "2/η"))]
        (is (every? (fn [[x y]] (< (Math/abs (- (* (double x) (double y)) 2.0)) 1e-12)) curve))
        (is (<= (reduce max (map second curve)) (* 1.25 3.1)))))
    (testing "shares: one panel per mode with shares (modes 3 and 4 have none)"
      (is (= ["mode 1" "mode 2"] (mapv :title (:panels sv))))
      (is (= [0.95 0.95 0.95 0.683333333333 0.55]
             (mapv #(/ (Math/round (* 1e12 (double (second %)))) 1e12) (:points (layer-of sv 0 "largest share")))))
      (is (== 0.5 (:y (layer-of sv 0 "equal split 1/K")))))
    (testing "the window of mode 1: 2/S_single = 2/3 and 2/S_split = 2/(3 2^(-1/3)); mode 2's (3.3, 4.2) is off the swept range"
      (is (< (Math/abs (- (/ 2.0 3.0) (double (:x (layer-of sv 0 "2/S_single"))))) 1e-12))
      (is (< (Math/abs (- (/ 2.0 (* 3.0 (Math/pow 2.0 (/ -1.0 3.0)))) (double (:x (layer-of sv 0 "2/S_split"))))) 1e-12))
      (is (nil? (:x (layer-of sv 1 "2/S_single")))))))

;; ---------------------------------------------------------------- thresholds from the facts

(deftest the-stability-line-is-the-runs-own-threshold
  (let [beta 0.5
        momentum (fn [r] (let [eta (* 4.0 (double (get-in r [:experiment :optimizer :lr])))]
                           ;; a heavy-ball run of multiplier 4 records 2(1+β)/η
                           (assoc r :facts {:lr-multiplier 4.0 :effective-lr eta :x-axis :step
                                            :stability-threshold (/ (* 2.0 (+ 1.0 beta)) eta)})))
        r (momentum (synthetic-run {:lr 0.05}))
        fig (figure/figure :sharpness r)
        rule (first (filter #(= :rule (:mark %)) (mapcat :layers (:panels fig))))]
    (is (== (/ 3.0 0.2) (:y rule)) "2(1+β)/η with η = 4 × 0.05")
    (is (re-find #"^3/η = 15$" (:series rule)))
    (is (== (/ 3.0 0.5) (:y (first (filter #(= :rule (:mark %)) (mapcat :layers (:panels (figure/figure :sharpness r {:lr 0.5}))))))))
    (testing "the threshold curve against η of a sweep of such runs: threshold × η = 3"
      (let [rs (mapv momentum (synthetic-mp-sweep))
            curve (:points (layer (figure/figure :sharpness-vs-lr rs) "3/η"))]
        (is (seq curve))
        (is (every? (fn [[x y]] (< (Math/abs (- (* (double x) (double y)) 3.0)) 1e-12)) curve))
        (is (= (set (map #(* 4.0 (double (get-in % [:experiment :optimizer :lr]))) rs))
               (set (map first (:points (layer (figure/figure :sharpness-vs-lr rs) "late mean")))))
            "x is the recorded effective lr")))))

;; ---------------------------------------------------------------- layering

(deftest presentation-dispatches-on-kinds-and-knows-no-renderer
  (doseq [f ["src/dlnlab/figure.clj" "src/dlnlab/figure/run.clj" "src/dlnlab/figure/sweep.clj"
             "src/dlnlab/figure/sde.clj" "src/dlnlab/vega.clj"]
          :let [text (slurp f)]]
    (is (not (str/includes? text "org.knowm")) (str f " imports no XChart"))
    (is (not (str/includes? text "java.awt")) (str f " imports no AWT"))
    (is (not (str/includes? text "(= :sde")) (str f " dispatches on dlnlab.result/kind"))
    (is (not (re-find #"\(/ 2\.0 [^(]*lr" text)) (str f " takes thresholds from dlnlab.result"))))

;; ---------------------------------------------------------------- log-axis ticks

(defn- one-two-five?
  "True when v is 1, 2 or 5 times a power of ten (to 1e-9 relative)."
  [v]
  (let [e (Math/floor (Math/log10 (double v)))
        m (/ (double v) (Math/pow 10.0 e))]
    (boolean (some #(< (Math/abs (- m (double %))) 1e-9) [1 2 5 10]))))

(deftest log-ticks-sit-on-round-numbers-or-on-the-data
  (testing "less than two decades: 1-2-5 x 10^k inside a domain that frames the data"
    (let [{:keys [domain major minor]} (axis/log-ticks [0.04 0.07 0.1 0.3 0.6])
          [lo hi] domain]
      (is (= [0.05 0.1 0.2 0.5] major))
      (is (every? one-two-five? major))
      (is (< (double lo) 0.04) "a margin below the smallest value")
      (is (> (double hi) 0.6) "and above the largest")
      (is (< (/ 0.04 (double lo)) 1.2) "a small one")
      (is (= [0.04 0.06 0.07 0.08 0.09 0.3 0.4 0.6] minor) "minor ticks at the other 1..9 x 10^k inside")))
  (testing "integers stay integers: depths 2..6 get no tick at 2.51"
    (let [{:keys [major minor]} (axis/log-ticks [2 3 4 5 6])]
      (is (= [2.0 3.0 5.0] major))
      (is (every? #(== (double %) (Math/rint (double %))) (concat major minor)))))
  (testing "a swept axis with few values has its ticks at them"
    (let [lrs (mapv #(* 0.05 (Math/pow (Math/sqrt 2.0) (double %))) (range 6))
          batch [1 2 4 8 16 32 64]]
      (is (= lrs (:major (axis/log-ticks lrs {:at-data? true}))))
      (is (= (mapv double batch) (:major (axis/log-ticks batch {:at-data? true}))))
      (is (= ["1" "2" "4" "8" "16" "32" "64"] (mapv axis/tick-label (:major (axis/log-ticks batch {:at-data? true})))))
      (is (not= lrs (:major (axis/log-ticks lrs))) "only when asked (an x axis of a sweep)")
      (is (every? one-two-five? (:major (axis/log-ticks (range 1 200) {:at-data? true})))
          "many values: round ticks")))
  (testing "decades: every k-th power of ten, at most 10, minor ticks between when k = 1"
    (let [{:keys [domain major minor]} (axis/log-ticks [3e-5 20.0])]
      (let [[lo hi] domain
            span (Math/log10 (/ 20.0 3e-5))]
        (is (< (Math/abs (- (Math/log10 (/ (double hi) (double lo))) (* 1.1 span))) 1e-9) "the data's span and 5% on each side, not whole decades")
        (is (< (double lo) 3e-5 20.0 (double hi)))
        (is (= (filterv #(<= (double lo) (double %) (double hi)) (map #(Math/pow 10.0 (double %)) (range -6 4))) major)
            "every power of ten inside the domain")
        (is (every? #(<= (double lo) (double %) (double hi)) minor)))
      (is (= 6 (count major)))
      (is (= [2e-5 3e-5 4e-5 5e-5 6e-5 7e-5 8e-5 9e-5 2e-4] (take 9 minor)) "1.53e-5 is the domain's lower end"))
    (let [{:keys [major]} (axis/log-ticks [1e-35 1.0])]
      (is (<= (count major) 10))
      (is (== 1e-35 (first major)))))
  (testing "labels"
    (is (= ["0.05" "0.0707" "2" "2.5" "1e-5" "2e-5" "1.5e7" "100000" "0.001"]
           (mapv axis/tick-label [0.05 0.07071067811865475 2.0 2.5 1e-5 2e-5 1.5e7 1e5 1e-3]))))
  (is (nil? (axis/log-ticks [0.0 -1.0 Double/NaN])) "no positive value, no ticks"))

(deftest a-sweep-figure-has-its-x-ticks-at-the-swept-values
  (let [fig (figure/figure :shares-vs-lr (synthetic-mp-sweep))
        {:keys [x y]} (axis/axis-ticks fig)
        [lo hi] (:domain x)]
    (is (= [0.5 0.6 0.7 0.8 0.85] (:major x)) "the window's edges (0.667, 0.84) are marks, not ticks")
    (is (and (< (double lo) 0.5) (> (double hi) 0.85)))
    (is (<= (double lo) (/ 2.0 3.0) (double hi)) "the theory marks are in view")
    (is (nil? y) "a linear axis has XChart's and Vega's own ticks")))

(deftest loss-vs-lr-one-series-per-setting-with-replicate-bands
  (let [;; 2 parameterizations x 2 widths x 3 lrs x 3 seeds; each seed scales the final loss
        rs (vec (for [p [:mup :ntk] w [16 64] lr [0.05 0.1 0.2] seed [1 2 3]
                      :let [r (synthetic-run {:lr lr :width w :parameterization p :steps 20
                                              :sweep-point {:point {[:model :parameterization] p [:model :width] w
                                                                    [:optimizer :lr] lr [:seed] seed}}})]]
                  (assoc-in r [:final :loss] (* (double seed) (if (= p :mup) 1.0 10.0) (double w) (double lr)))))
        fig (figure/figure :loss-vs-lr rs)
        names (mapv :name (:series fig))]
    (is (= 4 (count names)) "one series per (parameterization, width), never their mean")
    (is (re-find #"36 runs in 4 series" (:subtitle fig)))
    (is (re-find #"3 seeds per point" (:subtitle fig)))
    (doseq [p [:mup :ntk] w [16 64]
            :let [nm (str "parameterization = " (name p) ", width = " w)
                  ls (filter #(= nm (:series %)) (mapcat :layers (:panels fig)))
                  by-mark (into {} (map (juxt :mark identity) ls))
                  mine (filter #(and (= p (get-in % [:experiment :model :parameterization]))
                                     (= w (get-in % [:experiment :model :width]))) rs)
                  at (fn [lr] (sort (map #(get-in % [:final :loss]) (filter #(= lr (get-in % [:experiment :optimizer :lr])) mine))))]]
      (testing nm
        (is (some #{nm} names))
        (is (= #{:band :point :line} (set (keys by-mark))))
        (is (= [:band :point :line] (mapv :mark ls)) "band below the seeds below the median")
        (is (= (mapv (fn [lr] [lr (second (at lr))]) [0.05 0.1 0.2]) (:points (:line by-mark))) "median of 3 seeds")
        (is (= (mapv (fn [lr] [lr (first (at lr)) (last (at lr))]) [0.05 0.1 0.2]) (:points (:band by-mark))) "min-max band")
        (is (= 9 (count (:points (:point by-mark)))))
        (is (:faint? (:point by-mark)))))
    (testing "the legend shows each series once, as its line"
      (is (every? #(= :line (:mark %)) (:series fig))))))

(deftest median-of-odd-and-even-counts
  (is (== 2.0 (layout/median [3 1 2])))
  (is (== 2.5 (layout/median [4 1 3 2]))))

(deftest shares-vs-lr-leaves-out-target-0-modes-and-keeps-each-modes-window
  (let [;; mode 2's target is 0: its "shares" are ratios of noise
        rs (mapv #(-> %
                      (assoc-in [:experiment :task :singular-values] [1.0 0.0])
                      (assoc-in [:trajectory :pathway-shares]
                                (vec (repeat 50 [(first (last (get-in % [:trajectory :pathway-shares]))) [790.2 -789.2] nil nil]))))
                 (synthetic-mp-sweep))
        fig (figure/figure :shares-vs-lr rs)
        x-rules (filter #(= :x-rule (:mark %)) (:layers (first (:panels fig))))]
    (is (= ["mode 1"] (mapv :title (:panels fig))))
    (is (re-find #"1 mode with target 0 not shown" (:subtitle fig)))
    (is (every? #(<= 0.0 (double (second %)) 1.0) (mapcat :points (filter :points (mapcat :layers (:panels fig))))))
    (testing "mode 1's window is drawn though mode 2 has none: 2/S_single = 2/(3 s^(4/3)) at s = 1, L = 3"
      (is (= 2 (count x-rules)))
      (is (< (Math/abs (- (/ 2.0 3.0) (double (:x (first x-rules))))) 1e-12))
      (is (< (Math/abs (- (/ 2.0 (* 3.0 (Math/pow 2.0 (/ -1.0 3.0)))) (double (:x (second x-rules))))) 1e-12)))))

(deftest pathway-shares-figure-leaves-out-target-0-modes-and-unlearned-rows
  (let [r (-> (synthetic-run {:pathways 2 :targets [3.0 0.0] :steps 200})
              (assoc-in [:analysis :mode-targets] [3.0 0.0]))
        fig (figure/figure :pathway-shares r)
        modes (get-in r [:trajectory :modes])
        steps (get-in r [:trajectory :step])
        first-learned (first (keep (fn [[x m]] (when (>= (double (first m)) 0.3) x)) (map vector steps modes)))
        xs (map first (:points (first (:layers (first (:panels fig))))))]
    (is (= ["mode 1"] (mapv :title (:panels fig))))
    (is (re-find #"1 mode with target 0 not shown" (:subtitle fig)))
    (is (pos? (long first-learned)) "mode 1 starts below a tenth of its target")
    (is (= first-learned (first xs)) "no shares before mode 1 reaches 0.3 = s_1/10")))

(deftest scatters-are-sieved-to-their-pixels
  (let [;; 100 x 100 distinct points, and each of them again nudged by less than a cell
        base (vec (for [i (range 100) j (range 100)] [(double i) (double j)]))
        pts (into base (keep (fn [[x y]] (when (and (< x 99.0) (< y 99.0)) [(+ x 1e-4) (+ y 1e-4)])) base))
        kept (figure/sieve pts false false 1000)]
    (is (= (count base) (count kept)) "one point per cell: the nudged copies go")
    (is (= base kept) "the first of each cell, in order")
    (is (= 4 (count (figure/sieve [[0.0 0.0] [0.0 0.1] [10.0 0.0] [10.0 0.1]] false false 1)))
        "no sieving at or below the cell count")
    (is (= [[1.0 1.0] [100.0 1.0] [1000.0 1.0]]
           (figure/sieve [[1.0 1.0] [1.001 1.0] [100.0 1.0] [100.1 1.0] [1000.0 1.0]] true false 2))
        "on a log axis cells are even in log x (the largest x opens a cell of its own)"))
  (testing "a dense scatter drawn as a figure stays within the budget"
    (let [sweep (synthetic-sweep)
          fig (figure/figure :bifurcation sweep {:last 300 :max-points 800})
          per-layer (map (comp count :points) (filter #(= :point (:mark %)) (mapcat :layers (:panels fig))))]
      (is (seq per-layer))
      (is (some #(> (long %) 100) (map (fn [g] (* 300 (count g))) [[1 2 3 4 5 6]])) "more points than the budget went in")
      (is (every? #(<= (long %) 100) per-layer) (str per-layer)))))
