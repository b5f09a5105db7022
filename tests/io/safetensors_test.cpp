// The safetensors format: round trips, the exact bytes we write, files from
// another writer, every malformed-file error, and atomic writes.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "convnet/io/safetensors.hpp"
#include "io/safetensors_files.hpp"

namespace convnet::test {
namespace {

using io::NamedTensors;

// Bit-for-bit equality (NaN payloads and -0 included).
bool same_bytes(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor ha = a.to(Device::cpu()), hb = b.to(Device::cpu());
  return ha.nbytes() == 0 || std::memcmp(ha.raw_data(), hb.raw_data(), ha.nbytes()) == 0;
}

NamedTensors sample_tensors() {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  return {{"conv.weight", Tensor::randn({3, 2, 5, 7}, Device::cpu(), 11)},
          {"labels", Tensor::from_vector(std::vector<int32_t>{0, -1, 2147483647, -2147483647 - 1, 9},
                                         {5})},
          {"scalar", Tensor::from_vector(std::vector<float>{42.5f}, {1})},
          {"empty", Tensor::zeros({0})},
          {"empty.i32", Tensor::zeros({3, 0, 2}, Device::cpu(), DType::I32)},
          {"special", Tensor::from_vector(std::vector<float>{inf, -inf, nan, -0.f, 1e-45f}, {1, 5})}};
}

TEST(SafetensorsFormat, RoundTripKeepsNamesOrderShapesDtypesAndBits) {
  ScratchDir dir;
  const NamedTensors tensors = sample_tensors();
  const io::Metadata metadata{{"epoch", "3"}, {"note", "ünïcode ✓"}};
  io::write_safetensors(dir.file("t.safetensors"), tensors, metadata);
  const io::SafetensorsFile file = io::read_safetensors(dir.file("t.safetensors"));
  ASSERT_EQ(file.tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(file.tensors[i].first, tensors[i].first);
    EXPECT_TRUE(file.tensors[i].second.device().is_cpu());
    EXPECT_TRUE(same_bytes(file.tensors[i].second, tensors[i].second)) << tensors[i].first;
  }
  EXPECT_EQ(file.metadata, metadata);
  ASSERT_NE(file.find("labels"), nullptr);
  EXPECT_EQ(file.find("labels")->to_vector<int32_t>()[2], 2147483647);
  EXPECT_EQ(file.find("nope"), nullptr);
  uint64_t header_length = 0;
  std::memcpy(&header_length, read_bytes(dir.file("t.safetensors")).data(), 8);
  EXPECT_EQ(header_length % 8, 0u);
}

// The whole file, byte by byte, against the format's description.
TEST(SafetensorsFormat, WritesExactlyTheSpecifiedBytes) {
  ScratchDir dir;
  io::write_safetensors(dir.file("tiny.safetensors"),
                        {{"a", Tensor::from_vector(std::vector<float>{1.f, -2.f}, {2})},
                         {"b", Tensor::from_vector(std::vector<int32_t>{7}, {1, 1})}},
                        {{"k", "v"}});
  const std::string json =
      R"({"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"I32","shape":[1,1],"data_offsets":[8,12]}})";
  ASSERT_EQ(json.size(), 135u);
  const std::string header = json + " ";  // padded to 136, a multiple of 8
  const std::string data("\x00\x00\x80\x3f"   // 1.0f
                         "\x00\x00\x00\xc0"   // -2.0f
                         "\x07\x00\x00\x00",  // 7
                         12);
  const std::string expected = std::string("\x88\0\0\0\0\0\0\0", 8) + header + data;
  EXPECT_EQ(read_bytes(dir.file("tiny.safetensors")), expected);
}

TEST(SafetensorsFormat, NoMetadataKeyWhenThereIsNone) {
  ScratchDir dir;
  io::write_safetensors(dir.file("m.safetensors"), {{"x", Tensor::ones({2})}});
  EXPECT_FALSE(contains(read_bytes(dir.file("m.safetensors")), "__metadata__"));
  EXPECT_TRUE(io::read_safetensors(dir.file("m.safetensors")).metadata.empty());
}

