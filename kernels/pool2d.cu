// 2-D max and average pooling, input [planes = N*C, H, W] -> output [planes, P, Q],
// forward and backward, with padding, stride and ceil_mode (the output extents
// arrive in PoolGeometry). The window rules replicate src/cpu/pool2d.cpp exactly,
// so every result here is bit for bit the CPU backend's:
// - Max: the window is clipped to the input; the scan is row-major with
//   `v > best || isnan(v)` (first of equal values, NaN replaces); an empty window
//   gives -inf and argmax -1. argmax is h*W + w within the plane.
// - Average: the sum of the clipped window in double, divided in double by the
//   divisor (window clipped to the padded input, or to the input for
//   AvgExcludePad); an empty window gives 0.
// Decomposition:
// - Forward: one thread per output element (grid-stride), each scanning its window.
// - Backward: the GATHER form, one thread per input cell, looping over the output
//   windows that contain it in increasing (oh, ow) order and adding their
//   contributions in float from 0. That is the order in which the CPU's scatter
//   adds into that cell, so the float sums agree bit for bit, and no atomics are
//   needed (deterministic). Every grad_input element is written (0 when no window
//   routes anything to it). Max backward compares each window's argmax (given, or
//   recomputed with the forward rule) with the cell's index.
// The output windows containing input row h are those with
// oh*stride - pad <= h < oh*stride - pad + kernel (clipping to the input changes
// nothing for a cell inside the input), i.e. oh in [ceil((h+pad-kernel+1)/stride),
// floor((h+pad)/stride)] intersected with [0, P); the same along w.
#include <cuda_runtime.h>

#include <cstdint>

#include "convnet/error.hpp"
#include "kernels/kernels.hpp"
#include "kernels/launch.cuh"

