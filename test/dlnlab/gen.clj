(ns dlnlab.gen
  "test.check generators of small random valid experiments, for property tests of
  the spec, the task and model builders and the engine.

  Sizes are small on purpose: depth 1-5, pathways 1-3, widths and task dimensions
  1-6, at most 10 samples. Every task kind, model kind, parameterization and init
  kind is generated; dimensions are drawn first and entries after (gen/bind), all
  numbers bounded and finite.

  Main entry points: `experiment` (a full experiment map, valid for
  dlnlab.spec/normalize), `task-spec`, `(model-for dims)`, `(init-for model dims)`,
  `(task-dims task)`, `(matrix rows cols)`."
  (:require [clojure.test.check.generators :as gen]))

(def dim
  "A dimension in 1..6."
  (gen/choose 1 6))

(defn bounded
  "Doubles on a uniform grid of 10^6 steps in [lo, hi] (finite, never denormal;
  shrinking moves toward lo)."
  [lo hi]
  (gen/fmap (fn [k] (+ (double lo) (* (- (double hi) (double lo)) (/ (double k) 1e6))))
            (gen/choose 0 1000000)))

(defn matrix
  "A rows x cols row-major nested matrix of entries in [-2, 2]."
  [rows cols]
  (gen/vector (gen/vector (bounded -2.0 2.0) cols) rows))

(defn positive-values
  "A vector of n numbers in [lo, hi]."
  [n lo hi]
  (gen/vector (bounded lo hi) n))

;; ---------------------------------------------------------------------------
;; Tasks

(def matrix-factorization
  "A :matrix-factorization task, explicit or from singular values."
  (gen/one-of
   [(gen/let [r dim c dim m (matrix r c)]
      {:kind :matrix-factorization :matrix m})
    (gen/let [r dim c dim
              k (gen/choose 1 (min r c))
              s (positive-values k 0.1 3.0)
              basis (gen/elements [:identity :random])
              dims? gen/boolean]
      (cond-> {:kind :matrix-factorization :singular-values s :basis basis}
        (or dims? (not= r c) (not= k r)) (assoc :dims [r c])))]))

(def teacher-student
  "A :teacher-student task with a random covariance, teacher and label noise."
  (gen/let [D dim m dim
            n (gen/choose 1 10)
            nt (gen/choose 0 5)
            cov (gen/one-of [(gen/return nil)
                             (gen/fmap (fn [a] {:power-law a}) (bounded 0.0 2.0))
                             (gen/fmap (fn [ev] {:eigenvalues ev}) (positive-values D 0.1 2.0))])
            teacher (gen/one-of [(gen/return nil)
                                 (gen/return {:kind :gaussian})
                                 (gen/fmap (fn [s] {:kind :gaussian :std s}) (bounded 0.1 1.0))
                                 (gen/let [k (gen/choose 1 (min D m))
                                           s (positive-values k 0.1 3.0)
                                           b (gen/elements [:identity :random])]
                                   {:singular-values s :basis b})
                                 (gen/fmap (fn [mm] {:kind :matrix :matrix mm}) (matrix m D))])
            noise (gen/one-of [(gen/return nil) (bounded 0.0 0.5)])]
    (cond-> {:kind :teacher-student :input-dim D :output-dim m :samples n :test-samples nt}
      cov (assoc :covariance cov)
      teacher (assoc :teacher teacher)
      noise (assoc :label-noise noise))))

(def dataset
  "A :dataset task with inline samples and an optional test split."
  (gen/let [D dim m dim
            n (gen/choose 1 10)
            x (matrix n D)
            y (matrix n m)
            test (gen/one-of [(gen/return nil)
                              (gen/fmap (fn [f] {:test-fraction f}) (bounded 0.0 0.3))
                              (gen/let [nt (gen/choose 1 4) tx (matrix nt D) ty (matrix nt m)]
                                {:test-x tx :test-y ty})])]
    (merge {:kind :dataset :x x :y y} test)))

(def task-spec
  "Any task spec."
  (gen/one-of [matrix-factorization teacher-student dataset]))

(defn task-dims
  "{:input D :output m} of a (valid) task spec, computed from the spec alone."
  [task]
  (case (:kind task)
    :matrix-factorization (if-let [m (:matrix task)]
                            {:input (count (first m)) :output (count m)}
                            (let [[r c] (or (:dims task) [(count (:singular-values task)) (count (:singular-values task))])]
                              {:input c :output r}))
    :teacher-student {:input (:input-dim task) :output (:output-dim task)}
    :dataset {:input (count (first (:x task))) :output (count (first (:y task)))}))

;; ---------------------------------------------------------------------------
;; Models and inits

