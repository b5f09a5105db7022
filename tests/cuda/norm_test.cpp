// The CUDA backend's batch normalization and adaptive average pooling through
// the Backend interface (workspace from the context, on the stream), against
// host loops in double (independent of the CPU backend, whose reference the
// parity table will hold them to), and repeated bit for bit: twice on the same
// grid (on a GPU the blocks really run concurrently) and under grid cap 2.
// Shapes are small (the emulated CI stage runs this too); one has a channel
// long enough (8 * 33 * 33 = 8712 values) to be split into partials. Outputs
// start as NaN. Skips with the reason where there is no GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "convnet/convnet.hpp"
#include "support/grid_cap.hpp"

namespace convnet {
namespace {

class CudaNorm : public testing::Test {
 protected:
  void SetUp() override {
    if (!backend_available(Backend::Kind::Cuda))
      GTEST_SKIP() << backend_unavailable_reason(Backend::Kind::Cuda);
  }
  Backend& gpu() { return get_backend(Backend::Kind::Cuda); }
};

Tensor nan_tensor(const Shape& shape) { return Tensor::full(shape, NAN, Device::cuda()); }

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

double relative_error(const std::vector<float>& got, const std::vector<double>& want) {
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    diff += (got[i] - want[i]) * (got[i] - want[i]);
    norm += want[i] * want[i];
  }
  return std::sqrt(diff / std::fmax(norm, 1e-30));
}

struct BnRun {
  std::vector<float> y, mean, invstd, running_mean, running_var, dx, dw, db;
};

BnRun run_batch_norm(Backend& gpu, const Tensor& x, const Tensor& dy, const Tensor& weight,
                     const Tensor& bias) {
  const int64_t c = x.size(1);
  Tensor y = nan_tensor(x.shape()), mean = nan_tensor({c}), invstd = nan_tensor({c});
  Tensor rm = Tensor::zeros({c}, Device::cuda()), rv = Tensor::ones({c}, Device::cuda());
  gpu.batch_norm_forward_train(x, &weight, &bias, &rm, &rv, 0.1f, 1e-5f, true, y, mean, invstd);
  Tensor dx = nan_tensor(x.shape()), dw = nan_tensor({c}), db = nan_tensor({c});
  gpu.batch_norm_backward(x, dy, &weight, mean, invstd, dx, &dw, &db, false);
  return {y.to_vector<float>(),  mean.to_vector<float>(), invstd.to_vector<float>(),
          rm.to_vector<float>(), rv.to_vector<float>(),   dx.to_vector<float>(),
          dw.to_vector<float>(), db.to_vector<float>()};
}

bool same(const BnRun& a, const BnRun& b) {
  return same_bits(a.y, b.y) && same_bits(a.mean, b.mean) && same_bits(a.invstd, b.invstd) &&
         same_bits(a.running_mean, b.running_mean) && same_bits(a.running_var, b.running_var) &&
         same_bits(a.dx, b.dx) && same_bits(a.dw, b.dw) && same_bits(a.db, b.db);
}

TEST_F(CudaNorm, BatchNormTrainAndBackwardMatchHostLoopsAndRepeat) {
  for (const Shape& shape : {Shape{8, 3, 33, 33}, Shape{5, 7, 3, 2}, Shape{9, 6}}) {
    SCOPED_TRACE(testing::Message() << "shape rank " << shape.rank() << ", C " << shape[1]);
    const int64_t n = shape[0], c = shape[1], hw = shape.numel() / (n * c), count = n * hw;
    const Tensor x_host = Tensor::randn(shape, Device::cpu(), 11, 0.5f, 2.f);
    const Tensor dy_host = Tensor::randn(shape, Device::cpu(), 12);
    const Tensor w_host = Tensor::rand({c}, Device::cpu(), 13, 0.5f, 1.5f);
    const Tensor b_host = Tensor::randn({c}, Device::cpu(), 14);
    const Tensor x = x_host.to(Device::cuda()), dy = dy_host.to(Device::cuda());
    const Tensor weight = w_host.to(Device::cuda()), bias = b_host.to(Device::cuda());
    const BnRun got = run_batch_norm(gpu(), x, dy, weight, bias);

    const std::vector<float> xv = x_host.to_vector<float>(), gv = dy_host.to_vector<float>();
    const std::vector<float> wv = w_host.to_vector<float>(), bv = b_host.to_vector<float>();
    std::vector<double> y(xv.size()), dx(xv.size()), mean(c), invstd(c), rv(c), dw(c), db(c);
    for (int64_t ch = 0; ch < c; ++ch) {
      auto at = [&](int64_t j) { return ((j / hw) * c + ch) * hw + j % hw; };
      double sum = 0.0, squares = 0.0;
      for (int64_t j = 0; j < count; ++j) sum += xv[at(j)];
      mean[ch] = sum / count;
      for (int64_t j = 0; j < count; ++j) squares += (xv[at(j)] - mean[ch]) * (xv[at(j)] - mean[ch]);
      invstd[ch] = 1.0 / std::sqrt(squares / count + 1e-5);
      rv[ch] = 0.9 + 0.1 * squares / (count - 1);
      // Backward from the saved float statistics, as the kernel reads them.
      const double m = got.mean[ch], s = got.invstd[ch];
      double sum_dy = 0.0, sum_dy_xhat = 0.0;
      for (int64_t j = 0; j < count; ++j) {
        const double v = (xv[at(j)] - mean[ch]) * invstd[ch] * wv[ch] + bv[ch];
        y[at(j)] = v < 0 ? 0 : v;
        sum_dy += gv[at(j)];
        sum_dy_xhat += gv[at(j)] * (xv[at(j)] - m) * s;
      }
      for (int64_t j = 0; j < count; ++j)
        dx[at(j)] = wv[ch] * s *
                    (gv[at(j)] - sum_dy / count - (xv[at(j)] - m) * s * sum_dy_xhat / count);
      dw[ch] = sum_dy_xhat;
      db[ch] = sum_dy;
    }
    EXPECT_LE(relative_error(got.y, y), 1e-5);
    EXPECT_LE(relative_error(got.mean, mean), 1e-5);
    EXPECT_LE(relative_error(got.invstd, invstd), 1e-5);
    EXPECT_LE(relative_error(got.running_var, rv), 1e-5);
    EXPECT_LE(relative_error(got.dx, dx), 1e-5);
    EXPECT_LE(relative_error(got.dw, dw), 1e-5);
    EXPECT_LE(relative_error(got.db, db), 1e-5);

    EXPECT_TRUE(same(got, run_batch_norm(gpu(), x, dy, weight, bias))) << "a rerun differs";
    testing_support::GridCap cap(2);
    EXPECT_TRUE(same(got, run_batch_norm(gpu(), x, dy, weight, bias))) << "grid cap 2 differs";
  }
}

TEST_F(CudaNorm, AdaptiveAvgPoolMatchesHostLoops) {
  const int64_t planes = 6, h = 7, w = 5, oh = 3, ow = 2;
  const Tensor x_host = Tensor::randn({2, 3, h, w}, Device::cpu(), 21);
  const Tensor dy_host = Tensor::randn({2, 3, oh, ow}, Device::cpu(), 22);
  Tensor y = nan_tensor({2, 3, oh, ow}), dx = nan_tensor({2, 3, h, w});
  gpu().adaptive_avg_pool2d_forward(x_host.to(Device::cuda()), y);
  gpu().adaptive_avg_pool2d_backward(dy_host.to(Device::cuda()), dx);
  const std::vector<float> xv = x_host.to_vector<float>(), gv = dy_host.to_vector<float>();
  std::vector<double> want_y(gv.size(), 0.0), want_dx(xv.size(), 0.0);
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t a = 0; a < oh; ++a)
      for (int64_t b = 0; b < ow; ++b) {
        // PyTorch's windows, written out: [floor(a*h/oh), ceil((a+1)*h/oh)).
        const int64_t h0 = a * h / oh, h1 = ((a + 1) * h + oh - 1) / oh;
        const int64_t w0 = b * w / ow, w1 = ((b + 1) * w + ow - 1) / ow;
        const double size = static_cast<double>((h1 - h0) * (w1 - w0));
        const int64_t o = (p * oh + a) * ow + b;
        for (int64_t r = h0; r < h1; ++r)
          for (int64_t s = w0; s < w1; ++s) {
            want_y[o] += xv[(p * h + r) * w + s] / size;
            want_dx[(p * h + r) * w + s] += gv[o] / size;
          }
      }
  EXPECT_LE(relative_error(y.to_vector<float>(), want_y), 1e-6);
  EXPECT_LE(relative_error(dx.to_vector<float>(), want_dx), 1e-6);
}

}  // namespace
}  // namespace convnet
