#!/usr/bin/env python3
"""Checks that the Python `tensorboard` package reads convnet's event files.

Runs the fixture program (argv[1]), which writes event files with
SummaryWriter directly and through a short Trainer run, plus expected.json
with what went in. Then reads the files three ways:
  - record by record, checking the TFRecord framing with tensorboard's own
    masked CRC-32C (tensorboard.compat.tensorflow_stub.pywrap_tensorflow);
  - with EventAccumulator (the legacy reader, every event kept): scalars and
    steps exactly (float32 equality), images decoded here from PNG and
    compared pixel for pixel, histograms against numpy.histogram with
    PyTorch's default buckets and trimming;
  - with plugin_event_accumulator, the reader `tensorboard --logdir` serves
    from: each tag must land in the scalars, images or histograms plugin.
Exit 77 (skip) when the build has no TensorBoard, or when tensorboard or
numpy is missing (unless CONVNET_REQUIRE_TOOLS=1: then that fails).
"""
import json
import math
import os
import re
import struct
import subprocess
import sys
import tempfile
import zlib

REQUIRED = os.environ.get("CONVNET_REQUIRE_TOOLS") == "1"

MISSING = None
try:
    import numpy as np
    from tensorboard.backend.event_processing import event_accumulator, plugin_event_accumulator
    from tensorboard.compat.proto import event_pb2
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
    from tensorboard.util import tensor_util
except ImportError as e:
    MISSING = e  # reported after the fixture had its say (a build without TensorBoard skips)

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
    return condition


def f32(value):
    return np.float32(value)


# ---------------------------------------------------------------- the file itself

def event_file(directory):
    files = [f for f in os.listdir(directory) if "tfevents" in f]
    check(len(files) == 1, f"{directory}: {len(files)} event files, expected 1: {files}")
    name = files[0]
    pattern = r"events\.out\.tfevents\.\d{10}\.[^/]+\.\d+\.\d+"
    check(re.fullmatch(pattern, name) is not None, f"{name}: not named like PyTorch's event files")
    return os.path.join(directory, name)


def report_and_exit():
    print(f"{len(failures)} failures:")
    for f in failures:
        print("  " + f)
    sys.exit(1)


