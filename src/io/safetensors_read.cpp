// Reading safetensors files. The file is untrusted input: every length, offset
// and shape is checked against the file's real size before anything is copied,
// so a truncated or hand-edited file gives a message, never a crash.
#include <algorithm>
#include <cstdint>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "convnet/io/safetensors.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian; a big-endian host needs byte swapping here");

namespace convnet::io {
namespace {

using Json = nlohmann::ordered_json;  // keeps the file's tensor order

// The reference implementation's limit: a larger header is surely not a checkpoint.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

std::string read_whole_file(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr)
    CONVNET_FAIL("read_safetensors: cannot open ", path, ": ", std::strerror(errno));
  std::string bytes;
  char chunk[1 << 16];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof chunk, file)) > 0) bytes.append(chunk, got);
  const bool failed = std::ferror(file) != 0;
  const int saved_errno = errno;
  std::fclose(file);
  if (failed)
    CONVNET_FAIL("read_safetensors: cannot read ", path, ": ", std::strerror(saved_errno));
  return bytes;
}

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

// One tensor's header entry, with its size checked against its shape.
Entry parse_entry(const std::string& where, const std::string& name, const Json& value) {
  CONVNET_CHECK(value.is_object(), where, "tensor \"", name, "\": expected a JSON object, found ",
                value.dump());
  const auto field = [&](const char* key) -> const Json& {
    const auto it = value.find(key);
    CONVNET_CHECK(it != value.end(), where, "tensor \"", name, "\" has no \"", key, "\"");
    return *it;
  };
  const Json& dtype = field("dtype");
  const Json& shape = field("shape");
  const Json& offsets = field("data_offsets");
  CONVNET_CHECK(dtype.is_string(), where, "tensor \"", name, "\": dtype must be a string");
  Entry entry{name, DType::F32, {}, 0, 0};
  if (dtype == "F32") {
    entry.dtype = DType::F32;
  } else if (dtype == "I32") {
    entry.dtype = DType::I32;
  } else {
    CONVNET_FAIL(where, "tensor \"", name, "\" has dtype ", dtype.dump(),
                 "; convnet reads F32 and I32");
  }
  CONVNET_CHECK(shape.is_array(), where, "tensor \"", name, "\": shape must be an array");
  std::vector<int64_t> dims;
  for (const Json& d : shape) {
    CONVNET_CHECK(d.is_number_unsigned() && d.get<uint64_t>() <= uint64_t(INT64_MAX), where,
                  "tensor \"", name, "\": shape ", shape.dump(), " must hold non-negative integers");
    dims.push_back(d.get<int64_t>());
  }
  // Checked as it grows so that neither the product nor its byte size overflows.
  constexpr uint64_t kMaxElements = uint64_t(INT64_MAX) / 8;
  uint64_t numel = std::count(dims.begin(), dims.end(), 0) > 0 ? 0 : 1;
  for (int64_t extent : dims) {
    if (numel == 0) break;
    CONVNET_CHECK(uint64_t(extent) <= kMaxElements / numel, where, "tensor \"", name,
                  "\": shape ", shape.dump(), " is impossibly large");
    numel *= uint64_t(extent);
  }
  entry.shape = Shape(dims);
  CONVNET_CHECK(offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() &&
                    offsets[1].is_number_unsigned(),
                where, "tensor \"", name, "\": data_offsets must be [begin, end], found ",
                offsets.dump());
  entry.begin = offsets[0].get<uint64_t>();
  entry.end = offsets[1].get<uint64_t>();
  CONVNET_CHECK(entry.begin <= entry.end, where, "tensor \"", name, "\": data_offsets ",
                offsets.dump(), " end before they begin");
  const uint64_t expected = numel * dtype_size(entry.dtype);
  CONVNET_CHECK(entry.end - entry.begin == expected, where, "tensor \"", name, "\": shape ",
                entry.shape, " ", dtype.get<std::string>(), " needs ", expected,
                " bytes but data_offsets ", offsets.dump(), " hold ", entry.end - entry.begin);
  return entry;
}

