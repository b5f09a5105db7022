// The tensor API (convnet/tensor_ops.hpp) on the CPU reference, against values
// worked out by hand: broadcasting, each unary op with NaN/inf, each reduction
// over everything and over each dim, argmax ties and NaN, matmul, transpose,
// cat, index_select, views and the operators.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "support/values.hpp"

namespace convnet::test {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

Tensor f32(const std::vector<float>& v, const Shape& s) { return Tensor::from_vector(v, s); }
Tensor i32(const std::vector<int32_t>& v, const Shape& s) { return Tensor::from_vector(v, s); }

std::vector<float> floats(const Tensor& t) { return t.to_vector<float>(); }
std::vector<int32_t> ints(const Tensor& t) { return t.to_vector<int32_t>(); }

// Each value within rel * |expected| (0: equal), NaN only where NaN is
// expected, an infinity only where the same infinity is.
::testing::AssertionResult same_values(const Tensor& t, const std::vector<float>& expected,
                                       double rel = 0) {
  const std::vector<float> got = t.to_vector<float>();
  if (got.size() != expected.size())
    return ::testing::AssertionFailure() << got.size() << " values, expected " << expected.size();
  for (size_t i = 0; i < got.size(); ++i) {
    const float a = got[i], e = expected[i];
    const bool ok = std::isnan(e)   ? std::isnan(a)
                    : std::isinf(e) ? a == e
                                    : std::fabs(double(a) - e) <= rel * std::fabs(double(e));
    if (!ok)
      return ::testing::AssertionFailure()
             << t.str() << ": element " << i << " is " << a << ", expected " << e;
  }
  return ::testing::AssertionSuccess();
}

// Exact where IEEE gives one answer (+, -, *, /, comparisons), NaN where NaN.
void expect_exact(const Tensor& t, const Shape& shape, const std::vector<float>& expected) {
  ASSERT_EQ(t.shape(), shape);
  ASSERT_EQ(t.dtype(), DType::F32);
  EXPECT_TRUE(same_values(t, expected));
}

// ---------------------------------------------------------------- broadcasting

TEST(TensorArith, BroadcastShape) {
  EXPECT_EQ(ops::broadcast_shape({3, 1}, {1, 4}), (Shape{3, 4}));
  EXPECT_EQ(ops::broadcast_shape({2, 3, 4}, {4}), (Shape{2, 3, 4}));
  EXPECT_EQ(ops::broadcast_shape({5}, {}), (Shape{5}));
  EXPECT_EQ(ops::broadcast_shape({}, {}), (Shape{}));
  EXPECT_EQ(ops::broadcast_shape({2, 0}, {1}), (Shape{2, 0}));
  // Same shapes merge into one dimension; a broadcast keeps the dims apart.
  const Broadcast same = ops::make_broadcast({2, 3, 4}, {2, 3, 4});
  EXPECT_EQ(same.rank, 1);
  EXPECT_EQ(same.sizes[0], 24);
  const Broadcast outer = ops::make_broadcast({3, 1}, {1, 4});
  ASSERT_EQ(outer.rank, 2);
  EXPECT_EQ(outer.a_strides[0], 1);
  EXPECT_EQ(outer.a_strides[1], 0);
  EXPECT_EQ(outer.b_strides[0], 0);
  EXPECT_EQ(outer.b_strides[1], 1);
}

TEST(TensorArith, AddColumnToRow) {  // [3,1] + [1,4] -> [3,4]
  const Tensor col = f32({0, 10, 20}, {3, 1}), row = f32({1, 2, 3, 4}, {1, 4});
  expect_exact(add(col, row), {3, 4}, {1, 2, 3, 4, 11, 12, 13, 14, 21, 22, 23, 24});
  expect_exact(col - row, {3, 4}, {-1, -2, -3, -4, 9, 8, 7, 6, 19, 18, 17, 16});
  expect_exact(row * col, {3, 4}, {0, 0, 0, 0, 10, 20, 30, 40, 20, 40, 60, 80});
}

TEST(TensorArith, BroadcastTrailingVector) {  // [2,3,4] op [4]
  std::vector<float> x(24);
  for (int i = 0; i < 24; ++i) x[size_t(i)] = float(i);
  const Tensor a = f32(x, {2, 3, 4}), v = f32({1, 2, 4, 8}, {4});
  std::vector<float> sum(24), quotient(24);
  for (int i = 0; i < 24; ++i) {
    const float vi = std::vector<float>{1, 2, 4, 8}[size_t(i % 4)];
    sum[size_t(i)] = float(i) + vi;
    quotient[size_t(i)] = float(i) / vi;
  }
  expect_exact(a + v, {2, 3, 4}, sum);
  expect_exact(div(a, v), {2, 3, 4}, quotient);
  expect_exact(v + a, {2, 3, 4}, sum);
}

TEST(TensorArith, BroadcastOneElementAndZeroD) {
  const Tensor a = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  expect_exact(a * f32({2}, {1}), {2, 3}, {2, 4, 6, 8, 10, 12});
  expect_exact(a - f32({1}, {}), {2, 3}, {0, 1, 2, 3, 4, 5});
  expect_exact(f32({3}, {}) + f32({4}, {}), {}, {7});
  expect_exact(f32({1, 2}, {2, 1, 1}) * f32({3}, {1, 1, 1, 1}), {1, 2, 1, 1}, {3, 6});
  // An empty extent broadcasts to an empty result.
  EXPECT_EQ((Tensor::zeros({2, 0}) + f32({1}, {1})).shape(), (Shape{2, 0}));
}

TEST(TensorArith, DivisionByZeroAndNaN) {
  const Tensor a = f32({1, -1, 0, kNaN}, {4}), zero = Tensor::zeros({1});
  expect_exact(a / zero, {4}, {kInf, -kInf, kNaN, kNaN});
  expect_exact(a + f32({kInf}, {1}), {4}, {kInf, kInf, kInf, kNaN});
}

// ---------------------------------------------------------------- unary

TEST(TensorArith, UnaryOps) {
  const Tensor x = f32({-2, -0.5f, 0, 1, 4, kInf, -kInf, kNaN}, {8});
  expect_exact(neg(x), {8}, {2, 0.5f, -0.f, -1, -4, -kInf, kInf, kNaN});
  expect_exact(-x, {8}, {2, 0.5f, -0.f, -1, -4, -kInf, kInf, kNaN});
  expect_exact(abs(x), {8}, {2, 0.5f, 0, 1, 4, kInf, kInf, kNaN});
  expect_exact(sqrt(x), {8}, {kNaN, kNaN, 0, 1, 2, kInf, kNaN, kNaN});
  // log: log(0) = -inf, negative -> NaN.
  EXPECT_TRUE(same_values(log(x), {kNaN, kNaN, -kInf, 0, std::log(4.f), kInf, kNaN, kNaN}, 1e-6));
  // exp: exp(-inf) = 0, exp(inf) = inf.
  EXPECT_TRUE(same_values(exp(x), {std::exp(-2.f), std::exp(-0.5f), 1, std::exp(1.f),
                                   std::exp(4.f), kInf, 0, kNaN}, 1e-6));
}

TEST(TensorArith, Clamp) {
  const Tensor x = f32({-3, -1, 0, 2, 5, kInf, -kInf, kNaN}, {8});
  expect_exact(clamp(x, -1.f, 2.f), {8}, {-1, -1, 0, 2, 2, 2, -1, kNaN});
  expect_exact(clamp(x, 0.f, std::nullopt), {8}, {0, 0, 0, 2, 5, kInf, 0, kNaN});
  expect_exact(clamp(x, std::nullopt, 0.f), {8}, {-3, -1, 0, 0, 0, 0, -kInf, kNaN});
  expect_exact(clamp(x, std::nullopt, std::nullopt), {8}, {-3, -1, 0, 2, 5, kInf, -kInf, kNaN});
  // min > max: every value is max, as torch.clamp.
  expect_exact(clamp(f32({-5, 0, 5}, {3}), 3.f, 1.f), {3}, {1, 1, 1});
}

TEST(TensorArith, ScalarOps) {
  const Tensor x = f32({1, 2, -4, 0}, {2, 2});
  expect_exact(add(x, 0.5f), {2, 2}, {1.5f, 2.5f, -3.5f, 0.5f});
  expect_exact(sub(x, 0.5f), {2, 2}, {0.5f, 1.5f, -4.5f, -0.5f});
  expect_exact(mul(x, -2.f), {2, 2}, {-2, -4, 8, -0.f});
  expect_exact(div(x, 4.f), {2, 2}, {0.25f, 0.5f, -1, 0});
  expect_exact(x + 1.f, {2, 2}, {2, 3, -3, 1});
  expect_exact(1.f + x, {2, 2}, {2, 3, -3, 1});
  expect_exact(x - 1.f, {2, 2}, {0, 1, -5, -1});
  expect_exact(1.f - x, {2, 2}, {0, -1, 5, 1});
  expect_exact(x * 3.f, {2, 2}, {3, 6, -12, 0});
  expect_exact(3.f * x, {2, 2}, {3, 6, -12, 0});
  expect_exact(x / 2.f, {2, 2}, {0.5f, 1, -2, 0});
  expect_exact(2.f / x, {2, 2}, {2, 1, -0.5f, kInf});
}

// ---------------------------------------------------------------- reductions

// x = [[1, 2, 3], [4, 5, 6]] as [2, 3]; y = arange(24) as [2, 3, 4].
TEST(TensorArith, ReduceAll) {
  const Tensor x = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  expect_exact(sum(x), {}, {21});
  expect_exact(mean(x), {}, {3.5f});
  expect_exact(max(x), {}, {6});
  expect_exact(min(x), {}, {1});
  EXPECT_TRUE(values_near(norm(x), {std::sqrt(91.f)}, 1e-7));
  EXPECT_EQ(sum(x).shape(), Shape{});
  EXPECT_EQ(sum(x).item(), 21.f);
  EXPECT_EQ(argmax(x).shape(), Shape{});
  EXPECT_EQ(ints(argmax(x)), std::vector<int32_t>{5});
  EXPECT_EQ(ints(argmin(x)), std::vector<int32_t>{0});
}

TEST(TensorArith, ReduceEachDim) {
  const Tensor x = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  expect_exact(sum(x, 0), {3}, {5, 7, 9});
  expect_exact(sum(x, 1), {2}, {6, 15});
  expect_exact(sum(x, -1), {2}, {6, 15});
  expect_exact(sum(x, 0, true), {1, 3}, {5, 7, 9});
  expect_exact(sum(x, 1, true), {2, 1}, {6, 15});
  expect_exact(mean(x, 0), {3}, {2.5f, 3.5f, 4.5f});
  expect_exact(mean(x, 1, true), {2, 1}, {2, 5});
  expect_exact(max(x, 0), {3}, {4, 5, 6});
  expect_exact(max(x, 1), {2}, {3, 6});
  expect_exact(min(x, -2, true), {1, 3}, {1, 2, 3});
  expect_exact(min(x, 1), {2}, {1, 4});
  EXPECT_TRUE(values_near(norm(x, 0), {std::sqrt(17.f), std::sqrt(29.f), std::sqrt(45.f)}, 1e-7));
  EXPECT_TRUE(values_near(norm(x, 1), {std::sqrt(14.f), std::sqrt(77.f)}, 1e-7));
  EXPECT_EQ(ints(argmax(x, 0)), (std::vector<int32_t>{1, 1, 1}));
  EXPECT_EQ(ints(argmax(x, 1)), (std::vector<int32_t>{2, 2}));
  EXPECT_EQ(argmax(x, 1, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(argmax(x, 1).dtype(), DType::I32);
  EXPECT_EQ(ints(argmin(x, 1)), (std::vector<int32_t>{0, 0}));
}

TEST(TensorArith, ReduceMiddleDimOf3d) {
  std::vector<float> v(24);
  for (int i = 0; i < 24; ++i) v[size_t(i)] = float(i);
  const Tensor y = f32(v, {2, 3, 4});
  // sum over dim 1: out[o][i] = sum_j (12 o + 4 j + i) = 36 o + 12 + 3 i.
  expect_exact(sum(y, 1), {2, 4}, {12, 15, 18, 21, 48, 51, 54, 57});
  expect_exact(sum(y, 1, true), {2, 1, 4}, {12, 15, 18, 21, 48, 51, 54, 57});
  expect_exact(max(y, 1), {2, 4}, {8, 9, 10, 11, 20, 21, 22, 23});
  expect_exact(sum(y, 0), {3, 4}, {12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34});
  expect_exact(mean(y, 2), {2, 3}, {1.5f, 5.5f, 9.5f, 13.5f, 17.5f, 21.5f});
  EXPECT_EQ(ints(argmin(y, 1)), (std::vector<int32_t>{0, 0, 0, 0, 0, 0, 0, 0}));
  expect_exact(sum(y, 2, true), {2, 3, 1}, {6, 22, 38, 54, 70, 86});
}

TEST(TensorArith, ZeroDimResults) {  // shape [], one element
  const Tensor s = sum(f32({1, 2, 3}, {3}));
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(s.item(), 6.f);
  EXPECT_EQ(s.str(), "Tensor[] f32 cpu");
  // A 0-d tensor reduces over dim 0 or -1 to itself, as in libtorch.
  expect_exact(sum(s, 0), {}, {6});
  expect_exact(max(s, -1, true), {}, {6});
  expect_exact(s * 2.f + s, {}, {18});
  EXPECT_EQ(reshape(s, {1, 1}).shape(), (Shape{1, 1}));
}

TEST(TensorArith, ReduceKeepdimOverAll) {  // ops::reduce: every dim kept with extent 1
  Backend& be = get_backend(Backend::Kind::Cpu);
  const Tensor x = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  expect_exact(ops::reduce(be, ReduceOp::Sum, x, std::nullopt, true), {1, 1}, {21});
}

TEST(TensorArith, ReduceNaNAndTies) {
  const Tensor x = f32({1, kNaN, 3, kNaN, 3}, {5});
  expect_exact(max(x), {}, {kNaN});
  expect_exact(min(x), {}, {kNaN});
  expect_exact(sum(x), {}, {kNaN});
  EXPECT_EQ(ints(argmax(x)), std::vector<int32_t>{1});  // the first NaN wins
  EXPECT_EQ(ints(argmin(x)), std::vector<int32_t>{1});
  const Tensor ties = f32({2, 5, 5, 1, 1, 5}, {6});
  EXPECT_EQ(ints(argmax(ties)), std::vector<int32_t>{1});  // the first maximum
  EXPECT_EQ(ints(argmin(ties)), std::vector<int32_t>{3});
  // Per row: row 0 has its NaN last, row 1 none.
  const Tensor rows = f32({1, 4, kNaN, 7, 7, 2}, {2, 3});
  EXPECT_EQ(ints(argmax(rows, 1)), (std::vector<int32_t>{2, 0}));
  expect_exact(max(rows, 1), {2}, {kNaN, 7});
  expect_exact(min(rows, 1), {2}, {kNaN, 2});
  expect_exact(max(f32({-kInf, -kInf}, {2})), {}, {-kInf});
  EXPECT_EQ(ints(argmax(f32({-kInf, -kInf}, {2}))), std::vector<int32_t>{0});
}

TEST(TensorArith, ReduceEmptyExtents) {
  const Tensor empty = Tensor::zeros({2, 0});
  expect_exact(sum(empty), {}, {0});
  expect_exact(norm(empty), {}, {0});
  expect_exact(mean(empty), {}, {kNaN});
  expect_exact(sum(empty, 1), {2}, {0, 0});
  expect_exact(mean(empty, 1), {2}, {kNaN, kNaN});
  // Reducing the other dim leaves an empty result, which needs no element.
  EXPECT_EQ(max(empty, 0).shape(), (Shape{0}));
  EXPECT_EQ(argmax(empty, 0).shape(), (Shape{0}));
}

TEST(TensorArith, ReduceRoundsOnce) {
  // 2^24 + 1 + 1 + ... in float would stay at 2^24; in double it reaches 2^24 + 4.
  const Tensor x = f32({16777216.f, 1, 1, 1, 1}, {5});
  expect_exact(sum(x), {}, {16777220.f});
}

// ---------------------------------------------------------------- linear algebra and shapes

TEST(TensorArith, Matmul) {
  const Tensor a = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor b = f32({7, 8, 9, 10, 11, 12}, {3, 2});
  expect_exact(matmul(a, b), {2, 2}, {58, 64, 139, 154});
  expect_exact(matmul(b, a), {3, 3}, {39, 54, 69, 49, 68, 87, 59, 82, 105});
  expect_exact(matmul(Tensor::zeros({2, 0}), Tensor::zeros({0, 3})), {2, 3}, {0, 0, 0, 0, 0, 0});
  EXPECT_EQ(matmul(Tensor::zeros({0, 4}), Tensor::zeros({4, 3})).shape(), (Shape{0, 3}));
}

TEST(TensorArith, Transpose) {
  const Tensor a = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  expect_exact(transpose(a), {3, 2}, {1, 4, 2, 5, 3, 6});
  const Tensor t = transpose(i32({1, 2, 3, 4, 5, 6}, {3, 2}));
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(ints(t), (std::vector<int32_t>{1, 3, 5, 2, 4, 6}));
  const Tensor v = f32({1, 2}, {2});
  const Tensor vt = transpose(v);  // libtorch's t() of a vector: itself (here a copy)
  expect_exact(vt, {2}, {1, 2});
  EXPECT_FALSE(vt.shares_storage_with(v));
  EXPECT_EQ(transpose(Tensor::zeros({0, 3})).shape(), (Shape{3, 0}));
}

TEST(TensorArith, ReshapeAndViewShareStorage) {
  Tensor a = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor r = reshape(a, {3, 2});
  Tensor v = view(a, {-1});
  EXPECT_EQ(r.shape(), (Shape{3, 2}));
  EXPECT_EQ(v.shape(), (Shape{6}));
  EXPECT_TRUE(r.shares_storage_with(a));
  EXPECT_TRUE(v.shares_storage_with(a));
  r += 1.f;  // in place: every view sees it
  expect_exact(a, {2, 3}, {2, 3, 4, 5, 6, 7});
  expect_exact(v, {6}, {2, 3, 4, 5, 6, 7});
}

TEST(TensorArith, CatEachDim) {
  const Tensor a = f32({1, 2, 3, 4}, {2, 2}), b = f32({5, 6}, {1, 2}), c = f32({7, 8}, {2, 1});
  expect_exact(cat({a, b}, 0), {3, 2}, {1, 2, 3, 4, 5, 6});
  expect_exact(cat({a, c}, 1), {2, 3}, {1, 2, 7, 3, 4, 8});
  expect_exact(cat({a, c, a}, -1), {2, 5}, {1, 2, 7, 1, 2, 3, 4, 8, 3, 4});
  expect_exact(cat({a}), {2, 2}, {1, 2, 3, 4});
  // [2,1,2] and [2,2,2] along the middle dim.
  const Tensor x = f32({1, 2, 3, 4}, {2, 1, 2});
  const Tensor y = f32({5, 6, 7, 8, 9, 10, 11, 12}, {2, 2, 2});
  expect_exact(cat({x, y}, 1), {2, 3, 2}, {1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12});
  expect_exact(cat({x, y.slice(0, 2)}, 1), {2, 3, 2}, {1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12});
  expect_exact(cat({x, x}, 2), {2, 1, 4}, {1, 2, 1, 2, 3, 4, 3, 4});
  // An empty piece adds nothing.
  expect_exact(cat({a, Tensor::zeros({0, 2}), b}, 0), {3, 2}, {1, 2, 3, 4, 5, 6});
  const Tensor ints_cat = cat({i32({1, 2}, {1, 2}), i32({3, 4}, {1, 2})}, 1);
  EXPECT_EQ(ints_cat.shape(), (Shape{1, 4}));
  EXPECT_EQ(ints(ints_cat), (std::vector<int32_t>{1, 2, 3, 4}));
  EXPECT_EQ(ints(cat({i32({1, 2}, {2, 1}), i32({3, 4}, {2, 1})}, 0)),
            (std::vector<int32_t>{1, 2, 3, 4}));
}

TEST(TensorArith, IndexSelect) {
  const Tensor a = f32({1, 2, 3, 4, 5, 6}, {3, 2});
  expect_exact(index_select(a, 0, i32({2, 0, 2}, {3})), {3, 2}, {5, 6, 1, 2, 5, 6});
  expect_exact(index_select(a, -2, i32({1}, {1})), {1, 2}, {3, 4});
  EXPECT_EQ(index_select(a, 0, i32({}, {0})).shape(), (Shape{0, 2}));
  const Tensor labels = i32({7, 8, 9}, {3});
  EXPECT_EQ(ints(index_select(labels, 0, i32({2, 2, 0}, {3}))), (std::vector<int32_t>{9, 9, 7}));
}

// ---------------------------------------------------------------- operators

TEST(TensorArith, CompoundOperatorsWriteInPlace) {
  Tensor a = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor alias = a;  // a handle sharing a's storage sees every change
  const float* storage = a.data<float>();
  a += f32({10, 20, 30}, {3});
  expect_exact(alias, {2, 3}, {11, 22, 33, 14, 25, 36});
  a -= f32({1, 2}, {2, 1});
  expect_exact(alias, {2, 3}, {10, 21, 32, 12, 23, 34});
  a *= f32({2}, {1});
  expect_exact(alias, {2, 3}, {20, 42, 64, 24, 46, 68});
  a /= f32({2, 2, 4}, {1, 3});
  expect_exact(alias, {2, 3}, {10, 21, 16, 12, 23, 17});
  a += 1.f;
  a -= 2.f;
  a *= 2.f;
  a /= 4.f;
  expect_exact(alias, {2, 3}, {4.5f, 10, 7.5f, 5.5f, 11, 8});
  EXPECT_EQ(a.data<float>(), storage);
  // a op= a, and a row of a added to all of a (read before it is overwritten).
  Tensor b = f32({1, 2, 3, 4}, {2, 2});
  b += b;
  expect_exact(b, {2, 2}, {2, 4, 6, 8});
  b += b.slice(0, 1);
  expect_exact(b, {2, 2}, {4, 8, 8, 12});
  // Chained: each operator returns its target.
  Tensor c = f32({1}, {1});
  (c += 1.f) *= 3.f;
  expect_exact(c, {1}, {6});
}

TEST(TensorArith, OperatorsCompose) {
  const Tensor x = f32({1, 2, 3, 4}, {2, 2}), w = f32({0.5f, -1}, {2});
  // A hand-written linear layer with a mean-squared loss.
  const Tensor y = matmul(x, transpose(f32({1, 0, 0, 1}, {2, 2}))) * w + 1.f;
  expect_exact(y, {2, 2}, {1.5f, -1, 2.5f, -3});
  expect_exact(mean((y - 1.f) * (y - 1.f)), {}, {(0.25f + 4 + 2.25f + 16) / 4});
}

}  // namespace
}  // namespace convnet::test
