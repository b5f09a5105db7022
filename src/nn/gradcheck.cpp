// nn::gradcheck: finite differences against a layer's backward (method and
// tolerances in include/convnet/nn/gradcheck.hpp; tests/support/gradcheck.hpp
// is the test suite's version of the same method, with gtest assertions).
#include "convnet/nn/gradcheck.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <random>
#include <sstream>
#include <utility>

namespace convnet::nn {
namespace {

double dot(const Tensor& a, const std::vector<float>& b) {
  const std::vector<float> va = a.to_vector<float>();
  double sum = 0.0;
  for (size_t i = 0; i < va.size() && i < b.size(); ++i)
    sum += static_cast<double>(va[i]) * static_cast<double>(b[i]);
  return sum;
}

// Which elements of an n-element tensor to check: all, or a seeded sample, in order.
std::vector<int64_t> sample_indices(int64_t n, int max_elements, uint64_t seed) {
  std::vector<int64_t> all(static_cast<size_t>(n));
  std::iota(all.begin(), all.end(), int64_t{0});
  if (max_elements < 0 || n <= max_elements) return all;
  std::mt19937_64 rng(seed);
  for (int i = 0; i < max_elements; ++i) {  // partial Fisher-Yates
    std::uniform_int_distribution<int64_t> pick(i, n - 1);
    std::swap(all[static_cast<size_t>(i)], all[static_cast<size_t>(pick(rng))]);
  }
  all.resize(static_cast<size_t>(max_elements));
  std::sort(all.begin(), all.end());
  return all;
}

// Puts the layer's parameter gradients back as they were, however the check ends.
class GradientsRestorer {
 public:
  explicit GradientsRestorer(const std::vector<Parameter*>& params) : params_(params) {
    for (Parameter* p : params_) saved_.push_back(p->grad.clone());
  }
  ~GradientsRestorer() {
    for (size_t i = 0; i < params_.size(); ++i) params_[i]->grad.copy_from(saved_[i]);
  }
  GradientsRestorer(const GradientsRestorer&) = delete;
  GradientsRestorer& operator=(const GradientsRestorer&) = delete;

 private:
  std::vector<Parameter*> params_;
  std::vector<Tensor> saved_;
};

// A tensor whose elements are perturbed in place (through a host copy for a
// device tensor, written back whole), and always restored exactly.
class Perturbed {
 public:
  explicit Perturbed(Tensor tensor) : tensor_(std::move(tensor)), on_host_(tensor_.device().is_cpu()) {
    if (!on_host_) host_ = tensor_.to_vector<float>();
  }
  float get(int64_t i) const { return on_host_ ? tensor_.data<float>()[i] : host_[static_cast<size_t>(i)]; }
  void set(int64_t i, float v) {
    if (on_host_) {
      tensor_.data<float>()[i] = v;
    } else {
      host_[static_cast<size_t>(i)] = v;
      tensor_.copy_from(Tensor::from_vector(host_, tensor_.shape()));
    }
  }

