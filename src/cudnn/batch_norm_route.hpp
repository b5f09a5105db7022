// Batch normalization on cuDNN: the plan key, the route rule, the counts and the
// path text, with no cuDNN or CUDA types, so the host tests check them in every
// build (batch_norm_graphs.cpp builds the graphs, cudnn_backend.cpp routes calls).
//
// The rule, per call:
//   1. Refused before any graph is tried (a precheck): deterministic mode (cuDNN
//      does not promise bit-identical batch-norm statistics; ours are), an input
//      that is neither [N,C,H,W] nor [N,C] (viewed as [N,C,1,1]), an empty one.
//      The call goes to our kernels (the CudaBackend) and the reason is kept.
//   2. The requested graph: batchnorm (training, running-stat update inside the
//      node), batchnorm_inference or batchnorm_backward; a BN + ReLU op asks for
//      the node followed by a RELU_FWD pointwise node in the same graph.
//   3. A refused fused graph: the plain BN graph, then our ReLU kernel in place.
//   4. Refused again (or a plain op refused): our kernels, with cuDNN's reason.
// Refusals are cached per key by the graph cache, so a refused shape costs one
// hash lookup per call after the first.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "convnet/settings.hpp"

namespace convnet::cudnn {

enum class BnOp : uint8_t {
  Train,          // batchnorm (batch statistics; running stats updated when given)
  TrainRelu,      // batchnorm -> relu, one graph
  Inference,      // batchnorm_inference (given mean and inverse std)
  InferenceRelu,  // batchnorm_inference -> relu, one graph
  Backward,       // batchnorm_backward (dx, dscale, dbias)
};
constexpr size_t kBnOps = 5;

inline bool is_fused(BnOp op) { return op == BnOp::TrainRelu || op == BnOp::InferenceRelu; }
// The same graph without the ReLU node.
inline BnOp plain_of(BnOp op) {
  switch (op) {
    case BnOp::TrainRelu: return BnOp::Train;
    case BnOp::InferenceRelu: return BnOp::Inference;
    default: return op;
  }
}
inline const char* bn_op_name(BnOp op) {
  switch (op) {
    case BnOp::Train: return "batchnorm_train";
    case BnOp::TrainRelu: return "batchnorm_train_relu";
    case BnOp::Inference: return "batchnorm_inference";
    case BnOp::InferenceRelu: return "batchnorm_inference_relu";
    case BnOp::Backward: return "batchnorm_backward";
  }
  return "?";
}

inline uint32_t float_bits(float v) {
  uint32_t bits = 0;
  std::memcpy(&bits, &v, sizeof bits);
  return bits;
}

// Everything that changes the graph or the plan. eps and momentum are baked into
// the graph as pass-by-value scalars, so they are part of the key (bit patterns:
// a model has one or two values). affine = false needs no key bit: the backend
// feeds a ones/zeros pair, the graph is the same.
struct BnKey {
  BnOp op = BnOp::Train;
  int64_t n = 0, c = 0, h = 1, w = 1;
  bool running_stats = false;  // Train*: the node also writes the next running mean/var
  uint32_t eps_bits = 0, momentum_bits = 0;  // momentum only matters with running_stats
  MathMode math = MathMode::FP32;
  int device = 0;
  // Byte alignment (plan_cache.hpp's alignment_of) of the [N,C,H,W] operands
  // (x, y, dy, dx) and of the [C] ones, the smallest of each group.
  int align_data = 16, align_channel = 16;

