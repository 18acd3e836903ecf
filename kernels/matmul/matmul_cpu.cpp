// SPDX-License-Identifier: Apache-2.0
// CPU matmul: the entry point checks the shape and calls the copy of the body (matmul_cpu_impl.h) built for
// the instruction set cpu_isa() picks (kernels/common/isa.h).
#include "kernels/common/check.h"
#include "kernels/common/isa.h"
#include "kernels/matmul/matmul.h"

#define LESEG_ISA_NS isa_baseline
#include "kernels/matmul/matmul_cpu_impl.h"
#undef LESEG_ISA_NS

#if LESEG_ISA_X86V3
#define LESEG_ISA_NS isa_x86v3
#include "kernels/matmul/matmul_cpu_isa_decl.h"
#undef LESEG_ISA_NS
#endif
#if LESEG_ISA_X86V4
#define LESEG_ISA_NS isa_x86v4
#include "kernels/matmul/matmul_cpu_isa_decl.h"
#undef LESEG_ISA_NS
#endif

namespace leseg::kernels {

template <class T>
void matmul_cpu(const T* a, const T* b, T* c, const GemmShape& s, T beta) {
  LESEG_KCHECK(s.batch >= 0 && s.m >= 0 && s.n >= 0 && s.k >= 0, "matmul: negative size");
#if LESEG_ISA_X86V4
  if (cpu_isa() == CpuIsa::X86V4) return isa_x86v4::matmul_impl::matmul<T>(a, b, c, s, beta);
#endif
#if LESEG_ISA_X86V3
  if (cpu_isa() == CpuIsa::X86V3) return isa_x86v3::matmul_impl::matmul<T>(a, b, c, s, beta);
#endif
  isa_baseline::matmul_impl::matmul<T>(a, b, c, s, beta);
}

template void matmul_cpu<float>(const float*, const float*, float*, const GemmShape&, float);

namespace {
// Elements an operand spans over the batches (stride 0: one shared matrix).
int64_t span(int64_t batch, int64_t stride, int64_t one) { return stride == 0 ? one : stride * (batch - 1) + one; }
float to_f32(bf16_t v) { return bf16_to_float(v); }
float to_f32(f16_t v) { return f16_to_float(v); }
template <class T> T from_f32(float f);
template <> bf16_t from_f32<bf16_t>(float f) { return float_to_bf16(f); }
template <> f16_t from_f32<f16_t>(float f) { return float_to_f16(f); }
}  // namespace

template <class T>
void matmul_lowp_cpu(const T* a, const T* b, T* c, const GemmShape& s, float beta) {
  LESEG_KCHECK(s.batch >= 0 && s.m >= 0 && s.n >= 0 && s.k >= 0, "matmul: negative size");
  LESEG_KCHECK(!(s.stride_c == 0 && s.batch > 1), "matmul_lowp: summed batches are not supported");
  if (s.batch == 0 || s.m == 0 || s.n == 0) return;
  const int64_t na = span(s.batch, s.stride_a, s.m * s.k), nb = span(s.batch, s.stride_b, s.k * s.n);
  const int64_t nc = span(s.batch, s.stride_c, s.m * s.n);
  std::vector<float> fa(static_cast<size_t>(na)), fb(static_cast<size_t>(nb)), fc(static_cast<size_t>(nc), 0.0f);
  for (int64_t i = 0; i < na; ++i) fa[size_t(i)] = to_f32(a[i]);
  for (int64_t i = 0; i < nb; ++i) fb[size_t(i)] = to_f32(b[i]);
  if (beta != 0.0f)
    for (int64_t i = 0; i < nc; ++i) fc[size_t(i)] = to_f32(c[i]);
  matmul_cpu<float>(fa.data(), fb.data(), fc.data(), s, beta);
  for (int64_t i = 0; i < nc; ++i) c[i] = from_f32<T>(fc[size_t(i)]);
}

template void matmul_lowp_cpu<bf16_t>(const bf16_t*, const bf16_t*, bf16_t*, const GemmShape&, float);
template void matmul_lowp_cpu<f16_t>(const f16_t*, const f16_t*, f16_t*, const GemmShape&, float);
template void matmul_cpu<double>(const double*, const double*, double*, const GemmShape&, double);

}  // namespace leseg::kernels
