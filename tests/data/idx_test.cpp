// The IDX reader on files written here (good, raw and .gz, and every kind of
// broken), and load_mnist on the real MNIST and Fashion-MNIST files.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "convnet/data/dataset.hpp"
#include "convnet/data/idx.hpp"
#include "convnet/error.hpp"

namespace convnet::data {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

// An IDX file's bytes: magic 00 00 <type> <rank>, big-endian extents, then data.
Bytes idx_bytes(const std::vector<uint32_t>& dims, const Bytes& data, uint8_t type = 0x08) {
  Bytes out = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(d >> shift));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

Bytes iota_bytes(size_t count, int scale = 1) {
  Bytes b(count);
  for (size_t i = 0; i < count; ++i) b[i] = static_cast<uint8_t>(i * scale);
  return b;
}

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("convnet_" + std::string(info->name()) + "_" + std::to_string(getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string dir() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

  std::string write(const std::string& name, const Bytes& bytes) const {
    std::ofstream out(file(name), std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    return file(name);
  }
  std::string write_gz(const std::string& name, const Bytes& bytes) const {
    gzFile out = gzopen(file(name).c_str(), "wb");
    EXPECT_NE(out, nullptr);
    EXPECT_EQ(gzwrite(out, bytes.data(), static_cast<unsigned>(bytes.size())),
              static_cast<int>(bytes.size()));
    gzclose(out);
    return file(name);
  }

 private:
  fs::path path_;
};

// The message of the convnet::Error that `f` throws ("" when it throws none).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(IdxReader, ReadsRawAndGzipFiles) {
  TempDir tmp;
  const Bytes data = iota_bytes(3 * 4 * 5, 7);
  const Bytes file = idx_bytes({3, 4, 5}, data);
  for (const std::string& path : {tmp.write("a-idx3-ubyte", file), tmp.write_gz("a-idx3-ubyte.gz", file)}) {
    const IdxArray array = read_idx(path, 3);
    EXPECT_EQ(array.dims, (std::vector<int64_t>{3, 4, 5})) << path;
    EXPECT_EQ(array.values, data) << path;
  }
  const IdxArray labels = read_idx(tmp.write("l", idx_bytes({6}, iota_bytes(6))));
  EXPECT_EQ(labels.dims, (std::vector<int64_t>{6}));
  EXPECT_EQ(labels.values, iota_bytes(6));
}

TEST(IdxReader, TruncatedDataIsAnErrorThatSaysHowShort) {
  TempDir tmp;
  Bytes file = idx_bytes({10, 28, 28}, iota_bytes(10 * 28 * 28));
  file.resize(16 + 1000);
  for (const std::string& path : {tmp.write("t-idx3-ubyte", file), tmp.write_gz("t.gz", file)}) {
    const std::string message = error_of([&] { read_idx(path, 3); });
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("truncated: expected 7840 bytes of data after the 16-byte header, "
                           "found 1000"), std::string::npos) << message;
  }
  // Cut inside the header, and a file too short for the magic number.
  file.resize(10);
  EXPECT_NE(error_of([&] { read_idx(tmp.write("h", file)); }).find("truncated header"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_idx(tmp.write("m", Bytes{0, 0})); }).find("truncated"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_idx(tmp.write("e", Bytes{})); }).find("truncated"),
            std::string::npos);
}

TEST(IdxReader, CutOffGzipStreamIsAnError) {
  TempDir tmp;
  const std::string whole = tmp.write_gz("w.gz", idx_bytes({50, 28, 28}, iota_bytes(50 * 784, 13)));
  std::ifstream in(whole, std::ios::binary);
  Bytes gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  gz.resize(gz.size() / 2);
  const std::string message = error_of([&] { read_idx(tmp.write("cut.gz", gz)); });
  EXPECT_NE(message.find("cut.gz"), std::string::npos) << message;
  EXPECT_FALSE(message.empty());
}

