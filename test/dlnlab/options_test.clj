(ns dlnlab.options-test
  "Bad options to the public functions get the ex-info of dlnlab.error naming
  the option, its value and what is allowed (issue 11, item 11), not a
  ClassCastException from deep inside a run, and a wrong :seeds is refused
  rather than read as :derived."
  (:require [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.core :as dln]
            [dlnlab.options :as options])
  (:import [java.util.concurrent.atomic AtomicBoolean]))

(def ^:private exp
  {:seed 1 :model {:kind :chain :depth 2 :width 3}
   :task {:kind :matrix-factorization :dims [3 3] :singular-values [1.0 0.5]}
   :optimizer {:kind :gd :lr 0.1} :steps 5})

(def ^:private grid {[:optimizer :lr] [0.1 0.2]})

(defn- refusal
  "The ex-data and message of what (f) throws, or nil when it returns."
  [f]
  (try (f) nil
       (catch clojure.lang.ExceptionInfo e (assoc (ex-data e) :message (ex-message e)))))

(deftest bad-run-options-are-named
  (doseq [[opts path value] [[{:progress 42} [:progress] 42]
                             [{:on-record "x"} [:on-record] "x"]
                             [{:interrupt true} [:interrupt] true]
                             [{:progres (fn [_])} [:progres] :progres]]]
    (let [r (refusal #(dln/run exp opts))]
      (is (= :invalid-argument (:dlnlab/error r)) (pr-str opts))
      (is (= path (:path r)))
      (is (= value (:value r)))
      (is (str/includes? (:message r) "dlnlab.core/run")))
    (testing "a misspelt option gets a did-you-mean"
      (is (str/includes? (:message (refusal #(dln/run exp {:progres (fn [_])}))) "Did you mean :progress?"))))
  (testing "an options value that is not a map"
    (is (= :invalid-argument (:dlnlab/error (refusal #(dln/run exp [:progress])))))))

(deftest good-run-options-run
  (let [flag (AtomicBoolean. false)
        rows (atom 0)
        r (dln/run exp {:interrupt flag :on-record (fn [_] (swap! rows inc)) :progress nil})]
    (is (= :completed (:status r)))
    (is (pos? (long @rows)) "the callback was called"))
  (is (= :completed (:status (dln/run exp {:interrupt (atom false)}))) "an atom is a flag"))

(deftest bad-sweep-options-are-named
  (doseq [[opts path] [[{:jobs "2"} [:jobs]]
                       [{:jobs 0} [:jobs]]
                       [{:jobs 99999999999} [:jobs]]
                       [{:seeds :bogus} [:seeds]]
                       [{:keep-results? 1} [:keep-results?]]
                       [{:on-result :x} [:on-result]]
                       [{:run-opts {:progress 42}} [:progress]]]]
    (let [r (refusal #(dln/sweep exp grid opts))]
      (is (= :invalid-argument (:dlnlab/error r)) (pr-str opts))
      (is (= path (:path r)) (pr-str opts))))
  (testing "the message lists what :seeds allows"
    (is (str/includes? (:message (refusal #(dln/sweep exp grid {:seeds :bogus}))) ":derived, :shared, :independent"))))

(deftest good-sweep-options-run
  (let [seen (atom [])
        rs (dln/sweep exp grid {:jobs 2 :seeds :shared :keep-results? false
                                :on-result (fn [i _ r] (swap! seen conj [i (:status r)]))})]
    (is (= [nil nil] rs) "results left to :on-result")
    (is (= #{[0 :completed] [1 :completed]} (set @seen)))))

(deftest the-checker-itself
  (let [allowed {:a [int? "an integer"]}]
    (is (= {:a 1} (options/check! "f" {:a 1} allowed)))
    (is (nil? (options/check! "f" nil allowed)))
    (is (= {:a nil} (options/check! "f" {:a nil} allowed)) "nil means the default")
    (is (= [:a] (:path (refusal #(options/check! "f" {:a 1.5} allowed)))))
    (is (= [:b] (:path (refusal #(options/check! "f" {:b 1} allowed)))))))
