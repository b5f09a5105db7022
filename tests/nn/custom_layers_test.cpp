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
class ChannelScale : public nn::Module {
 public:
  explicit ChannelScale(int channels)
      : channels_(channels), scale_(&register_parameter("scale", Tensor::ones({channels}))) {}

  Tensor forward(const Tensor& input, nn::Mode mode) override {
    const bool keep = keep_for_backward(mode);  // first, in every forward
    output_shape(input.shape());  // a 1-channel input would broadcast: refuse it
    if (keep) input_ = input;     // backward needs x for ds
    return input * per_channel(scale_->value);  // [N, C, H, W] * [1, C, 1, 1]
  }

  Tensor backward(const Tensor& grad_output) override {
    check_backward(input_);  // first, in every backward
    CONVNET_CHECK(grad_output.shape() == input_.shape(), name(), ": grad_output ",
                  grad_output.shape(), " must match the input ", input_.shape());
    // dL/ds[c] = sum over n, h, w of x * dL/dy: sum over n, then over h*w.
    const Tensor per_sample = sum(input_ * grad_output, 0);  // [C, H, W]
    scale_->grad += sum(reshape(per_sample, {channels_, -1}), 1);  // add: gradients accumulate
    // dL/dx = dL/dy * s[c]
    return grad_output * per_channel(scale_->value);
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
  // s as [1, C, 1, 1], a view that broadcasts over n, h and w.
  Tensor per_channel(const Tensor& s) const { return reshape(s, {1, channels_, 1, 1}); }

  int channels_;
  nn::Parameter* scale_;  // owned by Module; the typed handle stays valid
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
