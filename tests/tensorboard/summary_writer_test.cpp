// SummaryWriter's files read back in C++: the name, the TFRecord framing
// (lengths and both checksums of every record), the Event messages and what
// they hold; and the errors, each naming the path. The Python `tensorboard`
// package reads the same files in tests/python/check_tensorboard.py.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <string>
#include <vector>

#include "convnet/convnet.hpp"
#include "convnet/train/tensorboard.hpp"

#ifdef CONVNET_WITH_TENSORBOARD

#include "tensorboard/event_file.hpp"
#include "tensorboard/png_decode.hpp"
#include "tensorboard/record_file.hpp"

namespace convnet::train {
namespace {

using test::event_files;
using test::read_events;
using test::read_records;
using test::TempLogDir;

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(SummaryWriter, WritesEventsInTFRecordFraming) {
  ASSERT_TRUE(tensorboard_available());
  TempLogDir dir("framing");
  const std::string log_dir = dir.path() + "/runs/a";  // parents are made
  std::string path;
  {
    SummaryWriter writer(log_dir);
    path = writer.path();
    // The version record is on disk as soon as the writer exists.
    ASSERT_EQ(read_records(path).size(), 1u);
    writer.add_scalar("loss/train", 0.25, 1);
    writer.add_scalar("loss/train", 1.0 / 3.0, 2);
    writer.add_image("gray", Tensor::from_vector(std::vector<float>{0.f, 0.5f, 1.f, 2.f, -1.f, 0.2f}, {2, 3}), 7);
    writer.add_histogram("w", Tensor::from_vector(std::vector<float>{1.f, 2.f, 2.f}, {3}), 9);
    EXPECT_EQ(read_records(path).size(), 1u);  // buffered until flush
    writer.flush();
    EXPECT_EQ(read_records(path).size(), 5u);
    writer.add_scalar("lr", 0.5, 3);  // written when the writer goes
  }
  const std::string name = std::filesystem::path(path).filename().string();
  char host[256] = {};
  ASSERT_EQ(::gethostname(host, sizeof host - 1), 0);
  EXPECT_TRUE(std::regex_match(name, std::regex(R"(events\.out\.tfevents\.\d{10}\.)" +
                                                std::regex_replace(host, std::regex(R"([.\-])"), R"(\$&)") +
                                                R"(\.)" + std::to_string(::getpid()) + R"(\.\d+)")))
      << name;
  EXPECT_EQ(std::filesystem::path(path).parent_path(), std::filesystem::path(log_dir));
  EXPECT_EQ(event_files(log_dir), std::vector<std::string>{path});

  const std::vector<tensorboard::Event> events = read_events(path);
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[0].file_version(), "brain.Event:2");
  for (const tensorboard::Event& e : events) EXPECT_GT(e.wall_time(), 1.6e9);

  ASSERT_TRUE(events[1].has_summary());
  ASSERT_EQ(events[1].summary().value_size(), 1);
  EXPECT_EQ(events[1].step(), 1);
  EXPECT_EQ(events[1].summary().value(0).tag(), "loss/train");
  EXPECT_EQ(events[1].summary().value(0).simple_value(), 0.25f);
  EXPECT_EQ(events[2].step(), 2);
  EXPECT_EQ(events[2].summary().value(0).simple_value(), static_cast<float>(1.0 / 3.0));

  const auto& image = events[3].summary().value(0);
  EXPECT_EQ(events[3].step(), 7);
  EXPECT_EQ(image.tag(), "gray");
  ASSERT_TRUE(image.has_image());
  EXPECT_EQ(image.image().height(), 2);
  EXPECT_EQ(image.image().width(), 3);
  EXPECT_EQ(image.image().colorspace(), 1);
  EXPECT_EQ(image.image().encoded_image_string().substr(1, 3), "PNG");

  const auto& histogram = events[4].summary().value(0);
  EXPECT_EQ(events[4].step(), 9);
  ASSERT_TRUE(histogram.has_histo());
  EXPECT_EQ(histogram.histo().num(), 3);
  EXPECT_EQ(histogram.histo().min(), 1);
  EXPECT_EQ(histogram.histo().max(), 2);
  EXPECT_EQ(histogram.histo().sum(), 5);
  EXPECT_EQ(histogram.histo().sum_squares(), 9);
  ASSERT_EQ(histogram.histo().bucket_size(), histogram.histo().bucket_limit_size());
  double counted = 0;
  for (double c : histogram.histo().bucket()) counted += c;
  EXPECT_EQ(counted, 3);

