// The cuBLASLt linear forward's plan key, the alignment preferences it implies
// and the summary's path text. No CUDA types, so the host tests check them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "cudnn/plan_cache.hpp"

namespace convnet::cudnn {

// cuBLASLt assumes 256-byte-aligned operands unless told otherwise
// (CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_*_BYTES default to 256), so alignments
// are recorded up to 256: a view into a batch may be only 4 or 8.
constexpr int kLtMaxAlignment = 256;

struct LinearKey {
  int64_t n = 0, in = 0, out = 0;
  bool bias = false, relu = false;
  MathMode math = MathMode::FP32;
  int device = 0;
  // Byte alignment of each pointer, up to kLtMaxAlignment (no bias: the maximum).
  int align_weight = kLtMaxAlignment, align_input = kLtMaxAlignment,
      align_output = kLtMaxAlignment, align_bias = kLtMaxAlignment;
  bool operator==(const LinearKey& o) const {
    return n == o.n && in == o.in && out == o.out && bias == o.bias && relu == o.relu &&
           math == o.math && device == o.device && align_weight == o.align_weight &&
           align_input == o.align_input && align_output == o.align_output &&
           align_bias == o.align_bias;
  }
};
struct LinearKeyHash {
  size_t operator()(const LinearKey& k) const {
    size_t h = 1469598103934665603ull;
    for (int64_t v : {k.n, k.in, k.out, int64_t(k.bias), int64_t(k.relu), int64_t(k.math),
                      int64_t(k.device), int64_t(k.align_weight), int64_t(k.align_input),
                      int64_t(k.align_output), int64_t(k.align_bias)})
      h = (h ^ static_cast<size_t>(v)) * 1099511628211ull;
    return h;
  }
};

// The four MIN_ALIGNMENT preferences. The row-major mapping of cudnn_linear.cpp:
// A = weight, B = input, C = D = output (C is read with beta = 0, but must still
// be described). Plus whether the bias epilogue may be used at all: it reads
// the bias vectorised, and a bias under 16 bytes aligned has been seen to fault
// rather than be refused (Marian's cuBLASLt path falls back there too), so such
// a bias goes to the cuBLAS path instead.
struct LtAlignment {
  uint32_t a = kLtMaxAlignment, b = kLtMaxAlignment, c = kLtMaxAlignment, d = kLtMaxAlignment;
  bool bias_usable = true;
};
inline LtAlignment lt_alignment(const LinearKey& k) {
  LtAlignment a;
  a.a = static_cast<uint32_t>(k.align_weight);
  a.b = static_cast<uint32_t>(k.align_input);
  a.c = a.d = static_cast<uint32_t>(k.align_output);
  a.bias_usable = !k.bias || k.align_bias >= 16;
  return a;
}

// Per call: how often cuBLASLt ran, and why the cuBLAS path ran instead.
struct LinearCounts {
  size_t lt = 0;             // cuBLASLt ran
  size_t no_algorithm = 0;   // the heuristic returned no algorithm
  size_t not_supported = 0;  // cublasLtMatmul answered CUBLAS_STATUS_NOT_SUPPORTED
  size_t bias_unaligned = 0; // the bias under 16 bytes aligned (lt_alignment)
  size_t fallbacks() const { return no_algorithm + not_supported + bias_unaligned; }
};

// "cublasLt, bias epilogue", or with fallbacks e.g. "cublasLt, bias epilogue;
// cuda cublas gemm, bias kernel (cublasLt refused 2 times: no algorithm 1,
// NOT_SUPPORTED 1)"; `lt_name` alone before any call.
inline std::string linear_path(const LinearCounts& c, const std::string& lt_name,
                               const std::string& cuda_name) {
  if (c.fallbacks() == 0) return lt_name;
  const size_t n = c.fallbacks();
  std::string why;
  auto reason = [&why](const char* name, size_t count) {
    if (count) why += (why.empty() ? "" : ", ") + std::string(name) + " " + std::to_string(count);
  };
  reason("no algorithm", c.no_algorithm);
  reason("NOT_SUPPORTED", c.not_supported);
  reason("bias unaligned", c.bias_unaligned);
  return (c.lt ? lt_name + "; " : std::string()) + "cuda " + cuda_name + " (cublasLt refused " +
         std::to_string(n) + (n == 1 ? " time: " : " times: ") + why + ")";
}

}  // namespace convnet::cudnn
