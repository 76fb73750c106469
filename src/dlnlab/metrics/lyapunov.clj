(ns dlnlab.metrics.lyapunov
  "Lyapunov exponents of the gradient-descent map along a run (doc/science.md §6):
  how fast nearby GD trajectories separate, the measure of chaos beyond the edge
  of stability. One GD step theta' = theta - lr grad l(theta) has the exact
  tangent map J = I - lr H(theta); tangent vectors are pushed through J with
  Hessian-vector products at every step and re-orthonormalized (QR by modified
  Gram-Schmidt), and the exponents are the averages of ln |R_ii| per step
  (Benettin's method). A positive largest exponent is chaos; on an attracting
  p-cycle it is negative.

  `exponents` runs the map from a network's parameters on its own; the metrics
  :lyapunov (the largest exponent) and :lyapunov-spectrum (the top k) follow a
  run: the run records at some steps only, so at each record the metric replays
  the GD steps since its previous record from the parameters it kept there (the
  same kernel calls as the GD stepper, so the same numbers), pushing the tangent
  vectors along. Exponents are per step; divide by the effective lr for per unit
  time. The per-mode map's exponent to compare with is
  dlnlab.theory.gd-map/gd-map-lyapunov."
  (:require [dlnlab.engine :as engine]
            [dlnlab.kind :as kind]
            [dlnlab.metrics :as metrics]
            [dlnlab.spec :as spec])
  (:import [dlnlab.kernel Arch Blas Engine Engine$Workspace Objective Rng]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- orthonormalize!
  "Modified Gram-Schmidt on the arrays vs in place (the Q of a QR); returns the
  double[] of ln |R_ii|."
  ^doubles [vs]
  (let [vs (vec vs) k (count vs) out (double-array k)]
    (dotimes [i k]
      (let [^doubles v (vs i) n (alength v)]
        (dotimes [j i]
          (let [^doubles q (vs j)]
            (Blas/axpy n (- (Blas/dot n q 0 v 0)) q 0 v 0)))
        (let [norm (Blas/nrm2 n v 0)]
          (aset out i (Math/log norm))
          (when (pos? norm) (Blas/scal n (/ 1.0 norm) v 0)))))
    out))

(defn- start-vectors
  "k orthonormal random directions in R^n from seed (counter-based normals)."
  [^long n ^long k ^long seed]
  (let [s (Rng/derive seed 0x4C59415)
        vs (vec (for [i (range k)]
                  (let [v (double-array n)]
                    (dotimes [j n] (aset v j (Rng/gaussian s i j)))
                    v)))]
    (orthonormalize! vs)
    vs))

(defn- stepper
  "A function (fn [^doubles params sums]) that takes one GD step at lr in
  place, pushing the tangent vectors vs through J = I - lr H at params first
  and adding each ln |R_ii| to the double[] sums. The gradient step is the GD
  stepper's (dlnlab.optim): Engine/gradient then params -= lr g."
  [net ^double lr vs]
  (let [^Arch arch (:arch net)
        ^Objective obj (:objective net)
        ^Engine$Workspace ws (engine/workspace net)
        n (.size arch)
        g (double-array n)
        hv (double-array n)]
    (fn [^doubles params ^doubles sums]
      (Engine/prepare arch obj params ws)
      (Engine/gradientPrepared arch ws g)
      (doseq [^doubles v vs]
        (Engine/hvpPrepared arch obj ws v hv)
        (Blas/axpy n (- lr) hv 0 v 0))
      (let [^doubles logs (orthonormalize! vs)]
        (dotimes [i (alength logs)] (aset sums i (+ (aget sums i) (aget logs i)))))
      (Blas/axpy n (- lr) g 0 params 0))))

(defn exponents
  "The k largest Lyapunov exponents of the GD map on net (doc/science.md §6),
  per step: GD at the effective learning rate lr from the network's parameters,
  k tangent vectors pushed through J = I - lr H by exact Hessian-vector
  products and re-orthonormalized every step.

  Options: :lr (required, the effective learning rate); :steps (1000) averaged;
  :transient (0) steps taken first and not averaged (the tangent vectors turn
  toward the leading directions meanwhile); :k (1); :seed (0) of the random
  start directions.
  Returns {:exponents [descending as found by QR, k values] :steps n
  :params double[] (where the map ended)}; exponents are NaN when the
  parameters stop being finite."
  [net {:keys [lr steps transient k seed] :or {steps 1000 transient 0 k 1 seed 0}}]
  (let [n (engine/size net)
        k (min (long k) n)
        vs (start-vectors n k (long seed))
        params (aclone ^doubles (:params net))
        step! (stepper net (double lr) vs)
        scratch (double-array k)
        sums (double-array k)]
    (dotimes [_ (long transient)] (step! params scratch))
    (dotimes [_ (long steps)] (step! params sums))
    {:exponents (mapv #(/ (double %) (double steps)) sums)
     :steps (long steps)
     :params params}))

;; ---------------------------------------------------------------- the metrics

(defn- follow!
  "Brings the tracker of metric slot in (:state ctx) to the run's current step:
  replays GD from the kept parameters over the steps since the previous record
  at the lr in force then, then keeps the run's parameters, step and lr. Returns
  the tracker, with :window-sums and :window-steps of the replay just done."
  [slot net ctx k seed]
  (let [state (:state ctx)
        step (long (:step ctx))
        lr (:lr ctx)
        n (engine/size net)
        tracker (get @state [::tracker slot])
        tracker (if (and tracker (== n (alength ^doubles (:params tracker))) (<= (long (:step tracker)) step))
                  tracker
                  {:params nil :vectors (start-vectors n (min (long k) n) (long seed))
                   :sums (double-array (min (long k) n)) :steps 0})
        window (double-array (alength ^doubles (:sums tracker)))
        from (:step tracker)
        replayed (if (:params tracker) (- step (long from)) 0)]
    (when (pos? replayed)
      (let [params (aclone ^doubles (:params tracker))
            step! (stepper net (double (:lr tracker)) (:vectors tracker))]
        (dotimes [_ replayed] (step! params window))
        (let [^doubles sums (:sums tracker)]
          (dotimes [i (alength window)] (aset sums i (+ (aget sums i) (aget window i)))))))
    (let [t (assoc tracker :params (aclone ^doubles (:params net)) :step step :lr lr
                   :steps (+ (long (:steps tracker)) replayed)
                   :window-sums window :window-steps replayed)]
      (vswap! state assoc [::tracker slot] t)
      t)))

(defn- gd-run?
  "True when net's run is full-batch GD, the map these exponents are of."
  [net ctx]
  (and (:lr ctx) (:state ctx) (= :gd (get-in net [:experiment :optimizer :kind]))))

(defn- measured
  "The exponents of the tracker of slot at the current record, averaged over
  the whole run so far, or since the previous record with :window?;
  nil at the first record or when not a GD run."
  [slot net ctx]
  (when (gd-run? net ctx)
    (let [{:keys [k seed window?] :or {k 1 seed 0}} (:options ctx)
          t (follow! slot net ctx k seed)
          [^doubles sums steps] (if window?
                                  [(:window-sums t) (:window-steps t)]
                                  [(:sums t) (:steps t)])]
      (when (pos? (long steps))
        (mapv #(/ (double %) (double steps)) sums)))))

(def ^:private options
  [[:window? {:spec ::spec/boolean :default false
              :doc "false: the average over every step since the first record; true: over the steps since the previous record"}]
   [:seed {:spec ::spec/seed :default 0 :doc "seed of the random start directions"}]])

(defmethod kind/schema [:metric :lyapunov] [_ _]
  {:doc "Largest Lyapunov exponent of the GD map per step, from the tangent map J = I - lr H applied by HVPs to a renormalized vector at every step (the steps between records replayed); nil unless the optimizer is :gd, and at the first record."
   :keys options :cost :costly :shape "double or nil"})

(defmethod metrics/measure :lyapunov [_ net ctx]
  (first (measured :lyapunov net (update ctx :options assoc :k 1))))

(defmethod kind/schema [:metric :lyapunov-spectrum] [_ _]
  {:doc "The k largest Lyapunov exponents of the GD map per step, by QR of k tangent vectors pushed through J = I - lr H at every step; nil unless the optimizer is :gd, and at the first record."
   :keys (into [[:k {:spec ::spec/pos-int :default 2 :doc "how many exponents"}]] options)
   :cost :costly :shape "[exponent ...] (k values, descending) or nil"})

(defmethod metrics/measure :lyapunov-spectrum [_ net ctx]
  (measured :lyapunov-spectrum net ctx))
