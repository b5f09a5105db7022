// The oneDNN backend's operations against the CPU reference: batch
// normalization, average and max pooling, linear layers, softmax and
// convolution, on fresh random inputs with NaN-poisoned outputs, including the
// parts of our contract oneDNN does not have natively (accumulation, running
// statistics, ceil_mode divisors, NaN through the fused ReLUs); path() and the
// primitive cache.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "convnet/convnet.hpp"
#ifdef CONVNET_WITH_ONEDNN
#include "onednn/onednn_backend.hpp"
#endif

namespace convnet::test {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
using Kind = Backend::Kind;

Backend& reference() { return get_backend(Kind::Cpu); }
Backend& onednn() { return get_backend(Kind::OneDnn); }

class OneDnnOps : public testing::Test {
 protected:
  void SetUp() override {
    if (!backend_available(Kind::OneDnn))
      GTEST_SKIP() << "onednn unavailable: " << backend_unavailable_reason(Kind::OneDnn);
  }
};

Tensor randn(const Shape& s, uint64_t seed, float mean = 0.f, float stddev = 1.f) {
  return Tensor::randn(s, Device::cpu(), seed, mean, stddev);
}
Tensor uniform(const Shape& s, uint64_t seed, float low, float high) {
  return Tensor::rand(s, Device::cpu(), seed, low, high);
}
Tensor poisoned(const Shape& s) { return Tensor::full(s, kNaN); }

// NaN exactly where the reference has NaN (so no poison is left), and the
// norm-wise relative error over the other elements within `tol`: float32
// against the reference's float32 or double sums in another order.
testing::AssertionResult matches(const Tensor& out, const Tensor& ref, double tol = 1e-5) {
  if (out.shape() != ref.shape())
    return testing::AssertionFailure() << out.str() << " vs reference " << ref.str();
  const std::vector<float> o = out.to_vector<float>(), r = ref.to_vector<float>();
  double diff = 0, norm = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    if (std::isnan(o[i]) != std::isnan(r[i]))
      return testing::AssertionFailure()
             << "element " << i << " is " << o[i] << ", reference " << r[i]
             << (std::isnan(o[i]) ? " (unwritten, or a NaN the reference has not)" : "");
    if (std::isnan(r[i])) continue;
    diff += (double(o[i]) - r[i]) * (double(o[i]) - r[i]);
    norm += double(r[i]) * r[i];
  }
  const double rel = std::sqrt(diff) / std::max(std::sqrt(norm), 1e-30);
  if (rel > tol)
    return testing::AssertionFailure() << "norm-wise relative error " << rel << " > " << tol;
  return testing::AssertionSuccess();
}

// Runs `op` on oneDNN and on the reference and compares every output.
template <typename Op>
void expect_parity(const std::string& what, Op op, double tol = 1e-5) {
  const std::vector<Tensor> ours = op(onednn()), ref = op(reference());
  ASSERT_EQ(ours.size(), ref.size()) << what;
  for (size_t i = 0; i < ref.size(); ++i)
    EXPECT_TRUE(matches(ours[i], ref[i], tol)) << what << ", output " << i;
}

bool all_nan(const Tensor& t) {
  for (float v : t.to_vector<float>())
    if (!std::isnan(v)) return false;
  return true;
}

Shape channels_of(const Shape& s) { return Shape{s[1]}; }

// ---------------------------------------------------------------- batch norm

// [N, C] and [N, C, H, W]; odd sizes; one channel; counts from 2 up.
const std::vector<Shape> kBnShapes = {{2, 3, 5, 7}, {1, 4, 3, 3}, {8, 1, 2, 2}, {5, 6},
                                      {2, 1},       {3, 17, 1, 2}, {16, 32, 7, 7}};

TEST_F(OneDnnOps, BatchNormTrainMatchesReference) {
  uint64_t seed = 10;
  for (const Shape& in : kBnShapes) {
    const Shape ch = channels_of(in);
    // A mean away from 0, so the statistics are not trivially small.
    const Tensor x = randn(in, ++seed, 0.7f, 1.3f), w = randn(ch, ++seed), b = randn(ch, ++seed);
    const Tensor rm0 = randn(ch, ++seed), rv0 = uniform(ch, ++seed, 0.5f, 2.f);
    // affine: both, weight only, bias only, neither.
    for (int affine = 0; affine < 4; ++affine)
      for (bool relu : {false, true})
        for (bool running : {false, true}) {
          const std::string what = in.str() + " affine " + std::to_string(affine) +
                                   (relu ? " relu" : "") + (running ? " running" : "");
          expect_parity(what, [&](Backend& be) {
            Tensor y = poisoned(in), mean = poisoned(ch), invstd = poisoned(ch);
            Tensor rm = rm0.clone(), rv = rv0.clone();
            be.batch_norm_forward_train(x, affine & 1 ? &w : nullptr, affine & 2 ? &b : nullptr,
                                        running ? &rm : nullptr, running ? &rv : nullptr, 0.1f,
                                        1e-5f, relu, y, mean, invstd);
            return std::vector<Tensor>{y, mean, invstd, rm, rv};
          });
        }
  }
}

