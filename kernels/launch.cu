// The launch settings shared by every kernel family (launch.cuh).
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "kernels/launch.cuh"

namespace convnet::kernels {
namespace {
std::atomic<int> g_grid_cap{0};
}  // namespace

void set_grid_cap(int blocks) { g_grid_cap.store(blocks > 0 ? blocks : 0); }
int grid_cap() { return g_grid_cap.load(std::memory_order_relaxed); }

bool sync_after_launch() {
  static const bool enabled = [] {
    const char* value = std::getenv("CONVNET_CUDA_SYNC");
    return value != nullptr && std::strcmp(value, "0") != 0 && value[0] != '\0';
  }();
  return enabled;
}

}  // namespace convnet::kernels
