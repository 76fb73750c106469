(ns dlnlab.engine
  "Loss, gradient and exact Hessian-vector products of a network map, over the
  packed parameter layout of doc/design.md (doc/science.md §3). These functions take
  and return double arrays; dlnlab.core converts to and from the weights form."
  (:import [dlnlab.kernel Arch Engine Engine$Workspace Objective]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn workspace
  "A fresh kernel workspace for the network's architecture and objective (or the
  given objective). Returns an Engine$Workspace; one per thread."
  (^Engine$Workspace [net] (workspace net (:objective net)))
  (^Engine$Workspace [net ^Objective objective]
   (Engine$Workspace. ^Arch (:arch net) objective)))

(defn size
  "Number of trainable parameters of the network."
  ^long [net]
  (.size ^Arch (:arch net)))

(defn loss
  "Loss of the network's parameters (or of params) on its objective (or on objective)."
  (^double [net] (loss net (:params net)))
  (^double [net ^doubles params] (loss net params (:objective net)))
  (^double [net ^doubles params ^Objective objective]
   (Engine/loss ^Arch (:arch net) objective params)))

(defn gradient
  "Gradient of the loss at params as a fresh packed double array."
  (^doubles [net] (gradient net (:params net)))
  (^doubles [net ^doubles params]
   (let [out (double-array (size net))]
     (Engine/gradient (:arch net) (:objective net) params (workspace net) out)
     out)))

(defn hvp
  "Exact Hessian-vector product H v at params as a fresh packed double array."
  (^doubles [net ^doubles v] (hvp net (:params net) v))
  (^doubles [net ^doubles params ^doubles v]
   (let [out (double-array (size net))]
     (Engine/hvp (:arch net) (:objective net) params v (workspace net) out)
     out)))

(defn prepared-hvp
  "A function (fn [^doubles v ^doubles out]) computing H v into out at params,
  with the forward and backward passes done once up front; for Krylov methods."
  [net ^doubles params]
  (let [arch ^Arch (:arch net)
        obj ^Objective (:objective net)
        ws (workspace net)]
    (Engine/prepare arch obj params ws)
    (fn [^doubles v ^doubles out]
      (Engine/hvpPrepared arch obj ws v out))))

(defn end-to-end
  "The end-to-end matrix F (dout x din, column-major) and the pathway products,
  as {:f double[] :pathways [double[] ...]}."
  [net ^doubles params]
  (let [^Arch arch (:arch net)
        ws (workspace net)
        m (* (.dout arch) (.din arch))]
    (Engine/forward arch params ws)
    {:f (aclone ^doubles (.f ws))
     :pathways (mapv (fn [^long k] (java.util.Arrays/copyOfRange ^doubles (.prod ws) (* k m) (* (inc k) m)))
                     (range (.pathways arch)))}))
