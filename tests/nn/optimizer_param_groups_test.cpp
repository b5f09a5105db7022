// Parameter groups (include/convnet/nn/optim.hpp): each group is updated
// exactly as an optimizer of its own would update it, bit for bit; set_lr()
// scales every group from its initial rate, so a schedule (train::Trainer's
// or the user's) keeps the groups' ratios; what PyTorch refuses is refused
// naming the group; and groups round-trip through io::save_optimizer.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "convnet/convnet.hpp"
#include "convnet/data/dataloader.hpp"
#include "convnet/io/safetensors.hpp"
#include "convnet/train/schedule.hpp"
#include "convnet/train/trainer.hpp"
#include "io/safetensors_files.hpp"
#include "support/values.hpp"
#include "train/quadrants.hpp"

namespace convnet::test {
namespace {

using Params = std::vector<nn::Parameter*>;

// A braced list of parameters and a braced list of groups are told apart by
// their elements (`{&w, &b}` is parameters, which std::vector<ParamGroup>'s
// iterator-pair constructor would otherwise also take).
static_assert(std::is_constructible_v<nn::SGD, std::initializer_list<nn::Parameter*>,
                                      nn::SGDOptions>);
static_assert(std::is_constructible_v<nn::SGD, Params, nn::SGDOptions>);
static_assert(std::is_constructible_v<nn::SGD, std::vector<nn::ParamGroup<nn::SGDOptions>>,
                                      nn::SGDOptions>);
static_assert(std::is_constructible_v<nn::Adam, std::vector<nn::ParamGroup<nn::AdamOptions>>>);
static_assert(std::is_constructible_v<nn::AdamW, std::vector<nn::ParamGroup<nn::AdamWOptions>>>);
// A group list of another optimizer's options does not compile.
static_assert(!std::is_constructible_v<nn::SGD, std::vector<nn::ParamGroup<nn::AdamOptions>>,
                                       nn::SGDOptions>);
static_assert(!std::is_constructible_v<nn::AdamW, std::vector<nn::ParamGroup<nn::AdamOptions>>>);

// The bits of every element, so that equality means bit-identical (-0 != +0).
std::vector<uint32_t> bits(const Tensor& t) {
  const std::vector<float> values = t.to(Device::cpu()).to_vector<float>();
  std::vector<uint32_t> out(values.size());
  std::memcpy(out.data(), values.data(), values.size() * sizeof(float));
  return out;
}

// Four parameters shaped like two layers' weights and biases, values from `seed`.
struct Toy {
  explicit Toy(uint64_t seed)
      : w1{"0.weight", Tensor::randn({4, 3}, Device::cpu(), seed), Tensor::zeros({4, 3})},
        b1{"0.bias", Tensor::randn({4}, Device::cpu(), seed + 1), Tensor::zeros({4})},
        w2{"2.weight", Tensor::randn({2, 4}, Device::cpu(), seed + 2), Tensor::zeros({2, 4})},
        b2{"2.bias", Tensor::randn({2}, Device::cpu(), seed + 3), Tensor::zeros({2})} {}
  nn::Parameter w1, b1, w2, b2;
  Params all() { return {&w1, &b1, &w2, &b2}; }
  Params weights() { return {&w1, &w2}; }
  Params biases() { return {&b1, &b2}; }
  // The gradients of step `step`: the same for every Toy.
  void set_grads(int step) {
    uint64_t seed = 1000 + 10 * static_cast<uint64_t>(step);
    for (nn::Parameter* p : all()) p->grad = Tensor::randn(p->value.shape(), Device::cpu(), seed++);
  }
};

::testing::AssertionResult same_bits(Toy& got, Toy& want) {
  const Params g = got.all(), w = want.all();
  for (size_t i = 0; i < g.size(); ++i)
    if (bits(g[i]->value) != bits(w[i]->value))
      return ::testing::AssertionFailure()
             << g[i]->name << " differs: " << g[i]->value.str() << " vs " << w[i]->value.str();
  return ::testing::AssertionSuccess();
}

// Every state tensor of `got` equals the one of the same name in `want`, and
// they hold the same names.
::testing::AssertionResult same_state(nn::Optimizer& got, std::vector<nn::Optimizer*> want) {
  std::vector<std::pair<std::string, Tensor*>> expected;
  for (nn::Optimizer* o : want)
    for (const auto& entry : o->state()) expected.push_back(entry);
  const auto actual = got.state();
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << actual.size() << " state tensors, expected "
                                         << expected.size();
  for (const auto& [name, tensor] : actual) {
    bool found = false;
    for (const auto& [other_name, other] : expected)
      if (other_name == name) {
        found = true;
        if (bits(*tensor) != bits(*other))
          return ::testing::AssertionFailure() << "state " << name << " differs";
      }
    if (!found) return ::testing::AssertionFailure() << "unexpected state " << name;
  }
  return ::testing::AssertionSuccess();
}

// The rate set_lr gives a group built with `initial` when the first was built
// with `first_initial`: the documented formula, in double, rounded once.
float scaled(float lr, float initial, float first_initial) {
  return static_cast<float>(static_cast<double>(lr) * initial / first_initial);
}

// ---- Each group updates as an optimizer of its own

TEST(OptimizerParamGroups, TwoGroupSgdEqualsTwoSgdsBitForBit) {
  const auto base = nn::SGDOptions(0.1f).momentum(0.9f).nesterov(true).weight_decay(5e-4f);
  const auto bias_options = nn::SGDOptions(base).lr(0.05f).weight_decay(0.f);
  Toy grouped(1), separate(1);
  nn::SGD sgd({{grouped.weights()}, {grouped.biases(), bias_options}}, base);
  nn::SGD sgd_weights(separate.weights(), base);
  nn::SGD sgd_biases(separate.biases(), bias_options);
  // The groups' options are whole: the second group's lr and weight decay are its own.
  ASSERT_EQ(sgd.param_groups().size(), 2u);
  EXPECT_EQ(sgd.param_groups()[0].lr(), 0.1f);
  EXPECT_EQ(sgd.param_groups()[1].lr(), 0.05f);
  EXPECT_EQ(sgd.param_groups()[1].params(), grouped.biases());
  EXPECT_EQ(sgd.parameters(), (Params{&grouped.w1, &grouped.w2, &grouped.b1, &grouped.b2}));
  for (int step = 0; step < 5; ++step) {
    grouped.set_grads(step);
    separate.set_grads(step);
    sgd.step();
    sgd_weights.step();
    sgd_biases.step();
    ASSERT_TRUE(same_bits(grouped, separate)) << "after step " << step + 1;
  }
  EXPECT_TRUE(same_state(sgd, {&sgd_weights, &sgd_biases}));
  EXPECT_EQ(sgd.step_count(), 5);
  // The decay reached only the first group: a weight differs from a plain run.
  Toy no_decay(1);
  nn::SGD plain({{no_decay.weights(), nn::SGDOptions(base).weight_decay(0.f)},
                 {no_decay.biases(), bias_options}},
                base);
  for (int step = 0; step < 5; ++step) {
    no_decay.set_grads(step);
    plain.step();
  }
  EXPECT_NE(bits(no_decay.w1.value), bits(grouped.w1.value));
  EXPECT_EQ(bits(no_decay.b1.value), bits(grouped.b1.value));
}

// A group with momentum 0 keeps no buffer; one with momentum does.
TEST(OptimizerParamGroups, SgdGroupsWithAndWithoutMomentum) {
  Toy grouped(2), separate(2);
  nn::SGD sgd({{grouped.weights()}, {grouped.biases(), nn::SGDOptions(0.2f).dampening(0.5f)}},
              nn::SGDOptions(0.1f).momentum(0.8f).dampening(0.1f));
  nn::SGD sgd_weights(separate.weights(), nn::SGDOptions(0.1f).momentum(0.8f).dampening(0.1f));
  nn::SGD sgd_biases(separate.biases(), nn::SGDOptions(0.2f).dampening(0.5f));
  for (int step = 0; step < 4; ++step) {
    grouped.set_grads(step);
    separate.set_grads(step);
    sgd.step();
    sgd_weights.step();
    sgd_biases.step();
    ASSERT_TRUE(same_bits(grouped, separate)) << "after step " << step + 1;
  }
  const auto state = sgd.state();
  ASSERT_EQ(state.size(), 2u);
  EXPECT_EQ(state[0].first, "0.weight.momentum_buffer");
  EXPECT_EQ(state[1].first, "2.weight.momentum_buffer");
  EXPECT_TRUE(same_state(sgd, {&sgd_weights, &sgd_biases}));
}

TEST(OptimizerParamGroups, AdamGroupsEqualSeparateAdams) {
  const auto base = nn::AdamOptions(1e-2f).betas({0.8f, 0.99f}).eps(1e-6f).weight_decay(0.1f);
  const auto other = nn::AdamOptions(3e-3f);  // PyTorch's defaults otherwise
  Toy grouped(3), separate(3);
  nn::Adam adam({{grouped.weights()}, {grouped.biases(), other}}, base);
  nn::Adam adam_weights(separate.weights(), base);
  nn::Adam adam_biases(separate.biases(), other);
  for (int step = 0; step < 5; ++step) {
    grouped.set_grads(step);
    separate.set_grads(step);
    adam.step();
    adam_weights.step();
    adam_biases.step();
    ASSERT_TRUE(same_bits(grouped, separate)) << "after step " << step + 1;
  }
  EXPECT_TRUE(same_state(adam, {&adam_weights, &adam_biases}));
  EXPECT_EQ(adam.name(), "Adam");
}

// AdamW's groups default to AdamWOptions() (weight decay 1e-2), as its list
// constructor does; a group can turn the decoupled decay off.
TEST(OptimizerParamGroups, AdamWGroupsEqualSeparateAdamWs) {
  Toy grouped(4), separate(4);
  nn::AdamW adamw({{grouped.weights()}, {grouped.biases(), nn::AdamWOptions().weight_decay(0.f)}});
  nn::AdamW adamw_weights(separate.weights());
  nn::AdamW adamw_biases(separate.biases(), nn::AdamWOptions().weight_decay(0.f));
  for (int step = 0; step < 5; ++step) {
    grouped.set_grads(step);
    separate.set_grads(step);
    if (step == 3) {  // a schedule's new rate, the same for both (equal initial rates)
      adamw.set_lr(5e-4f);
      adamw_weights.set_lr(5e-4f);
      adamw_biases.set_lr(5e-4f);
    }
    adamw.step();
    adamw_weights.step();
    adamw_biases.step();
    ASSERT_TRUE(same_bits(grouped, separate)) << "after step " << step + 1;
  }
  EXPECT_TRUE(same_state(adamw, {&adamw_weights, &adamw_biases}));
  EXPECT_EQ(adamw.name(), "AdamW");
}

// With zero gradients only the decay moves a parameter: AdamW's decoupled
// decay shrinks the first group by lr * weight_decay a step and leaves the
// second (weight_decay 0) exactly as it was.
TEST(OptimizerParamGroups, DecoupledDecayReachesOnlyItsGroup) {
  Toy toy(5);
  const std::vector<float> w1 = toy.w1.value.to_vector<float>();
  const std::vector<float> b1 = toy.b1.value.to_vector<float>();
  nn::AdamW adamw({{toy.weights(), nn::AdamWOptions(0.1f).weight_decay(0.5f)},
                   {toy.biases(), nn::AdamWOptions(0.1f).weight_decay(0.f)}});
  adamw.step();  // the grads are zero
  std::vector<float> shrunk = w1;
  for (float& v : shrunk) v *= 1.f - 0.1f * 0.5f;
  EXPECT_TRUE(values_near(toy.w1.value, shrunk, 1e-6, 0.0));
  EXPECT_TRUE(values_near(toy.b1.value, b1, 0.0, 0.0));
}

// ---- Learning rates

TEST(OptimizerParamGroups, SetLrScalesEachGroupFromItsInitialRate) {
  Toy toy(6);
  nn::SGD sgd({{{&toy.w1}}, {{&toy.b1}, nn::SGDOptions(0.05f)}, {{&toy.w2, &toy.b2}}},
              nn::SGDOptions(0.1f));
  EXPECT_EQ(sgd.lr(), 0.1f);
  EXPECT_EQ(sgd.param_groups()[1].initial_lr(), 0.05f);
  sgd.set_lr(0.03f);
  EXPECT_EQ(sgd.lr(), 0.03f);
  EXPECT_EQ(sgd.param_groups()[0].lr(), 0.03f);
  EXPECT_EQ(sgd.param_groups()[1].lr(), scaled(0.03f, 0.05f, 0.1f));
  EXPECT_NEAR(sgd.param_groups()[1].lr(), 0.015f, 1e-9f);
  EXPECT_EQ(sgd.param_groups()[2].lr(), 0.03f);  // built with the first group's rate: exact
  // Initial rates do not move, so a schedule's factor is always from them.
  sgd.set_lr(0.2f);
  EXPECT_EQ(sgd.param_groups()[1].lr(), scaled(0.2f, 0.05f, 0.1f));
  EXPECT_EQ(sgd.param_groups()[1].initial_lr(), 0.05f);

  // One group's own rate, until the next set_lr.
  sgd.param_group(1).set_lr(0.7f);
  EXPECT_EQ(sgd.param_groups()[1].lr(), 0.7f);
  EXPECT_EQ(sgd.lr(), 0.2f);
  EXPECT_EQ(sgd.param_groups()[2].lr(), 0.2f);
  sgd.set_lr(0.1f);
  EXPECT_EQ(sgd.param_groups()[1].lr(), 0.05f);

  // Without groups set_lr is the rate itself.
  nn::Adam adam(toy.all(), nn::AdamOptions(1e-3f));
  adam.set_lr(0.123f);
  EXPECT_EQ(adam.lr(), 0.123f);
  ASSERT_EQ(adam.param_groups().size(), 1u);
  EXPECT_EQ(adam.param_groups()[0].lr(), 0.123f);
  EXPECT_EQ(adam.param_groups()[0].initial_lr(), 1e-3f);
  EXPECT_EQ(adam.param_groups()[0].params(), toy.all());
}

TEST(OptimizerParamGroups, LearningRateErrors) {
  Toy toy(7);
  nn::SGD sgd({{toy.weights()}, {toy.biases(), nn::SGDOptions(0.05f)}}, nn::SGDOptions(0.1f));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(throws_error_with([&] { sgd.set_lr(-0.1f); },
                                {"SGD::set_lr", "learning rate", "-0.1"}));
  EXPECT_TRUE(throws_error_with([&] { sgd.set_lr(nan); }, {"SGD::set_lr", "nan"}));
  EXPECT_TRUE(throws_error_with([&] { sgd.param_group(1).set_lr(-1.f); },
                                {"SGD: parameter group 1", "learning rate", "-1"}));
  EXPECT_TRUE(throws_error_with([&] { sgd.param_group(2); },
                                {"SGD::param_group", "no group 2", "has 2"}));
  EXPECT_EQ(sgd.lr(), 0.1f);  // unchanged by the refusals
  EXPECT_EQ(sgd.param_groups()[1].lr(), 0.05f);

  // A first group built with rate 0 gives no ratio for a group that is not.
  Toy other(8);
  nn::SGD frozen_first({{other.weights(), nn::SGDOptions(0.f)}, {other.biases()}},
                       nn::SGDOptions(0.1f));
  EXPECT_TRUE(throws_error_with([&] { frozen_first.set_lr(0.2f); },
                                {"SGD::set_lr", "learning rate 0", "parameter group 1",
                                 "param_group(i).set_lr()"}));
  frozen_first.param_group(1).set_lr(0.2f);  // the way out
  EXPECT_EQ(frozen_first.param_groups()[1].lr(), 0.2f);
  // All built with 0: equal rates, so all follow.
  nn::SGD all_zero({{other.weights()}, {other.biases()}}, nn::SGDOptions(0.f));
  all_zero.set_lr(0.3f);
  EXPECT_EQ(all_zero.param_groups()[1].lr(), 0.3f);
}

// A schedule applied with set_lr each step (what train::Trainer does) gives
// the second group the schedule scaled by 0.05 / 0.1: the same trajectory as
// two optimizers each set to its own rate.
TEST(OptimizerParamGroups, ScheduleThroughSetLrEqualsScaledSeparateOptimizers) {
  const train::OneCycleLr schedule(0.1f, 8);
  const auto base = nn::SGDOptions(0.1f).momentum(0.9f).weight_decay(1e-3f);
  const auto bias_options = nn::SGDOptions(0.05f).momentum(0.9f);
  Toy grouped(9), separate(9);
  nn::SGD sgd({{grouped.weights()}, {grouped.biases(), bias_options}}, base);
  nn::SGD sgd_weights(separate.weights(), base);
  nn::SGD sgd_biases(separate.biases(), bias_options);
  for (int step = 0; step < 8; ++step) {
    const float lr = schedule.lr(step);
    sgd.set_lr(lr);
    sgd_weights.set_lr(lr);
    sgd_biases.set_lr(scaled(lr, 0.05f, 0.1f));
    grouped.set_grads(step);
    separate.set_grads(step);
    sgd.step();
    sgd_weights.step();
    sgd_biases.step();
    ASSERT_TRUE(same_bits(grouped, separate)) << "after step " << step + 1;
  }
}

// train::Trainer with a schedule and a grouped optimizer: the same parameters,
// bit for bit, as the loop written out with one optimizer per group, the
// second set to the schedule times 0.05 / 0.1.
TEST(OptimizerParamGroups, TrainerScheduleScalesEveryGroup) {
  using train::test::build_cnn;
  const data::Dataset dataset = train::test::quadrant_dataset(48, 3);
  const auto options = train::test::loader_options(16, /*shuffle=*/true);
  const int64_t steps_per_epoch = 3, epochs = 2;
  const train::CosineLr schedule(0.1f, steps_per_epoch * epochs);
  const auto base = nn::SGDOptions(0.1f).momentum(0.9f).weight_decay(5e-4f);
  const auto no_decay = nn::SGDOptions(0.05f).momentum(0.9f);

  manual_seed(11);
  nn::Sequential trained;
  build_cnn(trained);
  const nn::WeightDecaySplit split = nn::split_weight_decay(trained.parameters());
  nn::SGD sgd({{split.decay}, {split.no_decay, no_decay}}, base);
  nn::CrossEntropyLoss loss;
  train::TrainerOptions trainer_options;
  trainer_options.epochs = epochs;
  trainer_options.progress = false;
  train::Trainer trainer(trained, loss, sgd, schedule, trainer_options);
  data::DataLoader loader(dataset, options);
  const std::vector<train::EpochMetrics> history = trainer.fit(loader, nullptr);
  const int64_t last = steps_per_epoch * epochs - 1;
  EXPECT_EQ(sgd.lr(), schedule.lr(last));
  EXPECT_EQ(sgd.param_groups()[1].lr(), scaled(schedule.lr(last), 0.05f, 0.1f));
  EXPECT_EQ(history.back().lr, schedule.lr(last));  // the first group's

  manual_seed(11);
  nn::Sequential by_hand;
  build_cnn(by_hand);
  const nn::WeightDecaySplit hand_split = nn::split_weight_decay(by_hand.parameters());
  nn::SGD sgd_decay(hand_split.decay, base);
  nn::SGD sgd_no_decay(hand_split.no_decay, no_decay);
  nn::CrossEntropyLoss hand_loss;
  data::DataLoader hand_loader(dataset, options);
  int64_t step = 0;
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    hand_loader.start_epoch(epoch);
    data::Batch batch;
    while (hand_loader.next(batch)) {
      sgd_decay.set_lr(schedule.lr(step));
      sgd_no_decay.set_lr(scaled(schedule.lr(step), 0.05f, 0.1f));
      hand_loss.forward(by_hand.forward(batch.images, nn::Mode::Train), batch.labels);
      by_hand.backward(hand_loss.backward());
      sgd_decay.step();
      sgd_no_decay.step();
      sgd_decay.zero_grad();
      sgd_no_decay.zero_grad();
      ++step;
    }
  }
  ASSERT_EQ(step, steps_per_epoch * epochs);
  const Params got = trained.parameters(), want = by_hand.parameters();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_EQ(bits(got[i]->value), bits(want[i]->value)) << got[i]->name;
}

// `{&w, &b}` is one list of two parameters, not two groups; `{{w}, {b}}` two groups.
TEST(OptimizerParamGroups, BracedListsOfParametersAndOfGroups) {
  Toy toy(17);
  nn::SGD list({&toy.w1, &toy.b1}, nn::SGDOptions(0.1f));
  ASSERT_EQ(list.param_groups().size(), 1u);
  EXPECT_EQ(list.param_groups()[0].params(), (Params{&toy.w1, &toy.b1}));
  nn::AdamW adamw({&toy.w2, &toy.b2});
  EXPECT_EQ(adamw.param_groups().size(), 1u);
  nn::Adam groups({{{&toy.w1}}, {{&toy.b1}}});
  EXPECT_EQ(groups.param_groups().size(), 2u);
  EXPECT_EQ(error_message([] { nn::Adam({}); }), "Adam: optimizer got an empty parameter list");
}

// ---- What is refused

TEST(OptimizerParamGroups, BadGroupsAreRefusedNamingTheGroup) {
  Toy toy(10);
  using SgdGroups = std::vector<nn::ParamGroup<nn::SGDOptions>>;
  const nn::SGDOptions options(0.1f);
  EXPECT_EQ(error_message([&] { nn::SGD(SgdGroups{}, options); }),
            "SGD: optimizer got an empty parameter list");
  EXPECT_EQ(error_message([&] { nn::SGD(SgdGroups{{Params{}}}, options); }),
            "SGD: optimizer got an empty parameter list");
  EXPECT_TRUE(throws_error_with([&] { nn::SGD({{toy.weights()}, {Params{}}}, options); },
                                {"SGD: parameter group 1 of 2 is empty"}));
  EXPECT_TRUE(throws_error_with([&] { nn::SGD({{toy.weights()}, {{&toy.b1, nullptr}}}, options); },
                                {"SGD: parameter group 1: parameter 1 of 2 is null"}));
  EXPECT_TRUE(throws_error_with(
      [&] { nn::SGD({{{&toy.w1, &toy.w2, &toy.w1}}, {toy.biases()}}, options); },
      {"SGD: parameter group 0: parameter 2 (\"0.weight\") appears more than once in the group",
       "first as parameter 0"}));
  EXPECT_TRUE(throws_error_with(
      [&] { nn::Adam({{toy.weights()}, {{&toy.b1, &toy.w2}}}); },
      {"Adam: parameter 1 (\"2.weight\") of parameter group 1 is also parameter 1 of parameter "
       "group 0",
       "some parameters appear in more than one parameter group"}));
  // The usual way to get a parameter in two groups: all of a model, then part of it.
  EXPECT_TRUE(throws_error_with(
      [&] { nn::AdamW({{toy.all()}, {toy.biases(), nn::AdamWOptions().weight_decay(0.f)}}); },
      {"AdamW: parameter 0 (\"0.bias\") of parameter group 1 is also parameter 1 of parameter "
       "group 0"}));
}

TEST(OptimizerParamGroups, EveryGroupsOptionsAreChecked) {
  Toy toy(11);
  const nn::SGDOptions options(0.1f);
  EXPECT_TRUE(throws_error_with(
      [&] { nn::SGD({{toy.weights()}, {toy.biases(), nn::SGDOptions(0.1f).momentum(-0.5f)}},
                    options); },
      {"SGD: parameter group 1: momentum", "-0.5"}));
  EXPECT_TRUE(throws_error_with(
      [&] { nn::SGD({{toy.weights(), nn::SGDOptions(-0.1f)}, {toy.biases()}}, options); },
      {"SGD: parameter group 0: learning rate", "-0.1"}));
  EXPECT_TRUE(throws_error_with(
      [&] { nn::SGD({{toy.weights()}, {toy.biases(), nn::SGDOptions(0.1f).nesterov(true)}},
                    options); },
      {"SGD: parameter group 1: nesterov needs momentum > 0"}));
  // The defaults are checked even when every group has its own (as in PyTorch).
  EXPECT_TRUE(throws_error_with(
      [&] { nn::SGD({{toy.all(), options}}, nn::SGDOptions(0.1f).weight_decay(-1.f)); },
      {"SGD: defaults: weight_decay", "-1"}));
  EXPECT_TRUE(throws_error_with(
      [&] { nn::Adam({{toy.weights()}, {toy.biases(), nn::AdamOptions().betas({1.f, 0.9f})}}); },
      {"Adam: parameter group 1: betas[0]", "[0, 1)"}));
  EXPECT_TRUE(throws_error_with(
      [&] { nn::AdamW({{toy.weights(), nn::AdamWOptions().eps(-1.f)}, {toy.biases()}}); },
      {"AdamW: parameter group 0: eps", "-1"}));
  EXPECT_TRUE(throws_error_with(
      [&] { nn::AdamW({{toy.weights()}, {toy.biases()}}, nn::AdamWOptions(-5.f)); },
      {"AdamW: defaults: learning rate", "-5"}));
  // The list constructors name no group, as before groups existed.
  EXPECT_EQ(error_message([&] { nn::SGD(toy.all(), nn::SGDOptions(0.1f).momentum(-1.f)); }),
            "SGD: momentum must be a finite number >= 0, got -1");
}

// ---- split_weight_decay

TEST(OptimizerParamGroups, SplitWeightDecayByRank) {
  nn::Sequential net;
  net.add<nn::Conv2d>(nn::Conv2dOptions(1, 2, 3))
      .add<nn::ReLU>()
      .add<nn::Flatten>()
      .add<nn::Linear>(8, 3)
      .add<nn::Linear>(nn::LinearOptions(3, 2).bias(false));
  const Params all = net.parameters();
  const nn::WeightDecaySplit split = nn::split_weight_decay(all);
  std::vector<std::string> decay, no_decay;
  for (const nn::Parameter* p : split.decay) decay.push_back(p->name);
  for (const nn::Parameter* p : split.no_decay) no_decay.push_back(p->name);
  EXPECT_EQ(decay, (std::vector<std::string>{"0.weight", "3.weight", "4.weight"}));
  EXPECT_EQ(no_decay, (std::vector<std::string>{"0.bias", "3.bias"}));
  EXPECT_TRUE(throws_error_with([&] { nn::split_weight_decay({all[0], nullptr}); },
                                {"split_weight_decay: parameter 1 of 2 is null"}));
  EXPECT_TRUE(nn::split_weight_decay(Params{}).decay.empty());

  // In use: zero gradients, so only the decay moves anything; the biases stay.
  const std::vector<float> weight = all[0]->value.to_vector<float>();
  const std::vector<float> bias = all[1]->value.to_vector<float>();
  const auto options = nn::SGDOptions(0.1f).weight_decay(0.5f);
  nn::SGD sgd({{split.decay}, {split.no_decay, nn::SGDOptions(options).weight_decay(0.f)}},
              options);
  sgd.zero_grad();
  sgd.step();
  std::vector<float> shrunk = weight;
  for (float& v : shrunk) v -= 0.1f * (0.5f * v);
  EXPECT_TRUE(values_near(all[0]->value, shrunk, 1e-6, 0.0));
  EXPECT_TRUE(values_near(all[1]->value, bias, 0.0, 0.0));
}

// ---- Checkpoints

// Saved after some steps with rates set per group, loaded into a fresh
// optimizer with the same groups: the step count, every group's rate and the
// per-parameter state come back, and the two continue bit for bit.
TEST(OptimizerParamGroups, GroupsRoundTripThroughCheckpoints) {
  ScratchDir dir;
  const auto base = nn::SGDOptions(0.1f).momentum(0.9f).nesterov(true).weight_decay(5e-4f);
  const auto bias_options = nn::SGDOptions(0.05f);  // no momentum: no state
  Toy original(12);
  nn::SGD sgd({{original.weights()}, {original.biases(), bias_options}}, base);
  for (int step = 0; step < 3; ++step) {
    original.set_grads(step);
    sgd.step();
  }
  sgd.set_lr(0.04f);
  sgd.param_group(1).set_lr(0.007f);
  const std::string model = dir.file("toy.safetensors"), state = dir.file("toy.optimizer.safetensors");
  io::write_safetensors(model, {{"0.weight", original.w1.value},
                                {"0.bias", original.b1.value},
                                {"2.weight", original.w2.value},
                                {"2.bias", original.b2.value}});
  io::save_optimizer(sgd, state);
  const io::SafetensorsFile file = io::read_safetensors(state);
  EXPECT_EQ(file.metadata.at("param_group_sizes"), "2, 2");
  EXPECT_EQ(file.metadata.at("param_group_lrs"), "0.0399999991, 0.00700000022");
  EXPECT_EQ(file.metadata.at("lr"), "0.0399999991");
  ASSERT_EQ(file.tensors.size(), 2u);  // the momentum of the weights only

  Toy resumed(99);
  const io::SafetensorsFile weights = io::read_safetensors(model);
  for (nn::Parameter* p : resumed.all()) p->value.copy_from(*weights.find(p->name));
  nn::SGD fresh({{resumed.weights()}, {resumed.biases(), bias_options}}, base);
  const io::Metadata metadata = io::load_optimizer(fresh, state);
  EXPECT_EQ(fresh.step_count(), 3);
  EXPECT_EQ(fresh.lr(), 0.04f);
  EXPECT_EQ(fresh.param_groups()[1].lr(), 0.007f);
  EXPECT_EQ(fresh.param_groups()[1].initial_lr(), 0.05f);  // from the code, not the file
  EXPECT_TRUE(same_state(fresh, {&sgd}));
  for (int step = 3; step < 6; ++step) {
    original.set_grads(step);
    resumed.set_grads(step);
    sgd.step();
    fresh.step();
    ASSERT_TRUE(same_bits(resumed, original)) << "after step " << step + 1;
  }
}

TEST(OptimizerParamGroups, AdamGroupsRoundTripThroughCheckpoints) {
  ScratchDir dir;
  Toy original(13), resumed(14);
  const auto groups = [](Toy& toy) {
    return std::vector<nn::ParamGroup<nn::AdamWOptions>>{
        {toy.weights()}, {toy.biases(), nn::AdamWOptions(2e-3f).weight_decay(0.f)}};
  };
  nn::AdamW adamw(groups(original));
  for (int step = 0; step < 2; ++step) {
    original.set_grads(step);
    adamw.step();
  }
  const std::string state = dir.file("adamw.safetensors");
  io::save_optimizer(adamw, state);
  // The model file's part: the values the optimizer was saved with.
  const Params from = original.all(), to = resumed.all();
  for (size_t i = 0; i < from.size(); ++i) to[i]->value.copy_from(from[i]->value);
  nn::AdamW fresh(groups(resumed));
  io::load_optimizer(fresh, state);
  EXPECT_EQ(fresh.step_count(), 2);
  EXPECT_EQ(fresh.param_groups()[1].lr(), 2e-3f);
  EXPECT_TRUE(same_state(fresh, {&adamw}));
  for (int step = 2; step < 5; ++step) {
    original.set_grads(step);
    resumed.set_grads(step);
    adamw.step();
    fresh.step();
    ASSERT_TRUE(same_bits(resumed, original)) << "after step " << step + 1;
  }
}

// Another grouping of the same parameters is refused, as PyTorch's
// load_state_dict refuses it, and nothing is loaded.
TEST(OptimizerParamGroups, AnotherGroupingIsRefused) {
  ScratchDir dir;
  Toy toy(14);
  nn::Adam grouped({{toy.weights()}, {toy.biases(), nn::AdamOptions(1e-2f)}});
  toy.set_grads(0);
  grouped.step();
  const std::string state = dir.file("adam.safetensors");
  io::save_optimizer(grouped, state);

  nn::Adam single(toy.all(), nn::AdamOptions(0.5f));
  EXPECT_TRUE(throws_error_with([&] { io::load_optimizer(single, state); },
                                {"load_optimizer: " + state,
                                 "parameter groups hold 2, 2 parameters, but this one's hold 4",
                                 "nothing was loaded"}));
  EXPECT_EQ(single.step_count(), 0);
  EXPECT_EQ(single.lr(), 0.5f);
  // The same sizes with other members: the parameters' digest, taken over
  // them in order, tells the groupings apart.
  nn::Adam regrouped({{{&toy.w1, &toy.b1}}, {{&toy.w2, &toy.b2}}});
  EXPECT_TRUE(throws_error_with([&] { io::load_optimizer(regrouped, state); },
                                {"does not belong to the parameters it would update"}));
  EXPECT_EQ(regrouped.step_count(), 0);
  // Unchecked, the state still goes to the parameter it belongs to (by name).
  io::load_optimizer(regrouped, state, io::OptimizerLoadOptions().check_parameters(false));
  EXPECT_EQ(regrouped.step_count(), 1);
  EXPECT_TRUE(same_state(regrouped, {&grouped}));
}

// A file written before groups existed (no group entries) loads into a
// grouped optimizer: the state by name, "lr" through set_lr().
TEST(OptimizerParamGroups, AFileWithoutGroupEntriesLoadsThroughSetLr) {
  ScratchDir dir;
  Toy toy(15);
  // In the grouped optimizer's order, which the parameters' digest checks.
  nn::SGD single({&toy.w1, &toy.w2, &toy.b1, &toy.b2}, nn::SGDOptions(0.1f).momentum(0.9f));
  toy.set_grads(0);
  single.step();
  single.set_lr(0.02f);
  const std::string saved = dir.file("new.safetensors"), old = dir.file("old.safetensors");
  io::save_optimizer(single, saved);
  io::SafetensorsFile file = io::read_safetensors(saved);
  file.metadata.erase("param_group_sizes");
  file.metadata.erase("param_group_lrs");
  io::write_safetensors(old, file.tensors, file.metadata);

  nn::SGD grouped({{toy.weights()}, {toy.biases(), nn::SGDOptions(0.05f).momentum(0.9f)}},
                  nn::SGDOptions(0.1f).momentum(0.9f));
  io::load_optimizer(grouped, old);
  EXPECT_EQ(grouped.step_count(), 1);
  EXPECT_EQ(grouped.lr(), 0.02f);
  EXPECT_EQ(grouped.param_groups()[1].lr(), scaled(0.02f, 0.05f, 0.1f));
  EXPECT_TRUE(same_state(grouped, {&single}));
  // The new file does not load into that grouping.
  EXPECT_TRUE(throws_error_with([&] { io::load_optimizer(grouped, saved); },
                                {"parameter groups hold 4 parameters, but this one's hold 2, 2"}));
}

TEST(OptimizerParamGroups, GroupMetadataKeysAreReserved) {
  ScratchDir dir;
  Toy toy(16);
  nn::SGD sgd(toy.all(), nn::SGDOptions(0.1f));
  for (const char* key : {"param_group_sizes", "param_group_lrs"})
    EXPECT_TRUE(throws_error_with(
        [&] { io::save_optimizer(sgd, dir.file("x.safetensors"), {{key, "1"}}); },
        {"save_optimizer: metadata key \"" + std::string(key) + "\" is reserved"}));
}

}  // namespace
}  // namespace convnet::test
