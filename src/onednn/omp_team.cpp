#include "onednn/omp_team.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <functional>

#include "cpu/parallel.hpp"

namespace convnet::onednn {
namespace {

// libgomp's ABI (GCC 4.9 on): what `#pragma omp parallel num_threads(n)` compiles to.
using GompParallel = void (*)(void (*fn)(void*), void* data, unsigned num_threads, unsigned flags);
using OmpInt = int (*)();

struct Gomp {
  GompParallel parallel = nullptr;
  OmpInt thread_num = nullptr, num_threads = nullptr;
  Gomp() {
    const char* loops = std::getenv("CONVNET_ONEDNN_LOOPS");
    if (loops && std::strcmp(loops, "serial") == 0) return;
    parallel = reinterpret_cast<GompParallel>(dlsym(RTLD_DEFAULT, "GOMP_parallel"));
    thread_num = reinterpret_cast<OmpInt>(dlsym(RTLD_DEFAULT, "omp_get_thread_num"));
    num_threads = reinterpret_cast<OmpInt>(dlsym(RTLD_DEFAULT, "omp_get_num_threads"));
    if (!thread_num || !num_threads) parallel = nullptr;
  }
};

const Gomp& gomp() {
  static const Gomp g;
  return g;
}

void trampoline(void* data) {
  const auto& f = *static_cast<const std::function<void(int, int)>*>(data);
  f(gomp().thread_num(), gomp().num_threads());
}

void run_on_team(const std::function<void(int, int)>& f) {
  const unsigned threads = static_cast<unsigned>(cpu::parallel_threads());
  gomp().parallel(trampoline, const_cast<std::function<void(int, int)>*>(&f), threads, 0);
}

}  // namespace

bool omp_team_available() { return gomp().parallel != nullptr; }

void enter_team_loops() {
  if (omp_team_available()) cpu::enter_team(run_on_team);
  else cpu::enter_serial();
}

void leave_team_loops() {
  if (omp_team_available()) cpu::leave_team();
  else cpu::leave_serial();
}

}  // namespace convnet::onednn
