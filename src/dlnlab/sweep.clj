(ns dlnlab.sweep
  "Local sweeps: the cartesian product of a grid of key paths and values (with
  axes that vary together zipped) over a base experiment, run in parallel on the
  local cores, results in grid order."
  (:require [clojure.string :as str]
            [dlnlab.error :as error]
            [dlnlab.experiment :as experiment]
            [dlnlab.options :as options]
            [dlnlab.spec :as spec])
  (:import [dlnlab.kernel Rng]
           [java.nio.charset StandardCharsets]
           [java.util.concurrent Callable ExecutorService Executors Future]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- check-grid [grid]
  (when-not (and (or (map? grid) (and (vector? grid) (every? #(and (vector? %) (= 2 (count %))) grid)))
                 (seq grid))
    (error/fail! :invalid-experiment
                 (str "A sweep grid must be a non-empty map from key paths to value lists, got " (error/show grid) ".")
                 {:path [:grid] :value grid :allowed "{[:optimizer :lr] [0.1 0.2], ...}"}))
  (doseq [[path values] grid]
    (when-not (and (vector? path) (seq path) (every? keyword? path))
      (error/fail! :invalid-experiment
                   (str "Grid key " (error/show path) " must be a non-empty vector of keywords, e.g. [:optimizer :lr].")
                   {:path [:grid path] :value path :allowed "a vector of keywords"}))
    (when-not (and (sequential? values) (seq values))
      (error/fail! :invalid-experiment
                   (str "Grid values for " (error/show path) " must be a non-empty vector, got " (error/show values) ".")
                   {:path [:grid path] :value values :allowed "a non-empty vector of values"}))))

(defn- check-zip
  "Each zip group is a vector of at least two distinct grid paths whose value
  lists have equal lengths; no path is in two groups."
  [grid zip]
  (let [values (into {} (seq grid))]
    (when-not (and (sequential? zip) (every? #(and (sequential? %) (<= 2 (count %))) zip))
      (error/fail! :invalid-experiment
                   (str "A sweep's :zip must be a vector of groups of at least two grid paths, e.g. [[[:model :width] [:optimizer :lr]]], got " (error/show zip) ".")
                   {:path [:zip] :value zip :allowed "[[path path ...] ...]"}))
    (reduce (fn [seen [i group]]
              (doseq [path group]
                (when-not (contains? values path)
                  (error/fail! :invalid-experiment
                               (str "[:zip " i "] names " (error/show path) ", which is not a path of the grid; a zip group ties grid paths together (grid paths: "
                                    (str/join ", " (map pr-str (keys values))) ").")
                               {:path [:zip i] :value path :allowed (vec (keys values))}))
                (when (contains? seen path)
                  (error/fail! :invalid-experiment
                               (str "[:zip " i "] names " (error/show path) " again; a path can vary together with one group only.")
                               {:path [:zip i] :value path :allowed "each path in one group"})))
              (let [lengths (map #(count (get values %)) group)]
                (when-not (apply = lengths)
                  (error/fail! :invalid-experiment
                               (str "[:zip " i "] ties paths whose value lists have different lengths ("
                                    (str/join ", " (map (fn [p n] (str (pr-str p) ": " n)) group lengths))
                                    "); paths that vary together need one value each per point.")
                               {:path [:zip i] :value (vec group) :allowed "value lists of equal length"})))
              (into seen group))
            #{} (map-indexed vector zip))))

(defn- axes
  "The grid's axes in grid order: each a vector of the [path values] pairs that
  vary together (one pair, or a zip group, placed where its first path is)."
  [grid zip]
  (let [group-of (into {} (for [g zip p g] [p (vec g)]))
        values (into {} (seq grid))]
    (->> (seq grid)
         (keep (fn [[path vs]]
                 (if-let [g (group-of path)]
                   ;; the group's paths in grid order, so a point (and its
                   ;; seed) does not depend on the order the group lists them
                   (let [in-order (filter (set g) (map first (seq grid)))]
                     (when (= path (first in-order))
                       (mapv (fn [p] [p (get values p)]) in-order)))
                   [[path vs]])))
         vec)))

(defn grid-points
  "The points of grid, in grid order: the first axis varies slowest. Each point is
  a vector of [path value] pairs. grid is a map {path values} or, to fix the
  order of more than eight paths, a vector of [path values] pairs. Without zip
  the points are the cartesian product; zip, a vector of groups of grid paths
  ([[[:model :width] [:optimizer :lr]]]), makes each group one axis whose paths
  take their i-th values together (their value lists must have equal lengths),
  placed where the group's first path is in the grid.
  Throws ex-info on an invalid grid or zip."
  ([grid] (grid-points grid nil))
  ([grid zip]
   (check-grid grid)
   (when (some? zip) (check-zip grid zip))
   (reduce (fn [points axis]
             (let [n (count (second (first axis)))]
               (vec (for [p points
                          i (range n)]
                      (into p (map (fn [[path vs]] [path (nth vs i)])) axis)))))
           [[]] (axes grid zip))))

(defn- fnv64 ^long [^String s]
  (let [bytes (.getBytes s StandardCharsets/UTF_8)]
    (loop [i 0 h (unchecked-long -3750763034362895579)]
      (if (= i (alength bytes))
        h
        (recur (inc i) (unchecked-multiply (bit-xor h (long (bit-and (aget bytes i) 0xff))) 1099511628211))))))

(defn point-seed
  "A seed derived from base-seed and the printed [path value] pairs of point,
  so it does not change when other points are added."
  ^long [^long base-seed point]
  (Rng/derive base-seed (fnv64 (pr-str point))))

(def seed-modes
  "The :seeds modes of a sweep and what each means. In every mode replicate r
  (the pseudo-axis [:replicate], added by a sweep's :replicates R) is part of
  what the seed depends on, and an explicit [:seed] axis is used as given."
  (array-map
   :derived (str "paired (default): the seed depends on the base :seed, the replicate and the coordinates "
                 "that change the problem (every grid path outside :optimizer, :steps, :time, :stop and :record, "
                 "and the :sde keys of the dynamics), so replicate r of every learning rate starts from the "
                 "same weights and data")
   :shared "every point uses the base :seed (replicate r > 0 a seed derived from it and r only)"
   :independent "every point and replicate its own seed, derived from the base :seed and the whole point"))

(def ^:private optimizer-roots
  "First keys of the grid paths that change how a problem is trained, not the problem."
  #{:optimizer :steps :time :stop :record :name :description})

(def ^:private sde-dynamics
  "Paths of an :sde experiment's dynamics (learning rate, batch, integrator, recording)."
  (set (for [k [:lr :batch-size :dt :time :scheme :record :paths]] [:sde k])))

(defn problem-coordinate?
  "True when grid path changes the problem (data, architecture, initialization)
  rather than how it is trained: see `seed-modes` :derived."
  [path]
  (not (or (optimizer-roots (first path))
           (= [:seed] path) (= [:replicate] path)
           (sde-dynamics (vec (take 2 path))))))

(defn point-replicate
  "The replicate index of a point (its [:replicate] value, 0 when absent)."
  ^long [point]
  (long (or (some (fn [[path v]] (when (= [:replicate] path) v)) point) 0)))

(defn replicate-seed
  "The seed of replicate r of a point under seeds (a key of `seed-modes`); a
  point with a [:seed] coordinate keeps that seed."
  [^long base-seed point seeds]
  (let [r (point-replicate point)
        given (some (fn [[path v]] (when (= [:seed] path) v)) point)]
    (cond given given
          (= seeds :shared) (if (zero? r) base-seed (point-seed base-seed [[[:replicate] r]]))
          (= seeds :independent) (point-seed base-seed point)
          :else (point-seed base-seed (conj (filterv (comp problem-coordinate? first) point) [[:replicate] r])))))

(defn point-experiment
  "The experiment of one grid point: base with every path set to its value (the
  pseudo-path [:replicate] only picks the seed) and the seed of `replicate-seed`
  under seeds (:derived by default; see `seed-modes`)."
  ([base point] (point-experiment base point :derived))
  ([base point seeds]
   (let [exp (reduce (fn [e [path v]] (if (= [:replicate] path) e (assoc-in e path v))) base point)]
     (assoc exp :seed (replicate-seed (long (:seed base 0)) point seeds)))))

(def sweep-options
  "The options `sweep` takes: {key [pred what is allowed]}."
  {:zip [sequential? "a sequence of groups of grid paths that vary together, e.g. [[[:model :width] [:optimizer :lr]]]"]
   :jobs [#(and (int? %) (<= 1 (long %) 100000)) "a positive integer (runs at a time), at most 100000"]
   :seeds [#(contains? seed-modes %) (str "one of " (apply str (interpose ", " (keys seed-modes))))]
   :run-opts [map? "a map of run options (see dlnlab.core/run)"]
   :skip? [options/function? "a function (fn [index point]) true for points not to run"]
   :on-result [options/function? "a function (fn [index point result])"]
   :keep-results? [boolean? "true or false"]})

(defn sweep
  "Runs base over every point of grid in parallel and returns the results in grid
  order, each with :sweep {:index i :point {path value}} added.

  Options: :zip groups of grid paths that vary together (see `grid-points`);
  :jobs (number of available processors) parallel runs; :seeds (:derived,
  :shared or :independent, see `seed-modes`); :run-opts passed to each run; :skip? (fn [index point])
  true for points not to run (their slot holds nil); :on-result
  (fn [index point result]) called as each finishes (from a worker thread);
  :keep-results? (true) false returns a vector of nils and leaves results to
  :on-result, so a large sweep does not hold every result in memory.
  Every point's experiment is validated (dlnlab.spec/normalize) before anything
  runs. Throws ex-info on an invalid grid, or the ex-info `run` would throw for
  the first point (in grid order) whose experiment is invalid; a run that
  throws while running leaves {:status :failed :error message} in its slot and
  the others go on."
  ([base grid] (sweep base grid {}))
  ([base grid {:keys [zip jobs seeds run-opts skip? on-result keep-results?]
               :or {jobs (.availableProcessors (Runtime/getRuntime)) seeds :derived keep-results? true}
               :as opts}]
   (options/check! "dlnlab.core/sweep" opts sweep-options)
   (options/check! "dlnlab.core/sweep's :run-opts" run-opts experiment/run-options)
   (let [points (grid-points grid zip)
         _ (doseq [[i point] (map-indexed vector points)
                   :when (not (and skip? (skip? i point)))]
             (spec/normalize (point-experiment base point seeds)))
         pool ^ExecutorService (Executors/newFixedThreadPool (max 1 (int jobs)))]
     (try
       (let [futures
             (vec (map-indexed
                   (fn [i point]
                     (when-not (and skip? (skip? i point))
                       ;; bound-fn: the pool's threads see the caller's bindings, such as
                       ;; the command line the CLI binds for each result's provenance
                       (let [^Callable task
                             (bound-fn []
                               (let [exp (point-experiment base point seeds)
                                     r (try (experiment/run exp (or run-opts {}))
                                            (catch Exception e
                                              {:experiment exp :status :failed :error (ex-message e)}))
                                     r (assoc r :sweep {:index i :point (into {} point)})]
                                 (when on-result (on-result i point r))
                                 (when keep-results? r)))]
                         (.submit pool task))))
                   points))]
         (mapv (fn [f] (when f (.get ^Future f))) futures))
       (finally (.shutdownNow pool))))))
