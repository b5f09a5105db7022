// Reading a PGM image (netpbm's greyscale format) for mnist_cnn --predict:
//   "P5" (binary) or "P2" (plain text), whitespace, width, height, maxval
//   (each decimal, '#' comments allowed between them), one whitespace, then
//   width * height pixels: bytes for P5, decimal numbers for P2.
// The file is checked completely when the program starts, so a malformed image
// is reported before training rather than after the last epoch.
#pragma once

#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "convnet/convnet.hpp"

namespace examples {

namespace pgm_detail {

// Walks the file's bytes; every error names the file.
class Cursor {
 public:
  Cursor(const std::string& path, const std::string& bytes) : path_(path), bytes_(bytes) {}

  // Whitespace and '#' comments (to the end of the line) before a header field.
  void skip_space_and_comments() {
    while (pos_ < bytes_.size()) {
      if (bytes_[pos_] == '#') {
        while (pos_ < bytes_.size() && bytes_[pos_] != '\n') ++pos_;
      } else if (std::isspace(static_cast<unsigned char>(bytes_[pos_]))) {
        ++pos_;
      } else {
        return;
      }
    }
  }

  // The next run of non-space bytes ("" at the end of the file).
  std::string token() {
    const size_t start = pos_;
    while (pos_ < bytes_.size() && !std::isspace(static_cast<unsigned char>(bytes_[pos_])) &&
           bytes_[pos_] != '#')
      ++pos_;
    return bytes_.substr(start, pos_ - start);
  }

  // A header field: a decimal number below 10^9 (larger is reported as it is written).
  int64_t header_number(const std::string& what) {
    skip_space_and_comments();
    const std::string text = token();
    CONVNET_CHECK(!text.empty(), "read_pgm: ", path_, ": the header ends before the ", what);
    return whole_number(text, what);
  }

  int64_t whole_number(const std::string& text, const std::string& what) const {
    bool digits = !text.empty() && text.size() <= 18;
    for (char c : text) digits = digits && std::isdigit(static_cast<unsigned char>(c));
    CONVNET_CHECK(digits, "read_pgm: ", path_, ": the ", what, " is \"", printable(text),
                  "\", not a whole number");
    return std::stoll(text);
  }

  static std::string printable(const std::string& text) {
    std::string out;
    for (char c : text.substr(0, 16)) out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
    return text.size() > 16 ? out + "..." : out;
  }

  size_t pos() const { return pos_; }
  void advance(size_t n) { pos_ += n; }
  bool at_end() const { return pos_ >= bytes_.size(); }
  size_t left() const { return bytes_.size() - pos_; }

 private:
  const std::string& path_;
  const std::string& bytes_;
  size_t pos_ = 0;
};

}  // namespace pgm_detail

// Reads `path`, an 8-bit PGM of side x side pixels, as a [1, 1, side, side]
// float tensor in [0, 1] (pixel / maxval). Throws convnet::Error naming the
// file and the problem: missing, a directory, empty, not P5/P2, a malformed or
// truncated header, other dimensions, maxval outside 1..255 (16-bit PGM is not
// supported), too few pixel bytes, or a P2 pixel that is not a number in 0..maxval.
inline convnet::Tensor read_pgm(const std::string& path, int64_t side = 28) {
  namespace fs = std::filesystem;
  std::error_code ec;
  CONVNET_CHECK(fs::exists(path, ec), "read_pgm: ", path, ": no such file");
  CONVNET_CHECK(fs::is_regular_file(path, ec), "read_pgm: ", path, ": is not a regular file");
  // A 28x28 P2 file with generous comments stays far below this; a larger file
  // is not the image the model reads, and reading it whole would only cost memory.
  constexpr uintmax_t kMaxBytes = 1 << 20;
  const uintmax_t size = fs::file_size(path, ec);
  CONVNET_CHECK(!ec, "read_pgm: ", path, ": ", ec.message());
  CONVNET_CHECK(size <= kMaxBytes, "read_pgm: ", path, ": ", size, " bytes, far more than a ", side,
                "x", side, " PGM holds");
  std::ifstream in(path, std::ios::binary);
  CONVNET_CHECK(in, "read_pgm: ", path, ": cannot open");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CONVNET_CHECK(!bytes.empty(), "read_pgm: ", path, ": the file is empty");

  pgm_detail::Cursor cursor(path, bytes);
  const std::string magic = cursor.token();
  CONVNET_CHECK(
      magic == "P5" || magic == "P2", "read_pgm: ", path, ": not a PGM image (it starts with \"",
      pgm_detail::Cursor::printable(bytes.substr(0, 2)), "\"; a PGM starts with P5 or P2)");
  const int64_t width = cursor.header_number("width");
  const int64_t height = cursor.header_number("height");
  const int64_t max_value = cursor.header_number("maxval");
  CONVNET_CHECK(width == side && height == side, "read_pgm: ", path, ": the image is ", width, "x",
                height, " pixels; the model reads ", side, "x", side, " images");
  CONVNET_CHECK(max_value >= 1 && max_value <= 255, "read_pgm: ", path, ": maxval ", max_value,
                " is outside 1..255 (only 8-bit PGM is supported)");
  CONVNET_CHECK(!cursor.at_end(), "read_pgm: ", path,
                ": the file ends after the header, before any pixel");
  cursor.advance(1);  // the single whitespace byte after maxval

  const size_t count = static_cast<size_t>(side * side);
  std::vector<float> pixels(count);
  if (magic == "P5") {
    CONVNET_CHECK(cursor.left() >= count, "read_pgm: ", path, ": truncated: ", cursor.left(),
                  " of ", count, " pixel bytes");
    for (size_t i = 0; i < count; ++i)
      pixels[i] =
          static_cast<unsigned char>(bytes[cursor.pos() + i]) / static_cast<float>(max_value);
  } else {
    for (size_t i = 0; i < count; ++i) {
      cursor.skip_space_and_comments();
      const std::string text = cursor.token();
      CONVNET_CHECK(!text.empty(), "read_pgm: ", path, ": truncated: ", i, " of ", count,
                    " pixels");
      const int64_t value = cursor.whole_number(text, "pixel " + std::to_string(i));
      CONVNET_CHECK(value <= max_value, "read_pgm: ", path, ": pixel ", i, " is ", value,
                    ", above maxval ", max_value);
      pixels[i] = static_cast<float>(value) / static_cast<float>(max_value);
    }
  }
  return convnet::Tensor::from_vector(pixels, {1, 1, side, side});
}

}  // namespace examples
