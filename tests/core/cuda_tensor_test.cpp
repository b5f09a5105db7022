// CUDA tensor storage end to end: allocate, fill, copy round trip, the caching
// allocator's reuse. Skips with the reason when no GPU is usable.
#include <gtest/gtest.h>

#include "convnet/convnet.hpp"

namespace convnet {
namespace {

class CudaTensor : public testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no GPU: " << cuda_unavailable_reason();
  }
};

TEST_F(CudaTensor, RoundTripPreservesEveryValue) {
  Tensor host = Tensor::randn({3, 5, 7, 11}, Device::cpu(), 9);
  Tensor device = host.to(Device::cuda());
  EXPECT_TRUE(device.device().is_cuda());
  Tensor back = device.to(Device::cpu());
  EXPECT_EQ(back.to_vector<float>(), host.to_vector<float>());
}

TEST_F(CudaTensor, FillAndRandomFillsMatchTheHost) {
  // Large enough that the fill kernel's grid-stride loop wraps (more elements than threads).
  Tensor filled = Tensor::full({65535 * 256 + 17}, -3.5f, Device::cuda());
  for (float v : filled.to_vector<float>()) ASSERT_EQ(v, -3.5f);
  Tensor labels = Tensor::full({1000}, 7.f, Device::cuda(), DType::I32);
  for (int32_t v : labels.to_vector<int32_t>()) ASSERT_EQ(v, 7);
  EXPECT_EQ(Tensor::randn({1000}, Device::cuda(), 3).to_vector<float>(),
            Tensor::randn({1000}, Device::cpu(), 3).to_vector<float>());
  EXPECT_FLOAT_EQ(Tensor::full({1}, 2.f, Device::cuda()).item(), 2.f);
}

TEST_F(CudaTensor, DeviceToDeviceCopyAndSlice) {
  Tensor a = Tensor::randn({6, 4}, Device::cuda(), 1);
  Tensor b = Tensor::empty({6, 4}, Device::cuda());
  b.copy_from(a);
  EXPECT_EQ(b.to_vector<float>(), a.to_vector<float>());
  std::vector<float> all = a.to_vector<float>();
  std::vector<float> rows(all.begin() + 8, all.begin() + 16);
  EXPECT_EQ(a.slice(2, 4).to_vector<float>(), rows);
}

TEST_F(CudaTensor, CachingAllocatorReusesFreedBlocks) {
  void* first = nullptr;
  {
    Tensor t = Tensor::empty({1024}, Device::cuda());
    first = t.raw_data();
  }
  Tensor again = Tensor::empty({1024}, Device::cuda());
  EXPECT_EQ(again.raw_data(), first);
}

TEST_F(CudaTensor, OutOfMemoryIsAConvnetError) {
  EXPECT_THROW(Tensor::empty({int64_t(1) << 45}, Device::cuda()), Error);  // 128 TiB
}

}  // namespace
}  // namespace convnet
