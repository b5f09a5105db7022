#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer, and runs each for a bounded time from a copy of
# its seed corpus (the repository is never written). Prints the executions each
# target ran; exits non-zero when any target crashed, leaked, timed out or ran
# out of memory, after printing the input that did it and how to reproduce it.
#
# Environment:
#   FUZZ_SECONDS  seconds per target (default 45: with the ~80 s build, about
#                 3.5 minutes in all on 2 cores)
#   FUZZ_TARGETS  which targets (default "fuzz_idx fuzz_safetensors fuzz_checkpoint fuzz_onnx")
#   BUILD_DIR     the clang build (default build-fuzz)
#   FUZZ_WORK     where corpora copies, logs and crash files go
#                 (default $BUILD_DIR/fuzz-run, emptied first)
#   FUZZ_ARGS     extra libFuzzer flags (e.g. "-seed=1")
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-45}
targets=(${FUZZ_TARGETS:-fuzz_idx fuzz_safetensors fuzz_checkpoint fuzz_onnx})
build_dir=${BUILD_DIR:-build-fuzz}
work=${FUZZ_WORK:-$build_dir/fuzz-run}

# clang 14 with libFuzzer (Debian: clang; install_deps.sh does not need it).
if ! command -v clang++ >/dev/null; then
  echo "fuzz: installing clang"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends clang >/dev/null
fi

echo "== fuzz: build ($build_dir, clang, -fsanitize=fuzzer,address,undefined)"
build_start=$SECONDS
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
  # -g builds hash the build folder unless told not to: a clone elsewhere would miss.
  export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
fi
CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCONVNET_CUDA=OFF -DCONVNET_ONNX=ON -DCONVNET_FUZZ=ON -DCONVNET_BUILD_TESTS=OFF -DCONVNET_BUILD_BENCH=OFF \
  -DCONVNET_BUILD_EXAMPLES=OFF "${launcher[@]}" >/dev/null
cmake --build "$build_dir" -j "${JOBS:-$(nproc)}" --target "${targets[@]}"
echo "== fuzz: built in $((SECONDS - build_start)) s"

rm -rf "$work"
mkdir -p "$work"
# The IDX target's temporary files: in memory when /dev/shm is there (on this
# machine's disk each write costs enough to make fuzz_idx 10 times slower).
tmp_parent=/tmp
[[ -d /dev/shm && -w /dev/shm ]] && tmp_parent=/dev/shm
export CONVNET_FUZZ_TMPDIR=$(mktemp -d "$tmp_parent/convnet-fuzz.XXXXXX")
trap 'rm -rf "$CONVNET_FUZZ_TMPDIR"' EXIT
failed=()
summary=()
for target in "${targets[@]}"; do
  name=${target#fuzz_}
  corpus=$work/$name/corpus
  mkdir -p "$corpus"
  cp tests/fuzz/corpus/"$name"/* "$corpus"/
  dict=tests/fuzz/safetensors.dict
  [[ $name == idx ]] && dict=tests/fuzz/idx.dict
  [[ $name == onnx ]] && dict=tests/fuzz/onnx.dict
  log=$work/$name.log
  echo "== fuzz: $target for $seconds s from $(ls "$corpus" | wc -l) seed inputs (log: $log)"
  status=0
  "$build_dir/tests/fuzz/$target" "$corpus" -dict="$dict" -max_total_time="$seconds" \
    -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/$name/" ${FUZZ_ARGS:-} >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 runs in \2 s/p' "$log" | tail -1)
  if ((status != 0)); then
    failed+=("$target")
    summary+=("$target: FAILED (exit $status)")
    echo "== fuzz: $target FAILED (exit $status); the end of its log:"
    grep -v '^#[0-9]' "$log" | tail -60
    for crash in "$work/$name"/{crash,leak,timeout,oom,slow-unit}-*; do
      [[ -e $crash ]] || continue
      echo "== fuzz: input that failed: $crash ($(stat -c %s "$crash") bytes)"
      od -A d -t x1z -v "$crash" | head -32
      echo "   reproduce: $build_dir/tests/fuzz/$target $crash"
      echo "   then minimise it ($build_dir/tests/fuzz/$target -minimize_crash=1 -runs=100000 $crash),"
      echo "   add it as tests/fuzz/corpus/$name/regress-<what> and a unit test (tests/io/fuzz_regression_test.cpp)"
    done
  else
    summary+=("$target: ${runs:-? runs} clean, $(ls "$corpus" | wc -l) inputs in the corpus afterwards")
  fi
done

echo "== fuzz: summary"
printf '   %s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
  echo "== fuzz: FAILED: ${failed[*]}"
  exit 1
fi
