// The cuDNN backend on a GPU (skips without one): which engine the MNIST CNN's
// convolutions run on, plans evicted from a tiny cache while their work is still
// queued, and cuBLASLt on loosely aligned slices. The route counters come from
// src/cudnn/cudnn_probe.hpp (null in a build without the cuDNN backend).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "convnet/convnet.hpp"
#include "support/values.hpp"
#include "cudnn/cudnn_probe.hpp"
#include "support/grid_cap.hpp"

namespace convnet {
namespace {

#define SKIP_WITHOUT_CUDNN_PROBE()                                                          \
  do {                                                                                      \
    if (!backend_available(Backend::Kind::Cudnn))                                          \
      GTEST_SKIP() << backend_unavailable_reason(Backend::Kind::Cudnn);                    \
    if (!&cudnn::probe_conv_routes || !&cudnn::probe_conv_stats ||                          \
        !&cudnn::probe_set_plan_capacity || !&cudnn::probe_refuse_fused_graphs)              \
      GTEST_SKIP() << "this build has no cuDNN backend to probe";                           \
  } while (0)

using test::relative_error;

double bound() { return math_mode() == MathMode::TF32 ? 5e-3 : 1e-5; }

const char* route_text(cudnn::ConvRoute r) {
  switch (r) {
    case cudnn::ConvRoute::Graph: return "cudnn fused graph";
    case cudnn::ConvRoute::GraphEpilogue: return "cudnn plain graph + bias/relu kernel";
    case cudnn::ConvRoute::Cuda: return "our kernels (cudnn refused)";
  }
  return "?";
}

// The route `op` took between two snapshots; fails unless exactly one call was routed.
cudnn::ConvRoute route_taken(const cudnn::ConvRouteCounts& before,
                             const cudnn::ConvRouteCounts& after, cudnn::ConvOp op) {
  cudnn::ConvRoute taken = cudnn::ConvRoute::Cuda;
  size_t calls = 0;
  for (cudnn::ConvRoute r : {cudnn::ConvRoute::Graph, cudnn::ConvRoute::GraphEpilogue,
                             cudnn::ConvRoute::Cuda}) {
    const size_t n = after.routed(op, r) - before.routed(op, r);
    calls += n;
    if (n) taken = r;
  }
  EXPECT_EQ(calls, 1u);
  return taken;
}

TEST(CudnnBackend, MnistConvsRunOnCudnnEnginesNotOurKernels) {
  SKIP_WITHOUT_CUDNN_PROBE();
  Backend& be = get_backend(Backend::Kind::Cudnn);
  Backend& cpu = get_backend(Backend::Kind::Cpu);
  struct Layer { int64_t c, hw, k; };
  const MathMode was = math_mode();
  for (MathMode math : {MathMode::FP32, MathMode::TF32}) {
    set_math_mode(math);
    for (const Layer& l : {Layer{1, 28, 32}, Layer{32, 14, 64}}) {
      const Tensor x = Tensor::randn({128, l.c, l.hw, l.hw}, Device::cpu(), 11);
      const Tensor w = Tensor::randn({l.k, l.c, 5, 5}, Device::cpu(), 12, 0.f, 0.1f);
      const Tensor b = Tensor::randn({l.k}, Device::cpu(), 13);
      const Tensor xg = x.to(Device::cuda()), wg = w.to(Device::cuda()), bg = b.to(Device::cuda());
      Conv2dParams p;
      p.pad_h = p.pad_w = 2;
      for (bool relu : {false, true}) {
        const cudnn::ConvOp op = relu ? cudnn::ConvOp::ForwardBiasRelu : cudnn::ConvOp::ForwardBias;
        const std::string what = std::string(math_mode_name(math)) + " conv " +
                                 std::to_string(l.c) + "->" + std::to_string(l.k) + " 5x5 pad 2 at " +
                                 std::to_string(l.hw) + "x" + std::to_string(l.hw) +
                                 (relu ? " bias+relu" : " bias");
        SCOPED_TRACE(what);
        const cudnn::ConvRouteCounts before = cudnn::probe_conv_routes();
        const Tensor y = relu ? ops::conv2d_bias_relu_forward(be, xg, wg, &bg, p)
                              : ops::conv2d_forward(be, xg, wg, &bg, p);
        const cudnn::ConvRoute route = route_taken(before, cudnn::probe_conv_routes(), op);
        std::printf("[ route    ] %s: %s\n", what.c_str(), route_text(route));
        EXPECT_NE(route, cudnn::ConvRoute::Cuda) << "ran on our kernels, not on a cuDNN engine";
        const Tensor ref = relu ? ops::conv2d_bias_relu_forward(cpu, x, w, &b, p)
                                : ops::conv2d_forward(cpu, x, w, &b, p);
        EXPECT_LT(relative_error(y, ref), bound());
      }
    }
  }
  set_math_mode(was);
  for (const std::string& plan : cudnn::probe_conv_stats().plans)
    std::printf("[ engine   ] %s\n", plan.c_str());
  std::printf("[ path     ] conv2d: %s\n[ path     ] conv2d_bias_relu: %s\n",
              be.path(Backend::Op::Conv2d).c_str(), be.path(Backend::Op::Conv2dBiasReLU).c_str());
}

// The epilogue route on purpose (this GPU's cuDNN may accept the fused graphs):
// the plain graph, then our bias/ReLU kernel with a grid of 3 blocks so its
// grid-stride loop wraps, against the CPU.
TEST(CudnnBackend, EpilogueRouteMatchesTheCpu) {
  SKIP_WITHOUT_CUDNN_PROBE();
  Backend& be = get_backend(Backend::Kind::Cudnn);
  Backend& cpu = get_backend(Backend::Kind::Cpu);
  const bool was = cudnn::probe_refuse_fused_graphs(true);
  testing_support::GridCap cap(3);
  struct Shape { int64_t n, c, hw, k, ks; int pad, stride; };
  for (const Shape& s : {Shape{2, 3, 7, 4, 3, 1, 1}, Shape{3, 32, 14, 64, 5, 2, 1},
                         Shape{1, 5, 11, 3, 1, 0, 2}}) {
    const Tensor x = Tensor::randn({s.n, s.c, s.hw, s.hw}, Device::cpu(), 31);
    const Tensor w = Tensor::randn({s.k, s.c, s.ks, s.ks}, Device::cpu(), 32, 0.f, 0.2f);
    const Tensor b = Tensor::randn({s.k}, Device::cpu(), 33);
    const Tensor xg = x.to(Device::cuda()), wg = w.to(Device::cuda()), bg = b.to(Device::cuda());
    Conv2dParams p;
    p.pad_h = p.pad_w = s.pad;
    p.stride_h = p.stride_w = s.stride;
    for (cudnn::ConvOp op : {cudnn::ConvOp::ForwardBias, cudnn::ConvOp::ForwardRelu,
                             cudnn::ConvOp::ForwardBiasRelu}) {
      SCOPED_TRACE("c" + std::to_string(s.c) + " k" + std::to_string(s.k) + " op " +
                   std::to_string(int(op)));
      const bool relu = cudnn::has_relu(op), bias = cudnn::has_bias(op);
      const cudnn::ConvRouteCounts before = cudnn::probe_conv_routes();
      const Tensor y = relu ? ops::conv2d_bias_relu_forward(be, xg, wg, bias ? &bg : nullptr, p)
                            : ops::conv2d_forward(be, xg, wg, &bg, p);
      EXPECT_EQ(route_taken(before, cudnn::probe_conv_routes(), op), cudnn::ConvRoute::GraphEpilogue);
      const Tensor ref = relu ? ops::conv2d_bias_relu_forward(cpu, x, w, bias ? &b : nullptr, p)
                              : ops::conv2d_forward(cpu, x, w, &b, p);
      EXPECT_LT(relative_error(y, ref), bound());
    }
  }
  cudnn::probe_refuse_fused_graphs(was);
}

// Plans evicted while their work is queued must outlive it: a cache of two
// plans, a dozen shapes back to back with no synchronisation, then every
// result against the CPU.
TEST(CudnnBackend, TinyPlanCacheEvictsSafelyUnderQueuedWork) {
  SKIP_WITHOUT_CUDNN_PROBE();
  Backend& be = get_backend(Backend::Kind::Cudnn);
  Backend& cpu = get_backend(Backend::Kind::Cpu);
  const size_t previous = cudnn::probe_set_plan_capacity(2);
  const size_t evictions_before = cudnn::probe_conv_stats().evictions;
  struct Run { Tensor x, w, b, y, dx, dy; Conv2dParams p; };
  std::vector<Run> runs;
  for (int i = 0; i < 12; ++i) {
    Run r;
    const int64_t c = 1 + i % 5, k = 4 + 3 * i, hw = 9 + i, ks = i % 2 ? 3 : 5;
    r.p.pad_h = r.p.pad_w = static_cast<int>(ks / 2);
    r.p.stride_h = r.p.stride_w = 1 + i % 3 / 2;
    r.x = Tensor::randn({2 + i % 3, c, hw, hw}, Device::cpu(), 100 + i);
    r.w = Tensor::randn({k, c, ks, ks}, Device::cpu(), 200 + i, 0.f, 0.2f);
    r.b = Tensor::randn({k}, Device::cpu(), 300 + i);
    const Tensor bg = r.b.to(Device::cuda()), wg = r.w.to(Device::cuda());
    r.y = ops::conv2d_bias_relu_forward(be, r.x.to(Device::cuda()), wg, &bg, r.p);
    r.dy = Tensor::randn(r.y.shape(), Device::cpu(), 400 + i);
    r.dx = ops::conv2d_backward_data(be, r.dy.to(Device::cuda()), wg, r.x.shape(), r.p);
    runs.push_back(std::move(r));
  }
  const cudnn::ConvGraphStats stats = cudnn::probe_conv_stats();
  std::printf("[ evict    ] %zu evictions, %zu plans still fenced after the loop\n",
              stats.evictions - evictions_before, stats.retiring);
  EXPECT_GT(stats.evictions - evictions_before, 10u);
  for (size_t i = 0; i < runs.size(); ++i) {
    const Run& r = runs[i];
    EXPECT_LT(relative_error(r.y, ops::conv2d_bias_relu_forward(cpu, r.x, r.w, &r.b, r.p)), bound())
        << "shape " << i;
    EXPECT_LT(relative_error(r.dx, ops::conv2d_backward_data(cpu, r.dy, r.w, r.x.shape(), r.p)),
              bound())
        << "shape " << i;
  }
  cudnn::probe_set_plan_capacity(previous);
}

// cuBLASLt on slices whose pointers are only 4-byte aligned: the heuristic is
// told, or the cuBLAS path runs; either way the answer is right.
TEST(CudnnBackend, LinearOnLooselyAlignedSlicesMatchesTheCpu) {
  if (!backend_available(Backend::Kind::Cudnn))
    GTEST_SKIP() << backend_unavailable_reason(Backend::Kind::Cudnn);
  Backend& be = get_backend(Backend::Kind::Cudnn);
  Backend& cpu = get_backend(Backend::Kind::Cpu);
  const Tensor x = Tensor::randn({33, 7}, Device::cpu(), 21);
  const Tensor w = Tensor::randn({6, 7}, Device::cpu(), 22, 0.f, 0.3f);
  const Tensor b = Tensor::randn({7}, Device::cpu(), 23);
  const Tensor xs = x.slice(1, 33), bs = b.slice(1, 7);  // 28 and 4 bytes past aligned starts
  const Tensor xg = x.to(Device::cuda()).slice(1, 33), bg = b.to(Device::cuda()).slice(1, 7);
  const Tensor wg = w.to(Device::cuda());
  EXPECT_LT(relative_error(ops::linear_forward(be, xg, wg, &bg), ops::linear_forward(cpu, xs, w, &bs)),
            bound());
  EXPECT_LT(relative_error(ops::linear_bias_relu_forward(be, xg, wg, nullptr),
                           ops::linear_bias_relu_forward(cpu, xs, w, nullptr)),
            bound());
  std::printf("[ path     ] linear: %s\n", be.path(Backend::Op::Linear).c_str());
}

}  // namespace
}  // namespace convnet
