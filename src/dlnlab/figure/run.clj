(ns dlnlab.figure.run
  "Figures of one run against its steps (or time): :loss, :sharpness, :modes,
  :pathway-shares and :balance-gap, as methods of dlnlab.figure/build-figure.
  :loss and :modes also take several runs (a sweep), one line per run laid out
  by dlnlab.figure.layout/sweep-layout. Results are read through dlnlab.result; the
  stability-threshold line is the run's own (dlnlab.result/stability-threshold)."
  (:require [dlnlab.figure :as fig :refer [fmt]]
            [dlnlab.figure.layout :as layout]
            [dlnlab.result :as result]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- no-results! [what data]
  (fig/fail! :invalid-argument (str "No results to plot the " what " of (every slot is nil or failed).")
             [] data "results with :trajectory"))

(defmethod fig/build-figure :loss [_ data opts]
  (let [rs (fig/runs data)
        _ (when (empty? rs) (no-results! "loss" data))
        xk (fig/x-key (first rs) opts)
        single? (= 1 (count rs))
        ;; losses below a run's floating-point floor are rounding noise: drawn at the floor
        losses (fn [r k] (fig/at-floor (result/recorded r xk k) (fig/loss-floor r)))
        test (when single?
               (let [pts (losses (first rs) :test-loss)]
                 (when (seq pts) [{:mark :line :series "test loss" :color 1 :dash [6 3] :points pts}])))
        floor (fig/floor-layers rs (mapcat (fn [r] (map second (concat (result/recorded r xk :loss)
                                                                      (when single? (result/recorded r xk :test-loss)))))
                                           rs))
        layout (layout/sweep-layout rs opts)]
    {:name :loss
     :title (str "Loss vs " (if (= xk :step) "step" "time"))
     :subtitle (str (if single? (result/run-summary (first rs)) (layout/sweep-subtitle rs layout))
                    (when (seq floor) "; dotted: the floating-point floor, losses below it drawn at it"))
     :x {:title (fig/x-title xk) :log? false}
     :y {:title "loss" :log? true}
     :panels (if single?
               [{:title nil :layers (vec (concat [{:mark :line :series "training loss" :color 0
                                                   :points (losses (first rs) :loss)}]
                                                 test floor))}]
               (layout/sweep-panels rs layout #(losses % :loss) floor))}))

(defn threshold-steps
  "The stability threshold of run r as a step line [[x t] ...] when a schedule
  changed it (its :stability-threshold column takes two or more values): flat
  from each row where it changes to the next change, then to the last row; nil
  for a threshold that never changed."
  [r xk]
  (let [rows (result/recorded r xk :stability-threshold)]
    (when (> (count (distinct (map second rows))) 1)
      (let [changes (keep (fn [[[_ a] [x b]]] (when (not= a b) [x a b])) (map vector rows (rest rows)))]
        (vec (concat [(first rows)]
                     (mapcat (fn [[x a b]] [[x a] [x b]]) changes)
                     [(peek rows)]))))))

(defmethod fig/build-figure :sharpness [_ data opts]
  (let [r (first (fig/runs data))
        xk (fig/x-key r opts)
        steps (when-not (:lr opts) (threshold-steps r xk))
        thr (if (:lr opts) (result/stability-threshold-at r (:lr opts)) (result/stability-threshold r))
        name (fig/threshold-label (result/stability-constant r))
        label (if steps (str name " (scheduled)") (str name " = " (when thr (fmt thr))))]
    {:name :sharpness
     :title (str "Sharpness vs " (if (= xk :step) "step" "time"))
     :subtitle (str (result/run-summary r) (when (or steps thr) (str "; dashed: " label)))
     :x {:title (fig/x-title xk) :log? false}
     :y {:title "sharpness λ_max(Hessian)" :log? (get opts :log-y :auto)}
     :panels [{:title nil
               :layers (cond-> [{:mark :line :series "sharpness" :color 0 :points (result/recorded r xk :sharpness)}]
                         steps (conj {:mark :line :series label :color fig/rule-color :dash [6 4] :points steps})
                         (and thr (not steps)) (conj {:mark :rule :series label :color fig/rule-color :dash [6 4] :y thr}))}]}))

(defn- theory-rows
  "[[x [v per mode]] ...] from a theory curve {xk [...] :modes [[v per mode] per row]},
  or from a function of x giving [v per mode], evaluated at 200 points across xs."
  [theory xk xs]
  (cond
    (nil? theory) nil
    (fn? theory) (let [xs (filter fig/finite? xs)]
                   (when (seq xs)
                     (mapv (fn [x] [x (theory x)]) (fig/grid (apply min xs) (apply max xs) 200))))
    (and (map? theory) (sequential? (get theory xk)) (sequential? (:modes theory)))
    (map vector (get theory xk) (:modes theory))
    :else (fig/fail! :invalid-option
                     (str "Option :theory must be {" xk " [...] :modes [[value per mode] per row]} or a function of "
                          (name xk) " giving [value per mode], got " (if (map? theory) (str "keys " (pr-str (keys theory))) (pr-str theory)) ".")
                     [:theory] theory (str "{" xk " [...] :modes [[...] ...]} or (fn [x] [pi per mode])"))))

(defn- sweep-modes
  "The :modes figure of several runs: mode (:mode opts, 0-based) of each run,
  laid out by dlnlab.figure.layout/sweep-layout, with the target when every run has the same one."
  [rs opts]
  (let [xk (fig/x-key (first rs) opts)
        mode (long (:mode opts 0))
        layout (layout/sweep-layout rs opts)
        targets (distinct (map #(nth (result/mode-targets %) mode nil) rs))
        target (when (and (= 1 (count targets)) (first targets)) (double (first targets)))
        points-of (fn [r] (vec (keep (fn [[x v]] (when-some [p (nth v mode nil)] [x p]))
                                     (result/recorded r xk :modes))))]
    {:name :modes
     :title (str "Mode " (inc mode) " strength vs " (if (= xk :step) "step" "time"))
     :subtitle (str (layout/sweep-subtitle rs layout) (when target "; dashed: target"))
     :x {:title (fig/x-title xk) :log? false}
     :y {:title (str "mode " (inc mode) " strength π_" (inc mode)) :log? (get opts :log-y false)}
     :panels (layout/sweep-panels rs layout points-of
                               (when target [{:mark :rule :series (str "target s" (inc mode) " = " (fmt target))
                                              :color fig/rule-color :dash [6 4] :y target}]))}))

(defmethod fig/build-figure :modes [_ data opts]
  (let [rs (fig/runs data)]
    (when (empty? rs) (no-results! "modes" data))
    (if (> (count rs) 1)
      (sweep-modes rs opts)
      (let [r (first rs)
            xk (fig/x-key r opts)
            rows (result/recorded r xk :modes)
            n (count (second (first rows)))
            targets (or (some->> (:targets opts) (mapv double)) (result/mode-targets r))
            target-of (fn [^long i] (when (< i (count targets)) (nth targets i)))
            ;; modes the target does not have (s_i = 0) stay near 0 and crowd the legend
            with-target (filterv #(when-let [t (target-of %)] (> (double t) 0.0)) (range n))
            shown (if (or (:all-modes? opts) (empty? with-target)) (vec (range n)) with-target)
            hidden (- n (count shown))
            theory (theory-rows (:theory opts) xk (map first rows))
            label (fn [^long i] (let [t (target-of i)] (str "mode " (inc i) (when t (str ", s" (inc i) " = " (fmt t))))))
            ;; the mode's line and its target share a legend entry; the targets
            ;; come last so an oscillating mode does not hide them
            layers (vec (concat
                         (for [i shown :let [i (long i)]]
                           {:mark :line :series (label i) :color i
                            :points (mapv (fn [[x v]] [x (nth v i nil)]) rows)})
                         (when theory
                           (for [i shown :let [i (long i)]]
                             {:mark :line :series (str "theory, mode " (inc i)) :color i :dash [2 2]
                              :points (mapv (fn [[x v]] [x (nth v i nil)]) theory)}))
                         (for [i shown :let [i (long i) t (target-of i)] :when t]
                           {:mark :rule :series (label i) :color i :dash [6 4] :y t})))]
        {:name :modes
         :title (str "Mode strengths vs " (if (= xk :step) "step" "time"))
         :subtitle (str (result/run-summary r) (when (seq targets) "; dashed: targets s_i")
                        (when theory "; dotted: theory")
                        (when (pos? hidden) (str "; " hidden " mode" (when (> hidden 1) "s") " with target 0 not shown")))
         :x {:title (fig/x-title xk) :log? false}
         :y {:title "mode strength π_i = u_iᵀ F v_i" :log? (get opts :log-y false)}
         :panels [{:title nil :layers layers}]}))))

(defmethod fig/build-figure :pathway-shares [_ data opts]
  (let [r (first (fig/runs data))
        xk (fig/x-key r opts)
        traj (:trajectory r)
        targets (result/mode-targets r)
        ;; each row's shares where they mean something (dlnlab.result/meaningful-shares):
        ;; not for a mode with target 0, nor while its strength is below a tenth of its target
        rows (vec (keep (fn [[x shares modes]]
                          (when (and (some? x) shares)
                            [x (if targets (result/meaningful-shares shares modes targets) shares)]))
                        (map vector (get traj xk) (get traj :pathway-shares) (or (get traj :modes) (repeat nil)))))
        n-modes (count (second (first (result/recorded r xk :pathway-shares))))
        zero-target? (fn [^long m] (let [t (nth targets m nil)] (and (some? t) (not (fig/positive? t)))))
        modes (vec (remove zero-target? (range n-modes)))
        hidden (- n-modes (count modes))
        n-paths (or (some #(some (fn [m] (when m (count m))) (second %)) rows) 0)
        panel (fn [^long m]
                (let [per-row (keep (fn [[x shares]]
                                      (when-let [s (nth shares m nil)]
                                        [x (reductions + 0.0 (map double s))]))
                                    rows)]
                  {:title (str "mode " (inc m))
                   :layers (vec (for [k (range n-paths)
                                      :let [k (long k)]]
                                  {:mark :band :series (str "pathway " (inc k)) :color k
                                   :points (mapv (fn [[x cum]] [x (nth cum k) (nth cum (inc k))]) per-row)}))}))]
    {:name :pathway-shares
     :title "Pathway shares per mode"
     :subtitle (str (result/run-summary r) "; stacked, each mode's shares add up to 1"
                    (when targets "; shown once the mode reaches a tenth of its target")
                    (when (pos? hidden) (str "; " hidden " mode" (when (> hidden 1) "s") " with target 0 not shown")))
     :x {:title (fig/x-title xk) :log? false}
     :y {:title "share of the mode's strength" :log? false}
     :panels (mapv panel modes)}))

(defmethod fig/build-figure :balance-gap [_ data opts]
  (let [r (first (fig/runs data))
        xk (fig/x-key r opts)
        rows (result/recorded r xk :balance-gap)
        shape (second (first rows))
        n-paths (count shape)
        layers (vec (for [k (range n-paths)
                          j (range (count (nth shape k)))
                          :let [k (long k) j (long j)]]
                      {:mark :line
                       :series (str (when (> n-paths 1) (str "pathway " (inc k) ", ")) "layers " (inc j) "–" (+ 2 j))
                       :color (+ (* k (count (nth shape k))) j)
                       :points (mapv (fn [[x g]] [x (get-in g [k j])]) rows)}))]
    {:name :balance-gap
     :title "Balance gap per layer pair"
     :subtitle (str (result/run-summary r) "; zeros are not shown on a log axis")
     :x {:title (fig/x-title xk) :log? false}
     :y {:title "balance gap ‖Wₗ₊₁ᵀWₗ₊₁ − WₗWₗᵀ‖_F" :log? (get opts :log-y true)}
     :panels [{:title nil :layers layers}]}))

(defmethod fig/standard-names :network [r]
  (let [shares (result/last-recorded r :pathway-shares)]
    (cond-> []
      (result/any-recorded? r :loss) (conj :loss)
      (result/any-recorded? r :sharpness) (conj :sharpness)
      (result/any-recorded? r :modes) (conj :modes)
      (and shares (some #(and % (> (count %) 1)) shares)) (conj :pathway-shares)
      (some #(some seq %) (remove nil? (get-in r [:trajectory :balance-gap]))) (conj :balance-gap))))
