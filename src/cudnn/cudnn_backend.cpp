#include "cudnn/cudnn_backend.hpp"

#include <cstdlib>
#include <string>

#include "core/cuda_hooks.hpp"
#include "cuda/context.hpp"
#include "cuda/launch_scope.hpp"
#include "cudnn/cudnn_hooks.hpp"
#include "cudnn/cudnn_library.hpp"
#include "cudnn/cudnn_linear.hpp"
#include "cudnn/batch_norm_probe.hpp"
#include "cudnn/cudnn_probe.hpp"
#include "kernels/kernels.hpp"

namespace convnet::cudnn {
namespace {

int64_t env_int(const char* name, int64_t fallback, int64_t min, int64_t max) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long long n = std::strtoll(v, &end, 10);
  CONVNET_CHECK(end && *end == '\0' && n >= min && n <= max, name, "=\"", v,
                "\": expected an integer in [", min, ", ", max, "]");
  return n;
}

// A plan may use this much scratch (CONVNET_CUDNN_WORKSPACE_MB, default 512);
// plans needing more are not chosen.
int64_t workspace_cap() { return env_int("CONVNET_CUDNN_WORKSPACE_MB", 512, 0, 1 << 20) << 20; }
// Plans kept (CONVNET_CUDNN_PLAN_CACHE, default 256): a model has a handful of shapes.
size_t plan_capacity() { return static_cast<size_t>(env_int("CONVNET_CUDNN_PLAN_CACHE", 256, 1, 1 << 20)); }

void* ptr(const Tensor& t) { return t.raw_data(); }

}  // namespace

CudnnBackend::CudnnBackend(Backend& fallback)
    : DelegatingBackend(fallback),
      cuda_(fallback),
      graphs_(plan_capacity(), workspace_cap()),
      bn_graphs_(plan_capacity(), workspace_cap()),
      linear_(std::make_unique<LinearLt>()),
      constants_(std::make_unique<std::map<std::tuple<int, int64_t, bool>, Tensor>>()) {}

// Handles and the batch norm's ones/zeros are not destroyed: the backend lives
// until the process exits, when CUDA may already be shutting down (as Context does).
CudnnBackend::~CudnnBackend() { (void)constants_.release(); }

cudnnHandle_t CudnnBackend::handle(int device) {
  CONVNET_CHECK(device >= 0 && device < kMaxDevices, "cuDNN backend: device ", device,
                " is beyond the ", kMaxDevices, " devices it supports");
  std::lock_guard<std::mutex> lock(handles_mutex_);
  if (!handles_[device]) {
    const Library& lib = library();
    cuda::DeviceGuard guard(device);
    cudnnHandle_t h = nullptr;
    CONVNET_CUDNN_CHECK(lib.create(&h));
    CONVNET_CUDNN_CHECK(lib.set_stream(h, cuda::context(device).stream()));
    handles_[device] = h;
  }
  return handles_[device];
}

ConvKey CudnnBackend::conv_key(ConvOp op, const Tensor& x, const Tensor& w, const Conv2dParams& p,
                               int device, const ConvOperands& operands) const {
  ConvKey key;
  key.op = op;
  key.n = x.size(0);
  key.c = x.size(1);
  key.h = x.size(2);
  key.w = x.size(3);
  key.k = w.size(0);
  key.r = w.size(2);
  key.s = w.size(3);
  key.p = p;
  key.math = math_mode();
  key.deterministic = deterministic();
  // Timing picks a plan by the clock, so two runs could pick different plans:
  // deterministic mode keeps the heuristics' choice, which depends only on the key.
  key.autotune = cudnn_autotune() && !key.deterministic;
  key.device = device;
  key.align_x = alignment_of(operands.x);
  key.align_w = alignment_of(operands.w);
  key.align_b = alignment_of(has_bias(op) ? operands.b : nullptr);  // the plain graph reads no bias
  key.align_y = alignment_of(operands.y);
  return key;
}

