// Row gather: out[r, :] = source[indices[r], :], the batch assembly of the
// DataLoader's device-resident mode (indices are the epoch's permutation).
// Layout: contiguous rows of row_size elements. Decomposition: a grid-stride
// loop over the rows * row_size outputs, so consecutive threads write
// consecutive addresses and read one contiguous source row (coalesced both ways).
// f32 and i32 share one kernel over 4-byte words: a gather only moves bits.
#include <cuda_runtime.h>

#include <cstdint>

#include "convnet/error.hpp"
#include "kernels/kernels.hpp"
#include "kernels/launch.cuh"

namespace convnet::kernels {
namespace {

__global__ void gather_rows_kernel(const uint32_t* __restrict__ source,
                                   const int32_t* __restrict__ indices, int64_t rows,
                                   int64_t row_size, uint32_t* __restrict__ out) {
  const int64_t total = rows * row_size;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = i / row_size;
    out[i] = source[static_cast<int64_t>(indices[row]) * row_size + (i - row * row_size)];
  }
}

void gather_words(const void* source, const int32_t* indices, int64_t rows, int64_t row_size,
                  void* out, cudaStream_t stream, const char* name) {
  if (rows <= 0 || row_size <= 0) return;
  CONVNET_LAUNCH(gather_rows_kernel, blocks_for(rows * row_size), kThreads, 0, stream)(
      static_cast<const uint32_t*>(source), indices, rows, row_size, static_cast<uint32_t*>(out));
  check_launch(name, stream);
}

}  // namespace

static_assert(sizeof(float) == sizeof(uint32_t) && sizeof(int32_t) == sizeof(uint32_t));

void gather_rows_f32(const float* source, const int32_t* indices, int64_t rows, int64_t row_size,
                     float* out, cudaStream_t stream) {
  gather_words(source, indices, rows, row_size, out, stream, "gather_rows_f32");
}

void gather_rows_i32(const int32_t* source, const int32_t* indices, int64_t rows,
                     int64_t row_size, int32_t* out, cudaStream_t stream) {
  gather_words(source, indices, rows, row_size, out, stream, "gather_rows_i32");
}

}  // namespace convnet::kernels
