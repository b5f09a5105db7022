// Trains a tiny CNN for a few steps through the installed package; exits 0 when the loss fell.
#include <convnet/convnet.hpp>

#include <cstdio>

int main() {
  using namespace convnet;
  manual_seed(1);
  nn::Sequential net;
  net.add<nn::Conv2d>(nn::Conv2dOptions(1, 4, 3).padding(1)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
      .add<nn::Flatten>().add<nn::Linear>(4 * 4 * 4, 3);
  Tensor x = Tensor::randn({6, 1, 8, 8}, Device::cpu(), 2);
  Tensor labels = Tensor::from_vector(std::vector<int32_t>{0, 1, 2, 0, 1, 2}, {6});
  nn::CrossEntropyLoss loss;
  nn::SGD opt(net.parameters(), nn::SGDOptions(0.1f).momentum(0.9f));
  float first = 0, last = 0;
  for (int step = 0; step < 20; ++step) {
    last = loss.forward(net.forward(x, nn::Mode::Train), labels).item();
    if (step == 0) first = last;
    net.backward(loss.backward());
    opt.step();
    opt.zero_grad();
  }
  std::printf("convnet %s: loss %.4f -> %.4f\n", CONVNET_VERSION_STRING, first, last);
  return last < first ? 0 : 1;
}
