// perceptron: Rosenblatt's perceptron on Iris, setosa vs versicolor — the first
// step of the series.
//
// A perceptron scores a flower x (its measurements) with s = w·x + b and answers
// "versicolor" when s > 0, "setosa" otherwise. Its learning rule: visit the
// samples one at a time; on a mistake (y·s <= 0, with labels y = ±1) move the
// boundary towards the sample, w += y·x and b += y; on a correct answer do
// nothing. When the two classes can be split by a straight line (a hyperplane),
// the rule stops making mistakes after finitely many updates (Novikoff, 1962),
// and setosa vs versicolor can be split.
//
// The rule is not hand-written here. It is gradient descent on the perceptron
// criterion max(0, -y·s) — nn::HingeLoss with margin 0 — through an
// nn::Linear(features, 1) with nn::SGD, one sample per step: the gradient is
// -y·x on a mistake and 0 otherwise, so a step with learning rate 1 is exactly
// w += y·x, b += y. The same three pieces (a layer, a loss, an optimizer) carry
// every later example; only the layers and the loss change.
#include <CLI/CLI.hpp>

#include "common/cli.hpp"
#include "common/report.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "convnet/convnet.hpp"

using namespace convnet;

namespace {

const char* kDefaultIris = "/usr/lib/python3/dist-packages/sklearn/datasets/data/iris.csv";
const char* kFeatureNames[4] = {"sepal length", "sepal width", "petal length", "petal width"};

struct Iris {
  std::vector<std::vector<float>> features;  // 4 measurements in cm per flower
  std::vector<int> labels;                   // 0, 1, 2
  std::vector<std::string> class_names = {"setosa", "versicolor", "virginica"};
};

// A line of the file as an error message may quote it: bytes that are not
// printable ASCII become '?', and a long line is cut.
std::string shown(const std::string& line) {
  std::string text;
  for (char c : line.substr(0, 60)) text += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  return line.size() > 60 ? text + "..." : text;
}

// Splits a CSV line and parses every field as a number; false when one is not.
bool parse_numbers(const std::string& line, std::vector<double>& values, std::vector<std::string>& fields) {
  values.clear();
  fields.clear();
  std::stringstream stream(line);
  std::string field;
  while (std::getline(stream, field, ',')) fields.push_back(field);
  for (const std::string& f : fields) {
    size_t used = 0;
    double value = 0;
    try {
      value = std::stod(f, &used);
    } catch (const std::exception&) {
      return false;
    }
    if (f.find_first_not_of(" \t\r", used) != std::string::npos) return false;
    values.push_back(value);
  }
  return true;
}

// scikit-learn's iris.csv: a header "150,4,setosa,versicolor,virginica" (the
// class names are taken from it), then 4 measurements and the class 0/1/2 per
// line. A file without the header is accepted too.
Iris read_iris(const std::string& path) {
  std::ifstream file(path);
  std::error_code ec;
  CONVNET_CHECK(!std::filesystem::is_directory(path, ec), "perceptron: --data ", path,
                " is a directory; pass the iris.csv file itself");
  CONVNET_CHECK(file.good() && std::filesystem::is_regular_file(path, ec), "perceptron: cannot open ", path,
                " (install Debian's python3-sklearn, or pass --data PATH to an iris.csv)");
  Iris iris;
  std::string line;
  std::vector<double> values;
  std::vector<std::string> fields;
  int line_number = 0;
  bool first = true;
  while (std::getline(file, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const bool numeric = parse_numbers(line, values, fields);
    if (first && !numeric) {
      // The header: "n_samples,n_features,class names...".
      if (fields.size() >= 4)
        iris.class_names.assign(fields.begin() + 2, fields.end());
      first = false;
      continue;
    }
    first = false;
    CONVNET_CHECK(numeric && values.size() == 5, "perceptron: ", path, " line ", line_number,
                  " is not 4 numbers and a class label: \"", shown(line), "\"");
    for (int i = 0; i < 4; ++i)
      CONVNET_CHECK(std::isfinite(values[i]), "perceptron: ", path, " line ", line_number, " has ",
                    kFeatureNames[i], " ", values[i], "; measurements must be finite");
    const int label = static_cast<int>(values[4]);
    CONVNET_CHECK(label == values[4] && label >= 0 && label <= 2, "perceptron: ", path, " line ",
                  line_number, " has class label ", values[4], ", expected 0, 1 or 2");
    iris.features.push_back({float(values[0]), float(values[1]), float(values[2]), float(values[3])});
    iris.labels.push_back(label);
  }
  return iris;
}

// "0.410 × sepal length - 1.300 × petal length + 0.200"
std::string format_affine(const std::vector<float>& weights, const std::vector<int>& columns, float bias) {
  std::string text;
  char buffer[96];
  for (size_t i = 0; i < weights.size(); ++i) {
    const char* sign = i == 0 ? (weights[i] < 0 ? "-" : "") : (weights[i] < 0 ? " - " : " + ");
    std::snprintf(buffer, sizeof buffer, "%s%.3f × %s", sign, std::fabs(weights[i]), kFeatureNames[columns[i]]);
    text += buffer;
  }
  std::snprintf(buffer, sizeof buffer, " %s %.3f", bias < 0 ? "-" : "+", std::fabs(bias));
  return text + buffer;
}

}  // namespace

int main(int argc, char** argv) {
  using examples::number_in;
  const char* program = "perceptron";
  CLI::App app{"The perceptron learning rule on Iris (setosa vs versicolor), with convnet"};
  std::string data_path = kDefaultIris;
  int features = 4, max_epochs = 100;
  float lr = 1.f;
  uint64_t seed = 1;
  app.add_option("--data", data_path,
                 "iris.csv in scikit-learn's layout: a header line, then 4 features and the class 0/1/2")
      ->check(examples::kNonEmptyPath);
  app.add_option("--features", features,
                 "4: all measurements; 2: sepal length and petal length (a boundary you can draw)")
      ->check(examples::one_of({"2", "4"}));
  app.add_option("--epochs", max_epochs, "at most this many passes; stops at the first pass without a mistake")
      ->transform(examples::positive<int>());
  app.add_option("--lr", lr, "step size; 1 is Rosenblatt's rule w += y·x")
      ->transform(examples::positive<float>());
  app.add_option("--seed", seed, "seed for the initial weights and the visiting order")
      ->transform(number_in<uint64_t>(0));
  if (const auto exit_code = examples::parse(app, argc, argv)) return *exit_code;

  return examples::run_reporting_errors(program, [&] {
    const Iris iris = read_iris(data_path);
    const std::vector<int> columns = features == 4 ? std::vector<int>{0, 1, 2, 3} : std::vector<int>{0, 2};

    // Setosa (class 0) is y = -1, versicolor (class 1) is y = +1; virginica is left out.
    std::vector<Tensor> inputs, targets;
    int counts[2] = {0, 0};
    for (size_t i = 0; i < iris.labels.size(); ++i) {
      if (iris.labels[i] > 1) continue;
      std::vector<float> x;
      for (int c : columns) x.push_back(iris.features[i][c]);
      inputs.push_back(Tensor::from_vector(x, {1, features}));
      targets.push_back(Tensor::from_vector(std::vector<float>{iris.labels[i] == 1 ? 1.f : -1.f}, {1, 1}));
      ++counts[iris.labels[i]];
    }
    CONVNET_CHECK(counts[0] > 0 && counts[1] > 0, "perceptron: ", data_path,
                  " needs samples of class 0 and class 1, found ", counts[0], " and ", counts[1]);
    const std::string negative = iris.class_names.size() > 0 ? iris.class_names[0] : "class 0";
    const std::string positive = iris.class_names.size() > 1 ? iris.class_names[1] : "class 1";
    std::printf("data: %s — %d %s (y = -1) and %d %s (y = +1), %d features\n", data_path.c_str(),
                counts[0], negative.c_str(), counts[1], positive.c_str(), features);

    // One neuron. Its weights start small and random (PyTorch's default
    // initialisation), which matters for one detail: the perceptron criterion
    // has zero gradient at exactly s = 0, so a sample lying on the boundary
    // would count as a mistake yet cause no update. Starting from w = 0 every
    // first score would be exactly 0 and nothing would move; from random
    // weights a score of exactly 0.0f practically never occurs.
    manual_seed(seed);
    nn::Linear neuron(features, 1);
    nn::HingeLoss criterion(0.f);  // max(0, 0 - y·s): the perceptron criterion
    nn::SGD opt(neuron.parameters(), nn::SGDOptions(lr));

    std::vector<size_t> order(inputs.size());
    std::iota(order.begin(), order.end(), 0);
    int epoch = 0, mistakes = 0, updates = 0;
    for (epoch = 1; epoch <= max_epochs; ++epoch) {
      // A seeded shuffle of the visiting order each pass.
      const std::vector<float> keys =
          Tensor::rand({int64_t(order.size())}, Device::cpu(), next_seed()).to_vector<float>();
      std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return keys[a] < keys[b]; });

      mistakes = 0;
      for (size_t i : order) {
        Tensor score = neuron.forward(inputs[i], nn::Mode::Train);
        CONVNET_CHECK(std::isfinite(score.item()), "the score of flower ", i + 1, " is ", score.item(),
                      " at epoch ", epoch, " (learning rate ", lr, "); lower --lr");
        const bool mistake = targets[i].item() * score.item() <= 0.f;  // predict before learning
        criterion.forward(score, targets[i]);
        neuron.backward(criterion.backward());  // -y·x on a mistake, 0 otherwise
        opt.step();                             // w -= lr · grad, i.e. w += lr · y·x
        opt.zero_grad();
        mistakes += mistake;
        updates += mistake;
      }
      std::printf("epoch %3d  mistakes %3d\n", epoch, mistakes);
      if (mistakes == 0) break;  // a full pass without a mistake changed nothing: done
    }

    // The boundary w·x + b = 0 in centimetres.
    const std::vector<float> w = neuron.weight().value.to_vector<float>();
    const float b = neuron.bias()->value.item();
    std::printf("\nboundary: %s = 0\n", format_affine(w, columns, b).c_str());
    std::printf("          (%s on the positive side, %s on the negative side)\n", positive.c_str(),
                negative.c_str());
    if (features == 2 && w[1] != 0.f) {
      // Solve for the second feature to get a line you can draw.
      std::printf("as a line: %s = %.3f × %s %s %.3f\n", kFeatureNames[columns[1]], -w[0] / w[1],
                  kFeatureNames[columns[0]], -b / w[1] < 0 ? "-" : "+", std::fabs(b / w[1]));
    }

    // Check every sample once more with the final weights, all at once.
    std::vector<float> all;
    for (const Tensor& x : inputs) {
      const std::vector<float> row = x.to_vector<float>();
      all.insert(all.end(), row.begin(), row.end());
    }
    const int64_t n = int64_t(inputs.size());
    const std::vector<float> scores =
        neuron.forward(Tensor::from_vector(all, {n, features}), nn::Mode::Eval).to_vector<float>();
    int correct = 0;
    for (int64_t i = 0; i < n; ++i) correct += targets[i].item() * scores[i] > 0.f;
    const int epochs_run = std::min(epoch, max_epochs);
    std::printf("accuracy %.2f%% (%d of %lld) after %d epoch%s and %d updates\n", 100.0 * correct / n, correct,
                static_cast<long long>(n), epochs_run, epochs_run == 1 ? "" : "s", updates);
    if (correct != n) {
      std::fprintf(stderr, "perceptron: not separated within --epochs %d (%d mistakes in the last pass)\n",
                   max_epochs, mistakes);
      return 3;  // a result, not an error: 1 is a failure, 2 a refused command line
    }
    return 0;
  });
}
