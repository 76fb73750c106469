(ns dlnlab.studies.saddle-to-saddle.figures
  "The figures and tables of the [SDE] study (dlnlab.studies.saddle-to-saddle):
  figure data registered as dlnlab.figure/build-figure methods when this namespace
  loads (diffusion against time, strength and the aligned time; mean
  trajectories; weak error against lr; stationary histograms), and the rows and
  columns of the report's Markdown tables."
  (:require [dlnlab.figure :as fig]
            [dlnlab.studies.saddle-to-saddle.estimate :refer [theory-params]]
            [dlnlab.theory.sde :as theory-sde]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- vline [x y0 y1 series color]
  {:mark :line :series series :color color :dash [4 4] :points [[x y0] [x y1]]})

(defn- diffusion-time-figure
  "Figure data: per mode, the network's diffusion estimate and the theory at the
  network's own strengths against t, the SDE ensemble's mean D(pi), and the median
  learning time (pi = 0.9 s) of the network runs."
  [{:keys [network network-curves sde-curves lr batch-size seeds]}]
  (let [panels
        (vec (for [{:keys [mode s time-curve]} network-curves
                   :let [mode (long mode)
                         tl (get-in network [mode :learned 0.9])
                         ys (keep #(let [y (second %)] (when (pos? (double y)) y)) time-curve)
                         top (* 2.0 (double (reduce max 1e-300 ys)))
                         floor (* 1e-9 top)
                         shown (fn [pts] (filterv (fn [[_ y]] (and y (>= (double y) floor))) pts))]]
               {:title (str "mode " (inc mode) " (s = " s ")")
                :layers [{:mark :line :series "network: second-difference estimate" :color 0
                          :points (shown (mapv (fn [[t e]] [t e]) time-curve))}
                         {:mark :line :series "network: theory D(π) at the runs' π" :color 1 :dash [6 3]
                          :points (shown (mapv (fn [[t _ th]] [t th]) time-curve))}
                         {:mark :line :series "per-mode SDE: ensemble mean of D(π)" :color 2 :dash [2 2]
                          :points (shown (mapv (fn [t row] [t (nth row mode)]) (:time sde-curves) (:diffusion sde-curves)))}
                         (vline tl floor top "network: median time of π = 0.9 s" 3)]}))]
    {:name :s2s-diffusion-vs-time
     :title "Diffusion of each mode strength peaks before the mode is learned"
     :subtitle (str "one-pass SGD, lr = " lr ", B = " batch-size ", " seeds " seeds; window means; values below 1e-9 of the panel's peak not drawn")
     :x {:title "t = lr × steps" :log? false}
     :y {:title "diffusion D (per unit time)" :log? true}
     :panels panels}))

(defn- diffusion-strength-figure
  "Figure data: per mode, the network's diffusion estimate binned by x = pi/s
  against dlnlab.theory.sde/diffusion, both divided by D at pi*, with pi*/s marked."
  [{:keys [network-curves lr batch-size]} cfg]
  (let [panels
        (vec (for [{:keys [mode s bins theory-peak-x]} network-curves
                   :let [params (theory-params (assoc cfg :lr lr :batch-size batch-size :label-noise 0.0) s)
                         dstar (theory-sde/diffusion params (* (double theory-peak-x) (double s)))]]
               {:title (str "mode " (inc (long mode)) " (s = " s ")")
                :layers [{:mark :point :series "network: binned estimate" :color 0
                          :points (vec (for [{:keys [x n estimate]} bins :when (and estimate (>= (long n) 20))]
                                         [x (/ (double estimate) dstar)]))}
                         {:mark :line :series "theory D(π) / D(π*)" :color 1
                          :points (vec (for [k (range 1 101) :let [x (/ (double k) 100.0)]]
                                         [x (/ (theory-sde/diffusion params (* x (double s))) dstar)]))}
                         (vline theory-peak-x 0.0 1.2 "π*/s = 2(L-1)/(3L-2)" 2)]}))]
    {:name :s2s-diffusion-vs-strength
     :title "Network diffusion against the per-mode formula D(π) (doc/science.md §7)"
     :subtitle "bins of width 0.05 in π/s with at least 20 samples"
     :x {:title "π / s" :log? false}
     :y {:title "D / D(π*)" :log? false :zero? true}
     :panels panels}))

(defn- aligned-figure
  "Figure data: the network's diffusion estimate against tau = t - (each run's own
  time of reaching 0.9 s), normalized by its maximum, one series per mode."
  [{:keys [network-curves]}]
  {:name :s2s-diffusion-aligned
   :title "Diffusion against the time to each run's own learning (π = 0.9 s)"
   :subtitle "peaks at τ < 0: before the mode is learned"
   :x {:title "τ = t − t(π = 0.9 s) of the same run" :log? false}
   :y {:title "D / max D" :log? false :zero? true}
   :panels [{:title nil
             :layers (vec (concat
                           (for [{:keys [mode aligned-curve]} network-curves
                                 :let [mx (double (reduce max 1e-300 (map second aligned-curve)))]]
                             {:mark :line :series (str "mode " (inc (long mode))) :color mode
                              :points (mapv (fn [[t e]] [t (/ (double e) mx)]) aligned-curve)})
                           [(vline 0.0 0.0 1.0 "τ = 0" 5)]))}]})

(defn- means-figure
  "Figure data: per mode, the network's mean over seeds (± 2 standard errors),
  the per-mode SDE's ensemble mean and gradient flow, against t."
  [row nm]
  (let [{:keys [time network network-se sde-time sde gradient-flow]} (:curves row)]
    {:name nm
     :title (str "Mean mode strengths: full-network SGD vs per-mode SDE, lr = " (:lr row))
     :subtitle (str (:seeds row) " SGD seeds, " (:paths row) " SDE paths; weak error "
                    (format "%.3f" (double (:weak-error row))) " s")
     :x {:title "t = lr × steps" :log? false}
     :y {:title "mode strength π" :log? false}
     :panels (vec (for [i (range (count (first network)))]
                    {:title (str "mode " (inc (long i)))
                     :layers [{:mark :band :series "SGD mean ± 2 s.e." :color 0
                               :points (mapv (fn [t m se] (let [m (double (nth m i)) e (* 2.0 (double (nth se i)))]
                                                            [t (- m e) (+ m e)]))
                                             time network network-se)}
                              {:mark :line :series "SGD mean over seeds" :color 0
                               :points (mapv (fn [t m] [t (nth m i)]) time network)}
                              {:mark :line :series "per-mode SDE mean" :color 1 :dash [6 3]
                               :points (mapv (fn [t m] [t (nth m i)]) sde-time sde)}
                              {:mark :line :series "gradient flow" :color 2 :dash [2 2]
                               :points (mapv (fn [t m] [t (nth m i)]) sde-time gradient-flow)}]}))}))

(defn- weak-error-figure
  "Figure data: weak error against lr: vs the SDE, vs aligned SGD (the SDE at
  dt = lr), vs gradient flow, aligned SGD vs the SDE, and twice the standard error."
  [{:keys [rows batch-size label-noise]}]
  (let [series (fn [k] (mapv (fn [r] [(:lr r) (get r k)]) rows))]
    {:name :s2s-weak-error
     :title "Weak error max_t |mean_SGD − mean_ref| / s (max over modes)"
     :subtitle (str "B = " batch-size ", label noise " label-noise)
     :x {:title "learning rate η" :log? true}
     :y {:title "weak error / s" :log? true}
     :panels [{:title nil
               :layers [{:mark :line :point? true :series "SGD vs per-mode SDE" :color 0 :points (series :weak-error)}
                        {:mark :line :point? true :series "SGD vs aligned SGD (SDE at dt = lr)" :color 1 :points (series :vs-discrete)}
                        {:mark :line :point? true :series "SGD vs gradient flow" :color 2 :points (series :vs-gradient-flow)}
                        {:mark :line :point? true :series "aligned SGD vs SDE (time step only)" :color 3 :points (series :discrete-vs-sde)}
                        {:mark :line :series "2 × standard error" :color 4 :dash [2 2]
                         :points (mapv (fn [r] [(:lr r) (* 2.0 (double (:max-se r)))]) rows)}]}]}))

