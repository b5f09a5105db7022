// In-memory image classification data sets: MNIST and Fashion-MNIST.
#pragma once

#include <string>

#include "convnet/tensor.hpp"

namespace convnet::data {

struct Dataset {
  Tensor images;  // f32 [N, 1, 28, 28] on the CPU, pixel values scaled to [0, 1]
  Tensor labels;  // i32 [N] class indices
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  // The samples [begin, end) as views sharing this data set's storage (no copy),
  // like torch.utils.data.Subset(ds, range(begin, end)). Throws when out of range.
  Dataset slice(int64_t begin, int64_t end) const;
  // The first min(n, size()) samples, e.g. a quick run on 1,000 images.
  Dataset first(int64_t n) const;
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

// The normalisation the DataLoader applies (torchvision's transforms.Normalize
// for one channel): x -> (x - mean) / std, with the mean and standard deviation
// of the training pixels in [0, 1]. Apply it yourself to a tensor or a data set:
//   data::Dataset test = data::kMnistNormalization(data::load_mnist(dir, data::Split::Test));
struct Normalize {
  float mean = 0.f;
  float std = 1.f;
  // Throws unless mean is finite and std finite and positive; `who` prefixes the message.
  void check(const char* who) const;
  // A new f32 tensor on the input's device (a CUDA tensor makes a round trip through the host).
  Tensor operator()(const Tensor& images) const;
  // The data set with normalised images (new storage) and the same labels.
  Dataset operator()(const Dataset& dataset) const;
};
using Normalization = Normalize;  // its name before it became a public transform
inline constexpr Normalize kMnistNormalization{0.1307f, 0.3081f};
inline constexpr Normalize kFashionMnistNormalization{0.2860f, 0.3530f};

}  // namespace convnet::data
