// Batch normalization (batch_norm.cu) on the emulated device against a
// double-precision reference computed here, in every Scenario (scenario.hpp).
// Shapes reach each stage-1 block size (32, 128, 256 threads), the split of a
// long channel into several partials (count >= 8192), more channels than the
// finalize kernel's warps under a grid cap, C = 1, two values per channel, odd
// H and W, and [N, C]. Options: ReLU on/off, affine or not, running statistics
// or not, accumulate or overwrite. Outputs and the workspace start as NaN, so
// every output must be written and no partial read before it is. Results must
// be bit-identical under grid cap 1 (the combining order is the shape's alone).
// Tolerance: the norm-wise relative error the parity tests use (1e-5), plus an
// elementwise check of the per-channel statistics.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "scenario.hpp"

namespace convnet::emu::testing {
namespace {

class BatchNorm : public EmuKernel {};

using kernels::BatchNormShape;

constexpr float kEps = 1e-5f;
constexpr float kMomentum = 0.1f;

struct Options {
  bool relu, affine, running, accumulate;
};

std::string describe(const BatchNormShape& s, const Options& o) {
  return "[" + std::to_string(s.n) + ", " + std::to_string(s.channels) + ", " +
         std::to_string(s.hw) + "] relu " + std::to_string(o.relu) + " affine " +
         std::to_string(o.affine) + " running " + std::to_string(o.running) + " accumulate " +
         std::to_string(o.accumulate);
}

int64_t at(const BatchNormShape& s, int64_t n, int64_t c, int64_t i) {
  return (n * s.channels + c) * s.hw + i;
}

// ||got - want|| / max(||want||, floor) <= tolerance; NaN fails. `floor`: the size
// of the terms a result cancels (grad_input with two values a channel is ~0).
void expect_norm_close(const std::vector<float>& got, const std::vector<double>& want,
                       double tolerance, const char* what, double floor = 0.0) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got[i])) << what << "[" << i << "] = " << got[i];
    diff += (got[i] - want[i]) * (got[i] - want[i]);
    norm += want[i] * want[i];
  }
  norm = std::fmax(norm, floor * floor);
  const double error = norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
  EXPECT_LE(error, tolerance) << what << ": norm-wise relative error";
}

std::vector<float> to_float(const std::vector<double>& v) { return {v.begin(), v.end()}; }

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

std::vector<double> workspace_for(const BatchNormShape& s) {
  return std::vector<double>(kernels::batch_norm_workspace(s) / sizeof(double) + 1, NAN);
}

// ---- training forward

struct Forward {
  std::vector<float> y, mean, invstd, running_mean, running_var;
};

struct ForwardReference {
  std::vector<double> y, mean, invstd, running_mean, running_var;
};

ForwardReference reference_forward(const BatchNormShape& s, const std::vector<float>& x,
                                   const std::vector<float>& weight,
                                   const std::vector<float>& bias, const std::vector<float>& rm,
                                   const std::vector<float>& rv, const Options& o) {
  ForwardReference r;
  const int64_t count = s.n * s.hw;
  r.y.assign(x.size(), 0.0);
  r.mean.assign(s.channels, 0.0);
  r.invstd.assign(s.channels, 0.0);
  r.running_mean.assign(rm.begin(), rm.end());
  r.running_var.assign(rv.begin(), rv.end());
  for (int64_t c = 0; c < s.channels; ++c) {
    double sum = 0.0;
    for (int64_t n = 0; n < s.n; ++n)
      for (int64_t i = 0; i < s.hw; ++i) sum += x[at(s, n, c, i)];
    const double mean = sum / count;
    double squares = 0.0;
    for (int64_t n = 0; n < s.n; ++n)
      for (int64_t i = 0; i < s.hw; ++i) {
        const double d = x[at(s, n, c, i)] - mean;
        squares += d * d;
      }
    const double var = squares / count;
    const double invstd = 1.0 / std::sqrt(var + kEps);
    r.mean[c] = mean;
    r.invstd[c] = invstd;
    const double w = o.affine ? weight[c] : 1.0, b = o.affine ? bias[c] : 0.0;
    for (int64_t n = 0; n < s.n; ++n)
      for (int64_t i = 0; i < s.hw; ++i) {
        double v = (x[at(s, n, c, i)] - mean) * invstd * w + b;
        if (o.relu && v < 0) v = 0;
        r.y[at(s, n, c, i)] = v;
      }
    if (o.running) {
      r.running_mean[c] = (1 - kMomentum) * rm[c] + kMomentum * mean;
      r.running_var[c] = (1 - kMomentum) * rv[c] + kMomentum * squares / (count - 1);
    }
  }
  return r;
}

