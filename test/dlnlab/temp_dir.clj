(ns dlnlab.temp-dir
  "A fresh temporary directory per test, deleted afterwards (also when read-only
  parts were made inside it), for the tests that write files."
  (:require [clojure.java.io :as io])
  (:import [java.io File]
           [java.nio.file Files]
           [java.nio.file.attribute FileAttribute]))

(set! *warn-on-reflection* true)

(def ^:dynamic ^File *dir*
  "The current test's temporary directory (bound by `fixture`)."
  nil)

(defn delete-tree
  "Deletes f and everything below it."
  [^File f]
  (when (.isDirectory f) (doseq [c (.listFiles f)] (delete-tree c)))
  (.setWritable f true)
  (.delete f))

(defn fixture
  "A clojure.test :each fixture binding *dir* to a new directory named
  prefix..., deleted after the test."
  [prefix]
  (fn [t]
    (let [d (.toFile (Files/createTempDirectory prefix (make-array FileAttribute 0)))]
      (try (binding [*dir* d] (t)) (finally (delete-tree d))))))

(defn path
  "The path of parts inside *dir*, as a string."
  ^String [& parts]
  (str (apply io/file *dir* parts)))
