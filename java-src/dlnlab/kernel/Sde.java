package dlnlab.kernel;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Ensembles of the per-mode SDE of SGD in aligned, balanced deep linear networks
 * (SCIENCE.md section 7), in the per-layer variable a (pi = a^L):
 *
 * <pre>
 *   da = f(a) dt + g(a) dW,   f(a) = a^(L-1) (s - a^L),
 *   g(a) = c a^(L-1) sqrt(2 (a^L - s)^2 + sigma^2),   c = sqrt(lr / B),
 * </pre>
 *
 * with time t = lr * SGD steps. Each mode has its own target s_i; depth L, noise
 * scale c and label noise sigma are shared. Only integer powers of a occur.
 *
 * <p><b>Schemes</b> (fixed step dt): {@link #EULER_MARUYAMA} (strong order 0.5),
 * {@link #MILSTEIN} (order 1, analytic g g'), {@link #TAYLOR_15} (the Kloeden-Platen
 * strong order 1.5 Taylor scheme for scalar noise, analytic f', f'', g', g'', with
 * the iterated integral dZ = int (W(s) - W(t)) ds from a second Gaussian).
 *
 * <p><b>Noise</b>: for path p, mode m and step n (n = 0, 1, ...) the increments are
 * dW = sqrt(dt) z1 and dZ = dt^1.5 (z1 + z2 / sqrt 3) / 2 with
 * z1 = Normal.at(key, 2n), z2 = Normal.at(key, 2n + 1), key = Normal.key(seed, p, m).
 * Every scheme sees the same dW for the same (seed, p, m, n); results are
 * bit-identical whatever the thread count, since paths are independent and each
 * path's arithmetic does not depend on the partition. {@link #integrate} with these
 * increments reproduces an ensemble path bit for bit (same operations in the same
 * order, all correctly rounded).
 *
 * <p><b>Boundary at a = 0</b>: for L &gt;= 2 both f and g vanish at a = 0 (and every
 * correction term of the three schemes carries a factor f or g), so a = 0 is a fixed
 * point and exact paths never reach it; a discrete step can overshoot below 0.
 * {@link #ABSORBING}: a value in [-bound, 0) is set to 0, where it then stays.
 * {@link #REFLECTING}: a value in [-bound, 0) is replaced by its absolute value.
 * Either way the path's status gets {@link #HIT_ZERO}.
 *
 * <p><b>Blow-up</b>: a value above {@code bound} or below {@code -bound} (or not a
 * number, from overflow) marks the path {@link #DIVERGED}: it is frozen (its state
 * is set to the fixed point 0 so no further arithmetic can overflow), every later
 * record holds exactly {@code bound}, and no passage times are recorded after it.
 * No NaN is ever written.
 */
public final class Sde {
  private Sde() {}

  public static final int EULER_MARUYAMA = 0;
  public static final int MILSTEIN = 1;
  public static final int TAYLOR_15 = 2;

  public static final int ABSORBING = 0;
  public static final int REFLECTING = 1;

  /** Path status codes (bit flags). */
  public static final byte OK = 0;
  public static final byte HIT_ZERO = 1;
  public static final byte DIVERGED = 2;

  /** Models for {@link #integrate}: the per-mode SDE above, or geometric Brownian motion. */
  public static final int MODEL_DLN = 0;
  public static final int MODEL_GBM = 1;

  /** Passage time written for a level never reached. */
  public static final double NOT_REACHED = -1.0;

  private static final double INV_SQRT3 = 0.5773502691896257645;

  /** Target number of (path, mode) items per block: the block state stays in L1. */
  private static final int BLOCK_ITEMS = 256;

  /**
   * Longest stretch of steps a block runs without the per-step range check (a redo
   * costs at most this many scalar steps of one item).
   */
  private static final int STRETCH = 32;

  /** a^n for n &gt;= 0 by repeated multiplication from the left (((a a) a) ...), as the vector passes do. */
  static double ipow(double a, int n) {
    switch (n) {
      case 0: return 1.0;
      case 1: return a;
      case 2: return a * a;
      case 3: return a * a * a;
      default: {
        double r = a * a * a;
        for (int k = 3; k < n; k++) r *= a;
        return r;
      }
    }
  }

  // ---------------------------------------------------------------------------
  // Scheme algebra, shared by every model.

  /** Euler-Maruyama update. */
  static double emUpdate(double y, double f, double g, double dt, double dW) {
    return y + f * dt + g * dW;
  }

  /** Milstein update; gg1 = g g'. */
  static double milsteinUpdate(double y, double f, double g, double gg1, double dt, double dW) {
    return y + f * dt + g * dW + 0.5 * gg1 * (dW * dW - dt);
  }

  /** Kloeden-Platen strong order 1.5 Taylor update (scalar noise, autonomous). */
  static double taylor15Update(double y, double dt, double dW, double dZ,
                               double f, double f1, double f2, double g, double g1, double g2) {
    double g2h = 0.5 * g * g;
    return y + f * dt + g * dW
        + 0.5 * g * g1 * (dW * dW - dt)
        + f1 * g * dZ
        + 0.5 * (f * f1 + g2h * f2) * dt * dt
        + (f * g1 + g2h * g2) * (dW * dt - dZ)
        + 0.5 * g * (g * g2 + g1 * g1) * (dW * dW / 3.0 - dt) * dW;
  }

  // ---------------------------------------------------------------------------
  // The per-mode SDE's steps. The ensemble's vector passes evaluate exactly these
  // expressions (same operations in the same order), so a path integrated by
  // {@link #ensemble} and by {@link #integrate} with the same increments agree bit for bit.

  /**
   * Euler-Maruyama step of the per-mode SDE, arranged as
   * a + m (c sqrt(q) dW - e dt) with m = a^(L-1), e = a^L - s, q = 2 e^2 + sigma^2.
   */
  static double dlnEm(double a, int depth, double s, double c, double sig2, double dt, double dW) {
    double m = ipow(a, depth - 1);
    double e = Math.fma(m, a, -s);
    double r = Math.sqrt(Math.fma(e + e, e, sig2)) * (c * dW);
    return Math.fma(m, Math.fma(-e, dt, r), a);
  }

  /**
   * Milstein step of the per-mode SDE. With p = a^(L-2), m = p a, m' = (L-1) p,
   * g g' = c^2 m (m' q + 2 L e m^2) needs no division.
   */
  static double dlnMilstein(double a, int depth, double s, double c, double sig2, double dt, double dW) {
    double p = ipow(a, depth - 2);
    return milsteinFromPower(a, p, depth, s, c, sig2, dt, dW);
  }

  private static double milsteinFromPower(double a, double p, int depth, double s, double c, double sig2,
                                          double dt, double dW) {
    double m = p * a;
    double m1 = (depth - 1) * p;
    double e = Math.fma(m, a, -s);
    double q = Math.fma(e + e, e, sig2);
    double g = (c * m) * Math.sqrt(q);
    double gg1 = (c * c) * m * Math.fma(m1, q, (2.0 * depth * e) * (m * m));
    return Math.fma(0.5 * gg1, Math.fma(dW, dW, -dt), Math.fma(g, dW, Math.fma(-m * e, dt, a)));
  }

  /**
   * Coefficients of the per-mode SDE at a: out[off..off+6) = f, f', f'', g, g', g''.
   * Where sqrt(2 e^2 + sigma^2) is 0 (sigma = 0 and a^L = s, where g is not
   * differentiable) its derivatives are taken as 0. Requires depth &gt;= 1.
   */
  public static void dlnCoefficients(double a, int depth, double s, double c, double sigma,
                                     double[] out, int off) {
    int l = depth;
    double m = ipow(a, l - 1);
    double m1 = l >= 2 ? (l - 1) * ipow(a, l - 2) : 0.0;
    double m2 = l >= 3 ? (double) (l - 1) * (l - 2) * ipow(a, l - 3) : 0.0;
    double p = m * a;
    double p1 = l * m;
    double p2 = l * m1;
    double e = p - s;
    double q = 2.0 * e * e + sigma * sigma;
    double q1 = 4.0 * e * p1;
    double q2 = 4.0 * (p1 * p1 + e * p2);
    double h = Math.sqrt(q);
    double h1 = h > 0.0 ? q1 / (2.0 * h) : 0.0;
    double h2 = h > 0.0 ? (0.5 * q2 - h1 * h1) / h : 0.0;
    out[off] = -m * e;
    out[off + 1] = -(m1 * e + m * p1);
    out[off + 2] = -(m2 * e + 2.0 * m1 * p1 + m * p2);
    out[off + 3] = c * m * h;
    out[off + 4] = c * (m1 * h + m * h1);
    out[off + 5] = c * (m2 * h + 2.0 * m1 * h1 + m * h2);
  }

  /** Order 1.5 step of the per-mode SDE; w is a 6-slot workspace. */
  static double dlnTaylor15(double a, int depth, double s, double c, double sigma,
                            double dt, double dW, double dZ, double[] w) {
    dlnCoefficients(a, depth, s, c, sigma, w, 0);
    return taylor15Update(a, dt, dW, dZ, w[0], w[1], w[2], w[3], w[4], w[5]);
  }

  // ---------------------------------------------------------------------------
  // Ensembles.

  /**
   * Integrates paths x modes independent copies of the per-mode SDE.
   *
   * <p>Paths are partitioned into fixed blocks (about 256 path-mode items each, so a
   * block's state stays in L1); workers (the calling thread and threads - 1 more) take
   * blocks in turn. Blocks are independent, so which worker runs a block cannot change
   * its result. Within a block each step runs as passes over the items: counter hashes
   * (vectorized by the JIT), the ziggurat's fast test (draws outside the fast region are
   * listed and redone exactly), the scheme's arithmetic (vectorized for Euler-Maruyama
   * and Milstein, including the square root) and a branch-free, vectorized mark of
   * whether each item stayed in [0, min(next level, bound)). Steps run so, unchecked,
   * in stretches of at most 32 that end at the records; an item whose mark shows it
   * left that range (a boundary hit, divergence, NaN, a level passage) is redone from
   * the stretch's start one step at a time by the same arithmetic with the range
   * check, which handles the event at the step where it happened. So the numbers are
   * those of a check after every step, bit for bit.
   * No allocation happens after the per-worker workspaces.
   *
   * @param depth        L &gt;= 2
   * @param s            targets s_i, length modes, each &gt; 0
   * @param noiseScale   c = sqrt(lr / B) &gt;= 0 (0 gives the gradient flow)
   * @param labelNoise   sigma &gt;= 0
   * @param a0           initial per-layer values a_i(0) = pi0_i^(1/L), length modes, each in (0, bound]
   * @param paths        number of paths
   * @param seed         noise seed
   * @param scheme       {@link #EULER_MARUYAMA}, {@link #MILSTEIN} or {@link #TAYLOR_15}
   * @param dt           step &gt; 0
   * @param steps        number of steps
   * @param recordEvery  record a after every recordEvery steps (and at step 0); records = steps / recordEvery + 1
   * @param boundary     {@link #ABSORBING} or {@link #REFLECTING}
   * @param bound        divergence bound on a (&gt;= every a0); choose it so that the
   *                     scheme's arithmetic cannot overflow below it
   * @param levels       passage levels in a, levels[l * modes + i], ascending in l for each mode; may be null
   * @param nLevels      number of levels per mode (0 when levels is null)
   * @param threads      worker threads (&gt;= 1); the result does not depend on it
   * @param out          records of a: out[(r * modes + i) * paths + p], length records * modes * paths
   * @param passage      first-passage times (linearly interpolated within the step, 0 if a0 is
   *                     already at or above the level, {@link #NOT_REACHED} otherwise):
   *                     passage[(l * modes + i) * paths + p]; may be null when nLevels is 0
   * @param status       per path and mode, status[i * paths + p]: {@link #OK} or the flags
   *                     {@link #HIT_ZERO}, {@link #DIVERGED}
   * @throws IllegalArgumentException on inconsistent sizes or parameters out of range
   */
  public static void ensemble(int depth, double[] s, int modes, double noiseScale, double labelNoise,
                              double[] a0, int paths, long seed, int scheme, double dt, int steps,
                              int recordEvery, int boundary, double bound,
                              double[] levels, int nLevels, int threads,
                              double[] out, double[] passage, byte[] status) {
    ensemble(depth, s, modes, noiseScale, labelNoise, a0, paths, seed, scheme, dt, steps, recordEvery, boundary,
        bound, levels, nLevels, threads, 0, steps / recordEvery, out, passage, status);
  }

  /**
   * The part of {@link #ensemble} from record fromRecord to record toRecord: called
   * for consecutive ranges (0..r1, r1..r2, ..., ..records - 1) on the same out,
   * passage and status, it gives the same numbers bit for bit as one call, so a
   * caller can stop between ranges (an interrupted run keeps records 0..r). A range
   * starting after 0 resumes from what the previous range left: record fromRecord
   * of out, status and passage. The last range (toRecord = records - 1) also runs
   * the steps after the last record.
   *
   * @param fromRecord first record of the range, 0 &lt;= fromRecord &lt;= toRecord
   * @param toRecord   last record of the range, &lt; records
   */
  public static void ensemble(int depth, double[] s, int modes, double noiseScale, double labelNoise,
                              double[] a0, int paths, long seed, int scheme, double dt, int steps,
                              int recordEvery, int boundary, double bound,
                              double[] levels, int nLevels, int threads, int fromRecord, int toRecord,
                              double[] out, double[] passage, byte[] status) {
    if (depth < 2) throw new IllegalArgumentException("depth must be >= 2, got " + depth);
    if (modes < 1 || s.length < modes || a0.length < modes) throw new IllegalArgumentException("s and a0 need one entry per mode");
    if (paths < 1) throw new IllegalArgumentException("paths must be >= 1");
    if (scheme < EULER_MARUYAMA || scheme > TAYLOR_15) throw new IllegalArgumentException("unknown scheme " + scheme);
    if (boundary != ABSORBING && boundary != REFLECTING) throw new IllegalArgumentException("unknown boundary " + boundary);
    if (!(dt > 0.0) || steps < 0 || recordEvery < 1) throw new IllegalArgumentException("need dt > 0, steps >= 0, recordEvery >= 1");
    if (!(bound > 0.0) || !(noiseScale >= 0.0) || !(labelNoise >= 0.0)) {
      throw new IllegalArgumentException("need bound > 0, noiseScale >= 0, labelNoise >= 0");
    }
    if (threads < 1) throw new IllegalArgumentException("threads must be >= 1");
    int records = steps / recordEvery + 1;
    if (fromRecord < 0 || toRecord < fromRecord || toRecord >= records) {
      throw new IllegalArgumentException("need 0 <= fromRecord <= toRecord < records");
    }
    if (out.length < (long) records * modes * paths) throw new IllegalArgumentException("out too short");
    if (status.length < (long) modes * paths) throw new IllegalArgumentException("status too short");
    if (nLevels < 0 || (nLevels > 0 && (levels == null || levels.length < nLevels * modes || passage == null
        || passage.length < (long) nLevels * modes * paths))) {
      throw new IllegalArgumentException("levels and passage must hold nLevels entries per mode (and per path)");
    }
    for (int i = 0; i < modes; i++) {
      if (!(a0[i] > 0.0 && a0[i] <= bound)) throw new IllegalArgumentException("a0 must lie in (0, bound]");
      if (!(s[i] > 0.0)) throw new IllegalArgumentException("targets must be > 0");
    }
    Job job = new Job(depth, s, modes, noiseScale, labelNoise, a0, paths, seed, scheme, dt, steps,
        recordEvery, boundary, bound, levels, nLevels, out, passage, status);
    int blockPaths = Math.max(1, BLOCK_ITEMS / modes);
    int blocks = (paths + blockPaths - 1) / blockPaths;
    AtomicInteger next = new AtomicInteger();
    Runnable worker = () -> {
      Workspace ws = new Workspace(blockPaths * modes);
      for (int b = next.getAndIncrement(); b < blocks; b = next.getAndIncrement()) {
        int p0 = b * blockPaths;
        job.runBlock(p0, Math.min(paths, p0 + blockPaths), ws, fromRecord, toRecord);
      }
    };
    runParallel(worker, Math.min(threads, blocks));
  }

  /** Runs worker on n threads (the caller's thread is one of them) and rethrows the first failure. */
  static void runParallel(Runnable worker, int n) {
    if (n <= 1) {
      worker.run();
      return;
    }
    Thread[] ts = new Thread[n - 1];
    Throwable[] failure = new Throwable[1];
    for (int k = 0; k < n - 1; k++) {
      ts[k] = new Thread(worker, "dlnlab-sde-" + k);
      ts[k].setDaemon(true);
      ts[k].setUncaughtExceptionHandler((t, e) -> {
        synchronized (failure) {
          if (failure[0] == null) failure[0] = e;
        }
      });
      ts[k].start();
    }
    Throwable own = null;
    try {
      worker.run();
    } catch (RuntimeException | Error e) {
      own = e;
    }
    boolean interrupted = false;
    for (Thread t : ts) {
      while (true) {
        try {
          t.join();
          break;
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
    }
    if (interrupted) Thread.currentThread().interrupt();
    Throwable first = own;
    synchronized (failure) {
      if (first == null) first = failure[0];
    }
    if (first instanceof RuntimeException) throw (RuntimeException) first;
    if (first instanceof Error) throw (Error) first;
  }

  /** Per-thread block state, allocated once per worker. */
  private static final class Workspace {
    /** State before the step (cur) and after it (nxt); swapped after every step. */
    double[] cur;
    double[] nxt;
    final double[] pw;
    final long[] key;
    final long[] bits1;
    final long[] bits2;
    final double[] z1;
    final double[] z2;
    final double[] target;
    /**
     * Largest value on the fast path: the double below min(next passage level, bound),
     * Double.MAX_VALUE once diverged (a value v stays on the fast path iff 0 &lt;= v &lt;= top).
     */
    final double[] top;
    /** State at the start of the current stretch. */
    final double[] start;
    /** The stretch's mark (see {@link Sde#mark}): &gt;= 0 while every value so far lay in [0, top]. */
    final double[] low;
    final int[] nextLevel;
    final int[] rej;
    final double[] coef = new double[6];

    Workspace(int items) {
      cur = new double[items];
      nxt = new double[items];
      pw = new double[items];
      key = new long[items];
      bits1 = new long[items];
      bits2 = new long[items];
      z1 = new double[items];
      z2 = new double[items];
      target = new double[items];
      top = new double[items];
      start = new double[items];
      low = new double[items];
      nextLevel = new int[items];
      rej = new int[items];
    }
  }

  /** bits[j] = SplitMix64 output at (key[j], counter): Normal.bits written out so the JIT vectorizes it. */
  private static void hashPass(long[] key, long[] bits, int items, long counter) {
    final long ctrG = counter * Normal.GOLDEN;
    for (int j = 0; j < items; j++) {
      long z = key[j] + ctrG;
      z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
      z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
      bits[j] = z ^ (z >>> 31);
    }
  }

  /**
   * z[j] = Normal.fromBits(bits[j]): the ziggurat's fast test runs branch-free over
   * the block and appends the (about 0.4%) rejected items to rej; those are then
   * redone exactly by Normal.slow.
   */
  private static void zigguratPass(long[] bits, double[] z, int[] rej, int items) {
    final double[] x53 = Normal.X53, lim = Normal.LIM53;
    int cnt = 0;
    for (int j = 0; j < items; j++) {
      long b = bits[j];
      int i = (int) b & (Normal.LAYERS - 1);
      double v = (double) (b >> 10);
      z[j] = v * x53[i];
      rej[cnt] = j;
      cnt += Math.abs(v) < lim[i] ? 0 : 1;
    }
    for (int k = 0; k < cnt; k++) {
      int j = rej[k];
      z[j] = Normal.slow(bits[j]);
    }
  }

  /**
   * The stretch's mark after a step to v: min(lo, (v 2^600) (top - v)). While v lies
   * in [0, top] the product is &gt;= 0 (or +infinity, or NaN when v 2^600 overflows and
   * v = top); it is negative when v &lt; 0 or v &gt; top, and NaN when v is NaN. The
   * factor 2^600 keeps a negative product from underflowing to -0 when every top is
   * at least 2^-600 (else {@link Job#marksExact} is false): then |v| 2^600 &gt;= 2^-474 and
   * |top - v| &gt;= top for v &lt; 0, and for v &gt; top the product is at least
   * top 2^600 2^-1074. So the mark stays &gt;= 0 exactly while every v so far lay in
   * [0, top], up to rare false alarms (a NaN at v = top beyond 2^424), which only cost
   * a redo. Branch-free, so the JIT vectorizes it.
   */
  private static double mark(double lo, double v, double top) {
    return Math.min(lo, (v * 0x1p600) * (top - v));
  }

  /**
   * lo[j] = mark(lo[j], y[j], top[j]) over the block: a pass of its own, since fused
   * into a scheme's pass it can make that loop too large for the JIT to unroll and
   * vectorize.
   */
  private static void markPass(double[] y, double[] top, double[] lo, int items) {
    for (int j = 0; j < items; j++) lo[j] = mark(lo[j], y[j], top[j]);
  }

  /** The largest double below hi: v &lt; hi exactly when v &lt;= topBelow(hi). */
  private static double topBelow(double hi) {
    return Math.nextDown(hi);
  }

  /** pw[j] = ipow(x[j], n), as the same left-to-right products, one vectorized pass per factor. */
  private static void powerPass(double[] x, double[] pw, int items, int n) {
    if (n == 0) {
      for (int j = 0; j < items; j++) pw[j] = 1.0;
      return;
    }
    System.arraycopy(x, 0, pw, 0, items);
    for (int k = 1; k < n; k++) {
      for (int j = 0; j < items; j++) pw[j] *= x[j];
    }
  }

  /** The immutable description of one ensemble run. */
  private static final class Job {
    final int depth, modes, paths, scheme, steps, recordEvery, boundary, nLevels;
    final double c, sigma, sig2, dt, sqdt, dzScale, bound;
    final double[] s, a0, levels, out, passage;
    final byte[] status;
    final long seed;
    /**
     * Whether every upper edge of the fast path (the bound and every passage level) is
     * at least 2^-600, so that {@link Sde#mark} sees every excursion; otherwise every
     * step of every item runs checked (the scalar route of a redo).
     */
    final boolean marksExact;

    Job(int depth, double[] s, int modes, double c, double sigma, double[] a0, int paths, long seed,
        int scheme, double dt, int steps, int recordEvery, int boundary, double bound,
        double[] levels, int nLevels, double[] out, double[] passage, byte[] status) {
      this.depth = depth;
      this.s = s;
      this.modes = modes;
      this.c = c;
      this.sigma = sigma;
      this.sig2 = sigma * sigma;
      this.a0 = a0;
      this.paths = paths;
      this.seed = seed;
      this.scheme = scheme;
      this.dt = dt;
      this.sqdt = Math.sqrt(dt);
      this.dzScale = 0.5 * dt * Math.sqrt(dt);
      this.steps = steps;
      this.recordEvery = recordEvery;
      this.boundary = boundary;
      this.bound = bound;
      this.levels = levels;
      this.nLevels = nLevels;
      this.out = out;
      this.passage = passage;
      this.status = status;
      double least = bound;
      for (int k = 0; k < nLevels * modes; k++) least = Math.min(least, levels[k]);
      this.marksExact = topBelow(least) >= 0x1p-600;
    }

    void runBlock(int p0, int p1, Workspace ws, int fromRecord, int toRecord) {
      int items = (p1 - p0) * modes;
      for (int p = p0, j = 0; p < p1; p++) {
        for (int i = 0; i < modes; i++, j++) {
          ws.key[j] = Normal.key(seed, p, i);
          ws.target[j] = s[i];
          if (fromRecord > 0) {
            resume(j, p, i, fromRecord, ws);
            continue;
          }
          ws.cur[j] = a0[i];
          status[i * paths + p] = OK;
          ws.nextLevel[j] = 0;
          ws.top[j] = topBelow(bound);
          if (nLevels > 0) {
            for (int l = 0; l < nLevels; l++) passage[(l * modes + i) * paths + p] = NOT_REACHED;
            advanceLevels(j, p, i, a0[i], a0[i], 0.0, ws);
          }
        }
      }
      if (fromRecord == 0) record(0, p0, p1, ws);
      int first = fromRecord * recordEvery;
      int last = toRecord == steps / recordEvery ? steps : toRecord * recordEvery;
      // Steps run in stretches of at most STRETCH steps that end at the records: the
      // passes run without the range check, and ws.low keeps each item's mark over the
      // stretch. An item whose mark is not >= 0 (it left [0, top] or was NaN at some
      // step) is redone from the stretch's start one step at a time with the check, by
      // the same arithmetic, so every item ends the stretch exactly as a check after
      // every step leaves it: same values, same status, same passage times.
      for (int n0 = first; n0 < last; ) {
        int n1 = (int) Math.min(Math.min((long) last, (long) n0 + STRETCH),
            ((long) n0 / recordEvery + 1) * recordEvery);
        stretch(n0, n1, p0, items, ws);
        n0 = n1;
        if (n1 % recordEvery == 0) record(n1 / recordEvery, p0, p1, ws);
      }
    }

    /**
     * Steps n0 .. n1 - 1 of the block's items (see runBlock). A method of its own, called
     * once per stretch: the JIT compiles it, with the passes inlined, as a short method
     * rather than as part of runBlock's long-running loop.
     */
    private void stretch(int n0, int n1, int p0, int items, Workspace ws) {
      System.arraycopy(ws.cur, 0, ws.start, 0, items);
      if (marksExact) {
        java.util.Arrays.fill(ws.low, 0, items, 0.0);
        for (int n = n0; n < n1; n++) step(n, items, ws);
        for (int j = 0; j < items; j++) {
          if (!(ws.low[j] >= 0.0)) redo(j, n0, n1, p0, ws);
        }
      } else {
        for (int j = 0; j < items; j++) redo(j, n0, n1, p0, ws);
      }
    }

    /** Step n on every item, unchecked: ws.cur becomes its result, ws.low takes it in. */
    private void step(int n, int items, Workspace ws) {
      long ctr = 2L * n;
      hashPass(ws.key, ws.bits1, items, ctr);
      zigguratPass(ws.bits1, ws.z1, ws.rej, items);
      switch (scheme) {
        case EULER_MARUYAMA:
          emPass(items, ws);
          break;
        case MILSTEIN:
          powerPass(ws.cur, ws.pw, items, depth - 2);
          milsteinPass(items, ws);
          break;
        default:
          hashPass(ws.key, ws.bits2, items, ctr + 1);
          zigguratPass(ws.bits2, ws.z2, ws.rej, items);
          taylor15Pass(items, ws);
          break;
      }
      double[] tmp = ws.cur;
      ws.cur = ws.nxt;
      ws.nxt = tmp;
      markPass(ws.cur, ws.top, ws.low, items);
    }

    /**
     * Item j's steps n0 .. n1 - 1 again from ws.start[j], one at a time: the scalar
     * step functions (the same operations as the passes, so the same values), the
     * normals at the same counters, and the range check after every step.
     */
    private void redo(int j, int n0, int n1, int p0, Workspace ws) {
      final long key = ws.key[j];
      final double s = ws.target[j];
      double a = ws.start[j];
      for (int n = n0; n < n1; n++) {
        double z1 = Normal.at(key, 2L * n);
        double y;
        switch (scheme) {
          case EULER_MARUYAMA:
            y = dlnEm(a, depth, s, c, sig2, dt, sqdt * z1);
            break;
          case MILSTEIN:
            y = dlnMilstein(a, depth, s, c, sig2, dt, sqdt * z1);
            break;
          default:
            y = dlnTaylor15(a, depth, s, c, sigma, dt, sqdt * z1, dzScale * (z1 + INV_SQRT3 * Normal.at(key, 2L * n + 1)),
                ws.coef);
            break;
        }
        if (!(y >= 0.0 & y <= ws.top[j])) y = rare(j, a, y, n * dt, p0, ws);
        a = y;
      }
      ws.cur[j] = a;
    }

    /**
     * Item j's state at record r as the step loop left it: a (0 once diverged, as
     * rare() keeps it), the next passage level (levels are passed in order) and the
     * fast path's upper edge.
     */
    private void resume(int j, int p, int i, int r, Workspace ws) {
      boolean diverged = (status[i * paths + p] & DIVERGED) != 0;
      ws.cur[j] = diverged ? 0.0 : out[(r * modes + i) * paths + p];
      int l = 0;
      while (l < nLevels && passage[(l * modes + i) * paths + p] != NOT_REACHED) l++;
      ws.nextLevel[j] = l;
      ws.top[j] = diverged ? Double.MAX_VALUE : topBelow(l < nLevels ? Math.min(levels[l * modes + i], bound) : bound);
    }

    /**
     * The Euler-Maruyama step of dlnEm on every item (vectorized by the JIT); the
     * power a^(L-1) is formed inline for L &lt;= 4 (same products as ipow) and by
     * powerPass otherwise.
     */
    private void emPass(int items, Workspace ws) {
      final double[] x = ws.cur, y = ws.nxt, z = ws.z1, target = ws.target;
      final double cc = c, sg2 = sig2, h = dt, sh = sqdt;
      switch (depth) {
        case 2:
          for (int j = 0; j < items; j++) {
            double a = x[j];
            double dW = sh * z[j];
            double e = Math.fma(a, a, -target[j]);
            double r = Math.sqrt(Math.fma(e + e, e, sg2)) * (cc * dW);
            y[j] = Math.fma(a, Math.fma(-e, h, r), a);
          }
          break;
        case 3:
          for (int j = 0; j < items; j++) {
            double a = x[j];
            double m = a * a;
            double dW = sh * z[j];
            double e = Math.fma(m, a, -target[j]);
            double r = Math.sqrt(Math.fma(e + e, e, sg2)) * (cc * dW);
            y[j] = Math.fma(m, Math.fma(-e, h, r), a);
          }
          break;
        case 4:
          for (int j = 0; j < items; j++) {
            double a = x[j];
            double m = a * a * a;
            double dW = sh * z[j];
            double e = Math.fma(m, a, -target[j]);
            double r = Math.sqrt(Math.fma(e + e, e, sg2)) * (cc * dW);
            y[j] = Math.fma(m, Math.fma(-e, h, r), a);
          }
          break;
        default: {
          final double[] pw = ws.pw;
          powerPass(x, pw, items, depth - 1);
          for (int j = 0; j < items; j++) {
            double a = x[j];
            double m = pw[j];
            double dW = sh * z[j];
            double e = Math.fma(m, a, -target[j]);
            double r = Math.sqrt(Math.fma(e + e, e, sg2)) * (cc * dW);
            y[j] = Math.fma(m, Math.fma(-e, h, r), a);
          }
          break;
        }
      }
    }

    /** The Milstein step of dlnMilstein on every item (pw holds a^(L-2)). */
    private void milsteinPass(int items, Workspace ws) {
      final double[] x = ws.cur, y = ws.nxt, pw = ws.pw, z = ws.z1;
      for (int j = 0; j < items; j++) {
        y[j] = milsteinFromPower(x[j], pw[j], depth, ws.target[j], c, sig2, dt, sqdt * z[j]);
      }
    }

    /** The order 1.5 step on every item (scalar). */
    private void taylor15Pass(int items, Workspace ws) {
      final double[] x = ws.cur, y = ws.nxt, z1 = ws.z1, z2 = ws.z2;
      for (int j = 0; j < items; j++) {
        double u1 = z1[j], u2 = z2[j];
        double dW = sqdt * u1;
        double dZ = dzScale * (u1 + INV_SQRT3 * u2);
        y[j] = dlnTaylor15(x[j], depth, ws.target[j], c, sigma, dt, dW, dZ, ws.coef);
      }
    }

    /**
     * A step from x to y left [0, top] or was not a number: the boundary at 0,
     * divergence (beyond the bound, or NaN), or the passage of the next level.
     * Returns the value to keep.
     */
    private double rare(int j, double x, double y, double t0, int p0, Workspace ws) {
      int p = p0 + j / modes, i = j % modes;
      int idx = i * paths + p;
      if (y < 0.0 && y >= -bound) {
        status[idx] |= HIT_ZERO;
        y = boundary == REFLECTING ? -y : 0.0;
        if (y <= ws.top[j]) return y;
      }
      if (!(y >= -bound && y <= bound)) {
        // Beyond the bound (either side), infinite or NaN: freeze at the fixed point 0, record the bound.
        status[idx] |= DIVERGED;
        ws.top[j] = Double.MAX_VALUE;
        return 0.0;
      }
      advanceLevels(j, p, i, x, y, t0, ws);
      return y;
    }

    private void advanceLevels(int j, int p, int i, double x, double y, double t0, Workspace ws) {
      int l = ws.nextLevel[j];
      while (l < nLevels && y >= levels[l * modes + i]) {
        double lv = levels[l * modes + i];
        double frac = y > x ? (lv - x) / (y - x) : 0.0;
        if (frac < 0.0) frac = 0.0;
        passage[(l * modes + i) * paths + p] = t0 + frac * dt;
        l++;
      }
      ws.nextLevel[j] = l;
      ws.top[j] = topBelow(l < nLevels ? Math.min(levels[l * modes + i], bound) : bound);
    }

    private void record(int r, int p0, int p1, Workspace ws) {
      double[] a = ws.cur;
      for (int p = p0, j = 0; p < p1; p++) {
        for (int i = 0; i < modes; i++, j++) {
          int idx = i * paths + p;
          out[(r * modes + i) * paths + p] = (status[idx] & DIVERGED) != 0 ? bound : a[j];
        }
      }
    }
  }

  // ---------------------------------------------------------------------------
  // One path from given increments (tests, convergence studies).

  /**
   * Integrates one path of a model from given Brownian increments and returns the
   * final value. The boundary and the bound act as in {@link #ensemble} (for GBM too);
   * a diverged path returns {@code bound}.
   *
   * @param model   {@link #MODEL_DLN} with params {depth, s, c, sigma}, or
   *                {@link #MODEL_GBM} with params {mu, vol} (dX = mu X dt + vol X dW)
   * @param scheme  as in {@link #ensemble}
   * @param y0      initial value
   * @param dt      step
   * @param steps   number of steps
   * @param dW      increments W(t_{n+1}) - W(t_n) at dW[dWOff + n]
   * @param dZ      int_{t_n}^{t_{n+1}} (W(s) - W(t_n)) ds at dZ[dZOff + n] (read by TAYLOR_15 only; may be null otherwise)
   * @param traj    if not null, traj[trajOff + n] = value after n steps, n = 0..steps
   */
  public static double integrate(int model, double[] params, int scheme, double y0, double dt, int steps,
                                 double[] dW, int dWOff, double[] dZ, int dZOff, int boundary, double bound,
                                 double[] traj, int trajOff) {
    double[] w = new double[6];
    int depth = model == MODEL_DLN ? (int) params[0] : 0;
    if (model == MODEL_DLN && (depth < 1 || depth != params[0])) throw new IllegalArgumentException("depth must be a positive integer");
    if (model != MODEL_DLN && model != MODEL_GBM) throw new IllegalArgumentException("unknown model " + model);
    if (scheme < EULER_MARUYAMA || scheme > TAYLOR_15) throw new IllegalArgumentException("unknown scheme " + scheme);
    double y = y0;
    if (traj != null) traj[trajOff] = y;
    for (int n = 0; n < steps; n++) {
      double dw = dW[dWOff + n];
      double next;
      if (model == MODEL_DLN) {
        double s = params[1], c = params[2], sigma = params[3];
        switch (scheme) {
          case EULER_MARUYAMA: next = dlnEm(y, depth, s, c, sigma * sigma, dt, dw); break;
          case MILSTEIN: next = dlnMilstein(y, depth, s, c, sigma * sigma, dt, dw); break;
          default: next = dlnTaylor15(y, depth, s, c, sigma, dt, dw, dZ[dZOff + n], w); break;
        }
      } else {
        double mu = params[0], vol = params[1];
        double f = mu * y, g = vol * y;
        switch (scheme) {
          case EULER_MARUYAMA: next = emUpdate(y, f, g, dt, dw); break;
          case MILSTEIN: next = milsteinUpdate(y, f, g, vol * g, dt, dw); break;
          default: next = taylor15Update(y, dt, dw, dZ[dZOff + n], f, mu, 0.0, g, vol, 0.0); break;
        }
      }
      if (!(next >= 0.0 && next <= bound)) {
        if (next < 0.0 && next >= -bound) {
          next = boundary == REFLECTING ? -next : 0.0;
        } else {
          if (traj != null) for (int k = n + 1; k <= steps; k++) traj[trajOff + k] = bound;
          return bound;
        }
      }
      y = next;
      if (traj != null) traj[trajOff + n + 1] = y;
    }
    return y;
  }

  // ---------------------------------------------------------------------------
  // Deterministic limits.

  /**
   * Gradient flow of one mode, da/dt = a^(L-1) (s - a^L), by classical RK4 with
   * fixed step dt. Writes a after every recordEvery steps (and at step 0):
   * out[off + r] for r = 0 .. steps / recordEvery.
   */
  public static void gradientFlow(int depth, double s, double a0, double dt, int steps, int recordEvery,
                                  double[] out, int off) {
    if (depth < 1 || recordEvery < 1 || steps < 0) throw new IllegalArgumentException("need depth >= 1, steps >= 0, recordEvery >= 1");
    double a = a0;
    out[off] = a;
    for (int n = 0; n < steps; n++) {
      double k1 = flow(a, depth, s);
      double k2 = flow(a + 0.5 * dt * k1, depth, s);
      double k3 = flow(a + 0.5 * dt * k2, depth, s);
      double k4 = flow(a + dt * k3, depth, s);
      a += dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
      if ((n + 1) % recordEvery == 0) out[off + (n + 1) / recordEvery] = a;
    }
  }

  private static double flow(double a, int depth, double s) {
    double m = ipow(a, depth - 1);
    return m * (s - m * a);
  }

  /**
   * Iterates the balanced per-mode GD map in normalized form (SCIENCE.md section 6),
   * x &lt;- x - (r/L) x^(L-1) (x^L - 1), with r = lr L s^(2-2/L) and x = a / s^(1/L).
   * Writes out[off + n] = x after n iterations, n = 0 .. iterations.
   */
  public static void gdMap(int depth, double r, double x0, int iterations, double[] out, int off) {
    if (depth < 1 || iterations < 0) throw new IllegalArgumentException("need depth >= 1, iterations >= 0");
    double x = x0;
    double k = r / depth;
    out[off] = x;
    for (int n = 1; n <= iterations; n++) {
      double m = ipow(x, depth - 1);
      x = x - k * m * (m * x - 1.0);
      out[off + n] = x;
    }
  }
}
