// The command-line tests' fixtures: paths, scratch folders and valid inputs.
#include "cli/cli_fixtures.hpp"

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "convnet/convnet.hpp"
#include "convnet/io/safetensors.hpp"

namespace convnet::test {
namespace {

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

std::string idx_file(const std::vector<uint32_t>& dims, const std::string& values) {
  std::string bytes = {0, 0, 8, static_cast<char>(dims.size())};
  for (uint32_t d : dims) bytes += be32(d);
  return bytes + values;
}

std::string images(int count) {
  std::string values(static_cast<size_t>(count) * 784, '\0');
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<char>((i * 37 + i / 784 * 11) % 256);
  return idx_file({static_cast<uint32_t>(count), 28, 28}, values);
}

std::string labels(int count) {
  std::string values;
  for (int i = 0; i < count; ++i) values += static_cast<char>(i % 10);
  return idx_file({static_cast<uint32_t>(count)}, values);
}

}  // namespace

std::string example_program(const std::string& name) {
#ifdef CONVNET_EXAMPLES_DIR
  const std::string path = std::string(CONVNET_EXAMPLES_DIR) + "/" + name;
  return ::access(path.c_str(), X_OK) == 0 ? path : "";
#else
  (void)name;
  return "";
#endif
}

std::string bad_input(const std::string& relative) {
  return std::string(CONVNET_SOURCE_DIR) + "/tests/bad_inputs/" + relative;
}

ScratchDir::ScratchDir() {
  static int counter = 0;
  const testing::TestInfo* test = testing::UnitTest::GetInstance()->current_test_info();
  path_ = testing::TempDir() + "convnet_cli_" + std::to_string(getpid()) + "_" +
          std::to_string(counter++) + "_" + (test ? test->name() : "none");
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  // A test may have made a folder read-only; give it back before removing.
  std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::add, ec);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(path_, ec))
    std::filesystem::permissions(entry.path(), std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ec);
  std::filesystem::remove_all(path_, ec);
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  if (!out) throw std::runtime_error("write_file: cannot write " + path);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("read_file: cannot open " + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_tiny_mnist(const std::string& dir,
                      const std::map<std::string, std::string>& replacements) {
  std::filesystem::create_directories(dir);
  const std::map<std::string, std::string> files = {{"train-images", images(20)},
                                                    {"train-labels", labels(20)},
                                                    {"t10k-images", images(10)},
                                                    {"t10k-labels", labels(10)}};
  for (const auto& [role, bytes] : files) {
    const std::string name =
        dir + "/" + role +
        (role.find("images") != std::string::npos ? "-idx3-ubyte" : "-idx1-ubyte");
    const auto replacement = replacements.find(role);
    if (replacement == replacements.end()) {
      write_file(name, bytes);
      continue;
    }
    const std::string& source = replacement->second;
    const bool gz = source.size() > 3 && source.compare(source.size() - 3, 3, ".gz") == 0;
    write_file(gz ? name + ".gz" : name, read_file(source));
  }
  for (const auto& [role, source] : replacements)
    if (files.count(role) == 0) throw std::runtime_error("write_tiny_mnist: no file role " + role);
}

std::string good_iris_csv() {
  return "150,4,setosa,versicolor,virginica\n"
         "5.1,3.5,1.4,0.2,0\n4.9,3.0,1.4,0.2,0\n4.7,3.2,1.3,0.2,0\n5.0,3.6,1.4,0.2,0\n"
         "7.0,3.2,4.7,1.4,1\n6.4,3.2,4.5,1.5,1\n6.9,3.1,4.9,1.5,1\n5.5,2.3,4.0,1.3,1\n"
         "6.3,3.3,6.0,2.5,2\n";
}

std::string good_digits_csv(int count) {
  std::string text;
  for (int i = 0; i < count; ++i) {
    for (int j = 0; j < 64; ++j) text += std::to_string((i * 7 + j * (i % 10 + 1)) % 17) + ",";
    text += std::to_string(i % 10) + "\n";
  }
  return text;
}

std::string good_pgm(bool binary) {
  std::string pixels;
  std::string text;
  for (int r = 0; r < 28; ++r)
    for (int c = 0; c < 28; ++c) {
      const int value = (c >= 12 && c <= 15 && r >= 4 && r <= 23) ? 255 : 0;
      pixels += static_cast<char>(value);
      text += std::to_string(value) + (c == 27 ? "\n" : " ");
    }
  return binary ? "P5\n# a stroke\n28 28\n255\n" + pixels : "P2\n# a stroke\n28 28\n255\n" + text;
}

void write_mnist_cnn_checkpoint(const std::string& path) {
  manual_seed(1);
  nn::Sequential net;  // examples/mnist_cnn.cpp's build_model
  net.add<nn::Conv2d>(nn::Conv2dOptions(1, 32, 5).padding(2))
      .add<nn::ReLU>()
      .add<nn::MaxPool2d>(2)
      .add<nn::Conv2d>(nn::Conv2dOptions(32, 64, 5).padding(2))
      .add<nn::ReLU>()
      .add<nn::MaxPool2d>(2)
      .add<nn::Flatten>()
      .add<nn::Linear>(64 * 7 * 7, 10);
  io::save_safetensors(net, path);
}

void expect_one_line_error(const ProgramResult& result, const std::string& command,
                           const std::string& program, int exit_code,
                           const std::vector<std::string>& fragments) {
  SCOPED_TRACE(command);
  ASSERT_FALSE(result.timed_out) << "hung: killed after " << result.seconds << " s";
  ASSERT_EQ(result.signal, 0) << "killed by signal " << result.signal << "; stderr:\n"
                              << result.err;
  EXPECT_EQ(result.exit_code, exit_code) << "stderr:\n" << result.err;
  const std::vector<std::string> lines = result.err_lines();
  ASSERT_EQ(lines.size(), 1u) << "stderr must be one line, got:\n" << result.err;
  const std::string prefix = program + ": error: ";
  EXPECT_EQ(lines[0].rfind(prefix, 0), 0u) << lines[0];
  for (const std::string& fragment : fragments)
    EXPECT_NE(lines[0].find(fragment), std::string::npos)
        << "\"" << fragment << "\" missing from: " << lines[0];
}

}  // namespace convnet::test
