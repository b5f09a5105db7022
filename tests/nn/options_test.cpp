// Layer options in libtorch's style (include/convnet/nn/options.hpp): PyTorch's
// names and defaults, setters that chain, getters of the same name, no trailing
// positional ints or booleans, checks that name the layer and the value, and
// layer names printed the way PyTorch's repr prints the module.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <type_traits>
#include <utility>

#include "support/values.hpp"

namespace convnet::test {
namespace {

// ---- What must not compile. A literal port of PyTorch's positional arguments
// would mean something else here, so those constructors do not exist.

// nn.MaxPool2d(2, 2, 0, 1): the fourth is dilation in PyTorch (it was ceil_mode here).
static_assert(!std::is_constructible_v<nn::MaxPool2d, int, int, int, int>);
static_assert(!std::is_constructible_v<nn::MaxPool2d, int, int>);
static_assert(!std::is_constructible_v<nn::MaxPool2d, int, int, int, bool>);
// nn.AvgPool2d(k, s, p, ceil_mode, count_include_pad): the booleans were the other way round.
static_assert(!std::is_constructible_v<nn::AvgPool2d, int, int, int, bool, bool>);
static_assert(!std::is_constructible_v<nn::AvgPool2d, int, int>);
// nn.Conv2d(in, out, k, stride, padding, dilation, groups): the seventh was bias here.
static_assert(!std::is_constructible_v<nn::Conv2d, int, int, int, int, int, int, bool>);
static_assert(!std::is_constructible_v<nn::Conv2d, int, int, int, int>);
static_assert(!std::is_constructible_v<nn::Linear, int, int, bool>);
static_assert(!std::is_constructible_v<nn::Dropout, float, int>);
static_assert(!std::is_constructible_v<nn::Softmax, bool>);
// The short forms stay.
static_assert(std::is_constructible_v<nn::Conv2d, int, int, int>);
static_assert(std::is_constructible_v<nn::Conv2d, int, int, nn::Pair>);
static_assert(std::is_constructible_v<nn::MaxPool2d, int>);
static_assert(std::is_constructible_v<nn::AvgPool2d, int>);
static_assert(std::is_constructible_v<nn::Linear, int, int>);
static_assert(std::is_constructible_v<nn::Dropout, float>);
static_assert(std::is_default_constructible_v<nn::Dropout>);
static_assert(std::is_default_constructible_v<nn::LeakyReLU>);
// A number is not silently a layer or an options object.
static_assert(!std::is_convertible_v<int, nn::MaxPool2d>);
static_assert(!std::is_convertible_v<int, nn::MaxPool2dOptions>);
static_assert(!std::is_convertible_v<float, nn::DropoutOptions>);
// Setters return the options by reference, so they chain (also through the pooling base).
static_assert(std::is_same_v<decltype(std::declval<nn::Conv2dOptions&>().stride(2)),
                             nn::Conv2dOptions&>);
static_assert(std::is_same_v<decltype(std::declval<nn::MaxPool2dOptions&>().stride(2)),
                             nn::MaxPool2dOptions&>);
static_assert(std::is_same_v<decltype(std::declval<nn::AvgPool2dOptions&>().padding(1)),
                             nn::AvgPool2dOptions&>);
// MaxPool2dOptions has no dilation: the backends pool contiguous windows only.
template <typename T, typename = void>
struct has_dilation : std::false_type {};
template <typename T>
struct has_dilation<T, std::void_t<decltype(std::declval<T&>().dilation(2))>> : std::true_type {};
static_assert(!has_dilation<nn::MaxPool2dOptions>::value);
static_assert(has_dilation<nn::Conv2dOptions>::value);

TEST(Options, PairIsOneIntOrHeightAndWidth) {
  const nn::Pair square = 5;
  EXPECT_EQ(square.h, 5);
  EXPECT_EQ(square.w, 5);
  EXPECT_TRUE(square.written_as_one());
  const nn::Pair rect = {3, 5};
  EXPECT_EQ(rect.h, 3);
  EXPECT_EQ(rect.w, 5);
  EXPECT_FALSE(rect.written_as_one());
  EXPECT_EQ(nn::Pair(2), nn::Pair(2, 2));  // equal values, however written
  EXPECT_NE(nn::Pair(2), nn::Pair(2, 3));
}

TEST(Options, DefaultsArePyTorchs) {
  const nn::Conv2dOptions conv(1, 32, 5);
  EXPECT_EQ(conv.in_channels(), 1);
  EXPECT_EQ(conv.out_channels(), 32);
  EXPECT_EQ(conv.kernel_size(), nn::Pair(5, 5));
  EXPECT_EQ(conv.stride(), nn::Pair(1));
  EXPECT_EQ(conv.padding(), nn::Pair(0));
  EXPECT_EQ(conv.dilation(), nn::Pair(1));
  EXPECT_TRUE(conv.bias());

  const nn::MaxPool2dOptions max(3);
  EXPECT_EQ(max.kernel_size(), nn::Pair(3));
  EXPECT_EQ(max.stride(), nn::Pair(3));  // unset: the kernel
  EXPECT_EQ(max.padding(), nn::Pair(0));
  EXPECT_FALSE(max.ceil_mode());

  const nn::AvgPool2dOptions avg(2);
  EXPECT_EQ(avg.stride(), nn::Pair(2));
  EXPECT_TRUE(avg.count_include_pad());
  EXPECT_FALSE(avg.ceil_mode());

  EXPECT_TRUE(nn::LinearOptions(4, 2).bias());
  EXPECT_EQ(nn::DropoutOptions().p(), 0.5f);
  EXPECT_EQ(nn::DropoutOptions().seed(), 0u);
  EXPECT_EQ(nn::LeakyReLUOptions().negative_slope(), 0.01f);
}

TEST(Options, SettersChainAndGettersReadBack) {
  const nn::Conv2dOptions conv =
      nn::Conv2dOptions(3, 8, {3, 5}).stride({2, 1}).padding(1).dilation({1, 2}).bias(false);
  EXPECT_EQ(conv.kernel_size(), nn::Pair(3, 5));
  EXPECT_EQ(conv.stride(), nn::Pair(2, 1));
  EXPECT_EQ(conv.padding(), nn::Pair(1, 1));
  EXPECT_EQ(conv.dilation(), nn::Pair(1, 2));
  EXPECT_FALSE(conv.bias());

  // A pooling stride left unset follows the kernel, whenever the kernel is set.
  nn::MaxPool2dOptions max(2);
  max.kernel_size(4);
  EXPECT_EQ(max.stride(), nn::Pair(4));
  max.stride({1, 2}).padding(1).ceil_mode(true);
  EXPECT_EQ(max.stride(), nn::Pair(1, 2));
  max.kernel_size(3);
  EXPECT_EQ(max.stride(), nn::Pair(1, 2));  // once set, it stays
  EXPECT_EQ(max.padding(), nn::Pair(1));
  EXPECT_TRUE(max.ceil_mode());

  const nn::AvgPool2dOptions avg = nn::AvgPool2dOptions(3).count_include_pad(false).stride(2);
  EXPECT_FALSE(avg.count_include_pad());
  EXPECT_EQ(avg.stride(), nn::Pair(2));

  EXPECT_EQ(nn::DropoutOptions(0.2f).seed(7).p(), 0.2f);
  EXPECT_EQ(nn::LeakyReLUOptions().negative_slope(0.2f).negative_slope(), 0.2f);
}

TEST(Options, LayersKeepTheirOptionsAndPassThemToTheBackends) {
  nn::Conv2d conv(nn::Conv2dOptions(2, 4, {3, 5}).stride({2, 1}).padding({1, 2}).dilation({2, 1}));
  EXPECT_EQ(conv.options().kernel_size(), nn::Pair(3, 5));
  EXPECT_EQ(conv.weight().value.shape(), (Shape{4, 2, 3, 5}));
  const Conv2dParams& cp = conv.params();
  EXPECT_EQ(cp.stride_h, 2);
  EXPECT_EQ(cp.stride_w, 1);
  EXPECT_EQ(cp.pad_h, 1);
  EXPECT_EQ(cp.pad_w, 2);
  EXPECT_EQ(cp.dilation_h, 2);
  EXPECT_EQ(cp.dilation_w, 1);
  // [1, 2, 9, 9]: H (9 + 2 - 2*2 - 1) / 2 + 1 = 4, W (9 + 4 - 5) / 1 + 1 = 9
  EXPECT_EQ(conv.output_shape({1, 2, 9, 9}), (Shape{1, 4, 4, 9}));
  EXPECT_EQ(conv.forward(Tensor::randn({1, 2, 9, 9}, Device::cpu(), 3), nn::Mode::Eval).shape(),
            (Shape{1, 4, 4, 9}));

  nn::Conv2d no_bias(nn::Conv2dOptions(1, 2, 3).bias(false));
  EXPECT_EQ(no_bias.bias(), nullptr);
  EXPECT_EQ(no_bias.parameters().size(), 1u);

  nn::MaxPool2d max(nn::MaxPool2dOptions({2, 3}).padding({1, 0}).ceil_mode(true));
  EXPECT_EQ(max.params().mode, PoolMode::Max);
  EXPECT_EQ(max.params().kernel_h, 2);
  EXPECT_EQ(max.params().kernel_w, 3);
  EXPECT_EQ(max.params().stride_h, 2);  // the kernel, per dimension
  EXPECT_EQ(max.params().stride_w, 3);
  EXPECT_EQ(max.params().pad_h, 1);
  EXPECT_EQ(max.params().pad_w, 0);
  EXPECT_TRUE(max.params().ceil_mode);

  nn::AvgPool2d avg(nn::AvgPool2dOptions(2).count_include_pad(false));
  EXPECT_EQ(avg.params().mode, PoolMode::AvgExcludePad);
  EXPECT_EQ(nn::AvgPool2d(2).params().mode, PoolMode::AvgIncludePad);

  nn::Linear linear(nn::LinearOptions(5, 3).bias(false));
  EXPECT_EQ(linear.bias(), nullptr);
  EXPECT_EQ(linear.weight().value.shape(), (Shape{3, 5}));

  nn::Dropout seeded(nn::DropoutOptions(0.3f).seed(42));
  EXPECT_EQ(seeded.seed(), 42u);
  EXPECT_EQ(seeded.options().p(), 0.3f);
  manual_seed(5);
  const uint64_t drawn = nn::Dropout().seed();
  manual_seed(5);
  EXPECT_EQ(nn::Dropout(0.1f).seed(), drawn);  // seed 0: the next seed of the generator
  EXPECT_NE(drawn, 0u);

  EXPECT_EQ(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2f)).options().negative_slope(),
            0.2f);
}

