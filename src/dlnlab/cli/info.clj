(ns dlnlab.cli.info
  "`dlnlab validate`, `inspect`, `describe` and `reproduce`: what an experiment
  is, what its network looks like, what the options are, and the paper
  reproductions."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [dlnlab.cli.args :refer [bad-input! usage-error! input-error? one-file read-map apply-sets validated
                                      out-option parse-jobs]]
            [dlnlab.cli.common :refer [warn! report-page check-out-dir! progress-opts]]
            [dlnlab.cli.figures :as figures]
            [dlnlab.core :as core]
            [dlnlab.error :as error]
            [dlnlab.io :as dio]
            [dlnlab.render :as render]
            [dlnlab.progress :as progress]
            [dlnlab.provenance :as provenance]
            [dlnlab.report :as report]
            [dlnlab.result :as result]
            [dlnlab.spec :as spec]
            [dlnlab.store :as store]
            [dlnlab.summary :as summary])
  (:import [java.io File]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- sweep-file? [raw] (or (contains? raw :grid) (contains? raw :base)))

(defn- read-sweep
  "[normalized sweep, its base with defaults filled (or as written when only
  the grid's values make it valid), number of points] of the sweep file's map."
  [raw file]
  (let [norm (store/normalize-sweep raw file)
        base (try (spec/normalize (:base norm)) (catch clojure.lang.ExceptionInfo _ (:base norm)))]
    [(assoc norm :base base) base (count (store/sweep-points norm))]))

(defn- sweep-line [file ^long n what]
  (str ";; " file " is a sweep of " n " point" (when (not= 1 n) "s") " (dlnlab sweep " file "), each a valid experiment; " what))

(defn cmd-validate [{:keys [files opts]}]
  (let [file (one-file "validate" files)
        raw (read-map file "an experiment or a sweep")]
    (if (sweep-file? raw)
      (do (when (seq (get opts "--set")) (usage-error! "--set applies to experiments, not to sweep files."))
          (let [[norm _ n] (read-sweep raw file)]
            (println (sweep-line file n "its :base with every default filled:"))
            (print (dio/edn-str norm))))
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
        raw (read-map file "the experiment")
        sweep (when (sweep-file? raw)
                (when (seq (get opts "--set")) (usage-error! "--set applies to experiments, not to sweep files."))
                (read-sweep raw file))
        exp (if sweep (second sweep) (apply-sets raw (get opts "--set")))
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
    (when sweep (println (sweep-line file (nth sweep 2) "the network of its :base (without the grid's values):")))
    (doseq [[k v] r :when (some? v)] (println (str (name k) ": " (summary/fmt-num v))))
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
  "Writes a report's :figures (dlnlab.figure figure data) into dir as images
  (render-opts' :formats, SVG by default) and Vega-Lite JSON. Returns the paths
  written."
  [report dir render-opts]
  (vec (mapcat val (render/write-figure-data! (:figures report) dir render-opts))))

(defn cmd-reproduce [{:keys [files opts]}]
  (let [nm (one-file "reproduce" files)
        ns-sym (or (get paper-names nm)
                   (bad-input! (str "Unknown reproduction " (pr-str nm) "; the names are "
                                    (str/join ", " (keys paper-names)) ".")
                               {:path [:name] :value nm :allowed (vec (keys paper-names))}))
        reproduce (or (paper-fn ns-sym "reproduce")
                      (bad-input! (str "The reproduction " nm " is not part of this build.")
                                  {:path [:name] :value nm :allowed (vec (keys paper-names))}))
        ;; the study harness (studies/dlnlab/study.clj) owns the report's files and printed shape
        write-study! (paper-fn 'dlnlab.study "write-report!")
        study-lines (paper-fn 'dlnlab.study "report-lines")
        jobs (if-let [j (get opts "--jobs")] (parse-jobs j) 2)
        render-opts (figures/render-options opts)
        dir (out-option opts (str "results" File/separator nm))
        _ (check-out-dir! dir)
        prog (when-let [o (progress-opts)] (progress/stage-progress *err* (str "reproduce " nm) o))
        t0 (System/nanoTime)
        started (provenance/now)
        report (try (reproduce {:variant (if (get opts "--full") :full :quick) :jobs jobs :progress (:event prog)})
                    (finally (when prog ((:finish prog)))))
        seconds (/ (- (System/nanoTime) t0) 1e9)
        report (assoc report :provenance (provenance/collect {:started started :ended (provenance/now)}))
        written (write-study! report dir)
        figs (when-not (get opts "--no-plots")
               (try (write-paper-figures! report dir render-opts)
                    (catch Exception e
                      (warn! (str "dlnlab reproduce: figures not written: " (ex-message e)))
                      nil)))
        page (when-not (get opts "--no-report")
               (let [{:keys [warning report]} (report-page #(report/write-report! dir) dir)]
                 (warn! warning)
                 report))]
    (doseq [l (study-lines report {:seconds seconds :wrote written :figures (count figs) :report page})]
      (println l))
    0))

;; ---------------------------------------------------------------- report
