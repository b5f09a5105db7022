#!/usr/bin/env bash
# The emulated-device stage of scripts/test.sh (issue 15): the CUDA backend's
# tests with no GPU, on emu/ (every CUDA thread a fiber on the CPU).
#
# 1. sanitize: clang, -DCONVNET_CUDA=EMULATED, AddressSanitizer + UBSan. The
#    whole suite runs here (the CPU tests under the sanitizers too, so this also
#    is the sanitizer stage), plus emu's own kernel and runtime tests, with
#    CONVNET_TEST_SMALL=1 (fewer, smaller shapes in the slowest GPU tests) and
#    every grid-stride launch capped at CONVNET_CUDA_GRID_CAP blocks, so each
#    loop wraps, and warps run last-first (CONVNET_EMU_ORDER=reverse: a read of
#    shared memory missing its barrier then sees what it should not; the kernel
#    tests run every order). Prints how many CUDA-column cases ran, their time.
# 2. race: GCC, ThreadSanitizer over emu_kernel_tests (every kernel with shared
#    memory, shuffles or atomics), grid capped; then a self-check that a missing
#    barrier is reported as a data race.
#
# Environment: EMU_STAGE (default "sanitize race"), EMU_GRID_CAP (default 3),
# EMU_ORDER (default reverse), JOBS (default: all cores).
set -euo pipefail
cd "$(dirname "$0")/.."

parts=${EMU_STAGE:-sanitize race}
jobs=${JOBS:-$(nproc)}
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
  # -g builds hash the build folder unless told not to: a clone elsewhere would miss.
  export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
fi

sanitize() {
  local dir=build-emu-sanitize t0=$SECONDS
  echo "== emulated device, ASan + UBSan: build ($dir, clang, CONVNET_CUDA=EMULATED)"
  CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCONVNET_CUDA=EMULATED -DCONVNET_SANITIZE=ON -DCONVNET_EMU_KERNEL_TESTS=ON \
    -DCONVNET_BUILD_BENCH=OFF -DBUILD_SHARED_LIBS=OFF -DCONVNET_TOOLS_PYTHON="${CONVNET_TOOLS_PYTHON:-}" \
    "${launcher[@]}" >/dev/null
  cmake --build "$dir" -j "$jobs"
  echo "== emulated device, ASan + UBSan: built in $((SECONDS - t0)) s; test"
  local t1=$SECONDS status=0
  ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=0 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  CONVNET_TEST_SMALL=1 CONVNET_CUDA_GRID_CAP=${EMU_GRID_CAP:-3} CONVNET_EMU_ORDER=${EMU_ORDER:-reverse} \
    ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 900 \
      --output-junit "$PWD/$dir/emulated-junit.xml" || status=$?
  python3 scripts/emulated_summary.py "$dir/emulated-junit.xml"
  echo "== emulated device, ASan + UBSan: tests $((SECONDS - t1)) s, stage $((SECONDS - t0)) s"
  return $status
}

race() {
  local dir=build-emu-race t0=$SECONDS
  echo "== emulated device, race mode: build ($dir, GCC, ThreadSanitizer)"
  CC=gcc CXX=g++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCONVNET_CUDA=OFF -DCONVNET_EMU_KERNEL_TESTS=ON -DCONVNET_EMU_RACE=ON \
    -DCONVNET_BUILD_TESTS=OFF -DCONVNET_BUILD_BENCH=OFF -DCONVNET_BUILD_EXAMPLES=OFF \
    "${launcher[@]}" >/dev/null
  cmake --build "$dir" -j "$jobs" --target emu_kernel_tests
  echo "== emulated device, race mode: built in $((SECONDS - t0)) s; test"
  local t1=$SECONDS
  # The capped scenarios only (every grid-stride loop wraps). The direct conv's
  # tile-edge case is left to the ASan run: its backward filter passes ~10^5
  # barriers (40 s a scenario under TSan), and DirectSmall runs the same code.
  # WarpOrderSwitch leaves out its barrier on purpose: the self-check below.
  local filter='*cap2*:*cap3*:EmuDiagnostics.*'
  filter+='-EmuDiagnostics.WarpOrderSwitch:*DirectAcrossTileEdges*'
  TSAN_OPTIONS=halt_on_error=1:exitcode=66:report_signal_unsafe=0 \
    "$dir/emu/emu_kernel_tests" --gtest_filter="$filter" --gtest_brief=1
  echo "== emulated device, race mode: self-check (a missing barrier must be a data race)"
  local log=$dir/race-self-check.log status=0
  TSAN_OPTIONS=halt_on_error=1:exitcode=66 \
    "$dir/emu/emu_kernel_tests" --gtest_filter=EmuDiagnostics.WarpOrderSwitch >"$log" 2>&1 || status=$?
  if [[ $status -ne 66 ]] || ! grep -q "data race" "$log" || ! grep -q "missing_barrier" "$log"; then
    echo "race mode: FAILED self-check: the missing barrier was not reported (exit $status; $log)"
    tail -20 "$log"
    return 1
  fi
  echo "race mode: the missing barrier was reported ($(grep -m1 -o 'diagnostic_tests.cpp:[0-9]*' "$log"))"
  echo "== emulated device, race mode: tests $((SECONDS - t1)) s, stage $((SECONDS - t0)) s"
}

for part in $parts; do
  case $part in
    sanitize) sanitize ;;
    race) race ;;
    *) echo "emulated_stage: unknown part '$part' (sanitize, race)" >&2; exit 2 ;;
  esac
done