  bool operator==(const BnKey& o) const {
    return op == o.op && n == o.n && c == o.c && h == o.h && w == o.w &&
           running_stats == o.running_stats && eps_bits == o.eps_bits &&
           momentum_bits == o.momentum_bits && math == o.math && device == o.device &&
           align_data == o.align_data && align_channel == o.align_channel;
  }
};

struct BnKeyHash {
  size_t operator()(const BnKey& k) const {
    size_t h = 1469598103934665603ull;
    auto mix = [&h](int64_t v) { h = (h ^ static_cast<size_t>(v)) * 1099511628211ull; };
    for (int64_t v : {int64_t(k.op), k.n, k.c, k.h, k.w, int64_t(k.running_stats),
                      int64_t(k.eps_bits), int64_t(k.momentum_bits), int64_t(k.math),
                      int64_t(k.device), int64_t(k.align_data), int64_t(k.align_channel)})
      mix(v);
    return h;
  }
};

// "batchnorm_train_relu n32 c64 14x14 running eps 1e-05 momentum 0.1 fp32 align x16 c16"
inline std::string describe(const BnKey& k) {
  auto value = [](uint32_t bits) {
    float v = 0;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  };
  std::ostringstream os;
  os << bn_op_name(k.op) << " n" << k.n << " c" << k.c << " " << k.h << "x" << k.w;
  if (k.op == BnOp::Train || k.op == BnOp::TrainRelu) {
    os << (k.running_stats ? " running" : " no running stats") << " eps " << value(k.eps_bits);
    if (k.running_stats) os << " momentum " << value(k.momentum_bits);
  }
  os << " " << math_mode_name(k.math) << " align x" << k.align_data << " c" << k.align_channel;
  return os.str();
}

// The input as cuDNN sees it: [N,C,H,W], a 2-D [N,C] as [N,C,1,1] (the same
// memory: with H = W = 1 the NCHW strides are the NHWC ones too).
struct BnShape {
  int64_t n = 0, c = 0, h = 1, w = 1;
};

// Why cuDNN is not even asked ("" when it is), filling `shape` when the layout fits.
inline std::string bn_precheck(bool deterministic_mode, const std::vector<int64_t>& dims,
                               BnShape& shape) {
  if (deterministic_mode)
    return "deterministic mode: cudnn batchnorm statistics are not promised bit-exact";
  if (dims.size() == 2) {
    shape = {dims[0], dims[1], 1, 1};
  } else if (dims.size() == 4) {
    shape = {dims[0], dims[1], dims[2], dims[3]};
  } else {
    return "rank-" + std::to_string(dims.size()) +
           " input, cudnn batchnorm takes [N,C,H,W] or [N,C]";
  }
  if (shape.n * shape.c * shape.h * shape.w == 0) return "empty input";
  return "";
}

// cuDNN's messages can run to several lines of JSON: the first line, at most 160 characters.
inline std::string short_reason(const std::string& reason) {
  std::string s = reason.substr(0, reason.find('\n'));
  constexpr size_t kMax = 160;
  if (s.size() > kMax) s = s.substr(0, kMax - 3) + "...";
  return s.empty() ? "no reason given" : s;
}

enum class BnRoute : uint8_t {
  Graph,      // the requested graph ran (fused when the op is)
  GraphRelu,  // the plain BN graph, then our ReLU kernel
  Cuda,       // our kernels
};
constexpr size_t kBnRoutes = 3;

// Counted per call.
struct BnRouteCounts {
  std::array<size_t, kBnOps> refused{};  // try_graph(op) answered no
  std::array<std::array<size_t, kBnRoutes>, kBnOps> taken{};
  // Why the last call of op that went to our kernels did ("deterministic mode:
  // ...", "cudnn refused: support: ..."), and why op's fused graph was last refused.
  std::array<std::string, kBnOps> cuda_reason, fused_reason;

  size_t refusals(BnOp op) const { return refused[size_t(op)]; }
  size_t routed(BnOp op, BnRoute r) const { return taken[size_t(op)][size_t(r)]; }
};

// `precheck`: bn_precheck's answer. `try_graph(op, reason)` runs op's graph and
// returns true, or returns false having run nothing and says why in `reason`.
inline BnRoute take_bn_route(BnOp op, const std::string& precheck,
                             const std::function<bool(BnOp, std::string&)>& try_graph,
                             BnRouteCounts& counts) {
  const size_t i = size_t(op);
  BnRoute route = BnRoute::Cuda;
  if (!precheck.empty()) {
    counts.cuda_reason[i] = precheck;
  } else {
    std::string reason;
    if (try_graph(op, reason)) {
      route = BnRoute::Graph;
    } else {
      ++counts.refused[i];
      if (is_fused(op)) {
        counts.fused_reason[i] = short_reason(reason);
        std::string plain_reason;
        if (try_graph(plain_of(op), plain_reason)) {
          route = BnRoute::GraphRelu;
        } else {
          ++counts.refused[size_t(plain_of(op))];
          counts.cuda_reason[i] = "cudnn refused: " + short_reason(plain_reason);
        }
      } else {
        counts.cuda_reason[i] = "cudnn refused: " + short_reason(reason);
      }
    }
  }
  ++counts.taken[i][size_t(route)];
  return route;
}

// For the summary's path column: what ran for `ops` so far, e.g. "cudnn graph
// (batchnorm)", "cudnn fused graph (batchnorm+relu)", "cudnn graph (batchnorm) +
// relu kernel (fused graph refused 2 times: ...)", "fallback: cuda (cudnn
// refused: ...; 3 calls)"; routes that all ran are joined by "; ". `before_any`
// is returned when none of `ops` has run yet.
inline std::string bn_path(const BnRouteCounts& c, std::initializer_list<BnOp> ops,
                           const std::string& before_any) {
  auto times = [](size_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
  };
  std::string path;
  auto part = [&path](const std::string& s) { path += (path.empty() ? "" : "; ") + s; };
  size_t fused = 0, plain = 0;
  std::map<std::string, size_t> relu_kernel, cuda;  // by reason, so each is named once
  for (BnOp op : ops) {
    const size_t graph = c.routed(op, BnRoute::Graph);
    (is_fused(op) ? fused : plain) += graph;
    if (size_t n = c.routed(op, BnRoute::GraphRelu)) relu_kernel[c.fused_reason[size_t(op)]] += n;
    if (size_t n = c.routed(op, BnRoute::Cuda)) cuda[c.cuda_reason[size_t(op)]] += n;
  }
  if (fused) part("cudnn fused graph (batchnorm+relu)");
  if (plain) part("cudnn graph (batchnorm)");
  for (const auto& [reason, n] : relu_kernel)
    part("cudnn graph (batchnorm) + relu kernel (fused graph refused " + times(n, "time", "times") +
         ": " + reason + ")");
  for (const auto& [reason, n] : cuda)
    part("fallback: cuda (" + reason + "; " + times(n, "call", "calls") + ")");
  return path.empty() ? before_any : path;
}

}  // namespace convnet::cudnn
