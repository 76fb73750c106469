(ns dlnlab.hessian.track
  "The warm path of dlnlab.hessian/tracked-top (:stop :value): the start block
  of the tracking kernel (dlnlab.kernel.Track) from the last call's vectors, a
  prediction of the top vector from the tops of the calls before, and the
  directions the dynamics suggest, and the kernel call. The options are
  checked by dlnlab.hessian/tracked-top; this namespace sees packed, checked
  double arrays only."
  (:import (dlnlab.kernel Operator Track)))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def predictors
  "The predictors of Track/predict, by the index it returns."
  {Track/CONSTANT :constant Track/LINEAR :linear Track/QUADRATIC :quadratic Track/PERIOD_TWO :period-two})

(defn- columns
  "The vectors (double arrays of length n) packed column-major."
  ^doubles [vs ^long n]
  (let [a (double-array (* n (max 1 (count vs))))]
    (doseq [[c v] (map-indexed vector vs)]
      (System/arraycopy ^doubles v 0 a (* (long c) n) n))
    a))

(defn split-columns
  "The k columns of the column-major n x k array a, as fresh double arrays."
  [^doubles a n k]
  (mapv (fn [c] (java.util.Arrays/copyOfRange a (int (* (long c) (long n))) (int (* (inc (long c)) (long n)))))
        (range k)))

(defn predicted-top
  "The predicted top vector from tops (the last call's top vector first, then
  those of the calls before, most recent first; unit double arrays of length
  n): [prediction predictor], predictor a key of `predictors` (Track/predict:
  the constant, linear, quadratic or period-2 extrapolation that best predicts
  the last from the ones before)."
  [tops ^long n]
  (let [out (double-array n)
        p (Track/predict (int n) (columns tops n) (int (count tops)) out)]
    [out (predictors p)]))

(defn solve
  "The warm :stop :value solve of the top keep eigenpairs of op: Rayleigh-Ritz
  started from the prediction from (first warm) and history, (rest warm) (the
  guards) and directions, grown by residuals (Track/track with cap m on its
  products and a basis of at most max(20, keep + start + 8)).

  Returns {:converged? :hvp-count :predictor} and, when converged, the map of
  dlnlab.hessian/tracked-top (:values :residuals :bound :vectors ...)."
  [^Operator op {:keys [^long keep tol guard-tol ^long max-iter seed warm history directions]}]
  (let [n (.size op)
        [top predictor] (predicted-top (cons (first warm) history) n)
        start (concat [top] (rest warm) directions)
        wc (count start)
        values (double-array keep) residuals (double-array keep) bounds (double-array keep)
        vecs (double-array (* n keep)) info (int-array Track/INFO_LENGTH)]
    (Track/track op (int keep) (double tol) Track/VALUE (double guard-tol) (int max-iter)
                 (int (max 20 (+ keep wc 8))) (columns start n) (int wc) (long seed)
                 values vecs residuals bounds info)
    (cond-> {:converged? (== 1 (aget info 1)) :hvp-count (long (aget info 0)) :predictor predictor}
      (== 1 (aget info 1))
      (assoc :values (vec values) :residuals (vec residuals) :bound (aget bounds 0) :probes 0
             :krylov-dim (long (aget info 2))
             :vectors (split-columns vecs n keep)))))
