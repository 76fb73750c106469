package dlnlab.kernel;

/**
 * Immutable description of a network as K pathways, each a chain of factors
 * G_j = alpha_j W_j + (identity_j ? I : 0), with the packed parameter layout:
 * W_j column-major (leading dimension rows[j]) at offset[j], contiguous in factor
 * order. The end-to-end matrix is the sum over pathways of G_last ... G_first.
 */
public final class Arch {
  public final int pathways;
  /** Factors of pathway k are pathStart[k] .. pathStart[k+1]-1. Length pathways+1. */
  public final int[] pathStart;
  public final int[] rows;
  public final int[] cols;
  public final int[] offset;
  public final double[] alpha;
  public final boolean[] identity;
  public final int din;
  public final int dout;
  /** Number of parameters. */
  public final int size;
  /** Largest dimension of any factor (rows or cols). */
  public final int maxDim;

  public Arch(int[] pathLengths, int[] rows, int[] cols, double[] alpha, boolean[] identity) {
    int nf = rows.length;
    if (cols.length != nf || alpha.length != nf || identity.length != nf) {
      throw new IllegalArgumentException("rows, cols, alpha and identity must have one entry per factor");
    }
    if (pathLengths.length == 0) throw new IllegalArgumentException("a network needs at least one pathway");
    this.pathways = pathLengths.length;
    this.pathStart = new int[pathways + 1];
    for (int k = 0; k < pathways; k++) {
      if (pathLengths[k] < 1) throw new IllegalArgumentException("pathway " + k + " has no factors");
      pathStart[k + 1] = pathStart[k] + pathLengths[k];
    }
    if (pathStart[pathways] != nf) throw new IllegalArgumentException("path lengths do not add up to the factor count");
    this.rows = rows.clone();
    this.cols = cols.clone();
    this.alpha = alpha.clone();
    this.identity = identity.clone();
    this.offset = new int[nf];
    long off = 0;
    int md = 0;
    for (int j = 0; j < nf; j++) {
      if (rows[j] < 1 || cols[j] < 1) throw new IllegalArgumentException("factor " + j + " has a non-positive dimension");
      if (identity[j] && rows[j] != cols[j]) throw new IllegalArgumentException("identity factor " + j + " is not square");
      offset[j] = (int) off;
      off += (long) rows[j] * cols[j];
      if (off > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("too many parameters for one array");
      md = Math.max(md, Math.max(rows[j], cols[j]));
    }
    this.size = (int) off;
    this.maxDim = md;
    this.din = cols[0];
    this.dout = rows[pathStart[1] - 1];
    for (int k = 0; k < pathways; k++) {
      int a = pathStart[k], b = pathStart[k + 1];
      if (cols[a] != din || rows[b - 1] != dout) {
        throw new IllegalArgumentException("pathway " + k + " maps " + cols[a] + " -> " + rows[b - 1]
            + " but pathway 0 maps " + din + " -> " + dout);
      }
      for (int j = a + 1; j < b; j++) {
        if (cols[j] != rows[j - 1]) {
          throw new IllegalArgumentException("factor " + j + " has " + cols[j] + " columns but the factor before it has "
              + rows[j - 1] + " rows");
        }
      }
    }
  }

  public int factors() { return rows.length; }

  /** Number of parameters of factor j. */
  public int factorSize(int j) { return rows[j] * cols[j]; }
}
