// Misuse raises convnet::Error whose message names the operation, the shapes
// and the cause (include/convnet/error.hpp), never a crash or a wrong answer.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "support/values.hpp"

namespace convnet::test {
namespace {

// The message contains every one of `needles` (the first compared case-insensitively:
// the operation's name may be spelled conv2d_forward or Conv2d).
::testing::AssertionResult mentions(const std::string& message, const std::string& op,
                                    const std::vector<std::string>& needles = {}) {
  if (!contains(lower(message), lower(op)))
    return ::testing::AssertionFailure() << "message does not name \"" << op << "\": " << message;
  for (const std::string& n : needles)
    if (!contains(message, n))
      return ::testing::AssertionFailure() << "message lacks \"" << n << "\": " << message;
  return ::testing::AssertionSuccess() << message;
}

Backend& cpu() { return get_backend(Backend::Kind::Cpu); }

TEST(Errors, ConvChannelMismatch) {
  nn::Conv2d conv(1, 4, 3);
  const Tensor x = Tensor::zeros({2, 3, 8, 8});
  EXPECT_THROW(conv.forward(x, nn::Mode::Train), Error);
  EXPECT_TRUE(mentions(error_message([&] { conv.forward(x, nn::Mode::Train); }), "conv2d",
                       {"[2, 3, 8, 8]", "[4, 1, 3, 3]"}));
  // The op itself, and output_shape.
  const Tensor w = Tensor::zeros({4, 1, 3, 3});
  EXPECT_TRUE(mentions(error_message([&] { ops::conv2d_forward(cpu(), x, w, nullptr, {}); }),
                       "conv2d", {"[2, 3, 8, 8]"}));
  EXPECT_THROW(conv.output_shape({2, 3, 8, 8}), Error);
}

TEST(Errors, ConvInputTooSmallAndWrongRank) {
  nn::Conv2d conv(1, 2, 5);
  EXPECT_TRUE(mentions(error_message([&] {
                         conv.forward(Tensor::zeros({1, 1, 3, 3}), nn::Mode::Eval);
                       }),
                       "conv2d", {"[1, 1, 3, 3]"}));
  EXPECT_TRUE(mentions(error_message([&] {
                         conv.forward(Tensor::zeros({1, 8, 8}), nn::Mode::Eval);
                       }),
                       "conv2d", {"[1, 8, 8]"}));
  // Bias of the wrong length.
  const Tensor bias = Tensor::zeros({3});
  EXPECT_TRUE(mentions(error_message([&] {
                         ops::conv2d_forward(cpu(), Tensor::zeros({1, 1, 6, 6}),
                                             Tensor::zeros({2, 1, 3, 3}), &bias, {});
                       }),
                       "conv2d", {"[3]"}));
}

TEST(Errors, LinearInFeaturesMismatch) {
  nn::Linear linear(10, 4);
  const Tensor x = Tensor::zeros({2, 12});
  EXPECT_THROW(linear.forward(x, nn::Mode::Train), Error);
  EXPECT_TRUE(mentions(error_message([&] { linear.forward(x, nn::Mode::Train); }), "linear",
                       {"[2, 12]", "[4, 10]"}));
  EXPECT_THROW(linear.output_shape({2, 12}), Error);
}

TEST(Errors, LossPredictionTargetShapeMismatch) {
  const Tensor pred = Tensor::zeros({4, 3});
  const Tensor target = Tensor::zeros({4, 2});
  nn::MSELoss mse;
  EXPECT_THROW(mse.forward(pred, target), Error);
  EXPECT_TRUE(
      mentions(error_message([&] { mse.forward(pred, target); }), "mse", {"[4, 3]", "[4, 2]"}));
  nn::BCEWithLogitsLoss bce;
  EXPECT_TRUE(
      mentions(error_message([&] { bce.forward(pred, target); }), "bce", {"[4, 3]", "[4, 2]"}));
  nn::HingeLoss hinge;
  EXPECT_TRUE(
      mentions(error_message([&] { hinge.forward(pred, target); }), "hinge", {"[4, 3]", "[4, 2]"}));
  // Cross-entropy: one label per row.
  nn::CrossEntropyLoss ce;
  const Tensor labels = Tensor::zeros({5}, Device::cpu(), DType::I32);
  EXPECT_THROW(ce.forward(pred, labels), Error);
  EXPECT_TRUE(
      mentions(error_message([&] { ce.forward(pred, labels); }), "entropy", {"[4, 3]", "[5]"}));
}

TEST(Errors, CrossEntropyLabelOutOfRange) {
  const Tensor logits = Tensor::zeros({2, 3});
  nn::CrossEntropyLoss ce;
  for (int32_t bad : {3, 7, -1}) {
    SCOPED_TRACE("label " + std::to_string(bad));
    const Tensor labels = Tensor::from_vector(std::vector<int32_t>{0, bad}, {2});
    EXPECT_THROW(ce.forward(logits, labels), Error);
    const std::string message = error_message([&] { ce.forward(logits, labels); });
    EXPECT_TRUE(mentions(message, "entropy", {std::to_string(bad)}));
    EXPECT_TRUE(contains(lower(message), "label")) << message;
    Tensor probs;
    EXPECT_THROW(ops::softmax_cross_entropy_forward(cpu(), logits, labels, probs), Error);
  }
}

// PyTorch's bound, [0, 1]: a NaN or an out-of-range value raises and names itself.
TEST(Errors, CrossEntropyLabelSmoothingOutOfRange) {
  for (const float bad : {-0.1f, 1.5f, NAN}) {
    SCOPED_TRACE("label_smoothing " + std::to_string(bad));
    const std::string message = error_message([&] { nn::CrossEntropyLoss ce(bad); });
    EXPECT_TRUE(mentions(message, "CrossEntropyLoss", {"label_smoothing"})) << message;
    const Tensor logits = Tensor::zeros({2, 3});
    const Tensor labels = Tensor::from_vector(std::vector<int32_t>{0, 1}, {2});
    Tensor probs;
    EXPECT_THROW(ops::softmax_cross_entropy_forward(cpu(), logits, labels, probs, bad), Error);
    EXPECT_THROW(ops::softmax_cross_entropy_backward(cpu(), Tensor::zeros({2, 3}), labels, 1.f, bad),
                 Error);
  }
  EXPECT_NO_THROW(nn::CrossEntropyLoss(0.f));
  EXPECT_NO_THROW(nn::CrossEntropyLoss(1.f));
}

TEST(Errors, CrossEntropyLabelsWrongDtype) {
  const Tensor logits = Tensor::zeros({2, 3});
  const Tensor float_labels = Tensor::zeros({2});  // f32, should be int32
  nn::CrossEntropyLoss ce;
  EXPECT_THROW(ce.forward(logits, float_labels), Error);
  const std::string message = error_message([&] { ce.forward(logits, float_labels); });
  EXPECT_TRUE(mentions(message, "entropy"));
  EXPECT_TRUE(contains(message, "32") || contains(lower(message), "float") ||
              contains(lower(message), "int"))
      << "the message should name the dtype problem: " << message;
  // count_correct takes int32 labels too.
  Tensor correct = Tensor::zeros({1}, Device::cpu(), DType::I32);
  EXPECT_THROW(ops::count_correct(cpu(), logits, float_labels, correct, false), Error);
}

TEST(Errors, PoolingWindowBiggerThanPaddedInput) {
  nn::MaxPool2d pool(5);
  const Tensor x = Tensor::zeros({1, 1, 3, 3});
  EXPECT_THROW(pool.forward(x, nn::Mode::Train), Error);
  EXPECT_TRUE(
      mentions(error_message([&] { pool.forward(x, nn::Mode::Train); }), "pool", {"[1, 1, 3, 3]"}));
  nn::AvgPool2d avg(4);
  EXPECT_TRUE(
      mentions(error_message([&] { avg.forward(x, nn::Mode::Eval); }), "pool", {"[1, 1, 3, 3]"}));
  EXPECT_THROW(pool.output_shape({1, 1, 3, 3}), Error);
  // The op too; with padding 1 the same 5x5 window fits (3 + 2*1 = 5).
  Pool2dParams p;
  p.kernel_h = p.kernel_w = 5;
  p.stride_h = p.stride_w = 5;
  EXPECT_TRUE(
      mentions(error_message([&] { ops::pool2d_forward(cpu(), x, p); }), "pool", {"[1, 1, 3, 3]"}));
  p.mode = PoolMode::AvgIncludePad;
  p.pad_h = p.pad_w = 2;  // PyTorch allows padding up to kernel / 2
  const Tensor y = ops::pool2d_forward(cpu(), Tensor::ones({1, 1, 3, 3}), p);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 1, 1}));
  EXPECT_TRUE(values_near(y, {9.f / 25.f}));
}

