// Reading back what SummaryWriter writes, for the tests: the records of a
// TFRecord file with both checksums of each verified, the Event messages in
// them, and the event file a log directory holds. Needs a TensorBoard build
// (CONVNET_WITH_TENSORBOARD: the library's CRC-32C and generated messages).
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensorboard.pb.h"
#include "tensorboard/crc32c.hpp"

namespace convnet::test {

inline uint64_t little_endian(const std::string& bytes, size_t at, size_t size) {
  uint64_t value = 0;
  for (size_t i = 0; i < size; ++i)
    value |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
  return value;
}

// The records of `path`; throws std::runtime_error at a torn record or a bad checksum.
inline std::vector<std::string> read_records(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> records;
  size_t at = 0;
  while (at < bytes.size()) {
    const std::string where = path + " record " + std::to_string(records.size()) + " at byte " +
                              std::to_string(at);
    if (bytes.size() - at < 12) throw std::runtime_error(where + ": torn length");
    const uint64_t length = little_endian(bytes, at, 8);
    if (little_endian(bytes, at + 8, 4) != tensorboard::masked_crc32c(bytes.data() + at, 8))
      throw std::runtime_error(where + ": the length's checksum is wrong");
    if (bytes.size() - at - 12 < length + 4) throw std::runtime_error(where + ": torn data");
    std::string data = bytes.substr(at + 12, length);
    if (little_endian(bytes, at + 12 + length, 4) != tensorboard::masked_crc32c(data.data(), data.size()))
      throw std::runtime_error(where + ": the data's checksum is wrong");
    records.push_back(std::move(data));
    at += 12 + length + 4;
  }
  return records;
}

inline std::vector<tensorboard::Event> read_events(const std::string& path) {
  std::vector<tensorboard::Event> events;
  for (const std::string& record : read_records(path)) {
    tensorboard::Event event;
    if (!event.ParseFromString(record))
      throw std::runtime_error(path + ": record " + std::to_string(events.size()) + " is no Event");
    events.push_back(std::move(event));
  }
  return events;
}

// The files of `dir` whose names contain "tfevents", as TensorBoard finds them.
inline std::vector<std::string> event_files(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().filename().string().find("tfevents") != std::string::npos)
      files.push_back(entry.path().string());
  return files;
}

// A fresh directory under the test temporary directory, removed with its contents.
class TempLogDir {
 public:
  explicit TempLogDir(const std::string& name)
      : path_(::testing::TempDir() + "convnet_tb_" + std::to_string(::getpid()) + "_" + name) {
    std::filesystem::remove_all(path_);
  }
  ~TempLogDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempLogDir(const TempLogDir&) = delete;
  TempLogDir& operator=(const TempLogDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace convnet::test
