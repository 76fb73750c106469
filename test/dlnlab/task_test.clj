(ns dlnlab.task-test
  (:require [dlnlab.dense :refer [absd col dot eye frob2 max-abs-diff mmul normal-cdf transpose]]
            [clojure.set :as set]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.generators :as gen]
            [clojure.test.check.properties :as prop]
            [dlnlab.gen :as g]
            [dlnlab.linalg :as linalg]
            [dlnlab.numeric :as numeric]
            [dlnlab.spec :as spec]
            [dlnlab.task :as task])
  (:import [dlnlab.kernel Normal Objective Rng]
           [java.io File]
           [java.util Arrays]))

;; ---------------------------------------------------------------------------
;; Independent routes

(defn- sample-loss
  "(1/2n) sum_i ||F x_i - y_i||^2 straight from the sample rows."
  [f xs ys]
  (/ (reduce + (map (fn [x y] (reduce + (map (fn [fr yi] (let [r (- (dot fr x) yi)] (* r r))) f y))) xs ys))
     (* 2.0 (count xs))))

(defn- residual-projection-loss
  "Least-squares optimum (1/2n) ||(I - P) Y||^2 with P the projection on the column
  space of the n x D sample matrix X, by Gram-Schmidt on X's columns (dropping
  dependent ones). Independent of any normal equations or eigendecomposition."
  [xs ys]
  (let [n (count xs)
        basis (reduce (fn [qs c]
                        (let [proj (fn [v] (reduce (fn [v q] (mapv - v (mapv #(* (dot q v) %) q))) v qs))
                              v (proj (proj c))
                              nv (Math/sqrt (dot v v))]
                          (if (> nv (* 1e-9 (max 1.0 (Math/sqrt (dot c c)))))
                            (conj qs (mapv #(/ % nv) v))
                            qs)))
                      [] (transpose xs))
        resid (fn [y] (reduce (fn [v q] (mapv - v (mapv #(* (dot q v) %) q))) y basis))]
    (/ (reduce + (for [yc (transpose ys) :let [r (resid (resid yc))]] (dot r r))) (* 2.0 n))))

(defn- objective-loss
  "Loss of a Java Objective at the nested matrix F."
  [^Objective obj f]
  (.lossAndResidual obj (linalg/matrix->array f) nil (double-array (.workSize obj))))

(defn- rows-of [^doubles a n d] (mapv (fn [i] (vec (Arrays/copyOfRange a (int (* i d)) (int (* (inc i) d))))) (range n)))

;; ---------------------------------------------------------------------------
;; Matrix factorization

(deftest matrix-factorization-targets
  (testing "identity basis: M is the rectangular diagonal of the singular values"
    (let [t (task/build-task {:kind :matrix-factorization :singular-values [1 3 2] :dims [4 3]} 5)]
      (is (= {:input 3 :output 4} (:dims t)))
      (is (= [[1.0 0.0 0.0] [0.0 3.0 0.0] [0.0 0.0 2.0] [0.0 0.0 0.0]] (:target t)))
      (is (= [3.0 2.0 1.0] (get-in t [:target-svd :singular-values])))
      (is (nil? (:test-objective t)))
      (is (nil? (:x t)))))
  (testing "random basis: the target has the given singular values"
    (let [t (task/build-task {:kind :matrix-factorization :singular-values [1 3 2] :dims [5 4] :basis :random} 5)
          m (:target t)]
      (is (< (max-abs-diff (get-in t [:target-svd :singular-values]) [3.0 2.0 1.0 0.0]) 1e-12))
      (is (< (absd (- (frob2 m) 14.0)) 1e-12))
      (is (not= m (:target (task/build-task {:kind :matrix-factorization :singular-values [1 3 2] :dims [5 4] :basis :random} 6))))))
  (testing "explicit matrix; loss = 1/2 ||F - M||^2"
    (let [m [[1 2 3] [4 5 6]]
          t (task/build-task {:kind :matrix-factorization :matrix m} 0)
          f [[0.5 -1 2] [0 3 1]]]
      (is (= (mapv #(mapv double %) m) (:target t)))
      (is (< (absd (- (objective-loss (:objective t) f) (* 0.5 (frob2 (mapv #(mapv - %1 %2) f m))))) 1e-13)))))

;; ---------------------------------------------------------------------------
;; Teacher-student

(deftest power-law-eigenvalues
  (let [t (task/build-task {:kind :teacher-student :input-dim 5 :output-dim 1 :samples 3 :covariance {:power-law 1.5}} 1)]
    (is (< (max-abs-diff (:covariance-eigenvalues t) (map #(Math/pow % -1.5) [1 2 3 4 5])) 1e-15))))

(deftest teacher-student-statistics
  (let [n 20000 D 3 m 2 sigma 0.3
        t (task/build-task {:kind :teacher-student :input-dim D :output-dim m :samples n :test-samples 10
                            :covariance {:power-law 1.0} :teacher {:singular-values [2.0 0.5] :basis :random}
                            :label-noise sigma} 42)
        lam [1.0 0.5 (/ 1.0 3)]
        xs (rows-of (:x t) n D)
        ys (rows-of (:y t) n m)
        M (:target t)]
    (testing "sample covariance close to Sigma (5 standard errors)"
      (doseq [a (range D) b (range D)]
        (let [emp (/ (reduce + (map #(* (nth % a) (nth % b)) xs)) n)
              want (if (= a b) (nth lam a) 0.0)
              se (Math/sqrt (/ (+ (* (nth lam a) (nth lam b)) (* want want)) n))]
          (is (< (absd (- emp want)) (* 5 se)) (str "Sigma " [a b])))))
    (testing "y - M x is noise of variance sigma^2"
      (let [r2 (/ (reduce + (for [[x y] (map vector xs ys) [mr yi] (map vector M y)]
                              (let [e (- yi (dot mr x))] (* e e))))
                  (* n m))]
        (is (< (absd (- r2 (* sigma sigma))) (* 5 sigma sigma (Math/sqrt (/ 2.0 (* n m))))))))
    (testing "teacher spectrum"
      (is (< (max-abs-diff (get-in t [:target-svd :singular-values]) [2.0 0.5]) 1e-12)))
    (testing "test set"
      (is (= 10 (:test-n t)))
      (is (some? (:test-objective t))))))

(deftest gaussian-teacher-has-fan-in-scale
  (let [D 400 m 5
        t (task/build-task {:kind :teacher-student :input-dim D :output-dim m :samples 1 :test-samples 0} 3)
        entries (flatten (:target t))
        v (/ (reduce + (map #(* % %) entries)) (count entries))]
    (is (nil? (:test-objective t)))
    ;; E v = 1/D, sd(v) = sqrt(2/N)/D for N entries
    (is (< (absd (- v (/ 1.0 D))) (* 5 (/ (Math/sqrt (/ 2.0 (* D m))) D))))))

(deftest teacher-student-is-deterministic-in-the-seed
  (let [spec {:kind :teacher-student :input-dim 4 :output-dim 3 :samples 30 :test-samples 7 :label-noise 0.1
              :teacher {:kind :gaussian}}
        a (task/build-task spec 9) b (task/build-task spec 9) c (task/build-task spec 10)]
    (doseq [k [:x :y :test-x :test-y]]
      (is (Arrays/equals ^doubles (get a k) ^doubles (get b k)) (str k))
      (is (not (Arrays/equals ^doubles (get a k) ^doubles (get c k))) (str k)))
    (is (= (:target a) (:target b)))
    (testing "the test set does not depend on the number of training samples"
      (let [d (task/build-task (assoc spec :samples 31) 9)]
        (is (Arrays/equals ^doubles (:test-x a) ^doubles (:test-x d)))))))

(deftest each-generator-draws-its-own-definition
  ;; :normals picks the generator of every Gaussian draw of the task; each must
  ;; be its scalar definition at (task seed, stream, index): the ziggurat
  ;; (default) Normal/at at the key (ts, stream, 0), Box-Muller Rng/gaussian
  (let [seed 11 din 3 dout 2 n 40 nt 9 sigma 0.25
        ts-spec {:kind :teacher-student :input-dim din :output-dim dout :samples n :test-samples nt
              :label-noise sigma :covariance {:power-law 1.0} :teacher {:kind :gaussian :std 0.7}}
        ts (Rng/derive seed task/task-purpose)
        sd (mapv #(Math/sqrt (Math/pow (double %) -1.0)) (range 1 (inc din)))
        draws {:ziggurat (fn [stream ^long k] (Normal/at (Normal/key ts (long stream) 0) k))
               :box-muller (fn [stream ^long k] (Rng/gaussian ts (long stream) k))}]
    (is (= :ziggurat (:normals (spec/normalize-task ts-spec))) "the default")
    (doseq [[normals draw] draws]
      (testing normals
        (let [t (task/build-task (assoc ts-spec :normals normals) seed)
              {:keys [train-x train-noise test-x teacher]} task/streams
              ;; M column-major: entry (r, c) at index r + c dout
              m (vec (for [r (range dout)] (vec (for [c (range din)] (* 0.7 (double (draw teacher (+ r (* c dout)))))))))
              xs (fn [stream rows] (vec (for [i (range rows)] (vec (for [c (range din)] (* (double (sd c)) (double (draw stream (+ c (* i din))))))))))
              x (xs train-x n)]
          (is (= m (:target t)) "the teacher, bit for bit")
          (is (= x (rows-of (:x t) n din)) "the training inputs, bit for bit")
          (is (= (xs test-x nt) (rows-of (:test-x t) nt din)) "the test inputs, bit for bit")
          (is (< (max-abs-diff (flatten (rows-of (:y t) n dout))
                               (flatten (for [i (range n)]
                                          (for [r (range dout)]
                                            (+ (dot (m r) (x i)) (* sigma (double (draw train-noise (+ r (* i dout))))))))))
                 1e-13)
              "y = M x + sigma eps"))))
    (testing "the two generators draw different data"
      (is (not (Arrays/equals ^doubles (:x (task/build-task ts-spec seed))
                              ^doubles (:x (task/build-task (assoc ts-spec :normals :box-muller) seed))))))
    (testing "a bad :normals names the key, the value and what is allowed"
      (let [e (try (spec/normalize-task (assoc ts-spec :normals :polar)) nil
                   (catch clojure.lang.ExceptionInfo e e))]
        (is (some? e))
        (is (= [:normals] (take-last 1 (:path (ex-data e)))))
        (is (str/includes? (ex-message e) ":polar"))
        (is (str/includes? (ex-message e) ":ziggurat"))))))

(deftest ziggurat-inputs-have-the-normal-distribution
  ;; 40000 ziggurat inputs (identity covariance) against Phi: the KS statistic
  ;; sup |F_n - Phi| below the asymptotic bound at level alpha = 1e-3,
  ;; sqrt(ln(2/alpha)/2)/sqrt(N); the empirical CDF at the quartiles and the 1,
  ;; 2, 3 sigma points within 5 binomial standard errors (the tails, where KS is
  ;; weak); the mean within 5 standard errors of 0 (1/sqrt N) and the variance
  ;; within 5 of 1 (sqrt(2/N) for normal data)
  (let [t (task/build-task {:kind :teacher-student :input-dim 2 :output-dim 1 :samples 20000 :test-samples 0} 19)
        ^doubles x (:x t)
        total (alength x)
        ks (numeric/ks-distance x normal-cdf)
        bound (/ (Math/sqrt (/ (Math/log (/ 2.0 1e-3)) 2.0)) (Math/sqrt total))
        mean (/ (reduce + (seq x)) total)
        variance (/ (reduce + (map #(let [e (- (double %) mean)] (* e e)) x)) total)]
    (is (< (double ks) bound) (str "KS " ks " against " bound))
    (doseq [q [-3.0 -2.0 -1.0 -0.6744897501960817 0.0 0.6744897501960817 1.0 2.0 3.0]]
      (let [p (normal-cdf q)
            below (/ (double (count (filter #(<= (double %) q) x))) total)
            se (Math/sqrt (/ (* p (- 1.0 p)) total))]
        (is (<= (absd (- below p)) (* 5 se)) (str "F(" q ") = " below ", Phi = " p))))
    (is (< (absd mean) (/ 5.0 (Math/sqrt total))) (str "mean " mean))
    (is (< (absd (- variance 1.0)) (* 5 (Math/sqrt (/ 2.0 total)))) (str "variance " variance))))

;; ---------------------------------------------------------------------------
;; Objectives from samples

(def sample-task
  (gen/one-of [g/dataset g/teacher-student]))

(defspec objective-loss-agrees-with-the-samples 40
  (prop/for-all [[spec f] (gen/bind sample-task
                                    (fn [s] (let [{:keys [input output]} (g/task-dims s)]
                                              (gen/tuple (gen/return s) (g/matrix output input)))))
                 seed (gen/choose 0 1000)]
    (let [t (task/build-task spec seed)
          {:keys [input output]} (:dims t)
          n (:n t)
          xs (rows-of (:x t) n input)
          ys (rows-of (:y t) n output)
          obj ^Objective (:objective t)
          scale (max 1.0 (/ (+ (frob2 ys) (* (frob2 f) (frob2 xs))) n))
          lmin (residual-projection-loss xs ys)]
      (and
       (is (< (absd (- (objective-loss obj f) (sample-loss f xs ys))) (* 1e-11 scale))
           "moments form = naive form at a random F")
       (is (< (absd (- (.lstar obj) lmin)) (* 1e-9 scale)) "l* = least-squares optimum")
       (is (< (absd (- (objective-loss obj (get-in t [:least-squares :matrix])) lmin)) (* 1e-9 scale)))
       (is (= (.lstar obj) (get-in t [:least-squares :loss])))
       (or (zero? (:test-n t))
           (let [nt (:test-n t)
                 txs (rows-of (:test-x t) nt input)
                 tys (rows-of (:test-y t) nt output)]
             (is (< (absd (- (objective-loss (:test-objective t) f) (sample-loss f txs tys))) (* 1e-10 scale)))))))))

(deftest least-squares-optimum-is-exact-for-full-rank-data
  (let [xs [[1.0 2.0] [0.5 -1.0] [3.0 1.0] [-2.0 0.5]]
        ftrue [[1.5 -0.5] [0.25 2.0] [-1.0 1.0]]
        ys (mmul xs (transpose ftrue))
        t (task/build-task {:kind :dataset :x xs :y ys} 0)]
    (is (< (max-abs-diff (:target t) ftrue) 1e-12) "noiseless data: F* is the generating matrix")
    (is (< (absd (.lstar ^Objective (:objective t))) 1e-24))
    (is (= {:input 2 :output 3} (:dims t)))
    (is (< (max-abs-diff (get-in t [:target-svd :singular-values]) (:singular-values (linalg/svd ftrue))) 1e-12))))

;; ---------------------------------------------------------------------------
;; Datasets and CSV

(deftest dataset-test-split
  (let [xs (mapv (fn [i] [(double i) (* 0.5 i i)]) (range 10))
        ys (mapv (fn [i] [(Math/sin i)]) (range 10))
        spec {:kind :dataset :x xs :y ys :test-fraction 0.3}
        t (task/build-task spec 3)
        train (rows-of (:x t) (:n t) 2)
        test (rows-of (:test-x t) (:test-n t) 2)]
    (is (= 7 (:n t)))
    (is (= 3 (:test-n t)))
    (is (= (set xs) (into (set train) test)))
    (is (empty? (set/intersection (set train) (set test))))
    (testing "y rows follow their x rows"
      (is (= (set (map (fn [x y] [x y]) xs ys))
             (set (map (fn [x y] [x y]) (concat train test)
                       (concat (rows-of (:y t) 7 1) (rows-of (:test-y t) 3 1)))))))
    (is (= test (rows-of (:test-x (task/build-task spec 3)) 3 2)) "deterministic")
    (is (< 1 (count (set (for [s (range 6)] (rows-of (:test-x (task/build-task spec s)) 3 2)))))
        "the split depends on the seed")))

(deftest inline-data-errors
  (let [e (try (task/build-task {:kind :dataset :x [[1 ##NaN]] :y [[1]]} 0) (catch clojure.lang.ExceptionInfo e e))]
    (is (= [:task :x 0 1] (:path (ex-data e))))
    (is (str/includes? (ex-message e) "NaN")))
  (let [e (try (task/build-task {:kind :dataset :x [[1 2] [3 4] [5 6]] :y [[1] [2] [3]] :test-fraction 0.9} 0)
               (catch clojure.lang.ExceptionInfo e e))]
    (is (= [:task :test-fraction] (:path (ex-data e))))
    (is (str/includes? (ex-message e) "no training sample"))))

(def ^:private tmp-dir
  (delay (let [d (File. (System/getProperty "java.io.tmpdir") (str "dlnlab-task-test-" (System/nanoTime)))]
           (.mkdirs d)
           (.deleteOnExit d)
           d)))

(defn- tmp-file [name content]
  (let [f (File. ^File @tmp-dir ^String name)]
    (spit f content)
    (.deleteOnExit f)
    (.getPath f)))

(defn- csv-error [file]
  (try (task/read-csv file [:task :x-file]) nil (catch clojure.lang.ExceptionInfo e e)))

(deftest csv-parsing
  (testing "header detected, CRLF, blank lines, spaces, quotes, exponents"
    (let [f (tmp-file "h.csv" "a, b,\"c\"\r\n1,2.5,-3e-2\r\n\r\n \"4\" , .5 ,+6E1\r\n\r\n")]
      (is (= {:header ["a" "b" "c"] :rows [[1.0 2.5 -0.03] [4.0 0.5 60.0]]} (task/read-csv f)))))
  (testing "no header"
    (is (= {:header nil :rows [[1.0] [2.0]]} (task/read-csv (tmp-file "n.csv" "1\n2\n")))))
  (testing "byte-order mark"
    (is (= [[1.0 2.0]] (:rows (task/read-csv (tmp-file "bom.csv" "\uFEFF1,2\n")))))))

(deftest csv-errors
  (let [check (fn [content & parts]
                (let [f (tmp-file (str "bad" (hash content) ".csv") content)
                      e (csv-error f)]
                  (is (some? e) (pr-str content))
                  (when e
                    (is (= [:task :x-file] (:path (ex-data e))))
                    (is (= f (:file (ex-data e))))
                    (is (str/includes? (ex-message e) f))
                    (doseq [p parts] (is (str/includes? (ex-message e) p) (ex-message e))))
                  e))]
    (is (= 3 (:line (ex-data (check "x,y\n1,2\n3,abc\n" "line 3" "field 2" "\"abc\" is not a number")))))
    (check "1,2\n3,4\n5\n" "line 3" "1 fields" "first row (line 1) has 2" "truncated")
    (check "x,y\n1,2\n3,4,5\n" "line 3" "3 fields" "the header (line 1) has 2")
    (check "1,2\n3,\n" "line 2" "field 2 is empty")
    (check "1,NaN\n" "line 1" "\"NaN\" is not a number")
    (check "1,1e999\n" "line 1" "overflows")
    (check "" "no data rows")
    (check "x,y\n\n" "no data rows" "only a header"))
  (let [e (csv-error "/nonexistent/dir/x.csv")]
    (is (str/includes? (ex-message e) "/nonexistent/dir/x.csv"))
    (is (str/includes? (ex-message e) "no such file"))))

(deftest dataset-from-csv-files
  (let [xf (tmp-file "x.csv" "u,v\n1,0\n0,1\n1,1\n")
        yf (tmp-file "y.csv" "1\n2\n3\n")
        t (task/build-task {:kind :dataset :x-file xf :y-file yf} 0)]
    (is (= {:input 2 :output 1} (:dims t)))
    (is (= 3 (:n t)))
    (is (= [1.0 0.0 0.0 1.0 1.0 1.0] (vec (:x t))))
    (is (< (max-abs-diff (:target t) [[1.0 2.0]]) 1e-12)))
  (testing "sample counts that disagree name both sources"
    (let [xf (tmp-file "x2.csv" "1\n2\n3\n")
          yf (tmp-file "y2.csv" "1\n2\n")
          e (try (task/build-task {:kind :dataset :x-file xf :y-file yf} 0) (catch clojure.lang.ExceptionInfo e e))]
      (is (= [:task :y-file] (:path (ex-data e))))
      (is (str/includes? (ex-message e) xf))
      (is (str/includes? (ex-message e) yf))
      (is (str/includes? (ex-message e) "2 rows"))))
  (testing "test file of the wrong width"
    (let [xf (tmp-file "x3.csv" "1,2\n2,3\n")
          yf (tmp-file "y3.csv" "1\n2\n")
          txf (tmp-file "tx3.csv" "1\n")
          tyf (tmp-file "ty3.csv" "1\n")
          e (try (task/build-task {:kind :dataset :x-file xf :y-file yf :test-x-file txf :test-y-file tyf} 0)
                 (catch clojure.lang.ExceptionInfo e e))]
      (is (= [:task :test-x-file] (:path (ex-data e))))
      (is (str/includes? (ex-message e) txf)))))
