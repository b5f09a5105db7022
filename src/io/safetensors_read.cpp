// Reading safetensors files and buffers. The bytes are untrusted input: every
// length, offset and shape is checked against their real size before anything
// is copied, so a truncated or hand-edited file gives a message, never a crash.
// One parser (parse_safetensors) serves files and memory buffers alike; the
// dtype conversions are in safetensors_convert.cpp.
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <vector>

#include "io/safetensors_view.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian; a big-endian host needs byte swapping here");

namespace convnet::io {
namespace detail {
namespace {

using Json = nlohmann::ordered_json;  // keeps the file's tensor order

// The reference implementation's limit: a larger header is surely not a checkpoint.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// A header nests three deep ({"name": {"shape": [...]}}). Each level costs the
// JSON parser ~100 bytes, so 100 MB of "[[[[" would cost gigabytes: refused
// before the parser builds it.
constexpr int kMaxNesting = 8;

struct Entry {
  std::string name;
  StoredDType dtype;
  Shape shape;
  uint64_t begin, end;
};

struct DTypeInfo {
  StoredDType dtype;
  const char* name;
  size_t size;
};

constexpr DTypeInfo kDTypes[] = {
    {StoredDType::BOOL, "BOOL", 1}, {StoredDType::U8, "U8", 1},     {StoredDType::I8, "I8", 1},
    {StoredDType::F8_E5M2, "F8_E5M2", 1}, {StoredDType::F8_E4M3, "F8_E4M3", 1},
    {StoredDType::F8_E8M0, "F8_E8M0", 1},
    {StoredDType::I16, "I16", 2},   {StoredDType::U16, "U16", 2},   {StoredDType::F16, "F16", 2},
    {StoredDType::BF16, "BF16", 2}, {StoredDType::I32, "I32", 4},   {StoredDType::U32, "U32", 4},
    {StoredDType::F32, "F32", 4},   {StoredDType::I64, "I64", 8},   {StoredDType::U64, "U64", 8},
    {StoredDType::F64, "F64", 8},   {StoredDType::C64, "C64", 8},
};

// A JSON value for a message, cut short: a hostile header may hold megabytes in one value.
std::string brief(const Json& value) {
  std::string text = value.dump();
  if (text.size() > 80) text = text.substr(0, 72) + " ...";
  return text;
}

// Where `bytes` stops being UTF-8 (the format requires it; nlohmann checks only
// inside strings and would quote the bad bytes into its message), or npos.
// Overlong forms, surrogates and code points past U+10FFFF are invalid too.
size_t invalid_utf8_at(const std::string& bytes) {
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  for (size_t i = 0; i < n;) {
    const unsigned char lead = s[i];
    if (lead < 0x80) {
      ++i;
      continue;
    }
    size_t length;
    unsigned char low = 0x80, high = 0xBF;  // the allowed range of the second byte
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) low = 0xA0;   // overlong
      if (lead == 0xED) high = 0x9F;  // surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) low = 0x90;   // overlong
      if (lead == 0xF4) high = 0x8F;  // past U+10FFFF
    } else {
      return i;
    }
    if (i + length > n || s[i + 1] < low || s[i + 1] > high) return i;
    for (size_t k = 2; k < length; ++k)
      if (s[i + k] < 0x80 || s[i + k] > 0xBF) return i;
    i += length;
  }
  return std::string::npos;
}

const DTypeInfo& info(StoredDType dtype) {
  for (const DTypeInfo& i : kDTypes)
    if (i.dtype == dtype) return i;
  CONVNET_FAIL("safetensors: unknown stored dtype");
}

// One tensor's header entry, with its size checked against its shape.
Entry parse_entry(const std::string& where, const std::string& name, const Json& value) {
  CONVNET_CHECK(value.is_object(), where, "tensor \"", name, "\": expected a JSON object, found ",
                brief(value));
  const auto field = [&](const char* key) -> const Json& {
    const auto it = value.find(key);
    CONVNET_CHECK(it != value.end(), where, "tensor \"", name, "\" has no \"", key, "\"");
    return *it;
  };
  const Json& dtype = field("dtype");
  const Json& shape = field("shape");
  const Json& offsets = field("data_offsets");
  CONVNET_CHECK(dtype.is_string(), where, "tensor \"", name, "\": dtype must be a string");
  Entry entry{name, StoredDType::F32, {}, 0, 0};
  const auto known = std::find_if(std::begin(kDTypes), std::end(kDTypes),
                                  [&](const DTypeInfo& i) { return dtype == i.name; });
  // Sub-byte dtypes (F4, F6_*) and any future ones: their size is unknown here, so
  // the layout could not be checked.
  CONVNET_CHECK(known != std::end(kDTypes), where, "tensor \"", name, "\" has dtype ",
                brief(dtype), ", which is not a safetensors dtype convnet knows");
  entry.dtype = known->dtype;
  CONVNET_CHECK(shape.is_array(), where, "tensor \"", name, "\": shape must be an array");
  std::vector<int64_t> dims;
  for (const Json& d : shape) {
    CONVNET_CHECK(d.is_number_unsigned() && d.get<uint64_t>() <= uint64_t(INT64_MAX), where,
                  "tensor \"", name, "\": shape ", brief(shape), " must hold non-negative integers");
    dims.push_back(d.get<int64_t>());
  }
  // Checked as it grows so that neither the product nor its byte size overflows.
  // In order, like Shape::numel (and the reference implementation's checked
  // product): a zero extent after the overflow, [2^32, 2^32, 0], is no excuse
  // (found by tests/fuzz/fuzz_safetensors).
  constexpr uint64_t kMaxElements = uint64_t(INT64_MAX) / 8;
  uint64_t numel = 1;
  for (int64_t extent : dims) {
    if (numel == 0) break;
    CONVNET_CHECK(uint64_t(extent) <= kMaxElements / numel, where, "tensor \"", name,
                  "\": shape ", brief(shape),
                  " is impossibly large: its size in bytes overflows int64");
    numel *= uint64_t(extent);
  }
  entry.shape = Shape(dims);
  CONVNET_CHECK(offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() &&
                    offsets[1].is_number_unsigned(),
                where, "tensor \"", name, "\": data_offsets must be [begin, end], found ",
                brief(offsets));
  entry.begin = offsets[0].get<uint64_t>();
  entry.end = offsets[1].get<uint64_t>();
  CONVNET_CHECK(entry.begin <= entry.end, where, "tensor \"", name, "\": data_offsets ",
                brief(offsets), " end before they begin");
  const uint64_t expected = numel * info(entry.dtype).size;
  CONVNET_CHECK(entry.end - entry.begin == expected, where, "tensor \"", name, "\": shape ",
                entry.shape, " ", dtype.get<std::string>(), " needs ", expected,
                " bytes but data_offsets ", brief(offsets), " hold ", entry.end - entry.begin);
  return entry;
}

Metadata parse_metadata(const std::string& where, const Json& value) {
  CONVNET_CHECK(value.is_object(), where, "__metadata__ must be an object of strings");
  Metadata metadata;
  for (const auto& [key, v] : value.items()) {
    CONVNET_CHECK(v.is_string(), where, "__metadata__ \"", key, "\" must be a string, found ",
                  brief(v));
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
                " bytes of data but only ", buffer_bytes, " follow the header");
  CONVNET_CHECK(buffer_bytes == cursor, where, buffer_bytes - cursor,
                " bytes after the last tensor (the header describes ", cursor, ")");
}

}  // namespace

