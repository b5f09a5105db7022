#!/usr/bin/env bash
# The README's test command: builds convnet and runs the whole test suite, first
# with the CUDA parts as a shared library (when nvcc, cuBLAS and cuDNN are
# present; GPU tests skip with a reason when there is no GPU), then as a static
# CPU-only build (CONVNET_CUDA=OFF). The outside-project test thus links a shared
# CUDA-enabled install (built with no CUDA toolkit) and a static one.
# Between the first two, scripts/gpu_check.sh --dry-run proves the GPU check's
# build against only what a GPU machine has plus what it carries.
# Third, the CPU suite again under AddressSanitizer + UndefinedBehaviorSanitizer
# (CONVNET_SANITIZE=ON): any report stops the test that made it, and CI fails.
# --quick runs only the first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
# The check that Python's safetensors reads our checkpoints skips without these.
python3 -c "import safetensors, numpy" 2>/dev/null || python3 -m pip install -q safetensors numpy ||
  echo "warning: could not install safetensors and numpy; safetensors_python_reads_our_file will skip"
python3 scripts/fetch_mnist.py --dir data/mnist   # the data tests and the short training run need it

run_suite() {
  local build_dir=$1 cuda=$2 shared=$3 extra=${4:-}
  echo "== build ($build_dir, CONVNET_CUDA=$cuda, BUILD_SHARED_LIBS=$shared $extra)"
  BUILD_DIR=$build_dir CONVNET_CUDA=$cuda CMAKE_ARGS="-DBUILD_SHARED_LIBS=$shared $extra" bash scripts/build.sh
  echo "== test ($build_dir)"
  ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" --timeout 900
}

start=$SECONDS
run_suite build AUTO ON
if [[ "${1:-}" != "--quick" ]]; then
  # ---- the GPU check, dry: what a lent GPU machine would build with, proved here
  # (scripts/gpu_check.sh --dry-run; needs nvcc, and build/ for its filter checks)
  if [[ -x /usr/local/cuda/bin/nvcc ]] || command -v nvcc >/dev/null; then
    gpu_dry_start=$SECONDS
    bash scripts/fetch_gpu_debs.sh
    CONVNET_BUILD=build OUT=out/gpu_check_dry_run bash scripts/gpu_check.sh --dry-run
    echo "== gpu check dry run: $((SECONDS - gpu_dry_start)) s"
  else
    echo "== gpu check dry run: skipped, no nvcc"
  fi
  run_suite build-cpu-only OFF OFF
  sanitize_start=$SECONDS
  ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=0 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    run_suite build-sanitize OFF OFF "-DCONVNET_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONVNET_BUILD_BENCH=OFF"
  echo "== sanitizer stage: $((SECONDS - sanitize_start)) s"
  # ---- fuzzing (tests/fuzz): each libFuzzer target for FUZZ_SECONDS (default 45) from a
  # copy of its seed corpus; any crash fails CI and prints the input (scripts/fuzz.sh)
  fuzz_start=$SECONDS
  bash scripts/fuzz.sh
  echo "== fuzz stage: $((SECONDS - fuzz_start)) s"
  # ---- end fuzzing
fi
echo "== all tests passed in $((SECONDS - start)) s"
