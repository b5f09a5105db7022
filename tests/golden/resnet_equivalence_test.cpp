// Whole-model equivalence with PyTorch for nn::ResNet: BatchNorm (train and
// eval mode, running statistics, num_batches_tracked), torchvision's BasicBlock
// with identity and downsample shortcuts, adaptive average pooling, flatten and
// the classifier, against golden files written by tests/golden/generate_resnet.py
// (see tests/golden/README.md; no PyTorch needed here).
//
// The golden state is a PyTorch state dict after a few SGD steps, so BatchNorm
// weights, biases and running statistics are all non-trivial and
// num_batches_tracked is int64. On every available backend:
// - the state dict loads strictly (io::load_safetensors) into nn::ResNet built
//   with the generator's options (config metadata: widths, blocks, ...);
// - eval mode: the logits on the golden batch and on 16 MNIST test images match
//   PyTorch's model.eval() logits, and the buffers stay as they were;
// - train mode: one forward with batch statistics, mean cross-entropy and
//   backward give PyTorch's logits, loss, every parameter's gradient and the
//   updated running statistics (num_batches_tracked + 1); eval logits after it
//   use the updated statistics.
// And convnet's checkpoint of the model has exactly the PyTorch state dict's
// tensor names, shapes and dtypes (num_batches_tracked I64, 0-d), with the
// values it loaded. With CONVNET_RESNET_EXPORT=<path> the checkpoint test also
// writes the model after one convnet SGD step there, its eval logits in the
// metadata entry "eval_logits", for
//   python tests/golden/generate_resnet.py --verify-convnet-file <path>
// which loads it in PyTorch with load_state_dict(strict=True).
//
// Tolerance: norm-wise relative error ||actual - expected|| / ||expected|| at
// most 1e-5 for everything float (the generator refuses a configuration where
// PyTorch's own float32 run lies beyond 3e-6 from its float64 values; it is 2e-6
// at most, on the stem's gradients); integers exactly.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "convnet/convnet.hpp"
#include "convnet/io/safetensors.hpp"

namespace convnet {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

const std::string kGoldenDir = std::string(CONVNET_SOURCE_DIR) + "/tests/golden/resnet/";
constexpr double kTolerance = 1e-5;

struct Golden {
  io::SafetensorsFile state, forward_backward;
  Json config;

