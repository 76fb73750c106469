package dlnlab.kernel;

/**
 * Spectra of symmetric operators known only through products y = A x: Lanczos
 * for a few extreme eigenpairs, Hutchinson's trace estimate, and the dense
 * matrix of a small operator.
 *
 * <h2>Lanczos</h2>
 * Unrestarted Lanczos with partial reorthogonalization (Simon, Math. Comp. 42,
 * 1984): the loss of orthogonality of each new vector is estimated by Simon's
 * recurrence from T; when the estimate passes sqrt(eps), the true values are
 * measured (a projection on the basis: the estimate is a bound, often far above
 * them) and the recurrence restarts from them, and only when they exceed
 * sqrt(eps) is the vector (and the next one) orthogonalized against all
 * earlier ones by up to two passes of classical Gram-Schmidt. The basis stays
 * semi-orthogonal, which is enough for the tridiagonal T to be the projection
 * of A on an orthonormal basis of the Krylov space to working precision: no spurious copies, Ritz values and residual estimates as with
 * full reorthogonalization, at a fraction of its 4 j n flops at step j. A
 * nearly invariant Krylov space (few distinct eigenvalues, where new vectors
 * grow from rounding, which the recurrence does not model) switches the rest
 * of the solve to full reorthogonalization, and the locked Ritz vectors are
 * orthonormalized explicitly.
 * A step is the modified Gram-Schmidt form of the recurrence in two sweeps
 * over the product (the new column is normalized by the next step's first
 * sweep). A Ritz pair (theta, y) is converged when ||A y - theta y|| &lt;=
 * max(tol |theta|, FLOOR ||A||), with ||A|| estimated by the largest ||A v||
 * and |theta| seen. Residuals are estimated from T (|beta z_last|) while
 * iterating and computed explicitly for the answer; the wanted Ritz values
 * come from Sturm counts and Newton's method on T, and when they look
 * converged, their eigenvectors of T from inverse iteration (LAPACK's full
 * decomposition of T only for clusters and at the end of a run's space).
 *
 * <p>One Krylov sequence cannot see an eigenvector orthogonal to it: the second
 * copy of a repeated eigenvalue, or anything outside an invariant subspace
 * that the start vector lies in. Two mechanisms recover them.
 * <ul>
 * <li>Breakdown (beta &lt; BREAKDOWN ||A||: an invariant subspace): a seeded
 * random vector orthogonal to everything so far continues the basis, with a
 * zero off-diagonal in T.</li>
 * <li>Locking and verification probes: when the first run has converged, its
 * k wanted pairs are locked (Ritz vectors Y, Rayleigh quotients, explicit
 * residuals) and a probe run starts from a seeded random vector orthogonal to
 * Y: Lanczos on the deflated operator (I - YY^T) A (I - YY^T), where a missed
 * copy of a wanted eigenvalue is an eigenvector. A probe whose converged Ritz
 * pair beats a locked one has found a missed eigenvalue: a Rayleigh-Ritz step
 * on the locked vectors and the probe's Ritz vectors (which restores the
 * couplings Y^T A x the deflated operator leaves out) locks the best k again,
 * and another probe follows. A probe that beats nothing ends only after
 * {@link #verifySteps} Lanczos steps (or when its space is exhausted), a length
 * fixed before the run, so a start vector that barely overlaps a missed
 * eigenvector cannot end it early. By the bound of Kuczynski and Wozniakowski
 * (SIAM J. Matrix Anal. Appl. 13, 1992) for Lanczos from a random start, after
 * that many steps the top Ritz value of the deflated operator is within
 * {@link #VERIFY_RESOLUTION} times its spectral spread of its top eigenvalue
 * with probability at least 1 - {@link #VERIFY_FAILURE} (the same at the
 * bottom end). So when the last probe beats nothing, no eigenvalue beyond the
 * k-th reported one by more than that resolution is missing, multiplicity
 * included, except with that probability over the seed.</li>
 * </ul>
 */
public final class Spectra {
  private Spectra() {}

  /** Which end of the spectrum: largest algebraic eigenvalues. */
  public static final int LARGEST = 0;
  /** Which end of the spectrum: smallest algebraic eigenvalues. */
  public static final int SMALLEST = 1;
  /** Which end of the spectrum: largest absolute values. */
  public static final int MAGNITUDE = 2;

  /** Unit roundoff of double. */
  static final double EPS = 0x1.0p-52;
  /**
   * The basis counts as semi-orthogonal while every estimated |q_i . q_j| stays
   * below sqrt(EPS): then T is the projection of A on an orthonormal basis of
   * the Krylov space to working precision (Simon, Math. Comp. 42, 1984), so Ritz
   * values and residual estimates are as good as with full reorthogonalization.
   */
  static final double SEMI_ORTHOGONAL = 0x1.0p-26;

  /** Residual floor relative to ||A||: below this, rounding dominates. */
  public static final double FLOOR = 1e-12;
  /** beta below BREAKDOWN ||A|| ends a block as an invariant subspace. */
  public static final double BREAKDOWN = 1e-14;
  /** beta below NEAR_INVARIANT ||A|| in the first run makes k = 1 runs probe too. */
  public static final double NEAR_INVARIANT = 1e-8;
  /** Relative size of the seeded perturbation added to a warm start. */
  public static final double WARM_PERTURBATION = 1e-6;
  /**
   * An unwanted Ritz pair has settled when its residual is below this fraction
   * of its distance behind the k-th wanted value (or below the tolerance).
   */
  public static final double SETTLE_FRACTION = 0.01;

  /** Failure probability, per end of the spectrum, of a verification probe (see {@link #verifySteps}). */
  public static final double VERIFY_FAILURE = 1e-6;
  /** What a verification probe resolves: this fraction of the deflated operator's spectral spread. */
  public static final double VERIFY_RESOLUTION = 1e-2;

  /**
   * Lanczos steps of a verification probe on a deflated space of dimension dim:
   * the least j with 1.648 sqrt(dim) exp(-sqrt(eps) (2j - 1)) &lt;= VERIFY_FAILURE,
   * eps = VERIFY_RESOLUTION (Kuczynski-Wozniakowski), capped at dim (where
   * the Krylov space is the whole space and the probe is exact).
   */
  public static int verifySteps(int dim) {
    if (dim < 1) return 0;
    double j = (Math.log(1.648 * Math.sqrt(dim) / VERIFY_FAILURE) / Math.sqrt(VERIFY_RESOLUTION) + 1.0) / 2.0;
    return (int) Math.min(dim, Math.ceil(j));
  }

  /** Purposes for {@link Rng#derive}. */
  private static final long RANDOM_START = 1, RESTART = 2, WARM = 3, RADEMACHER = 4;

  /** Length of the info array filled by {@link #lanczos}. */
  public static final int INFO_LENGTH = 6;

  /**
   * A reorthogonalization pass is repeated only when it removed more than this
   * fraction of the vector's norm (1/sqrt 2, Kahan-Parlett's "twice is enough").
   */
  static final double SECOND_PASS_RATIO = 0.7071067811865476;

  /**
   * Euclidean norm of x[0..n): the square root of a sum of squares formed with
   * four partial sums; when that sum is not a normal, finite number (a vector
   * too large or too small to square safely, or not finite) {@link Blas#nrm2}'s
   * scaled loop decides.
   */
  static double norm(int n, double[] x) {
    return norm(n, x, Blas.dot(n, x, 0, x, 0));
  }

  /** {@link #norm} of x when squares = Blas.dot(n, x, 0, x, 0) is already known. */
  static double norm(int n, double[] x, double squares) {
    if (squares > 1e-280 && squares < 1e280) return Math.sqrt(squares);
    return Blas.nrm2(n, x, 0);
  }

  /**
   * Above this Krylov dimension the convergence check for LARGEST or SMALLEST
   * computes only the k (k + 1 in a probe run) Ritz values at that end
   * ({@link #tridiagonalEigenvalue} and inverse iteration, O(k t)) instead of
   * all t (O(t^2), which at t ~ 60 costs more than a Hessian-vector product of
   * a few thousand parameters).
   */
  static final int CHEAP_EXTREMES_FROM = 12;

  /** Basis vectors a Lanczos solve makes room for up front (then doubling). */
  static final int INITIAL_COLUMNS = 8;

