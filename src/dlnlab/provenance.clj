(ns dlnlab.provenance
  "Where a result came from, as plain data: what every result's :meta, a
  sweep's sweep.edn and a reproduction's report.edn record under the keys

    :version       the dlnlab version (resources/dlnlab/version.txt, or \"dev\")
    :git           {:commit <40 hex> :branch <name or nil>} of the checkout the
                   dlnlab sources were loaded from, read from .git without
                   running git; absent outside a checkout (e.g. from a jar)
    :started :ended  instants, ISO-8601 UTC (\"2026-12-04T10:24:37.123Z\")
    :host          the host name
    :cpu           {:model <from /proc/cpuinfo, or os.arch> :count <processors>}
    :jvm           {:version :vendor :vm}
    :os            {:name :version :arch}
    :blas          {:openblas <the org.bytedeco openblas artifact version, e.g.
                   \"0.3.31-1.5.13\": OpenBLAS 0.3.31, JavaCPP presets 1.5.13>
                   :threads <OpenBLAS threads>}
    :command-line  the arguments of the dlnlab command (when run from the CLI)
    :inputs        [{:file :sha256 :bytes}] for the experiment (or sweep) file
                   and every data file it names (keys ending in -file)

  The command line and the input file come from the caller: the CLI binds
  `*invocation*` (see `invocation`), and dlnlab.experiment/run takes it as the
  run option :invocation, so runs on pool threads or Spark executors carry it
  as data. The machine is described once per process; the git commit is read
  at each call from the files under .git, unless their stamps show them
  unchanged since the last read (`git-info`); the hashes are cached by path,
  size and modification time."
  (:require [clojure.java.io :as io]
            [clojure.string :as str])
  (:import [dlnlab.kernel Blas]
           [java.io File FileInputStream]
           [java.net InetAddress]
           [java.nio.file Files LinkOption]
           [java.nio.file.attribute BasicFileAttributes]
           [java.security MessageDigest]
           [java.time Instant]
           [org.bytedeco.openblas.global openblas]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def version
  "The dlnlab version of this build (resources/dlnlab/version.txt), or \"dev\"."
  (or (some-> (io/resource "dlnlab/version.txt") slurp str/trim) "dev"))

(defn now
  "The current instant as ISO-8601 UTC text."
  ^String []
  (str (Instant/now)))

;; ---------------------------------------------------------------- git, without git

(def ^:private ^:dynamic *consulted*
  "While git-info reads a checkout: a volatile vector of every file it reads or
  looks for, whose stamps then tell whether a later call may reuse the answer."
  nil)

(defn- consult
  "f, noted as consulted (see `*consulted*`)."
  ^File [^File f]
  (when-let [c *consulted*] (vswap! c conj f))
  f)

(defn- slurp-trim [^File f] (when (.isFile (consult f)) (str/trim (slurp f))))

(defn- git-dir
  "The git directory of the checkout holding dir (a .git directory, or the one a
  .git file of a worktree points to), or nil."
  ^File [^File dir]
  (loop [d (some-> dir .getAbsoluteFile)]
    (when d
      (let [g (consult (io/file d ".git"))]
        (cond (.isDirectory g) g
              (.isFile g) (when-let [[_ p] (re-find #"gitdir:\s*(\S.*)" (slurp g))]
                            (let [f (io/file (str/trim p))]
                              (if (.isAbsolute f) f (io/file d (str/trim p)))))
              :else (recur (.getParentFile d)))))))

(defn- resolve-ref
  "The commit a ref (refs/heads/x) names in git directory gd or its common
  directory: a loose ref file, else packed-refs."
  [^File gd ^String ref]
  (let [common (if-let [c (slurp-trim (io/file gd "commondir"))]
                 (let [f (io/file c)] (if (.isAbsolute f) f (io/file gd c)))
                 gd)]
    (or (some #(slurp-trim (io/file % ref)) [gd common])
        (some (fn [^File d]
                (let [f (consult (io/file d "packed-refs"))]
                  (when (.isFile f)
                    (some (fn [line] (let [[sha r] (str/split line #" " 2)] (when (= r ref) sha)))
                          (str/split-lines (slurp f))))))
              [gd common]))))

(defn- read-git-info [dir]
  (try
    (when-let [gd (git-dir (io/file dir))]
      (let [head (slurp-trim (io/file gd "HEAD"))
            [_ ref] (when head (re-matches #"ref:\s*(\S+)" head))
            commit (if ref (resolve-ref gd ref) head)]
        (when (and commit (re-matches #"[0-9a-f]{40}" commit))
          {:commit commit :branch (some-> ref (str/replace #"^refs/heads/" ""))})))
    (catch Exception _ nil)))

(defn- stamp
  "What identifies the content of file f without reading it: [file key (device
  and inode) modification time in ms, size]; [file key :directory] for a
  directory (what it holds is stamped file by file); nil when f does not exist.
  present? says whether f existed at the last look: a missing file is looked
  for with File.exists (readAttributes would throw, which costs more)."
  ([^File f] (stamp f (.exists f)))
  ([^File f present?]
   (try (when (or present? (.exists f))
          (let [a (Files/readAttributes (.toPath f) BasicFileAttributes ^"[Ljava.nio.file.LinkOption;" (make-array LinkOption 0))]
            (if (.isDirectory a)
              [(.fileKey a) :directory]
              [(.fileKey a) (.toMillis (.lastModifiedTime a)) (.size a)])))
        (catch Exception _ nil))))

(def racy-ms
  "A git answer is reused only when every file it was read from had been left
  alone for this long when it was read: a file changed again within the same
  clock tick could keep its stamp (git's own \"racy git\" rule). git writes
  refs and HEAD to a new file that replaces the old, so their stamps change."
  2000)

(def ^:private git-cache
  "{dir {:stamps [[File stamp] ...] :info answer}} of answers that may be reused."
  (atom {}))

(def ^:private source-dir
  (delay (let [u (io/resource "dlnlab/provenance.clj")]
           (cond (nil? u) (io/file (System/getProperty "user.dir"))
                 (= "file" (.getProtocol u)) (.getParentFile (io/file (.toURI u)))
                 ;; jar:file:/path/x.jar!/dlnlab/provenance.clj: where the jar lies
                 :else (some-> (re-find #"^jar:(file:[^!]+)!" (str u)) second
                               java.net.URI. io/file .getParentFile)))))

(defn git-info
  "{:commit :branch} of the git checkout holding dir (default: the directory
  the dlnlab sources or their jar were loaded from), read from
  the files under .git; nil outside a checkout or when .git cannot be read.
  The answer is kept per dir and given again while none of the files it came
  from (nor the .git it looked for on the way) has changed, by their stamps
  (see `racy-ms`), so a run pays a few file-status calls, not the reads."
  ([] (git-info @source-dir))
  ([dir]
   (let [k (str dir)
         fresh? (fn [{:keys [stamps]}] (every? (fn [[f s]] (= s (stamp f (some? s)))) stamps))]
     (if-let [hit (let [c (get @git-cache k)] (when (and c (fresh? c)) c))]
       (:info hit)
       (let [read-at (System/currentTimeMillis)
             seen (volatile! [])
             info (binding [*consulted* seen] (read-git-info dir))
             stamps (mapv (fn [f] [f (stamp f)]) (distinct @seen))]
         (if (every? (fn [[_ [_ t]]] (or (not (int? t)) (< (long t) (- read-at (long racy-ms))))) stamps)
           (swap! git-cache assoc k {:stamps stamps :info info})
           (swap! git-cache dissoc k))
         info)))))

;; ---------------------------------------------------------------- the machine

(defn- host-name ^String []
  (try (.getHostName (InetAddress/getLocalHost)) (catch Exception _ "unknown-host")))

(defn- cpu-model ^String []
  ;; java.nio, not slurp: some kernels' /proc refuses FileInputStream.available
  (or (try (some (fn [^String line] (second (re-matches #"model name\s*:\s*(.*)" line)))
                 (Files/readAllLines (.toPath (io/file "/proc/cpuinfo"))))
           (catch Exception _ nil))
      (System/getProperty "os.arch")))

(defn openblas-version
  "The version of the org.bytedeco openblas artifact on the classpath (from its
  pom.properties, e.g. \"0.3.31-1.5.13\"), or nil."
  []
  (some->> (io/resource "META-INF/maven/org.bytedeco/openblas/pom.properties")
           slurp
           (re-find #"(?m)^version=(.+)$")
           second
           str/trim))

(def ^:private machine
  (delay
    (Blas/init)
    {:version version
     :host (host-name)
     :cpu {:model (cpu-model) :count (.availableProcessors (Runtime/getRuntime))}
     :jvm {:version (System/getProperty "java.version")
           :vendor (System/getProperty "java.vendor")
           :vm (System/getProperty "java.vm.name")}
     :os {:name (System/getProperty "os.name") :version (System/getProperty "os.version")
          :arch (System/getProperty "os.arch")}
     :blas {:openblas (openblas-version) :threads (openblas/blas_get_num_threads)}}))

(defn environment
  "What this process runs on: {:version :git :host :cpu :jvm :os :blas} (:git
  only in a checkout). The machine is described once per process; the commit
  is looked up at every call (`git-info`: reread when a file under .git has
  changed), so a REPL session that commits records the current one."
  []
  (let [g (git-info)] (cond-> @machine g (assoc :git g))))

;; ---------------------------------------------------------------- input files

(def ^:private hash-cache (atom {}))

(defn sha256
  "The SHA-256 of the file at path as 64 lower-case hex digits."
  ^String [path]
  (let [md (MessageDigest/getInstance "SHA-256")
        buf (byte-array 65536)]
    (with-open [in (FileInputStream. (io/file path))]
      (loop []
        (let [n (.read in buf)]
          (when (pos? n) (.update md buf 0 n) (recur)))))
    (apply str (map #(format "%02x" (bit-and (long %) 0xff)) (.digest md)))))

(defn input-file
  "{:file path :sha256 :bytes} of a readable file, nil otherwise (hashes cached
  by path, size and modification time)."
  [path]
  (let [f (io/file (str path))]
    (when (and (.isFile f) (.canRead f))
      (let [k [(.getAbsolutePath f) (.length f) (.lastModified f)]]
        (or (get @hash-cache k)
            (let [v {:file (str path) :sha256 (sha256 f) :bytes (.length f)}]
              (swap! hash-cache assoc k v)
              v))))))

(defn data-files
  "The file names an experiment (or sweep) map names: every string value of a
  key ending in -file, at any depth, in a stable order without repeats."
  [x]
  (let [found (volatile! [])]
    (letfn [(walk [v]
              (cond (map? v) (doseq [[k e] v]
                               (if (and (keyword? k) (str/ends-with? (name k) "-file") (string? e))
                                 (vswap! found conj e)
                                 (walk e)))
                    (coll? v) (run! walk v)
                    :else nil))]
      (walk x))
    (vec (distinct @found))))

(defn inputs
  "The :inputs entries of the files, then of the data files experiment names,
  each once; unreadable files are left out."
  [files experiment]
  (->> (concat files (data-files experiment))
       (map str)
       distinct
       (keep input-file)
       vec))

;; ---------------------------------------------------------------- a command's invocation

(def ^:dynamic *invocation*
  "The command that is running, bound by the CLI: {:command-line [args]
  :inputs [{:file :sha256 :bytes}]} (see `invocation`), or nil."
  nil)

(defn invocation
  "The invocation of a command with arguments args that reads files (the
  experiment or sweep file; names that are not readable files are left out):
  {:command-line [args] :inputs [...]}, hashed now, before the files are used."
  [args files]
  {:command-line (vec args) :inputs (inputs files nil)})

;; ---------------------------------------------------------------- assembled

(defn collect
  "The provenance map (see the namespace docstring) of a piece of work that
  started at started (ISO text, default now) and, when ended is given, ended
  then; invocation (default `*invocation*`) adds the command line and its input
  files, experiment adds the data files it names."
  [{:keys [started ended invocation experiment]}]
  (let [inv (or invocation *invocation*)
        given (set (map :file (:inputs inv)))
        ins (into (vec (:inputs inv)) (remove #(given (:file %)) (inputs nil experiment)))]
    (cond-> (assoc (environment) :started (or started (now)))
      ended (assoc :ended ended)
      (:command-line inv) (assoc :command-line (:command-line inv))
      (seq ins) (assoc :inputs ins))))

(def run-specific-keys
  "The provenance keys that differ between two runs of the same experiment on
  the same machine: the times, the command line and the input files."
  [:started :ended :elapsed-ms :command-line :inputs])
