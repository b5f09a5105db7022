// run_program: fork + exec with stdout/stderr in temporary files (no pipes to
// drain, so a chatty program cannot block on a full pipe), polled waitpid for
// the timeout.
#include "cli/run_program.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace convnet::test {
namespace {

std::string read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::vector<std::string> ProgramResult::err_lines() const {
  std::vector<std::string> lines;
  std::string line;
  std::istringstream in(err);
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::string command_line(const std::string& program, const std::vector<std::string>& args) {
  std::string text = program;
  for (const std::string& arg : args)
    text += " " + (arg.empty() || arg.find_first_of(" \t'\"") != std::string::npos ? "'" + arg + "'"
                                                                                   : arg);
  return text;
}

ProgramResult run_program(const std::string& program, const std::vector<std::string>& args,
                          const std::string& working_dir, double timeout_s) {
  static int counter = 0;
  const std::string stem =
      working_dir + "/.run-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  const std::string out_path = stem + ".out", err_path = stem + ".err";
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);

  // Opened before the fork: the child only calls async-signal-safe functions.
  const int null_in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (null_in < 0 || out_fd < 0 || err_fd < 0)
    throw std::runtime_error("run_program: cannot create output files in " + working_dir);
  const auto start = std::chrono::steady_clock::now();
  const pid_t child = ::fork();
  if (child == 0) {
    if (::chdir(working_dir.c_str()) != 0 || ::dup2(null_in, 0) < 0 || ::dup2(out_fd, 1) < 0 ||
        ::dup2(err_fd, 2) < 0)
      ::_exit(126);
    ::execv(program.c_str(), argv.data());
    ::_exit(127);  // could not execute it
  }
  ::close(null_in);
  ::close(out_fd);
  ::close(err_fd);
  if (child < 0) throw std::runtime_error("run_program: fork failed");

  ProgramResult result;
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(child, &status, WNOHANG);
    if (done == child) break;
    if (done < 0 && errno != EINTR) throw std::runtime_error("run_program: waitpid failed");
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (result.seconds > timeout_s) {
      result.timed_out = true;
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  result.out = read_whole(out_path);
  result.err = read_whole(err_path);
  std::remove(out_path.c_str());
  std::remove(err_path.c_str());
  return result;
}

}  // namespace convnet::test
