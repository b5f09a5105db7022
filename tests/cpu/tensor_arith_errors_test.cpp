// The tensor API refuses what it cannot compute, with a convnet::Error that
// names the op, the shapes and the cause.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "support/values.hpp"

namespace convnet::test {
namespace {

Tensor f32(const std::vector<float>& v, const Shape& s) { return Tensor::from_vector(v, s); }
Tensor i32(const std::vector<int32_t>& v, const Shape& s) { return Tensor::from_vector(v, s); }

// `call` throws convnet::Error whose message holds every one of `parts`.
void expect_error(const std::function<void()>& call, const std::vector<std::string>& parts) {
  try {
    call();
  } catch (const Error& e) {
    for (const std::string& part : parts)
      EXPECT_TRUE(contains(e.what(), part)) << "message \"" << e.what() << "\" lacks \"" << part
                                            << "\"";
    return;
  }
  ADD_FAILURE() << "no convnet::Error thrown (expected one naming \"" << parts[0] << "\")";
}

TEST(TensorArithErrors, BroadcastMismatchNamesBothShapes) {
  const Tensor a = Tensor::zeros({3, 2}), b = Tensor::zeros({4});
  expect_error([&] { add(a, b); }, {"add", "[3, 2]", "[4]", "broadcast"});
  expect_error([&] { (void)(a * Tensor::zeros({2, 3})); }, {"mul", "[3, 2]", "[2, 3]"});
  expect_error([&] { ops::broadcast_shape({2, 5}, {3, 5}); }, {"[2, 5]", "[3, 5]"});
}

TEST(TensorArithErrors, InPlaceCannotGrow) {
  Tensor a = Tensor::zeros({3});
  expect_error([&] { a += Tensor::zeros({2, 3}); }, {"add_", "[2, 3]", "[3]", "a's shape"});
  expect_error([&] { a *= Tensor::zeros({4}); }, {"mul_", "[3]", "[4]"});
}

TEST(TensorArithErrors, RankOverTheBroadcastLimit) {
  const Shape nine{1, 1, 1, 1, 1, 1, 1, 1, 2};
  const Tensor a = Tensor::zeros(nine), b = Tensor::zeros({2});
  expect_error([&] { add(a, b); }, {"add", "rank 9", std::to_string(kMaxBroadcastRank)});
  expect_error([&] { ops::make_broadcast(nine, {1}); }, {"rank 9"});
  // Rank 8 is fine.
  EXPECT_EQ(add(Tensor::zeros({1, 1, 1, 1, 1, 1, 2, 2}), b).shape(),
            (Shape{1, 1, 1, 1, 1, 1, 2, 2}));
}

TEST(TensorArithErrors, ArithmeticIsF32Only) {
  const Tensor labels = i32({1, 2}, {2}), x = Tensor::zeros({2});
  expect_error([&] { add(labels, x); }, {"add", "a [2] is i32", "only f32"});
  expect_error([&] { mul(x, labels); }, {"mul", "b [2] is i32", "only f32"});
  expect_error([&] { neg(labels); }, {"neg", "i32", "only f32"});
  expect_error([&] { (void)(labels * 2.f); }, {"mul", "i32", "only f32"});
  expect_error([&] { sum(labels); }, {"sum", "i32", "only f32"});
  expect_error([&] { argmax(labels); }, {"argmax", "i32", "only f32"});
  expect_error([&] { matmul(i32({1}, {1, 1}), i32({1}, {1, 1})); }, {"matmul", "i32", "only f32"});
  Tensor target = i32({1, 2}, {2});
  expect_error([&] { target += 1.f; }, {"add", "i32", "only f32"});
}

TEST(TensorArithErrors, UndefinedTensors) {
  expect_error([&] { add(Tensor(), Tensor::zeros({1})); }, {"add", "a is undefined"});
  expect_error([&] { sum(Tensor()); }, {"sum", "undefined"});
  expect_error([&] { transpose(Tensor()); }, {"transpose", "undefined"});
}

TEST(TensorArithErrors, DimOutOfRange) {
  const Tensor x = Tensor::zeros({2, 3});
  expect_error([&] { sum(x, 2); }, {"sum", "dim 2", "[2, 3]", "[-2, 1]"});
  expect_error([&] { max(x, -3); }, {"max", "dim -3", "[2, 3]"});
  expect_error([&] { argmin(x, 5, true); }, {"argmin", "dim 5"});
  expect_error([&] { cat({x, x}, 2); }, {"cat", "dim 2", "[2, 3]"});
  expect_error([&] { index_select(x, 1, i32({0}, {1})); }, {"index_select", "dim 1", "only dim 0"});
}

TEST(TensorArithErrors, ReductionsWithoutElements) {
  const Tensor empty = Tensor::zeros({2, 0});
  expect_error([&] { max(empty); }, {"max", "[2, 0]", "no elements"});
  expect_error([&] { min(empty, 1); }, {"min", "[2, 0]", "along dim 1"});
  expect_error([&] { argmax(empty, -1); }, {"argmax", "[2, 0]"});
  expect_error([&] { argmin(Tensor::zeros({0})); }, {"argmin", "[0]"});
}

TEST(TensorArithErrors, MatmulShapes) {
  expect_error([&] { matmul(Tensor::zeros({2, 3}), Tensor::zeros({4, 5})); },
               {"matmul", "[2, 3]", "[4, 5]", "3 columns", "4 rows"});
  expect_error([&] { matmul(Tensor::zeros({2, 3, 1}), Tensor::zeros({1, 5})); },
               {"matmul", "[2, 3, 1]", "2-D"});
  expect_error([&] { transpose(Tensor::zeros({2, 3, 4})); }, {"transpose", "[2, 3, 4]", "rank 3"});
}

TEST(TensorArithErrors, CatMismatches) {
  const Tensor a = Tensor::zeros({2, 3});
  expect_error([&] { cat({}, 0); }, {"cat", "empty list"});
  expect_error([&] { cat({a, Tensor::zeros({2, 4})}, 0); },
               {"cat", "tensors[1] [2, 4]", "tensors[0] [2, 3]"});
  expect_error([&] { cat({a, Tensor::zeros({2, 3, 1})}, 0); }, {"cat", "[2, 3, 1]", "rank"});
  expect_error([&] { cat({a, Tensor::zeros({2, 3}, Device::cpu(), DType::I32)}, 0); },
               {"cat", "tensors[1]", "i32", "f32"});
  expect_error([&] { cat({a, Tensor()}, 0); }, {"cat", "tensors[1] is undefined"});
  expect_error([&] { cat({f32({1}, {})}, 0); }, {"cat", "0-d"});
}

TEST(TensorArithErrors, IndexSelectIndices) {
  const Tensor x = Tensor::zeros({3, 2});
  expect_error([&] { index_select(x, 0, i32({0, 3}, {2})); },
               {"index_select", "indices[1] = 3", "out of range", "[3, 2]"});
  expect_error([&] { index_select(x, 0, i32({-1}, {1})); }, {"index_select", "indices[0] = -1"});
  expect_error([&] { index_select(x, 0, f32({0}, {1})); }, {"index_select", "indices", "f32", "i32"});
  expect_error([&] { index_select(x, 0, i32({0, 1}, {1, 2})); }, {"index_select", "indices", "1-D"});
  expect_error([&] { index_select(f32({1}, {}), 0, i32({0}, {1})); }, {"index_select", "0-d"});
}

TEST(TensorArithErrors, ClampBoundsMustNotBeNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  expect_error([&] { clamp(Tensor::zeros({2}), nan, 1.f); }, {"clamp", "NaN"});
}

TEST(TensorArithErrors, MixedDevices) {
  if (!cuda_available()) GTEST_SKIP() << "needs a CUDA device: " << cuda_unavailable_reason();
  const Tensor host = Tensor::zeros({2}), gpu = Tensor::zeros({2}, Device::cuda());
  expect_error([&] { add(host, gpu); }, {"add", "b is on cuda:0"});
  expect_error([&] { cat({gpu, host}, 0); }, {"cat", "tensors[1]", "cpu"});
}

}  // namespace
}  // namespace convnet::test