(defn- stationary-figure
  "Figure data: per mode, histograms of the SDE's final strengths (continuous and
  at dt = lr) with the analytic stationary density, at one learning rate."
  [{:keys [lr batch-size label-noise modes]}]
  {:name (keyword (str "s2s-stationary-lr-" lr))
   :title (str "Stationary distribution with label noise σ = " label-noise ", lr = " lr ", B = " batch-size)
   :subtitle "bars: per-mode SDE (small dt) and aligned SGD (dt = lr); lines: full network (on the SDE's bins) and the analytic density"
   :x {:title "mode strength π" :log? false}
   :y {:title "probability density" :log? false :zero? true}
   :panels (vec (for [{:keys [mode s histogram histogram-discrete network]} modes]
                  (let [bars (fn [{:keys [edges density]}]
                               (mapv (fn [[a b] d] [a b d]) (partition 2 1 edges) density))]
                    {:title (str "mode " (inc (long mode)) " (s = " s ")")
                     :layers [{:mark :bar :series "per-mode SDE, small dt" :color 0 :points (bars histogram)}
                              {:mark :bar :series "aligned SGD (dt = lr)" :color 3 :points (bars histogram-discrete)}
                              {:mark :line :series "full network, pooled late samples" :color 2
                               :points (if-let [h (:histogram network)]
                                         (mapv (fn [[a b] d] [(* 0.5 (+ (double a) (double b))) d])
                                               (partition 2 1 (:edges h)) (:density h))
                                         [])}
                              {:mark :line :series "analytic stationary density" :color 1
                               :points (mapv (fn [[a b] d] [(* 0.5 (+ (double a) (double b))) d])
                                             (partition 2 1 (:edges histogram)) (:theory-density histogram))}]})))})

