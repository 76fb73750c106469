(ns dlnlab.io
  "Reading experiments and writing results: EDN read with clojure.edn only, files
  written atomically (temp file in the same directory, then an atomic move)."
  (:require [clojure.edn :as edn]
            [clojure.java.io :as io])
  (:import [java.io File PushbackReader]
           [java.nio.file AtomicMoveNotSupportedException Files StandardCopyOption]))

(set! *warn-on-reflection* true)

(defn read-edn-file
  "Reads one EDN value from path with clojure.edn. Throws ex-info naming the file
  and the problem when it is missing, unreadable, empty, truncated or holds more
  than one form."
  [path]
  (let [f (io/file path)]
    (when-not (.exists f)
      (throw (ex-info (str "File not found: " path) {:path path :problem :not-found})))
    (when-not (.canRead f)
      (throw (ex-info (str "File is not readable: " path) {:path path :problem :unreadable})))
    (with-open [r (PushbackReader. (io/reader f))]
      (let [eof (Object.)
            v (try (edn/read {:eof eof} r)
                   (catch Exception e
                     (throw (ex-info (str "Cannot read " path " as EDN: " (.getMessage e)
                                          " (is the file truncated or missing a closing bracket?)")
                                     {:path path :problem :malformed} e))))]
        (when (identical? v eof)
          (throw (ex-info (str "File " path " is empty; expected one EDN map.") {:path path :problem :empty})))
        (let [more (try (edn/read {:eof eof} r) (catch Exception _ ::junk))]
          (when-not (identical? more eof)
            (throw (ex-info (str "File " path " holds more than one EDN form; expected exactly one map.")
                            {:path path :problem :trailing-forms}))))
        v))))

(defn write-atomically!
  "Writes content (a string) to path: into a temporary file beside it, then an
  atomic rename, so readers never see a half-written file. Creates parent
  directories. Throws ex-info naming the path when it cannot be written."
  [path ^String content]
  (let [target (.getAbsoluteFile (io/file path))
        dir (.getParentFile target)]
    (try
      (when dir (.mkdirs dir))
      (let [tmp (File/createTempFile (str "." (.getName target) ".") ".tmp" dir)]
        (try
          (spit tmp content)
          (try
            (Files/move (.toPath tmp) (.toPath target)
                        (into-array StandardCopyOption [StandardCopyOption/ATOMIC_MOVE
                                                        StandardCopyOption/REPLACE_EXISTING]))
            (catch AtomicMoveNotSupportedException _
              (Files/move (.toPath tmp) (.toPath target)
                          (into-array StandardCopyOption [StandardCopyOption/REPLACE_EXISTING]))))
          (finally (.delete tmp))))
      (catch java.io.IOException e
        (throw (ex-info (str "Cannot write " path ": " (.getMessage e)
                             " (check that the directory exists and is writable)")
                        {:path path :problem :unwritable} e))))
    path))
