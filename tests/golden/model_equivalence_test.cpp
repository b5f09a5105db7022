// Whole-model equivalence with PyTorch: the MNIST CNN of examples/mnist_cnn,
// started from PyTorch's initial weights, must give PyTorch's logits, loss and
// parameter gradients, and after three SGD steps and (from the same start)
// three Adam steps, PyTorch's weights. The expected values are golden files
// written by tests/golden/generate_model.py (see tests/golden/README.md); this
// test needs no PyTorch.
//
// Unlike the per-operation goldens, this holds the pieces together: parameter
// names and layouts (a strict load of a PyTorch state dict), Flatten's order
// feeding the linear layer, the loss reduction, gradient accumulation across
// layers, and the optimizers' update rules over several steps (momentum buffer
// creation, Nesterov, weight decay, Adam's bias correction).
//
// Tolerance: norm-wise relative error ||actual - expected|| / ||expected|| below
// 1e-5 for plain float32 arithmetic (logits, loss, gradients, final weights). A
// backend that uses TF32 tensor cores must state its looser bound in
// tolerance_for(). The change of the weights over three steps (final - initial)
// is checked too, within 1e-4: it is 10-100 times smaller than the weights, so
// the rounding of the weights alone weighs more in it (CPU today: 6e-6 for Adam,
// PyTorch's own float32 run 4e-6).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "convnet/convnet.hpp"
#include "convnet/io/safetensors.hpp"

namespace convnet {
namespace {

const std::string kGoldenDir = std::string(CONVNET_SOURCE_DIR) + "/tests/golden/model/";

struct Golden {
  io::SafetensorsFile initial, forward_backward, sgd, adam;
  nlohmann::json config;  // torch_version, seed, batch, sgd and adam hyperparameters, steps