(defmethod fig/build-figure :s2s-diffusion-vs-time [_ data _] (diffusion-time-figure data))
(defmethod fig/build-figure :s2s-diffusion-vs-strength [_ data opts] (diffusion-strength-figure data (:cfg opts)))
(defmethod fig/build-figure :s2s-diffusion-aligned [_ data _] (aligned-figure data))
(defmethod fig/build-figure :s2s-mean-trajectories [_ row opts] (means-figure row (:name opts :s2s-mean-trajectories)))
(defmethod fig/build-figure :s2s-weak-error [_ data _] (weak-error-figure data))
(defmethod fig/build-figure :s2s-stationary [_ data _] (stationary-figure data))

(def figure-names
  "The figures this namespace adds to dlnlab.figure/build-figure:
  :s2s-diffusion-vs-time, :s2s-diffusion-vs-strength (option :cfg) and
  :s2s-diffusion-aligned (a `diffusion-study` with its curves);
  :s2s-mean-trajectories (a `weak-error-study` row with :curves; option :name);
  :s2s-weak-error (a `weak-error-study`); :s2s-stationary (a `stationary-study`
  with histograms)."
  [:s2s-diffusion-vs-time :s2s-diffusion-vs-strength :s2s-diffusion-aligned
   :s2s-mean-trajectories :s2s-weak-error :s2s-stationary])

(defn diffusion-rows [{:keys [sde network]}]
  (vec (for [[a b] (map vector sde network)]
         {:mode (inc (long (:mode a))) :s (:s a)
          :pi-star (:theory-peak-pi a)
          :gf-peak (get-in a [:gradient-flow :peak]) :gf-learned (get-in a [:gradient-flow :learned 0.9])
          :sde-peak (:peak-time a) :sde-learned (get-in a [:median-learned 0.9])
          :sde-paths-before (:paths-peak-before-learning a)
          :net-peak (:peak-time b) :net-learned-half (get-in b [:learned 0.5]) :net-learned (get-in b [:learned 0.9])
          :net-aligned (:aligned-peak b) :net-peak-x (:peak-x b) :net-fit-x (get-in b [:shape-fit :peak-x])
          :theory-peak-x (:theory-peak-x b)
          :net-ratio (:bulk-ratio b)})))

