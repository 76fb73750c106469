(ns dlnlab.architecture-test
  "The shape of the code: the namespace graph read from the ns forms of every
  source file has no cycle, and dependencies point one way, from presentation
  to results to the library, never back."
  (:require [clojure.java.io :as io]
            [clojure.set :as set]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]])
  (:import [java.io File PushbackReader]))

(def ^:private source-roots
  "Where the project's Clojure sources live (studies/ once the paper
  reproductions have moved there)."
  ["src" "studies"])

(defn- source-files []
  (for [root source-roots
        :let [dir (io/file root)]
        :when (.isDirectory dir)
        ^File f (file-seq dir)
        :when (str/ends-with? (.getName f) ".clj")]
    f))

(defn- ns-form
  "The first form of file f, read without evaluation."
  [f]
  (with-open [r (PushbackReader. (io/reader f))]
    (binding [*read-eval* false]
      (read {:read-cond :allow} r))))

(defn- libspec-names
  "The namespace names one libspec of a :require clause names: a symbol, a
  vector [name & opts], or a prefix list (prefix suffix-or-libspec ...)."
  [spec]
  (cond
    (symbol? spec) [spec]
    (vector? spec) [(first spec)]
    (seq? spec) (let [[prefix & more] spec]
                  (for [s more
                        :let [suffix (if (vector? s) (first s) s)]]
                    (symbol (str prefix "." suffix))))
    :else []))

(defn- requires
  "The dlnlab namespaces an ns form requires (or uses)."
  [form]
  (set (for [clause (drop 2 form)
             :when (and (seq? clause) (#{:require :use} (first clause)))
             spec (rest clause)
             n (libspec-names spec)
             :when (str/starts-with? (str n) "dlnlab.")]
         n)))

(defn- graph
  "{ns #{required dlnlab namespaces}} of every source file."
  []
  (into {} (for [f (source-files)
                 :let [form (ns-form f)]
                 :when (and (seq? form) (= 'ns (first form)))]
             [(second form) (requires form)])))

(defn- cycle-through
  "A cycle of graph g as a vector of namespaces, or nil (depth-first search)."
  [g]
  (let [state (atom {})
        found (atom nil)]
    (letfn [(visit [n path]
              (case (get @state n)
                :open (reset! found (conj (subvec path (.indexOf ^java.util.List path n)) n))
                :done nil
                (do (swap! state assoc n :open)
                    (doseq [m (get g n) :while (nil? @found)]
                      (visit m (conj path n)))
                    (swap! state assoc n :done))))]
      (doseq [n (keys g) :while (nil? @found)]
        (visit n []))
      @found)))

;; The layers, top to bottom. A namespace may require namespaces of its own
;; layer or of the layers below it, never of a layer above:
;;   :studies       paper reproductions and notebook computations
;;   :presentation  figures, Vega-Lite, rendering, progress lines, the CLI
;;   :results       run directories, resumable sweeps on disk, and the summaries
;;                  (text and table rows) read off results
;;   :library       everything else: kinds, kernels' wrappers, runs, analyses
(def ^:private layer-rank {:library 0 :results 1 :presentation 2 :studies 3})

(defn- layer
  "The layer of namespace n."
  [n]
  (let [s (str n)]
    (cond
      (or (str/starts-with? s "dlnlab.papers.") (str/starts-with? s "dlnlab.studies.")
          (#{"dlnlab.study" "dlnlab.examples"} s)) :studies
      (or (#{"dlnlab.figure" "dlnlab.vega" "dlnlab.render" "dlnlab.progress" "dlnlab.cli" "dlnlab.report"} s)
          (str/starts-with? s "dlnlab.figure.") (str/starts-with? s "dlnlab.cli.")) :presentation
      (or (#{"dlnlab.store" "dlnlab.summary"} s) (str/starts-with? s "dlnlab.store.")) :results
      :else :library)))

(deftest the-namespace-graph-has-no-cycle
  (let [g (graph)]
    (is (contains? g 'dlnlab.core) "the graph is read from src/")
    (is (nil? (cycle-through g)) (str "cycle: " (str/join " -> " (cycle-through g))))
    (testing "the check finds a cycle when there is one"
      (is (= '[a b a] (cycle-through {'a #{'b} 'b #{'a}}))))))

(deftest dependencies-point-down-the-layers
  (let [upward (for [[n reqs] (graph)
                     r reqs
                     :when (> (long (layer-rank (layer r))) (long (layer-rank (layer n))))]
                 [n r])]
    (is (empty? upward) (str "upward edges: " (vec upward)))
    (is (= :presentation (layer 'dlnlab.figure.run)))
    (is (= :library (layer 'dlnlab.train)))))

(deftest only-the-sde-namespace-tests-for-sde
  ;; The SDE kind lives in dlnlab.sde; everything else dispatches on
  ;; dlnlab.result/kind or on the dlnlab.kind multimethods.
  (let [files (remove #(= "src/dlnlab/sde.clj" (str/replace (.getPath ^File %) File/separator "/"))
                      (source-files))]
    (is (< 40 (count files)) "every source file but the SDE namespace is read")
    (doseq [^File f files]
      (is (not (str/includes? (slurp f) "(= :sde")) (str f)))))

(deftest no-hidden-edges
  ;; A require hidden in a requiring-resolve is an edge the ns forms do not
  ;; show (it once hid an experiment <-> sde cycle). Only the CLI may look a
  ;; namespace up at run time: the studies, which are not on the library's
  ;; classpath.
  (doseq [^File f (source-files)
          :when (str/includes? (slurp f) "(requiring-resolve")]
    (is (re-find #"src/dlnlab/cli(\.clj|/)" (str/replace (.getPath f) File/separator "/"))
        (str f " looks a namespace up at run time"))))

(def ^:private max-lines
  "The most lines a source namespace may have: beyond it a namespace has usually
  grown a second subject, which belongs in a namespace of its own."
  600)

(defn- line-count [^File f]
  (with-open [r (io/reader f)] (count (line-seq r))))

(deftest no-namespace-is-too-long
  (let [files (source-files)
        long-ones (for [f files :let [n (line-count f)] :when (> (long n) (long max-lines))]
                    [(str f) n])]
    (is (< 40 (count files)) "every source file is counted")
    (is (empty? long-ones) (str "namespaces over " max-lines " lines: " (vec long-ones)))
    (testing "the count is of lines"
      (let [tmp (File/createTempFile "lines" ".clj")]
        (try (spit tmp "(ns a)\n\n(def b 1)\n")
             (is (= 3 (line-count tmp)))
             (finally (.delete tmp)))))))
