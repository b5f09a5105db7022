// The Backend interface: every operation convnet computes, once per backend.
//
// Contract for every method (written once, here):
// - Shapes, dtypes and devices were validated by the caller (convnet::ops); a
//   backend trusts them. Use convnet::ops unless you are writing a backend test.
// - Outputs are allocated by the caller; a backend never allocates in the hot path
//   and writes every element of every output (tests poison outputs with NaN).
// - `accumulate == true` adds into the output (cuDNN's beta = 1) instead of
//   overwriting it, as parameter gradients need.
// - All tensors are contiguous NCHW float32 unless stated; labels are int32.
// - Nothing synchronises with the host: losses and counts are written to
//   one-element tensors on the backend's device.
// - Semantics follow PyTorch's defaults (see ../DESIGN.md): cross-correlation,
//   max pooling's gradient goes to the first maximal element and NaN propagates,
//   average pooling counts padding unless told otherwise, losses take the mean.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "convnet/settings.hpp"
#include "convnet/tensor.hpp"

namespace convnet {

struct Conv2dParams {
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dilation_h = 1, dilation_w = 1;
};

enum class PoolMode {
  Max,
  AvgIncludePad,  // divisor counts padded cells (PyTorch count_include_pad=True, the default)
  AvgExcludePad,  // divisor counts only cells inside the input
};

struct Pool2dParams {
  PoolMode mode = PoolMode::Max;
  int kernel_h = 2, kernel_w = 2;
  int stride_h = 2, stride_w = 2;
  int pad_h = 0, pad_w = 0;
  bool ceil_mode = false;  // PyTorch's ceil_mode: round the output size up
};

enum class Activation { ReLU, LeakyReLU, Sigmoid, Tanh };

// ---- tensor arithmetic (convnet/tensor_ops.hpp is the user's API over these)
enum class BinaryOp { Add, Sub, Mul, Div };
// s0, s1 are the op's scalars: x + s0 (AddScalar; x - s is AddScalar with -s,
// exact in IEEE), x * s0, x / s0, s0 - x (RSubScalar), s0 / x (RDivScalar),
// clamp to [s0, s1] (either may be +-inf; NaN stays NaN, as torch.clamp).
enum class UnaryOp { Neg, Exp, Log, Sqrt, Abs, Clamp, AddScalar, MulScalar, DivScalar,
                     RSubScalar, RDivScalar };
// Norm is the Euclidean norm. Max/Min propagate NaN; ArgMax/ArgMin give the
// first extreme index, and a NaN counts as the extreme (the first NaN wins), as torch.argmax.
enum class ReduceOp { Sum, Mean, Max, Min, Norm, ArgMax, ArgMin };

// NumPy broadcasting of a binary op, computed by ops::binary: the output has
// `rank` dims of extent sizes[d]; element (i0..i_{rank-1}) reads a at
// sum(i_d * a_strides[d]) and b likewise. A broadcast dim has stride 0.
// make_broadcast drops extent-1 dims and merges neighbours that both inputs
// address contiguously, so `rank` may be below the output tensor's (a
// same-shape op has rank 1; a 0-d one rank 0); the sizes' product is its numel.
constexpr int kMaxBroadcastRank = 8;
struct Broadcast {
  int rank = 0;
  int64_t sizes[kMaxBroadcastRank] = {};
  int64_t a_strides[kMaxBroadcastRank] = {};
  int64_t b_strides[kMaxBroadcastRank] = {};
};

// PyTorch's torch.optim.SGD semantics.
struct SgdParams {
  float momentum = 0.f;
  float dampening = 0.f;
  float weight_decay = 0.f;  // L2: grad += weight_decay * param
  bool nesterov = false;
};

// PyTorch's torch.optim.Adam (decoupled = false) and AdamW (decoupled = true).
struct AdamParams {
  float beta1 = 0.9f, beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.f;
  bool decoupled_weight_decay = false;
};

// Output extent of a convolution along one axis:
// floor((in + 2*pad - dilation*(kernel-1) - 1) / stride) + 1.
int64_t conv2d_output_size(int64_t in, int kernel, int stride, int pad, int dilation);
// Output extent of pooling along one axis, PyTorch's rule (ceil_mode may add one
// window, but never one that starts inside the right padding).
int64_t pool2d_output_size(int64_t in, int kernel, int stride, int pad, bool ceil_mode);

class Backend {
 public:
  // Cpu is the plain C++ reference; OneDnn runs CPU tensors on Intel's oneDNN
  // and hands it what oneDNN lacks; Cuda is our kernels; Cudnn is cuDNN over them.
  enum class Kind { Cpu, Cuda, Cudnn, OneDnn };
  // The operations whose implementation differs enough between backends that
  // the model summary names it (path()).
  enum class Op { Conv2d, Conv2dBiasReLU, Linear, LinearBiasReLU, Pool2d, Activation, Softmax,
                  BatchNorm, BatchNormReLU, AdaptiveAvgPool2d, Other };
  virtual ~Backend() = default;
  virtual Kind kind() const = 0;
  // The device type whose tensors this backend computes on.
  virtual Device::Type device_type() const = 0;
  // How this backend computes `op`, for the model summary: "im2col + gemm",
  // "implicit gemm", "cudnn graph", "cudnn fused graph", "fallback: cuda", ...
  // It reflects what ran so far (a cuDNN fusion that was refused shows as such).
  virtual std::string path(Op op) const = 0;

