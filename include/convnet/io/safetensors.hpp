// Checkpoints in the safetensors format (https://github.com/huggingface/safetensors):
//   8 bytes: N, the header size, little-endian u64
//   N bytes: a JSON object {"name": {"dtype": "F32", "shape": [...],
//            "data_offsets": [begin, end]}, ..., "__metadata__": {"k": "v"}},
//            padded with spaces to a multiple of 8
//   the data buffer: every tensor row-major little-endian, contiguous, no holes.
// Tensor names come from Parameter::name ("0.weight"), so PyTorch's
// nn.Sequential loads our files with load_state_dict(strict=True), and we load
// its files (F16, BF16, F64 and I64 included; see Reading) with load_safetensors.
//
// Writes (write_safetensors, save_safetensors, save_optimizer) are atomic: the
// bytes go to a temporary file beside <path> ("<path>.tmp-<pid>-<n>"), which is
// fsync'ed and renamed over <path>, and the directory is fsync'ed. A process
// killed at any instant leaves <path> either complete and old or complete and
// new (tests/io/crash_safe_checkpoint_test.cpp kills writers to check it). A
// killed writer's temporary file stays until the next successful save to the
// same path, which removes those of processes no longer running.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "convnet/nn/layer.hpp"
#include "convnet/nn/optim.hpp"
#include "convnet/tensor.hpp"

namespace convnet::io {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using Metadata = std::map<std::string, std::string>;

// ---- Writing

// Writes `tensors` (F32, I32 or I64, any device: they are copied to the host) in
// order. Throws convnet::Error on duplicate or empty names, or when the file
// cannot be written (the message names the path and the system's reason).
void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const Metadata& metadata = {});

// ---- Reading
//
// Files written by PyTorch (safetensors.torch), numpy (safetensors.numpy) or any
// other writer may hold dtypes convnet does not store. Reading converts them,
// and says which tensors it converted:
//   F16, BF16 -> F32  exact: every half and bfloat16 value is a float (subnormals,
//                     +-inf and NaN payloads included)
//   F64 -> F32        rounded to nearest even, as PyTorch's .float() does; a
//                     finite value beyond float's range becomes +-inf, as in
//                     PyTorch, and is counted in Conversion::overflowed
//   I64 -> I32        every value must fit (PyTorch's default integer type holds
//                     labels and counters); one that does not is a convnet::Error
//                     naming the source, the tensor, the element and the value
// F32 and I32 are read as they are. The format's other byte-sized dtypes (BOOL,
// U8, I8, I16, U16, U32, U64, F8_E5M2, F8_E4M3, F8_E8M0, C64) are parsed and
// their sizes checked, but read_safetensors refuses them, and a load refuses
// them for a parameter; a non-strict load ignores them as unexpected tensors.
// Sub-byte dtypes (F4, F6_*) and unknown ones are refused at parsing.

struct Conversion {
  std::string name;        // the tensor's name in the file
  std::string from;        // its dtype as the format spells it: "F16", "BF16", "F64" or "I64"
  DType to;                // what convnet holds: F32 or I32
  int64_t overflowed = 0;  // F64 only: finite values beyond float's range, now +-inf
};

struct SafetensorsFile {
  NamedTensors tensors;  // on the CPU, in file order
  Metadata metadata;
  std::vector<Conversion> conversions;  // the tensors read with a dtype conversion, in file order
  const Tensor* find(const std::string& name) const;
};

// Reads and validates a whole file: header size within the file, a header of
// valid UTF-8 JSON (no key twice at any level, nested at most 8 deep), known
// dtypes, shapes whose byte size fits int64, offsets contiguous from 0 with no
// holes or overlaps (entries may be listed in any order), sizes matching
// shapes, the file ending at the buffer's end. Any violation throws
// convnet::Error naming the file and the problem, before anything of the size
// the header claims is allocated: only the file's real size is (read whole).
SafetensorsFile read_safetensors(const std::string& path);
// The same for `size` bytes at `data` (a file already in memory, a download, a
// resource); messages name "<memory buffer>". The tensors are copies: the bytes
// may go once this returns. (A name of its own rather than an overload:
// read_safetensors(const void*, size_t) next to the path version would make
// load_safetensors(model, "m.safetensors", {}) below a zero-byte buffer.)
SafetensorsFile read_safetensors_buffer(const void* data, size_t size);

// ---- Models

// A model's parameters, then its buffers (BatchNorm's running statistics),
// under their names: PyTorch's state_dict.
void save_safetensors(nn::Layer& model, const std::string& path, const Metadata& metadata = {});

