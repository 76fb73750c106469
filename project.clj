(defproject org.dlnlab/dlnlab "0.1.0-SNAPSHOT"
  :description "Workbench for the training dynamics of deep linear networks: exact Hessians, per-mode SDEs, experiments as data."
  :url "https://example.invalid/dlnlab"
  :license {:name "MIT" :url "https://opensource.org/licenses/MIT"}
  ;; Only Maven Central is reachable; Clojars is not. Leiningen's own "central"
  ;; entry is the only repository.
  :repositories ^:replace [~(first leiningen.core.project/default-repositories)]
  :plugin-repositories ^:replace [~(first leiningen.core.project/default-repositories)]
  :dependencies [[org.clojure/clojure "1.12.4"]
                 [org.bytedeco/openblas "0.3.31-1.5.13"]
                 [org.bytedeco/openblas "0.3.31-1.5.13" :classifier "linux-x86_64"]
                 [org.bytedeco/javacpp "1.5.13"]
                 [org.bytedeco/javacpp "1.5.13" :classifier "linux-x86_64"]
                 [org.clojure/data.json "2.5.1"]
                 [org.clojure/data.csv "1.1.0"]
                 [org.knowm.xchart/xchart "3.8.8" :exclusions [org.junit.jupiter/junit-jupiter com.madgag/animated-gif-lib]]]
  :source-paths ["src"]
  :java-source-paths ["java-src"]
  :javac-options ["--release" "17" "-Xlint:all,-options,-path" "-Werror"]
  :test-paths ["test"]
  :resource-paths ["resources"]
  :global-vars {*warn-on-reflection* true}
  :jvm-opts ["-Xss8m" "-XX:+UseParallelGC"]
  :main dlnlab.cli
  :uberjar-name "dlnlab-standalone.jar"
  :profiles {;; Leiningen's built-in :base profile pulls nrepl from Clojars.
             :base {}
             :dev {:dependencies [[org.clojure/test.check "1.1.3"]]
                   ;; studies/ (the paper reproductions) is not part of the
                   ;; library jar; it is on the classpath for development,
                   ;; tests and the standalone jar (`dlnlab reproduce`)
                   :source-paths ["bench" "studies"]
                   ;; DLNLAB_TEST_SEED=n fixes the seed of every property test
                   ;; (.ci/run sets one, so CI is reproducible); unset, each run
                   ;; draws fresh cases and a failure prints its seed
                   :injections [(when-let [s (System/getenv "DLNLAB_TEST_SEED")]
                                  (require 'clojure.test.check.clojure-test)
                                  (alter-var-root (resolve 'clojure.test.check.clojure-test/*default-opts*)
                                                  assoc :seed (Long/parseLong s)))]}
             ;; The Spark engine of sweeps (dlnlab.spark, issue 15): Spark 4 and
             ;; its dependencies stay out of the library and the default jar.
             ;;   lein with-profile +spark test :only dlnlab.spark-test
             ;;   lein with-profile +spark run -m dlnlab.cli sweep FILE --engine spark [--master local[4]]
             ;; Java 17 needs the --add-opens below (Spark's own launcher adds them too).
             :spark {:dependencies [[org.apache.spark/spark-core_2.13 "4.0.1"]]
                     :source-paths ["spark/src"]
                     :java-source-paths ["spark/java"]
                     :test-paths ["spark/test"]
                     :uberjar-name "dlnlab-spark.jar"
                     :jvm-opts ~(vec (for [p ["java.lang" "java.lang.invoke" "java.io" "java.net" "java.nio" "java.util"
                                             "java.util.concurrent" "sun.nio.ch" "sun.nio.cs" "sun.security.action"
                                             "sun.util.calendar"]]
                                       (str "--add-opens=java.base/" p "=ALL-UNNAMED")))}
             :uberjar {:aot [dlnlab.cli]
                       :source-paths ["studies"]}
             ;; `lein repl` (and CIDER's jack-in, Calva, Cursive): an nREPL server
             ;; in the namespace user of dev/user.clj (dlnlab.core as dln). nREPL
             ;; comes from Debian's Maven tree when libnrepl-clojure is installed
             ;; (offline), else from Clojars; nothing else needs either.
             :repl {:source-paths ["dev"]
                    :repositories ^:replace [~(first leiningen.core.project/default-repositories)
                                             ["debian" {:url "file:///usr/share/maven-repo" :snapshots false :checksum :ignore}]
                                             ["clojars" {:url "https://repo.clojars.org/"}]]
                    :dependencies [[nrepl/nrepl "1.0.0"]]
                    :repl-options {:init-ns user}}}
  :test-selectors {:default (complement :slow)
                   :slow :slow
                   :all (constantly true)})