  /**
   * The k extreme eigenpairs of the symmetric operator op by Lanczos with full
   * reorthogonalization, locking and probes (see the class comment).
   *
   * @param op        symmetric operator of size n
   * @param k         number of eigenpairs, 1 &lt;= k &lt;= n
   * @param which     {@link #LARGEST}, {@link #SMALLEST} or {@link #MAGNITUDE}
   * @param tol       relative residual tolerance, &gt; 0
   * @param maxIter   cap on the Krylov dimension of each run (one operator
   *                  application per Lanczos vector), reduced to n; at least k
   * @param start     start vector (length n, finite, not zero), or null
   * @param warm      when start is null and warmCount &gt; 0: warmCount packed vectors
   *                  (column-major n x warmCount) whose normalized sum, plus a seeded
   *                  perturbation of relative size {@link #WARM_PERTURBATION}, is the start
   * @param warmCount number of warm vectors (0 for none)
   * @param seed      seed of every random vector (start, restarts, probes, perturbation)
   * @param probe     run probes after the first run when k &gt;= 2, or when the first
   *                  Krylov space was (nearly) invariant
   * @param values    out: k eigenvalue estimates (Rayleigh quotients), descending
   * @param vectors   out (may be null): n x k unit Ritz vectors, column i for values[i]
   * @param residuals out: k explicit residual norms ||A y - theta y||
   * @param info      out, length {@link #INFO_LENGTH}: operator applications,
   *                  converged (1 or 0), largest Krylov dimension of a run, probes,
   *                  Lanczos blocks started after breakdowns, steps that
   *                  reorthogonalized against the whole basis
   * @throws IllegalArgumentException on bad sizes, k, which, tol or start, or when
   *         the operator returns a non-finite vector
   */
  public static void lanczos(Operator op, int k, int which, double tol, int maxIter,
                             double[] start, double[] warm, int warmCount, long seed, boolean probe,
                             double[] values, double[] vectors, double[] residuals, int[] info) {
    int n = op.size();
    if (n < 1) throw new IllegalArgumentException("operator size must be positive, got " + n);
    if (k < 1 || k > n) throw new IllegalArgumentException("k must be in 1.." + n + ", got " + k);
    if (which < LARGEST || which > MAGNITUDE) throw new IllegalArgumentException("which must be 0, 1 or 2, got " + which);
    if (!(tol > 0.0) || Double.isInfinite(tol)) throw new IllegalArgumentException("tol must be positive and finite, got " + tol);
    int m = Math.min(maxIter, n);
    if (m < k) throw new IllegalArgumentException("maxIter must be at least k=" + k + ", got " + maxIter);
    if ((long) n * m > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("n * maxIter too large for one array: " + n + " * " + m);
    if (start != null && start.length != n) throw new IllegalArgumentException("start has length " + start.length + ", expected " + n);
    if (start == null && warmCount > 0 && (warm == null || warm.length < (long) n * warmCount)) {
      throw new IllegalArgumentException("warm must hold " + warmCount + " vectors of length " + n);
    }
    if (values.length < k || residuals.length < k || info.length < INFO_LENGTH
        || (vectors != null && vectors.length < (long) n * k)) {
      throw new IllegalArgumentException("output arrays too short for k=" + k + ", n=" + n);
    }
    Workspace ws = Workspace.take(n, m, k);
    Lanczos run = new Lanczos(op, n, m, k, which, tol, seed, probe, false, ws);
    run.initStart(start, warm, warmCount);
    run.solve();
    if (!run.converged && run.skipped > 0) {
      // a semi-orthogonal basis gives Ritz values to working precision but Ritz
      // vectors only to about sqrt(eps) ||A||: a wanted pair near 0, held to the
      // 1e-12 ||A|| floor, can miss it. The same solve with a fully orthogonal
      // basis decides (the products of both count).
      int spent = run.apps;
      run = new Lanczos(op, n, m, k, which, tol, seed, probe, true, ws);
      run.initStart(start, warm, warmCount);
      run.solve();
      run.apps += spent;
    }
    run.output(values, vectors, residuals);
    info[0] = run.apps;
    info[1] = run.converged ? 1 : 0;
    info[2] = run.maxDim;
    info[3] = run.probes;
    info[4] = run.restarts;
    info[5] = run.reorths;
    Workspace.give(ws);
  }

  /**
   * h[c] = q_c . w for the first cols columns of the n-row column-major q, two
   * columns per sweep over w (three in the last sweep when cols is odd). Each sum
   * is formed exactly as {@link Blas#dot} forms it (four partial sums over
   * i mod 4, combined as (s0 + s1) + (s2 + s3)), so h equals cols separate
   * Blas.dot calls bit for bit, while w is read half as often.
   */
  public static void project(int n, int cols, double[] q, double[] w, double[] h) {
    if (cols == 1) {
      h[0] = Blas.dot(n, q, 0, w, 0);
      return;
    }
    int c = 0;
    for (; c + 1 < cols; c += 2) {
      if (c + 3 == cols) {
        project3(n, c, q, w, h);
        return;
      }
      int o0 = c * n, o1 = o0 + n;
      double a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
      int i = 0;
      for (; i + 3 < n; i += 4) {
        double w0 = w[i], w1 = w[i + 1], w2 = w[i + 2], w3 = w[i + 3];
        a0 += q[o0 + i] * w0;
        a1 += q[o0 + i + 1] * w1;
        a2 += q[o0 + i + 2] * w2;
        a3 += q[o0 + i + 3] * w3;
        b0 += q[o1 + i] * w0;
        b1 += q[o1 + i + 1] * w1;
        b2 += q[o1 + i + 2] * w2;
        b3 += q[o1 + i + 3] * w3;
      }
      for (; i < n; i++) {
        a0 += q[o0 + i] * w[i];
        b0 += q[o1 + i] * w[i];
      }
      h[c] = (a0 + a1) + (a2 + a3);
      h[c + 1] = (b0 + b1) + (b2 + b3);
    }
  }

  /** {@link #project} for the three columns c, c+1, c+2 in one sweep. */
  private static void project3(int n, int c, double[] q, double[] w, double[] h) {
    int o0 = c * n, o1 = o0 + n, o2 = o1 + n;
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
    double c0 = 0, c1 = 0, c2 = 0, c3 = 0;
    int i = 0;
    for (; i + 3 < n; i += 4) {
      double w0 = w[i], w1 = w[i + 1], w2 = w[i + 2], w3 = w[i + 3];
      a0 += q[o0 + i] * w0;
      a1 += q[o0 + i + 1] * w1;
      a2 += q[o0 + i + 2] * w2;
      a3 += q[o0 + i + 3] * w3;
      b0 += q[o1 + i] * w0;
      b1 += q[o1 + i + 1] * w1;
      b2 += q[o1 + i + 2] * w2;
      b3 += q[o1 + i + 3] * w3;
      c0 += q[o2 + i] * w0;
      c1 += q[o2 + i + 1] * w1;
      c2 += q[o2 + i + 2] * w2;
      c3 += q[o2 + i + 3] * w3;
    }
    for (; i < n; i++) {
      a0 += q[o0 + i] * w[i];
      b0 += q[o1 + i] * w[i];
      c0 += q[o2 + i] * w[i];
    }
    h[c] = (a0 + a1) + (a2 + a3);
    h[c + 1] = (b0 + b1) + (b2 + b3);
    h[c + 2] = (c0 + c1) + (c2 + c3);
  }

  /**
   * w += sum_c s h[c] q_c over the first cols columns of q, s = -1 when negate,
   * else 1: entry by entry the terms are added in column order, as cols
   * successive {@link Blas#axpy} calls add them, so the result is the same bit
   * for bit; up to four columns per sweep, so w is read and written a quarter as
   * often.
   */
  public static void accumulate(int n, int cols, double[] q, double[] h, boolean negate, double[] w) {
    int c = 0;
    for (; c + 3 < cols; c += 4) {
      double g0 = negate ? -h[c] : h[c], g1 = negate ? -h[c + 1] : h[c + 1];
      double g2 = negate ? -h[c + 2] : h[c + 2], g3 = negate ? -h[c + 3] : h[c + 3];
      int o0 = c * n, o1 = o0 + n, o2 = o1 + n, o3 = o2 + n;
      for (int i = 0; i < n; i++) {
        double x = w[i];
        x += g0 * q[o0 + i];
        x += g1 * q[o1 + i];
        x += g2 * q[o2 + i];
        x += g3 * q[o3 + i];
        w[i] = x;
      }
    }
    int left = cols - c;
    if (left == 3) {
      double g0 = negate ? -h[c] : h[c], g1 = negate ? -h[c + 1] : h[c + 1], g2 = negate ? -h[c + 2] : h[c + 2];
      int o0 = c * n, o1 = o0 + n, o2 = o1 + n;
      for (int i = 0; i < n; i++) {
        double x = w[i];
        x += g0 * q[o0 + i];
        x += g1 * q[o1 + i];
        x += g2 * q[o2 + i];
        w[i] = x;
      }
    } else if (left == 2) {
      axpy2(n, negate ? -h[c] : h[c], q, c * n, negate ? -h[c + 1] : h[c + 1], q, (c + 1) * n, w);
    } else if (left == 1) {
      Blas.axpy(n, negate ? -h[c] : h[c], q, c * n, w, 0);
    }
  }

  /** w[i] = (w[i] + a x[xo+i]) + b y[yo+i]: two successive axpys in one sweep, bit for bit. */
  public static void axpy2(int n, double a, double[] x, int xo, double b, double[] y, int yo, double[] w) {
    for (int i = 0; i < n; i++) {
      double v = w[i];
      v += a * x[xo + i];
      v += b * y[yo + i];
      w[i] = v;
    }
  }

  /**
   * The first sweep of a Lanczos step. u holds the next basis vector at 1/s
   * times unit length and w = A u (the product of the stored vector): x = s u
   * is written to the basis column q[qo..qo+n) (u is left as it is), w = s w -
   * b (sp p) with p the previous basis vector at 1/sp times unit length (b = 0
   * when there is none; p may then be u), and out[0] = ||s w||^2 (the
   * product's squared norm, before the subtraction) and out[1] = x . w (after
   * it). u, p and w are the run's working vectors, so the basis is only
   * written here, never read. Each sum has four partial sums over i mod 4,
   * combined as (s0 + s1) + (s2 + s3), so results do not depend on the machine.
   */
  public static void stepSweep(int n, double s, double[] u, double[] q, int qo, double b, double sp, double[] p,
                               double[] w, double[] out) {
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0, c0 = 0, c1 = 0, c2 = 0, c3 = 0;
    int i = 0;
    for (; i + 3 < n; i += 4) {
      double x0 = u[i] * s, x1 = u[i + 1] * s, x2 = u[i + 2] * s, x3 = u[i + 3] * s;
      q[qo + i] = x0;
      q[qo + i + 1] = x1;
      q[qo + i + 2] = x2;
      q[qo + i + 3] = x3;
      double v0 = w[i] * s, v1 = w[i + 1] * s, v2 = w[i + 2] * s, v3 = w[i + 3] * s;
      a0 += v0 * v0;
      a1 += v1 * v1;
      a2 += v2 * v2;
      a3 += v3 * v3;
      v0 -= b * (p[i] * sp);
      v1 -= b * (p[i + 1] * sp);
      v2 -= b * (p[i + 2] * sp);
      v3 -= b * (p[i + 3] * sp);
      w[i] = v0;
      w[i + 1] = v1;
      w[i + 2] = v2;
      w[i + 3] = v3;
      c0 += x0 * v0;
      c1 += x1 * v1;
      c2 += x2 * v2;
      c3 += x3 * v3;
    }
    for (; i < n; i++) {
      double x = u[i] * s;
      q[qo + i] = x;
      double v = w[i] * s;
      a0 += v * v;
      v -= b * (p[i] * sp);
      w[i] = v;
      c0 += x * v;
    }
    out[0] = (a0 + a1) + (a2 + a3);
    out[1] = (c0 + c1) + (c2 + c3);
  }

  /**
   * The second sweep of a Lanczos step: y = w - a (s u) (the next vector,
   * unnormalized; s u is the basis vector the first sweep formed), w and u left
   * as they were. Returns y . y (four partial sums, as {@link #stepSweep}).
   */
  public static double stepResidual(int n, double a, double s, double[] u, double[] w, double[] y) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i = 0;
    for (; i + 3 < n; i += 4) {
      double u0 = w[i] - a * (u[i] * s), u1 = w[i + 1] - a * (u[i + 1] * s);
      double u2 = w[i + 2] - a * (u[i + 2] * s), u3 = w[i + 3] - a * (u[i + 3] * s);
      y[i] = u0;
      y[i + 1] = u1;
      y[i + 2] = u2;
      y[i + 3] = u3;
      s0 += u0 * u0;
      s1 += u1 * u1;
      s2 += u2 * u2;
      s3 += u3 * u3;
    }
    for (; i < n; i++) {
      double v = w[i] - a * (u[i] * s);
      y[i] = v;
      s0 += v * v;
    }
    return (s0 + s1) + (s2 + s3);
  }

