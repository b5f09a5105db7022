// Launch wrappers for every kernel in kernels/*.cu, as plain C++ so code outside
// kernels/ compiles with the host compiler. Each wrapper checks the launch and
// throws convnet::Error on failure. All pointers are device pointers.
#pragma once

#include <cstdint>

struct CUstream_st;
using cudaStream_t = CUstream_st*;

namespace convnet::kernels {

// ---- elementwise.cu
void fill_f32(float* out, int64_t count, float value, cudaStream_t stream);
void fill_i32(int32_t* out, int64_t count, int32_t value, cudaStream_t stream);

// ---- gather.cu
// out[r, :] = source[indices[r], :] for r < rows; rows hold row_size elements.
// Indices must lie in the source's row range (not checked on the device).
void gather_rows_f32(const float* source, const int32_t* indices, int64_t rows, int64_t row_size,
                     float* out, cudaStream_t stream);
void gather_rows_i32(const int32_t* source, const int32_t* indices, int64_t rows,
                     int64_t row_size, int32_t* out, cudaStream_t stream);

}  // namespace convnet::kernels