// Each layer's name() is PyTorch's repr of the same module (torch.nn.modules
// conv.py, pooling.py, linear.py, dropout.py, activation.py, flatten.py).
TEST(Options, NamesArePyTorchsRepr) {
  const std::pair<std::function<std::string()>, std::string> cases[] = {
      {[] { return nn::Conv2d(1, 32, 5).name(); },
       "Conv2d(1, 32, kernel_size=(5, 5), stride=(1, 1))"},
      {[] { return nn::Conv2d(nn::Conv2dOptions(1, 32, 5).padding(2)).name(); },
       "Conv2d(1, 32, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))"},
      {[] {
         return nn::Conv2d(nn::Conv2dOptions(3, 8, {3, 5})
                               .stride({2, 1})
                               .padding({1, 2})
                               .dilation(2)
                               .bias(false))
             .name();
       },
       "Conv2d(3, 8, kernel_size=(3, 5), stride=(2, 1), padding=(1, 2), dilation=(2, 2), "
       "bias=False)"},
      {[] { return nn::MaxPool2d(2).name(); },
       "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"},
      {[] { return nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1).ceil_mode(true)).name(); },
       "MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=True)"},
      {[] { return nn::MaxPool2d(nn::MaxPool2dOptions({2, 3})).name(); },
       "MaxPool2d(kernel_size=(2, 3), stride=(2, 3), padding=0, dilation=1, ceil_mode=False)"},
      {[] { return nn::AvgPool2d(2).name(); }, "AvgPool2d(kernel_size=2, stride=2, padding=0)"},
      {[] {
         return nn::AvgPool2d(nn::AvgPool2dOptions(3).stride(2).padding(1).count_include_pad(false))
             .name();
       },
       "AvgPool2d(kernel_size=3, stride=2, padding=1)"},  // PyTorch prints no more
      {[] { return nn::Linear(3136, 10).name(); },
       "Linear(in_features=3136, out_features=10, bias=True)"},
      {[] { return nn::Linear(nn::LinearOptions(4, 2).bias(false)).name(); },
       "Linear(in_features=4, out_features=2, bias=False)"},
      {[] { return nn::ReLU().name(); }, "ReLU()"},
      {[] { return nn::Sigmoid().name(); }, "Sigmoid()"},
      {[] { return nn::Tanh().name(); }, "Tanh()"},
      {[] { return nn::LeakyReLU().name(); }, "LeakyReLU(negative_slope=0.01)"},
      {[] { return nn::LeakyReLU(0.2f).name(); }, "LeakyReLU(negative_slope=0.2)"},
      {[] { return nn::Dropout().name(); }, "Dropout(p=0.5, inplace=False)"},
      {[] { return nn::Dropout(0.1f).name(); }, "Dropout(p=0.1, inplace=False)"},
      {[] { return nn::Dropout(0.f).name(); }, "Dropout(p=0.0, inplace=False)"},
      {[] { return nn::Flatten().name(); }, "Flatten(start_dim=1, end_dim=-1)"},
      {[] { return nn::Softmax().name(); }, "Softmax(dim=1)"},
      {[] { return nn::LogSoftmax().name(); }, "LogSoftmax(dim=1)"},
  };
  for (const auto& [name, expected] : cases) EXPECT_EQ(name(), expected);
}

