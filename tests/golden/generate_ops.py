#!/usr/bin/env python3
"""Golden files for every operation of the Backend interface, computed by PyTorch.

convnet's CPU backend is the reference its GPU backends are held to, so a
misunderstanding in it would be copied into every kernel. This script holds the
reference itself to PyTorch: for each case it draws seeded random float32
inputs with a torch.Generator, computes the forward result and every gradient
with autograd, and writes one small safetensors file under tests/golden/ops/.
tests/golden/golden_ops_test.cpp replays every file on every available backend.

Why the arithmetic is float64. Inputs are float32 (they are what convnet
receives), but the reference values are computed by PyTorch in float64 from
those exact float32 inputs and rounded to float32 once at the end. A golden value
is then the exact answer to float32 precision instead of one float32 rounding
path among many, and it does not depend on which oneDNN/BLAS kernel the CPU's
instruction set selects, which is what lets the files regenerate byte-for-byte
beyond the machine that wrote them (same PyTorch version assumed).
Scalar parameters (alpha, lr, betas, eps, ...) are rounded to float32 before
PyTorch sees them, because convnet receives them as floats.

Dropout: PyTorch's random stream is not ours, so the mask is convnet's rule
(include/convnet/random.hpp), mask_i = (u_i >= p) / (1 - p) with
u_i = philox_uniform(seed, offset, i), ported to numpy in philox.py and checked
against Random123's known-answer vectors; PyTorch then computes
output = input * mask and its backward.

Usage:
  python tests/golden/generate_ops.py            # (re)writes tests/golden/ops/
  python tests/golden/generate_ops.py --check    # regenerates into a temporary
      directory and compares bytes with tests/golden/ops/; exit 1 on any difference
"""
import argparse
import json
import re
import shutil
import struct
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_save

import philox  # tests/golden/philox.py: convnet's Philox4x32-10 and dropout mask in numpy

HERE = Path(__file__).resolve().parent
OPS_DIR = HERE / "ops"


def f32(value):
    """A Python float rounded to float32, as convnet receives its scalar parameters."""
    return float(np.float32(value))


# ---------------------------------------------------------------------------
# Seeded inputs and the float64 reference.

class Draw:
    """Seeded float32 inputs for one case (one torch.Generator per case).

    Normals are drawn in float64 and rounded, which keeps the draw on PyTorch's
    scalar path (identical on every CPU) rather than its vectorised float32 one."""

    def __init__(self, seed):
        self.generator = torch.Generator().manual_seed(seed)

    def randn(self, shape, std=1.0, mean=0.0):
        values = torch.randn(tuple(shape), dtype=torch.float64, generator=self.generator)
        return (values * std + mean).float()

    def uniform(self, shape, low, high):
        values = torch.rand(tuple(shape), dtype=torch.float64, generator=self.generator)
        return (values * (high - low) + low).float()

    def integers(self, shape, low, high):
        return torch.randint(low, high, tuple(shape), generator=self.generator)

    def quantized(self, shape, levels, step=0.5):
        """Values on a coarse grid (0, step, ..., (levels-1)*step): ties everywhere."""
        return (self.integers(shape, 0, levels).double() * step).float()

    def signs(self, shape):
        return (self.integers(shape, 0, 2) * 2 - 1).float()


def leaf(tensor):
    """A float64 copy of a float32 input that autograd differentiates with respect to."""
    return tensor.detach().double().requires_grad_(True)


def out32(tensor):
    return tensor.detach().float().contiguous()


def scalar32(tensor):
    """A loss (0-d) as a one-element float32 tensor, the shape convnet writes."""
    return out32(tensor).reshape(1)


def num(value):
    """A number for a file name that is also a gtest name: 0.5 -> 0p5, -1.3 -> m1p3."""
    return f"{value:g}".replace("-", "m").replace(".", "p")


def pair(a, b):
    return f"{a}" if a == b else f"{a}x{b}"


def shape_tag(shape):
    return "x".join(str(d) for d in shape)


# ---------------------------------------------------------------------------
# The cases. Each builder returns (params, tensors); the case name fixes the seed.

CASES = []  # (name, op, params, build), in the order they are written


def case(name, op, params, build):
    CASES.append((name, op, params, build))


def weighted_layer_tensors(d, x, wt, b, xl, wl, bl, y):
    """Backpropagates a seeded upstream gradient through y and returns the case's
    tensors, with a prior gradient for the accumulate=true paths (conv2d, linear)."""
    dy = d.randn(y.shape)
    y.backward(dy.double())
    prior = d.randn(wt.shape)
    t = {"input": x, "weight": wt, "output": out32(y), "grad_output": dy,
         "grad_input": out32(xl.grad), "grad_weight": out32(wl.grad),
         "grad_weight_prior": prior, "grad_weight_accumulated": out32(prior.double() + wl.grad)}
    if b is not None:
        bias_prior = d.randn(b.shape)
        t.update({"bias": b, "grad_bias": out32(bl.grad), "grad_bias_prior": bias_prior,
                  "grad_bias_accumulated": out32(bias_prior.double() + bl.grad)})
    return t


