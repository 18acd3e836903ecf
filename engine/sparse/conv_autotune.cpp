// SPDX-License-Identifier: Apache-2.0
#include "engine/sparse/conv_autotune.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>

#include "engine/error.h"

namespace leseg {

namespace {
const char* kind_name(ConvKind k) {
  return k == ConvKind::Submanifold ? "subm" : k == ConvKind::Strided ? "strided" : "transposed";
}
struct Decision {
  std::vector<std::pair<ConvVariant, double>> times;
  ConvVariant chosen = ConvVariant::GatherGemmScatter;
};
struct State {
  std::mutex mu;
  std::map<ConvShapeKey, Decision> cache;
  std::optional<bool> autotune;
  bool override_set = false;
  std::optional<ConvVariant> override_v;
};
State& state() {
  static State s;
  return s;
}
bool env_on(const char* name) {
  const char* v = std::getenv(name);
  return v && (!std::strcmp(v, "1") || !std::strcmp(v, "true") || !std::strcmp(v, "on"));
}
std::string line_of(const ConvShapeKey& k, const Decision& d) {
  std::ostringstream os;
  os << k.str() << ":";
  for (auto& [v, ms] : d.times) os << " " << kernels::conv_variant_name(v) << " " << ms << " ms;";
  os << " -> " << kernels::conv_variant_name(d.chosen);
  return os.str();
}
}  // namespace

bool ConvShapeKey::operator<(const ConvShapeKey& o) const {
  return std::make_tuple(int(dtype), tf32, c_in, c_out, volume, int(kind), rows_log2) <
         std::make_tuple(int(o.dtype), o.tf32, o.c_in, o.c_out, o.volume, int(o.kind), o.rows_log2);
}
std::string ConvShapeKey::str() const {
  std::ostringstream os;
  os << dtype_name(dtype) << (tf32 ? "+tf32" : "") << " C " << c_in << "->" << c_out << " V " << volume << " "
     << kind_name(kind) << " rows<=2^" << rows_log2;
  return os.str();
}
ConvShapeKey make_conv_shape_key(DType dtype, bool tf32, int64_t c_in, int64_t c_out, int64_t volume, ConvKind kind,
                                 int64_t n_in, int64_t n_out) {
  ConvShapeKey k;
  k.dtype = dtype, k.tf32 = tf32, k.c_in = c_in, k.c_out = c_out, k.volume = volume, k.kind = kind;
  const int64_t n = std::max<int64_t>(1, std::max(n_in, n_out));
  while ((int64_t(1) << k.rows_log2) < n) ++k.rows_log2;
  return k;
}

ConvVariant parse_conv_variant(const std::string& name) {
  std::string valid;
  for (ConvVariant v : kernels::kAllConvVariants) {
    if (name == kernels::conv_variant_name(v)) return v;
    valid += std::string(valid.empty() ? "" : ", ") + kernels::conv_variant_name(v);
  }
  LESEG_FAIL("sparse conv variant '", name, "' is not one of ", valid);
}

bool conv_variant_uses_float_atomics(ConvVariant) { return false; }

std::string conv_variant_ineligible(ConvVariant v, DType dtype, bool tf32, int cc_major, bool explicit_request) {
  const bool half = dtype == DType::bf16 || dtype == DType::f16;
  switch (v) {
    case ConvVariant::GatherGemmScatter:
    case ConvVariant::ImplicitGemm:
      return half ? std::string(kernels::conv_variant_name(v)) + " computes in f32/f64 only" : "";
    case ConvVariant::GroupedGemm: return "";
    case ConvVariant::TensorCoreImplicitGemm:
      if (dtype == DType::f64) return "tensor_core_implicit_gemm has no f64 path";
      if (cc_major < 8) return "tensor_core_implicit_gemm needs compute capability 8.0+";
      if (dtype == DType::f32 && !tf32 && !explicit_request)
        return "tensor_core_implicit_gemm computes f32 in TF32 (only with train.precision tf32)";
      return "";
  }
  return "unknown variant";
}

std::vector<ConvVariant> conv_autotune_candidates(DType dtype, bool tf32, int cc_major, bool deterministic) {
  std::vector<ConvVariant> out;
  for (ConvVariant v : kernels::kAllConvVariants)
    if (conv_variant_ineligible(v, dtype, tf32, cc_major, false).empty() &&
        !(deterministic && conv_variant_uses_float_atomics(v)))
      out.push_back(v);
  return out;
}

void set_conv_autotune(bool on) {
  std::lock_guard<std::mutex> lk(state().mu);
  state().autotune = on;
}
bool conv_autotune_enabled() {
  std::lock_guard<std::mutex> lk(state().mu);
  return state().autotune ? *state().autotune : env_on("LESEG_CONV_AUTOTUNE");
}
bool conv_autotune_verbose() { return env_on("LESEG_CONV_AUTOTUNE"); }
void set_conv_variant_override(std::optional<ConvVariant> v) {
  std::lock_guard<std::mutex> lk(state().mu);
  state().override_set = true;
  state().override_v = v;
}
std::optional<ConvVariant> conv_variant_override() {
  {
    std::lock_guard<std::mutex> lk(state().mu);
    if (state().override_set) return state().override_v;
  }
  const char* e = std::getenv("LESEG_CONV_VARIANT");
  if (!e || !*e) return std::nullopt;
  return parse_conv_variant(e);
}

ConvVariant conv_autotune_choose(const ConvShapeKey& key, const std::vector<ConvVariant>& candidates,
                                 const std::function<double(ConvVariant)>& time_ms) {
  LESEG_CHECK(!candidates.empty(), "sparse conv autotune: no variant can run ", key.str());
  {
    std::lock_guard<std::mutex> lk(state().mu);
    auto it = state().cache.find(key);
    if (it != state().cache.end()) return it->second.chosen;
  }
  Decision d;
  double best = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {  // timing outside the lock (it launches work)
    const double ms = candidates.size() == 1 ? 0.0 : time_ms(candidates[i]);
    d.times.emplace_back(candidates[i], ms);
    if (i == 0 || ms < best) best = ms, d.chosen = candidates[i];
  }
  if (conv_autotune_verbose()) std::fprintf(stderr, "leseg conv autotune: %s\n", line_of(key, d).c_str());
  std::lock_guard<std::mutex> lk(state().mu);
  return state().cache.emplace(key, d).first->second.chosen;
}

std::string conv_autotune_table() {
  std::lock_guard<std::mutex> lk(state().mu);
  std::string out;
  for (auto& [k, d] : state().cache) out += line_of(k, d) + "\n";
  return out;
}
void clear_conv_autotune_cache() {
  std::lock_guard<std::mutex> lk(state().mu);
  state().cache.clear();
}

}  // namespace leseg
