(ns dlnlab.scale-test
  "Sweeps at scale (issue 15): command-line grids, paired seeds and replicates
  end to end, the tidy tables (one type per column, checked by Python's csv
  module when python3 is there), result.json, and job-array shards whose union
  equals the full sweep file for file."
  (:require [clojure.data.csv :as csv]
            [clojure.data.json :as json]
            [clojure.java.io :as io]
            [clojure.java.shell :as shell]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [dlnlab.cli :as cli]
            [dlnlab.cli-runner :as runner]
            [dlnlab.io :as dio]
            [dlnlab.summary :as summary]
            [dlnlab.temp-dir :as temp-dir :refer [path]]))

(set! *warn-on-reflection* true)

(use-fixtures :each (temp-dir/fixture "dlnlab-scale-test"))

(defn- cli
  "Runs the command line in-process: {:code :out :err}."
  [& args]
  (runner/run-cli false args))

(def ^:private tiny
  {:seed 3
   :model {:kind :chain :depth 2 :width 3 :init {:kind :gaussian :std 0.3}}
   :task {:kind :matrix-factorization :singular-values [2.0 1.0] :dims [3 3]}
   :optimizer {:kind :gd :lr 0.1}
   :steps 30
   :record {:every 5 :metrics [:loss :sharpness :modes]}})

(defn- write-file [nm content]
  (let [p (path nm)] (spit p (pr-str content)) p))