TEST(IdxReader, TrailingBytesAreAnError) {
  TempDir tmp;
  Bytes file = idx_bytes({4}, iota_bytes(4));
  file.push_back(0);
  file.push_back(1);
  for (const std::string& path : {tmp.write("x", file), tmp.write_gz("x.gz", file)}) {
    const std::string message = error_of([&] { read_idx(path); });
    EXPECT_NE(message.find("2 unexpected bytes after the 4 bytes of data"), std::string::npos)
        << message;
  }
}

TEST(IdxReader, WrongMagicTypeAndRankAreErrors) {
  TempDir tmp;
  Bytes wrong_magic = idx_bytes({4}, iota_bytes(4));
  wrong_magic[0] = 0x1f;
  EXPECT_NE(error_of([&] { read_idx(tmp.write("a", wrong_magic)); }).find("wrong magic number"),
            std::string::npos);
  // 0x0D is float: a valid IDX type, but not one convnet reads.
  EXPECT_NE(error_of([&] { read_idx(tmp.write("b", idx_bytes({4}, iota_bytes(16), 0x0D))); })
                .find("element type 0x0d is not unsigned byte"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_idx(tmp.write("c", idx_bytes({2, 2}, iota_bytes(4))), 3); })
                .find("rank 2, expected 3"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_idx(tmp.write("d", idx_bytes({1, 1, 1, 1, 1}, Bytes{7}))); })
                .find("rank 5 is outside 1..4"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_idx(tmp.write("z", idx_bytes({3, 0}, Bytes{}))); })
                .find("dimension 1 has extent 0"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_idx(tmp.write("big", idx_bytes({65536, 65536}, Bytes{}))); })
                .find("absurd size"),
            std::string::npos);
}

TEST(IdxReader, MissingFileIsAnErrorNamingIt) {
  TempDir tmp;
  const std::string message = error_of([&] { read_idx(tmp.file("nothing-here")); });
  EXPECT_NE(message.find("nothing-here: cannot open"), std::string::npos) << message;
}

// ---- load_mnist

// Writes a small MNIST-shaped split: `count` 28x28 images and the given labels.
void write_split(const TempDir& tmp, const std::string& prefix, uint32_t count,
                 const Bytes& labels, bool gz, bool dotted) {
  const std::string sep = dotted ? "." : "-";
  const std::string suffix = gz ? ".gz" : "";
  const Bytes images = idx_bytes({count, 28, 28}, iota_bytes(count * 784, 3));
  const Bytes label_file = idx_bytes({static_cast<uint32_t>(labels.size())}, labels);
  const std::string images_name = prefix + "-images" + sep + "idx3-ubyte" + suffix;
  const std::string labels_name = prefix + "-labels" + sep + "idx1-ubyte" + suffix;
  if (gz) {
    tmp.write_gz(images_name, images);
    tmp.write_gz(labels_name, label_file);
  } else {
    tmp.write(images_name, images);
    tmp.write(labels_name, label_file);
  }
}

TEST(Mnist, FindsEveryFileNameVariantAndScalesPixels) {
  for (bool gz : {false, true}) {
    for (bool dotted : {false, true}) {
      TempDir tmp;
      write_split(tmp, "t10k", 3, Bytes{9, 0, 4}, gz, dotted);
      const Dataset data = load_mnist(tmp.dir(), Split::Test);
      ASSERT_EQ(data.size(), 3);
      EXPECT_EQ(data.images.shape(), Shape({3, 1, 28, 28}));
      EXPECT_EQ(data.labels.to_vector<int32_t>(), (std::vector<int32_t>{9, 0, 4}));
      const std::vector<float> pixels = data.images.to_vector<float>();
      for (size_t i = 0; i < pixels.size(); i += 97)
        ASSERT_FLOAT_EQ(pixels[i], static_cast<float>(static_cast<uint8_t>(i * 3)) / 255.f);
    }
  }
}

