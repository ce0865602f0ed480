package org.livetrain.model;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.livetrain.LiveTrainException;
import org.livetrain.image.Shape;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.Locale;

/** The one place where the networks are defined. Input shape and number of classes come from the data. */
public final class Models {
    public enum Kind {
        /** LeNet-style CNN: conv 5x5x20, max-pool, conv 5x5x50, max-pool, dense 500, softmax. */
        LENET,
        /** A small multi-layer perceptron: dense 256, dense 128, softmax. */
        MLP,
        /** A residual network (a ComputationGraph): see {@link #resnet}. */
        RESNET;

        public static Kind parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new LiveTrainException(s + ": unknown model (use lenet, mlp or resnet)");
            }
        }
    }

    private Models() {
    }

    /** The stacked networks (lenet, mlp); {@link #resnet} is a graph. */
    public static MultiLayerConfiguration config(Kind kind, Shape shape, int numClasses, double learningRate, long seed) {
        NeuralNetConfiguration.ListBuilder b = new NeuralNetConfiguration.Builder()
                .seed(seed)
                .weightInit(WeightInit.XAVIER)
                .updater(new Adam(learningRate))
                .list();
        switch (kind) {
            case LENET -> b
                    .layer(new ConvolutionLayer.Builder(5, 5).nIn(shape.channels()).stride(1, 1).nOut(20).activation(Activation.IDENTITY).build())
                    .layer(new SubsamplingLayer.Builder(SubsamplingLayer.PoolingType.MAX).kernelSize(2, 2).stride(2, 2).build())
                    .layer(new ConvolutionLayer.Builder(5, 5).stride(1, 1).nOut(50).activation(Activation.IDENTITY).build())
                    .layer(new SubsamplingLayer.Builder(SubsamplingLayer.PoolingType.MAX).kernelSize(2, 2).stride(2, 2).build())
                    .layer(new DenseLayer.Builder().activation(Activation.RELU).nOut(500).build());
            case RESNET -> throw new IllegalArgumentException("resnet is a ComputationGraph: Models.resnet");
            case MLP -> b
                    .layer(new DenseLayer.Builder().activation(Activation.RELU).nOut(256).build())
                    .layer(new DenseLayer.Builder().activation(Activation.RELU).nOut(128).build());
        }
        b.layer(new OutputLayer.Builder(LossFunctions.LossFunction.NEGATIVELOGLIKELIHOOD).nOut(numClasses).activation(Activation.SOFTMAX).build());
        // the data arrives flat ([n, h*w*c]); the configuration adds the reshaping the layers need
        b.setInputType(InputType.convolutionalFlat(shape.height(), shape.width(), shape.channels()));
        return b.build();
    }

    /** A new network of the given kind, initialised from the seed. */
    public static Network create(Kind kind, Shape shape, int numClasses, double learningRate, long seed) {
        if (kind == Kind.RESNET) {
            ComputationGraph graph = new ComputationGraph(resnet(shape, numClasses, learningRate, seed));
            graph.init();
            return Network.of(graph);
        }
        MultiLayerNetwork net = new MultiLayerNetwork(config(kind, shape, numClasses, learningRate, seed));
        net.init();
        return Network.of(net);
    }

    /** Channels of the residual network's stem and of its stages; every stage halves the resolution. */
    static final int RESNET_STEM = 16;
    static final int[] RESNET_STAGES = {24, 48, 96, 192};

    /**
     * A small residual network (He et al., 2016) sized for small images: a 3x3 convolution of
     * {@link #RESNET_STEM} channels, then one stage per width of {@link #RESNET_STAGES}, each a residual block
     * of stride 2 with a projection shortcut (1x1 convolution with stride 2, batch normalisation); the last
     * stage adds a block with an identity shortcut. A block: 3x3 convolution, batch normalisation, ReLU, 3x3
     * convolution, batch normalisation, added to the shortcut, ReLU. Global average pooling and a softmax
     * layer. On 28x28x1 about 1.3 M parameters, most of them in the last, low-resolution stage, and about
     * ten million multiply-adds per image (LeNet: 2.3 million).
     */
    public static ComputationGraphConfiguration resnet(Shape shape, int numClasses, double learningRate, long seed) {
        return resnet(shape, numClasses, new Adam(learningRate), seed);
    }

    /** {@link #resnet} with another updater than Adam. */
    public static ComputationGraphConfiguration resnet(Shape shape, int numClasses, IUpdater updater, long seed) {
        ComputationGraphConfiguration.GraphBuilder g = new NeuralNetConfiguration.Builder()
                .seed(seed)
                .weightInit(WeightInit.RELU)
                .updater(updater)
                .convolutionMode(ConvolutionMode.Same)
                .graphBuilder()
                .addInputs("image")
                .setInputTypes(InputType.convolutionalFlat(shape.height(), shape.width(), shape.channels()));
        String last = convBn(g, "stem", "image", RESNET_STEM, 3, 1, true);
        for (int s = 0; s < RESNET_STAGES.length; s++) last = block(g, "s" + s, last, RESNET_STAGES[s], 2);
        last = block(g, "s" + (RESNET_STAGES.length - 1) + "i", last, RESNET_STAGES[RESNET_STAGES.length - 1], 1);
        g.addLayer("pool", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), last)
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.NEGATIVELOGLIKELIHOOD).nOut(numClasses)
                        .weightInit(WeightInit.XAVIER).activation(Activation.SOFTMAX).build(), "pool")
                .setOutputs("out");
        return g.build();
    }

    /** One residual block: two convolutions on the main path, a shortcut (identity, or projection when the shape changes), added, ReLU. */
    private static String block(ComputationGraphConfiguration.GraphBuilder g, String name, String in, int width, int stride) {
        String a = convBn(g, name + "a", in, width, 3, stride, true);
        String b = convBn(g, name + "b", a, width, 3, 1, false);
        String shortcut = stride == 1 ? in : convBn(g, name + "p", in, width, 1, stride, false);
        g.addVertex(name + "add", new ElementWiseVertex(ElementWiseVertex.Op.Add), b, shortcut)
                .addLayer(name + "relu", new ActivationLayer(Activation.RELU), name + "add");
        return name + "relu";
    }

    /** Convolution (no bias: the batch normalisation after it has one), batch normalisation, and a ReLU if asked. */
    private static String convBn(ComputationGraphConfiguration.GraphBuilder g, String name, String in, int width, int kernel, int stride, boolean relu) {
        g.addLayer(name + "conv", new ConvolutionLayer.Builder(kernel, kernel).stride(stride, stride).nOut(width).hasBias(false)
                        .activation(Activation.IDENTITY).build(), in)
                .addLayer(name + "bn", new BatchNormalization.Builder().build(), name + "conv");
        if (!relu) return name + "bn";
        g.addLayer(name + "relu", new ActivationLayer(Activation.RELU), name + "bn");
        return name + "relu";
    }
}
