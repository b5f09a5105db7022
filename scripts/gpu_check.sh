#!/usr/bin/env bash
# The GPU regression check, run on the lent GPU machine through the device tool:
#   device run (carry: [".debs"]):  bash scripts/gpu_check.sh
# Builds Release for sm_90 with all cores, runs every test (GPU ones included),
# runs the benchmarks, and prints a short table last. Logs go to $OUT (or out/).
# Before it, run scripts/fetch_gpu_debs.sh here: the GPU machine has no network
# and lacks OpenBLAS, GoogleTest, Google Benchmark and CLI11. See docs/gpu.md.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out}
mkdir -p "$out"
log() { echo "$@" | tee -a "$out/summary.txt"; }

# Debian packages, unpacked into a private root rather than / (they could break it).
if [[ -d .debs ]]; then
  root=/tmp/debroot
  mkdir -p $root
  for f in .debs/*.deb; do dpkg -x "$f" $root; done
  export CMAKE_PREFIX_PATH=$root/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
  export LD_LIBRARY_PATH=$root/usr/lib/x86_64-linux-gnu:$root/usr/lib/x86_64-linux-gnu/openblas-pthread${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  extra=(-DCMAKE_INCLUDE_PATH=$root/usr/include -DCMAKE_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu;$root/usr/lib/x86_64-linux-gnu/openblas-pthread"
         -DCMAKE_CXX_FLAGS="-isystem $root/usr/include -isystem $root/usr/include/x86_64-linux-gnu")
fi

# MNIST for the data and training tests, carried gzipped.
if [[ -d .debs/mnist && ! -d data/mnist ]]; then
  mkdir -p data && cp -r .debs/mnist data/mnist
fi

# cuDNN: the toolkit's own if it has one, else the one PyTorch's wheels bring.
cudnn_root=$(python3 -c 'import nvidia.cudnn, os; print(os.path.dirname(nvidia.cudnn.__file__))' 2>/dev/null || true)
if [[ -n "$cudnn_root" ]]; then
  extra+=(-DCUDNN_ROOT="$cudnn_root")
  export LD_LIBRARY_PATH=$cudnn_root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi

log "== $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$out/summary.txt"
log "nvcc: $(nvcc --version | tail -n 1); cuDNN root: ${cudnn_root:-toolkit}"

start=$SECONDS
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCONVNET_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 "${extra[@]}" >"$out/configure.log" 2>&1 \
  && cmake --build build-gpu -j "$(nproc)" >"$out/build.log" 2>&1
build_rc=$?
log "build: rc=$build_rc in $((SECONDS - start)) s"
if [[ $build_rc -ne 0 ]]; then tail -n 40 "$out/configure.log" "$out/build.log"; exit 1; fi

start=$SECONDS
ctest --test-dir build-gpu -j 8 --timeout 600 --output-on-failure >"$out/ctest.log" 2>&1
test_rc=$?
log "tests: rc=$test_rc in $((SECONDS - start)) s; $(grep -E 'tests passed|tests failed' "$out/ctest.log")"
log "skipped: $(grep -c 'Skipped' "$out/ctest.log")"
[[ $test_rc -ne 0 ]] && grep -E '\*\*\*Failed|FAILED' "$out/ctest.log" | head -n 20

./build-gpu/bench/convnet_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  --benchmark_out="$out/bench.json" --benchmark_out_format=json >"$out/bench.txt" 2>&1
log "bench: rc=$?"
echo "---- summary"
cat "$out/summary.txt"
grep -E '_median' "$out/bench.txt" | awk '{printf "%-60s %10s %s\n", $1, $2, $3}'
