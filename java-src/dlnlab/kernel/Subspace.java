package dlnlab.kernel;

/**
 * The top eigenpair of a symmetric operator tracked along a sequence of nearby
 * operators (a Hessian along a training trajectory): Rayleigh-Ritz on a
 * subspace that starts from the previous call's top Ritz vectors and grows by
 * the residual of the current top Ritz pair (Davidson's method with the
 * identity as preconditioner, which spans the same block Krylov space as
 * Lanczos from those vectors, restarted thick across calls).
 *
 * <p>A call applies the operator once to each start vector and once per
 * expansion, and stops when the top Ritz pair (theta, y) has an explicit
 * residual ||A y - theta y|| &lt;= max(tol |theta|, {@link Spectra#FLOOR} ||A||),
 * ||A|| estimated by the largest ||A v|| and |theta| seen, and every other kept
 * pair has settled (residual within {@link Spectra#SETTLE_FRACTION} of its
 * distance below theta, or the tolerance). Keeping the top few Ritz vectors
 * settled (not only the top one) is what notices an eigenvalue that overtakes
 * the tracked one: it is followed while it rises through the kept ranks, and
 * the Rayleigh-Ritz step puts it on top once it is there. Like any
 * k = 1 Krylov solve, a residual certifies that theta is near an eigenvalue,
 * not that no larger one exists outside the tracked subspace.
 */
public final class Subspace {
  private Subspace() {}

  /** Length of the info array filled by {@link #trackTop}. */
  public static final int INFO_LENGTH = 3;

  /** Purpose for {@link Rng#derive} of the random vectors. */
  private static final long RANDOM = 6;

