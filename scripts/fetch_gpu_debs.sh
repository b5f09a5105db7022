#!/usr/bin/env bash
# Run HERE (a Debian machine with apt) before a GPU check: downloads the Debian
# packages the GPU machine lacks into .debs/ (git-ignored), and MNIST gzipped
# into .debs/mnist/ (11 MB instead of 55), so that scripts/gpu_check.sh can use
# them there (the GPU machine has no network; carry: [".debs"]).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .debs
cd .debs
apt-get download libopenblas-dev libopenblas0-pthread libopenblas-pthread-dev libopenblas0 \
  libgtest-dev libbenchmark-dev libbenchmark1debian libcli11-dev nlohmann-json3-dev \
  zlib1g-dev libgfortran5 2>&1 | tail -n 3
ls -1 *.deb | wc -l
cd ..
python3 scripts/fetch_mnist.py --dir data/mnist
mkdir -p .debs/mnist
for f in data/mnist/*-ubyte; do gzip -9 -c "$f" > ".debs/mnist/$(basename "$f").gz"; done
du -sh .debs
