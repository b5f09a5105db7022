// load_mnist for the examples: the library's message names the folder and the
// files it looked for; only a program of this repository can add how to get
// them (its fetch script, its --data flag).
#pragma once

#include <string>

#include "convnet/data/dataset.hpp"
#include "convnet/error.hpp"

namespace examples {

inline convnet::data::Dataset load_mnist(const std::string& dir, convnet::data::Split split) {
  try {
    return convnet::data::load_mnist(dir, split);
  } catch (const convnet::Error& e) {
    const std::string message = e.what();
    if (message.find("looked for") == std::string::npos) throw;  // present but broken
    throw convnet::Error(message +
                         ". To get the data: for MNIST run `python3 scripts/fetch_mnist.py` (puts "
                         "it in data/mnist); for Fashion-MNIST run `apt-get install "
                         "dataset-fashion-mnist` (puts it in /usr/share/datasets/fashion-mnist); "
                         "or pass --data DIR pointing at the files");
  }
}

}  // namespace examples
