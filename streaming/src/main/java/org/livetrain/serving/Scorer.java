package org.livetrain.serving;

import org.livetrain.LiveTrainException;
import org.livetrain.image.ImagePreprocessor;
import org.livetrain.image.InputContract;
import org.livetrain.io.ImageFiles;
import org.livetrain.store.Pointer;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * Requests in, {@link ScoreRecord}s out, from the best model so far. Never throws for bad input: a file
 * that cannot be scored gets an error record and the others are still answered.
 */
public final class Scorer {
    /** One request: its id, the path as the user gave it (shown in the answer), and the file to read: a local path or a Hadoop URI. */
    public record Request(String id, String shown, String location) {
    }

    /** Requests scored together at most: a forward pass of 64 costs about 0.1 ms per image, of 1 about 2 ms. */
    public static final int BATCH = 64;

    private final BestModelService models;
    private final ImageFiles files;
    private final long maxPixels;
    private final Supplier<String> notReady;
    private ShadowTally shadowed = new ShadowTally("");

    /**
     * @param files     where image files may be read from, and how large they may be
     * @param maxPixels images with more pixels are refused before decoding
     * @param notReady  says why no model is there yet and when one is expected
     */
    public Scorer(BestModelService models, ImageFiles files, long maxPixels, Supplier<String> notReady) {
        this.models = models;
        this.files = files;
        this.maxPixels = maxPixels;
        this.notReady = notReady;
    }

    /** Where requested files are read from, and how large they may be. */
    public ImageFiles files() {
        return files;
    }

    public BestModelService models() {
        return models;
    }

    /** An answer with the input it was computed from (null when the file was refused), as the model's contract prepared it. */
    public record Scored(ScoreRecord record, float[] input, InputContract contract) {
    }

    public ScoreRecord score(String requestId, Path file) {
        return scoreAll(List.of(new Request(requestId, file.toString(), file.toString()))).get(0);
    }

    public List<ScoreRecord> scoreAll(List<Request> requests) {
        return scoreWithInputs(requests).stream().map(Scored::record).toList();
    }

    /**
     * Answers in request order. All the requests are answered by the same model, and the images that
     * preprocess cleanly go through the network in one batch.
     */
    public List<Scored> scoreWithInputs(List<Request> requests) {
        ScoreRecord[] out = new ScoreRecord[requests.size()];
        float[][] inputs = new float[requests.size()][];
        LoadedModel model = models.current().orElse(null);
        if (model == null) {
            models.poll();
            model = models.current().orElse(null);
        }
        if (model == null) {
            for (int i = 0; i < out.length; i++) {
                out[i] = ScoreRecord.error(requests.get(i).id(), requests.get(i).shown(), "no model is ready yet: " + notReady.get());
            }
            return scored(out, inputs, null);
        }
        List<Scored> answers = answer(model, items(requests, model.input()), LoadedModel.TOP);
        BestModelService.Candidate candidate = models.candidate().orElse(null);
        return candidate == null ? answers : shadow(answers, requests, candidate);
    }

    /** The requests as items to answer: a file is prepared as the answering model's training data were, by its checkpoint's input contract. */
    private List<Item> items(List<Request> requests, InputContract contract) {
        ImagePreprocessor preprocessor = new ImagePreprocessor(contract, maxPixels);
        return requests.stream().map(r -> new Item(r.id(), r.shown(), () -> preprocessor.bytes(files.read(r.shown(), r.location()), r.shown()))).toList();
    }