(defn shapes
  "[[rows cols] ...] per pathway of a (valid) model spec for dims, in packed order
  (residual: W_in, blocks, W_out)."
  [model {:keys [input output]}]
  (case (:kind model)
    :residual (let [N (:width model)]
                [(vec (concat [[N input]] (repeat (:depth model) [N N]) [[output N]]))])
    (let [w (or (:widths model)
                (vec (concat [input] (repeat (dec (:depth model)) (:width model)) [output])))]
      (vec (repeat (:pathways model 1) (mapv (fn [l] [(nth w (inc l)) (nth w l)]) (range (dec (count w)))))))))

(defn weights-for
  "Weights in the user form for a model spec and dims, entries in [-1, 1]."
  [model dims]
  (let [sh (shapes model dims)
        mat (fn [[r c]] (gen/vector (gen/vector (bounded -1.0 1.0) c) r))]
    (if (= :residual (:kind model))
      (let [fs (first sh)]
        (gen/let [in (mat (first fs))
                  blocks (apply gen/tuple (map mat (subvec fs 1 (dec (count fs)))))
                  out (mat (peek fs))]
          {:in in :blocks (vec blocks) :out out}))
      (apply gen/tuple (map (fn [p] (gen/fmap vec (apply gen/tuple (map mat p)))) sh)))))

(defn- narrowest [model dims]
  (apply min (map (fn [[r c]] (min r c)) (apply concat (shapes model dims)))))

(defn- shares-for [K r]
  (gen/fmap (fn [raw]
              ;; normalize each mode's column over the pathways
              (let [tot (mapv (fn [i] (reduce + (map #(nth % i) raw))) (range r))]
                (mapv (fn [row] (mapv (fn [i] (/ (nth row i) (nth tot i))) (range r))) raw)))
            (gen/vector (gen/vector (bounded 0.05 1.0) r) K)))

(defn init-for
  "Any init valid for a model spec and dims (:pathway-split only for multi-pathway)."
  [model dims]
  (let [K (:pathways model 1)
        multi? (= :multi-pathway (:kind model))
        nmax (narrowest model dims)
        hidden (gen/elements [:random :identity])]
    (gen/one-of
     (cond-> [(gen/return {:kind :gaussian})
              (gen/fmap (fn [s] {:kind :gaussian :std s}) (bounded 0.05 1.0))
              (gen/return {:kind :gaussian :std :fan-in})
              (gen/fmap (fn [c] {:kind :orthogonal :scale c}) (bounded 0.2 1.5))
              (gen/fmap (fn [a] {:kind :scaled-identity :alpha a}) (bounded 0.1 1.0))
              (gen/let [r (gen/choose 1 nmax)
                        s (positive-values r 0.1 2.0)
                        h hidden
                        shares (if multi? (gen/one-of [(gen/return nil) (shares-for K r)]) (gen/return nil))]
                (cond-> {:kind :balanced-aligned :strengths s :hidden-basis h}
                  shares (assoc :shares shares)))
              (gen/fmap (fn [s] {:kind :balanced-aligned :scale s}) (bounded 0.1 2.0))
              (gen/fmap (fn [w] {:kind :given :weights w}) (weights-for model dims))]
       multi? (conj (gen/let [r (gen/choose 1 nmax)
                              s (positive-values r 0.1 2.0)
                              shares (shares-for K r)
                              h hidden]
                      {:kind :pathway-split :strengths s :shares shares :hidden-basis h}))))))

(defn model-for
  "A model spec (with its :init) for task dims: every kind and parameterization,
  depth 1-5, pathways 1-3, widths 1-6."
  [dims]
  (gen/let [kind (gen/elements [:chain :multi-pathway :residual])
            depth (gen/choose 1 5)
            width dim
            K (gen/choose 1 3)
            use-widths? gen/boolean
            hidden (gen/vector dim (dec depth))
            p (gen/elements [:standard :mup :ntk])
            g (gen/one-of [(gen/return nil) (bounded 0.5 2.0)])
            beta0 (gen/one-of [(gen/return nil) (bounded 0.5 2.0)])]
    (let [shape (cond
                  (= kind :residual) (cond-> {:depth depth :width width} beta0 (assoc :beta0 beta0))
                  use-widths? {:widths (vec (concat [(:input dims)] hidden [(:output dims)]))}
                  (= depth 1) {:depth 1}
                  :else {:depth depth :width width})
          model (cond-> (merge {:kind kind :parameterization p} shape)
                  (= kind :multi-pathway) (assoc :pathways K)
                  g (assoc :gamma0 g))]
      (gen/fmap (fn [init] (assoc model :init init)) (init-for model dims)))))

(def experiment
  "A small random valid experiment {:seed :model :task}."
  (gen/let [seed (gen/large-integer* {:min 0 :max 1000000})
            task task-spec
            model (model-for (task-dims task))]
    {:seed seed :model model :task task}))
