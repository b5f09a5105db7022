// Adaptive average pooling on the CPU (PyTorch's adaptive_avg_pool2d): the
// windows are kernels/adaptive_pool_index.hpp's. The backward pass gathers
// each input cell's gradient from the output cells whose windows hold it, so
// every output element is written once, planes spread over the cores.
#include <cstdint>

#include "cpu/cpu_backend.hpp"
#include "cpu/parallel.hpp"
#include "kernels/adaptive_pool_index.hpp"

namespace convnet::cpu {

using kernels::adaptive_end;
using kernels::adaptive_first_cell;
using kernels::adaptive_last_cell;
using kernels::adaptive_start;

void CpuBackend::adaptive_avg_pool2d_forward(const Tensor& input, Tensor& output) {
  const int64_t planes = input.size(0) * input.size(1);
  const int64_t h = input.size(2), w = input.size(3);
  const int64_t oh = output.size(2), ow = output.size(3);
  const float* x = input.data<float>();
  float* y = output.data<float>();
  parallel_for(planes, [&](int64_t plane) {
    const float* xp = x + plane * h * w;
    float* yp = y + plane * oh * ow;
    for (int64_t i = 0; i < oh; ++i) {
      const int64_t h0 = adaptive_start(i, h, oh), h1 = adaptive_end(i, h, oh);
      for (int64_t j = 0; j < ow; ++j) {
        const int64_t w0 = adaptive_start(j, w, ow), w1 = adaptive_end(j, w, ow);
        double sum = 0.0;
        for (int64_t r = h0; r < h1; ++r)
          for (int64_t s = w0; s < w1; ++s) sum += xp[r * w + s];
        yp[i * ow + j] = static_cast<float>(sum / static_cast<double>((h1 - h0) * (w1 - w0)));
      }
    }
  });
}

void CpuBackend::adaptive_avg_pool2d_backward(const Tensor& grad_output, Tensor& grad_input) {
  const int64_t planes = grad_input.size(0) * grad_input.size(1);
  const int64_t h = grad_input.size(2), w = grad_input.size(3);
  const int64_t oh = grad_output.size(2), ow = grad_output.size(3);
  const float* dy = grad_output.data<float>();
  float* dx = grad_input.data<float>();
  parallel_for(planes, [&](int64_t plane) {
    const float* dyp = dy + plane * oh * ow;
    float* dxp = dx + plane * h * w;
    for (int64_t r = 0; r < h; ++r) {
      const int64_t i0 = adaptive_first_cell(r, h, oh), i1 = adaptive_last_cell(r, h, oh);
      for (int64_t s = 0; s < w; ++s) {
        const int64_t j0 = adaptive_first_cell(s, w, ow), j1 = adaptive_last_cell(s, w, ow);
        float sum = 0.f;
        for (int64_t i = i0; i <= i1; ++i) {
          const int64_t rows = adaptive_end(i, h, oh) - adaptive_start(i, h, oh);
          for (int64_t j = j0; j <= j1; ++j) {
            const int64_t cols = adaptive_end(j, w, ow) - adaptive_start(j, w, ow);
            sum += dyp[i * ow + j] / static_cast<float>(rows * cols);
          }
        }
        dxp[r * w + s] = sum;
      }
    }
  });
}

}  // namespace convnet::cpu
