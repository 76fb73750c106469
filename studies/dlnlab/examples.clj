(ns dlnlab.examples
  "The computations behind the example notebooks (examples/notebooks/*.clj):
  one function call per example experiment of examples/*.edn, returning its
  result(s), its figures as Vega-Lite specs and the facts it claims as plain
  data. The notebooks only show what `run-example` returns, so everything a
  notebook displays is computed here and checked by the test suite
  (test/dlnlab/examples_test.clj) without any notebook tool.

  It is notebook support, not library code, so it lives under studies/ (on the
  classpath of the tests, bin/dlnlab repl and the standalone jar).

  Examples (see examples/README.md and doc/science.md for the formulas):
  - \"eos-factorization\": GD beyond the edge of stability [EOS], §5-§6.
  - \"multi-pathway-rebalancing\": large-step GD re-balances pathways [MP], §5.
  - \"sgd-saddle-to-saddle\": SGD from small initialization [SDE], §4, §7.
  - \"mup-vs-ntk-width\": a width sweep under muP and NTK [BP], §1 (a sweep)."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [dlnlab.experiment :as experiment]
            [dlnlab.io :as dio]
            [dlnlab.result :as result]
            [dlnlab.sweep :as sweep]
            [dlnlab.theory :as theory]
            [dlnlab.vega :as vega])
  (:import [java.io File]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def example-names
  "The example experiments, by file name under examples/ without .edn."
  ["eos-factorization" "multi-pathway-rebalancing" "sgd-saddle-to-saddle" "mup-vs-ntk-width"])

;; ---------------------------------------------------------------- files

(defn examples-dir
  "The examples directory: opts :dir when given, else the first examples/
  holding eos-factorization.edn in the working directory or one of its parents
  (the project root when a REPL or notebook runs there).
  Returns a java.io.File. Throws ex-info when there is none."
  ^File [opts]
  (if-let [d (:dir opts)]
    (io/file d)
    (let [start (.getAbsoluteFile (io/file (System/getProperty "user.dir")))]
      (loop [d start]
        (cond
          (nil? d) (throw (ex-info (str "Cannot find the examples directory: no examples/eos-factorization.edn in "
                                        start " or its parents. Run from the dlnlab project root, or pass {:dir \"path/to/examples\"}.")
                                   {:path [:dir] :value (str start) :allowed "a directory holding the example EDN files"}))
          (.exists (io/file d "examples" "eos-factorization.edn")) (io/file d "examples")
          :else (recur (.getParentFile d)))))))

(defn- example-name [nm]
  (let [s (if (keyword? nm) (name nm) (str nm))]
    (when-not (some #{s} example-names)
      (throw (ex-info (str "Unknown example " (pr-str nm) "; the examples are " (str/join ", " example-names) ".")
                      {:path [:name] :value nm :allowed example-names})))
    s))

(defn- notes
  "The leading ;; comment block of an EDN file as text (the example's description)."
  [^File f]
  (->> (str/split-lines (slurp f))
       (take-while #(str/starts-with? (str/triml %) ";;"))
       (map #(str/replace % #"^\s*;;\s?" ""))
       (str/join "\n")
       str/trim))

(def ^:private quick-changes
  "How :quick shrinks each example (fewer steps, fewer widths) so that it still
  shows what it claims."
  {"eos-factorization" #(assoc % :steps 400)
   "multi-pathway-rebalancing" #(assoc % :steps 300)
   "sgd-saddle-to-saddle" #(assoc % :steps 2400)
   "mup-vs-ntk-width" #(-> % (assoc-in [:base :steps] 150) (assoc-in [:grid [:model :width]] [16 64 256]))})

(defn load-example
  "The experiment (or sweep) map of an example, read from examples/<name>.edn.
  Options: :dir (found by `examples-dir`); :quick (false) the smaller variant the
  tests run. Returns the EDN map. Throws ex-info for an unknown name or a file
  that cannot be read."
  ([nm] (load-example nm {}))
  ([nm opts]
   (let [s (example-name nm)
         v (dio/read-edn-file (io/file (examples-dir opts) (str s ".edn")))]
     (cond-> v (:quick opts) ((get quick-changes s))))))

;; ---------------------------------------------------------------- facts

(defn- mean ^double [xs] (/ (double (reduce + (map double xs))) (count xs)))

(defn- recorded [traj k] (filterv some? (get traj k)))

(defn- last-fifth
  "The recorded values of column k in the last fifth of the trajectory's rows."
  [traj k]
  (let [col (vec (get traj k)) n (count col)]
    (filterv some? (subvec col (quot (* 4 n) 5) n))))

(defn- target-count
  "How many modes have a positive target."
  ^long [targets]
  (count (take-while #(and % (pos? (double %))) targets)))

(defn- one-based [is] (mapv #(inc (long %)) is))

(defn- eos-summary [r]
  (let [exp (:experiment r)
        traj (:trajectory r)
        a (:analysis r)
        lr (double (get-in exp [:optimizer :lr]))
        depth (long (get-in exp [:model :depth]))
        targets (:mode-targets a)
        k (target-count targets)
        s1 (double (first targets))
        threshold (double (result/stability-threshold r))
        sharpness-at-minimum (theory/single-path-sharpness s1 depth)
        late (last-fifth traj :sharpness)]
    (array-map
     :lr lr
     :stability-threshold threshold
     :balanced-minimum-sharpness sharpness-at-minimum
     :beyond-the-edge? (> sharpness-at-minimum threshold)
     :initial-sharpness (first (recorded traj :sharpness))
     :late-sharpness-mean (mean late)
     :late-sharpness-min (reduce min late)
     :late-sharpness-max (reduce max late)
     :sharpening-end-step (:sharpening-end-step a)
     :loss-period (:loss-period a)
     :oscillating-modes (one-based (:oscillating-modes a))
     :mode-targets (vec (take k targets))
     :mode-learned-steps (vec (take k (:mode-learned-steps a))))))

(defn- multi-pathway-summary [r]
  (let [exp (:experiment r)
        traj (:trajectory r)
        a (:analysis r)
        lr (double (get-in exp [:optimizer :lr]))
        depth (long (get-in exp [:model :depth]))
        K (long (get-in exp [:model :pathways]))
        targets (:mode-targets a)
        k (target-count targets)
        first-shares (first (recorded traj :pathway-shares))
        final-shares (:final-pathway-shares a)
        final-sharpness (peek (recorded traj :sharpness))
        threshold (double (result/stability-threshold r))]
    (array-map
     :lr lr
     :stability-threshold threshold
     :final-sharpness final-sharpness
     :modes (vec (for [i (range k)
                       :let [s (double (nth targets i))
                             single (theory/single-path-sharpness s depth)
                             split (theory/equal-split-sharpness s K depth)
                             shares (nth final-shares i)]]
                   (array-map
                    :mode (inc (long i))
                    :target s
                    :single-path-sharpness single
                    :equal-split-sharpness split
                    :oscillates-at-a-single-path? (> single threshold)
                    :initial-dominant-share (reduce max (nth first-shares i))
                    :final-dominant-share (reduce max shares)
                    :final-shares shares
                    ;; doc/science.md §5: L sum_k pi_k^(2-2/L) with pi_k = share_k s
                    ;; (nil when a pathway opposes the mode: a negative share)
                    :final-split-sharpness (when (every? #(>= (double %) 0.0) shares)
                                             (theory/multi-pathway-sharpness (map #(* s (double %)) shares) depth))))))))

(defn- saddle-summary [r]
  (let [exp (:experiment r)
        a (:analysis r)
        task (:task exp)
        targets (:mode-targets a)
        k (target-count targets)
        learned (vec (take k (:mode-learned-steps a)))
        sigma (double (:label-noise task 0.0))
        by-step (when (every? some? learned) (one-based (sort-by #(nth learned %) (range k))))
        by-value (one-based (sort-by #(- (double (nth targets %))) (range k)))]
    (array-map
     :lr (get-in exp [:optimizer :lr])
     :batch-size (get-in exp [:optimizer :batch-size])
     :mode-targets (vec (take k targets))
     :mode-learned-steps learned
     :learning-order by-step
     :order-of-singular-values by-value
     :learned-in-order? (= by-step by-value)
     :noise-floor (/ (* (double (:output-dim task)) sigma sigma) 2.0)
     :final-loss (get-in r [:final :loss])
     :final-test-loss (get-in r [:final :test-loss]))))

(defn- first-layer-growth
  "How much the norm of the first layer grew during a run, relative to its start."
  [r]
  (let [wn (recorded (:trajectory r) :weight-norms)]
    (when (>= (count wn) 2)
      (- (/ (double (get-in (peek wn) [0 0])) (double (get-in (first wn) [0 0]))) 1.0))))

(defn- width-summary [rs]
  (let [point (fn [r k] (get-in r [:sweep :point k]))
        ok (filterv :trajectory rs)
        params (vec (distinct (map #(point % [:model :parameterization]) ok)))
        widths (vec (sort (distinct (map #(point % [:model :width]) ok))))
        table (fn [f] (into {} (for [p params]
                                 [p (vec (for [w widths]
                                           (some #(when (and (= p (point % [:model :parameterization]))
                                                             (= w (point % [:model :width])))
                                                    (f %))
                                                 ok)))])))
        learned (table #(first (get-in % [:analysis :mode-learned-steps])))
        spread (fn [xs] (when (every? some? xs) (- (long (apply max xs)) (long (apply min xs)))))]
    (array-map
     :widths widths
     :parameterizations params
     :lr (get-in (first ok) [:experiment :optimizer :lr])
     :mode-1-learned-step learned
     :mode-1-learned-step-spread (into {} (for [[p xs] learned] [p (spread xs)]))
     :first-layer-growth (table first-layer-growth)
     :final-loss (table #(get-in % [:final :loss]))
     :failed-runs (count (remove :trajectory rs)))))

;; ---------------------------------------------------------------- running

(defn rounded
  "x with every floating-point number in it rounded to digits (4) significant
  digits, for display: 9.999999999999996 becomes 10.0. Returns the same shape."
  ([x] (rounded x 4))
  ([x digits]
   (cond
     (and (float? x) (Double/isFinite (double x))) (Double/parseDouble (format (str "%." digits "g") (double x)))
     ;; array maps keep their order (into would turn one of 9+ keys into a hash map)
     (instance? clojure.lang.PersistentArrayMap x) (apply array-map (mapcat (fn [[k v]] [k (rounded v digits)]) x))
     (map? x) (into (empty x) (map (fn [[k v]] [k (rounded v digits)])) x)
     (vector? x) (mapv #(rounded % digits) x)
     (sequential? x) (map #(rounded % digits) x)
     :else x)))

(defn summary-table
  "A summary map as a table for a notebook: {:head [\"fact\" \"value\"] :rows
  [[name value] ...]}, numbers rounded by `rounded` and collections printed as
  EDN (the shape Clerk's table viewer takes)."
  [summary]
  {:head ["fact" "value"]
   :rows (vec (for [[k v] summary
                    :let [v (rounded v)]]
                [(name k) (if (coll? v) (pr-str v) v)]))})

(defn run-example
  "Runs one example experiment of examples/*.edn and returns what its notebook
  shows: {:name :notes (the file's comment header) :figures {name Vega-Lite spec}
  :summary {fact value}} plus :result (one run) or :results (the sweep's runs, in
  grid order) and :sweep (the sweep file's map).

  name: one of `example-names` (string or keyword). Options: :quick (false) a
  smaller variant (fewer steps or widths) that still shows the claim, for
  tests; :dir (see `examples-dir`); :jobs parallel runs of a sweep (1 when
  :quick, else the number of processors).

  The summary holds the facts the example claims (see examples/README.md):
  eos-factorization: late sharpness vs 2/lr, loss period, oscillating modes;
  multi-pathway-rebalancing: per mode, single-path and split sharpness and the
  dominant pathway share before and after; sgd-saddle-to-saddle: learning steps
  and their order vs the singular values, the noise floor; mup-vs-ntk-width:
  per parameterization and width, the step mode 1 is learned and the growth of
  the first layer. Modes are numbered from 1.
  Throws ex-info for an unknown example or an unreadable file."
  ([nm] (run-example nm {}))
  ([nm opts]
   (let [s (example-name nm)
         file (io/file (examples-dir opts) (str s ".edn"))
         exp (load-example s opts)
         base {:name s :notes (notes file)}]
     (if (= s "mup-vs-ntk-width")
       (let [jobs (or (:jobs opts) (if (:quick opts) 1 (.availableProcessors (Runtime/getRuntime))))
             rs (sweep/sweep (:base exp) (:grid exp) {:jobs jobs :seeds (:seeds exp :derived)})]
         (assoc base :sweep exp :results rs
                :figures (vega/standard-specs rs)
                :summary (width-summary rs)))
       (let [r (experiment/run exp)
             summary (case s
                       "eos-factorization" (eos-summary r)
                       "multi-pathway-rebalancing" (multi-pathway-summary r)
                       "sgd-saddle-to-saddle" (saddle-summary r))
             figures (cond-> (vega/standard-specs r)
                       ;; on a log scale the escape from each saddle is a straight line
                       (= s "sgd-saddle-to-saddle")
                       (assoc :modes-log (vega/modes-spec r {:log-y true :title "Mode strengths vs step, log scale"})))]
         (assoc base :result r :figures figures :summary summary))))))
