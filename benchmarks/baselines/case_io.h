// SPDX-License-Identifier: Apache-2.0
// The framework-baseline harness's shared inputs (benchmarks/baselines, docs/benchmarks.md): a case directory
// holds one .npy file per array (coordinates, features, labels, gradients) and, for models, a .safetensors
// checkpoint. Both sides (the leseg worker and the Python baseline) read the same files; the leseg side writes
// its outputs next to them as "leseg_<name>.npy" for the cross-framework check.
// Header-only so the always-on round-trip test (tests/baselines) and the worker share one implementation.
#pragma once
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/tensor.h"
#include "io/formats/npy.h"

namespace leseg::baselines {

inline std::string case_path(const std::string& dir, const std::string& name) {
  return (std::filesystem::path(dir) / (name + ".npy")).string();
}

// Writes every array of `arrays` as <dir>/<name>.npy (the directory is created).
inline void write_case(const std::string& dir, const std::map<std::string, Tensor>& arrays) {
  std::filesystem::create_directories(dir);
  for (const auto& [name, t] : arrays) {
    LESEG_CHECK(!name.empty() && name.find('/') == std::string::npos, "baselines: bad array name '", name, "'");
    io::write_npy(case_path(dir, name), t);
  }
}

inline bool case_has(const std::string& dir, const std::string& name) {
  return std::filesystem::exists(case_path(dir, name));
}

// Reads <dir>/<name>.npy; `dtype` (when given) is checked, naming the file. Missing files are an error naming the
// path and the command that writes it.
inline Tensor read_case_array(const std::string& dir, const std::string& name,
                              std::optional<DType> dtype = std::nullopt) {
  const std::string p = case_path(dir, name);
  LESEG_CHECK(std::filesystem::exists(p), "baselines: missing input ", p,
              " (written by benchmarks/baselines/run.py or the worker's `room` command)");
  Tensor t = io::read_npy(p);
  LESEG_CHECK(!dtype || t.dtype() == *dtype, "baselines: ", p, " holds ", dtype_name(t.dtype()), ", expected ",
              dtype_name(*dtype));
  return t;
}

// Reads the named arrays.
inline std::map<std::string, Tensor> read_case(const std::string& dir, const std::vector<std::string>& names) {
  std::map<std::string, Tensor> out;
  for (const auto& n : names) out[n] = read_case_array(dir, n);
  return out;
}

// Weight-layout mapping (documented in docs/benchmarks.md): leseg keeps a sparse-conv kernel as (K^3, C_in, C_out)
// with kernel index k = ix + K (iy + K iz) (x fastest); spconv 2.x keeps (C_out, K_0, K_1, K_2, C_in) indexed by
// the offset along its index columns 1, 2, 3. With coordinates passed to spconv as (b, x, y, z) unchanged, the
// spconv weight is W_sp[o, ix, iy, iz, i] = W_leseg[ix + K (iy + K iz), i, o]. The function returns the linear
// leseg element index of spconv element (o, ix, iy, iz, i): the Python side applies the same permutation
// (reshape (K, K, K, Ci, Co) as (iz, iy, ix, i, o), then transpose to (o, ix, iy, iz, i)).
inline int64_t leseg_index_of_spconv(int64_t o, int64_t ix, int64_t iy, int64_t iz, int64_t i, int64_t K,
                                     int64_t Ci, int64_t Co) {
  const int64_t k = ix + K * (iy + K * iz);
  return (k * Ci + i) * Co + o;
}

}  // namespace leseg::baselines
