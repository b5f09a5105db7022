// Trainer with TrainerOptions::tensorboard_dir: the events of a short run read
// back (scalars equal to the EpochMetrics, steps, the filters image, the
// histograms), a second fit continuing the steps, and a directory that cannot
// be made failing before any training.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "convnet/convnet.hpp"
#include "convnet/data/dataloader.hpp"
#include "convnet/train/tensorboard.hpp"
#include "convnet/train/trainer.hpp"
#include "train/quadrants.hpp"

#ifdef CONVNET_WITH_TENSORBOARD
#include "tensorboard/event_file.hpp"
#endif

namespace convnet::train {
namespace {

using namespace test;  // quadrant_dataset, build_cnn, loader_options

#define CONVNET_REQUIRE_TENSORBOARD()    \
  if (!tensorboard_available()) GTEST_SKIP() << "built without TensorBoard (CONVNET_TENSORBOARD, protobuf)"

#ifdef CONVNET_WITH_TENSORBOARD

using ::convnet::test::event_files;
using ::convnet::test::read_events;
using ::convnet::test::TempLogDir;

// tag -> step -> the events' values
struct Logged {
  std::map<std::string, std::map<int64_t, float>> scalars;
  std::map<std::string, std::set<int64_t>> images, histograms;
};

Logged read_log(const std::string& path) {
  Logged logged;
  const std::vector<tensorboard::Event> events = read_events(path);
  EXPECT_FALSE(events.empty());
  if (!events.empty()) EXPECT_EQ(events[0].file_version(), "brain.Event:2");
  for (const tensorboard::Event& e : events) {
    for (const auto& v : e.summary().value()) {
      if (v.has_image()) {
        EXPECT_TRUE(logged.images[v.tag()].insert(e.step()).second) << v.tag() << " twice at " << e.step();
      } else if (v.has_histo()) {
        logged.histograms[v.tag()].insert(e.step());
      } else {
        logged.scalars[v.tag()][e.step()] = v.simple_value();
      }
    }
  }
  return logged;
}

TEST(TrainerTensorBoard, WritesEachEpochsScalarsFiltersAndHistograms) {
  CONVNET_REQUIRE_TENSORBOARD();
  TempLogDir dir("trainer");
  manual_seed(3);
  const data::Dataset train_set = quadrant_dataset(64, 11), test_set = quadrant_dataset(32, 12);
  data::DataLoader train(train_set, loader_options(16, true));
  data::DataLoader test(test_set, loader_options(16, false));
  nn::Sequential net;
  build_cnn(net);
  nn::CrossEntropyLoss loss;
  nn::SGD sgd(net.parameters(), nn::SGDOptions(0.05f).momentum(0.9f));
  TrainerOptions options;
  options.epochs = 2;
  options.progress = false;
  options.tensorboard_dir = dir.path() + "/run";
  options.tensorboard_histograms = true;
  Trainer trainer(net, loss, sgd, options);
  std::vector<std::string> files_at_epoch_end;
  trainer.on_epoch_end = [&](const EpochMetrics&) {
    // Flushed at each epoch's end: readable while training goes on.
    const std::vector<std::string> files = event_files(options.tensorboard_dir);
    ASSERT_EQ(files.size(), 1u);
    files_at_epoch_end.push_back(files[0]);
    const Logged so_far = read_log(files[0]);
    EXPECT_EQ(so_far.scalars.at("loss/train").size(), files_at_epoch_end.size());
  };
  const std::vector<EpochMetrics> metrics = trainer.fit(train, &test);
  ASSERT_EQ(metrics.size(), 2u);
  ASSERT_EQ(files_at_epoch_end.size(), 2u);

  const Logged logged = read_log(files_at_epoch_end[0]);
  for (const EpochMetrics& m : metrics) {
    const int64_t step = m.epoch;  // the first fit: steps are the epochs' numbers
    EXPECT_EQ(logged.scalars.at("loss/train").at(step), static_cast<float>(m.train_loss));
    EXPECT_EQ(logged.scalars.at("accuracy/train").at(step), static_cast<float>(m.train_accuracy));
    EXPECT_EQ(logged.scalars.at("loss/test").at(step), static_cast<float>(m.test_loss));
    EXPECT_EQ(logged.scalars.at("accuracy/test").at(step), static_cast<float>(m.test_accuracy));
    EXPECT_EQ(logged.scalars.at("lr").at(step), static_cast<float>(m.lr));
    EXPECT_EQ(logged.scalars.at("images_per_second").at(step), static_cast<float>(m.images_per_second));
  }
  EXPECT_EQ(logged.scalars.size(), 6u);
  for (const auto& [tag, steps] : logged.scalars) EXPECT_EQ(steps.size(), 2u) << tag;
  // The initial filters at step 0, then one image an epoch, of the first conv ("0").
  EXPECT_EQ(logged.images, (std::map<std::string, std::set<int64_t>>{{"filters/0.weight", {0, 1, 2}}}));
  const std::set<int64_t> steps = {0, 1, 2};
  EXPECT_EQ(logged.histograms, (std::map<std::string, std::set<int64_t>>{{"parameters/0.weight", steps},
                                                                          {"parameters/0.bias", steps},
                                                                          {"parameters/4.weight", steps},
                                                                          {"parameters/4.bias", steps}}));

  // A second fit: a new file, steps going on from the first's, no step 0.
  trainer.on_epoch_end = nullptr;
  const std::vector<EpochMetrics> more = trainer.fit(train, nullptr);
  ASSERT_EQ(more.size(), 2u);
  const std::vector<std::string> files = event_files(options.tensorboard_dir);
  ASSERT_EQ(files.size(), 2u);
  const std::string second = files[0] == files_at_epoch_end[0] ? files[1] : files[0];
  const Logged continued = read_log(second);
  EXPECT_EQ(continued.scalars.at("loss/train").at(3), static_cast<float>(more[0].train_loss));
  EXPECT_EQ(continued.scalars.at("loss/train").at(4), static_cast<float>(more[1].train_loss));
  EXPECT_EQ(continued.scalars.count("loss/test"), 0u);  // no test loader this time
  EXPECT_EQ(continued.images.at("filters/0.weight"), (std::set<int64_t>{3, 4}));
}

TEST(TrainerTensorBoard, WithoutHistogramsOrConvolutionsWritesOnlyWhatThereIs) {
  CONVNET_REQUIRE_TENSORBOARD();
  TempLogDir dir("mlp");
  const data::Dataset train_set = quadrant_dataset(32, 11);
  data::DataLoader train(train_set, loader_options(16, true));
  nn::Sequential mlp;
  mlp.add<nn::Flatten>().add<nn::Linear>(kSide * kSide, kClasses);
  nn::CrossEntropyLoss loss;
  nn::SGD sgd(mlp.parameters(), nn::SGDOptions(0.05f));
  TrainerOptions options;
  options.progress = false;
  options.tensorboard_dir = dir.path();
  Trainer trainer(mlp, loss, sgd, options);
  trainer.fit(train, nullptr);
  const std::vector<std::string> files = event_files(dir.path());
  ASSERT_EQ(files.size(), 1u);
  const Logged logged = read_log(files[0]);
  EXPECT_TRUE(logged.images.empty());
  EXPECT_TRUE(logged.histograms.empty());
  EXPECT_EQ(logged.scalars.size(), 4u);  // loss/train, accuracy/train, lr, images_per_second
}

#endif  // CONVNET_WITH_TENSORBOARD

TEST(TrainerTensorBoard, AnUnusableDirectoryFailsBeforeTraining) {
  const std::string base = ::testing::TempDir() + "convnet_tb_unusable_" + std::to_string(::getpid());
  std::filesystem::create_directories(base);
  const std::string plain_file = base + "/plain-file";
  { std::ofstream(plain_file) << "x"; }
  const data::Dataset train_set = quadrant_dataset(32, 11);
  data::DataLoader train(train_set, loader_options(16, true));
  nn::Sequential net;
  build_cnn(net);
  const std::vector<float> before = net.parameters()[0]->value.to_vector<float>();
  nn::CrossEntropyLoss loss;
  nn::SGD sgd(net.parameters(), nn::SGDOptions(0.05f));
  TrainerOptions options;
  options.progress = false;
  options.tensorboard_dir = plain_file + "/logs";
  Trainer trainer(net, loss, sgd, options);
  bool trained = false;
  trainer.on_epoch_end = [&](const EpochMetrics&) { trained = true; };
  try {
    trainer.fit(train, nullptr);
    ADD_FAILURE() << "fit() trained into an unusable TensorBoard directory";
  } catch (const Error& e) {
    // The stub build refuses any directory, saying it has no TensorBoard.
    const std::string expected = tensorboard_available() ? options.tensorboard_dir : "without TensorBoard";
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
  }
  EXPECT_FALSE(trained);
  EXPECT_EQ(net.parameters()[0]->value.to_vector<float>(), before);
  std::filesystem::remove_all(base);
}

}  // namespace
}  // namespace convnet::train
