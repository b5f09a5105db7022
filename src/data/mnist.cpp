// load_mnist: one split of MNIST or Fashion-MNIST (same IDX layout) as tensors.
// Finds the files under any of the names the usual downloads use, and checks
// what the IDX reader cannot: that images and labels belong together.
#include <filesystem>
#include <string>
#include <vector>

#include "convnet/data/dataset.hpp"
#include "convnet/data/idx.hpp"
#include "convnet/error.hpp"

namespace convnet::data {
namespace {

constexpr int kClasses = 10;
constexpr int64_t kSide = 28;

// "train-images-idx3-ubyte", "train-images.idx3-ubyte", each raw or .gz.
std::vector<std::string> candidate_names(const std::string& split, const std::string& kind,
                                         int rank) {
  const std::string idx = "idx" + std::to_string(rank) + "-ubyte";
  std::vector<std::string> names;
  for (const std::string& base : {split + "-" + kind + "-" + idx, split + "-" + kind + "." + idx})
    for (const char* suffix : {"", ".gz"}) names.push_back(base + suffix);
  return names;
}

std::string find_file(const std::string& dir, const std::string& split, const std::string& kind,
                      int rank) {
  namespace fs = std::filesystem;
  const std::vector<std::string> names = candidate_names(split, kind, rank);
  std::error_code ec;
  for (const std::string& name : names) {
    const fs::path path = fs::path(dir) / name;
    if (fs::is_regular_file(path, ec)) return path.string();
  }
  std::string looked_for;
  for (const std::string& name : names) looked_for += (looked_for.empty() ? "" : ", ") + name;
  const bool dir_exists = fs::is_directory(dir, ec);
  // How to get the files is the program's advice to give (its scripts, its flags).
  CONVNET_FAIL("load_mnist: no ", split, " ", kind, " file in ", dir,
               dir_exists ? "" : " (the directory does not exist)", "; looked for ", looked_for);
}

}  // namespace

std::string default_mnist_dir() { return "data/mnist"; }
std::string default_fashion_mnist_dir() { return "/usr/share/datasets/fashion-mnist"; }

Dataset load_mnist(const std::string& dir, Split split) {
  const std::string prefix = split == Split::Train ? "train" : "t10k";
  const std::string images_path = find_file(dir, prefix, "images", 3);
  const std::string labels_path = find_file(dir, prefix, "labels", 1);
  const IdxArray images = read_idx(images_path, 3);
  const IdxArray labels = read_idx(labels_path, 1);

  const int64_t count = labels.dims[0];
  CONVNET_CHECK(images.dims[0] == count, "load_mnist: ", images_path, " holds ", images.dims[0],
                " images but ", labels_path, " holds ", count, " labels");
  CONVNET_CHECK(images.dims[1] == kSide && images.dims[2] == kSide, "load_mnist: ", images_path,
                " holds ", images.dims[1], "x", images.dims[2], " images, expected 28x28");

  Dataset data;
  data.images = Tensor::empty({count, 1, kSide, kSide}, Device::cpu(), DType::F32);
  float scaled[256];  // a table: one division per byte value, not per pixel
  for (int v = 0; v < 256; ++v) scaled[v] = static_cast<float>(v) / 255.f;
  float* pixels = data.images.data<float>();
  for (size_t i = 0; i < images.values.size(); ++i) pixels[i] = scaled[images.values[i]];

  data.labels = Tensor::empty({count}, Device::cpu(), DType::I32);
  int32_t* classes = data.labels.data<int32_t>();
  for (int64_t i = 0; i < count; ++i) {
    const int label = labels.values[static_cast<size_t>(i)];
    CONVNET_CHECK(label < kClasses, "load_mnist: ", labels_path, ": label ", label, " at index ",
                  i, " is outside 0..9");
    classes[i] = label;
  }
  return data;
}

}  // namespace convnet::data
