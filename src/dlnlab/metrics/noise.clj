(ns dlnlab.metrics.noise
  "The minibatch gradient noise of SGD at the current point (doc/science.md §7):
  its total variance (the trace of the covariance of the minibatch gradient),
  the share of it in the top-k Hessian eigenspace (how aligned the noise is
  with curvature), and its variance along each target mode in the aligned
  basis beside the per-mode SDE's (2 e^2 + sigma^2)/B
  (dlnlab.theory.sde/sgd-noise-variance).

  Everything is exact over the training samples: one gradient per sample (a
  minibatch of one, as the SGD stepper computes it), folded in by Welford's
  updates. A minibatch of B samples drawn with replacement (SGD's
  :with-replacement and, estimating the population by the samples,
  :one-pass) has covariance Sigma/B, Sigma the covariance of the per-sample
  gradients over the n samples; drawn without replacement (:epochs) it has
  Sigma/B (n - B)/(n - 1). Tasks without samples (matrix factorization) give nil."
  (:require [dlnlab.engine :as engine]
            [dlnlab.kind :as kind]
            [dlnlab.metrics :as metrics]
            [dlnlab.spec :as spec]
            [dlnlab.theory.sde :as theory-sde])
  (:import [dlnlab.kernel Arch Blas Engine Objective]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- sample-count ^long [net]
  (let [^doubles x (get-in net [:task :x])]
    (if x (quot (alength x) (.din ^Arch (:arch net))) 0)))

(defn- batch-factor
  "The covariance of a minibatch gradient over Sigma: 1/B with replacement,
  (n - B)/((n - 1) B) without (:epochs)."
  ^double [^long n ^long b sampling]
  (if (and (= sampling :epochs) (> n 1))
    (/ (double (- n (min b n))) (* (double (dec n)) (double b)))
    (/ 1.0 (double b))))

(defn- batch-options
  "The batch size and sampling a noise metric refers to: its options, else the
  run's SGD optimizer, else a batch of one with replacement."
  [net {:keys [batch-size sampling]}]
  (let [opt (get-in net [:experiment :optimizer])]
    {:batch-size (long (or batch-size (:batch-size opt) 1))
     :sampling (or sampling (:sampling opt) :with-replacement)}))

(defn- fold-samples
  "Calls (f i x-offset y-offset g) for every sample i with g its per-sample
  gradient (a reused array)."
  [net f]
  (let [^Arch arch (:arch net)
        din (.din arch) dout (.dout arch)
        ^doubles x (get-in net [:task :x]) ^doubles y (get-in net [:task :y])
        n (sample-count net)
        xb (double-array din) yb (double-array dout)
        ws (engine/workspace net (Objective/batch 1 din dout xb yb))
        g (double-array (.size arch))
        ^doubles p (:params net)]
    (dotimes [i n]
      (System/arraycopy x (* i din) xb 0 din)
      (System/arraycopy y (* i dout) yb 0 dout)
      (Engine/gradient arch (Objective/batch 1 din dout xb yb) p ws g)
      (f i (* i din) (* i dout) g))))

(defn- welford!
  "One Welford update of the running mean (array) with the value v (array, the
  first m entries) as sample number i (0-based); returns the increment of the
  sum of squared deviations."
  ^double [^doubles mean ^doubles v ^long m ^long i]
  (let [w (/ 1.0 (double (inc i)))]
    (loop [j 0 acc 0.0]
      (if (< j m)
        (let [d (- (aget v j) (aget mean j))
              mj (+ (aget mean j) (* w d))]
          (aset mean j mj)
          (recur (inc j) (+ acc (* d (- (aget v j) mj)))))
        acc))))

(defn- welford-each!
  "Welford updates of m scalar running means and sums of squared deviations
  (arrays, entry by entry) with the values v as sample number i."
  [^doubles mean ^doubles m2 ^doubles v m i]
  (let [m (long m) w (/ 1.0 (double (inc (long i))))]
    (dotimes [j m]
      (let [d (- (aget v j) (aget mean j))
            mj (+ (aget mean j) (* w d))]
        (aset mean j mj)
        (aset m2 j (+ (aget m2 j) (* d (- (aget v j) mj))))))))

(defn noise-trace
  "The trace of the covariance of the minibatch gradient at the network's
  parameters: tr(Sigma) times `batch-factor`, Sigma the covariance of the
  per-sample gradients over the training samples (namespace docstring).

  Options: :batch-size and :sampling (default: the run's SGD optimizer's, else
  1 and :with-replacement).
  Returns a double, or nil for a task without samples."
  ([net] (noise-trace net {}))
  ([net opts]
   (let [n (sample-count net)]
     (when (pos? n)
       (let [{:keys [batch-size sampling]} (batch-options net opts)
             p (engine/size net)
             mean (double-array p)
             m2 (double-array 1)]
         (fold-samples net (fn [^long i _ _ ^doubles g]
                             (aset m2 0 (+ (aget m2 0) (welford! mean g p i)))))
         (* (/ (aget m2 0) n) (batch-factor n batch-size sampling)))))))

