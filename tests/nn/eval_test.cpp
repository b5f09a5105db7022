// Inference keeps nothing: a forward in Mode::Eval saves no tensor for backward
// (no input, no max-pool argmax, no dropout mask) and drops what an earlier
// Train forward saved, so evaluating a batch holds only the parameters and the
// activations in flight; backward after it is a clear error. The memory tests
// read the allocators' live bytes on the host and on the GPU.
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/cuda_hooks.hpp"
#include "core/host_allocator.hpp"
#include "support/values.hpp"

namespace convnet::test {
namespace {

struct LayerCase {
  std::function<std::unique_ptr<nn::Layer>()> make;
  Shape input;
};

std::vector<LayerCase> every_layer() {
  return {
      {[] { return std::make_unique<nn::Conv2d>(nn::Conv2dOptions(2, 3, 3).padding(1)); },
       {2, 2, 6, 6}},
      {[] { return std::make_unique<nn::MaxPool2d>(2); }, {2, 2, 6, 6}},
      {[] { return std::make_unique<nn::AvgPool2d>(2); }, {2, 2, 6, 6}},
      {[] { return std::make_unique<nn::ReLU>(); }, {2, 5}},
      {[] { return std::make_unique<nn::LeakyReLU>(); }, {2, 5}},
      {[] { return std::make_unique<nn::Sigmoid>(); }, {2, 5}},
      {[] { return std::make_unique<nn::Tanh>(); }, {2, 5}},
      {[] { return std::make_unique<nn::Linear>(5, 3); }, {2, 5}},
      {[] { return std::make_unique<nn::Flatten>(); }, {2, 2, 3, 3}},
      {[] { return std::make_unique<nn::Dropout>(nn::DropoutOptions(0.5f).seed(3)); }, {2, 5}},
      {[] { return std::make_unique<nn::Dropout>(0.f); }, {2, 5}},
      {[] { return std::make_unique<nn::Softmax>(); }, {2, 5}},
      {[] { return std::make_unique<nn::LogSoftmax>(); }, {2, 5}},
      {[] {
         auto net = std::make_unique<nn::Sequential>();
         net->add<nn::Conv2d>(1, 2, 3).add<nn::ReLU>().add<nn::Flatten>().add<nn::Linear>(8, 2);
         return net;
       },
       {2, 1, 4, 4}},
  };
}

// Backward after an Eval forward names the layer and says what to do, both on
// a fresh layer and after a Train forward (whose tensors the Eval one dropped);
// a new Train forward makes backward work again.
TEST(EvalMode, BackwardAfterAnEvalForwardIsAClearError) {
  for (const LayerCase& c : every_layer()) {
    std::unique_ptr<nn::Layer> layer = c.make();
    SCOPED_TRACE(layer->name());
    const Tensor x = Tensor::randn(c.input, Device::cpu(), 7);
    for (bool train_first : {false, true}) {
      if (train_first) layer->forward(x, nn::Mode::Train);
      const Tensor y = layer->forward(x, nn::Mode::Eval);
      const Tensor g = Tensor::ones(y.shape());
      const std::string message = error_message([&] { layer->backward(g); });
      EXPECT_TRUE(contains(message, layer->name())) << message;
      EXPECT_TRUE(contains(message, "needs a forward in Mode::Train")) << message;
      EXPECT_TRUE(contains(message, "Mode::Eval")) << message;
    }
    const Tensor y = layer->forward(x, nn::Mode::Train);
    EXPECT_EQ(layer->backward(Tensor::ones(y.shape())).shape(), x.shape());
  }
}

// The Sequential checks before any layer runs backward, so no gradient moves.
TEST(EvalMode, SequentialRefusesBeforeTouchingAGradient) {
  nn::Sequential net;
  net.add<nn::Linear>(4, 3).add<nn::ReLU>().add<nn::Linear>(3, 2);
  const Tensor x = Tensor::randn({5, 4}, Device::cpu(), 8);
  net.forward(x, nn::Mode::Train);
  const Tensor y = net.forward(x, nn::Mode::Eval);
  const std::string message = error_message([&] { net.backward(Tensor::ones(y.shape())); });
  EXPECT_TRUE(contains(message, "Sequential: backward needs a forward in Mode::Train")) << message;
  for (nn::Parameter* p : net.parameters()) {
    const std::vector<float> g = p->grad.to_vector<float>();
    EXPECT_EQ(g, std::vector<float>(g.size(), 0.f)) << p->name;
  }
}

// Eval computes what Train computes (max pooling without its argmax included);
// only Dropout differs, by design.
TEST(EvalMode, SameOutputsAsTrain) {
  for (const LayerCase& c : every_layer()) {
    std::unique_ptr<nn::Layer> layer = c.make();
    if (dynamic_cast<nn::Dropout*>(layer.get())) continue;
    SCOPED_TRACE(layer->name());
    const Tensor x = Tensor::randn(c.input, Device::cpu(), 9);
    const std::vector<float> train = layer->forward(x, nn::Mode::Train).to_vector<float>();
    EXPECT_TRUE(values_near(layer->forward(x, nn::Mode::Eval), train, 0.0, 0.0));
  }
}

// ---- Memory: the MNIST CNN of examples/mnist_cnn.cpp on a batch of 256.

void build_mnist_cnn(nn::Sequential& net) {
  net.add<nn::Conv2d>(nn::Conv2dOptions(1, 32, 5).padding(2)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
      .add<nn::Conv2d>(nn::Conv2dOptions(32, 64, 5).padding(2)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
      .add<nn::Flatten>().add<nn::Linear>(64 * 7 * 7, 10);
}

constexpr int64_t kBatch = 256;

// What a Train forward of kBatch images keeps beyond its input and output, in
// bytes: each layer's output is the next one's saved input, and each max pool
// keeps an int32 argmax as large as its output. Unfused, ReLU keeps its input
// (the conv output) and its output; fused into the conv (Sequential's default)
// the pair keeps only the fused output.
int64_t saved_activation_bytes(bool fused) {
  const int64_t conv1 = kBatch * 32 * 28 * 28, pool1 = kBatch * 32 * 14 * 14;
  const int64_t conv2 = kBatch * 64 * 14 * 14, pool2 = kBatch * 64 * 7 * 7;
  // [conv1 out,] relu1 out, pool1 argmax + out, [conv2 out,] relu2 out, pool2 argmax + out
  const int per_conv = fused ? 1 : 2;
  return 4 * (per_conv * conv1 + 2 * pool1 + per_conv * conv2 + 2 * pool2);
}

struct Held {  // bytes over the live bytes before the model was built
  int64_t parameters, input;  // parameters with their gradients; the batch
  int64_t model;              // after building the model, the input and a first forward
  int64_t eval, train, eval_after_train;  // after each forward, its output still alive
};

// Builds the model and a batch on `device` and reads `live` after each forward.
Held measure(Device device, const std::function<int64_t()>& live, bool fused = true) {
  const int64_t before = live();
  Held held{};
  manual_seed(1);
  nn::Sequential net;
  build_mnist_cnn(net);
  net.set_fusion(fused);
  net.to(device);
  for (nn::Parameter* p : net.parameters()) held.parameters += 4 * (p->value.numel() + p->grad.numel());
  const Tensor x = Tensor::randn({kBatch, 1, 28, 28}, device, 2);
  held.input = 4 * x.numel();
  // A first forward lets a backend set up what it keeps for good (a GPU
  // workspace); its output and activations are gone once it returns.
  net.forward(x, nn::Mode::Eval);
  held.model = live() - before;
  Tensor out = net.forward(x, nn::Mode::Eval);
  held.eval = live() - before;
  out = Tensor();
  out = net.forward(x, nn::Mode::Train);
  held.train = live() - before;
  out = Tensor();
  out = net.forward(x, nn::Mode::Eval);
  held.eval_after_train = live() - before;
  std::printf("[ memory   ] %s%s, batch %lld: parameters+grads %.3f MB, input %.3f MB, after "
              "building %.3f MB; after a forward: Eval %.3f MB, Train %.3f MB, Eval after Train "
              "%.3f MB\n",
              device.str().c_str(), fused ? "" : " unfused", static_cast<long long>(kBatch), held.parameters / 1e6,
              held.input / 1e6, held.model / 1e6, held.eval / 1e6, held.train / 1e6,
              held.eval_after_train / 1e6);
  return held;
}

void check(const Held& held, bool fused = true) {
  const int64_t output = 4 * kBatch * 10, slack = 64 * 1024;
  // Eval holds nothing beyond the model but its output (the logits), also
  // right after a Train forward, whose activations it dropped.
  EXPECT_LE(held.eval - held.model, output + slack);
  EXPECT_LE(held.eval_after_train - held.model, output + slack);
  // Train keeps the activations for backward (58 MB here fused, 96 MB unfused); Eval none.
  const int64_t expected = saved_activation_bytes(fused);
  EXPECT_NEAR(static_cast<double>(held.train - held.eval), static_cast<double>(expected),
              0.01 * static_cast<double>(expected));
}

TEST(EvalMode, EvalForwardHoldsOnlyParametersOnTheHost) {
  const Held held = measure(Device::cpu(), [] { return host_allocator::live_bytes(); });
  check(held);
  // On the host the model is its parameters and the input, nothing else.
  EXPECT_LE(held.model, held.parameters + held.input + 64 * 1024);
}

TEST(EvalMode, UnfusedTrainKeepsThePreActivations) {
  const Held held =
      measure(Device::cpu(), [] { return host_allocator::live_bytes(); }, /*fused=*/false);
  check(held, /*fused=*/false);
}

TEST(EvalMode, EvalForwardHoldsOnlyParametersOnTheGpu) {
  if (!cuda_available()) GTEST_SKIP() << "no GPU: " << cuda_unavailable_reason();
  const Held held = measure(Device::cuda(), [] { return cuda_hooks::live_bytes(0); });
  check(held);
  // Parameters, input and at most a workspace the first forward grew.
  EXPECT_LE(held.model, held.parameters + held.input + (int64_t{64} << 20));
}

}  // namespace
}  // namespace convnet::test
