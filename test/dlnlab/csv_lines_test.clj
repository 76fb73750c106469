(ns dlnlab.csv-lines-test
  "CSV errors name the line of the file, counting blank lines and the header:
  the line a person opens the file at."
  (:require [clojure.java.io :as io]
            [clojure.test :refer [deftest is]])
  (:import [java.io File]))

(def ^:private read-csv
  "read-csv from wherever it lives (dlnlab.io after the redesign, dlnlab.task before)."
  (or (try (requiring-resolve 'dlnlab.io/read-csv) (catch java.io.FileNotFoundException _ nil))
      (requiring-resolve 'dlnlab.task/read-csv)))

(deftest error-lines-count-blank-lines
  (doseq [[content line] [["\n\n1,2\n3,x\n" 4]
                          ["x,y\n\n\n1,2\n\n3,4,5\n" 6]
                          ["\n1,2\n\n\n3\n" 5]
                          ["a,b\n1,2\n  \n1,\n" 4]]]
    (let [f (File/createTempFile "dlnlab-lines-" ".csv")]
      (try
        (spit f content)
        (let [e (try (read-csv (str f)) nil (catch clojure.lang.ExceptionInfo e e))]
          (is (= line (:line (ex-data e))) (pr-str content))
          (is (re-find (re-pattern (str "line " line "\\b")) (str (ex-message e))) (ex-message e)))
        (finally (io/delete-file f true))))))
