package dlnlab.kernel;

/**
 * Fast counter-based standard normal variates: a pure function of (key, counter).
 *
 * <p>The 64 bits at (key, counter) are SplitMix64's output for state
 * key + counter * GOLDEN (one finalizer, two multiplies). They feed a 1024-layer
 * ziggurat (Marsaglia and Tsang 2000) over the half-normal: the low 10 bits choose
 * the layer, the top 54 bits read as a signed integer give the sign and a 53-bit
 * uniform position in the layer. About 99.6% of draws are accepted on that first
 * test; the rest (wedges and the tail beyond {@link #TAIL_START}) draw further
 * bits by re-mixing, so every value is still a pure function of (key, counter).
 * The method is exact: its output has the normal distribution up to the
 * resolution of 53-bit uniforms.
 *
 * <p>Keys come from {@link #key(long, long, long)}, e.g. (seed, path, mode) for
 * the SDE kernel; counters are step indices. Nothing here allocates.
 */
public final class Normal {
  private Normal() {}

  /** Weyl increment of SplitMix64 (odd; 2^64 / golden ratio). */
  public static final long GOLDEN = 0x9E3779B97F4A7C15L;

  /** Number of ziggurat layers. */
  public static final int LAYERS = 1024;

  /** Start r of the tail (right edge of the base layer's rectangle), solved at class load. */
  public static final double TAIL_START;

  /** Area v of each layer under the unnormalized density exp(-x^2/2). */
  public static final double LAYER_AREA;

  /** X[i]: right edge of layer i (X[0] = v / f(r) is the base layer's pseudo-width, X[LAYERS] = 0). */
  private static final double[] X = new double[LAYERS + 1];
  /** F[i] = exp(-X[i]^2 / 2); F[LAYERS] = 1. */
  private static final double[] F = new double[LAYERS + 1];
  /** RATIO[i] = X[i+1] / X[i]: a uniform below it lies inside the next layer's rectangle. */
  private static final double[] RATIO = new double[LAYERS];
  /** X[i] * 2^-53, for kernels that inline the fast path on the raw integer (b &gt;&gt; 10). */
  static final double[] X53 = new double[LAYERS + 1];
  /** RATIO[i] * 2^53: the fast path accepts when |(double) (b &gt;&gt; 10)| &lt; LIM53[i]. */
  static final double[] LIM53 = new double[LAYERS];

  private static final long SALT_A = 0xD6E8FEB86659FD93L;
  private static final long SALT_B = 0xA0761D6478BD642FL;

  static {
    // Solve for r such that the LAYERS layers of equal area close exactly at the top
    // (the last layer [0, X[255]] x [f(X[255]), 1] has area v as well), by bisection.
    double lo = 3.0, hi = 4.5;
    for (int it = 0; it < 200; it++) {
      double mid = 0.5 * (lo + hi);
      if (closure(mid) > 0.0) lo = mid; else hi = mid;
      if (hi - lo <= Math.ulp(mid)) break;
    }
    double r = 0.5 * (lo + hi);
    TAIL_START = r;
    LAYER_AREA = layerArea(r);
    fillTables(r, LAYER_AREA);
  }

  private static double f(double x) {
    return Math.exp(-0.5 * x * x);
  }

  /** Mills ratio (upper-tail area of exp(-x^2/2) divided by exp(-x^2/2)) by its continued fraction, x > 2. */
  private static double millsRatio(double x) {
    double t = x;
    for (int k = 300; k >= 1; k--) t = x + k / t;
    return 1.0 / t;
  }

  /** Area of the base layer: rectangle [0, r] x [0, f(r)] plus the tail beyond r. */
  private static double layerArea(double r) {
    return f(r) * (r + millsRatio(r));
  }

  /**
   * Residual of the top layer for trial r: positive when the layers reach the top
   * too early (r too small), negative when they stop short (r too large).
   */
  private static double closure(double r) {
    double v = layerArea(r);
    double x = r;
    for (int i = 1; i < LAYERS - 1; i++) {
      double y = v / x + f(x);
      if (y >= 1.0) return 1.0;
      x = Math.sqrt(-2.0 * Math.log(y));
    }
    return v / x + f(x) - 1.0;
  }

