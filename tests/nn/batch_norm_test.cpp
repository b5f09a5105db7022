// BatchNorm2d: PyTorch's semantics checked by hand on small inputs (batch
// statistics, the running-statistics update with the unbiased variance,
// momentum=None, eval mode, affine and track_running_stats off), buffers
// (not parameters, in checkpoints under PyTorch's names, num_batches_tracked
// i64) and the errors the layer raises when it is built or fed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "support/values.hpp"

namespace convnet::test {
namespace {

// x [2, 2, 1, 2]: channel 0 holds {1, 2, 3, 4}, channel 1 holds {-1, 0, 5, 8}.
Tensor small_input() {
  return Tensor::from_vector(std::vector<float>{1.f, 2.f, -1.f, 0.f, 3.f, 4.f, 5.f, 8.f}, {2, 2, 1, 2});
}

TEST(BatchNorm2d, TrainModeNormalisesWithTheBatchStatistics) {
  nn::BatchNorm2d bn(2);
  bn.weight()->value.copy_from(Tensor::from_vector(std::vector<float>{2.f, 1.f}, {2}));
  bn.bias()->value.copy_from(Tensor::from_vector(std::vector<float>{0.5f, -1.f}, {2}));
  const std::vector<float> y = bn.forward(small_input(), nn::Mode::Train).to_vector<float>();
  // channel 0: mean 2.5, biased var 1.25; channel 1: mean 3, biased var 13.5
  const double is0 = 1.0 / std::sqrt(1.25 + 1e-5), is1 = 1.0 / std::sqrt(13.5 + 1e-5);
  const std::vector<double> expected = {
      (1 - 2.5) * is0 * 2 + 0.5, (2 - 2.5) * is0 * 2 + 0.5, (-1 - 3) * is1 - 1, (0 - 3) * is1 - 1,
      (3 - 2.5) * is0 * 2 + 0.5, (4 - 2.5) * is0 * 2 + 0.5, (5 - 3) * is1 - 1,  (8 - 3) * is1 - 1};
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], expected[i], 1e-5) << i;
}

TEST(BatchNorm2d, UpdatesTheRunningStatisticsWithTheUnbiasedVariance) {
  nn::BatchNorm2d bn(nn::BatchNorm2dOptions(2).momentum(0.25));
  bn.forward(small_input(), nn::Mode::Train);
  const std::vector<float> mean = bn.running_mean().to_vector<float>();
  const std::vector<float> var = bn.running_var().to_vector<float>();
  EXPECT_NEAR(mean[0], 0.75 * 0 + 0.25 * 2.5, 1e-6);
  EXPECT_NEAR(mean[1], 0.75 * 0 + 0.25 * 3.0, 1e-6);
  // unbiased: 1.25 * 4 / 3 and 13.5 * 4 / 3
  EXPECT_NEAR(var[0], 0.75 * 1 + 0.25 * (1.25 * 4 / 3), 1e-6);
  EXPECT_NEAR(var[1], 0.75 * 1 + 0.25 * 18.0, 1e-5);
  EXPECT_EQ(bn.num_batches_tracked(), 1);
  bn.forward(small_input(), nn::Mode::Train);
  EXPECT_EQ(bn.num_batches_tracked(), 2);
  EXPECT_NEAR(bn.running_mean().to_vector<float>()[0], 0.75 * 0.625 + 0.25 * 2.5, 1e-6);
}

TEST(BatchNorm2d, MomentumNoneIsACumulativeAverage) {
  nn::BatchNorm2d bn(nn::BatchNorm2dOptions(2).momentum(std::nullopt));
  bn.forward(small_input(), nn::Mode::Train);  // factor 1: the first batch's statistics
  EXPECT_NEAR(bn.running_mean().to_vector<float>()[0], 2.5, 1e-6);
  Tensor shifted = small_input();
  std::vector<float> v = shifted.to_vector<float>();
  for (float& x : v) x += 3.f;
  bn.forward(Tensor::from_vector(v, {2, 2, 1, 2}), nn::Mode::Train);  // factor 1/2
  EXPECT_NEAR(bn.running_mean().to_vector<float>()[0], (2.5 + 5.5) / 2, 1e-6);
  EXPECT_EQ(bn.name(),
            "BatchNorm2d(2, eps=1e-05, momentum=None, affine=True, track_running_stats=True)");
}

TEST(BatchNorm2d, EvalModeUsesTheRunningStatisticsAndKeepsNothing) {
  nn::BatchNorm2d bn(2);
  bn.running_mean().copy_from(Tensor::from_vector(std::vector<float>{1.f, -2.f}, {2}));
  bn.running_var().copy_from(Tensor::from_vector(std::vector<float>{4.f, 0.25f}, {2}));
  const std::vector<float> y = bn.forward(small_input(), nn::Mode::Eval).to_vector<float>();
  EXPECT_NEAR(y[0], (1 - 1) / std::sqrt(4 + 1e-5), 1e-6);
  EXPECT_NEAR(y[2], (-1 + 2) / std::sqrt(0.25 + 1e-5), 1e-5);
  EXPECT_EQ(bn.num_batches_tracked(), 0);  // eval counts nothing
  EXPECT_NEAR(bn.running_mean().to_vector<float>()[0], 1.f, 0);
  EXPECT_NE(error_message([&] { bn.backward(Tensor::ones({2, 2, 1, 2})); }).find("Mode::Eval"),
            std::string::npos);
}

