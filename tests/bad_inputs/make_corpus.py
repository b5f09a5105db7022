#!/usr/bin/env python3
"""Writes the bad-input corpus (tests/bad_inputs/<kind>/), listed in README.md.

Standard library only, deterministic (gzip with mtime 0), every file < 8 KB.
Each file is wrong in one way; the tests in tests/cli and
tests/bad_inputs/library_entry_points_test.cpp feed each one to every entry
point that reads its kind and expect a one-line error naming the problem.
Inputs that must be large, or depend on the build (a directory where a file is
expected, an unwritable folder, a valid model checkpoint), are made by the
tests themselves.

    python3 tests/bad_inputs/make_corpus.py
"""
import gzip
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(kind, name, data):
    if isinstance(data, str):
        data = data.encode()
    assert len(data) < 8192, (kind, name, len(data))
    os.makedirs(os.path.join(HERE, kind), exist_ok=True)
    with open(os.path.join(HERE, kind, name), "wb") as f:
        f.write(data)


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


# ---- IDX (MNIST): big-endian magic 00 00 08 DD, DD u32 extents, then the bytes.

def idx(dims, values=None, elem=0x08):
    n = 1
    for d in dims:
        n *= d
    if values is None:
        values = bytes((i * 37 + 11) % 256 for i in range(n))
    return bytes([0, 0, elem, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + values


put("idx", "empty", b"")
put("idx", "magic-only", bytes([0, 0, 8, 3]))
put("idx", "wrong-magic", b"\x12\x34\x56\x78" + struct.pack(">III", 1, 28, 28) + bytes(784))
put("idx", "float-elements", idx([2], b"\0" * 8, elem=0x0D))
put("idx", "truncated-header", bytes([0, 0, 8, 3]) + struct.pack(">I", 2))
put("idx", "images-truncated", idx([2, 28, 28])[:16 + 100])
put("idx", "images-trailing-bytes", idx([1, 28, 28]) + b"extra")
put("idx", "images-zero-extent", idx([0, 28, 28], b""))
put("idx", "images-huge-extents", bytes([0, 0, 8, 3]) + struct.pack(">III", 0xFFFFFFFF, 28, 28) + bytes(16))
put("idx", "images-27x28", idx([10, 27, 28]))  # as many as the tests' tiny MNIST has test images
put("idx", "images-rank1", idx([784]))
put("idx", "labels-out-of-range", idx([20], bytes(12 if i == 7 else i % 10 for i in range(20))))
put("idx", "labels-3", idx([3], bytes([1, 2, 3])))
put("idx", "labels-rank3", idx([1, 2, 2]))
labels = idx([20], bytes(i % 10 for i in range(20)))
whole = gz(labels)
put("idx", "gz-truncated.gz", whole[: len(whole) // 2])
bad_crc = bytearray(whole)
bad_crc[-8] ^= 0xFF  # the CRC-32 of the trailer
put("idx", "gz-bad-crc.gz", bytes(bad_crc))
put("idx", "gz-garbage.gz", b"\x1f\x8b" + bytes((i * 101 + 7) % 256 for i in range(64)))
put("idx", "gz-of-truncated-images.gz", gz(idx([2, 28, 28])[:16 + 100]))

# ---- PGM (mnist_cnn --predict): "P5" or "P2", width, height, maxval, pixels.

raster = bytes((i * 13) % 256 for i in range(784))
put("pgm", "empty.pgm", b"")
put("pgm", "bad-magic.pgm", b"P6\n28 28\n255\n" + raster[:96])
put("pgm", "text.pgm", "this is not an image\n")
put("pgm", "wrong-size.pgm", b"P5\n27 28\n255\n" + raster[: 27 * 28])
put("pgm", "huge-dimensions.pgm", b"P5\n99999999999 99999999999\n255\n" + raster[:64])
put("pgm", "negative-width.pgm", b"P5\n-28 28\n255\n" + raster)
put("pgm", "maxval-0.pgm", b"P5\n28 28\n0\n" + raster)
put("pgm", "maxval-65535.pgm", b"P5\n28 28\n65535\n" + raster + raster)
put("pgm", "truncated.pgm", b"P5\n28 28\n255\n" + raster[:100])
put("pgm", "header-only.pgm", b"P5\n28 28\n255")
put("pgm", "missing-maxval.pgm", b"P5\n28 28\n")
put("pgm", "comment-eats-header.pgm", b"P5\n# 28 28 255\n")
put("pgm", "p2-above-maxval.pgm", "P2\n28 28\n255\n" + " ".join(["300"] + ["0"] * 783) + "\n")
put("pgm", "p2-not-a-number.pgm", "P2\n28 28\n255\n" + " ".join(["0"] * 10 + ["x"] + ["0"] * 773) + "\n")
put("pgm", "p2-too-few-pixels.pgm", "P2\n28 28\n255\n" + " ".join(["7"] * 700) + "\n")

# ---- safetensors (mnist_cnn --load, io::load_safetensors, io::load_optimizer):
# u64 little-endian header length N, N bytes of JSON, the data buffer.

def st(header, data=b"", length=None):
    text = json.dumps(header, separators=(",", ":")).encode() if not isinstance(header, bytes) else header
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text) if length is None else length) + text + data


put("safetensors", "empty.safetensors", b"")
put("safetensors", "length-truncated.safetensors", b"\x10\x00\x00\x00")
put("safetensors", "header-length-huge.safetensors", st({}, length=1 << 62))
put("safetensors", "header-length-lies.safetensors", st({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}},
                                                         b"\0" * 4, length=4000))
put("safetensors", "bad-json.safetensors", st(b'{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]'))
put("safetensors", "json-array.safetensors", st(b"[1, 2, 3]"))
put("safetensors", "truncated-data.safetensors",
    st({"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 4))
put("safetensors", "offsets-hole.safetensors",
    st({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
        "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}, b"\0" * 12))
put("safetensors", "unknown-dtype.safetensors",
    st({"x": {"dtype": "F31", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4))
put("safetensors", "text.safetensors", "this is not a checkpoint\n")
# Valid files that are not a checkpoint of mnist_cnn's model.
put("safetensors", "wrong-model.safetensors",
    st({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8))
names = ["0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias"]
put("safetensors", "mnist-cnn-wrong-shapes.safetensors",
    st({n: {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]} for i, n in enumerate(names)},
       b"\0" * (4 * len(names))))

# ---- Iris CSV (perceptron --data): header, then 4 measurements and the class 0/1/2.

HEADER = "150,4,setosa,versicolor,virginica\n"
GOOD = ["5.1,3.5,1.4,0.2,0\n", "4.9,3.0,1.4,0.2,0\n", "7.0,3.2,4.7,1.4,1\n", "6.4,3.2,4.5,1.5,1\n"]
put("iris", "empty.csv", b"")
put("iris", "not-numbers.csv", HEADER + GOOD[0] + "5.0,abc,1.4,0.2,0\n" + "".join(GOOD[1:]))
put("iris", "nan-feature.csv", HEADER + GOOD[0] + "5.0,nan,1.4,0.2,0\n" + "".join(GOOD[1:]))
put("iris", "label-7.csv", HEADER + "".join(GOOD[:2]) + "6.0,3.0,4.0,1.0,7\n" + "".join(GOOD[2:]))
put("iris", "wrong-field-count.csv", HEADER + "".join(GOOD[:2]) + "6.0,3.0,4.0\n" + "".join(GOOD[2:]))
put("iris", "only-setosa.csv", HEADER + "".join(GOOD[:2]))
put("iris", "binary.csv", bytes((i * 29 + 3) % 256 for i in range(256)))

# ---- scikit-learn digits CSV (digits_cnn --data): 64 pixels in 0..16 and a label 0..9, gzip or plain.

def digit_line(i, pixel=None, label=None):
    pixels = [str((i * 7 + j) % 17) for j in range(64)]
    if pixel is not None:
        pixels[5] = pixel
    return ",".join(pixels + [str(i % 10) if label is None else label]) + "\n"


def digits(count, bad_line=None, **bad):
    return "".join(digit_line(i, **(bad if i == bad_line else {})) for i in range(count)).encode()


put("digits", "empty.csv", b"")
put("digits", "too-few-samples.csv", digits(10))
put("digits", "not-a-number.csv", digits(3, 1, pixel="abc"))
put("digits", "nan-pixel.csv", digits(3, 1, pixel="nan"))
put("digits", "pixel-99.csv", digits(3, 1, pixel="99"))
put("digits", "label-12.csv", digits(3, 2, label="12"))
put("digits", "label-fraction.csv", digits(3, 2, label="3.5"))
put("digits", "wrong-field-count.csv", digits(2) + b"1,2,3\n")
full = gz(digits(320))
put("digits", "truncated.csv.gz", full[: len(full) // 2])
bad_crc = bytearray(full)
bad_crc[-8] ^= 0xFF
put("digits", "bad-crc.csv.gz", bytes(bad_crc))