TEST(Mnist, MismatchedCountsAndBadLabelsAreErrors) {
  TempDir tmp;
  write_split(tmp, "train", 3, Bytes{1, 2}, false, false);
  EXPECT_NE(error_of([&] { load_mnist(tmp.dir(), Split::Train); }).find("holds 3 images but"),
            std::string::npos);
  write_split(tmp, "train", 2, Bytes{1, 10}, false, false);
  EXPECT_NE(error_of([&] { load_mnist(tmp.dir(), Split::Train); })
                .find("label 10 at index 1 is outside 0..9"),
            std::string::npos);
  tmp.write("train-images-idx3-ubyte", idx_bytes({2, 27, 28}, iota_bytes(2 * 27 * 28)));
  EXPECT_NE(error_of([&] { load_mnist(tmp.dir(), Split::Train); }).find("expected 28x28"),
            std::string::npos);
}

// The library names the folder and the names it tried; how to get the files (a
// script of this repository, a program's --data flag) is the examples' advice
// (examples/common/mnist_data.hpp, checked in tests/cli).
TEST(Mnist, MissingFilesNameTheFolderAndTheNamesTried) {
  TempDir tmp;
  const std::string message = error_of([&] { load_mnist(tmp.dir(), Split::Train); });
  EXPECT_NE(message.find("no train images file in " + tmp.dir()), std::string::npos) << message;
  EXPECT_NE(message.find("train-images-idx3-ubyte.gz"), std::string::npos) << message;
  EXPECT_NE(message.find("train-images.idx3-ubyte"), std::string::npos) << message;
  EXPECT_EQ(message.find("scripts/"), std::string::npos) << message;
  EXPECT_EQ(message.find("--data"), std::string::npos) << message;
  const std::string missing = tmp.dir() + "/absent";
  const std::string gone = error_of([&] { load_mnist(missing, Split::Test); });
  EXPECT_NE(gone.find("no t10k images file in " + missing + " (the directory does not exist)"),
            std::string::npos) << gone;
}

std::vector<int> label_counts(const Dataset& data) {
  std::vector<int> counts(10, 0);
  for (int32_t label : data.labels.to_vector<int32_t>()) ++counts.at(static_cast<size_t>(label));
  return counts;
}

TEST(Mnist, RealMnistHasTheKnownSizesAndLabelCounts) {
  const std::string dir = CONVNET_SOURCE_DIR "/data/mnist";
  ASSERT_TRUE(fs::is_directory(dir))
      << dir << " is missing: run `python3 scripts/fetch_mnist.py` first (CI does)";
  const auto start = std::chrono::steady_clock::now();
  const Dataset train = load_mnist(dir, Split::Train);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const Dataset test = load_mnist(dir, Split::Test);
  RecordProperty("load_mnist_train_ms", static_cast<int>(seconds * 1000));
  EXPECT_EQ(train.images.shape(), Shape({60000, 1, 28, 28}));
  EXPECT_EQ(test.images.shape(), Shape({10000, 1, 28, 28}));
  EXPECT_EQ(label_counts(train),
            (std::vector<int>{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}));
  EXPECT_EQ(label_counts(test),
            (std::vector<int>{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}));
  // The pixel mean of the training set is MNIST's well-known 0.1307.
  double sum = 0;
  const float* pixels = train.images.data<float>();
  for (int64_t i = 0; i < train.images.numel(); ++i) sum += pixels[i];
  EXPECT_NEAR(sum / static_cast<double>(train.images.numel()), kMnistNormalization.mean.at(0), 1e-4);
}

TEST(Mnist, FashionMnistLoadsWhenInstalled) {
  const std::string dir = default_fashion_mnist_dir();
  if (!fs::is_directory(dir))
    GTEST_SKIP() << dir << " is missing (apt-get install dataset-fashion-mnist)";
  const Dataset train = load_mnist(dir, Split::Train);
  const Dataset test = load_mnist(dir, Split::Test);
  EXPECT_EQ(train.images.shape(), Shape({60000, 1, 28, 28}));
  EXPECT_EQ(test.images.shape(), Shape({10000, 1, 28, 28}));
  // Fashion-MNIST is balanced: 6,000 and 1,000 of each class.
  EXPECT_EQ(label_counts(train), std::vector<int>(10, 6000));
  EXPECT_EQ(label_counts(test), std::vector<int>(10, 1000));
}

}  // namespace
}  // namespace convnet::data
