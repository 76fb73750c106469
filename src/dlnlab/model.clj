(ns dlnlab.model
  "Builds a network's architecture (the Java Arch), its packed initial parameters
  and its learning-rate multiplier from a model spec and the task's facts
  (doc/design.md); the model and init kinds live here. The packed vector's size,
  its Java Arch and the user-facing weights form <-> packed are in
  dlnlab.model.packing.

  Layout (plain data): a vector with one entry per pathway, each a vector of factor
  maps {:pathway k :layer l :role r :rows :cols :offset :alpha :identity?} in packed
  order; :role is :layer for chain and multi-pathway models (:layer l = 1..L) and
  :in, :block (:layer 1..L) or :out for :residual. W of a factor is stored
  column-major (leading dimension :rows) at :offset; the factor acts as
  alpha W (+ I when :identity?).

  Parameterization multipliers (doc/science.md §1, doc/design.md), D the input size,
  fan-in the factor's column count, g = :gamma0:
  - :standard: alpha = 1 (residual blocks beta0/sqrt(L)).
  - :mup: the last factor 1/(g fan-in), every other factor 1/sqrt(fan-in) (so the
    first gets 1/sqrt(D)); residual blocks beta0/sqrt(L) times that.
    Learning-rate multiplier g^2 N with N the fan-in of the last factor (the hidden
    width; D for a depth-1 chain).
  - :ntk: as :mup with the last factor 1/(g sqrt(fan-in D)); multiplier g^2 D.

  Inits (the raw parameters W; see dlnlab.spec/describe):
  - :gaussian: W entries N(0, std^2), std :fan-in = 1/sqrt(cols) per factor.
  - :orthogonal: every W semi-orthogonal times :scale.
  - :scaled-identity: alpha times the rectangular identity, the last factor of each
    pathway zero.
  - :balanced-aligned / :pathway-split: the EFFECTIVE factors alpha_l W_l are
    Q_(l+1) diag(a) Q_l^T with Q_1 = V, Q_(L+1) = U from the target's SVD and
    a_i = pi_i^(1/L) (doc/science.md §4), so the effective factors are balanced and the
    end-to-end matrix is sum_i pi_i u_i v_i^T; the raw W_l = G_l / alpha_l (which is
    balanced too under :standard). Residual: blocks zero, W_in and W_out a balanced
    aligned depth-2 chain through the stream (a_i = sqrt(pi_i)).
  - :given: the raw weights as given."
  (:require [dlnlab.error :as error]
            [dlnlab.kind :as kind]
            [dlnlab.linalg :as linalg]
            [dlnlab.model.packing :as packing]
            [dlnlab.spec :as spec])
  (:import [dlnlab.kernel Blas Rng]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def ^:const init-purpose
  "Rng/derive purpose of the init's seed: (Rng/derive seed init-purpose)."
  2)

(def ^:const hidden-basis-stream
  "First Rng stream (under the init seed) of the hidden bases of aligned inits:
  pathway k, Q_l uses stream hidden-basis-stream + 64 k + l. Gaussian and orthogonal
  inits use the global factor index as their stream."
  1000000)

;; ---------------------------------------------------------------------------
;; Shapes and multipliers

(defn- check-dims! [dims]
  (doseq [k [:input :output]]
    (when-not (pos-int? (get dims k))
      (error/fail! :invalid-experiment
                   (str "The task dimensions must give " k " as a positive integer, got " (pr-str (get dims k)) ".")
                   {:path [:dims k] :value (get dims k) :allowed "a positive integer"}))))

(defn widths
  "[d0 ... dL] of each pathway of a normalized :chain or :multi-pathway model for a
  task of dims {:input D :output m}: :widths as given, or [D N ... N m] from :depth
  and :width. Throws ex-info when :widths does not start with D and end with m."
  [model dims]
  (check-dims! dims)
  (let [D (long (:input dims)) m (long (:output dims))]
    (if-let [w (:widths model)]
      (do (when (or (not= D (long (first w))) (not= m (long (peek (vec w)))))
            (error/fail! :invalid-experiment
                         (str "[:model :widths] is " (pr-str w) " but the task maps " D " inputs to " m
                              " outputs; the widths must start with " D " and end with " m ".")
                         {:path [:model :widths] :value w :allowed (str "[" D " ... " m "]")}))
          (mapv long w))
      (let [L (long (:depth model))]
        (vec (concat [D] (repeat (dec L) (long (or (:width model) 0))) [m]))))))

(defn- multiplier
  "alpha of a factor with fan-in fanin; last? for the readout factor."
  [parameterization gamma0 fanin D last?]
  (let [g (double gamma0) fanin (long fanin) D (long D)]
    (case parameterization
      :standard 1.0
      :mup (if last? (/ 1.0 (* g fanin)) (/ 1.0 (Math/sqrt fanin)))
      :ntk (if last? (/ 1.0 (* g (Math/sqrt (* fanin D)))) (/ 1.0 (Math/sqrt fanin))))))

(defmulti pathways
  "The factors of a normalized model for task dims {:input D :output m}, one
  method per model kind: a vector of pathways, each a vector of factor maps
  {:pathway :layer :role :rows :cols :alpha :identity?} in packed order (`layout`
  adds the offsets)."
  (fn [model _dims] (:kind model)))

(defn- chain-pathways
  "K = (:pathways model 1) chains of the widths of `widths`."
  [model dims]
  (let [p (:parameterization model) g (:gamma0 model)
        D (long (:input dims))
        w (widths model dims)
        L (dec (count w))]
    (vec (for [k (range (:pathways model 1))]
           (vec (for [l (range L)]
                  (let [fanin (long (nth w l))]
                    {:pathway k :layer (inc (long l)) :role :layer
                     :rows (nth w (inc (long l))) :cols fanin
                     :alpha (multiplier p g fanin D (= l (dec L))) :identity? false})))))))

(defmethod pathways :chain [model dims] (chain-pathways model dims))
(defmethod pathways :multi-pathway [model dims] (chain-pathways model dims))

(defmethod pathways :residual [model dims]
  (check-dims! dims)
  (let [p (:parameterization model) g (:gamma0 model)
        D (long (:input dims))
        L (long (:depth model)) N (long (:width model)) m (long (:output dims))
        branch (/ (double (:beta0 model)) (Math/sqrt L))]
    [(vec (concat [{:pathway 0 :role :in :rows N :cols D :alpha (multiplier p g D D false) :identity? false}]
                  (for [l (range L)]
                    {:pathway 0 :layer (inc (long l)) :role :block :rows N :cols N
                     :alpha (* branch (double (multiplier p g N D false))) :identity? true})
                  [{:pathway 0 :role :out :rows m :cols N :alpha (multiplier p g N D true) :identity? false}]))]))

(defn layout
  "The packed layout of a model spec (normalized here) for task dims
  {:input D :output m}: the model kind's `pathways` with contiguous :offset in
  packed order, a vector of pathways, each a vector of factor maps
  {:pathway :layer :role :rows :cols :offset :alpha :identity?} (see the ns doc).
  Throws ex-info for an invalid spec or widths that disagree with dims."
  [model-spec dims]
  (let [model (spec/normalize-model model-spec)]
    (first (reduce (fn [[acc ^long off] path]
                     (let [[fs off] (reduce (fn [[fs ^long off] f]
                                              [(conj fs (assoc f :offset off))
                                               (+ off (* (long (:rows f)) (long (:cols f))))])
                                            [[] off] path)]
                       [(conj acc fs) off]))
                   [[] 0] (pathways model dims)))))

(defn lr-multiplier
  "The learning-rate multiplier of a model spec (normalized here) for task dims
  {:input D :output m} (doc/science.md §1): 1 for :standard, gamma0^2 N for :mup (N the
  fan-in of the last factor: the hidden width, or D for a depth-1 chain),
  gamma0^2 D for :ntk. lay, when given, is the model's `layout` for dims."
  (^double [model-spec dims] (lr-multiplier model-spec dims nil))
  (^double [model-spec dims lay]
   (let [model (spec/normalize-model model-spec)
         g (double (:gamma0 model))
         last-f (peek (peek (or lay (layout model dims))))]
     (case (:parameterization model)
       :standard 1.0
       :mup (* g g (double (:cols last-f)))
       :ntk (* g g (double (:input dims)))))))

;; ---------------------------------------------------------------------------
;; Inits

(defmulti init-params
  "Initial packed parameters for a normalized init map, dispatched on its :kind.
  ctx: {:layout :model (normalized) :dims :seed (the init seed) :target-svd}."
  (fn [init _ctx] (:kind init)))

(defn- global-factors [layout] (map-indexed vector (apply concat layout)))

(defmethod init-params :gaussian [init {:keys [layout seed]}]
  (let [params (double-array (packing/layout-size layout))
        std (:std init)]
    (doseq [[j f] (global-factors layout)]
      (let [rows (long (:rows f)) cols (long (:cols f))
            s (if (= :fan-in std) (/ 1.0 (Math/sqrt cols)) (double std))]
        (Rng/fillGaussian (long seed) (long j) 0 s params (long (:offset f)) (* rows cols))))
    params))

(defmethod init-params :orthogonal [init {:keys [layout seed]}]
  (let [params (double-array (packing/layout-size layout))
        c (double (:scale init))]
    (doseq [[j f] (global-factors layout)]
      (let [rows (long (:rows f)) cols (long (:cols f)) off (long (:offset f))]
        (if (>= rows cols)
          (let [q (linalg/random-orthonormal seed j rows cols)]
            (dotimes [i (* rows cols)] (aset params (+ off i) (* c (aget q i)))))
          (let [q (linalg/random-orthonormal seed j cols rows)]
            ;; W = Q^T with Q cols x rows
            (dotimes [i rows]
              (dotimes [jj cols]
                (aset params (+ off i (* jj rows)) (* c (aget q (+ jj (* i cols)))))))))))
    params))

(defmethod init-params :scaled-identity [init {:keys [layout]}]
  (let [params (double-array (packing/layout-size layout))
        a (double (:alpha init))]
    (doseq [fs layout
            f (butlast fs)]
      (let [rows (long (:rows f)) off (long (:offset f))]
        (dotimes [i (min rows (long (:cols f)))]
          (aset params (+ off i (* i rows)) a))))
    params))

(defn- columns
  "The first r columns of a row-major nested matrix as a column-major array."
  ^doubles [m ^long r]
  (let [rows (count m) a (double-array (* rows r))]
    (dotimes [i rows] (dotimes [j r] (aset a (+ i (* j rows)) (double (nth (nth m i) j)))))
    a))

(defn- write-aligned!
  "params at factor f <- (Q_out diag(a) Q_in^T) / alpha_f, with Q_out rows x r and
  Q_in cols x r column-major."
  [^doubles params f ^doubles qout ^doubles a ^doubles qin]
  (let [rows (long (:rows f)) cols (long (:cols f)) r (alength a)
        scaled (double-array (* rows r))
        inv (/ 1.0 (double (:alpha f)))]
    (dotimes [k r]
      (let [ak (* inv (aget a k))]
        (dotimes [i rows] (aset scaled (+ i (* k rows)) (* ak (aget qout (+ i (* k rows))))))))
    (Blas/gemm false true rows cols r 1.0 scaled 0 rows qin 0 cols 0.0 params (long (:offset f)) rows)))

(defmulti aligned-chain
  "The factors of one pathway (a vector of factor maps) that an aligned init
  writes, in order from input to output; the others stay zero. One method per
  form (see `layout-form`): every factor of a chain; W_in and W_out of a
  residual network, whose identity blocks carry the modes unchanged."
  (fn [pathway] (:role (first pathway))))

(defmethod aligned-chain :layer [pathway] pathway)
(defmethod aligned-chain :in [pathway] [(first pathway) (peek pathway)])

(defn- aligned-init
  "Balanced, aligned effective factors per pathway with per-pathway strengths
  (pathway k gets pi_i * share_ki), on the factors of each pathway's
  `aligned-chain`."
  [init {:keys [layout seed target-svd model]}]
  (when-not (and (map? target-svd) (:u target-svd) (:v target-svd))
    (error/fail! :invalid-experiment
                 (str "[:model :init] is " (pr-str (:kind init)) ", which aligns the weights with the target's singular "
                      "vectors, but no target SVD was given.")
                 {:path [:model :init :kind] :value (:kind init) :allowed "an init that does not need the target's SVD"}))
  (let [K (count layout)
        chains (mapv aligned-chain layout)
        widths-all (concat [(:cols (first (first chains)))] (map :rows (first chains)))
        narrowest (long (apply min widths-all))
        pis (or (:strengths init) (repeat narrowest (:scale init)))
        r (count pis)
        _ (when (> r narrowest)
            (error/fail! :invalid-experiment
                         (str "[:model :init :strengths] has " r " modes but the narrowest layer of the network "
                              "(including its input and output) has width " narrowest
                              "; give at most " narrowest " strengths.")
                         {:path [:model :init :strengths] :value (:strengths init) :allowed (str "at most " narrowest " strengths")}))
        shares (or (:shares init) (vec (repeat K (vec (repeat r (/ 1.0 K))))))
        u (columns (:u target-svd) r)
        v (columns (:v target-svd) r)
        params (double-array (packing/layout-size layout))
        hidden (fn [^long k ^long l ^long rows]
                 (if (= :identity (:hidden-basis init))
                   (let [a (double-array (* rows r))] (dotimes [i r] (aset a (+ i (* i rows)) 1.0)) a)
                   (linalg/random-orthonormal seed (+ hidden-basis-stream (* 64 k) l) rows r)))]
    (doseq [[k chain] (map-indexed vector chains)]
      (let [k (long k)
            depth (count chain)
            a (double-array (map (fn [pi sh] (Math/pow (* (double pi) (double sh)) (/ 1.0 depth)))
                                 pis (nth shares k)))
            ;; Q_1 = V, Q_(L+1) = U, hidden Q_l for l = 2..L (rows = cols of factor l)
            qs (vec (concat [v]
                            (for [l (range 1 depth)]
                              (hidden k (inc (long l)) (long (:cols (nth chain l)))))
                            [u]))]
        (doseq [[l f] (map-indexed vector chain)]
          (write-aligned! params f (nth qs (inc (long l))) a (nth qs l)))))
    params))

(defmethod init-params :balanced-aligned [init ctx] (aligned-init init ctx))
(defmethod init-params :pathway-split [init ctx] (aligned-init init ctx))

(defmethod init-params :given [init {:keys [layout]}]
  (packing/weights->packed layout (:weights init) [:model :init :weights]))

;; ---------------------------------------------------------------------------

(defn build-model
  "Builds a model from its spec (normalized here), the task dims {:input D :output m},
  the experiment seed (the init uses (Rng/derive seed init-purpose)) and the task's
  :target-svd (needed by :balanced-aligned and :pathway-split; may be nil otherwise).
  Returns {:spec normalized-model :arch Arch :params double[] (raw weights, packed)
           :lr-multiplier double :layout layout (see the ns doc)}.
  Throws ex-info {:path :value :allowed} for an invalid spec, widths that disagree
  with dims, strengths for more modes than the narrowest layer, or given weights of
  the wrong shape."
  [model-spec dims seed target-svd]
  (when-not (int? seed)
    (error/fail! :invalid-experiment
                 (str "[:seed] must be an integer, got " (pr-str seed) ".")
                 {:path [:seed] :value seed :allowed "an integer"}))
  (let [model (spec/normalize-model model-spec)
        lay (layout model dims)
        arch (packing/layout->arch lay)
        params (init-params (:init model) {:layout lay :model model :dims dims
                                           :seed (Rng/derive (long seed) init-purpose)
                                           :target-svd target-svd})]
    {:spec model
     :arch arch
     :params params
     :lr-multiplier (lr-multiplier model dims lay)
     :layout lay}))

;; ---------------------------------------------------------------------------
;; Kinds: the schema of every model and init kind (dlnlab.kind/schema)

(defn- check-shape! [path m ctx]
  (let [k (:model-kind ctx)]
    (spec/exclusive! path m [[:widths] [:depth :width]]
                "either :widths [d0 ... dL], or :depth L and :width N (input and output sizes then come from the task)")
    (when (and (contains? m :depth) (> (long (:depth m)) 1) (not (contains? m :width)))
      (error/fail! :invalid-experiment
                   (str (spec/path-str path) " has :depth " (:depth m) " but no :width; a network of depth > 1 needs "
                   ":width N for its hidden layers" (when (= k :multi-pathway) " (or :widths instead of :depth)") ".")
                   {:path (conj (vec path) :width) :value nil :allowed "a positive integer"}))))

(defn- check-shares! [path init ctx nmodes]
  (let [K (long (:pathways ctx 1))
        shares (:shares init)
        sp (conj (vec path) :shares)]
    (when (not= K (count shares))
      (error/fail! :invalid-experiment
                   (str sp " has " (count shares) " vector(s) but the model has " K " pathways; give one vector of per-mode shares per pathway.")
                   {:path sp :value shares :allowed (str "one vector of shares per pathway (" K ")")}))
    (when nmodes
      (doseq [[k row] (map-indexed vector shares)]
        (when (not= (long nmodes) (count row))
          (error/fail! :invalid-experiment
                       (str (conj sp k) " has " (count row) " shares but there are " nmodes
                       " modes (strengths); give one share per mode.")
                       {:path (conj sp k) :value row :allowed (str nmodes " shares, one per mode")})))
      (dotimes [i nmodes]
        (let [tot (double (reduce + (map #(double (nth % i)) shares)))]
          (when (> (Math/abs (- tot 1.0)) 1e-9)
            (error/fail! :invalid-experiment
                         (str sp ": the shares of mode " i " sum to " tot " over the pathways, but they must sum to 1 "
                         "(pathway k gets strength pi_i * share_ki of mode i).")
                         {:path sp :value shares :allowed "shares of each mode summing to 1 over the pathways"})))))))

(defn- check-balanced! [path init ctx]
  (spec/exclusive! path init [[:strengths] [:scale]]
              ":strengths [pi_1 ...] (one per mode) or :scale pi (every mode the same)")
  (when (contains? init :shares)
    (when (not= :multi-pathway (:model-kind ctx))
      (error/fail! :invalid-experiment
                   (str (spec/path-str (conj (vec path) :shares)) " only applies to :multi-pathway models, but the model is "
                   (pr-str (:model-kind ctx)) ".")
                   {:path (conj (vec path) :shares) :value (:shares init) :allowed "only for :multi-pathway models"}))
    (when-not (contains? init :strengths)
      (error/fail! :invalid-experiment
                   (str (spec/path-str (conj (vec path) :shares)) " needs :strengths (the shares are per mode).")
                   {:path (conj (vec path) :shares) :value (:shares init) :allowed "together with :strengths"}))
    (check-shares! path init ctx (count (:strengths init)))))

(defn- check-pathway-split! [path init ctx]
  (when (not= :multi-pathway (:model-kind ctx))
    (error/fail! :invalid-experiment
                 (str (spec/path-str (conj (vec path) :kind)) " is :pathway-split, which only applies to :multi-pathway models, "
                 "but the model is " (pr-str (:model-kind ctx)) "; use :balanced-aligned instead.")
                 {:path (conj (vec path) :kind) :value :pathway-split :allowed "an init for a :multi-pathway model"}))
  (check-shares! path init ctx (count (:strengths init))))

(defmethod kind/schema [:model nil] [_ _]
  {:doc "A deep linear network; weights are the raw parameters (doc/science.md §1)."
   :dispatch :kind
   :kind-order [:chain :multi-pathway :residual]
   :common [[:parameterization {:spec ::spec/parameterization :default :standard
                               :doc "Multipliers of doc/science.md §1: :standard (all 1), :mup (first 1/sqrt(D), hidden 1/sqrt(fan-in), last 1/(gamma0 fan-in); lr x gamma0^2 N), :ntk (last 1/(gamma0 sqrt(fan-in D)); lr x gamma0^2 D)."}]
           [:gamma0 {:spec ::spec/positive :default 1.0 :doc "Richness gamma0 of :mup/:ntk (unused by :standard)."}]
           [:init {:node :init :default {:kind :gaussian} :doc "How the weights start (see :init)."}]]
   :ctx (fn [m] {:model-kind (:kind m) :parameterization (:parameterization m)
        :pathways (:pathways m 1)})})

(defmethod kind/schema [:model :chain] [_ _]
  {:doc "f(x) = W_L ... W_1 x, W_l of d_l rows and d_(l-1) columns."
   :keys [[:widths {:spec ::spec/widths :doc "[d0 d1 ... dL]; d0 and dL must match the task's input and output sizes."}]
          [:depth {:spec ::spec/pos-int :doc "L, the number of weight matrices (with :width, instead of :widths)."}]
          [:width {:spec ::spec/pos-int :doc "N, every hidden width (needed when :depth > 1)."}]]
   :check check-shape!})

(defmethod kind/schema [:model :multi-pathway] [_ _]
  {:doc "K separate chains of the same depth with summed outputs: f(x) = sum_k W_L^k ... W_1^k x."
   :keys [[:pathways {:spec ::spec/pos-int :required true :doc "K, the number of pathways."}]
          [:widths {:spec ::spec/widths :doc "[d0 ... dL] for every pathway (instead of :depth and :width)."}]
          [:depth {:spec ::spec/pos-int :doc "L, weight matrices per pathway."}]
          [:width {:spec ::spec/pos-int :doc "N, every hidden width (needed when :depth > 1)."}]]
   :check check-shape!})

(defmethod kind/schema [:model :residual] [_ _]
  {:doc "h0 = W_in x; h_l = h_(l-1) + (beta0/sqrt L) W_l h_(l-1), l = 1..L; f = W_out h_L."
   :keys [[:depth {:spec ::spec/pos-int :required true :doc "L, the number of residual blocks."}]
          [:width {:spec ::spec/pos-int :required true :doc "N, the width of the residual stream."}]
          [:beta0 {:spec ::spec/positive :default 1.0 :doc "Branch scale beta0 (each block is scaled by beta0/sqrt L)."}]]})

(defmethod kind/schema [:init nil] [_ _]
  {:doc "Initial weights. Strength-based inits (:balanced-aligned, :pathway-split) set the EFFECTIVE factors alpha_l W_l; the others set the raw weights W_l."
   :dispatch :kind
   :kind-order [:gaussian :orthogonal :scaled-identity :balanced-aligned :pathway-split :given]})

(defmethod kind/schema [:init :gaussian] [_ _]
  {:doc "Independent N(0, std^2) raw weights."
   :keys [[:std {:spec ::spec/std
                 :default-doc ":fan-in (1/sqrt(fan-in) per layer) under :standard; 1.0 under :mup and :ntk (doc/science.md §1)"
                 :default-fn (fn [_ ctx] (if (= :standard (:parameterization ctx)) :fan-in 1.0))
                 :doc "Standard deviation of every raw weight, or :fan-in for 1/sqrt(columns) per layer."}]]})

(defmethod kind/schema [:init :orthogonal] [_ _]
  {:doc "Each W semi-orthogonal (orthonormal columns or rows, from the QR of seeded Gaussians), times :scale."
   :keys [[:scale {:spec ::spec/finite :default 1.0 :doc "c: every singular value of every raw W is c."}]]})

(defmethod kind/schema [:init :scaled-identity] [_ _]
  {:doc "alpha times the rectangular identity on every layer, last layer zero ([EOS]). For :residual: W_in and blocks alpha I, W_out zero."
   :keys [[:alpha {:spec ::spec/finite :default 0.1 :doc "alpha of the raw weights."}]]})

(defmethod kind/schema [:init :balanced-aligned] [_ _]
  {:doc "W_l = Q_(l+1) diag(a) Q_l^T with Q_(L+1) = U, Q_1 = V from the target's SVD, a_i = pi_i^(1/L) (doc/science.md §4), as effective factors. Multi-pathway: pathway k gets pi_i * share_ki. Residual: blocks zero, W_in, W_out a balanced depth-2 chain."
   :keys [[:strengths {:spec ::spec/strengths :doc "pi_i, the end-to-end strength of mode i (modes of the target, largest singular value first)."}]
          [:scale {:spec ::spec/non-negative :doc "pi for every mode the narrowest layer allows (instead of :strengths)."}]
          [:shares {:spec ::spec/shares :doc "Multi-pathway only: one vector per pathway of per-mode shares summing to 1 over pathways. Default: equal shares 1/K."}]
          [:hidden-basis {:spec ::spec/hidden-basis :default :random :doc "Hidden Q_l: seeded random semi-orthogonal, or the first columns of the identity."}]]
   :check check-balanced!})

(defmethod kind/schema [:init :pathway-split] [_ _]
  {:doc "Multi-pathway only: pathway k balanced and aligned with strength pi_i * share_ki of mode i."
   :keys [[:strengths {:spec ::spec/strengths :required true :doc "pi_i, the total strength of mode i."}]
          [:shares {:spec ::spec/shares :required true :doc "[[share of mode i in pathway 0 ...] [.. pathway 1 ..] ...], summing to 1 over pathways for each mode."}]
          [:hidden-basis {:spec ::spec/hidden-basis :default :random :doc "Hidden Q_l: seeded random semi-orthogonal, or the first columns of the identity."}]]
   :check check-pathway-split!})

(defmethod kind/schema [:init :given] [_ _]
  {:doc "Explicit raw weights in the form dlnlab.core/weights returns."
   :keys [[:weights {:spec ::spec/weights :required true :doc "Chain/multi-pathway: [[W_1 ... W_L] ...] one vector per pathway, W_l row-major with d_l rows of d_(l-1) numbers; residual: {:in W_in :blocks [W_1 ...] :out W_out}."}]]})
