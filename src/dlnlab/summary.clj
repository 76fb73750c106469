(ns dlnlab.summary
  "Results and experiment options as text for people: the summary `dlnlab run`
  prints (`summary-lines`, a multimethod on dlnlab.result/kind: a network run
  or an :sde ensemble), the row a sweep's summary.csv holds for each point
  (`sweep-header`, `sweep-row`), and the listing `dlnlab describe` prints
  (`describe-text`, a renderer of dlnlab.spec/describe). Numbers are rounded
  for reading (`fmt-num`); the files keep every digit.

  Pure functions of plain data: no files, no printing. Useful at the REPL:
  (run! println (summary/summary-lines result))."
  (:require [clojure.string :as str]
            [dlnlab.metrics :as metrics]
            [dlnlab.result :as result]
            [dlnlab.spec :as spec]))

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

(defmethod summary-lines :default [result] (network-summary-lines result))

(defmethod summary-lines :sde [result] (sde-summary-lines result))

;; ---------------------------------------------------------------- summary.csv

(defn sweep-row
  "One summary.csv row of a sweep point: index, directory name (empty when
  the point has no files on disk), the point's values, then the run's facts
  (seed, status, stop reason, steps, final losses, last sharpness, stability
  threshold, loss period, sharpening end, learned steps, elapsed ms, error)."
  [i dir-name point result]
  (let [traj (:trajectory result)
        [_ sharp] (last-recorded traj :sharpness)]
    (concat [i dir-name] (map second point)
            [(get-in result [:experiment :seed])
             (:status result) (:stop-reason result)
             (get-in result [:final :step]) (get-in result [:final :loss]) (get-in result [:final :test-loss])
             sharp (or (result/stability-threshold result) (get-in result [:analysis :stability-threshold]))
             (get-in result [:analysis :loss-period]) (get-in result [:analysis :sharpening-end-step])
             (when-let [steps (get-in result [:analysis :mode-learned-steps])]
               (str/join " " (map #(if % (str %) "-") (take (n-target-modes (:analysis result)) steps))))
             (get-in result [:meta :elapsed-ms]) (:error result)])))

(defn sweep-header
  "The summary.csv header of a sweep over grid ([[path values] ...])."
  [grid]
  (concat ["index" "dir"]
          (map (fn [[path _]] (str/join "." (map #(if (keyword? %) (name %) (str %)) path))) grid)
          ["seed" "status" "stop_reason" "steps" "final_loss" "final_test_loss" "final_sharpness"
           "stability_threshold" "loss_period" "sharpening_end_step" "modes_learned_steps" "elapsed_ms" "error"]))

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
         "\n\n" metric-section "\n")))