def conv2d_cases():
    # n, c, h, w, k, (r, s), (stride), (pad), (dilation), bias
    shapes = [
        (1, 1, 5, 5, 1, (3, 3), (1, 1), (0, 0), (1, 1), True),
        (2, 3, 7, 5, 4, (3, 3), (2, 2), (1, 1), (1, 1), True),
        (3, 2, 9, 8, 5, (3, 2), (1, 2), (2, 0), (2, 1), False),
        (1, 5, 6, 11, 3, (1, 1), (2, 1), (0, 0), (1, 1), True),
        (2, 4, 10, 10, 6, (5, 5), (1, 1), (2, 2), (1, 1), True),
        (2, 3, 8, 9, 2, (3, 3), (3, 2), (1, 2), (2, 2), True),
        (1, 1, 28, 28, 4, (5, 5), (1, 1), (2, 2), (1, 1), True),   # the MNIST CNN's first conv, N=1
        (1, 2, 8, 8, 3, (3, 3), (3, 3), (0, 0), (1, 1), False),    # stride skips the last rows
        (2, 2, 5, 6, 3, (5, 4), (2, 1), (1, 1), (1, 1), True),     # kernel nearly the padded input
    ]
    for n, c, h, w, k, (r, s), stride, pad, dil, bias in shapes:
        name = (f"conv2d__n{n}_c{c}_{h}x{w}_k{k}_r{pair(r, s)}"
                f"_st{pair(*stride)}_p{pair(*pad)}_d{pair(*dil)}" + ("" if bias else "_nobias"))
        params = {"stride": list(stride), "padding": list(pad), "dilation": list(dil), "bias": bias}

        def build(d, n=n, c=c, h=h, w=w, k=k, r=r, s=s, stride=stride, pad=pad, dil=dil, bias=bias):
            x, wt = d.randn((n, c, h, w)), d.randn((k, c, r, s), 0.2)
            b = d.randn((k,)) if bias else None
            xl, wl = leaf(x), leaf(wt)
            bl = leaf(b) if bias else None
            y = F.conv2d(xl, wl, bl, stride=stride, padding=pad, dilation=dil)
            return weighted_layer_tensors(d, x, wt, b, xl, wl, bl, y)

        case(name, "conv2d", params, build)


def bias_backward_cases():
    for shape in [(2, 3, 5, 7), (17, 10), (1, 5, 1, 1), (3, 4, 6)]:
        def build(d, shape=shape):
            dy = d.randn(shape)
            prior = d.randn((shape[1],))
            total = dy.double().sum(dim=[i for i in range(len(shape)) if i != 1])
            return {"grad_output": dy, "grad_bias": out32(total), "grad_bias_prior": prior,
                    "grad_bias_accumulated": out32(prior.double() + total)}

        case(f"bias_backward__{shape_tag(shape)}", "bias_backward", {}, build)


def pool2d_cases():
    # n, c, h, w, kernel, stride, padding, ceil_mode
    geometries = [
        (2, 3, 8, 8, (2, 2), (2, 2), (0, 0), False),
        (1, 1, 7, 5, (3, 3), (2, 2), (1, 1), False),
        (3, 2, 9, 6, (3, 2), (2, 1), (1, 0), True),
        (2, 2, 6, 7, (3, 3), (3, 3), (1, 1), True),   # the last window hangs past the padding
        (1, 3, 6, 6, (3, 3), (2, 2), (1, 1), True),   # the same, with overlapping windows
        (1, 2, 5, 5, (4, 4), (2, 2), (2, 2), False),  # padding = kernel / 2, the most allowed
        (1, 2, 5, 5, (2, 2), (1, 1), (0, 0), False),  # overlapping windows
    ]
    for mode in ["max", "avg_include_pad", "avg_exclude_pad"]:
        for n, c, h, w, kernel, stride, pad, ceil in geometries:
            fills = ["randn", "ties"] if mode == "max" else ["randn"]
            if mode == "max" and (stride == (1, 1) or ceil):
                fills.append("nan")
            for fill in fills:
                name = (f"pool2d__{mode}_n{n}_c{c}_{h}x{w}_k{pair(*kernel)}_st{pair(*stride)}"
                        f"_p{pair(*pad)}" + ("_ceil" if ceil else "") +
                        ("" if fill == "randn" else f"_{fill}"))
                params = {"mode": mode, "kernel": list(kernel), "stride": list(stride),
                          "padding": list(pad), "ceil_mode": ceil, "fill": fill}

                def build(d, shape=(n, c, h, w), mode=mode, kernel=kernel, stride=stride, pad=pad,
                          ceil=ceil, fill=fill):
                    if fill == "ties":
                        x = d.quantized(shape, 3)
                    else:
                        x = d.randn(shape)
                    if fill == "nan":
                        # NaN must win its windows (and two NaNs share some windows); a
                        # plane of -inf makes every maximum -inf, tied with the padding.
                        spots = d.uniform(shape, 0.0, 1.0)
                        x = torch.where(spots < 0.12, torch.tensor(float("nan")), x)
                        x[-1, -1] = float("-inf")
                    xl = leaf(x)
                    if mode == "max":
                        y, argmax = F.max_pool2d(xl, kernel, stride, pad, ceil_mode=ceil,
                                                 return_indices=True)
                    else:
                        y = F.avg_pool2d(xl, kernel, stride, pad, ceil_mode=ceil,
                                         count_include_pad=(mode == "avg_include_pad"))
                    dy = d.randn(y.shape)
                    y.backward(dy.double())
                    t = {"input": x, "output": out32(y), "grad_output": dy,
                         "grad_input": out32(xl.grad)}
                    if mode == "max":
                        t["argmax"] = argmax.to(torch.int32)
                    return t

                case(name, "pool2d", params, build)


