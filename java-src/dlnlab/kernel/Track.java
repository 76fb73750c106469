package dlnlab.kernel;

/**
 * Tracking the top eigenpairs of a slowly changing symmetric operator (a
 * Hessian along a training trajectory) from the eigenvectors of an earlier,
 * nearby operator: Rayleigh-Ritz on a small subspace that starts as the span
 * of the warm block and grows, one operator product at a time, by the residual
 * of the Ritz pair that has not yet met its tolerance (a Davidson iteration
 * without preconditioner: each step adds A y for the current Ritz vector y,
 * as Krylov does). The whole basis V, its images W = A V, H = V^T W and the
 * Gram matrix G = W^T W are kept, so every Ritz pair (theta, y = V s) has
 * ||A y - theta y||^2 = s^T G s - theta^2 without a product or an n-vector
 * (formed explicitly where that difference cancels, and always for the
 * answer); when the basis reaches its cap it restarts thick from the kept
 * Ritz pairs (no product either).
 *
 * <h2>Stopping</h2>
 * The top pair stops on one of two bounds, relative to |theta_1|:
 * <ul>
 * <li>residual: ||r_1|| (some eigenvalue lies within ||r_1|| of theta_1);</li>
 * <li>value: min(||r_1||, ||r_1||^2 / g) with g = theta_1 - (theta_2 +
 * ||r_2||), the gap to the guard pair's value raised by its residual. By the
 * Kato-Temple inequality, when no eigenvalue other than lambda_1 lies above
 * theta_2 + ||r_2|| (the premise of tracking: the kept pairs hold the top of
 * the spectrum), theta_1 &lt;= lambda_1 &lt;= theta_1 + ||r_1||^2 / g. When
 * g &lt;= 0 (the guard within its residual of the top) the residual bound is
 * used.</li>
 * </ul>
 * The guard pairs 2..keep stop on their own residual, ||r_i|| &lt;=
 * max(guardTol (theta_1 - theta_i), tol |theta_1|): below the top by enough for
 * the gap g to count, and tight as they near the top. They are kept so that an
 * eigenvalue rising through their ranks is in the next call's warm block and
 * overtakes the top in the Rayleigh-Ritz step, and so that g is known.
 *
 * <p>Nothing here sees an eigenvector orthogonal to the basis: the warm block
 * must hold the top (the caller adds what the dynamics suggest, such as the
 * gradient, along which a catapult at the edge of stability grows).
 */
public final class Track {
  private Track() {}

  /** Length of the info array of {@link #track}. */
  public static final int INFO_LENGTH = 4;

  /** Stop the top pair on its residual norm. */
  public static final int RESIDUAL = 0;

  /** Stop the top pair on the Kato-Temple bound on its value. */
  public static final int VALUE = 1;

  /** A new direction whose norm falls below this fraction after orthogonalization is dropped. */
  static final double DEPENDENT = 1e-10;

