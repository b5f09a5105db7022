#!/usr/bin/env python3
"""Plants known bugs, one at a time, in a scratch worktree, and records which
check of the emulated device caught each (issue 15, item 5).

Usage: python3 scripts/emu_planted_bugs.py [--worktree DIR] [--only ID,ID] [--out FILE]

The worktree (default /tmp/convnet-planted, branch scratch/planted-bugs from
HEAD) gets two builds, as scripts/emulated_stage.sh makes them: clang +
CONVNET_CUDA=EMULATED + ASan/UBSan, and GCC race mode (ThreadSanitizer). For
each bug the one edit is applied, the builds are brought up to date, and each
check runs with its own test filter:

  kernels   emu_kernel_tests under ASan + UBSan (our kernels on host memory)
  race      emu_kernel_tests under ThreadSanitizer (capped-grid scenarios)
  backend   convnet_tests' CUDA tests under ASan + UBSan on the emulated
            runtime, as CI runs them (CONVNET_TEST_SMALL=1, CONVNET_CUDA_GRID_CAP=3,
            CONVNET_EMU_ORDER=reverse)

A check "caught" the bug when it fails; the first line that says why is kept.
The edit is reverted before the next bug. Not part of CI (about 30 minutes).
"""
import argparse
import os
import re
import subprocess
import sys
import time

KERNEL_BUGS = ["kernels", "race", "backend"]
GLUE = ["backend"]

