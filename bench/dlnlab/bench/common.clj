(ns dlnlab.bench.common
  "Helpers the benchmarks share: medians, timing, the PyTorch peer's process and
  the BLAS shim that lets it run on dlnlab's own OpenBLAS, and the machine's load."
  (:require [clojure.java.io :as io]
            [clojure.string :as str])
  (:import [dlnlab.kernel Blas]
           [java.io File]
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
