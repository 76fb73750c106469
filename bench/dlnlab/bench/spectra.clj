(ns dlnlab.bench.spectra
  "Benchmarks of the Lanczos eigensolver on the user's path (issue 10 targets),
  reported as ratios measured in one run, never asserted:

  - iteration overhead: the cost of one Lanczos iteration of
    dlnlab.hessian/eigenvalues divided by the cost of one bare prepared HVP, on
    2-pathway depth-4 networks with n >= 2000 (target <= 1.5);
  - warm-started sharpness: HVPs per call of a k = 1 solve warm-started from the
    previous call's vector along a GD trajectory (target <= 8);
  - the multiplicity guarantee's price: HVPs of a k = 3 call next to k = 1.

  Run: lein run -m dlnlab.bench.spectra"
  (:require [dlnlab.bench.common :as common]
            [dlnlab.engine :as engine]
            [dlnlab.hessian :as hessian]
            [dlnlab.metrics :as metrics]
            [dlnlab.network :as network]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- net-at
  "A 2-pathway depth-4 network of hidden width w on a 16 x 16 target, from a
  Gaussian init."
  [^long w]
  (network/network {:seed 3
                    :task {:kind :matrix-factorization :singular-values (vec (range 16 0 -1)) :dims [16 16]}
                    :model {:kind :multi-pathway :pathways 2 :depth 4 :width w}}))

(defn- timed-median
  "Median seconds of reps runs of f, after warm runs."
  ^double [f ^long warm ^long reps]
  (dotimes [_ warm] (f))
  (common/median (for [_ (range reps)]
                   (let [t0 (System/nanoTime)] (f) (common/seconds-since t0)))))

(defn overhead
  "Seconds per bare HVP, seconds per Lanczos iteration (60 iterations, a
  tolerance it cannot meet) and their ratio, at hidden width w."
  [^long w]
  (let [net (net-at w)
        n (engine/size net)
        f (engine/prepared-hvp net (:params net))
        x (double-array n 1.0) y (double-array n)
        per-hvp (/ (timed-median (fn [] (dotimes [_ 60] (f x y))) 5 15) 60.0)
        op (hessian/operator n f)
        opts {:k 1 :max-iter 60 :tol 1e-15}
        hvps (long (:hvp-count (hessian/eigenvalues op opts)))
        per-iter (/ (timed-median #(hessian/eigenvalues op opts) 5 15) (double hvps))]
    {:width w :n n :hvp-s per-hvp :lanczos-iteration-s per-iter :ratio (/ per-iter per-hvp)}))

(defn- trajectory-counts
  "HVP counts of (solve net p) at each of steps GD steps at lr from the init of
  the width-w network; solve returns a count. {:cold first :warm-median :warm-max}."
  [^long w ^long steps ^double lr solve]
  (let [net (net-at w)
        n (engine/size net)
        p (aclone ^doubles (:params net))
        counts (vec (for [_ (range steps)]
                      (let [c (solve net p)
                            g (engine/gradient net p)]
                        (dotimes [j n] (aset p j (- (aget p j) (* lr (aget g j)))))
                        c)))]
    {:width w :n n :cold (first counts) :warm-median (common/median (rest counts))
     :warm-max (reduce max (rest counts))}))

(defn warm-sharpness
  "HVPs per call of dlnlab.hessian/eigenvalues with opts (e.g. {:k 1 :tol 1e-8}),
  warm-started from the previous call's vectors, along steps GD steps at lr from
  the init, and the first (cold) call's count."
  [^long w ^long steps ^double lr opts]
  (let [warm (volatile! nil)]
    (trajectory-counts w steps lr
                       (fn [net ^doubles p]
                         (let [op (hessian/operator (alength p) (engine/prepared-hvp net p))
                               r (hessian/eigenvalues op (cond-> (assoc opts :vectors? true)
                                                           @warm (assoc :warm @warm)))]
                           (vreset! warm (:vectors r))
                           (:hvp-count r))))))

(defn metric-sharpness
  "HVPs per call of the :sharpness metric (dlnlab.metrics/sharpness with a
  state, as a run records it) along steps GD steps at lr."
  [^long w ^long steps ^double lr]
  (let [state (volatile! {})]
    (trajectory-counts w steps lr
                       (fn [net ^doubles p]
                         (metrics/sharpness (assoc net :params p) {:state state})
                         (get-in @state [:dlnlab.metrics/lanczos :sharpness :hvp-count])))))

(defn -main [& _]
  (println "Lanczos iteration vs bare HVP (target <= 1.5 for n >= 2000)")
  (doseq [w [16 32]]
    (let [{:keys [n hvp-s lanczos-iteration-s ratio]} (overhead w)]
      (println (format "  width %d, n %d: HVP %.1f us, Lanczos iteration %.1f us, ratio %.2f"
                       w n (* 1e6 (double hvp-s)) (* 1e6 (double lanczos-iteration-s)) (double ratio)))))
  (println "Warm-started sharpness on a GD trajectory (target <= 8 HVPs per call)")
  (doseq [w [16 32]
          [label f] [["eigenvalues k=1, tol 1e-8" #(warm-sharpness w 40 0.002 {:k 1 :tol 1e-8})]
                     ["eigenvalues k=1, tol 1e-4" #(warm-sharpness w 40 0.002 {:k 1 :tol 1e-4})]
                     ["eigenvalues k=2, no probe" #(warm-sharpness w 40 0.002 {:k 2 :check-multiplicity? false})]
                     [":sharpness metric (k=2 + probe)" #(metric-sharpness w 40 0.002)]]]
    (let [{:keys [n cold warm-median warm-max]} (f)]
      (println (format "  width %d, n %d, %s: cold %d HVPs, warm median %.1f, max %d"
                       w n label (long cold) (double warm-median) (long warm-max)))))
  (println "load average:" (common/load-average)))
