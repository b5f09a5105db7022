// Command-line helpers shared by the examples.
#pragma once

#include <CLI/CLI.hpp>
#include <unistd.h>

#include <exception>
#include <filesystem>
#include <string>

#include "convnet/error.hpp"

namespace examples {

// Positive numbers only: CLI11's PositiveNumber would answer "--lr 0" with a range up to 1.8e308.
inline const CLI::Validator kPositive(
    [](std::string& text) -> std::string {
      try {
        if (std::stod(text) > 0) return "";
      } catch (const std::exception&) {
      }
      return "must be a number greater than 0, got " + text;
    },
    "> 0");

// Fails now, not after an hour of training, when `path` (a file to write) sits
// in a folder that does not exist or cannot be written.
inline void check_writable(const std::string& program, const std::string& path) {
  if (path.empty()) return;
  std::filesystem::path folder = std::filesystem::path(path).parent_path();
  if (folder.empty()) folder = ".";
  CONVNET_CHECK(std::filesystem::is_directory(folder), program, ": cannot write ", path,
                ": the folder ", folder.string(), " does not exist");
  CONVNET_CHECK(::access(folder.c_str(), W_OK) == 0, program, ": cannot write ", path,
                ": the folder ", folder.string(), " is not writable");
}

}  // namespace examples