Forward run_forward(const BatchNormShape& s, const std::vector<float>& x,
                    const std::vector<float>& weight, const std::vector<float>& bias,
                    const std::vector<float>& rm, const std::vector<float>& rv,
                    const Options& o) {
  Forward f;
  f.y.assign(x.size(), NAN);  // poisoned: every output must be written
  f.mean.assign(s.channels, NAN);
  f.invstd.assign(s.channels, NAN);
  f.running_mean = rm;
  f.running_var = rv;
  std::vector<double> workspace = workspace_for(s);
  kernels::batch_norm_forward_train(
      s, x.data(), o.affine ? weight.data() : nullptr, o.affine ? bias.data() : nullptr,
      o.running ? f.running_mean.data() : nullptr, o.running ? f.running_var.data() : nullptr,
      kMomentum, kEps, o.relu, f.y.data(), f.mean.data(), f.invstd.data(), workspace.data(),
      nullptr);
  return f;
}

// ---- backward

struct Backward {
  std::vector<float> dx, dw, db;
};

struct BackwardReference {
  std::vector<double> dx, dw, db;
};

BackwardReference reference_backward(const BatchNormShape& s, const std::vector<float>& x,
                                     const std::vector<float>& dy,
                                     const std::vector<float>& weight,
                                     const std::vector<float>& mean,
                                     const std::vector<float>& invstd,
                                     const std::vector<float>& dw0,
                                     const std::vector<float>& db0, const Options& o) {
  BackwardReference r;
  const int64_t count = s.n * s.hw;
  r.dx.assign(x.size(), 0.0);
  r.dw.assign(s.channels, 0.0);
  r.db.assign(s.channels, 0.0);
  for (int64_t c = 0; c < s.channels; ++c) {
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    for (int64_t n = 0; n < s.n; ++n)
      for (int64_t i = 0; i < s.hw; ++i) {
        const int64_t k = at(s, n, c, i);
        sum_dy += dy[k];
        sum_dy_xhat += dy[k] * ((x[k] - double{mean[c]}) * invstd[c]);
      }
    const double w = o.affine ? weight[c] : 1.0;
    for (int64_t n = 0; n < s.n; ++n)
      for (int64_t i = 0; i < s.hw; ++i) {
        const int64_t k = at(s, n, c, i);
        const double xhat = (x[k] - double{mean[c]}) * invstd[c];
        r.dx[k] = w * invstd[c] * (dy[k] - sum_dy / count - xhat * sum_dy_xhat / count);
      }
    r.dw[c] = (o.accumulate ? dw0[c] : 0.0) + sum_dy_xhat;
    r.db[c] = (o.accumulate ? db0[c] : 0.0) + sum_dy;
  }
  return r;
}

Backward run_backward(const BatchNormShape& s, const std::vector<float>& x,
                      const std::vector<float>& dy, const std::vector<float>& weight,
                      const std::vector<float>& mean, const std::vector<float>& invstd,
                      const std::vector<float>& dw0, const std::vector<float>& db0,
                      const Options& o) {
  Backward b;
  b.dx.assign(x.size(), NAN);
  b.dw = o.accumulate ? dw0 : std::vector<float>(s.channels, NAN);
  b.db = o.accumulate ? db0 : std::vector<float>(s.channels, NAN);
  std::vector<double> workspace = workspace_for(s);
  kernels::batch_norm_backward(s, x.data(), dy.data(), o.affine ? weight.data() : nullptr,
                               mean.data(), invstd.data(), b.dx.data(),
                               o.affine ? b.dw.data() : nullptr, o.affine ? b.db.data() : nullptr,
                               o.accumulate, workspace.data(), nullptr);
  return b;
}

// ---- one shape under one set of options: forward, backward, inference, regrid