Metadata parse_metadata(const std::string& where, const Json& value) {
  CONVNET_CHECK(value.is_object(), where, "__metadata__ must be an object of strings");
  Metadata metadata;
  for (const auto& [key, v] : value.items()) {
    CONVNET_CHECK(v.is_string(), where, "__metadata__ \"", key, "\" must be a string, found ",
                  v.dump());
    metadata[key] = v.get<std::string>();
  }
  return metadata;
}

// Tensors tile the buffer: sorted by offset, each begins where the previous ended.
void check_layout(const std::string& where, std::vector<Entry> entries, uint64_t buffer_bytes) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t cursor = 0;
  for (const Entry& e : entries) {
    CONVNET_CHECK(e.begin <= cursor, where, "tensor \"", e.name, "\" begins at byte ", e.begin,
                  " but the previous tensor ends at ", cursor, ": a hole in the data buffer");
    CONVNET_CHECK(e.begin >= cursor, where, "tensor \"", e.name, "\" begins at byte ", e.begin,
                  " inside the previous tensor, which ends at ", cursor, ": overlapping data");
    cursor = e.end;
  }
  CONVNET_CHECK(buffer_bytes >= cursor, where, "truncated: the header describes ", cursor,
                " bytes of data but the file holds ", buffer_bytes);
  CONVNET_CHECK(buffer_bytes == cursor, where, buffer_bytes - cursor,
                " bytes after the last tensor (the header describes ", cursor, ")");
}

}  // namespace

const Tensor* SafetensorsFile::find(const std::string& name) const {
  for (const auto& [n, tensor] : tensors)
    if (n == name) return &tensor;
  return nullptr;
}

SafetensorsFile read_safetensors(const std::string& path) {
  const std::string where = "read_safetensors: " + path + ": ";
  const std::string bytes = read_whole_file(path);
  CONVNET_CHECK(bytes.size() >= 8, where, "truncated: ", bytes.size(),
                " bytes, shorter than the 8-byte header length");
  uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = header_bytes << 8 | static_cast<unsigned char>(bytes[i]);
  const uint64_t after_length = bytes.size() - 8;
  CONVNET_CHECK(header_bytes <= after_length, where, "header length ", header_bytes,
                " is larger than the ", after_length,
                " bytes that follow it (truncated, or not a safetensors file)");
  CONVNET_CHECK(header_bytes < kMaxHeaderBytes, where, "header length ", header_bytes,
                " is over the 100 MB limit (not a safetensors file?)");
  const std::string text = bytes.substr(8, header_bytes);
  CONVNET_CHECK(!text.empty() && text[0] == '{', where,
                "the header does not start with '{' (not a safetensors file?)");

  // A JSON object may legally repeat a key, the last one winning; in a header
  // that hides a tensor, so it is an error.
  std::set<std::string> names;
  std::string repeated;
  const auto find_repeats = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::key && depth == 1 &&
        !names.insert(parsed.get<std::string>()).second)
      repeated = parsed.get<std::string>();
    return true;
  };
  Json header;
  try {
    header = Json::parse(text, find_repeats);
  } catch (const Json::parse_error& e) {
    CONVNET_FAIL(where, "corrupt JSON header: ", e.what());
  }
  CONVNET_CHECK(repeated.empty(), where, "the header names \"", repeated, "\" twice");
  CONVNET_CHECK(header.is_object(), where, "the header must be a JSON object");

  const uint64_t buffer_bytes = after_length - header_bytes;
  SafetensorsFile file;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      file.metadata = parse_metadata(where, value);
    } else {
      entries.push_back(parse_entry(where, name, value));
    }
  }
  check_layout(where, entries, buffer_bytes);

  const char* buffer = bytes.data() + 8 + header_bytes;
  for (const Entry& e : entries) {
    Tensor tensor = Tensor::empty(e.shape, Device::cpu(), e.dtype);
    if (tensor.nbytes() != 0) std::memcpy(tensor.raw_data(), buffer + e.begin, tensor.nbytes());
    file.tensors.emplace_back(e.name, std::move(tensor));
  }
  return file;
}

}  // namespace convnet::io
