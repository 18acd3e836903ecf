// SPDX-License-Identifier: Apache-2.0
// Engine op for fused attention: validates, calls kernels/attention for the tensors' device, and records a
// backward that recomputes probabilities from the saved logsumexp (FlashAttention-2; see attention.h).
#include "engine/ops/attention.h"

#include <cmath>
#include <type_traits>

#include <list>
#include <memory>
#include <mutex>
#include <string>

#include "engine/autograd.h"
#include "engine/ops/shape_ops.h"
#include "engine/precision.h"
#include "kernels/attention/attention.h"
#include "kernels/attention/attention_tc_math.h"

namespace leseg {
namespace {

template <class T>
using Stat = kernels::attn_stat_t<T>;
bool is_half(DType t) { return t == DType::f16 || t == DType::bf16; }

// ---- schedule cache ----
// One entry per (cu_q, cu_k) storage + version + view, heads and device: the validated sizes and, on CUDA, the
// tensor-core schedule table (attention_tc_math.h) on the device. Built with one host read of the offsets;
// later calls with the same offsets tensors read nothing from the device.
struct Schedule {
  int64_t batch = 0, tq = 0, tk = 0, max_lq = 0, max_lk = 0;
  Tensor table;                       // int32 on the op's device (CUDA only)
  Tensor cu_q, cu_k;                  // reference variant: the offsets on the op's device, one index dtype
  kernels::AttentionTcSchedule tc;    // counts; .table set per call from `table`
};

struct CacheKey {
  const void* sq;
  const void* sk;
  const void* pq;
  const void* pk;
  uint64_t vq, vk;
  int64_t nq, nk, heads;
  int dq, dk;
  std::string dev;
  // The stream current when the schedule was built: its device tensors were uploaded and allocated there, so a
  // kernel on another stream could read them before the copy landed (and the allocator reuses them on that
  // stream). One schedule per (offsets, stream): no cross-stream event or sync needed.
  const void* stream;
  bool operator==(const CacheKey& o) const {
    return sq == o.sq && sk == o.sk && pq == o.pq && pk == o.pk && vq == o.vq && vk == o.vk && nq == o.nq &&
           nk == o.nk && heads == o.heads && dq == o.dq && dk == o.dk && dev == o.dev && stream == o.stream;
  }
};
struct CacheEntry {
  CacheKey key;
  Tensor cu_q, cu_k;  // held: their storages cannot be freed and reused under the same address
  std::shared_ptr<const Schedule> sched;
};
constexpr size_t kCacheCapacity = 16;
struct Cache {
  std::mutex mu;
  std::list<CacheEntry> lru;  // most recent first
  int64_t hits = 0, misses = 0;
};
Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: no device frees during static destruction at exit
  return *c;
}

// ---- offsets with known host values (attention_offsets) ----
struct KnownOffsets {
  Tensor t;  // held: its storage cannot be freed and reused under the same address while it is an entry
  uint64_t version = 0;
  std::vector<int64_t> host;
};
constexpr size_t kKnownCapacity = 64;
struct Known {
  std::mutex mu;
  std::list<KnownOffsets> lru;  // most recent first
};
Known& known() {
  static Known* k = new Known;  // never destroyed (as the schedule cache)
  return *k;
}
bool known_host_values(const Tensor& cu, std::vector<int64_t>& out) {
  Known& k = known();
  std::lock_guard<std::mutex> lock(k.mu);
  for (auto it = k.lru.begin(); it != k.lru.end(); ++it)
    if (it->t.storage_id() == cu.storage_id() && it->t.data_ptr() == cu.data_ptr() && it->t.numel() == cu.numel() &&
        it->version == cu.version() && it->t.dtype() == cu.dtype()) {
      out = it->host;
      return true;
    }
  return false;
}

// The offsets' host values (from attention_offsets, else read from the tensor's device) and checks them: 1-D integer,
// starts at 0, non-decreasing, ends at `rows`.
std::vector<int64_t> read_offsets(const Tensor& cu, const char* name, int64_t rows) {
  std::vector<int64_t> h;
  if (!known_host_values(cu, h)) h = cu.to_vector<int64_t>();
  LESEG_CHECK(h[0] == 0, "attention: ", name, "[0] = ", h[0], ", must be 0");
  for (size_t b = 1; b < h.size(); ++b)
    LESEG_CHECK(h[b] >= h[b - 1], "attention: ", name, " decreases at ", b, " (", h[b - 1], " -> ", h[b], ")");
  LESEG_CHECK(h.back() == rows, "attention: ", name, " ends at ", h.back(), " but there are ", rows, " rows");
  return h;
}

void check_offsets_tensor(const Tensor& cu, const char* name) {
  LESEG_CHECK(cu.defined(), "attention: ", name, " is undefined");
  LESEG_CHECK(cu.ndim() == 1 && cu.size(0) >= 1, "attention: ", name, " must be 1-D (B+1), got ", cu.shape().str());
  LESEG_CHECK(cu.dtype() == DType::i32 || cu.dtype() == DType::i64, "attention: ", name, " must be i32 or i64, got ",
              dtype_name(cu.dtype()));
}

int64_t max_len(const std::vector<int64_t>& cu) {
  int64_t m = 0;
  for (size_t b = 1; b < cu.size(); ++b) m = std::max(m, cu[b] - cu[b - 1]);
  return m;
}

std::shared_ptr<const Schedule> build_schedule(const Tensor& cu_q, const Tensor& cu_k, int64_t Tq, int64_t Tk,
                                               int64_t heads, Device dev) {
  // Self-attention passes one tensor twice: read it once.
  const bool same = cu_q.storage_id() == cu_k.storage_id() && cu_q.data_ptr() == cu_k.data_ptr() &&
                    cu_q.numel() == cu_k.numel() && cu_q.dtype() == cu_k.dtype() && cu_q.version() == cu_k.version();
  const std::vector<int64_t> hq = read_offsets(cu_q, "cu_q", Tq);
  const std::vector<int64_t> hk = same && Tq == Tk ? hq : read_offsets(cu_k, "cu_k", Tk);
  LESEG_CHECK(hq.size() == hk.size(), "attention: cu_q has ", hq.size(), " entries, cu_k ", hk.size(),
              " (both must be B+1)");
  auto s = std::make_shared<Schedule>();
  s->batch = int64_t(hq.size()) - 1;
  s->tq = Tq;
  s->tk = Tk;
  s->max_lq = max_len(hq);
  s->max_lk = max_len(hk);
  // The reference kernels read the offsets on the op's device in one index dtype: converted / copied once here.
  const DType idx = cu_q.dtype() == cu_k.dtype() ? cu_q.dtype() : DType::i64;
  s->cu_q = (cu_q.dtype() == idx ? cu_q : cu_q.to(idx)).detach();
  s->cu_k = (cu_k.dtype() == idx ? cu_k : cu_k.to(idx)).detach();
  if (s->cu_q.device() != dev) s->cu_q = s->cu_q.to(dev);
  if (s->cu_k.device() != dev) s->cu_k = s->cu_k.to(dev);
  if (dev.is_cuda()) {
    LESEG_CHECK(Tq < (int64_t(1) << 31) && Tk < (int64_t(1) << 31), "attention: ", Tq, " queries / ", Tk,
                " keys exceed the CUDA schedule's int32 offsets");
    int64_t target = 264;
#if LESEG_WITH_CUDA
    {
      CudaDeviceGuard guard(dev);
      target = kernels::attention_tc_target_blocks();
    }
#endif
    const std::vector<int32_t> t = kernels::attn_tc::build_tc_schedule(hq.data(), hk.data(), s->batch, heads, target);
    const kernels::attn_tc::TableView tv{t.data(), s->batch};
    s->tc.query_blocks = tv.query_blocks();
    s->tc.key_blocks = tv.key_blocks();
    s->tc.partial_rows = tv.partial_rows();
    s->table = Tensor::from_vector(t, Shape{int64_t(t.size())}).to(dev);
  }
  return s;
}

std::shared_ptr<const Schedule> cached_schedule(const Tensor& cu_q, const Tensor& cu_k, int64_t Tq, int64_t Tk,
                                                int64_t heads, Device dev) {
  check_offsets_tensor(cu_q, "cu_q");
  check_offsets_tensor(cu_k, "cu_k");
  LESEG_CHECK(cu_q.size(0) == cu_k.size(0), "attention: cu_q has ", cu_q.size(0), " entries, cu_k ", cu_k.size(0),
              " (both must be B+1)");
  const CacheKey key{cu_q.storage_id(), cu_k.storage_id(), cu_q.data_ptr(), cu_k.data_ptr(), cu_q.version(),
                     cu_k.version(), cu_q.numel(), cu_k.numel(), heads, int(cu_q.dtype()), int(cu_k.dtype()),
                     dev.str(), dev.is_cuda() ? static_cast<const void*>(current_stream(dev)) : nullptr};
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    for (auto it = c.lru.begin(); it != c.lru.end(); ++it)
      if (it->key == key) {
        ++c.hits;
        c.lru.splice(c.lru.begin(), c.lru, it);
        const Schedule& s = *c.lru.front().sched;
        LESEG_CHECK(s.tq == Tq && s.tk == Tk, "attention: offsets end at ", s.tq, "/", s.tk, " but there are ", Tq,
                    "/", Tk, " query/key rows");
        return c.lru.front().sched;
      }
  }
  auto s = build_schedule(cu_q, cu_k, Tq, Tk, heads, dev);  // outside the lock: it reads the device
  std::lock_guard<std::mutex> lock(c.mu);
  ++c.misses;
  c.lru.push_front(CacheEntry{key, cu_q.detach(), cu_k.detach(), s});
  if (c.lru.size() > kCacheCapacity) c.lru.pop_back();
  return s;
}

