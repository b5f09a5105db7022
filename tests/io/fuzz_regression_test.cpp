// The fuzz corpora (tests/fuzz/corpus/<target>/, see tests/fuzz/README.md) in
// the ordinary test suite: every committed input, seeds and regress-* inputs
// alike, must read (or load) or fail with a convnet::Error, here as in the
// fuzz targets, so the sanitizer build (CONVNET_SANITIZE) replays them all on
// every run. Then one test per crash the fuzzing found, on its regress-* input.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "convnet/convnet.hpp"

namespace convnet::test {
namespace {

namespace fs = std::filesystem;

std::string corpus_dir(const std::string& target) {
  return std::string(CONVNET_SOURCE_DIR) + "/tests/fuzz/corpus/" + target;
}

std::string corpus_file(const std::string& target, const std::string& name) {
  return corpus_dir(target) + "/" + name;
}

std::vector<std::string> corpus(const std::string& target) {
  std::vector<std::string> paths;
  for (const fs::directory_entry& e : fs::directory_iterator(corpus_dir(target)))
    if (e.is_regular_file()) paths.push_back(e.path().string());
  std::sort(paths.begin(), paths.end());
  return paths;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The message of the convnet::Error that `f` throws, "" when it returns. Any
// other exception escapes and fails the test.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// fuzz_checkpoint's model: "0.weight" [4,1,3,3], "0.bias" [4], "4.weight" [10,36], "4.bias" [10].
nn::Sequential fuzz_model() {
  nn::Sequential net;
  net.add<nn::Conv2d>(1, 4, 3).add<nn::ReLU>().add<nn::MaxPool2d>(2).add<nn::Flatten>().add<nn::Linear>(
      36, 10);
  return net;
}

// Peak resident memory of this process so far, in bytes.
int64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return int64_t{usage.ru_maxrss} * 1024;  // kilobytes on Linux
}

// ---- Every corpus input reads or throws convnet::Error.

TEST(FuzzCorpus, IdxInputsReadOrThrowConvnetError) {
  const std::vector<std::string> paths = corpus("idx");
  ASSERT_GE(paths.size(), 20u);
  int read = 0;
  for (const std::string& path : paths) {
    SCOPED_TRACE(path);
    if (error_of([&] { data::read_idx(path); }).empty()) ++read;
  }
  EXPECT_GT(read, 0);  // the valid seeds
}

TEST(FuzzCorpus, SafetensorsInputsReadOrThrowConvnetError) {
  const std::vector<std::string> paths = corpus("safetensors");
  ASSERT_GE(paths.size(), 20u);
  int read = 0;
  for (const std::string& path : paths) {
    SCOPED_TRACE(path);
    const std::string bytes = read_bytes(path);
    const std::string from_buffer =
        error_of([&] { io::read_safetensors_buffer(bytes.data(), bytes.size()); });
    const std::string from_file = error_of([&] { io::read_safetensors(path); });
    EXPECT_EQ(from_buffer.empty(), from_file.empty()) << from_buffer << " | " << from_file;
    if (from_buffer.empty()) ++read;
  }
  EXPECT_GT(read, 0);
}

TEST(FuzzCorpus, CheckpointInputsLoadOrThrowConvnetError) {
  const std::vector<std::string> paths = corpus("checkpoint");
  ASSERT_GE(paths.size(), 10u);
  int strict_loads = 0;
  for (const std::string& path : paths) {
    SCOPED_TRACE(path);
    const std::string bytes = read_bytes(path);
    for (bool strict : {true, false}) {
      nn::Sequential net = fuzz_model();
      const std::string error = error_of([&] {
        io::load_safetensors_buffer(net, bytes.data(), bytes.size(),
                                    io::LoadOptions().strict(strict));
      });
      if (strict && error.empty()) ++strict_loads;
    }
  }
  EXPECT_GT(strict_loads, 0);  // model-f32, model-f16, ...
}

// ---- Crashes the fuzzing found, one test each.

// fuzz_idx, out of memory: read_idx sized its buffer from the header before
// reading any data, so this 12-byte file (rank 2, 46340 x 46340, just under
// the 2^31-element limit) made it allocate and zero 2 GB before failing as
// truncated. The buffer now grows as the data arrives.
TEST(FuzzRegression, IdxHeaderClaiming2GBFailsAsTruncatedWithoutAllocatingIt) {
  const std::string path = corpus_file("idx", "regress-idx-46340x46340-allocates-2gb");
  ASSERT_EQ(read_bytes(path).size(), 12u);
  const int64_t peak_before = peak_rss_bytes();
  const std::string error = error_of([&] { data::read_idx(path); });
  EXPECT_NE(error.find("truncated: expected 2147395600 bytes"), std::string::npos) << error;
  EXPECT_LT(peak_rss_bytes() - peak_before, int64_t{256} << 20);
}

// fuzz_safetensors, UndefinedBehaviorSanitizer (signed integer overflow in
// Shape::numel): the parser's overflow check skipped a shape with a zero
// extent, so [4294967296, 4294967296, 0] passed and Shape::numel overflowed
// multiplying the first two extents (silently giving 0 without the
// sanitizer). Such a shape is now "impossibly large", as the reference
// implementation's checked product finds it.
TEST(FuzzRegression, SafetensorsShapeOverflowingBeforeAZeroIsRefused) {
  const std::string path =
      corpus_file("safetensors", "regress-safetensors-shape-overflows-before-zero");
  const std::string bytes = read_bytes(path);
  const std::string error = error_of([&] { io::read_safetensors_buffer(bytes.data(), bytes.size()); });
  EXPECT_NE(error.find("impossibly large"), std::string::npos) << error;
  // A zero extent first keeps every partial product at 0: still a valid empty tensor.
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}})";
  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i) file[i] = static_cast<char>(uint64_t(header.size()) >> (8 * i));
  file += header;
  const io::SafetensorsFile read = io::read_safetensors_buffer(file.data(), file.size());
  ASSERT_EQ(read.tensors.size(), 1u);
  EXPECT_EQ(read.tensors[0].second.numel(), 0);
}

}  // namespace
}  // namespace convnet::test
