// The cuDNN backend's batch-norm route (src/cudnn/batch_norm_route.hpp), on the
// host: the precheck (deterministic mode, layouts), the key, and a fake
// try_graph that refuses chosen graphs, against the rule (requested graph, else
// the plain graph + our ReLU kernel for a fused op, else our kernels) and the
// path text the model summary prints.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "cudnn/batch_norm_route.hpp"

namespace convnet::cudnn {
namespace {

struct FakeCudnn {
  std::set<BnOp> refused;
  std::vector<BnOp> tried;
  std::string message = "support: No valid engine configs for Norm_Fwd_";
  std::function<bool(BnOp, std::string&)> try_graph() {
    return [this](BnOp op, std::string& reason) {
      tried.push_back(op);
      if (refused.count(op) == 0) return true;
      reason = message + " (" + bn_op_name(op) + ")";
      return false;
    };
  }
};

const BnOp kAll[] = {BnOp::Train, BnOp::TrainRelu, BnOp::Inference, BnOp::InferenceRelu,
                     BnOp::Backward};

TEST(CudnnBnRoute, PrecheckViewsTwoDimensionalInputAsNc11) {
  BnShape s;
  EXPECT_EQ(bn_precheck(false, {8, 3}, s), "");
  EXPECT_EQ(s.n, 8);
  EXPECT_EQ(s.c, 3);
  EXPECT_EQ(s.h, 1);
  EXPECT_EQ(s.w, 1);
  EXPECT_EQ(bn_precheck(false, {2, 4, 5, 6}, s), "");
  EXPECT_EQ(s.n, 2);
  EXPECT_EQ(s.c, 4);
  EXPECT_EQ(s.h, 5);
  EXPECT_EQ(s.w, 6);
}

TEST(CudnnBnRoute, PrecheckRefusesOtherRanksEmptyInputAndDeterministicMode) {
  BnShape s;
  EXPECT_NE(bn_precheck(false, {2, 3, 4}, s).find("rank-3"), std::string::npos);
  EXPECT_NE(bn_precheck(false, {2, 3, 4, 5, 6}, s).find("rank-5"), std::string::npos);
  EXPECT_EQ(bn_precheck(false, {0, 3, 4, 4}, s), "empty input");
  // Deterministic mode wins over everything: cuDNN is not even asked.
  EXPECT_EQ(bn_precheck(true, {2, 3, 4, 4}, s).rfind("deterministic mode", 0), 0u);
  EXPECT_EQ(bn_precheck(true, {2, 3}, s).rfind("deterministic mode", 0), 0u);
}

TEST(CudnnBnRoute, PrecheckRefusalGoesToOurKernelsWithoutTryingAGraph) {
  for (BnOp op : kAll) {
    FakeCudnn cudnn;
    BnRouteCounts counts;
    EXPECT_EQ(take_bn_route(op, "deterministic mode: x", cudnn.try_graph(), counts), BnRoute::Cuda);
    EXPECT_TRUE(cudnn.tried.empty());
    EXPECT_EQ(counts.routed(op, BnRoute::Cuda), 1u);
    EXPECT_EQ(counts.refusals(op), 0u);  // cuDNN refused nothing: it was not asked
    EXPECT_EQ(counts.cuda_reason[size_t(op)], "deterministic mode: x");
  }
}

TEST(CudnnBnRoute, EveryGraphAcceptedRunsTheRequestedGraphOnly) {
  for (BnOp op : kAll) {
    FakeCudnn cudnn;
    BnRouteCounts counts;
    EXPECT_EQ(take_bn_route(op, "", cudnn.try_graph(), counts), BnRoute::Graph);
    EXPECT_EQ(cudnn.tried, std::vector<BnOp>{op});
    EXPECT_EQ(counts.routed(op, BnRoute::Graph), 1u);
    EXPECT_EQ(counts.refusals(op), 0u);
  }
}

TEST(CudnnBnRoute, RefusedFusedGraphRunsThePlainGraphAndOurRelu) {
  for (BnOp op : {BnOp::TrainRelu, BnOp::InferenceRelu}) {
    FakeCudnn cudnn;
    cudnn.refused = {op};
    BnRouteCounts counts;
    EXPECT_EQ(take_bn_route(op, "", cudnn.try_graph(), counts), BnRoute::GraphRelu);
    EXPECT_EQ(cudnn.tried, (std::vector<BnOp>{op, plain_of(op)}));
    EXPECT_EQ(counts.refusals(op), 1u);
    EXPECT_EQ(counts.refusals(plain_of(op)), 0u);
    EXPECT_EQ(counts.routed(op, BnRoute::GraphRelu), 1u);
    EXPECT_NE(counts.fused_reason[size_t(op)].find("No valid engine configs"), std::string::npos);
  }
}

TEST(CudnnBnRoute, BothGraphsRefusedGoesToOurKernelsWithThePlainGraphsReason) {
  FakeCudnn cudnn;
  cudnn.refused = {BnOp::TrainRelu, BnOp::Train};
  BnRouteCounts counts;
  EXPECT_EQ(take_bn_route(BnOp::TrainRelu, "", cudnn.try_graph(), counts), BnRoute::Cuda);
  EXPECT_EQ(cudnn.tried, (std::vector<BnOp>{BnOp::TrainRelu, BnOp::Train}));
  EXPECT_EQ(counts.refusals(BnOp::TrainRelu), 1u);
  EXPECT_EQ(counts.refusals(BnOp::Train), 1u);
  EXPECT_EQ(counts.cuda_reason[size_t(BnOp::TrainRelu)],
            "cudnn refused: support: No valid engine configs for Norm_Fwd_ (batchnorm_train)");
}

TEST(CudnnBnRoute, RefusedPlainGraphIsNotRetriedAndGoesToOurKernels) {
  for (BnOp op : {BnOp::Train, BnOp::Inference, BnOp::Backward}) {
    FakeCudnn cudnn;
    cudnn.refused = {op};
    BnRouteCounts counts;
    EXPECT_EQ(take_bn_route(op, "", cudnn.try_graph(), counts), BnRoute::Cuda);
    EXPECT_EQ(cudnn.tried, std::vector<BnOp>{op});
    EXPECT_EQ(counts.routed(op, BnRoute::Cuda), 1u);
  }
}

TEST(CudnnBnRoute, PathNamesWhatRanBeforeAnyCallTheDefault) {
  BnRouteCounts counts;
  EXPECT_EQ(bn_path(counts, {BnOp::Train, BnOp::Inference}, "cudnn graph (batchnorm)"),
            "cudnn graph (batchnorm)");
  FakeCudnn cudnn;
  take_bn_route(BnOp::Train, "", cudnn.try_graph(), counts);
  take_bn_route(BnOp::TrainRelu, "", cudnn.try_graph(), counts);
  EXPECT_EQ(bn_path(counts, {BnOp::Train, BnOp::Inference, BnOp::Backward}, "?"),
            "cudnn graph (batchnorm)");
  EXPECT_EQ(bn_path(counts, {BnOp::TrainRelu, BnOp::InferenceRelu}, "?"),
            "cudnn fused graph (batchnorm+relu)");
}

TEST(CudnnBnRoute, PathSaysFallbackWithTheReasonAndTheCount) {
  FakeCudnn cudnn;
  cudnn.refused = {BnOp::Inference};
  BnRouteCounts counts;
  take_bn_route(BnOp::Train, "", cudnn.try_graph(), counts);
  for (int i = 0; i < 3; ++i) take_bn_route(BnOp::Inference, "", cudnn.try_graph(), counts);
  EXPECT_EQ(bn_path(counts, {BnOp::Train, BnOp::Inference, BnOp::Backward}, "?"),
            "cudnn graph (batchnorm); fallback: cuda (cudnn refused: support: No valid engine "
            "configs for Norm_Fwd_ (batchnorm_inference); 3 calls)");
  BnRouteCounts det;
  take_bn_route(BnOp::Backward, "deterministic mode: why", cudnn.try_graph(), det);
  EXPECT_EQ(bn_path(det, {BnOp::Train, BnOp::Inference, BnOp::Backward}, "?"),
            "fallback: cuda (deterministic mode: why; 1 call)");
}

TEST(CudnnBnRoute, PathNamesTheReluKernelWhenTheFusedGraphWasRefused) {
  FakeCudnn cudnn;
  cudnn.message = "support: fused";
  cudnn.refused = {BnOp::TrainRelu};
  BnRouteCounts counts;
  take_bn_route(BnOp::TrainRelu, "", cudnn.try_graph(), counts);
  take_bn_route(BnOp::TrainRelu, "", cudnn.try_graph(), counts);
  EXPECT_EQ(bn_path(counts, {BnOp::TrainRelu, BnOp::InferenceRelu}, "?"),
            "cudnn graph (batchnorm) + relu kernel (fused graph refused 2 times: support: fused "
            "(batchnorm_train_relu))");
}

TEST(CudnnBnRoute, LongMultiLineReasonsAreShortened) {
  EXPECT_EQ(short_reason("first line\n{\"engineId\":0}"), "first line");
  EXPECT_EQ(short_reason(""), "no reason given");
  const std::string shortened = short_reason(std::string(500, 'x'));
  EXPECT_EQ(shortened.size(), 160u);
  EXPECT_EQ(shortened.substr(157), "...");
}

TEST(CudnnBnRoute, KeySeparatesEveryGraphChangingField) {
  BnKey base;
  base.op = BnOp::Train;
  base.n = 8;
  base.c = 16;
  base.h = 4;
  base.w = 4;
  base.running_stats = true;
  base.eps_bits = float_bits(1e-5f);
  base.momentum_bits = float_bits(0.1f);
  std::vector<BnKey> keys{base};
  auto vary = [&](auto change) {
    BnKey k = base;
    change(k);
    keys.push_back(k);
  };
  vary([](BnKey& k) { k.op = BnOp::TrainRelu; });
  vary([](BnKey& k) { k.n = 9; });
  vary([](BnKey& k) { k.c = 17; });
  vary([](BnKey& k) { k.h = 5; });
  vary([](BnKey& k) { k.w = 5; });
  vary([](BnKey& k) { k.running_stats = false; });
  vary([](BnKey& k) { k.eps_bits = float_bits(1e-3f); });
  vary([](BnKey& k) { k.momentum_bits = float_bits(0.2f); });
  vary([](BnKey& k) { k.math = MathMode::TF32; });
  vary([](BnKey& k) { k.device = 1; });
  vary([](BnKey& k) { k.align_data = 4; });
  vary([](BnKey& k) { k.align_channel = 8; });
  std::unordered_set<size_t> hashes;
  for (size_t i = 0; i < keys.size(); ++i) {
    hashes.insert(BnKeyHash{}(keys[i]));
    for (size_t j = 0; j < keys.size(); ++j) EXPECT_EQ(keys[i] == keys[j], i == j) << i << " " << j;
  }
  EXPECT_EQ(hashes.size(), keys.size());
  BnKey same = base;
  EXPECT_TRUE(same == base);
  EXPECT_EQ(BnKeyHash{}(same), BnKeyHash{}(base));
}

TEST(CudnnBnRoute, DescribeNamesTheProblem) {
  BnKey k;
  k.op = BnOp::TrainRelu;
  k.n = 32;
  k.c = 64;
  k.h = 14;
  k.w = 14;
  k.running_stats = true;
  k.eps_bits = float_bits(1e-5f);
  k.momentum_bits = float_bits(0.1f);
  EXPECT_EQ(describe(k),
            "batchnorm_train_relu n32 c64 14x14 running eps 1e-05 momentum 0.1 fp32 align x16 c16");
  k.op = BnOp::Backward;
  EXPECT_EQ(describe(k), "batchnorm_backward n32 c64 14x14 fp32 align x16 c16");
}

}  // namespace
}  // namespace convnet::cudnn
