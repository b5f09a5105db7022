// The one safetensors parser, shared by every reader (a file or a memory
// buffer; whole-file reads or loads into a model). Parsing validates the header
// and the layout against the real size of the bytes and points into them,
// without copying or converting: a load converts only the tensors it uses, so
// an unexpected tensor of a dtype convnet cannot hold (a BOOL mask, a U8 buffer,
// an I64 counter beyond int32) does not stop a non-strict load.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "convnet/io/safetensors.hpp"

namespace convnet::io::detail {

// Every dtype of the format whose element has a whole number of bytes.
enum class StoredDType {
  BOOL, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64, C64
};

const char* stored_dtype_name(StoredDType dtype);  // the format's spelling: "BF16"
std::string stored_dtype_lower(StoredDType dtype);  // for messages beside convnet's "f32": "bf16"
size_t stored_dtype_size(StoredDType dtype);

struct StoredTensor {
  std::string name;
  StoredDType dtype;
  Shape shape;
  const unsigned char* data;  // into the parsed bytes; valid while they are
  uint64_t nbytes;
};

struct SafetensorsView {
  std::string where;  // "<operation>: <path or <memory buffer>>: ", the prefix of every message
  std::vector<StoredTensor> tensors;  // in header order
  Metadata metadata;
};

// Parses `size` bytes at `data` (which must outlive the view). Every violation
// of the format is a convnet::Error starting with `where`; nothing is allocated
// from a size the bytes do not back.
SafetensorsView parse_safetensors(std::string where, const unsigned char* data, size_t size);

// The dtype read_safetensors gives a stored dtype: F16, BF16, F32, F64 -> F32;
// I32, I64 -> I32; none for the others.
std::optional<DType> natural_dtype(StoredDType dtype);
// Whether a stored tensor converts into `target`: floats into F32, integers into
// I32 or I64. Integers never load into float tensors, nor floats into integer ones.
bool converts_to(StoredDType from, DType target);

// A new CPU tensor of dtype `target` holding `stored`'s values (converts_to must
// hold). Appends to `conversions` when the dtype changed. Throws convnet::Error
// (prefixed by view.where) for an I64 value outside int32.
Tensor to_tensor(const SafetensorsView& view, const StoredTensor& stored, DType target,
                 std::vector<Conversion>& conversions);

// Reads a whole file into memory; errors are "<op>: cannot open <path>: <reason>".
std::string read_file_bytes(const std::string& op, const std::string& path);

constexpr const char* kMemoryBuffer = "<memory buffer>";

}  // namespace convnet::io::detail