def activation_cases():
    functions = {
        "relu": lambda x, alpha: F.relu(x),
        "leaky_relu": lambda x, alpha: F.leaky_relu(x, alpha),
        "sigmoid": lambda x, alpha: torch.sigmoid(x),
        "tanh": lambda x, alpha: torch.tanh(x),
    }
    # (shape, fill, alpha): "zeros" puts exact zeros (the kink) in the input,
    # "large" adds saturating values of magnitude 20-100.
    variants = {
        "relu": [((1, 1), "randn", 0.0), ((3, 7), "randn", 0.0), ((2, 3, 5, 7), "zeros", 0.0)],
        "leaky_relu": [((3, 7), "randn", 0.01), ((2, 3, 5, 7), "zeros", 0.2)],
        "sigmoid": [((3, 7), "randn", 0.0), ((2, 3, 5, 7), "large", 0.0)],
        "tanh": [((3, 7), "randn", 0.0), ((2, 3, 5, 7), "large", 0.0)],
    }
    for activation, cases in variants.items():
        for shape, fill, alpha in cases:
            name = f"activation__{activation}_{shape_tag(shape)}" + ("" if fill == "randn" else f"_{fill}")
            if activation == "leaky_relu":
                name += f"_alpha{num(alpha)}"
            params = {"activation": activation, "alpha": alpha, "fill": fill}

            def build(d, shape=shape, fill=fill, alpha=alpha, fn=functions[activation]):
                if fill == "zeros":
                    x = ((d.integers(shape, 0, 5) - 2).double() * 0.5).float()
                else:
                    x = d.randn(shape, 3.0)
                if fill == "large":
                    big = d.uniform(shape, 20.0, 100.0) * d.signs(shape)
                    x = torch.where(d.uniform(shape, 0.0, 1.0) < 0.3, big, x)
                xl = leaf(x)
                y = fn(xl, f32(alpha))
                dy = d.randn(shape)
                y.backward(dy.double())
                return {"input": x, "output": out32(y), "grad_output": dy, "grad_input": out32(xl.grad)}

            case(name, "activation", params, build)


def softmax_cases():
    # (shape, fill): "large" = 1000 + noise, "mixed" = rows at +1000, -1000 and with a spread of 100
    variants = [((1, 1), "randn"), ((5, 10), "randn"), ((2, 1000), "randn"), ((2, 7, 3, 5), "randn"),
                ((1, 37, 2, 3), "randn"), ((4, 10), "large"), ((3, 10), "mixed"), ((2, 5, 2, 2), "large")]
    for log in [False, True]:
        op = "log_softmax" if log else "softmax"
        for shape, fill in variants:
            name = f"{op}__{shape_tag(shape)}" + ("" if fill == "randn" else f"_{fill}")

            def build(d, shape=shape, fill=fill, log=log):
                if fill == "randn":
                    x = d.randn(shape, 5.0)
                elif fill == "large":
                    x = d.randn(shape, 3.0, 1000.0)
                else:
                    x = d.randn(shape, 3.0)
                    x[0] += 1000.0
                    x[1] -= 1000.0
                    x[2] *= 30.0
                xl = leaf(x)
                y = F.log_softmax(xl, 1) if log else F.softmax(xl, 1)
                dy = d.randn(shape)
                y.backward(dy.double())
                return {"input": x, "output": out32(y), "grad_output": dy, "grad_input": out32(xl.grad)}

            case(name, op, {"fill": fill}, build)


def linear_cases():
    for n, features_in, features_out, bias in [(1, 1, 1, True), (5, 7, 3, True), (17, 33, 10, True),
                                               (4, 64, 10, False), (1, 196, 12, True)]:
        name = f"linear__n{n}_in{features_in}_out{features_out}" + ("" if bias else "_nobias")

        def build(d, n=n, fi=features_in, fo=features_out, bias=bias):
            x, wt = d.randn((n, fi)), d.randn((fo, fi), fi ** -0.5)
            b = d.randn((fo,)) if bias else None
            xl, wl = leaf(x), leaf(wt)
            bl = leaf(b) if bias else None
            y = F.linear(xl, wl, bl)
            return weighted_layer_tensors(d, x, wt, b, xl, wl, bl, y)

        case(name, "linear", {"bias": bias}, build)