TEST_F(OneDnnOps, BatchNormRunningStatisticsFollowTheContract) {
  // count = 2 * 3 = 6 per channel: the unbiased variance is var * 6 / 5.
  const Tensor x = Tensor::from_vector(std::vector<float>{1, 2, 3, 10, 20, 30, 4, 5, 9, 0, 0, 0},
                                       Shape{2, 2, 3});
  const Tensor x4 = x.reshape({2, 2, 3, 1});
  Tensor y = poisoned({2, 2, 3, 1}), mean = poisoned({2}), invstd = poisoned({2});
  Tensor rm = Tensor::from_vector(std::vector<float>{1.f, -1.f}, Shape{2});
  Tensor rv = Tensor::from_vector(std::vector<float>{2.f, 3.f}, Shape{2});
  onednn().batch_norm_forward_train(x4, nullptr, nullptr, &rm, &rv, 0.25f, 1e-5f, false, y, mean,
                                    invstd);
  const double m0 = (1 + 2 + 3 + 4 + 5 + 9) / 6.0, m1 = 60 / 6.0;
  double v0 = 0, v1 = 0;
  for (double v : {1, 2, 3, 4, 5, 9}) v0 += (v - m0) * (v - m0);
  for (double v : {10, 20, 30, 0, 0, 0}) v1 += (v - m1) * (v - m1);
  v0 /= 6, v1 /= 6;
  const std::vector<float> got_m = mean.to_vector<float>(), got_is = invstd.to_vector<float>();
  const std::vector<float> got_rm = rm.to_vector<float>(), got_rv = rv.to_vector<float>();
  EXPECT_NEAR(got_m[0], m0, 1e-5);
  EXPECT_NEAR(got_m[1], m1, 1e-5);
  EXPECT_NEAR(got_is[0], 1 / std::sqrt(v0 + 1e-5), 1e-6);
  EXPECT_NEAR(got_is[1], 1 / std::sqrt(v1 + 1e-5), 1e-6);
  EXPECT_NEAR(got_rm[0], 0.75 * 1 + 0.25 * m0, 1e-5);
  EXPECT_NEAR(got_rm[1], 0.75 * -1 + 0.25 * m1, 1e-5);
  EXPECT_NEAR(got_rv[0], 0.75 * 2 + 0.25 * v0 * 6 / 5, 1e-5);
  EXPECT_NEAR(got_rv[1], 0.75 * 3 + 0.25 * v1 * 6 / 5, 1e-4);
}

TEST_F(OneDnnOps, BatchNormInferenceMatchesReference) {
  uint64_t seed = 100;
  for (const Shape& in : kBnShapes) {
    const Shape ch = channels_of(in);
    const Tensor x = randn(in, ++seed, 0.f, 2.f), w = randn(ch, ++seed), b = randn(ch, ++seed);
    const Tensor mean = randn(ch, ++seed), var = uniform(ch, ++seed, 0.1f, 3.f);
    for (int affine = 0; affine < 4; ++affine)
      for (bool relu : {false, true})
        for (float eps : {1e-5f, 1e-3f})
          expect_parity(in.str() + " affine " + std::to_string(affine) + (relu ? " relu" : ""),
                        [&](Backend& be) {
                          Tensor y = poisoned(in);
                          be.batch_norm_forward_inference(x, affine & 1 ? &w : nullptr,
                                                          affine & 2 ? &b : nullptr, mean, var,
                                                          eps, relu, y);
                          return std::vector<Tensor>{y};
                        });
  }
}

