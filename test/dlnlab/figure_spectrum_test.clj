(ns dlnlab.figure-spectrum-test
  "The :hessian-density figure (dlnlab.figure.spectrum): its layers hold the
  density it was given, the exact spectrum broadened alike (a probability
  density: it integrates to 1, and stochastic Lanczos quadrature approaches it),
  and the threshold; it goes through Vega-Lite and the PNG renderer."
  (:require [clojure.java.io :as io]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.core :as dln]
            [dlnlab.figure :as fig]
            [dlnlab.figure.spectrum]
            [dlnlab.hessian :as hessian]
            [dlnlab.render :as render]
            [dlnlab.vega :as vega]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def ^:private net
  (delay (dln/network {:seed 3 :model {:kind :chain :depth 3 :width 4}
                       :task {:kind :matrix-factorization :singular-values [3.0 2.0 1.0] :dims [4 4]}})))

(defn- trapezoid ^double [pts]
  (reduce + 0.0 (map (fn [[x0 y0] [x1 y1]] (* 0.5 (- (double x1) (double x0)) (+ (double y0) (double y1))))
                     pts (rest pts))))

(deftest density-figure-layers
  (let [dens (hessian/hessian-density @net {:probes 12 :steps 48 :points 301})
        eigs (hessian/dense-eigenvalues (dln/hessian @net))
        f (fig/figure :hessian-density dens {:eigenvalues eigs :threshold 30.0 :log-y false})
        [slq exact rule] (get-in f [:panels 0 :layers])]
    (is (= [:line :line :x-rule] (mapv :mark [slq exact rule])))
    (is (= (mapv vector (:grid dens) (:density dens)) (:points slq)) "the density as given, on a linear axis")
    (is (= 30.0 (:x rule)))
    (testing "the exact spectrum broadened by sigma is a probability density (the grid spans +-4 sigma beyond the nodes, which lie inside the spectrum)"
      ;; the mass outside [min - 4 sigma, max + 4 sigma] of a Gaussian is 3e-5 per eigenvalue at the edge
      (is (< (Math/abs (- 1.0 (trapezoid (:points exact)))) 1e-3)))
    (testing "48 Lanczos steps on the 48 parameters are exact: every probe's quadrature reproduces the spectrum's, so the two curves agree up to the probes' sampling"
      (let [gap (reduce max (map (fn [[_ a] [_ b]] (Math/abs (- (double a) (double b)))) (:points slq) (:points exact)))
            peak (reduce max (map #(double (second %)) (:points exact)))]
        ;; 12 Rademacher probes: a relative error of order 1/sqrt(12) at worst on a peak
        (is (< (double gap) (* 0.6 (double peak))))))
    (testing "on the default log axis the tails are floored at 1e-8 of the peak"
      (let [g (fig/figure :hessian-density dens {})
            ys (map second (get-in g [:panels 0 :layers 0 :points]))
            peak (reduce max (:density dens))]
        (is (true? (get-in g [:y :log?])))
        (is (every? #(>= (double %) (* 1e-8 (double peak))) ys))))))

(deftest density-figure-output-and-errors
  (let [dens (hessian/hessian-density @net {:probes 4 :steps 20})
        f (fig/figure :hessian-density dens {:threshold 25.0})]
    (is (= "vega-lite" (some-> (vega/spec f) meta :kindly/kind name)))
    (let [dir (io/file (System/getProperty "java.io.tmpdir") (str "dlnlab-spectrum-" (System/nanoTime)))
          path (str (io/file dir "density.png"))]
      (.mkdirs dir)
      (try
        (render/render! f path)
        (is (< 1000 (.length (io/file path))))
        (finally (doseq [^java.io.File x (reverse (file-seq dir))] (.delete x)))))
    (is (thrown-with-msg? clojure.lang.ExceptionInfo #"hessian-density"
                          (fig/figure :hessian-density {:grid [1.0]} {})))
    (is (thrown-with-msg? clojure.lang.ExceptionInfo #":threshold"
                          (fig/figure :hessian-density dens {:threshold "2/eta"})))))
