// In-memory image classification data sets: MNIST and Fashion-MNIST.
#pragma once

#include <string>

#include "convnet/tensor.hpp"

namespace convnet::data {

struct Dataset {
  Tensor images;  // f32 [N, 1, 28, 28] on the CPU, pixel values scaled to [0, 1]
  Tensor labels;  // i32 [N] class indices
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

enum class Split { Train, Test };

// Loads one split from `dir`, which holds the four IDX files under their usual
// names (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
// t10k-labels-idx1-ubyte), raw or with .gz, or the dotted variant
// (train-images.idx3-ubyte). Checks that images and labels agree in count, that
// images are 28x28 and labels lie in 0..9. A missing file raises a convnet::Error
// that says how to get the data (scripts/fetch_mnist.py, or the Debian package
// dataset-fashion-mnist for Fashion-MNIST).
Dataset load_mnist(const std::string& dir, Split split);

// Where the data lives by default: "data/mnist" and "/usr/share/datasets/fashion-mnist".
std::string default_mnist_dir();
std::string default_fashion_mnist_dir();

// Mean and standard deviation of the training pixels in [0, 1], for normalisation.
struct Normalization {
  float mean = 0.f, stddev = 1.f;
};
inline constexpr Normalization kMnistNormalization{0.1307f, 0.3081f};
inline constexpr Normalization kFashionMnistNormalization{0.2860f, 0.3530f};

}  // namespace convnet::data