TEST(Errors, BackwardBeforeForward) {
  const Tensor g = Tensor::zeros({1, 1, 4, 4});
  nn::ReLU relu;
  EXPECT_THROW(relu.backward(g), Error);
  EXPECT_TRUE(contains(lower(error_message([&] { relu.backward(g); })), "forward"));
  nn::Conv2d conv(1, 1, 1);
  EXPECT_THROW(conv.backward(g), Error);
  nn::MaxPool2d pool(2);
  EXPECT_THROW(pool.backward(Tensor::zeros({1, 1, 2, 2})), Error);
  nn::Linear linear(4, 2);
  EXPECT_THROW(linear.backward(Tensor::zeros({1, 2})), Error);
  nn::Softmax softmax;
  EXPECT_THROW(softmax.backward(Tensor::zeros({1, 2})), Error);
  nn::CrossEntropyLoss ce;
  EXPECT_THROW(ce.backward(), Error);
  EXPECT_TRUE(contains(lower(error_message([&] { ce.backward(); })), "forward"));
  nn::MSELoss mse;
  EXPECT_THROW(mse.backward(), Error);
  // After to(), the cached activations are gone: backward must not use stale ones.
  conv.forward(Tensor::zeros({1, 1, 4, 4}), nn::Mode::Train);
  conv.to(Device::cpu());
  EXPECT_THROW(conv.backward(g), Error);
}

