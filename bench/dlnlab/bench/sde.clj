(ns dlnlab.bench.sde
  "Benchmark: Euler-Maruyama on the per-mode SDE (SCIENCE.md section 7), mode-steps per
  second of dlnlab.kernel.Sde with 1 and 2 threads against bench/sde_numpy.py (the same
  loop vectorized with numpy) and against bench/sde_native.c (the same scheme, Gaussian
  generator and blocking in C, compiled here with gcc -O3 -march=native into a temporary
  directory that is deleted afterwards: the physical anchor), measured in one run.
  Rounds interleave the peers and our kernel so that load from other processes hits
  all alike; the table reports medians over rounds and the ratios to numpy's median,
  by wall clock (the figure that counts) and by process CPU time (per-core efficiency,
  which stays meaningful when other jobs share the machine; the load average is
  printed too), and per CPU-second against C. The C program draws the same normals
  from the same layer table, so its records are compared with the kernel's (a hash of
  their bits).

  Each round also runs two copies of the C program at once, one process each with no
  shared state: the machine's own scaling from one core to two. Its loss per
  CPU-second (cores of a VM can share the host's resources) bounds what any two-thread
  code gets here, so the two-core verdict prints it beside the kernel's own scaling
  as the measured reason.

  Targets (issue 10): within 1.5x of C per core, >= 10x numpy with both cores, >= 6x
  numpy per core.

  Run: lein run -m dlnlab.bench.sde [paths modes steps depth rounds]
  (defaults 10000 10 1000 3 5)."
  (:require [clojure.data.json :as json]
            [clojure.java.io :as io]
            [clojure.java.shell :as shell]
            [clojure.string :as str]
            [dlnlab.bench.common :refer [ensure-peer! median]])
  (:import [dlnlab.kernel Normal Sde]
           [java.io File]
           [java.lang.management ManagementFactory]
           [java.nio.file Files]
           [java.nio.file.attribute FileAttribute]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; The peer script uses the same constants (see bench/sde_numpy.py).
(def ^:private params
  {:lr 0.05 :batch 4.0 :sigma 0.5 :dt 1e-3 :record-every 100 :a0 0.1 :bound 1e3 :seed 1})

(def ^:private native-repeats
  "Timed repeats per C run, alone and in the pair (their medians; long enough that the
  two copies of the pair overlap for nearly all of their run), and per kernel run."
  3)

(defn- targets
  "s_i = linspace(1, 3, modes), as numpy's linspace."
  ^doubles [^long modes]
  (double-array (for [i (range modes)]
                  (if (= modes 1) 1.0 (+ 1.0 (/ (* 2.0 (double i)) (double (dec modes))))))))

(defn- thread-cpu-seconds
  "CPU time of the calling thread, to the nanosecond (a one-thread ensemble runs on it)."
  ^double []
  (/ (double (.getCurrentThreadCpuTime (ManagementFactory/getThreadMXBean))) 1e9))

(defn- process-cpu-seconds
  "CPU time of the whole process (the JVM reports it in clock ticks, 10 ms), for the
  two-thread ensemble whose worker thread ends with it."
  ^double []
  (/ (double (.getProcessCpuTime ^com.sun.management.OperatingSystemMXBean (ManagementFactory/getOperatingSystemMXBean))) 1e9))

(defn- records-hash
  "FNV-1a over the bits of every record, as bench/sde_native.c prints it."
  ^String [^doubles out]
  (let [h (areduce out k h (unchecked-long -3750763034362895579)
                   (unchecked-multiply (bit-xor h (Double/doubleToRawLongBits (aget out k))) 0x100000001b3))]
    (format "%016x" h)))

(defn- run-kernel
  "Runs `repeats` ensembles back to back with the given threads; returns [wall-seconds
  cpu-seconds records-hash] per ensemble (their mean: the process clock of the
  two-thread run ticks in 10 ms, so it is read over all of them)."
  [{:keys [^long paths ^long modes ^long steps ^long depth]} ^long threads ^long repeats]
  (let [{:keys [lr batch sigma dt record-every a0 bound seed]} params
        rec (long record-every)
        s (targets modes)
        a0s (double-array modes (double a0))
        out (double-array (* (inc (quot steps rec)) modes paths))
        status (byte-array (* modes paths))
        cpu (if (== threads 1) thread-cpu-seconds process-cpu-seconds)
        c0 (double (cpu))
        t0 (System/nanoTime)]
    (dotimes [_ repeats]
      (Sde/ensemble (int depth) s (int modes) (Math/sqrt (/ (double lr) (double batch))) (double sigma)
                    a0s (int paths) (long seed) Sde/EULER_MARUYAMA (double dt) (int steps) (int rec)
                    Sde/ABSORBING (double bound) nil 0 (int threads) out nil status))
    [(/ (double (- (System/nanoTime) t0)) 1e9 (double repeats)) (/ (- (double (cpu)) c0) (double repeats))
     (records-hash out)]))