struct Plan {
  kernels::AttentionDims dims;
  Tensor cu_q, cu_k;  // reference variant: the offsets on the op's device, one common index dtype
  Tensor mask;        // (Tk,) u8/bool or undefined
  bool tc = false;    // tensor-core variant
  std::shared_ptr<const Schedule> sched;
  kernels::AttentionTcSchedule tc_sched() const {
    kernels::AttentionTcSchedule t = sched->tc;
    t.table = sched->table.defined() ? sched->table.data<int32_t>() : nullptr;
    return t;
  }
};

template <class T, class I>
void run_forward(const Plan& p, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias, Tensor& o,
                 Tensor& lse) {
  const Device dev = q.device();
  const uint8_t* mask = p.mask.defined() ? static_cast<const uint8_t*>(p.mask.data_ptr()) : nullptr;
  const T* b = bias.defined() ? bias.data<T>() : nullptr;
  auto on_cpu = [&] {
    kernels::attention_forward_cpu<T, I>(q.data<T>(), k.data<T>(), v.data<T>(), p.cu_q.data<I>(), p.cu_k.data<I>(),
                                         mask, b, p.dims, o.data<T>(), lse.data<Stat<T>>());
  };
  auto on_cuda = [&] {
    if constexpr (std::is_same_v<T, f16_t> || std::is_same_v<T, bf16_t>) {
      if (p.tc) {
        const kernels::AttentionTcSchedule ts = p.tc_sched();
        Tensor ws = Tensor::empty(Shape{std::max<int64_t>(1, kernels::attention_tc_forward_workspace_bytes(p.dims, ts))},
                                  DType::u8, dev);
        kernels::attention_tc_forward_cuda<T>(q.data<T>(), k.data<T>(), v.data<T>(), ts, mask, b, p.dims, o.data<T>(),
                                              lse.data<float>(), ws.data_ptr(), current_stream(dev));
        return;
      }
    }
    if constexpr (!std::is_same_v<T, double>)
      kernels::attention_forward_cuda<T, I>(q.data<T>(), k.data<T>(), v.data<T>(), p.cu_q.data<I>(), p.cu_k.data<I>(),
                                            mask, b, p.dims, o.data<T>(), lse.data<Stat<T>>(), current_stream(dev));
    else
      LESEG_FAIL("attention: CUDA supports f32, f16 and bf16, got ", dtype_name(q.dtype()));
  };
  (void)on_cuda;
  LESEG_DISPATCH_DEVICE(dev, "attention", on_cpu(), on_cuda());
}

