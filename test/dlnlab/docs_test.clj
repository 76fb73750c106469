(ns dlnlab.docs-test
  "The documentation runs as written: every ```clojure block of README.md,
  doc/*.md, examples/README.md and examples/notebooks/README.md is read and
  evaluated form by form, each block in a fresh namespace of its own (so each
  block must stand alone), in file order. A form whose line ends in a comment
  `; => x` with x a literal (number, string, keyword, boolean, nil, vector,
  map, set) must evaluate to x (numbers compared with ==, at every depth);
  a comment naming something else after =>, e.g. `; => a double`, is prose."
  (:require [clojure.edn :as edn]
            [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]])
  (:import [clojure.lang LineNumberingPushbackReader]
           [java.io File StringReader]))

(set! *warn-on-reflection* true)

(defn doc-files
  "The Markdown files whose clojure blocks must run, in this order."
  []
  (concat [(io/file "README.md")]
          (sort-by #(.getName ^File %)
                   (filter #(str/ends-with? (.getName ^File %) ".md") (.listFiles (io/file "doc"))))
          [(io/file "examples/README.md") (io/file "examples/notebooks/README.md")]))

(defn clojure-blocks
  "The ```clojure blocks of Markdown text: [{:line first-code-line :code text}]."
  [text]
  (loop [lines (map-indexed vector (str/split-lines text)) in nil out []]
    (if-let [[[i line] & more] (seq lines)]
      (cond
        (and (nil? in) (re-matches #"\s*```clojure\s*" line)) (recur more {:line (+ 2 (long i)) :code []} out)
        (and in (re-matches #"\s*```\s*" line)) (recur more nil (conj out (update in :code #(str/join "\n" %))))
        in (recur more (update in :code conj line) out)
        :else (recur more nil out))
      out)))

(defn- claim
  "The literal after `; =>` on the rest of a line, as [:claim value], or nil when
  there is none or it is prose."
  [rest-of-line]
  (when-let [[_ text] (re-find #"^\s*;+\s*=>\s*(.*)$" rest-of-line)]
    (let [v (try (edn/read-string text) (catch Exception _ ::prose))]
      (when (or (nil? v) (number? v) (string? v) (keyword? v) (boolean? v) (coll? v))
        (when-not (and (nil? v) (not (re-find #"^nil\b" (str/trim text))))
          [:claim v])))))

(defn- same?
  "Equality where numbers compare with == at any depth of vectors and maps."
  [a b]
  (cond
    (and (number? a) (number? b)) (== (double a) (double b))
    (and (sequential? a) (sequential? b)) (and (= (count a) (count b)) (every? true? (map same? a b)))
    (and (map? a) (map? b)) (and (= (set (keys a)) (set (keys b))) (every? #(same? (get a %) (get b %)) (keys a)))
    :else (= a b)))

(defn- forms
  "The top-level forms of code with their end line and the claim on that line."
  [code]
  (let [lines (vec (str/split-lines code))
        r (LineNumberingPushbackReader. (StringReader. code))]
    (loop [out []]
      (let [form (read {:eof ::eof :read-cond :allow} r)]
        (if (= ::eof form)
          out
          (let [line (.getLineNumber r)
                col (.getColumnNumber r)
                text (get lines (dec line) "")
                rest-of-line (if (<= (dec col) (count text)) (subs text (max 0 (dec col))) "")]
            (recur (conj out {:form form :line line :claim (claim rest-of-line)}))))))))

(defn run-block!
  "Evaluates a block's forms in a fresh namespace; returns a vector of problems
  (strings), empty when every form ran and every claim held."
  [file {:keys [line code]}]
  (let [ns-name (gensym "dlnlab.docs-block-")
        the-ns (create-ns ns-name)
        where (fn [l] (str file ":" (+ (long line) (dec (long l)))))]
    (try
      ;; documentation is REPL code: reflection there is fine and not the build's
      (binding [*ns* the-ns *warn-on-reflection* false]
        (refer-clojure)
        (let [problems (atom [])
              _out (with-out-str
                     (doseq [{:keys [form claim] l :line} (forms code)
                             :while (empty? @problems)]
                       (try
                         (let [v (eval form)]
                           (when-let [[_ expected] claim]
                             (when-not (same? expected v)
                               (swap! problems conj (str (where l) ": " (pr-str form) " gave " (pr-str v)
                                                         ", the comment says " (pr-str expected))))))
                         (catch Throwable t
                           (swap! problems conj (str (where l) ": " (pr-str form) " threw " t))))))]
          @problems))
      (finally (remove-ns ns-name)))))

(deftest block-extraction
  (let [md "text\n```clojure\n(+ 1 2) ; => 3\n(str \"a\") ; => a string\n```\n```sh\nls\n```\n```clojure\n[1\n 2]   ;=> [1 2.0]\n```\n"
        blocks (clojure-blocks md)]
    (is (= [{:line 3 :code "(+ 1 2) ; => 3\n(str \"a\") ; => a string"} {:line 10 :code "[1\n 2]   ;=> [1 2.0]"}] blocks))
    (is (= [[:claim 3] nil] (map :claim (forms (:code (first blocks))))) "prose after => is not a claim")
    (is (= [] (run-block! "t.md" (first blocks))))
    (is (= [] (run-block! "t.md" (second blocks))) "numbers compare with ==")
    (is (re-find #"t\.md:3: \(\+ 1 2\) gave 3, the comment says 4"
                 (first (run-block! "t.md" {:line 3 :code "(+ 1 2) ; => 4"}))))
    (is (re-find #"t\.md:4: .* threw" (first (run-block! "t.md" {:line 3 :code "(def x 1)\n(undefined-fn x)"}))))
    (testing "each block gets its own namespace"
      (is (= [] (run-block! "t.md" {:line 1 :code "(def only-here 1)"})))
      (is (seq (run-block! "t.md" {:line 1 :code "only-here"}))
          "a var of an earlier block is not visible"))))

(deftest documentation-blocks-run
  (doseq [^File f (doc-files)
          :let [blocks (clojure-blocks (slurp f))]
          [i b] (map-indexed vector blocks)]
    (testing (str (.getPath f) " block " (inc (long i)) " (line " (:line b) ")")
      (is (= [] (run-block! (.getPath f) b))))))
