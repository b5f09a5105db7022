// Which device allocator a device gets, as plain C++ so host tests check it.
// CONVNET_CUDA_ALLOCATOR asks for "async" (CUDA's stream-ordered pool, the
// default) or "caching" (our bins). A device whose driver reports no memory-pool
// support (cudaDevAttrMemoryPoolsSupported = 0: some virtualised GPUs, old
// drivers) gets the caching bins instead of failing at its first allocation,
// and the process says so once (allocator_note).
#pragma once

#include <cstring>
#include <string>

#include "convnet/error.hpp"

namespace convnet::cuda_hooks {

enum class AllocatorKind { Async, Caching };

// The strategy the environment asks for; anything else is an Error.
inline AllocatorKind requested_allocator(const char* env_value) {
  if (env_value == nullptr || env_value[0] == '\0' || std::strcmp(env_value, "async") == 0)
    return AllocatorKind::Async;
  CONVNET_CHECK(std::strcmp(env_value, "caching") == 0, "CONVNET_CUDA_ALLOCATOR=", env_value,
                ": expected \"async\" (cudaMallocAsync, the default) or \"caching\"");
  return AllocatorKind::Caching;
}

inline AllocatorKind allocator_for_device(AllocatorKind requested, bool pools_supported) {
  return requested == AllocatorKind::Async && !pools_supported ? AllocatorKind::Caching : requested;
}

// The one line printed when a device falls back; empty when it does not.
inline std::string allocator_note(int device, AllocatorKind requested, bool pools_supported) {
  if (allocator_for_device(requested, pools_supported) == requested) return "";
  return "convnet: cuda:" + std::to_string(device) +
         " has no stream-ordered memory pools (cudaDevAttrMemoryPoolsSupported = 0): "
         "using the caching allocator instead of cudaMallocAsync";
}

inline const char* allocator_kind_name(AllocatorKind kind) {
  return kind == AllocatorKind::Async ? "async" : "caching";
}

}  // namespace convnet::cuda_hooks
