(ns dlnlab.store.lock
  "Directory locks and the leftovers of killed writers, for dlnlab.store.

  A directory being written is claimed by a lock file beside it
  (.<name>.lock, created atomically, holding pid, host and start time); a
  second writer gets an ex-info of kind :conflict naming the holder. A lock
  whose process is gone (same host) is taken over. What a killed writer leaves
  (temporary files of dlnlab.io, staging and set-aside directories, stale
  locks) is recognized by `leftover?` and removed by `clean-leftovers!`.

  Functions: `lock!`, `unlock!`, `with-lock`, `lock-file`, `refuse-if-held!`,
  `leftover?`, `clean-leftovers!`, `delete-tree!`."
  (:require [clojure.java.io :as io]
            [dlnlab.error :as error]
            [dlnlab.io :as dio])
  (:import [java.io File]
           [java.net InetAddress]
           [java.nio.file FileAlreadyExistsException Files]
           [java.nio.file.attribute FileAttribute]
           [java.time Instant]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- canonical ^File [dir] (.getCanonicalFile (.getAbsoluteFile (io/file dir))))

(defn delete-tree!
  "Deletes f and, when it is a directory, everything below it. Returns true when
  f is gone."
  [^File f]
  (when (.isDirectory f) (doseq [c (.listFiles f)] (delete-tree! c)))
  (.delete f))

;; ---------------------------------------------------------------- locks

(defn- host-name ^String []
  (try (.getHostName (InetAddress/getLocalHost)) (catch Exception _ "unknown-host")))

(defn lock-file
  "The lock of dir: .<name>.lock beside it (inside the parent, so it survives
  the rename that publishes dir)."
  ^File [dir]
  (let [d (canonical dir)
        parent (.getParentFile d)]
    (when-not parent
      (error/fail! :unwritable (str "Cannot lock " dir ": it has no parent directory.")
                   {:path [:out] :value (str dir) :allowed "a directory below the filesystem root"}))
    (io/file parent (str "." (.getName d) ".lock"))))

(defn- read-holder [^File f]
  (try (let [v (dio/read-edn-file f)] (when (map? v) v)) (catch Exception _ nil)))

(defn- file-age-ms ^long [^File f]
  (- (System/currentTimeMillis) (.lastModified f)))

(defn- stale?
  "True when the lock's holder is known to be gone: a process of this host that
  no longer runs, or a lock left empty or unreadable for over a minute."
  [^File f holder]
  (if holder
    (and (= (:host holder) (host-name))
         (integer? (:pid holder))
         (not (.isPresent (java.lang.ProcessHandle/of (long (:pid holder))))))
    (> (file-age-ms f) 60000)))

(defn- create-with-content!
  "Creates f holding text, atomically: false when f exists already. The text is
  written to a temporary file first and hard-linked to f, so f never exists
  empty (where links are not supported, f is created and then written)."
  [^File f ^String text]
  (let [tmp (File/createTempFile (str "." (.getName f) ".") ".tmp" (.getParentFile f))]
    (try
      (dio/write-atomically! tmp text)
      (try (Files/createLink (.toPath f) (.toPath tmp)) true
           (catch FileAlreadyExistsException _ false)
           (catch UnsupportedOperationException _
             (try (Files/createFile (.toPath f) (make-array FileAttribute 0))
                  (spit f text) true
                  (catch FileAlreadyExistsException _ false))))
      (finally (.delete tmp)))))

(defn lock!
  "Claims directory dir for this process: creates the lock file .<name>.lock
  beside dir atomically, holding {:pid :host :since :dir}. A lock whose holder
  is gone (see the namespace docstring) is taken over. Returns the lock, for
  `unlock!`. Throws ex-info of kind :conflict naming the holder when another
  writer holds dir."
  [dir]
  (let [f (lock-file dir)
        me {:pid (.pid (java.lang.ProcessHandle/current)) :host (host-name)
            :since (str (Instant/now)) :dir (str (canonical dir))}]
    (.mkdirs (.getParentFile f))
    (loop [attempt 0]
      (if (create-with-content! f (dio/edn-str me))
        {:file f :holder me}
        (let [holder (read-holder f)]
          (if (and (< attempt 3) (or (not (.exists f)) (stale? f holder)))
            (let [aside (io/file (.getParentFile f) (str (.getName f) ".stale-" (System/nanoTime)))]
              ;; only one taker wins the rename; the others retry and see its lock
              (when (.renameTo f aside) (.delete aside))
              (recur (inc attempt)))
            (error/fail! :conflict
                         (str dir " is being written by another dlnlab process"
                              (if holder
                                (str " (pid " (:pid holder) " on " (:host holder) ", since " (:since holder) ")")
                                " (its lock is being created)")
                              "; wait for it to finish or choose another output directory. If that process is gone, delete "
                              f ".")
                         {:path [:out] :value (str dir) :allowed "a directory no other process is writing"
                          :holder holder :lock (str f)})))))))

(defn unlock!
  "Releases a lock from `lock!` (when it is still this process's). Returns nil."
  [{:keys [^File file holder]}]
  (when (and file (= holder (read-holder file)))
    (.delete file))
  nil)

(defmacro with-lock
  "Runs body holding the lock of dir (see `lock!`), releasing it afterwards."
  [dir & body]
  `(let [lock# (lock! ~dir)]
     (try ~@body (finally (unlock! lock#)))))

;; ---------------------------------------------------------------- temporary files

(defn leftover?
  "True for the name of something a killed writer leaves: a temporary file of
  dlnlab.io, a staging or set-aside directory of `write-run!`, a trajectory
  being streamed, a stale lock."
  [^String nm]
  (boolean (or (dio/temp-file? nm)
               (re-matches #"\..+\.(staging|old)-[0-9]+" nm)
               (re-matches #"\..+\.stream-[0-9]+\.csv" nm)
               (re-matches #"\..+\.lock\.stale-[0-9]+" nm))))

(defn clean-leftovers!
  "Deletes what killed writers left in dir and in each of its subdirectories
  one level down (see `leftover?`). Returns the names deleted."
  [dir]
  (let [d (io/file dir)
        here (fn [^File dir] (filter #(leftover? (.getName ^File %)) (.listFiles dir)))
        found (concat (here d) (mapcat here (filter #(.isDirectory ^File %) (.listFiles d))))]
    (doseq [f found] (delete-tree! f))
    (mapv #(.getName ^File %) found)))

(defn- live-lock?
  "True when lock file f exists and its holder is not known to be gone."
  [^File f]
  (and (.exists f) (not (stale? f (read-holder f)))))

(defn refuse-if-held!
  "Throws ex-info of kind :conflict when lock file f (of directory dir, held by
  what: \"an unsharded sweep\", \"shard 2-of-4\") is held by a live writer."
  [^File f what dir]
  (when (live-lock? f)
    (let [h (read-holder f)]
      (error/fail! :conflict
                   (str dir " is being written by " what (when h (str " (pid " (:pid h) " on " (:host h) ")"))
                        "; wait for it to finish (a later `dlnlab sweep` of the same file or --merge writes the tables).")
                   {:path [:out] :value (str dir) :allowed "a directory no other process is writing" :lock (str f)}))))
