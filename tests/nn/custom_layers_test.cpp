// The two layers of docs/custom_layers.md, compiled and checked, so the guide's
// code cannot rot: keep the classes here and in the guide the same.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "support/values.hpp"

namespace convnet::test {
namespace {

// ---- from docs/custom_layers.md, part 1

// y[n, c, h, w] = x[n, c, h, w] * s[c]: a learned scale per channel.
// ops has no broadcasting multiply, but a per-channel scale is a 1x1
// convolution whose weight is diagonal, W[c, c, 0, 0] = s[c], and the
// convolution's gradients are the scale's.
class ChannelScale : public nn::Module {
 public:
  explicit ChannelScale(int channels)
      : channels_(channels), scale_(&register_parameter("scale", Tensor::ones({channels}))) {}

  Tensor forward(const Tensor& input, nn::Mode mode) override {
    const bool keep = keep_for_backward(mode);  // first, in every forward
    Backend& be = backend_for(input.device());
    Tensor output = ops::conv2d_forward(be, input, diagonal(), nullptr, Conv2dParams{});
    if (keep) input_ = input;  // backward needs x for ds
    return output;
  }

  Tensor backward(const Tensor& grad_output) override {
    check_backward(input_);  // first, in every backward
    Backend& be = backend_for(grad_output.device());
    // dL/dx[n, c] = dL/dy[n, c] * s[c]: the convolution's data gradient.
    Tensor grad_input =
        ops::conv2d_backward_data(be, grad_output, diagonal(), input_.shape(), Conv2dParams{});
    // dL/ds[c] = sum over n, h, w of x * dL/dy: the diagonal of the filter gradient.
    Tensor grad_weight = Tensor::empty({channels_, channels_, 1, 1}, grad_output.device());
    ops::conv2d_backward_filter(be, input_, grad_output, Conv2dParams{}, grad_weight, false);
    ops::add_(be, scale_->grad, diagonal_of(grad_weight));  // add: gradients accumulate
    return grad_input;
  }

  std::string name() const override { return "ChannelScale(" + std::to_string(channels_) + ")"; }
  Shape output_shape(const Shape& input_shape) const override {
    CONVNET_CHECK(input_shape.rank() == 4 && input_shape[1] == channels_, name(), ": input ",
                  input_shape, " must be [N, ", channels_, ", H, W]");
    return input_shape;
  }
  nn::Parameter& scale() { return *scale_; }

 protected:
  void clear_cache() override { input_ = Tensor(); }

 private:
  // W = diag(s) as [C, C, 1, 1], on s's device: element copies, no host round trip.
  Tensor diagonal() const {
    Tensor w = Tensor::zeros({channels_, channels_, 1, 1}, scale_->value.device());
    Tensor flat = w.reshape({channels_ * channels_});
    for (int c = 0; c < channels_; ++c)
      flat.slice(c * (channels_ + 1), c * (channels_ + 1) + 1).copy_from(scale_->value.slice(c, c + 1));
    return w;
  }
  // The diagonal of a [C, C, 1, 1] tensor, as [C].
  Tensor diagonal_of(const Tensor& w) const {
    Tensor d = Tensor::empty({channels_}, w.device());
    const Tensor flat = w.reshape({channels_ * channels_});
    for (int c = 0; c < channels_; ++c)
      d.slice(c, c + 1).copy_from(flat.slice(c * (channels_ + 1), c * (channels_ + 1) + 1));
    return d;
  }

  int channels_;
  nn::Parameter* scale_;
  Tensor input_;
};

// ---- from docs/custom_layers.md, part 2

// conv -> relu -> conv, made of registered children.
class ConvBlock : public nn::Module {
 public:
  explicit ConvBlock(int channels)
      : channels_(channels),
        conv1_(&register_module("conv1", std::make_unique<nn::Conv2d>(
                                              nn::Conv2dOptions(channels, channels, 3).padding(1)))),
        relu_(&register_module("relu", std::make_unique<nn::ReLU>())),
        conv2_(&register_module("conv2", std::make_unique<nn::Conv2d>(
                                              nn::Conv2dOptions(channels, channels, 3).padding(1)))) {}