const char* stored_dtype_name(StoredDType dtype) { return info(dtype).name; }

std::string stored_dtype_lower(StoredDType dtype) {
  std::string name = info(dtype).name;
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

size_t stored_dtype_size(StoredDType dtype) { return info(dtype).size; }

std::string read_file_bytes(const std::string& op, const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) CONVNET_FAIL(op, ": cannot open ", path, ": ", std::strerror(errno));
  std::string bytes;
  // Sized from the file itself (never from what its header claims), once, so a
  // large checkpoint is not copied as the string doubles.
  struct stat info {};
  if (::fstat(::fileno(file), &info) == 0 && S_ISREG(info.st_mode) && info.st_size > 0)
    bytes.reserve(static_cast<size_t>(info.st_size));
  char chunk[1 << 16];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof chunk, file)) > 0) bytes.append(chunk, got);
  const bool failed = std::ferror(file) != 0;
  const int saved_errno = errno;
  std::fclose(file);
  if (failed) CONVNET_FAIL(op, ": cannot read ", path, ": ", std::strerror(saved_errno));
  return bytes;
}

SafetensorsView parse_safetensors(std::string where, const unsigned char* data, size_t size) {
  CONVNET_CHECK(size >= 8, where, "truncated: ", size,
                " bytes, shorter than the 8-byte header length");
  uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = header_bytes << 8 | data[i];
  const uint64_t after_length = size - 8;
  CONVNET_CHECK(header_bytes <= after_length, where, "header length ", header_bytes,
                " is larger than the ", after_length,
                " bytes that follow it (truncated, or not a safetensors file)");
  CONVNET_CHECK(header_bytes < kMaxHeaderBytes, where, "header length ", header_bytes,
                " is over the 100 MB limit (not a safetensors file?)");
  const std::string text(reinterpret_cast<const char*>(data) + 8, header_bytes);
  CONVNET_CHECK(!text.empty() && text[0] == '{', where,
                "the header does not start with '{' (not a safetensors file?)");
  const size_t bad_byte = invalid_utf8_at(text);
  if (bad_byte != std::string::npos) {
    char shown[8];
    std::snprintf(shown, sizeof shown, "0x%02x", static_cast<unsigned char>(text[bad_byte]));
    CONVNET_FAIL(where, "the header is not valid UTF-8: byte ", 8 + bad_byte, " of the file is ",
                 shown, " (the format's header is UTF-8 JSON)");
  }

  // A JSON object may legally repeat a key, the last one winning; in a header
  // that hides a tensor (or one tensor's dtype, or a metadata value), so it is
  // an error at every level.
  struct Level {
    std::string name;  // the key this object is the value of (unused at the top)
    std::set<std::string> keys;
    std::string last_key;
  };
  std::vector<Level> levels;
  std::string repeated, repeated_in;
  bool repeated_at_top = false;
  const auto check_event = [&](int depth, Json::parse_event_t event, Json& parsed) {
    const bool opens = event == Json::parse_event_t::object_start ||
                       event == Json::parse_event_t::array_start;
    // Thrown through the parser, which cleans up after itself.
    if (opens && depth >= kMaxNesting)
      CONVNET_FAIL(where, "the header nests more than ", kMaxNesting,
                   " levels deep, which no safetensors header does");
    if (event == Json::parse_event_t::object_start) {
      levels.push_back({levels.empty() ? "" : levels.back().last_key, {}, {}});
    } else if (event == Json::parse_event_t::object_end) {
      levels.pop_back();
    } else if (event == Json::parse_event_t::key && !levels.empty()) {
      Level& level = levels.back();
      level.last_key = parsed.get<std::string>();
      if (!level.keys.insert(level.last_key).second && repeated.empty()) {
        repeated = level.last_key;
        repeated_in = level.name;
        repeated_at_top = levels.size() == 1;
      }
    }
    return true;
  };
  Json header;
  try {
    header = Json::parse(text, check_event);
  } catch (const Json::exception& e) {  // parse_error, and out_of_range for a number like 1E468
    CONVNET_FAIL(where, "corrupt JSON header: ", e.what());
  }
  CONVNET_CHECK(repeated.empty() || !repeated_at_top, where, "the header names \"", repeated,
                "\" twice");
  CONVNET_CHECK(repeated.empty(), where, "the header's \"", repeated_in, "\" has the key \"",
                repeated, "\" twice");
  CONVNET_CHECK(header.is_object(), where, "the header must be a JSON object");

  const uint64_t buffer_bytes = after_length - header_bytes;
  SafetensorsView view;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      view.metadata = parse_metadata(where, value);
    } else {
      entries.push_back(parse_entry(where, name, value));
    }
  }
  check_layout(where, entries, buffer_bytes);

  const unsigned char* buffer = data + 8 + header_bytes;
  for (Entry& e : entries)
    view.tensors.push_back({std::move(e.name), e.dtype, std::move(e.shape), buffer + e.begin,
                            e.end - e.begin});
  view.where = std::move(where);
  return view;
}

}  // namespace detail

