(ns dlnlab.report
  "One self-contained HTML page (report.html) for a run directory, a sweep
  directory, a reproduction directory (the report.edn `dlnlab reproduce`
  writes) or a notebook file: it opens offline, from a file, with no server.

  Every page has the same order: the headline first (a run: status, final
  loss, sharpness against the stability threshold, modes learned, late
  oscillations; a sweep: a sortable summary table with its failed points
  marked; a reproduction: the claim, the measured-against-predicted table and
  each check with PASS/FAIL and its numbers; a notebook: code, values and
  figures in the order of the file), then every standard figure as inline SVG
  (drawn by dlnlab.render, so it needs no network), then provenance and the
  experiment map. Every figure also carries its Vega-Lite spec: when the page
  can load vega-embed (a copy under resources/dlnlab/report/ when present,
  else the usual CDN, fetched only after the page has loaded) an interactive
  view appears below each SVG. All text is HTML-escaped.

  `write-report!` picks the kind from what the path holds (`input-kind`) and
  writes the page atomically (dlnlab.io/write-atomically!); `run-report!`
  writes a run's page from the result in memory; `run-page`, `sweep-page`,
  `reproduction-page` and `notebook-page` return the HTML text."
  (:require [clojure.data.csv :as csv]
            [clojure.java.io :as io]
            [clojure.string :as str]
            [dlnlab.error :as error]
            [dlnlab.figure :as fig]
            [dlnlab.io :as dio]
            [dlnlab.render :as render]
            [dlnlab.result :as result]
            [dlnlab.store :as store]
            [dlnlab.summary :as summary]
            [dlnlab.vega :as vega])
  (:import [clojure.lang LineNumberingPushbackReader]
           [java.io File]
           [java.nio.file Files]
           [java.nio.file.attribute FileAttribute]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------- HTML text

(defn escape
  "s (any value, by str) with & < > \" ' replaced by HTML entities."
  ^String [s]
  (str/escape (str s) {\& "&amp;" \< "&lt;" \> "&gt;" \" "&quot;" \' "&#39;"}))

(defn- tag
  "<name attrs>body</name>; attribute values are escaped, body is HTML already."
  [nm attrs & body]
  (str "<" nm (apply str (for [[k v] attrs :when (some? v)] (str " " (name k) "=\"" (escape v) "\""))) ">"
       (apply str body) "</" nm ">"))

(defn- pre [text] (tag "pre" {} (escape text)))

(defn- json-script
  "A <script type=application/json> holding JSON text; `</` is written `<\\/`
  so no string inside can close the element."
  [id json-text]
  (tag "script" {:type "application/json" :id id} (str/replace json-text "</" "<\\/")))

(def ^:private style
  (str "body{font:15px/1.45 system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}"
       "h1{font-size:1.5em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}"
       "dl.headline{display:grid;grid-template-columns:max-content auto;gap:.25em 1.2em}dt{font-weight:600}dd{margin:0}"
       "table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}"
       "th{background:#f3f3f3;cursor:pointer;user-select:none}tr.failed td{background:#fde8e8;color:#8a1010}"
       ".pass{color:#116611;font-weight:700}.fail{color:#aa1111;font-weight:700}"
       "figure.dlnlab-figure{margin:1.5em 0}figure.dlnlab-figure svg{max-width:100%;height:auto;display:block}"
       "pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:12px;max-height:40em}"
       ".cell{margin:1em 0}.cell pre.code{background:#eef3fa}pre.value{white-space:pre-wrap;word-break:break-word}.prose{margin:1em 0}"
       ".table-wrap{overflow-x:auto}.numbers,.failures{font-size:13px;color:#444;margin-left:1.5em}"))

(def ^:private sort-script
  "Clicking a table header sorts that table by the column, numbers as numbers."
  (str "document.querySelectorAll('table.sortable th').forEach(function(th,i){th.addEventListener('click',function(){"
       "var t=th.closest('table'),b=t.tBodies[0],rows=Array.from(b.rows),asc=th.dataset.dir!=='asc';"
       "t.querySelectorAll('th').forEach(function(h){delete h.dataset.dir});th.dataset.dir=asc?'asc':'desc';"
       "function v(r){var s=r.cells[i].textContent.trim(),n=parseFloat(s);return isNaN(n)||!/^[-+0-9.eE]+$/.test(s)?s:n}"
       "rows.sort(function(a,c){var x=v(a),y=v(c);var d=(typeof x==='number'&&typeof y==='number')?x-y:String(x).localeCompare(String(y));"
       "return asc?d:-d});rows.forEach(function(r){b.appendChild(r)})})});"))

(def ^:private cdn-scripts
  ["https://cdn.jsdelivr.net/npm/vega@5" "https://cdn.jsdelivr.net/npm/vega-lite@5" "https://cdn.jsdelivr.net/npm/vega-embed@6"])

(def ^:private local-scripts
  "Copies of vega, vega-lite and vega-embed a build may place on the classpath;
  when all three are present they are inlined and the page needs no network."
  ["dlnlab/report/vega.min.js" "dlnlab/report/vega-lite.min.js" "dlnlab/report/vega-embed.min.js"])

(defn- embed-script
  "Draws each figure's Vega-Lite spec with vegaEmbed into the element beside its
  SVG once vegaEmbed is defined; loads it from the CDN after the page has
  loaded when no local copy was inlined (a failed load leaves the SVGs)."
  []
  (let [local (mapv io/resource local-scripts)
        draw (str "function dlnlabEmbed(){if(typeof vegaEmbed!=='function')return;"
                  "document.querySelectorAll('script.vl-spec').forEach(function(s){"
                  "var el=document.getElementById(s.dataset.target);el.hidden=false;"
                  "vegaEmbed(el,JSON.parse(s.textContent),{actions:false}).catch(function(){el.hidden=true})})}")]
    (if (every? some? local)
      (str (apply str (for [u local] (tag "script" {} (str/replace (slurp u) "</script" "<\\/script"))))
           (tag "script" {} draw "dlnlabEmbed();"))
      (tag "script" {}
           draw
           "window.addEventListener('load',function(){var urls=" (vega/json cdn-scripts) ";"
           "(function next(i){if(i===urls.length){dlnlabEmbed();return}"
           "var s=document.createElement('script');s.src=urls[i];s.onload=function(){next(i+1)};"
           "s.onerror=function(){};document.head.appendChild(s)})(0)});"))))

(defn- page
  "The whole HTML document: title, then the given sections (HTML strings)."
  [title sections]
  (str "<!DOCTYPE html>\n"
       (tag "html" {:lang "en"}
            (tag "head" {}
                 "<meta charset=\"utf-8\">"
                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                 (tag "title" {} (escape title))
                 (tag "style" {} style))
            (tag "body" {}
                 (tag "h1" {} (escape title))
                 (apply str sections)
                 (tag "script" {} sort-script)
                 (embed-script)))
       "\n"))

(defn- section [id heading & body]
  (tag "section" {:id id} (tag "h2" {} (escape heading)) (apply str body)))

(defn- headline-list
  "Lines \"label:   value\" (dlnlab.summary's form) as a definition list."
  [lines]
  (tag "dl" {:class "headline"}
       (apply str (for [l lines
                        :let [[_ k v] (re-matches #"(?s)([^:]+):\s*(.*)" l)]]
                    (if k (str (tag "dt" {} (escape k)) (tag "dd" {} (escape v))) (tag "dd" {} (escape l)))))))

(defn- provenance-section [provenance experiment]
  (section "provenance" "Provenance and experiment"
           (when (some? provenance) (str (tag "h3" {} "Provenance") (pre (dio/edn-str provenance))))
           (when (some? experiment) (str (tag "h3" {} "Experiment") (pre (dio/edn-str experiment))))))

;; ---------------------------------------------------------------- figures

(defn- svg-text
  "The <svg> element of an SVG file's text (the XML prolog dropped)."
  [^String text]
  (let [i (str/index-of text "<svg")]
    (if i (subs text i) text)))

(defn figure-svg
  "Figure data (dlnlab.figure/figure) drawn by dlnlab.render as SVG text (the
  <svg> element alone, for inlining). Options as dlnlab.render/render!."
  ([f] (figure-svg f {}))
  ([f opts]
   (let [dir (.toFile (Files/createTempDirectory "dlnlab-report" (make-array FileAttribute 0)))
         file (io/file dir "figure.svg")]
     (try (render/render! f (str file) opts)
          (svg-text (slurp file))
          (finally (.delete file) (.delete dir))))))

(defn- figure-html
  "One figure: its inline SVG, and its Vega-Lite spec (JSON text, or nil) for
  the interactive view."
  [nm svg spec-json]
  (let [id (str "fig-" (str/replace (name nm) #"[^A-Za-z0-9_-]" "_"))]
    (tag "figure" {:class "dlnlab-figure" :data-figure (name nm) :id id}
         svg
         (when spec-json
           (str (tag "div" {:class "vl-view" :id (str id "-vl") :hidden "hidden"})
                (str/replace (json-script (str id "-spec") spec-json) "<script " (str "<script class=\"vl-spec\" data-target=\"" id "-vl\" ")))))))

(defn- figures-section
  "The section of figures: [[name figure-data] ...] drawn here."
  [figures]
  (section "figures" "Figures"
           (if (seq figures)
             (apply str (for [[nm f] figures] (figure-html nm (figure-svg f) (vega/json (vega/spec f)))))
             (tag "p" {} "No figure applies to what was recorded."))))

(defn- with-series
  "Figure data with its legend's :series [{:name :color :mark :dash}] listed
  in the order the layers first show them (as dlnlab.figure/figure lists them)."
  [f]
  (assoc f :series (->> (mapcat :layers (:panels f))
                        (map (fn [l] {:name (:series l) :color (:color l) :mark (:mark l) :dash (:dash l)}))
                        (reduce (fn [acc s] (if (some #(= (:name s) (:name %)) acc) acc (conj acc s))) []))))

;; Vega-Lite specs made by dlnlab.vega/spec carry their data rows and marks, so
;; the figure data can be read back from them and drawn as SVG offline.

(defn- layer-index [l]
  (some->> (get-in l [:transform 0 :filter]) (re-find #"datum\.layer === (\d+)") second Long/parseLong))

(defn figure-from-vega
  "The figure data (dlnlab.figure's shape) of a Vega-Lite spec that
  dlnlab.vega/spec made (it has :usermeta :figure), for drawing it as SVG;
  nil for any other spec."
  [spec]
  (when-let [nm (get-in spec [:usermeta :figure])]
    (let [layers (or (:layer spec) (get-in spec [:spec :layer]))
          rows (get-in spec [:data :values])
          enc (fn [k] (some #(get-in % [:encoding k]) layers))
          axis (fn [k] (let [e (enc k)] {:title (:title e) :log? (= "log" (get-in e [:scale :type])) :zero? (get-in e [:scale :zero])}))
          {:keys [domain range]} (:scale (enc :color))
          colors (zipmap domain range)
          panel-titles (or (get-in spec [:facet :row :sort]) [nil])
          by (group-by (juxt :panel :layer) rows)
          layer-of (fn [panel l]
                     (let [j (layer-index l)
                           rs (get by [panel j])
                           series (:series (first rs))
                           m (get-in l [:mark :type])
                           base {:series series :color (get colors series "#333333") :dash (get-in l [:mark :strokeDash])}]
                       (case m
                         "line" (assoc base :mark :line :point? (some? (get-in l [:mark :point])) :points (mapv (juxt :x :y) rs))
                         "point" (assoc base :mark :point :points (mapv (juxt :x :y) rs))
                         "rule" (if (get-in l [:encoding :y])
                                  (assoc base :mark :rule :y (:y (first rs)))
                                  (assoc base :mark :x-rule :x (:x (first rs))))
                         "area" (assoc base :mark :band :points (mapv (juxt :x :y :y2) rs))
                         "rect" (assoc base :mark :bar :points (mapv (juxt :x :x2 :y) rs))
                         nil)))]
      (with-series
       {:name (keyword nm) :title (get-in spec [:title :text]) :subtitle (get-in spec [:title :subtitle])
        :x (axis :x) :y (axis :y)
        :panels (vec (for [p panel-titles]
                       {:title p :layers (vec (keep #(let [l (layer-of p %)] (when (:series l) l)) layers))}))}))))

;; ---------------------------------------------------------------- a run

(defn- edge-of-stability-words
  "Where late sharpness (min and max over the last fifth) sits against the
  stability threshold thr: below it, past it, or on both sides of it (a run
  oscillating at the edge of stability)."
  ^String [lo hi thr]
  (cond (< (double hi) (double thr)) "below the edge of stability"
        (> (double lo) (double thr)) "past the edge of stability"
        :else "at the edge of stability: late sharpness crosses the threshold"))

(defn- run-headline-lines
  "The headline of a result: dlnlab.summary's lines, with the late sharpness
  (the last fifth of the run) set against the run's stability threshold
  (dlnlab.result)."
  [r]
  (let [thr (result/stability-threshold r)
        {:keys [mean min max]} (summary/late-stats (:trajectory r) :sharpness)]
    (concat (summary/summary-lines r)
            (when (and thr mean)
              [(str "late sharpness / threshold: " (summary/fmt-num (/ (double mean) (double thr)))
                    " (" (edge-of-stability-words min max thr) ")")]))))

(defn run-page
  "The HTML page of a run's result r (a network run or an :sde run): headline,
  standard figures (dlnlab.figure/standard), provenance (:meta, :facts) and the
  experiment. title names it."
  [r title]
  (page title
        [(section "headline" (str "Run: " (result/run-summary r)) (headline-list (run-headline-lines r)))
         (figures-section (fig/standard r))
         (provenance-section (cond-> (select-keys r [:status :stop-reason :meta :facts :error])
                               (:analysis r) (assoc :analysis (:analysis r)))
                             (:experiment r))]))

;; ---------------------------------------------------------------- a sweep

(defn- readable
  "A CSV cell for people: a decimal number rounded (dlnlab.summary/fmt-num),
  anything else as it is."
  [^String c]
  (if (re-matches #"-?\d+\.\d+(E-?\d+)?|-?\d\.\d+E-?\d+" c)
    (summary/fmt-num (Double/parseDouble c))
    c))

(defn- summary-table
  "The rows of a summary.csv (header first) as a sortable table; rows whose
  status is failed (or unwritten) get class failed and a mark."
  [[header & rows]]
  (let [status-col (.indexOf ^java.util.List (vec header) "status")]
    (tag "div" {:class "table-wrap"}
     (tag "table" {:class "sortable" :id "summary"}
         (tag "thead" {} (tag "tr" {} (apply str (for [h header] (tag "th" {} (escape h))))))
         (tag "tbody" {}
              (apply str (for [row rows
                               :let [status (when (>= status-col 0) (get (vec row) status-col))
                                     failed? (contains? #{"failed" "unwritten"} status)]]
                           (tag "tr" {:class (when failed? "failed") :title (when failed? (str "this point " status))}
                                (apply str (map-indexed (fn [i c] (tag "td" {} (escape (if (and failed? (= i status-col)) (str "✗ " c) (readable c)))))
                                                        row))))))))))

(defn- sweep-rows
  "summary.csv of a sweep directory as [header row ...]; when it is missing,
  the rows the stored results give."
  [dir {:keys [sweep dirs results]}]
  (let [f (io/file dir "summary.csv")]
    (if (.exists f)
      (with-open [r (io/reader f)] (vec (csv/read-csv r)))
      (let [grid (store/sweep-grid sweep)
            rows (map-indexed (fn [i [d r]]
                                (summary/tidy-row i d (into {} (for [[path _] grid] [path (get-in (:experiment r) path)])) r))
                              (map vector dirs results))
            header (summary/tidy-header grid rows)]
        (into [(vec header)]
              (for [row rows]
                (mapv #(let [v (get row %)] (if (keyword? v) (name v) (summary/fmt-num v))) header)))))))

(defn sweep-page
  "The HTML page of the sweep directory dir: a headline (points, statuses), the
  sortable summary table with failed points marked, the sweep's standard
  figures, then sweep.edn."
  [dir title]
  (let [{:keys [sweep results provenance] :as stored} (store/read-sweep dir)
        [header & rows :as table] (sweep-rows dir stored)
        status-col (.indexOf ^java.util.List (vec header) "status")
        statuses (frequencies (map #(get (vec %) status-col) rows))]
    (page title
          [(section "headline" (str "Sweep: " (count rows) " point" (when (not= 1 (count rows)) "s"))
                    (headline-list [(str "points: " (count rows))
                                    (str "status: " (str/join ", " (for [[s c] (sort statuses)] (str c " " s))))
                                    (str "grid: " (str/join "; " (for [[path vs] (:grid sweep)]
                                                                   (str (str/join "." (map name path)) " = " (str/join ", " (map summary/fmt-num vs))))))])
                    (summary-table table))
           (figures-section (if (seq results) (fig/standard results) []))
           (provenance-section provenance sweep)])))

;; ---------------------------------------------------------------- a reproduction

(defn- cell [x]
  (cond (number? x) (summary/fmt-num x)
        (keyword? x) (name x)
        (string? x) x
        (and (sequential? x) (every? (complement coll?) x)) (str/join " " (map cell x))
        :else (pr-str x)))

(defn- rows-table
  "Plain-data rows (maps) as a sortable table with a column per key."
  [rows]
  (let [ks (vec (distinct (mapcat keys rows)))]
    (tag "table" {:class "sortable"}
         (tag "thead" {} (tag "tr" {} (apply str (for [k ks] (tag "th" {} (escape (name k)))))))
         (tag "tbody" {} (apply str (for [r rows] (tag "tr" {} (apply str (for [k ks] (tag "td" {} (escape (cell (get r k)))))))))))))

(defn- check-html [k c]
  (let [numbers (dissoc c :claim :pass? :failures)]
    (tag "li" {:class (if (:pass? c) "check pass-check" "check fail-check")}
         (tag "span" {:class (if (:pass? c) "pass" "fail")} (if (:pass? c) "PASS" "FAIL"))
         " " (tag "strong" {} (escape (name k)))
         (when (:claim c) (str ": " (escape (:claim c))))
         (when (seq numbers)
           (tag "div" {:class "numbers"}
                (escape (str/join "; " (for [[nk v] numbers] (str (name nk) " = " (cell v)))))))
         (when (seq (:failures c))
           (tag "div" {:class "failures"} "failures: " (escape (str/join "; " (map cell (:failures c)))))))))

(defn- checks-html [checks]
  (tag "ul" {:class "checks"} (apply str (for [[k c] checks :when (map? c)] (check-html k c)))))

(defn- reproduction-figures
  "[[name svg-text spec-json-or-nil] ...] of the figure files in dir (<name>.svg,
  with <name>.vl.json beside it when present)."
  [^File dir]
  (for [^File f (sort-by #(.getName ^File %) (or (.listFiles dir) (make-array File 0)))
        :let [n (.getName f)]
        :when (str/ends-with? n ".svg")
        :let [base (subs n 0 (- (count n) 4))
              vl (io/file dir (str base ".vl.json"))]]
    [base (svg-text (slurp f)) (when (.exists vl) (slurp vl))]))

(defn reproduction-page
  "The HTML page of a reproduction directory dir (report.edn of dlnlab.study's
  report shape, figure files beside it): the claim, the table of measured
  against predicted, each check with PASS/FAIL and its numbers, the figures,
  then the setup, variant and timing."
  [dir title]
  (let [rep (dio/read-edn-file (io/file dir "report.edn"))
        _ (when-not (and (map? rep) (contains? rep :claim))
            (error/fail! :unreadable-file (str (io/file dir "report.edn") " is not a reproduction report (a map with a :claim).")
                         {:path [:claim] :value (str (io/file dir "report.edn")) :allowed "the report.edn of `dlnlab reproduce`"}))
        checks (:checks rep)
        passed (count (filter (comp :pass? val) (filter (comp map? val) checks)))
        figures (reproduction-figures (io/file dir))]
    (page title
          [(section "headline" (str "Reproduction: " (name (:study rep :study)) " (" (name (:variant rep :quick)) ")")
                    (tag "p" {:class "claim"} (tag "strong" {} "Claim. ") (escape (:claim rep)))
                    (when-let [t (:theory rep)] (tag "p" {:class "theory"} (tag "strong" {} "Theory. ") (escape (cell t))))
                    (tag "p" {} (escape (str passed " of " (count checks) " checks pass.")))
                    (checks-html checks)
                    (when-let [rows (seq (get-in rep [:main :rows]))]
                      (str (tag "h3" {} "Measured against predicted") (rows-table rows))))
           (section "figures" "Figures"
                    (if (seq figures)
                      (apply str (for [[nm svg json] figures] (figure-html nm svg json)))
                      (tag "p" {} "No figure files beside report.edn.")))
           (provenance-section (select-keys rep [:study :variant :timing-ms :headline :provenance]) (:setup rep))])))

;; ---------------------------------------------------------------- a notebook

(defn- vega-lite? [v]
  (and (map? v) (or (contains? v :$schema) (= :kind/vega-lite (:kindly/kind (meta v))))))

(defn- prose-html
  "Comment lines (;; Markdown) as HTML: # headings, the rest paragraphs."
  [lines]
  (let [text (map #(str/replace % #"^\s*;+ ?" "") lines)
        paras (remove #(every? str/blank? %) (partition-by str/blank? text))]
    (tag "div" {:class "prose"}
         (apply str (for [p paras
                          :let [[_ hashes h] (re-matches #"(#+)\s+(.*)" (first p))]]
                      (if h
                        (str (tag (str "h" (min 6 (+ 2 (count hashes)))) {} (escape h))
                             (when (next p) (tag "p" {} (escape (str/join " " (rest p))))))
                        (tag "p" {} (escape (str/join " " p)))))))))

(defn- value-html [v i]
  (if (vega-lite? v)
    (let [f (figure-from-vega v)
          nm (or (get-in v [:usermeta :figure]) (str "figure-" i))]
      (figure-html (str "cell" i "-" nm)
                   (if f (figure-svg f) (tag "p" {} "(a Vega-Lite figure: shown when vega-embed loads)"))
                   (vega/json v)))
    (let [s (if (string? v) v (binding [*print-length* 50 *print-level* 6] (pr-str v)))]
      (tag "pre" {:class "value"} (escape (if (> (count s) 4000) (str (subs s 0 4000) " ...") s))))))

(defn notebook-cells
  "Evaluates notebook file f form by form in the namespace its ns form makes,
  as Clerk or Clay would, and returns its cells in order: {:prose [comment
  lines]} for comments between forms and {:code text :value v :shown? bool}
  for each form (defs, ns and require are not shown)."
  [f]
  (let [lines (vec (str/split-lines (slurp f)))]
    (binding [*ns* *ns*]
      (with-open [r (LineNumberingPushbackReader. (io/reader f))]
        (loop [cells [] prev-end 0]
          (let [_ (loop [] (let [c (.read r)]
                             (cond (= c -1) nil
                                   (Character/isWhitespace (char c)) (recur)
                                   (= c (int \;)) (do (.readLine r) (recur))
                                   :else (.unread r c))))
                start (.getLineNumber r)
                form (read {:eof ::eof} r)
                end (.getLineNumber r)
                comments (filter #(re-find #"^\s*;" %) (subvec lines (min prev-end (count lines)) (min (dec (max start 1)) (count lines))))
                cells (cond-> cells (seq comments) (conj {:prose comments}))]
            (if (= ::eof form)
              cells
              (let [v (eval form)
                    head (when (seq? form) (first form))]
                (recur (conj cells {:code (str/join "\n" (subvec lines (dec start) (min end (count lines))))
                                    :value v :shown? (not (contains? #{'ns 'def 'defn 'defn- 'require} head))})
                       end)))))))))

(defn notebook-page
  "The HTML page of notebook file f: its prose, code, values and figures in
  order (each figure as inline SVG with its interactive view)."
  [f title]
  (let [cells (notebook-cells f)]
    (page title
          [(section "notebook" (str "Notebook: " (.getName (io/file f)))
                    (apply str (map-indexed (fn [i c]
                                              (if (:prose c)
                                                (prose-html (:prose c))
                                                (tag "div" {:class "cell"}
                                                     (tag "pre" {:class "code"} (escape (:code c)))
                                                     (when (:shown? c) (value-html (:value c) i)))))
                                            cells)))
           (provenance-section {:file (str f)} nil)])))

;; ---------------------------------------------------------------- writing

(defn input-kind
  "What path holds, for a report: :run (a directory with result.edn), :sweep
  (with sweep.edn), :reproduction (with report.edn) or :notebook (a .clj
  file). Throws ex-info of kind :unreadable-file otherwise."
  [path]
  (let [f (io/file path)]
    (cond
      (and (.isFile f) (str/ends-with? (.getName f) ".clj")) :notebook
      (.exists (io/file f "result.edn")) :run
      (.exists (io/file f "sweep.edn")) :sweep
      (.exists (io/file f "report.edn")) :reproduction
      :else (error/fail! :unreadable-file
                         (str path " is neither a run directory (result.edn), a sweep directory (sweep.edn), "
                              "a reproduction directory (report.edn) nor a notebook file (.clj).")
                         {:path [:input] :value (str path)
                          :allowed "a run, sweep or reproduction directory, or a notebook .clj file"}))))

(defn page-path
  "Where `write-report!` writes the page of path by default: path/report.html
  for a directory, results/<notebook name>/report.html for a notebook file."
  [path]
  (let [f (io/file path)]
    (if (and (.isFile f) (str/ends-with? (.getName f) ".clj"))
      (str (io/file "results" (str/replace (.getName f) #"\.clj$" "") "report.html"))
      (str (io/file path "report.html")))))

(defn run-report!
  "Writes the page of the run result r (held in memory) as dir/report.html,
  atomically. Options: :title (\"dlnlab run\"). Returns the path written."
  ([r dir] (run-report! r dir {}))
  ([r dir {:keys [title] :or {title "dlnlab run"}}]
   (let [out (str (io/file dir "report.html"))]
     (dio/write-atomically! out (run-page r title))
     out)))

(defn write-report!
  "Writes the report page of path (see `input-kind`) atomically, to
  `page-path` or :out. Options: :out (a file path); :title. Returns the path
  written. Throws ex-info of kind :unreadable-file when path holds nothing a
  report is made of, and :unwritable when the page cannot be written."
  ([path] (write-report! path {}))
  ([path {:keys [out title]}]
   (let [kind (input-kind path)
         nm (str/replace (.getName (.getAbsoluteFile (io/file path))) #"\.clj$" "")
         out (or out (page-path path))
         title (or title (str "dlnlab " (name kind) ": " nm))
         html (case kind
                :run (run-page (store/read-run path) title)
                :sweep (sweep-page path title)
                :reproduction (reproduction-page path title)
                :notebook (notebook-page path title))]
     (some-> (io/file out) .getAbsoluteFile .getParentFile .mkdirs)
     (dio/write-atomically! out html)
     (str out))))
