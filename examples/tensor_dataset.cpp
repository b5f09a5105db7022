// tensor_dataset: your own data, already in memory, through the same pipeline as
// MNIST: TensorDataset -> DataLoader (with per-feature Normalize) -> Trainer.
//
// The data are K interleaved spirals in the plane (after CS231n's toy problem):
// class k is the arm r * (cos t, sin t) with r from 0 to 1 and
// t = 2 pi (k / K + turns * r) plus Gaussian noise on the angle, so every arm
// winds around the centre between the others. No straight line separates them
// (a linear classifier does little better than chance); a small MLP bends its
// boundaries around the arms. The points come from the library's seeded RNG,
// the test set from another draw of the noise.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "common/report.hpp"
#include "convnet/convnet.hpp"
#include "convnet/data/dataloader.hpp"
#include "convnet/data/dataset.hpp"
#include "convnet/train/schedule.hpp"
#include "convnet/train/trainer.hpp"

using namespace convnet;

namespace {

// `points` samples of each of `classes` arms: features f32 [classes * points, 2],
// labels i32 [classes * points].
data::TensorDataset spirals(int64_t classes, int64_t points, float turns, float noise,
                            uint64_t seed) {
  const float two_pi = 6.28318530718f;
  const int64_t n = classes * points;
  const std::vector<float> jitter = Tensor::randn({n}, Device::cpu(), seed).to_vector<float>();
  std::vector<float> features(static_cast<size_t>(n * 2));
  std::vector<int32_t> labels(static_cast<size_t>(n));
  for (int64_t k = 0; k < classes; ++k)
    for (int64_t i = 0; i < points; ++i) {
      const int64_t row = k * points + i;
      const float r = points > 1 ? static_cast<float>(i) / static_cast<float>(points - 1) : 1.f;
      const float t = two_pi * (static_cast<float>(k) / static_cast<float>(classes) + turns * r) +
                      noise * jitter[row];
      features[row * 2] = r * std::cos(t);
      features[row * 2 + 1] = r * std::sin(t);
      labels[row] = static_cast<int32_t>(k);
    }
  return data::TensorDataset(Tensor::from_vector(features, {n, 2}),
                             Tensor::from_vector(labels, {n}));
}

// Per-feature mean and standard deviation of [N, F] rows: Normalize's values.
data::Normalize feature_statistics(const Tensor& rows) {
  const int64_t n = rows.size(0), f = rows.size(1);
  const std::vector<float> values = rows.to_vector<float>();
  std::vector<float> mean(static_cast<size_t>(f)), stddev(static_cast<size_t>(f));
  for (int64_t j = 0; j < f; ++j) {
    double sum = 0, squares = 0;
    for (int64_t i = 0; i < n; ++i) sum += values[i * f + j];
    const double m = sum / static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) squares += (values[i * f + j] - m) * (values[i * f + j] - m);
    mean[j] = static_cast<float>(m);
    stddev[j] = static_cast<float>(std::sqrt(squares / static_cast<double>(n)));
  }
  return data::Normalize(mean, stddev);
}

}  // namespace

