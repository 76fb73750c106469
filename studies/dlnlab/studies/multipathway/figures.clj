(ns dlnlab.studies.multipathway.figures
  "The figures of the [MP] study (dlnlab.studies.multipathway), registered as
  dlnlab.figure/build-figure methods when this namespace loads: final dominant
  share and sharpness against the learning rate for one (L, K) family, and
  share overviews across families, each with the theory beside the runs."
  (:require [dlnlab.figure :as fig]
            [dlnlab.theory :as theory]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- log-space [^double a ^double b ^long n]
  (mapv (fn [^long i] (* a (Math/pow (/ b a) (/ (double i) (double (dec n)))))) (range n)))

(defn theory-share
  "The predicted dominant share of one mode at learning rate lr: wta-share (the
  gradient-flow prediction, dlnlab.theory/winner-takes-all-split) at or below
  2/S_single, the `dlnlab.theory/edge-split` share inside the window, 1/K (an equal split,
  oscillating) above it. Returns a double."
  [L s K lr wta-share]
  (let [{:keys [regime dominant-share]} (theory/edge-split L s K lr)]
    (case regime
      :single wta-share
      :split dominant-share
      :no-stable-split (/ 1.0 (double K)))))

(defn- vline [x y0 y1 series color]
  {:mark :line :series series :color color :dash [4 4] :points [[x y0] [x y1]]})

(defn converged? [r] (= :converged (:status r)))

