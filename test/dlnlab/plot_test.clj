(ns dlnlab.plot-test
  "Tests of dlnlab.plot on hand-built result maps in the shapes of doc/design.md:
  figure data, Vega-Lite specs checked with the real vega-lite and vega packages
  (one node process for all specs), and XChart SVG/PNG files."
  (:require [clojure.java.io :as io]
            [clojure.java.shell :as sh]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.plot :as plot])
  (:import [java.io File]
           [javax.imageio ImageIO]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------- synthetic results

(defn- balanced-gd
  "Per-mode strengths pi_i = a_i^L of aligned, balanced weights under GD on
  matrix factorization (SCIENCE.md §4: a <- a - lr a^(L-1) (a^L - s)), every step."
  [targets lr depth a0 steps]
  (let [lr (double lr) depth (long depth) a0 (double a0) steps (long steps)
        step (fn [as]
               (mapv (fn [a s] (let [a (double a) p (Math/pow a depth)]
                                 (- a (* lr (Math/pow a (dec depth)) (- p (double s))))))
                     as targets))]
    (take (inc steps) (iterate step (vec (repeat (count targets) a0))))))

(defn- synthetic-run
  "A result map as the run loop writes it: a depth-2 chain on a factorization task,
  GD at lr, recorded every `every` steps, sharpness every 5th record, and (when
  pathways > 1) pathway shares drifting from an even split towards one pathway."
  [{:keys [lr steps every targets pathways sweep-point parameterization width]
    :or {lr 0.05 steps 400 every 2 targets [3.0 1.0] pathways 2 parameterization :standard width 16}}]
  (let [depth 2
        lr (double lr)
        as (vec (balanced-gd targets lr depth 0.05 steps))
        rows (range 0 (inc (long steps)) (long every))
        pis (fn [step] (mapv #(Math/pow (double %) depth) (nth as step)))
        loss (fn [step] (* 0.5 (double (reduce + (map (fn [p s] (let [e (- (double p) (double s))] (* e e))) (pis step) targets)))))
        sharp (fn [step] (apply max (map #(* depth (Math/pow (double %) (- 2.0 (/ 2.0 depth)))) (pis step))))
        share (fn [^long step] (let [f (+ 0.5 (* 0.3 (- 1.0 (Math/exp (/ (- step) 100.0)))))]
                                 (mapv (fn [_] (if (= 1 pathways) [1.0] [f (- 1.0 f)])) targets)))
        gap (fn [^long step] (vec (repeat pathways [(* 1e-2 (Math/exp (/ (- step) 25.0)))])))
        record (fn [k f] (mapv (fn [^long i step] (when (zero? (rem i 5)) (f step))) (range) rows))
        final-step (long (last rows))
        exp {:seed 7
             :model {:kind (if (> (long pathways) 1) :multi-pathway :chain) :depth depth :width width
                     :parameterization parameterization}
             :task {:kind :matrix-factorization :singular-values targets}
             :optimizer {:kind :gd :lr lr}
             :steps steps
             :record {:every every :metrics [:loss :test-loss :sharpness :modes :pathway-shares :balance-gap]}}]
    (cond-> {:experiment exp
             :status :completed
             :stop-reason nil
             :trajectory {:step (vec rows)
                          :time (mapv #(* lr (double %)) rows)
                          :loss (mapv loss rows)
                          :test-loss (mapv #(+ 0.01 (double (loss %))) rows)
                          :sharpness (record :sharpness sharp)
                          :modes (mapv pis rows)
                          :pathway-shares (mapv share rows)
                          :balance-gap (mapv gap rows)}
             :final {:step final-step :time (* lr final-step) :loss (loss final-step)}
             :analysis {:mode-targets targets}
             :meta {:version "test"}}
      sweep-point (assoc :sweep sweep-point))))

(defn- synthetic-sweep
  "A sweep over lr (and width) of synthetic runs, in grid order, with one failed slot."
  []
  (let [points (for [w [16 64] lr [0.3 0.34 0.37 0.4 0.42 0.44]] {[:model :width] w [:optimizer :lr] lr})]
    (conj (vec (map-indexed (fn [i p]
                              (synthetic-run {:lr (get p [:optimizer :lr]) :width (get p [:model :width])
                                              :steps 300 :every 1 :pathways 1
                                              :sweep-point {:index i :point p}}))
                            points))
          {:status :failed :error "boom" :sweep {:index 12 :point {[:model :width] 256 [:optimizer :lr] 0.5}}})))

(defn- synthetic-ensemble
  "An SDE ensemble summary for two modes: logistic means, a spread that grows and
  then shrinks, quantiles from a normal approximation, and learning times."
  []
  (let [ts (mapv #(* 0.05 (double %)) (range 200))
        s [2.0 0.5]
        mean (mapv (fn [^double t] (mapv (fn [^double si] (/ si (+ 1.0 (* 100.0 (Math/exp (* -2.0 si t)))))) s)) ts)
        std (mapv (fn [m] (mapv #(* 0.1 (double %)) m)) mean)
        q (fn [^double z] (mapv (fn [m sd] (mapv (fn [^double mi ^double si] (max 1e-9 (+ mi (* z si)))) m sd)) mean std))]
    {:time ts :mean mean :std std
     :quantiles {0.05 (q -1.645) 0.5 (q 0.0) 0.95 (q 1.645)}
     :paths (vec (for [p (range 20)] [[0.01 0.01] [(+ 1.9 (* 0.01 (double p))) (+ 0.45 (* 0.005 (double p)))]]))
     :learned-time {0 (mapv #(+ 2.0 (* 0.1 (Math/sin (double %)))) (range 100))
                    1 (conj (mapv #(+ 9.0 (* 0.5 (Math/cos (double %)))) (range 99)) nil)}}))

(defn- synthetic-sde-sweep
  "Results of a sweep of :sde experiments over batch size B (x) and label noise
  sigma (series), two modes: learning times that scatter less as B grows around a
  gradient-flow time that depends on neither, and variances sigma^2 s/B (the
  stationary density's; measured 10% above it, the Gibbs one 10% below)."
  []
  (vec (for [sigma [0.1 0.3] b [2 4 8 16]
             :let [sigma (double sigma) b (double b)]]
         {:experiment {:kind :sde :sde {:modes [{:s 2.0 :pi0 0.01} {:s 0.5 :pi0 0.01}] :label-noise sigma :batch-size b}}
          :status :completed
          :trajectory {:time [0.0 1.0]}
          :analysis {:mode-targets [2.0 0.5]
                     :learning-times (vec (for [[m tf] [[0 2.0] [1 9.0]]
                                                  :let [tf (double tf)]]
                                            {:mode m :median (+ tf (/ 0.1 b)) :gradient-flow-time tf
                                             :quantiles {0.05 (- tf (/ 1.0 b)) 0.5 (+ tf (/ 0.1 b)) 0.95 (+ tf (/ 1.0 b))}}))
                     :stationary (vec (for [[m s] [[0 2.0] [1 0.5]]
                                              :let [s (double s)]]
                                        {:mode m :variance (* 1.1 (/ (* sigma sigma s) b))
                                         :theory {:variance (/ (* sigma sigma s) b)
                                                  :gibbs-variance (* 0.9 (/ (* sigma sigma s) b))}}))}
          :sweep {:point {[:sde :label-noise] sigma [:sde :batch-size] b}}})))

(defn- synthetic-mp-sweep
  "GD runs of a 2-pathway depth-3 network on targets 1 and 0.3 at five learning
  rates: mode 1's largest share 0.95 below 2/3 and falling linearly to 0.55 at
  0.85; the sharpness settles at 3 below 2/3 and at 2/lr above it, with a
  period-2 wobble of +-0.1 in its last records."
  []
  (vec (for [lr [0.5 0.6 0.7 0.8 0.85]
             :let [lr (double lr)
                   share (if (< lr (/ 2.0 3.0)) 0.95 (- 0.95 (* 0.4 (/ (- lr 0.7) 0.15))))
                   level (min 3.0 (/ 2.0 lr))
                   n 50]]
         {:experiment {:model {:kind :multi-pathway :pathways 2 :depth 3 :width 4}
                       :task {:kind :matrix-factorization :singular-values [1.0 0.3] :dims [4 4]}
                       :optimizer {:kind :gd :lr lr}}
          :status :completed
          :trajectory {:step (vec (range n))
                       :sharpness (vec (for [k (range n)] (+ level (if (even? k) 0.1 -0.1))))
                       :pathway-shares (vec (repeat n [[share (- 1.0 share)] [0.97 0.03] nil nil]))}
          :sweep {:point {[:optimizer :lr] lr}}})))

(defn- gaussian-samples
  "n deterministic samples of N(mu, sd^2) by the Box-Muller transform of a Weyl sequence."
  [^long n ^double mu ^double sd]
  (vec (for [i (range n)]
         (let [u1 (+ 1e-9 (rem (* 0.6180339887498949 (inc (long i))) 1.0))
               u2 (rem (* 0.7548776662466927 (inc (long i))) 1.0)]
           (+ mu (* sd (Math/sqrt (* -2.0 (Math/log u1))) (Math/cos (* 2.0 Math/PI u2))))))))

(defn- gaussian-density [^double mu ^double sd]
  (vec (for [i (range 101)]
         (let [x (+ (- mu (* 4.0 sd)) (* 0.08 sd (double i)))
               z (/ (- x mu) sd)]
           [x (/ (Math/exp (* -0.5 z z)) (* sd (Math/sqrt (* 2.0 Math/PI))))]))))

(defn- theory-curve
  "Gradient-flow closed form for L = 2 (SCIENCE.md §4),
  pi(t) = s / (1 + (s/pi0 - 1) e^(-2 s t)), at t = lr x step."
  [targets ^double lr ^double pi0 steps]
  {:step (vec steps)
   :modes (mapv (fn [step] (mapv (fn [s] (let [s (double s)]
                                           (/ s (+ 1.0 (* (- (/ s pi0) 1.0) (Math/exp (* -2.0 s lr (double step))))))))
                                 targets))
                steps)})

(defn- all-figures
  "[[file-name figure-data] ...]: every figure kind on synthetic data, some twice."
  []
  (let [run (synthetic-run {})
        sweep (synthetic-sweep)
        ens (synthetic-ensemble)
        theory (theory-curve [3.0 1.0] 0.05 0.0025 (range 0 401 4))]
    [["loss" (plot/figure :loss run)]
     ["loss-sweep" (plot/figure :loss sweep)]
     ["sharpness" (plot/figure :sharpness run)]
     ["modes" (plot/figure :modes run {:theory theory})]
     ["pathway-shares" (plot/figure :pathway-shares run)]
     ["balance-gap" (plot/figure :balance-gap run)]
     ["bifurcation" (plot/figure :bifurcation sweep)]
     ["loss-vs-lr" (plot/figure :loss-vs-lr sweep)]
     ["sde-ensemble" (plot/figure :sde-ensemble ens {:targets [2.0 0.5]})]
     ["stationary" (plot/figure :stationary (gaussian-samples 2000 1.0 0.1) {:density (gaussian-density 1.0 0.1)})]
     ["learning-times" (plot/figure :learning-times ens)]
     ["sharpness-vs-lr" (plot/figure :sharpness-vs-lr (synthetic-mp-sweep))]
     ["shares-vs-lr" (plot/figure :shares-vs-lr (synthetic-mp-sweep))]
     ["learning-time-sweep" (plot/figure :learning-time-sweep (synthetic-sde-sweep))]
     ["stationary-sweep" (plot/figure :stationary-sweep (synthetic-sde-sweep))]]))

(def ^:private out-dir (io/file "target" "plot-test"))

;; ---------------------------------------------------------------- learning rate and targets

(deftest effective-lr-is-looked-up-in-one-place
  (let [run (synthetic-run {:lr 0.05})]
    (testing "standard parameterization: the experiment's lr times 1"
      (is (== 0.05 (plot/effective-lr run)))
      (is (== 0.05 (plot/effective-lr (update-in run [:experiment :model] dissoc :parameterization)))
          "a hand-written result without :parameterization is standard too")
      (is (== (/ 2.0 0.05) (plot/stability-threshold run))))
    (testing "an analysis lr wins over everything else"
      (is (== 0.2 (plot/effective-lr (assoc-in run [:analysis :lr] 0.2)))))
    (testing "the analysis' stability threshold gives 2/threshold"
      (is (== 0.1 (plot/effective-lr (assoc-in run [:analysis :stability-threshold] 20.0)))))
    (testing "a recorded threshold column gives 2/threshold"
      (is (== 0.25 (plot/effective-lr (assoc-in run [:trajectory :stability-threshold]
                                                (vec (concat [nil] (repeat 10 8.0))))))))
    (testing "muP: lr times the multiplier the result reports, nil when it reports none"
      (let [mup (assoc-in run [:experiment :model :parameterization] :mup)]
        (is (nil? (plot/effective-lr mup)))
        (is (nil? (plot/stability-threshold mup)))
        (is (== (* 0.05 64.0) (plot/effective-lr (assoc-in mup [:analysis :lr-multiplier] 64.0))))))
    (testing "gradient flow has no learning rate"
      (is (nil? (plot/effective-lr (assoc-in run [:experiment :optimizer] {:kind :gradient-flow})))))))

(deftest mode-targets-sources
  (let [run (synthetic-run {:targets [3.0 1.0]})]
    (is (= [3.0 1.0] (plot/mode-targets (update run :analysis dissoc :mode-targets))) "from the factorization task")
    (is (= [5.0] (plot/mode-targets (assoc-in run [:analysis :targets] [5]))) "analysis :targets first")
    (is (nil? (plot/mode-targets (-> run (update :analysis dissoc :mode-targets)
                                     (assoc-in [:experiment :task] {:kind :teacher-student})))))))

;; ---------------------------------------------------------------- JSON

(deftest json-emitter
  (is (= "{\"a\":1,\"b\":[1.5,null,null,\"x\"],\"c\":{\"d\":true,\"e\":null}}"
         (plot/vega-lite-json {:a 1 :b [1.5 Double/NaN Double/POSITIVE_INFINITY :x] :c {"d" true :e nil}})))
  (is (= "\"q\\\"uote \\\\ back\\nline\\ttab\\u0001 η\"" (plot/vega-lite-json "q\"uote \\ back\nline\ttab\u0001 η")))
  (is (= "[2,-3,0.001,1.0E-12,1.5E20]" (plot/vega-lite-json [2.0 -3 0.001 1e-12 1.5e20])))
  (is (= "{\"ns/k\":[]}" (plot/vega-lite-json {:ns/k ()})))
  (is (thrown? clojure.lang.ExceptionInfo (plot/vega-lite-json {:f inc}))))

;; ---------------------------------------------------------------- figure data

(defn- layer [fig series] (first (filter #(= series (:series %)) (mapcat :layers (:panels fig)))))

(deftest loss-figure-drops-what-a-log-axis-cannot-show
  (let [run (-> (synthetic-run {})
                (assoc-in [:trajectory :loss 3] 0.0)
                (assoc-in [:trajectory :loss 4] Double/NaN)
                (assoc-in [:trajectory :loss 5] -1.0))
        fig (plot/figure :loss run)
        pts (:points (layer fig "training loss"))
        expected (count (filter #(and % (Double/isFinite (double %)) (pos? (double %))) (get-in run [:trajectory :loss])))]
    (is (true? (get-in fig [:y :log?])))
    (is (= expected (count pts)))
    (is (every? #(pos? (double (second %))) pts))
    (is (= ["training loss" "test loss"] (mapv :name (:series fig))))
    (is (= 1 (count (:series (plot/figure :loss (update run :trajectory dissoc :test-loss))))))))

(deftest sharpness-figure-has-the-stability-line
  (let [fig (plot/figure :sharpness (synthetic-run {:lr 0.05}))
        rule (first (filter #(= :rule (:mark %)) (mapcat :layers (:panels fig))))]
    (is (== (/ 2.0 0.05) (:y rule)))
    (is (re-find #"2/η" (:series rule)))
    (testing "the line follows an explicit :lr"
      (is (== 10.0 (:y (first (filter #(= :rule (:mark %)) (mapcat :layers (:panels (plot/figure :sharpness (synthetic-run {}) {:lr 0.2})))))))))
    (testing "no line for gradient flow"
      (is (not-any? #(= :rule (:mark %))
                    (mapcat :layers (:panels (plot/figure :sharpness (assoc-in (synthetic-run {}) [:experiment :optimizer] {:kind :gradient-flow}) {:x :step})))))))
  (testing "only recorded rows are plotted"
    (let [run (synthetic-run {})]
      (is (= (count (remove nil? (get-in run [:trajectory :sharpness])))
             (count (:points (layer (plot/figure :sharpness run) "sharpness"))))))))

(deftest modes-figure-targets-and-theory
  (let [run (synthetic-run {:targets [3.0 1.0 0.5]})
        theory (theory-curve [3.0 1.0 0.5] 0.05 0.0025 (range 0 401 8))
        fig (plot/figure :modes run {:theory theory})]
    (is (= ["mode 1, s1 = 3" "mode 2, s2 = 1" "mode 3, s3 = 0.5" "theory, mode 1" "theory, mode 2" "theory, mode 3"]
           (mapv :name (:series fig)))
        "a mode and its target share a legend entry; theory curves have their own")
    (is (= [3.0 1.0 0.5] (mapv :y (filter #(= :rule (:mark %)) (mapcat :layers (:panels fig))))))
    (is (= [:line :line :line :line :line :line :rule :rule :rule] (mapv :mark (:layers (first (:panels fig)))))
        "targets are drawn last, over an oscillating mode")
    (testing "modes with target 0 are left out unless asked for"
      (let [r (-> run (assoc-in [:analysis :mode-targets] [3.0 1.0 0.0]))
            f (plot/figure :modes r)]
        (is (= ["mode 1, s1 = 3" "mode 2, s2 = 1"] (mapv :name (:series f))))
        (is (re-find #"1 mode with target 0 not shown" (:subtitle f)))
        (is (= 3 (count (filter #(= :line (:mark %)) (:layers (first (:panels (plot/figure :modes r {:all-modes? true}))))))))))
    (is (= (mapv #(nth % 2) (:modes theory)) (mapv second (:points (layer fig "theory, mode 3")))))
    (is (thrown-with-msg? clojure.lang.ExceptionInfo #":theory" (plot/figure :modes run {:theory {:modes []}})))
    (testing "a theory function of the step is drawn across the recorded steps"
      (let [f (fn [step] (:modes (theory-curve [3.0 1.0 0.5] 0.05 0.0025 [step])))
            pts (:points (layer (plot/figure :modes run {:theory (fn [step] (first (f step)))}) "theory, mode 2"))]
        (is (= 200 (count pts)))
        (is (= [0.0 400.0] [(first (first pts)) (first (last pts))]))
        (is (every? (fn [[x y]] (== (double y) (double (nth (first (f x)) 1)))) pts))))))

(deftest pathway-share-bands-stack-to-one
  (let [run (assoc-in (synthetic-run {}) [:trajectory :pathway-shares 10 1] nil)
        fig (plot/figure :pathway-shares run)
        rows (remove nil? (get-in run [:trajectory :pathway-shares]))]
    (is (= ["mode 1" "mode 2"] (mapv :title (:panels fig))))
    (doseq [p (:panels fig)]
      (let [[b1 b2] (:layers p)]
        (is (every? #(zero? (double (second %))) (:points b1)) "the first band starts at 0")
        (is (= (mapv #(nth % 2) (:points b1)) (mapv second (:points b2))) "bands touch")
        (is (every? #(< (Math/abs (- 1.0 (double (nth % 2)))) 1e-12) (:points b2)) "shares of a mode add up to 1")))
    (is (= (dec (count rows)) (count (:points (first (:layers (second (:panels fig))))))) "a nil mode entry is skipped")
    (is (= (count rows) (count (:points (first (:layers (first (:panels fig))))))))))

(deftest balance-gap-zeros-are-dropped-on-the-log-axis
  (let [run (assoc-in (synthetic-run {}) [:trajectory :balance-gap 0] [[0.0] [0.0]])
        fig (plot/figure :balance-gap run)]
    (is (true? (get-in fig [:y :log?])))
    (is (= (dec (count (get-in run [:trajectory :step]))) (count (:points (layer fig "pathway 1, layers 1–2")))))
    (is (= ["pathway 1, layers 1–2" "pathway 2, layers 1–2"] (mapv :name (:series fig))))))

(deftest bifurcation-points-are-late-values-against-lr
  (let [sweep (synthetic-sweep)
        runs (filter :trajectory sweep)
        fig (plot/figure :bifurcation sweep {:last 20})
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
                    (mapcat :layers (:panels (plot/figure :bifurcation (mapv #(cond-> % (:experiment %) (assoc-in [:experiment :model :parameterization] :ntk)) sweep) {:lr :raw}))))))
    (testing "the late values of one run are its last recorded mode-1 strengths"
      (let [r (first (filter #(= 0.34 (get-in % [:experiment :optimizer :lr])) runs))
            expected (set (map first (take-last 20 (get-in r [:trajectory :modes]))))]
        (is (= expected (set (map second (filter #(= 0.34 (first %)) pts)))))))
    (testing "loss as the metric goes on a log axis when it spans decades"
      (is (true? (get-in (plot/figure :bifurcation sweep {:metric :loss}) [:y :log?]))))))

(deftest loss-vs-lr-one-line-per-width
  (let [sweep (synthetic-sweep)
        fig (plot/figure :loss-vs-lr sweep)
        runs (filter :trajectory sweep)]
    (is (= ["width N = 16" "width N = 64"] (mapv :name (:series fig))))
    (is (and (get-in fig [:x :log?]) (get-in fig [:y :log?])))
    (doseq [w [16 64]]
      (let [pts (:points (layer fig (str "width N = " w)))
            mine (filter #(= w (get-in % [:experiment :model :width])) runs)]
        (is (= (sort (map #(get-in % [:experiment :optimizer :lr]) mine)) (map first pts)) "sorted by lr")
        (is (= (set (map #(get-in % [:final :loss]) mine)) (set (map second pts))))))))

(deftest sweep-figures-facet-by-one-coordinate-and-order-the-other
  (let [sweep (synthetic-sweep)
        runs (filter :trajectory sweep)
        lrs [0.3 0.34 0.37 0.4 0.42 0.44]
        run-at (fn [w lr] (first (filter #(and (= w (get-in % [:experiment :model :width]))
                                              (= lr (get-in % [:experiment :optimizer :lr]))) runs)))]
    (doseq [[nm value-of] [[:loss (fn [r] (mapv second (filter second (map vector (get-in r [:trajectory :step]) (get-in r [:trajectory :loss])))))]
                           [:modes (fn [r] (mapv first (get-in r [:trajectory :modes])))]]]
      (testing nm
        (let [fig (plot/figure nm sweep)]
          (is (= ["width = 16" "width = 64"] (mapv :title (:panels fig))) "the coordinate with fewer values makes the panels")
          (is (= (mapv #(str "lr = " %) lrs) (vec (take 6 (map :name (:series fig))))) "series in the order of the lr")
          (is (= ["#440154" "#c2bb1b"] [(:color (first (:series fig))) (:color (nth (:series fig) 5))])
              "dark to light along the lr")
          (doseq [[p w] (map vector (:panels fig) [16 64])
                  [j lr] (map-indexed vector lrs)]
            (is (= (value-of (run-at w lr)) (mapv second (:points (nth (:layers p) j))))
                (str "panel width " w ", layer " j " is the run at lr " lr))))))
    (testing "with :facet false every run is a series of one panel"
      (let [fig (plot/figure :loss sweep {:facet false})]
        (is (= 1 (count (:panels fig))))
        (is (= 12 (count (:series fig))))
        (is (some #{"width = 64, lr = 0.37"} (map :name (:series fig))))))
    (testing "a shared target is drawn once; the mode option picks the mode"
      (let [fig (plot/figure :modes sweep {:mode 1})]
        (is (= "Mode 2 strength vs step" (:title fig)))
        (is (= [1.0] (distinct (map :y (filter #(= :rule (:mark %)) (mapcat :layers (:panels fig)))))))))))

(deftest tick-labels-are-plain-numbers
  (is (= ["0.028" "1500" "0.3" "2.5e-4" "1e6" "0" "-0.5"]
         (mapv #'plot/tick-label [0.028 1500.0 (+ 0.1 0.2) 2.5e-4 1e6 0.0 -0.5])))
  (is (= ["0.01" "1e-5" "0.0345"] (mapv #'plot/log-label [-2.0 -5.0 (Math/log10 0.0345)])))
  (testing "Vega-Lite log axes: ticks at powers of ten only, at most 10 of them"
    (is (= (mapv #(Math/pow 10.0 (double %)) (range -5 3)) (#'plot/decade-ticks [3e-5 20.0])))
    (is (= (mapv #(Math/pow 10.0 (double %)) (range -18 0 2)) (#'plot/decade-ticks [1e-18 0.05])))
    (is (nil? (#'plot/decade-ticks [0.028 0.041])) "a narrow axis keeps Vega's own ticks")
    (let [spec (plot/loss-spec (synthetic-run {}))
          ticks (get-in spec [:layer 0 :encoding :y :axis :values])
          losses (filter pos? (map :y (get-in spec [:data :values])))]
      (is (<= (first ticks) (apply min losses)) "the ticks cover the data")
      (is (>= (peek ticks) (apply max losses))))))

(deftest stationary-histogram-is-a-density
  (let [fig (plot/figure :stationary (gaussian-samples 3000 2.0 0.3) {:density (gaussian-density 2.0 0.3) :bins 40})
        bars (:points (layer fig "simulation (n = 3000)"))
        area (reduce + (map (fn [[x0 x1 h]] (* (- (double x1) (double x0)) (double h))) bars))]
    (is (= 40 (count bars)))
    (is (< (Math/abs (- 1.0 (double area))) 1e-12))
    (is (= 101 (count (:points (layer fig "analytic density")))))
    (testing "a density function is drawn at 200 points across the bins"
      (let [pdf (fn [x] (let [z (/ (- (double x) 2.0) 0.3)] (/ (Math/exp (* -0.5 z z)) (* 0.3 (Math/sqrt (* 2.0 Math/PI))))))
            f (plot/figure :stationary (gaussian-samples 3000 2.0 0.3) {:density pdf})
            pts (:points (layer f "analytic density"))
            bars (:points (layer f "simulation (n = 3000)"))]
        (is (= 200 (count pts)))
        (is (= [(first (first bars)) (second (last bars))] [(first (first pts)) (first (last pts))]))
        (is (every? (fn [[x p]] (== (double p) (double (pdf x)))) pts))))
    (testing "samples from an ensemble: the final value of each path"
      (let [ens (synthetic-ensemble)
            f (plot/figure :stationary ens {:mode 1})]
        (is (= (str "simulation (n = " (count (:paths ens)) ")") (:name (first (:series f)))))))))

(deftest learning-time-histograms-count-every-finite-time
  (let [ens (synthetic-ensemble)
        fig (plot/figure :learning-times ens)]
    (is (= ["mode 1" "mode 2"] (mapv :name (:series fig))))
    (is (= 100 (reduce + (map #(nth % 2) (:points (layer fig "mode 1"))))))
    (is (= 99 (reduce + (map #(nth % 2) (:points (layer fig "mode 2"))))) "a nil time (never learned) is left out")
    (is (re-find #"1 never learned" (:subtitle fig)))
    (is (= ["learning time"] (mapv :name (:series (plot/figure :learning-times [1.0 2.0 2.5])))))
    (is (= ["mode 1" "mode 2"] (mapv :name (:series (plot/figure :learning-times [[1.0 5.0] [1.2 5.5]])))))))

(deftest sde-ensemble-band-is-the-outer-quantiles
  (let [ens (synthetic-ensemble)
        fig (plot/figure :sde-ensemble ens)
        band (layer fig "mode 2, 5–95% band")]
    (is (= (mapv #(get-in % [1]) (get-in ens [:quantiles 0.05])) (mapv second (:points band))))
    (is (= (mapv #(get-in % [1]) (get-in ens [:quantiles 0.95])) (mapv #(nth % 2) (:points band))))
    (testing "mean ± sd without quantiles"
      (let [f (plot/figure :sde-ensemble (dissoc ens :quantiles))
            b (layer f "mode 1, mean ± 1 sd")
            m (get-in ens [:mean 50 0]) s (get-in ens [:std 50 0])]
        (is (= [(- (double m) (double s)) (+ (double m) (double s))] (rest (nth (:points b) 50))))))))

(deftest long-polylines-keep-their-oscillation-envelope
  (let [n 100000
        run (-> (synthetic-run {:steps 10 :every 1})
                (assoc :trajectory {:step (vec (range n))
                                    :loss (mapv #(if (even? (long %)) 1.0 (+ 2.0 (* 1e-6 (double %)))) (range n))}))
        pts (:points (layer (plot/figure :loss run {:max-points 1000}) "training loss"))
        ys (map #(double (second %)) pts)]
    (is (<= (count pts) 1002))
    (is (== 1.0 (apply min ys)) "the low phase of the 2-cycle survives")
    (is (== (+ 2.0 (* 1e-6 (dec n))) (apply max ys)) "and the high phase, to the last row")
    (is (apply <= (map #(double (first %)) pts)) "in step order")))

(deftest figure-errors-name-what-is-wrong
  (let [run (synthetic-run {})]
    (let [e (try (plot/figure :nonsense run) (catch clojure.lang.ExceptionInfo e e))]
      (is (= [:figure] (:path (ex-data e))))
      (is (re-find #":loss" (ex-message e)) "lists the allowed names"))
    (is (= [:x] (:path (ex-data (try (plot/figure :loss run {:x :epoch}) (catch clojure.lang.ExceptionInfo e e))))))
    (is (thrown-with-msg? clojure.lang.ExceptionInfo #"nothing to plot"
                          (plot/figure :loss (-> run (assoc-in [:trajectory :loss] (vec (repeat 201 Double/NaN)))
                                                              (update :trajectory dissoc :test-loss)))))
    (is (thrown-with-msg? clojure.lang.ExceptionInfo #"result map" (plot/figure :loss 42)))
    (is (thrown-with-msg? clojure.lang.ExceptionInfo #"\.svg or \.png"
                          (plot/render! (plot/figure :loss run) (str (io/file out-dir "x.pdf")))))))

;; ---------------------------------------------------------------- standard figures

(deftest standard-figures-follow-what-was-recorded
  (let [run (synthetic-run {})]
    (is (= [:loss :sharpness :modes :pathway-shares :balance-gap] (plot/standard-figure-names run)))
    (is (= [:loss] (plot/standard-figure-names (update run :trajectory select-keys [:step :time :loss]))))
    (is (= [:loss :sharpness :modes :balance-gap] (plot/standard-figure-names (synthetic-run {:pathways 1})))
        "one pathway: shares are all 1, not plotted")
    (is (= [:loss :modes :pathway-shares :balance-gap]
           (plot/standard-figure-names (assoc-in run [:trajectory :sharpness] (vec (repeat 201 nil))))))
    (is (= [:loss :modes :bifurcation :loss-vs-lr :sharpness-vs-lr] (plot/standard-figure-names (synthetic-sweep))))
    (is (= [:sde-ensemble :learning-times] (plot/standard-figure-names (synthetic-ensemble))))
    (is (= [:sde-ensemble] (plot/standard-figure-names (dissoc (synthetic-ensemble) :learned-time))))
    (is (= #{:loss :sharpness :modes :pathway-shares :balance-gap} (set (keys (plot/standard-figures run)))))
    (testing "a run whose loss never was finite has no loss figure, and no error"
      (is (not (contains? (plot/standard-figures (-> run (assoc-in [:trajectory :loss] (vec (repeat 201 Double/NaN)))
                                                         (update :trajectory dissoc :test-loss)))
                          :loss))))
    (is (= #{:loss :modes} (set (keys (plot/standard-figures run {:figures [:loss :modes]})))))))

;; ---------------------------------------------------------------- SVG parsing

(defn- unescape [s]
  (-> s (str/replace "&lt;" "<") (str/replace "&gt;" ">") (str/replace "&quot;" "\"")
      (str/replace "&#39;" "'") (str/replace "&apos;" "'") (str/replace "&amp;" "&")))

(defn- svg-texts
  "The contents of every <text> element of an SVG document, in order."
  [svg]
  (mapv (comp unescape second) (re-seq #"<text[^>]*>([^<]*)</text>" svg)))

(defn- vega-texts
  "The texts of vega's SVG in the mark group of the given role (e.g. \"axis-title\")."
  [svg role]
  (->> (re-seq (re-pattern (str "<g class=\"mark-text role-" role "\"[^>]*>(.*?)</g>")) svg)
       (mapcat #(svg-texts (second %)))
       vec))

(defn- rgb [hex]
  (let [v (Long/parseLong (subs hex 1) 16)]
    [(bit-and (bit-shift-right v 16) 0xff) (bit-and (bit-shift-right v 8) 0xff) (bit-and v 0xff)]))

;; ---------------------------------------------------------------- Vega-Lite through node

(def ^:private js-dir (io/file "test" "js"))
(def ^:private modules-dir (io/file "target" "js" "node_modules"))

(defn- node-available? []
  (try (= 0 (:exit (sh/sh "node" "--version"))) (catch java.io.IOException _ false)))

(defn- ensure-vega!
  "Installs the pinned vega packages with test/js/setup.sh when they are missing.
  Returns nil when ready, else a message saying what to do."
  []
  (cond
    (not (node-available?))
    "node is not on the PATH: install node and npm, then run test/js/setup.sh"
    (.exists (io/file modules-dir ".dlnlab-installed")) nil
    :else (let [{:keys [exit err out]} (sh/sh "bash" (str (io/file js-dir "setup.sh")))]
            (when-not (= 0 exit)
              (str "test/js/setup.sh failed (exit " exit "); run it by hand to install vega and vega-lite:\n" err out)))))

(defn- vega-check!
  "Validates, compiles and renders every [name spec] with the real vega-lite and
  vega in one node process. Returns {name {:ok :error :warnings :svg}}."
  [named-specs dir]
  (let [problem (ensure-vega!)]
    (if problem
      {::problem problem}
      (let [input (io/file dir "specs.json")]
        (.mkdirs (io/file dir))
        (spit input (plot/vega-lite-json (mapv (fn [[n s]] {:name n :spec s}) named-specs)))
        (let [{:keys [out err]} (sh/sh "node" (str (io/file js-dir "render.mjs")) (str modules-dir) (str input) (str dir))]
          (if-let [report (re-find #"^\{.*\}$" (str/trim out))]
            (into {}
                  (for [[n _] named-specs
                        :let [entry (re-find (re-pattern (str "\"" (java.util.regex.Pattern/quote n)
                                                              "\":\\{\"ok\":(true|false),\"error\":(null|\".*?\"),\"warnings\":\\[(.*?)\\]\\}"))
                                             report)
                              svg-file (io/file dir (str n ".svg"))]]
                    [n {:ok (= "true" (nth entry 1 nil))
                        :error (nth entry 2 nil)
                        :warnings (nth entry 3 nil)
                        :svg (when (.exists svg-file) (slurp svg-file))}]))
            {::problem (str "node render.mjs printed no report: " err out)}))))))

(defn- vl-specs
  "[[name spec fig] ...]: every figure of `all-figures` plus the standard figures
  of a run, a sweep and an ensemble, as Vega-Lite."
  []
  (concat
   (for [[n fig] (all-figures)] [n (plot/vega-lite fig) fig])
   (for [[prefix data] [["std-run-" (synthetic-run {})] ["std-sweep-" (synthetic-sweep)] ["std-sde-" (synthetic-ensemble)]]
         [k spec] (plot/standard-figures data)]
     [(str prefix (name k)) spec (plot/figure k data)])))

(deftest vega-lite-specs-are-valid-and-render
  (let [specs (vl-specs)
        dir (io/file out-dir "vega")
        report (vega-check! (map (juxt first second) specs) dir)]
    (is (nil? (::problem report)) (str "Vega-Lite specs could not be checked: " (::problem report)))
    (when-not (::problem report)
      (doseq [[n spec fig] specs
              :let [{:keys [ok error warnings svg]} (get report n)]]
        (testing n
          (is ok (str n ": " error))
          (is (= "" warnings) (str n " warned: " warnings))
          (is (= "https://vega.github.io/schema/vega-lite/v5.json" (:$schema spec)))
          (when svg
            (is (= (frequencies (cons (:title fig) (when (> (count (:panels fig)) 1) (map :title (:panels fig)))))
                   (frequencies (vega-texts svg "title-text")))
                "the title, and a header per panel")
            (is (= (if (:subtitle fig) [(:subtitle fig)] []) (vega-texts svg "title-subtitle")))
            (let [axis-titles (set (vega-texts svg "axis-title"))]
              (is (contains? axis-titles (get-in fig [:x :title])))
              (is (contains? axis-titles (get-in fig [:y :title]))))
            (is (= (if (> (count (:series fig)) 1) (mapv :name (:series fig)) [])
                   (vega-texts svg "legend-label"))
                "one legend entry per series")
            (is (= (boolean (get-in fig [:y :log?]))
                   (boolean (re-find #"Y-axis titled '[^\"]*' for a log scale" svg))))
            (is (= (boolean (get-in fig [:x :log?]))
                   (boolean (re-find #"X-axis titled '[^\"]*' for a log scale" svg))))))))))

;; ---------------------------------------------------------------- XChart files

(defn- png-has-color?
  "True when some pixel of img is within 12 of color [r g b] in each channel."
  [^java.awt.image.BufferedImage img [r g b]]
  (let [w (.getWidth img) h (.getHeight img)]
    (loop [y 0 x 0]
      (cond
        (>= y h) false
        (>= x w) (recur (inc y) 0)
        :else (let [p (.getRGB img (int x) (int y))
                    pr (bit-and (bit-shift-right p 16) 0xff) pg (bit-and (bit-shift-right p 8) 0xff) pb (bit-and p 0xff)]
                (if (and (<= (Math/abs (- pr (long r))) 12) (<= (Math/abs (- pg (long g))) 12) (<= (Math/abs (- pb (long b))) 12))
                  true
                  (recur y (inc x))))))))

(deftest xchart-svg-and-png-files
  (let [dir (io/file out-dir "xchart")]
    (doseq [[n fig] (all-figures)]
      (testing n
        (let [svg-path (str (io/file dir (str n ".svg")))
              png-path (str (io/file dir (str n ".png")))]
          (is (= svg-path (plot/render! fig svg-path)))
          (is (= png-path (plot/render! fig png-path {:scale 1.0})))
          (let [svg (slurp svg-path)
                texts (svg-texts svg)
                names (map :name (:series fig))]
            (is (str/starts-with? svg "<?xml"))
            (is (= (:title fig) (first texts)) "title first")
            (is (= (:subtitle fig) (second texts)) "then the subtitle")
            (is (some #{(get-in fig [:x :title])} texts) "x axis title")
            (is (some #{(get-in fig [:y :title])} texts) "y axis title")
            (if (> (count names) 1)
              (is (= (vec names) (filterv (set names) texts)) "one legend entry per series, in order")
              (is (empty? (filter (set names) texts)) "no legend for one series"))
            (when (> (count (:panels fig)) 1)
              (is (= (mapv :title (:panels fig)) (filterv (set (map :title (:panels fig))) texts))))
            (doseq [{:keys [color mark]} (:series fig)
                    :when (#{:line :rule :point} mark)]
              (let [[r g b] (rgb color)]
                (is (re-find (re-pattern (str "rgb\\(" r "," g "," b "\\)")) svg) (str "a mark in " color)))))
          (let [img (ImageIO/read (io/file png-path))]
            (is (= 800 (.getWidth img)))
            (doseq [{:keys [color mark]} (:series fig)
                    :when (= :line mark)]
              (is (png-has-color? img (rgb color)) (str "a line in " color " in the PNG")))))))))

(deftest write-figures-writes-each-standard-figure-atomically
  (let [dir (io/file out-dir "write-figures")
        run (synthetic-run {})]
    (doseq [^File f (reverse (file-seq dir))] (.delete f))
    (let [written (plot/write-figures! run (str dir) {:formats [:svg :png]})
          again (plot/write-figures! run (str dir) {:formats [:svg]})]
      (is (= [:balance-gap :loss :modes :pathway-shares :sharpness] (keys written)))
      (is (= (set (mapcat (fn [[k _]] [(str (name k) ".svg") (str (name k) ".png")]) written))
             (set (map #(.getName ^File %) (.listFiles dir))))
          "exactly the figures, no temporary files left")
      (is (every? #(.exists (io/file %)) (mapcat val again)))
      (is (re-find #"Sharpness vs step" (slurp (first (:sharpness again)))))
      (is (thrown-with-msg? clojure.lang.ExceptionInfo #":formats" (plot/write-figures! run (str dir) {:formats [:pdf]}))))
    (testing "a sweep and an ensemble"
      (is (= [:bifurcation :loss :loss-vs-lr :modes :sharpness-vs-lr] (keys (plot/write-figures! (synthetic-sweep) (str (io/file dir "sweep"))))))
      (is (= [:learning-times :sde-ensemble] (keys (plot/write-figures! (synthetic-ensemble) (str (io/file dir "sde")))))))))

(deftest duplicate-run-labels-are-made-distinct
  (let [r (synthetic-run {:steps 20})
        fig (plot/figure :loss [r r] {:labels ["a" "a"]})]
    (is (= ["a #1" "a #2"] (mapv :name (:series fig))))
    (is (= ["run 1" "run 2"] (mapv :name (:series (plot/figure :loss [r r])))))
    (is (string? (plot/render! fig (str (io/file out-dir "duplicates.svg")))))))

(deftest write-figure-data-writes-images-and-specs
  (let [dir (io/file out-dir "figure-data")
        figs [(plot/figure :loss (synthetic-run {})) (plot/figure :sharpness (synthetic-run {}))]
        written (plot/write-figure-data! figs dir {:formats [:svg :png]})]
    (is (= #{:loss :sharpness} (set (keys written))))
    (doseq [[nm paths] written]
      (is (= 3 (count paths)) (str nm))
      (doseq [p paths] (is (pos? (.length (io/file p))) p))
      (let [json (slurp (last paths))]
        (is (str/includes? json "\"$schema\"") "a Vega-Lite spec")
        (is (= (plot/vega-lite-json (plot/vega-lite (first (filter #(= nm (:name %)) figs)))) json))))
    (is (thrown? clojure.lang.ExceptionInfo (plot/write-figure-data! figs dir {:formats [:pdf]})))))

;; ---------------------------------------------------------------- SDE sweeps

(deftest sde-sweep-figures-put-the-swept-number-on-x-and-the-theory-beside-it
  (let [rs (synthetic-sde-sweep)
        lt (plot/figure :learning-time-sweep rs)
        st (plot/figure :stationary-sweep rs)
        layer-of (fn [fig panel series] (first (filter #(= series (:series %)) (:layers (nth (:panels fig) panel)))))]
    (is (= [:learning-time-sweep :stationary-sweep] (plot/standard-figure-names rs)))
    (is (= [:learning-time-sweep]
           (plot/standard-figure-names (mapv #(update % :analysis dissoc :stationary) rs)))
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
          e (try (plot/figure :learning-time-sweep rs) nil (catch clojure.lang.ExceptionInfo e e))]
      (is (some? e))
      (is (re-find #"numeric grid coordinate" (str (ex-message e)))))))

;; ---------------------------------------------------------------- learning-rate sweeps of multi-pathway runs

(deftest lr-sweep-figures-show-late-sharpness-and-shares-with-the-window
  (let [rs (synthetic-mp-sweep)
        sh (plot/figure :sharpness-vs-lr rs)
        sv (plot/figure :shares-vs-lr rs)
        layer-of (fn [fig panel series] (first (filter #(= series (:series %)) (:layers (nth (:panels fig) panel)))))]
    (is (= [:sharpness-vs-lr :shares-vs-lr] (filterv #{:sharpness-vs-lr :shares-vs-lr} (plot/standard-figure-names rs))))
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
