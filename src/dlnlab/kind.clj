(ns dlnlab.kind
  "The extension points of dlnlab: one multimethod per per-kind fact, so a kind
  (an optimizer, a model, a task, an init, an experiment) lives in one section of
  the namespace that implements it.

    (schema node kind)            the keys of one kind of a node, for validation
                                  and `dlnlab.spec/describe`; (schema node nil)
                                  describes the node itself
    (stability-threshold opt lr)  the sharpness above which optimizer opt is
                                  linearly unstable at effective lr; nil where
                                  there is none
    (time-scale opt lr)           the training time one step of opt advances at
                                  effective lr; nil when the run is indexed by time
    (run-kind experiment opts)    runs a normalized experiment of that :kind

  dlnlab.kinds loads every built-in kind, so requiring it registers them all.")

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defmulti schema
  "The schema of kind of node (a keyword such as :optimizer, :model, :init,
  :task, :teacher, :experiment), or of node itself when kind is nil.

  A node's own entry (kind nil) is {:doc text} plus, for a plain node, :keys
  and optionally :check; for a node whose keys depend on :kind, :dispatch :kind
  (with :common keys, :ctx, :infer and :kind-order, the order `describe` lists
  the kinds in). A kind's entry is {:doc :keys (:check) (:ctx)}; an experiment
  kind's entry is a whole root node, with :id (the node name `describe` lists it
  under) and optionally :pre-check (fn [experiment]) run before the walk.

  A key entry is [key {:doc text, :spec leaf-spec or :node child-node,
  :required true, :default v or :default-doc text and :default-fn}].
  Read the assembled table with dlnlab.spec/schema."
  (fn [node kind] [node kind]))

(defmulti stability-threshold
  "The sharpness (top Hessian eigenvalue) above which optimizer opt (a
  normalized optimizer map) is linearly unstable at effective learning rate lr;
  nil where there is none (the default)."
  (fn [opt _lr] (:kind opt)))

(defmethod stability-threshold :default [_ _] nil)

(defmulti time-scale
  "The training time one step of optimizer opt advances at effective learning
  rate lr; nil (the default) when the run is indexed by time instead of steps."
  (fn [opt _lr] (:kind opt)))

(defmethod time-scale :default [_ _] nil)

(defmulti run-kind
  "Runs a normalized experiment of its :kind (:network or :sde, ...) and
  returns a result map {:experiment :status :stop-reason :trajectory :final
  :facts (:analysis)}; opts as dlnlab.experiment/run's."
  (fn [experiment _opts] (:kind experiment :network)))
