// Checkpoints as PyTorch writes them: F16, BF16 and F64 converted to F32, I64
// range-checked into I32, the conversions reported; loads with PyTorch's
// strict=False and a stripped prefix; loads from memory. The files in
// tests/io/fixtures/ were written by the Python `safetensors` package from numpy
// arrays (generate.py beside them), and hold numpy's own conversions as the
// expected values, so nothing here trusts convnet for the answer.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "convnet/io/safetensors.hpp"
#include "io/float_bits.hpp"
#include "io/safetensors_files.hpp"

namespace convnet::test {
namespace {

using io::detail::bits_of;

std::string fixture(const std::string& name) {
  return std::string(CONVNET_SOURCE_DIR) + "/tests/io/fixtures/" + name;
}

std::vector<uint32_t> float_bits(const Tensor& t) {
  std::vector<uint32_t> bits;
  for (float v : t.to_vector<float>()) bits.push_back(bits_of(v));
  return bits;
}

// Bit-for-bit equal, NaN payloads included.
::testing::AssertionResult same_bits(const Tensor& got, const Tensor& expected) {
  if (got.shape() != expected.shape() || got.dtype() != DType::F32)
    return ::testing::AssertionFailure() << got.str() << " vs " << expected.str();
  const auto a = float_bits(got), b = float_bits(expected);
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i])
      return ::testing::AssertionFailure()
             << "element " << i << ": 0x" << std::hex << a[i] << " (" << got.to_vector<float>()[i]
             << "), expected 0x" << b[i] << " (" << expected.to_vector<float>()[i] << ")";
  return ::testing::AssertionSuccess();
}

const io::Conversion* conversion_of(const std::vector<io::Conversion>& all,
                                    const std::string& name) {
  for (const io::Conversion& c : all)
    if (c.name == name) return &c;
  return nullptr;
}

std::vector<std::string> names_of(const std::vector<io::Conversion>& all) {
  std::vector<std::string> names;
  for (const io::Conversion& c : all)
    names.push_back(c.name + " " + c.from + "->" + dtype_name(c.to));
  return names;
}

// ---- the bit conversions, checked without any file

// Every one of the 65,536 half values against the format's definition,
// (-1)^s * 2^(e-15) * 1.f, or 2^-14 * 0.f when e = 0, computed with ldexp.
TEST(HalfToFloat, EveryValueMatchesTheDefinition) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float got = io::detail::half_to_float(static_cast<uint16_t>(h));
    const bool negative = (h & 0x8000) != 0;
    const int exponent = (h >> 10) & 0x1f;
    const int fraction = h & 0x3ff;
    if (exponent == 0x1f) {
      ASSERT_TRUE(fraction == 0 ? std::isinf(got) : std::isnan(got)) << std::hex << h;
      ASSERT_EQ(std::signbit(got), negative) << std::hex << h;
      continue;
    }
    const double magnitude = exponent == 0 ? std::ldexp(double(fraction), -24)
                                           : std::ldexp(double(1024 + fraction), exponent - 25);
    const float want = static_cast<float>(negative ? -magnitude : magnitude);  // exact in a float
    ASSERT_EQ(bits_of(got), bits_of(want)) << "half 0x" << std::hex << h;
  }
}

// One value per class, with the float32 bits written out by hand.
TEST(HalfToFloat, EachClassHasTheExpectedBits) {
  const std::pair<uint16_t, uint32_t> cases[] = {
      {0x0000, 0x00000000}, {0x8000, 0x80000000},  // +-0
      {0x0001, 0x33800000}, {0x8001, 0xb3800000},  // smallest subnormal, +-2^-24
      {0x03ff, 0x387fc000},                        // largest subnormal, 1023 * 2^-24
      {0x0400, 0x38800000},                        // smallest normal, 2^-14
      {0x3c00, 0x3f800000}, {0x7bff, 0x477fe000},  // 1, 65504
      {0x7c00, 0x7f800000}, {0xfc00, 0xff800000},  // +-inf
      {0x7e00, 0x7fc00000},                        // quiet NaN
      {0xfe55, 0xffcaa000},                        // negative NaN: the payload moves up 13 bits
      {0x7c01, 0x7f802000},                        // signalling NaN stays signalling, as in numpy
  };
  for (const auto& [half, bits] : cases)
    EXPECT_EQ(bits_of(io::detail::half_to_float(half)), bits) << std::hex << half;
}

