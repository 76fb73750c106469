(ns dlnlab.studies.transfer.figures
  "The figures of the [BP] study (dlnlab.studies.transfer): loss curves and
  learning-rate sweeps across widths and depths, one-pass against repeated
  data, and loss curves on power-law data beside the linearized network. Each
  is raw figure data passed through dlnlab.plot/figure (which cleans, thins
  and checks it) under the one pass-through method ::figure: the figure API
  has no entry for figure data built outside dlnlab.plot yet."
  (:require [dlnlab.plot :as plot]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn finite? [x] (and (number? x) (Double/isFinite (double x))))

(defn round-sig [x] (when (finite? x) (Double/parseDouble (format "%.4g" (double x)))))

(def deep-from
  "Smallest depth at which `depth-transfer` asks the optimum to have settled."
  8)

(defmethod plot/build-figure ::figure [_ raw _] raw)

(defn- line-layer [series color points]
  {:series series :color color :mark :line
   :points (vec (keep (fn [[x y]] (when (and (finite? x) (finite? y)) [x y])) points))})

(defn- fig [nm title subtitle x-title x-log? y-title y-log? layers]
  (plot/figure ::figure
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