  /**
   * h[c] = q_c . u and g[c] = q_c . x[xo..xo+n) for the first cols columns of
   * the n-row column-major q, in one sweep over the basis (two columns at a time): each
   * sum is formed exactly as {@link Blas#dot} forms it, so h and g equal 2 cols
   * separate Blas.dot calls bit for bit while each column is read once.
   */
  public static void project2(int n, int cols, double[] q, double[] u, double[] x, int xo, double[] h, double[] g) {
    int c = 0;
    for (; c + 1 < cols; c += 2) {
      int o0 = c * n, o1 = o0 + n;
      double a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
      double d0 = 0, d1 = 0, d2 = 0, d3 = 0, e0 = 0, e1 = 0, e2 = 0, e3 = 0;
      int i = 0;
      for (; i + 3 < n; i += 4) {
        double p0 = q[o0 + i], p1 = q[o0 + i + 1], p2 = q[o0 + i + 2], p3 = q[o0 + i + 3];
        double r0 = q[o1 + i], r1 = q[o1 + i + 1], r2 = q[o1 + i + 2], r3 = q[o1 + i + 3];
        double u0 = u[i], u1 = u[i + 1], u2 = u[i + 2], u3 = u[i + 3];
        double x0 = x[xo + i], x1 = x[xo + i + 1], x2 = x[xo + i + 2], x3 = x[xo + i + 3];
        a0 += p0 * u0;
        a1 += p1 * u1;
        a2 += p2 * u2;
        a3 += p3 * u3;
        b0 += r0 * u0;
        b1 += r1 * u1;
        b2 += r2 * u2;
        b3 += r3 * u3;
        d0 += p0 * x0;
        d1 += p1 * x1;
        d2 += p2 * x2;
        d3 += p3 * x3;
        e0 += r0 * x0;
        e1 += r1 * x1;
        e2 += r2 * x2;
        e3 += r3 * x3;
      }
      for (; i < n; i++) {
        a0 += q[o0 + i] * u[i];
        b0 += q[o1 + i] * u[i];
        d0 += q[o0 + i] * x[xo + i];
        e0 += q[o1 + i] * x[xo + i];
      }
      h[c] = (a0 + a1) + (a2 + a3);
      h[c + 1] = (b0 + b1) + (b2 + b3);
      g[c] = (d0 + d1) + (d2 + d3);
      g[c + 1] = (e0 + e1) + (e2 + e3);
    }
    if (c < cols) {
      h[c] = Blas.dot(n, q, c * n, u, 0);
      g[c] = Blas.dot(n, q, c * n, x, xo);
    }
  }

  /** Newton iterations {@link #tridiagonalEigenvalue} tries before it bisects. */
  static final int NEWTON_STEPS = 8;

  /**
   * The eigenvalue of index idx (0 = smallest) of the symmetric tridiagonal t x t
   * matrix T with diagonal alpha and off-diagonal beta (beta[i] couples i and
   * i+1), given a bracket a &lt;= lambda_idx &lt;= b, to within a bracket of
   * width at most 1e-10 max(|a|, |b|) + pivmin, certified by Sturm counts (the
   * number of negative pivots of T - x I = L D L^T, a pivot below pivmin in size
   * counted as -pivmin, as LAPACK's dstebz counts them). From guess (NaN: none),
   * Newton's method on det(T - x I), whose pass also gives the Sturm count at x
   * and so narrows the bracket; once a step is below the wanted precision,
   * counts at x -+ delta either confirm lambda_idx in that narrow bracket or the
   * search goes on. A step that leaves the bracket, a stall, and any value that
   * is not confirmed fall back to bisection in the bracket found so far (the
   * route that always ends, about 35 counts from a wide bracket against 3 for a
   * Newton start near a simple eigenvalue). work: length &gt;= 1, scratch.
   * Returns the midpoint of the final bracket.
   */
  public static double tridiagonalEigenvalue(int t, double[] alpha, double[] beta, int idx, double a, double b,
                                             double guess, double pivmin, double[] work) {
    double x = guess;
    if (x >= a && x <= b && !(b - a <= 1e-10 * Math.max(Math.abs(a), Math.abs(b)) + pivmin)) {
      for (int it = 0; it < NEWTON_STEPS; it++) {
        int count = newtonPass(t, alpha, beta, x, pivmin, work);
        if (count > idx) b = Math.min(b, x); else a = Math.max(a, x);
        double next = x - 1.0 / work[0];
        double delta = 0.4e-10 * Math.abs(next) + 0.4 * pivmin;
        if (!(next > a && next < b)) break;
        if (Math.abs(next - x) <= delta) {
          // confirm: lambda_idx in [next - delta, next + delta], within the bracket
          double lo = Math.max(next - delta, a), hi = Math.min(next + delta, b);
          if (sturmCount(t, alpha, beta, lo, pivmin) <= idx) {
            a = lo;
            if (sturmCount(t, alpha, beta, hi, pivmin) > idx) return 0.5 * (lo + hi);
            a = hi;
          } else {
            b = lo;
          }
          break;
        }
        x = next;
      }
    }
    for (int it = 0; it < 200 && b - a > 1e-10 * Math.max(Math.abs(a), Math.abs(b)) + pivmin; it++) {
      double mid = 0.5 * (a + b);
      if (mid <= a || mid >= b) break;
      if (sturmCount(t, alpha, beta, mid, pivmin) > idx) b = mid; else a = mid;
    }
    return 0.5 * (a + b);
  }

  /** Number of eigenvalues of T (first t rows) below x: negative pivots of T - x I = L D L^T. */
  static int sturmCount(int t, double[] alpha, double[] beta, double x, double pivmin) {
    int count = 0;
    double q = alpha[0] - x;
    if (Math.abs(q) < pivmin) q = -pivmin;
    if (q < 0.0) count++;
    for (int i = 1; i < t; i++) {
      q = alpha[i] - x - beta[i - 1] * beta[i - 1] / q;
      if (Math.abs(q) < pivmin) q = -pivmin;
      if (q < 0.0) count++;
    }
    return count;
  }

  /**
   * {@link #sturmCount} at x, and into out[0] the derivative of log|det(T - x I)|
   * (the sum over pivots q_i of q_i' / q_i, = sum_j 1 / (x - lambda_j)), so that
   * x - 1 / out[0] is Newton's step on the determinant.
   */
  static int newtonPass(int t, double[] alpha, double[] beta, double x, double pivmin, double[] out) {
    int count = 0;
    double q = alpha[0] - x;
    if (Math.abs(q) < pivmin) q = -pivmin;
    if (q < 0.0) count++;
    double dq = -1.0, sum = dq / q;
    for (int i = 1; i < t; i++) {
      double bb = beta[i - 1] * beta[i - 1];
      double rq = bb / q;
      double dn = -1.0 + rq * dq / q;
      q = alpha[i] - x - rq;
      if (Math.abs(q) < pivmin) q = -pivmin;
      if (q < 0.0) count++;
      dq = dn;
      sum += dq / q;
    }
    out[0] = sum;
    return count;
  }

  /**
   * Eigenvalues of the symmetric tridiagonal n x n matrix with diagonal d and
   * off-diagonal e (e[i] couples i and i+1; length at least n, e[n-1] is
   * scratch) and the last component of each unit eigenvector, by implicit QL
   * with Wilkinson shifts (the EISPACK tql2 iteration) applying its rotations to
   * the last row of the eigenvector matrix only: O(n^2) instead of the O(n^3)
   * of a full eigenvector matrix. On return d holds the eigenvalues ascending
   * and zlast[i] the last component of the eigenvector of d[i] (its sign is
   * arbitrary); d and e are destroyed. Returns false, leaving d and zlast
   * undefined, when an eigenvalue needs more than 60 iterations (LAPACK then
   * decides).
   */
  public static boolean tridiagonalLastRow(int n, double[] d, double[] e, double[] zlast) {
    if (n == 0) return true;
    for (int i = 0; i < n; i++) zlast[i] = 0.0;
    zlast[n - 1] = 1.0;
    e[n - 1] = 0.0;
    final double eps = Math.ulp(1.0);
    for (int l = 0; l < n; l++) {
      int iter = 0;
      while (true) {
        int mm = l;
        for (; mm < n - 1; mm++) {
          double dd = Math.abs(d[mm]) + Math.abs(d[mm + 1]);
          if (Math.abs(e[mm]) <= eps * dd) break;
        }
        if (mm == l) break;
        if (++iter > 60) return false;
        double g = (d[l + 1] - d[l]) / (2.0 * e[l]);
        double r = hypot(g, 1.0);
        g = d[mm] - d[l] + e[l] / (g + (g >= 0.0 ? Math.abs(r) : -Math.abs(r)));
        double sn = 1.0, cs = 1.0, p = 0.0;
        boolean underflow = false;
        for (int i = mm - 1; i >= l; i--) {
          double f = sn * e[i], b = cs * e[i];
          r = hypot(f, g);
          e[i + 1] = r;
          if (r == 0.0) {
            d[i + 1] -= p;
            e[mm] = 0.0;
            underflow = true;
            break;
          }
          sn = f / r;
          cs = g / r;
          g = d[i + 1] - p;
          r = (d[i] - g) * sn + 2.0 * cs * b;
          p = sn * r;
          d[i + 1] = g + p;
          g = cs * r - b;
          double z1 = zlast[i + 1];
          zlast[i + 1] = sn * zlast[i] + cs * z1;
          zlast[i] = cs * zlast[i] - sn * z1;
        }
        if (underflow) continue;
        d[l] -= p;
        e[l] = g;
        e[mm] = 0.0;
      }
    }
    for (int i = 1; i < n; i++) {
      double dv = d[i], zv = zlast[i];
      int j = i - 1;
      while (j >= 0 && d[j] > dv) {
        d[j + 1] = d[j];
        zlast[j + 1] = zlast[j];
        j--;
      }
      d[j + 1] = dv;
      zlast[j + 1] = zv;
    }
    for (int i = 0; i < n; i++) if (!Double.isFinite(d[i]) || !Double.isFinite(zlast[i])) return false;
    return true;
  }

  /** Inverse iteration solves of {@link #tridiagonalEigenvector}. */
  static final int INVERSE_STEPS = 3;

