(ns dlnlab.input-limits-test
  "Hostile input gives short, clear messages: EDN nested deeper than the limit
  is refused (not a StackOverflowError), echoed values are shortened, and a
  file given as data is never echoed beyond the offending token."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [dlnlab.cli-runner :as runner]
            [dlnlab.error :as error]
            [dlnlab.experiment :as experiment]
            [dlnlab.io :as dio]
            [dlnlab.temp-dir :as temp-dir :refer [path]]))

(use-fixtures :each (temp-dir/fixture "dlnlab-limits"))

(defn- nested
  "EDN text of n nested vectors around 1, one bracket per line from line 1."
  ^String [^long n]
  (str (str/join "\n" (repeat n "[")) "1" (apply str (repeat n "]"))))

(defn- thrown-data [f]
  (try (f) nil (catch clojure.lang.ExceptionInfo e (assoc (ex-data e) :message (ex-message e)))))

(defn- on-small-stack
  "(f) on a thread with a 256 KB stack: its value, or :stack-overflow."
  [f]
  (let [p (promise)
        t (Thread. nil #(deliver p (try (f) (catch StackOverflowError _ :stack-overflow))) "small-stack" (* 256 1024))]
    (.start t) (.join t) @p))

(deftest the-reader-refuses-nesting-beyond-the-limit
  (let [limit (long dio/*max-edn-depth*)]
    (testing "at the limit the file reads, one deeper it is refused naming the line of the bracket"
      (spit (path "ok.edn") (nested limit))
      (spit (path "deep.edn") (nested (inc limit)))
      (is (= 1 (first (flatten (dio/read-edn-file (path "ok.edn"))))))
      (let [d (thrown-data #(dio/read-edn-file (path "deep.edn")))]
        (is (= :unreadable-file (:dlnlab/error d)))
        (is (= :too-deep (:problem d)))
        (is (= (inc limit) (:line d)) "one bracket per line: the bracket past the limit is on line limit + 1")
        (is (str/includes? (:message d) (str "more than " limit " deep")))))
    (testing "100000 brackets: refused, not a StackOverflowError"
      (spit (path "huge.edn") (apply str (repeat 100000 "[")))
      (is (= :too-deep (:problem (thrown-data #(dio/read-edn-file (path "huge.edn")))))))
    (testing "the limit is safe: the deepest accepted value reads on a 256 KB stack"
      (is (= 1 (on-small-stack #(first (flatten (dio/read-edn-string (nested limit) "x")))))))
    (testing "brackets in strings, comments and character literals do not count"
      (let [noise (apply str (repeat (* 2 limit) "["))
            text (str "{:a \"" noise "\" ; " noise "\n :b [\\[ \\( \\{] :c \"esc\\\"" noise "\"}")]
        (is (= {:a noise :b [\[ \( \{] :c (str "esc\"" noise)} (dio/read-edn-string text "text")))))
    (testing "read-edn-string: the same limit; empty and trailing forms named"
      (is (= :too-deep (:problem (thrown-data #(dio/read-edn-string (nested (inc limit)) "v")))))
      (is (= :empty (:problem (thrown-data #(dio/read-edn-string "  " "v")))))
      (is (= :trailing-forms (:problem (thrown-data #(dio/read-edn-string "1 2" "v"))))))
    (testing "the limit is configurable"
      (binding [dio/*max-edn-depth* 3]
        (is (= [[[1]]] (dio/read-edn-string "[[[1]]]" "v")))
        (is (= :too-deep (:problem (thrown-data #(dio/read-edn-string "[[[[1]]]]" "v")))))))))

(deftest the-command-line-exits-2-on-deep-nesting
  (spit (path "deep.edn") (apply str (repeat 100000 "[")))
  (doseq [command ["run" "validate" "sweep"]]
    (let [{:keys [code err]} (runner/run-cli false [command (path "deep.edn")])]
      (is (= 2 code) command)
      (is (str/includes? err "nests collections more than") err)
      (is (not (str/includes? err "StackOverflow")))))
  (testing "a deeply nested --set value"
    (spit (path "tiny.edn") (pr-str {:seed 1 :model {:kind :chain :depth 1}
                                     :task {:kind :matrix-factorization :singular-values [1.0]}
                                     :optimizer {:kind :gd :lr 0.1} :steps 2}))
    (let [{:keys [code err]} (runner/run-cli false ["validate" (path "tiny.edn") "--set"
                                                    (str "optimizer.lr=" (apply str (repeat 100000 "[")))])]
      (is (= 2 code))
      (is (str/includes? err "nests collections more than"))
      (is (< (count err) 800) "the 100000 brackets are not echoed"))))

(def ^:private base
  {:seed 1 :model {:kind :chain :depth 1} :task {:kind :matrix-factorization :singular-values [1.0]}
   :optimizer {:kind :gd :lr 0.1} :steps 2})

(defn- cli-error
  "The stderr of `dlnlab run` on experiment exp (written to a file), with the
  exit code checked to be 2."
  [exp]
  (spit (path "exp.edn") (pr-str exp))
  (let [{:keys [code err]} (runner/run-cli false ["run" (path "exp.edn") "--out" (path "out")])]
    (is (= 2 code) err)
    err))

(deftest messages-shorten-what-they-echo
  (let [big (apply str (repeat 50000 "y"))
        spaced (str/join " " (repeat 10000 "word"))]
    (testing "a 50 KB value, a 50 KB key, a long value with spaces: messages of a few hundred characters"
      (doseq [[what exp] [["value" (assoc-in base [:optimizer :lr] big)]
                          ["key" (assoc base (keyword big) 1)]
                          ["spaced value" (assoc-in base [:optimizer :lr] spaced)]
                          ["nested value" (assoc-in base [:optimizer :kind] (vec (repeat 50 [big])))]]]
        (let [err (cli-error exp)
              api (:message (thrown-data #(experiment/run exp)))]
          (is (< (count err) 700) (str what ": " (subs err 0 (min 300 (count err)))))
          (is (some? api) what)
          (is (< (count api) 700) what)
          (is (re-find #"\.\.\." err) (str what ": the cut is marked")))))
    (testing "a 50 KB CSV field: the line and field are named, the field cut"
      (spit (path "x.csv") (str "1,2\n3," big "\n"))
      (let [err (cli-error (assoc base :task {:kind :dataset :x-file (path "x.csv") :y-file (path "x.csv")}))]
        (is (str/includes? err "line 2"))
        (is (str/includes? err "field 2"))
        (is (< (count err) 500) err)))))

(deftest a-data-file-is-not-echoed-beyond-the-offending-token
  (let [secret-tail "TAIL-OF-THE-LINE-THAT-MUST-NOT-SHOW"
        next-line "NEXT-LINE-MUST-NOT-SHOW"
        f (path "notes.txt")]
    (spit f (str "name,comment\n"
                 "alice:x:1000:1000:A long private comment here " secret-tail ",two\n"
                 next-line "\n"))
    (let [err (cli-error (assoc base :task {:kind :dataset :x-file f :y-file f}))]
      (is (str/includes? err "line 2"))
      (is (str/includes? err "field 1"))
      (is (str/includes? err "\"alice:x:1000") "the start of the offending token, to find it")
      (is (not (str/includes? err secret-tail)) err)
      (is (not (str/includes? err "two")) "not the next field")
      (is (not (str/includes? err next-line)) "not the next line")
      (is (not (str/includes? err "comment")) "not the header"))))

(deftest shorten-message-replaces-long-echoes-and-keeps-short-ones
  (let [v (vec (range 1000))
        msg (str "[:a] must be a number, got " (pr-str v) " (see the docs)")]
    (is (= msg (error/shorten-message msg {:value 3})) "nothing to do: the long text is not the value")
    (is (= (str "[:a] must be a number, got " (error/show v) " (see the docs)")
           (error/shorten-message msg {:value v})))
    (is (= "short message" (error/shorten-message "short message" {:value v})))
    (let [token (apply str (repeat 500 "z"))
          out (error/shorten-message (str "bad token " token " here") {})]
      (is (= (str "bad token " (subs token 0 117) "... here") out) "a long run of non-blank characters is cut"))))
