// The CUDA backend's tensor arithmetic against host loops (independent of the
// CPU backend, which the parity table holds it to): matmul through cuBLAS's
// column-major swap, reductions on every plan of reduce_axis.cu (the split of
// a long extent through the context's workspace included) repeating bit for
// bit under another grid, broadcasting and in-place binary ops, and the data
// movement ops on f32 and i32. Outputs start as NaN, so an unwritten element
// fails. Skips with the reason where there is no GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "convnet/convnet.hpp"
#include "support/grid_cap.hpp"
#include "support/small_shapes.hpp"

namespace convnet {
namespace {

class CudaTensorArith : public testing::Test {
 protected:
  void SetUp() override {
    if (!backend_available(Backend::Kind::Cuda))
      GTEST_SKIP() << backend_unavailable_reason(Backend::Kind::Cuda);
  }
  Backend& gpu() { return get_backend(Backend::Kind::Cuda); }
};

std::vector<float> host_values(const Tensor& t) { return t.to_vector<float>(); }

Tensor nan_tensor(const Shape& shape) { return Tensor::full(shape, NAN, Device::cuda()); }

TEST_F(CudaTensorArith, MatmulMatchesAHostLoop) {
  struct Case {
    int64_t m, k, n;
  };
  for (const Case& c : {Case{5, 7, 3}, Case{1, 1, 1}, Case{64, 65, 31}, Case{3, 0, 4}}) {
    SCOPED_TRACE(testing::Message() << c.m << "x" << c.k << " * " << c.k << "x" << c.n);
    const Tensor a = Tensor::randn({c.m, c.k}, Device::cpu(), 1);
    const Tensor b = Tensor::randn({c.k, c.n}, Device::cpu(), 2);
    Tensor out = nan_tensor({c.m, c.n});
    gpu().matmul(a.to(Device::cuda()), b.to(Device::cuda()), out);
    const std::vector<float> got = host_values(out), av = host_values(a), bv = host_values(b);
    // FP32 (pedantic) unless the user allowed TF32's 10-bit mantissa.
    const double tolerance = math_mode() == MathMode::TF32 ? 2e-3 : 1e-5;
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < c.n; ++j) {
        double want = 0.0, magnitude = 0.0;
        for (int64_t p = 0; p < c.k; ++p) {
          want += double{av[i * c.k + p]} * bv[p * c.n + j];
          magnitude += std::fabs(double{av[i * c.k + p]} * bv[p * c.n + j]);
        }
        ASSERT_NEAR(got[i * c.n + j], want, tolerance * std::fmax(1.0, magnitude))
            << "element " << i << ", " << j;
      }
  }
}

// One reduction's result on the host: values (f32) or indices (i32).
struct Reduced {
  std::vector<float> values;
  std::vector<int32_t> indices;
  bool operator==(const Reduced& o) const {
    return indices == o.indices && values.size() == o.values.size() &&
           (values.empty() ||  // memcmp must not see the null data() of an empty vector
            std::memcmp(values.data(), o.values.data(), values.size() * sizeof(float)) == 0);
  }
};

bool index_op(ReduceOp op) { return op == ReduceOp::ArgMax || op == ReduceOp::ArgMin; }

Reduced reduce_on(Backend& gpu, ReduceOp op, const Tensor& x, int64_t outer, int64_t extent,
                  int64_t inner) {
  Tensor out = index_op(op) ? Tensor::full({outer, inner}, -7.f, Device::cuda(), DType::I32)
                            : nan_tensor({outer, inner});
  gpu.reduce(op, x, outer, extent, inner, out);
  Reduced r;
  if (index_op(op))
    r.indices = out.to_vector<int32_t>();
  else
    r.values = out.to_vector<float>();
  return r;
}

TEST_F(CudaTensorArith, ReductionsMatchAHostLoopAndRepeatBitwise) {
  const bool small = testing_support::small_test_shapes();
  struct AxisShape {
    int64_t outer, extent, inner;
  };
  // A split extent (two of them), a block per output, a thread per output;
  // smaller on the emulated device (under ASan the large ones take 80 s).
  const std::vector<AxisShape> shapes =
      small ? std::vector<AxisShape>{{1, 9000, 1}, {2, 8200, 1}, {16, 300, 1}, {2, 70, 40}}
            : std::vector<AxisShape>{{1, 1000000, 1}, {3, 9000, 2}, {64, 1000, 1}, {4, 100, 300}};
  for (const AxisShape& s : shapes) {
    std::vector<float> x = host_values(Tensor::randn({s.outer * s.extent * s.inner}, Device::cpu(), 3));
    // Output 0 sees two NaNs: Max/Min give NaN, Arg* the first one.
    x[(s.extent / 2) * s.inner] = NAN;
    x[(s.extent - 1) * s.inner] = NAN;
    const Tensor device_x = Tensor::from_vector(x, {s.outer, s.extent, s.inner}, Device::cuda());
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Norm, ReduceOp::Max,
                        ReduceOp::Min, ReduceOp::ArgMax, ReduceOp::ArgMin}) {
      SCOPED_TRACE(testing::Message() << "op " << static_cast<int>(op) << " over [" << s.outer
                                      << ", " << s.extent << ", " << s.inner << "]");
      const Reduced got = reduce_on(gpu(), op, device_x, s.outer, s.extent, s.inner);
      for (int64_t o = 0; o < s.outer; ++o)
        for (int64_t i = 0; i < s.inner; ++i) {
          double total = 0.0;
          float best = NAN;
          int64_t best_at = -1;
          const bool largest = op == ReduceOp::Max || op == ReduceOp::ArgMax;
          for (int64_t e = 0; e < s.extent; ++e) {
            const float v = x[(o * s.extent + e) * s.inner + i];
            total += op == ReduceOp::Norm ? double{v} * v : v;
            const bool take = best_at < 0 || (!std::isnan(best) &&
                                              (std::isnan(v) || (largest ? v > best : v < best)));
            if (take) best = v, best_at = e;
          }
          const int64_t at = o * s.inner + i;
          if (index_op(op)) {
            ASSERT_EQ(got.indices[at], best_at) << "output " << at;
            continue;
          }
          double want = best;
          if (op == ReduceOp::Sum) want = total;
          if (op == ReduceOp::Mean) want = total / s.extent;
          if (op == ReduceOp::Norm) want = std::sqrt(total);
          if (std::isnan(want))
            ASSERT_TRUE(std::isnan(got.values[at])) << "output " << at;
          else
            ASSERT_NEAR(got.values[at], want, 1e-6 * std::fmax(1.0, std::fabs(want)))
                << "output " << at;
        }
      EXPECT_TRUE(got == reduce_on(gpu(), op, device_x, s.outer, s.extent, s.inner))
          << "a second run differs";
      testing_support::GridCap cap(3);
      EXPECT_TRUE(got == reduce_on(gpu(), op, device_x, s.outer, s.extent, s.inner))
          << "a grid of 3 blocks differs";
    }
  }
}

