(ns dlnlab.bench.engine
  "Benchmark of the engine kernels against PyTorch (issue 2, \"Benchmark\"):
  gradient, Hessian-vector product and top Hessian eigenvalue of a 2-pathway,
  depth-4 deep linear network at widths 16, 64 and 256 on 512-sample regression.

  Our side calls the kernels directly (Engine on an Arch + Objective built by hand);
  the peer is bench/torch_peer.py run with /usr/bin/python3 in the same run, float64,
  one thread on both sides (OMP_NUM_THREADS=1, torch.set_num_threads(1), OpenBLAS
  pinned to one thread). The peer runs twice: with the BLAS Debian's python3-torch
  links by default (libblas3, the reference BLAS) and with the very OpenBLAS binary
  dlnlab loads (a libblas.so.3 shim on LD_LIBRARY_PATH), so the table shows what the
  kernels gain over PyTorch and how much of it is the BLAS. Both peers stay up in
  serve mode and each dlnlab operation is timed right before the torch operations
  it is compared with, so neighbouring measurements see the same machine load.

  Before timing, both sides compute loss, gradient, HVP and the top Ritz value on
  one shared instance per width (weights, data and direction exported as JSON) and
  the relative differences are printed: the comparison is between equal numbers.

  The last row times a default top-eigenvalue call against what edge-of-stability
  code does (scipy eigsh(which='LA') around torch HVPs), after checking the two
  eigenvalues agree.

  Run: lein run -m dlnlab.bench.engine [--quick] [--widths 16,64]. Prints a
  Markdown report and writes it to bench/out/engine.md. --quick uses fewer
  samples (a smoke test)."
  (:require [dlnlab.bench.common :refer [median seconds-since openblas-path blas-shim! log start-peer stop-peer delete-tree! proc-lines load-average ensure-peer! machine-env]]
            [clojure.java.io :as io]
            [clojure.string :as str]
            [dlnlab.hessian :as hessian])
  (:import [dlnlab.kernel Arch Blas Engine Engine$Workspace Objective Rng]
           [java.io BufferedReader File]
           [java.math BigDecimal MathContext]
           [java.nio.file Files]
           [java.nio.file.attribute FileAttribute]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def ^:private pathways 2)
(def ^:private depth 4)
(def ^:private n-samples 512)
(def ^:private lanczos-steps 20)
(def ^:private noise-std 0.1)

;; ---------------------------------------------------------------- instances

(defn- gaussians
  "n standard normals times scale from Rng stream (seed, stream)."
  ^doubles [^long n ^long seed ^long stream ^double scale]
  (let [a (double-array n)] (Rng/fillGaussian seed stream 0 scale a 0 n) a))

(defn instance
  "A benchmark instance of width w: the 2-pathway depth-4 network (standard
  parameterization, alpha = 1, weights N(0, 1/w)), 512 samples x ~ N(0, I),
  y = M x + 0.1 eps with a teacher M ~ N(0, 1/w), both objectives built from the
  samples, and a N(0, 1) direction for HVPs and as the Lanczos start.
  Returns a map with :arch, :params, :direction, :x, :y (arrays, samples as
  columns), :moments and :batch (Objective)."
  [^long w ^long seed]
  (let [nf (* (long pathways) (long depth))
        arch (Arch. (int-array (repeat pathways depth)) (int-array (repeat nf w)) (int-array (repeat nf w))
                    (double-array (repeat nf 1.0)) (boolean-array nf))
        s (fn ^long [^long purpose] (Rng/derive seed purpose))
        sd (/ 1.0 (Math/sqrt w))
        n (long n-samples)
        x (gaussians (* w n) (s 1) 0 1.0)
        teacher (gaussians (* w w) (s 2) 0 sd)
        y (gaussians (* w n) (s 3) 0 noise-std)]
    (Blas/gemm false false w n w 1.0 teacher 0 w x 0 w 1.0 y 0 w)
    {:width w :arch arch
     :params (gaussians (.size arch) (s 4) 0 sd)
     :direction (gaussians (.size arch) (s 5) 0 1.0)
     :x x :y y
     :moments (Objective/samples n w w x y)
     :batch (Objective/batch n w w x y)}))

;; ---------------------------------------------------------------- JSON out and in

(defn- exact-number
  "A decimal string that parses back to exactly d (17 significant digits suffice)."
  ^String [^double d]
  (let [s (Double/toString d)]
    (if (== (Double/parseDouble s) d)
      s
      (.toString (.round (BigDecimal. d) (MathContext. 17))))))

