// The emulated device: a launch runs its blocks one after another on the
// calling host thread; each CUDA thread is a fiber. Within a block, warps run
// one at a time up to the next __syncthreads, in the order CONVNET_EMU_ORDER
// sets (forward, reverse, random:SEED), which is the hazard a real SM exposes:
// a warp that reads shared memory before a barrier sees what the warps run
// before it wrote, and 0xFF poison for the rest. Lanes of a warp run one after
// another up to their next warp call (shuffle, __syncwarp), whose rule is then
// checked and whose values are exchanged. Every broken rule stops the launch
// with a convnet::Error naming kernel, launch site, block, thread and source line.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "convnet/error.hpp"
#include "emu/launch.hpp"
#include "emu/runtime_api.hpp"
#include "fiber.hpp"

// Bounds of the shared-variable section, from the linker (weak: a program may have none).
extern "C" char __start_convnet_emu_shared[] __attribute__((weak));
extern "C" char __stop_convnet_emu_shared[] __attribute__((weak));

namespace convnet::emu {
namespace {

constexpr unsigned kWarp = 32;
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CONVNET_EMU_BIG_FRAMES 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(CONVNET_EMU_TSAN)
#define CONVNET_EMU_BIG_FRAMES 1
#endif
#if defined(CONVNET_EMU_BIG_FRAMES)
constexpr size_t kStackBytes = 512 * 1024;  // sanitizers' frames are several times larger
#else
constexpr size_t kStackBytes = 64 * 1024;
#endif

enum class State { Ready, Barrier, Warp, Exited };
enum class WarpCall { Shuffle, SyncWarp };

struct Thread {
  Fiber fiber;
  uint3 idx{};
  unsigned lane = 0;
  State state = State::Ready;
  Site site{nullptr, 0};  // of the barrier or warp call it waits at
  WarpCall call = WarpCall::Shuffle;
  ShuffleKind kind = ShuffleKind::Index;
  unsigned mask = 0;
  int arg = 0, width = 0;
  uint64_t value = 0, result = 0;
  // Race mode: barriers passed, and the TSan sync tokens of this lane's warp
  // calls (released at arrival, alternating, so a lane that runs ahead to its
  // next call never lends that later history to a lane still to resume).
  unsigned barriers = 0, warp_calls = 0, parity = 0, settled_parity = 0;
  char warp_token[2] = {};
};

enum class Order { Forward, Reverse, Random };

// One launch in progress on this host thread.
struct Grid {
  const LaunchConfig* config = nullptr;
  const std::function<void()>* body = nullptr;
  std::vector<Thread> threads;
  Thread* current = nullptr;
  std::exception_ptr error;  // thrown by a thread's body
  std::vector<unsigned char> dynamic_shared;
  Order order = Order::Forward;
  std::mt19937 random;
  // Race mode's sync tokens: the host's writes before a block, all of the
  // block's threads at its end, and __syncthreads (alternating phases).
  char block_start = 0, block_end = 0, barrier_token[2] = {};
};
thread_local Grid* t_grid = nullptr;

std::mutex g_launch_mutex;  // one launch at a time: the shared section is one copy
std::mutex g_opt_in_mutex;
std::unordered_map<const void*, size_t> g_dynamic_opt_in;

std::string where(const Grid& grid, const Thread* t) {
  const LaunchConfig& c = *grid.config;
  std::string s = detail::concat("kernel ", c.kernel, " (launched at ", c.file, ":", c.line, ")");
  if (t != nullptr) {
    s += detail::concat(", block (", blockIdx.x, ",", blockIdx.y, ",", blockIdx.z, "), thread (",
                        t->idx.x, ",", t->idx.y, ",", t->idx.z, ")");
    if (t->state != State::Exited && t->site.file != nullptr)
      s += detail::concat(" at ", t->site.file, ":", t->site.line);
  }
  return s;
}

[[noreturn]] void fault(const Grid& grid, const Thread* t, const std::string& what) {
  throw Error(detail::concat("emu: ", what, " in ", where(grid, t)));
}

Order parse_order(const Grid& grid, std::mt19937& random) {
  const char* value = std::getenv("CONVNET_EMU_ORDER");
  if (value == nullptr || *value == '\0' || std::strcmp(value, "forward") == 0) return Order::Forward;
  if (std::strcmp(value, "reverse") == 0) return Order::Reverse;
  if (std::strncmp(value, "random:", 7) == 0) {
    char* end = nullptr;
    const unsigned long long seed = std::strtoull(value + 7, &end, 10);
    if (end != value + 7 && *end == '\0') {
      random.seed(static_cast<std::mt19937::result_type>(seed));
      return Order::Random;
    }
  }
  fault(grid, nullptr, detail::concat("CONVNET_EMU_ORDER=", value,
                                      " is not forward, reverse or random:SEED"));
}

void check_limits(const Grid& grid) {
  const LaunchConfig& c = *grid.config;
  const uint64_t threads = uint64_t{c.block.x} * c.block.y * c.block.z;
  if (threads == 0 || c.grid.x == 0 || c.grid.y == 0 || c.grid.z == 0)
    fault(grid, nullptr, detail::concat("empty launch: grid (", c.grid.x, ",", c.grid.y, ",",
                                        c.grid.z, "), block (", c.block.x, ",", c.block.y, ",",
                                        c.block.z, ")"));
  if (threads > 1024 || c.block.x > 1024 || c.block.y > 1024 || c.block.z > 64)
    fault(grid, nullptr, detail::concat("block (", c.block.x, ",", c.block.y, ",", c.block.z,
                                        ") has ", threads, " threads; the limit is 1024 ",
                                        "(and 1024, 1024, 64 per dimension)"));
  if (c.grid.x > 2147483647u || c.grid.y > 65535 || c.grid.z > 65535)
    fault(grid, nullptr, detail::concat("grid (", c.grid.x, ",", c.grid.y, ",", c.grid.z,
                                        ") passes the limits 2^31-1, 65535, 65535"));
  const size_t static_bytes = static_shared_bytes();
  size_t dynamic_limit = kSharedDefaultBytes > static_bytes ? kSharedDefaultBytes - static_bytes : 0;
  {
    std::lock_guard<std::mutex> lock(g_opt_in_mutex);
    const auto it = g_dynamic_opt_in.find(c.kernel_key);
    if (it != g_dynamic_opt_in.end()) dynamic_limit = it->second;
  }
  if (c.shared_bytes > dynamic_limit)
    fault(grid, nullptr, detail::concat(c.shared_bytes, " bytes of dynamic shared memory and ",
                                        static_bytes, " static pass the ", dynamic_limit,
                                        " bytes this kernel may have (sm_90: 48 KB a block, up "
                                        "to 227 KB after cudaFuncSetAttribute)"));
}

void poison_shared(Grid& grid) {
  if (__start_convnet_emu_shared != nullptr)
    std::memset(__start_convnet_emu_shared, 0xFF, static_shared_bytes());
  std::fill(grid.dynamic_shared.begin(), grid.dynamic_shared.end(), 0xFF);
}

void thread_entry(void* data) {
  Grid& grid = *t_grid;
  (void)data;
  race_acquire(&grid.block_start);
  try {
    (*grid.body)();
  } catch (...) {
    grid.error = std::current_exception();
  }
  race_release(&grid.block_end);
}

// After a fault, the host takes every thread's history (each released it at
// the call it stopped at), so freeing the launch's buffers is not a race.
void race_acquire_all(const Grid& grid) {
  if (!kRaceMode) return;
  race_acquire(&grid.block_end);
  race_acquire(&grid.barrier_token[0]);
  race_acquire(&grid.barrier_token[1]);
  for (const Thread& t : grid.threads) {
    race_acquire(&t.warp_token[0]);
    race_acquire(&t.warp_token[1]);
  }
}

void run_thread(Grid& grid, Thread& t) {
  grid.current = &t;
  threadIdx = t.idx;
  t.fiber.resume();
  grid.current = nullptr;
  if (t.fiber.finished()) t.state = State::Exited;
  if (grid.error) std::rethrow_exception(grid.error);
}

Thread* lane_thread(Grid& grid, unsigned warp, unsigned lane) {
  const size_t i = size_t{warp} * kWarp + lane;
  return i < grid.threads.size() ? &grid.threads[i] : nullptr;
}

const char* call_name(const Thread& t) {
  if (t.call == WarpCall::SyncWarp) return "__syncwarp";
  switch (t.kind) {
    case ShuffleKind::Index: return "__shfl_sync";
    case ShuffleKind::Up: return "__shfl_up_sync";
    case ShuffleKind::Down: return "__shfl_down_sync";
    case ShuffleKind::Xor: return "__shfl_xor_sync";
  }
  return "?";
}

std::string hex(unsigned mask) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "0x%08x", mask);
  return buffer;
}

