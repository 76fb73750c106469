(ns dlnlab.spec-test
  (:require [clojure.edn :as edn]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.properties :as prop]
            [dlnlab.error :as error]
            [dlnlab.gen :as g]
            [dlnlab.kind :as kind]
            [dlnlab.kinds]
            [dlnlab.spec :as spec]))

(def base {:seed 1
           :model {:kind :chain :depth 3 :width 4}
           :task {:kind :matrix-factorization :singular-values [3 2 1]}})

(defn- error
  "The ex-info thrown by (normalize x), or nil."
  [x]
  (try (spec/normalize x) nil
       (catch clojure.lang.ExceptionInfo e e)))

(defn- message [x] (some-> (error x) ex-message))

(defmacro ^:private is-error
  "Asserts (normalize x) throws with data :path = path and a message containing
  every string in parts."
  [x path & parts]
  `(let [e# (error ~x)]
     (is (some? e#) "expected an error")
     (when e#
       (is (= ~path (:path (ex-data e#))) (ex-message e#))
       (is (contains? (ex-data e#) :allowed))
       (is (contains? (ex-data e#) :value))
       (doseq [p# ~(vec parts)]
         (is (str/includes? (ex-message e#) p#) (str "message lacks " (pr-str p#) ": " (ex-message e#)))))))

(deftest valid-minimal-experiment-gets-every-default
  (let [n (spec/normalize {:model {:kind :chain :depth 2 :width 3}
                           :task {:kind :matrix-factorization :singular-values [2 1]}})]
    (testing "documented defaults, read from the one schema"
      (is (= (get-in (spec/defaults) [:experiment :seed]) (:seed n)))
      (is (= (get-in (spec/defaults) [:model :common :parameterization]) (get-in n [:model :parameterization])))
      (is (= (get-in (spec/defaults) [:model :common :gamma0]) (get-in n [:model :gamma0]))))
    (testing "the defaults as documented in SCIENCE.md and the brief"
      (is (= 0 (:seed n)))
      (is (= :standard (get-in n [:model :parameterization])))
      (is (= 1.0 (get-in n [:model :gamma0])))
      (is (= {:kind :gaussian :std :fan-in} (get-in n [:model :init])))
      (is (= [2 2] (get-in n [:task :dims])))
      (is (= :identity (get-in n [:task :basis]))))
    (testing "gaussian std is 1 under :mup and :ntk (SCIENCE.md §1)"
      (doseq [p [:mup :ntk]]
        (is (= 1.0 (get-in (spec/normalize (assoc-in base [:model :parameterization] p)) [:model :init :std])))))
    (testing "residual and teacher-student defaults"
      (let [n (spec/normalize {:model {:kind :residual :depth 2 :width 3}
                               :task {:kind :teacher-student :input-dim 3 :output-dim 2 :samples 7}})]
        (is (= 1.0 (get-in n [:model :beta0])))
        (is (= 7 (get-in n [:task :test-samples])))
        (is (= 0.0 (get-in n [:task :label-noise])))
        (is (= {:power-law 0.0} (get-in n [:task :covariance])))
        (is (= {:kind :gaussian :std :fan-in} (get-in n [:task :teacher])))))
    (testing "teacher kind inferred; dims from a teacher matrix"
      (let [n (spec/normalize {:model {:kind :chain :depth 1}
                               :task {:kind :teacher-student :samples 4 :teacher {:matrix [[1 2 3] [4 5 6]]}}})]
        (is (= :matrix (get-in n [:task :teacher :kind])))
        (is (= 3 (get-in n [:task :input-dim])))
        (is (= 2 (get-in n [:task :output-dim])))))
    (testing "init defaults"
      (let [ba (spec/normalize (assoc-in base [:model :init] {:kind :balanced-aligned :scale 1.0}))]
        (is (= :random (get-in ba [:model :init :hidden-basis]))))
      (is (= 1.0 (get-in (spec/normalize (assoc-in base [:model :init] {:kind :orthogonal})) [:model :init :scale])))
      (is (number? (get-in (spec/normalize (assoc-in base [:model :init] {:kind :scaled-identity})) [:model :init :alpha]))))))

(deftest pass-through-keys-are-kept
  (let [x (assoc base :name "run" :description "text" :kind :network)
        n (spec/normalize x)]
    (doseq [k [:name :description :kind]]
      (is (= (get x k) (get n k)) (str k))))
  (testing ":kind is :network (or absent) or :sde"
    (is-error (assoc base :kind :train) [:kind] "must be one of :network, :sde" "got :train")))

(deftest training-keys-are-validated-and-filled
  (let [n (spec/normalize (assoc base :optimizer {:kind :gd :lr 0.1} :steps 100 :record {:every 10}))]
    (is (= {:kind :gd :lr 0.1} (:optimizer n)))
    (is (= {:every 10 :metrics [:loss] :final-weights true} (:record n)))
    (is (= {:loss-above 1e12} (:stop n))))
  (is (= :with-replacement
         (get-in (spec/normalize (assoc base :task {:kind :teacher-student :input-dim 2 :output-dim 2 :samples 8}
                                        :optimizer {:kind :sgd :lr 0.1 :batch-size 4} :steps 3))
                 [:optimizer :sampling])))
  (is-error (assoc base :optimizer {:kind :gd :lr -1} :steps 10) [:optimizer :lr] "positive")
  (is-error (assoc base :optimizer {:kind :gd :lr 0.1}) [:steps] "needs :steps")
  (is-error (assoc base :optimizer {:kind :gradient-flow} :steps 10) [:time] "needs :time")
  (is-error (assoc base :optimizer {:kind :gd :lr 0.1} :steps 10 :time 1.0) [:time] ":gradient-flow")
  (is-error (assoc base :optimizer {:kind :adam :lr 0.1} :steps 10) [:optimizer :kind] ":gd")
  (is-error (assoc base :optimizer {:kind :sgd :lr 0.1 :batch-size 2} :steps 10) [:optimizer :kind] "needs samples")
  (is-error (assoc base :optimizer {:kind :gd :lr 0.1} :steps 10 :record {:metrics [:loss :sharpnes]})
            [:record :metrics 1] ":sharpness")
  (is-error (assoc base :optimizer {:kind :gd :lr 0.1} :steps 10 :record {:metrics [:loss] :sharpness {:every 5}})
            [:record :sharpness] "does not record it")
  (is-error (assoc base :optimizer {:kind :gd :lr 0.1} :steps 10 :stop {:loss-bellow 1e-3})
            [:stop :loss-bellow] "Did you mean :loss-below?"))

(deftest unknown-keys-with-did-you-mean
  (is-error (assoc-in base [:model :dpeth] 3) [:model :dpeth] ":dpeth" "Did you mean :depth?" ":width")
  (is (= :depth (:did-you-mean (ex-data (error (assoc-in base [:model :dpeth] 3))))))
  (is-error (assoc base :modle {}) [:modle] "unknown key :modle" "Did you mean :model?")
  (is-error (assoc base :optimiser {}) [:optimiser] "Did you mean :optimizer?")
  (is-error (assoc-in base [:task :singular-value] [1]) [:task :singular-value] "Did you mean :singular-values?")
  (is-error (assoc-in base [:model :init] {:kind :gaussian :sdt 0.1}) [:model :init :sdt] "Did you mean :std?")
  (testing "a far miss gets no suggestion but the list of allowed keys"
    (let [e (error (assoc-in base [:model :zzzzzz] 1))]
      (is (nil? (:did-you-mean (ex-data e))))
      (is (not (str/includes? (ex-message e) "Did you mean")))
      (is (str/includes? (ex-message e) ":parameterization"))))
  (testing "keys of another kind are unknown here"
    (is-error (assoc-in base [:model :beta0] 1.0) [:model :beta0] "unknown key :beta0" "a :chain model")))

(deftest wrong-types-and-values
  (is-error (assoc-in base [:model :depth] -1) [:model :depth] "[:model :depth] must be a positive integer up to 2147483647, got -1")
  (is-error (assoc-in base [:model :depth] 0) [:model :depth] "positive integer" "got 0")
  (is-error (assoc-in base [:model :width] "4") [:model :width] "positive integer" "got \"4\"")
  (is-error (assoc-in base [:model :depth] 2.0) [:model :depth] "positive integer" "got 2.0")
  (is-error (assoc base :seed "x") [:seed] "must be an integer")
  (is-error (assoc-in base [:model :parameterization] :muP) [:model :parameterization] ":standard, :mup, :ntk" "got :muP")
  (is-error (assoc-in base [:model :gamma0] 0) [:model :gamma0] "positive")
  (is-error (assoc-in base [:task :dims] [0 3]) [:task :dims 0] "positive integer" "got 0")
  (is-error (assoc-in base [:task :singular-values] [1 -2]) [:task :singular-values 1] "non-negative" "got -2")
  (is-error (assoc base :model 3) [:model] "must be a model map" "got 3")
  (is-error {:model {:kind :chain :depth 1}
             :task {:kind :teacher-student :input-dim 3 :output-dim -2 :samples 4}}
            [:task :output-dim] "positive integer" "got -2")
  (is-error {:model {:kind :chain :depth 1}
             :task {:kind :teacher-student :input-dim 3 :output-dim 2 :samples 0}}
            [:task :samples] "positive integer" "got 0")
  (is-error (assoc-in base [:model :widths] [3 0 3]) [:model :widths 1] "positive integer" "got 0"))

(deftest kinds
  (is-error (assoc-in base [:model :kind] :chian) [:model :kind] "Did you mean :chain?" ":multi-pathway" ":residual")
  (is-error (assoc-in base [:model :init] {:kind :xavier}) [:model :init :kind]
            ":gaussian" ":orthogonal" ":scaled-identity" ":balanced-aligned" ":pathway-split" ":given" "got :xavier")
  (is-error (assoc-in base [:model :init] {:kind :orthogonl}) [:model :init :kind] "Did you mean :orthogonal?")
  (is-error (assoc-in base [:model :init] {:std 0.1}) [:model :init :kind] "needs :kind")
  (is-error (assoc base :task {:kind :regression}) [:task :kind] ":matrix-factorization" ":teacher-student" ":dataset")
  (is-error (update base :model dissoc :kind) [:model :kind] "needs :kind"))

(deftest required-and-exclusive-keys
  (is-error (dissoc base :task) [:task] "needs :task")
  (is-error (assoc base :model {:kind :chain :depth 3}) [:model :width] ":width")
  (is-error (assoc base :model {:kind :chain}) [:model] ":widths" ":depth")
  (is-error (assoc base :model {:kind :chain :depth 2 :width 3 :widths [3 3 3]}) [:model] "both :widths and :depth")
  (is-error (assoc base :model {:kind :multi-pathway :depth 2 :width 3}) [:model :pathways] "needs :pathways")
  (is-error (assoc base :model {:kind :residual :depth 2}) [:model :width] "needs :width")
  (is-error (assoc base :task {:kind :matrix-factorization :matrix [[1]] :singular-values [1]}) [:task] "both :matrix and :singular-values")
  (is-error (assoc base :task {:kind :matrix-factorization :matrix [[1]] :basis :random}) [:task :basis] "only applies together with :singular-values")
  (is-error (assoc base :task {:kind :matrix-factorization :singular-values [1 2 3] :dims [2 5]})
            [:task :singular-values] "at most 2")
  (is-error {:model {:kind :chain :depth 1} :task {:kind :teacher-student :input-dim 3 :samples 4}}
            [:task :output-dim] "needs :output-dim")
  (is-error {:model {:kind :chain :depth 1}
             :task {:kind :teacher-student :input-dim 3 :output-dim 2 :samples 4 :covariance {:eigenvalues [1 2]}}}
            [:task :covariance :eigenvalues] "has 2 values" "input dimension is 3")
  (is-error {:model {:kind :chain :depth 1}
             :task {:kind :teacher-student :input-dim 3 :output-dim 2 :samples 4 :covariance {:eigenvalues [1 2 3] :power-law 1}}}
            [:task :covariance] "both :eigenvalues and :power-law")
  (is-error {:model {:kind :chain :depth 1}
             :task {:kind :teacher-student :input-dim 4 :samples 4 :teacher {:matrix [[1 2 3]]}}}
            [:task :input-dim] "teacher :matrix implies 3"))

(deftest init-checks
  (let [multi (assoc base :model {:kind :multi-pathway :pathways 2 :depth 2 :width 3})]
    (testing "shares not summing to 1"
      (is-error (assoc-in multi [:model :init] {:kind :pathway-split :strengths [1 2] :shares [[0.5 0.3] [0.5 0.6]]})
                [:model :init :shares] "mode 1" "sum to" "must sum to 1"))
    (testing "shares of the wrong shape"
      (is-error (assoc-in multi [:model :init] {:kind :pathway-split :strengths [1 2] :shares [[1 1]]})
                [:model :init :shares] "2 pathways")
      (is-error (assoc-in multi [:model :init] {:kind :pathway-split :strengths [1 2] :shares [[1] [0]]})
                [:model :init :shares 0] "one share per mode"))
    (testing "shares that do sum to 1 pass"
      (is (map? (spec/normalize (assoc-in multi [:model :init] {:kind :pathway-split :strengths [1 2]
                                                                  :shares [[0.25 1] [0.75 0]]})))))
    (testing "pathway-split only for multi-pathway"
      (is-error (assoc-in base [:model :init] {:kind :pathway-split :strengths [1] :shares [[1]]})
                [:model :init :kind] "only applies to :multi-pathway"))
    (testing "balanced-aligned needs strengths or scale, not both"
      (is-error (assoc-in base [:model :init] {:kind :balanced-aligned}) [:model :init] ":strengths" ":scale")
      (is-error (assoc-in base [:model :init] {:kind :balanced-aligned :strengths [1] :scale 1}) [:model :init] "both")
      (is-error (assoc-in base [:model :init] {:kind :balanced-aligned :strengths [1] :shares [[1]]})
                [:model :init :shares] "only applies to :multi-pathway"))
    (testing "given weights need :weights"
      (is-error (assoc-in base [:model :init] {:kind :given}) [:model :init :weights] "needs :weights")
      (is-error (assoc-in base [:model :init] {:kind :given :weights 3}) [:model :init :weights] "got 3"))))

(deftest data-errors
  (is-error (assoc base :task {:kind :matrix-factorization :matrix [[1 2] [3 ##NaN]]})
            [:task :matrix 1 1] "[:task :matrix 1 1] must be a finite number" "NaN")
  (is-error (assoc base :task {:kind :matrix-factorization :matrix [[1 ##Inf]]})
            [:task :matrix 0 1] "finite number" "Inf")
  (is-error (assoc base :task {:kind :matrix-factorization :matrix [[1 2] [3]]})
            [:task :matrix 1] "has 1 entries but row 0 has 2")
  (is-error (assoc base :task {:kind :matrix-factorization :matrix []}) [:task :matrix] "non-empty")
  (is-error (assoc base :task {:kind :matrix-factorization :matrix [[1 :a]]}) [:task :matrix 0 1] "got :a")
  (is-error (assoc base :task {:kind :dataset :x [[1 2] [3 ##NaN]] :y [[1] [2]]})
            [:task :x 1 1] "finite number")
  (is-error (assoc base :task {:kind :dataset :x [[1 2] [3 4]] :y [[1] [2] [3]]})
            [:task :y] "3 rows but :x has 2")
  (is-error (assoc base :task {:kind :dataset :x [[1 2] [3 4 5]] :y [[1] [2]]})
            [:task :x 1] "has 3 entries but row 0 has 2")
  (is-error (assoc base :task {:kind :dataset :x [[1 2]] :y [[1]] :test-x [[1 2]]})
            [:task] "no test outputs")
  (is-error (assoc base :task {:kind :dataset :x [[1 2]] :y [[1]] :test-x [[1]] :test-y [[1]]})
            [:task :test-x] "rows of 1 numbers but :x has rows of 2")
  (is-error (assoc base :task {:kind :dataset :x-file "a.csv" :x [[1]] :y [[1]]}) [:task] "both :x and :x-file")
  (is-error (assoc base :task {:kind :dataset :x-file "" :y [[1]]}) [:task :x-file] "file name"))

(deftest messages-are-paragraphs-with-data
  (let [e (error (assoc-in base [:model :depth] -1))]
    (is (= {:dlnlab/error :invalid-experiment :path [:model :depth] :value -1 :allowed "a positive integer up to 2147483647"} (ex-data e)))
    (is (str/ends-with? (ex-message e) "."))))

(deftest validate-returns-its-argument
  (is (identical? base (spec/validate! base)))
  (is (thrown? clojure.lang.ExceptionInfo (spec/validate! (assoc base :bogus 1)))))

(deftest did-you-mean-suggests-near-misses-only
  (is (= :width (error/did-you-mean :widht [:width :widths :depth])))
  (is (= :widths (error/did-you-mean :widthss [:width :widths :depth])))
  (is (= :pathways (error/did-you-mean :pathway [:pathways :depth])))
  (is (= :seed (error/did-you-mean :sed [:seed :task :model])))
  (is (nil? (error/did-you-mean :banana [:width :depth :init]))))

(deftest describe-is-plain-data-covering-every-kind
  (let [d (spec/describe)]
    (is (= d (edn/read-string (pr-str d))) "round-trips through EDN: no functions or specs inside")
    (is (= #{:chain :multi-pathway :residual} (set (keys (get-in d [:model :kinds])))))
    (is (= #{:gaussian :orthogonal :scaled-identity :balanced-aligned :pathway-split :given}
           (set (keys (get-in d [:init :kinds])))))
    (is (= #{:matrix-factorization :teacher-student :dataset} (set (keys (get-in d [:task :kinds])))))
    (testing "every key has a doc and an allowed text"
      (doseq [node (vals d)
              ks (concat [(:keys node) (:common-keys node)] (map :keys (vals (:kinds node))))
              [k e] ks]
        (is (string? (:doc e)) (str k))
        (is (string? (:allowed e)) (str k))))
    (is (= :standard (get-in d [:model :common-keys :parameterization :default])))
    (is (string? (get-in d [:init :kinds :gaussian :keys :std :default-doc])) "context-dependent default described in words")
    (is (not (contains? (get-in d [:init :kinds :gaussian :keys :std]) :default)))
    (is (= (spec/defaults) (edn/read-string (pr-str (spec/defaults)))))))

(defspec generated-experiments-are-valid-and-normalize-idempotently 60
  (prop/for-all [x g/experiment]
    (let [n (spec/normalize x)]
      (and (= n (spec/normalize n))
           (= x (spec/validate! x))
           (= (dissoc (:model x) :init) (select-keys (:model n) (keys (dissoc (:model x) :init))))))))

;; ---------------------------------------------------------------- per-metric options

(defn- with-record [record]
  (assoc base :optimizer {:kind :gd :lr 0.1} :steps 5 :record record))

(deftest metric-names-come-from-the-registered-metric-kinds
  (is (= (spec/metric-names) (spec/kinds-of :metric)))
  (is (= [:loss :test-loss :grad-norm :sharpness] (take 4 (spec/metric-names))) "the :kind-order of dlnlab.metrics")
  (is (every? #(contains? (methods dlnlab.kind/schema) [:metric %]) (spec/metric-names)))
  (is (not (contains? (spec/describe) :metric)) "describe lists metrics through dlnlab.metrics/catalog"))

(deftest per-metric-options-are-validated-like-every-other-key
  (testing "an unknown option names the path and the near miss"
    (let [e (error (with-record {:metrics [:loss :sharpness] :sharpness {:evry 5}}))]
      (is (= [:record :sharpness :evry] (:path (ex-data e))))
      (is (= :every (:did-you-mean (ex-data e))))
      (is (str/includes? (ex-message e) "Did you mean :every?"))))
  (testing "types and ranges"
    (is-error (with-record {:metrics [:hessian-top-k] :hessian-top-k {:k "3"}}) [:record :hessian-top-k :k]
              "positive integer" "\"3\"")
    (is-error (with-record {:metrics [:hessian-top-k] :hessian-top-k {:k 0}}) [:record :hessian-top-k :k])
    (is-error (with-record {:metrics [:sharpness] :sharpness {:tol -1.0}}) [:record :sharpness :tol] "positive")
    (is-error (with-record {:metrics [:sharpness] :sharpness {:every 0}}) [:record :sharpness :every])
    (is-error (with-record {:metrics [:balance-gap] :balance-gap {:of :weird}}) [:record :balance-gap :of] ":scaled")
    (is-error (with-record {:metrics [:loss] :loss 5}) [:record :loss] "metric map")
    (is-error (with-record {:metrics [:loss] :loss {:tol 1e-3}}) [:record :loss :tol] "unknown key"))
  (testing "validate! and normalize agree, and defaults are filled"
    (let [x (with-record {:metrics [:sharpness] :sharpness {:tol -1.0}})]
      (is (thrown? clojure.lang.ExceptionInfo (spec/validate! x))))
    (let [n (spec/normalize (with-record {:metrics [:hessian-top-k] :hessian-top-k {:every 2 :k 3}}))]
      (is (= {:every 2 :k 3 :tol 1e-8 :seed 0} (get-in n [:record :hessian-top-k])))
      (is (= n (spec/normalize n)) "idempotent")))
  (testing "a misspelt metric under :record gets a did-you-mean"
    (let [e (error (with-record {:metrics [:sharpness] :sharpnes {:every 5}}))]
      (is (= :sharpness (:did-you-mean (ex-data e)))))))

(deftest a-new-schema-method-is-seen-by-the-next-normalization
  (let [task {:kind :teacher-student :input-dim 2 :output-dim 2 :samples 4 :teacher {:kind :plan-test}}
        register! (fn [default]
                    (defmethod kind/schema [:teacher :plan-test] [_ _]
                      {:doc "A teacher kind of this test." :keys [[:scale {:spec ::spec/std :default default :doc "A scale."}]]}))]
    (try
      (register! 1.0)
      (is (= {:kind :plan-test :scale 1.0} (:teacher (spec/normalize-task task))))
      (testing "the walker's plans and remembered maps belong to one schema"
        (register! 2.0)
        (is (= {:kind :plan-test :scale 2.0} (:teacher (spec/normalize-task task))))
        (remove-method kind/schema [:teacher :plan-test])
        (is (thrown-with-msg? clojure.lang.ExceptionInfo #"plan-test" (spec/normalize-task task))))
      (finally (remove-method kind/schema [:teacher :plan-test])))))
