// filter_grid (train/tensorboard.hpp): a convolution's filters as one image.
// Outside src/tensorboard because it needs no protobuf: a build without
// TensorBoard still has it.
#include <algorithm>
#include <cmath>
#include <vector>

#include "convnet/train/tensorboard.hpp"

namespace convnet::train {

Tensor filter_grid(const Tensor& weight) {
  CONVNET_CHECK(weight.defined() && weight.dtype() == DType::F32 && weight.dim() == 4 &&
                    weight.numel() > 0,
                "filter_grid: needs a convolution weight, f32 [out, in, kh, kw], got ",
                weight.defined() ? weight.str() : std::string("an undefined tensor"));
  const int64_t filters = weight.size(0), inputs = weight.size(1);
  const int64_t kh = weight.size(2), kw = weight.size(3);
  const std::vector<float> w = weight.to_vector<float>();  // from any device
  const bool rgb = inputs == 3;
  const int64_t channels = rgb ? 3 : 1;
  // RGB or single-channel filters: one tile each, in a near-square grid.
  // Otherwise a row per filter and a column per input channel.
  int64_t columns, rows;
  if (rgb || inputs == 1) {
    columns = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(filters))));
    rows = (filters + columns - 1) / columns;
  } else {
    columns = inputs;
    rows = filters;
  }
  // Tiles with a 1-pixel gap between them and around them, the gaps 0.
  const int64_t height = rows * (kh + 1) + 1, width = columns * (kw + 1) + 1;
  std::vector<float> image(static_cast<size_t>(channels * height * width), 0.f);
  const int64_t filter_size = inputs * kh * kw;
  for (int64_t f = 0; f < filters; ++f) {
    // Each filter spans [0, 1] on its own: filters differ in scale, and a
    // shared scale would leave most of them a flat grey.
    const auto first = w.begin() + f * filter_size, last = first + filter_size;
    const auto extremes = std::minmax_element(first, last);  // no structured binding: clang's
    const float low = *extremes.first, range = *extremes.second - low;  // C++17 lambdas cannot capture one
    const auto scaled = [&](float v) { return range > 0 ? (v - low) / range : 0.5f; };
    for (int64_t c = 0; c < inputs; ++c) {
      const int64_t tile = rgb || inputs == 1 ? f : f * inputs + c;
      const int64_t top = (tile / columns) * (kh + 1) + 1, left = (tile % columns) * (kw + 1) + 1;
      const int64_t plane = rgb ? c : 0;
      for (int64_t y = 0; y < kh; ++y)
        for (int64_t x = 0; x < kw; ++x)
          image[(plane * height + top + y) * width + left + x] =
              scaled(w[((f * inputs + c) * kh + y) * kw + x]);
    }
  }
  return Tensor::from_vector(image, {channels, height, width});
}

}  // namespace convnet::train
