(ns dlnlab.theory.gd-map
  "The balanced per-mode GD map beyond the edge of stability (doc/science.md §6
  [EOS]): in the normalized variable x = a / s^(1/L) with r = lr S, one GD step
  is x <- x - (r/L) x^(L-1) (x^L - 1). Its orbits (iterated in the Java kernel
  Sde/gdMap), its 2-cycle and cycles of any period (Newton on the p-th iterate),
  the period of its attractor, the period-doubling thresholds r_2, r_4, ... with
  their Feigenbaum extrapolation, the zero crisis past which the orbit
  reaches x = 0, and the Lyapunov exponent of its orbits. Invalid arguments throw ex-info as dlnlab.theory's do."
  (:require [dlnlab.error :as error]
            [dlnlab.numeric :as numeric]
            [dlnlab.theory.common :refer [depth! ipow]])
  (:import [dlnlab.kernel Sde]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn gd-map
  "The normalized balanced per-mode GD map x <- x - (r/L) x^(L-1) (x^L - 1),
  r = lr S, x = a / s^(1/L) (doc/science.md §6)."
  ^double [r depth x]
  (let [l (depth! depth 1) r (double r) x (double x) m (ipow x (dec l))]
    (- x (* (/ r l) m (- (* m x) 1.0)))))

(defn- map-slope ^double [^double r ^long l ^double x]
  ;; d/dx [x - (r/L)(x^(2L-1) - x^(L-1))] = 1 - (r/L)((2L-1) x^(2L-2) - (L-1) x^(L-2))
  (- 1.0 (* (/ r l) (- (* (- (* 2.0 l) 1.0) (ipow x (- (* 2 l) 2)))
                       (* (- l 1.0) (ipow x (- l 2)))))))

(defn two-cycle
  "The 2-cycle of the normalized GD map born from x = 1 at r = 2 (doc/science.md
  section 6): its lower point x- in (0, 1) is the first root of map(map(x)) - x below 1,
  found by scanning outward from 1 and bisection; x+ = map(x-).

  Takes r and the depth. Returns {:points [x- x+] :multiplier (product of the map's
  derivatives at both points; stable when |multiplier| < 1)}, or nil when r <= 2 or no
  such root exists in (0, 1)."
  [r depth]
  (let [l (depth! depth 1) r (double r)]
    (when (> r 2.0)
      (let [g (fn ^double [^double x] (- (gd-map r l (gd-map r l x)) x))
            ;; G < 0 just below 1 (G'(1) = (1 - r)^2 - 1 > 0); the cycle point is where G turns positive.
            root (loop [h 1e-9 prev (- 1.0 1e-12)]
                   (let [x (- 1.0 h)]
                     (cond
                       (<= x 0.0) nil
                       (pos? (.invokePrim ^clojure.lang.IFn$DD g x)) (numeric/bisect g x prev)
                       :else (recur (* h 1.05) x))))]
        (when root
          (let [lo (double root) up (gd-map r l lo)]
            (when (and (> up 1.0) (> (Math/abs (- up lo)) 1e-12))
              {:points [lo up]
               :multiplier (* (map-slope r l lo) (map-slope r l up))})))))))

