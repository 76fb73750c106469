(ns dlnlab.sde
  "Ensembles of the per-mode SDE of SGD in aligned, balanced deep linear networks
  (doc/science.md §7), simulated by the dlnlab.kernel.Sde kernel, and
  analyses of the results against dlnlab.theory.

  Per mode, in the per-layer variable a (pi = a^L), with SDE time t = lr * steps:
    da = a^(L-1) (s - a^L) dt + sqrt(lr/B) a^(L-1) sqrt(2 (a^L - s)^2 + sigma^2) dW.

  `simulate` takes a spec map and returns plain data; the analyses
  (`learning-time-distribution`, `diffusion-peak`, `stationary-comparison`) take a
  result of `simulate`.

  An experiment {:kind :sde :seed n :sde <spec without :seed>} runs through
  dlnlab.core/run (a method of dlnlab.kind/run-kind defined here) and gives
  a result of the usual outer shape; `result-ensemble` turns it back into what
  `simulate` returns. The weak error of the ensemble mean against full-network
  SGD is a study: dlnlab.studies.saddle-to-saddle.network (studies/)."
  (:require [clojure.set :as set]
            [dlnlab.error :as error]
            [dlnlab.kind :as kind]
            [dlnlab.numeric :as numeric]
            [dlnlab.sde.schema]
            [dlnlab.spec :as spec]
            [dlnlab.theory :as theory]
            [dlnlab.theory.sde :as theory-sde]
            [dlnlab.train :as train])
  (:import [dlnlab.kernel Rng Sde]
           [java.util Arrays]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------------------
;; Spec: the :sde node of dlnlab.spec (its schema is dlnlab.sde.schema)

(defn normalize
  "A `simulate` spec validated by the :sde node of the experiment schema (see
  dlnlab.spec/describe) with every default filled, plus :seed (0), :threads (the
  available processors) and :bound (1000 times the largest of s^(1/L) and
  pi0^(1/L) over the modes) when not given; :learned-fractions and quantiles
  sorted. Throws the ex-info of an invalid experiment naming the key path (under
  [] here, under [:sde] in an experiment), the value and what is allowed."
  [spec]
  (when (and (map? spec) (contains? spec :seed))
    (spec/check-leaf! [:seed] ::spec/seed (:seed spec)))
  (let [m (spec/normalize-node :sde [] (if (map? spec) (dissoc spec :seed) spec))
        l (long (:depth m))
        scale (reduce max (mapcat (fn [{:keys [s pi0]}]
                                    [(Math/pow (double s) (/ 1.0 l)) (Math/pow (double pi0) (/ 1.0 l))])
                                  (:modes m)))]
    (-> (merge {:seed 0 :threads (.availableProcessors (Runtime/getRuntime))} (select-keys spec [:seed]) m)
        (update :learned-fractions #(vec (sort %)))
        (update-in [:record :quantiles] #(vec (sort %)))
        (update :bound #(or % (* 1000.0 (double scale)))))))

(defn- diffusion-fn
  "pi -> D(pi) = (lr/B) L^2 pi^(4-4/L) (2 (pi - s)^2 + sigma^2) (doc/science.md §7);
  noise2 = lr/B (0 without noise)."
  ^clojure.lang.IFn$DD [^double noise2 ^long l ^double s ^double sig2]
  (let [c (* noise2 l l) ex (- 4.0 (/ 4.0 l))]
    (fn ^double [^double pi]
      (let [e (- pi s)]
        (* c (Math/pow pi ex) (+ (* 2.0 e e) sig2))))))

;; ---------------------------------------------------------------------------
;; Simulation

(def ^:private scheme-codes
  {:euler-maruyama Sde/EULER_MARUYAMA :milstein Sde/MILSTEIN :taylor-1.5 Sde/TAYLOR_15})

(defn- grid
  "Steps, record interval and record count for a normalized spec: the time is rounded
  up to a whole number of record intervals."
  [{:keys [dt time record]}]
  (let [dt (double dt)
        req (max 1 (long (Math/round (/ (double time) dt))))
        every (if-let [et (:every-time record)]
                (max 1 (long (Math/round (/ (double et) dt))))
                (max 1 (quot req (dec (long (:points record))))))
        intervals (long (Math/ceil (/ (double req) (double every))))]
    {:steps (* every intervals) :record-every every :records (inc intervals)}))

(defn- column-stats
  "Statistics over paths of pi = a^L for one record and mode: the values at
  out[off .. off+np), skipping diverged paths (a >= bound); buf is scratch."
  [^doubles out off np l bound ^clojure.lang.IFn$DD dfn ^doubles buf qs]
  (let [off (long off) np (long np) l (long l) bound (double bound)
        n (long (loop [p 0 n 0]
                  (if (< p np)
                    (let [a (aget out (+ off p))]
                      (if (>= a bound)
                        (recur (inc p) n)
                        (do (aset buf n (Math/pow a l)) (recur (inc p) (inc n)))))
                    n)))]
    (if (zero? n)
      {:mean nil :std nil :diffusion nil :quantiles (mapv (constantly nil) qs)}
      (let [_ (Arrays/sort buf 0 (int n))
            mean (/ (double (loop [k 0 acc 0.0] (if (< k n) (recur (inc k) (+ acc (aget buf k))) acc))) n)
            ss (double (loop [k 0 acc 0.0] (if (< k n) (recur (inc k) (let [d (- (aget buf k) mean)] (+ acc (* d d)))) acc)))
            dmean (/ (double (loop [k 0 acc 0.0] (if (< k n) (recur (inc k) (+ acc (.invokePrim dfn (aget buf k)))) acc))) n)]
        {:mean mean
         :std (if (> n 1) (Math/sqrt (/ ss (dec n))) 0.0)
         :diffusion dmean
         :quantiles (mapv #(numeric/quantile-sorted buf n (double %)) qs)}))))

(defn- peak-record
  "Index of the record where D(pi) of path p, mode i is largest (before divergence)."
  [^doubles out np nm records p i l bound ^clojure.lang.IFn$DD dfn]
  (let [np (long np) nm (long nm) records (long records) p (long p) i (long i) l (long l) bound (double bound)]
    (loop [r 0 best -1.0 at 0]
      (if (< r records)
        (let [a (aget out (+ (* (+ (* r nm) i) np) p))]
          (if (>= a bound)
            at
            (let [d (.invokePrim dfn (Math/pow a l))]
              (if (> d best) (recur (inc r) d r) (recur (inc r) best at)))))
        at))))

(def ^:private chunk-work
  "Path-mode steps the ensemble kernel runs between two looks at the interrupt
  flag (about a tenth of a second on one core)."
  (bit-shift-left 1 25))

(defn- run-ensemble!
  "Calls (run! from to) over consecutive record ranges 0..r1, r1..r2, ... up to
  records - 1, each about `chunk-work` path-mode steps (at least one record
  interval of items path-modes), stopping early once the :interrupt of opts is
  set. Returns the last record run."
  [opts records record-every run! items]
  (let [per (max 1 (quot (long chunk-work) (max 1 (* (long record-every) (long items)))))
        end (dec (long records))]
    (loop [from 0]
      (let [to (min end (+ from per))]
        (run! from to)
        (if (or (= to end) (train/interrupted? opts)) to (recur to))))))

(defn simulate
  "Simulates an ensemble of the per-mode SDE (doc/science.md §7) and returns plain data.

  Spec keys (defaults as dlnlab.spec/describe lists them under :sde, see `normalize`):
  - :modes [{:s target > 0, :pi0 initial strength > 0} ...] (required)
  - :depth L (2), integer >= 2; :lr (0.01); :batch-size B (1); :label-noise sigma (0.0)
  - :paths (1000); :dt (0.01, SDE time); :time (10.0; rounded up to whole record intervals)
  - :scheme :euler-maruyama (default), :milstein, or :taylor-1.5 (Kloeden-Platen strong order 1.5)
  - :seed (0): the noise of (path, mode, step) depends only on it, not on :threads
  - :threads (available processors); :boundary :absorbing (default) or :reflecting at a = 0
  - :noise (true): false sets the noise to 0, giving the gradient-flow ODE
  - :bound: a above it marks the path diverged (default 1000 max(s^(1/L), pi0^(1/L)))
  - :learned-fractions ([0.5 0.9]): a mode counts as learned by a path at the first
    time pi >= fraction * s (time 0 if pi0 is already there)
  - :record {:points (101) | :every-time t, :paths (8) paths kept whole,
             :quantiles ([0.05 0.25 0.5 0.75 0.95])}

  Returns a map; statistics are over paths, of pi = a^L, per recorded time and mode,
  excluding paths that have diverged by that time:
  {:spec normalized spec, :steps n, :time [t ...],
   :mean [[per mode] per time], :std [[..]] (sample std), :quantiles {q [[..]]},
   :diffusion [[mean over paths of D(pi)] per time], :gradient-flow [[pi per mode] per time]
   (the noise-free limit by RK4 at the same dt), :paths [[[pi per mode] per time] per kept path],
   :final [[pi per mode] per path], :first-passage {fraction [[time or nil per mode] per path]},
   :learned-time {fraction [{:mode i :learned n :paths N :mean .. :std .. :median .. :quantiles ..}]},
   :peak-diffusion-time [[time of the largest D(pi) on the record grid per mode] per path],
   :status {:hit-zero [paths per mode] :diverged [paths per mode]}}.

  Options: :interrupt (an AtomicBoolean or a deref-able, as dlnlab.experiment/run
  takes): once set, the ensemble stops at its next record (it runs in chunks of
  records; the numbers do not depend on the chunks) and the result covers the
  records so far, with :steps the steps run and :interrupted? true.

  Throws ex-info (see `normalize`) for an invalid spec, or when records x modes x paths
  exceeds 2e8 values."
  ([spec] (simulate spec {}))
  ([spec opts]
    (let [{:keys [modes depth lr batch-size label-noise paths dt seed threads boundary noise bound
                  learned-fractions record scheme] :as spec} (normalize spec)
          {:keys [^long steps ^long record-every ^long records]} (grid spec)
          _ (when (> (* (double records) (count modes) (double paths)) 2.0e8)
              (let [most (long (/ 2.0e8 (* (double records) (count modes))))]
                (error/fail! :too-large
                             (format "[:paths] %d paths with %d modes and %d records exceed 2e8 recorded values (1.6 GB): at most %d paths; record fewer points"
                                     (long paths) (count modes) records most)
                             {:path [:paths] :value paths :allowed [1 most]})))
          l (long depth) np (long paths) nm (count modes) dt (double dt) bound (double bound)
          s-arr (double-array (map #(double (:s %)) modes))
          a0 (double-array (map #(Math/pow (double (:pi0 %)) (/ 1.0 l)) modes))
          noise2 (if noise (/ (double lr) (double batch-size)) 0.0)
          sigma (double label-noise) sig2 (* sigma sigma)
          fracs (vec learned-fractions) nl (count fracs)
          levels (double-array (for [f fracs, i (range nm)]
                                 (Math/pow (* (double f) (aget s-arr i)) (/ 1.0 l))))
          out (double-array (* records nm np))
          passage (double-array (* nl nm np))
          status (byte-array (* nm np))
          last-record (long (run-ensemble! opts records record-every
                                       (fn [from to]
                                         (Sde/ensemble (int l) s-arr (int nm) (Math/sqrt noise2) sigma a0 (int np) (long seed)
                                                       (int (scheme-codes scheme)) dt (int steps) (int record-every)
                                                       (if (= boundary :reflecting) Sde/REFLECTING Sde/ABSORBING) bound
                                                       levels (int nl) (int threads) (int from) (int to) out passage status))
                                       (* nm np)))
          interrupted? (< last-record (dec records))
          records (if interrupted? (inc last-record) records)
          steps (if interrupted? (* last-record record-every) steps)]
      (let [times (mapv #(* (double %) record-every dt) (range records))
            qs (:quantiles record)
            kept (min np (long (:paths record)))
            rows (fn [^long r ^long i] (+ (* (+ (* r nm) i) np)))
            pi-at (fn [r i p] (Math/pow (aget out (+ (long (rows r i)) (long p))) l))
            diverged-at? (fn [r i p] (>= (aget out (+ (long (rows r i)) (long p))) bound))
            buf (double-array np)
            dfns (mapv #(diffusion-fn noise2 l (aget s-arr (long %)) sig2) (range nm))
            stats (vec (for [r (range records)]
                         (vec (for [i (range nm)]
                                (column-stats out (rows r i) np l bound (dfns i) buf qs)))))
            gf (let [g (double-array records)]
                 (vec (for [i (range nm)]
                        (do (Sde/gradientFlow (int l) (aget s-arr i) (aget a0 i) dt (int steps) (int record-every) g 0)
                            (mapv #(Math/pow (double %) l) g)))))
            peak (vec (for [p (range np)]
                        (vec (for [i (range nm)]
                               (times (long (peak-record out np nm records p i l bound (dfns i))))))))
            fp (into (sorted-map)
                     (for [li (range nl)]
                       [(fracs li)
                        (vec (for [p (range np)]
                               (vec (for [i (range nm)]
                                      (let [t (aget passage (+ (* (+ (* (long li) nm) (long i)) np) (long p)))]
                                        (when (>= t 0.0) t))))))]))]
        (cond-> {:spec spec
                 :steps steps
                 :time times
                 :mean (mapv #(mapv :mean %) stats)
                 :std (mapv #(mapv :std %) stats)
                 :quantiles (into (sorted-map) (map-indexed (fn [k q] [q (mapv (fn [row] (mapv #(get-in % [:quantiles k]) row)) stats)]) qs))
                 :diffusion (mapv #(mapv :diffusion %) stats)
                 :gradient-flow (vec (for [r (range records)] (mapv #(% r) gf)))
                 :paths (vec (for [p (range kept)]
                               (vec (for [r (range records)]
                                      (vec (for [i (range nm)]
                                             (if (diverged-at? r i p) nil (pi-at r i p))))))))
                 :final (vec (for [p (range np)]
                               (vec (for [i (range nm)]
                                      (if (diverged-at? (dec records) i p) nil (pi-at (dec records) i p))))))
                 :first-passage fp
                 :learned-time (into (sorted-map)
                                     (for [[f per-path] fp]
                                       [f (vec (for [i (range nm)]
                                                 (let [ts (map #(% i) per-path)
                                                       sm (numeric/summary ts qs)]
                                                   (-> (set/rename-keys sm {:count :learned})
                                                       (assoc :mode i :paths np)))))]))
                 :peak-diffusion-time peak
                 :status {:hit-zero (vec (for [i (range nm)]
                                           (count (filter #(pos? (bit-and (long (aget status (+ (* (long i) np) (long %)))) Sde/HIT_ZERO)) (range np)))))
                          :diverged (vec (for [i (range nm)]
                                           (count (filter #(pos? (bit-and (long (aget status (+ (* (long i) np) (long %)))) Sde/DIVERGED)) (range np)))))}}
          interrupted? (assoc :interrupted? true))))))

;; ---------------------------------------------------------------------------
;; Analyses

(defn- mode-params [result i]
  (let [{:keys [modes depth lr batch-size label-noise]} (:spec result)
        {:keys [s pi0]} (modes i)]
    {:s s :pi0 pi0 :depth depth :lr lr :batch-size batch-size :label-noise label-noise}))

(defn- untracked!
  "Throws: fraction f is not among the tracked first-passage fractions of fp."
  [f fp]
  (error/fail! :invalid-option
               (format "[:fraction] %s was not tracked; allowed: %s (set :learned-fractions)" (pr-str f) (pr-str (vec (keys fp))))
               {:path [:fraction] :value f :allowed (vec (keys fp))}))

(defn learning-time-distribution
  "Distribution over paths of the time each mode is learned (first passage of pi to
  fraction * s), with the gradient-flow prediction (dlnlab.theory/learning-time, exact).

  Options: :fraction (the first of the result's :learned-fractions, 0.5 by default),
  :bins (20). Returns a vector, one map per mode:
  {:mode i :fraction f :learned n :paths N :mean :std :median :quantiles {q t}
   :histogram {:edges [..] :counts [..]} :gradient-flow-time t}.
  Throws ex-info when the fraction was not tracked by the simulation."
  ([result] (learning-time-distribution result {}))
  ([result {:keys [fraction bins] :or {bins 20}}]
   (let [fp (:first-passage result)
         f (or fraction (first (keys fp)))
         per-path (get fp f)]
     (when-not per-path
       (untracked! f fp))
     (vec (for [[i summ] (map-indexed vector (get-in result [:learned-time f]))
                :let [ts (keep #(% i) per-path)]]
            (assoc summ :fraction f
                   :histogram (numeric/histogram ts (long bins))
                   :gradient-flow-time (theory/learning-time (mode-params result i) {:fraction f})))))))

(defn diffusion-peak
  "When the diffusion of each mode peaks, and whether that comes before the mode is
  learned (doc/science.md §7: without label noise D peaks at
  pi* = 2(L-1)s/(3L-2) < s).

  Options: :fraction (the largest of the result's :learned-fractions, 0.9 by
  default): the learning fraction to compare with; pi* / s lies between 1/2 and 2/3,
  so fractions above 2/3 separate the peak from learning.
  Returns a vector, one map per mode: {:mode i :peak-time (argmax over the record grid
  of the ensemble-mean diffusion) :peak-pi (ensemble mean pi then; a few percent
  below :theory-peak-pi for the fast modes, and not only from the grid: with the
  record grid refined tenfold, the example of examples/sde-ensemble.edn still gives
  2.23 and 1.12 against 2.29 and 1.15, because paths pass pi* at different times
  and averaging D over them moves the peak)
  :theory-peak-pi (dlnlab.theory.sde/peak-diffusion-pi, nil without an interior maximum)
  :median-learned-time :precedes-learning? (peak-time < median learned time)
  :paths-peak-before-learning (share of the paths that learned whose own peak time
  is earlier than their learned time)}."
  ([result] (diffusion-peak result {}))
  ([result {:keys [fraction]}]
   (let [fp (:first-passage result)
         f (or fraction (last (keys fp)))
         per-path (get fp f)
         times (:time result)]
     (when-not per-path
       (untracked! f fp))
     (vec (for [i (range (count (get-in result [:spec :modes])))]
            (let [col (mapv #(% i) (:diffusion result))
                  r (first (apply max-key #(double (or (second %) Double/NEGATIVE_INFINITY)) (map-indexed vector col)))
                  learned (keep (fn [[tp tl]] (when tl [tp tl]))
                                (map vector (map #(% i) (:peak-diffusion-time result)) (map #(% i) per-path)))
                  med (get-in result [:learned-time f i :median])
                  tpeak (times r)]
              {:mode i :fraction f
               :peak-time tpeak
               :peak-pi (get-in result [:mean r i])
               :theory-peak-pi (theory-sde/peak-diffusion-pi (mode-params result i))
               :median-learned-time med
               :precedes-learning? (boolean (and med (< (double tpeak) (double med))))
               :paths-peak-before-learning (when (seq learned)
                                             (/ (double (count (filter (fn [[tp tl]] (< (double tp) (double tl))) learned)))
                                                (count learned)))}))))))

(def ks-distance
  "See dlnlab.numeric/ks-distance."
  numeric/ks-distance)

(defn stationary-comparison
  "Compares the final distribution of pi over paths with the stationary density of
  the per-mode SDE (dlnlab.theory.sde/stationary-density, doc/science.md §7).

  Options: :mode (0), :bins (40). Needs label noise > 0 and a run long enough to
  reach stationarity. Returns {:mode i :n paths :mean :variance (sample) :ks (KS
  distance to the analytic CDF) :theory {:mean :variance :gibbs-variance
  :discrete-variance (nil unless lr S < 2)} :histogram {:edges :density
  :theory-density}}."
  ([result] (stationary-comparison result {}))
  ([result {:keys [mode bins] :or {mode 0 bins 40}}]
   (let [i (long mode)
         _ (when-not (< -1 i (count (get-in result [:spec :modes])))
             (error/fail! :invalid-option
                          (format "[:mode] %s does not exist; allowed: 0 to %d" i (dec (count (get-in result [:spec :modes]))))
                          {:path [:mode] :value mode :allowed [0 (dec (count (get-in result [:spec :modes])))]}))
         params (mode-params result i)
         xs (keep #(% i) (:final result))
         summ (numeric/summary xs [])
         th (theory-sde/stationary-density params)
         cdf (theory-sde/stationary-cdf params)
         pdf (theory-sde/stationary-pdf params)
         {:keys [edges counts]} (numeric/histogram xs (long bins))
         n (count xs)]
     {:mode i :n n
      :mean (:mean summ) :variance (let [sd (:std summ)] (when sd (* (double sd) (double sd))))
      :ks (numeric/ks-distance xs cdf)
      :theory {:mean (:mean th) :variance (:variance th)
               :gibbs-variance (theory-sde/gibbs-variance params)
               ;; nil where the linearized discrete variance is unbounded
               :discrete-variance (theory-sde/linear-stationary-variance params {:discrete? true})}
      :histogram (when (seq edges)
                   (let [w (- (double (second edges)) (double (first edges)))]
                     {:edges edges
                      :density (mapv #(/ (double %) (* n w)) counts)
                      :theory-density (mapv (fn [[a b]] (pdf (* 0.5 (+ (double a) (double b)))))
                                            (partition 2 1 edges))}))})))

;; ---------------------------------------------------------------------------
;; Deterministic limits

(defn gradient-flow-trajectory
  "Gradient flow of one mode, d pi/dt = L pi^(2-2/L) (s - pi) (doc/science.md §4),
  integrated by the kernel's fixed-step RK4 in a = pi^(1/L).

  Takes {:s :pi0 :depth} and options {:dt (0.001) :time (10.0) :points (101)}; the time
  is rounded up to whole record intervals as in `simulate`.
  Returns {:time [t ...] :pi [pi ...]}."
  ([mode] (gradient-flow-trajectory mode {}))
  ([{:keys [s pi0 depth]} {:keys [dt time points] :or {dt 0.001 time 10.0 points 101}}]
   (normalize {:modes [{:s s :pi0 pi0}] :depth (or depth 2) :dt dt :time time :record {:points points}})
   (let [l (long (or depth 2))
         {:keys [^long steps ^long record-every ^long records]} (grid {:dt dt :time time :record {:points points}})
         out (double-array records)]
     (Sde/gradientFlow (int l) (double s) (Math/pow (double pi0) (/ 1.0 l)) (double dt) (int steps) (int record-every) out 0)
     {:time (mapv #(* (double %) record-every (double dt)) (range records))
      :pi (mapv #(Math/pow (double %) l) out)})))

(defn gd-orbit
  "Orbit of the normalized balanced per-mode GD map x <- x - (r/L) x^(L-1) (x^L - 1)
  (doc/science.md §6; r = lr L s^(2-2/L), x = a / s^(1/L)) from x0.

  Takes r, the depth (>= 1), x0 and the number of iterations n (>= 0).
  Returns the vector [x0 x1 ... xn]."
  [r depth x0 n]
  (when-not (and (int? depth) (>= (long depth) 1))
    (error/fail! :invalid-argument (format "[:depth] %s is not allowed: an integer >= 1" (pr-str depth))
                 {:path [:depth] :value depth :allowed "an integer >= 1"}))
  (when-not (and (int? n) (<= 0 (long n) 100000000))
    (error/fail! :invalid-argument (format "[:n] %s is not allowed: an integer from 0 to 1e8" (pr-str n))
                 {:path [:n] :value n :allowed "an integer from 0 to 1e8"}))
  (let [out (double-array (inc (long n)))]
    (Sde/gdMap (int depth) (double r) (double x0) (int n) out 0)
    (vec out)))

;; As an experiment kind: {:kind :sde :seed n :sde {...}} through dlnlab.core/run

(defn- quantile-key
  "The trajectory column of quantile q: :q0.05, :q0.5, ..."
  [q]
  (keyword (str "q" q)))

(defn- stationary-or-error
  "stationary-comparison of mode i, or {:mode i :error message} when the density
  is not normalizable."
  [sim i]
  (try (stationary-comparison sim {:mode i})
       (catch clojure.lang.ExceptionInfo e {:mode i :error (ex-message e)})))

(defn- facts
  "The :facts of an :sde run (dlnlab.result): the SGD it models has learning
  rate :lr (no parameterization multiplier); its trajectory is indexed by SDE
  time, one integration step advancing :dt; the targets are the modes' s."
  [sim]
  (let [{:keys [lr dt modes]} (:spec sim)]
    {:lr-multiplier 1.0
     :effective-lr (double lr)
     :stability-threshold nil
     :time-scale (double dt)
     :x-axis :time
     :targets (mapv :s modes)
     :dims nil
     :parameter-count nil}))

(defn- experiment-result
  "The result map of an :sde experiment (doc/design.md's outer shape) from its
  normalized experiment and the output of `simulate`."
  [exp sim]
  (let [times (:time sim)
        nrec (count times)
        every (quot (long (:steps sim)) (max 1 (dec nrec)))
        qs (get-in sim [:spec :record :quantiles])
        modes (get-in sim [:spec :modes])
        last-mean (peek (:mean sim))
        diverged? (some nil? last-mean)]
    {:experiment exp
     :status (cond (:interrupted? sim) :stopped diverged? :diverged :else :completed)
     :stop-reason (cond (:interrupted? sim) :interrupted diverged? :bound)
     :trajectory (into {:step (mapv #(* every (long %)) (range nrec))
                        :time times
                        :mean (:mean sim)
                        :std (:std sim)
                        :diffusion (:diffusion sim)
                        :gradient-flow (:gradient-flow sim)
                        :paths (vec (for [r (range nrec)] (mapv #(% r) (:paths sim))))}
                       (for [q qs] [(quantile-key q) (get-in sim [:quantiles q])]))
     :final {:step (:steps sim)
             :time (peek times)
             :mean last-mean
             :std (peek (:std sim))
             :strengths (:final sim)
             :first-passage (:first-passage sim)
             :peak-diffusion-time (:peak-diffusion-time sim)
             :hit-zero (get-in sim [:status :hit-zero])
             :diverged (get-in sim [:status :diverged])}
     :analysis (cond-> {:mode-targets (mapv :s modes)
                        :learned-time (:learned-time sim)
                        :learning-times (learning-time-distribution sim)
                        :diffusion-peak (diffusion-peak sim)}
                 (pos? (double (get-in sim [:spec :label-noise])))
                 (assoc :stationary (mapv #(stationary-or-error sim %) (range (count modes)))))
     :facts (facts sim)}))

(defmethod kind/run-kind :sde [exp opts]
  (experiment-result exp (simulate (assoc (:sde exp) :seed (:seed exp)) opts)))

(defn result-ensemble
  "What `simulate` returned for an :sde experiment, rebuilt from the experiment's
  result map (e.g. read back from result.edn), so the analyses of this namespace
  apply to it.

  The result of an :sde experiment (dlnlab.core/run of {:kind :sde :seed n :sde
  spec}) is {:experiment :status (:completed, or :diverged when every path of a
  mode diverged) :trajectory :final :analysis :meta} with
  - :trajectory {:step [..] :time [..] :mean :std :diffusion :gradient-flow
    [[per mode] per time], :q<quantile> (:q0.05 ...) [[per mode] per time],
    :paths [[[pi per mode] per kept path] per time]};
  - :final {:step :time :mean :std :strengths [[pi per mode] per path]
    :first-passage :peak-diffusion-time :hit-zero :diverged} (as `simulate`);
  - :analysis {:mode-targets :learned-time :learning-times (`learning-time-distribution`)
    :diffusion-peak (`diffusion-peak`) :stationary (per mode, when label noise > 0:
    `stationary-comparison`, or {:mode :error})}.
  Returns the map `simulate` returns (its :spec normalized again, so :threads is
  this machine's default unless the experiment set it)."
  [result]
  (let [exp (:experiment result)
        traj (:trajectory result)
        fin (:final result)
        sim-spec (normalize (assoc (:sde exp) :seed (:seed exp)))
        qs (get-in sim-spec [:record :quantiles])
        rows (:paths traj)
        kept (count (first rows))]
    {:spec sim-spec
     :steps (:step fin)
     :time (:time traj)
     :mean (:mean traj)
     :std (:std traj)
     :quantiles (into (sorted-map) (for [q qs] [q (get traj (quantile-key q))]))
     :diffusion (:diffusion traj)
     :gradient-flow (:gradient-flow traj)
     :paths (vec (for [p (range kept)] (mapv #(nth % p) rows)))
     :final (:strengths fin)
     :first-passage (into (sorted-map) (:first-passage fin))
     :learned-time (into (sorted-map) (get-in result [:analysis :learned-time]))
     :peak-diffusion-time (:peak-diffusion-time fin)
     :status {:hit-zero (:hit-zero fin) :diverged (:diverged fin)}}))
