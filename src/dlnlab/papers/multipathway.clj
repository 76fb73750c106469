(ns dlnlab.papers.multipathway
  "Reproduces the headline of [MP] (SCIENCE.md §5): in a deep linear network of
  K parallel pathways of depth L, gradient descent with a small learning rate
  (or gradient flow) from small initialization puts each target mode in
  essentially one pathway (winner-takes-all, as the conserved quantity
  pi_k^(-(L-2)/L) - pi_j^(-(L-2)/L) of the balanced pathway flow predicts),
  while a learning rate inside the re-balancing window
  2/S_single < lr < 2/S_split makes the single-path minimum unstable:
  edge-of-stability oscillations move the solution toward balanced shares until
  the sharpness sits just below 2/lr.

  The experiments are matrix factorizations of a target with one mode (s = 1,
  1 x 1) or two modes, :multi-pathway networks of width 2, initialized
  :pathway-split (balanced and aligned, small total strength, unequal shares),
  swept over the learning rate for several (L, K); a Gaussian small
  initialization over a few seeds checks that nothing depends on the aligned
  start. `reproduce` runs them and returns a plain-data report (claim, measured
  tables, theory beside them, checks, figure data, timings); dlnlab.plot/write-figure-data!
  draws its :figures (SVG/PNG and Vega-Lite JSON); `reduced` is a seconds-long
  version for the tests.

  Theory (SCIENCE.md §5): dlnlab.theory gives the sharpness formulas, the
  window and the winner-takes-all split; this namespace adds `window` (the
  theory window with :empty?), `edge-split` (the split a window learning rate
  ends at; our derivation for K > 2, see its docstring) and `plateau-strength`
  (the initial strength for a given plateau time)."
  (:refer-clojure :exclude [reduced])
  (:require [clojure.string :as str]
            [dlnlab.experiment :as experiment]
            [dlnlab.metrics :as metrics]
            [dlnlab.network :as network]
            [dlnlab.plot :as plot]
            [dlnlab.sweep :as sweep]
            [dlnlab.theory :as theory]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------- theory (SCIENCE.md §5)

(defn- fail! [msg path value allowed]
  (throw (ex-info msg {:path path :value value :allowed allowed})))

(defn- check-depth! [L]
  (when-not (and (integer? L) (>= (long L) 2))
    (fail! (str "Depth L is " (pr-str L) "; the pathway formulas need an integer L >= 2.")
           [:depth] L "an integer >= 2")))

(defn- check-positive! [path x]
  (when-not (and (number? x) (Double/isFinite (double x)) (pos? (double x)))
    (fail! (str (pr-str path) " is " (pr-str x) "; it must be a positive finite number.")
           path x "a positive finite number")))

(defn window
  "The re-balancing window of one mode of strength s over K pathways of depth L,
  dlnlab.theory/rebalancing-window (SCIENCE.md §5 [MP]) with :empty? added.
  Returns {:lr-min 2/S_single :lr-max 2/S_split :sharpness-single S_single
  :sharpness-split S_split :empty? (lr-max <= lr-min: L = 2 or K = 1)}.
  Throws ex-info (from dlnlab.theory) for L < 1, s <= 0 or K < 1."
  [L s K]
  (let [{:keys [lr-min lr-max] :as w} (theory/rebalancing-window s K L)]
    (assoc w :empty? (<= (double lr-max) (* (double lr-min) (+ 1.0 1e-12))))))

(defn- bisect
  "The root of the increasing function f on [lo, hi] (f(lo) <= 0 <= f(hi)), to
  machine precision."
  ^double [f ^double lo ^double hi]
  (loop [lo lo hi hi i 0]
    (let [mid (* 0.5 (+ lo hi))]
      (if (or (>= i 200) (<= (- hi lo) (* 4.0 (Math/ulp mid))))
        mid
        (if (<= (double (f mid)) 0.0) (recur mid hi (inc i)) (recur lo mid (inc i)))))))

(defn edge-split
  "The split of one mode of strength s over K pathways of depth L at which GD
  with learning rate lr ends after edge-of-stability re-balancing: the split
  whose sharpness L sum_k pi_k^(2-2/L) equals 2/lr (SCIENCE.md §5 [MP]).

  For K = 2 that split is unique. For K > 2 we add an assumption of ours,
  checked against the simulations here: the oscillations cut the largest
  pathways down first, so the split has m equal leading pathways of share q, one
  pathway with the rest 1 - m q <= q and the others at zero (water-filling from
  the top), m the smallest count for which such a split reaches sharpness 2/lr.
  From small initialization, where winner-takes-all has already made the losing
  pathways very unequal, the simulations follow it to about 0.02; from near the
  single-path minimum with comparable losers (L = 3) several losers grow
  together and the dominant share ends higher: for K > 2 only the sharpness is
  a firm prediction.
  Returns {:regime r :shares [share per pathway, descending] :dominant-share q
  :active m}, r one of :single (lr <= 2/S_single: the single-path minimum is
  stable, shares nil; see dlnlab.theory/winner-takes-all-split), :split (inside
  the window) and :no-stable-split (lr >= 2/S_split or an empty window: shares nil).
  Throws ex-info for L < 2, s <= 0, K < 1 or lr <= 0."
  [L s K lr]
  (check-depth! L) (check-positive! [:lr] lr)
  (let [{:keys [lr-min lr-max empty?]} (window L s K)
        lr (double lr)
        beta (- 2.0 (/ 2.0 (double L)))
        ;; normalized target: sum_k share_k^beta = T
        T (/ 2.0 (* lr (theory/single-path-sharpness s L)))]
    (cond
      (<= lr (double lr-min)) {:regime :single :shares nil :dominant-share nil :active 1}
      (or empty? (>= lr (double lr-max))) {:regime :no-stable-split :shares nil :dominant-share nil :active nil}
      :else
      (let [K (long K)
            m (long (or (first (filter (fn [^long m] (>= T (Math/pow (double (inc m)) (- 1.0 beta)))) (range 1 K)))
                        (dec K)))
            f (fn [^double q] (- (+ (* m (Math/pow q beta)) (Math/pow (max 0.0 (- 1.0 (* m q))) beta)) T))
            q (bisect f (/ 1.0 (double (inc m))) (/ 1.0 (double m)))
            rest (max 0.0 (- 1.0 (* m q)))]
        {:regime :split
         :shares (vec (concat (repeat m q) [rest] (repeat (- K m 1) 0.0)))
         :dominant-share q
         :active (if (pos? rest) (inc m) m)}))))

(defn plateau-strength
  "The initial total strength pi_0 of a mode of strength s whose gradient-flow
  learning time from small initialization is about t0 (SCIENCE.md §4):
  pi_0^(-(1-2/L)) / ((L-2) s) = t0 for L > 2 and ln(s/pi_0)/(2s) = t0 for L = 2,
  the inverse of dlnlab.theory/learning-time with :method :asymptotic.
  Returns a double. Throws ex-info for L < 2 or s, t0 not positive."
  ^double [L s t0]
  (check-depth! L) (check-positive! [:s] s) (check-positive! [:t0] t0)
  (let [L (long L) s (double s) t0 (double t0)]
    (if (= L 2)
      (* s (Math/exp (- (* 2.0 s t0))))
      (Math/pow (* (double (- L 2)) s t0) (- (/ (double L) (double (- L 2))))))))

;; ---------------------------------------------------------------- experiments as data

(defn default-shares
  "Initial shares of one mode over K pathways, largest first: [0.6 0.4] (K = 2),
  [0.5 0.3 0.2], [0.4 0.3 0.2 0.1]; for other K proportional to K, K-1, ..., 1."
  [K]
  (case (long K)
    1 [1.0]
    2 [0.6 0.4]
    3 [0.5 0.3 0.2]
    4 [0.4 0.3 0.2 0.1]
    (let [w (mapv double (range K 0 -1)) t (double (reduce + w))] (mapv #(/ (double %) t) w))))

(def base-config
  "The configuration of one (L, K) experiment family (keys of `experiment`):
  target singular values [1.0] (a 1 x 1 target), width 2, :pathway-split init
  of total strength `plateau-strength` for a plateau time of 50 and the
  `default-shares`, learning-rate grid of `lr-grid`, at most 200000 GD steps,
  stopped once the loss is below 1e-24."
  {:depth 3 :pathways 2 :targets [1.0] :width 2 :plateau-time 50.0
   :init :pathway-split :seed 1 :max-steps 200000 :loss-below 1e-24
   :record-every 100})

(defn init-strengths
  "Total initial strength pi_0 of each target mode under the config: :strengths
  when given, else for every mode `plateau-strength` of the largest target s_1
  at :plateau-time (one initial scale for all modes, so smaller modes are
  learned later, SCIENCE.md §4)."
  [{:keys [depth targets plateau-time strengths]}]
  (or strengths (vec (repeat (count targets) (plateau-strength depth (apply max targets) plateau-time)))))

(defn config-shares
  "Initial shares [[share of mode i ...] per pathway] of a config: :shares when
  given, else `default-shares` for every mode."
  [{:keys [pathways targets shares]}]
  (or shares (let [d (default-shares pathways)] (mapv (fn [sh] (vec (repeat (count targets) sh))) d))))

(defn experiment
  "The experiment map of config cfg trained with optimizer (an :optimizer map,
  e.g. {:kind :gd :lr 0.1} or {:kind :gradient-flow}).

  Options in cfg (defaults from `base-config`): :depth (3) L; :pathways (2) K;
  :targets ([1.0]) the singular values of a diagonal target; :width (2);
  :init (:pathway-split: balanced and aligned, `init-strengths` split by
  `config-shares`, which read :strengths, :shares and :plateau-time (50.0); or
  an init map such as {:kind :gaussian :std 0.003}); :seed (1); :max-steps
  (200000) and :loss-below (1e-24) for GD; :flow-time (20 + 4 t0 s_1/s_min,
  t0 the plateau time) for gradient flow, recorded on 400 grid points;
  :record-every (100); :trace? (false) records shares, modes and sharpness
  every 5 steps (sharpness every 50) for the trajectory figures.
  Returns the experiment map for dlnlab.experiment/run."
  [cfg optimizer]
  (let [{:keys [depth pathways targets width init seed max-steps loss-below plateau-time
                flow-time record-every trace?]} (merge base-config cfg)
        flow? (= :gradient-flow (:kind optimizer))
        steps (long max-steps)
        init-map (if (= init :pathway-split)
                   {:kind :pathway-split :strengths (init-strengths (merge base-config cfg))
                    :shares (config-shares (merge base-config cfg))}
                   init)]
    (cond-> {:seed seed
             :model {:kind :multi-pathway :pathways pathways :depth depth :width width :init init-map}
             :task {:kind :matrix-factorization :singular-values (vec targets)}
             :optimizer optimizer
             :record (if trace?
                       {:every 5 :metrics [:loss :modes :pathway-shares :sharpness]
                        :sharpness {:every 50 :tol 1e-6} :final-weights true}
                       {:every (long record-every) :metrics [:loss :modes :pathway-shares]
                        :final-weights true})}
      flow? (assoc :time (double (or flow-time
                                      (+ 20.0 (* 4.0 (double plateau-time)
                                                 (/ (double (apply max targets)) (double (apply min targets)))))))
                   :steps 400)
      (not flow?) (assoc :steps steps :stop {:loss-below loss-below}))))

(defn lr-grid
  "Learning rates for one (L, K) family with target s, placed against the window
  (`window`): :below fractions of 2/S_single, :inside points at
  fractions of the way from 2/S_single to 2/S_split, :above multiples of
  2/S_split. An empty window (L = 2) gets :below and :above only.
  Options: :below ([0.05 0.3 0.6 0.9]), :inside ([0.1 0.3 0.5 0.7 0.9]),
  :above ([1.05 1.25]).
  Returns [{:lr :place (:below | :inside | :above) :fraction f} ...] ascending."
  ([L s K] (lr-grid L s K {}))
  ([L s K {:keys [below inside above] :or {below [0.05 0.3 0.6 0.9] inside [0.1 0.3 0.5 0.7 0.9] above [1.05 1.25]}}]
   (let [{:keys [lr-min lr-max empty?]} (window L s K)
         lo (double lr-min) hi (double lr-max)]
     (vec (concat (for [f below] {:lr (* lo (double f)) :place :below :fraction f})
                  (when-not empty? (for [f inside] {:lr (+ lo (* (double f) (- hi lo))) :place :inside :fraction f}))
                  (for [f above] {:lr (* hi (double f)) :place :above :fraction f}))))))

;; ---------------------------------------------------------------- measuring a run

(defn- final-network
  "The network of a result's experiment at its final weights."
  [result]
  (network/set-weights (network/network (:experiment result)) (get-in result [:final :weights])))

(defn- dominant [shares] (when (seq shares) (double (apply max shares))))

(defn- recorded-rows [traj k]
  (filterv (comp some? second) (map vector (:step traj) (get traj k) (:modes traj))))

(defn strengths-at
  "Per-mode, per-pathway strengths [[c_k per pathway] per mode], c_k = share_k x
  mode strength, at the first recorded row of result whose mode-i strength
  reaches fraction x s_i (for every mode, each at its own row); nil for a mode
  that never gets there or whose shares were not defined."
  [result targets fraction]
  (let [traj (:trajectory result)
        rows (recorded-rows traj :pathway-shares)]
    (vec (map-indexed
          (fn [i s]
            (some (fn [[_ shares modes]]
                    (let [m (nth modes i nil) sh (nth shares i nil)]
                      (when (and m sh (>= (double m) (* (double fraction) (double s))))
                        (mapv #(* (double %) (double m)) sh))))
                  rows))
          targets))))

(defn summarize
  "Measured and predicted numbers of one finished run of config cfg.
  Final shares, mode strengths and sharpness are computed from the final weights
  (metrics/pathway-shares, metrics/modes, metrics/sharpness at tol 1e-10), so
  they do not depend on the record cadence. :status is :diverged, :converged
  (final loss below 1e-12), :not-learned (loss above half the loss of the zero
  network, 1/4 sum s_i^2: the run sits at or was thrown back to the saddle at the
  origin) or :oscillating. Per mode: :dominant-share (largest final share), the window,
  :regime (:below, :inside or :above the window, or :flow) and the predictions:
  :wta-share (dlnlab.theory/winner-takes-all-split of the initial strengths: the
  :pathway-split strengths, or for a Gaussian init the strengths when the mode
  first reaches 2% of s), :edge-share (`edge-split`), and :predicted-share, the
  one that applies to the regime (nil above the window).
  :formula-sharpness is the largest over modes of
  dlnlab.theory/multi-pathway-sharpness of the final per-pathway strengths, to
  set beside the measured (Lanczos) one at a minimum.
  Returns a map of plain data."
  [cfg result]
  (let [cfg (merge base-config cfg)
        {:keys [depth pathways targets]} cfg
        lr (get-in result [:experiment :optimizer :lr])
        flow? (nil? lr)
        diverged? (= :diverged (:status result))
        net (when-not diverged? (final-network result))
        loss (if net (metrics/loss net) Double/NaN)
        shares (when net (metrics/pathway-shares net))
        modes (when net (metrics/modes net))
        sharp (when net (metrics/sharpness net {:tol 1e-10}))
        ;; the loss of the zero network is 1/2 sum s_i^2
        zero-loss (* 0.5 (double (reduce + 0.0 (map #(* (double %) (double %)) targets))))
        status (cond diverged? :diverged
                     (< loss 1e-12) :converged
                     (> loss (* 0.5 zero-loss)) :not-learned
                     :else :oscillating)
        init0 (if (= :pathway-split (:init cfg))
                (let [pis (init-strengths cfg) sh (config-shares cfg)]
                  (vec (map-indexed (fn [i pi] (mapv #(* (double pi) (double (nth % i))) sh)) pis)))
                (strengths-at result targets 0.02))]
    {:depth depth :pathways pathways :optimizer (if flow? :gradient-flow :gd) :lr lr
     :two-over-lr (when lr (/ 2.0 (double lr)))
     :status status :steps (get-in result [:final :step]) :final-loss loss
     :final-sharpness sharp
     :formula-sharpness (when (and shares modes (every? some? shares))
                          (apply max (map (fn [sh m] (theory/multi-pathway-sharpness (map #(max 0.0 (* (double %) (double m))) sh) depth))
                                          shares modes)))
     :elapsed-ms (get-in result [:meta :elapsed-ms])
     :modes
     (vec (map-indexed
           (fn [i s]
             (let [w (window depth s pathways)
                   regime (cond flow? :flow
                                (<= (double lr) (double (:lr-min w))) :below
                                (or (:empty? w) (>= (double lr) (double (:lr-max w)))) :above
                                :else :inside)
                   c0 (nth init0 i nil)
                   wta (when (and c0 (every? #(pos? (double %)) c0))
                         (let [f (theory/winner-takes-all-split c0 s depth)] (mapv #(/ (double %) (double s)) f)))
                   edge (when lr (edge-split depth s pathways lr))
                   sh (nth shares i nil)]
               {:s s :window w :regime regime
                :final-shares sh :dominant-share (dominant sh)
                :winner (when sh (first (apply max-key second (map-indexed vector sh))))
                :strength (nth modes i nil)
                :initial-strengths c0
                :wta-shares wta :wta-share (dominant wta)
                :edge-shares (:shares edge) :edge-share (:dominant-share edge)
                :predicted-share (case regime
                                   (:flow :below) (dominant wta)
                                   :inside (:dominant-share edge)
                                   :above nil)}))
           targets))}))

;; ---------------------------------------------------------------- families of runs

(defn run-family
  "Runs config cfg (see `experiment`) with GD over its `lr-grid` and, when
  :flow? (true), with gradient flow, and summarizes every run (`summarize`).
  Options: :jobs (1) parallel runs; :grid (options of `lr-grid`); :flow? (true);
  :progress (fn [{:family [L K] :done n :total m}]) called after each run.
  Returns {:depth L :pathways K :targets [s ...] :window (of mode 1)
  :initial-shares [...] :runs [summary ...]} with the gradient-flow run first,
  then the GD runs by ascending lr, each with :place and :fraction from the grid."
  [cfg {:keys [jobs grid flow? progress] :or {jobs 1 flow? true}}]
  (let [cfg (merge base-config cfg)
        {:keys [depth pathways targets]} cfg
        s1 (double (first targets))
        points (lr-grid depth s1 pathways (or grid {}))
        total (+ (count points) (if flow? 1 0))
        done (atom 0)
        tick! (fn [] (when progress (progress {:family [depth pathways] :done (swap! done inc) :total total})))
        flow-run (when flow?
                   (let [r (experiment/run (experiment cfg {:kind :gradient-flow}))]
                     (tick!)
                     (assoc (summarize cfg r) :place :flow :fraction nil)))
        results (sweep/sweep (experiment cfg {:kind :gd :lr (:lr (first points))})
                             {[:optimizer :lr] (mapv :lr points)}
                             {:jobs jobs :seeds :shared :on-result (fn [_ _ _] (tick!))})
        gd-runs (mapv (fn [p r]
                        (if (= :failed (:status r))
                          (fail! (str "A run of the [MP] family L = " depth ", K = " pathways " at lr " (:lr p)
                                      " failed: " (:error r))
                                 [:lr] (:lr p) "a run that completes")
                          (assoc (summarize cfg r) :place (:place p) :fraction (:fraction p))))
                      points results)]
    {:depth depth :pathways pathways :targets (vec targets)
     :window (window depth s1 pathways)
     :initial-shares (config-shares cfg)
     :runs (vec (concat (when flow-run [flow-run]) gd-runs))}))

(defn table-rows
  "The rows of a family's table for mode i (default 0): one map per run with
  :optimizer :lr :lr-ratio (lr x S_single / 2) :place :fraction :status :dominant-share
  :predicted-share :wta-share :edge-share :final-sharpness :two-over-lr
  :lr-min :lr-max :final-loss :steps :elapsed-ms."
  ([family] (table-rows family 0))
  ([family i]
   (mapv (fn [r]
           (let [m (nth (:modes r) i)
                 w (:window m)]
             {:optimizer (:optimizer r) :lr (:lr r)
              :lr-ratio (when (:lr r) (/ (double (:lr r)) (double (:lr-min w))))
              :place (:place r) :fraction (:fraction r) :status (:status r)
              :dominant-share (:dominant-share m) :final-shares (:final-shares m)
              :predicted-share (:predicted-share m) :wta-share (:wta-share m) :edge-share (:edge-share m)
              :final-sharpness (:final-sharpness r) :two-over-lr (:two-over-lr r)
              :lr-min (:lr-min w) :lr-max (:lr-max w)
              :final-loss (:final-loss r) :steps (:steps r) :elapsed-ms (:elapsed-ms r)}))
         (:runs family))))

;; ---------------------------------------------------------------- figure data

(defn- log-space [^double a ^double b ^long n]
  (mapv (fn [^long i] (* a (Math/pow (/ b a) (/ (double i) (double (dec n)))))) (range n)))

(defn theory-share
  "The predicted dominant share of one mode at learning rate lr: wta-share (the
  gradient-flow prediction, dlnlab.theory/winner-takes-all-split) at or below
  2/S_single, the `edge-split` share inside the window, 1/K (an equal split,
  oscillating) above it. Returns a double."
  [L s K lr wta-share]
  (let [{:keys [regime dominant-share]} (edge-split L s K lr)]
    (case regime
      :single wta-share
      :split dominant-share
      :no-stable-split (/ 1.0 (double K)))))

(defn- vline [x y0 y1 series color]
  {:mark :line :series series :color color :dash [4 4] :points [[x y0] [x y1]]})

(defn- converged? [r] (= :converged (:status r)))

(defn- gd-runs [family] (filterv #(= :gd (:optimizer %)) (:runs family)))

(defn- share-figure
  "Raw figure data (the shape of dlnlab.plot/build-figure) of the final dominant
  share of mode i against the learning rate for one family:
  measured GD points (converged and not), gradient flow as a horizontal rule,
  the theory curve (`theory-share`) and the window edges 2/S_single, 2/S_split."
  [family i]
  (let [{:keys [depth pathways]} family
        runs (gd-runs family)
        m #(nth (:modes %) i)
        s (:s (m (first runs)))
        w (:window (m (first runs)))
        flow (first (filter #(= :gradient-flow (:optimizer %)) (:runs family)))
        wta (or (:wta-share (m (first runs))) 1.0)
        lrs (map :lr runs)
        lo (* 0.9 (double (apply min lrs))) hi (* 1.1 (double (apply max lrs)))
        pts (fn [pred] (vec (for [r runs :when (and (pred r) (:dominant-share (m r)))] [(:lr r) (:dominant-share (m r))])))]
    {:name :mp-share-vs-lr
     :title (str "Final dominant share vs learning rate (L = " depth ", K = " pathways ", s = " s ")")
     :subtitle "dashed: 2/S_single and 2/S_split (SCIENCE.md §5 [MP])"
     :x {:title "learning rate η" :log? true}
     :y {:title "largest pathway share of the mode" :log? false}
     :panels [{:title nil
               :layers (cond-> [{:mark :line :series "theory (conserved quantity; edge split)" :color 0
                                 :points (mapv (fn [lr] [lr (theory-share depth s pathways lr wta)])
                                               (log-space lo hi 200))}
                                {:mark :point :series "GD, converged" :color 1 :points (pts converged?)}
                                {:mark :point :series "GD, not converged" :color 3 :points (pts (complement converged?))}
                                (vline (:lr-min w) 0.0 1.0 "2/S_single" 4)]
                         (not (:empty? w)) (conj (vline (:lr-max w) 0.0 1.0 "2/S_split" 5))
                         (and flow (:dominant-share (m flow)))
                         (conj {:mark :rule :series "gradient flow" :color 2 :dash [2 2] :y (:dominant-share (m flow))}))}]}))

(defn- sharpness-figure
  "Raw figure data of the final sharpness against the learning rate for one family:
  measured points (converged runs; not-converged runs separately, their
  sharpness is taken at a point of the cycle), the curve 2/lr, the levels
  S_single and S_split and the window edges."
  [family]
  (let [{:keys [depth pathways]} family
        runs (gd-runs family)
        w (:window family)
        lrs (map :lr runs)
        lo (* 0.9 (double (apply min lrs))) hi (* 1.1 (double (apply max lrs)))
        pts (fn [pred] (vec (for [r runs :when (and (pred r) (:final-sharpness r))] [(:lr r) (:final-sharpness r)])))
        top (* 1.2 (double (:sharpness-single w)))]
    {:name :mp-sharpness-vs-lr
     :title (str "Final sharpness vs learning rate (L = " depth ", K = " pathways ")")
     :subtitle "inside the window the sharpness settles just below 2/η"
     :x {:title "learning rate η" :log? true}
     :y {:title "sharpness λ_max(Hessian)" :log? false}
     :panels [{:title nil
               :layers (cond-> [{:mark :line :series "2/η" :color 0
                                 :points (vec (for [lr (log-space lo hi 200) :when (<= (/ 2.0 (double lr)) top)]
                                                [lr (/ 2.0 (double lr))]))}
                                {:mark :point :series "GD, converged" :color 1 :points (pts converged?)}
                                {:mark :point :series "GD, not converged" :color 3 :points (pts (complement converged?))}
                                {:mark :rule :series "S_single" :color 4 :dash [2 2] :y (:sharpness-single w)}
                                (vline (:lr-min w) 0.0 top "2/S_single" 4)]
                         (not (:empty? w)) (conj {:mark :rule :series "S_split (equal)" :color 5 :dash [2 2] :y (:sharpness-split w)}
                                                 (vline (:lr-max w) 0.0 top "2/S_split" 5)))}]}))

(defn- overview-figure
  "Raw figure data of the final dominant share against lr / (2/S_single) for several
  families (one color each, labelled by label-fn of the family), with each
  family's theory curve; the window is [1, K^(1-2/L)] on this axis."
  [name title families label-fn]
  (let [layers (vec (mapcat (fn [ci fam]
                              (let [runs (gd-runs fam)
                                    w (:window fam)
                                    lo (double (:lr-min w))
                                    m0 #(first (:modes %))
                                    s (:s (m0 (first runs)))
                                    wta (or (:wta-share (m0 (first runs))) 1.0)
                                    xs (map #(/ (double (:lr %)) lo) runs)
                                    a (* 0.9 (double (apply min xs))) b (* 1.1 (double (apply max xs)))]
                                [{:mark :line :series (str (label-fn fam) " theory") :color ci
                                  :points (mapv (fn [x] [x (theory-share (:depth fam) s (:pathways fam) (* lo (double x)) wta)])
                                                (log-space a b 200))}
                                 {:mark :point :series (str (label-fn fam) " GD") :color ci
                                  :points (vec (for [r runs :when (and (converged? r) (:dominant-share (m0 r)))]
                                                 [(/ (double (:lr r)) lo) (:dominant-share (m0 r))]))}]))
                            (range) families))]
    {:name name
     :title title
     :subtitle "converged GD runs; lines: theory; window: 1 < η S_single/2 < K^(1-2/L)"
     :x {:title "η / (2/S_single)" :log? true}
     :y {:title "largest pathway share" :log? false}
     :panels [{:title nil :layers (conj layers (vline 1.0 0.0 1.0 "2/S_single" 9))}]}))

(defmethod plot/build-figure :mp-share-vs-lr [_ family opts] (share-figure family (:mode opts 0)))
(defmethod plot/build-figure :mp-sharpness-vs-lr [_ family _] (sharpness-figure family))
(defmethod plot/build-figure :mp-share-overview [_ {:keys [name title families vary]} _]
  (overview-figure name title families #(str (if (= vary :depth) "L = " "K = ") (get % vary))))

(def figure-names
  "The figures this namespace adds to dlnlab.plot/build-figure, each drawn from
  `run-family` output: :mp-share-vs-lr (a family; option :mode, default 0),
  :mp-sharpness-vs-lr (a family), :mp-share-overview ({:name :title :families
  [...] :vary :depth or :pathways})."
  [:mp-share-vs-lr :mp-sharpness-vs-lr :mp-share-overview])

;; ---------------------------------------------------------------- checks

(defn- check [claim failures & {:as extra}]
  (merge {:claim claim :pass? (empty? failures) :failures (vec (take 10 failures))} extra))

(defn- mode0 [r] (first (:modes r)))

(defn- family-runs
  "[family run] pairs of the families, optionally only those with depth pred."
  [families pred]
  (for [f families :when (pred f) r (:runs f)] [f r]))

(defn- brief [f r & ks]
  (merge {:depth (:depth f) :pathways (:pathways f) :optimizer (:optimizer r) :lr (:lr r) :status (:status r)
          :dominant-share (:dominant-share (mode0 r))}
         (select-keys (merge r (mode0 r)) ks)))

(defn checks
  "The qualitative claims of [MP] checked on families (results of `run-family`
  with the :pathway-split start), each {:claim :pass? :failures [...]} plus
  numbers. Margins: winner-takes-all share > 0.99 and within 0.002 of the
  conserved-quantity prediction (L >= 3, gradient flow and every lr below the
  window); L = 2 keeps the initial ratio within 0.001; inside the window every
  converged run has sharpness in [0.97, 1] x 2/lr and share < 0.9 from
  mid-window up, and for K = 2 a share within 0.02 of `edge-split` (for K > 2
  the deviation is reported, not checked: the split of sharpness 2/lr is not
  unique); above the window no run converges. Also reported: the largest
  relative gap between dlnlab.theory/multi-pathway-sharpness of the final
  strengths and the
  measured sharpness over converged runs (L >= 3)."
  [families]
  (let [small (family-runs families #(>= (long (:depth %)) 3))
        wta (for [[f r] small :when (#{:flow :below} (:place r))] [f r])
        wta-dev (fn [r] (Math/abs (- (double (:dominant-share (mode0 r))) (double (:wta-share (mode0 r))))))
        inside (for [[f r] small :when (= :inside (:place r))] [f r])
        inside-ok (filter (comp converged? second) inside)
        ratio (fn [r] (/ (double (:final-sharpness r)) (double (:two-over-lr r))))
        edge-dev (fn [r] (Math/abs (- (double (:dominant-share (mode0 r))) (double (:edge-share (mode0 r))))))
        two (for [[f r] (family-runs families #(= 2 (long (:depth %)))) :when (#{:flow :below} (:place r))] [f r])
        above (for [[f r] (family-runs families (constantly true)) :when (= :above (:place r))] [f r])]
    {:winner-takes-all
     (check "L >= 3, gradient flow and GD below the window: dominant share > 0.99 and within 0.002 of the conserved-quantity prediction"
            (for [[f r] wta :when (not (and (converged? r) (> (double (:dominant-share (mode0 r))) 0.99) (<= (double (wta-dev r)) 0.002)))]
              (brief f r :wta-share))
            :runs (count wta)
            :min-share (when (seq wta) (apply min (map #(:dominant-share (mode0 (second %))) wta)))
            :max-deviation (when (seq wta) (apply max (map (comp wta-dev second) wta))))
     :depth-two-keeps-ratio
     (check "L = 2, gradient flow and GD below 2/S_single: the initial ratio is kept (within 0.001), no winner-takes-all"
            (for [[f r] two :let [q (apply max (first (apply map vector (:initial-shares f))))]
                  :when (not (and (converged? r) (<= (Math/abs (- (double (:dominant-share (mode0 r))) (double q))) 0.001)))]
              (brief f r))
            :runs (count two))
     :rebalancing
     (check (str "inside the window (L >= 3): converged runs end with sharpness in [0.97, 1] x 2/lr and dominant share "
                 "below 0.9 from mid-window up; for K = 2 (where the split of sharpness 2/lr is unique) the share is "
                 "within 0.02 of the edge split")
            (for [[f r] inside-ok
                  :when (not (and (<= 0.97 (double (ratio r)) 1.0)
                                  (or (> (long (:pathways f)) 2) (<= (double (edge-dev r)) 0.02))
                                  (or (< (double (:fraction r)) 0.5) (< (double (:dominant-share (mode0 r))) 0.9))))]
              (brief f r :final-sharpness :two-over-lr :edge-share))
            :runs (count inside) :converged (count inside-ok)
            :not-converged (vec (for [[f r] inside :when (not (converged? r))] (brief f r :fraction)))
            :sharpness-over-threshold (when (seq inside-ok) [(apply min (map (comp ratio second) inside-ok))
                                                             (apply max (map (comp ratio second) inside-ok))])
            :max-edge-deviation-k2 (let [xs (for [[f r] inside-ok :when (= 2 (long (:pathways f)))] (edge-dev r))]
                                     (when (seq xs) (apply max xs)))
            :max-edge-deviation-k3+ (let [xs (for [[f r] inside-ok :when (> (long (:pathways f)) 2)] (edge-dev r))]
                                      (when (seq xs) (apply max xs)))
            :max-formula-deviation (let [xs (for [[_ r] (filter (comp converged? second) small) :when (:formula-sharpness r)]
                                              (/ (Math/abs (- (double (:formula-sharpness r)) (double (:final-sharpness r))))
                                                 (double (:final-sharpness r))))]
                                     (when (seq xs) (apply max xs))))
     :above-window
     (check "above 2/S_split (and above 2/S_single at L = 2): no run converges"
            (for [[f r] above :when (converged? r)] (brief f r))
            :runs (count above)
            :statuses (frequencies (map (comp :status second) above)))}))

;; ---------------------------------------------------------------- digest and tables

(defn family-digest
  "One line of the L/K comparison for a family: the window, the gradient-flow
  share against its prediction, the smallest share below the window, the share
  and sharpness at mid-window against the edge split and 2/lr, and the statuses
  above the window."
  [family]
  (let [runs (:runs family)
        flow (first (filter #(= :flow (:place %)) runs))
        below (filter #(= :below (:place %)) runs)
        mid (first (filter #(and (= :inside (:place %)) (== 0.5 (double (:fraction %)))) runs))
        above (filter #(= :above (:place %)) runs)
        w (:window family)]
    {:depth (:depth family) :pathways (:pathways family)
     :lr-min (:lr-min w) :lr-max (:lr-max w)
     :window-ratio (/ (double (:lr-max w)) (double (:lr-min w)))
     :flow-share (some-> flow mode0 :dominant-share) :flow-predicted (some-> flow mode0 :wta-share)
     :below-min-share (when (seq below) (apply min (keep (comp :dominant-share mode0) below)))
     :mid-lr (:lr mid) :mid-status (:status mid)
     :mid-share (some-> mid mode0 :dominant-share) :mid-edge-share (some-> mid mode0 :edge-share)
     :mid-sharpness (:final-sharpness mid) :mid-two-over-lr (:two-over-lr mid)
     :above-statuses (mapv :status above)
     :elapsed-ms (reduce + 0 (keep :elapsed-ms runs))}))

(defn- fmt [x]
  (cond (nil? x) "–"
        (keyword? x) (name x)
        (integer? x) (str x)
        (number? x) (let [d (double x)]
                      (cond (not (Double/isFinite d)) (str d)
                            (and (not (zero? d)) (or (< (Math/abs d) 1e-3) (>= (Math/abs d) 1e5))) (format "%.3e" d)
                            :else (format "%.5f" d)))
        (sequential? x) (str "[" (str/join " " (map fmt x)) "]")
        :else (str x)))

(defn markdown-table
  "A Markdown table of rows (maps) with the given columns [[key header] ...]:
  numbers with 5 decimals (or 4 significant digits in e-notation), nil as –."
  [rows columns]
  (str/join "\n"
            (concat [(str "| " (str/join " | " (map second columns)) " |")
                     (str "|" (str/join "|" (repeat (count columns) "---")) "|")]
                    (for [r rows] (str "| " (str/join " | " (map #(fmt (get r (first %))) columns)) " |")))))

(def main-columns
  "Columns of the main table (see `table-rows`)."
  [[:optimizer "opt"] [:lr "η"] [:lr-ratio "η S_single/2"] [:place "place"] [:status "status"]
   [:dominant-share "final dominant share"] [:predicted-share "predicted"]
   [:final-sharpness "final sharpness"] [:two-over-lr "2/η"] [:lr-min "2/S_single"] [:lr-max "2/S_split"]
   [:steps "steps"]])

(def digest-columns
  "Columns of the L/K comparison table (see `family-digest`)."
  [[:depth "L"] [:pathways "K"] [:lr-min "2/S_single"] [:lr-max "2/S_split"]
   [:flow-share "GF share"] [:flow-predicted "GF predicted"] [:below-min-share "min share below window"]
   [:mid-share "mid-window share"] [:mid-edge-share "edge split"] [:mid-sharpness "mid sharpness"]
   [:mid-two-over-lr "2/η"] [:above-statuses "above window"] [:elapsed-ms "ms"]])

;; ---------------------------------------------------------------- reproduce

(def variants
  "What each variant of `reproduce` runs.
  :quick (default, about 30 s on 2 cores): every (L, K) with L in 2..7 and
  K in 2..4 from the small :pathway-split start over `lr-grid`'s default grid
  (4 points below, 5 inside, 2 above the window, plus gradient flow), at most
  200000 GD steps; a two-mode target; a Gaussian small init over 3 seeds; one
  traced run for the trajectory figures.
  :full (1.5-3 minutes): the same families on a finer grid (7 below, 11 inside,
  5 above), at most 500000 steps, also started near the single-path minimum
  (total strength 0.9 s, shares 0.999 / rest), Gaussian init over 8 seeds.
  :reduced (seconds; what the tests run): L = 3 and L = 2 at K = 2, one point
  below, two inside and one above the window, at most 20000 steps, no extras."
  {:quick {:families (vec (for [L [2 3 4 5 6 7] K [2 3 4]] [L K])) :main [3 2]
           :grid {} :max-steps 200000 :gaussian-seeds [1 2 3] :two-modes? true :trace? true
           :near-single? false}
   :full {:families (vec (for [L [2 3 4 5 6 7] K [2 3 4]] [L K])) :main [3 2]
          :grid {:below [0.02 0.05 0.1 0.3 0.6 0.9 0.97]
                 :inside [0.05 0.15 0.25 0.35 0.45 0.5 0.55 0.65 0.75 0.85 0.95]
                 :above [1.02 1.05 1.1 1.25 1.5]}
          :max-steps 500000 :gaussian-seeds (vec (range 1 9)) :two-modes? true :trace? true
          :near-single? true}
   :reduced {:families [[3 2] [2 2]] :main [3 2]
             :grid {:below [0.05] :inside [0.1 0.5] :above [1.25]}
             :max-steps 20000 :gaussian-seeds [] :two-modes? false :trace? false :near-single? false}})

(def claim
  "The claim reproduced (issue 6, item 1; SCIENCE.md §5 [MP])."
  (str "Multi-pathway deep linear networks (K = 2-4 pathways, depth 2-7). Gradient flow or GD with a small "
       "learning rate from small initialization is winner-takes-all for L >= 3: each mode ends in essentially one "
       "pathway, as the conserved quantity pi_k^(-(L-2)/L) - pi_j^(-(L-2)/L) of the balanced pathway flow predicts "
       "(at L = 2 the conserved ratio keeps the initial split). A learning rate inside the re-balancing window "
       "2/S_single < lr < 2/S_split (S_single = L s^(2-2/L), S_split = S_single K^(2/L-1); empty at L = 2) makes "
       "edge-of-stability oscillations move the solution toward balanced shares while the sharpness settles just "
       "below 2/lr."))

(defn- near-single-shares [K]
  (let [d (default-shares K) rest (subvec d 1) t (double (reduce + 0.0 rest)) eps 1e-3]
    (mapv vector (cons (- 1.0 eps) (map #(* eps (/ (double %) t)) rest)))))

(defn- timed [f] (let [t0 (System/nanoTime) v (f)] [v (quot (- (System/nanoTime) t0) 1000000)]))

(defn- gaussian-section [seeds {:keys [jobs max-steps progress]}]
  (let [cfgs (for [seed seeds]
               {:depth 3 :pathways 2 :width 4 :init {:kind :gaussian :std 0.003} :seed seed
                :record-every 5 :flow-time 1000.0 :max-steps max-steps})
        fams (mapv (fn [cfg]
                     (run-family cfg {:jobs jobs :grid {:below [0.05] :inside [0.5] :above []}
                                      :progress (when progress #(progress (assoc % :stage :gaussian)))}))
                   cfgs)
        rows (mapv (fn [seed fam]
                     (let [[flow below mid] (:runs fam)]
                       {:seed seed
                        :flow-status (:status flow) :flow-share (:dominant-share (mode0 flow)) :flow-predicted (:wta-share (mode0 flow))
                        :small-lr (:lr below) :small-lr-share (:dominant-share (mode0 below)) :small-lr-predicted (:wta-share (mode0 below))
                        :checkpoint-strengths (:initial-strengths (mode0 below))
                        :mid-lr (:lr mid) :mid-status (:status mid) :mid-share (:dominant-share (mode0 mid))
                        :mid-edge-share (:edge-share (mode0 mid))
                        :mid-sharpness (:final-sharpness mid) :mid-two-over-lr (:two-over-lr mid)}))
                   seeds fams)
        within? (fn [a b ^double tol] (boolean (and a b (<= (Math/abs (- (double a) (double b))) tol))))]
    {:setup {:depth 3 :pathways 2 :width 4 :init {:kind :gaussian :std 0.003} :target [1.0]
             :prediction "winner-takes-all-split from the per-pathway strengths when the mode first reaches 2% of s"}
     :rows rows
     :check (check "Gaussian init: GF and small-lr shares within 0.002 of the prediction from the checkpoint strengths; mid-window share within 0.02 of the edge split"
                   (for [r rows
                         :when (not (and (within? (:small-lr-share r) (:small-lr-predicted r) 0.002)
                                         (or (not= :converged (:flow-status r))
                                             (within? (:flow-share r) (:flow-predicted r) 0.002))
                                         (= :converged (:mid-status r))
                                         (within? (:mid-share r) (:mid-edge-share r) 0.02)))]
                     r)
                   :seeds (count rows))}))

(defn- two-mode-section [{:keys [jobs grid max-steps progress]}]
  (let [fam (run-family {:depth 3 :pathways 2 :targets [1.0 0.5] :shares [[0.6 0.4] [0.4 0.6]] :max-steps max-steps}
                        {:jobs jobs :grid grid :progress (when progress #(progress (assoc % :stage :two-modes)))})
        runs (:runs fam)
        per-mode (fn [r] (mapv (fn [m] (select-keys m [:s :regime :winner :dominant-share :predicted-share :final-shares])) (:modes r)))
        small (filter #(#{:flow :below} (:place %)) runs)
        inside (filter #(= :inside (:place %)) runs)]
    {:setup {:depth 3 :pathways 2 :target [1.0 0.5] :initial-shares [[0.6 0.4] [0.4 0.6]]
             :windows (mapv :window (:modes (first runs)))}
     :rows (mapv (fn [r] {:optimizer (:optimizer r) :lr (:lr r) :place (:place r) :status (:status r)
                          :final-sharpness (:final-sharpness r) :two-over-lr (:two-over-lr r) :modes (per-mode r)})
                 runs)
     :check (check (str "two modes: below the window each mode is won by its own pathway (mode 1 by pathway 1, mode 2 "
                        "by pathway 2) with share > 0.98; inside mode 1's window mode 1 re-balances to its edge split "
                        "(within 0.02) while mode 2, whose window starts at a larger lr, stays above 0.98")
                   (concat
                    (for [r small :let [[m1 m2] (:modes r)]
                          :when (not (and (= 0 (:winner m1)) (= 1 (:winner m2))
                                          (> (double (:dominant-share m1)) 0.98) (> (double (:dominant-share m2)) 0.98)))]
                      {:lr (:lr r) :modes (per-mode r)})
                    (for [r inside :let [[m1 m2] (:modes r)]
                          :when (not (and (converged? r)
                                          (<= (Math/abs (- (double (:dominant-share m1)) (double (:predicted-share m1)))) 0.02)
                                          (> (double (:dominant-share m2)) 0.98)))]
                      {:lr (:lr r) :modes (per-mode r)})))}))

(defn reproduce
  "Runs the [MP] reproduction (see `claim` and `variants`) and returns its report
  as plain data.

  Options: :variant (:quick; :full or :reduced, see `variants`); :jobs (2,
  parallel runs); :progress (fn [{:stage :family [L K] :done n :total m}])
  called after each run, possibly from worker threads.
  Returns {:paper :claim :reference :variant :setup
  :main {:depth :pathways :window :rows :table} (the learning-rate table of
  the main (L, K), :table a Markdown string)
  :families [{:depth :pathways :window :digest :rows} ...]
  :comparison {:rows :table} (one digest row per (L, K))
  :near-single (full variant: the same from near the single-path minimum)
  :two-modes :gaussian (nil when the variant skips them)
  :checks {name {:claim :pass? :failures ...}}
  :figures [figure data of dlnlab.plot/figure ...] (the share and sharpness vs
  lr of the main family, the share overviews by L and by K, and for :quick and
  :full the pathway shares and sharpness of a traced mid-window run; draw them
  with dlnlab.plot/write-figure-data!)
  :timings {:total-ms :families-ms ...}}.
  Throws ex-info for an unknown variant."
  ([] (reproduce {}))
  ([{:keys [variant jobs progress] :or {variant :quick jobs 2}}]
   (let [v (or (get variants variant)
               (fail! (str "Unknown :variant " (pr-str variant) "; allowed are " (pr-str (keys variants)) ".")
                      [:variant] variant (set (keys variants))))
         {:keys [families main grid max-steps gaussian-seeds two-modes? trace? near-single?]} v
         opts {:jobs jobs :grid grid :max-steps max-steps :progress progress}
         run-fams (fn [stage cfg-fn]
                    (mapv (fn [[L K]]
                            (let [fam (run-family (merge (cfg-fn L K) {:depth L :pathways K :max-steps max-steps})
                                                  {:jobs jobs :grid grid
                                                   :progress (when progress #(progress (assoc % :stage stage)))})]
                              (assoc fam :digest (family-digest fam) :rows (table-rows fam))))
                          families))
         [fams fams-ms] (timed #(run-fams :families (constantly {})))
         [near near-ms] (if near-single?
                          (timed #(run-fams :near-single (fn [_ K] {:strengths [0.9] :shares (near-single-shares K)})))
                          [nil 0])
         main-fam (first (filter #(= main [(:depth %) (:pathways %)]) fams))
         [two two-ms] (if two-modes? (timed #(two-mode-section opts)) [nil 0])
         [gauss gauss-ms] (if (seq gaussian-seeds) (timed #(gaussian-section gaussian-seeds opts)) [nil 0])
         [traced trace-ms] (if trace?
                             (timed #(let [{:keys [lr-min lr-max]} (:window main-fam)
                                           lr (+ (double lr-min) (* 0.5 (- (double lr-max) (double lr-min))))]
                                       (experiment/run (experiment {:depth (first main) :pathways (second main)
                                                                    :trace? true :max-steps 20000}
                                                                   {:kind :gd :lr lr}))))
                             [nil 0])
         digests (mapv :digest fams)
         all-checks (cond-> (checks fams)
                      near (assoc :near-single-rebalancing
                                  (-> (checks near) :rebalancing
                                      (update :claim #(str "from near the single-path minimum: " %))))
                      two (assoc :two-modes (:check two))
                      gauss (assoc :gaussian (:check gauss)))
         strip (fn [fam] (select-keys fam [:depth :pathways :window :initial-shares :digest :rows]))]
     {:paper :multipathway
      :claim claim
      :reference "SCIENCE.md §5 [MP]; issue 6, item 1"
      :variant variant
      :setup {:task "matrix factorization, target s = 1 (1 x 1; two-mode section: diag(1, 0.5))"
              :model "multi-pathway, width 2, standard parameterization"
              :init (str "pathway-split, balanced and aligned, total strength pi_0 with a gradient-flow plateau of "
                         "t0 = 50 (plateau-strength), shares " (pr-str (into {} (for [K [2 3 4]] [K (default-shares K)]))))
              :optimizer (str "GD over lr-grid " (pr-str (merge {:below [0.05 0.3 0.6 0.9] :inside [0.1 0.3 0.5 0.7 0.9]
                                                                  :above [1.05 1.25]} grid))
                              ", at most " max-steps " steps, stopped at loss < 1e-24; gradient flow for time 220")
              :measured "final shares, mode strengths and sharpness (Lanczos, tol 1e-10) from the final weights"}
      :main (assoc (strip main-fam) :table (markdown-table (:rows main-fam) main-columns))
      :families (mapv strip fams)
      :comparison {:rows digests :table (markdown-table digests digest-columns)}
      :near-single (when near {:families (mapv strip near)
                               :comparison (let [d (mapv :digest near)] {:rows d :table (markdown-table d digest-columns)})})
      :two-modes two
      :gaussian gauss
      :checks all-checks
      :figures (vec (concat
                     [(plot/figure :mp-share-vs-lr main-fam)
                      (plot/figure :mp-sharpness-vs-lr main-fam)
                      (plot/figure :mp-share-overview
                                   {:name :mp-share-by-depth :vary :depth
                                    :title "Dominant share vs normalized learning rate, K = 2, by depth L"
                                    :families (filter #(and (= 2 (:pathways %)) (>= (long (:depth %)) 3)) fams)})
                      (plot/figure :mp-share-overview
                                   {:name :mp-share-by-pathways :vary :pathways
                                    :title (str "Dominant share vs normalized learning rate, L = " (first main) ", by K")
                                    :families (filter #(= (first main) (:depth %)) fams)})]
                     (when traced
                       [(plot/figure :pathway-shares traced {:title "Pathway shares during training, mid-window lr"})
                        (plot/figure :sharpness traced {:title "Sharpness during training, mid-window lr"})])))
      :timings {:total-ms (+ (long fams-ms) (long near-ms) (long two-ms) (long gauss-ms) (long trace-ms))
                :families-ms fams-ms :near-single-ms near-ms :two-modes-ms two-ms :gaussian-ms gauss-ms
                :trace-ms trace-ms
                :runs (+ (count (mapcat :runs fams)) (count (mapcat :runs near)))
                :jobs jobs}})))

(defn reduced
  "The seconds-long version of `reproduce` used by the tests: (reproduce
  {:variant :reduced :jobs 1})."
  []
  (reproduce {:variant :reduced :jobs 1}))