void check(const BatchNormShape& s, const Options& o, float offset = 0.f, float spread = 2.f) {
  SCOPED_TRACE(describe(s, o));
  const size_t total = static_cast<size_t>(s.n * s.channels * s.hw);
  std::vector<float> x = random_floats(total, 81, offset - spread, offset + spread);
  const std::vector<float> dy = random_floats(total, 82);
  const std::vector<float> weight = random_floats(s.channels, 83, 0.5f, 1.5f);
  const std::vector<float> bias = random_floats(s.channels, 84);
  const std::vector<float> rm = random_floats(s.channels, 85);
  const std::vector<float> rv = random_floats(s.channels, 86, 0.5f, 2.f);
  const std::vector<float> dw0 = random_floats(s.channels, 87);
  const std::vector<float> db0 = random_floats(s.channels, 88);

  const Forward f = run_forward(s, x, weight, bias, rm, rv, o);
  const ForwardReference fr = reference_forward(s, x, weight, bias, rm, rv, o);
  expect_close(f.mean, fr.mean, 1e-5, "save_mean");
  expect_close(f.invstd, fr.invstd, 1e-5, "save_invstd");
  expect_norm_close(f.y, fr.y, 1e-5, "output");
  if (o.running) {
    expect_close(f.running_mean, fr.running_mean, 1e-5, "running_mean");
    expect_close(f.running_var, fr.running_var, 1e-5, "running_var");
  } else {
    EXPECT_TRUE(same_bits(f.running_mean, rm) && same_bits(f.running_var, rv));
  }

  // Backward from the reference's statistics rounded to float (what a forward saves).
  const std::vector<float> mean = to_float(fr.mean), invstd = to_float(fr.invstd);
  const Backward b = run_backward(s, x, dy, weight, mean, invstd, dw0, db0, o);
  const BackwardReference br = reference_backward(s, x, dy, weight, mean, invstd, dw0, db0, o);
  // grad_input cancels weight*invstd*dy against its means (exactly, when a channel
  // has two values): the error is measured against the size of that term.
  double term = 0.0;
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t c = 0; c < s.channels; ++c)
      for (int64_t i = 0; i < s.hw; ++i) {
        const double v = (o.affine ? weight[c] : 1.0) * invstd[c] * dy[at(s, n, c, i)];
        term += v * v;
      }
  expect_norm_close(b.dx, br.dx, 1e-5, "grad_input", std::sqrt(term));
  if (o.affine) {
    expect_close(b.dw, br.dw, 1e-5, "grad_weight");
    expect_close(b.db, br.db, 1e-5, "grad_bias");
  } else {  // left alone: still the poison, or the values to accumulate onto
    EXPECT_TRUE(o.accumulate ? same_bits(b.dw, dw0) && same_bits(b.db, db0)
                             : std::isnan(b.dw[0]) && std::isnan(b.db[0]))
        << "grad_weight / grad_bias written without affine";
  }

  // Inference with the running statistics (or the batch's) as given mean and var.
  const std::vector<float> imean = o.running ? rm : mean;
  const std::vector<float> ivar = rv;
  std::vector<float> y(total, NAN);
  kernels::batch_norm_forward_inference(s, x.data(), o.affine ? weight.data() : nullptr,
                                        o.affine ? bias.data() : nullptr, imean.data(),
                                        ivar.data(), kEps, o.relu, y.data(), nullptr);
  std::vector<double> want(total);
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t c = 0; c < s.channels; ++c)
      for (int64_t i = 0; i < s.hw; ++i) {
        const int64_t k = at(s, n, c, i);
        double v = (x[k] - double{imean[c]}) / std::sqrt(double{ivar[c]} + kEps);
        if (o.affine) v = v * weight[c] + bias[c];
        if (o.relu && v < 0) v = 0;
        want[k] = v;
      }
  expect_norm_close(y, want, 1e-5, "inference output");

  // Another grid: the same bits.
  const int cap = kernels::grid_cap();
  kernels::set_grid_cap(1);
  const Forward f1 = run_forward(s, x, weight, bias, rm, rv, o);
  const Backward b1 = run_backward(s, x, dy, weight, mean, invstd, dw0, db0, o);
  kernels::set_grid_cap(cap);
  EXPECT_TRUE(same_bits(f.y, f1.y) && same_bits(f.mean, f1.mean) &&
              same_bits(f.invstd, f1.invstd) && same_bits(f.running_mean, f1.running_mean) &&
              same_bits(f.running_var, f1.running_var))
      << "forward under grid cap 1 differs: the order must be the shape's alone";
  EXPECT_TRUE(same_bits(b.dx, b1.dx) && (!o.affine || (same_bits(b.dw, b1.dw) &&
                                                       same_bits(b.db, b1.db))))
      << "backward under grid cap 1 differs";
}

const Options kPlain{false, true, true, false};

TEST_P(BatchNorm, OddImageShapes) {
  check({2, 3, 5 * 7}, kPlain);                   // 32-thread blocks
  check({3, 2, 11 * 9}, {true, true, false, true});  // 128 threads, ReLU, accumulate
  check({4, 1, 3 * 3}, {true, false, true, false});  // C = 1, no affine
}

TEST_P(BatchNorm, TwoValuesPerChannel) {
  check({2, 5, 1}, kPlain);                       // [N, C] with N = 2
  check({1, 3, 2}, {true, false, false, true});   // N = 1, H*W = 2
}

TEST_P(BatchNorm, MatrixInputManyChannels) {
  // [N, C]: more channels than the finalize kernels' warps under the caps.
  check({6, 37, 1}, {false, true, true, true});
  check({300, 4, 1}, {true, true, false, false});  // a channel strided by C
}

TEST_P(BatchNorm, LongChannelsSplitIntoPartials) {
  // count 9000 -> three partials of 4096, 256-thread blocks; offset mean.
  check({3, 2, 3000}, {false, true, true, true}, 3.f, 1.f);
  check({1, 1, 8193}, {true, false, false, false});  // 4096 + 4096 + a partial of one value
}

TEST_P(BatchNorm, EmptyBatchWritesNothing) {
  const BatchNormShape s{0, 3, 4};
  std::vector<float> mean(3, 7.f), invstd(3, 7.f);
  kernels::batch_norm_forward_inference(s, nullptr, nullptr, nullptr, mean.data(), invstd.data(),
                                        kEps, false, nullptr, nullptr);
  EXPECT_EQ(mean, std::vector<float>(3, 7.f));
}

CONVNET_EMU_SCENARIOS(BatchNorm);

}  // namespace
}  // namespace convnet::emu::testing
