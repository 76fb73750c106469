(ns dlnlab.model-test
  (:require [dlnlab.dense :refer [absd madd mmul transpose]]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.generators :as gen]
            [clojure.test.check.properties :as prop]
            [dlnlab.gen :as g]
            [dlnlab.model :as model]
            [dlnlab.model.packing :as packing]
            [dlnlab.spec :as spec]
            [dlnlab.linalg :as linalg]
            [dlnlab.task :as task])
  (:import [dlnlab.kernel Arch]
           [java.util Arrays]))

;; ---------------------------------------------------------------------------
;; Plain nested-vector linear algebra: the independent route

(defn- zeros [r c] (vec (repeat r (vec (repeat c 0.0)))))
(defn- eye [n] (mapv (fn [i] (mapv (fn [j] (if (= i j) 1.0 0.0)) (range n))) (range n)))
(defn- dot [x y] (reduce + (map * x y)))
(defn- col [m j] (mapv #(nth % j) m))
(defn- max-abs [a] (reduce max 0.0 (map absd (flatten a))))
(defn- max-abs-diff [a b] (reduce max 0.0 (map #(absd (- (double %1) (double %2))) (flatten a) (flatten b))))

(defn- factor-matrices
  "Per pathway, the effective factors alpha W (+ I) read straight from the packed
  column-major params at the layout's offsets."
  [layout ^doubles params]
  (mapv (fn [fs]
          (mapv (fn [{:keys [rows cols offset alpha identity?]}]
                  (mapv (fn [i] (mapv (fn [j] (+ (* alpha (aget params (+ offset i (* j rows))))
                                                 (if (and identity? (= i j)) 1.0 0.0)))
                                      (range cols)))
                        (range rows)))
                fs))
        layout))

(defn- pathway-product [gs] (reduce (fn [acc gm] (mmul gm acc)) gs))

(defn- end-to-end [layout params]
  (reduce madd (map pathway-product (factor-matrices layout params))))

(defn- svd-sum
  "sum_i pi_i u_i v_i^T from a target SVD."
  [{:keys [u v]} pis]
  (reduce madd (zeros (count u) (count v))
          (map-indexed (fn [i p] (mapv (fn [ua] (mapv (fn [vb] (* p ua vb)) (col v i))) (col u i))) pis)))

(defn- build
  "Task and model of an experiment."
  [{:keys [seed model task]}]
  (let [t (task/build-task task seed)]
    [t (model/build-model model (:dims t) seed (:target-svd t))]))

(defn- thrown-data [f]
  (try (f) nil (catch clojure.lang.ExceptionInfo e (assoc (ex-data e) :message (ex-message e)))))

;; ---------------------------------------------------------------------------
;; Layout, Arch, multipliers

(defspec every-generated-experiment-builds-and-its-layout-is-the-archs 60
  (prop/for-all [x g/experiment]
    (let [[t {:keys [^Arch arch ^doubles params layout lr-multiplier] :as m}] (build x)
          fs (vec (apply concat layout))]
      (and (is (= (.size arch) (alength params) (packing/layout-size layout)))
           (is (= (mapv :offset fs) (vec (.offset arch))) "offsets contiguous in factor order, as Arch computes them")
           (is (= (mapv :rows fs) (vec (.rows arch))))
           (is (= (mapv :alpha fs) (vec (.alpha arch))))
           (is (= (count layout) (.pathways arch)))
           (is (= layout (packing/arch->layout arch)))
           (is (= [(:input (:dims t)) (:output (:dims t))] [(.din arch) (.dout arch)]))
           (is (every? #(Double/isFinite %) params))
           (is (and (double? lr-multiplier) (pos? lr-multiplier)))
           (is (= (spec/normalize-model (:model x)) (:spec m)))))))

(defn- alphas [model dims] (mapv :alpha (apply concat (model/layout model dims))))
(defn- close? [a b] (< (max-abs-diff a b) 1e-15))

(deftest parameterization-multipliers
  (let [dims {:input 3 :output 2}
        chain {:kind :chain :widths [3 5 5 2] :gamma0 2.0}]
    (testing ":standard is all ones"
      (is (= [1.0 1.0 1.0] (alphas chain dims)))
      (is (= 1.0 (model/lr-multiplier chain dims))))
    (testing ":mup: 1/sqrt(D), 1/sqrt(N), 1/(gamma0 N); lr gamma0^2 N (SCIENCE.md §1)"
      (let [m (assoc chain :parameterization :mup)]
        (is (close? [(/ 1 (Math/sqrt 3)) (/ 1 (Math/sqrt 5)) (/ 1 (* 2.0 5))] (alphas m dims)))
        (is (= 20.0 (model/lr-multiplier m dims)))))
    (testing ":ntk: gamma0 -> gamma0 sqrt(D/N): last 1/(gamma0 sqrt(N D)); lr gamma0^2 D"
      (let [m (assoc chain :parameterization :ntk)
            g' (* 2.0 (Math/sqrt (/ 3.0 5.0)))]
        (is (close? [(/ 1 (Math/sqrt 3)) (/ 1 (Math/sqrt 5)) (/ 1 (* g' 5))] (alphas m dims)))
        (is (< (absd (- (model/lr-multiplier m dims) (* g' g' 5))) 1e-12))))
    (testing "depth 1: the only factor is the readout with N = D"
      (is (close? [(/ 1.0 (* 2.0 3))] (alphas {:kind :chain :depth 1 :parameterization :mup :gamma0 2.0} dims)))
      (is (= 12.0 (model/lr-multiplier {:kind :chain :depth 1 :parameterization :mup :gamma0 2.0} dims))))
    (testing "multi-pathway: every pathway the same"
      (is (= (vec (apply concat (repeat 3 (alphas (assoc chain :parameterization :mup) dims))))
             (alphas {:kind :multi-pathway :pathways 3 :widths [3 5 5 2] :gamma0 2.0 :parameterization :mup} dims))))
    (testing "residual blocks carry beta0/sqrt(L) and the identity"
      (let [r {:kind :residual :depth 4 :width 6 :beta0 2.0}
            lay (first (model/layout r dims))]
        (is (= [false true true true true false] (mapv :identity? lay)))
        (is (= [:in :block :block :block :block :out] (mapv :role lay)))
        (is (close? [1.0 1.0 1.0 1.0 1.0 1.0] (mapv :alpha lay)) "beta0/sqrt(L) = 2/2")
        (is (close? (let [b (/ 1 (Math/sqrt 6))] [(/ 1 (Math/sqrt 3)) b b b b (/ 1.0 6)])
                    (alphas (assoc r :parameterization :mup :beta0 2.0) dims))))
      (is (close? [1.0 0.5 0.5 0.5 0.5 1.0] (alphas {:kind :residual :depth 4 :width 6} dims))))))

(deftest widths-must-match-the-task
  (let [d (thrown-data #(model/build-model {:kind :chain :widths [4 5 2]} {:input 3 :output 2} 0 nil))]
    (is (= [:model :widths] (:path d)))
    (is (str/includes? (:message d) "3 inputs to 2 outputs"))))

;; ---------------------------------------------------------------------------
;; Weights form <-> packed

(def model-and-dims
  (gen/let [dims (gen/hash-map :input g/dim :output g/dim)
            m (g/model-for dims)]
    [m dims]))

(defspec weights-round-trip 60
  (prop/for-all [[m dims w] (gen/bind model-and-dims
                                      (fn [[m dims]] (gen/tuple (gen/return m) (gen/return dims) (g/weights-for m dims))))]
    (let [lay (model/layout m dims)
          arch (packing/layout->arch lay)
          p (packing/weights->packed lay w)
          p2 (packing/weights->packed arch w)
          p3 (double-array (map #(* 0.37 (Math/sin (* 1.3 %))) (range (alength p))))]
      (and (is (= w (packing/packed->weights lay p)))
           (is (Arrays/equals p ^doubles p2) "Arch and layout give the same packing")
           (is (Arrays/equals p3 ^doubles (packing/weights->packed lay (packing/packed->weights arch p3))))
           (is (= (map-indexed vector w) (map-indexed vector (packing/packed->weights lay p))))))))

(deftest packing-is-column-major-at-the-layout-offsets
  (let [lay (model/layout {:kind :multi-pathway :pathways 2 :widths [2 3 1]} {:input 2 :output 1})
        w [[[[1 2] [3 4] [5 6]] [[7 8 9]]] [[[10 11] [12 13] [14 15]] [[16 17 18]]]]]
    (is (= [1.0 3.0 5.0 2.0 4.0 6.0 7.0 8.0 9.0 10.0 12.0 14.0 11.0 13.0 15.0 16.0 17.0 18.0]
           (vec (packing/weights->packed lay w))))))

(deftest weights-shape-errors
  (let [dims {:input 3 :output 2}
        lay (model/layout {:kind :multi-pathway :pathways 2 :widths [3 4 2]} dims)
        good [[(vec (repeat 4 [1 2 3])) (vec (repeat 2 [1 2 3 4]))]
              [(vec (repeat 4 [1 2 3])) (vec (repeat 2 [1 2 3 4]))]]
        err (fn [w] (thrown-data #(packing/weights->packed lay w [:model :init :weights])))]
    (is (some? (packing/weights->packed lay good)))
    (let [d (err (subvec good 0 1))]
      (is (= [:model :init :weights] (:path d)))
      (is (str/includes? (:message d) "2 pathway(s)")))
    (let [d (err (assoc-in good [1] [(get-in good [1 0])]))]
      (is (= [:model :init :weights 1] (:path d)))
      (is (str/includes? (:message d) "pathway 1 must be a vector of 2 layer matrices")))
    (let [d (err (assoc-in good [1 1] [[1 2 3 4]]))]
      (is (= [:model :init :weights 1 1] (:path d)))
      (is (str/includes? (:message d) "pathway 1, W_2"))
      (is (str/includes? (:message d) "2 x 4 matrix"))
      (is (= {:rows 2 :cols 4} (:allowed d))))
    (let [d (err (assoc-in good [0 0 3] [1 2]))]
      (is (= [:model :init :weights 0 0 3] (:path d)))
      (is (str/includes? (:message d) "pathway 0, W_1"))
      (is (str/includes? (:message d) "row of 3 numbers")))
    (let [d (err (assoc-in good [0 1 1 2] ##NaN))]
      (is (= [:model :init :weights 0 1 1 2] (:path d)))
      (is (str/includes? (:message d) "finite number")))
    (let [d (err (assoc-in good [0 1 1 2] "x"))]
      (is (str/includes? (:message d) "finite number, got \"x\""))))
  (let [lay (model/layout {:kind :residual :depth 2 :width 3} {:input 2 :output 1})
        good {:in (vec (repeat 3 [1.0 2.0])) :blocks [(eye 3) (eye 3)] :out [[1.0 2.0 3.0]]}
        err (fn [w] (thrown-data #(packing/weights->packed lay w)))]
    (is (= good (packing/packed->weights lay (packing/weights->packed lay good))))
    (is (str/includes? (:message (err [[1]])) "must be a map {:in W_in :blocks [W_1 ... W_2] :out W_out}"))
    (is (= [:blocks] (:path (err (assoc good :blocks [(eye 3)])))))
    (is (= [:out 0] (:path (err (assoc good :out [[1 2]])))))
    (is (= [:out] (:path (err (assoc good :out [[1 2 3] [4 5 6]])))))
    (is (str/includes? (:message (err (assoc good :out [[1 2]]))) "W_out"))
    (is (= [:bias] (:path (err (assoc good :bias 1)))))
    (is (= :blocks (:did-you-mean (err (-> good (dissoc :blocks) (assoc :block (:blocks good))))))))
  (testing "through build-model, with the experiment's path"
    (let [d (thrown-data #(model/build-model {:kind :chain :depth 2 :width 3 :init {:kind :given :weights [[[[1 2]] [[1]]]]}}
                                             {:input 2 :output 1} 0 nil))]
      (is (= [:model :init :weights 0 0] (:path d)))
      (is (str/includes? (:message d) "3 x 2 matrix"))))
  (is (some? (thrown-data #(packing/packed->weights (model/layout {:kind :chain :depth 1} {:input 2 :output 2}) (double-array 3))))))

;; ---------------------------------------------------------------------------
;; Inits

(deftest gaussian-init-scale-and-seed
  (let [dims {:input 200 :output 50}
        stats (fn [params off n]
                (let [xs (map #(aget ^doubles params %) (range off (+ off n)))
                      mean (/ (reduce + xs) n)]
                  [mean (/ (reduce + (map #(* % %) xs)) n)]))
        {:keys [params layout]} (model/build-model {:kind :chain :widths [200 100 50]} dims 7 nil)]
    (doseq [f (first layout)]
      (let [n (* (:rows f) (:cols f))
            [mean v] (stats params (:offset f) n)
            want (/ 1.0 (:cols f))]
        (is (< (absd mean) (* 5 (Math/sqrt (/ want n)))) "mean 0")
        (is (< (absd (- v want)) (* 5 want (Math/sqrt (/ 2.0 n)))) "variance 1/fan-in under :standard")))
    (let [{:keys [params]} (model/build-model {:kind :chain :widths [200 100 50] :init {:kind :gaussian :std 0.3}} dims 7 nil)
          [_ v] (stats params 0 20000)]
      (is (< (absd (- v 0.09)) (* 5 0.09 (Math/sqrt (/ 2.0 20000))))))
    (let [{:keys [params]} (model/build-model {:kind :chain :widths [200 100 50] :parameterization :mup} dims 7 nil)
          [_ v] (stats params 0 20000)]
      (is (< (absd (- v 1.0)) (* 5 (Math/sqrt (/ 2.0 20000)))) "std 1 under :mup"))))

(defspec inits-are-deterministic-in-the-seed 30
  (prop/for-all [x g/experiment]
    (let [[t a] (build x)
          b (model/build-model (:model x) (:dims t) (:seed x) (:target-svd t))
          c (model/build-model (:model x) (:dims t) (inc (:seed x)) (:target-svd t))
          kind (get-in x [:model :init :kind])]
      (and (is (Arrays/equals ^doubles (:params a) ^doubles (:params b)))
           (or (not (#{:gaussian :orthogonal} kind))
               ;; a random init changes with the seed unless nothing in it can vary
               (every? #(= 1 (:rows %) (:cols %)) (apply concat (:layout a)))
               (every? zero? (:params a))
               (is (not (Arrays/equals ^doubles (:params a) ^doubles (:params c)))))))))

(defspec orthogonal-init-is-semi-orthogonal 40
  (prop/for-all [[m dims c] (gen/let [[m dims] model-and-dims c (g/bounded 0.2 1.5)] [m dims c])]
    (let [m (assoc m :init {:kind :orthogonal :scale c})
          {:keys [params layout]} (model/build-model m dims 3 nil)
          raw (packing/packed->weights layout params)]
      (every? (fn [w]
                (let [r (count w) k (count (first w))
                      gram (if (>= r k) (mmul (transpose w) w) (mmul w (transpose w)))]
                  (is (< (max-abs-diff gram (mapv (fn [row] (mapv #(* c c %) row)) (eye (min r k)))) 1e-12))))
              (if (map? raw) (concat [(:in raw)] (:blocks raw) [(:out raw)]) (apply concat raw))))))

(deftest scaled-identity-structure
  (let [dims {:input 3 :output 2}
        {:keys [params layout]} (model/build-model {:kind :multi-pathway :pathways 2 :widths [3 4 5 2]
                                                    :init {:kind :scaled-identity :alpha 0.3}} dims 0 nil)
        w (packing/packed->weights layout params)]
    (doseq [p w]
      (doseq [wl (butlast p)]
        (is (= wl (mapv (fn [i] (mapv (fn [j] (if (= i j) 0.3 0.0)) (range (count (first wl))))) (range (count wl))))))
      (is (every? zero? (flatten (peek p))) "last layer zero")))
  (let [{:keys [params layout]} (model/build-model {:kind :residual :depth 2 :width 4 :init {:kind :scaled-identity :alpha 0.5}}
                                                   {:input 3 :output 2} 0 nil)
        w (packing/packed->weights layout params)]
    (is (= (:in w) [[0.5 0.0 0.0] [0.0 0.5 0.0] [0.0 0.0 0.5] [0.0 0.0 0.0]]))
    (is (= (:blocks w) [(mapv #(mapv (partial * 0.5) %) (eye 4)) (mapv #(mapv (partial * 0.5) %) (eye 4))]))
    (is (every? zero? (flatten (:out w))))))

(def aligned-experiment
  (gen/such-that #(#{:balanced-aligned :pathway-split} (get-in % [:model :init :kind])) g/experiment 200))

(defn- pathway-strengths
  "pi_i * share_ki per pathway for a normalized aligned init."
  [init K r]
  (let [pis (or (:strengths init) (repeat r (:scale init)))
        shares (or (:shares init) (repeat K (repeat (count pis) (/ 1.0 K))))]
    (mapv (fn [sh] (mapv * pis sh)) shares)))

(defspec balanced-aligned-inits-are-balanced-and-give-the-requested-modes 80
  (prop/for-all [x aligned-experiment]
    (let [[t {:keys [params layout spec]}] (build x)
          svd (:target-svd t)
          gs (factor-matrices layout params)
          residual? (= :residual (:kind spec))
          narrow (reduce min (map #(min (:rows %) (:cols %)) (if residual? [(first (first layout)) (peek (first layout))]
                                                                  (first layout))))
          per-path (pathway-strengths (:init spec) (count layout) narrow)
          r (count (first per-path))
          pis (apply mapv + per-path)
          scale (max 1.0 (reduce max (map #(Math/abs (double %)) pis)))
          tol (* 1e-12 scale)]
      (and
       (testing "end-to-end = sum_i pi_i u_i v_i^T"
         (is (< (max-abs-diff (end-to-end layout params) (svd-sum svd pis)) tol)))
       (testing "each pathway carries pi_i share_ki of mode i and nothing across modes"
         (every? true?
                 (for [[k g] (map-indexed vector gs)
                       :let [pk (pathway-product g)]
                       i (range (count (:singular-values svd)))
                       j (range (count (:singular-values svd)))]
                   (let [want (if (and (= i j) (< i r)) (nth (nth per-path k) i) 0.0)
                         got (dot (col (:u svd) i) (mapv #(dot % (col (:v svd) j)) pk))]
                     (is (< (absd (- got want)) tol))))))
       (testing "balanced effective factors: G_(l+1)^T G_(l+1) = G_l G_l^T"
         (every? true?
                 (for [g gs
                       :let [chain (if residual? [(first g) (peek g)] g)]
                       [a b] (map vector chain (rest chain))]
                   (is (< (max-abs-diff (mmul (transpose b) b) (mmul a (transpose a))) tol)))))
       (or (not residual?)
           (is (every? #(< (max-abs-diff % (eye (count %))) 1e-15) (butlast (rest (first gs))))
               "residual blocks are zero, so each block factor is the identity"))
       (or (not= :standard (:parameterization spec))
           (let [raw (packing/packed->weights layout params)
                 chains (if residual? [[(:in raw) (:out raw)]] raw)]
             (every? true? (for [c chains [a b] (map vector c (rest c))]
                             (is (< (max-abs-diff (mmul (transpose b) b) (mmul a (transpose a))) tol))))))))))

(deftest pathway-split-shares-are-recovered
  (let [x {:seed 5
           :model {:kind :multi-pathway :pathways 3 :depth 4 :width 5 :parameterization :mup :gamma0 0.5
                   :init {:kind :pathway-split :strengths [2.0 1.0 0.5] :shares [[0.5 0.0 0.2] [0.3 1.0 0.2] [0.2 0.0 0.6]]}}
           :task {:kind :matrix-factorization :singular-values [3 2 1] :basis :random}}
        [t {:keys [params layout]}] (build x)
        {:keys [u v]} (:target-svd t)]
    (doseq [[k g] (map-indexed vector (factor-matrices layout params))
            i (range 3)]
      (let [pk (pathway-product g)
            share (/ (dot (col u i) (mapv #(dot % (col v i)) pk)) (nth [2.0 1.0 0.5] i))]
        (is (< (absd (- share (get-in x [:model :init :shares k i]))) 1e-12) (str "pathway " k " mode " i))))
    (testing "raw weights are the effective ones divided by the multipliers"
      (let [raw (packing/packed->weights layout params)
            eff (factor-matrices layout params)]
        (is (< (max-abs-diff (mapv (fn [p] (mapv (fn [w a] (mapv #(mapv (partial * a) %) w)) p (map :alpha (first layout)))) raw)
                             eff)
               1e-12))))))

(deftest aligned-init-errors
  (let [d (thrown-data #(model/build-model {:kind :chain :widths [3 2 3] :init {:kind :balanced-aligned :strengths [1 1 1]}}
                                           {:input 3 :output 3} 0 (linalg/svd (eye 3))))]
    (is (= [:model :init :strengths] (:path d)))
    (is (str/includes? (:message d) "narrowest layer"))
    (is (str/includes? (:message d) "width 2")))
  (let [d (thrown-data #(model/build-model {:kind :chain :depth 1 :init {:kind :balanced-aligned :scale 1}}
                                           {:input 3 :output 3} 0 nil))]
    (is (= [:model :init :kind] (:path d)))
    (is (str/includes? (:message d) "SVD"))))

(deftest given-init-is-the-given-weights
  (let [w [[[[1.0 2.0] [3.0 4.0] [5.0 6.0]] [[0.5 -1.0 2.0]]]]
        {:keys [params layout]} (model/build-model {:kind :chain :depth 2 :width 3 :init {:kind :given :weights w}}
                                                   {:input 2 :output 1} 0 nil)]
    (is (= w (packing/packed->weights layout params)))))
