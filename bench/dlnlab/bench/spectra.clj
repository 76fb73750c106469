(ns dlnlab.bench.spectra
  "Benchmarks of the Lanczos eigensolver on the user's path (issue 10 targets),
  reported as ratios measured in one run, never asserted:

  - iteration overhead: the cost of one Lanczos iteration of
    dlnlab.hessian/eigenvalues (k = 1, at the 1e-12 ||A|| floor and at the
    default tol 1e-8) divided by the cost of one bare prepared HVP, on
    2-pathway depth-4 networks with n = 2048, 6144 and 20480 (target <= 1.5 for
    n >= 2000);
  - warm-started sharpness: HVPs per call of a k = 1 solve warm-started from the
    previous call's vector, and of the :sharpness metric's path
    (dlnlab.hessian/tracked-top), along a GD trajectory (target <= 8).

  Each target line ends in \"target met\" or the measured gap with its reason.

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

(def ^:private ^java.lang.management.ThreadMXBean threads
  (java.lang.management.ManagementFactory/getThreadMXBean))

(defn- timed-median
  "Median CPU seconds of this thread over reps runs of f, after warm runs: on a
  shared machine CPU time is what the code costs, wall time what the load adds
  (OpenBLAS is pinned to this thread, so native products count too)."
  ^double [f ^long warm ^long reps]
  (dotimes [_ warm] (f))
  (common/median (for [_ (range reps)]
                   (let [t0 (.getCurrentThreadCpuTime threads)]
                     (f)
                     (/ (double (- (.getCurrentThreadCpuTime threads) t0)) 1e9)))))

(defn overhead
  "CPU seconds per bare prepared HVP, per Lanczos iteration of
  dlnlab.hessian/eigenvalues (k = 1, at most 60 iterations, with opts: e.g.
  {:tol 1e-15}, which ends on the 1e-12 ||A|| residual floor, or {} for the
  default tol 1e-8) and their ratio, at hidden width w. Iteration = solve time /
  products (the locking product included). Each of reps rounds times 60 bare
  HVPs and then one solve on the same thread, so a change of load between the
  two is seen by both; the medians over the rounds are reported, the ratio being
  the median of the rounds' ratios."
  [^long w opts]
  (let [net (net-at w)
        n (engine/size net)
        f (engine/prepared-hvp net (:params net))
        x (double-array n 1.0) y (double-array n)
        op (hessian/operator n f)
        opts (merge {:k 1 :max-iter 60} opts)
        hvps (long (:hvp-count (hessian/eigenvalues op opts)))
        reps (if (> n 10000) 15 41)
        bare #(dotimes [_ 60] (f x y))
        solve #(hessian/eigenvalues op opts)
        ;; the JIT compiles the once-a-solve parts (locking, the final
        ;; eigen-decomposition) only after a few hundred solves
        _ (dotimes [_ (if (> n 10000) 60 300)] (bare) (solve))
        rounds (vec (for [_ (range reps)]
                      (let [h (/ (timed-median bare 0 1) 60.0)
                            i (/ (timed-median solve 0 1) (double hvps))]
                        [h i (/ i h)])))]
    {:width w :n n :hvps hvps
     :hvp-s (common/median (map first rounds))
     :lanczos-iteration-s (common/median (map second rounds))
     :ratio (common/median (map peek rounds))}))

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

(defn- per-call-ms
  "CPU milliseconds per call of (solve net p) along steps GD steps at lr."
  ^double [^long w ^long steps ^double lr solve]
  (let [net (net-at w)
        n (engine/size net)
        p (aclone ^doubles (:params net))
        total (double-array 1)]
    (dotimes [_ steps]
      (aset total 0 (+ (aget total 0) (timed-median #(solve net p) 0 1)))
      (let [g (engine/gradient net p)]
        (dotimes [j n] (aset p j (- (aget p j) (* lr (aget g j)))))))
    (/ (* 1e3 (aget total 0)) (double steps))))

(defn metric-cost
  "CPU milliseconds per call of the :sharpness metric with a state (the run's
  path) and of the path it replaced (k = 2 with the multiplicity probes, warm),
  along steps GD steps at lr: {:tracked ms :probed ms}."
  [^long w ^long steps ^double lr]
  (let [state (volatile! {})
        warm (volatile! nil)]
    {:tracked (per-call-ms w steps lr (fn [net p] (metrics/sharpness (assoc net :params p) {:state state})))
     :probed (per-call-ms w steps lr (fn [net p]
                                      (let [r (metrics/hessian-top (assoc net :params p) {:k 2 :warm @warm})]
                                        (vreset! warm (:vectors r)))))}))

(defn metric-sharpness
  "HVPs per call of the :sharpness metric (dlnlab.metrics/sharpness with a
  state, as a run records it) along steps GD steps at lr."
  [^long w ^long steps ^double lr]
  (let [state (volatile! {})]
    (trajectory-counts w steps lr
                       (fn [net ^doubles p]
                         (metrics/sharpness (assoc net :params p) {:state state})
                         (get-in @state [:dlnlab.metrics/lanczos :sharpness :hvp-count])))))

(defn tracked-sharpness
  "HVPs per call of dlnlab.hessian/tracked-top (the :sharpness metric's path)
  with opts, warm-started from the previous call's kept vectors, along steps GD
  steps at lr from the init, and the first (cold) call's count."
  [^long w ^long steps ^double lr opts]
  (let [warm (volatile! nil)]
    (trajectory-counts w steps lr
                       (fn [net ^doubles p]
                         (let [op (hessian/operator (alength p) (engine/prepared-hvp net p))
                               r (hessian/tracked-top op (cond-> opts @warm (assoc :warm @warm)))]
                           (vreset! warm (:vectors r))
                           (:hvp-count r))))))

(defn- verdict
  "\"target met\" when (ok? x), else the measured gap and its reason."
  [ok? x gap-reason]
  (if (ok? x) "target met" (str "NOT met: " gap-reason)))

(defn -main [& _]
  (println "Lanczos iteration vs bare HVP, CPU time, median of interleaved rounds (target <= 1.5 for n >= 2000)")
  (doseq [w [16 32 64]
          [label opts] [["tol 1e-15 (floor)" {:tol 1e-15}] ["tol 1e-8 (default)" {}]]]
    (let [{:keys [n hvps hvp-s lanczos-iteration-s ratio]} (overhead w opts)]
      (println (format "  width %d, n %d, %s, %d HVPs: HVP %.1f us, Lanczos iteration %.1f us, ratio %.2f: %s"
                       w n label hvps (* 1e6 (double hvp-s)) (* 1e6 (double lanczos-iteration-s)) (double ratio)
                       (verdict #(<= (double %) 1.5) ratio
                                (str "per step the recurrence's three sweeps over w (their sums keep"
                                     " the order of one Blas.dot each, so results stay bit for bit:"
                                     " scalar and latency-bound), and per solve about two full"
                                     " reorthogonalizations, the final tridiagonal eigen-decomposition"
                                     " (LAPACK dstev) and the locking sweep over the basis; one HVP costs"
                                     " only some 20 to 40 sweeps of a vector at these sizes"))))))
  (println "Warm-started sharpness on a GD trajectory (target <= 8 HVPs per call)")
  (doseq [w [16 32]
          [label f] [["eigenvalues k=1, tol 1e-8" #(warm-sharpness w 40 0.002 {:k 1 :tol 1e-8})]
                     ["eigenvalues k=1, tol 1e-4" #(warm-sharpness w 40 0.002 {:k 1 :tol 1e-4})]
                     ["tracked-top (3 pairs), tol 1e-4" #(tracked-sharpness w 40 0.002 {:tol 1e-4})]
                     [":sharpness metric (tracked-top, 3 pairs, tol 1e-8)" #(metric-sharpness w 40 0.002)]]]
    (let [{:keys [n cold warm-median warm-max]} (f)]
      (println (format "  width %d, n %d, %s: cold %d HVPs, warm median %.1f, max %d: %s"
                       w n label (long cold) (double warm-median) (long warm-max)
                       (verdict #(<= (double %) 8.0) warm-median
                                (str "lr x sharpness is 0.2-0.6 on this trajectory, so the Hessian moves"
                                     " 1-10% per step and the kept vectors need that many products to"
                                     " reach the tolerance again"))))))
  (println "The :sharpness metric's cost per call, CPU time (before: k = 2 with the multiplicity probes)")
  (doseq [w [16 32]]
    (let [{:keys [tracked probed]} (metric-cost w 40 0.002)]
      (println (format "  width %d: tracked %.2f ms, k = 2 with probes %.2f ms, %.1fx faster"
                       w (double tracked) (double probed) (/ (double probed) (double tracked))))))
  (println "load average:" (common/load-average)))