TEST(Bfloat16ToFloat, EachClass) {
  using io::detail::bfloat16_to_float;
  EXPECT_EQ(bits_of(bfloat16_to_float(0x8000)), 0x80000000u);
  EXPECT_EQ(bfloat16_to_float(0x0001), std::ldexp(1.f, -133));    // smallest subnormal
  EXPECT_EQ(bfloat16_to_float(0x007f), std::ldexp(127.f, -133));  // largest subnormal
  EXPECT_EQ(bfloat16_to_float(0x0080), std::numeric_limits<float>::min());
  EXPECT_EQ(bfloat16_to_float(0x3f80), 1.f);
  EXPECT_EQ(bfloat16_to_float(0xc020), -2.5f);
  EXPECT_EQ(bfloat16_to_float(0x7f7f), std::ldexp(255.f, 120));  // the largest, 0x1.fep127
  EXPECT_EQ(bfloat16_to_float(0xff80), -std::numeric_limits<float>::infinity());
  EXPECT_EQ(bits_of(bfloat16_to_float(0x7fc1)), 0x7fc10000u);  // NaN with its payload
}

TEST(DoubleToFloat, RoundsToNearestEvenAndOverflowsToInfinity) {
  const auto convert = [](double value, bool expect_overflow) {
    bool overflowed = !expect_overflow;
    const float result = io::detail::double_to_float(value, overflowed);
    EXPECT_EQ(overflowed, expect_overflow) << value;
    return result;
  };
  const float inf = std::numeric_limits<float>::infinity();
  const float flt_max = std::numeric_limits<float>::max();
  const double threshold = std::ldexp(1.0, 128) - std::ldexp(1.0, 103);
  EXPECT_EQ(io::detail::kFloatOverflowThreshold, threshold);
  EXPECT_EQ(convert(1.0 + std::ldexp(1.0, -24), false), 1.f);  // a tie goes to even
  EXPECT_EQ(convert(1.0 + 3 * std::ldexp(1.0, -24), false), 1.f + std::ldexp(1.f, -22));
  EXPECT_EQ(convert(std::ldexp(1.0, -150), false), 0.f);  // half the smallest subnormal: even is 0
  EXPECT_EQ(convert(std::ldexp(1.5, -149), false), std::ldexp(1.f, -148));
  EXPECT_EQ(convert(double(flt_max), false), flt_max);
  EXPECT_EQ(convert(std::nextafter(threshold, 0.0), false), flt_max);
  EXPECT_EQ(convert(threshold, true), inf);  // the tie above FLT_MAX rounds to "even" infinity
  EXPECT_EQ(convert(-1e300, true), -inf);
  EXPECT_EQ(convert(std::numeric_limits<double>::max(), true), inf);
  EXPECT_EQ(convert(std::numeric_limits<double>::infinity(), false), inf);  // not an overflow
  const float nan = convert(-std::numeric_limits<double>::quiet_NaN(), false);
  EXPECT_TRUE(std::isnan(nan));
  EXPECT_TRUE(std::signbit(nan));
}

// ---- files written by the Python safetensors package

