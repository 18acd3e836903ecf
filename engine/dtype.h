// SPDX-License-Identifier: Apache-2.0
// Element types. f32 is the training type; f64 exists on CPU for gradient checks; f16/bf16 are storage
// and cast types (arithmetic happens in f32); integers index; u8/bool mask.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/error.h"
#include "kernels/common/half_math.h"

namespace leseg {

enum class DType : uint8_t { f32, f64, f16, bf16, i32, i64, u8, b8 };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: case DType::i32: return 4;
    case DType::f64: case DType::i64: return 8;
    case DType::f16: case DType::bf16: return 2;
    case DType::u8: case DType::b8: return 1;
  }
  return 0;
}
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32"; case DType::f64: return "f64"; case DType::f16: return "f16";
    case DType::bf16: return "bf16"; case DType::i32: return "i32"; case DType::i64: return "i64";
    case DType::u8: return "u8"; case DType::b8: return "bool";
  }
  return "?";
}
inline bool is_floating(DType t) { return t == DType::f32 || t == DType::f64 || t == DType::f16 || t == DType::bf16; }
inline bool is_integral(DType t) { return t == DType::i32 || t == DType::i64 || t == DType::u8 || t == DType::b8; }

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<f16_t> { static constexpr DType value = DType::f16; };
template <> struct dtype_of<bf16_t> { static constexpr DType value = DType::bf16; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::i64; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::u8; };
template <> struct dtype_of<bool> { static constexpr DType value = DType::b8; };
template <class T> inline constexpr DType dtype_v = dtype_of<T>::value;

}  // namespace leseg

// Dispatch on a dtype: defines `scalar_t` inside the body.
//   LESEG_DISPATCH_FLOAT(t, "op", { kernel<scalar_t>(...); })        -> f32, f64
//   LESEG_DISPATCH_ALL(t, "op", { ... })                             -> every dtype
//   LESEG_DISPATCH_INDEX(t, "op", { ... })                           -> i32, i64
#define LESEG_DTYPE_CASE(enumv, type, ...) \
  case ::leseg::DType::enumv: { using scalar_t = type; __VA_ARGS__; } break;
#define LESEG_DISPATCH_FLOAT(t, opname, ...)                                                      \
  switch (t) {                                                                                    \
    LESEG_DTYPE_CASE(f32, float, __VA_ARGS__)                                                     \
    LESEG_DTYPE_CASE(f64, double, __VA_ARGS__)                                                    \
    default: LESEG_FAIL(opname, ": dtype ", ::leseg::dtype_name(t), " not supported (f32, f64)"); \
  }
// LESEG_DISPATCH_FLOAT plus the half storage types (scalar_t = f16_t / bf16_t): ops whose kernels read half
// inputs and compute in f32 or wider (fused losses, fused attention).
#define LESEG_DISPATCH_FLOAT_HALF(t, opname, ...)                                                            \
  switch (t) {                                                                                            \
    LESEG_DTYPE_CASE(f32, float, __VA_ARGS__)                                                             \
    LESEG_DTYPE_CASE(f64, double, __VA_ARGS__)                                                            \
    LESEG_DTYPE_CASE(f16, ::leseg::f16_t, __VA_ARGS__)                                                    \
    LESEG_DTYPE_CASE(bf16, ::leseg::bf16_t, __VA_ARGS__)                                                  \
    default: LESEG_FAIL(opname, ": dtype ", ::leseg::dtype_name(t), " not supported (f32, f64, f16, bf16)"); \
  }
#define LESEG_DISPATCH_INDEX(t, opname, ...)                                                      \
  switch (t) {                                                                                    \
    LESEG_DTYPE_CASE(i32, int32_t, __VA_ARGS__)                                                   \
    LESEG_DTYPE_CASE(i64, int64_t, __VA_ARGS__)                                                   \
    default: LESEG_FAIL(opname, ": index dtype ", ::leseg::dtype_name(t), " not supported (i32, i64)"); \
  }
#define LESEG_DISPATCH_ALL(t, opname, ...)          \
  switch (t) {                                      \
    LESEG_DTYPE_CASE(f32, float, __VA_ARGS__)       \
    LESEG_DTYPE_CASE(f64, double, __VA_ARGS__)      \
    LESEG_DTYPE_CASE(f16, ::leseg::f16_t, __VA_ARGS__)  \
    LESEG_DTYPE_CASE(bf16, ::leseg::bf16_t, __VA_ARGS__) \
    LESEG_DTYPE_CASE(i32, int32_t, __VA_ARGS__)     \
    LESEG_DTYPE_CASE(i64, int64_t, __VA_ARGS__)     \
    LESEG_DTYPE_CASE(u8, uint8_t, __VA_ARGS__)      \
    LESEG_DTYPE_CASE(b8, bool, __VA_ARGS__)         \
  }