  /**
   * The top eigenpair of op, tracked from start vectors.
   *
   * @param op        symmetric operator of size n
   * @param start     startCount vectors (column-major n x startCount), or null
   * @param startCount number of start vectors (0: one seeded random vector)
   * @param keep      Ritz vectors to return (1 &lt;= keep &lt;= maxDim)
   * @param tol       relative residual tolerance, &gt; 0
   * @param maxDim    cap on the subspace dimension (one product per vector), reduced to n
   * @param seed      seed of the random vectors
   * @param values    out, length &gt;= keep: the top Ritz values, descending
   * @param vectors   out, length &gt;= n keep: their unit Ritz vectors, column-major
   * @param residuals out, length &gt;= keep: their explicit residual norms
   * @param info      out, length {@link #INFO_LENGTH}: operator applications,
   *                  converged (1 or 0), subspace dimension
   * @throws IllegalArgumentException on bad sizes or a non-finite product
   */
  public static void trackTop(Operator op, double[] start, int startCount, int keep, double tol, int maxDim,
                              long seed, double[] values, double[] vectors, double[] residuals, int[] info) {
    int n = op.size();
    int cap = Math.min(maxDim, n);
    if (n < 1) throw new IllegalArgumentException("operator size must be positive, got " + n);
    if (keep < 1 || keep > cap) throw new IllegalArgumentException("keep must be in 1.." + cap + ", got " + keep);
    if (!(tol > 0.0) || Double.isInfinite(tol)) throw new IllegalArgumentException("tol must be positive and finite, got " + tol);
    if (startCount < 0 || (startCount > 0 && (start == null || start.length < (long) n * startCount))) {
      throw new IllegalArgumentException("start must hold " + startCount + " vectors of length " + n);
    }
    if ((long) n * cap > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("n * maxDim too large: " + n + " * " + cap);
    if (values.length < keep || residuals.length < keep || vectors.length < (long) n * keep || info.length < INFO_LENGTH) {
      throw new IllegalArgumentException("output arrays too short for keep=" + keep + ", n=" + n);
    }
    Track tr = new Track(op, n, cap, Math.max(startCount, 1) + 8);
    long rseed = Rng.derive(seed, RANDOM);
    int randoms = 0;
    for (int c = 0; c < startCount && tr.dim < cap; c++) {
      System.arraycopy(start, c * n, tr.x, 0, n);
      double nrm = Spectra.norm(n, tr.x);
      if (!(nrm > 0.0) || Double.isInfinite(nrm)) throw new IllegalArgumentException("start vector " + c + " is zero or not finite");
      tr.append();
    }
    boolean converged = false;
    boolean pending = false;
    while (true) {
      if (tr.dim == 0 || (pending && !tr.append())) {
        // no start vector, or the residual lies in the subspace: a fresh direction
        boolean added = false;
        while (!added && randoms < 8 && tr.dim < cap) {
          Rng.fillGaussian(rseed, randoms++, 0, 1.0, tr.x, 0, n);
          added = tr.append();
        }
        if (!added && tr.dim == 0) throw new IllegalArgumentException("no start vector could be used");
        if (!added) break;
      }
      double res = tr.topResidual();
      double top = tr.theta;
      boolean settled = res <= Math.max(tol * Math.abs(top), Spectra.FLOOR * tr.anorm);
      // the kept pairs below the top must have settled too: residual within
      // SETTLE_FRACTION of their distance below it (or the tolerance), so the
      // next call starts from vectors that follow the next eigenvalues
      for (int c = 1; settled && c < Math.min(keep, tr.dim); c++) {
        double theta = tr.pair(tr.dim - 1 - c);
        Blas.axpy(n, -theta, tr.x, 0, tr.ax, 0);
        double rc = Spectra.norm(n, tr.ax);
        if (rc > Math.max(Math.max(tol * Math.abs(theta), Spectra.FLOOR * tr.anorm),
                          Spectra.SETTLE_FRACTION * (top - theta))) {
          settled = false;
        }
      }
      if (settled) {
        converged = true;
        break;
      }
      if (tr.dim >= cap) break;
      // the next direction: the residual of the first pair not settled, left in tr.ax
      System.arraycopy(tr.ax, 0, tr.x, 0, n);
      pending = true;
    }
    tr.ritz();
    int dim = tr.dim;
    for (int c = 0; c < keep; c++) {
      if (c >= dim) {
        values[c] = Double.NaN;
        residuals[c] = Double.NaN;
        java.util.Arrays.fill(vectors, c * n, (c + 1) * n, 0.0);
        continue;
      }
      double theta = tr.pair(dim - 1 - c);
      System.arraycopy(tr.x, 0, vectors, c * n, n);
      Blas.axpy(n, -theta, tr.x, 0, tr.ax, 0);
      values[c] = theta;
      residuals[c] = Spectra.norm(n, tr.ax);
    }
    info[0] = tr.apps;
    info[1] = converged ? 1 : 0;
    info[2] = dim;
  }

  /** The subspace S (n x dim), A S, the projected matrix G = S^T A S and its eigen-decomposition. */
  private static final class Track {
    final Operator op;
    final int n, cap;
    double[] s, as;
    final double[] g, gz, gw, h, x, ax;
    int dim = 0, apps = 0;
    double normEst = 0.0, anorm = 0.0, theta = 0.0;

    Track(Operator op, int n, int cap, int initialColumns) {
      this.op = op; this.n = n; this.cap = cap;
      s = new double[n * Math.min(cap, initialColumns)];
      as = new double[s.length];
      g = new double[cap * cap];
      gz = new double[cap * cap];
      gw = new double[cap];
      h = new double[cap];
      x = new double[n];
      ax = new double[n];
    }

    /**
     * x orthogonalized against S (two passes of classical Gram-Schmidt) and,
     * unless it lies in S to 1e-8 of its norm, appended with its product and
     * its row and column of G. Returns whether it was appended.
     */
    boolean append() {
      double before = Spectra.norm(n, x);
      for (int pass = 0; pass < 2 && dim > 0; pass++) {
        Spectra.project(n, dim, s, x, h);
        Spectra.accumulate(n, dim, s, h, true, x);
      }
      double after = Spectra.norm(n, x);
      if (!(after > 1e-8 * before)) return false;
      if (s.length < (dim + 1) * n) {
        int cols = Math.min(cap, Math.max(dim + 1, 2 * (s.length / n)));
        s = java.util.Arrays.copyOf(s, cols * n);
        as = java.util.Arrays.copyOf(as, cols * n);
      }
      int co = dim * n;
      for (int i = 0; i < n; i++) s[co + i] = x[i] / after;
      System.arraycopy(s, co, x, 0, n);
      op.apply(x, ax);
      apps++;
      double nav = Spectra.norm(n, ax);
      if (!Double.isFinite(nav)) throw new IllegalArgumentException("operator returned a non-finite vector (norm " + nav + ")");
      normEst = Math.max(normEst, nav);
      System.arraycopy(ax, 0, as, co, n);
      Spectra.project(n, dim + 1, s, ax, h);
      for (int a = 0; a <= dim; a++) {
        g[a + dim * cap] = h[a];
        g[dim + a * cap] = h[a];
      }
      dim++;
      return true;
    }

    /** Eigen-decomposition of G: values ascending in gw, vectors in gz (dim x dim). */
    void ritz() {
      for (int j = 0; j < dim; j++) System.arraycopy(g, j * cap, gz, j * dim, dim);
      Blas.symmetricEigen(dim, gz, gw, true);
      anorm = Math.max(normEst, Math.max(Math.abs(gw[0]), Math.abs(gw[dim - 1])));
    }

    /** Rayleigh-Ritz; the top pair into x, ax, theta; returns its explicit residual norm, leaving the residual in ax. */
    double topResidual() {
      ritz();
      theta = pair(dim - 1);
      Blas.axpy(n, -theta, x, 0, ax, 0);
      return Spectra.norm(n, ax);
    }

    /**
     * The Ritz pair of eigenvector col of G: the unit vector y = S z into x,
     * A y = (A S) z into ax; returns the Rayleigh quotient y . A y.
     */
    double pair(int col) {
      double[] zc = java.util.Arrays.copyOfRange(gz, col * dim, (col + 1) * dim);
      java.util.Arrays.fill(x, 0.0);
      java.util.Arrays.fill(ax, 0.0);
      Spectra.accumulate(n, dim, s, zc, false, x);
      Spectra.accumulate(n, dim, as, zc, false, ax);
      double inv = 1.0 / Spectra.norm(n, x);
      Blas.scal(n, inv, x, 0);
      Blas.scal(n, inv, ax, 0);
      return Blas.dot(n, x, 0, ax, 0);
    }
  }
}
