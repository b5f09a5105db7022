// Helpers for layer names, which print the options as PyTorch's repr does:
// "(5, 5)" for a tuple, "True" for a bool, "0.01" for a float.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

#include "convnet/nn/options.hpp"

namespace convnet::nn::detail {

// "(3, 5)": Conv2d's options are always tuples in PyTorch (_pair).
inline std::string tuple(const Pair& p) {
  return "(" + std::to_string(p.h) + ", " + std::to_string(p.w) + ")";
}

// "2" or "(2, 3)", as the user wrote it: the pooling layers keep what they were given.
inline std::string as_written(const Pair& p) {
  return p.written_as_one() ? std::to_string(p.h) : tuple(p);
}

inline const char* python_bool(bool value) { return value ? "True" : "False"; }

// Python's repr of the float the user wrote (0.1f prints "0.1", not
// "0.100000001"): the shortest digits that read back as the same float, placed
// as repr places them: positional for 1e-4 <= |x| < 1e16 ("0.0001", "0.5",
// "2.0"), otherwise scientific with a signed two-digit exponent ("1e-05").
inline std::string python_float(float value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  char buf[64];
  // Shortest round trip, scientific: "1.25e-05", "5e-01".
  const auto result = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  const std::string text(buf, result.ptr);
  const size_t e = text.find('e');
  std::string mantissa = text.substr(0, e);
  const int exponent = std::atoi(text.c_str() + e + 1);
  std::string sign;
  if (mantissa[0] == '-') {
    sign = "-";
    mantissa.erase(0, 1);
  }
  std::string digits;  // without the point: "125"
  for (char c : mantissa)
    if (c != '.') digits += c;
  const int point = exponent + 1;  // value = 0.<digits> * 10^point
  if (value == 0.f) return sign + "0.0";
  if (point > -4 && point <= 16) {
    std::string out;
    if (point <= 0) {
      out = "0." + std::string(static_cast<size_t>(-point), '0') + digits;
    } else if (static_cast<size_t>(point) >= digits.size()) {
      out = digits + std::string(static_cast<size_t>(point) - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, static_cast<size_t>(point)) + "." + digits.substr(static_cast<size_t>(point));
    }
    return sign + out;
  }
  std::string out = digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  const int shown = point - 1;
  out += shown < 0 ? "e-" : "e+";
  const std::string magnitude = std::to_string(std::abs(shown));
  out += (magnitude.size() < 2 ? "0" : "") + magnitude;
  return sign + out;
}

}  // namespace convnet::nn::detail