  Tensor forward(const Tensor& input, nn::Mode mode) override {
    keep_for_backward(mode);  // the children keep their own tensors
    Tensor h = conv1_->forward(input, mode);
    h = relu_->forward(h, mode);
    return conv2_->forward(h, mode);
  }

  Tensor backward(const Tensor& grad_output) override {
    check_backward();  // before any child adds to a gradient
    Tensor grad = conv2_->backward(grad_output);
    grad = relu_->backward(grad);
    return conv1_->backward(grad);
  }

  std::string name() const override { return "ConvBlock(" + std::to_string(channels_) + ")"; }
  Shape output_shape(const Shape& input_shape) const override {
    return conv2_->output_shape(conv1_->output_shape(input_shape));
  }

 private:
  int channels_;
  nn::Conv2d* conv1_;  // owned by Module, kept typed here
  nn::ReLU* relu_;
  nn::Conv2d* conv2_;
};

// ---- the guide's claims

TEST(CustomLayers, ChannelScaleComputesXTimesS) {
  ChannelScale scale(3);
  scale.scale().value.copy_from(Tensor::from_vector(std::vector<float>{2.f, -1.f, 0.5f}, {3}));
  const Tensor x = Tensor::randn({2, 3, 4, 5}, Device::cpu(), 1);
  const std::vector<float> xv = x.to_vector<float>(), y = scale.forward(x, nn::Mode::Train).to_vector<float>();
  const float s[3] = {2.f, -1.f, 0.5f};
  for (size_t i = 0; i < xv.size(); ++i) EXPECT_FLOAT_EQ(y[i], xv[i] * s[(i / 20) % 3]) << i;
  // ds[c] = sum of x * dy over channel c; with dy = 1 that is the channel's sum.
  scale.backward(Tensor::ones({2, 3, 4, 5}));
  std::vector<float> sums(3, 0.f);
  for (size_t i = 0; i < xv.size(); ++i) sums[(i / 20) % 3] += xv[i];
  EXPECT_TRUE(values_near(scale.scale().grad, sums, 1e-5, 1e-5));
}

TEST(CustomLayers, ChannelScalePassesGradcheck) {
  ChannelScale scale(3);
  scale.scale().value.copy_from(Tensor::randn({3}, Device::cpu(), 2));
  // The guide's one line:
  const nn::GradcheckResult r = nn::gradcheck(scale, Tensor::randn({2, 3, 4, 4}, Device::cpu(), 3));
  EXPECT_TRUE(r) << r.str();
  ASSERT_EQ(r.tensors.size(), 2u);
  EXPECT_EQ(r.tensors[1].name, "scale");
}

TEST(CustomLayers, ConvBlockNamesSummaryAndGradcheck) {
  manual_seed(4);
  nn::Sequential net;
  net.add<nn::Conv2d>(1, 4, 3).add<nn::ReLU>().add<ConvBlock>(4).add<ChannelScale>(4);
  std::vector<std::string> names;
  for (nn::Parameter* p : net.parameters()) names.push_back(p->name);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "2.conv1.weight", "2.conv1.bias",
                                             "2.conv2.weight", "2.conv2.bias", "3.scale"}));
  const std::string summary = net.summary({8, 1, 28, 28});
  for (const char* row : {"  2.conv1", "  2.relu", "  2.conv2", "ConvBlock(4)", "ChannelScale(4)",
                          "[8, 4, 26, 26]", "fused into 0"})
    EXPECT_TRUE(contains(summary, row)) << row << " missing from\n" << summary;
  std::printf("%s", summary.c_str());  // the guide shows it

  nn::GradcheckOptions o;
  o.skip_nonsmooth = true;  // two ReLUs: leave out the elements that cross a kink
  o.eps = 2e-3f;            // piecewise linear: a small step crosses fewer kinks
  const nn::GradcheckResult r = nn::gradcheck(net, Tensor::randn({1, 1, 6, 6}, Device::cpu(), 5), o);
  EXPECT_TRUE(r) << r.str();
  EXPECT_EQ(r.tensors.size(), 8u);  // the input and the seven parameters
}

}  // namespace
}  // namespace convnet::test
