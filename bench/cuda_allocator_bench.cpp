// The device allocator on a training step's allocation pattern: the Tensor::empty
// calls and releases of one forward + backward + SGD step of the MNIST CNN
// (conv 5x5 1->32, ReLU, max pool 2, conv 5x5 32->64, ReLU, max pool 2,
// linear 3136->10, softmax cross-entropy) at batch 128, replayed in order with
// no kernels in between. Allocation is a host-side cost, so the time is host wall
// time per step, the stream synchronised at the end of each step.
//
// The strategy is chosen per process by CONVNET_CUDA_ALLOCATOR=async|caching;
// run the binary once per value (--benchmark_filter=allocator) to compare. The
// active one is in the label and in the context header ("cuda_allocator").
#include <algorithm>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "bench/cuda_bench_util.hpp"
#include "core/cuda_hooks.hpp"

namespace {

using namespace convnet;

// Named tensors of the step: the batch, each layer's output kept for backward,
// the gradients flowing back, and per-step parameter-sized temporaries.
enum Slot {
  kInput, kLabels,
  kConv1, kRelu1, kPool1, kArgmax1, kConv2, kRelu2, kPool2, kArgmax2, kLogits, kProbs, kLoss, kCorrect,
  kGradLogits, kGradFlat, kGradFcWeight, kGradFcBias,
  kGradRelu2, kGradConv2, kGradPool1, kGradConv2Weight, kGradConv2Bias,
  kGradRelu1, kGradConv1, kGradConv1Weight, kGradConv1Bias,
  kSlotCount
};

struct Event {
  bool allocate;  // false: release the slot
  Slot slot;
  Shape shape;
  DType dtype;
};

Event alloc(Slot slot, Shape shape, DType dtype = DType::F32) { return {true, slot, std::move(shape), dtype}; }
Event release(Slot slot) { return {false, slot, {}, DType::F32}; }

// In the order the ops layer (src/ops/*) and the layers (src/nn/*) allocate and
// drop them. Parameters, their accumulated gradients and the momentum buffers
// persist across steps and are not part of the pattern.
const std::vector<Event>& mnist_step() {
  static const std::vector<Event> events = {
      // the batch, from the data loader
      alloc(kInput, {128, 1, 28, 28}), alloc(kLabels, {128}, DType::I32),
      // forward; every layer keeps its input (or output) for backward
      alloc(kConv1, {128, 32, 28, 28}), alloc(kRelu1, {128, 32, 28, 28}),
      alloc(kPool1, {128, 32, 14, 14}), alloc(kArgmax1, {128, 32, 14, 14}, DType::I32),
      alloc(kConv2, {128, 64, 14, 14}), alloc(kRelu2, {128, 64, 14, 14}),
      alloc(kPool2, {128, 64, 7, 7}), alloc(kArgmax2, {128, 64, 7, 7}, DType::I32),
      alloc(kLogits, {128, 10}), alloc(kProbs, {128, 10}), alloc(kLoss, {1}),
      alloc(kCorrect, {1}, DType::I32),
      // backward: loss, linear (on the flattened [128, 3136] view of pool2)
      alloc(kGradLogits, {128, 10}), release(kProbs),
      alloc(kGradFlat, {128, 3136}), alloc(kGradFcWeight, {10, 3136}), alloc(kGradFcBias, {10}),
      release(kGradLogits), release(kLogits),
      // pool2, relu2, conv2
      alloc(kGradRelu2, {128, 64, 14, 14}), release(kGradFlat), release(kPool2), release(kArgmax2),
      alloc(kGradConv2, {128, 64, 14, 14}), release(kGradRelu2), release(kRelu2),
      alloc(kGradPool1, {128, 32, 14, 14}), alloc(kGradConv2Weight, {64, 32, 5, 5}),
      alloc(kGradConv2Bias, {64}), release(kGradConv2), release(kConv2),
      // pool1, relu1, conv1 (no gradient for the input image)
      alloc(kGradRelu1, {128, 32, 28, 28}), release(kGradPool1), release(kPool1), release(kArgmax1),
      alloc(kGradConv1, {128, 32, 28, 28}), release(kGradRelu1), release(kRelu1),
      alloc(kGradConv1Weight, {32, 1, 5, 5}), alloc(kGradConv1Bias, {32}),
      release(kGradConv1), release(kConv1), release(kInput),
      // SGD consumes the parameter-sized temporaries; the step's scalars go last
      release(kGradConv1Weight), release(kGradConv1Bias), release(kGradConv2Weight),
      release(kGradConv2Bias), release(kGradFcWeight), release(kGradFcBias),
      release(kLoss), release(kCorrect), release(kLabels),
  };
  return events;
}

struct StepStats {
  int64_t allocations = 0;
  double bytes = 0, peak_bytes = 0;
};

StepStats step_stats(const std::vector<Event>& events) {
  StepStats stats;
  std::vector<double> held(kSlotCount, 0);
  double live = 0;
  for (const Event& e : events) {
    if (e.allocate) {
      held[e.slot] = static_cast<double>(e.shape.numel() * dtype_size(e.dtype));
      live += held[e.slot];
      stats.bytes += held[e.slot];
      ++stats.allocations;
      stats.peak_bytes = std::max(stats.peak_bytes, live);
    } else {
      live -= held[e.slot];
      held[e.slot] = 0;
    }
  }
  return stats;
}

void replay(const std::vector<Event>& events, std::vector<Tensor>& slots) {
  for (const Event& e : events)
    slots[e.slot] = e.allocate ? Tensor::empty(e.shape, Device::cuda(), e.dtype) : Tensor();
}

void BM_allocator_mnist_step(benchmark::State& state) {
  const std::vector<Event>& events = mnist_step();
  std::vector<Tensor> slots(kSlotCount);
  for (int i = 0; i < 3; ++i) replay(events, slots);  // warm the pool / bins
  cuda_hooks::synchronize(0);
  for (auto _ : state) {
    replay(events, slots);
    cuda_hooks::synchronize(0);
  }
  const StepStats stats = step_stats(events);
  state.counters["allocs"] = benchmark::Counter(static_cast<double>(stats.allocations),
                                                benchmark::Counter::kIsIterationInvariantRate);
  state.counters["allocs_per_step"] = static_cast<double>(stats.allocations);
  state.counters["step_MB"] = stats.bytes * 1e-6;
  state.counters["step_peak_MB"] = stats.peak_bytes * 1e-6;
  state.counters["live_bytes"] = static_cast<double>(cuda_hooks::live_bytes(0));
  state.SetLabel(std::string("allocator=") + cuda_hooks::allocator_name());
}

void register_all() {
  if (!bench::gpu_benchmarks_enabled() && !bench::list_all()) return;
  try {
    benchmark::AddCustomContext("cuda_allocator", cuda_hooks::allocator_name());
  } catch (const std::exception& e) {  // a bad CONVNET_CUDA_ALLOCATOR, or no GPU (listing only)
    benchmark::AddCustomContext("cuda_allocator", e.what());
  }
  bench::register_guarded("BM_cuda_allocator/mnist_cnn_step/batch128", BM_allocator_mnist_step)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}

const int registered = (register_all(), 0);

}  // namespace
