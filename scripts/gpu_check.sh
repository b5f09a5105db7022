#!/usr/bin/env bash
# The GPU regression check: the one prepared command for a lent GPU machine.
#
#   here first:  bash scripts/fetch_gpu_debs.sh   (.debs/ and .deps/: the machine has no network)
#   the device:  run  command: bash scripts/gpu_check.sh  carry: [".debs", ".deps"]  timeout_s: 570
#   here, in CI: bash scripts/gpu_check.sh --dry-run
#
# Stages, the most valuable first, each under its own limit (LIMIT below; they
# add up to less than timeout_s). A stage that fails or runs out of time never
# stops the next one, and the summary says which. The device returns at most 8
# files of 16 MiB from $OUT, so $OUT gets two: summary.txt and logs.tar.gz.
#
# --dry-run (no GPU needed) unpacks the carried packages into a scratch root,
# configures against it as the device would (cuDNN in the pip layout PyTorch's
# wheels use, system copies of the carried packages ignored), compiles one
# object per carried header family, proves every header and library of a
# carried package came from the scratch root, checks the test and benchmark
# filters against the binaries in $CONVNET_BUILD (default build/), and checks
# the outputs against the device's limits and the documented device command
# against what this script needs. GPU stages report "skipped: no GPU".
set -uo pipefail
cd "$(dirname "$0")/.."

# ---- the device command, as docs/gpu.md documents it (the dry run compares)
DEVICE_CARRY=(.debs .deps)
DEVICE_TIMEOUT_S=570
SETUP_S=45  # unpacking the packages, locating cuDNN, the sanitizer probe (30), the archive
declare -A LIMIT=([build]=200 [gpu_tests]=100 [mnist_cuda]=45 [mnist_cudnn]=45 [bench]=60
                  [memcheck]=45 [racecheck]=25)
# One test process for every GPU case: the CUDA and cuDNN suites, the parity
# table's GPU columns (tensor arithmetic's cases included: *_cuda, *_cudnn), the
# conv sweep, the golden tests, the runtime tests, CudaTensorArith.
GPU_TEST_FILTER='*Cuda*:*Cudnn*:*cuda*:*cudnn*:*Golden*:*golden*:*Gpu*'
GPU_TEST_MIN=300  # fewer matches means the filter lost its tests
BENCH_FILTER='BM_(cuda|cudnn)_(d2d|conv|linear|bias|max_pool|relu|softmax|dropout|sgd|adam)'
BENCH_MIN=20
MEMCHECK_FILTER='AllOps/Parity.*_cuda:CudaRuntime.*:CudaTensorArith.*-*n128*'
RACECHECK_FILTER='AllOps/Parity.*conv2d*_cuda:AllOps/Parity.*softmax*_cuda:CudaTensorArith.*-*n128*:*n33*'

dry_run=0
[[ ${1:-} == --dry-run ]] && dry_run=1
out=${OUT:-out/gpu_check}
logs=${GPU_CHECK_LOGS:-$(mktemp -d /tmp/gpu_check_logs.XXXXXX)}
mkdir -p "$out" "$logs"
summary="$out/summary.txt"
: >"$summary"
failures=0
log() { echo "$@" | tee -a "$summary"; }

