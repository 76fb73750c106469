(ns dlnlab.optim
  "Optimizers on packed parameters. One multimethod, `stepper`, dispatched on the
  optimizer's :kind, so adding an optimizer is one defmethod.

  A stepper is a map:
    :gradient! (fn [^doubles params ^long step] loss) computes the loss and the
               update direction at params (nothing is changed yet) and returns the
               loss at params, so the run loop can stop before a bad step;
    :apply!    (fn [^doubles params ^long step]) applies the update in place;
    :lr        the effective learning rate (lr x the network's lr multiplier);
    :dt        time advanced by one step (the effective lr);
    :full-batch? true when the loss :gradient! returns is the training loss at
               params (GD, Langevin), so the run loop records it as the :loss
               metric instead of computing it again; false for minibatch losses.

  Gradient flow is not a stepper: it runs for :time (its schema says :duration
  :time) and is integrated by dlnlab.flow."
  (:require [dlnlab.error :as error]
            [dlnlab.engine :as engine]
            [dlnlab.kind :as kind]
            [dlnlab.spec :as spec]
            [dlnlab.task :as task])
  (:import [dlnlab.kernel Arch Blas Engine Objective Rng]))

(set! *warn-on-reflection* true)
(set! *unchecked-math* :warn-on-boxed)

(defn effective-lr
  "The learning rate the update uses: (:lr opt) times the network's learning-rate
  multiplier from its parameterization (SCIENCE.md §1)."
  ^double [net opt]
  (* (double (:lr opt)) (double (or (:lr-multiplier net) 1.0))))

(defmulti stepper
  "Builds the stepper for (:kind opt) on net; seed fixes any randomness
  (minibatches, Langevin noise) as a function of (seed, step, index) only."
  (fn [_net opt _seed] (:kind opt)))

(defn- full-batch-gradient [net]
  (let [^Arch arch (:arch net)
        ^Objective obj (:objective net)
        ws (engine/workspace net)
        g (double-array (.size arch))]
    {:g g
     :gradient! (fn ^double [^doubles p ^long _step] (Engine/gradient arch obj p ws g))}))

(defmethod stepper :gd [net opt _seed]
  (let [lr (effective-lr net opt)
        {:keys [^doubles g gradient!]} (full-batch-gradient net)
        n (alength g)]
    {:gradient! gradient!
     :apply! (fn [^doubles p ^long _step] (Blas/axpy n (- lr) g 0 p 0))
     :lr lr :dt lr :full-batch? true}))

(defmethod stepper :langevin [net opt seed]
  (let [lr (effective-lr net opt)
        temperature (double (:temperature opt))
        noise-scale (Math/sqrt (* 2.0 lr temperature))
        noise-seed (Rng/derive (long seed) 0x4C414E47)
        {:keys [^doubles g gradient!]} (full-batch-gradient net)
        n (alength g)]
    {:gradient! gradient!
     :apply! (fn [^doubles p ^long step]
               (Blas/axpy n (- lr) g 0 p 0)
               (when (pos? noise-scale)
                 (dotimes [i n]
                   (aset p i (+ (aget p i) (* noise-scale (Rng/gaussian noise-seed step i)))))))
     :lr lr :dt lr :full-batch? true}))

(defn- shuffled-indices
  "A permutation of 0..n-1 that depends only on (seed, epoch): Fisher–Yates
  driven by counter-based uniforms."
  ^ints [^long seed ^long epoch ^long n]
  (let [perm (int-array (range n))]
    (loop [i (dec n)]
      (when (pos? i)
        (let [j (long (Math/floor (* (Rng/uniform seed epoch i) (double (inc i)))))
              t (aget perm i)]
          (aset perm i (aget perm j))
          (aset perm j t)
          (recur (dec i)))))
    perm))

(defmethod stepper :sgd [net opt seed]
  (let [lr (effective-lr net opt)
        ^Arch arch (:arch net)
        din (.din arch) dout (.dout arch)
        b (long (:batch-size opt))
        sampling (:sampling opt :with-replacement)
        batch-seed (Rng/derive (long seed) 0x534744)
        {:keys [^doubles x ^doubles y]} (:task net)
        n (if x (quot (alength x) din) 0)
        xb (double-array (* b din))
        yb (double-array (* b dout))
        g (double-array (.size arch))
        ;; one workspace, sized for a full batch, serves every step
        ws (engine/workspace net (Objective/batch b din dout xb yb))
        sampler (when (= sampling :one-pass) (task/sampler (:task net)))
        steps-per-epoch (when (pos? n) (long (Math/ceil (/ (double n) (double b)))))
        perm-cache (volatile! [-1 nil])
        gather! (fn [^long step]
                  (case sampling
                    :one-pass (let [[^doubles sx ^doubles sy] (sampler (Rng/derive batch-seed step) b)]
                                (System/arraycopy sx 0 xb 0 (* b din))
                                (System/arraycopy sy 0 yb 0 (* b dout))
                                b)
                    :with-replacement (do (dotimes [j b]
                                            (let [i (long (Math/floor (* (Rng/uniform batch-seed step j) (double n))))]
                                              (System/arraycopy x (* i din) xb (* j din) din)
                                              (System/arraycopy y (* i dout) yb (* j dout) dout)))
                                          b)
                    :epochs (let [spe (long steps-per-epoch)
                                  epoch (quot step spe)
                                  start (* (rem step spe) b)
                                  m (min b (- n start))
                                  ^ints perm (let [[e p] @perm-cache]
                                               (if (= e epoch) p
                                                   (let [p (shuffled-indices batch-seed epoch n)]
                                                     (vreset! perm-cache [epoch p]) p)))]
                              (dotimes [j m]
                                (let [i (aget perm (+ start j))]
                                  (System/arraycopy x (* i din) xb (* j din) din)
                                  (System/arraycopy y (* i dout) yb (* j dout) dout)))
                              m)))]
    {:gradient! (fn ^double [^doubles p ^long step]
                  (let [m (long (gather! step))
                        bx (if (= m b) xb (java.util.Arrays/copyOf xb (int (* m din))))
                        by (if (= m b) yb (java.util.Arrays/copyOf yb (int (* m dout))))
                        obj (Objective/batch m din dout bx by)]
                    (Engine/gradient arch obj p ws g)))
     :apply! (fn [^doubles p ^long _step] (Blas/axpy (alength g) (- lr) g 0 p 0))
     :lr lr :dt lr :full-batch? false}))

;; ---------------------------------------------------------------------------
;; Kinds: the schema, stability threshold and time scale of every optimizer
;; (dlnlab.kind); an optimizer with :duration :time runs for the experiment's
;; :time, the others for its :steps

(defn- check-sgd!
  "SGD needs samples; one-pass SGD needs a teacher to draw them from."
  [path opt {:keys [task-kind]}]
  (when (= task-kind :matrix-factorization)
    (error/fail! :invalid-experiment "[:optimizer :kind] :sgd needs samples, but a :matrix-factorization task has none; use :teacher-student or :dataset, or :gd."
                 {:path (vec (conj (vec path) :kind)) :value :sgd :allowed "an optimizer for :matrix-factorization: :gd, :gradient-flow or :langevin"}))
  (when (and (= :one-pass (:sampling opt)) (not= task-kind :teacher-student))
    (error/fail! :invalid-experiment (str "[:optimizer :sampling] :one-pass draws fresh samples from a teacher, which only a :teacher-student task has; this task is "
                     (pr-str task-kind) ".")
                 {:path (vec (conj (vec path) :sampling)) :value :one-pass :allowed ":with-replacement or :epochs for this task"})))

(defmethod kind/schema [:optimizer nil] [_ _]
  {:doc "The training dynamics. Every learning rate is multiplied by the parameterization's learning-rate multiplier (SCIENCE.md §1); time is that effective lr times steps."
   :dispatch :kind
   :kind-order [:gd :sgd :gradient-flow :langevin :momentum]})

(defmethod kind/schema [:optimizer :gd] [_ _]
  {:doc "Full-batch gradient descent: theta <- theta - lr grad l."
   :keys [[:lr {:spec ::spec/positive :required true :doc "The learning rate eta."}]]})

(defmethod kind/schema [:optimizer :sgd] [_ _]
  {:doc "Minibatch SGD on a sample task (:teacher-student or :dataset)."
   :keys [[:lr {:spec ::spec/positive :required true :doc "The learning rate eta."}]
          [:batch-size {:spec ::spec/pos-int :required true :doc "B, samples per step."}]
          [:sampling {:spec ::spec/sampling :default :with-replacement
                      :doc ":with-replacement (B uniform draws per step), :epochs (a fresh shuffle each pass, the last batch of a pass may be smaller), :one-pass (fresh samples from the teacher every step; :teacher-student only)."}]]
   :check check-sgd!})

(defmethod kind/schema [:optimizer :gradient-flow] [_ _]
  {:doc "d theta/dt = -grad l by adaptive Dormand-Prince 5(4), steps capped at 3/sharpness so stiff directions are resolved; recorded on the grid t_k = k :time/:steps."
   :keys [[:rtol {:spec ::spec/positive :default 1e-6 :doc "Relative tolerance of the local error."}]
          [:atol {:spec ::spec/positive :default 1e-9 :doc "Absolute tolerance of the local error."}]
          [:h0 {:spec ::spec/positive :default 1e-3 :doc "First trial step."}]]
   :duration :time})

(defmethod kind/schema [:optimizer :langevin] [_ _]
  {:doc "theta <- theta - lr grad l + sqrt(2 lr T) xi, xi standard normal from the seed."
   :keys [[:lr {:spec ::spec/positive :required true :doc "The learning rate eta."}]
          [:temperature {:spec ::spec/non-negative :required true :doc "T (0 gives gradient descent)."}]]})

(defn- gd-threshold
  "2 / lr: the sharpness above which a gradient step at effective lr is unstable
  (SCIENCE.md §6); SGD and Langevin share it (their mean step is a GD step)."
  ^double [lr]
  (/ 2.0 (double lr)))

(defmethod kind/stability-threshold :gd [_ lr] (gd-threshold lr))
(defmethod kind/stability-threshold :sgd [_ lr] (gd-threshold lr))
(defmethod kind/stability-threshold :langevin [_ lr] (gd-threshold lr))
(defmethod kind/time-scale :gd [_ lr] (double lr))
(defmethod kind/time-scale :sgd [_ lr] (double lr))
(defmethod kind/time-scale :langevin [_ lr] (double lr))

;; ---------------------------------------------------------------- seeds by role

(defmethod kind/schema [:seeds nil] [_ _]
  {:doc "Seeds by role, each fixing one source of randomness on its own, as if the experiment's :seed were that value for that role only; a role left out follows :seed (so an experiment without :seeds is unchanged)."
   :keys [[:data {:spec ::spec/seed :doc "The task's data: samples, teacher, target bases, test split."}]
          [:init {:spec ::spec/seed :doc "The initial weights."}]
          [:batches {:spec ::spec/seed :doc "The training noise: minibatch order (SGD), Langevin noise, schedule perturbations."}]]})

(defn role-seed
  "The seed of one role of randomness (:data, :init or :batches) of a normalized
  experiment: [:seeds role] when given, else :seed (0 when absent)."
  ^long [exp role]
  (long (get-in exp [:seeds role] (:seed exp 0))))

;; ---------------------------------------------------------------- heavy ball

(defmethod kind/schema [:optimizer :momentum] [_ _]
  {:doc "Heavy-ball momentum (Polyak), full batch: v <- beta v - lr grad l; theta <- theta + v, v starting at 0. Linearly stable while the sharpness stays below 2 (1 + beta) / lr."
   :keys [[:lr {:spec ::spec/positive :required true :doc "The learning rate eta."}]
          [:beta {:spec ::spec/fraction :default 0.9 :doc "The momentum beta, in [0, 1) (0 gives gradient descent)."}]]})

(defmethod stepper :momentum [net opt _seed]
  (let [lr (effective-lr net opt)
        beta (double (:beta opt 0.9))
        {:keys [^doubles g gradient!]} (full-batch-gradient net)
        n (alength g)
        v (double-array n)]
    {:gradient! gradient!
     :apply! (fn [^doubles p ^long _step]
               (Blas/scal n beta v 0)
               (Blas/axpy n (- lr) g 0 v 0)
               (Blas/axpy n 1.0 v 0 p 0))
     :lr lr :dt (double (kind/time-scale opt lr)) :full-batch? true}))

(defmethod kind/stability-threshold :momentum [{:keys [beta] :or {beta 0.9}} lr]
  (/ (* 2.0 (+ 1.0 (double beta))) (double lr)))

(defmethod kind/time-scale :momentum [{:keys [beta] :or {beta 0.9}} lr]
  (/ (double lr) (- 1.0 (double beta))))