template <class T, class I>
void run_backward(const Plan& p, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias, const Tensor& o,
                  const Tensor& lse, const Tensor& dout, Tensor& dq, Tensor& dk, Tensor& dv, Tensor& dbias) {
  const Device dev = q.device();
  const uint8_t* mask = p.mask.defined() ? static_cast<const uint8_t*>(p.mask.data_ptr()) : nullptr;
  const T* b = bias.defined() ? bias.data<T>() : nullptr;
  T* db = dbias.defined() ? dbias.data<T>() : nullptr;
  auto on_cpu = [&] {
    Tensor ws = Tensor::empty(Shape{std::max<int64_t>(1, kernels::attention_backward_workspace_bytes<T>(p.dims))},
                              DType::u8, dev);
    kernels::attention_backward_cpu<T, I>(q.data<T>(), k.data<T>(), v.data<T>(), p.cu_q.data<I>(), p.cu_k.data<I>(),
                                          mask, b, o.data<T>(), lse.data<Stat<T>>(), dout.data<T>(), p.dims,
                                          dq.data<T>(), dk.data<T>(), dv.data<T>(), db, ws.data_ptr());
  };
  auto on_cuda = [&] {
    if constexpr (std::is_same_v<T, f16_t> || std::is_same_v<T, bf16_t>) {
      if (p.tc) {
        const kernels::AttentionTcSchedule ts = p.tc_sched();
        Tensor ws = Tensor::empty(
            Shape{std::max<int64_t>(1, kernels::attention_tc_backward_workspace_bytes(p.dims, ts))}, DType::u8, dev);
        kernels::attention_tc_backward_cuda<T>(q.data<T>(), k.data<T>(), v.data<T>(), ts, mask, b, o.data<T>(),
                                               lse.data<float>(), dout.data<T>(), p.dims, dq.data<T>(), dk.data<T>(),
                                               dv.data<T>(), db, ws.data_ptr(), current_stream(dev));
        return;
      }
    }
    Tensor ws = Tensor::empty(Shape{std::max<int64_t>(1, kernels::attention_backward_workspace_bytes<T>(p.dims))},
                              DType::u8, dev);
    if constexpr (!std::is_same_v<T, double>)
      kernels::attention_backward_cuda<T, I>(q.data<T>(), k.data<T>(), v.data<T>(), p.cu_q.data<I>(), p.cu_k.data<I>(),
                                             mask, b, o.data<T>(), lse.data<Stat<T>>(), dout.data<T>(), p.dims,
                                             dq.data<T>(), dk.data<T>(), dv.data<T>(), db, ws.data_ptr(),
                                             current_stream(dev));
    else
      LESEG_FAIL("attention: CUDA supports f32, f16 and bf16, got ", dtype_name(q.dtype()));
  };
  (void)on_cuda;
  LESEG_DISPATCH_DEVICE(dev, "attention_backward", on_cpu(), on_cuda());
}

}  // namespace

