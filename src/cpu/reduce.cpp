// Reductions over the middle axis of [outer, extent, inner]: sum, mean, max,
// min, Euclidean norm, argmax, argmin.
//
// The reference for every backend, so each output is computed the one obvious
// way: its `extent` values visited in index order, on one thread. Sums (Sum,
// Mean, Norm) accumulate in double and round to float once, so the reference
// is within an ulp of the exact value whatever the extent. Outputs are spread
// over the cores, but each is computed whole by one thread, so the bits do not
// depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "cpu/cpu_backend.hpp"
#include "cpu/parallel.hpp"

namespace convnet::cpu {
namespace {

// x points at the first of `extent` values `stride` apart.
float reduce_values(ReduceOp op, const float* x, int64_t extent, int64_t stride) {
  switch (op) {
    case ReduceOp::Sum:
    case ReduceOp::Mean:
    case ReduceOp::Norm: {
      double acc = 0;
      for (int64_t e = 0; e < extent; ++e) {
        const double v = x[e * stride];
        acc += op == ReduceOp::Norm ? v * v : v;
      }
      if (op == ReduceOp::Mean) return static_cast<float>(acc / static_cast<double>(extent));
      if (op == ReduceOp::Norm) return static_cast<float>(std::sqrt(acc));
      return static_cast<float>(acc);
    }
    case ReduceOp::Max:
    case ReduceOp::Min: {
      // torch.max/min: any NaN makes the result NaN. ops refuses extent 0.
      float best = x[0];
      for (int64_t e = 1; e < extent && !std::isnan(best); ++e) {
        const float v = x[e * stride];
        if (std::isnan(v) || (op == ReduceOp::Max ? v > best : v < best)) best = v;
      }
      return best;
    }
    case ReduceOp::ArgMax:
    case ReduceOp::ArgMin: break;  // reduce_index
  }
  return std::numeric_limits<float>::quiet_NaN();
}

// torch.argmax/argmin: the first extreme; a NaN counts as the extreme, so the
// first NaN wins.
int32_t reduce_index(ReduceOp op, const float* x, int64_t extent, int64_t stride) {
  int64_t best = 0;
  for (int64_t e = 1; e < extent && !std::isnan(x[best * stride]); ++e) {
    const float v = x[e * stride], b = x[best * stride];
    if (std::isnan(v) || (op == ReduceOp::ArgMax ? v > b : v < b)) best = e;
  }
  return static_cast<int32_t>(best);
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, const Tensor& input, int64_t outer, int64_t extent,
                        int64_t inner, Tensor& output) {
  const float* x = input.data<float>();
  const bool index = op == ReduceOp::ArgMax || op == ReduceOp::ArgMin;
  float* out = index ? nullptr : output.data<float>();
  int32_t* out_index = index ? output.data<int32_t>() : nullptr;
  // Chunks of outputs sized so that each holds about kElementwiseGrain inputs.
  const int64_t grain = extent > 0 ? std::max<int64_t>(1, kElementwiseGrain / extent) : 1;
  parallel_chunks(outer * inner, grain, [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      const int64_t o = j / inner, i = j % inner;
      if (extent == 0) {  // Sum 0, Mean 0 / 0 = NaN, Norm 0 (ops refuses the others)
        out[j] = op == ReduceOp::Mean ? std::numeric_limits<float>::quiet_NaN() : 0.f;
        continue;
      }
      const float* first = x + o * extent * inner + i;
      if (index) {
        out_index[j] = reduce_index(op, first, extent, inner);
      } else {
        out[j] = reduce_values(op, first, extent, inner);
      }
    }
  });
}

}  // namespace convnet::cpu
