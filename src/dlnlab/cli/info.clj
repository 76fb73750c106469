(ns dlnlab.cli.info
  "`dlnlab validate`, `inspect`, `describe` and `reproduce`: what an experiment
  is, what its network looks like, what the options are, and the paper
  reproductions."
  (:require [clojure.java.io :as io]
            [clojure.pprint :as pprint]
            [clojure.string :as str]
            [dlnlab.cli.args :refer [bad-input! usage-error! input-error? one-file read-map apply-sets validated
                                      out-option parse-jobs]]
            [dlnlab.cli.common :refer [warn! report-page print-report-path check-out-dir! terminal?]]
            [dlnlab.core :as core]
            [dlnlab.error :as error]
            [dlnlab.io :as dio]
            [dlnlab.plot :as plot]
            [dlnlab.progress :as progress]
            [dlnlab.provenance :as provenance]
            [dlnlab.report :as report]
            [dlnlab.result :as result]
            [dlnlab.spec :as spec]
            [dlnlab.store :as store]
            [dlnlab.summary :as summary :refer [fmt-duration wrap]])
  (:import [java.io File Writer]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn cmd-validate [{:keys [files opts]}]
  (let [file (one-file "validate" files)
        raw (read-map file "an experiment or a sweep")]
    (if (or (contains? raw :grid) (contains? raw :base))
      (do (when (seq (get opts "--set")) (usage-error! "--set applies to experiments, not to sweep files."))
          (let [norm (store/normalize-sweep raw file)]
            (print (dio/edn-str norm))
            (println (str ";; " (count (store/sweep-points norm)) " grid points, each a valid experiment"))))
      (let [exp (apply-sets raw (get opts "--set"))
            norm (validated exp file (get opts "--set") nil)]
        (print (dio/edn-str norm))
        (when (and (= :network (result/kind {:experiment norm})) (not (:optimizer norm)))
          (println ";; valid network and task; add :optimizer and :steps to run it"))))
    0))

(defn inspect-experiment
  "A plain-data summary of an experiment's initial network: parameter count,
  loss, test loss and the top Hessian eigenvalue."
  [exp]
  (let [net (core/network exp)
        eig (core/hessian-eigenvalues net {:k 1})]
    {:parameters (count (:params net))
     :loss (core/loss net)
     :test-loss (core/test-loss net)
     :sharpness (first (:values eig))
     :sharpness-residual (first (:residuals eig))
     :hvp-count (:hvp-count eig)}))

(defn cmd-inspect [{:keys [files opts]}]
  (let [file (one-file "inspect" files)
        exp (apply-sets (read-map file "the experiment") (get opts "--set"))
        norm (try (spec/normalize exp)
                  (catch clojure.lang.ExceptionInfo e (bad-input! (str file ": " (ex-message e)) (ex-data e))))
        kind (result/kind {:experiment norm})
        _ (when-not (= :network kind)
            (bad-input! (str file " is an " (pr-str kind) " experiment, which has no network to inspect; `dlnlab validate " file
                             "` prints its options, `dlnlab run " file "` simulates it.")
                        {:path [:kind] :value kind :allowed "a network experiment"}))
        r (try (inspect-experiment exp)
               (catch clojure.lang.ExceptionInfo e
                 (if (input-error? e) (bad-input! (str file ": " (ex-message e)) (ex-data e)) (throw e))))]
    (doseq [[k v] r :when (some? v)] (println (str (name k) ": " v)))
    0))

(defn- describe-sections
  "{name text} of the sections of dlnlab.summary/describe-text, by the
  lower-cased heading (model, optimizer, ..., metrics)."
  []
  (let [lines (str/split-lines (summary/describe-text))
        heading #(second (re-matches #"([A-Z][A-Z-]*)  \(.*" %))
        starts (keep-indexed (fn [i l] (when (heading l) i)) lines)]
    (into (array-map)
          (map (fn [[a b]] [(str/lower-case (heading (nth lines a)))
                            (str/trimr (str/join "\n" (subvec (vec lines) a (or b (count lines)))))])
               (partition 2 1 [nil] starts)))))

(defn cmd-describe [{:keys [files]}]
  (case (count files)
    0 (do (print (summary/describe-text)) 0)
    1 (let [sections (describe-sections)
            nm (str/lower-case (str/replace (first files) #"^:" ""))]
        (if-let [text (get sections nm)]
          (do (println text) 0)
          (usage-error! (str "`dlnlab describe` knows no section " (pr-str (first files)) "."
                             (when-let [dym (error/did-you-mean nm (keys sections))] (str " Did you mean " dym "?"))
                             " The sections are " (str/join ", " (keys sections)) "."))))
    (usage-error! "`dlnlab describe` takes at most one section name, e.g. dlnlab describe optimizer.")))

(def paper-names
  "The paper reproductions `dlnlab reproduce` knows: name -> namespace."
  (array-map "multipathway" 'dlnlab.studies.multipathway
             "edge-of-stability" 'dlnlab.studies.edge-of-stability
             "transfer" 'dlnlab.studies.transfer
             "saddle-to-saddle" 'dlnlab.studies.saddle-to-saddle))

(defn- paper-fn [ns-sym fn-name]
  (try (requiring-resolve (symbol (name ns-sym) fn-name))
       (catch java.io.FileNotFoundException _ nil)))

(defn- write-paper-figures!
  "Writes a report's :figures (dlnlab.plot figure data) into dir as SVG and
  Vega-Lite JSON. Returns the paths written."
  [report dir]
  (vec (mapcat val (plot/write-figure-data! (:figures report) dir))))

(defn cmd-reproduce [{:keys [files opts]}]
  (let [nm (one-file "reproduce" files)
        ns-sym (or (get paper-names nm)
                   (bad-input! (str "Unknown reproduction " (pr-str nm) "; the names are "
                                    (str/join ", " (keys paper-names)) ".")
                               {:path [:name] :value nm :allowed (vec (keys paper-names))}))
        reproduce (or (paper-fn ns-sym "reproduce")
                      (bad-input! (str "The reproduction " nm " is not part of this build.")
                                  {:path [:name] :value nm :allowed (vec (keys paper-names))}))
        jobs (if-let [j (get opts "--jobs")] (parse-jobs j) 2)
        dir (out-option opts (str "results" File/separator nm))
        _ (check-out-dir! dir)
        ^Writer err *err*
        progress (when (terminal?)
                   (let [n (atom 0)]
                     (fn [_] (let [k (swap! n inc)]
                               (locking err (.write err (str (progress/erase-line) "reproduce " nm ": " k " runs done"))
                                        (.flush err))))))
        t0 (System/nanoTime)
        started (provenance/now)
        report (reproduce {:variant (if (get opts "--full") :full :quick) :jobs jobs :progress progress})
        seconds (/ (- (System/nanoTime) t0) 1e9)]
    (when progress (locking err (.write err (str (progress/erase-line))) (.flush err)))
    (.mkdirs (io/file dir))
    (dio/write-edn-file! (str (io/file dir "report.edn"))
                         (assoc report :provenance (provenance/collect {:started started :ended (provenance/now)})))
    (let [figs (when-not (get opts "--no-plots")
                 (try (write-paper-figures! report dir)
                      (catch Exception e
                        (binding [*out* *err*] (println (str "dlnlab reproduce: figures not written: " (ex-message e))))
                        nil)))]
      (println (wrap (:claim report) 0 80 7 "claim: "))
      (println)
      (when-let [table (get-in report [:main :table])] (println table))
      (when-let [summary (:summary report)]
        (println (str/trim (with-out-str (pprint/pprint summary)))))
      (when-let [checks (:checks report)]
        (doseq [[k c] checks :when (map? c)]
          (println (str (if (:pass? c) "PASS " "FAIL ") (name k) (when (:claim c) (str ": " (:claim c)))))))
      (println (str "ran in " (fmt-duration seconds) "; wrote " (io/file dir "report.edn")
                    (when (seq figs) (str " and " (count figs) " figure files"))))
      (when-not (get opts "--no-report")
        (let [{:keys [warning report]} (report-page #(report/write-report! dir) dir)]
          (warn! warning)
          (print-report-path report))))
    0))

;; ---------------------------------------------------------------- report
