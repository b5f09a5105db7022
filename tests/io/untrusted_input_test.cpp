// The parsers never trust a size (issue #9, item 3): one test per way a file
// can lie, for the safetensors parser behind every reader and checkpoint load
// (read_safetensors, read_safetensors_buffer, load_safetensors, load_optimizer)
// and for the IDX reader behind load_mnist. Each must be a convnet::Error whose
// message names the file and what is wrong, raised before anything of the size
// the file claims is allocated.
//
// "Before any allocation": the safetensors claims below are up to 2^62 bytes,
// which no allocator can serve (an attempt would throw std::bad_alloc, not
// convnet::Error, and fail the test); the IDX format caps a claim at 2^31
// bytes, which could be allocated, so there the peak resident memory of a
// child process doing the read is measured instead.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "convnet/convnet.hpp"
#include "io/safetensors_files.hpp"

namespace convnet::test {
namespace {

// The growth of peak resident memory while `fn` runs, in bytes, measured in a
// forked child: a child's peak starts at the memory in use when it forks, not
// at whatever this process peaked at in earlier tests. -1 if the child failed.
int64_t peak_rss_growth(const std::function<void()>& fn) {
  int fds[2];
  if (::pipe(fds) != 0) return -1;
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(fds[0]);
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    const int64_t before = usage.ru_maxrss;
    try {
      fn();
    } catch (...) {
    }
    ::getrusage(RUSAGE_SELF, &usage);
    const int64_t growth = (int64_t{usage.ru_maxrss} - before) * 1024;  // kilobytes on Linux
    const bool sent = ::write(fds[1], &growth, sizeof growth) == sizeof growth;
    ::_exit(sent ? 0 : 1);
  }
  ::close(fds[1]);
  int64_t growth = -1;
  if (child < 0 || ::read(fds[0], &growth, sizeof growth) != sizeof growth) growth = -1;
  ::close(fds[0]);
  int status = 0;
  if (child > 0) ::waitpid(child, &status, 0);
  return growth;
}

constexpr int64_t kSmallGrowth = int64_t{64} << 20;  // the reads below need well under 1 MB

// ---------------------------------------------------------------- safetensors

struct LyingFile {
  std::string name;                // the test's name: the lie
  std::string bytes;               // the whole file
  std::vector<std::string> parts;  // what the message must say besides the file's name
};

std::ostream& operator<<(std::ostream& os, const LyingFile& file) { return os << file.name; }

std::string crafted(const std::string& header, const std::string& data = "",
                    uint64_t declared_length = UINT64_MAX) {
  return u64_le(declared_length == UINT64_MAX ? header.size() : declared_length) + header + data;
}

const std::vector<LyingFile>& lying_safetensors() {
  static const std::vector<LyingFile> files = {
      // A header that claims more data than the file holds.
      {"ClaimsMoreDataThanTheFileHolds",
       crafted(R"({"a":{"dtype":"F32","shape":[268435456],"data_offsets":[0,1073741824]}})",
               std::string(16, '\0')),
       {"truncated: the header describes 1073741824 bytes of data but only 16 follow"}},
      {"ClaimsExabytesOfData",
       crafted(R"({"a":{"dtype":"F32","shape":[1152921504606846975],)"
               R"("data_offsets":[0,4611686018427387900]}})"),
       {"truncated: the header describes 4611686018427387900 bytes"}},
      // Dimensions whose product overflows int64; wrapped around to 0, this one
      // would even match its empty data_offsets.
      {"ShapeProductOverflowsInt64",
       crafted(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})"),
       {"tensor \"a\": shape [4294967296,4294967296] is impossibly large",
        "overflows int64"}},
      // A header length beyond the file.
      {"HeaderLengthBeyondTheFile", crafted("{}", "", UINT64_MAX - 3),
       {"header length 18446744073709551612 is larger than the 2 bytes that follow it"}},
      {"HeaderLengthOneBeyondTheFile",
       crafted(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0'),
               59),
       {"header length 59 is larger than the 58 bytes that follow it"}},
      // Overlapping or out-of-order data offsets. (Entries listed in another
      // order than their data are fine: the format's header is a JSON object,
      // whose order means nothing, and Python's writer sorts names and data
      // differently. What is checked is the layout: each tensor begins where
      // the previous one in the buffer ends.)
      {"OverlappingDataOffsets",
       crafted(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
               R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
               std::string(12, '\0')),
       {"tensor \"b\" begins at byte 4 inside the previous tensor", "overlapping data"}},
      {"SameDataOffsetsTwice",
       crafted(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
               R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
               std::string(8, '\0')),
       {"begins at byte 0 inside the previous tensor", "overlapping data"}},
      {"DataOffsetsEndBeforeTheyBegin",
       crafted(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", std::string(8, '\0')),
       {"tensor \"a\": data_offsets [8,0] end before they begin"}},
      {"DataOffsetsLeaveAHole",
       crafted(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
               R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
               std::string(12, '\0')),
       {"tensor \"b\" begins at byte 8 but the previous tensor ends at 4", "hole"}},
      {"DataOffsetsDisagreeWithTheShape",
       crafted(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, '\0')),
       {"shape [3] F32 needs 12 bytes but data_offsets [0,8] hold 8"}},
      // A dtype we do not support: one the format does not have, and a sub-byte
      // one whose layout we could not check. (Known dtypes convnet does not
      // hold, like U8, are refused when read: see UnsupportedStoredDtype below.)
      {"UnknownDtype",
       crafted(R"({"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})", std::string(8, '\0')),
       {"tensor \"a\" has dtype \"Q7\", which is not a safetensors dtype convnet knows"}},
      {"SubByteDtype",
       crafted(R"({"a":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}})", std::string(8, '\0')),
       {"tensor \"a\" has dtype \"F4\""}},
      // Duplicate names, at every level of the header.
      {"DuplicateTensorName",
       crafted(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
               R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
               std::string(8, '\0')),
       {"the header names \"a\" twice"}},
      {"DuplicateKeyInATensorEntry",
       crafted(R"({"a":{"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]}})",
               std::string(4, '\0')),
       {"the header's \"a\" has the key \"dtype\" twice"}},
      {"DuplicateMetadataKey",
       crafted(R"({"__metadata__":{"step":"1","step":"9"}})"),
       {"the header's \"__metadata__\" has the key \"step\" twice"}},
      {"DuplicateMetadata",
       crafted(R"({"__metadata__":{"step":"1"},"__metadata__":{"step":"9"}})"),
       {"the header names \"__metadata__\" twice"}},
      // Non-UTF-8 headers: a stray byte, an overlong '/', a UTF-16 surrogate.
      {"NonUtf8Name",
       crafted("{\"\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
               std::string(4, '\0')),
       {"the header is not valid UTF-8: byte 10 of the file is 0xff"}},
      {"OverlongUtf8", crafted("{\"__metadata__\":{\"k\":\"\xc0\xaf\"}}"),
       {"not valid UTF-8: byte 30 of the file is 0xc0"}},
      {"SurrogateUtf8", crafted("{\"__metadata__\":{\"k\":\"\xed\xa0\x80\"}}"),
       {"not valid UTF-8: byte 30 of the file is 0xed"}},
      {"Utf8CutShortByTheHeaderEnd", crafted("{\"\xe2\x82"),
       {"not valid UTF-8: byte 10 of the file is 0xe2"}},
      // Non-JSON headers.
      {"HeaderIsNotJson", crafted("{this is not JSON}"), {"corrupt JSON header"}},
      {"HeaderIsJsonFollowedByGarbage", crafted("{} {}"), {"corrupt JSON header"}},
      {"HeaderIsNotAnObject", crafted("[1, 2, 3]"), {"the header does not start with '{'"}},
      {"HeaderIsBinary", crafted(std::string("\0\x01\x02\x03", 4)),
       {"the header does not start with '{'"}},
      // Nesting a million deep in a 2 MB file: the reader used to crash here
      // (stack overflow: the recursive JSON serializer quoted the value into
      // "expected a JSON object, found ..."), and each level costs the parser
      // ~100 bytes of memory, so depth is now refused while parsing.
      {"HeaderNestsAMillionDeep",
       crafted("{\"a\":" + std::string(1'000'000, '[') + std::string(1'000'000, ']') + "}"),
       {"the header nests more than 8 levels deep"}},
      {"ShapeNestsAMillionDeep",
       crafted(R"({"a":{"dtype":"F32","shape":)" + std::string(1'000'000, '[') +
               std::string(1'000'000, ']') + R"(,"data_offsets":[0,0]}})"),
       {"the header nests more than 8 levels deep"}},
      {"HeaderNumberBeyondDouble",
       crafted(R"({"a":{"dtype":"F32","shape":[1E999],"data_offsets":[0,4]}})",
               std::string(4, '\0')),
       {"corrupt JSON header"}},
  };
  return files;
}

