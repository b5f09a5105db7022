#!/usr/bin/env python3
"""Weights that travel both ways between convnet and PyTorch, judged by MNIST test accuracy.

(a) convnet -> PyTorch: a checkpoint written by `mnist_cnn --save FILE` loads into
    the same network built as torch.nn.Sequential with safetensors.torch.load_file
    and load_state_dict(strict=True); PyTorch evaluates the 10,000 test images and
    `mnist_cnn --load FILE --eval-only` evaluates them too.
(b) PyTorch -> convnet: PyTorch trains the network itself (seeded; one epoch of
    SGD by default), saves its state dict with safetensors.torch.save_file, and
    both evaluate that file the same way.

Each direction prints both accuracies (and mean test losses) and MATCH when the
accuracies are equal (10,000 images: the two decimals mnist_cnn prints are the
exact count) and the losses agree to the four decimals mnist_cnn prints;
otherwise MISMATCH, and the script exits 1.

    python bench/pytorch/interop.py CHECKPOINT [--binary build/examples/mnist_cnn]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import safetensors
import torch
from safetensors.torch import load_file, save_file

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # mnist_cnn's normalisation: (x/255 - mean)/std


def build_model():
    """examples/mnist_cnn's network; state_dict keys 0.weight 0.bias 3.weight 3.bias 7.weight 7.bias."""
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 32, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 10))


def read_idx(path):
    with open(path, "rb") as f:
        magic = int.from_bytes(f.read(4), "big")
        dims = [int.from_bytes(f.read(4), "big") for _ in range(magic & 0xFF)]
        return np.frombuffer(f.read(), dtype=np.uint8).reshape(dims)


def load_split(data_dir, prefix):
    images = read_idx(os.path.join(data_dir, prefix + "-images-idx3-ubyte"))
    labels = read_idx(os.path.join(data_dir, prefix + "-labels-idx1-ubyte"))
    x = torch.from_numpy(images.copy()).float().div(255.0).unsqueeze(1)  # as mnist_cnn: float v/255
    return (x - MNIST_MEAN) / MNIST_STD, torch.from_numpy(labels.astype(np.int64))


@torch.no_grad()
def evaluate(model, images, labels):
    """(accuracy in %, mean cross-entropy) over the whole set, in batches of 500 like mnist_cnn."""
    model.eval()
    correct, loss_sum = 0, 0.0
    for begin in range(0, len(labels), 500):
        logits = model(images[begin:begin + 500])
        target = labels[begin:begin + 500]
        correct += (logits.argmax(dim=1) == target).sum().item()
        loss_sum += torch.nn.functional.cross_entropy(logits, target, reduction="sum").item()
    return 100.0 * correct / len(labels), loss_sum / len(labels)


def train_in_pytorch(images, labels, epochs, seed):
    torch.manual_seed(seed)
    model = build_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(labels), generator=generator)
        for begin in range(0, len(labels), 64):
            batch = order[begin:begin + 64]
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(images[batch]), labels[batch]).backward()
            optimizer.step()
    return model


def convnet_evaluate(binary, checkpoint, backend, data_dir):
    """Runs mnist_cnn --eval-only; returns (accuracy in %, loss, backend line) from its last line."""
    command = [binary, "--load", checkpoint, "--eval-only", "--backend", backend, "--data", data_dir]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit("mnist_cnn failed (exit %d): %s\n%s" % (run.returncode, " ".join(command),
                                                         run.stdout + run.stderr))
    match = re.search(r"test accuracy: ([0-9.]+)% \((\d+) images\), test loss ([0-9.]+), backend (\w+)",
                      run.stdout)
    if not match:
        sys.exit("no 'test accuracy: XX.XX%' line in mnist_cnn's output:\n" + run.stdout)
    return float(match.group(1)), float(match.group(3)), match.group(4)


def compare(title, checkpoint, torch_result, convnet_result):
    (t_acc, t_loss), (c_acc, c_loss, backend) = torch_result, convnet_result
    same = "%.2f" % t_acc == "%.2f" % c_acc and abs(t_loss - c_loss) <= 1.5e-4
    print(title)
    print("  file:    %s" % checkpoint)
    print("  PyTorch: test accuracy %.2f%%, test loss %.4f" % (t_acc, t_loss))
    print("  convnet: test accuracy %.2f%%, test loss %.4f  (mnist_cnn --eval-only, backend %s)"
          % (c_acc, c_loss, backend))
    print("  " + ("MATCH" if same else "MISMATCH"))
    return same


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", help="a model written by mnist_cnn --save")
    parser.add_argument("--binary", default=os.path.join(ROOT, "build", "examples", "mnist_cnn"),
                        help="the mnist_cnn program (default build/examples/mnist_cnn)")
    parser.add_argument("--backend", default="auto", help="mnist_cnn's --backend (default auto)")
    parser.add_argument("--data", default=os.path.join(ROOT, "data", "mnist"), help="MNIST IDX files")
    parser.add_argument("--epochs", type=int, default=1, help="PyTorch training epochs for (b)")
    parser.add_argument("--seed", type=int, default=0, help="PyTorch seed for (b)")
    parser.add_argument("--save-torch", help="where to keep (b)'s PyTorch checkpoint (default: a temp dir)")
    args = parser.parse_args()

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    print("PyTorch %s on the CPU (%d threads), safetensors %s, %s; mnist_cnn: %s"
          % (torch.__version__, torch.get_num_threads(), safetensors.__version__, time.strftime("%Y-%m-%d"),
             os.path.relpath(args.binary, ROOT)))
    test_images, test_labels = load_split(args.data, "t10k")
    ok = True

    # (a) convnet -> PyTorch
    model = build_model()
    model.load_state_dict(load_file(args.checkpoint), strict=True)
    ok &= compare("(a) convnet -> PyTorch: mnist_cnn's checkpoint, load_state_dict(strict=True)",
                  args.checkpoint, evaluate(model, test_images, test_labels),
                  convnet_evaluate(args.binary, args.checkpoint, args.backend, args.data))

    # (b) PyTorch -> convnet
    train_images, train_labels = load_split(args.data, "train")
    start = time.time()
    model = train_in_pytorch(train_images, train_labels, args.epochs, args.seed)
    trained = time.time() - start
    with tempfile.TemporaryDirectory() as tmp:
        path = args.save_torch or os.path.join(tmp, "pytorch_mnist_cnn.safetensors")
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path,
                  metadata={"trained_by": "PyTorch %s" % torch.__version__})
        ok &= compare("(b) PyTorch -> convnet: trained in PyTorch (%d epoch SGD lr 0.05 momentum 0.9, "
                      "batch 64, seed %d, %.0f s), save_file, mnist_cnn --load"
                      % (args.epochs, args.seed, trained),
                      path, evaluate(model, test_images, test_labels),
                      convnet_evaluate(args.binary, path, args.backend, args.data))

    print("interop: " + ("both directions MATCH" if ok else "MISMATCH"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
