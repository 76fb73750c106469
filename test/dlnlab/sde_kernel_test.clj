(ns dlnlab.sde-kernel-test
  "The SDE kernel's ensembles at every depth it specializes (2, 3, 4 and the
  general case 5) and every scheme, with noise, against the schemes written out
  here from their textbook form, and against the short-time moments of the
  Fokker-Planck equation in pi (dlnlab.theory.sde's drift and diffusion)."
  (:require [clojure.test :refer [deftest is testing]]
            [dlnlab.sde :as sde]
            [dlnlab.theory :as th]
            [dlnlab.theory.sde :as th-sde])
  (:import [dlnlab.kernel Normal Sde]))

(set! *warn-on-reflection* true)

;; --- the schemes, written out -----------------------------------------------------------
;;
;; Second-order jets [v v' v''] carry the derivatives the schemes need, so f', f'', g',
;; g'' come from the definitions of f and g, not from the kernel's algebra:
;;   f(a) = a^(L-1) (s - a^L),   g(a) = c a^(L-1) sqrt(2 (a^L - s)^2 + sigma^2).

(defn- j+ [[a b c] [d e f]] [(+ a d) (+ b e) (+ c f)])
(defn- j* [[a b c] [d e f]] [(* a d) (+ (* a e) (* b d)) (+ (* a f) (* 2.0 b e) (* c d))])
(defn- jconst [x] [(double x) 0.0 0.0])
(defn- jpow [x ^long n] (reduce j* (jconst 1.0) (repeat n x)))
(defn- jsqrt [[u u1 u2]]
  (let [s (Math/sqrt u) s1 (/ u1 (* 2.0 s))]
    [s s1 (/ (- (* 0.5 u2) (* s1 s1)) s)]))

(defn- coefficients
  "[f f' f'' g g' g''] at a."
  [a depth s c sigma]
  (let [x [(double a) 1.0 0.0]
        m (jpow x (dec (long depth)))
        e (j+ (jpow x depth) (jconst (- (double s))))
        f (j* m (j* e (jconst -1.0)))
        g (j* (jconst c) (j* m (jsqrt (j+ (j* (jconst 2.0) (j* e e)) (jconst (* sigma sigma))))))]
    (into f g)))

(defn- step
  "One step of the scheme (Kloeden-Platen's Euler-Maruyama, Milstein, and strong
  order 1.5 Taylor schemes for autonomous scalar SDEs)."
  [scheme a depth s c sigma dt dw dz]
  (let [[f f1 f2 g g1 g2] (coefficients a depth s c sigma)
        em (+ a (* f dt) (* g dw))
        mil (+ em (* 0.5 g g1 (- (* dw dw) dt)))]
    (case scheme
      :euler-maruyama em
      :milstein mil
      :taylor-1.5 (+ mil
                     (* f1 g dz)
                     (* 0.5 (+ (* f f1) (* 0.5 g g f2)) dt dt)
                     (* (+ (* f g1) (* 0.5 g g g2)) (- (* dw dt) dz))
                     (* 0.5 g (+ (* g g2) (* g1 g1)) (- (/ (* dw dw) 3.0) dt) dw)))))

(def ^:private scheme-codes {:euler-maruyama Sde/EULER_MARUYAMA :milstein Sde/MILSTEIN :taylor-1.5 Sde/TAYLOR_15})

(defn- ensemble
  "Runs Sde/ensemble and returns the final a as [[a per path] per mode]."
  [{:keys [depth s c sigma a0 paths seed scheme dt steps]}]
  (let [modes (count s)
        out (double-array (* 2 modes paths)) status (byte-array (* modes paths))]
    (Sde/ensemble (int depth) (double-array s) (int modes) (double c) (double sigma) (double-array a0) (int paths)
                  (long seed) (int (scheme-codes scheme)) (double dt) (int steps) (int steps)
                  Sde/ABSORBING 1e6 nil 0 2 out nil status)
    (vec (for [i (range modes)] (vec (for [p (range paths)] (aget out (+ (* (+ modes i) paths) p))))))))

