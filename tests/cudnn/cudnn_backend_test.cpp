// The cuDNN backend beyond the parity table (which holds every operation it
// covers to the CPU reference): availability and its reason, the fused path,
// the plan cache's reuse, deterministic mode and TF32's bound.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "convnet/convnet.hpp"
#include "support/values.hpp"

namespace convnet {
namespace {

#define SKIP_WITHOUT_CUDNN()                                                              \
  do {                                                                                    \
    if (!backend_available(Backend::Kind::Cudnn)) {                                      \
      try {                                                                               \
        get_backend(Backend::Kind::Cudnn);                                                \
      } catch (const Error& e) {                                                          \
        GTEST_SKIP() << e.what();                                                         \
      }                                                                                   \
    }                                                                                     \
  } while (0)

TEST(CudnnBackend, AvailabilityMatchesGetBackend) {
  const bool available = backend_available(Backend::Kind::Cudnn);
  if (available) {
    EXPECT_EQ(get_backend(Backend::Kind::Cudnn).kind(), Backend::Kind::Cudnn);
    EXPECT_EQ(default_backend(Device::cuda()), default_backend_choice().value_or(Backend::Kind::Cudnn));
  } else {
    EXPECT_THROW(get_backend(Backend::Kind::Cudnn), Error);
  }
}

using test::relative_error;

TEST(CudnnBackend, FusedConvTakesTheFusedGraph) {
  SKIP_WITHOUT_CUDNN();
  Backend& be = get_backend(Backend::Kind::Cudnn);
  const Tensor x = Tensor::randn({8, 32, 14, 14}, Device::cuda(), 1);
  const Tensor w = Tensor::randn({64, 32, 5, 5}, Device::cuda(), 2, 0.f, 0.05f);
  const Tensor b = Tensor::randn({64}, Device::cuda(), 3);
  Conv2dParams p;
  p.pad_h = p.pad_w = 2;
  const Tensor fused = ops::conv2d_bias_relu_forward(be, x, w, &b, p);
  Backend& cpu = get_backend(Backend::Kind::Cpu);
  const Tensor b_cpu = b.to(Device::cpu());
  const Tensor ref =
      ops::conv2d_bias_relu_forward(cpu, x.to(Device::cpu()), w.to(Device::cpu()), &b_cpu, p);
  EXPECT_LT(relative_error(fused, ref), math_mode() == MathMode::TF32 ? 5e-3 : 1e-5);
  const std::string path = be.path(Backend::Op::Conv2dBiasReLU);
  std::printf("[ path     ] conv2d_bias_relu_forward on cudnn: %s\n", path.c_str());
  // "cuda ..." first means no fused call so far ran on a cuDNN engine (conv_route.hpp).
  EXPECT_NE(path.rfind("cudnn", 0), std::string::npos) << path;
}

TEST(CudnnBackend, DeterministicModeGivesTheSameBitsTwice) {
  SKIP_WITHOUT_CUDNN();
  const bool was = deterministic();
  set_deterministic(true);
  for (Backend::Kind kind : {Backend::Kind::Cuda, Backend::Kind::Cudnn}) {
    SCOPED_TRACE(backend_name(kind));
    Backend& be = get_backend(kind);
    const Tensor x = Tensor::randn({64, 16, 20, 20}, Device::cuda(), 4);
    const Tensor dy = Tensor::randn({64, 32, 20, 20}, Device::cuda(), 5);
    Conv2dParams p;
    p.pad_h = p.pad_w = 1;
    Tensor dw1 = Tensor::zeros({32, 16, 3, 3}, Device::cuda());
    Tensor dw2 = Tensor::zeros({32, 16, 3, 3}, Device::cuda());
    ops::conv2d_backward_filter(be, x, dy, p, dw1, false);
    ops::conv2d_backward_filter(be, x, dy, p, dw2, false);
    EXPECT_EQ(dw1.to(Device::cpu()).to_vector<float>(), dw2.to(Device::cpu()).to_vector<float>());
    const Tensor w = Tensor::randn({32, 16, 3, 3}, Device::cuda(), 6);
    EXPECT_EQ(ops::conv2d_backward_data(be, dy, w, x.shape(), p).to(Device::cpu()).to_vector<float>(),
              ops::conv2d_backward_data(be, dy, w, x.shape(), p).to(Device::cpu()).to_vector<float>());
  }
  set_deterministic(was);
}

TEST(CudnnBackend, Tf32StaysWithinItsStatedBound) {
  SKIP_WITHOUT_CUDNN();
  const MathMode was = math_mode();
  set_math_mode(MathMode::TF32);
  Backend& be = get_backend(Backend::Kind::Cudnn);
  const Tensor x = Tensor::randn({32, 64, 28, 28}, Device::cuda(), 7);
  const Tensor w = Tensor::randn({64, 64, 3, 3}, Device::cuda(), 8, 0.f, 0.05f);
  Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  const Tensor y = ops::conv2d_forward(be, x, w, nullptr, p);
  const Tensor ref = ops::conv2d_forward(get_backend(Backend::Kind::Cpu), x.to(Device::cpu()),
                                         w.to(Device::cpu()), nullptr, p);
  const double err = relative_error(y, ref);
  std::printf("[ tf32     ] conv 32x64x28x28 * 64x64x3x3: relative error %.3g\n", err);
  EXPECT_LT(err, 5e-3);
  set_math_mode(was);
}

TEST(CudnnBackend, TrainingStepMatchesTheCpu) {
  SKIP_WITHOUT_CUDNN();
  auto build = [](nn::Sequential& net) {
    net.add<nn::Conv2d>(nn::Conv2dOptions(1, 8, 5).padding(2)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
        .add<nn::Flatten>().add<nn::Linear>(8 * 14 * 14, 32).add<nn::ReLU>()
        .add<nn::Linear>(32, 10).add<nn::LogSoftmax>();
  };
  manual_seed(3);
  nn::Sequential gpu;
  build(gpu);
  manual_seed(3);
  nn::Sequential cpu;
  build(cpu);
  gpu.to(Device::cuda());
  gpu.set_backend(Backend::Kind::Cudnn);
  const Tensor x = Tensor::randn({16, 1, 28, 28}, Device::cpu(), 9);
  const Tensor dy = Tensor::randn({16, 10}, Device::cpu(), 10);
  const Tensor y_cpu = cpu.forward(x, nn::Mode::Train);
  const Tensor y_gpu = gpu.forward(x.to(Device::cuda()), nn::Mode::Train);
  const double bound = math_mode() == MathMode::TF32 ? 5e-3 : 1e-5;
  EXPECT_LT(relative_error(y_gpu, y_cpu), bound);
  cpu.backward(dy);
  gpu.backward(dy.to(Device::cuda()));
  const auto pc = cpu.parameters(), pg = gpu.parameters();
  for (size_t i = 0; i < pc.size(); ++i)
    EXPECT_LT(relative_error(pg[i]->grad, pc[i]->grad), 10 * bound) << pc[i]->name;
  std::printf("%s", gpu.summary({16, 1, 28, 28}, Device::cuda()).c_str());
}

}  // namespace
}  // namespace convnet
