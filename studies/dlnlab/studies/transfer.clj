(ns dlnlab.studies.transfer
  "Reproduces the headline results of [BP] (Bordelon & Pehlevan, \"Deep linear
  network training dynamics from random initialization: data, width, depth, and
  hyperparameter transfer\", arXiv 2502.02531; doc/science.md sources and §1
  parameterizations) on teacher-student regression with randomly initialized deep
  linear networks:

  1. width: under :mup the learning rate eta that gives the lowest loss after a
     fixed number of steps is the same at every width (and wider is a little
     better); under :ntk the optimal eta moves with width, because the NTK
     network is :mup with gamma0 replaced by gamma0 sqrt(D/N) and gets lazier as
     it widens (doc/science.md §1).
  2. depth: residual networks with branches scaled beta0/sqrt(L) (doc/science.md §1)
     under :mup: the optimal eta settles (judged on the seed average of the
     per-seed optima) and the loss curves converge as L grows.
  3. data: one-pass SGD (fresh samples every step) against the same batch size
     on a fixed dataset (full-batch GD, or SGD in epochs): the test losses agree
     while data is fresh and split once it repeats.
  4. power-law data (Sigma eigenvalues k^-alpha, doc/science.md §2): the loss decays
     as a power of time; the exponent is fitted on a window of loss levels and
     compared with the network linearized at its initialization (the lazy/NTK
     limit, computed here independently of the run loop) and with the
     infinite-dimension asymptotes.
  5. wider is better: under :mup the seed-mean loss at a fixed step falls with
     width as L_N = L_inf + c/N with c > 0 (a weighted fit over widths, its 95%
     interval excluding 0), and L_inf(t), extrapolated at every step, is the
     N -> infinity loss curve; :ntk for contrast.

  Every experiment is a documented def (plain data) run through dlnlab.core;
  `reproduce` runs the :quick or :full variant and returns a plain-data report,
  `reduced` a seconds-long version for the tests. Figures are dlnlab.plot figure
  data (`plot/render!` draws them, `plot/vega-lite` turns them into specs)."
  (:refer-clojure :exclude [reduced])
  (:require [clojure.string :as str]
            [dlnlab.core :as core]
            [dlnlab.engine :as engine]
            [dlnlab.error :as error]
            [dlnlab.studies.transfer.estimate :as estimate
             :refer [argmin-index fit-in-window geometric-tail-mean inverse-width-fit inverse-width-prediction
                     isotropic-lazy-losses
                     level-window linearized-losses mean-and-standard-error power-law-fit tangent-kernel-terms]]
            [dlnlab.studies.transfer.runs
             :refer [curve-distance lazy-best mean-log-curve ms-per-step pooled-best run-grid score tail-fraction]]
            [dlnlab.studies.transfer.figures
             :refer [data-figures deep-from depth-figures finite? power-law-figures round-sig width-figures
                     wider-figures]]
            [dlnlab.studies.transfer.verdict
             :refer [at-deep checks data-verdict depth-verdict power-law-verdict spread summary width-table
                     width-verdict wider-table wider-verdict]]
            [dlnlab.study :as study]
            [dlnlab.theory :as theory])
  (:import [dlnlab.kernel Blas Objective]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------------------
;; Experiments as data (studies/dlnlab/studies/transfer.edn)

(def ^:private data (study/load-data "dlnlab/studies/transfer.edn"))

(defn- half-octaves
  "2^(k/2) for k = from .. to."
  [[from to]]
  (mapv #(Math/pow 2.0 (/ (double %) 2.0)) (range from (inc (long to)))))

(def lr-grid
  "Learning rates eta of the sweeps: half-octave steps 2^(k/2), k = -4 .. 12
  (0.25 .. 64). The effective rate is eta times the parameterization's
  multiplier (gamma0^2 N for :mup, gamma0^2 D for :ntk; doc/science.md §1)."
  (half-octaves (:lr-grid data)))

(def depth-lr-grid
  "Learning rates of the depth sweep: 2^(k/2), k = -6 .. 8 (0.125 .. 16); the
  residual networks' optimum lies lower than the chains'."
  (half-octaves (:depth-lr-grid data)))

(def width-experiment
  "Base of the width sweep: a depth-3 chain D -> N -> N -> 1 at richness
  gamma0 = 2, full-batch GD for 60 steps, loss recorded every step, on
  teacher-student data with D = 16 inputs, one output, x ~ N(0, Sigma) with
  Sigma eigenvalues k^-1.5 (slow directions keep the loss falling over the run)
  and 512 training samples (full batch: close to the population loss). The sweep
  sets :parameterization (:mup, :ntk), :width and :optimizer :lr. gamma0 = 2
  makes the NTK network (:mup at gamma0' = 2 sqrt(16/N)) go from rich
  (gamma0' = 1 at N = 64) towards lazy (0.25 at N = 1024) over the widths."
  (get-in data [:experiments :width]))

(def depth-experiment
  "Base of the depth sweep: a :residual network of width 128 (h0 = W_in x,
  L blocks h <- h + (beta0/sqrt L) W_l h, f = W_out h_L; doc/science.md §1) under
  :mup with gamma0 = 2, beta0 = 1, full-batch GD for 60 steps on the task of
  `width-experiment`. The sweep sets :depth and :optimizer :lr."
  (get-in data [:experiments :depth]))

(def data-experiment
  "Base of the one-pass vs repeated-data comparison: a depth-3 :mup chain of width
  128 (gamma0 = 2) on D = 32 inputs with Sigma eigenvalues k^-1, one output, no
  label noise, n = 16 < D training samples (so no interpolant of them need be the
  teacher) and 4096 test samples; 400 steps at eta = 0.5, train and test loss
  recorded every 5 steps. The comparison sets :optimizer to full-batch GD on the
  n samples, SGD with batch n/4 in epochs over them, and one-pass SGD (fresh
  teacher samples every step) with batch n and n/4."
  (get-in data [:experiments :data]))

(def power-law-experiment
  "Base of the power-law exponent runs: a depth-3 :mup chain of width 256 on
  D = 64 inputs with Sigma eigenvalues k^-2 (doc/science.md §2), 8 outputs (so
  each eigendirection's teacher weight averages 8 Gaussians: one output makes
  the exponent depend strongly on the draw), a Gaussian teacher, 32 D = 2048
  samples (full batch, close to the population), 2000 GD steps at
  eta = 0.125 * 2D/L = 5.33: an eighth of the lazy stability limit 2/c with
  c = L/D the kernel scale per unit eta at initialization (see
  `isotropic-lazy-losses`), low enough that the rich run stays clear of the edge
  of stability through the level window (its growing kernel reaches it late in
  the run: spikes after ~1500 steps). The runs set :gamma0: 0.1 (lazy) and 1.0
  (rich)."
  (get-in data [:experiments :power-law]))

(def wider-experiment
  "Base of the \"wider is better\" study ([BP]'s first headline): a depth-3 chain
  16 -> N -> N -> 8 at richness gamma0 = 1 trained by full-batch GD at eta = 0.25
  for 40 steps on the population loss with whitened inputs (infinite data):
  l = 1/2 ||F - M||^2 with M = diag(1, 1/2, ..., 1/8) in the first 8 of 16 input
  directions, so the 8 modes are learned one after another (feature learning)
  and the loss is still falling at the end. The task has no randomness: the
  experiment seed draws only the initial weights, so seed means over
  initializations resolve the finite-width effect. The study sets
  :parameterization, :width and :seed."
  (get-in data [:experiments :wider]))

(def variants
  "Options of each part per variant (transfer.edn). :quick takes about a minute
  on 2 cores. :full adds width 2048, four seeds for the width sweep, depth 64
  for the depth sweep, and D = 128, N = 512, 4000 steps and gamma0 0.25 for the
  exponent, and widths up to 2048 with 16 seeds for the width study: 6.5
  minutes on 2 cores (see examples/papers/transfer.md). :reduced is seconds
  long, for the tests, except its width study, which is the :quick one. :base-changes are assoc-in paths applied to
  the part's base experiment; :lr-grid [from to] sets :lrs to 2^(k/2)."
  (:variants data))

(defn width-transfer
  "The learning-rate sweep over widths under :mup and :ntk ([BP]; doc/science.md §1).
  For each parameterization and seed, `width-experiment` runs over widths x lrs
  (one seed per sweep: same data and raw initial weights across learning rates);
  a run's score is the geometric mean of its loss over the last 20% of steps
  (`geometric-tail-mean`), nil when it diverged. Beside each width, the best lr
  index of the network linearized at initialization (the lazy limit that :ntk
  approaches as N grows).

  Options: :widths ([64 128 256 512 1024]), :lrs (`lr-grid`), :seeds ([1 2]),
  :steps (60), :curve-lr (1.0, added to lrs if missing) the lr of the loss
  curves, :jobs (2), :progress (fn [map]), :base (`width-experiment`).
  Returns {:widths :lrs :runs [{:parameterization :seed :width :scores [..]
  :final-losses [..] :best-index :best-lr :lazy-best-index}] :summary {param
  {:best-index-by-seed {seed [index per width]} :index-spread-by-seed {seed n}
  :pooled-best-index [index per width] :lazy-best-index [..] :curve-score [score
  at :curve-lr per width, seed-averaged in log]}} :curves {param {:lr :by-width
  {N [seed-averaged loss per step]}}} :ms-per-step {param {N median wall ms per
  step of the first seed's completed runs}}}."
  [{:keys [widths lrs seeds steps curve-lr jobs progress base]
    :or {widths [64 128 256 512 1024] lrs lr-grid seeds [1 2] steps 60 curve-lr 1.0 jobs 2 base width-experiment}}]
  (let [lrs (vec (distinct (sort (conj (vec lrs) (double curve-lr)))))
        ci (.indexOf ^java.util.List lrs (double curve-lr))
        params [:mup :ntk]
        sweeps (into {} (for [p params seed seeds]
                          [[p seed] (run-grid (-> base (assoc :seed seed :steps steps)
                                                  (assoc-in [:model :parameterization] p))
                                              {[:model :width] widths [:optimizer :lr] lrs}
                                              {:jobs jobs :progress progress :stage [:width p seed]})]))
        nl (count lrs)
        groups (fn [p seed] (map vector widths (partition nl (sweeps [p seed]))))
        runs (vec (for [p params seed seeds [N group] (groups p seed)]
                    (let [scores (mapv score group)
                          best (argmin-index scores)]
                      {:parameterization p :seed seed :width N
                       :scores (mapv round-sig scores)
                       :final-losses (mapv #(when (= :completed (:status %)) (round-sig (get-in % [:final :loss]))) group)
                       :best-index best :best-lr (when best (nth lrs best))
                       :lazy-best-index (lazy-best (-> base (assoc :seed seed) (assoc-in [:model :parameterization] p)
                                                       (assoc-in [:model :width] N))
                                                   lrs steps)})))
        row (fn [p seed N] (first (filter #(and (= p (:parameterization %)) (= seed (:seed %)) (= N (:width %))) runs)))
        pooled-curves (fn [p] (mapv (fn [i] (mean-log-curve (mapv #(get-in (nth (second (nth (groups p %) i)) ci)
                                                                             [:trajectory :loss])
                                                                    seeds)))
                                    (range (count widths))))
        summary (into {} (for [p params]
                           (let [by-seed (into (sorted-map) (for [seed seeds] [seed (mapv #(:best-index (row p seed %)) widths)]))]
                             [p {:best-index-by-seed by-seed
                                 :index-spread-by-seed (into (sorted-map) (for [[s v] by-seed] [s (spread v)]))
                                 :pooled-best-index (mapv (fn [N] (pooled-best (mapv #(:scores (row p % N)) seeds))) widths)
                                 :lazy-best-index (mapv (fn [N] (mapv #(:lazy-best-index (row p % N)) seeds)) widths)
                                 :curve-score (mapv (fn [c] (some-> c (geometric-tail-mean tail-fraction) round-sig)) (pooled-curves p))}])))
        timing (into {} (for [p params]
                          [p (into (sorted-map) (for [[N g] (groups p (first seeds))] [N (ms-per-step g steps)]))]))
        curves (into {} (for [p params]
                          [p {:lr (double curve-lr)
                              :by-width (into (sorted-map) (map (fn [N c] [N (some->> c (mapv round-sig))]) widths (pooled-curves p)))}]))]
    {:widths widths :lrs lrs :seeds seeds :steps steps :runs runs :summary summary :curves curves
     :ms-per-step timing}))

(defn geometric-mean-lr
  "exp(mean log lr) of the learning rates lrs[i] over the indices idxs (one per
  seed): the seed average of optima on a log grid, which keeps the half-octave
  units of the grid. Returns nil when idxs is empty or holds a nil (a seed whose
  every run diverged)."
  [lrs idxs]
  (when (and (seq idxs) (every? some? idxs))
    (Math/exp (/ (double (reduce + (map #(Math/log (double (nth lrs %))) idxs))) (double (count idxs))))))

(defn half-octave-spread
  "2 log2(max/min) of positive numbers xs: how many half-octaves (factors of
  sqrt 2) they span. Returns nil when xs is empty or holds a nil."
  [xs]
  (when (and (seq xs) (every? some? xs))
    (* 2.0 (/ (Math/log (/ (double (apply max xs)) (double (apply min xs)))) (Math/log 2.0)))))

(defn depth-transfer
  "The learning-rate sweep over depths of :mup residual networks with branches
  scaled beta0/sqrt(L) ([BP]; doc/science.md §1): `depth-experiment` over depths x
  lrs per seed, scored as in `width-transfer`. The per-seed optimum is the grid
  argmin of the scores. Near the edge of stability a run's loss spikes
  (catapults) at steps that change erratically with lr and depth, so one seed's
  argmin can jump by two half-octaves at one depth and come back at the next;
  the seed average of the optima, exp(mean over seeds of log best lr)
  (`geometric-mean-lr`), keeps a systematic drift with depth and averages those
  jumps down, and its spread over L >= 8 (`half-octave-spread`) is what the
  claim is judged on. The loss curves at the fixed :curve-lr are compared with
  the deepest one by the mean over steps of |log l_L(t) - log l_deepest(t)|, per
  seed and for the curves averaged (in log) over seeds.

  Options: :depths ([1 2 4 8 16 32]), :lrs (`depth-lr-grid`), :seeds ([1 .. 8]),
  :steps (60), :curve-lr (0.25, below every seed's edge of stability),
  :branch-scale (:inverse-sqrt-depth, the base's beta0; or :unscaled, beta0 =
  sqrt L so every branch enters with scale 1: the contrast without the depth
  limit), :jobs (2), :progress, :base (`depth-experiment`).
  Returns {:depths :lrs :seeds :steps :branch-scale :runs [{:seed :depth :scores
  :final-losses :best-index :best-lr}] :summary {:best-index-by-seed {seed [..]}
  :geometric-mean-best-lr [per depth] :deep-spread-half-octaves (spread of that
  over L >= 8) :pooled-best-index [argmin of seed-averaged log scores per depth]
  :distance-to-deepest-by-seed {seed [d per depth]} :pooled-distance-to-deepest
  [..]} :curves {:lr :by-depth {L [seed-averaged loss per step]}} :ms-per-step
  {L median wall ms per step}}.
  Throws ex-info {:path :value :allowed} for an unknown :branch-scale."
  [{:keys [depths lrs seeds steps curve-lr branch-scale jobs progress base]
    :or {depths [1 2 4 8 16 32] lrs depth-lr-grid seeds [1 2 3 4 5 6 7 8] steps 60 curve-lr 0.25
         branch-scale :inverse-sqrt-depth jobs 2 base depth-experiment}}]
  (when-not (#{:inverse-sqrt-depth :unscaled} branch-scale)
    (throw (ex-info (str "[:branch-scale] must be :inverse-sqrt-depth or :unscaled, got " (pr-str branch-scale) ".")
                    {:path [:branch-scale] :value branch-scale :allowed #{:inverse-sqrt-depth :unscaled}})))
  (let [lrs (vec (distinct (sort (conj (vec lrs) (double curve-lr)))))
        ci (.indexOf ^java.util.List lrs (double curve-lr))
        beta0 (fn [L] (if (= branch-scale :unscaled) (Math/sqrt (double L)) (double (get-in base [:model :beta0] 1.0))))
        sweeps (into {} (for [seed seeds]
                          [seed (vec (mapcat (fn [L] (run-grid (assoc base :seed seed :steps steps)
                                                               {[:model :depth] [L] [:model :beta0] [(beta0 L)]
                                                                [:optimizer :lr] lrs}
                                                               {:jobs jobs :progress progress :stage [:depth seed]}))
                                             depths))]))
        groups (fn [seed] (map vector depths (partition (count lrs) (sweeps seed))))
        runs (vec (for [seed seeds [L group] (groups seed)]
                    (let [scores (mapv score group) best (argmin-index scores)]
                      {:seed seed :depth L
                       :scores (mapv round-sig scores)
                       :final-losses (mapv #(when (= :completed (:status %)) (round-sig (get-in % [:final :loss]))) group)
                       :best-index best :best-lr (when best (nth lrs best))})))
        row (fn [seed L] (first (filter #(and (= seed (:seed %)) (= L (:depth %))) runs)))
        geo (mapv (fn [L] (geometric-mean-lr lrs (mapv #(:best-index (row % L)) seeds))) depths)
        deep-geo (at-deep depths geo)
        curves (into {} (for [seed seeds]
                          [seed (mapv (fn [[_ g]] (get-in (nth g ci) [:trajectory :loss])) (groups seed))]))
        to-deepest (fn [cs] (mapv #(round-sig (curve-distance % (peek cs))) cs))
        pooled (mapv (fn [i] (mean-log-curve (mapv #(nth (curves %) i) seeds))) (range (count depths)))]
    {:depths depths :lrs lrs :seeds seeds :steps steps :branch-scale branch-scale :runs runs
     :ms-per-step (into (sorted-map) (for [[L g] (groups (first seeds))] [L (ms-per-step g steps)]))
     :summary {:best-index-by-seed (into (sorted-map) (for [seed seeds] [seed (mapv #(:best-index (row seed %)) depths)]))
               :geometric-mean-best-lr (mapv round-sig geo)
               :deep-spread-half-octaves (when (seq deep-geo) (round-sig (half-octave-spread deep-geo)))
               :pooled-best-index (mapv (fn [L] (pooled-best (mapv #(:scores (row % L)) seeds))) depths)
               :distance-to-deepest-by-seed (into (sorted-map) (for [seed seeds] [seed (to-deepest (curves seed))]))
               :pooled-distance-to-deepest (when (every? some? pooled) (to-deepest pooled))}
     :curves {:lr (double curve-lr)
              :by-depth (into (sorted-map) (map (fn [L c] [L (some->> c (mapv round-sig))]) depths pooled))}}))

(defn- data-optimizers
  "The four optimizers of the data comparison for n samples and lr."
  [n lr]
  (let [b (max 1 (quot (long n) 4))]
    [[:repeated-full-batch {:kind :gd :lr lr}]
     [:one-pass-full-batch {:kind :sgd :lr lr :batch-size n :sampling :one-pass}]
     [:repeated-epochs {:kind :sgd :lr lr :batch-size b :sampling :epochs}]
     [:one-pass-small-batch {:kind :sgd :lr lr :batch-size b :sampling :one-pass}]]))

(defn- split-step
  "First recorded step at which the repeated-data test loss exceeds ratio times
  the one-pass one (and stays above at every later record), or nil."
  [steps repeated one-pass ratio]
  (let [above (mapv (fn [a b] (and (finite? a) (finite? b) (> (double a) (* (double ratio) (double b))))) repeated one-pass)
        n (count above)]
    (some (fn [^long i] (when (every? true? (subvec above i n)) (nth steps i))) (range n))))

(defn data-reuse
  "One-pass SGD against the same batch size on a fixed training set ([BP]): for
  each seed, `data-experiment` runs with full-batch GD on the n samples
  (repeated every step), one-pass SGD with batch n, SGD with batch n/4 in epochs
  (repeated every 4 steps) and one-pass SGD with batch n/4, from the same data
  and initial weights. The split step is the first recorded step from which the
  repeated-data test loss stays above :ratio times the one-pass one. The lazy
  reference is the network linearized at initialization trained by GD on the n
  samples and on the 4096 test samples (a stand-in for the population), test
  loss recorded.

  Options: :seeds ([1 2]), :steps (400), :ratio (2.0), :jobs (2), :progress,
  :base (`data-experiment`).
  Returns {:optimizers {name optimizer} :by-seed {seed {name {:step [..] :loss [..]
  :test-loss [..] :final-loss :final-test-loss}}} :split-step {seed {:full-batch s
  :small-batch s}} :lazy {seed {:repeated [test loss per record] :population [..]}}}."
  [{:keys [seeds steps ratio jobs progress base]
    :or {seeds [1 2] steps 400 ratio 2.0 jobs 2 base data-experiment}}]
  (let [n (long (get-in base [:task :samples]))
        lr (double (get-in base [:optimizer :lr]))
        opts (data-optimizers n lr)
        every (long (get-in base [:record :every] 1))
        by-seed (into (sorted-map)
                      (for [seed seeds]
                        (let [rs (run-grid (assoc base :seed seed :steps steps)
                                           {[:optimizer] (mapv second opts)}
                                           {:jobs jobs :progress progress :stage [:data seed]})]
                          [seed (into {} (for [[[nm _] r] (map vector opts rs)]
                                           [nm {:status (:status r)
                                                :step (get-in r [:trajectory :step])
                                                :loss (mapv round-sig (get-in r [:trajectory :loss]))
                                                :test-loss (mapv round-sig (get-in r [:trajectory :test-loss]))
                                                :final-loss (round-sig (get-in r [:final :loss]))
                                                :final-test-loss (round-sig (get-in r [:final :test-loss]))}]))])))
        split (into (sorted-map)
                    (for [[seed m] by-seed]
                      [seed {:full-batch (split-step (get-in m [:repeated-full-batch :step])
                                                     (get-in m [:repeated-full-batch :test-loss])
                                                     (get-in m [:one-pass-full-batch :test-loss]) ratio)
                             :small-batch (split-step (get-in m [:repeated-epochs :step])
                                                      (get-in m [:repeated-epochs :test-loss])
                                                      (get-in m [:one-pass-small-batch :test-loss]) ratio)}]))
        lazy (into (sorted-map)
                   (for [seed seeds]
                     (let [net (core/network (assoc base :seed seed))
                           pick (fn [ls] (mapv round-sig (take-nth every ls)))
                           test-obj (:test-objective net)]
                       [seed {:repeated (pick (linearized-losses net lr steps {:objective test-obj}))
                              :population (pick (linearized-losses (assoc net :objective test-obj) lr steps))}])))]
    {:optimizers (into {} opts) :samples n :ratio ratio :by-seed by-seed :split-step split :lazy lazy}))

(defn- fit-summary [fit]
  (when fit {:exponent (round-sig (:exponent fit)) :r2 (round-sig (:r2 fit)) :window (:window fit)}))

(defn- power-law-seed
  "The power-law runs of one seed (see `power-law`)."
  [base seed gamma0s levels late-from jobs progress iso]
  (let [steps (long (:steps base))
        base (assoc base :seed seed)
        D (long (get-in base [:task :input-dim]))
        lr (double (get-in base [:optimizer :lr]))
        iso-steps (vec (range (count iso)))
        rs (run-grid base {[:model :gamma0] gamma0s} {:jobs jobs :progress progress :stage [:power-law seed]})
        keep-step? (let [ks (set (map #(long (Math/round (Math/pow 10.0 (/ (double %) 40.0))))
                                     (range 0 (inc (long (* 40.0 (Math/log10 (double (max 1 steps)))))))))]
                     (fn [s] (or (zero? (long s)) (contains? ks (long s)))))
        thin (fn [steps-v losses] (vec (for [[s l] (map vector steps-v losses) :when (keep-step? s)] [s (round-sig l)])))]
    (vec (for [[g r] (map vector gamma0s rs)]
           (let [net (core/network (assoc-in base [:model :gamma0] g))
                 ^Objective obj (:objective net)
                 f0-loss (.lossAndResidual obj (double-array (* D (long (get-in net [:task :dims :output]))))
                                           nil (double-array (.workSize obj)))
                 [hi lo] (map #(* f0-loss (double %)) levels)
                 st (get-in r [:trajectory :step])
                 ls (get-in r [:trajectory :loss])
                 lin (linearized-losses net lr steps)
                 lin-steps (vec (range (count lin)))
                 w-run (level-window st ls hi lo)
                 w-lin (level-window lin-steps lin hi lo)
                 late [late-from steps]]
             {:seed seed :gamma0 g :status (:status r)
              :zero-output-loss (round-sig f0-loss)
              :initial-loss (round-sig (first ls)) :final-loss (round-sig (last ls))
              :late {:run (fit-summary (fit-in-window st ls late))
                     :linearized (fit-summary (fit-in-window lin-steps lin late))
                     :isotropic (fit-summary (fit-in-window iso-steps iso late))}
              :level {:run (when w-run (fit-summary (fit-in-window st ls w-run)))
                      :linearized (when w-lin (fit-summary (fit-in-window lin-steps lin w-lin)))
                      :isotropic (when w-run (fit-summary (fit-in-window iso-steps iso w-run)))}
              :curve (thin st ls)
              :linearized-curve (thin lin-steps lin)})))))

(defn power-law
  "The loss exponent on power-law data ([BP]; doc/science.md §2): `power-law-experiment`
  at each gamma0 of :gamma0s, per seed (same data and raw initial weights across
  gamma0). The exponent is fitted to log loss against log step (`fit-in-window`)
  on the late window [:late-from, steps], and on the level window between the
  first steps at which the loss reaches :levels [hi lo] times the loss of F = 0
  (the teacher's loss): comparing runs at equal loss levels removes a mere
  rescaling of time. Beside each fit: the network linearized at its
  initialization (`linearized-losses`, the lazy limit of this very network, on
  the same steps and on its own level window), the isotropic finite-D lazy model
  (`isotropic-lazy-losses`, same steps) and the D -> infinity asymptotes
  `dlnlab.theory/lazy-exponent` and `dlnlab.theory/rich-exponent`.

  Options: :gamma0s ([0.1 1.0], lazy first), :seeds ([1 2]), :steps (from
  base), :late-from (steps/10), :levels ([0.1 0.03]), :jobs (2), :progress,
  :base (`power-law-experiment`).
  Returns {:alpha :input-dim :output-dim :width :depth :lr :steps :late-from
  :levels :theory {:lazy-asymptote :rich-asymptote} :runs [{:seed :gamma0 :status
  :zero-output-loss :initial-loss :final-loss :late {:run fit :linearized fit
  :isotropic fit} :level {:run fit :linearized fit :isotropic fit} :curve [[step
  loss] ...] :linearized-curve [..]}]}, each fit {:exponent :r2 :window [from to]}
  or nil when the loss never reached a level."
  [{:keys [gamma0s seeds steps late-from levels jobs progress base]
    :or {gamma0s [0.1 1.0] seeds [1 2] levels [0.1 0.03] jobs 2 base power-law-experiment}}]
  (let [steps (long (or steps (:steps base)))
        late-from (long (or late-from (max 1 (quot steps 10))))
        base (assoc base :steps steps)
        alpha (double (get-in base [:task :covariance :power-law]))
        D (long (get-in base [:task :input-dim]))
        L (long (get-in base [:model :depth]))
        lr (double (get-in base [:optimizer :lr]))
        iso (isotropic-lazy-losses alpha D (/ (* lr L) D) steps)]
    {:alpha alpha :input-dim D :output-dim (get-in base [:task :output-dim])
     :width (get-in base [:model :width]) :depth L
     :lr lr :steps steps :late-from late-from :levels levels :seeds seeds :gamma0s gamma0s
     :theory {:lazy-asymptote (theory/lazy-exponent alpha) :rich-asymptote (theory/rich-exponent alpha)}
     :runs (vec (mapcat #(power-law-seed base % gamma0s levels late-from jobs progress iso) seeds))}))


;; ---------------------------------------------------------------------------
;; Wider is better: seed-averaged loss curves across widths, extrapolated in 1/N

(defn- seed-statistics
  "Per recorded step, `mean-and-standard-error` of the losses of a group of runs
  (one per seed): {:mean [..] :se [..]} (nil entries where a run is missing or
  diverged), and :diverged, the number of runs that did not complete."
  [group]
  (let [curves (mapv #(get-in % [:trajectory :loss]) group)
        n (apply max (map count curves))
        at (mapv (fn [i] (mean-and-standard-error (mapv #(get % i) curves))) (range n))]
    {:mean (mapv #(some-> % :mean round-sig) at)
     :se (mapv #(some-> % :se round-sig) at)
     :diverged (count (remove #(= :completed (:status %)) group))}))

(defn- rounded-fit [fit]
  (when fit
    (-> fit
        (update-vals #(if (vector? %) (mapv round-sig %) (if (double? %) (round-sig %) %))))))

(defn wider-is-better
  "The \"wider is better\" study ([BP]; doc/science.md §1): `wider-experiment` under
  :mup and :ntk at every width of :widths for every seed of :seeds (the seed
  draws the initial weights only). Per parameterization, width and recorded
  step: the seed mean of the loss and its standard error; per step, the
  weighted least-squares fit L_N = L_inf + c/N over the widths with weights
  1/se^2 (`inverse-width-fit`), whose L_inf is the extrapolated N -> infinity
  loss curve. The claim is judged at step :at-step. With :holdout {:width N
  :seeds [..]}, :mup also runs at a width N wider than any fitted and compares
  its seed mean at :at-step with what the fit predicts there
  (`inverse-width-prediction`): a test of the extrapolation on a simulation
  it did not see.

  Options: :widths ([32 64 128 256 512]), :seeds ([1 .. 8]), :steps (from base),
  :at-step (3/4 of the steps), :holdout (none), :jobs (2), :progress, :base
  (`wider-experiment`).
  Returns {:widths :seeds :steps :at-step :lr :gamma0 :step [recorded steps]
  :by-param {param {:curves {N {:mean [..] :se [..] :diverged n}} :at-step {:mean
  [per width] :se [per width]} :fit fit-at-step :extrapolated {:l-inf [per step]
  :lo [..] :hi [..]}}} :holdout {:width :seeds :mean :se :predicted :sd
  :quantile}}, fits as `inverse-width-fit` returns them (rounded)."
  [{:keys [widths seeds steps at-step holdout jobs progress base]
    :or {widths [32 64 128 256 512] seeds [1 2 3 4 5 6 7 8] base wider-experiment}}]
  (let [steps (long (or steps (:steps base)))
        at-step (long (or at-step (quot (* 3 steps) 4)))
        base (assoc base :steps steps)
        by-param
        (into {}
              (for [p [:mup :ntk]]
                (let [rs (run-grid (assoc-in base [:model :parameterization] p)
                                   [[[:model :width] widths] [[:seed] seeds]]
                                   {:jobs jobs :progress progress :stage [:wider p]})
                      curves (into (sorted-map) (map (fn [N g] [N (seed-statistics g)]) widths
                                                     (partition (count seeds) rs)))
                      col (fn [k i] (mapv #(get-in curves [% k i]) widths))
                      n (apply min (map (comp count :mean) (vals curves)))
                      fits (mapv (fn [i] (inverse-width-fit widths (col :mean i) (col :se i))) (range n))]
                  [p {:curves curves
                      :at-step {:mean (col :mean at-step) :se (col :se at-step)}
                      :fit (rounded-fit (get fits at-step))
                      ::fit (get fits at-step)
                      :extrapolated {:l-inf (mapv #(some-> % :l-inf round-sig) fits)
                                     :lo (mapv #(some-> % :l-inf-interval first round-sig) fits)
                                     :hi (mapv #(some-> % :l-inf-interval second round-sig) fits)}}])))
        held (when-let [{N :width hs :seeds} holdout]
               (let [g (run-grid (-> base (assoc-in [:model :parameterization] :mup) (assoc-in [:model :width] N))
                                 [[[:seed] hs]] {:jobs jobs :progress progress :stage [:wider :holdout]})
                     {:keys [mean se]} (seed-statistics g)
                     fit (get-in by-param [:mup ::fit])
                     {:keys [predicted sd]} (when fit (inverse-width-prediction fit N))]
                 {:width N :seeds hs :mean (get mean at-step) :se (get se at-step)
                  :predicted (round-sig predicted) :sd (round-sig sd) :quantile (:quantile fit)}))]
    (cond-> {:widths widths :seeds seeds :steps steps :at-step at-step
             :lr (get-in base [:optimizer :lr]) :gamma0 (get-in base [:model :gamma0])
             :step (vec (range (inc steps)))
             :by-param (update-vals by-param #(dissoc % ::fit))}
      held (assoc :holdout held))))

;; ---------------------------------------------------------------------------
;; What the CLI prints: checks, a summary and the main table

(def claim
  "The claim of [BP] reproduced here, in words."
  (str "Deep linear networks trained from random initialization ([BP], doc/science.md §1): under mean-field/muP "
       "scaling the optimal learning rate transfers across widths while under NTK scaling it shifts; "
       "residual networks with 1/sqrt(L) branches approach a depth limit in which the optimal learning rate "
       "and the loss curves stop changing; test losses of one-pass and repeated-data training agree until "
       "data repeat, then split; on power-law data the loss decays as a power of time, faster in the rich "
       "regime than in the lazy one; and under muP wider is better: the seed-mean loss at a fixed time falls "
       "with width towards an infinite-width limit, as L_N = L_inf + c/N with c > 0."))

(defn part-options
  "The options of part k for variant v: the variant's (transfer.edn) with its
  :base-changes applied to the part's base experiment and :lr-grid turned into
  :lrs, then opts' own options for k merged over them."
  [v k opts]
  (let [{:keys [base-changes lr-grid] :as o} (get-in variants [v k])
        base ({:width width-experiment :depth depth-experiment :data data-experiment
               :power-law power-law-experiment :wider wider-experiment} k)]
    (merge (cond-> (dissoc o :base-changes :lr-grid)
             base-changes (assoc :base (reduce-kv assoc-in base base-changes))
             lr-grid (assoc :lrs (half-octaves lr-grid)))
           (get opts k))))

(defn reproduce
  "Runs the [BP] reproduction and returns its report as plain data
  (dlnlab.study's report shape).

  Options: :variant (:quick, see `variants`; :full or :reduced), :jobs (2)
  parallel runs in each sweep, :progress (fn [map]) called after every finished
  run with {:stage :done :total :point :status :elapsed-ms}, :parts (all of
  [:width :depth :data :power-law :wider]) which parts to run, and per-part
  option overrides under :width :depth :data :power-law :wider (merged over the
  variant's).
  Returns {:study :claim :variant :main {:table <Markdown tables of the width
  sweep and the width study>} :checks {name {:claim :pass? :failures}} :headline {headline numbers}
  :parts {part {:result .. :verdict .. :elapsed-ms ..}} :figures [dlnlab.plot
  figure data ...] :elapsed-ms}; see `width-transfer`, `depth-transfer`,
  `data-reuse`, `power-law` and `wider-is-better` for each :result.
  Throws ex-info for an unknown :variant or part."
  ([] (reproduce {}))
  ([{:keys [variant jobs progress parts] :or {variant :quick jobs 2 parts [:width :depth :data :power-law :wider]} :as opts}]
   (study/variant variants variant)
   (doseq [p parts]
     (when-not (#{:width :depth :data :power-law :wider} p)
       (error/fail! :invalid-option (str "[:parts] may hold :width, :depth, :data, :power-law and :wider, got " (pr-str p) ".")
                    {:path [:parts] :value p :allowed #{:width :depth :data :power-law :wider}})))
   (let [t0 (System/nanoTime)
         cfg (fn [k] (merge (part-options variant k opts) {:jobs jobs :progress progress}))
         runners {:width [width-transfer width-verdict width-figures]
                  :depth [depth-transfer depth-verdict depth-figures]
                  :data [data-reuse data-verdict data-figures]
                  :power-law [power-law power-law-verdict power-law-figures]
                  :wider [wider-is-better wider-verdict wider-figures]}
         done (into {} (for [k parts]
                         (let [[run verdict figures] (runners k)
                               [r ms] (study/timed #(run (cfg k)))]
                           [k {:result r :verdict (verdict r) :figures (vec (figures r)) :elapsed-ms ms}])))]
     {:study :transfer
      :paper "[BP] Bordelon & Pehlevan, Deep linear network training dynamics from random initialization: data, width, depth, and hyperparameter transfer (arXiv 2502.02531)"
      :claim claim
      :variant variant
      :main (when-let [ts (seq (keep identity [(some-> (get-in done [:width :result]) width-table)
                                                (some-> (get-in done [:wider :result]) wider-table)]))]
              {:table (str/join "\n\n" ts)})
      :checks (checks done)
      :headline (summary done)
      :parts (into {} (for [[k v] done] [k (dissoc v :figures)]))
      :figures (vec (mapcat :figures (vals done)))
      :elapsed-ms (study/elapsed-ms t0)})))

(defn reduced
  "A seconds-long version of `reproduce` for the tests: (reproduce {:variant
  :reduced}), see `variants`."
  []
  (reproduce {:variant :reduced}))
