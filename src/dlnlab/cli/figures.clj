(ns dlnlab.cli.figures
  "The figure options of the commands that write figures: --format svg|png|pdf
  (every such command), --point-figures (sweeps), and for `plot` --x, --x-range
  a:b, --log-x and --linear-x; and a reproduction's figures (its report.edn)
  for `plot` on a reproduction directory."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [dlnlab.cli.args :refer [bad-input! usage-error!]]
            [dlnlab.io :as dio]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def formats
  "The image formats --format accepts."
  ["svg" "png" "pdf"])

(defn render-options
  "{:formats [kw ...]} for dlnlab.render from --format (one format, or several
  comma-separated: svg,png; default svg). Bad input for an unknown format."
  [opts]
  (let [s (get opts "--format" "svg")
        fs (mapv str/trim (str/split (str/lower-case s) #","))]
    (doseq [f fs]
      (when-not (some #{f} formats)
        (bad-input! (str "--format " s ": the formats are " (str/join ", " formats) " (several: svg,png).")
                    {:path [:format] :value s :allowed formats})))
    {:formats (mapv keyword (distinct fs))}))

(defn point-figures?
  "True when a sweep should write each point's own figures (--point-figures);
  off by default, as they weigh more than the sweep's figures."
  [opts]
  (boolean (get opts "--point-figures")))

(defn- parse-range
  "[lo hi] from \"a:b\"; bad input otherwise."
  [^String s]
  (let [parts (str/split s #":")
        nums (when (= 2 (count parts)) (mapv #(try (Double/parseDouble (str/trim %)) (catch NumberFormatException _ nil)) parts))]
    (when-not (and nums (every? some? nums) (every? #(Double/isFinite (double %)) nums) (< (double (first nums)) (double (second nums))))
      (bad-input! (str "--x-range " s ": give LO:HI, two numbers with LO < HI, e.g. --x-range 0:500.")
                  {:path [:x-range] :value s :allowed "LO:HI with LO < HI"}))
    nums))

(defn axis-options
  "The dlnlab.figure options of `plot`'s axis flags: --x step|time (:x), --x-range
  LO:HI (:x-range), --log-x / --linear-x (:log-x true / false). Usage error for
  both --log-x and --linear-x; bad input for a bad value."
  [opts]
  (when (and (get opts "--log-x") (get opts "--linear-x"))
    (usage-error! "--log-x and --linear-x contradict each other; give one of them."))
  (cond-> {}
    (get opts "--x") (assoc :x (let [x (str/lower-case (str/replace (get opts "--x") #"^:" ""))]
                                 (if (#{"step" "time"} x)
                                   (keyword x)
                                   (bad-input! (str "--x " (get opts "--x") ": the x axis is step or time.")
                                               {:path [:x] :value (get opts "--x") :allowed ["step" "time"]}))))
    (get opts "--x-range") (assoc :x-range (parse-range (get opts "--x-range")))
    (get opts "--log-x") (assoc :log-x true)
    (get opts "--linear-x") (assoc :log-x false)))

(defn reproduction-figures
  "The figure data of the reproduction in directory dir (the :figures of its
  report.edn, written by `dlnlab reproduce`), or nil when dir holds no such
  report."
  [dir]
  (let [f (io/file dir "report.edn")]
    (when (and (.isDirectory (io/file dir)) (.exists f)
               (not (.exists (io/file dir "result.edn"))) (not (.exists (io/file dir "sweep.edn"))))
      (let [report (dio/read-edn-file f)]
        (when (and (map? report) (sequential? (:figures report)))
          (vec (filter map? (:figures report))))))))
