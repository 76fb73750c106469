(ns dlnlab.build-test
  "The two builds agree: every Maven dependency deps.edn declares (Clojure CLI
  users) is on the classpath Leiningen built from project.clj for this test run,
  at the same version and classifier."
  (:require [clojure.edn :as edn]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]))

(set! *warn-on-reflection* true)

(defn- jar-name
  "The file name Maven gives lib (a symbol group/artifact, optionally
  group/artifact$classifier) at version."
  [lib version]
  (let [[artifact classifier] (str/split (name lib) #"\$")]
    (str artifact "-" version (when classifier (str "-" classifier)) ".jar")))

(deftest deps-edn-matches-the-leiningen-classpath
  (let [deps (edn/read-string (slurp "deps.edn"))
        jars (set (map #(last (str/split % #"/")) (str/split (System/getProperty "java.class.path") #":")))
        declared (concat (:deps deps) (get-in deps [:aliases :test :extra-deps]))]
    (testing "every dependency of deps.edn and of its :test alias"
      (is (<= 7 (count declared)))
      (doseq [[lib {:keys [mvn/version]}] declared]
        (is (some? version) (str lib " has a :mvn/version"))
        (is (contains? jars (jar-name lib version))
            (str lib " " version ": project.clj puts a different version (or none) on the classpath"))))
    (testing "the source paths agree too"
      (is (= ["src" "resources"] (remove #{"target/classes"} (:paths deps)))))))
