// Softmax, bias gradient, pooling, elementwise and activation kernels on the
// emulated device against reference loops, in every Scenario (scenario.hpp).
#include "scenario.hpp"

namespace convnet::emu::testing {
namespace {

class Kernels : public EmuKernel {};

// ---- softmax over [outer, channels, inner]

void check_softmax(int64_t outer, int64_t channels, int64_t inner, bool log) {
  const std::vector<float> x = random_floats(outer * channels * inner, 11, -4.f, 4.f);
  const std::vector<float> dy = random_floats(x.size(), 12);
  std::vector<double> want_y(x.size()), want_dx(x.size());
  std::vector<float> y_ref(x.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t c) { return (o * channels + c) * inner + i; };
      double max = -INFINITY, sum = 0.0;
      for (int64_t c = 0; c < channels; ++c) max = std::fmax(max, x[at(c)]);
      for (int64_t c = 0; c < channels; ++c) sum += std::exp(x[at(c)] - max);
      for (int64_t c = 0; c < channels; ++c) {
        want_y[at(c)] = log ? x[at(c)] - max - std::log(sum) : std::exp(x[at(c)] - max) / sum;
        y_ref[at(c)] = static_cast<float>(want_y[at(c)]);
      }
      double dot = 0.0;
      for (int64_t c = 0; c < channels; ++c) dot += log ? dy[at(c)] : double{dy[at(c)]} * y_ref[at(c)];
      for (int64_t c = 0; c < channels; ++c)
        want_dx[at(c)] = log ? dy[at(c)] - std::exp(double{y_ref[at(c)]}) * dot
                             : y_ref[at(c)] * (dy[at(c)] - dot);
    }
  std::vector<float> y(x.size()), dx(x.size());
  kernels::softmax_forward(x.data(), y.data(), outer, channels, inner, log, nullptr);
  kernels::softmax_backward(y_ref.data(), dy.data(), dx.data(), outer, channels, inner, log, nullptr);
  expect_close(y, want_y, 1e-5, "softmax forward");
  expect_close(dx, want_dx, 1e-5, "softmax backward");
}

TEST_P(Kernels, SoftmaxWarpPerRow) {  // inner 1, channels <= 1024: a warp a row
  check_softmax(37, 45, 1, false);
  check_softmax(37, 45, 1, true);
}
TEST_P(Kernels, SoftmaxBlockPerRow) {  // channels > 1024: a block a row, shared scratch
  check_softmax(3, 1500, 1, false);
  check_softmax(3, 1500, 1, true);
}
TEST_P(Kernels, SoftmaxStrided) {  // inner > 1: a thread a position
  check_softmax(3, 5, 130, false);
  check_softmax(3, 5, 130, true);
}

// ---- bias_backward: sum over n and inner; k < 128 takes 1024-thread blocks

void check_bias_backward(int64_t n, int64_t k, int64_t inner) {
  const std::vector<float> dy = random_floats(n * k * inner, 21);
  std::vector<double> want(k, 0.5);  // accumulated onto 0.5
  for (int64_t s = 0; s < n; ++s)
    for (int64_t c = 0; c < k; ++c)
      for (int64_t i = 0; i < inner; ++i) want[c] += dy[(s * k + c) * inner + i];
  std::vector<float> got(k, 0.5f);
  kernels::bias_backward(dy.data(), n, k, inner, got.data(), true, nullptr);
  expect_close(got, want, 1e-5, "bias_backward");
}

TEST_P(Kernels, BiasBackwardFewChannels) { check_bias_backward(3, 5, 49); }
TEST_P(Kernels, BiasBackwardManyChannels) { check_bias_backward(2, 130, 3); }

// ---- pooling: max with argmax, average counting the padding

void check_pool(PoolMode mode, int kernel, int stride, int pad) {
  kernels::PoolGeometry g{};
  g.planes = 6, g.h = 9, g.w = 7;
  g.params.mode = mode;
  g.params.kernel_h = g.params.kernel_w = kernel;
  g.params.stride_h = g.params.stride_w = stride;
  g.params.pad_h = g.params.pad_w = pad;
  g.p = (g.h + 2 * pad - kernel) / stride + 1;
  g.q = (g.w + 2 * pad - kernel) / stride + 1;
  std::vector<float> x = random_floats(g.planes * g.h * g.w, 31);
  for (float& v : x) v = std::round(v * 4.f) / 4.f;  // ties: the first maximum must win
  const std::vector<float> dy = random_floats(g.planes * g.p * g.q, 32);
  std::vector<double> want_y(dy.size()), want_dx(x.size(), 0.0);
  for (int64_t pl = 0; pl < g.planes; ++pl)
    for (int64_t p = 0; p < g.p; ++p)
      for (int64_t q = 0; q < g.q; ++q) {
        const int64_t o = (pl * g.p + p) * g.q + q;
        double best = -INFINITY, sum = 0.0;
        int64_t best_at = -1;
        for (int64_t y = p * stride - pad; y < p * stride - pad + kernel; ++y)
          for (int64_t xx = q * stride - pad; xx < q * stride - pad + kernel; ++xx) {
            if (y < 0 || y >= g.h || xx < 0 || xx >= g.w) continue;
            const int64_t i = (pl * g.h + y) * g.w + xx;
            sum += x[i];
            if (x[i] > best) best = x[i], best_at = i;
          }
        if (mode == PoolMode::Max) {
          want_y[o] = best;
          want_dx[best_at] += dy[o];
        } else {
          want_y[o] = sum / (kernel * kernel);
          for (int64_t y = p * stride - pad; y < p * stride - pad + kernel; ++y)
            for (int64_t xx = q * stride - pad; xx < q * stride - pad + kernel; ++xx)
              if (y >= 0 && y < g.h && xx >= 0 && xx < g.w)
                want_dx[(pl * g.h + y) * g.w + xx] += dy[o] / float(kernel * kernel);
        }
      }
  std::vector<float> y(dy.size()), dx(x.size());
  std::vector<int32_t> argmax(dy.size());
  int32_t* argmax_ptr = mode == PoolMode::Max ? argmax.data() : nullptr;
  kernels::pool2d_forward(g, x.data(), y.data(), argmax_ptr, nullptr);
  kernels::pool2d_backward(g, x.data(), dy.data(), argmax_ptr, dx.data(), nullptr);
  expect_close(y, want_y, 1e-6, "pool forward");
  expect_close(dx, want_dx, 1e-5, "pool backward");
}

TEST_P(Kernels, MaxPool) { check_pool(PoolMode::Max, 3, 2, 1); }
TEST_P(Kernels, AvgPoolIncludePad) { check_pool(PoolMode::AvgIncludePad, 3, 2, 1); }

// ---- elementwise and activations: 1003 elements, float4 path (aligned) and
// scalar path (one float off alignment)

TEST_P(Kernels, Elementwise) {
  for (int offset : {0, 1}) {
    const int64_t count = 1003;
    std::vector<float> a = random_floats(count + 1, 41), b = random_floats(count + 1, 42);
    std::vector<float> out(count + 1), scaled(count + 1);
    kernels::add_f32(a.data() + offset, b.data() + offset, out.data() + offset, count, nullptr);
    kernels::scale_f32(a.data() + offset, -2.5f, scaled.data() + offset, count, nullptr);
    std::vector<double> want_sum(count), want_scaled(count);
    for (int64_t i = 0; i < count; ++i) {
      want_sum[i] = a[i + offset] + b[i + offset];       // float arithmetic, as the kernel's
      want_scaled[i] = -2.5f * a[i + offset];
    }
    expect_close({out.begin() + offset, out.begin() + offset + count}, want_sum, 0, "add");
    expect_close({scaled.begin() + offset, scaled.begin() + offset + count}, want_scaled, 0, "scale");
  }
  std::vector<float> filled(777, 0.f);
  kernels::fill_f32(filled.data(), 777, 3.5f, nullptr);
  expect_close(filled, std::vector<double>(777, 3.5), 0, "fill");
  const std::vector<float> row = random_floats(8, 43);
  std::vector<float> rows(40 * 8);
  kernels::broadcast_rows_f32(row.data(), 40, 8, rows.data(), nullptr);  // float4 path
  std::vector<double> want_rows(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) want_rows[i] = row[i % 8];
  expect_close(rows, want_rows, 0, "broadcast_rows");
}

TEST_P(Kernels, BiasReluEpilogue) {
  const int64_t n = 2, k = 3, inner = 50;
  std::vector<float> y = random_floats(n * k * inner, 51);
  const std::vector<float> bias = random_floats(k, 52);
  std::vector<double> want(y.size());
  for (size_t j = 0; j < y.size(); ++j) want[j] = std::fmax(0.0, double(y[j] + bias[(j / inner) % k]));
  kernels::bias_activation_nchw_f32(y.data(), bias.data(), n, k, inner, true, nullptr);
  expect_close(y, want, 0, "bias_activation");
}

TEST_P(Kernels, Activations) {
  const int64_t count = 1003;
  const std::vector<float> x = random_floats(count, 61, -3.f, 3.f);
  const std::vector<float> dy = random_floats(count, 62);
  const float alpha = 0.1f;
  for (Activation a : {Activation::ReLU, Activation::LeakyReLU, Activation::Sigmoid, Activation::Tanh}) {
    std::vector<double> want_y(count), want_dx(count);
    std::vector<float> y_ref(count);
    for (int64_t i = 0; i < count; ++i) {
      const double v = x[i];
      switch (a) {
        case Activation::ReLU: want_y[i] = v < 0 ? 0 : v; break;
        case Activation::LeakyReLU: want_y[i] = v > 0 ? v : v * alpha; break;
        case Activation::Sigmoid: want_y[i] = 1 / (1 + std::exp(-v)); break;
        case Activation::Tanh: want_y[i] = std::tanh(v); break;
      }
      y_ref[i] = static_cast<float>(want_y[i]);
      const double s = (a == Activation::Sigmoid || a == Activation::Tanh) ? y_ref[i] : v;
      switch (a) {
        case Activation::ReLU: want_dx[i] = s > 0 ? dy[i] : 0; break;
        case Activation::LeakyReLU: want_dx[i] = s > 0 ? dy[i] : dy[i] * alpha; break;
        case Activation::Sigmoid: want_dx[i] = dy[i] * (1 - s) * s; break;
        case Activation::Tanh: want_dx[i] = dy[i] * (1 - s * s); break;
      }
    }
    std::vector<float> y(count), dx(count);
    kernels::activation_forward(a, alpha, x.data(), y.data(), count, nullptr);
    kernels::activation_backward(a, alpha, x.data(), y_ref.data(), dy.data(), dx.data(), count, nullptr);
    expect_close(y, want_y, 1e-6, "activation forward");
    expect_close(dx, want_dx, 1e-6, "activation backward");
  }
}

CONVNET_EMU_SCENARIOS(Kernels);

}  // namespace
}  // namespace convnet::emu::testing