// Floats print as Python's repr prints them: shortest digits, positional from
// 1e-4 up to 1e16, scientific with a two-digit exponent outside.
TEST(Options, FloatsPrintLikePythonsRepr) {
  const std::pair<float, std::string> cases[] = {
      {0.01f, "0.01"},  {0.2f, "0.2"},      {1.f, "1.0"},      {2.5f, "2.5"},
      {1e-4f, "0.0001"}, {1.5e-5f, "1.5e-05"}, {1e-5f, "1e-05"}, {123.f, "123.0"},
      {1e16f, "1e+16"}, {-0.3f, "-0.3"},    {0.f, "0.0"},      {0.33333334f, "0.33333334"},
  };
  for (const auto& [value, expected] : cases)
    EXPECT_EQ(nn::LeakyReLU(value).name(), "LeakyReLU(negative_slope=" + expected + ")");
}

TEST(Options, BadValuesNameTheLayerAndTheValue) {
  struct Case {
    std::function<void()> build;
    std::string layer, value;
  };
  const Case cases[] = {
      {[] { nn::Conv2d(0, 4, 3); }, "Conv2d", "in_channels 0"},
      {[] { nn::Conv2d(1, -2, 3); }, "Conv2d", "out_channels -2"},
      {[] { nn::Conv2d(1, 4, {3, 0}); }, "Conv2d", "kernel_size (3, 0)"},
      {[] { nn::Conv2d(nn::Conv2dOptions(1, 4, 3).stride(0)); }, "Conv2d", "stride (0, 0)"},
      {[] { nn::Conv2d(nn::Conv2dOptions(1, 4, 3).padding({0, -1})); }, "Conv2d",
       "padding (0, -1)"},
      {[] { nn::Conv2d(nn::Conv2dOptions(1, 4, 3).dilation(0)); }, "Conv2d", "dilation (0, 0)"},
      {[] { nn::MaxPool2d(0); }, "MaxPool2d", "kernel_size 0"},
      {[] { nn::MaxPool2d(nn::MaxPool2dOptions(2).stride({1, 0})); }, "MaxPool2d",
       "stride (1, 0)"},
      {[] { nn::MaxPool2d(nn::MaxPool2dOptions(3).padding(2)); }, "MaxPool2d",
       "padding 2 must be at most half of kernel_size 3"},
      {[] { nn::AvgPool2d(nn::AvgPool2dOptions(2).padding(-1)); }, "AvgPool2d", "padding -1"},
      {[] { nn::AvgPool2d(nn::AvgPool2dOptions({4, 2}).padding({2, 2})); }, "AvgPool2d",
       "padding (2, 2) must be at most half of kernel_size (4, 2)"},
      {[] { nn::Linear(0, 3); }, "Linear", "in_features 0"},
      {[] { nn::Linear(nn::LinearOptions(3, 0)); }, "Linear", "out_features 0"},
      {[] { nn::Dropout(1.f); }, "Dropout", "p = 1"},
      {[] { nn::Dropout(nn::DropoutOptions(-0.1f)); }, "Dropout", "p = -0.1"},
  };
  for (const Case& c : cases) {
    const std::string message = error_message(c.build);
    EXPECT_TRUE(contains(message, c.layer + ":")) << message;
    EXPECT_TRUE(contains(message, c.value)) << "expected \"" << c.value << "\" in: " << message;
  }
  // PyTorch's limit: padding up to half the kernel is fine.
  EXPECT_NO_THROW(nn::MaxPool2d(nn::MaxPool2dOptions(5).padding(2)));
  EXPECT_NO_THROW(nn::AvgPool2d(nn::AvgPool2dOptions({4, 2}).padding({2, 1})));
}

