(ns dlnlab.plot-test
  "dlnlab.plot is a compatibility facade: each name it keeps is the same object
  as in its new namespace, so callers written against plot keep working."
  (:require [clojure.test :refer [deftest is]]
            [dlnlab.figure :as figure]
            [dlnlab.figure-fixtures :refer [synthetic-run]]
            [dlnlab.plot :as plot]
            [dlnlab.render :as render]
            [dlnlab.result :as result]
            [dlnlab.vega :as vega]))

(deftest facade-names-are-the-new-objects
  (is (identical? figure/build-figure plot/build-figure) "the same MultiFn")
  (doseq [[old new] [[plot/figure figure/figure] [plot/figure-catalog figure/figure-catalog]
                     [plot/figure-names figure/figure-names] [plot/standard-figure-names figure/standard-names]
                     [plot/standard-figures vega/standard-specs] [plot/vega-lite vega/spec] [plot/vega-lite-json vega/json]
                     [plot/loss-spec vega/loss-spec] [plot/modes-spec vega/modes-spec] [plot/render! render/render!]
                     [plot/write-figures! render/write-figures!] [plot/write-figure-data! render/write-figure-data!]
                     [plot/effective-lr result/effective-lr] [plot/stability-threshold result/stability-threshold]
                     [plot/mode-targets result/mode-targets]]]
    (is (identical? old new))))

(defmethod plot/build-figure ::through-the-facade [_ r _]
  {:name ::through-the-facade :title "t" :x {:title "x" :log? false} :y {:title "y" :log? false}
   :panels [{:title nil :layers [{:mark :line :series "loss" :color 0 :points (result/recorded r :step :loss)}]}]})

(deftest a-method-added-through-the-facade-is-a-figure
  (let [f (figure/figure ::through-the-facade (synthetic-run {}))]
    (is (= ["loss"] (mapv :name (:series f))))
    (is (seq (:points (first (:layers (first (:panels f)))))))))
