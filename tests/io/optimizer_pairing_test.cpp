// An optimizer file belongs to the model file saved with it: save_optimizer
// records a digest of the parameters, load_optimizer compares it with the
// parameters as they are after the model file was loaded. Pairs that belong
// together load; any other pair is a clear error and changes nothing.
#include <gtest/gtest.h>

#include <memory>

#include "convnet/convnet.hpp"
#include "io/parameters_digest.hpp"
#include "io/safetensors_files.hpp"

namespace convnet::test {
namespace {

std::unique_ptr<nn::Sequential> small_net(uint64_t seed, int hidden = 6) {
  manual_seed(seed);
  auto net = std::make_unique<nn::Sequential>();
  net->add<nn::Linear>(4, hidden).add<nn::ReLU>().add<nn::Linear>(hidden, 3);
  return net;
}

// One step on a batch drawn from `seed`, on the parameters' device.
void train_step(nn::Sequential& net, nn::Optimizer& opt, uint64_t seed) {
  nn::CrossEntropyLoss loss;
  const Device device = net.parameters()[0]->value.device();
  const Tensor x = Tensor::randn({5, 4}, device, seed);
  const Tensor y = Tensor::from_vector(std::vector<int32_t>{0, 1, 2, 1, 0}, {5}).to(device);
  loss.forward(net.forward(x, nn::Mode::Train), y);
  net.backward(loss.backward());
  opt.step();
  opt.zero_grad();
}

// A training run: a model (of `seed`, on `device`), its Adam, and where it saves.
struct TrainingRun {
  explicit TrainingRun(uint64_t seed = 1, Device device = Device::cpu()) : net(small_net(seed)) {
    net->to(device);
    opt = std::make_unique<nn::Adam>(net->parameters(), nn::AdamOptions(0.01f));
  }
  ScratchDir dir;
  std::unique_ptr<nn::Sequential> net;
  std::unique_ptr<nn::Adam> opt;
  std::string model() const { return dir.file("m.safetensors"); }
  std::string optimizer() const { return dir.file("m.optimizer.safetensors"); }
  void save() {
    io::save_safetensors(*net, model());
    io::save_optimizer(*opt, optimizer());
  }
};

TEST(OptimizerPairing, APairSavedTogetherLoads) {
  TrainingRun run;
  train_step(*run.net, *run.opt, 1);
  train_step(*run.net, *run.opt, 2);
  run.save();
  const auto net = small_net(9);
  nn::Adam opt(net->parameters());
  io::load_safetensors(*net, run.model());
  const io::Metadata metadata = io::load_optimizer(opt, run.optimizer());
  EXPECT_EQ(opt.step_count(), 2);
  EXPECT_EQ(metadata.at("parameters_digest").size(), 16u);
}

// What a save killed between the model's rename and the optimizer's leaves:
// the model of step 3 beside the optimizer of step 2.
TEST(OptimizerPairing, ModelFileOfAnotherStepIsRefused) {
  TrainingRun run;
  train_step(*run.net, *run.opt, 1);
  train_step(*run.net, *run.opt, 2);
  run.save();
  train_step(*run.net, *run.opt, 3);
  io::save_safetensors(*run.net, run.model());

  const auto net = small_net(9);
  nn::Adam opt(net->parameters(), nn::AdamOptions(0.5f));
  io::load_safetensors(*net, run.model());
  EXPECT_TRUE(throws_error_with([&] { io::load_optimizer(opt, run.optimizer()); },
                                {"load_optimizer: " + run.optimizer() +
                                     " does not belong to the parameters it would update",
                                 "saved (at step 2)", "load_safetensors before load_optimizer",
                                 "Nothing was loaded"}));
  EXPECT_EQ(opt.step_count(), 0);
  EXPECT_EQ(opt.lr(), 0.5f);
  for (const auto& [name, state] : opt.state())
    for (float v : state->to_vector<float>()) ASSERT_EQ(v, 0.f) << name;
}

// Another run's model with the same architecture: the shapes fit, the values do not.
TEST(OptimizerPairing, ModelFileOfAnotherRunIsRefused) {
  TrainingRun first(1), second(2);
  train_step(*first.net, *first.opt, 1);
  train_step(*second.net, *second.opt, 1);
  first.save();
  second.save();
  const auto net = small_net(9);
  nn::Adam opt(net->parameters());
  io::load_safetensors(*net, second.model());
  EXPECT_TRUE(throws_error_with([&] { io::load_optimizer(opt, first.optimizer()); },
                                {first.optimizer(), "does not belong"}));
}

// Loading the optimizer first compares it with freshly initialised parameters.
TEST(OptimizerPairing, OptimizerBeforeModelIsRefusedAndSaysTheOrder) {
  TrainingRun run;
  train_step(*run.net, *run.opt, 1);
  run.save();
  const auto net = small_net(9);
  nn::Adam opt(net->parameters());
  EXPECT_TRUE(throws_error_with([&] { io::load_optimizer(opt, run.optimizer()); },
                                {"does not belong", "load_safetensors before load_optimizer"}));
  io::load_safetensors(*net, run.model());
  io::load_optimizer(opt, run.optimizer());  // in the right order it loads
  EXPECT_EQ(opt.step_count(), 1);
}

// Plain SGD keeps no state tensors: only the digest can tell the pair apart.
TEST(OptimizerPairing, PlainSgdWithoutStateIsPairedToo) {
  ScratchDir dir;
  const auto net = small_net(1);
  nn::SGD sgd(net->parameters(), nn::SGDOptions(0.1f));
  train_step(*net, sgd, 1);
  io::save_optimizer(sgd, dir.file("o.safetensors"));
  EXPECT_TRUE(io::read_safetensors(dir.file("o.safetensors")).tensors.empty());
  train_step(*net, sgd, 2);
  nn::SGD resumed(net->parameters(), nn::SGDOptions(0.1f));
  EXPECT_TRUE(throws_error_with([&] { io::load_optimizer(resumed, dir.file("o.safetensors")); },
                                {"does not belong", "at step 1"}));
  EXPECT_EQ(resumed.step_count(), 0);
}

// Deliberately carrying state over to changed parameters.
TEST(OptimizerPairing, CheckCanBeTurnedOff) {
  TrainingRun run;
  train_step(*run.net, *run.opt, 1);
  run.save();
  const auto net = small_net(9);
  nn::Adam opt(net->parameters());
  io::load_optimizer(opt, run.optimizer(), io::OptimizerLoadOptions().check_parameters(false));
  EXPECT_EQ(opt.step_count(), 1);
}

// Files saved before the digest existed still load (unchecked).
TEST(OptimizerPairing, FileWithoutDigestLoadsUnchecked) {
  TrainingRun run;
  train_step(*run.net, *run.opt, 1);
  run.save();
  io::SafetensorsFile old = io::read_safetensors(run.optimizer());
  ASSERT_EQ(old.metadata.erase("parameters_digest"), 1u);
  io::write_safetensors(run.optimizer(), old.tensors, old.metadata);
  const auto net = small_net(9);
  nn::Adam opt(net->parameters());
  io::load_optimizer(opt, run.optimizer());
  EXPECT_EQ(opt.step_count(), 1);
}

// A file for other shapes is named by its shapes, not only as "does not belong".
TEST(OptimizerPairing, OtherShapesAreReportedAsShapes) {
  TrainingRun run;
  run.save();
  const auto wide = small_net(1, 8);
  nn::Adam opt(wide->parameters());
  EXPECT_TRUE(throws_error_with([&] { io::load_optimizer(opt, run.optimizer()); },
                                {"0.weight.exp_avg is [6, 4] f32 in the file but [8, 4] f32 here"}));
}

TEST(OptimizerPairing, DigestKeyIsReserved) {
  TrainingRun run;
  EXPECT_TRUE(throws_error_with(
      [&] { io::save_optimizer(*run.opt, run.optimizer(), {{"parameters_digest", "0"}}); },
      {"\"parameters_digest\" is reserved"}));
}

// The digest is part of the file format: every optimizer file saved so far
// stores it, so it must never change for the same parameters. Pinned here on
// a hand-built list; each field changes it.
TEST(OptimizerPairing, DigestIsStableAndCoversNamesShapesAndValues) {
  nn::Parameter weight{"0.weight", Tensor::from_vector(std::vector<float>{1.f, -2.f, 0.5f, 3.f,
                                                                          0.f, -0.f},
                                                       {2, 3}),
                       {}};
  nn::Parameter bias{"0.bias", Tensor::from_vector(std::vector<float>{0.25f, 7.f}, {2}), {}};
  const auto digest = [&] { return io::detail::parameters_digest({&weight, &bias}); };
  const uint64_t pinned = digest();
  EXPECT_EQ(io::detail::digest_hex(pinned), "d4da83389bc311d9");

  weight.value.data<float>()[5] = 0.f;  // -0 to +0: one bit
  EXPECT_NE(digest(), pinned);
  weight.value.data<float>()[5] = -0.f;
  EXPECT_EQ(digest(), pinned);
  weight.name = "1.weight";
  EXPECT_NE(digest(), pinned);
  weight.name = "0.weight";
  weight.value = weight.value.reshape({3, 2});
  EXPECT_NE(digest(), pinned);
  weight.value = weight.value.reshape({2, 3});
  EXPECT_EQ(digest(), pinned);
  EXPECT_NE(io::detail::parameters_digest({&bias, &weight}), pinned);  // order
  EXPECT_NE(io::detail::parameters_digest({&weight}), pinned);
}

// Parameters on a GPU are read back to the host for the digest: a pair saved
// from the GPU loads on the CPU and the other way round.
TEST(OptimizerPairing, CudaPairLoadsOnTheCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no GPU: " << cuda_unavailable_reason();
  TrainingRun run(1, Device::cuda());
  train_step(*run.net, *run.opt, 1);
  run.save();
  const auto net = small_net(9);
  nn::Adam opt(net->parameters());
  io::load_safetensors(*net, run.model());
  io::load_optimizer(opt, run.optimizer());
  EXPECT_EQ(opt.step_count(), 1);
}

}  // namespace
}  // namespace convnet::test
