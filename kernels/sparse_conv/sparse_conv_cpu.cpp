// SPDX-License-Identifier: Apache-2.0
// CPU twin of the sparse conv: the entry points check their arguments and call the copy of the body
// (sparse_conv_cpu_impl.h) built for the instruction set cpu_isa() picks (kernels/common/isa.h).
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "kernels/common/check.h"
#include "kernels/common/isa.h"
#include "kernels/sparse_conv/sparse_conv.h"
#include "kernels/sparse_conv/sparse_conv_cpu.h"

#define LESEG_ISA_NS isa_baseline
#include "kernels/sparse_conv/sparse_conv_cpu_impl.h"
#undef LESEG_ISA_NS

#if LESEG_ISA_X86V3
#define LESEG_ISA_NS isa_x86v3
#include "kernels/sparse_conv/sparse_conv_cpu_isa_decl.h"
#undef LESEG_ISA_NS
#endif
#if LESEG_ISA_X86V4
#define LESEG_ISA_NS isa_x86v4
#include "kernels/sparse_conv/sparse_conv_cpu_isa_decl.h"
#undef LESEG_ISA_NS
#endif

namespace leseg::kernels {
namespace {
void check_map(const ConvMap& m, int64_t n_in, int64_t n_out, int64_t c_in, int64_t c_out) {
  LESEG_KCHECK(m.offsets != nullptr && m.volume >= 1, "sparse_conv: kernel map without offsets");
  LESEG_KCHECK(m.volume <= 125, "sparse_conv: kernel volume ", m.volume, " above 125 (K <= 5)");
  LESEG_KCHECK(n_in >= 0 && n_out >= 0 && c_in >= 0 && c_out >= 0, "sparse_conv: negative size (n_in ", n_in,
               ", n_out ", n_out, ", c_in ", c_in, ", c_out ", c_out, ")");
}

CpuConvForm form_from_env() {
  const char* e = std::getenv("LESEG_CPU_CONV");
  if (!e || !*e || std::strcmp(e, "auto") == 0) return CpuConvForm::Auto;
  if (std::strcmp(e, "gather") == 0) return CpuConvForm::GatherScatter;
  if (std::strcmp(e, "os") == 0) return CpuConvForm::OutputStationary;
  LESEG_KCHECK(false, "LESEG_CPU_CONV=", e, ": expected auto, gather or os");
  return CpuConvForm::Auto;
}
std::atomic<CpuConvForm>& form_setting() {
  static std::atomic<CpuConvForm> f{form_from_env()};
  return f;
}
}  // namespace

// Output rows per block of the output-stationary form (0: gather-GEMM-scatter). LESEG_CPU_CONV_BLOCK overrides (tuning).
static int64_t os_block_rows(int64_t c_in, int64_t c_out) {
  if (sparse_conv_cpu_form(c_in, c_out) != CpuConvForm::OutputStationary) return 0;
  static const int64_t forced = [] {
    const char* e = std::getenv("LESEG_CPU_CONV_BLOCK");
    return e ? std::clamp<int64_t>(std::atoll(e), 8, isa_baseline::sparse_conv::kMaxOsRows) : int64_t(0);
  }();
  if (forced) return forced;
  // about 32k elements of a block's rows per operand (128 KiB in f32: the gathered rows, the products and the
  // block's own output rows stay in L2); measured at 1 thread, C 32/64/128 at 100k voxels: 64-512 rows within
  // noise of each other at C = 128, larger blocks 5-10% faster at C = 32/64 (docs/cpu-performance.md)
  return std::clamp<int64_t>(32768 / std::max<int64_t>(1, std::max(c_in, c_out)), 128, 512);
}

const char* cpu_conv_form_name(CpuConvForm f) {
  switch (f) {
    case CpuConvForm::Auto: return "auto";
    case CpuConvForm::GatherScatter: return "gather";
    case CpuConvForm::OutputStationary: return "os";
  }
  return "?";
}
void set_sparse_conv_cpu_form(CpuConvForm f) { form_setting().store(f); }
CpuConvForm sparse_conv_cpu_form_setting() { return form_setting().load(); }

// Auto: see docs/cpu-performance.md for the measurements behind the choice.
CpuConvForm sparse_conv_cpu_form(int64_t c_in, int64_t c_out) {
  const CpuConvForm f = form_setting().load();
  if (f != CpuConvForm::Auto) return f;
  (void)c_in;
  (void)c_out;
  return CpuConvForm::OutputStationary;
}

int64_t sparse_conv_cpu_workspace_elems(const ConvMap& m, int64_t c_in, int64_t c_out) {
  // the same for every copy (both are built from one body)
  return isa_baseline::sparse_conv::workspace_elems(m, c_in, c_out);
}
int64_t sparse_conv_cpu_forward_workspace_elems(const ConvMap& m, int64_t c_in, int64_t c_out) {
  (void)m;
  return isa_baseline::sparse_conv::forward_workspace_elems(c_in, c_out);
}
int64_t sparse_conv_cpu_backward_workspace_elems(const ConvMap& m, int64_t n_in, int64_t c_in, int64_t c_out) {
  namespace sc = isa_baseline::sparse_conv;
  const int64_t base = sc::forward_workspace_elems(c_in, c_out);
  const int64_t os = os_block_rows(c_in, c_out);
  if (os <= 0 || !m.nbr_in || n_in <= 0) return base;
  // the weight-gradient partials of the groups after the first (the same count os_backward takes)
  const int64_t groups = sc::grad_groups((n_in + os - 1) / os, m.offsets[m.volume], m.volume);
  return base + (groups - 1) * m.volume * c_in * c_out;
}

template <class T>
void sparse_conv_forward_cpu(const T* x, const T* w, const T* bias, const ConvMap& m, int64_t n_in, int64_t n_out,
                             int64_t c_in, int64_t c_out, T* y, T* ws) {
  check_map(m, n_in, n_out, c_in, c_out);
  const int64_t os = os_block_rows(c_in, c_out);
#if LESEG_ISA_X86V4
  if (cpu_isa() == CpuIsa::X86V4)
    return isa_x86v4::sparse_conv::forward<T>(x, w, bias, m, n_in, n_out, c_in, c_out, y, ws, os);
#endif
#if LESEG_ISA_X86V3
  if (cpu_isa() == CpuIsa::X86V3)
    return isa_x86v3::sparse_conv::forward<T>(x, w, bias, m, n_in, n_out, c_in, c_out, y, ws, os);
#endif
  isa_baseline::sparse_conv::forward<T>(x, w, bias, m, n_in, n_out, c_in, c_out, y, ws, os);
}

template <class T>
void sparse_conv_backward_cpu(const T* x, const T* w, const T* gy, const ConvMap& m, int64_t n_in, int64_t n_out,
                              int64_t c_in, int64_t c_out, T* gx, T* gw, T* gb, T* ws) {
  check_map(m, n_in, n_out, c_in, c_out);
  const int64_t os = os_block_rows(c_in, c_out);
#if LESEG_ISA_X86V4
  if (cpu_isa() == CpuIsa::X86V4)
    return isa_x86v4::sparse_conv::backward<T>(x, w, gy, m, n_in, n_out, c_in, c_out, gx, gw, gb, ws, os);
#endif
#if LESEG_ISA_X86V3
  if (cpu_isa() == CpuIsa::X86V3)
    return isa_x86v3::sparse_conv::backward<T>(x, w, gy, m, n_in, n_out, c_in, c_out, gx, gw, gb, ws, os);
#endif
  isa_baseline::sparse_conv::backward<T>(x, w, gy, m, n_in, n_out, c_in, c_out, gx, gw, gb, ws, os);
}

#define LESEG_INST(T)                                                                                          \
  template void sparse_conv_forward_cpu<T>(const T*, const T*, const T*, const ConvMap&, int64_t, int64_t,    \
                                           int64_t, int64_t, T*, T*);                                         \
  template void sparse_conv_backward_cpu<T>(const T*, const T*, const T*, const ConvMap&, int64_t, int64_t,   \
                                            int64_t, int64_t, T*, T*, T*, T*);
LESEG_INST(float)
LESEG_INST(double)
#undef LESEG_INST

}  // namespace leseg::kernels
