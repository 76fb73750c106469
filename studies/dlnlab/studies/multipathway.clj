(ns dlnlab.studies.multipathway
  "Reproduces the headline of [MP] (doc/science.md §5): in a deep linear network of
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
  tables, theory beside them, checks, figure data, timings); dlnlab.render/write-figure-data!
  draws its :figures (SVG/PNG and Vega-Lite JSON); `reduced` is a seconds-long
  version for the tests.

  Theory (doc/science.md §5): dlnlab.theory gives the sharpness formulas, the
  window (`pathway-window`), the winner-takes-all split, `edge-split` (the
  split a window learning rate ends at; our derivation for K > 2, see its
  docstring) and `plateau-strength` (the initial strength for a given plateau
  time). The figures are in dlnlab.studies.multipathway.figures; setups and
  variants in multipathway.edn beside this file."
  (:refer-clojure :exclude [reduced])
  (:require [dlnlab.error :as error]
            [dlnlab.experiment :as experiment]
            [dlnlab.metrics :as metrics]
            [dlnlab.network :as network]
            [dlnlab.figure :as fig]
            [dlnlab.figure.run]
            [dlnlab.studies.multipathway.figures :refer [converged?]]
            [dlnlab.study :as study]
            [dlnlab.sweep :as sweep]
            [dlnlab.theory :as theory]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def ^:private data
  "Setups and variants (studies/dlnlab/studies/multipathway.edn)."
  (study/load-data "dlnlab/studies/multipathway.edn"))

(def base-config
  "The configuration of one (L, K) experiment family (keys of `experiment`):
  target singular values [1.0] (a 1 x 1 target), width 2, :pathway-split init
  of total strength `dlnlab.theory/plateau-strength` for a plateau time of 50
  and the `default-shares`, learning-rate grid of `lr-grid`, at most 200000 GD
  steps, stopped once the loss is below 1e-24."
  (:base-config data))

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
  (:variants data))

;; ---------------------------------------------------------------- theory (doc/science.md §5)

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

