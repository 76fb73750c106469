(ns dlnlab.test-runner
  "Runs every dlnlab test namespace under test/ for Clojure CLI users
  (`clj -M:test`); exits non-zero on any failure. Leiningen users run `lein test`."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :as t]))

(defn- test-namespaces []
  (->> (file-seq (io/file "test"))
       (map #(.getPath ^java.io.File %))
       (filter #(str/ends-with? % "_test.clj"))
       (map #(-> % (subs 5) (str/replace #"\.clj$" "") (str/replace "/" ".") (str/replace "_" "-") symbol))
       sort))

(defn -main [& _]
  ;; as project.clj's :dev :injections: DLNLAB_TEST_SEED fixes the property tests' seed
  (when-let [s (System/getenv "DLNLAB_TEST_SEED")]
    (require 'clojure.test.check.clojure-test)
    (alter-var-root (resolve 'clojure.test.check.clojure-test/*default-opts*) assoc :seed (Long/parseLong s)))
  (let [nss (test-namespaces)]
    (apply require nss)
    (let [{:keys [fail error]} (apply t/run-tests nss)]
      (shutdown-agents)
      (System/exit (if (zero? (+ (long fail) (long error))) 0 1)))))
