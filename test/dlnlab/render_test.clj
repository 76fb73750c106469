(ns dlnlab.render-test
  "Tests of dlnlab.render: XChart SVG and PNG files of every figure (texts,
  colors, legend), tick labels, and the writers of standard figures and of
  figure data with their Vega-Lite specs."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.figure :as figure]
            [dlnlab.figure.axis :as axis]
            [dlnlab.render :as render]
            [dlnlab.vega :as vega]
            [dlnlab.figure-fixtures :refer [synthetic-run synthetic-sweep synthetic-ensemble synthetic-sde-sweep all-figures out-dir svg-texts rgb]])
  (:import [java.io File]
           [javax.imageio ImageIO]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

;; ---------------------------------------------------------------- XChart files

(defn- png-has-color?
  "True when some pixel of img is within 12 of color [r g b] in each channel."
  [^java.awt.image.BufferedImage img [r g b]]
  (let [w (.getWidth img) h (.getHeight img)]
    (loop [y 0 x 0]
      (cond
        (>= y h) false
        (>= x w) (recur (inc y) 0)
        :else (let [p (.getRGB img (int x) (int y))
                    pr (bit-and (bit-shift-right p 16) 0xff) pg (bit-and (bit-shift-right p 8) 0xff) pb (bit-and p 0xff)]
                (if (and (<= (Math/abs (- pr (long r))) 12) (<= (Math/abs (- pg (long g))) 12) (<= (Math/abs (- pb (long b))) 12))
                  true
                  (recur y (inc x))))))))

(deftest xchart-svg-and-png-files
  (let [dir (io/file out-dir "xchart")]
    (doseq [[n fig] (all-figures)]
      (testing n
        (let [svg-path (str (io/file dir (str n ".svg")))
              png-path (str (io/file dir (str n ".png")))]
          (is (= svg-path (render/render! fig svg-path)))
          (is (= png-path (render/render! fig png-path {:scale 1.0})))
          (let [svg (slurp svg-path)
                texts (svg-texts svg)
                names (map :name (:series fig))]
            (is (str/starts-with? svg "<?xml"))
            (is (= (:title fig) (first texts)) "title first")
            (is (= (:subtitle fig) (second texts)) "then the subtitle")
            (is (some #{(get-in fig [:x :title])} texts) "x axis title")
            (is (some #{(get-in fig [:y :title])} texts) "y axis title")
            (if (> (count names) 1)
              (is (= (vec names) (filterv (set names) texts)) "one legend entry per series, in order")
              (is (empty? (filter (set names) texts)) "no legend for one series"))
            (when (> (count (:panels fig)) 1)
              (is (= (mapv :title (:panels fig)) (filterv (set (map :title (:panels fig))) texts))))
            (doseq [{:keys [color mark]} (:series fig)
                    :when (#{:line :rule :point} mark)]
              (let [[r g b] (rgb color)]
                (is (re-find (re-pattern (str "rgb\\(" r "," g "," b "\\)")) svg) (str "a mark in " color)))))
          (let [img (ImageIO/read (io/file png-path))]
            (is (= 800 (.getWidth img)))
            (doseq [{:keys [color mark]} (:series fig)
                    :when (= :line mark)]
              (is (png-has-color? img (rgb color)) (str "a line in " color " in the PNG")))))))))

(deftest write-figures-writes-each-standard-figure-atomically
  (let [dir (io/file out-dir "write-figures")
        run (synthetic-run {})]
    (doseq [^File f (reverse (file-seq dir))] (.delete f))
    (let [written (render/write-figures! run (str dir) {:formats [:svg :png]})
          again (render/write-figures! run (str dir) {:formats [:svg]})]
      (is (= [:balance-gap :loss :modes :pathway-shares :sharpness] (keys written)))
      (is (= (set (mapcat (fn [[k _]] [(str (name k) ".svg") (str (name k) ".png")]) written))
             (set (map #(.getName ^File %) (.listFiles dir))))
          "exactly the figures, no temporary files left")
      (is (every? #(.exists (io/file %)) (mapcat val again)))
      (is (re-find #"Sharpness vs step" (slurp (first (:sharpness again)))))
      (is (thrown-with-msg? clojure.lang.ExceptionInfo #":formats" (render/write-figures! run (str dir) {:formats [:gif]}))))
    (testing "a sweep and an ensemble"
      (is (= [:bifurcation :loss :loss-vs-lr :modes :sharpness-vs-lr] (keys (render/write-figures! (synthetic-sweep) (str (io/file dir "sweep"))))))
      (is (= [:learning-times :sde-ensemble] (keys (render/write-figures! (synthetic-ensemble) (str (io/file dir "sde")))))))))

(deftest duplicate-run-labels-are-made-distinct
  (let [r (synthetic-run {:steps 20})
        fig (figure/figure :loss [r r] {:labels ["a" "a"]})]
    (is (= ["a #1" "a #2"] (mapv :name (:series fig))))
    (is (= ["run 1" "run 2"] (mapv :name (:series (figure/figure :loss [r r])))))
    (is (string? (render/render! fig (str (io/file out-dir "duplicates.svg")))))))

(deftest write-figure-data-writes-images-and-specs
  (let [dir (io/file out-dir "figure-data")
        figs [(figure/figure :loss (synthetic-run {})) (figure/figure :sharpness (synthetic-run {}))]
        written (render/write-figure-data! figs dir {:formats [:svg :png]})]
    (is (= #{:loss :sharpness} (set (keys written))))
    (doseq [[nm paths] written]
      (is (= 3 (count paths)) (str nm))
      (doseq [p paths] (is (pos? (.length (io/file p))) p))
      (let [json (slurp (last paths))]
        (is (str/includes? json "\"$schema\"") "a Vega-Lite spec")
        (is (= (vega/json (vega/spec (first (filter #(= nm (:name %)) figs)))) json))))
    (is (thrown? clojure.lang.ExceptionInfo (render/write-figure-data! figs dir {:formats [:gif]})))))

(deftest tick-labels-are-plain-numbers
  (is (= ["0.028" "1500" "0.3" "2.5e-4" "1e6" "0" "-0.5"]
         (mapv #'render/tick-label [0.028 1500.0 (+ 0.1 0.2) 2.5e-4 1e6 0.0 -0.5])))
  (is (= ["0.01" "1e-5" "0.0345"] (mapv #(axis/tick-label (Math/pow 10.0 (double %))) [-2.0 -5.0 (Math/log10 0.0345)]))
      "log-axis labels: whole decades plainly or as 1e-5, three significant digits between"))

(deftest log-axes-are-labelled-at-their-ticks
  (let [svg-of (fn [f n] (let [path (str (io/file out-dir "log-axes" (str n ".svg")))]
                           (render/render! f path)
                           (set (svg-texts (slurp path)))))
        sde (figure/figure :stationary-sweep (synthetic-sde-sweep))
        texts (svg-of sde "stationary-sweep")]
    (testing "a swept batch size is labelled at its values, integers as integers"
      (is (every? texts ["2" "4" "8" "16"]))
      (is (not-any? texts ["2.51" "3.98" "6.31" "1.58"])))
    (testing "the variance axis at round 1-2-5 values or decades"
      (let [labels (map axis/tick-label (:major (axis/log-ticks (mapcat figure/layer-ys (mapcat :layers (:panels sde))))))]
        (is (seq labels))
        (is (every? texts labels))))
    (testing "a loss over decades: decade labels"
      (let [texts (svg-of (figure/figure :loss (synthetic-run {})) "loss")]
        (is (texts "10"))
        (is (some #(re-matches #"1e-\d+" %) texts))))))

(deftest render-names-the-formats-it-writes
  (is (thrown-with-msg? clojure.lang.ExceptionInfo #"\.svg, \.png or \.pdf"
                        (render/render! (figure/figure :loss (synthetic-run {})) (str (io/file out-dir "x.gif")))))
  (testing "PDF: a document with the figure's title as text"
    (let [p (render/render! (figure/figure :loss (synthetic-run {})) (str (io/file out-dir "x.pdf")))
          text (slurp p :encoding "ISO-8859-1")]
      (is (str/starts-with? text "%PDF"))
      (is (str/includes? text "%%EOF")))))

;; ---------------------------------------------------------------- light files

(deftest heavy-runs-make-light-files
  (let [n 20000
        ;; 10 modes recorded at every one of 20000 steps, the large ones on a period-2 cycle
        r (assoc (synthetic-run {:steps 10 :targets (mapv #(- 10.0 (double %)) (range 10))})
                 :trajectory {:step (vec (range n))
                              :loss (mapv #(+ 1e-3 (/ 1.0 (+ 1.0 (double %)))) (range n))
                              :modes (mapv (fn [^long k] (mapv (fn [^long i] (+ (- 10.0 i) (if (even? k) 0.05 -0.05) (Math/sin (* 1e-3 k i)))) (range 10)))
                                           (range n))})
        dir (io/file out-dir "light")
        paths (render/write-figures! r (str dir) {:figures [:loss :modes]})]
    (doseq [[nm [p]] paths
            :let [f (io/file p) svg (slurp f)]]
      (testing (str nm)
        (is (< (.length f) (* 300 1024)) "no figure file over 300 KB")
        (is (empty? (re-seq #"=\"[^\"]*\d\.\d{2,}[^\"]*\"" svg)) "pixel coordinates with at most 1 decimal")))
    (testing "the period-2 envelope survives the thinning: both sides of mode 1's cycle are drawn"
      (let [fig (figure/figure :modes r)
            mode-1 (first (filter #(= "mode 1, s1 = 10" (:series %)) (:layers (first (:panels fig)))))
            thinned (figure/thin (:points mode-1) 1600)
            ys (map second thinned)]
        (is (<= (count thinned) 1600))
        (is (== 10.05 (reduce max ys)))
        (is (== 9.95 (reduce min (take 800 ys))))))))

(deftest coordinates-are-rounded-to-what-2000-pixels-show
  (let [lin (axis/axis-rounder [0.0 400.0] false)
        lg (axis/axis-rounder [1e-5 1.0] true)]
    (is (= 127.58 (lin 127.57600000000002)))
    (doseq [v [0.123456789 33.33333333 399.999]]
      (is (<= (Math/abs (- (double (lin v)) (double v))) (/ 400.0 40000.0)) "within half a step of 1/20000 of the span"))
    (doseq [v [1.23456789e-5 0.0314159265 0.7777777]]
      (is (<= (Math/abs (Math/log (/ (double (lg v)) (double v)))) (/ (* 5.0 (Math/log 10.0)) 20000.0))
          "within 1/20000 of the span in log scale"))
    (is (= 5.0 ((axis/axis-rounder [5.0 5.0] false) 5.0)) "no span: unchanged")))
