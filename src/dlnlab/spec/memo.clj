(ns dlnlab.spec.memo
  "What dlnlab.spec keeps between normalizations, so that validating the same
  experiment again costs little (a sweep validates one map per point, and a
  run's network, task and model normalize their parts again):

  - maps normalized before, by identity (held weakly), per node id: a run finds
    its own normalized parts here (`remembered`);
  - per node and kind, the walker's plan: its key entries sorted by what the
    walker does with them (`plan`).

  Both belong to one schema: a new dlnlab.kind/schema method forgets them."
  (:require [dlnlab.kind :as kind])
  (:import [java.lang.ref WeakReference]
           [java.util.concurrent.atomic AtomicLong AtomicReferenceArray]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def ^:private ^:const recent-slots 16)

(def ^:private ^AtomicReferenceArray recent
  "Slots of Object arrays [node-id schema-table (WeakReference normalized-map)]."
  (AtomicReferenceArray. (int recent-slots)))

(def ^:private ^AtomicLong recent-next (AtomicLong.))

(defn remembered
  "v when reuse? and v is (identical to) a map normalized before as node-id
  under the current schema and still remembered; else (f), remembered, and so
  are (:model out) and (:task out) of a normalized network experiment (they
  normalize to themselves)."
  [reuse? node-id v f]
  (let [table (methods kind/schema)
        seen? (fn [^objects e] (and e (identical? v (.get ^WeakReference (aget e 2)))
                                    (= node-id (aget e 0)) (identical? table (aget e 1))))]
    (if (and reuse? (map? v) (some #(seen? (.get recent (int %))) (range recent-slots)))
      v
      (let [out (f)
            remember! (fn [id m] (when (map? m) (.set recent (int (mod (.getAndIncrement recent-next) recent-slots))
                                                      (object-array [id table (WeakReference. m)]))))]
        (remember! node-id out)
        ;; a network experiment's model and task normalize to themselves (spec-test checks it)
        (when (and (= :experiment node-id) (map? out) (= :network (:kind out :network)))
          (remember! :model (:model out))
          (remember! :task (:task out)))
        out))))

(def ^:private plans
  "[nodes {[node-id kind fixed?] plan}]: the plans made for the assembled schema
  nodes (compared by identity)."
  (atom [nil {}]))

(defn plan
  "The plan of node-id at kind (fixed? when the position decides the kind) for
  the assembled schema nodes: made once by (make) and kept while nodes is the
  schema."
  [nodes node-id kind fixed? make]
  (let [k [node-id kind fixed?]
        [ns ps] @plans]
    (or (when (identical? ns nodes) (get ps k))
        (let [p (make)]
          (swap! plans (fn [[ns ps]] (if (identical? ns nodes) [ns (assoc ps k p)] [nodes {k p}])))
          p))))
