// Elementwise kernels over flat contiguous arrays.
// Decomposition: a grid-stride loop, 256 threads a block, one thread per element
// up to 65535 blocks (launch.cuh), so one launch covers any size.
#include <cuda_runtime.h>

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

}  // namespace

void fill_f32(float* out, int64_t count, float value, cudaStream_t stream) {
  fill_kernel<float><<<blocks_for(count), kThreads, 0, stream>>>(out, count, value);
  check_launch("fill_f32");
}

void fill_i32(int32_t* out, int64_t count, int32_t value, cudaStream_t stream) {
  fill_kernel<int32_t><<<blocks_for(count), kThreads, 0, stream>>>(out, count, value);
  check_launch("fill_i32");
}

}  // namespace convnet::kernels
