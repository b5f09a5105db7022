// In-memory classification data sets: any inputs with one row per sample and
// their class labels (TensorDataset), and the MNIST / Fashion-MNIST loaders.
#pragma once

#include <cstdint>
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

// A crop's extent: one int for a square, or {height, width} (torchvision's size).
struct CropSize {
  CropSize(int64_t both) : height(both), width(both) {}  // NOLINT: implicit, like torchvision's int
  CropSize(int64_t height, int64_t width) : height(height), width(width) {}
  int64_t height, width;
};

// Random training-time augmentation of images, applied per sample by the
// DataLoader (DataLoaderOptions::augmentation), as torchvision's
//   transforms.RandomCrop(size, padding=padding)   then
//   transforms.RandomHorizontalFlip(p)
// in that order. The setters chain:
//   options.augmentation = data::Augmentation().random_crop(28, 4);                   // digits: no flip
//   options.augmentation = data::Augmentation().random_crop(28, 4).horizontal_flip(); // Fashion-MNIST
// Both are off by default (a default Augmentation leaves every sample alone); an
// evaluation loader simply does not set it.
//
// Semantics, per sample of an image data set [N, C, H, W]:
// - random_crop(size, padding): the image is padded by `padding` on all four
//   sides, then a window of `size` (one int: square; {h, w}) is cut at a top-left
//   corner drawn uniformly from [0, H + 2*padding - h] x [0, W + 2*padding - w].
//   With size = the image size that is the usual pad-and-shift: a shift of
//   -padding..padding in each direction. A batch's sample shape is then [C, h, w].
//   Padding value: torchvision pads the raw image with 0 before Normalize; the
//   loader normalises each sample once when it is built, so it pads with the
//   normalised value of a raw 0, (0 - mean[c]) / std[c] for channel c, and the
//   batch equals torchvision's Pad(0) -> Crop -> Normalize exactly.
// - horizontal_flip(p): the (cropped) image is mirrored left-right with
//   probability p.
// - The draws of sample i in epoch e are a pure function of (loader seed, e, i)
//   (one Philox call), so the same seed gives the same batches whatever the
//   batch size, prefetch and threading; another epoch draws anew.
// Checks: random_crop throws a convnet::Error for a size < 1 or a padding < 0,
// horizontal_flip for a p outside [0, 1]; the DataLoader throws when the images
// are not 4-D [N, C, H, W] or the crop is larger than the padded image.
class Augmentation {
 public:
  Augmentation() = default;  // no augmentation
  Augmentation& random_crop(CropSize size, int64_t padding = 0);
  Augmentation& horizontal_flip(double p = 0.5);

  bool crops() const { return crop_height_ > 0; }
  int64_t crop_height() const { return crop_height_; }  // 0 without a crop
  int64_t crop_width() const { return crop_width_; }
  int64_t padding() const { return padding_; }
  double flip_probability() const { return flip_probability_; }  // 0 when off
  bool enabled() const { return crops() || flip_probability_ > 0; }

  // Throws unless it can apply to images of `shape` [N, C, H, W]; `who` prefixes the message.
  void check(const char* who, const Shape& shape) const;
  // The shape of one augmented sample of `sample_shape` [C, H, W]: [C, h, w] with a crop.
  Shape output_shape(const Shape& sample_shape) const;

 private:
  int64_t crop_height_ = 0, crop_width_ = 0, padding_ = 0;
  double flip_probability_ = 0;
};

}  // namespace convnet::data
