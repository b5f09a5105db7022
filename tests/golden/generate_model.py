#!/usr/bin/env python3
"""Whole-model golden files: the MNIST CNN computed by PyTorch, for convnet to match.

The model is examples/mnist_cnn's network built as torch.nn.Sequential with the
same layer order, so its state_dict keys are convnet's parameter names:

    0 Conv2d(1, 32, 5, 1, 2)  1 ReLU  2 MaxPool2d(2)
    3 Conv2d(32, 64, 5, 1, 2) 4 ReLU  5 MaxPool2d(2)
    6 Flatten                 7 Linear(3136, 10)

From PyTorch's own seeded initialisation (torch.manual_seed), on the first
BATCH images of the MNIST test set normalised as mnist_cnn does
((x/255 - 0.1307)/0.3081), it records

    initial.safetensors           the initial weights (a plain state dict)
    forward_backward.safetensors  input, labels (I32), logits, mean cross-entropy
                                  loss, the gradient of every parameter
                                  ("grad.0.weight", ...), and the loss before each
                                  optimizer step ("sgd.loss", "adam.loss", [STEPS])
    sgd.safetensors               the weights after STEPS steps of SGD (momentum,
                                  Nesterov, weight decay) from the initial weights
    adam.safetensors              the weights after STEPS steps of Adam, also from
                                  the initial weights

Every step is a fresh zero_grad/forward/backward/step on the same batch.

Why the arithmetic is float64 (as in generate_ops.py). The initial weights and
the input are float32, what convnet receives; PyTorch then computes everything
in float64 from those exact values (hyperparameters rounded to float32 first,
as convnet holds them) and rounds to float32 once at the end. A golden value is
then the exact answer to float32 precision rather than one float32 rounding path
among many, and it does not depend on which oneDNN/BLAS kernel this CPU's
instruction set selects. The script also runs PyTorch in float32 and prints how
far that lies from the files (~1e-7 to 4e-7; the weight changes ~4e-6): the
error a correct float32 implementation shows, next to the test's bound of 1e-5.

Each file carries one metadata entry, "config": JSON text with the PyTorch version,
the seed, the batch and every hyperparameter (sorted keys: one entry, because
safetensors writes several metadata entries in a random order). The C++ test
(tests/golden/model_equivalence_test.cpp) reads its hyperparameters from there.

What is left out, to stay small (~1.36 MB, four copies of the 83,466
parameters): the gradient of the input (layer 3's backward-data already
carries the chain), the optimizer state, intermediate weights.

Usage (needs torch, safetensors, numpy; MNIST in data/mnist):
    python tests/golden/generate_model.py           # writes tests/golden/model/
    python tests/golden/generate_model.py --check   # regenerates in a temp dir and
                                                    # compares byte for byte
Determinism: one CPU thread, deterministic algorithms, float64 arithmetic and
uniform_ initialisation (a serial kernel in PyTorch). A different float64 BLAS
could in principle flip the last bit of a rare element; --check then names the
file and the largest relative difference.
"""
import argparse
import filecmp
import json
import os
import sys
import tempfile

import numpy as np
import torch
from safetensors.torch import load_file, save_file

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_DIR = os.path.join(ROOT, "tests", "golden", "model")
FILES = ["initial.safetensors", "forward_backward.safetensors", "sgd.safetensors", "adam.safetensors"]

SEED = 1234
BATCH = 8          # the first BATCH images of the MNIST test set
STEPS = 3
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
# SGD as mnist_cnn runs it (Nesterov momentum 0.9, weight decay 5e-4), at its peak lr.
SGD = {"lr": 0.05, "momentum": 0.9, "dampening": 0.0, "weight_decay": 5e-4, "nesterov": True}
ADAM = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0}


def build_model():
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 32, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 10))


