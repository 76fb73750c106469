(ns dlnlab.spectra-sweeps-test
  "The blocked sweeps of Lanczos' reorthogonalization (Spectra/project,
  Spectra/accumulate, Spectra/axpy2) against the one-vector-at-a-time route they
  replace (Blas/dot and Blas/axpy per basis vector): equal bit for bit, for every
  number of columns (each remainder of the blocking) and vector length."
  (:require [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.generators :as gen]
            [clojure.test.check.properties :as prop])
  (:import (dlnlab.kernel Blas Rng Spectra)))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- gaussians ^doubles [^long n ^long seed ^long stream]
  (let [a (double-array n)] (Rng/fillGaussian seed stream 0 1.0 a 0 n) a))

(defn- same-bits? [^doubles a ^doubles b]
  (and (== (alength a) (alength b))
       (every? (fn [^long i] (== (Double/doubleToRawLongBits (aget a i)) (Double/doubleToRawLongBits (aget b i))))
               (range (alength a)))))

(def ^:private shapes
  ;; lengths around the 4-way unrolling, column counts through every remainder
  (gen/tuple (gen/choose 1 37) (gen/choose 1 11) (gen/choose 0 100000)))

(defspec project-equals-one-dot-per-column 60
  (prop/for-all [[n cols seed] shapes]
    (let [n (long n) cols (long cols) seed (long seed)
          q (gaussians (* n cols) seed 0)
          w (gaussians n seed 1)
          h (double-array cols)
          ref (double-array cols)]
      (Spectra/project n cols q w h)
      (dotimes [c cols] (aset ref c (Blas/dot n q (* c n) w 0)))
      (same-bits? h ref))))

(defspec accumulate-equals-one-axpy-per-column 60
  (prop/for-all [[n cols seed] shapes negate? gen/boolean]
    (let [n (long n) cols (long cols) seed (long seed)
          q (gaussians (* n cols) seed 0)
          h (gaussians cols seed 2)
          w (gaussians n seed 1)
          ref (aclone w)]
      (Spectra/accumulate n cols q h (boolean negate?) w)
      (dotimes [c cols] (Blas/axpy n (if negate? (- (aget h c)) (aget h c)) q (* c n) ref 0))
      (same-bits? w ref))))

(defspec axpy2-equals-two-axpys 40
  (prop/for-all [[n _ seed] shapes]
    (let [n (long n) seed (long seed)
          x (gaussians (* 3 n) seed 0)
          w (gaussians n seed 1)
          ref (aclone w)
          a 0.37 b -1.9]
      (Spectra/axpy2 n a x n b x (* 2 n) w)
      (Blas/axpy n a x n ref 0)
      (Blas/axpy n b x (* 2 n) ref 0)
      (same-bits? w ref))))
