(ns dlnlab.numeric
  "Numerical helpers with one owner each: adaptive quadrature (`integrate`,
  Gauss-Kronrod 7-15 as QUADPACK's QAG), root finding (`bisect`), maximization
  (`golden-max`), linear interpolation of rows (`interpolate`), and summary
  statistics (`mean-and-se`, `quantile-sorted`, `summary`, `histogram`,
  `ks-distance`); `finite?` is the one test for a finite number.")

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn finite?
  "True when x is a number that is neither NaN nor infinite."
  [x]
  (and (number? x) (Double/isFinite (double x))))

;; ---------------------------------------------------------------------------
;; Quadrature, root finding, maximization

(def ^:private ^"[D" gk-nodes
  (double-array [0.991455371120812639206854697526329 0.949107912342758524526189684047851
                 0.864864423359769072789712788640926 0.741531185599394439863864773280788
                 0.586087235467691130294144845693013 0.405845151377397166906606412076961
                 0.207784955007898467600689403773245 0.0]))

(def ^:private ^"[D" gk-weights
  (double-array [0.022935322010529224963732008058970 0.063092092629978553290700663189204
                 0.104790010322250183839876322541518 0.140653259715525918745189590510238
                 0.169004726639267902826583426598550 0.190350578064785409913256402421014
                 0.204432940075298892414161999234649 0.209482141084727828012999174891714]))

(def ^:private ^"[D" gauss7-weights
  "Weights of the 7-point Gauss rule at gk-nodes 1, 3, 5, 7."
  (double-array [0.129484966168869693270611432679082 0.279705391489276667901467771423780
                 0.381830050505118944950369775488975 0.417959183673469387755102040816327]))

(defn- gk15-parts
  "Gauss-Kronrod 15-point estimate of the integral of f on [a b], the error estimate
  |K15 - G7|, and the integral of |f| (for roundoff detection)."
  [f ^double a ^double b]
  (let [f ^clojure.lang.IFn$DD f
        c (* 0.5 (+ a b)) h (* 0.5 (- b a))
        fc (.invokePrim f c)]
    (loop [k 0 kron (* (aget gk-weights 7) fc) gauss (* (aget gauss7-weights 3) fc)
           kabs (* (aget gk-weights 7) (Math/abs fc))]
      (if (< k 7)
        (let [dx (* h (aget gk-nodes k))
              f1 (.invokePrim f (- c dx)) f2 (.invokePrim f (+ c dx))
              s (+ f1 f2)
              kron (+ kron (* (aget gk-weights k) s))
              kabs (+ kabs (* (aget gk-weights k) (+ (Math/abs f1) (Math/abs f2))))
              gauss (if (odd? k) (+ gauss (* (aget gauss7-weights (quot k 2)) s)) gauss)]
          (recur (inc k) kron gauss kabs))
        [(* h kron) (Math/abs (* h (- kron gauss))) (Math/abs (* h kabs))]))))

