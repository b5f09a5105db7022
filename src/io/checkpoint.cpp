// Model and optimizer checkpoints on top of the safetensors reader and writer.
// Loading is strict and all-or-nothing: every mismatch is collected and reported
// in one message before a single value is copied, so a failed load leaves the
// model (or optimizer) exactly as it was.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "convnet/io/safetensors.hpp"

namespace convnet::io {
namespace {

struct Target {
  std::string name;
  Tensor* tensor;
};

// Checks that `file` holds exactly the tensors of `targets`, with their shapes
// and dtypes, then copies them in (to whatever device each target lives on).
void copy_strict(const std::string& who, const std::string& path, const SafetensorsFile& file,
                 const std::vector<Target>& targets) {
  std::string problems;
  const auto problem = [&](const std::string& text) {
    problems += (problems.empty() ? "" : "; ") + text;
  };
  std::set<std::string> expected;
  std::string missing;
  for (const Target& t : targets) {
    expected.insert(t.name);
    const Tensor* stored = file.find(t.name);
    if (stored == nullptr) {
      missing += (missing.empty() ? "" : ", ") + t.name;
    } else if (stored->shape() != t.tensor->shape() || stored->dtype() != t.tensor->dtype()) {
      problem(t.name + " is " + stored->shape().str() + " " + dtype_name(stored->dtype()) +
              " in the file but " + t.tensor->shape().str() + " " +
              dtype_name(t.tensor->dtype()) + " here");
    }
  }
  if (!missing.empty()) problem("missing " + missing);
  std::string unexpected;
  for (const auto& entry : file.tensors)
    if (expected.count(entry.first) == 0)
      unexpected += (unexpected.empty() ? "" : ", ") + entry.first;
  if (!unexpected.empty()) problem("unexpected " + unexpected);
  CONVNET_CHECK(problems.empty(), who, ": ", path, " does not fit: ", problems,
                "; nothing was loaded");
  for (const Target& t : targets) t.tensor->copy_from(*file.find(t.name));
}

std::string metadata_value(const Metadata& metadata, const std::string& key,
                           const std::string& path) {
  const auto it = metadata.find(key);
  CONVNET_CHECK(it != metadata.end(), "load_optimizer: ", path, " has no \"", key,
                "\" in its __metadata__ (not an optimizer checkpoint?)");
  return it->second;
}

}  // namespace

void save_safetensors(nn::Layer& model, const std::string& path, const Metadata& metadata) {
  NamedTensors tensors;
  for (const nn::Parameter* p : model.parameters()) tensors.emplace_back(p->name, p->value);
  write_safetensors(path, tensors, metadata);
}

Metadata load_safetensors(nn::Layer& model, const std::string& path) {
  SafetensorsFile file = read_safetensors(path);
  std::vector<Target> targets;
  for (nn::Parameter* p : model.parameters()) targets.push_back({p->name, &p->value});
  copy_strict("load_safetensors", path, file, targets);
  return file.metadata;
}

void save_optimizer(nn::Optimizer& optimizer, const std::string& path, const Metadata& metadata) {
  for (const char* key : {"step", "lr", "optimizer"})
    CONVNET_CHECK(metadata.count(key) == 0, "save_optimizer: metadata key \"", key,
                  "\" is reserved for the optimizer's own value");
  // Zero state before the first step behaves like no state, and a file with
  // every tensor present loads into a fresh optimizer the same way as any other.
  optimizer.ensure_state();
  NamedTensors tensors;
  for (const auto& [name, tensor] : optimizer.state()) tensors.emplace_back(name, *tensor);
  char lr[32];
  std::snprintf(lr, sizeof lr, "%.9g", optimizer.lr());  // 9 digits round-trip a float
  Metadata all = metadata;
  all["step"] = std::to_string(optimizer.step_count());
  all["lr"] = lr;
  all["optimizer"] = optimizer.name();
  write_safetensors(path, tensors, all);
}

Metadata load_optimizer(nn::Optimizer& optimizer, const std::string& path) {
  SafetensorsFile file = read_safetensors(path);
  const std::string kind = metadata_value(file.metadata, "optimizer", path);
  CONVNET_CHECK(kind == optimizer.name(), "load_optimizer: ", path, " holds ", kind,
                " state but the optimizer is ", optimizer.name());
  const std::string step_text = metadata_value(file.metadata, "step", path);
  const std::string lr_text = metadata_value(file.metadata, "lr", path);
  char* end = nullptr;
  errno = 0;
  const long long step = std::strtoll(step_text.c_str(), &end, 10);
  CONVNET_CHECK(!step_text.empty() && *end == '\0' && errno == 0 && step >= 0, "load_optimizer: ",
                path, ": step \"", step_text, "\" is not a non-negative integer");
  errno = 0;
  const float lr = std::strtof(lr_text.c_str(), &end);
  CONVNET_CHECK(!lr_text.empty() && *end == '\0' && errno == 0 && lr >= 0.f, "load_optimizer: ",
                path, ": lr \"", lr_text, "\" is not a non-negative number");

  optimizer.ensure_state();
  std::vector<Target> targets;
  for (const auto& [name, tensor] : optimizer.state()) targets.push_back({name, tensor});
  copy_strict("load_optimizer", path, file, targets);
  optimizer.set_step_count(step);
  optimizer.set_lr(lr);
  return file.metadata;
}

}  // namespace convnet::io
