(ns dlnlab.progress
  "Progress lines for the command line: a run's (`run-progress`: step, steps/s,
  ETA, loss, sharpness), a sweep's (`sweep-progress`: points done, runs/min,
  ETA) and a multi-stage study's (`stage-progress`: runs done of the runs
  planned so far, the stage running).

  Each takes the Writer to draw on and options:
    :terminal?  true (default): one line redrawn in place (carriage return and
                erase-line escapes), at most ten times a second; false: a plain
                line ending in a newline at most every :every-s seconds and no
                escape codes, for logs (Slurm, nohup, CI)
    :every-s    seconds between plain lines; default 10
    :clock      (fn [] nanoseconds), default System/nanoTime (tests pass a fake)
  and returns a map of callbacks, all safe to call from any thread."
  (:require [clojure.string :as str]
            [dlnlab.summary :refer [fmt-duration fmt-num]])
  (:import [java.io Writer]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn erase-line
  "The terminal sequence that returns to the start of the line and clears it."
  ^String [] "\r\u001b[K")

(defn- now-ns ^long [clock] (long (clock)))

(defn- line-drawer
  "{:draw (fn [force? line-fn]) :finish (fn [keep?])} over err: draw calls
  (line-fn elapsed-seconds) and writes its line when the interval since the
  last line has passed (or force? on a terminal); finish ends a terminal line
  (keep? leaves it standing, else it is erased). Plain mode never writes an
  escape code."
  [^Writer err {:keys [terminal? every-s clock] :or {terminal? true every-s 10.0 clock #(System/nanoTime)}}]
  (let [start (now-ns clock)
        interval (long (if terminal? 100000000 (* 1e9 (double every-s))))
        last-draw (volatile! start)
        drawn (volatile! false)]
    {:draw (fn [force? line-fn]
             (locking err
               (let [now (now-ns clock)]
                 (when (or (and force? terminal?)
                           (and terminal? (not @drawn))
                           (>= (- now (long @last-draw)) interval))
                   (vreset! last-draw now)
                   (vreset! drawn true)
                   (let [^String line (line-fn (/ (- now start) 1e9))]
                     (.write err (if terminal? (str (erase-line) line) (str line "\n")))
                     (.flush err))))))
     :finish (fn [keep?]
               (locking err
                 (when (and terminal? @drawn)
                   (.write err (if keep? "\n" (erase-line)))
                   (.flush err))))}))

(defn- eta [^double secs ^double done ^double total]
  (if (and (pos? done) (pos? secs))
    (fmt-duration (/ (* (- total done) secs) done))
    "-"))

(defn run-progress
  "{:progress f :on-record g :finish h} drawing a run's line on err (options in
  the namespace docstring): step/steps, percent, steps/s, ETA, loss, last
  sharpness and 2/lr when recorded."
  ([err] (run-progress err {}))
  ([err opts]
   (let [{:keys [draw finish]} (line-drawer err opts)
         sharp (volatile! nil)
         thr (volatile! nil)]
     {:progress (fn [{:keys [step steps loss]}]
                  (draw false
                        (fn [^double secs]
                          (let [step (long step) steps (long steps)
                                rate (if (pos? secs) (/ step secs) 0.0)]
                            (str "step " step "/" steps
                                 (format " %3d%%" (long (/ (* 100 step) (max 1 steps))))
                                 "  " (fmt-num (Math/round rate)) " steps/s"
                                 "  ETA " (eta secs (double step) (double steps))
                                 "  loss " (fmt-num loss)
                                 (when-some [s @sharp]
                                   (str "  sharpness " (fmt-num s)
                                        (when-some [t @thr] (str " (2/lr " (fmt-num t) ")")))))))))
      :on-record (fn [row]
                   (when-some [s (:sharpness row)] (vreset! sharp s))
                   (when-some [t (:stability-threshold row)] (vreset! thr t)))
      :finish (fn [] (finish false))})))

(defn sweep-progress
  "{:start f :tick g :finish h} drawing a sweep's line on err for total points
  (skipped of them done before; options in the namespace docstring): points
  done/total, runs/min, ETA. :tick is called once per finished point; a
  terminal line is drawn at :start and for the last point, and kept."
  ([err total skipped] (sweep-progress err total skipped {}))
  ([err ^long total ^long skipped opts]
   (let [{:keys [draw finish]} (line-drawer err opts)
         done (java.util.concurrent.atomic.AtomicLong. 0)
         line (fn [^long d ^double secs]
                (let [rate (if (pos? secs) (/ d secs) 0.0)]
                  (str "sweep " (+ d skipped) "/" total " done"
                       (when (pos? skipped) (str " (" skipped " from before)"))
                       (if (pos? d)
                         (str "  " (format "%.2f" (* 60.0 rate)) " runs/min"
                              "  ETA " (eta secs (double d) (double (- total skipped))))
                         "  ETA after the first run"))))]
     {:start (fn [] (when (and (< skipped total) (:terminal? opts true))
                      (draw true #(line 0 %))))
      :tick (fn [] (let [d (.incrementAndGet done)]
                     (draw (= (+ d skipped) total) #(line d %))))
      :finish (fn [] (finish true))})))

(defn- label
  "A stage key ({:stage :count-sweep :depth 3}) for people: count-sweep depth 3."
  [k]
  (let [part (fn part [v] (cond (keyword? v) (name v)
                                (sequential? v) (str/join " " (map part v))
                                (number? v) (fmt-num v)
                                :else (str v)))]
    (str/join " " (for [[f v] (sort-by (fn [[f _]] (if (= f :stage) "" (name f))) k)]
                    (if (= f :stage) (part v) (str (name f) " " (part v)))))))

(def ^:private per-run-keys
  "Keys of a study's progress event that describe the run, not the stage."
  [:done :total :point :status :elapsed-ms])

(defn stage-progress
  "{:event f :finish g} drawing a study's line on err, prefix first (\"reproduce
  edge-of-stability\"; options in the namespace docstring). f takes the events
  a study reports (dlnlab.study): {:stage label :done k :total n ...} once per
  finished run of a stage of n runs, or {:stage label ...} (no :done) when a
  stage without runs begins. The stage is the event without :done, :total,
  :point, :status and :elapsed-ms; the same stage may run again (its runs then
  add up). The line shows runs done/planned, where done counts the run events
  (so it never goes back, whatever order parallel runs report in) and planned
  adds each stage's total when it begins (so it grows as stages begin), the
  elapsed time and the latest stage."
  ([err prefix] (stage-progress err prefix {}))
  ([err prefix opts]
   (let [{:keys [draw finish]} (line-drawer err opts)
         state (atom {:done 0 :planned 0 :stages {} :now nil})
         step (fn [{:keys [stages] :as s} {:keys [done total] :as ev}]
                (let [k (apply dissoc ev per-run-keys)
                      s (assoc s :now k)]
                  (if (and done total)
                    (let [{:keys [seen planned] :or {seen 0 planned 0}} (get stages k)
                          seen (inc (long seen))
                          more (if (> seen (long planned)) (long total) 0)]
                      (-> s
                          (update :done inc)
                          (update :planned + more)
                          (assoc-in [:stages k] {:seen seen :planned (+ (long planned) more)})))
                    s)))]
     {:event (fn [ev]
               (let [{:keys [done planned now]} (swap! state step ev)]
                 (draw false (fn [^double secs]
                               (str prefix ": " done "/" planned " runs"
                                    (when (pos? (long planned)) " (of the stages begun so far)")
                                    "  " (fmt-duration secs) " elapsed"
                                    (when (seq now) (str "  now: " (label now))))))))
      :finish (fn [] (finish false))})))
