// Data-set transforms: normalisation, augmentation (the options, and the
// per-sample crop/flip the DataLoader applies), checked in-memory data sets
// (TensorDataset) and cutting a data set to a range of its samples.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <string>
#include <utility>

#include "convnet/data/dataset.hpp"
#include "convnet/error.hpp"
#include "convnet/random.hpp"
#include "data/sample_augmenter.hpp"

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

Augmentation& Augmentation::random_crop(CropSize size, int64_t padding) {
  CONVNET_CHECK(size.height >= 1 && size.width >= 1, "Augmentation::random_crop: size must be "
                "positive, got ", size.height, " x ", size.width);
  CONVNET_CHECK(padding >= 0, "Augmentation::random_crop: padding must not be negative, got ",
                padding);
  crop_height_ = size.height;
  crop_width_ = size.width;
  padding_ = padding;
  return *this;
}

Augmentation& Augmentation::horizontal_flip(double p) {
  CONVNET_CHECK(p >= 0.0 && p <= 1.0, "Augmentation::horizontal_flip: p must lie in [0, 1], got ",
                p);  // also refuses NaN
  flip_probability_ = p;
  return *this;
}

void Augmentation::check(const char* who, const Shape& shape) const {
  if (!enabled()) return;
  CONVNET_CHECK(shape.rank() == 4, who, ": augmentation needs images [N, C, H, W] (samples [C, "
                "H, W]), got ", shape);
  if (!crops()) return;
  const int64_t padded_height = shape[2] + 2 * padding_, padded_width = shape[3] + 2 * padding_;
  CONVNET_CHECK(crop_height_ <= padded_height && crop_width_ <= padded_width, who,
                ": random_crop size ", crop_height_, " x ", crop_width_, " is larger than the ",
                padded_height, " x ", padded_width, " padded image (", shape[2], " x ", shape[3],
                " with padding ", padding_, ")");
}

Shape Augmentation::output_shape(const Shape& sample_shape) const {
  if (!crops()) return sample_shape;
  CONVNET_CHECK(sample_shape.rank() == 3, "Augmentation: random_crop needs samples [C, H, W], got ",
                sample_shape);
  return Shape({sample_shape[0], crop_height_, crop_width_});
}

namespace detail {

namespace {
// Tags the augmentation's Philox counters, so that they never meet the ones
// the DataLoader's shuffle draws from (counter (position, epoch), same key).
constexpr uint64_t kAugmentationStream = 0xA06D'0000'0000'0000ull;
}  // namespace

SampleAugmenter::SampleAugmenter(const Augmentation& augmentation, const Shape& sample_shape,
                                 const Normalize& normalization)
    : enabled_(augmentation.enabled()) {
  if (!enabled_) return;
  channels_ = sample_shape[0];
  height_ = sample_shape[1];
  width_ = sample_shape[2];
  padding_ = augmentation.crops() ? augmentation.padding() : 0;
  out_height_ = augmentation.crops() ? augmentation.crop_height() : height_;
  out_width_ = augmentation.crops() ? augmentation.crop_width() : width_;
  flip_probability_ = augmentation.flip_probability();
  pad_value_.resize(static_cast<size_t>(channels_));
  for (int64_t c = 0; c < channels_; ++c) {
    const size_t k = normalization.channels() == 1 ? 0 : static_cast<size_t>(c);
    const float zero = 0.f;
    pad_value_[static_cast<size_t>(c)] = (zero - normalization.mean[k]) / normalization.std[k];
  }
}

SampleAugmenter::Draw SampleAugmenter::draw(uint64_t seed, int64_t epoch, int64_t index) const {
  const Philox4x32 r = philox4x32(static_cast<uint64_t>(index),
                                  static_cast<uint64_t>(epoch) ^ kAugmentationStream, seed);
  // A 32-bit word to [0, n) by multiply-shift: biased by at most n / 2^32.
  const auto below = [](uint32_t word, int64_t n) {
    return static_cast<int64_t>((uint64_t{word} * static_cast<uint64_t>(n)) >> 32);
  };
  Draw d;
  d.flip = static_cast<double>(uniform_from_bits(r.v[0])) < flip_probability_;
  d.top = below(r.v[1], height_ + 2 * padding_ - out_height_ + 1);
  d.left = below(r.v[2], width_ + 2 * padding_ - out_width_ + 1);
  return d;
}

void SampleAugmenter::apply(const float* input, const Draw& d, float* output) const {
  // Output column x reads padded column left + x (or left + w - 1 - x when
  // mirrored), i.e. source column that minus the padding; outside [0, W) it is padding.
  const int64_t w = out_width_;
  const int64_t first = d.flip ? std::max<int64_t>(0, d.left + w - padding_ - width_)
                               : std::max<int64_t>(0, padding_ - d.left);
  const int64_t end = d.flip ? std::min<int64_t>(w, d.left + w - padding_)
                             : std::min<int64_t>(w, width_ + padding_ - d.left);
  for (int64_t c = 0; c < channels_; ++c) {
    const float pad = pad_value_[static_cast<size_t>(c)];
    const float* plane = input + c * height_ * width_;
    for (int64_t y = 0; y < out_height_; ++y) {
      float* row = output + (c * out_height_ + y) * w;
      const int64_t source_y = d.top + y - padding_;
      if (source_y < 0 || source_y >= height_ || first >= end) {
        std::fill(row, row + w, pad);
        continue;
      }
      const float* source = plane + source_y * width_;
      std::fill(row, row + first, pad);
      if (d.flip) {
        const int64_t column_of_x0 = d.left + w - 1 - padding_;  // source column of x = 0
        for (int64_t x = first; x < end; ++x) row[x] = source[column_of_x0 - x];
      } else {
        std::memcpy(row + first, source + (d.left + first - padding_),
                    static_cast<size_t>(end - first) * sizeof(float));
      }
      std::fill(row + end, row + w, pad);
    }
  }
}

}  // namespace detail

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
