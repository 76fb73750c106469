(ns dlnlab.limits-test
  "Sizes are checked before anything is allocated (issue 11, item 9): every
  huge request of the issue fails at once with :too-large (exit 2) naming its
  key and the limit, integers past 2147483647 are refused before any cast, the
  limit is configurable, and the estimate counts the parameters the network
  really has."
  (:require [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [dlnlab.cli-runner :as runner]
            [dlnlab.experiment :as experiment]
            [dlnlab.limits :as limits]
            [dlnlab.network :as network]
            [dlnlab.spec :as spec]
            [dlnlab.temp-dir :as temp-dir :refer [path]]))

(set! *warn-on-reflection* true)

(use-fixtures :each (temp-dir/fixture "dlnlab-limits-test"))

(def tiny
  {:seed 1
   :model {:kind :chain :depth 2 :width 3}
   :task {:kind :matrix-factorization :singular-values [2.0 1.0] :dims [3 3]}
   :optimizer {:kind :gd :lr 0.1}
   :steps 10})

(def teacher
  {:seed 1
   :model {:kind :chain :depth 2 :width 4}
   :task {:kind :teacher-student :input-dim 3 :output-dim 2 :samples 50}
   :optimizer {:kind :sgd :lr 0.05 :batch-size 10}
   :steps 10})

(defn- error-of
  "The ex-data (with the message as ::message) that running exp throws, or nil;
  with a timeout so a hang fails the test instead of the suite."
  [exp]
  (let [f (future (try (experiment/run exp) nil
                       (catch clojure.lang.ExceptionInfo e (assoc (ex-data e) ::message (ex-message e)))))
        v (deref f 60000 ::timeout)]
    (when (= v ::timeout) (future-cancel f))
    v))

(deftest each-huge-request-of-the-issue-fails-at-once-naming-its-key
  (doseq [[exp path kind] [[(assoc-in tiny [:model :depth] 1000000000) [:model :depth] :too-large]
                           [(assoc tiny :model {:kind :multi-pathway :pathways 2000000000 :depth 2 :width 3})
                            [:model :pathways] :too-large]
                           [(assoc-in tiny [:model :width] 100000000) [:model :width] :too-large]
                           [(assoc-in teacher [:optimizer :batch-size] 1000000000) [:optimizer :batch-size] :too-large]
                           [(assoc-in teacher [:task :samples] 1000000000) [:task :samples] :too-large]
                           [(assoc-in teacher [:task :samples] 5000000000) [:task :samples] :invalid-experiment]
                           [(assoc tiny :model {:kind :chain :widths [3 4294967298 3]}) [:model :widths 1] :invalid-experiment]
                           [(assoc tiny :steps 1000000000 :record {:every 1 :metrics [:loss :modes]}) [:record :every] :too-large]]]
    (testing (pr-str path)
      (let [d (error-of exp)]
        (is (not= ::timeout d) "fails at once")
        (is (= kind (:dlnlab/error d)) (::message d))
        (is (= path (:path d)) (::message d))
        (is (str/includes? (str (::message d)) (if (= kind :too-large) "memory limit of" "up to 2147483647")))))))

(deftest a-run-writing-its-trajectory-to-a-file-does-not-count-its-rows
  (let [exp (spec/normalize (assoc tiny :steps 1000000000 :record {:every 1 :metrics [:loss]}))]
    (is (= ["parameters" "recorded rows"] (map :part (limits/estimate exp true))))
    (is (= ["parameters"] (map :part (limits/estimate exp false))))
    (is (= exp (limits/check! exp false)))))

(deftest the-limit-is-configurable
  (let [exp (spec/normalize tiny)]
    (is (= exp (limits/check! exp true)))
    (System/setProperty "dlnlab.memory-limit" "1k")
    (try
      (let [d (try (limits/check! exp true) nil (catch clojure.lang.ExceptionInfo e (ex-data e)))]
        (is (= :too-large (:dlnlab/error d)))
        (is (= 1024 (:limit d))))
      (finally (System/clearProperty "dlnlab.memory-limit")))
    (is (= [(.maxMemory (Runtime/getRuntime)) "the JVM's maximum heap, -Xmx"] (limits/memory-limit)))))

(deftest the-estimate-counts-the-parameters-the-network-has
  (doseq [exp [tiny teacher
               (assoc tiny :model {:kind :chain :depth 1})
               (assoc tiny :model {:kind :chain :widths [3 5 2 3]})
               (assoc tiny :model {:kind :multi-pathway :pathways 3 :depth 3 :width 2})
               (assoc tiny :model {:kind :residual :depth 4 :width 5})]]
    (let [net (network/network exp)
          [factors params] (limits/model-size (:experiment net))]
      (is (= (alength ^doubles (:params net)) (long params)) (pr-str (:model exp)))
      (is (= (count (apply concat (:layout net))) (long factors)) (pr-str (:model exp))))))

(deftest the-command-line-exits-2
  (spit (path "huge.edn") (pr-str (assoc-in tiny [:model :width] 100000000)))
  (let [{:keys [code err]} (runner/run-cli false ["run" (path "huge.edn") "--out" (path "out")])]
    (is (= 2 code) err)
    (is (str/includes? err "[:model :width]")))
  (spit (path "sweep.edn") (pr-str {:base tiny :grid {[:optimizer :lr] [0.1 0.2]}}))
  (let [{:keys [code err]} (runner/run-cli false ["sweep" (path "sweep.edn") "--out" (path "s") "--jobs" "99999999999"])]
    (is (= 2 code) err)
    (is (str/includes? err "--jobs"))))