// Like every other layer, Dropout has nothing to apply before its first forward:
// returning grad_output unchanged would be a silent wrong answer when a Train
// forward was forgotten. An Eval forward keeps nothing either (tests/nn/eval_test.cpp).
TEST(Errors, DropoutBackwardBeforeForward) {
  nn::Dropout dropout(nn::DropoutOptions(0.5f).seed(1));
  EXPECT_THROW(dropout.backward(Tensor::zeros({1, 2})), Error);
  dropout.forward(Tensor::ones({1, 2}), nn::Mode::Eval);
  EXPECT_TRUE(mentions(error_message([&] { dropout.backward(Tensor::full({1, 2}, 3.f)); }),
                       "Dropout(p=0.5, inplace=False)", {"Mode::Train", "Mode::Eval"}));
}

TEST(Errors, GradientOfTheWrongShape) {
  nn::Conv2d conv(1, 2, 3);
  conv.forward(Tensor::zeros({1, 1, 5, 5}), nn::Mode::Train);  // output [1, 2, 3, 3]
  EXPECT_TRUE(mentions(error_message([&] {
                         conv.backward(Tensor::zeros({1, 2, 4, 4}));
                       }),
                       "conv2d", {"[1, 2, 4, 4]"}));
}

TEST(Errors, WrongDevice) {
  if (cuda_available()) {
    // A CUDA tensor through a layer pinned to the CPU backend.
    nn::ReLU relu;
    relu.set_backend(Backend::Kind::Cpu);
    // Each check reads the message, so a throw for another reason (say, a GPU
    // backend that does not work) cannot pass for the device check.
    const Tensor x = Tensor::zeros({2, 3}, Device::cuda());
    EXPECT_TRUE(mentions(error_message([&] { relu.forward(x, nn::Mode::Eval); }), "relu",
                         {"backend cpu", "cuda:0", ".to("}));
    // An op with inputs on two devices.
    const Tensor on_host = Tensor::zeros({2, 3});
    EXPECT_TRUE(mentions(error_message([&] {
                           ops::add(get_backend(default_backend(Device::cuda())), x, on_host);
                         }),
                         "add", {"backend cuda", "is on cpu", ".to(Device::cuda())"}));
    nn::Linear linear(3, 2);  // parameters on the CPU, input on the GPU
    EXPECT_TRUE(mentions(error_message([&] { linear.forward(x, nn::Mode::Eval); }), "linear",
                         {"is on cpu", "cuda"}));
    // The same layer, moved to the GPU, runs.
    linear.to(Device::cuda());
    EXPECT_EQ(linear.forward(x, nn::Mode::Eval).device(), Device::cuda());
  } else {
    // A GPU backend chosen for a CPU tensor (and unavailable in this build or machine).
    nn::ReLU relu;
    relu.set_backend(Backend::Kind::Cuda);
    EXPECT_EQ(relu.backend_choice(), Backend::Kind::Cuda);
    const Tensor x = Tensor::zeros({2, 3});
    EXPECT_THROW(relu.forward(x, nn::Mode::Eval), Error);
    EXPECT_TRUE(mentions(error_message([&] { relu.forward(x, nn::Mode::Eval); }), "cuda"));
    EXPECT_THROW(relu.backend_for(Device::cpu()), Error);
    EXPECT_THROW(get_backend(Backend::Kind::Cuda), Error);
    EXPECT_FALSE(backend_available(Backend::Kind::Cuda));
    EXPECT_THROW(Tensor::zeros({2}, Device::cuda()), Error);
    nn::Sequential net;
    net.add<nn::Linear>(3, 2);
    net.set_backend(Backend::Kind::Cudnn);
    EXPECT_THROW(net.forward(x, nn::Mode::Eval), Error);
  }
  // The CPU backend asked to compute... on CPU tensors works; back to default works too.
  nn::ReLU relu;
  relu.set_backend(std::nullopt);
  EXPECT_TRUE(values_near(
      relu.forward(Tensor::from_vector(std::vector<float>{-1.f, 2.f}, {1, 2}), nn::Mode::Eval),
      {0.f, 2.f}));
}

