#!/usr/bin/env bash
# The GPU regression check, the one prepared command for a lent GPU machine:
#   device run (carry: [".debs", ".deps"], timeout_s: 540):  bash scripts/gpu_check.sh
# Prepare here first: bash scripts/fetch_gpu_debs.sh (the GPU machine has no
# network and lacks OpenBLAS, GoogleTest, Google Benchmark, json; see docs/gpu.md)
# and python3 scripts/fetch_cudnn_frontend.py (the cuDNN frontend headers, .deps/).
#
# It never stops at the first failure: every stage runs, each under its own
# time limit, and the summary table printed last lists every failing test.
# Stages: build (Release, sm_90, all cores) -> whole ctest suite ->
# compute-sanitizer memcheck over the CUDA parity and runtime tests ->
# racecheck over the tiled conv and softmax kernels -> mnist_cnn --backend cuda
# and --backend cudnn (one epoch each; MNIST_EPOCHS=3 for the acceptance run)
# -> benchmarks (our kernels and cuDNN's in one run, the ours/cuDNN table, then
# the allocator under both strategies). Logs go to $OUT (or out/).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out}
mkdir -p "$out"
summary="$out/summary.txt"
: >"$summary"
log() { echo "$@" | tee -a "$summary"; }
stage() {  # stage NAME LIMIT_S LOGFILE CMD...: runs CMD under a time limit, logs rc and seconds
  local name=$1 limit=$2 logfile=$3; shift 3
  local start=$SECONDS
  timeout --signal=KILL "$limit" "$@" >"$logfile" 2>&1
  local rc=$?
  local note=""; [[ $rc -eq 137 ]] && note=" (timed out after ${limit} s)"
  log "$(printf '%-28s rc=%-3s %4d s%s' "$name" "$rc" $((SECONDS - start)) "$note")"
  return $rc
}

