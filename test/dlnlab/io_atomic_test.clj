(ns dlnlab.io-atomic-test
  "Where an atomic write puts its temporary file: in the target's own directory,
  so the final rename stays on one filesystem (a rename across filesystems is a
  copy, which a reader can see half done)."
  (:require [clojure.java.io :as io]
            [clojure.test :refer [deftest is]]
            [dlnlab.io :as dio])
  (:import [java.io File Writer]
           [java.nio.file Files]
           [java.nio.file.attribute FileAttribute]))

(defn- delete-tree [^File f]
  (doseq [^File c (reverse (file-seq f))] (.delete c)))

(deftest the-temporary-file-sits-beside-the-target
  (let [dir (.toFile (Files/createTempDirectory "dlnlab-atomic" (make-array FileAttribute 0)))
        target (io/file dir "sub" "out.edn")
        during (atom nil)]
    (try
      (dio/write-atomically! target (fn [^Writer w]
                                      (reset! during (vec (.list (io/file dir "sub"))))
                                      (.write w "{:a 1}")))
      (is (= 1 (count @during)) (str "one temporary file in the target's directory while writing: " @during))
      (is (re-matches #"\.out\.edn\..*\.tmp" (str (first @during))) (str @during))
      (is (= "{:a 1}" (slurp target)))
      (is (= ["out.edn"] (vec (.list (io/file dir "sub")))) "nothing left beside the target")
      (finally (delete-tree dir)))))
