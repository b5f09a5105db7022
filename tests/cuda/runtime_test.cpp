// The device runtime on a GPU: copies in every direction, slices, pinned
// memory, allocator accounting and reuse, out-of-memory as a recoverable
// convnet::Error, and the device-side label flag. Skips where there is no GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "convnet/convnet.hpp"
#include "core/cuda_hooks.hpp"

namespace convnet {
namespace {

class CudaRuntime : public testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no GPU: " << cuda_unavailable_reason();
  }
};

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST_F(CudaRuntime, CopiesEveryWayAndSlices) {
  const Tensor host = Tensor::randn({5, 3, 4}, Device::cpu(), 11);
  const Tensor a = host.to(Device::cuda());
  Tensor b = Tensor::empty({5, 3, 4}, Device::cuda());
  b.copy_from(a);  // device to device
  EXPECT_EQ(b.to_vector<float>(), host.to_vector<float>());
  const Tensor rows = b.slice(1, 4);  // a view at an offset
  const std::vector<float> all = host.to_vector<float>();
  EXPECT_EQ(rows.to_vector<float>(), std::vector<float>(all.begin() + 12, all.begin() + 48));
  Tensor into = Tensor::zeros({3, 3, 4});
  into.copy_from(rows);  // device slice to host
  EXPECT_EQ(into.to_vector<float>(), rows.to_vector<float>());
  Tensor part = Tensor::zeros({5, 3, 4}, Device::cuda());
  part.slice(2, 3).copy_from(host.slice(0, 1));  // host to a device slice
  const std::vector<float> got = part.to_vector<float>();
  for (int i = 0; i < 60; ++i) EXPECT_EQ(got[i], i >= 24 && i < 36 ? all[i - 24] : 0.f) << i;
}

TEST_F(CudaRuntime, PinnedRoundTripAndReuseAfterSync) {
  Tensor pinned = Tensor::empty_pinned({1000});
  EXPECT_TRUE(pinned.pinned());
  for (int i = 0; i < 1000; ++i) pinned.data<float>()[i] = static_cast<float>(i);
  const Tensor device = pinned.to(Device::cuda());  // asynchronous from pinned memory
  cuda_hooks::synchronize(0);                       // after this the source may change
  for (int i = 0; i < 1000; ++i) pinned.data<float>()[i] = -1.f;
  const std::vector<float> back = device.to_vector<float>();
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(back[i], static_cast<float>(i));
}

TEST_F(CudaRuntime, AllocatorAccountsAndReuses) {
  const int64_t before = cuda_hooks::live_bytes(0);
  {
    Tensor a = Tensor::empty({1 << 20}, Device::cuda());
    EXPECT_GE(cuda_hooks::live_bytes(0), before + (int64_t{4} << 20));
  }
  EXPECT_EQ(cuda_hooks::live_bytes(0), before);
  // A training step's pattern, repeated: the live total comes back every time.
  for (int step = 0; step < 20; ++step) {
    std::vector<Tensor> activations;
    for (int64_t n : {128 * 32 * 28 * 28, 128 * 32 * 14 * 14, 128 * 64 * 14 * 14, 128 * 10})
      activations.push_back(Tensor::empty({n}, Device::cuda()));
    activations.front().fill_(1.f);
  }
  EXPECT_EQ(cuda_hooks::live_bytes(0), before);
  EXPECT_TRUE(std::string(cuda_hooks::allocator_name()) == "async" ||
              std::string(cuda_hooks::allocator_name()) == "caching");
}

TEST_F(CudaRuntime, OutOfMemoryIsAnErrorAndTheProcessGoesOn) {
  const std::string message =
      message_of([] { Tensor huge = Tensor::empty({int64_t{1} << 40}, Device::cuda()); });
  EXPECT_NE(message.find(std::to_string(int64_t{4} << 40)), std::string::npos) << message;
  EXPECT_NE(message.find("free"), std::string::npos) << message;
  EXPECT_NE(message.find("cuda:0"), std::string::npos) << message;
  const Tensor after = Tensor::full({257}, 3.f, Device::cuda());
  for (float v : after.to_vector<float>()) ASSERT_EQ(v, 3.f);
}

TEST_F(CudaRuntime, BadLabelRaisesAtTheNextSyncAndIsCleared) {
  Backend& gpu = get_backend(Backend::Kind::Cuda);
  const Tensor logits = Tensor::randn({2, 3}, Device::cuda(), 5);
  const Tensor bad = Tensor::from_vector(std::vector<int32_t>{0, 7}, {2}, Device::cuda());
  Tensor probs;
  const Tensor loss = ops::softmax_cross_entropy_forward(gpu, logits, bad, probs);  // no throw yet
  const std::string message = message_of([&] { (void)loss.item(); });
  EXPECT_NE(message.find("label 7 at row 1"), std::string::npos) << message;
  EXPECT_NE(message.find("[0, 3)"), std::string::npos) << message;
  // The flag was cleared: good labels compute normally afterwards.
  const Tensor good = Tensor::from_vector(std::vector<int32_t>{0, 2}, {2}, Device::cuda());
  const Tensor ok = ops::softmax_cross_entropy_forward(gpu, logits, good, probs);
  EXPECT_TRUE(std::isfinite(ok.item()));
  // The backward kernel flags too.
  Tensor grad = ops::softmax_cross_entropy_backward(gpu, probs, bad, 1.f);
  EXPECT_NE(message_of([&] { (void)grad.to_vector<float>(); }).find("label 7"), std::string::npos);
}

TEST_F(CudaRuntime, OptimizerStepsWithoutAHostCopy) {
  // SGD with momentum on the GPU follows the CPU trajectory; the step count
  // advances on the device (schedule_step), restarting from a restored count.
  nn::Parameter cpu_p{"w", Tensor::randn({300}, Device::cpu(), 1), Tensor::zeros({300})};
  nn::Parameter gpu_p{"w", cpu_p.value.to(Device::cuda()), Tensor::zeros({300}, Device::cuda())};
  nn::Adam cpu_opt({&cpu_p}, nn::AdamOptions(1e-2f));
  nn::Adam gpu_opt({&gpu_p}, nn::AdamOptions(1e-2f));
  for (int step = 0; step < 5; ++step) {
    const Tensor g = Tensor::randn({300}, Device::cpu(), 100 + step);
    cpu_p.grad.copy_from(g);
    gpu_p.grad.copy_from(g);
    cpu_opt.step();
    gpu_opt.step();
    if (step == 2) {  // as a checkpoint load does
      cpu_opt.set_step_count(cpu_opt.step_count());
      gpu_opt.set_step_count(gpu_opt.step_count());
    }
  }
  const std::vector<float> a = cpu_p.value.to_vector<float>(), b = gpu_p.value.to_vector<float>();
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-6f * (1.f + std::fabs(a[i]))) << i;
}

}  // namespace
}  // namespace convnet
