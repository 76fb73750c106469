(ns dlnlab.papers.transfer
  "Reproduces the headline results of [BP] (Bordelon & Pehlevan, \"Deep linear
  network training dynamics from random initialization: data, width, depth, and
  hyperparameter transfer\", arXiv 2502.02531; SCIENCE.md sources and §1
  parameterizations) on teacher-student regression with randomly initialized deep
  linear networks:

  1. width: under :mup the learning rate eta that gives the lowest loss after a
     fixed number of steps is the same at every width (and wider is a little
     better); under :ntk the optimal eta moves with width, because the NTK
     network is :mup with gamma0 replaced by gamma0 sqrt(D/N) and gets lazier as
     it widens (SCIENCE.md §1).
  2. depth: residual networks with branches scaled beta0/sqrt(L) (SCIENCE.md §1)
     under :mup: the optimal eta settles (judged on the seed average of the
     per-seed optima) and the loss curves converge as L grows.
  3. data: one-pass SGD (fresh samples every step) against the same batch size
     on a fixed dataset (full-batch GD, or SGD in epochs): the test losses agree
     while data is fresh and split once it repeats.
  4. power-law data (Sigma eigenvalues k^-alpha, SCIENCE.md §2): the loss decays
     as a power of time; the exponent is fitted on a window of loss levels and
     compared with the network linearized at its initialization (the lazy/NTK
     limit, computed here independently of the run loop) and with the
     infinite-dimension asymptotes.

  Every experiment is a documented def (plain data) run through dlnlab.core;
  `reproduce` runs the :quick or :full variant and returns a plain-data report,
  `reduced` a seconds-long version for the tests. Figures are dlnlab.plot figure
  data (`plot/render!` draws them, `plot/vega-lite` turns them into specs)."
  (:refer-clojure :exclude [reduced])
  (:require [clojure.string :as str]
            [dlnlab.core :as core]
            [dlnlab.engine :as engine]
            [dlnlab.plot :as plot])
  (:import [dlnlab.kernel Blas Objective]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------------------
;; Plain-vector helpers

(defn- finite? [x] (and (number? x) (Double/isFinite (double x))))

(defn geometric-tail-mean
  "Geometric mean of the last fraction frac (0 < frac <= 1, at least one value)
  of the series xs: exp(mean log x). This is the score of a run in the learning-
  rate sweeps: it averages over the period-2 oscillations that large learning
  rates cause near the edge of stability, which make the single last value noisy.
  Returns nil when xs is empty or a value in the tail is not a positive finite
  number (a diverged run)."
  [xs frac]
  (let [n (count xs)
        k (max 1 (long (Math/ceil (* (double frac) n))))
        tail (take-last k xs)]
    (when (and (pos? n) (every? #(and (finite? %) (pos? (double %))) tail))
      (Math/exp (/ (double (reduce + (map #(Math/log (double %)) tail))) (double (count tail)))))))

(defn argmin-index
  "Index of the smallest number of xs, nils skipped (first on ties); nil when
  every entry is nil."
  [xs]
  (let [idx (filter #(some? (nth xs %)) (range (count xs)))]
    (when (seq idx)
      (reduce (fn [^long b ^long i] (if (< (double (nth xs i)) (double (nth xs b))) i b)) idx))))

(defn power-law-fit
  "Least-squares fit of log y = log c + exponent * log x over the points with
  x and y positive and finite.
  Returns {:exponent :prefactor c :points n :r2} or nil with fewer than 3 points."
  [xs ys]
  (let [pts (filter (fn [[x y]] (and (finite? x) (finite? y) (pos? (double x)) (pos? (double y))))
                    (map vector xs ys))
        n (count pts)]
    (when (>= n 3)
      (let [lx (mapv #(Math/log (double (first %))) pts)
            ly (mapv #(Math/log (double (second %))) pts)
            mx (/ (double (reduce + lx)) n)
            my (/ (double (reduce + ly)) n)
            sxy (double (reduce + (map (fn [^double a ^double b] (* (- a mx) (- b my))) lx ly)))
            sxx (double (reduce + (map (fn [^double a] (* (- a mx) (- a mx))) lx)))
            syy (double (reduce + (map (fn [^double b] (* (- b my) (- b my))) ly)))
            slope (/ sxy sxx)]
        {:exponent slope
         :prefactor (Math/exp (- my (* slope mx)))
         :points n
         :r2 (if (pos? syy) (/ (* sxy sxy) (* sxx syy)) 1.0)}))))

(defn level-window
  "The steps between which the loss series first falls to hi and first falls to
  lo (hi > lo): [first step with loss <= hi, first step with loss <= lo], or nil
  when the loss never reaches lo. steps and losses are parallel vectors."
  [steps losses hi lo]
  (let [first-at (fn [^double level]
                   (some (fn [[s l]] (when (and (finite? l) (<= (double l) level)) s))
                         (map vector steps losses)))
        a (first-at (double hi))
        b (first-at (double lo))]
    (when (and a b (< (long a) (long b))) [a b])))

(defn fit-in-window
  "power-law-fit of losses against steps restricted to steps in [from, to]
  (from >= 1); the map also holds :window [from to]."
  [steps losses [from to]]
  (let [pts (filter (fn [[s _]] (and (>= (long s) (long from)) (<= (long s) (long to)) (pos? (long s))))
                    (map vector steps losses))]
    (some-> (power-law-fit (map first pts) (map second pts))
            (assoc :window [from to]))))

(defn lazy-exponent
  "Asymptotic time exponent of the loss of a linear model trained by gradient
  flow on x ~ N(0, Sigma) with Sigma eigenvalues k^-alpha (alpha > 1) and an
  isotropic teacher and initial error: l(t) ~ (1/2) sum_k k^-alpha e^(-2 c k^-alpha t)
  ~ t^-(alpha - 1)/alpha as D -> infinity (derivation of ours: the modes with
  k^-alpha t >> 1 are learned, the rest hold sum_(k > t^(1/alpha)) k^-alpha).
  Returns -(alpha - 1)/alpha."
  ^double [alpha]
  (let [a (double alpha)] (- (/ (- a 1.0) a))))

(defn rich-exponent
  "The accelerated exponent of the rich (feature-learning) regime that [BP]
  says its model recovers, from Bordelon, Atanasov & Pehlevan 2024 (\"How
  feature learning can improve neural scaling laws\"): with the lazy exponent
  -beta, the rich one is -2 beta/(1 + beta) for beta < 1. Quoted, not derived
  here. Returns it for the lazy beta = (alpha - 1)/alpha of `lazy-exponent`."
  ^double [alpha]
  (let [b (- (lazy-exponent alpha))] (- (/ (* 2.0 b) (+ 1.0 b)))))

;; ---------------------------------------------------------------------------
;; The network linearized at initialization (lazy / NTK limit)

(defn- effective-factor
  "alpha W (+ I for residual blocks) of factor f of the packed params, a fresh
  column-major array."
  ^doubles [f ^doubles params]
  (let [rows (long (:rows f)) cols (long (:cols f)) off (long (:offset f))
        a (double (:alpha f))
        g (double-array (* rows cols))]
    (dotimes [i (* rows cols)] (aset g i (* a (aget params (+ off i)))))
    (when (:identity? f) (dotimes [i (min rows cols)] (aset g (+ i (* i rows)) (+ 1.0 (aget g (+ i (* i rows)))))))
    g))

(defn- gram
  "X^T X (transpose? false, X rows x cols -> cols x cols) or X X^T (transpose?
  true, -> rows x rows) of a column-major X."
  ^doubles [^doubles x ^long rows ^long cols transpose?]
  (if transpose?
    (let [out (double-array (* rows rows))]
      (Blas/gemm false true rows rows cols 1.0 x 0 rows x 0 rows 0.0 out 0 rows)
      out)
    (let [out (double-array (* cols cols))]
      (Blas/gemm true false cols cols rows 1.0 x 0 rows x 0 rows 0.0 out 0 cols)
      out)))

(defn- identity-matrix ^doubles [^long n]
  (let [a (double-array (* n n))] (dotimes [i n] (aset a (+ i (* i n)) 1.0)) a))

(defn tangent-kernel-terms
  "The neural tangent kernel of a network map at its weights, as the terms of
  dF = -lr sum_j c_j P_j R Q_j: for every factor j of every pathway, with
  prefix B_j = G_(j-1)...G_1 and suffix A_j = G_last...G_(j+1) of the effective
  factors G (SCIENCE.md §3: grad W_j = alpha_j A_j^T R B_j^T), c_j = alpha_j^2,
  P_j = A_j A_j^T (dout x dout) and Q_j = B_j^T B_j (din x din), column-major.
  Returns a vector of {:c :p :q} (arrays; internal to the linearized dynamics)."
  [net]
  (let [params ^doubles (:params net)
        din (long (get-in net [:task :dims :input]))
        dout (long (get-in net [:task :dims :output]))]
    (vec
     (mapcat
      (fn [fs]
        (let [gs (mapv #(effective-factor % params) fs)
              n (count fs)
              ;; prefixes: pre[j] = G_(j-1)...G_1, rows_(j-1) x din; nil = identity
              pres (loop [j 1 acc [nil (aclone ^doubles (gs 0))]]
                     (if (< j (dec n))
                       (let [f (fs j) rows (long (:rows f)) cols (long (:cols f))
                             out (double-array (* rows din))]
                         (Blas/gemm false false rows din cols 1.0 (gs j) 0 rows (acc j) 0 cols 0.0 out 0 rows)
                         (recur (inc j) (conj acc out)))
                       acc))
              ;; suffixes: suf[j] = G_last...G_(j+1), dout x rows_j; nil = identity
              sufs (loop [j (dec n) acc {(dec n) nil}]
                     (if (> j 0)
                       (let [f (fs j) rows (long (:rows f)) cols (long (:cols f))
                             prev (acc j)
                             out (if prev
                                   (let [o (double-array (* dout cols))]
                                     (Blas/gemm false false dout cols rows 1.0 prev 0 dout (gs j) 0 rows 0.0 o 0 dout)
                                     o)
                                   (aclone ^doubles (gs j)))]
                         (recur (dec j) (assoc acc (dec j) out)))
                       acc))]
          (for [j (range n)]
            (let [f (fs j)
                  a (double (:alpha f))
                  pre (nth pres j)
                  suf (sufs j)]
              {:c (* a a)
               :p (if suf (gram suf dout (long (:rows f)) true) (identity-matrix dout))
               :q (if pre (gram pre (long (:cols f)) din false) (identity-matrix din))}))))
      (:layout net)))))

(defn linearized-losses
  "Losses of gradient descent on the network linearized at its current weights
  (the lazy / NTK limit: the kernel of `tangent-kernel-terms` is frozen):
  F <- F - lr_eff sum_j c_j P_j R(F) Q_j from the network's end-to-end F, with
  R(F) = dl/dF of the network's objective and lr_eff = lr times the network's
  :lr-multiplier (SCIENCE.md §1). This route shares only the loss formula with
  the run loop, not its gradient or update.
  Options: :objective (the network's training objective) the loss recorded.
  Returns a vector of steps + 1 losses (step 0 first)."
  ([net lr steps] (linearized-losses net lr steps {}))
  ([net lr steps {:keys [objective]}]
   (let [^Objective train (:objective net)
         ^Objective rec (or objective train)
         din (long (get-in net [:task :dims :input]))
         dout (long (get-in net [:task :dims :output]))
         m (* din dout)
         lr-eff (* (double lr) (double (or (:lr-multiplier net) 1.0)))
         terms (tangent-kernel-terms net)
         f ^doubles (:f (engine/end-to-end net (:params net)))
         r (double-array m)
         t (double-array m)
         work (double-array (max (.workSize train) (.workSize rec)))]
     (loop [s 0 acc (transient [])]
       (let [l (.lossAndResidual rec f nil work)
             acc (conj! acc l)]
         (if (or (>= s (long steps)) (not (Double/isFinite l)))
           (persistent! acc)
           (do
             (.lossAndResidual train f r work)
             (doseq [{:keys [c p q]} terms]
               (Blas/gemm false false dout din dout 1.0 p 0 dout r 0 dout 0.0 t 0 dout)
               (Blas/gemm false false dout din din (- (* lr-eff (double c))) t 0 dout q 0 din 1.0 f 0 dout))
             (recur (inc s) acc))))))))

;; ---------------------------------------------------------------------------
;; Experiments as data

(def lr-grid
  "Learning rates eta of the sweeps: half-octave steps 2^(k/2), k = -4 .. 12
  (0.25 .. 64). The effective rate is eta times the parameterization's
  multiplier (gamma0^2 N for :mup, gamma0^2 D for :ntk; SCIENCE.md §1)."
  (mapv #(Math/pow 2.0 (/ (double %) 2.0)) (range -4 13)))

(def depth-lr-grid
  "Learning rates of the depth sweep: 2^(k/2), k = -6 .. 8 (0.125 .. 16); the
  residual networks' optimum lies lower than the chains'."
  (mapv #(Math/pow 2.0 (/ (double %) 2.0)) (range -6 9)))

(def sweep-task
  "The task of the width and depth sweeps: y = M x with a Gaussian teacher
  (entries N(0, 1/D)), D = 16 inputs, one output, x ~ N(0, Sigma) with Sigma
  eigenvalues k^-1.5 (slow directions keep the loss falling over the run), 512
  training samples (full batch; the loss is close to the population loss)."
  {:kind :teacher-student :input-dim 16 :output-dim 1 :samples 512 :test-samples 0
   :covariance {:power-law 1.5}})

(def width-experiment
  "Base of the width sweep: a depth-3 chain D -> N -> N -> 1 at richness
  gamma0 = 2, full-batch GD for 60 steps, loss recorded every step. The sweep
  sets :parameterization (:mup, :ntk), :width and :optimizer :lr. gamma0 = 2
  makes the NTK network (:mup at gamma0' = 2 sqrt(16/N)) go from rich
  (gamma0' = 1 at N = 64) towards lazy (0.25 at N = 1024) over the widths."
  {:model {:kind :chain :depth 3 :width 64 :parameterization :mup :gamma0 2.0}
   :task sweep-task
   :optimizer {:kind :gd :lr 1.0}
   :steps 60
   :record {:every 1 :metrics [:loss] :final-weights false}})

(def depth-experiment
  "Base of the depth sweep: a :residual network of width 128 (h0 = W_in x,
  L blocks h <- h + (beta0/sqrt L) W_l h, f = W_out h_L; SCIENCE.md §1) under
  :mup with gamma0 = 2, beta0 = 1, full-batch GD for 60 steps on `sweep-task`.
  The sweep sets :depth and :optimizer :lr."
  {:model {:kind :residual :depth 4 :width 128 :beta0 1.0 :parameterization :mup :gamma0 2.0}
   :task sweep-task
   :optimizer {:kind :gd :lr 1.0}
   :steps 60
   :record {:every 1 :metrics [:loss] :final-weights false}})

(def data-experiment
  "Base of the one-pass vs repeated-data comparison: a depth-3 :mup chain of width
  128 (gamma0 = 2) on D = 32 inputs with Sigma eigenvalues k^-1, one output, no
  label noise, n = 16 < D training samples (so no interpolant of them need be the
  teacher) and 4096 test samples; 400 steps at eta = 0.5, train and test loss
  recorded every 5 steps. The comparison sets :optimizer to full-batch GD on the
  n samples, SGD with batch n/4 in epochs over them, and one-pass SGD (fresh
  teacher samples every step) with batch n and n/4."
  {:model {:kind :chain :depth 3 :width 128 :parameterization :mup :gamma0 2.0}
   :task {:kind :teacher-student :input-dim 32 :output-dim 1 :samples 16 :test-samples 4096
          :covariance {:power-law 1.0}}
   :optimizer {:kind :gd :lr 0.5}
   :steps 400
   :record {:every 5 :metrics [:loss :test-loss] :final-weights false}})

(def power-law-experiment
  "Base of the power-law exponent runs: a depth-3 :mup chain of width 256 on
  D = 64 inputs with Sigma eigenvalues k^-2 (SCIENCE.md §2), 8 outputs (so each
  eigendirection's teacher weight averages 8 Gaussians: one output makes the
  exponent depend strongly on the draw), a Gaussian teacher, 32 D = 2048
  samples (full batch, close to the population), 2000 GD steps at
  eta = 0.125 * 2D/L = 5.33: an eighth of the lazy stability
  limit 2/c with c = L/D the kernel scale per unit eta at initialization (see
  `isotropic-lazy-losses`), low enough that the rich run stays clear of the edge
  of stability through the level window (its growing kernel reaches it late in
  the run: spikes after ~1500 steps). The runs set :gamma0: 0.1 (lazy) and 1.0
  (rich)."
  {:model {:kind :chain :depth 3 :width 256 :parameterization :mup :gamma0 1.0}
   :task {:kind :teacher-student :input-dim 64 :output-dim 8 :samples 2048 :test-samples 0
          :covariance {:power-law 2.0}}
   :optimizer {:kind :gd :lr (* 0.125 (/ (* 2.0 64) 3))}
   :steps 2000
   :record {:every 1 :metrics [:loss] :final-weights false}})

;; ---------------------------------------------------------------------------
;; Runners

(def ^:private tail-fraction
  "Fraction of the steps at the end of a run whose geometric mean is its score."
  0.2)

(defn- notify [progress m] (when progress (progress m)))

(defn- run-grid
  "core/sweep of base over grid with one shared seed (same data and initial raw
  weights at every point), reporting each finished run to progress."
  [base grid {:keys [jobs progress stage]}]
  (let [done (atom 0)
        total (reduce * (map count (vals grid)))]
    (core/sweep base grid
                {:jobs (or jobs 2) :seeds :shared
                 :on-result (fn [_ point r]
                              (notify progress {:stage stage :done (swap! done inc) :total total
                                                :point (into {} point) :status (:status r)
                                                :elapsed-ms (get-in r [:meta :elapsed-ms])}))})))

(defn- score [r] (when (= :completed (:status r)) (geometric-tail-mean (get-in r [:trajectory :loss]) tail-fraction)))

(defn- round-sig [x] (when (finite? x) (Double/parseDouble (format "%.4g" (double x)))))

(defn- pooled-best
  "Index of the lowest mean log score over seeds (rows: one score vector per
  seed); an lr where any seed diverged is excluded."
  [score-rows]
  (argmin-index (apply mapv (fn [& xs] (when (every? some? xs)
                                         (/ (double (reduce + (map #(Math/log (double %)) xs))) (count xs))))
                       score-rows)))

(defn- ms-per-step
  "Median over the completed runs of a group of wall milliseconds per step
  (network build and recording included), or nil."
  [group steps]
  (let [xs (sort (keep #(when (= :completed (:status %))
                          (/ (double (get-in % [:meta :elapsed-ms])) (double steps)))
                       group))]
    (when (seq xs) (round-sig (nth xs (quot (count xs) 2))))))

(defn- spread [xs] (when (every? some? xs) (- (long (apply max xs)) (long (apply min xs)))))

(defn- lazy-best
  "Best lr index of the network linearized at initialization (the lazy limit)
  for the experiment exp over lrs, scored like the runs."
  [exp lrs steps]
  (let [net (core/network exp)]
    (argmin-index (mapv (fn [lr] (geometric-tail-mean (linearized-losses net lr steps) tail-fraction)) lrs))))

(defn curve-distance
  "The mean over common steps of |log a_t - log b_t| of two loss curves (vectors
  of losses per recorded step): 0.1 means about 10% apart on average. Returns nil
  when a value is missing, not finite or not positive (a diverged run)."
  [a b]
  (let [pairs (map vector a b)]
    (when (and (seq pairs) (every? (fn [[x y]] (and (finite? x) (finite? y) (pos? (double x)) (pos? (double y)))) pairs))
      (/ (double (reduce + (map (fn [[x y]] (Math/abs (Math/log (/ (double x) (double y))))) pairs)))
         (double (count pairs))))))

(defn- mean-log-curve
  "exp of the mean over curves of log loss at each step (nil when any is missing)."
  [curves]
  (when (every? #(and (seq %) (every? (fn [x] (and (finite? x) (pos? (double x)))) %)) curves)
    (apply mapv (fn [& xs] (Math/exp (/ (double (reduce + (map #(Math/log (double %)) xs))) (double (count xs))))) curves)))

(defn width-transfer
  "The learning-rate sweep over widths under :mup and :ntk ([BP]; SCIENCE.md §1).
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

(def ^:private deep-from
  "Smallest depth at which `depth-transfer` asks the optimum to have settled."
  8)

(defn- at-deep
  "The entries of v (one per depth, nils kept) at depths >= `deep-from`."
  [depths v]
  (vec (for [[L x] (map vector depths v) :when (>= (long L) (long deep-from))] x)))

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
  scaled beta0/sqrt(L) ([BP]; SCIENCE.md §1): `depth-experiment` over depths x
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

(defn isotropic-lazy-losses
  "Losses of the lazy (linearized) model with an isotropic kernel on power-law
  data, normalized to 1 at step 0: l(s) = sum_k lambda_k (1 - c_eta lambda_k)^(2s)
  / sum_k lambda_k, lambda_k = k^-alpha, k = 1..D, for gradient descent with
  kernel-times-learning-rate c_eta and an isotropic initial error (derivation of
  ours: each eigendirection of Sigma decays independently). For a wide :mup chain
  of depth L (SCIENCE.md §1) c_eta = eta L / D: each of the L layers contributes
  1/D to the kernel at initialization (see `tangent-kernel-terms`).
  Returns a vector of steps + 1 numbers."
  [alpha D c-eta steps]
  (let [lams (mapv #(Math/pow (double %) (- (double alpha))) (range 1 (inc (long D))))
        total (double (reduce + lams))
        ce (double c-eta)]
    (mapv (fn [^long s]
            (/ (double (reduce + (map (fn [^double l] (* l (Math/pow (- 1.0 (* ce l)) (* 2.0 s)))) lams))) total))
          (range (inc (long steps))))))

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
  "The loss exponent on power-law data ([BP]; SCIENCE.md §2): `power-law-experiment`
  at each gamma0 of :gamma0s, per seed (same data and raw initial weights across
  gamma0). The exponent is fitted to log loss against log step (`fit-in-window`)
  on the late window [:late-from, steps], and on the level window between the
  first steps at which the loss reaches :levels [hi lo] times the loss of F = 0
  (the teacher's loss): comparing runs at equal loss levels removes a mere
  rescaling of time. Beside each fit: the network linearized at its
  initialization (`linearized-losses`, the lazy limit of this very network, on
  the same steps and on its own level window), the isotropic finite-D lazy model
  (`isotropic-lazy-losses`, same steps) and the D -> infinity asymptotes
  `lazy-exponent` and `rich-exponent`.

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
     :theory {:lazy-asymptote (lazy-exponent alpha) :rich-asymptote (rich-exponent alpha)}
     :runs (vec (mapcat #(power-law-seed base % gamma0s levels late-from jobs progress iso) seeds))}))

;; ---------------------------------------------------------------------------
;; Figures: raw figure data built here (the shape of dlnlab.plot/build-figure),
;; cleaned and checked by dlnlab.plot/figure

(defmethod plot/build-figure ::figure [_ raw _] raw)

(defn- line-layer [series color points]
  {:series series :color color :mark :line
   :points (vec (keep (fn [[x y]] (when (and (finite? x) (finite? y)) [x y])) points))})

(defn- fig [nm title subtitle x-title x-log? y-title y-log? layers]
  (plot/figure ::figure
               {:name nm :title title :subtitle subtitle
                :x {:title x-title :log? x-log?} :y {:title y-title :log? y-log?}
                :panels [{:title nil :layers (vec layers)}]}))

(defn- curve-points [c] (map-indexed (fn [i y] [i y]) c))

(defn- width-figures [w]
  (concat
   (for [p [:mup :ntk]]
     (fig (keyword (str "width-curves-" (name p)))
          (str "Loss curves across widths, " (name p))
          (str "eta = " (get-in w [:curves p :lr]) ", geometric mean over seeds " (:seeds w))
          "step" false "training loss" true
          (map-indexed (fn [i [N c]] (line-layer (str "N = " N) i (curve-points c))) (get-in w [:curves p :by-width]))))
   (for [p [:mup :ntk]]
     (fig (keyword (str "width-lr-sweep-" (name p)))
          (str "Loss after " (:steps w) " steps vs learning rate, " (name p))
          (str "score = geometric mean of the loss over the last 20% of steps, seed " (first (:seeds w)) "; diverged runs omitted")
          "eta" true "score" true
          (map-indexed (fn [i N]
                         (let [row (first (filter #(and (= p (:parameterization %)) (= N (:width %)) (= (first (:seeds w)) (:seed %))) (:runs w)))]
                           (line-layer (str "N = " N) i (map vector (:lrs w) (:scores row)))))
                       (:widths w))))))

(defn- depth-figures [d]
  [(fig :depth-curves "Residual networks: loss curves across depths (mup, beta0/sqrt L branches)"
        (str "eta = " (get-in d [:curves :lr]) ", geometric mean over seeds " (:seeds d))
        "step" false "training loss" true
        (map-indexed (fn [i [L c]] (line-layer (str "L = " L) i (curve-points c))) (get-in d [:curves :by-depth])))
   (fig :depth-lr-sweep "Residual networks: loss after the run vs learning rate"
        (str "seed " (first (:seeds d)) "; diverged runs omitted")
        "eta" true "score" true
        (map-indexed (fn [i L]
                       (let [row (first (filter #(and (= L (:depth %)) (= (first (:seeds d)) (:seed %))) (:runs d)))]
                         (line-layer (str "L = " L) i (map vector (:lrs d) (:scores row)))))
                     (:depths d)))
   (fig :depth-optimum "Residual networks: the best learning rate vs depth"
        (str "seeds " (:seeds d) "; the claim is judged on the geometric mean for L >= " deep-from)
        "depth L" true "best eta (grid argmin of the score)" true
        [{:series "one seed" :color 1 :mark :point
          :points (vec (for [r (:runs d) :when (:best-lr r)] [(:depth r) (:best-lr r)]))}
         (assoc (line-layer "geometric mean over seeds" 0 (map vector (:depths d) (get-in d [:summary :geometric-mean-best-lr])))
                :point? true)])])

(defn- data-figures [dr]
  (let [seed (first (keys (:by-seed dr)))
        m (get-in dr [:by-seed seed])
        order [:repeated-full-batch :one-pass-full-batch :repeated-epochs :one-pass-small-batch]]
    [(fig :data-test-loss "One-pass vs repeated data: test loss"
          (str "n = " (:samples dr) " training samples, seed " seed)
          "step" false "test loss" true
          (map-indexed (fn [i k] (line-layer (name k) i (map vector (get-in m [k :step]) (get-in m [k :test-loss])))) order))
     (fig :data-train-loss "One-pass vs repeated data: training loss (on the n samples)"
          (str "seed " seed) "step" false "training loss" true
          (map-indexed (fn [i k] (line-layer (name k) i (map vector (get-in m [k :step]) (get-in m [k :loss])))) order))]))

(defn- power-law-figures [pl]
  (let [seed (first (:seeds pl))
        runs (filter #(= seed (:seed %)) (:runs pl))]
    [(fig :power-law-curves (str "Power-law data (alpha = " (:alpha pl) "): loss vs step")
          (str "D = " (:input-dim pl) ", N = " (:width pl) ", eta = " (round-sig (:lr pl)) ", seed " seed
               "; dashed: the same network linearized at initialization (lazy limit)")
          "step" true "training loss" true
          (concat
           (map-indexed (fn [i r] (line-layer (str "gamma0 = " (:gamma0 r)) i (rest (:curve r)))) runs)
           (map-indexed (fn [i r] (assoc (line-layer (str "gamma0 = " (:gamma0 r) ", linearized") i (rest (:linearized-curve r)))
                                         :dash [4 4]))
                        runs)))]))

;; ---------------------------------------------------------------------------
;; Verdicts: the claims checked on the measured numbers

(defn- width-verdict [w]
  (let [s (:summary w)
        first-last (fn [v] (when (and (first v) (last v)) (- (long (last v)) (long (first v)))))]
    {:mup-index-spread (vals (get-in s [:mup :index-spread-by-seed]))
     :ntk-index-spread (vals (get-in s [:ntk :index-spread-by-seed]))
     :ntk-shift-narrow-to-wide (mapv first-last (vals (get-in s [:ntk :best-index-by-seed])))
     :mup-optimum-fixed? (every? #(and % (<= (long %) 1)) (vals (get-in s [:mup :index-spread-by-seed])))
     :ntk-optimum-moves? (every? #(and % (>= (long %) 2)) (vals (get-in s [:ntk :index-spread-by-seed])))
     :mup-wider-not-worse? (let [c (get-in s [:mup :curve-score])]
                             (boolean (and (first c) (last c) (<= (double (last c)) (double (first c))))))}))

(defn- depth-verdict [d]
  (let [s (:summary d)
        depths (:depths d)
        settle (:deep-spread-half-octaves s)]
    {:index-spread-all (into (sorted-map) (for [[k v] (:best-index-by-seed s)] [k (spread v)]))
     :index-spread-depth-8-and-more (into (sorted-map) (for [[k v] (:best-index-by-seed s)] [k (spread (at-deep depths v))]))
     :geometric-mean-best-lr (:geometric-mean-best-lr s)
     :deep-spread-half-octaves settle
     :optimum-settles? (boolean (and settle (<= (double settle) 1.0)))
     :pooled-distance-to-deepest (:pooled-distance-to-deepest s)
     :curves-converge? (let [ds (butlast (:pooled-distance-to-deepest s))]
                         (boolean (and (seq ds) (every? some? ds) (< (double (last ds)) (double (first ds))))))}))

(defn- data-verdict [dr]
  (let [ratio (fn [m a b] (let [x (get-in m [a :final-test-loss]) y (get-in m [b :final-test-loss])]
                            (when (and x y (pos? (double y))) (round-sig (/ (double x) (double y))))))]
    {:final-test-ratio-full-batch (into (sorted-map) (for [[s m] (:by-seed dr)] [s (ratio m :repeated-full-batch :one-pass-full-batch)]))
     :final-test-ratio-small-batch (into (sorted-map) (for [[s m] (:by-seed dr)] [s (ratio m :repeated-epochs :one-pass-small-batch)]))
     :split-step (:split-step dr)
     :one-pass-better-late? (every? (fn [[_ m]] (< (double (get-in m [:one-pass-full-batch :final-test-loss]))
                                                   (double (get-in m [:repeated-full-batch :final-test-loss]))))
                                    (:by-seed dr))}))

(defn- power-law-verdict [pl]
  (let [lazy-g (first (:gamma0s pl)) rich-g (last (:gamma0s pl))
        e (fn [r w k] (get-in r [w k :exponent]))
        per-seed (into (sorted-map)
                       (for [seed (:seeds pl)]
                         (let [at (fn [g] (first (filter #(and (= seed (:seed %)) (= g (:gamma0 %))) (:runs pl))))
                               lazy (at lazy-g) rich (at rich-g)]
                           [seed {:lazy-late (e lazy :late :run)
                                  :lazy-linearized-late (e lazy :late :linearized)
                                  :lazy-isotropic-late (e lazy :late :isotropic)
                                  :rich-late (e rich :late :run)
                                  :rich-linearized-late (e rich :late :linearized)
                                  :rich-level (e rich :level :run)
                                  :rich-linearized-level (e rich :level :linearized)}])))
        all? (fn [f] (every? (fn [[_ m]] (boolean (f m))) per-seed))]
    {:exponents per-seed
     :theory (:theory pl)
     :lazy-matches-linearized? (all? (fn [m] (and (:lazy-late m) (:lazy-linearized-late m)
                                                  (< (Math/abs (- (double (:lazy-late m)) (double (:lazy-linearized-late m)))) 0.05))))
     :rich-faster-than-its-linearization? (all? (fn [m] (and (:rich-late m) (:rich-linearized-late m)
                                                             (< (double (:rich-late m)) (- (double (:rich-linearized-late m)) 0.2)))))
     :rich-steeper-at-equal-loss-levels? (all? (fn [m] (and (:rich-level m) (:rich-linearized-level m)
                                                            (< (double (:rich-level m)) (double (:rich-linearized-level m))))))}))

;; ---------------------------------------------------------------------------
;; reproduce and reduced

;; ---------------------------------------------------------------------------
;; What the CLI prints: checks, a summary and the main table

(defn- check [claim pass?] {:claim claim :pass? (boolean pass?)})

(defn- checks
  "{name {:claim :pass?}} from the parts' verdicts."
  [parts]
  (let [v (fn [k] (get-in parts [k :verdict]))]
    (cond-> {}
      (:width parts)
      (assoc :mup-optimum-fixed (check "muP: the best lr moves by at most one half-octave across widths (every seed)"
                                       (:mup-optimum-fixed? (v :width)))
             :ntk-optimum-moves (check "NTK: the best lr moves by at least two half-octaves across widths (every seed)"
                                       (:ntk-optimum-moves? (v :width))))
      (:depth parts)
      (assoc :depth-curves-converge (check "residual 1/sqrt(L): loss curves approach the deepest one as L grows"
                                           (:curves-converge? (v :depth)))
             :depth-optimum-settles (check "residual 1/sqrt(L): the seed-geometric-mean best lr moves by at most one half-octave for L >= 8"
                                           (:optimum-settles? (v :depth))))
      (:data parts)
      (assoc :one-pass-beats-repeated (check "one-pass test loss ends below the repeated-data one (every seed)"
                                             (:one-pass-better-late? (v :data))))
      (:power-law parts)
      (assoc :lazy-exponent-is-linearized (check "lazy run: loss exponent within 0.05 of the network linearized at init"
                                                 (:lazy-matches-linearized? (v :power-law)))
             :rich-exponent-steeper (check "rich run: steeper than its linearization at equal loss levels"
                                           (:rich-steeper-at-equal-loss-levels? (v :power-law)))))))

(defn- markdown-table [header rows]
  (str/join "\n" (concat [(str "| " (str/join " | " header) " |")
                          (str "|" (str/join "|" (repeat (count header) "---")) "|")]
                         (for [r rows] (str "| " (str/join " | " r) " |")))))

(defn- fmt-lr [x] (if (nil? x) "-" (let [d (double x)] (if (== d (Math/rint d)) (str (long d)) (format "%.3g" d)))))

(defn- width-table
  "Markdown table: width, best lr per seed under muP and NTK, lazy-limit best lr."
  [w]
  (let [best (fn [p N] (str/join ", " (for [r (:runs w) :when (and (= p (:parameterization r)) (= N (:width r)))]
                                        (fmt-lr (:best-lr r)))))
        lazy (fn [N] (str/join ", " (for [r (:runs w) :when (and (= :ntk (:parameterization r)) (= N (:width r)))]
                                      (fmt-lr (some->> (:lazy-best-index r) (nth (:lrs w)))))))]
    (markdown-table ["N" (str "muP best lr (seeds " (str/join ", " (:seeds w)) ")") "NTK best lr" "lazy-limit best lr"]
                    (for [N (:widths w)] [N (best :mup N) (best :ntk N) (lazy N)]))))

(defn- summary
  "The headline numbers of the parts that ran."
  [parts]
  (let [r (fn [k] (get-in parts [k :result]))
        lr-of (fn [lrs idxs] (mapv #(some->> % (nth lrs) round-sig) idxs))]
    (cond-> {}
      (:width parts)
      (assoc :width {:widths (:widths (r :width))
                     :mup-best-lr (into (sorted-map) (for [[s v] (get-in (r :width) [:summary :mup :best-index-by-seed])] [s (lr-of (:lrs (r :width)) v)]))
                     :ntk-best-lr (into (sorted-map) (for [[s v] (get-in (r :width) [:summary :ntk :best-index-by-seed])] [s (lr-of (:lrs (r :width)) v)]))})
      (:depth parts)
      (assoc :depth {:depths (:depths (r :depth))
                     :best-lr (into (sorted-map) (for [[s v] (get-in (r :depth) [:summary :best-index-by-seed])] [s (lr-of (:lrs (r :depth)) v)]))
                     :geometric-mean-best-lr (get-in (r :depth) [:summary :geometric-mean-best-lr])
                     :distance-to-deepest (get-in (r :depth) [:summary :pooled-distance-to-deepest])})
      (:data parts)
      (assoc :data (select-keys (get-in parts [:data :verdict]) [:split-step :final-test-ratio-full-batch]))
      (:power-law parts)
      (assoc :power-law {:exponents (get-in parts [:power-law :verdict :exponents])
                         :theory (get-in parts [:power-law :verdict :theory])}))))

(def claim
  "The claim of [BP] reproduced here, in words."
  (str "Deep linear networks trained from random initialization ([BP], SCIENCE.md §1): under mean-field/muP "
       "scaling the optimal learning rate transfers across widths while under NTK scaling it shifts; "
       "residual networks with 1/sqrt(L) branches approach a depth limit in which the optimal learning rate "
       "and the loss curves stop changing; test losses of one-pass and repeated-data training agree until "
       "data repeat, then split; on power-law data the loss decays as a power of time, faster in the rich "
       "regime than in the lazy one."))

(def variants
  "Options of each part per variant. :quick takes about a minute on 2 cores
  (55 s measured, 13 s of it the depth sweep over eight seeds). :full adds
  width 2048, four seeds for the width sweep, depth 64 for the depth sweep,
  and D = 128, N = 512, 4000 steps and gamma0 0.25 for the exponent: 6.5
  minutes on 2 cores (see examples/papers/transfer.md)."
  {:quick {:width {:widths [64 128 256 512 1024] :seeds [1 2] :steps 60}
           :depth {:depths [1 2 4 8 16 32] :seeds [1 2 3 4 5 6 7 8] :steps 60}
           :data {:seeds [1 2] :steps 400}
           :power-law {:gamma0s [0.1 1.0]}}
   :full {:width {:widths [64 128 256 512 1024 2048] :seeds [1 2 3 4] :steps 60}
          :depth {:depths [1 2 4 8 16 32 64] :seeds [1 2 3 4 5 6 7 8] :steps 60}
          :data {:seeds [1 2 3 4] :steps 1000}
          :power-law {:gamma0s [0.1 0.25 1.0] :seeds [1 2] :steps 4000
                      :base (-> power-law-experiment
                                (assoc-in [:model :width] 512)
                                (assoc-in [:task :input-dim] 128)
                                (assoc-in [:task :samples] 4096)
                                (assoc-in [:optimizer :lr] (* 0.125 (/ (* 2.0 128) 3))))}}})

(defn- timed [f]
  (let [t0 (System/nanoTime) v (f)]
    [v (long (/ (- (System/nanoTime) t0) 1e6))]))

(defn reproduce
  "Runs the [BP] reproduction and returns its report as plain data.

  Options: :variant (:quick, see `variants`; or :full), :jobs (2) parallel runs
  in each sweep, :progress (fn [map]) called after every finished run with
  {:stage :done :total :point :status :elapsed-ms}, :parts (all of [:width
  :depth :data :power-law]) which parts to run, and per-part option overrides
  under :width :depth :data :power-law (merged over the variant's).
  Returns {:paper :claim :variant :summary {headline numbers} :checks {name
  {:claim :pass?}} :main {:table <Markdown table of the width sweep>} :parts {part
  {:result .. :verdict .. :elapsed-ms ..}} :figures [dlnlab.plot figure data ...]
  :elapsed-ms}; see `width-transfer`,
  `depth-transfer`, `data-reuse` and `power-law` for each :result.
  Throws ex-info {:path :value :allowed} for an unknown :variant or part."
  ([] (reproduce {}))
  ([{:keys [variant jobs progress parts] :or {variant :quick jobs 2 parts [:width :depth :data :power-law]} :as opts}]
   (when-not (contains? variants variant)
     (throw (ex-info (str "[:variant] must be one of " (pr-str (keys variants)) ", got " (pr-str variant) ".")
                     {:path [:variant] :value variant :allowed (set (keys variants))})))
   (doseq [p parts]
     (when-not (#{:width :depth :data :power-law} p)
       (throw (ex-info (str "[:parts] may hold :width, :depth, :data and :power-law, got " (pr-str p) ".")
                       {:path [:parts] :value p :allowed #{:width :depth :data :power-law}}))))
   (let [t0 (System/nanoTime)
         cfg (fn [k] (merge (get-in variants [variant k]) {:jobs jobs :progress progress} (get opts k)))
         runners {:width [width-transfer width-verdict width-figures]
                  :depth [depth-transfer depth-verdict depth-figures]
                  :data [data-reuse data-verdict data-figures]
                  :power-law [power-law power-law-verdict power-law-figures]}
         done (into {} (for [k parts]
                         (let [[run verdict figures] (runners k)
                               [r ms] (timed #(run (cfg k)))]
                           [k {:result r :verdict (verdict r) :figures (vec (figures r)) :elapsed-ms ms}])))]
     {:paper "[BP] Bordelon & Pehlevan, Deep linear network training dynamics from random initialization: data, width, depth, and hyperparameter transfer (arXiv 2502.02531)"
      :claim claim
      :variant variant
      :summary (summary done)
      :checks (checks done)
      :main (when-let [w (get-in done [:width :result])] {:table (width-table w)})
      :parts (into {} (for [[k v] done] [k (dissoc v :figures)]))
      :figures (vec (mapcat :figures (vals done)))
      :elapsed-ms (long (/ (- (System/nanoTime) t0) 1e6))})))

(def reduced-depth
  "Options of `depth-transfer` in `reduced`: residual depths 4, 8, 16 at width
  64, seeds 1 and 2, 40 steps, lr 2^(k/2) for k = -4 .. 2 (0.25 .. 2, around
  the optimum near 1)."
  {:depths [4 8 16] :seeds [1 2] :steps 40
   :lrs (mapv #(Math/pow 2.0 (/ (double %) 2.0)) (range -4 3))
   :base (assoc-in depth-experiment [:model :width] 64)})

(defn reduced
  "A seconds-long version of `reproduce` for the tests: D = 16 inputs; widths
  16, 64, 256 (N = 16 = D, where :ntk and :mup coincide); the depth sweep of
  `reduced-depth`; the data comparison at width 64 for 200 steps; the exponent
  at D = 32, N = 256 for 600 steps. One seed each except the depth sweep.
  Returns the same report shape as `reproduce`."
  []
  (reproduce {:variant :quick
              :width {:widths [16 64 256] :seeds [1] :steps 40}
              :depth reduced-depth
              :data {:seeds [1] :steps 200 :base (assoc-in data-experiment [:model :width] 64)}
              :power-law {:steps 600 :seeds [1]
                          :base (-> power-law-experiment
                                    (assoc-in [:model :width] 256)
                                    (assoc-in [:task :input-dim] 32)
                                    (assoc-in [:task :samples] 1024)
                                    (assoc-in [:optimizer :lr] (* 0.125 (/ (* 2.0 32) 3))))}}))
