(ns dlnlab.limits
  "Up-front size checks of a :network experiment: an estimate of the memory its
  run needs (parameters, data, batches, recorded rows), compared with a limit
  before anything is allocated, so a huge model fails at once with a message
  naming the key instead of hanging or dying of OutOfMemoryError.

  The limit is DLNLAB_MEMORY_LIMIT (environment) or the system property
  dlnlab.memory-limit, in bytes with an optional k, m, g or t suffix (\"2g\");
  by default the JVM's maximum heap (-Xmx). Every integer of the experiment
  has already been range-checked by dlnlab.spec (sizes up to 2147483647).

  Functions: `memory-limit`, `model-size`, `estimate`, `check!`."
  (:require [clojure.string :as str]
            [dlnlab.error :as error]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def ^:private copies
  "Arrays of the parameters' size a run holds at once: the parameters, the
  gradient, the optimizer's state and the workspaces of the kernels."
  6)

(def ^:private bytes-per-factor
  "What the description of one factor costs beyond its weights (its layout
  entry and kernel tables)."
  1024)

(def ^:private bytes-per-cell
  "What one recorded value costs in memory (a boxed number in a vector)."
  32)

(defn- parse-size
  "Bytes from \"123\", \"500m\", \"2g\" (k, m, g, t: powers of 1024), or nil."
  [s]
  (when-let [[_ n unit] (and s (re-matches #"(?i)\s*(\d{1,15})\s*([kmgt]?)b?\s*" s))]
    (* (Long/parseLong n) (long (case (str/lower-case unit) "" 1 "k" 1024 "m" 1048576 "g" 1073741824 "t" 1099511627776)))))

(defn memory-limit
  "The memory limit in bytes and where it comes from: [bytes source]."
  []
  (let [env (System/getenv "DLNLAB_MEMORY_LIMIT")
        prop (System/getProperty "dlnlab.memory-limit")]
    (cond (parse-size env) [(parse-size env) "DLNLAB_MEMORY_LIMIT"]
          (parse-size prop) [(parse-size prop) "the system property dlnlab.memory-limit"]
          :else [(.maxMemory (Runtime/getRuntime)) "the JVM's maximum heap, -Xmx"])))

(defn- io-dims
  "[input output] sizes of the task, as far as the experiment says them (1 where
  only the data would tell)."
  [{:keys [task model]}]
  (let [w (:widths model)]
    (case (:kind task)
      :matrix-factorization (if-let [[rows cols] (:dims task)]
                              [cols rows]
                              [(count (first (:matrix task))) (count (:matrix task))])
      :teacher-student [(:input-dim task 1) (:output-dim task 1)]
      (if w [(first w) (peek w)] [(count (first (:x task))) (count (first (:y task)))]))))

(defn model-size
  "[factors parameters] of the model of a normalized :network experiment, as
  doubles (they may exceed a long)."
  [{:keys [model] :as exp}]
  (let [[a b] (io-dims exp)
        din (double a)
        dout (double b)
        k (double (:pathways model 1))
        l (double (:depth model 1))
        n (double (:width model 1))
        chain (fn [] (if-let [w (seq (:widths model))]
                       [(double (dec (count w))) (double (reduce + 0.0 (map #(* (double %1) (double %2)) w (rest w))))]
                       [l (if (<= l 1.0) (* din dout) (+ (* din n) (* (- l 2.0) n n) (* n dout)))]))]
    (case (:kind model)
      :residual [(+ l 2.0) (+ (* din n) (* l n n) (* n dout))]
      :multi-pathway (let [[f p] (chain)] [(* k (double f)) (* k (double p))])
      (chain))))

(defn- recorded-rows
  "Rows a run records: one per :every steps (a metric's own finer :every
  counts), plus the last."
  ^double [{:keys [steps record]}]
  (let [every (reduce min (long (:every record 1))
                      (keep #(get-in record [% :every]) (:metrics record)))]
    (inc (/ (double (or steps 100)) (double every)))))

(defn estimate
  "The memory a run of the normalized :network experiment exp needs, by part:
  [{:part \"parameters\" :path [...] :bytes b} ...] (bytes as doubles), each
  naming the key that sets its size. The recorded rows count only when they
  are kept in memory (rows-in-memory? true: no trajectory file)."
  [exp rows-in-memory?]
  (let [[factors params] (model-size exp)
        [a b] (io-dims exp)
        din (double a)
        dout (double b)
        model (:model exp)
        biggest (first (sort-by #(- (double (get model % 0))) (filter #(number? (get model %)) [:width :depth :pathways])))
        sample (* 8.0 (+ din dout))
        opt (:optimizer exp)
        task (:task exp)
        cols (+ 2.0 (double (reduce + 0.0 (for [m (get-in exp [:record :metrics])]
                                            (if (#{:loss :test-loss :gradient-norm :sharpness} m) 1.0 (Math/min din dout))))))]
    (cond-> [{:part "parameters" :path (if (:widths model) [:model :widths] [:model (or biggest :depth)])
              :bytes (+ (* (double copies) 8.0 (double params)) (* (double bytes-per-factor) (double factors)))}]
      (:samples task) (conj {:part "data" :path [:task :samples]
                             :bytes (* 2.0 sample (+ (double (:samples task)) (double (or (:test-samples task) 0.0))))})
      (:batch-size opt) (conj {:part "batches" :path [:optimizer :batch-size]
                               :bytes (* 3.0 sample (double (:batch-size opt)))})
      rows-in-memory? (conj {:part "recorded rows" :path [:record :every]
                             :bytes (* (double bytes-per-cell) cols (recorded-rows exp))}))))

(defn- human ^String [^double b]
  (let [units ["bytes" "KB" "MB" "GB" "TB" "PB"]
        i (min 5 (max 0 (long (Math/floor (/ (Math/log (max b 1.0)) (Math/log 1024.0))))))]
    (if (zero? i) (str (long b) " bytes") (format "%.1f %s" (/ b (Math/pow 1024.0 i)) (units i)))))

(defn check!
  "Throws ex-info of kind :too-large when the `estimate` of the normalized
  :network experiment exp exceeds the `memory-limit`, naming the key of the
  largest part, its value, the estimate and the limit. rows-in-memory? as for
  `estimate`. Returns exp."
  [exp rows-in-memory?]
  (let [parts (estimate exp rows-in-memory?)
        total (double (reduce + 0.0 (map :bytes parts)))
        [limit source] (memory-limit)]
    (when (> total (double limit))
      (let [{:keys [part path]} (apply max-key :bytes parts)
            value (get-in exp path)]
        (error/fail! :too-large
                     (str (pr-str path) " " (error/show value) ": the run would need about " (human total)
                          " (" (str/join ", " (map #(str (:part %) " " (human (:bytes %))) parts)) "), above the memory limit of "
                          (human (double limit)) " (" source "). Make " part " smaller"
                          (when (= part "recorded rows") " (record less often, or write the trajectory to a file as `dlnlab run` does)")
                          ", or raise the limit (DLNLAB_MEMORY_LIMIT=16g, or -Xmx).")
                     {:path path :value value :allowed (str "a run needing at most " (human (double limit)))
                      :estimate (long (Math/min total 9.0e18)) :limit limit})))
    exp))
