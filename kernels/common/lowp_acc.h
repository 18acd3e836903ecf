// SPDX-License-Identifier: Apache-2.0
// Accumulator type of a storage type, for kernels that take f32/f64 and the half storage types (f16/bf16): half
// and f32 accumulate in f32, f64 in f64. load_acc widens exactly; store_acc rounds once (round to nearest even,
// the same bits on CPU and CUDA: kernels/common/half_math.h).
#pragma once
#include <cmath>

#include "kernels/common/half_math.h"

namespace leseg {

template <class T> struct acc_of { using type = float; };
template <> struct acc_of<double> { using type = double; };
template <class T> using acc_t = typename acc_of<T>::type;

template <class T> LESEG_HD acc_t<T> load_acc(T v) { return Convert<acc_t<T>, T>::apply(v); }
template <class T> LESEG_HD T store_acc(acc_t<T> v) { return Convert<T, acc_t<T>>::apply(v); }
template <class T> LESEG_HD T store_from_double(double v) { return Convert<T, double>::apply(v); }
template <class T> LESEG_HD double load_double(T v) { return Convert<double, T>::apply(v); }

}  // namespace leseg
