// Conv2d: finite-difference gradients w.r.t. input, weight and bias over random
// shapes (odd sizes, N = 1, stride 2, padding 1-2, dilation 2, rectangular
// kernels, with and without bias), plus the forward pass against a naive loop.
#include <gtest/gtest.h>

#include <sstream>
#include <vector>

#include "support/gradcheck.hpp"
#include "support/values.hpp"

namespace convnet::test {
namespace {

struct ConvCase {
  int n, c, h, w, k, kh, kw;
  Conv2dParams p;
  bool bias;
};

std::string describe(const ConvCase& cc) {
  std::ostringstream os;
  os << "input [" << cc.n << ", " << cc.c << ", " << cc.h << ", " << cc.w << "], K=" << cc.k
     << ", kernel " << cc.kh << "x" << cc.kw << ", stride " << cc.p.stride_h << "x" << cc.p.stride_w
     << ", pad " << cc.p.pad_h << "x" << cc.p.pad_w << ", dilation " << cc.p.dilation_h << "x"
     << cc.p.dilation_w << (cc.bias ? ", bias" : ", no bias");
  return os.str();
}

// Conv2dParams: {stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w}
const std::vector<ConvCase> kCases = {
    {1, 1, 5, 5, 1, 3, 3, {1, 1, 0, 0, 1, 1}, true},
    {2, 3, 7, 5, 4, 3, 3, {2, 2, 1, 1, 1, 1}, true},
    {1, 2, 8, 7, 3, 3, 3, {1, 1, 2, 2, 2, 2}, false},
    {3, 2, 6, 9, 2, 2, 3, {2, 1, 1, 0, 1, 2}, true},
    {2, 4, 5, 5, 3, 1, 1, {1, 1, 0, 0, 1, 1}, true},
    {1, 3, 9, 6, 5, 5, 5, {3, 3, 2, 2, 1, 1}, false},
    {2, 2, 7, 5, 3, 3, 3, {2, 2, 1, 1, 1, 1}, false},
    {1, 2, 3, 3, 2, 5, 5, {1, 1, 2, 2, 1, 1}, true},   // kernel larger than the input
    {2, 3, 6, 5, 2, 1, 1, {2, 2, 0, 0, 1, 1}, true},   // 1x1, stride 2
    {1, 1, 8, 8, 1, 2, 2, {3, 3, 0, 0, 1, 1}, false},  // stride > kernel: rows 2, 5 unused
};

bool symmetric(const ConvCase& cc) {
  return cc.kh == cc.kw && cc.p.stride_h == cc.p.stride_w && cc.p.pad_h == cc.p.pad_w &&
         cc.p.dilation_h == cc.p.dilation_w;
}

nn::Conv2d make_conv(const ConvCase& cc) {
  // Both spellings of an extent are exercised: one int where the case allows it, {h, w} otherwise.
  if (symmetric(cc))
    return nn::Conv2d(nn::Conv2dOptions(cc.c, cc.k, cc.kh)
                          .stride(cc.p.stride_h)
                          .padding(cc.p.pad_h)
                          .dilation(cc.p.dilation_h)
                          .bias(cc.bias));
  return nn::Conv2d(nn::Conv2dOptions(cc.c, cc.k, {cc.kh, cc.kw})
                        .stride({cc.p.stride_h, cc.p.stride_w})
                        .padding({cc.p.pad_h, cc.p.pad_w})
                        .dilation({cc.p.dilation_h, cc.p.dilation_w})
                        .bias(cc.bias));
}

// Naive cross-correlation in double.
std::vector<float> reference_conv(const ConvCase& cc, const std::vector<float>& x,
                                  const std::vector<float>& w, const std::vector<float>* b,
                                  int64_t P, int64_t Q) {
  std::vector<float> out;
  for (int n = 0; n < cc.n; ++n)
    for (int k = 0; k < cc.k; ++k)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q) {
          double acc = b ? (*b)[k] : 0.0;
          for (int c = 0; c < cc.c; ++c)
            for (int r = 0; r < cc.kh; ++r)
              for (int s = 0; s < cc.kw; ++s) {
                const int64_t i = p * cc.p.stride_h - cc.p.pad_h + r * cc.p.dilation_h;
                const int64_t j = q * cc.p.stride_w - cc.p.pad_w + s * cc.p.dilation_w;
                if (i < 0 || i >= cc.h || j < 0 || j >= cc.w) continue;
                acc += static_cast<double>(x[((n * cc.c + c) * cc.h + i) * cc.w + j]) *
                       w[((k * cc.c + c) * cc.kh + r) * cc.kw + s];
              }
          out.push_back(static_cast<float>(acc));
        }
  return out;
}

TEST(GradcheckConv2d, InputWeightAndBiasOverRandomShapes) {
  manual_seed(11);
  for (size_t i = 0; i < kCases.size(); ++i) {
    const ConvCase& cc = kCases[i];
    SCOPED_TRACE(describe(cc));
    nn::Conv2d conv = make_conv(cc);
    ASSERT_EQ(conv.parameters().size(), cc.bias ? 2u : 1u);
    EXPECT_EQ(conv.weight().value.shape(), (Shape{cc.k, cc.c, cc.kh, cc.kw}));
    if (cc.bias) {
      EXPECT_EQ(conv.bias()->value.shape(), (Shape{cc.k}));
    }
    EXPECT_EQ(conv.bias() != nullptr, cc.bias);
    const Tensor x = Tensor::randn({cc.n, cc.c, cc.h, cc.w}, Device::cpu(), 100 + i);
    EXPECT_TRUE(check_layer_gradients(conv, x));
  }
}

TEST(GradcheckConv2d, ForwardMatchesNaiveLoopAndOutputShape) {
  manual_seed(12);
  for (size_t i = 0; i < kCases.size(); ++i) {
    const ConvCase& cc = kCases[i];
    SCOPED_TRACE(describe(cc));
    nn::Conv2d conv = make_conv(cc);
    const Tensor x = Tensor::randn({cc.n, cc.c, cc.h, cc.w}, Device::cpu(), 200 + i);
    const Tensor y = conv.forward(x, nn::Mode::Eval);
    const int64_t P = conv2d_output_size(cc.h, cc.kh, cc.p.stride_h, cc.p.pad_h, cc.p.dilation_h);
    const int64_t Q = conv2d_output_size(cc.w, cc.kw, cc.p.stride_w, cc.p.pad_w, cc.p.dilation_w);
    ASSERT_EQ(y.shape(), (Shape{cc.n, cc.k, P, Q}));
    EXPECT_EQ(conv.output_shape(x.shape()), y.shape());
    const std::vector<float> bias =
        cc.bias ? conv.bias()->value.to_vector<float>() : std::vector<float>{};
    const std::vector<float> expected =
        reference_conv(cc, x.to_vector<float>(), conv.weight().value.to_vector<float>(),
                       cc.bias ? &bias : nullptr, P, Q);
    EXPECT_TRUE(values_near(y, expected, 1e-4, 1e-5));
  }
}

// Ops read a slice (a view with an offset) where it starts, not at its storage's start.
TEST(GradcheckConv2d, SliceOfABatchGivesTheSameRows) {
  manual_seed(13);
  nn::Conv2d conv(nn::Conv2dOptions(2, 3, 3).padding(1));
  const Tensor batch = Tensor::randn({4, 2, 5, 5}, Device::cpu(), 250);
  const std::vector<float> full = conv.forward(batch, nn::Mode::Eval).to_vector<float>();
  const Tensor rows = conv.forward(batch.slice(1, 3), nn::Mode::Train);
  ASSERT_EQ(rows.shape(), (Shape{2, 3, 5, 5}));
  const int64_t per_sample = 3 * 5 * 5;
  EXPECT_TRUE(values_near(
      rows, std::vector<float>(full.begin() + per_sample, full.begin() + 3 * per_sample), 1e-6,
      1e-6));
  // Backward from the slice: the input gradient matches a copy's.
  const Tensor g = Tensor::randn(rows.shape(), Device::cpu(), 251);
  const std::vector<float> from_slice = conv.backward(g).to_vector<float>();
  conv.forward(batch.slice(1, 3).clone(), nn::Mode::Train);
  EXPECT_TRUE(values_near(conv.backward(g), from_slice, 1e-6, 1e-6));
}

}  // namespace
}  // namespace convnet::test