    /**
     * The serving model's answers with the candidate's beside them, for the requests the serving model
     * answered (the same prepared inputs when both models take the same contract); their comparison goes to the
     * model service (the prompt's promoter) and to {@link #shadowed()}.
     */
    private List<Scored> shadow(List<Scored> answers, List<Request> requests, BestModelService.Candidate c) {
        ShadowTally tally = new ShadowTally(c.pointer().sha256());
        List<Integer> answered = new ArrayList<>();
        for (int i = 0; i < answers.size(); i++) if (answers.get(i).record().ok()) answered.add(i);
        if (answered.isEmpty()) return answers;
        List<ScoreRecord> theirs = new ArrayList<>(answered.size());
        boolean[] finite = new boolean[answered.size()];
        if (c.model() == null) {
            Pointer p = c.pointer();
            for (int i : answered) {
                theirs.add(new ScoreRecord(requests.get(i).id(), requests.get(i).shown(), ScoreRecord.Prediction.NONE,
                        new ScoreRecord.Answerer(p.step(), p.run(), p.sha256(), p.devAccuracy()), c.failure()));
            }
        } else {
            LoadedModel m = c.model();
            boolean same = m.input().equals(answers.get(answered.get(0)).contract());
            List<Item> items = new ArrayList<>(answered.size());
            List<Item> again = same ? null : items(answered.stream().map(requests::get).toList(), m.input());
            for (int k = 0; k < answered.size(); k++) {
                Scored s = answers.get(answered.get(k));
                items.add(same ? new Item(s.record().requestId(), s.record().path(), s::input) : again.get(k));
            }
            List<Scored> scored = answer(m, items, LoadedModel.TOP);
            for (Scored s : scored) theirs.add(s.record());
            for (int k = 0; k < finite.length; k++) finite[k] = theirs.get(k).ok() && theirs.get(k).finite();
        }
        List<Scored> out = new ArrayList<>(answers);
        for (int k = 0; k < answered.size(); k++) {
            Scored s = answers.get(answered.get(k));
            tally.add(s.record(), theirs.get(k), c.model() == null || finite[k]);
            out.set(answered.get(k), new Scored(s.record().withShadow(theirs.get(k)), s.input(), s.contract()));
        }
        if (!shadowed.candidate().equals(tally.candidate())) shadowed = new ShadowTally(tally.candidate());
        shadowed.plus(tally);
        models.shadowed(tally);
        return out;
    }

    /** Every comparison of a candidate's answers with the serving model's this scorer made (for the Kafka scorer's driver). */
    public ShadowTally shadowed() {
        return shadowed;
    }

    /** One thing to answer: its id, the path its answer shows, and how its input is read and prepared (a {@link LiveTrainException} refuses it). */
    public record Item(String id, String shown, Supplier<float[]> input) {
    }

    /**
     * Every serving path's answer: the items in order, each prepared on its own (a refusal answers that item
     * alone), then those that were prepared through {@code model} in one forward pass, with the {@code top} most
     * likely classes. Never throws for an item: a failure becomes that item's error.
     */
    public static List<Scored> answer(LoadedModel model, List<Item> items, int top) {
        ScoreRecord[] out = new ScoreRecord[items.size()];
        float[][] inputs = new float[items.size()][];
        List<Integer> ready = new ArrayList<>();
        List<float[]> images = new ArrayList<>();
        for (int i = 0; i < out.length; i++) {
            Item it = items.get(i);
            try {
                images.add(inputs[i] = it.input().get());
                ready.add(i);
            } catch (LiveTrainException e) {
                out[i] = ScoreRecord.error(it.id(), it.shown(), e.getMessage());
            } catch (RuntimeException e) {
                out[i] = ScoreRecord.error(it.id(), it.shown(), it.shown() + ": could not be scored (" + e + ")");
            }
        }
        if (!images.isEmpty()) {
            try {
                List<float[]> p = model.probabilities(images);
                for (int k = 0; k < ready.size(); k++) {
                    Item it = items.get(ready.get(k));
                    out[ready.get(k)] = model.answer(it.id(), it.shown(), p.get(k), top);
                }
            } catch (RuntimeException e) {
                for (int i : ready) {
                    Item it = items.get(i);
                    out[i] = ScoreRecord.error(it.id(), it.shown(), it.shown() + ": could not be scored (" + e + ")");
                }
            }
        }
        return scored(out, inputs, model.input());
    }

    private static List<Scored> scored(ScoreRecord[] records, float[][] inputs, InputContract contract) {
        List<Scored> out = new ArrayList<>(records.length);
        for (int i = 0; i < records.length; i++) out.add(new Scored(records[i], records[i].ok() ? inputs[i] : null, contract));
        return out;
    }
}