def loss_cases():
    # Fused softmax + NLL: loss = F.cross_entropy (mean over rows, with
    # label_smoothing where given); the file's grad_logits is d(scale * loss)/d(logits).
    for n, classes, fill, scale, smoothing in [
            (1, 1, "randn", 1.0, 0.0), (5, 10, "randn", 1.0, 0.0), (16, 10, "large", 1.0, 0.0),
            (3, 7, "spread", 1.0, 0.0), (8, 13, "randn", 2.5, 0.0), (12, 10, "randn", 1.0, 0.1),
            (6, 7, "large", 0.5, 0.3), (4, 5, "spread", 1.0, 1.0)]:
        name = f"softmax_cross_entropy__n{n}_c{classes}" + ("" if fill == "randn" else f"_{fill}")
        if scale != 1.0:
            name += f"_scale{num(scale)}"
        if smoothing != 0.0:
            name += f"_smooth{num(smoothing)}"

        def build(d, n=n, classes=classes, fill=fill, scale=scale, smoothing=smoothing):
            if fill == "large":
                x = d.randn((n, classes), 3.0, 1000.0)
            elif fill == "spread":
                x = d.randn((n, classes), 300.0)  # probabilities of exactly 0 and 1 in float32
            else:
                x = d.randn((n, classes), 3.0)
            labels = d.integers((n,), 0, classes).to(torch.int32)
            xl = leaf(x)
            loss = F.cross_entropy(xl, labels.long(), label_smoothing=f32(smoothing))
            (loss * f32(scale)).backward()
            return {"logits": x, "labels": labels, "loss": scalar32(loss),
                    "probs": out32(F.softmax(xl, 1)), "grad_logits": out32(xl.grad)}

        params = {"scale": scale, "fill": fill}
        if smoothing != 0.0:  # files without it are the plain loss
            params["label_smoothing"] = smoothing
        case(name, "softmax_cross_entropy", params, build)

    for shape, scale in [((3, 7), 1.0), ((2, 3, 4, 5), 0.25), ((1, 1), 1.0)]:
        name = f"mse__{shape_tag(shape)}" + ("" if scale == 1.0 else f"_scale{num(scale)}")

        def build(d, shape=shape, scale=scale):
            p, t = d.randn(shape), d.randn(shape)
            pl = leaf(p)
            loss = F.mse_loss(pl, t.double())
            (loss * f32(scale)).backward()
            return {"prediction": p, "target": t, "loss": scalar32(loss),
                    "grad_prediction": out32(pl.grad)}

        case(name, "mse", {"scale": scale}, build)

    # Targets in [0, 1]: exact 0 and 1 and soft values; "large" logits up to |x| = 100.
    for shape, fill, scale in [((4, 5), "randn", 1.0), ((2, 3, 3, 3), "large", 1.0), ((7,), "large", 0.5)]:
        name = f"bce_with_logits__{shape_tag(shape)}" + ("" if fill == "randn" else f"_{fill}")
        if scale != 1.0:
            name += f"_scale{num(scale)}"

        def build(d, shape=shape, fill=fill, scale=scale):
            x = d.randn(shape, 3.0)
            if fill == "large":
                big = d.uniform(shape, 15.0, 100.0) * d.signs(shape)
                x = torch.where(d.uniform(shape, 0.0, 1.0) < 0.5, big, x)
            soft = d.uniform(shape, 0.0, 1.0)
            hard = d.integers(shape, 0, 2).float()
            t = torch.where(d.uniform(shape, 0.0, 1.0) < 0.5, hard, soft)
            xl = leaf(x)
            loss = F.binary_cross_entropy_with_logits(xl, t.double())
            (loss * f32(scale)).backward()
            return {"logits": x, "target": t, "loss": scalar32(loss), "grad_logits": out32(xl.grad)}

        case(name, "bce_with_logits", {"scale": scale, "fill": fill}, build)

    # Hinge, PyTorch terms: torch.clamp(margin - t*s, min=0).mean(). Scores are kept
    # at least 0.05 away from the kink, where the subgradient is a convention.
    for shape, margin, scale in [((5, 4), 0.0, 1.0), ((5, 4), 1.0, 1.0), ((16,), 1.0, 1.0),
                                 ((2, 3, 4, 4), 1.0, 3.0), ((2, 3, 4, 4), 0.0, 1.0)]:
        name = (f"hinge__{shape_tag(shape)}_margin{num(margin)}"
                + ("" if scale == 1.0 else f"_scale{num(scale)}"))

        def build(d, shape=shape, margin=margin, scale=scale):
            t = d.signs(shape)
            s = d.randn(shape, 1.5)
            slack = margin - t * s
            s = torch.where(slack.abs() < 0.05, s - t * 0.1, s)  # push off the kink
            assert ((margin - t.double() * s.double()).abs() >= 0.05).all()
            sl = leaf(s)
            loss = torch.clamp(f32(margin) - t.double() * sl, min=0).mean()
            (loss * f32(scale)).backward()
            return {"scores": s, "target": t, "loss": scalar32(loss), "grad_scores": out32(sl.grad)}

        case(name, "hinge", {"margin": margin, "scale": scale}, build)


def dropout_cases():
    # Seeds and offsets above 2^32 exercise the high words of Philox's key and counter.
    for shape, p, seed, offset in [((3, 7), 0.3, 1234, 7), ((2, 3, 5, 7), 0.5, (1 << 40) + 5, (1 << 33) + 1),
                                   ((1, 1), 0.1, 1, 0), ((4, 33), 0.9, 99, 12345), ((2, 9), 0.0, 7, 3)]:
        name = f"dropout__{shape_tag(shape)}_p{num(p)}_seed{seed}_offset{offset}"

        def build(d, shape=shape, p=p, seed=seed, offset=offset):
            x, dy = d.randn(shape), d.randn(shape)
            mask = philox.dropout_mask(shape, p, seed, offset)
            xl = leaf(x)
            y = xl * mask.double()
            y.backward(dy.double())
            return {"input": x, "mask": mask, "output": out32(y), "grad_output": dy,
                    "grad_input": out32(xl.grad)}

        case(name, "dropout", {"p": p, "philox_seed": seed, "philox_offset": offset}, build)


