// mlp_mnist: the series' multilayer perceptron, trained with backpropagation on
// all ten MNIST digits.
//
// One linear layer draws one boundary; ten digits written in a thousand ways
// need more. A hidden layer of neurons, each followed by a nonlinearity (ReLU,
// or the sigmoid the series started with), gives the network features of its
// own to compute — strokes, loops, corners — and the output layer combines them
// into ten scores, turned into probabilities by softmax and scored by
// cross-entropy. Written as linear algebra a whole batch goes through in two
// matrix products: H = act(X W1^T + b1), logits = H W2^T + b2.
//
// Backpropagation is the chain rule applied layer by layer in reverse: each
// layer's backward takes dL/d(its output) and returns dL/d(its input), adding
// dL/d(its weights) on the way. SGD with momentum then steps every weight
// downhill. The series reached about 95% with this; better initialisation,
// ReLU, momentum, normalised inputs and a cosine learning-rate decay take the
// same 784-hidden-10 shape past 98%.
#include <CLI/CLI.hpp>

#include "common/cli.hpp"
#include "common/mnist_data.hpp"
#include "common/report.hpp"

#include <chrono>
#include <cstdio>
#include <string>

#include "convnet/convnet.hpp"
#include "convnet/data/dataloader.hpp"
#include "convnet/data/dataset.hpp"
#include "convnet/io/safetensors.hpp"
#include "convnet/train/schedule.hpp"
#include "convnet/train/trainer.hpp"

using namespace convnet;

