// Losses and their gradients, with the CPU backend's formulas (src/cpu/loss.cpp):
// fused softmax cross-entropy over logits [rows, classes] with int32 labels, and
// the elementwise MSE, BCE-with-logits and hinge losses. Per-element terms are
// computed in double, as the CPU does, then rounded once to float.
//
// Forward passes reduce to the mean on the device, deterministically
// (reduce.cuh): a fixed number of blocks writes double partials into the
// workspace, one block adds them in a fixed order. Backward passes are a
// grid-stride loop, one thread per element.
//
// Cross-entropy forward: one warp per row (grid-stride over rows), lanes strided
// over the classes: a warp max, a double warp sum of exp(x - max), then each lane
// writes its probabilities; lane 0 adds the row's max + log(sum) - x[label] to
// its warp's running total, and the block sums its warps into one partial. With
// label smoothing e > 0 the warp also sums the row's logits, and the row adds
// lse - (1 - e) x[label] - (e / C) sum_c x[c] (src/cpu/loss.cpp's formula).
// A warp per row suits the short rows of classification; long rows still work,
// each lane looping over classes / 32 elements.
//
// A label outside [0, classes) is never used as an index: the kernel claims the
// context's error flag (int32[4], kernels.hpp) and carries on with finite values
// (that row adds 0 to the loss; its gradient is p), so nothing reads out of bounds
// and the host raises the error at its next synchronisation.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "convnet/error.hpp"
#include "kernels/kernels.hpp"
#include "kernels/launch.cuh"
#include "kernels/reduce.cuh"

