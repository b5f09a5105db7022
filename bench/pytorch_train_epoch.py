#!/usr/bin/env python3
"""PyTorch's side of bench/train_epoch_bench.cpp: one training epoch in eager
mode on the CPU, same models, batch, optimizer and in-memory data (normalised
once; a batch is a slice view, no DataLoader), warm-up steps untimed alike.

  python bench/pytorch_train_epoch.py [--model cnn|resnet] [--images 60000]
      [--threads N] [--warmup 5] [--batch 64] [--data DIR]

Prints one line in train_epoch_bench's format, contender=pytorch.
"""
import argparse
import gzip
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_idx(dir, stem):
    """An unsigned-byte IDX file, raw or .gz, under either usual spelling."""
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        path = os.path.join(dir, name)
        if os.path.exists(path):
            raw = (gzip.open if name.endswith(".gz") else open)(path, "rb").read()
            ndim = raw[3]
            dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
            return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)
    raise SystemExit(f"pytorch_train_epoch: no {stem} in {dir}")


def cnn():  # examples/mnist_cnn.cpp's build_model
    return nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 10))


class BasicBlock(nn.Module):  # torchvision's, as nn::BasicBlock
    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


def resnet(widths=(16, 32, 64), blocks=(1, 1, 1)):  # nn::ResNet, resnet_fashion's defaults
    layers = [nn.Conv2d(1, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()]
    inplanes = widths[0]
    for k, (w, n) in enumerate(zip(widths, blocks)):
        for b in range(n):
            layers.append(BasicBlock(inplanes, w, 2 if k > 0 and b == 0 else 1))
            inplanes = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(inplanes, 10)]
    return nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["cnn", "resnet"], default="cnn")
    ap.add_argument("--images", type=int, default=60000)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--data")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    fashion = a.model == "resnet"
    dir = a.data or ("/usr/share/datasets/fashion-mnist" if fashion else os.path.join(ROOT, "data/mnist"))
    mean, std = (0.2860, 0.3530) if fashion else (0.1307, 0.3081)
    images = torch.from_numpy(read_idx(dir, "train-images-idx3-ubyte")[:a.images].copy())
    labels = torch.from_numpy(read_idx(dir, "train-labels-idx1-ubyte")[:a.images].astype(np.int64))
    x = ((images.float() / 255 - mean) / std).unsqueeze(1).contiguous()  # [N, 1, 28, 28]
    n = x.shape[0]

    torch.manual_seed(1)
    model = resnet() if fashion else cnn()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)

    def step(begin):
        loss = F.cross_entropy(model(x[begin:begin + a.batch]), labels[begin:begin + a.batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    for s in range(a.warmup):
        step((s * a.batch) % n)
    t0 = time.perf_counter()
    losses = [step(b) for b in range(0, n, a.batch)]
    seconds = time.perf_counter() - t0
    print(f"train_epoch contender=pytorch model={'resnet8' if fashion else 'mnist_cnn'} "
          f"threads={torch.get_num_threads()} batch={a.batch} images={n} seconds={seconds:.3f} "
          f"images_per_s={n / seconds:.1f} mean_loss={sum(losses) / len(losses):.4f} torch={torch.__version__}",
          flush=True)


if __name__ == "__main__":
    main()