  const Tensor& get(const io::SafetensorsFile& file, const std::string& name) const {
    const Tensor* t = file.find(name);
    if (!t) throw Error("model golden files: tensor '" + name + "' is missing; regenerate with "
                        "tests/golden/generate_model.py");
    return *t;
  }
};

const Golden& golden() {
  static const Golden g = [] {
    Golden g;
    g.initial = io::read_safetensors(kGoldenDir + "initial.safetensors");
    g.forward_backward = io::read_safetensors(kGoldenDir + "forward_backward.safetensors");
    g.sgd = io::read_safetensors(kGoldenDir + "sgd.safetensors");
    g.adam = io::read_safetensors(kGoldenDir + "adam.safetensors");
    g.config = nlohmann::json::parse(g.forward_backward.metadata.at("config"));
    return g;
  }();
  return g;
}

// The network of examples/mnist_cnn.cpp, in PyTorch's nn.Sequential order, on
// `kind`'s device, holding PyTorch's initial weights (a strict load).
void build_model(nn::Sequential& net, Backend::Kind kind) {
  net.add<nn::Conv2d>(nn::Conv2dOptions(1, 32, 5).padding(2)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
      .add<nn::Conv2d>(nn::Conv2dOptions(32, 64, 5).padding(2)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
      .add<nn::Flatten>().add<nn::Linear>(64 * 7 * 7, 10);
  net.to(backend_device(kind));
  net.set_backend(kind);
  io::load_safetensors(net, kGoldenDir + "initial.safetensors");
}

double tolerance_for(Backend::Kind) { return 1e-5; }  // every backend computes in plain float32
constexpr double kUpdateTolerance = 1e-4;             // for final - initial weights, see above

// ||actual - expected|| / ||expected||, accumulated in double.
struct Comparison {
  double relative = 0;
  int64_t worst_at = 0;
  float worst_actual = 0, worst_expected = 0;
};

Comparison compare(const Tensor& actual, const Tensor& expected) {
  const std::vector<float> a = actual.to_vector<float>(), e = expected.to_vector<float>();
  Comparison c;
  double diff = 0, norm = 0, worst = -1;
  for (size_t i = 0; i < e.size(); ++i) {
    const double d = static_cast<double>(a[i]) - e[i];
    diff += d * d;
    norm += static_cast<double>(e[i]) * e[i];
    if (std::fabs(d) > worst || std::isnan(d)) {
      worst = std::isnan(d) ? INFINITY : std::fabs(d);
      c.worst_at = static_cast<int64_t>(i), c.worst_actual = a[i], c.worst_expected = e[i];
    }
  }
  c.relative = std::sqrt(diff) / std::max(std::sqrt(norm), 1e-30);
  if (std::isnan(c.relative)) c.relative = INFINITY;
  return c;
}

// Checks one tensor and keeps the largest error per group for the summary line.
class Checker {
 public:
  explicit Checker(double tolerance) : tolerance_(tolerance) {}

  void expect(const std::string& group, const std::string& what, const Tensor& actual,
              const Tensor& expected, double tolerance = 0) {
    ASSERT_EQ(actual.shape(), expected.shape()) << what;
    const Comparison c = compare(actual, expected);
    EXPECT_LE(c.relative, tolerance > 0 ? tolerance : tolerance_)
        << what << ": norm-wise relative error " << c.relative << " against PyTorch; worst element "
        << c.worst_at << ": " << c.worst_actual << " vs " << c.worst_expected;
    auto it = std::find_if(worst_.begin(), worst_.end(), [&](const Worst& w) { return w.group == group; });
    if (it == worst_.end()) worst_.push_back({group, what, c.relative});
    else if (c.relative > it->relative) *it = {group, what, c.relative};
  }

  // "logits 1.2e-07 | loss 3.1e-08 | gradients 2.0e-06 (grad.3.weight)"
  std::string summary() const {
    std::ostringstream os;
    os.precision(2);
    for (size_t i = 0; i < worst_.size(); ++i)
      os << (i ? " | " : "") << worst_[i].group << " " << std::scientific << worst_[i].relative
         << (worst_[i].what != worst_[i].group ? " (" + worst_[i].what + ")" : "");
    return os.str();
  }

 private:
  struct Worst {
    std::string group, what;
    double relative;
  };
  double tolerance_;
  std::vector<Worst> worst_;
};

// The parameter's final value, and its change from the start: the change is the
// sharper check, since three steps move the weights by a few percent at most.
void expect_weights(Checker& check, const std::string& optimizer, nn::Sequential& net,
                    const io::SafetensorsFile& expected, const io::SafetensorsFile& initial) {
  ASSERT_EQ(expected.tensors.size(), net.parameters().size());
  for (nn::Parameter* p : net.parameters()) {
    const Tensor& want = golden().get(expected, p->name);
    const Tensor& start = golden().get(initial, p->name);
    const Tensor got = p->value.to(Device::cpu());
    check.expect(optimizer + " weights", p->name, got, want);
    std::vector<float> got_change = got.to_vector<float>(), want_change = want.to_vector<float>();
    const std::vector<float> s = start.to_vector<float>();
    for (size_t i = 0; i < s.size(); ++i) got_change[i] -= s[i], want_change[i] -= s[i];
    check.expect(optimizer + " updates", p->name + " - initial",
                 Tensor::from_vector(got_change, got.shape()),
                 Tensor::from_vector(want_change, want.shape()), kUpdateTolerance);
  }
}

class PyTorchModelEquivalence : public testing::TestWithParam<Backend::Kind> {
 protected:
  void SetUp() override {
    kind_ = GetParam();
    if (!backend_available(kind_))
      GTEST_SKIP() << "backend " << backend_name(kind_) << " unavailable: "
                   << backend_unavailable_reason(kind_);
    device_ = backend_device(kind_);
    input_ = golden().get(golden().forward_backward, "input").to(device_);
    labels_ = golden().get(golden().forward_backward, "labels").to(device_);
    build_model(net_, kind_);
    loss_.set_backend(kind_);
  }

  // zero_grad, forward, loss, backward (and the optimizer's step when given): one
  // step as generate_model.py takes it. Returns the loss.
  float step(nn::Optimizer* optimizer) {
    net_.zero_grad();
    logits_ = net_.forward(input_, nn::Mode::Train);
    const float loss = loss_.forward(logits_, labels_).item();
    net_.backward(loss_.backward());
    if (optimizer) optimizer->step();
    return loss;
  }

  void report(const Checker& check) const {
    std::printf("[ pytorch  ] %s vs torch %s: %s\n", backend_name(kind_),
                golden().config.at("torch_version").get<std::string>().c_str(),
                check.summary().c_str());
  }

  Tensor scalars(const std::vector<float>& values) {
    return Tensor::from_vector(values, {static_cast<int64_t>(values.size())});
  }

  Backend::Kind kind_ = Backend::Kind::Cpu;
  Device device_ = Device::cpu();
  Tensor input_, labels_, logits_;
  nn::Sequential net_;
  nn::CrossEntropyLoss loss_;
};

TEST_P(PyTorchModelEquivalence, LogitsLossAndGradientsMatch) {
  const Golden& g = golden();
  Checker check(tolerance_for(kind_));
  const float loss = step(nullptr);
  check.expect("logits", "logits", logits_.to(Device::cpu()), g.get(g.forward_backward, "logits"));
  check.expect("loss", "loss", scalars({loss}), g.get(g.forward_backward, "loss"));
  ASSERT_EQ(net_.parameters().size(), 6u);
  for (nn::Parameter* p : net_.parameters())
    check.expect("gradients", "grad." + p->name, p->grad.to(Device::cpu()),
                 g.get(g.forward_backward, "grad." + p->name));
  report(check);
}

TEST_P(PyTorchModelEquivalence, ThreeSgdStepsMatch) {
  const Golden& g = golden();
  const nlohmann::json& h = g.config.at("sgd");
  nn::SGD sgd(net_.parameters(), nn::SGDOptions(h.at("lr").get<float>())
                                     .momentum(h.at("momentum").get<float>())
                                     .dampening(h.at("dampening").get<float>())
                                     .weight_decay(h.at("weight_decay").get<float>())
                                     .nesterov(h.at("nesterov").get<bool>()));
  sgd.set_backend(kind_);
  std::vector<float> losses;
  for (int i = 0; i < g.config.at("steps").get<int>(); ++i) losses.push_back(step(&sgd));
  Checker check(tolerance_for(kind_));
  check.expect("sgd losses", "sgd losses", scalars(losses), g.get(g.forward_backward, "sgd.loss"));
  expect_weights(check, "sgd", net_, g.sgd, g.initial);
  report(check);
}

TEST_P(PyTorchModelEquivalence, ThreeAdamStepsMatch) {
  const Golden& g = golden();
  const nlohmann::json& h = g.config.at("adam");
  nn::Adam adam(net_.parameters(),
                nn::AdamOptions(h.at("lr").get<float>())
                    .betas({h.at("beta1").get<float>(), h.at("beta2").get<float>()})
                    .eps(h.at("eps").get<float>())
                    .weight_decay(h.at("weight_decay").get<float>()));
  adam.set_backend(kind_);
  std::vector<float> losses;
  for (int i = 0; i < g.config.at("steps").get<int>(); ++i) losses.push_back(step(&adam));
  Checker check(tolerance_for(kind_));
  check.expect("adam losses", "adam losses", scalars(losses), g.get(g.forward_backward, "adam.loss"));
  expect_weights(check, "adam", net_, g.adam, g.initial);
  report(check);
}

INSTANTIATE_TEST_SUITE_P(Backends, PyTorchModelEquivalence,
                         testing::Values(Backend::Kind::Cpu, Backend::Kind::OneDnn, Backend::Kind::Cuda,
                                         Backend::Kind::Cudnn),
                         [](const testing::TestParamInfo<Backend::Kind>& info) {
                           return std::string(backend_name(info.param));
                         });

}  // namespace
}  // namespace convnet