  const Tensor& get(const io::SafetensorsFile& file, const std::string& name) const {
    const Tensor* t = file.find(name);
    if (!t) throw Error("resnet golden files: tensor '" + name + "' is missing; regenerate with "
                        "tests/golden/generate_resnet.py");
    return *t;
  }
  const Tensor& fb(const std::string& name) const { return get(forward_backward, name); }
};

const Golden& golden() {
  static const Golden g = [] {
    Golden g;
    g.state = io::read_safetensors(kGoldenDir + "state.safetensors");
    g.forward_backward = io::read_safetensors(kGoldenDir + "forward_backward.safetensors");
    g.config = Json::parse(g.forward_backward.metadata.at("config"));
    return g;
  }();
  return g;
}

nn::ResNetOptions options_from(const Json& config) {
  const Json& m = config.at("model");
  return nn::ResNetOptions()
      .in_channels(m.at("in_channels").get<int64_t>())
      .num_classes(m.at("num_classes").get<int64_t>())
      .widths(m.at("widths").get<std::vector<int64_t>>())
      .blocks(m.at("blocks").get<std::vector<int64_t>>())
      .zero_init_residual(m.at("zero_init_residual").get<bool>());
}

Device device_of(Backend::Kind kind) {
  return backend_device(kind);
}

// nn::ResNet with the generator's options on `kind`, holding the golden state (strict load).
std::unique_ptr<nn::ResNet> golden_resnet(Backend::Kind kind) {
  auto net = std::make_unique<nn::ResNet>(options_from(golden().config));
  net->to(device_of(kind));
  net->set_backend(kind);
  io::load_safetensors(*net, kGoldenDir + "state.safetensors");
  return net;
}

// An integer tensor's values (num_batches_tracked: I64 in PyTorch's files; a
// reader may hand it over as I32).
std::vector<int64_t> integers(const Tensor& t) {
  const Tensor host = t.to(Device::cpu());
  if (host.dtype() == DType::I64) return host.to_vector<int64_t>();
  EXPECT_EQ(host.dtype(), DType::I32) << "an integer tensor is " << dtype_name(host.dtype());
  const std::vector<int32_t> v = host.to_vector<int32_t>();
  return std::vector<int64_t>(v.begin(), v.end());
}

// Norm-wise relative comparison; keeps the largest error per group for a summary line.
class Checker {
 public:
  void expect(const std::string& group, const std::string& what, const Tensor& actual_any,
              const Tensor& expected) {
    const Tensor actual = actual_any.to(Device::cpu());
    ASSERT_EQ(actual.shape(), expected.shape()) << what;
    if (expected.dtype() != DType::F32) {  // integers: exactly
      EXPECT_EQ(integers(actual), integers(expected)) << what << " differs (must match exactly)";
      return;
    }
    ASSERT_EQ(actual.dtype(), DType::F32) << what;
    const std::vector<float> a = actual.to_vector<float>(), e = expected.to_vector<float>();
    double diff = 0, norm = 0, worst = -1;
    size_t worst_at = 0;
    for (size_t i = 0; i < e.size(); ++i) {
      const double d = static_cast<double>(a[i]) - e[i];
      diff += d * d;
      norm += static_cast<double>(e[i]) * e[i];
      const double ad = std::isnan(d) ? INFINITY : std::fabs(d);
      if (ad > worst) worst = ad, worst_at = i;
    }
    double relative = std::sqrt(diff) / std::max(std::sqrt(norm), 1e-30);
    if (std::isnan(relative)) relative = INFINITY;
    EXPECT_LE(relative, kTolerance)
        << what << ": norm-wise relative error " << relative << " against PyTorch; worst element "
        << worst_at << ": " << a[worst_at] << " vs " << e[worst_at];
    auto it = std::find_if(worst_.begin(), worst_.end(), [&](const Worst& w) { return w.group == group; });
    if (it == worst_.end()) worst_.push_back({group, what, relative});
    else if (relative > it->relative) *it = {group, what, relative};
  }

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
  std::vector<Worst> worst_;
};

// Every buffer of `net` against the file's tensor `prefix + name`.
void expect_buffers(Checker& check, const std::string& group, nn::ResNet& net,
                    const io::SafetensorsFile& file, const std::string& prefix) {
  size_t tracked = 0;
  for (nn::Buffer* b : net.buffers()) {
    check.expect(group, prefix + b->name, b->value, golden().get(file, prefix + b->name));
    if (b->name.size() >= 19 && b->name.compare(b->name.size() - 19, 19, "num_batches_tracked") == 0)
      ++tracked;
  }
  EXPECT_GT(tracked, 0u) << "no num_batches_tracked buffer";
}

class PyTorchResNetEquivalence : public testing::TestWithParam<Backend::Kind> {
 protected:
  void SetUp() override {
    kind_ = GetParam();
    if (!backend_available(kind_))
      GTEST_SKIP() << "backend " << backend_name(kind_) << " unavailable: "
                   << backend_unavailable_reason(kind_);
    net_ = golden_resnet(kind_);
    loss_.set_backend(kind_);
  }

  Tensor on_device(const std::string& name) const { return golden().fb(name).to(device_of(kind_)); }

  void report(const char* what, const Checker& check) const {
    std::printf("[ pytorch  ] resnet %s on %s vs torch %s: %s\n", what, backend_name(kind_),
                golden().config.at("torch_version").get<std::string>().c_str(),
                check.summary().c_str());
  }

