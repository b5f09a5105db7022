#!/usr/bin/env bash
# Configures and builds convnet in Release.
# Environment: BUILD_DIR (default build), CONVNET_CUDA (AUTO|ON|OFF, default AUTO),
# CUDA_ARCHS (default 90), JOBS (default: all cores), CMAKE_ARGS (extra).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${BUILD_DIR:-build}
launcher=()
if command -v ccache >/dev/null; then
  # Paths under the checkout hash relative to it, so a fresh clone elsewhere hits
  # the cache of an earlier one on the same machine.
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
  # -g builds hash the build folder unless told not to: a clone elsewhere would miss.
  export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCONVNET_CUDA="${CONVNET_CUDA:-AUTO}" -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90}" \
  "${launcher[@]}" ${CMAKE_ARGS:-}
cmake --build "$build_dir" -j "${JOBS:-$(nproc)}"
