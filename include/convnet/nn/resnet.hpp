// A small torchvision-style ResNet for small images (the CIFAR variant of He
// et al. 2016: a 3x3 stem without max pooling), built from BasicBlocks:
//
//   conv1 (3x3, widths[0], no bias, stride stem_stride) -> bn1 -> relu
//   layer1 .. layerK: blocks[k] BasicBlocks of widths[k]; each stage after the
//                     first starts with stride 2 and a 1x1 downsample
//   avgpool (AdaptiveAvgPool2d(1)) -> flatten -> fc (Linear(widths.back(), num_classes))
//
// Children and parameter names are torchvision's ResNet's ("conv1.weight",
// "layer2.0.downsample.1.running_var", "fc.bias"), so a state dict maps to and
// from PyTorch name for name. The default (widths 16/32/64, 3 blocks each) is
// ResNet-20. Initialisation as torchvision: Kaiming normal (fan_out) for the
// convolutions, BatchNorm weight 1 and bias 0, the Linear PyTorch's default;
// zero_init_residual zeroes every block's last BatchNorm weight.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "convnet/nn/layer.hpp"
#include "convnet/nn/options.hpp"
#include "convnet/nn/residual.hpp"

namespace convnet::nn {

// ResNetOptions (in_channels 1, num_classes 10, widths {16, 32, 64}, blocks
// {3, 3, 3}, zero_init_residual false, stem_stride 1) is in options.hpp.
// stem_stride 2 halves the image in the stem, as torchvision's ImageNet ResNet
// does (its 7x7 conv1 has stride 2); every stage then costs a quarter.
class ResNet : public Layer {
 public:
  // Throws convnet::Error for empty or mismatched widths/blocks, or a count < 1.
  explicit ResNet(const ResNetOptions& options = ResNetOptions());
  Tensor forward(const Tensor& input, Mode mode) override;
  Tensor backward(const Tensor& grad_output) override;
  std::string name() const override { return "ResNet"; }
  Shape output_shape(const Shape& input_shape) const override;
  const ResNetOptions& options() const { return options_; }

 protected:
  std::vector<Shape> child_input_shapes(const Shape& input_shape) const override;
  bool child_fuses_next(size_t index) const override { return index == 1; }  // bn1 + relu
  void clear_cache() override { pooled_shape_ = Shape(); }

 private:
  ResNetOptions options_;
  Conv2d* conv1_;
  BatchNorm2d* bn1_;
  std::vector<Sequential*> stages_;
  AdaptiveAvgPool2d* avgpool_;
  Linear* fc_;
  Shape pooled_shape_;  // avgpool's output shape, for flatten's backward
};

}  // namespace convnet::nn