  // ---- convolution: input [N,C,H,W], weight [K,C,R,S], bias [K], output [N,K,P,Q]
  virtual void conv2d_forward(const Tensor& input, const Tensor& weight, const Tensor* bias,
                              const Conv2dParams& p, Tensor& output) = 0;
  virtual void conv2d_backward_data(const Tensor& grad_output, const Tensor& weight,
                                    const Conv2dParams& p, Tensor& grad_input) = 0;
  virtual void conv2d_backward_filter(const Tensor& input, const Tensor& grad_output,
                                      const Conv2dParams& p, Tensor& grad_weight,
                                      bool accumulate) = 0;
  // Fused forward: output = max(conv2d(input, weight) + bias, 0), one graph on
  // cuDNN. Its backward needs no new operation: ReLU's gradient is read from
  // this output (output > 0 exactly where the pre-activation is > 0), so a fused
  // layer keeps no pre-activation: activation_backward(ReLU, 0, output, output, ...).
  virtual void conv2d_bias_relu_forward(const Tensor& input, const Tensor& weight,
                                        const Tensor* bias, const Conv2dParams& p,
                                        Tensor& output) = 0;
  // grad_bias[c] (+)= sum of grad_output over every dimension except 1.
  // Serves conv ([N,K,P,Q]) and linear ([N,K]) alike.
  virtual void bias_backward(const Tensor& grad_output, Tensor& grad_bias, bool accumulate) = 0;

  // ---- pooling: input [N,C,H,W], output [N,C,P,Q]
  // argmax (Max only, may be null): int32 [N,C,P,Q], the index h*W + w of the
  // chosen element in its input plane; -1 when the window holds no input cell.
  virtual void pool2d_forward(const Tensor& input, const Pool2dParams& p, Tensor& output,
                              Tensor* argmax) = 0;
  // grad_input is overwritten. For Max, argmax from pool2d_forward is used when
  // given; otherwise the maximum is found again from input.
  virtual void pool2d_backward(const Tensor& input, const Tensor& grad_output,
                               const Tensor* argmax, const Pool2dParams& p,
                               Tensor& grad_input) = 0;

  // ---- adaptive average pooling (PyTorch's AdaptiveAvgPool2d): input [N,C,H,W],
  // output [N,C,OH,OW]; output cell (i, j) averages input rows
  // [floor(i*H/OH), ceil((i+1)*H/OH)) and columns likewise (kernels/adaptive_pool_index.hpp).
  // OH = OW = 1 is global average pooling. grad_input is overwritten.
  virtual void adaptive_avg_pool2d_forward(const Tensor& input, Tensor& output) = 0;
  virtual void adaptive_avg_pool2d_backward(const Tensor& grad_output, Tensor& grad_input) = 0;

