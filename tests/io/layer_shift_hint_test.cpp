// A checkpoint saved from a Sequential with one layer more (or less) at the
// front names every parameter with its index shifted: the strict load fails,
// and its message says the numbering is shifted and by how much. Names that do
// not differ by one constant shift get no such hint.
#include <gtest/gtest.h>

#include <memory>

#include "convnet/io/safetensors.hpp"
#include "convnet/nn/layers.hpp"
#include "convnet/nn/sequential.hpp"
#include "io/safetensors_files.hpp"

namespace convnet::test {
namespace {

// Conv at 0 and Linear at 4 (0.weight, 0.bias, 4.weight, 4.bias); with
// `front_layer` a ReLU goes first and they become 1.* and 5.*.
std::unique_ptr<nn::Sequential> cnn(bool front_layer, uint64_t seed) {
  manual_seed(seed);
  auto net = std::make_unique<nn::Sequential>();
  if (front_layer) net->add<nn::ReLU>();
  net->add<nn::Conv2d>(nn::Conv2dOptions(1, 2, 3).padding(1))
      .add<nn::ReLU>()
      .add<nn::MaxPool2d>(2)
      .add<nn::Flatten>()
      .add<nn::Linear>(2 * 2 * 2, 3);
  return net;
}

TEST(CheckpointKeyHint, AnExtraLayerAtTheFrontOfTheSavedModel) {
  ScratchDir scratch;
  const std::string path = scratch.file("shifted.safetensors");
  io::save_safetensors(*cnn(true, 1), path);
  auto model = cnn(false, 2);
  EXPECT_TRUE(throws_error_with(
      [&] { io::load_safetensors(*model, path); },
      {"missing 0.weight, 0.bias, 4.weight, 4.bias",
       "hint: the file's layer numbers are shifted by +1 from the model's: \"1.weight\" in the "
       "file is \"0.weight\" here; the model that saved it has 1 layer(s) more at the front",
       "nothing was loaded"}));
}

TEST(CheckpointKeyHint, AMissingLayerAtTheFrontOfTheSavedModel) {
  ScratchDir scratch;
  const std::string path = scratch.file("shifted.safetensors");
  io::save_safetensors(*cnn(false, 1), path);
  auto model = cnn(true, 2);
  EXPECT_TRUE(throws_error_with(
      [&] { io::load_safetensors(*model, path); },
      {"shifted by -1 from the model's: \"0.weight\" in the file is \"1.weight\" here",
       "1 layer(s) fewer at the front"}));
}

// Two Linear layers side by side: shifted by one, the model's second layer and
// the file's first share the name "1.weight" (with other shapes). Still a shift.
TEST(CheckpointKeyHint, NamesThatMatchByAccidentDoNotHideTheShift) {
  ScratchDir scratch;
  const std::string path = scratch.file("mlp.safetensors");
  nn::Sequential saved;
  saved.add<nn::Flatten>().add<nn::Linear>(4, 3).add<nn::Linear>(3, 2);
  io::save_safetensors(saved, path);
  nn::Sequential model;
  model.add<nn::Linear>(4, 3).add<nn::Linear>(3, 2);
  EXPECT_TRUE(throws_error_with([&] { io::load_safetensors(model, path); },
                                {"1.weight is [3, 4]", "missing 0.weight, 0.bias",
                                 "unexpected 2.weight, 2.bias", "shifted by +1"}));
}

TEST(CheckpointKeyHint, NoHintWhenTheNamesDifferOtherwise) {
  ScratchDir scratch;
  const std::string path = scratch.file("other.safetensors");
  nn::Sequential saved;  // 0.*, 3.*
  saved.add<nn::Linear>(4, 3).add<nn::ReLU>().add<nn::ReLU>().add<nn::Linear>(3, 2);
  io::save_safetensors(saved, path);
  nn::Sequential model;  // 0.*, 2.*: only the second layer moved
  model.add<nn::Linear>(4, 3).add<nn::ReLU>().add<nn::Linear>(3, 2);
  try {
    io::load_safetensors(model, path);
    ADD_FAILURE() << "the load did not fail";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("missing 2.weight, 2.bias; unexpected 3.weight, 3.bias"),
              std::string::npos) << message;
    EXPECT_EQ(message.find("hint"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace convnet::test