  /**
   * The top keep eigenpairs of op tracked from a warm block (see the class
   * comment).
   *
   * @param op        symmetric operator of size n
   * @param keep      pairs returned, 1 &lt;= keep &lt;= n
   * @param tol       tolerance of the top pair (relative to |theta_1|), &gt; 0
   * @param stop      {@link #RESIDUAL} or {@link #VALUE}
   * @param guardTol  relative residual tolerance of the guard pairs, &gt; 0
   * @param maxIter   cap on operator products; at least keep
   * @param maxBasis  basis dimension at which the basis restarts from the kept
   *                  pairs, reduced to n, at least keep + 1 (or n)
   * @param warm      warmCount packed vectors (column-major n x warmCount): the
   *                  start of the basis; dependent ones are dropped
   * @param warmCount number of warm vectors
   * @param seed      seed of the random vectors that fill the basis up to keep
   *                  (or replace a residual already in the span)
   * @param values    out: keep Rayleigh quotients, descending
   * @param vectors   out: n x keep unit Ritz vectors, column i for values[i]
   * @param residuals out: keep explicit residual norms ||A y - theta y||
   * @param bounds    out: keep error bounds; bounds[0] is the bound of the top
   *                  value the stopping rule used, bounds[i &gt; 0] = residuals[i]
   * @param info      out, length {@link #INFO_LENGTH}: operator products,
   *                  converged (1 or 0), largest basis dimension, restarts
   * @throws IllegalArgumentException on bad sizes or options, or when the
   *         operator returns a non-finite vector
   */
  public static void track(Operator op, int keep, double tol, int stop, double guardTol,
                           int maxIter, int maxBasis, double[] warm, int warmCount, long seed,
                           double[] values, double[] vectors, double[] residuals, double[] bounds,
                           int[] info) {
    int n = op.size();
    if (keep < 1 || keep > n) throw new IllegalArgumentException("keep must be in 1..n, got " + keep);
    if (!(tol > 0) || !(guardTol > 0)) throw new IllegalArgumentException("tolerances must be positive");
    if (stop != RESIDUAL && stop != VALUE) throw new IllegalArgumentException("unknown stop " + stop);
    if (maxIter < keep) throw new IllegalArgumentException("maxIter must be at least keep");
    if (warmCount < 0 || (warmCount > 0 && (warm == null || warm.length < (long) n * warmCount)))
      throw new IllegalArgumentException("warm must hold warmCount vectors of length n");
    int cap = Math.min(n, Math.max(maxBasis, keep + 1));
    double[] v = new double[n * cap];
    double[] w = new double[n * cap];
    double[] h = new double[cap * cap];
    double[] g = new double[cap * cap];
    double[] cand = new double[n];
    double[] coef = new double[cap];
    double[][] work = {new double[n], new double[n], new double[cap]}; // x, A x (or a residual), s
    int[] state = new int[3]; // basis dimension, products, random vectors drawn
    double[] anorm = new double[1];
    for (int c = 0; c < warmCount; c++) {
      if (state[0] == cap || state[1] >= maxIter) break;
      System.arraycopy(warm, c * n, cand, 0, n);
      extend(op, n, cand, v, w, h, g, cap, coef, work, state, anorm);
    }
    while (state[0] < keep) fillRandom(op, n, seed, cand, v, w, h, g, cap, coef, work, state, anorm);

    double[] a = new double[cap * cap];
    double[] theta = new double[cap];
    double[][] y = new double[keep][n];
    double[][] z = new double[keep][n];
    double[] rn = new double[keep];
    boolean[] formed = new boolean[keep];
    int restarts = 0, maxDim = state[0];
    boolean converged;
    while (true) {
      int m = state[0];
      maxDim = Math.max(maxDim, m);
      ritzValues(m, cap, keep, h, g, a, theta, rn, formed);
      for (int i = 0; i < m; i++) anorm[0] = Math.max(anorm[0], Math.abs(theta[i]));
      for (int k = 0; k < keep; k++) {
        if (!formed[k] && Double.isNaN(rn[k])) form(n, m, k, v, w, a, theta, y, z, rn, formed, work);
      }
      int next = decide(m, keep, stop, tol, guardTol, Spectra.FLOOR * anorm[0], theta, rn, bounds);
      if (next < 0) {
        // confirm on explicit residuals before stopping
        for (int k = 0; k < keep; k++) form(n, m, k, v, w, a, theta, y, z, rn, formed, work);
        next = decide(m, keep, stop, tol, guardTol, Spectra.FLOOR * anorm[0], theta, rn, bounds);
      }
      converged = next < 0;
      if (converged || state[1] >= maxIter) {
        for (int k = 0; k < keep; k++) form(n, m, k, v, w, a, theta, y, z, rn, formed, work);
        break;
      }
      // the residual of pair `next` is the new direction (orthogonal to V in exact arithmetic)
      form(n, m, next, v, w, a, theta, y, z, rn, formed, work);
      double tn = theta[m - 1 - next];
      double[] yn = y[next], zn = z[next];
      for (int i = 0; i < n; i++) cand[i] = zn[i] - tn * yn[i];
      if (m == cap) {
        // thick restart from the kept Ritz pairs: V = Y, W = A Y, H = diag(theta), G = W^T W
        for (int k = 0; k < keep; k++) form(n, m, k, v, w, a, theta, y, z, rn, formed, work);
        java.util.Arrays.fill(h, 0.0);
        for (int i = 0; i < keep; i++) {
          System.arraycopy(y[i], 0, v, i * n, n);
          System.arraycopy(z[i], 0, w, i * n, n);
          h[i + i * cap] = theta[m - 1 - i];
        }
        for (int j = 0; j < keep; j++) {
          for (int i = 0; i <= j; i++) {
            double d = Blas.dot(n, z[i], 0, z[j], 0);
            g[i + j * cap] = d;
            g[j + i * cap] = d;
          }
        }
        state[0] = keep;
        restarts++;
      }
      if (!extend(op, n, cand, v, w, h, g, cap, coef, work, state, anorm)) {
        if (state[0] == n) {
          converged = true;
          for (int k = 0; k < keep; k++) form(n, state[0], k, v, w, a, theta, y, z, rn, formed, work);
          break;
        }
        fillRandom(op, n, seed, cand, v, w, h, g, cap, coef, work, state, anorm);
      }
    }
    for (int i = 0; i < keep; i++) {
      values[i] = theta[state[0] - 1 - i];
      residuals[i] = rn[i];
    }
    for (int i = 0; i < keep; i++) System.arraycopy(y[i], 0, vectors, i * n, n);
    info[0] = state[1];
    info[1] = converged ? 1 : 0;
    info[2] = maxDim;
    info[3] = restarts;
  }

