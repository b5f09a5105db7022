#!/usr/bin/env python3
"""Ours / cuDNN, from one Google Benchmark JSON run of convnet_cuda_bench.

Pairs BM_cuda_conv2d/<layer>/<pass>/implicit_gemm (and /direct) with
BM_cudnn_conv2d/<layer>/<pass>, and BM_cuda_softmax/<shape>/forward with
BM_cudnn_softmax/<shape>/forward, and prints a Markdown table of median times
and the ratio ours/cuDNN (below 1: ours is faster). Run with
--benchmark_repetitions so the medians exist; single runs are used otherwise.
"""
import json
import sys


def times(report):
    """name -> real time in microseconds (the median aggregate when present)."""
    plain, medians = {}, {}
    for b in report["benchmarks"]:
        if b.get("error_occurred"):
            continue
        name = b.get("run_name", b["name"])
        scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b.get("time_unit", "ns")]
        if b.get("aggregate_name") == "median":
            medians[name] = b["real_time"] * scale
        elif b.get("run_type", "iteration") == "iteration":
            plain.setdefault(name, b["real_time"] * scale)
    plain.update(medians)
    return plain


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: compare_cudnn.py BENCH.json")
    with open(sys.argv[1]) as f:
        report = json.load(f)
    t = times(report)
    rows = []
    for name, cudnn in sorted(t.items()):
        if not name.startswith("BM_cudnn_"):
            continue
        rest = name[len("BM_cudnn_"):]
        if rest.startswith("conv2d/"):
            candidates = [("implicit gemm", f"BM_cuda_{rest}/implicit_gemm"),
                          ("direct", f"BM_cuda_{rest}/direct")]
        else:
            candidates = [("kernel", f"BM_cuda_{rest}")]
        for label, ours_name in candidates:
            if ours_name in t:
                rows.append((rest, label, t[ours_name], cudnn, t[ours_name] / cudnn))
    context = report.get("context", {})
    print(f"GPU: {context.get('cuda_device', '?')}, {context.get('date', '?')}\n")
    print("| operation | ours | ours (us) | cuDNN (us) | ours / cuDNN |")
    print("| --- | --- | ---: | ---: | ---: |")
    for op, label, ours, cudnn, ratio in rows:
        print(f"| {op} | {label} | {ours:.1f} | {cudnn:.1f} | {ratio:.2f} |")
    if not rows:
        print("| (no pairs: was the cuDNN backend available?) | | | | |")


if __name__ == "__main__":
    main()
