#include "tensorboard/record_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "convnet/error.hpp"
#include "tensorboard/crc32c.hpp"

namespace convnet::tensorboard {
namespace {

// Little-endian whatever the host's byte order, as TFRecord specifies.
template <typename T>
void put_little_endian(std::string& out, T value) {
  for (size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFFu));
}

}  // namespace

std::string frame_record(const std::string& data) {
  std::string record;
  record.reserve(data.size() + 16);
  put_little_endian<uint64_t>(record, data.size());
  put_little_endian<uint32_t>(record, masked_crc32c(record.data(), 8));
  record += data;
  put_little_endian<uint32_t>(record, masked_crc32c(data.data(), data.size()));
  return record;
}

RecordFile::RecordFile(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd_ < 0) fail("cannot create it");
}

RecordFile::~RecordFile() {
  if (fd_ >= 0) ::close(fd_);
}

void RecordFile::flush() {
  size_t done = 0;
  while (done < pending_.size()) {
    const ssize_t written = ::write(fd_, pending_.data() + done, pending_.size() - done);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) {
      const int saved_errno = errno;
      // A partial record would make the file unreadable past it; cut it back.
      if (done > 0) {
        const off_t end = ::lseek(fd_, -static_cast<off_t>(done), SEEK_CUR);
        const int ignored = end >= 0 ? ::ftruncate(fd_, end) : -1;  // best effort
        (void)ignored;
      }
      errno = written == 0 ? ENOSPC : saved_errno;
      fail("writing " + std::to_string(pending_.size()) + " bytes failed");
    }
    done += static_cast<size_t>(written);
  }
  pending_.clear();
}

void RecordFile::fail(const std::string& what) const {
  const int saved_errno = errno;
  CONVNET_FAIL("SummaryWriter: cannot write the event file ", path_, ": ", what, ": ",
               std::strerror(saved_errno));
}

}  // namespace convnet::tensorboard