TEST(BatchNorm2d, WithoutRunningStatisticsBothModesUseTheBatch) {
  nn::BatchNorm2d bn(nn::BatchNorm2dOptions(2).track_running_stats(false).affine(false));
  EXPECT_TRUE(bn.parameters().empty());
  EXPECT_TRUE(bn.buffers().empty());
  const Tensor train = bn.forward(small_input(), nn::Mode::Train);
  const Tensor eval = bn.forward(small_input(), nn::Mode::Eval);
  EXPECT_EQ(train.to_vector<float>(), eval.to_vector<float>());
}

TEST(BatchNorm2d, BuffersAreNotParametersAndCarryPyTorchNames) {
  nn::Sequential net;
  net.add<nn::Conv2d>(nn::Conv2dOptions(1, 2, 3).bias(false));
  net.add<nn::BatchNorm2d>(2);
  std::vector<std::string> params, buffers;
  for (nn::Parameter* p : net.parameters()) params.push_back(p->name);
  for (nn::Buffer* b : net.buffers()) buffers.push_back(b->name);
  EXPECT_EQ(params, (std::vector<std::string>{"0.weight", "1.weight", "1.bias"}));
  EXPECT_EQ(buffers,
            (std::vector<std::string>{"1.running_mean", "1.running_var", "1.num_batches_tracked"}));
  EXPECT_EQ(net.buffers()[2]->value.dtype(), DType::I64);
  EXPECT_EQ(net.buffers()[2]->value.dim(), 0);
  // An optimizer is given parameters only: it never sees a running statistic.
  nn::SGD sgd(net.parameters(), nn::SGDOptions(0.1f));
  EXPECT_EQ(sgd.parameters().size(), 3u);
}

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "/convnet_bn_" + name + ".safetensors";
}

TEST(BatchNorm2d, CheckpointsHoldTheBuffersAndLoadThemBack) {
  nn::BatchNorm2d a(2), b(2);
  a.forward(small_input(), nn::Mode::Train);
  a.forward(small_input(), nn::Mode::Train);
  const std::string path = temp_path("roundtrip");
  io::save_safetensors(a, path);
  const io::SafetensorsFile file = io::read_safetensors(path);
  ASSERT_NE(file.find("num_batches_tracked"), nullptr);
  io::load_safetensors(b, path);
  EXPECT_EQ(b.num_batches_tracked(), 2);
  EXPECT_EQ(b.running_mean().to_vector<float>(), a.running_mean().to_vector<float>());
  EXPECT_EQ(b.running_var().to_vector<float>(), a.running_var().to_vector<float>());
  std::remove(path.c_str());
}

TEST(BatchNorm2d, AMissingRunningVarFailsStrictLoadingAndIsListedOtherwise) {
  nn::BatchNorm2d bn(2);
  const std::string path = temp_path("missing");
  io::write_safetensors(path, {{"weight", Tensor::ones({2})},
                               {"bias", Tensor::zeros({2})},
                               {"running_mean", Tensor::zeros({2})},
                               {"num_batches_tracked", Tensor::from_vector(std::vector<int64_t>{7}, {})}});
  const std::string message = error_message([&] { io::load_safetensors(bn, path); });
  EXPECT_NE(message.find("missing running_var"), std::string::npos) << message;
  const io::LoadResult result = io::load_safetensors(bn, path, io::LoadOptions().strict(false));
  EXPECT_EQ(result.missing_keys, std::vector<std::string>{"running_var"});
  EXPECT_EQ(bn.num_batches_tracked(), 7);
  std::remove(path.c_str());
}

TEST(BatchNorm2d, RefusesBadOptionsWhenBuiltNamingTheValue) {
  std::string m = error_message([] { nn::BatchNorm2d(nn::BatchNorm2dOptions(4).eps(-1e-5)); });
  EXPECT_NE(m.find("BatchNorm2d(4)"), std::string::npos) << m;
  EXPECT_NE(m.find("eps -1e-05"), std::string::npos) << m;
  m = error_message([] { nn::BatchNorm2d(nn::BatchNorm2dOptions(4).momentum(1.5)); });
  EXPECT_NE(m.find("momentum 1.5"), std::string::npos) << m;
  m = error_message([] { nn::BatchNorm2d(nn::BatchNorm2dOptions(4).momentum(-0.1)); });
  EXPECT_NE(m.find("momentum -0.1"), std::string::npos) << m;
  m = error_message([] { nn::BatchNorm2d(0); });
  EXPECT_NE(m.find("num_features 0"), std::string::npos) << m;
}

