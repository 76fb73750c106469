(ns dlnlab.metrics
  "Metrics of a network map: one documented function per metric, usable on its
  own, plus the `measure` multimethod the run loop calls and `catalog`, the
  plain-data list of every metric with its options and defaults.

  A network map has :arch :params :objective and optionally :test-objective and
  :task (doc/design.md). Every value is plain data: a double, a vector of doubles
  or nested vectors of doubles, or nil where a metric does not apply. The
  arithmetic runs in the Java kernels (Blas gemm, svd, nrm2) on the packed
  parameters; only :sharpness and :hessian-top-k are costly (Lanczos on exact
  Hessian-vector products, doc/science.md §3, §5).

  Target modes (:modes, :pathway-shares) come from (:target-svd (:task net)),
  {:singular-values [s_1 ...] :u U :v V} with U (dout x r) and V (din x r)
  row-major nested vectors whose columns are the singular vectors u_i, v_i
  (dlnlab.task): the target M of matrix factorization, the teacher of
  teacher-student data, the least-squares solution F* of a dataset. When the
  network has no :target-svd, the SVD of the objective's F* (the target M for
  factorization) is used; when there is none (a minibatch objective) the mode
  metrics are nil."
  (:require [clojure.spec.alpha :as s]
            [dlnlab.engine :as engine]
            [dlnlab.error :as error]
            [dlnlab.hessian :as hessian]
            [dlnlab.kind :as kind]
            [dlnlab.optim :as optim]
            [dlnlab.spec :as spec])
  (:import [dlnlab.kernel Arch Blas Objective]
           [java.util Collections Map WeakHashMap]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------- helpers

(defn- arch ^Arch [net] (:arch net))

(defn- finite-array? [^doubles a]
  (loop [i 0]
    (cond (== i (alength a)) true
          (Double/isFinite (aget a i)) (recur (inc i))
          :else false)))

(defn- nan-vector [^long n] (vec (repeat n Double/NaN)))

(defn- factor-ranges
  "For each pathway, the vector of its factor indices."
  [^Arch a]
  (let [^ints ps (.pathStart a)]
    (mapv (fn [^long k] (vec (range (aget ps k) (aget ps (inc k))))) (range (.pathways a)))))

(defn- check-form
  "Option :of of metric is a factor form (dlnlab.spec's leaf spec), for callers
  of the metric functions at the REPL; a run's options are validated by the
  metric's schema before it starts."
  [metric form]
  (error/check! (s/valid? ::spec/factor-form form) :invalid-option
                (str "Option :of of metric " metric " is " (error/show form)
                     "; allowed are " (spec/allowed-text ::spec/factor-form) ".")
                {:path [metric :of] :value form :allowed (spec/allowed-text ::spec/factor-form)}))

(defn- factor-matrix
  "Factor j of the network as a fresh column-major array rows[j] x cols[j], in
  the given form: :raw W_j, :scaled alpha_j W_j, :effective alpha_j W_j + I when
  identity-flagged (doc/design.md)."
  ^doubles [net ^long j form]
  (let [a (arch net)
        ^doubles p (:params net)
        off (aget ^ints (.offset a) j)
        n (.factorSize a j)
        out (java.util.Arrays/copyOfRange p off (+ off n))]
    (when-not (= form :raw)
      (Blas/scal n (aget ^doubles (.alpha a) j) out 0))
    (when (and (= form :effective) (aget ^booleans (.identity a) j))
      (let [d (aget ^ints (.rows a) j)]
        (dotimes [i d]
          (let [ii (+ i (* i d))] (aset out ii (+ 1.0 (aget out ii)))))))
    out))

(defn- singular-values-of
  "Singular values (descending) of the m x n column-major matrix a (destroyed),
  as a vector; NaNs when a has a non-finite entry."
  [^long m ^long n ^doubles a]
  (let [r (min m n)]
    (if (finite-array? a)
      (let [s (double-array r)] (Blas/svd m n a s nil nil) (vec s))
      (nan-vector r))))

;; ---------------------------------------------------------------- target modes

(def ^:private basis-cache
  "Target bases converted to column-major arrays, keyed weakly by the
  :target-svd map or Objective they came from, so repeated mode metrics on one
  run convert once."
  (Collections/synchronizedMap (WeakHashMap.)))

(defn- svd-basis
  "{:r :s double[] :u double[] (dout x r, col-major) :vt double[] (r x din, col-major)}
  from a :target-svd map; throws ex-info when its shapes do not match the network."
  [{:keys [singular-values u v] :as tsvd} ^long dout ^long din]
  (let [r (count singular-values)]
    (when-not (and (= dout (count u)) (every? #(= r (count %)) u)
                   (= din (count v)) (every? #(= r (count %)) v))
      (error/fail! :invalid-argument
                   (str "The task's :target-svd has " r " singular values, U with " (count u)
                        " rows and V with " (count v) " rows; the network maps " din " -> " dout
                        " so U must be " dout " x " r " and V " din " x " r ".")
                   {:path [:task :target-svd] :value (select-keys tsvd [:singular-values])
                    :allowed {:u [dout r] :v [din r]}}))
    {:r r
     :s (double-array singular-values)
     ;; U column-major = the row-major nested vectors read column by column
     :u (double-array (for [j (range r) row u] (double (nth row j))))
     ;; V^T column-major (r x din) is V row-major flattened
     :vt (double-array (sequence cat v))}))

(defn- objective-basis [^Objective obj]
  (when-let [^doubles fstar (.fstar obj)]
    (let [m (.dout obj) n (.din obj) r (min m n)
          s (double-array r) u (double-array (* m r)) vt (double-array (* r n))]
      (when (finite-array? fstar)
        (Blas/svd m n (aclone fstar) s u vt)
        {:r r :s s :u u :vt vt}))))

(defn target-basis
  "The target modes of the network (see the namespace docstring) as arrays, or nil:
  {:r (number of modes) :s double[r] :u double[dout x r] :vt double[r x din]},
  column-major; for the metric namespaces under dlnlab.metrics, not for results."
  [net]
  (let [a (arch net)
        tsvd (get-in net [:task :target-svd])
        key (or tsvd (:objective net))]
    (when key
      (or (.get ^Map basis-cache key)
          (when-let [b (if tsvd
                         (svd-basis tsvd (.dout a) (.din a))
                         (objective-basis (:objective net)))]
            (.put ^Map basis-cache key b)
            b)))))

(defn target-singular-values
  "The target singular values s_1 >= s_2 >= ... the mode metrics refer to (see the
  namespace docstring), a vector of doubles, or nil when the network has no target."
  [net]
  (some-> (target-basis net) :s vec))

(defn- mode-coefficients
  "u_i^T A v_i for each target mode i, A a dout x din column-major matrix."
  [{:keys [^long r ^doubles u ^doubles vt]} ^long dout ^long din ^doubles a]
  (let [t (double-array (* dout (max r 1)))]
    ;; T = A V  (dout x r)
    (Blas/gemm false true dout r din 1.0 a 0 dout vt 0 r 0.0 t 0 dout)
    (mapv (fn [^long i] (Blas/dot dout u (* i dout) t (* i dout))) (range r))))

;; ---------------------------------------------------------------- cheap metrics

(defn loss
  "Training loss of the network (doc/science.md §2), a double."
  ^double [net]
  (engine/loss net))

(defn test-loss
  "Held-out loss on the network's :test-objective (teacher-student tasks), a
  double, or nil when the network has no test set."
  [net]
  (when-let [o (:test-objective net)]
    (engine/loss net (:params net) o)))

(defn grad-norm
  "Euclidean norm of the gradient of the training loss with respect to all raw
  weights (packed layout), a double."
  ^double [net]
  (let [g (engine/gradient net)] (Blas/nrm2 (alength g) g 0)))

(defn stability-threshold
  "The sharpness above which optimizer opt (a normalized optimizer map, e.g.
  {:kind :gd :lr 0.1}) is linearly unstable on net: dlnlab.kind/stability-threshold
  at the effective learning rate, lr times the network's :lr-multiplier
  (2/lr_eff for GD, doc/science.md §2, §6). Returns a double, or nil where there is
  none (gradient flow)."
  [net opt]
  (when (:lr opt)
    (kind/stability-threshold opt (optim/effective-lr net opt))))

(defn modes
  "Strength of the end-to-end matrix F along each target mode, u_i^T F v_i
  (doc/science.md §4; pi_i for aligned weights), one double per target singular
  value in the target's order. Returns nil when the network has no target."
  [net]
  (when-let [b (target-basis net)]
    (let [a (arch net) dout (.dout a) din (.din a)
          ^doubles f (:f (engine/end-to-end net (:params net)))]
      (if (finite-array? f)
        (mode-coefficients b dout din f)
        (nan-vector (:r b))))))

(defn pathway-shares
  "Share of each pathway in each target mode: c_ik / sum_k c_ik with
  c_ik = u_i^T P_k v_i and P_k the product of pathway k (doc/science.md §1, §5 [MP]).
  Shares of a mode add up to 1; they can be negative or above 1 when pathways
  oppose each other.

  Options: :cancellation-tol (1e-6): a mode whose contributions cancel,
  |sum_k c_ik| <= tol * sum_k |c_ik| (this includes all c_ik = 0, e.g. at the
  origin), has no defined shares and gets nil instead of a vector.
  Returns [[share per pathway] per mode] (a mode entry may be nil), or nil when
  the network has no target."
  ([net] (pathway-shares net {}))
  ([net {:keys [cancellation-tol] :or {cancellation-tol 1e-6}}]
   (when-let [b (target-basis net)]
     (let [a (arch net) dout (.dout a) din (.din a)
           tol (double cancellation-tol)
           per-path (mapv #(mode-coefficients b dout din %)
                          (:pathways (engine/end-to-end net (:params net))))]
       (mapv (fn [^long i]
               (let [c (mapv #(nth % i) per-path)
                     total (double (reduce + 0.0 c))
                     scale (double (reduce + 0.0 (map #(Math/abs (double %)) c)))]
                 (when (and (Double/isFinite total) (Double/isFinite scale)
                            (> (Math/abs total) (* tol scale)))
                   (mapv #(/ (double %) total) c))))
             (range (:r b)))))))

(defn balance-gap
  "Balance gap ||G_{l+1}^T G_{l+1} - G_l G_l^T||_F for each adjacent pair of
  factors l, l+1 in each pathway (doc/science.md §4, §6): zero for balanced weights,
  conserved by gradient flow.

  Options: :of (:scaled) which matrices G are: :scaled alpha W (the effective
  factor without its identity: for an identity-flagged residual block
  I + alpha W the gap uses the branch alpha W, since the identity is not a
  trained quantity and would add 2 alpha sym(W) terms that are not a balance),
  :raw the raw weights W, :effective alpha W + I for identity-flagged factors.
  For chains and multi-pathway networks :scaled is the effective factor.
  Returns [[gap per adjacent pair] per pathway]; a pathway of one factor has []."
  ([net] (balance-gap net {}))
  ([net {:keys [of] :or {of :scaled}}]
   (check-form :balance-gap of)
   (let [a (arch net) ^ints rows (.rows a) ^ints cols (.cols a)]
     (mapv (fn [js]
             (mapv (fn [^long j]
                     ;; pair (G_j, G_{j+1}); both products are d x d with d = rows[j] = cols[j+1]
                     (let [j1 (inc j)
                           d (aget rows j)
                           gl (factor-matrix net j of)
                           gu (factor-matrix net j1 of)
                           c (double-array (* d d))]
                       (Blas/gemm true false d d (aget rows j1) 1.0 gu 0 (aget rows j1) gu 0 (aget rows j1)
                                  0.0 c 0 d)
                       (Blas/gemm false true d d (aget cols j) -1.0 gl 0 d gl 0 d 1.0 c 0 d)
                       (Blas/nrm2 (* d d) c 0)))
                   (butlast js)))
           (factor-ranges a)))))

(defn layer-singular-values
  "Singular values of every factor, descending.

  Options: :of (:effective) which matrix: :effective the factor the network
  multiplies, alpha W (+ I for identity-flagged residual blocks); :scaled alpha W;
  :raw W.
  Returns [[[s ...] per layer] per pathway]; a layer of d_l x d_{l-1} has
  min(d_l, d_{l-1}) values (NaNs when the weights are not finite)."
  ([net] (layer-singular-values net {}))
  ([net {:keys [of] :or {of :effective}}]
   (check-form :layer-singular-values of)
   (let [a (arch net) ^ints rows (.rows a) ^ints cols (.cols a)]
     (mapv (fn [js]
             (mapv (fn [^long j] (singular-values-of (aget rows j) (aget cols j) (factor-matrix net j of)))
                   js))
           (factor-ranges a)))))

(defn end-to-end-singular-values
  "Singular values of the end-to-end matrix F (doc/science.md §1), descending: a
  vector of min(dout, din) doubles (NaNs when F is not finite)."
  [net]
  (let [a (arch net)]
    (singular-values-of (.dout a) (.din a) (:f (engine/end-to-end net (:params net))))))

(defn weight-norms
  "Frobenius norm of every layer's weights.

  Options: :of (:raw) which matrix: :raw the trainable weights W (doc/science.md §1);
  :scaled alpha W; :effective alpha W (+ I for identity-flagged residual blocks).
  Returns [[norm per layer] per pathway]."
  ([net] (weight-norms net {}))
  ([net {:keys [of] :or {of :raw}}]
   (check-form :weight-norms of)
   (let [a (arch net) ^doubles p (:params net) ^ints offs (.offset a)]
     (mapv (fn [js]
             (mapv (fn [^long j]
                     (if (= of :raw)
                       (Blas/nrm2 (.factorSize a j) p (aget offs j))
                       (let [^doubles g (factor-matrix net j of)] (Blas/nrm2 (alength g) g 0))))
                   js))
           (factor-ranges a)))))

;; ---------------------------------------------------------------- Hessian spectrum

(defn hessian-top
  "The k largest algebraic eigenvalues of the Hessian of the training loss and
  their Ritz vectors, by Lanczos (dlnlab.hessian) on exact Hessian-vector
  products (doc/science.md §3). At a saddle the largest algebraic eigenvalue is
  reported, never the most negative one.

  Options: :k (1); :tol (1e-8, relative residual); :max-iter (dlnlab.hessian's
  default); :seed (0) for the random start; :warm (nil) packed double arrays to
  start from (e.g. the :vectors of a previous call at a nearby point).
  Returns dlnlab.hessian's map {:values [descending] :residuals [...] :hvp-count n
  :converged? b :vectors [double[] ...]}; the vectors are arrays in the packed
  layout, for warm starts, not for results."
  [net {:keys [k tol max-iter seed warm] :or {k 1 tol 1e-8 seed 0}}]
  (let [n (engine/size net)
        op (hessian/operator n (engine/prepared-hvp net (:params net)))]
    (hessian/eigenvalues op (cond-> {:k (min (long k) n) :which :largest :tol tol :seed seed :vectors? true}
                              max-iter (assoc :max-iter max-iter)
                              (seq warm) (assoc :warm (vec warm))))))

(def ^:private tracked-vectors
  "Eigenpairs a warm-started sharpness converges and keeps for the next call
  (see dlnlab.hessian/tracked-top): an eigenvalue rising through these ranks is
  followed and reported when it overtakes the tracked one."
  3)

(defn- warm-top
  "The top k Hessian eigenvalues warm-started from and saving into (:state opts),
  a volatile map, under slot; returns the values vector (NaNs when the weights
  are not finite). k = 1 (the sharpness) with a state goes through
  dlnlab.hessian/tracked-top, which converges the top three pairs without the
  multiplicity probes, warm-started from the previous three with the top
  predicted from the last four tops and the gradient in the span (an
  eigenvalue overtaking the tracked one is noticed); k >= 2 is `hessian-top`, Lanczos with
  the probes, warm-started from the previous vectors."
  [net slot opts]
  (let [k (long (:k opts 1))]
    (if-not (finite-array? (:params net))
      (nan-vector k)
      (let [state (:state opts)
            n (engine/size net)
            ;; vectors of another network (a reused state) cannot start this one
            of-n #(seq (filter (fn [^doubles v] (== n (alength v))) %))
            {:keys [vectors history]} (when state (get-in @state [::lanczos slot]))
            warm (of-n vectors)
            history (when warm (of-n history))
            r (if (and state (== k 1))
                (hessian/tracked-top (hessian/operator n (engine/prepared-hvp net (:params net)))
                                     (cond-> {:keep tracked-vectors :tol (:tol opts 1e-8) :seed (:seed opts 0) :stop :value
                                                              :check-multiplicity? true}
                                       (:max-iter opts) (assoc :max-iter (max (long (:max-iter opts)) (min n (long tracked-vectors))))
                                       warm (assoc :warm (vec warm) :history (vec history)
                                                   :directions [(engine/gradient net (:params net))])))
                (hessian-top net (assoc opts :warm warm :k k)))
            r (update r :values #(vec (take k %)))]
        (when state
          (vswap! state #(-> %
                             (assoc-in [::lanczos slot]
                                       {:vectors (:vectors r) :hvp-count (:hvp-count r) :converged? (:converged? r)
                                        ;; the top vectors of the calls before, to predict the next top
                                        :history (when (and warm (== k 1)) (vec (take 3 (cons (first warm) history))))})
                             (update-in [::eigensolves slot :calls] (fnil inc 0))
                             (update-in [::eigensolves slot :unconverged] (fnil + 0) (if (:converged? r) 0 1)))))
        (vec (:values r))))))

(defn eigensolve-counts
  "How the warm-started eigensolves recorded in a metric state went: {metric
  {:calls n :unconverged m}} (m of the n Lanczos runs missed their tolerance
  within the Krylov dimension cap; their values are the best Ritz values found),
  or nil when none ran."
  [state]
  (not-empty (get @state ::eigensolves)))

(defn sharpness
  "Sharpness: the largest (algebraic) eigenvalue of the Hessian of the training
  loss, by Lanczos on exact Hessian-vector products (doc/science.md §5; the edge of
  stability is sharpness ~ 2/lr). At a saddle the top eigenvalue (possibly 0 or
  positive) is returned, not the most negative one.

  Options: :tol (1e-8, relative residual; 1e-4 is plenty to place the value on a
  plot); :max-iter; :seed (0); :state (nil) a volatile! map: when given, the top
  three eigenvectors kept there by the previous call start this one and the new
  ones are stored (key :dlnlab.metrics/lanczos; dlnlab.hessian/tracked-top), so a
  call at a nearby point needs no multiplicity probes, and an eigenvalue
  overtaking the tracked one is noticed once it rises into the kept three.
  Returns a double (NaN when the weights are not finite)."
  (^double [net] (sharpness net {}))
  (^double [net opts]
   (double (first (warm-top net :sharpness (assoc opts :k 1))))))

(defn hessian-top-k
  "The k largest (algebraic) Hessian eigenvalues, descending, by Lanczos on exact
  Hessian-vector products.

  Options: :k (5); :tol (1e-8); :max-iter; :seed (0); :state (nil) a volatile! map
  for warm starts, as in `sharpness`.
  Returns a vector of min(k, number of parameters) doubles."
  ([net] (hessian-top-k net {}))
  ([net opts]
   (warm-top net :hessian-top-k (merge {:k 5} opts))))

;; ---------------------------------------------------------------- the metric kinds
;; Each metric is a kind of the :metric node: its schema (the options it takes,
;; validated by dlnlab.spec when an experiment names it under :record, plus its
;; :cost and :shape for the catalog) sits beside its `measure` method.

(defmulti measure
  "The value of metric on the network net (doc/design.md, Experiments): ctx is
  {:lr <effective lr or nil> :stability-threshold <the optimizer's, or nil> :step n :time t :options <the metric's map from
  :record, validated and with its defaults filled by dlnlab.spec; may be nil> :state <a volatile! map owned by the run>}.
  Returns plain data (see `catalog` for each shape). Throws ex-info for an unknown metric."
  (fn [metric _net _ctx] metric))

(defn- metric-options
  "The metric's options from ctx, without the cadence key."
  [ctx]
  (dissoc (:options ctx) :every))

(defmethod measure :default [metric _net _ctx]
  (let [names (spec/metric-names)]
    (error/fail! :invalid-option (str "Unknown metric " (error/show metric) "; allowed are " (spec/key-list names) ".")
                 {:path [:record :metrics] :value metric :allowed (set names)})))

(defmethod kind/schema [:metric nil] [_ _]
  {:doc "The options of one recorded metric, given as [:record <metric>] (e.g. :sharpness {:every 50 :tol 1e-4})."
   :dispatch :kind
   :describe false
   :common [[:every {:spec ::spec/pos-int :doc "Record this metric every this many steps instead of [:record :every]."}]]
   :kind-order [:loss :test-loss :grad-norm :sharpness :hessian-top-k :stability-threshold :modes
                :pathway-shares :balance-gap :layer-singular-values :end-to-end-singular-values :weight-norms]})

(def lanczos-options
  "The option entries of a metric computed by Lanczos (for the metric schemas of
  the namespaces under dlnlab.metrics as well)."
  [[:tol {:spec ::spec/positive :default 1e-8 :doc "relative residual of the Ritz pair"}]
   [:max-iter {:spec ::spec/pos-int :default-doc "dlnlab.hessian's" :doc "Krylov dimension cap (dlnlab.hessian's default)"}]
   [:seed {:spec ::spec/seed :default 0 :doc "seed of the random start vector"}]])

(defn- form-option [default doc]
  [[:of {:spec ::spec/factor-form :default default :doc doc}]])

(defmethod kind/schema [:metric :loss] [_ _]
  {:doc "Training loss (doc/science.md §2)." :cost :cheap :shape "double"})
(defmethod measure :loss [_ net _] (loss net))

(defmethod kind/schema [:metric :test-loss] [_ _]
  {:doc "Held-out loss of a teacher-student task; nil without a test set." :cost :cheap :shape "double or nil"})
(defmethod measure :test-loss [_ net _] (test-loss net))

(defmethod kind/schema [:metric :grad-norm] [_ _]
  {:doc "Euclidean norm of the gradient over all raw weights." :cost :cheap :shape "double"})
(defmethod measure :grad-norm [_ net _] (grad-norm net))

(defmethod kind/schema [:metric :sharpness] [_ _]
  {:doc "Largest algebraic Hessian eigenvalue, by Lanczos on exact HVPs, warm-started from the previous record."
   :keys (assoc-in lanczos-options [0 1 :doc]
                   "relative accuracy: of the top Ritz pair's residual on the first record, of the value itself (Kato-Temple bound) on later ones")
   :cost :costly :shape "double"})
(defmethod measure :sharpness [_ net ctx]
  (sharpness net (assoc (metric-options ctx) :state (:state ctx))))

(defmethod kind/schema [:metric :hessian-top-k] [_ _]
  {:doc "The k largest algebraic Hessian eigenvalues, descending, by warm-started Lanczos."
   :keys (into [[:k {:spec ::spec/pos-int :default 5 :doc "how many eigenvalues"}]] lanczos-options)
   :cost :costly :shape "[eigenvalue ...] (k values, descending)"})
(defmethod measure :hessian-top-k [_ net ctx]
  (hessian-top-k net (assoc (metric-options ctx) :state (:state ctx))))

(defmethod kind/schema [:metric :stability-threshold] [_ _]
  {:doc "The optimizer's stability threshold (dlnlab.kind/stability-threshold: 2 / effective learning rate for GD); nil for gradient flow."
   :cost :cheap :shape "double or nil"})
(defmethod measure :stability-threshold [_ _net ctx] (:stability-threshold ctx))

(defmethod kind/schema [:metric :modes] [_ _]
  {:doc "Strength u_i^T F v_i of the end-to-end matrix along each target mode." :cost :cheap :shape "[strength per mode]"})
(defmethod measure :modes [_ net _] (modes net))

(defmethod kind/schema [:metric :pathway-shares] [_ _]
  {:doc "Per mode i and pathway k: u_i^T P_k v_i over its sum across pathways; nil for a mode whose contributions cancel."
   :keys [[:cancellation-tol {:spec ::spec/non-negative :default 1e-6 :doc "nil when |sum_k c_ik| <= tol * sum_k |c_ik|"}]]
   :cost :cheap :shape "[[share per pathway] per mode]"})
(defmethod measure :pathway-shares [_ net ctx] (pathway-shares net (metric-options ctx)))

(defmethod kind/schema [:metric :balance-gap] [_ _]
  {:doc "||G_{l+1}^T G_{l+1} - G_l G_l^T||_F per adjacent layer pair, per pathway."
   :keys (form-option :scaled ":scaled alpha W (identity of residual blocks left out), :raw W, :effective alpha W + I")
   :cost :cheap :shape "[[gap per adjacent pair] per pathway]"})
(defmethod measure :balance-gap [_ net ctx] (balance-gap net (metric-options ctx)))

(defmethod kind/schema [:metric :layer-singular-values] [_ _]
  {:doc "Singular values of every layer, descending."
   :keys (form-option :effective ":effective alpha W (+ I for residual blocks), :scaled alpha W, :raw W")
   :cost :cheap :shape "[[[s ...] per layer] per pathway]"})
(defmethod measure :layer-singular-values [_ net ctx] (layer-singular-values net (metric-options ctx)))

(defmethod kind/schema [:metric :end-to-end-singular-values] [_ _]
  {:doc "Singular values of the end-to-end matrix F, descending." :cost :cheap :shape "[s ...]"})
(defmethod measure :end-to-end-singular-values [_ net _] (end-to-end-singular-values net))

(defmethod kind/schema [:metric :weight-norms] [_ _]
  {:doc "Frobenius norm of every layer."
   :keys (form-option :raw ":raw W, :scaled alpha W, :effective alpha W (+ I for residual blocks)")
   :cost :cheap :shape "[[norm per layer] per pathway]"})
(defmethod measure :weight-norms [_ net ctx] (weight-norms net (metric-options ctx)))

;; ---------------------------------------------------------------- catalog

(defn catalog
  "Every metric the run loop can record, read from the registered
  dlnlab.kind/schema [:metric m] methods in `dlnlab.spec/metric-names` order:
  an array-map {metric {:description :options {option {:default :doc :allowed}}
  :every :cost :shape}}. :every nil means the metric is recorded on the record's
  own cadence unless `:record {metric {:every n}}` says otherwise; :cost :costly
  marks the metrics worth a slower cadence. An option whose default is decided
  elsewhere (:max-iter) has :default nil."
  []
  (apply array-map
         (mapcat (fn [m]
                   (let [{:keys [doc keys cost shape]} (kind/schema :metric m)]
                     [m {:description doc
                         :options (into (array-map)
                                        (for [[o e] keys]
                                          [o {:default (:default e) :doc (:doc e) :allowed (spec/allowed-text (:spec e))}]))
                         :every nil :cost cost :shape shape}]))
                 (spec/metric-names))))
