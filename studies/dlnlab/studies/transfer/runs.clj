(ns dlnlab.studies.transfer.runs
  "How the transfer study runs its grids and scores a run: `run-grid` (a
  core/sweep with one shared seed, reporting progress), the score of a run (the
  geometric mean of its loss over the last fifth of the steps), the best
  learning rate pooled over seeds or of the network linearized at
  initialization, and distances between loss curves."
  (:require [dlnlab.core :as core]
            [dlnlab.studies.transfer.estimate :refer [argmin-index geometric-tail-mean linearized-losses]]
            [dlnlab.studies.transfer.figures :refer [finite? round-sig]]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def tail-fraction
  "Fraction of the steps at the end of a run whose geometric mean is its score."
  0.2)

(defn notify [progress m] (when progress (progress m)))

(defn run-grid
  "core/sweep of base over grid with one shared seed (same data and initial raw
  weights at every point), reporting each finished run to progress."
  [base grid {:keys [jobs progress stage]}]
  (let [done (atom 0)
        total (reduce * (map (comp count second) grid))]
    (core/sweep base grid
                {:jobs (or jobs 2) :seeds :shared
                 :on-result (fn [_ point r]
                              (notify progress {:stage stage :done (swap! done inc) :total total
                                                :point (into {} point) :status (:status r)
                                                :elapsed-ms (get-in r [:meta :elapsed-ms])}))})))

(defn score [r] (when (= :completed (:status r)) (geometric-tail-mean (get-in r [:trajectory :loss]) tail-fraction)))

(defn pooled-best
  "Index of the lowest mean log score over seeds (rows: one score vector per
  seed); an lr where any seed diverged is excluded."
  [score-rows]
  (argmin-index (apply mapv (fn [& xs] (when (every? some? xs)
                                         (/ (double (reduce + (map #(Math/log (double %)) xs))) (count xs))))
                       score-rows)))

(defn ms-per-step
  "Median over the completed runs of a group of wall milliseconds per step
  (network build and recording included), or nil."
  [group steps]
  (let [xs (sort (keep #(when (= :completed (:status %))
                          (/ (double (get-in % [:meta :elapsed-ms])) (double steps)))
                       group))]
    (when (seq xs) (round-sig (nth xs (quot (count xs) 2))))))

(defn lazy-best
  "Best lr index of the network linearized at initialization (the lazy limit)
  for the experiment exp over lrs, scored like the runs."
  [exp lrs steps]
  (let [net (core/network exp)]
    (argmin-index (mapv (fn [lr] (geometric-tail-mean (linearized-losses net lr steps) tail-fraction)) lrs))))

(defn curve-distance
  "The mean over common steps of |log a_t - log b_t| of two loss curves (vectors
  of losses per recorded step): 0.1 means about 10% apart on average. Returns nil
  when a value is missing, not finite or not positive (a diverged run)."
  [a b]
  (let [pairs (map vector a b)]
    (when (and (seq pairs) (every? (fn [[x y]] (and (finite? x) (finite? y) (pos? (double x)) (pos? (double y)))) pairs))
      (/ (double (reduce + (map (fn [[x y]] (Math/abs (Math/log (/ (double x) (double y))))) pairs)))
         (double (count pairs))))))

(defn mean-log-curve
  "exp of the mean over curves of log loss at each step (nil when any is missing)."
  [curves]
  (when (every? #(and (seq %) (every? (fn [x] (and (finite? x) (pos? (double x)))) %)) curves)
    (apply mapv (fn [& xs] (Math/exp (/ (double (reduce + (map #(Math/log (double %)) xs))) (double (count xs))))) curves)))