def elementwise_cases():
    for shape, value, dtype in [((3, 7), -1.75, "f32"), ((2, 3, 4, 5), 0.1, "f32"), ((5,), 3.0, "i32"),
                                ((4, 3), -2.7, "i32")]:
        def build(d, shape=shape, value=value, dtype=dtype):
            torch_dtype = torch.float32 if dtype == "f32" else torch.int32
            return {"output": torch.full(shape, f32(value), dtype=torch_dtype)}

        case(f"fill__{shape_tag(shape)}_{dtype}_value{num(value)}", "fill", {"value": value}, build)

    for shape in [(1, 1), (3, 7), (2, 3, 5, 7)]:
        def build(d, shape=shape):
            a, b = d.randn(shape), d.randn(shape, 10.0)
            return {"a": a, "b": b, "output": out32(a.double() + b.double())}

        case(f"add__{shape_tag(shape)}", "add", {}, build)

    for shape, alpha in [((3, 7), 0.5), ((2, 3, 5, 7), -1.3), ((4,), 0.0)]:
        def build(d, shape=shape, alpha=alpha):
            x = d.randn(shape)
            return {"input": x, "output": out32(f32(alpha) * x.double())}

        case(f"scale__{shape_tag(shape)}_alpha{num(alpha)}", "scale", {"alpha": alpha}, build)


def count_correct_cases():
    # fill "ties": logits on a 3-level grid, so most rows have tied maxima; each
    # label is drawn among its row's maxima, so it is sometimes a later tied
    # maximum, which must not count (torch.argmax picks the first). "ties_last":
    # every label is its row's last maximum, so only rows with a single maximum
    # count. "nan": some rows hold NaN, which argmax takes as the maximum (the first NaN).
    for n, classes, fill in [(1, 1, "randn"), (16, 10, "randn"), (64, 5, "ties"), (20, 4, "ties_last"),
                             (12, 6, "nan")]:
        name = f"count_correct__n{n}_c{classes}" + ("" if fill == "randn" else f"_{fill}")

        def build(d, n=n, classes=classes, fill=fill):
            if fill in ("ties", "ties_last"):
                x = d.quantized((n, classes), 3)
                is_max = x == x.max(dim=1, keepdim=True).values
                if fill == "ties":
                    choice = d.uniform((n, classes), 0.0, 1.0) * is_max.float()
                else:
                    choice = torch.arange(1, classes + 1, dtype=torch.float32) * is_max.float()
                labels = choice.argmax(dim=1)
            else:
                x = d.randn((n, classes))
                labels = torch.where(d.uniform((n,), 0.0, 1.0) < 0.5, x.argmax(dim=1),
                                     d.integers((n,), 0, classes))
                if fill == "nan":
                    x = torch.where(d.uniform((n, classes), 0.0, 1.0) < 0.2,
                                    torch.tensor(float("nan")), x)
                    labels = torch.where(d.uniform((n,), 0.0, 1.0) < 0.5, x.argmax(dim=1), labels)
            correct = (x.argmax(dim=1) == labels).sum().to(torch.int32).reshape(1)
            prior = torch.tensor([5], dtype=torch.int32)
            return {"logits": x, "labels": labels.to(torch.int32), "correct": correct,
                    "correct_prior": prior, "correct_accumulated": prior + correct}

        case(name, "count_correct", {"fill": fill}, build)


STEPS = 3


def optimizer_case(name, op, params, shape, make_optimizer, state_names):
    """Three steps of a torch.optim optimizer on one parameter with seeded grads;
    saves the parameter and the named state after each step. lr may change per step."""

    def build(d):
        param = d.randn(shape)
        grads = [d.randn(shape) for _ in range(STEPS)]
        p = torch.nn.Parameter(param.double())
        opt = make_optimizer([p])
        t = {"param_0": param}
        for k in range(1, STEPS + 1):
            opt.param_groups[0]["lr"] = f32(params["lr"][k - 1])
            p.grad = grads[k - 1].double()
            opt.step()
            t[f"grad_{k}"] = grads[k - 1]
            t[f"param_{k}"] = out32(p)
            for state_name in state_names:
                t[f"{state_name}_{k}"] = out32(opt.state[p][state_name])
        return t

    case(name, op, params, build)


