// Decoding what tensorboard/png.cpp writes, for the tests, with zlib alone:
// the signature, chunk order and CRCs and the header are checked as it goes
// (gtest EXPECTs); filter type 0 is the only one it accepts.
#pragma once

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

namespace convnet::test {

inline uint32_t big_endian(const std::string& bytes, size_t at) {
  uint32_t value = 0;
  for (size_t i = 0; i < 4; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  return value;
}

struct DecodedPng {
  uint32_t width = 0, height = 0;
  int bit_depth = 0, colour_type = 0;
  std::vector<uint8_t> pixels;  // rows without their filter bytes
};

// A decoder for what encode_png writes (and checks it wrote nothing else).
inline DecodedPng decode_png(const std::string& png) {
  DecodedPng out;
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  std::vector<std::string> types;
  std::string idat;
  size_t at = 8;
  while (at + 12 <= png.size()) {
    const uint32_t length = big_endian(png, at);
    const std::string type = png.substr(at + 4, 4);
    const std::string data = png.substr(at + 8, length);
    const uint32_t crc = big_endian(png, at + 8 + length);
    EXPECT_EQ(crc, ::crc32(::crc32(0L, reinterpret_cast<const Bytef*>(type.data()), 4),
                           reinterpret_cast<const Bytef*>(data.data()), length))
        << type << " chunk CRC";
    types.push_back(type);
    if (type == "IHDR") {
      out.width = big_endian(data, 0);
      out.height = big_endian(data, 4);
      out.bit_depth = data[8];
      out.colour_type = data[9];
      EXPECT_EQ(data.substr(10), std::string(3, '\0'));  // deflate, filter method 0, no interlace
    }
    if (type == "IDAT") idat += data;
    at += 12 + length;
  }
  EXPECT_EQ(at, png.size());
  EXPECT_EQ(types, (std::vector<std::string>{"IHDR", "IDAT", "IEND"}));
  const int channels = out.colour_type == 2 ? 3 : 1;
  const size_t row = out.width * channels;
  std::vector<uint8_t> raw((row + 1) * out.height);
  uLongf raw_size = raw.size();
  EXPECT_EQ(::uncompress(raw.data(), &raw_size, reinterpret_cast<const Bytef*>(idat.data()), idat.size()),
            Z_OK);
  EXPECT_EQ(raw_size, raw.size());
  for (uint32_t y = 0; y < out.height; ++y) {
    EXPECT_EQ(raw[y * (row + 1)], 0) << "row " << y << ": filter type";
    out.pixels.insert(out.pixels.end(), raw.begin() + y * (row + 1) + 1, raw.begin() + (y + 1) * (row + 1));
  }
  return out;
}

}  // namespace convnet::test
