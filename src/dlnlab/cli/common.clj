(ns dlnlab.cli.common
  "What every command shares: the interrupt flag and signal handlers, whether
  progress goes to a terminal, and writing figures and report pages beside
  results with a warning (not a failure) when they cannot be written."
  (:require [clojure.string :as str]
            [dlnlab.cli.args :refer [bad-input! input-error?]]
            [dlnlab.io :as dio]
            [dlnlab.render :as render]
            [dlnlab.progress :as progress])
  (:import [java.io Writer]
           [java.util.concurrent.atomic AtomicBoolean AtomicLong]
           [sun.misc Signal SignalHandler]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def ^:dynamic *interrupt-flag*
  "When bound to an AtomicBoolean, runs use it as their interrupt flag (tests set
  it to simulate Ctrl-C); otherwise each run makes its own."
  nil)

(def ^:dynamic *terminal?*
  "When nil (default), the progress mode is found as `progress-mode` says;
  true forces terminal progress, false none (tests)."
  nil)

(def ^:dynamic *progress*
  "When non-nil, the progress mode (:terminal, :plain or :off), whatever
  *terminal?* and the environment say."
  nil)

(def ^:dynamic *progress-every-s*
  "Seconds between two plain progress lines (dlnlab.progress :every-s)."
  10.0)

(defn progress-mode
  "How progress shows on stderr: :terminal (one line redrawn in place), :plain
  (a line every *progress-every-s* seconds, no escape codes) or :off. Found
  from *progress*, then *terminal?*, then the environment variable
  DLNLAB_PROGRESS (terminal, plain or off), then the system property
  dlnlab.stderr.tty that bin/dlnlab sets (true when stderr is a terminal),
  then whether the JVM has a console."
  []
  (let [env (some-> (System/getenv "DLNLAB_PROGRESS") str/trim str/lower-case)]
    (cond (some? *progress*) *progress*
          (some? *terminal?*) (if *terminal?* :terminal :off)
          (#{"terminal" "plain" "off"} env) (keyword env)
          :else (case (System/getProperty "dlnlab.stderr.tty")
                  "true" :terminal
                  "false" :plain
                  (if (System/console) :terminal :plain)))))

(defn terminal?
  "True when stderr is a terminal (progress-mode :terminal)."
  []
  (= :terminal (progress-mode)))

(defn progress-opts
  "The dlnlab.progress options of `progress-mode`, or nil when progress is off."
  []
  (case (progress-mode)
    :terminal {:terminal? true}
    :plain {:terminal? false :every-s *progress-every-s*}
    nil))

;; ---------------------------------------------------------------- arguments
;; ---------------------------------------------------------------- interrupts

(def ^:private signal-numbers
  "The signals that stop a run like Ctrl-C, and their numbers (exit code 128 + n)."
  (array-map "INT" 2 "TERM" 15 "HUP" 1))

(def ^:private ^AtomicLong received
  "The number of the last stopping signal received (0: none, as when a test sets
  *interrupt-flag* itself, which counts as SIGINT)."
  (AtomicLong. 0))

(defn interrupted-code
  "The exit code of an interrupted command: 128 + the signal's number."
  ^long []
  (let [n (.get received)] (+ 128 (if (pos? n) n 2))))

(defn with-signals
  "Calls (f) with handlers for SIGINT, SIGTERM and SIGHUP that set flag (runs
  then stop at their next step and the result so far is written); a second
  signal exits at once with 128 + its number. Restores the previous handlers
  afterwards. A signal the JVM does not let us handle is left alone."
  [^AtomicBoolean flag ^Writer err f]
  (.set received 0)
  (let [erase (if (terminal?) (progress/erase-line) "")
        installed
        (doall
         (for [[nm n] signal-numbers
               :let [sig (try (Signal. nm) (catch Exception _ nil))
                     handler (reify SignalHandler
                               (handle [_ _]
                                 (if (.getAndSet flag true)
                                   (System/exit (+ 128 (long n)))
                                   (do (.set received n)
                                       (.write err (str erase "dlnlab: interrupted"
                                                        (when-not (= nm "INT") (str " (SIG" nm ")"))
                                                        "; stopping at the next step and writing the result so far"
                                                        (if (= nm "INT") " (Ctrl-C again to quit at once)\n"
                                                            " (send it again to quit at once)\n")))
                                       (.flush err)))))
                     old (when sig (try (Signal/handle sig handler) (catch Exception _ nil)))]
               :when old]
           [sig old]))]
    (try (f)
         (finally (doseq [[sig old] installed] (try (Signal/handle sig old) (catch Exception _ nil)))))))

;; ---------------------------------------------------------------- figures

(defn figure-warning
  "Writes the standard figures of data (a result or a sweep's results) into dir
  with dlnlab.render (render-opts: its options, e.g. {:formats [:png]}); returns
  nil, or a warning line naming shown-dir when they could not be written."
  ([data dir] (figure-warning data dir dir {}))
  ([data dir shown-dir] (figure-warning data dir shown-dir {}))
  ([data dir shown-dir render-opts]
   (try (render/write-figures! data dir render-opts) nil
        (catch Exception e
          (str "dlnlab: warning: the figures in " shown-dir " could not be written (" (ex-message e)
               "); the result files are complete.")))))

(defn warn! [line] (when line (binding [*out* *err*] (println line))))

(defn report-page
  "Calls (write!) to write a report page and returns {:report path}, or
  {:warning line} naming shown-dir when the page could not be written (the
  results themselves are complete)."
  [write! shown-dir]
  (try {:report (write!)}
       (catch Exception e
         {:warning (str "dlnlab: warning: the report page in " shown-dir " could not be written (" (ex-message e)
                        "); the result files are complete.")})))

(defn print-report-path [path] (when path (println (str "report:           " path))))

(defn run-result-code ^long [result]
  (if (= :interrupted (:stop-reason result)) (interrupted-code) 0))

(defn check-out-dir! [dir]
  (try (dio/check-writable-dir! dir)
       (catch clojure.lang.ExceptionInfo e
         (bad-input! (str (ex-message e) " Choose another --out directory.") (ex-data e)))))

(defn drawn
  "(f), with an exception from drawing data that plot cannot use reported as bad input."
  [input what f]
  (try (f)
       (catch clojure.lang.ExceptionInfo e
         (if (input-error? e)
           (bad-input! (str "Cannot draw " what " from " input ": " (ex-message e)) (ex-data e))
           (throw e)))
       (catch RuntimeException e
         (bad-input! (str "Cannot draw " what " from " input ": its data has an unexpected shape ("
                          (.getSimpleName (class e)) (when (ex-message e) (str ": " (ex-message e))) ").")
                     {:path [:input] :value input :allowed "results written by dlnlab"}))))