# run_limited LIMIT CMD...: runs CMD (a program or a shell function) in its own
# process group and kills the whole group after LIMIT seconds (rc 137).
# (`timeout` can only run programs: handed a function it fails at once.)
run_limited() {
  local limit=$1; shift
  set -m
  ( "$@" ) & local pid=$!
  ( sleep "$limit"; kill -KILL -- "-$pid" 2>/dev/null ) >/dev/null 2>&1 & local watchdog=$!
  set +m
  wait "$pid"; local rc=$?
  kill -- "-$watchdog" 2>/dev/null; wait "$watchdog" 2>/dev/null
  return $rc
}
# stage NAME CMD...: logs to $logs/NAME.log under LIMIT[NAME]; one summary line.
stage() {
  local name=$1; shift
  if ! wanted "$name"; then skip "$name" "not in GPU_CHECK_ONLY"; return 0; fi
  local limit=${LIMIT[$name]} start=$SECONDS rc
  run_limited "$limit" "$@" >"$logs/$name.log" 2>&1
  rc=$?
  local verdict=ok
  if ((rc == 137)); then verdict="TIMED OUT after $limit s"; elif ((rc != 0)); then verdict=FAILED; fi
  ((rc != 0)) && failures=$((failures + 1))
  log "$(printf '%-12s %-22s rc=%-3s %4d s (limit %d)' "$name" "$verdict" "$rc" $((SECONDS - start)) "$limit")"
  ((rc != 0)) && tail -n 6 "$logs/$name.log" | cut -c1-300 | sed 's/^/   | /' | tee -a "$summary"
  return $rc
}
skip() { log "$(printf '%-12s skipped: %s' "$1" "$2")"; }
# GPU_CHECK_ONLY="gpu_tests mnist_cudnn" reruns just those stages (and the build)
# after a fix, so a lease holds a run, a fix and two more runs.
wanted() { [[ -z ${GPU_CHECK_ONLY:-} || $1 == build || " $GPU_CHECK_ONLY " == *" $1 "* ]]; }

# ---- the carried packages, unpacked into a private root (never into /: it could break it)
root=${GPU_CHECK_ROOT:-/tmp/gpu_check_root}
unpack_deb() {  # dpkg -x where dpkg exists, else ar + tar (binutils comes with the compiler)
  if command -v dpkg >/dev/null; then dpkg -x "$1" "$2"; return; fi
  local member; member=$(ar t "$1" | grep '^data\.tar')
  ar p "$1" "$member" | tar -x -C "$2" --auto-compress -f - 2>/dev/null ||
    ar p "$1" "$member" | tar -xJ -C "$2"
}
if compgen -G ".debs/*.deb" >/dev/null; then
  rm -rf "$root" && mkdir -p "$root"
  for f in .debs/*.deb; do unpack_deb "$f" "$root" || log "could not unpack $f"; done
  # Absolute links (libz.so -> /lib/.../libz.so.1.2.13) would leave the root for
  # the machine's own files, which may be other versions or absent: keep them inside.
  find "$root" -type l -lname '/*' | while IFS= read -r link; do
    ln -sfn "$root$(readlink "$link")" "$link"
  done
  multiarch=x86_64-linux-gnu
  export CMAKE_PREFIX_PATH=$root/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
  export LD_LIBRARY_PATH=$root/usr/lib/$multiarch:$root/usr/lib/$multiarch/openblas-pthread${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
else
  log "no .debs/*.deb: run scripts/fetch_gpu_debs.sh here and carry .debs (OpenBLAS, GoogleTest, Benchmark, CLI11, json, zlib)"
fi
if [[ -d .debs/mnist && ! -f data/mnist/train-images-idx3-ubyte && ! -f data/mnist/train-images-idx3-ubyte.gz ]]; then
  mkdir -p data/mnist && cp .debs/mnist/* data/mnist/
fi

# ---- cuDNN: headers from the machine's own cuDNN where it has them, else the
# carried copy (.deps/cudnn-include); the library is dlopened at run time:
# the toolkit's, else the one PyTorch's wheels bring (nvidia/cudnn in site-packages).
cudnn_dir=""
if [[ $dry_run == 1 ]]; then  # the device's layout: PyTorch's wheel, a library and no headers
  site=$root.site/nvidia/cudnn/lib
  rm -rf "$root.site" && mkdir -p "$site"
  for d in /usr/local/cuda/lib64 /usr/local/cuda/lib; do
    [[ -e $d/libcudnn.so.9 ]] && ln -sf "$d/libcudnn.so.9" "$site/libcudnn.so.9" && break
  done
  export PYTHONPATH=$root.site${PYTHONPATH:+:$PYTHONPATH}
fi
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib; do
  [[ $dry_run == 0 && -e $d/libcudnn.so.9 ]] && cudnn_dir=$d && break
done
if [[ -z $cudnn_dir ]]; then
  cudnn_pkg=$(python3 -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null || true)
  [[ -n $cudnn_pkg && -e $cudnn_pkg/lib/libcudnn.so.9 ]] && cudnn_dir=$cudnn_pkg/lib
fi
cudnn_headers=""
if [[ -n $cudnn_dir && -f $cudnn_dir/../include/cudnn_version.h ]]; then
  cudnn_headers=$(cd "$cudnn_dir/../include" && pwd)
elif [[ -f .deps/cudnn-include/cudnn_version.h ]]; then
  cudnn_headers=$PWD/.deps/cudnn-include
fi
if [[ -n $cudnn_dir ]]; then
  export CONVNET_CUDNN_LIBRARY=$cudnn_dir/libcudnn.so.9
  export LD_LIBRARY_PATH=$cudnn_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
# cuDNN's runtime-compiled engines dlopen NVRTC: the toolkit's first, then, last
# on the path, whatever PyTorch's other NVIDIA wheels bring (nvidia/*/lib).
wheel_libs=$(python3 -c 'import nvidia, glob, os
print(":".join(d for p in nvidia.__path__ for d in sorted(glob.glob(os.path.join(p, "*", "lib")))))' 2>/dev/null || true)
export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}/usr/local/cuda/lib64${wheel_libs:+:$wheel_libs}
[[ -f .deps/cudnn-frontend-1.32.0/include/cudnn_frontend.h ]] ||
  log "cudnn_frontend headers missing: carry .deps (python3 scripts/fetch_cudnn_frontend.py)"

