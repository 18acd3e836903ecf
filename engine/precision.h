// SPDX-License-Identifier: Apache-2.0
// Training precision (`train.precision: f32 | tf32 | bf16 | f16`), the contract every op follows:
//   f32   everything in f32; GEMMs in full f32 (no TF32).
//   tf32  f32 storage; GEMM-class ops (matmul/linear, sparse conv, conv2d, attention) may use TF32 tensor-core
//         math with f32 accumulation (GPU); the CPU twin rounds the GEMM inputs to TF32 (10-bit mantissa, nearest
//         even) and accumulates in f32.
//   bf16 / f16  autocast, as PyTorch's: GEMM-class ops cast their floating inputs (activations and the f32 master
//         weights) to autocast_dtype(), accumulate in f32 and return their output in autocast_dtype(); ops on the
//         f32 list (batch/layer norm statistics, softmax, the fused losses, reductions, optimizer steps) compute in
//         f32 whatever their input's dtype; elementwise ops keep their input's dtype (arithmetic in f32, one rounding
//         at the store). Master weights and optimizer state stay f32. f16 adds dynamic loss scaling (the trainer).
// CPU twins compute in f32 and round exactly where the GPU rounds (float_to_bf16 / float_to_f16 / round_to_tf32,
// kernels/common/half_math.h), so parity tests compare bits where the GPU's accumulation order is the CPU's and a
// documented tolerance where it is not.
// The setting is per thread (each data-parallel rank and each loader thread has its own), set by the trainer
// for the duration of a step with PrecisionScope; ops read it, they never set it.
#pragma once
#include <cstdint>
#include <string>

#include "engine/dtype.h"
#include "engine/error.h"
#include "kernels/common/lowp_round.h"

namespace leseg {

enum class Precision : uint8_t { f32, tf32, bf16, f16 };

inline const char* precision_name(Precision p) {
  switch (p) {
    case Precision::f32: return "f32"; case Precision::tf32: return "tf32";
    case Precision::bf16: return "bf16"; case Precision::f16: return "f16";
  }
  return "?";
}
inline Precision parse_precision(const std::string& s) {
  if (s == "f32") return Precision::f32;
  if (s == "tf32") return Precision::tf32;
  if (s == "bf16") return Precision::bf16;
  if (s == "f16") return Precision::f16;
  LESEG_FAIL("train.precision: '", s, "' is not one of f32, tf32, bf16, f16");
}

namespace detail {
inline Precision& precision_slot() { static thread_local Precision p = Precision::f32; return p; }
}  // namespace detail

inline Precision current_precision() { return detail::precision_slot(); }
// TF32 GEMM math allowed (tf32 mode; bf16/f16 modes keep their f32-input GEMMs, e.g. the optimizer's, in f32).
inline bool allow_tf32() { return current_precision() == Precision::tf32; }
// The dtype GEMM-class ops compute their inputs and outputs in: f32, bf16 or f16.
inline DType autocast_dtype() {
  switch (current_precision()) {
    case Precision::bf16: return DType::bf16;
    case Precision::f16: return DType::f16;
    default: return DType::f32;
  }
}
inline bool autocast_enabled() { return autocast_dtype() != DType::f32; }

// Sets the precision for the current thread until the scope ends (restores the previous one).
class PrecisionScope {
 public:
  explicit PrecisionScope(Precision p) : prev_(detail::precision_slot()) { detail::precision_slot() = p; }
  ~PrecisionScope() { detail::precision_slot() = prev_; }
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  Precision prev_;
};

}  // namespace leseg
