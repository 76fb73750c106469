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
  (let [nss (test-namespaces)]
    (apply require nss)
    (let [{:keys [fail error]} (apply t/run-tests nss)]
      (shutdown-agents)
      (System/exit (if (zero? (+ (long fail) (long error))) 0 1)))))
