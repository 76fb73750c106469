(ns dlnlab.run-reuse-test
  "What a run reuses to cut its fixed cost must not change a number: the
  normalized maps remembered by identity (dlnlab.spec), the generated tasks kept
  for sweeps (dlnlab.task), and the kernel workspace whose backward and HVP
  buffers are allocated at first use (Engine.Workspace). Each is compared with
  the route that builds everything afresh."
  (:require [clojure.edn :as edn]
            [clojure.java.io :as io]
            [clojure.test :refer [deftest is testing]]
            [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.properties :as prop]
            [dlnlab.experiment :as experiment]
            [dlnlab.gen :as g]
            [dlnlab.network :as network]
            [dlnlab.spec :as spec]
            [dlnlab.task :as task])
  (:import [dlnlab.kernel Arch Engine Engine$Workspace Objective Rng]
           [java.util Arrays]))

(set! *warn-on-reflection* true)

(defn- fresh-run
  "The result of exp with nothing reused: every map normalized by a walk, the
  task built afresh."
  [exp]
  (binding [spec/*reuse-normalized?* false task/*reuse-data?* false]
    (experiment/run exp)))

(defn- same-result?
  "Equal results apart from :meta (times, host), compared as printed, so every
  double must have the same digits."
  [a b]
  (= (pr-str (dissoc a :meta)) (pr-str (dissoc b :meta))))

(defn- example [f] (dissoc (edn/read-string (slurp (io/file "examples" f))) :name))

(def ^:private experiments
  "Runs over every task kind, optimizer and sampling, with test-set and noise metrics."
  (let [ts {:kind :teacher-student :input-dim 5 :output-dim 4 :samples 60 :test-samples 30 :label-noise 0.2}
        base {:seed 3 :model {:kind :multi-pathway :pathways 2 :depth 3 :width 6} :task ts
              :optimizer {:kind :gd :lr 0.05} :steps 30
              :record {:every 3 :metrics [:loss :test-loss :sharpness]}}]
    [base
     (assoc base :optimizer {:kind :sgd :lr 0.05 :batch-size 8 :sampling :with-replacement})
     (assoc base :optimizer {:kind :sgd :lr 0.05 :batch-size 8 :sampling :epochs})
     (assoc base :optimizer {:kind :sgd :lr 0.05 :batch-size 8 :sampling :one-pass})
     (assoc base :optimizer {:kind :langevin :lr 0.05 :temperature 1e-4})
     (assoc base :record {:every 5 :metrics [:loss :noise-trace :mode-noise]})
     (assoc base :task {:kind :matrix-factorization :singular-values [2.0 1.0] :dims [4 5] :basis :random})
     (assoc base :task {:kind :dataset :x [[1.0 2.0] [0.5 -1.0] [2.0 0.1] [-1.0 0.3]]
                        :y [[1.0] [0.0] [2.0] [-0.5]]})
     (assoc (example "multi-pathway-rebalancing.edn") :steps 60)
     (assoc (example "sgd-noise.edn") :steps 40)]))

(deftest reused-runs-give-the-fresh-results
  (doseq [exp experiments]
    (let [fresh (fresh-run exp)]
      (testing (pr-str (select-keys exp [:task :optimizer]))
        (is (= :completed (:status fresh)))
        ;; the first run keeps what it built, the second finds it
        (is (same-result? fresh (experiment/run exp)))
        (is (same-result? fresh (experiment/run exp)))
        (is (same-result? fresh (experiment/run (spec/normalize exp))) "a normalized map run again")
        (let [other (assoc exp :seed (inc (long (:seed exp 0))))]
          (is (same-result? (fresh-run other) (experiment/run other)) "the same task spec under another seed"))))))

(deftest runs-never-write-a-kept-task
  (let [exp (assoc (first experiments) :seed 41)
        t (task/build-task (:task exp) (:seed exp))
        arrays (fn [t] (into {} (for [k [:x :y :test-x :test-y] :when (get t k)] [k (get t k)])))
        objective-arrays (fn [^Objective o] [(.fstar o) (.sxx o) (.cfac o)])
        copies (update-vals (arrays t) aclone)
        obj-copies (mapv #(mapv aclone (objective-arrays %)) [(:objective t) (:test-objective t)])]
    (doseq [e (map #(assoc % :seed 41) (take 6 experiments))]
      (experiment/run e))
    (is (identical? t (task/build-task (:task exp) (:seed exp))) "the task was kept")
    (doseq [[k a] (arrays t)]
      (is (Arrays/equals ^doubles a ^doubles (copies k)) (str k " unchanged")))
    (is (every? true? (map (fn [o copies] (every? true? (map #(Arrays/equals ^doubles %1 ^doubles %2) (objective-arrays o) copies)))
                           [(:objective t) (:test-objective t)] obj-copies))
        "the objectives' moments unchanged")))

(deftest kept-tasks-are-bounded
  (let [{:keys [^long tasks ^long doubles]} task/reuse-limits
        recent @#'task/recent-tasks
        kept (fn [] (locking recent (.size ^java.util.Map recent)))
        spec-of (fn [i] {:kind :teacher-student :input-dim 3 :output-dim 2 :samples (+ 10 (long i))})]
    (let [oldest (task/build-task (spec-of 0) 5)]
      (is (identical? oldest (task/build-task (spec-of 0) 5)) "kept")
      (dotimes [i (* 2 tasks)] (task/build-task (spec-of (inc (long i))) 5))
      (is (= tasks (kept)) "at most :tasks kept")
      (is (not (identical? oldest (task/build-task (spec-of 0) 5))) "the oldest was dropped"))
    (testing "a task above a quarter of the doubles is not kept"
      (let [big {:kind :teacher-student :input-dim 64 :output-dim 64 :samples (inc (quot doubles (* 4 128))) :test-samples 0}]
        (is (not (identical? (task/build-task big 1) (task/build-task big 1))))))
    (testing "datasets are never kept (their files may change)"
      (let [d {:kind :dataset :x [[1.0] [2.0]] :y [[1.0] [0.5]]}]
        (is (not (identical? (task/build-task d 1) (task/build-task d 1))))))
    (binding [task/*reuse-data?* false]
      (is (not (identical? (task/build-task (spec-of (dec (* 2 tasks))) 5) (task/build-task (spec-of (dec (* 2 tasks))) 5)))
          "with reuse off every task is built afresh"))))

(defspec parts-of-a-normalized-experiment-normalize-to-themselves 40
  ;; what dlnlab.spec relies on when it remembers a normalized experiment's
  ;; :model and :task as normalized
  (prop/for-all [exp g/experiment]
    (binding [spec/*reuse-normalized?* false]
      (let [n (spec/normalize exp)]
        (and (= (:model n) (spec/normalize-model (:model n)))
             (= (:task n) (spec/normalize-task (:task n)))
             (= n (spec/normalize n)))))))

(deftest normalizing-a-normalized-map-returns-it
  (let [n (spec/normalize (first experiments))]
    (is (identical? n (spec/normalize n)))
    (is (identical? (:model n) (spec/normalize-model (:model n))))
    (is (identical? (:task n) (spec/normalize-task (:task n))))
    (testing "an equal map that no normalization returned is walked (and its errors raised)"
      (is (thrown? clojure.lang.ExceptionInfo (spec/normalize (assoc n :steps -1)))))))

(defn- rand-array ^doubles [^long n ^long stream]
  (let [a (double-array n)] (Rng/fillGaussian 9 stream 0 0.3 a 0 n) a))

(deftest a-workspace-gives-the-same-numbers-whatever-it-computed-first
  ;; the backward and HVP buffers of a workspace are allocated at first use
  (let [net (network/network (first experiments))
        ^Arch arch (:arch net) ^Objective obj (:objective net)
        n (.size arch)
        p (rand-array n 1) v (rand-array n 2)
        fresh #(Engine$Workspace. arch obj)
        grad (fn [^Engine$Workspace ws] (let [g (double-array n)] [(Engine/gradient arch obj p ws g) (vec g)]))
        hvp (fn [^Engine$Workspace ws] (let [h (double-array n)] (Engine/hvp arch obj p v ws h) (vec h)))
        used (fresh)
        loss (Engine/loss arch obj p used)]
    (is (== loss (Engine/loss arch obj p (fresh))))
    (is (= (grad (fresh)) (grad used)) "gradient after a loss")
    (is (= (hvp (fresh)) (hvp used)) "HVP after a gradient")
    (is (== loss (Engine/loss arch obj p used)) "loss after an HVP")))
