(ns dlnlab.trajectory
  "A run's recorded rows: the in-memory columns of the result's :trajectory
  (`recorder`) and the trajectory CSV written as the rows are recorded
  (`csv-sink`), so that a long run's memory stays bounded.

  With a sink, the recorder keeps at most :max-rows rows in memory: the last
  half whole and, before them, earlier rows thinned evenly (every 2nd, 4th,
  ... row); the sink holds every row. Without a sink every row is kept."
  (:require [clojure.data.csv :as csv]
            [clojure.java.io :as io]
            [dlnlab.error :as error]
            [dlnlab.io :as dio])
  (:import [java.io BufferedWriter File FileOutputStream OutputStreamWriter Writer]
           [java.nio.channels FileChannel]
           [java.nio.charset StandardCharsets]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------- the CSV, row by row

(defn- merge-shape
  "A value with the larger shape of a and b at every level (for the header)."
  [a b]
  (cond (and (sequential? a) (sequential? b))
        (mapv (fn [i] (merge-shape (nth a i nil) (nth b i nil))) (range (max (count a) (count b))))
        (sequential? a) a
        :else b))

(defn- leaves ^long [v]
  (if (sequential? v) (reduce + 0 (map leaves v)) 1))

(defn- header-for
  "The CSV columns for rows whose values have the shapes of protos (metric ->
  value of the largest shape seen), in the order of metric-keys."
  [metric-keys protos]
  (dio/trajectory-columns (into {:step [0] :time [0.0]} (for [m metric-keys] [m [(get protos m)]])) metric-keys))

(defn- fits?
  "True when every value of row has a column for each of its entries in cols-of
  (metric -> column count, 0 for a scalar column)."
  [cols-of row]
  (every? (fn [[m ^long n]]
            (let [v (get row m)]
              (or (not (sequential? v)) (and (pos? n) (<= (leaves v) n)))))
          cols-of))

(defn- unwritable! [^File f ^Exception e]
  (error/fail! :unwritable (str "Cannot write the trajectory to " f ": " (.getMessage e)
                                " (check that the disk has room)")
               {:path [:out] :value (str f) :allowed "a writable directory with room"} e))

(defn- open-writer ^BufferedWriter [^FileOutputStream out]
  (BufferedWriter. (OutputStreamWriter. out StandardCharsets/UTF_8) 65536))

(defn- rewrite!
  "Rewrites the CSV file f with the header cols, each old row's cells moved to
  the columns of the same name. Returns the file offset where its last row starts."
  ^long [^File f cols]
  (let [tmp (File/createTempFile (str "." (.getName f) ".") ".tmp" (.getParentFile f))
        names (mapv :name cols)
        last-at (volatile! 0)]
    (try
      (with-open [r (io/reader f)
                  out (FileOutputStream. tmp)]
        (let [w (open-writer out)
              [header & rows] (csv/read-csv r)
              at (into {} (map-indexed (fn [i c] [c i]) header))]
          (csv/write-csv w [names])
          (doseq [line rows]
            (.flush w)
            (vreset! last-at (.size (.getChannel ^FileOutputStream out)))
            (csv/write-csv w [(map #(if-let [i (at %)] (nth line i) "") names)]))
          (.flush w)))
      (dio/move-atomically! tmp f)
      (finally (.delete tmp)))
    @last-at))

(defn csv-sink
  "A sink writing a run's rows to the CSV file f (created or emptied) as they
  are recorded, in the columns of dlnlab.io/trajectory-columns for metric-keys
  (the header comes from the first row; a later row with longer vectors widens
  it, rewriting the rows so far once). Every row is flushed to the operating
  system when written. Returns {:row! (fn [step time row replace?]) :close!
  (fn [] -> {:rows n :file path})}; replace? true rewrites the last row (a run
  that records its last step again). Throws ex-info of kind :unwritable when
  the file cannot be written (a full disk)."
  [f metric-keys]
  (let [f (io/file f)
        ^FileOutputStream out (try (FileOutputStream. f true) (catch java.io.IOException e (unwritable! f e)))
        ^FileChannel ch (.getChannel out)
        _ (try (.truncate ch 0) (catch java.io.IOException e (unwritable! f e)))
        w (volatile! (open-writer out))
        stream (volatile! out)
        protos (volatile! nil)
        cols (volatile! nil)
        cols-of (volatile! nil)
        last-at (volatile! 0)
        rows (volatile! 0)
        set-header! (fn [row]
                      (vreset! protos (reduce (fn [p m] (update p m merge-shape (get row m))) (or @protos {}) metric-keys))
                      (let [c (header-for metric-keys @protos)]
                        (vreset! cols c)
                        (vreset! cols-of (into {} (for [m metric-keys]
                                                    [m (count (filter #(and (= m (:metric %)) (seq (:path %))) c))])))))
        channel (fn ^FileChannel [] (.getChannel ^FileOutputStream @stream))]
    {:row! (fn [step time row replace?]
             (try
               (let [^Writer wr @w
                     row (assoc row :step step :time time)]
                 (cond
                   (nil? @cols) (do (set-header! row)
                                    (csv/write-csv wr [(map :name @cols)]))
                   (not (fits? @cols-of row))
                   (do (set-header! row)
                       (.close wr)
                       (vreset! last-at (rewrite! f @cols))
                       (let [o (FileOutputStream. f true)]
                         (vreset! stream o)
                         (vreset! w (open-writer o)))))
                 (let [^Writer wr @w]
                   (.flush wr)
                   (if replace?
                     (.truncate ^FileChannel (channel) (long @last-at))
                     (do (vreset! last-at (.size ^FileChannel (channel))) (vswap! rows #(inc (long %)))))
                   (dio/write-trajectory-row wr @cols row)
                   (.flush wr)))
               (catch java.io.IOException e (unwritable! f e))))
     :close! (fn []
               (try (let [^Writer wr @w]
                      (when (nil? @cols) (csv/write-csv wr [(mapv :name (header-for metric-keys {}))]))
                      (.close wr))
                    (catch java.io.IOException e (unwritable! f e)))
               {:rows @rows :file (str f)})}))

;; ---------------------------------------------------------------- in memory

(defn recorder
  "A recording closure over a trajectory's columns: {:record! (fn [step time
  row]) :columns (fn [] -> {:step [..] :time [..] metric [..]}) :rows (fn [] ->
  rows recorded)}. Recording a step again (a run that stops on a step it
  already recorded) fills that row's missing values instead of adding a row.
  Columns grow as transients; call :columns once, at the end.

  Options: :on-record (fn [row]) called with each row (with :step and :time);
  :sink (from `csv-sink`) given every row; :max-rows (nil: keep every row) the
  most rows kept in memory: the last max-rows/2 rows whole (the analyses read
  the end of a run, where a period-2 oscillation must not be thinned away)
  and, before them, fewer than max-rows/4 earlier rows, thinned evenly to
  every 2nd, 4th, ... row."
  [metric-keys {:keys [on-record sink max-rows]}]
  (let [ks (vec metric-keys)
        n (count ks)
        tail-cap (when max-rows (max 1 (quot (long max-rows) 2)))
        ;; fewer thinned rows than whole ones, so the median spacing of the rows
        ;; (dlnlab.analysis's period unit) is the run's own
        thin-cap (when max-rows (max 2 (quot (long max-rows) 8)))
        tail (java.util.ArrayDeque.)
        steps (volatile! (transient []))
        times (volatile! (transient []))
        cols (object-array (repeatedly n #(transient [])))
        recorded (volatile! 0)
        evicted (volatile! 0)
        stride (volatile! 1)
        last-step (volatile! nil)
        append! (fn [[step time row]]
                  (vswap! steps conj! step)
                  (vswap! times conj! time)
                  (dotimes [i n] (aset cols i (conj! (aget cols i) (get row (ks i))))))
        thin! (fn []
                (let [half (fn [t] (transient (vec (take-nth 2 (persistent! t)))))]
                  (vswap! steps half)
                  (vswap! times half)
                  (dotimes [i n] (aset cols i (half (aget cols i))))
                  (vswap! stride #(* 2 (long %)))))
        keep-thinned! (fn [entry]
                        (let [i (long @evicted)]
                          (vreset! evicted (inc i))
                          (when (zero? (rem i (long @stride)))
                            (append! entry)
                            (when (>= (count @steps) (* 2 (long thin-cap))) (thin!)))))
        fill (fn [old row] (reduce (fn [r k] (if (nil? (get r k)) (assoc r k (get row k)) r)) old ks))]
    {:record! (fn [step time row]
                (if (= step @last-step)
                  (let [merged (if tail-cap
                                 (let [[s t old] (.pollLast tail)
                                       m (fill old row)]
                                   (.offerLast tail [s t m])
                                   m)
                                 (do (dotimes [i n]
                                       (let [^clojure.lang.ITransientVector c (aget cols i)
                                             j (dec (count c))]
                                         (when (nil? (nth c j))
                                           (aset cols i (assoc! c j (get row (ks i)))))))
                                     row))]
                    (when sink ((:row! sink) step time merged true)))
                  (do (vreset! last-step step)
                      (vswap! recorded #(inc (long %)))
                      (if tail-cap
                        (do (.offerLast tail [step time row])
                            (when (> (.size tail) (long tail-cap)) (keep-thinned! (.pollFirst tail))))
                        (append! [step time row]))
                      (when sink ((:row! sink) step time row false))))
                (when on-record (on-record (assoc row :step step :time time))))
     :rows (fn [] @recorded)
     :columns (fn []
                (doseq [entry tail] (append! entry))
                (into {:step (persistent! @steps) :time (persistent! @times)}
                      (map (fn [i] [(ks i) (persistent! (aget cols i))]) (range n))))}))
