// A minimal PNG encoder for TensorBoard images: 8-bit grayscale or RGB, no
// interlacing, every row with filter type 0 (none), one IDAT chunk deflated by
// zlib. Filters and several chunks would make files smaller; a filter grid
// once an epoch is a few kilobytes either way.
#pragma once

#include <cstdint>
#include <string>

namespace convnet::tensorboard {

// `pixels`: height rows of width * channels bytes, channels interleaved (RGB);
// channels is 1 (grayscale) or 3 (RGB). Returns the PNG file's bytes.
// Throws convnet::Error on bad sizes or when zlib fails.
std::string encode_png(const uint8_t* pixels, int width, int height, int channels);

}  // namespace convnet::tensorboard
