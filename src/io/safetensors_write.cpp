// Writing safetensors files, atomically (io/atomic_file.hpp): a reader sees
// the old file or the new one, never half of either, even if we are killed or
// the disk fills up midway.
#include <nlohmann/json.hpp>
#include <set>

#include "convnet/io/safetensors.hpp"
#include "io/atomic_file.hpp"

// The format stores little-endian values and we write host memory as is.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian; a big-endian host needs byte swapping here");

namespace convnet::io {
namespace {

const char* safetensors_dtype(DType dtype) {
  switch (dtype) {
    case DType::F32: return "F32";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
  }
  CONVNET_FAIL("write_safetensors: unknown dtype");
}

// The JSON header, padded with spaces so the data starts at a multiple of 8.
std::string make_header(const NamedTensors& tensors, const Metadata& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  // The reference writer puts __metadata__ first; readers accept any order.
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    CONVNET_CHECK(!name.empty(), "write_safetensors: a tensor has an empty name");
    CONVNET_CHECK(name != "__metadata__", "write_safetensors: \"__metadata__\" is reserved");
    CONVNET_CHECK(seen.insert(name).second, "write_safetensors: tensor name \"", name,
                  "\" appears twice");
    CONVNET_CHECK(tensor.defined(), "write_safetensors: tensor \"", name, "\" is undefined");
    const uint64_t end = offset + tensor.nbytes();
    header[name] = {{"dtype", safetensors_dtype(tensor.dtype())},
                    {"shape", tensor.shape().dims()},
                    {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {  // names that are not valid UTF-8
    CONVNET_FAIL("write_safetensors: cannot encode the header: ", e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

}  // namespace

void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const Metadata& metadata) {
  const std::string header = make_header(tensors, metadata);
  unsigned char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(uint64_t(header.size()) >> (8 * i));

  detail::AtomicFile file("write_safetensors", path);
  file.write(length, sizeof length);
  file.write(header.data(), header.size());
  for (const auto& entry : tensors) {
    const Tensor host = entry.second.to(Device::cpu());  // same tensor when already there
    file.write(host.raw_data(), host.nbytes());
  }
  file.commit();
}

}  // namespace convnet::io
