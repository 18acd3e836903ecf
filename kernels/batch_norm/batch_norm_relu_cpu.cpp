// SPDX-License-Identifier: Apache-2.0
// Fused batch norm + ReLU (+ residual), CPU (formulas: batch_norm_relu_cpu.h). The loops live in
// batch_norm_relu_cpu_impl.h, built for baseline x86-64 and for x86-64-v3; cpu_isa() picks the copy.
#include "kernels/batch_norm/batch_norm_relu_cpu.h"

#include <algorithm>
#include <vector>

#include "kernels/common/isa.h"

#define LESEG_ISA_NS isa_baseline
#include "kernels/batch_norm/batch_norm_relu_cpu_impl.h"
#undef LESEG_ISA_NS

#if LESEG_ISA_X86V3
#define LESEG_ISA_NS isa_x86v3
#include "kernels/batch_norm/batch_norm_relu_cpu_isa_decl.h"
#undef LESEG_ISA_NS
#endif

namespace leseg::kernels {

namespace {
// The x86-64-v3 copy under x86-64-v3 and under x86-64-v4: these loops are bound by memory bandwidth, and an
// AVX-512 copy of them ran 1.9-2.7x slower than the AVX2 one on the machine that measured it (docs/cpu-performance.md,
// third round), so there is none.
#if LESEG_ISA_X86V3
inline bool wide() { return cpu_isa() == CpuIsa::X86V3 || cpu_isa() == CpuIsa::X86V4; }
#define LESEG_BNR_CALL(fn, ...) (wide() ? isa_x86v3::bn_relu::fn(__VA_ARGS__) : isa_baseline::bn_relu::fn(__VA_ARGS__))
#else
#define LESEG_BNR_CALL(fn, ...) isa_baseline::bn_relu::fn(__VA_ARGS__)
#endif
// Fixed number of row pieces for the reductions (a function of N only: deterministic for any thread count).
inline int64_t pieces(int64_t N) { return std::max<int64_t>(1, std::min<int64_t>(64, N / 256)); }
// Σ over pieces, in piece order: out0[c], out1[c].
void sum_pieces(const std::vector<double>& part, int64_t chunks, int64_t C, double* out0, double* out1) {
  for (int64_t c = 0; c < C; ++c) out0[c] = 0, out1[c] = 0;
  for (int64_t k = 0; k < chunks; ++k)
    for (int64_t c = 0; c < C; ++c) {
      out0[c] += part[size_t(k * 2 * C + c)];
      out1[c] += part[size_t(k * 2 * C + C + c)];
    }
}
}  // namespace

template <class T>
void batch_norm_stats_onepass_cpu(const T* x, int64_t N, int64_t C, T* mean, T* var) {
  std::vector<double> shift(static_cast<size_t>(C), 0.0), s1(static_cast<size_t>(C)), s2(static_cast<size_t>(C));
  if (N > 0)
    for (int64_t c = 0; c < C; ++c) shift[size_t(c)] = double(x[c]);
  const int64_t chunks = pieces(N);
  std::vector<double> part(static_cast<size_t>(chunks * 2 * C));
  if (N > 0 && C > 0) LESEG_BNR_CALL(stats_partials<T>, x, N, C, shift.data(), chunks, part.data());
  sum_pieces(part, chunks, C, s1.data(), s2.data());
  for (int64_t c = 0; c < C; ++c) {
    const double m1 = N > 0 ? s1[size_t(c)] / double(N) : 0.0, m2 = N > 0 ? s2[size_t(c)] / double(N) : 0.0;
    mean[c] = T(shift[size_t(c)] + m1);
    var[c] = T(std::max(0.0, m2 - m1 * m1));
  }
}

template <class T>
void batch_norm_relu_forward_cpu(const T* x, const T* mean, const T* rstd, const T* w, const T* b, const T* residual,
                                 T* y, int64_t N, int64_t C) {
  std::vector<T> wv(static_cast<size_t>(C), T(1)), bv(static_cast<size_t>(C), T(0));
  for (int64_t c = 0; c < C; ++c) {
    if (w) wv[size_t(c)] = w[c];
    if (b) bv[size_t(c)] = b[c];
  }
  if (N > 0 && C > 0) LESEG_BNR_CALL(forward<T>, x, mean, rstd, wv.data(), bv.data(), residual, y, N, C);
}

template <class T>
void batch_norm_relu_backward_cpu(const T* g, const T* y, const T* x, const T* mean, const T* rstd, const T* w,
                                  int64_t N, int64_t C, bool training, T* dx, T* dw, T* db, T* dresidual) {
  const size_t Cs = static_cast<size_t>(C);
  std::vector<double> sg(Cs, 0.0), sgd(Cs, 0.0);  // Σ gz, Σ gz·(x − mean)
  if ((dw || db || (dx && training)) && N > 0 && C > 0) {
    const int64_t chunks = pieces(N);
    std::vector<double> part(static_cast<size_t>(chunks * 2 * C));
    LESEG_BNR_CALL(backward_partials<T>, g, y, x, mean, N, C, chunks, part.data());
    sum_pieces(part, chunks, C, sg.data(), sgd.data());
  }
  std::vector<double> sgx(Cs);  // Σ gz·x̂
  for (int64_t c = 0; c < C; ++c) sgx[size_t(c)] = sgd[size_t(c)] * double(rstd[c]);
  for (int64_t c = 0; c < C; ++c) {
    if (dw) dw[c] = T(sgx[size_t(c)]);
    if (db) db[c] = T(sg[size_t(c)]);
  }
  if ((!dx && !dresidual) || N == 0 || C == 0) return;
  std::vector<T> k1(Cs), mg(Cs), mgx(Cs), ke(Cs);
  for (int64_t c = 0; c < C; ++c) {
    const double wc = double(w ? w[c] : T(1));
    k1[size_t(c)] = T(wc * double(rstd[c]));
    mg[size_t(c)] = T(sg[size_t(c)] / double(N));
    mgx[size_t(c)] = T(sgx[size_t(c)] / double(N));
    ke[size_t(c)] = (w ? w[c] : T(1)) * rstd[c];
  }
  LESEG_BNR_CALL(backward_apply<T>, g, y, x, mean, rstd, k1.data(), mg.data(), mgx.data(), ke.data(), N, C, training,
                 dx, dresidual);
}

#define X(T)                                                                                                       \
  template void batch_norm_stats_onepass_cpu<T>(const T*, int64_t, int64_t, T*, T*);                               \
  template void batch_norm_relu_forward_cpu<T>(const T*, const T*, const T*, const T*, const T*, const T*, T*,    \
                                               int64_t, int64_t);                                                  \
  template void batch_norm_relu_backward_cpu<T>(const T*, const T*, const T*, const T*, const T*, const T*, int64_t, \
                                                int64_t, bool, T*, T*, T*, T*);
X(float)
X(double)
#undef X

}  // namespace leseg::kernels
