(ns dlnlab.plot
  "COMPATIBILITY FACADE: the presentation layer now lives in dlnlab.figure
  (figure data, catalog, standard figures) with the figure families
  dlnlab.figure.run, dlnlab.figure.sweep and dlnlab.figure.sde, dlnlab.vega
  (Vega-Lite specs and their JSON), dlnlab.render (XChart SVG/PNG files) and
  dlnlab.result (reading results). This namespace re-exports the names callers
  used before the split, each the same object as its new home (so
  `(defmethod plot/build-figure ...)` still adds to dlnlab.figure/build-figure).
  New code should require the new namespaces; this one will go."
  (:require [dlnlab.figure :as fig]
            [dlnlab.figure.run]
            [dlnlab.figure.sde]
            [dlnlab.figure.sweep]
            [dlnlab.render :as render]
            [dlnlab.result :as result]
            [dlnlab.vega :as vega]))

(def build-figure
  "Now dlnlab.figure/build-figure (the same multimethod)."
  fig/build-figure)

(def figure
  "Now dlnlab.figure/figure."
  fig/figure)

(def figure-catalog
  "Now dlnlab.figure/figure-catalog."
  fig/figure-catalog)

(def figure-names
  "Now dlnlab.figure/figure-names."
  fig/figure-names)

(def standard-figure-names
  "Now dlnlab.figure/standard-names."
  fig/standard-names)

(def standard-figures
  "Now dlnlab.vega/standard-specs."
  vega/standard-specs)

(def vega-lite
  "Now dlnlab.vega/spec."
  vega/spec)

(def vega-lite-json
  "Now dlnlab.vega/json."
  vega/json)

(def loss-spec
  "Now dlnlab.vega/loss-spec."
  vega/loss-spec)

(def modes-spec
  "Now dlnlab.vega/modes-spec."
  vega/modes-spec)

(def render!
  "Now dlnlab.render/render!."
  render/render!)

(def write-figures!
  "Now dlnlab.render/write-figures!."
  render/write-figures!)

(def write-figure-data!
  "Now dlnlab.render/write-figure-data!."
  render/write-figure-data!)

(def effective-lr
  "Now dlnlab.result/effective-lr."
  result/effective-lr)

(def stability-threshold
  "Now dlnlab.result/stability-threshold."
  result/stability-threshold)

(def mode-targets
  "Now dlnlab.result/mode-targets."
  result/mode-targets)
