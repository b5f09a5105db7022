// The bad-input corpus (this folder; README.md lists it) through the library's
// entry points a program reaches: data::read_idx and data::load_mnist,
// io::read_safetensors, io::load_safetensors and io::load_optimizer,
// io::import_onnx, and the examples' PGM reader. Every bad file, a directory where a file is expected
// and a missing path must raise a convnet::Error (no other exception, no
// crash: the sanitizer build runs this too) whose message names the file.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli_fixtures.hpp"
#include "convnet/convnet.hpp"
#include "convnet/data/idx.hpp"
#include "convnet/io/onnx.hpp"
#include "convnet/io/safetensors.hpp"
#include "examples/common/pgm.hpp"

namespace convnet::test {
namespace {

// Runs `call`, which must throw a convnet::Error whose message holds `path` and each fragment.
template <typename Call>
void expect_error_naming(const std::string& what, const std::string& path, Call&& call,
                         const std::vector<std::string>& fragments = {}) {
  SCOPED_TRACE(what + " " + path);
  try {
    call();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    for (const std::string& fragment : fragments)
      EXPECT_NE(message.find(fragment), std::string::npos)
          << "\"" << fragment << "\" missing: " << message;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a std::exception that is not a convnet::Error: " << e.what();
  }
}

std::vector<std::string> corpus_files(const std::string& kind) {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(bad_input(kind)))
    if (entry.is_regular_file()) files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

void build_mnist_cnn(nn::Sequential& net) {  // examples/mnist_cnn.cpp's model
  net.add<nn::Conv2d>(nn::Conv2dOptions(1, 32, 5).padding(2))
      .add<nn::ReLU>()
      .add<nn::MaxPool2d>(2)
      .add<nn::Conv2d>(nn::Conv2dOptions(32, 64, 5).padding(2))
      .add<nn::ReLU>()
      .add<nn::MaxPool2d>(2)
      .add<nn::Flatten>()
      .add<nn::Linear>(64 * 7 * 7, 10);
}

// ---------------------------------------------------------------- IDX

struct IdxCase {
  std::string file;
  int rank;          // what its role expects: 3 for images, 1 for labels
  bool valid_idx;    // a well-formed IDX file that only load_mnist refuses
  std::string role;  // where write_tiny_mnist puts it
  std::string fragment;
};

const std::vector<IdxCase>& idx_cases() {
  static const std::vector<IdxCase> cases = {
      {"empty", 3, false, "train-images", "truncated"},
      {"magic-only", 3, false, "train-images", "truncated"},
      {"wrong-magic", 3, false, "train-images", "wrong magic"},
      {"float-elements", 1, false, "train-labels", "element type"},
      {"truncated-header", 3, false, "train-images", "truncated header"},
      {"images-truncated", 3, false, "train-images", "truncated"},
      {"images-trailing-bytes", 3, false, "train-images", "unexpected bytes"},
      {"images-zero-extent", 3, false, "train-images", "extent 0"},
      {"images-huge-extents", 3, false, "train-images", "absurd size"},
      {"images-27x28", 3, true, "t10k-images", "expected 28x28"},
      {"images-rank1", 3, false, "train-images", "rank 1"},
      {"labels-out-of-range", 1, true, "train-labels", "outside 0..9"},
      {"labels-3", 1, true, "train-labels", "3 labels"},
      {"labels-rank3", 1, false, "train-labels", "rank 3"},
      {"gz-truncated.gz", 1, false, "train-labels", "gzip"},
      {"gz-bad-crc.gz", 1, false, "train-labels", "data check"},
      {"gz-garbage.gz", 1, false, "train-labels", "compression method"},
      {"gz-of-truncated-images.gz", 3, false, "train-images", "truncated"},
  };
  return cases;
}

TEST(BadInputCorpus, EveryIdxFileHasACase) {
  std::vector<std::string> listed;
  for (const IdxCase& c : idx_cases()) listed.push_back(bad_input("idx/" + c.file));
  std::sort(listed.begin(), listed.end());
  EXPECT_EQ(corpus_files("idx"), listed);
}

TEST(BadInputCorpus, ReadIdxRefusesEveryMalformedFile) {
  for (const IdxCase& c : idx_cases()) {
    const std::string path = bad_input("idx/" + c.file);
    if (c.valid_idx) {
      EXPECT_NO_THROW(data::read_idx(path, c.rank)) << path;
      continue;
    }
    expect_error_naming("read_idx", path, [&] { data::read_idx(path, c.rank); }, {c.fragment});
  }
  ScratchDir scratch;
  expect_error_naming("read_idx", scratch.path(), [&] { data::read_idx(scratch.path()); });
  expect_error_naming("read_idx", scratch.file("missing"),
                      [&] { data::read_idx(scratch.file("missing")); });
}

TEST(BadInputCorpus, LoadMnistRefusesAFolderWithAnyBadFile) {
  ScratchDir scratch;
  write_tiny_mnist(scratch.file("good"));
  EXPECT_EQ(data::load_mnist(scratch.file("good"), data::Split::Train).size(), 20);
  EXPECT_EQ(data::load_mnist(scratch.file("good"), data::Split::Test).size(), 10);
  int index = 0;
  for (const IdxCase& c : idx_cases()) {
    const std::string dir = scratch.file("data-" + std::to_string(index++));
    write_tiny_mnist(dir, {{c.role, bad_input("idx/" + c.file)}});
    const data::Split split =
        c.role.rfind("train", 0) == 0 ? data::Split::Train : data::Split::Test;
    expect_error_naming("load_mnist", dir + "/" + c.role, [&] { data::load_mnist(dir, split); },
                        {c.fragment});
  }
  // A directory where a file is expected is not taken for it.
  const std::string dir = scratch.file("dir-as-file");
  write_tiny_mnist(dir);
  std::filesystem::remove(dir + "/train-images-idx3-ubyte");
  std::filesystem::create_directory(dir + "/train-images-idx3-ubyte");
  expect_error_naming("load_mnist", dir, [&] { data::load_mnist(dir, data::Split::Train); },
                      {"no train images"});
  expect_error_naming("load_mnist", scratch.file("missing"),
                      [&] { data::load_mnist(scratch.file("missing"), data::Split::Test); });
}

// ---------------------------------------------------------------- safetensors

// Files that parse (valid safetensors) but are no checkpoint of the model.
bool parses(const std::string& path) {
  return path.find("wrong-model") != std::string::npos ||
         path.find("wrong-shapes") != std::string::npos;
}

TEST(BadInputCorpus, SafetensorsReadersRefuseEveryBadFile) {
  ScratchDir scratch;
  std::vector<std::string> files = corpus_files("safetensors");
  ASSERT_GE(files.size(), 10u);
  files.push_back(scratch.path());              // a directory
  files.push_back(scratch.file("missing.st"));  // nothing there
  manual_seed(1);
  nn::Sequential net;
  build_mnist_cnn(net);
  nn::SGD sgd(net.parameters(), nn::SGDOptions(0.1f).momentum(0.9f));
  const std::vector<float> before = net.parameters()[0]->value.to_vector<float>();
  for (const std::string& path : files) {
    if (parses(path))
      EXPECT_NO_THROW(io::read_safetensors(path)) << path;
    else
      expect_error_naming("read_safetensors", path, [&] { io::read_safetensors(path); });
    expect_error_naming("load_safetensors", path, [&] { io::load_safetensors(net, path); });
    expect_error_naming("load_optimizer", path, [&] { io::load_optimizer(sgd, path); });
  }
  EXPECT_EQ(net.parameters()[0]->value.to_vector<float>(), before)
      << "a failed load changed the model";
}

// ---------------------------------------------------------------- ONNX (io::import_onnx)

TEST(BadInputCorpus, OnnxImporterRefusesEveryBadFileNamingIt) {
  if (!io::onnx_available()) GTEST_SKIP() << "convnet was built without ONNX (CONVNET_ONNX)";
  // expected.txt: file, then the words its error must hold (make_onnx_corpus.py).
  std::ifstream table(bad_input("onnx") + "/expected.txt");
  ASSERT_TRUE(table.good());
  std::map<std::string, std::vector<std::string>> words;
  for (std::string line; std::getline(table, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields;
    std::stringstream in(line);
    for (std::string field; std::getline(in, field, '\t');) fields.push_back(field);
    words[fields[0]] = {fields.begin() + 1, fields.end()};
  }
  const std::vector<std::string> files = corpus_files("onnx");
  ASSERT_GE(files.size(), 12u);
  for (const std::string& path : files) {
    const std::string name = std::filesystem::path(path).filename().string();
    if (name == "expected.txt") continue;
    ASSERT_TRUE(words.count(name)) << name << " is not in expected.txt";
    expect_error_naming("import_onnx", path, [&] { io::import_onnx(path); }, words[name]);
  }
}

// ---------------------------------------------------------------- PGM (examples/common/pgm.hpp)

TEST(BadInputCorpus, PgmReaderRefusesEveryBadImageAndReadsGoodOnes) {
  ScratchDir scratch;
  std::vector<std::string> files = corpus_files("pgm");
  ASSERT_GE(files.size(), 10u);
  files.push_back(scratch.path());
  files.push_back(scratch.file("missing.pgm"));
  for (const std::string& path : files)
    expect_error_naming("read_pgm", path, [&] { examples::read_pgm(path); });

  for (bool binary : {true, false}) {
    const std::string path = scratch.file(binary ? "p5.pgm" : "p2.pgm");
    write_file(path, good_pgm(binary));
    const Tensor image = examples::read_pgm(path);
    ASSERT_EQ(image.shape(), Shape({1, 1, 28, 28}));
    const std::vector<float> pixels = image.to_vector<float>();
    EXPECT_EQ(pixels[4 * 28 + 12], 1.f);   // in the stroke
    EXPECT_EQ(pixels[4 * 28 + 11], 0.f);   // beside it
    EXPECT_EQ(pixels[24 * 28 + 12], 0.f);  // below it
    float sum = 0;
    for (float p : pixels) sum += p;
    EXPECT_EQ(sum, 4.f * 20.f);
  }
  // Pixels are divided by maxval: 15 of 15 is white, 50 of 100 is mid-grey.
  std::string plain = "P2 28 28 15\n15";
  for (int i = 1; i < 784; ++i) plain += " 0";
  write_file(scratch.file("maxval15.pgm"), plain);
  EXPECT_EQ(examples::read_pgm(scratch.file("maxval15.pgm")).to_vector<float>()[0], 1.f);
  write_file(scratch.file("maxval100.pgm"), "P5 28 28 100\n" + std::string(784, '\x32'));
  EXPECT_EQ(examples::read_pgm(scratch.file("maxval100.pgm")).to_vector<float>()[783], 0.5f);
}

}  // namespace
}  // namespace convnet::test
