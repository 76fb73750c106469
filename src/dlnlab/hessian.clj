(ns dlnlab.hessian
  "Spectra of symmetric linear operators known only through products y = A x,
  such as Hessian-vector products on packed parameters: extreme eigenvalues by
  Lanczos (`eigenvalues`, with a multiplicity guarantee), the trace by
  Hutchinson's estimator (`trace`), the spectral density by stochastic Lanczos
  quadrature (`density`), and the dense matrix of a small operator. These take a
  `dlnlab.kernel.Operator`; `operator` makes one from a Clojure function and
  `block-operator` restricts one to a diagonal block. On a network value:
  `network-operator`, `hessian-eigenvectors` (packed and weights form),
  `block-eigenvalues` (one layer or pathway) and `hessian-density`. Errors are
  dlnlab.error ex-infos: :invalid-option for options, :invalid-argument for
  arguments, :too-large for a dense matrix over :max-size. The top Hessian
  eigenvalue is the sharpness that gradient descent keeps near 2/lr at the edge
  of stability (SCIENCE.md §5, §6)."
  (:require [clojure.spec.alpha :as s]
            [dlnlab.engine :as engine]
            [dlnlab.error :as error]
            [dlnlab.hessian.track :as track]
            [dlnlab.model.packing :as packing]
            [dlnlab.spec :as spec])
  (:import (dlnlab.kernel Blas Operator Rng Spectra)))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn operator
  "A symmetric linear operator of size n from a Clojure function.

  f is called as (f x y) with two double arrays of length n and must overwrite y
  with A x, reading x only; its return value is ignored.

  Returns a dlnlab.kernel.Operator.

  Throws ex-info when n is not a positive integer or f is not a function."
  ^Operator [n f]
  (error/check! (and (int? n) (pos? (long n)) (<= (long n) Integer/MAX_VALUE)) :invalid-argument
                (str "operator size n must be a positive integer, got " (error/show n))
                {:path [:n] :value n :allowed "positive integer"})
  (error/check! (ifn? f) :invalid-argument
                (str "operator f must be a function (fn [x y] ...), got " (error/show f))
                {:path [:f] :value f :allowed "function of two double arrays"})
  (let [size (int n)]
    (reify Operator
      (size [_] size)
      (apply [_ x y] (f x y)))))

(defn- check-operator
  ^Operator [op]
  (when-not (instance? Operator op)
    (error/fail! :invalid-argument
                 (str "op must be a dlnlab.kernel.Operator (see dlnlab.hessian/operator), got "
                      (pr-str (type op)))
                 {:path [:op] :value op :allowed "a dlnlab.kernel.Operator"}))
  (when-not (pos? (.size ^Operator op))
    (error/fail! :invalid-argument (str "op must have a positive size, got " (.size ^Operator op))
                 {:path [:op] :value (.size ^Operator op) :allowed "positive size"}))
  op)

(defn- check-keys
  "opts is nil or a map whose keys are all in allowed (a near miss is named)."
  [opts allowed]
  (when-not (or (nil? opts) (map? opts))
    (error/fail! :invalid-option (str "options must be a map, got " (pr-str (type opts)))
                 {:path [] :value opts :allowed "a map of options"}))
  (doseq [k (keys opts)]
    (when-not (contains? allowed k)
      (let [near (error/did-you-mean k allowed)]
        (error/fail! :invalid-option
                     (str "unknown option " (pr-str k) "; "
                          (when near (str "did you mean " (pr-str near) "? "))
                          "allowed: " (pr-str (vec (sort allowed))))
                     (cond-> {:path [k] :value (get opts k) :allowed (vec (sort allowed))}
                       near (assoc :did-you-mean near)))))))

(defn- in-range!
  "v as a long when it is an integer in lo..hi, else an :invalid-option error."
  ^long [path v lo hi]
  (error/check! (and (int? v) (<= (long lo) (long v) (long hi))) :invalid-option
                (str (pr-str (peek path)) " must be an integer in " lo ".." hi ", got " (error/show v))
                {:path path :value v :allowed (str "integer in " lo ".." hi)})
  (long v))

