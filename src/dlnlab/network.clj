(ns dlnlab.network
  "Network values: build one from an experiment map, read and set its weights,
  and compute its loss, gradient, exact Hessian-vector products and Hessian
  spectrum (doc/science.md §1–§3). dlnlab.core re-exports these functions.

  Weights form (what `weights` returns and `{:init {:kind :given :weights w}}`
  accepts): for :chain and :multi-pathway a vector of pathways (one for a chain),
  each a vector of layer matrices W_1 ... W_L as row-major nested vectors (W_l has
  d_l rows and d_{l-1} columns); for :residual {:in W_in :blocks [W_1 ...] :out W_out}.
  Weights are the raw trainable parameters; parameterization multipliers act on top."
  (:require [dlnlab.error :as error]
            [dlnlab.engine :as engine]
            [dlnlab.hessian :as hessian]
            [dlnlab.model :as model]
            [dlnlab.model.packing :as packing]
            [dlnlab.optim :as optim]
            [dlnlab.spec :as spec]
            [dlnlab.task :as task])
  (:import [dlnlab.kernel Arch Objective]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn network
  "A network value from an experiment's :model, :task and :seed (other keys, such
  as :optimizer, are validated but ignored here).

  Returns a map {:experiment <normalized, defaults filled> :arch :params
  :objective :test-objective :task <plain facts: :dims :target-svd ...>
  :layout :lr-multiplier}. Treat it as a value: nothing mutates its arrays.
  The map carries {:type :dlnlab/network} metadata, so the REPL prints it as a
  short summary (see `summary`) instead of its arrays and Java objects.
  Throws ex-info naming the key path, the value and what is allowed when the
  experiment is invalid, or is not a network experiment (e.g. :kind :sde)."
  [experiment]
  (let [exp (spec/normalize experiment)
        _ (when (not= :network (:kind exp :network))
            (error/fail! :invalid-experiment
                         (str "[:kind] is " (pr-str (:kind exp)) ": an experiment of this kind has no network."
                              " A network needs a network experiment (leave :kind out, or :network) with :model and"
                              " :task; run a " (pr-str (:kind exp)) " experiment with dlnlab.core/run.")
                         {:path [:kind] :value (:kind exp) :allowed #{:network}}))
        t (task/build-task (:task exp) (optim/role-seed exp :data))
        m (model/build-model (:model exp) (:dims t) (optim/role-seed exp :init) (:target-svd t))]
    (with-meta {:experiment exp
                :arch (:arch m)
                :params (:params m)
                :layout (:layout m)
                :lr-multiplier (:lr-multiplier m)
                :objective (:objective t)
                :test-objective (:test-objective t)
                :task (dissoc t :objective :test-objective)}
      {:type :dlnlab/network})))

(defn summary
  "What a network is, in a few plain-data facts: {:kind (the model kind)
  :widths [d_0 d_1 ... d_L] (of the first pathway) :pathways K :parameters n
  :loss (the training loss at its weights)}. This is how a network prints."
  [net]
  (let [layout (:layout net)
        path (first layout)]
    (array-map :kind (get-in net [:experiment :model :kind])
               :widths (into [(:cols (first path))] (map :rows) path)
               :pathways (count layout)
               :parameters (packing/layout-size layout)
               :loss (engine/loss net))))

(defmethod print-method :dlnlab/network [net ^java.io.Writer w]
  (.write w "#dlnlab/network ")
  (print-method (summary net) w))

(defn weights
  "The network's weights in the weights form (see the namespace docstring)."
  [net]
  (packing/packed->weights (:layout net) (:params net)))

(defn set-weights
  "A new network equal to net but with weights w (weights form).
  Throws ex-info naming the pathway, layer and expected shape on a mismatch."
  [net w]
  (assoc net :params (packing/weights->packed (:layout net) w)))

(defn packed->weights
  "Converts a packed double array in the network's layout to the weights form."
  [net ^doubles packed]
  (packing/packed->weights (:layout net) packed))

(defn weights->packed
  "Converts weights-form data to a packed double array in the network's layout."
  ^doubles [net w]
  (packing/weights->packed (:layout net) w))

(defn loss
  "Training loss of the network (doc/science.md §2), a double."
  ^double [net]
  (engine/loss net))

(defn test-loss
  "Held-out loss of a teacher-student network, or nil when the task has no test set."
  [net]
  (when-let [o (:test-objective net)]
    (engine/loss net (:params net) o)))

(defn gradient
  "Gradient of the training loss with respect to the raw weights, in the weights form."
  [net]
  (packed->weights net (engine/gradient net)))

(defn hvp
  "Exact Hessian-vector product H v (doc/science.md §3) with v and the result in the
  weights form. Throws ex-info when v does not have the network's shapes."
  [net v]
  (packed->weights net (engine/hvp net (weights->packed net v))))

(defn- hessian-operator [net]
  (let [n (engine/size net)
        f (engine/prepared-hvp net (:params net))]
    (hessian/operator n f)))

(defn hessian-eigenvalues
  "Extreme eigenvalues of the Hessian of the training loss by Lanczos with full
  reorthogonalization on exact HVPs.

  Options: :k (1) how many, :which (:largest algebraic, :smallest or :magnitude),
  :tol (1e-8, relative residual), :max-iter (Krylov dimension cap), :start
  (weights-form start vector), :seed (0) for the random start.
  Returns {:values [...] :residuals [...] :hvp-count n :converged? b}, values
  sorted largest first. A saddle's negative eigenvalue is never reported as the
  top one under :largest."
  ([net] (hessian-eigenvalues net {}))
  ([net opts]
   (let [opts (cond-> opts
                (:start opts) (update :start #(weights->packed net %)))]
     (-> (hessian/eigenvalues (hessian-operator net) opts)
         (dissoc :vectors)))))

(defn hessian-trace
  "Hutchinson estimate of the Hessian's trace from Rademacher probes.
  Options: :probes (100), :seed (0). Returns {:estimate :std-error :probes :hvp-count}."
  ([net] (hessian-trace net {}))
  ([net opts] (hessian/trace (hessian-operator net) opts)))

(defn hessian
  "The dense Hessian as nested vectors, rows and columns in the packed layout order
  (doc/design.md), built from one exact HVP per column; for verification on small
  networks. Options: :max-size (4000) parameters; larger networks throw ex-info."
  ([net] (hessian net {}))
  ([net opts] (hessian/dense-matrix (hessian-operator net) opts)))

(defn- col-major->rows [^doubles a ^long rows ^long cols]
  (mapv (fn [^long i] (mapv (fn [^long j] (aget a (+ i (* j rows)))) (range cols))) (range rows)))

(defn end-to-end
  "The end-to-end matrix F = sum_k P_k (doc/science.md §1) as row-major nested vectors."
  [net]
  (let [^Arch arch (:arch net)]
    (col-major->rows (:f (engine/end-to-end net (:params net))) (.dout arch) (.din arch))))

(defn pathway-products
  "The product matrix P_k of each pathway, a vector of row-major nested vectors."
  [net]
  (let [^Arch arch (:arch net)]
    (mapv #(col-major->rows % (.dout arch) (.din arch))
          (:pathways (engine/end-to-end net (:params net))))))