  /**
   * A unit eigenvector of the symmetric tridiagonal t x t matrix T (diagonal
   * alpha, off-diagonal beta) for the eigenvalue nearest theta, by inverse
   * iteration (EISPACK's tinvit): T - theta I factored once by Gaussian
   * elimination with partial pivoting (LAPACK dgttrf's scheme, a pivot below
   * tiny in size replaced by tiny), then {@link #INVERSE_STEPS} solves from a
   * vector of ones (the first with U only), each scaled by its largest entry,
   * the last to unit length. Each solve shrinks the components along other
   * eigenvectors by |theta - lambda| / |theta - lambda'|. Into z[zo..zo+t);
   * returns the Rayleigh quotient rho = z^T T z, and into work[0] the residual
   * ||T z - rho z||, which bounds what the vector lacks whatever the gaps (NaN
   * when an iterate was not finite). work: length &gt;= 5 t, scratch.
   */
  public static double tridiagonalEigenvector(int t, double[] alpha, double[] beta, double theta, double tiny,
                                              double[] z, int zo, double[] work) {
    // work: [0, t) subdiagonal multipliers, [t, 2t) U's diagonal, [2t, 3t) and
    // [3t, 4t) its two superdiagonals, [4t, 5t) 1 where rows i, i+1 were swapped
    int dl = 0, dd = t, du = 2 * t, du2 = 3 * t, sw = 4 * t;
    for (int i = 0; i < t; i++) {
      work[dd + i] = alpha[i] - theta;
      work[du2 + i] = 0.0;
      if (i < t - 1) {
        work[dl + i] = beta[i];
        work[du + i] = beta[i];
      }
    }
    for (int i = 0; i < t - 1; i++) {
      double piv = work[dd + i], sub = work[dl + i];
      if (Math.abs(piv) >= Math.abs(sub)) {
        work[sw + i] = 0.0;
        if (Math.abs(piv) < tiny) piv = work[dd + i] = tiny;
        double fact = sub / piv;
        work[dl + i] = fact;
        work[dd + i + 1] -= fact * work[du + i];
      } else {
        work[sw + i] = 1.0;
        double fact = piv / sub;
        work[dd + i] = sub;
        work[dl + i] = fact;
        double up = work[du + i];
        work[du + i] = work[dd + i + 1];
        work[dd + i + 1] = up - fact * work[dd + i + 1];
        if (i < t - 2) {
          work[du2 + i] = work[du + i + 1];
          work[du + i + 1] = -fact * work[du + i + 1];
        }
      }
    }
    if (Math.abs(work[dd + t - 1]) < tiny) work[dd + t - 1] = tiny;
    for (int i = 0; i < t; i++) z[zo + i] = 1.0;
    for (int step = 0; step < INVERSE_STEPS; step++) {
      if (step > 0) {
        for (int i = 0; i < t - 1; i++) {
          if (work[sw + i] == 0.0) {
            z[zo + i + 1] -= work[dl + i] * z[zo + i];
          } else {
            double zi = z[zo + i];
            z[zo + i] = z[zo + i + 1];
            z[zo + i + 1] = zi - work[dl + i] * z[zo + i];
          }
        }
      }
      double big = 0.0;
      for (int i = t - 1; i >= 0; i--) {
        double v = z[zo + i];
        if (i < t - 1) v -= work[du + i] * z[zo + i + 1];
        if (i < t - 2) v -= work[du2 + i] * z[zo + i + 2];
        v /= work[dd + i];
        z[zo + i] = v;
        big = Math.max(big, Math.abs(v));
      }
      if (!(big > 0.0) || Double.isInfinite(big)) {
        work[0] = Double.NaN;
        return Double.NaN;
      }
      for (int i = 0; i < t; i++) z[zo + i] /= big;
    }
    double ss = 0.0;
    for (int i = 0; i < t; i++) ss += z[zo + i] * z[zo + i];
    double inv = 1.0 / Math.sqrt(ss);
    double rho = 0.0;
    for (int i = 0; i < t; i++) {
      double v = z[zo + i] * inv;
      z[zo + i] = v;
      rho += alpha[i] * v * v;
      if (i > 0) rho += 2.0 * beta[i - 1] * z[zo + i - 1] * v;
    }
    double rr = 0.0;
    for (int i = 0; i < t; i++) {
      double r = (alpha[i] - rho) * z[zo + i];
      if (i > 0) r += beta[i - 1] * z[zo + i - 1];
      if (i < t - 1) r += beta[i] * z[zo + i + 1];
      rr += r * r;
    }
    work[0] = Math.sqrt(rr);
    return rho;
  }

  private static double hypot(double a, double b) {
    double h = Math.sqrt(a * a + b * b);
    return (h > 1e-150 && h < 1e150) ? h : Math.hypot(a, b);
  }

  /**
   * The arrays of a Lanczos solve for one (n, m, k). A thread keeps the last
   * one it used (softly reachable, so the collector takes it back when memory
   * runs short) and reuses it for the next solve of the same shape: a solve of a
   * few dozen products at n of a few thousand otherwise spends as much time
   * allocating and zeroing its basis as on the products. A solve takes it from
   * the thread and gives it back when done, so a nested solve (an operator that
   * itself solves) gets a fresh one.
   */
  private static final class Workspace {
    final int n, m, k;
    /** The basis, INITIAL_COLUMNS columns at first, grown by doubling up to m (kept grown). */
    double[] q;
    final double[] xbuf, w, ua, ub, h, hy, alpha, beta, ly, lay, vbuf, avbuf, gram, gval, gv, lval, lres;
    final double[] d, e, z, res, zcol, omCur, omPrev, omNew, extVal, lu, ortho;
    final int[] wanted, vecIds;
    final boolean[] ritzWanted;
    /**
     * The unit random start of the last cold solve and the Gaussian
     * perturbation (with its norm) of the last warm one, each for its seed:
     * both depend on (seed, n) only, so a solve with the seed of the previous
     * one copies them instead of drawing n Gaussians again.
     */
    final double[] start, noise;
    long startSeed, noiseSeed;
    boolean startKept = false, noiseKept = false;
    double noiseNorm;

    Workspace(int n, int m, int k) {
      this.n = n; this.m = m; this.k = k;
      q = new double[n * Math.min(m, INITIAL_COLUMNS)];
      xbuf = new double[n];
      w = new double[n];
      ua = new double[n];
      ub = new double[n];
      h = new double[m];
      hy = new double[k];
      alpha = new double[m];
      beta = new double[m];
      ly = new double[n * k];
      lay = new double[n * k];
      vbuf = new double[2 * n * k];
      avbuf = new double[2 * n * k];
      gram = new double[4 * k * k];
      gval = new double[2 * k];
      gv = new double[2 * k];
      lval = new double[k];
      lres = new double[k];
      d = new double[m];
      e = new double[m];
      z = new double[m * m];
      res = new double[m];
      zcol = new double[Math.max(m, 2 * k)];
      wanted = new int[k];
      ritzWanted = new boolean[m];
      omCur = new double[m + 1];
      omPrev = new double[m + 1];
      omNew = new double[m + 1];
      extVal = new double[k + 1];
      lu = new double[5 * m];
      ortho = new double[m];
      vecIds = new int[k];
      start = new double[n];
      noise = new double[n];
    }

    /**
     * Zeroes what a solve may read before it writes (the orthogonality
     * estimates, T, the selection), O(m + k), so a reused workspace starts as a
     * new one; the n-sized arrays are always written first.
     */
    void clear() {
      for (double[] a : new double[][] {h, alpha, beta, d, e, res, zcol, omCur, omPrev, omNew, extVal, lval, lres}) {
        java.util.Arrays.fill(a, 0.0);
      }
      java.util.Arrays.fill(wanted, 0);
      java.util.Arrays.fill(ritzWanted, false);
    }

    private static final ThreadLocal<java.lang.ref.SoftReference<Workspace>> KEPT = new ThreadLocal<>();

    /** The thread's kept workspace when it has this shape (taken from the thread), else a new one. */
    static Workspace take(int n, int m, int k) {
      java.lang.ref.SoftReference<Workspace> ref = KEPT.get();
      Workspace ws = ref == null ? null : ref.get();
      if (ws != null && ws.n == n && ws.m == m && ws.k == k) {
        KEPT.remove();
        return ws;
      }
      return new Workspace(n, m, k);
    }

    /**
     * Doubles of basis a thread keeps at most (64 MB): above it a product costs
     * so much that allocating the arrays again is a small part of a solve.
     */
    static final int KEEP_LIMIT = 1 << 23;

    /** Keeps ws for the thread's next solve, unless its basis is over {@link #KEEP_LIMIT}. */
    static void give(Workspace ws) {
      if (ws.q.length <= KEEP_LIMIT) KEPT.set(new java.lang.ref.SoftReference<>(ws));
    }
  }

  /** The state of one Lanczos solve; its arrays come from a {@link Workspace}. */
  private static final class Lanczos {
    final Operator op;
    final Workspace ws;
    final int n, m, k, which, maxProbes;
    final double tol;
    final long seed;
    final boolean probeWanted;
    /**
     * Lanczos basis of the current run, n x (columns held) column-major; it
     * starts with room for {@link #INITIAL_COLUMNS} and doubles up to m as runs
     * grow (a warm-started run usually needs a few vectors, so an n x m array
     * zeroed on every call would cost more than the run).
     */
    double[] q;
    final double[] xbuf, w;
    /** Gram-Schmidt coefficients against the basis and against the locked vectors. */
    final double[] h, hy;
    /** T: diagonal alpha, off-diagonal beta (beta[j] couples j and j+1; 0 after a breakdown). */
    final double[] alpha, beta;
    /** Locked pairs: vectors Y (n x k), their products A Y, values, explicit residuals. */
    double[] ly, lay;
    /**
     * The Rayleigh-Ritz space of a lock: the locked vectors and the run's new
     * Ritz vectors (n x 2k), their products, the projected matrix (2k x 2k) and
     * its eigenvalues.
     */
    final double[] vbuf, avbuf, gram, gval, gv;
    final double[] lval, lres;
    int nl = 0;
    /** Tridiagonal eigen workspaces and residual estimates, Ritz values ascending. */
    final double[] d, e, z, res, zcol;
    /** Scratch of {@link Spectra#tridiagonalEigenvector}; the Ritz pairs ritzVectors gave vectors. */
    final double[] lu;
    final int[] vecIds;
    /** Measured q_i . q_t of {@link #measuredSemiOrthogonal}. */
    final double[] ortho;
    /** How many Ritz values d holds after a check: all t, or the r at the wanted end. */
    int ritzCount = 0;
    /** Wanted candidates: index i &gt;= 0 is Ritz pair i, -1-b is locked pair b. */
    final int[] wanted;
    final boolean[] ritzWanted;
    int frontLo = -1, frontHi = -1;
    double kthKey;

