(ns dlnlab.objective-test
  "Objective/sampleLoss, the exact loss of samples (l* of a task), against its
  definition written out sample by sample: the same number bit for bit, on
  random shapes, with zero and negative-zero inputs, sample counts that are
  not a multiple of the kernel's block, and non-finite F (where the kernel
  takes its sample-by-sample route)."
  (:require [clojure.test :refer [deftest is testing]]
            [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.generators :as gen]
            [clojure.test.check.properties :as prop])
  (:import [dlnlab.kernel Objective Rng]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- definition
  "(1/2n) sum_i ||F x_i - y_i||^2 in the documented order: residual a of sample
  i is -y_ia, then + F_ab x_ib for b = 0, 1, ... leaving out x_ib = 0; the
  squares summed sample by sample, a = 0, 1, ... within a sample."
  [n din dout ^doubles x ^doubles y ^doubles f]
  (let [n (long n) din (long din) dout (long dout)]
   (loop [i 0 s 0.0]
    (if (= i n)
      (/ s (* 2.0 n))
      (let [r (double-array dout)]
        (dotimes [a dout] (aset r a (- (aget y (+ a (* i dout))))))
        (dotimes [b din]
          (let [xb (aget x (+ b (* i din)))]
            (when-not (== xb 0.0)
              (dotimes [a dout] (aset r a (+ (aget r a) (* (aget f (+ a (* b dout))) xb)))))))
        (recur (inc i) (areduce r a acc s (+ acc (* (aget r a) (aget r a))))))))))

(defn- gaussians ^doubles [^long n ^long seed ^long stream]
  (let [a (double-array n)] (Rng/fillGaussian seed stream 0 1.0 a 0 n) a))

(defn- with-zeros!
  "x with about a fifth of its entries set to 0.0 or -0.0 (chosen by seed)."
  ^doubles [^doubles x ^long seed]
  (dotimes [k (alength x)]
    (let [u (Rng/uniform seed 9 k)]
      (cond (< u 0.1) (aset x k 0.0)
            (< u 0.2) (aset x k -0.0))))
  x)

(defn- bits [^double v] (Double/doubleToRawLongBits v))

(defspec sample-loss-is-its-definition-bit-for-bit 40
  (prop/for-all [n (gen/choose 1 300) din (gen/choose 1 11) dout (gen/choose 1 9)
                 seed gen/nat zeros? gen/boolean]
    (let [n (long n) din (long din) dout (long dout) seed (long seed)
          x (cond-> (gaussians (* n din) seed 0) zeros? (with-zeros! seed))
          y (gaussians (* n dout) seed 1)
          f (gaussians (* din dout) seed 2)]
      (= (bits (definition n din dout x y f))
         (bits (Objective/sampleLoss n din dout x y f))))))

(deftest sample-loss-non-finite-f
  (testing "an infinite or NaN entry of F: Inf x 0 is NaN, so zero inputs must be left out as the definition says"
    (let [n 130 din 5 dout 3
          x (with-zeros! (gaussians (* n din) 4 0) 4)
          y (gaussians (* n dout) 4 1)]
      (doseq [bad [Double/POSITIVE_INFINITY Double/NaN]]
        (let [f (gaussians (* din dout) 4 2)
              _ (aset f 4 (double bad))
              ours (Objective/sampleLoss n din dout x y f)]
          (is (= (bits (definition n din dout x y f)) (bits ours)) (str "F has " bad)))))))

(deftest exact-objective-loss-at-its-minimum
  (testing "the MOMENTS objective's l* is the sample loss at F*, and loss(F*) = l*"
    (let [n 200 din 6 dout 4
          x (gaussians (* n din) 8 0)
          y (gaussians (* n dout) 8 1)
          o (Objective/samples n din dout x y)
          work (double-array (.workSize o))]
      (is (= (bits (definition n din dout x y (.fstar o))) (bits (.lstar o))))
      (is (= (bits (.lstar o)) (bits (.lossAndResidual o (.fstar o) nil work)))))))
