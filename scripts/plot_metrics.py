#!/usr/bin/env python3
"""Plots the metrics CSV that Trainer writes (--metrics, --metrics-csv) as a PNG.

    python3 scripts/plot_metrics.py metrics.csv --out curves.png --title "MNIST CNN"

Two panels, per epoch: loss (train and test) and accuracy in % (train and
test). The test curves are left out when the run had no test set (empty
columns). For people who do not run TensorBoard; --tensorboard gives the same
numbers live. Needs matplotlib (Debian: python3-matplotlib); draws with the
Agg backend, so no display is needed.
"""
import argparse
import csv
import math
import os
import sys

PROGRAM = os.path.basename(sys.argv[0]) or "plot_metrics.py"
# The columns Trainer writes (src/train/trainer.cpp, kCsvHeader); the plot needs these.
REQUIRED = ["epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy"]


class Refusal(Exception):
    pass


def number(text, path, line, column):
    try:
        value = float(text)
    except ValueError:
        raise Refusal(f"{path}: line {line}: {column} is \"{text}\", not a number") from None
    if not math.isfinite(value):
        raise Refusal(f"{path}: line {line}: {column} is {text}, not a finite number")
    return value


def read_metrics(path):
    """{column: [values]} for the REQUIRED columns; None for an empty test column."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError:
        raise Refusal(f"{path}: no such file") from None
    except IsADirectoryError:
        raise Refusal(f"{path}: is a directory, not a metrics CSV") from None
    except (OSError, UnicodeDecodeError) as e:
        raise Refusal(f"{path}: cannot be read: {e}") from None
    if not rows:
        raise Refusal(f"{path}: is empty; expected a header line {','.join(REQUIRED)},...")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise Refusal(f"{path}: the header lacks {', '.join(missing)} (is it a metrics CSV from Trainer?)")
    body = [r for r in rows[1:] if any(cell.strip() for cell in r)]
    if not body:
        raise Refusal(f"{path}: has a header but no epochs")
    columns = {c: [] for c in REQUIRED}
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise Refusal(f"{path}: line {line}: {len(row)} fields, the header has {len(header)}")
        for c in REQUIRED:
            text = row[header.index(c)].strip()
            if c.startswith("test_") and text == "":
                columns[c].append(None)
            else:
                columns[c].append(number(text, path, line, c))
    for c in ("test_loss", "test_accuracy"):
        present = [v is not None for v in columns[c]]
        if any(present) and not all(present):
            raise Refusal(f"{path}: {c} is empty on some epochs only")
        if not any(present):
            columns[c] = None
    return columns


def plot(columns, out, title):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise Refusal(f"needs matplotlib ({e}); Debian: apt-get install python3-matplotlib") from None
    epochs = columns["epoch"]
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(10, 4))
    loss_axes.plot(epochs, columns["train_loss"], marker="o", label="train")
    accuracy_axes.plot(epochs, [100 * a for a in columns["train_accuracy"]], marker="o", label="train")
    if columns["test_loss"] is not None:
        loss_axes.plot(epochs, columns["test_loss"], marker="o", label="test")
        accuracy_axes.plot(epochs, [100 * a for a in columns["test_accuracy"]], marker="o", label="test")
    loss_axes.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    accuracy_axes.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for axes in (loss_axes, accuracy_axes):
        axes.grid(True, alpha=0.3)
        axes.legend()
        # Whole epochs only on the x axis.
        axes.xaxis.get_major_locator().set_params(integer=True)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    try:
        figure.savefig(out, dpi=100)
    except OSError as e:
        raise Refusal(f"--out {out}: cannot be written: {e.strerror or e}") from None
    finally:
        plt.close(figure)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv", metavar="METRICS_CSV", help="the CSV Trainer wrote (--metrics FILE)")
    parser.add_argument("--out", help="the PNG to write (default: METRICS_CSV with .png)")
    parser.add_argument("--title", default="", help="a title above both panels")
    args = parser.parse_args()
    out = args.out or os.path.splitext(args.csv)[0] + ".png"
    try:
        plot(read_metrics(args.csv), out, args.title)
    except Refusal as e:
        print(f"{PROGRAM}: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
