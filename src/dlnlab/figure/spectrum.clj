(ns dlnlab.figure.spectrum
  "Figures of Hessian spectra: :hessian-density, the spectral density by
  stochastic Lanczos quadrature (dlnlab.hessian/hessian-density) as a line,
  with the exact eigenvalues broadened by the same Gaussian when given (what
  the estimate converges to) and the stability threshold 2/eta as a vertical
  line; a method of dlnlab.figure/build-figure.

  Options: :eigenvalues (nil) the exact spectrum, e.g. dlnlab.hessian/dense-eigenvalues
  of a small network; :threshold (nil) 2/eta; :log-y (true) a log density axis
  showing eight decades below the peak."
  (:require [dlnlab.figure :as fig :refer [fmt]]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn- density-map? [x]
  (and (map? x) (sequential? (:grid x)) (sequential? (:density x))
       (= (count (:grid x)) (count (:density x))) (seq (:grid x))))

(defn- broadened
  "The density (1/n) sum_j N(t; lambda_j, sigma^2) of the eigenvalues at each
  grid point t: what stochastic Lanczos quadrature estimates, computed from the
  spectrum itself."
  [eigenvalues grid ^double sigma]
  (let [ls (double-array (filter fig/finite? eigenvalues))
        n (alength ls)
        norm (/ 1.0 (* (double n) sigma (Math/sqrt (* 2.0 Math/PI))))]
    (mapv (fn [t]
            (let [t (double t)]
              (* norm (double (areduce ls j acc 0.0 (let [z (/ (- t (aget ls j)) sigma)] (+ acc (Math/exp (* -0.5 z z)))))))))
          grid)))

(defn- floored
  "Points [x y] with y raised to floor where below it (a log axis cannot show
  the Gaussian tails, which reach 1e-300)."
  [pts ^double floor]
  (mapv (fn [[x y]] [x (max floor (double y))]) pts))

(defmethod fig/build-figure :hessian-density [_ data {:keys [eigenvalues threshold log-y] :or {log-y true} :as opts}]
  (when-not (density-map? data)
    (fig/fail! :invalid-argument
               "A :hessian-density figure needs the map of dlnlab.hessian/hessian-density: {:grid [...] :density [...] ...}."
               [] (if (map? data) (vec (keys data)) (type data)) "{:grid [...] :density [...]} of equal lengths"))
  (when (and (some? threshold) (not (fig/finite? threshold)))
    (fig/fail! :invalid-option (str "Option :threshold is " (pr-str threshold) "; allowed is a finite number (2/eta).")
               [:threshold] threshold "a finite number"))
  (let [grid (:grid data)
        ;; on a log axis, eight decades below the peak are shown
        peak (double (reduce max 0.0 (filter fig/finite? (:density data))))
        shown (fn [ys] (cond-> (mapv vector grid ys) log-y (floored (* 1e-8 peak))))
        exact (when (seq eigenvalues)
                (when-not (fig/positive? (:sigma data))
                  (fig/fail! :invalid-argument "Exact eigenvalues are broadened with the density's :sigma, which is missing."
                             [:sigma] (:sigma data) "a positive :sigma"))
                (broadened eigenvalues grid (double (:sigma data))))]
    {:name :hessian-density
     :title (or (:title opts) "Hessian spectral density (stochastic Lanczos quadrature)")
     :subtitle (str (:probes data "?") " probes × " (:steps data "?") " Lanczos steps, Gaussian broadening σ = "
                    (if (:sigma data) (fmt (:sigma data)) "?")
                    (when (:hvp-count data) (str ", " (:hvp-count data) " Hessian-vector products")))
     :x {:title "eigenvalue λ" :log? false}
     :y {:title (if log-y "density (log; floor 1e-8 of the peak)" "density") :log? (boolean log-y) :zero? (not log-y)}
     :panels [{:title nil
               :layers (cond-> [{:mark :line :series "SLQ density" :color 0 :points (shown (:density data))}]
                         exact (conj {:mark :line :series (str "exact spectrum (" (count eigenvalues) " eigenvalues), same broadening")
                                      :color 1 :dash [4 3] :points (shown exact)})
                         threshold (conj {:mark :x-rule :series (str "2/η = " (fmt threshold)) :color 3 :dash [6 4]
                                          :x (double threshold)}))}]}))
