// PNG layout (RFC 2083): the 8-byte signature, then chunks, each a 4-byte
// big-endian length, a 4-byte type, the data, and a CRC-32 (zlib's, the
// ISO-HDLC polynomial, not CRC-32C) over type and data.
#include "tensorboard/png.hpp"

#include <zlib.h>

#include <vector>

#include "convnet/error.hpp"

namespace convnet::tensorboard {
namespace {

void put_u32_big_endian(std::string& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((value >> shift) & 0xFFu));
}

void put_chunk(std::string& out, const char type[4], const std::string& data) {
  put_u32_big_endian(out, static_cast<uint32_t>(data.size()));
  const size_t type_at = out.size();
  out.append(type, 4);
  out += data;
  const auto* checked = reinterpret_cast<const Bytef*>(out.data() + type_at);
  put_u32_big_endian(out, static_cast<uint32_t>(::crc32(0L, checked, static_cast<uInt>(4 + data.size()))));
}

}  // namespace

std::string encode_png(const uint8_t* pixels, int width, int height, int channels) {
  CONVNET_CHECK(width > 0 && height > 0, "encode_png: the image is ", width, " x ", height,
                "; both sides must be positive");
  CONVNET_CHECK(channels == 1 || channels == 3, "encode_png: ", channels,
                " channels; only 1 (grayscale) or 3 (RGB) are written");
  const size_t row_bytes = static_cast<size_t>(width) * channels;
  // One IDAT chunk holds at most 2^31 - 1 bytes; images here are far smaller.
  CONVNET_CHECK(row_bytes + 1 <= (size_t{1} << 30) / static_cast<size_t>(height),
                "encode_png: a ", width, " x ", height, " image is too large");

  // Each row is prefixed with its filter type, 0 = none.
  std::vector<Bytef> raw;
  raw.reserve((row_bytes + 1) * height);
  for (int y = 0; y < height; ++y) {
    raw.push_back(0);
    raw.insert(raw.end(), pixels + y * row_bytes, pixels + (y + 1) * row_bytes);
  }
  uLongf deflated_size = ::compressBound(static_cast<uLong>(raw.size()));
  std::string deflated(deflated_size, '\0');
  const int status = ::compress2(reinterpret_cast<Bytef*>(deflated.data()), &deflated_size,
                                 raw.data(), static_cast<uLong>(raw.size()), Z_BEST_COMPRESSION);
  CONVNET_CHECK(status == Z_OK, "encode_png: zlib's compress2 failed with status ", status);
  deflated.resize(deflated_size);

  std::string header;
  put_u32_big_endian(header, static_cast<uint32_t>(width));
  put_u32_big_endian(header, static_cast<uint32_t>(height));
  header.push_back(8);                          // bits per channel
  header.push_back(channels == 1 ? 0 : 2);      // colour type: grayscale or RGB
  header.append(3, '\0');                       // deflate, adaptive filtering, no interlace

  std::string png("\x89PNG\r\n\x1a\n", 8);
  put_chunk(png, "IHDR", header);
  put_chunk(png, "IDAT", deflated);
  put_chunk(png, "IEND", "");
  return png;
}

}  // namespace convnet::tensorboard