extra=()
if [[ -d .debs ]]; then  # unpacked into a private root, never into / (it could break it)
  root=/tmp/debroot
  mkdir -p $root
  for f in .debs/*.deb; do dpkg -x "$f" $root; done
  export CMAKE_PREFIX_PATH=$root/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
  export LD_LIBRARY_PATH=$root/usr/lib/x86_64-linux-gnu:$root/usr/lib/x86_64-linux-gnu/openblas-pthread${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  extra=(-DCMAKE_INCLUDE_PATH=$root/usr/include -DCMAKE_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu;$root/usr/lib/x86_64-linux-gnu/openblas-pthread"
         -DCMAKE_CXX_FLAGS="-isystem $root/usr/include -isystem $root/usr/include/x86_64-linux-gnu")
fi
if [[ -d .debs/mnist && ! -d data/mnist ]]; then  # MNIST, carried gzipped
  mkdir -p data && cp -r .debs/mnist data/mnist
fi
# cuDNN: the toolkit's own if it has one, else the one PyTorch's wheels bring.
cudnn_root=$(python3 -c 'import nvidia.cudnn, os; print(os.path.dirname(nvidia.cudnn.__file__))' 2>/dev/null || true)
if [[ -n "$cudnn_root" ]]; then
  extra+=(-DCUDNN_ROOT="$cudnn_root")
  export LD_LIBRARY_PATH=$cudnn_root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  # The cuDNN backend dlopens cuDNN: the one it was configured with, nothing else.
  [[ -e $cudnn_root/lib/libcudnn.so.9 ]] && export CONVNET_CUDNN_LIBRARY=$cudnn_root/lib/libcudnn.so.9
fi
[[ -f .deps/cudnn-frontend-1.32.0/include/cudnn_frontend.h ]] ||
  log "cudnn_frontend headers missing (.deps/): carry .deps; CONVNET_CUDA=ON will refuse to configure"
generator=(); command -v ninja >/dev/null && generator=(-G Ninja)

log "== gpu_check $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
log "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -n 1)"
log "nvcc: $(nvcc --version | tail -n 1); cuDNN root: ${cudnn_root:-toolkit}"

build() {
  cmake -S . -B build-gpu "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DCONVNET_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 "${extra[@]}" && cmake --build build-gpu -j "$(nproc)"
}
if ! stage build 300 "$out/build.log" build; then
  tail -n 60 "$out/build.log"
  exit 1
fi
tests=./build-gpu/tests/convnet_tests

stage "ctest (whole suite)" 200 "$out/ctest.log" \
  ctest --test-dir build-gpu -j 8 --timeout 180 --output-on-failure
log "   $(grep -E 'tests passed|tests failed' "$out/ctest.log")"
log "   skipped: $(grep -c '\*\*\*Skipped\|Not Run\| Skipped ' "$out/ctest.log")"
grep -E '^\s+[0-9]+ - .*\((Failed|Timeout|SEGFAULT|Subprocess aborted|Exception)\)' "$out/ctest.log" \
  | head -n 60 | tee -a "$summary"

sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
if [[ -x $sanitizer ]]; then
  stage "memcheck (cuda parity)" 150 "$out/memcheck.log" "$sanitizer" --tool memcheck \
    --error-exitcode 9 "$tests" --gtest_filter='AllOps/Parity.*_cuda:CudaRuntime.*-*n128*'
  grep -E 'ERROR SUMMARY|FAILED  \]' "$out/memcheck.log" | head -n 20 | tee -a "$summary"
  stage "racecheck (conv, softmax)" 150 "$out/racecheck.log" "$sanitizer" --tool racecheck \
    --error-exitcode 9 "$tests" \
    --gtest_filter='AllOps/Parity.*conv2d*_cuda:AllOps/Parity.*softmax*_cuda-*n128*:*n33*'
  grep -E 'RACECHECK SUMMARY|ERROR SUMMARY|FAILED  \]' "$out/racecheck.log" | head -n 20 | tee -a "$summary"
else
  log "compute-sanitizer: not found"
fi

for backend in cuda cudnn; do
  stage "mnist_cnn --backend $backend" 150 "$out/mnist_$backend.log" ./build-gpu/examples/mnist_cnn \
    --backend $backend --epochs "${MNIST_EPOCHS:-1}" --data data/mnist
  log "   $(grep -iE 'test accuracy|accuracy' "$out/mnist_$backend.log" | tail -n 1)"
  log "   $(grep -iE 'img/s|wall' "$out/mnist_$backend.log" | tail -n 2 | tr '\n' ' ')"
done

if [[ -x ./build-gpu/bench/convnet_cuda_bench ]]; then
  stage "bench (cuda kernels)" 150 "$out/bench.txt" ./build-gpu/bench/convnet_cuda_bench \
    --benchmark_filter='BM_(cuda|cudnn)_(d2d|conv|linear|bias|max_pool|relu|softmax|dropout|sgd|adam)' --benchmark_min_time=0.05 --benchmark_repetitions=3 \
    --benchmark_report_aggregates_only=true --benchmark_out="$out/bench.json" \
    --benchmark_out_format=json
  python3 bench/compare_cudnn.py "$out/bench.json" >"$out/ours_vs_cudnn.md" 2>&1
  log "$(cat "$out/ours_vs_cudnn.md")"
  for strategy in async caching; do
    CONVNET_CUDA_ALLOCATOR=$strategy stage "bench (allocator $strategy)" 60 \
      "$out/alloc_$strategy.txt" ./build-gpu/bench/convnet_cuda_bench --benchmark_filter=BM_cuda_alloc \
      --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
  done
fi

echo "---- benchmarks (median)"
grep -hE '_median' "$out/bench.txt" "$out"/alloc_*.txt 2>/dev/null | awk '{printf "%-72s %12s %s  %s %s %s\n", $1, $2, $3, $6, $7, $8}'
echo "---- summary"
cat "$summary"
