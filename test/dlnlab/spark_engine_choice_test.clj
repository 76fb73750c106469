(ns dlnlab.spark-engine-choice-test
  "Without the Spark engine on the classpath (the default jar and profile),
  `sweep --engine spark` is refused before anything runs, with a message
  naming the ways to get it; the engine's own tests are in spark/test (the
  :spark profile)."
  (:require [clojure.java.io :as io]
            [clojure.test :refer [deftest is use-fixtures]]
            [dlnlab.cli-runner :as runner]
            [dlnlab.temp-dir :as temp-dir :refer [path]]))

(set! *warn-on-reflection* true)

(use-fixtures :each (temp-dir/fixture "dlnlab-spark-choice-test"))

(deftest engine-spark-needs-the-spark-jar
  (let [f (path "sw.edn")
        _ (spit f (pr-str {:base {:model {:kind :chain :depth 2 :width 2} :task {:kind :matrix-factorization :singular-values [1.0] :dims [2 2]}
                                  :optimizer {:kind :gd :lr 0.1} :steps 5}
                           :grid {[:optimizer :lr] [0.1 0.2]}}))
        {:keys [code err]} (runner/run-cli false ["sweep" f "--out" (path "out") "--engine" "spark" "--master" "local[1]"])]
    ;; with the :spark profile on, the engine is there and spark/test covers it
    (when-not (io/resource "dlnlab/spark.clj")
      (is (= 2 code) err)
      (is (re-find #"(?s)bin/dlnlab .*target/dlnlab-spark\.jar.*spark-submit" err) err)
      (is (not (.exists (io/file (path "out" "runs")))) "nothing ran"))))
