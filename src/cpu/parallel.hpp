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
// escape body. Nested calls run serially.
void parallel_for(int64_t count, const std::function<void(int64_t)>& body);

// Threads used (the caller included): CONVNET_NUM_THREADS if set, else the cores.
int parallel_threads();

}  // namespace convnet::cpu
