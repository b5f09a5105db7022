// Reductions over the middle axis (reduce_axis.cu) on the emulated device
// against reference loops, in every Scenario (scenario.hpp). The shapes reach
// each plan: a thread per output (short extents; many outputs with inner > 1),
// a block per output (32, 128 and 256 threads, inner 1 and > 1), and the split
// of a long extent through the workspace. NaN and ties check torch's rules
// (Max/Min propagate NaN, Arg* give the first extreme, the first NaN winning);
// results must be bit-identical under another grid cap.
#include <cstdint>
#include <cstring>

#include "convnet/backend.hpp"
#include "scenario.hpp"

namespace convnet::emu::testing {
namespace {

class ReduceAxis : public EmuKernel {};

struct AxisShape {
  int64_t outer, extent, inner;
};

const ReduceOp kAllOps[] = {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Norm, ReduceOp::Max,
                            ReduceOp::Min, ReduceOp::ArgMax, ReduceOp::ArgMin};

bool is_index_op(ReduceOp op) { return op == ReduceOp::ArgMax || op == ReduceOp::ArgMin; }

// The reference: each output by a plain loop over e, in double for the sums.
// The extreme is tracked as (value, index) with a NaN taking over only from a non-NaN.
void reference(ReduceOp op, const std::vector<float>& x, const AxisShape& s,
               std::vector<double>& values, std::vector<int32_t>& indices) {
  values.assign(s.outer * s.inner, 0.0);
  indices.assign(s.outer * s.inner, -1);
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t i = 0; i < s.inner; ++i) {
      const int64_t out = o * s.inner + i;
      double total = 0.0;
      float best = 0.f;
      int64_t best_index = -1;
      for (int64_t e = 0; e < s.extent; ++e) {
        const float v = x[(o * s.extent + e) * s.inner + i];
        total += op == ReduceOp::Norm ? double{v} * v : double{v};
        const bool larger = op == ReduceOp::Max || op == ReduceOp::ArgMax;
        bool take = best_index < 0;
        if (!take && !std::isnan(best)) take = std::isnan(v) || (larger ? v > best : v < best);
        if (take) {
          best = v;
          best_index = e;
        }
      }
      switch (op) {
        case ReduceOp::Sum: values[out] = total; break;
        case ReduceOp::Mean: values[out] = total / static_cast<double>(s.extent); break;
        case ReduceOp::Norm: values[out] = std::sqrt(total); break;
        case ReduceOp::Max:
        case ReduceOp::Min: values[out] = best; break;
        default: indices[out] = static_cast<int32_t>(best_index);
      }
    }
}

struct Result {
  std::vector<float> values;
  std::vector<int32_t> indices;
};

Result run(ReduceOp op, const std::vector<float>& x, const AxisShape& s) {
  Result r;
  const int64_t outputs = s.outer * s.inner;
  if (is_index_op(op))
    r.indices.assign(outputs, -7);
  else
    r.values.assign(outputs, NAN);  // poisoned: every output must be written
  std::vector<double> workspace(
      (kernels::reduce_axis_workspace(op, s.outer, s.extent, s.inner) + 7) / 8 + 1);
  kernels::reduce_axis(op, x.data(), s.outer, s.extent, s.inner,
                       is_index_op(op) ? nullptr : r.values.data(),
                       is_index_op(op) ? r.indices.data() : nullptr, workspace.data(), nullptr);
  return r;
}

bool same_bits(const Result& a, const Result& b) {
  return a.indices == b.indices && a.values.size() == b.values.size() &&
         (a.values.empty() ||  // memcmp must not see the null data() of an empty vector
          std::memcmp(a.values.data(), b.values.data(), a.values.size() * sizeof(float)) == 0);
}

// `regrid`: also rerun under grid cap 1 (scenarios have 0, 2 and 3), which must
// give the same bits. (A rerun under the same grid is left to the GPU test,
// tests/cuda/tensor_arith_test.cpp: emulated threads never race.)
void check(const AxisShape& s, const std::vector<float>& x, const char* what, bool regrid) {
  for (ReduceOp op : kAllOps) {
    SCOPED_TRACE(::testing::Message() << what << ": op " << static_cast<int>(op) << ", ["
                                      << s.outer << ", " << s.extent << ", " << s.inner << "]");
    std::vector<double> want_values;
    std::vector<int32_t> want_indices;
    reference(op, x, s, want_values, want_indices);
    const Result got = run(op, x, s);
    if (is_index_op(op)) {
      EXPECT_EQ(got.indices, want_indices);
    } else if (op == ReduceOp::Max || op == ReduceOp::Min) {
      for (size_t i = 0; i < got.values.size(); ++i)
        ASSERT_TRUE(std::isnan(want_values[i]) ? std::isnan(got.values[i])
                                               : got.values[i] == want_values[i])
            << "output " << i << " = " << got.values[i] << ", want " << want_values[i];
    } else {  // double sums in another order: the same float, or one rounding away
      for (size_t i = 0; i < got.values.size(); ++i)
        ASSERT_TRUE(std::isnan(want_values[i])
                        ? std::isnan(got.values[i])
                        : std::fabs(got.values[i] - want_values[i]) <=
                              1e-6 * std::fmax(1.0, std::fabs(want_values[i])))
            << "output " << i << " = " << got.values[i] << ", want " << want_values[i];
    }
    if (!regrid) continue;
    const int cap = kernels::grid_cap();
    kernels::set_grid_cap(1);
    const Result again = run(op, x, s);
    kernels::set_grid_cap(cap);
    EXPECT_TRUE(same_bits(got, again)) << "grid cap 1 differs: the order must be the shape's alone";
  }
}

// Values from a few levels, so ties (equal extremes) are common.
std::vector<float> tied_floats(size_t count, uint32_t seed) {
  std::vector<float> v = random_floats(count, seed, -3.f, 3.f);
  for (float& x : v) x = std::round(x * 2.f) / 2.f;
  return v;
}

void check_shape(const AxisShape& s) {
  const size_t count = static_cast<size_t>(s.outer * s.extent * s.inner);
  check(s, random_floats(count, 71, -2.f, 2.f), "random", true);
  check(s, tied_floats(count, 72), "ties", false);
}

TEST_P(ReduceAxis, ThreadPerOutputShortExtent) {
  check_shape({4, 5, 3});
  check_shape({70, 1, 1});
  check_shape({1, 63, 1});
}
TEST_P(ReduceAxis, ThreadPerOutputManyColumns) { check_shape({3, 70, 700}); }
TEST_P(ReduceAxis, BlockPerOutputRows) {
  check_shape({33, 100, 1});   // 32 threads
  check_shape({5, 300, 1});    // 128 threads
  check_shape({3, 2100, 1});   // 256 threads
  check_shape({2, 300, 3});    // strided extent, few outputs
}
TEST_P(ReduceAxis, SplitLongExtent) {
  check_shape({1, 9000, 1});   // 3 segments of 4096
  check_shape({1, 8500, 2});
}

TEST_P(ReduceAxis, EmptyExtentSums) {  // Sum of nothing is 0, Mean NaN, Norm 0
  const AxisShape s{3, 0, 4};
  const std::vector<float> none;
  EXPECT_EQ(run(ReduceOp::Sum, none, s).values, std::vector<float>(12, 0.f));
  EXPECT_EQ(run(ReduceOp::Norm, none, s).values, std::vector<float>(12, 0.f));
  for (float v : run(ReduceOp::Mean, none, s).values) EXPECT_TRUE(std::isnan(v));
}

// NaN at two places of one output: Max/Min give NaN, Arg* the first NaN; the
// other outputs are untouched by it. One shape per plan.
TEST_P(ReduceAxis, NaNPropagatesAndTheFirstWins) {
  for (const AxisShape& s : {AxisShape{4, 5, 3}, AxisShape{3, 70, 700}, AxisShape{5, 300, 1},
                             AxisShape{1, 9000, 1}}) {
    std::vector<float> x = random_floats(s.outer * s.extent * s.inner, 73);
    const int64_t o = s.outer - 1, i = s.inner - 1;
    const int64_t first = s.extent / 3 + 1, second = s.extent - 1;  // another segment when split
    x[(o * s.extent + second) * s.inner + i] = NAN;
    x[(o * s.extent + first) * s.inner + i] = NAN;
    check(s, x, "NaN", true);
    const int64_t out = o * s.inner + i;
    EXPECT_EQ(run(ReduceOp::ArgMax, x, s).indices[out], first);  // the reference agrees
    EXPECT_EQ(run(ReduceOp::ArgMin, x, s).indices[out], first);
  }
}

CONVNET_EMU_SCENARIOS(ReduceAxis);

}  // namespace
}  // namespace convnet::emu::testing
