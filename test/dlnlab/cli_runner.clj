(ns dlnlab.cli-runner
  "The command line run in-process for tests, its output captured."
  (:require [dlnlab.cli :as cli])
  (:import [java.io StringWriter]))

(set! *warn-on-reflection* true)

(defn run-cli
  "Runs the command line args through dlnlab.cli/main* with *out* and *err*
  captured and progress shown only when terminal? is true: {:code :out :err}."
  [terminal? args]
  (let [o (StringWriter.) e (StringWriter.)
        code (binding [*out* o *err* e cli/*terminal?* (boolean terminal?)]
               (cli/main* args))]
    {:code code :out (str o) :err (str e)}))
