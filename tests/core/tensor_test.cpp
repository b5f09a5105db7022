#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "convnet/convnet.hpp"

namespace convnet {
namespace {

TEST(Shape, NumelRankAndString) {
  Shape s{8, 3, 32, 32};
  EXPECT_EQ(s.rank(), 4);
  EXPECT_EQ(s.numel(), 8 * 3 * 32 * 32);
  EXPECT_EQ(s[-1], 32);
  EXPECT_EQ(s.str(), "[8, 3, 32, 32]");
  EXPECT_EQ(Shape{}.numel(), 1);  // a scalar holds one element
}

TEST(Tensor, ZerosOnesFullAndStrides) {
  Tensor t = Tensor::full({2, 3, 4}, 2.5f);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.dim(), 3);
  EXPECT_EQ(t.strides(), (std::vector<int64_t>{12, 4, 1}));
  for (float v : t.to_vector<float>()) EXPECT_EQ(v, 2.5f);
  for (float v : Tensor::ones({5}).to_vector<float>()) EXPECT_EQ(v, 1.f);
  Tensor labels = Tensor::zeros({7}, Device::cpu(), DType::I32);
  EXPECT_EQ(labels.dtype(), DType::I32);
  for (int32_t v : labels.to_vector<int32_t>()) EXPECT_EQ(v, 0);
  EXPECT_EQ(t.str(), "Tensor[2, 3, 4] f32 cpu");
}

TEST(Tensor, HandlesShareStorageCloneCopies) {
  Tensor a = Tensor::zeros({4});
  Tensor b = a;
  b.data<float>()[0] = 3.f;
  EXPECT_EQ(a.data<float>()[0], 3.f);
  Tensor c = a.clone();
  c.data<float>()[0] = 5.f;
  EXPECT_EQ(a.data<float>()[0], 3.f);
  EXPECT_FALSE(c.shares_storage_with(a));
  EXPECT_TRUE(a.to(Device::cpu()).shares_storage_with(a));
}

TEST(Tensor, ReshapeIsAViewAndInfersOneExtent) {
  Tensor a = Tensor::from_vector(std::vector<float>{0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor b = a.reshape({3, -1});
  EXPECT_EQ(b.shape(), (Shape{3, 2}));
  EXPECT_TRUE(b.shares_storage_with(a));
  EXPECT_THROW(a.reshape({4, 2}), Error);
  EXPECT_THROW(a.reshape({-1, -1}), Error);
}

TEST(Tensor, SliceViewsRows) {
  std::vector<float> v(12);
  std::iota(v.begin(), v.end(), 0.f);
  Tensor a = Tensor::from_vector(v, {4, 3});
  Tensor rows = a.slice(1, 3);
  EXPECT_EQ(rows.shape(), (Shape{2, 3}));
  EXPECT_EQ(rows.to_vector<float>(), (std::vector<float>{3, 4, 5, 6, 7, 8}));
  EXPECT_THROW(a.slice(2, 5), Error);
}

TEST(Tensor, FromVectorChecksCountAndDtype) {
  EXPECT_THROW(Tensor::from_vector(std::vector<float>{1, 2, 3}, {2, 2}), Error);
  Tensor labels = Tensor::from_vector(std::vector<int32_t>{3, 1, 4}, {3});
  EXPECT_EQ(labels.to_vector<int32_t>(), (std::vector<int32_t>{3, 1, 4}));
  EXPECT_THROW(labels.data<float>(), Error);
  EXPECT_THROW(Tensor().data<float>(), Error);
}

TEST(Tensor, SeededRandomFillsAreReproducibleAndWellDistributed) {
  Tensor a = Tensor::randn({10000}, Device::cpu(), 42);
  Tensor b = Tensor::randn({10000}, Device::cpu(), 42);
  Tensor c = Tensor::randn({10000}, Device::cpu(), 43);
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
  EXPECT_NE(a.to_vector<float>(), c.to_vector<float>());
  double sum = 0, sum_sq = 0;
  for (float v : a.to_vector<float>()) sum += v, sum_sq += double(v) * v;
  EXPECT_NEAR(sum / 10000, 0.0, 0.05);
  EXPECT_NEAR(sum_sq / 10000, 1.0, 0.05);

  Tensor u = Tensor::rand({10000}, Device::cpu(), 7, -2.f, 3.f);
  double mean = 0;
  for (float v : u.to_vector<float>()) {
    ASSERT_GE(v, -2.f);
    ASSERT_LT(v, 3.f);
    mean += v;
  }
  EXPECT_NEAR(mean / 10000, 0.5, 0.05);
}

TEST(Tensor, ItemReadsOneElement) {
  EXPECT_EQ(Tensor::full({1}, 4.25f).item(), 4.25f);
  EXPECT_THROW(Tensor::zeros({2}).item(), Error);
}

TEST(Tensor, CudaDeviceIsAClearErrorWithoutAGpu) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is present; covered by CudaTensor tests";
  try {
    Tensor::zeros({2}, Device::cuda());
    FAIL() << "expected convnet::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[2]"), std::string::npos) << e.what();
  }
}

TEST(Random, ManualSeedMakesNextSeedReproducible) {
  manual_seed(5);
  const uint64_t a = next_seed(), b = next_seed();
  manual_seed(5);
  EXPECT_EQ(next_seed(), a);
  EXPECT_EQ(next_seed(), b);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace convnet