TEST_F(OneDnnOps, BatchNormBackwardMatchesReference) {
  uint64_t seed = 200;
  for (const Shape& in : kBnShapes) {
    const Shape ch = channels_of(in);
    // Two values per channel make grad_input exactly 0 in real arithmetic (the
    // parity cases say why): a relative bound would compare rounding noise.
    if (in.numel() / in[1] < 3) continue;
    const Tensor x = uniform(in, ++seed, -0.5f, 1.5f), dy = randn(in, ++seed);
    const Tensor w = randn(ch, ++seed), b = randn(ch, ++seed);
    const Tensor dw0 = randn(ch, ++seed), db0 = randn(ch, ++seed);
    // The statistics the reference's forward saves, with a small and a large eps
    // (the backward's variance is derived from invstd, whatever eps made it).
    for (float eps : {1e-5f, 0.5f}) {
      Tensor y = poisoned(in), mean = poisoned(ch), invstd = poisoned(ch);
      reference().batch_norm_forward_train(x, &w, &b, nullptr, nullptr, 0.f, eps, false, y, mean,
                                           invstd);
      for (bool affine : {true, false})
        for (bool accumulate : {false, true}) {
          if (!affine && accumulate) continue;
          expect_parity(in.str() + (affine ? " affine" : " plain") +
                            (accumulate ? " accumulate" : "") + " eps " + std::to_string(eps),
                        [&](Backend& be) {
                          Tensor dx = poisoned(in);
                          Tensor dw = accumulate ? dw0.clone() : poisoned(ch);
                          Tensor db = accumulate ? db0.clone() : poisoned(ch);
                          be.batch_norm_backward(x, dy, affine ? &w : nullptr, mean, invstd, dx,
                                                 affine ? &dw : nullptr, affine ? &db : nullptr,
                                                 accumulate);
                          return affine ? std::vector<Tensor>{dx, dw, db}
                                        : std::vector<Tensor>{dx};
                        });
        }
    }
  }
}

// A NaN in channel 1 makes that channel's statistics NaN: every output of the
// channel is NaN, through the fused ReLU too (oneDNN's would give 0); the other
// channels are untouched.
TEST_F(OneDnnOps, BatchNormPropagatesNaN) {
  const Shape in{3, 4, 5, 5}, ch{4};
  Tensor x = randn(in, 300);
  x.data<float>()[1 * 25 + 7] = kNaN;  // n = 0, c = 1
  const Tensor w = randn(ch, 301), b = randn(ch, 302);
  for (bool relu : {false, true}) {
    expect_parity(std::string("train") + (relu ? " relu" : ""), [&](Backend& be) {
      Tensor y = poisoned(in), mean = poisoned(ch), invstd = poisoned(ch);
      be.batch_norm_forward_train(x, &w, &b, nullptr, nullptr, 0.1f, 1e-5f, relu, y, mean, invstd);
      return std::vector<Tensor>{y, mean, invstd};
    });
    Tensor y = poisoned(in), mean = poisoned(ch), invstd = poisoned(ch);
    onednn().batch_norm_forward_train(x, &w, &b, nullptr, nullptr, 0.1f, 1e-5f, relu, y, mean,
                                      invstd);
    const std::vector<float> v = y.to_vector<float>();
    for (int64_t n = 0; n < 3; ++n)
      for (int64_t c = 0; c < 4; ++c)
        for (int64_t i = 0; i < 25; ++i)
          ASSERT_EQ(std::isnan(v[size_t((n * 4 + c) * 25 + i)]), c == 1)
              << "relu " << relu << " n " << n << " c " << c << " i " << i;
    // Inference: only the NaN element itself.
    const Tensor mean_in = randn(ch, 303), var_in = uniform(ch, 304, 0.5f, 2.f);
    Tensor yi = poisoned(in);
    onednn().batch_norm_forward_inference(x, &w, &b, mean_in, var_in, 1e-5f, relu, yi);
    const std::vector<float> vi = yi.to_vector<float>();
    for (size_t i = 0; i < vi.size(); ++i) ASSERT_EQ(std::isnan(vi[i]), i == 32) << "element " << i;
  }
}

// ------------------------------------------------------------------- pooling

struct PoolCase {
  Shape in;
  Pool2dParams p;
};

Pool2dParams pool(int kh, int kw, int sh, int sw, int ph, int pw, bool ceil_mode) {
  Pool2dParams p;
  p.kernel_h = kh, p.kernel_w = kw, p.stride_h = sh, p.stride_w = sw, p.pad_h = ph, p.pad_w = pw;
  p.ceil_mode = ceil_mode;
  return p;
}

// Odd sizes, padding, non-square windows, overlapping windows, and ceil_mode
// windows that reach past the right padding (PyTorch's include-pad divisor
// shrinks there; oneDNN's does not, so ours rescales).
const std::vector<PoolCase> kPoolCases = {
    {{2, 3, 8, 8}, pool(2, 2, 2, 2, 0, 0, false)},  {{1, 5, 7, 9}, pool(3, 3, 2, 2, 1, 1, false)},
    {{2, 2, 6, 6}, pool(3, 3, 2, 2, 1, 1, true)},   {{1, 3, 5, 7}, pool(2, 2, 2, 2, 0, 0, true)},
    {{2, 4, 9, 7}, pool(3, 2, 2, 1, 1, 0, true)},   {{3, 1, 11, 6}, pool(5, 3, 3, 2, 2, 1, true)},
    {{2, 16, 14, 14}, pool(3, 3, 1, 1, 1, 1, false)}, {{1, 2, 3, 3}, pool(3, 3, 1, 1, 0, 0, false)},
    {{4, 32, 7, 7}, pool(7, 7, 1, 1, 0, 0, false)}};