// NumPy broadcasting of [rows, cols] op [cols] (b repeats over the rows).
Broadcast row_broadcast(int64_t rows, int64_t cols) {
  Broadcast bc;
  bc.rank = 2;
  bc.sizes[0] = rows, bc.sizes[1] = cols;
  bc.a_strides[0] = cols, bc.a_strides[1] = 1;
  bc.b_strides[0] = 0, bc.b_strides[1] = 1;
  return bc;
}

TEST_F(CudaTensorArith, BinaryBroadcastsAndWritesInPlace) {
  const int64_t rows = 40, cols = 33;
  const Tensor a = Tensor::randn({rows, cols}, Device::cpu(), 4);
  const Tensor b = Tensor::rand({cols}, Device::cpu(), 5, 0.5f, 2.f);
  const std::vector<float> av = host_values(a), bv = host_values(b);
  Tensor out = nan_tensor({rows, cols});
  const Tensor da = a.to(Device::cuda()), db = b.to(Device::cuda());
  gpu().binary(BinaryOp::Div, da, db, row_broadcast(rows, cols), out);
  std::vector<float> got = host_values(out);
  for (int64_t i = 0; i < rows * cols; ++i) ASSERT_EQ(got[i], av[i] / bv[i % cols]) << i;
  Tensor in_place = a.to(Device::cuda());  // a -= b, the output aliasing a
  gpu().binary(BinaryOp::Sub, in_place, db, row_broadcast(rows, cols), in_place);
  got = host_values(in_place);
  for (int64_t i = 0; i < rows * cols; ++i) ASSERT_EQ(got[i], av[i] - bv[i % cols]) << i;
  Tensor clamped = nan_tensor({rows, cols});
  gpu().unary(UnaryOp::Clamp, da, -0.5f, 0.25f, clamped);
  got = host_values(clamped);
  for (int64_t i = 0; i < rows * cols; ++i)
    ASSERT_EQ(got[i], std::fmin(std::fmax(av[i], -0.5f), 0.25f)) << i;
}

