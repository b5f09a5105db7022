// The layers: convolution, pooling, activations, linear, flatten, dropout, softmax.
// Each computes through convnet::ops on the backend chosen for it (Layer::set_backend).
#pragma once

#include <cstdint>

#include "convnet/nn/layer.hpp"

namespace convnet::nn {

// Cross-correlation like PyTorch's Conv2d; weight [out, in, kh, kw], bias [out].
// Initialised like PyTorch (init::pytorch_default_).
class Conv2d : public Layer {
 public:
  Conv2d(int in_channels, int out_channels, int kernel, int stride = 1, int padding = 0,
         int dilation = 1, bool bias = true);
  Conv2d(int in_channels, int out_channels, int kernel_h, int kernel_w, const Conv2dParams& params,
         bool bias = true);
  Tensor forward(const Tensor& input, Mode mode) override;
  Tensor backward(const Tensor& grad_output) override;
  std::vector<Parameter*> parameters() override;
  std::string name() const override;
  Shape output_shape(const Shape& input_shape) const override;
  Parameter& weight() { return weight_; }
  Parameter* bias() { return has_bias_ ? &bias_ : nullptr; }
  const Conv2dParams& params() const { return params_; }

 protected:
  void clear_cache() override { input_ = Tensor(); }

 private:
  int in_channels_, out_channels_, kernel_h_, kernel_w_;
  Conv2dParams params_;
  bool has_bias_;
  Parameter weight_, bias_;
  Tensor input_;
};

// Shared by MaxPool2d and AvgPool2d.
class Pool2d : public Layer {
 public:
  explicit Pool2d(const Pool2dParams& params) : params_(params) {}
  Tensor forward(const Tensor& input, Mode mode) override;
  Tensor backward(const Tensor& grad_output) override;
  std::string name() const override;
  Shape output_shape(const Shape& input_shape) const override;
  const Pool2dParams& params() const { return params_; }

 protected:
  void clear_cache() override { input_ = Tensor(); argmax_ = Tensor(); }

 private:
  Pool2dParams params_;
  Tensor input_, argmax_;
};

// stride defaults to kernel, as in PyTorch. Ties go to the first maximum; NaN propagates.
class MaxPool2d : public Pool2d {
 public:
  explicit MaxPool2d(int kernel, int stride = 0, int padding = 0, bool ceil_mode = false);
};

// count_include_pad = true (PyTorch's default) divides by the full window.
class AvgPool2d : public Pool2d {
 public:
  explicit AvgPool2d(int kernel, int stride = 0, int padding = 0, bool count_include_pad = true,
                     bool ceil_mode = false);
};

// Shared by the pointwise activations.
class ActivationLayer : public Layer {
 public:
  ActivationLayer(Activation activation, float alpha) : activation_(activation), alpha_(alpha) {}
  Tensor forward(const Tensor& input, Mode mode) override;
  Tensor backward(const Tensor& grad_output) override;
  std::string name() const override;
  Shape output_shape(const Shape& input_shape) const override { return input_shape; }

 protected:
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
class LeakyReLU : public ActivationLayer {
 public:
  explicit LeakyReLU(float negative_slope = 0.01f)
      : ActivationLayer(Activation::LeakyReLU, negative_slope) {}
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
  Linear(int in_features, int out_features, bool bias = true);
  Tensor forward(const Tensor& input, Mode mode) override;
  Tensor backward(const Tensor& grad_output) override;
  std::vector<Parameter*> parameters() override;
  std::string name() const override;
  Shape output_shape(const Shape& input_shape) const override;
  Parameter& weight() { return weight_; }
  Parameter* bias() { return has_bias_ ? &bias_ : nullptr; }

 protected:
  void clear_cache() override { input_ = Tensor(); }

 private:
  int in_features_, out_features_;
  bool has_bias_;
  Parameter weight_, bias_;
  Tensor input_;
};

// [N, ...] -> [N, product of the rest]; a view, no copy.
class Flatten : public Layer {
 public:
  Tensor forward(const Tensor& input, Mode mode) override;
  Tensor backward(const Tensor& grad_output) override;
  std::string name() const override { return "Flatten()"; }
  Shape output_shape(const Shape& input_shape) const override;

 private:
  Shape input_shape_;
};

// Inverted dropout: in Train mode zeroes each element with probability p and
// scales the rest by 1/(1-p); identity in Eval mode. Each Train forward draws a
// new mask (the Philox offset advances).
class Dropout : public Layer {
 public:
  explicit Dropout(float p = 0.5f, uint64_t seed = 0);  // seed 0: take next_seed()
  Tensor forward(const Tensor& input, Mode mode) override;
  Tensor backward(const Tensor& grad_output) override;
  std::string name() const override;
  Shape output_shape(const Shape& input_shape) const override { return input_shape; }

 protected:
  void clear_cache() override { mask_ = Tensor(); last_ = Last::None; }

 private:
  enum class Last { None, Identity, Masked };  // what the latest forward did
  float p_;
  uint64_t seed_, offset_ = 0;
  Last last_ = Last::None;
  Tensor mask_;
};

// Softmax (or log-softmax) over dimension 1.
class Softmax : public Layer {
 public:
  explicit Softmax(bool log = false) : log_(log) {}
  Tensor forward(const Tensor& input, Mode mode) override;
  Tensor backward(const Tensor& grad_output) override;
  std::string name() const override { return log_ ? "LogSoftmax()" : "Softmax()"; }
  Shape output_shape(const Shape& input_shape) const override { return input_shape; }

 protected:
  void clear_cache() override { output_ = Tensor(); }

 private:
  bool log_;
  Tensor output_;
};

class LogSoftmax : public Softmax {
 public:
  LogSoftmax() : Softmax(true) {}
};

}  // namespace convnet::nn
