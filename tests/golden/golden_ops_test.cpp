// Golden files from PyTorch: every operation of the Backend interface, checked on
// every available backend against values PyTorch computed (tests/golden/ops/,
// written by tests/golden/generate_ops.py; CI needs no PyTorch to run this).
//
// The parity tests hold the GPU backends to the CPU one; these hold the CPU one
// (and the GPUs with it) to the library users compare us with. Each file is one
// case: named inputs, the expected outputs under their roles ("output",
// "grad_input", "argmax", ...) and metadata {"op", "params" (JSON), "seed",
// "torch_version"}. The test moves the inputs to the backend's device, poisons
// every output with NaN (or -777 for int32) so an unwritten element fails, calls
// the Backend method directly and compares:
// - float32: norm-wise relative error ||out - ref|| / ||ref|| <= 1e-5 over the
//   finite reference values; NaN and +-inf in the reference must be matched
//   exactly, position by position (max pooling propagates NaN);
// - int32 (argmax, counts): exactly equal.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "convnet/convnet.hpp"
#include "convnet/io/safetensors.hpp"

namespace convnet {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr double kRelativeTolerance = 1e-5;

fs::path golden_dir() { return fs::path(CONVNET_SOURCE_DIR) / "tests" / "golden" / "ops"; }

// Every *.safetensors file in the golden directory, sorted; empty when it is missing.
std::vector<std::string> golden_files() {
  std::vector<std::string> names;
  std::error_code error;
  if (!fs::is_directory(golden_dir(), error)) return names;
  for (const fs::directory_entry& entry : fs::directory_iterator(golden_dir(), error))
    if (entry.is_regular_file() && entry.path().extension() == ".safetensors")
      names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

Device device_of(Backend::Kind kind) {
  return backend_device(kind);
}

// One golden file, read once, and the backend it is being replayed on.
class GoldenCase {
 public:
  explicit GoldenCase(const std::string& name)
      : name_(name), file_(io::read_safetensors((golden_dir() / (name + ".safetensors")).string())) {
    op_ = metadata("op");
    params_ = Json::parse(metadata("params"));
  }

  const std::string& name() const { return name_; }
  const std::string& op() const { return op_; }
  const Json& params() const { return params_; }
  bool has(const std::string& role) const { return file_.find(role) != nullptr; }

  // The tensor stored under `role`, on the CPU. A missing role is a broken file.
  const Tensor& expected(const std::string& role) const {
    const Tensor* tensor = file_.find(role);
    CONVNET_CHECK(tensor != nullptr, "golden file ", name_, " has no tensor \"", role, "\"");
    return *tensor;
  }

  // An input for the backend: a fresh copy on its device (in-place updates such as
  // the optimizers' must never write into the file's tensors).
  Tensor input(const std::string& role, Device device) const {
    return expected(role).clone().to(device);
  }

  // An output buffer shaped like the expected tensor, NaN (f32) or -777 (i32) everywhere.
  Tensor poisoned(const std::string& role, Device device) const {
    const Tensor& ref = expected(role);
    return poisoned(ref.shape(), ref.dtype(), device);
  }
  static Tensor poisoned(const Shape& shape, DType dtype, Device device) {
    return Tensor::full(shape, dtype == DType::F32 ? std::numeric_limits<float>::quiet_NaN() : -777.f,
                        device, dtype);
  }

 private:
  std::string metadata(const std::string& key) const {
    const auto it = file_.metadata.find(key);
    CONVNET_CHECK(it != file_.metadata.end(), "golden file ", name_, " has no metadata \"", key, "\"");
    return it->second;
  }

  std::string name_, op_;
  io::SafetensorsFile file_;
  Json params_;
};

// Compares `actual` (any device) with the file's tensor under `role`.
void expect_matches(const GoldenCase& golden, const Tensor& actual, const std::string& role,
                    const std::string& backend, const std::string& what = "") {
  const Tensor& ref = golden.expected(role);
  const std::string label = golden.op() + " " + role + (what.empty() ? "" : " (" + what + ")") +
                            " on " + backend;
  ASSERT_EQ(actual.shape(), ref.shape()) << label;
  ASSERT_EQ(actual.dtype(), ref.dtype()) << label;
  if (ref.dtype() == DType::I32) {
    const std::vector<int32_t> out = actual.to_vector<int32_t>(), r = ref.to_vector<int32_t>();
    for (size_t i = 0; i < r.size(); ++i)
      ASSERT_EQ(out[i], r[i]) << label << ": element " << i << " differs (must match exactly)";
    return;
  }
  const std::vector<float> out = actual.to_vector<float>(), r = ref.to_vector<float>();
  double diff = 0, norm = 0, worst = -1;
  size_t worst_at = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    if (!std::isfinite(r[i])) {  // NaN where PyTorch has NaN, the same infinity where it has one
      const bool same = std::isnan(r[i]) ? std::isnan(out[i]) : out[i] == r[i];
      ASSERT_TRUE(same) << label << ": element " << i << " is " << out[i] << ", PyTorch has " << r[i];
      continue;
    }
    ASSERT_TRUE(std::isfinite(out[i])) << label << ": element " << i << " is " << out[i]
                                       << " (unwritten or overflowed), PyTorch has " << r[i];
    const double d = static_cast<double>(out[i]) - r[i];
    diff += d * d;
    norm += static_cast<double>(r[i]) * r[i];
    if (std::fabs(d) > worst) worst = std::fabs(d), worst_at = i;
  }
  const double relative = std::sqrt(diff) / std::max(std::sqrt(norm), 1e-30);
  EXPECT_LE(relative, kRelativeTolerance)
      << label << ": norm-wise relative error " << relative << "; worst element " << worst_at
      << ": " << out[worst_at] << " vs PyTorch " << r[worst_at];
}

// ---- one replay function per golden op: (file, backend, its device) -> expectations

using Replay = std::function<void(const GoldenCase&, Backend&, Device)>;

Conv2dParams conv_params(const Json& p) {
  Conv2dParams c;
  c.stride_h = p["stride"][0], c.stride_w = p["stride"][1];
  c.pad_h = p["padding"][0], c.pad_w = p["padding"][1];
  c.dilation_h = p["dilation"][0], c.dilation_w = p["dilation"][1];
  return c;
}

// forward, backward data, backward filter (overwrite and accumulate), bias gradient.
void replay_conv2d(const GoldenCase& g, Backend& be, Device dev) {
  const std::string name = backend_name(be.kind());
  const Conv2dParams p = conv_params(g.params());
  const bool bias = g.params()["bias"];
  Tensor x = g.input("input", dev), w = g.input("weight", dev), dy = g.input("grad_output", dev);
  Tensor b = bias ? g.input("bias", dev) : Tensor();

  Tensor y = g.poisoned("output", dev);
  be.conv2d_forward(x, w, bias ? &b : nullptr, p, y);
  expect_matches(g, y, "output", name);

  Tensor dx = g.poisoned("grad_input", dev);
  be.conv2d_backward_data(dy, w, p, dx);
  expect_matches(g, dx, "grad_input", name);

  Tensor dw = g.poisoned("grad_weight", dev);
  be.conv2d_backward_filter(x, dy, p, dw, /*accumulate=*/false);
  expect_matches(g, dw, "grad_weight", name);
  Tensor dw_sum = g.input("grad_weight_prior", dev);
  be.conv2d_backward_filter(x, dy, p, dw_sum, /*accumulate=*/true);
  expect_matches(g, dw_sum, "grad_weight_accumulated", name);

  if (bias) {
    Tensor db = g.poisoned("grad_bias", dev);
    be.bias_backward(dy, db, false);
    expect_matches(g, db, "grad_bias", name);
    Tensor db_sum = g.input("grad_bias_prior", dev);
    be.bias_backward(dy, db_sum, true);
    expect_matches(g, db_sum, "grad_bias_accumulated", name);
  }
}

void replay_bias_backward(const GoldenCase& g, Backend& be, Device dev) {
  const std::string name = backend_name(be.kind());
  Tensor dy = g.input("grad_output", dev);
  Tensor db = g.poisoned("grad_bias", dev);
  be.bias_backward(dy, db, false);
  expect_matches(g, db, "grad_bias", name);
  Tensor db_sum = g.input("grad_bias_prior", dev);
  be.bias_backward(dy, db_sum, true);
  expect_matches(g, db_sum, "grad_bias_accumulated", name);
}

PoolMode pool_mode(const std::string& mode) {
  if (mode == "max") return PoolMode::Max;
  if (mode == "avg_include_pad") return PoolMode::AvgIncludePad;
  CONVNET_CHECK(mode == "avg_exclude_pad", "golden pool2d: unknown mode \"", mode, "\"");
  return PoolMode::AvgExcludePad;
}

// forward (with argmax for max), backward from argmax and, for max, with the
// maximum found again from the input.
void replay_pool2d(const GoldenCase& g, Backend& be, Device dev) {
  const std::string name = backend_name(be.kind());
  const Json& j = g.params();
  Pool2dParams p;
  p.mode = pool_mode(j["mode"]);
  p.kernel_h = j["kernel"][0], p.kernel_w = j["kernel"][1];
  p.stride_h = j["stride"][0], p.stride_w = j["stride"][1];
  p.pad_h = j["padding"][0], p.pad_w = j["padding"][1];
  p.ceil_mode = j["ceil_mode"];
  const bool max = p.mode == PoolMode::Max;
  Tensor x = g.input("input", dev), dy = g.input("grad_output", dev);

  Tensor y = g.poisoned("output", dev);
  Tensor argmax = max ? g.poisoned("argmax", dev) : Tensor();
  be.pool2d_forward(x, p, y, max ? &argmax : nullptr);
  expect_matches(g, y, "output", name);
  if (max) expect_matches(g, argmax, "argmax", name);

  Tensor dx = g.poisoned("grad_input", dev);
  be.pool2d_backward(x, dy, max ? &argmax : nullptr, p, dx);
  expect_matches(g, dx, "grad_input", name, max ? "from argmax" : "");
  if (max) {
    Tensor dx_again = g.poisoned("grad_input", dev);
    be.pool2d_backward(x, dy, nullptr, p, dx_again);
    expect_matches(g, dx_again, "grad_input", name, "maximum found again");
  }
}

// Adaptive average pooling: forward, then backward (grad_input is overwritten).
void replay_adaptive_avg_pool2d(const GoldenCase& g, Backend& be, Device dev) {
  const std::string name = backend_name(be.kind());
  Tensor x = g.input("input", dev), dy = g.input("grad_output", dev);
  Tensor y = g.poisoned("output", dev);
  be.adaptive_avg_pool2d_forward(x, y);
  expect_matches(g, y, "output", name);
  Tensor dx = g.poisoned("grad_input", dev);
  be.adaptive_avg_pool2d_backward(dy, dx);
  expect_matches(g, dx, "grad_input", name);
}

// Batch normalization, training forward: output, the saved batch statistics
// (mean, invstd = 1/sqrt(biased var + eps)) and, when the file has them, the
// running statistics updated in place from the file's priors.
void replay_batch_norm_train(const GoldenCase& g, Backend& be, Device dev) {
  const std::string name = backend_name(be.kind());
  const Json& j = g.params();
  const bool affine = j["affine"], stats = j["running_stats"], relu = j["relu"];
  const float momentum = j["momentum"].get<float>(), eps = j["eps"].get<float>();
  Tensor x = g.input("input", dev);
  Tensor w = affine ? g.input("weight", dev) : Tensor(), b = affine ? g.input("bias", dev) : Tensor();
  Tensor rm = stats ? g.input("running_mean_prior", dev) : Tensor();
  Tensor rv = stats ? g.input("running_var_prior", dev) : Tensor();
  Tensor y = g.poisoned("output", dev), mean = g.poisoned("save_mean", dev),
         invstd = g.poisoned("save_invstd", dev);
  be.batch_norm_forward_train(x, affine ? &w : nullptr, affine ? &b : nullptr, stats ? &rm : nullptr,
                              stats ? &rv : nullptr, momentum, eps, relu, y, mean, invstd);
  expect_matches(g, y, "output", name);
  expect_matches(g, mean, "save_mean", name);
  expect_matches(g, invstd, "save_invstd", name);
  if (stats) {
    expect_matches(g, rm, "running_mean", name);
    expect_matches(g, rv, "running_var", name);
  }
}

void replay_batch_norm_inference(const GoldenCase& g, Backend& be, Device dev) {
  const std::string name = backend_name(be.kind());
  const Json& j = g.params();
  const bool affine = j["affine"], relu = j["relu"];
  const float eps = j["eps"].get<float>();
  Tensor x = g.input("input", dev), mean = g.input("mean", dev), var = g.input("var", dev);
  Tensor w = affine ? g.input("weight", dev) : Tensor(), b = affine ? g.input("bias", dev) : Tensor();
  Tensor y = g.poisoned("output", dev);
  be.batch_norm_forward_inference(x, affine ? &w : nullptr, affine ? &b : nullptr, mean, var, eps,
                                  relu, y);
  expect_matches(g, y, "output", name);
}

// Backward through the batch statistics, from the file's save_mean/save_invstd;
// grad_weight and grad_bias overwritten, then accumulated into the priors.
void replay_batch_norm_backward(const GoldenCase& g, Backend& be, Device dev) {
  const std::string name = backend_name(be.kind());
  const bool affine = g.params()["affine"];
  Tensor x = g.input("input", dev), dy = g.input("grad_output", dev);
  Tensor mean = g.input("save_mean", dev), invstd = g.input("save_invstd", dev);
  Tensor w = affine ? g.input("weight", dev) : Tensor();
  Tensor dx = g.poisoned("grad_input", dev);
  Tensor dw = affine ? g.poisoned("grad_weight", dev) : Tensor();
  Tensor db = affine ? g.poisoned("grad_bias", dev) : Tensor();
  be.batch_norm_backward(x, dy, affine ? &w : nullptr, mean, invstd, dx, affine ? &dw : nullptr,
                         affine ? &db : nullptr, /*accumulate=*/false);
  expect_matches(g, dx, "grad_input", name);
  if (!affine) return;
  expect_matches(g, dw, "grad_weight", name);
  expect_matches(g, db, "grad_bias", name);
  Tensor dx_again = g.poisoned("grad_input", dev);
  Tensor dw_sum = g.input("grad_weight_prior", dev), db_sum = g.input("grad_bias_prior", dev);
  be.batch_norm_backward(x, dy, &w, mean, invstd, dx_again, &dw_sum, &db_sum, /*accumulate=*/true);
  expect_matches(g, dx_again, "grad_input", name, "accumulate = true: overwritten");
  expect_matches(g, dw_sum, "grad_weight_accumulated", name);
  expect_matches(g, db_sum, "grad_bias_accumulated", name);
}

Activation activation_of(const std::string& a) {
  if (a == "relu") return Activation::ReLU;
  if (a == "leaky_relu") return Activation::LeakyReLU;
  if (a == "sigmoid") return Activation::Sigmoid;
  CONVNET_CHECK(a == "tanh", "golden activation: unknown activation \"", a, "\"");
  return Activation::Tanh;
}

void replay_activation(const GoldenCase& g, Backend& be, Device dev) {
  const std::string name = backend_name(be.kind());
  const Activation a = activation_of(g.params()["activation"]);
  const float alpha = g.params()["alpha"].get<float>();
  Tensor x = g.input("input", dev), dy = g.input("grad_output", dev);
  Tensor y = g.poisoned("output", dev), dx = g.poisoned("grad_input", dev);
  be.activation_forward(a, alpha, x, y);
  expect_matches(g, y, "output", name);
  be.activation_backward(a, alpha, x, y, dy, dx);
  expect_matches(g, dx, "grad_input", name);
}

void replay_softmax(const GoldenCase& g, Backend& be, Device dev, bool log) {
  const std::string name = backend_name(be.kind());
  Tensor x = g.input("input", dev), dy = g.input("grad_output", dev);
  Tensor y = g.poisoned("output", dev), dx = g.poisoned("grad_input", dev);
  be.softmax_forward(x, y, log);
  expect_matches(g, y, "output", name);
  be.softmax_backward(y, dy, dx, log);
  expect_matches(g, dx, "grad_input", name);
}

void replay_linear(const GoldenCase& g, Backend& be, Device dev) {
  const std::string name = backend_name(be.kind());
  const bool bias = g.params()["bias"];
  Tensor x = g.input("input", dev), w = g.input("weight", dev), dy = g.input("grad_output", dev);
  Tensor b = bias ? g.input("bias", dev) : Tensor();

  Tensor y = g.poisoned("output", dev);
  be.linear_forward(x, w, bias ? &b : nullptr, y);
  expect_matches(g, y, "output", name);
  Tensor dx = g.poisoned("grad_input", dev);
  be.linear_backward_data(dy, w, dx);
  expect_matches(g, dx, "grad_input", name);
  Tensor dw = g.poisoned("grad_weight", dev);
  be.linear_backward_weight(x, dy, dw, false);
  expect_matches(g, dw, "grad_weight", name);
  Tensor dw_sum = g.input("grad_weight_prior", dev);
  be.linear_backward_weight(x, dy, dw_sum, true);
  expect_matches(g, dw_sum, "grad_weight_accumulated", name);
  if (bias) {
    Tensor db = g.poisoned("grad_bias", dev);
    be.bias_backward(dy, db, false);
    expect_matches(g, db, "grad_bias", name);
    Tensor db_sum = g.input("grad_bias_prior", dev);
    be.bias_backward(dy, db_sum, true);
    expect_matches(g, db_sum, "grad_bias_accumulated", name);
  }
}

// Losses: the file's gradient is d(scale * loss)/d(input).
void replay_softmax_cross_entropy(const GoldenCase& g, Backend& be, Device dev) {
  const std::string name = backend_name(be.kind());
  const float scale = g.params()["scale"].get<float>();
  const float smoothing = g.params().value("label_smoothing", 0.f);
  Tensor logits = g.input("logits", dev), labels = g.input("labels", dev);
  Tensor loss = g.poisoned("loss", dev), probs = g.poisoned("probs", dev);
  be.softmax_cross_entropy_forward(logits, labels, smoothing, loss, probs);
  expect_matches(g, loss, "loss", name);
  expect_matches(g, probs, "probs", name);
  Tensor dx = g.poisoned("grad_logits", dev);
  be.softmax_cross_entropy_backward(probs, labels, smoothing, scale, dx);
  expect_matches(g, dx, "grad_logits", name);
}

void replay_mse(const GoldenCase& g, Backend& be, Device dev) {
  const std::string name = backend_name(be.kind());
  const float scale = g.params()["scale"].get<float>();
  Tensor prediction = g.input("prediction", dev), target = g.input("target", dev);
  Tensor loss = g.poisoned("loss", dev), dp = g.poisoned("grad_prediction", dev);
  be.mse_forward(prediction, target, loss);
  expect_matches(g, loss, "loss", name);
  be.mse_backward(prediction, target, scale, dp);
  expect_matches(g, dp, "grad_prediction", name);
}

void replay_bce_with_logits(const GoldenCase& g, Backend& be, Device dev) {
  const std::string name = backend_name(be.kind());
  const float scale = g.params()["scale"].get<float>();
  Tensor logits = g.input("logits", dev), target = g.input("target", dev);
  Tensor loss = g.poisoned("loss", dev), dx = g.poisoned("grad_logits", dev);
  be.bce_with_logits_forward(logits, target, loss);
  expect_matches(g, loss, "loss", name);
  be.bce_with_logits_backward(logits, target, scale, dx);
  expect_matches(g, dx, "grad_logits", name);
}

void replay_hinge(const GoldenCase& g, Backend& be, Device dev) {
  const std::string name = backend_name(be.kind());
  const float margin = g.params()["margin"].get<float>();
  const float scale = g.params()["scale"].get<float>();
  Tensor scores = g.input("scores", dev), target = g.input("target", dev);
  Tensor loss = g.poisoned("loss", dev), ds = g.poisoned("grad_scores", dev);
  be.hinge_forward(scores, target, margin, loss);
  expect_matches(g, loss, "loss", name);
  be.hinge_backward(scores, target, margin, scale, ds);
  expect_matches(g, ds, "grad_scores", name);
}

void replay_dropout(const GoldenCase& g, Backend& be, Device dev) {
  const std::string name = backend_name(be.kind());
  const float p = g.params()["p"].get<float>();
  const uint64_t seed = g.params()["philox_seed"], offset = g.params()["philox_offset"];
  Tensor x = g.input("input", dev), dy = g.input("grad_output", dev);
  Tensor y = g.poisoned("output", dev), mask = g.poisoned("mask", dev);
  be.dropout_forward(x, p, seed, offset, y, mask);
  expect_matches(g, mask, "mask", name);
  expect_matches(g, y, "output", name);
  Tensor dx = g.poisoned("grad_input", dev);
  be.dropout_backward(dy, mask, dx);
  expect_matches(g, dx, "grad_input", name);
}

void replay_fill(const GoldenCase& g, Backend& be, Device dev) {
  Tensor out = g.poisoned("output", dev);
  be.fill(out, g.params()["value"].get<float>());
  expect_matches(g, out, "output", backend_name(be.kind()));
}

// add and scale also run in place (outputs may alias inputs).
void replay_add(const GoldenCase& g, Backend& be, Device dev) {
  const std::string name = backend_name(be.kind());
  Tensor a = g.input("a", dev), b = g.input("b", dev), out = g.poisoned("output", dev);
  be.add(a, b, out);
  expect_matches(g, out, "output", name);
  be.add(a, b, a);
  expect_matches(g, a, "output", name, "in place");
}

void replay_scale(const GoldenCase& g, Backend& be, Device dev) {
  const std::string name = backend_name(be.kind());
  const float alpha = g.params()["alpha"].get<float>();
  Tensor x = g.input("input", dev), out = g.poisoned("output", dev);
  be.scale(x, alpha, out);
  expect_matches(g, out, "output", name);
  be.scale(x, alpha, x);
  expect_matches(g, x, "output", name, "in place");
}

void replay_count_correct(const GoldenCase& g, Backend& be, Device dev) {
  const std::string name = backend_name(be.kind());
  Tensor logits = g.input("logits", dev), labels = g.input("labels", dev);
  Tensor correct = g.poisoned("correct", dev);
  be.count_correct(logits, labels, correct, false);
  expect_matches(g, correct, "correct", name);
  Tensor total = g.input("correct_prior", dev);
  be.count_correct(logits, labels, total, true);
  expect_matches(g, total, "correct_accumulated", name);
}

// The number of optimizer steps a file holds: param_1, param_2, ...
int steps_in(const GoldenCase& g) {
  int steps = 0;
  while (g.has("param_" + std::to_string(steps + 1))) ++steps;
  CONVNET_CHECK(steps > 0, "golden file ", g.name(), " holds no optimizer step");
  return steps;
}

Tensor schedule(const Json& params, int step, Device dev) {
  const float lr = params["lr"][step - 1].get<float>();
  return Tensor::from_vector(std::vector<float>{lr, static_cast<float>(step)}, {2}, dev);
}

// Steps from param_0 with the file's grads; after each step the parameter and
// the state must match PyTorch's. The momentum buffer starts as NaN: SGD's first
// step must overwrite it (torch creates it from the first gradient).
void replay_sgd(const GoldenCase& g, Backend& be, Device dev) {
  const std::string name = backend_name(be.kind());
  const Json& j = g.params();
  SgdParams p;
  p.momentum = j["momentum"].get<float>();
  p.dampening = j["dampening"].get<float>();
  p.weight_decay = j["weight_decay"].get<float>();
  p.nesterov = j["nesterov"];
  Tensor param = g.input("param_0", dev);
  Tensor buffer = GoldenCase::poisoned(param.shape(), DType::F32, dev);
  for (int step = 1, steps = steps_in(g); step <= steps; ++step) {
    const std::string k = std::to_string(step);
    be.sgd_update(param, g.input("grad_" + k, dev), p.momentum != 0.f ? &buffer : nullptr, p,
                  schedule(j, step, dev));
    expect_matches(g, param, "param_" + k, name);
    if (p.momentum != 0.f) expect_matches(g, buffer, "momentum_buffer_" + k, name);
  }
}

void replay_adam(const GoldenCase& g, Backend& be, Device dev) {
  const std::string name = backend_name(be.kind());
  const Json& j = g.params();
  AdamParams p;
  p.beta1 = j["beta1"].get<float>();
  p.beta2 = j["beta2"].get<float>();
  p.eps = j["eps"].get<float>();
  p.weight_decay = j["weight_decay"].get<float>();
  p.decoupled_weight_decay = j["decoupled_weight_decay"];
  Tensor param = g.input("param_0", dev);
  Tensor exp_avg = Tensor::zeros(param.shape(), dev), exp_avg_sq = Tensor::zeros(param.shape(), dev);
  for (int step = 1, steps = steps_in(g); step <= steps; ++step) {
    const std::string k = std::to_string(step);
    be.adam_update(param, g.input("grad_" + k, dev), exp_avg, exp_avg_sq, p, schedule(j, step, dev));
    expect_matches(g, param, "param_" + k, name);
    expect_matches(g, exp_avg, "exp_avg_" + k, name);
    expect_matches(g, exp_avg_sq, "exp_avg_sq_" + k, name);
  }
}

// Every golden op and the Backend methods it exercises.
const std::map<std::string, Replay>& replays() {
  static const std::map<std::string, Replay> table = {
      {"conv2d", replay_conv2d},  // conv2d_forward/backward_data/backward_filter, bias_backward
      {"bias_backward", replay_bias_backward},
      {"pool2d", replay_pool2d},  // pool2d_forward, pool2d_backward
      {"adaptive_avg_pool2d", replay_adaptive_avg_pool2d},  // adaptive_avg_pool2d_forward/backward
      {"batch_norm_train", replay_batch_norm_train},          // batch_norm_forward_train
      {"batch_norm_inference", replay_batch_norm_inference},  // batch_norm_forward_inference
      {"batch_norm_backward", replay_batch_norm_backward},
      {"activation", replay_activation},  // activation_forward, activation_backward
      {"softmax", [](const GoldenCase& g, Backend& be, Device d) { replay_softmax(g, be, d, false); }},
      {"log_softmax", [](const GoldenCase& g, Backend& be, Device d) { replay_softmax(g, be, d, true); }},
      {"linear", replay_linear},  // linear_forward/backward_data/backward_weight, bias_backward
      {"softmax_cross_entropy", replay_softmax_cross_entropy},
      {"mse", replay_mse},
      {"bce_with_logits", replay_bce_with_logits},
      {"hinge", replay_hinge},
      {"dropout", replay_dropout},
      {"fill", replay_fill},
      {"add", replay_add},
      {"scale", replay_scale},
      {"count_correct", replay_count_correct},
      {"sgd", replay_sgd},
      {"adam", replay_adam},
  };
  return table;
}

class GoldenOps : public testing::TestWithParam<std::string> {};

TEST_P(GoldenOps, MatchesPyTorch) {
  const GoldenCase golden(GetParam());
  const auto replay = replays().find(golden.op());
  ASSERT_NE(replay, replays().end()) << GetParam() << ": no replay for op \"" << golden.op() << "\"";
  for (Backend::Kind kind : available_backends()) {
    SCOPED_TRACE(std::string("backend ") + backend_name(kind) + ", file " + GetParam());
    replay->second(golden, get_backend(kind), device_of(kind));
  }
}

INSTANTIATE_TEST_SUITE_P(Files, GoldenOps, testing::ValuesIn(golden_files()),
                         [](const testing::TestParamInfo<std::string>& info) { return info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(GoldenOps);  // the test below reports a missing directory

// The golden directory must exist and hold a file for every op above, and every
// file's op must be one the test knows: a missing or partial directory fails.
TEST(GoldenOpsDirectory, CoversEveryOperation) {
  ASSERT_TRUE(fs::is_directory(golden_dir()))
      << golden_dir() << " is missing: regenerate it with tests/golden/generate_ops.py";
  const std::vector<std::string> files = golden_files();
  ASSERT_FALSE(files.empty()) << golden_dir() << " holds no .safetensors file";
  std::set<std::string> seen;
  for (const std::string& name : files) {
    const std::string op = name.substr(0, name.find("__"));
    EXPECT_TRUE(replays().count(op)) << name << ": file name names unknown op \"" << op << "\"";
    seen.insert(op);
  }
  for (const auto& entry : replays())
    EXPECT_TRUE(seen.count(entry.first)) << "no golden file for op \"" << entry.first << "\"";
}

}  // namespace
}  // namespace convnet
