// SPDX-License-Identifier: Apache-2.0
// Loop bodies of the elementwise kernels as LESEG_HD functors `operator()(int64_t i)`, launched by
// cpu::for_each (OpenMP) in elementwise_cpu.cpp and cuda::for_each in elementwise_cuda.cu: the CPU twin and
// the CUDA kernel run the very same body. Internal to kernels/elementwise.
#pragma once
#include <cstdint>

#include "kernels/elementwise/broadcast.h"
#include "kernels/elementwise/elementwise_math.h"

namespace leseg::kernels::ew {

template <class F, class T>
struct BinarySame {
  const T* a; const T* b; T* out;
  LESEG_HD void operator()(int64_t i) const { out[i] = F::f(a[i], b[i]); }
};
template <class F, class T>
struct BinaryBcast {
  const T* a; const T* b; T* out; BroadcastIndex bi;
  LESEG_HD void operator()(int64_t i) const {
    int64_t oa, ob;
    bi.offsets2(i, oa, ob);
    out[i] = F::f(a[oa], b[ob]);
  }
};
template <class F, class T>
struct BinaryScalar {
  const T* x; T s; bool scalar_first; T* out;
  LESEG_HD void operator()(int64_t i) const { out[i] = scalar_first ? F::f(s, x[i]) : F::f(x[i], s); }
};
template <class F, class T>
struct BinaryBackSame {
  const T* a; const T* b; const T* g; T* ga; T* gb;
  LESEG_HD void operator()(int64_t i) const {
    if (ga) ga[i] = g[i] * F::da(a[i], b[i]);
    if (gb) gb[i] = g[i] * F::db(a[i], b[i]);
  }
};
template <class F, class T>
struct BinaryBackBcast {
  const T* a; const T* b; const T* g; T* ga; T* gb; BroadcastIndex bi;
  LESEG_HD void operator()(int64_t i) const {
    int64_t oa, ob;
    bi.offsets2(i, oa, ob);
    if (ga) ga[i] = g[i] * F::da(a[oa], b[ob]);
    if (gb) gb[i] = g[i] * F::db(a[oa], b[ob]);
  }
};
template <class F, class T>
struct BinaryBackScalar {
  const T* x; T s; bool scalar_first; const T* g; T* gx;
  LESEG_HD void operator()(int64_t i) const { gx[i] = g[i] * (scalar_first ? F::db(s, x[i]) : F::da(x[i], s)); }
};
template <class F, class T>
struct UnaryFwd {
  const T* x; T* y; UnaryParams p;
  LESEG_HD void operator()(int64_t i) const { y[i] = F::f(x[i], p); }
};
template <class F, class T>
struct UnaryBwd {
  const T* x; const T* y; const T* gy; T* gx; UnaryParams p;
  LESEG_HD void operator()(int64_t i) const { gx[i] = gy[i] * F::df(x[i], y[i], p); }
};
template <class T>
struct WhereFwd {
  const uint8_t* c; const T* a; T a_value; const T* b; T* out; BroadcastIndex bi;
  LESEG_HD void operator()(int64_t i) const {
    int64_t oc, oa, ob;
    bi.offsets3(i, oc, oa, ob);
    out[i] = c[oc] ? (a ? a[oa] : a_value) : b[ob];
  }
};
template <class T>
struct WhereBwd {
  const uint8_t* c; const T* g; T* ga; T* gb; BroadcastIndex bi;
  LESEG_HD void operator()(int64_t i) const {
    bool on = c[bi.offset(0, i)] != 0;
    if (ga) ga[i] = on ? g[i] : T(0);
    if (gb) gb[i] = on ? T(0) : g[i];
  }
};
template <class T>
struct BroadcastCopy {
  const T* in; T* out; BroadcastIndex bi;
  LESEG_HD void operator()(int64_t i) const { out[i] = in[bi.offset(0, i)]; }
};

}  // namespace leseg::kernels::ew
