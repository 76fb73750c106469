(ns dlnlab.examples-test
  "Each example namespace function (dlnlab.examples/run-example) in its :quick
  variant shows what its example claims, checked from the trajectory with the
  formulas of SCIENCE.md rather than from the summary alone; the summary agrees;
  the figures the notebooks display are there; each notebook displays its
  example."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.examples :as ex]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- mean ^double [xs] (/ (double (reduce + (map double xs))) (count xs)))

(defn- last-fifth [col]
  (let [col (vec col) n (count col)]
    (filterv some? (subvec col (quot (* 4 n) 5) n))))

(defn- balanced-sharpness
  "L s^(2-2/L) (SCIENCE.md §5)."
  ^double [s depth]
  (let [L (double depth)] (* L (Math/pow (double s) (- 2.0 (/ 2.0 L))))))

(defn- spec-rows [spec] (get-in spec [:data :values]))

(defn- first-reaching
  "The first recorded step at which (nth modes i) reaches fraction 0.9 of target."
  [traj ^long i target]
  (some (fn [[step m]] (when (and m (>= (double (nth m i)) (* 0.9 (double target)))) step))
        (map vector (:step traj) (:modes traj))))

(deftest edge-of-stability
  ;; [EOS], SCIENCE.md §5-§6: beyond 2/S_1 the sharpness rises to 2/lr and
  ;; hovers there, and the loss settles into a period-2 oscillation
  (let [{:keys [result summary figures]} (ex/run-example "eos-factorization" {:quick true})
        exp (:experiment result)
        traj (:trajectory result)
        lr (double (get-in exp [:optimizer :lr]))
        thr (/ 2.0 lr)
        s1 (first (get-in exp [:task :singular-values]))
        late (last-fifth (:sharpness traj))
        loss (vec (take-last 40 (:loss traj)))]
    (is (> lr (/ 2.0 (balanced-sharpness s1 (get-in exp [:model :depth])))) "lr is beyond the edge of the balanced minimum")
    (is (< (Math/abs (- (mean late) thr)) (* 0.1 thr)) "late sharpness mean within 10% of 2/lr")
    (is (< (reduce min late) thr (reduce max late)) "and it crosses 2/lr")
    (is (< (double (first (filter some? (:sharpness traj)))) (* 0.1 thr)) "starting far below")
    (testing "the loss has period 2: equal two steps apart, different one step apart"
      (is (every? (fn [^long t] (< (Math/abs (- (double (loss (+ t 2))) (double (loss t)))) (* 1e-6 (double (loss t)))))
                  (range 38)))
      (is (every? (fn [^long t] (> (Math/abs (- (double (loss (inc t))) (double (loss t)))) (* 1e-3 (double (loss t)))))
                  (range 39))))
    (testing "the summary says the same"
      (is (= 2 (:loss-period summary)))
      (is (< (Math/abs (- (double (:late-sharpness-mean summary)) (mean late))) 1e-9))
      (is (== thr (:stability-threshold summary)))
      (is (true? (:beyond-the-edge? summary)))
      (is (= [1] (:oscillating-modes summary))))
    (testing "the figures the notebook shows; the sharpness figure has the 2/lr line"
      (is (= #{:loss :sharpness :modes :balance-gap} (set (keys figures))))
      (is (some #(and (str/starts-with? (str (:series %)) "2/η") (== thr (double (:y %))))
                (spec-rows (:sharpness figures)))))))

(deftest multi-pathway-rebalancing
  ;; [MP], SCIENCE.md §5: a mode with 2/S_single < lr leaves its lopsided split;
  ;; a mode stable at lr keeps it
  (let [{:keys [result summary figures]} (ex/run-example "multi-pathway-rebalancing" {:quick true})
        exp (:experiment result)
        lr (double (get-in exp [:optimizer :lr]))
        depth (get-in exp [:model :depth])
        targets (get-in exp [:task :singular-values])
        oscillates? (mapv #(> (* lr (balanced-sharpness % depth)) 2.0) targets)
        initial (get-in exp [:model :init :shares])
        final (last (filter some? (get-in result [:trajectory :pathway-shares])))
        dominant (fn [shares] (reduce max (map double shares)))]
    (is (= [true false] oscillates?) "mode 1 oscillates on a single pathway, mode 2 does not")
    (is (= [0.95 0.95] (first initial)) "both modes start with 95% in pathway 1")
    (doseq [i [0 1]
            :let [d (dominant (nth final i))]]
      (if (nth oscillates? i)
        (is (< d 0.9) (str "mode " (inc (long i)) " re-balanced: dominant share " d))
        (is (> d 0.95) (str "mode " (inc (long i)) " kept its split: dominant share " d))))
    (testing "the summary says the same"
      (is (= oscillates? (mapv :oscillates-at-a-single-path? (:modes summary))))
      (is (= (mapv #(dominant (nth final %)) [0 1]) (mapv :final-dominant-share (:modes summary)))))
    (is (contains? figures :pathway-shares))))

(deftest sgd-saddle-to-saddle
  ;; [SDE], SCIENCE.md §4, §7: from small initialization the modes are learned
  ;; one at a time in the order of their singular values; SGD ends at the
  ;; label-noise floor m sigma^2 / 2
  (let [{:keys [result summary figures]} (ex/run-example "sgd-saddle-to-saddle" {:quick true})
        exp (:experiment result)
        task (:task exp)
        sv (get-in task [:teacher :singular-values])
        by-value (sort-by #(- (double (nth sv %))) (range (count sv)))
        learned (mapv #(first-reaching (:trajectory result) % (nth sv %)) by-value)
        sigma (double (:label-noise task))
        floor (/ (* (double (:output-dim task)) sigma sigma) 2.0)]
    (is (every? some? learned) (str "every mode is learned: " learned))
    (is (apply < learned) (str "in the order of the singular values: " learned))
    (is (< (Math/abs (- (double (get-in result [:final :loss])) floor)) (* 0.1 floor)) "ends at the noise floor")
    (testing "the summary says the same"
      (is (true? (:learned-in-order? summary)))
      (is (= [1 2 3] (:learning-order summary))))
    (is (= #{:loss :modes :modes-log} (set (keys figures))))))

(deftest mup-vs-ntk-width
  ;; [BP], SCIENCE.md §1: under muP the step at which mode 1 is learned does not
  ;; drift with the width; under NTK it grows with the width
  (let [{:keys [results summary figures]} (ex/run-example "mup-vs-ntk-width" {:quick true})
        s1 (first (get-in (first results) [:experiment :task :teacher :singular-values]))
        step (fn [p w] (some #(when (= {[:model :parameterization] p [:model :width] w} (get-in % [:sweep :point]))
                                (first-reaching (:trajectory %) 0 s1))
                             results))
        widths (:widths summary)
        spread (fn [p] (let [xs (map #(step p %) widths)] (- (long (apply max xs)) (long (apply min xs)))))]
    (is (= [16 64 256] widths) "the quick variant has three widths")
    (is (every? some? (for [p [:mup :ntk] w widths] (step p w))) "mode 1 is learned in every run")
    (is (< (spread :mup) (spread :ntk)) (str "muP varies less across widths: " (spread :mup) " vs " (spread :ntk)))
    (is (apply < (map #(step :ntk %) widths)) "NTK learns later as it widens")
    (testing "the summary says the same"
      (is (< (long (get-in summary [:mode-1-learned-step-spread :mup]))
             (long (get-in summary [:mode-1-learned-step-spread :ntk]))))
      (is (= 0 (:failed-runs summary))))
    (testing "sweep figures: one panel per parameterization"
      (is (= #{:loss :modes} (set (keys figures))))
      (is (contains? (:modes figures) :facet))
      (is (= #{"parameterization = mup" "parameterization = ntk"} (set (map :panel (spec-rows (:modes figures)))))))))

(deftest errors-and-helpers
  (is (thrown-with-msg? clojure.lang.ExceptionInfo #"Unknown example \"nope\"; the examples are eos-factorization"
                        (ex/run-example "nope")))
  (is (thrown-with-msg? clojure.lang.ExceptionInfo #"File not found"
                        (ex/load-example "eos-factorization" {:dir "target/no-such-dir"})))
  (is (= [10.0 [0.3333] {:a 1.235}] (ex/rounded [9.999999999999996 [(/ 1.0 3.0)] {:a 1.23456}])))
  (is (= {:head ["fact" "value"] :rows [["lr" 0.0315] ["modes" "[1 2]"]]}
         (ex/summary-table (array-map :lr 0.0315 :modes [1 2])))))

(deftest each-notebook-displays-its-example
  (doseq [nm ex/example-names
          :let [f (io/file "examples" "notebooks" (str (str/replace nm "-" "_") ".clj"))]]
    (testing nm
      (is (.exists f))
      (when (.exists f)
        (let [text (slurp f)
              forms (binding [*ns* (create-ns 'dlnlab.examples-test.notebook)]
                      ;; ::clerk/... keywords need the alias while reading
                      (alias 'clerk (create-ns 'nextjournal.clerk))
                      (let [r (java.io.PushbackReader. (java.io.StringReader. text))]
                        (vec (take-while #(not= ::eof %) (repeatedly #(read {:eof ::eof} r))))))]
          (is (= 'ns (ffirst forms)) "a namespace first, as Clerk wants")
          (is (str/includes? text (str "(ex/run-example \"" nm "\"")))
          (is (str/includes? text "[dlnlab.examples :as ex]"))
          (is (str/includes? text ":kindly/kind :kind/vega-lite")))))))
