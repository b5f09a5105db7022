// digits_cnn: a small CNN on scikit-learn's 8x8 handwritten digits (1,797 images,
// Debian's python3-sklearn ships them), trained on the CPU backend in seconds.
// It is the quick end-to-end demo: data in, layers, loss, optimizer, accuracy out.
#include <CLI/CLI.hpp>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "common/report.hpp"
#include "convnet/convnet.hpp"

using namespace convnet;

namespace {

const char* kDefaultDigits = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz";
constexpr int64_t kTestSamples = 300;

struct Dataset {
  std::vector<float> images;  // [n, 1, 8, 8], scaled to [0, 1]
  std::vector<int32_t> labels;
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
};

// One CSV field as a number; false when it is not one (or not finite).
bool parse_number(const std::string& field, double& value) {
  const char* begin = field.c_str();
  char* end = nullptr;
  value = std::strtod(begin, &end);
  if (end == begin) return false;
  while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n') ++end;
  return *end == '\0' && std::isfinite(value);
}

// Each line: 64 pixel values in 0..16, then the label 0..9. gzip or plain text.
Dataset read_digits(const std::string& path) {
  std::error_code ec;
  CONVNET_CHECK(std::filesystem::exists(path, ec), "digits_cnn: ", path,
                ": no such file (install Debian's python3-sklearn, or pass --data PATH)");
  CONVNET_CHECK(std::filesystem::is_regular_file(path, ec), "digits_cnn: ", path, ": is not a regular file");
  gzFile file = gzopen(path.c_str(), "rb");
  CONVNET_CHECK(file != nullptr, "digits_cnn: cannot open ", path, ": ", std::strerror(errno));
  // Closes the file on every way out, the errors below included.
  const std::unique_ptr<gzFile_s, int (*)(gzFile)> closer(file, gzclose);
  Dataset data;
  char buffer[4096];
  int line_number = 0;
  for (;;) {
    // A line may be longer than the buffer: read until its newline.
    std::string line;
    while (gzgets(file, buffer, sizeof buffer) != nullptr) {
      line += buffer;
      if (!line.empty() && line.back() == '\n') break;
    }
    int error = Z_OK;
    const char* message = gzerror(file, &error);
    // zlib reports a stream cut short as Z_BUF_ERROR, a bad checksum as Z_DATA_ERROR.
    CONVNET_CHECK(error == Z_OK, "digits_cnn: ", path, ": corrupt or truncated gzip data after line ",
                  line_number, " (", message, ")");
    if (line.empty()) break;
    ++line_number;
    if (line.find_first_not_of(" \r\n") == std::string::npos) continue;
    std::stringstream fields(line);
    std::string field;
    std::vector<double> values;
    while (std::getline(fields, field, ',')) {
      double value = 0;
      CONVNET_CHECK(parse_number(field, value), "digits_cnn: ", path, " line ", line_number, " field ",
                    values.size() + 1, " is \"", field.substr(0, 20), "\", not a number");
      values.push_back(value);
    }
    CONVNET_CHECK(values.size() == 65, "digits_cnn: ", path, " line ", line_number, " has ", values.size(),
                  " fields, expected 65 (64 pixels and a label)");
    for (int i = 0; i < 64; ++i) {
      CONVNET_CHECK(values[i] >= 0 && values[i] <= 16, "digits_cnn: ", path, " line ", line_number, " pixel ",
                    i + 1, " is ", values[i], ", outside 0..16");
      data.images.push_back(static_cast<float>(values[i] / 16));
    }
    const double label = values[64];
    CONVNET_CHECK(label == std::floor(label) && label >= 0 && label <= 9, "digits_cnn: ", path, " line ",
                  line_number, " has label ", label, ", expected a digit 0..9");
    data.labels.push_back(static_cast<int32_t>(label));
  }
  // 300 samples are held out for testing; training needs at least one more.
  CONVNET_CHECK(data.size() > kTestSamples, "digits_cnn: ", path, " holds ", data.size(), " samples; ",
                kTestSamples, " are held out for testing, so at least ", kTestSamples + 1, " are needed");
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
  using examples::number_in;
  const char* program = "digits_cnn";
  CLI::App app{"Train a small CNN on scikit-learn's 8x8 digits with convnet"};
  std::string data_path = kDefaultDigits, backend_name = "cpu";
  int epochs = 30, batch_size = 32;
  float lr = 0.05f;
  uint64_t seed = 1;
  app.add_option("--data", data_path, "digits.csv.gz (from python3-sklearn), gzip or plain CSV")
      ->check(examples::kNonEmptyPath);
  app.add_option("--backend", backend_name, "cpu, cuda or cudnn")
      ->check(examples::one_of({"cpu", "cuda", "cudnn"}));
  app.add_option("--epochs", epochs, "passes over the training set")->transform(examples::positive<int>());
  app.add_option("--batch-size", batch_size, "samples per step")->transform(number_in<int>(1, 65536));
  app.add_option("--lr", lr, "SGD learning rate (momentum 0.9)")->transform(examples::positive<float>());
  app.add_option("--seed", seed, "seed for initialisation and shuffling")->transform(number_in<uint64_t>(0));
  if (const auto exit_code = examples::parse(app, argc, argv)) return *exit_code;

  return examples::run_reporting_errors(program, [&] {
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
    const std::vector<int64_t> test(order.begin(), order.begin() + kTestSamples);
    std::vector<int64_t> train(order.begin() + kTestSamples, order.end());

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
    nn::SGD opt(net.parameters(), nn::SGDOptions(lr).momentum(0.9f));
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
        const float step_loss = l.item();  // host read for the log line
        ++batches;
        CONVNET_CHECK(std::isfinite(step_loss), "the training loss is ", step_loss, " at epoch ", epoch,
                      ", step ", batches, " (learning rate ", lr, "); lower --lr");
        loss_sum += step_loss;
      }
      if (epoch == 1 || epoch % 5 == 0 || epoch == epochs)
        std::printf("epoch %2d  loss %.4f  train acc %.2f%%  test acc %.2f%%\n", epoch, loss_sum / batches,
                    accuracy(net, data, train, device, backend), accuracy(net, data, test, device, backend));
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("test accuracy %.2f%% on %zu held-out digits, backend %s, %.1f s\n",
                accuracy(net, data, test, device, backend), test.size(), backend_name.c_str(), seconds);
    return 0;
  });
}