unsigned source_lane(const Thread& t) {
  const unsigned width = static_cast<unsigned>(t.width);
  const unsigned segment = t.lane & ~(width - 1);
  const unsigned arg = static_cast<unsigned>(t.arg);
  switch (t.kind) {
    case ShuffleKind::Index: return segment + (arg & (width - 1));
    case ShuffleKind::Up: return t.lane >= segment + arg ? t.lane - arg : t.lane;
    case ShuffleKind::Down: return t.lane + arg < segment + width ? t.lane + arg : t.lane;
    case ShuffleKind::Xor: {
      const unsigned src = t.lane ^ arg;  // later groups give back the caller's own value
      return src < segment + width ? src : t.lane;
    }
  }
  return t.lane;
}

// Every lane of `warp` waits at a barrier, a warp call, or has exited. Completes
// each warp call whose named lanes all wait at a matching call (exchanging
// shuffle values); a call that can never complete, or none that can, is a fault.
void settle_warp_calls(Grid& grid, unsigned warp) {
  bool complete[kWarp] = {};
  bool any_complete = false;
  const Thread* blocked = nullptr;  // the first call waiting on a lane at another call
  std::string blocked_why;
  for (unsigned lane = 0; lane < kWarp; ++lane) {
    Thread* t = lane_thread(grid, warp, lane);
    if (t == nullptr || t->state != State::Warp) continue;
    if ((t->mask >> lane & 1u) == 0)
      fault(grid, t, detail::concat(call_name(*t), " with mask ", hex(t->mask),
                                    ", which leaves out the calling lane ", lane));
    complete[lane] = true;
    for (unsigned other = 0; other < kWarp; ++other) {
      if ((t->mask >> other & 1u) == 0) continue;
      Thread* o = lane_thread(grid, warp, other);
      if (o == nullptr || o->state == State::Exited) {
        if (t->call == WarpCall::SyncWarp) continue;  // __syncwarp lets named lanes exit
        fault(grid, t, detail::concat(call_name(*t), " with mask ", hex(t->mask), " names lane ",
                                      other, o == nullptr ? ", which the block does not have"
                                                          : ", which has exited"));
      }
      if (o->state == State::Barrier)
        fault(grid, t, detail::concat(call_name(*t), " with mask ", hex(t->mask), " names lane ",
                                      other, ", which waits at __syncthreads at ", o->site.file,
                                      ":", o->site.line, " (diverged)"));
      const bool same = o->call == t->call && o->mask == t->mask &&
                        (t->call == WarpCall::SyncWarp ||
                         (o->kind == t->kind && o->width == t->width && o->site.line == t->site.line &&
                          std::strcmp(o->site.file, t->site.file) == 0));
      if (!same) {
        complete[lane] = false;
        if (blocked == nullptr) {
          blocked = t;
          blocked_why = detail::concat(call_name(*t), " with mask ", hex(t->mask), " names lane ",
                                       other, ", which is at ", call_name(*o), " with mask ",
                                       hex(o->mask), " at ", o->site.file, ":", o->site.line,
                                       " (diverged)");
        }
        break;
      }
    }
    any_complete = any_complete || complete[lane];
  }
  // Another group may complete first (lanes 0-15 shuffle, 16-31 wait at
  // __syncwarp); only when none can is the warp stuck.
  if (!any_complete) fault(grid, blocked, blocked_why);
  for (unsigned lane = 0; lane < kWarp; ++lane) {
    Thread* t = lane_thread(grid, warp, lane);
    if (!complete[lane] || t->call != WarpCall::Shuffle) continue;
    const unsigned src = source_lane(*t);
    if (src != lane && (t->mask >> src & 1u) == 0)
      fault(grid, t, detail::concat(call_name(*t), " reads lane ", src, ", outside its mask ",
                                    hex(t->mask)));
    t->result = lane_thread(grid, warp, src)->value;
  }
  for (unsigned lane = 0; lane < kWarp; ++lane)
    if (complete[lane]) {
      Thread* t = lane_thread(grid, warp, lane);
      t->state = State::Ready;
      t->settled_parity = t->parity;
    }
}

