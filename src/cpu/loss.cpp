// Losses and their gradients: fused softmax cross-entropy (labels int32), MSE,
// binary cross-entropy with logits, and hinge. Each forward writes the mean
// (over rows for cross-entropy, over all elements otherwise) into a one-element
// tensor; each backward writes d(scale * loss)/d(input). Sums run in double.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "convnet/error.hpp"
#include "cpu/cpu_backend.hpp"

namespace convnet::cpu {
namespace {

// Checked here, not in ops::, because it needs the label values, which on a GPU
// would cost a host sync; the CPU reference can afford to fail loudly.
void check_labels(const char* op, const Tensor& labels, int64_t classes, const char* what,
                  const Shape& shape) {
  const int32_t* label = labels.data<int32_t>();
  for (int64_t row = 0; row < labels.numel(); ++row)
    CONVNET_CHECK(label[row] >= 0 && label[row] < classes, op, ": label ", label[row],
                  " at row ", row, " is outside [0, ", classes, ") (", what, " ", shape, ")");
}

double stable_sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

}  // namespace

// ---- softmax cross-entropy: loss = mean_n (logsumexp(x_n) - x_n[label_n]);
// with label smoothing e, mean_n (lse(x_n) - (1 - e) x_n[label_n] - (e / C) sum_c x_n[c]).
// The smoothing term is added only when e > 0, so e = 0 is the plain loss even
// for infinite logits (0 * inf would be NaN).

void CpuBackend::softmax_cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                               float label_smoothing, Tensor& loss,
                                               Tensor& probs) {
  const int64_t rows = logits.size(0), classes = logits.size(1);
  check_labels("softmax_cross_entropy_forward", labels, classes, "logits", logits.shape());
  const float* x_all = logits.data<float>();
  const int32_t* label = labels.data<int32_t>();
  float* p_all = probs.data<float>();
  const double e = label_smoothing;
  double total = 0.0;
  for (int64_t n = 0; n < rows; ++n) {
    const float* x = x_all + n * classes;
    float* p = p_all + n * classes;
    float max = -INFINITY;
    for (int64_t c = 0; c < classes; ++c) max = std::fmax(max, x[c]);
    double sum = 0.0;
    for (int64_t c = 0; c < classes; ++c) sum += std::exp(double(x[c]) - max);
    for (int64_t c = 0; c < classes; ++c)
      p[c] = static_cast<float>(std::exp(double(x[c]) - max) / sum);
    const double lse = max + std::log(sum);
    if (e > 0.0) {
      double sum_x = 0.0;
      for (int64_t c = 0; c < classes; ++c) sum_x += x[c];
      total += lse - (1.0 - e) * x[label[n]] - e / static_cast<double>(classes) * sum_x;
    } else {
      total += lse - x[label[n]];
    }
  }
  loss.data<float>()[0] = static_cast<float>(total / static_cast<double>(rows));
}

void CpuBackend::softmax_cross_entropy_backward(const Tensor& probs, const Tensor& labels,
                                                float label_smoothing, float scale,
                                                Tensor& grad_logits) {
  const int64_t rows = probs.size(0), classes = probs.size(1);
  // The forward pass checked the labels; here an invalid one only selects no column.
  const float* p = probs.data<float>();
  const int32_t* label = labels.data<int32_t>();
  float* dx = grad_logits.data<float>();
  const double factor = double(scale) / static_cast<double>(rows);
  const double e = label_smoothing;
  const double miss = e / static_cast<double>(classes), hit = 1.0 - e + miss;
  for (int64_t n = 0; n < rows; ++n) {
    for (int64_t c = 0; c < classes; ++c) {
      const int64_t i = n * classes + c;
      const double target = c == label[n] ? hit : miss;  // never indexes by the label
      dx[i] = static_cast<float>(factor * (double(p[i]) - target));
    }
  }
}

// ---- MSE: mean((p - t)^2)

void CpuBackend::mse_forward(const Tensor& prediction, const Tensor& target, Tensor& loss) {
  const float* p = prediction.data<float>();
  const float* t = target.data<float>();
  const int64_t n = prediction.numel();
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = double(p[i]) - t[i];
    total += d * d;
  }
  loss.data<float>()[0] = static_cast<float>(total / static_cast<double>(n));
}

void CpuBackend::mse_backward(const Tensor& prediction, const Tensor& target, float scale,
                              Tensor& grad_prediction) {
  const float* p = prediction.data<float>();
  const float* t = target.data<float>();
  float* dp = grad_prediction.data<float>();
  const int64_t n = prediction.numel();
  const double factor = 2.0 * scale / static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i) dp[i] = static_cast<float>(factor * (double(p[i]) - t[i]));
}

// ---- BCE with logits: mean(max(x,0) - x*t + log1p(exp(-|x|))), the form that
// never exponentiates a large positive number.

void CpuBackend::bce_with_logits_forward(const Tensor& logits, const Tensor& target,
                                         Tensor& loss) {
  const float* x = logits.data<float>();
  const float* t = target.data<float>();
  const int64_t n = logits.numel();
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double xi = x[i];
    total += std::max(xi, 0.0) - xi * t[i] + std::log1p(std::exp(-std::fabs(xi)));
  }
  loss.data<float>()[0] = static_cast<float>(total / static_cast<double>(n));
}

void CpuBackend::bce_with_logits_backward(const Tensor& logits, const Tensor& target, float scale,
                                          Tensor& grad_logits) {
  const float* x = logits.data<float>();
  const float* t = target.data<float>();
  float* dx = grad_logits.data<float>();
  const int64_t n = logits.numel();
  const double factor = double(scale) / static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i)
    dx[i] = static_cast<float>(factor * (stable_sigmoid(x[i]) - t[i]));
}

// ---- hinge: mean(max(0, margin - t*s)); the gradient at the kink is 0.

void CpuBackend::hinge_forward(const Tensor& scores, const Tensor& target, float margin,
                               Tensor& loss) {
  const float* s = scores.data<float>();
  const float* t = target.data<float>();
  const int64_t n = scores.numel();
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double slack = double(margin) - double(t[i]) * s[i];
    total += slack < 0.0 ? 0.0 : slack;  // not std::max, which would drop a NaN
  }
  loss.data<float>()[0] = static_cast<float>(total / static_cast<double>(n));
}

void CpuBackend::hinge_backward(const Tensor& scores, const Tensor& target, float margin,
                                float scale, Tensor& grad_scores) {
  const float* s = scores.data<float>();
  const float* t = target.data<float>();
  float* ds = grad_scores.data<float>();
  const int64_t n = scores.numel();
  const double factor = double(scale) / static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i) {
    const bool active = double(margin) - double(t[i]) * s[i] > 0.0;
    ds[i] = active ? static_cast<float>(-factor * t[i]) : 0.f;
  }
}

}  // namespace convnet::cpu
