// The cuBLASLt linear forward's key, alignment preferences and path text
// (src/cudnn/linear_key.hpp), on the host.
#include <gtest/gtest.h>

#include <vector>

#include "cudnn/linear_key.hpp"

namespace convnet::cudnn {
namespace {

TEST(CudnnLinearKey, AlignmentIsRecordedUpTo256Bytes) {
  alignas(256) static float buffer[256];
  EXPECT_EQ(alignment_of(buffer, kLtMaxAlignment), 256);
  EXPECT_EQ(alignment_of(buffer + 32, kLtMaxAlignment), 128);
  EXPECT_EQ(alignment_of(buffer + 4, kLtMaxAlignment), 16);
  EXPECT_EQ(alignment_of(buffer + 2, kLtMaxAlignment), 8);
  EXPECT_EQ(alignment_of(buffer + 3, kLtMaxAlignment), 4);  // a row of an odd-width slice
  EXPECT_EQ(alignment_of(nullptr, kLtMaxAlignment), 256);   // no bias
  EXPECT_EQ(alignment_of(buffer), 16) << "cuDNN's keys stop at 16";
}

TEST(CudnnLinearKey, PreferencesFollowEachOperand) {
  LinearKey k;
  k.bias = true;
  k.align_weight = 8;   // A
  k.align_input = 4;    // B
  k.align_output = 16;  // C and D
  k.align_bias = 256;
  const LtAlignment a = lt_alignment(k);
  EXPECT_EQ(a.a, 8u);
  EXPECT_EQ(a.b, 4u);
  EXPECT_EQ(a.c, 16u);
  EXPECT_EQ(a.d, 16u);
  EXPECT_TRUE(a.bias_usable);
  EXPECT_EQ(lt_alignment(LinearKey{}).a, 256u) << "aligned operands keep cuBLASLt's default";
}

TEST(CudnnLinearKey, LooselyAlignedBiasSkipsTheEpilogue) {
  LinearKey k;
  k.bias = true;
  k.align_bias = 8;
  EXPECT_FALSE(lt_alignment(k).bias_usable);
  k.align_bias = 16;
  EXPECT_TRUE(lt_alignment(k).bias_usable);
  k.bias = false;
  k.align_bias = 4;  // ignored without a bias
  EXPECT_TRUE(lt_alignment(k).bias_usable);
}

TEST(CudnnLinearKey, EveryAlignmentDistinguishesPlans) {
  const LinearKey base;
  const LinearKeyHash hash;
  std::vector<LinearKey> variants(4, base);
  variants[0].align_weight = 4;
  variants[1].align_input = 4;
  variants[2].align_output = 4;
  variants[3].align_bias = 4;
  for (size_t i = 0; i < variants.size(); ++i) {
    EXPECT_FALSE(variants[i] == base) << i;
    EXPECT_NE(hash(variants[i]), hash(base)) << i;
  }
}

TEST(CudnnLinearKey, PathNamesTheFallbacks) {
  LinearCounts c;
  EXPECT_EQ(linear_path(c, "cublasLt, bias epilogue", "cublas gemm, bias kernel"),
            "cublasLt, bias epilogue");
  c.lt = 5;
  c.not_supported = 2;
  EXPECT_EQ(linear_path(c, "cublasLt, bias epilogue", "cublas gemm, bias kernel"),
            "cublasLt, bias epilogue; cuda cublas gemm, bias kernel (cublasLt refused 2 times: "
            "NOT_SUPPORTED 2)");
  c = {};
  c.no_algorithm = 1;
  EXPECT_EQ(linear_path(c, "cublasLt, bias epilogue", "cublas gemm, bias kernel"),
            "cuda cublas gemm, bias kernel (cublasLt refused 1 time: no algorithm 1)");
}

}  // namespace
}  // namespace convnet::cudnn
