package dlnlab.kernel;

/**
 * Loss, gradient and exact Hessian-vector product of a network (an {@link Arch}
 * with packed parameters) under an {@link Objective} (SCIENCE.md §3).
 *
 * <p>Per pathway with factors G_a .. G_b (G_a acts first) write B_j = G_{j-1}..G_a
 * (prefix, identity for j = a) and Q_j = (G_b..G_{j+1})^T R (suffix applied to
 * the residual R = dloss/dF). Then dloss/dG_j = Q_j B_j^T. Along a direction V
 * (dG_j = alpha_j V_j) the forward tangents dB_{j+1} = dG_j B_j + G_j dB_j give
 * dF, dR = dF Sxx, and the backward tangents dQ_{j-1} = dG_j^T Q_j + G_j^T dQ_j
 * give H[V]_j = alpha_j (dQ_j B_j^T + Q_j dB_j^T): the directional derivative
 * of the gradient, with no finite differences.
 *
 * <p>{@link #prepare} computes the prefixes, F, the loss, R and the Q_j once;
 * {@link #gradientPrepared} and {@link #hvpPrepared} reuse them, so Lanczos pays
 * only the tangent passes per product. A {@link Workspace} belongs to one thread.
 */
public final class Engine {
  private Engine() {}

  /**
   * Buffers for one (Arch, Objective) pair. Not thread-safe. The buffers of the
   * backward pass and of HVPs are allocated at their first use, so a workspace
   * that only computes losses (a run's final and test losses) stays small.
   */
  public static final class Workspace {
    final double[] g;      // effective factors, packed layout
    double[] dg;           // effective direction, packed layout (HVP)
    final int[] preOff;    // offset of B_j (cols[j] x din); unused for first factors
    final double[] pre;
    double[] dpre;         // (HVP)
    final int[] qOff;      // offset of Q_j (rows[j] x din)
    final int qSize;
    double[] q;            // (backward pass)
    double[] dq;           // (HVP)
    /** Pathway products P_k (dout x din each), valid after a forward pass. */
    public final double[] prod;
    /** End-to-end F = sum_k P_k (dout x din), valid after a forward pass. */
    public final double[] f;
    double[] r;            // R = dloss/dF (backward pass)
    double[] df;           // (HVP)
    double[] dr;           // (HVP)
    final double[] owork;
    double loss = Double.NaN;
    /** The architecture this workspace is laid out for. */
    final Arch arch;

    public Workspace(Arch arch, Objective obj) {
      checkDims(arch, obj);
      this.arch = arch;
      int nf = arch.factors();
      int din = arch.din;
      g = new double[arch.size];
      preOff = new int[nf];
      qOff = new int[nf];
      long po = 0, qo = 0;
      for (int j = 0; j < nf; j++) {
        preOff[j] = (int) po;
        po += (long) arch.cols[j] * din;
        qOff[j] = (int) qo;
        qo += (long) arch.rows[j] * din;
      }
      pre = new double[(int) po];
      qSize = (int) qo;
      int m = arch.dout * din;
      prod = new double[arch.pathways * m];
      f = new double[m];
      owork = new double[obj.workSize()];
    }

    /** The loss computed by the last forward pass. */
    public double loss() { return loss; }

    /** Residual R = dloss/dF (dout x din), valid after prepare; null before the first. */
    public double[] residual() { return r; }

    void ensureBackward() {
      if (q == null) {
        q = new double[qSize];
        r = new double[f.length];
      }
    }

    void ensureTangents() {
      if (dq == null) {
        dg = new double[g.length];
        dpre = new double[pre.length];
        dq = new double[qSize];
        df = new double[f.length];
        dr = new double[f.length];
      }
    }
  }

  private static void effective(Arch arch, double[] w, double[] out, boolean addIdentity) {
    for (int j = 0; j < arch.factors(); j++) {
      int off = arch.offset[j];
      int n = arch.factorSize(j);
      double al = arch.alpha[j];
      for (int i = 0; i < n; i++) out[off + i] = al * w[off + i];
      if (addIdentity && arch.identity[j]) {
        int d = arch.rows[j];
        for (int i = 0; i < d; i++) out[off + i + i * d] += 1.0;
      }
    }
  }

  private static void checkDims(Arch arch, Objective obj) {
    if (obj.din != arch.din || obj.dout != arch.dout) {
      throw new IllegalArgumentException("network maps " + arch.din + " -> " + arch.dout
          + " but the objective expects " + obj.din + " -> " + obj.dout);
    }
  }

