// Losses, the accuracy count and the optimizer updates on the emulated device
// against reference loops, in every Scenario (scenario.hpp): the kernels with
// warp shuffles, block reductions in shared memory, atomics and shared scalars
// that race mode (CONVNET_EMU_RACE) must see.
#include <cstdint>

#include "convnet/backend.hpp"
#include "scenario.hpp"

namespace convnet::emu::testing {
namespace {

class Losses : public EmuKernel {};

// The kernels' deterministic means reduce through this many bytes of scratch.
std::vector<double> workspace() { return std::vector<double>(kernels::kLossWorkspaceBytes / 8); }

// Plain (e = 0) and label-smoothed: the target is (1 - e) onehot + e / C.
TEST_P(Losses, CrossEntropyForwardAndBackward) {
  const int64_t rows = 70, classes = 13;  // 70 rows: more warps than a capped grid has
  const std::vector<float> x = random_floats(rows * classes, 41, -5.f, 5.f);
  std::vector<int32_t> labels(rows);
  for (int64_t r = 0; r < rows; ++r) labels[r] = static_cast<int32_t>((r * 7) % classes);
  for (const float e : {0.f, 0.1f, 1.f}) {
    SCOPED_TRACE(::testing::Message() << "label_smoothing " << e);
    std::vector<double> want_p(x.size());
    double want_loss = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      double max = -INFINITY, sum = 0.0, sum_log_p = 0.0;
      for (int64_t c = 0; c < classes; ++c) max = std::fmax(max, x[r * classes + c]);
      for (int64_t c = 0; c < classes; ++c) sum += std::exp(x[r * classes + c] - max);
      for (int64_t c = 0; c < classes; ++c) {
        want_p[r * classes + c] = std::exp(x[r * classes + c] - max) / sum;
        sum_log_p += x[r * classes + c] - max - std::log(sum);
      }
      const double nll = max + std::log(sum) - x[r * classes + labels[r]];
      want_loss += (1.0 - e) * nll - e / classes * sum_log_p;  // PyTorch's form
    }
    std::vector<float> loss(1, NAN), probs(x.size(), NAN), grad(x.size(), NAN);
    std::vector<int32_t> flag(4, 0);
    std::vector<double> scratch = workspace();
    kernels::softmax_cross_entropy_forward(x.data(), labels.data(), rows, classes, e,
                                           loss.data(), probs.data(), flag.data(),
                                           scratch.data(), nullptr);
    expect_close(loss, {want_loss / rows}, 1e-6, "cross-entropy loss");
    expect_close(probs, want_p, 1e-6, "cross-entropy probabilities");
    std::vector<double> want_grad(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      const double onehot = labels[i / classes] == int64_t(i % classes) ? 1.0 : 0.0;
      want_grad[i] = 2.0 / rows * (probs[i] - ((1.0 - e) * onehot + e / classes));
    }
    kernels::softmax_cross_entropy_backward(probs.data(), labels.data(), rows, classes, e, 2.f,
                                            grad.data(), flag.data(), nullptr);
    expect_close(grad, want_grad, 1e-6, "cross-entropy gradient");
    EXPECT_EQ(flag[0], 0);
  }
}

TEST_P(Losses, CrossEntropyFlagsTheFirstBadLabel) {
  const int64_t rows = 40, classes = 5;
  const std::vector<float> x = random_floats(rows * classes, 42);
  std::vector<int32_t> labels(rows, 1);
  labels[9] = 5;  // one past the last class
  labels[30] = -1;
  std::vector<float> loss(1), probs(x.size());
  std::vector<int32_t> flag(4, 0);
  std::vector<double> scratch = workspace();
  kernels::softmax_cross_entropy_forward(x.data(), labels.data(), rows, classes, 0.1f,
                                         loss.data(), probs.data(), flag.data(), scratch.data(),
                                         nullptr);
  // Either bad row may claim the flag first, but its record is whole and its own.
  ASSERT_EQ(flag[0], kernels::kCrossEntropyForwardLabel);
  EXPECT_TRUE((flag[1] == 5 && flag[2] == 9) || (flag[1] == -1 && flag[2] == 30))
      << "label " << flag[1] << " row " << flag[2];
  EXPECT_EQ(flag[3], classes);
  EXPECT_TRUE(std::isfinite(loss[0]));
  std::vector<int32_t> back_flag(4, 0);
  std::vector<float> grad(x.size());
  kernels::softmax_cross_entropy_backward(probs.data(), labels.data(), rows, classes, 0.f, 1.f,
                                          grad.data(), back_flag.data(), nullptr);
  EXPECT_EQ(back_flag[0], kernels::kCrossEntropyBackwardLabel);
}

TEST_P(Losses, ElementwiseMeans) {
  const int64_t count = 1000;  // several blocks of partials
  const std::vector<float> a = random_floats(count, 43, -3.f, 3.f);
  std::vector<float> t = random_floats(count, 44);
  double mse = 0.0, bce = 0.0, hinge = 0.0;
  for (int64_t i = 0; i < count; ++i) {
    const double d = double{a[i]} - t[i], x = a[i];
    mse += d * d;
    bce += std::fmax(x, 0.0) - x * t[i] + std::log1p(std::exp(-std::fabs(x)));
    hinge += std::fmax(0.0, 1.0 - double{t[i]} * a[i]);
  }
  std::vector<double> scratch = workspace();
  std::vector<float> loss(1, NAN);
  kernels::mse_forward(a.data(), t.data(), count, loss.data(), scratch.data(), nullptr);
  expect_close(loss, {mse / count}, 1e-6, "mse");
  kernels::bce_with_logits_forward(a.data(), t.data(), count, loss.data(), scratch.data(), nullptr);
  expect_close(loss, {bce / count}, 1e-6, "bce with logits");
  kernels::hinge_forward(a.data(), t.data(), count, 1.f, loss.data(), scratch.data(), nullptr);
  expect_close(loss, {hinge / count}, 1e-6, "hinge");
}

TEST_P(Losses, CountCorrect) {
  const int64_t rows = 75, classes = 40;  // classes > 32: lanes loop
  std::vector<float> x = random_floats(rows * classes, 45);
  std::vector<int32_t> labels(rows);
  int32_t want = 0;
  for (int64_t r = 0; r < rows; ++r) {
    int64_t best = 0;
    for (int64_t c = 1; c < classes; ++c)
      if (x[r * classes + c] > x[r * classes + best]) best = c;
    labels[r] = static_cast<int32_t>(r % 3 == 0 ? best : (best + 1) % classes);
    want += r % 3 == 0;
  }
  x[5 * classes + 7] = NAN;  // NaN ranks highest (torch.argmax): row 5 now picks 7
  labels[5] = 7;
  want += 5 % 3 != 0;
  std::vector<int32_t> correct(1, 4);  // accumulates
  kernels::count_correct(x.data(), labels.data(), rows, classes, correct.data(), true, nullptr);
  EXPECT_EQ(correct[0], 4 + want);
}

TEST_P(Losses, AdamAndSgdSteps) {
  const int64_t count = 700;
  const std::vector<float> g = random_floats(count, 46);
  std::vector<float> p = random_floats(count, 47), m(count, 0.f), v(count, 0.f);
  std::vector<double> want_p(p.begin(), p.end()), want_m(count, 0.0), want_v(count, 0.0);
  std::vector<float> schedule{0.f, 0.f};
  AdamParams ap;
  ap.weight_decay = 0.01f;
  ap.decoupled_weight_decay = true;
  for (int step = 1; step <= 2; ++step) {
    kernels::schedule_advance(schedule.data(), 1e-2f, nullptr);
    kernels::adam_update(p.data(), g.data(), m.data(), v.data(), count, ap, schedule.data(), nullptr);
    for (int64_t i = 0; i < count; ++i) {
      want_p[i] *= 1.0 - 1e-2 * ap.weight_decay;
      want_m[i] = ap.beta1 * want_m[i] + (1 - ap.beta1) * g[i];
      want_v[i] = ap.beta2 * want_v[i] + (1 - ap.beta2) * double{g[i]} * g[i];
      const double bc1 = 1 - std::pow(double{ap.beta1}, step), bc2 = 1 - std::pow(double{ap.beta2}, step);
      want_p[i] -= 1e-2 / bc1 * want_m[i] / (std::sqrt(want_v[i]) / std::sqrt(bc2) + ap.eps);
    }
  }
  EXPECT_EQ(schedule[1], 2.f);
  expect_close(p, want_p, 1e-5, "adam param");
  expect_close(m, want_m, 1e-5, "adam exp_avg");

  std::vector<float> q = random_floats(count, 48), buffer(count, NAN);
  std::vector<double> want_q(q.begin(), q.end()), want_buffer(count);
  SgdParams sp;
  sp.momentum = 0.9f;
  std::vector<float> sgd_schedule{0.f, 0.f};
  for (int step = 1; step <= 2; ++step) {
    kernels::schedule_advance(sgd_schedule.data(), 0.1f, nullptr);
    kernels::sgd_update(q.data(), g.data(), buffer.data(), count, sp, sgd_schedule.data(), nullptr);
    for (int64_t i = 0; i < count; ++i) {
      want_buffer[i] = step == 1 ? g[i] : 0.9 * want_buffer[i] + g[i];
      want_q[i] -= 0.1 * want_buffer[i];
    }
  }
  expect_close(q, want_q, 1e-5, "sgd param");
}

CONVNET_EMU_SCENARIOS(Losses);

}  // namespace
}  // namespace convnet::emu::testing
