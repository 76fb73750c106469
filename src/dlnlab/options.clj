(ns dlnlab.options
  "Checks of the options maps the public functions take (dlnlab.core/run,
  dlnlab.core/sweep): a bad option throws the same ex-info as a bad experiment
  (dlnlab.error, kind :invalid-argument) naming the function, the option, the
  value and what is allowed, instead of a ClassCastException deep inside a run."
  (:require [dlnlab.error :as error])
  (:import [clojure.lang IDeref]
           [java.util.concurrent.atomic AtomicBoolean]))

(defn function?
  "A value usable as a callback: a function, a var or a multimethod (not a
  keyword, map or set, which are invocable but take other arguments)."
  [x]
  (or (fn? x) (var? x) (instance? clojure.lang.MultiFn x)))

(defn flag?
  "A value usable as an interrupt flag: an AtomicBoolean or a deref-able."
  [x]
  (or (instance? AtomicBoolean x) (instance? IDeref x)))

(defn check!
  "Returns opts when it is nil or a map whose every key is one of allowed, a
  map {key [pred description]}, and whose every non-nil value satisfies its
  pred; otherwise throws an ex-info of kind :invalid-argument naming fname (the
  function, for the message), the key, the value and what is allowed (with a
  did-you-mean for a misspelt key)."
  [fname opts allowed]
  (when-not (or (nil? opts) (map? opts))
    (error/fail! :invalid-argument
                 (str fname ": the options must be a map (of " (apply str (interpose ", " (map pr-str (sort (keys allowed)))))
                      "), got " (error/show opts) ".")
                 {:path [] :value opts :allowed "a map of options"}))
  (doseq [[k v] opts]
    (if-let [[pred what] (get allowed k)]
      (when-not (or (nil? v) (pred v))
        (error/fail! :invalid-argument
                     (str fname ": option " (pr-str k) " must be " what ", got " (error/show v) ".")
                     {:path [k] :value v :allowed what}))
      (let [dym (error/did-you-mean k (keys allowed))]
        (error/fail! :invalid-argument
                     (str fname ": unknown option " (pr-str k) "." (when dym (str " Did you mean " dym "?"))
                          " The options are " (apply str (interpose ", " (map pr-str (sort (keys allowed))))) ".")
                     {:path [k] :value k :allowed (vec (sort (keys allowed)))}))))
  opts)
