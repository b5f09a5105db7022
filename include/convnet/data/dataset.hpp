// In-memory classification data sets: any inputs with one row per sample and
// their class labels (TensorDataset), and the MNIST / Fashion-MNIST loaders.
#pragma once

#include <string>
#include <vector>

#include "convnet/tensor.hpp"

namespace convnet::data {

// Samples as tensors whose first dimension counts them. `images` may be any f32
// [N, ...]: images [N, C, H, W] (MNIST's are [N, 1, 28, 28], pixels in [0, 1]),
// or feature rows [N, F]. Aggregate: Dataset{images, labels} builds one unchecked;
// TensorDataset (below) checks what it is given.
struct Dataset {
  Tensor images;  // f32 [N, ...], one sample per row of dimension 0
  Tensor labels;  // i32 [N] class indices
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  // The samples [begin, end) as views sharing this data set's storage (no copy),
  // like torch.utils.data.Subset(ds, range(begin, end)). Throws when out of range.
  Dataset slice(int64_t begin, int64_t end) const;
  // The first min(n, size()) samples, e.g. a quick run on 1,000 images.
  Dataset first(int64_t n) const;
};

// A Dataset over tensors you already hold, like torch.utils.data.TensorDataset:
//   data::TensorDataset blobs(features /* f32 [N, 2] */, labels /* i32 [N] */);
//   data::DataLoader loader(blobs, options);
// `inputs` is f32 [N, ...] with at least two dimensions ([N, F] or [N, C, H, W]);
// `labels` is i32 [N]. The tensors are shared, not copied, and may live on any
// device (the DataLoader gathers batches from a host copy). Throws a
// convnet::Error for an undefined tensor, another dtype or rank, or counts that
// differ in the first dimension.
struct TensorDataset : Dataset {
  TensorDataset(Tensor inputs, Tensor labels);
};

enum class Split { Train, Test };

// Loads one split from `dir`, which holds the four IDX files under their usual
// names (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
// t10k-labels-idx1-ubyte), raw or with .gz, or the dotted variant
// (train-images.idx3-ubyte). Checks that images and labels agree in count, that
// images are 28x28 and labels lie in 0..9. Images come as f32 [N, 1, 28, 28]
// scaled to [0, 1]. A missing file raises a convnet::Error that names the folder
// and the file names it looked for.
Dataset load_mnist(const std::string& dir, Split split);

// Where the data lives by default: "data/mnist" and "/usr/share/datasets/fashion-mnist".
std::string default_mnist_dir();
std::string default_fashion_mnist_dir();

// The normalisation the DataLoader applies, torchvision's transforms.Normalize:
// x -> (x - mean[c]) / std[c] for every element of channel c, where the channel
// is dimension 1 of a batch: C of [N, C, H, W], the feature of [N, F]. One mean
// and std (the default, and MNIST's) apply to every channel; otherwise there is
// one per channel, e.g. ImageNet's for RGB:
//   data::Normalize({0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f})
// Apply it yourself to a tensor or a data set:
//   data::Dataset test = data::kMnistNormalization(data::load_mnist(dir, data::Split::Test));
struct Normalize {
  std::vector<float> mean{0.f};
  std::vector<float> std{1.f};
  Normalize() = default;                     // the identity
  Normalize(float mean, float std);          // the same for every channel
  Normalize(std::vector<float> mean, std::vector<float> std);  // one of each per channel

  // How many channels it has values for: 1 applies to any number.
  int64_t channels() const { return static_cast<int64_t>(mean.size()); }
  // Throws unless mean and std have the same, non-zero length, every mean is finite
  // and every std finite and positive; `who` prefixes the message.
  void check(const char* who) const;
  // check(who), and that a batch of `shape` ([N, C, ...]) has channels() channels
  // (when channels() > 1).
  void check(const char* who, const Shape& shape) const;
  // A new f32 tensor [N, C, ...] on the input's device (a CUDA tensor makes a
  // round trip through the host).
  Tensor operator()(const Tensor& images) const;
  // The data set with normalised images (new storage) and the same labels.
  Dataset operator()(const Dataset& dataset) const;
};
using Normalization = Normalize;  // its name before it became a public transform
inline const Normalize kMnistNormalization{0.1307f, 0.3081f};
inline const Normalize kFashionMnistNormalization{0.2860f, 0.3530f};

}  // namespace convnet::data
