(ns dlnlab.hessian
  "Spectra of symmetric linear operators known only through products y = A x,
  such as Hessian-vector products on packed parameters: extreme eigenvalues by
  Lanczos, the trace by Hutchinson's estimator, and the dense matrix of a small
  operator. Every function takes a `dlnlab.kernel.Operator`; `operator` makes one
  from a Clojure function. The top Hessian eigenvalue is the sharpness that
  gradient descent keeps near 2/lr at the edge of stability (SCIENCE.md §5, §6)."
  (:import (dlnlab.kernel Blas Operator Spectra)))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn operator
  "A symmetric linear operator of size n from a Clojure function.

  f is called as (f x y) with two double arrays of length n and must overwrite y
  with A x, reading x only; its return value is ignored.

  Returns a dlnlab.kernel.Operator.

  Throws ex-info when n is not a positive integer or f is not a function."
  ^Operator [n f]
  (when-not (and (int? n) (pos? (long n)) (<= (long n) Integer/MAX_VALUE))
    (throw (ex-info (str "operator size n must be a positive integer, got " (pr-str n))
                    {:path [:n] :value n :allowed "positive integer"})))
  (when-not (ifn? f)
    (throw (ex-info (str "operator f must be a function (fn [x y] ...), got " (pr-str f))
                    {:path [:f] :value f :allowed "function of two double arrays"})))
  (let [size (int n)]
    (reify Operator
      (size [_] size)
      (apply [_ x y] (f x y)))))

(defn- fail
  [path value allowed message]
  (throw (ex-info message {:path path :value value :allowed allowed})))

(defn- check-operator
  ^Operator [op]
  (when-not (instance? Operator op)
    (fail [:op] op "a dlnlab.kernel.Operator"
          (str "op must be a dlnlab.kernel.Operator (see dlnlab.hessian/operator), got "
               (pr-str (type op)))))
  (when-not (pos? (.size ^Operator op))
    (fail [:op] (.size ^Operator op) "positive size"
          (str "op must have a positive size, got " (.size ^Operator op))))
  op)

(defn- check-keys
  [opts allowed]
  (when-not (or (nil? opts) (map? opts))
    (fail [] opts "a map of options" (str "options must be a map, got " (pr-str (type opts)))))
  (doseq [k (keys opts)]
    (when-not (contains? allowed k)
      (fail [k] (get opts k) (vec (sort allowed))
            (str "unknown option " (pr-str k) "; allowed: " (pr-str (vec (sort allowed))))))))

(defn- check-int
  ^long [path v lo hi]
  (when-not (and (int? v) (<= (long lo) (long v) (long hi)))
    (fail path v (str "integer in " lo ".." hi)
          (str (pr-str (peek path)) " must be an integer in " lo ".." hi ", got " (pr-str v))))
  (long v))

(defn- finite-number?
  [x]
  (and (number? x) (Double/isFinite (double x))))

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
                       (every? finite-number? v)))]
    (when-not ok-seq?
      (fail path (if (instance? double-array-class v) (vec v) v)
            (str "double array or seq of " n " finite numbers")
            (str (pr-str (first path)) " must be a double array or seq of " n
                 " finite numbers (the operator size), got "
                 (if (or (sequential? v) (instance? double-array-class v))
                   (str (count v) " entries")
                   (pr-str (type v))))))
    (double-array v)))

(def ^:private which-codes
  {:largest Spectra/LARGEST :smallest Spectra/SMALLEST :magnitude Spectra/MAGNITUDE})