  // ---- batch normalization (PyTorch's BatchNorm2d): per channel c of input
  // [N,C,H,W] (or [N,C]), over the N*H*W values of that channel (count >= 2 in
  // training; ops refuses fewer). weight/bias [C] may be null (affine = false:
  // 1 and 0). relu = true applies max(y, 0) in the same pass (BN + ReLU fused);
  // its backward reads the output, as the fused convolution's does.
  //
  // Training: y = (x - mean) * invstd * weight + bias with the batch mean and
  // invstd = 1 / sqrt(biased var + eps); save_mean [C] and save_invstd [C]
  // receive them for backward. When running_mean and running_var [C] are given
  // (both or neither) they are updated in place:
  //   running_mean = (1 - momentum) * running_mean + momentum * mean
  //   running_var  = (1 - momentum) * running_var  + momentum * var * count / (count - 1)
  // Statistics on the CPU and CUDA backends are deterministic: each channel's
  // sums are combined in an order fixed by the shape alone. cuDNN's batch-norm
  // graphs promise no such order, so the cudnn backend runs ours in
  // deterministic mode (docs/determinism.md).
  virtual void batch_norm_forward_train(const Tensor& input, const Tensor* weight,
                                        const Tensor* bias, Tensor* running_mean,
                                        Tensor* running_var, float momentum, float eps,
                                        bool relu, Tensor& output, Tensor& save_mean,
                                        Tensor& save_invstd) = 0;
  // Inference: y = (x - mean) / sqrt(var + eps) * weight + bias with given mean and var [C].
  virtual void batch_norm_forward_inference(const Tensor& input, const Tensor* weight,
                                            const Tensor* bias, const Tensor& mean,
                                            const Tensor& var, float eps, bool relu,
                                            Tensor& output) = 0;
  // Backward of the training forward (through the batch statistics), from its
  // input and save_mean/save_invstd; grad_output is already through the ReLU.
  // With xhat = (x - mean) * invstd and sums over the channel's count values:
  //   grad_input  = weight * invstd * (dy - sum(dy)/count - xhat * sum(dy*xhat)/count)
  //   grad_weight (+)= sum(dy * xhat), grad_bias (+)= sum(dy)
  // grad_weight and grad_bias are null exactly when weight is (affine = false).
  virtual void batch_norm_backward(const Tensor& input, const Tensor& grad_output,
                                   const Tensor* weight, const Tensor& save_mean,
                                   const Tensor& save_invstd, Tensor& grad_input,
                                   Tensor* grad_weight, Tensor* grad_bias, bool accumulate) = 0;

  // ---- pointwise activations (alpha: LeakyReLU's negative slope, ignored otherwise)
  virtual void activation_forward(Activation a, float alpha, const Tensor& input,
                                  Tensor& output) = 0;
  // Uses input (ReLU, LeakyReLU) or output (Sigmoid, Tanh), like cuDNN.
  virtual void activation_backward(Activation a, float alpha, const Tensor& input,
                                   const Tensor& output, const Tensor& grad_output,
                                   Tensor& grad_input) = 0;

  // ---- softmax over dimension 1 for every sample and spatial position
  // (cuDNN's CUDNN_SOFTMAX_MODE_CHANNEL; for [N,C] that is each row).
  // log = true computes log-softmax. Both are computed stably (max subtracted).
  virtual void softmax_forward(const Tensor& input, Tensor& output, bool log) = 0;
  virtual void softmax_backward(const Tensor& output, const Tensor& grad_output,
                                Tensor& grad_input, bool log) = 0;

  // ---- linear: input [N,in], weight [out,in] (PyTorch's layout), bias [out], output [N,out]
  virtual void linear_forward(const Tensor& input, const Tensor& weight, const Tensor* bias,
                              Tensor& output) = 0;
  // output = max(input * weight^T + bias, 0); see conv2d_bias_relu_forward for the backward.
  virtual void linear_bias_relu_forward(const Tensor& input, const Tensor& weight,
                                        const Tensor* bias, Tensor& output) = 0;
  virtual void linear_backward_data(const Tensor& grad_output, const Tensor& weight,
                                    Tensor& grad_input) = 0;
  virtual void linear_backward_weight(const Tensor& input, const Tensor& grad_output,
                                      Tensor& grad_weight, bool accumulate) = 0;

