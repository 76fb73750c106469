(ns dlnlab.report-test
  "The report pages: what each holds, that all text is escaped, that figures
  read back from Vega-Lite keep their data, and, in a real headless Chromium,
  that every figure of a run, a sweep, a reproduction and a notebook page is in
  the DOM and the page is not blank."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [dlnlab.cli :as cli]
            [dlnlab.experiment :as experiment]
            [dlnlab.figure :as fig]
            [dlnlab.io :as dio]
            [dlnlab.render :as render]
            [dlnlab.report :as report]
            [dlnlab.store :as store]
            [dlnlab.temp-dir :as tmp]
            [dlnlab.vega :as vega])
  (:import [java.awt.image BufferedImage]
           [java.io File StringWriter]
           [java.nio.file Files]
           [java.nio.file.attribute FileAttribute]
           [java.util.concurrent TimeUnit]
           [javax.imageio ImageIO]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def ^:private exp
  "A short edge-of-stability run (GD past 2/S_1 on a depth-3 factorization)
  whose name would break a page that did not escape it."
  {:name "<script>alert('x')</script> & co"
   :seed 7
   :model {:kind :chain :depth 3 :width 5 :init {:kind :scaled-identity :alpha 0.1}}
   :task {:kind :matrix-factorization :singular-values [10.0 6.0 3.0] :dims [5 5] :basis :random}
   :optimizer {:kind :gd :lr 0.0315}
   :steps 250
   :record {:every 1 :metrics [:loss :sharpness :modes :balance-gap] :sharpness {:every 5}}})

(def ^:private ^File root
  "The directory holding the four inputs and their pages (made once)."
  nil)

(defn- file ^File [& parts] (apply io/file root parts))

