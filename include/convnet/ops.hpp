// convnet::ops — one function per operation. Each validates shapes, dtypes and
// devices once (throwing convnet::Error that names the op, the shapes and the
// cause), allocates its outputs on the inputs' device and dispatches to a
// Backend. Layers call these; they never call a backend directly.
//
// Every function takes the backend to run on; it must compute on the inputs'
// device (the Cpu backend on CPU tensors, Cuda/Cudnn on CUDA tensors).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "convnet/backend.hpp"
#include "convnet/tensor.hpp"

namespace convnet::ops {

// ---- convolution
Tensor conv2d_forward(Backend& be, const Tensor& input, const Tensor& weight, const Tensor* bias,
                      const Conv2dParams& p);
// max(conv2d_forward(...), 0) in one call (one cuDNN graph). Backward: pass the
// output as activation_backward's input (ReLU's gradient is where output > 0).
Tensor conv2d_bias_relu_forward(Backend& be, const Tensor& input, const Tensor& weight,
                                const Tensor* bias, const Conv2dParams& p);
Tensor conv2d_backward_data(Backend& be, const Tensor& grad_output, const Tensor& weight,
                            const Shape& input_shape, const Conv2dParams& p);
void conv2d_backward_filter(Backend& be, const Tensor& input, const Tensor& grad_output,
                            const Conv2dParams& p, Tensor& grad_weight, bool accumulate);
void bias_backward(Backend& be, const Tensor& grad_output, Tensor& grad_bias, bool accumulate);

// ---- pooling. For Max, *argmax (when given) receives the int32 indices for backward.
Tensor pool2d_forward(Backend& be, const Tensor& input, const Pool2dParams& p,
                      Tensor* argmax = nullptr);
Tensor pool2d_backward(Backend& be, const Tensor& input, const Tensor& grad_output,
                       const Tensor* argmax, const Pool2dParams& p);

// ---- adaptive average pooling to [N, C, out_h, out_w] (1 x 1: global average pooling)
Tensor adaptive_avg_pool2d_forward(Backend& be, const Tensor& input, int64_t out_h, int64_t out_w);
Tensor adaptive_avg_pool2d_backward(Backend& be, const Tensor& grad_output,
                                    const Shape& input_shape);

// ---- batch normalization over channel dim 1 of [N, C, H, W] or [N, C] (see
// Backend). Training needs more than one value per channel (PyTorch's rule).
struct BatchNormSaved {
  Tensor mean, invstd;  // f32 [C], for batch_norm_backward
};
Tensor batch_norm_forward_train(Backend& be, const Tensor& input, const Tensor* weight,
                                const Tensor* bias, Tensor* running_mean, Tensor* running_var,
                                float momentum, float eps, bool relu, BatchNormSaved& saved);
Tensor batch_norm_forward_inference(Backend& be, const Tensor& input, const Tensor* weight,
                                    const Tensor* bias, const Tensor& mean, const Tensor& var,
                                    float eps, bool relu);
// grad_weight/grad_bias: given exactly when weight is.
Tensor batch_norm_backward(Backend& be, const Tensor& input, const Tensor& grad_output,
                           const Tensor* weight, const BatchNormSaved& saved,
                           Tensor* grad_weight, Tensor* grad_bias, bool accumulate);

// ---- activations and softmax
Tensor activation_forward(Backend& be, Activation a, float alpha, const Tensor& input);
Tensor activation_backward(Backend& be, Activation a, float alpha, const Tensor& input,
                           const Tensor& output, const Tensor& grad_output);
// Softmax or log-softmax over dimension 1 (no positional flag: the name says which).
Tensor softmax_forward(Backend& be, const Tensor& input);
Tensor softmax_backward(Backend& be, const Tensor& output, const Tensor& grad_output);
Tensor log_softmax_forward(Backend& be, const Tensor& input);
Tensor log_softmax_backward(Backend& be, const Tensor& output, const Tensor& grad_output);

// ---- linear
Tensor linear_forward(Backend& be, const Tensor& input, const Tensor& weight, const Tensor* bias);
// max(linear_forward(...), 0) in one call (cuBLASLt's RELU_BIAS epilogue on cuDNN).
Tensor linear_bias_relu_forward(Backend& be, const Tensor& input, const Tensor& weight,
                                const Tensor* bias);
Tensor linear_backward_data(Backend& be, const Tensor& grad_output, const Tensor& weight);
void linear_backward_weight(Backend& be, const Tensor& input, const Tensor& grad_output,
                            Tensor& grad_weight, bool accumulate);

// ---- losses: return a one-element tensor on the inputs' device.
// Cross-entropy validates label values on the CPU backend (GPU backends flag them
// without synchronising, see their docs). *probs receives the softmax for backward.
// label_smoothing in [0, 1] (PyTorch's CrossEntropyLoss option; see Backend).
Tensor softmax_cross_entropy_forward(Backend& be, const Tensor& logits, const Tensor& labels,
                                     Tensor& probs, float label_smoothing = 0.f);
Tensor softmax_cross_entropy_backward(Backend& be, const Tensor& probs, const Tensor& labels,
                                      float scale = 1.f, float label_smoothing = 0.f);
Tensor mse_forward(Backend& be, const Tensor& prediction, const Tensor& target);
Tensor mse_backward(Backend& be, const Tensor& prediction, const Tensor& target,
                    float scale = 1.f);
Tensor bce_with_logits_forward(Backend& be, const Tensor& logits, const Tensor& target);
Tensor bce_with_logits_backward(Backend& be, const Tensor& logits, const Tensor& target,
                                float scale = 1.f);
Tensor hinge_forward(Backend& be, const Tensor& scores, const Tensor& target, float margin);
Tensor hinge_backward(Backend& be, const Tensor& scores, const Tensor& target, float margin,
                      float scale = 1.f);

// ---- dropout: *mask receives the scaled keep-mask for backward. 0 <= p < 1.
Tensor dropout_forward(Backend& be, const Tensor& input, float p, uint64_t seed, uint64_t offset,
                       Tensor& mask);
Tensor dropout_backward(Backend& be, const Tensor& grad_output, const Tensor& mask);

// ---- elementwise
void fill(Backend& be, Tensor& output, float value);
Tensor add(Backend& be, const Tensor& a, const Tensor& b);
void add_(Backend& be, Tensor& a, const Tensor& b);  // a += b
Tensor scale(Backend& be, const Tensor& input, float alpha);

// ---- tensor arithmetic (convnet/tensor_ops.hpp calls these on the default backend)
// The shape a op b has under NumPy broadcasting; throws naming both shapes.
Shape broadcast_shape(const Shape& a, const Shape& b);
// The Broadcast the backends take for a op b (rank at most kMaxBroadcastRank).
Broadcast make_broadcast(const Shape& a, const Shape& b);
Tensor binary(Backend& be, BinaryOp op, const Tensor& a, const Tensor& b);
// a = a op b in place; b must broadcast to a's shape.
void binary_(Backend& be, BinaryOp op, Tensor& a, const Tensor& b);
Tensor unary(Backend& be, UnaryOp op, const Tensor& input, float s0 = 0.f, float s1 = 0.f);
void unary_(Backend& be, UnaryOp op, Tensor& input, float s0 = 0.f, float s1 = 0.f);
// Over every element (dim = nullopt: a 0-d result, shape []) or one dimension
// (negative counts from the end); keepdim keeps it with extent 1.
Tensor reduce(Backend& be, ReduceOp op, const Tensor& input, std::optional<int> dim,
              bool keepdim = false);
Tensor matmul(Backend& be, const Tensor& a, const Tensor& b);
Tensor transpose2d(Backend& be, const Tensor& input);
Tensor cat(Backend& be, const std::vector<Tensor>& inputs, int dim);
// Rows of input (dimension 0) in the order of int32 indices [n]. Indices are
// checked on the host (a GPU tensor's indices are copied there: it synchronises).
Tensor index_select(Backend& be, const Tensor& input, const Tensor& indices);

// ---- metrics: *correct is an int32 [1] tensor on the logits' device.
void count_correct(Backend& be, const Tensor& logits, const Tensor& labels, Tensor& correct,
                   bool accumulate);

// ---- optimizer updates (see Backend for the schedule tensor)
void sgd_update(Backend& be, Tensor& param, const Tensor& grad, Tensor* momentum_buffer,
                const SgdParams& p, const Tensor& schedule);
void adam_update(Backend& be, Tensor& param, const Tensor& grad, Tensor& exp_avg,
                 Tensor& exp_avg_sq, const AdamParams& p, const Tensor& schedule);
// schedule = {lr, step + 1}, on the schedule's device, without a host round trip.
void schedule_step(Backend& be, Tensor& schedule, float lr);

}  // namespace convnet::ops
