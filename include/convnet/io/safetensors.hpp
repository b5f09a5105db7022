// Checkpoints in the safetensors format (https://github.com/huggingface/safetensors):
//   8 bytes: N, the header size, little-endian u64
//   N bytes: a JSON object {"name": {"dtype": "F32", "shape": [...],
//            "data_offsets": [begin, end]}, ..., "__metadata__": {"k": "v"}},
//            padded with spaces to a multiple of 8
//   the data buffer: every tensor row-major little-endian, contiguous, no holes.
// Tensor names come from Parameter::name ("0.weight"), so PyTorch's
// nn.Sequential loads our files with load_state_dict(strict=True).
//
// Writes are atomic: the file is written to "<path>.tmp-<pid>", flushed and
// renamed over <path>, so a crash never leaves a half-written checkpoint.
#pragma once

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

// Writes `tensors` (F32 or I32, any device: they are copied to the host) in
// order. Throws convnet::Error on duplicate or empty names, or when the file
// cannot be written (the message names the path and the system's reason).
void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const Metadata& metadata = {});

struct SafetensorsFile {
  NamedTensors tensors;  // on the CPU, in file order
  Metadata metadata;
  const Tensor* find(const std::string& name) const;
};

// Reads and validates a whole file: header size within the file, valid JSON,
// known dtypes (F32, I32), offsets contiguous from 0 with no holes or overlaps,
// sizes matching shapes, the file ending at the buffer's end. Any violation
// throws convnet::Error naming the file and the problem.
SafetensorsFile read_safetensors(const std::string& path);

// A model's parameters under their names.
void save_safetensors(nn::Layer& model, const std::string& path, const Metadata& metadata = {});
// Loads into the model's parameters (on whatever device they live). Strict:
// every parameter must be present with its shape; a tensor the model does not
// have is an error too. Nothing is modified unless the whole file fits.
// Returns the file's metadata.
Metadata load_safetensors(nn::Layer& model, const std::string& path);

// Optimizer state ("<param>.exp_avg", ...) and its step count (metadata "step").
void save_optimizer(nn::Optimizer& optimizer, const std::string& path,
                    const Metadata& metadata = {});
Metadata load_optimizer(nn::Optimizer& optimizer, const std::string& path);

}  // namespace convnet::io