 private:
  Tensor tensor_;
  bool on_host_;
  std::vector<float> host_;
};

struct Target {
  std::string name;
  Tensor tensor;                // perturbed in place: the objective reads it
  std::vector<float> analytic;  // dL/dtensor
};

GradcheckTensor check_target(Target& target, const std::function<double()>& objective, double f0,
                             const GradcheckOptions& o, uint64_t sample_seed) {
  GradcheckTensor r;
  r.name = target.name;
  r.shape = target.tensor.shape();
  Perturbed values(target.tensor);
  std::vector<int64_t> indices;
  std::vector<double> analytic, numeric, noise;
  const std::vector<int64_t> sample = sample_indices(target.tensor.numel(), o.max_elements, sample_seed);
  for (int64_t i : sample) {
    const float original = values.get(i);
    values.set(i, original + o.eps);
    const double plus_at = values.get(i);
    double f_plus = 0, f_minus = 0;
    try {
      f_plus = objective();
      values.set(i, original - o.eps);
      f_minus = objective();
    } catch (...) {
      values.set(i, original);
      throw;
    }
    const double minus_at = values.get(i);
    values.set(i, original);
    if (o.skip_nonsmooth) {
      const double second = std::fabs(f_plus - 2.0 * f0 + f_minus);
      const double first = std::fabs(f_plus - f0) + std::fabs(f0 - f_minus);
      if (second > 1e-2 * first + 1e-6 * (1.0 + std::fabs(f0))) {  // crossed a kink
        ++r.skipped;
        continue;
      }
    }
    indices.push_back(i);
    analytic.push_back(target.analytic[static_cast<size_t>(i)]);
    numeric.push_back((f_plus - f_minus) / (plus_at - minus_at));
    noise.push_back(o.objective_ulps * std::ldexp(1.0, -23) *
                    std::max(std::fabs(f_plus), std::fabs(f_minus)) / (plus_at - minus_at));
  }
  r.checked = static_cast<int64_t>(indices.size());
  if (static_cast<double>(r.checked) < o.min_checked_fraction * static_cast<double>(sample.size()) &&
      o.skip_nonsmooth) {
    r.passed = false;
    std::ostringstream os;
    os << "only " << r.checked << " of " << sample.size()
       << " sampled elements were away from kinks; move the input away from them";
    r.problem = os.str();
  }
  double max_numeric = 0, diff2 = 0, num2 = 0;
  for (size_t k = 0; k < numeric.size(); ++k) {
    max_numeric = std::max(max_numeric, std::fabs(numeric[k]));
    const double d = analytic[k] - numeric[k];
    diff2 += d * d;
    num2 += numeric[k] * numeric[k];
    r.max_abs_error = std::max(r.max_abs_error, std::isfinite(d) ? std::fabs(d) : HUGE_VAL);
  }
  r.norm_error = std::sqrt(diff2) / std::max(std::sqrt(num2), 1e-6);
  if (!(r.norm_error < o.norm_tol)) r.passed = false;  // also NaN
  const double atol = o.atol * max_numeric + 1e-6;
  double worst_excess = 0;
  for (size_t k = 0; k < numeric.size(); ++k) {
    const double err = std::fabs(analytic[k] - numeric[k]);
    const double bound = atol + o.rtol * std::fabs(numeric[k]) + noise[k];
    if (!(err <= bound)) r.passed = false;
    const double excess = std::isfinite(err) ? err - bound : HUGE_VAL;
    if (k == 0 || excess > worst_excess) {
      worst_excess = excess;
      r.worst_index = indices[k];
      r.worst_analytic = analytic[k];
      r.worst_numerical = numeric[k];
      r.worst_bound = bound;
    }
  }
  return r;
}

}  // namespace

GradcheckResult gradcheck(Layer& layer, const Tensor& input, const GradcheckOptions& o) {
  CONVNET_CHECK(input.defined() && input.dtype() == DType::F32, "gradcheck(", layer.name(),
                "): the input must be a defined f32 tensor, got ",
                input.defined() ? input.str() : std::string("undefined"));
  CONVNET_CHECK(o.eps > 0.f && std::isfinite(o.eps), "gradcheck(", layer.name(), "): eps ", o.eps,
                " must be positive");
  GradcheckResult result;
  result.layer = layer.name();
  const std::vector<Parameter*> params = layer.parameters();
  const GradientsRestorer restore(params);
  for (Parameter* p : params) p->grad.zero_();

  Tensor x = input.clone();  // perturbed in place; the caller's tensor stays as it was
  const Tensor y = layer.forward(x, Mode::Train);
  const Shape out_shape = y.shape();
  const std::vector<float> upstream = Tensor::randn(out_shape, Device::cpu(), o.seed).to_vector<float>();
  const Tensor grad_input = layer.backward(Tensor::from_vector(upstream, out_shape).to(y.device()));
  CONVNET_CHECK(grad_input.defined() && grad_input.shape() == x.shape(), "gradcheck(", layer.name(),
                "): backward returned ", grad_input.defined() ? grad_input.shape().str() : "undefined",
                " for the input ", x.shape());

  std::vector<Target> targets;
  targets.push_back({"input", x, grad_input.to_vector<float>()});
  for (Parameter* p : params)
    if (p->value.dtype() == DType::F32)  // an integer tensor (a counter) has no gradient
      targets.push_back({p->name, p->value, p->grad.to_vector<float>()});

  const std::function<double()> objective = [&] {
    const Tensor out = layer.forward(x, Mode::Train);
    CONVNET_CHECK(out.shape() == out_shape, "gradcheck(", layer.name(), "): the output shape changed from ",
                  out_shape, " to ", out.shape(), " between two forwards");
    return dot(out, upstream);
  };
  const double f0 = o.skip_nonsmooth ? objective() : 0.0;
  for (size_t t = 0; t < targets.size(); ++t) {
    result.tensors.push_back(check_target(targets[t], objective, f0, o, o.seed + 7919 * (t + 1)));
    if (!result.tensors.back().passed) result.passed = false;
  }
  layer.forward(x, Mode::Train);  // leave what a forward at the input keeps, not a perturbed one
  return result;
}

std::string GradcheckResult::str() const {
  std::ostringstream os;
  os << "gradcheck(" << layer << "): " << (passed ? "passed" : "FAILED") << "\n";
  for (const GradcheckTensor& t : tensors) {
    os << "  " << t.name << " " << t.shape << ": " << (t.passed ? "ok" : "FAILED") << ", max |error| "
       << t.max_abs_error << ", norm-wise " << t.norm_error << " over " << t.checked << " elements";
    if (t.skipped > 0) os << " (" << t.skipped << " at kinks skipped)";
    if (!t.passed && t.worst_index >= 0)
      os << "; worst element, flat index " << t.worst_index << ": analytic " << t.worst_analytic
         << ", numerical " << t.worst_numerical << ", bound " << t.worst_bound;
    if (!t.problem.empty()) os << "; " << t.problem;
    os << "\n";
  }
  return os.str();
}

}  // namespace convnet::nn
