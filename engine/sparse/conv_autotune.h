// SPDX-License-Identifier: Apache-2.0
// Per-layer choice of the CUDA sparse-conv variant (kernels/sparse_conv/sparse_conv.h; docs/sparse-conv.md).
//   - Which variants may run a call (eligibility): f64 / f32: gather_gemm_scatter, implicit_gemm, grouped_gemm; f32
//     with TF32 allowed also tensor_core_implicit_gemm (sm_80+); bf16 / f16: grouped_gemm, tensor_core_implicit_gemm.
//     An explicitly requested variant may also be tensor_core_implicit_gemm on f32 (it then computes in TF32).
//   - Autotune: the first call of a shape class times every eligible variant (forward + backward, CUDA events) and
//     caches the fastest; later calls of the class reuse it. Shape class = (dtype, TF32, C_in, C_out, kernel volume,
//     kind subm/strided/transposed, ceil(log2(rows))): batches of different scenes share one decision.
//   - When it runs: set_conv_autotune(true) or env LESEG_CONV_AUTOTUNE=1 (which also prints each decision's table
//     to stderr); and always when the requested variant cannot run the call (e.g. gather_gemm_scatter under bf16).
//   - Override: env LESEG_CONV_VARIANT=<name> or set_conv_variant_override() forces one variant everywhere (a clear
//     error if it cannot run a call).
//   - Deterministic mode (engine/determinism.h): only variants without float atomics are candidates. None of the
//     four uses float atomics (each output element has one writer; cuBLAS runs with atomics disallowed), so the
//     candidate set is unchanged and the cost is zero by construction (docs/sparse-conv.md).
// CPU runs one variant (the twin); none of this applies there.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/dtype.h"
#include "kernels/sparse_conv/sparse_conv.h"

namespace leseg {

using kernels::ConvVariant;

enum class ConvKind : uint8_t { Submanifold, Strided, Transposed };

struct ConvShapeKey {
  DType dtype = DType::f32;
  bool tf32 = false;
  int64_t c_in = 0, c_out = 0, volume = 0;
  ConvKind kind = ConvKind::Submanifold;
  int rows_log2 = 0;  // ceil(log2(max(n_in, n_out)))
  bool operator<(const ConvShapeKey& o) const;
  std::string str() const;
};
ConvShapeKey make_conv_shape_key(DType dtype, bool tf32, int64_t c_in, int64_t c_out, int64_t volume, ConvKind kind,
                                 int64_t n_in, int64_t n_out);

// Variant names (conv_variant_name) back to the enum; error naming the value and the valid names.
ConvVariant parse_conv_variant(const std::string& name);
// True if v uses float atomics (none does; the deterministic filter is kept so a future variant must say so).
bool conv_variant_uses_float_atomics(ConvVariant v);
// Empty string if v can run the call, else the reason.
std::string conv_variant_ineligible(ConvVariant v, DType dtype, bool tf32, int cc_major, bool explicit_request);
// Autotune candidates in enum order (deterministic mode filters float atomics).
std::vector<ConvVariant> conv_autotune_candidates(DType dtype, bool tf32, int cc_major, bool deterministic);

void set_conv_autotune(bool on);
bool conv_autotune_enabled();  // set_conv_autotune, else env LESEG_CONV_AUTOTUNE (1/true/on)
bool conv_autotune_verbose();  // env LESEG_CONV_AUTOTUNE=1: print each decision
void set_conv_variant_override(std::optional<ConvVariant> v);
std::optional<ConvVariant> conv_variant_override();  // set_conv_variant_override, else env LESEG_CONV_VARIANT

// The cached choice for key, or: times each candidate with time_ms (milliseconds; called once per candidate),
// caches and returns the fastest (ties: the earlier candidate). Thread-safe.
ConvVariant conv_autotune_choose(const ConvShapeKey& key, const std::vector<ConvVariant>& candidates,
                                 const std::function<double(ConvVariant)>& time_ms);
// The decisions so far, one line per shape class with every candidate's time; "" if none.
std::string conv_autotune_table();
void clear_conv_autotune_cache();

}  // namespace leseg