Shape pool_out(const PoolCase& pc) {
  return {pc.in[0], pc.in[1],
          pool2d_output_size(pc.in[2], pc.p.kernel_h, pc.p.stride_h, pc.p.pad_h, pc.p.ceil_mode),
          pool2d_output_size(pc.in[3], pc.p.kernel_w, pc.p.stride_w, pc.p.pad_w, pc.p.ceil_mode)};
}

std::string pool_name(const PoolCase& pc, PoolMode mode) {
  const Pool2dParams& p = pc.p;
  return pc.in.str() + " k" + std::to_string(p.kernel_h) + "x" + std::to_string(p.kernel_w) +
         " s" + std::to_string(p.stride_h) + "x" + std::to_string(p.stride_w) + " p" +
         std::to_string(p.pad_h) + "x" + std::to_string(p.pad_w) + (p.ceil_mode ? " ceil" : "") +
         (mode == PoolMode::AvgIncludePad ? " include-pad"
          : mode == PoolMode::AvgExcludePad ? " exclude-pad"
                                             : " max");
}

TEST_F(OneDnnOps, AveragePoolingMatchesReference) {
  uint64_t seed = 400;
  for (const PoolCase& pc : kPoolCases)
    for (PoolMode mode : {PoolMode::AvgIncludePad, PoolMode::AvgExcludePad}) {
      Pool2dParams p = pc.p;
      p.mode = mode;
      const Shape out = pool_out(pc);
      Tensor x = randn(pc.in, ++seed), dy = randn(out, ++seed);
      // One NaN each: the windows (and, backward, the cells) that see it are NaN.
      x.data<float>()[x.numel() / 3] = kNaN;
      dy.data<float>()[dy.numel() / 2] = kNaN;
      expect_parity("forward " + pool_name(pc, mode), [&](Backend& be) {
        Tensor y = poisoned(out);
        be.pool2d_forward(x, p, y, nullptr);
        return std::vector<Tensor>{y};
      });
      expect_parity("backward " + pool_name(pc, mode), [&](Backend& be) {
        Tensor dx = poisoned(pc.in);
        be.pool2d_backward(x, dy, nullptr, p, dx);
        return std::vector<Tensor>{dx};
      });
    }
}

// Max pooling is the reference's, argmax or not (oneDNN's max drops NaN): the
// same values and indices, NaN kept, and path() says so.
TEST_F(OneDnnOps, MaxPoolingFallsBackAndKeepsNaN) {
  uint64_t seed = 500;
  for (const PoolCase& pc : kPoolCases) {
    Pool2dParams p = pc.p;
    p.mode = PoolMode::Max;
    const Shape out = pool_out(pc);
    Tensor x = randn(pc.in, ++seed);
    x.data<float>()[x.numel() / 2] = kNaN;
    const Tensor dy = randn(out, ++seed);
    expect_parity("forward " + pool_name(pc, p.mode), [&](Backend& be) {
      Tensor y = poisoned(out), y2 = poisoned(out);
      Tensor idx = Tensor::full(out, -777.f, Device::cpu(), DType::I32);
      be.pool2d_forward(x, p, y, &idx);
      be.pool2d_forward(x, p, y2, nullptr);
      Tensor dx = poisoned(pc.in);
      be.pool2d_backward(x, dy, &idx, p, dx);
      // Indices compared exactly, as floats (they are small integers).
      std::vector<float> idx_f;
      for (int32_t i : idx.to_vector<int32_t>()) idx_f.push_back(float(i));
      return std::vector<Tensor>{y, y2, dx, Tensor::from_vector(idx_f, out)};
    }, 0.0);
  }
  const std::string path = onednn().path(Backend::Op::Pool2d);
  EXPECT_NE(path.find("fallback"), std::string::npos) << path;
  EXPECT_NE(path.find("argmax"), std::string::npos) << path;
}

// -------------------------------------------------------------------- linear

struct LinearCase {
  int64_t n, in, out;
};
const std::vector<LinearCase> kLinearCases = {
    {1, 1, 1}, {7, 13, 5}, {3, 1000, 10}, {64, 784, 128}, {5, 3, 17}, {33, 65, 31}};