// Another writer may order entries differently from their data and add spaces.
TEST(SafetensorsFormat, ReadsEntriesInAnyOrderWithMetadataLast) {
  ScratchDir dir;
  write_crafted(dir.file("other.safetensors"),
                R"({ "second": {"data_offsets": [4, 8], "shape": [1], "dtype": "I32"},)"
                R"( "first": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]},)"
                R"( "__metadata__": {"format": "pt"}}   )",
                std::string("\x00\x00\x40\x40\x05\x00\x00\x00", 8));
  const io::SafetensorsFile file = io::read_safetensors(dir.file("other.safetensors"));
  ASSERT_EQ(file.tensors.size(), 2u);
  EXPECT_EQ(file.tensors[0].first, "second");  // file order, not data order
  EXPECT_EQ(file.find("second")->to_vector<int32_t>(), std::vector<int32_t>{5});
  EXPECT_EQ(file.find("first")->shape(), Shape{});  // a 0-d scalar
  EXPECT_EQ(file.find("first")->to_vector<float>(), std::vector<float>{3.f});
  EXPECT_EQ(file.metadata.at("format"), "pt");
}

TEST(SafetensorsFormat, WriterRejectsBadNames) {
  ScratchDir dir;
  const std::string path = dir.file("n.safetensors");
  EXPECT_TRUE(throws_error_with(
      [&] { io::write_safetensors(path, {{"w", Tensor::ones({1})}, {"w", Tensor::ones({2})}}); },
      {"\"w\" appears twice"}));
  EXPECT_TRUE(throws_error_with([&] { io::write_safetensors(path, {{"", Tensor::ones({1})}}); },
                                {"empty name"}));
  EXPECT_TRUE(throws_error_with(
      [&] { io::write_safetensors(path, {{"__metadata__", Tensor::ones({1})}}); }, {"reserved"}));
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(temp_files_in(dir.path()).empty());
}

// ---- malformed files

TEST(SafetensorsErrors, TruncatedAnywhereSaysTruncated) {
  ScratchDir dir;
  io::write_safetensors(dir.file("good.safetensors"), sample_tensors(), {{"k", "v"}});
  const std::string good = read_bytes(dir.file("good.safetensors"));
  uint64_t header_length = 0;
  std::memcpy(&header_length, good.data(), 8);
  const size_t data_start = 8 + header_length;
  for (size_t cut : {size_t(0), size_t(3), size_t(7), size_t(8), size_t(9), 8 + header_length / 2,
                     data_start - 1, data_start, data_start + 5, good.size() - 1}) {
    const std::string path = dir.file("cut.safetensors");
    write_bytes(path, good.substr(0, cut));
    EXPECT_TRUE(throws_error_with([&] { io::read_safetensors(path); }, {path, "truncated"}))
        << "cut at byte " << cut << " of " << good.size();
  }
}

TEST(SafetensorsErrors, CorruptJsonNamesTheFile) {
  ScratchDir dir;
  const std::string path = dir.file("bad.safetensors");
  write_crafted(path, R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]  )",
                std::string(4, '\0'));
  EXPECT_TRUE(throws_error_with([&] { io::read_safetensors(path); }, {path, "corrupt JSON"}));
  write_crafted(path, "[1, 2]  ", "");
  EXPECT_TRUE(throws_error_with([&] { io::read_safetensors(path); }, {path, "start with '{'"}));
}

TEST(SafetensorsErrors, HeaderLengthLargerThanTheFile) {
  ScratchDir dir;
  const std::string path = dir.file("long.safetensors");
  write_crafted(path, "{}      ", "", 1'000'000);
  EXPECT_TRUE(throws_error_with([&] { io::read_safetensors(path); },
                                {path, "header length 1000000 is larger than the 8 bytes"}));
}

// One crafted header per mistake; the message must name the tensor and the problem.
TEST(SafetensorsErrors, BadEntriesAreRejectedWithTheReason) {
  ScratchDir dir;
  const std::string path = dir.file("e.safetensors");
  const std::string eight(8, '\0');
  struct Case {
    std::string header, data;
    std::vector<std::string> parts;
  };
  const std::vector<Case> cases = {
      {R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}})", eight,
       {"\"a\" has dtype \"U8\"", "convnet reads F32 and I32"}},
      {R"({"a":{"dtype":"XYZ","shape":[2],"data_offsets":[0,8]}})", eight,
       {"\"XYZ\"", "not a safetensors dtype"}},
      {R"({"a":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}})", eight, {"needs 6 bytes"}},
      // nlohmann throws out_of_range, not parse_error, for a number beyond double.
      {R"({"a":{"dtype":"F32","shape":[1E468],"data_offsets":[0,8]}})", eight, {"corrupt JSON"}},
      {R"({"a":{"dtype":7,"shape":[2],"data_offsets":[0,8]}})", eight, {"dtype must be a string"}},
      {R"({"a":{"shape":[2],"data_offsets":[0,8]}})", eight, {"\"a\" has no \"dtype\""}},
      {R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", eight, {"has no \"shape\""}},
      {R"({"a":{"dtype":"F32","shape":[2]}})", eight, {"has no \"data_offsets\""}},
      {R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight, {"non-negative"}},
      {R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", eight, {"non-negative"}},
      {R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", eight, {"must be an array"}},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}})", eight, {"[begin, end]"}},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", eight, {"end before"}},
      {R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight, {"needs 12 bytes"}},
      {R"({"a":"F32"})", eight, {"expected a JSON object"}},
      {R"({"a":{"dtype":"F32","shape":[99999999999,99999999999],"data_offsets":[0,8]}})", eight,
       {"impossibly large"}},
      {R"({"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", eight,
       {"__metadata__ \"k\" must be a string"}},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       std::string(12, '\0'), {"\"b\" begins at byte 4", "overlapping"}},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
       std::string(20, '\0'), {"\"b\" begins at byte 12", "hole"}},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight, {"hole"}},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
       R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
       eight, {"names \"a\" twice"}},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", eight + "xx",
       {"2 bytes after the last tensor"}},
  };
  for (const Case& c : cases) {
    write_crafted(path, c.header, c.data);
    std::vector<std::string> parts = c.parts;
    parts.push_back(path);
    EXPECT_TRUE(throws_error_with([&] { io::read_safetensors(path); }, parts)) << c.header;
  }
}

