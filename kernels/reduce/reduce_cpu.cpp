// SPDX-License-Identifier: Apache-2.0
// CPU twin of the reductions (the specification). Double accumulation; the summation order depends only
// on the shape (chunks of kReduceChunkCpu along r, combined in chunk order), so results are identical for
// any number of OpenMP threads. Parallel loops run over outputs (rows or inner tiles) or over the chunks
// of one row, never with two threads writing one location.
#include <vector>

#include "kernels/common/check.h"
#include "kernels/common/cpu_utils.h"
#include "kernels/reduce/reduce.h"
#include "kernels/reduce/reduce_math.h"

namespace leseg::kernels {

namespace {
constexpr int64_t kTile = 256;

// Serial when the whole job is small, otherwise one task per item.
template <class F>
void run(int64_t items, int64_t total_work, F f) {
  cpu::for_each(items, f, total_work < cpu::kParallelGrain ? items + 1 : 1);
}

// res[o*inner + i] = Σ_k tf(x[o, k, i], o*inner + i)
template <class T, class Tf>
void sum_rows(const T* x, ReduceDims d, Tf tf, double* res) {
  const int64_t R = d.r, I = d.inner, work = d.outer * R * I;
  if (I == 1) {
    const int64_t nch = (R + kReduceChunkCpu - 1) / kReduceChunkCpu;
    auto chunk = [&](int64_t o, int64_t c) {
      double p = 0;
      const int64_t k1 = (c + 1) * kReduceChunkCpu < R ? (c + 1) * kReduceChunkCpu : R;
      for (int64_t k = c * kReduceChunkCpu; k < k1; ++k) p += tf(x[o * R + k], o);
      return p;
    };
    if (nch <= 1 || d.outer >= 16) {
      run(d.outer, work, [&](int64_t o) {
        double tot = 0;
        for (int64_t c = 0; c < nch; ++c) tot += chunk(o, c);
        res[o] = tot;
      });
    } else {
      std::vector<double> part(static_cast<size_t>(nch));
      for (int64_t o = 0; o < d.outer; ++o) {
        run(nch, work, [&](int64_t c) { part[size_t(c)] = chunk(o, c); });
        double tot = 0;
        for (int64_t c = 0; c < nch; ++c) tot += part[size_t(c)];
        res[o] = tot;
      }
    }
    return;
  }
  const int64_t tiles = (I + kTile - 1) / kTile;
  run(d.outer * tiles, work, [&](int64_t t) {
    const int64_t o = t / tiles, i0 = (t % tiles) * kTile, i1 = i0 + kTile < I ? i0 + kTile : I;
    double acc[kTile];
    for (int64_t i = i0; i < i1; ++i) acc[i - i0] = 0;
    for (int64_t k = 0; k < R; ++k) {
      const T* row = x + (o * R + k) * I;
      for (int64_t i = i0; i < i1; ++i) acc[i - i0] += tf(row[i], o * I + i);
    }
    for (int64_t i = i0; i < i1; ++i) res[o * I + i] = acc[i - i0];
  });
}

template <class T>
void arg_rows(const T* x, ReduceDims d, bool is_max, ArgAcc* res) {
  const int64_t R = d.r, I = d.inner, work = d.outer * R * I;
  if (I == 1) {
    const int64_t nch = (R + kReduceChunkCpu - 1) / kReduceChunkCpu;
    auto chunk = [&](int64_t o, int64_t c) {
      ArgAcc a{0, -1};
      const int64_t k1 = (c + 1) * kReduceChunkCpu < R ? (c + 1) * kReduceChunkCpu : R;
      for (int64_t k = c * kReduceChunkCpu; k < k1; ++k) a = arg_combine(a, ArgAcc{double(x[o * R + k]), k}, is_max);
      return a;
    };
    if (nch <= 1 || d.outer >= 16) {
      run(d.outer, work, [&](int64_t o) {
        ArgAcc a{0, -1};
        for (int64_t c = 0; c < nch; ++c) a = arg_combine(a, chunk(o, c), is_max);
        res[o] = a;
      });
    } else {
      std::vector<ArgAcc> part(static_cast<size_t>(nch));
      for (int64_t o = 0; o < d.outer; ++o) {
        run(nch, work, [&](int64_t c) { part[size_t(c)] = chunk(o, c); });
        ArgAcc a{0, -1};
        for (int64_t c = 0; c < nch; ++c) a = arg_combine(a, part[size_t(c)], is_max);
        res[o] = a;
      }
    }
    return;
  }
  const int64_t tiles = (I + kTile - 1) / kTile;
  run(d.outer * tiles, work, [&](int64_t t) {
    const int64_t o = t / tiles, i0 = (t % tiles) * kTile, i1 = i0 + kTile < I ? i0 + kTile : I;
    ArgAcc acc[kTile];
    for (int64_t i = i0; i < i1; ++i) acc[i - i0] = ArgAcc{0, -1};
    for (int64_t k = 0; k < R; ++k) {
      const T* row = x + (o * R + k) * I;
      for (int64_t i = i0; i < i1; ++i) acc[i - i0] = arg_combine(acc[i - i0], ArgAcc{double(row[i]), k}, is_max);
    }
    for (int64_t i = i0; i < i1; ++i) res[o * I + i] = acc[i - i0];
  });
}
}  // namespace

template <class T>
void reduce_forward_cpu(ReduceOp op, const T* x, T* out, int64_t* idx, ReduceDims d, int64_t correction) {
  const int64_t nout = d.outer * d.inner;
  if (nout <= 0) return;
  if (op == ReduceOp::max || op == ReduceOp::min) {
    LESEG_KCHECK(d.r > 0, "max/min over an empty dimension");
    std::vector<ArgAcc> res(static_cast<size_t>(nout));
    arg_rows(x, d, op == ReduceOp::max, res.data());
    for (int64_t j = 0; j < nout; ++j) {
      out[j] = T(res[size_t(j)].v);
      if (idx) idx[j] = res[size_t(j)].i;
    }
    return;
  }
  std::vector<double> s(static_cast<size_t>(nout));
  sum_rows(x, d, [](T v, int64_t) { return double(v); }, s.data());
  if (op == ReduceOp::sum) {
    for (int64_t j = 0; j < nout; ++j) out[j] = T(s[size_t(j)]);
    return;
  }
  const double rr = double(d.r);
  for (int64_t j = 0; j < nout; ++j) s[size_t(j)] /= rr;  // mean (NaN when r == 0)
  if (op == ReduceOp::mean) {
    for (int64_t j = 0; j < nout; ++j) out[j] = T(s[size_t(j)]);
    return;
  }
  std::vector<double> q(static_cast<size_t>(nout));
  const double* mean = s.data();
  sum_rows(x, d, [mean](T v, int64_t j) { double e = double(v) - mean[j]; return e * e; }, q.data());
  const double den = double(d.r - correction);
  for (int64_t j = 0; j < nout; ++j) out[j] = T(q[size_t(j)] / den);
}

template <class T>
void reduce_index_backward_cpu(const T* g, const int64_t* idx, T* gx, ReduceDims d) {
  const int64_t R = d.r, I = d.inner;
  cpu::for_each(d.outer, [=](int64_t o) {
    T* blk = gx + o * R * I;
    for (int64_t j = 0; j < R * I; ++j) blk[j] = T(0);
    for (int64_t i = 0; i < I; ++i) {
      int64_t k = idx[o * I + i];
      if (k >= 0 && k < R) blk[k * I + i] = g[o * I + i];
    }
  }, d.outer * R * I < cpu::kParallelGrain ? d.outer + 1 : 1);
}

template void reduce_forward_cpu<float>(ReduceOp, const float*, float*, int64_t*, ReduceDims, int64_t);
template void reduce_forward_cpu<double>(ReduceOp, const double*, double*, int64_t*, ReduceDims, int64_t);
template void reduce_index_backward_cpu<float>(const float*, const int64_t*, float*, ReduceDims);
template void reduce_index_backward_cpu<double>(const double*, const int64_t*, double*, ReduceDims);

}  // namespace leseg::kernels