TEST_F(OneDnnOps, LinearMatchesReference) {
  uint64_t seed = 600;
  for (const LinearCase& lc : kLinearCases) {
    const std::string name = std::to_string(lc.n) + "x" + std::to_string(lc.in) + "->" +
                             std::to_string(lc.out);
    const Tensor x = randn({lc.n, lc.in}, ++seed), w = randn({lc.out, lc.in}, ++seed, 0.f, 0.2f);
    const Tensor b = randn({lc.out}, ++seed), dy = randn({lc.n, lc.out}, ++seed);
    const Tensor dw0 = randn({lc.out, lc.in}, ++seed);
    for (bool bias : {true, false})
      expect_parity("forward " + name + (bias ? " bias" : ""), [&](Backend& be) {
        Tensor y = poisoned({lc.n, lc.out}), yr = poisoned({lc.n, lc.out});
        be.linear_forward(x, w, bias ? &b : nullptr, y);
        be.linear_bias_relu_forward(x, w, bias ? &b : nullptr, yr);
        return std::vector<Tensor>{y, yr};
      });
    expect_parity("backward " + name, [&](Backend& be) {
      Tensor dx = poisoned({lc.n, lc.in}), dw = poisoned({lc.out, lc.in}), dw_acc = dw0.clone();
      be.linear_backward_data(dy, w, dx);
      be.linear_backward_weight(x, dy, dw, false);
      be.linear_backward_weight(x, dy, dw_acc, true);
      return std::vector<Tensor>{dx, dw, dw_acc};
    });
  }
}

// A NaN in row 0 of the input makes row 0 of the output NaN through the fused
// ReLU (oneDNN's eltwise ReLU would make it 0); the other rows are untouched.
TEST_F(OneDnnOps, LinearBiasReluPropagatesNaN) {
  Tensor x = randn({4, 9}, 700);
  x.data<float>()[3] = kNaN;
  const Tensor w = randn({6, 9}, 701), b = randn({6}, 702);
  expect_parity("linear_bias_relu", [&](Backend& be) {
    Tensor y = poisoned({4, 6});
    be.linear_bias_relu_forward(x, w, &b, y);
    return std::vector<Tensor>{y};
  });
  Tensor y = poisoned({4, 6});
  onednn().linear_bias_relu_forward(x, w, &b, y);
  EXPECT_TRUE(all_nan(y.slice(0, 1)));
  for (float v : y.slice(1, 4).to_vector<float>()) EXPECT_TRUE(std::isfinite(v) && v >= 0.f);
}

// ------------------------------------------------------------------- softmax

TEST_F(OneDnnOps, SoftmaxMatchesReference) {
  uint64_t seed = 800;
  const std::vector<Shape> shapes = {{5, 10}, {1, 1}, {4, 1000}, {3, 7, 4, 5}, {2, 3, 1, 1},
                                     {2, 19, 3}, {64, 10}};
  for (const Shape& s : shapes)
    for (bool log : {false, true}) {
      const Tensor x = randn(s, ++seed, 0.f, 3.f), dy = randn(s, ++seed);
      const std::string name = s.str() + (log ? " log" : "");
      expect_parity("forward " + name, [&](Backend& be) {
        Tensor y = poisoned(s);
        be.softmax_forward(x, y, log);
        return std::vector<Tensor>{y};
      });
      Tensor y = poisoned(s);
      reference().softmax_forward(x, y, log);
      expect_parity("backward " + name, [&](Backend& be) {
        Tensor dx = poisoned(s);
        be.softmax_backward(y, dy, dx, log);
        return std::vector<Tensor>{dx};
      });
    }
}

// Log-softmax's forward is the reference's: oneDNN's log would turn the
// log-probability of a near-certain class (-1e-13 here) into about -1e-6.
TEST_F(OneDnnOps, LogSoftmaxKeepsSmallLogProbabilities) {
  const Tensor x = Tensor::from_vector(std::vector<float>{0.f, -30.f, -31.f}, Shape{1, 3});
  Tensor y = poisoned({1, 3});
  onednn().softmax_forward(x, y, true);
  const float expected = float(-std::log1p(std::exp(-30.0) + std::exp(-31.0)));
  EXPECT_NEAR(y.to_vector<float>()[0], expected, 1e-12f);
  EXPECT_NE(onednn().path(Backend::Op::Softmax).find("log-softmax forward"), std::string::npos);
}