  /** The calling thread's scratch workspace of {@link #loss(Arch, Objective, double[])}. */
  private static final ThreadLocal<Workspace> SCRATCH = new ThreadLocal<>();

  /** The most doubles of a workspace a thread keeps as its scratch (512 KB); larger ones are made per call. */
  public static final int SCRATCH_MAX_DOUBLES = 1 << 16;

  /**
   * The loss at params, in a workspace the calling thread keeps between calls
   * for the same architecture (with any objective of its dimensions), so a
   * one-off loss allocates nothing. The same number as
   * loss(arch, obj, params, new Workspace(arch, obj)): the forward pass and the
   * objective write every workspace entry before they read it.
   */
  public static double loss(Arch arch, Objective obj, double[] params) {
    checkDims(arch, obj);
    Workspace ws = SCRATCH.get();
    if (ws == null || ws.arch != arch || ws.owork.length < obj.workSize()) {
      ws = new Workspace(arch, obj);
      long doubles = (long) ws.g.length + ws.pre.length + ws.prod.length + ws.f.length + ws.owork.length;
      if (doubles <= SCRATCH_MAX_DOUBLES) SCRATCH.set(ws);
    }
    return loss(arch, obj, params, ws);
  }

  /** Forward pass: effective factors, prefixes, pathway products and F. */
  public static void forward(Arch arch, double[] params, Workspace ws) {
    if (params.length != arch.size) {
      throw new IllegalArgumentException("params has " + params.length + " entries, network has " + arch.size);
    }
    effective(arch, params, ws.g, true);
    int din = arch.din, dout = arch.dout, m = dout * din;
    java.util.Arrays.fill(ws.f, 0.0);
    for (int k = 0; k < arch.pathways; k++) {
      int a = arch.pathStart[k], b = arch.pathStart[k + 1] - 1;
      int po = k * m;
      for (int j = a; j <= b; j++) {
        int rj = arch.rows[j];
        double[] dst = (j == b) ? ws.prod : ws.pre;
        int dOff = (j == b) ? po : ws.preOff[j + 1];
        if (j == a) {
          System.arraycopy(ws.g, arch.offset[j], dst, dOff, rj * din);
        } else {
          Blas.gemm(false, false, rj, din, arch.cols[j], 1.0, ws.g, arch.offset[j], rj,
              ws.pre, ws.preOff[j], arch.cols[j], 0.0, dst, dOff, rj);
        }
      }
      for (int i = 0; i < m; i++) ws.f[i] += ws.prod[po + i];
    }
  }

  /** The loss at params (forward pass only). */
  public static double loss(Arch arch, Objective obj, double[] params, Workspace ws) {
    forward(arch, params, ws);
    ws.loss = obj.lossAndResidual(ws.f, null, ws.owork);
    return ws.loss;
  }

  /** Forward pass, loss, residual and backward suffixes Q_j. Returns the loss. */
  public static double prepare(Arch arch, Objective obj, double[] params, Workspace ws) {
    ws.ensureBackward();
    forward(arch, params, ws);
    ws.loss = obj.lossAndResidual(ws.f, ws.r, ws.owork);
    int din = arch.din;
    for (int k = 0; k < arch.pathways; k++) {
      int a = arch.pathStart[k], b = arch.pathStart[k + 1] - 1;
      System.arraycopy(ws.r, 0, ws.q, ws.qOff[b], arch.dout * din);
      for (int j = b; j > a; j--) {
        // Q_{j-1} = G_j^T Q_j : (cols[j] x rows[j]) (rows[j] x din)
        Blas.gemm(true, false, arch.cols[j], din, arch.rows[j], 1.0, ws.g, arch.offset[j], arch.rows[j],
            ws.q, ws.qOff[j], arch.rows[j], 0.0, ws.q, ws.qOff[j - 1], arch.cols[j]);
      }
    }
    return ws.loss;
  }

  /** Gradient (packed) at the prepared point into out. */
  public static void gradientPrepared(Arch arch, Workspace ws, double[] out) {
    int din = arch.din;
    for (int k = 0; k < arch.pathways; k++) {
      int a = arch.pathStart[k], b = arch.pathStart[k + 1] - 1;
      for (int j = a; j <= b; j++) {
        int rj = arch.rows[j], cj = arch.cols[j], off = arch.offset[j];
        double al = arch.alpha[j];
        if (j == a) {
          for (int i = 0; i < rj * cj; i++) out[off + i] = al * ws.q[ws.qOff[j] + i];
        } else {
          Blas.gemm(false, true, rj, cj, din, al, ws.q, ws.qOff[j], rj, ws.pre, ws.preOff[j], cj,
              0.0, out, off, rj);
        }
      }
    }
  }

