// Model and optimizer checkpoints on top of the safetensors parser and writer.
// Loading is all-or-nothing: the file is matched to the model, every problem is
// collected and reported in one message, and every tensor is converted to the
// parameter's dtype (where a conversion can fail) before a single value is
// copied, so a failed load leaves the model (or optimizer) exactly as it was.
// An optimizer file carries a digest of the parameters it was saved with, so
// that state loaded next to the wrong model file is an error, not a silently
// wrong resume.
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "io/parameters_digest.hpp"
#include "io/safetensors_view.hpp"

namespace convnet::io {
namespace {

struct Target {
  std::string name;
  Tensor* tensor;
};

void append(std::string& list, const std::string& item) {
  list += (list.empty() ? "" : ", ") + item;
}

// When the model's names end the file's names, a prefix is the likely cause
// ("model.0.weight" for "0.weight"): the hint names it.
std::string prefix_hint(const std::vector<std::string>& missing,
                        const std::vector<std::string>& unexpected) {
  for (const std::string& m : missing)
    for (const std::string& u : unexpected)
      if (u.size() > m.size() + 1 && u.compare(u.size() - m.size(), m.size(), m) == 0 &&
          u[u.size() - m.size() - 1] == '.')
        return " (the file's names carry a prefix: LoadOptions().strip_prefix(\"" +
               u.substr(0, u.size() - m.size()) + "\") removes it)";
  return "";
}

// "3.weight" -> {3, "weight"}; nullopt for a name without a leading layer index.
std::optional<std::pair<long, std::string>> split_layer_index(const std::string& name) {
  const size_t dot = name.find('.');
  if (dot == 0 || dot == std::string::npos || dot > 9) return std::nullopt;
  for (size_t i = 0; i < dot; ++i)
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
  return std::pair{std::stol(name.substr(0, dot)), name.substr(dot + 1)};
}

// A Sequential saved with one layer more or less at the front names every
// parameter with its layer index shifted by a constant: the file has "1.weight",
// "4.weight" where the model has "0.weight", "3.weight". When one shift maps the
// model's names onto the file's exactly, the hint says so. `model` and `file` are
// every name on each side (some may match by accident: Linear layers at 0 and 1
// shifted by one share "1.weight"); `missing` is one the file lacks.
std::string shift_hint(const std::set<std::string>& model, const std::vector<std::string>& file,
                       const std::string& missing) {
  using Key = std::pair<long, std::string>;
  std::set<Key> model_keys, file_keys;
  for (const std::string& name : model) {
    const auto key = split_layer_index(name);
    if (!key) return "";
    model_keys.insert(*key);
  }
  for (const std::string& name : file) {
    const auto key = split_layer_index(name);
    if (!key) return "";
    file_keys.insert(*key);
  }
  const auto anchor = split_layer_index(missing);
  if (!anchor || model_keys.size() != file_keys.size()) return "";
  for (const auto& [file_index, file_rest] : file_keys) {
    if (file_rest != anchor->second || file_index == anchor->first) continue;
    const long shift = file_index - anchor->first;
    bool maps = true;
    for (const auto& [index, rest] : model_keys) maps = maps && file_keys.count({index + shift, rest});
    if (!maps) continue;  // equal sizes: onto the file's names too
    const std::string sign = shift > 0 ? "+" : "";
    return " (hint: the file's layer numbers are shifted by " + sign + std::to_string(shift) +
           " from the model's: \"" + std::to_string(file_index) + "." + file_rest +
           "\" in the file is \"" + missing + "\" here; the model that saved it has " +
           std::to_string(shift > 0 ? shift : -shift) + " layer(s) " +
           (shift > 0 ? "more" : "fewer") + " at the front than this one?)";
  }
  return "";
}

// Matches `view` to `targets` by name (after stripping the prefix), checks
// shapes and dtypes, converts, and only then copies into the targets.
// `who` and `source` start the messages: "load_safetensors: <path> does not fit: ...".
// `check` (when given) runs once the file is known to fit, before anything is
// converted or copied: it may refuse the load by throwing.
LoadResult load_into(const std::string& who, const std::string& source,
                     const detail::SafetensorsView& view, const std::vector<Target>& targets,
                     const LoadOptions& options, const std::function<void()>& check = {}) {
  const std::string& prefix = options.strip_prefix();
  std::map<std::string, const detail::StoredTensor*> by_key;
  std::vector<std::string> keys;
  for (const detail::StoredTensor& stored : view.tensors) {
    const bool strip = !prefix.empty() && stored.name.compare(0, prefix.size(), prefix) == 0;
    keys.push_back(strip ? stored.name.substr(prefix.size()) : stored.name);
    const auto [it, inserted] = by_key.emplace(keys.back(), &stored);
    CONVNET_CHECK(inserted, who, ": ", source, ": with the prefix \"", prefix, "\" stripped, \"",
                  it->second->name, "\" and \"", stored.name, "\" both name \"", keys.back(),
                  "\"; nothing was loaded");
  }

  LoadResult result;
  result.metadata = view.metadata;
  std::string problems;  // always errors: shape or dtype of a present tensor
  std::vector<const detail::StoredTensor*> matched(targets.size(), nullptr);
  std::set<std::string> expected;
  for (size_t i = 0; i < targets.size(); ++i) {
    const Target& t = targets[i];
    expected.insert(t.name);
    const auto found = by_key.find(t.name);
    if (found == by_key.end()) {
      result.missing_keys.push_back(t.name);
      continue;
    }
    const detail::StoredTensor& stored = *found->second;
    const bool shape_fits = stored.shape == t.tensor->shape();
    const bool dtype_fits = detail::converts_to(stored.dtype, t.tensor->dtype());
    if (!shape_fits || !dtype_fits) {
      // "0.bias is [4] i64 in the file but [4] f32 here"; both names when a prefix was stripped.
      problems += (problems.empty() ? "" : "; ") + stored.name + " is " + stored.shape.str() +
                  " " + detail::stored_dtype_lower(stored.dtype) + " in the file but " +
                  (stored.name == t.name ? "" : t.name + " is ") + t.tensor->shape().str() + " " +
                  dtype_name(t.tensor->dtype()) + " here";
      if (!dtype_fits) {
        const std::optional<DType> natural = detail::natural_dtype(stored.dtype);
        problems += !natural ? " (convnet loads no " + detail::stored_dtype_lower(stored.dtype) +
                                   " tensors)"
                    : *natural == DType::I32 ? " (integers do not load into a float tensor)"
                                             : " (floats do not load into an integer tensor)";
      }
      continue;
    }
    matched[i] = &stored;
  }
  for (size_t i = 0; i < view.tensors.size(); ++i)
    if (expected.count(keys[i]) == 0) result.unexpected_keys.push_back(view.tensors[i].name);

  std::string all = problems;
  if (options.strict()) {
    std::string missing, unexpected;
    for (const std::string& name : result.missing_keys) append(missing, name);
    for (const std::string& name : result.unexpected_keys) append(unexpected, name);
    if (!missing.empty()) all += (all.empty() ? "" : "; ") + ("missing " + missing);
    if (!unexpected.empty()) all += (all.empty() ? "" : "; ") + ("unexpected " + unexpected);
    if (!missing.empty() && !unexpected.empty()) {
      const std::string prefix_cause = prefix_hint(result.missing_keys, result.unexpected_keys);
      all += !prefix_cause.empty() ? prefix_cause
                                   : shift_hint(expected, keys, result.missing_keys.front());
    }
  }
  CONVNET_CHECK(all.empty(), who, ": ", source, " does not fit: ", all, "; nothing was loaded");
  if (check) check();

  // Convert everything first: an I64 value beyond int32 must fail before any copy.
  std::vector<Tensor> converted(targets.size());
  for (size_t i = 0; i < targets.size(); ++i)
    if (matched[i] != nullptr)
      converted[i] =
          detail::to_tensor(view, *matched[i], targets[i].tensor->dtype(), result.converted);
  for (size_t i = 0; i < targets.size(); ++i)
    if (matched[i] != nullptr) targets[i].tensor->copy_from(converted[i]);
  return result;
}

std::vector<Target> parameters_of(nn::Layer& model) {
  std::vector<Target> targets;
  for (nn::Parameter* p : model.parameters()) targets.push_back({p->name, &p->value});
  for (nn::Buffer* b : model.buffers()) targets.push_back({b->name, &b->value});
  return targets;
}

std::string metadata_value(const Metadata& metadata, const std::string& key,
                           const std::string& path) {
  const auto it = metadata.find(key);
  CONVNET_CHECK(it != metadata.end(), "load_optimizer: ", path, " has no \"", key,
                "\" in its __metadata__ (not an optimizer checkpoint?)");
  return it->second;
}

constexpr const char* kParametersDigest = "parameters_digest";

// The pairing check of load_optimizer (see OptimizerLoadOptions). Files saved
// before the digest existed have none and load unchecked.
void check_parameters_digest(const Metadata& metadata, nn::Optimizer& optimizer,
                             const std::string& path, const std::string& step) {
  const auto saved = metadata.find(kParametersDigest);
  if (saved == metadata.end()) return;
  const std::string now = detail::digest_hex(detail::parameters_digest(optimizer.parameters()));
  CONVNET_CHECK(saved->second == now, "load_optimizer: ", path,
                " does not belong to the parameters it would update: it was saved (at step ",
                step, ") with parameters whose digest is ", saved->second,
                ", but the optimizer's parameters now give ", now,
                ". Load the model file that was saved together with it first (load_safetensors "
                "before load_optimizer); a model file from another save, or one replaced by a "
                "save that crashed before its optimizer file was written, does not match. "
                "Nothing was loaded; OptimizerLoadOptions().check_parameters(false) loads it "
                "anyway");
}

const unsigned char* as_bytes(const std::string& bytes) {
  return reinterpret_cast<const unsigned char*>(bytes.data());
}

}  // namespace

void save_safetensors(nn::Layer& model, const std::string& path, const Metadata& metadata) {
  NamedTensors tensors;
  for (const nn::Parameter* p : model.parameters()) tensors.emplace_back(p->name, p->value);
  for (const nn::Buffer* b : model.buffers()) tensors.emplace_back(b->name, b->value);
  write_safetensors(path, tensors, metadata);
}

LoadResult load_safetensors(nn::Layer& model, const std::string& path, const LoadOptions& options) {
  const std::string bytes = detail::read_file_bytes("load_safetensors", path);
  const detail::SafetensorsView view =
      detail::parse_safetensors("load_safetensors: " + path + ": ", as_bytes(bytes), bytes.size());
  return load_into("load_safetensors", path, view, parameters_of(model), options);
}

LoadResult load_safetensors_buffer(nn::Layer& model, const void* data, size_t size,
                                   const LoadOptions& options) {
  CONVNET_CHECK(data != nullptr || size == 0, "load_safetensors_buffer: data is null but size is ",
                size);
  const std::string source = detail::kMemoryBuffer;
  const detail::SafetensorsView view = detail::parse_safetensors(
      "load_safetensors_buffer: " + source + ": ", static_cast<const unsigned char*>(data), size);
  return load_into("load_safetensors_buffer", source, view, parameters_of(model), options);
}

Metadata load_safetensors(nn::Layer& model, const std::string& path) {
  return load_safetensors(model, path, LoadOptions()).metadata;
}

void save_optimizer(nn::Optimizer& optimizer, const std::string& path, const Metadata& metadata) {
  for (const char* key : {"step", "lr", "optimizer", kParametersDigest})
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
  all[kParametersDigest] = detail::digest_hex(detail::parameters_digest(optimizer.parameters()));
  write_safetensors(path, tensors, all);
}

Metadata load_optimizer(nn::Optimizer& optimizer, const std::string& path,
                        const OptimizerLoadOptions& options) {
  const std::string bytes = detail::read_file_bytes("load_optimizer", path);
  const detail::SafetensorsView view =
      detail::parse_safetensors("load_optimizer: " + path + ": ", as_bytes(bytes), bytes.size());
  const Metadata& metadata = view.metadata;
  const std::string kind = metadata_value(metadata, "optimizer", path);
  CONVNET_CHECK(kind == optimizer.name(), "load_optimizer: ", path, " holds ", kind,
                " state but the optimizer is ", optimizer.name());
  const std::string step_text = metadata_value(metadata, "step", path);
  const std::string lr_text = metadata_value(metadata, "lr", path);
  char* end = nullptr;
  errno = 0;
  const long long step = std::strtoll(step_text.c_str(), &end, 10);
  CONVNET_CHECK(!step_text.empty() && *end == '\0' && errno == 0 && step >= 0, "load_optimizer: ",
                path, ": step \"", step_text, "\" is not a non-negative integer");
  errno = 0;
  const float lr = std::strtof(lr_text.c_str(), &end);
  CONVNET_CHECK(!lr_text.empty() && *end == '\0' && errno == 0 && lr >= 0.f && std::isfinite(lr),
                "load_optimizer: ", path, ": lr \"", lr_text, "\" is not a non-negative number");

  optimizer.ensure_state();
  std::vector<Target> targets;
  for (const auto& [name, tensor] : optimizer.state()) targets.push_back({name, tensor});
  // After the fit check: a file for other shapes is better named by its shapes.
  load_into("load_optimizer", path, view, targets, LoadOptions(), [&] {
    if (options.check_parameters()) check_parameters_digest(metadata, optimizer, path, step_text);
  });
  optimizer.set_step_count(step);
  optimizer.set_lr(lr);
  return metadata;
}

}  // namespace convnet::io