TEST_F(OneDnnOps, SoftmaxPropagatesNaN) {
  Tensor x = randn({3, 6}, 900);
  x.data<float>()[6 + 2] = kNaN;  // row 1
  for (bool log : {false, true}) {
    Tensor y = poisoned({3, 6});
    onednn().softmax_forward(x, y, log);
    EXPECT_TRUE(all_nan(y.slice(1, 2))) << "log " << log;
    for (int64_t r : {0, 2})
      for (float v : y.slice(r, r + 1).to_vector<float>()) EXPECT_TRUE(std::isfinite(v));
  }
  // An infinity too, and the backward's operands.
  x.data<float>()[6 + 2] = std::numeric_limits<float>::infinity();
  const Tensor dy = randn({3, 6}, 901);
  for (bool log : {false, true}) {
    expect_parity(std::string("forward with +inf") + (log ? " log" : ""), [&](Backend& be) {
      Tensor y = poisoned({3, 6});
      be.softmax_forward(x, y, log);
      return std::vector<Tensor>{y};
    });
    Tensor y = poisoned({3, 6});
    reference().softmax_forward(randn({3, 6}, 902), y, log);
    y.data<float>()[4] = kNaN;  // row 0
    expect_parity(std::string("backward with NaN") + (log ? " log" : ""), [&](Backend& be) {
      Tensor dx = poisoned({3, 6});
      be.softmax_backward(y, dy, dx, log);
      return std::vector<Tensor>{dx};
    });
  }
}

// --------------------------------------------------------------- convolution

struct ConvCase {
  int64_t n, c, h, w, k, r, s;
  Conv2dParams p;
  std::string name() const {
    return std::to_string(n) + "x" + std::to_string(c) + "x" + std::to_string(h) + "x" +
           std::to_string(w) + " k" + std::to_string(k) + " " + std::to_string(r) + "x" +
           std::to_string(s) + " s" + std::to_string(p.stride_h) + "x" + std::to_string(p.stride_w) +
           " p" + std::to_string(p.pad_h) + "x" + std::to_string(p.pad_w) + " d" +
           std::to_string(p.dilation_h) + "x" + std::to_string(p.dilation_w);
  }
  Shape out() const {
    return {n, k, conv2d_output_size(h, int(r), p.stride_h, p.pad_h, p.dilation_h),
            conv2d_output_size(w, int(s), p.stride_w, p.pad_w, p.dilation_w)};
  }
};

Conv2dParams conv(int sh, int sw, int ph, int pw, int dh = 1, int dw = 1) {
  Conv2dParams p;
  p.stride_h = sh, p.stride_w = sw, p.pad_h = ph, p.pad_w = pw, p.dilation_h = dh,
  p.dilation_w = dw;
  return p;
}

// Stride 2, padding 0/1/2, dilation 2, 1x1, non-square kernels, odd sizes,
// channel counts on both sides of oneDNN's 16-channel blocks.
const std::vector<ConvCase> kConvCases = {
    {2, 3, 9, 9, 4, 3, 3, conv(1, 1, 1, 1)},      {1, 5, 11, 7, 6, 3, 3, conv(2, 2, 0, 0)},
    {2, 4, 10, 9, 8, 5, 5, conv(1, 1, 2, 2)},     {2, 16, 12, 12, 32, 3, 3, conv(2, 2, 1, 1)},
    {1, 3, 13, 11, 5, 3, 3, conv(1, 1, 2, 2, 2, 2)}, {4, 32, 7, 7, 16, 1, 1, conv(1, 1, 0, 0)},
    {2, 8, 9, 13, 7, 3, 5, conv(2, 1, 1, 2)},     {1, 1, 5, 6, 1, 2, 4, conv(1, 2, 0, 1)},
    {3, 17, 8, 8, 33, 3, 3, conv(1, 1, 1, 1)},    {2, 64, 14, 14, 64, 3, 3, conv(1, 1, 1, 1)}};

TEST_F(OneDnnOps, ConvolutionMatchesReference) {
  uint64_t seed = 1000;
  for (const ConvCase& cc : kConvCases) {
    const Shape in{cc.n, cc.c, cc.h, cc.w}, wt{cc.k, cc.c, cc.r, cc.s}, out = cc.out();
    const Tensor x = randn(in, ++seed), w = randn(wt, ++seed, 0.f, 0.2f), b = randn({cc.k}, ++seed);
    const Tensor dy = randn(out, ++seed), dw0 = randn(wt, ++seed);
    for (bool bias : {true, false})
      expect_parity("forward " + cc.name() + (bias ? " bias" : ""), [&](Backend& be) {
        Tensor y = poisoned(out), yr = poisoned(out);
        be.conv2d_forward(x, w, bias ? &b : nullptr, cc.p, y);
        be.conv2d_bias_relu_forward(x, w, bias ? &b : nullptr, cc.p, yr);
        return std::vector<Tensor>{y, yr};
      });
    expect_parity("backward " + cc.name(), [&](Backend& be) {
      Tensor dx = poisoned(in), dw = poisoned(wt), dw_acc = dw0.clone();
      be.conv2d_backward_data(dy, w, cc.p, dx);
      be.conv2d_backward_filter(x, dy, cc.p, dw, false);
      be.conv2d_backward_filter(x, dy, cc.p, dw_acc, true);
      return std::vector<Tensor>{dx, dw, dw_acc};
    });
  }
}

