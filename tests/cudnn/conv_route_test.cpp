// The cuDNN backend's conv route (src/cudnn/conv_route.hpp), on the host: a fake
// try_graph refuses chosen graphs, and the route, the graphs tried and the
// counts must follow the rule (requested graph, else plain graph + epilogue for
// a fused op, else our kernels).
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "cudnn/conv_route.hpp"

namespace convnet::cudnn {
namespace {

// A try_graph that refuses the ops in `refused` and records every op it was asked for.
struct FakeCudnn {
  std::set<ConvOp> refused;
  std::vector<ConvOp> tried;
  std::function<bool(ConvOp)> try_graph() {
    return [this](ConvOp op) {
      tried.push_back(op);
      return refused.count(op) == 0;
    };
  }
};

const ConvOp kFused[] = {ConvOp::ForwardBias, ConvOp::ForwardRelu, ConvOp::ForwardBiasRelu};

TEST(CudnnConvRoute, EveryGraphAcceptedRunsTheRequestedGraphOnly) {
  for (ConvOp op : {ConvOp::Forward, ConvOp::ForwardBias, ConvOp::ForwardRelu,
                    ConvOp::ForwardBiasRelu, ConvOp::BackwardData, ConvOp::BackwardFilter}) {
    FakeCudnn cudnn;
    ConvRouteCounts counts;
    EXPECT_EQ(take_conv_route(op, cudnn.try_graph(), counts), ConvRoute::Graph);
    EXPECT_EQ(cudnn.tried, std::vector<ConvOp>{op});
    EXPECT_EQ(counts.routed(op, ConvRoute::Graph), 1u);
    EXPECT_EQ(counts.refusals(op), 0u);
  }
}

TEST(CudnnConvRoute, RefusedFusedGraphRunsThePlainGraphAndTheEpilogue) {
  for (ConvOp op : kFused) {
    FakeCudnn cudnn;
    cudnn.refused = {op};
    ConvRouteCounts counts;
    EXPECT_EQ(take_conv_route(op, cudnn.try_graph(), counts), ConvRoute::GraphEpilogue);
    EXPECT_EQ(cudnn.tried, (std::vector<ConvOp>{op, ConvOp::Forward}));
    EXPECT_EQ(counts.refusals(op), 1u);
    EXPECT_EQ(counts.refusals(ConvOp::Forward), 0u);
    EXPECT_EQ(counts.routed(op, ConvRoute::GraphEpilogue), 1u);
    EXPECT_EQ(counts.routed(op, ConvRoute::Cuda), 0u);
  }
}

TEST(CudnnConvRoute, OnlyWhenThePlainGraphIsRefusedTooDoesTheConvGoToOurKernels) {
  FakeCudnn cudnn;
  cudnn.refused = {ConvOp::ForwardBiasRelu, ConvOp::Forward};
  ConvRouteCounts counts;
  EXPECT_EQ(take_conv_route(ConvOp::ForwardBiasRelu, cudnn.try_graph(), counts), ConvRoute::Cuda);
  EXPECT_EQ(counts.refusals(ConvOp::ForwardBiasRelu), 1u);
  EXPECT_EQ(counts.refusals(ConvOp::Forward), 1u);
  EXPECT_EQ(counts.routed(ConvOp::ForwardBiasRelu, ConvRoute::Cuda), 1u);
}

TEST(CudnnConvRoute, UnfusedOpsHaveNoEpilogueStep) {
  for (ConvOp op : {ConvOp::Forward, ConvOp::BackwardData, ConvOp::BackwardFilter}) {
    FakeCudnn cudnn;
    cudnn.refused = {op};
    ConvRouteCounts counts;
    EXPECT_EQ(take_conv_route(op, cudnn.try_graph(), counts), ConvRoute::Cuda);
    EXPECT_EQ(cudnn.tried, std::vector<ConvOp>{op}) << "only the requested graph is tried";
    EXPECT_EQ(counts.refusals(op), 1u);
  }
}

TEST(CudnnConvRoute, CountsAccumulatePerOpAndRoute) {
  FakeCudnn cudnn;
  cudnn.refused = {ConvOp::ForwardBias};
  ConvRouteCounts counts;
  for (int i = 0; i < 3; ++i) take_conv_route(ConvOp::ForwardBias, cudnn.try_graph(), counts);
  for (int i = 0; i < 2; ++i) take_conv_route(ConvOp::ForwardBiasRelu, cudnn.try_graph(), counts);
  cudnn.refused.insert(ConvOp::Forward);
  take_conv_route(ConvOp::ForwardBias, cudnn.try_graph(), counts);
  EXPECT_EQ(counts.refusals(ConvOp::ForwardBias), 4u);
  EXPECT_EQ(counts.refusals(ConvOp::Forward), 1u);
  EXPECT_EQ(counts.routed(ConvOp::ForwardBias, ConvRoute::GraphEpilogue), 3u);
  EXPECT_EQ(counts.routed(ConvOp::ForwardBias, ConvRoute::Cuda), 1u);
  EXPECT_EQ(counts.routed(ConvOp::ForwardBiasRelu, ConvRoute::Graph), 2u);
  EXPECT_EQ(counts.routed(ConvOp::Forward, ConvRoute::Graph), 0u) << "a fallback is not a request";
}

TEST(CudnnConvRoute, PathSaysWhatRan) {
  const std::initializer_list<ConvOp> fused = {ConvOp::ForwardRelu, ConvOp::ForwardBiasRelu};
  ConvRouteCounts counts;
  EXPECT_EQ(conv_path(counts, fused, "implicit gemm", "before"), "before");

  FakeCudnn cudnn;
  take_conv_route(ConvOp::ForwardBiasRelu, cudnn.try_graph(), counts);
  EXPECT_EQ(conv_path(counts, fused, "implicit gemm", "before"), "cudnn fused graph (conv+bias+relu)");

  counts = {};
  cudnn.refused = {ConvOp::ForwardBiasRelu};
  for (int i = 0; i < 3; ++i) take_conv_route(ConvOp::ForwardBiasRelu, cudnn.try_graph(), counts);
  EXPECT_EQ(conv_path(counts, fused, "implicit gemm", "before"),
            "cudnn graph + bias/relu kernel (fused graph refused 3 times)");

  cudnn.refused = {ConvOp::ForwardRelu, ConvOp::Forward};
  take_conv_route(ConvOp::ForwardRelu, cudnn.try_graph(), counts);
  EXPECT_EQ(conv_path(counts, fused, "implicit gemm", "before"),
            "cudnn graph + bias/relu kernel (fused graph refused 3 times); "
            "cuda implicit gemm (cudnn refused 1 time)");
  // The plain conv's column counts only its own ops.
  EXPECT_EQ(conv_path(counts, {ConvOp::Forward, ConvOp::ForwardBias}, "implicit gemm", "cudnn graph"),
            "cudnn graph");
}

}  // namespace
}  // namespace convnet::cudnn
