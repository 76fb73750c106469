(ns dlnlab.provenance-test
  "Provenance checked field by field against a source of its own: sha256sum for
  the hashes, git for the commit, hostname and /proc/cpuinfo read by grep,
  project.clj for the OpenBLAS artifact, clocks read around the run."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [dlnlab.cli-runner :as runner]
            [dlnlab.experiment :as experiment]
            [dlnlab.io :as dio]
            [dlnlab.provenance :as provenance]
            [dlnlab.sweep :as sweep]
            [dlnlab.temp-dir :as temp-dir :refer [path]])
  (:import [java.time Instant]))

(use-fixtures :each (temp-dir/fixture "dlnlab-provenance"))

(defn- sh
  "The trimmed standard output of a command, or nil when it cannot run or fails."
  [& args]
  (try (let [p (.start (doto (ProcessBuilder. ^java.util.List (vec args)) (.redirectErrorStream false)))
             out (slurp (.getInputStream p))]
         (when (zero? (.waitFor p)) (str/trim out)))
       (catch java.io.IOException _ nil)))

(defn- sha256sum [f] (some-> (sh "sha256sum" (str f)) (str/split #"\s+") first))

(def ^:private tiny
  {:seed 3 :model {:kind :chain :depth 1} :task {:kind :dataset :x-file "X" :y-file "Y"}
   :optimizer {:kind :gd :lr 0.1} :steps 4})

(defn- write-data!
  "tiny with its data files written into the test directory."
  []
  (spit (path "x.csv") "a\n1\n2\n3\n")
  (spit (path "y.csv") "b\n2\n4\n6.5\n")
  (-> tiny (assoc-in [:task :x-file] (path "x.csv")) (assoc-in [:task :y-file] (path "y.csv"))))

(deftest the-machine-is-described-by-independent-sources
  (let [env (provenance/environment)]
    (testing "processors: the JVM's count; model: the first model name line of /proc/cpuinfo"
      (is (= (.availableProcessors (Runtime/getRuntime)) (get-in env [:cpu :count])))
      (when-let [line (sh "grep" "-m1" "model name" "/proc/cpuinfo")]
        (is (= (str/trim (second (str/split line #":" 2))) (get-in env [:cpu :model])))))
    (testing "host: the hostname command"
      (when-let [h (sh "hostname")]
        (is (= h (:host env)))))
    (testing "OpenBLAS: the artifact version project.clj depends on (not nil)"
      (let [form (binding [*read-eval* false] (read-string (slurp "project.clj")))
            deps (:dependencies (apply hash-map (drop 3 form)))
            declared (some (fn [[art v]] (when (= 'org.bytedeco/openblas art) v)) deps)]
        (is (string? declared))
        (is (= declared (get-in env [:blas :openblas])))
        (is (= 1 (get-in env [:blas :threads])) "pinned to one thread")))
    (testing "JVM and version"
      (is (str/starts-with? (str (Runtime/version)) (get-in env [:jvm :version])))
      (is (= (str/trim (slurp "resources/dlnlab/version.txt")) (:version env))))))

(deftest the-git-commit-is-read-without-git
  (testing "in this checkout: what git rev-parse HEAD says"
    (when-let [head (sh "git" "rev-parse" "HEAD")]
      (is (= head (:commit (provenance/git-info "."))))
      (is (= head (get-in (provenance/environment) [:git :commit])))
      (is (= (sh "git" "rev-parse" "--abbrev-ref" "HEAD") (:branch (provenance/git-info "."))))))
  (testing "outside a checkout: nothing, and no failure"
    (let [d (io/file (path "plain"))]
      (.mkdirs d)
      (when-not (sh "git" "-C" (str d) "rev-parse" "HEAD")
        (is (nil? (provenance/git-info d))))))
  (testing "a worktree whose branch lives in the common directory's packed-refs"
    (let [sha "0123456789abcdef0123456789abcdef01234567"
          wt (io/file (path "wt"))
          gd (io/file (path "common" "worktrees" "wt"))]
      (.mkdirs wt) (.mkdirs gd)
      (spit (io/file wt ".git") (str "gitdir: " gd "\n"))
      (spit (io/file gd "HEAD") "ref: refs/heads/topic\n")
      (spit (io/file gd "commondir") "../..\n")
      (spit (path "common" "packed-refs") (str "# pack-refs with: peeled\n" sha " refs/heads/topic\n"))
      (is (= {:commit sha :branch "topic"} (provenance/git-info (io/file wt "sub" "dir"))))
      (testing "a detached HEAD"
        (spit (io/file gd "HEAD") (str sha "\n"))
        (is (= {:commit sha :branch nil} (provenance/git-info wt)))))))

(deftest the-commit-is-reread-when-a-git-file-changes
  (let [sha (fn [c] (apply str (repeat 40 c)))
        repo (io/file (path "repo"))
        gd (io/file repo ".git")
        ref (io/file gd "refs" "heads" "main")
        old (- (System/currentTimeMillis) 60000)
        write! (fn [^java.io.File f text] (io/make-parents f) (spit f text) (.setLastModified f old))
        replace! (fn [^java.io.File f text]   ; as git writes: a new file renamed over the old
                   (let [tmp (io/file (.getParentFile f) "tmp.lock")]
                     (write! tmp text)
                     (java.nio.file.Files/move (.toPath tmp) (.toPath f)
                                               (into-array java.nio.file.CopyOption [java.nio.file.StandardCopyOption/REPLACE_EXISTING]))
                     (.setLastModified f old)))]
    (write! (io/file gd "HEAD") "ref: refs/heads/main\n")
    (write! ref (str (sha "a") "\n"))
    (is (= {:commit (sha "a") :branch "main"} (provenance/git-info repo)))
    (testing "a commit (the ref replaced, same size and time): the new commit"
      (replace! ref (str (sha "b") "\n"))
      (is (= (sha "b") (:commit (provenance/git-info repo)))))
    (testing "a checkout of another branch: the new branch"
      (write! (io/file gd "refs" "heads" "topic") (str (sha "c") "\n"))
      (replace! (io/file gd "HEAD") "ref: refs/heads/topic\n")
      (is (= {:commit (sha "c") :branch "topic"} (provenance/git-info repo))))
    (testing "a .git created below the one found: that checkout"
      (write! (io/file repo "sub" ".git" "HEAD") (str (sha "d") "\n"))
      (is (= {:commit (sha "d") :branch nil} (provenance/git-info (io/file repo "sub")))))
    (testing "unchanged files are not read again: a file rewritten in place with its size and time kept is missed"
      (let [head (io/file gd "HEAD")]
        (provenance/git-info repo)
        (spit head "ref: refs/heads/mainx\n") (.setLastModified head old)
        (is (= "topic" (:branch (provenance/git-info repo))))))
    (testing "files changed within the last two seconds are read at every call"
      (let [head (io/file gd "HEAD")]
        (write! (io/file gd "refs" "heads" "mian") (str (sha "e") "\n"))
        (spit head "ref: refs/heads/main\n")
        (is (= "main" (:branch (provenance/git-info repo))))
        (spit head "ref: refs/heads/mian\n")
        (is (= {:commit (sha "e") :branch "mian"} (provenance/git-info repo)))
        (spit head "ref: refs/heads/main\n")
        (is (= "main" (:branch (provenance/git-info repo))))))))

(deftest a-result-records-when-and-from-what-it-ran
  (let [exp (write-data!)
        before (Instant/now)
        r (experiment/run exp)
        after (Instant/now)
        m (:meta r)
        started (Instant/parse (:started m))
        ended (Instant/parse (:ended m))]
    (testing "start and end are UTC instants around the run, in order"
      (is (str/ends-with? (:started m) "Z"))
      (is (not (.isBefore started before)))
      (is (not (.isAfter ended after)))
      (is (not (.isAfter started ended))))
    (testing "every data file the experiment names, hashed as sha256sum hashes it"
      (is (= [(path "x.csv") (path "y.csv")] (map :file (:inputs m))))
      (doseq [{:keys [file sha256 bytes]} (:inputs m)]
        (is (= (.length (io/file file)) bytes))
        (when-let [expected (sha256sum file)] (is (= expected sha256) file))))
    (testing "the API gives no command line"
      (is (not (contains? m :command-line))))
    (testing "a changed data file changes its hash"
      (spit (path "y.csv") "b\n2\n4\n6.25\n")
      (let [m2 (:meta (experiment/run exp))]
        (is (not= (get-in m [:inputs 1 :sha256]) (get-in m2 [:inputs 1 :sha256])))
        (when-let [expected (sha256sum (path "y.csv"))] (is (= expected (get-in m2 [:inputs 1 :sha256]))))))))

(deftest sweep-runs-on-pool-threads-see-the-callers-invocation
  ;; as `reproduce` runs its studies' sweeps: dlnlab.sweep/sweep under the
  ;; binding the CLI makes, no :invocation run option
  (let [exp (write-data!)
        inv {:command-line ["reproduce" "edge-of-stability"] :inputs []}
        rs (binding [provenance/*invocation* inv]
             (sweep/sweep exp {[:optimizer :lr] [0.05 0.1 0.2]} {:jobs 2}))]
    (is (= 3 (count rs)))
    (doseq [r rs] (is (= (:command-line inv) (get-in r [:meta :command-line]))))
    (is (not-any? #(contains? (:meta %) :command-line) (sweep/sweep exp {[:optimizer :lr] [0.05]} {:jobs 1}))
        "without a binding, no command line")))

(deftest the-command-line-and-its-files-go-into-result-and-sweep
  (let [exp (write-data!)
        file (path "exp.edn")
        _ (spit file (pr-str exp))
        args ["run" file "--out" (path "run") "--no-plots" "--no-report"]
        {:keys [code err]} (runner/run-cli false args)
        m (:meta (dio/read-edn-file (io/file (path "run") "result.edn")))]
    (is (= 0 code) err)
    (is (= args (:command-line m)))
    (is (= [file (path "x.csv") (path "y.csv")] (map :file (:inputs m))) "the EDN file first, then its data files")
    (doseq [{f :file h :sha256} (:inputs m)]
      (when-let [expected (sha256sum f)] (is (= expected h) f)))
    (testing "result.json carries the same provenance"
      (is (str/includes? (slurp (io/file (path "run") "result.json")) (:sha256 (first (:inputs m))))))
    (testing "sweep.edn: the sweep's provenance; each point's result the command line too"
      (let [sweep-file (path "sweep.edn")
            _ (spit sweep-file (pr-str {:base exp :grid {[:optimizer :lr] [0.05 0.1]}}))
            args ["sweep" sweep-file "--out" (path "sweep") "--jobs" "2" "--no-plots" "--no-report"]
            {:keys [code err]} (runner/run-cli false args)
            p (:provenance (dio/read-edn-file (io/file (path "sweep") "sweep.edn")))
            runs (.listFiles (io/file (path "sweep") "runs"))]
        (is (= 0 code) err)
        (is (= args (:command-line p)))
        (is (= (sha256sum sweep-file) (:sha256 (first (:inputs p)))))
        (is (= (path "x.csv") (:file (second (:inputs p)))) "the data files the base names")
        (is (not (.isAfter (Instant/parse (:started p)) (Instant/parse (:ended p)))))
        (is (= 2 (count runs)))
        (doseq [d runs]
          (is (= args (get-in (dio/read-edn-file (io/file d "result.edn")) [:meta :command-line]))
              "the runs on pool threads carry the invocation"))
        (testing "the sweep resumes although sweep.edn now records provenance"
          (let [again (runner/run-cli false args)]
            (is (= 0 (:code again)) (:err again))
            (is (str/includes? (:out again) "2 already done"))))))))
