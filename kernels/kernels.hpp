// Launch wrappers for every kernel in kernels/*.cu, as plain C++ so code outside
// kernels/ compiles with the host compiler. Each wrapper launches on `stream`,
// checks the launch (and, with CONVNET_CUDA_SYNC=1, synchronises and checks
// again so an error names its kernel) and throws convnet::Error on failure.
// All pointers are device pointers; all arrays contiguous, NCHW for images.
// Shapes were validated by convnet::ops; wrappers trust them. Every wrapper
// writes every element of its outputs and returns at once for empty inputs.
#pragma once

#include <cstddef>
#include <cstdint>

#include "convnet/backend.hpp"
#include "kernels/conv2d_index.hpp"

struct CUstream_st;
using cudaStream_t = CUstream_st*;

namespace convnet::kernels {

// ---- launch.cu: test hook. Caps the grid of every grid-stride launch at
// `blocks` (0 = no cap, the default) so tests can make every loop wrap.
void set_grid_cap(int blocks);
int grid_cap();

// ---- elementwise.cu
void fill_f32(float* out, int64_t count, float value, cudaStream_t stream);
void fill_i32(int32_t* out, int64_t count, int32_t value, cudaStream_t stream);
void add_f32(const float* a, const float* b, float* out, int64_t count, cudaStream_t stream);  // may alias
void scale_f32(const float* in, float alpha, float* out, int64_t count, cudaStream_t stream);  // may alias
// out[r, c] = row[c] for r < rows, c < cols: the bias the linear GEMM adds onto.
void broadcast_rows_f32(const float* row, int64_t rows, int64_t cols, float* out,
                        cudaStream_t stream);
// In place on y [N, K, inner]: y += bias[k] (bias may be null), then ReLU when
// `relu` (NaN propagates). The epilogue of a plain conv whose fused form was refused.
void bias_activation_nchw_f32(float* y, const float* bias, int64_t n, int64_t k, int64_t inner,
                              bool relu, cudaStream_t stream);

// ---- gather.cu
// out[r, :] = source[indices[r], :] for r < rows; rows hold row_size elements.
// Indices must lie in the source's row range (not checked on the device).
void gather_rows_f32(const float* source, const int32_t* indices, int64_t rows, int64_t row_size,
                     float* out, cudaStream_t stream);
void gather_rows_i32(const int32_t* source, const int32_t* indices, int64_t rows,
                     int64_t row_size, int32_t* out, cudaStream_t stream);

// ---- tensor_arith.cu: tensor arithmetic for users (Backend::binary, unary, transpose2d,
// copy_columns; index_select is gather_rows). Outputs of binary and unary may alias an
// input of their own shape; the data movement ones must not alias.
// out = a op b under NumPy broadcasting: out has bc.sizes' product elements, row-major.
void binary_f32(BinaryOp op, const float* a, const float* b, const Broadcast& bc, float* out,
                cudaStream_t stream);
// out = op(in, s0, s1) elementwise (UnaryOp, backend.hpp, says what s0 and s1 are).
void unary_f32(UnaryOp op, const float* in, float s0, float s1, float* out, int64_t count,
               cudaStream_t stream);
// out [cols, rows] = in [rows, cols]^T, over 4-byte words (f32 or i32).
void transpose2d_words(const void* in, int64_t rows, int64_t cols, void* out,
                       cudaStream_t stream);
// out[r, offset + c] = in[r, c] for r < outer, c < in_cols; out rows hold out_cols
// words (cat's step). 4-byte words (f32 or i32).
void copy_columns_words(const void* in, int64_t outer, int64_t in_cols, int64_t out_cols,
                        int64_t offset, void* out, cudaStream_t stream);

// ---- reduce_axis.cu: in [outer, extent, inner] reduced over extent into [outer, inner],
// deterministically (the combining order depends on the shape only). Sum, Mean, Norm,
// Max and Min write out_values (f32); ArgMax and ArgMin write out_indices (int32);
// the other pointer may be null. Semantics: Backend::reduce.
// Bytes of workspace reduce_axis needs for this shape (a split of a long extent); may be 0.
size_t reduce_axis_workspace(ReduceOp op, int64_t outer, int64_t extent, int64_t inner);
void reduce_axis(ReduceOp op, const float* in, int64_t outer, int64_t extent, int64_t inner,
                 float* out_values, int32_t* out_indices, void* workspace, cudaStream_t stream);

// ---- conv2d_direct.cu and conv2d_gemm.cu (geometry and address math: conv2d_index.hpp)
enum class ConvAlgo { Direct, ImplicitGemm };
// output [N,K,P,Q] = conv(input [N,C,H,W], weight [K,C,R,S]) (+ bias [K], may be null)
void conv2d_forward(const ConvGeometry& g, const float* input, const float* weight,
                    const float* bias, float* output, ConvAlgo algo, cudaStream_t stream);
// grad_input [N,C,H,W] = the adjoint of forward applied to grad_output [N,K,P,Q]
void conv2d_backward_data(const ConvGeometry& g, const float* grad_output, const float* weight,
                          float* grad_input, ConvAlgo algo, cudaStream_t stream);
// Bytes of scratch conv2d_backward_filter needs (split reduction partials); may be 0.
size_t conv2d_backward_filter_workspace(const ConvGeometry& g, ConvAlgo algo);
// grad_weight [K,C,R,S] (+)= sum over n, p, q. Deterministic: partials are reduced
// in a fixed order. `workspace` holds at least conv2d_backward_filter_workspace bytes.
void conv2d_backward_filter(const ConvGeometry& g, const float* input, const float* grad_output,
                            float* grad_weight, bool accumulate, ConvAlgo algo, void* workspace,
                            cudaStream_t stream);

// ---- reduce.cu
// grad_bias[k] (+)= sum over n and inner of grad_output [N, K, inner]; deterministic.
void bias_backward(const float* grad_output, int64_t n, int64_t k, int64_t inner,
                   float* grad_bias, bool accumulate, cudaStream_t stream);
// correct[0] (+)= rows whose first maximal logit (NaN counts as largest, first NaN
// wins: torch.argmax) equals the label. logits [rows, classes].
void count_correct(const float* logits, const int32_t* labels, int64_t rows, int64_t classes,
                   int32_t* correct, bool accumulate, cudaStream_t stream);

// ---- pool2d.cu
struct PoolGeometry {
  int64_t planes;  // N * C
  int64_t h, w;    // input extents
  int64_t p, q;    // output extents
  Pool2dParams params;
};
// argmax (Max only, may be null): h*W + w of the chosen cell in its plane, -1 for
// an empty window. Semantics are the CPU backend's (src/cpu/pool2d.cpp).
void pool2d_forward(const PoolGeometry& g, const float* input, float* output, int32_t* argmax,
                    cudaStream_t stream);
// Overwrites grad_input. Max: uses argmax when not null, else recomputes it from input.
void pool2d_backward(const PoolGeometry& g, const float* input, const float* grad_output,
                     const int32_t* argmax, float* grad_input, cudaStream_t stream);

// ---- adaptive_pool.cu: adaptive average pooling, input [planes = N*C, h, w] ->
// output [planes, oh, ow]; windows: kernels/adaptive_pool_index.hpp. Sums in
// double, divided by the window's size. Backward gathers (no atomics) and
// overwrites grad_input.
void adaptive_avg_pool2d_forward(const float* input, int64_t planes, int64_t h, int64_t w,
                                 int64_t oh, int64_t ow, float* output, cudaStream_t stream);
void adaptive_avg_pool2d_backward(const float* grad_output, int64_t planes, int64_t h, int64_t w,
                                  int64_t oh, int64_t ow, float* grad_input, cudaStream_t stream);

// ---- batch_norm.cu: batch normalization over channel c of [n, channels, hw]
// (semantics: Backend). Statistics and parameter gradients are deterministic
// (an order fixed by the shape); running_mean/var (both or neither, may be
// null) are updated on the device. weight/bias may be null (1 and 0);
// grad_weight/grad_bias are null exactly when weight is.
struct BatchNormShape {
  int64_t n, channels, hw;
};
// Bytes of workspace batch_norm_forward_train and batch_norm_backward need (8-byte aligned).
size_t batch_norm_workspace(const BatchNormShape& s);
void batch_norm_forward_train(const BatchNormShape& s, const float* input, const float* weight,
                              const float* bias, float* running_mean, float* running_var,
                              float momentum, float eps, bool relu, float* output,
                              float* save_mean, float* save_invstd, void* workspace,
                              cudaStream_t stream);
void batch_norm_forward_inference(const BatchNormShape& s, const float* input,
                                  const float* weight, const float* bias, const float* mean,
                                  const float* var, float eps, bool relu, float* output,
                                  cudaStream_t stream);
void batch_norm_backward(const BatchNormShape& s, const float* input, const float* grad_output,
                         const float* weight, const float* save_mean, const float* save_invstd,
                         float* grad_input, float* grad_weight, float* grad_bias, bool accumulate,
                         void* workspace, cudaStream_t stream);

// ---- activation.cu (semantics: src/cpu/activation.cpp)
void activation_forward(Activation a, float alpha, const float* input, float* output,
                        int64_t count, cudaStream_t stream);
void activation_backward(Activation a, float alpha, const float* input, const float* output,
                         const float* grad_output, float* grad_input, int64_t count,
                         cudaStream_t stream);

// ---- softmax.cu: over dimension 1 of [outer, channels, inner] (src/cpu/softmax.cpp)
void softmax_forward(const float* input, float* output, int64_t outer, int64_t channels,
                     int64_t inner, bool log, cudaStream_t stream);
void softmax_backward(const float* output, const float* grad_output, float* grad_input,
                      int64_t outer, int64_t channels, int64_t inner, bool log,
                      cudaStream_t stream);

// ---- loss.cu (semantics: src/cpu/loss.cpp). Means are reduced on the device in a
// fixed order (deterministic) through `workspace` of kLossWorkspaceBytes.
constexpr size_t kLossWorkspaceBytes = 1024 * sizeof(double);
// The device-side error flag: int32[4] {code, value, row, limit}. A kernel that
// meets a label outside [0, classes) claims it (atomicCAS on code from 0) and
// writes code, the label, its row and `classes`; the first one wins. The device
// runtime reads it where the host synchronises anyway and raises convnet::Error.
enum LabelErrorCode : int32_t {
  kNoError = 0,
  kCrossEntropyForwardLabel = 1,
  kCrossEntropyBackwardLabel = 2,
};
// label_smoothing in [0, 1] (checked by ops::): src/cpu/loss.cpp's formulas.
void softmax_cross_entropy_forward(const float* logits, const int32_t* labels, int64_t rows,
                                   int64_t classes, float label_smoothing, float* loss,
                                   float* probs, int32_t* error_flag, void* workspace,
                                   cudaStream_t stream);
void softmax_cross_entropy_backward(const float* probs, const int32_t* labels, int64_t rows,
                                    int64_t classes, float label_smoothing, float scale,
                                    float* grad_logits, int32_t* error_flag, cudaStream_t stream);
void mse_forward(const float* prediction, const float* target, int64_t count, float* loss,
                 void* workspace, cudaStream_t stream);
void mse_backward(const float* prediction, const float* target, int64_t count, float scale,
                  float* grad_prediction, cudaStream_t stream);
void bce_with_logits_forward(const float* logits, const float* target, int64_t count, float* loss,
                             void* workspace, cudaStream_t stream);
void bce_with_logits_backward(const float* logits, const float* target, int64_t count,
                              float scale, float* grad_logits, cudaStream_t stream);
void hinge_forward(const float* scores, const float* target, int64_t count, float margin,
                   float* loss, void* workspace, cudaStream_t stream);
void hinge_backward(const float* scores, const float* target, int64_t count, float margin,
                    float scale, float* grad_scores, cudaStream_t stream);

// ---- dropout.cu: the CPU backend's Philox stream (convnet/random.hpp), bit for bit.
void dropout_forward(const float* input, float p, uint64_t seed, uint64_t offset, float* output,
                     float* mask, int64_t count, cudaStream_t stream);
void dropout_backward(const float* grad_output, const float* mask, float* grad_input,
                      int64_t count, cudaStream_t stream);

// ---- optimizer.cu (semantics: src/cpu/optimizer.cpp). `schedule` = device
// float[2] {lr, step}, read on the device so a captured graph can replay steps.
void sgd_update(float* param, const float* grad, float* momentum_buffer, int64_t count,
                const SgdParams& p, const float* schedule, cudaStream_t stream);
void adam_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                 int64_t count, const AdamParams& p, const float* schedule, cudaStream_t stream);
// schedule[0] = lr; schedule[1] += 1, by one thread: the step advances on the device.
void schedule_advance(float* schedule, float lr, cudaStream_t stream);

}  // namespace convnet::kernels
