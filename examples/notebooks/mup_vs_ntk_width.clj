;; # μP vs NTK across widths
;;
;; The same experiment (depth 3, teacher with singular values 3, 2, 1, GD at
;; one learning rate) at widths 16 to 1024 under the μP and NTK
;; parameterizations ([BP]; SCIENCE.md §1). Under μP the dynamics do not
;; depend on the width; under NTK the network gets lazier as it widens, so
;; learning slows down and the weights move less.
;;
;; Everything shown here is computed by `dlnlab.examples/run-example`, which
;; the test suite runs too; this file only displays it. The sweep runs eight
;; experiments, on every core.
(ns mup-vs-ntk-width
  {:nextjournal.clerk/visibility {:code :hide}}
  (:require [dlnlab.examples :as ex]
            [nextjournal.clerk :as clerk]))

^{::clerk/visibility {:result :hide}}
(def example (ex/run-example "mup-vs-ntk-width"))

;; ## The sweep
(clerk/md (str "```\n" (:notes example) "\n```"))

;; ## What it shows
;; Per parameterization, one entry per width (in the order of `widths`): the
;; step at which mode 1 is learned and how much the first layer's norm grew.
;; Under μP both stay put across widths; under NTK the step grows and the
;; growth falls, about like 1/√N.
(clerk/table (ex/summary-table (:summary example)))

;; ## Mode 1 at every width
(clerk/vl (get-in example [:figures :modes]))

;; ## Loss at every width
(clerk/vl (get-in example [:figures :loss]))
