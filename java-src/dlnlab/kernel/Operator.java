package dlnlab.kernel;

/**
 * A linear operator on packed vectors of length {@link #size()}, such as a
 * Hessian-vector product. The spectral routines in {@link Spectra} assume it is
 * symmetric. The one interface among the kernels, small enough for Clojure to
 * reify.
 */
public interface Operator {
  /** Length of the vectors the operator acts on. */
  int size();

  /**
   * Writes y = A x. y is fully overwritten; x is only read and is never the same
   * array as y. Both have length {@link #size()}.
   */
  void apply(double[] x, double[] y);
}