def optimizer_cases():
    sgd = [
        ("plain", (5, 7), {"lr": [0.1] * 3, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0,
                           "nesterov": False}),
        ("momentum_dampening_wd", (3, 4, 3, 3),
         {"lr": [0.05] * 3, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01, "nesterov": False}),
        ("nesterov_wd", (17,), {"lr": [0.1] * 3, "momentum": 0.9, "dampening": 0.0, "weight_decay": 1e-3,
                                "nesterov": True}),
        ("momentum_lr_schedule", (6, 5), {"lr": [0.1, 0.05, 0.02], "momentum": 0.8, "dampening": 0.0,
                                          "weight_decay": 0.0, "nesterov": False}),
    ]
    for tag, shape, params in sgd:
        def make(ps, params=params):
            return torch.optim.SGD(ps, lr=f32(params["lr"][0]), momentum=f32(params["momentum"]),
                                   dampening=f32(params["dampening"]),
                                   weight_decay=f32(params["weight_decay"]),
                                   nesterov=params["nesterov"], foreach=False)

        states = ["momentum_buffer"] if params["momentum"] != 0.0 else []
        optimizer_case(f"sgd__{tag}_{shape_tag(shape)}", "sgd", params, shape, make, states)

    adam = [
        ("adam_default", (5, 7), {"lr": [1e-3] * 3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
                                  "weight_decay": 0.0, "decoupled_weight_decay": False}),
        ("adam_l2", (3, 4, 3, 3), {"lr": [1e-2] * 3, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6,
                                   "weight_decay": 0.01, "decoupled_weight_decay": False}),
        ("adamw", (17,), {"lr": [1e-2] * 3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
                          "weight_decay": 0.1, "decoupled_weight_decay": True}),
        ("adamw_lr_schedule", (6, 5), {"lr": [3e-3, 2e-3, 1e-3], "beta1": 0.9, "beta2": 0.999,
                                       "eps": 1e-8, "weight_decay": 0.01, "decoupled_weight_decay": True}),
    ]
    for tag, shape, params in adam:
        def make(ps, params=params):
            cls = torch.optim.AdamW if params["decoupled_weight_decay"] else torch.optim.Adam
            return cls(ps, lr=f32(params["lr"][0]), betas=(f32(params["beta1"]), f32(params["beta2"])),
                       eps=f32(params["eps"]), weight_decay=f32(params["weight_decay"]), foreach=False)

        optimizer_case(f"adam__{tag}_{shape_tag(shape)}", "adam", params, shape, make,
                       ["exp_avg", "exp_avg_sq"])


def channel_input(d, shape, fill):
    """An input with a mean and spread of its own per channel (dim 1): a batch mean
    near zero in every channel would make save_mean's relative error meaningless.
    "offset": channel means of 5-10 in magnitude with spreads of 0.25-1, where a
    one-pass float32 variance (E[x^2] - E[x]^2) loses digits; PyTorch's does not."""
    c = shape[1]
    view = (1, c) + (1,) * (len(shape) - 2)
    if fill == "offset":
        means = d.uniform((c,), 5.0, 10.0) * d.signs((c,))
        spreads = d.uniform((c,), 0.25, 1.0)
    else:
        means, spreads = d.randn((c,)), d.uniform((c,), 0.5, 2.0)
    x = d.randn(shape).double() * spreads.double().reshape(view) + means.double().reshape(view)
    return x.float()


