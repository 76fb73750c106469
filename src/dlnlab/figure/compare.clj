(ns dlnlab.figure.compare
  "Figures of a side-by-side run (an experiment with :compare, dlnlab.compare)
  against its steps or time: :compare-distance (parameter distance and
  end-to-end matrix distance of every variant from the first),
  :compare-cosine, :compare-loss (every variant's loss) and
  :compare-loss-difference, as methods of dlnlab.figure/build-figure, and the
  standard figures of such a result (dlnlab.figure/standard-names :compare).
  The x axis is time t = eta steps when a variant is gradient flow (the
  variants are compared at equal time), else the step."
  (:require [dlnlab.figure :as fig :refer [fmt]]
            [dlnlab.result :as result]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- column [prefix v] (keyword (str prefix "-" (name v))))

(defn- compare-result
  "The one side-by-side result in data; throws the figure's ex-info otherwise."
  [nm data]
  (let [r (first (fig/runs data))]
    (when-not (and r (get-in r [:compare :variants]))
      (fig/fail! :invalid-argument (str "Figure " (pr-str nm) " needs the result of an experiment with :compare (side-by-side variants).")
                 [] (if (map? data) (vec (keys data)) data) "a result with :compare"))
    r))

(defn- variant-label
  "v (kind, lr) for the legend."
  [r v]
  (let [{:keys [kind lr batch-size]} (get-in r [:compare :optimizers v])]
    (str (name v) " (" (name kind) (when lr (str ", lr " (fmt lr))) (when batch-size (str ", B " batch-size)) ")")))

(defn- x-of
  "The x column: (:x opts), else :time when some variant is gradient flow, else the step."
  [r opts]
  (or (:x opts)
      (if (some #(= :gradient-flow (:kind %)) (vals (get-in r [:compare :optimizers]))) :time :step)))

(defn- others [r] (remove #{(get-in r [:compare :reference])} (get-in r [:compare :variants])))

(defn- subtitle [r]
  (str "against " (variant-label r (get-in r [:compare :reference])) "; " (name (:status r))
       " at step " (get-in r [:final :step])))

(defn- figure-of
  "The figure nm of r: one layer per variant v (those of variants-of r) from
  the trajectory column (prefix-v), plus extra layers."
  [nm r opts {:keys [title y-title log? prefix variants-of extra zero?]}]
  (let [xk (x-of r opts)
        vs (variants-of r)]
    {:name nm
     :title (str title " vs " (if (= xk :step) "step" "time"))
     :subtitle (subtitle r)
     :x {:title (fig/x-title xk) :log? false}
     :y (cond-> {:title y-title :log? (get opts :log-y log?)} zero? (assoc :zero? true))
     :panels [{:title nil
               :layers (vec (concat (map-indexed (fn [i v] {:mark :line :series (variant-label r v) :color i
                                                            :points (result/recorded r xk (column prefix v))})
                                                 vs)
                                    (when extra (extra r xk vs))))}]}))

(defmethod fig/build-figure :compare-distance [nm data opts]
  (figure-of nm (compare-result nm data) opts
             {:title "Distance between the variants" :y-title "‖θ_v − θ_a‖ (solid), ‖F_v − F_a‖ (dashed)"
              :log? :auto :prefix "distance" :variants-of others
              :extra (fn [r xk vs]
                       (map-indexed (fn [i v] {:mark :line :series (str (variant-label r v) ": end-to-end") :color i :dash [6 3]
                                               :points (result/recorded r xk (column "end-to-end-distance" v))})
                                    vs))}))

(defmethod fig/build-figure :compare-cosine [nm data opts]
  (figure-of nm (compare-result nm data) opts
             {:title "Cosine similarity of the variants' parameters" :y-title "cos(θ_v, θ_a)"
              :log? false :prefix "cosine" :variants-of others
              :extra (fn [_ _ _] [{:mark :rule :series "identical direction" :color fig/rule-color :dash [2 3] :y 1.0}])}))

(defmethod fig/build-figure :compare-loss [nm data opts]
  (figure-of nm (compare-result nm data) opts
             {:title "Loss of every variant" :y-title "training loss" :log? true :prefix "loss"
              :variants-of #(get-in % [:compare :variants])}))

(defmethod fig/build-figure :compare-loss-difference [nm data opts]
  (figure-of nm (compare-result nm data) opts
             {:title "Loss difference between the variants" :y-title "l(θ_v) − l(θ_a)"
              :log? false :zero? true :prefix "loss-difference" :variants-of others
              :extra (fn [_ _ _] [{:mark :rule :series "no difference" :color fig/rule-color :dash [2 3] :y 0.0}])}))

(def names
  "The standard figures of a side-by-side result, in order."
  [:compare-loss :compare-distance :compare-cosine :compare-loss-difference])

(defmethod fig/standard-names :compare [_] names)
