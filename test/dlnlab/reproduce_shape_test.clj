(ns dlnlab.reproduce-shape-test
  "Every `dlnlab reproduce` prints the same claim-first shape (dlnlab.study/
  report-lines): the claim, the table of measured against predicted, one
  PASS/FAIL line per check, then the time, the files and the report page.
  Checked on the reports the studies' own tests produce (their reduced runs,
  computed once per suite); edge-of-stability's quick run is checked through
  the command line in dlnlab.cli-success-test (^:slow)."
  (:require [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.study :as study]))

(set! *warn-on-reflection* true)

(defn- study-report
  "The reduced report of a study: the one its test namespace holds in `report`
  (a delay, so the suite runs it once), else a fresh (reduced)."
  [test-ns study-ns]
  (require test-ns study-ns)
  (if-let [v (ns-resolve test-ns 'report)]
    @@v
    ((ns-resolve study-ns 'reduced))))

(defn- check-shape [report]
  (let [opts {:seconds 4.2 :wrote ["out/report.edn" "out/report.md"] :figures 3 :report "out/report.html"}
        lines (vec (study/report-lines report opts))
        verdicts (filterv #(re-find #"^(PASS|FAIL) " %) lines)
        [claim blank table blank2] lines]
    (is (string? (:claim report)))
    (is (= (str "claim: " (:claim report)) claim) "the claim first")
    (is (= "" blank))
    (is (and (string? table) (str/starts-with? table "|") (str/includes? table "\n|---")) "then a Markdown table")
    (is (= "" blank2))
    (is (= (count (:checks report)) (count verdicts)) "one PASS/FAIL line per check")
    (is (= verdicts (subvec lines 4 (+ 4 (count verdicts)))) "right after the table")
    (is (= (count (filter (comp :pass? val) (:checks report)))
           (count (filter #(str/starts-with? % "PASS") verdicts))))
    (is (= ["" "ran in 4.2 s; wrote out/report.edn, out/report.md and 3 figure files" "report: out/report.html"]
           (subvec lines (+ 4 (count verdicts)))))))

(deftest every-study-report-prints-claim-table-verdicts-files
  (doseq [[test-ns study-ns] [['dlnlab.studies.multipathway-test 'dlnlab.studies.multipathway]
                              ['dlnlab.studies.saddle-to-saddle-test 'dlnlab.studies.saddle-to-saddle]
                              ['dlnlab.studies.transfer-test 'dlnlab.studies.transfer]]]
    (testing (str study-ns)
      (check-shape (study-report test-ns study-ns)))))

(deftest report-lines-of-a-report-without-a-page
  (is (= ["claim: C" "" "| a |\n|---|" "" "FAIL k: c" "" "ran in 1.0 s; wrote r.edn"]
         (vec (study/report-lines {:claim "C" :main {:table "| a |\n|---|"} :checks {:k (study/check "c" [1])}}
                                  {:seconds 1.0 :wrote ["r.edn"]})))))
