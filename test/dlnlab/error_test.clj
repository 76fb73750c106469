(ns dlnlab.error-test
  (:require [clojure.spec.alpha :as s]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.error :as error]))

(defn- thrown-data [f]
  (try (f) nil (catch clojure.lang.ExceptionInfo e (assoc (ex-data e) ::message (ex-message e)))))

(deftest fail-carries-the-vocabulary
  (let [d (thrown-data #(error/fail! :invalid-option "bad k" {:path '(:k) :value 0 :allowed [1 5]}))]
    (is (= {:dlnlab/error :invalid-option :path [:k] :value 0 :allowed [1 5] ::message "bad k"} d))
    (is (vector? (:path d))))
  (testing "an unknown kind is a bug in the caller, not a user error"
    (is (thrown? IllegalArgumentException (error/fail! :nonsense "x" {}))))
  (testing "check! throws only when the condition is false"
    (is (nil? (error/check! true :usage "never" {})))
    (is (= :usage (:dlnlab/error (thrown-data #(error/check! false :usage "no" {:value 1})))))))

(deftest input-error-is-any-kind-but-internal
  (is (error/input-error? (ex-info "x" {:dlnlab/error :too-large})))
  (is (not (error/input-error? (ex-info "x" {:dlnlab/error :internal}))))
  (is (not (error/input-error? (ex-info "x" {:path [:a]}))))
  (is (not (error/input-error? (RuntimeException. "x")))))

(s/def ::k pos-int?)

(deftest conform-names-the-path-and-value
  (is (= 3 (error/conform! pos-int? 3 [:k])))
  (let [d (thrown-data #(error/conform! (s/keys :req-un [::k]) {:k "3"} [:opts]))]
    (is (= :invalid-option (:dlnlab/error d)))
    (is (= "3" (:value d)))
    (is (= [:opts :k] (:path d)))))

(deftest show-shortens
  (is (= "[1 2 3]" (error/show [1 2 3])))
  (let [p (error/show (apply str (repeat 500 "x")))]
    (is (= 120 (count p)))
    (is (.endsWith ^String p "..."))))

(deftest edit-distance-on-exact-cases
  (is (= 0 (error/edit-distance "sharpness" "sharpness")))
  (is (= 1 (error/edit-distance "sharpnes" "sharpness")))
  (is (= 1 (error/edit-distance "ab" "ba")) "a transposition of neighbours costs 1")
  (is (= 3 (error/edit-distance "" "abc")))
  (is (= 3 (error/edit-distance "kitten" "sitting")))
  (is (= 4 (error/edit-distance "kitten" "sittingx"))))

(deftest did-you-mean-near-misses-and-synonyms
  (is (= :sharpness (error/did-you-mean :sharpnes [:loss :sharpness :modes])))
  (is (= :lr (error/did-you-mean :learning-rate [:kind :lr :temperature])))
  (is (nil? (error/did-you-mean :learning-rate [:kind :temperature])) "a synonym only when its target is allowed")
  (is (nil? (error/did-you-mean :zzzz [:loss :modes]))))
