(ns dlnlab.bench.gd
  "Benchmark of the gradient-descent run loop against PyTorch (issue 3,
  \"Benchmark\"): steps per second of full-batch GD at the sizes of the examples,
  with and without sharpness recording, through the real run loop
  (dlnlab.experiment/run: network built from the experiment map, metrics
  recorded, analysis and result map), against bench/torch_gd.py doing the same
  training loop (same start weights and data, same loss, same learning rate,
  float64, one thread on both sides).

  Cases: the edge-of-stability factorization (examples/eos-factorization.edn,
  75 parameters), the multi-pathway re-balancing (96), GD at the size of the SGD
  saddle-to-saddle example (teacher-student on 2000 samples, 512 parameters,
  lr 0.02 full batch), and the width-64 muP point of examples/mup-vs-ntk-width.edn
  (5120 parameters). Recording: the loss every step; plus the sharpness
  (warm-started Lanczos, tolerance 1e-8) every 100 or every 10 steps. The peer's
  Lanczos uses, measurement by measurement, as many Hessian-vector products as
  ours did (counted in an untimed calibration run).

  The peer runs twice, as in dlnlab.bench.engine: with the BLAS Debian's
  python3-torch links by default (the reference libblas) and with dlnlab's own
  OpenBLAS as libblas.so.3. Both stay up in serve mode; every sample of a table
  cell is one run of each side, back to back, so the sides see the same machine
  load. Our time covers the whole `run` call (building the network from the map,
  the analysis, the result); the peer's covers its training loop. Wall time is
  the headline; process CPU time of the same runs is reported too, being less
  sensitive to the load of a shared machine.

  Agreement: the peers start from our initial weights (and our first Lanczos
  start vector) and the losses after N steps and at the end, and every recorded
  sharpness, are compared; where the sharpness differs, the dense Hessian at that
  step (networks up to 1000 parameters) says which side is right. A breakdown of
  our time (gradient kernel, run loop, fixed cost of a run, sharpness in and
  outside HVPs) closes the report.

  The user's path (issue 10, `run-cases`): a whole run of 400 GD steps of a
  2-pathway depth-4 network, input = hidden = output width W (16 and 64), on a
  512-sample regression, against the peer's loop (target: 8x), and the fixed
  cost of a run (`fixed-cost`; target: 0.5 ms at W = 16), cold (fresh data each
  run) and with the data of an earlier run shared (a sweep over learning rates),
  with its parts timed one by one.

  Options: --quick fewer samples (a smoke run); --agreement-only stops after the
  agreement check; --runs-only measures only the user's path.

  Run: lein run -m dlnlab.bench.gd [--quick] [--runs-only]. Prints a Markdown
  report and writes it to bench/out/gd.md."
  (:require [dlnlab.bench.common :refer [median seconds-since openblas-path blas-shim! log start-peer stop-peer delete-tree! proc-lines load-average ensure-peer! machine-env]]
            [clojure.edn :as edn]
            [clojure.java.io :as io]
            [clojure.string :as str]
            [dlnlab.analysis :as analysis]
            [dlnlab.engine :as engine]
            [dlnlab.experiment :as experiment]
            [dlnlab.hessian :as hessian]
            [dlnlab.metrics :as metrics]
            [dlnlab.model :as model]
            [dlnlab.network :as network]
            [dlnlab.optim :as optim]
            [dlnlab.provenance :as provenance]
            [dlnlab.spec :as spec]
            [dlnlab.task :as task])
  (:import [dlnlab.kernel Arch Blas Engine Normal Objective Rng]
           [java.io BufferedReader File]
           [java.nio.file Files]
           [java.nio.file.attribute FileAttribute]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------- cases

(defn- example [file] (dissoc (edn/read-string (slurp (io/file "examples" file))) :name))

(defn cases
  "The benchmark cases: {:id :label :experiment} with the example's own model,
  task, optimizer and steps (recording is set per table row)."
  []
  [{:id "eos" :label "edge of stability: chain L=3, 5x5 factorization"
    :experiment (example "eos-factorization.edn")}
   {:id "multi-pathway" :label "multi-pathway re-balancing: 2 pathways L=3, width 4"
    :experiment (example "multi-pathway-rebalancing.edn")}
   {:id "saddle" :label "saddle-to-saddle size: chain L=3 width 16, 2000 samples 8->8 (GD, lr 0.02)"
    :experiment (let [e (example "sgd-saddle-to-saddle.edn")]
                  (assoc e :optimizer {:kind :gd :lr (get-in e [:optimizer :lr])}))}
   {:id "mup-64" :label "muP width 64: chain L=3, 512 samples 8->8"
    :experiment (-> (edn/read-string (slurp (io/file "examples" "mup-vs-ntk-width.edn")))
                    :base (dissoc :name) (assoc-in [:model :width] 64) (assoc-in [:model :parameterization] :mup))}])

(def recordings
  "Table rows per case: the :record map and the sharpness cadence (0: none)."
  [{:id "loss" :every 0 :record {:every 1 :metrics [:loss]}}
   {:id "loss + sharpness/100" :every 100 :record {:every 1 :metrics [:loss :sharpness] :sharpness {:every 100}}}
   {:id "loss + sharpness/10" :every 10 :record {:every 1 :metrics [:loss :sharpness] :sharpness {:every 10}}}])

(defn- experiment-for [c rec] (assoc (:experiment c) :record (:record rec)))

;; ---------------------------------------------------------------- our side

(defn run-counting
  "Runs exp through dlnlab.experiment/run and counts the Hessian-vector products
  of every sharpness measurement. Returns [result [hvps per measurement]]."
  [exp]
  (let [counts (atom [])
        top metrics/hessian-top
        tracked hessian/tracked-top]
    (with-redefs [metrics/hessian-top (fn [net opts]
                                        (let [r (top net opts)]
                                          (swap! counts conj (long (:hvp-count r)))
                                          r))
                  hessian/tracked-top (fn [op opts]
                                        (let [r (tracked op opts)]
                                          (swap! counts conj (long (:hvp-count r)))
                                          r))]
      [(experiment/run exp) @counts])))

(defn- time-run
  "Seconds of one (experiment/run exp)."
  ^double [exp]
  (let [t0 (System/nanoTime)]
    (experiment/run exp)
    (seconds-since t0)))

(def ^:private ^java.lang.management.ThreadMXBean thread-bean
  (java.lang.management.ManagementFactory/getThreadMXBean))

(defn- gc-millis
  "Milliseconds the collectors have spent so far (pause time, all collectors)."
  ^long []
  (reduce + 0 (map #(max 0 (.getCollectionTime ^java.lang.management.GarbageCollectorMXBean %))
                   (java.lang.management.ManagementFactory/getGarbageCollectorMXBeans))))

(defn- time-cpu
  "[wall seconds, CPU seconds] of one call (f). CPU: this thread's CPU time
  (nanosecond resolution; the process total only ticks every 10 ms here) plus
  the collectors' pause time during the call, counted once."
  [f]
  (let [g0 (gc-millis)
        c0 (.getCurrentThreadCpuTime thread-bean)
        t0 (System/nanoTime)]
    (f)
    [(seconds-since t0)
     (+ (/ (- (.getCurrentThreadCpuTime thread-bean) c0) 1e9) (/ (- (gc-millis) g0) 1e3))]))

(defn- time-run-cpu
  "[wall seconds, CPU seconds] of one (experiment/run exp) (see `time-cpu`)."
  [exp]
  (time-cpu #(experiment/run exp)))

;; ---------------------------------------------------------------- JSON out

(defn- json-number ^String [x]
  (let [d (double x)]
    (when-not (Double/isFinite d)
      (throw (ex-info (str "cannot write the non-finite number " d " as JSON")
                      {:path [:json] :value d :allowed "finite numbers"})))
    (if (and (integer? x) (< (Math/abs d) 1e15)) (str x) (Double/toString d))))

(defn- write-json!
  "Writes plain data (maps with keyword or string keys, sequentials, numbers,
  strings) as JSON to sb."
  [^StringBuilder sb v]
  (cond
    (map? v) (do (.append sb "{")
                 (doseq [[i [k x]] (map-indexed vector v)]
                   (when (pos? (long i)) (.append sb ","))
                   (.append sb "\"") (.append sb (if (keyword? k) (name k) (str k))) (.append sb "\":")
                   (write-json! sb x))
                 (.append sb "}"))
    (sequential? v) (do (.append sb "[")
                        (doseq [[i x] (map-indexed vector v)]
                          (when (pos? (long i)) (.append sb ","))
                          (write-json! sb x))
                        (.append sb "]"))
    (number? v) (.append sb (json-number v))
    (string? v) (do (.append sb "\"") (.append sb ^String v) (.append sb "\""))
    (keyword? v) (do (.append sb "\"") (.append sb (name v)) (.append sb "\""))
    :else (throw (ex-info (str "cannot write " (pr-str v) " as JSON")
                          {:path [:json] :value v :allowed "maps, sequentials, numbers, strings"}))))

(defn- col-major->rows [^doubles a ^long rows ^long cols]
  (mapv (fn [^long i] (mapv (fn [^long j] (aget a (+ i (* j rows)))) (range cols))) (range rows)))

(defn lanczos-start
  "The packed start vector of the first sharpness measurement: the random start
  dlnlab.kernel.Spectra draws for seed 0 (stream RANDOM_START = 1)."
  ^doubles [^long n]
  (let [a (double-array n)] (Rng/fillGaussian (Rng/derive 0 1) 0 0 1.0 a 0 n) a))

(defn instance
  "The peer's view of a case: start weights, multipliers, data, effective lr,
  steps, and the HVP counts per sharpness cadence ({every [count ...]})."
  [c hvps]
  (let [exp (:experiment c)
        net (network/network exp)
        ^Arch arch (:arch net)
        ^Objective obj (:objective net)
        layout (:layout net)
        {:keys [x y]} (:task net)]
    (when (some :identity? (apply concat layout))
      (throw (ex-info "the GD benchmark covers chains and multi-pathway networks only"
                      {:path [:model :kind] :value (get-in exp [:model :kind]) :allowed #{:chain :multi-pathway}})))
    (cond-> {:case (:id c)
             :lr (optim/effective-lr net (:optimizer exp))
             :steps (:steps exp)
             :weights (network/weights net)
             :alphas (mapv #(mapv :alpha %) layout)
             :hvps (into {} (map (fn [[every counts]] [(str every) counts]) hvps))
             :lanczos_start (network/packed->weights net (lanczos-start (.size arch)))}
      (== (.kind obj) Objective/FACTORIZATION)
      (assoc :kind "factorization" :target (col-major->rows (.fstar obj) (.dout obj) (.din obj)))
      (not= (.kind obj) Objective/FACTORIZATION)
      (assoc :kind "samples"
             ;; samples as rows: row i of x is x[i*din .. (i+1)*din)
             :x (mapv vec (partition (.din arch) (vec ^doubles x)))
             :y (mapv vec (partition (.dout arch) (vec ^doubles y)))))))

;; ---------------------------------------------------------------- the peer

(defn- peer-run
  "One training run of the peer; returns its answer map (:seconds, :hvps, and
  :losses/:sharpness when trajectory?)."
  [{:keys [label ^java.io.Writer in ^BufferedReader out]} case-id every form trajectory?]
  (.write in (str "{\"case\": \"" case-id "\", \"every\": " every ", \"form\": \"" form
                  "\", \"trajectory\": " (if trajectory? "true" "false") "}\n"))
  (.flush in)
  (let [line (.readLine out)]
    (when (nil? line)
      (throw (ex-info (str "the torch peer (" label ") stopped during case " case-id)
                      {:path [:peer label case-id] :value nil :allowed "an answer line"})))
    (edn/read-string line)))

;; ---------------------------------------------------------------- agreement

(defn- rel ^double [a b]
  (let [a (double a) b (double b)]
    (/ (Math/abs (- a b)) (max 1e-300 (Math/abs b)))))

(defn agreement
  "Our recorded losses and sharpness values against a peer's trajectory answer:
  relative differences of the loss at step n (or the last step when the run is
  shorter) and at the end, the largest over all steps, and the largest over the
  sharpness values (with its step); HVPs used by both sides (ours: hvps, the
  calibration run's total). Returns a map of plain numbers."
  [result peer ^long n hvps]
  (let [ours (:loss (:trajectory result))
        theirs (:losses peer)
        steps (dec (count ours))
        n (min n steps)
        sharp-rows (filterv (comp some? second) (map vector (:step (:trajectory result)) (:sharpness (:trajectory result))))
        so (mapv second sharp-rows)
        st (:sharpness peer)
        diffs (when (and (seq so) (= (count so) (count st))) (mapv rel so st))
        worst (when (seq diffs) (apply max-key diffs (range (count diffs))))]
    (when-not (= (count ours) (count theirs))
      (throw (ex-info (str "the peer recorded " (count theirs) " losses, dlnlab " (count ours))
                      {:path [:agreement :losses] :value (count theirs) :allowed (count ours)})))
    {:n n
     :hvps [hvps (:hvps peer)]
     :loss-n [(ours n) (theirs n) (rel (ours n) (theirs n))]
     :loss-end [(peek ours) (peek theirs) (rel (peek ours) (peek theirs))]
     :loss-max (reduce max 0.0 (map rel ours theirs))
     :sharpness-count [(count so) (count st)]
     :sharpness-last [(peek so) (peek st)]
     :sharpness-max (when worst (diffs worst))
     :sharpness-worst (when worst {:step (first (sharp-rows worst)) :dlnlab (so worst) :torch (st worst)})}))

(defn dense-top-eigenvalue
  "The top eigenvalue of the dense Hessian (dlnlab.network/hessian, one HVP per
  column, then LAPACK dsyevd) after `steps` GD steps of exp, an independent route
  to the sharpness at that step."
  ^double [exp ^long steps]
  (let [r (experiment/run (assoc exp :steps (max 1 steps) :record {:every 1 :metrics [:loss]}))
        start (network/network exp)
        net (if (zero? steps) start (network/set-weights start (:weights (:final r))))]
    (double (first (hessian/dense-eigenvalues (network/hessian net))))))

;; ---------------------------------------------------------------- breakdown

(defn- median-of ^double [^long k f] (median (repeatedly k f)))

(defn gradient-seconds
  "Seconds of one Engine/gradient call on net's start weights: the median over
  k samples of a hand loop."
  ^double [net ^long k]
  (let [^Arch arch (:arch net)
        ^Objective obj (:objective net)
        ws (engine/workspace net)
        g (double-array (.size arch))
        p (aclone ^doubles (:params net))
        reps (max 1 (quot 20000 (max 1 (quot (.size arch) 64))))]
    (/ (median-of k #(let [t0 (System/nanoTime)]
                       (dotimes [_ reps] (Engine/gradient arch obj p ws g))
                       (seconds-since t0)))
       reps)))

(defn breakdown
  "Where a step's time goes for case c, with k samples each (medians): the
  gradient kernel alone (Engine/gradient in a hand loop), a step of the run loop
  recording the loss (from runs of all steps and of one step), the fixed cost of
  a run (one step), and per sharpness measurement (cadence 10) the time in
  Hessian-vector products and the rest. Returns a map of seconds."
  [c ^long k]
  (let [exp (:experiment c)
        steps (long (:steps exp))
        grad-s (gradient-seconds (network/network exp) k)
        loss-rec (:record (first recordings))
        one (median-of k #(time-run (assoc exp :steps 1 :record loss-rec)))
        full (median-of k #(time-run (assoc exp :record loss-rec)))
        hvp-ns (long-array 1)
        hvp-calls (long-array 1)
        prepared engine/prepared-hvp
        timed-hvp (fn [net params]
                    (let [f (prepared net params)]
                      (fn [v out]
                        (let [t0 (System/nanoTime)]
                          (f v out)
                          (aset hvp-ns 0 (+ (aget hvp-ns 0) (- (System/nanoTime) t0)))
                          (aset hvp-calls 0 (inc (aget hvp-calls 0)))))))
        sharp-rec (:record (peek recordings))
        sharp-every (long (:every (peek recordings)))
        measurements (+ (inc (quot steps sharp-every)) (if (pos? (rem steps sharp-every)) 1 0))
        with-sharp (vec (repeatedly k (fn []
                                        (aset hvp-ns 0 0) (aset hvp-calls 0 0)
                                        (let [t (with-redefs [engine/prepared-hvp timed-hvp]
                                                  (time-run (assoc exp :record sharp-rec)))]
                                          [t (/ (aget hvp-ns 0) 1e9) (aget hvp-calls 0)]))))
        [t-sharp t-hvp calls] (nth (sort-by first with-sharp) (quot k 2))]
    {:gradient grad-s
     :run-step (/ (- full one) (max 1 (dec steps)))
     :run-fixed one
     :sharpness (/ (- (double t-sharp) full) measurements)
     :sharpness-hvp (/ (double t-hvp) measurements)
     :hvps-per-measurement (/ (double calls) measurements)}))

;; ---------------------------------------------------------------- a whole run (issue 10)

(def run-targets
  "Issue 10's targets for the user's path: a whole run at least :ratio times
  faster than the peer's bare training loop, and a fixed cost per run of at
  most :fixed-s seconds at width 16."
  {:ratio 8.0 :fixed-s 0.5e-3})

(defn run-cases
  "The user-path cases of issue 10: a 2-pathway depth-4 network, input = hidden
  = output width W (16 and 64), teacher-student regression on 512 samples (and
  the default 512 held-out ones), 400 GD steps recording the loss every step."
  []
  (for [w [16 64]]
    {:id (str "run-" w) :width w
     :label (str "whole run: 2 pathways L=4, width " w ", 512 samples " w "->" w ", 400 GD steps (lr 0.05), loss every step")
     :experiment {:seed 10
                  :model {:kind :multi-pathway :pathways 2 :depth 4 :width w}
                  :task {:kind :teacher-student :input-dim w :output-dim w :samples 512}
                  :optimizer {:kind :gd :lr 0.05}
                  :steps 400
                  :record {:every 1 :metrics [:loss]}}}))

(defn- cpu-median
  "CPU seconds (see `time-cpu`) of a call of f: the median over k samples, each
  of as many calls as last about 20 ms (so that the collectors' pauses, counted
  in whole milliseconds, are shared fairly among the calls), after calling f
  for warm-s seconds (at least twice) so that the JIT has compiled its paths."
  ^double [^long k ^double warm-s f]
  (let [t0 (System/nanoTime)
        calls (loop [i 0] (if (or (< i 2) (< (seconds-since t0) warm-s)) (do (f) (recur (inc i))) i))
        per-call (/ (seconds-since t0) (double calls))
        reps (max 1 (long (Math/ceil (/ 0.02 per-call))))]
    (/ (median (repeatedly k #(second (time-cpu (fn [] (dotimes [_ reps] (f)))))))
       reps)))

(defn- gaussian-count
  "How many standard normals built task t drew: its samples' inputs and label
  noise (training and test) and a Gaussian teacher's entries."
  ^long [t]
  (let [{:keys [input output]} (:dims t)
        d (* (long input) (long output))
        samples (+ (long (:n t 0)) (long (:test-n t 0)))
        spec (:spec t)]
    (+ (* samples (long input))
       (if (pos? (double (:label-noise spec 0.0))) (* samples (long output)) 0)
       (if (= :gaussian (get-in spec [:teacher :kind])) d 0))))

(defn fixed-cost
  "The fixed cost of a run of case c, in CPU seconds (medians of k): whole runs
  of 1 and of all the case's steps give the marginal cost of a step, and the
  fixed cost is a run of 1 step minus one marginal step. Cold: every run builds
  its data afresh (dlnlab.task/*reuse-data?* false); shared: the runs of a
  sweep over, say, learning rates find the task the first one built. Every run
  gets a fresh experiment map (as a sweep's points are), so it is validated
  each time; runs of 1 step for 4 warm-s seconds come first (shared, and
  again cold before the cold runs), so that the JIT has compiled the run's
  paths as in a long sweep. The parts are measured on
  their own, in the order a run does them.
  The generator: the task's count of standard normals drawn by the ziggurat
  of dlnlab.kernel.Normal (what the data uses, :normals :ziggurat) and by Rng's
  Box-Muller (the generator before it, :normals :box-muller).
  Returns {:one-cold :one-shared :all-shared :marginal :fixed-cold
  :fixed-shared :parts [[label seconds] ...] :generator {:draws :box-muller
  :ziggurat}}."
  [c ^long k ^double warm-s]
  (let [exp (:experiment c)
        steps (long (:steps exp))
        run-of (fn [^long s] #(experiment/run (assoc exp :steps s)))
        cold (fn [f] #(binding [task/*reuse-data?* false] (f)))
        ;; thousands of short runs, as a sweep makes, before any measurement: the
        ;; JIT compiles the many paths of a run only after a few thousand
        _ (cpu-median 1 (* 4.0 warm-s) (run-of 1))
        one-shared (cpu-median k warm-s (run-of 1))
        all-shared (cpu-median (max 3 (quot k 4)) warm-s (run-of steps))
        ;; as long again for the cold runs, whose data and objective code the
        ;; shared runs never reach (a sweep over seeds makes thousands of them)
        _ (cpu-median 1 (* 4.0 warm-s) (cold (run-of 1)))
        one-cold (cpu-median k warm-s (cold (run-of 1)))
        marginal (/ (- all-shared one-shared) (dec steps))
        n (spec/normalize exp)
        seed (optim/role-seed n :data)
        t (task/build-task (:task n) seed)
        net (network/network n)
        r1 (experiment/run (assoc exp :steps 1))
        samples (fn [^long m ^doubles x ^doubles y]
                  (let [d (long (get-in t [:dims :input])) o (long (get-in t [:dims :output]))]
                    (Objective/samples m d o x y)))
        objective (cpu-median k warm-s #(do (samples (:n t) (:x t) (:y t))
                                     (samples (:test-n t) (:test-x t) (:test-y t))))
        task-cold (cpu-median k warm-s (cold #(task/build-task (:task n) seed)))
        draws (gaussian-count t)
        buf (double-array draws)
        box-muller (cpu-median k warm-s #(Rng/fillGaussian 17 0 0 1.0 buf 0 draws))
        ziggurat (cpu-median k warm-s #(Normal/fill (Normal/key 17 0 0) 0 buf 0 draws))]
    {:one-cold one-cold :one-shared one-shared :all-shared all-shared :marginal marginal
     :fixed-cold (- one-cold marginal) :fixed-shared (- one-shared marginal)
     :parts [["normalize: validate the map, fill defaults" (cpu-median k warm-s #(spec/normalize (assoc exp :steps 1)))]
             ["data, cold: draw the samples, the teacher's SVD" (- task-cold objective)]
             ["objective, cold: moments, F* and l* of the training and test sets" objective]
             ["data + objective, shared: the task kept by an earlier run" (cpu-median k warm-s #(task/build-task (:task n) seed))]
             ["build: layout, Arch, initial weights" (cpu-median k warm-s #(model/build-model (:model n) (:dims t) (optim/role-seed n :init) (:target-svd t)))]
             ["final values: loss, test loss and weights" (cpu-median k warm-s #(do (network/loss net) (network/test-loss net) (network/weights net)))]
             ["provenance: version, git commit, machine, inputs" (cpu-median k warm-s #(provenance/collect {:experiment n}))]
             ["analysis: of the trajectory" (cpu-median k warm-s #(analysis/analyze r1))]]
     :generator {:draws draws :box-muller box-muller :ziggurat ziggurat}}))

(defn run-verdict
  "The report's verdict on a whole run of case c: \"target met\", or the gap to
  the ratio target with its reason from the measured split (steps alone cap the
  ratio at torch / (steps x marginal))."
  ^String [ratio torch-s steps marginal fixed gradient]
  (let [target (double (:ratio run-targets))
        ratio (double ratio)
        steps-s (* (double steps) (double marginal))
        cap (/ (double torch-s) steps-s)]
    (if (>= ratio target)
      "target met"
      (str (format "gap: %.1f× short of %.0f×; " (/ target ratio) target)
           (if (< cap target)
             (format (str "the %d steps alone take %.2f ms (%.1f µs a step, of it %.1f µs the gradient kernel, whose "
                          "arithmetic bit-identical results fix), capping the ratio at %.1f× even with no fixed cost")
                     (long steps) (* 1e3 steps-s) (* 1e6 (double marginal)) (* 1e6 (double gradient)) cap)
             (format "the fixed cost of %.2f ms a run; with none the ratio would be %.1f×" (* 1e3 (double fixed)) cap))))))

;; ---------------------------------------------------------------- report

(defn- fmt-s
  "Seconds in a readable unit."
  ^String [^double s]
  (cond (< (Math/abs s) 1e-3) (format "%.1f µs" (* s 1e6))
        (< (Math/abs s) 1.0) (format "%.2f ms" (* s 1e3))
        :else (format "%.2f s" s)))

(defn- fmt-rate ^String [^double steps-per-s]
  (if (>= steps-per-s 100.0) (format "%,.0f" steps-per-s) (format "%.1f" steps-per-s)))

(def ^:private sides
  "Table columns after ours: [key label]."
  [[:stock "torch, Debian libblas"] [:openblas "torch, same OpenBLAS"] [:moments "torch moments, same OpenBLAS"]])

(defn- largest-parts
  "The names of the three largest parts (by seconds) among parts."
  ^String [parts]
  (str/join ", " (for [[label sec] (take 3 (sort-by (comp - double second) parts))]
                   (str (first (str/split label #":")) " " (fmt-s sec)))))

(defn run-report
  "The Markdown section on whole runs (issue 10) from runs: [{:case :size
  :cpus {side [s ...]} :times {side [s ...]} :gradient s :fixed (see
  `fixed-cost`)}]."
  ^String [runs]
  (let [sb (StringBuilder.)
        ln (fn [& xs] (.append sb (apply str xs)) (.append sb "\n"))
        fixed-target (double (:fixed-s run-targets))]
    (ln "## A whole run vs the PyTorch loop (issue 10)")
    (ln)
    (ln "A whole `dlnlab.experiment/run` (validation, data, network build, " "the steps recording the loss, final losses and weights, "
        "analysis, provenance) against the peer's bare training loop from the same weights and data. CPU time of the running thread "
        "(plus collector pauses), medians; ratio = torch / dlnlab. The verdict is against torch on the same OpenBLAS, target ≥ "
        (format "%.0f×" (double (:ratio run-targets))) ".")
    (ln)
    (ln "| case | params | dlnlab CPU per run | torch, same OpenBLAS | ratio | torch, Debian libblas | ratio | wall: dlnlab / torch OpenBLAS | dlnlab, cold data | ratio | verdict (cold data) |")
    (ln "|---|---|---|---|---|---|---|---|---|---|---|")
    (doseq [{:keys [case size cpus times gradient fixed]} runs]
      (let [ours (median (:ours cpus))
            peer (median (:openblas cpus))
            stock (median (:stock cpus))
            cold (+ ours (- (double (:fixed-cold fixed)) (double (:fixed-shared fixed))))]
        (ln "| " (:id case) " | " size " | " (fmt-s ours) " | " (fmt-s peer) " | " (format "%.1f" (/ peer ours))
            " | " (fmt-s stock) " | " (format "%.1f" (/ stock ours))
            " | " (fmt-s (median (:ours times))) " / " (fmt-s (median (:openblas times)))
            " | " (fmt-s cold) " | " (format "%.1f" (/ peer cold))
            " | " (run-verdict (/ peer cold) peer (get-in case [:experiment :steps]) (:marginal fixed) (:fixed-cold fixed) gradient) " |")))
    (ln)
    (ln "The runs above repeat one experiment, so after the first they find its task kept (as the runs of a sweep at one seed do); "
        "`cold data` adds what drawing the data afresh costs (fixed cost cold - shared, below), the cost of a single run.")
    (ln)
    (ln "Fixed cost: a run of 1 step minus one marginal step, the marginal step from runs of 1 and of all steps. "
        "Cold: every run draws its data afresh; shared: the runs find the task an earlier run built (a sweep over learning rates "
        "or optimizers at one seed). Each run gets a fresh experiment map, validated every time. Target at width 16: "
        (fmt-s fixed-target) ".")
    (ln)
    (ln "| case | run of 1 step, cold | run of 1 step, shared | marginal step | gradient kernel | fixed, cold | fixed, shared | verdict (cold; shared) |")
    (ln "|---|---|---|---|---|---|---|---|")
    (doseq [{:keys [case gradient fixed]} runs]
      (let [{:keys [one-cold one-shared marginal fixed-cold fixed-shared parts]} fixed
            verdict (fn [^double f exclude]
                      (if (<= f fixed-target)
                        "target met"
                        (format "gap %.1f× (largest: %s)" (/ f fixed-target)
                                (largest-parts (remove #(str/includes? (first %) exclude) parts)))))]
        (ln "| " (:id case) " | " (fmt-s one-cold) " | " (fmt-s one-shared) " | " (fmt-s marginal) " | " (fmt-s gradient)
            " | " (fmt-s fixed-cold) " | " (fmt-s fixed-shared) " | "
            (if (== 16 (long (:width case)))
              (str (verdict fixed-cold "shared") "; " (verdict fixed-shared "cold"))
              "(target at width 16)")
            " |")))
    (ln)
    (ln "Parts of the fixed cost, each timed on its own (medians of CPU time):")
    (ln)
    (ln "| part | " (str/join " | " (map (comp :id :case) runs)) " |")
    (ln "|---|" (str/join "" (repeat (count runs) "---|")))
    (doseq [[i [label]] (map-indexed vector (:parts (:fixed (first runs))))]
      (ln "| " label " | " (str/join " | " (for [r runs] (fmt-s (second (nth (:parts (:fixed r)) i))))) " |"))
    (ln "| rest of fixed, shared: the fixed cost, shared, minus the parts above but the cold ones (the run loop's set-up, "
        "size limits, rows at the first and last step, the result map) | "
        (str/join " | " (for [{{:keys [fixed-shared parts]} :fixed} runs]
                          (fmt-s (- (double fixed-shared)
                                    (double (reduce + 0.0 (map second (remove #(str/includes? (first %) "cold") parts))))))))
        " |")
    (ln)
    (doseq [{:keys [case fixed]} runs
            :let [{:keys [draws box-muller ziggurat]} (:generator fixed)
                  saved (- (double box-muller) (double ziggurat))]]
      (ln "- " (:id case) ": the data's " draws " standard normals take " (fmt-s ziggurat) " by the ziggurat of "
          "dlnlab.kernel.Normal (" (format "%.1f ns" (/ (* 1e9 (double ziggurat)) (double draws))) " each, the default "
          ":normals :ziggurat), " (fmt-s box-muller) " by Box-Muller ("
          (format "%.1f ns" (/ (* 1e9 (double box-muller)) (double draws))) " each: two mix64, a log, a cos and a square "
          "root; :normals :box-muller, the data of earlier versions), whose cold fixed cost is "
          (fmt-s saved) " more: " (fmt-s (+ (double (:fixed-cold fixed)) saved)) "."))
    (ln)
    (.toString sb)))

(defn report
  "The Markdown report from the measurements."
  [{:keys [cells checks breakdowns runs env n-check]}]
  (let [sb (StringBuilder.)
        ln (fn [& xs] (.append sb (apply str xs)) (.append sb "\n"))]
    (ln "# dlnlab GD run loop vs PyTorch: steps per second")
    (ln)
    (ln "Full-batch gradient descent at the sizes of the examples, through `dlnlab.experiment/run` "
        "(network built from the experiment map, metrics recorded every step, analysis, result map) "
        "against bench/torch_gd.py doing the same training loop from the same start weights and data "
        "(loss from a forward pass on the samples; `moments`: from precomputed second moments). "
        "float64, one thread on both sides. Sharpness: warm-started Lanczos on exact HVPs (dlnlab, tolerance 1e-8) "
        "vs warm-started Lanczos on double-backward HVPs (torch) with, measurement by measurement, the same "
        "number of HVPs. steps/s = steps / median wall time of a whole run; ratio = torch time / dlnlab time "
        "(above 1: dlnlab is faster). Each sample runs every side once, back to back.")
    (ln)
    (doseq [[k v] env] (ln "- " k ": " v))
    (ln)
    (when (seq runs) (.append sb (run-report runs)))
    (when (seq cells)
      (ln "## Steps per second")
      (ln)
      (ln "| case | params | steps | recording | HVPs per run | dlnlab steps/s | "
          (str/join " | " (map #(str (second %) " steps/s | ratio") sides)) " | samples |")
      (ln "|---|---|---|---|---|---|" (str/join "" (repeat (* 2 (count sides)) "---|")) "---|")
      (doseq [{:keys [case rec size steps hvps times]} cells]
        (let [ours (median (:ours times))]
          (ln "| " (:id case) " | " size " | " steps " | " (:id rec) " | " hvps " | "
              (fmt-rate (/ (double steps) ours)) " | "
              (str/join " | " (for [[k _] sides]
                                (if-let [ts (seq (get times k))]
                                  (let [t (median ts)] (str (fmt-rate (/ (double steps) t)) " | " (format "%.1f" (/ t ours))))
                                  "- | -")))
              " | " (str/join "/" (for [k (cons :ours (map first sides)) :when (seq (get times k))] (count (get times k))))
              " |")))
      (ln)
      (ln "The same runs in CPU time (dlnlab: the running thread's CPU time plus garbage-collection pauses; torch: "
          "`time.process_time()`), less sensitive to the load of the shared machine: median CPU time per run and ratio torch / dlnlab.")
      (ln)
      (ln "| case | recording | dlnlab CPU per run | " (str/join " | " (map #(str (second %) " | ratio") sides)) " |")
      (ln "|---|---|---|" (str/join "" (repeat (* 2 (count sides)) "---|")))
      (doseq [{:keys [case rec cpus]} cells]
        (let [ours (median (:ours cpus))]
          (ln "| " (:id case) " | " (:id rec) " | " (fmt-s ours) " | "
              (str/join " | " (for [[k _] sides]
                                (if-let [ts (seq (get cpus k))]
                                  (let [t (median ts)] (str (fmt-s t) " | " (format "%.1f" (/ t ours))))
                                  "- | -")))
              " |")))
      (ln))
    (ln "Cases:")
    (ln)
    (doseq [c (distinct (concat (map :case cells) (map :case runs)))] (ln "- " (:id c) ": " (:label c)))
    (ln)
    (ln "## Agreement")
    (ln)
    (ln "Both sides start from dlnlab's initial weights (the first Lanczos also from dlnlab's start vector); "
        "the peer with the same OpenBLAS and the samples loss, recording the loss every step and the sharpness every 10 steps. "
        "Relative differences |a - b| / |b|.")
    (ln)
    (ln "| case | N | loss at N: dlnlab | torch | rel. diff | loss at the end: dlnlab | torch | rel. diff | max over all steps | sharpness values | HVPs | last sharpness: dlnlab | torch | max rel. diff | at step: dlnlab / torch / dense Hessian |")
    (ln "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    (doseq [{:keys [case a]} checks]
      (let [[o t r] (:loss-n a) [oe te re] (:loss-end a) [so st] (:sharpness-last a)
            w (:sharpness-worst a)]
        (ln "| " (:id case) " | " (:n a) " | " (format "%.15g" (double o)) " | " (format "%.15g" (double t)) " | " (format "%.1e" (double r))
            " | " (format "%.15g" (double oe)) " | " (format "%.15g" (double te)) " | " (format "%.1e" (double re))
            " | " (format "%.1e" (double (:loss-max a)))
            " | " (str/join "/" (:sharpness-count a))
            " | " (str/join "/" (:hvps a))
            " | " (if so (format "%.12g" (double so)) "-") " | " (if st (format "%.12g" (double st)) "-")
            " | " (if-let [m (:sharpness-max a)] (format "%.1e" (double m)) "-")
            " | " (if w (str (:step w) ": " (format "%.10g" (double (:dlnlab w))) " / " (format "%.10g" (double (:torch w)))
                             " / " (if (:dense w) (format "%.10g" (double (:dense w))) "-"))
                      "-")
            " |")))
    (ln)
    (ln "Counts are dlnlab/torch. A Lanczos Ritz value never exceeds the top eigenvalue, so where the two sides differ the larger is the better "
        "estimate; the dense Hessian (one HVP per column, LAPACK dsyevd) at that step decides for networks of at most 1000 parameters.")
    (ln)
    (when (seq breakdowns)
      (ln "## Where the time goes (dlnlab)")
      (ln)
      (ln "Medians. gradient: Engine/gradient alone in a hand loop. run loop step: (run of all steps - run of 1 step) / (steps - 1), "
          "recording the loss every step. fixed: a run of 1 step (network built from the map, analysis, result). "
          "sharpness: extra time per measurement with sharpness every 10 steps, and the part of it inside HVPs.")
      (ln)
      (ln "| case | gradient | run loop step | loop overhead per step | fixed per run | sharpness measurement | of it in HVPs | HVPs per measurement |")
      (ln "|---|---|---|---|---|---|---|---|")
      (doseq [{:keys [case b]} breakdowns]
        (ln "| " (:id case) " | " (fmt-s (:gradient b)) " | " (fmt-s (:run-step b)) " | "
            (fmt-s (- (double (:run-step b)) (double (:gradient b)))) " | " (fmt-s (:run-fixed b)) " | "
            (fmt-s (:sharpness b)) " | " (fmt-s (:sharpness-hvp b)) " | " (format "%.1f" (double (:hvps-per-measurement b))) " |"))
      (ln))
    (.toString sb)))

;; ---------------------------------------------------------------- main

(defn- measure-cell!
  "Times one table cell: rounds of one run per side (ours first), until each
  side has `samples` runs or has spent its budget (at least min-samples runs).
  Returns [{side [wall seconds ...]} {side [CPU seconds ...]}]."
  [exp case-id every peers forms {:keys [samples min-samples budget-s]}]
  (let [sides (into [[:ours nil nil]]
                    (for [[k peer form] forms] [k (peers peer) form]))
        spent (atom {})
        times (atom {})
        cpus (atom {})]
    (dotimes [_ samples]
      (doseq [[k peer form] sides]
        (when (or (< (count (get @times k)) (long min-samples))
                  (< (double (get @spent k 0.0)) (double budget-s)))
          (let [t0 (System/nanoTime)
                [s c] (if (= k :ours)
                        (time-run-cpu exp)
                        (let [a (peer-run peer case-id every form false)]
                          [(double (:seconds a)) (double (:cpu_seconds a))]))]
            (swap! spent update k (fnil + 0.0) (seconds-since t0))
            (swap! times update k (fnil conj []) s)
            (swap! cpus update k (fnil conj []) c)))))
    (let [t @times]
      (log (str "  " case-id " every=" every ": "
                (str/join ", " (for [[k ts] t] (str (name k) " " (fmt-s (median ts)) " (" (count ts) ")")))))
      [t @cpus])))

(defn -main
  "Runs the benchmark and prints the report; writes it to bench/out/gd.md.
  Arguments: --quick fewer samples (a smoke run); --agreement-only stop after
  the agreement check (nothing written); --runs-only only the whole runs of
  issue 10 (`run-cases`), not the examples' cases."
  [& args]
  (ensure-peer! "torch")
  (let [quick? (some #{"--quick"} args)
        agreement-only? (some #{"--agreement-only"} args)
        runs-only? (some #{"--runs-only"} args)
        opts (if quick? {:samples 2 :min-samples 1 :budget-s 2.0} {:samples 9 :min-samples 3 :budget-s 12.0})
        n-check 100
        tmp (.toFile (Files/createTempDirectory "dlnlab-gd-bench" (make-array FileAttribute 0)))
        started (atom [])]
    (try
      (let [load-before (load-average)
            cs (if runs-only? [] (cases))
            rcs (vec (run-cases))
            run-results (into {} (for [c rcs] [(:id c) (experiment/run (:experiment c))]))
            _ (log "calibrating: one untimed run per case and recording (HVP counts, JIT warm-up)")
            calib (into {} (for [c cs rec recordings]
                             (let [[result counts] (run-counting (experiment-for c rec))]
                               (log (str "  " (:id c) " / " (:id rec) ": " (count counts) " sharpness measurements, "
                                         (reduce + 0 counts) " HVPs"))
                               [[(:id c) (:id rec)] {:result result :counts counts}])))
            _ (doseq [c cs]
                (let [hvps (into {} (for [rec recordings :when (pos? (long (:every rec)))]
                                      [(:every rec) (:counts (calib [(:id c) (:id rec)]))]))
                      sb (StringBuilder.)]
                  (write-json! sb (instance c hvps))
                  (spit (io/file tmp (str "case-" (:id c) ".json")) (.toString sb))))
            _ (doseq [c rcs]
                (let [sb (StringBuilder.)]
                  (write-json! sb (instance c {}))
                  (spit (io/file tmp (str "case-" (:id c) ".json")) (.toString sb))))
            shim (blas-shim! tmp)
            _ (log "starting torch peers: Debian's default libblas.so.3, and dlnlab's OpenBLAS as libblas.so.3")
            cmd ["/usr/bin/python3" "bench/torch_gd.py" "--instances" (.getPath tmp)]
            stock (start-peer "torch/libblas" cmd {} edn/read-string)
            _ (swap! started conj stock)
            openblas (start-peer "torch/OpenBLAS" cmd {"LD_LIBRARY_PATH" (str (.getPath shim) ":" (.getParent (io/file (openblas-path))))}
                                 edn/read-string)
            _ (swap! started conj openblas)
            peers {:stock stock :openblas openblas}
            check-rec (peek recordings)
            checks (vec (for [c cs]
                          (let [ans (peer-run openblas (:id c) (:every check-rec) "samples" true)
                                cal (calib [(:id c) (:id check-rec)])
                                a (agreement (:result cal) ans n-check (reduce + 0 (:counts cal)))
                                worst (:sharpness-worst a)
                                a (if (and worst (> (double (:sharpness-max a)) 1e-6)
                                           (<= (engine/size (network/network (:experiment c))) 1000))
                                    (assoc-in a [:sharpness-worst :dense] (dense-top-eigenvalue (:experiment c) (:step worst)))
                                    a)]
                            (log (str "  agreement " (:id c) ": " (pr-str a)))
                            {:case c :a a})))
            checks (into checks (for [c rcs]
                                  (let [a (agreement (run-results (:id c)) (peer-run openblas (:id c) 0 "samples" true) n-check 0)]
                                    (log (str "  agreement " (:id c) ": " (pr-str a)))
                                    {:case c :a a})))
            _ (when agreement-only? (throw (ex-info "agreement only" {::done true})))
            _ (log "warming up: two more runs of every case and recording")
            _ (doseq [c cs rec recordings _ (range 2)] (experiment/run (experiment-for c rec)))
            cells (vec (for [c cs rec recordings]
                         (let [exp (experiment-for c rec)
                               net (network/network exp)
                               samples? (not= (.kind ^Objective (:objective net)) Objective/FACTORIZATION)
                               forms (cond-> [[:stock :stock "samples"] [:openblas :openblas "samples"]]
                                       samples? (conj [:moments :openblas "moments"]))]
                           {:case c :rec rec :size (engine/size net) :steps (:steps exp)
                            :hvps (reduce + 0 (:counts (calib [(:id c) (:id rec)])))
                            :times-cpus (measure-cell! exp (:id c) (:every rec) peers forms opts)})))
            _ (log "whole runs (issue 10)")
            runs (vec (for [c rcs]
                        (let [exp (:experiment c)
                              net (network/network exp)
                              _ (dotimes [_ 3] (experiment/run exp))
                              [t cpu] (measure-cell! exp (:id c) 0 peers [[:stock :stock "samples"] [:openblas :openblas "samples"]] opts)]
                          {:case c :size (engine/size net) :times t :cpus cpu
                           :gradient (gradient-seconds net (if quick? 3 7))
                           :fixed (fixed-cost c (if quick? 9 41) (if quick? 0.2 1.5))})))
            _ (log "breakdown of our time")
            breakdowns (vec (for [c cs] {:case c :b (breakdown c (if quick? 3 7))}))
            env (assoc (machine-env stock openblas load-before)
                 "samples per cell" (str "up to " (:samples opts) " per side, fewer (not below " (:min-samples opts)
                                         ") for a side that spent " (:budget-s opts) " s"))
            cells (mapv (fn [{[t c] :times-cpus :as cell}] (-> cell (dissoc :times-cpus) (assoc :times t :cpus c))) cells)
            text (report {:cells cells :checks checks :breakdowns breakdowns :runs runs :env env :n-check n-check})
            out (io/file "bench/out/gd.md")]
        (io/make-parents out)
        (spit out text)
        (println text)
        (flush))
      (catch clojure.lang.ExceptionInfo e
        (when-not (::done (ex-data e)) (throw e)))
      (finally
        (doseq [p @started] (stop-peer p))
        (delete-tree! tmp)
        (shutdown-agents)))))
