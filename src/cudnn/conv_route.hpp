// Which engine a convolution ran on, decided in one place with no cuDNN types,
// so the host tests check the rule and the counts in every build.
//
// The rule: the requested graph first (a fused ForwardBias/ForwardRelu/
// ForwardBiasRelu graph, or a plain one). A fused graph needs cuDNN's runtime
// fusion engines, which want tensor cores (deselected under MathMode::FP32), so
// it is often refused; then the plain Forward graph runs and one epilogue kernel
// of ours adds the bias and applies ReLU in place. Only when the plain graph is
// refused too does the convolution go to our kernels (the CudaBackend).
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <string>

#include "cudnn/plan_cache.hpp"

namespace convnet::cudnn {

enum class ConvRoute : uint8_t {
  Graph,          // the requested graph ran (fused when the op is)
  GraphEpilogue,  // the plain Forward graph, then our bias/ReLU kernel
  Cuda,           // our kernels: cuDNN refused every graph
};
constexpr size_t kConvOps = 6, kConvRoutes = 3;

inline bool is_fused(ConvOp op) {
  return op == ConvOp::ForwardBias || op == ConvOp::ForwardRelu || op == ConvOp::ForwardBiasRelu;
}
inline bool has_bias(ConvOp op) { return op == ConvOp::ForwardBias || op == ConvOp::ForwardBiasRelu; }
inline bool has_relu(ConvOp op) { return op == ConvOp::ForwardRelu || op == ConvOp::ForwardBiasRelu; }

// Counted per call (a refusal cached for a shape still counts each time it routes a call).
struct ConvRouteCounts {
  std::array<size_t, kConvOps> refused{};  // try_graph(op) answered no
  std::array<std::array<size_t, kConvRoutes>, kConvOps> taken{};  // requests of op, by route

  size_t refusals(ConvOp op) const { return refused[size_t(op)]; }
  size_t routed(ConvOp op, ConvRoute r) const { return taken[size_t(op)][size_t(r)]; }
};

// `try_graph(op)` runs op's graph and returns true, or returns false having run
// nothing. Returns the route taken; the caller then runs the epilogue or our kernels.
inline ConvRoute take_conv_route(ConvOp op, const std::function<bool(ConvOp)>& try_graph,
                                 ConvRouteCounts& counts) {
  ConvRoute route = ConvRoute::Cuda;
  if (try_graph(op)) {
    route = ConvRoute::Graph;
  } else {
    ++counts.refused[size_t(op)];
    if (is_fused(op)) {
      if (try_graph(ConvOp::Forward))
        route = ConvRoute::GraphEpilogue;
      else
        ++counts.refused[size_t(ConvOp::Forward)];
    }
  }
  ++counts.taken[size_t(op)][size_t(route)];
  return route;
}

// For the summary's path column: what ran for `ops` so far, e.g. "cudnn graph +
// bias/relu kernel (fused graph refused 3 times)" or "cuda implicit gemm (cudnn
// refused 1 time)"; routes that all ran are joined by "; ". `cuda_name` names our
// kernels' path; `before_any` is returned when none of `ops` has run yet.
inline std::string conv_path(const ConvRouteCounts& c, std::initializer_list<ConvOp> ops,
                             const std::string& cuda_name, const std::string& before_any) {
  auto times = [](size_t n) { return std::to_string(n) + (n == 1 ? " time" : " times"); };
  std::string path;
  auto part = [&path](const std::string& s) { path += (path.empty() ? "" : "; ") + s; };
  size_t plain = 0, epilogue = 0, cuda = 0;
  for (ConvOp op : ops) {
    const size_t graph = c.routed(op, ConvRoute::Graph);
    if (!is_fused(op)) plain += graph;
    else if (graph)
      part(std::string("cudnn fused graph (conv") + (has_bias(op) ? "+bias" : "") +
           (has_relu(op) ? "+relu" : "") + ")");
    epilogue += c.routed(op, ConvRoute::GraphEpilogue);
    cuda += c.routed(op, ConvRoute::Cuda);
  }
  if (plain) part("cudnn graph");
  if (epilogue) part("cudnn graph + bias/relu kernel (fused graph refused " + times(epilogue) + ")");
  if (cuda) part("cuda " + cuda_name + " (cudnn refused " + times(cuda) + ")");
  return path.empty() ? before_any : path;
}

}  // namespace convnet::cudnn
