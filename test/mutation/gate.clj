(ns mutation.gate
  "The mutation gate: each mutation of test/mutation/mutations.edn (a small,
  deliberate bug in the numerical or I/O code) is applied alone and the tests it
  names are run; every mutation must make them fail.

  A mutation never touches the working tree. Its file is copied, mutated, into a
  scratch overlay directory that comes first on the classpath of a fresh JVM: a
  mutated .clj file there shadows the one in src/, a mutated .java file is
  compiled (once) into the overlay and shadows target/classes. So nothing needs
  restoring, even after a crash or Ctrl-C.

  Run: bin/mutation-gate [--jobs n] [--only id,id] [--check] [--no-baseline]
  [--mutations file] (default test/mutation/mutations.edn). --check only verifies that every snippet occurs exactly once. Without
  --no-baseline the named tests first run unmutated and must pass (a mutation
  caught by an already failing test proves nothing). Exit status 0 when every
  mutation is caught, 1 otherwise."
  (:require [clojure.edn :as edn]
            [clojure.java.io :as io]
            [clojure.string :as str])
  (:import [java.io File]
           [java.nio.file Files]
           [java.nio.file.attribute FileAttribute]
           [java.util.concurrent Executors ExecutorService Future TimeUnit]))

(set! *warn-on-reflection* true)

(def ^:private source-roots ["src/" "studies/" "java-src/"])

(def ^:private timeout-seconds 900)

(defn- occurrences [^String text ^String snippet]
  (loop [from 0 n 0]
    (let [i (.indexOf text snippet (int from))]
      (if (neg? i) n (recur (+ i (max 1 (count snippet))) (inc n))))))

