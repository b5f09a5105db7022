// Helpers for the safetensors tests: a scratch directory, raw file bytes, and
// hand-crafted files whose header and data we control byte for byte.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "convnet/convnet.hpp"
#include "support/values.hpp"

namespace convnet::test {
// An inline namespace of their own, so that these inline helpers never meet
// another test header's helper of the same name (tests/cli has a ScratchDir
// too): the one test binary would otherwise link one class's members for the
// other's objects (an ODR violation, which crashed under AddressSanitizer).
inline namespace io_files {

// A fresh directory, removed with everything in it when the test ends.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "convnet-io-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all, ignored);
    std::filesystem::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string u64_le(uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(value >> (8 * i));
  return bytes;
}

// A file with `header` as its JSON text and `data` as its buffer; the length
// field says `header.size()` unless `declared_length` overrides it.
inline void write_crafted(const std::string& path, const std::string& header,
                          const std::string& data, int64_t declared_length = -1) {
  const uint64_t length = declared_length < 0 ? header.size() : uint64_t(declared_length);
  write_bytes(path, u64_le(length) + header + data);
}

// `fn` throws convnet::Error whose message contains every one of `parts`.
template <typename Fn>
::testing::AssertionResult throws_error_with(Fn&& fn, const std::vector<std::string>& parts) {
  try {
    fn();
  } catch (const Error& e) {
    for (const std::string& part : parts)
      if (!contains(e.what(), part))
        return ::testing::AssertionFailure() << "message lacks \"" << part << "\": " << e.what();
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "no convnet::Error thrown";
}

// Files named "<anything>.tmp-<pid>" left in `dir`.
inline std::vector<std::string> temp_files_in(const std::filesystem::path& dir) {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (contains(entry.path().filename().string(), ".tmp-")) found.push_back(entry.path());
  return found;
}

}  // namespace io_files
}  // namespace convnet::test