  /** Predictors of {@link #predict}, by the index it returns. */
  public static final int CONSTANT = 0, LINEAR = 1, QUADRATIC = 2, PERIOD_TWO = 3;

  /**
   * Above this backtest error (the distance between unit vectors) the history
   * is not one eigenvector moving (another eigenvalue took the top), and the
   * prediction is the last vector.
   */
  static final double SMOOTH = 0.5;

  /**
   * A prediction of the next vector of a sequence of unit vectors (the top
   * eigenvectors of earlier calls, h_0 the most recent; their signs are taken
   * to agree with h_0): the last vector h_0 (constant), the linear
   * extrapolation 2 h_0 - h_1, the quadratic one 3 h_0 - 3 h_1 + h_2, or the
   * period-2 return h_1 (gradient descent beyond the edge of stability). The
   * predictor is the one that would have predicted h_0 best from the vectors
   * before it (so the linear one needs 3 vectors, the quadratic one 4 and the
   * period-2 one 3); ties go to the lower order, and a best backtest error
   * above {@link #SMOOTH} gives the constant. Along a smooth trajectory the
   * quadratic prediction is O(step^3) from the next eigenvector where h_0 is
   * O(step): a Rayleigh-Ritz start nearer the answer, for one product.
   *
   * @param n       vector length
   * @param history count vectors, column-major n x count, most recent first
   * @param count   number of vectors, at least 1
   * @param out     out: the prediction (not normalized), length n
   * @return the predictor used: {@link #CONSTANT}, {@link #LINEAR},
   *         {@link #QUADRATIC} or {@link #PERIOD_TWO}
   * @throws IllegalArgumentException on bad sizes
   */
  public static int predict(int n, double[] history, int count, double[] out) {
    if (count < 1 || history == null || history.length < (long) n * count || out == null || out.length < n)
      throw new IllegalArgumentException("history must hold count >= 1 vectors of length n, out n entries");
    int c = Math.min(count, 4);
    // the Gram matrix of the vectors, signs aligned to h_0: every backtest is a quadratic form in it
    double[] gram = new double[16];
    double[] sign = new double[4];
    for (int j = 0; j < c; j++) {
      for (int i = 0; i <= j; i++) {
        double d = Blas.dot(n, history, i * n, history, j * n);
        gram[i + 4 * j] = d;
        gram[j + 4 * i] = d;
      }
      sign[j] = gram[4 * j] < 0 ? -1.0 : 1.0;
    }
    int best = CONSTANT;
    double bestErr = Double.POSITIVE_INFINITY;
    for (int p = 0; p < PREDICTORS.length; p++) {
      if (c < NEEDED[p]) continue;
      double[] e = BACKTESTS[p];
      double err = 0;
      for (int j = 0; j < c; j++) {
        for (int i = 0; i < c; i++) err += e[i] * e[j] * sign[i] * sign[j] * gram[i + 4 * j];
      }
      if (err < bestErr) {
        bestErr = err;
        best = p;
      }
    }
    if (!(bestErr <= SMOOTH * SMOOTH)) best = CONSTANT;
    double[] w = PREDICTORS[best];
    double w0 = w[0], w1 = c > 1 ? w[1] * sign[1] : 0, w2 = c > 2 ? w[2] * sign[2] : 0;
    for (int i = 0; i < n; i++) {
      double x = w0 * history[i];
      if (w1 != 0) x += w1 * history[n + i];
      if (w2 != 0) x += w2 * history[2 * n + i];
      out[i] = x;
    }
    return best;
  }

