// Batch normalization on the CPU: each channel on its own (channels spread over
// the cores), its sums taken in double in index order (n, then h*w), so the
// result does not depend on the thread count. The formulas are the Backend's.
#include <cmath>
#include <cstdint>

#include "cpu/cpu_backend.hpp"
#include "cpu/parallel.hpp"

namespace convnet::cpu {

namespace {

// Input [N, C, H, W] or [N, C]: channel c's values are at n * C * hw + c * hw + i.
struct ChannelLayout {
  int64_t n, c, hw;
  int64_t count() const { return n * hw; }
};

ChannelLayout layout_of(const Tensor& input) {
  const int64_t hw = input.dim() == 4 ? input.size(2) * input.size(3) : 1;
  return {input.size(0), input.size(1), hw};
}

// Calls f(x_offset) for every value of channel c, in index order.
template <typename F>
void for_channel(const ChannelLayout& l, int64_t c, F f) {
  for (int64_t n = 0; n < l.n; ++n) {
    const int64_t base = (n * l.c + c) * l.hw;
    for (int64_t i = 0; i < l.hw; ++i) f(base + i);
  }
}

// y = (x - mean) * scale + shift over channel c, then ReLU when relu.
void normalize_channel(const ChannelLayout& l, int64_t c, const float* x, float mean, float scale,
                       float shift, bool relu, float* y) {
  for (int64_t n = 0; n < l.n; ++n) {
    const int64_t base = (n * l.c + c) * l.hw;
    const float* xs = x + base;
    float* ys = y + base;
    for (int64_t i = 0; i < l.hw; ++i) {
      const float v = (xs[i] - mean) * scale + shift;
      // `v < 0` so NaN propagates, as torch.relu and activation_forward do.
      ys[i] = relu ? (v < 0.f ? 0.f : v) : v;
    }
  }
}

float weight_at(const Tensor* weight, int64_t c) { return weight ? weight->data<float>()[c] : 1.f; }
float bias_at(const Tensor* bias, int64_t c) { return bias ? bias->data<float>()[c] : 0.f; }

}  // namespace

void CpuBackend::batch_norm_forward_train(const Tensor& input, const Tensor* weight,
                                          const Tensor* bias, Tensor* running_mean,
                                          Tensor* running_var, float momentum, float eps,
                                          bool relu, Tensor& output, Tensor& save_mean,
                                          Tensor& save_invstd) {
  const ChannelLayout l = layout_of(input);
  const float* x = input.data<float>();
  float* y = output.data<float>();
  float* mean_out = save_mean.data<float>();
  float* invstd_out = save_invstd.data<float>();
  float* rm = running_mean ? running_mean->data<float>() : nullptr;
  float* rv = running_var ? running_var->data<float>() : nullptr;
  const double count = static_cast<double>(l.count());
  parallel_for(l.c, [&](int64_t c) {
    double sum = 0.0;
    for_channel(l, c, [&](int64_t k) { sum += x[k]; });
    const double mean = sum / count;
    double squares = 0.0;  // two passes: no cancellation when |mean| >> std
    for_channel(l, c, [&](int64_t k) {
      const double d = x[k] - mean;
      squares += d * d;
    });
    const double var = squares / count;
    const double invstd = 1.0 / std::sqrt(var + static_cast<double>(eps));
    mean_out[c] = static_cast<float>(mean);
    invstd_out[c] = static_cast<float>(invstd);
    if (rm) {
      const double m = momentum;
      rm[c] = static_cast<float>((1.0 - m) * rm[c] + m * mean);
      rv[c] = static_cast<float>((1.0 - m) * rv[c] + m * var * count / (count - 1.0));
    }
    const double scale = weight_at(weight, c) * invstd;
    normalize_channel(l, c, x, static_cast<float>(mean), static_cast<float>(scale),
                      bias_at(bias, c), relu, y);
  });
}

void CpuBackend::batch_norm_forward_inference(const Tensor& input, const Tensor* weight,
                                              const Tensor* bias, const Tensor& mean,
                                              const Tensor& var, float eps, bool relu,
                                              Tensor& output) {
  const ChannelLayout l = layout_of(input);
  const float* m = mean.data<float>();
  const float* v = var.data<float>();
  parallel_for(l.c, [&](int64_t c) {
    const double scale =
        weight_at(weight, c) / std::sqrt(static_cast<double>(v[c]) + static_cast<double>(eps));
    normalize_channel(l, c, input.data<float>(), m[c], static_cast<float>(scale),
                      bias_at(bias, c), relu, output.data<float>());
  });
}

void CpuBackend::batch_norm_backward(const Tensor& input, const Tensor& grad_output,
                                     const Tensor* weight, const Tensor& save_mean,
                                     const Tensor& save_invstd, Tensor& grad_input,
                                     Tensor* grad_weight, Tensor* grad_bias, bool accumulate) {
  const ChannelLayout l = layout_of(input);
  const float* x = input.data<float>();
  const float* dy = grad_output.data<float>();
  float* dx = grad_input.data<float>();
  const float* mean = save_mean.data<float>();
  const float* invstd = save_invstd.data<float>();
  float* dw = grad_weight ? grad_weight->data<float>() : nullptr;
  float* db = grad_bias ? grad_bias->data<float>() : nullptr;
  const double count = static_cast<double>(l.count());
  parallel_for(l.c, [&](int64_t c) {
    const double mu = mean[c], is = invstd[c];
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    for_channel(l, c, [&](int64_t k) {
      sum_dy += dy[k];
      sum_dy_xhat += dy[k] * ((x[k] - mu) * is);
    });
    if (dw) dw[c] = static_cast<float>(accumulate ? dw[c] + sum_dy_xhat : sum_dy_xhat);
    if (db) db[c] = static_cast<float>(accumulate ? db[c] + sum_dy : sum_dy);
    // dx = k * (dy - a - xhat * b), k = weight * invstd, a = mean(dy), b = mean(dy * xhat)
    const float k = static_cast<float>(weight_at(weight, c) * is);
    const float a = static_cast<float>(sum_dy / count);
    const float b = static_cast<float>(sum_dy_xhat / count);
    const float muf = mean[c], isf = invstd[c];
    for (int64_t n = 0; n < l.n; ++n) {
      const int64_t base = (n * l.c + c) * l.hw;
      for (int64_t i = 0; i < l.hw; ++i) {
        const float xhat = (x[base + i] - muf) * isf;
        dx[base + i] = k * (dy[base + i] - a - xhat * b);
      }
    }
  });
}

}  // namespace convnet::cpu
