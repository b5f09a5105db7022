// Replacing a file so that a crash at any instant (SIGKILL, power loss, a full
// disk) leaves either the complete old file or the complete new one:
//   1. write to a fresh temporary file beside the target ("<path>.tmp-<pid>-<n>",
//      same directory, so the rename below never crosses filesystems),
//   2. fsync it, so the new name cannot end up on blocks not yet written,
//   3. rename() it over the target, which POSIX makes atomic,
//   4. fsync the directory, so the rename itself survives a power loss.
// A process killed before step 3 leaves its temporary file behind; the next
// successful commit to the same target removes those of processes no longer
// running (never another live process's, which may be writing right now).
#pragma once

#include <cstddef>
#include <string>

namespace convnet::io::detail {

class AtomicFile {
 public:
  // Creates the temporary file. `op` starts every message: "<op>: cannot write <path>: ...".
  AtomicFile(std::string op, std::string path);
  // Removes the temporary file unless commit() renamed it into place.
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* bytes, size_t size);
  // Steps 2-4 above, then removes stale temporary files of the same target.
  void commit();

  const std::string& temp_path() const { return temp_path_; }

 private:
  [[noreturn]] void fail(const std::string& what) const;

  std::string op_, path_, temp_path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace convnet::io::detail
