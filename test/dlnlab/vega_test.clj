(ns dlnlab.vega-test
  "Tests of dlnlab.vega: the JSON text, log-axis ticks, the Kindly metadata, and
  every figure's Vega-Lite spec checked with the real vega-lite and vega
  packages (one node process for all specs)."
  (:require [clojure.java.io :as io]
            [clojure.java.shell :as sh]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.figure :as figure]
            [dlnlab.figure.axis :as axis]
            [dlnlab.vega :as vega]
            [dlnlab.figure-fixtures :refer [synthetic-run synthetic-sweep synthetic-ensemble all-figures out-dir vega-texts]]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(deftest json-emitter
  (is (= "{\"a\":1,\"b\":[1.5,null,null,\"x\"],\"c\":{\"d\":true,\"e\":null}}"
         (vega/json {:a 1 :b [1.5 Double/NaN Double/POSITIVE_INFINITY :x] :c {"d" true :e nil}})))
  (is (= "\"q\\\"uote \\\\ back\\nline\\ttab\\u0001 η\"" (vega/json "q\"uote \\ back\nline\ttab\u0001 η")))
  (is (= "[2,-3,0.001,1.0E-12,1.5E20]" (vega/json [2.0 -3 0.001 1e-12 1.5e20])))
  (is (= "{\"ns/k\":[]}" (vega/json {:ns/k ()})))
  (is (thrown? clojure.lang.ExceptionInfo (vega/json {:f inc}))))

(deftest log-axis-ticks-at-powers-of-ten
  (testing "Vega-Lite log axes over decades: ticks at powers of ten only, at most 10 of them"
    (is (= (mapv #(Math/pow 10.0 (double %)) (range -4 2)) (:major (axis/log-ticks [3e-5 20.0]))))
    (is (= (mapv #(Math/pow 10.0 (double %)) (range -18 0 2)) (:major (axis/log-ticks [1e-18 0.05]))))
    (is (= [0.03 0.035 0.04] (:major (axis/log-ticks [0.028 0.041]))) "a narrow axis gets round linear steps")
    (let [spec (vega/loss-spec (synthetic-run {}))
          ticks (get-in spec [:layer 0 :encoding :y :axis :values])
          losses (filter pos? (map :y (get-in spec [:data :values])))]
      (is (<= (first ticks) (apply min losses)) "the ticks cover the data")
      (is (>= (peek ticks) (apply max losses))))))

;; ---------------------------------------------------------------- Vega-Lite through node

(def ^:private js-dir (io/file "test" "js"))
(def ^:private modules-dir (io/file "target" "js" "node_modules"))

(defn- node-available? []
  (try (= 0 (:exit (sh/sh "node" "--version"))) (catch java.io.IOException _ false)))

(defn- ensure-vega!
  "Installs the pinned vega packages with test/js/setup.sh when they are missing.
  Returns nil when ready, else a message saying what to do."
  []
  (cond
    (not (node-available?))
    "node is not on the PATH: install node and npm, then run test/js/setup.sh"
    (.exists (io/file modules-dir ".dlnlab-installed")) nil
    :else (let [{:keys [exit err out]} (sh/sh "bash" (str (io/file js-dir "setup.sh")))]
            (when-not (= 0 exit)
              (str "test/js/setup.sh failed (exit " exit "); run it by hand to install vega and vega-lite:\n" err out)))))

(defn- vega-check!
  "Validates, compiles and renders every [name spec] with the real vega-lite and
  vega in one node process. Returns {name {:ok :error :warnings :svg}}."
  [named-specs dir]
  (let [problem (ensure-vega!)]
    (if problem
      {::problem problem}
      (let [input (io/file dir "specs.json")]
        (.mkdirs (io/file dir))
        (spit input (vega/json (mapv (fn [[n s]] {:name n :spec s}) named-specs)))
        (let [{:keys [out err]} (sh/sh "node" (str (io/file js-dir "render.mjs")) (str modules-dir) (str input) (str dir))]
          (if-let [report (re-find #"^\{.*\}$" (str/trim out))]
            (into {}
                  (for [[n _] named-specs
                        :let [entry (re-find (re-pattern (str "\"" (java.util.regex.Pattern/quote n)
                                                              "\":\\{\"ok\":(true|false),\"error\":(null|\".*?\"),\"warnings\":\\[(.*?)\\]\\}"))
                                             report)
                              svg-file (io/file dir (str n ".svg"))]]
                    [n {:ok (= "true" (nth entry 1 nil))
                        :error (nth entry 2 nil)
                        :warnings (nth entry 3 nil)
                        :svg (when (.exists svg-file) (slurp svg-file))}]))
            {::problem (str "node render.mjs printed no report: " err out)}))))))

(defn- vl-specs
  "[[name spec fig] ...]: every figure of `all-figures` plus the standard figures
  of a run, a sweep and an ensemble, as Vega-Lite."
  []
  (concat
   (for [[n fig] (all-figures)] [n (vega/spec fig) fig])
   (for [[prefix data] [["std-run-" (synthetic-run {})] ["std-sweep-" (synthetic-sweep)] ["std-sde-" (synthetic-ensemble)]]
         [k spec] (vega/standard-specs data)]
     [(str prefix (name k)) spec (figure/figure k data)])))

(deftest vega-lite-specs-are-valid-and-render
  (let [specs (vl-specs)
        dir (io/file out-dir "vega")
        report (vega-check! (map (juxt first second) specs) dir)]
    (is (nil? (::problem report)) (str "Vega-Lite specs could not be checked: " (::problem report)))
    (when-not (::problem report)
      (doseq [[n spec fig] specs
              :let [{:keys [ok error warnings svg]} (get report n)]]
        (testing n
          (is ok (str n ": " error))
          (is (= "" warnings) (str n " warned: " warnings))
          (is (= "https://vega.github.io/schema/vega-lite/v5.json" (:$schema spec)))
          (when svg
            (is (= (frequencies (cons (:title fig) (when (> (count (:panels fig)) 1) (map :title (:panels fig)))))
                   (frequencies (vega-texts svg "title-text")))
                "the title, and a header per panel")
            (is (= (if (:subtitle fig) [(:subtitle fig)] []) (vega-texts svg "title-subtitle")))
            (let [axis-titles (set (vega-texts svg "axis-title"))]
              (is (contains? axis-titles (get-in fig [:x :title])))
              (is (contains? axis-titles (get-in fig [:y :title]))))
            (is (= (if (> (count (:series fig)) 1) (mapv :name (:series fig)) [])
                   (vega-texts svg "legend-label"))
                "one legend entry per series")
            (is (= (boolean (get-in fig [:y :log?]))
                   (boolean (re-find #"Y-axis titled '[^\"]*' for a log scale" svg))))
            (is (= (boolean (get-in fig [:x :log?]))
                   (boolean (re-find #"X-axis titled '[^\"]*' for a log scale" svg))))))))))

(deftest specs-carry-kindly-metadata
  (let [run (synthetic-run {})]
    (is (= :kind/vega-lite (:kindly/kind (meta (vega/spec (figure/figure :loss run))))))
    (is (= :kind/vega-lite (:kindly/kind (meta (vega/loss-spec run)))))
    (is (every? #(= :kind/vega-lite (:kindly/kind (meta %))) (vals (vega/standard-specs run))))
    (is (not (str/includes? (vega/json (vega/loss-spec run)) "kindly")) "metadata is not data")))
