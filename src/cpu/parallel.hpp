// parallel_for: the CPU backend's one way to use several cores outside BLAS.
//
// A small pool of worker threads that block (condition variable) when idle.
// Why not OpenMP: its threads spin after each parallel region, and OpenBLAS's
// pthreads spin after each GEMM; on a 2-core machine the two pools then fight
// for the cores (a training step ran 20x slower). Blocking workers leave the
// cores to OpenBLAS between our loops.
#pragma once

#include <cstdint>
#include <functional>

namespace convnet::cpu {

// Runs body(i) for i in [0, count), split into contiguous chunks over the
// pool and the calling thread; returns when all are done. Exceptions must not
// escape body. Nested calls run serially. Which thread runs which i depends on
// the thread count, so callers keep every result independent of it: items
// write disjoint outputs, and any sum across items is taken afterwards in item
// order (docs/determinism.md).
void parallel_for(int64_t count, const std::function<void(int64_t)>& body);

// While one is alive on a thread, parallel_for called from that thread runs
// every item on it, in order, as a nested call does. The oneDNN backend holds
// one around the operations it hands to this backend: OpenMP's workers spin on
// the other cores after each oneDNN call, and a worker of ours waiting for one
// of those cores stalled training 4x (bench/NOTES.md).
// enter_serial()/leave_serial() are the same, for callers that cannot hold a
// scope object; they nest.
void enter_serial();
void leave_serial();
class SerialScope {
 public:
  SerialScope() { enter_serial(); }
  ~SerialScope() { leave_serial(); }
  SerialScope(const SerialScope&) = delete;
  SerialScope& operator=(const SerialScope&) = delete;
};

// While entered on a thread, parallel_for called from that thread runs on
// another runtime's team instead of the pool: runner(f) must call f(t, T) once
// on each of its T threads (the caller among them) and return when all have.
// The oneDNN backend enters its OpenMP team around the operations it hands to
// this backend, so OpenMP's workers, which would spin idle beside a serial
// loop, share the loop instead. Nests; serial (enter_serial) wins.
using TeamRunner = void (*)(const std::function<void(int thread, int threads)>& f);
void enter_team(TeamRunner runner);
void leave_team();

// Threads used (the caller included): CONVNET_NUM_THREADS if set, else the cores.
// Read once, when the pool is first used.
int parallel_threads();
// Replaces the pool with one of `threads` threads (0: back to CONVNET_NUM_THREADS
// or the cores). Internal, for tests that check results do not depend on the
// thread count; must not run while any parallel_for does.
void set_parallel_threads(int threads);

}  // namespace convnet::cpu

namespace convnet::cpu {

// parallel_for over [0, count) in chunks of `grain` elements: body(begin, end).
// For elementwise loops, whose items are too cheap to dispatch one by one.
template <typename Body>
void parallel_chunks(int64_t count, int64_t grain, Body body) {
  const int64_t chunks = (count + grain - 1) / grain;
  parallel_for(chunks, [&](int64_t chunk) {
    const int64_t begin = chunk * grain;
    body(begin, begin + grain < count ? begin + grain : count);
  });
}

// Elements per chunk for memory-bound elementwise loops (256 KB of floats).
constexpr int64_t kElementwiseGrain = 1 << 16;

}  // namespace convnet::cpu