TEST_F(CudaTensorArith, DataMovementMovesF32AndI32Words) {
  // transpose2d, i32 [37, 70] (ragged tiles) and f32 [70, 37]
  std::vector<int32_t> ints(37 * 70);
  for (size_t i = 0; i < ints.size(); ++i) ints[i] = static_cast<int32_t>(i * 3 - 1000);
  Tensor t = Tensor::full({70, 37}, -1.f, Device::cuda(), DType::I32);
  gpu().transpose2d(Tensor::from_vector(ints, {37, 70}, Device::cuda()), t);
  const std::vector<int32_t> tv = t.to_vector<int32_t>();
  for (int64_t r = 0; r < 37; ++r)
    for (int64_t c = 0; c < 70; ++c) ASSERT_EQ(tv[c * 37 + r], ints[r * 70 + c]);
  const Tensor f = Tensor::randn({70, 37}, Device::cpu(), 6);
  Tensor ft = nan_tensor({37, 70});
  gpu().transpose2d(f.to(Device::cuda()), ft);
  const std::vector<float> fv = host_values(f), ftv = host_values(ft);
  for (int64_t r = 0; r < 70; ++r)
    for (int64_t c = 0; c < 37; ++c) ASSERT_EQ(ftv[c * 70 + r], fv[r * 37 + c]);

  // copy_columns: cat([5, 2, 3], [5, 2, 4], dim 2) as outer 10, columns 3 + 4
  const Tensor left = Tensor::randn({5, 2, 3}, Device::cpu(), 7);
  const Tensor right = Tensor::randn({5, 2, 4}, Device::cpu(), 8);
  Tensor cat = nan_tensor({5, 2, 7});
  gpu().copy_columns(left.to(Device::cuda()), 10, 0, cat);
  gpu().copy_columns(right.to(Device::cuda()), 10, 3, cat);
  const std::vector<float> cv = host_values(cat), lv = host_values(left), rv = host_values(right);
  for (int64_t r = 0; r < 10; ++r)
    for (int64_t c = 0; c < 7; ++c)
      ASSERT_EQ(cv[r * 7 + c], c < 3 ? lv[r * 3 + c] : rv[r * 4 + c - 3]) << r << ", " << c;

  // index_select on rows of [6, 2, 5], i32 and f32, indices repeating
  const std::vector<int32_t> pick = {5, 0, 5, 2};
  const Tensor indices = Tensor::from_vector(pick, {4}, Device::cuda());
  std::vector<int32_t> source(60);
  for (size_t i = 0; i < source.size(); ++i) source[i] = static_cast<int32_t>(i * 11);
  Tensor picked = Tensor::full({4, 2, 5}, -1.f, Device::cuda(), DType::I32);
  gpu().index_select(Tensor::from_vector(source, {6, 2, 5}, Device::cuda()), indices, picked);
  const std::vector<int32_t> pv = picked.to_vector<int32_t>();
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t c = 0; c < 10; ++c) ASSERT_EQ(pv[r * 10 + c], source[pick[r] * 10 + c]);
  const Tensor fsource = Tensor::randn({6, 2, 5}, Device::cpu(), 9);
  Tensor fpicked = nan_tensor({4, 2, 5});
  gpu().index_select(fsource.to(Device::cuda()), indices, fpicked);
  const std::vector<float> fsv = host_values(fsource), fpv = host_values(fpicked);
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t c = 0; c < 10; ++c) ASSERT_EQ(fpv[r * 10 + c], fsv[pick[r] * 10 + c]);
}

}  // namespace
}  // namespace convnet
