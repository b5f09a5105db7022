// The emulated device's memory: every allocation is its own host allocation
// (so AddressSanitizer sees an overrun of a device buffer), tracked by address,
// so a copy can tell device from host pointers, and charged against the
// device's size (CONVNET_EMU_MEMORY_MB, default 16384), so out-of-memory
// paths run. cudaMallocAsync blocks return to the device's pool on
// cudaFreeAsync and are reused, as CUDA's pool does, by later allocations on
// the stream that freed them at once, and on other streams once that stream
// has run past the free.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "runtime_state.hpp"

struct CUmemPoolHandle_st {
  uint64_t release_threshold = 0;  // bytes kept after a synchronisation, as CUDA's default
};

namespace convnet::emu::rt {
namespace {

struct Block {
  size_t bytes = 0;
  bool pinned = false;     // page-locked host memory (cudaHostAlloc), not device memory
  bool pooled = false;     // from cudaMallocAsync
  bool pool_free = false;  // freed by cudaFreeAsync, held by the pool
  CUstream_st* freed_on = nullptr;
  uint64_t freed_at = 0;   // the stream's sequence number at the free
};

// Leaked on purpose: tensors with static lifetime are freed after main() returns.
std::map<uintptr_t, Block>& blocks() {
  static auto* map = new std::map<uintptr_t, Block>();
  return *map;
}
size_t g_used = 0;         // device bytes allocated, pool-held included
size_t g_pool_held = 0;    // of which freed and held by the pool
CUmemPoolHandle_st g_pools[kDevices];

size_t total_bytes() {
  static const size_t total = [] {
    const char* value = std::getenv("CONVNET_EMU_MEMORY_MB");
    const unsigned long long mb = value && *value ? std::strtoull(value, nullptr, 10) : 16384;
    return static_cast<size_t>(mb) << 20;
  }();
  return total;
}

std::string hex(const void* p) {
  char text[32];
  std::snprintf(text, sizeof text, "%p", p);
  return text;
}

// The block holding `p`, or null.
std::pair<const uintptr_t, Block>* find(const void* p) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  auto it = blocks().upper_bound(address);
  if (it == blocks().begin()) return nullptr;
  --it;
  const size_t size = it->second.bytes > 0 ? it->second.bytes : 1;
  return address < it->first + size ? &*it : nullptr;
}

bool free_complete(const Block& b) { return b.freed_on->done >= b.freed_at; }

void release_block(std::map<uintptr_t, Block>::iterator it) {
  if (!it->second.pinned) g_used -= it->second.bytes;
  if (it->second.pool_free) g_pool_held -= it->second.bytes;
  std::free(reinterpret_cast<void*>(it->first));
  blocks().erase(it);
}

// Gives pool-held blocks whose free has run back until at most `keep` bytes are held.
void trim(size_t keep) {
  for (auto it = blocks().begin(); it != blocks().end() && g_pool_held > keep;) {
    auto next = std::next(it);
    if (it->second.pool_free && free_complete(it->second)) release_block(it);
    it = next;
  }
}

cudaError_t allocate(void** pointer, size_t bytes, bool pooled, const char* call) {
  if (pointer == nullptr) return fail(cudaErrorInvalidValue, std::string(call) + ": null result pointer");
  *pointer = nullptr;
  if (bytes == 0) return cudaSuccess;
  if (bytes > total_bytes() - g_used)
    return fail(cudaErrorMemoryAllocation,
                std::string(call) + " of " + std::to_string(bytes) + " bytes: the emulated cuda:0 has " +
                    std::to_string(total_bytes() - g_used) + " of " + std::to_string(total_bytes()) +
                    " bytes free (CONVNET_EMU_MEMORY_MB)");
  void* p = nullptr;
  if (posix_memalign(&p, 256, bytes) != 0)  // cudaMalloc's alignment
    return fail(cudaErrorMemoryAllocation, std::string(call) + ": host memory exhausted");
  Block b;
  b.bytes = bytes;
  b.pooled = pooled;
  blocks()[reinterpret_cast<uintptr_t>(p)] = b;
  g_used += bytes;
  *pointer = p;
  return cudaSuccess;
}

// The live device block starting at `p`, or end().
std::map<uintptr_t, Block>::iterator device_block_at(const void* p) {
  auto it = blocks().find(reinterpret_cast<uintptr_t>(p));
  return it == blocks().end() || it->second.pinned || it->second.pool_free ? blocks().end() : it;
}

bool valid_device(int device) { return device >= 0 && device < kDevices; }

}  // namespace

Where where(const void* pointer) {
  std::lock_guard<std::recursive_mutex> lock(mutex());
  const auto* b = find(pointer);
  if (b == nullptr) return Where::Host;
  return b->second.pinned ? Where::Pinned : Where::Device;
}

std::string device_range_problem(const void* pointer, size_t bytes) {
  std::lock_guard<std::recursive_mutex> lock(mutex());
  const auto* b = find(pointer);
  if (b == nullptr || b->second.pinned) return hex(pointer) + " is not device memory (" + describe(pointer) + ")";
  if (b->second.pool_free) return hex(pointer) + " is device memory freed by cudaFreeAsync";
  const size_t offset = reinterpret_cast<uintptr_t>(pointer) - b->first;
  if (bytes > b->second.bytes - offset)
    return std::to_string(bytes) + " bytes at " + describe(pointer) + " run " +
           std::to_string(bytes - (b->second.bytes - offset)) + " bytes past its end";
  return "";
}

