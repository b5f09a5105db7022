// Command-line helpers shared by the examples: flag validators that refuse
// out-of-range values while parsing (before any data is read), one-line usage
// errors, and checks of the files a flag names before training starts.
#pragma once

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "convnet/error.hpp"
#include "convnet/io/onnx.hpp"
#include "convnet/train/tensorboard.hpp"

namespace examples {

// Exit status of a refused command line (as getopt-style tools use); runtime
// errors exit with 1.
inline constexpr int kUsageError = 2;

// `text` with its line breaks turned into "; ", so every error is one line on stderr.
inline std::string one_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  std::string out;
  for (char c : text) {
    if (c == '\r') continue;
    out += c == '\n' ? std::string("; ") : std::string(1, c);
  }
  return out;
}

namespace detail {

inline std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

template <typename T>
std::string show(T value) {
  if constexpr (std::is_integral_v<T>) {
    return std::to_string(value);
  } else {
    char text[32];
    std::snprintf(text, sizeof text, "%g", static_cast<double>(value));
    return text;
  }
}

}  // namespace detail

enum class Lower { Inclusive, Exclusive };

// A flag's number: T's syntax (whole decimal numbers for integer T), finite,
// representable in T without overflow or underflow, and within [low, high]
// (or (low, high] with Lower::Exclusive). CLI11 alone would take "--lr nan",
// "--lr 1e39" (float infinity), "--lr 1e-50" (0), "--seed -1" (2^64 - 1) and
// "--epochs 010" (octal 8). Use with ->transform(): integers are rewritten as
// plain decimal so CLI11 converts exactly what was checked.
template <typename T>
CLI::Validator number_in(T low, T high = std::numeric_limits<T>::max(),
                         Lower lower = Lower::Inclusive) {
  static_assert(std::is_arithmetic_v<T>, "number_in: T must be a number type");
  const bool open = lower == Lower::Exclusive;
  const bool unbounded = high == std::numeric_limits<T>::max();
  const std::string range = unbounded ? (open ? "> " : ">= ") + detail::show(low)
                                      : std::string("in ") + (open ? "(" : "[") +
                                            detail::show(low) + ", " + detail::show(high) + "]";
  const std::string kind = std::is_integral_v<T> ? "a whole number " : "a finite number ";
  return CLI::Validator(
      [=](std::string& input) -> std::string {
        const std::string refusal = "must be " + kind + range + ", got \"" + input + "\"";
        const std::string text = detail::trimmed(input);
        if (text.empty()) return refusal;
        if constexpr (std::is_integral_v<T>) {
          // Decimal only; from_chars takes no '+' and, for unsigned T, no '-'.
          const char* begin = text.c_str() + (text[0] == '+' ? 1 : 0);
          const char* end = text.c_str() + text.size();
          T value{};
          const auto [stop, error] = std::from_chars(begin, end, value);
          if (error != std::errc() || stop != end) return refusal;
          if (value < low || value > high || (open && value == low)) return refusal;
          input = std::to_string(value);
        } else {
          char* stop = nullptr;
          const double wide = std::strtod(text.c_str(), &stop);
          if (stop != text.c_str() + text.size() || !std::isfinite(wide)) return refusal;
          const T value = static_cast<T>(wide);
          if (!std::isfinite(value)) return refusal;  // beyond float's range
          if (value < low || value > high || (open && value == low)) return refusal;
        }
        return "";
      },
      range);
}

// A number > 0 of type T (floats: finite, and not so small that it rounds to 0).
template <typename T>
CLI::Validator positive() {
  return number_in<T>(T(0), std::numeric_limits<T>::max(), Lower::Exclusive);
}

// One of `choices`, spelled exactly (CLI11's IsMember says only "--features: 3").
inline CLI::Validator one_of(const std::vector<std::string>& choices) {
  std::string listed;
  for (const std::string& choice : choices) listed += (listed.empty() ? "" : ", ") + choice;
  return CLI::Validator(
      [=](std::string& input) -> std::string {
        for (const std::string& choice : choices)
          if (input == choice) return "";
        return "must be one of " + listed + ", got \"" + input + "\"";
      },
      "{" + listed + "}");
}

// A path flag given as "" would mean "not given" to the program; refuse it.
inline const CLI::Validator kNonEmptyPath(
    [](std::string& input) -> std::string { return input.empty() ? "must not be empty" : ""; },
    "PATH");

// Parses the command line. Returns the exit status when the program should
// stop: 0 after --help, kUsageError after a refused flag, with one line
// "<program>: error: <flag>: <why> (see --help)" on stderr.
inline std::optional<int> parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help);
  } catch (const CLI::ParseError& e) {
    const std::string program = std::filesystem::path(argc > 0 ? argv[0] : "").filename().string();
    std::fprintf(stderr, "%s: error: %s (see --help)\n", program.c_str(),
                 one_line(e.what()).c_str());
    return kUsageError;
  }
  return std::nullopt;
}

