(ns dlnlab.io-test
  "dlnlab.io: EDN written by write-edn reads back equal with clojure.edn (random
  nested data with NaN and infinities, test.check), lines stay within the width,
  trajectories become CSV whose cells parse back to the trajectory's numbers,
  atomic writes leave nothing behind on failure, writability probes, and every
  read error names the file."
  (:require [clojure.edn :as edn]
            [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.generators :as gen]
            [clojure.test.check.properties :as prop]
            [clojure.walk :as walk]
            [dlnlab.io :as dio])
  (:import [java.io File StringWriter]
           [java.nio.file Files]
           [java.nio.file.attribute FileAttribute]))

(set! *warn-on-reflection* true)

(defn- temp-dir ^File []
  (.toFile (Files/createTempDirectory "dlnlab-io-test" (make-array FileAttribute 0))))

(defn- delete-tree [^File f]
  (when (.isDirectory f) (doseq [c (.listFiles f)] (delete-tree c)))
  (.setWritable f true)
  (.delete f))

(defn- nan->marker
  "x with every NaN replaced by a keyword, so = can compare values holding NaN."
  [x]
  (walk/postwalk #(if (and (double? %) (Double/isNaN %)) ::nan %) x))

(def ^:private gen-scalar
  (gen/one-of [gen/small-integer
               gen/large-integer
               (gen/double* {:infinite? true :NaN? true})
               gen/keyword
               gen/keyword-ns
               gen/string
               gen/boolean
               (gen/return nil)
               gen/symbol]))

(def ^:private gen-data
  (gen/recursive-gen (fn [inner]
                       (gen/one-of [(gen/vector inner 0 12)
                                    (gen/map gen/keyword inner {:max-elements 10})
                                    (gen/list inner)
                                    (gen/set gen/small-integer {:max-elements 5})
                                    (gen/vector (gen/double* {:infinite? true :NaN? true}) 0 60)]))
                     gen-scalar))

(defspec edn-round-trip 150
  (prop/for-all [x gen-data]
    (let [s (dio/edn-str x)]
      (and (str/ends-with? s "\n")
           (= (nan->marker x) (nan->marker (edn/read-string s)))))))

(deftest edn-special-doubles-and-layout
  (let [x {:nan ##NaN :inf ##Inf :ninf ##-Inf :tiny 4.9E-324 :neg-zero -0.0 :big 1.7976931348623157E308
           :trajectory {:loss (vec (map #(/ 1.0 (inc (double %))) (range 500)))
                        :modes (vec (repeat 50 [1.0 ##NaN 3.0]))}
           :text "a \"quoted\"\nline, with comma"}
        s (dio/edn-str x)
        back (edn/read-string s)]
    (is (Double/isNaN (:nan back)))
    (is (= ##Inf (:inf back)))
    (is (= ##-Inf (:ninf back)))
    (is (= 4.9E-324 (:tiny back)))
    (is (= "-0.0" (str (:neg-zero back))) "the sign of zero survives")
    (is (= (:text x) (:text back)))
    (is (= (:loss (:trajectory x)) (:loss (:trajectory back))) "doubles round-trip exactly")
    (testing "lines stay within 100 columns; a small map stays on one line"
      (is (every? #(<= (count %) 100) (str/split-lines s)))
      (is (= "{:a 1 :b [1.0 2.0]}\n" (dio/edn-str {:a 1 :b [1.0 2.0]}))))
    (testing "long columns are wrapped, not one number per line"
      (is (< (count (str/split-lines s)) 200)))))

(deftest edn-refuses-non-data
  (let [e (try (dio/edn-str {:a (double-array 2)}) nil (catch clojure.lang.ExceptionInfo e e))]
    (is (some? e))
    (is (re-find #"plain data" (ex-message e)))))

(deftest csv-cells
  (is (= "" (dio/csv-cell nil)))
  (is (= "NaN" (dio/csv-cell ##NaN)))
  (is (= "Inf" (dio/csv-cell ##Inf)))
  (is (= "-Inf" (dio/csv-cell ##-Inf)))
  (is (= "completed" (dio/csv-cell :completed)))
  (is (= "\"a,b\"" (dio/csv-cell "a,b")))
  (is (= "\"say \"\"hi\"\"\"" (dio/csv-cell "say \"hi\"")))
  (is (= 0.1 (Double/parseDouble (dio/csv-cell 0.1)))))

(defn- parse-csv
  "Rows of cells of simple CSV (no quoted cells)."
  [^String s]
  (mapv #(str/split % #"," -1) (str/split-lines s)))

(def ^:private trajectory
  {:step [0 10 20]
   :time [0.0 0.5 1.0]
   :loss [2.0 1.0 ##NaN]
   :sharpness [3.5 nil 4.5]
   :modes [[0.1 0.2 0.3] [0.4 0.5 0.6] [0.7 0.8 0.9]]
   :pathway-shares [[nil nil] [[0.9 0.1] [0.5 0.5]] [[0.8 0.2] nil]]
   :balance-gap [[[1.0 2.0]] [[3.0 4.0]] [[5.0 6.0]]]
   :layer-singular-values [[[[1.0 0.5] [2.0]]] nil [[[1.5 0.25] [2.5]]]]})

(deftest trajectory-column-names
  (let [names (mapv :name (dio/trajectory-columns trajectory [:loss :sharpness :modes :pathway-shares
                                                              :balance-gap :layer-singular-values]))]
    (is (= ["step" "time" "loss" "sharpness" "modes_1" "modes_2" "modes_3"
            "pathway_shares_m1_p1" "pathway_shares_m1_p2" "pathway_shares_m2_p1" "pathway_shares_m2_p2"
            "balance_gap_p1_l1" "balance_gap_p1_l2"
            "layer_singular_values_p1_l1_s1" "layer_singular_values_p1_l1_s2"
            "layer_singular_values_p1_l2_s1" "layer_singular_values_p1_l2_s2"]
           names))))

(deftest trajectory-csv-matches-the-trajectory
  (let [metrics [:loss :sharpness :modes :pathway-shares :balance-gap :layer-singular-values]
        sw (StringWriter.)
        _ (dio/write-trajectory-csv sw trajectory metrics)
        [header & rows] (parse-csv (str sw))
        col (fn [nm] (.indexOf ^java.util.List header nm))
        cell (fn [r nm] (nth (nth rows r) (col nm)))
        num (fn [^String c] (case c "" nil "NaN" ##NaN (Double/parseDouble c)))]
    (is (= 3 (count rows)))
    (is (every? #(= (count header) (count %)) rows) "every row has every column")
    (doseq [r (range 3)]
      (is (= (nth (:step trajectory) r) (long (num (cell r "step")))))
      (is (= (nth (:time trajectory) r) (num (cell r "time"))))
      (is (= (nth (:sharpness trajectory) r) (num (cell r "sharpness"))) "nil is an empty cell")
      (doseq [i (range 3)]
        (is (= (get-in trajectory [:modes r i]) (num (cell r (str "modes_" (inc i)))))))
      (doseq [m (range 2) p (range 2)]
        (is (= (get-in trajectory [:pathway-shares r m p])
               (num (cell r (str "pathway_shares_m" (inc m) "_p" (inc p)))))))
      (doseq [l (range 2)]
        (is (= (get-in trajectory [:balance-gap r 0 l]) (num (cell r (str "balance_gap_p1_l" (inc l))))))))
    (is (Double/isNaN (num (cell 2 "loss"))))
    (is (= "" (cell 1 "layer_singular_values_p1_l1_s1")) "a row without the metric is empty")
    (is (= "" (cell 0 "layer_singular_values_p1_l2_s2")) "a layer with fewer values pads with empty cells")
    (is (= 0.25 (num (cell 2 "layer_singular_values_p1_l1_s2"))))))

(deftest atomic-writes
  (let [dir (temp-dir)]
    (try
      (testing "string and writer content, parent directories created"
        (let [p (io/file dir "a" "b" "x.txt")]
          (dio/write-atomically! p "hello")
          (is (= "hello" (slurp p)))
          (dio/write-atomically! p (fn [^java.io.Writer w] (.write w "again")))
          (is (= "again" (slurp p)))))
      (testing "a failing writer leaves the old file and no temporary file"
        (let [p (io/file dir "a" "b" "x.txt")]
          (is (thrown? RuntimeException
                       (dio/write-atomically! p (fn [^java.io.Writer w] (.write w "half") (throw (RuntimeException. "boom"))))))
          (is (= "again" (slurp p)))
          (is (= ["x.txt"] (vec (.list (io/file dir "a" "b")))))))
      (testing "a path under a regular file is an ex-info naming the path"
        (spit (io/file dir "plain") "x")
        (let [p (str (io/file dir "plain" "sub" "y.edn"))
              e (try (dio/write-atomically! p "x") nil (catch clojure.lang.ExceptionInfo e e))]
          (is (= :unwritable (:problem (ex-data e))))
          (is (str/includes? (ex-message e) p))))
      (testing "the temporary file lives beside the target (a rename, never a copy across filesystems) and is a temp-file?"
        (let [p (io/file dir "a" "b" "x.txt")
              seen (atom nil)]
          (dio/write-stream-atomically! p (fn [^java.io.OutputStream out]
                                            (reset! seen (vec (.list (io/file dir "a" "b"))))
                                            (.write out (.getBytes "bytes" "UTF-8"))))
          (is (= "bytes" (slurp p)))
          (is (= 2 (count @seen)) "the target and one temporary file")
          (is (= [true] (mapv dio/temp-file? (remove #{"x.txt"} @seen))))
          (is (not (dio/temp-file? "x.txt")))
          (is (= ["x.txt"] (vec (.list (io/file dir "a" "b")))))))
      (testing "write-edn-file! writes EDN that reads back"
        (let [p (io/file dir "r.edn")]
          (dio/write-edn-file! p {:a [1.0 ##Inf]})
          (is (= {:a [1.0 ##Inf]} (dio/read-edn-file p)))))
      (finally (delete-tree dir)))))

(deftest writable-dir-probe
  (let [dir (temp-dir)]
    (try
      (testing "a new nested directory is accepted and not created"
        (let [d (io/file dir "x" "y")]
          (is (= d (dio/check-writable-dir! d)))
          (is (not (.exists (io/file dir "x"))))
          (is (empty? (.list dir)) "the probe file is gone")))
      (testing "a path under a regular file is refused"
        (spit (io/file dir "f") "x")
        (let [e (try (dio/check-writable-dir! (io/file dir "f" "out")) nil (catch clojure.lang.ExceptionInfo e e))]
          (is (= :unwritable (:problem (ex-data e))))
          (is (re-find #"is a file, not a directory" (ex-message e)))))
      (testing "a directory nobody can write in is refused (/proc: not even root)"
        (let [e (try (dio/check-writable-dir! (io/file "/proc" "dlnlab-out")) nil (catch clojure.lang.ExceptionInfo e e))]
          (is (= :unwritable (:dlnlab/error (ex-data e))))
          (is (= :unwritable (:problem (ex-data e))))
          (is (re-find #"/proc is not writable" (ex-message e)))
          (is (not (.exists (io/file "/proc" "dlnlab-out"))))))
      (testing "an empty or blank path is refused, not taken for the root or the current directory"
        (doseq [p ["" "  "]]
          (let [e (try (dio/check-writable-dir! p) nil (catch clojure.lang.ExceptionInfo e e))]
            (is (= :unwritable (:dlnlab/error (ex-data e))) (pr-str p))
            (is (re-find #"empty path" (ex-message e))))))
      (finally (delete-tree dir)))))

(deftest read-errors-name-the-file
  (let [dir (temp-dir)
        f (fn [nm content] (let [p (io/file dir nm)] (spit p content) (str p)))]
    (try
      (doseq [[path problem pattern]
              [[(str (io/file dir "missing.edn")) :not-found #"not found"]
               [(f "empty.edn" "  ") :empty #"empty"]
               [(f "trunc.edn" "{:seed 1 :model {:kind :chain") :malformed #"truncated"]
               [(f "two.edn" "{:a 1} {:b 2}") :trailing-forms #"more than one"]
               [(str dir) :directory #"directory"]]]
        (let [e (try (dio/read-edn-file path) nil (catch clojure.lang.ExceptionInfo e e))]
          (is (= problem (:problem (ex-data e))) path)
          (is (str/includes? (ex-message e) path))
          (is (re-find pattern (ex-message e)))))
      (is (= {:a [1 2]} (dio/read-edn-file (f "ok.edn" "{:a [1 2]}"))))
      (finally (delete-tree dir)))))
