// SPDX-License-Identifier: Apache-2.0
// Errors: every failed precondition throws leseg::Error with a message naming what was wrong
// (shape, dtype, device, file, field). Never abort on user input.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace leseg {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace leseg

// LESEG_CHECK(cond, "message parts", value, ...): throws leseg::Error("<msg> [check `cond` at file:line]").
#define LESEG_CHECK(cond, ...)                                                                        \
  do {                                                                                                \
    if (!(cond))                                                                                      \
      throw ::leseg::Error(::leseg::detail::concat(__VA_ARGS__) + " [check `" #cond "` at " __FILE__ \
                           ":" + std::to_string(__LINE__) + "]");                                     \
  } while (0)
#define LESEG_FAIL(...) throw ::leseg::Error(::leseg::detail::concat(__VA_ARGS__))