(defn- orbit-tail
  "Iterates the normalized map from x0 for n steps and returns the last m iterates as
  a double array, or nil if the orbit leaves [-1e6, 1e6]."
  [r l x0 n m]
  (let [r (double r) l (long l) x0 (double x0) n (long n) m (long m)
        out (double-array (+ n m 1))]
    (Sde/gdMap (int l) r x0 (int (+ n m)) out 0)
    (when (every? #(< (Math/abs (double %)) 1e6) (take-last (inc m) out))
      (java.util.Arrays/copyOfRange out (int n) (int (+ n m))))))

(defn attractor-period
  "Period of the attractor of the normalized GD map reached from x0 (doc/science.md
  section 6): the smallest p in 1, 2, 4, ... max-period with |x_{n+p} - x_n| < tolerance
  over the last 4 max-period iterates after a transient.

  Options: :x0 (0.5), :transient (20000), :max-period (64), :tolerance (1e-7).
  Returns p, :diverged when the orbit escapes, or :aperiodic."
  ([r depth] (attractor-period r depth {}))
  ([r depth {:keys [x0 transient max-period tolerance]
             :or {x0 0.5 transient 20000 max-period 64 tolerance 1e-7}}]
   (let [l (depth! depth 1) mp (long max-period)
         tail ^doubles (orbit-tail (double r) l (double x0) (long transient) (* 5 mp))]
     (if (nil? tail)
       :diverged
       (or (first (for [p (take-while #(<= (long %) mp) (iterate #(* 2 (long %)) 1))
                        :when (every? (fn [n] (< (Math/abs (- (aget tail (+ (long n) (long p))) (aget tail n)))
                                                 (double tolerance)))
                                      (range (* 4 mp)))]
                    p))
           :aperiodic)))))

(defn- iterate-map-p
  "[map^p(x) (map^p)'(x)] for the normalized map."
  [^double r ^long l ^long p ^double x]
  (loop [k 0 y x d 1.0]
    (if (< k p)
      (recur (inc k) (gd-map r l y) (* d (map-slope r l y)))
      [y d])))

(defn- newton-cycle
  "A solution of map^p(x) = x near x by Newton (to 1e-14 relative), or nil when
  Newton fails within 200 steps."
  [^double r ^long l ^long p ^double x]
  (loop [x x k 0]
    (let [[y d] (iterate-map-p r l p x)
          step (/ (- (double y) x) (- (double d) 1.0))
          x' (- x step)]
      (cond
        (or (not (Double/isFinite x')) (>= k 200)) nil
        (< (Math/abs step) (* 1e-14 (max 1.0 (Math/abs x')))) x'
        :else (recur x' (inc k))))))

(defn- minimal-period?
  "Whether x, a point of a p-cycle (p a power of 2), is not on a cycle of period p/2."
  [^double r ^long l ^long p ^double x]
  (or (== p 1)
      (> (Math/abs (- (double (first (iterate-map-p r l (quot p 2) x))) x))
         (* 1e-8 (max 1.0 (Math/abs x))))))

(defn- polish-cycle
  "A point of a p-cycle of the normalized map at r by Newton on map^p(x) - x from x,
  or nil when Newton fails or lands on a cycle of period p/2."
  [^double r ^long l ^long p ^double x]
  (when-let [x' (newton-cycle r l p x)]
    (when (minimal-period? r l p x') x')))

(defn- cycle-multiplier ^double [^double r ^long l ^long p ^double x]
  (double (second (iterate-map-p r l p x))))

(defn period-doubling-thresholds
  "Period-doubling thresholds r_2, r_4, r_8, ... of the normalized GD map at depth L
  (doc/science.md §6): r_{2p} is where the attracting p-cycle loses stability to a
  2p-cycle, i.e. where its multiplier reaches -1. The fixed point x = 1 gives r_2; each
  new p-cycle is taken from the attractor a little above the previous threshold
  (iterating the map, then Newton on map^p(x) = x), continued in r by Newton while its
  multiplier stays above -1, and the crossing located by bisection in r. The attractor's
  period changes at these r (see attractor-period).

  Options: :count (4) thresholds. Returns a vector [r_2 r_4 ...]."
  ([depth] (period-doubling-thresholds depth {}))
  ([depth {:keys [count] :or {count 4}}]
   (let [l (depth! depth 1)
         crossing (fn [^long p ^double r0 ^double x0 ^double h0]
                    ;; march r up from r0 (cycle point x0) until the multiplier drops below -1, then bisect
                    (loop [r r0 x x0 h h0 n 0]
                      (when (> n 10000) (error/fail! :internal "period-doubling threshold not found" {:depth l :period p}))
                      (let [r' (+ r h)
                            x' (polish-cycle r' l p x)]
                        (cond
                          (nil? x') (recur r x (* 0.5 h) (inc n))
                          (> (cycle-multiplier r' l p x') -1.0) (recur r' (double x') (* 1.5 h) (inc n))
                          :else
                          (loop [lo r xlo x hi r' k 0]
                            (if (or (>= k 80) (<= (- hi lo) (* 4.0 (Math/ulp hi))))
                              [(* 0.5 (+ lo hi)) xlo]
                              (let [mid (* 0.5 (+ lo hi))
                                    xm (polish-cycle mid l p xlo)]
                                (cond
                                  (nil? xm) (recur lo xlo mid (inc k))
                                  (> (cycle-multiplier mid l p xm) -1.0) (recur mid (double xm) hi (inc k))
                                  :else (recur lo xlo mid (inc k))))))))))]
     (loop [k 1 acc [] r-prev 1.0 x-prev 1.0 gap 0.5]
       (if (> k (long count))
         acc
         (let [p (bit-shift-left 1 (dec k))]
           (if (== p 1)
             (let [[r x] (crossing 1 1.0 1.0 0.05)]
               (recur (inc k) (conj acc r) (double r) (double x) 0.5))
             (let [delta (* 0.02 (double gap))
                   r0 (+ (double r-prev) delta)
                   tail ^doubles (orbit-tail r0 l (+ (double x-prev) 1e-3) (* 20000 p) p)
                   x0 (when tail (polish-cycle r0 l p (aget tail 0)))]
               (when-not x0 (error/fail! :internal "period-doubling cycle not found" {:depth l :period p :r r0}))
               (let [[r x] (crossing p r0 (double x0) delta)]
                 (recur (inc k) (conj acc r) (double r) (double x) (- (double r) (double r-prev))))))))))))

(defn gd-map-derivative
  "d/dx of `gd-map`: 1 - (r/L) ((2L-1) x^(2L-2) - (L-1) x^(L-2)). Returns a double."
  ^double [r depth x]
  (map-slope (double r) (depth! depth 1) (double x)))

(defn gd-map-orbit
  "Iterates `gd-map` from x0 (in the Java kernel, the loop Sde/gdMap): drops the
  first n-drop iterates and returns the next n-keep as a vector of doubles, cut
  before the first non-finite value (an orbit that escapes)."
  [r depth x0 n-drop n-keep]
  (let [l (depth! depth 1) n-drop (long n-drop) n-keep (long n-keep)
        out (double-array (+ n-drop n-keep 1))]
    (Sde/gdMap (int l) (double r) (double x0) (int (+ n-drop n-keep)) out 0)
    (vec (take-while #(Double/isFinite (double %))
                     (java.util.Arrays/copyOfRange out (int n-drop) (int (+ n-drop n-keep)))))))

(defn gd-map-lyapunov
  "The Lyapunov exponent of `gd-map` at r (doc/science.md §6): the mean of
  ln |map'(x_t)| (`gd-map-derivative`) over n iterates of the orbit from x0 after
  a transient, per step. Negative on an attracting p-cycle (there it tends to
  ln |multiplier| / p, `gd-map-cycle`), zero at each period doubling, positive in
  the chaotic band; it crosses zero for good at the accumulation point of the
  doubling cascade (:r-inf of `doubling-points`).

  Options: :x0 (0.9), :transient (4000), :n (100000) iterates averaged.
  Returns a double, or nil when the orbit escapes (leaves the finite numbers)."
  ([r depth] (gd-map-lyapunov r depth {}))
  ([r depth {:keys [x0 transient n] :or {x0 0.9 transient 4000 n 100000}}]
   (let [l (depth! depth 1) r (double r) n (long n)
         orbit (gd-map-orbit r l x0 transient n)]
     (when (== n (count orbit))
       (/ (double (reduce (fn [^double acc x] (+ acc (Math/log (Math/abs (map-slope r l (double x)))))) 0.0 orbit))
          n)))))

(defn gd-map-cycle
  "The p-cycle of `gd-map` near its attractor at r (doc/science.md §6): iterates
  from :x0 (0.9) for :transient steps (4000), then solves map^p(x) = x by Newton.
  Any p >= 1 (not only powers of 2: the period-3 window of the chaotic band too).

  Returns {:points [x_0 ... x_(p-1)] (in orbit order) :multiplier (product of the
  map's derivatives along the cycle; stable when |multiplier| < 1, period doubling
  when it passes -1) :minimal? (false when the solution is a cycle of a period
  dividing p)}, or nil when the orbit escapes or Newton does not converge."
  ([r depth p] (gd-map-cycle r depth p {}))
  ([r depth p {:keys [x0 transient] :or {x0 0.9 transient 4000}}]
   (let [l (depth! depth 1) r (double r) p (long p)
         _ (when (< p 1)
             (error/fail! :invalid-argument (str "[:p] = " (error/show p) " is not allowed: the period is an integer >= 1.")
                          {:path [:p] :value p :allowed "an integer >= 1"}))
         start (peek (gd-map-orbit r l x0 transient 1))
         x (when start (newton-cycle r l p (double start)))]
     (when x
       (let [x (double x)
             pts (vec (take p (iterate #(gd-map r l %) x)))]
         {:points pts
          :multiplier (cycle-multiplier r l p x)
          :minimal? (or (== p 1)
                        (every? (fn [^long q] (> (Math/abs (- (double (first (iterate-map-p r l q x))) x))
                                                  (* 1e-9 (max 1.0 (Math/abs x)))))
                                (filter #(zero? (rem p (long %))) (range 1 p))))})))))

(defn gd-map-zero-crisis
  "The r at which the chaotic band of `gd-map` first reaches x = 0 (doc/science.md
  section 6): the critical point x_c (the map's local maximum in (0, 1)) maps to
  x_max = map(x_c), and the band [map(x_max), x_max] touches 0 when map(x_max) = 0.
  Beyond it, for odd L an orbit that lands at x < 0 creeps to the marginal fixed
  point 0 (the mode is lost: pi -> 0); for even L the band merges with its mirror
  image (the map is odd). Nested bisections: x_c where the derivative crosses 0 on
  (0, 1), and r on [2.7, 6]. Depth >= 2. Returns a double."
  ^double [depth]
  (let [l (depth! depth 2)
        xc (fn ^double [^double r] (numeric/bisect (fn ^double [^double x] (map-slope r l x)) 1e-9 1.0))]
    (numeric/bisect (fn ^double [^double r] (gd-map r l (gd-map r l (xc r)))) 2.7 6.0)))

(def ^:private ^:const feigenbaum-delta 4.66920160910299)

(defn doubling-points
  "The period-doubling points of the per-mode map at depth L as a map {:r2 ..
  :r4 .. :r8 .. ...} from `period-doubling-thresholds`, plus :r-inf, the
  Feigenbaum extrapolation r_p + (r_p - r_(p/2)) / (delta - 1) of the last two,
  and :zero-crisis (`gd-map-zero-crisis`) (doc/science.md §6 [EOS]).
  Options: :count (5): r_2 .. r_32."
  ([depth] (doubling-points depth {}))
  ([depth {:keys [count] :or {count 5}}]
   (let [rs (period-doubling-thresholds depth {:count count})
         n (clojure.core/count rs)
         m (into {} (map-indexed (fn [k r] [(keyword (str "r" (bit-shift-left 2 (long k)))) r]) rs))]
     (cond-> m
       (>= n 2) (assoc :r-inf (let [a (double (nth rs (- n 2))) b (double (peek rs))]
                                (+ b (/ (- b a) (- feigenbaum-delta 1.0)))))
       true (assoc :zero-crisis (gd-map-zero-crisis depth))))))
