(ns dlnlab.spark.cluster
  "A Spark standalone cluster on this machine, made of child processes: one
  Master and n Workers bound to 127.0.0.1 on free ports, all launched from the
  jars of this JVM's classpath (the :spark profile's Maven jars), for the
  cluster tests and the engine benchmark. A Worker starts its executors with
  Spark's launcher, which finds the Spark jars under SPARK_HOME: `spark-home!`
  assembles one from the classpath (jars/ of links, a RELEASE file).

    (with-cluster [c {:workers 2}]
      ((dlnlab.spark/engine {:master (:url c) :jars [(app-jar! dir)]}) ...))

  The processes are killed by `stop!` (with-cluster calls it in a finally),
  and by a JVM shutdown hook should this JVM end first."
  (:require [clojure.java.io :as io]
            [clojure.string :as str])
  (:import [java.io File]
           [java.lang ProcessBuilder$Redirect ProcessHandle]
           [java.net InetAddress ServerSocket]
           [java.nio.file Files LinkOption]
           [java.nio.file.attribute FileAttribute]
           [java.util.jar JarEntry JarOutputStream]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def add-opens
  "The JVM options Spark 4 needs on Java 17 (Spark's own launcher adds the same)."
  (vec (for [p ["java.lang" "java.lang.invoke" "java.io" "java.net" "java.nio" "java.util"
                "java.util.concurrent" "sun.nio.ch" "sun.nio.cs" "sun.security.action" "sun.util.calendar"]]
         (str "--add-opens=java.base/" p "=ALL-UNNAMED"))))

(defn- class-path-entries []
  (remove str/blank? (str/split (System/getProperty "java.class.path") (re-pattern File/pathSeparator))))

(defn free-port
  "A TCP port of 127.0.0.1 free at the time of the call."
  ^long []
  (with-open [s (ServerSocket. 0 1 (InetAddress/getByName "127.0.0.1"))]
    (.getLocalPort s)))

(defn spark-home!
  "Makes dir a SPARK_HOME for Spark's launcher: dir/jars holds a link to every
  jar of this JVM's classpath, dir/RELEASE says it is a release layout (the
  launcher then takes dir/jars rather than a build tree). Returns dir."
  ^File [dir]
  (let [jars (io/file dir "jars")]
    (.mkdirs jars)
    (doseq [e (class-path-entries)
            :let [f (io/file e)]
            :when (and (str/ends-with? e ".jar") (.isFile f))
            :let [link (.toPath (io/file jars (.getName f)))]
            :when (not (Files/exists link (make-array LinkOption 0)))]
      (Files/createSymbolicLink link (.toPath (.getAbsoluteFile f)) (make-array FileAttribute 0)))
    (spit (io/file dir "RELEASE") (str "Spark " (org.apache.spark.package/SPARK_VERSION) " assembled by dlnlab.spark.cluster from Maven jars\n"))
    (io/file dir)))

