// digits_cnn: a small CNN on scikit-learn's 8x8 handwritten digits (1,797 images,
// Debian's python3-sklearn ships them), trained on the CPU backend in seconds.
// It is the quick end-to-end demo: data in, layers, loss, optimizer, accuracy out.
#include <CLI/CLI.hpp>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "convnet/convnet.hpp"

using namespace convnet;

namespace {

const char* kDefaultDigits = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz";

struct Dataset {
  std::vector<float> images;  // [n, 1, 8, 8], scaled to [0, 1]
  std::vector<int32_t> labels;
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
};

// Each line: 64 pixel values in 0..16, then the label.
Dataset read_digits(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  CONVNET_CHECK(file != nullptr, "digits_cnn: cannot open ", path,
                " (install Debian's python3-sklearn, or pass --data PATH)");
  Dataset data;
  std::string line;
  char buffer[4096];
  int line_number = 0;
  while (gzgets(file, buffer, sizeof buffer) != nullptr) {
    line = buffer;
    ++line_number;
    if (line.find_first_not_of(" \r\n") == std::string::npos) continue;
    std::stringstream fields(line);
    std::string field;
    std::vector<float> values;
    while (std::getline(fields, field, ',')) values.push_back(std::stof(field));
    if (values.size() != 65) {
      gzclose(file);
      CONVNET_FAIL("digits_cnn: ", path, " line ", line_number, " has ", values.size(),
                   " fields, expected 65 (64 pixels and a label)");
    }
    for (int i = 0; i < 64; ++i) data.images.push_back(values[i] / 16.f);
    data.labels.push_back(static_cast<int32_t>(values[64]));
  }
  gzclose(file);
  CONVNET_CHECK(data.size() > 0, "digits_cnn: no samples in ", path);
  return data;
}

// Rows `order[begin, end)` of `data` as a batch on `device`.
std::pair<Tensor, Tensor> gather(const Dataset& data, const std::vector<int64_t>& order,
                                 int64_t begin, int64_t end, Device device) {
  const int64_t n = end - begin;
  std::vector<float> images(static_cast<size_t>(n * 64));
  std::vector<int32_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t row = order[begin + i];
    std::copy_n(data.images.begin() + row * 64, 64, images.begin() + i * 64);
    labels[i] = data.labels[row];
  }
  return {Tensor::from_vector(images, {n, 1, 8, 8}, device), Tensor::from_vector(labels, {n}, device)};
}

double accuracy(nn::Sequential& net, const Dataset& data, const std::vector<int64_t>& rows,
                Device device, Backend& backend) {
  Tensor correct = Tensor::zeros({1}, device, DType::I32);
  for (int64_t begin = 0; begin < static_cast<int64_t>(rows.size()); begin += 256) {
    const int64_t end = std::min<int64_t>(begin + 256, rows.size());
    auto [x, y] = gather(data, rows, begin, end, device);
    ops::count_correct(backend, net.forward(x, nn::Mode::Eval), y, correct, true);
  }
  return 100.0 * correct.to(Device::cpu()).to_vector<int32_t>()[0] / rows.size();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train a small CNN on scikit-learn's 8x8 digits with convnet"};
  std::string data_path = kDefaultDigits, backend_name = "cpu";
  int epochs = 30, batch_size = 32;
  float lr = 0.05f;
  uint64_t seed = 1;
  app.add_option("--data", data_path, "digits.csv.gz (from python3-sklearn)");
  app.add_option("--backend", backend_name, "cpu, cuda or cudnn")->check(CLI::IsMember({"cpu", "cuda", "cudnn"}));
  app.add_option("--epochs", epochs, "passes over the training set")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", batch_size, "samples per step")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "SGD learning rate (momentum 0.9)");
  app.add_option("--seed", seed, "seed for initialisation and shuffling");
  CLI11_PARSE(app, argc, argv);

  try {
    const auto start = std::chrono::steady_clock::now();
    const Backend::Kind kind = parse_backend_kind(backend_name);
    const Device device = kind == Backend::Kind::Cpu ? Device::cpu() : Device::cuda();
    Backend& backend = get_backend(kind);
    const Dataset data = read_digits(data_path);

    // Seeded split: 300 held-out test images, the rest for training.
    manual_seed(seed);
    std::vector<int64_t> order(static_cast<size_t>(data.size()));
    std::iota(order.begin(), order.end(), 0);
    std::vector<float> keys = Tensor::rand({data.size()}, Device::cpu(), next_seed()).to_vector<float>();
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return keys[a] < keys[b]; });
    const std::vector<int64_t> test(order.begin(), order.begin() + 300);
    std::vector<int64_t> train(order.begin() + 300, order.end());

    nn::Sequential net;
    net.add<nn::Conv2d>(nn::Conv2dOptions(1, 16, 3).padding(1)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
        .add<nn::Conv2d>(nn::Conv2dOptions(16, 32, 3).padding(1)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
        .add<nn::Flatten>().add<nn::Linear>(32 * 2 * 2, 10);
    net.to(device);
    net.set_backend(kind);
    std::printf("%s\n", net.summary({batch_size, 1, 8, 8}, device).c_str());
    std::printf("data: %s — %zu training and %zu test images\n", data_path.c_str(), train.size(), test.size());

    nn::CrossEntropyLoss loss;
    loss.set_backend(kind);
    nn::SGD opt(net.parameters(), {lr, 0.9f});
    opt.set_backend(kind);
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      // Reshuffle the training rows each epoch, seeded.
      std::vector<float> k = Tensor::rand({int64_t(train.size())}, Device::cpu(), next_seed()).to_vector<float>();
      std::vector<int64_t> idx(train.size());
      std::iota(idx.begin(), idx.end(), 0);
      std::sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return k[a] < k[b]; });
      std::vector<int64_t> shuffled(train.size());
      for (size_t i = 0; i < idx.size(); ++i) shuffled[i] = train[idx[i]];
      train = shuffled;

      double loss_sum = 0;
      int batches = 0;
      for (int64_t begin = 0; begin < static_cast<int64_t>(train.size()); begin += batch_size) {
        const int64_t end = std::min<int64_t>(begin + batch_size, train.size());
        auto [x, y] = gather(data, train, begin, end, device);
        Tensor l = loss.forward(net.forward(x, nn::Mode::Train), y);
        net.backward(loss.backward());
        opt.step();
        opt.zero_grad();
        loss_sum += l.item();  // host read for the log line
        ++batches;
      }
      if (epoch == 1 || epoch % 5 == 0 || epoch == epochs)
        std::printf("epoch %2d  loss %.4f  train acc %.2f%%  test acc %.2f%%\n", epoch, loss_sum / batches,
                    accuracy(net, data, train, device, backend), accuracy(net, data, test, device, backend));
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("test accuracy %.2f%% on %zu held-out digits, backend %s, %.1f s\n",
                accuracy(net, data, test, device, backend), test.size(), backend_name.c_str(), seconds);
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
