#!/usr/bin/env python3
"""Private accuracy of the trained MNIST networks on the first N test images.

For each network this script runs Chimera's private inference (`chimera run`:
dealer, server and client as separate processes over loopback) on the first N
MNIST test images in batches, runs the plaintext fixed-point oracle
(`chimera eval`) on the same images, and prints both accuracies, how many
labels the two agree on, and the measured online cost.

It needs only Python's standard library and a release build of chimera:

    cargo build --release
    python3 scripts/private_accuracy.py                  # netD, netA, netB; 1000 images
    python3 scripts/private_accuracy.py --networks netD --images 200 --json out.json

MNIST is read from ../shared/data/mnist (the gzip IDX files; --mnist DIR to
change). Exit status 1 if any private label differs from the oracle's.
"""

import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NETWORKS = {
    # stem, whether the input is a flat [784] vector (else [1, 28, 28])
    "netD": ("netD_chameleon", False),
    "netA": ("netA_secureml", True),
    "netB": ("netB_minionn", False),
}


def read_idx(path):
    """Dimensions and bytes of a gzip-compressed unsigned-byte IDX file."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    if magic >> 8 != 0x08:
        sys.exit(f"{path}: not an unsigned-byte IDX file")
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return dims, data[4 + 4 * ndim :]


def write_npy(path, rows, row_shape, pixels):
    """Write float32 pixels/255 as a little-endian .npy of shape [rows, *row_shape]."""
    shape = (rows,) + tuple(row_shape)
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }" % (
        "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    )
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00")
        f.write(struct.pack("<H", len(header)))
        f.write(header.encode("latin1"))
        f.write(struct.pack("<%df" % len(pixels), *(p / 255.0 for p in pixels)))


def labels_of(outputs):
    for out in outputs:
        if out.get("reveal") == "label" or out.get("name") == "label":
            return [int(v) for v in out["rows"]]
    sys.exit("the network reveals no label")


def run_json(cmd):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr.decode(errors='replace')}")
    return json.loads(proc.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=list(NETWORKS))
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=100, help="rows per private run")
    ap.add_argument("--mnist", default=os.path.join(ROOT, "..", "shared", "data", "mnist"))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap.add_argument("--chimera", default=os.path.join(target, "release", "chimera"))
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()

    if not os.path.exists(args.chimera):
        sys.exit(f"{args.chimera} not found: run `cargo build --release` first (or pass --chimera)")
    dims, pixels = read_idx(os.path.join(args.mnist, "t10k-images.idx3-ubyte.gz"))
    _, truth = read_idx(os.path.join(args.mnist, "t10k-labels.idx1-ubyte.gz"))
    if args.images > dims[0]:
        sys.exit(f"only {dims[0]} test images")

    results = []
    with tempfile.TemporaryDirectory(prefix="chimera-accuracy-") as tmp:
        for net in args.networks:
            stem, flat = NETWORKS[net]
            nn = os.path.join(ROOT, "examples", stem + ".nn")
            weights = os.path.join(ROOT, "examples", stem + ".safetensors")
            row_shape = (784,) if flat else (1, 28, 28)
            private, oracle = [], []
            online_bytes = rounds = 0
            online_seconds = 0.0
            started = time.time()
            for start in range(0, args.images, args.batch):
                rows = min(args.batch, args.images - start)
                npy = os.path.join(tmp, f"{net}-{start}.npy")
                write_npy(npy, rows, row_shape, pixels[start * 784 : (start + rows) * 784])
                run = run_json([args.chimera, "run", nn, "--weights", weights, "--input", npy, "--json"])
                if run["measured"]["online_bytes"] != run["predicted"]["online_bytes"] or (
                    run["measured"]["rounds"] != run["predicted"]["rounds"]
                ):
                    sys.exit(f"{net}: measured cost differs from the prediction: {run['measured']} vs {run['predicted']}")
                private += labels_of(run["output"])
                online_bytes += run["measured"]["online_bytes"]
                rounds = run["measured"]["rounds"]
                online_seconds += run["measured"]["online_seconds"]
                ev = run_json([args.chimera, "eval", nn, "--weights", weights, "--input", npy, "--json"])
                oracle += [int(row["label"]) for row in ev["rows"]]
                print(f"{net}: {start + rows}/{args.images} images", file=sys.stderr)
            n = args.images
            r = {
                "network": net,
                "images": n,
                "private_accuracy": sum(p == t for p, t in zip(private, truth)) / n,
                "oracle_accuracy": sum(o == t for o, t in zip(oracle, truth)) / n,
                "agree": sum(p == o for p, o in zip(private, oracle)),
                "batch": args.batch,
                "online_bytes_per_image": online_bytes / n,
                "rounds_per_batch": rounds,
                "online_seconds_total": online_seconds,
                "wall_seconds": time.time() - started,
            }
            results.append(r)
            print(
                f"{net}: private {100 * r['private_accuracy']:.1f} %, oracle {100 * r['oracle_accuracy']:.1f} %, "
                f"labels agree {r['agree']}/{n}, online {online_bytes / n / 1e3:.1f} kB/image, "
                f"{rounds} rounds per batch of {args.batch}, {online_seconds:.2f} s online in all"
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    if any(r["agree"] != r["images"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