// The blocked copy of the weights is made on every call (onednn_backend.hpp):
// weights changed in place between two calls with the same cached primitive
// must give the new result, forward and backward data.
TEST_F(OneDnnOps, ConvolutionSeesWeightsChangedInPlace) {
  const ConvCase cc{2, 16, 12, 12, 32, 3, 3, conv(1, 1, 1, 1)};
  const Shape in{cc.n, cc.c, cc.h, cc.w}, wt{cc.k, cc.c, cc.r, cc.s}, out = cc.out();
  const Tensor x = randn(in, 1100), b = randn({cc.k}, 1101), dy = randn(out, 1102);
  Tensor w = randn(wt, 1103, 0.f, 0.2f);
  Tensor y_before = poisoned(out), dx_before = poisoned(in);
  onednn().conv2d_forward(x, w, &b, cc.p, y_before);
  onednn().conv2d_backward_data(dy, w, cc.p, dx_before);
  // In place, as an optimizer step does: same storage, new values.
  float* v = w.data<float>();
  for (int64_t i = 0; i < w.numel(); ++i) v[i] = -2.f * v[i] + 0.01f * float(i % 7);
  Tensor y = poisoned(out), y_ref = poisoned(out), dx = poisoned(in), dx_ref = poisoned(in);
  onednn().conv2d_forward(x, w, &b, cc.p, y);
  onednn().conv2d_backward_data(dy, w, cc.p, dx);
  reference().conv2d_forward(x, w, &b, cc.p, y_ref);
  reference().conv2d_backward_data(dy, w, cc.p, dx_ref);
  EXPECT_TRUE(matches(y, y_ref));
  EXPECT_TRUE(matches(dx, dx_ref));
  EXPECT_FALSE(matches(y_before, y_ref)) << "the weights change did not change the result";
}

// ------------------------------------------------------- path() and the cache

#ifdef CONVNET_WITH_ONEDNN
onednn::OneDnnBackend& onednn_impl() { return static_cast<onednn::OneDnnBackend&>(onednn()); }
#endif

TEST_F(OneDnnOps, PathNamesWhatRan) {
#ifdef CONVNET_WITH_ONEDNN
  using Op = Backend::Op;
  onednn_impl().clear_routes();
  const Tensor x = randn({2, 4, 6, 6}, 1200), w = randn({4}, 1201), b = randn({4}, 1202);
  Tensor y = poisoned({2, 4, 6, 6}), mean = poisoned({4}), invstd = poisoned({4});
  onednn().batch_norm_forward_train(x, &w, &b, nullptr, nullptr, 0.1f, 1e-5f, false, y, mean,
                                    invstd);
  onednn().batch_norm_forward_train(x, &w, &b, nullptr, nullptr, 0.1f, 1e-5f, true, y, mean,
                                    invstd);
  Pool2dParams avg = pool(2, 2, 2, 2, 0, 0, false);
  avg.mode = PoolMode::AvgIncludePad;
  Tensor pooled = poisoned({2, 4, 3, 3});
  onednn().pool2d_forward(x, avg, pooled, nullptr);
  const Tensor in = randn({3, 5}, 1203), lw = randn({2, 5}, 1204);
  Tensor out = poisoned({3, 2});
  onednn().linear_forward(in, lw, nullptr, out);
  onednn().linear_bias_relu_forward(in, lw, nullptr, out);
  Tensor probs = poisoned({3, 5});
  onednn().softmax_forward(in, probs, false);
  for (Op op : {Op::BatchNorm, Op::BatchNormReLU, Op::Pool2d, Op::Linear, Op::LinearBiasReLU,
                Op::Softmax}) {
    const std::string path = onednn().path(op);
    EXPECT_EQ(path.rfind("onednn ", 0), 0u) << int(op) << ": " << path;
    EXPECT_EQ(path.find("fallback"), std::string::npos) << int(op) << ": " << path;
  }
  EXPECT_NE(onednn().path(Op::BatchNormReLU).find("relu (ours"), std::string::npos);
  // Max pooling with argmax goes to the reference, and path() says why.
  Pool2dParams max = pool(2, 2, 2, 2, 0, 0, false);
  Tensor idx = Tensor::full({2, 4, 3, 3}, -777.f, Device::cpu(), DType::I32);
  onednn().pool2d_forward(x, max, pooled, &idx);
  const std::string pool_path = onednn().path(Op::Pool2d);
  EXPECT_EQ(pool_path.rfind("onednn ", 0), 0u) << pool_path;  // the average pooling ran
  EXPECT_NE(pool_path.find("fallback: reference loop (max pooling"), std::string::npos)
      << pool_path;
  onednn_impl().clear_routes();
#else
  GTEST_SKIP() << "built without oneDNN";
#endif
}

