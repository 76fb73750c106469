;; # Gradient descent against gradient flow
;;
;; examples/gd-vs-flow.edn: one experiment with a :compare of two variants,
;; the gradient flow (:flow) and gradient descent at η = 0.04 (:gd), trained in
;; lockstep from one initialization; the flow is integrated to each GD step's
;; time t = η k. Per step the run records both losses and, for :gd against
;; :flow, the parameter distance, cosine similarity, end-to-end distance and
;; loss difference. GD is Euler's method for the flow, so halving η (with
;; twice the steps) halves the distance.
;;
;; It reads examples/gd-vs-flow.edn and runs it at three learning rates.
(ns gd-vs-flow
  (:require [clojure.java.io :as io]
            [dlnlab.core :as dln]
            [dlnlab.examples :as ex]
            [dlnlab.io :as dio]))

(def experiment (dio/read-edn-file (io/file (ex/examples-dir {}) "gd-vs-flow.edn")))

(def runs
  (vec (for [lr [0.04 0.02 0.01]]
         (dln/run (assoc experiment :optimizer {:kind :gd :lr lr} :steps (Math/round (/ 4.0 lr)))))))

;; ## The final distance at each η, at the same time t = 4
;; The ratio of successive distances is close to 2: the distance is O(η).
(ex/rounded (vec (for [r runs]
                   (assoc (get-in r [:analysis :final :gd]) :lr (get-in r [:experiment :optimizer :lr])))))

;; ## The distance along the run
(def distance-figure
  (with-meta
    {:$schema "https://vega.github.io/schema/vega-lite/v5.json"
     :title "GD vs gradient flow: parameter distance at equal time"
     :data {:values (vec (for [r runs
                               [t d] (map vector (get-in r [:trajectory :time]) (get-in r [:trajectory :distance-gd]))
                               :when (pos? (double d))]
                           {:time t :distance d :lr (str (get-in r [:experiment :optimizer :lr]))}))}
     :mark :line
     :encoding {:x {:field :time :type :quantitative :title "time t = η k"}
                :y {:field :distance :type :quantitative :scale {:type :log} :title "|θ_GD − θ_flow|"}
                :color {:field :lr :type :nominal :title "η"}}}
    {:kindly/kind :kind/vega-lite}))

distance-figure