(def diffusion-columns
  [[:mode "mode"] [:s "s"] [:pi-star "π*"] [:gf-peak "GF: t(π*)"] [:gf-learned "GF: t(0.9 s)"]
   [:sde-peak "SDE: peak t"] [:sde-learned "SDE: median t(0.9 s)"] [:sde-paths-before "SDE: paths peak first"]
   [:net-peak "SGD: peak t"] [:net-learned-half "SGD: median t(0.5 s)"] [:net-learned "SGD: median t(0.9 s)"]
   [:net-aligned "SGD: peak τ"] [:net-peak-x "SGD: largest bin π/s"] [:net-fit-x "SGD: fitted peak π/s"]
   [:theory-peak-x "π*/s"] [:net-ratio "SGD: D̂/D"]])

(defn stationary-rows [stationary]
  (vec (for [st stationary m (:modes st)]
         {:lr (:lr st) :mode (inc (long (:mode m))) :s (:s m)
          :lr-s (get-in m [:theory :lr-sharpness])
          :exact (get-in m [:theory :exact]) :gibbs (get-in m [:theory :gibbs])
          :discrete (get-in m [:theory :discrete]) :lin-discrete (get-in m [:theory :linear-discrete])
          :sde-var (get-in m [:sde :variance]) :sde-ks (get-in m [:sde :ks]) :sde-thr (get-in m [:sde :ks-threshold-95])
          :disc-var (get-in m [:discrete :variance]) :disc-ks (get-in m [:discrete :ks])
          :net-var (get-in m [:network :variance]) :net-mean-offset (when (:network m) (- (double (get-in m [:network :mean])) (double (get-in m [:theory :mean]))))
          :net-ks (get-in m [:network :ks]) :net-thr (get-in m [:network :ks-threshold-95]) :net-neff (get-in m [:network :n-eff])})))

(def stationary-columns
  [[:lr "η"] [:mode "mode"] [:lr-s "η S"] [:exact "Var exact"] [:gibbs "Var Gibbs T S"] [:discrete "Var discrete (§7)"]
   [:lin-discrete "Var discrete, with 2e²"] [:sde-var "SDE Var"] [:sde-ks "SDE KS"] [:sde-thr "1.36/√n"]
   [:disc-var "aligned SGD Var"] [:disc-ks "aligned SGD KS"]
   [:net-var "network Var"] [:net-mean-offset "network mean − exact"] [:net-ks "network KS"] [:net-thr "1.36/√n_eff"]])

(defn weak-rows [{:keys [rows batch-size label-noise]}]
  (vec (for [r rows]
         (merge {:lr (:lr r) :batch-size batch-size :label-noise label-noise :seeds (:seeds r)
                 :weak-error (:weak-error r) :max-se (:max-se r)
                 :vs-discrete (:vs-discrete r) :vs-gradient-flow (:vs-gradient-flow r) :discrete-vs-sde (:discrete-vs-sde r)}
                (into {} (map-indexed (fn [i m] [(keyword (str "mode" (inc (long i)))) (:weak-error m)]) (:per-mode r)))))))

(def weak-columns
  [[:lr "η"] [:batch-size "B"] [:label-noise "σ"] [:seeds "seeds"] [:weak-error "SGD vs SDE"]
   [:mode1 "mode 1"] [:mode2 "mode 2"] [:mode3 "mode 3"] [:max-se "max s.e."]
   [:vs-discrete "SGD vs aligned SGD"] [:discrete-vs-sde "aligned SGD vs SDE"] [:vs-gradient-flow "SGD vs GF"]])

