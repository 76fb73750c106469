(ns dlnlab.studies.saddle-to-saddle
  "Reproduction of [SDE] (\"Stochastic Gradient Descent in the Saddle-to-Saddle
  Regime of Deep Linear Networks\", arXiv 2604.06366; doc/science.md §4 and §7):
  one-pass minibatch SGD on a teacher-student task (x ~ N(0, I), y = M x + xi)
  from a small, balanced and aligned initialization, against the per-mode SDE
  of dlnlab.sde, on the time axis t = lr x steps.

  Three claims, each put next to its theory:
  1. The per-mode diffusion D(pi) = (lr/B) L^2 pi^(4-4/L) (2 (pi - s)^2 + sigma^2)
     peaks at pi* = 2(L-1)s/(3L-2) < s, so without label noise a mode's
     diffusion is largest shortly BEFORE the mode is learned: in the SDE
     ensemble (dlnlab.sde/diffusion-peak) and in the full network, where D is
     estimated from the mode strengths' second differences across seeds
     (`diffusion-estimate`). A large label noise removes the interior maximum
     (the contrast case).
  2. With label noise the strength of a learned mode fluctuates with the
     stationary density of dlnlab.theory; the SDE ensemble matches it (KS
     distance), its variance is near the Gibbs-like T L s^(2-2/L),
     T = lr sigma^2/(2B); the discrete process (SGD's own step) has the larger
     discrete-time variance (`linear-stationary-variance`).
  3. The ensemble mean of each mode strength of the SDE follows the mean over
     seeds of full-network SGD; the weak error max_t |mean_SDE - mean_SGD| / s
     shrinks with the learning rate (`weak-error`).

  Why one-pass sampling: the SDE's noise model draws a fresh Gaussian batch each
  step, which is exactly what :sampling :one-pass does; a finite training set
  would add a fixed sampling error (its least-squares optimum differs from the
  teacher by O(1/sqrt(n))) and correlations between steps that reuse samples.

  `reproduce` runs everything and returns a plain-data report; `reduced` is the
  seconds-long version the tests run; dlnlab.render/write-figure-data! draws its :figures. What
  the runs show, with numbers, is in examples/papers/saddle-to-saddle.md."
  (:refer-clojure :exclude [reduced])
  (:require [dlnlab.error :as error]
            [dlnlab.figure :as fig]
            [dlnlab.sde :as sde]
            [dlnlab.studies.saddle-to-saddle.estimate
             :refer [argmax-by diffusion-estimate ensemble-moments first-passage interp ks-threshold lag1-correlation mean median theory-params
                     sample-variance shape-fit weak-error window-curve]]
            [dlnlab.studies.saddle-to-saddle.figures
             :refer [diffusion-columns diffusion-rows stationary-columns stationary-rows weak-columns weak-rows]]
            [dlnlab.study :as study]
            [dlnlab.sweep :as sweep]
            [dlnlab.theory :as theory]
            [dlnlab.theory.sde :as theory-sde]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------- the setting

(def ^:private data
  "Setup and variants (studies/dlnlab/studies/saddle_to_saddle.edn)."
  (study/load-data "dlnlab/studies/saddle_to_saddle.edn"))

(def setup
  "The default setting: a depth-3 chain of width 6 learns a 3 x 3 teacher with
  singular values 3, 2 and 1 (identity singular vectors, x ~ N(0, I)) by one-pass
  SGD with batch size 4 from the balanced, aligned initialization with every mode
  at pi0 = 1e-3 (plateaus of about pi0^(-1/3)/s = 3.3, 5 and 10 time units,
  doc/science.md §4), over the time span 12 (t = lr x steps)."
  (:setup data))

(def variants
  "What `reproduce` runs for each :variant (all on `setup`: L = 3, s = 3, 2, 1,
  width 6, B = 4, pi0 = 1e-3, t up to 12).
  :quick (default; about a minute on 2 cores): diffusion at lr 0.005 over 40
  seeds recorded every step (SDE: 2000 paths, dt 0.001; contrast label noise
  sigma = 2 for both); stationary at lr 0.01 and 0.05 with sigma = 0.5 (SDE 4000
  paths; network 40 seeds, t up to 24); weak error at lr 0.0025 ... 0.04 over 60
  seeds (SDE 2000 paths), plus B = 16 at lr 0.01 and 0.04 and sigma = 0.5 at lr
  0.005 and 0.02.
  :full (several minutes): 120 seeds for the diffusion (SDE 4000 paths), 160
  for the weak error at lr 0.00125 ... 0.04 (SDE 3000 paths) and for B = 16
  and sigma = 0.5 at lr 0.0025, 0.01, 0.04; stationary at lr 0.005, 0.01, 0.02,
  0.05 (SDE 8000 paths, dt 0.0005; network 80 seeds, t up to 40).
  :reduced (seconds; the tests): diffusion at lr 0.005 over 24 seeds (SDE 400
  paths); stationary at lr 0.01 and 0.05 (SDE only, 2000 paths); weak error over
  t <= 4 (the top mode's transition) at lr 0.0025 and 0.04 with B = 32 and 64
  seeds (SDE 1000 paths)."
  (:variants data))

;; ---------------------------------------------------------------- theory beside the runs

(defn mode-params
  "The dlnlab.theory parameter map of target mode s under cfg (keys of `setup`,
  plus :lr, :batch-size and :label-noise): {:s :pi0 :depth :lr :batch-size :label-noise}."
  [cfg s]
  (theory-params (merge setup cfg) s))

(defn gradient-flow-times
  "Gradient-flow times of one mode from pi0 (dlnlab.theory/gradient-flow-time,
  doc/science.md §4): {:peak time to reach pi* (dlnlab.theory.sde/peak-diffusion-pi;
  nil without an interior maximum) :learned {fraction time}}."
  [params fractions]
  (let [pstar (theory-sde/peak-diffusion-pi params)
        pi0 (double (:pi0 params))]
    {:peak (when (and pstar (> (double pstar) pi0)) (theory/gradient-flow-time params pstar))
     :peak-pi pstar
     :learned (into (sorted-map) (for [f fractions] [f (theory/learning-time params {:fraction f})]))}))

;; ---------------------------------------------------------------- experiments as data

(defn steps-for
  "Number of SGD steps for SDE time t at learning rate lr: round(t / lr)."
  ^long [lr t]
  (long (Math/round (/ (double t) (double lr)))))

(defn experiment
  "The experiment map of one full-network SGD run under cfg (keys of `setup`):
  a :chain of depth L and hidden width :width, :balanced-aligned init with
  :strengths (default pi0 for every mode), a :teacher-student task with the
  :targets as teacher singular values, identity covariance and :label-noise,
  one-pass SGD with :lr and :batch-size for (steps-for lr :time) steps, :modes
  recorded every :every steps (1). Returns the map for dlnlab.experiment/run."
  [cfg]
  (let [{:keys [depth targets width pi0 strengths lr batch-size label-noise time every seed]} (merge setup cfg)
        d (count targets)]
    (when-not lr (error/fail! :invalid-argument "cfg needs :lr, the SGD learning rate."
                              {:path [:lr] :value lr :allowed "a positive number"}))
    {:seed seed
     :model {:kind :chain :depth depth :width width
             :init {:kind :balanced-aligned :strengths (vec (or strengths (repeat d pi0)))}}
     ;; the Box-Muller draws on which examples/papers/saddle-to-saddle.md was measured
     :task {:kind :teacher-student :input-dim d :output-dim d :samples 16 :test-samples 0
            :teacher {:singular-values (vec targets)} :label-noise (double label-noise) :normals :box-muller}
     :optimizer {:kind :sgd :lr lr :batch-size batch-size :sampling :one-pass}
     :steps (steps-for lr time)
     :record {:every (long (or every 1)) :metrics [:modes] :final-weights false}}))

(defn sde-spec
  "The dlnlab.sde/simulate spec of the per-mode SDE under cfg (keys of `setup`):
  one mode per target at its initial strength, the same lr, B, sigma and time
  span as `experiment`.
  Options: :paths (2000), :dt (SDE time step, default lr/10), :record-time
  (record interval, default 0.02), :seed (11), :threads (1),
  :learned-fractions ([0.5 0.9]). Returns the spec."
  [cfg {:keys [paths dt record-time seed threads learned-fractions]
        :or {paths 2000 record-time 0.02 seed 11 threads 1 learned-fractions [0.5 0.9]}}]
  (let [{:keys [depth targets pi0 strengths lr batch-size label-noise time]} (merge setup cfg)
        dt (double (or dt (/ (double lr) 10.0)))
        rt (max dt (double record-time))]
    {:modes (mapv (fn [s p] {:s (double s) :pi0 (double p)}) targets (or strengths (repeat pi0)))
     :depth depth :lr (double lr) :batch-size batch-size :label-noise (double label-noise)
     :paths paths :dt dt :time (double time) :seed seed :threads threads
     :learned-fractions learned-fractions
     :record {:every-time rt :paths 0}}))

(defn network-ensemble
  "Runs `experiment` of cfg once per seed (dlnlab.sweep/sweep over [:seed] with
  :seeds :shared, so seed k is run k) and collects the mode strengths.

  Options: :jobs (2) parallel runs; :progress (fn [{:stage :done :total}]) after
  each run; :stage (a label for :progress).
  Returns {:time [t per record] :paths [[[pi per mode] per record] per completed
  seed] :seeds n :status {status count} :elapsed-ms}."
  [cfg seeds {:keys [jobs progress stage] :or {jobs 2}}]
  (let [t0 (System/nanoTime)
        total (count seeds)
        done (atom 0)
        nm (count (:targets (merge setup cfg)))
        rs (sweep/sweep (experiment cfg) {[:seed] (vec seeds)}
                        {:jobs jobs :seeds :shared
                         :on-result (fn [_ _ _] (let [d (swap! done inc)]
                                                  (when progress (progress {:stage stage :done d :total total}))))})
        ok (filterv #(= :completed (:status %)) rs)]
    {:time (vec (get-in (first ok) [:trajectory :time]))
     :paths (mapv (fn [r] (mapv #(vec (take nm %)) (get-in r [:trajectory :modes]))) ok)
     :seeds (count ok)
     :status (frequencies (map :status rs))
     :elapsed-ms (study/elapsed-ms t0)}))

;; ---------------------------------------------------------------- 1. diffusion peak

(defn sde-diffusion-summary
  "The SDE ensemble's diffusion peak against learning, per mode: dlnlab.sde/diffusion-peak
  at the largest tracked fraction, the median learned times
  (dlnlab.sde/learning-time-distribution) and the gradient-flow times of
  `gradient-flow-times`. Returns a vector of maps, one per mode."
  [res cfg]
  (let [fracs (get-in res [:spec :learned-fractions])
        peaks (sde/diffusion-peak res {:fraction (apply max fracs)})
        lt (into {} (for [f fracs] [f (sde/learning-time-distribution res {:fraction f})]))]
    (vec (for [{:keys [mode] :as p} peaks
               :let [s (double (get-in res [:spec :modes mode :s]))
                     gf (gradient-flow-times (mode-params cfg s) fracs)]]
           {:mode mode :s s
            :peak-time (:peak-time p) :peak-pi (:peak-pi p) :theory-peak-pi (:theory-peak-pi p)
            :median-learned (into (sorted-map) (for [f fracs] [f (get-in lt [f mode :median])]))
            :precedes-learning? (:precedes-learning? p)
            :paths-peak-before-learning (:paths-peak-before-learning p)
            :gradient-flow {:peak (:peak gf) :learned (:learned gf)}}))))

(defn diffusion-study
  "Claim 1: the diffusion peak against learning, in the SDE ensemble (no label
  noise and, as the contrast, a label noise :contrast-noise large enough that D
  has no interior maximum) and in the full network (`diffusion-estimate`).

  Options: :lr, :seeds, :paths, :dt, :window, :contrast-noise, :network-contrast?
  (also run the network with the contrast noise), :sde-seed (11), :jobs, :progress.
  Returns {:lr :batch-size :sde [per mode] :sde-contrast [per mode] :network [per
  mode] :network-contrast [per mode or nil] :timing-ms {..}}."
  [cfg {:keys [lr seeds paths dt window contrast-noise network-contrast? sde-seed jobs progress]
        :or {jobs 2 sde-seed 11}}]
  (let [cfg (assoc (merge setup cfg) :lr lr :label-noise 0.0 :every 1)
        t0 (System/nanoTime)
        sde-res (sde/simulate (sde-spec cfg {:paths paths :dt dt :threads jobs :seed sde-seed}))
        noisy (assoc cfg :label-noise contrast-noise)
        sde-contrast (sde/simulate (sde-spec noisy {:paths paths :dt dt :threads jobs :seed (inc (long sde-seed))}))
        t-sde (study/elapsed-ms t0)
        t1 (System/nanoTime)
        ens (network-ensemble cfg seeds {:jobs jobs :progress progress :stage :diffusion})
        est (diffusion-estimate ens cfg {:window window})
        t-net (study/elapsed-ms t1)
        t2 (System/nanoTime)
        est-contrast (when network-contrast?
                       (diffusion-estimate (network-ensemble noisy seeds {:jobs jobs :progress progress
                                                                          :stage :diffusion-contrast})
                                           noisy {:window window}))
        t-con (study/elapsed-ms t2)
        strip (fn [m] (-> m (dissoc :time-curve :aligned-curve :bins)
                          (update :learned update-vals :median)))]
    {:lr lr :batch-size (:batch-size cfg) :seeds (:seeds ens) :paths paths :window window
     :sde (sde-diffusion-summary sde-res cfg)
     :sde-contrast (mapv #(assoc % :label-noise contrast-noise) (sde-diffusion-summary sde-contrast noisy))
     :sde-curves {:time (:time sde-res) :diffusion (:diffusion sde-res) :mean (:mean sde-res)}
     :network (mapv strip est)
     :network-curves (mapv #(select-keys % [:mode :s :time-curve :aligned-curve :bins :theory-peak-x]) est)
     :network-contrast (when est-contrast (mapv #(assoc (strip %) :label-noise contrast-noise) est-contrast))
     :timing-ms {:sde t-sde :network t-net :network-contrast t-con}}))

;; ---------------------------------------------------------------- 2. stationary distribution

(defn- theory-variances [params]
  (let [exact (theory-sde/stationary-density params)
        sharp (theory/single-path-sharpness (:s params) (:depth params))]
    {:mean (:mean exact)
     :exact (:variance exact)
     :gibbs (theory-sde/gibbs-variance params)
     :discrete (theory-sde/linear-stationary-variance params {:discrete? true})
     :linear-continuous (theory-sde/linear-stationary-variance params)
     :linear-discrete (theory-sde/linear-stationary-variance params {:discrete? true})
     :lr-sharpness (* (double (:lr params)) sharp)}))

(defn stationary-study
  "Claim 2 at one learning rate: modes started at their targets with label
  noise; the per-mode SDE (small dt, the continuous process) and the same SDE
  at dt = lr (Euler-Maruyama at SGD's step: aligned SGD itself), both against
  the analytic stationary density (dlnlab.sde/stationary-comparison), and the
  full network's late mode strengths (samples every :sample-every steps after
  :burn-time, pooled over seeds; effective sample size n (1 - rho)/(1 + rho)
  from their lag-1 autocorrelation rho).

  Options: :lr, :label-noise, :paths, :dt (continuous SDE step), :sde-time,
  :seeds (network; empty skips it), :net-time, :burn-time, :sample-every,
  :sde-seed (21; the two SDE runs use seeds derived from it and lr), :jobs, :progress.
  Returns {:lr :batch-size :label-noise :modes [{:mode :s :theory {..} :sde {..}
  :discrete {..} :network {..}}] :timing-ms}; each simulation block has :n
  (:n-eff) :mean :variance :ks :ks-threshold-95 :ks-threshold-99."
  [cfg {:keys [lr label-noise paths dt sde-time seeds net-time burn-time sample-every sde-seed jobs progress]
        :or {jobs 2 sde-seed 21}}]
  (let [{:keys [targets] :as cfg} (assoc (merge setup cfg) :lr lr :label-noise label-noise
                                         :strengths (:targets (merge setup cfg)))
        t0 (System/nanoTime)
        run-sde (fn [dt seed] (sde/simulate (sde-spec (assoc cfg :time sde-time)
                                                      {:paths paths :dt dt :threads jobs :seed seed
                                                       :record-time (/ (double sde-time) 10.0)})))
        seed-base (+ (long sde-seed) (* 2 (long (Math/round (* 1e4 (double lr))))))
        cont (run-sde dt seed-base)
        disc (run-sde (double lr) (inc seed-base))
        t-sde (study/elapsed-ms t0)
        t1 (System/nanoTime)
        ens (when (seq seeds)
              (network-ensemble (assoc cfg :time net-time :every sample-every) seeds
                                {:jobs jobs :progress progress :stage [:stationary lr]}))
        t-net (study/elapsed-ms t1)
        block (fn [cmp]
                (let [n (long (:n cmp))]
                  {:n n :mean (:mean cmp) :variance (:variance cmp) :ks (:ks cmp)
                   :ks-threshold-95 (ks-threshold n 0.05) :ks-threshold-99 (ks-threshold n 0.01)}))]
    {:lr lr :batch-size (:batch-size cfg) :label-noise label-noise
     :temperature (theory-sde/gibbs-temperature (mode-params cfg 1.0))
     :modes
     (vec (for [i (range (count targets))]
            (let [s (double (nth targets i))
                  params (mode-params cfg s)
                  c (sde/stationary-comparison cont {:mode i})
                  d (sde/stationary-comparison disc {:mode i})]
              {:mode i :s s
               :theory (theory-variances params)
               :sde (assoc (block c) :dt dt)
               :discrete (assoc (block d) :dt lr)
               :network
               (when ens
                 (let [k0 (long (Math/ceil (/ (double burn-time) (* (double lr) (double sample-every)))))
                       series (mapv (fn [path] (mapv #(double (nth % i)) (drop k0 path))) (:paths ens))
                       xs (vec (apply concat series))
                       n (count xs)
                       rho (max 0.0 (lag1-correlation series))
                       n-eff (* n (/ (- 1.0 rho) (+ 1.0 rho)))]
                   {:n n :n-eff n-eff :lag1-correlation rho :seeds (:seeds ens)
                    :mean (mean xs) :variance (sample-variance xs)
                    :ks (sde/ks-distance xs (theory-sde/stationary-cdf params))
                    :ks-threshold-95 (ks-threshold n-eff 0.05) :ks-threshold-99 (ks-threshold n-eff 0.01)
                    :samples-every sample-every
                    :histogram (let [edges (get-in c [:histogram :edges])
                                     lo (double (first edges)) w (- (double (second edges)) lo)
                                     nb (dec (count edges))
                                     counts (reduce (fn [acc x] (let [b (long (Math/floor (/ (- (double x) lo) w)))]
                                                                  (if (< -1 b nb) (update acc b inc) acc)))
                                                    (vec (repeat nb 0)) xs)]
                                 {:edges edges :density (mapv #(/ (double %) (* n w)) counts)})}))
               :histogram (:histogram c)
               :histogram-discrete (:histogram d)})))
     :timing-ms {:sde t-sde :network t-net}}))

;; ---------------------------------------------------------------- 3. weak error

(defn weak-error-study
  "Claim 3: for each learning rate, the mean over seeds of full-network SGD
  against (a) the per-mode SDE at small dt (the continuous process, lr/5 by
  default), (b) the same SDE at dt = lr (aligned SGD: Euler-Maruyama at SGD's
  step), (c) gradient flow (the SDE's noise-free RK4 curve); and (b) against (a)
  (the time-discretization part alone, from two large ensembles).

  Options: :lrs, :batch-size, :label-noise (0), :seeds, :paths, :dt-fraction
  (0.2: SDE dt = fraction x lr, at most :max-dt 0.002), :sde-seed (31), :jobs, :progress.
  Returns {:batch-size :label-noise :rows [{:lr :seeds :weak-error (max over
  modes, vs the SDE) :per-mode [..] :vs-discrete :vs-gradient-flow
  :discrete-vs-sde :max-se :curves {..}}] :timing-ms}."
  [cfg {:keys [lrs batch-size label-noise seeds paths dt-fraction max-dt sde-seed jobs progress]
        :or {label-noise 0.0 dt-fraction 0.2 max-dt 0.002 sde-seed 31 jobs 2}}]
  (let [base (assoc (merge setup cfg) :batch-size batch-size :label-noise label-noise)
        targets (:targets base)
        t0 (System/nanoTime)
        rows
        (vec
         (for [lr lrs]
           (let [lr (double lr)
                 rec (max 1 (steps-for lr 0.02))
                 c (assoc base :lr lr :every rec)
                 t1 (System/nanoTime)
                 ens (network-ensemble c seeds {:jobs jobs :progress progress :stage [:weak-error lr]})
                 mom (ensemble-moments (:paths ens))
                 t-net (study/elapsed-ms t1)
                 t2 (System/nanoTime)
                 dt (min (double max-dt) (* (double dt-fraction) lr))
                 cont (sde/simulate (sde-spec c {:paths paths :dt dt :threads jobs :record-time (* lr rec) :seed sde-seed}))
                 disc (sde/simulate (sde-spec c {:paths paths :dt lr :threads jobs :record-time (* lr rec)
                                                 :seed (inc (long sde-seed))}))
                 t-sde (study/elapsed-ms t2)
                 gf {:time (:time cont) :mean (:gradient-flow cont)}
                 per-mode (weak-error (:time ens) mom cont targets)
                 vs-disc (weak-error (:time ens) mom disc targets)
                 vs-gf (weak-error (:time ens) mom gf targets)
                 disc-vs-sde (weak-error (:time disc) {:mean (:mean disc)
                                                        :se (mapv (fn [row] (mapv #(/ (double (or % 0.0)) (Math/sqrt (double paths))) row))
                                                                  (:std disc))}
                                         cont targets)
                 mx (fn [rows] (double (reduce max 0.0 (map :weak-error rows))))]
             {:lr lr :seeds (:seeds ens) :paths paths :sde-dt dt
              :weak-error (mx per-mode)
              :per-mode per-mode
              :vs-discrete (mx vs-disc) :vs-discrete-per-mode (mapv :weak-error vs-disc)
              :vs-gradient-flow (mx vs-gf) :vs-gradient-flow-per-mode (mapv :weak-error vs-gf)
              :discrete-vs-sde (mx disc-vs-sde) :discrete-vs-sde-per-mode (mapv :weak-error disc-vs-sde)
              :max-se (double (reduce max 0.0 (map :max-se per-mode)))
              :curves {:time (:time ens) :network (:mean mom) :network-se (:se mom)
                       :sde-time (:time cont) :sde (:mean cont) :gradient-flow (:gradient-flow cont)}
              :timing-ms {:network t-net :sde t-sde}})))]
    {:batch-size batch-size :label-noise label-noise :rows rows :timing-ms (study/elapsed-ms t0)}))

;; ---------------------------------------------------------------- checks and tables

(defn- rel-diff ^double [a b] (/ (Math/abs (- (double a) (double b))) (Math/abs (double b))))

(defn variance-tolerance
  "Relative tolerance for a sample variance of n independent, near-Gaussian
  values: four standard errors, 4 sqrt(2/(n-1))."
  ^double [n]
  (* 4.0 (Math/sqrt (/ 2.0 (dec (double n))))))

(defn checks
  "The pass/fail checks of a report's sections (each {:claim :pass? :failures}),
  with the margins stated in each claim."
  [{:keys [diffusion stationary weak-error]}]
  (let [{:keys [sde sde-contrast network network-contrast]} diffusion
        main (:main weak-error)
        lr-rows (:rows main)
        small (first lr-rows) large (peek lr-rows)]
    {:sde-peak-before-learning
     (study/check "per-mode SDE, no label noise: for every mode the ensemble-mean diffusion peaks before the median time of pi = 0.9 s, in at least 90% of the paths each path's own peak comes before its own learning, and the ensemble mean at the peak is within 15% of pi* = 2(L-1)s/(3L-2)"
            (for [m sde :when (not (and (:precedes-learning? m)
                                        (>= (double (:paths-peak-before-learning m)) 0.9)
                                        (< (rel-diff (:peak-pi m) (:theory-peak-pi m)) 0.15)))]
              m))
     :network-peak-before-learning
     (study/check "full-network SGD, no label noise: for every mode the estimated diffusion, aligned on each run's own time of reaching 0.9 s, peaks at least one window before it (tau <= -window x lr), and the ensemble's estimated diffusion peaks before the median time of pi = 0.9 s"
            (for [m network :let [tl (get-in m [:learned 0.9])]
                  :when (not (and tl (:peak-time m) (:aligned-peak m)
                                  (< (double (:peak-time m)) (double tl))
                                  (<= (double (:aligned-peak m)) (- (* (double (:window diffusion)) (double (:lr diffusion)))))))]
              m))
     :network-diffusion-formula
     (study/check "full-network SGD: the second-difference estimate of D over 0.1 <= pi/s <= 0.9 is within 25% of dlnlab.theory.sde/diffusion at the same strengths, and the peak p/(p+q) of the fit D ~ x^p (1-x)^q to its bins is within 0.1 of pi*/s"
            (for [m network :let [fx (get-in m [:shape-fit :peak-x])]
                  :when (not (and (:bulk-ratio m) (<= 0.8 (double (:bulk-ratio m)) 1.25)
                                  fx (<= (Math/abs (- (double fx) (double (:theory-peak-x m)))) 0.1)))]
              m))
     :label-noise-contrast
     (study/check (str "contrast, label noise sigma = " (:label-noise (first sde-contrast))
                 ": D(pi) has no interior maximum, and the diffusion does not peak before learning (SDE: peak after the median learning time; network: aligned peak at tau > 0)")
            (concat (for [m sde-contrast :when (or (:theory-peak-pi m) (:precedes-learning? m))] m)
                    (for [m network-contrast :when (not (pos? (double (:aligned-peak m))))] m)))
     :stationary-sde
     (study/check "per-mode SDE with label noise (small dt): KS distance to the analytic stationary CDF below 1.63/sqrt(n) (the 1% Kolmogorov quantile) and variance within 4 standard errors (4 sqrt(2/(n-1)), relative) of the density's, for every mode and learning rate"
            (for [st stationary m (:modes st)
                  :when (not (and (< (double (get-in m [:sde :ks])) (double (get-in m [:sde :ks-threshold-99])))
                                  (< (rel-diff (get-in m [:sde :variance]) (get-in m [:theory :exact]))
                                     (variance-tolerance (get-in m [:sde :n])))))]
              {:lr (:lr st) :mode (:mode m) :sde (:sde m) :theory (:theory m)}))
     :stationary-discrete
     (study/check "aligned SGD (the SDE at dt = lr): variance within 4 standard errors of the linearized discrete variance lr sigma^2 S / (B(2 - lr S) - 2 lr S) for every mode; at the largest lr its top mode is off the continuous density (KS above 1.63/sqrt(n))"
            (concat
             (for [st stationary m (:modes st)
                   :let [v (get-in m [:theory :linear-discrete])]
                   :when (not (and v (< (rel-diff (get-in m [:discrete :variance]) v)
                                        (variance-tolerance (get-in m [:discrete :n])))))]
               {:lr (:lr st) :mode (:mode m) :discrete (:discrete m) :theory (:theory m)})
             (let [m (first (:modes (peek stationary)))]
               (when-not (> (double (get-in m [:discrete :ks])) (double (get-in m [:discrete :ks-threshold-99])))
                 [{:lr (:lr (peek stationary)) :mode 0 :discrete (:discrete m)}]))))
     :weak-error
     (study/check (str "weak error (max over modes) below 0.05 s at the smallest lr (" (:lr small) ") and at the largest lr ("
                 (:lr large) ") above twice that and above 0.05 s")
            (concat
             (when-not (< (double (:weak-error small)) 0.05) [(select-keys small [:lr :weak-error :max-se])])
             (when-not (and (> (double (:weak-error large)) (* 2.0 (double (:weak-error small))))
                            (> (double (:weak-error large)) 0.05))
               [(select-keys large [:lr :weak-error :max-se])])))}))

;; ---------------------------------------------------------------- variants and the report

(def main-columns
  "Columns of the main table: per mode, where the diffusion peaks (predicted
  pi*/s against the full network's fitted peak) and when (gradient flow's
  t(pi*), the SDE's and SGD's peak times) against when the mode is learned."
  [[:mode "mode"] [:s "s"] [:theory-peak-x "predicted peak π*/s"] [:net-fit-x "SGD: fitted peak π/s"]
   [:net-ratio "SGD: D̂/D"] [:gf-peak "GF: t(π*)"] [:sde-peak "SDE: peak t"] [:net-peak "SGD: peak t"]
   [:sde-learned "SDE: median t(0.9 s)"] [:net-learned "SGD: median t(0.9 s)"]])

(def claim
  "The claim reproduced (issue 6, item 4; doc/science.md §7 [SDE])."
  (str "SGD in the saddle-to-saddle regime of deep linear networks (small, balanced and aligned initialization, "
       "one-pass minibatch SGD on x ~ N(0, I) teacher-student data) is described mode by mode by the SDE "
       "da = a^(L-1)(s - a^L) dt + sqrt(lr/B) a^(L-1) sqrt(2(a^L - s)^2 + sigma^2) dW on t = lr x steps. Its diffusion "
       "D(pi) = (lr/B) L^2 pi^(4-4/L)(2(pi-s)^2 + sigma^2) peaks at pi* = 2(L-1)s/(3L-2) < s, so without label noise "
       "the noise is largest just before each mode is learned; with label noise a learned mode fluctuates with the "
       "SDE's stationary density (variance near T L s^(2-2/L), T = lr sigma^2/(2B)); and the SDE ensemble's mean "
       "trajectories follow full-network SGD with a weak error that shrinks with lr."))

(defn- strip-curves
  "A weak-error study with :curves kept only in the rows at the given learning rates."
  [study keep-lrs]
  (update study :rows (fn [rows] (mapv #(if (some #{(:lr %)} keep-lrs) % (dissoc % :curves)) rows))))

(defn reproduce
  "Runs the [SDE] reproduction (see `claim` and `variants`) and returns its
  report as plain data.

  Options: :variant (:quick; :full or :reduced); :jobs (2) parallel runs and
  SDE threads; :progress (fn [{:stage :done :total}]) called after each network
  run (possibly from worker threads); :seed-base (1): the network runs use seeds
  seed-base, seed-base + 1, ... and the SDE seeds move with it (to check that a
  result does not hang on one draw).
  Returns {:study :claim :reference :variant :setup :main {:table}
  :diffusion (`diffusion-study`; :table Markdown)
  :stationary [`stationary-study` per lr] :stationary-table
  :weak-error {:main :batch-contrast :label-noise (`weak-error-study`s) :table}
  :checks {name {:claim :pass? :failures}} :figures [figure data ...]
  :timing-ms {...}}.
  Throws ex-info for an unknown variant."
  ([] (reproduce {}))
  ([{:keys [variant jobs progress seed-base] :or {variant :quick jobs 2 seed-base 1}}]
   (let [v (study/variant variants variant)
         seed-base (long seed-base)
         seeds (fn [n] (vec (range seed-base (+ seed-base (long n)))))
         sde-seed (fn [^long k] (+ k (* 100 (dec seed-base))))
         cfg setup
         {dv :diffusion sv :stationary wv :weak-error bc :batch-contrast ln :label-noise} v
         [diff t-diff] (study/timed #(diffusion-study cfg (assoc dv :seeds (seeds (:seeds dv)) :jobs jobs :progress progress
                                                                :sde-seed (sde-seed 11))))
         [stat t-stat] (study/timed (fn []
                                (mapv (fn [lr]
                                        (stationary-study cfg (assoc sv :lr lr :seeds (seeds (:seeds sv)) :jobs jobs :progress progress
                                                                     :sde-seed (sde-seed 21)
                                                                     :sample-every (max 1 (steps-for lr (:sample-time sv 0.1))))))
                                      (:lrs sv))))
         wcfg (cond-> cfg (:time wv) (assoc :time (:time wv)))
         wopts (fn [m] (merge {:seeds (seeds (:seeds wv)) :paths (:paths wv) :jobs jobs :progress progress
                               :sde-seed (sde-seed 31)
                               :batch-size (:batch-size wv (:batch-size cfg))}
                              m))
         [main t-main] (study/timed #(weak-error-study wcfg (wopts {:lrs (:lrs wv)})))
         [bcs t-bc] (if bc (study/timed #(weak-error-study wcfg (wopts {:lrs (:lrs bc) :batch-size (:batch-size bc)}))) [nil 0])
         [lns t-ln] (if ln (study/timed #(weak-error-study wcfg (wopts {:lrs (:lrs ln) :label-noise (:label-noise ln)}))) [nil 0])
         lrs (:lrs wv)
         main (strip-curves main [(first lrs) (peek lrs)])
         report {:diffusion diff :stationary stat :weak-error {:main main}}
         figs (vec (concat
                    [(fig/figure :s2s-diffusion-vs-time diff)
                     (fig/figure :s2s-diffusion-vs-strength diff {:cfg cfg})
                     (fig/figure :s2s-diffusion-aligned diff)
                     (fig/figure :s2s-weak-error main)
                     (fig/figure :s2s-mean-trajectories (first (:rows main)) {:name :s2s-means-small-lr})
                     (fig/figure :s2s-mean-trajectories (peek (:rows main)) {:name :s2s-means-large-lr})]
                    (map #(fig/figure :s2s-stationary %) stat)))
         strip-diff (fn [d] (-> d (dissoc :sde-curves)
                                (update :network-curves (fn [cs] (mapv #(select-keys % [:mode :s :bins]) cs)))))
         strip-stat (fn [st] (update st :modes (fn [ms] (mapv #(-> % (dissoc :histogram :histogram-discrete)
                                                                    (update :network dissoc :histogram))
                                                              ms))))
         strip-weak (fn [w] (when w (update w :rows (fn [rows] (mapv #(dissoc % :curves) rows)))))]
     {:study :saddle-to-saddle
      :claim claim
      :reference "doc/science.md §4, §7 [SDE]; issue 6, item 4"
      :variant variant
      :setup {:network "chain, depth 3, width 6, balanced-aligned init, every mode at pi0 = 1e-3"
              :task "teacher-student, 3 x 3 teacher with singular values 3, 2, 1 (identity basis), x ~ N(0, I)"
              :optimizer (str "one-pass SGD, B = " (:batch-size (wopts {})) " (weak error), "
                              (:batch-size cfg) " (diffusion, stationary); time t = lr x steps")
              :sde "dlnlab.sde/simulate, Euler-Maruyama, one mode per target"
              :why-one-pass (str "the SDE's noise is that of a fresh Gaussian batch each step, which one-pass sampling draws; "
                                 "a finite training set would add a fixed O(1/sqrt(n)) offset of its optimum from the teacher "
                                 "and correlations between steps that reuse samples")}
      :main {:table (study/markdown-table (diffusion-rows diff) main-columns)}
      :diffusion (assoc (strip-diff diff) :table (study/markdown-table (diffusion-rows diff) diffusion-columns))
      :stationary (mapv strip-stat stat)
      :stationary-table (study/markdown-table (stationary-rows stat) stationary-columns)
      :weak-error {:main (strip-weak main) :batch-contrast (strip-weak bcs) :label-noise (strip-weak lns)
                   :table (study/markdown-table (vec (concat (weak-rows main) (when bcs (weak-rows bcs)) (when lns (weak-rows lns))))
                                          weak-columns)}
      :checks (checks report)
      :figures figs
      :timing-ms {:total (+ (long t-diff) (long t-stat) (long t-main) (long t-bc) (long t-ln))
                  :diffusion t-diff :diffusion-parts (:timing-ms diff)
                  :stationary t-stat :stationary-parts (mapv :timing-ms stat)
                  :weak-error t-main :weak-error-parts (mapv :timing-ms (:rows main))
                  :batch-contrast t-bc :label-noise t-ln :jobs jobs}})))

(defn reduced
  "The seconds-long version of `reproduce` used by the tests:
  (reproduce {:variant :reduced :jobs 2})."
  []
  (reproduce {:variant :reduced :jobs 2}))
