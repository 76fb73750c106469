(ns dlnlab.notebooks-test
  "Every notebook of examples/notebooks runs, as a notebook tool would run it:
  form by form in its own namespace (with -Ddlnlab.notebooks.quick=true, the
  reduced sizes), each value shown being something (no nil, no exception), and
  every Vega-Lite map it shows tagged {:kindly/kind :kind/vega-lite} and
  holding data. Every example EDN of examples/ has a notebook, which needs
  nothing but dlnlab and Clojure."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]])
  (:import [clojure.lang LineNumberingPushbackReader]
           [java.io File]))

(set! *warn-on-reflection* true)

(defn- notebook-files []
  (sort-by #(.getName ^File %)
           (filter #(str/ends-with? (.getName ^File %) ".clj") (.listFiles (io/file "examples/notebooks")))))

(defn- notebook-name
  "examples/foo-bar.edn -> foo_bar.clj"
  [^File edn]
  (str (str/replace (str/replace (.getName edn) #"\.edn$" "") "-" "_") ".clj"))

(defn- vega-lite? [v]
  (and (map? v) (or (contains? v :$schema) (contains? v :mark) (contains? v :layer)
                    (contains? v :vconcat) (contains? v :hconcat) (contains? v :facet))))

(defn- data-rows
  "The inline data rows of a Vega-Lite map, at the top or in any layer or panel."
  [spec]
  (concat (get-in spec [:data :values])
          (mapcat data-rows (mapcat #(get spec %) [:layer :vconcat :hconcat]))
          (when (map? (:spec spec)) (data-rows (:spec spec)))))

(defn- run-notebook
  "Evaluates the forms of file f one by one in the namespace its ns form makes,
  as Clerk or Clay would. Returns {:ns symbol :shown [{:line n :form f :value v}]}
  for every form that is not a def or the ns form."
  [^File f]
  (let [prev (System/getProperty "dlnlab.notebooks.quick")]
    (System/setProperty "dlnlab.notebooks.quick" "true")
    (try
      (binding [*ns* *ns* *warn-on-reflection* false]
        (with-open [r (LineNumberingPushbackReader. (io/reader f))]
          (loop [shown [] ns-name nil]
            (let [line (inc (.getLineNumber r))
                  form (read {:eof ::eof} r)]
              (if (= ::eof form)
                {:ns ns-name :shown shown}
                (let [v (eval form)
                      head (when (seq? form) (first form))]
                  (recur (if (contains? #{'ns 'def 'defn 'defn- 'require} head)
                           shown
                           (conj shown {:line line :form form :value v}))
                         (if (= 'ns head) (second form) ns-name))))))))
      (finally
        (if prev (System/setProperty "dlnlab.notebooks.quick" prev) (System/clearProperty "dlnlab.notebooks.quick"))))))

(deftest every-example-has-a-notebook
  (let [names (set (map #(.getName ^File %) (notebook-files)))]
    (doseq [^File edn (.listFiles (io/file "examples"))
            :when (str/ends-with? (.getName edn) ".edn")]
      (is (contains? names (notebook-name edn)) (str (.getName edn) " has no notebook in examples/notebooks")))))

(deftest notebooks-run
  (doseq [^File f (notebook-files)
          :let [text (slurp f)]]
    (testing (.getPath f)
      (testing "a plain namespace: dlnlab and clojure only, prose in comments"
        (is (str/starts-with? text ";; # ") "a Markdown title first")
        (is (not (re-find #"nextjournal|scicloj|portal" (first (re-seq #"(?s)\(ns .*?\n\n" text))))
            "the ns form requires no notebook tool"))
      (let [{:keys [ns shown]} (run-notebook f)
            figures (filter (comp vega-lite? :value) shown)]
        (try
          (is (seq shown) "it shows something")
          (is (seq figures) "it shows at least one figure")
          (doseq [{:keys [line form value]} shown]
            (is (some? value) (str (.getName f) ":" line " shows nil: " (pr-str form))))
          (doseq [{:keys [line value]} figures]
            (is (= :kind/vega-lite (:kindly/kind (meta value))) (str (.getName f) ":" line " lacks Kindly metadata"))
            (is (seq (data-rows value)) (str (.getName f) ":" line " has no data")))
          (finally (when ns (remove-ns ns))))))))