def read_idx(path, count):
    """The first `count` items of an IDX file (big-endian header, uint8 data)."""
    with open(path, "rb") as f:
        magic = int.from_bytes(f.read(4), "big")
        rank = magic & 0xFF
        dims = [int.from_bytes(f.read(4), "big") for _ in range(rank)]
        item = int(np.prod(dims[1:], dtype=np.int64)) if rank > 1 else 1
        data = np.frombuffer(f.read(count * item), dtype=np.uint8)
    return data.reshape([count] + dims[1:])


def mnist_batch(data_dir):
    images = read_idx(os.path.join(data_dir, "t10k-images-idx3-ubyte"), BATCH)
    labels = read_idx(os.path.join(data_dir, "t10k-labels-idx1-ubyte"), BATCH)
    x = torch.from_numpy(images.copy()).float().div(255.0).reshape(BATCH, 1, 28, 28)
    x = (x - MNIST_MEAN) / MNIST_STD
    return x.contiguous(), torch.from_numpy(labels.astype(np.int32))


def f32(value):
    """A hyperparameter rounded to float32, as convnet receives it."""
    return float(np.float32(value))


def state(model):
    """The state dict as float32 tensors (rounded once, from whatever precision the model holds)."""
    return {k: v.detach().to(torch.float32, copy=True).contiguous() for k, v in model.state_dict().items()}


def forward_backward(model, x, labels):
    model.zero_grad(set_to_none=True)
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits, labels.long())  # mean over the batch
    loss.backward()
    return logits, loss


def make_optimizer(name, params):
    if name == "sgd":
        return torch.optim.SGD(params, lr=f32(SGD["lr"]), momentum=f32(SGD["momentum"]),
                               dampening=f32(SGD["dampening"]), weight_decay=f32(SGD["weight_decay"]),
                               nesterov=SGD["nesterov"], foreach=False)
    return torch.optim.Adam(params, lr=f32(ADAM["lr"]), betas=(f32(ADAM["beta1"]), f32(ADAM["beta2"])),
                            eps=f32(ADAM["eps"]), weight_decay=f32(ADAM["weight_decay"]), foreach=False)


def compute(initial, x, labels, dtype):
    """Everything the files hold, computed by PyTorch in `dtype` from the float32 initial
    weights and input; returned as float32 tensors."""
    model = build_model().to(dtype)
    model.load_state_dict(initial)
    x = x.to(dtype)
    logits, loss = forward_backward(model, x, labels)
    result = {"logits": logits.detach().float().contiguous(), "loss": loss.detach().float().reshape(1)}
    for name, p in model.named_parameters():
        result["grad." + name] = p.grad.detach().float().contiguous()
    for name in ("sgd", "adam"):
        model.load_state_dict(initial)
        optimizer = make_optimizer(name, model.parameters())
        losses = []
        for _ in range(STEPS):  # a fresh zero_grad/forward/backward/step on the same batch
            optimizer.zero_grad(set_to_none=True)
            loss = forward_backward(model, x, labels)[1]
            optimizer.step()
            losses.append(loss.detach().float())
        result[name + ".loss"] = torch.stack(losses).contiguous()
        result[name + ".weights"] = state(model)
    return result


def relative_error(actual, expected):
    a, e = actual.double(), expected.double()
    return ((a - e).norm() / max(e.norm().item(), 1e-30)).item()


def float32_report(golden, pytorch_f32, initial):
    """How far PyTorch's own float32 run lies from the float64 golden values: the scale of
    error a correct float32 implementation shows (convnet's test allows 1e-5)."""
    worst = {}
    for key, value in pytorch_f32.items():
        if isinstance(value, dict):  # "sgd.weights": a state dict; also its change from the start
            pairs = [(key, value[name], golden[key][name]) for name in value]
            pairs += [(key.replace("weights", "updates"), value[name] - initial[name],
                       golden[key][name] - initial[name]) for name in value]
        else:
            group = "gradients" if key.startswith("grad.") else key
            pairs = [(group, value, golden[key])]
        for group, actual, expected in pairs:
            worst[group] = max(worst.get(group, 0.0), relative_error(actual, expected))
    return " | ".join("%s %.2e" % item for item in worst.items())


