// Data-set transforms that live outside the DataLoader: normalisation and
// cutting a data set to a range of its samples.
#include <cmath>

#include "convnet/data/dataset.hpp"
#include "convnet/error.hpp"

namespace convnet::data {

void Normalize::check(const char* who) const {
  CONVNET_CHECK(std::isfinite(mean) && std::isfinite(std) && std > 0.f, who,
                ": Normalize needs a finite mean and a finite, positive std, got mean ", mean,
                " std ", std);
}

Tensor Normalize::operator()(const Tensor& images) const {
  check("Normalize");
  CONVNET_CHECK(images.defined() && images.dtype() == DType::F32,
                "Normalize: needs an f32 tensor, got ", images.str());
  Tensor host = images.to(Device::cpu());
  Tensor out = Tensor::empty(images.shape(), Device::cpu(), DType::F32);
  const float* in = host.data<float>();
  float* result = out.data<float>();
  // (x - mean) / std, as torchvision computes it (not x * (1/std), which rounds differently).
  for (int64_t i = 0; i < out.numel(); ++i) result[i] = (in[i] - mean) / std;
  return out.to(images.device());
}

Dataset Normalize::operator()(const Dataset& dataset) const {
  return {(*this)(dataset.images), dataset.labels};
}

Dataset Dataset::slice(int64_t begin, int64_t end) const {
  CONVNET_CHECK(0 <= begin && begin <= end && end <= size(), "Dataset::slice [", begin, ", ", end,
                ") is outside the data set's ", size(), " samples");
  return {images.slice(begin, end), labels.slice(begin, end)};
}

Dataset Dataset::first(int64_t n) const {
  CONVNET_CHECK(n >= 0, "Dataset::first: n = ", n, " must not be negative");
  return slice(0, n < size() ? n : size());
}

}  // namespace convnet::data