class UntrustedSafetensors : public ::testing::TestWithParam<LyingFile> {};

// Every reader refuses the file, and each message names the file (or the
// memory buffer) and the lie. A convnet model and optimizer load through the
// same parser, so they are held to the same messages.
TEST_P(UntrustedSafetensors, EveryReaderRefusesItNamingFileAndProblem) {
  const LyingFile& lie = GetParam();
  ScratchDir dir;
  const std::string path = dir.file("lie.safetensors");
  write_bytes(path, lie.bytes);
  const auto with = [&](std::vector<std::string> parts) {
    parts.insert(parts.end(), lie.parts.begin(), lie.parts.end());
    return parts;
  };

  EXPECT_TRUE(throws_error_with([&] { io::read_safetensors(path); },
                                with({"read_safetensors: " + path + ": "})));
  EXPECT_TRUE(throws_error_with(
      [&] { io::read_safetensors_buffer(lie.bytes.data(), lie.bytes.size()); },
      with({"read_safetensors_buffer: <memory buffer>: "})));

  nn::Sequential net;
  net.add<nn::Linear>(2, 3);
  const std::vector<float> before = net.parameters()[0]->value.to_vector<float>();
  EXPECT_TRUE(throws_error_with([&] { io::load_safetensors(net, path); },
                                with({"load_safetensors: " + path + ": "})));
  for (bool strict : {true, false})
    EXPECT_TRUE(throws_error_with(
        [&] {
          io::load_safetensors_buffer(net, lie.bytes.data(), lie.bytes.size(),
                                      io::LoadOptions().strict(strict));
        },
        with({"<memory buffer>"})));
  EXPECT_EQ(net.parameters()[0]->value.to_vector<float>(), before);

  nn::Adam adam(net.parameters());
  EXPECT_TRUE(throws_error_with([&] { io::load_optimizer(adam, path); },
                                with({"load_optimizer: " + path + ": "})));
  EXPECT_EQ(adam.step_count(), 0);
}

