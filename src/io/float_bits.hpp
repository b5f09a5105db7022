// Exact conversions from the narrow and wide float formats that PyTorch
// checkpoints hold to float32, written on the bits so that every class of value
// (zero, subnormal, normal, infinity, NaN with its payload) is handled on
// purpose rather than by whatever the compiler's intrinsic does.
//
//   binary16 (F16):  1 sign | 5 exponent (bias 15)  | 10 fraction
//   bfloat16 (BF16): 1 sign | 8 exponent (bias 127) |  7 fraction   (float32's top half)
//   binary32 (F32):  1 sign | 8 exponent (bias 127) | 23 fraction
//
// Both 16-bit formats are subsets of float32, so these two are exact. float64
// to float32 rounds; see double_to_float.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace convnet::io::detail {

inline float float_from_bits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

inline uint32_t bits_of(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

inline float half_to_float(uint16_t half) {
  const uint32_t sign = uint32_t(half & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1fu;
  uint32_t fraction = half & 0x3ffu;
  // Infinity (fraction 0) or NaN: the payload, quiet bit included, moves to the top.
  if (exponent == 0x1f) return float_from_bits(sign | 0x7f800000u | fraction << 13);
  if (exponent != 0)  // normal: rebias 15 -> 127
    return float_from_bits(sign | (exponent + (127 - 15)) << 23 | fraction << 13);
  if (fraction == 0) return float_from_bits(sign);  // +-0
  // Subnormal: fraction * 2^-24, which is a normal float32. Shift the leading 1
  // up to the implicit bit (bit 10); each shift halves the value's exponent.
  int shifts = 0;
  while ((fraction & 0x400u) == 0) {
    fraction <<= 1;
    ++shifts;
  }
  // 2^-14 * 0.fraction = 2^(-14 - shifts) * 1.fraction': biased exponent 113 - shifts.
  return float_from_bits(sign | uint32_t(127 - 14 - shifts) << 23 | (fraction & 0x3ffu) << 13);
}

// bfloat16 is float32 with the low 16 fraction bits dropped.
inline float bfloat16_to_float(uint16_t bfloat16) {
  return float_from_bits(uint32_t(bfloat16) << 16);
}

// Below this magnitude a double rounds to a finite float: FLT_MAX is
// (2 - 2^-23) * 2^127 = 2^128 - 2^104, and half an ulp above it, 2^128 - 2^103,
// is the tie that round-to-nearest-even sends up to infinity.
constexpr double kFloatOverflowThreshold = 0x1p128 - 0x1p103;  // exact in a double

// Round to nearest even, like PyTorch's .float() (and numpy's astype): NaN stays
// NaN with its sign, +-inf stay infinite, and a finite value at or beyond the
// overflow threshold becomes +-inf, reported through `overflowed`. (A C++ cast
// of a double outside float's range is undefined, so that case is explicit.)
inline float double_to_float(double value, bool& overflowed) {
  overflowed = false;
  if (std::isfinite(value) && std::fabs(value) >= kFloatOverflowThreshold) {
    overflowed = true;
    return std::signbit(value) ? -INFINITY : INFINITY;
  }
  return static_cast<float>(value);
}

}  // namespace convnet::io::detail
