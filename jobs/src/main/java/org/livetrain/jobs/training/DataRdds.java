package org.livetrain.jobs.training;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.livetrain.data.Batches;
import org.livetrain.data.LabeledImage;
import org.livetrain.data.Pool;
import org.nd4j.linalg.dataset.DataSet;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Random;

/**
 * RDDs of mini-batches whose partitions read their own examples from storage: the driver only ships
 * index arrays, never the data.
 */
public final class DataRdds {
    private DataRdds() {
    }

    /**
     * One partition per index array; each reads its examples, shuffles them when {@code shuffleSeed} is
     * given, and groups them into mini-batches of {@code batch}.
     */
    public static JavaRDD<DataSet> batches(JavaSparkContext jsc, Pool pool, int[][] parts, int batch, int numClasses, Long shuffleSeed) {
        List<int[]> list = new ArrayList<>(List.of(parts));
        return jsc.parallelize(list, parts.length).mapPartitionsWithIndex((p, it) -> {
            List<DataSet> out = new ArrayList<>();
            while (it.hasNext()) {
                int[] idx = it.next();
                Iterator<LabeledImage> examples = pool.read(idx);
                if (shuffleSeed != null) {
                    List<LabeledImage> all = new ArrayList<>(idx.length);
                    examples.forEachRemaining(all::add);
                    Collections.shuffle(all, new Random(shuffleSeed * 1_000_003L + p));
                    examples = all.iterator();
                }
                Batches.batches(examples, batch, numClasses).forEachRemaining(out::add);
            }
            return out.iterator();
        }, true);
    }
}