    /**
     * Estimated loss of orthogonality (Simon): omCur[i] ~ q_t . q_i, omPrev[i] ~
     * q_{t-1} . q_i, omNew the next vector's, filled by orthogonalityLost.
     */
    double[] omCur, omPrev, omNew;
    /** The extreme Ritz values of the last ritzExtremes (c-th from the wanted end), its run and dimension. */
    final double[] extVal;
    int extRun = -1, extT = -1, extR = 0, runId = 0, skipped = 0;
    /**
     * The run's working vectors: u, the vector the next step multiplies (basis
     * column uColumn at 1/colScale times unit length, not yet written to q), and
     * p, the previous basis vector at 1/pScale times unit length; two arrays
     * swapped each step, so the recurrence reads no basis column and writes
     * each one once.
     */
    double[] u, p;
    double pScale = 1.0;
    /** The column u holds (left by the last step, or copied from q), or -1. */
    int uColumn = -1;
    /** Scratch of tridiagonalEigenvalue; out array of {@link Spectra#stepSweep}. */
    final double[] pair = new double[2], sums = new double[2];
    /** u holds q_t / colScale until the step on it scales it. */
    double colScale = 1.0;
    boolean reorthNext = false, fullReorth = false;

    int t = 0, apps = 0, probes = 0, restarts = 0, restartStream = 0, maxDim = 0, verifyLength = 0, reorths = 0;
    double curBeta = 0.0, normEst = 0.0, anorm = 0.0;
    boolean nearInvariant = false, converged = false;

    Lanczos(Operator op, int n, int m, int k, int which, double tol, long seed, boolean probe, boolean full,
            Workspace ws) {
      this.op = op; this.n = n; this.m = m; this.k = k; this.which = which; this.tol = tol;
      this.seed = seed; this.probeWanted = probe; this.fullReorth = full;
      this.maxProbes = probe ? 2 * k + 2 : 0;
      this.ws = ws;
      ws.clear();
      q = ws.q;
      xbuf = ws.xbuf; w = ws.w; u = ws.ua; p = ws.ub; h = ws.h; hy = ws.hy; alpha = ws.alpha; beta = ws.beta;
      ly = ws.ly; lay = ws.lay; vbuf = ws.vbuf; avbuf = ws.avbuf; gram = ws.gram; gval = ws.gval; gv = ws.gv;
      lval = ws.lval; lres = ws.lres; d = ws.d; e = ws.e; z = ws.z; res = ws.res; zcol = ws.zcol;
      wanted = ws.wanted; ritzWanted = ws.ritzWanted; omCur = ws.omCur; omPrev = ws.omPrev; omNew = ws.omNew;
      extVal = ws.extVal; lu = ws.lu; vecIds = ws.vecIds; ortho = ws.ortho;
    }

    /** Makes room in q for column col (col &lt; m). */
    void ensureColumn(int col) {
      if ((long) (col + 1) * n <= q.length) return;
      int have = q.length / n;
      int cols = Math.min(m, Math.max(col + 1, 2 * have));
      q = java.util.Arrays.copyOf(q, cols * n);
      ws.q = q;
    }

    /** Puts the normalized start vector in column 0. */
    void initStart(double[] start, double[] warm, int warmCount) {
      if (start != null) {
        System.arraycopy(start, 0, w, 0, n);
        double nrm = norm(n, w);
        if (!(nrm > 0.0) || Double.isInfinite(nrm)) {
          throw new IllegalArgumentException("start vector must be finite and not zero, its norm is " + nrm);
        }
      } else if (warmCount > 0) {
        java.util.Arrays.fill(w, 0.0);
        for (int c = 0; c < warmCount; c++) Blas.axpy(n, 1.0, warm, c * n, w, 0);
        double nrm = norm(n, w);
        if (!(nrm > 0.0) || Double.isInfinite(nrm)) {
          Rng.fillGaussian(Rng.derive(seed, RANDOM_START), 0, 0, 1.0, w, 0, n);
        } else {
          Blas.scal(n, 1.0 / nrm, w, 0);
          if (!(ws.noiseKept && ws.noiseSeed == seed)) {
            Rng.fillGaussian(Rng.derive(seed, WARM), 0, 0, 1.0, ws.noise, 0, n);
            ws.noiseNorm = norm(n, ws.noise);
            ws.noiseSeed = seed;
            ws.noiseKept = true;
          }
          Blas.axpy(n, WARM_PERTURBATION / ws.noiseNorm, ws.noise, 0, w, 0);
        }
      } else if (ws.startKept && ws.startSeed == seed) {
        System.arraycopy(ws.start, 0, q, 0, n);
        return;
      } else {
        Rng.fillGaussian(Rng.derive(seed, RANDOM_START), 0, 0, 1.0, w, 0, n);
        double nrm = norm(n, w);
        for (int i = 0; i < n; i++) q[i] = w[i] / nrm;
        System.arraycopy(q, 0, ws.start, 0, n);
        ws.startSeed = seed;
        ws.startKept = true;
        return;
      }
      double nrm = norm(n, w);
      for (int i = 0; i < n; i++) q[i] = w[i] / nrm;
    }

    /**
     * One Lanczos step on column t (held in u as q_t / colScale when uColumn ==
     * t, else copied from column t): w = A u colScale - beta q_{t-1}, alpha =
     * q_t . w, then w - alpha q_t (the modified Gram-Schmidt form of the
     * recurrence, whose local rounding Simon's estimate models) as the next
     * operator argument, unnormalized: the next step scales it by colScale = 1
     * / curBeta in its first sweep, which also writes it to the basis. Two
     * sweeps over w; then fully orthogonalized against the locked vectors and,
     * when the estimated loss of orthogonality asks for it and a measurement
     * confirms it, reorthogonalized against the basis (Simon's partial
     * reorthogonalization); curBeta = ||w||.
     */
    void step(int bs) {
      int j = t;
      int jo = j * n;
      ensureColumn(j);
      if (uColumn != j) System.arraycopy(q, jo, u, 0, n);
      uColumn = -1;
      op.apply(u, w);
      apps++;
      boolean previous = j > bs;
      double b = previous ? beta[j - 1] : 0.0;
      double s = colScale;
      stepSweep(n, s, u, q, jo, b, previous ? pScale : s, previous ? p : u, w, sums);
      colScale = 1.0;
      // ||A q_t||; when its square is out of range (or not finite), from
      // ||A q_t - b q_{t-1}|| and b
      double ax = sums[0];
      double nav = ax > 1e-280 && ax < 1e280 ? Math.sqrt(ax) : hypot(norm(n, w), b);
      if (Double.isNaN(nav) || Double.isInfinite(nav) || Double.isNaN(sums[1])) {
        throw new IllegalArgumentException("operator returned a non-finite vector (norm " + nav + ")");
      }
      normEst = Math.max(normEst, nav);
      double a = sums[1];
      // q_t is s u and p is free: the next vector goes into p (w is needed
      // again only when it changes: locked vectors, reorthogonalization)
      double[] next = p;
      double after = norm(n, next, stepResidual(n, a, s, u, w, next));
      boolean changed = nl > 0;
      if (changed) {
        System.arraycopy(next, 0, w, 0, n);
        after = orthogonalizeLocked(after);
      }
      boolean forced = reorthNext || fullReorth;
      boolean lost = !forced && orthogonalityLost(j, bs, a, after);
      // the estimate bounds the loss of orthogonality, often far above it:
      // measure before paying for a reorthogonalization
      boolean measured = lost;
      if (lost) lost = !measuredSemiOrthogonal(j, after, changed ? w : next);
      if (!(forced || lost)) skipped++;
      if (forced || lost) {
        if (!changed) System.arraycopy(next, 0, w, 0, n);
        double before = after;
        for (int pass = 0; pass < 2; pass++) {
          // the measurement is the first pass's projection
          if (!(measured && pass == 0)) project(n, j + 1, q, w, h);
          accumulate(n, j + 1, q, h, true, w);
          a += h[j];
          after = orthogonalizeLocked(norm(n, w));
          // "twice is enough" (Kahan-Parlett): a pass that kept most of the norm
          // left w orthogonal to working precision, so a second one is not needed
          if (after > SECOND_PASS_RATIO * before) break;
          before = after;
        }
        omegaReset(j + 1);
        reorths++;
        changed = true;
      }
      if (changed) System.arraycopy(w, 0, next, 0, n);
      p = u;
      pScale = s;
      u = next;
      if (j + 1 < m) uColumn = j + 1;
      // the vector after a reorthogonalized one is reorthogonalized too: q_j was
      // nearly as far from orthogonal as the new one would have been
      reorthNext = lost;
      // a nearly invariant Krylov space: the next vectors grow from what rounding
      // left, which the recurrence does not model; the rest of the solve
      // reorthogonalizes fully (few distinct eigenvalues: small, rare spaces)
      if (!(after > NEAR_INVARIANT * normEst)) fullReorth = true;
      double[] tmp = omPrev;
      omPrev = omCur;
      omCur = omNew;
      omNew = tmp;
      alpha[j] = a;
      t = j + 1;
      curBeta = after;
    }

    /**
     * Gram-Schmidt of w against the locked vectors, up to two passes ("twice
     * is enough"); returns ||w|| (norm0 when there are none).
     */
    double orthogonalizeLocked(double norm0) {
      double before = norm0, after = norm0;
      for (int pass = 0; pass < 2 && nl > 0; pass++) {
        project(n, nl, ly, w, hy);
        accumulate(n, nl, ly, hy, true, w);
        after = norm(n, w);
        if (after > SECOND_PASS_RATIO * before) break;
        before = after;
      }
      return after;
    }

    /**
     * Simon's recurrence for omega_i ~ q_{j+1} . q_i (i &lt;= j), the loss of
     * orthogonality of the next vector w / bj, from the same estimates for q_j
     * (omCur) and q_{j-1} (omPrev) and T, with a rounding term of
     * eps sqrt(n) ||A|| per step added in the direction of growth (so the
     * estimate bounds rather than tracks). Fills omNew; returns whether some
     * |omega_i| exceeds sqrt(eps), where semi-orthogonality would end.
     */
    boolean orthogonalityLost(int j, int bs, double a, double bj) {
      if (!(bj > 0.0)) return true;
      double psi = EPS * Math.sqrt(n) * normEst;
      double bprev = j > bs ? beta[j - 1] : 0.0;
      double worst = 0.0;
      for (int i = 0; i < j; i++) {
        double x = beta[i] * omCur[i + 1] + (alpha[i] - a) * omCur[i] - bprev * omPrev[i];
        if (i > 0) x += beta[i - 1] * omCur[i - 1];
        x = (x + Math.copySign(psi, x)) / bj;
        omNew[i] = x;
        worst = Math.max(worst, Math.abs(x));
      }
      omNew[j] = psi / bj;
      omNew[j + 1] = 1.0;
      return !(worst <= SEMI_ORTHOGONAL) || !(omNew[j] <= SEMI_ORTHOGONAL);
    }

