(ns dlnlab.model.packing
  "The packed parameter vector of a layout (see dlnlab.model): its size, the Java
  Arch it describes and back, and the user-facing weights form <-> packed.

  Weights form (dlnlab.core/weights): chain and multi-pathway models give a vector
  of pathways, each a vector of row-major matrices W_1..W_L; :residual gives
  {:in W_in :blocks [W_1 ..] :out W_out}. Packed: every factor's W column-major
  (leading dimension :rows) at its :offset (doc/design.md). The conversion
  dispatches on the layout's form (`layout-form`), so a layout rebuilt from a Java
  Arch (`arch->layout`) converts like the model's own."
  (:require [dlnlab.error :as error]
            [dlnlab.linalg :as linalg]
            [dlnlab.spec :as spec])
  (:import [dlnlab.kernel Arch]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------------------
;; Size and the Java Arch

(defn layout-size
  "Number of parameters of a layout."
  ^long [layout]
  (let [f (peek (peek layout))] (+ (long (:offset f)) (* (long (:rows f)) (long (:cols f))))))

(defn layout->arch
  "The Java Arch of a layout."
  ^Arch [layout]
  (let [fs (vec (apply concat layout))]
    (Arch. (int-array (map count layout))
           (int-array (map :rows fs))
           (int-array (map :cols fs))
           (double-array (map :alpha fs))
           (boolean-array (map :identity? fs)))))

(defn arch->layout
  "The layout of a Java Arch. Roles are inferred: an Arch with identity factors is a
  residual network (first factor :in, last :out, the others :block)."
  [^Arch arch]
  (let [residual? (some true? (seq (.identity arch)))
        ps (.pathStart arch)]
    (vec (for [k (range (.pathways arch))]
           (let [a (aget ps k) b (aget ps (inc (long k)))]
             (vec (for [j (range a b)]
                    (let [j (long j) l (- j a)]
                      (merge {:pathway k :rows (aget (.rows arch) j) :cols (aget (.cols arch) j)
                              :offset (aget (.offset arch) j) :alpha (aget (.alpha arch) j)
                              :identity? (aget (.identity arch) j)}
                             (cond (not residual?) {:role :layer :layer (inc l)}
                                   (= j a) {:role :in}
                                   (= j (dec b)) {:role :out}
                                   :else {:role :block :layer l}))))))))))

(defn- ->layout [arch-or-layout]
  (if (instance? Arch arch-or-layout) (arch->layout arch-or-layout) arch-or-layout))

;; ---------------------------------------------------------------------------
;; Weights form <-> packed

(defn- factor-label [f]
  (case (:role f)
    :layer (str "pathway " (:pathway f) ", W_" (:layer f))
    :in "W_in"
    :out "W_out"
    :block (str "block W_" (:layer f))))

(defn- put-matrix!
  "Writes the row-major nested matrix w into params at factor f (column-major),
  checking its shape and entries; path names it in errors."
  [^doubles params f w path]
  (let [rows (long (:rows f)) cols (long (:cols f)) off (long (:offset f))
        shape (str rows " x " cols " matrix (" rows " rows of " cols " numbers)")
        bad (fn [p v msg] (error/fail! :invalid-experiment
                                       (str (pr-str p) " (" (factor-label f) ") " msg)
                                       {:path p :value v :allowed {:rows rows :cols cols}}))]
    (when-not (and (sequential? w) (= rows (count w)))
      (bad path (if (sequential? w) (count w) w)
           (str "must be a " shape ", got " (if (sequential? w) (str (count w) " rows") (pr-str w)) ".")))
    (dotimes [i rows]
      (let [row (nth w i)]
        (when-not (and (sequential? row) (= cols (count row)))
          (bad (conj path i) row (str "must be a row of " cols " numbers of a " shape ", got "
                                      (if (sequential? row) (str (count row) " numbers") (pr-str row)) ".")))
        (dotimes [j cols]
          (let [x (nth row j)]
            (when-not (spec/finite-number? x)
              (bad (conj path i j) x (str "must be a finite number, got " (pr-str x) ".")))
            (aset params (+ off i (* j rows)) (double x))))))))

(defn- layout-form
  "The dispatch value of the per-kind weight conversions: the role of a layout's
  first factor, which the model kind's `pathways` method chose (:layer for chain
  and multi-pathway models, :in for :residual), so a layout rebuilt from a Java
  Arch (`arch->layout`) dispatches like the model's own."
  [layout _ & _]
  (:role (first (first layout))))

(defmulti pack-weights!
  "Writes weights w in the user form of the layout's model kind into params
  (errors name key paths under path); one method per form (see `layout-form`)."
  layout-form)

(defmulti unpack-weights
  "The user weights form of the layout's model kind, (mat factor) giving each
  factor's row-major matrix; one method per form (see `layout-form`)."
  layout-form)

(defmethod pack-weights! :layer [layout params w path]
  (when-not (and (sequential? w) (= (count layout) (count w)))
    (error/fail! :invalid-experiment
                 (str (pr-str path) ": weights must be a vector of " (count layout)
                      " pathway(s), each a vector of layer matrices W_1 ... W_L, got "
                      (if (sequential? w) (str (count w) " pathway(s)") (pr-str w)) ".")
                 {:path path :value (if (sequential? w) (count w) w) :allowed (str (count layout) " pathways")}))
  (doseq [[k fs] (map-indexed vector layout)]
    (let [wk (nth w k)]
      (when-not (and (sequential? wk) (= (count fs) (count wk)))
        (error/fail! :invalid-experiment
                     (str (pr-str (conj path k)) ": pathway " k " must be a vector of " (count fs)
                          " layer matrices W_1 ... W_" (count fs) ", got "
                          (if (sequential? wk) (count wk) (pr-str wk)) ".")
                     {:path (conj path k) :value (if (sequential? wk) (count wk) wk) :allowed (str (count fs) " layer matrices")}))
      (doseq [[l f] (map-indexed vector fs)]
        (put-matrix! params f (nth wk l) (conj path k l))))))

(defmethod unpack-weights :layer [layout mat]
  (mapv #(mapv mat %) layout))

(defmethod pack-weights! :in [layout params w path]
  (let [fs (first layout)
        blocks (subvec fs 1 (dec (count fs)))
        L (count blocks)]
    (when-not (map? w)
      (error/fail! :invalid-experiment
                   (str (pr-str path) ": weights of a residual network must be a map {:in W_in :blocks [W_1 ... W_"
                        L "] :out W_out}, got " (pr-str (type w)) ".")
                   {:path path :value w :allowed "a map {:in W_in :blocks [W_1 ...] :out W_out}"}))
    (let [extra (remove #{:in :blocks :out} (keys w))]
      (when (seq extra)
        (let [dym (error/did-you-mean (first extra) [:in :blocks :out])]
          (error/fail! :invalid-experiment
                       (str (pr-str (conj path (first extra))) ": unknown key " (pr-str (first extra))
                            " in residual weights." (when dym (str " Did you mean " (pr-str dym) "?"))
                            " Allowed keys are :in, :blocks, :out.")
                       (merge {:path (conj path (first extra)) :value (get w (first extra)) :allowed [:in :blocks :out]} (when dym {:did-you-mean dym}))))))
    (when-not (and (sequential? (:blocks w)) (= L (count (:blocks w))))
      (error/fail! :invalid-experiment
                   (str (pr-str (conj path :blocks)) " must be a vector of " L " block matrices W_1 ... W_" L
                        " (each " (:rows (first blocks)) " x " (:cols (first blocks)) "), got "
                        (if (sequential? (:blocks w)) (str (count (:blocks w)) " matrices") (pr-str (:blocks w))) ".")
                   {:path (conj path :blocks) :value (:blocks w) :allowed (str "a vector of " L " block matrices")}))
    (put-matrix! params (first fs) (:in w) (conj path :in))
    (doseq [[l f] (map-indexed vector blocks)]
      (put-matrix! params f (nth (:blocks w) l) (conj path :blocks l)))
    (put-matrix! params (peek fs) (:out w) (conj path :out))))

(defmethod unpack-weights :in [layout mat]
  (let [fs (first layout)]
    {:in (mat (first fs))
     :blocks (mapv mat (subvec fs 1 (dec (count fs))))
     :out (mat (peek fs))}))

(defn weights->packed
  "Packs weights in the user form of dlnlab.core/weights (chain and multi-pathway:
  a vector of pathways, each a vector of row-major matrices W_1..W_L; residual:
  {:in W_in :blocks [W_1 ..] :out W_out}) into a new double[] in the layout of
  arch-or-layout (a Java Arch or a layout), by the layout's `pack-weights!`
  method. path (default []) prefixes the key paths of errors. Throws ex-info
  naming the pathway, layer and expected shape of any matrix of the wrong shape,
  and any non-finite entry."
  (^doubles [arch-or-layout w] (weights->packed arch-or-layout w []))
  (^doubles [arch-or-layout w path]
   (let [layout (->layout arch-or-layout)
         params (double-array (layout-size layout))]
     (pack-weights! layout params w (vec path))
     params)))

(defn packed->weights
  "The user weights form (see `weights->packed`) of packed params in the layout of
  arch-or-layout, by the layout's `unpack-weights` method. Throws ex-info when
  params has the wrong length."
  [arch-or-layout ^doubles params]
  (let [layout (->layout arch-or-layout)
        n (layout-size layout)]
    (when (not= n (alength params))
      (error/fail! :invalid-experiment
                   (str "packed parameters have " (alength params) " entries but the network has " n ".")
                   {:path [] :value (alength params) :allowed n}))
    (unpack-weights layout (fn [f] (linalg/array->matrix (:rows f) (:cols f) params (:offset f))))))
