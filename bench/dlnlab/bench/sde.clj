(ns dlnlab.bench.sde
  "Benchmark: Euler-Maruyama on the per-mode SDE (SCIENCE.md section 7), mode-steps per
  second of dlnlab.kernel.Sde with 1 and 2 threads against bench/sde_numpy.py (the same
  loop vectorized with numpy), measured in one run. Rounds interleave the peer and our
  kernel so that load from other processes hits both alike; the table reports medians
  over rounds and the ratios to numpy's median, by wall clock (the figure that counts)
  and by process CPU time (per-core efficiency, which stays meaningful when other jobs
  share the machine; the load average is printed too).

  Run: lein run -m dlnlab.bench.sde [paths modes steps depth rounds]
  (defaults 10000 10 1000 3 5)."
  (:require [clojure.java.shell :as shell]
            [clojure.string :as str]
            [dlnlab.bench.common :refer [ensure-peer!]])
  (:import [dlnlab.kernel Sde]
           [java.lang.management ManagementFactory]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; The peer script uses the same constants (see bench/sde_numpy.py).
(def ^:private params
  {:lr 0.05 :batch 4.0 :sigma 0.5 :dt 1e-3 :record-every 100 :a0 0.1 :bound 1e3 :seed 1})

(defn- targets
  "s_i = linspace(1, 3, modes), as numpy's linspace."
  ^doubles [^long modes]
  (double-array (for [i (range modes)]
                  (if (= modes 1) 1.0 (+ 1.0 (/ (* 2.0 (double i)) (double (dec modes))))))))

(defn- process-cpu-seconds ^double []
  (/ (double (.getProcessCpuTime ^com.sun.management.OperatingSystemMXBean (ManagementFactory/getOperatingSystemMXBean))) 1e9))

(defn- run-kernel
  "Runs one ensemble with the given threads; returns [wall-seconds cpu-seconds]."
  [{:keys [^long paths ^long modes ^long steps ^long depth]} ^long threads]
  (let [{:keys [lr batch sigma dt record-every a0 bound seed]} params
        rec (long record-every)
        s (targets modes)
        a0s (double-array modes (double a0))
        out (double-array (* (inc (quot steps rec)) modes paths))
        status (byte-array (* modes paths))
        c0 (process-cpu-seconds)
        t0 (System/nanoTime)]
    (Sde/ensemble (int depth) s (int modes) (Math/sqrt (/ (double lr) (double batch))) (double sigma)
                  a0s (int paths) (long seed) Sde/EULER_MARUYAMA (double dt) (int steps) (int rec)
                  Sde/ABSORBING (double bound) nil 0 (int threads) out nil status)
    [(/ (double (- (System/nanoTime) t0)) 1e9) (- (process-cpu-seconds) c0)]))

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

(defn- median ^double [xs]
  (let [v (vec (sort xs)) n (count v)]
    (if (odd? n)
      (double (v (quot n 2)))
      (* 0.5 (+ (double (v (dec (quot n 2)))) (double (v (quot n 2))))))))

(defn -main
  "Prints a table of medians (mode-steps/s) for numpy and our kernel with 1 and 2 threads, and the ratios."
  [& args]
  (ensure-peer! "numpy")
  (let [[paths modes steps depth rounds] (map #(Long/parseLong %) (concat args (drop (count args) ["10000" "10" "1000" "3" "5"])))
        work (* (double paths) (double modes) (double steps))]
    ;; JIT warm-up of the kernel on a smaller problem.
    (let [small {:paths (min 2000 (long paths)) :modes modes :steps (min 500 (long steps)) :depth depth}]
      (dotimes [_ 3] (run-kernel small 1))
      (dotimes [_ 2] (run-kernel small 2)))
    (let [results (vec (for [r (range rounds)]
                         (let [np (run-numpy paths modes steps depth)
                               problem {:paths paths :modes modes :steps steps :depth depth}
                               [t1 c1] (run-kernel problem 1)
                               [t2 c2] (run-kernel problem 2)]
                           (binding [*out* *err*]
                             (println (format "round %d: numpy %.3f s, kernel 1 thread %.3f s, 2 threads %.3f s"
                                              (inc (long r)) (double (:seconds np)) (double t1) (double t2))))
                           {:numpy (:seconds np) :numpy-cpu (:cpu-seconds np) :version (:numpy np)
                            :t1 t1 :t2 t2 :c1 c1 :c2 c2})))
          rate (fn ^double [k] (/ work (median (map k results))))
          np (double (rate :numpy)) k1 (double (rate :t1)) k2 (double (rate :t2))
          npc (double (rate :numpy-cpu)) kc1 (double (rate :c1)) kc2 (double (rate :c2))
          load (try (with-open [r (java.io.BufferedReader. (java.io.FileReader. "/proc/loadavg"))]
                      (first (str/split (str (.readLine r)) #" ")))
                    (catch java.io.IOException _ "?"))]
      (println (format "Euler-Maruyama, per-mode SDE: paths %d x modes %d x steps %d, depth %d, %d rounds, %d cores, load average %s"
                       paths modes steps depth rounds (.availableProcessors (Runtime/getRuntime)) load))
      (println (format "%-30s %14s %9s %16s %9s" "implementation" "wall steps/s" "vs numpy" "per CPU-second" "vs numpy"))
      (println (format "%-30s %14.3e %9.2f %16.3e %9.2f" (str "numpy " (:version (first results)) " (1 core)") np 1.0 npc 1.0))
      (println (format "%-30s %14.3e %9.2f %16.3e %9.2f" "dlnlab Sde, 1 thread" k1 (/ k1 np) kc1 (/ kc1 npc)))
      (println (format "%-30s %14.3e %9.2f %16.3e %9.2f" "dlnlab Sde, 2 threads" k2 (/ k2 np) kc2 (/ kc2 npc)))
      (println (pr-str {:bench :sde-euler-maruyama :paths paths :modes modes :steps steps :depth depth :load-average load
                        :numpy-mode-steps-per-s np :kernel-1-thread k1 :kernel-2-threads k2
                        :ratio-1-thread (/ k1 np) :ratio-2-threads (/ k2 np)
                        :cpu-ratio-1-thread (/ kc1 npc) :cpu-ratio-2-threads (/ kc2 npc)}))
      (shutdown-agents))))