namespace {

SafetensorsFile read_view(const detail::SafetensorsView& view) {
  SafetensorsFile file;
  file.metadata = view.metadata;
  for (const detail::StoredTensor& stored : view.tensors) {
    const std::optional<DType> dtype = detail::natural_dtype(stored.dtype);
    CONVNET_CHECK(dtype.has_value(), view.where, "tensor \"", stored.name, "\" has dtype \"",
                  detail::stored_dtype_name(stored.dtype),
                  "\"; convnet reads F32 and I32, and converts F16, BF16 and F64 to F32 and "
                  "I64 to I32");
    file.tensors.emplace_back(stored.name,
                              detail::to_tensor(view, stored, *dtype, file.conversions));
  }
  return file;
}

}  // namespace

const Tensor* SafetensorsFile::find(const std::string& name) const {
  for (const auto& [n, tensor] : tensors)
    if (n == name) return &tensor;
  return nullptr;
}

SafetensorsFile read_safetensors(const std::string& path) {
  const std::string bytes = detail::read_file_bytes("read_safetensors", path);
  return read_view(detail::parse_safetensors("read_safetensors: " + path + ": ",
                                             reinterpret_cast<const unsigned char*>(bytes.data()),
                                             bytes.size()));
}

SafetensorsFile read_safetensors_buffer(const void* data, size_t size) {
  CONVNET_CHECK(data != nullptr || size == 0, "read_safetensors_buffer: data is null but size is ",
                size);
  return read_view(detail::parse_safetensors(
      std::string("read_safetensors_buffer: ") + detail::kMemoryBuffer + ": ",
      static_cast<const unsigned char*>(data), size));
}

}  // namespace convnet::io
