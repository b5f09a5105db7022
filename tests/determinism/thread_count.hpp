// Helpers for the determinism tests: run code under a chosen CPU thread count
// (the pool reads CONVNET_NUM_THREADS once per process, so tests resize it
// through the internal cpu::set_parallel_threads instead), and compare tensors
// bit for bit, naming the first element that differs.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "convnet/convnet.hpp"
#include "cpu/parallel.hpp"

namespace convnet::test {

// 1 runs every loop serially; 2 is this machine's core count; 3 and 7 split
// work into uneven shares (7 also exceeds the cores and most chunk counts).
inline const std::vector<int> kThreadCounts = {1, 2, 3, 7};

// Resizes the CPU pool for its lifetime; back to the process default afterwards.
class ScopedThreadCount {
 public:
  explicit ScopedThreadCount(int threads) { cpu::set_parallel_threads(threads); }
  ~ScopedThreadCount() { cpu::set_parallel_threads(0); }
  ScopedThreadCount(const ScopedThreadCount&) = delete;
  ScopedThreadCount& operator=(const ScopedThreadCount&) = delete;
};

// Raw 32-bit patterns, so that -0 vs +0 and NaN payloads count as differences.
inline std::vector<uint32_t> bits_of(const Tensor& t) {
  const Tensor host = t.to(Device::cpu());
  std::vector<uint32_t> bits(static_cast<size_t>(host.numel()));
  if (!bits.empty()) std::memcpy(bits.data(), host.raw_data(), bits.size() * sizeof(uint32_t));
  return bits;
}

inline ::testing::AssertionResult bit_identical(const std::vector<uint32_t>& expected,
                                                const std::vector<uint32_t>& actual) {
  if (expected.size() != actual.size())
    return ::testing::AssertionFailure()
           << actual.size() << " elements, expected " << expected.size();
  size_t differing = 0, first = 0;
  for (size_t i = 0; i < expected.size(); ++i)
    if (expected[i] != actual[i] && differing++ == 0) first = i;
  if (differing == 0) return ::testing::AssertionSuccess();
  float want, got;
  std::memcpy(&want, &expected[first], sizeof want);
  std::memcpy(&got, &actual[first], sizeof got);
  std::ostringstream os;
  os.precision(9);
  os << differing << " of " << expected.size() << " elements differ; first at " << first << ": "
     << got << " (0x" << std::hex << actual[first] << "), expected " << want << " (0x"
     << expected[first] << ")";
  return ::testing::AssertionFailure() << os.str();
}

}  // namespace convnet::test
