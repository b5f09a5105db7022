// Host memory for CPU tensors: a caching allocator over aligned_alloc.
//
// Why: glibc serves large blocks with mmap and returns them on free, so every
// fresh activation buffer of a training step page-faults on first touch (about
// 3 ms per 12 MB here). Keeping freed blocks for reuse makes every step after
// the first allocate nothing, as the CUDA allocator does on the GPU.
#pragma once

#include <cstddef>
#include <cstdint>

namespace convnet::host_allocator {

void* allocate(size_t bytes);               // 64-byte aligned; throws convnet::Error when out of memory
void release(void* ptr, size_t bytes);      // bytes as passed to allocate
void release_cache();                       // frees every cached block
size_t cached_bytes();
// Bytes of live allocations (as requested; cached blocks not counted), like
// cuda_hooks::live_bytes on a device: what tensors on the host hold now.
int64_t live_bytes();

}  // namespace convnet::host_allocator
