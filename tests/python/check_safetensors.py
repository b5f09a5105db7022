#!/usr/bin/env python3
"""Checks that the Python `safetensors` package reads convnet's checkpoints.

Runs the fixture program (argv[1]) to write files plus the expected names,
dtypes, shapes, metadata and raw values, then loads every file with
safetensors.numpy and compares. The other way round, it writes a file with
safetensors.numpy and checks what the fixture's --dump reads from it, and
regenerates tests/io/fixtures/ (F16, BF16, F64, I64 files) with the installed
safetensors to check that convnet converts them as numpy does, whatever that
version's header order. With PyTorch installed, also loads the MNIST CNN into
torch.nn.Sequential with strict=True and compares a forward pass.
Exit 77 (skip) when safetensors or numpy is not installed.
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import numpy as np
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file
except ImportError as e:
    print(f"skipped: {e} (python3 -m pip install safetensors numpy)")
    sys.exit(77)

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
    return condition


def check_file(directory, spec):
    path = os.path.join(directory, spec["file"])
    loaded = load_file(path)
    names = [t["name"] for t in spec["tensors"]]
    check(sorted(loaded) == sorted(names), f"{spec['file']}: names {sorted(loaded)} != {sorted(names)}")
    with safe_open(path, framework="np") as f:
        metadata = f.metadata() or {}
    check(metadata == spec["metadata"], f"{spec['file']}: metadata {metadata} != {spec['metadata']}")

    raw = open(os.path.join(directory, spec["values"]), "rb").read()
    offset = 0
    for t in spec["tensors"]:
        dtype, shape = np.dtype(t["dtype"]).newbyteorder("<"), tuple(t["shape"])
        count = int(np.prod(shape, dtype=np.int64))
        expected = np.frombuffer(raw, dtype=dtype, count=count, offset=offset).reshape(shape)
        offset += count * dtype.itemsize
        got = loaded.get(t["name"])
        if not check(got is not None, f"{spec['file']}: {t['name']} missing"):
            continue
        check(got.dtype == dtype, f"{t['name']}: dtype {got.dtype} != {dtype}")
        check(got.shape == shape, f"{t['name']}: shape {got.shape} != {shape}")
        # Bit-level equality: NaN and -0 count too.
        check(got.shape == shape and got.tobytes() == expected.tobytes(), f"{t['name']}: values differ")
    check(offset == len(raw), f"{spec['values']}: {len(raw) - offset} bytes unaccounted for")
    print(f"ok: {spec['file']}: {len(names)} tensors, metadata {metadata}")


def check_we_read_their_file(fixture, directory):
    path = os.path.join(directory, "theirs.safetensors")
    arrays = {
        "z.last_by_name": np.arange(-3, 4, dtype=np.int32).reshape(7, 1),
        "conv.weight": np.random.default_rng(1).standard_normal((4, 3, 5, 2)).astype(np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "scalar": np.array(2.5, dtype=np.float32),
    }
    metadata = {"format": "np", "epoch": "12"}
    save_file(arrays, path, metadata=metadata)
    seen = json.loads(subprocess.run([fixture, "--dump", path], check=True,
                                     capture_output=True, text=True).stdout)
    check(seen["metadata"] == metadata, f"theirs: metadata {seen['metadata']} != {metadata}")
    names = sorted(t["name"] for t in seen["tensors"])
    check(names == sorted(arrays), f"theirs: names {names} != {sorted(arrays)}")
    for t in seen["tensors"]:
        want = arrays.get(t["name"])
        if want is None:
            continue
        got = np.array(t["values"], dtype=t["dtype"]).reshape(t["shape"])
        check(got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want),
              f"theirs: {t['name']} read as {got.dtype} {got.shape}, differs from what was written")
    print(f"ok: convnet reads a file written by safetensors.numpy ({len(names)} tensors)")


def dump(fixture, path):
    return json.loads(subprocess.run([fixture, "--dump", str(path)], check=True,
                                     capture_output=True, text=True).stdout)


def check_we_convert_their_dtypes(fixture, directory):
    """Each file of tests/io/fixtures/generate.py holds tensors of a PyTorch dtype
    beside numpy's conversion of them ("expected*"): convnet's reading must give
    numpy's bits (NaN: NaN of the same sign, for F64, whose NaN payload after a
    cast is the hardware's) and report exactly the converted tensors."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "io" / "fixtures"))
    import generate
    out = Path(directory) / "pytorch_dtypes"
    out.mkdir()
    generate.write_all(out)
    pairs = {"f16.safetensors": {"values": "expected_values", "scalar": "expected_scalar",
                                 "matrix": "expected_matrix"},
             "bf16.safetensors": {"values": "expected"},
             "f64.safetensors": {"values": "expected", "scalar": "expected_scalar"},
             "i64.safetensors": {"values": "expected"}}
    for name, wanted in pairs.items():
        seen = dump(fixture, out / name)
        tensors = {t["name"]: t for t in seen["tensors"]}
        for got_name, want_name in wanted.items():
            got, want = tensors[got_name], tensors[want_name]
            check(got["dtype"] == want["dtype"] and got["shape"] == want["shape"],
                  f"{name}: {got_name} is {got['dtype']} {got['shape']}, "
                  f"expected {want['dtype']} {want['shape']}")
            if got["dtype"] == "int32":
                check(got["values"] == want["values"], f"{name}: {got_name} values differ")
                continue
            for i, (a, b) in enumerate(zip(got["bits"], want["bits"])):
                nan_a, nan_b = (a & 0x7FFFFFFF) > 0x7F800000, (b & 0x7FFFFFFF) > 0x7F800000
                same = (nan_a and nan_b and a >> 31 == b >> 31) if name == "f64.safetensors" and nan_b else a == b
                check(same, f"{name}: {got_name}[{i}] is {a:#010x}, numpy says {b:#010x}")
        converted = sorted(c["name"] for c in seen["conversions"])
        check(converted == sorted(wanted), f"{name}: converted {converted} != {sorted(wanted)}")
        if name == "f64.safetensors":
            overflowed = {c["name"]: c["overflowed"] for c in seen["conversions"]}
            check(str(overflowed.get("values")) == seen["metadata"]["overflowed"],
                  f"{name}: overflowed {overflowed} != {seen['metadata']['overflowed']}")
    refused = subprocess.run([fixture, "--dump", str(out / "i64_too_large.safetensors")],
                             capture_output=True, text=True)
    check(refused.returncode != 0 and "\"steps\"" in refused.stderr and "2147483648" in refused.stderr,
          f"i64_too_large: expected a range error naming steps, got {refused.stderr.strip()!r}")
    print(f"ok: convnet converts F16, BF16, F64 and I64 written by safetensors {safetensors_version()}"
          " as numpy does")