    /**
     * Simon's recurrence bounds the loss of orthogonality, and the bound can
     * lie far above it (by a factor of about 1000 on the benchmark's networks).
     * When it says lost, the true values before a reorthogonalization: h =
     * Q^T u, the next vector (u / bj) against q_0..q_j (also the first pass of
     * a reorthogonalization), and when that is below sqrt(eps), Q^T q_j, q_j
     * against q_0..q_{j-1}. When both are, the basis is semi-orthogonal as it
     * stands: the estimates of both vectors restart from the measured values
     * (plus a rounding term eps sqrt(n)) and the method returns true.
     */
    boolean measuredSemiOrthogonal(int j, double bj, double[] next) {
      // one sweep over q_0..q_{j-1} for both
      project2(n, j, q, next, q, j * n, h, ortho);
      h[j] = Blas.dot(n, q, j * n, next, 0);
      double level = EPS * Math.sqrt(n);
      for (int i = 0; i <= j; i++) {
        double x = h[i] / bj;
        if (!(Math.abs(x) + level <= SEMI_ORTHOGONAL)) return false;
      }
      for (int i = 0; i < j; i++) {
        if (!(Math.abs(ortho[i]) + level <= SEMI_ORTHOGONAL)) return false;
      }
      for (int i = 0; i <= j; i++) {
        double x = h[i] / bj;
        omNew[i] = x + Math.copySign(level, x);
      }
      omNew[j + 1] = 1.0;
      for (int i = 0; i < j; i++) omCur[i] = ortho[i] + Math.copySign(level, ortho[i]);
      omCur[j] = 1.0;
      return true;
    }

    /** omNew after a full orthogonalization of column col: rounding level against every earlier column. */
    void omegaReset(int col) {
      double level = EPS * Math.sqrt(n);
      for (int i = 0; i < col; i++) omNew[i] = level;
      omNew[col] = 1.0;
    }

    /** A run or block starts at column col, orthogonal to all earlier ones: omCur from it. */
    void omegaStart(int col) {
      omegaReset(col);
      double[] tmp = omCur;
      omCur = omNew;
      omNew = tmp;
      reorthNext = false;
    }

    double threshold(double theta) {
      return Math.max(tol * Math.abs(theta), FLOOR * anorm);
    }

    double key(double v) {
      if (which == LARGEST) return v;
      if (which == SMALLEST) return -v;
      return Math.abs(v);
    }

    /** Ritz values (ascending, in d), vectors (z), residual estimates, then the selection. */
    void ritz() {
      int tt = t;
      System.arraycopy(alpha, 0, d, 0, tt);
      System.arraycopy(beta, 0, e, 0, tt - 1);
      Blas.tridiagonalEigen(tt, d, e, z);
      anorm = normEst;
      for (int i = 0; i < tt; i++) anorm = Math.max(anorm, Math.abs(d[i]));
      for (int b = 0; b < nl; b++) anorm = Math.max(anorm, Math.abs(lval[b]));
      for (int i = 0; i < tt; i++) res[i] = Math.abs(curBeta * z[i * tt + tt - 1]);
      select(tt);
    }

    /**
     * ritz() without the Ritz vectors: Ritz values and the same residual
     * estimates |beta z_last| from tridiagonalLastRow (O(t^2) instead of the
     * O(t^3) of the full eigen-decomposition), then the selection. Returns false
     * when the iteration did not settle; the caller then calls ritz().
     */
    boolean ritzCheap() {
      if (which != MAGNITUDE && t > CHEAP_EXTREMES_FROM) return ritzExtremes();
      return ritzLastRow();
    }

    /** All Ritz values and their residual estimates from tridiagonalLastRow (O(t^2)); false when QL did not settle. */
    boolean ritzLastRow() {
      int tt = t;
      System.arraycopy(alpha, 0, d, 0, tt);
      System.arraycopy(beta, 0, e, 0, tt - 1);
      if (!tridiagonalLastRow(tt, d, e, zcol)) return false;
      anorm = normEst;
      for (int i = 0; i < tt; i++) anorm = Math.max(anorm, Math.abs(d[i]));
      for (int b = 0; b < nl; b++) anorm = Math.max(anorm, Math.abs(lval[b]));
      for (int i = 0; i < tt; i++) res[i] = Math.abs(curBeta * zcol[i]);
      ritzCount = tt;
      select(tt);
      return true;
    }

    /**
     * {@link #ritzCheap} for the k Ritz values at the wanted end only (k + 1
     * in a probe run; LARGEST or SMALLEST), in O(k t) instead of the O(t^2) of
     * all of them: each value by {@link #tridiagonalEigenvalue} (Newton from its
     * estimate at the run's previous check, confirmed by Sturm counts, else
     * bisection) within interlacing brackets, the last component of its
     * eigenvector by inverse iteration. d[0..r) then holds those values
     * ascending, res their estimates, and the selection sees only them (the
     * frontier is not needed at these ends).
     */
    boolean ritzExtremes() {
      int tt = t;
      // the first run selects the k best of these, which are the k best Ritz
      // values; a probe run weighs them against locked pairs with a margin and
      // looks at one more
      int r = Math.min(tt, nl > 0 ? k + 1 : k);
      double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY, emax = 0.0;
      for (int i = 0; i < tt; i++) {
        double off = (i > 0 ? Math.abs(beta[i - 1]) : 0.0) + (i < tt - 1 ? Math.abs(beta[i]) : 0.0);
        lo = Math.min(lo, alpha[i] - off);
        hi = Math.max(hi, alpha[i] + off);
        if (i < tt - 1) emax = Math.max(emax, Math.abs(beta[i]));
      }
      double pivmin = Double.MIN_NORMAL * Math.max(1.0, emax * emax);
      anorm = Math.max(normEst, Math.max(Math.abs(lo), Math.abs(hi)));
      for (int b = 0; b < nl; b++) anorm = Math.max(anorm, Math.abs(lval[b]));
      // brackets by interlacing: T_{t-1} is a leading block of T_t, so the c-th
      // value from the wanted end moves towards that end as t grows, and stays
      // behind the (c-1)-th value of T_t
      boolean warm = extRun == runId && extT == tt - 1;
      for (int c = 0; c < r; c++) {
        int idx = which == LARGEST ? tt - 1 - c : c;
        int slotPrev = which == LARGEST ? r - 1 - c : c;
        double a = lo, b = hi;
        if (which == LARGEST) {
          if (c > 0) b = d[r - c];
          if (warm && c < extR) a = Math.max(a, extVal[c]);
        } else {
          if (c > 0) a = d[c - 1];
          if (warm && c < extR) b = Math.min(b, extVal[c]);
        }
        if (!(a <= b)) {
          a = lo;
          b = hi;
        }
        // a pre-filter (ritz() decides): 1e-10 of the value is precise enough;
        // Newton from this value's last estimate in the run (interlacing keeps
        // it near once it has settled), bisection when that does not confirm
        double guess = extRun == runId && c < extR ? extVal[c] : Double.NaN;
        double theta = tridiagonalEigenvalue(tt, alpha, beta, idx, a, b, guess, pivmin, pair);
        d[slotPrev] = theta;
        extVal[c] = theta;
        res[slotPrev] = Math.abs(curBeta * lastComponent(tt, theta, pivmin));
      }
      extRun = runId;
      extT = tt;
      extR = r;
      ritzCount = r;
      select(r);
      return true;
    }

    /**
     * Wanted Ritz values closer than this fraction of ||T|| count as a cluster:
     * inverse iteration from one start would give them nearly the same vector
     * (LAPACK's dstein orthogonalizes within such clusters; ritz() handles them).
     */
    static final double CLUSTER = 1e-3;

    /**
     * After a {@link #ritzCheap} whose estimates say converged: the vectors z of
     * the wanted Ritz pairs only, by {@link Spectra#tridiagonalEigenvector} (O(t)
     * each, against the O(t^3) of all of them in ritz()), each Ritz value replaced
     * by the Rayleigh quotient rho of its vector, and its residual estimate by
     * |beta z_last| + ||T z - rho z||, which bounds the residual of the Ritz
     * pair (rho, Q z) by the Lanczos relation A Q = Q T + beta q e^T whatever the
     * gaps; then the selection again. Returns false, leaving the decision to
     * ritz(), when a wanted pair lacks its vector after the new selection, two
     * wanted values are closer than {@link #CLUSTER} ||T||, or an iteration
     * failed.
     */
    boolean ritzVectors() {
      int tt = t;
      double tiny = Math.max(Double.MIN_NORMAL, EPS * anorm);
      int nv = 0;
      for (int c = 0; c < k; c++) {
        int id = wanted[c];
        if (id < 0) continue;
        double rho = tridiagonalEigenvector(tt, alpha, beta, d[id], tiny, z, id * tt, lu);
        double tres = lu[0];
        if (!(Math.abs(rho - d[id]) <= CLUSTER * anorm) || Double.isNaN(tres)) return false;
        d[id] = rho;
        res[id] = Math.abs(curBeta * z[id * tt + tt - 1]) + tres;
        vecIds[nv++] = id;
      }
      select(ritzCount);
      for (int c = 0; c < k; c++) {
        int id = wanted[c];
        if (id < 0) continue;
        boolean has = false;
        for (int v = 0; v < nv; v++) if (vecIds[v] == id) has = true;
        if (!has) return false;
        for (int b = 0; b < c; b++) {
          int other = wanted[b];
          if (other >= 0 && !(Math.abs(d[other] - d[id]) >= CLUSTER * anorm)) return false;
        }
      }
      return true;
    }

