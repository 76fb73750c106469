;; # μP vs NTK across widths
;;
;; The same experiment (depth 3, teacher with singular values 3, 2, 1, GD at
;; one learning rate) at widths 16 to 1024 under the μP and NTK
;; parameterizations ([BP]; doc/science.md §1). Under μP the dynamics do not
;; depend on the width; under NTK the network gets lazier as it widens, so
;; learning slows down and the weights move less.
;;
;; The sweep runs eight experiments on every core; the
;; numbers come from `dlnlab.examples/run-example`.
(ns mup-vs-ntk-width
  (:require [dlnlab.examples :as ex]))

;; `-Ddlnlab.notebooks.quick=true`: three widths and fewer steps, one core.
(def example (ex/run-example "mup-vs-ntk-width"
                             {:quick (Boolean/getBoolean "dlnlab.notebooks.quick")}))

;; Figures are Vega-Lite maps; the Kindly tag tells Clay, Clerk and Portal to draw them.
(def figures (update-vals (:figures example) #(vary-meta % assoc :kindly/kind :kind/vega-lite)))

;; ## The sweep
(:notes example)

;; ## What it shows
;; Per parameterization, one entry per width (in the order of `widths`): the
;; step at which mode 1 is learned and how much the first layer's norm grew.
;; Under μP both stay put across widths; under NTK the step grows and the
;; growth falls, about like 1/√N.
(ex/rounded (:summary example))

;; ## Mode 1 at every width
(:modes figures)

;; ## Loss at every width
(:loss figures)
