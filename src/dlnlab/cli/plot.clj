(ns dlnlab.cli.plot
  "`dlnlab plot` (figures of a run, sweep or ensemble) and `dlnlab report` (a
  report page for a run, sweep, reproduction or notebook)."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [dlnlab.cli.args :refer [bad-input! usage-error! input-error? one-input out-option]]
            [dlnlab.cli.common :refer [check-out-dir! drawn]]
            [dlnlab.error :as error]
            [dlnlab.plot :as plot]
            [dlnlab.report :as report]
            [dlnlab.store :as store]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- plot-names
  "The figure names (as strings) plot offers for an input kind (:result,
  :sweep, :ensemble), in catalog order."
  [kind]
  (vec (for [nm plot/figure-names :when (contains? (get-in plot/figure-catalog [nm :inputs]) kind)] (name nm))))

(defn- kind-text [kind]
  (case kind :result "a run result" :sweep "a sweep" :ensemble "an SDE ensemble or :sde run"))

(defn- plot-kinds-text []
  (str "for a run: " (str/join ", " (plot-names :result))
       "; for a sweep directory: " (str/join ", " (plot-names :sweep))
       "; for an SDE ensemble file or an :sde run: " (str/join ", " (plot-names :ensemble))))

(defn- figure-name
  "The figure keyword for --figure s (with or without a leading colon); bad
  input listing the figures when it is not one, or not one for this input."
  [^String s kind input]
  (let [nm (str/lower-case (str/replace (str/trim s) #"^:" ""))
        all (set (map name (keys plot/figure-catalog)))]
    (when-not (all nm)
      (let [dym (error/did-you-mean nm all)]
        (bad-input! (str "Unknown figure " (pr-str s) "." (when dym (str " Did you mean " dym "?"))
                         " The figures are " (plot-kinds-text) ".")
                    {:path [:figure] :value s :allowed (vec (sort all))})))
    (when-not (some #{nm} (plot-names kind))
      (bad-input! (str "The figure " nm " does not apply to " input ", which is " (kind-text kind)
                       "; the figures of " (kind-text kind) " are " (str/join ", " (plot-names kind)) ".")
                  {:path [:figure] :value s :allowed (plot-names kind)}))
    (keyword nm)))

(defn- image-file? [^String s] (boolean (re-find #"(?i)\.(svg|png)$" s)))

(defn cmd-plot [{:keys [files opts]}]
  (let [input (one-input "plot" files "a result.edn, a run directory or a sweep directory" "one result file or directory")
        out (out-option opts nil)
        fig-arg (get opts "--figure")]
    (when (and out (not fig-arg) (image-file? out))
      (usage-error! (str "--out " out " names an image file, which needs --figure NAME; without --figure, "
                         "--out is the directory for all the standard figures.")))
    (when (and out fig-arg (not (image-file? out)) (re-find #"\.[A-Za-z0-9]{1,5}$" (.getName (io/file out)))
               (not (.isDirectory (io/file out))))
      (bad-input! (str "--out " out ": the image format is taken from the extension, which must be .svg or .png "
                       "(or give a directory for " fig-arg ".svg).")
                  {:path [:out] :value out :allowed ["FILE.svg" "FILE.png" "DIR"]}))
    (let [{:keys [kind data dir]} (store/read-input input)]
      (if fig-arg
        (let [nm (figure-name fig-arg kind input)
              target (cond (nil? out) (str (io/file dir (str (name nm) ".svg")))
                           (image-file? out) out
                           :else (str (io/file out (str (name nm) ".svg"))))
              parent (or (.getParentFile (.getAbsoluteFile (io/file target))) (io/file "."))
              _ (check-out-dir! (str parent))
              fig (drawn input (str "the " (name nm) " figure") #(plot/figure nm data))]
          (plot/render! fig target)
          (println (str "wrote: " target))
          0)
        (let [target-dir (or out (str dir))
              _ (check-out-dir! target-dir)
              written (drawn input "the figures" #(plot/write-figures! data target-dir))]
          (when (empty? written)
            (bad-input! (str "Nothing to plot in " input ": none of the figures of " (kind-text kind) " ("
                             (str/join ", " (plot-names kind)) ") has finite recorded values to show.")
                        {:path [:input] :value input :allowed "a result with recorded metrics"}))
          (doseq [[_ paths] written p paths] (println (str "wrote: " p)))
          0)))))

;; ---------------------------------------------------------------- validate, describe, inspect

(defn cmd-report [{:keys [files opts]}]
  (let [input (one-input "report" files "a run, sweep or reproduction directory or a notebook file" "one directory or notebook file")
        out (get opts "--out")
        target (or out (report/page-path input))
        parent (or (.getParentFile (.getAbsoluteFile (io/file target))) (io/file "."))]
    (check-out-dir! (str parent))
    (let [path (drawn input "the report page" #(report/write-report! input {:out target}))]
      (println (str "wrote: " path))
      0)))
