#!/usr/bin/env bash
# convnet (reference cpu and onednn backends) against PyTorch eager on the CPU:
# one training epoch of the MNIST CNN and of ResNet-8, in images/s
# (bench/train_epoch_bench.cpp, bench/pytorch_train_epoch.py). The contenders
# run interleaved, the order rotated each round, so a change of machine load
# hits all of them; the table gives medians over the rounds and the ratios to
# PyTorch. A manual benchmark: never run in CI (it installs PyTorch).
#
#   scripts/bench_vs_pytorch.sh            # 3 rounds, all cores, 60,000 images
# Environment: ROUNDS (3), THREADS (nproc), IMAGES (60000), MODELS ("cnn resnet"),
# BUILD_DIR (build-bench; configured CPU-only if absent), TORCH_VENV (an existing
# venv with torch and numpy; default: .venv-bench, made with `pip install torch numpy`).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${ROUNDS:-3}
threads=${THREADS:-$(nproc)}
images=${IMAGES:-60000}
models=${MODELS:-cnn resnet}
build_dir=${BUILD_DIR:-build-bench}

if [[ -n ${TORCH_VENV:-} ]]; then
  python=$TORCH_VENV/bin/python
else
  python=.venv-bench/bin/python
  if ! "$python" -c 'import torch, numpy' 2>/dev/null; then
    echo "== making .venv-bench (pip install torch numpy, CPU is all it uses)" >&2
    python3 -m venv .venv-bench
    .venv-bench/bin/pip install --quiet --upgrade pip
    .venv-bench/bin/pip install --quiet torch numpy
  fi
fi
"$python" -c 'import torch, numpy' || { echo "bench_vs_pytorch: $python has no torch/numpy" >&2; exit 1; }

if [[ ! -f $build_dir/CMakeCache.txt ]]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCONVNET_CUDA=OFF \
    -DCONVNET_BUILD_TESTS=OFF -DCONVNET_BUILD_EXAMPLES=OFF "${launcher[@]}" >/dev/null
fi
cmake --build "$build_dir" --target train_epoch_bench >/dev/null
bench=$build_dir/bench/train_epoch_bench

# Every contender gets the same thread count: convnet's pool and oneDNN's
# OpenMP team, PyTorch's intra-op threads (OpenMP and MKL). On a loaded machine
# OpenMP's spinning barriers slow onednn and pytorch (not the cpu backend's
# blocking pool) several-fold; OMP_WAIT_POLICY=passive, if set, passes through.
export CONVNET_NUM_THREADS=$threads OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
run_one() {  # contender model -> one result line
  case $1 in
    convnet-cpu) "$bench" --backend cpu --model "$2" --images "$images" --threads "$threads" ;;
    convnet-onednn) "$bench" --backend onednn --model "$2" --images "$images" --threads "$threads" ;;
    pytorch) "$python" bench/pytorch_train_epoch.py --model "$2" --images "$images" --threads "$threads" ;;
  esac
}

echo "date: $(date -Is)"
echo "cpu: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), $(nproc) cores online; threads used: $threads"
echo "load before: $(uptime)"
echo "convnet: $(git rev-parse --short HEAD 2>/dev/null || echo '?'); torch: $("$python" -c 'import torch; print(torch.__version__)')"
echo "rounds: $rounds, images per epoch: $images, batch 64, OMP_WAIT_POLICY: ${OMP_WAIT_POLICY:-unset}"
contenders=(convnet-cpu convnet-onednn pytorch)
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for ((r = 0; r < rounds; r++)); do
  for model in $models; do
    for ((i = 0; i < 3; i++)); do
      contender=${contenders[$(((r + i) % 3))]}
      line=$(run_one "$contender" "$model")
      echo "round $((r + 1)): $line"
      echo "$line" >>"$results"
    done
  done
done
echo "load after: $(uptime)"

"$python" - "$results" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    f = dict(kv.split("=", 1) for kv in line.split()[1:])
    runs.setdefault(f["model"], {}).setdefault(f["contender"], []).append(float(f["images_per_s"]))
print(f"\n{'model':<10} {'contender':<15} {'images/s (median)':>18} {'runs':>30} {'vs pytorch':>11}")
for model, by in runs.items():
    med = {c: statistics.median(v) for c, v in by.items()}
    for c, v in by.items():
        ratio = f"{med[c] / med['pytorch']:.2f}" if "pytorch" in med else "-"
        print(f"{model:<10} {c:<15} {med[c]:>18.1f} {' '.join(f'{x:.1f}' for x in v):>30} {ratio:>11}")
    if "pytorch" in med:
        for c in ("convnet-onednn", "convnet-cpu"):
            if c in med:
                print(f"{model:<10} ratio {c.split('-')[1]}/pytorch = {med[c] / med['pytorch']:.2f}")
EOF
