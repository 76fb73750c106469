(ns dlnlab.repl-test
  "bin/dlnlab repl as a user meets it: a child process started through the
  launcher (on this test run's classpath, through DLNLAB_CLASSPATH, so nothing
  is built), forms piped into it, its answers read back; the socket REPL it
  opens with --socket answers over 127.0.0.1; --nrepl answers an nREPL eval
  when Debian's nREPL jar is installed and says how to get nREPL when not."
  (:require [clojure.edn]
            [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.core :as dln])
  (:import [java.io InputStream OutputStream Writer]
           [java.net ServerSocket Socket]
           [java.nio.charset StandardCharsets]
           [java.util.concurrent TimeUnit]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def ^:private timeout-ms
  "How long to wait for an answer: a child JVM loads dlnlab from source."
  90000)

(def ^:private zero-network
  "Depth-2 chain, all weights zero, target singular values 3 and 1: the loss
  is 1/2 ||M||_F^2 = (9 + 1)/2 = 5 exactly (doc/science.md §2)."
  {:seed 1
   :model {:kind :chain :depth 2 :width 3
           :init {:kind :given :weights [[(vec (repeat 3 [0.0 0.0 0.0])) (vec (repeat 3 [0.0 0.0 0.0]))]]}}
   :task {:kind :matrix-factorization :singular-values [3.0 1.0] :dims [3 3]}})

(def ^:private random-network
  {:seed 3
   :model {:kind :multi-pathway :pathways 2 :depth 3 :width 4 :init {:kind :gaussian :std 0.3}}
   :task {:kind :matrix-factorization :singular-values [3.0 1.0] :dims [4 4]}})

(defn- free-port ^long []
  (with-open [s (ServerSocket. 0)] (.getLocalPort s)))

(defn- collect!
  "Copies everything the stream yields into a StringBuffer, on a daemon thread,
  until it ends or is closed; returns the buffer."
  [^InputStream in]
  (let [buf (StringBuffer.)
        t (Thread. (fn []
                     (try
                       (with-open [r (io/reader in :encoding "UTF-8")]
                         (loop []
                           (let [c (.read r)]
                             (when-not (neg? c)
                               (.append buf (char c))
                               (recur)))))
                       ;; the test closed the socket or the process ended
                       (catch java.io.IOException _ nil))))]
    (.setDaemon t true)
    (.start t)
    buf))

(defn- wait-for
  "Polls buf until re matches its text; returns the match, or nil after timeout-ms."
  [^StringBuffer buf re]
  (let [deadline (+ (System/currentTimeMillis) (long timeout-ms))]
    (loop []
      (or (re-find re (str buf))
          (when (< (System/currentTimeMillis) deadline)
            (Thread/sleep 100)
            (recur))))))

(defn- launch
  "Starts bin/dlnlab with args and extra environment entries; returns
  {:process :in (a Writer) :out :err (StringBuffers)}."
  [args env]
  (let [pb (ProcessBuilder. ^java.util.List (into ["bin/dlnlab"] args))
        e (.environment pb)]
    (.put e "DLNLAB_CLASSPATH" (System/getProperty "java.class.path"))
    (doseq [[k v] env] (.put e k v))
    (let [p (.start pb)]
      {:process p
       :in (io/writer (.getOutputStream p) :encoding "UTF-8")
       :out (collect! (.getInputStream p))
       :err (collect! (.getErrorStream p))})))

(defn- send! [^Writer w & forms]
  (doseq [f forms] (.write w (str f "\n")))
  (.flush w))

(defn- finish!
  "Closes the REPL's stdin (end of input ends clojure.main's REPL) and returns
  its exit code, destroying it if it does not end within timeout-ms."
  [{:keys [^Process process ^Writer in]}]
  (.close in)
  (if (.waitFor process (long timeout-ms) TimeUnit/MILLISECONDS)
    (.exitValue process)
    (do (.destroyForcibly process) :timed-out)))

(defn- quoted [re-text] (java.util.regex.Pattern/quote re-text))

(deftest repl-answers-piped-forms-and-its-socket-repl
  (let [port (free-port)
        repl (launch ["repl" "--socket" (str port)] {})
        expected (pr-str (dln/loss (dln/network random-network)))]
    (try
      (testing "forms piped into bin/dlnlab repl are evaluated in user, with dlnlab.core as dln"
        (send! (:in repl)
               (list 'dln/loss (list 'dln/network zero-network))
               (list 'dln/loss (list 'dln/network random-network))
               '(str *ns* " " (ns-name (get (ns-aliases *ns*) 'dln))))
        (is (wait-for (:out repl) #"user=> 5\.0\R") (str "stdout: " (:out repl) "\nstderr: " (:err repl)))
        (is (wait-for (:out repl) (re-pattern (str "user=> " (quoted expected) "\\R")))
            "the same loss as this JVM computes for the same experiment")
        (is (wait-for (:out repl) #"user=> \"user dlnlab\.core\"")))
      (testing "the banner goes to stderr and names the socket port"
        (is (wait-for (:err repl) (re-pattern (str "Socket REPL: :port " port " on 127\\.0\\.0\\.1")))))
      (testing "the socket REPL answers over 127.0.0.1, with the same alias"
        (with-open [s (Socket. "127.0.0.1" (int port))]
          (let [out (collect! (.getInputStream s))
                w (io/writer (.getOutputStream s) :encoding "UTF-8")]
            (send! w (list 'dln/loss (list 'dln/network zero-network)) '(* 6 7))
            (is (wait-for out #"5\.0\R") (str "socket said: " out))
            (is (wait-for out #"42\R"))
            (send! w :repl/quit))))
      (testing "end of input ends the REPL cleanly"
        (is (= 0 (finish! repl))))
      (finally (.destroyForcibly ^Process (:process repl))))))

(defn- bencode
  "Bencodes a map of strings (the nREPL wire format) as bytes."
  ^bytes [m]
  (let [b (fn [^String s] (let [n (alength (.getBytes s StandardCharsets/UTF_8))] (str n ":" s)))]
    (.getBytes (str "d" (apply str (mapcat (fn [[k v]] [(b k) (b v)]) m)) "e") StandardCharsets/UTF_8)))

(deftest nrepl-server
  (let [jar (io/file "/usr/share/java/nrepl.jar")]
    (testing "without nREPL, --nrepl says how to get it and exits 2"
      (let [r (launch ["repl" "--nrepl" "7999"] {"DLNLAB_NREPL_JAR" "/nonexistent/nrepl.jar"})]
        (is (= 2 (finish! r)))
        ;; the process has ended, but its stderr may still be draining into the buffer
        (is (wait-for (:err r) #"apt-get install libnrepl-clojure") (str "stderr: " (:err r)))))
    (if-not (.exists jar)
      (println "nrepl-server: /usr/share/java/nrepl.jar is missing (apt-get install libnrepl-clojure); eval over nREPL not tested")
      (testing "with Debian's nREPL, an eval over the wire answers in user with dln"
        (let [port (free-port)
              port-file (doto (java.io.File/createTempFile "dlnlab-nrepl" ".port") (.delete))
              r (launch ["repl" "--nrepl" (str port)]
                        {"DLNLAB_JAVA_OPTS" (str "-Ddlnlab.nrepl-port-file=" port-file)})]
          (try
            (is (wait-for (:err r) #"nREPL server on 127\.0\.0\.1") (str "stderr: " (:err r)))
            (is (= (str port) (slurp port-file)) "the port is written where editors look")
            (with-open [s (Socket. "127.0.0.1" (int port))]
              (let [out (collect! (.getInputStream s))
                    ^OutputStream os (.getOutputStream s)]
                (.write os (bencode {"op" "eval" "code" (pr-str (list 'dln/loss (list 'dln/network zero-network)))}))
                (.flush os)
                (is (wait-for out #"5:value3:5\.0") (str "nREPL said: " out))))
            (is (= 0 (finish! r)))
            (is (not (.exists port-file)) "the port file goes when the REPL ends")
            (finally (.destroyForcibly ^Process (:process r)))))))))

(deftest launcher-arguments
  (testing "--help explains every option; a bad port or option exits 2 with a message"
    (let [h (launch ["repl" "--help"] {})]
      (is (= 0 (finish! h)))
      (is (wait-for (:out h) #"--socket PORT[\s\S]*--nrepl PORT")))
    (doseq [[args msg] [[["repl" "--socket" "http"] "--socket needs a port number from 1 to 65535, got 'http'"]
                        [["repl" "--nrepl" "70000"] "--nrepl needs a port number from 1 to 65535, got '70000'"]
                        [["repl" "--socket"] "--socket needs a port number"]
                        [["repl" "--colour"] "unknown option '--colour'"]]]
      (let [r (launch args {})]
        (is (= 2 (finish! r)) (pr-str args))
        (is (wait-for (:err r) (re-pattern (quoted msg))) (str (pr-str args) " said: " (:err r)))))))

(deftest repl-tools-stay-optional
  (testing "nREPL and the notebook tools are in aliases and the :repl profile only, never on the build's classpath"
    (let [deps (clojure.edn/read-string (slurp "deps.edn"))
          tool? #(re-find #"nrepl|clerk|clay|portal|cider" (str %))]
      (is (empty? (filter tool? (keys (:deps deps)))))
      (is (= {"clojars" nil} (:mvn/repos deps)) "builds resolve from Maven Central only")
      (is (every? #(contains? (:aliases deps) %) [:repl :nrepl :clerk :clay :portal]))
      (is (empty? (->> (str/split (System/getProperty "java.class.path") #":")
                       (filter #(str/ends-with? % ".jar"))
                       (map #(.getName (io/file %)))
                       (filter tool?)))
          "the test classpath (lein's default profiles) has none of their jars"))))