// The MNIST CNN with a Dropout and an AvgPool2d, as docs/pytorch.md ports it,
// built through Sequential::add with options; the summary prints each layer as
// PyTorch's print(model) does.
TEST(Options, SequentialAddTakesOptionsAndSummaryPrintsRepr) {
  nn::Sequential net;
  net.add<nn::Conv2d>(nn::Conv2dOptions(1, 32, 5).padding(2))
      .add<nn::ReLU>()
      .add<nn::MaxPool2d>(2)
      .add<nn::Conv2d>(nn::Conv2dOptions(32, 64, 5).padding(2))
      .add<nn::ReLU>()
      .add<nn::AvgPool2d>(nn::AvgPool2dOptions(2).stride(2))
      .add<nn::Flatten>()
      .add<nn::Dropout>(nn::DropoutOptions(0.25f))
      .add<nn::Linear>(64 * 7 * 7, 10);
  EXPECT_EQ(net.output_shape({8, 1, 28, 28}), (Shape{8, 10}));
  const std::string summary = net.summary({8, 1, 28, 28});
  for (const char* line :
       {"Conv2d(1, 32, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))", "ReLU()",
        "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)",
        "Conv2d(32, 64, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))",
        "AvgPool2d(kernel_size=2, stride=2, padding=0)", "Flatten(start_dim=1, end_dim=-1)",
        "Dropout(p=0.25, inplace=False)", "Linear(in_features=3136, out_features=10, bias=True)"})
    EXPECT_TRUE(contains(summary, line)) << line << " missing from\n" << summary;
  std::vector<std::string> names;
  for (nn::Parameter* p : net.parameters()) names.push_back(p->name);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "3.weight", "3.bias",
                                             "8.weight", "8.bias"}));
}

}  // namespace
}  // namespace convnet::test
