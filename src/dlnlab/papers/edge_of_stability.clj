(ns dlnlab.papers.edge-of-stability
  "Reproduction of [EOS] (Ghosh, Kwon, Wang, Ravishankar, Qu, \"Learning Dynamics
  of Deep Linear Networks Beyond the Edge of Stability\", arXiv 2502.20531;
  SCIENCE.md §5-§6): deep matrix factorization trained by gradient descent from
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
            [dlnlab.plot :as plot]
            [dlnlab.sweep :as sweep]
            [dlnlab.task :as task]
            [dlnlab.theory :as theory]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------- theory (SCIENCE.md §5-§6)
;; The formulas come from dlnlab.theory; this section names what the report
;; needs from them: thresholds in learning rate and the doubling points as a map.

(defn- sharpness ^double [depth s] (theory/single-path-sharpness (double s) depth))

(defn thresholds
  "The learning rates 2/S_i, S_i = L s_i^(2-2/L) (dlnlab.theory/single-path-sharpness),
  past which each target mode oscillates (SCIENCE.md §6), in the order of targets.
  Returns a vector of doubles."
  [depth targets]
  (mapv #(/ 2.0 (sharpness depth %)) targets))

(defn cross-threshold
  "2/lambda_ij for the cross direction u_i v_j^T of modes i and j (0-based) at the
  balanced minimum (dlnlab.theory/hessian-eigenvalues-at-minimum, SCIENCE.md §5).
  Returns a double."
  ^double [depth targets i j]
  (/ 2.0 (double (some #(when (and (= i (:i %)) (= j (:j %))) (:value %))
                       (theory/hessian-eigenvalues-at-minimum targets depth)))))

(defn- bisect
  "The root of a sign change of g on [lo hi] (g lo) > 0 > (g hi), to width tol."
  ^double [g ^double lo ^double hi ^double tol]
  (loop [lo lo hi hi]
    (if (<= (- hi lo) tol)
      (* 0.5 (+ lo hi))
      (let [m (* 0.5 (+ lo hi))]
        (if (pos? (double (g m))) (recur m hi) (recur lo m))))))

(def ^:private ^:const feigenbaum-delta 4.66920160910299)

(defn doubling-points
  "The period-doubling points of the per-mode map at depth L as a map
  {:r2 .. :r4 .. :r8 .. ...} from dlnlab.theory/period-doubling-thresholds, plus
  :r-inf, the Feigenbaum extrapolation r_p + (r_p - r_(p/2)) / (delta - 1) of the
  last two, and :zero-crisis (dlnlab.theory/gd-map-zero-crisis).

  Options: :count (5): r_2 .. r_32."
  ([depth] (doubling-points depth {}))
  ([depth {:keys [count] :or {count 5}}]
   (let [rs (theory/period-doubling-thresholds depth {:count count})
         n (clojure.core/count rs)
         m (into {} (map-indexed (fn [k r] [(keyword (str "r" (bit-shift-left 2 (long k)))) r]) rs))]
     (cond-> m
       (>= n 2) (assoc :r-inf (let [a (double (nth rs (- n 2))) b (double (peek rs))]
                                (+ b (/ (- b a) (- feigenbaum-delta 1.0)))))
       true (assoc :zero-crisis (theory/gd-map-zero-crisis depth))))))

;; ---------------------------------------------------------------- experiments as data

(def setup
  "The default setting: depth 3, target singular values 10, 8.5 and 7 on a 3 x 3
  matrix with identity singular vectors, scaled-identity init alpha = 0.1 (last
  layer zero). The targets are spaced so that each count of oscillating modes
  0..3 has an interval of learning rates in which the top mode stays on the map's
  bounded attractor (r_1 = lr S_1 below the zero crisis, about 3.66 for L = 3):
  that needs S_1/S_3 < 3.66/2. The targets of examples/eos-factorization.edn
  (10, 6, 3) have S_1/S_2 = 1.98, so at L = 3 two modes can never oscillate at
  once: the top mode is lost (pi_1 -> 0) first; `reproduce` shows this too."
  {:depth 3
   :targets [10.0 8.5 7.0]
   :alpha 0.1
   :basis :identity
   :seed 7})

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
  "One learning rate inside each interval of the theory's count (SCIENCE.md §6):
  0.85 * 2/S_1 (no mode), the geometric midpoints of [2/S_i, 2/S_(i+1)], and
  min(1.06 * 2/S_n, 0.93 r_c/S_1) above the last threshold, where r_c is the
  map's zero crisis (dlnlab.theory/gd-map-zero-crisis) (for odd L the top mode is lost beyond it; for even L the
  band merely merges with its mirror image, and the cap is only a safe bound).
  Returns a vector of (count targets) + 1 doubles."
  [{:keys [depth targets]}]
  (let [t (thresholds depth targets)
        n (count t)]
    (vec (concat [(* 0.85 (double (first t)))]
                 (for [i (range (dec n))] (Math/sqrt (* (double (nth t i)) (double (nth t (inc (long i)))))))
                 [(min (* 1.06 (double (peek t)))
                       (/ (* 0.93 (theory/gd-map-zero-crisis depth)) (sharpness depth (first targets))))]))))

