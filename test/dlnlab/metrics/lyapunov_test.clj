(ns dlnlab.metrics.lyapunov-test
  "Lyapunov exponents of the GD map against independent routes. A scalar chain
  (every width 1) started balanced stays balanced, and its Hessian there has a
  closed form, H = a^(2L-2) 11^T + e a^(L-2) (11^T - I) (e = a^L - s): every J
  along the orbit has the eigenvector 1 (the per-mode GD map of doc/science.md
  §6, multiplier map'(x)) and the rest of the space (multiplier 1 + lr e
  a^(L-2)). So the network's exponents, found by HVPs and QR on the full
  parameter vector, must be the per-mode map's exponent (dlnlab.theory.gd-map,
  a scalar orbit in Java) and the mean ln |1 + lr e a^(L-2)| along the orbit."
  (:require [clojure.edn :as edn]
            [clojure.test :refer [deftest is testing]]
            [dlnlab.core]
            [dlnlab.experiment :as experiment]
            [dlnlab.metrics.lyapunov :as lyapunov]
            [dlnlab.network :as network]
            [dlnlab.result :as result]
            [dlnlab.sweep :as sweep]
            [dlnlab.theory :as theory]
            [dlnlab.theory.gd-map :as gd-map]))

(set! *warn-on-reflection* true)

(defn- scalar-chain
  "A GD experiment on a balanced scalar chain of depth L with target s, started
  at normalized x0 (a = x0 s^(1/L)), at normalized learning rate r = lr S."
  [depth s x0 r steps]
  (let [a (* (double x0) (Math/pow s (/ 1.0 depth)))]
    {:seed 1
     :model {:kind :chain :widths (vec (repeat (inc depth) 1))
             :init {:kind :given :weights [(vec (repeat depth [[a]]))]}}
     :task {:kind :matrix-factorization :singular-values [s] :basis :identity}
     :optimizer {:kind :gd :lr (/ (double r) (theory/single-path-sharpness s depth))}
     :steps steps}))

