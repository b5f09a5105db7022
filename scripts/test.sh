#!/usr/bin/env bash
# The README's test command: builds convnet and runs the whole test suite, first
# with the CUDA parts as a shared library (when nvcc, cuBLAS and cuDNN are
# present; GPU tests skip with a reason when there is no GPU), then as a static
# CPU-only build (CONVNET_CUDA=OFF). The outside-project test thus links a shared
# CUDA-enabled install (built with no CUDA toolkit) and a static one.
# Between the first two, scripts/gpu_check.sh --dry-run proves the GPU check's
# build against only what a GPU machine has plus what it carries.
# Third, the emulated device (scripts/emulated_stage.sh): a clang build with
# -DCONVNET_CUDA=EMULATED under AddressSanitizer + UndefinedBehaviorSanitizer
# runs the whole suite, CPU tests and the CUDA backend's on the CPU emulator
# (emu/), and any sanitizer report fails CI; then race mode (GCC's
# ThreadSanitizer over the kernels). Last, the libFuzzer targets.
# Each stage's time is printed at the end. --quick runs only the first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
# The check that Python's safetensors reads our checkpoints skips without these.
python3 -c "import safetensors, numpy" 2>/dev/null || python3 -m pip install -q safetensors numpy ||
  echo "warning: could not install safetensors and numpy; safetensors_python_reads_our_file will skip"
python3 scripts/fetch_mnist.py --dir data/mnist   # the data tests and the short training run need it
# onnx, onnxruntime and tensorboard read back the ONNX files and event logs we
# write (tests/python); CI must run those checks, so they fail rather than skip.
tools_python=$(bash scripts/python_tools.sh)
export CONVNET_REQUIRE_TOOLS=1
export CONVNET_TOOLS_PYTHON=$tools_python  # for the stages configured elsewhere (emulated_stage.sh)

# install_deps.sh installed these, so CI builds them or fails: AUTO would
# quietly leave a backend out (it did, when OpenCL's headers were missing).
required="-DCONVNET_ONEDNN=ON -DCONVNET_ONNX=ON -DCONVNET_TENSORBOARD=ON"

run_suite() {
  local build_dir=$1 cuda=$2 shared=$3 extra=${4:-}
  echo "== build ($build_dir, CONVNET_CUDA=$cuda, BUILD_SHARED_LIBS=$shared $extra)"
  BUILD_DIR=$build_dir CONVNET_CUDA=$cuda \
    CMAKE_ARGS="-DBUILD_SHARED_LIBS=$shared -DCONVNET_TOOLS_PYTHON=$tools_python $required $extra" bash scripts/build.sh
  echo "== test ($build_dir)"
  ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" --timeout 900
}

start=$SECONDS
stage_times=()
timed() {  # timed NAME COMMAND...: runs it and records its wall time
  local name=$1 t0=$SECONDS
  shift
  "$@"
  stage_times+=("$(printf '%-34s %5d s' "$name" $((SECONDS - t0)))")
}
gpu_dry_run() {
  bash scripts/fetch_gpu_debs.sh
  CONVNET_BUILD=build OUT=out/gpu_check_dry_run bash scripts/gpu_check.sh --dry-run
}

timed "build + test (CUDA, shared)" run_suite build AUTO ON
if [[ "${1:-}" != "--quick" ]]; then
  # ---- the GPU check, dry: what a lent GPU machine would build with, proved here
  # (scripts/gpu_check.sh --dry-run; needs nvcc, and build/ for its filter checks)
  if [[ -x /usr/local/cuda/bin/nvcc ]] || command -v nvcc >/dev/null; then
    timed "gpu check dry run" gpu_dry_run
  else
    echo "== gpu check dry run: skipped, no nvcc"
  fi
  timed "build + test (CPU only, static)" run_suite build-cpu-only OFF OFF
  # ---- the emulated device under ASan + UBSan (the sanitizer stage), then race mode
  timed "emulated device, ASan + UBSan" env EMU_STAGE=sanitize bash scripts/emulated_stage.sh
  timed "emulated device, race mode" env EMU_STAGE=race bash scripts/emulated_stage.sh
  # ---- fuzzing (tests/fuzz): each libFuzzer target for FUZZ_SECONDS from a copy
  # of its seed corpus; any crash fails CI and prints the input (scripts/fuzz.sh)
  timed "fuzz" bash scripts/fuzz.sh
fi
echo "== stage times"
printf '   %s\n' "${stage_times[@]}"
echo "== all tests passed in $((SECONDS - start)) s"