(defn- run-numpy
  "Runs the numpy peer once (one timed repeat after its warm-up); returns its JSON fields."
  [paths modes steps depth]
  (let [{:keys [exit out err]} (shell/sh "/usr/bin/python3" "bench/sde_numpy.py"
                                         (str paths) (str modes) (str steps) (str depth) "1"
                                         :env (merge (into {} (System/getenv))
                                                     {"OMP_NUM_THREADS" "1" "OPENBLAS_NUM_THREADS" "1"}))]
    (when-not (zero? (long exit))
      (throw (ex-info (str "numpy peer failed: " err) {:exit exit :stderr err})))
    (let [line (last (str/split-lines (str/trim out)))
          grab (fn [k] (second (re-find (re-pattern (str "\"" k "\": ([^,}]+)")) line)))]
      {:seconds (Double/parseDouble (grab "median_seconds"))
       :cpu-seconds (Double/parseDouble (grab "median_cpu_seconds"))
       :numpy (str/replace (str (grab "numpy")) "\"" "")})))

;; ---------------------------------------------------------------- the native reference

(defn- native-peer!
  "Writes Normal's layer table (TAIL_START, the edges x_i, f(x_i) = exp(-x_i^2/2), as
  hexadecimal doubles) and compiles bench/sde_native.c into a fresh temporary
  directory; returns {:dir :bin :table :cc}. Throws ex-info when gcc fails."
  []
  (let [dir (.toFile (Files/createTempDirectory "dlnlab-sde-native" (make-array FileAttribute 0)))
        table (io/file dir "layers.txt")
        bin (io/file dir "sde_native")
        edges (mapv #(Normal/layerEdge %) (range (inc Normal/LAYERS)))
        flags ["-O3" "-march=native" "-ffp-contract=off" "-fno-math-errno"]]
    (spit table (str/join "\n" (concat [(Double/toHexString Normal/TAIL_START)]
                                       (map #(Double/toHexString (double %)) edges)
                                       (map #(Double/toHexString (Math/exp (* -0.5 (double %) (double %)))) edges))))
    (let [{:keys [exit err]} (apply shell/sh (concat ["gcc"] flags ["-o" (str bin) "bench/sde_native.c" "-lm"]))]
      (when-not (zero? (long exit))
        (throw (ex-info (str "gcc failed: " err) {:exit exit :stderr err}))))
    {:dir dir :bin (str bin) :table (str table) :cc (str/join " " (cons "gcc" flags))}))

(defn- delete-tree! [^File dir]
  (doseq [^File f (reverse (file-seq dir))] (.delete f)))

(defn- native-command
  "The command line of one C run: its warm-up, then `repeats` timed repeats."
  [{:keys [bin table]} paths modes steps depth repeats]
  [bin table (str paths) (str modes) (str steps) (str depth) (str repeats)])

(defn- native-fields
  "The JSON line the C reference printed, as {:seconds :cpu-seconds :hash} (medians over its repeats)."
  [^String out]
  (let [m (json/read-str (last (str/split-lines (str/trim out))) :key-fn keyword)]
    {:seconds (double (:median_seconds m)) :cpu-seconds (double (:median_cpu_seconds m)) :hash (:hash m)}))

(defn- run-native
  "Runs the C reference alone; returns its fields."
  [native paths modes steps depth]
  (let [{:keys [exit out err]} (apply shell/sh (native-command native paths modes steps depth native-repeats))]
    (when-not (zero? (long exit))
      (throw (ex-info (str "native peer failed: " err) {:exit exit :stderr err})))
    (native-fields out)))

(defn- run-native-pair
  "Runs two copies of the C reference at the same time, one process each (the machine's
  own two-core scaling, with no shared state between the copies); returns
  {:seconds (the slower copy's median wall) :cpu-seconds (the copies' mean median CPU
  time) :hashes}."
  [native paths modes steps depth]
  (let [cmd ^java.util.List (native-command native paths modes steps depth native-repeats)
        procs (vec (for [_ (range 2)]
                     (-> (ProcessBuilder. cmd) (.redirectErrorStream true) (.start))))
        outs (mapv (fn [^Process p]
                     (let [out (slurp (.getInputStream p))]
                       (when-not (zero? (.waitFor p))
                         (throw (ex-info (str "native peer failed: " out) {:exit (.exitValue p) :output out})))
                       (native-fields out)))
                   procs)]
    {:seconds (double (apply max (map :seconds outs)))
     :cpu-seconds (/ (double (reduce + (map :cpu-seconds outs))) 2.0)
     :hashes (mapv :hash outs)}))

(defn- verdict [ok? text] (str (if ok? "met" "NOT met") ": " text))

(defn- scaling-lines
  "The two-core verdict's reason: how the machine itself scales from one C process to
  two at once (wall clock and per CPU-second), how the kernel scales from one thread to
  two, and what C's own pair reaches against numpy, from the medians' rates (mode-steps/s)."
  [{:keys [np npc cw cc cpw cpc k1 kc1 k2 kc2]}]
  (let [np (double np) npc (double npc) cw (double cw) cc (double cc) cpw (double cpw) cpc (double cpc)
        k1 (double k1) kc1 (double kc1) k2 (double k2) kc2 (double kc2)
        machine-cpu (/ cpc cc) kernel-cpu (/ kc2 kc1)]
    [(format "  the machine: two C copies at once give %.2fx one copy (wall clock); each copy runs at %.2f of its solo speed per CPU-second"
             (/ cpw cw) machine-cpu)
     (format "  the kernel: two threads give %.2fx one thread (wall clock); each thread runs at %.2f of its solo speed per CPU-second"
             (/ k2 k1) kernel-cpu)
     (format "  so C itself reaches %.2fx numpy on both cores (wall clock; 2 x %.2fx = %.2fx per CPU-second), and the kernel 2 x %.2fx x %.2f = %.2fx on two otherwise idle cores"
             (/ cpw np) (/ cpc npc) (* 2.0 (/ cpc npc)) (/ kc1 npc) machine-cpu (* 2.0 (/ kc1 npc) machine-cpu))
     (if (>= kernel-cpu (* 0.9 machine-cpu))
       (str "  reason: per CPU-second the kernel's threads lose no more than two independent C processes do, so the kernel's parallel path is not the limit"
            (when (< machine-cpu 0.85)
              "; the VM's two cores slow each other down (they share the host's core resources), for C as for the kernel")
            (when (< (/ cpw cw) (* 1.8 machine-cpu))
              "; the rest of the wall-clock loss is time the other processes on the machine take (see the load average)"))
       (format "  reason: per CPU-second the kernel's threads lose %.0f%% more than two independent C processes do: the kernel's parallel path is the limit"
               (* 100.0 (- (/ machine-cpu kernel-cpu) 1.0))))]))

(defn -main
  "Prints a table of medians (mode-steps/s) for numpy, C alone, two C copies at once and
  our kernel with 1 and 2 threads, the ratios, the machine's and the kernel's two-core
  scaling, and whether the targets are met."
  [& args]
  (ensure-peer! "numpy")
  (let [[paths modes steps depth rounds] (map #(Long/parseLong %) (concat args (drop (count args) ["10000" "10" "1000" "3" "5"])))
        work (* (double paths) (double modes) (double steps))
        native (native-peer!)]
    (try
      ;; JIT warm-up of the kernel on a smaller problem.
      (let [small {:paths (min 2000 (long paths)) :modes modes :steps (min 500 (long steps)) :depth depth}]
        (run-kernel small 1 3)
        (run-kernel small 2 2))
      (let [results (vec (for [r (range rounds)]
                           (let [np (run-numpy paths modes steps depth)
                                 c (run-native native paths modes steps depth)
                                 cp (run-native-pair native paths modes steps depth)
                                 problem {:paths paths :modes modes :steps steps :depth depth}
                                 [t1 c1 h1] (run-kernel problem 1 native-repeats)
                                 [t2 c2 h2] (run-kernel problem 2 native-repeats)]
                             (binding [*out* *err*]
                               (println (format "round %d: numpy %.3f s, C %.3f s, two C at once %.3f s, kernel 1 thread %.3f s, 2 threads %.3f s"
                                                (inc (long r)) (double (:seconds np)) (double (:seconds c)) (double (:seconds cp))
                                                (double t1) (double t2))))
                             {:numpy (:seconds np) :numpy-cpu (:cpu-seconds np) :version (:numpy np)
                              :c (:seconds c) :c-cpu (:cpu-seconds c) :c-hash (:hash c)
                              ;; the pair does 2 x work in its wall time
                              :pair (/ (double (:seconds cp)) 2.0) :pair-cpu (:cpu-seconds cp)
                              :hashes (into [h1 h2] (:hashes cp))
                              :t1 t1 :t2 t2 :c1 c1 :c2 c2})))
            rate (fn ^double [k] (/ work (median (map k results))))
            rates {:np (rate :numpy) :npc (rate :numpy-cpu) :cw (rate :c) :cc (rate :c-cpu)
                   :cpw (rate :pair) :cpc (rate :pair-cpu)
                   :k1 (rate :t1) :kc1 (rate :c1) :k2 (rate :t2) :kc2 (rate :c2)}
            {:keys [np npc cw cc cpw cpc k1 kc1 k2 kc2]} rates
            np (double np) npc (double npc) cc (double cc) kc1 (double kc1) k1 (double k1) k2 (double k2)
            same? (every? (fn [{:keys [c-hash hashes]}] (every? #(= c-hash %) hashes)) results)
            load (try (with-open [r (java.io.BufferedReader. (java.io.FileReader. "/proc/loadavg"))]
                        (first (str/split (str (.readLine r)) #" ")))
                      (catch java.io.IOException _ "?"))]
        (println (format "Euler-Maruyama, per-mode SDE: paths %d x modes %d x steps %d, depth %d, %d rounds, %d cores, load average %s"
                         paths modes steps depth rounds (.availableProcessors (Runtime/getRuntime)) load))
        (println (format "%-32s %14s %9s %16s %9s %9s" "implementation" "wall steps/s" "vs numpy" "per CPU-second" "vs numpy" "vs C"))
        (doseq [[label w c] [[(str "numpy " (:version (first results)) " (1 core)") np npc]
                             ["C, 1 process" cw cc]
                             ["C, 2 processes at once" cpw cpc]
                             ["dlnlab Sde, 1 thread" k1 kc1]
                             ["dlnlab Sde, 2 threads" k2 kc2]]]
          (println (format "%-32s %14.3e %9.2f %16.3e %9.2f %9.2f" label (double w) (/ (double w) np) (double c) (/ (double c) npc) (/ (double c) cc))))
        (println (str "C built with " (:cc native) "; per CPU-second is per process or thread"))
        (println (str "records identical to C's (bit for bit, every round, thread count and copy): " same?))
        (println (verdict (<= (/ cc kc1) 1.5) (format "per core within 1.5x of C (C is %.2fx the kernel per CPU-second)" (/ cc kc1))))
        (println (verdict (>= (/ kc1 npc) 6.0) (format ">= 6x numpy per core (%.2fx per CPU-second; C itself is %.2fx)" (/ kc1 npc) (/ cc npc))))
        (when (< (/ kc1 npc) 6.0)
          (println (str "  the gap to C is the ziggurat's pass: its two table lookups per draw and the"
                        " conversion of the draw's 54 bits to a double stay scalar under the JDK 17 JIT (no gathers,"
                        " no vectorized long-to-double), where C uses AVX-512 gathers and vcvtqq2pd; profiled here"
                        " on 2026-12-04 it is about half of the kernel's time (the range check is now a vectorized"
                        " mark per step, with a checked redo of the rare items that left the range)")))
        (println (verdict (>= (/ k2 np) 10.0) (format ">= 10x numpy with both cores (%.2fx, wall clock at load average %s)" (/ k2 np) load)))
        (run! println (scaling-lines rates))
        (println (pr-str {:bench :sde-euler-maruyama :paths paths :modes modes :steps steps :depth depth :load-average load
                          :numpy-mode-steps-per-s np :c-mode-steps-per-s cw :c-pair-mode-steps-per-s cpw
                          :kernel-1-thread k1 :kernel-2-threads k2
                          :ratio-1-thread (/ k1 np) :ratio-2-threads (/ k2 np)
                          :cpu-ratio-1-thread (/ kc1 npc) :cpu-ratio-2-threads (/ (double kc2) npc)
                          :cpu-ratio-c-to-kernel (/ cc kc1)
                          :machine-pair-speedup (/ (double cpw) (double cw)) :machine-pair-cpu-efficiency (/ (double cpc) cc)
                          :kernel-pair-speedup (/ k2 k1) :kernel-pair-cpu-efficiency (/ (double kc2) kc1)
                          :identical-to-c same?})))
      (finally
        (delete-tree! (:dir native))
        (shutdown-agents)))))
