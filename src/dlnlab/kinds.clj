(ns dlnlab.kinds
  "Loads every built-in kind, so requiring this namespace registers them all
  with the extension points of dlnlab.kind: the optimizers (dlnlab.optim), the
  models and inits (dlnlab.model), the tasks (dlnlab.task), the metrics
  (dlnlab.metrics, dlnlab.metrics.lyapunov and .noise), the :network experiment (dlnlab.train, with its
  side-by-side mode in dlnlab.compare) and the :sde experiment (dlnlab.sde). A
  new kind in a namespace of its own is one more require here."
  (:require [dlnlab.compare]
            [dlnlab.metrics]
            [dlnlab.metrics.spectral]
            [dlnlab.metrics.lyapunov]
            [dlnlab.metrics.noise]
            [dlnlab.model]
            [dlnlab.optim]
            [dlnlab.sde]
            [dlnlab.task]
            [dlnlab.train]))
