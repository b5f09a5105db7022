// TFRecord framing, the container of TensorBoard event files. Each record is
//   uint64 length, little-endian
//   uint32 masked CRC-32C of those 8 length bytes
//   the data (here a serialized Event)
//   uint32 masked CRC-32C of the data
// The length's own checksum lets a reader reject a torn length before it
// trusts it to skip ahead.
#pragma once

#include <string>

namespace convnet::tensorboard {

// `data` wrapped in the framing above.
std::string frame_record(const std::string& data);

// An event file being written: records are buffered and reach the file at
// flush(). Errors throw convnet::Error naming the file.
class RecordFile {
 public:
  // Creates (or truncates) `path`.
  explicit RecordFile(std::string path);
  ~RecordFile();
  RecordFile(const RecordFile&) = delete;
  RecordFile& operator=(const RecordFile&) = delete;

  void append(const std::string& data) { pending_ += frame_record(data); }
  size_t pending_bytes() const { return pending_.size(); }
  // Writes what is pending. A failed write keeps it pending, so a later flush
  // (after freeing disk space) can still deliver it whole.
  void flush();
  const std::string& path() const { return path_; }

 private:
  [[noreturn]] void fail(const std::string& what) const;

  std::string path_;
  std::string pending_;
  int fd_ = -1;
};

}  // namespace convnet::tensorboard
