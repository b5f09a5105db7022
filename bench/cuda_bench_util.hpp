// Shared pieces of the GPU benchmarks (convnet_cuda_bench): the GPU gate, the
// CUDA-event timer, the device-to-device copy baseline and the counters.
//
// Timing: after warm-up, each pass of the benchmark loop records a CUDA event on
// the context stream (every backend call is enqueued there), enqueues `batch`
// back-to-back calls, records a second event and waits for it; the elapsed time
// is the pass's manual time and the pass counts `batch` iterations
// (KeepRunningBatch), so Time is per call. The batch is sized so one pass holds
// about half a millisecond of GPU work: short kernels are then timed as they run
// back to back in a training step (launch cost overlapped, not added), and the
// per-pass host synchronisation does not dominate. Caches are left warm: large
// inputs (64 MB and more) exceed the H100's 50 MB L2 anyway.
#pragma once

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <utility>
#include <cstdlib>
#include <vector>

#include "convnet/convnet.hpp"
#include "cuda/context.hpp"
#include "cuda/cuda_check.hpp"

namespace convnet::bench {

// True when a GPU is usable. Otherwise prints the reason once and registers one
// benchmark, BM_cuda_unavailable, that reports it as skipped (so the console and
// the JSON say why nothing was measured) and the process still exits 0.
inline bool gpu_benchmarks_enabled() {
  static const bool enabled = [] {
    if (cuda_available()) {
      cudaDeviceProp prop{};
      if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess)
        benchmark::AddCustomContext("cuda_device", prop.name);
      (void)cudaGetLastError();
      return true;
    }
    const std::string reason = cuda_unavailable_reason();
    std::fprintf(stderr, "convnet_cuda_bench: no GPU benchmarks run: %s\n", reason.c_str());
    benchmark::RegisterBenchmark("BM_cuda_unavailable", [reason](benchmark::State& state) {
      state.SkipWithError(reason.c_str());
    });
    return false;
  }();
  return enabled;
}

// CONVNET_BENCH_LIST_ALL=1 registers every benchmark even without a GPU, so that
// --benchmark_list_tests shows what a filter would select (the GPU check's dry
// run checks its filter here). Running them then fails each with the reason.
inline bool list_all() {
  const char* v = std::getenv("CONVNET_BENCH_LIST_ALL");
  return v != nullptr && v[0] == '1';
}

// Registers fn(state, args...) under `name`; an exception (a convnet::Error from
// the library, a failed CUDA call) marks that benchmark as errored instead of
// ending the process.
template <typename Fn, typename... Args>
benchmark::internal::Benchmark* register_guarded(const std::string& name, Fn fn, Args... args) {
  return benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) {
    try {
      fn(state, args...);
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
    }
  });
}

// "128x32x28x28": shapes in benchmark names, where brackets and commas would
// need escaping in --benchmark_filter.
inline std::string dims_name(const Shape& shape) {
  std::string s;
  for (int64_t d : shape.dims()) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

// A pair of events on context(0)'s stream.
class EventTimer {
 public:
  EventTimer() : stream_(cuda::context(0).stream()) {
    CONVNET_CUDA_CHECK(cudaEventCreate(&start_));
    CONVNET_CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~EventTimer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;

  void start() { CONVNET_CUDA_CHECK(cudaEventRecord(start_, stream_)); }
  // Records the stop event, waits for it and returns the seconds since start().
  double stop() {
    CONVNET_CUDA_CHECK(cudaEventRecord(stop_, stream_));
    CONVNET_CUDA_CHECK(cudaEventSynchronize(stop_));
    float ms = 0.f;
    CONVNET_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
    return ms * 1e-3;
  }
  // Seconds of `calls` back-to-back calls of op.
  template <typename Op> double time(Op& op, int64_t calls) {
    start();
    for (int64_t i = 0; i < calls; ++i) op();
    return stop();
  }

 private:
  cudaStream_t stream_;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

struct Timing {
  double seconds = 0;  // GPU time of all timed calls
  int64_t calls = 0;
};

constexpr int kWarmupCalls = 2;
constexpr double kBatchSeconds = 5e-4;
constexpr int64_t kMaxBatch = 256;

// Times op (which enqueues work on context(0)'s stream) as described at the top.
template <typename Op> Timing time_on_stream(benchmark::State& state, Op op) {
  cuda::Context& ctx = cuda::context(0);
  EventTimer timer;
  for (int i = 0; i < kWarmupCalls; ++i) op();
  ctx.synchronize();  // also raises an error a kernel flagged
  const double one_call = timer.time(op, 1);
  const auto batch = std::clamp<int64_t>(
      static_cast<int64_t>(std::ceil(kBatchSeconds / std::max(one_call, 1e-7))), 1, kMaxBatch);
  Timing t;
  while (state.KeepRunningBatch(batch)) {
    const double seconds = timer.time(op, batch);
    state.SetIterationTime(seconds);
    t.seconds += seconds;
    t.calls += batch;
  }
  ctx.synchronize();
  state.counters["batch"] = static_cast<double>(batch);
  return t;
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

constexpr size_t kCopyBytes = size_t{256} << 20;

// One cudaMemcpyAsync of `bytes` from src to dst on context(0)'s stream.
inline void copy_device_to_device(Tensor& dst, const Tensor& src, size_t bytes) {
  CONVNET_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), bytes,
                                     cudaMemcpyDeviceToDevice, cuda::context(0).stream()));
}

// Device-to-device copy bandwidth in bytes/s (read + write), measured once per
// process on a 256 MiB buffer: median of 9 timed copies after 2 warm-up copies.
// The yardstick for memory-bound kernels (copy_fraction).
inline double d2d_copy_bandwidth() {
  static const double bandwidth = [] {
    Tensor src = Tensor::zeros({static_cast<int64_t>(kCopyBytes / 4)}, Device::cuda());
    Tensor dst = Tensor::empty(src.shape(), Device::cuda());
    auto copy = [&] { copy_device_to_device(dst, src, kCopyBytes); };
    EventTimer timer;
    timer.time(copy, 2);
    std::vector<double> seconds;
    for (int i = 0; i < 9; ++i) seconds.push_back(timer.time(copy, 1));
    return 2.0 * kCopyBytes / median(seconds);
  }();
  return bandwidth;
}

// "GFLOP": GFLOP/s, a multiply-add counted as 2 FLOPs.
inline void set_flop_counter(benchmark::State& state, double flops_per_call) {
  state.counters["GFLOP"] =
      benchmark::Counter(flops_per_call * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// "GB": GB/s of bytes read + written; "copy_fraction": that bandwidth over the
// device-to-device copy's.
inline void set_bandwidth_counters(benchmark::State& state, double bytes_per_call,
                                   const Timing& t, double copy_bandwidth) {
  state.counters["GB"] =
      benchmark::Counter(bytes_per_call * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  if (t.seconds > 0)
    state.counters["copy_fraction"] = bytes_per_call * t.calls / t.seconds / copy_bandwidth;
}

// Times a compute-bound op and sets GFLOP.
template <typename Op> void measure_flops(benchmark::State& state, double flops, Op op) {
  time_on_stream(state, std::move(op));
  set_flop_counter(state, flops);
}

// Times a memory-bound op moving `bytes` per call and sets GB and copy_fraction.
template <typename Op> void measure_bytes(benchmark::State& state, double bytes, Op op) {
  const double copy_bandwidth = d2d_copy_bandwidth();  // before this benchmark's buffers exist
  const Timing t = time_on_stream(state, std::move(op));
  set_bandwidth_counters(state, bytes, t, copy_bandwidth);
}

}  // namespace convnet::bench
