(ns dlnlab.sde.schema
  "The schema of the :sde experiment kind (dlnlab.kind/schema methods for
  [:experiment :sde], its :sde node and its :sde-record node) and their
  checks; dlnlab.sde, which runs the kind, requires it."
  (:require [dlnlab.error :as error]
            [dlnlab.kind :as kind]
            [dlnlab.spec :as spec]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- check-sde! [path m _]
  (doseq [[i mode] (map-indexed vector (:modes m))
          k (keys mode)
          :when (not (#{:s :pi0} k))]
    (let [dym (error/did-you-mean k [:s :pi0])
          p (into (vec path) [:modes i k])]
      (error/fail! :invalid-experiment
                   (str (spec/path-str p) ": unknown key " (error/show k) " in a mode."
                   (when dym (str " Did you mean " (pr-str dym) "?"))
                   " A mode is {:s target :pi0 initial strength}.")
                   (merge {:path p :value (get mode k) :allowed [:s :pi0]} (when dym {:did-you-mean dym})))))
  (doseq [[i mode] (map-indexed vector (:modes m))
          [k what] [[:s "the target strength s_i"] [:pi0 "the initial strength pi_i(0)"]]
          :when (not (contains? mode k))]
    (let [p (into (vec path) [:modes i])]
      (error/fail! :invalid-experiment
                   (str (spec/path-str p) " needs " (pr-str k) ", " what " (a positive number); a mode is {:s target :pi0 initial strength}.")
                   {:path (conj p k) :value nil :allowed (spec/allowed-text (keyword "dlnlab.spec.sde-mode" (name k)))})))
  (let [dt (double (:dt m)) t (double (:time m))
        at (fn [k] (conj (vec path) k))]
    (when (< t dt)
      (error/fail! :invalid-experiment
                   (str (spec/path-str (at :time)) " is " (error/show (:time m)) " but must be at least one step, :dt = " (error/show (:dt m)) ".")
                   {:path (at :time) :value (:time m) :allowed (str "at least :dt = " (:dt m))}))
    (when (> (/ t dt) 2.0e9)
      (error/fail! :invalid-experiment
                   (str (spec/path-str (at :dt)) " is " (error/show (:dt m)) ", which makes " (format "%.3g" (/ t dt))
                   " steps of :time " (error/show (:time m)) "; at most 2e9 steps are allowed.")
                   {:path (at :dt) :value (:dt m) :allowed "large enough that :time / :dt is at most 2e9 steps"})))
  (when-let [b (:bound m)]
    (let [l (long (:depth m))
          amax (double (reduce max (map #(Math/pow (double (:pi0 %)) (/ 1.0 l)) (:modes m))))
          p (conj (vec path) :bound)]
      (when-not (> (double b) amax)
        (error/fail! :invalid-experiment
                     (str (spec/path-str p) " is " (error/show b) " but must be above the largest initial a = pi0^(1/L) = " amax
                     ", or every path would start diverged.")
                     {:path p :value b :allowed (str "a number above the largest initial a = pi0^(1/L) = " amax)})))))

(defn- check-sde-record! [path r _]
  (when (and (contains? r :every-time) (contains? r :points))
    (error/fail! :invalid-experiment
                 (str (spec/path-str path) " gives both :points and :every-time, " (error/show (select-keys r [:points :every-time]))
                 "; give only one of them: "
                 ":points n (evenly spaced times) or :every-time t.")
                 {:path path :value (select-keys r [:points :every-time]) :allowed "only one of :every-time and :points"})))

(defn- check-sde-placement!
  "Simulation keys of an :sde experiment belong under :sde, its seed at the top."
  [experiment]
  (let [sde-keys (set (map first (get-in (spec/schema) [:sde :keys])))
        top-keys (set (map first (get-in (spec/schema) [:sde-experiment :keys])))]
    (doseq [k (keys experiment)
            :when (and (sde-keys k) (not (top-keys k)))]
      (error/fail! :invalid-experiment
                   (str (spec/path-str [k]) ": " (pr-str k) " belongs under :sde in an :sde experiment, "
                   "e.g. {:kind :sde :seed 0 :sde {" (pr-str k) " " (error/show (get experiment k)) " ...}}.")
                   {:path [k] :value (get experiment k) :allowed "a key of :sde"}))
    (when (and (map? (:sde experiment)) (contains? (:sde experiment) :seed))
      (error/fail! :invalid-experiment
                   (str "[:sde :seed]: the seed of an :sde experiment is its top-level :seed (sweeps derive it per point); "
                   "move it there: {:kind :sde :seed " (error/show (get-in experiment [:sde :seed])) " :sde {...}}.")
                   {:path [:sde :seed] :value (get-in experiment [:sde :seed]) :allowed "the top-level :seed"}))))

(defmethod kind/schema [:experiment :sde] [_ _]
  {:id :sde-experiment
   :pre-check check-sde-placement!
   :doc "An SDE experiment, {:kind :sde :seed n :sde {...}}: an ensemble of the per-mode SDE of SGD in an aligned, balanced deep linear network (doc/science.md §7), simulated by dlnlab.sde/simulate with the experiment's :seed. dlnlab.core/run and `dlnlab run` return and write a result of the usual shape (trajectory: statistics over paths per recorded time); sweeps vary keys under :sde, e.g. [:sde :lr]."
   :keys [[:kind {:spec ::spec/sde-kind :required true :doc ":sde. (Without :kind, or with :kind :network, the map is a network experiment: see EXPERIMENT.)"}]
         [:seed {:spec ::spec/seed :default 0 :doc "Root seed: the noise of each (path, mode, step) depends only on it, not on :threads; sweeps derive one per point."}]
         [:sde {:node :sde :required true :doc "The simulation (see :sde)."}]
         [:name {:spec ::spec/any :doc "A name for the experiment (passed through)."}]
         [:description {:spec ::spec/any :doc "Free text (passed through)."}]]})

(defmethod kind/schema [:sde nil] [_ _]
  {:doc "The per-mode SDE ensemble of an :sde experiment: the spec of dlnlab.sde/simulate without :seed (the experiment's :seed is used). Per mode, in the per-layer variable a (pi = a^L) and SDE time t = lr x steps: da = a^(L-1) (s - a^L) dt + sqrt(lr/B) a^(L-1) sqrt(2 (a^L - s)^2 + sigma^2) dW (doc/science.md §7). Statistics are of pi over paths."
   :keys [[:modes {:spec ::spec/sde-modes :required true :doc "[{:s s_i :pi0 pi_i(0)} ...]: each mode's target strength and initial strength."}]
         [:depth {:spec ::spec/sde-depth :default 2 :doc "L, the depth of the network the SDE reduces."}]
         [:lr {:spec ::spec/positive :default 0.01 :doc "eta, the learning rate of the SGD it models: the noise scales as lr/B (time is lr x steps)."}]
         [:batch-size {:spec ::spec/positive :default 1 :doc "B, the batch size of the SGD it models (any positive number)."}]
         [:label-noise {:spec ::spec/non-negative :default 0.0 :doc "sigma, the standard deviation of the label noise."}]
         [:paths {:spec ::spec/sde-paths :default 1000 :doc "Independent paths in the ensemble."}]
         [:dt {:spec ::spec/positive :default 0.01 :doc "Integration step, in SDE time."}]
         [:time {:spec ::spec/positive :default 10.0 :doc "SDE time simulated (rounded up to whole record intervals)."}]
         [:scheme {:spec ::spec/sde-scheme :default :euler-maruyama :doc ":euler-maruyama (strong order 1/2), :milstein (1) or :taylor-1.5 (Kloeden-Platen, strong order 1.5)."}]
         [:boundary {:spec ::spec/sde-boundary :default :absorbing :doc "At a = 0: :absorbing (the path stays at 0) or :reflecting."}]
         [:noise {:spec ::spec/boolean :default true :doc "false sets the noise to 0, which gives the gradient-flow ODE."}]
         [:bound {:spec ::spec/positive :default-doc "1000 times the largest of s^(1/L) and pi0^(1/L) over the modes"
                  :doc "A path whose a reaches this counts as diverged (left out of the statistics from then on)."}]
         [:threads {:spec ::spec/sde-threads :default-doc "the number of available processors" :doc "Worker threads; the results do not depend on it."}]
         [:learned-fractions {:spec ::spec/learned-fractions :default [0.5 0.9]
                              :doc "A path has learned mode i at the first time pi_i >= fraction x s_i; one first-passage time per fraction."}]
         [:record {:node :sde-record :default {} :doc "The record grid and what is kept (see :sde-record)."}]]
   :check check-sde!})

(defmethod kind/schema [:sde-record nil] [_ _]
  {:doc "What an :sde experiment records: statistics over paths (mean, std, quantiles, mean diffusion) at :points evenly spaced times or every :every-time, and a few whole paths."
   :keys [[:points {:spec ::spec/record-points :default-doc "101, unless :every-time is given"
                   :default-fn (fn [m _] (when-not (contains? m :every-time) 101))
                   :doc "Recorded times, evenly spaced from 0 to :time."}]
         [:every-time {:spec ::spec/positive :doc "Record every this much SDE time (instead of :points)."}]
         [:paths {:spec ::spec/nat-int :default 8 :doc "Whole paths kept in the trajectory (the first ones)."}]
         [:quantiles {:spec ::spec/quantiles :default [0.05 0.25 0.5 0.75 0.95] :doc "Quantiles of pi over paths recorded at each time."}]]
   :check check-sde-record!})