  /** Loss and gradient; the gradient goes into out (packed). Returns the loss. */
  public static double gradient(Arch arch, Objective obj, double[] params, Workspace ws, double[] out) {
    double l = prepare(arch, obj, params, ws);
    gradientPrepared(arch, ws, out);
    return l;
  }

  /** Hessian-vector product H v at the prepared point into out (packed). */
  public static void hvpPrepared(Arch arch, Objective obj, Workspace ws, double[] v, double[] out) {
    if (v.length != arch.size) {
      throw new IllegalArgumentException("direction has " + v.length + " entries, network has " + arch.size);
    }
    ws.ensureBackward();
    ws.ensureTangents();
    effective(arch, v, ws.dg, false);
    int din = arch.din, dout = arch.dout, m = dout * din;
    java.util.Arrays.fill(ws.df, 0.0);
    // forward tangents: dB_{j+1} = dG_j B_j + G_j dB_j ; dP = same at the last factor, summed into dF
    for (int k = 0; k < arch.pathways; k++) {
      int a = arch.pathStart[k], b = arch.pathStart[k + 1] - 1;
      for (int j = a; j <= b; j++) {
        int rj = arch.rows[j], cj = arch.cols[j];
        boolean last = (j == b);
        double[] dst = last ? ws.df : ws.dpre;
        int dOff = last ? 0 : ws.preOff[j + 1];
        double beta0 = last ? 1.0 : 0.0;
        if (j == a) {
          if (last) {
            for (int i = 0; i < m; i++) ws.df[i] += ws.dg[arch.offset[j] + i];
          } else {
            System.arraycopy(ws.dg, arch.offset[j], dst, dOff, rj * din);
          }
        } else {
          Blas.gemm(false, false, rj, din, cj, 1.0, ws.dg, arch.offset[j], rj,
              ws.pre, ws.preOff[j], cj, beta0, dst, dOff, rj);
          Blas.gemm(false, false, rj, din, cj, 1.0, ws.g, arch.offset[j], rj,
              ws.dpre, ws.preOff[j], cj, 1.0, dst, dOff, rj);
        }
      }
    }
    obj.residualDirection(ws.df, ws.dr);
    // backward tangents and output
    for (int k = 0; k < arch.pathways; k++) {
      int a = arch.pathStart[k], b = arch.pathStart[k + 1] - 1;
      System.arraycopy(ws.dr, 0, ws.dq, ws.qOff[b], m);
      for (int j = b; j >= a; j--) {
        int rj = arch.rows[j], cj = arch.cols[j], off = arch.offset[j];
        double al = arch.alpha[j];
        if (j > a) {
          // dQ_{j-1} = dG_j^T Q_j + G_j^T dQ_j
          Blas.gemm(true, false, cj, din, rj, 1.0, ws.dg, off, rj, ws.q, ws.qOff[j], rj,
              0.0, ws.dq, ws.qOff[j - 1], cj);
          Blas.gemm(true, false, cj, din, rj, 1.0, ws.g, off, rj, ws.dq, ws.qOff[j], rj,
              1.0, ws.dq, ws.qOff[j - 1], cj);
          // H_j = alpha (dQ_j B_j^T + Q_j dB_j^T)
          Blas.gemm(false, true, rj, cj, din, al, ws.dq, ws.qOff[j], rj, ws.pre, ws.preOff[j], cj,
              0.0, out, off, rj);
          Blas.gemm(false, true, rj, cj, din, al, ws.q, ws.qOff[j], rj, ws.dpre, ws.preOff[j], cj,
              1.0, out, off, rj);
        } else {
          for (int i = 0; i < rj * cj; i++) out[off + i] = al * ws.dq[ws.qOff[j] + i];
        }
      }
    }
  }

  /** Hessian-vector product at params along v into out (packed). */
  public static void hvp(Arch arch, Objective obj, double[] params, double[] v, Workspace ws, double[] out) {
    prepare(arch, obj, params, ws);
    hvpPrepared(arch, obj, ws, v, out);
  }
}
