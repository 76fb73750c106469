(ns dlnlab.cli-success-test
  "The success paths of `inspect` and `reproduce` through dlnlab.cli/main*, each
  checked against numbers known independently of the code under test."
  (:require [clojure.edn :as edn]
            [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [dlnlab.cli :as cli]
            [dlnlab.temp-dir :as temp-dir :refer [path]])
  (:import [java.io StringWriter]))

(set! *warn-on-reflection* true)

(use-fixtures :each (temp-dir/fixture "dlnlab-cli-success"))

(defn- cli [& args]
  (let [o (StringWriter.) e (StringWriter.)
        code (binding [*out* o *err* e dlnlab.cli.common/*terminal?* false] (cli/main* args))]
    {:code code :out (str o) :err (str e)}))

(defn- printed
  "The number printed after `key: ` in out."
  ^double [out key]
  (let [m (re-find (re-pattern (str "(?m)^" key ": (\\S+)$")) out)]
    (is (some? m) (str key " printed in: " out))
    (if m (Double/parseDouble (second m)) Double/NaN)))

(deftest inspect-prints-the-closed-form-values-of-a-zero-network
  ;; A depth-2 chain with every weight 0 on the target M = diag(3, 1, 0):
  ;; loss = ||M||_F^2 / 2 = (9 + 1)/2 = 5; the Hessian at W = 0 has only the
  ;; off-diagonal blocks coupling W1 and W2 through M, whose eigenvalues are
  ;; +-(singular values of M), so the top eigenvalue is s_1 = 3; parameters
  ;; 3*3 + 3*3 = 18.
  (let [zero (vec (repeat 3 [0.0 0.0 0.0]))
        exp {:seed 1
             :model {:kind :chain :depth 2 :width 3 :init {:kind :given :weights [[zero zero]]}}
             :task {:kind :matrix-factorization :singular-values [3.0 1.0] :dims [3 3]}}
        f (path "zero.edn")
        _ (spit f (pr-str exp))
        {:keys [code out err]} (cli "inspect" f)]
    (is (= 0 code) err)
    (is (= 18.0 (printed out "parameters")))
    (is (== 5.0 (printed out "loss")))
    (is (< (Math/abs (- 3.0 (printed out "sharpness"))) 1e-8))))

(deftest ^:slow reproduce-prints-the-claim-first-and-writes-its-report
  (let [out-dir (path "eos")
        {:keys [code out err]} (cli "reproduce" "edge-of-stability" "--out" out-dir "--jobs" "2")
        lines (str/split-lines out)
        report (io/file out-dir "report.edn")]
    (is (= 0 code) err)
    (testing "the claim comes first, then PASS lines, then where the report is"
      (is (re-find #"(?i)claim" (first lines)) (first lines))
      (is (some #(str/starts-with? (str/trim %) "PASS") lines))
      (is (not-any? #(str/starts-with? (str/trim %) "FAIL") lines))
      (is (str/includes? out (str report)))
      (is (str/starts-with? (last lines) "report: ") "the report page last"))
    (testing "report.edn parses and records a check for each PASS line"
      (let [r (edn/read-string (slurp report))
            passes (count (filter #(str/starts-with? (str/trim %) "PASS") lines))]
        (is (map? r))
        (is (pos? passes))
        (is (= passes (count (filter :pass? (vals (:checks r))))))
        (is (= ["reproduce" "edge-of-stability" "--out" out-dir "--jobs" "2"] (get-in r [:provenance :command-line]))
            "with its provenance")))))
