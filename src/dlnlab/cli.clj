(ns dlnlab.cli
  "The dlnlab command line. Bad input prints one paragraph on stderr (no stack
  trace) and exits non-zero."
  (:require [clojure.pprint :as pprint]
            [clojure.java.io :as io]
            [clojure.string :as str]
            [dlnlab.core :as core]
            [dlnlab.io :as dio]
            [dlnlab.spec :as spec])
  (:gen-class))

(set! *warn-on-reflection* true)

(def usage
  "Usage: dlnlab COMMAND [ARGS]

Commands:
  inspect FILE.edn   build the experiment's network; print its loss, test loss,
                     sharpness (top Hessian eigenvalue) and size
  validate FILE.edn  check an experiment and print it with every default filled
  describe           every model, task and init kind with its options and defaults
  version            print the version
  help               this text

  bin/dlnlab test    runs the test suite (launcher only)")

(defn- fail! [^String msg]
  (throw (ex-info msg {::usage-error true})))

(defn- read-experiment [args]
  (when (not= 1 (count args))
    (fail! (str "Expected exactly one experiment file, got " (count args) " arguments.")))
  (let [exp (dio/read-edn-file (first args))]
    (when-not (map? exp)
      (fail! (str "The file " (first args) " must hold one EDN map (the experiment), got a "
                  (if (nil? exp) "nil" (.getSimpleName (class exp))) ".")))
    exp))

(defn inspect-experiment
  "A plain-data summary of an experiment's initial network: parameter count,
  loss, test loss and the top Hessian eigenvalue."
  [exp]
  (let [net (core/network exp)
        eig (core/hessian-eigenvalues net {:k 1})]
    {:parameters (count (:params net))
     :loss (core/loss net)
     :test-loss (core/test-loss net)
     :sharpness (first (:values eig))
     :sharpness-residual (first (:residuals eig))
     :hvp-count (:hvp-count eig)}))

(defn run-command
  "Runs one CLI command with its arguments; returns the text to print."
  [command args]
  (case command
    "inspect" (let [r (inspect-experiment (read-experiment args))]
                (str/join "\n" (for [[k v] r :when (some? v)] (str (name k) ": " v))))
    "validate" (with-out-str (pprint/pprint (spec/normalize (read-experiment args))))
    "describe" (with-out-str (pprint/pprint (spec/describe)))
    "version" (str "dlnlab " (or (some-> (io/resource "dlnlab/version.txt") slurp str/trim) "dev"))
    ("help" "--help" "-h") usage
    (fail! (str "Unknown command: " (pr-str command) ". Commands are inspect, validate, describe, version, help."))))

(defn -main [& args]
  (let [[command & more] args
        code (try
               (if (nil? command)
                 (do (println usage) 2)
                 (do (println (run-command command more)) 0))
               (catch clojure.lang.ExceptionInfo e
                 (binding [*out* *err*]
                   (println (str "dlnlab: " (ex-message e)))
                   (when (::usage-error (ex-data e)) (println "Run `dlnlab help` for usage.")))
                 2)
               (catch Exception e
                 (binding [*out* *err*]
                   (println (str "dlnlab: unexpected error: " e)))
                 1))]
    (shutdown-agents)
    (System/exit code)))
