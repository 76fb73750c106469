package dlnlab.kernel;

/**
 * A loss that depends on the network only through its end-to-end matrix F
 * (dout x din, column-major). Three forms:
 * <ul>
 * <li>factorization: loss = 1/2 ||F - M||_F^2;</li>
 * <li>exact moments of samples: loss = l* + 1/2 ||(F - F*) C||_F^2 with
 *     Sxx = X X^T/n = C C^T, F* = Syx Sxx^+ and l* its loss computed from the
 *     samples, so small losses carry no cancellation error and the cost per call
 *     does not depend on n;</li>
 * <li>batch: Sxx and Syx of a minibatch without the eigendecomposition; the loss
 *     is computed from the samples directly (their residuals F X - Y by one
 *     product, so workSize() includes dout x n).</li>
 * </ul>
 * Samples are columns of X (din x n) and Y (dout x n), column-major: the same
 * memory as row-major matrices with one sample per row.
 */
public final class Objective {
  public static final int FACTORIZATION = 0;
  public static final int MOMENTS = 1;
  public static final int BATCH = 2;

  public final int kind;
  public final int dout;
  public final int din;
  /** Minimizer F* (dout x din); the target M for factorization; null for BATCH. */
  public final double[] fstar;
  /** Sxx (din x din); null for FACTORIZATION (identity). */
  public final double[] sxx;
  /** Syx (dout x din); for BATCH only. */
  public final double[] syx;
  /** Factor C (din x rank) with Sxx = C C^T; MOMENTS only. */
  public final double[] cfac;
  public final int rank;
  /** Loss at F*; 0 for FACTORIZATION. */
  public final double lstar;
  /** Samples kept for BATCH losses (null otherwise). */
  public final double[] x;
  public final double[] y;
  public final int n;

  private Objective(int kind, int dout, int din, double[] fstar, double[] sxx, double[] syx,
                    double[] cfac, int rank, double lstar, double[] x, double[] y, int n) {
    this.kind = kind; this.dout = dout; this.din = din; this.fstar = fstar; this.sxx = sxx;
    this.syx = syx; this.cfac = cfac; this.rank = rank; this.lstar = lstar; this.x = x; this.y = y;
    this.n = n;
  }

  /** 1/2 ||F - M||^2 with M dout x din column-major (copied). */
  public static Objective factorization(int dout, int din, double[] m) {
    if (m.length != dout * din) throw new IllegalArgumentException("target has " + m.length + " entries, expected " + dout * din);
    return new Objective(FACTORIZATION, dout, din, m.clone(), null, null, null, din, 0.0, null, null, 0);
  }

  private static void moments(int n, int din, int dout, double[] x, double[] y, double[] sxx, double[] syx) {
    double inv = 1.0 / n;
    Blas.gemm(false, true, din, din, n, inv, x, 0, din, x, 0, din, 0.0, sxx, 0, din);
    Blas.gemm(false, true, dout, din, n, inv, y, 0, dout, x, 0, din, 0.0, syx, 0, dout);
    // exact symmetry
    for (int j = 0; j < din; j++) {
      for (int i = j + 1; i < din; i++) {
        double s = 0.5 * (sxx[i + j * din] + sxx[j + i * din]);
        sxx[i + j * din] = s;
        sxx[j + i * din] = s;
      }
    }
  }