TEST(Errors, TensorReshapeToWrongElementCount) {
  const Tensor t = Tensor::zeros({2, 3});
  EXPECT_THROW(t.reshape({4, 2}), Error);
  EXPECT_TRUE(mentions(error_message([&] { t.reshape({4, 2}); }), "reshape", {"[2, 3]", "[4, 2]"}));
  EXPECT_THROW(t.reshape({4, -1}), Error);
  EXPECT_EQ(t.reshape({3, -1}).shape(), (Shape{3, 2}));
}

TEST(Errors, TensorDataWithTheWrongType) {
  Tensor t = Tensor::zeros({2, 3, 8, 8});
  EXPECT_THROW(t.data<int32_t>(), Error);
  EXPECT_TRUE(
      mentions(error_message([&] { t.data<int32_t>(); }), "data", {"i32", "f32", "[2, 3, 8, 8]"}));
  Tensor labels = Tensor::zeros({4}, Device::cpu(), DType::I32);
  EXPECT_THROW(labels.data<float>(), Error);
  EXPECT_THROW(labels.to_vector<float>(), Error);
  EXPECT_NO_THROW(labels.data<int32_t>());
}

TEST(Errors, OptimizerAndDropoutArguments) {
  // Dropout probability outside [0, 1).
  Tensor mask;
  EXPECT_THROW(ops::dropout_forward(cpu(), Tensor::zeros({4}), 1.f, 1, 0, mask), Error);
  EXPECT_THROW(ops::dropout_forward(cpu(), Tensor::zeros({4}), -0.1f, 1, 0, mask), Error);
  // add() of mismatched shapes.
  EXPECT_TRUE(mentions(error_message([&] {
                         ops::add(cpu(), Tensor::zeros({2, 3}), Tensor::zeros({3, 2}));
                       }),
                       "add", {"[2, 3]", "[3, 2]"}));
}

}  // namespace
}  // namespace convnet::test
