(ns user
  "Where a dlnlab REPL starts: `bin/dlnlab repl`, `lein repl` (the :repl
  profile) and `clj -M:repl` put dev/ on the classpath, so Clojure loads this
  namespace before the first prompt. dlnlab.core is aliased as `dln`:

    (def net (dln/network {:model {:kind :chain :depth 3 :width 4}
                           :task {:kind :matrix-factorization :singular-values [3.0 1.0] :dims [4 4]}}))
    (dln/loss net)
    (get-in (dln/describe) [:optimizer :kinds :gd])

  Not part of the library (dev/ is on no build's source path)."
  (:require [clojure.java.io :as io]
            [dlnlab.core :as dln]))

(defn banner
  "Prints one line to *err* saying what this REPL offers. Returns nil."
  []
  (binding [*out* *err*]
    (println (str "dlnlab REPL on Clojure " (clojure-version) ": dlnlab.core is dln, e.g. (keys (dln/describe))."
                  (when-let [s (System/getProperty "clojure.server.repl")]
                    (str " Socket REPL: " (re-find #":port \d+" s) " on 127.0.0.1."))
                  " Leave with Ctrl-D.")))
  (flush))

(defn start-nrepl!
  "Starts an nREPL server on 127.0.0.1:port in this JVM and writes the port to
  the file named by the system property dlnlab.nrepl-port-file (bin/dlnlab sets
  it to the project's .nrepl-port, where CIDER and Calva look), deleting that
  file when the JVM exits. Needs nREPL on the classpath (bin/dlnlab adds
  Debian's /usr/share/java/nrepl.jar). Returns the server, or nil after saying
  on *err* how to get nREPL when it is missing."
  [port]
  (if-let [start-server (try (requiring-resolve 'nrepl.server/start-server)
                             (catch java.io.FileNotFoundException _ nil))]
    (let [server (start-server :bind "127.0.0.1" :port (long port))]
      (when-let [f (some-> (System/getProperty "dlnlab.nrepl-port-file") io/file)]
        (spit f (str port))
        (.deleteOnExit ^java.io.File f))
      (binding [*out* *err*]
        (println (str "nREPL server on 127.0.0.1:" port
                      " (connect your editor to it; :repl/quit here stops it too).")))
      server)
    (binding [*out* *err*]
      (println "nREPL is not on the classpath: on Debian, apt-get install libnrepl-clojure;"
               "elsewhere use lein repl or clj -M:nrepl (see README.md)."))))