TEST(PytorchDtypes, F16IsExactlyNumpysFloat32) {
  const io::SafetensorsFile file = io::read_safetensors(fixture("f16.safetensors"));
  EXPECT_TRUE(same_bits(*file.find("values"), *file.find("expected_values")));
  EXPECT_TRUE(same_bits(*file.find("scalar"), *file.find("expected_scalar")));
  EXPECT_TRUE(same_bits(*file.find("matrix"), *file.find("expected_matrix")));
  EXPECT_EQ(file.find("scalar")->shape(), Shape{});
  EXPECT_EQ(file.find("matrix")->shape(), (Shape{2, 3}));
  // Only the F16 tensors, in file order; the F32 ones are read as they are.
  EXPECT_EQ(names_of(file.conversions),
            (std::vector<std::string>{"matrix F16->f32", "scalar F16->f32", "values F16->f32"}));
  EXPECT_EQ(conversion_of(file.conversions, "values")->overflowed, 0);
}

TEST(PytorchDtypes, Bf16IsExactlyTheTopHalfOfAFloat) {
  const io::SafetensorsFile file = io::read_safetensors(fixture("bf16.safetensors"));
  EXPECT_TRUE(same_bits(*file.find("values"), *file.find("expected")));
  EXPECT_EQ(names_of(file.conversions), std::vector<std::string>{"values BF16->f32"});
}

// Rounded as numpy's astype(float32) rounds; finite values beyond float's range
// become +-inf (as in PyTorch) and are counted.
TEST(PytorchDtypes, F64RoundsLikeNumpyAndCountsOverflows) {
  const io::SafetensorsFile file = io::read_safetensors(fixture("f64.safetensors"));
  const std::vector<float> got = file.find("values")->to_vector<float>();
  const std::vector<float> want = file.find("expected")->to_vector<float>();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {  // NaN payload bits after a double->float cast are the hardware's
      EXPECT_TRUE(std::isnan(got[i])) << i;
      EXPECT_EQ(std::signbit(got[i]), std::signbit(want[i])) << i;
    } else {
      EXPECT_EQ(bits_of(got[i]), bits_of(want[i])) << i << ": " << got[i] << " vs " << want[i];
    }
  }
  EXPECT_TRUE(same_bits(*file.find("scalar"), *file.find("expected_scalar")));
  const io::Conversion* values = conversion_of(file.conversions, "values");
  ASSERT_NE(values, nullptr);
  EXPECT_EQ(values->from, "F64");
  EXPECT_EQ(values->to, DType::F32);
  EXPECT_EQ(std::to_string(values->overflowed), file.metadata.at("overflowed"));
  EXPECT_EQ(values->overflowed, 5);
  EXPECT_EQ(conversion_of(file.conversions, "scalar")->overflowed, 0);
}

TEST(PytorchDtypes, I64InRangeBecomesI32) {
  const io::SafetensorsFile file = io::read_safetensors(fixture("i64.safetensors"));
  const Tensor& values = *file.find("values");
  EXPECT_EQ(values.dtype(), DType::I32);
  EXPECT_EQ(values.shape(), (Shape{2, 3}));
  EXPECT_EQ(values.to_vector<int32_t>(), file.find("expected")->to_vector<int32_t>());
  EXPECT_EQ(values.to_vector<int32_t>()[3], std::numeric_limits<int32_t>::min());
  EXPECT_EQ(names_of(file.conversions), std::vector<std::string>{"values I64->i32"});
}

TEST(PytorchDtypes, I64OutOfRangeNamesFileTensorElementAndValue) {
  const std::string large = fixture("i64_too_large.safetensors");
  EXPECT_TRUE(throws_error_with([&] { io::read_safetensors(large); },
                                {"read_safetensors: " + large, "tensor \"steps\"",
                                 "element 3 [1, 0]", "is 2147483648", "outside the int32 range"}));
  const std::string small = fixture("i64_too_small.safetensors");
  EXPECT_TRUE(throws_error_with([&] { io::read_safetensors(small); },
                                {small, "tensor \"counts\"", "element 2 [2]", "is -2147483649"}));
}

