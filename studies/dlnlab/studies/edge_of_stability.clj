(ns dlnlab.studies.edge-of-stability
  "Reproduction of [EOS] (Ghosh, Kwon, Wang, Ravishankar, Qu, \"Learning Dynamics
  of Deep Linear Networks Beyond the Edge of Stability\", arXiv 2502.20531;
  doc/science.md §5-§6): deep matrix factorization trained by gradient descent from
  the scaled-identity initialization (W_l = alpha I for l < L, W_L = 0).

  Three claims, each put next to its theory:
  1. Mode i oscillates when lr > 2/S_i with S_i = L s_i^(2-2/L): the number of
     oscillating modes (dlnlab.analysis :oscillating-modes, from :modes recorded
     every step) equals #{i : lr > 2/S_i}.
  2. The balancing gap between layers (metric :balance-gap) decays to zero past
     the edge of stability, while gradient flow conserves it.
  3. A mode's late-time strength follows the per-mode map
     x <- x - (r/L) x^(L-1) (x^L - 1), x = (pi/s)^(1/L), r = lr S_i: a 2-cycle for
     2 < r < r_4(L), then period doubling into chaos; the full network's
     bifurcation diagram and its period-doubling points agree with the map's.

  `reproduce` runs everything and returns a plain-data report; `reduced` is the
  seconds-long version the tests run. The theory beside the simulations comes
  from dlnlab.theory (sharpness, Hessian eigenvalues at the minimum, oscillating
  mode count, the per-mode map, its cycles of any period, period-doubling
  thresholds and zero crisis)."
  (:refer-clojure :exclude [reduced])
  (:require [dlnlab.analysis :as analysis]
            [dlnlab.experiment :as experiment]
            [dlnlab.figure :as fig]
            [dlnlab.studies.edge-of-stability.figures]
            [dlnlab.studies.edge-of-stability.measure :as measure
             :refer [exact-period fold gap-norm late-values map-agreement misalignment mode-layer-strengths
                     per-mode-gaps strength->x target-vectors]]
            [dlnlab.study :as study]
            [dlnlab.sweep :as sweep]
            [dlnlab.theory :as theory]
            [dlnlab.theory.gd-map :as gd-map]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------- setting (doc/science.md §5-§6)
;; The formulas (thresholds 2/S_i, 2/lambda_ij, doubling points) are in
;; dlnlab.theory; setup and variants in edge_of_stability.edn beside this file.

(defn- sharpness ^double [depth s] (theory/single-path-sharpness (double s) depth))

(def ^:private data
  "Setup and variants (studies/dlnlab/studies/edge_of_stability.edn)."
  (study/load-data "dlnlab/studies/edge_of_stability.edn"))

(def setup
  "The default setting: depth 3, target singular values 10, 8.5 and 7 on a 3 x 3
  matrix with identity singular vectors, scaled-identity init alpha = 0.1 (last
  layer zero). The targets are spaced so that each count of oscillating modes
  0..3 has an interval of learning rates in which the top mode stays on the map's
  bounded attractor (r_1 = lr S_1 below the zero crisis, about 3.66 for L = 3):
  that needs S_1/S_3 < 3.66/2. The targets of examples/eos-factorization.edn
  (10, 6, 3) have S_1/S_2 = 1.98, so at L = 3 two modes can never oscillate at
  once: the top mode is lost (pi_1 -> 0) first; `reproduce` shows this too."
  (:setup data))

(def variants
  "What `reproduce` runs for each :variant.
  :quick (default; well under a minute on 2 cores): L = 3; the claim learning
  rates and a 30-point learning-rate sweep, 6000 GD steps each recorded every
  step; gradient flow over the time span of the slowest GD run; random singular
  vectors at the claim learning rates and the onset of misalignment (20000
  steps, to 1e-4 in lr); the map's period-doubling points to r_32 and its zero
  crisis; the network's r_4 and r_8 by bisection on 20000-step runs to 2e-4 in r.
  :full (a few minutes on 2 cores): the same for L = 2, 3 and 4 with 60 sweep
  points of 20000 steps, 40000-step bisections for r_4, r_8 and r_16 to 5e-5,
  and three random-basis seeds."
  (:variants data))

(defn- bisect
  "The root of a sign change of g on [lo hi] (g lo) > 0 > (g hi), to width tol."
  ^double [g ^double lo ^double hi ^double tol]
  (loop [lo lo hi hi]
    (if (<= (- hi lo) tol)
      (* 0.5 (+ lo hi))
      (let [m (* 0.5 (+ lo hi))]
        (if (pos? (double (g m))) (recur m hi) (recur lo m))))))

;; ---------------------------------------------------------------- experiments as data

(defn factorization-experiment
  "The experiment map of deep matrix factorization from the scaled-identity init
  ([EOS]): a chain of depth L and width d = (count targets) on a d x d target
  with the given singular values.

  Options: :depth :targets :alpha :basis :seed (see `setup`); :lr (gradient
  descent's learning rate; nil with :flow); :steps; :flow {:time :rtol :atol :grid}
  (gradient flow instead of GD); :metrics ([:loss :modes :balance-gap]) recorded
  every step (every grid point for flow).
  Returns an experiment map for dlnlab.core/run."
  [{:keys [depth targets alpha basis seed lr steps flow metrics]
    :or {metrics [:loss :modes :balance-gap]}}]
  (let [d (count targets)]
    (cond-> {:seed seed
             :model {:kind :chain :depth depth :width d :init {:kind :scaled-identity :alpha alpha}}
             :task {:kind :matrix-factorization :singular-values (vec targets) :dims [d d] :basis basis}
             :record {:every 1 :metrics metrics}}
      (nil? flow) (assoc :optimizer {:kind :gd :lr lr} :steps steps)
      flow (assoc :optimizer {:kind :gradient-flow :rtol (:rtol flow 1e-10) :atol (:atol flow 1e-13)}
                  :time (:time flow) :steps (:grid flow 100)))))

(defn claim-learning-rates
  "One learning rate inside each interval of the theory's count (doc/science.md §6):
  0.85 * 2/S_1 (no mode), the geometric midpoints of [2/S_i, 2/S_(i+1)], and
  min(1.06 * 2/S_n, 0.93 r_c/S_1) above the last threshold, where r_c is the
  map's zero crisis (dlnlab.theory.gd-map/gd-map-zero-crisis) (for odd L the top mode is lost beyond it; for even L the
  band merely merges with its mirror image, and the cap is only a safe bound).
  Returns a vector of (count targets) + 1 doubles."
  [{:keys [depth targets]}]
  (let [t (theory/oscillation-thresholds depth targets)
        n (count t)]
    (vec (concat [(* 0.85 (double (first t)))]
                 (for [i (range (dec n))] (Math/sqrt (* (double (nth t i)) (double (nth t (inc (long i)))))))
                 [(min (* 1.06 (double (peek t)))
                       (/ (* 0.93 (gd-map/gd-map-zero-crisis depth)) (sharpness depth (first targets))))]))))

;; ---------------------------------------------------------------- runs

(defn- summarize-gd-run
  "Plain-data summary of one GD run of the count sweep."
  [cfg result]
  (let [{:keys [depth targets alpha keep compare]} cfg
        depth (long depth)
        lr (double (get-in result [:experiment :optimizer :lr]))
        gaps (mapv gap-norm (remove nil? (get-in result [:trajectory :balance-gap])))
        g0 (double (first gaps))
        weights (first (get-in result [:final :weights]))
        vecs (target-vectors (:experiment result))
        ok? (= :completed (:status result))
        a2 (* (double alpha) (double alpha))
        rs (mapv #(* lr (sharpness depth %)) targets)
        late (vec (for [i (range (count targets))]
                    (mapv #(fold depth (strength->x (double %) (double (nth targets i)) depth))
                          (late-values result i (long (or compare 512))))))]
    {:lr lr
     :status (:status result)
     :r rs
     :predicted (theory/oscillating-mode-count targets depth lr)
     :measured (count (get-in result [:analysis :oscillating-modes]))
     :oscillating-modes (get-in result [:analysis :oscillating-modes])
     :mode-periods (get-in result [:analysis :mode-periods])
     :gap {:first g0 :last (peek gaps) :ratio (/ (double (peek gaps)) g0)}
     :mode-gap-ratios (when ok? (mapv #(/ (Math/abs (double %)) a2) (per-mode-gaps weights vecs)))
     :misalignment (when ok? (misalignment weights (:u vecs) (:v vecs)))
     :map-agreement (when ok? (mapv #(map-agreement depth %1 %2) rs late))
     :late-x (mapv #(vec (take-last (long (or keep 32)) %)) late)}))

(defn count-sweep
  "GD from the scaled-identity init at each learning rate: measured oscillating
  modes (dlnlab.analysis on :modes recorded every step) against the theory's
  #{i : lr > 2/S_i}, the balance gap (whole and per mode), the misalignment, and
  every mode's late values against the per-mode map (`map-agreement`).

  cfg: `setup` keys plus :steps, :keep (late x values kept per mode, 32) and
  :compare (late values compared with the map, 512). Options: :jobs (2);
  :progress (fn [{:stage :done :total}]).
  Returns a vector of row maps, one per learning rate, in the order of lrs."
  [cfg lrs {:keys [jobs progress] :or {jobs 2}}]
  (let [done (atom 0)
        results (sweep/sweep (factorization-experiment (assoc cfg :lr (first lrs)))
                             {[:optimizer :lr] (vec lrs)}
                             {:jobs jobs :seeds :shared
                              :on-result (fn [_ _ _]
                                           (let [k (swap! done inc)]
                                             (when progress
                                               (progress {:stage :count-sweep :depth (:depth cfg) :done k :total (count lrs)}))))})]
    (mapv #(summarize-gd-run cfg %) results)))

(defn flow-gap
  "Gradient flow from the same init: the balance gap on its time grid (conserved,
  doc/science.md §4). cfg: `setup` keys plus :flow {:time :rtol :atol :grid}
  (:grid recorded points, 100).
  Returns {:status :time [..] :gap [..] :max-relative-change x :final-modes [..]}."
  [cfg]
  (let [r (experiment/run (factorization-experiment cfg))
        gaps (mapv gap-norm (remove nil? (get-in r [:trajectory :balance-gap])))
        g0 (double (first gaps))]
    {:status (:status r)
     :time (get-in r [:trajectory :time])
     :gap gaps
     :max-relative-change (reduce max 0.0 (map #(/ (Math/abs (- (double %) g0)) g0) gaps))
     :final-modes (peek (get-in r [:trajectory :modes]))}))

(defn- gd-gap-trajectory
  "[[time gap] ...] of a GD run, every stride-th recorded step."
  [cfg lr ^long stride]
  (let [r (experiment/run (factorization-experiment (assoc cfg :lr lr)))
        tr (:trajectory r)]
    (vec (take-nth stride (map (fn [t g] [t (gap-norm g)]) (:time tr) (:balance-gap tr))))))

(defn cross-onset
  "With random singular vectors (alignment kept only up to round-off), the
  learning rate between 2/S_1 and 2/S_2 above which a run loses alignment
  (diverges, or ends with `misalignment` above 1e-6), by bisection on
  [1.01 * 2/S_1, 0.99 * 2/S_2] to tol, each run cfg's :steps long.
  Returns {:lr-onset x :cross-threshold 2/lambda_12 :bracket [lo hi] :evaluations n}
  or {:lr-onset nil :reason ..} when the bracket does not hold a change."
  [cfg tol]
  (let [{:keys [depth targets]} cfg
        t (theory/oscillation-thresholds depth targets)
        n (atom 0)
        lost? (fn [lr]
                (swap! n inc)
                (let [res (experiment/run (factorization-experiment (assoc cfg :lr lr :metrics [:loss])))
                      vecs (target-vectors (:experiment res))]
                  (or (not= :completed (:status res))
                      (let [m (misalignment (first (get-in res [:final :weights])) (:u vecs) (:v vecs))]
                        (not (< m 1e-6))))))
        lo (* 1.01 (double (first t))) hi (* 0.99 (double (second t)))
        cross (theory/cross-threshold depth targets 0 1)]
    (cond
      (lost? lo) {:lr-onset nil :cross-threshold cross :reason (str "alignment already lost at lr = " lo)}
      (not (lost? hi)) {:lr-onset nil :cross-threshold cross :reason (str "alignment still kept at lr = " hi)}
      :else {:lr-onset (bisect #(if (lost? %) -1.0 1.0) lo hi (double tol))
             :cross-threshold cross :bracket [lo hi] :evaluations @n :steps (:steps cfg)})))

;; ---------------------------------------------------------------- bifurcation: network vs map

(defn- single-mode-experiment
  "Rank-one target s on a d x d matrix (random singular vectors by default),
  scaled-identity init, GD at r = lr S for steps, :modes recorded every step."
  [{:keys [depth alpha seed]} {:keys [target dims basis steps init]
                               :or {dims 3 basis :random}} r]
  (let [lr (/ (double r) (sharpness depth target))]
    {:seed seed
     :model {:kind :chain :depth depth :width dims
             :init (or init {:kind :scaled-identity :alpha alpha})}
     :task {:kind :matrix-factorization :singular-values [target] :dims [dims dims] :basis basis}
     :optimizer {:kind :gd :lr lr}
     :steps steps
     :record {:every 1 :metrics [:modes] :final-weights false}}))

(defn network-period
  "The period (dlnlab.analysis/period with (:period bif)) of the top mode's
  strength late in a full-network GD run at r = lr S_1: rank-one target
  (:target bif) on a 3 x 3 matrix with random singular vectors, scaled-identity
  init, (:steps bif) steps recorded every step. :diverged for a diverged run."
  [cfg bif r]
  (let [res (experiment/run (single-mode-experiment cfg bif r))]
    (if (= :diverged (:status res))
      :diverged
      (analysis/period (mapv first (remove nil? (get-in res [:trajectory :modes]))) (:period bif {})))))

(defn map-period
  "The same classification as `network-period` for the per-mode map iterated
  (:steps bif) times from (:x0 bif) (0.5)."
  [depth bif r]
  (analysis/period (gd-map/gd-map-orbit r depth (:x0 bif 0.5) 0 (:steps bif)) (:period bif {})))

(defn- beyond?
  "True when a period (of `network-period`/`map-period`) is longer than p."
  [period ^long p]
  (or (= period :aperiodic) (= period :diverged) (and (number? period) (> (long period) p))))

(defn detected-threshold
  "Bisection for the r at which the detected period first exceeds p (2 for r_4,
  4 for r_8, ...), with period-at (fn [r] period) on [lo hi] to width tol.
  Returns {:r r :evaluations n}, or {:r nil :reason ..} when the ends do not
  bracket a change."
  [period-at p lo hi tol]
  (let [n (atom 2) p (long p) lo (double lo) hi (double hi) tol (double tol)]
    (cond
      (beyond? (period-at lo) p) {:r nil :reason (str "period already above " p " at r = " lo)}
      (not (beyond? (period-at hi) p)) {:r nil :reason (str "period not above " p " at r = " hi)}
      :else (let [r (bisect #(do (swap! n inc) (if (beyond? (period-at %) p) -1.0 1.0)) lo hi tol)]
              {:r r :evaluations @n}))))

(defn- network-follows-map
  "Balanced, aligned init: the network's top-mode strength against the map's
  iterates pi = s x^L from the same start x0, for steps steps at r.
  Returns {:r :steps :x0 :max-abs-diff-over-s}."
  [cfg bif r steps x0]
  (let [depth (long (:depth cfg))
        r (double r) steps (long steps) x0 (double x0)
        s (double (:target bif))
        res (experiment/run (single-mode-experiment
                             cfg (assoc bif :steps steps :init {:kind :balanced-aligned
                                                                :strengths [(* s (Math/pow x0 depth))]})
                             r))
        net (mapv first (remove nil? (get-in res [:trajectory :modes])))
        mp (map #(* s (Math/pow (double %) depth)) (gd-map/gd-map-orbit r depth x0 0 (inc steps)))]
    {:r r :steps steps :x0 x0
     :max-abs-diff-over-s (/ (double (reduce max 0.0 (map #(Math/abs (- (double %1) (double %2))) net mp))) s)}))

;; ---------------------------------------------------------------- variants and the report

(defn- sweep-lrs
  "n learning rates from 0.75 * 2/S_1 to min(1.1 * 2/S_n, 0.95 r_c/S_1), evenly spaced."
  [{:keys [depth targets]} ^long n]
  (let [t (theory/oscillation-thresholds depth targets)
        lo (* 0.75 (double (first t)))
        hi (min (* 1.1 (double (peek t))) (/ (* 0.95 (gd-map/gd-map-zero-crisis depth)) (sharpness depth (first targets))))]
    (mapv #(+ lo (* (- hi lo) (/ (double %) (dec n)))) (range n))))

(defn- row-table
  "The columns of a count row that go into the report."
  [row]
  (select-keys row [:lr :r :predicted :measured :oscillating-modes :mode-periods :status :gap
                    :mode-gap-ratios :misalignment]))

(defn- eos-targets-study
  "The targets of examples/eos-factorization.edn (10, 6, 3) at L = 3 at one
  learning rate per theory count 0, 1, 2 (the last one 1.06 * 2/S_2, beyond the
  zero crisis for the top mode) and what the runs show, with each mode's last
  four strengths."
  [cfg opts]
  (let [c (assoc cfg :targets [10.0 6.0 3.0] :depth 3 :keep 4)
        t (theory/oscillation-thresholds 3 (:targets c))
        lrs [(* 0.85 (double (first t))) (Math/sqrt (* (double (first t)) (double (second t))))
             (* 1.06 (double (second t)))]
        rows (count-sweep c lrs opts)]
    {:targets (:targets c) :depth 3 :thresholds t
     :zero-crisis (gd-map/gd-map-zero-crisis 3)
     :rows (mapv (fn [row]
                   (assoc (select-keys row [:lr :r :predicted :measured :oscillating-modes :mode-periods :status])
                          :late-strengths (vec (map-indexed (fn [i xs]
                                                              (let [s (double (nth (:targets c) i))]
                                                                (mapv #(* s (Math/pow (double %) 3)) xs)))
                                                            (:late-x row)))))
                 rows)}))

(defn- study-depth
  "Everything for one depth: returns the depth's section of the report."
  [cfg v {:keys [progress] :as opts}]
  (let [depth (long (:depth cfg))
        note (fn [stage] (when progress (progress {:stage stage :depth depth})))
        cfg (merge cfg (select-keys v [:steps :keep :compare]))
        ;; 1. oscillating modes
        t0 (System/nanoTime)
        claim-lrs (claim-learning-rates cfg)
        claim-rows (count-sweep cfg claim-lrs opts)
        sweep-rows (count-sweep cfg (sweep-lrs cfg (:sweep-points v)) opts)
        t-count (study/elapsed-ms t0)
        ;; 2. balance gap
        _ (note :balance-gap)
        t1 (System/nanoTime)
        below (first claim-rows)
        ;; the time span of the GD runs (time = lr x steps) at the lowest claim lr
        flow (flow-gap (assoc cfg :flow (assoc (:flow v) :time (* (double (:lr below)) (double (:steps cfg))))))
        past (peek claim-rows)
        gap-series [["GD below EoS" (gd-gap-trajectory cfg (:lr below) 10)]
                    ["GD past EoS (all modes)" (gd-gap-trajectory cfg (:lr past) 10)]
                    ["gradient flow" (mapv vector (:time flow) (:gap flow))]]
        t-gap (study/elapsed-ms t1)
        ;; 3. random singular vectors
        _ (note :random-basis)
        t2 (System/nanoTime)
        random-rows (vec (for [seed (:random-seeds v)]
                           {:seed seed
                            :rows (mapv row-table (count-sweep (assoc cfg :basis :random :seed seed) claim-lrs opts))}))
        onset (cross-onset (merge cfg {:basis :random} (:onset v)) (:tol (:onset v)))
        t-random (study/elapsed-ms t2)
        ;; 4. bifurcation
        _ (note :bifurcation)
        t3 (System/nanoTime)
        pd (gd-map/doubling-points depth)
        crisis (double (:zero-crisis pd))
        md (:map-diagram v)
        map-rows (vec (for [k (range (:points md))
                            :let [r (+ 1.8 (* (- crisis 1.8) (/ (double k) (dec (long (:points md))))))]]
                        {:r r :xs (mapv #(fold depth (double %)) (gd-map/gd-map-orbit r depth 0.9 3000 (:keep md)))}))
        net-rows (vec (for [row sweep-rows
                            :when (= :completed (:status row))
                            [i xs] (map-indexed vector (:late-x row))]
                        {:r (nth (:r row) i) :mode i :xs xs}))
        agreement (vec (for [row sweep-rows a (:map-agreement row)] a))
        periodic (filter :max-distance agreement)
        chaotic (filter :ks agreement)
        bif (:bifurcation v)
        net-thresholds
        (vec (for [p (:levels bif)]
               (let [p (long p)
                     exact (double (get pd (keyword (str "r" (* 2 p)))))
                     below-r (double (get pd (keyword (str "r" p))))
                     above-r (double (get pd (keyword (str "r" (* 4 p))) (:r-inf pd)))
                     half (* 0.5 (min (- exact below-r) (- above-r exact)))
                     lo (- exact half) hi (+ exact half)
                     net (detected-threshold #(network-period cfg bif %) p lo hi (:tol bif))
                     mp (detected-threshold #(map-period depth bif %) p lo hi (:tol bif))]
                 {:doubling [p (* 2 p)]
                  :map-exact exact
                  :map-detected (:r mp)
                  :network-detected (:r net)
                  :network-minus-map-detected (when (and (:r net) (:r mp)) (- (double (:r net)) (double (:r mp))))
                  :network-minus-exact (when (:r net) (- (double (:r net)) exact))
                  :bracket [lo hi] :tol (:tol bif) :steps (:steps bif)
                  :network-evaluations (:evaluations net)})))
        follows (network-follows-map cfg bif 2.3 400 0.8)
        t-bif (study/elapsed-ms t3)]
    {:depth depth
     :targets (:targets cfg)
     :sharpness (mapv #(sharpness depth %) (:targets cfg))
     :thresholds (theory/oscillation-thresholds depth (:targets cfg))
     :mode-count {:claim (mapv row-table claim-rows)
                  :claim-agree (count (filter #(= (:predicted %) (:measured %)) claim-rows))
                  :sweep (mapv row-table sweep-rows)
                  :sweep-agree (count (filter #(= (:predicted %) (:measured %)) sweep-rows))
                  :sweep-total (count sweep-rows)
                  :mismatches (vec (for [r sweep-rows :when (not= (:predicted r) (:measured r))]
                                     (select-keys r [:lr :r :predicted :measured :mode-periods])))}
     :balance-gap {:gd-below-eos (select-keys below [:lr :predicted :measured :gap :mode-gap-ratios])
                   :gd-past-eos (select-keys past [:lr :predicted :measured :gap :mode-gap-ratios])
                   :gradient-flow (assoc (select-keys flow [:status :max-relative-change :final-modes])
                                         :gap-at-start (first (:gap flow)) :time (peek (:time flow)))}
     :random-basis {:cross-thresholds
                    (vec (for [i (range (count (:targets cfg))) j (range (inc (long i)) (count (:targets cfg)))]
                           {:modes [i j] :lr (theory/cross-threshold depth (:targets cfg) i j)}))
                    :claim-runs random-rows
                    :onset onset}
     :bifurcation {:map pd
                   :network-thresholds net-thresholds
                   :balanced-aligned-follows-map follows
                   :diagram-agreement
                   {:periodic-rows (count periodic)
                    :max-distance (reduce max 0.0 (map :max-distance periodic))
                    :chaotic-rows (count chaotic)
                    :max-ks (reduce max 0.0 (map :ks chaotic))
                    :max-ks-control (reduce max 0.0 (map :ks-control chaotic))
                    :max-outside-band (reduce max 0.0 (map :outside-band chaotic))
                    :rows agreement}}
     :figures [(fig/figure :eos-oscillating-modes {:depth depth :targets (:targets cfg) :rows sweep-rows})
               (fig/figure :eos-balance-gap {:depth depth :series gap-series})
               (fig/figure :eos-bifurcation {:depth depth :map-rows map-rows :net-rows net-rows :pd pd})]
     :timing-ms {:mode-count t-count :balance-gap t-gap :random-basis t-random :bifurcation t-bif}}))

(def claim
  "The claim being reproduced, in words."
  (str "[EOS] (doc/science.md §6): with gradient descent from the scaled-identity initialization, "
       "mode i of deep matrix factorization oscillates exactly when lr > 2/S_i, S_i = L s_i^(2-2/L), "
       "so the number of oscillating modes is #{i : lr > 2/S_i}; past the edge of stability the "
       "balancing gap between layers decays to zero while gradient flow conserves it; a mode's late "
       "values follow the per-mode map x <- x - (r/L) x^(L-1) (x^L - 1), r = lr S_i, through a 2-cycle "
       "(2 < r < r_4(L)) and a period-doubling cascade into chaos, for the map and the full network alike."))

(defn checks
  "The claims checked on the depth sections of a report, each {:claim :pass?
  :failures} with its margin stated: the count of oscillating modes at every
  claim and sweep learning rate, the balance gap past and below the edge of
  stability and under gradient flow, the network's period-doubling points
  against the map's, the late values against the map's cycles and chaotic
  band, and the misalignment onset against 2/lambda_12."
  [sections]
  (do
    {:mode-count
     (study/check "measured oscillating modes = #{i : lr > 2/S_i} at every claim and sweep learning rate"
                  (for [s sections r (concat (get-in s [:mode-count :claim]) (get-in s [:mode-count :sweep]))
                        :when (not= (:predicted r) (:measured r))]
                    (assoc (select-keys r [:lr :predicted :measured :mode-periods]) :depth (:depth s))))
     :balance-gap
     (study/check (str "balance gap: GD past the edge of stability for every mode ends below 1e-6 of its start, "
                       "GD below it keeps more than 1e-3, gradient flow changes it by less than 1e-6")
                  (for [s sections
                        :let [g (:balance-gap s)
                              past (double (get-in g [:gd-past-eos :gap :ratio]))
                              below (double (get-in g [:gd-below-eos :gap :ratio]))
                              flow (double (get-in g [:gradient-flow :max-relative-change]))]
                        :when (not (and (< past 1e-6) (> below 1e-3) (< flow 1e-6)))]
                    {:depth (:depth s) :past past :below below :flow flow}))
     :period-doubling
     (study/check "full network: each bisected period-doubling point within 2e-3 of the map's exact r_2p"
                  (for [s sections t (get-in s [:bifurcation :network-thresholds])
                        :when (not (and (:network-minus-exact t) (< (Math/abs (double (:network-minus-exact t))) 2e-3)))]
                    (assoc t :depth (:depth s))))
     :bifurcation-diagram
     (study/check (str "late values: periodic rows within 1e-3 of the map's own cycle; chaotic rows at a KS distance "
                       "to the map's orbit at most 1.5x that of a second map orbit of the same length, at most 1% "
                       "outside the map's band")
                  (for [s sections
                        :let [d (get-in s [:bifurcation :diagram-agreement])]
                        :when (not (and (< (double (:max-distance d)) 1e-3)
                                        (<= (double (:max-ks d)) (* 1.5 (max 0.01 (double (:max-ks-control d)))))
                                        (<= (double (:max-outside-band d)) 0.01)))]
                    (assoc (dissoc d :rows) :depth (:depth s))))
     :misalignment-onset
     (study/check "random singular vectors: alignment is lost above a learning rate within 3% of 2/lambda_12"
                  (for [s sections
                        :let [{:keys [lr-onset cross-threshold]} (get-in s [:random-basis :onset])]
                        :when (not (and lr-onset (< (Math/abs (- (/ (double lr-onset) (double cross-threshold)) 1.0)) 0.03)))]
                    {:depth (:depth s) :onset (get-in s [:random-basis :onset])}))}))

(def main-columns
  "Columns of the main table: the claim learning rates of every depth."
  [[:depth "L"] [:lr "η"] [:r "r_i = η S_i"] [:predicted "predicted count"] [:measured "measured count"]
   [:gap-ratio "gap last/first"] [:misalignment "misalignment"]])

(defn- main-rows [sections]
  (vec (for [s sections r (get-in s [:mode-count :claim])]
         (assoc (select-keys r [:lr :r :predicted :measured :misalignment])
                :depth (:depth s) :gap-ratio (get-in r [:gap :ratio])))))

(defn reproduce
  "Runs the [EOS] reproduction and returns its report as plain data
  (dlnlab.study's report shape).

  Options: :variant (:quick, or :full: see `variants`); :jobs (2) parallel runs in
  sweeps; :progress (fn [{:stage :depth ..}]) told about each stage and each
  finished sweep point.
  Returns {:study :claim :variant :setup :main {:rows :table} :checks
  :headline :depths [section ...] :eos-targets :figures :timing-ms}. A depth
  section holds :mode-count (claim and sweep rows: lr, r_i = lr S_i, predicted
  and measured counts, mode periods, gaps, misalignment), :balance-gap (GD
  below and past the edge of stability, gradient flow), :random-basis (claim
  learning rates with random singular vectors, the onset of misalignment vs
  2/lambda_12) and :bifurcation (the map's r_4, r_8, ..., r-inf and zero
  crisis, the network's detected doubling points, diagram agreement).
  :figures holds dlnlab.figure figure data, three per depth (see
  dlnlab.studies.edge-of-stability.figures/figure-names).
  Throws ex-info for an unknown :variant."
  ([] (reproduce {}))
  ([{:keys [variant jobs progress] :or {variant :quick jobs 2}}]
   (let [v (study/variant variants variant)
         opts {:jobs jobs :progress progress}
         t0 (System/nanoTime)
         sections (mapv #(study-depth (assoc setup :depth %) v opts) (:depths v))
         [eos t-eos] (study/timed #(eos-targets-study (assoc setup :steps (:steps v)) opts))
         rows (main-rows sections)]
     {:study :edge-of-stability
      :claim claim
      :variant variant
      :setup setup
      :main {:rows rows :table (study/markdown-table rows main-columns)}
      :checks (checks sections)
      :headline (vec (for [s sections
                           :let [mc (:mode-count s)]]
                       {:depth (:depth s)
                        :thresholds (:thresholds s)
                        :sweep-agree [(:sweep-agree mc) (:sweep-total mc)]
                        :gap-ratio-past-eos (get-in s [:balance-gap :gd-past-eos :gap :ratio])
                        :gap-ratio-below-eos (get-in s [:balance-gap :gd-below-eos :gap :ratio])
                        :flow-max-relative-change (get-in s [:balance-gap :gradient-flow :max-relative-change])
                        :period-doubling (mapv #(select-keys % [:doubling :map-exact :network-detected :network-minus-exact])
                                               (get-in s [:bifurcation :network-thresholds]))
                        :misalignment-onset (select-keys (get-in s [:random-basis :onset]) [:lr-onset :cross-threshold])}))
      :depths (mapv #(dissoc % :figures) sections)
      :eos-targets eos
      :figures (vec (mapcat :figures sections))
      :timing-ms {:total (study/elapsed-ms t0) :eos-targets t-eos
                  :per-depth (mapv #(assoc (:timing-ms %) :depth (:depth %)) sections)}})))

(defn reduced
  "A seconds-long version for the tests (L = 3, `setup`): GD at the claim
  learning rates (3000 steps, recorded every step), gradient flow to t = 8, the
  map's r_4, and the full network's period (6000 steps, rank-one target with
  random singular vectors) at r_4 - 0.03 and r_4 + 0.03.
  Returns {:thresholds [2/S_i ..] :claim [<count row> ..] :flow {:status
  :max-relative-change} :map {:r4 ..} :r-offset 0.03 :network-periods {:below p
  :above p}}."
  []
  (let [cfg (assoc setup :steps 3000 :keep 8 :compare 256)
        rows (count-sweep cfg (claim-learning-rates cfg) {:jobs 2})
        flow (flow-gap (assoc cfg :flow {:time 8.0 :rtol 1e-10 :atol 1e-13}))
        depth (long (:depth cfg))
        r4 (double (:r4 (gd-map/doubling-points depth {:count 2})))
        d 0.03
        bif {:target 10.0 :steps 6000 :period {}}]
    {:thresholds (theory/oscillation-thresholds depth (:targets cfg))
     :claim (mapv #(dissoc % :late-x) rows)
     :flow (select-keys flow [:status :max-relative-change])
     :map {:r4 r4}
     :r-offset d
     :network-periods {:below (network-period cfg bif (- r4 d))
                       :above (network-period cfg bif (+ r4 d))}}))