AttentionVariant attention_variant_for(DType dtype, Device dev, AttentionVariant requested) {
  if (requested == AttentionVariant::reference) return requested;
  if (requested == AttentionVariant::tensor_core) {
    LESEG_CHECK(is_half(dtype), "attention: the tensor-core variant computes f16 or bf16, got ", dtype_name(dtype),
                " (use autocast, train.precision bf16/f16, or the reference variant)");
#if LESEG_WITH_CUDA
    if (dev.is_cuda()) {
      CudaDeviceGuard guard(dev);
      LESEG_CHECK(kernels::attention_tc_device_ok(), "attention: the tensor-core variant needs sm_80 or newer on ",
                  dev.str());
    }
#endif
    return requested;
  }
  if (!is_half(dtype)) return AttentionVariant::reference;
#if LESEG_WITH_CUDA
  if (dev.is_cuda()) {
    CudaDeviceGuard guard(dev);
    return kernels::attention_tc_device_ok() ? AttentionVariant::tensor_core : AttentionVariant::reference;
  }
#endif
  return AttentionVariant::tensor_core;
}

AttentionScheduleCacheStats attention_schedule_cache_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return {c.hits, c.misses, int64_t(c.lru.size())};
}
void attention_schedule_cache_clear() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.lru.clear();
  c.hits = c.misses = 0;
}

