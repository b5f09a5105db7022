// The launch settings shared by every kernel family (launch.cuh).
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "kernels/launch.cuh"

namespace convnet::kernels {
namespace {
constexpr int kFromEnvironment = -1;
std::atomic<int> g_grid_cap{kFromEnvironment};

// CONVNET_CUDA_GRID_CAP=N caps every grid-stride launch at N blocks until
// set_grid_cap says otherwise: a debugging aid, and the emulated CI stage's way
// of making every grid-stride loop wrap (and run faster on fibers).
int grid_cap_from_environment() {
  const char* value = std::getenv("CONVNET_CUDA_GRID_CAP");
  if (value == nullptr || value[0] == '\0') return 0;
  char* end = nullptr;
  const long blocks = std::strtol(value, &end, 10);
  CONVNET_CHECK(*end == '\0' && blocks >= 0 && blocks <= 65535, "CONVNET_CUDA_GRID_CAP=", value,
                " is not a block count in [0, 65535] (0: no cap)");
  return static_cast<int>(blocks);
}
}  // namespace

void set_grid_cap(int blocks) { g_grid_cap.store(blocks > 0 ? blocks : 0); }
int grid_cap() {
  const int cap = g_grid_cap.load(std::memory_order_relaxed);
  if (cap != kFromEnvironment) return cap;
  static const int from_environment = grid_cap_from_environment();  // throws once if malformed
  return from_environment;
}

bool sync_after_launch() {
  static const bool enabled = [] {
    const char* value = std::getenv("CONVNET_CUDA_SYNC");
    return value != nullptr && std::strcmp(value, "0") != 0 && value[0] != '\0';
  }();
  return enabled;
}

}  // namespace convnet::kernels