// Runs the lanes of `warp` until each waits at a barrier or has exited.
void run_warp(Grid& grid, unsigned warp) {
  for (;;) {
    bool at_warp_call = false;
    for (unsigned lane = 0; lane < kWarp; ++lane) {
      Thread* t = lane_thread(grid, warp, lane);
      if (t == nullptr) break;
      if (t->state == State::Ready) run_thread(grid, *t);
      at_warp_call = at_warp_call || t->state == State::Warp;
    }
    if (!at_warp_call) return;
    settle_warp_calls(grid, warp);
  }
}

// All threads wait at a barrier or have exited: either the block is done, or
// every thread waits at the same __syncthreads and all are released.
bool release_barrier(Grid& grid) {
  const Thread* waiting = nullptr;
  const Thread* exited = nullptr;
  for (const Thread& t : grid.threads) {
    if (t.state == State::Exited) {
      if (exited == nullptr) exited = &t;
    } else if (waiting == nullptr) {
      waiting = &t;
    } else if (t.site.line != waiting->site.line || std::strcmp(t.site.file, waiting->site.file) != 0) {
      fault(grid, &t, detail::concat("barrier divergence: this thread waits at a different "
                                     "__syncthreads than thread (", waiting->idx.x, ",",
                                     waiting->idx.y, ",", waiting->idx.z, ") at ",
                                     waiting->site.file, ":", waiting->site.line));
    }
  }
  if (waiting == nullptr) return false;
  if (exited != nullptr)
    fault(grid, waiting, detail::concat("barrier divergence: thread (", exited->idx.x, ",",
                                        exited->idx.y, ",", exited->idx.z,
                                        ") exited while this thread waits at __syncthreads"));
  for (Thread& t : grid.threads)
    if (t.state == State::Barrier) t.state = State::Ready;
  return true;
}