TEST(SafetensorsErrors, MissingFileNamesPathAndReason) {
  ScratchDir dir;
  const std::string path = dir.file("absent.safetensors");
  EXPECT_TRUE(throws_error_with([&] { io::read_safetensors(path); },
                                {path, "No such file or directory"}));
}

// ---- atomic writes

TEST(SafetensorsAtomic, MissingDirectoryNamesPathAndReason) {
  ScratchDir dir;
  const std::string path = dir.file("no/such/dir/m.safetensors");
  EXPECT_TRUE(throws_error_with([&] { io::write_safetensors(path, {{"x", Tensor::ones({2})}}); },
                                {path, "No such file or directory"}));
}

TEST(SafetensorsAtomic, ReadOnlyDirectoryNamesPathAndReason) {
  if (::geteuid() == 0) GTEST_SKIP() << "running as root: a read-only directory is still writable";
  ScratchDir dir;
  std::filesystem::create_directory(dir.file("ro"));
  std::filesystem::permissions(dir.file("ro"), std::filesystem::perms::owner_read |
                                                   std::filesystem::perms::owner_exec);
  const std::string path = dir.file("ro/m.safetensors");
  EXPECT_TRUE(throws_error_with([&] { io::write_safetensors(path, {{"x", Tensor::ones({2})}}); },
                                {path, "Permission denied"}));
}

// rename() over a directory fails after the data was written: the temp file must go.
TEST(SafetensorsAtomic, FailedRenameLeavesNoTempFile) {
  ScratchDir dir;
  const std::string path = dir.file("taken");
  std::filesystem::create_directory(path);
  EXPECT_TRUE(throws_error_with([&] { io::write_safetensors(path, {{"x", Tensor::ones({2})}}); },
                                {path, "renaming"}));
  EXPECT_TRUE(std::filesystem::is_directory(path));
  EXPECT_TRUE(temp_files_in(dir.path()).empty());
}

// A write that fails midway (here: the file-size limit, as a full disk would)
// leaves the previous checkpoint byte for byte as it was, and no temp file.
TEST(SafetensorsAtomic, FailedWriteKeepsTheOldFile) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  io::write_safetensors(path, {{"x", Tensor::ones({4})}});
  const std::string before = read_bytes(path);

  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  rlimit small = saved;
  small.rlim_cur = 64 * 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);  // get EFBIG instead of a signal
  const bool failed = throws_error_with(
      [&] { io::write_safetensors(path, {{"x", Tensor::ones({1 << 20})}}); }, {path, "File too large"});
  ::signal(SIGXFSZ, old_handler);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &saved), 0);

  EXPECT_TRUE(failed);
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_TRUE(temp_files_in(dir.path()).empty());
}

TEST(SafetensorsAtomic, OverwritesAnExistingFile) {
  ScratchDir dir;
  const std::string path = dir.file("m.safetensors");
  io::write_safetensors(path, {{"x", Tensor::ones({4})}});
  io::write_safetensors(path, {{"y", Tensor::zeros({2})}});
  const io::SafetensorsFile file = io::read_safetensors(path);
  ASSERT_EQ(file.tensors.size(), 1u);
  EXPECT_EQ(file.tensors[0].first, "y");
  EXPECT_TRUE(temp_files_in(dir.path()).empty());
}

}  // namespace
}  // namespace convnet::test