(defn- problem
  "nil when the mutation can be applied, else why not."
  [{:keys [id file original replacement tests]}]
  (let [f (io/file file)]
    (cond (not (and (keyword? id) (string? file) (string? original) (string? replacement) (seq tests)))
          "needs :id (keyword), :file, :original, :replacement (strings) and :tests"
          (= original replacement) "the replacement equals the original"
          (not (some #(str/starts-with? file %) source-roots)) (str file " is not under " (str/join ", " source-roots))
          (not (.isFile f)) (str file " not found")
          :else (let [n (occurrences (slurp f) original)]
                  (cond (= n 1) nil
                        (zero? n) (str "snippet not found in " file ": " (pr-str original))
                        :else (str "snippet occurs " n " times in " file ", must be unique: " (pr-str original)))))))

(defn- relative [file] (some #(when (str/starts-with? file %) (subs file (count %))) source-roots))

(defn- clojure-ns
  "The namespace of a .clj source file (nil for Java)."
  [file]
  (when (str/ends-with? file ".clj")
    (symbol (-> (relative file) (str/replace #"\.clj$" "") (str/replace "/" ".") (str/replace "_" "-")))))

(defn- temp-dir ^File [prefix]
  (.toFile (Files/createTempDirectory prefix (make-array FileAttribute 0))))

(defn- delete-tree [^File f]
  (doseq [^File c (reverse (file-seq f))] (.delete c)))

(defn- sh
  "Runs cmd (a vector), output to log; returns the exit code, or :timeout."
  [cmd ^File log]
  (let [p (-> (ProcessBuilder. ^java.util.List cmd)
              (.redirectErrorStream true)
              (.redirectOutput log)
              (.start))]
    (if (.waitFor p timeout-seconds TimeUnit/SECONDS)
      (.exitValue p)
      (do (.destroyForcibly p) (.waitFor p) :timeout))))

(defn- test-form
  "A form that loads the namespace mutated (nil for none), then runs the named
  tests (namespaces, or ns/var symbols) and exits 0 when all pass, 1 otherwise,
  3 when the mutated namespace does not load."
  [mutated-ns tests]
  (str "(require 'clojure.test)
   (when-let [m '" (pr-str mutated-ns) "]
     (try (require m) (catch Throwable e (println \"the mutated namespace does not load:\" e) (System/exit 3))))
   (let [tests '" (pr-str (vec tests)) "
         counters (ref clojure.test/*initial-report-counters*)]
     (doseq [t tests] (require (symbol (or (namespace t) (name t)))))
     (binding [clojure.test/*report-counters* counters]
       (doseq [t tests]
         (if (namespace t)
           (clojure.test/test-vars [(resolve t)])
           (let [r (clojure.test/test-ns t)] (dosync (alter counters #(merge-with + % r)))))))
     (let [{:keys [test fail error]} @counters]
       (println \"ran\" test \"tests:\" fail \"failures,\" error \"errors\")
       (shutdown-agents)
       (System/exit (if (and (pos? test) (zero? (+ fail error))) 0 1))))"))

(defn- run-tests
  "Runs tests in a fresh JVM with overlay (or nothing) first on the classpath."
  [classpath overlay mutated-ns tests ^File log]
  (sh (concat ["java" "-Xss8m" "-XX:+UseParallelGC" "-XX:TieredStopAtLevel=1" "-cp"
               (str/join File/pathSeparator (concat (when overlay [(str overlay)]) [classpath]))
               "clojure.main" "-e" (test-form mutated-ns tests)])
      log))

(defn- apply-mutation
  "Writes the mutated file into overlay (compiling it when Java). Returns nil or
  a failure message."
  [{:keys [file original replacement]} classpath ^File overlay ^File log]
  (let [text (slurp file)
        i (.indexOf ^String text ^String original)
        mutated (str (subs text 0 i) replacement (subs text (+ i (count original))))
        rel (relative file)]
    (if (str/ends-with? file ".java")
      (let [src (io/file overlay "src" rel)]
        (io/make-parents src)
        (spit src mutated)
        (let [code (sh ["javac" "--release" "17" "-nowarn" "-d" (str overlay) "-cp" classpath (str src)] log)]
          (when-not (= 0 code) (str "the mutated Java does not compile (see " log ")"))))
      (let [dst (io/file overlay rel)]
        (io/make-parents dst)
        (spit dst mutated)
        nil))))

(defn- run-one [classpath {:keys [id tests] :as m}]
  (let [started (System/nanoTime)
        overlay (temp-dir (str "mutation-" (name id) "-"))
        log (File/createTempFile (str "mutation-" (name id) "-") ".log")
        outcome (try
                  (or (when-let [p (problem m)] {:verdict :error :why p})
                      (when-let [p (apply-mutation m classpath overlay log)] {:verdict :error :why p})
                      (let [code (run-tests classpath overlay (clojure-ns (:file m)) tests log)]
                        (cond (= code :timeout) {:verdict :killed :why (str "timed out after " timeout-seconds " s")}
                              (= code 0) {:verdict :survived :why (str "the tests passed (log " log ")")}
                              (= code 3) {:verdict :error :why (str "the mutated namespace does not load (log " log ")")}
                              :else {:verdict :killed})))
                  (finally (delete-tree overlay)))]
    (when (= :killed (:verdict outcome)) (.delete log))
    (assoc outcome :id id :seconds (/ (- (System/nanoTime) started) 1e9))))

(defn- parse-args [args]
  (loop [[a & more] args opts {:jobs 2 :baseline? true :file "test/mutation/mutations.edn"}]
    (case a
      nil opts
      "--jobs" (recur (rest more) (assoc opts :jobs (Long/parseLong (first more))))
      "--only" (recur (rest more) (assoc opts :only (set (map keyword (str/split (first more) #",")))))
      "--check" (recur more (assoc opts :check? true))
      "--no-baseline" (recur more (assoc opts :baseline? false))
      "--mutations" (recur (rest more) (assoc opts :file (first more)))
      (throw (ex-info (str "Unknown argument " a "; usage: bin/mutation-gate [--jobs n] [--only id,id] [--check] [--no-baseline] [--mutations file]")
                      {:arg a})))))

(defn -main [& args]
  (let [{:keys [jobs only check? baseline? file]} (parse-args args)
        all (edn/read-string (slurp file))
        ms (if only (filterv #(only (:id %)) all) all)
        classpath (System/getProperty "java.class.path")
        started (System/nanoTime)
        elapsed #(format "%.0f s" (/ (- (System/nanoTime) started) 1e9))
        dupes (keep (fn [[id n]] (when (> (long n) 1) id)) (frequencies (map :id all)))]
    (println (count ms) "mutations," jobs "at a time")
    (when (seq dupes) (println "duplicate ids:" (vec dupes)) (System/exit 1))
    (if check?
      (let [bad (keep #(when-let [p (problem %)] [(:id %) p]) ms)]
        (doseq [[id p] bad] (println "ERROR" id p))
        (println (if (seq bad) "snippets: FAIL" "snippets: every one found exactly once"))
        (System/exit (if (seq bad) 1 0)))
      (do
        (when baseline?
          (let [log (File/createTempFile "mutation-baseline-" ".log")
                tests (vec (distinct (mapcat :tests ms)))
                code (run-tests classpath nil nil tests log)]
            (if (= 0 code)
              (do (.delete log) (println "baseline: the named tests pass unmutated (" (elapsed) ")"))
              (do (println "baseline FAILED: the named tests fail without any mutation; see" (str log))
                  (System/exit 1)))))
        (let [pool ^ExecutorService (Executors/newFixedThreadPool (int jobs))
              futures (mapv (fn [m] (.submit pool ^Callable (fn [] (let [r (run-one classpath m)]
                                                                      (locking pool
                                                                        (println (format "%-9s %-34s %5.0f s %s"
                                                                                         (str/upper-case (name (:verdict r))) (name (:id r))
                                                                                         (double (:seconds r)) (or (:why r) ""))))
                                                                      r))))
                            ms)
              results (mapv #(.get ^Future %) futures)
              _ (.shutdown pool)
              by (group-by :verdict results)]
          (println (format "%d killed, %d survived, %d errors of %d mutations in %s"
                           (count (:killed by)) (count (:survived by)) (count (:error by)) (count results) (elapsed)))
          (shutdown-agents)
          (System/exit (if (= (count results) (count (:killed by))) 0 1)))))))