void run_block(Grid& grid, FiberStacks& stacks) {
  poison_shared(grid);
  const dim3 b = grid.config->block;
  size_t i = 0;
  for (unsigned z = 0; z < b.z; ++z)
    for (unsigned y = 0; y < b.y; ++y)
      for (unsigned x = 0; x < b.x; ++x, ++i) {
        Thread& t = grid.threads[i];
        t.idx = {x, y, z};
        t.lane = static_cast<unsigned>(i % kWarp);
        t.state = State::Ready;
        t.site = {nullptr, 0};
        t.barriers = t.warp_calls = 0;
        t.fiber.start(stacks.bottom(i), stacks.size(), stacks.race_fiber(i), &thread_entry, nullptr);
      }
  race_release(&grid.block_start);  // after the poisoning: the block's threads see it
  const unsigned warps = static_cast<unsigned>((grid.threads.size() + kWarp - 1) / kWarp);
  std::vector<unsigned> order(warps);
  for (unsigned w = 0; w < warps; ++w) order[w] = w;
  if (grid.order == Order::Reverse) std::reverse(order.begin(), order.end());
  do {
    if (grid.order == Order::Random) std::shuffle(order.begin(), order.end(), grid.random);
    for (unsigned w : order) run_warp(grid, w);
  } while (release_barrier(grid));
  race_acquire(&grid.block_end);
}

Thread& current_thread(const char* call) {
  Grid* grid = t_grid;
  if (grid == nullptr || grid->current == nullptr)
    throw Error(detail::concat("emu: ", call, " called outside a kernel"));
  return *grid->current;
}

}  // namespace

size_t static_shared_bytes() {
  return __start_convnet_emu_shared == nullptr
             ? 0
             : static_cast<size_t>(__stop_convnet_emu_shared - __start_convnet_emu_shared);
}

bool set_max_dynamic_shared(const void* kernel_key, size_t bytes) {
  if (bytes + static_shared_bytes() > kSharedOptInBytes) return false;
  std::lock_guard<std::mutex> lock(g_opt_in_mutex);
  g_dynamic_opt_in[kernel_key] = bytes;
  return true;
}

void check_launch(const LaunchConfig& config) {
  Grid grid;
  grid.config = &config;
  check_limits(grid);
  (void)parse_order(grid, grid.random);
}

