// ONNX export through convnet's own import: round trips are exact (weights
// bit for bit, Mode::Eval outputs bit for bit on the reference backend), and
// layers without an exact ONNX form are refused by name. onnxruntime's view of
// the same files is tests/python/check_onnx.py.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>

#include "convnet/convnet.hpp"
#include "convnet/io/onnx.hpp"

namespace convnet {
namespace {

#define SKIP_WITHOUT_ONNX() \
  if (!io::onnx_available()) GTEST_SKIP() << "convnet was built without ONNX (CONVNET_ONNX)"

std::unique_ptr<nn::Sequential> mnist_cnn() {
  auto net = std::make_unique<nn::Sequential>();
  net->add<nn::Conv2d>(nn::Conv2dOptions(1, 8, 5).padding(2)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
      .add<nn::Conv2d>(nn::Conv2dOptions(8, 16, 5).padding(2)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
      .add<nn::Flatten>().add<nn::Linear>(16 * 7 * 7, 10);
  return net;
}

void expect_same_bits(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  const auto va = a.to(Device::cpu()).to_vector<float>(), vb = b.to(Device::cpu()).to_vector<float>();
  EXPECT_EQ(0, std::memcmp(va.data(), vb.data(), va.size() * sizeof(float))) << what;
}

// Parameters and float buffers in order, value for value.
void expect_same_weights(nn::Layer& a, nn::Layer& b) {
  auto pa = a.parameters(), pb = b.parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) expect_same_bits(pa[i]->value, pb[i]->value, pa[i]->name);
  std::vector<nn::Buffer*> ba, bb;
  for (auto* buf : a.buffers()) if (buf->value.dtype() == DType::F32) ba.push_back(buf);
  for (auto* buf : b.buffers()) if (buf->value.dtype() == DType::F32) bb.push_back(buf);
  ASSERT_EQ(ba.size(), bb.size());
  for (size_t i = 0; i < ba.size(); ++i) expect_same_bits(ba[i]->value, bb[i]->value, ba[i]->name);
}

TEST(OnnxExport, MnistCnnRoundTripIsExact) {
  SKIP_WITHOUT_ONNX();
  manual_seed(1);
  auto net = mnist_cnn();
  net->set_backend(Backend::Kind::Cpu);
  const std::string bytes = io::export_onnx_bytes(*net, Shape{2, 1, 28, 28});
  io::OnnxModel back = io::import_onnx_bytes(bytes.data(), bytes.size());
  back.model->set_backend(Backend::Kind::Cpu);
  EXPECT_EQ(back.input_shape, (std::vector<int64_t>{-1, 1, 28, 28}));
  EXPECT_EQ(back.input_name, "input");
  EXPECT_EQ(back.output_name, "output");
  EXPECT_EQ(back.opset, io::kOnnxOpset);
  expect_same_weights(*net, *back.model);
  const Tensor x = Tensor::randn(Shape{5, 1, 28, 28}, Device::cpu(), 9);  // another batch size
  expect_same_bits(net->forward(x, nn::Mode::Eval), back.model->forward(x, nn::Mode::Eval), "logits");
}

TEST(OnnxExport, ResNetRoundTripIsExactWithRunningStatistics) {
  SKIP_WITHOUT_ONNX();
  manual_seed(2);
  nn::ResNet net(nn::ResNetOptions().in_channels(3).widths({4, 8}).blocks({1, 2}).num_classes(5));
  net.set_backend(Backend::Kind::Cpu);
  for (uint64_t i = 0; i < 2; ++i) net.forward(Tensor::randn(Shape{4, 3, 12, 12}, Device::cpu(), 30 + i), nn::Mode::Train);
  const std::string bytes = io::export_onnx_bytes(net, Shape{4, 3, 12, 12});
  io::OnnxModel back = io::import_onnx_bytes(bytes.data(), bytes.size());
  back.model->set_backend(Backend::Kind::Cpu);
  expect_same_weights(net, *back.model);
  const Tensor x = Tensor::randn(Shape{3, 3, 12, 12}, Device::cpu(), 31);
  expect_same_bits(net.forward(x, nn::Mode::Eval), back.model->forward(x, nn::Mode::Eval), "logits");
}

TEST(OnnxExport, EveryLayerKindRoundTrips) {
  SKIP_WITHOUT_ONNX();
  manual_seed(3);
  nn::Sequential net;
  auto body = std::make_unique<nn::Sequential>();
  body->add<nn::Conv2d>(nn::Conv2dOptions(4, 4, 3).padding(1)).add<nn::Tanh>();
  net.add<nn::Conv2d>(nn::Conv2dOptions(2, 4, 3).padding(2).dilation(2).bias(false))
      .add<nn::BatchNorm2d>(nn::BatchNorm2dOptions(4).eps(1e-3).momentum(0.2))
      .add<nn::LeakyReLU>(0.3f)
      .add(std::make_unique<nn::Residual>(std::move(body), nullptr, true))
      .add<nn::MaxPool2d>(nn::MaxPool2dOptions(3).stride(2).padding(1).ceil_mode(true))
      .add<nn::AvgPool2d>(nn::AvgPool2dOptions(2).stride(1).padding(1).count_include_pad(false))
      .add<nn::Sigmoid>()
      .add<nn::AdaptiveAvgPool2d>(nn::Pair(2))
      .add<nn::Flatten>()
      .add<nn::Dropout>(0.25f)
      .add<nn::Linear>(16, 6)
      .add<nn::ReLU>()
      .add<nn::Linear>(nn::LinearOptions(6, 3).bias(false))
      .add<nn::LogSoftmax>();
  net.set_backend(Backend::Kind::Cpu);
  net.forward(Tensor::randn(Shape{3, 2, 9, 9}, Device::cpu(), 40), nn::Mode::Train);  // running stats
  const std::string bytes = io::export_onnx_bytes(net, Shape{3, 2, 9, 9});
  io::OnnxModel back = io::import_onnx_bytes(bytes.data(), bytes.size());
  back.model->set_backend(Backend::Kind::Cpu);
  expect_same_weights(net, *back.model);
  auto* bn = dynamic_cast<nn::BatchNorm2d*>(&(*back.model)[1]);
  ASSERT_NE(bn, nullptr);
  EXPECT_EQ(bn->options().eps(), 1e-3);  // the shortest decimal of the float attribute
  auto* dropout = dynamic_cast<nn::Dropout*>(&(*back.model)[10]);  // the Residual's ReLU is a layer now
  ASSERT_NE(dropout, nullptr);
  EXPECT_EQ(dropout->options().p(), 0.25f);
  const Tensor x = Tensor::randn(Shape{2, 2, 9, 9}, Device::cpu(), 41);
  expect_same_bits(net.forward(x, nn::Mode::Eval), back.model->forward(x, nn::Mode::Eval), "output");
}

TEST(OnnxExport, FixedBatchWhenAsked) {
  SKIP_WITHOUT_ONNX();
  auto net = mnist_cnn();
  io::OnnxExportOptions options;
  options.dynamic_batch = false;
  options.input_name = "pixels";
  options.output_name = "logits";
  const std::string bytes = io::export_onnx_bytes(*net, Shape{8, 1, 28, 28}, options);
  io::OnnxModel back = io::import_onnx_bytes(bytes.data(), bytes.size());
  EXPECT_EQ(back.input_shape, (std::vector<int64_t>{8, 1, 28, 28}));
  EXPECT_EQ(back.input_name, "pixels");
  EXPECT_EQ(back.output_name, "logits");
}

class Doubler : public nn::Layer {
 public:
  Tensor forward(const Tensor& x, nn::Mode) override { return x; }
  Tensor backward(const Tensor& g) override { return g; }
  std::string name() const override { return "Doubler()"; }
  Shape output_shape(const Shape& s) const override { return s; }
};

void expect_refused(nn::Layer& model, const Shape& shape, const std::string& needle) {
  try {
    io::export_onnx_bytes(model, shape);
    ADD_FAILURE() << "exported; expected a refusal mentioning " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(OnnxExport, RefusesWhatItCannotExpressExactly) {
  SKIP_WITHOUT_ONNX();
  nn::Sequential custom;
  custom.add<nn::Conv2d>(1, 2, 3).add<Doubler>();
  expect_refused(custom, Shape{1, 1, 8, 8}, "1 (Doubler())");

  nn::Sequential batch_stats;
  batch_stats.add<nn::BatchNorm2d>(nn::BatchNorm2dOptions(1).track_running_stats(false));
  expect_refused(batch_stats, Shape{1, 1, 8, 8}, "no running statistics");

  nn::Sequential uneven;
  uneven.add<nn::AdaptiveAvgPool2d>(nn::Pair(3));
  expect_refused(uneven, Shape{1, 1, 8, 8}, "windows of different sizes");

  nn::Sequential overhang;  // ceil_mode's last window past the padding, divided by its clipped size
  overhang.add<nn::AvgPool2d>(nn::AvgPool2dOptions(3).stride(2).padding(1).ceil_mode(true));
  expect_refused(overhang, Shape{1, 1, 8, 8}, "overhangs the padding");

  nn::Sequential wrong_input;
  wrong_input.add<nn::Linear>(10, 2);
  expect_refused(wrong_input, Shape{1, 1, 8, 8}, "Linear");
}

TEST(OnnxExport, UnwritablePathFailsAndKeepsTheOldFile) {
  SKIP_WITHOUT_ONNX();
  auto net = mnist_cnn();
  EXPECT_THROW(io::export_onnx(*net, Shape{1, 1, 28, 28}, "/nonexistent-folder/model.onnx"), Error);

  const std::string path = ::testing::TempDir() + "onnx_export_keep.onnx";
  { std::ofstream(path) << "old"; }
  nn::Sequential custom;
  custom.add<Doubler>();
  EXPECT_THROW(io::export_onnx(custom, Shape{1, 1, 4, 4}, path), Error);
  std::ifstream in(path);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "old");

  io::export_onnx(*net, Shape{1, 1, 28, 28}, path);  // now replaced, and it loads
  EXPECT_EQ(io::import_onnx(path).model->size(), 8u);
  std::remove(path.c_str());
}

TEST(OnnxExport, EveryTruncationIsAnErrorNeverACrash) {
  SKIP_WITHOUT_ONNX();
  manual_seed(4);
  nn::ResNet net(nn::ResNetOptions().widths({2, 4}).blocks({1, 1}));
  const std::string bytes = io::export_onnx_bytes(net, Shape{1, 1, 8, 8});
  int refused = 0;
  for (size_t cut = 0; cut < bytes.size(); cut += 1 + bytes.size() / 400) {
    try {
      io::import_onnx_bytes(bytes.data(), cut);
      ADD_FAILURE() << "a file cut at " << cut << " of " << bytes.size() << " bytes imported";
    } catch (const Error&) {
      ++refused;
    }
  }
  EXPECT_GT(refused, 300);
}

TEST(OnnxExport, WithoutOnnxEveryCallSaysSo) {
  if (io::onnx_available()) GTEST_SKIP() << "this build has ONNX";
  nn::Sequential net;
  EXPECT_THROW(io::export_onnx_bytes(net, Shape{1, 2}), Error);
  EXPECT_THROW(io::import_onnx_bytes("", 0), Error);
}

}  // namespace
}  // namespace convnet