(defn init-strengths
  "Total initial strength pi_0 of each target mode under the config: :strengths
  when given, else for every mode `dlnlab.theory/plateau-strength` of the largest target s_1
  at :plateau-time (one initial scale for all modes, so smaller modes are
  learned later, doc/science.md §4)."
  [{:keys [depth targets plateau-time strengths]}]
  (or strengths (vec (repeat (count targets) (theory/plateau-strength depth (apply max targets) plateau-time)))))

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
  (`dlnlab.theory/pathway-window`): :below fractions of 2/S_single, :inside points at
  fractions of the way from 2/S_single to 2/S_split, :above multiples of
  2/S_split. An empty window (L = 2) gets :below and :above only.
  Options: :below ([0.05 0.3 0.6 0.9]), :inside ([0.1 0.3 0.5 0.7 0.9]),
  :above ([1.05 1.25]).
  Returns [{:lr :place (:below | :inside | :above) :fraction f} ...] ascending."
  ([L s K] (lr-grid L s K {}))
  ([L s K {:keys [below inside above] :or {below [0.05 0.3 0.6 0.9] inside [0.1 0.3 0.5 0.7 0.9] above [1.05 1.25]}}]
   (let [{:keys [lr-min lr-max empty?]} (theory/pathway-window L s K)
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
  first reaches 2% of s), :edge-share (`dlnlab.theory/edge-split`), and :predicted-share, the
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
             (let [w (theory/pathway-window depth s pathways)
                   regime (cond flow? :flow
                                (<= (double lr) (double (:lr-min w))) :below
                                (or (:empty? w) (>= (double lr) (double (:lr-max w)))) :above
                                :else :inside)
                   c0 (nth init0 i nil)
                   wta (when (and c0 (every? #(pos? (double %)) c0))
                         (let [f (theory/winner-takes-all-split c0 s depth)] (mapv #(/ (double %) (double s)) f)))
                   edge (when lr (theory/edge-split depth s pathways lr))
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
                          (error/fail! :internal (str "A run of the [MP] family L = " depth ", K = " pathways " at lr " (:lr p)
                                      " failed: " (:error r))
                                 {:path [:lr] :value (:lr p) :allowed "a run that completes"})
                          (assoc (summarize cfg r) :place (:place p) :fraction (:fraction p))))
                      points results)]
    {:depth depth :pathways pathways :targets (vec targets)
     :window (theory/pathway-window depth s1 pathways)
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


;; ---------------------------------------------------------------- checks

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
  mid-window up, and for K = 2 a share within 0.02 of `dlnlab.theory/edge-split` (for K > 2
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
     (study/check "L >= 3, gradient flow and GD below the window: dominant share > 0.99 and within 0.002 of the conserved-quantity prediction"
            (for [[f r] wta :when (not (and (converged? r) (> (double (:dominant-share (mode0 r))) 0.99) (<= (double (wta-dev r)) 0.002)))]
              (brief f r :wta-share))
            :runs (count wta)
            :min-share (when (seq wta) (apply min (map #(:dominant-share (mode0 (second %))) wta)))
            :max-deviation (when (seq wta) (apply max (map (comp wta-dev second) wta))))
     :depth-two-keeps-ratio
     (study/check "L = 2, gradient flow and GD below 2/S_single: the initial ratio is kept (within 0.001), no winner-takes-all"
            (for [[f r] two :let [q (apply max (first (apply map vector (:initial-shares f))))]
                  :when (not (and (converged? r) (<= (Math/abs (- (double (:dominant-share (mode0 r))) (double q))) 0.001)))]
              (brief f r))
            :runs (count two))
     :rebalancing
     (study/check (str "inside the window (L >= 3): converged runs end with sharpness in [0.97, 1] x 2/lr and dominant share "
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
     (study/check "above 2/S_split (and above 2/S_single at L = 2): no run converges"
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

(def claim
  "The claim reproduced (issue 6, item 1; doc/science.md §5 [MP])."
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
     :check (study/check "Gaussian init: GF and small-lr shares within 0.002 of the prediction from the checkpoint strengths; mid-window share within 0.02 of the edge split"
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
     :check (study/check (str "two modes: below the window each mode is won by its own pathway (mode 1 by pathway 1, mode 2 "
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
  Returns dlnlab.study's report shape: {:study :claim :reference :variant :setup
  :main {:depth :pathways :window :rows :table} (the learning-rate table of
  the main (L, K), :table a Markdown string)
  :families [{:depth :pathways :window :digest :rows} ...]
  :comparison {:rows :table} (one digest row per (L, K))
  :near-single (full variant: the same from near the single-path minimum)
  :two-modes :gaussian (nil when the variant skips them)
  :checks {name {:claim :pass? :failures ...}}
  :figures [figure data of dlnlab.figure/figure ...] (the share and sharpness vs
  lr of the main family, the share overviews by L and by K, and for :quick and
  :full the pathway shares and sharpness of a traced mid-window run; draw them
  with dlnlab.render/write-figure-data!)
  :timings {:total-ms :families-ms ...}}.
  Throws ex-info for an unknown variant."
  ([] (reproduce {}))
  ([{:keys [variant jobs progress] :or {variant :quick jobs 2}}]
   (let [v (study/variant variants variant)
         {:keys [families main grid max-steps gaussian-seeds two-modes? trace? near-single?]} v
         opts {:jobs jobs :grid grid :max-steps max-steps :progress progress}
         run-fams (fn [stage cfg-fn]
                    (mapv (fn [[L K]]
                            (let [fam (run-family (merge (cfg-fn L K) {:depth L :pathways K :max-steps max-steps})
                                                  {:jobs jobs :grid grid
                                                   :progress (when progress #(progress (assoc % :stage stage)))})]
                              (assoc fam :digest (family-digest fam) :rows (table-rows fam))))
                          families))
         [fams fams-ms] (study/timed #(run-fams :families (constantly {})))
         [near near-ms] (if near-single?
                          (study/timed #(run-fams :near-single (fn [_ K] {:strengths [0.9] :shares (near-single-shares K)})))
                          [nil 0])
         main-fam (first (filter #(= main [(:depth %) (:pathways %)]) fams))
         [two two-ms] (if two-modes? (study/timed #(two-mode-section opts)) [nil 0])
         [gauss gauss-ms] (if (seq gaussian-seeds) (study/timed #(gaussian-section gaussian-seeds opts)) [nil 0])
         [traced trace-ms] (if trace?
                             (study/timed #(let [{:keys [lr-min lr-max]} (:window main-fam)
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
     {:study :multipathway
      :claim claim
      :reference "doc/science.md §5 [MP]; issue 6, item 1"
      :variant variant
      :setup {:task "matrix factorization, target s = 1 (1 x 1; two-mode section: diag(1, 0.5))"
              :model "multi-pathway, width 2, standard parameterization"
              :init (str "pathway-split, balanced and aligned, total strength pi_0 with a gradient-flow plateau of "
                         "t0 = 50 (plateau-strength), shares " (pr-str (into {} (for [K [2 3 4]] [K (default-shares K)]))))
              :optimizer (str "GD over lr-grid " (pr-str (merge {:below [0.05 0.3 0.6 0.9] :inside [0.1 0.3 0.5 0.7 0.9]
                                                                  :above [1.05 1.25]} grid))
                              ", at most " max-steps " steps, stopped at loss < 1e-24; gradient flow for time 220")
              :measured "final shares, mode strengths and sharpness (Lanczos, tol 1e-10) from the final weights"}
      :main (assoc (strip main-fam) :table (study/markdown-table (:rows main-fam) main-columns))
      :families (mapv strip fams)
      :comparison {:rows digests :table (study/markdown-table digests digest-columns)}
      :near-single (when near {:families (mapv strip near)
                               :comparison (let [d (mapv :digest near)] {:rows d :table (study/markdown-table d digest-columns)})})
      :two-modes two
      :gaussian gauss
      :checks all-checks
      :figures (vec (concat
                     [(fig/figure :mp-share-vs-lr main-fam)
                      (fig/figure :mp-sharpness-vs-lr main-fam)
                      (fig/figure :mp-share-overview
                                   {:name :mp-share-by-depth :vary :depth
                                    :title "Dominant share vs normalized learning rate, K = 2, by depth L"
                                    :families (filter #(and (= 2 (:pathways %)) (>= (long (:depth %)) 3)) fams)})
                      (fig/figure :mp-share-overview
                                   {:name :mp-share-by-pathways :vary :pathways
                                    :title (str "Dominant share vs normalized learning rate, L = " (first main) ", by K")
                                    :families (filter #(= (first main) (:depth %)) fams)})]
                     (when traced
                       [(fig/figure :pathway-shares traced {:title "Pathway shares during training, mid-window lr"})
                        (fig/figure :sharpness traced {:title "Sharpness during training, mid-window lr"})])))
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