  // ---- losses: `loss` is a one-element tensor on the device, the mean over the
  // batch (cross-entropy) or over all elements (MSE, BCE, hinge), as PyTorch does.
  // Backward writes d(scale * loss)/d(prediction).
  //
  // Fused softmax + negative log-likelihood. logits [N,C], labels int32 [N] in
  // [0, C); probs [N,C] receives softmax(logits) for the backward pass. With
  // label smoothing e in [0, 1] the target is (1 - e) onehot + e / C, as in
  // PyTorch: a row's loss is lse(x) - (1 - e) x[label] - (e / C) sum_c x[c].
  virtual void softmax_cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                             float label_smoothing, Tensor& loss,
                                             Tensor& probs) = 0;
  // grad_logits = scale * (probs - (1 - e) onehot(labels) - e / C) / N
  virtual void softmax_cross_entropy_backward(const Tensor& probs, const Tensor& labels,
                                              float label_smoothing, float scale,
                                              Tensor& grad_logits) = 0;
  // mean((prediction - target)^2)
  virtual void mse_forward(const Tensor& prediction, const Tensor& target, Tensor& loss) = 0;
  virtual void mse_backward(const Tensor& prediction, const Tensor& target, float scale,
                            Tensor& grad_prediction) = 0;
  // mean(max(x,0) - x*t + log(1 + exp(-|x|))), targets t in [0, 1]
  virtual void bce_with_logits_forward(const Tensor& logits, const Tensor& target,
                                       Tensor& loss) = 0;
  virtual void bce_with_logits_backward(const Tensor& logits, const Tensor& target, float scale,
                                        Tensor& grad_logits) = 0;
  // mean(max(0, margin - t*s)), targets t in {-1, +1}. margin = 0 is the
  // perceptron criterion, margin = 1 the SVM hinge. At the kink the gradient is 0.
  virtual void hinge_forward(const Tensor& scores, const Tensor& target, float margin,
                             Tensor& loss) = 0;
  virtual void hinge_backward(const Tensor& scores, const Tensor& target, float margin,
                              float scale, Tensor& grad_scores) = 0;

  // ---- dropout (inverted): mask[i] = (u_i >= p) / (1 - p), u_i = philox_uniform(seed, offset, i);
  // output = input * mask; mask is f32 of the input's shape. The same (seed, offset)
  // gives the same mask on every backend.
  virtual void dropout_forward(const Tensor& input, float p, uint64_t seed, uint64_t offset,
                               Tensor& output, Tensor& mask) = 0;
  virtual void dropout_backward(const Tensor& grad_output, const Tensor& mask,
                                Tensor& grad_input) = 0;

  // ---- elementwise (outputs may alias inputs)
  virtual void fill(Tensor& output, float value) = 0;
  virtual void add(const Tensor& a, const Tensor& b, Tensor& output) = 0;  // a + b
  virtual void scale(const Tensor& input, float alpha, Tensor& output) = 0;  // alpha * input