namespace convnet::kernels {
namespace {

// The window of one output cell clipped to the input: [h0, h1) x [w0, w1).
struct Window {
  int64_t h0, h1, w0, w1;
  __device__ __forceinline__ bool empty() const { return h0 >= h1 || w0 >= w1; }
};

__device__ __forceinline__ int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
__device__ __forceinline__ int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// As max_window in src/cpu/pool2d.cpp.
__device__ __forceinline__ Window max_window(const PoolGeometry& g, int64_t oh, int64_t ow) {
  const int64_t h0 = oh * g.params.stride_h - g.params.pad_h;
  const int64_t w0 = ow * g.params.stride_w - g.params.pad_w;
  return {max64(h0, 0), min64(h0 + g.params.kernel_h, g.h), max64(w0, 0),
          min64(w0 + g.params.kernel_w, g.w)};
}

// As avg_window in src/cpu/pool2d.cpp: the clipped window and PyTorch's divisor.
__device__ __forceinline__ Window avg_window(const PoolGeometry& g, int64_t oh, int64_t ow,
                                             int64_t& divisor) {
  int64_t h0 = oh * g.params.stride_h - g.params.pad_h;
  int64_t w0 = ow * g.params.stride_w - g.params.pad_w;
  int64_t h1 = min64(h0 + g.params.kernel_h, g.h + g.params.pad_h);
  int64_t w1 = min64(w0 + g.params.kernel_w, g.w + g.params.pad_w);
  const int64_t padded_size = (h1 - h0) * (w1 - w0);
  h0 = max64(h0, 0);
  w0 = max64(w0, 0);
  h1 = min64(h1, g.h);
  w1 = min64(w1, g.w);
  divisor = g.params.mode == PoolMode::AvgIncludePad ? padded_size : (h1 - h0) * (w1 - w0);
  return {h0, h1, w0, w1};
}

// As argmax_in in src/cpu/pool2d.cpp: index h*W + w of the window's maximum
// (first of equal values; a NaN always replaces), -1 for an empty window.
__device__ __forceinline__ int32_t window_argmax(const float* __restrict__ plane, int64_t width,
                                                 const Window& win, float& max_value) {
  float best = -INFINITY;
  int64_t best_index = win.h0 * width + win.w0;
  for (int64_t h = win.h0; h < win.h1; ++h) {
    for (int64_t w = win.w0; w < win.w1; ++w) {
      const float value = plane[h * width + w];
      if (value > best || isnan(value)) {
        best = value;
        best_index = h * width + w;
      }
    }
  }
  max_value = best;
  return win.empty() ? -1 : static_cast<int32_t>(best_index);
}

// The output indices [lo, hi] along one axis whose windows contain input index x.
__device__ __forceinline__ void covering_range(int64_t x, int kernel, int stride, int pad,
                                               int64_t out_extent, int64_t& lo, int64_t& hi) {
  const int64_t first = x + pad - kernel + 1;  // smallest window start * stride allowed
  lo = first <= 0 ? 0 : (first + stride - 1) / stride;
  hi = min64((x + pad) / stride, out_extent - 1);  // x + pad >= 0
}

// ---- forward: one thread per output element

__global__ void max_pool_forward_kernel(PoolGeometry g, const float* __restrict__ input,
                                        float* __restrict__ output,
                                        int32_t* __restrict__ argmax) {
  const int64_t plane_out = g.p * g.q;
  const int64_t total = g.planes * plane_out;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t plane = i / plane_out;
    const int64_t o = i - plane * plane_out;
    const int64_t oh = o / g.q;
    const int64_t ow = o - oh * g.q;
    float max_value;
    const int32_t index =
        window_argmax(input + plane * g.h * g.w, g.w, max_window(g, oh, ow), max_value);
    output[i] = max_value;  // -inf for an empty window
    if (argmax != nullptr) argmax[i] = index;
  }
}

__global__ void avg_pool_forward_kernel(PoolGeometry g, const float* __restrict__ input,
                                        float* __restrict__ output) {
  const int64_t plane_out = g.p * g.q;
  const int64_t total = g.planes * plane_out;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t plane = i / plane_out;
    const int64_t o = i - plane * plane_out;
    const int64_t oh = o / g.q;
    const int64_t ow = o - oh * g.q;
    int64_t divisor;
    const Window win = avg_window(g, oh, ow, divisor);
    if (win.empty()) {  // as PyTorch: 0 rather than a division by zero
      output[i] = 0.f;
      continue;
    }
    const float* in_plane = input + plane * g.h * g.w;
    double sum = 0.0;  // the CPU's order and precision: bit for bit the same
    for (int64_t h = win.h0; h < win.h1; ++h) {
      for (int64_t w = win.w0; w < win.w1; ++w) sum += in_plane[h * g.w + w];
    }
    output[i] = static_cast<float>(sum / static_cast<double>(divisor));
  }
}

// ---- backward: one thread per input cell, gathering from the covering windows

// argmax may be null: each covering window's argmax is then recomputed from input.
// The backward kernels ask for 4 resident blocks (<= 64 registers, no spills at
// that bound) rather than the 72-77 the 64-bit window math would otherwise take.
__global__ void __launch_bounds__(kThreads, 4)
    max_pool_backward_kernel(PoolGeometry g, const float* __restrict__ input,
                             const float* __restrict__ grad_output,
                             const int32_t* __restrict__ argmax, float* __restrict__ grad_input) {
  const int64_t plane_in = g.h * g.w;
  const int64_t plane_out = g.p * g.q;
  const int64_t total = g.planes * plane_in;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t plane = i / plane_in;
    const int64_t cell = i - plane * plane_in;
    const int64_t h = cell / g.w;
    const int64_t w = cell - h * g.w;
    int64_t oh_lo, oh_hi, ow_lo, ow_hi;
    covering_range(h, g.params.kernel_h, g.params.stride_h, g.params.pad_h, g.p, oh_lo, oh_hi);
    covering_range(w, g.params.kernel_w, g.params.stride_w, g.params.pad_w, g.q, ow_lo, ow_hi);
    const float* in_plane = input + plane * plane_in;
    const float* dy_plane = grad_output + plane * plane_out;
    const int32_t* index_plane = argmax != nullptr ? argmax + plane * plane_out : nullptr;
    const int32_t self = static_cast<int32_t>(cell);
    float sum = 0.f;
    for (int64_t oh = oh_lo; oh <= oh_hi; ++oh) {
      for (int64_t ow = ow_lo; ow <= ow_hi; ++ow) {
        const int64_t o = oh * g.q + ow;
        int32_t index;
        if (index_plane != nullptr) {
          index = index_plane[o];
        } else {
          float unused;
          index = window_argmax(in_plane, g.w, max_window(g, oh, ow), unused);
        }
        if (index == self) sum += dy_plane[o];
      }
    }
    grad_input[i] = sum;
  }
}