// A dtype convnet cannot hold fails read_safetensors, which returns every
// tensor; here the I64 counter beyond int32 comes first in the file.
TEST(PytorchDtypes, ReadingEveryTensorRefusesWhatDoesNotFit) {
  const std::string path = fixture("extra_and_missing.safetensors");
  EXPECT_TRUE(throws_error_with([&] { io::read_safetensors(path); },
                                {path, "\"big_counter\"", "is 1099511627776"}));
  ScratchDir dir;
  write_crafted(dir.file("bool.safetensors"),
                R"({"mask":{"dtype":"BOOL","shape":[2,2],"data_offsets":[0,4]}})",
                std::string("\x01\x00\x00\x01", 4));
  EXPECT_TRUE(throws_error_with([&] { io::read_safetensors(dir.file("bool.safetensors")); },
                                {"\"mask\" has dtype \"BOOL\"", "converts F16, BF16 and F64"}));
}

TEST(PytorchDtypes, BufferReadsTheSameAndNamesTheBuffer) {
  const std::string bytes = read_bytes(fixture("f16.safetensors"));
  const io::SafetensorsFile from_memory = io::read_safetensors_buffer(bytes.data(), bytes.size());
  const io::SafetensorsFile from_file = io::read_safetensors(fixture("f16.safetensors"));
  ASSERT_EQ(from_memory.tensors.size(), from_file.tensors.size());
  for (size_t i = 0; i < from_file.tensors.size(); ++i) {
    EXPECT_EQ(from_memory.tensors[i].first, from_file.tensors[i].first);
    EXPECT_TRUE(same_bits(from_memory.tensors[i].second, from_file.tensors[i].second));
  }
  EXPECT_EQ(names_of(from_memory.conversions), names_of(from_file.conversions));
  EXPECT_EQ(from_memory.metadata, from_file.metadata);

  const std::string large = read_bytes(fixture("i64_too_large.safetensors"));
  EXPECT_TRUE(
      throws_error_with([&] { io::read_safetensors_buffer(large.data(), large.size()); },
                        {"read_safetensors_buffer: <memory buffer>: ", "\"steps\"", "2147483648"}));
  EXPECT_TRUE(throws_error_with([&] { io::read_safetensors_buffer(bytes.data(), 100); },
                                {"<memory buffer>", "truncated"}));
  EXPECT_TRUE(throws_error_with([&] { io::read_safetensors_buffer(nullptr, 0); },
                                {"<memory buffer>", "truncated: 0 bytes"}));
  EXPECT_TRUE(
      throws_error_with([&] { io::read_safetensors_buffer(nullptr, 16); }, {"data is null"}));
}

// ---- loading into a model

// The model the fixtures' state dicts are for: 0.weight [4, 1, 3, 3], 0.bias [4],
// 4.weight [5, 64], 4.bias [5].
std::unique_ptr<nn::Sequential> small_cnn(uint64_t seed) {
  manual_seed(seed);
  auto net = std::make_unique<nn::Sequential>();
  net->add<nn::Conv2d>(nn::Conv2dOptions(1, 4, 3).padding(1))
      .add<nn::ReLU>()
      .add<nn::MaxPool2d>(2)
      .add<nn::Flatten>()
      .add<nn::Linear>(4 * 4 * 4, 5);
  return net;
}

std::vector<std::vector<uint32_t>> snapshot(nn::Layer& model) {
  std::vector<std::vector<uint32_t>> values;
  for (nn::Parameter* p : model.parameters()) values.push_back(float_bits(p->value));
  return values;
}

void expect_expected_values(nn::Layer& model, const std::vector<std::string>& except = {}) {
  const io::SafetensorsFile expected =
      io::read_safetensors(fixture("lightning_expected.safetensors"));
  for (nn::Parameter* p : model.parameters()) {
    if (std::find(except.begin(), except.end(), p->name) != except.end()) continue;
    ASSERT_NE(expected.find(p->name), nullptr) << p->name;
    EXPECT_TRUE(same_bits(p->value, *expected.find(p->name))) << p->name;
  }
}

