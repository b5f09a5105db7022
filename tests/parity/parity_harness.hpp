// The parity harness: a table of operations, each run on every available backend
// on fresh random inputs with NaN-poisoned outputs, compared with the CPU result.
//
// A case draws its inputs on the host from a seed (so every backend sees the same
// values), moves them to the backend's device, calls the Backend method directly
// (ops:: would allocate unpoisoned outputs) and returns its outputs. A GPU
// backend joins by being available: available_backends() lists it.
#pragma once

#include <algorithm>

#include <functional>
#include <utility>
#include <string>
#include <vector>

#include "convnet/convnet.hpp"

namespace convnet::parity {

// Draws inputs for one run: the same seed gives the same values on every device.
class Inputs {
 public:
  Inputs(Device device, uint64_t seed) : device_(device), seed_(seed) {}
  Device device() const { return device_; }
  Tensor randn(const Shape& shape, float stddev = 1.f) {
    return Tensor::randn(shape, Device::cpu(), next(), 0.f, stddev).to(device_);
  }
  Tensor rand(const Shape& shape, float low, float high) {
    return Tensor::rand(shape, Device::cpu(), next(), low, high).to(device_);
  }
  // Values on a coarse grid, so max pooling meets ties.
  Tensor quantized(const Shape& shape, int levels);
  Tensor labels(int64_t n, int64_t classes);
  // Output buffers: NaN (f32) or a sentinel (i32) everywhere, so unwritten elements fail.
  Tensor poisoned(const Shape& shape, DType dtype = DType::F32);

 private:
  uint64_t next() { return seed_ * 1000003ull + counter_++; }
  Device device_;
  uint64_t seed_;
  uint64_t counter_ = 0;
};

// Norm-wise ||out - ref|| / ||ref|| for f32 outputs; i32 outputs must match exactly.
// Per (case, backend, math mode): every FP32 path is held to 1e-5. Under
// MathMode::TF32 the GPU backends may multiply on TF32 tensor cores (10-bit
// mantissas: ~2^-11 per product, ~1e-3 norm-wise after accumulation), so the
// matrix-product cases (`matmul`) are held to 5e-3 there instead.
struct Tolerance {
  double relative = 1e-5;
  std::vector<std::pair<Backend::Kind, double>> per_backend;  // overrides
  bool matmul = false;  // conv and linear: TF32 tensor cores may compute them
  double for_backend(Backend::Kind kind) const {
    double bound = relative;
    for (const auto& [k, b] : per_backend)
      if (k == kind) bound = b;
    if (matmul && kind != Backend::Kind::Cpu && math_mode() == MathMode::TF32)
      bound = std::max(bound, 5e-3);
    return bound;
  }
};

struct ParityCase {
  std::string name;  // "conv2d_forward/n2_c3_7x5_k4_r3_s2_p1"
  std::function<std::vector<Tensor>(Backend&, Inputs&)> run;
  Tolerance tolerance;
};

// Every case of every operation family.
std::vector<ParityCase> all_parity_cases();

}  // namespace convnet::parity
