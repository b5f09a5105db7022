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
// Every bound carries its reason, printed when a case fails. The default holds
// every backend to 1e-5; a case overrides it per (backend, math mode) and says
// why (conv and linear: matmul_tolerance in parity_cases.cpp).
struct Bound {
  double relative;
  std::string why;
};

struct BoundOverride {
  Backend::Kind kind;
  MathMode math;  // applies only under this math mode
  Bound bound;
};

struct Tolerance {
  Bound default_bound{1e-5,
                      "float32 against the float32 CPU reference: the same products, summed in "
                      "another order (a few ulps, norm-wise)"};
  std::vector<BoundOverride> overrides;
  Bound for_backend(Backend::Kind kind) const {
    Bound bound = default_bound;
    for (const BoundOverride& o : overrides)
      if (o.kind == kind && o.math == math_mode()) bound = o.bound;
    return bound;
  }
};

struct ParityCase {
  std::string name;  // "conv2d_forward/n2_c3_7x5_k4_r3_s2_p1"
  std::function<std::vector<Tensor>(Backend&, Inputs&)> run;
  Tolerance tolerance;
  // Multiply-adds of the heaviest call (convolutions); under CONVNET_TEST_SMALL
  // the GPU columns skip cases past kSmallMultiplyAdds (support/small_shapes.hpp).
  double multiply_adds = 0;
};

// Every case of every operation family.
std::vector<ParityCase> all_parity_cases();
// The tensor-arithmetic family, in tensor_arith_cases.cpp.
void add_tensor_arith_cases(std::vector<ParityCase>& cases);
// Batch normalization and adaptive average pooling, in norm_cases.cpp.
void add_norm_cases(std::vector<ParityCase>& cases);

}  // namespace convnet::parity
