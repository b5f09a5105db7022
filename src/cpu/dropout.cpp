// Inverted dropout: keep element i when u_i >= p, with u_i = philox_uniform(seed,
// offset, i), and scale the kept ones by 1/(1-p) so the expectation is unchanged.
// The mask (0 or 1/(1-p)) is stored for the backward pass. Because u_i depends
// only on (seed, offset, i), every backend draws the same mask.
#include <cstdint>

#include "convnet/random.hpp"
#include "cpu/cpu_backend.hpp"

namespace convnet::cpu {

void CpuBackend::dropout_forward(const Tensor& input, float p, uint64_t seed, uint64_t offset,
                                 Tensor& output, Tensor& mask) {
  const float* x = input.data<float>();
  float* y = output.data<float>();
  float* m = mask.data<float>();
  const int64_t n = input.numel();
  const float keep_scale = 1.f / (1.f - p);  // float, as the GPU kernels compute it
  for (int64_t i = 0; i < n; ++i) {
    const float u = philox_uniform(seed, offset, static_cast<uint64_t>(i));
    m[i] = u >= p ? keep_scale : 0.f;
    y[i] = x[i] * m[i];
  }
}

void CpuBackend::dropout_backward(const Tensor& grad_output, const Tensor& mask,
                                  Tensor& grad_input) {
  const float* dy = grad_output.data<float>();
  const float* m = mask.data<float>();
  float* dx = grad_input.data<float>();
  const int64_t n = grad_output.numel();
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * m[i];
}

}  // namespace convnet::cpu
