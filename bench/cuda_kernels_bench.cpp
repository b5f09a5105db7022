// Every CUDA-backend operation at the shapes that matter, called directly on the
// CudaBackend (no ops-layer checks, no allocation: every tensor is allocated
// before the timed loop). Timing and counters: cuda_bench_util.hpp.
//
// Counters: GFLOP (GFLOP/s, a multiply-add = 2 FLOPs) for convolution and linear;
// GB (GB/s, minimal bytes read + written per call) and copy_fraction (that over
// the device-to-device cudaMemcpy bandwidth, BM_cuda_d2d_copy) for the
// memory-bound rest. Names: BM_cuda_<op>/<layer or shape>/<pass>[/<algo>].
#include <cstdint>
#include <string>
#include <vector>

#include "bench/cuda_bench_util.hpp"
#include "cuda/cuda_backend.hpp"

namespace {

using namespace convnet;
using bench::measure_bytes;
using bench::measure_flops;

constexpr double kF32 = 4, kI32 = 4;  // bytes per element

cuda::CudaBackend& cuda_backend() {
  auto* backend = dynamic_cast<cuda::CudaBackend*>(&get_backend(Backend::Kind::Cuda));
  CONVNET_CHECK(backend != nullptr, "get_backend(Cuda) is not the CudaBackend");
  return *backend;
}

// ---- device tensors

// Values of N(0, stddev^2) on the GPU. Large tensors repeat a 1M-element random
// block (device-to-device copies): Tensor::randn generates on the host, and the
// benchmark function runs several times per benchmark.
Tensor device_randn(const Shape& shape, uint64_t seed, float stddev = 1.f) {
  constexpr int64_t kBlock = int64_t{1} << 20;
  if (shape.numel() <= kBlock) return Tensor::randn(shape, Device::cuda(), seed, 0.f, stddev);
  const Tensor block = Tensor::randn({kBlock}, Device::cuda(), seed, 0.f, stddev);
  Tensor out = Tensor::empty(shape, Device::cuda());
  for (int64_t begin = 0; begin < shape.numel(); begin += kBlock) {
    Tensor part = out.reshape({shape.numel()}).slice(begin, std::min(begin + kBlock, shape.numel()));
    bench::copy_device_to_device(part, block, part.nbytes());
  }
  return out;
}

Tensor device_empty(const Shape& shape, DType dtype = DType::F32) {
  return Tensor::empty(shape, Device::cuda(), dtype);
}

Tensor device_labels(int64_t n, int64_t classes) {
  std::vector<int32_t> labels(n);
  for (int64_t i = 0; i < n; ++i) labels[i] = static_cast<int32_t>((i * 7919) % classes);
  return Tensor::from_vector(labels, {n}, Device::cuda());
}

// {learning rate, step}, as the optimizers keep it on the device. A steady-state
// step: on step 1 SGD initialises its momentum buffer without reading it.
Tensor device_schedule() {
  return Tensor::from_vector(std::vector<float>{1e-3f, 10.f}, {2}, Device::cuda());
}

// ---- the copy baseline

void BM_d2d_copy(benchmark::State& state) {
  Tensor src = Tensor::zeros({static_cast<int64_t>(bench::kCopyBytes / 4)}, Device::cuda());
  Tensor dst = device_empty(src.shape());
  measure_bytes(state, 2.0 * bench::kCopyBytes,
                [&] { bench::copy_device_to_device(dst, src, bench::kCopyBytes); });
  state.SetLabel("256 MiB; baseline " + std::to_string(bench::d2d_copy_bandwidth() * 1e-9) + " GB/s");
}

// ---- convolution

struct ConvLayer {
  const char* name;
  int64_t n, c, h, w, k;
  int r, s, pad;
};

const ConvLayer kConvLayers[] = {
    {"mnist_conv1", 128, 1, 28, 28, 32, 5, 5, 2},
    {"mnist_conv2", 128, 32, 14, 14, 64, 5, 5, 2},
    {"resnet_3x3_64", 32, 64, 56, 56, 64, 3, 3, 1},
    {"resnet_3x3_256", 32, 256, 14, 14, 256, 3, 3, 1},
    {"resnet_1x1_256to64", 32, 256, 14, 14, 64, 1, 1, 0},
};

enum class Pass { Forward, BackwardData, BackwardFilter };
const char* pass_name(Pass pass) {
  switch (pass) {
    case Pass::Forward: return "forward";
    case Pass::BackwardData: return "backward_data";
    case Pass::BackwardFilter: return "backward_filter";
  }
  return "?";
}

// Selects a convolution algorithm for its lifetime.
class ConvAlgoScope {
 public:
  ConvAlgoScope(cuda::CudaBackend& backend, kernels::ConvAlgo algo)
      : backend_(backend), previous_(backend.conv_algo()) { backend.set_conv_algo(algo); }
  ~ConvAlgoScope() { backend_.set_conv_algo(previous_); }

