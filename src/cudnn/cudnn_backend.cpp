#include "cudnn/cudnn_backend.hpp"

#include <cstdlib>
#include <string>

#include "core/cuda_hooks.hpp"
#include "cuda/context.hpp"
#include "cudnn/cudnn_hooks.hpp"
#include "cudnn/cudnn_library.hpp"
#include "cudnn/cudnn_linear.hpp"

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
    : cuda_(fallback), graphs_(plan_capacity(), workspace_cap()), linear_(std::make_unique<LinearLt>()) {}

// Handles are not destroyed: the backend lives until the process exits, when
// CUDA may already be shutting down (as Context does).
CudnnBackend::~CudnnBackend() = default;

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
                               int device, std::initializer_list<const void*> pointers) const {
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
  key.alignment = alignment_of(pointers);
  return key;
}

bool CudnnBackend::run_graph(const Tensor& output, ConvKey key, const ConvOperands& operands) {
  const int device = output.device().index;
  cuda::DeviceGuard guard(device);
  cuda::Context& ctx = cuda::context(device);
  return graphs_.run(handle(device), key, operands,
                     [&ctx](size_t bytes) { return ctx.workspace(bytes); });
}

void CudnnBackend::conv2d_forward(const Tensor& input, const Tensor& weight, const Tensor* bias,
                                  const Conv2dParams& p, Tensor& output) {
  const ConvOp op = bias ? ConvOp::ForwardBias : ConvOp::Forward;
  const ConvOperands o{ptr(input), ptr(weight), bias ? ptr(*bias) : nullptr, ptr(output)};
  const ConvKey key = conv_key(op, input, weight, p, output.device().index, {o.x, o.w, o.b, o.y});
  if (!run_graph(output, key, o)) cuda_.conv2d_forward(input, weight, bias, p, output);
}

void CudnnBackend::conv2d_bias_relu_forward(const Tensor& input, const Tensor& weight,
                                            const Tensor* bias, const Conv2dParams& p,
                                            Tensor& output) {
  const ConvOp op = bias ? ConvOp::ForwardBiasRelu : ConvOp::ForwardRelu;
  const ConvOperands o{ptr(input), ptr(weight), bias ? ptr(*bias) : nullptr, ptr(output)};
  const ConvKey key = conv_key(op, input, weight, p, output.device().index, {o.x, o.w, o.b, o.y});
  if (run_graph(output, key, o)) return;
  // No fused plan for this shape: the plain graph (or our kernel), then our ReLU.
  fused_fallbacks_.fetch_add(1);
  conv2d_forward(input, weight, bias, p, output);
  cuda_.activation_forward(Activation::ReLU, 0.f, output, output);
}

void CudnnBackend::conv2d_backward_data(const Tensor& grad_output, const Tensor& weight,
                                        const Conv2dParams& p, Tensor& grad_input) {
  const ConvOperands o{ptr(grad_input), ptr(weight), nullptr, ptr(grad_output)};
  const ConvKey key = conv_key(ConvOp::BackwardData, grad_input, weight, p,
                               grad_input.device().index, {o.x, o.w, o.y});
  if (!run_graph(grad_input, key, o)) cuda_.conv2d_backward_data(grad_output, weight, p, grad_input);
}

void CudnnBackend::conv2d_backward_filter(const Tensor& input, const Tensor& grad_output,
                                          const Conv2dParams& p, Tensor& grad_weight,
                                          bool accumulate) {
  // cuDNN graphs have no beta: accumulating goes through a scratch gradient and an add.
  Tensor scratch = accumulate ? Tensor::empty(grad_weight.shape(), grad_weight.device()) : grad_weight;
  const ConvOperands o{ptr(input), ptr(scratch), nullptr, ptr(grad_output)};
  const ConvKey key = conv_key(ConvOp::BackwardFilter, input, grad_weight, p,
                               grad_weight.device().index, {o.x, o.w, o.y});
  if (!run_graph(grad_weight, key, o)) {
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
  const ConvGraphStats s = graphs_.stats();
  const std::string fell_back =
      s.unsupported ? " (" + std::to_string(s.unsupported) + " shapes fell back to cuda)" : "";
  switch (op) {
    case Op::Conv2d: return "cudnn graph" + fell_back;
    case Op::Conv2dBiasReLU:
      return fused_fallbacks_.load() ? "cudnn graph + relu kernel (fused graph refused)"
                                     : "cudnn fused graph (conv+bias+relu)";
    case Op::Linear: return "cublasLt, bias epilogue";
    case Op::LinearBiasReLU: return "cublasLt, bias+relu epilogue";
    case Op::Softmax: return "cudnnSoftmax";
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

Backend& backend() {
  static CudnnBackend instance(*cuda_hooks::cuda_backend());
  return instance;
}

}  // namespace convnet::cudnn
