// SPDX-License-Identifier: Apache-2.0
// CPU twins of the fused losses (the specification the CUDA kernels match): one row at a time, double
// accumulation, OpenMP over rows with a reduction of the two loss accumulators. Every element is read
// through cvt<double> and every gradient written through cvt<T> (losses_math.h), so f16/bf16 inputs take
// exactly the f32 path on their up-converted values and round once at the gradient store.
#include <cmath>

#include "kernels/common/check.h"
#include "kernels/common/cpu_utils.h"
#include "kernels/losses/losses.h"
#include "kernels/losses/losses_math.h"

namespace leseg::kernels {
namespace {
using losses::RowStats;
using losses::stats_empty;
using losses::stats_lse;
using losses::stats_push;
using losses::cvt;

bool parallel_rows(int64_t N, int64_t C) { return N * C >= cpu::kParallelGrain && N > 1; }

void check_labels(const int64_t* y, int64_t N, int64_t C, int64_t ignore, const char* op) {
  for (int64_t i = 0; i < N; ++i)
    LESEG_KCHECK(y[i] == ignore || (y[i] >= 0 && y[i] < C), op, ": label ", y[i], " at row ", i,
                 " is outside [0, ", C, ") and is not the ignore value ", ignore);
}

template <class T>
void zero_row(T* d, int64_t C) {
  if (d)
    for (int64_t k = 0; k < C; ++k) d[k] = cvt<T>(0.0);
}

// CE row with weights (w may be null) and smoothing; returns ℓ_i, writes the gradient row when di != null.
template <class T>
double ce_row(const T* zi, int64_t yi, const loss_param_t<T>* w, double W, int64_t C, double eps, T* di) {
  RowStats<double> st = stats_empty<double>();
  double swz = 0;
  for (int64_t k = 0; k < C; ++k) {
    stats_push(st, cvt<double>(zi[k]), 0.0);
    swz += (w ? double(w[k]) : 1.0) * cvt<double>(zi[k]);
  }
  const double lse = stats_lse(st), wy = w ? double(w[yi]) : 1.0;
  if (di)
    for (int64_t k = 0; k < C; ++k)
      di[k] = cvt<T>(losses::ce_grad(std::exp(cvt<double>(zi[k]) - lse), k == yi, wy, w ? double(w[k]) : 1.0, W, eps,
                                     double(C)));
  return losses::ce_row_loss(lse, cvt<double>(zi[yi]), wy, W, swz, eps, double(C));
}

// NL row: -log(1 - q_y) = lse(z) - lse_{k≠y}(z).
template <class T>
double nl_row(const T* zi, int64_t yi, int64_t C, T* di) {
  RowStats<double> all = stats_empty<double>(), rest = stats_empty<double>();
  for (int64_t k = 0; k < C; ++k) {
    stats_push(all, cvt<double>(zi[k]), 0.0);
    if (k != yi) stats_push(rest, cvt<double>(zi[k]), 0.0);
  }
  const double lse = stats_lse(all), lse_r = stats_lse(rest);
  if (di)
    for (int64_t k = 0; k < C; ++k) {
      double q = std::exp(cvt<double>(zi[k]) - lse), qr = k == yi ? 0.0 : std::exp(cvt<double>(zi[k]) - lse_r);
      di[k] = cvt<T>(q - qr);
    }
  return lse - lse_r;
}
}  // namespace

template <class T>
void cross_entropy_cpu(const T* z, const int64_t* y, const loss_param_t<T>* w, int64_t N, int64_t C, int64_t ignore,
                       double eps, T* dz, double* acc) {
  LESEG_KCHECK(C >= 1, "cross_entropy: C = ", C);
  check_labels(y, N, C, ignore, "cross_entropy");
  double W = 0;
  for (int64_t k = 0; k < C; ++k) W += w ? double(w[k]) : 1.0;
  double s0 = 0, s1 = 0;
#pragma omp parallel for reduction(+ : s0, s1) schedule(static) if (parallel_rows(N, C))
  for (int64_t i = 0; i < N; ++i) {
    T* di = dz ? dz + i * C : nullptr;
    if (y[i] == ignore) {
      zero_row(di, C);
      continue;
    }
    s0 += ce_row(z + i * C, y[i], w, W, C, eps, di);
    s1 += w ? double(w[y[i]]) : 1.0;
  }
  acc[0] = s0;
  acc[1] = s1;
}

template <class T>
void soft_cross_entropy_cpu(const T* z, const T* p, int64_t N, int64_t C, T* dz, T* dp, double* acc) {
  double s0 = 0;
#pragma omp parallel for reduction(+ : s0) schedule(static) if (parallel_rows(N, C))
  for (int64_t i = 0; i < N; ++i) {
    const T* zi = z + i * C;
    const T* pi = p + i * C;
    RowStats<double> st = stats_empty<double>();
    double sp = 0, spz = 0;
    for (int64_t k = 0; k < C; ++k) {
      stats_push(st, cvt<double>(zi[k]), 0.0);
      sp += cvt<double>(pi[k]);
      spz += cvt<double>(pi[k]) * cvt<double>(zi[k]);
    }
    const double lse = stats_lse(st);
    for (int64_t k = 0; k < C; ++k) {
      if (dz) dz[i * C + k] = cvt<T>(sp * std::exp(cvt<double>(zi[k]) - lse) - cvt<double>(pi[k]));
      if (dp) dp[i * C + k] = cvt<T>(lse - cvt<double>(zi[k]));
    }
    s0 += sp * lse - spz;
  }
  acc[0] = s0;
  acc[1] = double(N);
}

template <class T>
void entropy_cpu(const T* z, int64_t N, int64_t C, T* dz, double* acc) {
  double s0 = 0;
#pragma omp parallel for reduction(+ : s0) schedule(static) if (parallel_rows(N, C))
  for (int64_t i = 0; i < N; ++i) {
    const T* zi = z + i * C;
    RowStats<double> st = stats_empty<double>();
    for (int64_t k = 0; k < C; ++k) stats_push(st, cvt<double>(zi[k]), cvt<double>(zi[k]));
    const double lse = stats_lse(st), ez = st.t / st.s;
    if (dz)
      for (int64_t k = 0; k < C; ++k)
        dz[i * C + k] = cvt<T>(losses::entropy_grad(std::exp(cvt<double>(zi[k]) - lse), cvt<double>(zi[k]), ez));
    s0 += lse - ez;
  }
  acc[0] = s0;
  acc[1] = double(N);
}

template <class T>
void kl_div_cpu(const T* zp, const T* zq, int64_t N, int64_t C, double t, T* dzp, T* dzq, double* acc) {
  LESEG_KCHECK(t > 0, "kl_div: temperature ", t, " must be > 0");
  double s0 = 0;
  const double it = 1.0 / t;
#pragma omp parallel for reduction(+ : s0) schedule(static) if (parallel_rows(N, C))
  for (int64_t i = 0; i < N; ++i) {
    const T* ai = zp + i * C;
    const T* bi = zq + i * C;
    RowStats<double> sa = stats_empty<double>(), sb = stats_empty<double>();
    for (int64_t k = 0; k < C; ++k) {
      double a = cvt<double>(ai[k]) * it, b = cvt<double>(bi[k]) * it;
      stats_push(sa, a, a - b);
      stats_push(sb, b, 0.0);
    }
    const double la = stats_lse(sa), lb = stats_lse(sb), e = sa.t / sa.s;
    for (int64_t k = 0; k < C; ++k) {
      double a = cvt<double>(ai[k]) * it, b = cvt<double>(bi[k]) * it;
      double pk = std::exp(a - la), qk = std::exp(b - lb);
      if (dzp) dzp[i * C + k] = cvt<T>(t * pk * ((a - b) - e));
      if (dzq) dzq[i * C + k] = cvt<T>(t * (qk - pk));
    }
    s0 += t * t * (e - la + lb);
  }
  acc[0] = s0;
  acc[1] = double(N);
}

template <class T>
void negative_learning_cpu(const T* z, const int64_t* y, int64_t N, int64_t C, int64_t ignore, T* dz, double* acc) {
  LESEG_KCHECK(C >= 2, "negative_learning: needs C >= 2 classes (got ", C, "): -log(1 - q_y) is infinite for C = 1");
  check_labels(y, N, C, ignore, "negative_learning");
  double s0 = 0, s1 = 0;
#pragma omp parallel for reduction(+ : s0, s1) schedule(static) if (parallel_rows(N, C))
  for (int64_t i = 0; i < N; ++i) {
    T* di = dz ? dz + i * C : nullptr;
    if (y[i] == ignore) {
      zero_row(di, C);
      continue;
    }
    s0 += nl_row(z + i * C, y[i], C, di);
    s1 += 1.0;
  }
  acc[0] = s0;
  acc[1] = s1;
}

template <class T>
void confidence_split_cpu(const T* z, const T* tz, int64_t N, int64_t C, double tau, uint8_t* reliable,
                          int64_t* pseudo, T* dz, double* acc) {
  LESEG_KCHECK(C >= 2, "confidence_split: needs C >= 2 classes (got ", C, ")");
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp parallel for reduction(+ : s0, s1, s2, s3) schedule(static) if (parallel_rows(N, C))
  for (int64_t i = 0; i < N; ++i) {
    const T* ti = tz + i * C;
    RowStats<double> st = stats_empty<double>();
    int64_t arg = 0;
    for (int64_t k = 0; k < C; ++k) {
      if (cvt<double>(ti[k]) > cvt<double>(ti[arg])) arg = k;
      stats_push(st, cvt<double>(ti[k]), 0.0);
    }
    const bool rel = losses::max_prob(st) >= tau;
    reliable[i] = rel ? 1 : 0;
    pseudo[i] = arg;
    T* di = dz ? dz + i * C : nullptr;
    if (rel) {
      s0 += ce_row(z + i * C, arg, static_cast<const loss_param_t<T>*>(nullptr), double(C), C, 0.0, di);
      s1 += 1.0;
    } else {
      s2 += nl_row(z + i * C, arg, C, di);
      s3 += 1.0;
    }
  }
  acc[0] = s0;
  acc[1] = s1;
  acc[2] = s2;
  acc[3] = s3;
}

template <class T>
void cosine_embedding_cpu(const T* a, const T* b, int64_t N, int64_t D, T* da, T* db, double* acc) {
  double s0 = 0;
#pragma omp parallel for reduction(+ : s0) schedule(static) if (parallel_rows(N, D))
  for (int64_t i = 0; i < N; ++i) {
    const T* ai = a + i * D;
    const T* bi = b + i * D;
    double ab = 0, aa = 0, bb = 0;
    for (int64_t k = 0; k < D; ++k) {
      ab += cvt<double>(ai[k]) * cvt<double>(bi[k]);
      aa += cvt<double>(ai[k]) * cvt<double>(ai[k]);
      bb += cvt<double>(bi[k]) * cvt<double>(bi[k]);
    }
    const double na2 = aa + losses::kCosEps, nb2 = bb + losses::kCosEps, den = std::sqrt(na2 * nb2), c = ab / den;
    for (int64_t k = 0; k < D; ++k) {
      if (da) da[i * D + k] = cvt<T>(-(cvt<double>(bi[k]) / den - c * cvt<double>(ai[k]) / na2));
      if (db) db[i * D + k] = cvt<T>(-(cvt<double>(ai[k]) / den - c * cvt<double>(bi[k]) / nb2));
    }
    s0 += 1.0 - c;
  }
  acc[0] = s0;
  acc[1] = double(N);
}

template <class T>
void mse_cpu(const T* a, const T* b, int64_t n, T* da, double* acc) {
  double s0 = 0;
#pragma omp parallel for reduction(+ : s0) schedule(static) if (n >= cpu::kParallelGrain)
  for (int64_t i = 0; i < n; ++i) {
    double d = cvt<double>(a[i]) - cvt<double>(b[i]);
    if (da) da[i] = cvt<T>(2.0 * d);
    s0 += d * d;
  }
  acc[0] = s0;
  acc[1] = double(n);
}

template <class P>
void loss_finalize_cpu(const double* acc, int num, int den, double scale, P* loss) {
  loss[0] = acc[den] == 0.0 ? P(0) : P(scale * acc[num] / acc[den]);
}

template <class T>
void loss_grad_scale_cpu(const T* d, int64_t n, const loss_param_t<T>* g, const double* acc, int den, double scale,
                         T* out) {
  const double f = acc[den] == 0.0 ? 0.0 : double(g[0]) * scale / acc[den];
  cpu::for_each(n, [=](int64_t i) { out[i] = cvt<T>(cvt<double>(d[i]) * f); }, 1 << 16);
}

template <class T>
void confidence_split_grad_cpu(const T* dz, const uint8_t* reliable, int64_t N, int64_t C, const loss_param_t<T>* g_ce,
                               const loss_param_t<T>* g_nl, const double* acc, T* out) {
  const double fr = acc[1] == 0.0 ? 0.0 : double(g_ce[0]) / acc[1];
  const double fu = acc[3] == 0.0 ? 0.0 : double(g_nl[0]) / acc[3];
  cpu::for_each(N * C, [=](int64_t j) { out[j] = cvt<T>(cvt<double>(dz[j]) * (reliable[j / C] ? fr : fu)); }, 1 << 16);
}

#define X(T)                                                                                                      \
  template void cross_entropy_cpu<T>(const T*, const int64_t*, const loss_param_t<T>*, int64_t, int64_t, int64_t, \
                                     double, T*, double*);                                                        \
  template void soft_cross_entropy_cpu<T>(const T*, const T*, int64_t, int64_t, T*, T*, double*);                 \
  template void entropy_cpu<T>(const T*, int64_t, int64_t, T*, double*);                                          \
  template void kl_div_cpu<T>(const T*, const T*, int64_t, int64_t, double, T*, T*, double*);                     \
  template void negative_learning_cpu<T>(const T*, const int64_t*, int64_t, int64_t, int64_t, T*, double*);       \
  template void confidence_split_cpu<T>(const T*, const T*, int64_t, int64_t, double, uint8_t*, int64_t*, T*,     \
                                        double*);                                                                 \
  template void cosine_embedding_cpu<T>(const T*, const T*, int64_t, int64_t, T*, T*, double*);                   \
  template void mse_cpu<T>(const T*, const T*, int64_t, T*, double*);                                             \
  template void loss_grad_scale_cpu<T>(const T*, int64_t, const loss_param_t<T>*, const double*, int, double, T*); \
  template void confidence_split_grad_cpu<T>(const T*, const uint8_t*, int64_t, int64_t, const loss_param_t<T>*,  \
                                             const loss_param_t<T>*, const double*, T*);
X(float)
X(double)
X(f16_t)
X(bf16_t)
#undef X
template void loss_finalize_cpu<float>(const double*, int, int, double, float*);
template void loss_finalize_cpu<double>(const double*, int, int, double, double*);

}  // namespace leseg::kernels