  EXPECT_EQ(events[5].summary().value(0).tag(), "lr");
  EXPECT_EQ(events[5].summary().value(0).simple_value(), 0.5f);
}

TEST(SummaryWriter, EachWriterHasItsOwnFile) {
  TempLogDir dir("two");
  SummaryWriter first(dir.path()), second(dir.path());
  EXPECT_NE(first.path(), second.path());
  EXPECT_EQ(event_files(dir.path()).size(), 2u);
}

TEST(SummaryWriter, AnUncreatableDirectoryThrowsNamingIt) {
  TempLogDir dir("uncreatable");
  std::filesystem::create_directories(dir.path());
  const std::string plain_file = dir.path() + "/plain-file";
  { std::ofstream(plain_file) << "x"; }
  const std::string below_file = plain_file + "/logs";
  std::string message = error_of([&] { SummaryWriter writer(below_file); });
  EXPECT_NE(message.find(below_file), std::string::npos) << message;
  message = error_of([&] { SummaryWriter writer(plain_file); });
  EXPECT_NE(message.find(plain_file), std::string::npos) << message;
  EXPECT_NE(message.find("not a directory"), std::string::npos) << message;
}

TEST(SummaryWriter, AReadOnlyDirectoryThrowsNamingIt) {
  if (::geteuid() == 0) GTEST_SKIP() << "running as root, which may write into a read-only folder";
  TempLogDir dir("read_only");
  std::filesystem::create_directories(dir.path());
  std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_read |
                                               std::filesystem::perms::owner_exec);
  const std::string message = error_of([&] { SummaryWriter writer(dir.path()); });
  std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_all);
  EXPECT_NE(message.find(dir.path()), std::string::npos) << message;
  EXPECT_NE(message.find("Permission denied"), std::string::npos) << message;
}

TEST(SummaryWriter, AFullDiskFailsFlushNamingTheFileAndKeepsTheEvents) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full here";
  tensorboard::RecordFile file("/dev/full");
  file.append("an event");
  const size_t pending = file.pending_bytes();
  EXPECT_EQ(pending, 8u + 4u + 8u + 4u);
  const std::string message = error_of([&] { file.flush(); });
  EXPECT_NE(message.find("/dev/full"), std::string::npos) << message;
  EXPECT_NE(message.find("No space left"), std::string::npos) << message;
  EXPECT_EQ(file.pending_bytes(), pending);
}

TEST(SummaryWriter, RefusesWhatItCannotWrite) {
  TempLogDir dir("refusals");
  SummaryWriter writer(dir.path());
  EXPECT_THROW(writer.add_scalar("", 1.0, 0), Error);
  EXPECT_THROW(writer.add_image("i", Tensor::zeros({2, 4, 4}), 0), Error);  // 2 channels
  EXPECT_THROW(writer.add_image("i", Tensor::zeros({1, 1, 4, 4}), 0), Error);
  EXPECT_THROW(writer.add_image("i", Tensor::zeros({4, 4}, Device::cpu(), DType::I32), 0), Error);
  EXPECT_THROW(writer.add_image("i", Tensor(), 0), Error);
  EXPECT_THROW(writer.add_histogram("h", Tensor::zeros({0}), 0), Error);
  EXPECT_THROW(writer.add_histogram("h", Tensor(), 0), Error);
  SummaryWriter moved = std::move(writer);
  EXPECT_THROW(writer.add_scalar("s", 1.0, 0), Error);  // NOLINT(bugprone-use-after-move)
  moved.add_scalar("s", 1.0, 0);
  moved.flush();
  EXPECT_EQ(read_events(moved.path()).size(), 2u);
}

TEST(SummaryWriter, ImagesAreRoundedAndClampedToBytes) {
  TempLogDir dir("image_bytes");
  SummaryWriter writer(dir.path());
  // RGB 1 x 2: planar in, interleaved out.
  writer.add_image("rgb", Tensor::from_vector(std::vector<float>{0.f, 1.f, 0.5f, 0.25f, 2.f, -3.f}, {3, 1, 2}), 0);
  writer.flush();
  const std::vector<tensorboard::Event> events = read_events(writer.path());
  ASSERT_EQ(events.size(), 2u);
  const auto& image = events[1].summary().value(0).image();
  EXPECT_EQ(image.colorspace(), 3);
  EXPECT_EQ(image.height(), 1);
  EXPECT_EQ(image.width(), 2);
  const test::DecodedPng png = test::decode_png(image.encoded_image_string());
  EXPECT_EQ(png.colour_type, 2);
  // round(255 v) of the clamped values: 0.5 -> 128 (127.5 rounds up), 0.25 -> 64.
  EXPECT_EQ(png.pixels, (std::vector<uint8_t>{0, 128, 255, 255, 64, 0}));
}

}  // namespace
}  // namespace convnet::train

#else  // a build without TensorBoard: the writer says how to get one

namespace convnet::train {
namespace {

TEST(SummaryWriter, WithoutTensorBoardThrowsSayingHowToRebuild) {
  EXPECT_FALSE(tensorboard_available());
  try {
    SummaryWriter writer(::testing::TempDir() + "convnet_tb_stub");
    FAIL() << "the stub made a writer";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("without TensorBoard"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace convnet::train

#endif  // CONVNET_WITH_TENSORBOARD
