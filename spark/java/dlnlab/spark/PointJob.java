package dlnlab.spark;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import org.apache.spark.FutureAction;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import scala.collection.Iterator;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.AbstractFunction0;
import scala.runtime.AbstractFunction1;
import scala.runtime.AbstractFunction2;
import scala.runtime.BoxedUnit;

/**
 * One Spark job with one task per sweep point whose results reach the driver
 * as each task finishes (RDD.toLocalIterator would run one job per partition,
 * one after the other). The driver-side handler only puts each result on a
 * queue, so the caller writes files on its own thread and the scheduler's
 * event loop never waits for a disk.
 */
public final class PointJob {
    private PointJob() {}

    /** The partition's only element: the task's result (one point per partition). */
    private static final class OnlyElement extends AbstractFunction1<Iterator<String>, String> implements Serializable {
        private static final long serialVersionUID = 1L;

        @Override
        public String apply(Iterator<String> it) {
            return it.next();
        }
    }

    /** On the driver: puts each finished task's result on the queue. */
    private static final class Enqueue extends AbstractFunction2<Object, String, BoxedUnit> {
        private final BlockingQueue<String> queue;

        Enqueue(BlockingQueue<String> queue) {
            this.queue = queue;
        }

        @Override
        public BoxedUnit apply(Object partition, String result) {
            queue.add(result);
            return BoxedUnit.UNIT;
        }
    }

    private static final class Unit extends AbstractFunction0<BoxedUnit> {
        @Override
        public BoxedUnit apply() {
            return BoxedUnit.UNIT;
        }
    }

    /**
     * Submits fn over points, one task per point, and returns the job's future;
     * every task's result is added to queue on the driver as the task finishes
     * (once per point, whatever the retries).
     */
    public static FutureAction<BoxedUnit> submit(JavaSparkContext sc, List<String> points, RunPoint fn,
                                                 BlockingQueue<String> queue) {
        int n = points.size();
        JavaRDD<String> rdd = sc.parallelize(points, n).map(fn);
        List<Object> partitions = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            partitions.add(i);
        }
        return sc.sc().submitJob(rdd.rdd(), new OnlyElement(), CollectionConverters.asScala(partitions).toSeq(),
                                 new Enqueue(queue), new Unit());
    }
}
