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

}  // namespace convnet::cuda_hooks
