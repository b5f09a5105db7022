// Adaptive average pooling (PyTorch's AdaptiveAvgPool2d), input [planes = N*C,
// H, W] -> output [planes, OH, OW]. Output cell (a, b) averages input rows
// [adaptive_start(a, H, OH), adaptive_end(a, H, OH)) and the columns likewise
// (kernels/adaptive_pool_index.hpp, shared with the CPU reference and host tests).
// Decomposition:
// - Forward: one thread per output cell (grid-stride), summing its window
//   row-major in double and dividing in double by the window's size.
// - Backward: the GATHER form, one thread per input cell, adding in float from 0
//   the contributions dy / size of the output cells whose windows hold it
//   (adaptive_first_cell .. adaptive_last_cell along each axis) in increasing
//   (a, b) order, which is the order a row-major scatter adds them in. No
//   atomics; every grad_input element is written. Windows overlap by at most
//   one cell when OH does not divide H (more when OH > H), so the loop is short.
// Global average pooling (OH = OW = 1) over a large plane runs one thread per
// plane; a block-per-plane reduction would serve it better if it shows up in profiles.
#include <cuda_runtime.h>

#include <cstdint>

#include "convnet/error.hpp"
#include "kernels/adaptive_pool_index.hpp"
#include "kernels/kernels.hpp"
#include "kernels/launch.cuh"

namespace convnet::kernels {
namespace {

__global__ void __launch_bounds__(kThreads)
    adaptive_avg_pool_forward_kernel(const float* __restrict__ input, int64_t h, int64_t w,
                                     int64_t oh, int64_t ow, int64_t total,
                                     float* __restrict__ output) {
  for (int64_t o = global_thread(); o < total; o += grid_threads()) {
    const int64_t cells = oh * ow;
    const int64_t plane = o / cells;
    const int64_t cell = o - plane * cells;
    const int64_t a = cell / ow, b = cell - (cell / ow) * ow;
    const int64_t h0 = adaptive_start(a, h, oh), h1 = adaptive_end(a, h, oh);
    const int64_t w0 = adaptive_start(b, w, ow), w1 = adaptive_end(b, w, ow);
    const float* x = input + plane * h * w;
    double sum = 0.0;
    for (int64_t y = h0; y < h1; ++y)
      for (int64_t xx = w0; xx < w1; ++xx) sum += x[y * w + xx];
    output[o] = static_cast<float>(sum / static_cast<double>((h1 - h0) * (w1 - w0)));
  }
}

__global__ void __launch_bounds__(kThreads)
    adaptive_avg_pool_backward_kernel(const float* __restrict__ grad_output, int64_t h, int64_t w,
                                      int64_t oh, int64_t ow, int64_t total,
                                      float* __restrict__ grad_input) {
  for (int64_t e = global_thread(); e < total; e += grid_threads()) {
    const int64_t plane_size = h * w;
    const int64_t plane = e / plane_size;
    const int64_t at = e - plane * plane_size;
    const int64_t y = at / w, x = at - (at / w) * w;
    const int64_t a0 = adaptive_first_cell(y, h, oh), a1 = adaptive_last_cell(y, h, oh);
    const int64_t b0 = adaptive_first_cell(x, w, ow), b1 = adaptive_last_cell(x, w, ow);
    const float* dy = grad_output + plane * oh * ow;
    float sum = 0.f;
    for (int64_t a = a0; a <= a1; ++a) {
      const int64_t rows = adaptive_end(a, h, oh) - adaptive_start(a, h, oh);
      for (int64_t b = b0; b <= b1; ++b) {
        const int64_t cols = adaptive_end(b, w, ow) - adaptive_start(b, w, ow);
        sum += dy[a * ow + b] / static_cast<float>(rows * cols);
      }
    }
    grad_input[e] = sum;
  }
}

}  // namespace

void adaptive_avg_pool2d_forward(const float* input, int64_t planes, int64_t h, int64_t w,
                                 int64_t oh, int64_t ow, float* output, cudaStream_t stream) {
  const int64_t total = planes * oh * ow;
  if (total <= 0) return;
  CONVNET_CHECK(h > 0 && w > 0, "adaptive_avg_pool2d_forward: empty input plane ", h, "x", w,
                " for a ", oh, "x", ow, " output");
  CONVNET_LAUNCH(adaptive_avg_pool_forward_kernel, blocks_for(total), kThreads, 0, stream)(
      input, h, w, oh, ow, total, output);
  check_launch("adaptive_avg_pool2d_forward", stream);
}

void adaptive_avg_pool2d_backward(const float* grad_output, int64_t planes, int64_t h, int64_t w,
                                  int64_t oh, int64_t ow, float* grad_input, cudaStream_t stream) {
  const int64_t total = planes * h * w;
  if (total <= 0) return;
  if (oh <= 0 || ow <= 0) {  // no output cell: nothing flows back
    fill_f32(grad_input, total, 0.f, stream);
    return;
  }
  CONVNET_LAUNCH(adaptive_avg_pool_backward_kernel, blocks_for(total), kThreads, 0, stream)(
      grad_output, h, w, oh, ow, total, grad_input);
  check_launch("adaptive_avg_pool2d_backward", stream);
}

}  // namespace convnet::kernels