void expect_lightning_result(const io::LoadResult& result) {
  EXPECT_TRUE(result.missing_keys.empty());
  EXPECT_TRUE(result.unexpected_keys.empty());
  // Model order, under the file's names; the F32 bias needed no conversion.
  EXPECT_EQ(names_of(result.converted),
            (std::vector<std::string>{"model.0.weight F16->f32", "model.0.bias BF16->f32",
                                      "model.4.weight F64->f32"}));
  EXPECT_EQ(result.metadata.at("format"), "pt");
}

TEST(PytorchLoad, LightningPrefixIsStrippedAndEveryDtypeConverted) {
  auto net = small_cnn(1);
  const io::LoadResult result = io::load_safetensors(*net, fixture("lightning.safetensors"),
                                                     io::LoadOptions().strip_prefix("model."));
  expect_lightning_result(result);
  expect_expected_values(*net);
}

TEST(PytorchLoad, FromAMemoryBuffer) {
  auto net = small_cnn(1);
  const std::string bytes = read_bytes(fixture("lightning.safetensors"));
  const io::LoadResult result = io::load_safetensors_buffer(
      *net, bytes.data(), bytes.size(), io::LoadOptions().strip_prefix("model."));
  expect_lightning_result(result);
  expect_expected_values(*net);

  const auto before = snapshot(*net);
  EXPECT_TRUE(throws_error_with(
      [&] { io::load_safetensors_buffer(*net, bytes.data(), bytes.size()); },
      {"load_safetensors_buffer: <memory buffer> does not fit", "missing 0.weight"}));
  EXPECT_TRUE(
      throws_error_with([&] { io::load_safetensors_buffer(*net, bytes.data(), bytes.size() - 1); },
                        {"load_safetensors_buffer: <memory buffer>: ", "truncated"}));
  EXPECT_EQ(snapshot(*net), before);
}

// Without the prefix, a strict load names every key and suggests the prefix.
TEST(PytorchLoad, StrictWithoutThePrefixFailsWithAHint) {
  auto net = small_cnn(1);
  const auto before = snapshot(*net);
  const std::string path = fixture("lightning.safetensors");
  EXPECT_TRUE(throws_error_with(
      [&] { io::load_safetensors(*net, path, io::LoadOptions()); },
      {"load_safetensors: " + path + " does not fit", "missing 0.weight, 0.bias, 4.weight, 4.bias",
       "unexpected model.4.weight, model.4.bias, model.0.bias, model.0.weight",
       "strip_prefix(\"model.\")", "nothing was loaded"}));
  // The two-argument form is the same strict load.
  EXPECT_TRUE(throws_error_with([&] { io::load_safetensors(*net, path); },
                                {"missing 0.weight", "strip_prefix(\"model.\")"}));
  EXPECT_EQ(snapshot(*net), before);
}

TEST(PytorchLoad, NotStrictWithoutThePrefixLoadsNothingAndSaysWhy) {
  auto net = small_cnn(1);
  const auto before = snapshot(*net);
  const io::LoadResult result =
      io::load_safetensors(*net, fixture("lightning.safetensors"), io::LoadOptions().strict(false));
  EXPECT_EQ(result.missing_keys,
            (std::vector<std::string>{"0.weight", "0.bias", "4.weight", "4.bias"}));
  EXPECT_EQ(result.unexpected_keys, (std::vector<std::string>{"model.4.weight", "model.4.bias",
                                                              "model.0.bias", "model.0.weight"}));
  EXPECT_TRUE(result.converted.empty());
  EXPECT_EQ(snapshot(*net), before);
}

// PyTorch's strict=False: missing parameters keep their values, unexpected
// tensors are ignored whatever their dtype (BOOL, an I64 beyond int32).
TEST(PytorchLoad, NotStrictReturnsMissingAndUnexpectedKeys) {
  auto net = small_cnn(1);
  const std::vector<uint32_t> bias_before = float_bits(net->parameters()[3]->value);
  const io::LoadResult result = io::load_safetensors(*net, fixture("extra_and_missing.safetensors"),
                                                     io::LoadOptions().strict(false));
  EXPECT_EQ(result.missing_keys, std::vector<std::string>{"4.bias"});
  EXPECT_EQ(result.unexpected_keys,
            (std::vector<std::string>{"0.num_batches_tracked", "big_counter", "5.weight", "mask"}));
  EXPECT_TRUE(result.converted.empty());
  expect_expected_values(*net, {"4.bias"});
  EXPECT_EQ(float_bits(net->parameters()[3]->value), bias_before);
}