  Backend::Kind kind_ = Backend::Kind::Cpu;
  std::unique_ptr<nn::ResNet> net_;
  nn::CrossEntropyLoss loss_;
};

TEST_P(PyTorchResNetEquivalence, StateDictLoadsStrictly) {
  // load_safetensors is strict: every parameter and buffer was in the file and
  // every tensor of the file is one of them.
  EXPECT_EQ(net_->parameters().size() + net_->buffers().size(), golden().state.tensors.size());
  Checker check;
  for (nn::Parameter* p : net_->parameters())
    check.expect("parameters", p->name, p->value, golden().get(golden().state, p->name));
  expect_buffers(check, "buffers", *net_, golden().state, "");
  for (nn::Parameter* p : net_->parameters())  // loaded exactly, not merely within tolerance
    EXPECT_EQ(p->value.to(Device::cpu()).to_vector<float>(),
              golden().get(golden().state, p->name).to_vector<float>()) << p->name;
}

TEST_P(PyTorchResNetEquivalence, EvalLogitsMatch) {
  const Golden& g = golden();
  Checker check;
  check.expect("eval logits", "eval.logits", net_->forward(on_device("input"), nn::Mode::Eval),
               g.fb("eval.logits"));
  check.expect("mnist eval logits", "mnist.eval.logits",
               net_->forward(on_device("mnist.input"), nn::Mode::Eval), g.fb("mnist.eval.logits"));
  // Eval mode uses the running statistics and changes nothing.
  expect_buffers(check, "buffers unchanged", *net_, g.state, "");
  report("eval", check);
}

TEST_P(PyTorchResNetEquivalence, TrainForwardBackwardMatch) {
  const Golden& g = golden();
  Checker check;
  net_->zero_grad();
  const Tensor logits = net_->forward(on_device("input"), nn::Mode::Train);
  const float loss = loss_.forward(logits, on_device("labels")).item();
  net_->backward(loss_.backward());
  check.expect("train logits", "train.logits", logits, g.fb("train.logits"));
  check.expect("train loss", "train.loss", Tensor::from_vector(std::vector<float>{loss}, {1}),
               g.fb("train.loss"));
  size_t grads = 0;
  for (const auto& entry : g.forward_backward.tensors) grads += entry.first.rfind("grad.", 0) == 0;
  ASSERT_EQ(net_->parameters().size(), grads);
  for (nn::Parameter* p : net_->parameters())
    check.expect("gradients", "grad." + p->name, p->grad, g.fb("grad." + p->name));
  // The running statistics after one train forward (momentum 0.1, unbiased
  // variance), num_batches_tracked + 1.
  expect_buffers(check, "running stats", *net_, g.forward_backward, "after.");
  check.expect("eval logits after train", "eval.logits_after_train",
               net_->forward(on_device("input"), nn::Mode::Eval), g.fb("eval.logits_after_train"));
  report("train", check);
}

INSTANTIATE_TEST_SUITE_P(Backends, PyTorchResNetEquivalence,
                         testing::Values(Backend::Kind::Cpu, Backend::Kind::OneDnn, Backend::Kind::Cuda,
                                         Backend::Kind::Cudnn),
                         [](const testing::TestParamInfo<Backend::Kind>& info) {
                           return std::string(backend_name(info.param));
                         });

// ---- the other direction: convnet's checkpoint is PyTorch's state dict

struct Entry {
  std::string dtype;
  std::vector<int64_t> shape;
  bool operator==(const Entry& o) const { return dtype == o.dtype && shape == o.shape; }
};

// A safetensors header as written: tensor name -> dtype ("F32", "I64", ...) and shape.
std::map<std::string, Entry> header_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  unsigned char size_bytes[8] = {};
  in.read(reinterpret_cast<char*>(size_bytes), 8);
  uint64_t size = 0;
  for (int i = 7; i >= 0; --i) size = (size << 8) | size_bytes[i];
  std::string text(size, '\0');
  in.read(&text[0], static_cast<std::streamsize>(size));
  const Json header = Json::parse(text);  // kept: items() refers into it
  std::map<std::string, Entry> out;
  for (const auto& item : header.items()) {
    if (item.key() == "__metadata__") continue;
    out[item.key()] = {item.value().at("dtype").get<std::string>(),
                       item.value().at("shape").get<std::vector<int64_t>>()};
  }
  return out;
}

std::string describe(const std::map<std::string, Entry>& header, const std::string& name) {
  const auto it = header.find(name);
  if (it == header.end()) return "absent";
  std::ostringstream os;
  os << it->second.dtype << " [";
  for (size_t i = 0; i < it->second.shape.size(); ++i) os << (i ? ", " : "") << it->second.shape[i];
  os << "]";
  return os.str();
}

fs::path scratch_file(const std::string& name) {
  return fs::path(testing::TempDir()) / ("convnet_resnet_" + name + ".safetensors");
}