;; The options whose validity does not depend on the operator's size; :k against
;; n, :max-iter against :k and the vectors against n are checked in the body.
(s/def ::k int?)
(s/def ::which #{:largest :smallest :magnitude})
(defn- strictly-between-0-and-1? [x] (and (spec/finite-number? x) (< 0.0 (double x) 1.0)))
(s/def ::tol strictly-between-0-and-1?)
(s/def ::max-iter int?)
(s/def ::seed int?)
(s/def ::vectors? boolean?)
(s/def ::check-multiplicity? boolean?)
(s/def ::eigen-opts (s/keys :opt-un [::k ::which ::tol ::max-iter ::seed ::vectors? ::check-multiplicity?]))
(s/def ::probes int?)
(s/def ::trace-opts (s/keys :opt-un [::probes ::seed]))

(def ^:private double-array-class (Class/forName "[D"))

(defn- packed-vector
  "A fresh double array of length n from a double array or a seq of finite numbers."
  ^doubles [path v n]
  (let [n (long n)
        ok-seq? (if (instance? double-array-class v)
                  (let [^doubles a v]
                    (and (== n (alength a))
                         (loop [i 0] (cond (== i n) true
                                           (Double/isFinite (aget a i)) (recur (inc i))
                                           :else false))))
                  (and (sequential? v)
                       (== n (long (count v)))
                       (every? spec/finite-number? v)))]
    (when-not ok-seq?
      (error/fail! :invalid-option
                   (str (pr-str (first path)) " must be a double array or seq of " n
                        " finite numbers (the operator size), got "
                        (if (or (sequential? v) (instance? double-array-class v))
                          (str (count v) " entries")
                          (pr-str (type v))))
                   {:path path :value (if (instance? double-array-class v) (vec v) v)
                    :allowed (str "double array or seq of " n " finite numbers")}))
    (if (instance? double-array-class v) (aclone ^doubles v) (double-array v))))

(def ^:private which-codes
  {:largest Spectra/LARGEST :smallest Spectra/SMALLEST :magnitude Spectra/MAGNITUDE})

(def ^:private eigen-keys
  #{:k :which :tol :max-iter :start :warm :seed :vectors? :check-multiplicity?})

(def ^:private full-krylov-size
  "Operators up to this size get a Krylov space of full dimension by default."
  1000)

(defn default-max-iter
  "The default Krylov dimension cap of `eigenvalues` for an operator of size n and
  k wanted pairs: n up to n = 1000 (Lanczos with a (semi-)orthogonal basis then
  ends exact even on clusters, at most n^2 doubles of memory), else
  max(2k + 20, J) with J = (Spectra/verifySteps (- n k)), the length of the
  verification probe (about 90 to 110 for n from 10^3 to 10^6), so that probe
  fits under the cap. A run stops as soon as it has converged, so the cap costs
  only where convergence is slow.

  Returns a long."
  ^long [n k]
  (let [n (long n) k (long k)]
    (if (<= n (long full-krylov-size))
      n
      (min n (max (+ (* 2 k) 20) (long (Spectra/verifySteps (int (- n k)))))))))

(defn- start-vectors
  "The :start vector, or the :warm vectors packed column-major, checked against
  the operator size n: {:start-arr :warm-arr :wc (number of warm vectors)
  :warm-vs (the checked warm vectors, fresh arrays)}."
  [start warm n]
  (let [n (long n)]
    (when (and (some? start) (some? warm))
      (error/fail! :invalid-option "give :start or :warm, not both"
                   {:path [:warm] :value :warm :allowed "either :start or :warm"}))
    (when (and (some? warm) (not (sequential? warm)))
      (error/fail! :invalid-option (str ":warm must be a seq of double arrays, got " (pr-str (type warm)))
                   {:path [:warm] :value warm :allowed "seq of vectors"}))
    (let [start-arr (when (some? start) (packed-vector [:start] start n))
          _ (when (and start-arr (zero? (Blas/nrm2 n start-arr 0)))
              (error/fail! :invalid-option ":start must not be the zero vector"
                           {:path [:start] :value (vec start-arr) :allowed "a nonzero vector"}))
          warm-vs (mapv (fn [i v] (packed-vector [:warm i] v n)) (range) warm)
          wc (count warm-vs)
          warm-arr (when (pos? wc)
                     (let [a (double-array (* n wc))]
                       (dotimes [c wc] (System/arraycopy ^doubles (nth warm-vs c) 0 a (* c n) n))
                       a))]
      {:start-arr start-arr :warm-arr warm-arr :wc wc :warm-vs warm-vs})))

(defn- operator-call
  "(f), a kernel call applying the operator; its IllegalArgumentException (a
  non-finite product) becomes an :invalid-argument error on [:op]."
  [f]
  (try
    (f)
    (catch IllegalArgumentException e
      (error/fail! :invalid-argument (str "op failed during Lanczos: " (ex-message e))
                   {:path [:op] :value (ex-message e) :allowed "an operator returning finite vectors"}))))

(defn eigenvalues
  "The k extreme eigenvalues of the symmetric operator op by Lanczos with
  partial reorthogonalization (dlnlab.kernel.Spectra/lanczos: the basis kept
  semi-orthogonal by Simon's estimate, fully orthogonal in nearly invariant
  Krylov spaces).

  A pair (theta, y) counts as converged when ||A y - theta y|| <= max(tol |theta|,
  1e-12 ||A||), ||A|| estimated from the run; residuals are estimated from the
  tridiagonal matrix while iterating and computed explicitly for the answer.
  One Krylov sequence cannot see the second copy of a repeated eigenvalue, so
  when k >= 2 (or the start lay in an invariant subspace) the wanted pairs are
  locked and probe runs from seeded random vectors orthogonal to them look for
  missed copies: a probe that finds one locks it and another probe follows; the
  last probe, which finds nothing beyond the k-th value, runs a fixed number of
  products decided before it starts (Spectra/verifySteps: about 90 for n = 10^3,
  110 for n = 10^6, or the whole remaining space when that is smaller).

  What :converged? true guarantees: every returned value has an explicit
  residual within the tolerance above, the returned vectors are orthonormal (so
  the k values match k eigenvalues counted with multiplicity, each within its
  residual), and, for k >= 2 with :check-multiplicity?, except with probability
  at most 1e-6 per end of the spectrum over the seed (the Lanczos bound of
  Kuczynski and Wozniakowski, 1992), no eigenvalue is missing that lies beyond
  the k-th returned one by more than 1e-2 of the spectral spread. A missed copy
  is thus found whenever the next distinct eigenvalue is that far from it (for
  the Hessian at a balanced minimum, lambda_ij = lambda_ji and the values of
  different modes are far apart). For k = 1 no probe runs: the value is the top
  Ritz value of a converged run, certified by its residual (what a warm-started
  sharpness needs). For the Hessian of a training loss the top eigenvalue is the
  sharpness compared with 2/lr (SCIENCE.md §5, §6).

  Options (defaults):
  - :k (1)            number of eigenpairs, 1..n.
  - :which (:largest) :largest (algebraic, so a saddle's negative eigenvalue is
                      never reported as the top one), :smallest (algebraic) or
                      :magnitude (largest |lambda|).
  - :tol (1e-8)       relative residual tolerance, in (0, 1).
  - :max-iter         Krylov dimension cap of each run (one product per Lanczos
                      vector; memory n * max-iter doubles), at least k; above n it
                      is reduced to n. Default `default-max-iter`: n for
                      n <= 1000, else max(2k + 20, the probe length). When
                      a run is cut short :converged? is false; raise it.
  - :start            start vector: double array or seq of n finite numbers, not zero.
  - :warm             seq of double arrays (or number seqs) of length n, e.g. the
                      :vectors of an earlier call: their normalized sum plus a
                      seeded 1e-6 perturbation is the start, so eigenvectors near
                      the earlier subspace are found in few products. Not with :start.
  - :seed (0)         seed of the random start, restarts, probes and perturbation.
  - :vectors? (false) also return the Ritz vectors.
  - :check-multiplicity? (true) run the probes described above; false drops
                      the multiplicity guarantee (residuals only).

  Returns {:values [..] :residuals [..] :hvp-count n :converged? bool
  :krylov-dim d :probes p}: k values sorted descending whatever :which is
  (Rayleigh quotients of the Ritz vectors), the explicit residual norm of each,
  the number of operator products, whether the guarantee above holds (every
  pair met the tolerance and the last probe was not cut short by :max-iter),
  the largest Krylov dimension of a run and the
  number of probe runs. With :vectors? true also :vectors, a vector of k double
  arrays (unit Ritz vectors in the order of :values): the one documented
  exception to plain data, meant for :warm.

  Throws ex-info naming the option when op is not an Operator, an option is
  unknown, :k is outside 1..n, :which is not one of the three, :tol is not in
  (0, 1), :max-iter is below k, :seed is not an integer, :vectors? or
  :check-multiplicity? is not a boolean, or :start / :warm have the wrong length
  or non-finite entries, :start is zero, or both are given; ex-info with path
  [:op] when op returns a non-finite vector."
  ([op] (eigenvalues op {}))
  ([op opts]
   (let [op (check-operator op)
         _ (check-keys opts eigen-keys)
         {:keys [k which tol max-iter start warm seed vectors? check-multiplicity?]
          :or {k 1 which :largest tol 1e-8 seed 0 vectors? false check-multiplicity? true}}
         (error/conform! ::eigen-opts (or opts {}) [])
         n (.size op)
         k (in-range! [:k] k 1 n)
         m (if (some? max-iter)
             (min n (in-range! [:max-iter] max-iter k Integer/MAX_VALUE))
             (default-max-iter n k))
         {:keys [start-arr warm-arr wc]} (start-vectors start warm n)
         values (double-array k)
         residuals (double-array k)
         vecs (when vectors? (double-array (* n k)))
         info (int-array Spectra/INFO_LENGTH)]
     (operator-call #(Spectra/lanczos op (int k) (int (which-codes which)) (double tol) (int m) start-arr warm-arr
                                      (int wc) (long seed) (boolean check-multiplicity?) values vecs residuals info))
     (cond-> {:values (vec values)
              :residuals (vec residuals)
              :hvp-count (long (aget info 0))
              :converged? (== 1 (aget info 1))
              :krylov-dim (long (aget info 2))
              :probes (long (aget info 3))}
       vectors? (assoc :vectors (track/split-columns vecs n k))))))