(defn integrate
  "Integral of the primitive function f (^double -> ^double) over [a b] by globally
  adaptive Gauss-Kronrod (7, 15), as QUADPACK's QAG: the interval with the largest
  error estimate is bisected until the summed estimate is below the tolerance.

  Options: :tolerance (1e-12) relative to the integral's magnitude (with a floor of
  1e-3 of the integral of |f|, so integrals that cancel stay cheap); :limit (2000)
  intervals at most. Intervals whose error estimate is at the roundoff level of their
  integral of |f| are not split further.
  Returns the integral (a double); a < b or b < a both work."
  (^double [f a b] (integrate f a b {}))
  (^double [f a b {:keys [tolerance limit] :or {tolerance 1e-12 limit 2000}}]
   (let [a (double a) b (double b)]
     (if (== a b)
       0.0
       (let [roundoff (* 50.0 (Math/ulp 1.0))
             ;; entries [lo hi est err]; the queue orders by descending splittable error
             queue (java.util.PriorityQueue. 64 (reify java.util.Comparator
                                                  (compare [_ x y] (Double/compare (aget ^doubles y 4) (aget ^doubles x 4)))))
             push! (fn [^double lo ^double hi]
                     (let [[est err eabs] (gk15-parts f lo hi)
                           err (double err)
                           ;; an interval at roundoff level is never chosen for splitting
                           key (if (<= err (* roundoff (double eabs))) -1.0 err)]
                       (.add queue (double-array [lo hi (double est) err key]))
                       [(double est) err (double eabs)]))
             [whole _ whole-abs] (push! a b)
             tol (* (double tolerance) (max (Math/abs (double whole)) (* 1e-3 (double whole-abs)) 1e-300))]
         (loop [total-err (double (aget ^doubles (.peek queue) 3)) n 1]
           (let [^doubles worst (.peek queue)]
             (if (or (<= total-err tol) (>= n (long limit)) (neg? (aget worst 4)))
               (reduce + (map #(aget ^doubles % 2) (seq queue)))
               (let [^doubles w (.poll queue)
                     lo (aget w 0) hi (aget w 1) mid (* 0.5 (+ lo hi))
                     [_ e1] (push! lo mid)
                     [_ e2] (push! mid hi)]
                 (recur (+ (- total-err (aget w 3)) (double e1) (double e2)) (inc n)))))))))))

(defn gauss-kronrod-15
  "The Gauss-Kronrod 15-point estimate of the integral of the primitive function
  f (^double -> ^double) on [a b], one panel, no adaptation."
  ^double [f ^double a ^double b]
  (double (first (gk15-parts f a b))))

(defn bisect
  "Root of the primitive function f on [lo hi] given f(lo) and f(hi) of opposite sign
  (or zero), by bisection to a relative width of 4 ulp."
  ^double [f ^double lo ^double hi]
  (let [f ^clojure.lang.IFn$DD f
        flo (.invokePrim f lo)]
    (loop [lo lo hi hi flo flo k 0]
      (let [mid (* 0.5 (+ lo hi))]
        (if (or (>= k 200) (<= (Math/abs (- hi lo)) (* 4.0 (Math/ulp mid))) (== mid lo) (== mid hi))
          mid
          (let [fm (.invokePrim f mid)]
            (cond
              (zero? fm) mid
              (= (neg? fm) (neg? flo)) (recur mid hi fm (inc k))
              :else (recur lo mid flo (inc k)))))))))

(defn golden-max
  "Maximizer of the primitive unimodal function f on [lo hi] by golden-section search."
  ^double [f ^double lo ^double hi]
  (let [f ^clojure.lang.IFn$DD f
        g (/ (- (Math/sqrt 5.0) 1.0) 2.0)]
    (loop [a lo b hi k 0]
      (if (or (>= k 300) (<= (- b a) (* 1e-15 (max 1.0 (Math/abs b)))))
        (* 0.5 (+ a b))
        (let [c (- b (* g (- b a))) d (+ a (* g (- b a)))]
          (if (> (.invokePrim f c) (.invokePrim f d))
            (recur a d (inc k))
            (recur c b (inc k))))))))

;; ---------------------------------------------------------------------------
;; Interpolation and statistics

(defn interpolate
  "Values of the rows ys ([[per mode] per time], nil where unknown) at time t by
  linear interpolation on the increasing times ts."
  [ts ys ^double t]
  (let [n (long (count ts))
        j (long (loop [j 1] (if (and (< j (dec n)) (< (double (ts j)) t)) (recur (inc j)) j)))
        t0 (double (ts (dec j))) t1 (double (ts j))
        w (if (== t1 t0) 1.0 (max 0.0 (min 1.0 (/ (- t t0) (- t1 t0)))))]
    (mapv (fn [a b] (when (and a b) (+ (* (- 1.0 w) (double a)) (* w (double b)))))
          (ys (dec j)) (ys j))))

(defn mean-and-se
  "[mean standard-error] of the numbers xs (nil when there are none)."
  [xs]
  (let [n (count xs)]
    (when (pos? n)
      (let [m (/ (double (reduce + (map double xs))) n)
            ss (double (reduce + (map #(let [d (- (double %) m)] (* d d)) xs)))]
        [m (if (> n 1) (Math/sqrt (/ ss (* (dec n) n))) 0.0)]))))

(defn quantile-sorted
  "Quantile q of sorted xs[0..n) by linear interpolation between order statistics
  (numpy's default, 'type 7')."
  ^double [^doubles xs ^long n ^double q]
  (cond
    (zero? n) Double/NaN
    (== n 1) (aget xs 0)
    :else (let [h (* q (dec n)) lo (long (Math/floor h)) hi (min (dec n) (inc lo))]
            (+ (aget xs lo) (* (- h lo) (- (aget xs hi) (aget xs lo)))))))

(defn summary
  "{:count :mean :std :median :quantiles {q ..}} of the finite values in xs (sample std)."
  [xs quantiles]
  (let [v (double-array (filter some? xs))
        n (alength v)]
    (java.util.Arrays/sort v)
    (if (zero? n)
      {:count 0 :mean nil :std nil :median nil :quantiles (zipmap quantiles (repeat nil))}
      (let [mean (/ (double (areduce v i acc 0.0 (+ acc (aget v i)))) n)
            ss (double (areduce v i acc 0.0 (+ acc (let [d (- (aget v i) mean)] (* d d)))))]
        {:count n :mean mean
         :std (if (> n 1) (Math/sqrt (/ ss (dec n))) 0.0)
         :median (quantile-sorted v n 0.5)
         :quantiles (into (sorted-map) (map (fn [q] [q (quantile-sorted v n (double q))]) quantiles))}))))

(defn histogram
  "Equal-width histogram of the values xs: {:edges [..] :counts [..]}."
  [xs ^long bins]
  (let [v (vec (sort xs))]
    (if (empty? v)
      {:edges [] :counts []}
      (let [lo (double (first v)) hi (double (peek v))
            hi (if (== hi lo) (+ lo 1.0) hi)
            w (/ (- hi lo) bins)
            counts (reduce (fn [c x] (update c (min (dec bins) (long (Math/floor (/ (- (double x) lo) w)))) inc))
                           (vec (repeat bins 0)) v)]
        {:edges (mapv #(+ lo (* (double %) w)) (range (inc bins))) :counts counts}))))

(defn ks-distance
  "Kolmogorov-Smirnov distance sup |F_n - F| between the empirical CDF of the samples
  and the CDF function cdf (a fn of one double)."
  ^double [samples cdf]
  (let [v (double-array samples) n (alength v)]
    (java.util.Arrays/sort v)
    (loop [k 0 d 0.0]
      (if (< k n)
        (let [fx (double (cdf (aget v k)))]
          (recur (inc k) (max d (Math/abs (- fx (/ (double k) n))) (Math/abs (- (/ (double (inc k)) n) fx)))))
        d))))
