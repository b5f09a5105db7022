// Finite-difference gradient checks for nn::Layer and nn::Loss (header-only:
// tests/CMakeLists.txt compiles only *_test.cpp files).
//
// Method (Caffe's test_gradient_check_util.hpp and dlib's test_layer, adapted):
// - A layer is turned into a scalar by a fixed random projection R of its
//   output: L(x, params) = sum(forward(x, Train) * R), accumulated in double.
//   The analytic gradients are backward(R) for the input and the parameters'
//   grads (zeroed first) for the parameters.
// - A loss is its own scalar: L = scale * forward(prediction, target); the
//   analytic gradient is backward(scale).
// - The numerical gradient is the central difference
//   (L(v + h) - L(v - h)) / ((v + h) - (v - h)), with the denominator taken from
//   the float32 values actually stored, for every element of small tensors and
//   a seeded random sample of at most `max_samples` elements of big ones.
//
// Tolerances. Forward passes run in float32 (every op is float32-only), so the
// step is large (h = 1e-2): rounding noise in L is ~1e-7 relative, which over
// 2h is ~1e-5 relative to the gradient, and the truncation error of a central
// difference on the smooth ops used here is O(h^2) ~ 1e-4 relative. Both checks
// must pass:
// - norm-wise: ||a - n|| / max(||n||, 1e-6) < norm_tol = 1e-2;
// - per element: |a - n| <= atol * max_j |n_j| + rtol * |n| + noise + 1e-6, with
//   atol = 2e-3 (relative to the tensor's largest gradient, so the check is
//   independent of the gradient's overall scale), rtol = 2e-2, and noise the
//   resolution of a float32 objective: 4 ulp(max(|L+|, |L-|)) / 2h (a loss
//   returns its value as float32, so a difference below one ulp reads as 0).
// A failure prints the worst element (flat index, analytic, numerical, bound).
//
// The objective must be deterministic: a Dropout layer in Train mode draws a new
// mask per forward, so it is checked on its own (tests/gradcheck/linear_gradcheck_test.cpp).
//
// Kinks: callers generate inputs at least 2h from every kink (see
// away_from_zero, distinct_values). Where a composite network makes that
// impossible (ReLU + max-pool inside a Sequential), `skip_nonsmooth` drops
// elements whose one-sided differences disagree (a kink was crossed) and
// requires that at least `min_checked_fraction` of the sampled elements
// remain; a piecewise-linear function has zero second difference elsewhere.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "convnet/convnet.hpp"

