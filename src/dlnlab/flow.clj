(ns dlnlab.flow
  "Gradient flow d theta/dt = -m grad l(theta) (m the network's learning-rate
  multiplier) by an adaptive embedded Runge-Kutta method: the method is data, a
  Butcher tableau, and one generic driver steps any embedded pair on primitive
  arrays.

  `dormand-prince-5-4` is the tableau the :gradient-flow optimizer uses;
  `integrator` builds the function that advances the packed parameters."
  (:require [dlnlab.engine :as engine])
  (:import [dlnlab.kernel Arch Blas Engine Objective]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------------------
;; Tableaux

(def dormand-prince-5-4
  "The Dormand-Prince RK5(4)7M pair (Dormand & Prince 1980, J. Comput. Appl.
  Math. 6; Hairer, Norsett & Wanner, Solving ODEs I, table II.5.2) as data:
    :c      the stage times c_i,
    :a      the rows a_ij (j < i) of the stage coefficients,
    :b      the 5th-order weights of the solution,
    :b-hat  the embedded 4th-order weights,
    :order  5, the order of the solution that is propagated (local extrapolation),
    :fsal?  true: the last row of :a is :b, so the last stage is the derivative
            at the new solution, reused as the first stage of the next step.
  The error estimate is h sum_j (b_j - b-hat_j) k_j; the second entries of :b
  and :b-hat are zero, so the second stage does not enter the solution or the
  estimate."
  {:c [0.0 (/ 1.0 5) (/ 3.0 10) (/ 4.0 5) (/ 8.0 9) 1.0 1.0]
   :a [[]
       [(/ 1.0 5)]
       [(/ 3.0 40) (/ 9.0 40)]
       [(/ 44.0 45) (/ -56.0 15) (/ 32.0 9)]
       [(/ 19372.0 6561) (/ -25360.0 2187) (/ 64448.0 6561) (/ -212.0 729)]
       [(/ 9017.0 3168) (/ -355.0 33) (/ 46732.0 5247) (/ 49.0 176) (/ -5103.0 18656)]
       [(/ 35.0 384) 0.0 (/ 500.0 1113) (/ 125.0 192) (/ -2187.0 6784) (/ 11.0 84)]]
   :b [(/ 35.0 384) 0.0 (/ 500.0 1113) (/ 125.0 192) (/ -2187.0 6784) (/ 11.0 84) 0.0]
   :b-hat [(/ 5179.0 57600) 0.0 (/ 7571.0 16695) (/ 393.0 640) (/ -92097.0 339200) (/ 187.0 2100) (/ 1.0 40)]
   :order 5
   :fsal? true})

(defn- compiled
  "A tableau as primitive arrays for the driver: {:stages s :a double[][] :e
  double[] (b - b-hat) :exponent -1/order} (the estimate is of order - 1, so the
  step size factor is err^(-1/order))."
  [{:keys [a b b-hat order]}]
  {:stages (count b)
   :a (into-array (map double-array a))
   :e (double-array (map - b b-hat))
   :exponent (/ -1.0 (double order))})

;; ---------------------------------------------------------------------------
;; The driver