def generate(out_dir, data_dir):
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(SEED)
    initial = state(build_model())  # PyTorch's default initialisation, float32
    x, labels = mnist_batch(data_dir)
    golden = compute(initial, x, labels, torch.float64)
    pytorch_f32 = compute(initial, x, labels, torch.float32)

    record = {"input": x, "labels": labels}
    record.update({k: v for k, v in golden.items() if not k.endswith(".weights")})
    config = {
        "generator": "tests/golden/generate_model.py",
        "torch_version": torch.__version__.split("+")[0],
        "seed": SEED,
        "model": "mnist_cnn: Conv2d(1,32,5,1,2) ReLU MaxPool2d(2) Conv2d(32,64,5,1,2) ReLU "
                 "MaxPool2d(2) Flatten Linear(3136,10); PyTorch default initialisation (float32)",
        "batch": {"source": "MNIST t10k images and labels 0..%d" % (BATCH - 1), "size": BATCH,
                  "normalisation": "(x/255 - %g)/%g in float32" % (MNIST_MEAN, MNIST_STD)},
        "arithmetic": "float64 from the float32 initial weights and input, rounded to float32 "
                      "once at the end; hyperparameters rounded to float32 first",
        "loss": "cross_entropy, mean over the batch",
        "steps": STEPS,
        "step": "zero_grad, forward, backward, step; the same batch each step",
        "sgd": SGD,
        "adam": ADAM,
    }
    metadata = {"config": json.dumps(config, sort_keys=True)}
    os.makedirs(out_dir, exist_ok=True)
    save_file(initial, os.path.join(out_dir, "initial.safetensors"), metadata)
    save_file(record, os.path.join(out_dir, "forward_backward.safetensors"), metadata)
    save_file(golden["sgd.weights"], os.path.join(out_dir, "sgd.safetensors"), metadata)
    save_file(golden["adam.weights"], os.path.join(out_dir, "adam.safetensors"), metadata)
    return config, float32_report(golden, pytorch_f32, initial)


def max_relative_difference(a_path, b_path):
    a, b = load_file(a_path), load_file(b_path)
    if sorted(a) != sorted(b):
        return "different tensor names"
    worst = 0.0
    for k in a:
        if a[k].shape != b[k].shape or a[k].dtype != b[k].dtype:
            return "%s: different shape or dtype" % k
        diff = (a[k].double() - b[k].double()).norm() / max(b[k].double().norm().item(), 1e-30)
        worst = max(worst, diff.item())
    return "largest norm-wise relative difference %.3g" % worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="regenerate in a temporary directory and compare with the committed files")
    parser.add_argument("--data", default=os.path.join(ROOT, "data", "mnist"),
                        help="directory with the MNIST IDX files (default data/mnist)")
    parser.add_argument("--out", default=OUT_DIR, help="output directory (default tests/golden/model)")
    args = parser.parse_args()

    if not args.check:
        config, report = generate(args.out, args.data)
        total = 0
        for name in FILES:
            size = os.path.getsize(os.path.join(args.out, name))
            total += size
            print("wrote %s (%d bytes)" % (os.path.relpath(os.path.join(args.out, name), ROOT), size))
        print("total %d bytes; torch %s, seed %d" % (total, config["torch_version"], config["seed"]))
        print("PyTorch float32 vs these float64 values (norm-wise relative): " + report)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        report = generate(tmp, args.data)[1]
        print("PyTorch float32 vs the float64 values (norm-wise relative): " + report)
        failed = False
        for name in FILES:
            committed, fresh = os.path.join(args.out, name), os.path.join(tmp, name)
            if not os.path.exists(committed):
                print("MISSING %s" % committed)
                failed = True
            elif filecmp.cmp(committed, fresh, shallow=False):
                print("identical %s" % name)
            else:
                print("DIFFERENT %s: %s" % (name, max_relative_difference(fresh, committed)))
                failed = True
    print("check: " + ("FAILED (the committed files are not what this generator writes)" if failed
                       else "the committed files are reproduced byte for byte"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
