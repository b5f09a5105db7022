// read_idx: the IDX reader behind load_mnist. zlib's gzread decompresses .gz
// files and passes raw files through unchanged, so one code path reads both.
// Everything a corrupt download can get wrong is checked, because a silently
// short data set trains to a plausible but wrong accuracy.
#include "convnet/data/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "convnet/error.hpp"

namespace convnet::data {
namespace {

constexpr int64_t kMaxElements = int64_t{1} << 31;  // larger than any data set this reads

// Closes the gzFile on every exit path, including a throw.
struct GzFile {
  gzFile file = nullptr;
  ~GzFile() {
    if (file) gzclose(file);
  }
};

std::string hex_byte(unsigned value) {
  static const char* digits = "0123456789abcdef";
  return std::string{"0x"} + digits[(value >> 4) & 15] + digits[value & 15];
}

// Reads up to `bytes` bytes; returns how many arrived (fewer only at end of data).
int64_t read_some(GzFile& in, const std::string& path, uint8_t* out, int64_t bytes) {
  int64_t total = 0;
  while (total < bytes) {
    const int64_t want = std::min<int64_t>(bytes - total, int64_t{1} << 30);
    const int got = gzread(in.file, out + total, static_cast<unsigned>(want));
    if (got < 0) {
      int code = 0;
      const char* message = gzerror(in.file, &code);
      CONVNET_FAIL(path, ": read error: ", code == Z_ERRNO ? std::strerror(errno) : message);
    }
    if (got == 0) break;
    total += got;
  }
  // zlib reports a cut-off .gz stream as a short read plus an error code.
  int code = 0;
  const char* message = gzerror(in.file, &code);
  if (code != Z_OK && code != Z_STREAM_END)
    CONVNET_FAIL(path, ": corrupt or truncated gzip data: ", message);
  return total;
}

}  // namespace

IdxArray read_idx(const std::string& path, int expected_rank) {
  GzFile in;
  errno = 0;
  in.file = gzopen(path.c_str(), "rb");
  if (!in.file)
    CONVNET_FAIL(path, ": cannot open: ", errno ? std::strerror(errno) : "out of memory");
  gzbuffer(in.file, 1 << 20);  // fewer system calls on 47 MB files

  uint8_t magic[4] = {};
  const int64_t magic_bytes = read_some(in, path, magic, 4);
  CONVNET_CHECK(magic_bytes == 4, path, ": truncated: ", magic_bytes,
                " bytes, too short for the 4-byte IDX magic number");
  CONVNET_CHECK(magic[0] == 0 && magic[1] == 0, path, ": wrong magic number: starts with ",
                hex_byte(magic[0]), " ", hex_byte(magic[1]),
                ", an IDX file starts with 0x00 0x00 (is this an IDX file?)");
  CONVNET_CHECK(magic[2] == 0x08, path, ": element type ", hex_byte(magic[2]),
                " is not unsigned byte (0x08), the only type convnet reads");
  const int rank = magic[3];
  CONVNET_CHECK(rank >= 1 && rank <= 4, path, ": rank ", rank, " is outside 1..4");
  CONVNET_CHECK(expected_rank <= 0 || rank == expected_rank, path, ": rank ", rank,
                ", expected ", expected_rank);

  const int64_t header_bytes = 4 + 4 * int64_t{rank};
  uint8_t extents[16] = {};
  const int64_t extent_bytes = read_some(in, path, extents, 4 * rank);
  CONVNET_CHECK(extent_bytes == 4 * rank, path, ": truncated header: ", 4 + extent_bytes,
                " bytes, expected ", header_bytes);

  IdxArray array;
  std::string shown;  // "65536 x 65536", for the message
  int64_t count = 1;
  bool absurd = false;
  for (int d = 0; d < rank; ++d) {
    const uint8_t* b = extents + 4 * d;
    const int64_t extent = (int64_t{b[0]} << 24) | (b[1] << 16) | (b[2] << 8) | b[3];  // big-endian
    CONVNET_CHECK(extent > 0, path, ": dimension ", d, " has extent 0");
    array.dims.push_back(extent);
    shown += (d == 0 ? "" : " x ") + std::to_string(extent);
    // Stops multiplying once past the limit: four extents up to 2^32 - 1 would
    // overflow int64, but (< 2^31) * (< 2^32) never does.
    if (!absurd) count *= extent;
    absurd = absurd || count >= kMaxElements;
  }
  CONVNET_CHECK(!absurd, path, ": absurd size: dimensions ", shown,
                " multiply past 2^31 elements (a corrupt header?)");

  // Nothing is allocated that the data does not back: a 12-byte file claiming
  // 46340 x 46340 elements must fail as truncated, not allocate and zero 2 GB
  // first (found by tests/fuzz/fuzz_idx). The first read asks for what the file
  // can hold (deflate expands at most 1032:1), which for an honest file is all
  // of it; each later read for at most what has arrived, so the buffer never
  // exceeds twice the data behind it, whatever the header says.
  std::error_code ignored;
  const uintmax_t file_bytes = std::filesystem::is_regular_file(path, ignored)
                                   ? std::filesystem::file_size(path, ignored) : 0;
  const int64_t first_read =
      static_cast<int64_t>(std::clamp<uintmax_t>(file_bytes, 64, uintmax_t{1} << 40) * 1032);
  int64_t got = 0;
  while (got < count) {
    const int64_t want = std::min(count - got, got == 0 ? first_read : got);
    array.values.reserve(static_cast<size_t>(got + want));  // exactly: the last one is `count`
    array.values.resize(static_cast<size_t>(got + want));
    const int64_t n = read_some(in, path, array.values.data() + got, want);
    got += n;
    if (n < want) break;
  }
  CONVNET_CHECK(got == count, path, ": truncated: expected ", count, " bytes of data after the ",
                header_bytes, "-byte header, found ", got);
  uint8_t extra[4096];
  int64_t trailing = 0;
  for (int64_t n; (n = read_some(in, path, extra, sizeof extra)) > 0;) trailing += n;
  CONVNET_CHECK(trailing == 0, path, ": ", trailing, " unexpected bytes after the ", count,
                " bytes of data (header + data must be the whole file)");
  return array;
}

}  // namespace convnet::data