TEST(PytorchLoad, StrictNamesEveryMissingAndUnexpectedKey) {
  auto net = small_cnn(1);
  const auto before = snapshot(*net);
  const std::string path = fixture("extra_and_missing.safetensors");
  EXPECT_TRUE(throws_error_with(
      [&] { io::load_safetensors(*net, path, io::LoadOptions().strict(true)); },
      {path, "missing 4.bias", "unexpected 0.num_batches_tracked, big_counter, 5.weight, mask",
       "nothing was loaded"}));
  EXPECT_EQ(snapshot(*net), before);
}

// As in PyTorch, strict=False forgives absent and extra names, not a present
// tensor that does not fit; and nothing is loaded.
TEST(PytorchLoad, ShapeOrDtypeMismatchFailsEvenWhenNotStrict) {
  ScratchDir dir;
  auto net = small_cnn(1);
  const auto before = snapshot(*net);
  const io::LoadOptions lenient = io::LoadOptions().strict(false);

  io::write_safetensors(dir.file("shape.safetensors"), {{"0.bias", Tensor::ones({3})},
                                                        {"0.weight", Tensor::ones({4, 1, 3, 3})},
                                                        {"4.bias", Tensor::ones({6})}});
  EXPECT_TRUE(throws_error_with(
      [&] { io::load_safetensors(*net, dir.file("shape.safetensors"), lenient); },
      {"does not fit: 0.bias is [3] f32 in the file but [4] f32 here; "
       "4.bias is [6] f32 in the file but [5] f32 here; nothing was loaded"}));

  write_crafted(dir.file("i64.safetensors"),
                R"({"0.bias":{"dtype":"I64","shape":[4],"data_offsets":[0,32]}})",
                std::string(32, '\0'));
  EXPECT_TRUE(
      throws_error_with([&] { io::load_safetensors(*net, dir.file("i64.safetensors"), lenient); },
                        {"0.bias is [4] i64 in the file but [4] f32 here",
                         "integers do not load into a float tensor"}));

  write_crafted(dir.file("bool.safetensors"),
                R"({"model.0.bias":{"dtype":"BOOL","shape":[4],"data_offsets":[0,4]}})",
                std::string(4, '\0'));
  EXPECT_TRUE(throws_error_with(
      [&] {
        io::load_safetensors(*net, dir.file("bool.safetensors"),
                             io::LoadOptions().strict(false).strip_prefix("model."));
      },
      {"model.0.bias is [4] bool in the file but 0.bias is [4] f32 here",
       "convnet loads no bool tensors"}));
  EXPECT_EQ(snapshot(*net), before);
}

TEST(PytorchLoad, NamesThatCollideAfterStrippingAreAnError) {
  ScratchDir dir;
  auto net = small_cnn(1);
  io::write_safetensors(dir.file("both.safetensors"),
                        {{"0.bias", Tensor::ones({4})}, {"model.0.bias", Tensor::zeros({4})}});
  EXPECT_TRUE(throws_error_with(
      [&] {
        io::load_safetensors(*net, dir.file("both.safetensors"),
                             io::LoadOptions().strict(false).strip_prefix("model."));
      },
      {"\"0.bias\" and \"model.0.bias\" both name \"0.bias\""}));
}

