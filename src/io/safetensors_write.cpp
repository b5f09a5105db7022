// Writing safetensors files, atomically: the bytes go to "<path>.tmp-<pid>",
// are flushed to disk, and only then renamed over <path>. rename() within one
// directory is atomic on POSIX, so a reader sees the old file or the new one,
// never half of either, even if we crash or the disk fills up midway.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "convnet/io/safetensors.hpp"

// The format stores little-endian values and we write host memory as is.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian; a big-endian host needs byte swapping here");

namespace convnet::io {
namespace {

const char* safetensors_dtype(DType dtype) {
  switch (dtype) {
    case DType::F32: return "F32";
    case DType::I32: return "I32";
  }
  CONVNET_FAIL("write_safetensors: unknown dtype");
}

std::string system_reason() { return std::strerror(errno); }

// The temporary file of one write; removed unless commit() renamed it into place.
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path)
      : path_(path), temp_path_(path + ".tmp-" + std::to_string(::getpid())) {
    file_ = std::fopen(temp_path_.c_str(), "wb");
    if (file_ == nullptr) fail("creating the temporary file " + temp_path_);
  }
  ~AtomicFile() {
    if (file_ != nullptr) std::fclose(file_);
    if (!committed_) std::remove(temp_path_.c_str());
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* bytes, size_t size) {
    if (size != 0 && std::fwrite(bytes, 1, size, file_) != size) fail("writing " + temp_path_);
  }

  void commit() {
    // fsync before rename: otherwise a crash may leave the new name on old/empty blocks.
    if (std::fflush(file_) != 0) fail("writing " + temp_path_);
    if (::fsync(::fileno(file_)) != 0) fail("flushing " + temp_path_ + " to disk");
    const int close_status = std::fclose(file_);
    file_ = nullptr;
    if (close_status != 0) fail("closing " + temp_path_);
    if (std::rename(temp_path_.c_str(), path_.c_str()) != 0)
      fail("renaming " + temp_path_ + " over it");
    committed_ = true;
    sync_directory();
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    CONVNET_FAIL("write_safetensors: cannot write ", path_, ": ", what, ": ", system_reason());
  }

  // Makes the rename itself durable; best effort, the file is already complete.
  void sync_directory() const {
    const size_t slash = path_.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash + 1);
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
  }

  std::string path_, temp_path_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

// The JSON header, padded with spaces so the data starts at a multiple of 8.
std::string make_header(const NamedTensors& tensors, const Metadata& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  // The reference writer puts __metadata__ first; readers accept any order.
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    CONVNET_CHECK(!name.empty(), "write_safetensors: a tensor has an empty name");
    CONVNET_CHECK(name != "__metadata__", "write_safetensors: \"__metadata__\" is reserved");
    CONVNET_CHECK(seen.insert(name).second, "write_safetensors: tensor name \"", name,
                  "\" appears twice");
    CONVNET_CHECK(tensor.defined(), "write_safetensors: tensor \"", name, "\" is undefined");
    const uint64_t end = offset + tensor.nbytes();
    header[name] = {{"dtype", safetensors_dtype(tensor.dtype())},
                    {"shape", tensor.shape().dims()},
                    {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {  // names that are not valid UTF-8
    CONVNET_FAIL("write_safetensors: cannot encode the header: ", e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

}  // namespace

void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const Metadata& metadata) {
  const std::string header = make_header(tensors, metadata);
  unsigned char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(uint64_t(header.size()) >> (8 * i));

  AtomicFile file(path);
  file.write(length, sizeof length);
  file.write(header.data(), header.size());
  for (const auto& entry : tensors) {
    const Tensor host = entry.second.to(Device::cpu());  // same tensor when already there
    file.write(host.raw_data(), host.nbytes());
  }
  file.commit();
}

}  // namespace convnet::io