# id, what, file, text to find (exactly once), its replacement, checks, filters
BUGS = [
    dict(id="gemm-staging-barrier", what="missing __syncthreads after the implicit GEMM stages a step",
         file="kernels/conv2d_gemm.cu",
         old="      __syncthreads();  // the step is staged\n", new="\n",
         checks=KERNEL_BUGS, kernels="Orders/Conv.ImplicitGemm*", race="Orders/Conv.ImplicitGemmSmall/*cap*",
         backend="AllOps/Parity.*conv2d_forward_n2c3_7x5*cuda"),
    dict(id="tile-edge-off-by-one", what="tile-edge bound off by one (m <= rows) in the forward GEMM's A loads",
         file="kernels/conv2d_gemm.cu",
         old="      st.valid[e] = m < shape.rows;\n      st.px[e] = st.valid[e] ? forward_row(g, m)",
         new="      st.valid[e] = m <= shape.rows;\n      st.px[e] = st.valid[e] ? forward_row(g, m)",
         checks=KERNEL_BUGS, kernels="Orders/Conv.ImplicitGemm*", race="Orders/Conv.ImplicitGemmSmall/*cap*",
         backend="AllOps/Parity.*conv2d_forward_n1c5_6x11*cuda"),
    dict(id="divergent-shuffle", what="the int warp_sum's shuffles only in lanes < 16 (a shuffle in a divergent branch)",
         file="kernels/reduce.cuh",
         old="__device__ __forceinline__ int warp_sum(int v) {\n#pragma unroll\n",
         new="__device__ __forceinline__ int warp_sum(int v) {\n  if ((threadIdx.x & 31) < 16)\n",
         checks=KERNEL_BUGS, kernels="Orders/Losses.CountCorrect/*", race="Orders/Losses.CountCorrect/*cap*",
         backend="Files/GoldenOps.MatchesPyTorch/count_correct*"),
    dict(id="return-before-barrier", what="Adam's threads past the end return before the __syncthreads",
         file="kernels/optimizer.cu",
         old="  __shared__ float scalars[3];\n  if (threadIdx.x == 0) {",
         new="  __shared__ float scalars[3];\n  if (global_thread() >= count) return;\n  if (threadIdx.x == 0) {",
         checks=KERNEL_BUGS, kernels="Orders/Losses.AdamAndSgdSteps/*", race="Orders/Losses.AdamAndSgdSteps/*cap*",
         backend="AllOps/Parity.*adam*cuda"),
    dict(id="misaligned-float4", what="float4 path taken on 4-byte aligned pointers",
         file="kernels/elementwise.cu",
         old="reinterpret_cast<uintptr_t>(p) % 16 == 0;", new="reinterpret_cast<uintptr_t>(p) % 4 == 0;",
         checks=KERNEL_BUGS, kernels="Orders/Kernels.Elementwise/*", race="Orders/Kernels.Elementwise/*cap*",
         backend="AllOps/Parity.*elementwise*cuda"),
    dict(id="split-k-twice", what="split-K: the first partial added twice",
         file="kernels/conv2d_gemm.cu",
         old="    for (int64_t s = 0; s < splits; ++s) sum += partials[s * count + e];",
         new="    for (int64_t s = 0; s < splits; ++s) sum += partials[s * count + e];\n    if (splits > 1) sum += partials[e];",
         checks=KERNEL_BUGS, kernels="Orders/Conv.ImplicitGemmStridedDilatedSplit/*",
         race="Orders/Conv.ImplicitGemmStridedDilatedSplit/*cap*",
         backend="CudaConvSweep.BackwardFilterIsBitwiseRepeatable:AllOps/Parity.*backward_filter_n33c4*cuda"),
    dict(id="bias-scratch-barrier", what="bias_backward reuses its reduction scratch without the barrier",
         file="kernels/reduce.cu",
         old="    __syncthreads();  // warp 0 has read scratch before the next channel writes it\n", new="\n",
         checks=KERNEL_BUGS, kernels="Orders/Kernels.BiasBackwardFewChannels/*",
         race="Orders/Kernels.BiasBackwardFewChannels/*cap*",
         backend="AllOps/Parity.*bias_backward*cuda"),
    dict(id="flag-not-atomic", what="the label flag claimed by a plain read and write, not atomicCAS",
         file="kernels/loss.cu",
         old="  if (atomicCAS(error_flag, 0, code) == 0) {",
         new="  if (error_flag[0] == 0) {\n    error_flag[0] = code;",
         checks=KERNEL_BUGS, kernels="Orders/Losses.CrossEntropyFlagsTheFirstBadLabel/*",
         race="Orders/Losses.CrossEntropyFlagsTheFirstBadLabel/*cap*",
         backend="CudaRuntime.BadLabelRaisesAtTheNextSyncAndIsCleared"),
    dict(id="label-flag-never-fires", what="the label-flag check never fires (inverted null test)",
         file="kernels/loss.cu",
         old="  if (error_flag == nullptr) return;", new="  if (error_flag != nullptr) return;",
         checks=KERNEL_BUGS, kernels="Orders/Losses.CrossEntropy*", race="Orders/Losses.CrossEntropy*cap*",
         backend="CudaRuntime.BadLabelRaisesAtTheNextSyncAndIsCleared"),
    dict(id="no-sync-before-host-read", what="no stream synchronisation before the host reads the copied error flag",
         file="src/cuda/context.cpp",
         old="                                     cudaMemcpyDeviceToHost, ctx.stream()));\n  CONVNET_CUDA_CHECK(cudaStreamSynchronize(ctx.stream()));",
         new="                                     cudaMemcpyDeviceToHost, ctx.stream()));",
         checks=GLUE, backend="CudaRuntime.*:CudaTensor.*"),
    dict(id="d2h-wrong-stream", what="device-to-host copy on the legacy stream, not the context's stream",
         file="src/cuda/context.cpp",
         old="  CONVNET_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, ctx.stream()));",
         new="  CONVNET_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, nullptr));",
         checks=GLUE, backend="CudaRuntime.*:CudaTensor.*:AllOps/Parity.*relu_forward*cuda"),
    dict(id="cublas-transpose", what="linear forward's weight not transposed in the cuBLAS call",
         file="src/cuda/cuda_linear.cpp",
         old="cublasSgemm(handle(on), CUBLAS_OP_T, CUBLAS_OP_N, out, n, in,",
         new="cublasSgemm(handle(on), CUBLAS_OP_N, CUBLAS_OP_N, out, n, in,",
         checks=GLUE, backend="AllOps/Parity.*linear_*cuda:CudaGradcheck.*"),
    dict(id="pinned-slot-overwritten", what="DataLoader refills a pinned slot without waiting for its copy",
         file="src/data/dataloader.cpp",
         old="    if (slot.copied) cuda_hooks::wait_event(slot.copied);  // the GPU has read the last batch here\n",
         new="\n",
         checks=GLUE, backend="CudaDataLoader.*"),
]

