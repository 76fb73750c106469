package dlnlab.spark;

import clojure.java.api.Clojure;
import clojure.lang.IFn;
import org.apache.spark.api.java.function.Function;

/**
 * The Spark function of the dlnlab engine: calls a Clojure var (namespace,
 * name) on the EDN text of one sweep point and returns its EDN text. Clojure
 * functions cannot travel as Spark closures (their deserialization fails), so
 * this small serializable class carries only the two names and resolves the
 * var on the executor.
 */
public final class RunPoint implements Function<String, String> {
    private static final long serialVersionUID = 1L;
    private final String ns;
    private final String var;

    /** ns: the namespace to require; var: the function (String -> String) in it. */
    public RunPoint(String ns, String var) {
        this.ns = ns;
        this.var = var;
    }

    @Override
    public String call(String pointEdn) {
        IFn require = Clojure.var("clojure.core", "require");
        require.invoke(Clojure.read(ns));
        return (String) Clojure.var(ns, var).invoke(pointEdn);
    }
}