__global__ void __launch_bounds__(kThreads, 4)
    avg_pool_backward_kernel(PoolGeometry g, const float* __restrict__ grad_output,
                             float* __restrict__ grad_input) {
  const int64_t plane_in = g.h * g.w;
  const int64_t plane_out = g.p * g.q;
  const int64_t total = g.planes * plane_in;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t plane = i / plane_in;
    const int64_t cell = i - plane * plane_in;
    const int64_t h = cell / g.w;
    const int64_t w = cell - h * g.w;
    int64_t oh_lo, oh_hi, ow_lo, ow_hi;
    covering_range(h, g.params.kernel_h, g.params.stride_h, g.params.pad_h, g.p, oh_lo, oh_hi);
    covering_range(w, g.params.kernel_w, g.params.stride_w, g.params.pad_w, g.q, ow_lo, ow_hi);
    const float* dy_plane = grad_output + plane * plane_out;
    float sum = 0.f;
    for (int64_t oh = oh_lo; oh <= oh_hi; ++oh) {
      for (int64_t ow = ow_lo; ow <= ow_hi; ++ow) {
        int64_t divisor;
        const Window win = avg_window(g, oh, ow, divisor);
        if (win.empty()) continue;  // cannot hold this cell; kept to mirror the CPU
        sum += dy_plane[oh * g.q + ow] / static_cast<float>(divisor);
      }
    }
    grad_input[i] = sum;
  }
}

}  // namespace

void pool2d_forward(const PoolGeometry& g, const float* input, float* output, int32_t* argmax,
                    cudaStream_t stream) {
  const int64_t total = g.planes * g.p * g.q;
  if (total <= 0) return;
  if (g.params.mode == PoolMode::Max) {
    CONVNET_LAUNCH(max_pool_forward_kernel, blocks_for(total), kThreads, 0, stream)(
        g, input, output, argmax);
    check_launch("max_pool_forward_kernel", stream);
  } else {
    CONVNET_LAUNCH(avg_pool_forward_kernel, blocks_for(total), kThreads, 0, stream)(
        g, input, output);
    check_launch("avg_pool_forward_kernel", stream);
  }
}

void pool2d_backward(const PoolGeometry& g, const float* input, const float* grad_output,
                     const int32_t* argmax, float* grad_input, cudaStream_t stream) {
  const int64_t total = g.planes * g.h * g.w;
  if (total <= 0) return;
  if (g.params.mode == PoolMode::Max) {
    CONVNET_LAUNCH(max_pool_backward_kernel, blocks_for(total), kThreads, 0, stream)(
        g, input, grad_output, argmax, grad_input);
    check_launch("max_pool_backward_kernel", stream);
  } else {
    CONVNET_LAUNCH(avg_pool_backward_kernel, blocks_for(total), kThreads, 0, stream)(
        g, grad_output, grad_input);
    check_launch("avg_pool_backward_kernel", stream);
  }
}

}  // namespace convnet::kernels
