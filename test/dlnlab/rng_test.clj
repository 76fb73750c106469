(ns dlnlab.rng-test
  "The counter-based generator against its definition written out here
  (SplitMix64's finalizer on a Weyl sequence over seed, stream and index, then
  Box-Muller): the fill loops, which compute the (seed, stream) mix once, give
  the same numbers bit for bit as the definition at every position; and the
  ziggurat's column-scaled fill (dlnlab.kernel.Normal) against Normal/at."
  (:require [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.generators :as gen]
            [clojure.test.check.properties :as prop])
  (:import [dlnlab.kernel Normal Rng]))

(set! *warn-on-reflection* true)

(def ^:private golden (unchecked-long 0x9E3779B97F4A7C15))

(defn- definition-bits
  "64 bits at (seed, stream, index) as the generator defines them, with every
  mix computed at the position."
  ^long [^long seed ^long stream ^long index]
  (let [k (Rng/mix64 (unchecked-add seed golden))
        k (Rng/mix64 (bit-xor k (unchecked-add (unchecked-multiply stream golden) (unchecked-long 0x632BE59BD9B4E019))))]
    (Rng/mix64 (bit-xor k (unchecked-add (unchecked-multiply index (unchecked-long 0xD1B54A32D192ED03)) golden)))))

(defn- definition-uniform ^double [^long seed ^long stream ^long index]
  (* (+ (double (unsigned-bit-shift-right (definition-bits seed stream index) 11)) 0.5) (Math/pow 2.0 -53)))

(defn- definition-gaussian ^double [^long seed ^long stream ^long index]
  (let [u1 (definition-uniform seed stream (* 2 index))
        u2 (definition-uniform seed stream (inc (* 2 index)))]
    (* (Math/sqrt (* -2.0 (Math/log u1))) (Math/cos (* 2.0 Math/PI u2)))))

(defn- same-bits? [^double a ^double b] (== (Double/doubleToRawLongBits a) (Double/doubleToRawLongBits b)))

(defspec fill-loops-match-the-definition-bit-for-bit 60
  (prop/for-all [seed gen/large-integer
                 stream (gen/choose 0 2000000)
                 first-index (gen/choose 0 1000000)
                 n (gen/choose 1 300)
                 off (gen/choose 0 5)
                 scale (gen/double* {:infinite? false :NaN? false :min -10.0 :max 10.0})]
    (let [seed (long seed) stream (long stream) first-index (long first-index) n (long n) off (long off)
          out (double-array (+ off n))]
      (Rng/fillGaussian seed stream first-index (double scale) out off n)
      (and (every? (fn [^long i]
                     (let [idx (+ first-index i)]
                       (and (same-bits? (aget out (+ off i)) (* (double scale) (definition-gaussian seed stream idx)))
                            (same-bits? (Rng/gaussian seed stream idx) (definition-gaussian seed stream idx))
                            (same-bits? (Rng/uniform seed stream idx) (definition-uniform seed stream idx))
                            (== (Rng/bits seed stream idx) (definition-bits seed stream idx)))))
                   (range n))
           (every? zero? (take off out))))))

(defspec column-scaled-fill-matches-the-definition-bit-for-bit 40
  (prop/for-all [seed gen/large-integer
                 stream (gen/choose 0 2000000)
                 first-index (gen/choose 0 1000000)
                 d (gen/choose 1 7)
                 n (gen/choose 0 100)
                 off (gen/choose 0 5)]
    (let [seed (long seed) stream (long stream) first-index (long first-index) d (long d) n (long n) off (long off)
          scales (double-array (map #(Math/sqrt (+ 0.1 (double %))) (range d)))
          out (double-array (+ off n))]
      (Rng/fillGaussianColumns seed stream first-index scales out off n)
      (and (every? (fn [^long i]
                     (same-bits? (aget out (+ off i))
                                 (* (* 1.0 (definition-gaussian seed stream (+ first-index i))) (aget scales (rem i d)))))
                   (range n))
           (every? zero? (take off out))))))

;; The ziggurat's column-scaled fill (the teacher-student data) against its
;; scalar definition, Normal/at at each counter.

(defspec ziggurat-column-fill-matches-normal-at-bit-for-bit 40
  (prop/for-all [key gen/large-integer
                 first-index (gen/choose 0 1000000)
                 d (gen/choose 1 7)
                 n (gen/choose 0 100)
                 off (gen/choose 0 5)]
    (let [key (long key) first-index (long first-index) d (long d) n (long n) off (long off)
          scales (double-array (map #(- 1.5 (double %)) (range d)))
          out (double-array (+ off n))]
      (Normal/fillColumns key first-index scales out off n)
      (and (every? (fn [^long i]
                     (same-bits? (aget out (+ off i)) (* (aget scales (rem i d)) (Normal/at key (+ first-index i)))))
                   (range n))
           (every? zero? (take off out))))))