bool CudnnBackend::run_graph(ConvOp op, const Tensor& x, const Tensor& w, const Conv2dParams& p,
                             const Tensor& output, const ConvOperands& operands) {
  const int device = output.device().index;
  cuda::DeviceGuard guard(device);
  cuda::Context& ctx = cuda::context(device);
  return graphs_.run(handle(device), ctx.stream(), conv_key(op, x, w, p, device, operands),
                     operands, [&ctx](size_t bytes) { return ctx.workspace(bytes); });
}

ConvRouteCounts CudnnBackend::conv_routes() const {
  std::lock_guard<std::mutex> lock(routes_mutex_);
  return routes_;
}

void CudnnBackend::forward(ConvOp op, const Tensor& input, const Tensor& weight,
                           const Tensor* bias, const Conv2dParams& p, Tensor& output) {
  const ConvOperands o{ptr(input), ptr(weight), bias ? ptr(*bias) : nullptr, ptr(output)};
  auto try_graph = [&](ConvOp graph_op) {
    if (is_fused(graph_op) && refuse_fused_.load()) return false;
    return run_graph(graph_op, input, weight, p, output, o);
  };
  ConvRoute route;
  {
    std::lock_guard<std::mutex> lock(routes_mutex_);
    route = take_conv_route(op, try_graph, routes_);
  }
  switch (route) {
    case ConvRoute::Graph: return;
    case ConvRoute::GraphEpilogue: {
      // The plain graph wrote conv(x, w); bias and ReLU in one pass, on the same stream.
      cuda::LaunchScope on(output);
      kernels::bias_activation_nchw_f32(output.data<float>(), bias ? bias->data<float>() : nullptr,
                                        output.size(0), output.size(1),
                                        output.size(2) * output.size(3), has_relu(op), on.stream());
      return;
    }
    case ConvRoute::Cuda:
      if (has_relu(op))
        cuda_.conv2d_bias_relu_forward(input, weight, bias, p, output);
      else
        cuda_.conv2d_forward(input, weight, bias, p, output);
      return;
  }
}

void CudnnBackend::conv2d_forward(const Tensor& input, const Tensor& weight, const Tensor* bias,
                                  const Conv2dParams& p, Tensor& output) {
  forward(bias ? ConvOp::ForwardBias : ConvOp::Forward, input, weight, bias, p, output);
}

void CudnnBackend::conv2d_bias_relu_forward(const Tensor& input, const Tensor& weight,
                                            const Tensor* bias, const Conv2dParams& p,
                                            Tensor& output) {
  forward(bias ? ConvOp::ForwardBiasRelu : ConvOp::ForwardRelu, input, weight, bias, p, output);
}

// Backward convolutions: the graph, or our kernels (no epilogue to split off).
void CudnnBackend::conv2d_backward_data(const Tensor& grad_output, const Tensor& weight,
                                        const Conv2dParams& p, Tensor& grad_input) {
  const ConvOperands o{ptr(grad_input), ptr(weight), nullptr, ptr(grad_output)};
  auto try_graph = [&](ConvOp op) { return run_graph(op, grad_input, weight, p, grad_input, o); };
  ConvRoute route;
  {
    std::lock_guard<std::mutex> lock(routes_mutex_);
    route = take_conv_route(ConvOp::BackwardData, try_graph, routes_);
  }
  if (route != ConvRoute::Graph) cuda_.conv2d_backward_data(grad_output, weight, p, grad_input);
}

void CudnnBackend::conv2d_backward_filter(const Tensor& input, const Tensor& grad_output,
                                          const Conv2dParams& p, Tensor& grad_weight,
                                          bool accumulate) {
  // cuDNN graphs have no beta: accumulating goes through a scratch gradient and an add.
  Tensor scratch = accumulate ? Tensor::empty(grad_weight.shape(), grad_weight.device()) : grad_weight;
  const ConvOperands o{ptr(input), ptr(scratch), nullptr, ptr(grad_output)};
  auto try_graph = [&](ConvOp op) { return run_graph(op, input, grad_weight, p, grad_weight, o); };
  ConvRoute route;
  {
    std::lock_guard<std::mutex> lock(routes_mutex_);
    route = take_conv_route(ConvOp::BackwardFilter, try_graph, routes_);
  }
  if (route != ConvRoute::Graph) {
    cuda_.conv2d_backward_filter(input, grad_output, p, grad_weight, accumulate);
    return;
  }
  if (accumulate) cuda_.add(grad_weight, scratch, grad_weight);
}

