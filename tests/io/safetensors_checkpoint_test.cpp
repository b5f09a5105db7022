// Model and optimizer checkpoints: exact round trips that continue training
// identically, and strict, all-or-nothing loads with clear errors.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "convnet/io/safetensors.hpp"
#include "io/safetensors_files.hpp"

namespace convnet::test {
namespace {

std::unique_ptr<nn::Sequential> small_cnn(uint64_t seed, int kernel = 3) {
  manual_seed(seed);
  auto net = std::make_unique<nn::Sequential>();
  net->add<nn::Conv2d>(nn::Conv2dOptions(1, 4, kernel).padding(kernel / 2))
      .add<nn::ReLU>()
      .add<nn::MaxPool2d>(2)
      .add<nn::Flatten>()
      .add<nn::Linear>(4 * 4 * 4, 5);
  return net;
}

std::vector<std::vector<float>> snapshot(nn::Layer& model) {
  std::vector<std::vector<float>> values;
  for (nn::Parameter* p : model.parameters()) values.push_back(p->value.to_vector<float>());
  return values;
}

// Exact equality of float vectors, bit for bit.
bool identical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

const Tensor& batch() {
  static const Tensor x = Tensor::randn({6, 1, 8, 8}, Device::cpu(), 99);
  return x;
}

const Tensor& labels() {
  static const Tensor y = Tensor::from_vector(std::vector<int32_t>{0, 1, 2, 3, 4, 0}, {6});
  return y;
}

void train_step(nn::Sequential& net, nn::Optimizer& opt) {
  nn::CrossEntropyLoss loss;
  loss.forward(net.forward(batch(), nn::Mode::Train), labels());
  net.backward(loss.backward());
  opt.step();
  opt.zero_grad();
}

TEST(SafetensorsCheckpoint, ModelRoundTripIsExact) {
  ScratchDir dir;
  auto saved = small_cnn(1);
  io::save_safetensors(*saved, dir.file("m.safetensors"), {{"epoch", "7"}});

  const io::SafetensorsFile file = io::read_safetensors(dir.file("m.safetensors"));
  std::vector<std::string> names;
  for (const auto& entry : file.tensors) names.push_back(entry.first);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "4.weight", "4.bias"}));

  auto loaded = small_cnn(2);
  ASSERT_FALSE(identical(snapshot(*loaded)[0], snapshot(*saved)[0]));
  const io::Metadata metadata = io::load_safetensors(*loaded, dir.file("m.safetensors"));
  EXPECT_EQ(metadata.at("epoch"), "7");
  const auto expected = snapshot(*saved), got = snapshot(*loaded);
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_TRUE(identical(got[i], expected[i])) << i;
  EXPECT_TRUE(identical(loaded->forward(batch(), nn::Mode::Eval).to_vector<float>(),
                        saved->forward(batch(), nn::Mode::Eval).to_vector<float>()));
}

// Parameters on a GPU are copied to the host to save and back to the device to load.
TEST(SafetensorsCheckpoint, CudaModelRoundTrip) {
  if (!cuda_available()) GTEST_SKIP() << "no GPU: " << cuda_unavailable_reason();
  ScratchDir dir;
  auto saved = small_cnn(1);
  const auto expected = snapshot(*saved);
  saved->to(Device::cuda());
  io::save_safetensors(*saved, dir.file("gpu.safetensors"));
  auto loaded = small_cnn(2);
  loaded->to(Device::cuda());
  io::load_safetensors(*loaded, dir.file("gpu.safetensors"));
  for (nn::Parameter* p : loaded->parameters()) EXPECT_TRUE(p->value.device().is_cuda());
  const auto got = snapshot(*loaded);
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_TRUE(identical(got[i], expected[i])) << i;
}

// Each bad file fails with its reason and leaves the model exactly as it was.
TEST(SafetensorsCheckpoint, StrictLoadReportsAndChangesNothing) {
  ScratchDir dir;
  auto source = small_cnn(1);
  std::vector<std::pair<std::string, Tensor>> params;
  for (nn::Parameter* p : source->parameters()) params.emplace_back(p->name, p->value);
  const std::string path = dir.file("bad.safetensors");
  auto target = small_cnn(2);
  const auto before = snapshot(*target);
  const auto expect_refused = [&](const io::NamedTensors& tensors,
                                  const std::vector<std::string>& parts) {
    io::write_safetensors(path, tensors);
    std::vector<std::string> all = parts;
    all.push_back(path);
    EXPECT_TRUE(throws_error_with([&] { io::load_safetensors(*target, path); }, all));
    const auto after = snapshot(*target);
    for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(identical(after[i], before[i]));
  };

  io::NamedTensors missing(params.begin(), params.end() - 1);
  expect_refused(missing, {"missing 4.bias", "nothing was loaded"});

  io::NamedTensors extra = params;
  extra.emplace_back("9.weight", Tensor::ones({2}));
  expect_refused(extra, {"unexpected 9.weight"});

  io::NamedTensors wrong_dtype = params;
  wrong_dtype[1].second = Tensor::zeros({4}, Device::cpu(), DType::I32);
  expect_refused(wrong_dtype, {"0.bias is [4] i32 in the file but [4] f32 here"});

  auto wide = small_cnn(3, 5);
  io::save_safetensors(*wide, dir.file("wide.safetensors"));
  EXPECT_TRUE(throws_error_with(
      [&] { io::load_safetensors(*target, dir.file("wide.safetensors")); },
      {"0.weight is [4, 1, 5, 5] f32 in the file but [4, 1, 3, 3] f32 here"}));

  io::save_safetensors(*source, dir.file("good.safetensors"));
  const std::string good = read_bytes(dir.file("good.safetensors"));
  write_bytes(dir.file("cut.safetensors"), good.substr(0, good.size() - 10));
  EXPECT_TRUE(throws_error_with(
      [&] { io::load_safetensors(*target, dir.file("cut.safetensors")); }, {"truncated"}));
  const auto after = snapshot(*target);
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(identical(after[i], before[i]));
}