(s/def ::keep int?)
(s/def ::stop #{:residual :value})
(s/def ::guard-tol (s/and spec/finite-number? pos?))
(s/def ::history (s/nilable sequential?))
(s/def ::directions (s/nilable sequential?))
(s/def ::track-opts (s/keys :opt-un [::tol ::max-iter ::seed ::keep ::stop ::guard-tol ::history ::directions
                                      ::check-multiplicity?]))

(defn tracked-top
  "The top (largest algebraic) eigenvalue of op tracked from the vectors of
  earlier calls at nearby operators (a Hessian along a training trajectory),
  with :keep - 1 guard pairs below it, so an eigenvalue rising through their
  ranks is followed and reported once it overtakes the top (the :sharpness
  metric's path, with :stop :value). Cold (no :warm), or with :stop :residual:
  `eigenvalues` for the top :keep pairs, every pair to the residual :tol,
  started from the normalized sum of :warm. Warm with :stop :value:
  Rayleigh-Ritz on a predicted top vector (dlnlab.hessian.track), the guards
  of :warm and :directions, grown one product at a time by the residual of the
  pair short of its tolerance (dlnlab.kernel.Track). It sees nothing
  orthogonal to that span: :directions should hold what the dynamics suggest,
  e.g. the gradient (a catapult at the edge of stability grows along it). A
  warm solve that misses its tolerance within :max-iter products is redone
  cold, its products counted.

  :stop :value: theta <= lambda_1 <= theta + b, b = min(||r_1||, ||r_1||^2 /
  g) <= max(tol |theta|, 1e-12 ||A||), g = theta_1 - theta_2 - ||r_2||
  (Kato-Temple) under the premise of tracking that no eigenvalue but the top
  lies above theta_2 + ||r_2||; guard i stops at ||r_i|| <= max(guard-tol
  (theta_1 - theta_i), tol |theta_1|). :residual: ||A y - theta y|| <= max(tol
  |theta|, 1e-12 ||A||) for every pair. :keep 1 makes :value act as :residual.

  Options (defaults): :warm (none) seq of n-vectors, e.g. the last call's
  :vectors; :history (none) seq of n-vectors, the top vectors of the calls
  before the last, most recent first (only with :warm; the first three count);
  :directions (none) seq of n-vectors for the span (only with :warm); :keep
  (3) pairs kept, min(:keep, n); :tol (1e-8) in (0, 1); :stop (:residual) or
  :value; :guard-tol (0.5) positive; :check-multiplicity? (false) probes in the
  cold solve (a degenerate top then has its copies among the guards, which
  turns the gap off); :max-iter cap on a warm solve's products (a cold run's
  Krylov dimension); :seed (0) of the random vectors.

  Returns the map of `eigenvalues` with :vectors (for the next :warm), :bound
  (the top's bound the stop used; the residual when cold) and, warm with :value,
  :predictor (dlnlab.hessian.track/predictors); (first (:values r)) is the top.

  Throws what `eigenvalues` throws, naming the option ([:history i] and
  [:directions i] too)."
  ([op] (tracked-top op {}))
  ([op opts]
   (let [op (check-operator op)
         _ (check-keys opts (conj (disj eigen-keys :k :which :start :vectors?) :keep :warm :history :directions :stop :guard-tol))
         {:keys [keep warm history directions tol stop guard-tol seed max-iter]
          :or {keep 3 tol 1e-8 stop :residual guard-tol 0.5 seed 0}} (error/conform! ::track-opts (or opts {}) [])
         n (.size op)
         keep (min (in-range! [:keep] keep 1 Integer/MAX_VALUE) n)
         packed (fn [k vs] (vec (map-indexed #(packed-vector [k %1] %2 n) vs)))
         history (packed :history (take 3 history))
         directions (packed :directions directions)
         cold #(let [r (eigenvalues op (cond-> (assoc (select-keys opts [:tol :max-iter :seed]) :k keep :vectors? true
                                                      :check-multiplicity? (boolean (:check-multiplicity? opts)))
                                         (seq warm) (assoc :warm warm)))]
                 (assoc r :bound (first (:residuals r))))]
     (if (or (empty? warm) (not= stop :value))
       (cold)
       (let [m (if max-iter (min n (in-range! [:max-iter] max-iter keep Integer/MAX_VALUE)) (default-max-iter n keep))
             {:keys [warm-vs]} (start-vectors nil warm n)
             r (operator-call #(track/solve op {:keep keep :tol tol :guard-tol guard-tol :max-iter m :seed seed
                                                :warm warm-vs :history history
                                                :directions directions}))]
         (if (:converged? r)
           r
           (update (cold) :hvp-count + (long (:hvp-count r)))))))))

