#include "core/host_allocator.hpp"

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "convnet/error.hpp"

namespace convnet::host_allocator {
namespace {

// Small blocks come from malloc's own free lists quickly; only big ones are cached.
constexpr size_t kCacheFrom = 64 * 1024;
// A bound on idle memory: beyond it, freed blocks go back to the system.
constexpr size_t kMaxCached = size_t{2} << 30;

size_t round_up(size_t bytes) {
  const size_t granule = bytes >= kCacheFrom ? 4096 : 64;
  return (bytes + granule - 1) / granule * granule;
}

struct Cache {
  std::mutex mutex;
  std::map<size_t, std::vector<void*>> free_blocks;  // by rounded size
  size_t bytes = 0;
};

std::atomic<int64_t> g_live_bytes{0};

Cache& cache() {
  static auto* instance = new Cache();  // leaked: tensors may die after static destruction
  return *instance;
}

}  // namespace

void* allocate(size_t bytes) {
  const size_t size = round_up(bytes == 0 ? 1 : bytes);
  if (size >= kCacheFrom) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free_blocks.find(size);
    if (it != c.free_blocks.end() && !it->second.empty()) {
      void* ptr = it->second.back();
      it->second.pop_back();
      c.bytes -= size;
      g_live_bytes += static_cast<int64_t>(bytes);
      return ptr;
    }
  }
  void* ptr = std::aligned_alloc(64, size);
  if (!ptr && size >= kCacheFrom) {
    release_cache();
    ptr = std::aligned_alloc(64, size);
  }
  CONVNET_CHECK(ptr != nullptr, "allocate: out of host memory allocating ", bytes, " bytes");
  g_live_bytes += static_cast<int64_t>(bytes);
  return ptr;
}

void release(void* ptr, size_t bytes) {
  if (!ptr) return;
  g_live_bytes -= static_cast<int64_t>(bytes);
  const size_t size = round_up(bytes == 0 ? 1 : bytes);
  if (size >= kCacheFrom) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    if (c.bytes + size <= kMaxCached) {
      c.free_blocks[size].push_back(ptr);
      c.bytes += size;
      return;
    }
  }
  std::free(ptr);
}

void release_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  for (auto& [size, blocks] : c.free_blocks) {
    for (void* p : blocks) std::free(p);
    blocks.clear();
  }
  c.bytes = 0;
}

size_t cached_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.bytes;
}

int64_t live_bytes() { return g_live_bytes.load(); }

}  // namespace convnet::host_allocator
