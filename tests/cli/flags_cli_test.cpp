// Every flag of every example refuses out-of-range values while parsing, before
// any data is read: exit status 2, one line on stderr naming the flag, nothing
// on stdout. Values at the edges of each range are accepted (the program then
// goes on and fails at its missing --data, exit 1). The tables list every flag
// the programs' --help shows; a flag added without a row here fails the test.
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli_fixtures.hpp"

namespace convnet::test {
namespace {

enum class Kind { Switch, Path, Choice, PositiveFloat, FloatRange, PositiveInt, IntRange, Seed };

struct Flag {
  std::string name;
  Kind kind;
  std::vector<std::string> range = {};  // FloatRange, IntRange: {low, high}; Choice: the members
  bool low_open = false;                // FloatRange: low itself is refused
};

struct Program {
  std::string name;
  std::vector<Flag> flags;
  std::string data_flag_value;  // --data that does not exist: where an accepted value leads
};

const std::string kMissingData = "/nonexistent-convnet-cli-test/data";

const std::vector<Program>& programs() {
  static const std::vector<Program> all = {
      {"perceptron",
       {{"--data", Kind::Path},
        {"--features", Kind::Choice, {"2", "4"}},
        {"--epochs", Kind::PositiveInt},
        {"--lr", Kind::PositiveFloat},
        {"--seed", Kind::Seed}}},
      {"logistic_regression",
       {{"--data", Kind::Path},
        {"--epochs", Kind::PositiveInt},
        {"--batch-size", Kind::IntRange, {"1", "65536"}},
        {"--lr", Kind::PositiveFloat},
        {"--seed", Kind::Seed},
        {"--negative", Kind::IntRange, {"0", "9"}},
        {"--positive", Kind::IntRange, {"0", "9"}}}},
      {"mlp_mnist",
       {{"--data", Kind::Path},
        {"--backend", Kind::Choice, {"auto", "cpu", "cuda", "cudnn"}},
        {"--hidden", Kind::IntRange, {"1", "65536"}},
        {"--activation", Kind::Choice, {"relu", "sigmoid"}},
        {"--epochs", Kind::PositiveInt},
        {"--batch-size", Kind::IntRange, {"1", "65536"}},
        {"--lr", Kind::PositiveFloat},
        {"--momentum", Kind::FloatRange, {"0", "0.999"}},
        {"--schedule", Kind::Choice, {"constant", "step", "cosine", "onecycle"}},
        {"--seed", Kind::Seed},
        {"--save", Kind::Path},
        {"--metrics-csv", Kind::Path},
        {"--tensorboard", Kind::Path},
        {"--tensorboard-histograms", Kind::Switch},
        {"--allow-nonfinite", Kind::Switch}}},
      {"digits_cnn",
       {{"--data", Kind::Path},
        {"--backend", Kind::Choice, {"cpu", "cuda", "cudnn"}},
        {"--epochs", Kind::PositiveInt},
        {"--batch-size", Kind::IntRange, {"1", "65536"}},
        {"--lr", Kind::PositiveFloat},
        {"--seed", Kind::Seed}}},
      {"mnist_cnn",
       {{"--backend", Kind::Choice, {"auto", "cpu", "cuda", "cudnn"}},
        {"--epochs", Kind::IntRange, {"0", "2147483647"}},
        {"--batch-size", Kind::IntRange, {"1", "65536"}},
        {"--lr", Kind::PositiveFloat},
        {"--momentum", Kind::FloatRange, {"0", "0.999"}, /*low_open=*/true},  // Nesterov needs > 0
        {"--weight-decay", Kind::FloatRange, {"0", "1"}},
        {"--schedule", Kind::Choice, {"constant", "step", "cosine", "onecycle"}},
        {"--seed", Kind::Seed},
        {"--data", Kind::Path},
        {"--dataset", Kind::Choice, {"mnist", "fashion"}},
        {"--save", Kind::Path},
        {"--load", Kind::Path},
        {"--eval-only", Kind::Switch},
        {"--predict", Kind::Path},
        {"--metrics", Kind::Path},
        {"--export-onnx", Kind::Path},
        {"--tensorboard", Kind::Path},
        {"--tensorboard-histograms", Kind::Switch},
        {"--device-resident", Kind::Switch},
        {"--allow-nonfinite", Kind::Switch}}},
  };
  return all;
}

// Values the flag must refuse.
std::vector<std::string> refused_values(const Flag& flag) {
  switch (flag.kind) {
    case Kind::Switch:
      return {};
    case Kind::Path:
      return {""};
    case Kind::Choice:
      return {"bogus", "", flag.range[0] + "x"};
    case Kind::PositiveFloat:
      return {"0", "-1", "nan", "inf", "-inf", "1e39", "1e-50", "abc", "", "1,5", "0.5x"};
    case Kind::FloatRange: {
      const double high = std::stod(flag.range[1]);
      std::ostringstream above;
      above << high * 1.5 + 0.001;
      std::vector<std::string> values = {"-0.001", above.str(), "nan", "inf", "abc", ""};
      if (flag.low_open) values.push_back(flag.range[0]);
      return values;
    }
    case Kind::PositiveInt:
      return {"0", "-3", "1.5", "1e3", "0x10", "99999999999", "abc", ""};
    case Kind::IntRange: {
      const long long low = std::stoll(flag.range[0]), high = std::stoll(flag.range[1]);
      return {std::to_string(low - 1), std::to_string(high + 1), "1.5", "abc", "", "0x10"};
    }
    case Kind::Seed:
      return {"-1", "1.5", "abc", "", "18446744073709551616"};
  }
  return {};
}

// Values at the edges of the range, which the flag must accept.
std::vector<std::string> accepted_values(const Flag& flag) {
  switch (flag.kind) {
    case Kind::Switch:
    case Kind::Path:
    case Kind::Choice:
      return {};  // paths lead elsewhere; choices are checked by CLI11's IsMember
    case Kind::PositiveFloat:
      return {"1e-30", "3.4e38", " 0.5"};
    case Kind::FloatRange:
      return {flag.low_open ? flag.range[0] + ".001" : flag.range[0], flag.range[1]};
    case Kind::PositiveInt:
      return {"1", "+2", "010"};
    case Kind::IntRange:
      return {flag.range[0], flag.range[1]};
    case Kind::Seed:
      return {"0", "18446744073709551615"};
  }
  return {};
}

std::vector<std::string> data_args(const Program& program, const std::string& except_flag) {
  if (except_flag == "--data") return {};
  return {"--data", kMissingData};
}

class ExampleFlagsTest : public ::testing::TestWithParam<std::string> {
 protected:
  const Program& program() const {
    for (const Program& p : programs())
      if (p.name == GetParam()) return p;
    throw std::runtime_error("no program " + GetParam());
  }
};

// --help lists exactly the flags of the table (so none escapes the tests below).
TEST_P(ExampleFlagsTest, TableCoversEveryFlag) {
  CONVNET_REQUIRE_EXAMPLE(binary, GetParam());
  ScratchDir scratch;
  const ProgramResult help = run_program(binary, {"--help"}, scratch.path(), kRunTimeout);
  ASSERT_EQ(help.exit_code, 0) << help.err;
  std::set<std::string> listed;
  const std::regex option(R"(^\s+(?:-\w, )?(--[a-z][a-z0-9-]*))");
  std::istringstream lines(help.out);
  for (std::string line; std::getline(lines, line);) {
    std::smatch match;
    if (std::regex_search(line, match, option) && match[1] != "--help") listed.insert(match[1]);
  }
  std::set<std::string> tabled;
  for (const Flag& flag : program().flags) tabled.insert(flag.name);
  EXPECT_EQ(listed, tabled) << help.out;
}

TEST_P(ExampleFlagsTest, RefusesOutOfRangeValuesBeforeReadingData) {
  CONVNET_REQUIRE_EXAMPLE(binary, GetParam());
  ScratchDir scratch;
  int cases = 0;
  for (const Flag& flag : program().flags) {
    for (const std::string& value : refused_values(flag)) {
      std::vector<std::string> args = data_args(program(), flag.name);
      args.push_back(flag.name + "=" + value);  // "=" keeps "-1" and "" a value, not a flag
      const std::string command = command_line(binary, args);
      const ProgramResult result = run_program(binary, args, scratch.path(), kRunTimeout);
      expect_one_line_error(result, command, GetParam(), 2, {flag.name});
      EXPECT_EQ(result.out, "") << command << ": printed before refusing";
      ++cases;
    }
  }
  EXPECT_GT(cases, 5);
}

TEST_P(ExampleFlagsTest, AcceptsTheEdgesOfEachRange) {
  CONVNET_REQUIRE_EXAMPLE(binary, GetParam());
  ScratchDir scratch;
  for (const Flag& flag : program().flags) {
    for (const std::string& value : accepted_values(flag)) {
      std::vector<std::string> args = data_args(program(), flag.name);
      args.push_back(flag.name + "=" + value);
      // mnist_cnn: --epochs 0 evaluates a checkpoint (tests/cli/training_cli_test.cpp).
      if (GetParam() == "mnist_cnn" && flag.name == "--epochs" && value == "0") continue;
      if (GetParam() == "mnist_cnn") args.insert(args.end(), {"--backend", "cpu"});
      // logistic_regression refuses the same digit twice; 5 is neither edge.
      if (flag.name == "--negative") args.push_back("--positive=5");
      if (flag.name == "--positive") args.push_back("--negative=5");
      const std::string command = command_line(binary, args);
      // Parsed, then stopped by the missing data: exit 1 naming it, not 2.
      expect_one_line_error(run_program(binary, args, scratch.path(), kRunTimeout), command,
                            GetParam(), 1, {kMissingData});
    }
  }
}

TEST_P(ExampleFlagsTest, RefusesUnknownFlagsStrayArgumentsAndMissingValues) {
  CONVNET_REQUIRE_EXAMPLE(binary, GetParam());
  ScratchDir scratch;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--bogus"}, "--bogus"},
      {{"stray"}, "stray"},
      {{"--seed"}, "--seed"},  // the value is missing
      {{"--seed", "1", "--seed", "2"}, "--seed"},
  };
  for (const auto& [args, fragment] : cases) {
    const std::string command = command_line(binary, args);
    const ProgramResult result = run_program(binary, args, scratch.path(), kRunTimeout);
    expect_one_line_error(result, command, GetParam(), 2, {fragment});
    EXPECT_EQ(result.out, "") << command;
  }
}

INSTANTIATE_TEST_SUITE_P(Examples, ExampleFlagsTest,
                         ::testing::Values("perceptron", "logistic_regression", "mlp_mnist",
                                           "digits_cnn", "mnist_cnn"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// Combinations that no single flag's check sees, refused the same way.
TEST(ExampleFlagCombinations, AreRefusedBeforeReadingData) {
  ScratchDir scratch;
  struct Case {
    std::string program;
    std::vector<std::string> args;
    std::vector<std::string> fragments;
  };
  const std::vector<Case> cases = {
      {"logistic_regression", {"--negative", "4", "--positive", "4"}, {"--negative", "--positive"}},
      {"mnist_cnn", {"--eval-only"}, {"--eval-only", "--load"}},
      {"mnist_cnn", {"--epochs", "0"}, {"--epochs 0", "--load"}},
      {"mnist_cnn",
       {"--eval-only", "--epochs", "2", "--load", "x.safetensors"},
       {"--eval-only", "--epochs 2"}},
      {"mnist_cnn",
       {"--epochs", "0", "--load", "x.safetensors", "--save", "y.safetensors"},
       {"--save"}},
      {"mnist_cnn",
       {"--eval-only", "--load", "x.safetensors", "--metrics", "m.csv"},
       {"--metrics"}},
      {"mnist_cnn",
       {"--eval-only", "--load", "x.safetensors", "--tensorboard", "runs"},
       {"--tensorboard", "no epochs"}},
      // A histogram switch without a log folder would silently do nothing.
      {"mnist_cnn", {"--tensorboard-histograms"}, {"--tensorboard-histograms", "--tensorboard"}},
      {"mlp_mnist", {"--tensorboard-histograms"}, {"--tensorboard-histograms", "--tensorboard"}},
      {"resnet_fashion", {"--tensorboard-histograms"}, {"--tensorboard-histograms", "--tensorboard"}},
      {"resnet_fashion",
       {"--epochs", "0", "--load", "x.safetensors", "--tensorboard", "runs"},
       {"--tensorboard", "no epochs"}},
  };
  for (const Case& c : cases) {
    const std::string binary = example_program(c.program);
    if (binary.empty()) GTEST_SKIP() << c.program << " is not built";
    std::vector<std::string> args = c.args;
    args.insert(args.end(), {"--data", kMissingData});
    const std::string command = command_line(binary, args);
    const ProgramResult result = run_program(binary, args, scratch.path(), kRunTimeout);
    expect_one_line_error(result, command, c.program, 2, c.fragments);
    EXPECT_EQ(result.out, "") << command;
  }
}

}  // namespace
}  // namespace convnet::test
