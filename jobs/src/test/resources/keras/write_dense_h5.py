"""Writes a Keras 2 Sequential model (784 -> Dense 64 relu -> Dense 10 softmax) as Keras's model.save()
does in HDF5, with seeded random weights, and the model's output for one input, so that a test can check
what DL4J's importer read. Needs only h5py and numpy (Debian: python3-h5py).
usage: write_dense_h5.py MODEL.h5 EXPECTED.txt"""
import json
import sys

import h5py
import numpy as np

rng = np.random.default_rng(7)
w1 = rng.uniform(-0.08, 0.08, (784, 64)).astype(np.float32)
b1 = rng.uniform(-0.05, 0.05, (64,)).astype(np.float32)
w2 = rng.uniform(-0.3, 0.3, (64, 10)).astype(np.float32)
b2 = rng.uniform(-0.05, 0.05, (10,)).astype(np.float32)


def dense(name, units, activation, first=False):
    config = {"name": name, "trainable": True, "dtype": "float32", "units": units, "activation": activation,
              "use_bias": True, "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
              "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
              "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None}
    if first:
        config["batch_input_shape"] = [None, 784]
    return {"class_name": "Dense", "config": config}


model_config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
    dense("dense", 64, "relu", first=True), dense("dense_1", 10, "softmax")]}}
training_config = {"loss": "categorical_crossentropy", "metrics": ["accuracy"], "loss_weights": None,
                   "sample_weight_mode": None, "weighted_metrics": None,
                   "optimizer_config": {"class_name": "Adam", "config": {"name": "Adam", "learning_rate": 0.001, "decay": 0.0,
                                                                          "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}}}

with h5py.File(sys.argv[1], "w") as f:
    f.attrs["keras_version"] = np.bytes_("2.2.4")
    f.attrs["backend"] = np.bytes_("tensorflow")
    f.attrs["model_config"] = np.bytes_(json.dumps(model_config))
    f.attrs["training_config"] = np.bytes_(json.dumps(training_config))
    weights = f.create_group("model_weights")
    weights.attrs["layer_names"] = [np.bytes_("dense"), np.bytes_("dense_1")]
    weights.attrs["keras_version"] = np.bytes_("2.2.4")
    weights.attrs["backend"] = np.bytes_("tensorflow")
    for name, (w, b) in {"dense": (w1, b1), "dense_1": (w2, b2)}.items():
        g = weights.create_group(name)
        g.attrs["weight_names"] = [np.bytes_(name + "/kernel:0"), np.bytes_(name + "/bias:0")]
        g.create_dataset(name + "/kernel:0", data=w)
        g.create_dataset(name + "/bias:0", data=b)

x = np.linspace(0.0, 1.0, 784, dtype=np.float32)
h = np.maximum(x @ w1 + b1, 0.0)
z = h @ w2 + b2
p = np.exp(z - z.max())
p /= p.sum()
with open(sys.argv[2], "w") as out:
    out.write(" ".join("%.7f" % v for v in p) + "\n")
