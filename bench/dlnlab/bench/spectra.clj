(ns dlnlab.bench.spectra
  "Benchmarks of the Lanczos eigensolver on the user's path (issue 10 targets),
  reported as ratios measured in one run, never asserted:

  - iteration overhead: the cost of one Lanczos iteration of
    dlnlab.hessian/eigenvalues (k = 1, at the 1e-12 ||A|| floor and at the
    default tol 1e-8) divided by the cost of one bare prepared HVP, on
    2-pathway depth-4 networks with n = 2048, 6144 and 20480 (target <= 1.5 for
    n >= 2000);
  - warm-started sharpness: HVPs per call of a k = 1 solve warm-started from the
    previous call's vector, of the paths before (tracked-top :stop :residual;
    :stop :value started from the last two tops) and of the :sharpness
    metric's path (tracked-top :stop :value from the predicted top), along a
    GD trajectory, recorded every step and every 10, and along the edge-of-
    stability example (target <= 8); `warm-report` runs this part alone.

  Each target line ends in \"target met\" or the measured gap with its reason.

  Run: lein run -m dlnlab.bench.spectra
  (the warm part alone: lein run -m clojure.main -e \"(require 'dlnlab.bench.spectra) (dlnlab.bench.spectra/warm-report)\")"
  (:require [clojure.edn :as edn]
            [dlnlab.bench.common :as common]
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
  "HVP counts of (solve net p) at every `every`-th of steps GD steps at lr from
  the init of net; solve returns a count. {:n :cold first :warm-median :warm-max}."
  [net steps lr every solve]
  (let [n (engine/size net)
        lr (double lr)
        p (aclone ^doubles (:params net))
        counts (vec (for [t (range steps)
                          :let [c (when (zero? (rem (long t) (long every))) (solve net p))
                                g (engine/gradient net p)]
                          :when (do (dotimes [j n] (aset p j (- (aget p j) (* lr (aget ^doubles g j))))) c)]
                      c))]
    {:n n :cold (first counts) :warm-median (common/median (rest counts))
     :warm-max (reduce max (rest counts))}))

(defn warm-sharpness
  "HVPs per call of dlnlab.hessian/eigenvalues with opts (e.g. {:k 1 :tol 1e-8}),
  warm-started from the previous call's vectors, along steps GD steps at lr from
  the init of the width-w network, and the first (cold) call's count."
  [^long w ^long steps ^double lr opts]
  (let [warm (volatile! nil)]
    (trajectory-counts (net-at w) steps lr 1
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

(defn- residual-tracked
  "A solve by dlnlab.hessian/tracked-top with :stop :residual (the :sharpness
  metric's warm path before :stop :value: three pairs to the residual tol by
  Lanczos from their normalized sum) warm-started from the previous call;
  returns the count."
  [opts]
  (let [warm (volatile! nil)]
    (fn [net ^doubles p]
      (let [op (hessian/operator (alength p) (engine/prepared-hvp net p))
            r (hessian/tracked-top op (cond-> opts @warm (assoc :warm @warm)))]
        (vreset! warm (:vectors r))
        (:hvp-count r)))))

(defn- two-tops-tracked
  "The :sharpness metric's solve with the start block before the prediction:
  the last call's three vectors, the top vector of the call before and the
  gradient all in the span (tracked-top with those as :directions and no
  :history, so the top starts from the last top); returns the count."
  []
  (let [state (volatile! nil)]
    (fn [net ^doubles p]
      ;; the network and parameters as the metric sees them (a run's path)
      (let [net (assoc net :params p)
            op (hessian/operator (alength p) (engine/prepared-hvp net (:params net)))
            {:keys [vectors before]} @state
            g (engine/gradient net (:params net))
            r (hessian/tracked-top op (cond-> {:stop :value :check-multiplicity? true}
                                        vectors (assoc :warm vectors :directions (conj (vec before) g))))]
        (vreset! state {:vectors (:vectors r) :before (when vectors [(first vectors)])})
        (:hvp-count r)))))

(defn metric-cost
  "CPU milliseconds per call of the :sharpness metric with a state (the run's
  path, gradient included), of the same solve started from the last two tops
  instead of the predicted one, of the path before both (tracked-top :stop
  :residual, tol 1e-8) and of k = 2 with the multiplicity probes, warm, along
  steps GD steps at lr (the cold first call included), each from a fresh state:
  after one round of all four (for the JIT), the median over `rounds`
  interleaved rounds. {:tracked ms :two-tops ms :residual ms :probed ms}."
  [^long w ^long steps ^double lr ^long rounds]
  (let [solvers {:tracked #(let [state (volatile! {})]
                             (fn [net p] (metrics/sharpness (assoc net :params p) {:state state})))
                 :two-tops two-tops-tracked
                 :residual #(residual-tracked {})
                 :probed #(let [warm (volatile! nil)]
                            (fn [net p]
                              (let [r (metrics/hessian-top (assoc net :params p) {:k 2 :warm @warm})]
                                (vreset! warm (:vectors r)))))}
        round #(update-vals solvers (fn [make] (per-call-ms w steps lr (make))))
        _ (round)
        times (vec (repeatedly rounds round))]
    (into {} (for [k (keys solvers)] [k (common/median (map k times))]))))

(defn metric-sharpness
  "HVPs per call of the :sharpness metric (dlnlab.metrics/sharpness with a
  state, as a run records it, with opts) at every `every`-th of steps GD steps
  at lr from the init of net."
  [net steps lr every opts]
  (let [state (volatile! {})]
    (trajectory-counts net steps lr every
                       (fn [net ^doubles p]
                         (metrics/sharpness (assoc net :params p) (assoc opts :state state))
                         (get-in @state [:dlnlab.metrics/lanczos :sharpness :hvp-count])))))

