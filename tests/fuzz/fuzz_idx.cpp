// libFuzzer target: data::read_idx on raw and gzip-compressed IDX files.
//
// read_idx takes a path, so each input goes to a per-process temporary file
// twice:
//   1. as given. A raw IDX input exercises the raw path; an input that starts
//      with the gzip magic 1f 8b (the corpus holds some) exercises zlib on
//      whatever the mutations made of the stream: cut off, corrupt, trailing
//      garbage, several members.
//   2. gzip-compressed here (zlib, deterministic). Every mutation of the IDX
//      bytes is thus also read through the decompressing path, and the two
//      reads must agree: both throw convnet::Error, or both give the same
//      dims and values.
#include <dlfcn.h>
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "convnet/data/idx.hpp"
#include "convnet/error.hpp"
#include "fuzz_common.hpp"

// read_idx asks zlib for a 1 MB buffer (gzbuffer), right for 47 MB data sets.
// Under AddressSanitizer every such allocation is a fresh mmap whose shadow is
// poisoned and released again, which made this target 8 times slower (about
// 800 executions a second instead of 6,000) for inputs of at most a few KB.
// This definition takes the place of zlib's (the program's own symbol wins
// over the shared library's) and forwards the request capped at 64 KB, which
// is still far more than any input here: the code paths are the same.
extern "C" int gzbuffer(gzFile file, unsigned size) {
  using Fn = int (*)(gzFile, unsigned);
  static const Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "gzbuffer"));
  if (real == nullptr) convnet_fuzz::fuzz_fail("fuzz_idx", "zlib's gzbuffer not found");
  return real(file, size < (1u << 16) ? size : (1u << 16));
}

namespace {

using convnet::data::IdxArray;
using convnet_fuzz::fuzz_fail;

std::vector<uint8_t> gzip(const uint8_t* data, size_t size) {
  z_stream z{};
  // windowBits 15 + 16: a gzip wrapper (header with mtime 0, crc32, length).
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    fuzz_fail("fuzz_idx", "deflateInit2 failed");
  std::vector<uint8_t> out(deflateBound(&z, size) + 32);
  z.next_in = const_cast<Bytef*>(data);
  z.avail_in = static_cast<uInt>(size);
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) fuzz_fail("fuzz_idx", "deflate did not finish");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// The array, or nothing when read_idx threw convnet::Error (anything else escapes).
std::optional<IdxArray> read(const std::string& path) {
  try {
    IdxArray array = convnet::data::read_idx(path);
    int64_t count = 1;
    for (int64_t d : array.dims) count *= d;
    if (array.dims.empty() || array.dims.size() > 4 || count != int64_t(array.values.size()))
      fuzz_fail("fuzz_idx", "read_idx returned dims that do not match its values");
    return array;
  } catch (const convnet::Error&) {
    return std::nullopt;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const convnet_fuzz::TempFile raw("fuzz_idx-raw"), gz("fuzz_idx-gz.gz");

  raw.write(data, size);
  const std::optional<IdxArray> as_given = read(raw.path());

  const std::vector<uint8_t> compressed = gzip(data, size);
  gz.write(compressed.data(), compressed.size());
  const std::optional<IdxArray> decompressed = read(gz.path());

  // A raw input (not itself gzip) must read the same compressed as not.
  const bool is_gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  if (!is_gzip) {
    if (as_given.has_value() != decompressed.has_value())
      fuzz_fail("fuzz_idx", as_given ? "the raw file reads but its gzip does not"
                                     : "the gzip file reads but the raw one does not");
    if (as_given && (as_given->dims != decompressed->dims || as_given->values != decompressed->values))
      fuzz_fail("fuzz_idx", "the raw file and its gzip read differently");
  }
  return 0;
}