// A refused combination of flags, reported like a refused flag; returns kUsageError.
inline int usage_error(const char* program, const std::string& message) {
  std::fprintf(stderr, "%s: error: %s (see --help)\n", program, one_line(message).c_str());
  return kUsageError;
}

// Fails now, not after an hour of training, when `path` (a file the program
// will write) is a directory, is read-only, or sits in a folder that does not
// exist or cannot be written.
inline void check_writable(const std::string& program, const std::string& flag,
                           const std::string& path) {
  namespace fs = std::filesystem;
  if (path.empty()) return;
  std::error_code ec;
  CONVNET_CHECK(!fs::is_directory(path, ec), program, ": ", flag, " ", path,
                ": is a directory, not a file to write");
  fs::path folder = fs::path(path).parent_path();
  if (folder.empty()) folder = ".";
  CONVNET_CHECK(fs::exists(folder, ec), program, ": ", flag, " ", path, ": the folder ",
                folder.string(), " does not exist");
  CONVNET_CHECK(fs::is_directory(folder, ec), program, ": ", flag, " ", path, ": ", folder.string(),
                " is not a folder");
  CONVNET_CHECK(::access(folder.c_str(), W_OK) == 0, program, ": ", flag, " ", path,
                ": the folder ", folder.string(), " is not writable (", std::strerror(errno), ")");
  if (fs::exists(path, ec)) {
    CONVNET_CHECK(fs::is_regular_file(path, ec), program, ": ", flag, " ", path,
                  ": exists and is not a regular file");
    CONVNET_CHECK(::access(path.c_str(), W_OK) == 0, program, ": ", flag, " ", path,
                  ": the file is not writable (", std::strerror(errno), ")");
  }
}

// The same for `dir`, the folder of TensorBoard logs (--tensorboard): refused
// in a build without TensorBoard, made now (with its parents) when missing, and
// then it must be a writable folder. Making it is the only check that tells
// whether it can be made.
inline void check_tensorboard_folder(const std::string& program, const std::string& flag,
                                     const std::string& dir) {
  namespace fs = std::filesystem;
  if (dir.empty()) return;
  CONVNET_CHECK(convnet::train::tensorboard_available(), program, ": ", flag, " ", dir,
                ": this convnet was built without TensorBoard (libprotobuf-dev and protoc were "
                "not found, or CONVNET_TENSORBOARD=OFF)");
  std::error_code ec;
  CONVNET_CHECK(!fs::exists(dir, ec) || fs::is_directory(dir, ec), program, ": ", flag, " ", dir,
                ": exists and is not a folder");
  fs::create_directories(dir, ec);
  CONVNET_CHECK(!ec, program, ": ", flag, " ", dir, ": the folder cannot be made (", ec.message(), ")");
  CONVNET_CHECK(::access(dir.c_str(), W_OK | X_OK) == 0, program, ": ", flag, " ", dir,
                ": the folder is not writable (", std::strerror(errno), ")");
}

// --export-onnx FILE: writable, and this build can write ONNX; checked before training.
inline void check_onnx_export(const std::string& program, const std::string& path) {
  if (path.empty()) return;
  CONVNET_CHECK(convnet::io::onnx_available(), program, ": --export-onnx ", path,
                ": convnet was built without ONNX (CONVNET_ONNX; Debian: libonnx-dev libprotobuf-dev)");
  check_writable(program, "--export-onnx", path);
}

// Fails unless `path` (a file the program will read) is a regular file that can
// be opened: a directory or a missing file is named before any work starts.
inline void check_readable_file(const std::string& program, const std::string& flag,
                                const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  CONVNET_CHECK(fs::exists(path, ec), program, ": ", flag, " ", path, ": no such file");
  CONVNET_CHECK(!fs::is_directory(path, ec), program, ": ", flag, " ", path,
                ": is a directory, not a file");
  CONVNET_CHECK(fs::is_regular_file(path, ec), program, ": ", flag, " ", path,
                ": is not a regular file");
  CONVNET_CHECK(::access(path.c_str(), R_OK) == 0, program, ": ", flag, " ", path,
                ": cannot be read (", std::strerror(errno), ")");
}

// --data names the folder of the four MNIST files; a file there would only be
// reported as "no train images file in ...". (A missing folder is left to
// examples::load_mnist (mnist_data.hpp), whose message says how to get the data.)
inline void check_data_folder(const std::string& program, const std::string& dir) {
  std::error_code ec;
  CONVNET_CHECK(!std::filesystem::exists(dir, ec) || std::filesystem::is_directory(dir, ec),
                program, ": --data ", dir,
                ": is not a folder (it should hold the four MNIST IDX files)");
}

}  // namespace examples
