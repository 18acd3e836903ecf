// SPDX-License-Identifier: Apache-2.0
// Which form the CPU sparse conv (sparse_conv.h) takes. Two forms compute the same sums:
//   GatherScatter     per offset: gather the pair rows, GEMM, scatter-add into the output (pair lists only).
//   OutputStationary  one parallel region per conv over fixed blocks of output rows; each block gathers its
//                     neighbours per offset through the map's neighbour table (ConvMap::nbr_out; the input
//                     gradient through nbr_in, the transposed table) and accumulates into its own rows; the
//                     weight gradient is summed per offset by one thread. Needs the neighbour tables: a map
//                     without them falls back to GatherScatter.
// Auto picks per shape (sparse_conv_cpu.cpp says from which measurements); LESEG_CPU_CONV=auto|gather|os sets the
// default at start-up, set_sparse_conv_cpu_form() in code (tests, benchmarks). Both forms give the same bits on
// repeated runs for a given thread count (OutputStationary: for any thread count).
#pragma once
#include <cstdint>

namespace leseg::kernels {

enum class CpuConvForm : uint8_t { Auto = 0, GatherScatter = 1, OutputStationary = 2 };
const char* cpu_conv_form_name(CpuConvForm f);
// The form a call with these channel counts takes (never Auto).
CpuConvForm sparse_conv_cpu_form(int64_t c_in, int64_t c_out);
// Whether the engine should attach the neighbour tables for this call.
inline bool sparse_conv_cpu_wants_nbr(int64_t c_in, int64_t c_out) {
  return sparse_conv_cpu_form(c_in, c_out) == CpuConvForm::OutputStationary;
}
void set_sparse_conv_cpu_form(CpuConvForm f);
CpuConvForm sparse_conv_cpu_form_setting();

}  // namespace leseg::kernels