void run_grid(const LaunchConfig& config, const std::function<void()>& thread_body) {
  std::lock_guard<std::mutex> lock(g_launch_mutex);
  static FiberStacks stacks(kStackBytes);  // kept: stacks are reused by every launch
  Grid grid;
  grid.config = &config;
  grid.body = &thread_body;
  check_limits(grid);
  grid.order = parse_order(grid, grid.random);
  const dim3 b = config.block;
  grid.threads.resize(size_t{b.x} * b.y * b.z);
  grid.dynamic_shared.resize(config.shared_bytes);
  stacks.reserve(grid.threads.size());
  struct Restore {  // leave no dangling grid behind when a fault unwinds
    ~Restore() { t_grid = nullptr; }
  } restore;
  t_grid = &grid;
  blockDim = config.block;
  gridDim = config.grid;
  try {
    for (unsigned z = 0; z < config.grid.z; ++z)
      for (unsigned y = 0; y < config.grid.y; ++y)
        for (unsigned x = 0; x < config.grid.x; ++x) {
          blockIdx = {x, y, z};
          run_block(grid, stacks);
        }
  } catch (...) {
    race_acquire_all(grid);
    stacks.renew_race_fibers(grid.threads.size());
    throw;
  }
}

void misaligned_access(const void* address, unsigned alignment, const char* type) {
  const std::string what = detail::concat("misaligned ", type, " access at ", address, " (", alignment,
                                          "-byte alignment required)");
  Grid* grid = t_grid;
  if (grid == nullptr || grid->current == nullptr) throw Error(detail::concat("emu: ", what));
  fault(*grid, grid->current, what);
}

void* dynamic_shared() {
  current_thread("dynamic shared memory");
  return t_grid->dynamic_shared.empty() ? nullptr : t_grid->dynamic_shared.data();
}

void syncthreads(Site site) {
  Thread& t = current_thread("__syncthreads");
  t.state = State::Barrier;
  t.site = site;
  const unsigned phase = t.barriers++ & 1u;
  race_release(&t_grid->barrier_token[phase]);
  Fiber::yield();
  race_acquire(&t_grid->barrier_token[phase]);
}

namespace {
// Race mode: a lane at a warp call releases its history into a token; after
// __syncwarp it takes the history of every lane its mask names (shuffles
// exchange registers and order no memory, as on the device).
void race_arrive(Thread& t) {
  t.parity = t.warp_calls++ & 1u;
  race_release(&t.warp_token[t.parity]);
}
}  // namespace

void syncwarp(Site site, unsigned mask) {
  Thread& t = current_thread("__syncwarp");
  t.state = State::Warp;
  t.call = WarpCall::SyncWarp;
  t.site = site;
  t.mask = mask;
  race_arrive(t);
  Fiber::yield();
  if (kRaceMode) {
    Grid& grid = *t_grid;
    const unsigned warp = static_cast<unsigned>((&t - grid.threads.data()) / kWarp);
    for (unsigned lane = 0; lane < kWarp; ++lane) {
      const Thread* o = lane_thread(grid, warp, lane);
      if ((mask >> lane & 1u) != 0 && o != nullptr && o->state != State::Exited)
        race_acquire(&o->warp_token[o->settled_parity]);
    }
  }
}

uint64_t shuffle(Site site, ShuffleKind kind, unsigned mask, uint64_t bits, int arg, int width) {
  Thread& t = current_thread("a warp shuffle");
  if (width < 1 || width > 32 || (width & (width - 1)) != 0)
    fault(*t_grid, &t, detail::concat("shuffle width ", width, " is not a power of 2 up to 32"));
  t.state = State::Warp;
  t.call = WarpCall::Shuffle;
  t.kind = kind;
  t.site = site;
  t.mask = mask;
  t.value = bits;
  t.arg = arg;
  t.width = width;
  race_arrive(t);
  Fiber::yield();
  return t.result;
}

}  // namespace convnet::emu

// Shared by both runtimes: the one function attribute the kernels set.
cudaError_t cudaFuncSetAttribute(const void* kernel, cudaFuncAttribute attribute, int value) {
  if (attribute != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0) return cudaErrorInvalidValue;
  return convnet::emu::set_max_dynamic_shared(kernel, static_cast<size_t>(value))
             ? cudaSuccess
             : cudaErrorInvalidValue;
}
