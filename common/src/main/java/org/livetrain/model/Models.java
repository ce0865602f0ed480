package org.livetrain.model;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.livetrain.LiveTrainException;
import org.livetrain.data.Shape;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.Locale;

/** The one place where the networks are defined. Input shape and number of classes come from the data. */
public final class Models {
    public enum Kind {
        /** LeNet-style CNN: conv 5x5x20, max-pool, conv 5x5x50, max-pool, dense 500, softmax. */
        LENET,
        /** A small multi-layer perceptron: dense 256, dense 128, softmax. */
        MLP;

        public static Kind parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new LiveTrainException(s + ": unknown model (use lenet or mlp)");
            }
        }
    }

    private Models() {
    }

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
            case MLP -> b
                    .layer(new DenseLayer.Builder().activation(Activation.RELU).nOut(256).build())
                    .layer(new DenseLayer.Builder().activation(Activation.RELU).nOut(128).build());
        }
        b.layer(new OutputLayer.Builder(LossFunctions.LossFunction.NEGATIVELOGLIKELIHOOD).nOut(numClasses).activation(Activation.SOFTMAX).build());
        // the data arrives flat ([n, h*w*c]); the configuration adds the reshaping the layers need
        b.setInputType(InputType.convolutionalFlat(shape.height(), shape.width(), shape.channels()));
        return b.build();
    }

    public static MultiLayerNetwork create(Kind kind, Shape shape, int numClasses, double learningRate, long seed) {
        MultiLayerNetwork net = new MultiLayerNetwork(config(kind, shape, numClasses, learningRate, seed));
        net.init();
        return net;
    }
}