    /**
     * |last component| of the unit eigenvector of T (first tt rows) for the
     * eigenvalue theta, by two steps of inverse iteration from a vector of ones
     * (Gaussian elimination of T - theta I, a zero pivot replaced by a tiny one).
     */
    double lastComponent(int tt, double theta, double pivmin) {
      double[] u = zcol, piv = e;
      double tiny = Math.max(pivmin, EPS * anorm);
      java.util.Arrays.fill(u, 0, tt, 1.0);
      for (int sweep = 0; sweep < 2; sweep++) {
        // forward elimination: piv[i] the pivots, u the transformed right side
        double p = alpha[0] - theta;
        if (Math.abs(p) < tiny) p = tiny;
        piv[0] = p;
        for (int i = 1; i < tt; i++) {
          double l = beta[i - 1] / piv[i - 1];
          p = alpha[i] - theta - l * beta[i - 1];
          if (Math.abs(p) < tiny) p = tiny;
          piv[i] = p;
          u[i] -= l * u[i - 1];
        }
        u[tt - 1] /= piv[tt - 1];
        for (int i = tt - 2; i >= 0; i--) u[i] = (u[i] - beta[i] * u[i + 1]) / piv[i];
        double nrm = 0.0;
        for (int i = 0; i < tt; i++) nrm = Math.max(nrm, Math.abs(u[i]));
        if (!(nrm > 0.0) || Double.isInfinite(nrm)) return 1.0;
        for (int i = 0; i < tt; i++) u[i] /= nrm;
      }
      double ss = 0.0;
      for (int i = 0; i < tt; i++) ss += u[i] * u[i];
      return Math.abs(u[tt - 1]) / Math.sqrt(ss);
    }

    double candidateKey(int id) {
      return id >= 0 ? key(d[id]) : key(lval[-1 - id]);
    }

    /**
     * The k best candidates (locked pairs and Ritz pairs) by key, the k-th key,
     * and the frontier: the best Ritz pairs not wanted (both ends for MAGNITUDE).
     */
    void select(int tt) {
      int count = 0;
      for (int i = 0; i < tt; i++) ritzWanted[i] = false;
      frontLo = -1;
      frontHi = -1;
      // insertion into a list of the best k, best first
      for (int id = -nl; id < tt; id++) {
        double kv = candidateKey(id);
        // in a probe run a Ritz value displaces a locked pair only when it beats
        // it by more than the tolerance (a second copy of an equal value is no gain)
        double margin = (id >= 0 && nl > 0) ? threshold(d[id]) : 0.0;
        if (count == k && !(kv > candidateKey(wanted[k - 1]) + margin)) continue;
        int pos = Math.min(count, k - 1);
        if (count < k) count++;
        while (pos > 0 && candidateKey(wanted[pos - 1]) < kv) {
          wanted[pos] = wanted[pos - 1];
          pos--;
        }
        wanted[pos] = id;
      }
      if (count < k) {
        kthKey = Double.NaN;
        return;
      }
      kthKey = candidateKey(wanted[k - 1]);
      for (int c = 0; c < k; c++) if (wanted[c] >= 0) ritzWanted[wanted[c]] = true;
      if (which == LARGEST || which == MAGNITUDE) {
        for (int i = tt - 1; i >= 0; i--) {
          if (!ritzWanted[i]) {
            frontHi = i;
            break;
          }
        }
      }
      if (which == SMALLEST || which == MAGNITUDE) {
        for (int i = 0; i < tt; i++) {
          if (!ritzWanted[i]) {
            frontLo = i;
            break;
          }
        }
      }
    }

    boolean settled(int i) {
      return res[i] <= Math.max(threshold(d[i]), SETTLE_FRACTION * (kthKey - key(d[i])));
    }

    /**
     * The wanted Ritz pairs have converged, and: in a probe run, either one of
     * them beats a locked pair (a missed eigenvalue, to be locked) or the run
     * has made its {@link #verifySteps} steps; in the first run for MAGNITUDE,
     * the frontier has settled.
     */
    boolean runConverged() {
      if (Double.isNaN(kthKey)) return false;
      boolean ritzWantedAny = false;
      for (int c = 0; c < k; c++) {
        int id = wanted[c];
        if (id >= 0) {
          ritzWantedAny = true;
          if (!(res[id] <= threshold(d[id]))) return false;
        }
      }
      if (nl > 0) return ritzWantedAny || t >= verifyLength || t + nl >= n;
      if (which == MAGNITUDE) {
        if (frontLo >= 0 && !settled(frontLo)) return false;
        if (frontHi >= 0 && !settled(frontHi)) return false;
      }
      return true;
    }

    /** Orthogonalizes w against the basis and the locked vectors (two passes); returns its norm. */
    double orthogonalizeAll() {
      for (int pass = 0; pass < 2; pass++) {
        project(n, t, q, w, h);
        project(n, nl, ly, w, hy);
        accumulate(n, t, q, h, true, w);
        accumulate(n, nl, ly, hy, true, w);
      }
      return norm(n, w);
    }

    /** A seeded random unit vector orthogonal to the basis and the locked vectors, into column t. */
    boolean randomColumn() {
      long s = Rng.derive(seed, RESTART);
      for (int attempt = 0; attempt < 8; attempt++) {
        Rng.fillGaussian(s, restartStream++, 0, 1.0, w, 0, n);
        double before = norm(n, w);
        double after = orthogonalizeAll();
        if (after > 1e-6 * before) {
          ensureColumn(t);
          int qo = t * n;
          for (int i = 0; i < n; i++) q[qo + i] = w[i] / after;
          return true;
        }
      }
      return false;
    }

    /**
     * One Lanczos run from column 0 of q (orthogonal to the locked vectors).
     * Returns true when it ended complete: converged, or its space exhausted.
     */
    boolean run(boolean first) {
      t = 0;
      curBeta = 0.0;
      colScale = 1.0;
      uColumn = -1;
      int bs = 0, lastCheck = 0;
      runId++;
      omegaStart(0);
      while (true) {
        step(bs);
        boolean broke = !(curBeta > BREAKDOWN * normEst);
        if (first && curBeta <= NEAR_INVARIANT * normEst) nearInvariant = true;
        if (broke) curBeta = 0.0;
        boolean exhausted = t + nl >= n;
        boolean full = t >= m;
        boolean check = broke || exhausted || full
            // every step while t is small; then every t/12 steps, so the checks
            // cost O(k t) per step against a product that costs at least O(n),
            // for at most t/12 products more than an every-step check
            || (t + nl >= k && (t <= 24 || t - lastCheck >= t / 12));
        if (check) {
          lastCheck = t;
          boolean ending = broke || exhausted || full;
          boolean cheap = !ending && ritzCheap();
          if (cheap && !runConverged()) {
            // not converged by the cheap estimates: go on without the Ritz vectors
          } else if (cheap && ritzVectors()) {
            // the wanted pairs' own vectors decide (the lock uses them)
            if (runConverged()) return true;
          } else {
            // converged, or a run about to end: the Ritz pairs that lock() uses,
            // and the decision, come from the full tridiagonal eigen-decomposition
            ritz();
            if (runConverged()) return true;
            if (exhausted) return true;
            if (full) return false;
          }
        }
        if (broke) {
          beta[t - 1] = 0.0;
          uColumn = -1;
          if (!randomColumn()) {
            ritz();
            return true;
          }
          bs = t;
          omegaStart(t);
          restarts++;
        } else {
          // u holds w; the next step normalizes it
          colScale = 1.0 / curBeta;
          beta[t - 1] = curBeta;
        }
      }
    }

    /**
     * Locks the k best pairs of a Rayleigh-Ritz step on V = [Y X], the locked
     * vectors Y and the run's wanted Ritz vectors X (orthogonal to Y): each new
     * Ritz vector gets one explicit product, the projected matrix V^T A V comes
     * from the products, and its k best eigenpairs (by key) become the locked
     * vectors Y' = V S with A Y' = (A V) S, their Rayleigh quotients and their
     * explicit residuals ||A y - theta y||. The run saw the deflated operator
     * only, so a new Ritz vector x misses the couplings Y^T A x (as large as the
     * locked residuals, which the tolerance allows up to tol |theta|); the step
     * puts them back, so a pair near 0 is not left with the residual of a locked
     * pair far from it. Returns whether the run had a wanted Ritz pair.
     */
    boolean lock() {
      int tt = t;
      int p = nl;
      boolean contributed = false;
      for (int c = 0; c < k; c++) if (wanted[c] >= 0) contributed = true;
      System.arraycopy(ly, 0, vbuf, 0, nl * n);
      System.arraycopy(lay, 0, avbuf, 0, nl * n);
      for (int c = 0; c < k; c++) {
        int id = wanted[c];
        if (id < 0) continue;
        java.util.Arrays.fill(xbuf, 0.0);
        System.arraycopy(z, id * tt, zcol, 0, tt);
        accumulate(n, tt, q, zcol, false, xbuf);
        // orthonormal against V so far (the basis is only semi-orthogonal); a
        // vector that is not a new direction is dropped in a probe run
        double before = norm(n, xbuf), after = before;
        for (int pass = 0; pass < 2 && p > 0; pass++) {
          project(n, p, vbuf, xbuf, gv);
          accumulate(n, p, vbuf, gv, true, xbuf);
          after = norm(n, xbuf);
        }
        if (nl > 0 && !(after > 0.5 * before)) continue;
        Blas.scal(n, 1.0 / after, xbuf, 0);
        op.apply(xbuf, w);
        apps++;
        System.arraycopy(xbuf, 0, vbuf, p * n, n);
        System.arraycopy(w, 0, avbuf, p * n, n);
        p++;
      }
      if (p == 1) {
        // one vector (k = 1): it is the locked vector, with its Rayleigh
        // quotient and explicit residual; no projected eigenproblem
        System.arraycopy(vbuf, 0, ly, 0, n);
        System.arraycopy(avbuf, 0, lay, 0, n);
        double theta = Blas.dot(n, vbuf, 0, avbuf, 0);
        lval[0] = theta;
        lres[0] = residualNorm(n, theta, vbuf, avbuf, w);
        nl = k;
        return contributed;
      }
      Blas.gemm(true, false, p, p, n, 1.0, vbuf, 0, n, avbuf, 0, n, 0.0, gram, 0, p);
      for (int a = 0; a < p; a++) {
        for (int b = a + 1; b < p; b++) {
          double g = 0.5 * (gram[a + b * p] + gram[b + a * p]);
          gram[a + b * p] = g;
          gram[b + a * p] = g;
        }
      }
      Blas.symmetricEigen(p, gram, gval, true);
      // the k best eigenpairs of the projected matrix, best first
      for (int c = 0; c < k; c++) {
        int best = -1;
        for (int a = 0; a < p; a++) {
          boolean taken = false;
          for (int b = 0; b < c; b++) if (wanted[b] == a) taken = true;
          if (!taken && (best < 0 || key(gval[a]) > key(gval[best]))) best = a;
        }
        wanted[c] = best;
      }
      for (int c = 0; c < k; c++) {
        System.arraycopy(gram, wanted[c] * p, zcol, 0, p);
        java.util.Arrays.fill(xbuf, 0.0);
        java.util.Arrays.fill(w, 0.0);
        accumulate(n, p, vbuf, zcol, false, xbuf);
        accumulate(n, p, avbuf, zcol, false, w);
        double inv = 1.0 / norm(n, xbuf);
        Blas.scal(n, inv, xbuf, 0);
        Blas.scal(n, inv, w, 0);
        System.arraycopy(xbuf, 0, ly, c * n, n);
        System.arraycopy(w, 0, lay, c * n, n);
        double theta = Blas.dot(n, xbuf, 0, w, 0);
        lval[c] = theta;
        lres[c] = residualNorm(n, theta, xbuf, w, w);
      }
      nl = k;
      return contributed;
    }

