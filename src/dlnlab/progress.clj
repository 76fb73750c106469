(ns dlnlab.progress
  "One-line progress displays on a terminal, for the command line: a run's
  (`run-progress`: step, steps/s, ETA, loss, sharpness) and a sweep's
  (`sweep-progress`: points done, runs/min, ETA). Each returns callbacks and
  redraws at most ten times a second."
  (:require [dlnlab.summary :refer [fmt-duration fmt-num]])
  (:import [java.io Writer]
           [java.util.concurrent.atomic AtomicLong]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn erase-line
  "The terminal sequence that returns to the start of the line and clears it."
  ^String [] "\r\u001b[K")

(defn run-progress
  "{:progress f :on-record g :finish h} drawing one line on err, at most ten
  times a second: step/steps, steps/s, ETA, loss, last sharpness."
  [^Writer err]
  (let [start (System/nanoTime)
        last-draw (AtomicLong. (- start 1000000000))
        sharp (volatile! nil)
        thr (volatile! nil)
        drawn (volatile! false)]
    {:progress (fn [{:keys [step steps loss]}]
                 (let [now (System/nanoTime)]
                   (when (> (- now (.get last-draw)) 100000000)
                     (.set last-draw now)
                     (let [step (long step) steps (long steps)
                           secs (/ (- now start) 1e9)
                           rate (if (pos? secs) (/ step secs) 0.0)
                           eta (if (pos? rate) (/ (- steps step) rate) 0.0)
                           line (str "step " step "/" steps
                                     (format " %3d%%" (long (/ (* 100 step) (max 1 steps))))
                                     "  " (fmt-num (Math/round rate)) " steps/s"
                                     "  ETA " (fmt-duration eta)
                                     "  loss " (fmt-num loss)
                                     (when-some [s @sharp]
                                       (str "  sharpness " (fmt-num s)
                                            (when-some [t @thr] (str " (2/lr " (fmt-num t) ")")))))]
                       (vreset! drawn true)
                       (.write err (str (erase-line) line))
                       (.flush err)))))
     :on-record (fn [row]
                  (when-some [s (:sharpness row)] (vreset! sharp s))
                  (when-some [t (:stability-threshold row)] (vreset! thr t)))
     :finish (fn [] (when @drawn (.write err (erase-line)) (.flush err)))}))

(defn sweep-progress
  "{:start f :tick g :finish h} drawing one line on err for a sweep of total
  points (skipped of them done before), at most ten times a second: points
  done, runs/min, ETA. :tick is called once per finished point, from any thread."
  [^Writer err ^long total ^long skipped]
  (let [start (System/nanoTime) done (AtomicLong. 0) last-draw (AtomicLong. (- start 1000000000)) drawn (volatile! false)]
    {:start (fn []
              (when (< skipped total)
                (locking err
                  (vreset! drawn true)
                  (.write err (str (erase-line) "sweep " skipped "/" total " done"
                                   (when (pos? skipped) (str " (" skipped " from before)"))
                                   "  ETA after the first run"))
                  (.flush err))))
     :tick (fn []
             (let [d (.incrementAndGet done)
                   now (System/nanoTime)]
               (when (or (> (- now (.get last-draw)) 100000000) (= (+ d skipped) total))
                 (.set last-draw now)
                 (let [secs (/ (- now start) 1e9)
                       rate (/ d (max secs 1e-9))
                       left (- total skipped d)
                       line (str "sweep " (+ d skipped) "/" total " done"
                                 (when (pos? skipped) (str " (" skipped " from before)"))
                                 "  " (format "%.2f" (* 60.0 rate)) " runs/min"
                                 "  ETA " (fmt-duration (/ left (max rate 1e-9))))]
                   (locking err
                     (vreset! drawn true)
                     (.write err (str (erase-line) line))
                     (.flush err))))))
     :finish (fn [] (when @drawn (locking err (.write err "\n") (.flush err))))}))
