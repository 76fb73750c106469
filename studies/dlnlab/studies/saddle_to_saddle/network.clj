(ns dlnlab.studies.saddle-to-saddle.network
  "The full network beside its per-mode SDE ([SDE] study, doc/science.md §7):
  `network-experiment` builds the full-network SGD experiment that an SDE spec
  (dlnlab.sde/simulate's) reduces, and `compare-with-network` measures the weak
  error of the SDE's ensemble mean against the mean over seeds of that network."
  (:require [dlnlab.error :as error]
            [dlnlab.numeric :as numeric]
            [dlnlab.sde :as sde]
            [dlnlab.spec :as spec]
            [dlnlab.train :as train])
  (:import [dlnlab.kernel Rng]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)


(defn network-experiment
  "The full-network SGD experiment that the SDE of spec reduces (doc/science.md
  section 7): a :chain of depth L and width N, initialized aligned and balanced
  with strengths pi0 (:balanced-aligned, identity hidden bases), trained by
  one-pass SGD (fresh samples every step) with spec's lr and batch size on
  teacher-student data x ~ N(0, I), y = M x + sigma eps with M = diag(s) (the
  modes' targets, largest first), recording the mode strengths u_i^T F v_i.

  Options: :seed (0); :width N (the number of modes); :steps (round(:time / lr));
  :every (1) record cadence in steps.
  Returns the experiment map (modes in decreasing order of s, as the network's
  :modes metric reports them).
  Throws ex-info when spec is invalid, its batch size is not an integer, or two
  modes have the same target (the network's modes would not be identified)."
  ([spec] (network-experiment spec {}))
  ([spec {:keys [seed width steps every] :or {seed 0 every 1}}]
   (let [{:keys [modes depth lr batch-size label-noise time]} (sde/normalize spec)
         sorted (sort-by #(- (double (:s %))) modes)
         k (count modes)]
     (when-not (== (double batch-size) (Math/rint (double batch-size)))
       (error/fail! :invalid-experiment
                    (str "[:batch-size] is " (error/show batch-size) " but the network's batch size must be an integer.")
                    {:path [:batch-size] :value batch-size :allowed "an integer, the network's batch size"}))
     (when-not (apply distinct? (map #(double (:s %)) modes))
       (error/fail! :invalid-experiment
                    (str "[:modes] has targets " (error/show (mapv :s modes)) "; give distinct targets s (equal ones make the network's modes ambiguous).")
                    {:path [:modes] :value (mapv :s modes) :allowed "distinct targets s"}))
     {:seed seed
      :model {:kind :chain :depth depth :width (or width k)
              :init {:kind :balanced-aligned :strengths (mapv :pi0 sorted) :hidden-basis :identity}}
      :task {:kind :teacher-student :input-dim k :output-dim k :samples 1 :test-samples 0
             :teacher {:kind :spectral :singular-values (mapv :s sorted)}
             :label-noise label-noise}
      :optimizer {:kind :sgd :sampling :one-pass :batch-size (long batch-size) :lr lr}
      :steps (or steps (max 1 (long (Math/round (/ (double time) (double lr))))))
      :record {:every every :metrics [:modes] :final-weights false}})))

(defn compare-with-network
  "Weak error of the SDE (doc/science.md §7): the ensemble mean of each mode
  strength against the mean over seeds of full-network SGD (`network-experiment`:
  aligned, balanced initialization, one-pass SGD) on the common time grid
  t = lr x steps, the network's record times.

  Options: :seeds (16) network runs; :width (number of modes); :records (50)
  about how many times to compare; :sde a result of (dlnlab.sde/simulate spec) to reuse.
  The SDE mean is interpolated linearly to the network's times (exact where the
  grids share a time; record the SDE finely otherwise).
  Returns {:times [t ..] :steps [n ..] :sde-mean [[per mode] per time]
  :network-mean [[..]] :sde-std-error [[..]] :network-std-error [[..]]
  :abs-error [[|difference|]] :max-abs-error (over times and modes)
  :relative (max-abs-error / max s) :runs (network runs that completed)
  :diverged (runs that did not) :lr :batch-size :experiment (the network
  experiment of the first seed)}; modes in spec's order.
  Throws ex-info as `network-experiment`, or when no network run completes."
  ([spec] (compare-with-network spec {}))
  ([spec {:keys [seeds width records sde] :or {seeds 16 records 50}}]
   (let [n (sde/normalize spec)
         {:keys [modes lr batch-size seed]} n
         lr (double lr)
         k (count modes)
         sim (or sde (sde/simulate n))
         t-end (* (long (:steps sim)) (double (:dt n)))
         steps (max 1 (long (Math/floor (+ (/ t-end lr) 1e-9))))
         every (max 1 (long (Math/round (/ (double steps) (double (max 1 (long records)))))))
         exps (vec (for [r (range seeds)]
                     (network-experiment n {:seed (Rng/derive (long seed) (+ 0x574541 (long r)))
                                            :width width :steps steps :every every})))
         results (mapv #(train/run (spec/normalize %) {}) exps)
         done (filterv #(= :completed (:status %)) results)
         _ (when (empty? done)
             (error/fail! :invalid-option
                          (str "compare-with-network: none of the " seeds " network runs completed (all diverged); "
                               "lower :lr or raise :batch-size.")
                          {:path [:lr] :value lr :allowed "a learning rate at which SGD does not diverge"}))
         ;; the network reports modes by decreasing s; slot j holds spec mode (order j)
         order (vec (sort-by #(- (double (:s (modes %)))) (range k)))
         slot (into {} (map-indexed (fn [j i] [i j]) order))
         steps-col (get-in (first done) [:trajectory :step])
         times (mapv #(* lr (double %)) steps-col)
         net-stats (vec (for [r (range (count steps-col))]
                          (vec (for [i (range k)]
                                 (numeric/mean-and-se (keep #(some-> (get-in % [:trajectory :modes r]) (nth (slot i)))
                                                    done))))))
         np (double (:paths n))
         sde-se (mapv (fn [row] (mapv #(when % (/ (double %) (Math/sqrt np))) row)) (:std sim))
         sde-mean (mapv #(numeric/interpolate (:time sim) (:mean sim) %) times)
         sde-se (mapv #(numeric/interpolate (:time sim) sde-se %) times)
         net-mean (mapv #(mapv first %) net-stats)
         abs-err (mapv (fn [a b] (mapv (fn [x y] (when (and x y) (Math/abs (- (double x) (double y))))) a b))
                       sde-mean net-mean)
         max-err (double (reduce max 0.0 (keep identity (apply concat abs-err))))]
     {:times times
      :steps steps-col
      :sde-mean sde-mean
      :network-mean net-mean
      :sde-std-error sde-se
      :network-std-error (mapv #(mapv second %) net-stats)
      :abs-error abs-err
      :max-abs-error max-err
      :relative (/ max-err (double (reduce max (map #(double (:s %)) modes))))
      :runs (count done)
      :diverged (- (count results) (count done))
      :lr lr
      :batch-size batch-size
      :experiment (first exps)})))
