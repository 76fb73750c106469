(ns dlnlab.summary
  "Results and experiment options as text for people: the summary `dlnlab run`
  prints (`summary-lines`, a multimethod on dlnlab.result/kind: a network run
  or an :sde ensemble), the tidy tables of a sweep (`tidy-row`, `tidy-header`,
  `aggregate-table`, the columns listed by `outputs-text`), and the listing `dlnlab describe` prints
  (`describe-text`, a renderer of dlnlab.spec/describe). Numbers are rounded
  for reading (`fmt-num`); the files keep every digit.

  Pure functions of plain data: no files, no printing. Useful at the REPL:
  (run! println (summary/summary-lines result))."
  (:require [clojure.string :as str]
            [dlnlab.metrics :as metrics]
            [dlnlab.result :as result]
            [dlnlab.spec :as spec]
            [dlnlab.sweep :as sweep]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------- numbers and text

(defn fmt-num
  "x for people: nil as -, integers as they are, other numbers to six
  significant digits (scientific notation beyond 1e5 or below 1e-3), NaN, Inf,
  keywords by name."
  ^String [x]
  (cond (nil? x) "-"
        (integer? x) (str x)
        (number? x) (let [d (double x)]
                      (cond (Double/isNaN d) "NaN"
                            (Double/isInfinite d) (if (pos? d) "Inf" "-Inf")
                            (zero? d) "0"
                            (or (>= (Math/abs d) 1e5) (< (Math/abs d) 1e-3)) (format "%.4e" d)
                            :else (let [s (format "%.6g" d)]
                                    (if (str/includes? s ".") (str/replace s #"\.?0+$" "") s))))
        (keyword? x) (name x)
        :else (str x)))

(defn fmt-duration
  "A duration in seconds for people: 4.2 s, 3:05, 1:02:03."
  ^String [^double seconds]
  (let [s (long (Math/round seconds))]
    (cond (< seconds 10.0) (format "%.1f s" seconds)
          (< s 3600) (format "%d:%02d" (quot s 60) (rem s 60))
          :else (format "%d:%02d:%02d" (quot s 3600) (quot (rem s 3600) 60) (rem s 60)))))

(defn wrap
  "text wrapped to width columns: the first line is indent spaces, then prefix
  (kept as is, default \"\"), then words; later lines start with hang spaces
  (default indent)."
  ([text indent width] (wrap text indent width indent ""))
  ([^String text indent width hang ^String prefix]
   (let [width (long width)
         pad (apply str (repeat indent " "))
         hang-pad (apply str (repeat hang " "))
         words (remove str/blank? (str/split (or text "") #"\s+"))]
     (loop [ws words line (str pad prefix) fresh? (str/blank? prefix) lines []]
       (if-let [w (first ws)]
         (let [cand (if fresh? (str line w) (str line " " w))]
           (if (and (> (count cand) width) (not fresh?))
             (recur ws hang-pad true (conj lines line))
             (recur (rest ws) cand false lines)))
         (str/join "\n" (if (and fresh? (str/blank? line)) lines (conj lines line))))))))

;; ---------------------------------------------------------------- reading a result

(defn last-recorded
  "[step value] of the last row of trajectory traj where column k was recorded, or nil."
  [traj k]
  (let [steps (:step traj)]
    (loop [i (dec (count (get traj k)))]
      (when (>= i 0)
        (let [v (nth (get traj k) i)]
          (if (some? v) [(nth steps i) v] (recur (dec i))))))))

(defn late-stats
  "{:mean :min :max :n} of the non-nil values of column k in the last fifth of
  the rows, or nil."
  [traj k]
  (let [col (get traj k)
        n (count col)
        vs (filter number? (subvec (vec col) (long (* 0.8 n)) n))]
    (when (seq vs)
      (let [ds (map double vs)]
        {:mean (/ (double (reduce + ds)) (count vs)) :min (reduce min ds) :max (reduce max ds) :n (count vs)}))))

(defn n-target-modes
  "How many modes have a non-zero target (all recorded modes when unknown)."
  ^long [analysis]
  (let [k (count (take-while #(and % (> (double %) 1e-12)) (:mode-targets analysis)))]
    (if (pos? k) k (count (or (:mode-periods analysis) (:final-pathway-shares analysis))))))

(defn- time-indexed?
  "True when the run is indexed by time (gradient flow's grid points), from its
  :facts, or for results without facts from the optimizer."
  [r]
  (= :time (or (result/x-axis r) (when (= :gradient-flow (get-in r [:experiment :optimizer :kind])) :time))))

(defn- stop-text [{:keys [status stop-reason experiment final] :as result}]
  (let [step (:step final)]
    (case [status stop-reason]
      [:completed nil] (str "completed " step " " (if (time-indexed? result) "grid points" "steps"))
      [:diverged :non-finite] (str "DIVERGED at step " step " (the loss became NaN or infinite)")
      [:diverged :loss-above] (str "DIVERGED at step " step " (the loss exceeded " (fmt-num (get-in experiment [:stop :loss-above])) ")")
      [:stopped :loss-below] (str "stopped at step " step " (the loss fell below " (fmt-num (get-in experiment [:stop :loss-below])) ")")
      [:stopped :interrupted] (str "INTERRUPTED at step " step " (Ctrl-C or another stop signal); the result so far is written")
      (str (name status) (when stop-reason (str " (" (name stop-reason) ")")) " at step " step))))

(defn- per-mode
  "\"mode 1 x; mode 2 y\" from f of each mode index that gives a string."
  [n f]
  (str/join "; " (keep (fn [i] (when-let [t (f i)] (str "mode " (inc (long i)) " " t))) (range n))))

(defn- sde-summary-lines
  "`summary-lines` of an :sde experiment's result (dlnlab.sde/result-ensemble
  documents its shape)."
  [result]
  (let [{:keys [experiment analysis final meta status]} result
        {:keys [modes paths lr batch-size label-noise scheme depth]} (:sde experiment)
        n (count modes)
        ltimes (:learning-times analysis)
        frac (:fraction (first ltimes))]
    (remove nil?
            [(str "status:           " (if (= status :diverged)
                                         (str "DIVERGED: every path of some mode passed the bound (see :final :diverged)")
                                         "completed")
                  ", " (:step final) " steps to SDE time " (fmt-num (:time final))
                  (when-let [ms (:elapsed-ms meta)] (str " in " (fmt-duration (/ (double ms) 1000.0)))))
             (str "ensemble:         " paths " paths x " n " mode" (when (> n 1) "s") ", L = " depth ", " (name scheme)
                  ", lr = " (fmt-num lr) ", B = " (fmt-num batch-size) ", label noise " (fmt-num label-noise))
             (str "final pi:         " (per-mode n (fn [i] (let [m (get-in final [:mean i])]
                                                             (str (fmt-num m) (when m (str " ± " (fmt-num (get-in final [:std i]))))
                                                                  " (target " (fmt-num (:s (modes i))) ")")))))
             (when (seq ltimes)
               (str "learned (" (fmt-num frac) " s):  "
                    (per-mode n (fn [i] (let [{:keys [median learned gradient-flow-time]} (ltimes i)]
                                          (str "median t " (fmt-num median) " (" learned "/" paths " paths; gradient flow "
                                               (fmt-num gradient-flow-time) ")"))))))
             (when-let [dp (seq (:diffusion-peak analysis))]
               (str "diffusion peak:   " (per-mode n (fn [i] (let [{:keys [peak-time precedes-learning?]} (nth dp i)]
                                                               (str "t " (fmt-num peak-time) (if precedes-learning? " (before learning)" "")))))))
             (when-let [st (seq (:stationary analysis))]
               (str "stationary:       " (per-mode n (fn [i] (let [{:keys [variance ks theory error]} (nth st i)]
                                                               (if error
                                                                 "not normalizable"
                                                                 (str "variance " (fmt-num variance) " (theory " (fmt-num (:variance theory))
                                                                      "), KS " (fmt-num ks))))))))
             (let [hz (:hit-zero final) dv (:diverged final)]
               (when (some pos? (concat hz dv))
                 (str "boundary:         " (per-mode n (fn [i] (let [z (long (nth hz i 0)) d (long (nth dv i 0))]
                                                                 (when (or (pos? z) (pos? d))
                                                                   (str z " hit 0, " d " diverged"))))))))])))

(defn- network-summary-lines
  "`summary-lines` of a network run."
  [result]
  (let [{:keys [trajectory analysis final meta]} result
        thr (or (result/stability-threshold result) (:stability-threshold analysis))
        [sstep sval] (last-recorded trajectory :sharpness)
        late (late-stats trajectory :sharpness)
        lp (:loss-period analysis)]
    (remove nil?
            [(str "status:           " (stop-text result)
                  (when-let [ms (:elapsed-ms meta)] (str " in " (fmt-duration (/ (double ms) 1000.0)))))
             (str "final loss:       " (fmt-num (:loss final))
                  (when (some? (:test-loss final)) (str "   test loss: " (fmt-num (:test-loss final)))))
             (when sval
               (str "sharpness:        " (fmt-num sval) " at step " sstep
                    (when thr (str "   2/lr = " (fmt-num thr)))))
             (when (and late (> (long (:n late)) 1))
               (str "late sharpness:   mean " (fmt-num (:mean late)) ", range " (fmt-num (:min late))
                    " to " (fmt-num (:max late)) " over the last fifth of the run"))
             (when-let [s (:sharpening-end-step analysis)]
               (str "sharpening ends:  step " s " (sharpness first reaches 2/lr)"))
             (when-let [bad (seq (for [[metric {:keys [calls unconverged]}] (:eigensolves meta)
                                       :when (pos? (long unconverged))]
                                   (str unconverged " of " calls " " (name metric) " records")))]
               (str "warning:          Lanczos missed its tolerance in " (str/join ", " bad)
                    " (the best Ritz values are recorded; raise the metric's :max-iter)"))
             (when lp
               (str "loss period:      " (fmt-num lp)
                    (cond (= lp 1) " (settled)"
                          (integer? lp) " (the loss oscillates)"
                          (= lp :aperiodic) " (irregular)"
                          :else "")))
             (when-let [steps (:mode-learned-steps analysis)]
               (let [targets (:mode-targets analysis)
                     k (n-target-modes analysis)]
                 (str "modes learned:    " (str/join ", " (map #(if % (str "step " %) "not yet") (take k steps)))
                      " (modes 1.." k ", targets " (str/join ", " (map fmt-num (take k targets))) ")")))
             (let [periods (take (n-target-modes analysis) (:mode-periods analysis))
                   osc (keep-indexed (fn [i p] (when (and (integer? p) (> (long p) 1)) (str "mode " (inc (long i)) " (period " p ")"))) periods)
                   irregular (keep-indexed (fn [i p] (when (= p :aperiodic) (inc (long i)))) periods)]
               (when (or (seq osc) (seq irregular))
                 (str "late modes:       "
                      (str/join "; " (concat osc (when (seq irregular)
                                                   [(str "mode" (when (next irregular) "s") " " (str/join ", " irregular)
                                                         " irregular (noise or chaos)")]))))))
             (when-let [shares (:final-pathway-shares analysis)]
               (when (> (count (first (remove nil? shares))) 1)
                 (let [k (min (n-target-modes analysis) (count shares))]
                   (str "pathway shares:   "
                        (str/join "; " (map-indexed (fn [i row] (str "mode " (inc (long i)) " "
                                                                     (if row (str/join "/" (map #(format "%.3f" (double %)) row)) "-")))
                                                    (take k shares)))))))])))

(defmulti summary-lines
  "The short plain-text summary of a result that `run` prints, as a sequence of
  lines: status, steps, final loss, last sharpness, analysis highlights (modes
  are numbered from 1, as in trajectory.csv); for an :sde experiment the
  ensemble, the final mean strengths, learning times, diffusion peaks and the
  stationary comparison. Dispatches on dlnlab.result/kind; an experiment kind
  adds a method."
  result/kind)

(defn- compare-summary-lines
  "`summary-lines` of a :compare run: each variant's final loss, and each
  variant's final distances to the reference (dlnlab.compare)."
  [result]
  (let [{:keys [compare final analysis meta status stop-reason]} result
        {:keys [variants reference clock facts]} compare
        step (:step final)
        by-time? (= :time (get-in facts [clock :x-axis]))]
    (remove nil?
            (concat
             [(str "status:           "
                   (if (and (= :completed status) (nil? stop-reason))
                     (str "completed " step " " (if by-time? "grid points" "steps") " of " (name clock)
                          (when-let [t (:time final)] (str " (time " (fmt-num t) ")")))
                     (stop-text result))
                   (when-let [ms (:elapsed-ms meta)] (str " in " (fmt-duration (/ (double ms) 1000.0)))))
              (str "final loss:       " (str/join ", " (for [v variants] (str (name v) " " (fmt-num (get-in final [:losses v]))))))]
             (for [[v d] (sort-by key (:final analysis))]
               (str "vs " (name reference) ":" (apply str (repeat (max 1 (- 14 (count (name reference)))) " "))
                    (name v) ": distance " (fmt-num (:distance d)) ", cosine " (fmt-num (:cosine d))
                    ", end-to-end " (fmt-num (:end-to-end-distance d)) ", loss difference " (fmt-num (:loss-difference d))))))))

(defmethod summary-lines :default [result]
  (if (:compare result) (compare-summary-lines result) (network-summary-lines result)))

(defmethod summary-lines :sde [result] (sde-summary-lines result))

;; ---------------------------------------------------------------- tidy tables

(defn column-name
  "The column name of a grid path: its keys by name joined by dots (optimizer.lr,
  model.init.scale); the seed and replicate axes are the seed and replicate columns."
  ^String [path]
  (str/join "." (map #(if (keyword? %) (name %) (str %)) path)))

(defn coordinate-paths
  "The grid paths of grid ([[path values] ...]) that get a coordinate column:
  all but [:seed] and [:replicate] (the seed and replicate columns)."
  [grid]
  (remove #{[:seed] [:replicate]} (map first grid)))

(def headline-columns
  "The summary.csv columns after the coordinates, in order, with what each holds.
  Numbers are plain numbers (NaN, Inf, -Inf when so), booleans true/false, an
  empty cell where a run did not record what a column needs."
  (array-map
   "replicate" "replicate index within the point (0 without :replicates)"
   "seed" "the seed the run used"
   "status" "completed, stopped, diverged or failed"
   "stop_reason" "loss-below, loss-above, non-finite, interrupted, bound, or empty"
   "steps" "the last step (grid points for gradient flow, SDE steps for :sde runs)"
   "final_time" "the time of the last step (effective lr x steps; SDE time)"
   "final_loss" "training loss at the end"
   "final_test_loss" "test loss at the end"
   "final_sharpness" "the last recorded sharpness (top Hessian eigenvalue)"
   "late_sharpness_mean" "mean of the sharpness over the last fifth of the rows"
   "late_sharpness_min" "its minimum there"
   "late_sharpness_max" "its maximum there"
   "stability_threshold" "the optimizer's stability threshold at the effective lr (2/lr for GD)"
   "loss_period" "period of the late loss oscillation in recorded rows (1 settled, 2, 3, ...); empty when converged or aperiodic"
   "loss_converged" "true when the late loss is constant to tolerance"
   "sharpening_end_step" "first step the sharpness reaches the stability threshold"
   "error" "why a point failed"))

(def mode-columns
  "The per-mode summary.csv columns (k = 1, 2, ... in the target's order; one
  set per mode the widest run has), with what each holds."
  (array-map
   "learned_step" "network runs: first step mode k reaches the learned fraction of its target"
   "largest_share" "network runs: the largest final pathway share of mode k"
   "learning_time" "SDE runs: median learning time of mode k over the paths"
   "stationary_variance" "SDE runs: stationary variance of mode k (label noise > 0)"))

(defn- loss-period-cells [p]
  (cond (nil? p) [nil nil]
        (= p :converged) [nil true]
        (integer? p) [p false]
        :else [nil false]))

(defmulti mode-headlines
  "{k {quantity value}} of a result's per-mode headline numbers (k from 1;
  quantities of `mode-columns`), by dlnlab.result/kind."
  result/kind)

(defmethod mode-headlines :default [{:keys [analysis]}]
  (let [k (n-target-modes analysis)
        steps (:mode-learned-steps analysis)
        shares (:final-pathway-shares analysis)]
    (into {} (for [i (range k)]
               [(inc (long i)) {"learned_step" (get steps i)
                                "largest_share" (when-let [row (get shares i)] (when (seq row) (reduce max (map double row))))}]))))

(defmethod mode-headlines :sde [{:keys [analysis]}]
  (let [lt (:learning-times analysis)
        st (:stationary analysis)]
    (into {} (for [i (range (max (count lt) (count st)))]
               [(inc (long i)) {"learning_time" (:median (get lt i))
                                "stationary_variance" (:variance (get st i))}]))))

(defn tidy-row
  "The summary.csv row of one sweep point as a map {column value} (see
  `headline-columns`, `mode-columns`, `tidy-header`): index, dir (empty when
  the point has no files on disk), the coordinates named by `column-name`,
  then the run's headline numbers."
  [i dir-name point result]
  (let [{:keys [trajectory analysis final experiment]} result
        [_ sharp] (last-recorded trajectory :sharpness)
        late (late-stats trajectory :sharpness)
        [period converged] (loss-period-cells (:loss-period analysis))
        modes (mode-headlines result)]
    (merge
     {"index" i "dir" dir-name
      "replicate" (long (or (some (fn [[p v]] (when (= [:replicate] p) v)) point) 0))
      "seed" (:seed experiment)
      "status" (:status result) "stop_reason" (:stop-reason result)
      "steps" (:step final) "final_time" (:time final)
      "final_loss" (:loss final) "final_test_loss" (:test-loss final)
      "final_sharpness" sharp
      "late_sharpness_mean" (:mean late) "late_sharpness_min" (:min late) "late_sharpness_max" (:max late)
      "stability_threshold" (or (result/stability-threshold result) (:stability-threshold analysis))
      "loss_period" period "loss_converged" converged
      "sharpening_end_step" (:sharpening-end-step analysis)
      "error" (:error result)}
     (into {} (for [[path v] point :when (not (#{[:seed] [:replicate]} path))] [(column-name path) v]))
     (into {} (for [[k qs] modes [q v] qs] [(str "mode_" k "_" q) v])))))

(defn tidy-header
  "The columns of summary.csv for a sweep over grid with rows (maps from
  `tidy-row`): index, dir, the coordinates, `headline-columns`, then
  mode_<k>_<quantity> for k = 1.. the widest run's modes and each quantity of
  `mode-columns` some row has."
  [grid rows]
  (let [mode-keys (set (mapcat #(filter (fn [^String c] (str/starts-with? c "mode_")) (keys %)) rows))
        widest (reduce max 0 (map #(Long/parseLong (second (re-find #"^mode_(\d+)_" %))) mode-keys))
        present (set (map #(str/replace % #"^mode_\d+_" "") mode-keys))]
    (vec (concat ["index" "dir"] (map column-name (coordinate-paths grid)) (keys headline-columns)
                 (for [k (range 1 (inc (long widest))) q (keys mode-columns) :when (present q)]
                   (str "mode_" k "_" q))))))

(defn- finite-number? [x] (and (number? x) (Double/isFinite (double x))))

(defn- stats
  "[mean sd min max count] of the finite numbers in xs (sd with n - 1; nil below 2 values)."
  [xs]
  (let [ds (mapv double (filter finite-number? xs))
        n (count ds)]
    (if (zero? n)
      [nil nil nil nil 0]
      (let [mean (/ (double (reduce + ds)) n)
            sd (when (> n 1) (Math/sqrt (/ (double (reduce + (map #(let [d (- (double %) mean)] (* d d)) ds))) (dec n))))]
        [mean sd (reduce min ds) (reduce max ds) n]))))

(def ^:private not-aggregated #{"index" "replicate" "seed"})

(defn aggregate-table
  "aggregate.csv of a sweep as [header rows]: one row per grid point (the
  replicates of one point together), its coordinates, how many replicates and
  how many completed, then <column>_mean, _sd, _min, _max, _count over the
  replicates for every numeric column of summary.csv (finite values only: a
  diverged replicate's NaN loss is left out and shows in the count)."
  [grid header rows]
  (let [coords (map column-name (coordinate-paths grid))
        numeric (filter (fn [c] (and (not (not-aggregated c))
                                     (not ((set coords) c))
                                     (some #(number? (get % c)) rows)
                                     (every? #(let [v (get % c)] (or (nil? v) (number? v))) rows)))
                        header)
        groups (partition-by #(mapv (fn [c] (get % c)) coords) rows)]
    [(vec (concat coords ["replicates" "completed"]
                  (for [c numeric s ["mean" "sd" "min" "max" "count"]] (str c "_" s))))
     (for [g groups]
       (concat (map #(get (first g) %) coords)
               [(count g) (count (filter #(= :completed (get % "status")) g))]
               (mapcat #(stats (map (fn [r] (get r %)) g)) numeric)))]))

(defn column-type
  "The type of the tidy-table column named c (summary.csv or aggregate.csv),
  :long, :double, :boolean or :string, as the tables write it; nil for a
  coordinate column, whose type is its values'. Readers that type a column by
  its cells use this where a column has no non-empty cell (e.g. every _sd of a
  sweep without replicates)."
  [^String c]
  (let [base (str/replace c #"^mode_\d+_" "")]
    (cond (re-find #"_count$" c) :long
          (re-find #"_(mean|sd|min|max)$" c) :double
          (#{"dir" "status" "stop_reason" "error"} c) :string
          (= "loss_converged" c) :boolean
          (#{"index" "replicate" "seed" "steps" "replicates" "completed" "loss_period" "sharpening_end_step"
             "learned_step"} base) :long
          (or (contains? headline-columns c) (and (not= base c) (contains? mode-columns base))) :double)))

(defn outputs-text
  "The text of `dlnlab describe outputs`: the files a sweep writes and every
  column of its tables."
  []
  (let [col (fn [[c doc]] (str "  " c "\n" (wrap doc 6 80)))]
    (str/join
     "\n"
     (concat
      ["dlnlab outputs: what `dlnlab run` and `dlnlab sweep` write."
       ""
       "RUN DIRECTORY (dlnlab run --out DIR; a sweep's DIR/runs/<index>-<point>/)"
       "  result.edn       the whole result map (doc/design.md), provenance in :meta"
       "  result.json      the same as JSON: keywords as strings, map keys as strings (a grid"
       "                   path as its dotted column name), NaN and infinities as the strings"
       "                   \"NaN\", \"Infinity\", \"-Infinity\""
       "  trajectory.csv   one row per recorded row: step, time, then each recorded metric"
       "                   (a vector metric one column per entry: modes_1, pathway_shares_m1_p2)"
       ""
       "SWEEP DIRECTORY (dlnlab sweep --out DIR)"
       "  sweep.edn        the normalized sweep and its :provenance"
       "  summary.csv      one row per point x replicate (columns below)"
       "  aggregate.csv    one row per point: its coordinates, replicates, completed, and for every"
       "                   numeric summary column <column>_mean, _sd (n - 1), _min, _max, _count over"
       "                   the replicates (finite values only)"
       "  trajectories.csv long format: index, the coordinates, replicate, seed, then the columns"
       "                   of every run's trajectory.csv (empty where a run did not record one)"
       ""
       "SUMMARY.CSV COLUMNS"
       "  index\n      the point's place in run order (the grid's first path varies slowest,"
       "      replicates fastest)"
       "  dir\n      its run directory under runs/ (empty when it failed)"
       "  <coordinates>\n      one column per grid path, named by its keys joined with dots"
       "      (optimizer.lr, model.depth); a [:seed] axis is the seed column"]
      (map col headline-columns)
      (map (fn [[q doc]] (col [(str "mode_<k>_" q) doc])) mode-columns)))))

;; ---------------------------------------------------------------- describe

(def ^:private node-order [:experiment :model :init :task :covariance :teacher :optimizer :stop :record
                           :sde-experiment :sde :sde-record])

(def ^:private node-paths
  {:experiment "the top-level map" :model "[:model]" :init "[:model :init]" :task "[:task]"
   :covariance "[:task :covariance]" :teacher "[:task :teacher]" :optimizer "[:optimizer]"
   :stop "[:stop]" :record "[:record]"
   :sde-experiment "the top-level map when :kind is :sde" :sde "[:sde] of an :sde experiment"
   :sde-record "[:sde :record]"})

(defn- an [^String s] (str/replace s #"\ba ([aeiou])" "an $1"))

(defn- key-lines
  "Lines describing each [key info] of entries (info as in spec/describe): the
  key, what it allows and its default, then its documentation. In the record
  node (the one with :metrics) the per-metric option keys collapse into one line."
  [entries ^long indent]
  (let [metric-set (if (some (fn [[k _]] (= :metrics k)) entries) (set (spec/metric-names)) #{})
        shown (remove (fn [[k _]] (metric-set k)) entries)
        collapsed (some (fn [[k _]] (metric-set k)) entries)
        pad (apply str (repeat indent " "))]
    (concat
     (for [[k {:keys [doc allowed required default default-doc] :as e}] shown]
       (str (wrap (str (an allowed) "; "
                       (cond required "required"
                             (contains? e :default) (str "default " (pr-str default))
                             default-doc (str "default " default-doc)
                             :else "optional"))
                  indent 80 (+ indent 8) (str (pr-str k) " "))
            "\n" (wrap doc (+ indent 4) 80)))
     (when collapsed
       [(str pad ":<metric>  options of one recorded metric, e.g. :sharpness {:every 50 :tol 1e-8}\n"
             (wrap "A map of that metric's options (see METRICS below); :every n records it every n steps instead of the record's :every." (+ indent 4) 80))]))))

(defn- ordered
  "[k info] of the keys in info-map, in the order of the schema entries (then any
  others)."
  [schema-entries info-map]
  (let [order (map first schema-entries)]
    (for [k (concat order (remove (set order) (keys info-map)))
          :when (contains? info-map k)]
      [k (get info-map k)])))

(defn sweep-text
  "The SWEEPS section of `describe-text`: the keys of a sweep file and every
  :seeds mode (dlnlab.sweep/seed-modes)."
  []
  (str/join "\n"
            (concat
             ["SWEEPS  (dlnlab sweep FILE.edn; dlnlab run FILE.edn --grid PATH=VALUES makes one of an experiment)"
              (wrap "A sweep file is {:base EXPERIMENT :grid {PATH [VALUES] ...} :seeds MODE :replicates R}; every point of the cartesian product of the grid (the first path varying slowest) runs base with its values set. `dlnlab describe outputs` lists the files and table columns a sweep writes." 2 80)
              ""
              "  :grid  a map (or a vector of [PATH VALUES] pairs) from key paths to value vectors"
              (wrap "e.g. {[:optimizer :lr] [0.01 0.1] [:model :depth] [2 3]}. A [:seed] axis gives the seeds as they are (and is the seed column of summary.csv). On the command line: --grid optimizer.lr=0.01,0.1, --grid optimizer.lr=log:0.001:0.1:5, --grid model.depth=lin:2:8:4, --grid seed=1,2,3; --set PATH=VALUE changes the base." 4 80)
              ""
              "  :replicates  a positive integer; default 1"
              (wrap "Runs R seeds per point (the replicate column of summary.csv; aggregate.csv gives mean, sd, min, max and count over them). Cannot be combined with a [:seed] axis." 4 80)
              ""
              "  :seeds  one of the modes below; default :derived"]
             (for [[m doc] sweep/seed-modes] (wrap doc 6 80 6 (str (pr-str m) "  ")))
             [(wrap "With :derived or :shared, comparisons across the optimizer's coordinates (learning rate, batch size, steps) are paired: the same initial weights and data, only the training differs." 4 80)])))

(defn describe-text
  "The plain-text listing `dlnlab describe` prints: every node of an experiment
  (dlnlab.spec/describe) with its keys, what each allows and its default, then
  the metrics catalog."
  []
  (let [d (spec/describe)
        nodes (concat node-order (remove (set node-order) (keys d)))
        section (fn [id]
                  (let [{:keys [doc keys common-keys kinds]} (get d id)
                        node (get (spec/schema) id)]
                    (str/join "\n"
                              (concat
                               [(str (str/upper-case (name id)) "  (" (get node-paths id "a nested map")
                                     (when kinds ", chosen by :kind") ")")
                                (wrap doc 2 80)]
                               (when (seq keys) (cons "" (key-lines (ordered (:keys node) keys) 2)))
                               (when (seq common-keys)
                                 (concat ["" "  Keys of every kind:"] (key-lines (ordered (:common node) common-keys) 4)))
                               (mapcat (fn [[k {kdoc :doc kkeys :keys}]]
                                         (concat ["" (str "  :kind " (pr-str k))]
                                                 [(wrap kdoc 4 80)]
                                                 (if (seq kkeys)
                                                   (key-lines (ordered (get-in node [:kinds k :keys]) kkeys) 6)
                                                   ["      (no other keys)"])))
                                       (ordered (map vector (clojure.core/keys (:kinds node))) kinds))))))
        metric-section
        (str/join "\n"
                  (concat
                   ["METRICS  (:record {:metrics [...]}; each also a function in dlnlab.metrics)"
                    (wrap "Recorded every [:record :every] steps unless the metric's own {:every n} says otherwise; costly metrics are worth a slower cadence. In trajectory.csv a vector-valued metric becomes one column per entry (modes_1, pathway_shares_m1_p2, balance_gap_p1_l1, ...)." 2 80)]
                   (mapcat (fn [m]
                             (let [{:keys [description options cost shape]} (get (metrics/catalog) m)]
                               (concat ["" (str "  " (pr-str m) "  " shape "; " (name cost))
                                        (wrap description 6 80)]
                                       (for [[o {:keys [default doc]}] options]
                                         (wrap (str "default " (pr-str default) "; " doc) 6 80 10
                                               (str "option " (pr-str o) " "))))))
                           (keys (metrics/catalog)))))]
    (str "dlnlab experiments: every key, what it allows and its default.\n"
         "An experiment is an EDN map; `dlnlab validate FILE.edn` prints one with every default filled.\n\n"
         (str/join "\n\n" (map section nodes))
         "\n\n" metric-section "\n\n" (sweep-text) "\n")))
