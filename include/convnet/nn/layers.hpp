// The layers: convolution, pooling, activations, linear, flatten, dropout, softmax.
// BatchNorm2d is in batch_norm.hpp, residual blocks in residual.hpp.
// Each computes through convnet::ops on the backend chosen for it (Layer::set_backend).
//
// Options follow libtorch (convnet/nn/options.hpp): a layer takes its options
// object, or the short form of its required arguments only. PyTorch -> convnet:
//   nn.Conv2d(1, 32, 5)                        nn::Conv2d(1, 32, 5)
//   nn.Conv2d(1, 32, 5, padding=2)             nn::Conv2d(nn::Conv2dOptions(1, 32, 5).padding(2))
//   nn.MaxPool2d(2)                            nn::MaxPool2d(2)
//   nn.MaxPool2d(3, stride=2, ceil_mode=True)  nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).ceil_mode(true))
//   nn.Linear(3136, 10, bias=False)            nn::Linear(nn::LinearOptions(3136, 10).bias(false))
// name() prints the layer as PyTorch's repr does.
//
// forward(x, Mode::Eval) keeps nothing for backward (see layer.hpp).
#pragma once

#include <cstdint>
#include <string>

#include "convnet/nn/layer.hpp"
#include "convnet/nn/options.hpp"

namespace convnet::nn {

// Cross-correlation like PyTorch's Conv2d; weight [out, in, kh, kw], bias [out].
// Initialised like PyTorch (init::pytorch_default_).
class Conv2d : public Layer {
 public:
  Conv2d(int in_channels, int out_channels, Pair kernel_size);  // stride 1, no padding, bias
  explicit Conv2d(const Conv2dOptions& options);
  Tensor forward(const Tensor& input, Mode mode) override;
  Tensor backward(const Tensor& grad_output) override;
  std::string name() const override;
  Shape output_shape(const Shape& input_shape) const override;
  Parameter& weight() { return *weight_; }
  Parameter* bias() { return bias_; }  // nullptr without bias
  const Conv2dOptions& options() const { return options_; }
  const Conv2dParams& params() const { return params_; }  // as the backends take them
  Backend::Op backend_op(bool fused_relu) const override {
    return fused_relu ? Backend::Op::Conv2dBiasReLU : Backend::Op::Conv2d;
  }
  bool can_fuse_relu() const override { return true; }

 protected:
  void clear_cache() override { input_ = output_ = Tensor(); }

 private:
  void set_fused_relu(bool on) override { fuse_relu_ = on; }
  Conv2dOptions options_;
  Conv2dParams params_;
  Parameter* weight_ = nullptr;  // registered: Layer owns it
  Parameter* bias_ = nullptr;  // registered only with options.bias()
  Tensor input_;
  Tensor output_;            // kept by a fused forward: ReLU's gradient reads it
  bool fuse_relu_ = false;   // set by Sequential around one forward
};

// Shared by MaxPool2d and AvgPool2d.
class Pool2d : public Layer {
 public:
  Tensor forward(const Tensor& input, Mode mode) override;
  Tensor backward(const Tensor& grad_output) override;
  Shape output_shape(const Shape& input_shape) const override;
  const Pool2dParams& params() const { return params_; }  // as the backends take them
  Backend::Op backend_op(bool) const override { return Backend::Op::Pool2d; }

 protected:
  explicit Pool2d(const Pool2dParams& params) : params_(params) {}
  void clear_cache() override { input_ = Tensor(); argmax_ = Tensor(); }

 private:
  Pool2dParams params_;
  Tensor input_, argmax_;  // argmax: max pooling in Mode::Train only
};

// stride defaults to kernel_size, as in PyTorch. Ties go to the first maximum; NaN propagates.
class MaxPool2d : public Pool2d {
 public:
  explicit MaxPool2d(Pair kernel_size);
  explicit MaxPool2d(const MaxPool2dOptions& options);
  std::string name() const override;
  const MaxPool2dOptions& options() const { return options_; }

 private:
  MaxPool2dOptions options_;
};

// count_include_pad = true (PyTorch's default) divides by the full window.
class AvgPool2d : public Pool2d {
 public:
  explicit AvgPool2d(Pair kernel_size);
  explicit AvgPool2d(const AvgPool2dOptions& options);
  std::string name() const override;
  const AvgPool2dOptions& options() const { return options_; }

 private:
  AvgPool2dOptions options_;
};

// PyTorch's AdaptiveAvgPool2d: [N, C, H, W] -> [N, C, out_h, out_w], each
// output cell the mean of its window (Backend::adaptive_avg_pool2d_forward);
// output_size 1 is global average pooling.
class AdaptiveAvgPool2d : public Layer {
 public:
  explicit AdaptiveAvgPool2d(Pair output_size)  // nn.AdaptiveAvgPool2d(1), ((2, 3))
      : AdaptiveAvgPool2d(AdaptiveAvgPool2dOptions(output_size)) {}
  explicit AdaptiveAvgPool2d(const AdaptiveAvgPool2dOptions& options);
  Tensor forward(const Tensor& input, Mode mode) override;
  Tensor backward(const Tensor& grad_output) override;
  std::string name() const override;
  Shape output_shape(const Shape& input_shape) const override;
  const AdaptiveAvgPool2dOptions& options() const { return options_; }
  Backend::Op backend_op(bool) const override { return Backend::Op::AdaptiveAvgPool2d; }

 protected:
  void clear_cache() override { input_shape_ = Shape(); }

