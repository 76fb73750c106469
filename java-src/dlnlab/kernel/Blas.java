package dlnlab.kernel;

import java.nio.DoubleBuffer;
import org.bytedeco.openblas.global.openblas;

/**
 * Dense linear algebra on on-heap double[] in column-major order with explicit
 * offsets and leading dimensions. Large products go to OpenBLAS (cblas, one
 * thread, so results are deterministic); small ones run as plain Java loops,
 * which beat the cost of a native call.
 */
public final class Blas {
  private Blas() {}

  /** Products with m*n*k at or below this many multiply-adds run in Java. */
  public static final long NATIVE_THRESHOLD = 24L * 24L * 24L;

  private static volatile boolean initialized = false;

  /** Loads OpenBLAS and pins it to one thread. Idempotent. */
  public static synchronized void init() {
    if (!initialized) {
      openblas.blas_set_num_threads(1);
      initialized = true;
    }
  }

  /** A short description of the native BLAS in use. */
  public static String describe() {
    init();
    return "OpenBLAS (org.bytedeco openblas " + openblas.class.getPackage().getImplementationVersion()
        + "), threads=" + openblas.blas_get_num_threads();
  }

  private static DoubleBuffer buf(double[] a, int off) {
    return DoubleBuffer.wrap(a, off, a.length - off);
  }

  /**
   * C = alpha op(A) op(B) + beta C, column-major. op(X) is X or its transpose;
   * op(A) is m x k, op(B) is k x n, C is m x n. When beta is 0, C is overwritten
   * (NaNs in C do not propagate).
   */
  public static void gemm(boolean transA, boolean transB, int m, int n, int k,
                          double alpha, double[] a, int aOff, int lda,
                          double[] b, int bOff, int ldb,
                          double beta, double[] c, int cOff, int ldc) {
    if (m == 0 || n == 0) return;
    if (k == 0 || alpha == 0.0) {
      scaleMatrix(m, n, beta, c, cOff, ldc);
      return;
    }
    if ((long) m * n * k > NATIVE_THRESHOLD) {
      init();
      openblas.cblas_dgemm(openblas.CblasColMajor,
          transA ? openblas.CblasTrans : openblas.CblasNoTrans,
          transB ? openblas.CblasTrans : openblas.CblasNoTrans,
          m, n, k, alpha, buf(a, aOff), lda, buf(b, bOff), ldb, beta, buf(c, cOff), ldc);
    } else {
      gemmJava(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
    }
  }

  /** The plain-loop product used for small sizes; also the reference in tests. */
  public static void gemmJava(boolean transA, boolean transB, int m, int n, int k,
                              double alpha, double[] a, int aOff, int lda,
                              double[] b, int bOff, int ldb,
                              double beta, double[] c, int cOff, int ldc) {
    scaleMatrix(m, n, beta, c, cOff, ldc);
    if (k == 0 || alpha == 0.0) return;
    for (int j = 0; j < n; j++) {
      int cj = cOff + j * ldc;
      for (int p = 0; p < k; p++) {
        double bpj = alpha * (transB ? b[bOff + j + p * ldb] : b[bOff + p + j * ldb]);
        if (bpj == 0.0) continue;
        if (!transA) {
          int ap = aOff + p * lda;
          for (int i = 0; i < m; i++) c[cj + i] += a[ap + i] * bpj;
        } else {
          int ap = aOff + p;
          for (int i = 0; i < m; i++) c[cj + i] += a[ap + i * lda] * bpj;
        }
      }
    }
  }

  private static void scaleMatrix(int m, int n, double beta, double[] c, int cOff, int ldc) {
    for (int j = 0; j < n; j++) {
      int cj = cOff + j * ldc;
      if (beta == 0.0) {
        for (int i = 0; i < m; i++) c[cj + i] = 0.0;
      } else if (beta != 1.0) {
        for (int i = 0; i < m; i++) c[cj + i] *= beta;
      }
    }
  }

  /** Sum of x[xOff+i] * y[yOff+i] over i < n, with four partial sums. */
  public static double dot(int n, double[] x, int xOff, double[] y, int yOff) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i = 0;
    for (; i + 3 < n; i += 4) {
      s0 += x[xOff + i] * y[yOff + i];
      s1 += x[xOff + i + 1] * y[yOff + i + 1];
      s2 += x[xOff + i + 2] * y[yOff + i + 2];
      s3 += x[xOff + i + 3] * y[yOff + i + 3];
    }
    for (; i < n; i++) s0 += x[xOff + i] * y[yOff + i];
    return (s0 + s1) + (s2 + s3);
  }