int main(int argc, char** argv) {
  using examples::number_in;
  const char* program = "mlp_mnist";
  CLI::App app{"A 784-hidden-10 MLP trained by backpropagation on MNIST, with convnet"};
  std::string data_dir = data::default_mnist_dir(), backend_name = "auto", activation = "relu";
  std::string schedule_name = "cosine", save_path, metrics_csv, tensorboard_dir;
  int hidden = 256, epochs = 8, batch_size = 64;
  float lr = 0.05f, momentum = 0.9f;
  uint64_t seed = 1;
  bool allow_nonfinite = false, tensorboard_histograms = false;
  app.add_option("--data", data_dir, "directory with the four MNIST IDX files")->check(examples::kNonEmptyPath);
  app.add_option("--backend", backend_name, "auto (the GPU when present, else onednn when built, else cpu), cpu, onednn, cuda or cudnn")
      ->check(examples::one_of({"auto", "cpu", "onednn", "cuda", "cudnn"}));
  app.add_option("--hidden", hidden, "neurons in the hidden layer")->transform(number_in<int>(1, 65536));
  app.add_option("--activation", activation, "relu, or sigmoid as in the series")
      ->check(examples::one_of({"relu", "sigmoid"}));
  app.add_option("--epochs", epochs, "passes over the 60,000 training images")
      ->transform(examples::positive<int>());
  app.add_option("--batch-size", batch_size, "images per step")->transform(number_in<int>(1, 65536));
  app.add_option("--lr", lr, "peak SGD learning rate")->transform(examples::positive<float>());
  app.add_option("--momentum", momentum, "SGD momentum")->transform(number_in<float>(0.f, 0.999f));
  app.add_option("--schedule", schedule_name, "learning-rate schedule: constant, step, cosine or onecycle")
      ->check(examples::one_of({"constant", "step", "cosine", "onecycle"}));
  app.add_option("--seed", seed, "seed for initialisation and shuffling")->transform(number_in<uint64_t>(0));
  app.add_option("--save", save_path, "write the trained weights here (safetensors)")
      ->check(examples::kNonEmptyPath);
  app.add_option("--metrics-csv", metrics_csv, "write per-epoch metrics here (CSV)")
      ->check(examples::kNonEmptyPath);
  CLI::Option* tensorboard =
      app.add_option("--tensorboard", tensorboard_dir, "write TensorBoard logs (loss, accuracy, learning "
                                                       "rate, images/s) to this folder")
          ->check(examples::kNonEmptyPath);
  app.add_flag("--tensorboard-histograms", tensorboard_histograms,
               "with --tensorboard, also a histogram of every parameter each epoch")
      ->needs(tensorboard);
  app.add_flag("--allow-nonfinite", allow_nonfinite,
               "train on when a step's loss is NaN or infinite (by default training stops with an error "
               "naming the epoch and the step)");
  if (const auto exit_code = examples::parse(app, argc, argv)) return *exit_code;

  return examples::run_reporting_errors(program, [&] {
    const auto start = std::chrono::steady_clock::now();
    examples::check_writable(program, "--save", save_path);
    examples::check_writable(program, "--metrics-csv", metrics_csv);
    examples::check_tensorboard_folder(program, "--tensorboard", tensorboard_dir);
    examples::check_data_folder(program, data_dir);

    // auto: the GPU when there is one (cuDNN if present, else our kernels), else the CPU.
    Backend::Kind kind;
    if (backend_name == "auto")  // CONVNET_BACKEND (cpu included) when set, else the best present
      kind = default_backend_choice().value_or(
          default_backend(cuda_available() ? Device::cuda() : Device::cpu()));
    else
      kind = parse_backend_kind(backend_name);
    const Device device = backend_device(kind);
    get_backend(kind);  // fails here, with the reason, when that backend cannot run

    const data::Dataset train_set = examples::load_mnist(data_dir, data::Split::Train);
    const data::Dataset test_set = examples::load_mnist(data_dir, data::Split::Test);
    data::DataLoaderOptions loader_options;
    loader_options.batch_size = batch_size;
    loader_options.seed = seed;
    loader_options.normalization = data::kMnistNormalization;
    loader_options.device = device;
    loader_options.device_resident = device.is_cuda();
    data::DataLoader train_loader(train_set, loader_options);
    loader_options.shuffle = false;
    loader_options.batch_size = 1000;
    data::DataLoader test_loader(test_set, loader_options);
    std::printf("data: %s — %lld training and %lld test images\n", data_dir.c_str(),
                static_cast<long long>(train_set.size()), static_cast<long long>(test_set.size()));

    manual_seed(seed);
    nn::Sequential net;
    net.add<nn::Flatten>().add<nn::Linear>(28 * 28, hidden);
    if (activation == "relu")
      net.add<nn::ReLU>();
    else
      net.add<nn::Sigmoid>();
    net.add<nn::Linear>(hidden, 10);
    net.to(device);
    net.set_backend(kind);
    std::printf("%s\n", net.summary({batch_size, 1, 28, 28}, device).c_str());

    nn::CrossEntropyLoss loss;  // softmax + negative log-likelihood, fused
    loss.set_backend(kind);
    nn::SGD opt(net.parameters(), nn::SGDOptions(lr).momentum(momentum));
    opt.set_backend(kind);
    const auto schedule = train::make_schedule(schedule_name, lr, epochs * train_loader.batches_per_epoch(),
                                               train_loader.batches_per_epoch());
    std::printf("backend %s on %s; SGD momentum %g, batch %d, %d epochs, schedule %s\n",
                convnet::backend_name(kind), device.str().c_str(), momentum, batch_size, epochs,
                schedule->name().c_str());

    train::TrainerOptions trainer_options;
    trainer_options.epochs = epochs;
    trainer_options.metrics_csv = metrics_csv;
    trainer_options.tensorboard_dir = tensorboard_dir;
    trainer_options.tensorboard_histograms = tensorboard_histograms;
    trainer_options.allow_nonfinite = allow_nonfinite;
    train::Trainer trainer(net, loss, opt, *schedule, trainer_options);
    trainer.on_epoch_end = [program](const train::EpochMetrics& m) {
      std::printf("epoch %2lld  loss %.4f  train acc %.2f%%  test loss %.4f  test acc %.2f%%  lr %.4f  "
                  "%.1f s  %.0f img/s\n",
                  static_cast<long long>(m.epoch), m.train_loss, 100.0 * m.train_accuracy, m.test_loss,
                  100.0 * m.test_accuracy, m.lr, m.seconds, m.images_per_second);
      std::fflush(stdout);
      if (m.nonfinite_steps > 0)
        std::fprintf(stderr, "%s: warning: %lld steps of epoch %lld had a non-finite loss (trained on: "
                     "--allow-nonfinite)\n", program, static_cast<long long>(m.nonfinite_steps),
                     static_cast<long long>(m.epoch));
    };
    trainer.fit(train_loader, &test_loader);

    const train::EvalResult result = train::evaluate(net, test_loader);
    if (!save_path.empty()) {
      io::save_safetensors(net, save_path, {{"model", "mlp_mnist"}, {"activation", activation}});
      std::printf("saved the weights to %s\n", save_path.c_str());
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("test accuracy %.2f%% on %lld images, backend %s, %.1f s\n", 100.0 * result.accuracy,
                static_cast<long long>(result.samples), convnet::backend_name(kind), seconds);
    return 0;
  });
}
