// Layer options in the style of libtorch's C++ frontend: each layer takes an
// options object whose setters chain and whose getters have the same names,
//
//   nn::Conv2d conv(nn::Conv2dOptions(1, 32, 5).stride(1).padding(2));
//   nn::MaxPool2d pool(nn::MaxPool2dOptions(3).stride(2).ceil_mode(true));
//   int pad_h = conv.options().padding().h;   // getters have the setters' names
//
// with PyTorch's names and defaults, so a line of PyTorch ports option by
// option and an unset option means what it means there. There are no trailing
// positional ints or booleans: `MaxPool2d(2, 2, 0, 1)` must not compile, since
// in PyTorch its fourth argument is dilation. The options are checked when the
// layer is built (a convnet::Error naming the layer and the value).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace convnet::nn {

// A 2-D extent (kernel size, stride, padding, dilation): one int for both
// dimensions, or {h, w}. libtorch's ExpandingArray<2>, without templates.
//   Pair k = 5;        // 5 x 5
//   Pair s = {2, 1};   // 2 along the height, 1 along the width
class Pair {
 public:
  Pair(int both) : h(both), w(both), one_value_(true) {}  // NOLINT: implicit, like ExpandingArray
  Pair(int height, int width) : h(height), w(width), one_value_(false) {}

  int h, w;

  // Whether it was written as one int: PyTorch prints what the user wrote
  // (MaxPool2d(2) shows kernel_size=2, MaxPool2d((2, 2)) shows (2, 2)).
  bool written_as_one() const { return one_value_; }
  bool operator==(const Pair& other) const { return h == other.h && w == other.w; }
  bool operator!=(const Pair& other) const { return !(*this == other); }

 private:
  bool one_value_;
};