Tensor attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, const Tensor& cu_q, const Tensor& cu_k,
                 const AttentionOptions& opts) {
  LESEG_CHECK(q_in.defined() && k_in.defined() && v_in.defined(), "attention: q, k and v must be defined");
  // Autocast (engine/precision.h): f32 inputs computed in autocast_dtype(), output in that dtype.
  const bool cast = autocast_enabled() && q_in.dtype() == DType::f32;
  auto ac = [&](const Tensor& x) { return (cast && x.defined() && x.dtype() == DType::f32) ? x.to(autocast_dtype()) : x; };
  const Tensor q = ac(q_in), k = ac(k_in), v = ac(v_in), bias = ac(opts.key_bias);
  LESEG_CHECK(q.ndim() == 3 && k.ndim() == 3 && v.ndim() == 3, "attention: q, k, v must be (T, H, D), got q ",
              q.shape().str(), ", k ", k.shape().str(), ", v ", v.shape().str());
  LESEG_CHECK(k.shape() == v.shape(), "attention: k ", k.shape().str(), " and v ", v.shape().str(), " differ");
  LESEG_CHECK(q.size(1) == k.size(1) && q.size(2) == k.size(2), "attention: q ", q.shape().str(), " and k ",
              k.shape().str(), " differ in heads or head dim");
  LESEG_CHECK(q.size(1) >= 1 && q.size(2) >= 1, "attention: heads and head dim must be >= 1, got q ", q.shape().str());
  LESEG_CHECK(q.dtype() == k.dtype() && q.dtype() == v.dtype(), "attention: dtypes differ (q ", dtype_name(q.dtype()),
              ", k ", dtype_name(k.dtype()), ", v ", dtype_name(v.dtype()), ")");
  LESEG_CHECK(q.dtype() == DType::f32 || q.dtype() == DType::f64 || is_half(q.dtype()), "attention: dtype ",
              dtype_name(q.dtype()), " not supported (f32, f64, f16, bf16)");
  const Device dev = q.device();
  LESEG_CHECK(k.device() == dev && v.device() == dev, "attention: q on ", dev.str(), ", k on ", k.device().str(),
              ", v on ", v.device().str());
  const int64_t Tq = q.size(0), Tk = k.size(0), H = q.size(1), D = q.size(2);
  const AttentionVariant variant = attention_variant_for(q.dtype(), dev, opts.variant);
  const bool tc = variant == AttentionVariant::tensor_core;
  if (dev.is_cuda()) {
    LESEG_CHECK(q.dtype() != DType::f64, "attention: CUDA supports f32, f16 and bf16, got ", dtype_name(q.dtype()));
    if (tc) {
      LESEG_CHECK(kernels::attn_tc::supports_dim(D), "attention: tensor-core head dim ", D, " not in 1..128");
    } else if (!kernels::attention_cuda_supports_dim(D)) {
      // The scalar kernel is specialised for 16/32/64/128: zero-pad the head dim to the next of those (zero columns
      // change no logit; the padded output columns are dropped), keeping the logit scale of the true D.
      LESEG_CHECK(D < 128, "attention: CUDA head dim ", D, " not supported (at most 128)");
      const int64_t DP = D <= 16 ? 16 : D <= 32 ? 32 : D <= 64 ? 64 : 128;
      auto pad = [&](const Tensor& x) {
        return concat({x, Tensor::zeros(Shape{x.size(0), H, DP - D}, x.dtype(), dev)}, 2);
      };
      AttentionOptions o2 = opts;
      o2.scale = opts.scale != 0.0 ? opts.scale : 1.0 / std::sqrt(double(D));
      o2.key_bias = bias;
      o2.variant = AttentionVariant::reference;
      return split(attention(pad(q), pad(k), pad(v), cu_q, cu_k, o2), {D, DP - D}, 2)[0];
    }
  }

  Plan p;
  p.sched = cached_schedule(cu_q, cu_k, Tq, Tk, H, dev);
  p.tc = tc;
  p.dims.batch = p.sched->batch;
  p.dims.heads = H;
  p.dims.dim = D;
  p.dims.tq = Tq;
  p.dims.tk = Tk;
  p.dims.max_lq = p.sched->max_lq;
  p.dims.max_lk = p.sched->max_lk;
  p.dims.round_products = tc;
  p.dims.scale = opts.scale != 0.0 ? opts.scale : 1.0 / std::sqrt(double(D));
  LESEG_CHECK(std::isfinite(p.dims.scale), "attention: scale ", p.dims.scale, " is not finite");
  const DType idx = cu_q.dtype() == cu_k.dtype() ? cu_q.dtype() : DType::i64;
  p.cu_q = p.sched->cu_q;  // converted and on the device once per cached schedule
  p.cu_k = p.sched->cu_k;
  if (opts.key_mask.defined()) {
    const Tensor& m = opts.key_mask;
    LESEG_CHECK(m.dtype() == DType::u8 || m.dtype() == DType::b8, "attention: key_mask must be u8 or bool, got ",
                dtype_name(m.dtype()));
    LESEG_CHECK(m.ndim() == 1 && m.size(0) == Tk, "attention: key_mask ", m.shape().str(), " must be (", Tk, ",)");
    LESEG_CHECK(m.device() == dev, "attention: key_mask on ", m.device().str(), ", q on ", dev.str());
    p.mask = m.detach();
  }
  if (bias.defined()) {
    LESEG_CHECK(bias.ndim() == 2 && bias.size(0) == Tk && bias.size(1) == H, "attention: key_bias ",
                bias.shape().str(), " must be (", Tk, ", ", H, ")");
    LESEG_CHECK(bias.dtype() == q.dtype(), "attention: key_bias dtype ", dtype_name(bias.dtype()), " differs from q ",
                dtype_name(q.dtype()));
    LESEG_CHECK(bias.device() == dev, "attention: key_bias on ", bias.device().str(), ", q on ", dev.str());
  }

  Tensor o = Tensor::empty(q.shape(), q.dtype(), dev);
  // The saved logsumexp is f32 for half inputs (kernels::attn_stat_t).
  Tensor lse = Tensor::empty(Shape{Tq, H}, is_half(q.dtype()) ? DType::f32 : q.dtype(), dev);
  LESEG_DISPATCH_FLOAT_HALF(q.dtype(), "attention", {
    using T = scalar_t;
    LESEG_DISPATCH_INDEX(idx, "attention", { run_forward<T, scalar_t>(p, q, k, v, bias, o, lse); });
  });

  std::vector<Tensor> inputs{q, k, v};
  if (bias.defined()) inputs.push_back(bias);
  SavedTensor sq(q), sk(k), sv(v), sb(bias);
  Tensor o_saved = o.detach();  // no history: the closure must not own its own output
  return record("attention", inputs, o, [p, sq, sk, sv, sb, o_saved, lse, idx](const std::vector<Tensor>& g) {
    const Tensor& q = sq.get("attention");
    const Tensor& k = sk.get("attention");
    const Tensor& v = sv.get("attention");
    const Tensor& b = sb.get("attention");
    Tensor dq = empty_like(q), dk = empty_like(k), dv = empty_like(v), db;
    if (b.defined()) db = empty_like(b);
    const Tensor dout = g[0].dtype() == q.dtype() ? g[0] : g[0].to(q.dtype());
    LESEG_DISPATCH_FLOAT_HALF(q.dtype(), "attention_backward", {
      using T = scalar_t;
      LESEG_DISPATCH_INDEX(idx, "attention_backward", {
        run_backward<T, scalar_t>(p, q, k, v, b, o_saved, lse, dout, dq, dk, dv, db);
      });
    });
    std::vector<Tensor> grads{dq, dk, dv};
    if (b.defined()) grads.push_back(db);
    return grads;
  });
}

