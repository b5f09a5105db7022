// The cuDNN plan cache's key and LRU (plain C++: checked in every build, GPU or not).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cudnn/plan_cache.hpp"

namespace convnet::cudnn {
namespace {

ConvKey mnist_conv2() {
  ConvKey k;
  k.op = ConvOp::ForwardBiasRelu;
  k.n = 128, k.c = 32, k.h = 14, k.w = 14, k.k = 64, k.r = 5, k.s = 5;
  k.p.pad_h = k.p.pad_w = 2;
  return k;
}

TEST(PlanCacheKey, EveryFieldDistinguishesPlans) {
  const ConvKey base = mnist_conv2();
  const ConvKeyHash hash;
  std::vector<ConvKey> variants;
  auto vary = [&](auto change) {
    ConvKey k = base;
    change(k);
    variants.push_back(k);
  };
  vary([](ConvKey& k) { k.op = ConvOp::ForwardBias; });
  vary([](ConvKey& k) { k.n = 127; });
  vary([](ConvKey& k) { k.c = 31; });
  vary([](ConvKey& k) { k.h = 15; });
  vary([](ConvKey& k) { k.w = 13; });
  vary([](ConvKey& k) { k.k = 63; });
  vary([](ConvKey& k) { k.r = 3; });
  vary([](ConvKey& k) { k.s = 3; });
  vary([](ConvKey& k) { k.p.stride_h = 2; });
  vary([](ConvKey& k) { k.p.stride_w = 2; });
  vary([](ConvKey& k) { k.p.pad_h = 1; });
  vary([](ConvKey& k) { k.p.pad_w = 1; });
  vary([](ConvKey& k) { k.p.dilation_h = 2; });
  vary([](ConvKey& k) { k.p.dilation_w = 2; });
  vary([](ConvKey& k) { k.math = MathMode::TF32; });
  vary([](ConvKey& k) { k.deterministic = true; });
  vary([](ConvKey& k) { k.autotune = true; });
  vary([](ConvKey& k) { k.device = 1; });
  // Each operand's alignment, the output's included (the graph declares it).
  vary([](ConvKey& k) { k.align_x = 4; });
  vary([](ConvKey& k) { k.align_w = 8; });
  vary([](ConvKey& k) { k.align_b = 4; });
  vary([](ConvKey& k) { k.align_y = 4; });
  EXPECT_TRUE(base == mnist_conv2());
  EXPECT_EQ(hash(base), hash(mnist_conv2()));
  for (size_t i = 0; i < variants.size(); ++i) {
    EXPECT_FALSE(variants[i] == base) << "variant " << i;
    EXPECT_NE(hash(variants[i]), hash(base)) << "variant " << i;  // FNV-1a: no collision here
  }
}

TEST(PlanCacheKey, AlignmentIsTheSmallestPowerOfTwoUpTo16) {
  alignas(64) static float buffer[64];
  EXPECT_EQ(alignment_of({buffer}), 16);
  EXPECT_EQ(alignment_of({buffer, buffer + 4}), 16);
  EXPECT_EQ(alignment_of({buffer, buffer + 2}), 8);
  EXPECT_EQ(alignment_of({buffer + 1, buffer + 4}), 4);
  EXPECT_EQ(alignment_of({buffer, nullptr}), 16);  // an absent bias does not count
}

// One loosely aligned operand lowers only its own entry in the key.
TEST(PlanCacheKey, AlignmentIsPerOperand) {
  alignas(64) static float buffer[64];
  EXPECT_EQ(alignment_of(buffer + 1), 4);
  EXPECT_EQ(alignment_of(buffer + 2), 8);
  EXPECT_EQ(alignment_of(static_cast<const void*>(nullptr)), 16);
  ConvKey output_slice = mnist_conv2(), aligned = mnist_conv2();
  output_slice.align_y = alignment_of(buffer + 1);
  EXPECT_EQ(output_slice.align_x, 16);
  EXPECT_FALSE(output_slice == aligned) << "a plan for an aligned output must not run on a slice";
  ConvKey swapped = mnist_conv2();
  swapped.align_x = 4;  // the same alignments on other operands are another problem
  output_slice.align_y = 16;
  output_slice.align_w = 4;
  EXPECT_FALSE(swapped == output_slice);
  EXPECT_NE(ConvKeyHash()(swapped), ConvKeyHash()(output_slice));
}

TEST(PlanCacheLru, EvictsTheLeastRecentlyUsed) {
  LruCache<int, std::string, std::hash<int>> cache(2);
  cache.insert(1, "one");
  cache.insert(2, "two");
  ASSERT_NE(cache.find(1), nullptr);  // 1 is now the most recent
  cache.insert(3, "three");           // evicts 2
  EXPECT_EQ(cache.find(2), nullptr);
  ASSERT_NE(cache.find(1), nullptr);
  EXPECT_EQ(*cache.find(1), "one");
  ASSERT_NE(cache.find(3), nullptr);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.evictions(), 1u);
  EXPECT_EQ(cache.hits(), 4u);
  EXPECT_EQ(cache.misses(), 1u);
}

TEST(PlanCacheLru, ReplacingAKeyKeepsOneEntry) {
  LruCache<int, int, std::hash<int>> cache(3);
  cache.insert(7, 1);
  cache.insert(7, 2);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(*cache.find(7), 2);
  EXPECT_EQ(cache.evictions(), 0u);
}

TEST(PlanCacheLru, StaysBoundedUnderASweep) {
  LruCache<ConvKey, int, ConvKeyHash> cache(16);
  for (int i = 0; i < 1000; ++i) {
    ConvKey k = mnist_conv2();
    k.n = i + 1;
    cache.insert(k, i);
  }
  EXPECT_EQ(cache.size(), 16u);
  EXPECT_EQ(cache.evictions(), 1000u - 16u);
  ConvKey last = mnist_conv2();
  last.n = 1000;
  ASSERT_NE(cache.find(last), nullptr);
  EXPECT_EQ(*cache.find(last), 999);
}

}  // namespace
}  // namespace convnet::cudnn