  /** The predictors on (h_0, h_1, h_2), by index. */
  private static final double[][] PREDICTORS = {{1, 0, 0}, {2, -1, 0}, {3, -3, 1}, {0, 1, 0}};

  /**
   * The backtest of each predictor: its prediction of h_0 from the vectors
   * before, minus h_0, on (h_0, h_1, h_2, h_3).
   */
  private static final double[][] BACKTESTS = {{-1, 1, 0, 0}, {-1, 2, -1, 0}, {-1, 3, -3, 1}, {-1, 0, 1, 0}};

  /** Vectors a backtest needs. */
  private static final int[] NEEDED = {2, 3, 4, 3};

  /**
   * Orthogonalizes cand against the basis (classical Gram-Schmidt, a second
   * pass when the first removed more than 1 - Spectra.SECOND_PASS_RATIO of
   * the norm), and, unless it is dependent, appends it with its image and the
   * new row and column of H = V^T W and G = W^T W. Returns whether it was appended.
   */
  private static boolean extend(Operator op, int n, double[] cand, double[] v, double[] w,
                                double[] h, double[] g, int cap, double[] coef, double[][] work, int[] state, double[] anorm) {
    int m = state[0];
    if (m == cap) return false;
    double norm0 = Spectra.norm(n, cand);
    if (!(norm0 > 0) || !Double.isFinite(norm0)) return false;
    double norm = norm0;
    for (int pass = 0; pass < 2 && m > 0; pass++) {
      double before = norm;
      Spectra.project(n, m, v, cand, coef);
      Spectra.accumulate(n, m, v, coef, true, cand);
      norm = Spectra.norm(n, cand);
      if (norm > Spectra.SECOND_PASS_RATIO * before) break; // twice is enough, once when little was removed
    }
    if (norm <= DEPENDENT * norm0) return false;
    double inv = 1.0 / norm;
    int off = m * n;
    for (int i = 0; i < n; i++) v[off + i] = cand[i] * inv;
    double[] x = work[0], ax = work[1];
    System.arraycopy(v, off, x, 0, n);
    op.apply(x, ax);
    state[1]++;
    for (int i = 0; i < n; i++) {
      if (!Double.isFinite(ax[i])) throw new IllegalArgumentException("operator returned a non-finite vector");
    }
    System.arraycopy(ax, 0, w, off, n);
    anorm[0] = Math.max(anorm[0], Spectra.norm(n, ax));
    // column m of H against every basis vector (V^T A v_m), symmetric by construction
    Spectra.project(n, m + 1, v, ax, coef);
    for (int i = 0; i <= m; i++) {
      h[i + m * cap] = coef[i];
      h[m + i * cap] = coef[i];
    }
    // and of the Gram matrix G = W^T W, from which residual norms come without n-vectors
    Spectra.project(n, m + 1, w, ax, coef);
    for (int i = 0; i <= m; i++) {
      g[i + m * cap] = coef[i];
      g[m + i * cap] = coef[i];
    }
    state[0] = m + 1;
    return true;
  }

