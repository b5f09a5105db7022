// Convolution on the CPU backend at the MNIST CNN's layer shapes (batch 128),
// forward and both backward passes. Counter: GFLOP/s, counting a multiply-add
// as 2 FLOPs (2*N*K*P*Q*C*R*S per pass). Outputs are preallocated so the
// benchmark times the backend, not the allocator.
#include <benchmark/benchmark.h>

#include "convnet/convnet.hpp"

namespace {

using namespace convnet;

struct ConvLayer {
  const char* name;
  int64_t n, c, h, w, k;
  int r, s, pad;
};

// The contract's MNIST CNN: conv1 1->32 5x5 pad 2 on 28x28, conv2 32->64 5x5 pad 2 on 14x14.
const ConvLayer kLayers[] = {
    {"mnist_conv1", 128, 1, 28, 28, 32, 5, 5, 2},
    {"mnist_conv2", 128, 32, 14, 14, 64, 5, 5, 2},
};

enum class Pass { Forward, BackwardData, BackwardFilter };

void BM_Conv2dCpu(benchmark::State& state, ConvLayer layer, Pass pass) {
  Backend& cpu = get_backend(Backend::Kind::Cpu);
  Conv2dParams p;
  p.pad_h = p.pad_w = layer.pad;
  const int64_t out_h = conv2d_output_size(layer.h, layer.r, 1, layer.pad, 1);
  const int64_t out_w = conv2d_output_size(layer.w, layer.s, 1, layer.pad, 1);
  Tensor x = Tensor::randn({layer.n, layer.c, layer.h, layer.w}, Device::cpu(), 1);
  Tensor w = Tensor::randn({layer.k, layer.c, layer.r, layer.s}, Device::cpu(), 2, 0.f, 0.1f);
  Tensor b = Tensor::randn({layer.k}, Device::cpu(), 3);
  Tensor y = Tensor::empty({layer.n, layer.k, out_h, out_w});
  Tensor dx = Tensor::empty(x.shape()), dw = Tensor::empty(w.shape());
  for (auto _ : state) {
    switch (pass) {
      case Pass::Forward: cpu.conv2d_forward(x, w, &b, p, y); break;
      case Pass::BackwardData: cpu.conv2d_backward_data(y, w, p, dx); break;
      case Pass::BackwardFilter: cpu.conv2d_backward_filter(x, y, p, dw, false); break;
    }
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * layer.n * layer.k * out_h * out_w * layer.c * layer.r * layer.s;
  state.counters["GFLOP"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(layer.name) + " " + x.shape().str() + " * " + w.shape().str());
}

void register_all() {
  for (const ConvLayer& layer : kLayers) {
    const std::string base = std::string("conv2d_cpu/") + layer.name;
    benchmark::RegisterBenchmark((base + "/forward").c_str(), BM_Conv2dCpu, layer, Pass::Forward)
        ->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark((base + "/backward_data").c_str(), BM_Conv2dCpu, layer, Pass::BackwardData)
        ->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark((base + "/backward_filter").c_str(), BM_Conv2dCpu, layer, Pass::BackwardFilter)
        ->Unit(benchmark::kMillisecond)->UseRealTime();
  }
}

const int registered = (register_all(), 0);

}  // namespace
