(ns dlnlab.experiment
  "Runs an experiment map to a result map of plain data: validates it, runs it
  through its kind (dlnlab.kind/run-kind: :network trains a network in
  dlnlab.train, :sde simulates the per-mode SDE ensemble in dlnlab.sde) and
  attaches the analysis of the trajectory and the run's :meta. See
  doc/design.md for the result map's shape."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [dlnlab.analysis :as analysis]
            [dlnlab.kind :as kind]
            [dlnlab.kinds]
            [dlnlab.options :as options]
            [dlnlab.provenance :as provenance]
            [dlnlab.spec :as spec]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def version
  "The dlnlab version of this build (resources/dlnlab/version.txt), or \"dev\"."
  provenance/version)

(def run-options
  "The options `run` takes: {key [pred what is allowed]}."
  {:progress [options/function? "a function (fn [{:step :steps :loss}])"]
   :on-record [options/function? "a function (fn [row])"]
   :interrupt [options/flag? "an AtomicBoolean or a deref-able (an atom, a promise) that turns true to stop"]
   :trajectory-file [#(or (string? %) (instance? java.io.File %)) "a path (a string or a java.io.File) for the streamed trajectory CSV"]
   :max-rows [#(and (int? %) (pos? (long %))) "a positive integer (recorded rows kept in the result)"]
   :invocation [map? "a map {:command-line [args] :inputs [...]} for the result's provenance"]})

(defn run
  "Runs an experiment map (validated, defaults filled) and returns the result map
  of doc/design.md: {:experiment :status :stop-reason :trajectory :final :facts
  :analysis :meta}. :facts is what the run knew (dlnlab.result reads it).

  Options: :progress (fn [{:step :steps :loss}]) called every step (keep it cheap);
  :on-record (fn [row]) called with each recorded row (a map of metric values
  with :step and :time), for live notebooks; :interrupt an AtomicBoolean or a
  deref-able that, when true, stops the run after the current step with status
  :stopped and :stop-reason :interrupted (an :sde run at its next record);
  :trajectory-file a path: a network run writes every recorded row to that CSV
  as it records, keeping at most :max-rows (10000) of them in the result
  (the last half whole, the earlier ones evenly thinned; dlnlab.train/run);
  :invocation {:command-line [args]
  :inputs [...]} (default dlnlab.provenance/*invocation*, which the CLI binds)
  for the result's provenance.
  A diverging run (loss NaN, Inf or above [:stop :loss-above]) ends with status
  :diverged and keeps every row recorded so far plus the row where it diverged.
  An experiment of another :kind (e.g. :sde, dlnlab.sde) runs through its
  dlnlab.kind/run-kind method: its result has the same outer shape (and its
  own :analysis), and it may ignore the options.
  :meta holds the run's provenance (dlnlab.provenance/collect: version, git
  commit, start and end time, host, CPU, JVM, OpenBLAS, command line, SHA-256
  of the input files) and :elapsed-ms.
  Throws ex-info on an invalid experiment."
  ([experiment] (run experiment {}))
  ([experiment opts]
   (options/check! "dlnlab.core/run" opts run-options)
   (let [started (System/currentTimeMillis)
         started-at (provenance/now)
         exp (spec/normalize experiment)
         result (kind/run-kind exp opts)
         result (assoc result :experiment exp)]
     (cond-> result
       (not (contains? result :analysis)) (assoc :analysis (analysis/analyze result))
       true (update :meta merge (provenance/collect {:started started-at :ended (provenance/now)
                                                     :invocation (:invocation opts) :experiment exp})
                    {:elapsed-ms (- (System/currentTimeMillis) started)})))))

(defn- data-file-key? [k] (and (keyword? k) (str/ends-with? (name k) "-file")))

(defn- resolved [dir v]
  (if (and (string? v) (not (.isAbsolute (io/file v))))
    (str (.getCanonicalFile (io/file dir v)))
    v))

(defn resolve-data-files
  "m (an experiment, or a sweep map {:base EXPERIMENT :grid ...}) with every
  relative data-file path resolved against dir, the directory of the EDN file
  m was read from, so the file works from any working directory. Data files
  are the :task keys ending in -file (:x-file, :y-file, :test-x-file,
  :test-y-file), in an experiment, a sweep's :base and its grid axes over
  them. Absolute paths and other values are left as they are."
  [m dir]
  (let [task-files (fn [task] (if (map? task)
                                (reduce-kv (fn [t k v] (if (data-file-key? k) (assoc t k (resolved dir v)) t)) task task)
                                task))
        exp-files (fn [exp] (if (and (map? exp) (contains? exp :task)) (update exp :task task-files) exp))
        axis (fn [[path values :as a]]
               (if (and (vector? path) (= 2 (count path)) (= :task (first path)) (data-file-key? (second path)) (sequential? values))
                 [path (mapv #(resolved dir %) values)]
                 a))
        grid (fn [g] (cond (map? g) (into (empty g) (map (comp vec axis) g))
                           (vector? g) (mapv #(if (and (vector? %) (= 2 (count %))) (axis %) %) g)
                           :else g))]
    (if (and (map? m) (contains? m :base))
      (cond-> (update m :base exp-files) (contains? m :grid) (update :grid grid))
      (exp-files m))))

