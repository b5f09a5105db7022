// Adaptive average pooling (adaptive_pool.cu) on the emulated device against a
// double-precision reference computed here (windows from the shared
// kernels/adaptive_pool_index.hpp, whose host test checks them by brute force),
// in every Scenario (scenario.hpp). Shapes: global pooling, identity, OH not
// dividing H (overlapping windows), OH > H (repeated inputs), odd sizes, one
// plane. The backward reference scatters; the kernel gathers. Outputs start as
// NaN; results must be bit-identical under grid cap 1.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/adaptive_pool_index.hpp"
#include "scenario.hpp"

namespace convnet::emu::testing {
namespace {

class AdaptivePool : public EmuKernel {};

struct PoolShape {
  int64_t planes, h, w, oh, ow;
};

using kernels::adaptive_end;
using kernels::adaptive_start;

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

void check(const PoolShape& s) {
  SCOPED_TRACE(::testing::Message() << "planes " << s.planes << ", " << s.h << "x" << s.w
                                    << " -> " << s.oh << "x" << s.ow);
  const std::vector<float> x = random_floats(s.planes * s.h * s.w, 91);
  const std::vector<float> dy = random_floats(s.planes * s.oh * s.ow, 92);

  std::vector<double> want_y(dy.size(), 0.0), want_dx(x.size(), 0.0);
  for (int64_t p = 0; p < s.planes; ++p)
    for (int64_t a = 0; a < s.oh; ++a)
      for (int64_t b = 0; b < s.ow; ++b) {
        const int64_t h0 = adaptive_start(a, s.h, s.oh), h1 = adaptive_end(a, s.h, s.oh);
        const int64_t w0 = adaptive_start(b, s.w, s.ow), w1 = adaptive_end(b, s.w, s.ow);
        const double size = static_cast<double>((h1 - h0) * (w1 - w0));
        const int64_t o = (p * s.oh + a) * s.ow + b;
        double sum = 0.0;
        for (int64_t y = h0; y < h1; ++y)
          for (int64_t xx = w0; xx < w1; ++xx) {
            const int64_t i = (p * s.h + y) * s.w + xx;
            sum += x[i];
            want_dx[i] += dy[o] / size;
          }
        want_y[o] = sum / size;
      }

  auto forward = [&] {
    std::vector<float> y(dy.size(), NAN);
    kernels::adaptive_avg_pool2d_forward(x.data(), s.planes, s.h, s.w, s.oh, s.ow, y.data(),
                                         nullptr);
    return y;
  };
  auto backward = [&] {
    std::vector<float> dx(x.size(), NAN);
    kernels::adaptive_avg_pool2d_backward(dy.data(), s.planes, s.h, s.w, s.oh, s.ow, dx.data(),
                                          nullptr);
    return dx;
  };
  const std::vector<float> y = forward(), dx = backward();
  expect_close(y, want_y, 1e-6, "output");
  expect_close(dx, want_dx, 1e-6, "grad_input");

  const int cap = kernels::grid_cap();
  kernels::set_grid_cap(1);
  const std::vector<float> y1 = forward(), dx1 = backward();
  kernels::set_grid_cap(cap);
  EXPECT_TRUE(same_bits(y, y1) && same_bits(dx, dx1)) << "grid cap 1 differs";
}

TEST_P(AdaptivePool, GlobalAverage) {
  check({6, 7, 7, 1, 1});
  check({1, 1, 1, 1, 1});
  check({3, 5, 9, 1, 1});
}

TEST_P(AdaptivePool, IdentityAndDividing) {
  check({2, 4, 6, 4, 6});  // every window one cell
  check({3, 8, 6, 4, 3});  // 2x2 windows, no overlap
}

TEST_P(AdaptivePool, OverlappingWindows) {
  check({3, 7, 5, 3, 2});
  check({2, 10, 9, 4, 7});
  check({5, 23, 17, 6, 5});  // more elements than one 256-thread block
}

TEST_P(AdaptivePool, MoreCellsThanInputs) {
  check({2, 3, 2, 5, 4});
  check({1, 1, 3, 4, 2});
}

CONVNET_EMU_SCENARIOS(AdaptivePool);

}  // namespace
}  // namespace convnet::emu::testing
