// Elementwise kernels over flat contiguous arrays: fill, add (a + b), scale
// (alpha * x), the broadcast of one row over the rows of a matrix, and the
// bias/ReLU epilogue of a convolution (in place on NCHW: the cuDNN backend runs
// it after a plain conv graph when cuDNN refused the fused one).
// Decomposition: a grid-stride loop, 256 threads a block, one thread per element
// up to 65535 blocks (launch.cuh), so one launch covers any size. add and scale
// move float4 when every pointer is 16-byte aligned (then a scalar tail of
// count % 4); broadcast_rows does when cols % 4 == 0 and both pointers are
// aligned. add and scale may write in place (out == a, say): each thread reads
// its elements before it writes them, and their pointers are not __restrict__.
#include <cuda_runtime.h>

#include <cstdint>

#include "convnet/error.hpp"
#include "kernels/kernels.hpp"
#include "kernels/launch.cuh"

namespace convnet::kernels {
namespace {

template <typename T>
__global__ void fill_kernel(T* out, int64_t count, T value) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = value;
}

__global__ void add_kernel(const float* a, const float* b, float* out, int64_t count,
                           bool vectorised) {
  const int64_t start = global_thread();
  const int64_t stride = grid_threads();
  int64_t scalar_begin = 0;
  if (vectorised) {
    const int64_t count4 = count / 4;
    const float4* a4 = reinterpret_cast<const float4*>(a);
    const float4* b4 = reinterpret_cast<const float4*>(b);
    float4* out4 = reinterpret_cast<float4*>(out);
    for (int64_t i = start; i < count4; i += stride) {
      const float4 x = a4[i];
      const float4 y = b4[i];
      out4[i] = make_float4(x.x + y.x, x.y + y.y, x.z + y.z, x.w + y.w);
    }
    scalar_begin = count4 * 4;
  }
  for (int64_t i = scalar_begin + start; i < count; i += stride) out[i] = a[i] + b[i];
}

__global__ void scale_kernel(const float* in, float alpha, float* out, int64_t count,
                             bool vectorised) {
  const int64_t start = global_thread();
  const int64_t stride = grid_threads();
  int64_t scalar_begin = 0;
  if (vectorised) {
    const int64_t count4 = count / 4;
    const float4* in4 = reinterpret_cast<const float4*>(in);
    float4* out4 = reinterpret_cast<float4*>(out);
    for (int64_t i = start; i < count4; i += stride) {
      const float4 x = in4[i];
      out4[i] = make_float4(alpha * x.x, alpha * x.y, alpha * x.z, alpha * x.w);
    }
    scalar_begin = count4 * 4;
  }
  for (int64_t i = scalar_begin + start; i < count; i += stride) out[i] = alpha * in[i];
}

// out[r, c] = row[c] over `total` = rows * cols elements of T (float, or float4
// with cols counted in float4s); the row stays in L1/L2 for every r.
template <typename T>
__global__ void broadcast_rows_kernel(const T* __restrict__ row, int64_t cols, int64_t total,
                                      T* __restrict__ out) {
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t r = i / cols;
    out[i] = row[i - r * cols];
  }
}

// y[n, c, i] = relu?(y[n, c, i] + bias[c]) over total = N*K*inner elements; the
// channel of flat index j is (j / inner) % k. ReLU as activation.cu's: NaN propagates.
__global__ void bias_activation_nchw_kernel(float* y, const float* __restrict__ bias, int64_t k,
                                            int64_t inner, int64_t total, bool relu) {
  for (int64_t j = global_thread(); j < total; j += grid_threads()) {
    float v = y[j];
    if (bias) v += bias[(j / inner) % k];
    if (relu) v = v < 0.f ? 0.f : v;
    y[j] = v;
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

void fill_f32(float* out, int64_t count, float value, cudaStream_t stream) {
  if (count <= 0) return;
  CONVNET_LAUNCH(fill_kernel<float>, blocks_for(count), kThreads, 0, stream)(out, count, value);
  check_launch("fill_f32", stream);
}

void fill_i32(int32_t* out, int64_t count, int32_t value, cudaStream_t stream) {
  if (count <= 0) return;
  CONVNET_LAUNCH(fill_kernel<int32_t>, blocks_for(count), kThreads, 0, stream)(out, count, value);
  check_launch("fill_i32", stream);
}

void add_f32(const float* a, const float* b, float* out, int64_t count, cudaStream_t stream) {
  if (count <= 0) return;
  const bool vectorised = aligned16(a) && aligned16(b) && aligned16(out);
  const int64_t work = vectorised ? (count + 3) / 4 : count;
  CONVNET_LAUNCH(add_kernel, blocks_for(work), kThreads, 0, stream)(a, b, out, count, vectorised);
  check_launch("add_f32", stream);
}

void scale_f32(const float* in, float alpha, float* out, int64_t count, cudaStream_t stream) {
  if (count <= 0) return;
  const bool vectorised = aligned16(in) && aligned16(out);
  const int64_t work = vectorised ? (count + 3) / 4 : count;
  CONVNET_LAUNCH(scale_kernel, blocks_for(work), kThreads, 0, stream)(
      in, alpha, out, count, vectorised);
  check_launch("scale_f32", stream);
}

void broadcast_rows_f32(const float* row, int64_t rows, int64_t cols, float* out,
                        cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  if (cols % 4 == 0 && aligned16(row) && aligned16(out)) {
    const int64_t total4 = rows * (cols / 4);
    CONVNET_LAUNCH(broadcast_rows_kernel<float4>, blocks_for(total4), kThreads, 0, stream)(
        reinterpret_cast<const float4*>(row), cols / 4, total4, reinterpret_cast<float4*>(out));
  } else {
    CONVNET_LAUNCH(broadcast_rows_kernel<float>, blocks_for(rows * cols), kThreads, 0, stream)(
        row, cols, rows * cols, out);
  }
  check_launch("broadcast_rows_f32", stream);
}

void bias_activation_nchw_f32(float* y, const float* bias, int64_t n, int64_t k, int64_t inner,
                              bool relu, cudaStream_t stream) {
  const int64_t total = n * k * inner;
  if (total <= 0 || (!bias && !relu)) return;
  CONVNET_LAUNCH(bias_activation_nchw_kernel, blocks_for(total), kThreads, 0, stream)(
      y, bias, k, inner, total, relu);
  check_launch("bias_activation_nchw_f32", stream);
}

}  // namespace convnet::kernels
