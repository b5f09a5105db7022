// CONVNET_LAUNCH's emulated form (kernels/launch.cuh): the kernel's arguments
// are copied at the launch, as CUDA copies them, and the launch goes through
// one function, emu::launch: runtime_min.cpp runs the grid at once, the
// host-backed runtime (runtime.cpp) queues the closure on the launch's stream.
#pragma once

#include <cstddef>
#include <functional>
#include <tuple>
#include <utility>

#include "emu/kernel.hpp"

struct CUstream_st;
using cudaStream_t = CUstream_st*;

namespace convnet::emu {

struct LaunchConfig {
  const char* kernel;      // its name as written at the launch
  const char* file;        // the launch site
  int line;
  const void* kernel_key;  // the function, for per-kernel attributes (shared memory opt-in)
  dim3 grid, block;
  size_t shared_bytes;
  cudaStream_t stream;
};

// Checks the launch limits, then runs the grid or queues it (see above).
void launch(const LaunchConfig& config, std::function<void()> thread_body);
// Throws convnet::Error naming the kernel and site when the launch breaks a
// limit (or CONVNET_EMU_ORDER is malformed): what the device reports at the launch.
void check_launch(const LaunchConfig& config);
// Runs `thread_body` once per CUDA thread of the grid, now, on this host thread;
// throws convnet::Error naming the kernel, site, block and thread on a fault.
void run_grid(const LaunchConfig& config, const std::function<void()>& thread_body);

// Shared memory limits (sm_90): 48 KB a block unless the kernel opts in to more
// dynamic shared memory (cudaFuncSetAttribute), up to 227 KB with the static.
constexpr size_t kSharedDefaultBytes = 48 * 1024;
constexpr size_t kSharedOptInBytes = 227 * 1024;
// The emulated __shared__ variables of the whole program together: the static
// shared memory charged to every kernel (an upper bound of its own).
size_t static_shared_bytes();
// False when static_shared_bytes() + bytes passes kSharedOptInBytes.
bool set_max_dynamic_shared(const void* kernel_key, size_t bytes);

template <typename... Params>
class Launcher {
 public:
  Launcher(void (*kernel)(Params...), const LaunchConfig& config) : kernel_(kernel), config_(config) {}

  template <typename... Args>
  void operator()(Args&&... args) const {
    static_assert(sizeof...(Args) == sizeof...(Params), "kernel launched with the wrong arguments");
    launch(config_, [kernel = kernel_, params = std::tuple<Params...>(std::forward<Args>(args)...)] {
      std::apply(kernel, params);
    });
  }

 private:
  void (*kernel_)(Params...);
  LaunchConfig config_;
};

template <typename... Params>
Launcher<Params...> make_launcher(void (*kernel)(Params...), const char* name, const char* file,
                                  int line, dim3 grid, dim3 block, size_t shared_bytes,
                                  cudaStream_t stream) {
  return Launcher<Params...>(kernel, LaunchConfig{name, file, line,
                                                  reinterpret_cast<const void*>(kernel), grid,
                                                  block, shared_bytes, stream});
}

}  // namespace convnet::emu

#define CONVNET_EMU_LAUNCH(kernel, grid, block, shared_bytes, stream) \
  ::convnet::emu::make_launcher(kernel, #kernel, __FILE__, __LINE__, grid, block, shared_bytes, stream)
