#!/usr/bin/env python3
"""Build, train and export the ONNX test models of `chimera import`.

Every model here is a PyTorch module exported with `torch.onnx.export`:

* with the **default settings** (`torch.onnx.export(model, (x,), path)`: since
  PyTorch 2.9 that is the dynamo exporter, ONNX opset 18+, static shapes), and
* with the **TorchScript exporter** (`dynamo=False`) and a dynamic batch axis
  (`dynamic_axes={"x": {0: "batch_size"}}`), which writes the
  `Shape → Gather → Unsqueeze → Concat → Reshape` chains of `x.view(x.size(0), -1)`
  and keeps `BatchNormalization` after a `Linear` (files `*_legacy.onnx`).

Models:

* `mnist_mlp`: 784-128-64-10 MLP with ReLU, trained 1 epoch on MNIST.
* `mnist_cnn`: conv 8@5x5 (no bias) + batchnorm + relu + maxpool 2,
  conv 16@5x5 + batchnorm + relu + maxpool 2, flatten, dense 256-64-10,
  trained 1 epoch on MNIST. Both exporters fold eval-mode batchnorm into
  the convolution, as PyTorch does for inference.
* `ops_vec`: Linear + BatchNorm1d, sigmoid, `x @ W + b` (MatMul + Add),
  multiplication by a constant, tanh, Linear, log-softmax (random weights).
* `ops_img`: conv, relu, a residual add of a 1x1-conv skip path, avgpool,
  global average pool (`AdaptiveAvgPool2d(1)`), flatten, Linear, softmax.
* `ops_dropout_identity`: written with the `onnx.helper` API, because the
  exporter removes `Dropout` and `nn.Identity` from an eval-mode model: Gemm
  with transB = 0, alpha and beta, Dropout, Identity, Relu, MatMul + Add,
  Div by a constant, Sub of a constant bias, Softmax.

For every model the script writes beside it:

* `NAME.input.npy`: sample inputs (batch first; MNIST test images scaled to
  [0, 1] for the MNIST models, seeded normal samples otherwise);
* `NAME.logits.npy`: onnxruntime's output of the last node before Softmax
  or LogSoftmax (the scores `chimera import` reveals);
* `NAME.pwl.npy` (models with Sigmoid or Tanh): the same with Sigmoid
  replaced by `HardSigmoid(alpha = 0.25, beta = 0.5)` and Tanh by
  `Clip(-1, 1)`, exactly the language's default piecewise-linear
  approximations, so the float oracle can be held to 1e-4;
* `NAME.torch.npy` (PyTorch models): PyTorch's own output; the script
  checks that onnxruntime agrees with it.

Re-run (from the repository root; the Rust tests read only the committed files):

    python3 -m venv /work/target/onnx-venv
    /work/target/onnx-venv/bin/pip install torch onnx onnxruntime onnxscript numpy
    /work/target/onnx-venv/bin/python examples/onnx/export_models.py

MNIST is read from `../shared/data/mnist/` (IDX, gzip) relative to the
repository root, or from `--data DIR`.
"""

import argparse
import gzip
import os
import struct

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_DATA = os.path.join(ROOT, "..", "shared", "data", "mnist")


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist(data_dir):
    def images(name):
        x = read_idx(os.path.join(data_dir, name)).astype(np.float32) / 255.0
        return x.reshape(-1, 1, 28, 28)

    def labels(name):
        return read_idx(os.path.join(data_dir, name)).astype(np.int64)

    return (
        images("train-images.idx3-ubyte.gz"),
        labels("train-labels.idx1-ubyte.gz"),
        images("t10k-images.idx3-ubyte.gz"),
        labels("t10k-labels.idx1-ubyte.gz"),
    )


class MnistMlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 10)

    def forward(self, x):
        x = x.view(x.size(0), -1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class MnistCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 5, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 5)
        self.bn2 = nn.BatchNorm2d(16)
        self.fc1 = nn.Linear(256, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


class OpsVec(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 12)
        self.bn = nn.BatchNorm1d(12)
        self.W = nn.Parameter(torch.randn(12, 8) * 0.5)
        self.b = nn.Parameter(torch.randn(8) * 0.1)
        self.fc2 = nn.Linear(8, 5)

    def forward(self, x):
        h = torch.sigmoid(self.bn(self.fc1(x)))
        h = h @ self.W + self.b
        h = torch.tanh(h * 0.5)
        return torch.log_softmax(self.fc2(h), dim=-1)


class OpsImg(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(2, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1)
        self.skip = nn.Conv2d(2, 4, 1)
        self.pool = nn.AvgPool2d(2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        h = F.relu(self.c1(x))
        h = F.relu(self.c2(h) + self.skip(x))
        h = self.gap(self.pool(h))
        return torch.softmax(self.fc(torch.flatten(h, 1)), dim=1)


def train(model, train_x, train_y, epochs=1, lr=1e-3, batch=128):
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x = torch.from_numpy(train_x)
    y = torch.from_numpy(train_y)
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), batch):
            idx = perm[i : i + batch]
            opt.zero_grad()
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
    model.eval()


def accuracy(model, test_x, test_y):
    with torch.no_grad():
        pred = model(torch.from_numpy(test_x)).argmax(1).numpy()
    return float((pred == test_y).mean())


def export(model, sample, name, legacy):
    path = os.path.join(HERE, f"{name}.onnx")
    if legacy:
        torch.onnx.export(
            model,
            (sample,),
            path,
            dynamo=False,
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "batch_size"}, "y": {0: "batch_size"}},
        )
    else:
        torch.onnx.export(model, (sample,), path)
    onnx.checker.check_model(load(path))
    return path


def scores_model(model):
    """The model with the input of a final Softmax/LogSoftmax as its output."""
    graph = model.graph
    last = graph.node[-1]
    if last.op_type in ("Softmax", "LogSoftmax") and last.output[0] == graph.output[0].name:
        del graph.output[:]
        graph.output.append(helper.make_tensor_value_info(last.input[0], TensorProto.FLOAT, None))
        graph.node.remove(last)
    return model


def pwl_model(model):
    """Sigmoid → HardSigmoid(0.25, 0.5), Tanh → Clip(-1, 1): the `.nn` pwl approximations."""
    for i, node in enumerate(list(model.graph.node)):
        if node.op_type == "Sigmoid":
            new = helper.make_node("HardSigmoid", node.input, node.output, name=node.name, alpha=0.25, beta=0.5)
        elif node.op_type == "Tanh":
            lo = numpy_helper.from_array(np.array(-1, np.float32), node.name + "_lo")
            hi = numpy_helper.from_array(np.array(1, np.float32), node.name + "_hi")
            model.graph.initializer.extend([lo, hi])
            new = helper.make_node("Clip", [node.input[0], lo.name, hi.name], node.output, name=node.name)
        else:
            continue
        model.graph.node.remove(node)
        model.graph.node.insert(i, new)
    return model


def run(model, x):
    """onnxruntime on `x`, in chunks of the model's batch size when the export fixed it."""
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    info = session.get_inputs()[0]
    step = info.shape[0] if isinstance(info.shape[0], int) else len(x)
    return np.concatenate([session.run(None, {info.name: x[i : i + step]})[0] for i in range(0, len(x), step)])


def load(path):
    """The model with any external data read in."""
    return onnx.load(path, load_external_data=True)


def references(name, x, torch_out=None):
    path = os.path.join(HERE, f"{name}.onnx")
    full = run(load(path), x)
    if torch_out is not None:
        err = np.abs(full - torch_out).max()
        assert err < 1e-4, f"{name}: onnxruntime differs from PyTorch by {err}"
        np.save(os.path.join(HERE, f"{name}.torch.npy"), torch_out.astype(np.float32))
    np.save(os.path.join(HERE, f"{name}.input.npy"), x.astype(np.float32))
    np.save(os.path.join(HERE, f"{name}.logits.npy"), run(scores_model(load(path)), x).astype(np.float32))
    ops = {n.op_type for n in load(path).graph.node}
    if ops & {"Sigmoid", "Tanh"}:
        pwl = run(scores_model(pwl_model(load(path))), x)
        np.save(os.path.join(HERE, f"{name}.pwl.npy"), pwl.astype(np.float32))
    print(f"{name}: {sorted(ops)}")


