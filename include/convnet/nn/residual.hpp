// Residual blocks: data that flows along two paths and is summed.
//
// Residual is the general form, y = body(x) + shortcut(x) (then a ReLU when
// asked), with an identity shortcut by default:
//
//   auto body = std::make_unique<nn::Sequential>();
//   body->add<nn::Conv2d>(nn::Conv2dOptions(16, 16, 3).padding(1).bias(false));
//   body->add<nn::BatchNorm2d>(16);
//   nn::Residual block(std::move(body));                    // shortcut: identity
//
// Its children are "body" and "shortcut" (when given). BasicBlock is
// torchvision's (torchvision.models.resnet.BasicBlock) ported line by line,
// with its children's names (conv1, bn1, relu, conv2, bn2, downsample), so its
// state-dict keys are PyTorch's: "conv1.weight", "bn1.running_mean",
// "downsample.0.weight", "downsample.1.num_batches_tracked".
//
// The sum and its backward run through the Backend (ops::add): the gradient
// reaches both paths, and the two input gradients are added. Both paths must
// give the same shape; the block refuses otherwise, naming both shapes.
#pragma once

#include <memory>
#include <string>

#include "convnet/nn/batch_norm.hpp"
#include "convnet/nn/layer.hpp"
#include "convnet/nn/layers.hpp"
#include "convnet/nn/sequential.hpp"

namespace convnet::nn {

class Residual : public Layer {
 public:
  // shortcut null: the identity. relu_after: max(body(x) + shortcut(x), 0).
  explicit Residual(std::unique_ptr<Layer> body, std::unique_ptr<Layer> shortcut = nullptr,
                    bool relu_after = false);
  Tensor forward(const Tensor& input, Mode mode) override;
  Tensor backward(const Tensor& grad_output) override;
  std::string name() const override { return "Residual"; }
  Shape output_shape(const Shape& input_shape) const override;
  Layer& body() { return *body_; }
  Layer* shortcut() { return shortcut_; }  // nullptr: identity
  bool relu_after() const { return relu_after_; }

 protected:
  std::vector<Shape> child_input_shapes(const Shape& input_shape) const override;
  void clear_cache() override { output_ = Tensor(); }

 private:
  Layer* body_;
  Layer* shortcut_ = nullptr;
  bool relu_after_;
  Tensor output_;  // relu_after: the output, whose sign gives ReLU's gradient
};

// torchvision's BasicBlock: two 3x3 convolutions (no bias) with BatchNorm, the
// first with `stride`; the shortcut is the identity, or `downsample` when the
// shape changes (make_downsample: a 1x1 convolution with that stride and a
// BatchNorm2d, torchvision's). Weights start as torchvision initialises a
// ResNet (Kaiming normal, fan_out, for the convolutions; BatchNorm weight 1,
// bias 0); zero_init_residual sets bn2's weight to 0, so the block starts as
// its shortcut.
class BasicBlock : public Layer {
 public:
  static constexpr int expansion = 1;
  BasicBlock(int64_t inplanes, int64_t planes, int stride = 1,
             std::unique_ptr<Layer> downsample = nullptr, bool zero_init_residual = false);
  static std::unique_ptr<Sequential> make_downsample(int64_t inplanes, int64_t planes, int stride);

  Tensor forward(const Tensor& input, Mode mode) override;
  Tensor backward(const Tensor& grad_output) override;
  std::string name() const override { return "BasicBlock"; }
  Shape output_shape(const Shape& input_shape) const override;

  Conv2d& conv1() { return *conv1_; }
  BatchNorm2d& bn1() { return *bn1_; }
  Conv2d& conv2() { return *conv2_; }
  BatchNorm2d& bn2() { return *bn2_; }
  Layer* downsample() { return downsample_; }

 protected:
  std::vector<Shape> child_input_shapes(const Shape& input_shape) const override;
  bool child_fuses_next(size_t index) const override { return index == 1; }  // bn1 + relu
  void clear_cache() override { output_ = Tensor(); }

 private:
  Conv2d* conv1_;
  BatchNorm2d* bn1_;
  Conv2d* conv2_;
  BatchNorm2d* bn2_;
  Layer* downsample_ = nullptr;
  Tensor output_;
};

}  // namespace convnet::nn
