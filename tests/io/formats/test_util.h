// SPDX-License-Identifier: Apache-2.0
// Shared helpers for the io format/dataset tests: temp dirs, error-message assertions, shared data.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/error.h"

namespace leseg::testing {

// A fresh directory under the system temp dir, removed at scope exit.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("leseg_io_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::error_code ec; std::filesystem::remove_all(path, ec); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

// Runs f, expects leseg::Error whose message contains every fragment.
template <class F>
void expect_error(F&& f, const std::vector<std::string>& fragments) {
  try {
    f();
    ADD_FAILURE() << "expected leseg::Error containing '" << (fragments.empty() ? "" : fragments[0]) << "'";
  } catch (const leseg::Error& e) {
    std::string msg = e.what();
    for (auto& fr : fragments) EXPECT_NE(msg.find(fr), std::string::npos) << "message lacks '" << fr << "': " << msg;
  }
}

// Root of the shared real-data samples, or "" when absent.
inline std::string shared_data_dir() {
  if (const char* e = std::getenv("LESEG_SHARED_DATA"); e && std::filesystem::is_directory(e)) return e;
#ifdef LESEG_SOURCE_DIR
  std::filesystem::path p = std::filesystem::path(LESEG_SOURCE_DIR) / ".." / "shared" / "data";
  if (std::filesystem::is_directory(p)) return std::filesystem::weakly_canonical(p).string();
#endif
  return "";
}

}  // namespace leseg::testing

#define LESEG_REQUIRE_SHARED_DATA(var, sub)                                                              \
  std::string var = ::leseg::testing::shared_data_dir();                                                \
  if (var.empty() || !std::filesystem::exists(std::filesystem::path(var) / sub))                       \
    GTEST_SKIP() << "shared data sample '" << sub << "' not found (set LESEG_SHARED_DATA or place it at " \
                    "${LESEG_SOURCE_DIR}/../shared/data)";                                             \
  var = (std::filesystem::path(var) / sub).string()