(defn- append-matrix!
  "Appends the rows x cols column-major matrix at a[off] as row-major nested lists."
  [^StringBuilder sb ^doubles a off rows cols]
  (let [off (long off) rows (long rows) cols (long cols)]
  (.append sb "[")
  (dotimes [i rows]
    (when (pos? i) (.append sb ","))
    (.append sb "[")
    (dotimes [c cols]
      (when (pos? c) (.append sb ","))
      (.append sb (exact-number (aget a (+ off i (* c rows))))))
    (.append sb "]"))
  (.append sb "]")))

(defn- append-weights!
  "Appends packed parameters in the weights form: pathways of row-major layers."
  [^StringBuilder sb ^Arch arch ^doubles p]
  (.append sb "[")
  (dotimes [k (.pathways arch)]
    (when (pos? k) (.append sb ","))
    (.append sb "[")
    (let [a (aget ^ints (.pathStart arch) k) b (aget ^ints (.pathStart arch) (inc k))]
      (doseq [j (range a b)]
        (when (> ^long j a) (.append sb ","))
        (append-matrix! sb p (aget ^ints (.offset arch) j) (aget ^ints (.rows arch) j) (aget ^ints (.cols arch) j))))
    (.append sb "]"))
  (.append sb "]"))

(defn- write-instance!
  "Writes the instance as JSON (weights, direction, samples as rows) to file."
  [{:keys [^Arch arch params direction x y ^long width]} ^File file]
  (let [sb (StringBuilder.)
        n (long n-samples)]
    (.append sb (str "{\"width\":" width ",\"n\":" n ",\"lanczos_steps\":" lanczos-steps ",\"weights\":"))
    (append-weights! sb arch params)
    (.append sb ",\"direction\":")
    (append-weights! sb arch direction)
    ;; samples as columns of a width x n column-major array = n x width row-major
    (.append sb ",\"x\":")
    (append-matrix! sb (let [t (double-array (* n width))]
                         (dotimes [i n] (dotimes [b width] (aset t (+ i (* b n)) (aget ^doubles x (+ b (* i width))))))
                         t)
                    0 n width)
    (.append sb ",\"y\":")
    (append-matrix! sb (let [t (double-array (* n width))]
                         (dotimes [i n] (dotimes [b width] (aset t (+ i (* b n)) (aget ^doubles y (+ b (* i width))))))
                         t)
                    0 n width)
    (.append sb "}")
    (spit file (.toString sb))))

