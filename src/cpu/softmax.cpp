// Softmax and log-softmax over dimension 1, for every sample and spatial position
// (cuDNN's CHANNEL mode). A tensor [N, C, d2, d3, ...] is viewed as [N, C, inner]
// with inner = d2*d3*...; the C values of one (n, inner position) are `inner` apart.
// The max is subtracted before exp so large logits cannot overflow, and sums over
// C are accumulated in double because this is the reference the GPUs are held to.
#include <cmath>
#include <cstdint>

#include "cpu/cpu_backend.hpp"

namespace convnet::cpu {
namespace {

struct ChannelView {
  int64_t outer = 1, channels = 1, inner = 1;
};

ChannelView channel_view(const Shape& shape) {
  ChannelView v;
  v.outer = shape.rank() > 0 ? shape[0] : 1;
  v.channels = shape.rank() > 1 ? shape[1] : 1;
  for (int d = 2; d < shape.rank(); ++d) v.inner *= shape[d];
  return v;
}

}  // namespace

void CpuBackend::softmax_forward(const Tensor& input, Tensor& output, bool log) {
  const ChannelView v = channel_view(input.shape());
  const float* x_all = input.data<float>();
  float* y_all = output.data<float>();
  for (int64_t n = 0; n < v.outer; ++n) {
    for (int64_t s = 0; s < v.inner; ++s) {
      const int64_t base = n * v.channels * v.inner + s;
      const float* x = x_all + base;
      float* y = y_all + base;
      float max = -INFINITY;
      for (int64_t c = 0; c < v.channels; ++c) max = std::fmax(max, x[c * v.inner]);
      double sum = 0.0;
      for (int64_t c = 0; c < v.channels; ++c) sum += std::exp(double(x[c * v.inner]) - max);
      if (log) {
        const double log_sum = std::log(sum);
        for (int64_t c = 0; c < v.channels; ++c)
          y[c * v.inner] = static_cast<float>(double(x[c * v.inner]) - max - log_sum);
      } else {
        for (int64_t c = 0; c < v.channels; ++c)
          y[c * v.inner] = static_cast<float>(std::exp(double(x[c * v.inner]) - max) / sum);
      }
    }
  }
}

// softmax:     dx = y * (dy - sum_c dy*y)
// log-softmax: dx = dy - exp(y) * sum_c dy
void CpuBackend::softmax_backward(const Tensor& output, const Tensor& grad_output,
                                  Tensor& grad_input, bool log) {
  const ChannelView v = channel_view(output.shape());
  const float* y_all = output.data<float>();
  const float* dy_all = grad_output.data<float>();
  float* dx_all = grad_input.data<float>();
  for (int64_t n = 0; n < v.outer; ++n) {
    for (int64_t s = 0; s < v.inner; ++s) {
      const int64_t base = n * v.channels * v.inner + s;
      const float* y = y_all + base;
      const float* dy = dy_all + base;
      float* dx = dx_all + base;
      double sum = 0.0;
      if (log) {
        for (int64_t c = 0; c < v.channels; ++c) sum += dy[c * v.inner];
        for (int64_t c = 0; c < v.channels; ++c) {
          const int64_t i = c * v.inner;
          dx[i] = static_cast<float>(dy[i] - std::exp(double(y[i])) * sum);
        }
      } else {
        for (int64_t c = 0; c < v.channels; ++c) sum += double(dy[c * v.inner]) * y[c * v.inner];
        for (int64_t c = 0; c < v.channels; ++c) {
          const int64_t i = c * v.inner;
          dx[i] = static_cast<float>(y[i] * (dy[i] - sum));
        }
      }
    }
  }
}

}  // namespace convnet::cpu