// Only names that start with the prefix lose it ("model." inside a name stays).
TEST(PytorchLoad, StripPrefixOnlyAtTheStart) {
  ScratchDir dir;
  auto net = small_cnn(1);
  io::write_safetensors(dir.file("mixed.safetensors"),
                        {{"model.0.bias", Tensor::full({4}, 2.f)},
                         {"0.weight", Tensor::full({4, 1, 3, 3}, 3.f)},
                         {"x.model.4.bias", Tensor::full({5}, 4.f)}});
  const io::LoadResult result = io::load_safetensors(
      *net, dir.file("mixed.safetensors"), io::LoadOptions().strict(false).strip_prefix("model."));
  EXPECT_EQ(result.missing_keys, (std::vector<std::string>{"4.weight", "4.bias"}));
  EXPECT_EQ(result.unexpected_keys, std::vector<std::string>{"x.model.4.bias"});
  EXPECT_EQ(net->parameters()[0]->value.to_vector<float>(), std::vector<float>(36, 3.f));
  EXPECT_EQ(net->parameters()[1]->value.to_vector<float>(), std::vector<float>(4, 2.f));
}

// A layer with an int32 tensor (a step counter, as BatchNorm's
// num_batches_tracked would be): I64 loads into it with the range check, and a
// value beyond int32 fails the whole load before anything is copied.
class Counters : public nn::Layer {
 public:
  Counters() {
    register_parameter("bias", Tensor::zeros({3}));
    register_parameter("steps", Tensor::zeros({2, 3}, Device::cpu(), DType::I32));
  }
  Tensor forward(const Tensor& input, nn::Mode) override { return input; }
  Tensor backward(const Tensor& grad_output) override { return grad_output; }
  std::string name() const override { return "Counters()"; }
  Shape output_shape(const Shape& input_shape) const override { return input_shape; }
};

TEST(PytorchLoad, I64IntoAnInt32TensorIsRangeCheckedAndAllOrNothing) {
  ScratchDir dir;
  Counters layer;
  const std::string path = dir.file("steps.safetensors");
  const auto write = [&](int64_t last) {
    const int64_t steps[6] = {0, 1, 2, 3, 4, last};
    std::string data(reinterpret_cast<const char*>(steps), sizeof steps);
    const float bias[3] = {0.5f, 1.5f, 2.5f};
    data.append(reinterpret_cast<const char*>(bias), sizeof bias);
    write_crafted(path,
                  R"({"steps":{"dtype":"I64","shape":[2,3],"data_offsets":[0,48]},)"
                  R"("bias":{"dtype":"F32","shape":[3],"data_offsets":[48,60]}})",
                  data);
  };
  write(-7);
  const io::LoadResult result = io::load_safetensors(layer, path, io::LoadOptions());
  EXPECT_EQ(names_of(result.converted), std::vector<std::string>{"steps I64->i32"});
  EXPECT_EQ(layer.parameters()[1]->value.to_vector<int32_t>(),
            (std::vector<int32_t>{0, 1, 2, 3, 4, -7}));

  layer.parameters()[0]->value.fill_(9.f);
  write(int64_t(1) << 33);
  EXPECT_TRUE(throws_error_with(
      [&] { io::load_safetensors(layer, path, io::LoadOptions()); },
      {"load_safetensors: " + path, "\"steps\"", "element 5 [1, 2]", "is 8589934592"}));
  EXPECT_EQ(layer.parameters()[0]->value.to_vector<float>(), std::vector<float>(3, 9.f));
  EXPECT_EQ(layer.parameters()[1]->value.to_vector<int32_t>()[5], -7);
}

TEST(PytorchLoad, CudaModelLoadsConvertedValues) {
  if (!cuda_available()) GTEST_SKIP() << "no GPU: " << cuda_unavailable_reason();
  auto net = small_cnn(1);
  net->to(Device::cuda());
  const io::LoadResult result = io::load_safetensors(*net, fixture("lightning.safetensors"),
                                                     io::LoadOptions().strip_prefix("model."));
  expect_lightning_result(result);
  for (nn::Parameter* p : net->parameters()) EXPECT_TRUE(p->value.device().is_cuda());
  expect_expected_values(*net);
}

}  // namespace
}  // namespace convnet::test