(defn trace
  "Hutchinson's estimate of the trace of op with Rademacher (+-1) probes drawn
  from the counter-based Rng, so the result depends only on the seed.

  Options (defaults):
  - :probes (100) number of probes, at least 2; one operator product each.
  - :seed (0)     seed of the probes.

  Returns {:estimate mean :std-error se :probes p :hvp-count p}; se is the sample
  standard deviation of z^T A z over probes divided by sqrt(p). For a diagonal
  operator every probe gives the trace exactly (and se is 0).

  Throws ex-info when op is not an Operator, an option is unknown, :probes is not
  an integer >= 2 or :seed not an integer."
  ([op] (trace op {}))
  ([op opts]
   (let [op (check-operator op)
         _ (check-keys opts #{:probes :seed})
         {:keys [probes seed] :or {probes 100 seed 0}} (error/conform! ::trace-opts (or opts {}) [])
         p (in-range! [:probes] probes 2 Integer/MAX_VALUE)
         out (double-array 2)]
     (Spectra/hutchinson op (int p) (long seed) out)
     {:estimate (aget out 0) :std-error (aget out 1) :probes p :hvp-count p})))

(defn dense-matrix
  "The matrix of op as nested vectors (rows), column j being A e_j, symmetrized as
  (A + A^T)/2; n operator products.

  Options (defaults):
  - :max-size (4000) the largest n allowed.

  Returns a vector of n rows, each a vector of n doubles.

  Throws ex-info when op is not an Operator, an option is unknown, :max-size is
  not a positive integer, or n exceeds :max-size (naming both)."
  ([op] (dense-matrix op {}))
  ([op opts]
   (let [op (check-operator op)
         _ (check-keys opts #{:max-size})
         limit (in-range! [:max-size] (get opts :max-size 4000) 1 46340)
         n (.size op)]
     (error/check! (<= n limit) :too-large
                   (str "operator size " n " exceeds :max-size " limit
                        "; raise :max-size to build the dense matrix anyway")
                   {:path [:max-size] :value n :allowed (str "operator size at most " limit)})
     (let [a (double-array (* n n))]
       (Spectra/dense op a)
       (mapv (fn [i] (mapv (fn [j] (aget a (+ (long i) (* (long j) n)))) (range n)))
             (range n))))))

(defn dense-eigenvalues
  "All eigenvalues of a dense symmetric matrix given as nested vectors (rows),
  descending, by LAPACK dsyevd (dlnlab.kernel.Blas/symmetricEigen).

  Returns a vector of n doubles.

  Throws ex-info when m is not a non-empty square matrix of finite numbers, or is
  not symmetric to within 1e-12 of its largest entry."
  [m]
  (let [n (long (if (sequential? m) (count m) 0))]
    (when-not (and (pos? n)
                   (every? #(and (sequential? %) (== n (count %)) (every? spec/finite-number? %)) m))
      (error/fail! :invalid-argument
                   (str "matrix must be non-empty square nested vectors of finite numbers, got "
                        (error/show (if (sequential? m) (mapv #(if (sequential? %) (count %) (type %)) m) (type m))))
                   {:path [:m] :value m :allowed "non-empty square nested vectors of finite numbers"}))
    (let [a (double-array (* n n))
          rows (vec m)]
      (dotimes [i n]
        (let [row (vec (nth rows i))]
          (dotimes [j n]
            (aset a (+ i (* j n)) (double (nth row j))))))
      (let [scale (double (areduce a i mx 0.0 (max mx (Math/abs (aget a i)))))]
        (dotimes [j n]
          (dotimes [i j]
            (let [asym (Math/abs (- (aget a (+ i (* j n))) (aget a (+ j (* i n)))))]
              (when (> asym (* 1e-12 scale))
                (error/fail! :invalid-argument
                             (str "matrix is not symmetric: entries (" i "," j ") and (" j "," i
                                  ") differ by " asym)
                             {:path [:m i j] :value [(aget a (+ i (* j n))) (aget a (+ j (* i n)))]
                              :allowed "symmetric matrix"}))))))
      (let [w (double-array n)]
        (Blas/symmetricEigen n a w false)
        (vec (reverse (vec w)))))))

;; ---------------------------------------------------------------------------
;; Spectrum tools on a network: eigenvectors, diagonal blocks, density

(defn network-operator
  "The Hessian of the training loss of net (a dlnlab.network value) at its
  params, as an Operator of exact Hessian-vector products."
  ^Operator [net]
  (operator (engine/size net) (engine/prepared-hvp net (:params net))))

(defn hessian-eigenvectors
  "The extreme Hessian eigenpairs of net: `eigenvalues` of `network-operator`
  with :vectors? true, the vectors also in the weights form.

  Options: those of `eigenvalues` (:vectors? is always true).

  Returns the map of `eigenvalues` with :vectors (k packed double arrays, unit,
  in the order of :values) and :weights (the same k vectors in the weights form
  of dlnlab.network, through dlnlab.model.packing/packed->weights).

  Throws what `eigenvalues` throws."
  ([net] (hessian-eigenvectors net {}))
  ([net opts]
   (let [r (eigenvalues (network-operator net) (assoc opts :vectors? true))]
     (assoc r :weights (mapv #(packing/packed->weights (:layout net) %) (:vectors r))))))

(defn- block-range
  "The packed offset and size of a diagonal Hessian block of the layout: one
  factor {:pathway k :layer l}, or every factor of pathway k {:pathway k}."
  [layout block]
  (error/check! (and (map? block) (every? #{:pathway :layer} (keys block))) :invalid-option
                (str ":block must be a map {:pathway k} or {:pathway k :layer l}, got " (error/show block))
                {:path [:block] :value block :allowed "{:pathway k} or {:pathway k :layer l}"})
  (let [{:keys [pathway layer] :or {pathway 0}} block
        npath (count layout)
        k (in-range! [:block :pathway] pathway 0 (dec npath))
        factors (nth layout k)
        fs (if (some? layer)
             [(nth factors (dec (in-range! [:block :layer] layer 1 (count factors))))]
             factors)
        start (long (:offset (first fs)))
        f (peek fs)]
    {:offset start
     :size (- (+ (long (:offset f)) (* (long (:rows f)) (long (:cols f)))) start)}))

(defn block-operator
  "The diagonal block of the operator op (of size n) on the packed coordinates
  offset .. offset + size - 1: x of that size is embedded with zeros elsewhere,
  multiplied by op, and the same coordinates of the product returned. One
  product of op per application."
  ^Operator [^Operator op offset size]
  (let [n (.size op) off (long offset) m (long size)
        x-full (double-array n) y-full (double-array n)]
    (error/check! (and (<= 0 off) (pos? m) (<= (+ off m) n)) :invalid-argument
                  (str "block " off " .. " (+ off m -1) " is not inside the operator's 0 .. " (dec n))
                  {:path [:block] :value [off m] :allowed (str "inside 0.." (dec n))})
    (operator m (fn [^doubles x ^doubles y]
                  (System/arraycopy x 0 x-full off m)
                  (.apply op x-full y-full)
                  (System/arraycopy y-full off y 0 m)))))

(defn block-eigenvalues
  "Extreme eigenvalues of a diagonal block of net's Hessian: the curvature of
  one layer of one pathway, or of one whole pathway, with the rest held fixed.

  Options: :block ({:pathway 0}) {:pathway k} (0-based) for every layer of
  pathway k, or {:pathway k :layer l} (1-based, as in the layout) for one
  factor; the rest as in `eigenvalues` (:start, :warm and :vectors in the block's
  coordinates).

  Returns the map of `eigenvalues` plus :block {:pathway :layer :offset :size},
  the packed coordinates of the block.

  Throws ex-info (:invalid-option) naming [:block ...] for a pathway or layer
  that does not exist, and what `eigenvalues` throws."
  ([net] (block-eigenvalues net {}))
  ([net opts]
   (let [block (get opts :block {:pathway 0})
         {:keys [offset size] :as span} (block-range (:layout net) block)
         op (block-operator (network-operator net) offset size)]
     (assoc (eigenvalues op (dissoc opts :block))
            :block (merge {:pathway 0} block span)))))

(def ^:private density-keys #{:probes :steps :sigma :points :seed})

(s/def ::steps int?)
(s/def ::sigma (s/nilable (s/and spec/finite-number? pos?)))
(s/def ::points int?)
(s/def ::density-opts (s/keys :opt-un [::probes ::steps ::sigma ::points ::seed]))

(def ^:private density-purpose
  "Purpose of the probe signs in Rng/derive (Spectra uses 1 to 4)."
  5)

(defn density
  "The spectral density of the symmetric operator op by stochastic Lanczos
  quadrature: for each Rademacher probe v (entries +-1 from the counter-based
  Rng, so the result depends only on the seed), Lanczos from v gives the Gauss
  quadrature nodes theta_i and weights w_i of the measure
  sum_j (v.u_j)^2 / n delta(lambda_j) (Spectra/quadrature); the density is the
  average over probes of sum_i w_i N(t; theta_i, sigma^2), an estimate of
  (1/n) sum_j N(t; lambda_j, sigma^2).

  Options (defaults):
  - :probes (10)  number of probes, at least 1; :steps products each.
  - :steps (80)   Lanczos steps per probe, reduced to n; a rule of s steps is
                  exact for polynomials of degree 2s - 1.
  - :sigma        width of the Gaussian broadening; default 1% of the spread of
                  the nodes (or 1e-3 when they coincide).
  - :points (401) grid points, at least 2, from the smallest node - 4 sigma to
                  the largest + 4 sigma.
  - :seed (0)     seed of the probes.

  Returns {:grid [..] :density [..] :nodes [[..] per probe] :weights [[..] per
  probe] :sigma s :probes p :steps s :hvp-count h}; each probe's weights sum to
  1, so the density integrates to 1.

  Throws ex-info (:invalid-option) naming the option when op is not an
  Operator, an option is unknown or out of range."
  ([op] (density op {}))
  ([op opts]
   (let [op (check-operator op)
         _ (check-keys opts density-keys)
         {:keys [probes steps sigma points seed] :or {probes 10 steps 80 points 401 seed 0}}
         (error/conform! ::density-opts (or opts {}) [])
         n (.size op)
         p (in-range! [:probes] probes 1 Integer/MAX_VALUE)
         s (min n (in-range! [:steps] steps 1 Integer/MAX_VALUE))
         npts (in-range! [:points] points 2 Integer/MAX_VALUE)
         sign-seed (Rng/derive (long seed) density-purpose)
         v (double-array n)
         rules (vec (for [probe (range p)]
                      (let [nodes (double-array s) weights (double-array s)]
                        (dotimes [i n] (aset v i (if (neg? (Rng/bits sign-seed (long probe) i)) -1.0 1.0)))
                        (let [t (Spectra/quadrature op v (int s) nodes weights)]
                          [(vec (take t nodes)) (vec (take t weights))]))))
         all-nodes (mapcat first rules)
         lo (double (reduce min all-nodes))
         hi (double (reduce max all-nodes))
         sigma (double (or sigma (if (> hi lo) (* 0.01 (- hi lo)) 1e-3)))
         a (- lo (* 4.0 sigma))
         step (/ (- (+ hi (* 4.0 sigma)) a) (double (dec npts)))
         grid (mapv (fn [^long i] (+ a (* step (double i)))) (range npts))
         norm (/ 1.0 (* (double p) sigma (Math/sqrt (* 2.0 Math/PI))))
         dens (mapv (fn [^double t]
                      (* norm (double (reduce + (for [[nodes weights] rules
                                                      [th w] (map vector nodes weights)]
                                                  (let [z (/ (- t (double th)) sigma)]
                                                    (* (double w) (Math/exp (* -0.5 z z)))))))))
                    grid)]
     {:grid grid :density dens
      :nodes (mapv first rules) :weights (mapv second rules)
      :sigma sigma :probes p :steps s
      :hvp-count (reduce + (map (comp count first) rules))})))

(defn hessian-density
  "`density` of the Hessian of net's training loss (`network-operator`); the
  options and result are those of `density`."
  ([net] (hessian-density net {}))
  ([net opts] (density (network-operator net) opts)))
