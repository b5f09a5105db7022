// Tensor arithmetic kernels (tensor_arith.cu, gather.cu) on the emulated device
// against reference loops, in every Scenario (scenario.hpp): binary ops under
// broadcasting (flat and general paths, in place), unary ops with NaN, infinities
// and signed zeros, the tiled transpose (shared memory: race mode sees it), cat's
// column copy and index_select's row gather, f32 and i32.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <utility>

#include "convnet/backend.hpp"
#include "kernels/broadcast_collapse.hpp"
#include "kernels/broadcast_index.hpp"
#include "scenario.hpp"

namespace convnet::emu::testing {
namespace {

class TensorArith : public EmuKernel {};

using Dims = std::vector<int64_t>;

// NumPy broadcasting of a and b (right-aligned), built as ops::make_broadcast
// would: contiguous strides over each input's own shape, 0 where it broadcasts.
Broadcast make_broadcast(const Dims& a, const Dims& b) {
  Broadcast bc;
  bc.rank = static_cast<int>(std::max(a.size(), b.size()));
  int64_t a_stride = 1, b_stride = 1;
  for (int d = bc.rank - 1; d >= 0; --d) {
    const int ad = d - (bc.rank - static_cast<int>(a.size()));
    const int bd = d - (bc.rank - static_cast<int>(b.size()));
    const int64_t as = ad >= 0 ? a[ad] : 1, bs = bd >= 0 ? b[bd] : 1;
    bc.sizes[d] = std::max(as, bs);
    bc.a_strides[d] = as == 1 ? 0 : a_stride;
    bc.b_strides[d] = bs == 1 ? 0 : b_stride;
    a_stride *= as;
    b_stride *= bs;
  }
  return bc;
}

int64_t count_of(const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

// Bit-identical, or both NaN.
void expect_same(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const bool same = (std::isnan(got[i]) && std::isnan(want[i])) ||
                      std::memcmp(&got[i], &want[i], sizeof(float)) == 0;
    if (!same && ++bad <= 3) ADD_FAILURE() << what << "[" << i << "] = " << got[i] << ", want " << want[i];
  }
  EXPECT_EQ(bad, 0u) << what << ": elements differ";
}

float reference_binary(BinaryOp op, float x, float y) {
  switch (op) {
    case BinaryOp::Add: return x + y;
    case BinaryOp::Sub: return x - y;
    case BinaryOp::Mul: return x * y;
    case BinaryOp::Div: return x / y;
  }
  return NAN;
}

// ---- broadcasting

TEST(TensorArithHost, CollapsedBroadcastKeepsEveryOffset) {
  const std::vector<std::pair<Dims, Dims>> cases = {
      {{3, 5, 7}, {3, 5, 7}}, {{3, 5, 7}, {}},        {{4, 33}, {33}},
      {{4, 33}, {4, 1}},      {{5, 1, 3}, {1, 4, 1}}, {{2, 1, 3, 1}, {1, 5, 1, 7}},
      {{1, 1, 6}, {2, 3, 1}}, {{2, 3, 4, 5}, {1, 3, 4, 1}}};
  for (const auto& [a, b] : cases) {
    const Broadcast bc = make_broadcast(a, b);
    const Broadcast walk = kernels::collapse_broadcast(bc);
    int64_t count = 1;
    for (int d = 0; d < bc.rank; ++d) count *= bc.sizes[d];
    for (int64_t i = 0; i < count; ++i) {
      const auto want = kernels::broadcast_offsets(bc, i);
      const auto got = kernels::broadcast_offsets(walk, i);
      ASSERT_EQ(got.a, want.a) << "element " << i;
      ASSERT_EQ(got.b, want.b) << "element " << i;
    }
  }
  // Same shapes and scalars collapse to the flat path's one dim (or none).
  EXPECT_EQ(kernels::collapse_broadcast(make_broadcast({3, 5, 7}, {3, 5, 7})).rank, 1);
  EXPECT_EQ(kernels::collapse_broadcast(make_broadcast({3, 5, 7}, {1})).rank, 1);
  EXPECT_EQ(kernels::collapse_broadcast(make_broadcast({1, 1}, {1})).rank, 0);
  EXPECT_EQ(kernels::collapse_broadcast(make_broadcast({4, 33}, {33})).rank, 2);
}

void check_binary(const Dims& a_dims, const Dims& b_dims) {
  const Broadcast bc = make_broadcast(a_dims, b_dims);
  int64_t count = 1;
  for (int d = 0; d < bc.rank; ++d) count *= bc.sizes[d];
  const std::vector<float> a = random_floats(count_of(a_dims), 61, -3.f, 3.f);
  std::vector<float> b = random_floats(count_of(b_dims), 62, 0.5f, 2.f);
  for (size_t i = 0; i < b.size(); i += 2) b[i] = -b[i];  // divisors away from 0, both signs
  for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div}) {
    std::vector<float> want(count), got(count, NAN);
    for (int64_t i = 0; i < count; ++i) {
      const auto at = kernels::broadcast_offsets(bc, i);
      want[i] = reference_binary(op, a[at.a], b[at.b]);
    }
    kernels::binary_f32(op, a.data(), b.data(), bc, got.data(), nullptr);
    expect_same(got, want, "binary");
  }
}