 private:
  AdaptiveAvgPool2dOptions options_;
  Shape input_shape_;
};

// Shared by the pointwise activations.
class ActivationLayer : public Layer {
 public:
  Tensor forward(const Tensor& input, Mode mode) override;
  Tensor backward(const Tensor& grad_output) override;
  std::string name() const override;
  Shape output_shape(const Shape& input_shape) const override { return input_shape; }
  Backend::Op backend_op(bool) const override { return Backend::Op::Activation; }

 protected:
  ActivationLayer(Activation activation, float alpha) : activation_(activation), alpha_(alpha) {}
  void clear_cache() override { input_ = Tensor(); output_ = Tensor(); }

 private:
  Activation activation_;
  float alpha_;
  Tensor input_, output_;
};

class ReLU : public ActivationLayer {
 public:
  ReLU() : ActivationLayer(Activation::ReLU, 0.f) {}
};
// y = x for x > 0, negative_slope * x otherwise (default 0.01).
class LeakyReLU : public ActivationLayer {
 public:
  LeakyReLU() : LeakyReLU(LeakyReLUOptions()) {}
  explicit LeakyReLU(float negative_slope)  // PyTorch's short form, nn.LeakyReLU(0.2)
      : LeakyReLU(LeakyReLUOptions().negative_slope(negative_slope)) {}
  explicit LeakyReLU(const LeakyReLUOptions& options)
      : ActivationLayer(Activation::LeakyReLU, options.negative_slope()), options_(options) {}
  const LeakyReLUOptions& options() const { return options_; }

 private:
  LeakyReLUOptions options_;
};
class Sigmoid : public ActivationLayer {
 public:
  Sigmoid() : ActivationLayer(Activation::Sigmoid, 0.f) {}
};
class Tanh : public ActivationLayer {
 public:
  Tanh() : ActivationLayer(Activation::Tanh, 0.f) {}
};

// y = x W^T + b; weight [out, in], bias [out]. Input [N, in].
class Linear : public Layer {
 public:
  Linear(int in_features, int out_features);  // with bias
  explicit Linear(const LinearOptions& options);
  Tensor forward(const Tensor& input, Mode mode) override;
  Tensor backward(const Tensor& grad_output) override;
  std::string name() const override;
  Shape output_shape(const Shape& input_shape) const override;
  Parameter& weight() { return *weight_; }
  Parameter* bias() { return bias_; }  // nullptr without bias
  const LinearOptions& options() const { return options_; }
  Backend::Op backend_op(bool fused_relu) const override {
    return fused_relu ? Backend::Op::LinearBiasReLU : Backend::Op::Linear;
  }
  bool can_fuse_relu() const override { return true; }

 protected:
  void clear_cache() override { input_ = output_ = Tensor(); }

 private:
  void set_fused_relu(bool on) override { fuse_relu_ = on; }
  LinearOptions options_;
  Parameter* weight_ = nullptr;  // registered: Layer owns it
  Parameter* bias_ = nullptr;  // registered only with options.bias()
  Tensor input_;
  Tensor output_;            // kept by a fused forward: ReLU's gradient reads it
  bool fuse_relu_ = false;   // set by Sequential around one forward
};

// [N, ...] -> [N, product of the rest] (PyTorch's start_dim=1, end_dim=-1); a view, no copy.
class Flatten : public Layer {
 public:
  Tensor forward(const Tensor& input, Mode mode) override;
  Tensor backward(const Tensor& grad_output) override;
  std::string name() const override { return "Flatten(start_dim=1, end_dim=-1)"; }
  Shape output_shape(const Shape& input_shape) const override;

 protected:
  void clear_cache() override { input_shape_ = Shape(); }

 private:
  Shape input_shape_;
};

// Inverted dropout: in Train mode zeroes each element with probability p and
// scales the rest by 1/(1-p); identity in Eval mode. Each Train forward draws a
// new mask (the Philox offset advances).
class Dropout : public Layer {
 public:
  Dropout() : Dropout(DropoutOptions()) {}  // p = 0.5
  explicit Dropout(float p) : Dropout(DropoutOptions(p)) {}
  explicit Dropout(const DropoutOptions& options);
  Tensor forward(const Tensor& input, Mode mode) override;
  Tensor backward(const Tensor& grad_output) override;
  std::string name() const override;
  Shape output_shape(const Shape& input_shape) const override { return input_shape; }
  const DropoutOptions& options() const { return options_; }  // seed() as given (0: drawn)
  uint64_t seed() const { return seed_; }                      // the seed the masks use

 protected:
  void clear_cache() override { mask_ = Tensor(); }

 private:
  DropoutOptions options_;
  uint64_t seed_, offset_ = 0;
  Tensor mask_;  // undefined after a Train forward with p = 0: backward is the identity
};

// Softmax over dimension 1 (PyTorch's dim=1).
class Softmax : public Layer {
 public:
  Softmax() : Softmax(false) {}
  Tensor forward(const Tensor& input, Mode mode) override;
  Tensor backward(const Tensor& grad_output) override;
  std::string name() const override { return log_ ? "LogSoftmax(dim=1)" : "Softmax(dim=1)"; }
  Shape output_shape(const Shape& input_shape) const override { return input_shape; }
  Backend::Op backend_op(bool) const override { return Backend::Op::Softmax; }

 protected:
  explicit Softmax(bool log) : log_(log) {}
  void clear_cache() override { output_ = Tensor(); }

 private:
  bool log_;
  Tensor output_;
};

// Log-softmax over dimension 1 (PyTorch's dim=1).
class LogSoftmax : public Softmax {
 public:
  LogSoftmax() : Softmax(true) {}
};

}  // namespace convnet::nn