(defn- eos-net
  "The network and learning rate of examples/eos-factorization.edn (depth 3,
  5 x 5, lr 0.0315: sharpness rises to 2/lr, then a period-2 oscillation)."
  []
  (let [exp (edn/read-string (slurp "examples/eos-factorization.edn"))]
    [(network/network exp) (double (get-in exp [:optimizer :lr]))]))

(defn- verdict
  "\"target met\" when (ok? x), else the measured gap and its reason."
  [ok? x gap-reason]
  (if (ok? x) "target met" (str "NOT met: " gap-reason)))

(defn warm-report
  "Prints the warm-started sharpness part of the benchmark: HVPs per call
  along the GD trajectories of the README table and the metric's CPU time per
  call, each with its peers measured in the same run."
  []
  (println "Warm-started sharpness on a GD trajectory (target <= 8 HVPs per call, warm median)")
  (let [gap (str "the value to 1e-8 needs a top residual near 3e-5 |value| (Kato-Temple, gap 5-30);"
                 " the start (predicted top, two guards, gradient: one product each) is 1e-3 to 5e-3"
                 " |value| from it while the Hessian moves 2-5% a step (sharpness 110 -> 290), and"
                 " each residual product gains only 1.5-2x, the Krylov rate of a top 5-10% above"
                 " the next eigenvalues")]
    (doseq [w [16 32]
            [label target? f] [["eigenvalues k=1, tol 1e-8 (one pair, no guard)" false
                                #(warm-sharpness w 40 0.002 {:k 1 :tol 1e-8})]
                               ["before: tracked-top :residual (3 pairs to 1e-8)" false
                                #(trajectory-counts (net-at w) 40 0.002 1 (residual-tracked {}))]
                               ["before: :value, started from the last two tops" false
                                #(trajectory-counts (net-at w) 40 0.002 1 (two-tops-tracked))]
                               [":sharpness metric, value to 1e-6" false
                                #(metric-sharpness (net-at w) 40 0.002 1 {:tol 1e-6})]
                               [":sharpness metric, value to 1e-8 (default)" true
                                #(metric-sharpness (net-at w) 40 0.002 1 {})]]]
      (let [{:keys [n cold warm-median warm-max]} (f)]
        (println (format "  width %d, n %d, %s: cold %d HVPs, warm median %.1f, max %d%s"
                         w n label (long cold) (double warm-median) (long warm-max)
                         (if target? (str ": " (verdict #(<= (double %) 8.0) warm-median gap)) "")))))
    (doseq [w [16 32]
            [label f] [["started from the last two tops" (fn [net] (trajectory-counts net 400 0.002 10 (two-tops-tracked)))]
                       [":sharpness metric" (fn [net] (metric-sharpness net 400 0.002 10 {}))]]]
      (let [{:keys [n cold warm-median warm-max]} (f (net-at w))]
        (println (format "  width %d, n %d, %s every 10 steps of 400: cold %d, warm median %.1f, max %d: %s"
                         w n label (long cold) (double warm-median) (long warm-max)
                         (verdict #(<= (double %) 8.0) warm-median gap)))))
    (let [[net lr] (eos-net)]
      (doseq [every [1 5]
              [label f] [["started from the last two tops" #(trajectory-counts net 700 lr every (two-tops-tracked))]
                         [":sharpness metric" #(metric-sharpness net 700 lr every {})]]]
        (let [{:keys [n cold warm-median warm-max]} (f)]
          (println (format "  EoS example (n %d, lr %.4f, 700 steps), %s every %d: cold %d, warm median %.1f, max %d: %s"
                           n lr label every (long cold) (double warm-median) (long warm-max)
                           (verdict #(<= (double %) 8.0) warm-median gap)))))))
  (println "The :sharpness metric's cost per call along the first 40 steps, CPU time (gradient included), median of 5 interleaved rounds")
  (doseq [w [16 32]]
    (let [{:keys [tracked two-tops residual probed]} (metric-cost w 40 0.002 5)]
      (println (format (str "  width %d: metric %.2f ms; started from the last two tops %.2f ms, tracked-top :residual"
                            " %.2f ms, k = 2 with probes %.2f ms: %.2fx, %.1fx and %.1fx the metric's time")
                       w (double tracked) (double two-tops) (double residual) (double probed)
                       (/ (double two-tops) (double tracked)) (/ (double residual) (double tracked))
                       (/ (double probed) (double tracked))))))
  (println "load average:" (common/load-average)))

(defn -main [& _]
  (println "Lanczos iteration vs bare HVP, CPU time, median of interleaved rounds (target <= 1.5 for n >= 2000)")
  (doseq [w [16 32 64]
          [label opts] [["tol 1e-15 (floor)" {:tol 1e-15}] ["tol 1e-8 (default)" {}]]]
    (let [{:keys [n hvps hvp-s lanczos-iteration-s ratio]} (overhead w opts)]
      (println (format "  width %d, n %d, %s, %d HVPs: HVP %.1f us, Lanczos iteration %.1f us, ratio %.2f: %s"
                       w n label hvps (* 1e6 (double hvp-s)) (* 1e6 (double lanczos-iteration-s)) (double ratio)
                       (verdict #(<= (double %) 1.5) ratio
                                (str "per step the recurrence's two sweeps over three working vectors"
                                     " (its only basis access is writing the new column once; scalar loops"
                                     " with four partial sums in a fixed order, so results do not depend on"
                                     " the machine, at the scalar floating-point throughput, as the JDK 17"
                                     " JIT does not vectorize reductions), and per solve one measurement of"
                                     " the loss of orthogonality (one pass over the basis for two"
                                     " projections, when Simon's bound asks for it), the locking (the Ritz"
                                     " vector from the whole basis, its explicit residual) and the"
                                     " convergence checks; at the 1e-12 floor also the reorthogonalizations"
                                     " the measured loss asks for. One HVP costs only some 20 to 40 sweeps"
                                     " of a vector at these sizes"))))))
  (warm-report)
  (println "load average:" (common/load-average)))
