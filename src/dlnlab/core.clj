(ns dlnlab.core
  "The public facade of dlnlab: what a user requires first.

  Networks (dlnlab.network): `network`, `weights`, `set-weights`, `loss`,
  `test-loss`, `gradient`, `hvp`, `hessian-eigenvalues`, `hessian-trace`,
  `hessian`, `end-to-end`, `pathway-products`.
  Experiments (dlnlab.experiment, dlnlab.sweep): `run`, `sweep`.
  Validation and documentation (dlnlab.spec): `normalize`, `describe`.

  Weights form (what `weights` returns and `{:init {:kind :given :weights w}}`
  accepts): for :chain and :multi-pathway a vector of pathways (one for a chain),
  each a vector of layer matrices W_1 ... W_L as row-major nested vectors (W_l has
  d_l rows and d_{l-1} columns); for :residual {:in W_in :blocks [W_1 ...] :out W_out}.
  Weights are the raw trainable parameters; parameterization multipliers act on top."
  (:require [dlnlab.experiment :as experiment]
            [dlnlab.network :as network]
            [dlnlab.spec :as spec]
            [dlnlab.sweep :as sweep]))

(defmacro ^:private export
  "Defines a var in this namespace with the value, docstring and arglists of
  another namespace's var."
  [& syms]
  `(do ~@(for [s syms]
           `(do (def ~(symbol (name s)) ~s)
                (alter-meta! (var ~(symbol (name s))) merge
                             (select-keys (meta (var ~s)) [:doc :arglists]))))))

(export network/network network/weights network/set-weights
        network/loss network/test-loss network/gradient network/hvp
        network/hessian-eigenvalues network/hessian-trace network/hessian
        network/end-to-end network/pathway-products)

(export experiment/run sweep/sweep spec/normalize spec/describe)
