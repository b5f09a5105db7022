// Shared by the libFuzzer targets in this directory (not part of convnet).
//
// The contract every target checks: an input either parses (or loads) or the
// library throws convnet::Error. Any other exception escapes the target, and
// libFuzzer reports it as a crash ("deadly signal" from std::terminate), as it
// does for AddressSanitizer and UndefinedBehaviorSanitizer reports, timeouts
// and out-of-memory. An invariant that does not hold calls fuzz_fail(), which
// prints what broke and aborts.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace convnet_fuzz {

[[noreturn]] inline void fuzz_fail(const char* target, const std::string& what) {
  std::fprintf(stderr, "%s: invariant broken: %s\n", target, what.c_str());
  std::fflush(stderr);
  std::abort();
}

// A file private to this process (libFuzzer's -jobs/-workers run several), in
// $CONVNET_FUZZ_TMPDIR (scripts/fuzz.sh sets it), else /dev/shm when there is
// one (the writes stay in memory), else $TMPDIR or /tmp. Removed at a normal
// exit; a crash leaves it behind.
class TempFile {
 public:
  explicit TempFile(const char* tag) {
    const char* dir = std::getenv("CONVNET_FUZZ_TMPDIR");
    if (dir == nullptr || *dir == '\0') dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : nullptr;
    if (dir == nullptr) dir = std::getenv("TMPDIR");
    path_ = std::string(dir ? dir : "/tmp") + "/convnet-" + tag + "-" + std::to_string(getpid());
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const std::string& path() const { return path_; }
  void write(const void* data, size_t size) const {
    std::FILE* f = std::fopen(path_.c_str(), "wb");
    if (f == nullptr) fuzz_fail("TempFile", "cannot create " + path_);
    const bool ok = (size == 0 || std::fwrite(data, 1, size, f) == size);
    if (std::fclose(f) != 0 || !ok) fuzz_fail("TempFile", "cannot write " + path_);
  }

 private:
  std::string path_;
};

}  // namespace convnet_fuzz
