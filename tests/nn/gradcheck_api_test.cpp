// nn::gradcheck, the public finite-difference check: it passes on correct
// layers, finds a wrong hand-written backward and names the tensor, and leaves
// the layer's gradients, parameters and the caller's input as they were.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "support/values.hpp"

namespace convnet::test {
namespace {

// y = x W^T through ops, with a backward that can be wrong on purpose.
class HandLinear : public nn::Module {
 public:
  enum class Bug { None, InputGradient, WeightGradient };
  HandLinear(int in, int out, Bug bug) : bug_(bug) {
    weight_ = &register_parameter("weight", Tensor::randn({out, in}, Device::cpu(), 77));
  }
  Tensor forward(const Tensor& input, nn::Mode mode) override {
    const bool keep = keep_for_backward(mode);
    Tensor output = ops::linear_forward(backend_for(input.device()), input, weight_->value, nullptr);
    if (keep) input_ = input;
    return output;
  }
  Tensor backward(const Tensor& grad_output) override {
    check_backward(input_);
    Backend& be = backend_for(grad_output.device());
    Tensor grad_input = ops::linear_backward_data(be, grad_output, weight_->value);
    ops::linear_backward_weight(be, input_, grad_output, weight_->grad, true);
    // The bugs: a gradient 10% too large, or the weight's added twice.
    if (bug_ == Bug::InputGradient) grad_input = ops::scale(be, grad_input, 1.1f);
    if (bug_ == Bug::WeightGradient) ops::linear_backward_weight(be, input_, grad_output, weight_->grad, true);
    return grad_input;
  }
  std::string name() const override { return "HandLinear"; }
  Shape output_shape(const Shape& s) const override { return Shape{s[0], weight_->value.shape()[0]}; }

 protected:
  void clear_cache() override { input_ = Tensor(); }

