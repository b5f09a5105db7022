// The cuDNN backend's batch norm on a GPU (skips without one): every route it
// takes (cuDNN graph, graph + our ReLU, our kernels) against the CudaBackend's
// kernels, which never touch cuDNN: forward train (affine or not, with and
// without running stats, fused ReLU), inference, backward (overwrite and
// accumulate), [N,C,H,W] and [N,C]. Prints the route each case took and the
// path strings; deterministic mode must leave cuDNN out. Route counters come
// from src/cudnn/batch_norm_probe.hpp (null in a build without the cuDNN backend).
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "convnet/convnet.hpp"
#include "cudnn/batch_norm_probe.hpp"
#include "support/values.hpp"

namespace convnet {
namespace {

#define SKIP_WITHOUT_CUDNN_BN_PROBE()                                          \
  do {                                                                         \
    if (!backend_available(Backend::Kind::Cudnn))                             \
      GTEST_SKIP() << backend_unavailable_reason(Backend::Kind::Cudnn);       \
    if (!&cudnn::probe_bn_routes || !&cudnn::probe_bn_stats)                   \
      GTEST_SKIP() << "this build has no cuDNN backend to probe";              \
  } while (0)

using test::relative_error;

// Two float32 reductions in different orders: the statistics differ in the
// last bits, the normalised values a little more where a channel's variance is small.
constexpr double kBound = 1e-5;

const char* route_text(cudnn::BnRoute r) {
  switch (r) {
    case cudnn::BnRoute::Graph: return "cudnn graph";
    case cudnn::BnRoute::GraphRelu: return "cudnn graph + our relu";
    case cudnn::BnRoute::Cuda: return "our kernels";
  }
  return "?";
}

// The route `op` took between two snapshots; fails unless exactly one call was routed.
cudnn::BnRoute route_taken(const cudnn::BnRouteCounts& before, const cudnn::BnRouteCounts& after,
                           cudnn::BnOp op) {
  cudnn::BnRoute taken = cudnn::BnRoute::Cuda;
  size_t calls = 0;
  for (cudnn::BnRoute r : {cudnn::BnRoute::Graph, cudnn::BnRoute::GraphRelu, cudnn::BnRoute::Cuda}) {
    const size_t n = after.routed(op, r) - before.routed(op, r);
    calls += n;
    if (n) taken = r;
  }
  EXPECT_EQ(calls, 1u);
  return taken;
}

struct Case {
  std::vector<int64_t> shape;
  bool affine, running, relu;
};

std::string name(const Case& c) {
  std::string s = "[";
  for (size_t i = 0; i < c.shape.size(); ++i) s += (i ? "," : "") + std::to_string(c.shape[i]);
  return s + "]" + (c.affine ? " affine" : " no-affine") + (c.running ? " running" : "") +
         (c.relu ? " relu" : "");
}

TEST(CudnnBatchNorm, EveryRouteMatchesOurKernels) {
  SKIP_WITHOUT_CUDNN_BN_PROBE();
  Backend& dnn = get_backend(Backend::Kind::Cudnn);
  Backend& ours = get_backend(Backend::Kind::Cuda);
  const bool was_deterministic = deterministic();
  set_deterministic(false);
  std::vector<Case> cases;
  for (const std::vector<int64_t>& shape :
       std::vector<std::vector<int64_t>>{{8, 16, 5, 5}, {4, 3, 7, 9}, {32, 8}, {2, 64, 14, 14}})
    for (bool affine : {true, false})
      for (bool running : {true, false})
        for (bool relu : {false, true}) cases.push_back({shape, affine, running, relu});
  const Device gpu = Device::cuda();
  uint64_t seed = 100;
  for (const Case& c : cases) {
    SCOPED_TRACE(name(c));
    const Shape shape(c.shape);
    const int64_t channels = c.shape[1];
    const Tensor x = Tensor::randn(shape, gpu, ++seed, 0.5f, 2.f);
    const Tensor w = Tensor::randn({channels}, gpu, ++seed, 1.f, 0.3f);
    const Tensor b = Tensor::randn({channels}, gpu, ++seed);
    const Tensor dy = Tensor::randn(shape, gpu, ++seed);
    const Tensor* wp = c.affine ? &w : nullptr;
    const Tensor* bp = c.affine ? &b : nullptr;
    // The same running stats twice (same seeds): each backend updates its own.
    Tensor rm_dnn = Tensor::randn({channels}, gpu, 7), rv_dnn = Tensor::randn({channels}, gpu, 8, 2.f, 0.1f);
    Tensor rm_ours = Tensor::randn({channels}, gpu, 7), rv_ours = Tensor::randn({channels}, gpu, 8, 2.f, 0.1f);

    // ---- training forward
    const cudnn::BnOp train_op = c.relu ? cudnn::BnOp::TrainRelu : cudnn::BnOp::Train;
    const cudnn::BnRouteCounts before = cudnn::probe_bn_routes();
    ops::BatchNormSaved saved_dnn, saved_ours;
    const Tensor y_dnn = ops::batch_norm_forward_train(dnn, x, wp, bp, c.running ? &rm_dnn : nullptr,
                                                       c.running ? &rv_dnn : nullptr, 0.1f, 1e-5f,
                                                       c.relu, saved_dnn);
    const cudnn::BnRoute train_route = route_taken(before, cudnn::probe_bn_routes(), train_op);
    const Tensor y_ours = ops::batch_norm_forward_train(ours, x, wp, bp, c.running ? &rm_ours : nullptr,
                                                        c.running ? &rv_ours : nullptr, 0.1f, 1e-5f,
                                                        c.relu, saved_ours);
    EXPECT_LT(relative_error(y_dnn, y_ours), kBound);
    EXPECT_LT(relative_error(saved_dnn.mean, saved_ours.mean), kBound);
    EXPECT_LT(relative_error(saved_dnn.invstd, saved_ours.invstd), kBound);
    if (c.running) {  // the unbiased variance, as PyTorch
      EXPECT_LT(relative_error(rm_dnn, rm_ours), kBound);
      EXPECT_LT(relative_error(rv_dnn, rv_ours), kBound);
    }

    // ---- inference, from the saved batch mean and a made-up variance
    const cudnn::BnOp infer_op = c.relu ? cudnn::BnOp::InferenceRelu : cudnn::BnOp::Inference;
    const Tensor var = Tensor::randn({channels}, gpu, ++seed, 1.5f, 0.2f);
    const cudnn::BnRouteCounts before_infer = cudnn::probe_bn_routes();
    const Tensor yi_dnn =
        ops::batch_norm_forward_inference(dnn, x, wp, bp, saved_ours.mean, var, 1e-3f, c.relu);
    const cudnn::BnRoute infer_route = route_taken(before_infer, cudnn::probe_bn_routes(), infer_op);
    const Tensor yi_ours =
        ops::batch_norm_forward_inference(ours, x, wp, bp, saved_ours.mean, var, 1e-3f, c.relu);
    EXPECT_LT(relative_error(yi_dnn, yi_ours), kBound);

    // ---- backward, from our saved statistics; accumulate onto a known gradient
    for (bool accumulate : {false, true}) {
      SCOPED_TRACE(accumulate ? "accumulate" : "overwrite");
      Tensor gw_dnn = Tensor::randn({channels}, gpu, 21), gb_dnn = Tensor::randn({channels}, gpu, 22);
      Tensor gw_ours = Tensor::randn({channels}, gpu, 21), gb_ours = Tensor::randn({channels}, gpu, 22);
      const cudnn::BnRouteCounts before_bwd = cudnn::probe_bn_routes();
      const Tensor dx_dnn = ops::batch_norm_backward(dnn, x, dy, wp, saved_ours,
                                                     c.affine ? &gw_dnn : nullptr,
                                                     c.affine ? &gb_dnn : nullptr, accumulate);
      const cudnn::BnRoute bwd_route =
          route_taken(before_bwd, cudnn::probe_bn_routes(), cudnn::BnOp::Backward);
      const Tensor dx_ours = ops::batch_norm_backward(ours, x, dy, wp, saved_ours,
                                                      c.affine ? &gw_ours : nullptr,
                                                      c.affine ? &gb_ours : nullptr, accumulate);
      EXPECT_LT(relative_error(dx_dnn, dx_ours), kBound);
      if (c.affine) {
        EXPECT_LT(relative_error(gw_dnn, gw_ours), kBound);
        EXPECT_LT(relative_error(gb_dnn, gb_ours), kBound);
      }
      if (!accumulate)
        std::printf("[ route    ] %s: train %s, inference %s, backward %s\n", name(c).c_str(),
                    route_text(train_route), route_text(infer_route), route_text(bwd_route));
    }
  }
  for (const std::string& plan : cudnn::probe_bn_stats().plans)
    std::printf("[ engine   ] %s\n", plan.c_str());
  const std::string refused = cudnn::probe_bn_stats().last_unsupported;
  if (!refused.empty()) std::printf("[ refused  ] %s\n", refused.c_str());
  std::printf("[ path     ] batchnorm: %s\n[ path     ] batchnorm_relu: %s\n",
              dnn.path(Backend::Op::BatchNorm).c_str(), dnn.path(Backend::Op::BatchNormReLU).c_str());
  set_deterministic(was_deterministic);
}

// Deterministic mode: cuDNN does not promise bit-identical batch-norm statistics,
// so every call goes to our kernels, and the path says why.
TEST(CudnnBatchNorm, DeterministicModeRunsOurKernelsAndSaysSo) {
  SKIP_WITHOUT_CUDNN_BN_PROBE();
  Backend& dnn = get_backend(Backend::Kind::Cudnn);
  const bool was = deterministic();
  set_deterministic(true);
  const Tensor x = Tensor::randn({4, 6, 3, 3}, Device::cuda(), 5);
  const cudnn::BnRouteCounts before = cudnn::probe_bn_routes();
  ops::BatchNormSaved saved;
  const Tensor y1 = ops::batch_norm_forward_train(dnn, x, nullptr, nullptr, nullptr, nullptr, 0.1f,
                                                  1e-5f, false, saved);
  EXPECT_EQ(route_taken(before, cudnn::probe_bn_routes(), cudnn::BnOp::Train), cudnn::BnRoute::Cuda);
  ops::BatchNormSaved saved2;
  const Tensor y2 = ops::batch_norm_forward_train(dnn, x, nullptr, nullptr, nullptr, nullptr, 0.1f,
                                                  1e-5f, false, saved2);
  EXPECT_EQ(y1.to(Device::cpu()).to_vector<float>(), y2.to(Device::cpu()).to_vector<float>());
  EXPECT_NE(dnn.path(Backend::Op::BatchNorm).find("deterministic mode"), std::string::npos)
      << dnn.path(Backend::Op::BatchNorm);
  set_deterministic(was);
}

TEST(CudnnBatchNorm, AdaptivePoolingPathSaysCudnnHasNone) {
  SKIP_WITHOUT_CUDNN_BN_PROBE();
  EXPECT_EQ(get_backend(Backend::Kind::Cudnn).path(Backend::Op::AdaptiveAvgPool2d),
            "fallback: cuda (cudnn has no adaptive pooling)");
}

}  // namespace
}  // namespace convnet
