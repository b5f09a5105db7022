// Command-line helpers shared by the examples.
#pragma once

#include <CLI/CLI.hpp>

#include <exception>
#include <string>

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

}  // namespace examples
