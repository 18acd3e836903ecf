// SPDX-License-Identifier: Apache-2.0
// The generic op-test harness (CONVENTIONS §5). A case = op name (a row of engine/ops/ops.def), input
// specs, and a function from inputs to outputs. Registering it gives, for free:
//   * GradCheck:  double-precision central differences vs autograd on CPU, element by element;
//   * Parity:     CPU vs CUDA in f32, outputs and input gradients (skips visibly without a device);
//   * Accumulate: two backwards into the same leaves give exactly twice the gradient.
// Each output is reduced to a scalar with fixed random weights W (loss = Σ out·W), so every output
// element's gradient path is exercised. Cases assert non-trivial outputs and gradients.
#pragma once
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace leseg::testing {

enum class Gen {
  Normal,        // N(0, 1)
  Positive,      // U(0.5, 2): log, sqrt, rsqrt, pow base, div denominator
  Unit,          // U(-0.9, 0.9)
  AwayFromZero,  // ±U(0.3, 1.5): abs, relu, clamp, max (keeps finite differences off kinks)
  Distinct,      // a random permutation of 0..n-1 scaled by 0.1 (no ties: max/min/argmax)
  Index,         // integers in [0, hi) of `index_dtype` (never differentiated)
  Mask,          // u8 0/1 with P(1) = 0.5 (never differentiated)
};

struct InputSpec {
  Shape shape;
  Gen gen = Gen::Normal;
  bool grad = true;                 // ignored for Index / Mask
  int64_t hi = 0;                   // Index upper bound (exclusive)
  DType index_dtype = DType::i64;   // Index dtype
};

using CaseFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

struct OpCase {
  std::string op;    // row name in engine/ops/ops.def
  std::string name;  // short case label: shapes/options ("bcast_row", "dim1_keepdim", "empty")
  std::vector<InputSpec> inputs;
  CaseFn fn;
  double grad_atol = 1e-6, grad_rtol = 1e-5;       // f64 central differences (eps 1e-6)
  double parity_atol = 1e-5, parity_rtol = 1e-4;   // f32 CPU vs CUDA
  std::string why;                                  // why these tolerances, when not the defaults
  bool differentiable = true;                       // false: only forward parity is checked
  bool allow_zero = false;                          // true for cases with empty tensors
};

// How GoogleTest prints a case in test names and failures ("op/name", not a byte dump).
inline void PrintTo(const OpCase& c, std::ostream* os) { *os << c.op << "/" << c.name; }

// Register cases at static-initialisation time: `static const int r = register_cases({...});`
int register_cases(std::vector<OpCase> cases);
const std::vector<OpCase>& op_cases();

// Deterministic input for `spec` (seed per case and input index), dtype f64/f32 for float generators.
Tensor make_input(const InputSpec& spec, DType float_dtype, uint64_t seed);

}  // namespace leseg::testing