  /** The full-batch loss (1/2n) sum_i ||F x_i - y_i||^2 of n samples, exact form. */
  public static Objective samples(int n, int din, int dout, double[] x, double[] y) {
    checkSamples(n, din, dout, x, y);
    double[] sxx = new double[din * din];
    double[] syx = new double[dout * din];
    moments(n, din, dout, x, y, sxx, syx);
    double[] q = sxx.clone();
    double[] w = new double[din];
    Blas.symmetricEigen(din, q, w, true);
    double wmax = 0.0;
    for (double v : w) wmax = Math.max(wmax, Math.abs(v));
    double cut = wmax * din * 1e-14;
    int rank = 0;
    for (double v : w) if (v > cut) rank++;
    // C = Q_+ diag(sqrt(w_+)),  Sxx^+ = Q_+ diag(1/w_+) Q_+^T
    double[] cfac = new double[din * Math.max(rank, 1)];
    double[] qs = new double[din * Math.max(rank, 1)];
    int c = 0;
    for (int j = 0; j < din; j++) {
      if (w[j] <= cut) continue;
      double sq = Math.sqrt(w[j]);
      for (int i = 0; i < din; i++) {
        cfac[i + c * din] = q[i + j * din] * sq;
        qs[i + c * din] = q[i + j * din] / w[j];
      }
      c++;
    }
    // F* = Syx Q_+ diag(1/w) Q_+^T  =  (Syx qs) Q_+^T ; with Q_+ = C diag(1/sqrt w) -> use q directly
    double[] t = new double[dout * Math.max(rank, 1)];
    Blas.gemm(false, false, dout, rank, din, 1.0, syx, 0, dout, qs, 0, din, 0.0, t, 0, dout);
    double[] qplus = new double[din * Math.max(rank, 1)];
    c = 0;
    for (int j = 0; j < din; j++) {
      if (w[j] <= cut) continue;
      System.arraycopy(q, j * din, qplus, c * din, din);
      c++;
    }
    double[] fstar = new double[dout * din];
    Blas.gemm(false, true, dout, din, rank, 1.0, t, 0, dout, qplus, 0, din, 0.0, fstar, 0, dout);
    double lstar = sampleLoss(n, din, dout, x, y, fstar);
    return new Objective(MOMENTS, dout, din, fstar, sxx, null, cfac, rank, lstar, null, null, n);
  }

  /** A minibatch objective: moments without eigendecomposition; loss from the samples. */
  public static Objective batch(int n, int din, int dout, double[] x, double[] y) {
    checkSamples(n, din, dout, x, y);
    double[] sxx = new double[din * din];
    double[] syx = new double[dout * din];
    moments(n, din, dout, x, y, sxx, syx);
    return new Objective(BATCH, dout, din, null, sxx, syx, null, din, Double.NaN, x.clone(), y.clone(), n);
  }

  private static void checkSamples(int n, int din, int dout, double[] x, double[] y) {
    if (n < 1) throw new IllegalArgumentException("need at least one sample");
    if (x.length != n * din) throw new IllegalArgumentException("x has " + x.length + " entries, expected " + n * din);
    if (y.length != n * dout) throw new IllegalArgumentException("y has " + y.length + " entries, expected " + n * dout);
  }

  /** Samples per block of {@link #sampleLoss}: a block's residuals and inputs stay in L1. */
  private static final int LOSS_BLOCK = 64;

  /**
   * (1/2n) sum_i ||F x_i - y_i||^2 computed from the samples. Each residual
   * entry is -y_ia + sum_b F_ab x_ib added in the order b = 0, 1, ... (terms
   * with x_ib = 0 left out), and the squares are summed sample by sample, a
   * = 0, 1, ... within a sample; {@link #sampleLossBySample} is that definition
   * as a loop. When F is finite, the same sums run over blocks of samples with
   * the samples innermost (a loop the JIT vectorizes) and include the zero
   * terms, which gives the same number bit for bit: a term F_ab 0 is a signed
   * zero, which leaves a sum unchanged but for the sign of a zero sum, and the
   * sign does not reach the square.
   */
  public static double sampleLoss(int n, int din, int dout, double[] x, double[] y, double[] f) {
    for (int k = 0; k < dout * din; k++) {
      if (!Double.isFinite(f[k])) return sampleLossBySample(n, din, dout, x, y, f);
    }
    final int bs = LOSS_BLOCK;
    // one row per residual entry and per input entry, samples along the row:
    // rows of their own (not offsets into one array) let the JIT vectorize
    double[][] rt = new double[dout][bs];   // rt[a][j]: residual a of sample i0 + j
    double[][] xt = new double[din][bs];    // xt[b][j] = x_b of sample i0 + j
    double s = 0.0;
    for (int i0 = 0; i0 < n; i0 += bs) {
      int m = Math.min(bs, n - i0);
      for (int j = 0; j < m; j++) {
        int xo = (i0 + j) * din, yo = (i0 + j) * dout;
        for (int b = 0; b < din; b++) xt[b][j] = x[xo + b];
        for (int a = 0; a < dout; a++) rt[a][j] = -y[yo + a];
      }
      int b = 0;
      for (; b + 4 <= din; b += 4) {   // four terms per pass, still added one by one
        double[] x0 = xt[b], x1 = xt[b + 1], x2 = xt[b + 2], x3 = xt[b + 3];
        for (int a = 0; a < dout; a++) {
          double f0 = f[b * dout + a], f1 = f[(b + 1) * dout + a];
          double f2 = f[(b + 2) * dout + a], f3 = f[(b + 3) * dout + a];
          double[] r = rt[a];
          for (int j = 0; j < m; j++) r[j] = (((r[j] + f0 * x0[j]) + f1 * x1[j]) + f2 * x2[j]) + f3 * x3[j];
        }
      }
      for (; b < din; b++) {
        double[] xb = xt[b];
        for (int a = 0; a < dout; a++) {
          double fab = f[b * dout + a];
          double[] r = rt[a];
          for (int j = 0; j < m; j++) r[j] += fab * xb[j];
        }
      }
      for (int j = 0; j < m; j++) {
        for (int a = 0; a < dout; a++) {
          double r = rt[a][j];
          s += r * r;
        }
      }
    }
    return s / (2.0 * n);
  }

