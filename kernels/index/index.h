// SPDX-License-Identifier: Apache-2.0
// Row gather / scatter-add over row-major (rows, D) tables; idx is i32 or i64.
//                      defines: index_select_rows, index_add_rows, index_add_rows_csr, index_first_bad
//   index_select_rows: out[i, :] = x[idx[i], :]                 x (R, D), idx (n), out (n, D)
//   index_add_rows:    out[idx[i], :] += src[i, :]              out (R, D), idx (n), src (n, D)
// Gradients (engine/ops/shape_ops.cpp): index_select's dx = index_add_rows(zeros, idx, dy); index_add's
// dsrc = index_select_rows(dy, idx), dout_in = dy.
// Order of additions: the CPU twin adds in i order for every target (deterministic; threads split D).
// CUDA default: atomicAdd (order varies run to run in the last bits for f32). CUDA deterministic path
// (index_add_rows_csr): the caller builds, on the host, row_ptr (R + 1) and order (n) = the source rows
// grouped by target in increasing i (a stable counting sort); one thread per (target, column) sums its
// sources in that order, so the result is bitwise the CPU twin's.
// Bounds: indices are not checked by the add/select kernels; index_first_bad_{cpu,cuda} returns / writes the
// first position i with idx[i] outside [0, R) (n when all are valid). CUDA: *first_bad must hold n on entry.
// T: float, double (select: every storage type)   I: int32_t, int64_t
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {

template <class T, class I> void index_select_rows_cpu(const T* x, int64_t R, int64_t D, const I* idx, int64_t n, T* out);
template <class T, class I> void index_add_rows_cpu(T* out, int64_t R, int64_t D, const I* idx, int64_t n, const T* src);
template <class I> int64_t index_first_bad_cpu(const I* idx, int64_t n, int64_t R);

template <class T, class I>
void index_select_rows_cuda(const T* x, int64_t R, int64_t D, const I* idx, int64_t n, T* out, StreamHandle s);
template <class T, class I>
void index_add_rows_cuda(T* out, int64_t R, int64_t D, const I* idx, int64_t n, const T* src, StreamHandle s);
template <class T>
void index_add_rows_csr_cuda(T* out, int64_t R, int64_t D, const int64_t* row_ptr, const int64_t* order,
                             const T* src, StreamHandle s);
// Sync-free bounds check: records the first offender it meets (index, value, R) under `code`
// (kernels/device_error/device_error.h: DeviceErrorCode) in the device's error slot, read once per step by
// check_device_errors. The select/add CUDA kernels read an out-of-range row as 0 / skip it meanwhile.
template <class I> void index_check_cuda(const I* idx, int64_t n, int64_t R, int32_t code, StreamHandle s);
template <class I> void index_first_bad_cuda(const I* idx, int64_t n, int64_t R, int64_t* first_bad, StreamHandle s);

}  // namespace leseg::kernels