(defn noise-alignment
  "The share of the minibatch gradient noise in the span of the top-k Hessian
  eigenvectors: tr(P Sigma P) / tr(Sigma), P the projector on the k largest
  (algebraic) eigenvectors of the training-loss Hessian (dlnlab.metrics/
  hessian-top, Lanczos on exact HVPs). 1 when the noise lies in the sharpest
  directions, k/p for noise spread evenly over p parameters. The batch size
  cancels.

  Options: :k (1); :tol (1e-8), :max-iter and :seed (0) of the Lanczos run.
  Returns a double, or nil for a task without samples."
  ([net] (noise-alignment net {}))
  ([net {:keys [k] :or {k 1} :as opts}]
   (let [n (sample-count net)]
     (when (pos? n)
       (let [p (engine/size net)
             vs (vec (:vectors (metrics/hessian-top net (assoc (select-keys opts [:tol :max-iter :seed]) :k k))))
             kk (count vs)
             mean (double-array p) m2 (double-array 1)
             proj (double-array kk) pmean (double-array kk) pm2 (double-array 1)]
         (fold-samples net (fn [^long i _ _ ^doubles g]
                             (dotimes [j kk] (aset proj j (Blas/dot p ^doubles (vs j) 0 g 0)))
                             (aset m2 0 (+ (aget m2 0) (welford! mean g p i)))
                             (aset pm2 0 (+ (aget pm2 0) (welford! pmean proj kk i)))))
         (if (pos? (aget m2 0)) (/ (aget pm2 0) (aget m2 0)) Double/NaN))))))

(defn mode-noise
  "The minibatch noise along each target mode: the variance of u_i^T G v_i,
  G the minibatch gradient of the loss with respect to the end-to-end matrix F
  (per sample (F x - y) x^T) and u_i, v_i the target's singular vectors
  (the task's :target-svd, the teacher's for teacher-student), beside the
  per-mode SDE's prediction (2 e_i^2 + sigma^2)/B with e_i = u_i^T F v_i - s_i
  and sigma the teacher's label noise (doc/science.md §7; it assumes x ~ N(0, I)
  and aligned weights: error off the modes adds to the measured variance).

  Options: :batch-size and :sampling as for `noise-trace`.
  Returns [[measured predicted] per mode] (predicted nil without a teacher), or
  nil for a task without samples or without target modes."
  ([net] (mode-noise net {}))
  ([net opts]
   (let [n (sample-count net)
         {:keys [singular-values u v]} (get-in net [:task :target-svd])]
     (when (and (pos? n) (seq singular-values))
       (let [{:keys [batch-size sampling]} (batch-options net opts)
             ^Arch arch (:arch net)
             din (.din arch) dout (.dout arch)
             r (count singular-values)
             ^doubles f (:f (engine/end-to-end net (:params net)))
             ^doubles x (get-in net [:task :x]) ^doubles y (get-in net [:task :y])
             ;; U (dout x r) and V (din x r) column-major from the row-major nested vectors
             uc (double-array (for [j (range r) row u] (double (nth row j))))
             vc (double-array (for [j (range r) row v] (double (nth row j))))
             res (double-array dout)
             c (double-array r) mean (double-array r) m2 (double-array r)]
         (dotimes [i n]
           ;; res = F x_i - y_i; c_j = (u_j^T res)(v_j^T x_i)
           (System/arraycopy y (* i dout) res 0 dout)
           (Blas/gemm false false dout 1 din 1.0 f 0 dout x (* i din) din -1.0 res 0 dout)
           (dotimes [j r]
             (aset c j (* (Blas/dot dout uc (* j dout) res 0) (Blas/dot din vc (* j din) x (* i din)))))
           (welford-each! mean m2 c r i))
         (let [factor (batch-factor n batch-size sampling)
               sigma (get-in net [:task :teacher-sampling :label-noise])
               modes (metrics/modes net)]
           (mapv (fn [^long j]
                   [(* factor (/ (aget m2 j) n))
                    (when sigma
                      (let [e (- (double (nth modes j)) (double (nth singular-values j)))]
                        ;; sgd-noise-variance is (2 e^2 + sigma^2)/B; scale 1/B to this sampling's factor
                        (* (theory-sde/sgd-noise-variance {:e e :label-noise sigma :batch-size 1}) factor)))])
                 (range r))))))))

;; ---------------------------------------------------------------- the metrics

(def ^:private batch-keys
  [[:batch-size {:spec ::spec/pos-int :default-doc "the SGD optimizer's, else 1" :doc "B of the minibatch the noise refers to"}]
   [:sampling {:spec ::spec/sampling :default-doc "the SGD optimizer's, else :with-replacement"
               :doc ":with-replacement or :one-pass (covariance Sigma/B), :epochs (Sigma/B (n - B)/(n - 1))"}]])

(defn- options [ctx] (dissoc (:options ctx) :every))

(defmethod kind/schema [:metric :noise-trace] [_ _]
  {:doc "Trace of the covariance of the minibatch gradient at the current point, exact over the training samples (one gradient per sample); nil without samples."
   :keys batch-keys :cost :costly :shape "double or nil"})

(defmethod metrics/measure :noise-trace [_ net ctx] (noise-trace net (options ctx)))

(defmethod kind/schema [:metric :noise-alignment] [_ _]
  {:doc "Share of the minibatch gradient noise in the span of the top-k Hessian eigenvectors, tr(P Sigma P)/tr(Sigma); nil without samples."
   :keys (into [[:k {:spec ::spec/pos-int :default 1 :doc "how many top Hessian eigenvectors span the subspace"}]]
               metrics/lanczos-options)
   :cost :costly :shape "double or nil"})

(defmethod metrics/measure :noise-alignment [_ net ctx] (noise-alignment net (options ctx)))

(defmethod kind/schema [:metric :mode-noise] [_ _]
  {:doc "Per target mode: the variance of the minibatch gradient along u_i v_i^T, and the per-mode SDE's (2 e^2 + sigma^2)/B at the current error e (nil without a teacher); nil without samples."
   :keys batch-keys :cost :costly :shape "[[measured predicted] per mode] or nil"})

(defmethod metrics/measure :mode-noise [_ net ctx] (mode-noise net (options ctx)))