  /** y += alpha x. */
  public static void axpy(int n, double alpha, double[] x, int xOff, double[] y, int yOff) {
    for (int i = 0; i < n; i++) y[yOff + i] += alpha * x[xOff + i];
  }

  /** x *= alpha. */
  public static void scal(int n, double alpha, double[] x, int xOff) {
    for (int i = 0; i < n; i++) x[xOff + i] *= alpha;
  }

  /** Euclidean norm, scaled so that it neither overflows nor underflows. */
  public static double nrm2(int n, double[] x, int xOff) {
    double scale = 0.0;
    for (int i = 0; i < n; i++) scale = Math.max(scale, Math.abs(x[xOff + i]));
    if (scale == 0.0 || Double.isInfinite(scale) || Double.isNaN(scale)) {
      return scale == 0.0 ? 0.0 : (Double.isNaN(scale) ? Double.NaN : Double.POSITIVE_INFINITY);
    }
    double s = 0.0;
    for (int i = 0; i < n; i++) {
      double t = x[xOff + i] / scale;
      s += t * t;
    }
    return scale * Math.sqrt(s);
  }

  /**
   * Eigen-decomposition of the symmetric n x n matrix in a (column-major, lower
   * triangle read). On return w holds the eigenvalues ascending and, when
   * vectors is true, a holds the orthonormal eigenvectors as columns.
   * Throws ArithmeticException when LAPACK does not converge.
   */
  public static void symmetricEigen(int n, double[] a, double[] w, boolean vectors) {
    if (n == 0) return;
    init();
    int info = openblas.LAPACKE_dsyevd(openblas.LAPACK_COL_MAJOR, (byte) (vectors ? 'V' : 'N'),
        (byte) 'L', n, a, n, w);
    if (info != 0) throw new ArithmeticException("dsyevd failed, info=" + info);
  }

  /**
   * Eigenvalues (ascending, in d) and, when z is not null, eigenvectors (n x n,
   * column-major, in z) of the symmetric tridiagonal matrix with diagonal d and
   * off-diagonal e (length n-1; destroyed).
   */
  public static void tridiagonalEigen(int n, double[] d, double[] e, double[] z) {
    if (n == 0) return;
    init();
    double[] ee = e.length >= n ? e : java.util.Arrays.copyOf(e, Math.max(1, n));
    int info = openblas.LAPACKE_dstev(openblas.LAPACK_COL_MAJOR, (byte) (z == null ? 'N' : 'V'),
        n, d, ee, z == null ? new double[1] : z, Math.max(1, n));
    if (info != 0) throw new ArithmeticException("dstev failed, info=" + info);
  }

  /**
   * Thin singular value decomposition of the m x n column-major matrix a
   * (destroyed): s gets the min(m,n) singular values, descending; when u and vt
   * are not null, u gets the m x min(m,n) left vectors and vt the min(m,n) x n
   * right vectors transposed (both column-major). LAPACK dgesdd.
   * Throws ArithmeticException when LAPACK does not converge.
   */
  public static void svd(int m, int n, double[] a, double[] s, double[] u, double[] vt) {
    int r = Math.min(m, n);
    if (r == 0) return;
    init();
    boolean vec = u != null && vt != null;
    int info = openblas.LAPACKE_dgesdd(openblas.LAPACK_COL_MAJOR, (byte) (vec ? 'S' : 'N'), m, n, a, m, s,
        vec ? u : new double[1], m, vec ? vt : new double[1], vec ? r : 1);
    if (info != 0) throw new ArithmeticException("dgesdd failed, info=" + info);
  }
}
