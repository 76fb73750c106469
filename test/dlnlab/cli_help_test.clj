(ns dlnlab.cli-help-test
  "--help on every command, --version, and describe with one section."
  (:require [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.cli :as cli])
  (:import [java.io StringWriter]))

(defn- cli [& args]
  (let [o (StringWriter.) e (StringWriter.)
        code (binding [*out* o *err* e dlnlab.cli.common/*terminal?* false] (cli/main* args))]
    {:code code :out (str o) :err (str e)}))

(deftest every-command-takes-help
  (doseq [command ["run" "sweep" "plot" "report" "reproduce" "validate" "describe" "inspect" "version"]]
    (testing command
      (let [{:keys [code out]} (cli command "--help")]
        (is (= 0 code))
        (is (str/starts-with? out (str "  " command)) "the command's own line comes first")
        (is (str/includes? cli/usage (str/trimr out)) "it is the command's part of the usage text")
        (is (< (count (str/split-lines out)) (count (str/split-lines cli/usage))) "only that part"))))
  (testing "-h too, and after other arguments; nothing runs"
    (is (= (:out (cli "run" "--help")) (:out (cli "run" "nothing.edn" "-h"))))))

(deftest version-as-a-flag
  (let [{:keys [code out]} (cli "--version")]
    (is (= 0 code))
    (is (= (:out (cli "version")) out))
    (is (re-matches #"dlnlab \S+\s*" out))))

(deftest describe-one-section
  (let [{:keys [code out]} (cli "describe" "optimizer")
        all (:out (cli "describe"))]
    (is (= 0 code))
    (is (str/starts-with? out "OPTIMIZER"))
    (is (str/includes? out ":kind :gd"))
    (is (not (str/includes? out "METRICS")) "the other sections are left out")
    (is (str/includes? all (str/trimr out)) "the section as the full listing has it")
    (is (< (* 3 (count out)) (count all))))
  (is (str/starts-with? (:out (cli "describe" ":metrics")) "METRICS"))
  (let [{:keys [code err]} (cli "describe" "optimiser")]
    (is (= 2 code))
    (is (str/includes? err "Did you mean optimizer?") err)))