INSTANTIATE_TEST_SUITE_P(Lies, UntrustedSafetensors, ::testing::ValuesIn(lying_safetensors()),
                         [](const ::testing::TestParamInfo<LyingFile>& info) {
                           return info.param.name;
                         });

// The parser allocates the file's real size (read whole) and nothing from a
// claim: all the lies together, a GB and more claimed, grow the peak by little.
TEST(UntrustedSafetensorsMemory, NoLieAllocatesWhatItClaims) {
  const int64_t growth = peak_rss_growth([] {
    for (const LyingFile& lie : lying_safetensors()) {
      try {
        io::read_safetensors_buffer(lie.bytes.data(), lie.bytes.size());
      } catch (const Error&) {
      }
    }
  });
  ASSERT_GE(growth, 0) << "the child process failed";
  EXPECT_LT(growth, kSmallGrowth);
}

// A dtype the format has but convnet does not hold: read_safetensors refuses
// it; a load refuses it for a parameter, naming file, tensor and dtype.
TEST(UntrustedSafetensorsDtype, UnsupportedStoredDtypeIsRefusedNamingFileAndTensor) {
  ScratchDir dir;
  const std::string path = dir.file("u8.safetensors");
  write_bytes(path, crafted(R"({"bias":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}})", "abc"));
  EXPECT_TRUE(throws_error_with([&] { io::read_safetensors(path); },
                                {path, "tensor \"bias\" has dtype \"U8\"",
                                 "convnet reads F32 and I32"}));
  nn::Sequential net;
  net.add<nn::Linear>(2, 3);
  write_bytes(path, crafted(R"({"0.bias":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}})", "abc"));
  EXPECT_TRUE(throws_error_with(
      [&] { io::load_safetensors(net, path, io::LoadOptions().strict(false)); },
      {path, "0.bias is [3] u8 in the file but [3] f32 here (convnet loads no u8 tensors)"}));
}

// ---------------------------------------------------------------- IDX

using Bytes = std::string;

// An IDX file: magic 00 00 <type> <rank>, big-endian extents, then `data`.
Bytes idx_file(const std::vector<uint32_t>& dims, const Bytes& data, uint8_t type = 0x08) {
  Bytes out = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(d >> shift));
  return out + data;
}