// Declares option `name` of type `T`: a setter `name(value)` that returns the
// options for chaining, a getter `name()`, and the member `name##_`, whose
// default follows the macro (`CONVNET_OPTION(bool, bias) = true;`).
// libtorch's TORCH_ARG.
#define CONVNET_OPTION(T, name)                              \
 public:                                                     \
  auto name(const T& new_##name)->decltype(*this) {          \
    this->name##_ = new_##name;                              \
    return *this;                                            \
  }                                                          \
  const T& name() const noexcept { return this->name##_; }   \
                                                             \
 private:                                                    \
  T name##_

// torch::nn::Conv2dOptions without groups (no backend computes grouped
// convolution) and with padding_mode always "zeros".
class Conv2dOptions {
 public:
  Conv2dOptions(int in_channels, int out_channels, Pair kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}

  CONVNET_OPTION(int, in_channels);
  CONVNET_OPTION(int, out_channels);
  CONVNET_OPTION(Pair, kernel_size);
  CONVNET_OPTION(Pair, stride) = 1;
  CONVNET_OPTION(Pair, padding) = 0;
  CONVNET_OPTION(Pair, dilation) = 1;
  CONVNET_OPTION(bool, bias) = true;
};

// Shared by the pooling options. stride left unset equals kernel_size (PyTorch's
// stride=None), whatever kernel_size is set to later.
template <typename Self>
class Pool2dOptionsBase {
 public:
  explicit Pool2dOptionsBase(Pair kernel_size) : kernel_size_(kernel_size) {}

  Self& kernel_size(Pair value) { kernel_size_ = value; return self(); }
  Pair kernel_size() const { return kernel_size_; }
  Self& stride(Pair value) { stride_ = value; return self(); }
  Pair stride() const { return stride_.value_or(kernel_size_); }
  Self& padding(Pair value) { padding_ = value; return self(); }
  Pair padding() const { return padding_; }
  Self& ceil_mode(bool value) { ceil_mode_ = value; return self(); }
  bool ceil_mode() const { return ceil_mode_; }

 private:
  Self& self() { return static_cast<Self&>(*this); }
  Pair kernel_size_;
  std::optional<Pair> stride_;
  Pair padding_ = 0;
  bool ceil_mode_ = false;
};

// torch::nn::MaxPool2dOptions without dilation and return_indices: the
// backends pool over contiguous windows only, so a dilated max pool does not
// compile rather than compute something else. Ties go to the first maximum;
// NaN propagates.
class MaxPool2dOptions : public Pool2dOptionsBase<MaxPool2dOptions> {
 public:
  explicit MaxPool2dOptions(Pair kernel_size) : Pool2dOptionsBase(kernel_size) {}
};

// torch::nn::AvgPool2dOptions without divisor_override. count_include_pad
// (true, PyTorch's default) divides by the whole window, padding included.
class AvgPool2dOptions : public Pool2dOptionsBase<AvgPool2dOptions> {
 public:
  explicit AvgPool2dOptions(Pair kernel_size) : Pool2dOptionsBase(kernel_size) {}

  AvgPool2dOptions& count_include_pad(bool value) { count_include_pad_ = value; return *this; }
  bool count_include_pad() const { return count_include_pad_; }

 private:
  bool count_include_pad_ = true;
};

// torch::nn::AdaptiveAvgPool2dOptions: the output size (1 is global average pooling).
class AdaptiveAvgPool2dOptions {
 public:
  AdaptiveAvgPool2dOptions(Pair output_size) : output_size_(output_size) {}  // NOLINT: implicit, as libtorch
  CONVNET_OPTION(Pair, output_size);
};

// torch::nn::BatchNormOptions for BatchNorm2d, with PyTorch's defaults. momentum
// nullopt is PyTorch's momentum=None: a cumulative average over every batch so
// far (the factor is 1 / num_batches_tracked).
class BatchNorm2dOptions {
 public:
  BatchNorm2dOptions(int64_t num_features) : num_features_(num_features) {}  // NOLINT: implicit, as libtorch
  CONVNET_OPTION(int64_t, num_features);
  CONVNET_OPTION(double, eps) = 1e-5;
  CONVNET_OPTION(std::optional<double>, momentum) = 0.1;
  CONVNET_OPTION(bool, affine) = true;
  CONVNET_OPTION(bool, track_running_stats) = true;
};

// torch::nn::LinearOptions.
class LinearOptions {
 public:
  LinearOptions(int in_features, int out_features)
      : in_features_(in_features), out_features_(out_features) {}

  CONVNET_OPTION(int, in_features);
  CONVNET_OPTION(int, out_features);
  CONVNET_OPTION(bool, bias) = true;
};

// torch::nn::DropoutOptions (no inplace), plus the seed of the layer's masks:
// 0 (the default) takes convnet::next_seed() when the layer is built, so
// manual_seed() fixes it; any other value fixes it directly.
class DropoutOptions {
 public:
  DropoutOptions() = default;
  explicit DropoutOptions(float p) : p_(p) {}

  CONVNET_OPTION(float, p) = 0.5f;
  CONVNET_OPTION(uint64_t, seed) = 0;
};

// torch::nn::LeakyReLUOptions (no inplace).
class LeakyReLUOptions {
 public:
  CONVNET_OPTION(float, negative_slope) = 0.01f;
};

// nn::ResNet (resnet.hpp): stage widths and blocks per stage; the default is ResNet-20.
class ResNetOptions {
 public:
  ResNetOptions() = default;
  CONVNET_OPTION(int64_t, in_channels) = 1;
  CONVNET_OPTION(int64_t, num_classes) = 10;
  CONVNET_OPTION(std::vector<int64_t>, widths) = {16, 32, 64};
  CONVNET_OPTION(std::vector<int64_t>, blocks) = {3, 3, 3};
  CONVNET_OPTION(bool, zero_init_residual) = false;
  CONVNET_OPTION(int64_t, stem_stride) = 1;
};

#undef CONVNET_OPTION

}  // namespace convnet::nn
