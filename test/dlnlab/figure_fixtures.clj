(ns dlnlab.figure-fixtures
  "Hand-built results, sweeps and ensembles in the shapes of doc/design.md for
  the figure, vega and render tests, and helpers that read their output (SVG
  texts, colors)."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [dlnlab.figure :as figure]
            [dlnlab.figure.run]
            [dlnlab.figure.sde]
            [dlnlab.figure.sweep]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------- synthetic results

(defn balanced-gd
  "Per-mode strengths pi_i = a_i^L of aligned, balanced weights under GD on
  matrix factorization (per mode, a <- a - lr a^(L-1) (a^L - s)), every step."
  [targets lr depth a0 steps]
  (let [lr (double lr) depth (long depth) a0 (double a0) steps (long steps)
        step (fn [as]
               (mapv (fn [a s] (let [a (double a) p (Math/pow a depth)]
                                 (- a (* lr (Math/pow a (dec depth)) (- p (double s))))))
                     as targets))]
    (take (inc steps) (iterate step (vec (repeat (count targets) a0))))))

(defn synthetic-run
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

(defn synthetic-sweep
  "A sweep over lr (and width) of synthetic runs, in grid order, with one failed slot."
  []
  (let [points (for [w [16 64] lr [0.3 0.34 0.37 0.4 0.42 0.44]] {[:model :width] w [:optimizer :lr] lr})]
    (conj (vec (map-indexed (fn [i p]
                              (synthetic-run {:lr (get p [:optimizer :lr]) :width (get p [:model :width])
                                              :steps 300 :every 1 :pathways 1
                                              :sweep-point {:index i :point p}}))
                            points))
          {:status :failed :error "boom" :sweep {:index 12 :point {[:model :width] 256 [:optimizer :lr] 0.5}}})))

(defn synthetic-ensemble
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

(defn synthetic-sde-sweep
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

(defn synthetic-mp-sweep
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

(defn gaussian-samples
  "n deterministic samples of N(mu, sd^2) by the Box-Muller transform of a Weyl sequence."
  [^long n ^double mu ^double sd]
  (vec (for [i (range n)]
         (let [u1 (+ 1e-9 (rem (* 0.6180339887498949 (inc (long i))) 1.0))
               u2 (rem (* 0.7548776662466927 (inc (long i))) 1.0)]
           (+ mu (* sd (Math/sqrt (* -2.0 (Math/log u1))) (Math/cos (* 2.0 Math/PI u2))))))))

(defn gaussian-density [^double mu ^double sd]
  (vec (for [i (range 101)]
         (let [x (+ (- mu (* 4.0 sd)) (* 0.08 sd (double i)))
               z (/ (- x mu) sd)]
           [x (/ (Math/exp (* -0.5 z z)) (* sd (Math/sqrt (* 2.0 Math/PI))))]))))

(defn theory-curve
  "Gradient-flow closed form for L = 2 (logistic growth of each mode),
  pi(t) = s / (1 + (s/pi0 - 1) e^(-2 s t)), at t = lr x step."
  [targets ^double lr ^double pi0 steps]
  {:step (vec steps)
   :modes (mapv (fn [step] (mapv (fn [s] (let [s (double s)]
                                           (/ s (+ 1.0 (* (- (/ s pi0) 1.0) (Math/exp (* -2.0 s lr (double step))))))))
                                 targets))
                steps)})

(defn all-figures
  "[[file-name figure-data] ...]: every figure kind on synthetic data, some twice."
  []
  (let [run (synthetic-run {})
        sweep (synthetic-sweep)
        ens (synthetic-ensemble)
        theory (theory-curve [3.0 1.0] 0.05 0.0025 (range 0 401 4))]
    [["loss" (figure/figure :loss run)]
     ["loss-sweep" (figure/figure :loss sweep)]
     ["loss-small-multiples" (figure/figure :loss sweep {:facet false})]
     ["sharpness" (figure/figure :sharpness run)]
     ["modes" (figure/figure :modes run {:theory theory})]
     ["pathway-shares" (figure/figure :pathway-shares run)]
     ["balance-gap" (figure/figure :balance-gap run)]
     ["bifurcation" (figure/figure :bifurcation sweep)]
     ["loss-vs-lr" (figure/figure :loss-vs-lr sweep)]
     ["sde-ensemble" (figure/figure :sde-ensemble ens {:targets [2.0 0.5]})]
     ["stationary" (figure/figure :stationary (gaussian-samples 2000 1.0 0.1) {:density (gaussian-density 1.0 0.1)})]
     ["learning-times" (figure/figure :learning-times ens)]
     ["sharpness-vs-lr" (figure/figure :sharpness-vs-lr (synthetic-mp-sweep))]
     ["shares-vs-lr" (figure/figure :shares-vs-lr (synthetic-mp-sweep))]
     ["learning-time-sweep" (figure/figure :learning-time-sweep (synthetic-sde-sweep))]
     ["stationary-sweep" (figure/figure :stationary-sweep (synthetic-sde-sweep))]]))

(def out-dir
  "Where the tests write their files."
  (io/file "target" "plot-test"))

(defn layer [fig series] (first (filter #(= series (:series %)) (mapcat :layers (:panels fig)))))

;; ---------------------------------------------------------------- SVG parsing

(defn unescape [s]
  (-> s (str/replace "&lt;" "<") (str/replace "&gt;" ">") (str/replace "&quot;" "\"")
      (str/replace "&#39;" "'") (str/replace "&apos;" "'") (str/replace "&amp;" "&")))

(defn svg-texts
  "The contents of every <text> element of an SVG document, in order."
  [svg]
  (mapv (comp unescape second) (re-seq #"<text[^>]*>([^<]*)</text>" svg)))

(defn vega-texts
  "The texts of vega's SVG in the mark group of the given role (e.g. \"axis-title\")."
  [svg role]
  (->> (re-seq (re-pattern (str "<g class=\"mark-text role-" role "\"[^>]*>(.*?)</g>")) svg)
       (mapcat #(svg-texts (second %)))
       vec))

(defn rgb [hex]
  (let [v (Long/parseLong (subs hex 1) 16)]
    [(bit-and (bit-shift-right v 16) 0xff) (bit-and (bit-shift-right v 8) 0xff) (bit-and v 0xff)]))

