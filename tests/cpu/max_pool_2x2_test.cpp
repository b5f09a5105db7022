// The reference's unrolled 2x2 stride-2 max pooling (src/cpu/pool2d.cpp) against
// PyTorch's rule written out here cell by cell: the window clipped to the input,
// `>` keeps the first maximum in row-major order, a NaN always replaces (so the
// last NaN wins). Inputs full of ties, NaN and -inf, odd sizes, ceil_mode on
// and off, so both the unrolled columns and the clipped edge cells are checked.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "convnet/convnet.hpp"

namespace convnet::test {
namespace {

struct Expected {
  std::vector<float> values;
  std::vector<int32_t> argmax;
};

Expected pytorch_rule(const std::vector<float>& x, int64_t planes, int64_t h, int64_t w,
                      int64_t p, int64_t q) {
  Expected e;
  for (int64_t plane = 0; plane < planes; ++plane)
    for (int64_t oh = 0; oh < p; ++oh)
      for (int64_t ow = 0; ow < q; ++ow) {
        float best = -std::numeric_limits<float>::infinity();
        int32_t at = static_cast<int32_t>(2 * oh * w + 2 * ow);
        for (int64_t i = 2 * oh; i < std::min(2 * oh + 2, h); ++i)
          for (int64_t j = 2 * ow; j < std::min(2 * ow + 2, w); ++j) {
            const float v = x[static_cast<size_t>((plane * h + i) * w + j)];
            if (v > best || std::isnan(v)) {
              best = v;
              at = static_cast<int32_t>(i * w + j);
            }
          }
        e.values.push_back(best);
        e.argmax.push_back(at);
      }
  return e;
}

bool same_float(float a, float b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

TEST(MaxPool2x2, MatchesPyTorchsRuleWithTiesNaNAndInfinity) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  uint32_t state = 2024;
  const auto next = [&state] {
    state = state * 1664525u + 1013904223u;
    return state >> 24;  // 0..255
  };
  for (const auto& [h, w] : std::vector<std::pair<int64_t, int64_t>>{
           {2, 2}, {28, 28}, {5, 7}, {3, 3}, {2, 5}, {6, 33}}) {
    for (const bool ceil : {false, true}) {
      const int64_t n = 2, c = 3;
      std::vector<float> x(static_cast<size_t>(n * c * h * w));
      for (float& v : x) {
        const uint32_t r = next();
        // Few distinct values, so ties are common; some NaN and -inf.
        v = r < 20 ? nan : r < 40 ? -inf : static_cast<float>(r % 4) - 1.5f;
      }
      Pool2dParams params;
      params.mode = PoolMode::Max;
      params.kernel_h = params.kernel_w = 2;
      params.stride_h = params.stride_w = 2;
      params.ceil_mode = ceil;
      const int64_t p = pool2d_output_size(h, 2, 2, 0, ceil), q = pool2d_output_size(w, 2, 2, 0, ceil);
      Tensor argmax;
      const Tensor y = ops::pool2d_forward(get_backend(Backend::Kind::Cpu),
                                           Tensor::from_vector(x, {n, c, h, w}), params, &argmax);
      const Expected e = pytorch_rule(x, n * c, h, w, p, q);
      const std::vector<float> got = y.to_vector<float>();
      const std::vector<int32_t> got_index = argmax.to_vector<int32_t>();
      ASSERT_EQ(got.size(), e.values.size()) << h << "x" << w << " ceil " << ceil;
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_TRUE(same_float(got[i], e.values[i]))
            << h << "x" << w << " ceil " << ceil << " cell " << i << ": " << got[i] << " vs "
            << e.values[i];
        EXPECT_EQ(got_index[i], e.argmax[i]) << h << "x" << w << " ceil " << ceil << " cell " << i;
      }
    }
  }
}

}  // namespace
}  // namespace convnet::test
