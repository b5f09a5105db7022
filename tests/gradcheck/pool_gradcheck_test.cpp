// MaxPool2d and AvgPool2d: finite-difference input gradients (stride != kernel,
// padding, ceil_mode, rectangular windows, count_include_pad both ways), and the
// forward pass against a naive loop with PyTorch's rules.
//
// Max pooling is checked on inputs that are a random permutation of distinct
// values spaced 0.05 apart (> 4h with h = 1e-2), so no perturbation changes
// which element of a window is the maximum.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <sstream>
#include <vector>

#include "support/gradcheck.hpp"
#include "support/values.hpp"

namespace convnet::test {
namespace {

struct PoolCase {
  int n, c, h, w;
  Pool2dParams p;  // mode is set per test
};

Pool2dParams pool(int kh, int kw, int sh, int sw, int ph, int pw, bool ceil) {
  Pool2dParams p;
  p.kernel_h = kh;
  p.kernel_w = kw;
  p.stride_h = sh;
  p.stride_w = sw;
  p.pad_h = ph;
  p.pad_w = pw;
  p.ceil_mode = ceil;
  return p;
}

const std::vector<PoolCase> kCases = {
    {2, 2, 6, 6, pool(2, 2, 2, 2, 0, 0, false)},
    {1, 3, 7, 5, pool(3, 3, 2, 2, 1, 1, false)},
    {2, 1, 5, 7, pool(3, 3, 1, 1, 0, 0, false)},
    {1, 2, 7, 7, pool(2, 2, 1, 1, 1, 1, false)},
    {1, 2, 7, 5, pool(3, 3, 2, 2, 1, 1, true)},
    {1, 2, 4, 4, pool(3, 3, 2, 2, 1, 1, true)},  // ceil adds windows clipped by the padding
    {2, 1, 5, 6, pool(2, 2, 2, 2, 0, 0, true)},
    {2, 2, 6, 5, pool(2, 3, 1, 2, 1, 1, true)},   // rectangular window and stride
    {1, 2, 7, 7, pool(2, 2, 3, 3, 0, 0, false)},  // stride > kernel: some cells in no window
};

std::string describe(const PoolCase& pc) {
  std::ostringstream os;
  os << "input [" << pc.n << ", " << pc.c << ", " << pc.h << ", " << pc.w << "], kernel "
     << pc.p.kernel_h << "x" << pc.p.kernel_w << ", stride " << pc.p.stride_h << "x"
     << pc.p.stride_w << ", pad " << pc.p.pad_h << "x" << pc.p.pad_w
     << (pc.p.ceil_mode ? ", ceil_mode" : "");
  return os.str();
}

bool square(const Pool2dParams& p) {
  return p.kernel_h == p.kernel_w && p.stride_h == p.stride_w && p.pad_h == p.pad_w;
}

// The layer for `p`, its extents written as one int where the case allows it
// and as {h, w} otherwise, so both spellings of the options are exercised.
template <typename Options>
Options pool_options(const Pool2dParams& p) {
  if (square(p))
    return Options(p.kernel_h).stride(p.stride_h).padding(p.pad_h).ceil_mode(p.ceil_mode);
  return Options({p.kernel_h, p.kernel_w})
      .stride({p.stride_h, p.stride_w})
      .padding({p.pad_h, p.pad_w})
      .ceil_mode(p.ceil_mode);
}

std::unique_ptr<nn::Pool2d> make_pool(const Pool2dParams& p) {
  if (p.mode == PoolMode::Max)
    return std::make_unique<nn::MaxPool2d>(pool_options<nn::MaxPool2dOptions>(p));
  return std::make_unique<nn::AvgPool2d>(
      pool_options<nn::AvgPool2dOptions>(p).count_include_pad(p.mode == PoolMode::AvgIncludePad));
}

// PyTorch's max_pool2d / avg_pool2d, naively.
std::vector<float> reference_pool(const PoolCase& pc, PoolMode mode, const std::vector<float>& x) {
  const Pool2dParams& p = pc.p;
  const int64_t P = pool2d_output_size(pc.h, p.kernel_h, p.stride_h, p.pad_h, p.ceil_mode);
  const int64_t Q = pool2d_output_size(pc.w, p.kernel_w, p.stride_w, p.pad_w, p.ceil_mode);
  std::vector<float> out;
  for (int plane = 0; plane < pc.n * pc.c; ++plane)
    for (int64_t ph = 0; ph < P; ++ph)
      for (int64_t pq = 0; pq < Q; ++pq) {
        int64_t hs = ph * p.stride_h - p.pad_h, ws = pq * p.stride_w - p.pad_w;
        int64_t he = std::min<int64_t>(hs + p.kernel_h, pc.h + p.pad_h);
        int64_t we = std::min<int64_t>(ws + p.kernel_w, pc.w + p.pad_w);
        const int64_t padded_count = (he - hs) * (we - ws);
        hs = std::max<int64_t>(hs, 0);
        ws = std::max<int64_t>(ws, 0);
        he = std::min<int64_t>(he, pc.h);
        we = std::min<int64_t>(we, pc.w);
        double sum = 0.0;
        float best = -std::numeric_limits<float>::infinity();
        for (int64_t i = hs; i < he; ++i)
          for (int64_t j = ws; j < we; ++j) {
            const float v = x[(plane * pc.h + i) * pc.w + j];
            sum += v;
            if (v > best) best = v;
          }
        if (mode == PoolMode::Max)
          out.push_back(best);
        else if (mode == PoolMode::AvgIncludePad)
          out.push_back(static_cast<float>(sum / padded_count));
        else
          out.push_back(static_cast<float>(sum / ((he - hs) * (we - ws))));
      }
  return out;
}

TEST(GradcheckMaxPool2d, InputGradientOverRandomShapes) {
  for (size_t i = 0; i < kCases.size(); ++i) {
    const PoolCase& pc = kCases[i];
    SCOPED_TRACE(describe(pc));
    Pool2dParams p = pc.p;
    p.mode = PoolMode::Max;
    const Tensor x = distinct_values({pc.n, pc.c, pc.h, pc.w}, 300 + i, 0.05f);
    const std::unique_ptr<nn::Pool2d> layer = make_pool(p);
    EXPECT_TRUE(layer->parameters().empty());
    EXPECT_EQ(layer->params().kernel_w, p.kernel_w);
    EXPECT_EQ(layer->params().stride_w, p.stride_w);
    EXPECT_TRUE(check_layer_gradients(*layer, x));
  }
}

TEST(GradcheckAvgPool2d, InputGradientBothPaddingRules) {
  for (bool include_pad : {true, false}) {
    for (size_t i = 0; i < kCases.size(); ++i) {
      const PoolCase& pc = kCases[i];
      SCOPED_TRACE(describe(pc) + (include_pad ? ", count_include_pad" : ", exclude pad"));
      Pool2dParams p = pc.p;
      p.mode = include_pad ? PoolMode::AvgIncludePad : PoolMode::AvgExcludePad;
      const Tensor x = Tensor::randn({pc.n, pc.c, pc.h, pc.w}, Device::cpu(), 400 + i);
      const std::unique_ptr<nn::Pool2d> layer = make_pool(p);
      EXPECT_EQ(layer->params().mode, p.mode);
      EXPECT_TRUE(check_layer_gradients(*layer, x));
    }
  }
}

TEST(GradcheckPool2d, ForwardMatchesPyTorchRules) {
  for (PoolMode mode : {PoolMode::Max, PoolMode::AvgIncludePad, PoolMode::AvgExcludePad}) {
    for (size_t i = 0; i < kCases.size(); ++i) {
      const PoolCase& pc = kCases[i];
      SCOPED_TRACE(describe(pc) + " mode " + std::to_string(static_cast<int>(mode)));
      Pool2dParams p = pc.p;
      p.mode = mode;
      const std::unique_ptr<nn::Pool2d> pool_layer = make_pool(p);
      nn::Pool2d& layer = *pool_layer;
      const Tensor x = Tensor::randn({pc.n, pc.c, pc.h, pc.w}, Device::cpu(), 500 + i);
      const Tensor y = layer.forward(x, nn::Mode::Eval);
      const int64_t P = pool2d_output_size(pc.h, p.kernel_h, p.stride_h, p.pad_h, p.ceil_mode);
      const int64_t Q = pool2d_output_size(pc.w, p.kernel_w, p.stride_w, p.pad_w, p.ceil_mode);
      ASSERT_EQ(y.shape(), (Shape{pc.n, pc.c, P, Q}));
      EXPECT_EQ(layer.output_shape(x.shape()), y.shape());
      EXPECT_TRUE(values_near(y, reference_pool(pc, mode, x.to_vector<float>()), 1e-5, 1e-6));
    }
  }
}

}  // namespace
}  // namespace convnet::test