TEST(BatchNorm2d, RefusesAnInputWithAnotherChannelCount) {
  nn::Sequential net;
  net.add<nn::Conv2d>(1, 8, 3);
  net.add<nn::BatchNorm2d>(16);
  const std::string m = error_message([&] { net.output_shape({2, 1, 10, 10}); });
  EXPECT_NE(m.find("BatchNorm2d(16, eps=1e-05"), std::string::npos) << m;
  EXPECT_NE(m.find("has 8 channels but the layer normalises 16"), std::string::npos) << m;
  nn::BatchNorm2d bn(3);
  const std::string f = error_message([&] { bn.forward(Tensor::ones({2, 4, 3, 3}), nn::Mode::Train); });
  EXPECT_NE(f.find("has 4 channels"), std::string::npos) << f;
}

TEST(BatchNorm2d, RefusesToTrainOnOneValuePerChannel) {
  nn::BatchNorm2d bn(3);
  const std::string m =
      error_message([&] { bn.forward(Tensor::ones({1, 3, 1, 1}), nn::Mode::Train); });
  EXPECT_NE(m.find("more than 1 value per channel"), std::string::npos) << m;
  EXPECT_EQ(bn.num_batches_tracked(), 0);  // a refused batch is not counted
}

TEST(BatchNorm2d, GradcheckInTrainMode) {
  nn::BatchNorm2d bn(3);
  bn.weight()->value.copy_from(Tensor::from_vector(std::vector<float>{0.5f, -1.5f, 2.f}, {3}));
  bn.bias()->value.copy_from(Tensor::from_vector(std::vector<float>{0.1f, 0.2f, -0.3f}, {3}));
  const nn::GradcheckResult r = nn::gradcheck(bn, Tensor::randn({3, 3, 4, 5}, Device::cpu(), 11));
  EXPECT_TRUE(r) << r.str();
}

// BN + ReLU fused in a Sequential gives the unfused result bit for bit, forward
// and backward (the same float operations, the ReLU's mask read from the output).
TEST(BatchNorm2d, FusedWithReLUInASequentialMatchesUnfused) {
  manual_seed(12);
  nn::Sequential net;
  net.add<nn::Conv2d>(nn::Conv2dOptions(2, 3, 3).padding(1).bias(false));
  net.add<nn::BatchNorm2d>(3);
  net.add<nn::ReLU>();
  const Tensor x = Tensor::randn({2, 2, 5, 5}, Device::cpu(), 12);
  const Tensor dy = Tensor::randn({2, 3, 5, 5}, Device::cpu(), 13);
  std::vector<std::vector<float>> results[2];
  for (bool fusion : {true, false}) {
    net.set_fusion(fusion);
    net.zero_grad();
    std::vector<std::vector<float>>& r = results[fusion ? 0 : 1];
    r.push_back(net.forward(x, nn::Mode::Train).to_vector<float>());
    r.push_back(net.backward(dy).to_vector<float>());
    for (nn::Parameter* p : net.parameters()) r.push_back(p->grad.to_vector<float>());
  }
  EXPECT_EQ(results[0], results[1]);
  net.set_fusion(true);
  EXPECT_NE(net.summary({2, 2, 5, 5}).find("fused into 1"), std::string::npos) << net.summary({2, 2, 5, 5});
}

TEST(BatchNorm2d, GradcheckWithoutAffineOrRunningStatistics) {
  nn::BatchNorm2d bn(nn::BatchNorm2dOptions(2).affine(false).track_running_stats(false));
  const nn::GradcheckResult r = nn::gradcheck(bn, Tensor::randn({4, 2, 3, 3}, Device::cpu(), 14));
  EXPECT_TRUE(r) << r.str();
}

TEST(AdaptiveAvgPool2d, AveragesPyTorchsWindows) {
  // 1 x 1 x 3 x 3 -> 2 x 2: rows [0, 2) and [1, 3), columns likewise.
  nn::AdaptiveAvgPool2d pool(2);
  const Tensor x = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  EXPECT_EQ(pool.forward(x, nn::Mode::Eval).to_vector<float>(),
            (std::vector<float>{3.f, 4.f, 6.f, 7.f}));
  EXPECT_EQ(pool.name(), "AdaptiveAvgPool2d(output_size=2)");
  EXPECT_EQ(nn::AdaptiveAvgPool2d(nn::Pair(1, 1)).name(), "AdaptiveAvgPool2d(output_size=(1, 1))");
}

TEST(AdaptiveAvgPool2d, Gradcheck) {
  for (int out : {1, 2, 3, 5}) {
    nn::AdaptiveAvgPool2d pool(out);
    const nn::GradcheckResult r = nn::gradcheck(pool, Tensor::randn({2, 3, 4, 5}, Device::cpu(), 13));
    EXPECT_TRUE(r) << out << ": " << r.str();
  }
}

}  // namespace
}  // namespace convnet::test