def batch_norm_cases():
    # Training forward: (shape, affine, running stats, momentum, eps, relu, fill).
    # count = N*H*W per channel: N = 1 with H*W > 1, [N, C] inputs (count = N), C = 1.
    train = [
        ((4, 3, 5, 7), True, True, 0.1, 1e-5, False, "randn"),
        ((2, 5, 3, 3), True, True, 0.3, 1e-3, True, "randn"),
        ((1, 4, 6, 5), False, True, 0.1, 1e-5, False, "randn"),   # N = 1
        ((1, 3, 2, 1), True, True, 0.3, 1e-5, True, "randn"),     # N = 1, count 2, the fewest
        ((16, 10), True, True, 0.1, 1e-5, False, "randn"),        # [N, C]
        ((5, 3), False, False, 0.1, 1e-3, True, "randn"),         # [N, C], no affine, no stats
        ((8, 1, 4, 4), True, True, 0.1, 1e-5, True, "randn"),     # C = 1
        ((3, 6, 7, 9), True, False, 0.1, 1e-5, True, "randn"),    # no running stats
        ((2, 7, 5, 3), False, True, 0.3, 1e-3, True, "randn"),
        ((3, 4, 5, 5), True, True, 0.1, 1e-5, False, "offset"),   # large means, small spreads
        ((2, 3, 9, 11), True, True, 0.1, 1e-5, True, "offset"),
    ]
    for shape, affine, stats, momentum, eps, relu, fill in train:
        name = (f"batch_norm_train__{shape_tag(shape)}_m{num(momentum)}_eps{num(eps)}"
                + ("" if affine else "_noaffine") + ("" if stats else "_nostats")
                + ("_relu" if relu else "") + ("" if fill == "randn" else f"_{fill}"))
        params = {"affine": affine, "running_stats": stats, "momentum": momentum, "eps": eps,
                  "relu": relu, "fill": fill}

        def build(d, shape=shape, affine=affine, stats=stats, momentum=momentum, eps=eps, relu=relu,
                  fill=fill):
            c = shape[1]
            x = channel_input(d, shape, fill)
            t = {"input": x}
            w = b = None
            if affine:
                w, b = d.uniform((c,), 0.5, 1.5) * d.signs((c,)), d.randn((c,), 0.5)
                t.update({"weight": w, "bias": b})
            rm = rv = None
            if stats:
                rm, rv = d.randn((c,)), d.uniform((c,), 0.5, 2.0)
                t.update({"running_mean_prior": rm, "running_var_prior": rv})
            xd = x.double()
            rm64 = rm.double() if stats else None
            rv64 = rv.double() if stats else None
            y = F.batch_norm(xd, rm64, rv64, w.double() if affine else None,
                             b.double() if affine else None, training=True,
                             momentum=f32(momentum), eps=f32(eps))
            if relu:
                y = F.relu(y)
            dims = [i for i in range(len(shape)) if i != 1]
            mean = xd.mean(dim=dims)
            var = xd.var(dim=dims, unbiased=False)
            t.update({"output": out32(y), "save_mean": out32(mean),
                      "save_invstd": out32(1.0 / torch.sqrt(var + f32(eps)))})
            if stats:
                t.update({"running_mean": out32(rm64), "running_var": out32(rv64)})
            return t

        case(name, "batch_norm_train", params, build)

    # Inference with given statistics: (shape, affine, eps, relu).
    inference = [
        ((2, 3, 4, 5), True, 1e-5, False),
        ((2, 3, 4, 5), True, 1e-5, True),
        ((7, 4), False, 1e-3, False),
        ((1, 1, 3, 3), False, 1e-5, True),
        ((3, 5, 2, 7), True, 1e-3, True),
    ]
    for shape, affine, eps, relu in inference:
        name = (f"batch_norm_inference__{shape_tag(shape)}_eps{num(eps)}"
                + ("" if affine else "_noaffine") + ("_relu" if relu else ""))
        params = {"affine": affine, "eps": eps, "relu": relu}

        def build(d, shape=shape, affine=affine, eps=eps, relu=relu):
            c = shape[1]
            x = channel_input(d, shape, "randn")
            mean, var = d.randn((c,)), d.uniform((c,), 0.3, 3.0)
            t = {"input": x, "mean": mean, "var": var}
            w = b = None
            if affine:
                w, b = d.uniform((c,), 0.5, 1.5) * d.signs((c,)), d.randn((c,), 0.5)
                t.update({"weight": w, "bias": b})
            y = F.batch_norm(x.double(), mean.double(), var.double(), w.double() if affine else None,
                             b.double() if affine else None, training=False, eps=f32(eps))
            if relu:
                y = F.relu(y)
            t["output"] = out32(y)
            return t

        case(name, "batch_norm_inference", params, build)

    # Backward of the training forward, through the batch statistics: autograd of
    # F.batch_norm(training=True) in float64. The file's save_mean and save_invstd
    # (inputs of the backward) are the float64 statistics rounded to float32.
    # grad_output is already through any ReLU (Backend contract), so no ReLU here.
    backward = [
        ((4, 3, 5, 7), True, 1e-5, "randn"),
        ((1, 4, 6, 5), True, 1e-5, "randn"),   # N = 1
        ((16, 10), True, 1e-5, "randn"),       # [N, C]
        ((5, 3), False, 1e-3, "randn"),        # [N, C], no affine
        ((8, 1, 4, 4), True, 1e-3, "randn"),   # C = 1
        ((2, 7, 5, 3), False, 1e-5, "randn"),
        ((3, 4, 5, 5), True, 1e-5, "offset"),
    ]
    for shape, affine, eps, fill in backward:
        name = (f"batch_norm_backward__{shape_tag(shape)}_eps{num(eps)}"
                + ("" if affine else "_noaffine") + ("" if fill == "randn" else f"_{fill}"))
        params = {"affine": affine, "eps": eps, "fill": fill}

        def build(d, shape=shape, affine=affine, eps=eps, fill=fill):
            c = shape[1]
            x = channel_input(d, shape, fill)
            t = {"input": x}
            xl = leaf(x)
            wl = bl = None
            if affine:
                w, b = d.uniform((c,), 0.5, 1.5) * d.signs((c,)), d.randn((c,), 0.5)
                wl, bl = leaf(w), leaf(b)
                t["weight"] = w
            y = F.batch_norm(xl, None, None, wl, bl, training=True, eps=f32(eps))
            dy = d.randn(shape)
            y.backward(dy.double())
            dims = [i for i in range(len(shape)) if i != 1]
            xd = x.double()
            mean, var = xd.mean(dim=dims), xd.var(dim=dims, unbiased=False)
            t.update({"grad_output": dy, "save_mean": out32(mean),
                      "save_invstd": out32(1.0 / torch.sqrt(var + f32(eps))),
                      "grad_input": out32(xl.grad)})
            if affine:
                wp, bp = d.randn((c,)), d.randn((c,))
                t.update({"grad_weight": out32(wl.grad), "grad_bias": out32(bl.grad),
                          "grad_weight_prior": wp, "grad_weight_accumulated": out32(wp.double() + wl.grad),
                          "grad_bias_prior": bp, "grad_bias_accumulated": out32(bp.double() + bl.grad)})
            return t

        case(name, "batch_norm_backward", params, build)


