// The examples on small valid inputs: each runs to the end (so the refusals in
// the other tests/cli tests cannot come from a program that always fails), and
// training that goes wrong says so: a non-finite loss stops mnist_cnn and
// mlp_mnist with the epoch and the step, --allow-nonfinite trains on with a
// warning, and mnist_cnn --epochs 0 evaluates a checkpoint without training.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "cli/cli_fixtures.hpp"
#include "convnet/io/onnx.hpp"
#include "convnet/train/tensorboard.hpp"

namespace convnet::test {
namespace {

ProgramResult run_ok(const std::string& binary, const std::vector<std::string>& args,
                     const std::string& cwd) {
  const ProgramResult result = run_program(binary, args, cwd, kRunTimeout);
  EXPECT_FALSE(result.timed_out) << command_line(binary, args);
  EXPECT_EQ(result.signal, 0) << command_line(binary, args);
  EXPECT_EQ(result.exit_code, 0) << command_line(binary, args) << "\nstderr:\n" << result.err;
  return result;
}

TEST(ExampleRuns, PerceptronSeparatesAValidIrisFile) {
  CONVNET_REQUIRE_EXAMPLE(binary, "perceptron");
  ScratchDir scratch;
  write_file(scratch.file("iris.csv"), good_iris_csv());
  const ProgramResult result = run_ok(binary, {"--data", scratch.file("iris.csv")}, scratch.path());
  EXPECT_NE(result.out.find("accuracy 100.00% (8 of 8)"), std::string::npos) << result.out;
}

TEST(ExampleRuns, DigitsCnnTrainsOnAValidDigitsFile) {
  CONVNET_REQUIRE_EXAMPLE(binary, "digits_cnn");
  ScratchDir scratch;
  write_file(scratch.file("digits.csv"), good_digits_csv(310));
  const ProgramResult result =
      run_ok(binary, {"--data", scratch.file("digits.csv"), "--epochs", "1"}, scratch.path());
  EXPECT_NE(result.out.find("10 training and 300 test images"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("test accuracy"), std::string::npos) << result.out;
}

// In-memory spirals through TensorDataset, DataLoader and Trainer: a short run
// must beat chance (3 arms: 33%) by far, and a bad flag is refused.
TEST(ExampleRuns, TensorDatasetLearnsTheSpirals) {
  CONVNET_REQUIRE_EXAMPLE(binary, "tensor_dataset");
  ScratchDir scratch;
  const ProgramResult result =
      run_ok(binary, {"--points", "300", "--epochs", "30", "--batch-size", "32", "--seed", "3"},
             scratch.path());
  EXPECT_NE(result.out.find("3 interleaved spirals, 900 training and 900 test points"),
            std::string::npos) << result.out;
  std::smatch match;
  ASSERT_TRUE(std::regex_search(result.out, match, std::regex(R"(test accuracy ([0-9.]+)% on 900)")))
      << result.out;
  EXPECT_GT(std::stod(match[1]), 90.0) << result.out;  // 98.4% when written
  const ProgramResult refused = run_program(binary, {"--classes", "1"}, scratch.path(), kRunTimeout);
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_NE(refused.err.find("--classes"), std::string::npos) << refused.err;
  const ProgramResult help = run_program(binary, {"--help"}, scratch.path(), kRunTimeout);
  EXPECT_EQ(help.exit_code, 0);
  for (const char* flag : {"--classes", "--points", "--turns", "--noise", "--hidden", "--epochs", "--batch-size",
                           "--lr", "--backend", "--seed"})
    EXPECT_NE(help.out.find(flag), std::string::npos) << flag << "\n" << help.out;
}

TEST(ExampleRuns, LogisticRegressionTrainsOnATinyMnist) {
  CONVNET_REQUIRE_EXAMPLE(binary, "logistic_regression");
  ScratchDir scratch;
  write_tiny_mnist(scratch.file("data"));
  const ProgramResult result =
      run_ok(binary, {"--data", scratch.file("data"), "--epochs", "1"}, scratch.path());
  EXPECT_NE(result.out.find("4 training and 2 test images"), std::string::npos) << result.out;
}

TEST(ExampleRuns, MlpMnistTrainsSavesAndWritesMetrics) {
  CONVNET_REQUIRE_EXAMPLE(binary, "mlp_mnist");
  ScratchDir scratch;
  write_tiny_mnist(scratch.file("data"));
  const ProgramResult result = run_ok(
      binary,
      {"--backend", "cpu", "--data", scratch.file("data"), "--epochs", "2", "--hidden", "16",
       "--save", scratch.file("mlp.safetensors"), "--metrics-csv", scratch.file("metrics.csv")},
      scratch.path());
  EXPECT_TRUE(std::filesystem::is_regular_file(scratch.file("mlp.safetensors")));
  const std::string metrics = read_file(scratch.file("metrics.csv"));
  EXPECT_EQ(std::count(metrics.begin(), metrics.end(), '\n'), 3)
      << metrics;  // header and two epochs
  EXPECT_NE(result.out.find("test accuracy"), std::string::npos) << result.out;
}

TEST(ExampleRuns, MnistCnnTrainsSavesPredictsAndEvaluatesWithEpochs0) {
  CONVNET_REQUIRE_EXAMPLE(binary, "mnist_cnn");
  ScratchDir scratch;
  write_tiny_mnist(scratch.file("data"));
  write_file(scratch.file("p5.pgm"), good_pgm(true));
  write_file(scratch.file("p2.pgm"), good_pgm(false));
  const std::string model = scratch.file("cnn.safetensors");
  std::vector<std::string> args = {"--backend", "cpu", "--data", scratch.file("data"), "--epochs",
                                   "1", "--batch-size", "8", "--save", model, "--metrics",
                                   scratch.file("metrics.csv"), "--predict", scratch.file("p5.pgm")};
  if (train::tensorboard_available())
    args.insert(args.end(), {"--tensorboard", scratch.file("runs/cnn"), "--tensorboard-histograms"});
  const ProgramResult trained = run_ok(binary, args, scratch.path());
  EXPECT_NE(trained.out.find("epoch 1: train loss"), std::string::npos) << trained.out;
  if (train::tensorboard_available()) {  // one event file (its contents: tests/train, tests/python)
    size_t event_files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(scratch.file("runs/cnn")))
      event_files += entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0;
    EXPECT_EQ(event_files, 1u);
  }
  EXPECT_NE(trained.out.find("prediction for " + scratch.file("p5.pgm")), std::string::npos)
      << trained.out;
  EXPECT_TRUE(std::filesystem::is_regular_file(scratch.file("cnn.optimizer.safetensors")));

  // --epochs 0: no training, the checkpoint is evaluated (and predicts).
  const ProgramResult evaluated =
      run_ok(binary,
             {"--backend", "cpu", "--data", scratch.file("data"), "--epochs", "0", "--load", model},
             scratch.path());
  EXPECT_EQ(evaluated.out.find("epoch 1"), std::string::npos) << evaluated.out;
  EXPECT_NE(evaluated.out.find("test accuracy:"), std::string::npos) << evaluated.out;
  EXPECT_NE(evaluated.out.find("(10 images)"), std::string::npos) << evaluated.out;
  if (io::onnx_available()) {  // --export-onnx of the loaded model, which imports back
    const std::string onnx_file = scratch.file("cnn.onnx");
    const ProgramResult exported = run_ok(
        binary, {"--backend", "cpu", "--data", scratch.file("data"), "--epochs", "0", "--load", model,
                 "--export-onnx", onnx_file},
        scratch.path());
    EXPECT_NE(exported.out.find("exported " + onnx_file), std::string::npos) << exported.out;
    EXPECT_EQ(io::import_onnx(onnx_file).model->size(), 8u);
  }
  const ProgramResult predicted = run_ok(
      binary,
      {"--backend", "cpu", "--epochs", "0", "--load", model, "--predict", scratch.file("p2.pgm")},
      scratch.path());
  EXPECT_NE(predicted.out.find("prediction for " + scratch.file("p2.pgm")), std::string::npos)
      << predicted.out;
}

// The epoch and step named in "... the training loss is nan at epoch E, step S of N ...".
struct Named {
  int epoch = 0, step = 0, of = 0;
};
Named named_step(const std::string& line) {
  std::smatch match;
  Named named;
  if (std::regex_search(line, match, std::regex(R"(at epoch (\d+), step (\d+) of (\d+))"))) {
    named.epoch = std::stoi(match[1]);
    named.step = std::stoi(match[2]);
    named.of = std::stoi(match[3]);
  }
  return named;
}

// --lr 1e30: the first step's loss is finite (the weights are still the initial
// ones), a later one is not. The error is the last line of stderr (progress
// lines come before it).
TEST(ExampleTraining, NonFiniteLossStopsMnistCnnAndMlpMnistUnlessAllowed) {
  ScratchDir scratch;
  write_tiny_mnist(scratch.file("data"));
  struct Case {
    std::string program;
    std::vector<std::string> args;
  };
  for (const Case& c :
       {Case{"mnist_cnn", {"--batch-size", "4"}}, Case{"mlp_mnist", {"--batch-size", "4"}}}) {
    const std::string binary = example_program(c.program);
    if (binary.empty()) GTEST_SKIP() << c.program << " is not built";
    std::vector<std::string> args = {"--backend", "cpu", "--data", scratch.file("data"),
                                     "--epochs",  "2",   "--lr",   "1e30"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const std::string command = command_line(binary, args);
    const ProgramResult stopped = run_program(binary, args, scratch.path(), kRunTimeout);
    ASSERT_FALSE(stopped.timed_out) << command;
    EXPECT_EQ(stopped.signal, 0) << command;
    EXPECT_EQ(stopped.exit_code, 1) << command << "\n" << stopped.err;
    const std::vector<std::string> lines = stopped.err_lines();
    ASSERT_FALSE(lines.empty()) << command;
    const std::string& error = lines.back();
    EXPECT_EQ(error.rfind(c.program + ": error: the training loss is ", 0), 0u) << error;
    EXPECT_NE(error.find("--allow-nonfinite"), std::string::npos) << error;
    const Named named = named_step(error);
    EXPECT_EQ(named.epoch, 1) << error;
    EXPECT_GE(named.step, 2) << error;
    EXPECT_LE(named.step, 5) << error;
    EXPECT_EQ(named.of, 5) << error;  // 20 training images in batches of 4
    EXPECT_EQ(stopped.out.find("epoch 1"), std::string::npos) << "finished an epoch:\n"
                                                              << stopped.out;

    args.push_back("--allow-nonfinite");
    const ProgramResult allowed = run_ok(binary, args, scratch.path());
    const std::regex warning(c.program +
                             R"(: warning: \d+ (of 5 )?steps of epoch 1 had a non-finite loss)");
    EXPECT_TRUE(std::regex_search(allowed.err, warning)) << allowed.err;
    EXPECT_NE(allowed.err.find("of epoch 2 had a non-finite loss"), std::string::npos)
        << allowed.err;
    EXPECT_NE(allowed.out.find("test accuracy"), std::string::npos) << allowed.out;
  }
}

}  // namespace
}  // namespace convnet::test
