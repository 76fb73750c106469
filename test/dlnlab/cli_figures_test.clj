(ns dlnlab.cli-figures-test
  "The figure options of the command line (issue 12): --format svg|png|pdf for
  run, sweep, plot and reproduce; sweeps write each point's figures only with
  --point-figures; plot on a reproduction directory; plot's --x, --x-range,
  --log-x and --linear-x."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [dlnlab.cli-runner :as runner]
            [dlnlab.cli-test :as cli-test]
            [dlnlab.figure :as fig]
            [dlnlab.figure-fixtures :refer [synthetic-run svg-texts]]
            [dlnlab.io :as dio]
            [dlnlab.temp-dir :as temp-dir :refer [path]])
  (:import [javax.imageio ImageIO]))

(set! *warn-on-reflection* true)

(use-fixtures :each (temp-dir/fixture "dlnlab-cli-figures-test"))

(defn- cli [& args] (runner/run-cli false args))

(def ^:private tiny
  "The command-line tests' tiny experiment, recording two figures' worth."
  (update cli-test/tiny :record #(-> % (assoc :metrics [:loss :modes]) (dissoc :sharpness))))

(defn- write-file [nm content]
  (let [p (path nm)] (spit p (pr-str content)) p))

(defn- files-ending [dir ext]
  (set (filter #(str/ends-with? % ext) (or (seq (.list (io/file dir))) []))))

(defn- pdf? [f] (str/starts-with? (slurp f) "%PDF"))

(deftest run-writes-its-figures-in-the-format-asked
  (let [file (write-file "tiny.edn" tiny)]
    (testing "--format png: PNG files, no SVG"
      (let [{:keys [code err]} (cli "run" file "--out" (path "png") "--format" "png" "--no-report")]
        (is (= 0 code) err)
        (is (= #{"loss.png" "modes.png"} (files-ending (path "png") ".png")))
        (is (empty? (files-ending (path "png") ".svg")))
        (is (some? (ImageIO/read (io/file (path "png") "loss.png"))))))
    (testing "--format pdf,svg: both"
      (let [{:keys [code err]} (cli "run" file "--out" (path "pdf") "--format" "pdf,svg" "--no-report")]
        (is (= 0 code) err)
        (is (= #{"loss.pdf" "modes.pdf"} (files-ending (path "pdf") ".pdf")))
        (is (pdf? (io/file (path "pdf") "loss.pdf")))
        (is (= #{"loss.svg" "modes.svg"} (files-ending (path "pdf") ".svg")))))
    (testing "an unknown format is bad input before anything runs"
      (let [{:keys [code err]} (cli "run" file "--out" (path "bad") "--format" "gif")]
        (is (= 2 code))
        (is (re-find #"svg, png, pdf" err))
        (is (not (.exists (io/file (path "bad") "result.edn"))))))))

(deftest sweeps-write-point-figures-only-when-asked
  (let [file (write-file "sweep.edn" {:base tiny :grid {[:optimizer :lr] [0.05 0.1]}})]
    (let [{:keys [code err]} (cli "sweep" file "--out" (path "plain") "--jobs" "1" "--no-report")
          runs (.listFiles (io/file (path "plain") "runs"))]
      (is (= 0 code) err)
      (is (= 2 (count runs)))
      (is (every? #(empty? (files-ending % ".svg")) runs) "no per-point figures by default")
      (is (contains? (files-ending (path "plain") ".svg") "loss-vs-lr.svg") "the sweep's own figures"))
    (let [{:keys [code err]} (cli "sweep" file "--out" (path "points") "--jobs" "1" "--no-report"
                                  "--point-figures" "--format" "png")
          runs (.listFiles (io/file (path "points") "runs"))]
      (is (= 0 code) err)
      (is (every? #(contains? (files-ending % ".png") "loss.png") runs) "--point-figures: each point's figures")
      (is (contains? (files-ending (path "points") ".png") "loss-vs-lr.png")))))

(deftest plot-takes-x-axis-options
  (let [file (write-file "tiny.edn" tiny)
        _ (cli "run" file "--out" (path "run") "--no-plots" "--no-report")
        texts (fn [f] (set (svg-texts (slurp f))))]
    (testing "--x time: the x axis is the training time"
      (is (= 0 (:code (cli "plot" (path "run") "--figure" "loss" "--x" "time" "--out" (path "t.svg")))))
      (is ((texts (path "t.svg")) (fig/x-title :time))))
    (testing "--x-range: written (dlnlab.figure-style-test checks what the range does)"
      (is (= 0 (:code (cli "plot" (path "run") "--figure" "modes" "--x-range" "10:20" "--out" (path "r.svg")))))
      (is (.exists (io/file (path "r.svg")))))
    (testing "--log-x: a log x axis (ticks 1-2-5 or decades)"
      (is (= 0 (:code (cli "plot" (path "run") "--figure" "loss" "--log-x" "--out" (path "l.svg")))))
      (is ((texts (path "l.svg")) "10")))
    (testing "--format for all figures of plot"
      (is (= 0 (:code (cli "plot" (path "run") "--format" "pdf" "--out" (path "pdfs")))))
      (is (= #{"loss.pdf" "modes.pdf"} (files-ending (path "pdfs") ".pdf"))))
    (testing "bad axis options"
      (is (= 2 (:code (cli "plot" (path "run") "--log-x" "--linear-x"))))
      (is (= 2 (:code (cli "plot" (path "run") "--x-range" "5:1"))))
      (is (= 2 (:code (cli "plot" (path "run") "--x" "width")))))))

(deftest plot-draws-a-reproductions-figures
  (let [dir (path "repro")
        figs [(fig/figure :loss (synthetic-run {})) (fig/figure :modes (synthetic-run {}))]]
    (.mkdirs (io/file dir))
    (dio/write-edn-file! (str (io/file dir "report.edn")) {:claim "c" :figures figs})
    (let [{:keys [code err out]} (cli "plot" dir "--format" "png")]
      (is (= 0 code) err)
      (is (= #{"loss.png" "modes.png"} (files-ending dir ".png")))
      (is (= #{"loss.vl.json" "modes.vl.json"} (files-ending dir ".json")))
      (is (= 4 (count (re-seq #"(?m)^wrote: " out)))))
    (testing "--figure picks one, --x-range applies to it"
      (is (= 0 (:code (cli "plot" dir "--figure" "modes" "--x-range" "0:100" "--out" (path "one")))))
      (is (= #{"modes.svg"} (files-ending (path "one") ".svg"))))
    (testing "an unknown figure names the reproduction's figures"
      (let [{:keys [code err]} (cli "plot" dir "--figure" "nope")]
        (is (= 2 code))
        (is (re-find #"loss, modes" err))))))