(defn- parse-json
  "A small JSON reader (objects, arrays, strings without escapes beyond \\\" and
  \\\\, numbers, true/false/null): enough for the peer's output."
  [^String s]
  (let [len (.length s)
        pos (int-array 1)
        skip-ws (fn [] (while (and (< (aget pos 0) len) (Character/isWhitespace (.charAt s (aget pos 0))))
                         (aset pos 0 (inc (aget pos 0)))))
        peek-char (fn ^Character [] (skip-ws) (.charAt s (aget pos 0)))
        expect (fn [c] (skip-ws)
                 (when-not (== (int (char c)) (int (.charAt s (aget pos 0))))
                   (throw (ex-info (str "JSON: expected " c " at " (aget pos 0)) {:path [:json] :value (aget pos 0) :allowed c})))
                 (aset pos 0 (inc (aget pos 0))))]
    (letfn [(read-value []
              (let [c (char (peek-char))]
                (cond
                  (= c \{) (read-object)
                  (= c \[) (read-array)
                  (= c \") (read-string*)
                  (.startsWith s "true" (aget pos 0)) (do (aset pos 0 (+ 4 (aget pos 0))) true)
                  (.startsWith s "false" (aget pos 0)) (do (aset pos 0 (+ 5 (aget pos 0))) false)
                  (.startsWith s "null" (aget pos 0)) (do (aset pos 0 (+ 4 (aget pos 0))) nil)
                  :else (read-number))))
            (read-number []
              (let [start (aget pos 0)]
                (loop [] (when (and (< (aget pos 0) len)
                                    (let [c (.charAt s (aget pos 0))]
                                      (or (Character/isDigit c) (#{\- \+ \. \e \E} c))))
                           (aset pos 0 (inc (aget pos 0))) (recur)))
                (let [t (subs s start (aget pos 0))]
                  (if (re-matches #"-?\d+" t) (Long/parseLong t) (Double/parseDouble t)))))
            (read-string* []
              (expect \")
              (let [sb (StringBuilder.)]
                (loop []
                  (let [c (.charAt s (aget pos 0))]
                    (aset pos 0 (inc (aget pos 0)))
                    (cond (= c \") (.toString sb)
                          (= c \\) (do (.append sb (.charAt s (aget pos 0))) (aset pos 0 (inc (aget pos 0))) (recur))
                          :else (do (.append sb c) (recur)))))))
            (read-array []
              (expect \[)
              (if (= \] (peek-char))
                (do (expect \]) [])
                (loop [acc (transient [])]
                  (let [acc (conj! acc (read-value))]
                    (if (= \, (peek-char)) (do (expect \,) (recur acc)) (do (expect \]) (persistent! acc)))))))
            (read-object []
              (expect \{)
              (if (= \} (peek-char))
                (do (expect \}) {})
                (loop [acc (transient {})]
                  (let [k (read-string*) _ (expect \:) v (read-value) acc (assoc! acc (keyword k) v)]
                    (if (= \, (peek-char)) (do (expect \,) (recur acc)) (do (expect \}) (persistent! acc)))))))]
      (read-value))))

(defn- packed-from-weights
  "Packs weights-form nested vectors (row-major layers) into the packed layout."
  ^doubles [^Arch arch weights]
  (let [out (double-array (.size arch))]
    (doseq [k (range (.pathways arch))
            :let [a (aget ^ints (.pathStart arch) k)]
            [l layer] (map-indexed vector (nth weights k))
            :let [j (+ a ^long l) off (aget ^ints (.offset arch) j) rows (aget ^ints (.rows arch) j)]
            [i row] (map-indexed vector layer)
            [c v] (map-indexed vector row)]
      (aset out (+ off ^long i (* ^long c rows)) (double v)))
    out))

;; ---------------------------------------------------------------- our operations

(defn- top-eigenvalue
  "The top Hessian eigenvalue at the instance's point by dlnlab.hessian/eigenvalues
  with HVPs at a point prepared once (Engine/prepare, then Engine/hvpPrepared per
  product). Without opts: a fixed Krylov dimension (lanczos-steps; a tolerance it
  cannot meet, so the run is never cut short), started at the instance direction;
  with opts, those options (e.g. {} for the default call).
  Returns {:values [top] :hvp-count n ...}."
  ([{:keys [direction] :as inst} obj ws]
   (top-eigenvalue inst obj ws {:k 1 :max-iter lanczos-steps :tol 1e-15 :start direction}))
  ([{:keys [^Arch arch params]} ^Objective obj ^Engine$Workspace ws opts]
   (Engine/prepare arch obj params ws)
   (hessian/eigenvalues (hessian/operator (.size arch) (fn [v out] (Engine/hvpPrepared arch obj ws v out)))
                        opts)))

(defn- operations
  "Zero-argument functions for our side of every table row, keyed by row id."
  [{:keys [^Arch arch ^doubles params ^doubles direction ^Objective moments ^Objective batch] :as inst}]
  (let [wm (Engine$Workspace. arch moments)
        wb (Engine$Workspace. arch batch)
        wp (Engine$Workspace. arch moments)
        out (double-array (.size arch))]
    (Engine/prepare arch moments params wp)
    {:gradient-moments #(Engine/gradient arch moments params wm out)
     :gradient-batch #(Engine/gradient arch batch params wb out)
     :hvp-moments #(Engine/hvp arch moments params direction wm out)
     :hvp-batch #(Engine/hvp arch batch params direction wb out)
     :hvp-prepared #(Engine/hvpPrepared arch moments wp direction out)
     :lanczos #(top-eigenvalue inst moments wm)
     :eigenvalues #(top-eigenvalue inst moments wm {})}))

(def ^:private rows
  "Table rows: our operation, the peer operation it is compared with, and labels."
  [{:op "gradient" :ours :gradient-moments :peer "gradient_samples"
    :note "exact moments (Objective/samples) vs torch forward pass on the 512 x W batch"}
   {:op "gradient" :ours :gradient-batch :peer "gradient_samples"
    :note "minibatch objective (Objective/batch, 512 samples) vs torch on the batch"}
   {:op "gradient" :ours :gradient-moments :peer "gradient_moments"
    :note "exact moments vs torch on precomputed moments"}
   {:op "HVP" :ours :hvp-moments :peer "hvp_samples"
    :note "from scratch (prepare + product) vs torch double backward on the batch"}
   {:op "HVP" :ours :hvp-batch :peer "hvp_samples"
    :note "minibatch objective vs torch double backward on the batch"}
   {:op "HVP" :ours :hvp-moments :peer "hvp_moments"
    :note "exact moments vs torch double backward on precomputed moments"}
   {:op "HVP, prepared point" :ours :hvp-prepared :peer "hvp_prepared_samples"
    :note "Engine/hvpPrepared vs torch backward through a retained create_graph gradient"}
   {:op "top eigenvalue" :ours :lanczos :peer "lanczos_samples"
    :note "Lanczos from the same start, full reorthogonalization, point prepared once: dlnlab.hessian/eigenvalues with Krylov dimension 20 (+1 HVP for the explicit residual) vs 20 torch HVPs on a retained graph"}
   {:op "top eigenvalue, default call" :ours :eigenvalues :peer "eigsh_samples"
    :note "dlnlab.hessian/eigenvalues with default options (tol 1e-8, random start) vs what edge-of-stability code does: scipy eigsh(which='LA') on a LinearOperator of torch double-backward HVPs (graph retained per call)"}])

;; ---------------------------------------------------------------- timing

(defn- fmt-s
  "Seconds in a readable unit."
  ^String [^double s]
  (cond (< s 1e-3) (format "%.1f µs" (* s 1e6))
        (< s 1.0) (format "%.2f ms" (* s 1e3))
        :else (format "%.2f s" s)))

(defn median-seconds
  "Median seconds per call of f (no arguments) after warm-up.
  Options: :warmup-s (0.5) warm-up time, :min-sample-s (0.005) calls are grouped so
  a sample lasts at least this long, :samples (21) samples wanted, :max-op-s (4.0)
  time budget that can lower the sample count (never below 3, or 1 when a single
  call exceeds the budget). Returns {:median s :samples k :inner calls-per-sample}."
  [f {:keys [warmup-s min-sample-s samples max-op-s]
      :or {warmup-s 0.5 min-sample-s 0.005 samples 21 max-op-s 4.0}}]
  (let [f ^clojure.lang.IFn f
        t0 (System/nanoTime)
        calls (long (loop [c 1] (f) (if (>= (seconds-since t0) (double warmup-s)) c (recur (inc c)))))
        per-call (/ (seconds-since t0) calls)
        inner (max 1 (long (/ (double min-sample-s) per-call)))
        budget (long (/ (double max-op-s) (* per-call inner)))
        k (max (min (long samples) budget) (if (> per-call (double max-op-s)) 1 3))
        times (vec (for [_ (range k)]
                     (let [t (System/nanoTime)]
                       (dotimes [_ inner] (f))
                       (/ (seconds-since t) inner))))]
    {:median (median times) :samples k :inner inner}))

;; ---------------------------------------------------------------- the peer

(defn- peer-measure
  "Asks the peer to time op at width w; returns its answer map (with :median_s)."
  [{:keys [label ^java.io.Writer in ^BufferedReader out]} op w samples]
  (.write in (str "{\"op\": \"" op "\", \"width\": " w ", \"samples\": " samples "}\n"))
  (.flush in)
  (let [line (.readLine out)]
    (when (nil? line)
      (throw (ex-info (str "the torch peer (" label ") stopped while timing " op " at width " w)
                      {:path [:peer label op w] :value nil :allowed "an answer line"})))
    (let [m (parse-json line)]
      (log (str "  " label ": " op " W=" w " " (fmt-s (double (:median_s m)))
                " (" (:samples m) " x " (:inner m) ")"))
      m)))

;; ---------------------------------------------------------------- agreement

(defn- rel-diff ^double [^doubles a ^doubles b]
  (let [d (double-array (alength a))]
    (dotimes [i (alength a)] (aset d i (- (aget a i) (aget b i))))
    (/ (Blas/nrm2 (alength d) d 0) (max 1e-300 (Blas/nrm2 (alength b) b 0)))))

(defn- rel-diff-scalar ^double [^double a ^double b]
  (/ (Math/abs (- a b)) (max 1e-300 (Math/abs b))))

(defn agreement
  "Relative differences between our loss (both objectives), gradient, HVP along
  the instance direction and top Ritz value and the peer's result for instance."
  [{:keys [^Arch arch ^doubles params ^doubles direction ^Objective moments ^Objective batch] :as inst} result]
  (let [size (.size arch)
        wm (Engine$Workspace. arch moments)
        wb (Engine$Workspace. arch batch)
        g (double-array size) gb (double-array size) hv (double-array size) hvb (double-array size)
        lm (Engine/gradient arch moments params wm g)
        lb (Engine/gradient arch batch params wb gb)
        _ (Engine/hvp arch moments params direction wm hv)
        _ (Engine/hvp arch batch params direction wb hvb)
        eig (top-eigenvalue inst moments wm)
        default-eig (top-eigenvalue inst moments wm {})
        [eigsh-top eigsh-matvecs] (:eigsh result)
        top (double (first (:values eig)))
        tg (packed-from-weights arch (:gradient result))
        th (packed-from-weights arch (:hvp result))
        ttop (double (:top_eigenvalue result))
        tl (double (:loss result))]
    {:width (:width inst)
     :loss [lm tl (rel-diff-scalar lm tl)]
     :loss-batch (rel-diff-scalar lb tl)
     :gradient (rel-diff g tg)
     :gradient-batch (rel-diff gb tg)
     :hvp (rel-diff hv th)
     :hvp-batch (rel-diff hvb th)
     :top-eigenvalue [top ttop (rel-diff-scalar top ttop)]
     :eigsh (let [ours (double (first (:values default-eig))) theirs (double eigsh-top)]
              [ours (:hvp-count default-eig) theirs eigsh-matvecs (rel-diff-scalar ours theirs)])
     :hvp-count (:hvp-count eig)}))

;; ---------------------------------------------------------------- report

(defn- report
  "The Markdown report from the measurements."
  [{:keys [widths ours peers checks env]}]
  (let [sb (StringBuilder.)
        ln (fn [& xs] (.append sb (apply str xs)) (.append sb "\n"))]
    (ln "# dlnlab engine vs PyTorch: gradient, HVP, top Hessian eigenvalue")
    (ln)
    (ln "2 pathways x depth 4, input = hidden = output width W, standard parameterization, "
        "weights N(0, 1/W); 512 samples x ~ N(0, I), y = M x + 0.1 noise. float64, one thread on both sides. "
        "Medians of per-call time; ratio = torch / dlnlab (above 1: dlnlab is faster). "
        "Each dlnlab operation is timed right before the torch operations it is compared with.")
    (ln)
    (doseq [[k v] env] (ln "- " k ": " v))
    (ln)
    (ln "## Agreement on the shared instance")
    (ln)
    (ln "Relative differences |a - b| / |b| (vectors: Euclidean norms) between dlnlab and torch "
        "(torch with the same OpenBLAS, loss by a forward pass on the 512-sample batch) "
        "at the exported weights, data and direction.")
    (ln)
    (ln "| W | loss dlnlab (moments) | loss torch | loss, moments | loss, batch | gradient, moments | gradient, batch | HVP, moments | HVP, batch | top eigenvalue dlnlab (HVPs) | top Ritz value torch (20 HVPs) | rel. diff |")
    (ln "|---|---|---|---|---|---|---|---|---|---|---|---|")
    (doseq [c checks]
      (let [[lm tl dl] (:loss c) [t tt dt] (:top-eigenvalue c)]
        (ln "| " (:width c) " | " (format "%.15g" lm) " | " (format "%.15g" tl) " | " (format "%.1e" dl)
            " | " (format "%.1e" (:loss-batch c)) " | " (format "%.1e" (:gradient c)) " | " (format "%.1e" (:gradient-batch c))
            " | " (format "%.1e" (:hvp c)) " | " (format "%.1e" (:hvp-batch c))
            " | " (format "%.12g" t) " (" (:hvp-count c) ") | " (format "%.12g" tt) " | " (format "%.1e" dt) " |")))
    (ln)
    (ln "Top eigenvalue by a default call, dlnlab.hessian/eigenvalues vs scipy eigsh(which='LA') on torch HVPs:")
    (ln)
    (ln "| W | dlnlab (HVPs) | eigsh (matvecs) | rel. diff |")
    (ln "|---|---|---|---|")
    (doseq [c checks]
      (let [[o oh t th d] (:eigsh c)]
        (ln "| " (:width c) " | " (format "%.15g" o) " (" oh ") | " (format "%.15g" t) " (" th ") | " (format "%.1e" d) " |")))
    (ln)
    (ln "## Timings")
    (ln)
    (ln "| operation | W | dlnlab | torch, Debian libblas | ratio | torch, same OpenBLAS | ratio | compared |")
    (ln "|---|---|---|---|---|---|---|---|")
    (doseq [r rows w widths]
      (let [ours-s (double (get-in ours [[w (:ours r)] :median]))
            cell (fn [k] (if-let [m (get-in peers [k [w (:peer r)]])]
                           (let [t (double (:median_s m))] [(fmt-s t) (format "%.1f" (/ t ours-s))])
                           ["-" "-"]))
            [t1 r1] (cell :stock)
            [t2 r2] (cell :openblas)]
        (ln "| " (:op r) " | " w " | " (fmt-s ours-s) " | " t1 " | " r1 " | " t2 " | " r2 " | " (:note r) " |")))
    (.toString sb)))

;; ---------------------------------------------------------------- main

(defn -main
  "Runs the benchmark and prints the report; writes it to bench/out/engine.md.
  Arguments: --quick, fewer samples and shorter warm-up (a smoke run);
  --widths 16,64, the widths to run (default 16,64,256)."
  [& args]
  (ensure-peer! "torch" "scipy")
  (let [quick? (some #{"--quick"} args)
        widths (if-let [ws (second (drop-while #(not= "--widths" %) args))]
                 (mapv #(Long/parseLong %) (str/split ws #","))
                 [16 64 256])
        seed 20260101
        tmp (.toFile (Files/createTempDirectory "dlnlab-bench" (make-array FileAttribute 0)))
        opts (if quick? {:warmup-s 0.1 :samples 5 :max-op-s 0.5} {:warmup-s 0.5 :samples 21 :max-op-s 2.0})
        peer-samples (if quick? 5 15)
        peer-args ["--widths" (str/join "," widths) "--instances" (.getPath tmp)
                   "--warmup-seconds" (if quick? "0.1" "0.3") "--max-op-seconds" (if quick? "0.5" "2.5")]
        peers (atom [])]
    (try
      (let [load-before (load-average)
            insts (into {} (for [w widths] [w (instance w seed)]))
            _ (log "writing the shared instances to" (.getPath tmp))
            _ (doseq [[w inst] insts] (write-instance! inst (io/file tmp (str "instance-" w ".json"))))
            shim (blas-shim! tmp)
            _ (log "starting torch peers: Debian's default libblas.so.3, and dlnlab's OpenBLAS as libblas.so.3")
            cmd (into ["/usr/bin/python3" "bench/torch_peer.py" "--serve"] peer-args)
            stock (start-peer "torch/libblas" cmd {} parse-json)
            _ (swap! peers conj stock)
            openblas (start-peer "torch/OpenBLAS" (conj cmd "--check")
                                 {"LD_LIBRARY_PATH" (str (.getPath shim) ":" (.getParent (io/file (openblas-path))))}
                                 parse-json)
            _ (swap! peers conj openblas)
            checks (vec (for [w widths]
                          (agreement (insts w) (parse-json (slurp (io/file tmp (str "result-" w ".json")))))))
            _ (log "agreement:" (pr-str checks))
            _ (log "warming up the JIT on every operation at widths 16 and 64")
            _ (doseq [w (filter #{16 64} widths) f (vals (operations (insts w)))]
                (let [t0 (System/nanoTime)]
                  (while (< (seconds-since t0) (if quick? 0.1 0.4)) (f))))
            results (atom {:ours {} :stock {} :openblas {}})
            _ (doseq [w widths]
                (let [ops (operations (insts w))]
                  (doseq [r rows]
                    (let [k [w (:ours r)] pk [w (:peer r)]]
                      (when-not (get-in @results [:ours k])
                        (let [m (median-seconds (ops (:ours r)) opts)]
                          (log (str "  dlnlab: " (name (:ours r)) " W=" w " " (fmt-s (:median m))
                                    " (" (:samples m) " x " (:inner m) ")"))
                          (swap! results assoc-in [:ours k] m)))
                      (doseq [[label peer] [[:stock stock] [:openblas openblas]]]
                        (when-not (get-in @results [label pk])
                          (swap! results assoc-in [label pk] (peer-measure peer (:peer r) w peer-samples))))))))
            env (assoc (machine-env stock openblas load-before) "Blas.NATIVE_THRESHOLD" Blas/NATIVE_THRESHOLD)
            text (report {:widths widths :ours (:ours @results)
                          :peers (select-keys @results [:stock :openblas])
                          :checks checks :env env})
            out (io/file "bench/out/engine.md")]
        (io/make-parents out)
        (spit out text)
        (println text)
        (flush))
      (finally
        (doseq [p @peers] (stop-peer p))
        (delete-tree! tmp)
        (shutdown-agents)))))
