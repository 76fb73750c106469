(ns dlnlab.cli-runner
  "The command line run in-process for tests, its output captured, and the
  comparison of the files two sweeps wrote."
  (:require [clojure.data.json :as json]
            [clojure.string :as str]
            [dlnlab.cli :as cli]
            [dlnlab.io :as dio])
  (:import [java.io File StringWriter]))

(set! *warn-on-reflection* true)

(defn run-cli
  "Runs the command line args through dlnlab.cli/main* with *out* and *err*
  captured and progress shown only when terminal? is true: {:code :out :err}."
  [terminal? args]
  (let [o (StringWriter.) e (StringWriter.)
        code (binding [*out* o *err* e dlnlab.cli.common/*terminal?* (boolean terminal?)]
               (cli/main* args))]
    {:code code :out (str o) :err (str e)}))

(defn files-under
  "The relative paths of the files below dir, sorted."
  [^File dir]
  (sort (for [^File f (file-seq dir) :when (.isFile f)]
          (str (.relativize (.toPath dir) (.toPath f))))))

(defn untimed
  "A file's content for comparing two sweeps: result.edn and result.json
  without :meta (timings, provenance), sweep.edn and report.edn without
  :provenance, other files as text."
  [^File f]
  (cond (str/ends-with? (.getName f) "result.edn") (dissoc (dio/read-edn-file f) :meta)
        (#{"sweep.edn" "report.edn"} (.getName f)) (dissoc (dio/read-edn-file f) :provenance)
        (str/ends-with? (.getName f) "result.json") (dissoc (json/read-str (slurp f)) "meta")
        :else (slurp f)))
