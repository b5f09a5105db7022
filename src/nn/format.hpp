// Small helpers for layer names ("kernel=5", "kernel=(3, 5)").
#pragma once

#include <string>

namespace convnet::nn::detail {

// "5" when both extents agree, "(3, 5)" otherwise, as PyTorch prints them.
inline std::string pair(int h, int w) {
  if (h == w) return std::to_string(h);
  return "(" + std::to_string(h) + ", " + std::to_string(w) + ")";
}

}  // namespace convnet::nn::detail
