(ns dlnlab.studies.edge-of-stability-test
  (:require [clojure.java.io :as io]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.core :as core]
            [dlnlab.dense :as dense]
            [dlnlab.studies.edge-of-stability :as eos]
            [dlnlab.studies.edge-of-stability.measure :as measure]
            [dlnlab.figure :as fig]
            [dlnlab.render :as render]
            [dlnlab.sde :as sde]
            [dlnlab.temp-dir :as temp-dir]
            [dlnlab.theory :as theory]
            [dlnlab.theory.gd-map :as gd-map])
  (:import [java.nio.file Files]
           [java.nio.file.attribute FileAttribute]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def ^:private result (delay (eos/reduced)))

;; ---------------------------------------------------------------- theory against independent routes

(deftest thresholds-bracket-brute-force-periods
  ;; The Newton/multiplier route against plain iteration of the map: just below
  ;; each doubling point the orbit repeats with the old period, just above not.
  (doseq [L [3 4]]
    (let [pd (gd-map/doubling-points L {:count 3})]
      (doseq [[k p] [[:r4 2] [:r8 4]]]
        (let [r (double (get pd k))
              d (if (= p 2) 0.01 0.003)
              period-at #(measure/exact-period (gd-map/gd-map-orbit % L 0.9 200000 400) 64 1e-9)]
          (is (= p (period-at (- r d))) (str "L " L " below " k))
          (is (= (* 2 (long p)) (period-at (+ r d))) (str "L " L " above " k)))))))

(deftest thresholds-are-hessian-eigenvalues-at-the-minimum
  ;; 2/S_i and 2/lambda_12 against the exact Hessian of a network at the
  ;; balanced, aligned minimum.
  (let [targets [3.0 2.0]
        L 3
        net (core/network {:seed 1
                           :model {:kind :chain :depth L :width 2
                                   :init {:kind :balanced-aligned :strengths targets}}
                           :task {:kind :matrix-factorization :singular-values targets :dims [2 2] :basis :random}})
        eig (vec (:values (core/hessian-eigenvalues net {:k 4})))
        [t1 t2] (theory/oscillation-thresholds L targets)
        cross (theory/cross-threshold L targets 0 1)
        expected (sort > (map #(/ 2.0 (double %)) [t1 t2 cross (theory/cross-threshold L targets 1 0)]))]
    (is (< (double t1) cross (double t2)))
    (doseq [[a b] (map vector eig expected)]
      (is (< (Math/abs (- (double a) (double b))) (* 1e-8 (double b))) (str eig " vs " (vec expected))))))

(deftest two-sample-ks-through-the-empirical-cdf
  ;; dlnlab.sde/ks-distance against an empirical CDF is the two-sample distance
  ;; sup |F_a - F_b|, here found by brute force at every point of both samples
  (let [rng (java.util.Random. 5)]
    (doseq [[na nb shift] [[50 80 0.0] [200 30 0.4] [7 7 2.0]]]
      (let [a (vec (repeatedly na #(.nextGaussian rng)))
            b (vec (repeatedly nb #(+ (double shift) (.nextGaussian rng))))
            cdf (fn [xs x] (/ (double (count (filter #(<= (double %) (double x)) xs))) (count xs)))
            brute (reduce max 0.0 (for [x (concat a b)] (Math/abs (- (double (cdf a x)) (double (cdf b x))))))]
        (is (< (Math/abs (- (double brute) (double (sde/ks-distance a (measure/empirical-cdf b))))) 1e-12)
            (str na " vs " nb " shifted " shift)))))
  (is (== 1.0 (sde/ks-distance [5.0 6.0] (measure/empirical-cdf [1.0 2.0 3.0]))) "disjoint samples"))

(deftest predicted-count
  (let [t (theory/oscillation-thresholds 3 [10.0 8.5 7.0])]
    (is (apply < t))
    (is (= [0 1 2 3] (mapv #(theory/oscillating-mode-count [10.0 8.5 7.0] 3 %)
                           (eos/claim-learning-rates {:depth 3 :targets [10.0 8.5 7.0]}))))))

;; ---------------------------------------------------------------- the claim, on the reduced run

(deftest oscillating-modes-match-theory
  (let [rows (:claim @result)]
    (testing "one learning rate per theory count 0..3: the contrast is built in"
      (is (= [0 1 2 3] (mapv :predicted rows))))
    (doseq [row rows]
      (is (= :completed (:status row)))
      (is (= (:predicted row) (:measured row)) (str "lr " (:lr row) " periods " (:mode-periods row)))
      (testing "exactly the top modes oscillate"
        (is (= (vec (range (:predicted row))) (:oscillating-modes row)))))))

(deftest balance-gap-decays-past-eos-and-flow-conserves-it
  (let [rows (:claim @result)
        below (first rows)
        past (peek rows)]
    (is (< (double (get-in past [:gap :ratio])) 0.1) "GD past the edge of stability for every mode")
    (is (> (double (get-in below [:gap :ratio])) 0.5) "contrast: GD below it keeps most of the gap")
    (testing "per mode: the gap vanishes exactly in the oscillating modes"
      (doseq [row rows
              [i g] (map-indexed vector (:mode-gap-ratios row))]
        (if (< (long i) (long (:predicted row)))
          (is (< (double g) 1e-6) (str "lr " (:lr row) " mode " i))
          (is (> (double g) 0.3) (str "lr " (:lr row) " mode " i)))))
    (is (= :completed (get-in @result [:flow :status])))
    (is (< (double (get-in @result [:flow :max-relative-change])) 1e-6))))

(deftest network-follows-the-map
  (testing "late values: periodic rows sit on the map's cycle"
    (let [rows (for [row (:claim @result) a (:map-agreement row) :when (:max-distance a)] a)]
      (is (>= (count rows) 8))
      (is (every? #(< (double (:max-distance %)) 1e-8) rows))))
  (testing "the network's period doubles across the map's r_4"
    (is (= 2 (get-in @result [:network-periods :below])))
    (is (= 4 (get-in @result [:network-periods :above])))))

;; ---------------------------------------------------------------- the report's checks

(deftest checks-fail-on-a-section-that-misses-the-claim
  ;; a section built by hand: the claim rows of the reduced run (which agree),
  ;; then one row whose measured count differs, a gap that did not decay, a
  ;; doubling point far from the map's, and an onset far from 2/lambda_12
  (let [rows (:claim @result)
        good {:depth 3
              :mode-count {:claim rows :sweep rows}
              :balance-gap {:gd-past-eos {:gap {:ratio 1e-12}} :gd-below-eos {:gap {:ratio 0.7}}
                            :gradient-flow {:max-relative-change 1e-10}}
              :bifurcation {:network-thresholds [{:doubling [2 4] :network-minus-exact 2e-4}]
                            :diagram-agreement {:max-distance 1e-14 :max-ks 0.03 :max-ks-control 0.04
                                                :max-outside-band 0.0}}
              :random-basis {:onset {:lr-onset 0.0345 :cross-threshold 0.03435}}}
        bad (-> good
                (update-in [:mode-count :sweep] conj {:lr 0.05 :predicted 3 :measured 2})
                (assoc-in [:balance-gap :gd-past-eos :gap :ratio] 0.5)
                (assoc-in [:bifurcation :network-thresholds 0 :network-minus-exact] 0.01)
                (assoc-in [:bifurcation :diagram-agreement :max-ks] 0.2)
                (assoc-in [:random-basis :onset :lr-onset] 0.0378))]
    (is (every? :pass? (vals (eos/checks [good]))))
    (is (not-any? :pass? (vals (eos/checks [bad]))))
    (is (= [{:lr 0.05 :predicted 3 :measured 2 :depth 3}]
           (map #(dissoc % :mode-periods) (:failures (:mode-count (eos/checks [bad]))))))))

;; ---------------------------------------------------------------- figures

(defn- layers [fig] (mapcat :layers (:panels fig)))
(defn- layer [fig series] (first (filter #(= series (:series %)) (layers fig))))

(defn- step-value
  "The y of a step polyline at x: the last point at or left of x (a vertical step
  lists two points at the same x; the later one holds to the right)."
  [points x]
  (second (last (filter #(<= (double (first %)) (double x)) points))))

(deftest figures-are-plot-figure-data-with-the-theory-beside-the-runs
  (let [rows (:claim @result)
        depth 3
        targets (:targets eos/setup)
        pd (gd-map/doubling-points depth {:count 2})
        counts (fig/figure :eos-oscillating-modes {:depth depth :targets targets :rows rows})
        gap (fig/figure :eos-balance-gap {:depth depth :series [["GD" [[0.0 1e-2] [1.0 1e-5] [2.0 0.0]]]
                                                                 ["flow" [[0.0 1e-2] [2.0 1e-2]]]]})
        map-rows (for [r [1.9 2.3 2.55]] {:r r :xs (gd-map/gd-map-orbit r depth 0.9 2000 8)})
        bif (fig/figure :eos-bifurcation {:depth depth :map-rows map-rows
                                           :net-rows [{:r 2.3 :mode 0 :xs [0.8 1.1]} {:r 1.9 :mode 1 :xs [1.0]}]
                                           :pd pd})]
    (is (= [:L3-oscillating-modes :L3-balance-gap :L3-bifurcation] (mapv :name [counts gap bif])))
    (testing "counts: the theory's step curve gives each claim row's predicted count; measured points are the runs'"
      (let [theory (:points (layer counts "theory #{i : η > 2/S_i}"))]
        (doseq [row rows]
          (is (= (:predicted row) (step-value theory (:lr row))) (str "lr " (:lr row)))))
      (is (= (mapv (juxt :lr :measured) rows) (:points (layer counts "measured (dlnlab.analysis)"))))
      (is (= (theory/oscillation-thresholds depth targets)
             (mapv :x (filter #(= :x-rule (:mark %)) (layers counts))))))
    (testing "gap: the log axis drops the zero the run reached, the rest is kept"
      (is (:log? (:y gap)))
      (is (= [[0.0 1e-2] [1.0 1e-5]] (:points (layer gap "GD")))))
    (testing "bifurcation: map and network series, the map's doubling points as vertical lines"
      (is (= #{"per-mode map" "network, mode 1" "network, mode 2" "the map's r_2, r_4, ..., r_∞, zero crisis"}
             (set (map :name (:series bif)))))
      (is (= (set (vals pd)) (set (map :x (filter #(= :x-rule (:mark %)) (layers bif))))))
      (testing "the map's 2-cycle at r = 2.3 shows as two distinct late values"
        (is (= 2 (count (distinct (map #(Math/round (* 1e6 (double (second %))))
                                       (filter #(= 2.3 (first %)) (:points (layer bif "per-mode map"))))))))))
    (testing "written as SVG and Vega-Lite JSON by dlnlab.render/write-figure-data!"
      (let [dir (.toFile (Files/createTempDirectory "eos-fig" (make-array FileAttribute 0)))]
        (try
          (let [written (render/write-figure-data! [counts gap bif] (str dir))]
            (is (= #{:L3-oscillating-modes :L3-balance-gap :L3-bifurcation} (set (keys written))))
            (doseq [[_ paths] written p paths]
              (is (pos? (.length (io/file p))) p)))
          (finally (temp-dir/delete-tree dir)))))))

;; ---------------------------------------------------------------- the claim, recomputed without the study's code

(defn- balance-gap-norm
  "sqrt(sum_l ||W_(l+1)^T W_(l+1) - W_l W_l^T||_F^2) of a chain's weights [W_1 .. W_L]
  (row-major, W_1 first), computed here by plain matrix products."
  ^double [ws]
  (Math/sqrt (reduce + (for [[a b] (map vector ws (rest ws))]
                         (double (dense/frob2 (dense/msub (dense/mmul (dense/transpose b) b)
                                                          (dense/mmul a (dense/transpose a)))))))))

(deftest oscillating-modes-recomputed-from-the-raw-trajectory
  ;; The claim: at learning rate eta exactly the modes with eta > 2/S_i, S_i =
  ;; L s_i^(2 - 2/L), oscillate. Predicted here from that closed form; measured
  ;; here from each run's recorded :modes over the last 200 of 3000 steps (not
  ;; through dlnlab.analysis): a converged mode moves by at most its linear
  ;; contraction |1 - eta S_i|^2800 times s_i (when that is below 1), or by
  ;; rounding (64 ulp of s_i);
  ;; an oscillating mode moves by a fixed fraction of s_i every step. The two
  ;; are told apart only when they are a million times apart.
  (let [cfg (assoc eos/setup :steps 3000)
        depth (long (:depth cfg))
        targets (:targets cfg)
        sharp (mapv #(* depth (Math/pow (double %) (- 2.0 (/ 2.0 depth)))) targets)
        rows (:claim @result)]
    (is (= (count rows) (count (eos/claim-learning-rates cfg))))
    (doseq [[lr row] (map vector (eos/claim-learning-rates cfg) rows)]
      (let [lr (double lr)
            r (core/run (eos/factorization-experiment (assoc cfg :lr lr :metrics [:modes])))
            late (take-last 200 (get-in r [:trajectory :modes]))
            predicted (vec (keep-indexed (fn [i ^double s] (when (> (* lr s) 2.0) i)) sharp))
            moves (vec (for [i (range (count targets))]
                         (let [xs (mapv #(double (nth % i)) late)]
                           (reduce max (map #(Math/abs (- ^double %1 ^double %2)) (rest xs) xs)))))
            converged-tol (vec (for [[i s] (map-indexed vector targets)
                                     :let [s (double s) c (Math/abs (- 1.0 (* lr (double (nth sharp i)))))]]
                                 ;; past 2/S_i the minimum is linearly unstable: only rounding is left
                                 (max (* 64.0 (Math/ulp s)) (if (< c 1.0) (* s (Math/pow c 2800.0)) 0.0))))
            measured (vec (keep-indexed (fn [i ^double m] (when (> m (* 1e6 (double (nth converged-tol i)))) i)) moves))]
        (is (= :completed (:status r)))
        (doseq [i (range (count targets))]
          (is (or (<= (double (nth moves i)) (double (nth converged-tol i)))
                  (> (double (nth moves i)) (* 1e6 (double (nth converged-tol i)))))
              (str "lr " lr " mode " i ": late step " (nth moves i) " is neither converged nor oscillating")))
        (is (= predicted measured) (str "lr " lr " moves " moves))
        (testing "the study's row says the same"
          (is (= (count predicted) (:predicted row) (:measured row)))
          (is (= measured (:oscillating-modes row))))))
    (is (= [0 1 2 3] (mapv :predicted rows)) "every count 0..3 is represented")))

(deftest balance-gap-recomputed-from-the-final-weights
  ;; The claim: GD past the edge of stability for every mode removes the balance
  ;; gap, GD below it keeps most of it. The gap is computed here from the weights
  ;; (initial: W_1 = W_2 = alpha I, W_3 = 0, so its norm is alpha^2 sqrt(3)).
  (let [cfg (assoc eos/setup :steps 3000)
        lrs (eos/claim-learning-rates cfg)
        alpha (double (:alpha cfg))
        g0 (* alpha alpha (Math/sqrt 3.0))
        final-gap (fn [lr] (let [exp (-> (eos/factorization-experiment (assoc cfg :lr lr :metrics [:loss]))
                                         (assoc-in [:record :final-weights] true))
                                 r (core/run exp)]
                             (is (= :completed (:status r)))
                             (balance-gap-norm (first (get-in r [:final :weights])))))
        init (core/network (eos/factorization-experiment (assoc cfg :lr (first lrs))))
        init-gap (balance-gap-norm (first (core/weights init)))]
    (is (< (Math/abs (- init-gap g0)) (* 1e-12 g0)) "the initial gap from the weights is alpha^2 sqrt(3)")
    (is (< (/ (double (final-gap (peek lrs))) g0) 0.1) "past the edge for every mode: the gap is gone")
    (is (> (/ (double (final-gap (first lrs))) g0) 0.5) "below the edge: most of the gap is kept")))
