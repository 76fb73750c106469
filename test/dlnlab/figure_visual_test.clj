(ns dlnlab.figure-visual-test
  "Visual regression of every figure kind: each figure of
  dlnlab.figure-fixtures/all-figures (a fixed small case per kind) is drawn to
  PNG by dlnlab.render and compared with its reference image in
  test/resources/figures/ (gray, 16 levels, a few KB each).

  The tolerance: the same JVM draws the same pixels, but another JDK's font
  rasterizer and antialiasing move glyph and line edges by a pixel; such
  changes touch a few hundred pixels of the 208000 or more (mostly text). A figure
  passes when at most `max-changed` of its pixels differ by more than
  `level-tolerance` gray levels. A moved line or a lost series changes more
  (checked below with a figure whose data is changed).

  To accept new references after an intended change of the figures:
    DLNLAB_UPDATE_FIGURES=1 lein test :only dlnlab.figure-visual-test
  then look at test/resources/figures/*.png. A failing figure's image and a
  difference image are written to target/plot-test/visual/."
  (:require [clojure.java.io :as io]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.figure :as figure]
            [dlnlab.figure-fixtures :refer [all-figures out-dir synthetic-run]]
            [dlnlab.render :as render])
  (:import [java.awt.image BufferedImage]
           [javax.imageio ImageIO]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def ^:private ^java.io.File reference-dir (io/file "test" "resources" "figures"))
(def ^:private ^java.io.File work-dir (io/file out-dir "visual"))
;; 400 px wide; the height render! gives a figure of its panels
(def ^:private size {:width 400 :scale 1.0})

(def level-tolerance
  "Gray levels (of 255) by which a pixel may differ without counting as changed:
  more than one step of the 16 stored levels."
  40)

(def max-changed
  "The fraction of a figure's pixels that may change (edges of text and lines
  rasterized by another JDK): 0.3%, about 600 pixels of a one-panel figure.
  Losing the test loss of the loss figure changes 0.65%, moving its line
  more (checked below)."
  0.003)

(defn- quantized-gray
  "The image as 16 gray levels (0, 17, ..., 255) in a gray image: what a
  reference stores."
  ^BufferedImage [^BufferedImage img]
  (let [w (.getWidth img) h (.getHeight img)
        out (BufferedImage. w h BufferedImage/TYPE_BYTE_GRAY)
        raster (.getRaster out)]
    (dotimes [y h]
      (dotimes [x w]
        (let [rgb (.getRGB img x y)
              r (bit-and (bit-shift-right rgb 16) 0xff) g (bit-and (bit-shift-right rgb 8) 0xff) b (bit-and rgb 0xff)
              lum (/ (+ (* 299 r) (* 587 g) (* 114 b)) 1000)
              level (* 17 (Math/round (/ (double lum) 17.0)))]
          (.setSample raster x y 0 (int level)))))
    out))

(defn- gray-at ^long [^BufferedImage img ^long x ^long y]
  (long (.getSample (.getRaster img) (int x) (int y) 0)))

(defn- changed-fraction
  "The fraction of pixels of two gray images of one size that differ by more
  than `level-tolerance` (1.0 for images of different sizes)."
  ^double [^BufferedImage a ^BufferedImage b]
  (if (or (not= (.getWidth a) (.getWidth b)) (not= (.getHeight a) (.getHeight b)))
    1.0
    (let [w (.getWidth a) h (.getHeight a)
          n (long (reduce + (for [y (range h) x (range w)
                                  :when (> (Math/abs (- (gray-at a x y) (gray-at b x y))) (long level-tolerance))]
                              1)))]
      (/ (double n) (double (* w h))))))

(defn- difference-image
  "Red where a and b differ by more than the tolerance, b faint elsewhere."
  ^BufferedImage [^BufferedImage a ^BufferedImage b]
  (let [w (.getWidth b) h (.getHeight b)
        out (BufferedImage. w h BufferedImage/TYPE_INT_RGB)]
    (dotimes [y h]
      (dotimes [x w]
        (let [vb (gray-at b x y)
              va (if (and (< x (.getWidth a)) (< y (.getHeight a))) (gray-at a x y) 255)
              faint (+ 192 (quot vb 4))]
          (.setRGB out x y (int (if (> (Math/abs (- va vb)) (long level-tolerance))
                                  0xff0000
                                  (+ (* faint 65536) (* faint 256) faint)))))))
    out))

(defn- drawn
  "fig drawn to PNG at the reference size, read back as 16 gray levels."
  ^BufferedImage [fig ^String name]
  (let [f (io/file work-dir (str name ".png"))]
    (render/render! fig (str f) size)
    (quantized-gray (ImageIO/read f))))

(defn- update? [] (some? (System/getenv "DLNLAB_UPDATE_FIGURES")))

(deftest every-figure-kind-looks-as-its-reference
  (.mkdirs work-dir)
  (doseq [[name fig] (all-figures)
          :let [img (drawn fig name)
                ref-file (io/file reference-dir (str name ".png"))]]
    (testing name
      (if (update?)
        (do (.mkdirs reference-dir) (ImageIO/write img "png" ref-file))
        (do
          (is (.exists ref-file) (str "no reference image " ref-file "; make one with DLNLAB_UPDATE_FIGURES=1"))
          (when (.exists ref-file)
            (let [ref (ImageIO/read ref-file)
                  changed (changed-fraction ref img)]
              (when (> changed (double max-changed))
                (ImageIO/write img "png" (io/file work-dir (str name "-actual.png")))
                (ImageIO/write (difference-image ref img) "png" (io/file work-dir (str name "-difference.png"))))
              (is (<= changed (double max-changed))
                  (str name ": " (format "%.2f%%" (* 100.0 changed)) " of the pixels changed; see "
                       (io/file work-dir (str name "-difference.png")))))))))))

(deftest the-comparison-sees-a-changed-figure
  (let [run (synthetic-run {})
        base (drawn (figure/figure :loss run) "loss-base")]
    (is (zero? (changed-fraction base (drawn (figure/figure :loss run) "loss-again"))) "the same figure, the same pixels")
    (testing "the loss ten times larger: the line moves"
      (let [moved (drawn (figure/figure :loss (update-in run [:trajectory :loss] #(mapv (fn [v] (* 10.0 (double v))) %)))
                         "loss-moved")]
        (is (> (changed-fraction base moved) (double max-changed)))))
    (testing "the test loss missing"
      (let [lost (drawn (figure/figure :loss (update run :trajectory dissoc :test-loss)) "loss-lost")]
        (is (> (changed-fraction base lost) (double max-changed)))))))