def check_framing(path):
    """Every record's framing, each parsed as TensorFlow's own Event; the first is the version."""
    data = open(path, "rb").read()
    at, records = 0, 0
    while at < len(data):
        if not check(len(data) - at >= 12, f"{path}: torn record at byte {at}"):
            return
        header = data[at:at + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", data[at + 8:at + 12])
        check(length_crc == masked_crc32c(header), f"{path}: record {records}: length CRC")
        body = data[at + 12:at + 12 + length]
        if not check(len(data) - at - 12 >= length + 4, f"{path}: record {records} torn"):
            return
        (body_crc,) = struct.unpack("<I", data[at + 12 + length:at + 16 + length])
        check(body_crc == masked_crc32c(body), f"{path}: record {records}: data CRC")
        event = event_pb2.Event.FromString(body)
        check(event.wall_time > 1.6e9, f"{path}: record {records}: wall_time {event.wall_time}")
        if records == 0:
            check(event.file_version == "brain.Event:2", f"{path}: first record {event}")
        else:
            check(event.HasField("summary") and len(event.summary.value) == 1, f"{path}: record {records}: {event}")
        at += 16 + length
        records += 1
    if failures:  # the readers below would only report the same damage less clearly
        report_and_exit()
    print(f"ok: {os.path.basename(path)}: {records} records, every length and CRC right")


# ---------------------------------------------------------------- PNG, decoded here

def decode_png(png):
    """(height, width, channels, uint8 array [H, W, C]) of an 8-bit grayscale or RGB PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    at, idat, header = 8, b"", None
    while at < len(png):
        (length,) = struct.unpack(">I", png[at:at + 4])
        kind, body = png[at + 4:at + 8], png[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length:at + 12 + length])
        assert crc == zlib.crc32(kind + body), f"{kind} chunk CRC"
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        at += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (0, 2) and interlace == 0, f"unexpected PNG header {header}"
    channels = 1 if colour == 0 else 3
    raw = zlib.decompress(idat)
    stride = width * channels
    assert len(raw) == height * (stride + 1), "IDAT size"
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):  # the five PNG filters, whichever the writer chose
            left = line[i - channels] if i >= channels else 0
            up, up_left = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
                line[i] = (line[i] + predictor) & 0xFF
            else:
                assert kind == 0, f"filter type {kind}"
        rows.append(bytes(line))
        previous = line
    pixels = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(height, width, channels)
    return height, width, channels, pixels


def expected_pixels(values, channels, height, width):
    """round(255 v) after clamping to [0, 1] (NaN -> 0), planar [C, H, W] -> [H, W, C]."""
    planar = np.asarray(values, dtype=np.float32).reshape(channels, height, width)
    clamped = np.where(np.isnan(planar), np.float32(0), np.clip(planar, np.float32(0), np.float32(1)))
    scaled = (clamped * np.float32(255)).astype(np.float64)
    return np.floor(scaled + 0.5).astype(np.uint8).transpose(1, 2, 0)


def check_image(event, tag, values, channels, height, width):
    h, w, c, pixels = decode_png(event.encoded_image_string)
    check((event.height, event.width) == (height, width), f"{tag}: size {event.height} x {event.width}")
    check((h, w, c) == (height, width, channels), f"{tag}: PNG is {h} x {w} x {c}")
    want = expected_pixels(values, channels, height, width)
    if check(pixels.shape == want.shape and np.array_equal(pixels, want), f"{tag}: pixels differ"):
        try:  # a second decoder, when the venv has one
            import io
            from PIL import Image
            decoded = np.asarray(Image.open(io.BytesIO(event.encoded_image_string)))
            check(np.array_equal(decoded.reshape(want.shape), want), f"{tag}: PIL decodes other pixels")
        except ImportError:
            pass


# ---------------------------------------------------------------- histograms, recomputed

def default_bins():
    """PyTorch's SummaryWriter.default_bins (TensorFlow's default buckets)."""
    v, positive = 1e-12, []
    while v < 1e20:
        positive.append(v)
        v *= 1.1
    return [-x for x in reversed(positive)] + [0] + positive


def expected_histogram(values):
    """torch.utils.tensorboard.summary.make_histogram on the default bins."""
    values = np.asarray(values, dtype=np.float32).astype(np.float64)
    counts, limits = np.histogram(values, bins=default_bins())
    cum = np.cumsum(np.greater(counts, 0))
    start, end = np.searchsorted(cum, [0, cum[-1] - 1], side="right")
    start, end = int(start), int(end) + 1
    counts = counts[start - 1:end] if start > 0 else np.concatenate([[0], counts[:end]])
    limits = limits[start:end + 1]
    return {"min": values.min(), "max": values.max(), "num": len(values), "sum": values.sum(),
            "sum_squares": values.dot(values), "bucket_limit": limits.tolist(),
            "bucket": [float(c) for c in counts]}


def check_histogram(event, tag, values):
    got, want = event.histogram_value, expected_histogram(values)
    check(got.num == want["num"], f"{tag}: num {got.num} != {want['num']}")
    check(got.min == want["min"] and got.max == want["max"],
          f"{tag}: min/max {got.min}, {got.max} != {want['min']}, {want['max']}")
    check(math.isclose(got.sum, want["sum"], rel_tol=1e-9, abs_tol=1e-9), f"{tag}: sum {got.sum} != {want['sum']}")
    check(math.isclose(got.sum_squares, want["sum_squares"], rel_tol=1e-9),
          f"{tag}: sum_squares {got.sum_squares} != {want['sum_squares']}")
    check(list(got.bucket_limit) == want["bucket_limit"], f"{tag}: bucket limits differ from PyTorch's")
    check(list(got.bucket) == want["bucket"], f"{tag}: bucket counts {list(got.bucket)} != {want['bucket']}")


# ---------------------------------------------------------------- the readers

def accumulate(directory):
    acc = event_accumulator.EventAccumulator(directory, size_guidance=event_accumulator.STORE_EVERYTHING_SIZE_GUIDANCE)
    acc.Reload()
    return acc


def by_step(events):
    return {e.step: e for e in events}


def check_plugins(directory, scalars, images, histograms):
    """What `tensorboard --logdir` serves: the tags under the right plugins, scalars as float32."""
    acc = plugin_event_accumulator.EventAccumulator(directory, size_guidance={"tensors": 0})
    acc.Reload()
    for plugin, tags in (("scalars", scalars), ("images", images), ("histograms", histograms)):
        got = set(acc.PluginTagToContent(plugin)) if plugin in acc.ActivePlugins() else set()
        check(got == set(tags), f"{directory}: {plugin} plugin has {sorted(got)}, expected {sorted(tags)}")
    for tag, points in scalars.items():
        values = {e.step: tensor_util.make_ndarray(e.tensor_proto).item() for e in acc.Tensors(tag)}
        check(values == {s: float(f32(v)) for s, v in points}, f"{directory}: served {tag} {values}")


def check_writer(directory, expected):
    path = event_file(directory)
    check(os.path.abspath(path) == os.path.abspath(expected["file"]), f"{path} != {expected['file']}")
    check_framing(path)
    acc = accumulate(directory)
    check(acc.file_version == 2.0, f"{directory}: file_version {acc.file_version}")  # "brain.Event:2"
    tags = acc.Tags()
    check(set(tags["scalars"]) == set(expected["scalars"]), f"scalar tags {tags['scalars']}")
    for tag, points in expected["scalars"].items():
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        want = [(step, value) for step, value in points]
        check(len(got) == len(want), f"{tag}: {len(got)} events, expected {len(want)}")
        for (step, value), (want_step, want_value) in zip(got, want):
            check(step == want_step, f"{tag}: step {step} != {want_step}")
            check(f32(value) == f32(want_value), f"{tag} at {step}: {value!r} != float32({want_value!r})")
    check(set(tags["images"]) == {i["tag"] for i in expected["images"]}, f"image tags {tags['images']}")
    for image in expected["images"]:
        events = by_step(acc.Images(image["tag"]))
        if check(list(events) == [image["step"]], f"{image['tag']}: steps {list(events)}"):
            check_image(events[image["step"]], image["tag"], image["values"], image["channels"],
                        image["height"], image["width"])
    check(set(tags["histograms"]) == {h["tag"] for h in expected["histograms"]},
          f"histogram tags {tags['histograms']}")
    for histogram in expected["histograms"]:
        events = by_step(acc.Histograms(histogram["tag"]))
        if check(list(events) == [histogram["step"]], f"{histogram['tag']}: steps {list(events)}"):
            check_histogram(events[histogram["step"]], histogram["tag"], histogram["finite_values"])
    check_plugins(directory, expected["scalars"], [i["tag"] for i in expected["images"]],
                  [h["tag"] for h in expected["histograms"]])
    print(f"ok: SummaryWriter: {sum(len(p) for p in expected['scalars'].values())} scalars, "
          f"{len(expected['images'])} images, {len(expected['histograms'])} histograms read back exactly")


def check_trainer(directory, expected):
    path = event_file(directory)
    check_framing(path)
    acc = accumulate(directory)
    names = {"loss/train": "train_loss", "accuracy/train": "train_accuracy", "loss/test": "test_loss",
             "accuracy/test": "test_accuracy", "lr": "lr", "images_per_second": "images_per_second"}
    tags = acc.Tags()
    check(set(tags["scalars"]) == set(names), f"trainer scalar tags {tags['scalars']}")
    scalars = {}
    for tag, field in names.items():
        want = [(m["epoch"], m[field]) for m in expected["epochs"]]
        scalars[tag] = want
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        check([s for s, _ in got] == [s for s, _ in want], f"trainer {tag}: steps {[s for s, _ in got]}")
        for (step, value), (_, want_value) in zip(got, want):
            check(f32(value) == f32(want_value), f"trainer {tag} at {step}: {value!r} != float32({want_value!r})")
    image_tag = "filters/" + expected["first_weight_name"]
    check(tags["images"] == [image_tag], f"trainer image tags {tags['images']}")
    images = by_step(acc.Images(image_tag))
    check(sorted(images) == [f["step"] for f in expected["filters"]], f"trainer images at {sorted(images)}")
    for grid in expected["filters"]:
        if grid["step"] in images:
            channels, height, width = grid["shape"]
            check_image(images[grid["step"]], f"{image_tag}@{grid['step']}", grid["values"], channels, height, width)
    histogram_tags = {"parameters/" + p["name"]: p["numel"] for p in expected["parameters"]}
    check(set(tags["histograms"]) == set(histogram_tags), f"trainer histogram tags {tags['histograms']}")
    steps = [f["step"] for f in expected["filters"]]
    for tag, numel in histogram_tags.items():
        events = by_step(acc.Histograms(tag))
        check(sorted(events) == steps, f"trainer {tag}: steps {sorted(events)}")
        for e in events.values():
            check(e.histogram_value.num == numel, f"trainer {tag}: num {e.histogram_value.num} != {numel}")
    first = by_step(acc.Histograms("parameters/" + expected["first_weight_name"]))
    for snapshot in expected["first_weight"]:
        if snapshot["step"] in first:
            check_histogram(first[snapshot["step"]], f"trainer first weight@{snapshot['step']}", snapshot["values"])
    check_plugins(directory, scalars, [image_tag], list(histogram_tags))
    print(f"ok: Trainer: {len(expected['epochs'])} epochs of {len(names)} scalars, "
          f"{len(images)} filter images, {len(histogram_tags)} parameter histograms read back")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_tensorboard.py TENSORBOARD_FIXTURE")
    with tempfile.TemporaryDirectory() as directory:
        run = subprocess.run([sys.argv[1], directory], capture_output=True, text=True)
        if run.returncode == 77:
            print(run.stdout.strip())
            sys.exit(77)
        if run.returncode != 0:
            sys.exit(f"fixture failed ({run.returncode}): {run.stderr}")
        if MISSING is not None:
            print(f"{'error' if REQUIRED else 'skipped'}: {MISSING} (scripts/python_tools.sh makes a "
                  f"Python with tensorboard; pass it as -DCONVNET_TOOLS_PYTHON)")
            sys.exit(1 if REQUIRED else 77)
        expected = json.load(open(os.path.join(directory, "expected.json")))
        check_writer(os.path.join(directory, "writer"), expected["writer"])
        check_trainer(os.path.join(directory, "trainer"), expected["trainer"])
    if failures:
        report_and_exit()
    print("all TensorBoard checks passed")


if __name__ == "__main__":
    main()