namespace convnet::kernels {
namespace {

constexpr int kWarpsPerBlock = kThreads / 32;

// First bad label wins the flag: {code, label, row, classes}. A null flag skips it.
__device__ __forceinline__ void flag_bad_label(int32_t* error_flag, int32_t code, int32_t label,
                                               int64_t row, int64_t classes) {
  if (error_flag == nullptr) return;
  if (atomicCAS(error_flag, 0, code) == 0) {
    error_flag[1] = label;
    error_flag[2] = static_cast<int32_t>(row);
    error_flag[3] = static_cast<int32_t>(classes);
  }
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// ---- softmax cross-entropy

// Writes probs and partials[blockIdx.x] = this block's sum of row losses.
__global__ void __launch_bounds__(kThreads)
    cross_entropy_forward_kernel(const float* __restrict__ logits,
                                 const int32_t* __restrict__ labels, int64_t rows,
                                 int64_t classes, double smoothing, float* __restrict__ probs,
                                 int32_t* error_flag, double* __restrict__ partials) {
  __shared__ double scratch[32];
  const int lane = threadIdx.x & 31;
  const int64_t first_row = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + (threadIdx.x >> 5);
  const int64_t row_stride = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  double acc = 0.0;  // this warp's row losses, in lane 0 (other lanes keep 0)
  for (int64_t row = first_row; row < rows; row += row_stride) {
    const float* x = logits + row * classes;
    float* p = probs + row * classes;
    // std::fmax semantics: a NaN logit does not become the max (it makes the sum NaN).
    float max = -INFINITY;
    for (int64_t c = lane; c < classes; c += 32) max = fmaxf(max, x[c]);
    max = warp_max(max);
    const double shift = max;
    double sum = 0.0;
    for (int64_t c = lane; c < classes; c += 32) sum += exp(static_cast<double>(x[c]) - shift);
    sum = warp_sum(sum);
    for (int64_t c = lane; c < classes; c += 32)
      p[c] = static_cast<float>(exp(static_cast<double>(x[c]) - shift) / sum);
    double sum_x = 0.0;
    if (smoothing > 0.0) {  // uniform across the warp, so every lane joins warp_sum
      for (int64_t c = lane; c < classes; c += 32) sum_x += static_cast<double>(x[c]);
      sum_x = warp_sum(sum_x);
    }
    if (lane == 0) {
      const int32_t label = labels[row];
      const double lse = shift + log(sum);
      if (label >= 0 && label < classes)
        acc += smoothing > 0.0 ? lse - (1.0 - smoothing) * static_cast<double>(x[label]) -
                                     smoothing / static_cast<double>(classes) * sum_x
                               : lse - static_cast<double>(x[label]);
      else
        flag_bad_label(error_flag, kCrossEntropyForwardLabel, label, row, classes);
    }
  }
  const double total = block_sum(acc, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

// grad[n, c] = (float)(factor * (p[n, c] - target)), factor = scale / rows, target
// `hit` where c == label[n] (1 - e + e / C) and `miss` elsewhere (e / C).
__global__ void __launch_bounds__(kThreads)
    cross_entropy_backward_kernel(const float* __restrict__ probs,
                                  const int32_t* __restrict__ labels, int64_t rows,
                                  int64_t classes, double factor, double hit, double miss,
                                  float* __restrict__ grad_logits, int32_t* error_flag) {
  const int64_t count = rows * classes;
  for (int64_t i = global_thread(); i < count; i += grid_threads()) {
    const int64_t row = i / classes;
    const int64_t c = i - row * classes;
    const int32_t label = labels[row];
    const double target = c == label ? hit : miss;
    grad_logits[i] = static_cast<float>(factor * (static_cast<double>(probs[i]) - target));
    if (c == 0 && (label < 0 || label >= classes))
      flag_bad_label(error_flag, kCrossEntropyBackwardLabel, label, row, classes);
  }
}

// ---- elementwise losses: a term for the mean, a gradient per element

struct MseTerm {
  const float* prediction;
  const float* target;
  __device__ double operator()(int64_t i) const {
    const double d = static_cast<double>(prediction[i]) - static_cast<double>(target[i]);
    return d * d;
  }
};

struct BceTerm {
  const float* logits;
  const float* target;
  __device__ double operator()(int64_t i) const {
    const double x = logits[i];
    // std::max(x, 0.0) is (x < 0.0 ? 0.0 : x): it keeps a NaN, fmax would drop it.
    const double positive = x < 0.0 ? 0.0 : x;
    return positive - x * static_cast<double>(target[i]) + log1p(exp(-fabs(x)));
  }
};

struct HingeTerm {
  const float* scores;
  const float* target;
  double margin;
  __device__ double operator()(int64_t i) const {
    const double slack = margin - static_cast<double>(target[i]) * static_cast<double>(scores[i]);
    return slack < 0.0 ? 0.0 : slack;  // not fmax, which would drop a NaN
  }
};

struct MseGrad {
  const float* prediction;
  const float* target;
  double factor;  // 2 * scale / count
  __device__ float operator()(int64_t i) const {
    return static_cast<float>(
        factor * (static_cast<double>(prediction[i]) - static_cast<double>(target[i])));
  }
};

__device__ __forceinline__ double stable_sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + exp(-x));
  const double e = exp(x);
  return e / (1.0 + e);
}

struct BceGrad {
  const float* logits;
  const float* target;
  double factor;  // scale / count
  __device__ float operator()(int64_t i) const {
    return static_cast<float>(
        factor * (stable_sigmoid(static_cast<double>(logits[i])) - static_cast<double>(target[i])));
  }
};

struct HingeGrad {
  const float* scores;
  const float* target;
  double margin;
  double factor;  // scale / count
  __device__ float operator()(int64_t i) const {
    const double t = target[i];
    const bool active = margin - t * static_cast<double>(scores[i]) > 0.0;  // 0 at the kink
    return active ? static_cast<float>(-factor * t) : 0.f;
  }
};

template <typename Grad>
__global__ void __launch_bounds__(kThreads)
    loss_grad_kernel(Grad grad, int64_t count, float* __restrict__ out) {
  for (int64_t i = global_thread(); i < count; i += grid_threads()) out[i] = grad(i);
}

template <typename Grad>
void launch_loss_grad(const Grad& grad, int64_t count, float* out, cudaStream_t stream,
                      const char* name) {
  if (count <= 0) return;
  CONVNET_LAUNCH(loss_grad_kernel<Grad>, blocks_for(count), kThreads, 0, stream)(grad, count, out);
  check_launch(name, stream);
}

}  // namespace

void softmax_cross_entropy_forward(const float* logits, const int32_t* labels, int64_t rows,
                                   int64_t classes, float label_smoothing, float* loss,
                                   float* probs, int32_t* error_flag, void* workspace,
                                   cudaStream_t stream) {
  if (rows <= 0) return;
  double* partials = static_cast<double*>(workspace);
  const int blocks = partial_blocks(rows, kWarpsPerBlock);
  CONVNET_LAUNCH(cross_entropy_forward_kernel, blocks, kThreads, 0, stream)(
      logits, labels, rows, classes, static_cast<double>(label_smoothing), probs, error_flag,
      partials);
  check_launch("softmax_cross_entropy_forward", stream);
  finish_mean(partials, blocks, static_cast<double>(rows), loss, stream,
              "softmax_cross_entropy_forward (mean)");
}

void softmax_cross_entropy_backward(const float* probs, const int32_t* labels, int64_t rows,
                                    int64_t classes, float label_smoothing, float scale,
                                    float* grad_logits, int32_t* error_flag,
                                    cudaStream_t stream) {
  const int64_t count = rows * classes;
  if (count <= 0) return;
  const double factor = static_cast<double>(scale) / static_cast<double>(rows);
  const double e = label_smoothing, miss = e / static_cast<double>(classes);
  CONVNET_LAUNCH(cross_entropy_backward_kernel, blocks_for(count), kThreads, 0, stream)(
      probs, labels, rows, classes, factor, 1.0 - e + miss, miss, grad_logits, error_flag);
  check_launch("softmax_cross_entropy_backward", stream);
}

void mse_forward(const float* prediction, const float* target, int64_t count, float* loss,
                 void* workspace, cudaStream_t stream) {
  if (count <= 0) return;
  mean_of_terms(MseTerm{prediction, target}, count, loss, workspace, stream, "mse_forward");
}

void mse_backward(const float* prediction, const float* target, int64_t count, float scale,
                  float* grad_prediction, cudaStream_t stream) {
  const double factor = 2.0 * static_cast<double>(scale) / static_cast<double>(count);
  launch_loss_grad(MseGrad{prediction, target, factor}, count, grad_prediction, stream,
                   "mse_backward");
}

void bce_with_logits_forward(const float* logits, const float* target, int64_t count, float* loss,
                             void* workspace, cudaStream_t stream) {
  if (count <= 0) return;
  mean_of_terms(BceTerm{logits, target}, count, loss, workspace, stream,
                "bce_with_logits_forward");
}

void bce_with_logits_backward(const float* logits, const float* target, int64_t count,
                              float scale, float* grad_logits, cudaStream_t stream) {
  const double factor = static_cast<double>(scale) / static_cast<double>(count);
  launch_loss_grad(BceGrad{logits, target, factor}, count, grad_logits, stream,
                   "bce_with_logits_backward");
}

void hinge_forward(const float* scores, const float* target, int64_t count, float margin,
                   float* loss, void* workspace, cudaStream_t stream) {
  if (count <= 0) return;
  mean_of_terms(HingeTerm{scores, target, static_cast<double>(margin)}, count, loss, workspace,
                stream, "hinge_forward");
}

void hinge_backward(const float* scores, const float* target, int64_t count, float margin,
                    float scale, float* grad_scores, cudaStream_t stream) {
  const double factor = static_cast<double>(scale) / static_cast<double>(count);
  launch_loss_grad(HingeGrad{scores, target, static_cast<double>(margin), factor}, count,
                   grad_scores, stream, "hinge_backward");
}

}  // namespace convnet::kernels
