(ns dlnlab.experiment
  "Runs an experiment map to a result map of plain data: validates it, runs it
  through its kind (dlnlab.kind/run-kind: :network trains a network in
  dlnlab.train, :sde simulates the per-mode SDE ensemble in dlnlab.sde) and
  attaches the analysis of the trajectory and the run's :meta. See
  doc/design.md for the result map's shape."
  (:require [dlnlab.analysis :as analysis]
            [dlnlab.kind :as kind]
            [dlnlab.kinds]
            [dlnlab.provenance :as provenance]
            [dlnlab.spec :as spec]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def version
  "The dlnlab version of this build (resources/dlnlab/version.txt), or \"dev\"."
  provenance/version)

(defn run
  "Runs an experiment map (validated, defaults filled) and returns the result map
  of doc/design.md: {:experiment :status :stop-reason :trajectory :final :facts
  :analysis :meta}. :facts is what the run knew (dlnlab.result reads it).

  Options: :progress (fn [{:step :steps :loss}]) called every step (keep it cheap);
  :on-record (fn [row]) called with each recorded row (a map of metric values
  with :step and :time), for live notebooks; :interrupt an AtomicBoolean or a
  deref-able that, when true, stops the run after the current step with status
  :stopped and :stop-reason :interrupted; :invocation {:command-line [args]
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