def adaptive_avg_pool2d_cases():
    # (n, c, h, w, out_h, out_w): global pooling, divisible sizes, sizes that do not
    # divide (overlapping windows: 7 -> 3, 5 -> 4), out > in (3 -> 5: inputs repeat),
    # and mixed axes.
    geometries = [
        (2, 3, 7, 7, 1, 1),
        (3, 4, 1, 1, 1, 1),
        (1, 2, 8, 8, 2, 2),
        (2, 3, 10, 11, 3, 5),
        (1, 2, 7, 7, 3, 3),
        (2, 1, 5, 5, 4, 4),
        (1, 2, 3, 3, 5, 5),
        (1, 1, 6, 4, 4, 6),
        (2, 2, 13, 9, 5, 4),
        (1, 3, 28, 28, 7, 7),
    ]
    for n, c, h, w, oh, ow in geometries:
        name = f"adaptive_avg_pool2d__n{n}_c{c}_{h}x{w}_to_{oh}x{ow}"

        def build(d, shape=(n, c, h, w), out=(oh, ow)):
            x = d.randn(shape)
            xl = leaf(x)
            y = F.adaptive_avg_pool2d(xl, out)
            dy = d.randn(y.shape)
            y.backward(dy.double())
            return {"input": x, "output": out32(y), "grad_output": dy, "grad_input": out32(xl.grad)}

        case(name, "adaptive_avg_pool2d", {"output_size": [oh, ow]}, build)


def all_cases():
    CASES.clear()
    conv2d_cases()
    bias_backward_cases()
    pool2d_cases()
    adaptive_avg_pool2d_cases()
    batch_norm_cases()
    activation_cases()
    softmax_cases()
    linear_cases()
    loss_cases()
    dropout_cases()
    elementwise_cases()
    count_correct_cases()
    optimizer_cases()
    names = [name for name, _, _, _ in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    for name in names:  # the file name is the gtest name: letters, digits and underscores
        assert re.fullmatch(r"[A-Za-z0-9_]+", name), name
    return list(CASES)


# ---------------------------------------------------------------------------
# Writing: safetensors with a canonical header.

def serialize(tensors, metadata):
    """safetensors.torch.save, then the header rewritten with its metadata keys sorted.

    safetensors keeps __metadata__ in a Rust HashMap, so its key order changes from
    run to run; sorting it is what makes the files reproducible byte-for-byte. The
    tensors, their order and the data buffer are exactly what safetensors wrote."""
    raw = safetensors_save(tensors, metadata=metadata)
    header_size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + header_size])
    entries = sorted(((k, v) for k, v in header.items() if k != "__metadata__"),
                     key=lambda item: item[1]["data_offsets"][0])
    canonical = {"__metadata__": dict(sorted(header["__metadata__"].items()))}
    canonical.update(entries)
    text = json.dumps(canonical, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    blob = struct.pack("<Q", len(text)) + text + raw[8 + header_size:]
    reread = safetensors_load(blob)  # the rewritten file must still load to the same tensors
    assert reread.keys() == tensors.keys()
    assert all(torch.equal(reread[k].view(torch.int32), tensors[k].view(torch.int32)) for k in tensors)
    return blob


def seed_of(name):
    """Each case's seed comes from its name, so adding a case never reseeds the others."""
    return zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF


def generate(out_dir):
    torch.set_num_threads(1)  # one summation order, whatever the machine
    torch.use_deterministic_algorithms(True)
    philox.check_known_answers()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, op, params, build in all_cases():
        seed = seed_of(name)
        tensors = build(Draw(seed))
        for role, tensor in tensors.items():
            assert tensor.dtype in (torch.float32, torch.int32), f"{name}: {role} is {tensor.dtype}"
        tensors = {role: tensor.contiguous() for role, tensor in tensors.items()}
        metadata = {"op": op, "params": json.dumps(params, sort_keys=True), "seed": str(seed),
                    "torch_version": torch.__version__,
                    "reference": "PyTorch CPU, float64 from float32 inputs, rounded to float32"}
        path = out_dir / f"{name}.safetensors"
        path.write_bytes(serialize(tensors, metadata))
        written.append(path)
    return written


def check():
    """Regenerates into a temporary directory and compares bytes with OPS_DIR."""
    with tempfile.TemporaryDirectory(prefix="golden-ops-") as tmp:
        fresh = {p.name: p for p in generate(Path(tmp))}
        committed = {p.name: p for p in OPS_DIR.glob("*.safetensors")} if OPS_DIR.is_dir() else {}
        problems = []
        problems += [f"missing from {OPS_DIR}: {name}" for name in sorted(fresh.keys() - committed.keys())]
        problems += [f"not produced by the generator: {name}"
                     for name in sorted(committed.keys() - fresh.keys())]
        problems += [f"differs: {name}" for name in sorted(fresh.keys() & committed.keys())
                     if fresh[name].read_bytes() != committed[name].read_bytes()]
        for line in problems:
            print(line)
        if problems:
            print(f"--check: {len(problems)} difference(s) in {len(fresh)} files (torch {torch.__version__})")
            return 1
        print(f"--check: all {len(fresh)} files identical (torch {torch.__version__})")
        return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="regenerate into a temporary directory and compare with tests/golden/ops")
    args = parser.parse_args()
    if args.check:
        return check()
    if OPS_DIR.exists():
        shutil.rmtree(OPS_DIR)  # a case that was removed must not leave its file behind
    written = generate(OPS_DIR)
    total = sum(p.stat().st_size for p in written)
    print(f"wrote {len(written)} files, {total} bytes, to {OPS_DIR} (torch {torch.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