(defn- block-standard-error
  "Standard error of the mean of xs by the means of blocks of b values (the
  values are correlated along an orbit; blocks much longer than the correlation
  time are nearly independent)."
  ^double [xs ^long b]
  (let [means (mapv #(/ (double (reduce + %)) b) (partition b xs))
        m (/ (double (reduce + means)) (count means))
        var (/ (double (reduce + (map #(let [d (- (double %) m)] (* d d)) means))) (dec (count means)))]
    (Math/sqrt (/ var (count means)))))

(deftest scalar-network-exponent-equals-the-per-mode-maps
  ;; in the chaotic band the balanced direction leads: the largest exponent is the map's
  (doseq [[depth s r] [[2 1.5 2.8] [3 0.8 2.9]]]
    (let [exp (scalar-chain depth s 0.9 r 1)
          net (network/network exp)
          lr (get-in exp [:optimizer :lr])
          n 20000 transient 2000
          got (lyapunov/exponents net {:lr lr :steps n :transient transient})
          want (gd-map/gd-map-lyapunov r depth {:x0 0.9 :transient transient :n n})
          ;; the two finite-time averages follow orbits that part after ~50 steps:
          ;; their difference has about sqrt(2) times the standard error of one
          orbit (gd-map/gd-map-orbit r depth 0.9 transient n)
          se (block-standard-error (mapv #(Math/log (Math/abs (gd-map/gd-map-derivative r depth %))) orbit) 500)]
      (is (pos? (double want)) "a chaotic r")
      (is (< (Math/abs (- (double (first (:exponents got))) (double want))) (* 5.0 (Math/sqrt 2.0) se))
          (str "depth " depth " r " r ": network " (:exponents got) " map " want " se " se)))))

(deftest scalar-network-spectrum-on-a-cycle-is-the-closed-form
  ;; on an attracting p-cycle both exponents are exact averages over the cycle
  (doseq [[depth s r p] [[2 1.5 2.3 2] [3 0.8 2.2 2] [2 1.5 2.5 4]]]
    (let [exp (scalar-chain depth s 0.9 r 1)
          net (network/network exp)
          lr (double (get-in exp [:optimizer :lr]))
          {:keys [points multiplier]} (gd-map/gd-map-cycle r depth p)
          along (/ (Math/log (Math/abs (double multiplier))) p)
          across (/ (double (reduce + (for [x points
                                            :let [a (* (double x) (Math/pow s (/ 1.0 depth)))
                                                  e (- (Math/pow a depth) s)]]
                                        (Math/log (Math/abs (+ 1.0 (* lr e (Math/pow a (- depth 2)))))))))
                    p)
          got (lyapunov/exponents net {:lr lr :steps (* 250 p) :transient 4000 :k depth})
          want (vec (sort > (into [along] (repeat (dec depth) across))))]
      (is (= depth (count (:exponents got))))
      (doseq [[g w] (map vector (sort > (:exponents got)) want)]
        (is (< (Math/abs (- (double g) (double w))) 1e-6)
            (str "depth " depth " r " r ": " (:exponents got) " vs " want))))))

(deftest the-metric-follows-the-run-it-records
  (let [exp (-> (scalar-chain 2 1.5 0.9 2.8 600)
                (assoc :record {:every 50 :metrics [:loss :lyapunov :lyapunov-spectrum]
                                :lyapunov-spectrum {:window? true :k 2}}))
        result (experiment/run exp)
        tr (:trajectory result)
        direct (lyapunov/exponents (network/network exp) {:lr (get-in exp [:optimizer :lr]) :steps 600 :k 2})]
    (testing "nil at the first record, a number at every later one"
      (is (nil? (first (:lyapunov tr))))
      (is (every? number? (rest (:lyapunov tr)))))
    (testing "the cumulative exponent at the end is the one of the map run on its own from the start"
      (is (< (Math/abs (- (double (peek (:lyapunov tr))) (double (first (:exponents direct))))) 1e-12)))
    (testing "window averages weighted by their steps give the cumulative spectrum"
      (let [windows (rest (:lyapunov-spectrum tr))
            steps (map - (rest (:step tr)) (:step tr))
            total (reduce + steps)]
        (is (every? #(= 2 (count %)) windows))
        (doseq [i [0 1]]
          (is (< (Math/abs (- (/ (double (reduce + (map #(* (double %2) (double (nth %1 i))) windows steps))) total)
                              (double (nth (:exponents direct) i))))
                 1e-12)))))
    (testing "the replay lands where the run is: the map's end point is the run's final weights"
      (is (= (vec (:params direct)) (vec (flatten (get-in result [:final :weights]))))))))

(deftest nil-unless-gradient-descent
  (let [exp {:seed 3 :model {:kind :chain :widths [2 3 2]}
             :task {:kind :teacher-student :input-dim 2 :output-dim 2 :samples 16}
             :optimizer {:kind :sgd :lr 0.05 :batch-size 4} :steps 20
             :record {:every 10 :metrics [:lyapunov]}}]
    (is (every? nil? (get-in (experiment/run exp) [:trajectory :lyapunov])))))

(deftest example-lyapunov-cascade-claim
  ;; examples/lyapunov-cascade.edn: negative on the cycles below r_inf, positive
  ;; past it and there the per-mode map's exponent
  (let [sw (edn/read-string (slurp "examples/lyapunov-cascade.edn"))
        base (:base sw)
        steps (long (:steps base))
        s1 2.0 depth 2
        r-inf (double (:r-inf (gd-map/doubling-points depth)))
        late (fn [r] (let [vs (result/late-values r :lyapunov)] (/ (double (reduce + vs)) (count vs))))
        rs (sweep/sweep base {[:optimizer :lr] [1.15 1.27 1.375 1.42 1.51]} {:jobs 2})]
    (is (every? #(= :completed (:status %)) rs))
    (doseq [r rs
            :let [lr (double (get-in r [:experiment :optimizer :lr]))
                  rr (* lr s1)
                  got (late r)]]
      (if (< rr r-inf)
        (is (neg? got) (str "lr " lr " (r = " rr " < r_inf = " r-inf "): " got))
        (let [;; the late records average the last fifth of the run
              window (quot steps 5)
              orbit (gd-map/gd-map-orbit rr depth 0.9 4000 (* 40 window))
              spread (block-standard-error (mapv #(Math/log (Math/abs (gd-map/gd-map-derivative rr depth %))) orbit) window)
              ;; spread is the error of a mean over 40 windows; one window's is sqrt(40) times it
              tol (* 4.0 (Math/sqrt 2.0) (Math/sqrt 40.0) spread)
              want (double (gd-map/gd-map-lyapunov rr depth {:x0 0.9}))]
          (is (pos? got) (str "lr " lr ": " got))
          (is (< (Math/abs (- got want)) tol) (str "lr " lr ": network " got " map " want " tol " tol)))))))
