(ns dlnlab.result
  "The one reader of results. A run records what it knew once, in the result's
  :facts map, and every consumer (analysis, figures, summaries, studies) reads
  it here instead of re-deriving it from the experiment.

  :facts of a network run (written by the run, before the first step):
    :lr-multiplier        the parameterization's learning-rate multiplier (1 for
                          :standard)
    :effective-lr         the optimizer's :lr times :lr-multiplier; nil for
                          gradient flow
    :stability-threshold  the sharpness above which the optimizer is linearly
                          unstable (2/η for GD, 2(1+β)/η for heavy ball); nil
                          where there is none (gradient flow)
    :time-scale           the training time one step advances (η_eff for GD;
                          nil when the run is indexed by :time)
    :x-axis               :step or :time, what the trajectory is indexed by
    :targets              the target's singular values, largest first (nil when
                          the task has no target matrix)
    :dims                 [d-in d-out]
    :parameter-count      n, the length of the packed parameter vector

  :facts of an :sde run hold the same keys where they apply."
  (:refer-clojure :exclude [time]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn facts
  "The :facts map of result r (nil for results written before facts existed)."
  [r]
  (:facts r))

(defn fact
  "One recorded fact of result r, nil when absent."
  [r k]
  (get-in r [:facts k]))

(defn lr-multiplier "See `facts`." [r] (fact r :lr-multiplier))
(defn effective-lr "See `facts`." [r] (fact r :effective-lr))
(defn stability-threshold "See `facts`." [r] (fact r :stability-threshold))
(defn time-scale "See `facts`." [r] (fact r :time-scale))
(defn x-axis "See `facts`." [r] (fact r :x-axis))
(defn targets "See `facts`." [r] (fact r :targets))

(defn kind
  "What produced result r: :sde for a per-mode SDE experiment, :network for a
  network run. Presentation code dispatches on this (a multimethod on
  `result/kind`) instead of testing for :sde itself."
  [r]
  (or (get-in r [:experiment :kind]) :network))
