// set_input_grad(false): backward skips the gradient of the model's input (the
// data) and every parameter gradient stays exactly what it was; the Trainer
// uses it for fit() and gives the model its setting back.
#include <gtest/gtest.h>

#include <vector>

#include "convnet/convnet.hpp"

namespace convnet {
namespace {

std::vector<std::vector<float>> grads_after_backward(nn::Layer& net, const Tensor& x, bool input_grad,
                                                     Tensor* grad_input) {
  net.zero_grad();
  net.set_input_grad(input_grad);
  const Tensor y = net.forward(x, nn::Mode::Train);
  *grad_input = net.backward(Tensor::ones(y.shape()));
  std::vector<std::vector<float>> grads;
  for (nn::Parameter* p : net.parameters()) grads.push_back(p->grad.to_vector<float>());
  return grads;
}

void expect_same_parameter_grads_without_input_grad(nn::Layer& net, const Shape& input) {
  const Tensor x = Tensor::randn(input, Device::cpu(), 4);
  Tensor with, without;
  const auto a = grads_after_backward(net, x, true, &with);
  const auto b = grads_after_backward(net, x, false, &without);
  EXPECT_TRUE(with.defined());
  EXPECT_EQ(with.shape(), x.shape());
  EXPECT_FALSE(without.defined()) << "the input's gradient was computed anyway";
  EXPECT_EQ(a, b);
}

TEST(InputGrad, SequentialSkipsTheFirstLayersBackwardData) {
  manual_seed(3);
  nn::Sequential cnn;
  cnn.add<nn::Conv2d>(nn::Conv2dOptions(1, 4, 3).padding(1))
      .add<nn::ReLU>()  // fused into the Conv2d
      .add<nn::MaxPool2d>(2)
      .add<nn::Flatten>()
      .add<nn::Linear>(4 * 4 * 4, 3);
  expect_same_parameter_grads_without_input_grad(cnn, {5, 1, 8, 8});
  nn::Sequential mlp;
  mlp.add<nn::Linear>(64, 8).add<nn::ReLU>().add<nn::Linear>(8, 3);
  expect_same_parameter_grads_without_input_grad(mlp, {5, 64});
}

TEST(InputGrad, ResNetSkipsTheStemsBackwardData) {
  manual_seed(3);
  nn::ResNet net(nn::ResNetOptions().widths({4, 8}).blocks({1, 1}));
  expect_same_parameter_grads_without_input_grad(net, {3, 1, 12, 12});
}

TEST(InputGrad, TrainerRestoresTheModelsSetting) {
  manual_seed(3);
  nn::Sequential net;
  net.add<nn::Flatten>().add<nn::Linear>(4, 2);
  data::Dataset set;
  set.images = Tensor::randn({8, 1, 2, 2}, Device::cpu(), 1);
  set.labels = Tensor::from_vector(std::vector<int32_t>{0, 1, 0, 1, 0, 1, 0, 1}, {8});
  data::DataLoaderOptions lo;
  lo.batch_size = 4;
  data::DataLoader loader(set, lo);
  nn::CrossEntropyLoss loss;
  nn::SGD sgd(net.parameters(), nn::SGDOptions(0.1f));
  train::TrainerOptions options;
  options.epochs = 1;
  options.progress = false;
  train::Trainer trainer(net, loss, sgd, options);
  trainer.fit(loader, nullptr);
  EXPECT_TRUE(net.input_grad());
}

}  // namespace
}  // namespace convnet
