(ns dlnlab.metrics.spectral
  "Which modes carry the curvature and the oscillation: the overlap of the top
  Hessian eigenvectors with each mode's direction (`eigvec-mode-overlap`) and
  the subspace the late iterates oscillate in (`oscillation-subspace`), with
  their metric kinds :eigvec-mode-overlap and :oscillation-subspace.

  The direction of mode pair (i, j) in parameter space is the gradient of
  u_i^T F v_j with respect to the raw weights, d_ij = J^T (u_i v_j^T), with u_i,
  v_j the target's singular vectors (dlnlab.metrics/target-basis) and J the
  Jacobian of the end-to-end matrix F. On factor f of a pathway it is the rank-one
  matrix alpha_f (A_f^T u_i)(B_f v_j)^T, A_f the product of the factors after f
  and B_f of those before it (doc/science.md §3). At aligned balanced weights,
  W_l = Q_(l+1) diag(a) Q_l^T, this is a_i^(L-l) a_j^(l-1) times the u_i v_j^T
  structure Q_(l+1),i Q_l,j^T of every layer; at a balanced minimum of
  factorization it is the Hessian eigenvector of lambda_ij = sum_l
  s_i^(2(L-l)/L) s_j^(2(l-1)/L) (doc/science.md §5), since the Hessian there is
  J^T J and J J^T (u_i v_j^T) = lambda_ij u_i v_j^T. The diagonal d_ii is the
  direction along which mode i moves, and oscillates past 2/S_i (§6)."
  (:require [dlnlab.engine :as engine]
            [dlnlab.error :as error]
            [dlnlab.hessian :as hessian]
            [dlnlab.kind :as kind]
            [dlnlab.metrics :as metrics]
            [dlnlab.spec :as spec])
  (:import [dlnlab.kernel Arch Blas]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------- mode directions

(defn- apply-factors
  "G x for the rows x cols factor f of net and x (cols x r, column-major), or
  G^T x when trans? (x rows x r); G = alpha W (+ I when identity-flagged).
  Returns a fresh column-major array."
  ^doubles [net f trans? r ^doubles x]
  (let [^Arch a (:arch net)
        f (long f) r (long r)
        rows (aget ^ints (.rows a) f) cols (aget ^ints (.cols a) f)
        [m k] (if trans? [cols rows] [rows cols])
        out (double-array (* (long m) r))]
    (Blas/gemm (boolean trans?) false (int m) (int r) (int k) (aget ^doubles (.alpha a) f)
               ^doubles (:params net) (aget ^ints (.offset a) f) rows x 0 (int k) 0.0 out 0 (int m))
    (when (aget ^booleans (.identity a) f) (Blas/axpy (alength out) 1.0 x 0 out 0))
    out))

(defn- mode-factors
  "For every factor f of net, in packed order: {:f f :alpha alpha_f :a A_f^T U
  (rows_f x r) :b B_f V (cols_f x r)}, column-major, from the target basis b."
  [net {:keys [^long r ^doubles u ^doubles vt]}]
  (let [^Arch a (:arch net)
        din (.din a)
        ^ints ps (.pathStart a)
        ;; V (din x r) column-major is V^T (r x din) column-major transposed
        v (double-array (* din r))]
    (dotimes [i r] (dotimes [c din] (aset v (+ c (* i din)) (aget vt (+ i (* c r))))))
    (vec (mapcat (fn [^long k]
                   (let [fs (range (aget ps k) (aget ps (inc k)))
                         bs (reductions (fn [x f] (apply-factors net f false r x)) v fs)
                         as (rest (reverse (reductions (fn [x f] (apply-factors net f true r x)) u (reverse fs))))]
                     (map (fn [f av bv] {:f f :alpha (aget ^doubles (.alpha a) (long f)) :a av :b bv}) fs as bs)))
                 (range (.pathways a))))))

(defn- mode-inner-products
  "The r x r column-major array of <h, d_ij> (entry i + j r) for a packed vector h."
  ^doubles [net factors ^long r ^doubles h]
  (let [^Arch arch (:arch net)
        out (double-array (* r r))]
    (doseq [{:keys [f alpha ^doubles a ^doubles b]} factors]
      (let [f (long f)
            rows (aget ^ints (.rows arch) f) cols (aget ^ints (.cols arch) f)
            t (double-array (* rows r))]
        ;; T = H_f B_f (rows x r), then out += alpha A_f^T T
        (Blas/gemm false false rows (int r) cols 1.0 h (aget ^ints (.offset arch) f) rows b 0 cols 0.0 t 0 rows)
        (Blas/gemm true false (int r) (int r) rows (double alpha) a 0 rows t 0 rows 1.0 out 0 (int r))))
    out))

(defn- mode-norms
  "The r x r column-major array of ||d_ij|| (entry i + j r)."
  ^doubles [net factors ^long r]
  (let [^Arch arch (:arch net)
        sq (double-array (* r r))]
    (doseq [{:keys [f alpha ^doubles a ^doubles b]} factors]
      (let [f (long f)
            rows (aget ^ints (.rows arch) f) cols (aget ^ints (.cols arch) f)
            al (double alpha)]
        (dotimes [i r]
          (let [ai (Blas/nrm2 rows a (* i rows))]
            (dotimes [j r]
              (let [x (* al ai (Blas/nrm2 cols b (* j cols)))]
                (aset sq (+ i (* j r)) (+ (aget sq (+ i (* j r))) (* x x)))))))))
    (amap sq i _ (Math/sqrt (aget sq i)))))

(defn- mode-direction
  "d_ii, the direction of mode i, as a fresh packed array of size n."
  ^doubles [net factors ^long i]
  (let [^Arch arch (:arch net)
        out (double-array (.size arch))]
    (doseq [{:keys [f alpha ^doubles a ^doubles b]} factors]
      (let [f (long f)
            rows (aget ^ints (.rows arch) f) cols (aget ^ints (.cols arch) f)
            off (aget ^ints (.offset arch) f)]
        ;; block = alpha a_i b_i^T, column-major rows x cols
        (Blas/gemm false true rows cols 1 (double alpha) a (* i rows) rows b (* i cols) cols
                   0.0 out off rows)))
    out))

;; ---------------------------------------------------------------- eigenvector overlaps

(defn eigvec-mode-overlap
  "The squared overlap of each of the top-k Hessian eigenvectors h with each
  mode pair's direction d_ij (see the namespace docstring): (h . d_ij)^2 /
  ||d_ij||^2, the fraction of h along d_ij. Shows which modes carry the
  sharpness: at a balanced minimum the eigenvector of lambda_ij lies in the span
  of d_ij and d_ji, so its overlaps with those two add up to 1.

  Options: :k (3) eigenvectors, by warm-started Lanczos (dlnlab.metrics/hessian-top)
  with :tol (1e-8), :max-iter and :seed (0); :state (nil) a volatile! map keeping
  the last eigenvectors for a warm start (key :dlnlab.metrics.spectral/vectors).
  Returns [[[overlap per j] per i] per eigenvector], eigenvectors in descending
  order of their eigenvalue (those of :hessian-top-k with the same k), an entry
  nil where d_ij = 0 (a mode the network does not carry yet); nil when the
  network has no target modes (dlnlab.metrics)."
  ([net] (eigvec-mode-overlap net {}))
  ([net {:keys [k state] :or {k 3} :as opts}]
   (when-let [basis (metrics/target-basis net)]
     (let [n (engine/size net)
           r (long (:r basis))
           warm (when state (seq (filter #(== n (alength ^doubles %)) (::vectors @state))))
           top (metrics/hessian-top net (-> (select-keys opts [:tol :max-iter :seed])
                                            (assoc :k (min (long k) n) :warm warm)))
           factors (mode-factors net basis)
           ^doubles norms (mode-norms net factors r)]
       (when state (vswap! state assoc ::vectors (:vectors top)))
       (mapv (fn [h]
               (let [^doubles c (mode-inner-products net factors r h)]
                 (mapv (fn [^long i]
                         (mapv (fn [^long j]
                                 (let [d (aget norms (+ i (* j r)))]
                                   (when (> d 0.0)
                                     (let [x (/ (aget c (+ i (* j r))) d)] (* x x)))))
                               (range r)))
                       (range r))))
             (:vectors top))))))

;; ---------------------------------------------------------------- oscillation subspace

(defn- mode-curvature
  "d_ii^T H d_ii / ||d_ii||^2 at net's params, or nil when d_ii = 0."
  [net factors i]
  (let [^doubles v (mode-direction net factors i)
        n (alength v)
        nn (Blas/dot n v 0 v 0)]
    (when (> nn 0.0)
      (/ (Blas/dot n v 0 (engine/hvp net v) 0) nn))))

(defn- mean-hessian
  "The Hessian averaged over the iterates (packed arrays), as an Operator."
  [net its]
  (let [n (engine/size net)
        fs (mapv #(engine/prepared-hvp net %) its)
        scale (/ 1.0 (double (count fs)))
        tmp (double-array n)]
    (hessian/operator n (fn [^doubles x ^doubles y]
                          (java.util.Arrays/fill y 0.0)
                          (doseq [f fs]
                            (f x tmp)
                            (Blas/axpy n scale tmp 0 y 0))))))

(defn- orthonormal-columns
  "The left singular vectors (n x q', column-major) of the n x q matrix m whose
  singular values exceed rel x the largest (all of them with rel 0), with the
  singular values: [q' basis s]."
  [^long n ^long q ^doubles m ^double rel]
  (let [c (min n q)
        s (double-array c) u (double-array (* n c)) vt (double-array (* c q))]
    (Blas/svd (int n) (int q) (aclone m) s u vt)
    (let [keep (count (take-while #(and (pos? (double %)) (> (double %) (* rel (aget s 0)))) s))]
      [keep u (vec s)])))

(defn- principal-cosines
  "Cosines of the principal angles between the spans of the orthonormal columns
  a (n x p) and b (n x q): the singular values of a^T b, descending."
  [n p ^doubles a q ^doubles b]
  (if (or (zero? (long p)) (zero? (long q)))
    []
    (let [n (long n) p (long p) q (long q)
          m (double-array (* p q))
          s (double-array (min p q))]
      (Blas/gemm true false (int p) (int q) (int n) 1.0 a 0 (int n) b 0 (int n) 0.0 m 0 (int p))
      (Blas/svd (int p) (int q) m s nil nil)
      (mapv #(min 1.0 (double %)) s))))

(defn- check-iterates [n iterates]
  (let [w (dec (count iterates))]
    (error/check! (and (>= w 2) (every? #(and (instance? (Class/forName "[D") %) (== (long n) (alength ^doubles %))) iterates))
                  :invalid-argument
                  (str "iterates must be at least 3 packed double arrays of the network's size " n
                       ", got " (count iterates) (when (seq iterates) " of other sizes or types"))
                  {:path [:iterates] :value (count iterates) :allowed (str "3 or more double arrays of length " n)})
    w))

(defn oscillation-subspace
  "The subspace the iterates theta_0 .. theta_w oscillate in and how it lines up
  with the top Hessian eigenvectors and with the modes whose curvature is above
  the stability threshold (doc/science.md §6 [EOS]: mode i oscillates once
  2/eta < S_i).

  The differences theta_(t+1) - theta_t minus their mean over the window (the
  drift) form an n x w matrix; its singular values sigma_1 >= ... measure the
  oscillation along each direction, and the dimension is the number with
  sigma_m > :rel-tol sigma_1 and sigma_m > 1e-12 sqrt(w) (1 + ||theta_w||) (a
  converged run has dimension 0). The alignments are the cosines of the
  principal angles between that subspace and (a) the span of the top-k
  eigenvectors of the Hessian averaged over the iterates (along a swing the top
  eigenvector of the Hessian at one iterate changes from one iterate to the
  next; the average is the curvature the orbit feels), (b) the span of the
  mode directions d_ii (namespace docstring, at the mean iterate) of the modes
  whose curvature d_ii^T H d_ii / ||d_ii||^2, largest over the iterates, exceeds
  :threshold: a mode that has settled has its fixed point's curvature, below
  2/eta, while one swinging about its fixed point passes through points of
  higher curvature than the fixed point's S_i > 2/eta. A cosine near 1 is a
  shared direction.

  net is the network (its params are ignored: theta_w is used); iterates a seq of
  at least 3 packed double arrays, consecutive steps for GD's period-2 swings.
  Options: :rel-tol (1e-3); :k (the dimension) Hessian eigenvectors, by Lanczos
  with :tol (1e-8), :max-iter and :seed (0); :threshold (nil) the curvature
  above which a mode counts (2/eta for GD: dlnlab.metrics/stability-threshold);
  without it (b) is left out.
  Returns {:dimension m :window w :singular-values [sigma ...] :rel-tol
  :hessian {:values [of the averaged Hessian] :cosines [...]} :modes {:curvatures [largest over the iterates, per target mode]
  :above [i ...] :threshold t :cosines [...]}} (:modes nil without a target or a
  threshold); cosines descending, min of the two dimensions of them.
  Throws ex-info (:invalid-argument) for fewer than 3 iterates or ones of the
  wrong size."
  ([net iterates] (oscillation-subspace net iterates {}))
  ([net iterates {:keys [rel-tol k threshold] :or {rel-tol 1e-3} :as opts}]
   (let [n (engine/size net)
         w (long (check-iterates n iterates))
         its (vec iterates)
         ^doubles last-it (peek its)
         d (double-array (* n w))
         mean (double-array n)]
     (dotimes [t w]
       (let [^doubles a (its t) ^doubles b (its (inc t)) off (* t n)]
         (dotimes [i n] (aset d (+ off i) (- (aget b i) (aget a i))))))
     (dotimes [i n]
       (let [mu (/ (double (loop [t 0 acc 0.0] (if (== t w) acc (recur (inc t) (+ acc (aget d (+ i (* t n))))))))
                   (double w))]
         (dotimes [t w] (aset d (+ i (* t n)) (- (aget d (+ i (* t n))) mu)))))
     (doseq [^doubles a its] (Blas/axpy n (/ 1.0 (double (count its))) a 0 mean 0))
     (let [[kept ^doubles o s] (orthonormal-columns n w d (double rel-tol))
           floor (* 1e-12 (Math/sqrt (double w)) (+ 1.0 (Blas/nrm2 n last-it 0)))
           m (long (if (> (double (first s)) floor) (count (take-while #(> (double %) floor) (take kept s))) 0))
           at-mean (assoc net :params mean)
           kh (min n (long (or k m)))
           top (when (pos? kh)
                 (hessian/eigenvalues (mean-hessian net its)
                                      (assoc (select-keys opts [:tol :max-iter :seed]) :k kh :vectors? true)))
           hvecs (double-array (* n kh))
           _ (doseq [[c ^doubles v] (map vector (range) (:vectors top))] (System/arraycopy v 0 hvecs (* (long c) n) n))
           basis (metrics/target-basis net)
           modes (when (and basis threshold)
                   (let [r (long (:r basis))
                         ;; each mode's curvature at every iterate; the largest counts
                         per-iterate (for [^doubles p its]
                                       (let [at (assoc net :params p)
                                             factors (mode-factors at basis)]
                                         (mapv #(mode-curvature at factors %) (range r))))
                         curv (apply mapv (fn [& cs] (when (every? some? cs) (reduce max cs))) per-iterate)
                         above (vec (keep-indexed (fn [i c] (when (and c (> (double c) (double threshold))) i)) curv))
                         q (count above)
                         mean-factors (mode-factors at-mean basis)
                         dm (double-array (* n q))
                         _ (doseq [[c i] (map vector (range) above)]
                             (System/arraycopy (mode-direction at-mean mean-factors i) 0 dm (* (long c) n) n))
                         [qk ^doubles qb] (if (pos? q) (orthonormal-columns n q dm 0.0) [0 nil])]
                     {:curvatures curv :above above :threshold (double threshold)
                      :cosines (principal-cosines n m o qk qb)}))]
       {:dimension m :window w :rel-tol (double rel-tol) :singular-values s
        :hessian {:values (:values top []) :cosines (principal-cosines n m o kh hvecs)}
        :modes modes}))))

;; ---------------------------------------------------------------- the metric kinds

(defmethod kind/schema [:metric :eigvec-mode-overlap] [_ _]
  {:doc "Squared overlap (h . d_ij)^2/||d_ij||^2 of each top-k Hessian eigenvector h with each mode pair's direction d_ij = J^T(u_i v_j^T); nil where d_ij = 0."
   :keys (into [[:k {:spec ::spec/pos-int :default 3 :doc "how many eigenvectors"}]] metrics/lanczos-options)
   :cost :costly :shape "[[[overlap per j] per i] per eigenvector]"})

(defmethod metrics/measure :eigvec-mode-overlap [_ net ctx]
  (eigvec-mode-overlap net (assoc (dissoc (:options ctx) :every) :state (:state ctx))))

(defmethod kind/schema [:metric :oscillation-subspace] [_ _]
  {:doc (str "Dimension of the subspace the iterates oscillate in over the last :window steps (SVD of the centered"
             " differences), and the cosines of its principal angles with the top Hessian eigenvectors and with the"
             " modes above the stability threshold; needs every step (:every 1), value on the row completing each"
             " window, nil between.")
   :keys (into [[:window {:spec ::spec/pos-int :default 32 :doc "differences per window (1 counts as 2)"}]
                [:rel-tol {:spec ::spec/positive :default 1e-3 :doc "a direction counts when its singular value exceeds rel-tol x the largest"}]]
               metrics/lanczos-options)
   :cost :costly :shape "[dimension [cosine with top Hessian eigenvectors ...] [cosine with modes above threshold ...]], nil between windows"})

(defmethod metrics/measure :oscillation-subspace [_ net ctx]
  (let [{:keys [window] :or {window 32} :as opts} (dissoc (:options ctx) :every)
        w (max 2 (long window))
        state (or (:state ctx) (volatile! {}))
        step (:step ctx)
        {:keys [iterates fresh]} (get @state ::window)
        iterates (vec (take-last (inc w) (conj (if (= step (:step (meta (peek iterates)))) (pop iterates) (or iterates []))
                                                (with-meta [(:params net)] {:step step}))))
        fresh (inc (long (or fresh 0)))
        due? (and (== (count iterates) (inc w)) (>= fresh w))]
    (vswap! state assoc ::window {:iterates iterates :fresh (if due? 0 fresh)})
    (when due?
      (let [r (oscillation-subspace net (map first iterates)
                                    (assoc (dissoc opts :window) :threshold (:stability-threshold ctx)))]
        [(:dimension r) (get-in r [:hessian :cosines]) (get-in r [:modes :cosines])]))))
