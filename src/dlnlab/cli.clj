(ns dlnlab.cli
  "The dlnlab command line: run, sweep, plot, report, reproduce, validate,
  describe, inspect.

  `main*` runs one command line in-process and returns its exit code, printing
  to whatever *out* and *err* are bound to (tests bind them to strings); `-main`
  calls it and exits the JVM with that code.

  Exit codes: 0 the command did its work (a run that completed, stopped on
  :loss-below or diverged: the result says which); 1 internal error (a bug,
  or a sweep point that failed); 2 bad input (unreadable or invalid files,
  bad arguments, an output directory that cannot be written or that another
  process is writing: the exceptions of dlnlab.error whose kind is not
  :internal), with one paragraph on stderr naming the problem and nothing
  written; 128 + the signal's number when interrupted by SIGINT (130, Ctrl-C),
  SIGTERM (143) or SIGHUP (129): the result so far is written with status
  :stopped and :stop-reason :interrupted.

  Every command runs with dlnlab.provenance/*invocation* bound to its command
  line and the SHA-256 of the files it names, which results, sweep.edn and
  report.edn record.

  The files themselves are written by dlnlab.store (run directories, resumable
  sweeps, locks) and the text by dlnlab.summary."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [dlnlab.cli.args :as args :refer [usage-error!]]
            [dlnlab.cli.info :as info]
            [dlnlab.cli.plot :as plot]
            [dlnlab.cli.run :as run]
            [dlnlab.error :as error]
            [dlnlab.provenance :as provenance]
            [dlnlab.summary :as summary])
  (:gen-class))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def usage
  "The text of `dlnlab help` (resources/dlnlab/usage.txt)."
  (str/trimr (slurp (io/resource "dlnlab/usage.txt"))))


(defn command-help
  "The section of `usage` about command: its line and the lines under it, up
  to the next command."
  [command]
  (let [lines (str/split-lines usage)
        command-line? #(re-matches #"  [a-z]+( .*)?" %)
        [head & more] (drop-while #(not (re-matches (re-pattern (str "  " (java.util.regex.Pattern/quote command) "( .*)?")) %))
                                  lines)]
    (when head (str/join "\n" (cons head (take-while #(not (or (command-line? %) (str/blank? %))) more))))))

(defn- version-string []
  (str "dlnlab " (or (some-> (io/resource "dlnlab/version.txt") slurp str/trim) "dev")))

;; ---------------------------------------------------------------- main

(defn- report-error! [command ^String msg usage?]
  (binding [*out* *err*]
    (println (str "dlnlab" (when command (str " " command)) ": " msg
                  (when usage? " Run `dlnlab help` for usage.")))
    (flush)))

;; ---------------------------------------------------------------- reproduce

(defn main*
  "Runs one dlnlab command line (args as given to the program) in-process,
  printing to *out* and *err* as bound, and returns the exit code: 0 done, 1
  internal error, 2 bad input, 130 interrupted (see the namespace docstring).
  Never throws and never exits the JVM."
  [args]
  (let [[command & more] args]
    (try
      (let [help? (and (contains? args/command-options command) (some #{"--help" "-h"} more))
            parsed (when (and (contains? args/command-options command) (not help?)) (args/parse-args command more))
            code (if help?
                   (do (println (command-help command)) 0)
                   (binding [provenance/*invocation* (provenance/invocation args (:files parsed))]
                   (case command
                   nil (usage-error! "No command given; the commands are run, sweep, plot, report, reproduce, validate, describe, inspect, version and help.")
                   "run" (run/cmd-run parsed)
                   "sweep" (run/cmd-sweep parsed)
                   "plot" (plot/cmd-plot parsed)
                   "report" (plot/cmd-report parsed)
                   "reproduce" (info/cmd-reproduce parsed)
                   "validate" (info/cmd-validate parsed)
                   "inspect" (info/cmd-inspect parsed)
                   "describe" (if (= ["outputs"] (vec (:files parsed)))
                                (do (println (summary/outputs-text)) 0)
                                (info/cmd-describe parsed))
                   ("version" "--version") (do (println (version-string)) 0)
                   ("help" "--help" "-h") (do (println usage) 0)
                   (let [dym (error/did-you-mean command (conj (keys args/command-options) "help"))]
                     (usage-error! (str "Unknown command " (pr-str command) "."
                                        (when dym (str " Did you mean " dym "?"))
                                        " Commands are run, sweep, plot, report, reproduce, validate, describe, inspect, version, help."))))))]
        (flush)
        code)
      (catch clojure.lang.ExceptionInfo e
        (flush)
        (if (args/input-error? e)
          (do (report-error! command (ex-message e) (= :usage (error/kind-of e))) 2)
          (do (report-error! command (str "internal error: " (ex-message e)
                                          (when (System/getenv "DLNLAB_DEBUG") (str "\n" (pr-str e)))
                                          " (set DLNLAB_DEBUG=1 for details)") false)
              1)))
      (catch Throwable e
        (flush)
        (report-error! command (str "internal error: " e
                                    (when (System/getenv "DLNLAB_DEBUG") (str "\n" (pr-str e)))
                                    " (set DLNLAB_DEBUG=1 for details)") false)
        1))))

(defn -main [& args]
  (let [code (main* args)]
    (flush)
    (.flush System/err)
    (shutdown-agents)
    (System/exit code)))