def safetensors_version():
    import safetensors
    return safetensors.__version__


def check_with_torch(directory):
    try:
        import torch
        from safetensors.torch import load_file as load_torch
    except ImportError:
        print("note: torch not installed; skipped the load_state_dict check")
        return
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 32, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(32, 64, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(64 * 7 * 7, 10))
    model.load_state_dict(load_torch(os.path.join(directory, "mnist_cnn.safetensors")), strict=True)
    forward = load_torch(os.path.join(directory, "forward.safetensors"))
    with torch.no_grad():
        logits = model(forward["input"])
    error = (logits - forward["logits"]).norm() / forward["logits"].norm()
    check(error < 1e-4, f"torch forward differs from convnet's: relative error {error:.3g}")
    print(f"ok: torch loads mnist_cnn (strict) and its forward pass matches (rel. error {error:.2g})")


def main():
    if len(sys.argv) != 2:
        print("usage: check_safetensors.py SAFETENSORS_FIXTURE")
        return 2
    with tempfile.TemporaryDirectory() as directory:
        subprocess.run([sys.argv[1], directory], check=True)
        with open(os.path.join(directory, "expected.json")) as f:
            specs = json.load(f)
        for spec in specs:
            check_file(directory, spec)
        check_we_read_their_file(sys.argv[1], directory)
        check_we_convert_their_dtypes(sys.argv[1], directory)
        check_with_torch(directory)
    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
