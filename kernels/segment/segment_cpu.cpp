// SPDX-License-Identifier: Apache-2.0
// CPU twins of the segment reductions and voting: serial in row order (deterministic), double
// accumulators, OpenMP only over race-free outputs (groups / rows).
#include <algorithm>
#include <cstring>

#include "kernels/common/check.h"
#include "kernels/common/cpu_utils.h"
#include "kernels/segment/segment.h"
#include "kernels/segment/segment_math.h"

namespace leseg::kernels {
namespace {
void check_groups(const int64_t* group, int64_t N, int64_t G, const char* op) {
  for (int64_t i = 0; i < N; ++i)
    LESEG_KCHECK(group[i] < G, op, ": group id ", group[i], " at element ", i, " is >= G = ", G);
}
}  // namespace

void segment_count_cpu(const int64_t* group, int64_t N, int64_t G, int64_t* count) {
  check_groups(group, N, G, "segment_count");
  std::fill(count, count + G, int64_t(0));
  for (int64_t i = 0; i < N; ++i)
    if (group[i] >= 0) ++count[group[i]];
}

template <class T>
void segment_sum_cpu(const T* x, const int64_t* group, int64_t N, int64_t C, int64_t G, double* ws, T* out) {
  check_groups(group, N, G, "segment_sum");
  std::fill(ws, ws + G * C, 0.0);
  for (int64_t i = 0; i < N; ++i) {
    if (group[i] < 0) continue;
    double* o = ws + group[i] * C;
    const T* xi = x + i * C;
    for (int64_t c = 0; c < C; ++c) o[c] += double(xi[c]);
  }
  cpu::for_each(G * C, [=](int64_t j) { out[j] = T(ws[j]); });
}

template <class T>
void segment_mean_cpu(const T* x, const int64_t* group, int64_t N, int64_t C, int64_t G, double* ws, T* out,
                      int64_t* count) {
  segment_count_cpu(group, N, G, count);
  segment_sum_cpu(x, group, N, C, G, ws, out);
  cpu::for_each(G * C, [=](int64_t j) {
    const int64_t n = count[j / C];
    out[j] = n == 0 ? T(0) : T(ws[j] / double(n));
  });
}

template <class T>
void segment_mean_backward_cpu(const T* dout, const int64_t* group, const int64_t* count, int64_t N, int64_t C,
                               int64_t G, T* dx) {
  cpu::for_each(N * C, [=](int64_t j) {
    const int64_t g = group[j / C];
    dx[j] = g < 0 ? T(0) : T(double(dout[g * C + j % C]) / double(count[g]));
  });
}

template <class T>
void segment_max_cpu(const T* x, const int64_t* group, int64_t N, int64_t C, int64_t G, T* out, int64_t* arg) {
  check_groups(group, N, G, "segment_max");
  std::fill(out, out + G * C, T(0));
  std::fill(arg, arg + G * C, int64_t(-1));
  for (int64_t i = 0; i < N; ++i) {
    const int64_t g = group[i];
    if (g < 0) continue;
    for (int64_t c = 0; c < C; ++c) {
      const int64_t j = g * C + c;
      if (arg[j] < 0 || x[i * C + c] > out[j]) out[j] = x[i * C + c], arg[j] = i;
    }
  }
}

template <class T>
void segment_max_backward_cpu(const T* dout, const int64_t* arg, int64_t N, int64_t C, int64_t G, T* dx) {
  std::fill(dx, dx + N * C, T(0));
  for (int64_t j = 0; j < G * C; ++j)
    if (arg[j] >= 0) dx[arg[j] * C + j % C] = dout[j];
}

template <class T>
void segment_gather_cpu(const T* x, const int64_t* group, int64_t N, int64_t C, int64_t G, T* out) {
  check_groups(group, N, G, "segment_gather");
  cpu::for_each(N * C, [=](int64_t j) {
    const int64_t g = group[j / C];
    out[j] = g < 0 ? T(0) : x[g * C + j % C];
  });
}

void vote_mode_cpu(const int64_t* group, const int64_t* label, const float* weight, int64_t N, int64_t G, int64_t C,
                   int64_t ignore, double* ws, int64_t* mode, int64_t* point_mode) {
  check_groups(group, N, G, "vote_mode");
  for (int64_t i = 0; i < N; ++i) {
    LESEG_KCHECK(label[i] == ignore || (label[i] >= 0 && label[i] < C), "vote_mode: label ", label[i],
                 " at element ", i, " is outside [0, ", C, ") and is not the ignore value ", ignore);
    LESEG_KCHECK(!weight || weight[i] >= 0.f, "vote_mode: weight ", weight ? weight[i] : 0.f, " at element ", i,
                 " is negative");
  }
  std::fill(ws, ws + G * C, 0.0);
  for (int64_t i = 0; i < N; ++i) {
    const double w = weight ? double(weight[i]) : 1.0;
    if (segment::vote_valid(group[i], label[i], G, C, ignore, w)) ws[group[i] * C + label[i]] += w;
  }
  cpu::for_each(G, [=](int64_t g) {
    uint64_t best = 0;
    for (int64_t c = 0; c < C; ++c)
      if (ws[g * C + c] > 0.0) best = std::max(best, segment::vote_pack(ws[g * C + c], c));
    mode[g] = segment::vote_unpack(best, ignore);
  }, 1024);
  if (point_mode)
    cpu::for_each(N, [=](int64_t i) { point_mode[i] = group[i] < 0 ? ignore : mode[group[i]]; });
}

void segment_compact_cpu(const int64_t* ids, int64_t N, int64_t* ws, int64_t* compact, int64_t* unique, int64_t* G) {
  std::memcpy(ws, ids, size_t(N) * sizeof(int64_t));
  std::sort(ws, ws + N);
  const int64_t g = std::unique(ws, ws + N) - ws;
  std::memcpy(unique, ws, size_t(g) * sizeof(int64_t));
  cpu::for_each(N, [=](int64_t i) { compact[i] = std::lower_bound(unique, unique + g, ids[i]) - unique; });
  *G = g;
}

#define X(T)                                                                                                         \
  template void segment_sum_cpu<T>(const T*, const int64_t*, int64_t, int64_t, int64_t, double*, T*);                \
  template void segment_mean_cpu<T>(const T*, const int64_t*, int64_t, int64_t, int64_t, double*, T*, int64_t*);     \
  template void segment_mean_backward_cpu<T>(const T*, const int64_t*, const int64_t*, int64_t, int64_t, int64_t, T*); \
  template void segment_max_cpu<T>(const T*, const int64_t*, int64_t, int64_t, int64_t, T*, int64_t*);               \
  template void segment_max_backward_cpu<T>(const T*, const int64_t*, int64_t, int64_t, int64_t, T*);                \
  template void segment_gather_cpu<T>(const T*, const int64_t*, int64_t, int64_t, int64_t, T*);
X(float)
X(double)
#undef X

}  // namespace leseg::kernels