# The device's copy of the tree has no .git: fetch_gpu_debs.sh wrote .debs/COMMIT.
commit=$(git rev-parse --short HEAD 2>/dev/null || cat .debs/COMMIT 2>/dev/null || echo unknown)
have_gpu=0
if [[ $dry_run == 0 ]] && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then have_gpu=1; fi
# GPU_CHECK_FAKE_GPU=1 runs the GPU stages without a GPU, to test this script's
# plumbing (summary, archive, restarts) here: the stages then fail or skip.
[[ ${GPU_CHECK_FAKE_GPU:-0} == 1 && $dry_run == 0 ]] && have_gpu=1
log "== gpu_check $(date -u +%FT%TZ) commit $commit$([[ $dry_run == 1 ]] && echo ' (dry run)')"
log "gpu: $( ((have_gpu)) && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n 1 || echo none)"
log "nvcc: $(nvcc --version 2>/dev/null | tail -n 1 || echo none); cmake: $(cmake --version | head -n 1); cores: $(nproc)"
log "cuDNN library: ${cudnn_dir:-none found}; headers: ${cudnn_headers:-none found}"

# ---- build
build_dir=${GPU_CHECK_BUILD:-build-gpu}
# No oneDNN: this check is about the GPU code, and Debian's oneDNN package
# config also needs the OpenCL headers, which the GPU machine lacks.
configure_args=(-DCMAKE_BUILD_TYPE=Release -DCONVNET_CUDA=ON -DCONVNET_ONEDNN=OFF -DCONVNET_ONNX=OFF -DCONVNET_TENSORBOARD=OFF -DCMAKE_CUDA_ARCHITECTURES=90
  -DCMAKE_LIBRARY_PATH="$root/usr/lib/${multiarch:-x86_64-linux-gnu}/openblas-pthread")