def torch_model(model, name, x):
    sample = torch.from_numpy(x[:1])
    with torch.no_grad():
        out = model(torch.from_numpy(x)).numpy()
    for legacy in (False, True):
        full = f"{name}_legacy" if legacy else name
        export(model, sample, full, legacy)
        references(full, x, out)


def dropout_identity_model():
    """Dropout and Identity survive only in hand-written graphs (see the module doc)."""
    rng = np.random.default_rng(7)
    init = [
        numpy_helper.from_array(rng.normal(0, 0.5, (6, 8)).astype(np.float32), "fc1.weight"),
        numpy_helper.from_array(rng.normal(0, 0.1, (8,)).astype(np.float32), "fc1.bias"),
        numpy_helper.from_array(np.array(0.25, np.float32), "ratio"),
        numpy_helper.from_array(rng.normal(0, 0.5, (8, 4)).astype(np.float32), "proj.weight"),
        numpy_helper.from_array(rng.normal(0, 0.1, (4,)).astype(np.float32), "proj.offset"),
        numpy_helper.from_array(np.array(4.0, np.float32), "four"),
    ]
    nodes = [
        helper.make_node("Gemm", ["x", "fc1.weight", "fc1.bias"], ["h1"], name="/fc1/Gemm", alpha=0.5, beta=2.0, transB=0),
        helper.make_node("Dropout", ["h1", "ratio"], ["d1", "mask"], name="/drop/Dropout"),
        helper.make_node("Identity", ["d1"], ["i1"], name="/id/Identity"),
        helper.make_node("Relu", ["i1"], ["r1"], name="/act/Relu"),
        helper.make_node("MatMul", ["r1", "proj.weight"], ["m1"], name="/proj/MatMul"),
        helper.make_node("Sub", ["m1", "proj.offset"], ["s1"], name="/proj/Sub"),
        helper.make_node("Div", ["s1", "four"], ["q1"], name="/scale/Div"),
        helper.make_node("Softmax", ["q1"], ["y"], name="/Softmax", axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "ops_dropout_identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch_size", 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch_size", 4])],
        init,
    )
    # IR version 8 goes with opset 17 (and onnxruntime reads it).
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="export_models.py", ir_version=8
    )
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(HERE, "ops_dropout_identity.onnx"))
    references("ops_dropout_identity", rng.normal(0, 1, (8, 6)).astype(np.float32))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA, help="MNIST directory (IDX .gz files)")
    args = parser.parse_args()
    torch.manual_seed(2018)
    torch.set_num_threads(2)
    train_x, train_y, test_x, test_y = load_mnist(args.data)
    digits = test_x[:16]
    np.save(os.path.join(HERE, "mnist_test16.labels.npy"), test_y[:16].astype(np.float32))
    for name, cls in (("mnist_mlp", MnistMlp), ("mnist_cnn", MnistCnn)):
        model = cls()
        train(model, train_x, train_y)
        print(f"{name}: float test accuracy {accuracy(model, test_x, test_y):.4f}")
        torch_model(model, name, digits)
    rng = np.random.default_rng(2018)
    for name, cls, shape in (("ops_vec", OpsVec, (8, 16)), ("ops_img", OpsImg, (8, 2, 8, 8))):
        model = cls()
        if name == "ops_vec":
            # Non-trivial running statistics, so that folding batchnorm matters.
            with torch.no_grad():
                model.bn.running_mean.uniform_(-0.5, 0.5)
                model.bn.running_var.uniform_(0.5, 2.0)
                model.bn.weight.uniform_(0.5, 1.5)
                model.bn.bias.uniform_(-0.2, 0.2)
        model.eval()
        torch_model(model, name, rng.normal(0, 1, shape).astype(np.float32))
    dropout_identity_model()


if __name__ == "__main__":
    main()
