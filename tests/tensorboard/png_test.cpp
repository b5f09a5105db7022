// The PNG encoder's files decoded here by hand with zlib: signature, chunk
// order and CRCs, the header's fields, and every pixel back exactly.
#include <gtest/gtest.h>

#ifdef CONVNET_WITH_TENSORBOARD

#include <cstdint>
#include <string>
#include <vector>

#include "convnet/error.hpp"
#include "tensorboard/png.hpp"
#include "tensorboard/png_decode.hpp"

namespace convnet::tensorboard {
namespace {

using test::decode_png;
using test::DecodedPng;

std::vector<uint8_t> pattern(size_t count) {
  std::vector<uint8_t> values(count);
  for (size_t i = 0; i < count; ++i) values[i] = static_cast<uint8_t>((i * 37 + i / 7) & 0xFF);
  return values;
}

TEST(PngEncoder, GrayscaleRoundTrip) {
  for (const auto& [width, height] : std::vector<std::pair<int, int>>{{1, 1}, {7, 3}, {33, 65}}) {
    const std::vector<uint8_t> pixels = pattern(static_cast<size_t>(width) * height);
    const DecodedPng d = decode_png(encode_png(pixels.data(), width, height, 1));
    EXPECT_EQ(d.width, static_cast<uint32_t>(width));
    EXPECT_EQ(d.height, static_cast<uint32_t>(height));
    EXPECT_EQ(d.bit_depth, 8);
    EXPECT_EQ(d.colour_type, 0);
    EXPECT_EQ(d.pixels, pixels) << width << " x " << height;
  }
}

TEST(PngEncoder, RgbRoundTrip) {
  const int width = 5, height = 4;
  const std::vector<uint8_t> pixels = pattern(static_cast<size_t>(width) * height * 3);
  const DecodedPng d = decode_png(encode_png(pixels.data(), width, height, 3));
  EXPECT_EQ(d.width, 5u);
  EXPECT_EQ(d.height, 4u);
  EXPECT_EQ(d.bit_depth, 8);
  EXPECT_EQ(d.colour_type, 2);
  EXPECT_EQ(d.pixels, pixels);
}

TEST(PngEncoder, RefusesBadSizesAndChannels) {
  const std::vector<uint8_t> pixels(16, 0);
  EXPECT_THROW(encode_png(pixels.data(), 0, 4, 1), Error);
  EXPECT_THROW(encode_png(pixels.data(), 4, -1, 1), Error);
  EXPECT_THROW(encode_png(pixels.data(), 2, 2, 2), Error);
  EXPECT_THROW(encode_png(pixels.data(), 2, 2, 4), Error);
}

}  // namespace
}  // namespace convnet::tensorboard

#endif  // CONVNET_WITH_TENSORBOARD
