// AtomicFile: see atomic_file.hpp for the protocol and why each step is there.
#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "convnet/error.hpp"

namespace convnet::io::detail {
namespace {

std::string directory_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string file_name_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool all_digits(const std::string& text) {
  if (text.empty()) return false;
  for (char c : text)
    if (c < '0' || c > '9') return false;
  return true;
}

// The process that wrote "<name>.tmp-<pid>-<n>" (or "<name>.tmp-<pid>", the
// name before the counter was added) when `entry` is such a file of `name`; 0 otherwise.
pid_t writer_of(const std::string& entry, const std::string& name) {
  const std::string prefix = name + ".tmp-";
  if (entry.compare(0, prefix.size(), prefix) != 0) return 0;
  const std::string rest = entry.substr(prefix.size());
  const size_t dash = rest.find('-');
  const std::string pid = rest.substr(0, dash);
  if (!all_digits(pid) || pid.size() > 9) return 0;
  if (dash != std::string::npos && !all_digits(rest.substr(dash + 1))) return 0;
  return static_cast<pid_t>(std::stol(pid));
}

// Temporary files of `path` left by processes that died before renaming them.
// Another live process's file may be a write in progress, so only ESRCH counts.
void remove_stale_temp_files(const std::string& path) {
  namespace fs = std::filesystem;
  const std::string name = file_name_of(path);
  std::error_code ec;
  fs::directory_iterator it(directory_of(path), ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const pid_t writer = writer_of(it->path().filename().string(), name);
    if (writer <= 0 || writer == ::getpid()) continue;
    if (::kill(writer, 0) == -1 && errno == ESRCH) {
      std::error_code ignored;
      fs::remove(it->path(), ignored);  // best effort: a leftover costs disk space, not data
    }
  }
}

}  // namespace

AtomicFile::AtomicFile(std::string op, std::string path) : op_(std::move(op)), path_(std::move(path)) {
  // Unique per process (pid) and per write within it (counter), so two threads
  // saving to one path never share a temporary file; O_EXCL skips a leftover
  // of a dead process that had our pid.
  static std::atomic<unsigned> counter{0};
  for (int attempt = 0; fd_ < 0; ++attempt) {
    temp_path_ = path_ + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ < 0 && (errno != EEXIST || attempt >= 100))
      fail("creating the temporary file " + temp_path_);
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_path_.c_str());
}

void AtomicFile::write(const void* bytes, size_t size) {
  const char* next = static_cast<const char*>(bytes);
  while (size > 0) {
    const ssize_t written = ::write(fd_, next, size);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) fail("writing " + temp_path_);
    next += written;
    size -= static_cast<size_t>(written);
  }
}

void AtomicFile::commit() {
  if (::fsync(fd_) != 0) fail("flushing " + temp_path_ + " to disk");
  const int close_status = ::close(fd_);
  fd_ = -1;
  if (close_status != 0) fail("closing " + temp_path_);
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) fail("renaming " + temp_path_ + " over it");
  committed_ = true;

  // Without this a power loss may undo the rename. A directory we cannot open
  // (no read permission) or a filesystem without directory fsync (EINVAL) is
  // left as it is: the file is complete either way.
  const int dir = ::open(directory_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    const int status = ::fsync(dir);
    const int saved_errno = errno;
    ::close(dir);
    errno = saved_errno;
    if (status != 0 && errno != EINVAL && errno != ENOTSUP)
      fail("syncing its directory after the rename (the new file is in place but may not "
           "survive a power loss)");
  }
  remove_stale_temp_files(path_);
}

void AtomicFile::fail(const std::string& what) const {
  const int saved_errno = errno;
  CONVNET_FAIL(op_, ": cannot write ", path_, ": ", what, ": ", std::strerror(saved_errno));
}

}  // namespace convnet::io::detail
