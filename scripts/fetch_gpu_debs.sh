#!/usr/bin/env bash
# Run HERE (a Debian machine with apt) before a GPU check; the GPU machine has no
# network. Fills the two folders the device command carries (docs/gpu.md):
#   .debs/  the Debian packages the GPU machine lacks (OpenBLAS, GoogleTest,
#           Benchmark, CLI11, json, zlib), MNIST gzipped (11 MB instead of 55),
#           and COMMIT, the commit the check reports;
#   .deps/  the cuDNN frontend headers and a copy of this toolkit's cuDNN 9
#           headers (cudnn-include/), used where the GPU machine's cuDNN (PyTorch's
#           wheel) brings none.
# Both are git-ignored. scripts/gpu_check.sh --dry-run checks what they hold.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .debs
packages=(libopenblas-dev libopenblas0-pthread libopenblas-pthread-dev libopenblas0
  libgtest-dev libbenchmark-dev libbenchmark1debian libcli11-dev nlohmann-json3-dev
  zlib1g-dev zlib1g libgfortran5)
download() { (cd .debs && apt-get download "${packages[@]}" 2>&1 | sed '/Download is performed unsandboxed/d' | tail -n 3); }
# A machine whose package lists were never fetched knows no package: fetch them once.
sudo_cmd=(); [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null && sudo_cmd=(sudo)
download || { "${sudo_cmd[@]}" apt-get update -qq && download; }
echo "fetch_gpu_debs: $(ls -1 .debs/*.deb | wc -l) packages"
python3 scripts/fetch_mnist.py --dir data/mnist
mkdir -p .debs/mnist
for f in data/mnist/*-ubyte; do
  gz=.debs/mnist/$(basename "$f").gz
  [[ -s $gz ]] || gzip -6 -c "$f" >"$gz"
done
python3 scripts/fetch_cudnn_frontend.py
cudnn_include=${CUDNN_INCLUDE:-/usr/local/cuda/include}
if [[ -f $cudnn_include/cudnn_version.h ]]; then
  mkdir -p .deps/cudnn-include
  cp "$cudnn_include"/cudnn*.h .deps/cudnn-include/
  rm -f .deps/cudnn-include/*_v9.h  # duplicates of the unsuffixed headers
else
  echo "fetch_gpu_debs: no cuDNN headers in $cudnn_include: the GPU machine must bring its own" >&2
fi
git rev-parse --short HEAD >.debs/COMMIT 2>/dev/null || echo unknown >.debs/COMMIT
git diff --quiet HEAD 2>/dev/null || sed -i 's/$/+uncommitted changes/' .debs/COMMIT
du -sh .debs .deps
