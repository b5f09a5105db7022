// Elementwise helpers (fill, add, scale) and the accuracy counter. Outputs may
// alias inputs: every loop reads element i before writing element i.
#include <cmath>
#include <cstdint>

#include "cpu/cpu_backend.hpp"

namespace convnet::cpu {

void CpuBackend::fill(Tensor& output, float value) {
  const int64_t n = output.numel();
  if (output.dtype() == DType::I32) {
    const int32_t v = static_cast<int32_t>(value);  // as Tensor::fill_ does
    int32_t* out = output.data<int32_t>();
    for (int64_t i = 0; i < n; ++i) out[i] = v;
  } else {
    float* out = output.data<float>();
    for (int64_t i = 0; i < n; ++i) out[i] = value;
  }
}

void CpuBackend::add(const Tensor& a, const Tensor& b, Tensor& output) {
  const float* x = a.data<float>();
  const float* y = b.data<float>();
  float* out = output.data<float>();
  const int64_t n = output.numel();
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] + y[i];
}

void CpuBackend::scale(const Tensor& input, float alpha, Tensor& output) {
  const float* x = input.data<float>();
  float* out = output.data<float>();
  const int64_t n = output.numel();
  for (int64_t i = 0; i < n; ++i) out[i] = alpha * x[i];
}

// The prediction is torch.argmax's: the first maximal logit, where a NaN counts
// as larger than everything and the first NaN wins.
void CpuBackend::count_correct(const Tensor& logits, const Tensor& labels, Tensor& correct,
                               bool accumulate) {
  const int64_t rows = logits.size(0), classes = logits.size(1);
  const float* x_all = logits.data<float>();
  const int32_t* label = labels.data<int32_t>();
  int64_t count = 0;
  for (int64_t n = 0; n < rows && classes > 0; ++n) {
    const float* x = x_all + n * classes;
    int64_t best = 0;
    for (int64_t c = 1; c < classes && !std::isnan(x[best]); ++c)
      if (std::isnan(x[c]) || x[c] > x[best]) best = c;
    if (best == label[n]) ++count;
  }
  int32_t* out = correct.data<int32_t>();
  out[0] = static_cast<int32_t>((accumulate ? out[0] : 0) + count);
}

}  // namespace convnet::cpu