SANITIZERS = [
    (re.compile(r"ERROR: AddressSanitizer: ([\w-]+)"), "ASan: {0}"),
    (re.compile(r"runtime error: (.*)"), "UBSan: {0}"),
    (re.compile(r"SUMMARY: ThreadSanitizer: (data race) \S*?([\w.]+:\d+)"), "TSan: {0} at {1}"),
    (re.compile(r"(emu: .*?)(?: in kernel .*)?$", re.M), "{0}"),
]
# Words that make a gtest failure line worth quoting.
TELLING = re.compile(r"nan|want|label|exceeds|differ|error|Error|timed out|not thrown|Actual", re.I)


def why(out):
    """One line saying what failed: a sanitizer or emulator report, else the
    telling line of the first gtest failure."""
    for pattern, form in SANITIZERS:
        m = pattern.search(out)
        if m:
            return form.format(*[g.strip() for g in m.groups()])[:170]
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.endswith(": Failure"):
            for follow in lines[i + 1:i + 8]:
                if TELLING.search(follow) and not follow.startswith(("Value of", "  Actual: false")):
                    return follow.strip()[:170]
            return " / ".join(l.strip() for l in lines[i + 1:i + 4])[:170]
    if "Segmentation fault" in out or "SIGSEGV" in out:
        return "crashed (SIGSEGV)"
    failed = re.search(r"\[  FAILED  \] (\S+)", out)
    return ("failed: " + failed.group(1)) if failed else "failed"


def run(cmd, cwd, timeout, env=None, log=None):
    start = time.time()
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, text=True, errors="replace")
        out, code = p.stdout, p.returncode
    except subprocess.TimeoutExpired as e:
        out, code = (e.stdout or "") if isinstance(e.stdout, str) else "", "timeout"
    if log:
        with open(log, "w") as f:
            f.write(out)
    return code, out, time.time() - start


def configure(tree):
    env = dict(os.environ, CCACHE_BASEDIR=tree, CCACHE_NOHASHDIR="1")
    launcher = ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"]
    subprocess.run(["cmake", "-S", ".", "-B", "build-emu-sanitize", "-G", "Ninja",
                    "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DCONVNET_CUDA=EMULATED", "-DCONVNET_SANITIZE=ON",
                    "-DCONVNET_EMU_KERNEL_TESTS=ON", "-DCONVNET_BUILD_BENCH=OFF",
                    "-DBUILD_SHARED_LIBS=OFF", "-DCMAKE_CXX_COMPILER=clang++"]
                   + launcher, cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "-S", ".", "-B", "build-emu-race", "-G", "Ninja",
                    "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DCONVNET_CUDA=OFF", "-DCONVNET_EMU_KERNEL_TESTS=ON",
                    "-DCONVNET_EMU_RACE=ON", "-DCONVNET_BUILD_TESTS=OFF", "-DCONVNET_BUILD_BENCH=OFF",
                    "-DCONVNET_BUILD_EXAMPLES=OFF", "-DCMAKE_CXX_COMPILER=g++"]
                   + launcher, cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)


def build(tree, checks):
    env = dict(os.environ, CCACHE_BASEDIR=tree, CCACHE_NOHASHDIR="1")
    targets = []
    if "kernels" in checks or "backend" in checks:
        want = (["emu/emu_kernel_tests"] if "kernels" in checks else []) + \
               (["tests/convnet_tests"] if "backend" in checks else [])
        targets.append(["cmake", "--build", "build-emu-sanitize", "--target"] +
                       [t.split("/")[-1] for t in want])
    if "race" in checks:
        targets.append(["cmake", "--build", "build-emu-race", "--target", "emu_kernel_tests"])
    for cmd in targets:
        code, out, _ = run(cmd, tree, 3600, env)
        if code != 0:
            return out
    return None