TEST_P(TensorArith, BinarySameShape) { check_binary({3, 5, 67}, {3, 5, 67}); }
TEST_P(TensorArith, BinaryScalarOperand) {
  check_binary({7, 131}, {});
  check_binary({1}, {7, 131});
  check_binary({1, 1}, {1});
}
TEST_P(TensorArith, BinaryRowAndColumn) {
  check_binary({40, 33}, {33});
  check_binary({40, 33}, {40, 1});
  check_binary({1, 33}, {40, 1});
}
TEST_P(TensorArith, BinaryMixedRanks) {
  check_binary({5, 1, 3}, {1, 4, 1});
  check_binary({2, 1, 3, 1}, {1, 5, 1, 7});
  check_binary({2, 3, 4, 5}, {3, 1, 5});
}

TEST_P(TensorArith, BinaryInPlace) {  // a += b with b broadcast over a's rows
  std::vector<float> a = random_floats(30 * 41, 63);
  const std::vector<float> b = random_floats(41, 64);
  std::vector<float> want(a.size());
  for (size_t i = 0; i < a.size(); ++i) want[i] = a[i] * b[i % 41];
  kernels::binary_f32(BinaryOp::Mul, a.data(), b.data(), make_broadcast({30, 41}, {41}), a.data(),
                      nullptr);
  expect_same(a, want, "in-place mul");
}

TEST_P(TensorArith, BinaryPropagatesNaN) {
  std::vector<float> a = random_floats(300, 65);
  const std::vector<float> b(1, NAN);
  a[17] = NAN;
  std::vector<float> out(300, 0.f);
  kernels::binary_f32(BinaryOp::Add, a.data(), b.data(), make_broadcast({300}, {1}), out.data(),
                      nullptr);
  for (float v : out) EXPECT_TRUE(std::isnan(v));
}

// ---- unary

TEST_P(TensorArith, UnaryOps) {
  std::vector<float> x = random_floats(1001, 66, -4.f, 4.f);
  const float inf = std::numeric_limits<float>::infinity();
  const float specials[] = {NAN, inf, -inf, 0.f, -0.f, -1.f, 1e-30f, 2.f};
  for (size_t i = 0; i < std::size(specials); ++i) x[i * 97] = specials[i];
  struct Case {
    UnaryOp op;
    float s0, s1;
    float (*want)(float, float, float);
  };
  const Case cases[] = {
      {UnaryOp::Neg, 0, 0, [](float v, float, float) { return -v; }},
      {UnaryOp::Abs, 0, 0, [](float v, float, float) { return std::fabs(v); }},
      {UnaryOp::AddScalar, -1.25f, 0, [](float v, float s, float) { return v + s; }},
      {UnaryOp::MulScalar, 3.f, 0, [](float v, float s, float) { return v * s; }},
      {UnaryOp::DivScalar, 3.f, 0, [](float v, float s, float) { return v / s; }},
      {UnaryOp::RSubScalar, 2.f, 0, [](float v, float s, float) { return s - v; }},
      {UnaryOp::RDivScalar, 2.f, 0, [](float v, float s, float) { return s / v; }},
      // torch.clamp: min(max(x, lo), hi); NaN stays NaN; lo > hi gives hi
      {UnaryOp::Clamp, -0.5f, 1.5f, [](float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }},
      {UnaryOp::Clamp, -inf, 0.f, [](float v, float, float) { return v > 0.f ? 0.f : v; }},
      {UnaryOp::Clamp, 1.f, -1.f, [](float v, float, float) { return std::isnan(v) ? v : -1.f; }},
  };
  for (const Case& c : cases) {
    std::vector<float> got(x.size(), NAN), want(x.size());
    for (size_t i = 0; i < x.size(); ++i) want[i] = c.want(x[i], c.s0, c.s1);
    kernels::unary_f32(c.op, x.data(), c.s0, c.s1, got.data(), static_cast<int64_t>(x.size()),
                       nullptr);
    expect_same(got, want, "unary");
  }
  // exp, log and sqrt: the device's own functions, so a tolerance (NaN for log
  // and sqrt of negatives, -inf for log 0).
  for (UnaryOp op : {UnaryOp::Exp, UnaryOp::Log, UnaryOp::Sqrt}) {
    std::vector<float> got(x.size(), 0.f);
    kernels::unary_f32(op, x.data(), 0.f, 0.f, got.data(), static_cast<int64_t>(x.size()), nullptr);
    size_t bad = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double v = x[i];
      const double want = op == UnaryOp::Exp ? std::exp(v) : op == UnaryOp::Log ? std::log(v) : std::sqrt(v);
      const bool ok = std::isnan(want) ? std::isnan(got[i])
                      : std::isinf(want) ? got[i] == want
                                         : std::fabs(got[i] - want) <= 1e-6 * std::fmax(1.0, std::fabs(want));
      if (!ok && ++bad <= 3) ADD_FAILURE() << "op " << int(op) << " of " << x[i] << " = " << got[i];
    }
    EXPECT_EQ(bad, 0u);
  }
  // In place.
  std::vector<float> y = x, want(x.size());
  for (size_t i = 0; i < x.size(); ++i) want[i] = x[i] * 0.5f;
  kernels::unary_f32(UnaryOp::MulScalar, y.data(), 0.5f, 0.f, y.data(), static_cast<int64_t>(y.size()), nullptr);
  expect_same(y, want, "in-place unary");
}

