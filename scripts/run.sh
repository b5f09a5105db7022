#!/usr/bin/env bash
# The README's main command: installs what is missing, fetches and verifies
# MNIST, builds, and trains the MNIST CNN (on the GPU when there is one, else on
# the CPU). Arguments go to mnist_cnn (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
python3 scripts/fetch_mnist.py --dir data/mnist
bash scripts/build.sh
./build/examples/mnist_cnn "$@"
