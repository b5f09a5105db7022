#!/usr/bin/env python3
"""Puts NVIDIA's header-only cuDNN frontend (the graph API's C++ layer) into
.deps/cudnn-frontend-<version>/include, where CMake looks for it.

The headers ship inside PyPI's `nvidia-cudnn-frontend` wheel. pip may refuse
that wheel for this Python (it is tagged cp311), so we fetch the file from the
package index directly, check its sha256, and unzip only `include/`. The headers
are platform-neutral. Uses only the Python standard library. Without network
access it says so and exits 0: convnet then builds without the cuDNN backend.
"""
import argparse
import hashlib
import html
import io
import os
import re
import shutil
import sys
import urllib.request
import zipfile

VERSION = "1.32.0"
WHEEL = "nvidia_cudnn_frontend-1.32.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
WHEEL_SHA256 = "c6006556017a4d1c914c52a556c71b1267f2d6a0500f742e7b4edef539878df0"
PYPI_INDEX = "https://pypi.org/simple/nvidia-cudnn-frontend/"


def wheel_url():
    with urllib.request.urlopen(PYPI_INDEX, timeout=60) as response:
        index = response.read().decode()
    match = re.search(r'href="([^"]*/' + re.escape(WHEEL) + r')#sha256=', index)
    if not match:
        raise OSError(f"{WHEEL} is not listed at {PYPI_INDEX}")
    return html.unescape(match.group(1))


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", default=os.path.join(root, ".deps", f"cudnn-frontend-{VERSION}"))
    parser.add_argument("--wheel", help="a downloaded copy of the wheel (no network needed)")
    args = parser.parse_args()
    marker = os.path.join(args.dir, "include", "cudnn_frontend_version.h")
    if os.path.exists(marker):
        return 0
    try:
        if args.wheel:
            with open(args.wheel, "rb") as f:
                data = f.read()
        else:
            with urllib.request.urlopen(wheel_url(), timeout=300) as response:
                data = response.read()
    except OSError as e:
        print(f"fetch_cudnn_frontend: cannot download {WHEEL} ({e}); "
              "convnet builds without the cuDNN backend", file=sys.stderr)
        return 0
    digest = hashlib.sha256(data).hexdigest()
    if digest != WHEEL_SHA256:
        print(f"fetch_cudnn_frontend: {WHEEL} has sha256 {digest}, expected {WHEEL_SHA256}",
              file=sys.stderr)
        return 1
    staging = args.dir + ".partial"
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(io.BytesIO(data)) as wheel:
        members = [m for m in wheel.namelist() if m.startswith("include/")]
        wheel.extractall(staging, members)
    with open(os.path.join(staging, "VERSION"), "w") as f:
        f.write(f"nvidia-cudnn-frontend {VERSION} ({WHEEL}, sha256 {WHEEL_SHA256})\n")
    shutil.rmtree(args.dir, ignore_errors=True)
    os.replace(staging, args.dir)  # complete or absent, never half-written
    print(f"fetch_cudnn_frontend: {len(members)} files in {args.dir}/include")
    return 0


if __name__ == "__main__":
    sys.exit(main())
