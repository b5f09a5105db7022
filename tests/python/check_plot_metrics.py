#!/usr/bin/env python3
"""Checks scripts/plot_metrics.py (argv[1]): a metrics CSV as Trainer writes it
becomes a PNG of the expected size (with and without test columns, --out and
the default name), and missing or malformed CSVs end with exit status 1 and one
line on stderr naming the file and the fault. Exit 77 (skip) without
matplotlib, unless CONVNET_REQUIRE_TOOLS=1, when that fails.
"""
import os
import struct
import subprocess
import sys
import tempfile

try:
    import matplotlib  # noqa: F401
except ImportError as e:
    required = os.environ.get("CONVNET_REQUIRE_TOOLS") == "1"
    print(f"{'error' if required else 'skipped'}: {e} (Debian: python3-matplotlib)")
    sys.exit(1 if required else 77)

SCRIPT = sys.argv[1]
HEADER = "epoch,train_loss,train_accuracy,test_loss,test_accuracy,lr,seconds,images_per_second\n"
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
    return condition


def run(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=120)


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def expect_png(result, path, what):
    if check(result.returncode == 0, f"{what}: exit {result.returncode}: {result.stderr}"):
        check(os.path.isfile(path), f"{what}: no {path}")
        check(png_size(path) == (1000, 400), f"{what}: {path} is {png_size(path)}, expected a 1000 x 400 PNG")


def expect_refusal(result, fragments, what):
    lines = result.stderr.strip().splitlines()
    check(result.returncode == 1, f"{what}: exit {result.returncode}, expected 1")
    check(len(lines) == 1 and lines[0].startswith("plot_metrics.py: error: "), f"{what}: stderr {result.stderr!r}")
    for fragment in fragments:
        check(fragment in result.stderr, f"{what}: stderr lacks {fragment!r}: {result.stderr!r}")


with tempfile.TemporaryDirectory() as d:
    def write(name, text):
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    full = write("full.csv", HEADER + "1,0.512345,0.842000,0.201000,0.940000,0.05,10.5,5714.3\n"
                                      "2,0.180000,0.946000,0.120000,0.962000,0.03,10.1,5940.6\n"
                                      "3,0.101000,0.970000,0.090000,0.971000,0.001,10.2,5882.4\n")
    out = os.path.join(d, "curves.png")
    expect_png(run(full, "--out", out, "--title", "MNIST CNN, 3 epochs"), out, "full CSV")

    no_test = write("no_test.csv", HEADER + "1,0.5,0.8,,,0.05,1.0,100.0\n2,0.4,0.85,,,0.05,1.0,100.0\n")
    expect_png(run(no_test), os.path.join(d, "no_test.png"), "CSV without test columns, default --out")

    missing = os.path.join(d, "nowhere.csv")
    expect_refusal(run(missing), [missing, "no such file"], "missing CSV")
    expect_refusal(run(d), [d, "directory"], "a directory")
    cases = {
        "empty.csv": ("", ["empty"]),
        "header_only.csv": (HEADER, ["no epochs"]),
        "wrong_header.csv": ("a,b,c\n1,2,3\n", ["header lacks", "train_loss"]),
        "not_a_number.csv": (HEADER + "1,abc,0.8,0.2,0.9,0.05,1,1\n", ["line 2", "train_loss", "abc"]),
        "short_row.csv": (HEADER + "1,0.5,0.8\n", ["line 2", "3 fields"]),
        "nan.csv": (HEADER + "1,nan,0.8,0.2,0.9,0.05,1,1\n", ["line 2", "finite"]),
        "half_test.csv": (HEADER + "1,0.5,0.8,0.2,0.9,0.05,1,1\n2,0.4,0.8,,,0.05,1,1\n", ["test_loss", "some epochs"]),
    }
    for name, (text, fragments) in cases.items():
        path = write(name, text)
        expect_refusal(run(path), [path] + fragments, name)
        check(not os.path.exists(path[:-4] + ".png"), f"{name}: a PNG was written anyway")
    unwritable = os.path.join(d, "no-such-folder", "x.png")
    expect_refusal(run(full, "--out", unwritable), [unwritable], "--out in a missing folder")

if failures:
    print(f"{len(failures)} failures:")
    for f in failures:
        print("  " + f)
    sys.exit(1)
print("ok: plot_metrics.py draws the CSVs and refuses the bad ones")
