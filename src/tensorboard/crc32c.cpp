// CRC-32C, one table lookup per byte: event files are small (a few records an
// epoch), so the slicing-by-8 or SSE4.2 versions would buy nothing here.
#include "tensorboard/crc32c.hpp"

#include <array>

namespace convnet::tensorboard {
namespace {

// The Castagnoli polynomial 0x1EDC6F41, bit-reversed (CRCs here run LSB first).
constexpr uint32_t kPolynomial = 0x82F63B78u;

constexpr std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t byte = 0; byte < 256; ++byte) {
    uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1u) ? kPolynomial : 0u);
    table[byte] = crc;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kTable = make_table();

}  // namespace

uint32_t crc32c(const void* data, size_t size, uint32_t crc) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = kTable[(crc ^ bytes[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

}  // namespace convnet::tensorboard
