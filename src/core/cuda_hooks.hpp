// What core, data and the tests need from the CUDA device runtime, as plain C++.
// Implemented in src/cuda/ when the build has CUDA, and by src/stub/cuda_stub.cpp
// (which throws, or does the host-only equivalent) when it does not.
//
// Every call works on the context stream of its device (src/cuda/context.hpp):
// work is ordered on that stream, and only reads back to the host wait for it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "convnet/tensor.hpp"

namespace convnet {
class Backend;
}

namespace convnet::cuda_hooks {

// The process-wide CudaBackend (src/cuda/), or null in a build without CUDA.
Backend* cuda_backend();

bool compiled();
int device_count();                       // 0 when there is no GPU or driver
std::string unavailable_reason();         // "" when a GPU is usable

// Device memory (CONVNET_CUDA_ALLOCATOR: "async" stream-ordered pool, the
// default, or "caching" exact-size bins). Out of memory is a convnet::Error
// naming the requested and the free bytes.
void* allocate(int device, size_t bytes);
void release(int device, void* ptr, size_t bytes);
int64_t live_bytes(int device);           // bytes held by live allocations
const char* allocator_name();             // "async" or "caching"
void release_cache(int device);           // returns cached memory to the driver

// Host to device and device to device copies are asynchronous on the stream
// (from pageable host memory the source may be reused at once; from pinned
// memory only after the stream reaches the copy). Device to host waits for the
// stream, then raises any error a kernel flagged (a bad label).
void copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);
// Waits for the device's stream and raises flagged kernel errors.
void synchronize(int device);
void fill(int device, void* ptr, DType dtype, int64_t count, float value);
// Page-locked host memory for fast host-to-device copies; ordinary 64-byte-aligned
// host memory when no GPU is usable (so pinned tensors work in every build).
void* allocate_pinned(size_t bytes);
void release_pinned(void* ptr);
// out[r, :] = source[indices[r], :] for r < rows, rows of row_size elements of
// `dtype`; every pointer is on `device`.
void gather_rows(int device, DType dtype, const void* source, const int32_t* indices, int64_t rows,
                 int64_t row_size, void* out);

// Events: record a point in a device's stream, wait for it from the host.
void* create_event();
void record_event(void* event, int device);
void wait_event(void* event);
void destroy_event(void* event);

}  // namespace convnet::cuda_hooks
