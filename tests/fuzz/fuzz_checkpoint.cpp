// libFuzzer target: io::load_safetensors_buffer into a small fixed model, with
// names, shapes and dtypes the model does not have. The model, built once:
//   0 Conv2d(1, 4, 3)   "0.weight" [4, 1, 3, 3], "0.bias" [4]
//   1 ReLU, 2 MaxPool2d(2), 3 Flatten
//   4 Linear(36, 10)    "4.weight" [10, 36],     "4.bias" [10]
// (tests/fuzz/make_seeds.py writes checkpoints for it.) Each input is loaded
// strict, non-strict, and non-strict with the prefix "model." stripped.
// Accepted: a LoadResult, or convnet::Error. Checked besides:
//   - a load that throws leaves every parameter bit for bit as it was;
//   - a strict load that succeeds reports no missing or unexpected keys;
//   - a load that succeeds sets each parameter it does not list as missing to
//     the file's tensor (as read_safetensors_buffer reads it), and leaves the
//     missing ones as they were.
// Optimizer state: io::load_optimizer takes only a path (no buffer API), so it
// is not fuzzed here.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "convnet/error.hpp"
#include "convnet/io/safetensors.hpp"
#include "convnet/nn/layers.hpp"
#include "convnet/nn/sequential.hpp"
#include "fuzz_common.hpp"

namespace {

using convnet_fuzz::fuzz_fail;
namespace io = convnet::io;
namespace nn = convnet::nn;

nn::Sequential& model() {
  static nn::Sequential* net = [] {
    auto* m = new nn::Sequential;
    m->add<nn::Conv2d>(1, 4, 3).add<nn::ReLU>().add<nn::MaxPool2d>(2).add<nn::Flatten>().add<nn::Linear>(
        4 * 3 * 3, 10);
    const std::vector<std::string> expected = {"0.weight", "0.bias", "4.weight", "4.bias"};
    std::vector<std::string> names;
    for (nn::Parameter* p : m->parameters()) names.push_back(p->name);
    if (names != expected)
      fuzz_fail("fuzz_checkpoint",
                "the model's parameter names changed; update make_seeds.py and this list");
    return m;
  }();
  return *net;
}

std::vector<std::vector<unsigned char>> snapshot(nn::Sequential& net) {
  std::vector<std::vector<unsigned char>> values;
  for (nn::Parameter* p : net.parameters()) {
    const auto* bytes = static_cast<const unsigned char*>(p->value.raw_data());
    values.emplace_back(bytes, bytes + p->value.nbytes());
  }
  return values;
}

// Before each load the parameters hold a pattern no checkpoint in the corpus
// has, so that "unchanged" and "loaded" differ.
void fill_pattern(nn::Sequential& net) {
  float v = 0.25f;
  for (nn::Parameter* p : net.parameters()) {
    float* x = p->value.data<float>();
    for (int64_t i = 0; i < p->value.numel(); ++i) x[i] = (v += 0.125f);
  }
}

bool contains(const std::vector<std::string>& list, const std::string& name) {
  for (const std::string& s : list)
    if (s == name) return true;
  return false;
}

void load(const uint8_t* data, size_t size, const io::LoadOptions& options, const char* label) {
  nn::Sequential& net = model();
  fill_pattern(net);
  const auto before = snapshot(net);
  io::LoadResult result;
  try {
    result = io::load_safetensors_buffer(net, data, size, options);
  } catch (const convnet::Error&) {
    if (snapshot(net) != before)
      fuzz_fail("fuzz_checkpoint", std::string(label) + ": a failed load changed the model");
    return;
  }
  if (options.strict() && (!result.missing_keys.empty() || !result.unexpected_keys.empty()))
    fuzz_fail("fuzz_checkpoint", std::string(label) + ": a strict load succeeded with missing or "
                                                      "unexpected keys");
  // What was loaded is what the file holds: compare with the whole-file reader.
  const io::SafetensorsFile* file = nullptr;
  io::SafetensorsFile read;
  bool readable = true;
  try {
    read = io::read_safetensors_buffer(data, size);
    file = &read;
  } catch (const convnet::Error&) {
    // The model load converts only what it uses: a non-strict load may ignore
    // a tensor (a BOOL mask, an I64 beyond int32) that the whole-file reader refuses.
    readable = false;
  }
  const auto after = snapshot(net);
  const auto params = net.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string& name = params[i]->name;
    if (contains(result.missing_keys, name)) {
      if (after[i] != before[i])
        fuzz_fail("fuzz_checkpoint", std::string(label) + ": missing " + name + " was changed");
      continue;
    }
    if (!readable || !options.strip_prefix().empty()) continue;
    const convnet::Tensor* t = file->find(name);
    if (t == nullptr)
      fuzz_fail("fuzz_checkpoint", std::string(label) + ": " + name + " loaded but not in the file");
    if (t->shape() != params[i]->value.shape() || t->nbytes() != after[i].size() ||
        (t->nbytes() > 0 && std::memcmp(t->raw_data(), after[i].data(), t->nbytes()) != 0))
      fuzz_fail("fuzz_checkpoint", std::string(label) + ": " + name + " differs from the file");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  load(data, size, io::LoadOptions(), "strict");
  load(data, size, io::LoadOptions().strict(false), "non-strict");
  load(data, size, io::LoadOptions().strict(false).strip_prefix("model."), "strip_prefix");
  return 0;
}
