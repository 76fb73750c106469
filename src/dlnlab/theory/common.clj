(ns dlnlab.theory.common
  "What dlnlab.theory and its sub-namespaces share: the checks of their
  arguments (each returns the value as a primitive or throws the ex-info of
  dlnlab.error, kind :invalid-argument, with {:path [key] :value v :allowed
  text}) and integer powers."
  (:require [dlnlab.error :as error]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn positive!
  "v as a double when it is a finite number > 0; otherwise throws naming [k]."
  ^double [k v]
  (if (and (number? v) (> (double v) 0.0) (Double/isFinite (double v)))
    (double v)
    (error/fail! :invalid-argument (str (pr-str [k]) " = " (error/show v) " is not allowed: a finite number > 0.")
                 {:path [k] :value v :allowed "a finite number > 0"})))

(defn non-negative!
  "v as a double when it is a finite number >= 0; otherwise throws naming [k]."
  ^double [k v]
  (if (and (number? v) (>= (double v) 0.0) (Double/isFinite (double v)))
    (double v)
    (error/fail! :invalid-argument (str (pr-str [k]) " = " (error/show v) " is not allowed: a finite number >= 0.")
                 {:path [k] :value v :allowed "a finite number >= 0"})))

(defn depth!
  "v as a long when it is an integer >= min-depth; otherwise throws naming [:depth]."
  ^long [v min-depth]
  (if (and (integer? v) (>= (long v) (long min-depth)))
    (long v)
    (error/fail! :invalid-argument (str "[:depth] = " (error/show v) " is not allowed: an integer >= " min-depth ".")
                 {:path [:depth] :value v :allowed (str "an integer >= " min-depth)})))

(defn fraction!
  "v as a double when it lies strictly between 0 and 1; otherwise throws naming [k]."
  ^double [k v]
  (if (and (number? v) (< 0.0 (double v) 1.0))
    (double v)
    (error/fail! :invalid-argument (str (pr-str [k]) " = " (error/show v) " is not allowed: a number strictly between 0 and 1.")
                 {:path [k] :value v :allowed "a number strictly between 0 and 1"})))

(defn ipow
  "x^n for an integer n >= 0 by repeated multiplication."
  ^double [^double x ^long n]
  (loop [r 1.0 k 0] (if (< k n) (recur (* r x) (inc k)) r)))