    /**
     * ||ay - theta y|| in one sweep (four partial sums, as Blas.dot), ay left
     * as it was; when the sum of squares is out of range, the residual is
     * formed in scratch (may be ay itself) and measured by Blas.nrm2.
     */
    static double residualNorm(int n, double theta, double[] y, double[] ay, double[] scratch) {
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      int i = 0;
      for (; i + 3 < n; i += 4) {
        double r0 = ay[i] - theta * y[i], r1 = ay[i + 1] - theta * y[i + 1];
        double r2 = ay[i + 2] - theta * y[i + 2], r3 = ay[i + 3] - theta * y[i + 3];
        s0 += r0 * r0;
        s1 += r1 * r1;
        s2 += r2 * r2;
        s3 += r3 * r3;
      }
      for (; i < n; i++) {
        double r = ay[i] - theta * y[i];
        s0 += r * r;
      }
      double squares = (s0 + s1) + (s2 + s3);
      if (squares > 1e-280 && squares < 1e280) return Math.sqrt(squares);
      for (int j = 0; j < n; j++) scratch[j] = ay[j] - theta * y[j];
      return Blas.nrm2(n, scratch, 0);
    }

    void solve() {
      boolean complete = run(true);
      maxDim = Math.max(maxDim, t);
      boolean exhaustive = t >= n;
      lock();
      if (!exhaustive && probeWanted && (k >= 2 || nearInvariant) && k < n) {
        // probes until one beats no locked pair (verified) or covers the space;
        // also after a first run cut short by the cap: the probes find what it
        // missed, and a locked pair that is still wrong fails the residual test
        boolean verified = false;
        verifyLength = verifySteps(n - k);
        while (probes < maxProbes) {
          probes++;
          t = 0;
          if (!randomColumn()) {
            verified = true;
            break;
          }
          complete = run(false);
          maxDim = Math.max(maxDim, t);
          boolean covered = t + nl >= n;
          boolean contributed = lock();
          if (!complete) break;
          if (!contributed || covered) {
            verified = true;
            break;
          }
        }
        complete = complete && verified;
      }
      boolean ok = complete;
      for (int c = 0; c < k; c++) {
        anorm = Math.max(anorm, Math.abs(lval[c]));
      }
      for (int c = 0; c < k; c++) {
        if (!(lres[c] <= threshold(lval[c]) + FLOOR * anorm)) ok = false;
      }
      converged = ok;
    }

    /** The locked pairs, sorted by value, descending. */
    void output(double[] values, double[] vectors, double[] residuals) {
      for (int c = 0; c < k; c++) wanted[c] = c;
      for (int a = 1; a < k; a++) {
        int v = wanted[a];
        int b = a - 1;
        while (b >= 0 && lval[wanted[b]] < lval[v]) {
          wanted[b + 1] = wanted[b];
          b--;
        }
        wanted[b + 1] = v;
      }
      for (int c = 0; c < k; c++) {
        int b = wanted[c];
        values[c] = lval[b];
        residuals[c] = lres[b];
        if (vectors != null) System.arraycopy(ly, b * n, vectors, c * n, n);
      }
    }
  }

  /**
   * How far from orthonormal the basis of one Lanczos run stays: the largest
   * |q_i . q_j| (i != j) over the basis of a run of at most steps products
   * from the seeded random start (k = 1 at the which end, tol 1e-15, no
   * probes), with the number of steps that reorthogonalized in out[1] and the
   * basis size in out[2]. Partial reorthogonalization keeps the basis
   * semi-orthogonal: each vector either stayed within sqrt(eps) of the earlier
   * ones or was reorthogonalized against them. For tests of that guarantee.
   *
   * @param out length &gt;= 3: the loss, the reorthogonalizations, the basis size
   */
  public static void basisOrthogonality(Operator op, int which, int steps, long seed, double[] out) {
    int n = op.size();
    if (steps < 1 || steps > n) throw new IllegalArgumentException("steps must be in 1.." + n + ", got " + steps);
    if (out.length < 3) throw new IllegalArgumentException("out needs length 3");
    Workspace ws = Workspace.take(n, steps, 1);
    Lanczos run = new Lanczos(op, n, steps, 1, which, 1e-15, seed, false, false, ws);
    run.initStart(null, null, 0);
    run.run(true);
    double worst = 0.0;
    for (int i = 0; i < run.t; i++) {
      for (int j = 0; j < i; j++) worst = Math.max(worst, Math.abs(Blas.dot(n, run.q, i * n, run.q, j * n)));
    }
    out[0] = worst;
    out[1] = run.reorths;
    out[2] = run.t;
    Workspace.give(ws);
  }

  /**
   * Gauss quadrature of the spectral measure of op seen from a unit start
   * vector v, sum_j (v . u_j)^2 delta(lambda_j): steps Lanczos steps with full
   * reorthogonalization from v give the tridiagonal T; its eigenvalues are the
   * nodes and the squared first components of its eigenvectors the weights
   * (they sum to 1). The rule integrates polynomials up to degree 2 steps - 1
   * exactly; a breakdown (an invariant Krylov space) ends it early, exact.
   * One stochastic-Lanczos-quadrature probe.
   *
   * @param op      symmetric operator of size n
   * @param start   start vector (length n, finite, not zero; normalized here)
   * @param steps   Lanczos steps wanted, 1 &lt;= steps &lt;= n
   * @param nodes   out, length &gt;= steps: the nodes, ascending
   * @param weights out, length &gt;= steps: the weights
   * @return the number of nodes (steps, or fewer after a breakdown)
   */
  public static int quadrature(Operator op, double[] start, int steps, double[] nodes, double[] weights) {
    int n = op.size();
    if (steps < 1 || steps > n) throw new IllegalArgumentException("steps must be in 1.." + n + ", got " + steps);
    if (start.length != n) throw new IllegalArgumentException("start has length " + start.length + ", expected " + n);
    if (nodes.length < steps || weights.length < steps) throw new IllegalArgumentException("nodes and weights need length " + steps);
    double nrm = Blas.nrm2(n, start, 0);
    if (!(nrm > 0.0) || Double.isInfinite(nrm)) throw new IllegalArgumentException("start must be finite and not zero");
    double[] q = new double[n * steps];
    double[] w = new double[n];
    double[] h = new double[steps];
    double[] alpha = new double[steps];
    double[] beta = new double[steps];
    for (int i = 0; i < n; i++) q[i] = start[i] / nrm;
    double anorm = 0.0;
    int t = 0;
    while (true) {
      int jo = t * n;
      op.apply(java.util.Arrays.copyOfRange(q, jo, jo + n), w);
      double nav = norm(n, w);
      if (!Double.isFinite(nav)) throw new IllegalArgumentException("operator returned a non-finite vector (norm " + nav + ")");
      anorm = Math.max(anorm, nav);
      double a = 0.0;
      for (int pass = 0; pass < 2; pass++) {
        project(n, t + 1, q, w, h);
        accumulate(n, t + 1, q, h, true, w);
        a += h[t];
      }
      alpha[t] = a;
      t++;
      double b = norm(n, w);
      if (t == steps || !(b > BREAKDOWN * anorm)) break;
      beta[t - 1] = b;
      for (int i = 0; i < n; i++) q[t * n + i] = w[i] / b;
    }
    double[] z = new double[t * t];
    System.arraycopy(alpha, 0, nodes, 0, t);
    double[] e = java.util.Arrays.copyOf(beta, Math.max(1, t));
    Blas.tridiagonalEigen(t, nodes, e, z);
    for (int i = 0; i < t; i++) weights[i] = z[i * t] * z[i * t];
    return t;
  }

  /**
   * Hutchinson's estimate of trace(A) with Rademacher probes: probe p has entries
   * +-1 from the sign of {@link Rng#bits}(derive(seed, 4), p, i). Each probe gives
   * z^T A z, whose mean is the trace; for a diagonal A every probe gives it exactly.
   *
   * @param op     operator of size n
   * @param probes number of probes, at least 2
   * @param seed   seed of the probes
   * @param out    out, length 2: the mean over probes and its standard error
   *               (sample standard deviation / sqrt(probes))
   */
  public static void hutchinson(Operator op, int probes, long seed, double[] out) {
    int n = op.size();
    if (probes < 2) throw new IllegalArgumentException("probes must be at least 2, got " + probes);
    if (out.length < 2) throw new IllegalArgumentException("out must have length 2");
    double[] zv = new double[n];
    double[] y = new double[n];
    long s = Rng.derive(seed, RADEMACHER);
    double mean = 0.0, m2 = 0.0;
    for (int p = 0; p < probes; p++) {
      for (int i = 0; i < n; i++) zv[i] = Rng.bits(s, p, i) < 0 ? -1.0 : 1.0;
      op.apply(zv, y);
      double v = Blas.dot(n, zv, 0, y, 0);
      double delta = v - mean;
      mean += delta / (p + 1);
      m2 += delta * (v - mean);
    }
    out[0] = mean;
    out[1] = Math.sqrt(m2 / (probes - 1) / probes);
  }

  /**
   * The n x n matrix of op, column j = A e_j, column-major, symmetrized as
   * (A + A^T)/2. n operator applications; the caller guards the size.
   *
   * @param op  operator of size n
   * @param out out, length at least n*n
   */
  public static void dense(Operator op, double[] out) {
    int n = op.size();
    if (out.length < (long) n * n) throw new IllegalArgumentException("out must hold " + n + " x " + n + " entries");
    double[] ej = new double[n];
    double[] y = new double[n];
    for (int j = 0; j < n; j++) {
      ej[j] = 1.0;
      op.apply(ej, y);
      ej[j] = 0.0;
      System.arraycopy(y, 0, out, j * n, n);
    }
    for (int j = 0; j < n; j++) {
      for (int i = j + 1; i < n; i++) {
        double s = 0.5 * (out[i + j * n] + out[j + i * n]);
        out[i + j * n] = s;
        out[j + i * n] = s;
      }
    }
  }
}