  /** Appends a seeded Gaussian vector (orthogonalized) to the basis. */
  private static void fillRandom(Operator op, int n, long seed, double[] cand, double[] v, double[] w,
                                 double[] h, double[] g, int cap, double[] coef, double[][] work, int[] state,
                                 double[] anorm) {
    for (int attempt = 0; attempt < 10; attempt++) {
      Rng.fillGaussian(Rng.derive(seed, 0x7A11L), state[2]++, 0, 1.0, cand, 0, n);
      if (extend(op, n, cand, v, w, h, g, cap, coef, work, state, anorm)) return;
    }
    throw new IllegalStateException("could not extend the basis with a random vector");
  }

  /**
   * Below this ratio of ||r||^2 to ||A y||^2 the residual norm from the Gram
   * matrix (s^T G s - theta^2, which cancels) is not trusted; the residual is
   * then formed explicitly.
   */
  static final double GRAM_TRUST = 1e-10;

  /**
   * Rayleigh-Ritz on the m-dimensional basis: theta (ascending, all m) and the
   * eigenvectors of H in a; for the top keep pairs the residual norm
   * sqrt(s^T G s - theta^2) from the Gram matrix, or NaN where that cancels
   * (then {@link #form} computes it); formed[k] is reset.
   */
  private static void ritzValues(int m, int cap, int keep, double[] h, double[] g, double[] a,
                                 double[] theta, double[] rn, boolean[] formed) {
    for (int j = 0; j < m; j++) {
      for (int i = 0; i < m; i++) a[i + j * m] = 0.5 * (h[i + j * cap] + h[j + i * cap]);
    }
    Blas.symmetricEigen(m, a, theta, true);
    for (int k = 0; k < keep; k++) {
      formed[k] = false;
      int so = (m - 1 - k) * m;
      double q = 0;
      for (int j = 0; j < m; j++) {
        double gs = 0;
        for (int i = 0; i < m; i++) gs += g[i + j * cap] * a[so + i];
        q += a[so + j] * gs;
      }
      double t = theta[m - 1 - k];
      double r2 = q - t * t;
      rn[k] = r2 > GRAM_TRUST * q ? Math.sqrt(r2) : Double.NaN;
    }
  }

  /**
   * The kept pair k as vectors: y_k = V s_k, z_k = W s_k = A y_k and the
   * explicit residual norm ||z_k - theta_k y_k|| (work[1] as scratch); nothing
   * when formed[k].
   */
  private static void form(int n, int m, int k, double[] v, double[] w, double[] a, double[] theta,
                           double[][] y, double[][] z, double[] rn, boolean[] formed, double[][] work) {
    if (formed[k]) return;
    double[] s = work[2], r = work[1];
    System.arraycopy(a, (m - 1 - k) * m, s, 0, m);
    double[] yk = y[k], zk = z[k];
    java.util.Arrays.fill(yk, 0.0);
    java.util.Arrays.fill(zk, 0.0);
    Spectra.accumulate(n, m, v, s, false, yk);
    Spectra.accumulate(n, m, w, s, false, zk);
    double t = theta[m - 1 - k];
    for (int i = 0; i < n; i++) r[i] = zk[i] - t * yk[i];
    rn[k] = Spectra.norm(n, r);
    formed[k] = true;
  }

  /**
   * The stopping rule (see the class comment): writes the bounds and returns
   * -1 when the top pair and every guard meet their tolerances, else the first
   * pair that does not (0 for the top).
   */
  private static int decide(int m, int keep, int stop, double tol, double guardTol, double floor,
                            double[] theta, double[] rn, double[] bounds) {
    double top = theta[m - 1];
    double bound = rn[0];
    if (stop == VALUE && keep >= 2) {
      double gap = top - (theta[m - 2] + rn[1]);
      if (gap > 0) bound = Math.min(bound, rn[0] * rn[0] / gap);
    }
    bounds[0] = bound;
    int next = bound <= Math.max(tol * Math.abs(top), floor) ? -1 : 0;
    for (int i = 1; i < keep; i++) {
      bounds[i] = rn[i];
      double guard = Math.max(Math.max(guardTol * (top - theta[m - 1 - i]), tol * Math.abs(top)), floor);
      if (next < 0 && rn[i] > guard) next = i;
    }
    return next;
  }
}