int main(int argc, char** argv) {
  using examples::number_in;
  const char* program = "tensor_dataset";
  CLI::App app{"Train an MLP on in-memory data (interleaved spirals) through TensorDataset, "
               "DataLoader and Trainer"};
  std::string backend_name = "cpu";
  int classes = 3, points = 1000, hidden = 64, epochs = 40, batch_size = 64;
  float turns = 1.5f, noise = 0.3f, lr = 0.01f;
  uint64_t seed = 1;
  app.add_option("--classes", classes, "spiral arms, one class each")->transform(number_in<int>(2, 32));
  app.add_option("--points", points, "training points per arm (the test set has as many)")
      ->transform(number_in<int>(2, 1000000));
  app.add_option("--turns", turns, "how many times each arm winds around the centre")
      ->transform(number_in<float>(0.f, 10.f));
  app.add_option("--noise", noise, "standard deviation of the angle noise, in radians")
      ->transform(number_in<float>(0.f, 10.f));
  app.add_option("--hidden", hidden, "neurons in each of the two hidden layers")
      ->transform(number_in<int>(1, 65536));
  app.add_option("--epochs", epochs, "passes over the training set")->transform(examples::positive<int>());
  app.add_option("--batch-size", batch_size, "samples per step")->transform(number_in<int>(1, 65536));
  app.add_option("--lr", lr, "Adam learning rate (cosine decay to 0)")->transform(examples::positive<float>());
  app.add_option("--backend", backend_name, "cpu, onednn, cuda or cudnn")
      ->check(examples::one_of({"cpu", "onednn", "cuda", "cudnn"}));
  app.add_option("--seed", seed, "seed for the data, initialisation and shuffling")
      ->transform(number_in<uint64_t>(0));
  if (const auto exit_code = examples::parse(app, argc, argv)) return *exit_code;

  return examples::run_reporting_errors(program, [&] {
    const auto start = std::chrono::steady_clock::now();
    const Backend::Kind kind = parse_backend_kind(backend_name);
    const Device device = backend_device(kind);
    get_backend(kind);  // fails here, with the reason, when that backend cannot run

    manual_seed(seed);
    const data::TensorDataset train_set = spirals(classes, points, turns, noise, next_seed());
    const data::TensorDataset test_set = spirals(classes, points, turns, noise, next_seed());
    std::printf("data: %d interleaved spirals, %lld training and %lld test points [N, 2]\n", classes,
                static_cast<long long>(train_set.size()), static_cast<long long>(test_set.size()));

    // One mean and std per feature, from the training points only.
    data::DataLoaderOptions loader_options;
    loader_options.batch_size = batch_size;
    loader_options.seed = seed;
    loader_options.normalization = feature_statistics(train_set.images);
    loader_options.device = device;
    data::DataLoader train_loader(train_set, loader_options);
    loader_options.shuffle = false;
    loader_options.batch_size = 1000;
    data::DataLoader test_loader(test_set, loader_options);

    nn::Sequential net;
    net.add<nn::Linear>(2, hidden).add<nn::ReLU>()
        .add<nn::Linear>(hidden, hidden).add<nn::ReLU>()
        .add<nn::Linear>(hidden, classes);
    net.to(device);
    net.set_backend(kind);
    std::printf("%s\n", net.summary({batch_size, 2}, device).c_str());

    nn::CrossEntropyLoss loss;
    loss.set_backend(kind);
    nn::Adam optimizer(net.parameters(), nn::AdamOptions(lr));
    optimizer.set_backend(kind);
    const train::CosineLr schedule(lr, epochs * train_loader.batches_per_epoch());

    train::TrainerOptions options;
    options.epochs = epochs;
    options.progress = false;
    train::Trainer trainer(net, loss, optimizer, schedule, options);
    trainer.on_epoch_end = [epochs](const train::EpochMetrics& m) {
      if (m.epoch == 1 || m.epoch % 10 == 0 || m.epoch == epochs)
        std::printf("epoch %3lld  loss %.4f  train acc %.2f%%  test acc %.2f%%\n",
                    static_cast<long long>(m.epoch), m.train_loss, 100.0 * m.train_accuracy,
                    100.0 * m.test_accuracy);
    };
    trainer.fit(train_loader, &test_loader);

    const train::EvalResult result =
        train::evaluate(net, test_loader, classes, train::Confusion::Compute);
    std::printf("confusion (row: true arm, column: predicted)\n%s\n",
                train::format_confusion(result).c_str());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("test accuracy %.2f%% on %lld points, backend %s, %.1f s\n", 100.0 * result.accuracy,
                static_cast<long long>(result.samples), backend_name.c_str(), seconds);
    return 0;
  });
}
