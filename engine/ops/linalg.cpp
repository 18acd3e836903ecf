// SPDX-License-Identifier: Apache-2.0
#include "engine/ops/linalg.h"

#include <atomic>
#include <numeric>

#include "engine/autograd.h"
#include "engine/ops/autocast.h"
#include "engine/ops/elementwise.h"
#include "kernels/batch_norm/batch_norm.h"
#include "kernels/matmul/matmul.h"
#include "kernels/transpose/transpose.h"

namespace leseg {

namespace {
std::atomic<bool> g_deterministic{false};
}  // namespace

void set_deterministic(bool on) { g_deterministic = on; }
bool deterministic() { return g_deterministic; }

namespace {

void check_float_pair(const char* op, const Tensor& a, const Tensor& b) {
  LESEG_CHECK(a.defined() && b.defined(), op, ": undefined operand");
  LESEG_CHECK(a.dtype() == b.dtype(), op, ": dtype mismatch ", dtype_name(a.dtype()), " vs ", dtype_name(b.dtype()),
              " (shapes ", a.shape().str(), ", ", b.shape().str(), ")");
  LESEG_CHECK(a.dtype() == DType::f32 || a.dtype() == DType::f64 || is_half_dtype(a.dtype()), op, ": dtype ",
              dtype_name(a.dtype()), " not supported (f32, f64, f16, bf16)");
  LESEG_CHECK(a.device() == b.device(), op, ": operands on different devices ", a.device().str(), " and ",
              b.device().str());
}

// Half GEMM (kernels/matmul matmul_lowp_*): C = op(A)·op(B) + beta·C, f32 accumulation, C rounded once.
void gemm_lowp(const Tensor& a, const Tensor& b, const Tensor& c, const kernels::GemmShape& g, float beta) {
  Device d = a.device();
  if (a.dtype() == DType::bf16) {
    LESEG_DISPATCH_DEVICE(d, "matmul", kernels::matmul_lowp_cpu<bf16_t>(a.data<bf16_t>(), b.data<bf16_t>(), c.data<bf16_t>(), g, beta),
                          kernels::matmul_lowp_cuda<bf16_t>(a.data<bf16_t>(), b.data<bf16_t>(), c.data<bf16_t>(), g, beta,
                                                            current_stream(d)));
  } else {
    LESEG_CHECK(a.dtype() == DType::f16, "matmul: half GEMM of dtype ", dtype_name(a.dtype()));
    LESEG_DISPATCH_DEVICE(d, "matmul", kernels::matmul_lowp_cpu<f16_t>(a.data<f16_t>(), b.data<f16_t>(), c.data<f16_t>(), g, beta),
                          kernels::matmul_lowp_cuda<f16_t>(a.data<f16_t>(), b.data<f16_t>(), c.data<f16_t>(), g, beta,
                                                           current_stream(d)));
  }
}

// op(a)·op(b) without autograd. sum_batch: every batch product is summed into one (M, N) result (the
// gradient of a broadcast operand).
Tensor mm_raw(const Tensor& a, const Tensor& b, bool ta, bool tb, bool sum_batch) {
  check_float_pair("matmul", a, b);
  LESEG_CHECK(a.ndim() >= 2 && b.ndim() >= 2, "matmul: operands need at least 2 dims, got ", a.shape().str(), " and ",
              b.shape().str());
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  const int64_t M = ta ? sa[sa.ndim() - 1] : sa[sa.ndim() - 2];
  const int64_t K = ta ? sa[sa.ndim() - 2] : sa[sa.ndim() - 1];
  const int64_t Kb = tb ? sb[sb.ndim() - 1] : sb[sb.ndim() - 2];
  const int64_t N = tb ? sb[sb.ndim() - 2] : sb[sb.ndim() - 1];
  LESEG_CHECK(K == Kb, "matmul: inner dimensions differ: ", sa.str(), (ta ? "ᵀ" : ""), " x ", sb.str(), (tb ? "ᵀ" : ""),
              " (", K, " vs ", Kb, ")");
  const bool a2 = a.ndim() == 2, b2 = b.ndim() == 2;
  Shape batch_shape;
  if (!a2 && !b2) {
    LESEG_CHECK(a.ndim() == b.ndim() && sa.prod(0, sa.ndim() - 2) == sb.prod(0, sb.ndim() - 2),
                "matmul: batch dims must be equal (or one operand 2-D): ", sa.str(), " x ", sb.str());
    for (int i = 0; i < sa.ndim() - 2; ++i)
      LESEG_CHECK(sa[i] == sb[i], "matmul: batch dims must be equal (or one operand 2-D): ", sa.str(), " x ", sb.str());
  }
  const Shape& bs = a2 ? sb : sa;
  for (int i = 0; i < bs.ndim() - 2; ++i) batch_shape.push_back(bs[i]);
  const int64_t batch = batch_shape.numel();

  kernels::GemmShape g;
  g.m = M, g.n = N, g.k = K, g.trans_a = ta, g.trans_b = tb;
  Shape out_shape;
  if (sum_batch || batch_shape.ndim() == 0) {
    out_shape = Shape{M, N};
  } else {
    out_shape = batch_shape;
    out_shape.push_back(M);
    out_shape.push_back(N);
  }
  if (!a2 && b2 && !ta && !sum_batch) {
    g.batch = 1, g.m = M * batch;  // fold a's batch into rows: one GEMM
  } else if (sum_batch && !a2 && !b2 && ta && !tb) {
    g.batch = 1, g.k = K * batch;  // Σ_b A_bᵀ·B_b = A_foldᵀ·B_fold: one GEMM over batch·K rows
  } else {
    g.batch = batch;
    g.stride_a = a2 ? 0 : M * K;
    g.stride_b = b2 ? 0 : K * N;
    g.stride_c = sum_batch ? 0 : M * N;
  }
  if (is_half_dtype(a.dtype()) && g.stride_c == 0 && g.batch > 1)  // summed batches: in f32, rounded once
    return mm_raw(a.detach().to(DType::f32), b.detach().to(DType::f32), ta, tb, sum_batch).to(a.dtype());
  Tensor out = Tensor::empty(out_shape, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  if (is_half_dtype(a.dtype())) {
    gemm_lowp(a, b, out, g, 0.0f);
    return out;
  }
  Device d = a.device();
  const bool tf32 = allow_tf32() && a.dtype() == DType::f32;
  // TF32 on CPU: the twin rounds the GEMM inputs as the tensor cores' input conversion does, f32 accumulation.
  const Tensor ar = tf32 && d.is_cpu() ? round_tf32_copy(a) : a;
  const Tensor br = tf32 && d.is_cpu() ? round_tf32_copy(b) : b;
  LESEG_DISPATCH_FLOAT(a.dtype(), "matmul", {
    const scalar_t* pa = ar.data<scalar_t>();
    const scalar_t* pb = br.data<scalar_t>();
    scalar_t* pc = out.data<scalar_t>();
    LESEG_DISPATCH_DEVICE(d, "matmul", kernels::matmul_cpu<scalar_t>(pa, pb, pc, g, scalar_t(0)),
                          kernels::matmul_cuda<scalar_t>(pa, pb, pc, g, scalar_t(0), tf32, current_stream(d)));
  });
  return out;
}

Tensor permute_raw(const Tensor& x, const std::vector<int>& perm) {
  const int nd = x.ndim();
  LESEG_CHECK(int(perm.size()) == nd, "permute: ", perm.size(), " dims given for shape ", x.shape().str());
  std::vector<bool> seen(size_t(nd), false);
  for (int p : perm) {
    LESEG_CHECK(p >= 0 && p < nd && !seen[size_t(p)], "permute: invalid permutation for shape ", x.shape().str());
    seen[size_t(p)] = true;
  }
  kernels::PermuteParams pp;
  pp.ndim = nd;
  pp.numel = x.numel();
  int64_t strides[kMaxDims];
  int64_t s = 1;
  for (int i = nd - 1; i >= 0; --i) {
    strides[i] = s;
    s *= x.shape()[i];
  }
  Shape out_shape;
  for (int i = 0; i < nd; ++i) {
    out_shape.push_back(x.shape()[perm[size_t(i)]]);
    pp.out_shape[i] = x.shape()[perm[size_t(i)]];
    pp.in_stride[i] = strides[perm[size_t(i)]];
  }
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  Device d = x.device();
  LESEG_DISPATCH_ALL(x.dtype(), "permute", {
    LESEG_DISPATCH_DEVICE(d, "permute", kernels::permute_cpu<scalar_t>(x.data<scalar_t>(), out.data<scalar_t>(), pp),
                          kernels::permute_cuda<scalar_t>(x.data<scalar_t>(), out.data<scalar_t>(), pp, current_stream(d)));
  });
  return out;
}

// Column sums of a (rows, cols) tensor -> (cols).
Tensor column_sum(const Tensor& x2) {
  if (is_half_dtype(x2.dtype())) return column_sum(x2.detach().to(DType::f32)).to(x2.dtype());  // f32 sums, one rounding
  const int64_t R = x2.size(0), C = x2.size(1);
  Tensor out = Tensor::empty(Shape{C}, x2.dtype(), x2.device());
  if (C == 0) return out;
  Device d = x2.device();
  LESEG_DISPATCH_FLOAT(x2.dtype(), "linear", {
    LESEG_DISPATCH_DEVICE(
        d, "linear", kernels::channel_sum_cpu<scalar_t>(x2.data<scalar_t>(), R, C, 1, out.data<scalar_t>()), {
          Tensor ws = Tensor::empty(Shape{int64_t(kernels::batch_norm_workspace_bytes(R, C, 1))}, DType::u8, d);
          kernels::channel_sum_cuda<scalar_t>(x2.data<scalar_t>(), R, C, 1, out.data<scalar_t>(), ws.data_ptr(),
                                              current_stream(d));
        });
  });
  return out;
}
}  // namespace

namespace {
Tensor matmul_impl(const Tensor& a, const Tensor& b, bool ta, bool tb);
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  LESEG_CHECK(a.defined() && b.defined(), "matmul: undefined operand");
  // Autocast (bf16/f16): inputs cast to the autocast dtype (differentiable: f32 leaves get f32 gradients), then the
  // half GEMM: f32 accumulation, output and input gradients stored in that dtype.
  if (autocast_enabled() && autocast_eligible(a.dtype()) && autocast_eligible(b.dtype()))
    return matmul_impl(autocast_in(a), autocast_in(b), ta, tb);
  return matmul_impl(a, b, ta, tb);
}

namespace {
Tensor matmul_impl(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  check_float_pair("matmul", a, b);
  LESEG_CHECK(a.ndim() >= 2 && b.ndim() >= 2, "matmul: operands need at least 2 dims, got ", a.shape().str(), " and ",
              b.shape().str());
  if (a.ndim() > 2 && b.ndim() > 2) {
    // General batch broadcasting: expand both operands to the broadcast batch shape (copies; the
    // expansion's backward sums the gradient back). Equal batch shapes take the strided path directly.
    Shape ba, bb;
    for (int i = 0; i < a.ndim() - 2; ++i) ba.push_back(a.shape()[i]);
    for (int i = 0; i < b.ndim() - 2; ++i) bb.push_back(b.shape()[i]);
    if (ba != bb) {
      Shape bs = broadcast_shapes(ba, bb);
      Shape sa = bs, sb = bs;
      sa.push_back(a.shape()[a.ndim() - 2]), sa.push_back(a.shape()[a.ndim() - 1]);
      sb.push_back(b.shape()[b.ndim() - 2]), sb.push_back(b.shape()[b.ndim() - 1]);
      return matmul_impl(a.shape() == sa ? a : broadcast_to(a, sa), b.shape() == sb ? b : broadcast_to(b, sb), ta, tb);
    }
  }
  Tensor out = mm_raw(a, b, ta, tb, false);
  const bool ga = needs_grad(a), gb = needs_grad(b);
  const bool a_bcast = a.ndim() == 2 && b.ndim() > 2, b_bcast = b.ndim() == 2 && a.ndim() > 2;
  return record("matmul", {a, b}, out,
                [sa = SavedTensor(a), sb = SavedTensor(b), ta, tb, ga, gb, a_bcast, b_bcast](const std::vector<Tensor>& g) {
                  const Tensor& A = sa.get("matmul");
                  const Tensor& B = sb.get("matmul");
                  const Tensor& dC = g[0];
                  Tensor dA, dB;
                  if (ga) dA = ta ? mm_raw(B, dC, tb, true, a_bcast) : mm_raw(dC, B, false, !tb, a_bcast);
                  // With b broadcast and !ta, Σ_b A_bᵀ·dC_b folds into one GEMM (see mm_raw).
                  if (gb) dB = tb ? mm_raw(dC, A, true, ta, b_bcast) : mm_raw(A, dC, !ta, false, b_bcast);
                  return std::vector<Tensor>{dA, dB};
                });
}
}  // namespace

Tensor permute(const Tensor& x, const std::vector<int>& perm) {
  Tensor out = permute_raw(x, perm);
  std::vector<int> inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[size_t(perm[i])] = int(i);
  return record("transpose", {x}, out, [inv](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{permute_raw(g[0], inv)};
  });
}

Tensor transpose(const Tensor& x, int d0, int d1) {
  LESEG_CHECK(x.defined(), "transpose: undefined tensor");
  const int a = x.shape().norm_dim(d0), b = x.shape().norm_dim(d1);
  std::vector<int> perm(size_t(x.ndim()));
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[size_t(a)], perm[size_t(b)]);
  return permute(x, perm);
}

Tensor t(const Tensor& x) {
  LESEG_CHECK(x.defined() && x.ndim() == 2, "t(): expects a 2-D tensor, got ", x.defined() ? x.shape().str() : "undefined");
  return transpose(x, 0, 1);
}

namespace {
Tensor linear_impl(const Tensor& x, const Tensor& w, const Tensor& b);
}  // namespace

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  LESEG_CHECK(x.defined() && w.defined(), "linear: undefined operand");
  // Autocast as matmul: x, W, b cast to the autocast dtype, y = x·Wᵀ + b accumulated in f32 by the half GEMM
  // (bias preloaded into C, beta = 1), stored once in that dtype.
  if (autocast_enabled() && autocast_eligible(x.dtype()) && autocast_eligible(w.dtype()) &&
      (!b.defined() || autocast_eligible(b.dtype())))
    return linear_impl(autocast_in(x), autocast_in(w), autocast_in(b));
  return linear_impl(x, w, b);
}