  private static void fillTables(double r, double v) {
    X[0] = v / f(r);
    X[1] = r;
    for (int i = 1; i < LAYERS - 1; i++) X[i + 1] = Math.sqrt(-2.0 * Math.log(v / X[i] + f(X[i])));
    X[LAYERS] = 0.0;
    for (int i = 0; i < LAYERS; i++) {
      F[i] = f(X[i]);
      RATIO[i] = X[i + 1] / X[i];
    }
    F[LAYERS] = 1.0;
    for (int i = 0; i <= LAYERS; i++) X53[i] = X[i] * 0x1.0p-53;
    for (int i = 0; i < LAYERS; i++) LIM53[i] = RATIO[i] * 0x1.0p53;
  }

  /** Relative mismatch of the top layer's area against the others (a table self-check). */
  public static double topLayerAreaError() {
    double top = X[LAYERS - 1] * (1.0 - F[LAYERS - 1]);
    return (top - LAYER_AREA) / LAYER_AREA;
  }

  /** Right edge of layer i, 0 &lt;= i &lt;= LAYERS (for tests). */
  public static double layerEdge(int i) {
    return X[i];
  }

  /** A stream key for (seed, stream, substream), e.g. (seed, path, mode). */
  public static long key(long seed, long stream, long substream) {
    return Rng.bits(seed, stream, substream);
  }

  /** The 64 random bits at (key, counter): SplitMix64 on state key + counter * GOLDEN. */
  public static long bits(long key, long counter) {
    return Rng.mix64(key + counter * GOLDEN);
  }

  /** Standard normal at (key, counter). */
  public static double at(long key, long counter) {
    return fromBits(bits(key, counter));
  }

  /**
   * Standard normal from 64 random bits: bits 0-9 pick the layer, bits 10-63 read
   * as a signed integer give a uniform u in [-1, 1) whose sign is the variate's.
   * The fast path is inlined by the JIT; rare draws go to {@link #slow}.
   */
  public static double fromBits(long b) {
    int i = (int) b & (LAYERS - 1);
    double u = (b >> 10) * 0x1.0p-53;
    if (Math.abs(u) < RATIO[i]) return u * X[i];
    return slow(b);
  }

  private static double uniformOpen(long h) {
    return ((h >>> 11) + 0.5) * 0x1.0p-53;
  }

  /**
   * Wedge and tail draws; further randomness comes from re-mixing b, so the result
   * is a function of b. Equals fromBits(b) for every b (kernels that inline the
   * fast path call it when the fast test fails).
   */
  static double slow(long b) {
    long h = b;
    while (true) {
      int i = (int) h & (LAYERS - 1);
      double su = (h >> 10) * 0x1.0p-53;
      double u = Math.abs(su);
      double sign = su < 0.0 ? -1.0 : 1.0;
      double x = u * X[i];
      if (u < RATIO[i]) return sign * x;
      h = Rng.mix64(h ^ SALT_A);
      if (i == 0) {
        // Tail beyond r (Marsaglia 1964): x = -ln(u1)/r, accept when -2 ln(u2) > x^2.
        while (true) {
          double t = -Math.log(uniformOpen(h)) / TAIL_START;
          h = Rng.mix64(h ^ SALT_B);
          double y = -Math.log(uniformOpen(h));
          h = Rng.mix64(h ^ SALT_A);
          if (y + y > t * t) return sign * (TAIL_START + t);
        }
      }
      double yv = F[i] + uniformOpen(h) * (F[i + 1] - F[i]);
      if (yv < f(x)) return sign * x;
      h = Rng.mix64(h ^ SALT_B);
    }
  }

  /** Fills out[off .. off+n) with normals at (key, first + k), k = 0..n-1. */
  public static void fill(long key, long first, double[] out, int off, int n) {
    for (int k = 0; k < n; k++) out[off + k] = at(key, first + k);
  }

  /**
   * Fills out[off .. off+n) with scales[k % d] * at(key, first + k), k = 0..n-1,
   * d = scales.length: rows of d entries (samples as rows) with a scale per
   * column, or one scale for all when d = 1.
   */
  public static void fillColumns(long key, long first, double[] scales, double[] out, int off, int n) {
    int d = scales.length;
    if (d == 0 && n > 0) throw new IllegalArgumentException("no column scales for " + n + " entries");
    for (int k0 = 0; k0 < n; k0 += d) {
      int m = Math.min(d, n - k0);
      for (int b = 0; b < m; b++) out[off + k0 + b] = scales[b] * at(key, first + k0 + b);
    }
  }
}
