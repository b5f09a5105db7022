// What the host-backed runtime's files share (runtime.cpp: streams, events,
// copies, errors; device_memory.cpp: the arena, pools, pinned memory;
// cublas.cpp). One recursive mutex guards it all: a stream's work runs under
// it, on the host thread that synchronises.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>

#include "cuda_runtime.h"

struct CUstream_st {
  bool blocking = true;  // false: cudaStreamNonBlocking, no implicit sync with the legacy stream
  std::deque<std::pair<uint64_t, std::function<void()>>> queue;  // (sequence number, work)
  uint64_t enqueued = 0;  // sequence number of the last work queued
  uint64_t done = 0;      // ... and of the last work run (or dropped after a fault)
};

namespace convnet::emu::rt {

std::recursive_mutex& mutex();
constexpr int kDevices = 1;

// nullptr is the legacy default stream.
CUstream_st* resolve(cudaStream_t stream);
void enqueue(cudaStream_t stream, std::function<void()> work);
// Runs `stream`'s work up to sequence number `until` on this thread; a fault
// drops the rest up to `until` and comes back as cudaErrorLaunchFailure.
cudaError_t drain(CUstream_st* stream, uint64_t until);
cudaError_t drain_all();
// After a synchronisation: the pool gives back what passes its release threshold.
void release_to_threshold();

// Records `error` as this thread's last error, with a detail for
// cudaGetErrorString; returns it.
cudaError_t fail(cudaError_t error, const std::string& detail);

// Where a pointer lives (device_memory.cpp).
enum class Where { Host, Pinned, Device };
Where where(const void* pointer);
// Why [pointer, pointer + bytes) is not usable device memory, or "".
std::string device_range_problem(const void* pointer, size_t bytes);
// "device memory (byte 16 of a 1024-byte allocation)", "pinned host memory", ...
std::string describe(const void* pointer);

}  // namespace convnet::emu::rt