 private:
  cuda::CudaBackend& backend_;
  kernels::ConvAlgo previous_;
};

// Every tensor a pass of `layer` reads or writes, allocated before timing.
struct ConvBuffers {
  Conv2dParams p;
  Tensor x, w, b, dy, y, dx, dw;
  double flops;
  explicit ConvBuffers(const ConvLayer& layer) {
    p.pad_h = p.pad_w = layer.pad;
    const int64_t out_h = conv2d_output_size(layer.h, layer.r, 1, layer.pad, 1);
    const int64_t out_w = conv2d_output_size(layer.w, layer.s, 1, layer.pad, 1);
    x = device_randn({layer.n, layer.c, layer.h, layer.w}, 1);
    w = device_randn({layer.k, layer.c, layer.r, layer.s}, 2, 0.1f);
    b = device_randn({layer.k}, 3);
    dy = device_randn({layer.n, layer.k, out_h, out_w}, 4);
    y = device_empty(dy.shape());
    dx = device_empty(x.shape());
    dw = device_empty(w.shape());
    flops = 2.0 * layer.n * layer.k * out_h * out_w * layer.c * layer.r * layer.s;
  }
};

void BM_conv2d(benchmark::State& state, ConvLayer layer, Pass pass, kernels::ConvAlgo algo) {
  cuda::CudaBackend& be = cuda_backend();
  ConvAlgoScope scope(be, algo);
  ConvBuffers t(layer);
  const Conv2dParams& p = t.p;
  Tensor &x = t.x, &w = t.w, &b = t.b, &dy = t.dy, &y = t.y, &dx = t.dx, &dw = t.dw;
  const double flops = t.flops;
  switch (pass) {
    case Pass::Forward: measure_flops(state, flops, [&] { be.conv2d_forward(x, w, &b, p, y); }); break;
    case Pass::BackwardData: measure_flops(state, flops, [&] { be.conv2d_backward_data(dy, w, p, dx); }); break;
    case Pass::BackwardFilter:
      measure_flops(state, flops, [&] { be.conv2d_backward_filter(x, dy, p, dw, false); });
      break;
  }
  state.SetLabel(x.shape().str() + " * " + w.shape().str());
}

// The same layers on the cuDNN backend (graph API): the yardstick. `fused`:
// forward with bias and ReLU in one graph. bench/compare_cudnn.py turns a JSON
// run into the ours/cuDNN table.
void BM_cudnn_conv2d(benchmark::State& state, ConvLayer layer, Pass pass, bool fused) {
  Backend& be = get_backend(Backend::Kind::Cudnn);
  ConvBuffers t(layer);
  const Conv2dParams& p = t.p;
  Tensor &x = t.x, &w = t.w, &b = t.b, &dy = t.dy, &y = t.y, &dx = t.dx, &dw = t.dw;
  const double flops = t.flops;
  switch (pass) {
    case Pass::Forward:
      if (fused)
        measure_flops(state, flops, [&] { be.conv2d_bias_relu_forward(x, w, &b, p, y); });
      else
        measure_flops(state, flops, [&] { be.conv2d_forward(x, w, &b, p, y); });
      break;
    case Pass::BackwardData: measure_flops(state, flops, [&] { be.conv2d_backward_data(dy, w, p, dx); }); break;
    case Pass::BackwardFilter:
      measure_flops(state, flops, [&] { be.conv2d_backward_filter(x, dy, p, dw, false); });
      break;
  }
  state.SetLabel(be.path(fused ? Backend::Op::Conv2dBiasReLU : Backend::Op::Conv2d));
}

// Ours, fused the way the CudaBackend fuses (implicit GEMM, then a ReLU kernel).
void BM_conv2d_fused(benchmark::State& state, ConvLayer layer) {
  cuda::CudaBackend& be = cuda_backend();
  ConvBuffers t(layer);
  const Conv2dParams& p = t.p;
  Tensor &x = t.x, &w = t.w, &b = t.b, &dy = t.dy, &y = t.y, &dx = t.dx, &dw = t.dw;
  const double flops = t.flops;
  measure_flops(state, flops, [&] { be.conv2d_bias_relu_forward(x, w, &b, p, y); });
  state.SetLabel(be.path(Backend::Op::Conv2dBiasReLU));
}

void BM_cudnn_softmax_forward(benchmark::State& state, Shape shape) {
  Backend& be = get_backend(Backend::Kind::Cudnn);
  Tensor x = device_randn(shape, 1), y = device_empty(shape);
  measure_bytes(state, 2.0 * kF32 * shape.numel(), [&] { be.softmax_forward(x, y, false); });
}

// ---- linear: input [N,in], weight [out,in]

struct LinearLayer {
  const char* name;
  int64_t n, in, out;
};

const LinearLayer kLinearLayers[] = {
    {"mnist_fc", 128, 3136, 10},
    {"fc_4096x1024x1024", 4096, 1024, 1024},
};

void BM_linear(benchmark::State& state, LinearLayer layer, Pass pass) {
  cuda::CudaBackend& be = cuda_backend();
  Tensor x = device_randn({layer.n, layer.in}, 1);
  Tensor w = device_randn({layer.out, layer.in}, 2, 0.05f);
  Tensor b = device_randn({layer.out}, 3);
  Tensor dy = device_randn({layer.n, layer.out}, 4);
  Tensor y = device_empty(dy.shape()), dx = device_empty(x.shape()), dw = device_empty(w.shape());
  const double flops = 2.0 * layer.n * layer.in * layer.out;
  switch (pass) {
    case Pass::Forward: measure_flops(state, flops, [&] { be.linear_forward(x, w, &b, y); }); break;
    case Pass::BackwardData: measure_flops(state, flops, [&] { be.linear_backward_data(dy, w, dx); }); break;
    case Pass::BackwardFilter:
      measure_flops(state, flops, [&] { be.linear_backward_weight(x, dy, dw, false); });
      break;
  }
  state.SetLabel(x.shape().str() + " x " + w.shape().str());
}

// ---- memory-bound operations. Bytes per call are the minimum any kernel must
// move: each input read once, each output written once.

const Shape kMnistAct = {128, 32, 28, 28};  // conv1's output, 12.8 MB
const Shape kLargeAct = {128, 128, 32, 32};  // 64 MiB

void BM_bias_backward(benchmark::State& state, Shape shape) {
  cuda::CudaBackend& be = cuda_backend();
  Tensor dy = device_randn(shape, 1);
  Tensor db = device_empty({shape[1]});
  measure_bytes(state, kF32 * (dy.numel() + db.numel()), [&] { be.bias_backward(dy, db, false); });
  state.SetLabel(shape.str());
}

void BM_max_pool(benchmark::State& state, Shape shape, Pass pass) {
  cuda::CudaBackend& be = cuda_backend();
  Pool2dParams p;  // max, 2x2, stride 2
  Tensor x = device_randn(shape, 1);
  const Shape out_shape = {shape[0], shape[1], shape[2] / 2, shape[3] / 2};
  Tensor y = device_empty(out_shape), argmax = device_empty(out_shape, DType::I32);
  Tensor dy = device_randn(out_shape, 2), dx = device_empty(shape);
  const double out_n = static_cast<double>(y.numel());
  if (pass == Pass::Forward) {  // x -> y, argmax
    measure_bytes(state, kF32 * x.numel() + (kF32 + kI32) * out_n,
                  [&] { be.pool2d_forward(x, p, y, &argmax); });
  } else {  // dy, argmax -> dx
    be.pool2d_forward(x, p, y, &argmax);
    measure_bytes(state, (kF32 + kI32) * out_n + kF32 * dx.numel(),
                  [&] { be.pool2d_backward(x, dy, &argmax, p, dx); });
  }
  state.SetLabel(shape.str() + " k2s2 with argmax");
}

void BM_relu(benchmark::State& state, Shape shape, Pass pass) {
  cuda::CudaBackend& be = cuda_backend();
  Tensor x = device_randn(shape, 1), dy = device_randn(shape, 2);
  Tensor y = device_empty(shape), dx = device_empty(shape);
  const double n = static_cast<double>(x.numel());
  if (pass == Pass::Forward)  // x -> y
    measure_bytes(state, 2 * kF32 * n, [&] { be.activation_forward(Activation::ReLU, 0.f, x, y); });
  else  // x, dy -> dx (ReLU's backward reads the input, not the output)
    measure_bytes(state, 3 * kF32 * n,
                  [&] { be.activation_backward(Activation::ReLU, 0.f, x, y, dy, dx); });
  state.SetLabel(shape.str());
}

void BM_softmax_forward(benchmark::State& state, Shape shape) {
  cuda::CudaBackend& be = cuda_backend();
  Tensor x = device_randn(shape, 1), y = device_empty(shape);
  measure_bytes(state, 2 * kF32 * x.numel(), [&] { be.softmax_forward(x, y, false); });
  state.SetLabel(shape.str());
}

void BM_softmax_cross_entropy(benchmark::State& state, Shape shape, Pass pass) {
  cuda::CudaBackend& be = cuda_backend();
  Tensor logits = device_randn(shape, 1), labels = device_labels(shape[0], shape[1]);
  Tensor loss = device_empty({1}), probs = device_empty(shape), grad = device_empty(shape);
  const double n = static_cast<double>(logits.numel()), rows = static_cast<double>(shape[0]);
  if (pass == Pass::Forward) {  // logits, labels -> probs, loss
    measure_bytes(state, 2 * kF32 * n + kI32 * rows + kF32,
                  [&] { be.softmax_cross_entropy_forward(logits, labels, 0.f, loss, probs); });
  } else {  // probs, labels -> grad
    be.softmax_cross_entropy_forward(logits, labels, 0.f, loss, probs);
    measure_bytes(state, 2 * kF32 * n + kI32 * rows,
                  [&] { be.softmax_cross_entropy_backward(probs, labels, 0.f, 1.f, grad); });
  }
  state.SetLabel(shape.str());
}

void BM_dropout_forward(benchmark::State& state, Shape shape) {
  cuda::CudaBackend& be = cuda_backend();
  Tensor x = device_randn(shape, 1), y = device_empty(shape), mask = device_empty(shape);
  // x -> y, mask
  measure_bytes(state, 3 * kF32 * x.numel(), [&] { be.dropout_forward(x, 0.5f, 42, 0, y, mask); });
  state.SetLabel(shape.str() + " p=0.5");
}

constexpr int64_t kOptimizerParams = int64_t{1} << 24;  // 16M parameters, 64 MiB per tensor

void BM_sgd_momentum(benchmark::State& state) {
  cuda::CudaBackend& be = cuda_backend();
  Tensor param = device_randn({kOptimizerParams}, 1), grad = device_randn({kOptimizerParams}, 2);
  Tensor momentum = Tensor::zeros({kOptimizerParams}, Device::cuda()), schedule = device_schedule();
  SgdParams p;
  p.momentum = 0.9f;
  // param, grad, momentum -> param, momentum
  measure_bytes(state, 5 * kF32 * kOptimizerParams,
                [&] { be.sgd_update(param, grad, &momentum, p, schedule); });
  state.SetLabel("16M params, momentum 0.9");
}

void BM_adam(benchmark::State& state) {
  cuda::CudaBackend& be = cuda_backend();
  Tensor param = device_randn({kOptimizerParams}, 1), grad = device_randn({kOptimizerParams}, 2);
  Tensor exp_avg = Tensor::zeros({kOptimizerParams}, Device::cuda());
  Tensor exp_avg_sq = Tensor::zeros({kOptimizerParams}, Device::cuda());
  Tensor schedule = device_schedule();
  AdamParams p;
  // param, grad, exp_avg, exp_avg_sq -> param, exp_avg, exp_avg_sq
  measure_bytes(state, 7 * kF32 * kOptimizerParams,
                [&] { be.adam_update(param, grad, exp_avg, exp_avg_sq, p, schedule); });
  state.SetLabel("16M params");
}

// ---- registration

template <typename Fn, typename... Args>
void add_as(const std::string& full_name, Fn fn, Args... args) {
  bench::register_guarded(full_name, fn, args...)->UseManualTime()->Unit(benchmark::kMicrosecond);
}
template <typename Fn, typename... Args>
void add(const std::string& name, Fn fn, Args... args) {
  add_as("BM_cuda_" + name, fn, args...);
}

void register_all() {
  if (!bench::gpu_benchmarks_enabled() && !bench::list_all()) return;
  add("d2d_copy", BM_d2d_copy);
  const std::pair<const char*, kernels::ConvAlgo> algos[] = {
      {"direct", kernels::ConvAlgo::Direct}, {"implicit_gemm", kernels::ConvAlgo::ImplicitGemm}};
  const Pass passes[] = {Pass::Forward, Pass::BackwardData, Pass::BackwardFilter};
  for (const ConvLayer& layer : kConvLayers)
    for (Pass pass : passes)
      for (const auto& [algo_name, algo] : algos)
        add(std::string("conv2d/") + layer.name + "/" + pass_name(pass) + "/" + algo_name,
            BM_conv2d, layer, pass, algo);
  for (const ConvLayer& layer : kConvLayers)
    add(std::string("conv2d/") + layer.name + "/forward_bias_relu/implicit_gemm", BM_conv2d_fused,
        layer);
  // cuDNN rows, named like ours: BM_cudnn_conv2d/<layer>/<pass>.
  if (backend_available(Backend::Kind::Cudnn) || bench::list_all()) {
    for (const ConvLayer& layer : kConvLayers) {
      for (Pass pass : passes)
        add_as(std::string("BM_cudnn_conv2d/") + layer.name + "/" + pass_name(pass),
               BM_cudnn_conv2d, layer, pass, false);
      add_as(std::string("BM_cudnn_conv2d/") + layer.name + "/forward_bias_relu", BM_cudnn_conv2d,
             layer, Pass::Forward, true);
    }
    for (const Shape& shape : {Shape{128, 10}, Shape{4096, 1000}, Shape{65536, 1024}})
      add_as("BM_cudnn_softmax/" + bench::dims_name(shape) + "/forward", BM_cudnn_softmax_forward,
             shape);
  }
  for (const LinearLayer& layer : kLinearLayers)
    for (Pass pass : passes) {
      const char* pass_label = pass == Pass::BackwardFilter ? "backward_weight" : pass_name(pass);
      add(std::string("linear/") + layer.name + "/" + pass_label, BM_linear, layer, pass);
    }
  for (const Shape& shape : {kMnistAct, kLargeAct}) {
    const std::string dims = bench::dims_name(shape);
    add("bias_backward/" + dims, BM_bias_backward, shape);
    add("max_pool2d/" + dims + "/forward", BM_max_pool, shape, Pass::Forward);
    add("max_pool2d/" + dims + "/backward", BM_max_pool, shape, Pass::BackwardData);
    add("relu/" + dims + "/forward", BM_relu, shape, Pass::Forward);
    add("relu/" + dims + "/backward", BM_relu, shape, Pass::BackwardData);
  }
  for (const Shape& shape : {Shape{128, 10}, Shape{4096, 1000}, Shape{65536, 1024}})
    add("softmax/" + bench::dims_name(shape) + "/forward", BM_softmax_forward, shape);
  for (const Shape& shape : {Shape{128, 10}, Shape{16384, 1024}}) {
    const std::string dims = bench::dims_name(shape);
    add("softmax_cross_entropy/" + dims + "/forward", BM_softmax_cross_entropy, shape, Pass::Forward);
    add("softmax_cross_entropy/" + dims + "/backward", BM_softmax_cross_entropy, shape,
        Pass::BackwardData);
  }
  for (const Shape& shape : {Shape{128, 3136}, Shape{4096, 4096}})
    add("dropout/" + bench::dims_name(shape) + "/forward", BM_dropout_forward, shape);
  add("sgd_momentum/16M", BM_sgd_momentum);
  add("adam/16M", BM_adam);
}

const int registered = (register_all(), 0);

}  // namespace