[[ -n $cudnn_headers ]] && configure_args+=(-DCUDNN_INCLUDE_DIR="$cudnn_headers")
[[ -n $cudnn_dir ]] && configure_args+=(-DCUDNN_ROOT="$cudnn_dir/..")
# The dry run sees this machine's /usr, which holds every package the device
# lacks: the search ignores it, and the provenance check below catches the rest.
[[ $dry_run == 1 ]] && configure_args+=(-DCMAKE_IGNORE_PREFIX_PATH=/usr)
build() {
  local generator=(); command -v ninja >/dev/null && generator=(-G Ninja)
  rm -f "$build_dir/CMakeCache.txt"
  cmake -S . -B "$build_dir" "${generator[@]}" "${configure_args[@]}" || return
  if [[ $dry_run == 0 ]]; then cmake --build "$build_dir" -j "$(nproc)"; return; fi
  # The dry run compiles one source per carried header family with the exact
  # command the build would use (compile_commands.json), not the whole tree: an
  # object target would first build every library its target links.
  mkdir -p "$logs/deps"
  local i=0 src cmd
  for src in "${dry_sources[@]}"; do
    cmd=$(python3 - "$build_dir/compile_commands.json" "$PWD/$src" <<'PY'
import json, sys
entries = [e for e in json.load(open(sys.argv[1])) if e["file"] == sys.argv[2]]
print(entries[0]["command"] if entries else "")
PY
)
    [[ -n $cmd ]] || { echo "no compile command for $src (renamed? update dry_sources)"; return 1; }
    echo "== $src"
    i=$((i + 1))
    (cd "$build_dir" && eval "$cmd -MD -MF $logs/deps/$i.d") || return
  done
}
dry_sources=(src/cpu/gemm.cpp             # cblas.h (OpenBLAS)
             src/io/safetensors_read.cpp  # nlohmann/json.hpp
             src/data/idx.cpp             # zlib.h
             src/cudnn/cudnn_library.cpp  # cudnn.h
             tests/cudnn/plan_cache_test.cpp  # gtest
             bench/conv2d_cpu_bench.cpp   # benchmark
             examples/mnist_cnn.cpp)      # CLI11
device_limits="${LIMIT[*]}"
if [[ $dry_run == 1 ]]; then
  configure_args+=(-DCMAKE_EXPORT_COMPILE_COMMANDS=ON)
  LIMIT[build]=600  # two cores here, not sixteen
fi
# To time the whole build on a machine with fewer cores (never on the device).
[[ -n ${GPU_CHECK_BUILD_LIMIT:-} ]] && LIMIT[build]=$GPU_CHECK_BUILD_LIMIT
stage build build
build_ok=$?
((build_ok != 0)) && grep -m 20 -iE 'error|fatal' "$logs/build.log" | cut -c1-300 | sed 's/^/   | /' | tee -a "$summary"
log "$(grep -m1 -E 'convnet: CUDA backend' "$logs/build.log" | sed 's/^-- //')"

# ---- preflight: the filters and flags the GPU stages use must match something
preflight_dir=$build_dir
[[ $dry_run == 1 ]] && preflight_dir=${CONVNET_BUILD:-build}
tests=$preflight_dir/tests/convnet_tests
bench=$preflight_dir/bench/convnet_cuda_bench
mnist=$preflight_dir/examples/mnist_cnn
preflight() {
  local ok=0 n
  n=$("$tests" --gtest_list_tests --gtest_filter="$GPU_TEST_FILTER" 2>/dev/null | grep -c '^  ')
  log "preflight: GPU test filter matches $n tests (at least $GPU_TEST_MIN expected)"
  ((n >= GPU_TEST_MIN)) || ok=1
  for f in "$MEMCHECK_FILTER" "$RACECHECK_FILTER"; do
    n=$("$tests" --gtest_list_tests --gtest_filter="$f" 2>/dev/null | grep -c '^  ')
    log "preflight: sanitizer filter '$f' matches $n tests"; ((n > 0)) || ok=1
  done
  if [[ -x $bench ]]; then
    n=$(CONVNET_BENCH_LIST_ALL=1 "$bench" --benchmark_list_tests --benchmark_filter="$BENCH_FILTER" 2>/dev/null | grep -c '^BM_')
    log "preflight: benchmark filter matches $n benchmarks (at least $BENCH_MIN expected)"
    ((n >= BENCH_MIN)) || ok=1
  fi
  local help; help=$("$mnist" --help 2>&1)
  for flag in --backend --epochs --data; do
    grep -q -- "$flag" <<<"$help" || { log "preflight: mnist_cnn has no $flag"; ok=1; }
  done
  return $ok
}
if [[ -x $tests && -x $mnist ]]; then
  preflight || { log "preflight: FAILED"; failures=$((failures + 1)); }