(def ^:private notebook-text
  ";; # A tiny notebook
;; Prose with <angle brackets> & an ampersand.
(ns report-test-notebook
  (:require [dlnlab.experiment :as experiment]
            [dlnlab.vega :as vega]))

(def r (experiment/run (read-string (slurp (System/getProperty \"report-test.exp\")))))

;; ## The final loss
(:loss (:final r))

;; ## Loss
(vega/loss-spec r)

;; ## Sharpness
(vega/sharpness-spec r)
")

(defn- make-inputs!
  "Writes a run directory, a sweep directory (one point diverges), a
  reproduction directory and a notebook under root, and their pages."
  []
  (let [r (experiment/run exp)]
    (store/write-run! r (file "run"))
    (store/run-sweep! (store/normalize-sweep {:base (assoc exp :steps 120)
                                              :grid {[:optimizer :lr] [0.01 0.0315 10.0]}} "test")
                      (file "sweep") {:jobs 2 :log (fn [_])})
    (.mkdirs (file "repro"))
    (dio/write-edn-file! (file "repro" "report.edn")
                         {:study :demo :variant :quick
                          :claim "The sharpness rises to 2/lr < S_1 & hovers there"
                          :main {:rows [{:lr 0.0315 :predicted 63.49 :measured 63.2}]}
                          :checks {:at-edge {:claim "within 5%" :pass? true :failures [] :ratio 0.9954}
                                   :settles {:claim "the loss settles" :pass? false :failures [{:period 2}]}}})
    (render/write-figure-data! [(fig/figure :sharpness r) (fig/figure :loss r)] (file "repro"))
    (spit (file "notebook.clj") notebook-text)
    (dio/write-edn-file! (file "exp.edn") (assoc exp :steps 100))
    (System/setProperty "report-test.exp" (str (file "exp.edn")))
    (doseq [k ["run" "sweep" "repro"]] (report/write-report! (file k)))
    (report/write-report! (file "notebook.clj") {:out (str (file "nb" "report.html"))})))

(use-fixtures :once
  (fn [t]
    (let [d (.toFile (Files/createTempDirectory "dlnlab-report" (make-array FileAttribute 0)))]
      (try (with-redefs [root d] (make-inputs!) (t))
           (finally (tmp/delete-tree d))))))

(defn- page ^String [k] (slurp (if (= k "nb") (file "nb" "report.html") (file k "report.html"))))

(defn- figure-count [^String html] (count (re-seq #"<figure class=\"dlnlab-figure\"" html)))

;; ---------------------------------------------------------------- the pages as text

(deftest pages-put-the-headline-first
  (let [run (page "run")]
    (is (< (str/index-of run "id=\"headline\"") (str/index-of run "id=\"figures\"") (str/index-of run "id=\"provenance\"")))
    (doseq [label ["status" "final loss" "sharpness" "modes learned" "late sharpness / threshold"]]
      (is (str/includes? run (str "<dt>" label "</dt>")) label)))
  (testing "the late sharpness is placed against the threshold by its range, not by its last value"
    (let [words #'dlnlab.report/edge-of-stability-words]
      (is (= "below the edge of stability" (words 1.0 1.9 2.0)))
      (is (= "past the edge of stability" (words 2.1 3.0 2.0)))
      (is (str/starts-with? (words 1.6 2.4 2.0) "at the edge of stability"))))
  (testing "a sweep: every point in the table, the diverged one by its status"
    (let [sweep (page "sweep")]
      (is (= 3 (count (re-seq #"<tr[ >]" (subs sweep (str/index-of sweep "<tbody>") (str/index-of sweep "</tbody>"))))))
      (is (str/includes? sweep "diverged"))))
  (testing "a reproduction: the claim, then PASS and FAIL with their numbers"
    (let [repro (page "repro")]
      (is (< (str/index-of repro "Claim.") (str/index-of repro "PASS") (str/index-of repro "id=\"figures\"")))
      (is (str/includes? repro "<span class=\"fail\">FAIL</span>"))
      (is (str/includes? repro "ratio = 0.9954"))))
  (testing "a notebook: prose, code and values in file order"
    (let [nb (page "nb")]
      (is (< (str/index-of nb "The final loss") (str/index-of nb "(:loss (:final r))")
             (str/index-of nb "(vega/loss-spec r)") (str/index-of nb "(vega/sharpness-spec r)"))))))

(deftest pages-escape-all-text
  (let [run (page "run")]
    (is (not (str/includes? run "<script>alert")) "the experiment's name is escaped")
    (is (str/includes? run "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co")))
  (is (str/includes? (page "repro") "2/lr &lt; S_1 &amp; hovers"))
  (is (str/includes? (page "nb") "Prose with &lt;angle brackets&gt; &amp; an ampersand."))
  (is (= "&lt;a href=&quot;x&quot;&gt;&amp;&#39;" (report/escape "<a href=\"x\">&'"))))

(deftest each-standard-figure-is-inline-svg-with-its-spec
  (let [r (store/read-run (file "run"))
        names (keys (fig/standard r))
        run (page "run")]
    (is (= (count names) (figure-count run)))
    (doseq [nm names]
      (is (re-find (re-pattern (str "data-figure=\"" (name nm) "\" id=\"[^\"]+\"><svg")) run) (str nm " is inline SVG")))
    (is (= (count names) (count (re-seq #"class=\"vl-spec\"" run))) "every figure carries its Vega-Lite spec"))
  (is (= (count (fig/standard (:results (store/read-sweep (file "sweep"))))) (figure-count (page "sweep"))))
  (is (= 2 (figure-count (page "repro"))))
  (is (= 2 (figure-count (page "nb")))))

(deftest a-failed-point-is-marked
  (let [csv (file "sweep" "summary.csv")
        before (slurp csv)
        lines (str/split-lines before)
        failed (str/replace (nth lines 1) #",completed,|,diverged," ",failed,")]
    (try (spit csv (str/join "\n" (concat lines [failed])))
         (let [html (report/sweep-page (file "sweep") "t")]
           (is (= 1 (count (re-seq #"<tr class=\"failed\"" html))))
           (is (str/includes? html "✗ failed")))
         (finally (spit csv before)))))

(deftest figures-read-back-from-vega-lite-keep-their-data
  (let [r (store/read-run (file "run"))]
    (doseq [[nm f] (fig/standard r)
            :let [back (report/figure-from-vega (vega/spec f))
                  shape (fn [g] (for [p (:panels g) l (:layers p)]
                                  [(:title p) (:series l) (:mark l) (some-> (:points l) count) (:y l) (:x l)]))]]
      (is (= (shape f) (shape back)) (str nm ": panels, series, marks and point counts"))
      ;; a Vega-Lite spec holds coordinates rounded to what the figure can show
      ;; (fig/round-coordinates), so that is what reading it back must give
      (let [pts (fn [g] (map (fn [l] (some->> (:points l) (map #(mapv double %)))) (mapcat :layers (:panels g))))]
        (is (= (pts (fig/round-coordinates f)) (pts back)) (str nm ": the same (rounded) points")))
      (is (= (map :log? [(:x f) (:y f)]) (map :log? [(:x back) (:y back)])) (str nm ": the same axis scales"))))
  (is (nil? (report/figure-from-vega {:mark "point" :data {:values []}})) "a spec from elsewhere is not read"))

(deftest the-input-kind-comes-from-what-the-path-holds
  (is (= [:run :sweep :reproduction :notebook]
         (map #(report/input-kind (file %)) ["run" "sweep" "repro" "notebook.clj"])))
  (let [e (try (report/input-kind (file "nb")) nil (catch clojure.lang.ExceptionInfo e e))]
    (is (= :unreadable-file (:dlnlab/error (ex-data e))))
    (is (str/includes? (ex-message e) "neither a run directory"))))

;; ---------------------------------------------------------------- the command line

(defn- cli
  "Runs the command line in-process: {:code :out :err}."
  [& args]
  (let [o (StringWriter.) e (StringWriter.)
        code (binding [*out* o *err* e dlnlab.cli.common/*terminal?* false] (cli/main* args))]
    {:code code :out (str o) :err (str e)}))

(deftest run-writes-its-page-unless-told-not-to
  (let [f (str (file "tiny.edn"))
        _ (dio/write-edn-file! f (assoc exp :steps 30 :name "tiny"))
        out (str (file "cli-run"))
        {:keys [code out] :as r} (cli "run" f "--out" out "--no-plots")
        page (io/file (file "cli-run") "report.html")]
    (is (= 0 code) (:err r))
    (is (.exists page))
    (is (str/includes? out (str "report:           " page)) "the path is printed")
    (is (str/includes? (slurp page) "<dt>final loss</dt>"))
    (testing "--no-report"
      (let [r2 (cli "run" f "--out" (str (file "cli-quiet")) "--no-plots" "--no-report")]
        (is (= 0 (:code r2)) (:err r2))
        (is (= #{"result.edn" "result.json" "trajectory.csv"} (set (.list (file "cli-quiet")))))
        (is (not (str/includes? (:out r2) "report:")))))
    (testing "--force replaces a run directory holding a page"
      (is (= 0 (:code (cli "run" f "--out" (str (file "cli-run")) "--no-plots" "--force")))))))

(deftest the-report-command-writes-a-page-for-what-it-is-given
  (let [target (file "repro" "again.html")
        {:keys [code out err]} (cli "report" (str (file "repro")) "--out" (str target))]
    (is (= 0 code) err)
    (is (str/includes? out (str "wrote: " target)))
    (is (str/includes? (slurp target) "Claim.")))
  (let [{:keys [code err]} (cli "report" (str (file "nb")))]
    (is (= 2 code))
    (is (str/includes? err "neither a run directory") err))
  (is (= 2 (:code (cli "report"))) "a path is needed"))

;; ---------------------------------------------------------------- in a real browser

(defn- chromium []
  (some (fn [n] (some #(let [f (io/file % n)] (when (.canExecute f) (str f)))
                      (str/split (or (System/getenv "PATH") "") #":")))
        ["chromium" "chromium-browser" "google-chrome"]))

(defn- run-chromium!
  "Runs headless Chromium on the page with a fresh profile; returns its stdout."
  [exe ^File html & args]
  (let [profile (.toFile (Files/createTempDirectory "dlnlab-chromium" (make-array FileAttribute 0)))
        out (File/createTempFile "chromium" ".out")]
    (try
      (let [p (-> (ProcessBuilder. ^java.util.List
                                   (vec (concat [exe "--headless" "--no-sandbox" "--disable-gpu"
                                                 "--disable-background-networking" "--disable-component-update"
                                                 "--disable-sync" "--no-first-run" "--disable-dev-shm-usage"
                                                 (str "--user-data-dir=" profile)]
                                                args [(str (.toURI html))])))
                  (.redirectOutput out)
                  (.redirectError (java.lang.ProcessBuilder$Redirect/DISCARD))
                  .start)]
        (when-not (.waitFor p 90 TimeUnit/SECONDS) (.destroyForcibly p))
        (slurp out))
      (finally (.delete out) (tmp/delete-tree profile)))))

(defn- luminance-variance
  "The variance of the pixels' luminance (0..255) of an image: 0 for a blank one."
  ^double [^BufferedImage img]
  (let [w (.getWidth img) h (.getHeight img) n (* w h)]
    (loop [i 0 s 0.0 s2 0.0]
      (if (< i n)
        (let [rgb (.getRGB img (int (rem i w)) (int (quot i w)))
              v (+ (* 0.299 (bit-and (bit-shift-right rgb 16) 0xff))
                   (* 0.587 (bit-and (bit-shift-right rgb 8) 0xff))
                   (* 0.114 (bit-and rgb 0xff)))]
          (recur (inc i) (+ s v) (+ s2 (* v v))))
        (let [mean (/ s n)] (- (/ s2 n) (* mean mean)))))))

(defn- check-in-browser
  "Opens the page in headless Chromium: every figure of the page is in the
  DOM as SVG, the first section is there, and the screenshot is not blank.
  Without Chromium, says so loudly on stderr (CI always has it)."
  [k ^File html first-section]
  (if-let [exe (chromium)]
    ;; DOM text is not printed on failure: only counts and booleans are compared
    (let [dom (run-chromium! exe html "--dump-dom")
          expected (figure-count (slurp html))
          shot (file (str k ".png"))]
      (is (pos? expected))
      (is (true? (str/includes? dom (str "<section id=\"" first-section "\">"))) "the DOM holds the first section")
      (is (= expected (count (re-seq #"<figure class=\"dlnlab-figure\"[^>]*><svg" dom)))
          "every figure is in the DOM as SVG")
      (run-chromium! exe html "--window-size=1000,1600" (str "--screenshot=" shot))
      (let [img (when (.exists shot) (ImageIO/read shot))]
        (is (some? img) "chromium wrote a screenshot")
        (when img
          ;; a blank page has variance 0; text and plotted lines on white give hundreds
          (is (> (luminance-variance img) 100.0) "the screenshot is not blank"))))
    (binding [*out* *err*]
      (println (str "\n!!!!!!!! dlnlab.report-test: NO CHROMIUM on PATH: the " k " report page was NOT opened in a browser.\n"
                    "!!!!!!!! Install it (apt-get install chromium; .ci/run does) to run these checks.\n")))))

(deftest a-run-page-renders-in-chromium (check-in-browser "run" (file "run" "report.html") "headline"))

(deftest a-sweep-page-renders-in-chromium (check-in-browser "sweep" (file "sweep" "report.html") "headline"))

(deftest a-reproduction-page-renders-in-chromium (check-in-browser "repro" (file "repro" "report.html") "headline"))

(deftest a-notebook-page-renders-in-chromium (check-in-browser "nb" (file "nb" "report.html") "notebook"))
