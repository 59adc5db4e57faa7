#!/usr/bin/env python3
"""Train Chimera's example MNIST networks (netA, netB, netD) with plain numpy.

No deep-learning framework: the networks are small enough that im2col
convolutions and hand-written backward passes train them in minutes on one
core, and numpy keeps the training environment a few megabytes.

The architectures and layer names are exactly those of the `.nn` files in
`examples/`; tensors are written in PyTorch layouts (conv weight
`[out_c, in_c, kh, kw]`, dense weight `[out, in]`, flatten in `[c, h, w]`
row-major order) as float32 safetensors named `<layer>.weight`, `<layer>.bias`.

Usage (from the repository root):

    pip install -r examples/train/requirements.txt
    python examples/train/train.py --model netD       # or netA, netB, all
    python examples/train/train.py --inputs-only      # only examples/inputs/

Pixels are scaled to [0, 1]; training is seeded and prints the float test
accuracy on the full 10,000-image test set.
"""

import argparse
import gzip
import os
import struct
import sys
import time

import numpy as np
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.dirname(HERE)
DEFAULT_DATA = os.path.join(EXAMPLES, "..", "..", "shared", "data", "mnist")


# ----------------------------------------------------------------------------
# data


def read_idx(path):
    """Read a gzip-compressed IDX file (big-endian magic, dims, then bytes)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    ndim = magic & 0xFF
    if magic >> 8 != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {magic:#x})")
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"{path}: expected {np.prod(dims)} bytes, found {body.size}")
    return body.reshape(dims)


def load_mnist(data_dir):
    """Return (train_x, train_y, test_x, test_y), images [N, 1, 28, 28] in [0, 1]."""

    def images(name):
        x = read_idx(os.path.join(data_dir, name)).astype(np.float32) / 255.0
        return x[:, None, :, :]

    def labels(name):
        return read_idx(os.path.join(data_dir, name)).astype(np.int64)

    return (
        images("train-images.idx3-ubyte.gz"),
        labels("train-labels.idx1-ubyte.gz"),
        images("t10k-images.idx3-ubyte.gz"),
        labels("t10k-labels.idx1-ubyte.gz"),
    )


# ----------------------------------------------------------------------------
# layers: each has forward(x) -> y (caching what backward needs) and
# backward(dy) -> dx, filling self.grads aligned with self.params.


class Dense:
    def __init__(self, name, n_in, n_out, rng):
        self.name = name
        self.w = (rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)).astype(np.float32)
        self.b = np.zeros(n_out, dtype=np.float32)
        self.params = [self.w, self.b]

    def forward(self, x):
        self.x = x
        return x @ self.w.T + self.b

    def backward(self, dy):
        self.grads = [dy.T @ self.x, dy.sum(axis=0)]
        return dy @ self.w

    def tensors(self):
        return {f"{self.name}.weight": self.w, f"{self.name}.bias": self.b}


class Conv2d:
    """Zero-padded 2-d convolution via im2col (PyTorch weight layout)."""

    def __init__(self, name, c_in, c_out, k, stride, padding, rng, need_dx=True):
        self.name = name
        self.k, self.stride, self.pad, self.need_dx = k, stride, padding, need_dx
        fan_in = c_in * k * k
        self.w = (rng.standard_normal((c_out, c_in, k, k)) * np.sqrt(2.0 / fan_in)).astype(
            np.float32
        )
        self.b = np.zeros(c_out, dtype=np.float32)
        self.params = [self.w, self.b]

    def forward(self, x):
        n, c, h, w = x.shape
        k, s, p = self.k, self.stride, self.pad
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
        ho = (h + 2 * p - k) // s + 1
        wo = (w + 2 * p - k) // s + 1
        win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))
        win = win[:, :, : s * (ho - 1) + 1 : s, : s * (wo - 1) + 1 : s]  # [n,c,ho,wo,k,k]
        cols = np.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5)).reshape(n * ho * wo, -1)
        self.cache = (x.shape, xp.shape, ho, wo, cols)
        out = cols @ self.w.reshape(self.w.shape[0], -1).T + self.b
        return out.reshape(n, ho, wo, -1).transpose(0, 3, 1, 2)

    def backward(self, dy):
        (n, c, h, w), xp_shape, ho, wo, cols = self.cache
        k, s, p = self.k, self.stride, self.pad
        c_out = self.w.shape[0]
        dflat = dy.transpose(0, 2, 3, 1).reshape(-1, c_out)
        self.grads = [(dflat.T @ cols).reshape(self.w.shape), dflat.sum(axis=0)]
        if not self.need_dx:
            return None
        dcols = (dflat @ self.w.reshape(c_out, -1)).reshape(n, ho, wo, c, k, k)
        dxp = np.zeros(xp_shape, dtype=dy.dtype)
        for i in range(k):
            for j in range(k):
                dxp[:, :, i : i + s * ho : s, j : j + s * wo : s] += dcols[:, :, :, :, i, j].transpose(
                    0, 3, 1, 2
                )
        return dxp[:, :, p : p + h, p : p + w] if p else dxp

    def tensors(self):
        return {f"{self.name}.weight": self.w, f"{self.name}.bias": self.b}


class Relu:
    params = []

    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def backward(self, dy):
        self.grads = []
        return dy * self.mask


class MaxPool2:
    """2x2 max pooling with stride 2 (even height and width)."""

    params = []

    def forward(self, x):
        n, c, h, w = x.shape
        r = x.reshape(n, c, h // 2, 2, w // 2, 2)
        y = r.max(axis=(3, 5))
        self.mask = r == y[:, :, :, None, :, None]
        # keep only the first maximum of each window (ties are rare on floats)
        self.mask &= np.cumsum(np.cumsum(self.mask, axis=3), axis=5) == 1
        return y

    def backward(self, dy):
        self.grads = []
        n, c, h2, w2 = dy.shape
        return (self.mask * dy[:, :, :, None, :, None]).reshape(n, c, h2 * 2, w2 * 2)


class Flatten:
    params = []

    def forward(self, x):
        self.shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        self.grads = []
        return dy.reshape(self.shape)


def build(model, rng):
    """The layer list of one example network; the first layer reads the input."""
    if model == "netA":  # SecureML: 784-128-128-10
        return [
            Flatten(),
            Dense("fc1", 784, 128, rng),
            Relu(),
            Dense("fc2", 128, 128, rng),
            Relu(),
            Dense("fc3", 128, 10, rng),
        ]
    if model == "netB":  # MiniONN MNIST
        return [
            Conv2d("conv1", 1, 16, 5, 1, 0, rng, need_dx=False),
            Relu(),
            MaxPool2(),
            Conv2d("conv2", 16, 16, 5, 1, 0, rng),
            Relu(),
            MaxPool2(),
            Flatten(),
            Dense("fc1", 256, 100, rng),
            Relu(),
            Dense("fc2", 100, 10, rng),
        ]
    if model == "netD":  # Chameleon: conv 5@5x5 stride 2 pad 2 -> 980
        return [
            Conv2d("conv1", 1, 5, 5, 2, 2, rng, need_dx=False),
            Relu(),
            Flatten(),
            Dense("fc1", 980, 100, rng),
            Relu(),
            Dense("fc2", 100, 10, rng),
        ]
    raise ValueError(f"unknown model {model}")


# model -> (epochs, batch size, learning rate)
SCHEDULE = {"netA": (10, 64, 1e-3), "netB": (6, 64, 1e-3), "netD": (8, 64, 1e-3)}
FILES = {
    "netA": "netA_secureml.safetensors",
    "netB": "netB_minionn.safetensors",
    "netD": "netD_chameleon.safetensors",
}


def forward(layers, x):
    for layer in layers:
        x = layer.forward(x)
    return x


def accuracy(layers, x, y, batch=1000):
    correct = 0
    for i in range(0, len(x), batch):
        correct += int((forward(layers, x[i : i + batch]).argmax(axis=1) == y[i : i + batch]).sum())
    return correct / len(x)


class Adam:
    def __init__(self, params, lr, b1=0.9, b2=0.999, eps=1e-8):
        self.params, self.lr, self.b1, self.b2, self.eps = params, lr, b1, b2, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads, lr):
        self.t += 1
        c1 = 1 - self.b1**self.t
        c2 = 1 - self.b2**self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            v += (1 - self.b2) * g * g
            p -= (lr * (m / c1) / (np.sqrt(v / c2) + self.eps)).astype(p.dtype)


def train(model, data, out_dir, seed):
    train_x, train_y, test_x, test_y = data
    rng = np.random.default_rng(seed)
    layers = build(model, rng)
    params = [p for layer in layers for p in layer.params]
    epochs, batch, lr0 = SCHEDULE[model]
    opt = Adam(params, lr0)
    n = len(train_x)
    start = time.time()
    for epoch in range(epochs):
        lr = lr0 * 0.5 * (1 + np.cos(np.pi * epoch / epochs))  # cosine decay per epoch
        order = rng.permutation(n)
        loss_sum = 0.0
        for i in range(0, n, batch):
            idx = order[i : i + batch]
            x, y = train_x[idx], train_y[idx]
            logits = forward(layers, x)
            # softmax cross-entropy
            z = logits - logits.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            loss_sum += float(-np.log(p[np.arange(len(y)), y] + 1e-12).sum())
            d = p
            d[np.arange(len(y)), y] -= 1
            d /= len(y)
            for layer in reversed(layers):
                d = layer.backward(d)
            opt.step([g for layer in layers for g in layer.grads], lr)
        acc = accuracy(layers, test_x, test_y)
        print(
            f"{model} epoch {epoch + 1}/{epochs}: loss {loss_sum / n:.4f}, "
            f"test accuracy {100 * acc:.2f}% ({time.time() - start:.0f} s)",
            flush=True,
        )
    tensors = {}
    for layer in layers:
        if hasattr(layer, "tensors"):
            tensors.update({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in layer.tensors().items()})
    path = os.path.join(out_dir, FILES[model])
    save_file(tensors, path, metadata={"model": model, "seed": str(seed), "test_accuracy": f"{acc:.4f}"})
    print(f"{model}: final float test accuracy {100 * acc:.2f}% (10,000 images); wrote {path}", flush=True)
    return acc


def write_inputs(test_x, test_y, out_dir):
    """Sample inputs from the test set: single images, flat vectors, a batch of 16."""
    os.makedirs(out_dir, exist_ok=True)
    for i in range(4):
        np.save(os.path.join(out_dir, f"mnist_{i}.npy"), test_x[i].astype(np.float32))
        np.save(os.path.join(out_dir, f"mnist_{i}_flat.npy"), test_x[i].reshape(784).astype(np.float32))
    np.save(os.path.join(out_dir, "mnist_batch16.npy"), test_x[:16].astype(np.float32))
    np.save(os.path.join(out_dir, "mnist_batch16_flat.npy"), test_x[:16].reshape(16, 784).astype(np.float32))
    print("labels of test images 0..15:", " ".join(str(int(v)) for v in test_y[:16]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="all", choices=["all", "netA", "netB", "netD"])
    ap.add_argument("--data", default=DEFAULT_DATA, help="directory of the MNIST .gz files")
    ap.add_argument("--out", default=EXAMPLES, help="where the .safetensors files go")
    ap.add_argument("--seed", type=int, default=2018)
    ap.add_argument("--inputs-only", action="store_true", help="only write examples/inputs/")
    args = ap.parse_args()
    data = load_mnist(args.data)
    write_inputs(data[2], data[3], os.path.join(EXAMPLES, "inputs"))
    if args.inputs_only:
        return 0
    models = ["netD", "netA", "netB"] if args.model == "all" else [args.model]
    for model in models:
        train(model, data, args.out, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
