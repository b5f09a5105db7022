// How an example ends on an error: one line "<program>: error: <message>" on
// stderr and exit status 1, whatever was thrown, so a script (or the bad-input
// tests in tests/cli) always sees a message and a status below 128 instead of
// std::terminate's abort.
#pragma once

#include <cstdio>
#include <exception>
#include <new>
#include <string>

#include "common/cli.hpp"
#include "convnet/train/trainer.hpp"

namespace examples {

inline void print_error(const char* program, std::string message) {
  const std::string prefix = std::string(program) + ": ";  // a message may name the program itself
  if (message.compare(0, prefix.size(), prefix) == 0) message.erase(0, prefix.size());
  std::fflush(stdout);  // what the program printed first stays before the error in a shared log
  std::fprintf(stderr, "%s: error: %s\n", program, one_line(message).c_str());
}

// Runs `body` (returning the exit status) and reports anything it throws.
template <typename Body>
int run_reporting_errors(const char* program, Body&& body) {
  try {
    return body();
  } catch (const convnet::train::NonFiniteLoss& e) {
    // The library names TrainerOptions::allow_nonfinite; a user of the program needs the flag.
    char text[256];
    std::snprintf(text, sizeof text,
                  "the training loss is %g at epoch %lld, step %lld of %lld (learning rate %g); "
                  "lower --lr, or pass --allow-nonfinite to train on anyway",
                  static_cast<double>(e.loss), static_cast<long long>(e.epoch),
                  static_cast<long long>(e.batch), static_cast<long long>(e.batches),
                  static_cast<double>(e.lr));
    print_error(program, text);
  } catch (const std::bad_alloc&) {
    print_error(program, "out of memory");
  } catch (const std::exception& e) {
    print_error(program, e.what());
  } catch (...) {
    print_error(program, "unknown exception");
  }
  return 1;
}

}  // namespace examples
