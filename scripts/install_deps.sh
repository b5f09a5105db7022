#!/usr/bin/env bash
# Installs what convnet builds with, from Debian's packages, when it is missing.
# The CUDA toolkit (nvcc, cuBLAS, cuDNN) is optional and not installed here:
# without it convnet builds CPU-only. The cuDNN frontend headers are fetched
# into .deps/ (without them the cuDNN backend is left out).
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config
  libopenblas-dev        # BLAS for the CPU backend's GEMMs
  libdnnl-dev            # oneDNN 2.6: the onednn CPU backend (src/onednn)
  ocl-icd-opencl-dev     # only Recommended by libdnnl-dev, but its dnnl-config.cmake needs OpenCL's headers
  libgtest-dev           # tests
  libboost-context-dev   # fibers of the emulated device (emu/)
  clang libclang-rt-dev  # the emulated device's build and its sanitizers; the fuzz targets
  ccache                 # keeps compiled objects between CI runs on one machine
  libbenchmark-dev       # bench/
  libcli11-dev           # command lines of the examples
  nlohmann-json3-dev     # JSON (checkpoint headers)
  zlib1g-dev             # .gz data files
  libprotobuf-dev protobuf-compiler  # ONNX files and TensorBoard event files are protobuf messages
  libonnx-dev            # ONNX 1.12: its generated messages and checker (io::export_onnx)
  python3-matplotlib     # scripts/plot_metrics.py
  python3-sklearn        # the digits (and Iris) data sets the examples use
  dataset-fashion-mnist  # Fashion-MNIST IDX files (/usr/share/datasets/fashion-mnist)
)

# NVIDIA's cuDNN frontend headers (the cuDNN backend's graph API), pinned, from PyPI.
python3 "$(dirname "$0")/fetch_cudnn_frontend.py"

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install_deps: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install_deps: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