// ---- transpose: odd shapes across tile edges, f32 and i32

template <typename T>
void check_transpose(int64_t rows, int64_t cols) {
  std::vector<T> in(rows * cols), out(rows * cols, T(-7)), want(rows * cols);
  for (int64_t i = 0; i < rows * cols; ++i) in[i] = static_cast<T>(i * 3 + 1);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) want[c * rows + r] = in[r * cols + c];
  kernels::transpose2d_words(in.data(), rows, cols, out.data(), nullptr);
  EXPECT_EQ(out, want) << rows << " x " << cols;
}

TEST_P(TensorArith, Transpose2d) {
  check_transpose<float>(1, 1);
  check_transpose<float>(37, 70);  // 2 x 3 tiles, ragged on both edges
  check_transpose<float>(64, 32);
  check_transpose<int32_t>(3, 100);
  check_transpose<int32_t>(100, 1);
}

// ---- cat's column copy and index_select's gather

TEST_P(TensorArith, CopyColumnsBuildsACat) {
  const int64_t outer = 45, left = 3, right = 70;
  std::vector<int32_t> a(outer * left), b(outer * right), out(outer * (left + right), -1);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<int32_t>(i);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<int32_t>(100000 + i);
  kernels::copy_columns_words(a.data(), outer, left, left + right, 0, out.data(), nullptr);
  kernels::copy_columns_words(b.data(), outer, right, left + right, left, out.data(), nullptr);
  for (int64_t r = 0; r < outer; ++r)
    for (int64_t c = 0; c < left + right; ++c)
      ASSERT_EQ(out[r * (left + right) + c], c < left ? a[r * left + c] : b[r * right + c - left])
          << "row " << r << " column " << c;
  // Only the named columns are written.
  std::vector<float> x = random_floats(4 * 5, 67), y(4 * 9, -2.f);
  kernels::copy_columns_words(x.data(), 4, 5, 9, 2, y.data(), nullptr);
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t c = 0; c < 9; ++c)
      EXPECT_EQ(y[r * 9 + c], c >= 2 && c < 7 ? x[r * 5 + c - 2] : -2.f);
}

TEST_P(TensorArith, IndexSelectRows) {
  const int64_t rows = 9, row_size = 61;
  std::vector<int32_t> source(rows * row_size);
  for (size_t i = 0; i < source.size(); ++i) source[i] = static_cast<int32_t>(i * 7);
  const std::vector<int32_t> indices = {8, 0, 3, 3, 8, 1};  // repeats, any order
  std::vector<int32_t> out(indices.size() * row_size, -1);
  kernels::gather_rows_i32(source.data(), indices.data(), static_cast<int64_t>(indices.size()),
                           row_size, out.data(), nullptr);
  for (size_t r = 0; r < indices.size(); ++r)
    for (int64_t c = 0; c < row_size; ++c)
      ASSERT_EQ(out[r * row_size + c], source[indices[r] * row_size + c]);
}

CONVNET_EMU_SCENARIOS(TensorArith);

}  // namespace
}  // namespace convnet::emu::testing