namespace {
Tensor linear_impl(const Tensor& x, const Tensor& w, const Tensor& b) {
  check_float_pair("linear", x, w);
  LESEG_CHECK(w.ndim() == 2, "linear: weight must be (out, in), got ", w.shape().str());
  LESEG_CHECK(x.ndim() >= 1 && x.size(-1) == w.size(1), "linear: input ", x.shape().str(), " does not end in in_features ",
              w.size(1), " of weight ", w.shape().str());
  const int64_t in = w.size(1), outf = w.size(0);
  if (b.defined()) {
    check_float_pair("linear", x, b);
    LESEG_CHECK(b.ndim() == 1 && b.size(0) == outf, "linear: bias ", b.shape().str(), " must be (", outf, ")");
  }
  const int64_t R = in > 0 ? x.numel() / in : x.shape().prod(0, x.ndim() - 1);
  Shape out_shape;
  for (int i = 0; i < x.ndim() - 1; ++i) out_shape.push_back(x.shape()[i]);
  out_shape.push_back(outf);
  Tensor x2 = x.detach().reshape(Shape{R, in});
  Tensor y = Tensor::empty(Shape{R, outf}, x.dtype(), x.device());
  Device d = x.device();
  if (y.numel() > 0 && is_half_dtype(x.dtype())) {
    float beta = 0.0f;
    if (b.defined()) {  // y = 1·bᵀ (exact: k = 1), then y += x·Wᵀ in the same f32 accumulation, one rounding
      Tensor ones = Tensor::ones(Shape{R, 1}, x.dtype(), d);
      kernels::GemmShape g1;
      g1.m = R, g1.n = outf, g1.k = 1;
      gemm_lowp(ones, b, y, g1, 0.0f);
      beta = 1.0f;
    }
    kernels::GemmShape g;
    g.m = R, g.n = outf, g.k = in, g.trans_b = true;
    gemm_lowp(x2, w, y, g, beta);
  } else if (y.numel() > 0) {
    const bool tf32 = allow_tf32() && x.dtype() == DType::f32;
    const bool round_in = tf32 && d.is_cpu();  // the CPU twin of TF32: rounded GEMM inputs (bias included)
    if (round_in) x2 = round_tf32_copy(x2);
    const Tensor wr = round_in ? round_tf32_copy(w) : w;
    const Tensor br = round_in && b.defined() ? round_tf32_copy(b) : b;
    LESEG_DISPATCH_FLOAT(x.dtype(), "linear", {
      scalar_t beta = scalar_t(0);
      if (b.defined()) {  // y = 1·bᵀ (rank-1 GEMM), then y += x·Wᵀ
        Tensor ones = Tensor::ones(Shape{R, 1}, x.dtype(), d);
        kernels::GemmShape g1;
        g1.m = R, g1.n = outf, g1.k = 1;
        const scalar_t* po = ones.data<scalar_t>();
        const scalar_t* pb = br.data<scalar_t>();
        LESEG_DISPATCH_DEVICE(d, "linear", kernels::matmul_cpu<scalar_t>(po, pb, y.data<scalar_t>(), g1, scalar_t(0)),
                              kernels::matmul_cuda<scalar_t>(po, pb, y.data<scalar_t>(), g1, scalar_t(0), tf32,
                                                             current_stream(d)));
        beta = scalar_t(1);
      }
      kernels::GemmShape g;
      g.m = R, g.n = outf, g.k = in, g.trans_b = true;
      const scalar_t* px = x2.data<scalar_t>();
      const scalar_t* pw = wr.data<scalar_t>();
      LESEG_DISPATCH_DEVICE(d, "linear", kernels::matmul_cpu<scalar_t>(px, pw, y.data<scalar_t>(), g, beta),
                            kernels::matmul_cuda<scalar_t>(px, pw, y.data<scalar_t>(), g, beta, tf32, current_stream(d)));
    });
  }
  Tensor out = y.reshape(out_shape);
  const bool gx = needs_grad(x), gw = needs_grad(w), gb = b.defined() && needs_grad(b);
  Shape x_shape = x.shape();
  return record("linear", {x, w, b}, out,
                [sx = SavedTensor(x), sw = SavedTensor(w), gx, gw, gb, R, in, outf, x_shape](const std::vector<Tensor>& g) {
                  Tensor dy = g[0].reshape(Shape{R, outf});
                  Tensor dx, dw, db;
                  if (gx) dx = mm_raw(dy, sw.get("linear"), false, false, false).reshape(x_shape);  // dy·W
                  if (gw) dw = mm_raw(dy, sx.get("linear").reshape(Shape{R, in}), true, false, false);  // dyᵀ·x
                  if (gb) db = column_sum(dy);
                  return std::vector<Tensor>{dx, dw, db};
                });
}

}  // namespace

}  // namespace leseg
