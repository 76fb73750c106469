(ns dlnlab.studies.saddle-to-saddle.network-test
  "The weak error of the per-mode SDE against full-network SGD (dlnlab.studies.
  saddle-to-saddle.network): the network starts aligned and balanced at pi0, the
  grids agree, and the error is O(lr) plus sampling error, bounded by the
  deterministic gap between the per-mode GD map and gradient flow."
  (:require [clojure.test :refer [deftest is testing]]
            [dlnlab.kinds]
            [dlnlab.studies.saddle-to-saddle.network :as s2s-net]
            [dlnlab.theory :as th]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- close? [a b rel]
  (<= (Math/abs (- (double a) (double b))) (* (double rel) (max 1e-300 (Math/abs (double b))))))

(defn- gd-vs-flow-gap
  "max over the modes and times t = lr n of |pi after n steps of the balanced per-mode
  GD map - pi(t) of gradient flow| (dlnlab.theory, SCIENCE.md §4): the deterministic
  O(lr) part of the weak error between SGD and its SDE."
  ^double [modes depth lr times]
  (let [l (long depth) lr (double lr)]
    (double (reduce max (for [{:keys [s pi0]} modes t times]
                          (let [n (long (Math/round (/ (double t) lr)))
                                a (loop [k 0 a (Math/pow (double pi0) (/ 1.0 l))]
                                    (if (< k n) (recur (inc k) (th/gd-step {:s s :depth l :lr lr} a)) a))]
                            (Math/abs (- (Math/pow a l) (th/gradient-flow-pi {:s s :pi0 pi0 :depth l} t)))))))))

(defn- excess
  "|error| - 4 combined standard errors at each time and mode, flattened."
  [c]
  (mapcat (fn [errs nse sse] (map (fn [e a b] (- (double e) (* 4.0 (Math/sqrt (+ (* (double a) (double a)) (* (double b) (double b)))))))
                                   errs nse sse))
          (:abs-error c) (:network-std-error c) (:sde-std-error c)))

(deftest weak-error-against-full-network-sgd
  ;; modes listed with the smaller target first, so the network's order (decreasing s) differs
  (let [modes [{:s 0.5 :pi0 0.08} {:s 1.0 :pi0 0.05}]
        spec (fn [lr] {:modes modes :depth 2 :lr lr :batch-size 64 :label-noise 0.1 :paths 4000
                       :dt 0.001 :time 5.0 :seed 2 :record {:points 501}})
        small (s2s-net/compare-with-network (spec 0.01) {:seeds 48})
        large (s2s-net/compare-with-network (spec 0.2) {:seeds 48})
        gap-small (gd-vs-flow-gap modes 2 0.01 (:times small))
        gap-large (gd-vs-flow-gap modes 2 0.2 (:times large))]
    (testing "the network starts aligned and balanced at pi0, mode by mode"
      (is (every? true? (map #(close? %1 (:pi0 %2) 1e-12) (first (:network-mean small)) modes)))
      (is (= 0.0 (first (:times small))))
      (is (= [48 0] [(:runs small) (:diverged small)]))
      (is (= {:kind :balanced-aligned :strengths [0.05 0.08] :hidden-basis :identity}
             (get-in small [:experiment :model :init]))))
    (testing "the common grid is t = lr x steps"
      (is (every? true? (map #(close? (* 0.01 (double %1)) %2 1e-12) (rest (:steps small)) (rest (:times small)))))
      (is (close? 5.0 (peek (:times small)) 1e-12)))
    (testing "small lr: the SDE mean is the network mean up to O(lr) and sampling error"
      ;; weak error = bias + sampling error; the bias is O(lr) and its deterministic part
      ;; is the GD-vs-gradient-flow gap (computed above without either simulation); twice
      ;; it covers the noise-driven O(lr) terms, four combined standard errors the two
      ;; Monte Carlo means
      (is (every? #(<= (double %) (* 2.0 gap-small)) (excess small)))
      (is (< (double (:relative small)) 0.01)))
    (testing "large lr: the error is a real bias, of the size of the GD-vs-flow gap"
      (is (pos? (double (reduce max (excess large)))) "beyond four standard errors somewhere")
      (is (>= (double (:max-abs-error large)) (* 0.5 gap-large)))
      (is (every? #(<= (double %) (* 2.0 gap-large)) (excess large)) "and no larger than the small-lr bound scaled to this lr")
      ;; (the small-lr error is mostly sampling error, about two standard errors)
      (is (> (double (:max-abs-error large)) (* 3.0 (double (:max-abs-error small))))))))
