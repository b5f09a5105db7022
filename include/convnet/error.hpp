// convnet::Error and the checks that raise it.
//
// Every failure the library can detect surfaces as a convnet::Error whose
// message names the operation, the shapes involved and the cause, e.g.
//   conv2d_forward: input [8, 3, 32, 32] has 3 channels but weight [16, 1, 3, 3] expects 1
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace convnet {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {
// Streams every argument into one string; used by CONVNET_CHECK.
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace convnet

// CONVNET_CHECK(cond, "op: ", shape, " must ...") throws convnet::Error when cond is false.
#define CONVNET_CHECK(cond, ...)                                         \
  do {                                                                   \
    if (!(cond)) throw ::convnet::Error(::convnet::detail::concat(__VA_ARGS__)); \
  } while (0)

#define CONVNET_FAIL(...) throw ::convnet::Error(::convnet::detail::concat(__VA_ARGS__))
