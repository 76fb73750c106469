(ns dlnlab.bench.common
  "Helpers the benchmarks share: medians, timing, the PyTorch peer's process and
  the BLAS shim that lets it run on dlnlab's own OpenBLAS, and the machine's load."
  (:require [clojure.java.io :as io]
            [clojure.java.shell :as shell]
            [clojure.string :as str])
  (:import [dlnlab.kernel Blas]
           [java.io BufferedReader File InputStreamReader]
           [java.nio.file Files]
           [java.nio.file.attribute FileAttribute]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn median ^double [xs]
  (let [v (vec (sort xs)) n (count v)]
    (if (odd? n)
      (double (v (quot n 2)))
      (* 0.5 (+ ^double (v (dec (quot n 2))) ^double (v (quot n 2)))))))

(defn seconds-since ^double [^long t0] (/ (- (System/nanoTime) t0) 1e9))

(defn openblas-path
  "Path of the OpenBLAS shared library dlnlab has loaded."
  ^String []
  (Blas/init)
  (or (some (fn [[k v]] (when (str/starts-with? (str k) "openblas") v))
            (org.bytedeco.javacpp.Loader/getLoadedLibraries))
      (throw (ex-info "OpenBLAS is not among the loaded native libraries"
                      {:path [:openblas] :value (keys (org.bytedeco.javacpp.Loader/getLoadedLibraries))
                       :allowed "a library named openblas*"}))))

(defn blas-shim!
  "A directory whose libblas.so.3 is dlnlab's OpenBLAS, for LD_LIBRARY_PATH."
  ^File [^File dir]
  (let [lib (io/file (openblas-path))
        shim (io/file dir "blas-shim")]
    (.mkdirs shim)
    (Files/createSymbolicLink (.toPath (io/file shim "libblas.so.3")) (.toPath lib) (make-array FileAttribute 0))
    shim))

(defn log [& xs] (binding [*out* *err*] (apply println xs) (flush)))

(def ^:private peer-packages
  "Debian package of each Python module a peer imports."
  {"torch" "python3-torch" "numpy" "python3-numpy" "scipy" "python3-scipy"})

(defn- importable? [module]
  (try (zero? (long (:exit (shell/sh "/usr/bin/python3" "-c" (str "import " module)))))
       (catch java.io.IOException _ false)))

(defn ensure-peer!
  "Makes the Python modules a peer needs (\"torch\", \"numpy\", \"scipy\") importable by
  /usr/bin/python3: installs the missing ones' Debian packages with apt-get when
  running as root (or through sudo), as the launcher does for Leiningen. Throws
  ex-info naming the packages when they are missing and cannot be installed."
  [& modules]
  (let [missing (remove importable? modules)]
    (when (seq missing)
      (let [pkgs (mapv peer-packages missing)
            root? (= "0" (str/trim (:out (shell/sh "id" "-u"))))
            cmd (cond root? ["apt-get"]
                      (zero? (long (:exit (shell/sh "sh" "-c" "command -v sudo")))) ["sudo" "apt-get"])]
        (when cmd
          (log "bench: installing the peer's" (str/join ", " pkgs) "(apt-get install)...")
          (let [env (assoc (into {} (System/getenv)) "DEBIAN_FRONTEND" "noninteractive")]
            (apply shell/sh (concat cmd ["update" "-q"] [:env env]))
            (apply shell/sh (concat cmd ["install" "-y" "-q"] pkgs [:env env]))))
        (let [still (remove importable? missing)]
          (when (seq still)
            (throw (ex-info (str "The benchmark's peer needs the Python modules " (str/join ", " still)
                                 " for /usr/bin/python3; install " (str/join " " (map peer-packages still))
                                 " (apt-get install) and run it again.")
                            {:path [:peer] :value (vec still) :allowed (vec (keys peer-packages))}))))))))

(defn start-peer
  "Starts a peer process (cmd, a vector of strings) on one BLAS thread with the
  extra environment env, logs its lines and waits for its {op ready} line; each
  line is read by (parse line) into a map with :op. Returns {:label :process
  :in :out :info (its last info line)}; stop it with `stop-peer`. Throws ex-info
  when the peer exits before it is ready."
  [label cmd env parse]
  (let [pb (ProcessBuilder. ^java.util.List cmd)
        _ (doto (.environment pb)
            (.put "OMP_NUM_THREADS" "1")
            (.put "OPENBLAS_NUM_THREADS" "1")
            (.put "MKL_NUM_THREADS" "1"))
        _ (doseq [[k v] env] (.put (.environment pb) ^String k ^String v))
        _ (.redirectError pb java.lang.ProcessBuilder$Redirect/INHERIT)
        p (.start pb)
        out (BufferedReader. (InputStreamReader. (.getInputStream p)))
        in (io/writer (.getOutputStream p))
        info (loop [info nil]
               (let [line (.readLine out)]
                 (when (nil? line)
                   (throw (ex-info (str "the torch peer (" label ") exited before it was ready, status " (.waitFor p))
                                   {:path [:peer label] :value (.exitValue p) :allowed "a running peer"})))
                 (log (str "  " label ": " line))
                 (let [m (parse line)]
                   (if (= "ready" (:op m)) info (recur (if (= "info" (:op m)) m info))))))]
    {:label label :process p :in in :out out :info info}))

(defn stop-peer [{:keys [^Process process ^java.io.Writer in]}]
  (when process
    (try (.close in) (catch java.io.IOException _ nil))
    (when-not (.waitFor process 10 java.util.concurrent.TimeUnit/SECONDS)
      (.destroy process))))

(defn delete-tree! [^File f]
  (when (.isDirectory f) (doseq [c (.listFiles f)] (delete-tree! c)))
  (.delete f))

(defn proc-lines
  "Lines of a /proc file (read through NIO: stream reads of /proc fail here), or []."
  [^String path]
  (try (vec (Files/readAllLines (.toPath (io/file path))))
       (catch Exception _ [])))

(defn load-average ^String []
  (or (some-> (first (proc-lines "/proc/loadavg")) (str/split #" ") first) "?"))

(defn machine-env
  "The report's description of the machine and of both PyTorch peers (started
  with `start-peer`): BLAS, Java, torch and its threads, CPU, load before/after."
  [stock openblas load-before]
  {"dlnlab BLAS" (str (Blas/describe) ", " (openblas-path))
   "Java" (str (System/getProperty "java.vm.name") " " (System/getProperty "java.version"))
   "torch" (str (:torch (:info stock)) ", torch.get_num_threads() = " (:threads (:info stock))
                ", OMP_NUM_THREADS = " (:omp_num_threads (:info stock)))
   "torch BLAS, Debian default" (:blas (:info stock))
   "torch BLAS, same OpenBLAS" (:blas (:info openblas))
   "CPU" (str (or (some #(second (re-find #"model name\s*:\s*(.*)" %)) (proc-lines "/proc/cpuinfo")) "?")
              ", " (.availableProcessors (Runtime/getRuntime)) " cores")
   "load average (1 min) before / after" (str load-before " / " (load-average) " (shared machine)")})
