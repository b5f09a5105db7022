#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/).

Standard library only, deterministic (gzip with mtime 0), every file < 4 KB:
valid small files, real MNIST headers, and broken ones: truncated, lying
lengths, huge extents, duplicate names, bad JSON, non-UTF-8. Rerunning it
rewrites the seeds named here and leaves every other file in the corpus alone
(regress-* inputs from crashes, and what fuzz.sh --merge kept).

    python3 tests/fuzz/make_seeds.py
"""
import gzip
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    assert len(data) < 4096, (target, name, len(data))
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


# ---- IDX: big-endian magic 00 00 TT DD, DD u32 extents, then the bytes.

def idx(dims, values=None, elem=0x08):
    n = 1
    for d in dims:
        n *= d
    if values is None:
        values = bytes((i * 37 + 11) % 256 for i in range(n))
    return bytes([0, 0, elem, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + values


def idx_seeds():
    labels = idx([10], bytes(range(10)))
    image = idx([1, 28, 28])  # one MNIST-like image: 800 bytes
    images = idx([3, 4, 4])
    seeds = {
        "labels-10": labels,
        "image-1x28x28": image,
        "images-3x4x4": images,
        "rank2-5x3": idx([5, 3]),
        "rank4-2x1x3x2": idx([2, 1, 3, 2]),
        "empty": b"",
        "magic-only": labels[:4],
        "truncated-header": image[:10],
        "truncated-data": image[:200],
        "trailing-bytes": labels + b"\x00\x01\x02",
        # The real MNIST headers with (almost) none of the data: lying lengths.
        "mnist-train-images-header": idx([60000, 28, 28], b"")[:16] + bytes(32),
        "mnist-train-labels-header": idx([60000], b"")[:8] + bytes(range(10)),
        "mnist-t10k-images-header": idx([10000, 28, 28], b""),
        "mnist-t10k-labels-header": idx([10000], b""),
        "wrong-magic": b"\x08\x03" + images[2:],
        "float-type-0x0d": idx([2, 2], b"\x00" * 16, elem=0x0D),
        "int-type-0x0c": idx([2], b"\x00" * 8, elem=0x0C),
        "rank0": bytes([0, 0, 8, 0]),
        "rank5": bytes([0, 0, 8, 5]) + struct.pack(">5I", 1, 1, 1, 1, 1) + b"\x07",
        "rank255": bytes([0, 0, 8, 255]) + bytes(64),
        "zero-extent": idx([3, 0, 2], b""),
        "huge-extents-2^32": bytes([0, 0, 8, 3]) + struct.pack(">3I", 65536, 65536, 1),
        "huge-extent-ffffffff": bytes([0, 0, 8, 1]) + b"\xff\xff\xff\xff" + b"\x00" * 4,
        # (46340 x 46340, just under 2^31, is regress-idx-46340x46340-allocates-2gb.)
        "extents-2^16x2^15": bytes([0, 0, 8, 2]) + struct.pack(">2I", 65536, 32768),
        "gz-labels-10": gz(labels),
        "gz-image-1x28x28": gz(image),
        "gz-truncated": gz(image)[: len(gz(image)) // 2],
        "gz-header-only": gz(images)[:10],
        "gz-trailing-garbage": gz(labels) + b"garbage!",
        "gz-two-members": gz(labels[:7]) + gz(labels[7:]),
        "gz-bad-crc": bytearray(gz(labels)),
        "gz-of-truncated": gz(image[:300]),
        "gz-of-lying-length": gz(idx([60000], b"")[:8] + bytes(100)),
    }
    crc = seeds["gz-bad-crc"]
    crc[-8] ^= 0xFF
    seeds["gz-bad-crc"] = bytes(crc)
    for name, data in seeds.items():
        put("idx", name, data)


# ---- safetensors: u64 LE header length, JSON header, data buffer.

def st_raw(header_text, data=b"", pad=True):
    h = header_text.encode() if isinstance(header_text, str) else header_text
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def st(tensors, metadata=None, pad=True):
    """tensors: list of (name, dtype, shape, bytes)."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    buf = b""
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(buf), len(buf) + len(data)]}
        buf += data
    return st_raw(json.dumps(header, separators=(",", ":")), buf, pad)


def f32(values):
    return struct.pack("<%df" % len(values), *values)


def ramp(n, scale=0.01):
    return [((i * 7) % 23 - 11) * scale for i in range(n)]