// How load_safetensors matches a file to a model, like PyTorch's
// load_state_dict(state_dict, strict) after
// torch.nn.modules.utils.consume_prefix_in_state_dict_if_present(state_dict, prefix):
//   io::load_safetensors(net, "lightning.safetensors",
//                        io::LoadOptions().strict(false).strip_prefix("model."));
class LoadOptions {
 public:
  // true (the default): every parameter and buffer must be in the file and every
  // tensor of the file must be one; otherwise the load fails, naming all of them.
  // false: missing parameters keep their values and unexpected tensors are
  // ignored, and LoadResult lists both. Either way a tensor that is present
  // with another shape is an error, as in PyTorch, and so is one whose dtype
  // does not convert: integers into a float parameter (PyTorch's copy_ would
  // cast them; an integer tensor where a weight belongs is almost surely the
  // wrong tensor), floats into an integer tensor, BOOL, U8 and the like.
  LoadOptions& strict(bool value) {
    strict_ = value;
    return *this;
  }
  bool strict() const { return strict_; }
  // Removed from the start of every file name that has it (others stay as they
  // are), so "model.0.weight" from a Lightning module loads into "0.weight".
  // Two names that become one after stripping are an error.
  LoadOptions& strip_prefix(std::string prefix) {
    strip_prefix_ = std::move(prefix);
    return *this;
  }
  const std::string& strip_prefix() const { return strip_prefix_; }

 private:
  bool strict_ = true;
  std::string strip_prefix_;
};

// What a load did, with PyTorch's names for the keys.
struct LoadResult {
  std::vector<std::string> missing_keys;     // parameters the file lacks (unchanged), model order
  std::vector<std::string> unexpected_keys;  // the file's names the model has no parameter for
                                             // (ignored), file order, as spelled in the file
  std::vector<Conversion> converted;         // tensors loaded with a dtype conversion, model
                                             // order, under the file's names
  Metadata metadata;                         // the file's __metadata__
};

// Loads into the model's parameters (on whatever device they live). The file is
// read into memory whole. Nothing is modified unless the whole load succeeds:
// missing and unexpected names (when strict), shapes and dtypes are checked
// first and reported together in one convnet::Error naming the file, then every
// tensor is converted (where an I64 value beyond int32 fails), and only then
// copied in.
LoadResult load_safetensors(nn::Layer& model, const std::string& path, const LoadOptions& options);
// The same from `size` bytes in memory; messages name "<memory buffer>".
LoadResult load_safetensors_buffer(nn::Layer& model, const void* data, size_t size,
                                   const LoadOptions& options = LoadOptions());
// Strict, as above, and returns the file's metadata.
Metadata load_safetensors(nn::Layer& model, const std::string& path);

// ---- Optimizers

// Optimizer state ("<param>.exp_avg", ...) with metadata "optimizer" (its
// name), "step", "lr", and "parameters_digest": a 64-bit digest of the names,
// shapes and values of the parameters the optimizer updates, taken when saved.
// Save the model and its optimizer at the same step, and on resume load the
// model file first:
//   io::save_safetensors(net, "m.safetensors");  io::save_optimizer(opt, "m.optimizer.safetensors");
//   ...
//   io::load_safetensors(net, "m.safetensors");  io::load_optimizer(opt, "m.optimizer.safetensors");
// The model file restores exactly the values the digest was taken of, so a pair
// that belongs together loads, and an optimizer file beside a model file from
// another step or run (or beside the new model file of a save that was killed
// before it wrote the optimizer file) is a convnet::Error that says so, with
// nothing loaded. Files written before the digest existed load unchecked.
// Loading is strict, with the same dtype conversions as a model.
void save_optimizer(nn::Optimizer& optimizer, const std::string& path,
                    const Metadata& metadata = {});

class OptimizerLoadOptions {
 public:
  // true (the default): the file's parameters_digest must match the optimizer's
  // parameters as they are now. false: load the state whatever the parameters
  // hold (state carried over to a model changed on purpose).
  OptimizerLoadOptions& check_parameters(bool value) {
    check_parameters_ = value;
    return *this;
  }
  bool check_parameters() const { return check_parameters_; }

 private:
  bool check_parameters_ = true;
};

Metadata load_optimizer(nn::Optimizer& optimizer, const std::string& path,
                        const OptimizerLoadOptions& options = OptimizerLoadOptions());

}  // namespace convnet::io
