// SPDX-License-Identifier: Apache-2.0
// Preconditions for kernels: throw std::invalid_argument with file:line and a message (never abort).
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace leseg::kernels::detail {
template <class... Args>
[[noreturn]] inline void fail(const char* file, int line, const char* cond, const Args&... args) {
  std::ostringstream os;
  os << file << ":" << line << ": check failed (" << cond << ")";
  if constexpr (sizeof...(Args) > 0) {
    os << ": ";
    (os << ... << args);
  }
  throw std::invalid_argument(os.str());
}
}  // namespace leseg::kernels::detail

#define LESEG_KCHECK(cond, ...) \
  do { if (!(cond)) ::leseg::kernels::detail::fail(__FILE__, __LINE__, #cond, ##__VA_ARGS__); } while (0)