def safetensors_seeds():
    put_ = lambda n, d: put("safetensors", n, d)
    put_("f32-2x3", st([("w", "F32", [2, 3], f32(ramp(6)))]))
    put_("f32-scalar-and-empty", st([("s", "F32", [], f32([1.5])), ("e", "F32", [0, 3], b"")]))
    put_("i32-labels", st([("labels", "I32", [5], struct.pack("<5i", 0, 1, 2, -3, 2**31 - 1))]))
    put_("f16-bf16-f64", st([("h", "F16", [4], struct.pack("<4H", 0x3C00, 0x7C00, 0x7E01, 0x0001)),
                             ("b", "BF16", [2], struct.pack("<2H", 0x3F80, 0xFF81)),
                             ("d", "F64", [3], struct.pack("<3d", 1.0, 1e300, -5e-324))]))
    put_("i64-fits", st([("step", "I64", [2], struct.pack("<2q", 7, -2**31))]))
    put_("i64-beyond-int32", st([("step", "I64", [1], struct.pack("<q", 2**31))]))
    put_("u8-bool-i8", st([("m", "BOOL", [3], b"\x00\x01\x01"), ("u", "U8", [2], b"\xff\x00"),
                           ("i", "I8", [1], b"\x80")]))
    put_("all-byte-dtypes",
         st([(dt, dt, [1], bytes(sz)) for dt, sz in
             [("F8_E5M2", 1), ("F8_E4M3", 1), ("F8_E8M0", 1), ("I16", 2), ("U16", 2),
              ("U32", 4), ("U64", 8), ("C64", 8)]]))
    put_("metadata", st([("w", "F32", [1], f32([2.0]))],
                        metadata={"format": "pt", "step": "12", "lr": "0.05", "optimizer": "SGD"}))
    put_("metadata-only", st([], metadata={"k": "v"}))
    put_("empty-header", st_raw("{}"))
    put_("unpadded", st([("w", "F32", [2], f32([1, 2]))], pad=False))
    put_("unaligned-offset", st([("a", "U8", [3], b"abc"), ("w", "F32", [2], f32([1, 2]))]))
    put_("unicode-name", st([("poids.é✓", "F32", [1], f32([3.0]))]))
    put_("order-reversed", st_raw('{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},'
                                  '"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
                                  f32([1, 2])))
    good = st([("w", "F32", [2, 3], f32(ramp(6)))])
    put_("empty", b"")
    put_("truncated-length", good[:5])
    put_("truncated-header", good[:20])
    put_("truncated-data", good[:-3])
    put_("trailing-bytes", good + b"\x00" * 4)
    put_("header-length-lies-big", struct.pack("<Q", 4096) + good[8:])
    put_("header-length-lies-small", struct.pack("<Q", 9) + good[8:])
    put_("header-length-huge", struct.pack("<Q", 2**63 + 5) + good[8:])
    put_("header-length-over-100mb", struct.pack("<Q", 100_000_001) + good[8:])
    put_("offsets-hole", st_raw('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', f32([1, 2])))
    put_("offsets-overlap", st_raw('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
                                   '"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', f32([1, 2])))
    put_("offsets-backwards", st_raw('{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}', f32([1, 2])))
    put_("offsets-huge", st_raw('{"a":{"dtype":"U8","shape":[1],'
                                '"data_offsets":[18446744073709551615,18446744073709551615]}}', b"x"))
    put_("offsets-size-mismatch", st_raw('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}',
                                         f32([1, 2])))
    put_("shape-huge", st_raw('{"a":{"dtype":"F32","shape":[4294967296,4294967296],'
                              '"data_offsets":[0,0]}}'))
    put_("shape-huge-times-zero", st_raw('{"a":{"dtype":"F32","shape":[65536,0],'
                                         '"data_offsets":[0,0]}}'))
    put_("shape-negative", st_raw('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', f32([1])))
    put_("shape-float", st_raw('{"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}', f32([1])))
    put_("shape-not-array", st_raw('{"a":{"dtype":"F32","shape":1,"data_offsets":[0,4]}}', f32([1])))
    put_("dtype-unknown-f4", st_raw('{"a":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}', b"\x00"))
    put_("dtype-lowercase", st_raw('{"a":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}', f32([1])))
    put_("dtype-not-string", st_raw('{"a":{"dtype":7,"shape":[1],"data_offsets":[0,4]}}', f32([1])))
    put_("missing-offsets", st_raw('{"a":{"dtype":"F32","shape":[1]}}', f32([1])))
    put_("offsets-three", st_raw('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}', f32([1])))
    put_("entry-not-object", st_raw('{"a":[1,2,3]}'))
    put_("duplicate-names", st_raw('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                                   '"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', f32([1, 2])))
    put_("duplicate-metadata", st_raw('{"__metadata__":{"a":"1"},"__metadata__":{"a":"2"}}'))
    put_("metadata-not-strings", st_raw('{"__metadata__":{"step":12}}'))
    put_("metadata-not-object", st_raw('{"__metadata__":"x"}'))
    put_("metadata-nested", st_raw('{"__metadata__":{"a":{"b":{"c":[1,[2,[3]]]}}}}'))
    put_("bad-json", st_raw('{"a":{"dtype":"F32",'))
    put_("bad-json-trailing-comma", st_raw('{"a":1,}'))
    put_("json-array", st_raw('[1,2,3]'))
    put_("json-not-brace", st_raw(' {}'))
    put_("json-number-1e468", st_raw('{"a":1E468}'))
    put_("json-deep", st_raw('{"a":' + "[" * 200 + "]" * 200 + "}"))
    put_("non-utf8-name", st_raw(b'{"\xff\xfe":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32([1])))
    put_("non-utf8-metadata", st_raw(b'{"__metadata__":{"k":"\xc3\x28"}}'))
    put_("escaped-surrogate-name", st_raw('{"\\ud800":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
                                          f32([1])))
    put_("nul-in-name", st_raw('{"a\\u0000b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32([1])))


# ---- checkpoints for fuzz_checkpoint's model:
#   0.weight [4,1,3,3], 0.bias [4], 4.weight [10,36], 4.bias [10]  (all F32)

MODEL = [("0.weight", [4, 1, 3, 3]), ("0.bias", [4]), ("4.weight", [10, 36]), ("4.bias", [10])]


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def model_tensors(prefix="", dtype="F32", skip=(), shapes=None):
    out = []
    for name, shape in MODEL:
        if name in skip:
            continue
        shape = (shapes or {}).get(name, shape)
        n = numel(shape)
        v = ramp(n, 0.003)
        if dtype == "F32":
            data = f32(v)
        elif dtype == "F16":
            data = struct.pack("<%dH" % n, *[0x3C00 + (i % 64) for i in range(n)])
        elif dtype == "BF16":
            data = struct.pack("<%dH" % n, *[0x3F80 + (i % 64) for i in range(n)])
        elif dtype == "I32":
            data = struct.pack("<%di" % n, *range(n))
        out.append((prefix + name, dtype, shape, data))
    return out


def checkpoint_seeds():
    put_ = lambda n, d: put("checkpoint", n, d)
    good = st(model_tensors(), metadata={"format": "pt"})
    put_("model-f32", good)
    put_("model-f16", st(model_tensors(dtype="F16")))
    put_("model-bf16", st(model_tensors(dtype="BF16")))
    put_("model-prefixed", st(model_tensors(prefix="model.")))
    put_("model-prefix-collision", st(model_tensors(prefix="model.", skip=("4.weight",)) +
                                      [("0.bias", "F32", [4], f32([1, 2, 3, 4]))]))
    put_("model-reordered", st(list(reversed(model_tensors()))))
    put_("missing-4.weight", st(model_tensors(skip=("4.weight",))))
    put_("only-biases", st(model_tensors(skip=("0.weight", "4.weight"))))
    put_("extra-tensors", st(model_tensors() + [("num_batches_tracked", "I64", [], struct.pack("<q", 3)),
                                                ("mask", "BOOL", [2], b"\x01\x00"),
                                                ("big", "I64", [1], struct.pack("<q", 2**40))]))
    put_("wrong-shape-4.weight", st(model_tensors(shapes={"4.weight": [36, 10]})))
    put_("wrong-shape-0.bias", st(model_tensors(shapes={"0.bias": [4, 1]})))
    put_("wrong-rank-0.weight", st(model_tensors(shapes={"0.weight": [4, 9]})))
    put_("i32-into-float", st(model_tensors(dtype="I32")))
    put_("i64-bias", st(model_tensors(skip=("4.bias",)) +
                        [("4.bias", "I64", [10], struct.pack("<10q", *range(10)))]))
    put_("f64-bias", st(model_tensors(skip=("0.bias",)) +
                        [("0.bias", "F64", [4], struct.pack("<4d", 1e300, -1e300, 0.5, float("nan")))]))
    put_("u8-bias", st(model_tensors(skip=("0.bias",)) + [("0.bias", "U8", [4], b"\x01\x02\x03\x04")]))
    put_("names-near-miss", st([("0.weigh", "F32", [4, 1, 3, 3], f32(ramp(36))),
                                ("00.bias", "F32", [4], f32(ramp(4))),
                                ("4.weight ", "F32", [10, 36], f32(ramp(360, 0.001)))]))
    put_("empty-header", st_raw("{}"))
    put_("metadata-only", st([], metadata={"step": "1"}))
    put_("truncated", good[: len(good) - 100])
    put_("truncated-header", good[:64])
    put_("header-length-lies", struct.pack("<Q", 40) + good[8:])
    put_("duplicate-0.bias", st_raw('{"0.bias":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},'
                                    '"0.bias":{"dtype":"F32","shape":[4],"data_offsets":[16,32]}}',
                                    f32(ramp(8))))
    put_("bad-json", good[:8] + b"{\"0.bias\":" + good[18:200])


if __name__ == "__main__":
    idx_seeds()
    safetensors_seeds()
    checkpoint_seeds()
    for t in sorted(os.listdir(CORPUS)):
        files = os.listdir(os.path.join(CORPUS, t))
        size = sum(os.path.getsize(os.path.join(CORPUS, t, f)) for f in files)
        print(f"corpus/{t}: {len(files)} files, {size} bytes")