void write_gz(const std::string& path, const Bytes& bytes) {
  gzFile out = gzopen(path.c_str(), "wb");
  ASSERT_NE(out, nullptr);
  ASSERT_EQ(gzwrite(out, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  gzclose(out);
}

struct LyingIdx {
  std::string name;
  Bytes bytes;
  std::vector<std::string> parts;
};

std::ostream& operator<<(std::ostream& os, const LyingIdx& file) { return os << file.name; }

const std::vector<LyingIdx>& lying_idx() {
  static const std::vector<LyingIdx> files = {
      // More data claimed than the file holds: 32768 x 65535 bytes, just under
      // the 2^31 limit, behind a 12-byte header and 10 bytes of data.
      {"ClaimsMoreDataThanTheFileHolds", idx_file({32768, 65535}, Bytes(10, '\x07')),
       {"truncated: expected 2147450880 bytes of data after the 12-byte header, found 10"}},
      // 2^32-1 to the fourth overflows int64 (and uint64) several times over.
      {"DimensionsOverflowInt64",
       idx_file({0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, Bytes(16, '\0')),
       {"absurd size: dimensions 4294967295 x 4294967295 x 4294967295 x 4294967295 multiply "
        "past 2^31 elements"}},
      {"DimensionsJustPastTheLimit", idx_file({65536, 32768}, ""),
       {"absurd size: dimensions 65536 x 32768 multiply past 2^31 elements"}},
      // A dtype we do not support: IDX's float (0x0D) and int (0x0C).
      {"FloatElementType", idx_file({2}, Bytes(8, '\0'), 0x0D),
       {"element type 0x0d is not unsigned byte (0x08), the only type convnet reads"}},
      {"IntElementType", idx_file({2}, Bytes(8, '\0'), 0x0C), {"element type 0x0c"}},
      // Not an IDX file at all (a safetensors file, say).
      {"NotAnIdxFile", crafted("{}"), {"wrong magic number: starts with 0x02 0x00"}},
      {"ZeroExtent", idx_file({3, 0, 5}, ""), {"dimension 1 has extent 0"}},
      {"RankBeyondFour", idx_file({1, 1, 1, 1, 1}, "\x01"), {"rank 5 is outside 1..4"}},
      {"HeaderCutShort", idx_file({60000, 28, 28}, "").substr(0, 9),
       {"truncated header: 9 bytes, expected 16"}},
  };
  return files;
}

class UntrustedIdx : public ::testing::TestWithParam<LyingIdx> {};

// Raw and gzip-compressed alike; the message names the file and the lie.
TEST_P(UntrustedIdx, ReaderRefusesItNamingFileAndProblem) {
  const LyingIdx& lie = GetParam();
  ScratchDir dir;
  const std::string raw = dir.file("lie-idx-ubyte"), gz = dir.file("lie-idx-ubyte.gz");
  write_bytes(raw, lie.bytes);
  write_gz(gz, lie.bytes);
  for (const std::string& path : {raw, gz}) {
    std::vector<std::string> parts = lie.parts;
    parts.push_back(path + ": ");
    EXPECT_TRUE(throws_error_with([&] { data::read_idx(path); }, parts)) << path;
  }
}

INSTANTIATE_TEST_SUITE_P(Lies, UntrustedIdx, ::testing::ValuesIn(lying_idx()),
                         [](const ::testing::TestParamInfo<LyingIdx>& info) {
                           return info.param.name;
                         });

// The 2 GB claim fails as truncated with the peak grown by well under the
// claim (the buffer grows with the data that arrives), raw and gzip.
TEST(UntrustedIdxMemory, ClaimOf2GBIsNotAllocated) {
  ScratchDir dir;
  const Bytes lie = lying_idx()[0].bytes;
  write_bytes(dir.file("raw"), lie);
  write_gz(dir.file("raw.gz"), lie);
  for (const std::string& path : {dir.file("raw"), dir.file("raw.gz")}) {
    bool refused = false;
    const int64_t growth = peak_rss_growth([&] {
      try {
        data::read_idx(path);
      } catch (const Error&) {
        refused = true;  // in the child: the exit status below says the read failed
      }
      if (!refused) ::_exit(3);
    });
    EXPECT_GE(growth, 0) << path << ": the child process failed, or the read did not";
    EXPECT_LT(growth, kSmallGrowth) << path;
  }
}

// load_mnist passes the IDX reader's message through: it names the lying file.
TEST(UntrustedMnist, LoadMnistNamesTheLyingFile) {
  ScratchDir dir;
  write_bytes(dir.file("t10k-images-idx3-ubyte"), idx_file({10000, 28, 28}, Bytes(784, '\0')));
  write_bytes(dir.file("t10k-labels-idx1-ubyte"), idx_file({10000}, Bytes(10000, '\0')));
  EXPECT_TRUE(throws_error_with(
      [&] { data::load_mnist(dir.path().string(), data::Split::Test); },
      {dir.file("t10k-images-idx3-ubyte"),
       "truncated: expected 7840000 bytes of data after the 16-byte header, found 784"}));
}

}  // namespace
}  // namespace convnet::test
