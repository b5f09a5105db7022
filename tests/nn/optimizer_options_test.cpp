// Optimizer options in libtorch's style (include/convnet/nn/optim_options.hpp):
// PyTorch's defaults, setters that chain, no positional aggregate, and what
// PyTorch refuses is refused when the optimizer is built: out-of-range options,
// an empty parameter list, a null parameter, a parameter given twice.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "convnet/convnet.hpp"
#include "support/values.hpp"

namespace convnet::test {
namespace {

using Params = std::vector<nn::Parameter*>;

// ---- What must not compile. `{0.05f, 0.9f}` was lr and momentum; in another
// order of fields it would have meant something else without a word.
template <typename Opt, typename = void>
struct takes_two_floats : std::false_type {};
template <typename Opt>
struct takes_two_floats<Opt, std::void_t<decltype(Opt(std::declval<Params>(), {0.05f, 0.9f}))>>
    : std::true_type {};
template <typename Opt, typename = void>
struct takes_braced_lr : std::false_type {};
template <typename Opt>
struct takes_braced_lr<Opt, std::void_t<decltype(Opt(std::declval<Params>(), {0.05f}))>>
    : std::true_type {};
static_assert(!takes_two_floats<nn::SGD>::value);
static_assert(!takes_two_floats<nn::Adam>::value);
static_assert(!takes_two_floats<nn::AdamW>::value);
static_assert(!takes_braced_lr<nn::SGD>::value);
static_assert(!takes_braced_lr<nn::Adam>::value);
static_assert(!std::is_convertible_v<float, nn::SGDOptions>);
static_assert(!std::is_convertible_v<float, nn::AdamOptions>);
// SGD has no default learning rate (PyTorch requires one); Adam and AdamW do.
static_assert(!std::is_default_constructible_v<nn::SGDOptions>);
static_assert(!std::is_constructible_v<nn::SGD, Params>);
static_assert(std::is_constructible_v<nn::Adam, Params>);
static_assert(std::is_constructible_v<nn::AdamW, Params>);
// Setters return the options by reference, so they chain.
static_assert(std::is_same_v<decltype(std::declval<nn::SGDOptions&>().momentum(0.9f)),
                             nn::SGDOptions&>);
static_assert(std::is_same_v<decltype(std::declval<nn::AdamWOptions&>().eps(1e-6f)),
                             nn::AdamWOptions&>);

// `message` contains every one of `parts`.
::testing::AssertionResult says(const std::string& message, std::vector<std::string> parts) {
  for (const std::string& part : parts)
    if (!contains(message, part))
      return ::testing::AssertionFailure() << "\"" << message << "\" lacks \"" << part << "\"";
  return ::testing::AssertionSuccess();
}

struct TwoParameters {
  nn::Parameter a{"a", Tensor::from_vector(std::vector<float>{1.f, -2.f}, {2}),
                  Tensor::zeros({2})};
  nn::Parameter b{"b", Tensor::from_vector(std::vector<float>{3.f}, {1}), Tensor::zeros({1})};
  Params both() { return {&a, &b}; }
};

TEST(OptimizerOptions, DefaultsArePyTorchs) {
  const nn::SGDOptions sgd(0.1f);
  EXPECT_EQ(sgd.lr(), 0.1f);
  EXPECT_EQ(sgd.momentum(), 0.f);
  EXPECT_EQ(sgd.dampening(), 0.f);
  EXPECT_EQ(sgd.weight_decay(), 0.f);
  EXPECT_FALSE(sgd.nesterov());

  const nn::AdamOptions adam;
  EXPECT_EQ(adam.lr(), 1e-3f);
  EXPECT_EQ(adam.betas(), nn::AdamBetas(0.9f, 0.999f));
  EXPECT_EQ(adam.eps(), 1e-8f);
  EXPECT_EQ(adam.weight_decay(), 0.f);

  const nn::AdamWOptions adamw;
  EXPECT_EQ(adamw.lr(), 1e-3f);
  EXPECT_EQ(adamw.betas(), nn::AdamBetas(0.9f, 0.999f));
  EXPECT_EQ(adamw.eps(), 1e-8f);
  EXPECT_EQ(adamw.weight_decay(), 1e-2f);  // AdamW's own default
}

TEST(OptimizerOptions, SettersChainAndGettersReadBack) {
  const nn::SGDOptions sgd =
      nn::SGDOptions(0.05f).momentum(0.9f).dampening(0.1f).weight_decay(5e-4f).nesterov(true);
  EXPECT_EQ(sgd.lr(), 0.05f);
  EXPECT_EQ(sgd.momentum(), 0.9f);
  EXPECT_EQ(sgd.dampening(), 0.1f);
  EXPECT_EQ(sgd.weight_decay(), 5e-4f);
  EXPECT_TRUE(sgd.nesterov());
  EXPECT_EQ(nn::SGDOptions(1.f).lr(0.2f).lr(), 0.2f);

  const nn::AdamOptions adam = nn::AdamOptions(2e-3f).betas({0.8f, 0.99f}).eps(1e-6f).weight_decay(0.1f);
  EXPECT_EQ(adam.lr(), 2e-3f);
  EXPECT_EQ(std::get<0>(adam.betas()), 0.8f);
  EXPECT_EQ(std::get<1>(adam.betas()), 0.99f);
  EXPECT_EQ(adam.eps(), 1e-6f);
  EXPECT_EQ(adam.weight_decay(), 0.1f);
  EXPECT_EQ(nn::AdamWOptions().weight_decay(0.f).weight_decay(), 0.f);
}

// The options reach the update: AdamW's default decay shrinks a parameter
// whose gradient is zero (the Adam step itself is 0 / (0 + eps) = 0), by
// lr * weight_decay = 1e-5 a step; Adam's default (no decay) leaves it.
TEST(OptimizerOptions, AdamWDecaysByDefaultAndAdamDoesNot) {
  TwoParameters w, a;
  nn::AdamW adamw(w.both());
  nn::Adam adam(a.both());
  adamw.step();
  adam.step();
  const float shrink = 1.f - 1e-3f * 1e-2f;
  EXPECT_TRUE(values_near(w.a.value, {1.f * shrink, -2.f * shrink}, 3e-7, 0.0));
  EXPECT_TRUE(values_near(w.b.value, {3.f * shrink}, 3e-7, 0.0));
  EXPECT_TRUE(values_near(a.a.value, {1.f, -2.f}, 0.0, 0.0));
  adamw.step();
  EXPECT_TRUE(values_near(w.b.value, {3.f * shrink * shrink}, 3e-7, 0.0));
}

TEST(OptimizerOptions, OutOfRangeOptionsNameTheOptimizerAndTheValue) {
  TwoParameters p;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(says(error_message([&] { nn::SGD(p.both(), nn::SGDOptions(-0.1f)); }),
                   {"SGD", "learning rate", "-0.1"}));
  EXPECT_TRUE(says(error_message([&] { nn::SGD(p.both(), nn::SGDOptions(nan)); }),
                   {"SGD", "learning rate", "nan"}));
  EXPECT_TRUE(says(error_message([&] { nn::SGD(p.both(), nn::SGDOptions(0.1f).momentum(-0.5f)); }),
                   {"SGD", "momentum", "-0.5"}));
  EXPECT_TRUE(says(
      error_message([&] { nn::SGD(p.both(), nn::SGDOptions(0.1f).weight_decay(-1e-4f)); }),
      {"SGD", "weight_decay", "-0.0001"}));
  // PyTorch: "Nesterov momentum requires a momentum and zero dampening".
  EXPECT_TRUE(says(error_message([&] { nn::SGD(p.both(), nn::SGDOptions(0.1f).nesterov(true)); }),
                   {"SGD", "nesterov", "momentum 0"}));
  EXPECT_TRUE(says(error_message([&] {
                     nn::SGD(p.both(),
                             nn::SGDOptions(0.1f).momentum(0.9f).dampening(0.1f).nesterov(true));
                   }),
                   {"SGD", "nesterov", "dampening 0.1"}));
  EXPECT_NO_THROW(nn::SGD(p.both(), nn::SGDOptions(0.1f).momentum(0.9f).nesterov(true)));
  EXPECT_NO_THROW(nn::SGD(p.both(), nn::SGDOptions(0.f)));  // PyTorch accepts lr = 0

  EXPECT_TRUE(says(error_message([&] { nn::Adam(p.both(), nn::AdamOptions(-1e-3f)); }),
                   {"Adam", "learning rate", "-0.001"}));
  EXPECT_TRUE(says(error_message([&] { nn::Adam(p.both(), nn::AdamOptions().betas({1.f, 0.999f})); }),
                   {"Adam", "betas[0]", "[0, 1)", "got 1"}));
  EXPECT_TRUE(says(error_message([&] { nn::Adam(p.both(), nn::AdamOptions().betas({0.9f, -0.1f})); }),
                   {"Adam", "betas[1]", "-0.1"}));
  EXPECT_TRUE(says(error_message([&] { nn::Adam(p.both(), nn::AdamOptions().betas({nan, 0.9f})); }),
                   {"Adam", "betas[0]", "nan"}));
  EXPECT_TRUE(says(error_message([&] { nn::Adam(p.both(), nn::AdamOptions().eps(-1e-8f)); }),
                   {"Adam", "eps", "-1e-08"}));
  EXPECT_TRUE(says(error_message([&] { nn::Adam(p.both(), nn::AdamOptions().weight_decay(-2.f)); }),
                   {"Adam", "weight_decay", "-2"}));
  // AdamW names itself, not the Adam it is built on.
  const std::string adamw = error_message([&] { nn::AdamW(p.both(), nn::AdamWOptions().eps(-1.f)); });
  EXPECT_TRUE(says(adamw, {"AdamW:", "eps", "-1"}));
  EXPECT_TRUE(says(error_message([&] { nn::AdamW(p.both(), nn::AdamWOptions(-5.f)); }),
                   {"AdamW:", "learning rate", "-5"}));
  EXPECT_NO_THROW(nn::Adam(p.both(), nn::AdamOptions().betas({0.f, 0.f}).eps(0.f)));
}

TEST(OptimizerParameters, AnEmptyListIsRefused) {
  // PyTorch: "optimizer got an empty parameter list".
  EXPECT_EQ(error_message([] { nn::SGD({}, nn::SGDOptions(0.1f)); }),
            "SGD: optimizer got an empty parameter list");
  EXPECT_EQ(error_message([] { nn::Adam(Params{}); }),
            "Adam: optimizer got an empty parameter list");
  EXPECT_EQ(error_message([] { nn::AdamW(Params{}); }),
            "AdamW: optimizer got an empty parameter list");
  // The usual way to get one: a model without parameters.
  nn::Sequential activations;
  activations.add<nn::ReLU>().add<nn::Flatten>();
  EXPECT_TRUE(says(error_message([&] { nn::SGD(activations.parameters(), nn::SGDOptions(0.1f)); }),
                   {"SGD", "empty parameter list"}));
}

TEST(OptimizerParameters, ANullParameterIsRefused) {
  TwoParameters p;
  EXPECT_TRUE(says(error_message([&] { nn::SGD({&p.a, nullptr}, nn::SGDOptions(0.1f)); }),
                   {"SGD", "parameter 1 of 2 is null"}));
  EXPECT_TRUE(says(error_message([&] { nn::AdamW({nullptr, &p.b}); }),
                   {"AdamW", "parameter 0 of 2 is null"}));
}

TEST(OptimizerParameters, AParameterGivenTwiceIsRefused) {
  TwoParameters p;
  EXPECT_TRUE(says(error_message([&] { nn::SGD({&p.a, &p.b, &p.a}, nn::SGDOptions(0.1f)); }),
                   {"SGD", "parameter 2 (\"a\")", "more than once", "first as parameter 0"}));
  // A model's parameters passed twice, as a careless concatenation does.
  nn::Sequential net;
  net.add<nn::Linear>(3, 2);
  Params twice = net.parameters();
  const Params again = net.parameters();
  twice.insert(twice.end(), again.begin(), again.end());
  EXPECT_TRUE(says(error_message([&] { nn::Adam adam(twice); }),
                   {"Adam", "parameter 2 (\"0.weight\")", "more than once"}));
  // Two parameters that merely share a name are different parameters.
  nn::Parameter other_a{"a", Tensor::zeros({2}), Tensor::zeros({2})};
  EXPECT_NO_THROW(nn::SGD({&p.a, &other_a}, nn::SGDOptions(0.1f)));
}

}  // namespace
}  // namespace convnet::test