(defn app-jar!
  "Writes the jar the executors need beside the Spark home's jars: the
  directories of this JVM's classpath (sources, compiled classes, resources)
  packed into file. Returns its path. (target/dlnlab-spark.jar serves the same
  purpose for the launcher and spark-submit.)"
  ^String [file]
  (with-open [out (JarOutputStream. (io/output-stream file))]
    (let [seen (volatile! #{})]
      (doseq [e (class-path-entries)
              :let [root (io/file e)]
              :when (.isDirectory root)
              ^File f (file-seq root)
              :when (.isFile f)
              :let [entry (str/replace (str (.relativize (.toPath root) (.toPath f))) File/separator "/")]
              :when (not (@seen entry))]
        (vswap! seen conj entry)
        (.putNextEntry out (JarEntry. entry))
        (io/copy f out)
        (.closeEntry out))))
  (str file))

(defn- java-bin ^String []
  (str (io/file (System/getProperty "java.home") "bin" "java")))

(defn- start-process!
  "Starts java with args as a child process, SPARK_HOME and
  SPARK_SCALA_VERSION set, output to log."
  ^Process [^File home args ^File log]
  (let [pb (ProcessBuilder. ^java.util.List (vec (concat [(java-bin) "-Xmx512m" "-cp" (str (io/file home "jars") File/separator "*")]
                                                       add-opens args)))]
    (doto (.environment pb)
      (.put "SPARK_HOME" (str home))
      (.put "SPARK_SCALA_VERSION" "2.13"))
    (.redirectErrorStream pb true)
    (.redirectOutput pb (ProcessBuilder$Redirect/appendTo log))
    (.start pb)))

(defn- wait-for-log!
  "Waits until log holds a line matching re; throws with the log's tail when
  process p ends first or timeout-ms pass."
  [^Process p ^File log re timeout-ms what]
  (let [deadline (+ (System/currentTimeMillis) (long timeout-ms))]
    (loop []
      (let [text (if (.exists log) (slurp log) "")]
        (cond (re-find re text) nil
              (or (not (.isAlive p)) (> (System/currentTimeMillis) deadline))
              (throw (ex-info (str what (if (.isAlive p) " did not start in time" " ended") "; its log ends:\n"
                                   (str/join "\n" (take-last 20 (str/split-lines text))))
                              {:log (str log)}))
              :else (do (Thread/sleep 200) (recur)))))))

(defn kill!
  "Kills process p and every process it started (a Worker's executors), at once."
  [^Process p]
  (let [kids (vec (iterator-seq (.iterator (.descendants p))))]
    (.destroyForcibly p)
    (doseq [^ProcessHandle h kids] (.destroyForcibly h))
    (.waitFor p)))

(defn stop!
  "Kills every process of cluster c and removes its shutdown hook."
  [{:keys [procs ^Thread hook]}]
  (doseq [p (reverse @procs)] (kill! p))
  (when hook (try (.removeShutdownHook (Runtime/getRuntime) hook) (catch IllegalStateException _ nil))))

(defn start!
  "Starts a standalone cluster in directory dir (its Spark home, work
  directories and logs): a Master and :workers (2) Workers with :cores (1)
  cores and :memory (\"1g\") each, all on 127.0.0.1, and waits until every
  Worker has registered (:timeout-ms 180000). Returns {:url \"spark://...\"
  :home dir :workers [Process ...] :master Process :procs (atom of all)
  :hook}; stop it with `stop!`. Throws ex-info with the log's tail when a
  process does not come up (having killed those that did)."
  [dir {:keys [workers cores memory timeout-ms] :or {workers 2 cores 1 memory "1g" timeout-ms 180000}}]
  (let [home (spark-home! dir)
        procs (atom [])
        hook (Thread. ^Runnable (fn [] (doseq [p @procs] (kill! p))))
        c {:home home :procs procs :hook hook}
        port (free-port)
        url (str "spark://127.0.0.1:" port)]
    (.addShutdownHook (Runtime/getRuntime) hook)
    (try
      (let [mlog (io/file home "master.log")
            master (start-process! home ["org.apache.spark.deploy.master.Master" "--host" "127.0.0.1" "--port" (str port)
                                         "--webui-port" (str (free-port))] mlog)]
        (swap! procs conj master)
        (wait-for-log! master mlog #"I have been elected leader" timeout-ms "The Spark Master")
        (let [ws (vec (for [i (range workers)
                            :let [wlog (io/file home (str "worker-" i ".log"))
                                  wdir (io/file home (str "work-" i))]]
                        (let [w (start-process! home ["org.apache.spark.deploy.worker.Worker" "--host" "127.0.0.1"
                                                      "--cores" (str cores) "--memory" (str memory)
                                                      "--webui-port" (str (free-port)) "--work-dir" (str wdir) url]
                                                wlog)]
                          (swap! procs conj w)
                          [w wlog])))]
          (doseq [[i [w wlog]] (map-indexed vector ws)]
            (wait-for-log! w wlog #"Successfully registered with master" timeout-ms (str "Spark Worker " i)))
          (assoc c :url url :master master :workers (mapv first ws))))
      (catch Throwable t
        (stop! c)
        (throw t)))))

(defn delete-tree!
  "Deletes f and everything below it (links themselves, not their targets)."
  [^File f]
  (when (and (.isDirectory f) (not (Files/isSymbolicLink (.toPath f))))
    (doseq [c (.listFiles f)] (delete-tree! c)))
  (.delete f))

(defmacro with-cluster
  "Runs body with sym bound to a cluster started by (start! dir opts) in a new
  temporary directory; stops the cluster and deletes the directory in a
  finally."
  [[sym opts] & body]
  `(let [dir# (.toFile (Files/createTempDirectory "dlnlab-spark-cluster" (make-array FileAttribute 0)))]
     (try (let [~sym (start! dir# ~opts)]
            (try ~@body (finally (stop! ~sym))))
          (finally (delete-tree! dir#)))))