// A oneDNN that cannot create a primitive (the test hook makes every creation
// fail as a refusal would) does not abort: the reference computes the call,
// bit for bit, and path() gives oneDNN's reason.
TEST_F(OneDnnOps, RefusedPrimitivesFallBackToTheReferenceWithTheReason) {
#ifdef CONVNET_WITH_ONEDNN
  using Op = Backend::Op;
  onednn_impl().clear_routes();
  const bool was = onednn::OneDnnBackend::set_refuse_all(true);
  const Tensor x = randn({2, 3, 7, 7}, 1300), w = randn({4, 3, 3, 3}, 1301), b = randn({4}, 1302);
  Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  const auto run = [&](Backend& be) {
    Tensor y = poisoned({2, 4, 7, 7}), dx = poisoned(x.shape()), dw = poisoned(w.shape());
    be.conv2d_bias_relu_forward(x, w, &b, p, y);
    be.conv2d_backward_data(y, w, p, dx);
    be.conv2d_backward_filter(x, y, p, dw, false);
    Tensor bn = poisoned(y.shape()), mean = poisoned({4}), invstd = poisoned({4});
    be.batch_norm_forward_train(y, nullptr, nullptr, nullptr, nullptr, 0.1f, 1e-5f, false, bn,
                                mean, invstd);
    Tensor flat = poisoned({2, 147});
    be.softmax_forward(x.reshape({2, 147}), flat, false);
    return std::vector<Tensor>{y, dx, dw, bn, mean, invstd, flat};
  };
  std::vector<Tensor> ours, ref;
  EXPECT_NO_THROW(ours = run(onednn()));
  ref = run(reference());
  onednn::OneDnnBackend::set_refuse_all(was);
  ASSERT_EQ(ours.size(), ref.size());
  for (size_t i = 0; i < ref.size(); ++i)
    EXPECT_EQ(ours[i].to_vector<float>(), ref[i].to_vector<float>()) << "output " << i;
  for (Op op : {Op::Conv2dBiasReLU, Op::Conv2d, Op::BatchNorm, Op::Softmax}) {
    const std::string path = onednn().path(op);
    EXPECT_EQ(path.rfind("fallback: ", 0), 0u) << int(op) << ": " << path;
    EXPECT_NE(path.find("refused by the test hook"), std::string::npos) << int(op) << ": " << path;
  }
  onednn_impl().clear_routes();
#else
  GTEST_SKIP() << "built without oneDNN";
#endif
}

TEST_F(OneDnnOps, SameProblemTwiceHitsTheCache) {
#ifdef CONVNET_WITH_ONEDNN
  onednn::OneDnnBackend& be = onednn_impl();
  const size_t old_capacity = be.set_cache_capacity(1 << 16);
  // Shapes no other test uses, so the first call of each is a miss.
  const Tensor x = randn({3, 29}, 1300), w = randn({11, 29}, 1301);
  const Tensor img = randn({2, 3, 13, 13}, 1302);
  Pool2dParams avg = pool(3, 3, 2, 2, 1, 1, true);
  avg.mode = PoolMode::AvgExcludePad;
  const auto run_all = [&] {
    Tensor y = poisoned({3, 11}), s = poisoned({3, 29}), p = poisoned({2, 3, 7, 7});
    Tensor ny = poisoned({2, 3, 13, 13}), m = poisoned({3}), is = poisoned({3});
    be.linear_forward(x, w, nullptr, y);
    be.softmax_forward(x, s, false);
    be.pool2d_forward(img, avg, p, nullptr);
    be.batch_norm_forward_train(img, nullptr, nullptr, nullptr, nullptr, 0.1f, 1e-5f, false, ny, m,
                                is);
  };
  const size_t before = be.cached_primitives();
  run_all();
  const size_t after_first = be.cached_primitives();
  EXPECT_EQ(after_first, before + 4);
  run_all();
  EXPECT_EQ(be.cached_primitives(), after_first) << "the same problems built new primitives";
  // A new shape is a new entry.
  Tensor y = poisoned({2, 11});
  be.linear_forward(x.slice(0, 2), w, nullptr, y);
  EXPECT_EQ(be.cached_primitives(), after_first + 1);
  // The bound holds for every family.
  be.set_cache_capacity(1);
  EXPECT_LE(be.cached_primitives(), 5u);
  be.set_cache_capacity(old_capacity);
#else
  GTEST_SKIP() << "built without oneDNN";
#endif
}

}  // namespace
}  // namespace convnet::test
