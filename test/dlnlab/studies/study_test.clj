(ns dlnlab.studies.study-test
  "The report harness of the studies (dlnlab.study): checks, variant selection,
  table cells, the terminal lines of a report and the files it writes."
  (:require [clojure.edn :as edn]
            [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.error :as error]
            [dlnlab.study :as study])
  (:import [java.nio.file Files]
           [java.nio.file.attribute FileAttribute]))

(set! *warn-on-reflection* true)

(deftest check-passes-exactly-without-failures
  (is (= {:claim "c" :pass? true :failures [] :runs 3} (study/check "c" [] :runs 3)))
  (let [c (study/check "c" (range 25))]
    (is (false? (:pass? c)))
    (is (= (vec (range 10)) (:failures c)) "only the first ten failures are kept"))
  (is (study/passed? {:checks {:a {:pass? true} :b {:pass? true}}}))
  (is (not (study/passed? {:checks {:a {:pass? true} :b {:pass? false}}})))
  (is (not (study/passed? {:checks {}})) "a report without checks has not passed"))

(deftest variant-names-what-is-allowed
  (is (= {:n 1} (study/variant {:quick {:n 1}} :quick)))
  (let [e (try (study/variant {:quick {} :full {}} :fast) nil (catch clojure.lang.ExceptionInfo e e))]
    (is (= :invalid-option (error/kind-of e)))
    (is (= [:variant] (:path (ex-data e))))
    (is (= :fast (:value (ex-data e))))
    (is (= #{:quick :full} (:allowed (ex-data e))))
    (is (str/includes? (ex-message e) ":full, :quick"))))

(deftest study-data-is-edn-on-the-classpath
  (is (= [10.0 8.5 7.0] (get-in (study/load-data "dlnlab/studies/edge_of_stability.edn") [:setup :targets])))
  (is (= :unreadable-file (error/kind-of (try (study/load-data "dlnlab/studies/none.edn")
                                              (catch clojure.lang.ExceptionInfo e e))))))

(deftest cells-have-four-significant-digits
  (is (= ["–" "gd" "true" "12" "0" "0.1235" "12.35" "1.235e-04" "1.235e+05" "NaN" "[1 0.5000]" "x"]
         (mapv study/fmt [nil :gd true 12 0.0 0.123456 12.3456 1.23456e-4 123456.0 Double/NaN [1 0.5] "x"])))
  (is (= "| a | b |\n|---|---|\n| 1 | – |\n| 2.500 | x |"
         (study/markdown-table [{:a 1} {:a 2.5 :b "x"}] [[:a "a"] [:b "b"]]))))

(def ^:private report
  {:study :demo :variant :quick :claim "Modes oscillate past 2/S."
   :main {:table "| a |\n|---|\n| 1 |"}
   :checks {:count (study/check "counts agree" []) :gap (study/check "gap decays" [{:depth 3}])}
   :figures [{:name :f}]})

(deftest report-lines-put-the-claim-first-then-the-table-then-verdicts
  (is (= ["claim: Modes oscillate past 2/S." "" "| a |\n|---|\n| 1 |" ""
          "PASS count: counts agree" "FAIL gap: gap decays"]
         (vec (study/report-lines report)))))

(deftest write-report-writes-edn-and-markdown
  (let [dir (str (Files/createTempDirectory "study" (make-array FileAttribute 0)))
        [edn-path md-path] (study/write-report! report dir)]
    (try
      (is (= report (edn/read-string (slurp edn-path))) "the whole report, figures included (plot redraws them)")
      (let [md (slurp md-path)]
        (is (str/starts-with? md "# demo (quick)"))
        (is (str/includes? md "- FAIL gap: gap decays")))
      (finally (doseq [f [edn-path md-path dir]] (io/delete-file f true))))))
