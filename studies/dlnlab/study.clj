(ns dlnlab.study
  "The report harness every study (dlnlab.studies.*) shares: checks, timing,
  number formatting, Markdown tables, variant selection, study data read from
  EDN, and the one report shape `dlnlab reproduce` prints.

  A study's `reproduce` returns a report map with at least
    :study    a keyword naming it
    :claim    the claim reproduced, in words (printed first)
    :variant  the variant that ran
    :main     {:table <Markdown table of measured against predicted>}
    :checks   {name {:claim <what is checked, with its margin> :pass? bool
                     :failures [...]}}
    :figures  [dlnlab.figure figure data ...]
  and whatever else it measured. `report-lines` turns it into the lines shown
  on a terminal: the claim, the table, one PASS/FAIL line per check;
  `write-report!` writes it to a directory as report.edn and report.md."
  (:require [clojure.edn :as edn]
            [clojure.java.io :as io]
            [clojure.string :as str]
            [dlnlab.error :as error]
            [dlnlab.io :as dio]
            [dlnlab.summary :refer [fmt-duration]]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------- checks and timing

(defn check
  "One checked claim: {:claim claim :pass? (empty? failures) :failures [the
  first 10 failures]} merged with the extra keyword arguments (numbers to show
  beside it)."
  [claim failures & {:as extra}]
  (merge {:claim claim :pass? (empty? failures) :failures (vec (take 10 failures))} extra))

(defn passed?
  "True when every check of a report (or of a {name check} map) passed."
  [report-or-checks]
  (let [cs (if (contains? report-or-checks :checks) (:checks report-or-checks) report-or-checks)]
    (boolean (and (seq cs) (every? (comp :pass? val) cs)))))

(defn elapsed-ms
  "Whole milliseconds since t0 (a System/nanoTime value)."
  ^long [^long t0]
  (quot (- (System/nanoTime) t0) 1000000))

(defn timed
  "Calls f with no arguments and returns [its value, the milliseconds it took]."
  [f]
  (let [t0 (System/nanoTime) v (f)] [v (elapsed-ms t0)]))

;; ---------------------------------------------------------------- variants and data

(defn variant
  "The options of the variant named v in variants (a map name -> options).
  Throws ex-info :invalid-option naming [:variant] and the names allowed."
  [variants v]
  (or (get variants v)
      (error/fail! :invalid-option
                   (str "Option :variant is " (pr-str v) "; allowed are "
                        (str/join ", " (map pr-str (sort (keys variants)))) ".")
                   {:path [:variant] :value v :allowed (set (keys variants))})))

(defn load-data
  "The EDN data file of a study on the classpath, e.g. (load-data
  \"dlnlab/studies/multipathway.edn\"), read with clojure.edn. Throws ex-info
  :unreadable-file when it is missing."
  [resource]
  (if-let [url (io/resource resource)]
    (with-open [r (java.io.PushbackReader. (io/reader url))]
      (edn/read r))
    (error/fail! :unreadable-file (str "Study data " resource " is not on the classpath.")
                 {:path [:resource] :value resource :allowed "a file under studies/"})))

;; ---------------------------------------------------------------- tables

(defn fmt
  "A number (or keyword, boolean, vector, nil) as a table cell: four
  significant digits, e-notation below 1e-3 and from 1e5, – for nil."
  ^String [x]
  (cond (nil? x) "–"
        (keyword? x) (name x)
        (string? x) x
        (boolean? x) (str x)
        (integer? x) (str x)
        (number? x) (let [d (double x)]
                      (cond (zero? d) "0"
                            (not (Double/isFinite d)) (str d)
                            (or (< (Math/abs d) 1e-3) (>= (Math/abs d) 1e5)) (format "%.3e" d)
                            :else (let [s (format "%.4g" d)]
                                    (if (str/includes? s "e") (format "%.3e" d) s))))
        (sequential? x) (str "[" (str/join " " (map fmt x)) "]")
        (map? x) (str/join ", " (for [[k v] x] (str (fmt k) ": " (fmt v))))
        :else (str x)))

(defn markdown-table
  "A Markdown table of rows (maps) with the given columns [[key header] ...],
  each cell formatted by `fmt`."
  [rows columns]
  (str/join "\n"
            (concat [(str "| " (str/join " | " (map second columns)) " |")
                     (str "|" (str/join "|" (repeat (count columns) "---")) "|")]
                    (for [r rows] (str "| " (str/join " | " (map #(fmt (get r (first %))) columns)) " |")))))

;; ---------------------------------------------------------------- the report

(defn check-lines
  "One line per check of the report: PASS or FAIL, its name and its claim."
  [report]
  (for [[k c] (:checks report) :when (map? c)]
    (str (if (:pass? c) "PASS " "FAIL ") (name k) (when (:claim c) (str ": " (:claim c))))))

(defn report-lines
  "The lines a terminal shows for a report, in order: the claim, the table of
  measured against predicted, one PASS/FAIL line per check. Every `dlnlab
  reproduce` prints this shape. With run, a map of what the run did, they are
  followed by a blank line, the time and the files written, and the report
  page: {:seconds s :wrote [paths] :figures n :report path-or-nil}."
  ([report]
   (concat [(str "claim: " (:claim report)) ""]
           (when-let [t (get-in report [:main :table])] [t ""])
           (check-lines report)))
  ([report {:keys [seconds wrote figures] page :report}]
   (let [figures (long (or figures 0))]
     (concat (report-lines report)
             [""
              (str "ran in " (if seconds (fmt-duration (double seconds)) "-")
                   "; wrote " (str/join ", " wrote)
                   (when (pos? figures) (str " and " figures " figure file" (when (> figures 1) "s"))))]
             (when page [(str "report: " page)])))))

(defn markdown
  "The report as a Markdown page: the claim, the table, the checks with their
  PASS/FAIL verdicts, and every other table the report holds."
  [report]
  (let [tables (for [[k v] (dissoc report :main :figures)
                     :let [t (when (map? v) (:table v))]
                     :when (string? t)]
                 (str "## " (name k) "\n\n" t "\n"))]
    (str "# " (name (:study report :study)) " (" (name (:variant report :quick)) ")\n\n"
         "**Claim.** " (:claim report) "\n\n"
         (when-let [t (get-in report [:main :table])] (str t "\n\n"))
         "## Checks\n\n"
         (str/join "\n" (map #(str "- " %) (check-lines report))) "\n\n"
         (str/join "\n" tables))))

(defn write-report!
  "Writes the report into dir (created when missing): report.edn (the whole
  report, its :figures as figure data, which `dlnlab plot DIR` redraws) and
  report.md (`markdown`), each atomically.
  Returns the paths written."
  [report dir]
  (let [edn-path (str (io/file dir "report.edn"))
        md-path (str (io/file dir "report.md"))]
    (dio/write-edn-file! edn-path report)
    (dio/write-atomically! md-path (markdown report))
    [edn-path md-path]))
