// What the command-line tests share: where the example programs and the
// bad-input corpus are, a scratch folder per test, small valid inputs to
// start from (a tiny MNIST, an Iris CSV, a digits CSV, a PGM, an mnist_cnn
// checkpoint), and the check every refused input must pass.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "cli/run_program.hpp"

namespace convnet::test {

// The path of an example program (tests/CMakeLists.txt passes their folder),
// or "" when this build has no examples; tests then skip.
std::string example_program(const std::string& name);
#define CONVNET_REQUIRE_EXAMPLE(var, name)                        \
  const std::string var = ::convnet::test::example_program(name); \
  if (var.empty()) GTEST_SKIP() << name << " is not built (CONVNET_BUILD_EXAMPLES=OFF)"

// tests/bad_inputs/<relative>.
std::string bad_input(const std::string& relative);

// A fresh folder under the test temporary directory, removed with its contents.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void write_file(const std::string& path, const std::string& bytes);
std::string read_file(const std::string& path);

// A tiny MNIST in `dir`: 20 training and 10 test images of 28x28, labels i % 10
// (so every digit is in both splits), raw IDX under the usual names. Each
// replacement puts a corpus file in place of one of them: key "train-images",
// "train-labels", "t10k-images" or "t10k-labels", value the file's path; a
// value ending in .gz is written as <name>.gz.
void write_tiny_mnist(const std::string& dir,
                      const std::map<std::string, std::string>& replacements = {});

// Iris in scikit-learn's layout: the header, 4 setosa and 4 versicolor (separable).
std::string good_iris_csv();
// `count` lines of the scikit-learn digits CSV (64 pixels 0..16, label 0..9).
std::string good_digits_csv(int count);
// A 28x28 PGM: a white vertical stroke on black ("P5" binary or "P2" text, with a comment).
std::string good_pgm(bool binary);
// Writes a checkpoint of mnist_cnn's model (freshly initialised, seed 1) to `path`.
void write_mnist_cnn_checkpoint(const std::string& path);

// How a refused input must end: exit status `exit_code` (1..127: no signal, no
// abort), no timeout, exactly one line on stderr that starts with
// "<program>: error: " and contains every one of `fragments`.
void expect_one_line_error(const ProgramResult& result, const std::string& command,
                           const std::string& program, int exit_code,
                           const std::vector<std::string>& fragments);

// Seconds one run may take before it counts as a hang (sanitizer builds are slow).
inline constexpr double kRunTimeout = 60;

}  // namespace convnet::test