(defn- error-norm
  "RMS over the n components of the scaled local error estimate h sum_j e_j k_j
  (Hairer's norm), with scale atol + rtol max(|y|, |ynew|)."
  [h ^"[[D" ks ^doubles e ^doubles y ^doubles ynew atol rtol]
  (let [h (double h) atol (double atol) rtol (double rtol)
        n (alength y)
        s (alength e)]
    (loop [i 0 acc 0.0]
      (if (< i n)
        (let [est (double (loop [j 0 est 0.0]
                            (if (< j s)
                              (let [ej (aget e j)]
                                (recur (inc j) (if (zero? ej) est (+ est (* ej (aget ^doubles (aget ks j) i))))))
                              est)))
              sc (+ atol (* rtol (max (Math/abs (aget y i)) (Math/abs (aget ynew i)))))
              r (/ (* h est) sc)]
          (recur (inc i) (+ acc (* r r))))
        (Math/sqrt (/ acc (double (max n 1))))))))

(defn- stages!
  "One trial step of size h from y: fills ks[1..s-1] (ks[0] holds f(y)) and
  ynew, the FSAL solution (the argument of the last stage); returns the value f!
  returns at ynew (the loss there)."
  [f! ^"[[D" a ^"[[D" ks ^doubles y ^doubles ytmp ^doubles ynew h]
  (let [h (double h)
        n (alength y)
        s (alength ks)]
    (loop [i 1]
      (System/arraycopy y 0 ytmp 0 n)
      (let [^doubles row (aget a i)]
        (dotimes [j i]
          (let [aij (aget row j)]
            (when-not (zero? aij) (Blas/axpy n (* h aij) (aget ks j) 0 ytmp 0)))))
      (if (< i (dec s))
        (do (f! ytmp (aget ks i)) (recur (inc i)))
        (do (System/arraycopy ytmp 0 ynew 0 n)
            (double (f! ynew (aget ks i))))))))

(def ^:const ^:private stability-limit
  "Dormand-Prince's real stability interval reaches about -3.3; steps keep
  h * m * sharpness below this, so stiff directions are resolved, not skipped."
  3.0)

(defn integrator
  "An adaptive integrator of d theta/dt = -m grad l(theta) on net (m its
  learning-rate multiplier) with the FSAL embedded pair tableau (default
  `dormand-prince-5-4`). Options: :rtol (1e-6), :atol (1e-9), :h0 (1e-3) the
  first trial step. `sharpness-fn` (fn [^doubles params] top-eigenvalue) caps
  the step at 3.0 / (m * sharpness), re-estimated every 25 accepted steps.
  Returns a function (fn [^doubles params t0 t1]) that advances params in place
  from t0 to exactly t1 and returns {:loss l :accepted n :rejected n}; it keeps
  its step size between calls. The loss returned is at t1."
  ([net opts sharpness-fn] (integrator net opts sharpness-fn dormand-prince-5-4))
  ([net {:keys [rtol atol h0] :or {rtol 1e-6 atol 1e-9 h0 1e-3}} sharpness-fn tableau]
   (let [^Arch arch (:arch net)
         ^Objective obj (:objective net)
         n (.size arch)
         ws (engine/workspace net)
         m (double (or (:lr-multiplier net) 1.0))
         rtol (double rtol) atol (double atol)
         {:keys [^long stages a ^doubles e ^double exponent]} (compiled tableau)
         ^"[[D" ks (into-array (repeatedly stages #(double-array n)))
         ^doubles k0 (aget ks 0)
         ^doubles klast (aget ks (dec stages))
         ytmp (double-array n)
         ynew (double-array n)
         h (volatile! (double h0))
         since-cap (volatile! Long/MAX_VALUE)
         hmax (volatile! Double/POSITIVE_INFINITY)
         fsal-valid (volatile! false)
         ;; f(y) = -m grad, written into k; returns the loss at y
         f! (fn ^double [^doubles y ^doubles k]
              (let [l (Engine/gradient arch obj y ws k)]
                (Blas/scal n (- m) k 0)
                l))]
     (fn [^doubles y ^double t0 ^double t1]
       (loop [t t0 acc 0 rej 0 loss Double/NaN]
         (if (>= t t1)
           {:loss (if (Double/isNaN loss) (Engine/loss arch obj y ws) loss) :accepted acc :rejected rej}
           (do
             (when (>= (long @since-cap) 25)
               (let [s (double (sharpness-fn y))]
                 (vreset! hmax (if (pos? s) (/ stability-limit (* m s)) Double/POSITIVE_INFINITY))
                 (vreset! since-cap 0)))
             (when-not @fsal-valid (f! y k0) (vreset! fsal-valid true))
             (let [hh (min (double @h) (double @hmax) (- t1 t))
                   last? (>= (+ t hh) t1)
                   lnew (double (stages! f! a ks y ytmp ynew hh))
                   err (double (error-norm hh ks e y ynew atol rtol))
                   factor (if (zero? err) 5.0 (min 5.0 (max 0.2 (* 0.9 (Math/pow err exponent)))))]
               (cond
                 (Double/isNaN err)
                 {:loss Double/NaN :accepted acc :rejected rej}

                 (<= err 1.0)
                 (do (System/arraycopy ynew 0 y 0 n)
                     (System/arraycopy klast 0 k0 0 n)
                     (vreset! h (if last? (max (double @h) (* hh factor)) (* hh factor)))
                     (vswap! since-cap #(inc (long %)))
                     (recur (if last? t1 (+ t hh)) (inc acc) rej lnew))

                 :else
                 (do (vreset! h (* hh factor))
                     (recur t acc (inc rej) loss)))))))))))
