;; # Dropping the learning rate at the edge of stability
;;
;; examples/lr-drop.edn: gradient descent on a depth-3 factorization whose
;; minimum has sharpness S_1 = 3 · 10^(4/3) ≈ 64.6, with a :schedule that drops
;; the learning rate twice. Each 2/η lies just below S_1, so the sharpness
;; rises to 2/η and oscillates across it; after each drop it re-settles around
;; the new, higher threshold, the oscillation narrower the closer 2/η is to S_1.
;;
;; It reads examples/lr-drop.edn and runs it.
(ns lr-drop
  (:require [clojure.java.io :as io]
            [dlnlab.core :as dln]
            [dlnlab.examples :as ex]
            [dlnlab.io :as dio]
            [dlnlab.vega :as vega]))

;; `-Ddlnlab.notebooks.quick=true` (the tests): 600 steps, drops at 200 and 400.
(def quick? (Boolean/getBoolean "dlnlab.notebooks.quick"))

(def experiment
  (cond-> (dio/read-edn-file (io/file (ex/examples-dir {}) "lr-drop.edn"))
    quick? (assoc :steps 600
                  :schedule [{:at 200 :set {[:optimizer :lr] 0.032}}
                             {:at 400 :set {[:optimizer :lr] 0.031}}])))

(def result (dln/run experiment))

;; ## The events as they happened
;; Each drop with its step, time, new effective learning rate and threshold.
(ex/rounded (:events result))

;; ## Sharpness per phase
;; The late half of each phase: the sharpness straddles that phase's 2/η.
(def phases
  (let [bounds (partition 2 1 (concat [0] (map :step (:events result)) [(inc (:steps experiment))]))
        rows (map vector (get-in result [:trajectory :step]) (get-in result [:trajectory :sharpness])
                  (get-in result [:trajectory :stability-threshold]))]
    (vec (for [[a b] bounds
               :let [late (filter (fn [[s v]] (and v (<= (+ (long a) (quot (- (long b) (long a)) 2)) (long s) (dec (long b))))) rows)
                     vs (map second late)]]
           {:from a :to b :two-over-lr (nth (first late) 2) :min (reduce min vs) :max (reduce max vs)}))))

(ex/rounded phases)

;; ## Figures
(def figures (vega/standard-specs result))

(:sharpness figures)

(:loss figures)