  /** {@link #sampleLoss} sample by sample: the definition, for samples with zero entries. */
  static double sampleLossBySample(int n, int din, int dout, double[] x, double[] y, double[] f) {
    double[] r = new double[dout];
    double s = 0.0;
    for (int i = 0; i < n; i++) {
      for (int a = 0; a < dout; a++) r[a] = -y[a + i * dout];
      for (int b = 0; b < din; b++) {
        double xb = x[b + i * din];
        if (xb == 0.0) continue;
        int fc = b * dout;
        for (int a = 0; a < dout; a++) r[a] += f[fc + a] * xb;
      }
      for (int a = 0; a < dout; a++) s += r[a] * r[a];
    }
    return s / (2.0 * n);
  }

  /** Workspace size (doubles) that lossAndResidual needs. */
  public int workSize() {
    int w = dout * din + dout * Math.max(rank, 1);
    // BATCH keeps the residuals F X - Y of its samples (dout x n)
    return kind == BATCH ? Math.max(w, dout * n) : w;
  }

  /**
   * Loss at F; when r is not null also writes R = dloss/dF (dout x din) into r.
   * work must hold workSize() doubles.
   */
  public double lossAndResidual(double[] f, double[] r, double[] work) {
    int m = dout * din;
    switch (kind) {
      case FACTORIZATION: {
        double s = 0.0;
        for (int i = 0; i < m; i++) {
          double e = f[i] - fstar[i];
          s += e * e;
          if (r != null) r[i] = e;
        }
        return 0.5 * s;
      }
      case MOMENTS: {
        // work <- E = F - F*
        for (int i = 0; i < m; i++) work[i] = f[i] - fstar[i];
        if (r != null) Blas.gemm(false, false, dout, din, din, 1.0, work, 0, dout, sxx, 0, din, 0.0, r, 0, dout);
        // ||E C||^2 with E C stored after E in work
        Blas.gemm(false, false, dout, rank, din, 1.0, work, 0, dout, cfac, 0, din, 0.0, work, m, dout);
        double s = 0.0;
        for (int i = m; i < m + dout * rank; i++) s += work[i] * work[i];
        return lstar + 0.5 * s;
      }
      default: {
        if (r != null) {
          System.arraycopy(syx, 0, r, 0, m);
          Blas.gemm(false, false, dout, din, din, 1.0, f, 0, dout, sxx, 0, din, -1.0, r, 0, dout);
        }
        // the samples' residuals F X - Y by one product, then their squared norm
        int e = dout * n;
        System.arraycopy(y, 0, work, 0, e);
        Blas.gemm(false, false, dout, n, din, 1.0, f, 0, dout, x, 0, din, -1.0, work, 0, dout);
        double s0 = 0.0, s1 = 0.0;
        int i = 0;
        for (; i + 1 < e; i += 2) {
          s0 += work[i] * work[i];
          s1 += work[i + 1] * work[i + 1];
        }
        if (i < e) s0 += work[i] * work[i];
        return (s0 + s1) / (2.0 * n);
      }
    }
  }

  /** dR = dF Sxx (dF for factorization). */
  public void residualDirection(double[] df, double[] dr) {
    if (sxx == null) {
      System.arraycopy(df, 0, dr, 0, dout * din);
    } else {
      Blas.gemm(false, false, dout, din, din, 1.0, df, 0, dout, sxx, 0, din, 0.0, dr, 0, dout);
    }
  }
}
