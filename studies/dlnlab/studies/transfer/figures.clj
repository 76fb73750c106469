(ns dlnlab.studies.transfer.figures
  "The figures of the [BP] study (dlnlab.studies.transfer): loss curves and
  learning-rate sweeps across widths and depths, one-pass against repeated
  data, and loss curves on power-law data beside the linearized network. Each
  is raw figure data passed through dlnlab.figure/figure (which cleans, thins
  and checks it) under the one pass-through method ::figure: the figure API
  has no entry for figure data built outside dlnlab.figure yet."
  (:require [dlnlab.figure :as fig]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn finite? [x] (and (number? x) (Double/isFinite (double x))))

(defn round-sig [x] (when (finite? x) (Double/parseDouble (format "%.4g" (double x)))))

(def deep-from
  "Smallest depth at which `depth-transfer` asks the optimum to have settled."
  8)

(defmethod fig/build-figure ::figure [_ raw _] raw)

(defn- line-layer [series color points]
  {:series series :color color :mark :line
   :points (vec (keep (fn [[x y]] (when (and (finite? x) (finite? y)) [x y])) points))})

(defn- fig [nm title subtitle x-title x-log? y-title y-log? layers]
  (fig/figure ::figure
               {:name nm :title title :subtitle subtitle
                :x {:title x-title :log? x-log?} :y {:title y-title :log? y-log?}
                :panels [{:title nil :layers (vec layers)}]}))

(defn- curve-points [c] (map-indexed (fn [i y] [i y]) c))

(defn width-figures [w]
  (concat
   (for [p [:mup :ntk]]
     (fig (keyword (str "width-curves-" (name p)))
          (str "Loss curves across widths, " (name p))
          (str "eta = " (get-in w [:curves p :lr]) ", geometric mean over seeds " (:seeds w))
          "step" false "training loss" true
          (map-indexed (fn [i [N c]] (line-layer (str "N = " N) i (curve-points c))) (get-in w [:curves p :by-width]))))
   (for [p [:mup :ntk]]
     (fig (keyword (str "width-lr-sweep-" (name p)))
          (str "Loss after " (:steps w) " steps vs learning rate, " (name p))
          (str "score = geometric mean of the loss over the last 20% of steps, seed " (first (:seeds w)) "; diverged runs omitted")
          "eta" true "score" true
          (map-indexed (fn [i N]
                         (let [row (first (filter #(and (= p (:parameterization %)) (= N (:width %)) (= (first (:seeds w)) (:seed %))) (:runs w)))]
                           (line-layer (str "N = " N) i (map vector (:lrs w) (:scores row)))))
                       (:widths w))))))

(defn depth-figures [d]
  [(fig :depth-curves "Residual networks: loss curves across depths (mup, beta0/sqrt L branches)"
        (str "eta = " (get-in d [:curves :lr]) ", geometric mean over seeds " (:seeds d))
        "step" false "training loss" true
        (map-indexed (fn [i [L c]] (line-layer (str "L = " L) i (curve-points c))) (get-in d [:curves :by-depth])))
   (fig :depth-lr-sweep "Residual networks: loss after the run vs learning rate"
        (str "seed " (first (:seeds d)) "; diverged runs omitted")
        "eta" true "score" true
        (map-indexed (fn [i L]
                       (let [row (first (filter #(and (= L (:depth %)) (= (first (:seeds d)) (:seed %))) (:runs d)))]
                         (line-layer (str "L = " L) i (map vector (:lrs d) (:scores row)))))
                     (:depths d)))
   (fig :depth-optimum "Residual networks: the best learning rate vs depth"
        (str "seeds " (:seeds d) "; the claim is judged on the geometric mean for L >= " deep-from)
        "depth L" true "best eta (grid argmin of the score)" true
        [{:series "one seed" :color 1 :mark :point
          :points (vec (for [r (:runs d) :when (:best-lr r)] [(:depth r) (:best-lr r)]))}
         (assoc (line-layer "geometric mean over seeds" 0 (map vector (:depths d) (get-in d [:summary :geometric-mean-best-lr])))
                :point? true)])])

(defn data-figures [dr]
  (let [seed (first (keys (:by-seed dr)))
        m (get-in dr [:by-seed seed])
        order [:repeated-full-batch :one-pass-full-batch :repeated-epochs :one-pass-small-batch]]
    [(fig :data-test-loss "One-pass vs repeated data: test loss"
          (str "n = " (:samples dr) " training samples, seed " seed)
          "step" false "test loss" true
          (map-indexed (fn [i k] (line-layer (name k) i (map vector (get-in m [k :step]) (get-in m [k :test-loss])))) order))
     (fig :data-train-loss "One-pass vs repeated data: training loss (on the n samples)"
          (str "seed " seed) "step" false "training loss" true
          (map-indexed (fn [i k] (line-layer (name k) i (map vector (get-in m [k :step]) (get-in m [k :loss])))) order))]))

(defn power-law-figures [pl]
  (let [seed (first (:seeds pl))
        runs (filter #(= seed (:seed %)) (:runs pl))]
    [(fig :power-law-curves (str "Power-law data (alpha = " (:alpha pl) "): loss vs step")
          (str "D = " (:input-dim pl) ", N = " (:width pl) ", eta = " (round-sig (:lr pl)) ", seed " seed
               "; dashed: the same network linearized at initialization (lazy limit)")
          "step" true "training loss" true
          (concat
           (map-indexed (fn [i r] (line-layer (str "gamma0 = " (:gamma0 r)) i (rest (:curve r)))) runs)
           (map-indexed (fn [i r] (assoc (line-layer (str "gamma0 = " (:gamma0 r) ", linearized") i (rest (:linearized-curve r)))
                                         :dash [4 4]))
                        runs)))]))


(defn wider-figures
  "Seed-mean loss curves L_N(t) across widths with +-2 standard-error bands, per
  parameterization, the extrapolated N -> infinity curve L_inf(t) dashed on the
  muP one; and the loss at the judged step against 1/N with the fitted line."
  [w]
  (let [steps (:step w)
        curve-layers (fn [p]
                       (let [cs (get-in w [:by-param p :curves])]
                         (concat
                          (map-indexed (fn [i [N {:keys [mean se]}]]
                                         {:series (str "N = " N ", ±2 se") :color i :mark :band
                                          :points (vec (for [[t m e] (map vector steps mean se)
                                                             :when (and (finite? m) (finite? e)
                                                                        (pos? (- (double m) (* 2.0 (double e)))))]
                                                         [t (- (double m) (* 2.0 (double e))) (+ (double m) (* 2.0 (double e)))]))})
                                       cs)
                          (map-indexed (fn [i [N {:keys [mean]}]] (line-layer (str "N = " N) i (map vector steps mean))) cs))))
        ext (get-in w [:by-param :mup :extrapolated])
        fit-line (fn [p]
                   (let [{:keys [l-inf c]} (get-in w [:by-param p :fit])]
                     (when (and l-inf c)
                       (line-layer (str (name p) " fit L_inf + c/N") (if (= p :mup) 0 1)
                                   (for [k (range 0 33)
                                         :let [x (* (/ 1.0 (double (first (:widths w)))) (/ (double k) 32.0))]]
                                     [x (+ (double l-inf) (* (double c) x))])))))]
    [(fig :wider-curves-mup "Wider is better under muP: seed-mean loss curves across widths"
          (str "eta = " (:lr w) ", gamma0 = " (:gamma0 w) ", mean ± 2 se over " (count (:seeds w))
               " seeds; dashed: L_inf(t) of the fit L_N = L_inf + c/N")
          "step" false "loss" true
          (concat (curve-layers :mup)
                  [(assoc (line-layer "N → ∞ (1/N extrapolation)" "#000000" (map vector steps (:l-inf ext)))
                          :dash [6 4])]))
     (fig :wider-curves-ntk "NTK contrast: seed-mean loss curves across widths (lazier as N grows)"
          (str "eta = " (:lr w) ", gamma0 = " (:gamma0 w) " (effective gamma0 sqrt(D/N)), mean ± 2 se over "
               (count (:seeds w)) " seeds")
          "step" false "loss" true
          (curve-layers :ntk))
     (fig :wider-fit (str "Loss at step " (:at-step w) " against 1/N")
          "seed means (dots), the weighted least-squares line L_inf + c/N (dashed), a held-out width (black); 1/N = 0 is infinite width"
          "1/N" false "loss" false
          (concat
           (for [[i p] [[0 :mup] [1 :ntk]]]
             {:series (str (name p) " seed mean") :color i :mark :point
              :points (vec (for [[N m] (map vector (:widths w) (get-in w [:by-param p :at-step :mean])) :when (finite? m)]
                             [(/ 1.0 (double N)) m]))})
           (keep #(some-> (fit-line %) (assoc :dash [6 4])) [:mup :ntk])
           (when-let [{:keys [width mean]} (:holdout w)]
             (when (finite? mean)
               [{:series (str "mup held out, N = " width " (not fitted)") :color "#000000" :mark :point
                 :points [[(/ 1.0 (double width)) mean]]}]))))]))