(deftest ensembles-follow-the-schemes-at-every-depth
  ;; The documented increments: dW = sqrt(dt) z1, dZ = dt^1.5 (z1 + z2/sqrt 3)/2 with
  ;; z1, z2 = Normal.at(key(seed, path, mode), 2n and 2n + 1). The two routes round
  ;; differently (the kernel fuses multiply-adds); over 200 contracting steps the
  ;; difference stays near 1e-15, against 1e-10 allowed. A wrong power in a depth's
  ;; fast path, a wrong factor in a correction term or the noise of the wrong step
  ;; moves a path by 1e-4 or more.
  (doseq [depth [2 3 4 5] scheme [:euler-maruyama :milstein :taylor-1.5]]
    (let [spec {:depth depth :s [1.0 1.4 0.6] :c 0.25 :sigma 0.3 :paths 4 :seed 21 :scheme scheme
                :dt 0.005 :steps 200 :a0 (mapv #(Math/pow (double %) (/ 1.0 depth)) [0.2 1.0 0.9])}
          got (ensemble spec)
          dt 0.005 sq (Math/sqrt dt)]
      (doseq [i (range 3) p (range 4)]
        (let [key (Normal/key 21 p i)
              want (reduce (fn [a n]
                             (let [z1 (Normal/at key (* 2 (long n))) z2 (Normal/at key (inc (* 2 (long n))))]
                               (step scheme a depth ((:s spec) i) 0.25 0.3 dt (* sq z1)
                                     (* 0.5 dt sq (+ z1 (/ z2 (Math/sqrt 3.0)))))))
                           ((:a0 spec) i) (range 200))]
          (is (< (Math/abs (- (double (get-in got [i p])) (double want))) (* 1e-10 (Math/abs (double want))))
              (str scheme " depth " depth " mode " i " path " p ": " (get-in got [i p]) " vs " want)))))))

(deftest short-time-moments-match-the-fokker-planck-coefficients
  ;; From pi0, after time h: E[pi(h) - pi0] = h drift(pi0) + O(h^2) and
  ;; Var pi(h) = h D(pi0) + O(h^2), drift and D the Ito coefficients of the SDE in pi
  ;; (dlnlab.theory). With h = 2e-3 the O(h) relative bias is below 1%. The sample
  ;; variance of P paths has standard error sqrt(2/P) = 1.1% (P = 16000); the test
  ;; allows 5% (4.5 standard errors, false alarm 7e-6). The noise term with 2 e^2
  ;; replaced by e^2 changes D by 25% here, a wrong noise scale c by 2 c dc.
  ;; The mean is noisy (its standard error sqrt(D/(P h)) is 0.2 here), so it is
  ;; checked against the noise-free flow, whose drift it shares, within 4.5 standard
  ;; errors.
  (doseq [depth [2 3 4 5] scheme [:euler-maruyama :milstein :taylor-1.5]]
    (let [pi0 0.5 s 1.0 lr 0.5 b 2.0 sigma 0.5 h 2e-3 steps 20 paths 16000
          a0 (Math/pow pi0 (/ 1.0 depth))
          finals (first (ensemble {:depth depth :s [s] :c (Math/sqrt (/ lr b)) :sigma sigma :a0 [a0] :paths paths :seed 8
                                   :scheme scheme :dt (/ h steps) :steps steps}))
          pis (map #(Math/pow (double %) (double depth)) finals)
          mean (/ (double (reduce + pis)) paths)
          var (/ (double (reduce + (map #(Math/pow (- (double %) mean) 2.0) pis))) (dec paths))
          params {:s s :depth depth :lr lr :batch-size b :label-noise sigma}
          d (th-sde/diffusion params pi0)]
      (testing (str scheme " depth " depth)
        (is (< (Math/abs (- (/ var h) d)) (* 0.05 d)) (str "D: " (/ var h) " vs " d))
        (is (< (Math/abs (- (/ (- mean pi0) h) (th-sde/drift params pi0))) (* 4.5 (Math/sqrt (/ d (* paths h)))))
            (str "drift: " (/ (- mean pi0) h) " vs " (th-sde/drift params pi0)))))))

(deftest noise-free-ensembles-are-gradient-flow-at-depths-4-and-5
  ;; with :noise false every scheme integrates da/dt = a^(L-1) (s - a^L); the
  ;; closed-form flow (dlnlab.theory) is the reference. Euler's global error is
  ;; O(dt) = 1e-3 relative; the order 1.5 scheme is then Taylor order 2 in dt.
  (doseq [depth [4 5]]
    (let [modes [{:s 1.0 :pi0 0.05} {:s 2.0 :pi0 0.3}]
          base {:modes modes :depth depth :noise false :paths 2 :dt 1e-3 :time 4.0 :record {:points 5}}]
      (doseq [[scheme tol] [[:euler-maruyama 5e-3] [:milstein 5e-3] [:taylor-1.5 1e-5]]]
        (let [r (sde/simulate (assoc base :scheme scheme))]
          (doseq [[t row] (map vector (:time r) (:mean r)) i [0 1]]
            (let [want (th/gradient-flow-pi (assoc (modes i) :depth depth) t)]
              (is (< (Math/abs (- (double (row i)) want)) (* tol want)) (str scheme " depth " depth " t " t " mode " i)))))))))
