(ns dlnlab.cli-test
  "The command line end to end, in-process through dlnlab.cli/main*: run writes
  result.edn (equal to the library's result but for timings) and
  trajectory.csv (cells equal to the trajectory), --set, interrupts, divergence,
  progress only on a terminal, sweeps with resume and refusal of a changed
  sweep, validate, describe, and every bad input with exit code 2, a one
  paragraph message naming the problem, and nothing written."
  (:require [clojure.edn :as edn]
            [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [dlnlab.cli :as cli]
            [dlnlab.child-jvm :refer [check-signals-stop-run!]]
            [dlnlab.cli-runner :as runner]
            [dlnlab.experiment :as experiment]
            [dlnlab.io :as dio]
            [dlnlab.metrics :as metrics]
            [dlnlab.figure :as fig]
            [dlnlab.provenance :as provenance]
            [dlnlab.spec :as spec]
            [dlnlab.store.lock :as lock]
            [dlnlab.temp-dir :as temp-dir :refer [*dir* delete-tree path]])
  (:import [java.io File]
           [javax.imageio ImageIO]
           [java.nio.file Files LinkOption]
           [java.util.concurrent.atomic AtomicBoolean]))

(set! *warn-on-reflection* true)

(use-fixtures :each (temp-dir/fixture "dlnlab-cli-test"))

(defn- cli
  "Runs the command line in-process: {:code :out :err}."
  [& args]
  (runner/run-cli (contains? (set args) ::tty) (remove #{::tty} args)))

(def tiny
  {:seed 3
   :model {:kind :chain :depth 2 :width 3 :init {:kind :gaussian :std 0.3}}
   :task {:kind :matrix-factorization :singular-values [2.0 1.0] :dims [3 3]}
   :optimizer {:kind :gd :lr 0.1}
   :steps 30
   :record {:every 5 :metrics [:loss :sharpness :modes :balance-gap] :sharpness {:every 10}}})

(defn- write-file [nm content]
  (let [p (path nm)]
    (spit p (if (string? content) content (pr-str content)))
    p))

(defn- one-paragraph?
  "One message paragraph on stderr: no blank line inside, no stack trace."
  [^String err]
  (and (not (str/blank? err))
       (not (re-find #"\n\s*\n" (str/trim err)))
       (not (re-find #"(?m)^\s+at [a-z]" err))
       (not (str/includes? err "Exception in"))))

(defn- rejects-each
  "Each case [what args pattern] is bad input: exit code 2, a one-paragraph
  message on stderr matching pattern, nothing on stdout, nothing written at
  (path \"never\"), and (more-checks) holds."
  [cases more-checks]
  (doseq [[what args pattern] cases]
    (testing what
      (let [{:keys [code out err]} (apply cli args)]
        (is (= 2 code) err)
        (is (re-find pattern err) err)
        (is (one-paragraph? err) err)
        (is (= "" out))
        (is (not (.exists (io/file (path "never")))) "nothing written")
        (more-checks)))))

(defn- parse-csv [^String s] (mapv #(str/split % #"," -1) (str/split-lines s)))

(defn- num-cell [^String c] (case c "" nil "NaN" ##NaN (Double/parseDouble c)))

(deftest run-writes-result-and-trajectory
  (let [file (write-file "tiny.edn" tiny)
        out (path "out")
        {:keys [code out-text err] :as r} (let [r (cli "run" file "--out" out)] (assoc r :out-text (:out r)))
        result (dio/read-edn-file (io/file out "result.edn"))
        expected (experiment/run tiny)]
    (is (= 0 code))
    (is (= "" err) "no progress when stderr is not a terminal")
    (testing "result.edn is the library's result but for timings"
      (is (= (dissoc expected :meta) (dissoc result :meta)))
      (is (= (apply dissoc (:meta expected) provenance/run-specific-keys)
             (apply dissoc (:meta result) provenance/run-specific-keys))))
    (testing "trajectory.csv: one row per recorded row, cells equal to the trajectory"
      (let [[header & rows] (parse-csv (slurp (io/file out "trajectory.csv")))
            traj (:trajectory result)
            col (fn [nm] (let [i (.indexOf ^java.util.List header nm)] (is (>= i 0) nm) i))]
        (is (= ["step" "time" "loss" "sharpness" "modes_1" "modes_2" "modes_3"
                "balance_gap_p1_l1"] header))
        (is (= (count (:step traj)) (count rows)))
        (doseq [[r row] (map-indexed vector rows)]
          (is (= (nth (:step traj) r) (long (num-cell (nth row (col "step"))))))
          (is (= (nth (:loss traj) r) (num-cell (nth row (col "loss")))))
          (is (= (nth (:sharpness traj) r) (num-cell (nth row (col "sharpness")))))
          (doseq [i (range 3)]
            (is (= (get-in traj [:modes r i]) (num-cell (nth row (col (str "modes_" (inc i))))))))
          (is (= (get-in traj [:balance-gap r 0 0]) (num-cell (nth row (col "balance_gap_p1_l1"))))))
        (is (some #(= "" (nth % (col "sharpness"))) rows) "rows where sharpness was not due are empty")))
    (testing "the summary names the status, the loss and the files"
      (is (str/includes? out-text "completed 30 steps"))
      (is (str/includes? out-text "final loss"))
      (let [wrote (re-find #"(?m)^wrote: .*$" out-text)]
        (is (str/includes? wrote (str (io/file out) File/separator ": result.edn, result.json, trajectory.csv")))
        (doseq [f (.list (io/file out))]
          (is (str/includes? wrote f) (str "every file written is listed, figures too: " f)))))))

(deftest run-with-set
  (let [file (write-file "tiny.edn" tiny)
        out (path "out")
        {:keys [code]} (cli "run" file "--out" out "--set" "optimizer.lr=0.05" "--set" "[:steps]=20"
                            "--set=record.every=4")
        result (dio/read-edn-file (io/file out "result.edn"))]
    (is (= 0 code))
    (is (= 0.05 (get-in result [:experiment :optimizer :lr])))
    (is (= 20 (get-in result [:experiment :steps])))
    (is (= [0 4 8 10 12 16 20] (get-in result [:trajectory :step]))
        "every 4 steps, plus step 10 where sharpness's own cadence falls")
    (testing "the file itself is unchanged"
      (is (= tiny (edn/read-string (slurp file)))))))

(deftest run-warns-when-an-eigensolve-missed-its-tolerance
  (let [file (write-file "tiny.edn" tiny)
        quiet (cli "run" file "--out" (path "ok") "--no-plots")
        cut (cli "run" file "--out" (path "cut") "--no-plots" "--set" "record.sharpness.max-iter=2"
                 "--set" "record.sharpness.tol=1e-12")]
    (is (= 0 (:code quiet) (:code cut)))
    (is (not (str/includes? (:out quiet) "warning")))
    (is (re-find #"warning: +Lanczos missed its tolerance in 4 of 4 sharpness records" (:out cut)) (:out cut))))

(deftest run-interrupted-writes-the-result-so-far
  (let [file (write-file "tiny.edn" tiny)
        out (path "out")
        flag (AtomicBoolean. true)
        {:keys [code out]} (binding [dlnlab.cli.common/*interrupt-flag* flag] (cli "run" file "--out" out))
        result (dio/read-edn-file (io/file (path "out") "result.edn"))]
    (is (= 130 code))
    (is (= :stopped (:status result)))
    (is (= :interrupted (:stop-reason result)))
    (is (< (long (get-in result [:final :step])) 30))
    (is (str/includes? out "INTERRUPTED"))))

(deftest run-diverged-exits-zero-and-says-so
  (let [file (write-file "tiny.edn" (assoc tiny :optimizer {:kind :gd :lr 5.0} :steps 200))
        out (path "out")
        {:keys [code] :as r} (cli "run" file "--out" out)
        result (dio/read-edn-file (io/file out "result.edn"))]
    (is (= 0 code))
    (is (= :diverged (:status result)))
    (is (str/includes? (:out r) "DIVERGED"))
    (is (.exists (io/file out "trajectory.csv")))))

(deftest progress-only-on-a-terminal
  (let [file (write-file "tiny.edn" tiny)
        {:keys [code err]} (cli "run" file "--out" (path "out") ::tty)]
    (is (= 0 code))
    (is (str/includes? err "steps/s"))
    (is (str/includes? err "ETA"))
    (is (str/includes? err "step "))))

(def tiny-sweep
  {:base tiny
   :grid {[:optimizer :lr] [0.05 0.1] [:model :depth] [2 3]}})

(deftest progress-in-a-log-is-plain-lines
  ;; stderr not a terminal (a Slurm log): plain lines, no escape codes; here a
  ;; line at every update (interval 0) instead of every 10 s
  (let [file (write-file "tiny.edn" tiny)
        sweep-file (write-file "sweep.edn" tiny-sweep)
        run (binding [dlnlab.cli.common/*progress* :plain dlnlab.cli.common/*progress-every-s* 0.0]
              (cli "run" file "--out" (path "run")))
        sweep (binding [dlnlab.cli.common/*progress* :plain dlnlab.cli.common/*progress-every-s* 0.0]
                (cli "sweep" sweep-file "--out" (path "sweep") "--jobs" "1"))]
    (is (= 0 (:code run) (:code sweep)))
    (doseq [{:keys [err]} [run sweep]]
      (is (not (re-find #"[\r\u001b]" err)) "no escape codes"))
    (is (re-find #"(?m)^step \d+/30 .* steps/s  ETA .*  loss " (:err run)) (:err run))
    (is (re-find #"(?m)^sweep 4/4 done  .* runs/min  ETA " (:err sweep)) (:err sweep))))

(defn- mtime [^File f] (Files/getLastModifiedTime (.toPath f) (make-array LinkOption 0)))

(deftest sweep-writes-every-point-and-resumes
  (let [file (write-file "sweep.edn" tiny-sweep)
        out (path "sw")
        first-run (cli "sweep" file "--out" out "--jobs" "2")
        runs (io/file out "runs")
        dirs (sort (vec (.list runs)))]
    (is (= 0 (:code first-run)) (:err first-run))
    (is (= ["000-lr=0.05_depth=2" "001-lr=0.05_depth=3" "002-lr=0.1_depth=2" "003-lr=0.1_depth=3"] dirs))
    (doseq [d dirs]
      (is (.exists (io/file runs d "result.edn")))
      (is (.exists (io/file runs d "trajectory.csv"))))
    (testing "each point's result is its grid point's experiment"
      (let [r (dio/read-edn-file (io/file runs "003-lr=0.1_depth=3" "result.edn"))]
        (is (= 0.1 (get-in r [:experiment :optimizer :lr])))
        (is (= 3 (get-in r [:experiment :model :depth])))))
    (testing "sweep.edn holds the normalized sweep; summary.csv one row per point"
      (is (= {:base tiny :grid [[[:optimizer :lr] [0.05 0.1]] [[:model :depth] [2 3]]] :seeds :derived}
             (dissoc (dio/read-edn-file (io/file out "sweep.edn")) :provenance)))
      (let [[header & rows] (parse-csv (slurp (io/file out "summary.csv")))]
        (is (= ["index" "dir" "optimizer.lr" "model.depth" "replicate" "seed" "status"] (take 7 header)))
        (is (= 4 (count rows)))
        (is (= ["0.05" "0.05" "0.1" "0.1"] (map #(nth % 2) rows)))
        (is (every? #(= "completed" (nth % 6)) rows))))
    (testing "a rerun runs only the points without result.edn"
      (let [kept (mapv #(mtime (io/file runs % "result.edn")) (rest dirs))]
        (delete-tree (io/file runs (first dirs)))
        (let [second-run (cli "sweep" file "--out" out)]
          (is (= 0 (:code second-run)))
          (is (str/includes? (:out second-run) "3 already done, running 1"))
          (is (str/includes? (:out second-run) "ran 1 point"))
          (is (.exists (io/file runs (first dirs) "result.edn")))
          (is (= kept (mapv #(mtime (io/file runs % "result.edn")) (rest dirs))) "the others were not rewritten"))))
    (testing "a changed sweep into the same directory is refused and nothing changes"
      (let [before (slurp (io/file out "sweep.edn"))
            changed (write-file "sweep2.edn" (assoc-in tiny-sweep [:grid [:optimizer :lr]] [0.05 0.2]))
            r (cli "sweep" changed "--out" out)]
        (is (= 2 (:code r)))
        (is (re-find #"different sweep" (:err r)))
        (is (re-find #":grid" (:err r)))
        (is (one-paragraph? (:err r)))
        (is (= before (slurp (io/file out "sweep.edn"))))
        (is (= 4 (count (.list runs))))))))

(deftest validate-prints-the-normalized-experiment-or-sweep
  (let [r (cli "validate" (write-file "tiny.edn" tiny))]
    (is (= 0 (:code r)))
    (is (= (spec/normalize tiny) (edn/read-string (:out r)))))
  (let [r (cli "validate" (write-file "tiny.edn" tiny) "--set" "optimizer.lr=0.3")]
    (is (= 0.3 (get-in (edn/read-string (:out r)) [:optimizer :lr]))))
  (let [r (cli "validate" (write-file "sweep.edn" tiny-sweep))
        printed (edn/read-string (:out r))]
    (is (= 0 (:code r)))
    (is (= :derived (:seeds printed)))
    (is (re-find #"^;; \S+sweep.edn is a sweep of 4 points" (:out r)) "says it is a sweep, with its points")
    (is (= (spec/normalize tiny) (:base printed)) "the base with its defaults filled")))

(deftest inspect-on-a-sweep-file-inspects-its-base
  (let [r (cli "inspect" (write-file "sweep.edn" tiny-sweep))
        base (cli "inspect" (write-file "tiny.edn" tiny))]
    (is (= 0 (:code r)) (:err r))
    (is (re-find #"^;; \S+sweep.edn is a sweep of 4 points" (:out r)))
    (is (= (:out base) (second (str/split (:out r) #"\n" 2))) "then the base's network, as for the experiment")))

(deftest data-files-resolve-against-the-edn-files-directory
  ;; The experiment sits in data/ beside its CSV files, not in the working
  ;; directory, and names them relatively: they are found beside it.
  (let [dir (doto (io/file (path "data")) .mkdirs)
        _ (spit (io/file dir "x.csv") "1,0\n0,1\n1,1\n")
        _ (spit (io/file dir "y.csv") "2\n1\n3\n")
        exp {:seed 1 :model {:kind :chain :depth 1 :width 2 :init {:kind :given :weights [[[[0.0 0.0]]]]}}
             :task {:kind :dataset :x-file "x.csv" :y-file "y.csv"}}
        f (str (io/file dir "data.edn"))
        _ (spit f (pr-str exp))
        v (cli "validate" f)
        i (cli "inspect" f)]
    (is (not (.exists (io/file "x.csv"))) "no x.csv in the working directory")
    (is (= 0 (:code v)) (:err v))
    (is (= (str (.getCanonicalFile (io/file dir "x.csv"))) (get-in (edn/read-string (:out v)) [:task :x-file])))
    (is (= 0 (:code i)) (:err i))
    ;; W = 0: loss = sum of y^2 / (2 n) = (4 + 1 + 9) / 6 = 7/3 (the mean-square loss halved)
    (is (re-find #"(?m)^parameters: 2$" (:out i)))
    (is (re-find #"(?m)^loss: 2.33333$" (:out i)) (:out i))))

(deftest describe-lists-every-option-and-metric
  (let [{:keys [code out]} (cli "describe")
        d (spec/describe)]
    (is (= 0 code))
    (doseq [[node {:keys [keys common-keys kinds]}] d]
      (is (str/includes? out (str/upper-case (name node))) node)
      (doseq [k (concat (clojure.core/keys keys) (clojure.core/keys common-keys))
              :when (not (some #{k} (spec/metric-names)))]
        (is (str/includes? out (str (pr-str k) "  ")) [node k]))
      (doseq [[kind {kkeys :keys}] kinds]
        (is (str/includes? out (str ":kind " (pr-str kind))) [node kind])
        (doseq [k (clojure.core/keys kkeys)] (is (str/includes? out (pr-str k)) [node kind k]))))
    (doseq [m (clojure.core/keys (metrics/catalog))]
      (is (str/includes? out (str "  " (pr-str m) "  ")) m))
    (testing "defaults are shown"
      (is (re-find #":parameterization  one of [^\n]*; default :standard" out))
      (is (re-find #":loss-above  [^\n]*; default 1.0E12" out))
      (is (re-find #":pathways  [^\n]*; required" out)))
    (testing "it is a listing, not a data dump"
      (is (not (str/starts-with? (str/trim out) "{"))))))

(deftest bad-input-exits-2-with-one-paragraph-and-writes-nothing
  (spit (path "plain-file") "x")
  (let [good (write-file "tiny.edn" tiny)
        out (path "never")
        cases
        [["missing file" ["run" (path "nope.edn") "--out" out] #"nope.edn"]
         ["truncated EDN" ["run" (write-file "trunc.edn" "{:seed 1 :model {:kind :chain") "--out" out] #"truncated"]
         ["not a map" ["run" (write-file "vec.edn" "[1 2 3]") "--out" out] #"must hold one EDN map.*Vector"]
         ["empty file" ["run" (write-file "empty.edn" "") "--out" out] #"empty"]
         ["unknown command" ["frobnicate" good] #"Unknown command \"frobnicate\""]
         ["no command" [] #"No command given"]
         ["missing file argument" ["run" "--out" out] #"needs an EDN file"]
         ["two files" ["run" good good "--out" out] #"exactly one file"]
         ["unknown option" ["run" good "--out" out "--fast"] #"Unknown option --fast"]
         ["option without value" ["run" good "--out"] #"--out needs a value"]
         ["--set through a number" ["run" good "--out" out "--set" "seed.x=1"] #"\[:seed\] holds 3"]
         ["--set without =" ["run" good "--out" out "--set" "optimizer.lr"] #"no '='"]
         ["--set unreadable value" ["run" good "--out" out "--set" "optimizer.lr=0.1.2"] #"not one EDN value"]
         ["--set empty value" ["run" good "--out" out "--set" "optimizer.lr="] #"not one EDN value"]
         ["--set bad path" ["run" good "--out" out "--set" "optimizer..lr=1"] #"not a dotted path"]
         ["--set bad vector path" ["run" good "--out" out "--set" "[\"a\"]=1"] #"vector of keywords"]
         ["--set invalid value" ["run" good "--out" out "--set" "optimizer.lr=-1"]
          #"\[:optimizer :lr\] must be a positive finite number, got -1.*--set optimizer.lr=-1"]
         ["--set symbol for keyword" ["run" good "--out" out "--set" "optimizer.kind=sgd"] #"a keyword is written :sgd"]
         ["invalid experiment" ["run" (write-file "bad.edn" (assoc-in tiny [:model :depth] 0)) "--out" out]
          #"\[:model :depth\] must be a positive integer up to 2147483647, got 0"]
         ["unknown key" ["run" (write-file "typo.edn" (assoc tiny :stpes 3)) "--out" out] #":stpes.*Did you mean :steps"]
         ["model does not fit the task" ["run" (write-file "mis.edn" (assoc tiny :model {:kind :chain :widths [3 4 5]})) "--out" out]
          #"cannot be run: \[:model :widths\]"]
         ["no optimizer" ["run" (write-file "noopt.edn" (dissoc tiny :optimizer :steps)) "--out" out] #"no :optimizer"]
         ["sweep file to run" ["run" (write-file "sw.edn" tiny-sweep) "--out" out] #"is a sweep file"]
         ["experiment to sweep" ["sweep" good "--out" out] #"is not a sweep file"]
         ["jobs zero" ["sweep" (write-file "sw.edn" tiny-sweep) "--out" out "--jobs" "0"] #"--jobs must be a positive integer.*\"0\""]
         ["jobs text" ["sweep" (write-file "sw.edn" tiny-sweep) "--out" out "--jobs" "many"] #"--jobs must be a positive integer"]
         ["jobs negative" ["sweep" (write-file "sw.edn" tiny-sweep) "--out" out "--jobs=-2"] #"--jobs must be a positive integer"]
         ["bad grid point" ["sweep" (write-file "sw2.edn" (assoc tiny-sweep :grid {[:optimizer :lr] [0.1 -0.1]})) "--out" out]
          #"Grid point 1 .*\[:optimizer :lr\] must be a positive"]
         ["bad grid" ["sweep" (write-file "sw3.edn" (assoc tiny-sweep :grid {:lr [0.1]})) "--out" out] #"Grid key :lr"]
         ["bad seeds" ["sweep" (write-file "sw4.edn" (assoc tiny-sweep :seeds :random)) "--out" out] #"\[:seeds\] must be :derived"]
         ["unknown sweep key" ["sweep" (write-file "sw5.edn" (assoc tiny-sweep :gird {})) "--out" out] #"Did you mean :grid"]
         ["empty --out" ["run" good "--out" ""] #"--out must name a directory or file, got \"\""]
         ["blank --out" ["run" good "--out=  "] #"--out must name a directory or file, got \"  \""]
         ["empty sweep --out" ["sweep" (write-file "sw.edn" tiny-sweep) "--out" ""] #"--out must name"]
         ["empty plot --out" ["plot" good "--out" ""] #"--out must name"]
         ["output under a regular file" ["run" good "--out" (path "plain-file" "out")] #"is a file, not a directory"]
         ["sweep output under a regular file" ["sweep" (write-file "sw.edn" tiny-sweep) "--out" (path "plain-file" "o")]
          #"is a file, not a directory"]]]
    (rejects-each cases #(do (is (not (.exists (io/file (path "plain-file" "out")))))
                             (is (not-any? (fn [nm] (.exists (io/file "/" nm))) ["result.edn" "trajectory.csv" "sweep.edn"])
                                 "nothing at the filesystem root")))))

(deftest run-refuses-a-used-directory-unless-force
  (let [file (write-file "tiny.edn" tiny)
        out (path "out")
        _ (is (= 0 (:code (cli "run" file "--out" out))))
        before (slurp (io/file out "result.edn"))
        figures (filter #(str/ends-with? % ".svg") (.list (io/file out)))]
    (is (seq figures))
    (testing "a second run into the directory is refused and changes nothing"
      (let [{:keys [code err]} (cli "run" file "--out" out "--set" "optimizer.lr=0.05")]
        (is (= 2 code))
        (is (re-find #"already holds .* files .*Use --force" err) err)
        (is (= before (slurp (io/file out "result.edn"))))))
    (testing "--force replaces the run as a whole: no old figure stays beside the new result"
      (let [{:keys [code err]} (cli "run" file "--out" out "--set" "optimizer.lr=0.05" "--force" "--no-plots" "--no-report")]
        (is (= 0 code) err)
        (is (= 0.05 (get-in (dio/read-edn-file (io/file out "result.edn")) [:experiment :optimizer :lr])))
        (is (= #{"result.edn" "result.json" "trajectory.csv"} (set (.list (io/file out)))))
        (is (= #{"out" "tiny.edn"} (set (.list *dir*))) "no staging directory, old copy or lock left beside it")))
    (testing "--force leaves a directory with other people's files alone"
      (spit (io/file out "notes.txt") "mine")
      (let [{:keys [code err]} (cli "run" file "--out" out "--force")]
        (is (= 2 code))
        (is (re-find #"notes.txt" err))
        (is (= "mine" (slurp (io/file out "notes.txt"))))))))

(deftest a-second-writer-is-refused-naming-the-holder
  (let [file (write-file "tiny.edn" tiny)
        sweep-file (write-file "sweep.edn" tiny-sweep)
        me (str "pid " (.pid (java.lang.ProcessHandle/current)))]
    (doseq [[cmd f out] [["run" file (path "out")] ["sweep" sweep-file (path "sw")]]]
      (testing cmd
        (let [lock (lock/lock! out)]
          (try
            (let [{:keys [code err]} (cli cmd f "--out" out)]
              (is (= 2 code))
              (is (re-find (re-pattern (str "is being written by another dlnlab process \\(" me " on ")) err) err)
              (is (one-paragraph? err))
              (is (not (.exists (io/file out)))))
            (finally (lock/unlock! lock))))
        (is (= 0 (:code (cli cmd f "--out" out "--no-plots"))) "free again once the holder is done")))))

(deftest sweep-resume-reruns-a-damaged-point-with-a-warning
  (let [file (write-file "sweep.edn" tiny-sweep)
        out (path "sw")
        _ (is (= 0 (:code (cli "sweep" file "--out" out "--no-plots"))))
        runs (io/file out "runs")
        victim (io/file runs "001-lr=0.05_depth=3" "result.edn")
        good (slurp victim)]
    (spit victim (subs good 0 100))
    (spit (io/file runs "000-lr=0.05_depth=2" ".result.edn.77.tmp") "")
    (let [{:keys [code out err]} (cli "sweep" file "--out" out "--no-plots")]
      (is (= 0 code) err)
      (is (re-find #"warning: .*001-lr=0.05_depth=3 is damaged \(Cannot read .*\); rerunning grid point 1" err) err)
      (is (str/includes? out "3 already done, running 1"))
      (is (= (dissoc (edn/read-string good) :meta) (dissoc (dio/read-edn-file victim) :meta)) "the rerun gives the same result")
      (is (not (.exists (io/file runs "000-lr=0.05_depth=2" ".result.edn.77.tmp"))) "a killed writer's temp file is cleaned"))))

(deftest read-only-output-directory
  ;; /proc refuses new files even to the superuser, so this runs (and can fail) in CI as root
  (let [ro (io/file "/proc")
        before (set (.list ro))]
    (doseq [cmd ["run" "sweep"]]
      (let [file (write-file "x.edn" (if (= cmd "run") tiny tiny-sweep))
            {:keys [code err out]} (cli cmd file "--out" (str (io/file ro "dlnlab-out")))]
        (is (= 2 code) cmd)
        (is (re-find #"Cannot write results to /proc/dlnlab-out: the directory /proc is not writable" err) err)
        (is (one-paragraph? err))
        (is (= "" out))
        (is (not (contains? (set (.list ro)) "dlnlab-out")))
        (is (not (contains? (set (.list ro)) ".dlnlab-out.lock")))))
    (is (every? before (remove #(re-matches #"\d+" %) (.list ro))) "nothing new in /proc but processes")))

(deftest internal-errors-exit-1
  (with-redefs [experiment/run (fn [& _] (throw (IllegalStateException. "kaboom")))]
    (let [{:keys [code err]} (cli "run" (write-file "tiny.edn" tiny) "--out" (path "out"))]
      (is (= 1 code))
      (is (re-find #"internal error.*kaboom" err))
      (is (not (.exists (io/file (path "out"))))))))

(deftest help-and-version
  (is (= 0 (:code (cli "help"))))
  (is (str/includes? (:out (cli "help")) "sweep FILE.edn"))
  (is (re-find #"^dlnlab " (:out (cli "version")))))


;; ---------------------------------------------------------------- the examples show what they claim

(defn- run-example [file & more]
  (let [out (path "ex")
        {:keys [code err]} (apply cli "run" (str "examples/" file) "--out" out more)]
    (is (= 0 code) err)
    (dio/read-edn-file (io/file out "result.edn"))))

(defn- mean [xs] (/ (double (reduce + xs)) (count xs)))

(defn- late [traj k]
  (let [col (get traj k) n (count col)]
    (filterv some? (subvec col (quot (* 4 n) 5) n))))

(deftest example-edge-of-stability
  ;; SCIENCE.md §5: S_1 = L s_1^(2-2/L); lr above 2/S_1 cannot converge, the
  ;; sharpness hovers around 2/lr and the loss oscillates (Cohen et al., [EOS])
  (let [r (run-example "eos-factorization.edn")
        exp (:experiment r)
        lr (double (get-in exp [:optimizer :lr]))
        s1 (double (first (get-in exp [:task :singular-values])))
        L (double (get-in exp [:model :depth]))
        S1 (* L (Math/pow s1 (- 2.0 (/ 2.0 L))))
        sharp (late (:trajectory r) :sharpness)]
    (is (> lr (/ 2.0 S1)) "the example sits beyond the edge")
    (is (< (Math/abs (- (mean sharp) (/ 2.0 lr))) (* 0.05 (/ 2.0 lr))) "late sharpness hovers around 2/lr")
    (is (< (reduce min sharp) (/ 2.0 lr) (reduce max sharp)) "and crosses it")
    (is (= 2 (get-in r [:analysis :loss-period])))
    (is (= [0] (get-in r [:analysis :oscillating-modes])))
    (is (< (double (first (:sharpness (:trajectory r)))) (* 0.1 (/ 2.0 lr))) "it starts far below 2/lr")))

(deftest example-multi-pathway-rebalancing
  ;; SCIENCE.md §5: with 2/S_single < lr < 2/S_split GD leaves the lopsided
  ;; minimum for a split of sharpness just below 2/lr; a stable mode keeps its split
  (let [r (run-example "multi-pathway-rebalancing.edn")
        exp (:experiment r)
        lr (double (get-in exp [:optimizer :lr]))
        [s1 s2] (map double (get-in exp [:task :singular-values]))
        L (double (get-in exp [:model :depth]))
        S (fn [^double s] (* L (Math/pow s (- 2.0 (/ 2.0 L)))))
        S-split (* (S s1) (Math/pow 2.0 (- (/ 2.0 L) 1.0)))
        [[m1p1 m1p2] [m2p1 _]] (get-in r [:analysis :final-pathway-shares])
        final-sharp (double (peek (filterv some? (:sharpness (:trajectory r)))))
        share-sharpness (* L (Math/pow s1 (- 2.0 (/ 2.0 L)))
                           (+ (Math/pow m1p1 (- 2.0 (/ 2.0 L))) (Math/pow m1p2 (- 2.0 (/ 2.0 L)))))]
    (is (< (/ 2.0 (S s1)) lr (/ 2.0 S-split)) "lr is inside the re-balancing window")
    (is (< m1p1 0.85) "mode 1 re-balanced away from 0.95")
    (is (< (* 0.97 (/ 2.0 lr)) final-sharp (/ 2.0 lr)) "final sharpness just below 2/lr")
    (is (< (Math/abs (- share-sharpness final-sharp)) (* 0.02 final-sharp))
        "the sharpness is the split's L sum_k pi_k^(2-2/L)")
    (is (< (* lr (S s2)) 2.0) "mode 2 is stable at this lr")
    (is (> m2p1 0.94) "and keeps its split")))

(deftest example-sgd-saddle-to-saddle
  ;; SCIENCE.md §4, §7: from small initialization the modes are learned one at a
  ;; time in the order of s_i, the loss resting on plateaus in between; SGD
  ;; ends at the label-noise floor m sigma^2 / 2
  (let [r (run-example "sgd-saddle-to-saddle.edn")
        exp (:experiment r)
        t (:task exp)
        sv (mapv double (get-in t [:teacher :singular-values]))
        sigma (double (:label-noise t))
        floor (/ (* (:output-dim t) sigma sigma) 2.0)
        learned (get-in r [:analysis :mode-learned-steps])
        loss (:loss (:trajectory r))
        steps (:step (:trajectory r))
        loss-at (fn [step] (double (nth loss (.indexOf ^java.util.List steps step))))
        [l1 l2 l3] learned]
    (is (every? some? (take 3 learned)))
    (is (< l1 l2 l3) "largest mode first")
    (testing "plateaus between the steps: after mode i is learned the loss is the unlearned modes' sum"
      (let [plateau (fn [^long from] (+ floor (/ (reduce + (map #(* % %) (drop from sv))) 2.0)))
            mid (fn [a b] (* 10 (quot (+ (long a) (long b)) 20)))]
        (is (< (Math/abs (- (double (loss-at (mid l1 l2))) (double (plateau 1)))) (* 0.1 (double (plateau 1)))))
        (is (< (Math/abs (- (double (loss-at (mid l2 l3))) (double (plateau 2)))) (* 0.1 (double (plateau 2)))))
        (is (> (double (first loss)) (* 0.95 (+ floor (/ (reduce + (map #(* % %) sv)) 2.0)))) "starts on the first plateau")))
    (is (< (Math/abs (- (double (get-in r [:final :loss])) floor)) (* 0.1 floor)) "ends at the noise floor")))

(deftest example-mup-vs-ntk
  ;; [BP], SCIENCE.md §1: under muP the learning time of a mode does not drift
  ;; with width and the first layer moves by a width-independent fraction;
  ;; under NTK learning slows and the weights move less as the width grows
  (let [sweep (-> (dio/read-edn-file "examples/mup-vs-ntk-width.edn")
                  (assoc-in [:grid [:model :width]] [16 64 256]))
        file (write-file "mvn.edn" sweep)
        out (path "mvn")
        {:keys [code err]} (cli "sweep" file "--out" out "--jobs" "2")
        result (fn [p w] (dio/read-edn-file (io/file out "runs" (str (format "%03d" (+ (if (= p :mup) 0 3) ({16 0 64 1 256 2} w)))
                                                                     "-parameterization=" (name p) "_width=" w)
                                                     "result.edn")))
        learned (fn [p w] (first (get-in (result p w) [:analysis :mode-learned-steps])))
        moved (fn [p w] (let [wn (:weight-norms (:trajectory (result p w)))]
                          (- (/ (double (get-in (peek wn) [0 0])) (double (get-in (first wn) [0 0]))) 1.0)))]
    (is (= 0 code) err)
    (is (<= (Math/abs (- (long (learned :mup 16)) (long (learned :mup 256)))) 10) "muP: mode 1 learned at about the same step")
    (is (< (learned :ntk 16) (learned :ntk 64) (learned :ntk 256)) "NTK: later and later")
    (is (< (Math/abs (- (double (moved :mup 16)) (double (moved :mup 256)))) (* 0.2 (double (moved :mup 16)))) "muP: the same relative movement")
    (is (> (moved :ntk 16) (moved :ntk 64) (moved :ntk 256)) "NTK: the weights move less as the width grows")
    (is (> (moved :ntk 16) (* 3 (moved :ntk 256))) "about like 1/sqrt(N): a factor 4 from width 16 to 256")))

(deftest example-multi-pathway-lr-sweep
  ;; [MP], SCIENCE.md §5: below 2/S_single = 2/3 the lopsided split of mode 1
  ;; stays; inside the window (2/3, 0.840) GD leaves it for a flatter split whose
  ;; sharpness L sum_k pi_k^(2-2/L) is just below 2/lr
  (let [sweep (-> (dio/read-edn-file "examples/multi-pathway-lr-sweep.edn")
                  (assoc-in [:grid [:optimizer :lr]] [0.5 0.8]))
        out (path "mplr")
        {:keys [code err]} (cli "sweep" (write-file "mplr.edn" sweep) "--out" out "--jobs" "2")
        result (fn [i lr] (dio/read-edn-file (io/file out "runs" (str (format "%03d" i) "-lr=" lr) "result.edn")))
        shares (fn [r] (first (peek (get-in r [:trajectory :pathway-shares]))))
        late-sharpness (fn [r] (let [v (filterv some? (get-in r [:trajectory :sharpness]))] (peek v)))
        ;; the sharpness of mode 1 (target 1) split with these shares over balanced pathways of depth 3
        split-sharpness (fn [sh] (* 3.0 (reduce + (map #(Math/pow (double %) (/ 4.0 3.0)) sh))))
        lo (result 0 0.5) hi (result 1 0.8)]
    (is (= 0 code) err)
    (is (> (double (reduce max (shares lo))) 0.95) "below the window: winner takes (nearly) all")
    (is (< (double (reduce max (shares hi))) 0.8) "inside the window: re-balanced")
    (doseq [r [lo hi]]
      (is (< (Math/abs (- (/ (double (late-sharpness r)) (split-sharpness (shares r))) 1.0)) 0.01)
          "the measured sharpness is the split's"))
    (is (< 0.97 (/ (double (late-sharpness hi)) 2.5) 1.0) "just below 2/lr")
    (is (every? #(.exists (io/file out %)) ["shares-vs-lr.svg" "sharpness-vs-lr.svg"]))))

(deftest example-sde-batch-size
  ;; [SDE], SCIENCE.md §7: SGD's noise scales as 1/B, so the stationary variance
  ;; of each mode around its target falls like 1/B; the sweep draws it against B
  (let [sweep (-> (dio/read-edn-file "examples/sde-batch-size.edn")
                  (assoc-in [:base :sde :paths] 300)
                  (assoc-in [:base :sde :record :paths] 0)
                  (assoc-in [:grid [:sde :batch-size]] [2 32]))
        out (path "sdebs")
        {:keys [code err]} (cli "sweep" (write-file "sdebs.edn" sweep) "--out" out "--jobs" "2")
        result (fn [i b] (dio/read-edn-file (io/file out "runs" (format "%03d-batch-size=%d" i b) "result.edn")))
        variance (fn [r m] (get-in r [:analysis :stationary m :variance]))
        density-variance (fn [r m] (get-in r [:analysis :stationary m :theory :variance]))]
    (is (= 0 code) err)
    (doseq [m [0 1 2]
            :let [measured (/ (double (variance (result 0 2) m)) (double (variance (result 1 32) m)))
                  theory (/ (double (density-variance (result 0 2) m)) (double (density-variance (result 1 32) m)))]]
      ;; 1/B makes it 16 times smaller at B = 32 than at B = 2; the noise's growth
      ;; with (pi - s)^2 adds to it where ηS is large (mode 1: ηS = 0.38). The
      ;; simulated ratio follows the stationary density's (quadrature of the
      ;; analytic density); the ratio of two sample variances of 300 paths is
      ;; within 12% (1 sd)
      (is (< 16.0 theory 22.0) (str "mode " m ": density ratio " theory))
      (is (< 0.7 (/ measured theory) 1.4) (str "mode " m ": simulated ratio " measured " vs " theory)))
    (is (every? #(.exists (io/file out %)) ["learning-time-sweep.svg" "stationary-sweep.svg"]))))

;; ================================================================ figures: plot, and figures from run and sweep
;; (issue 5) `dlnlab plot` on a result file, a run directory and a sweep
;; directory; the figures run and sweep write; sweep progress on a terminal.

(defn- svg-files [dir]
  (set (filter #(str/ends-with? % ".svg") (.list (io/file dir)))))

(defn- svg-title
  "The first <text> of an XChart SVG: the figure's title."
  [f]
  (second (re-find #"<text[^>]*>([^<]*)</text>" (slurp f))))

(defn- expected-svgs [data] (set (map #(str (name %) ".svg") (fig/standard-names data))))

(deftest run-writes-its-standard-figures-unless-no-plots
  (let [file (write-file "tiny.edn" tiny)
        out (path "out")
        {:keys [code]} (cli "run" file "--out" out)
        result (dio/read-edn-file (io/file out "result.edn"))]
    (is (= 0 code))
    (is (= #{"loss.svg" "sharpness.svg" "modes.svg" "balance-gap.svg"} (expected-svgs result))
        "tiny records loss, sharpness, modes and balance gap")
    (is (= (expected-svgs result) (svg-files out)))
    (is (= "Sharpness vs step" (svg-title (io/file out "sharpness.svg"))))
    (let [bare (path "bare")]
      (is (= 0 (:code (cli "run" file "--out" bare "--no-plots"))))
      (is (empty? (svg-files bare))))))

(deftest plot-writes-the-standard-figures-beside-the-input-or-into-out
  (let [file (write-file "tiny.edn" tiny)
        out (path "out")
        _ (cli "run" file "--out" out "--no-plots")
        result (dio/read-edn-file (io/file out "result.edn"))
        expected (expected-svgs result)]
    (testing "a run directory: beside result.edn"
      (let [{:keys [code out err] :as r} (cli "plot" (path "out"))]
        (is (= 0 code) err)
        (is (= expected (svg-files (path "out"))))
        (is (= (count expected) (count (re-seq #"(?m)^wrote: " out))) "one line per file written")))
    (testing "a result file with --out DIR"
      (let [{:keys [code]} (cli "plot" (str (io/file (path "out") "result.edn")) "--out" (path "figs"))]
        (is (= 0 code))
        (is (= expected (svg-files (path "figs"))))
        (is (= "Mode strengths vs step" (svg-title (io/file (path "figs") "modes.svg"))))))
    (testing "one figure: --figure NAME, to <dir>/NAME.svg by default, or to --out FILE.png"
      (.delete (io/file (path "out") "loss.svg"))
      (is (= 0 (:code (cli "plot" (path "out") "--figure" "loss"))))
      (is (= "Loss vs step" (svg-title (io/file (path "out") "loss.svg"))))
      (let [png (path "one" "sharp.png")
            {:keys [code out]} (cli "plot" (path "out") "--figure" ":sharpness" "--out" png)
            img (ImageIO/read (io/file png))]
        (is (= 0 code))
        (is (str/includes? out png))
        (is (some? img) "a readable PNG")
        (is (= 1600 (.getWidth img)) "800 px at scale 2")
        (is (= #{"sharp.png"} (set (.list (io/file (path "one"))))) "only that file")))))

(deftest sweep-writes-run-and-sweep-figures
  (let [file (write-file "sweep.edn" tiny-sweep)
        out (path "sw")
        {:keys [code err]} (cli "sweep" file "--out" out "--jobs" "2" "--point-figures")
        runs (io/file out "runs")
        results (mapv #(dio/read-edn-file (io/file runs % "result.edn")) (sort (.list runs)))]
    (is (= 0 code) err)
    (is (= #{"loss.svg" "modes.svg" "bifurcation.svg" "loss-vs-lr.svg" "sharpness-vs-lr.svg"} (expected-svgs results))
        "two learning rates with sharpness recorded: bifurcation, loss and sharpness vs lr apply")
    (is (= (expected-svgs results) (svg-files out)) "the sweep's figures in its directory")
    (is (re-find #"Bifurcation diagram" (svg-title (io/file out "bifurcation.svg"))))
    (doseq [d (.list runs)]
      (is (= (expected-svgs (dio/read-edn-file (io/file runs d "result.edn"))) (svg-files (io/file runs d)))
          (str "each run's figures beside its result: " d)))
    (testing "plot on the sweep directory draws the sweep figures again, or one of them"
      (doseq [f (.listFiles (io/file out))] (when (str/ends-with? (.getName ^File f) ".svg") (.delete ^File f)))
      (is (= 0 (:code (cli "plot" out))))
      (is (= (expected-svgs results) (svg-files out)))
      (is (= 0 (:code (cli "plot" (str (io/file out "sweep.edn")) "--figure" "loss-vs-lr" "--out" (path "lr.svg")))))
      (is (re-find #"Final loss vs learning rate" (svg-title (path "lr.svg")))))
    (testing "--no-plots: no figures anywhere"
      (let [bare (path "bare")]
        (is (= 0 (:code (cli "sweep" file "--out" bare "--no-plots"))))
        (is (empty? (svg-files bare)))
        (is (every? #(empty? (svg-files (io/file bare "runs" %))) (.list (io/file bare "runs"))))))))

(deftest sweep-progress-only-on-a-terminal
  (let [file (write-file "sweep.edn" tiny-sweep)
        tty (cli "sweep" file "--out" (path "a") "--jobs" "1" ::tty)
        quiet (cli "sweep" file "--out" (path "b") "--jobs" "1")]
    (is (= 0 (:code tty)))
    (is (str/includes? (:err tty) "sweep 0/4 done") "a line before the first run ends")
    (is (str/includes? (:err tty) "sweep 4/4 done"))
    (is (str/includes? (:err tty) "runs/min"))
    (is (str/includes? (:err tty) "ETA"))
    (is (= "" (:err quiet)))))

(deftest plot-bad-input-exits-2-with-one-paragraph-and-writes-nothing
  (let [file (write-file "tiny.edn" tiny)
        run-dir (path "run")
        _ (cli "run" file "--out" run-dir "--no-plots")
        sweep-dir (path "sw")
        _ (.mkdirs (io/file sweep-dir))
        _ (spit (io/file sweep-dir "sweep.edn") (pr-str tiny-sweep))
        _ (.mkdirs (io/file (path "empty-dir")))
        out (path "never")
        before (fn [] (set (.list (io/file run-dir))))
        listing (before)
        cases
        [["unknown figure" ["plot" run-dir "--figure" "sharpnes"]
          #"Unknown figure \"sharpnes\"\. Did you mean sharpness\? .*loss, sharpness, modes.*bifurcation"]
         ["figure of another kind" ["plot" run-dir "--figure" "bifurcation"] #"does not apply.*a run result.*loss, sharpness"]
         ["figure with nothing recorded" ["plot" run-dir "--figure" "pathway-shares" "--out" (str out ".svg")] #"nothing to plot"]
         ["missing input" ["plot" (path "nope")] #"No such file or directory"]
         ["no input" ["plot"] #"needs a result.edn"]
         ["two inputs" ["plot" run-dir run-dir] #"exactly one"]
         ["directory without results" ["plot" (path "empty-dir")] #"neither result.edn.*nor sweep.edn"]
         ["sweep directory without runs" ["plot" sweep-dir] #"without results"]
         ["an experiment, not a result" ["plot" file] #"not a run result: it has no :trajectory"]
         ["a sweep file, not results" ["plot" (write-file "s.edn" tiny-sweep)] #"sweep file"]
         ["garbage" ["plot" (write-file "junk.edn" "{:trajectory [1 2")] #"Cannot read"]
         ["not a map" ["plot" (write-file "v.edn" "[1 2 3]")] #"not a run result: it holds a .*, not a map"]
         ["trajectory of the wrong shape" ["plot" (write-file "t.edn" "{:trajectory {:step 5}}")] #"not a map of recorded columns"]
         ["values that are not numbers" ["plot" (write-file "w.edn" "{:trajectory {:step [0 1] :loss [\"a\" :b]}}") "--out" out]
          #"Nothing to plot"]
         ["image --out without --figure" ["plot" run-dir "--out" (str out ".svg")] #"needs --figure"]
         ["unknown image format" ["plot" run-dir "--figure" "loss" "--out" (str out ".gif")] #"\.svg, \.png or \.pdf"]
         ["unknown option" ["plot" run-dir "--no-plots"] #"Unknown option --no-plots"]]]
    (rejects-each cases (fn []
                          (is (not (.exists (io/file (str (path "never") ".svg")))))
                          (is (= listing (before)) "nothing written beside the input")))))

(deftest help-lists-plot
  (let [{:keys [out]} (cli "help")]
    (is (str/includes? out "plot RESULT.edn|DIR [--figure NAME] [--out FILE.svg|FILE.png|FILE.pdf|DIR]"))
    (is (str/includes? out "--no-plots]"))))

;; ---------------------------------------------------------------- reproduce

(deftest reproduce-bad-input
  (testing "an unknown name lists the reproductions and writes nothing"
    (let [{:keys [code err]} (cli "reproduce" "multi-pathway" "--out" (path "rep"))]
      (is (= 2 code))
      (doseq [nm (keys dlnlab.cli.info/paper-names)] (is (str/includes? err nm)))
      (is (not (.exists (io/file (path "rep")))))))
  (testing "a name is required, and --jobs must be a positive integer"
    (is (= 2 (:code (cli "reproduce"))))
    (is (= 2 (:code (cli "reproduce" "edge-of-stability" "--jobs" "0" "--out" (path "rep")))))
    (is (not (.exists (io/file (path "rep")))))))

;; ---------------------------------------------------------------- :sde experiments

(def tiny-sde
  {:kind :sde :seed 5
   :sde {:modes [{:s 1.0 :pi0 0.05} {:s 0.5 :pi0 0.05}] :lr 0.05 :batch-size 4 :label-noise 0.2
         :paths 200 :time 8.0 :record {:points 17 :paths 2}}})

(deftest sde-run-writes-result-trajectory-and-figures
  (let [file (write-file "sde.edn" tiny-sde)
        out (path "sde-out")
        {:keys [code err] out-text :out} (cli "run" file "--out" out)
        result (dio/read-edn-file (io/file out "result.edn"))
        expected (experiment/run tiny-sde)
        traj (:trajectory result)]
    (is (= 0 code) err)
    (is (= "" err))
    (testing "result.edn is the library's result but for timings"
      (is (= (dissoc expected :meta) (dissoc result :meta))))
    (testing "trajectory.csv: mean, std, quantiles, diffusion, gradient flow, kept paths; cells equal to the trajectory"
      (let [[header & rows] (parse-csv (slurp (io/file out "trajectory.csv")))
            col (fn [nm] (let [i (.indexOf ^java.util.List header nm)] (is (>= i 0) nm) i))]
        (is (= ["step" "time" "mean_1" "mean_2" "std_1" "std_2" "q0.05_1" "q0.05_2"] (take 8 header)))
        (is (= ["paths_1_1" "paths_1_2" "paths_2_1" "paths_2_2"] (take-last 4 header)) "path 1 mode 1, ...")
        (is (= 17 (count rows)))
        (doseq [[r row] (map-indexed vector rows)]
          (is (= (nth (:time traj) r) (num-cell (nth row (col "time")))))
          (doseq [i (range 2)]
            (is (= (get-in traj [:mean r i]) (num-cell (nth row (col (str "mean_" (inc i)))))))
            (is (= (get-in traj [:q0.95 r i]) (num-cell (nth row (col (str "q0.95_" (inc i)))))))
            (is (= (get-in traj [:paths r 1 i]) (num-cell (nth row (col (str "paths_2_" (inc i)))))))))))
    (testing "the SDE figures"
      (doseq [f ["sde-ensemble.svg" "learning-times.svg" "stationary.svg"]]
        (is (.exists (io/file out f)) f)))
    (testing "the summary names the ensemble, the final strengths and the learning times"
      (is (str/includes? out-text "completed, 800 steps to SDE time 8"))
      (is (str/includes? out-text "200 paths x 2 modes"))
      (is (re-find #"final pi: +mode 1 [0-9.]+ ± [0-9.]+ \(target 1\)" out-text))
      (is (re-find #"learned \(0.5 s\): +mode 1 median t [0-9.]+ \(200/200 paths" out-text))
      (is (str/includes? out-text "stationary:")))
    (testing "plot draws one SDE figure from the run directory"
      (let [png (path "sde-out" "stat.png")
            {:keys [code err]} (cli "plot" out "--figure" "stationary" "--out" png)]
        (is (= 0 code) err)
        (is (.exists (io/file png))))
      (let [{:keys [code err]} (cli "plot" out "--figure" "loss")]
        (is (= 2 code))
        (is (re-find #"does not apply .* sde-ensemble, stationary, learning-times" err) err)))))

(deftest sde-sweep-over-the-learning-rate
  (let [file (write-file "sde-sweep.edn" {:base tiny-sde :grid {[:sde :lr] [0.01 0.1]}})
        out (path "sde-sw")
        {:keys [code err]} (cli "sweep" file "--out" out "--jobs" "1" "--no-plots")
        runs (io/file out "runs")]
    (is (= 0 code) err)
    (is (= ["0-lr=0.01" "1-lr=0.1"] (map #(subs % 2) (sort (.list runs)))))
    (doseq [[d lr] [["000-lr=0.01" 0.01] ["001-lr=0.1" 0.1]]]
      (let [r (dio/read-edn-file (io/file runs d "result.edn"))]
        (is (= lr (get-in r [:experiment :sde :lr])))
        (is (= :completed (:status r)))
        (is (= {:index (if (= lr 0.01) 0 1) :point {[:sde :lr] lr}} (:sweep r)))
        (is (= (dissoc r :meta :sweep)
               (dissoc (experiment/run (assoc-in (assoc tiny-sde :seed (get-in r [:experiment :seed])) [:sde :lr] lr)) :meta)))))
    (let [[header & rows] (parse-csv (slurp (io/file out "summary.csv")))]
      (is (= ["index" "dir" "sde.lr" "replicate" "seed" "status"] (take 6 header)))
      (is (= [["0.01" "completed"] ["0.1" "completed"]] (map #(vector (nth % 2) (nth % 5)) rows))))))

(deftest sde-bad-input-exits-2
  (let [good (write-file "sde.edn" tiny-sde)
        out (path "never")]
    (rejects-each
            [["bad value" ["run" (write-file "b1.edn" (assoc-in tiny-sde [:sde :lr] -0.1)) "--out" out]
              #"\[:sde :lr\] must be a positive finite number, got -0.1"]
             ["bad --set" ["run" good "--out" out "--set" "sde.lr=0"] #"\[:sde :lr\] must be .*--set sde.lr=0"]
             ["unknown key" ["run" good "--out" out "--set" "sde.batchsize=4"] #"\[:sde :batchsize\].*Did you mean :batch-size"]
             ["missing pi0" ["run" (write-file "b2.edn" (assoc-in tiny-sde [:sde :modes 1] {:s 0.5})) "--out" out]
              #"\[:sde :modes 1\] needs :pi0"]
             ["misspelt kind" ["run" (write-file "b3.edn" (assoc tiny-sde :kind :sed)) "--out" out] #"\[:kind\] .*Did you mean :sde"]
             ["seed under :sde" ["run" good "--out" out "--set" "sde.seed=1"] #"\[:sde :seed\].*top-level :seed"]
             ["bad grid point" ["sweep" (write-file "bs.edn" {:base tiny-sde :grid {[:sde :paths] [10 0]}}) "--out" out]
              #"Grid point 1 .*\[:sde :paths\] must be an integer from 1"]
             ["inspect" ["inspect" good] #"an :sde experiment, which has no network to inspect"]]
            (constantly nil))
    (testing "validate prints the experiment with every SDE default filled"
      (let [{:keys [code out]} (cli "validate" good)
            v (edn/read-string out)]
        (is (= 0 code))
        (is (= (spec/normalize tiny-sde) v))
        (is (= :euler-maruyama (get-in v [:sde :scheme])))
        (is (not (str/includes? out "add :optimizer")))))))

(deftest describe-lists-the-sde-options
  (let [{:keys [code out]} (cli "describe")
        sde-section (second (re-find #"(?s)\nSDE  \(\[:sde\] of an :sde experiment\)(.*?)\n\n[A-Z]" out))]
    (is (= 0 code))
    (is (some? sde-section))
    (doseq [k (keys (get-in (spec/describe) [:sde :keys]))]
      (is (str/includes? sde-section (str (pr-str k) "  ")) k))
    (is (not (str/includes? sde-section ":<metric>")) "only the record node collapses metric options")
    (is (re-find #":kind  one of :network, :sde; optional" out))))
(deftest every-listed-reproduction-has-a-namespace
  (doseq [[nm ns-sym] dlnlab.cli.info/paper-names]
    (is (some? (try (requiring-resolve (symbol (name ns-sym) "reproduce")) (catch Exception _ nil)))
        (str nm " -> " ns-sym "/reproduce"))))

;; ---------------------------------------------------------------- signals, in a child JVM

(deftest ^:slow signals-stop-a-run-and-keep-what-it-recorded
  ;; what timeout, Slurm and docker stop send (TERM) and a closed terminal (HUP)
  ;; stop the run at its next step like Ctrl-C (INT, tested in-process by
  ;; run-interrupted-writes-the-result-so-far), write the result so far and
  ;; exit 128 + the signal's number. A child JVM starts in 40 s or more on a
  ;; busy machine, hence ^:slow.
  (let [file (write-file "long.edn" (assoc tiny :steps 100000000 :record {:every 1000 :metrics [:loss]}))]
    (doseq [[sig err] (check-signals-stop-run! file 100000000)]
      (is (str/includes? err "stopping at the next step") sig))))
