// The IDX format of the MNIST files (http://yann.lecun.com/exdb/mnist/):
// big-endian magic 0x0000TTDD (TT = element type, DD = number of dimensions),
// DD big-endian uint32 extents, then the elements row-major.
// convnet reads unsigned-byte IDX files (TT = 0x08), raw or gzip-compressed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace convnet::data {

struct IdxArray {
  std::vector<int64_t> dims;  // e.g. {60000, 28, 28} or {60000}
  std::vector<uint8_t> values;  // product(dims) bytes
};

// Reads `path` (raw, or gzip when it starts with 1f 8b). Throws convnet::Error
// naming the file and the cause when it is missing, unreadable, has the wrong
// magic or element type, has zero or absurd extents, or is truncated/too long
// (file size must equal header + product(dims)), or its extents multiply past
// 2^31 elements. `expected_rank` (when > 0) must equal the number of
// dimensions. The header is not trusted: the buffer grows with the data that
// actually arrives (never past twice of it), so a 12-byte file claiming 2 GB
// fails as truncated without allocating 2 GB.
IdxArray read_idx(const std::string& path, int expected_rank = 0);

}  // namespace convnet::data
