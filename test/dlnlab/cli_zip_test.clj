(ns dlnlab.cli-zip-test
  "`--zip` on the command line (issue 16 item 6): zip groups parse like --grid
  paths, a sweep run with --zip has the points of dlnlab.sweep/grid-points with
  the same groups (one point per position of the tied axes), a sweep file's
  :zip runs the same way, and bad groups are bad input naming the argument."
  (:require [clojure.data.csv :as csv]
            [clojure.java.io :as io]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [dlnlab.cli-runner :as runner]
            [dlnlab.cli.args :as args]
            [dlnlab.io :as dio]
            [dlnlab.sweep :as sweep]
            [dlnlab.temp-dir :as temp-dir :refer [path]]))

(set! *warn-on-reflection* true)

(use-fixtures :each (temp-dir/fixture "dlnlab-cli-zip-test"))

(defn- cli [& argv] (runner/run-cli false argv))

(def ^:private tiny
  "GD on a width-3 chain; a --zip of lr and steps keeps lr x steps = 0.4."
  {:seed 3 :steps 10 :optimizer {:kind :gd :lr 0.04} :record {:every 5 :metrics [:loss]}
   :model {:kind :chain :depth 2 :width 3 :init {:kind :gaussian :std 0.3}}
   :task {:kind :matrix-factorization :singular-values [2.0 1.0] :dims [3 3]}})

(defn- write-file [nm content] (doto (path nm) (spit (pr-str content))))

(defn- read-csv
  "The rows of a CSV file as maps from its header."
  [f]
  (let [[header & rows] (csv/read-csv (slurp f))] (mapv #(zipmap header %) rows)))

(deftest zip-arguments-parse
  (is (= [[:optimizer :lr] [:steps]] (args/parse-zip "optimizer.lr,steps")))
  (is (= [[:model :width] [:optimizer :lr] [:seed]] (args/parse-zip "[:model :width], optimizer.lr ,seed")))
  (is (= [[:model :widths 1] [:steps]] (args/parse-zip "[:model :widths 1],steps")) "a comma-free EDN path")
  (doseq [[arg pattern] [["optimizer.lr" #"at least two"]
                         ["optimizer.lr,,steps" #"not a dotted path"]
                         ["optimizer.lr,[:steps" #"not readable EDN"]]]
    (let [e (try (args/parse-zip arg) nil (catch clojure.lang.ExceptionInfo e e))]
      (is (= :invalid-argument (:dlnlab/error (ex-data e))) arg)
      (is (re-find pattern (str (ex-message e))) (ex-message e))
      (is (= [:zip] (:path (ex-data e)))))))

(deftest run-with-zip-ties-the-axes
  (let [file (write-file "tiny.edn" tiny)
        out (path "zipped")
        {:keys [code err]} (cli "run" file "--out" out "--no-plots" "--no-report" "--jobs" "2"
                                "--grid" "optimizer.lr=0.04,0.02,0.01" "--grid" "steps=10,20,40"
                                "--grid" "seed=3,4" "--zip" "optimizer.lr,steps")
        rows (read-csv (io/file out "summary.csv"))
        grid [[[:optimizer :lr] [0.04 0.02 0.01]] [[:steps] [10 20 40]] [[:seed] [3 4]]]
        zip [[[:optimizer :lr] [:steps]]]]
    (is (= 0 code) err)
    (is (= zip (:zip (dio/read-edn-file (io/file out "sweep.edn")))) "sweep.edn keeps the groups, so a rerun resumes the same points")
    (testing "the points are the library's: 3 tied positions x 2 seeds, not 3 x 3 x 2"
      (is (= 6 (count rows)))
      (is (= (mapv (fn [p] (let [p (into {} p)] [(str (get p [:optimizer :lr])) (str (get p [:steps])) (str (get p [:seed]))]))
                   (sweep/grid-points grid zip))
             (mapv (juxt #(get % "optimizer.lr") #(get % "steps") #(get % "seed")) rows))))
    (testing "each run went to time lr x steps = 0.4"
      (doseq [r rows]
        (is (< (Math/abs (- 0.4 (* (Double/parseDouble (get r "optimizer.lr")) (Double/parseDouble (get r "steps")))))
               1e-12))))
    (testing "a sweep file's :zip runs the same points"
      (let [sw (write-file "sw.edn" {:base tiny :grid grid :zip zip})
            out2 (path "from-file")
            {:keys [code err]} (cli "sweep" sw "--out" out2 "--no-plots" "--no-report" "--jobs" "2")]
        (is (= 0 code) err)
        (is (= (map #(dissoc % "dir") rows) (map #(dissoc % "dir") (read-csv (io/file out2 "summary.csv")))))))))

(deftest bad-zip-groups-are-bad-input
  (let [file (write-file "tiny.edn" tiny)]
    (doseq [[argv pattern] [[["--grid" "optimizer.lr=0.1,0.2" "--grid" "steps=10" "--zip" "optimizer.lr,steps"] #"different lengths"]
                            [["--grid" "optimizer.lr=0.1,0.2" "--zip" "optimizer.lr,steps"] #"not a path of the grid"]
                            [["--zip" "optimizer.lr,steps"] #"--zip applies to sweeps"]]]
      (let [{:keys [code err]} (apply cli "run" file "--out" (path "never") "--no-plots" argv)]
        (is (= 2 code) (str argv err))
        (is (re-find pattern err) err)
        (is (not (.exists (io/file (path "never")))))))))