def check(tree, bug, name, logdir):
    env = dict(os.environ)
    if name == "kernels":
        cmd = ["build-emu-sanitize/emu/emu_kernel_tests"]
        env.update(ASAN_OPTIONS="halt_on_error=1:detect_leaks=0", UBSAN_OPTIONS="halt_on_error=1")
    elif name == "race":
        cmd = ["build-emu-race/emu/emu_kernel_tests"]
        env.update(TSAN_OPTIONS="halt_on_error=1:exitcode=66")
    else:
        cmd = ["build-emu-sanitize/tests/convnet_tests"]
        env.update(ASAN_OPTIONS="halt_on_error=1:detect_leaks=0", UBSAN_OPTIONS="halt_on_error=1",
                   CONVNET_TEST_SMALL="1", CONVNET_CUDA_GRID_CAP="3", CONVNET_EMU_ORDER="reverse")
    code, out, seconds = run(cmd + ["--gtest_filter=" + bug[name]], tree, 600, env,
                             os.path.join(logdir, "%s.%s.log" % (bug["id"], name)))
    ran = re.search(r"\[==========\] (\d+) tests? from", out)
    if code == 0:
        verdict = "missed" if ran and ran.group(1) != "0" else "no tests ran"
        return verdict, "", seconds
    return "caught", why(out), seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worktree", default="/tmp/convnet-planted")
    ap.add_argument("--only", default="")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    repo = subprocess.run(["git", "rev-parse", "--show-toplevel"], text=True, check=True,
                          stdout=subprocess.PIPE).stdout.strip()
    tree = args.worktree
    if not os.path.isdir(tree):
        subprocess.run(["git", "worktree", "add", "-f", "-B", "scratch/planted-bugs", tree, "HEAD"],
                       cwd=repo, check=True)
    # The MNIST tests read data/mnist of their source tree (scripts/fetch_mnist.py).
    if not os.path.exists(os.path.join(tree, "data")) and os.path.isdir(os.path.join(repo, "data")):
        os.symlink(os.path.join(repo, "data"), os.path.join(tree, "data"))
    configure(tree)
    logdir = os.path.join(tree, "planted-logs")
    os.makedirs(logdir, exist_ok=True)
    bugs = [b for b in BUGS if not args.only or b["id"] in args.only.split(",")]
    print("baseline build ...", flush=True)
    failure = build(tree, ["kernels", "race", "backend"])
    if failure:
        print(failure[-3000:])
        return 1
    # Every check must pass on the clean tree, or its "caught" would mean nothing.
    for bug in bugs:
        for name in bug["checks"]:
            verdict, reason, seconds = check(tree, bug, name, logdir)
            if verdict != "missed":
                print("baseline: %s check of %s does not pass on the clean tree: %s %s"
                      % (name, bug["id"], verdict, reason))
                return 1
    print("baseline: every check passes on the clean tree", flush=True)
    rows = []
    for bug in bugs:
        path = os.path.join(tree, bug["file"])
        text = open(path).read()
        if text.count(bug["old"]) != 1:
            rows.append((bug, {}, "does not apply: the text to replace is found %d times" % text.count(bug["old"])))
            print(rows[-1][2], bug["id"], flush=True)
            continue
        open(path, "w").write(text.replace(bug["old"], bug["new"]))
        try:
            failure = build(tree, bug["checks"])
            results = {}
            note = ""
            if failure:
                note = "build failed: " + failure[-300:]
            else:
                for name in bug["checks"]:
                    results[name] = check(tree, bug, name, logdir)
                    print("%-26s %-8s %-7s %6.1f s  %s" % (bug["id"], name, results[name][0],
                                                          results[name][2], results[name][1]), flush=True)
            rows.append((bug, results, note))
        finally:
            open(path, "w").write(text)
    build(tree, ["kernels", "race", "backend"])  # leave the builds matching the clean tree
    lines = ["| planted bug | file | kernels (ASan+UBSan) | race (TSan) | CUDA backend tests (ASan+UBSan) |",
             "|---|---|---|---|---|"]
    for bug, results, note in rows:
        cells = []
        for name in ("kernels", "race", "backend"):
            if name not in bug["checks"]:
                cells.append("n/a (host code)")
            elif name not in results:
                cells.append(note or "-")
            else:
                verdict, reason, seconds = results[name]
                cells.append("%s%s" % (verdict, (": " + reason.replace("|", "/")) if reason else ""))
        lines.append("| %s | %s | %s |" % (bug["what"], bug["file"], " | ".join(cells)))
    table = "\n".join(lines)
    print(table)
    if args.out:
        open(args.out, "w").write(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
