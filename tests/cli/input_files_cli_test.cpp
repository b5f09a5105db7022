// Every input file an example reads, taken from the bad-input corpus
// (tests/bad_inputs, README.md there) or made here (a directory where a file
// is expected, a missing path, a file too large): each ends the program with
// exit status 1 and one line on stderr naming the file and what is wrong.
// Files are checked before any training: where the program would read its
// data after the file, --data names a missing folder, so an error that came
// from the data instead would lack the file's name and fail the test.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "cli/cli_fixtures.hpp"
#include "convnet/io/onnx.hpp"
#include "convnet/train/tensorboard.hpp"

namespace convnet::test {
namespace {

const std::string kMissingData = "/nonexistent-convnet-cli-test/data";

struct BadFile {
  std::string path;                    // in the corpus, or made by the test
  std::vector<std::string> fragments;  // besides the path, what the message must say
};

void expect_refused(const std::string& program, const std::vector<std::string>& args,
                    const std::string& cwd, const std::vector<std::string>& fragments) {
  const std::string binary = example_program(program);
  const std::string command = command_line(binary, args);
  const ProgramResult result = run_program(binary, args, cwd, kRunTimeout);
  expect_one_line_error(result, command, program, 1, fragments);
  EXPECT_EQ(result.out.find("epoch 1"), std::string::npos)
      << command << ": trained before refusing";
}

// Every file of tests/bad_inputs/<kind> is in `files` (a new one needs its expected message).
void expect_covers_corpus(const std::string& kind, const std::vector<std::string>& files) {
  std::set<std::string> listed, tabled;
  for (const auto& entry : std::filesystem::directory_iterator(bad_input(kind)))
    listed.insert(entry.path().string());
  for (const std::string& file : files)
    if (file.rfind(bad_input(kind + "/"), 0) == 0) tabled.insert(file);
  EXPECT_EQ(tabled, listed) << "tests/bad_inputs/" << kind << " and this test's table differ";
}

std::vector<std::string> paths(const std::vector<BadFile>& files) {
  std::vector<std::string> all;
  for (const BadFile& file : files) all.push_back(file.path);
  return all;
}

std::vector<std::string> with(const std::vector<std::string>& fragments, const std::string& more) {
  std::vector<std::string> all = fragments;
  all.push_back(more);
  return all;
}

// ------------------------------------------------------------------ perceptron --data

TEST(ExampleInputFiles, PerceptronRefusesBadIrisFiles) {
  CONVNET_REQUIRE_EXAMPLE(binary, "perceptron");
  ScratchDir scratch;
  const std::vector<BadFile> files = {
      {bad_input("iris/empty.csv"), {"class 0 and class 1", "found 0 and 0"}},
      {bad_input("iris/not-numbers.csv"), {"line 3", "not 4 numbers"}},
      {bad_input("iris/nan-feature.csv"), {"line 3", "sepal width", "finite"}},
      {bad_input("iris/label-7.csv"), {"line 4", "class label 7"}},
      {bad_input("iris/wrong-field-count.csv"), {"line 4", "not 4 numbers"}},
      {bad_input("iris/only-setosa.csv"), {"class 0 and class 1", "found 2 and 0"}},
      {bad_input("iris/binary.csv"),
       {"line 2", "not 4 numbers", "?"}},  // line 1 passes for a header
      {scratch.file("missing.csv"), {"cannot open"}},
      {scratch.path(), {"is a directory"}},
  };
  expect_covers_corpus("iris", paths(files));
  for (const BadFile& file : files)
    expect_refused("perceptron", {"--data", file.path}, scratch.path(),
                   with(file.fragments, file.path));
}

// ------------------------------------------------------------------ digits_cnn --data

TEST(ExampleInputFiles, DigitsCnnRefusesBadDigitsFiles) {
  CONVNET_REQUIRE_EXAMPLE(binary, "digits_cnn");
  ScratchDir scratch;
  const std::vector<BadFile> files = {
      {bad_input("digits/empty.csv"), {"holds 0 samples", "at least 301"}},
      {bad_input("digits/too-few-samples.csv"), {"holds 10 samples", "at least 301"}},
      {bad_input("digits/not-a-number.csv"), {"line 2 field 6", "\"abc\", not a number"}},
      {bad_input("digits/nan-pixel.csv"), {"line 2 field 6", "not a number"}},
      {bad_input("digits/pixel-99.csv"), {"line 2 pixel 6", "99", "0..16"}},
      {bad_input("digits/label-12.csv"), {"line 3", "label 12"}},
      {bad_input("digits/label-fraction.csv"), {"line 3", "label 3.5"}},
      {bad_input("digits/wrong-field-count.csv"), {"line 3", "3 fields, expected 65"}},
      {bad_input("digits/truncated.csv.gz"), {"corrupt or truncated gzip"}},
      {bad_input("digits/bad-crc.csv.gz"), {"corrupt or truncated gzip"}},
      {scratch.file("missing.csv.gz"), {"no such file"}},
      {scratch.path(), {"not a regular file"}},
  };
  expect_covers_corpus("digits", paths(files));
  for (const BadFile& file : files)
    expect_refused("digits_cnn", {"--data", file.path}, scratch.path(),
                   with(file.fragments, file.path));
}

// ------------------------------------------- logistic_regression, mlp_mnist, mnist_cnn --data

struct BadIdx {
  std::string role;  // which of the four files it replaces
  std::string corpus_file;
  std::vector<std::string> fragments;
};

const std::vector<BadIdx>& bad_idx_files() {
  static const std::vector<BadIdx> files = {
      {"train-images", "idx/empty", {"truncated"}},
      {"train-images", "idx/magic-only", {"truncated"}},
      {"train-images", "idx/wrong-magic", {"wrong magic"}},
      {"train-labels", "idx/float-elements", {"element type"}},
      {"train-images", "idx/truncated-header", {"truncated header"}},
      {"train-images", "idx/images-truncated", {"truncated"}},
      {"train-images", "idx/images-trailing-bytes", {"unexpected bytes"}},
      {"train-images", "idx/images-zero-extent", {"extent 0"}},
      {"train-images", "idx/images-huge-extents", {"absurd size"}},
      {"t10k-images", "idx/images-27x28", {"27x28", "expected 28x28"}},
      {"train-images", "idx/images-rank1", {"rank 1"}},
      {"train-labels", "idx/labels-out-of-range", {"label 12", "index 7", "outside 0..9"}},
      {"train-labels", "idx/labels-3", {"20 images", "3 labels"}},
      {"train-labels", "idx/labels-rank3", {"rank 3"}},
      {"train-labels", "idx/gz-truncated.gz", {"gzip"}},
      {"train-labels", "idx/gz-bad-crc.gz", {"data check"}},
      {"train-labels", "idx/gz-garbage.gz", {"compression method"}},
      {"train-images", "idx/gz-of-truncated-images.gz", {"truncated"}},
      {"t10k-labels", "idx/images-27x28", {"rank 3"}},
      {"t10k-images", "idx/gz-truncated.gz", {"gzip"}},
  };
  return files;
}

// The data folder for one bad file: the tiny MNIST with that file in place.
std::string data_dir_with(const ScratchDir& scratch, const BadIdx& bad, int index) {
  const std::string dir = scratch.file("data-" + std::to_string(index));
  write_tiny_mnist(dir, {{bad.role, bad_input(bad.corpus_file)}});
  return dir;
}

void check_mnist_reader(const std::string& program, const std::vector<std::string>& extra_args) {
  ScratchDir scratch;
  std::vector<std::string> corpus;
  for (const BadIdx& bad : bad_idx_files()) corpus.push_back(bad_input(bad.corpus_file));
  expect_covers_corpus("idx", corpus);
  int index = 0;
  for (const BadIdx& bad : bad_idx_files()) {
    const std::string dir = data_dir_with(scratch, bad, index++);
    std::vector<std::string> args = {"--data", dir};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    // The message names the file inside the folder (raw name, or with .gz).
    expect_refused(program, args, scratch.path(), with(bad.fragments, dir + "/" + bad.role));
  }
  // The folder itself: missing, or a file.
  const std::string file = scratch.file("not-a-folder");
  write_file(file, "x");
  // A missing folder also gets the program's advice on getting the data.
  for (const auto& [dir, fragments] :
       {std::pair{scratch.file("missing"),
                  std::vector<std::string>{"does not exist", "scripts/fetch_mnist.py", "--data DIR"}},
        std::pair{file, std::vector<std::string>{"not a folder"}}}) {
    std::vector<std::string> args = {"--data", dir};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    expect_refused(program, args, scratch.path(), with(fragments, dir));
  }
}

TEST(ExampleInputFiles, LogisticRegressionRefusesBadMnistFiles) {
  CONVNET_REQUIRE_EXAMPLE(binary, "logistic_regression");
  check_mnist_reader("logistic_regression", {});
}

TEST(ExampleInputFiles, MlpMnistRefusesBadMnistFiles) {
  CONVNET_REQUIRE_EXAMPLE(binary, "mlp_mnist");
  check_mnist_reader("mlp_mnist", {"--backend", "cpu"});
}

TEST(ExampleInputFiles, MnistCnnRefusesBadMnistFiles) {
  CONVNET_REQUIRE_EXAMPLE(binary, "mnist_cnn");
  check_mnist_reader("mnist_cnn", {"--backend", "cpu"});
}

// ------------------------------------------------------------------ mnist_cnn --load

const std::vector<BadFile>& bad_checkpoints() {
  static const std::vector<BadFile> files = {
      {bad_input("safetensors/empty.safetensors"), {}},
      {bad_input("safetensors/length-truncated.safetensors"), {}},
      {bad_input("safetensors/header-length-huge.safetensors"), {}},
      {bad_input("safetensors/header-length-lies.safetensors"), {}},
      {bad_input("safetensors/bad-json.safetensors"), {}},
      {bad_input("safetensors/json-array.safetensors"), {}},
      {bad_input("safetensors/truncated-data.safetensors"), {}},
      {bad_input("safetensors/offsets-hole.safetensors"), {}},
      {bad_input("safetensors/unknown-dtype.safetensors"), {"F31"}},
      {bad_input("safetensors/text.safetensors"), {}},
      {bad_input("safetensors/wrong-model.safetensors"), {"0.weight"}},
      {bad_input("safetensors/mnist-cnn-wrong-shapes.safetensors"), {"shape"}},
  };
  return files;
}

TEST(ExampleInputFiles, MnistCnnRefusesBadCheckpointsBeforeReadingData) {
  CONVNET_REQUIRE_EXAMPLE(binary, "mnist_cnn");
  ScratchDir scratch;
  std::vector<BadFile> files = bad_checkpoints();
  expect_covers_corpus("safetensors", paths(files));
  files.push_back({scratch.file("missing.safetensors"), {"no such file"}});
  files.push_back({scratch.path(), {"is a directory"}});
  for (const BadFile& file : files) {
    for (const std::vector<std::string>& mode :
         {std::vector<std::string>{"--epochs", "1"}, std::vector<std::string>{"--eval-only"}}) {
      std::vector<std::string> args = {"--backend",  "cpu",    "--data",
                                       kMissingData, "--load", file.path};
      args.insert(args.end(), mode.begin(), mode.end());
      expect_refused("mnist_cnn", args, scratch.path(), with(file.fragments, file.path));
    }
  }
}

// The optimizer state beside a good checkpoint ("<model>.optimizer.safetensors")
// is read when training resumes, also before the data.
TEST(ExampleInputFiles, MnistCnnRefusesABadOptimizerFileBesideItsCheckpoint) {
  CONVNET_REQUIRE_EXAMPLE(binary, "mnist_cnn");
  ScratchDir scratch;
  const std::string model = scratch.file("model.safetensors");
  const std::string optimizer = scratch.file("model.optimizer.safetensors");
  write_mnist_cnn_checkpoint(model);
  for (const BadFile& file : bad_checkpoints()) {
    write_file(optimizer, read_file(file.path));
    expect_refused("mnist_cnn", {"--backend", "cpu", "--data", kMissingData, "--load", model},
                   scratch.path(), {optimizer});
  }
}

// ------------------------------------------------------------------ mnist_cnn --predict

TEST(ExampleInputFiles, MnistCnnRefusesBadPgmImagesBeforeTraining) {
  CONVNET_REQUIRE_EXAMPLE(binary, "mnist_cnn");
  ScratchDir scratch;
  const std::string large = scratch.file("large.pgm");  // 2 MiB: no 28x28 image is that large
  write_file(large, "P5\n28 28\n255\n" + std::string(2 << 20, '\x7f'));
  const std::vector<BadFile> files = {
      {bad_input("pgm/empty.pgm"), {"empty"}},
      {bad_input("pgm/bad-magic.pgm"), {"not a PGM", "P6"}},
      {bad_input("pgm/text.pgm"), {"not a PGM"}},
      {bad_input("pgm/wrong-size.pgm"), {"27x28", "28x28"}},
      {bad_input("pgm/huge-dimensions.pgm"), {"99999999999x99999999999"}},
      {bad_input("pgm/negative-width.pgm"), {"width", "-28"}},
      {bad_input("pgm/maxval-0.pgm"), {"maxval 0"}},
      {bad_input("pgm/maxval-65535.pgm"), {"maxval 65535", "8-bit"}},
      {bad_input("pgm/truncated.pgm"), {"truncated", "100 of 784"}},
      {bad_input("pgm/header-only.pgm"), {"ends after the header"}},
      {bad_input("pgm/missing-maxval.pgm"), {"before the maxval"}},
      {bad_input("pgm/comment-eats-header.pgm"), {"before the width"}},
      {bad_input("pgm/p2-above-maxval.pgm"), {"pixel 0 is 300"}},
      {bad_input("pgm/p2-not-a-number.pgm"), {"pixel 10", "\"x\""}},
      {bad_input("pgm/p2-too-few-pixels.pgm"), {"truncated", "700 of 784"}},
      {large, {"bytes"}},
      {scratch.file("missing.pgm"), {"no such file"}},
      {scratch.path(), {"not a regular file"}},
  };
  expect_covers_corpus("pgm", paths(files));
  const std::string model = scratch.file("model.safetensors");
  write_mnist_cnn_checkpoint(model);
  for (const BadFile& file : files) {
    // Training (the image used to be read after the last epoch) and evaluation only.
    expect_refused("mnist_cnn",
                   {"--backend", "cpu", "--data", kMissingData, "--predict", file.path},
                   scratch.path(), with(file.fragments, file.path));
    expect_refused("mnist_cnn",
                   {"--backend", "cpu", "--epochs", "0", "--load", model, "--predict", file.path},
                   scratch.path(), with(file.fragments, file.path));
  }
}

// ------------------------------------------------- output files: --save, --metrics, --metrics-csv, --tensorboard

TEST(ExampleOutputFiles, UnwritablePathsAreRefusedBeforeReadingData) {
  ScratchDir scratch;
  const std::string plain_file = scratch.file("plain-file");
  write_file(plain_file, "x");
  const std::string read_only_csv = scratch.file("read-only.csv");
  write_file(read_only_csv, "");
  const std::vector<BadFile> paths = {
      {scratch.path(), {"is a directory"}},
      {scratch.file("missing-folder/out.safetensors"), {"does not exist"}},
      {plain_file + "/out.safetensors", {"is not a folder"}},
  };
  struct Output {
    std::string program, flag;
  };
  for (const Output& output : {Output{"mlp_mnist", "--save"}, Output{"mlp_mnist", "--metrics-csv"},
                               Output{"mnist_cnn", "--save"}, Output{"mnist_cnn", "--metrics"},
                               Output{"mnist_cnn", "--export-onnx"}}) {
    if (example_program(output.program).empty()) GTEST_SKIP() << output.program << " is not built";
    if (output.flag == "--export-onnx" && !io::onnx_available()) continue;  // refused as unavailable
    for (const BadFile& path : paths)
      expect_refused(output.program,
                     {"--backend", "cpu", "--data", kMissingData, output.flag, path.path},
                     scratch.path(), with(with(path.fragments, path.path), output.flag));
  }
}

// --tensorboard names a folder: made when missing, refused when it cannot be
// (and, in a build without TensorBoard, refused whatever it is).
TEST(ExampleOutputFiles, UnusableTensorBoardFoldersAreRefusedBeforeReadingData) {
  ScratchDir scratch;
  if (!train::tensorboard_available()) {
    for (const std::string program : {"mlp_mnist", "mnist_cnn", "resnet_fashion"})
      if (!example_program(program).empty())
        expect_refused(program, {"--backend", "cpu", "--data", kMissingData, "--tensorboard", "runs"},
                       scratch.path(), {"--tensorboard", "without TensorBoard"});
    GTEST_SKIP() << "built without TensorBoard: only the refusal above is checked";
  }
  const std::string plain_file = scratch.file("plain-file");
  write_file(plain_file, "x");
  const std::vector<BadFile> folders = {
      {plain_file, {"is not a folder"}},
      {plain_file + "/runs", {"cannot be made"}},
  };
  for (const std::string program : {"mlp_mnist", "mnist_cnn", "resnet_fashion"}) {
    if (example_program(program).empty()) GTEST_SKIP() << program << " is not built";
    for (const BadFile& folder : folders)
      expect_refused(program, {"--backend", "cpu", "--data", kMissingData, "--tensorboard", folder.path},
                     scratch.path(), with(with(folder.fragments, folder.path), "--tensorboard"));
    // A folder that can be made is made before the data is read (and the run
    // then stops at the missing data, not at the folder).
    const std::string fresh = scratch.file(program + "-runs/a/b");
    expect_refused(program, {"--backend", "cpu", "--data", kMissingData, "--tensorboard", fresh},
                   scratch.path(), {kMissingData});
    EXPECT_TRUE(std::filesystem::is_directory(fresh)) << program << ": " << fresh << " was not made";
  }
}

// Permissions do not stop root, so this part needs an ordinary user.
TEST(ExampleOutputFiles, ReadOnlyFoldersAreRefusedBeforeReadingData) {
  if (::geteuid() == 0) GTEST_SKIP() << "running as root, which may write into a read-only folder";
  CONVNET_REQUIRE_EXAMPLE(binary, "mnist_cnn");
  ScratchDir scratch;
  const std::string folder = scratch.file("read-only");
  std::filesystem::create_directories(folder);
  std::filesystem::permissions(
      folder, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  for (const std::string& flag : {"--save", "--metrics", "--export-onnx"})
    expect_refused("mnist_cnn", {"--backend", "cpu", "--data", kMissingData, flag, folder + "/out"},
                   scratch.path(), {flag, "not writable"});
  if (train::tensorboard_available())
    expect_refused("mnist_cnn", {"--backend", "cpu", "--data", kMissingData, "--tensorboard", folder},
                   scratch.path(), {"--tensorboard", "not writable"});
}

}  // namespace
}  // namespace convnet::test