// Train two steps, checkpoint, restore into fresh objects, and the third step
// must match the uninterrupted run bit for bit.
template <typename Opt, typename Options>
void expect_resume_is_exact(const Options& options) {
  ScratchDir dir;
  auto net = small_cnn(1);
  Opt opt(net->parameters(), options);
  train_step(*net, opt);
  train_step(*net, opt);
  io::save_safetensors(*net, dir.file("model.safetensors"));
  io::save_optimizer(opt, dir.file("optim.safetensors"), {{"run", "a"}});

  auto resumed = small_cnn(2);
  Options other = options;
  other.lr(options.lr() * 3);  // the file's lr must win
  Opt resumed_opt(resumed->parameters(), other);
  io::load_safetensors(*resumed, dir.file("model.safetensors"));
  const io::Metadata metadata = io::load_optimizer(resumed_opt, dir.file("optim.safetensors"));
  EXPECT_EQ(metadata.at("run"), "a");
  EXPECT_EQ(metadata.at("optimizer"), opt.name());
  EXPECT_EQ(resumed_opt.step_count(), 2);
  EXPECT_EQ(resumed_opt.lr(), opt.lr());
  ASSERT_EQ(resumed_opt.state().size(), opt.state().size());

  train_step(*net, opt);
  train_step(*resumed, resumed_opt);
  const auto expected = snapshot(*net), got = snapshot(*resumed);
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_TRUE(identical(got[i], expected[i])) << i;
}

TEST(SafetensorsCheckpoint, SgdMomentumResumesExactly) {
  expect_resume_is_exact<nn::SGD>(nn::SGDOptions(0.05f).momentum(0.9f));
}

TEST(SafetensorsCheckpoint, PlainSgdResumesExactly) {
  expect_resume_is_exact<nn::SGD>(nn::SGDOptions(0.1f));
}

TEST(SafetensorsCheckpoint, AdamResumesExactly) {
  expect_resume_is_exact<nn::Adam>(nn::AdamOptions(0.01f));
}

TEST(SafetensorsCheckpoint, AdamWResumesExactly) {
  expect_resume_is_exact<nn::AdamW>(nn::AdamWOptions(0.01f));
}

TEST(SafetensorsCheckpoint, OptimizerStateNames) {
  ScratchDir dir;
  auto net = small_cnn(1);
  nn::Adam adam(net->parameters());
  io::save_optimizer(adam, dir.file("o.safetensors"));  // before any step: zero state
  const io::SafetensorsFile file = io::read_safetensors(dir.file("o.safetensors"));
  ASSERT_EQ(file.tensors.size(), 8u);
  EXPECT_EQ(file.tensors[0].first, "0.weight.exp_avg");
  EXPECT_EQ(file.tensors[1].first, "0.weight.exp_avg_sq");
  EXPECT_EQ(file.metadata.at("step"), "0");
  EXPECT_EQ(file.metadata.at("lr"), "0.00100000005");
  EXPECT_EQ(file.metadata.at("optimizer"), "Adam");
}

TEST(SafetensorsCheckpoint, OptimizerFileMustMatchTheOptimizer) {
  ScratchDir dir;
  auto net = small_cnn(1);
  nn::SGD sgd(net->parameters(), nn::SGDOptions(0.1f).momentum(0.9f));
  train_step(*net, sgd);
  io::save_optimizer(sgd, dir.file("sgd.safetensors"));

  nn::Adam adam(net->parameters());
  EXPECT_TRUE(throws_error_with([&] { io::load_optimizer(adam, dir.file("sgd.safetensors")); },
                                {"holds SGD state but the optimizer is Adam"}));
  EXPECT_EQ(adam.step_count(), 0);

  auto other = small_cnn(1, 5);  // a model with other shapes
  nn::SGD other_sgd(other->parameters(), nn::SGDOptions(0.1f).momentum(0.9f));
  EXPECT_TRUE(throws_error_with(
      [&] { io::load_optimizer(other_sgd, dir.file("sgd.safetensors")); },
      {"0.weight.momentum_buffer is [4, 1, 3, 3] f32 in the file but [4, 1, 5, 5] f32 here"}));
  EXPECT_EQ(other_sgd.step_count(), 0);

  io::save_safetensors(*net, dir.file("model.safetensors"));
  EXPECT_TRUE(throws_error_with([&] { io::load_optimizer(sgd, dir.file("model.safetensors")); },
                                {"no \"optimizer\""}));
  EXPECT_TRUE(throws_error_with(
      [&] { io::save_optimizer(sgd, dir.file("x.safetensors"), {{"step", "1"}}); },
      {"\"step\" is reserved"}));
}

}  // namespace
}  // namespace convnet::test
