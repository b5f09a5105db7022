// CRC-32C against published vectors (RFC 3720 B.4 and the usual "123456789"
// check value) and the masked form against TensorBoard's own Python
// implementation (tensorboard.compat.tensorflow_stub.pywrap_tensorflow).
#include <gtest/gtest.h>

#ifdef CONVNET_WITH_TENSORBOARD

#include <cstdint>
#include <string>
#include <vector>

#include "tensorboard/crc32c.hpp"

namespace convnet::tensorboard {
namespace {

uint32_t crc_of(const std::vector<uint8_t>& bytes) { return crc32c(bytes.data(), bytes.size()); }

TEST(Crc32c, KnownVectors) {
  const std::string check = "123456789";
  EXPECT_EQ(crc32c(check.data(), check.size()), 0xE3069283u);
  EXPECT_EQ(crc_of(std::vector<uint8_t>(32, 0x00)), 0x8A9136AAu);
  EXPECT_EQ(crc_of(std::vector<uint8_t>(32, 0xFF)), 0x62A8AB43u);
  std::vector<uint8_t> ascending(32), descending(32);
  for (int i = 0; i < 32; ++i) {
    ascending[i] = static_cast<uint8_t>(i);
    descending[i] = static_cast<uint8_t>(31 - i);
  }
  EXPECT_EQ(crc_of(ascending), 0x46DD794Eu);
  EXPECT_EQ(crc_of(descending), 0x113FDB5Cu);
  EXPECT_EQ(crc32c(nullptr, 0), 0u);
}

TEST(Crc32c, ExtendsAcrossPieces) {
  const std::string text = "123456789";
  const uint32_t first = crc32c(text.data(), 4);
  EXPECT_EQ(crc32c(text.data() + 4, text.size() - 4, first), 0xE3069283u);
}

TEST(Crc32c, MaskedAsTensorBoardComputesIt) {
  const std::string check = "123456789";
  EXPECT_EQ(masked_crc32c(check.data(), check.size()), 0xC78AB0E5u);
  const std::vector<uint8_t> zero_length(8, 0);  // the length field of an empty record
  EXPECT_EQ(masked_crc32c(zero_length.data(), 8), 0x07980329u);
  const uint8_t length_300[8] = {0x2C, 0x01, 0, 0, 0, 0, 0, 0};  // 300, little-endian
  EXPECT_EQ(masked_crc32c(length_300, 8), 0x9D5BFEF2u);
  EXPECT_EQ(mask_crc32c(0xE3069283u), 0xC78AB0E5u);
}

}  // namespace
}  // namespace convnet::tensorboard

#endif  // CONVNET_WITH_TENSORBOARD
