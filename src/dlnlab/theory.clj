(ns dlnlab.theory
  "Analytic predictions of doc/science.md sections 4-7, one pure function per
  formula: per-mode gradient flow and learning times, Hessian eigenvalues and
  sharpness at balanced minima, multi-pathway sharpness and the re-balancing window,
  the winner-takes-all invariant and the split it predicts, the balancing-gap factor,
  oscillating modes. SGD as a per-mode SDE (noise, drift, diffusion, the stationary
  density and its approximations) is dlnlab.theory.sde; the per-mode GD map beyond
  the edge of stability (orbits, cycles, period doubling, the zero crisis) is
  dlnlab.theory.gd-map.

  Conventions: s > 0 is a target singular value, pi = a^L a mode's strength, L the
  depth, lr the learning rate, B the batch size, sigma the label noise; SDE time is
  t = lr * steps. Where a formula needs numerics (quadrature, root finding, from
  dlnlab.numeric) the method is stated in the docstring. Invalid arguments throw ex-info with
  {:path [key] :value v :allowed description}."
  (:require [dlnlab.error :as error]
            [dlnlab.numeric :as numeric]
            [dlnlab.theory.common :refer [depth! fraction! ipow non-negative! positive!]]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------------------
;; Section 4: per-mode gradient flow

(defn gd-step
  "One step of balanced per-layer GD for one mode (doc/science.md §4):
  a <- a - lr a^(L-1) (a^L - s).

  Takes {:s :depth :lr} and the per-layer value a; returns the next a."
  ^double [{:keys [s depth lr]} a]
  (let [s (positive! :s s) l (depth! depth 1) lr (positive! :lr lr) a (double a)
        m (ipow a (dec l))]
    (- a (* lr m (- (* m a) s)))))

(defn gradient-flow-time
  "Time for gradient flow d pi/dt = L pi^(2-2/L) (s - pi) (doc/science.md §4) to take
  a mode from pi0 to pi, where pi lies between pi0 and s.

  In a = pi^(1/L), dt = da / (a^(L-1) (s - a^L)) = (1/s) [a^(1-L) + a/(s - a^L)] da. The
  first part integrates in closed form; for L = 1, 2 so does the second; for L > 2 its
  logarithmic singularity at a* = s^(1/L) is subtracted in closed form and the smooth
  rest integrated by adaptive Gauss-Kronrod.

  Takes {:s :pi0 :depth} (depth >= 1) and pi. Returns the time (0 at pi = pi0,
  ##Inf at pi = s). Throws ex-info when pi is not between pi0 and s."
  ^double [{:keys [s pi0 depth]} pi]
  (let [s (positive! :s s) p0 (positive! :pi0 pi0) l (depth! depth 1) p (positive! :pi pi)]
    (when-not (or (<= p0 p s) (<= s p p0))
      (error/fail! :invalid-argument (format "[:pi] = %s is not allowed: it must lie between pi0 = %s and s = %s." (error/show pi) p0 s)
                   {:path [:pi] :value pi :allowed (format "between pi0 = %s and s = %s" p0 s)}))
    (cond
      (== p p0) 0.0
      (== p s) Double/POSITIVE_INFINITY
      (== l 1) (Math/log (/ (- s p0) (- s p)))
      (== l 2) (/ (Math/log (/ (* p (- s p0)) (* p0 (- s p)))) (* 2.0 s))
      :else
      (let [inv-l (/ 1.0 l)
            a0 (Math/pow p0 inv-l) a (Math/pow p inv-l) astar (Math/pow s inv-l)
            first-part (/ (- (Math/pow a0 (- 2.0 l)) (Math/pow a (- 2.0 l))) (- l 2.0))
            ;; s - x^L = (a* - x) P(x), P(x) = sum_k a*^(L-1-k) x^k; g(x) = x / P(x).
            poly (fn ^double [^double x]
                   (loop [k 0 acc 0.0 xp 1.0]
                     (if (< k l)
                       (recur (inc k) (+ acc (* (ipow astar (- l 1 k)) xp)) (* xp x))
                       acc)))
            gstar (/ astar (double (poly astar)))
            smooth (fn ^double [^double x]
                     (let [d (- astar x)]
                       (if (zero? d) 0.0 (/ (- (/ x (double (poly x))) gstar) d))))
            log-part (* (- gstar) (Math/log (/ (Math/abs (- astar a)) (Math/abs (- astar a0)))))]
        (/ (+ first-part (numeric/integrate smooth a0 a) log-part) s)))))

(defn gradient-flow-pi
  "Strength pi(t) of one mode under gradient flow d pi/dt = L pi^(2-2/L) (s - pi)
  (doc/science.md §4).

  L = 2: the closed form pi(t) = s e^(2st) / (e^(2st) - 1 + s/pi0); L = 1:
  s + (pi0 - s) e^(-t); L > 2: the exact time integral of gradient-flow-time inverted
  by bisection.

  Takes {:s :pi0 :depth} (depth >= 1) and t >= 0. Returns pi(t)."
  ^double [{:keys [s pi0 depth] :as mode} t]
  (let [s (positive! :s s) p0 (positive! :pi0 pi0) l (depth! depth 1) t (non-negative! :t t)]
    (cond
      (or (zero? t) (== p0 s)) p0
      (== l 1) (+ s (* (- p0 s) (Math/exp (- t))))
      (== l 2) (let [e (Math/exp (* -2.0 s t))]
                 ;; s e^(2st) / (e^(2st) - 1 + s/pi0), divided through by e^(2st).
                 (/ s (+ 1.0 (* e (- (/ s p0) 1.0)))))
      :else
      (let [f (fn ^double [^double p] (- (gradient-flow-time mode p) t))]
        (if (< p0 s)
          (let [hi (- s (* s 1e-15))]
            (if (neg? (.invokePrim ^clojure.lang.IFn$DD f hi)) hi (numeric/bisect f p0 hi)))
          (let [lo (+ s (* s 1e-15))]
            (if (neg? (.invokePrim ^clojure.lang.IFn$DD f lo)) lo (numeric/bisect f lo p0))))))))

(defn learning-time
  "Time gradient flow needs to learn a mode (doc/science.md §4).

  Options: :fraction (0.5): the mode counts as learned at pi = fraction * s;
  :method (:exact): :exact is the exact first-passage time of gradient flow to
  fraction * s (0 when pi0 is already there); :asymptotic is doc/science.md's small-pi0
  formula, ln(s/pi0)/(2s) for L = 2 and pi0^(-(1-2/L)) / ((L-2) s) for L > 2, which
  ignores the fraction.

  Takes {:s :pi0 :depth}. Returns the time."
  (^double [mode] (learning-time mode {}))
  (^double [{:keys [s pi0 depth] :as mode} {:keys [fraction method] :or {fraction 0.5 method :exact}}]
   (let [s (positive! :s s) p0 (positive! :pi0 pi0) f (fraction! :fraction fraction)]
     (case method
       :exact (if (>= p0 (* f s)) 0.0 (gradient-flow-time mode (* f s)))
       :asymptotic (let [l (depth! depth 2)]
                     (if (== l 2)
                       (/ (Math/log (/ s p0)) (* 2.0 s))
                       (/ (Math/pow p0 (- (- 1.0 (/ 2.0 l)))) (* (- l 2.0) s))))
       (error/fail! :invalid-argument (str "[:method] = " (error/show method) " is not allowed: one of :exact, :asymptotic.")
                    {:path [:method] :value method :allowed "one of :exact, :asymptotic"})))))

;; ---------------------------------------------------------------------------
;; Section 5: sharpness

(defn single-path-sharpness
  "Sharpness L s^(2-2/L) of a single balanced chain at the global minimum of target
  strength s (doc/science.md §5): the top Hessian eigenvalue S_1 when s = s_1."
  ^double [s depth]
  (let [s (positive! :s s) l (depth! depth 1)]
    (* l (Math/pow s (- 2.0 (/ 2.0 l))))))

(defn hessian-eigenvalues-at-minimum
  "Nonzero Hessian eigenvalues at a balanced global minimum of matrix factorization
  with one chain (doc/science.md §5): for each pair (i, j) of a left and a right
  singular direction of the target, lambda_ij = sum_{l=1..L} s_i^(2(L-l)/L) s_j^(2(l-1)/L)
  (with 0^0 = 1), the eigenvalue of the direction u_i v_j^T.

  Takes the target's singular values (>= 0) and the depth. Options: :dims [dout din]
  pads the singular values with zeros to dout left and din right directions (default:
  square, as many as given). Hidden widths are assumed at least the target's rank.
  Returns a vector of {:i :j :value}, sorted by decreasing value."
  ([singular-values depth] (hessian-eigenvalues-at-minimum singular-values depth {}))
  ([singular-values depth {:keys [dims]}]
   (let [l (depth! depth 1)
         sv (mapv #(non-negative! :singular-values %) singular-values)
         [dout din] (or dims [(count sv) (count sv)])
         _ (when-not (and (integer? dout) (integer? din) (>= (long dout) (count sv)) (>= (long din) (count sv)))
             (error/fail! :invalid-argument (str "[:dims] = " (error/show dims) " is not allowed: [dout din] needs both >= "
                                                 (count sv) ", the number of singular values.")
                          {:path [:dims] :value dims :allowed (str "[dout din] with both >= the number of singular values " (count sv))}))
         left (into sv (repeat (- (long dout) (count sv)) 0.0))
         right (into sv (repeat (- (long din) (count sv)) 0.0))
         pw (fn ^double [^double x ^double e] (if (zero? e) 1.0 (Math/pow x e)))]
     (->> (for [i (range (count left)) j (range (count right))
                :let [si (double (left i)) sj (double (right j))
                      v (reduce + (for [k (range 1 (inc l))]
                                    (* (double (pw si (/ (* 2.0 (- l (long k))) l)))
                                       (double (pw sj (/ (* 2.0 (dec (long k))) l))))))]
                :when (> (double v) 0.0)]
            {:i i :j j :value v})
          (sort-by (comp - :value))
          vec))))

(defn multi-pathway-sharpness
  "Sharpness L sum_k pi_k^(2-2/L) of one mode split over balanced pathways with
  strengths pi_k (doc/science.md §5)."
  ^double [pathway-strengths depth]
  (let [l (depth! depth 1)]
    (* l (double (reduce + (map #(Math/pow (non-negative! :pathway-strengths %) (- 2.0 (/ 2.0 l)))
                                pathway-strengths))))))

(defn equal-split-sharpness
  "Sharpness L s^(2-2/L) K^(2/L-1) of a mode of strength s split equally over K
  balanced pathways (doc/science.md §5)."
  ^double [s pathways depth]
  (let [l (depth! depth 1)
        k (if (and (integer? pathways) (>= (long pathways) 1))
            (long pathways)
            (error/fail! :invalid-argument (str "[:pathways] = " (error/show pathways) " is not allowed: an integer >= 1.")
                         {:path [:pathways] :value pathways :allowed "an integer >= 1"}))]
    (* (single-path-sharpness s l) (Math/pow k (- (/ 2.0 l) 1.0)))))

(defn rebalancing-window
  "Learning rates that rule out the single-path minimum but not the equal split over K
  pathways [MP] (doc/science.md §5): 2/S_single < lr < 2/S_split.

  Returns {:lr-min 2/S_single :lr-max 2/S_split :sharpness-single .. :sharpness-split ..};
  the window is empty (lr-min >= lr-max) for K = 1 or L <= 2."
  [s pathways depth]
  (let [single (single-path-sharpness s depth)
        split (equal-split-sharpness s pathways depth)]
    {:lr-min (/ 2.0 single) :lr-max (/ 2.0 split)
     :sharpness-single single :sharpness-split split}))

(defn winner-takes-all-invariants
  "The quantities gradient flow conserves for balanced pathways of one mode
  (doc/science.md §5, d pi_k/dt = L pi_k^(2-2/L) (s - sum_j pi_j)):
  pi_k^(-(L-2)/L) - pi_0^(-(L-2)/L) for L > 2, the ratio pi_k / pi_0 for L = 2.

  Takes the pathway strengths (> 0) and the depth (>= 2). Returns a vector, one entry
  per pathway (the first is 0, or 1 at L = 2)."
  [pathway-strengths depth]
  (let [l (depth! depth 2)
        ps (mapv #(positive! :pathway-strengths %) pathway-strengths)
        p0 (double (first ps))]
    (if (== l 2)
      (mapv #(/ (double %) p0) ps)
      (let [b (/ (- l 2.0) l)]
        (mapv #(- (Math/pow (double %) (- b)) (Math/pow p0 (- b))) ps)))))

(defn winner-takes-all-split
  "The final strengths gradient flow gives balanced pathways of one mode
  (doc/science.md §5): the point with sum_k pi_k = s and the conserved differences
  of pi_k^(-(L-2)/L) of the initial strengths (proportional split at L = 2), found by
  bisection on the common offset.

  Takes the initial pathway strengths (> 0), s and the depth (>= 2). Returns the
  vector of final strengths."
  [initial-strengths s depth]
  (let [l (depth! depth 2)
        s (positive! :s s)
        ps (mapv #(positive! :initial-strengths %) initial-strengths)]
    (if (== l 2)
      (let [total (double (reduce + ps))] (mapv #(* s (/ (double %) total)) ps))
      (let [b (/ (- l 2.0) l)
            ys (mapv #(Math/pow (double %) (- b)) ps)
            ymin (double (reduce min ys))
            ;; final y_k = ys_k + c; c > -ymin; total strength decreases in c.
            total (fn ^double [^double c] (double (reduce + (map #(Math/pow (+ (double %) c) (/ -1.0 b)) ys))))
            f (fn ^double [^double c] (- (double (total c)) s))
            lo (loop [d 1e-300] (let [c (+ (- ymin) (* (max 1.0 (Math/abs ymin)) d))]
                                  (if (or (pos? (double (f c))) (> d 0.5)) c (recur (* d 1e3)))))
            hi (loop [c (max 1.0 (Math/abs ymin))] (if (neg? (double (f c))) c (recur (* 2.0 c))))
            c (numeric/bisect f lo hi)]
        (mapv #(Math/pow (+ (double %) c) (/ -1.0 b)) ys)))))

;; ---------------------------------------------------------------------------
;; Section 6: beyond the edge of stability

(defn balancing-gap-factor
  "Factor b'/b = 1 - lr^2 e^2 pi^2 / (sigma_i^2 sigma_j^2) by which one GD step
  multiplies the balancing gap b = sigma_i^2 - sigma_j^2 between two layers of a
  scalar product pi with error e = pi - s (doc/science.md §6).

  Takes {:lr :pi :s :sigma-i :sigma-j}."
  ^double [{:keys [lr pi s sigma-i sigma-j]}]
  (let [lr (non-negative! :lr lr) pi (double pi) e (- pi (double s))
        si (double sigma-i) sj (double sigma-j)]
    (when (or (zero? si) (zero? sj))
      (error/fail! :invalid-argument (str "[:sigma-i] and [:sigma-j] = " (error/show [sigma-i sigma-j]) " are not allowed: both must be nonzero.")
                   {:path [:sigma-i] :value [sigma-i sigma-j] :allowed "nonzero layer values"}))
    (- 1.0 (/ (* lr lr e e pi pi) (* si si sj sj)))))

(defn oscillating-mode-count
  "Number of modes that oscillate under GD with learning rate lr: #{i : lr > 2/S_i},
  S_i = L s_i^(2-2/L) (doc/science.md §6)."
  ^long [singular-values depth lr]
  (let [lr (positive! :lr lr)]
    (count (filter #(> lr (/ 2.0 (single-path-sharpness % depth))) singular-values))))

;; ---------------------------------------------------------------------------
;; Formulas of the studies (dlnlab.studies.*): the multi-pathway window and
;; edge split [MP], the EoS thresholds [EOS], the lazy and rich loss
;; exponents [BP] (doc/science.md §4-§6 and §2; the linearized stationary
;; variance [SDE] is in dlnlab.theory.sde).

(defn pathway-window
  "`rebalancing-window` of one mode of strength s over K pathways of depth L
  (doc/science.md §5 [MP]) with :empty? added: true when lr-max <= lr-min (L = 2
  or K = 1). Throws ex-info for L < 1, s <= 0 or K < 1."
  [L s K]
  (let [{:keys [lr-min lr-max] :as w} (rebalancing-window s K L)]
    (assoc w :empty? (<= (double lr-max) (* (double lr-min) (+ 1.0 1e-12))))))

(defn edge-split
  "The split of one mode of strength s over K pathways of depth L at which GD
  with learning rate lr ends after edge-of-stability re-balancing: the split
  whose sharpness L sum_k pi_k^(2-2/L) equals 2/lr (doc/science.md §5 [MP]).

  For K = 2 that split is unique. For K > 2 it adds an assumption of ours: the
  oscillations cut the largest pathways down first, so the split has m equal
  leading pathways of share q, one pathway with the rest 1 - m q <= q and the
  others at zero (water-filling from the top), m the smallest count for which
  such a split reaches sharpness 2/lr; for K > 2 only the sharpness is a firm
  prediction. q by bisection to 4 ulp.
  Returns {:regime r :shares [share per pathway, descending] :dominant-share q
  :active m}, r one of :single (lr <= 2/S_single: shares nil), :split (inside
  the window) and :no-stable-split (lr >= 2/S_split or an empty window).
  Throws ex-info for L < 2, s <= 0, K < 1 or lr <= 0."
  [L s K lr]
  (depth! L 2)
  (let [lr (positive! :lr lr)
        {:keys [lr-min lr-max empty?]} (pathway-window L s K)
        beta (- 2.0 (/ 2.0 (double L)))
        ;; normalized target: sum_k share_k^beta = T
        T (/ 2.0 (* lr (single-path-sharpness s L)))]
    (cond
      (<= lr (double lr-min)) {:regime :single :shares nil :dominant-share nil :active 1}
      (or empty? (>= lr (double lr-max))) {:regime :no-stable-split :shares nil :dominant-share nil :active nil}
      :else
      (let [K (long K)
            m (long (or (first (filter (fn [^long m] (>= T (Math/pow (double (inc m)) (- 1.0 beta)))) (range 1 K)))
                        (dec K)))
            f (fn ^double [^double q] (- (+ (* m (Math/pow q beta)) (Math/pow (max 0.0 (- 1.0 (* m q))) beta)) T))
            q (numeric/bisect f (/ 1.0 (double (inc m))) (/ 1.0 (double m)))
            rest (max 0.0 (- 1.0 (* m q)))]
        {:regime :split
         :shares (vec (concat (repeat m q) [rest] (repeat (- K m 1) 0.0)))
         :dominant-share q
         :active (if (pos? rest) (inc m) m)}))))

(defn plateau-strength
  "The initial total strength pi_0 of a mode of strength s whose gradient-flow
  learning time from small initialization is about t0 (doc/science.md §4):
  pi_0^(-(1-2/L)) / ((L-2) s) = t0 for L > 2 and ln(s/pi_0)/(2s) = t0 for L = 2,
  the inverse of `learning-time` with :method :asymptotic.
  Returns a double. Throws ex-info for L < 2 or s, t0 not positive."
  ^double [L s t0]
  (let [L (depth! L 2) s (positive! :s s) t0 (positive! :t0 t0)]
    (if (= L 2)
      (* s (Math/exp (- (* 2.0 s t0))))
      (Math/pow (* (double (- L 2)) s t0) (- (/ (double L) (double (- L 2))))))))

(defn oscillation-thresholds
  "The learning rates 2/S_i, S_i = L s_i^(2-2/L) (`single-path-sharpness`), past
  which each target mode oscillates (doc/science.md §6 [EOS]), in the order of
  targets. Returns a vector of doubles."
  [depth targets]
  (mapv #(/ 2.0 (single-path-sharpness (double %) depth)) targets))

(defn cross-threshold
  "2/lambda_ij for the cross direction u_i v_j^T of modes i and j (0-based) at
  the balanced minimum (`hessian-eigenvalues-at-minimum`, doc/science.md §5).
  Returns a double."
  ^double [depth targets i j]
  (/ 2.0 (double (some #(when (and (= i (:i %)) (= j (:j %))) (:value %))
                       (hessian-eigenvalues-at-minimum targets depth)))))

(defn lazy-exponent
  "Asymptotic time exponent of the loss of a linear model trained by gradient
  flow on x ~ N(0, Sigma) with Sigma eigenvalues k^-alpha (alpha > 1) and an
  isotropic teacher and initial error: l(t) ~ (1/2) sum_k k^-alpha e^(-2 c k^-alpha t)
  ~ t^-(alpha - 1)/alpha as D -> infinity (a derivation of ours: the modes with
  k^-alpha t >> 1 are learned, the rest hold sum_(k > t^(1/alpha)) k^-alpha;
  doc/science.md §2). Returns -(alpha - 1)/alpha."
  ^double [alpha]
  (let [a (double alpha)] (- (/ (- a 1.0) a))))

(defn rich-exponent
  "The accelerated exponent of the rich (feature-learning) regime that [BP]
  says its model recovers, from Bordelon, Atanasov & Pehlevan 2024 (\"How
  feature learning can improve neural scaling laws\"): with the lazy exponent
  -beta, the rich one is -2 beta/(1 + beta) for beta < 1. Quoted, not derived.
  Returns it for the lazy beta = (alpha - 1)/alpha of `lazy-exponent`."
  ^double [alpha]
  (let [b (- (lazy-exponent alpha))] (- (/ (* 2.0 b) (+ 1.0 b)))))
