// SPDX-License-Identifier: Apache-2.0
// Engine op for fused attention: validates, calls kernels/attention for the tensors' device, and records a
// backward that recomputes probabilities from the saved logsumexp (FlashAttention-2; see attention.h).
#include "engine/ops/attention.h"

#include <cmath>
#include <type_traits>

#include "engine/autograd.h"
#include "engine/ops/autocast.h"
#include "kernels/attention/attention.h"

namespace leseg {
namespace {

template <class T>
using Stat = kernels::attn_stat_t<T>;
bool is_half(DType t) { return t == DType::f16 || t == DType::bf16; }

// Reads offsets to the host and checks them: 1-D integer, starts at 0, non-decreasing, ends at `rows`.
std::vector<int64_t> read_offsets(const Tensor& cu, const char* name, int64_t rows) {
  LESEG_CHECK(cu.defined(), "attention: ", name, " is undefined");
  LESEG_CHECK(cu.ndim() == 1 && cu.size(0) >= 1, "attention: ", name, " must be 1-D (B+1), got ", cu.shape().str());
  LESEG_CHECK(cu.dtype() == DType::i32 || cu.dtype() == DType::i64, "attention: ", name, " must be i32 or i64, got ",
              dtype_name(cu.dtype()));
  std::vector<int64_t> h = cu.to_vector<int64_t>();
  LESEG_CHECK(h[0] == 0, "attention: ", name, "[0] = ", h[0], ", must be 0");
  for (size_t b = 1; b < h.size(); ++b)
    LESEG_CHECK(h[b] >= h[b - 1], "attention: ", name, " decreases at ", b, " (", h[b - 1], " -> ", h[b], ")");
  LESEG_CHECK(h.back() == rows, "attention: ", name, " ends at ", h.back(), " but there are ", rows, " rows");
  return h;
}

int64_t max_len(const std::vector<int64_t>& cu) {
  int64_t m = 0;
  for (size_t b = 1; b < cu.size(); ++b) m = std::max(m, cu[b] - cu[b - 1]);
  return m;
}

struct Plan {
  kernels::AttentionDims dims;
  Tensor cu_q, cu_k;  // on the op's device, one common index dtype
  Tensor mask;        // (Tk,) u8/bool or undefined
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
  Tensor ws = Tensor::empty(Shape{std::max<int64_t>(1, kernels::attention_backward_workspace_bytes<T>(p.dims))},
                            DType::u8, dev);
  auto on_cpu = [&] {
    kernels::attention_backward_cpu<T, I>(q.data<T>(), k.data<T>(), v.data<T>(), p.cu_q.data<I>(), p.cu_k.data<I>(),
                                          mask, b, o.data<T>(), lse.data<Stat<T>>(), dout.data<T>(), p.dims,
                                          dq.data<T>(), dk.data<T>(), dv.data<T>(), db, ws.data_ptr());
  };
  auto on_cuda = [&] {
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

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cu_q, const Tensor& cu_k,
                 const AttentionOptions& opts) {
  LESEG_CHECK(q.defined() && k.defined() && v.defined(), "attention: q, k and v must be defined");
  // Autocast (train.precision bf16/f16, engine/precision.h): q, k, v (and the key bias) cast to autocast_dtype();
  // the half kernels compute in f32 and return that dtype. f32 leaves get f32 gradients (the casts' backward).
  if (autocast_enabled() && autocast_eligible(q.dtype()) && autocast_eligible(k.dtype()) &&
      autocast_eligible(v.dtype()) &&
      (q.dtype() != autocast_dtype() || k.dtype() != autocast_dtype() || v.dtype() != autocast_dtype() ||
       (opts.key_bias.defined() && opts.key_bias.dtype() != autocast_dtype()))) {
    AttentionOptions o = opts;
    o.key_bias = autocast_in(opts.key_bias);
    return attention(autocast_in(q), autocast_in(k), autocast_in(v), cu_q, cu_k, o);
  }
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
  if (dev.is_cuda()) {
    LESEG_CHECK(q.dtype() != DType::f64, "attention: CUDA supports f32, f16 and bf16, got ", dtype_name(q.dtype()));
    LESEG_CHECK(kernels::attention_cuda_supports_dim(D), "attention: CUDA head dim ", D,
                " not supported (16, 32, 64, 128)");
  }

  const std::vector<int64_t> hq = read_offsets(cu_q, "cu_q", Tq), hk = read_offsets(cu_k, "cu_k", Tk);
  LESEG_CHECK(hq.size() == hk.size(), "attention: cu_q has ", hq.size(), " entries, cu_k ", hk.size(),
              " (both must be B+1)");
  Plan p;
  p.dims.batch = int64_t(hq.size()) - 1;
  p.dims.heads = H;
  p.dims.dim = D;
  p.dims.tq = Tq;
  p.dims.tk = Tk;
  p.dims.max_lq = max_len(hq);
  p.dims.max_lk = max_len(hk);
  p.dims.scale = opts.scale != 0.0 ? opts.scale : 1.0 / std::sqrt(double(D));
  LESEG_CHECK(std::isfinite(p.dims.scale), "attention: scale ", p.dims.scale, " is not finite");
  const DType idx = cu_q.dtype() == cu_k.dtype() ? cu_q.dtype() : DType::i64;
  p.cu_q = (cu_q.dtype() == idx ? cu_q : cu_q.to(idx)).detach();
  p.cu_k = (cu_k.dtype() == idx ? cu_k : cu_k.to(idx)).detach();
  if (p.cu_q.device() != dev) p.cu_q = p.cu_q.to(dev);
  if (p.cu_k.device() != dev) p.cu_k = p.cu_k.to(dev);
  if (opts.key_mask.defined()) {
    const Tensor& m = opts.key_mask;
    LESEG_CHECK(m.dtype() == DType::u8 || m.dtype() == DType::b8, "attention: key_mask must be u8 or bool, got ",
                dtype_name(m.dtype()));
    LESEG_CHECK(m.ndim() == 1 && m.size(0) == Tk, "attention: key_mask ", m.shape().str(), " must be (", Tk, ",)");
    LESEG_CHECK(m.device() == dev, "attention: key_mask on ", m.device().str(), ", q on ", dev.str());
    p.mask = m.detach();
  }
  const Tensor& bias = opts.key_bias;
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