TEST(PyTorchResNetCheckpoint, SavedFileIsPyTorchsStateDict) {
  auto net = golden_resnet(Backend::Kind::Cpu);
  const fs::path path = scratch_file("roundtrip");
  io::save_safetensors(*net, path.string());

  // Names, dtypes and shapes exactly as PyTorch wrote them (num_batches_tracked I64, 0-d).
  const auto ours = header_of(path.string());
  const auto theirs = header_of(kGoldenDir + "state.safetensors");
  std::map<std::string, bool> names;
  for (const auto& e : ours) names[e.first] = true;
  for (const auto& e : theirs) names[e.first] = true;
  for (const auto& n : names)
    EXPECT_EQ(describe(ours, n.first), describe(theirs, n.first))
        << n.first << ": convnet's checkpoint (left) against PyTorch's state dict (right)";
  EXPECT_EQ(ours.size(), theirs.size());

  // The same values, exactly.
  const io::SafetensorsFile saved = io::read_safetensors(path.string());
  for (const auto& entry : golden().state.tensors) {
    const Tensor* t = saved.find(entry.first);
    ASSERT_NE(t, nullptr) << entry.first;
    if (entry.second.dtype() == DType::F32)
      EXPECT_EQ(t->to_vector<float>(), entry.second.to_vector<float>()) << entry.first;
    else
      EXPECT_EQ(integers(*t), integers(entry.second)) << entry.first;
  }
  fs::remove(path);
}

// A model trained one step in convnet (running statistics, num_batches_tracked
// and weights all moved) saves, and loads back into a fresh nn::ResNet with
// the same eval logits. With CONVNET_RESNET_EXPORT set, the file is also written
// there for generate_resnet.py --verify-convnet-file.
TEST(PyTorchResNetCheckpoint, TrainedModelRoundTrips) {
  const Golden& g = golden();
  auto net = golden_resnet(Backend::Kind::Cpu);
  nn::CrossEntropyLoss loss;
  nn::SGD sgd(net->parameters(), nn::SGDOptions(0.05f).momentum(0.9f));
  net->zero_grad();
  loss.forward(net->forward(g.fb("input"), nn::Mode::Train), g.fb("labels"));
  net->backward(loss.backward());
  sgd.step();
  const std::vector<float> logits = net->forward(g.fb("input"), nn::Mode::Eval).to_vector<float>();

  Json list = Json::array();
  for (float v : logits) list.push_back(v);
  const io::Metadata metadata = {{"eval_logits", list.dump()}};
  const fs::path path = scratch_file("trained");
  io::save_safetensors(*net, path.string(), metadata);
  if (const char* exported = std::getenv("CONVNET_RESNET_EXPORT")) {
    io::save_safetensors(*net, exported, metadata);
    std::printf("[ pytorch  ] wrote %s: check it with tests/golden/generate_resnet.py "
                "--verify-convnet-file %s\n", exported, exported);
  }

  auto fresh = std::make_unique<nn::ResNet>(options_from(g.config));
  fresh->set_backend(Backend::Kind::Cpu);  // the same backend as `net`, for bit equality
  io::load_safetensors(*fresh, path.string());
  EXPECT_EQ(fresh->forward(g.fb("input"), nn::Mode::Eval).to_vector<float>(), logits);
  std::vector<nn::Buffer*> a = net->buffers(), b = fresh->buffers();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]->name, b[i]->name);
    if (a[i]->value.dtype() == DType::F32)
      EXPECT_EQ(a[i]->value.to_vector<float>(), b[i]->value.to_vector<float>()) << a[i]->name;
    else
      EXPECT_EQ(integers(a[i]->value), integers(b[i]->value)) << a[i]->name;
  }
  const int64_t pretrain_steps = g.config.at("pretrain").at("steps").get<int64_t>();
  for (nn::Buffer* buffer : b)
    if (buffer->name.size() >= 19 &&
        buffer->name.compare(buffer->name.size() - 19, 19, "num_batches_tracked") == 0)
      EXPECT_EQ(integers(buffer->value), std::vector<int64_t>{pretrain_steps + 1}) << buffer->name;
  fs::remove(path);
}

}  // namespace
}  // namespace convnet