 private:
  Bug bug_;
  nn::Parameter* weight_;
  Tensor input_;
};

const nn::GradcheckTensor* find(const nn::GradcheckResult& r, const std::string& name) {
  for (const nn::GradcheckTensor& t : r.tensors)
    if (t.name == name) return &t;
  return nullptr;
}

TEST(GradcheckApi, PassesOnConvLinearAndASmallSequential) {
  manual_seed(1);
  nn::Conv2d conv(nn::Conv2dOptions(2, 3, 3).padding(1).stride(2));
  const nn::GradcheckResult c = nn::gradcheck(conv, Tensor::randn({2, 2, 5, 5}, Device::cpu(), 2));
  EXPECT_TRUE(c) << c.str();
  ASSERT_EQ(c.tensors.size(), 3u);
  EXPECT_EQ(c.tensors[0].name, "input");
  EXPECT_EQ(c.tensors[1].name, "weight");
  EXPECT_EQ(c.tensors[2].name, "bias");
  EXPECT_EQ(c.tensors[0].checked, 100);  // every element of a small tensor

  nn::Linear linear(7, 4);
  const nn::GradcheckResult l = nn::gradcheck(linear, Tensor::randn({3, 7}, Device::cpu(), 3));
  EXPECT_TRUE(l) << l.str();

  nn::Sequential net;
  net.add<nn::Conv2d>(nn::Conv2dOptions(1, 2, 3).padding(1)).add<nn::Tanh>().add<nn::Flatten>()
      .add<nn::Linear>(2 * 4 * 4, 3);
  const nn::GradcheckResult s = nn::gradcheck(net, Tensor::randn({2, 1, 4, 4}, Device::cpu(), 4));
  EXPECT_TRUE(s) << s.str();
  EXPECT_NE(find(s, "3.weight"), nullptr) << s.str();
  // With ReLU and max-pool no input avoids every kink: skip_nonsmooth leaves those out.
  nn::Sequential kinky;
  kinky.add<nn::Conv2d>(nn::Conv2dOptions(1, 2, 3).padding(1)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
      .add<nn::Flatten>().add<nn::Linear>(2 * 2 * 2, 3);
  // Piecewise linear: a small step costs no truncation error and crosses fewer kinks.
  nn::GradcheckOptions o;
  o.skip_nonsmooth = true;
  o.eps = 2e-3f;
  const nn::GradcheckResult k = nn::gradcheck(kinky, Tensor::randn({1, 1, 4, 4}, Device::cpu(), 5), o);
  EXPECT_TRUE(k) << k.str();
  // A sample, not every element, of a tensor bigger than max_elements.
  o.max_elements = 10;
  const nn::GradcheckResult sampled = nn::gradcheck(kinky, Tensor::randn({1, 1, 4, 4}, Device::cpu(), 5), o);
  EXPECT_LE(sampled.tensors[0].checked + sampled.tensors[0].skipped, 10);
}

TEST(GradcheckApi, FindsAWrongBackwardAndNamesTheTensor) {
  HandLinear right(5, 3, HandLinear::Bug::None);
  const Tensor x = Tensor::randn({4, 5}, Device::cpu(), 6);
  const nn::GradcheckResult ok = nn::gradcheck(right, x);
  EXPECT_TRUE(ok) << ok.str();

  HandLinear wrong_input(5, 3, HandLinear::Bug::InputGradient);
  const nn::GradcheckResult a = nn::gradcheck(wrong_input, x);
  EXPECT_FALSE(a) << a.str();
  EXPECT_FALSE(find(a, "input")->passed) << a.str();
  EXPECT_TRUE(find(a, "weight")->passed) << a.str();
  EXPECT_TRUE(contains(a.str(), "input [4, 5]: FAILED")) << a.str();
  EXPECT_TRUE(contains(a.str(), "worst element, flat index")) << a.str();
  EXPECT_GE(find(a, "input")->worst_index, 0);

  HandLinear wrong_weight(5, 3, HandLinear::Bug::WeightGradient);
  const nn::GradcheckResult w = nn::gradcheck(wrong_weight, x);
  EXPECT_FALSE(w) << w.str();
  EXPECT_TRUE(find(w, "input")->passed) << w.str();
  const nn::GradcheckTensor* weight = find(w, "weight");
  EXPECT_FALSE(weight->passed);
  // Twice the true gradient: the worst element's analytic value is about double.
  EXPECT_NEAR(weight->worst_analytic, 2.0 * weight->worst_numerical,
              0.05 * std::fabs(weight->worst_numerical) + 1e-3)
      << w.str();
}

TEST(GradcheckApi, LeavesGradientsParametersAndInputAsTheyWere) {
  nn::Conv2d conv(2, 2, 3);
  for (nn::Parameter* p : conv.parameters())
    p->grad.copy_from(Tensor::randn(p->grad.shape(), Device::cpu(), 8));
  std::vector<std::vector<float>> grads, values;
  for (nn::Parameter* p : conv.parameters()) {
    grads.push_back(p->grad.to_vector<float>());
    values.push_back(p->value.to_vector<float>());
  }
  const Tensor x = Tensor::randn({1, 2, 4, 4}, Device::cpu(), 9);
  const std::vector<float> x_before = x.to_vector<float>();
  EXPECT_TRUE(nn::gradcheck(conv, x));
  const std::vector<nn::Parameter*> params = conv.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(params[i]->grad.to_vector<float>(), grads[i]) << params[i]->name;
    EXPECT_EQ(params[i]->value.to_vector<float>(), values[i]) << params[i]->name;
  }
  EXPECT_EQ(x.to_vector<float>(), x_before);
  // It ran Train forwards: the layer can backpropagate once from here.
  EXPECT_NO_THROW(conv.backward(Tensor::zeros({1, 2, 2, 2})));
}

TEST(GradcheckApi, ReportsARefusedInputAsAnError) {
  nn::Linear linear(3, 2);
  EXPECT_THROW(nn::gradcheck(linear, Tensor::randn({2, 4}, Device::cpu(), 10)), Error);
  EXPECT_THROW(nn::gradcheck(linear, Tensor()), Error);
}

TEST(GradcheckApi, ChecksALayerOnTheGpu) {
  if (!cuda_available()) GTEST_SKIP() << "no GPU: " << cuda_unavailable_reason();
  nn::Conv2d conv(nn::Conv2dOptions(2, 3, 3).padding(1));
  conv.to(Device::cuda());
  nn::GradcheckOptions o;
  o.max_elements = 30;  // each element is a host round trip
  const nn::GradcheckResult r = nn::gradcheck(conv, Tensor::randn({1, 2, 4, 4}, Device::cuda(), 11), o);
  EXPECT_TRUE(r) << r.str();
}

}  // namespace
}  // namespace convnet::test
