// libFuzzer target: io::read_safetensors_buffer, the whole-file reader (header
// parse, layout validation, dtype conversions), on arbitrary bytes.
// Accepted: a SafetensorsFile, or convnet::Error. A file that reads must read
// the same a second time (no hidden state) and hold what it claims.
#include <cstdint>
#include <cstring>

#include "convnet/error.hpp"
#include "convnet/io/safetensors.hpp"
#include "fuzz_common.hpp"

namespace {

using convnet_fuzz::fuzz_fail;

void check(const convnet::io::SafetensorsFile& file) {
  for (const auto& [name, tensor] : file.tensors) {
    if (file.find(name) == nullptr) fuzz_fail("fuzz_safetensors", "find(\"" + name + "\") failed");
    if (tensor.dtype() != convnet::DType::F32 && tensor.dtype() != convnet::DType::I32)
      fuzz_fail("fuzz_safetensors", name + " is neither F32 nor I32");
    // Touch every byte, so that a tensor shorter than its shape claims is an
    // AddressSanitizer report here.
    const auto* bytes = static_cast<const unsigned char*>(tensor.raw_data());
    unsigned sum = 0;
    for (size_t i = 0; i < tensor.nbytes(); ++i) sum += bytes[i];
    volatile unsigned sink = sum;
    (void)sink;
  }
  if (file.conversions.size() > file.tensors.size())
    fuzz_fail("fuzz_safetensors", "more conversions than tensors");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  convnet::io::SafetensorsFile file;
  try {
    file = convnet::io::read_safetensors_buffer(data, size);
  } catch (const convnet::Error&) {
    return 0;
  }
  check(file);
  const convnet::io::SafetensorsFile again = convnet::io::read_safetensors_buffer(data, size);
  if (again.tensors.size() != file.tensors.size() || again.metadata != file.metadata)
    fuzz_fail("fuzz_safetensors", "a second read of the same bytes differs");
  for (size_t i = 0; i < file.tensors.size(); ++i) {
    const convnet::Tensor& a = file.tensors[i].second;
    const convnet::Tensor& b = again.tensors[i].second;
    if (file.tensors[i].first != again.tensors[i].first || a.shape() != b.shape() ||
        a.dtype() != b.dtype() ||
        (a.nbytes() > 0 && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) != 0))
      fuzz_fail("fuzz_safetensors", "a second read of the same bytes differs");
  }
  return 0;
}