  // ---- tensor arithmetic. f32 unless stated; binary's and unary's output may
  // alias an input of the same shape (a += b). Reductions are deterministic:
  // each output is combined in an order fixed by the shape alone (never by
  // thread timing).
  //
  // output = a op b under NumPy broadcasting (see Broadcast).
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Broadcast& bc,
                      Tensor& output) = 0;
  virtual void unary(UnaryOp op, const Tensor& input, float s0, float s1, Tensor& output) = 0;
  // input viewed as [outer, extent, inner] is reduced over the middle axis into
  // output [outer, inner] (f32; i32 for ArgMax/ArgMin). extent >= 1 for
  // Max/Min/Arg* (ops refuses empty ones); Sum of nothing is 0, Mean NaN, Norm 0.
  virtual void reduce(ReduceOp op, const Tensor& input, int64_t outer, int64_t extent,
                      int64_t inner, Tensor& output) = 0;
  // output [M,N] = a [M,K] * b [K,N], row-major; honours the math mode (TF32).
  virtual void matmul(const Tensor& a, const Tensor& b, Tensor& output) = 0;
  // The data-movement ops take f32 or i32 (both 4-byte words; input and output
  // agree) and never alias: their output is always a new tensor.
  // output [C,R] = input [R,C] transposed.
  virtual void transpose2d(const Tensor& input, Tensor& output) = 0;
  // cat's step: input viewed as [outer, in_cols] goes into output viewed as
  // [outer, out_cols] at columns [offset, offset + in_cols).
  virtual void copy_columns(const Tensor& input, int64_t outer, int64_t offset,
                            Tensor& output) = 0;
  // output[i, ...] = input[indices[i], ...]; indices int32 [n], validated in range by ops.
  virtual void index_select(const Tensor& input, const Tensor& indices, Tensor& output) = 0;

  // ---- metrics: correct[0] (+)= number of rows whose first maximal logit is the label.
  // logits [N,C], labels int32 [N], correct int32 [1].
  virtual void count_correct(const Tensor& logits, const Tensor& labels, Tensor& correct,
                             bool accumulate) = 0;

  // ---- optimizer updates, in place. `schedule` is a float32 [2] tensor on the
  // device holding {learning rate, step} with step = 1 on the first update; it
  // lives on the device so a captured CUDA graph can replay steps. The step is a
  // float: exact to 2^24 (16.7M) steps. SGD starts its momentum buffer at step 1.
  // momentum_buffer may be null when momentum == 0.
  virtual void sgd_update(Tensor& param, const Tensor& grad, Tensor* momentum_buffer,
                          const SgdParams& p, const Tensor& schedule) = 0;
  virtual void adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg,
                           Tensor& exp_avg_sq, const AdamParams& p, const Tensor& schedule) = 0;
  // The optimizer's clock, advanced where the schedule lives: schedule[0] = lr,
  // schedule[1] += 1. On a GPU this is a one-thread kernel with lr as its
  // argument, so a step never waits for a host-to-device copy.
  virtual void schedule_step(Tensor& schedule, float lr) = 0;
};

const char* backend_name(Backend::Kind kind);  // "cpu", "cuda", "cudnn", "onednn"
// Parses "cpu", "cuda", "cudnn" or "onednn"; throws convnet::Error otherwise.
Backend::Kind parse_backend_kind(const std::string& name);
// The device a backend computes on: the CPU for Cpu and OneDnn, a GPU otherwise.
Device backend_device(Backend::Kind kind);
// True when this build has the backend and the machine can run it.
bool backend_available(Backend::Kind kind);
// "" when available; otherwise why not, in one line ("convnet was built without
// CUDA", "no usable CUDA device: ...", "cannot load cuDNN 9 ...", "convnet was
// built without oneDNN ...").
std::string backend_unavailable_reason(Backend::Kind kind);
// The library behind a backend, for logs: for Cudnn "cuDNN 9.19.0 (<path>, built
// for CUDA 13.0)" once it could be loaded (with or without a GPU), for OneDnn
// "oneDNN 2.6.3 (cpu runtime OpenMP, 2 threads)", else "".
std::string backend_library(Backend::Kind kind);
// Every available backend, the CPU reference first.
std::vector<Backend::Kind> available_backends();
// The process-wide instance; throws convnet::Error naming the reason when unavailable.
Backend& get_backend(Backend::Kind kind);
// The default for tensors on `device`. The CPU: Cpu when set_default_backend (or
// CONVNET_BACKEND) chose cpu, else OneDnn when this build has it ("auto"), else
// Cpu. A GPU: the choice made with set_default_backend (or
// CONVNET_BACKEND=cuda|cudnn) when there is one, else Cudnn when available, else
// Cuda ("auto"). A choice for the other device type does not apply.
Backend::Kind default_backend(Device device);
// The process-wide default backend; nullopt is "auto". Layers with their
// own set_backend() keep it. CONVNET_BACKEND (auto|cpu|onednn|cuda|cudnn) sets the
// initial value; the examples also read it to decide where their data lives
// (cpu or onednn: the CPU). It never moves a tensor.
void set_default_backend(std::optional<Backend::Kind> kind);
std::optional<Backend::Kind> default_backend_choice();

}  // namespace convnet
