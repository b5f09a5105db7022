// The CPU backend beyond convolution: linear layers (whose GEMMs the backend
// splits into blocks over the cores) and one whole training step of the
// contract's MNIST CNN at batch 128 (forward, cross-entropy, backward, SGD with
// momentum), the number that decides how long an epoch takes.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "convnet/convnet.hpp"

namespace {

using namespace convnet;

struct LinearLayer {
  const char* name;
  int64_t batch, in_features, out_features;
};

const LinearLayer kLinearLayers[] = {
    {"mnist_fc", 128, 64 * 7 * 7, 10},
    {"fc_1024", 256, 1024, 1024},
};

enum class Pass { Forward, BackwardData, BackwardWeight };

void BM_LinearCpu(benchmark::State& state, LinearLayer layer, Pass pass) {
  Backend& cpu = get_backend(Backend::Kind::Cpu);
  const Tensor x = Tensor::randn({layer.batch, layer.in_features}, Device::cpu(), 1);
  const Tensor w = Tensor::randn({layer.out_features, layer.in_features}, Device::cpu(), 2);
  const Tensor b = Tensor::randn({layer.out_features}, Device::cpu(), 3);
  Tensor y = Tensor::randn({layer.batch, layer.out_features}, Device::cpu(), 4);
  Tensor dx = Tensor::empty(x.shape()), dw = Tensor::empty(w.shape());
  for (auto _ : state) {
    switch (pass) {
      case Pass::Forward:
        cpu.linear_forward(x, w, &b, y);
        break;
      case Pass::BackwardData:
        cpu.linear_backward_data(y, w, dx);
        break;
      case Pass::BackwardWeight:
        cpu.linear_backward_weight(x, y, dw, false);
        break;
    }
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * layer.batch * layer.in_features * layer.out_features;
  state.counters["GFLOP"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(layer.name) + " " + x.shape().str() + " x " + w.shape().str());
}

void BM_MnistCnnTrainStepCpu(benchmark::State& state) {
  manual_seed(1);
  nn::Sequential net;
  net.add<nn::Conv2d>(nn::Conv2dOptions(1, 32, 5).padding(2))
      .add<nn::ReLU>()
      .add<nn::MaxPool2d>(2)
      .add<nn::Conv2d>(nn::Conv2dOptions(32, 64, 5).padding(2))
      .add<nn::ReLU>()
      .add<nn::MaxPool2d>(2)
      .add<nn::Flatten>()
      .add<nn::Linear>(64 * 7 * 7, 10);
  const Tensor images = Tensor::randn({128, 1, 28, 28}, Device::cpu(), 2);
  std::vector<int32_t> label_values(128);
  for (int i = 0; i < 128; ++i) label_values[size_t(i)] = i % 10;
  const Tensor labels = Tensor::from_vector(label_values, {128});
  nn::CrossEntropyLoss loss;
  nn::SGD opt(net.parameters(), nn::SGDOptions(0.01f).momentum(0.9f));
  for (auto _ : state) {
    loss.forward(net.forward(images, nn::Mode::Train), labels);
    net.backward(loss.backward());
    opt.step();
    opt.zero_grad();
  }
  state.counters["images/s"] =
      benchmark::Counter(128.0, benchmark::Counter::kIsIterationInvariantRate);
}

void register_all() {
  const std::pair<const char*, Pass> passes[] = {{"forward", Pass::Forward},
                                                 {"backward_data", Pass::BackwardData},
                                                 {"backward_weight", Pass::BackwardWeight}};
  for (const LinearLayer& layer : kLinearLayers)
    for (const auto& [pass_name, pass] : passes)
      benchmark::RegisterBenchmark(
          (std::string("linear_cpu/") + layer.name + "/" + pass_name).c_str(), BM_LinearCpu, layer,
          pass)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
  benchmark::RegisterBenchmark("train_step_cpu/mnist_cnn_batch128", BM_MnistCnnTrainStepCpu)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
}

const int registered = (register_all(), 0);

}  // namespace
