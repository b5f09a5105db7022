// CRC-32C (Castagnoli), the checksum of TFRecord framing, and TensorFlow's
// "masked" form of it. The mask exists because a CRC over data that itself
// holds CRCs (a record of records) is weak; rotating and adding a constant
// breaks that (tensorflow/core/lib/hash/crc32c.h).
#pragma once

#include <cstddef>
#include <cstdint>

namespace convnet::tensorboard {

// Extends `crc` (the CRC of earlier bytes, 0 to start) over `size` bytes.
uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);

inline uint32_t mask_crc32c(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

inline uint32_t masked_crc32c(const void* data, size_t size) {
  return mask_crc32c(crc32c(data, size));
}

}  // namespace convnet::tensorboard