Tensor attention_offsets(const std::vector<int64_t>& host, Device dev) {
  LESEG_CHECK(host.size() >= 2 && host.front() == 0, "attention_offsets: (B + 1) offsets from 0 with B >= 1, got ",
              host.size(), " entries");
  for (size_t b = 1; b < host.size(); ++b)
    LESEG_CHECK(host[b] >= host[b - 1], "attention_offsets: decrease at ", b, " (", host[b - 1], " -> ", host[b], ")");
  Tensor t = Tensor::from_vector(host, Shape{int64_t(host.size())}, dev);
  Known& k = known();
  std::lock_guard<std::mutex> lock(k.mu);
  k.lru.push_front(KnownOffsets{t.detach(), t.version(), host});
  if (k.lru.size() > kKnownCapacity) k.lru.pop_back();
  return t;
}

Tensor split_heads(const Tensor& x, int64_t heads) {
  LESEG_CHECK(x.ndim() == 2, "split_heads: x must be (T, H*D), got ", x.shape().str());
  LESEG_CHECK(heads >= 1 && x.size(1) % heads == 0, "split_heads: ", x.size(1), " columns do not split into ", heads,
              " heads");
  return x.reshape(Shape{x.size(0), heads, x.size(1) / heads});
}

Tensor merge_heads(const Tensor& x) {
  LESEG_CHECK(x.ndim() == 3, "merge_heads: x must be (T, H, D), got ", x.shape().str());
  return x.reshape(Shape{x.size(0), x.size(1) * x.size(2)});
}

Tensor multi_head_attention(const Tensor& q_proj, const Tensor& k_proj, const Tensor& v_proj, const Tensor& cu_q,
                            const Tensor& cu_k, int64_t heads, const AttentionOptions& opts) {
  return merge_heads(attention(split_heads(q_proj, heads), split_heads(k_proj, heads), split_heads(v_proj, heads), cu_q,
                               cu_k, opts));
}

}  // namespace leseg
