(ns build
  "tools.build tasks for Clojure CLI users: `clj -T:build compile-java`, `clj -T:build uber`."
  (:require [clojure.tools.build.api :as b]))

(def class-dir "target/classes")
(def basis (delay (b/create-basis {:project "deps.edn"})))

(defn compile-java
  "Compiles java-src into target/classes with --release 17; with :spark true
  (clj -T:build compile-java :spark true) also spark/java, the Spark engine's
  glue, against the :spark alias."
  [{:keys [spark]}]
  (b/javac {:src-dirs (if spark ["java-src" "spark/java"] ["java-src"])
            :class-dir class-dir
            :basis (if spark (b/create-basis {:project "deps.edn" :aliases [:spark]}) @basis)
            :javac-opts ["--release" "17" "-Xlint:all,-options,-path"]}))

(defn uber
  "Builds target/dlnlab-standalone.jar with the CLI as its main class."
  [_]
  (b/delete {:path class-dir})
  (compile-java nil)
  (b/copy-dir {:src-dirs ["src" "resources"] :target-dir class-dir})
  (b/compile-clj {:basis @basis :ns-compile '[dlnlab.cli] :class-dir class-dir})
  (b/uber {:class-dir class-dir :uber-file "target/dlnlab-standalone.jar"
           :basis @basis :main 'dlnlab.cli}))
