// Small helpers for tests that compare a tensor with hand-computed values.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "convnet/convnet.hpp"

namespace convnet::test {

// Runs `f`, expects a convnet::Error, and returns its message ("" otherwise).
inline std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a std::exception that is not convnet::Error: " << e.what();
    return "";
  } catch (...) {
    ADD_FAILURE() << "threw something that is not a std::exception";
    return "";
  }
  ADD_FAILURE() << "did not throw";
  return "";
}

// Norm-wise ||a - b|| / ||b|| over two tensors on any device (1 in place of a zero norm).
inline double relative_error(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.to(Device::cpu()).to_vector<float>();
  const std::vector<float> y = b.to(Device::cpu()).to_vector<float>();
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    num += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
    den += double(y[i]) * y[i];
  }
  return std::sqrt(num / (den > 0 ? den : 1));
}

// Every element of `actual` within abs_tol + rel_tol * |expected| of `expected`
// (NaN expected only where NaN is expected). Names the first mismatch.
inline ::testing::AssertionResult values_near(const Tensor& actual,
                                              const std::vector<float>& expected,
                                              double rel_tol = 1e-6, double abs_tol = 1e-6) {
  if (actual.numel() != static_cast<int64_t>(expected.size()))
    return ::testing::AssertionFailure() << actual.str() << " has " << actual.numel()
                                         << " elements, expected " << expected.size();
  const std::vector<float> got = actual.to_vector<float>();
  for (size_t i = 0; i < got.size(); ++i) {
    const double a = got[i], e = expected[i];
    const bool ok =
        std::isnan(e) ? std::isnan(a) : (std::fabs(a - e) <= abs_tol + rel_tol * std::fabs(e));
    if (!ok) {
      std::ostringstream os;
      os << actual.str() << ": element " << i << " is " << a << ", expected " << e
         << "\n  got:      ";
      for (float v : got) os << v << " ";
      os << "\n  expected: ";
      for (float v : expected) os << v << " ";
      return ::testing::AssertionFailure() << os.str();
    }
  }
  return ::testing::AssertionSuccess();
}

inline std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace convnet::test
