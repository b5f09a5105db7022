// The tiny problem the Trainer tests train on: 8x8 images, 4 classes (which
// quadrant holds a bright blob), and a small CNN for it, all on the CPU.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "convnet/convnet.hpp"
#include "convnet/data/dataloader.hpp"

namespace convnet::train::test {

constexpr int kClasses = 4, kSide = 8;

// Noise (sigma 0.3) plus a 2x2 blob of +1 at a random place inside the quadrant
// named by the label.
inline data::Dataset quadrant_dataset(int64_t count, uint64_t seed) {
  std::vector<float> pixels =
      Tensor::randn({count, 1, kSide, kSide}, Device::cpu(), seed, 0.f, 0.3f).to_vector<float>();
  std::vector<int32_t> labels(static_cast<size_t>(count));
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::uniform_int_distribution<int> offset(0, 2);
  for (int64_t i = 0; i < count; ++i) {
    const int c = static_cast<int>(i % kClasses);
    labels[i] = c;
    const int top = (c / 2) * 4 + offset(rng), left = (c % 2) * 4 + offset(rng);
    for (int r = top; r < top + 2; ++r)
      for (int s = left; s < left + 2; ++s) pixels[(i * kSide + r) * kSide + s] += 1.f;
  }
  return {Tensor::from_vector(pixels, {count, 1, kSide, kSide}),
          Tensor::from_vector(labels, {count})};
}

inline void build_cnn(nn::Sequential& net) {
  net.add<nn::Conv2d>(nn::Conv2dOptions(1, 4, 3).padding(1))
      .add<nn::ReLU>()
      .add<nn::MaxPool2d>(2)
      .add<nn::Flatten>()
      .add<nn::Linear>(4 * 4 * 4, kClasses);
}

inline data::DataLoaderOptions loader_options(int64_t batch_size, bool shuffle) {
  data::DataLoaderOptions o;
  o.batch_size = batch_size;
  o.shuffle = shuffle;
  o.seed = 7;
  return o;
}

}  // namespace convnet::train::test
