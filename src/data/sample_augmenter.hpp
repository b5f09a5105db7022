// The per-sample half of data::Augmentation, used by the DataLoader's gather:
// the random draws of one sample and the crop/flip of its normalised pixels.
// Built once per loader (the shapes and padding values are fixed), then called
// from the prefetch thread; it holds no mutable state, so any thread may call it.
#pragma once

#include <cstdint>
#include <vector>

#include "convnet/data/dataset.hpp"

namespace convnet::data::detail {

class SampleAugmenter {
 public:
  // What one sample draws: the window's top-left corner in the padded image
  // (0..H + 2p - h, 0..W + 2p - w) and whether it is mirrored.
  struct Draw {
    int64_t top = 0, left = 0;
    bool flip = false;
  };

  SampleAugmenter() = default;
  // `sample_shape` is [C, H, W]; `normalization` the loader's (it gives the
  // padding value (0 - mean[c]) / std[c]); checked by the caller.
  SampleAugmenter(const Augmentation& augmentation, const Shape& sample_shape,
                  const Normalize& normalization);

  bool enabled() const { return enabled_; }
  int64_t output_size() const { return channels_ * out_height_ * out_width_; }

  // Sample `index` in epoch `epoch` under `seed`: one Philox call, a pure function of the three.
  Draw draw(uint64_t seed, int64_t epoch, int64_t index) const;
  // Writes the [C, h, w] window of `input` [C, H, W] that `d` selects to `output`.
  void apply(const float* input, const Draw& d, float* output) const;

 private:
  bool enabled_ = false;
  int64_t channels_ = 0, height_ = 0, width_ = 0, out_height_ = 0, out_width_ = 0, padding_ = 0;
  double flip_probability_ = 0;
  std::vector<float> pad_value_;  // per channel
};

}  // namespace convnet::data::detail
