// Writes TensorBoard event files for tests/python/check_tensorboard.py, which
// reads them with the Python `tensorboard` package. Beside them, expected.json
// holds what went in (the raw scalars, image and histogram inputs, and a short
// Trainer run's metrics and filters), so the check computes the answers itself
// instead of trusting our writer for them.
//
// Usage: tensorboard_fixture OUT_DIR
//   OUT_DIR/writer   SummaryWriter used directly
//   OUT_DIR/trainer  Trainer::fit, 2 epochs, tensorboard_dir + histograms
// Exits 77 (skip) when convnet was built without TensorBoard.
#include <cmath>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "convnet/convnet.hpp"
#include "convnet/train/tensorboard.hpp"
#include "convnet/train/trainer.hpp"
#include "train/quadrants.hpp"

using namespace convnet;
using nlohmann::json;

namespace {

std::vector<float> finite_only(const std::vector<float>& values) {
  std::vector<float> finite;
  for (float v : values)
    if (std::isfinite(v)) finite.push_back(v);
  return finite;
}

json write_directly(const std::string& dir) {
  train::SummaryWriter writer(dir);
  json expected;
  // Scalars: values float32 cannot hold exactly too; the reader must see
  // float32(value) at exactly these steps.
  const std::map<std::string, std::vector<std::pair<int64_t, double>>> scalars = {
      {"loss/train", {{0, 1.5}, {1, 0.1}, {2, 1.0 / 3.0}, {3, -2.5e-8}, {4, 123456.789}}},
      {"lr", {{10, 0.05}, {20, 5e-4}, {1000000000000, 1e-30}}},
  };
  for (const auto& [tag, points] : scalars)
    for (const auto& [step, value] : points) {
      writer.add_scalar(tag, value, step);
      expected["scalars"][tag].push_back({step, value});
    }
  // Images: grayscale [H, W] with values outside [0, 1] (clamped), and RGB [3, H, W].
  std::vector<float> gray(4 * 5), rgb(3 * 2 * 4);
  for (size_t i = 0; i < gray.size(); ++i) gray[i] = static_cast<float>(i) / 17.f - 0.1f;
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = std::fmod(static_cast<float>(i) * 0.37f, 1.f);
  writer.add_image("images/gray", Tensor::from_vector(gray, {4, 5}), 2);
  writer.add_image("images/rgb", Tensor::from_vector(rgb, {3, 2, 4}), 5);
  expected["images"] = json::array({
      {{"tag", "images/gray"}, {"step", 2}, {"channels", 1}, {"height", 4}, {"width", 5}, {"values", gray}},
      {{"tag", "images/rgb"}, {"step", 5}, {"channels", 3}, {"height", 2}, {"width", 4}, {"values", rgb}},
  });
  // Histograms: normal values with NaN and infinities mixed in (left out), and a small known set.
  std::vector<float> normal = Tensor::randn({1000}, Device::cpu(), 5).to_vector<float>();
  normal[10] = std::numeric_limits<float>::quiet_NaN();
  normal[20] = std::numeric_limits<float>::infinity();
  normal[30] = -std::numeric_limits<float>::infinity();
  const std::vector<float> known = {-2.f, 0.f, 0.5f, 0.5f, 1.f, 3e-13f};
  writer.add_histogram("weights/normal", Tensor::from_vector(normal, {10, 100}), 3);
  writer.add_histogram("weights/known", Tensor::from_vector(known, {6}), 4);
  expected["histograms"] = json::array({
      {{"tag", "weights/normal"}, {"step", 3}, {"finite_values", finite_only(normal)}},
      {{"tag", "weights/known"}, {"step", 4}, {"finite_values", known}},
  });
  writer.flush();
  expected["file"] = writer.path();
  return expected;
}

json train_briefly(const std::string& dir) {
  using namespace train::test;  // the Trainer tests' quadrant problem
  manual_seed(3);
  const data::Dataset train_set = quadrant_dataset(64, 11), test_set = quadrant_dataset(32, 12);
  data::DataLoader train_loader(train_set, loader_options(16, true));
  data::DataLoader test_loader(test_set, loader_options(16, false));
  nn::Sequential net;
  build_cnn(net);
  nn::CrossEntropyLoss loss;
  nn::SGD sgd(net.parameters(), nn::SGDOptions(0.05f).momentum(0.9f));
  train::TrainerOptions options;
  options.epochs = 2;
  options.progress = false;
  options.tensorboard_dir = dir;
  options.tensorboard_histograms = true;
  train::Trainer trainer(net, loss, sgd, options);

  json expected;
  nn::Parameter* conv_weight = net.parameters()[0];
  // What the writer sees at each step: the filters and the first weight's values.
  const auto snapshot = [&](int64_t step) {
    const Tensor grid = train::filter_grid(conv_weight->value);
    expected["filters"].push_back({{"step", step}, {"shape", grid.shape().dims()},
                                   {"values", grid.to_vector<float>()}});
    expected["first_weight"].push_back({{"step", step}, {"values", conv_weight->value.to_vector<float>()}});
  };
  snapshot(0);
  trainer.on_epoch_end = [&](const train::EpochMetrics& m) {
    expected["epochs"].push_back({{"epoch", m.epoch}, {"train_loss", m.train_loss},
                                  {"train_accuracy", m.train_accuracy}, {"test_loss", m.test_loss},
                                  {"test_accuracy", m.test_accuracy}, {"lr", m.lr},
                                  {"images_per_second", m.images_per_second}});
    snapshot(m.epoch);
  };
  trainer.fit(train_loader, &test_loader);
  for (nn::Parameter* p : net.parameters())
    expected["parameters"].push_back({{"name", p->name}, {"numel", p->value.numel()}});
  expected["first_weight_name"] = conv_weight->name;
  return expected;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: tensorboard_fixture OUT_DIR\n";
    return 2;
  }
  if (!train::tensorboard_available()) {
    std::cout << "skipped: convnet was built without TensorBoard (CONVNET_TENSORBOARD, protobuf)\n";
    return 77;
  }
  const std::string dir = argv[1];
  try {
    const json expected = {{"writer", write_directly(dir + "/writer")},
                           {"trainer", train_briefly(dir + "/trainer")}};
    std::ofstream out(dir + "/expected.json");
    out << expected.dump() << "\n";
    CONVNET_CHECK(out.flush(), "cannot write ", dir, "/expected.json");
  } catch (const std::exception& e) {
    std::cerr << "tensorboard_fixture: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