else
  log "preflight: no binaries in $preflight_dir"; failures=$((failures + 1))
fi

# ---- GPU stages
# A test that kills the process (a segfault, an abort) must not hide the rest:
# up to three restarts, each past every test already finished and the one that died.
gpu_tests() {
  local filter=$GPU_TEST_FILTER attempt rc finished died dead=""
  for attempt in 1 2 3 4; do
    CONVNET_CUDNN_LOG=1 "$tests" --gtest_filter="$filter" \
      --gtest_output="xml:$logs/gpu_tests_$attempt.xml" 2>&1 | tee "$logs/gpu_tests_$attempt.out"
    rc=${PIPESTATUS[0]}
    if ((rc < 128)); then [[ -z $dead ]] && return $rc; return 1; fi
    died=$(grep -E '^\[ RUN      \]' "$logs/gpu_tests_$attempt.out" | tail -n 1 | awk '{print $4}')
    echo "[  DIED    ] $died (rc $rc): rerunning the tests after it"
    dead+=" $died"
    finished=$(cat "$logs"/gpu_tests_*.out | grep -E '^\[ +(OK|FAILED|SKIPPED) +\] [A-Za-z]' |
      awk '{sub(/,$/, "", $4); print $4}' | grep -v '^$')
    filter="$GPU_TEST_FILTER-$(printf '%s\n' $finished $dead | sort -u | paste -sd:)"
  done
  return 1
}
mnist_run() { "$mnist" --backend "$1" --epochs "${MNIST_EPOCHS:-1}" --data data/mnist; }
bench_run() {
  local rc=0 strategy
  "$bench" --benchmark_filter="$BENCH_FILTER" --benchmark_min_time=0.05 --benchmark_repetitions=3 \
    --benchmark_report_aggregates_only=true --benchmark_out="$logs/bench.json" \
    --benchmark_out_format=json || rc=1
  python3 bench/compare_cudnn.py "$logs/bench.json" >"$logs/ours_vs_cudnn.md" 2>&1 || rc=1
  for strategy in async caching; do
    CONVNET_CUDA_ALLOCATOR=$strategy "$bench" --benchmark_filter=BM_cuda_alloc \
      --benchmark_repetitions=3 --benchmark_report_aggregates_only=true || rc=1
  done
  return $rc
}
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
sanitize() { "$sanitizer" --tool "$1" --error-exitcode 9 "$tests" --gtest_filter="$2"; }

if ((have_gpu == 0)); then
  for s in gpu_tests mnist_cuda mnist_cudnn bench memcheck racecheck; do
    skip "$s" "no GPU$([[ $dry_run == 1 ]] && echo ' (dry run)')"
  done
elif ((build_ok != 0)); then
  for s in gpu_tests mnist_cuda mnist_cudnn bench memcheck racecheck; do skip "$s" "the build failed"; done
