(ns dlnlab.sde-stretch-test
  "The ensemble kernel runs its steps unchecked in stretches (up to 32 steps, ending at
  the records) and redoes, one step at a time with the range check, the items whose
  mark shows they left [0, min(next level, bound)) somewhere in the stretch. These
  tests put the events inside stretches (boundary hits that later steps would hide,
  level passages, divergence beyond the bound and through NaN) and compare every
  record, status flag and passage time bit for bit with the checked route: single paths
  integrated by Sde/integrate (its own check after every step) from the documented
  increments, and passage times computed here from their trajectories by the
  documented rule."
  (:require [clojure.test :refer [deftest is testing]])
  (:import [dlnlab.kernel Normal Sde]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(def ^:private scheme-codes {:euler-maruyama Sde/EULER_MARUYAMA :milstein Sde/MILSTEIN :taylor-1.5 Sde/TAYLOR_15})
(def ^:private boundary-codes {:absorbing Sde/ABSORBING :reflecting Sde/REFLECTING})

(defn- ensemble
  "Sde/ensemble on one thread; returns {:out :status :passage} as vectors."
  [{:keys [depth s c sigma a0 paths seed scheme dt steps record-every boundary bound levels]}]
  (let [modes (long (count s))
        n-levels (long (if levels (count (first levels)) 0))
        out (double-array (* (inc (quot (long steps) (long record-every))) modes (long paths)))
        status (byte-array (* modes (long paths)))
        passage (when levels (double-array (* n-levels modes (long paths))))
        level-array (when levels (double-array (for [l (range n-levels) i (range modes)] (get-in levels [i l]))))]
    (Sde/ensemble (int depth) (double-array s) (int modes) (double c) (double sigma) (double-array a0) (int paths)
                  (long seed) (int (scheme-codes scheme)) (double dt) (int steps) (int record-every)
                  (int (boundary-codes boundary)) (double bound) level-array (int n-levels) 1 out passage status)
    {:out (vec out) :status (vec status) :passage (when passage (vec passage))}))

(defn- trajectory
  "Values after 0..steps steps of path p, mode i by Sde/integrate with the documented
  increments dW = sqrt(dt) z1, dZ = dt^1.5 (z1 + z2 / sqrt 3) / 2, z1 and z2 the normals
  at (key(seed, p, i), 2n and 2n + 1); a diverged path holds the bound."
  [{:keys [depth s c sigma a0 seed scheme dt steps boundary bound]} p i]
  (let [key (Normal/key (long seed) (long p) (long i))
        dt (double dt) steps (long steps)
        sq (Math/sqrt dt)
        dz-scale (* 0.5 dt sq)
        dw (double-array (for [n (range steps)] (* sq (Normal/at key (* 2 (long n))))))
        dz (double-array (for [n (range steps)]
                           (let [z1 (Normal/at key (* 2 (long n))) z2 (Normal/at key (inc (* 2 (long n))))]
                             (* dz-scale (+ z1 (* 0.5773502691896257645 z2))))))
        traj (double-array (inc steps))]
    (Sde/integrate Sde/MODEL_DLN (double-array [depth (s i) c sigma]) (int (scheme-codes scheme)) (double (a0 i))
                   dt (int steps) dw 0 dz 0 (int (boundary-codes boundary)) (double bound) traj 0)
    (vec traj)))

(defn- divergence-step
  "The first step count after which the trajectory holds the bound for good, or nil."
  [traj bound]
  (let [n (count traj)
        k (long (loop [k n] (if (and (pos? k) (== (double (traj (dec k))) (double bound))) (recur (dec k)) k)))]
    (when (< k n) k)))

(defn- passage-times
  "First-passage times of the ascending levels by the kernel's rule: a level at or below
  a0 is passed at 0; otherwise at the first step n whose kept value y reaches it, at
  n dt + frac dt with frac = (level - x) / (y - x) (0 unless y > x, and at least 0), x the
  value before the step; none after divergence (NOT_REACHED)."
  [traj levels dt diverged-at]
  (let [dt (double dt)
        last-step (long (or diverged-at (count traj)))]
    (loop [l 0 n 0 acc []]
      (cond
        (= l (count levels)) acc
        (== 0 n) (if (>= (double (traj 0)) (double (levels l)))
                   (recur (inc l) 0 (conj acc (+ 0.0 (* 0.0 dt))))
                   (recur l 1 acc))
        (>= n last-step) (into acc (repeat (- (count levels) l) Sde/NOT_REACHED))
        :else (let [x (double (traj (dec n))) y (double (traj n)) lv (double (levels l))]
                (if (>= y lv)
                  (let [frac (if (> y x) (/ (- lv x) (- y x)) 0.0)
                        frac (if (< frac 0.0) 0.0 frac)]
                    (recur (inc l) n (conj acc (+ (* (double (dec n)) dt) (* frac dt)))))
                  (recur l (inc n) acc)))))))

(defn- check-against-single-paths
  "Compares every record, status flag and passage time of the ensemble with the
  checked route; returns counts of the events seen (so a test can show they happened)."
  [{:keys [paths steps record-every bound levels boundary dt] :as spec}]
  (let [{:keys [out status passage]} (ensemble spec)
        modes (count (:s spec)) paths (long paths) rec (long record-every)
        records (inc (quot (long steps) rec))]
    (reduce
     (fn [counts [p i]]
       (let [p (long p) i (long i)
             traj (trajectory spec p i)
             div (divergence-step traj bound)
             st (long (status (+ (* i paths) p)))
             got (mapv #(out (+ (* (+ (* (long %) modes) i) paths) p)) (range records))
             want (mapv #(traj (* (long %) rec)) (range records))]
         (is (= (mapv #(Double/doubleToRawLongBits (double %)) want) (mapv #(Double/doubleToRawLongBits (double %)) got))
             (str "records of path " p " mode " i ": " got " vs " want))
         (is (= (some? div) (pos? (bit-and st Sde/DIVERGED))) (str "diverged? path " p " mode " i))
         (when (= boundary :absorbing)
           (is (= (boolean (some #(== 0.0 (double %)) (subvec traj 0 (or div (count traj)))))
                  (pos? (bit-and st Sde/HIT_ZERO)))
               (str "hit zero? path " p " mode " i)))
         (when levels
           (let [n-levels (count (first levels))
                 got-p (mapv #(passage (+ (* (+ (* (long %) modes) i) paths) p)) (range n-levels))
                 want-p (passage-times traj (levels i) dt div)]
             (is (= want-p got-p) (str "passages of path " p " mode " i))))
         (cond-> counts
           div (update :diverged inc)
           (and div (pos? (rem (long div) rec))) (update :diverged-between-records inc)
           (pos? (bit-and st Sde/HIT_ZERO)) (update :hit-zero inc))))
     {:diverged 0 :diverged-between-records 0 :hit-zero 0}
     (for [p (range paths) i (range modes)] [p i]))))

(deftest events-inside-stretches-give-the-numbers-of-a-check-after-every-step
  ;; Strong noise (c = 2) on a coarse step: paths overshoot 0, pass the levels and leave
  ;; the bound 3 at steps all over the stretches. Records every 1, 7 and 40 steps (40 runs
  ;; stretches of 32 and 8 steps; steps 121-150 come after the last record).
  (doseq [scheme [:euler-maruyama :milstein :taylor-1.5]
          boundary [:absorbing :reflecting]
          record-every [1 7 40]]
    (let [spec {:depth 3 :s [1.0 1.5] :c 2.0 :sigma 0.5 :a0 [0.3 1.0] :paths 40 :seed 5 :scheme scheme
                :dt 0.05 :steps 150 :record-every record-every :boundary boundary :bound 3.0
                :levels [[0.5 0.9] [1.2 1.6]]}
          counts (check-against-single-paths spec)]
      (testing (str scheme " " boundary " every " record-every)
        (is (pos? (long (:diverged counts))) "some paths diverge")
        (when (> (long record-every) 1)
          (is (pos? (long (:diverged-between-records counts))) "some diverge inside a stretch"))
        (is (pos? (long (:hit-zero counts))) "some paths reach 0")))))

(deftest a-level-below-two-to-the-minus-600-runs-every-step-checked
  ;; the mark cannot see excursions below such a level, so the kernel checks every step;
  ;; the numbers are the same
  (let [counts (check-against-single-paths
                {:depth 2 :s [1.0 1.5] :c 1.5 :sigma 0.5 :a0 [0.3 1.0] :paths 20 :seed 7 :scheme :euler-maruyama
                 :dt 0.05 :steps 100 :record-every 25 :boundary :reflecting :bound 3.0
                 :levels [[1e-200 0.9] [1.2 1.6]]})]
    (is (pos? (long (:diverged counts))))))

(deftest a-path-that-turns-nan-inside-a-stretch-stops-at-that-step
  ;; Noise-free (c = 0), depth 2, dt = 1, reflecting: a -> a - a (a^2 - 1) overshoots and
  ;; grows like a^3 until 2 e^2 overflows; then sqrt(Inf) * (c dW) = Inf * 0 is NaN, which
  ;; no range compare passes. The level 1e100 is passed one step before. Started from
  ;; different a0 the NaN comes at different steps inside a stretch of 10.
  (let [a0s [2.0 2.9 12.0 1e3]
        spec {:depth 2 :s (vec (repeat (count a0s) 1.0)) :c 0.0 :sigma 0.0 :a0 a0s :paths 1 :seed 1
              :scheme :euler-maruyama :dt 1.0 :steps 20 :record-every 10 :boundary :reflecting :bound 1e300
              :levels (vec (repeat (count a0s) [10.0 1e100]))}
        nan-at (fn [traj]
                 (some (fn [k]
                         (let [a (double (traj k)) e (- (* a a) 1.0)]
                           (when (and (< a 1e300) (Double/isNaN (* (Math/sqrt (* 2.0 e e)) 0.0))) (inc (long k)))))
                       (range 20)))]
    (testing "the arithmetic does give NaN, at steps inside the first stretch"
      (let [steps (map #(nan-at (trajectory spec 0 %)) (range (count a0s)))]
        (is (every? #(and % (< 0 (long %) 10)) steps) (str "NaN at " (vec steps)))
        (is (< 1 (count (set steps))) "at different steps")))
    (testing "records, status and passage times are those of the checked route"
      (let [counts (check-against-single-paths spec)]
        (is (= (count a0s) (:diverged counts) (:diverged-between-records counts)))))))
