// Data-set transforms that live outside the DataLoader: normalisation, checked
// in-memory data sets (TensorDataset) and cutting a data set to a range of its
// samples.
#include <cmath>
#include <sstream>
#include <string>
#include <utility>

#include "convnet/data/dataset.hpp"
#include "convnet/error.hpp"

namespace convnet::data {

Normalize::Normalize(float mean, float std) : mean{mean}, std{std} {}

Normalize::Normalize(std::vector<float> mean, std::vector<float> std)
    : mean(std::move(mean)), std(std::move(std)) {}

namespace {
std::string list(const std::vector<float>& values) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < values.size(); ++i) out << (i ? ", " : "") << values[i];
  out << ']';
  return out.str();
}
}  // namespace

void Normalize::check(const char* who) const {
  CONVNET_CHECK(!mean.empty() && mean.size() == std.size(), who, ": Normalize needs one mean and "
                "one std per channel (or one of each for all channels), got ", mean.size(),
                " means ", list(mean), " and ", std.size(), " stds ", list(std));
  for (size_t c = 0; c < mean.size(); ++c)
    CONVNET_CHECK(std::isfinite(mean[c]) && std::isfinite(std[c]) && std[c] > 0.f, who,
                  ": Normalize needs a finite mean and a finite, positive std, got mean ", mean[c],
                  " std ", std[c], mean.size() > 1 ? " for channel " + std::to_string(c) : "");
}

void Normalize::check(const char* who, const Shape& shape) const {
  check(who);
  if (channels() == 1) return;
  CONVNET_CHECK(shape.rank() >= 2 && shape[1] == channels(), who, ": Normalize has values for ",
                channels(), " channels, but ", shape, " has ",
                shape.rank() >= 2 ? std::to_string(shape[1]) + " channels (dimension 1)"
                                  : std::string("no channel dimension"));
}

Tensor Normalize::operator()(const Tensor& images) const {
  CONVNET_CHECK(images.defined() && images.dtype() == DType::F32,
                "Normalize: needs an f32 tensor, got ", images.str());
  check("Normalize", images.shape());
  Tensor host = images.to(Device::cpu());
  Tensor out = Tensor::empty(images.shape(), Device::cpu(), DType::F32);
  const float* in = host.data<float>();
  float* result = out.data<float>();
  if (out.numel() == 0) return out.to(images.device());
  // Element i of [N, C, rest...] is in channel (i / rest) % C; one channel: a single plane.
  const int64_t channel_count = channels() == 1 ? 1 : images.size(1);
  const int64_t rest = channel_count == 1 ? out.numel() : out.numel() / (images.size(0) * channel_count);
  const int64_t planes = out.numel() / rest;
  for (int64_t plane = 0; plane < planes; ++plane) {
    const size_t c = static_cast<size_t>(plane % channel_count);
    const float m = mean[c], s = std[c];
    const int64_t begin = plane * rest;
    // (x - mean) / std, as torchvision computes it (not x * (1/std), which rounds differently).
    for (int64_t i = begin; i < begin + rest; ++i) result[i] = (in[i] - m) / s;
  }
  return out.to(images.device());
}

Dataset Normalize::operator()(const Dataset& dataset) const {
  return {(*this)(dataset.images), dataset.labels};
}

TensorDataset::TensorDataset(Tensor inputs, Tensor labels) {
  CONVNET_CHECK(inputs.defined() && labels.defined(), "TensorDataset: needs defined inputs and "
                "labels, got ", inputs.str(), " and ", labels.str());
  CONVNET_CHECK(inputs.dtype() == DType::F32, "TensorDataset: inputs must be f32, got ",
                inputs.str());
  CONVNET_CHECK(inputs.dim() >= 2, "TensorDataset: inputs must be [N, F] feature rows or [N, C, "
                "H, W] images (one sample per row of dimension 0), got ", inputs.str(),
                inputs.dim() == 1 ? "; one feature per sample is [N, 1]" : "");
  CONVNET_CHECK(labels.dtype() == DType::I32 && labels.dim() == 1, "TensorDataset: labels must be "
                "i32 [N] class indices, got ", labels.str());
  CONVNET_CHECK(inputs.size(0) == labels.size(0), "TensorDataset: the first dimensions differ: ",
                inputs.size(0), " samples in inputs ", inputs.shape(), " but ", labels.size(0),
                " labels");
  images = std::move(inputs);
  this->labels = std::move(labels);
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