void CudnnBackend::linear_forward(const Tensor& input, const Tensor& weight, const Tensor* bias,
                                  Tensor& output) {
  if (!linear_->forward(input, weight, bias, /*relu=*/false, output))
    cuda_.linear_forward(input, weight, bias, output);
}

void CudnnBackend::linear_bias_relu_forward(const Tensor& input, const Tensor& weight,
                                            const Tensor* bias, Tensor& output) {
  if (!linear_->forward(input, weight, bias, /*relu=*/true, output))
    cuda_.linear_bias_relu_forward(input, weight, bias, output);
}

std::string CudnnBackend::path(Op op) const {
  const ConvRouteCounts r = conv_routes();
  switch (op) {
    case Op::Conv2d:
      return conv_path(r, {ConvOp::Forward, ConvOp::ForwardBias, ConvOp::BackwardData,
                           ConvOp::BackwardFilter},
                       cuda_.path(op), "cudnn graph");
    case Op::Conv2dBiasReLU:
      return conv_path(r, {ConvOp::ForwardRelu, ConvOp::ForwardBiasRelu}, cuda_.path(op),
                       "cudnn fused graph (conv+bias+relu)");
    case Op::Linear:
      return linear_path(linear_->counts(false), "cublasLt, bias epilogue", cuda_.path(op));
    case Op::LinearBiasReLU:
      return linear_path(linear_->counts(true), "cublasLt, bias+relu epilogue", cuda_.path(op));
    case Op::Softmax: return "cudnnSoftmax";
    // Backward runs the plain batchnorm_backward graph for both (its grad_output
    // is already through the ReLU), so it is named under BatchNorm only, as the
    // conv backward is under Conv2d.
    case Op::BatchNorm:
      return bn_path(bn_routes(), {BnOp::Train, BnOp::Inference, BnOp::Backward},
                     deterministic() ? "fallback: cuda (deterministic mode)" : "cudnn graph (batchnorm)");
    case Op::BatchNormReLU:
      return bn_path(bn_routes(), {BnOp::TrainRelu, BnOp::InferenceRelu},
                     deterministic() ? "fallback: cuda (deterministic mode)"
                                     : "cudnn fused graph (batchnorm+relu)");
    case Op::AdaptiveAvgPool2d: return "fallback: cuda (cudnn has no adaptive pooling)";
    default: return "cuda kernel";  // pooling, activations: our kernels
  }
}

// ---- the hooks the registry calls (cudnn_hooks.hpp)

// The library is loaded even without a GPU (dlopen and cudnnGetVersion need
// none), so a machine without one still checks which cuDNN it would use.
std::string unavailable_reason() {
  const std::string& problem = load_problem();
  if (cuda_hooks::device_count() == 0) return cuda_hooks::unavailable_reason();
  return problem;
}

std::string library_description() {
  if (!load_problem().empty()) return "";
  return "cuDNN " + describe(library());
}

namespace {
CudnnBackend& instance() {
  static CudnnBackend backend(*cuda_hooks::cuda_backend());
  return backend;
}
}  // namespace

Backend& backend() { return instance(); }

// ---- cudnn_probe.hpp
ConvRouteCounts probe_conv_routes() { return instance().conv_routes(); }
ConvGraphStats probe_conv_stats() { return instance().conv_stats(); }
size_t probe_set_plan_capacity(size_t capacity) { return instance().set_plan_capacity(capacity); }
bool probe_refuse_fused_graphs(bool refuse) { return instance().set_refuse_fused(refuse); }
// ---- batch_norm_probe.hpp
BnRouteCounts probe_bn_routes() { return instance().bn_routes(); }
BnGraphStats probe_bn_stats() { return instance().bn_stats(); }

}  // namespace convnet::cudnn