(defn- read-csv [f]
  (with-open [r (io/reader f)]
    (let [[header & rows] (doall (csv/read-csv r))]
      (mapv #(zipmap header %) rows))))

(defn- header-of [f] (first (str/split-lines (slurp f))))

(defn- values-of [s] (second (dlnlab.cli.args/parse-grid (str "optimizer.lr=" s))))

(deftest grid-arguments-parse
  (is (= [[:optimizer :lr] [0.01 0.1]] (dlnlab.cli.args/parse-grid "optimizer.lr=0.01,0.1")))
  (is (= [[:optimizer :kind] [:gd :sgd]] (dlnlab.cli.args/parse-grid "optimizer.kind=:gd,:sgd")))
  (is (= [[:seed] [1 2 3]] (dlnlab.cli.args/parse-grid "seed=1,2,3")))
  (is (= [[:model :init :shares] [[1 2] [3 4]]] (dlnlab.cli.args/parse-grid "[:model :init :shares]=[1 2],[3 4]")))
  (testing "log and lin spacing, to 12 significant digits; whole lin ends stay integers"
    (is (= [0.001 0.01 0.1] (values-of "log:0.001:0.1:3")))
    (is (= [2 4 6 8] (values-of "lin:2:8:4")))
    (is (= [0.0 0.25 0.5] (values-of "lin:0:0.5:3")))
    (let [vs (values-of "log:1e-4:1:9")]
      (is (= 9 (count vs)))
      (doseq [[a b] (partition 2 1 vs)]
        (is (< (Math/abs (- (/ (double b) (double a)) (Math/sqrt 10.0))) 1e-9) "a constant ratio 10^(1/2)"))))
  (testing "bad arguments are bad input naming the argument"
    (doseq [[arg pattern] [["optimizer.lr" #"no '='"]
                           ["optimizer.lr=" #"no values"]
                           ["optimizer.lr=log:0:1:3" #"two positive ends"]
                           ["optimizer.lr=lin:a:1:3" #"not a number"]
                           ["optimizer..lr=1" #"not a dotted path"]]]
      (let [e (try (dlnlab.cli.args/parse-grid arg) nil (catch clojure.lang.ExceptionInfo e e))]
        (is (= :invalid-argument (:dlnlab/error (ex-data e))) arg)
        (is (re-find pattern (ex-message e)) (ex-message e))))))

(deftest run-with-grid-makes-a-paired-sweep
  (let [file (write-file "tiny.edn" tiny)
        out (path "sw")
        {:keys [code err]} (cli "run" file "--out" out "--no-plots" "--jobs" "2"
                                "--grid" "optimizer.lr=0.05,0.1" "--replicates" "2" "--set" "steps=20")
        rows (read-csv (io/file out "summary.csv"))
        traj (read-csv (io/file out "trajectories.csv"))]
    (is (= 0 code) err)
    (is (= {:base (assoc tiny :steps 20) :grid [[[:optimizer :lr] [0.05 0.1]]] :seeds :derived :replicates 2}
           (dissoc (dio/read-edn-file (io/file out "sweep.edn")) :provenance)))
    (is (= [["0.05" "0"] ["0.05" "1"] ["0.1" "0"] ["0.1" "1"]] (map (juxt #(get % "optimizer.lr") #(get % "replicate")) rows)))
    (is (every? #(= "20" (get % "steps")) rows) "--set applies to the base")
    (testing "replicate r of both learning rates: one seed, one initial loss; replicates differ"
      (let [by-rep (group-by #(get % "replicate") rows)
            first-loss (fn [i] (get (first (filter #(and (= i (get % "index")) (= "0" (get % "step"))) traj)) "loss"))]
        (doseq [[_ rs] by-rep]
          (is (apply = (map #(get % "seed") rs)))
          (is (apply = (map #(first-loss (get % "index")) rs))))
        (is (not= (get (first (by-rep "0")) "seed") (get (first (by-rep "1")) "seed")))))
    (testing "trajectories.csv: every recorded row of every point, with its coordinates"
      (is (= (* 4 5) (count traj)))
      (is (= (str/join "," ["index" "optimizer.lr" "replicate" "seed" "step" "time" "loss" "sharpness" "modes_1" "modes_2" "modes_3"])
             (header-of (io/file out "trajectories.csv"))))
      (doseq [row rows]
        (let [own (filter #(= (get row "index") (get % "index")) traj)
              per-run (read-csv (io/file out "runs" (get row "dir") "trajectory.csv"))]
          (is (= per-run (map #(select-keys % (keys (first per-run))) own)))
          (is (every? #(= (select-keys row ["optimizer.lr" "replicate" "seed"]) (select-keys % ["optimizer.lr" "replicate" "seed"])) own)))))
    (testing "aggregate.csv: one row per point over its replicates"
      (let [agg (read-csv (io/file out "aggregate.csv"))
            losses (fn [lr] (map #(Double/parseDouble (get % "final_loss")) (filter #(= lr (get % "optimizer.lr")) rows)))]
        (is (= ["0.05" "0.1"] (map #(get % "optimizer.lr") agg)))
        (doseq [a agg
                :let [xs (losses (get a "optimizer.lr"))
                      m (/ (double (reduce + xs)) 2.0)]]
          (is (= "2" (get a "replicates") (get a "final_loss_count")))
          (is (< (Math/abs (- m (Double/parseDouble (get a "final_loss_mean")))) (* 1e-12 (Math/abs m))))
          (is (= (apply min xs) (Double/parseDouble (get a "final_loss_min"))))
          (is (< (Math/abs (- (/ (Math/abs (- (double (first xs)) (double (second xs)))) (Math/sqrt 2.0))
                              (Double/parseDouble (get a "final_loss_sd"))))
                 (* 1e-12 (double (apply max xs))))
              "sd with n - 1 of two values is |a - b| / sqrt 2"))))
    (testing "every column but the coordinates has a declared type that reads each of its cells"
      (let [reads? {:long #(re-matches #"-?\d+" %)
                    :double #(or (#{"NaN" "Inf" "-Inf"} %) (re-matches #"-?\d+(\.\d*)?([eE][-+]?\d+)?" %))
                    :boolean #{"true" "false"}
                    :string string?}]
        (doseq [table ["summary.csv" "aggregate.csv"]
                :let [rs (read-csv (io/file out table))]
                c (remove #{"optimizer.lr"} (str/split (header-of (io/file out table)) #","))
                :let [t (summary/column-type c)]]
          (is (contains? reads? t) (str table " " c))
          (doseq [r rs :let [v (get r c)] :when (seq v)]
            (is ((reads? t) v) (str table " " c " = " v))))
        (is (nil? (summary/column-type "optimizer.lr")) "a coordinate's type is its values'")))
    (testing "result.json is the result as JSON"
      (let [d (io/file out "runs" (get (first rows) "dir"))
            edn (dio/read-edn-file (io/file d "result.edn"))
            js (json/read-str (slurp (io/file d "result.json")))]
        (is (= (get-in edn [:trajectory :loss]) (get-in js ["trajectory" "loss"])))
        (is (= "completed" (get js "status")))
        (is (= {"optimizer.lr" 0.05 "replicate" 0} (get-in js ["sweep" "point"])))))))

(deftest bad-grid-paths-get-did-you-mean
  (let [file (write-file "tiny.edn" tiny)]
    (doseq [[args pattern] [[["--grid" "optimizer.lrr=0.1,0.2"] #":lrr.*Did you mean :lr"]
                            [["--grid" "modle.depth=2,3"] #":modle.*Did you mean :model"]
                            [["--grid" "seed=1,2" "--replicates" "2"] #"both choose seeds"]
                            [["--replicates" "2"] #"--replicates applies to sweeps"]
                            [["--grid" "optimizer.lr=0.1" "--shard" "4/3"] #"--shard must be K/N"]
                            [["--grid" "optimizer.lr=0.1" "--seeds" ":random"] #"\[:seeds\] must be :derived"]]]
      (let [{:keys [code err]} (apply cli "run" file "--out" (path "never") "--no-plots" args)]
        (is (= 2 code) (str args err))
        (is (re-find pattern err) err)
        (is (not (.exists (io/file (path "never")))))))))

(deftest shards-together-equal-the-whole-sweep
  (let [sweep (write-file "sw.edn" {:base tiny :grid {[:optimizer :lr] [0.05 0.1 1.3]} :replicates 2})
        whole (path "whole")
        shards (path "shards")
        common ["--no-plots" "--jobs" "1"]]
    (is (= 0 (:code (apply cli "sweep" sweep "--out" whole common))))
    (doseq [k [3 1]]
      (let [{:keys [code out err]} (apply cli "sweep" sweep "--out" shards "--shard" (str k "/3") common)]
        (is (= 0 code) err)
        (is (re-find #"--merge" out))))
    (is (not (.exists (io/file shards "summary.csv"))) "a shard writes no tables")
    (testing "--merge before every shard is done lists what is missing"
      (let [{:keys [code err]} (cli "sweep" sweep "--out" shards "--merge")]
        (is (= 1 code))
        (is (re-find #"2 points have no result yet \(first: 1, 4\)" err) err)
        (is (= ["0" "2" "3" "5"] (map #(get % "index") (read-csv (io/file shards "summary.csv")))))))
    (is (= 0 (:code (apply cli "sweep" sweep "--out" shards "--shard" "2/3" common))))
    (let [{:keys [code out err]} (cli "sweep" sweep "--out" shards "--merge")]
      (is (= 0 code) err)
      (is (re-find #"merged 6 of 6 points" out)))
    (testing "the union of the shards equals the whole sweep, file for file (timings aside)"
      (is (= (runner/files-under (io/file whole)) (runner/files-under (io/file shards))))
      ;; report.html is the page people read: its title names the directory
      (doseq [f (runner/files-under (io/file whole)) :when (not= "report.html" f)]
        (is (= (runner/untimed (io/file whole f)) (runner/untimed (io/file shards f))) f)))
    (testing "a later unsharded sweep of the same file finds every point done"
      (let [{:keys [code out]} (apply cli "sweep" sweep "--out" shards common)]
        (is (= 0 code))
        (is (re-find #"ran 0 points; 6 done before" out))))))

(def ^:private column-types-py
  "import csv, sys
bad = []
for path in sys.argv[1:]:
    with open(path, newline='') as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    if len(set(header)) != len(header):
        bad.append(path + ': duplicate column names')
    for j, name in enumerate(header):
        kinds = set()
        for r in body:
            c = r[j]
            if c == '':
                continue
            if c in ('true', 'false'):
                kinds.add('bool')
                continue
            try:
                float(c); kinds.add('number')
            except ValueError:
                kinds.add('text')
        if len(kinds) > 1:
            bad.append(path + ': ' + name + ' mixes ' + ' and '.join(sorted(kinds)))
print('\\n'.join(bad))
")

(defn- python3? []
  (try (zero? (long (:exit (shell/sh "python3" "-c" "import csv")))) (catch Exception _ false)))

(deftest tidy-tables-have-one-type-per-column
  (let [sweep (write-file "sw.edn" {:base (assoc-in tiny [:record :metrics] [:loss :sharpness :modes])
                                    :grid {[:optimizer :lr] [0.1 1.3] [:model :depth] [2 3]}})
        out (path "tidy")
        {:keys [code err]} (cli "sweep" sweep "--out" out "--no-plots" "--jobs" "2")
        rows (read-csv (io/file out "summary.csv"))
        header (str/split (header-of (io/file out "summary.csv")) #",")]
    (is (= 0 code) err)
    (is (apply distinct? header) "unique column names")
    (is (= (concat ["index" "dir" "optimizer.lr" "model.depth"] (keys summary/headline-columns)) (take (+ 4 (count summary/headline-columns)) header)))
    (is (some #(= "diverged" (get % "status")) rows) "lr 1.3 diverges: its loss column still holds numbers")
    (doseq [r rows
            :let [p (get r "loss_period") c (get r "loss_converged")]]
      (is (or (= "" p) (re-matches #"\d+" p)) "the period is a number or empty")
      (is (contains? #{"" "true" "false"} c))
      (is (not (and (= "true" c) (seq p))) "a converged loss has no period"))
    (testing "describe outputs lists every column"
      (let [{:keys [out]} (cli "describe" "outputs")]
        (doseq [c (concat (keys summary/headline-columns) (map #(str "mode_<k>_" %) (keys summary/mode-columns)))]
          (is (str/includes? out (str "  " c "\n")) c))
        (is (str/includes? out "aggregate.csv"))))
    (if (python3?)
      (let [{:keys [exit out err]} (shell/sh "python3" "-c" column-types-py
                                             (str (io/file out "summary.csv")) (str (io/file out "aggregate.csv"))
                                             (str (io/file out "trajectories.csv")))]
        (is (= 0 exit) err)
        (is (= "" (str/trim out)) out))
      (println "dlnlab.scale-test: python3 not found; the Python column-type check is skipped"))))

(deftest describe-explains-every-seed-mode
  (let [{:keys [out]} (cli "describe")]
    (is (str/includes? out "SWEEPS"))
    (doseq [m [":derived" ":shared" ":independent" ":replicates" "--grid"]]
      (is (str/includes? out m) m))))