namespace convnet::test {

struct GradCheckOptions {
  float step = 1e-2f;
  double norm_tol = 1e-2;
  double rtol = 2e-2;
  double atol = 2e-3;  // times the largest |numerical gradient| of the tensor
  int max_samples = 200;
  uint64_t sample_seed = 0x5a3c1e;
  uint64_t projection_seed = 0xbeef;
  bool skip_nonsmooth = false;
  double min_checked_fraction = 0.85;
  double objective_ulps = 4.0;  // float32 resolution of the objective, see the top
};

// One tensor whose gradient is checked: the objective must read `tensor` (the
// check perturbs its storage in place and restores it exactly).
struct GradTarget {
  std::string name;
  Tensor tensor;
  std::vector<float> analytic;  // dObjective/dtensor, tensor.numel() values
};

inline double dot(const Tensor& a, const Tensor& b) {
  const std::vector<float> va = a.to_vector<float>(), vb = b.to_vector<float>();
  double sum = 0.0;
  for (size_t i = 0; i < va.size() && i < vb.size(); ++i)
    sum += static_cast<double>(va[i]) * static_cast<double>(vb[i]);
  return sum;
}

// Which elements of an n-element tensor to check: all of them, or a seeded sample.
inline std::vector<int64_t> sample_indices(int64_t n, int max_samples, uint64_t seed) {
  std::vector<int64_t> all(static_cast<size_t>(n));
  std::iota(all.begin(), all.end(), int64_t{0});
  if (n <= max_samples) return all;
  std::mt19937_64 rng(seed);
  for (int i = 0; i < max_samples; ++i) {  // partial Fisher-Yates
    std::uniform_int_distribution<int64_t> pick(i, n - 1);
    std::swap(all[static_cast<size_t>(i)], all[static_cast<size_t>(pick(rng))]);
  }
  all.resize(static_cast<size_t>(max_samples));
  std::sort(all.begin(), all.end());
  return all;
}

// Compares analytic against numerical values at `indices`. Returns a failure that
// names the worst element when either tolerance is exceeded.
inline ::testing::AssertionResult compare_gradients(const std::string& name, const Shape& shape,
                                                    const std::vector<int64_t>& indices,
                                                    const std::vector<double>& analytic,
                                                    const std::vector<double>& numeric,
                                                    const std::vector<double>& noise,
                                                    const GradCheckOptions& opt) {
  double max_numeric = 0.0, diff2 = 0.0, num2 = 0.0;
  for (size_t k = 0; k < numeric.size(); ++k) {
    max_numeric = std::max(max_numeric, std::fabs(numeric[k]));
    diff2 += (analytic[k] - numeric[k]) * (analytic[k] - numeric[k]);
    num2 += numeric[k] * numeric[k];
  }
  const double norm_err = std::sqrt(diff2) / std::max(std::sqrt(num2), 1e-6);
  const double atol = opt.atol * max_numeric + 1e-6;
  double worst_excess = -1.0;
  size_t worst = 0;
  bool element_fail = false;
  for (size_t k = 0; k < numeric.size(); ++k) {
    const double err = std::fabs(analytic[k] - numeric[k]);
    const double bound = atol + opt.rtol * std::fabs(numeric[k]) + noise[k];
    if (!(err <= bound)) element_fail = true;  // also catches NaN
    const double excess = std::isfinite(err) ? err - bound : 1e300;
    if (k == 0 || excess > worst_excess) {
      worst_excess = excess;
      worst = k;
    }
  }
  const bool norm_fail = !(norm_err < opt.norm_tol);
  if (!element_fail && !norm_fail) return ::testing::AssertionSuccess();
  std::ostringstream os;
  os << "gradient of " << name << " " << shape << ": norm-wise relative error " << norm_err
     << " (tolerance " << opt.norm_tol << ") over " << numeric.size() << " elements";
  if (!numeric.empty()) {
    const double err = std::fabs(analytic[worst] - numeric[worst]);
    os << "; worst element, flat index " << indices[worst] << ": analytic " << analytic[worst]
       << ", numerical " << numeric[worst] << ", |diff| " << err << " > bound "
       << atol + opt.rtol * std::fabs(numeric[worst]) + noise[worst];
  }
  return ::testing::AssertionFailure() << os.str();
}

// The core: perturbs each sampled element of each target, evaluates `objective`
// on both sides and compares with the target's analytic gradient.
inline ::testing::AssertionResult check_gradients(const std::function<double()>& objective,
                                                  std::vector<GradTarget> targets,
                                                  const GradCheckOptions& opt = {}) {
  const double f0 = opt.skip_nonsmooth ? objective() : 0.0;
  std::ostringstream failures;
  bool ok = true;
  for (size_t t = 0; t < targets.size(); ++t) {
    GradTarget& target = targets[t];
    Tensor& tensor = target.tensor;
    if (static_cast<int64_t>(target.analytic.size()) != tensor.numel())
      return ::testing::AssertionFailure()
             << "gradient of " << target.name << ": " << target.analytic.size()
             << " analytic values for a tensor " << tensor.shape();
    // A device tensor is perturbed through a host copy written back whole.
    const bool on_host = tensor.device().is_cpu();
    std::vector<float> host = on_host ? std::vector<float>() : tensor.to_vector<float>();
    float* values = on_host ? tensor.data<float>() : host.data();
    auto store = [&] {
      if (!on_host) tensor.copy_from(Tensor::from_vector(host, tensor.shape()));
    };
    const std::vector<int64_t> indices =
        sample_indices(tensor.numel(), opt.max_samples, opt.sample_seed + 7919 * t);
    std::vector<int64_t> checked;
    std::vector<double> analytic, numeric, noise;
    for (int64_t i : indices) {
      const float original = values[i];
      values[i] = original + opt.step;
      store();
      const double plus_at = values[i];
      const double f_plus = objective();
      values[i] = original - opt.step;
      store();
      const double minus_at = values[i];
      const double f_minus = objective();
      values[i] = original;
      store();
      if (opt.skip_nonsmooth) {
        const double second = std::fabs(f_plus - 2.0 * f0 + f_minus);
        const double first = std::fabs(f_plus - f0) + std::fabs(f0 - f_minus);
        if (second > 1e-2 * first + 1e-6 * (1.0 + std::fabs(f0))) continue;  // crossed a kink
      }
      checked.push_back(i);
      analytic.push_back(target.analytic[static_cast<size_t>(i)]);
      numeric.push_back((f_plus - f_minus) / (plus_at - minus_at));
      noise.push_back(opt.objective_ulps * std::ldexp(1.0, -23) *
                      std::max(std::fabs(f_plus), std::fabs(f_minus)) / (plus_at - minus_at));
    }
    if (static_cast<double>(checked.size()) <
        opt.min_checked_fraction * static_cast<double>(indices.size())) {
      ok = false;
      failures << "gradient of " << target.name << " " << tensor.shape() << ": only "
               << checked.size() << " of " << indices.size()
               << " sampled elements were away from kinks\n";
      continue;
    }
    ::testing::AssertionResult r =
        compare_gradients(target.name, tensor.shape(), checked, analytic, numeric, noise, opt);
    if (!r) {
      ok = false;
      failures << r.message() << "\n";
    }
  }
  if (ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << failures.str();
}

// Gradient check of a layer w.r.t. its input and every parameter (see the top).
inline ::testing::AssertionResult check_layer_gradients(nn::Layer& layer, const Tensor& input,
                                                        const GradCheckOptions& opt = {}) {
  Tensor x = input.clone();
  std::vector<nn::Parameter*> params = layer.parameters();
  for (nn::Parameter* p : params) p->grad.zero_();
  const Tensor y = layer.forward(x, nn::Mode::Train);
  const Shape out_shape = y.shape();
  const Tensor projection = Tensor::randn(out_shape, Device::cpu(), opt.projection_seed).to(y.device());
  const Tensor grad_input = layer.backward(projection);
  if (grad_input.shape() != x.shape())
    return ::testing::AssertionFailure() << layer.name() << ": backward returned "
                                         << grad_input.shape() << " for input " << x.shape();
  std::vector<GradTarget> targets;
  targets.push_back({"input of " + layer.name(), x, grad_input.to_vector<float>()});
  for (nn::Parameter* p : params)
    targets.push_back({p->name + " of " + layer.name(), p->value, p->grad.to_vector<float>()});
  auto objective = [&]() {
    const Tensor out = layer.forward(x, nn::Mode::Train);
    CONVNET_CHECK(out.shape() == out_shape, "gradcheck: output shape changed");
    return dot(out, projection);
  };
  return check_gradients(objective, std::move(targets), opt);
}

// Gradient check of scale * loss(prediction, target) w.r.t. the prediction.
inline ::testing::AssertionResult check_loss_gradients(nn::Loss& loss, const Tensor& prediction,
                                                       const Tensor& target, float scale = 1.f,
                                                       const GradCheckOptions& opt = {}) {
  Tensor x = prediction.clone();
  const Tensor value = loss.forward(x, target);
  if (value.numel() != 1)
    return ::testing::AssertionFailure() << loss.name() << ": forward returned " << value.str();
  const Tensor grad = loss.backward(scale);
  if (grad.shape() != x.shape())
    return ::testing::AssertionFailure() << loss.name() << ": backward returned " << grad.shape()
                                         << " for prediction " << x.shape();
  auto objective = [&]() {
    return static_cast<double>(scale) * static_cast<double>(loss.forward(x, target).item());
  };
  return check_gradients(objective, {{"prediction of " + loss.name(), x, grad.to_vector<float>()}},
                         opt);
}

// ---- inputs that keep away from kinks

// Moves every value at least `gap` away from 0 (ReLU, LeakyReLU): v -> v + sign(v) * gap.
inline Tensor away_from_zero(const Tensor& t, float gap) {
  Tensor out = t.clone();
  float* v = out.data<float>();
  for (int64_t i = 0; i < out.numel(); ++i) v[i] = v[i] >= 0.f ? v[i] + gap : v[i] - gap;
  return out;
}

// A random permutation of the distinct values (k - n/2) * spacing, k = 0..n-1:
// no two values within a max-pool window are closer than `spacing`.
inline Tensor distinct_values(const Shape& shape, uint64_t seed, float spacing) {
  const int64_t n = shape.numel();
  std::vector<float> values(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k)
    values[static_cast<size_t>(k)] = static_cast<float>(k - n / 2) * spacing;
  std::mt19937_64 rng(seed);
  std::shuffle(values.begin(), values.end(), rng);
  return Tensor::from_vector(values, shape);
}

// n labels in [0, classes), seeded.
inline Tensor random_labels(int64_t n, int classes, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> pick(0, classes - 1);
  std::vector<int32_t> labels(static_cast<size_t>(n));
  for (auto& l : labels) l = pick(rng);
  return Tensor::from_vector(labels, Shape{n});
}

}  // namespace convnet::test
