// operator<< prints tensors as libtorch does (aten/src/ATen/core/Formatting.cpp),
// with Python's summary ("...") past 1000 elements. Expected strings written
// from libtorch's rules: integers plainly in width digits + 1; otherwise fixed
// with 4 decimals in width digits + 6, or 7 under a power-of-ten scale, or
// scientific (width 11) when magnitudes span more than 4 decades.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "support/values.hpp"

namespace convnet::test {
namespace {

std::string printed(const Tensor& t) {
  std::ostringstream os;
  os << t;
  return os.str();
}

TEST(TensorPrint, MatrixFixed) {
  const Tensor t = Tensor::from_vector(std::vector<float>{1.5f, 2, 3, 4, 5, 6.25f}, {2, 3});
  EXPECT_EQ(printed(t),
            " 1.5000  2.0000  3.0000\n"
            " 4.0000  5.0000  6.2500\n"
            "[ CPUFloatType{2,3} ]");
}

TEST(TensorPrint, IntegralValuesPrintPlainly) {
  // libtorch prints a float tensor of whole numbers without decimals.
  const Tensor t = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(printed(t), " 1  2  3\n 4  5  6\n[ CPUFloatType{2,3} ]");
  const Tensor labels = Tensor::from_vector(std::vector<int32_t>{3, -10, 7}, {3});
  EXPECT_EQ(printed(labels), "  3\n-10\n  7\n[ CPUIntType{3} ]");
}

TEST(TensorPrint, VectorAndScalar) {
  const Tensor v = Tensor::from_vector(std::vector<float>{0.5f, -0.25f}, {2});
  EXPECT_EQ(printed(v), " 0.5000\n-0.2500\n[ CPUFloatType{2} ]");
  const Tensor s = Tensor::from_vector(std::vector<float>{0.125f}, {});
  EXPECT_EQ(printed(s), "0.125\n[ CPUFloatType{} ]");
  EXPECT_EQ(printed(Tensor::zeros({0, 3})), "[ CPUFloatType{0,3} ]");
  EXPECT_EQ(printed(Tensor()), "[ Tensor (undefined) ]");
}

TEST(TensorPrint, ScaleAndScientific) {
  // All large (and not whole): a common scale 1e+06 and values in [1, 10).
  const Tensor big = Tensor::from_vector(std::vector<float>{1500000.5f, 2500000.25f}, {2});
  EXPECT_EQ(printed(big), "1e+06 *\n 1.5000\n 2.5000\n[ CPUFloatType{2} ]");
  // Magnitudes over 4 decades apart: scientific.
  const Tensor wide = Tensor::from_vector(std::vector<float>{1.5e-3f, 2.5e3f}, {1, 2});
  EXPECT_EQ(printed(wide), " 1.5000e-03  2.5000e+03\n[ CPUFloatType{1,2} ]");
}

TEST(TensorPrint, NonFiniteValues) {
  const float inf = std::numeric_limits<float>::infinity();
  const Tensor t = Tensor::from_vector(std::vector<float>{0.5f, inf, -inf}, {3});
  EXPECT_EQ(printed(t), " 0.5000\n    inf\n   -inf\n[ CPUFloatType{3} ]");
}

TEST(TensorPrint, BlocksForHigherRanks) {
  std::vector<float> v(8);
  for (int i = 0; i < 8; ++i) v[size_t(i)] = float(i) + 0.5f;
  const Tensor t = Tensor::from_vector(v, {2, 2, 2});
  EXPECT_EQ(printed(t),
            "(1,.,.) = \n"
            "  0.5000  1.5000\n"
            "  2.5000  3.5000\n"
            "\n"
            "(2,.,.) = \n"
            "  4.5000  5.5000\n"
            "  6.5000  7.5000\n"
            "[ CPUFloatType{2,2,2} ]");
}

TEST(TensorPrint, SummarizesPastAThousandElements) {
  std::vector<float> v(40 * 30);
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(i % 10);
  const Tensor t = Tensor::from_vector(v, {40, 30});
  // Rows 1-3 and 38-40, columns 1-3 and 28-30; whole numbers below 10 (width 2).
  EXPECT_EQ(printed(t),
            " 0  1  2 ...  7  8  9\n"
            " 0  1  2 ...  7  8  9\n"
            " 0  1  2 ...  7  8  9\n"
            "...\n"
            " 0  1  2 ...  7  8  9\n"
            " 0  1  2 ...  7  8  9\n"
            " 0  1  2 ...  7  8  9\n"
            "[ CPUFloatType{40,30} ]");
  // 1000 elements exactly: printed whole (10 columns per 80-character band).
  const std::string whole = printed(Tensor::zeros({1000}));
  EXPECT_EQ(std::count(whole.begin(), whole.end(), '\n'), 1000);
  EXPECT_FALSE(contains(whole, "..."));
}

TEST(TensorPrint, SummarizedBlocks) {
  const Tensor t = Tensor::zeros({10, 2, 60});  // 1200 elements: 6 of 10 blocks shown
  const std::string s = printed(t);
  EXPECT_TRUE(contains(s, "(3,.,.) = \n  0  0  0 ...  0  0  0\n  0  0  0 ...  0  0  0\n\n...\n\n(8,.,.) = \n"))
      << s;
  EXPECT_FALSE(contains(s, "(4,.,.)"));
  EXPECT_TRUE(contains(s, "[ CPUFloatType{10,2,60} ]"));
}

TEST(TensorPrint, WrapsColumnsAt80Characters) {
  std::vector<float> v(12);
  for (int i = 0; i < 12; ++i) v[size_t(i)] = float(i) + 0.5f;  // width 8 (two digits)
  const Tensor t = Tensor::from_vector(v, {1, 12});
  EXPECT_EQ(printed(t),
            "Columns 1 to 8\n"
            "  0.5000   1.5000   2.5000   3.5000   4.5000   5.5000   6.5000   7.5000\n"
            "\n"
            "Columns 9 to 12\n"
            "  8.5000   9.5000  10.5000  11.5000\n"
            "[ CPUFloatType{1,12} ]");
}

TEST(TensorPrint, CudaTensorsAreCopiedAndNamed) {
  if (!cuda_available()) GTEST_SKIP() << "needs a CUDA device: " << cuda_unavailable_reason();
  const Tensor t = Tensor::from_vector(std::vector<float>{1.5f, 2}, {1, 2}, Device::cuda());
  EXPECT_EQ(printed(t), " 1.5000  2.0000\n[ CUDAFloatType{1,2} ]");
  const Tensor labels = Tensor::from_vector(std::vector<int32_t>{4}, {1}, Device::cuda());
  EXPECT_EQ(printed(labels), " 4\n[ CUDAIntType{1} ]");
}

TEST(TensorPrint, LeavesTheStreamFormatAlone) {
  std::ostringstream os;
  os << Tensor::from_vector(std::vector<float>{0.5f}, {1}) << ' ' << 1.25;
  EXPECT_TRUE(contains(os.str(), "] 1.25")) << os.str();
}

}  // namespace
}  // namespace convnet::test
