"""convnet's counter-based random numbers (include/convnet/random.hpp) in numpy.

Philox4x32-10 (Salmon et al., SC'11) in uint32/uint64 arithmetic, vectorised
over the element index, and the uniform stream and dropout mask built on it
exactly as convnet builds them, so golden files can hold convnet's dropout
masks although PyTorch's random stream is not ours. check_known_answers()
holds the port to Random123's published test vectors.
"""
import numpy as np
import torch


M0, M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
W0, W1 = np.uint32(0x9E3779B9), np.uint32(0xBB67AE85)
LOW32 = np.uint64(0xFFFFFFFF)


def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Vectorised over numpy uint32 arrays c0..c3; k0, k1 are uint32 scalars."""
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint32) for c in (c0, c1, c2, c3))
    k0, k1 = np.uint32(k0), np.uint32(k1)
    with np.errstate(over="ignore"):
        for _ in range(10):
            p0 = M0 * c0.astype(np.uint64)
            p1 = M1 * c2.astype(np.uint64)
            hi0, lo0 = (p0 >> np.uint64(32)).astype(np.uint32), (p0 & LOW32).astype(np.uint32)
            hi1, lo1 = (p1 >> np.uint64(32)).astype(np.uint32), (p1 & LOW32).astype(np.uint32)
            c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
            k0 = np.uint32(k0 + W0)
            k1 = np.uint32(k1 + W1)
    return c0, c1, c2, c3


def check_known_answers():
    """Random123's kat_vectors for philox4x32-10: the numpy port must reproduce them."""
    vectors = [
        ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
        ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
        ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
         (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
    ]
    for counter, key, expected in vectors:
        words = philox4x32_10(*(np.array([c], dtype=np.uint32) for c in counter), *key)
        got = tuple(int(w[0]) for w in words)
        assert got == expected, f"Philox known answer: {got} != {expected}"


def philox_uniform(seed, offset, count):
    """Elements 0..count-1 of convnet's uniform stream (seed, offset), float32 in [0, 1)."""
    index = np.arange(count, dtype=np.uint64)
    counter_lo = index // np.uint64(4)
    c0 = (counter_lo & LOW32).astype(np.uint32)
    c1 = (counter_lo >> np.uint64(32)).astype(np.uint32)
    c2 = np.full(count, offset & 0xFFFFFFFF, dtype=np.uint32)
    c3 = np.full(count, offset >> 32, dtype=np.uint32)
    words = np.stack(philox4x32_10(c0, c1, c2, c3, seed & 0xFFFFFFFF, seed >> 32))
    bits = words[(index % np.uint64(4)).astype(np.int64), np.arange(count)]
    return (bits >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / 16777216.0)


def dropout_mask(shape, p, seed, offset):
    count = int(np.prod(shape))
    u = philox_uniform(seed, offset, count)
    keep_scale = np.float32(1.0) / (np.float32(1.0) - np.float32(p))  # float, as convnet
    mask = np.where(u >= np.float32(p), keep_scale, np.float32(0.0)).astype(np.float32)
    return torch.from_numpy(mask.reshape(shape))
