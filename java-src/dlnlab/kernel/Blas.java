package dlnlab.kernel;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
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

  /**
   * Products with m*n*k at or below this many multiply-adds run in Java. With the
   * operand windows copied off-heap a native call costs about 0.2 µs, so OpenBLAS
   * wins from 8 x 8 x 8 up (measured by bench/dlnlab/bench/engine.clj's profile).
   */
  public static final long NATIVE_THRESHOLD = 8L * 8L * 8L;

  /**
   * Products with a dimension below this run in Java whatever their size: their
   * operands are as large as their work (gemv-like), so a native call gains
   * nothing over a loop and would pay for copying the operands off-heap.
   */
  public static final int NATIVE_MIN_DIM = 8;

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

  /**
   * Per-thread scratch: off-heap copies of the operand windows of a native
   * product, and a heap buffer for the transposed A of the Java kernel. Grown on
   * demand, never shrunk. (JavaCPP passes an on-heap array to native code by
   * copying the whole backing array in and out on every call, whatever the
   * window; copying just the windows into direct buffers costs O(mk + kn + mn).)
   */
  private static final class Scratch {
    DoubleBuffer a, b, c;
    double[] t = new double[0];
  }

  private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

  private static DoubleBuffer direct(DoubleBuffer cur, long n) {
    if (cur != null && cur.capacity() >= n) return cur;
    long cap = Math.max(n, cur == null ? 1024 : 2L * cur.capacity());
    if (cap * 8 > Integer.MAX_VALUE) cap = n;
    return ByteBuffer.allocateDirect((int) (cap * 8)).order(ByteOrder.nativeOrder()).asDoubleBuffer();
  }

  /** Copies the rows x cols window at src[off] (leading dimension ld) to dst, packed. */
  private static void pack(double[] src, int off, int ld, int rows, int cols, DoubleBuffer dst) {
    if (ld == rows) {
      dst.put(0, src, off, rows * cols);
    } else {
      for (int j = 0; j < cols; j++) dst.put(j * rows, src, off + j * ld, rows);
    }
  }

  private static void unpack(DoubleBuffer src, int rows, int cols, double[] dst, int off, int ld) {
    if (ld == rows) {
      src.get(0, dst, off, rows * cols);
    } else {
      for (int j = 0; j < cols; j++) src.get(j * rows, dst, off + j * ld, rows);
    }
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
    if ((long) m * n * k > NATIVE_THRESHOLD && Math.min(m, Math.min(n, k)) >= NATIVE_MIN_DIM) {
      gemmNative(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
    } else {
      gemmJava(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
    }
  }

  /** The same product by OpenBLAS, through off-heap copies of the operand windows. */
  public static void gemmNative(boolean transA, boolean transB, int m, int n, int k,
                                double alpha, double[] a, int aOff, int lda,
                                double[] b, int bOff, int ldb,
                                double beta, double[] c, int cOff, int ldc) {
    if (m == 0 || n == 0) return;
    if (k == 0 || alpha == 0.0) {
      scaleMatrix(m, n, beta, c, cOff, ldc);
      return;
    }
    init();
    Scratch s = SCRATCH.get();
    int ar = transA ? k : m, ac = transA ? m : k;
    int br = transB ? n : k, bc = transB ? k : n;
    s.a = direct(s.a, (long) ar * ac);
    s.b = direct(s.b, (long) br * bc);
    s.c = direct(s.c, (long) m * n);
    pack(a, aOff, lda, ar, ac, s.a);
    pack(b, bOff, ldb, br, bc, s.b);
    if (beta != 0.0) pack(c, cOff, ldc, m, n, s.c);
    openblas.cblas_dgemm(openblas.CblasColMajor,
        transA ? openblas.CblasTrans : openblas.CblasNoTrans,
        transB ? openblas.CblasTrans : openblas.CblasNoTrans,
        m, n, k, alpha, s.a, ar, s.b, br, beta, s.c, m);
    unpack(s.c, m, n, c, cOff, ldc);
  }

  /**
   * The plain-loop product used for small sizes; also the reference in tests.
   * Column j of C gets alpha sum_p op(A)[:, p] op(B)[p, j], four p at a time;
   * a transposed A is first copied into per-thread scratch so that the inner
   * loop always runs down contiguous columns (except for gemv-like shapes, A^T B
   * with few columns, which are dot products of contiguous columns).
   */
  public static void gemmJava(boolean transA, boolean transB, int m, int n, int k,
                              double alpha, double[] a, int aOff, int lda,
                              double[] b, int bOff, int ldb,
                              double beta, double[] c, int cOff, int ldc) {
    scaleMatrix(m, n, beta, c, cOff, ldc);
    if (k == 0 || alpha == 0.0 || m == 0 || n == 0) return;
    if (transA && !transB && n < NATIVE_MIN_DIM) {
      // gemv-like: dot products down contiguous columns of A and B, no transpose copy
      for (int j = 0; j < n; j++) {
        int cj = cOff + j * ldc, bo = bOff + j * ldb;
        for (int i = 0; i < m; i++) c[cj + i] += alpha * dot(k, a, aOff + i * lda, b, bo);
      }
      return;
    }
    if (transA) {
      Scratch s = SCRATCH.get();
      if (s.t.length < m * k) s.t = new double[Math.max(m * k, 2 * s.t.length)];
      double[] t = s.t;
      for (int i = 0; i < m; i++) {
        int ai = aOff + i * lda;
        for (int p = 0; p < k; p++) t[i + p * m] = a[ai + p];
      }
      a = t;
      aOff = 0;
      lda = m;
    }
    int bi = transB ? ldb : 1;   // step between B[p, j] and B[p+1, j]
    int bj = transB ? 1 : ldb;   // step between B[p, j] and B[p, j+1]
    for (int j = 0; j < n; j++) {
      int cj = cOff + j * ldc;
      int bo = bOff + j * bj;
      int p = 0;
      for (; p + 3 < k; p += 4) {
        double b0 = alpha * b[bo + p * bi], b1 = alpha * b[bo + (p + 1) * bi];
        double b2 = alpha * b[bo + (p + 2) * bi], b3 = alpha * b[bo + (p + 3) * bi];
        int a0 = aOff + p * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda;
        for (int i = 0; i < m; i++) {
          c[cj + i] += a[a0 + i] * b0 + a[a1 + i] * b1 + a[a2 + i] * b2 + a[a3 + i] * b3;
        }
      }
      for (; p < k; p++) {
        double bp = alpha * b[bo + p * bi];
        int ap = aOff + p * lda;
        for (int i = 0; i < m; i++) c[cj + i] += a[ap + i] * bp;
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
