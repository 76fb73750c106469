(ns dlnlab.studies.transfer.verdict
  "The verdicts of the [BP] study (dlnlab.studies.transfer): each part's claim
  judged on its measured numbers, the report's checks, headline numbers and
  the main table (best learning rate per width under muP and NTK)."
  (:require [clojure.string :as str]
            [dlnlab.studies.transfer.figures :refer [deep-from round-sig]]
            [dlnlab.study :as study]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn spread [xs] (when (every? some? xs) (- (long (apply max xs)) (long (apply min xs)))))

(defn at-deep
  "The entries of v (one per depth, nils kept) at depths >= `deep-from`."
  [depths v]
  (vec (for [[L x] (map vector depths v) :when (>= (long L) (long deep-from))] x)))

(defn width-verdict [w]
  (let [s (:summary w)
        first-last (fn [v] (when (and (first v) (last v)) (- (long (last v)) (long (first v)))))]
    {:mup-index-spread (vals (get-in s [:mup :index-spread-by-seed]))
     :ntk-index-spread (vals (get-in s [:ntk :index-spread-by-seed]))
     :ntk-shift-narrow-to-wide (mapv first-last (vals (get-in s [:ntk :best-index-by-seed])))
     :mup-optimum-fixed? (every? #(and % (<= (long %) 1)) (vals (get-in s [:mup :index-spread-by-seed])))
     :ntk-optimum-moves? (every? #(and % (>= (long %) 2)) (vals (get-in s [:ntk :index-spread-by-seed])))
     :mup-wider-not-worse? (let [c (get-in s [:mup :curve-score])]
                             (boolean (and (first c) (last c) (<= (double (last c)) (double (first c))))))}))

(defn depth-verdict [d]
  (let [s (:summary d)
        depths (:depths d)
        settle (:deep-spread-half-octaves s)]
    {:index-spread-all (into (sorted-map) (for [[k v] (:best-index-by-seed s)] [k (spread v)]))
     :index-spread-depth-8-and-more (into (sorted-map) (for [[k v] (:best-index-by-seed s)] [k (spread (at-deep depths v))]))
     :geometric-mean-best-lr (:geometric-mean-best-lr s)
     :deep-spread-half-octaves settle
     :optimum-settles? (boolean (and settle (<= (double settle) 1.0)))
     :pooled-distance-to-deepest (:pooled-distance-to-deepest s)
     :curves-converge? (let [ds (butlast (:pooled-distance-to-deepest s))]
                         (boolean (and (seq ds) (every? some? ds) (< (double (last ds)) (double (first ds))))))}))

(defn data-verdict [dr]
  (let [ratio (fn [m a b] (let [x (get-in m [a :final-test-loss]) y (get-in m [b :final-test-loss])]
                            (when (and x y (pos? (double y))) (round-sig (/ (double x) (double y))))))]
    {:final-test-ratio-full-batch (into (sorted-map) (for [[s m] (:by-seed dr)] [s (ratio m :repeated-full-batch :one-pass-full-batch)]))
     :final-test-ratio-small-batch (into (sorted-map) (for [[s m] (:by-seed dr)] [s (ratio m :repeated-epochs :one-pass-small-batch)]))
     :split-step (:split-step dr)
     :one-pass-better-late? (every? (fn [[_ m]] (< (double (get-in m [:one-pass-full-batch :final-test-loss]))
                                                   (double (get-in m [:repeated-full-batch :final-test-loss]))))
                                    (:by-seed dr))}))

(defn power-law-verdict [pl]
  (let [lazy-g (first (:gamma0s pl)) rich-g (last (:gamma0s pl))
        e (fn [r w k] (get-in r [w k :exponent]))
        per-seed (into (sorted-map)
                       (for [seed (:seeds pl)]
                         (let [at (fn [g] (first (filter #(and (= seed (:seed %)) (= g (:gamma0 %))) (:runs pl))))
                               lazy (at lazy-g) rich (at rich-g)]
                           [seed {:lazy-late (e lazy :late :run)
                                  :lazy-linearized-late (e lazy :late :linearized)
                                  :lazy-isotropic-late (e lazy :late :isotropic)
                                  :rich-late (e rich :late :run)
                                  :rich-linearized-late (e rich :late :linearized)
                                  :rich-level (e rich :level :run)
                                  :rich-linearized-level (e rich :level :linearized)}])))
        all? (fn [f] (every? (fn [[_ m]] (boolean (f m))) per-seed))]
    {:exponents per-seed
     :theory (:theory pl)
     :lazy-matches-linearized? (all? (fn [m] (and (:lazy-late m) (:lazy-linearized-late m)
                                                  (< (Math/abs (- (double (:lazy-late m)) (double (:lazy-linearized-late m)))) 0.05))))
     :rich-faster-than-its-linearization? (all? (fn [m] (and (:rich-late m) (:rich-linearized-late m)
                                                             (< (double (:rich-late m)) (- (double (:rich-linearized-late m)) 0.2)))))
     :rich-steeper-at-equal-loss-levels? (all? (fn [m] (and (:rich-level m) (:rich-linearized-level m)
                                                            (< (double (:rich-level m)) (double (:rich-linearized-level m))))))}))

(defn wider-verdict
  "The \"wider is better\" claim judged at the study's :at-step: the muP seed means
  fall with every step up in width, and the 95% interval of c in the fit
  L_N = L_inf + c/N lies above 0. NTK's numbers are kept for contrast."
  [w]
  (let [at (fn [p k] (get-in w [:by-param p :at-step k]))
        means (at :mup :mean)
        fit (get-in w [:by-param :mup :fit])]
    {:at-step (:at-step w) :widths (:widths w)
     :mup-mean means :mup-se (at :mup :se) :mup-fit fit
     :ntk-mean (at :ntk :mean) :ntk-se (at :ntk :se) :ntk-fit (get-in w [:by-param :ntk :fit])
     :mup-decreasing? (boolean (and (seq means) (every? some? means) (apply > (map double means))))
     :mup-c-positive? (boolean (when-let [lo (first (:c-interval fit))] (pos? (double lo))))
     :holdout (:holdout w)
     :holdout-predicted? (let [{:keys [mean se predicted sd quantile]} (:holdout w)]
                           (boolean (and mean se predicted sd quantile
                                         (<= (Math/abs (- (double mean) (double predicted)))
                                             (* (double quantile) (Math/sqrt (+ (* (double sd) (double sd))
                                                                                (* (double se) (double se)))))))))}))

(defn- fit-words [fit]
  (if fit
    (str "c = " (study/fmt (:c fit)) ", 95% interval [" (study/fmt (first (:c-interval fit))) ", "
         (study/fmt (second (:c-interval fit))) "], L_inf = " (study/fmt (:l-inf fit)))
    "no fit"))

(def ^:private check-order
  [:mup-optimum-fixed :ntk-optimum-moves :depth-curves-converge :depth-optimum-settles :one-pass-beats-repeated
   :lazy-exponent-is-linearized :rich-exponent-steeper :wider-is-better :wider-is-better-fit
   :wider-extrapolation-holds])

(defn checks
  "{name {:claim :pass?}} from the parts' verdicts, in the order of the parts (an
  array map, so the CLI prints them in that order)."
  [parts]
  (let [v (fn [k] (get-in parts [k :verdict]))
        in-order (fn [m] (apply array-map (mapcat #(find m %) (filter #(contains? m %) check-order))))]
    (in-order
     (cond-> {}
      (:width parts)
      (assoc :mup-optimum-fixed (study/check "muP: the best lr moves by at most one half-octave across widths (every seed)"
                                       (when-not (:mup-optimum-fixed? (v :width)) [(v :width)]))
             :ntk-optimum-moves (study/check "NTK: the best lr moves by at least two half-octaves across widths (every seed)"
                                       (when-not (:ntk-optimum-moves? (v :width)) [(v :width)])))
      (:depth parts)
      (assoc :depth-curves-converge (study/check "residual 1/sqrt(L): loss curves approach the deepest one as L grows"
                                           (when-not (:curves-converge? (v :depth)) [(v :depth)]))
             :depth-optimum-settles (study/check "residual 1/sqrt(L): the seed-geometric-mean best lr moves by at most one half-octave for L >= 8"
                                           (when-not (:optimum-settles? (v :depth)) [(v :depth)])))
      (:data parts)
      (assoc :one-pass-beats-repeated (study/check "one-pass test loss ends below the repeated-data one (every seed)"
                                             (when-not (:one-pass-better-late? (v :data)) [(v :data)])))
      (:power-law parts)
      (assoc :lazy-exponent-is-linearized (study/check "lazy run: loss exponent within 0.05 of the network linearized at init"
                                                 (when-not (:lazy-matches-linearized? (v :power-law)) [(v :power-law)]))
             :rich-exponent-steeper (study/check "rich run: steeper than its linearization at equal loss levels"
                                           (when-not (:rich-steeper-at-equal-loss-levels? (v :power-law)) [(v :power-law)])))
      (:wider parts)
      (assoc :wider-is-better (let [w (v :wider)]
                                (study/check (str "muP, step " (:at-step w) ": the seed-mean loss falls with every wider N "
                                                  (study/fmt (:widths w)) ": " (study/fmt (:mup-mean w)))
                                             (when-not (:mup-decreasing? w) [(select-keys w [:widths :mup-mean :mup-se])])))
             :wider-is-better-fit (let [w (v :wider)]
                                    (study/check (str "muP, step " (:at-step w) ": weighted fit L_N = L_inf + c/N gives "
                                                      (fit-words (:mup-fit w)) ", excluding 0 (NTK: "
                                                      (fit-words (:ntk-fit w)) ")")
                                                 (when-not (:mup-c-positive? w) [(:mup-fit w)]))))
      (get-in parts [:wider :verdict :holdout])
      (assoc :wider-extrapolation-holds
             (let [{:keys [width mean se predicted sd quantile] :as h} (:holdout (v :wider))]
               (study/check (str "muP: the fit over N <= " (last (:widths (v :wider))) " predicts the seed mean at N = " width
                                 ": " (study/fmt predicted) " ± " (study/fmt (when (and quantile sd) (* (double quantile) (double sd))))
                                 ", measured " (study/fmt mean) " ± " (study/fmt se) " (agree within t_0.975 combined sd)")
                            (when-not (:holdout-predicted? (v :wider)) [h]))))))))

(defn fmt-lr [x] (if (nil? x) "-" (let [d (double x)] (if (== d (Math/rint d)) (str (long d)) (format "%.3g" d)))))

(defn width-table
  "Markdown table: width, best lr per seed under muP and NTK, lazy-limit best lr."
  [w]
  (let [best (fn [p N] (str/join ", " (for [r (:runs w) :when (and (= p (:parameterization r)) (= N (:width r)))]
                                        (fmt-lr (:best-lr r)))))
        lazy (fn [N] (str/join ", " (for [r (:runs w) :when (and (= :ntk (:parameterization r)) (= N (:width r)))]
                                      (fmt-lr (some->> (:lazy-best-index r) (nth (:lrs w)))))))]
    (study/markdown-table (for [N (:widths w)] {:N N :mup (best :mup N) :ntk (best :ntk N) :lazy (lazy N)})
                          [[:N "N"] [:mup (str "muP best lr (seeds " (str/join ", " (:seeds w)) ")")]
                           [:ntk "NTK best lr"] [:lazy "lazy-limit best lr"]])))

(defn wider-table
  "Markdown table of the width study at its :at-step: seed mean +- standard error
  of the loss per width under muP and NTK, then the fitted L_inf and c."
  [w]
  (let [at (fn [p k] (get-in w [:by-param p :at-step k]))
        cell (fn [p i] (str (study/fmt (nth (at p :mean) i)) " ± " (study/fmt (nth (at p :se) i))))
        fit (fn [p k] (let [f (get-in w [:by-param p :fit])]
                        (str (study/fmt (get f k)) " [" (study/fmt (first (get f (keyword (str (name k) "-interval")))))
                             ", " (study/fmt (second (get f (keyword (str (name k) "-interval"))))) "]")))]
    (study/markdown-table (concat (map-indexed (fn [i N] {:N N :mup (cell :mup i) :ntk (cell :ntk i)}) (:widths w))
                                  [{:N "L_inf (fit, 95%)" :mup (fit :mup :l-inf) :ntk (fit :ntk :l-inf)}
                                   {:N "c (fit, 95%)" :mup (fit :mup :c) :ntk (fit :ntk :c)}])
                          [[:N "N"]
                           [:mup (str "muP loss at step " (:at-step w) ", mean ± se over " (count (:seeds w)) " seeds")]
                           [:ntk "NTK loss"]])))

(defn summary
  "The headline numbers of the parts that ran."
  [parts]
  (let [r (fn [k] (get-in parts [k :result]))
        lr-of (fn [lrs idxs] (mapv #(some->> % (nth lrs) round-sig) idxs))]
    (cond-> {}
      (:width parts)
      (assoc :width {:widths (:widths (r :width))
                     :mup-best-lr (into (sorted-map) (for [[s v] (get-in (r :width) [:summary :mup :best-index-by-seed])] [s (lr-of (:lrs (r :width)) v)]))
                     :ntk-best-lr (into (sorted-map) (for [[s v] (get-in (r :width) [:summary :ntk :best-index-by-seed])] [s (lr-of (:lrs (r :width)) v)]))})
      (:depth parts)
      (assoc :depth {:depths (:depths (r :depth))
                     :best-lr (into (sorted-map) (for [[s v] (get-in (r :depth) [:summary :best-index-by-seed])] [s (lr-of (:lrs (r :depth)) v)]))
                     :geometric-mean-best-lr (get-in (r :depth) [:summary :geometric-mean-best-lr])
                     :distance-to-deepest (get-in (r :depth) [:summary :pooled-distance-to-deepest])})
      (:data parts)
      (assoc :data (select-keys (get-in parts [:data :verdict]) [:split-step :final-test-ratio-full-batch]))
      (:wider parts)
      (assoc :wider (select-keys (get-in parts [:wider :verdict]) [:at-step :widths :mup-mean :mup-fit :ntk-mean :ntk-fit]))
      (:power-law parts)
      (assoc :power-law {:exponents (get-in parts [:power-law :verdict :exponents])
                         :theory (get-in parts [:power-law :verdict :theory])}))))