(def ^:private eigen-keys
  #{:k :which :tol :max-iter :start :warm :seed :vectors? :check-multiplicity?})

(def ^:private full-krylov-size
  "Operators up to this size get a Krylov space of full dimension by default."
  1000)

(defn default-max-iter
  "The default Krylov dimension cap of `eigenvalues` for an operator of size n and
  k wanted pairs: n up to n = 1000 (Lanczos with full reorthogonalization then
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

(defn eigenvalues
  "The k extreme eigenvalues of the symmetric operator op by Lanczos with full
  reorthogonalization (dlnlab.kernel.Spectra/lanczos).

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
         n (.size op)
         {:keys [k which tol max-iter start warm seed vectors? check-multiplicity?]
          :or {k 1 which :largest tol 1e-8 seed 0 vectors? false check-multiplicity? true}} opts
         k (check-int [:k] k 1 n)
         code (or (get which-codes which)
                  (fail [:which] which (vec (keys which-codes))
                        (str ":which must be one of :largest, :smallest, :magnitude, got "
                             (pr-str which))))
         _ (when-not (and (finite-number? tol) (< 0.0 (double tol) 1.0))
             (fail [:tol] tol "number in (0, 1)"
                   (str ":tol must be a number in (0, 1), got " (pr-str tol))))
         _ (when-not (boolean? vectors?)
             (fail [:vectors?] vectors? "true or false"
                   (str ":vectors? must be true or false, got " (pr-str vectors?))))
         _ (when-not (boolean? check-multiplicity?)
             (fail [:check-multiplicity?] check-multiplicity? "true or false"
                   (str ":check-multiplicity? must be true or false, got "
                        (pr-str check-multiplicity?))))
         m (if (some? max-iter)
             (min n (check-int [:max-iter] max-iter k Integer/MAX_VALUE))
             (default-max-iter n k))
         seed (if (int? seed)
                (long seed)
                (fail [:seed] seed "integer" (str ":seed must be an integer, got " (pr-str seed))))
         _ (when (and (some? start) (some? warm))
             (fail [:warm] :warm "either :start or :warm"
                   "give :start or :warm, not both"))
         start-arr (when (some? start)
                     (let [a (packed-vector [:start] start n)]
                       (when (zero? (Blas/nrm2 n a 0))
                         (fail [:start] (vec a) "a nonzero vector" ":start must not be the zero vector"))
                       a))
         warm-vs (when (some? warm)
                   (when-not (sequential? warm)
                     (fail [:warm] warm "seq of vectors"
                           (str ":warm must be a seq of double arrays, got " (pr-str (type warm)))))
                   (vec (map-indexed (fn [i v] (packed-vector [:warm i] v n)) warm)))
         wc (count warm-vs)
         warm-arr (when (pos? wc)
                    (let [a (double-array (* n wc))]
                      (dotimes [c wc]
                        (System/arraycopy ^doubles (nth warm-vs c) 0 a (* c n) n))
                      a))
         values (double-array k)
         residuals (double-array k)
         vecs (when vectors? (double-array (* n k)))
         info (int-array Spectra/INFO_LENGTH)]
     (try
       (Spectra/lanczos op (int k) (int code) (double tol) (int m) start-arr warm-arr (int wc)
                        seed (boolean check-multiplicity?) values vecs residuals info)
       (catch IllegalArgumentException e
         (fail [:op] (ex-message e) "an operator returning finite vectors"
               (str "op failed during Lanczos: " (ex-message e)))))
     (cond-> {:values (vec values)
              :residuals (vec residuals)
              :hvp-count (long (aget info 0))
              :converged? (== 1 (aget info 1))
              :krylov-dim (long (aget info 2))
              :probes (long (aget info 3))}
       vectors? (assoc :vectors (mapv (fn [c] (java.util.Arrays/copyOfRange
                                               ^doubles vecs (int (* (long c) n))
                                               (int (* (inc (long c)) n))))
                                      (range k)))))))

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
         {:keys [probes seed] :or {probes 100 seed 0}} opts
         p (check-int [:probes] probes 2 Integer/MAX_VALUE)
         seed (if (int? seed)
                (long seed)
                (fail [:seed] seed "integer" (str ":seed must be an integer, got " (pr-str seed))))
         out (double-array 2)]
     (Spectra/hutchinson op (int p) seed out)
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
         limit (check-int [:max-size] (get opts :max-size 4000) 1 46340)
         n (.size op)]
     (when (> n limit)
       (fail [:max-size] n (str "operator size at most " limit)
             (str "operator size " n " exceeds :max-size " limit
                  "; raise :max-size to build the dense matrix anyway")))
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
                   (every? #(and (sequential? %) (== n (count %)) (every? finite-number? %)) m))
      (fail [:m] m "non-empty square nested vectors of finite numbers"
            (str "matrix must be non-empty square nested vectors of finite numbers, got "
                 (pr-str (if (sequential? m) (mapv #(if (sequential? %) (count %) (type %)) m) (type m))))))
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
                (fail [:m i j] [(aget a (+ i (* j n))) (aget a (+ j (* i n)))]
                      "symmetric matrix"
                      (str "matrix is not symmetric: entries (" i "," j ") and (" j "," i
                           ") differ by " asym)))))))
      (let [w (double-array n)]
        (Blas/symmetricEigen n a w false)
        (vec (reverse (vec w)))))))
