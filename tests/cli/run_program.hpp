// Running a program as a user would, for the command-line tests: its exit
// status (or the signal that ended it), its stdout and stderr, and a timeout
// after which it is killed, so a hang fails the test instead of the suite.
#pragma once

#include <string>
#include <vector>

namespace convnet::test {

struct ProgramResult {
  int exit_code = -1;  // when it exited
  int signal = 0;      // when a signal ended it (0 if it exited)
  bool timed_out = false;
  double seconds = 0;
  std::string out, err;
  std::vector<std::string> err_lines() const;  // stderr split at '\n', no empty last line
};

// Runs `program` with `args` in `working_dir`, stdin from /dev/null, stdout and
// stderr captured; SIGKILL after `timeout_s`. Throws std::runtime_error when it
// cannot be started at all.
ProgramResult run_program(const std::string& program, const std::vector<std::string>& args,
                          const std::string& working_dir, double timeout_s);

// "prog --a b 'c d'": the command line for a failure message.
std::string command_line(const std::string& program, const std::vector<std::string>& args);

}  // namespace convnet::test
