// SPDX-License-Identifier: Apache-2.0
// CPU matmul: Eigen GEMM on row-major maps. OpenMP over batches when there are several (Eigen's own
// threads otherwise: it does not nest inside an active parallel region).
#include <Eigen/Core>

#include "kernels/common/check.h"
#include "kernels/matmul/matmul.h"

namespace leseg::kernels {
namespace {
template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <class T>
void gemm_one(const T* a, const T* b, T* c, const GemmShape& s, T beta) {
  using CMap = Eigen::Map<const RowMat<T>>;
  Eigen::Map<RowMat<T>> C(c, s.m, s.n);
  if (s.k == 0) {
    if (beta == T(0)) C.setZero(); else C *= beta;
    return;
  }
  CMap A(a, s.trans_a ? s.k : s.m, s.trans_a ? s.m : s.k);
  CMap B(b, s.trans_b ? s.n : s.k, s.trans_b ? s.k : s.n);
  auto run = [&](const auto& opA, const auto& opB) {
    if (beta == T(0)) C.noalias() = opA * opB;
    else {
      if (beta != T(1)) C *= beta;
      C.noalias() += opA * opB;
    }
  };
  if (!s.trans_a && !s.trans_b) run(A, B);
  else if (s.trans_a && !s.trans_b) run(A.transpose(), B);
  else if (!s.trans_a && s.trans_b) run(A, B.transpose());
  else run(A.transpose(), B.transpose());
}
}  // namespace

template <class T>
void matmul_cpu(const T* a, const T* b, T* c, const GemmShape& s, T beta) {
  LESEG_KCHECK(s.batch >= 0 && s.m >= 0 && s.n >= 0 && s.k >= 0, "matmul: negative size");
  if (s.batch == 0 || s.m == 0 || s.n == 0) return;
  if (s.stride_c == 0) {  // reduce every batch into one C, serially (deterministic)
    for (int64_t i = 0; i < s.batch; ++i)
      gemm_one(a + i * s.stride_a, b + i * s.stride_b, c, s, i == 0 ? beta : T(1));
    return;
  }
  if (s.batch == 1) {
    gemm_one(a, b, c, s, beta);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < s.batch; ++i) gemm_one(a + i * s.stride_a, b + i * s.stride_b, c + i * s.stride_c, s, beta);
}

template void matmul_cpu<float>(const float*, const float*, float*, const GemmShape&, float);
template void matmul_cpu<double>(const double*, const double*, double*, const GemmShape&, double);

}  // namespace leseg::kernels