else
  stage gpu_tests gpu_tests
  log "   $(grep -E '^\[  (PASSED|SKIPPED|FAILED) +\] [0-9]+ tests?' "$logs/gpu_tests.log" | tr '\n' ' ')"
  grep -E '^\[  (FAILED|DIED)  +\] [A-Za-z]' "$logs/gpu_tests.log" | sort -u | head -n 60 | tee -a "$summary"
  # Which route each MNIST conv took, each plan's engine, what cuDNN refused.
  grep -E '^\[ (path|tf32|route|engine|evict) ' "$logs/gpu_tests.log" | sort -u | head -n 40 | tee -a "$summary"
  grep -E '^\[convnet cudnn\] no plan' "$logs/gpu_tests.log" | sort -u | head -n 20 | tee -a "$summary"
  log "   cuDNN plans built: $(grep -c '^\[convnet cudnn\] plan' "$logs/gpu_tests.log")"
  for backend in cuda cudnn; do
    stage "mnist_$backend" mnist_run "$backend"
    log "   $(grep -E '^epoch|test accuracy' "$logs/mnist_$backend.log" | tail -n 2 | tr '\n' ' ')"
    grep -E 'cudnn|implicit gemm|kernel' "$logs/mnist_$backend.log" | grep -E 'Conv2d|Linear' | head -n 6 | tee -a "$summary"
  done
  stage bench bench_run
  tail -n 40 "$logs/ours_vs_cudnn.md" 2>/dev/null | tee -a "$summary"
  grep -hE '_median' "$logs/bench.log" | awk '{printf "   %-70s %12s %s\n", $1, $2, $3}' >>"$summary"
  # Sanitizers last: compute-sanitizer refuses some machines ("Device not supported").
  probe=""
  [[ -x $sanitizer ]] && { wanted memcheck || wanted racecheck; } && probe=$(run_limited 30 "$sanitizer" --tool memcheck "$tests" \
    --gtest_filter='CudaRuntime.CopiesEveryWayAndSlices' 2>&1 | tee "$logs/sanitizer_probe.log" | head -n 40)
  if [[ ! -x $sanitizer ]]; then
    skip memcheck "compute-sanitizer not found"; skip racecheck "compute-sanitizer not found"
  elif grep -qiE 'Device not supported|error 999|Unable to find|not supported on this' <<<"$probe" ||
       ! grep -q 'ERROR SUMMARY' <<<"$probe"; then
    reason="compute-sanitizer refuses this machine: $(grep -m1 -iE 'not supported|error' <<<"$probe" || echo 'its 30 s probe printed no ERROR SUMMARY (sanitizer_probe.log)')"
    skip memcheck "$reason"; skip racecheck "$reason"
  else
    stage memcheck sanitize memcheck "$MEMCHECK_FILTER"
    grep -E 'ERROR SUMMARY|FAILED  \]' "$logs/memcheck.log" | head -n 20 | tee -a "$summary"
    stage racecheck sanitize racecheck "$RACECHECK_FILTER"
    grep -E 'RACECHECK SUMMARY|ERROR SUMMARY|FAILED  \]' "$logs/racecheck.log" | head -n 20 | tee -a "$summary"
  fi
fi

# ---- the dry run's own checks
if [[ $dry_run == 1 ]]; then
  bash scripts/gpu_check_verify.sh "$build_dir" "$root" "$logs/deps" "${DEVICE_CARRY[*]}" \
    "$DEVICE_TIMEOUT_S" "$SETUP_S" "$device_limits" 2>&1 | tee -a "$summary"
  ((PIPESTATUS[0] == 0)) || failures=$((failures + 1))
fi

# ---- outputs: the summary and one archive of every log, each under the device's 16 MiB
log "== $failures failing stage(s)"
tar -czf "$out/logs.tar.gz" -C "$logs" . 2>/dev/null
if (($(stat -c %s "$out/logs.tar.gz") > 15 * 1024 * 1024)); then
  for f in "$logs"/*; do tail -c 2000000 "$f" >"$f.tail" && mv "$f.tail" "$f"; done
  tar -czf "$out/logs.tar.gz" -C "$logs" . && log "logs cut to their last 2 MB each to fit"
fi
if [[ $dry_run == 1 ]]; then
  bash scripts/gpu_check_verify.sh --outputs "$out" || failures=$((failures + 1))
fi
((failures == 0))