(defn gd-runs [family] (filterv #(= :gd (:optimizer %)) (:runs family)))

(defn- share-figure
  "Raw figure data (the shape of dlnlab.figure/build-figure) of the final dominant
  share of mode i against the learning rate for one family:
  measured GD points (converged and not), gradient flow as a horizontal rule,
  the theory curve (`theory-share`) and the window edges 2/S_single, 2/S_split."
  [family i]
  (let [{:keys [depth pathways]} family
        runs (gd-runs family)
        m #(nth (:modes %) i)
        s (:s (m (first runs)))
        w (:window (m (first runs)))
        flow (first (filter #(= :gradient-flow (:optimizer %)) (:runs family)))
        wta (or (:wta-share (m (first runs))) 1.0)
        lrs (map :lr runs)
        lo (* 0.9 (double (apply min lrs))) hi (* 1.1 (double (apply max lrs)))
        pts (fn [pred] (vec (for [r runs :when (and (pred r) (:dominant-share (m r)))] [(:lr r) (:dominant-share (m r))])))]
    {:name :mp-share-vs-lr
     :title (str "Final dominant share vs learning rate (L = " depth ", K = " pathways ", s = " s ")")
     :subtitle "dashed: 2/S_single and 2/S_split (doc/science.md §5 [MP])"
     :x {:title "learning rate η" :log? true}
     :y {:title "largest pathway share of the mode" :log? false}
     :panels [{:title nil
               :layers (cond-> [{:mark :line :series "theory (conserved quantity; edge split)" :color 0
                                 :points (mapv (fn [lr] [lr (theory-share depth s pathways lr wta)])
                                               (log-space lo hi 200))}
                                {:mark :point :series "GD, converged" :color 1 :points (pts converged?)}
                                {:mark :point :series "GD, not converged" :color 3 :points (pts (complement converged?))}
                                (vline (:lr-min w) 0.0 1.0 "2/S_single" 4)]
                         (not (:empty? w)) (conj (vline (:lr-max w) 0.0 1.0 "2/S_split" 5))
                         (and flow (:dominant-share (m flow)))
                         (conj {:mark :rule :series "gradient flow" :color 2 :dash [2 2] :y (:dominant-share (m flow))}))}]}))

(defn- sharpness-figure
  "Raw figure data of the final sharpness against the learning rate for one family:
  measured points (converged runs; not-converged runs separately, their
  sharpness is taken at a point of the cycle), the curve 2/lr, the levels
  S_single and S_split and the window edges."
  [family]
  (let [{:keys [depth pathways]} family
        runs (gd-runs family)
        w (:window family)
        lrs (map :lr runs)
        lo (* 0.9 (double (apply min lrs))) hi (* 1.1 (double (apply max lrs)))
        pts (fn [pred] (vec (for [r runs :when (and (pred r) (:final-sharpness r))] [(:lr r) (:final-sharpness r)])))
        top (* 1.2 (double (:sharpness-single w)))]
    {:name :mp-sharpness-vs-lr
     :title (str "Final sharpness vs learning rate (L = " depth ", K = " pathways ")")
     :subtitle "inside the window the sharpness settles just below 2/η"
     :x {:title "learning rate η" :log? true}
     :y {:title "sharpness λ_max(Hessian)" :log? false}
     :panels [{:title nil
               :layers (cond-> [{:mark :line :series "2/η" :color 0
                                 :points (vec (for [lr (log-space lo hi 200) :when (<= (/ 2.0 (double lr)) top)]
                                                [lr (/ 2.0 (double lr))]))}
                                {:mark :point :series "GD, converged" :color 1 :points (pts converged?)}
                                {:mark :point :series "GD, not converged" :color 3 :points (pts (complement converged?))}
                                {:mark :rule :series "S_single" :color 4 :dash [2 2] :y (:sharpness-single w)}
                                (vline (:lr-min w) 0.0 top "2/S_single" 4)]
                         (not (:empty? w)) (conj {:mark :rule :series "S_split (equal)" :color 5 :dash [2 2] :y (:sharpness-split w)}
                                                 (vline (:lr-max w) 0.0 top "2/S_split" 5)))}]}))

(defn- overview-figure
  "Raw figure data of the final dominant share against lr / (2/S_single) for several
  families (one color each, labelled by label-fn of the family), with each
  family's theory curve; the window is [1, K^(1-2/L)] on this axis."
  [name title families label-fn]
  (let [layers (vec (mapcat (fn [ci fam]
                              (let [runs (gd-runs fam)
                                    w (:window fam)
                                    lo (double (:lr-min w))
                                    m0 #(first (:modes %))
                                    s (:s (m0 (first runs)))
                                    wta (or (:wta-share (m0 (first runs))) 1.0)
                                    xs (map #(/ (double (:lr %)) lo) runs)
                                    a (* 0.9 (double (apply min xs))) b (* 1.1 (double (apply max xs)))]
                                [{:mark :line :series (str (label-fn fam) " theory") :color ci
                                  :points (mapv (fn [x] [x (theory-share (:depth fam) s (:pathways fam) (* lo (double x)) wta)])
                                                (log-space a b 200))}
                                 {:mark :point :series (str (label-fn fam) " GD") :color ci
                                  :points (vec (for [r runs :when (and (converged? r) (:dominant-share (m0 r)))]
                                                 [(/ (double (:lr r)) lo) (:dominant-share (m0 r))]))}]))
                            (range) families))]
    {:name name
     :title title
     :subtitle "converged GD runs; lines: theory; window: 1 < η S_single/2 < K^(1-2/L)"
     :x {:title "η / (2/S_single)" :log? true}
     :y {:title "largest pathway share" :log? false}
     :panels [{:title nil :layers (conj layers (vline 1.0 0.0 1.0 "2/S_single" 9))}]}))

(defmethod fig/build-figure :mp-share-vs-lr [_ family opts] (share-figure family (:mode opts 0)))
(defmethod fig/build-figure :mp-sharpness-vs-lr [_ family _] (sharpness-figure family))
(defmethod fig/build-figure :mp-share-overview [_ {:keys [name title families vary]} _]
  (overview-figure name title families #(str (if (= vary :depth) "L = " "K = ") (get % vary))))

(def figure-names
  "The figures this namespace adds to dlnlab.figure/build-figure, each drawn from
  `run-family` output: :mp-share-vs-lr (a family; option :mode, default 0),
  :mp-sharpness-vs-lr (a family), :mp-share-overview ({:name :title :families
  [...] :vary :depth or :pathways})."
  [:mp-share-vs-lr :mp-sharpness-vs-lr :mp-share-overview])