std::string describe(const void* pointer) {
  std::lock_guard<std::recursive_mutex> lock(mutex());
  const auto* b = find(pointer);
  if (b == nullptr) return "host memory " + hex(pointer);
  const std::string of = " (byte " + std::to_string(reinterpret_cast<uintptr_t>(pointer) - b->first) +
                         " of a " + std::to_string(b->second.bytes) + "-byte allocation)";
  if (b->second.pinned) return "pinned host memory " + hex(pointer) + of;
  return std::string(b->second.pool_free ? "freed " : "") + "device memory " + hex(pointer) + of;
}

void release_to_threshold() { trim(g_pools[0].release_threshold); }

}  // namespace convnet::emu::rt

using namespace convnet::emu::rt;

cudaError_t cudaMalloc(void** pointer, size_t bytes) {
  std::lock_guard<std::recursive_mutex> lock(mutex());
  return allocate(pointer, bytes, false, "cudaMalloc");
}

cudaError_t cudaFree(void* pointer) {
  if (pointer == nullptr) return cudaSuccess;
  std::lock_guard<std::recursive_mutex> lock(mutex());
  const cudaError_t pending = drain_all();  // cudaFree waits for the device
  auto it = device_block_at(pointer);
  if (it == blocks().end())
    return fail(cudaErrorInvalidValue, "cudaFree(" + hex(pointer) + "): not the start of a live device "
                                       "allocation (" + describe(pointer) + ")");
  release_block(it);
  return pending;
}

cudaError_t cudaMallocAsync(void** pointer, size_t bytes, cudaStream_t stream) {
  std::lock_guard<std::recursive_mutex> lock(mutex());
  CUstream_st* s = resolve(stream);
  for (auto& [address, b] : blocks()) {
    if (b.pool_free && b.bytes == bytes && (b.freed_on == s || free_complete(b))) {
      b.pool_free = false;
      g_pool_held -= b.bytes;
      *pointer = reinterpret_cast<void*>(address);
      return cudaSuccess;
    }
  }
  return allocate(pointer, bytes, true, "cudaMallocAsync");
}

cudaError_t cudaFreeAsync(void* pointer, cudaStream_t stream) {
  if (pointer == nullptr) return cudaSuccess;
  std::lock_guard<std::recursive_mutex> lock(mutex());
  auto it = device_block_at(pointer);
  if (it == blocks().end() || !it->second.pooled)
    return fail(cudaErrorInvalidValue, "cudaFreeAsync(" + hex(pointer) + "): not the start of a live "
                                       "cudaMallocAsync allocation (" + describe(pointer) + ")");
  CUstream_st* s = resolve(stream);
  it->second.pool_free = true;
  it->second.freed_on = s;
  it->second.freed_at = s->enqueued;
  g_pool_held += it->second.bytes;
  return cudaSuccess;
}

cudaError_t cudaHostAlloc(void** pointer, size_t bytes, unsigned) {
  std::lock_guard<std::recursive_mutex> lock(mutex());
  if (pointer == nullptr) return fail(cudaErrorInvalidValue, "cudaHostAlloc: null result pointer");
  void* p = nullptr;
  if (posix_memalign(&p, 64, bytes > 0 ? bytes : 1) != 0)
    return fail(cudaErrorMemoryAllocation, "cudaHostAlloc: host memory exhausted");
  Block b;
  b.bytes = bytes;
  b.pinned = true;
  blocks()[reinterpret_cast<uintptr_t>(p)] = b;
  *pointer = p;
  return cudaSuccess;
}

cudaError_t cudaFreeHost(void* pointer) {
  if (pointer == nullptr) return cudaSuccess;
  std::lock_guard<std::recursive_mutex> lock(mutex());
  const cudaError_t pending = drain_all();  // a queued copy may still read it
  auto it = blocks().find(reinterpret_cast<uintptr_t>(pointer));
  if (it == blocks().end() || !it->second.pinned)
    return fail(cudaErrorInvalidValue, "cudaFreeHost(" + hex(pointer) + "): not from cudaHostAlloc (" +
                                           describe(pointer) + ")");
  release_block(it);
  return pending;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  std::lock_guard<std::recursive_mutex> lock(mutex());
  if (free_bytes == nullptr || total == nullptr) return fail(cudaErrorInvalidValue, "cudaMemGetInfo: null pointer");
  *total = total_bytes();
  *free_bytes = total_bytes() - g_used;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t* pool, int device) {
  if (!valid_device(device)) return fail(cudaErrorInvalidDevice, "cudaDeviceGetDefaultMemPool: no cuda:" + std::to_string(device));
  *pool = &g_pools[device];
  return cudaSuccess;
}

cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attribute, void* value) {
  std::lock_guard<std::recursive_mutex> lock(mutex());
  if (pool == nullptr || value == nullptr || attribute != cudaMemPoolAttrReleaseThreshold)
    return fail(cudaErrorInvalidValue, "cudaMemPoolSetAttribute: only the release threshold is emulated");
  pool->release_threshold = *static_cast<uint64_t*>(value);
  return cudaSuccess;
}

cudaError_t cudaMemPoolTrimTo(cudaMemPool_t pool, size_t min_bytes_to_keep) {
  std::lock_guard<std::recursive_mutex> lock(mutex());
  if (pool == nullptr) return fail(cudaErrorInvalidValue, "cudaMemPoolTrimTo: null pool");
  trim(min_bytes_to_keep);
  return cudaSuccess;
}
