package dlnlab.kernel;

/**
 * Counter-based random numbers: every value is a pure function of
 * (seed, stream, index), so results do not depend on call order, chunking or
 * thread count. The mixer is SplitMix64's finalizer applied to a Weyl sequence
 * over the three words.
 */
public final class Rng {
  private Rng() {}

  private static final long GOLDEN = 0x9E3779B97F4A7C15L;

  /** SplitMix64 finalizer: a bijective avalanche mix of 64 bits. */
  public static long mix64(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  /** The (seed, stream) part of {@link #bits}: it does not depend on the index. */
  private static long key(long seed, long stream) {
    return mix64(mix64(seed + GOLDEN) ^ (stream * GOLDEN + 0x632BE59BD9B4E019L));
  }

  /** bits(seed, stream, index) from the key of (seed, stream). */
  private static long keyed(long key, long index) {
    return mix64(key ^ (index * 0xD1B54A32D192ED03L + GOLDEN));
  }

  /** Uniform double in (0, 1) from 64 random bits. */
  private static double toUniform(long bits) {
    return ((bits >>> 11) + 0.5) * 0x1.0p-53;
  }

  /** Box-Muller of the key's counters 2 index and 2 index + 1. */
  private static double keyedGaussian(long key, long index) {
    double u1 = toUniform(keyed(key, 2 * index));
    double u2 = toUniform(keyed(key, 2 * index + 1));
    return Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2.0 * Math.PI * u2);
  }

  /** 64 random bits at position (seed, stream, index). */
  public static long bits(long seed, long stream, long index) {
    return keyed(key(seed, stream), index);
  }

  /** Uniform double in the open interval (0, 1). */
  public static double uniform(long seed, long stream, long index) {
    return toUniform(bits(seed, stream, index));
  }

  /** Standard normal at position (seed, stream, index), by Box-Muller on two counters. */
  public static double gaussian(long seed, long stream, long index) {
    return keyedGaussian(key(seed, stream), index);
  }

  /**
   * Fills out[off .. off+n) with gaussian(seed, stream, first + i) * scale, the
   * same numbers bit for bit; the (seed, stream) mix is computed once.
   */
  public static void fillGaussian(long seed, long stream, long first, double scale,
                                  double[] out, int off, int n) {
    long key = key(seed, stream);
    for (int i = 0; i < n; i++) out[off + i] = scale * keyedGaussian(key, first + i);
  }

  /**
   * Fills out[off .. off+n) with gaussian(seed, stream, first + i) * scales[i % d],
   * d = scales.length: rows of d entries (samples as rows) with a scale per
   * column, the same numbers bit for bit as fillGaussian with scale 1.0 followed
   * by a multiplication by scales[i % d].
   */
  public static void fillGaussianColumns(long seed, long stream, long first, double[] scales,
                                         double[] out, int off, int n) {
    long key = key(seed, stream);
    int d = scales.length;
    if (d == 0 && n > 0) throw new IllegalArgumentException("no column scales for " + n + " entries");
    for (int i0 = 0; i0 < n; i0 += d) {
      int m = Math.min(d, n - i0);
      for (int b = 0; b < m; b++) out[off + i0 + b] = scales[b] * keyedGaussian(key, first + i0 + b);
    }
  }

  /** A seed for a named sub-purpose, derived deterministically from a parent seed. */
  public static long derive(long seed, long purpose) {
    return mix64(mix64(seed ^ 0x5DEECE66DL) + purpose * GOLDEN);
  }
}
