#!/usr/bin/env bash
# Run HERE (a Debian machine with apt) before a GPU check: downloads the Debian
# packages the GPU machine lacks into .debs/ (git-ignored), so that
# scripts/gpu_check.sh can unpack them there (the GPU machine has no network).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .debs
cd .debs
apt-get download libopenblas-dev libopenblas0-pthread libopenblas-pthread-dev libopenblas0 \
  libgtest-dev libbenchmark-dev libbenchmark1debian libcli11-dev nlohmann-json3-dev \
  zlib1g-dev libgfortran5 2>&1 | tail -n 3
ls -1 | wc -l