;; ---------------------------------------------------------------- measurements

(defn- bilinear
  "q^T W p for row-major W and vectors q, p."
  ^double [w q p]
  (reduce + 0.0 (map (fn [row ^double qa] (* qa (double (reduce + 0.0 (map * row p))))) w q)))

(defn- column [m ^long i] (mapv #(nth % i) m))

(defn mode-layer-strengths
  "Per-layer strength of each target mode in the singular-vector stationary form
  of the scaled-identity run ([EOS]): W_l = V diag(a_l) V^T for l < L and
  W_L = U diag(a_L) V^T, so a_(l,i) = v_i^T W_l v_i and a_(L,i) = u_i^T W_L v_i.
  chain-weights is [W_1 ... W_L] (row-major nested, dlnlab.core/weights' form of
  one pathway); u and v the target's singular vectors as columns (row-major
  nested, :target-svd of dlnlab.task). Returns [[a_(l,i) per mode] per layer]."
  [chain-weights u v]
  (let [depth (count chain-weights)
        r (count (first u))]
    (vec (map-indexed (fn [l w]
                        (mapv (fn [^long i]
                                (let [vi (column v i)]
                                  (bilinear w (if (= (inc (long l)) depth) (column u i) vi) vi)))
                              (range r)))
                      chain-weights))))

(defn- mat-mul [a b]
  (let [bt (apply mapv vector b)]
    (mapv (fn [row] (mapv (fn [col] (reduce + 0.0 (map * row col))) bt)) a)))

(defn misalignment
  "How far the end-to-end matrix F = W_L ... W_1 is from the target's singular
  vectors: ||offdiag(U^T F V)||_F / ||U^T F V||_F, with U and V the target's
  singular vectors (columns of u and v, row-major nested; square here). 0 in the
  singular-vector stationary set of the scaled-identity init ([EOS]).
  Returns a double (NaN when the weights are not finite)."
  ^double [chain-weights u v]
  (let [f (reduce (fn [acc w] (mat-mul w acc)) (first chain-weights) (rest chain-weights))
        c (mat-mul (mat-mul (apply mapv vector u) f) v)
        sq (fn [x] (* (double x) (double x)))
        total (double (reduce + 0.0 (map sq (apply concat c))))
        diag (double (reduce + 0.0 (map-indexed (fn [i row] (sq (nth row i))) c)))]
    (Math/sqrt (/ (max 0.0 (- total diag)) total))))

(defn- target-vectors
  "{:u :v} of an experiment's target (its task rebuilt at its seed)."
  [exp]
  (select-keys (:target-svd (task/build-task (:task exp) (:seed exp))) [:u :v]))

(defn- per-mode-gaps
  "a_(L,i)^2 - a_(L-1,i)^2 for each mode from the final weights."
  [weights {:keys [u v]}]
  (let [a (mode-layer-strengths weights u v)
        last-l (peek a) prev (nth a (- (count a) 2))]
    (mapv (fn [x y] (- (* (double x) (double x)) (* (double y) (double y)))) last-l prev)))

(defn- gap-norm
  "One number from a :balance-gap value: the Euclidean norm over every adjacent pair."
  ^double [g]
  (Math/sqrt (double (reduce + 0.0 (map #(* (double %) (double %)) (apply concat g))))))

(defn- late-values
  "The last k recorded values of mode i."
  [result ^long i ^long k]
  (mapv #(nth % i) (take-last k (remove nil? (get-in result [:trajectory :modes])))))

(defn- strength->x
  "x = sign(pi) |pi/s|^(1/L): the map's variable for a mode of strength pi; for
  even L only |x| is defined by pi (the map is odd), so x >= 0 there."
  ^double [^double pi ^double s ^long depth]
  (* (Math/signum pi) (Math/pow (Math/abs (/ pi s)) (/ 1.0 depth))))

(defn- fold
  "x for odd L; |x| for even L (where x and -x give the same strength)."
  ^double [^long depth ^double x]
  (if (even? depth) (Math/abs x) x))

(defn- ks-distance
  "Two-sample Kolmogorov-Smirnov distance sup |F_a - F_b| of two samples."
  ^double [xs ys]
  (let [^doubles a (double-array (sort xs)) ^doubles b (double-array (sort ys))
        na (alength a) nb (alength b)]
    (loop [i 0 j 0 d 0.0]
      (if (or (== i na) (== j nb))
        d
        (let [x (min (aget a i) (aget b j))
              i (long (loop [i i] (if (and (< i na) (<= (aget a i) x)) (recur (inc i)) i)))
              j (long (loop [j j] (if (and (< j nb) (<= (aget b j) x)) (recur (inc j)) j)))]
          (recur i j (max d (Math/abs (- (/ (double i) na) (/ (double j) nb))))))))))

(defn exact-period
  "The smallest p in 1..max-p with |x_(t+p) - x_t| <= tol max(1, |x_t|) over the
  last 3p values of xs (every p, not only powers of two: periodic windows inside
  chaos have periods 3, 5, 6, ...), or nil."
  [xs max-p tol]
  (let [v (vec xs) n (count v) tol (double tol)]
    (first (for [p (range 1 (inc (long max-p)))
                 :let [p (long p)]
                 :when (and (< (* 3 p) n)
                            (every? (fn [^long t]
                                      (let [a (double (v t))]
                                        (<= (Math/abs (- (double (v (+ t p))) a)) (* tol (max 1.0 (Math/abs a))))))
                                    (range (- n (* 4 p)) (- n p))))]
             p))))

(defn map-agreement
  "How the late values xs (x of one mode, `fold`ed) of a network run at r compare
  with the per-mode map at r. When xs repeat with a period p <= 64
  (`exact-period`, tolerance 1e-7): the largest distance from a value to the
  map's own p-cycle (dlnlab.theory/gd-map-cycle after 10^5 transient steps). Otherwise (chaos,
  or not yet settled): the Kolmogorov-Smirnov distance to 20000 values of a map
  orbit, the same distance for (count xs) values of a second map orbit (a control
  for the sample size), and the fraction of xs outside the orbit's band [min,
  max] widened by 1e-9.
  Returns {:r :period p :max-distance d} or {:r :period nil :ks d :ks-control d
  :outside-band f}."
  [depth r xs]
  (let [depth (long depth) r (double r)
        p (exact-period xs 64 1e-7)]
    (if p
      (let [c (theory/gd-map-cycle r depth p {:transient 100000})
            pts (map #(fold depth (double %)) (:points c))]
        {:r r :period p
         :max-distance (if c
                         (reduce max 0.0 (for [x xs] (reduce min (map #(Math/abs (- (double x) (double %))) pts))))
                         Double/NaN)})
      (let [orbit (mapv #(fold depth (double %)) (theory/gd-map-orbit r depth 0.9 10000 20000))
            control (mapv #(fold depth (double %)) (theory/gd-map-orbit r depth 0.7 10000 (count xs)))
            lo (- (double (reduce min orbit)) 1e-9) hi (+ (double (reduce max orbit)) 1e-9)]
        {:r r :period nil
         :ks (ks-distance xs orbit)
         :ks-control (ks-distance control orbit)
         :outside-band (/ (double (count (remove #(<= lo (double %) hi) xs))) (count xs))}))))

(defn- elapsed-ms ^double [^long t0] (/ (- (System/nanoTime) t0) 1e6))

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
  SCIENCE.md §4). cfg: `setup` keys plus :flow {:time :rtol :atol :grid}
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
        t (thresholds depth targets)
        n (atom 0)
        lost? (fn [lr]
                (swap! n inc)
                (let [res (experiment/run (factorization-experiment (assoc cfg :lr lr :metrics [:loss])))
                      vecs (target-vectors (:experiment res))]
                  (or (not= :completed (:status res))
                      (let [m (misalignment (first (get-in res [:final :weights])) (:u vecs) (:v vecs))]
                        (not (< m 1e-6))))))
        lo (* 1.01 (double (first t))) hi (* 0.99 (double (second t)))
        cross (cross-threshold depth targets 0 1)]
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
  (analysis/period (theory/gd-map-orbit r depth (:x0 bif 0.5) 0 (:steps bif)) (:period bif {})))

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
        mp (map #(* s (Math/pow (double %) depth)) (theory/gd-map-orbit r depth x0 0 (inc steps)))]
    {:r r :steps steps :x0 x0
     :max-abs-diff-over-s (/ (double (reduce max 0.0 (map #(Math/abs (- (double %1) (double %2))) net mp))) s)}))

;; ---------------------------------------------------------------- figures (dlnlab.plot figure data)

(defn- depth-name [depth suffix] (keyword (str "L" depth "-" suffix)))

(defn- theory-steps
  "The polyline of the theory's count #{i : lr > 2/S_i} over [lo, hi]: flat
  between the thresholds, a vertical step at each one."
  [thresholds ^double lo ^double hi]
  (let [inside (filter #(< lo (double %) hi) thresholds)
        below (count (filter #(<= (double %) lo) thresholds))]
    (vec (concat [[lo below]]
                 (mapcat (fn [t k] [[t k] [t (inc (long k))]]) inside (iterate inc below))
                 [[hi (+ below (count inside))]]))))

(defn- count-figure
  "Raw figure data: the measured number of oscillating modes of each sweep row
  against lr, the theory's step curve and the thresholds 2/S_i."
  [{:keys [depth targets rows]}]
  (let [t (thresholds depth targets)
        lrs (map #(double (:lr %)) rows)]
    {:name (depth-name depth "oscillating-modes")
     :title (str "Oscillating modes vs learning rate (L = " depth ", s = " targets ")")
     :subtitle "dashed: the thresholds 2/S_i, S_i = L s_i^(2-2/L) (SCIENCE.md §6 [EOS])"
     :x {:title "learning rate η" :log? false}
     :y {:title "oscillating modes" :log? false :zero? true}
     :panels [{:title nil
               :layers (into [{:mark :line :series "theory #{i : η > 2/S_i}" :color 0
                               :points (theory-steps t (apply min lrs) (apply max lrs))}
                              {:mark :point :series "measured (dlnlab.analysis)" :color 1
                               :points (vec (for [r rows :when (:measured r)] [(:lr r) (:measured r)]))}]
                             (map-indexed (fn [i x] {:mark :x-rule :series (str "2/S_" (inc (long i))) :color (+ 2 (long i))
                                                     :dash [4 4] :x x})
                                          t))}]}))

(defn- gap-figure
  "Raw figure data: the balance gap against time lr x steps for each labelled
  run, [[label [[time gap] ...]] ...]."
  [{:keys [depth series]}]
  {:name (depth-name depth "balance-gap")
   :title (str "Balance gap vs time (L = " depth ")")
   :subtitle "gap = sqrt(Σ_l ||W_(l+1)^T W_(l+1) - W_l W_l^T||^2); time = η × steps"
   :x {:title "time (η × steps)" :log? false}
   :y {:title "balance gap" :log? true}
   :panels [{:title nil
             :layers (vec (map-indexed (fn [i [label pts]] {:mark :line :series label :color i :points (vec pts)})
                                       series))}]})

(defn- bifurcation-figure
  "Raw figure data: late x = (pi/s)^(1/L) against r = lr S_i for the per-mode map
  (map-rows [{:r :xs}]) and the network's modes (net-rows [{:r :xs :mode}]),
  with the map's period-doubling points and zero crisis (pd) as vertical lines."
  [{:keys [depth map-rows net-rows pd]}]
  (let [modes (sort (distinct (map :mode net-rows)))]
    {:name (depth-name depth "bifurcation")
     :title (str "Period doubling: late x = (π/s)^(1/L) vs r = η S_i (L = " depth ")")
     :subtitle (str "dashed: the map's period-doubling points and zero crisis"
                    (when (even? (long depth)) "; |x| for even L"))
     :x {:title "r = η S_i" :log? false}
     :y {:title "late x" :log? false}
     :panels [{:title nil
               :layers (vec (concat
                             [{:mark :point :series "per-mode map" :color 0
                               :points (vec (for [{:keys [r xs]} map-rows x xs] [r x]))}]
                             (for [m modes]
                               {:mark :point :series (str "network, mode " (inc (long m))) :color (inc (long m))
                                :points (vec (for [{:keys [r xs mode]} net-rows :when (= mode m) x xs] [r x]))})
                             (for [k [:r2 :r4 :r8 :r16 :r32 :r-inf :zero-crisis] :when (get pd k)]
                               {:mark :x-rule :series "the map's r_2, r_4, ..., r_∞, zero crisis" :color "#888888"
                                :dash [4 4] :x (get pd k)})))}]}))

(defmethod plot/build-figure :eos-oscillating-modes [_ data _] (count-figure data))
(defmethod plot/build-figure :eos-balance-gap [_ data _] (gap-figure data))
(defmethod plot/build-figure :eos-bifurcation [_ data _] (bifurcation-figure data))

(def figure-names
  "The figures this namespace adds to dlnlab.plot/build-figure, each named
  L<depth>-<kind> in a report: :eos-oscillating-modes ({:depth :targets :rows
  [count row ...]}), :eos-balance-gap ({:depth :series [[label [[time gap]
  ...]] ...]}), :eos-bifurcation ({:depth :map-rows :net-rows :pd})."
  [:eos-oscillating-modes :eos-balance-gap :eos-bifurcation])

;; ---------------------------------------------------------------- variants and the report

(def variants
  "What `reproduce` runs for each :variant.
  :quick (default; well under a minute on 2 cores): L = 3; the claim learning
  rates and a 30-point learning-rate sweep, 6000 GD steps each recorded every
  step; gradient flow over the time span of the slowest GD run; random singular vectors at the claim learning
  rates and the onset of misalignment (20000 steps, to 1e-4 in lr); the map's
  period-doubling points to r_32 and its zero crisis; the network's r_4 and r_8
  by bisection on 20000-step runs to 2e-4 in r.
  :full (about a minute on 2 cores): the same for L = 2, 3 and 4 with 60 sweep points of
  20000 steps, 40000-step bisections for r_4, r_8 and r_16 to 5e-5, and three
  random-basis seeds."
  {:quick {:depths [3] :sweep-points 30 :steps 6000 :keep 32 :compare 512 :random-seeds [7]
           :flow {:rtol 1e-10 :atol 1e-13 :grid 200}
           :onset {:steps 20000 :tol 1e-4}
           :bifurcation {:target 10.0 :steps 20000 :x0 0.5 :levels [2 4] :tol 2e-4 :period {}}
           :map-diagram {:points 220 :keep 48}}
   :full {:depths [2 3 4] :sweep-points 60 :steps 20000 :keep 32 :compare 1024 :random-seeds [7 8 9]
          :flow {:rtol 1e-10 :atol 1e-13 :grid 200}
          :onset {:steps 40000 :tol 2e-5}
          :bifurcation {:target 10.0 :steps 40000 :x0 0.5 :levels [2 4 8] :tol 5e-5 :period {}}
          :map-diagram {:points 300 :keep 48}}})

(defn- sweep-lrs
  "n learning rates from 0.75 * 2/S_1 to min(1.1 * 2/S_n, 0.95 r_c/S_1), evenly spaced."
  [{:keys [depth targets]} ^long n]
  (let [t (thresholds depth targets)
        lo (* 0.75 (double (first t)))
        hi (min (* 1.1 (double (peek t))) (/ (* 0.95 (theory/gd-map-zero-crisis depth)) (sharpness depth (first targets))))]
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
        t (thresholds 3 (:targets c))
        lrs [(* 0.85 (double (first t))) (Math/sqrt (* (double (first t)) (double (second t))))
             (* 1.06 (double (second t)))]
        rows (count-sweep c lrs opts)]
    {:targets (:targets c) :depth 3 :thresholds t
     :zero-crisis (theory/gd-map-zero-crisis 3)
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
        t-count (elapsed-ms t0)
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
        t-gap (elapsed-ms t1)
        ;; 3. random singular vectors
        _ (note :random-basis)
        t2 (System/nanoTime)
        random-rows (vec (for [seed (:random-seeds v)]
                           {:seed seed
                            :rows (mapv row-table (count-sweep (assoc cfg :basis :random :seed seed) claim-lrs opts))}))
        onset (cross-onset (merge cfg {:basis :random} (:onset v)) (:tol (:onset v)))
        t-random (elapsed-ms t2)
        ;; 4. bifurcation
        _ (note :bifurcation)
        t3 (System/nanoTime)
        pd (doubling-points depth)
        crisis (double (:zero-crisis pd))
        md (:map-diagram v)
        map-rows (vec (for [k (range (:points md))
                            :let [r (+ 1.8 (* (- crisis 1.8) (/ (double k) (dec (long (:points md))))))]]
                        {:r r :xs (mapv #(fold depth (double %)) (theory/gd-map-orbit r depth 0.9 3000 (:keep md)))}))
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
        t-bif (elapsed-ms t3)]
    {:depth depth
     :targets (:targets cfg)
     :sharpness (mapv #(sharpness depth %) (:targets cfg))
     :thresholds (thresholds depth (:targets cfg))
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
                           {:modes [i j] :lr (cross-threshold depth (:targets cfg) i j)}))
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
     :figures [(plot/figure :eos-oscillating-modes {:depth depth :targets (:targets cfg) :rows sweep-rows})
               (plot/figure :eos-balance-gap {:depth depth :series gap-series})
               (plot/figure :eos-bifurcation {:depth depth :map-rows map-rows :net-rows net-rows :pd pd})]
     :timing-ms {:mode-count t-count :balance-gap t-gap :random-basis t-random :bifurcation t-bif}}))

(def claim
  "The claim being reproduced, in words."
  (str "[EOS] (SCIENCE.md §6): with gradient descent from the scaled-identity initialization, "
       "mode i of deep matrix factorization oscillates exactly when lr > 2/S_i, S_i = L s_i^(2-2/L), "
       "so the number of oscillating modes is #{i : lr > 2/S_i}; past the edge of stability the "
       "balancing gap between layers decays to zero while gradient flow conserves it; a mode's late "
       "values follow the per-mode map x <- x - (r/L) x^(L-1) (x^L - 1), r = lr S_i, through a 2-cycle "
       "(2 < r < r_4(L)) and a period-doubling cascade into chaos, for the map and the full network alike."))

(defn reproduce
  "Runs the [EOS] reproduction and returns its report as plain data.

  Options: :variant (:quick, or :full: see `variants`); :jobs (2) parallel runs in
  sweeps; :progress (fn [{:stage :depth ..}]) told about each stage and each
  finished sweep point.
  Returns {:claim :variant :setup :summary :depths [section ...] :eos-targets
  :figures :timing-ms}. A depth section holds :mode-count (claim and sweep rows: lr, r_i =
  lr S_i, predicted and measured counts, mode periods, gaps, misalignment),
  :balance-gap (GD below and past the edge of stability, gradient flow),
  :random-basis (claim learning rates with random singular vectors, the onset of
  misalignment vs 2/lambda_12) and :bifurcation (the map's r_4, r_8, ..., r-inf
  and zero crisis, the network's detected doubling points, diagram agreement).
  :figures holds dlnlab.plot figure data, three per depth (L<depth>-oscillating-modes,
  -balance-gap, -bifurcation; see `figure-names`); dlnlab.plot/write-figure-data! draws them.
  Throws ex-info for an unknown :variant."
  ([] (reproduce {}))
  ([{:keys [variant jobs progress] :or {variant :quick jobs 2}}]
   (let [v (or (get variants variant)
               (throw (ex-info (str "Option :variant is " (pr-str variant) "; allowed are :quick and :full.")
                               {:path [:variant] :value variant :allowed (set (keys variants))})))
         opts {:jobs jobs :progress progress}
         t0 (System/nanoTime)
         sections (mapv #(study-depth (assoc setup :depth %) v opts) (:depths v))
         t-eos (System/nanoTime)
         eos (eos-targets-study (assoc setup :steps (:steps v)) opts)
         t-eos (elapsed-ms t-eos)]
     {:claim claim
      :variant variant
      :setup setup
      :summary (vec (for [s sections
                          :let [mc (:mode-count s)]]
                      {:depth (:depth s)
                       :thresholds (:thresholds s)
                       :claim-lrs (mapv #(select-keys % [:lr :predicted :measured]) (:claim mc))
                       :claim-lrs-agree [(:claim-agree mc) (count (:claim mc))]
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
      :timing-ms {:total (elapsed-ms t0) :eos-targets t-eos
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
        r4 (double (:r4 (doubling-points depth {:count 2})))
        d 0.03
        bif {:target 10.0 :steps 6000 :period {}}]
    {:thresholds (thresholds depth (:targets cfg))
     :claim (mapv #(dissoc % :late-x) rows)
     :flow (select-keys flow [:status :max-relative-change])
     :map {:r4 r4}
     :r-offset d
     :network-periods {:below (network-period cfg bif (- r4 d))
                       :above (network-period cfg bif (+ r4 d))}}))
