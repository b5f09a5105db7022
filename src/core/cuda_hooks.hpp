// What core needs from CUDA, as plain C++. Implemented in src/cuda/ when the
// build has CUDA, and by src/stub/cuda_stub.cpp (which throws) when it does not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "convnet/tensor.hpp"

namespace convnet::cuda_hooks {

bool compiled();
int device_count();                       // 0 when there is no GPU or driver
std::string unavailable_reason();         // "" when a GPU is usable
void* allocate(int device, size_t bytes);  // from the caching allocator
void release(int device, void* ptr, size_t bytes);
// Copies between host and device or device and device; synchronous w.r.t. the host.
void copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);
void fill(int device, void* ptr, DType dtype, int64_t count, float value);
// Page-locked host memory for fast host-to-device copies; ordinary 64-byte-aligned
// host memory when no GPU is usable (so pinned tensors work in every build).
void* allocate_pinned(size_t bytes);
void release_pinned(void* ptr);
// out[r, :] = source[indices[r], :] for r < rows, rows of row_size elements of
// `dtype`; every pointer is on `device`. Runs on the default stream.
void gather_rows(int device, DType dtype, const void* source, const int32_t* indices, int64_t rows,
                 int64_t row_size, void* out);

}  // namespace convnet::cuda_hooks
