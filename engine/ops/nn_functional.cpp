// SPDX-License-Identifier: Apache-2.0
#include "engine/ops/nn_functional.h"

#include "engine/autograd.h"
#include "engine/ops/autocast.h"
#include "engine/ops/linalg.h"
#include "kernels/batch_norm/batch_norm.h"
#include "kernels/dropout/dropout.h"
#include "kernels/l2_normalize/l2_normalize.h"
#include "kernels/layer_norm/layer_norm.h"
#include "kernels/softmax/softmax.h"

namespace leseg {

namespace {
void check_float(const char* op, const Tensor& x) {
  LESEG_CHECK(x.defined(), op, ": undefined input");
  LESEG_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64, op, ": dtype ", dtype_name(x.dtype()),
              " not supported (f32, f64), shape ", x.shape().str());
}
void check_param(const char* op, const char* what, const Tensor& p, const Tensor& x, int64_t C) {
  if (!p.defined()) return;
  LESEG_CHECK(p.dtype() == x.dtype(), op, ": ", what, " dtype ", dtype_name(p.dtype()), " differs from input dtype ",
              dtype_name(x.dtype()));
  LESEG_CHECK(p.device() == x.device(), op, ": ", what, " on ", p.device().str(), ", input on ", x.device().str());
  LESEG_CHECK(p.ndim() == 1 && p.size(0) == C, op, ": ", what, " must have shape (", C, ",), got ", p.shape().str());
}
template <class T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
template <class T>
T* mut_ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
Tensor workspace(size_t bytes, Device d) { return Tensor::empty(Shape{int64_t(bytes)}, DType::u8, d); }

struct Lines {
  int64_t outer, dim, inner;
};
Lines lines_of(const Tensor& x, int dim) {
  const int d = x.shape().norm_dim(dim);
  return {x.shape().prod(0, d), x.shape()[d], x.shape().prod(d + 1, x.ndim())};
}

Tensor softmax_backward_raw(const Tensor& g, const Tensor& y, Lines l, bool log) {
  Tensor dx = empty_like(y);
  Device d = y.device();
  LESEG_DISPATCH_FLOAT(y.dtype(), "softmax", {
    LESEG_DISPATCH_DEVICE(
        d, "softmax",
        kernels::softmax_backward_cpu<scalar_t>(g.data<scalar_t>(), y.data<scalar_t>(), dx.data<scalar_t>(), l.outer,
                                                l.dim, l.inner, log),
        kernels::softmax_backward_cuda<scalar_t>(g.data<scalar_t>(), y.data<scalar_t>(), dx.data<scalar_t>(), l.outer,
                                                 l.dim, l.inner, log, current_stream(d)));
  });
  return dx;
}

Tensor softmax_impl(const Tensor& x, int dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  check_float(name, x);
  LESEG_CHECK(x.ndim() >= 1, name, ": needs at least one dim, got a scalar");
  Lines l = lines_of(x, dim);
  Tensor y = empty_like(x);
  Device d = x.device();
  LESEG_DISPATCH_FLOAT(x.dtype(), name, {
    LESEG_DISPATCH_DEVICE(d, name,
                          kernels::softmax_forward_cpu<scalar_t>(x.data<scalar_t>(), y.data<scalar_t>(), l.outer, l.dim,
                                                                 l.inner, log),
                          kernels::softmax_forward_cuda<scalar_t>(x.data<scalar_t>(), y.data<scalar_t>(), l.outer,
                                                                  l.dim, l.inner, log, current_stream(d)));
  });
  return record(name, {x}, y, [sy = SavedTensor(y.detach()), l, log, name](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{softmax_backward_raw(g[0], sy.get(name), l, log)};
  });
}
}  // namespace

Tensor softmax(const Tensor& x, int dim) {
  if (x.defined() && is_half_dtype(x.dtype())) return softmax_impl(upcast(x), dim, false);  // f32 list: f32 out
  return softmax_impl(x, dim, false); }
Tensor log_softmax(const Tensor& x, int dim) {
  if (x.defined() && is_half_dtype(x.dtype())) return softmax_impl(upcast(x), dim, true);  // f32 list: f32 out
  return softmax_impl(x, dim, true); }

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  // f16/bf16 input: statistics and affine in f32, the output stored once in the input's dtype
  if (x.defined() && is_half_dtype(x.dtype())) return store_as(layer_norm(upcast(x), weight, bias, eps), x.dtype());
  check_float("layer_norm", x);
  LESEG_CHECK(x.ndim() >= 1, "layer_norm: needs at least one dim, got a scalar");
  const int64_t D = x.size(-1);
  const int64_t R = x.shape().prod(0, x.ndim() - 1);
  LESEG_CHECK(D > 0 || R == 0, "layer_norm: normalized dim has size 0 in ", x.shape().str());
  check_param("layer_norm", "weight", weight, x, D);
  check_param("layer_norm", "bias", bias, x, D);
  Tensor y = empty_like(x);
  Tensor mean = Tensor::empty(Shape{R}, x.dtype(), x.device());
  Tensor rstd = Tensor::empty(Shape{R}, x.dtype(), x.device());
  Device d = x.device();
  LESEG_DISPATCH_FLOAT(x.dtype(), "layer_norm", {
    const scalar_t* w = ptr_or_null<scalar_t>(weight);
    const scalar_t* b = ptr_or_null<scalar_t>(bias);
    LESEG_DISPATCH_DEVICE(d, "layer_norm",
                          kernels::layer_norm_forward_cpu<scalar_t>(x.data<scalar_t>(), w, b, y.data<scalar_t>(),
                                                                    mean.data<scalar_t>(), rstd.data<scalar_t>(), R, D, eps),
                          kernels::layer_norm_forward_cuda<scalar_t>(x.data<scalar_t>(), w, b, y.data<scalar_t>(),
                                                                     mean.data<scalar_t>(), rstd.data<scalar_t>(), R, D,
                                                                     eps, current_stream(d)));
  });
  const bool gx = needs_grad(x), gw = needs_grad(weight), gb = needs_grad(bias);
  return record("layer_norm", {x, weight, bias}, y,
                [sx = SavedTensor(x), sw = SavedTensor(weight), mean, rstd, R, D, gx, gw, gb](const std::vector<Tensor>& g) {
                  const Tensor& X = sx.get("layer_norm");
                  const Tensor& W = sw.get("layer_norm");
                  Tensor dx = gx ? empty_like(X) : Tensor();
                  Tensor dw = gw ? Tensor::empty(Shape{D}, X.dtype(), X.device()) : Tensor();
                  Tensor db = gb ? Tensor::empty(Shape{D}, X.dtype(), X.device()) : Tensor();
                  Device d = X.device();
                  LESEG_DISPATCH_FLOAT(X.dtype(), "layer_norm", {
                    const scalar_t* w = ptr_or_null<scalar_t>(W);
                    LESEG_DISPATCH_DEVICE(
                        d, "layer_norm",
                        kernels::layer_norm_backward_cpu<scalar_t>(g[0].data<scalar_t>(), X.data<scalar_t>(),
                                                                   mean.data<scalar_t>(), rstd.data<scalar_t>(), w, R, D,
                                                                   mut_ptr_or_null<scalar_t>(dx),
                                                                   mut_ptr_or_null<scalar_t>(dw),
                                                                   mut_ptr_or_null<scalar_t>(db)),
                        {
                          Tensor ws = workspace(kernels::layer_norm_workspace_bytes(R, D), d);
                          kernels::layer_norm_backward_cuda<scalar_t>(
                              g[0].data<scalar_t>(), X.data<scalar_t>(), mean.data<scalar_t>(), rstd.data<scalar_t>(),
                              w, R, D, mut_ptr_or_null<scalar_t>(dx), mut_ptr_or_null<scalar_t>(dw),
                              mut_ptr_or_null<scalar_t>(db), ws.data_ptr(), current_stream(d));
                        });
                  });
                  return std::vector<Tensor>{dx, dw, db};
                });
}

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  // f16/bf16 input: statistics (and the running buffers) in f32, the output stored once in the input's dtype
  if (x.defined() && is_half_dtype(x.dtype()))
    return store_as(batch_norm(upcast(x), running_mean, running_var, weight, bias, training, momentum, eps), x.dtype());
  check_float("batch_norm", x);
  LESEG_CHECK(x.ndim() >= 2, "batch_norm: input must be (N, C) or (N, C, L…), got ", x.shape().str());
  const int64_t N = x.size(0), C = x.size(1), L = x.shape().prod(2, x.ndim());
  const int64_t M = N * L;
  check_param("batch_norm", "weight", weight, x, C);
  check_param("batch_norm", "bias", bias, x, C);
  check_param("batch_norm", "running_mean", running_mean, x, C);
  check_param("batch_norm", "running_var", running_var, x, C);
  LESEG_CHECK(running_mean.defined() == running_var.defined(),
              "batch_norm: running_mean and running_var must both be given or both be absent");
  if (training)
    LESEG_CHECK(M > 1, "batch_norm: training needs more than 1 value per channel, input ", x.shape().str());
  else
    LESEG_CHECK(running_mean.defined(), "batch_norm: eval mode needs running_mean / running_var");
  Device d = x.device();
  Tensor mean, rstd = Tensor::empty(Shape{C}, x.dtype(), d);
  Tensor y = empty_like(x);
  LESEG_DISPATCH_FLOAT(x.dtype(), "batch_norm", {
    const scalar_t* px = x.data<scalar_t>();
    scalar_t* prstd = rstd.data<scalar_t>();
    if (training) {
      mean = Tensor::empty(Shape{C}, x.dtype(), d);
      Tensor var = Tensor::empty(Shape{C}, x.dtype(), d);
      scalar_t* rm = mut_ptr_or_null<scalar_t>(running_mean);
      scalar_t* rv = mut_ptr_or_null<scalar_t>(running_var);
      LESEG_DISPATCH_DEVICE(
          d, "batch_norm",
          {
            kernels::batch_norm_stats_cpu<scalar_t>(px, N, C, L, mean.data<scalar_t>(), var.data<scalar_t>());
            kernels::batch_norm_finalize_cpu<scalar_t>(mean.data<scalar_t>(), var.data<scalar_t>(), C, M, eps,
                                                       momentum, rm, rv, prstd);
          },
          {
            Tensor ws = workspace(kernels::batch_norm_workspace_bytes(N, C, L), d);
            kernels::batch_norm_stats_cuda<scalar_t>(px, N, C, L, mean.data<scalar_t>(), var.data<scalar_t>(),
                                                     ws.data_ptr(), current_stream(d));
            kernels::batch_norm_finalize_cuda<scalar_t>(mean.data<scalar_t>(), var.data<scalar_t>(), C, M, eps,
                                                        momentum, rm, rv, prstd, current_stream(d));
          });
      if (running_mean.defined()) {
        running_mean.bump_version();
        running_var.bump_version();
      }
    } else {
      mean = running_mean.detach().clone();  // a snapshot: later in-place updates must not change backward
      const scalar_t* rv = running_var.data<scalar_t>();
      LESEG_DISPATCH_DEVICE(
          d, "batch_norm",
          kernels::batch_norm_finalize_cpu<scalar_t>(mean.data<scalar_t>(), rv, C, M, eps, 0.0, nullptr, nullptr, prstd),
          kernels::batch_norm_finalize_cuda<scalar_t>(mean.data<scalar_t>(), rv, C, M, eps, 0.0, nullptr, nullptr,
                                                      prstd, current_stream(d)));
    }
    const scalar_t* w = ptr_or_null<scalar_t>(weight);
    const scalar_t* b = ptr_or_null<scalar_t>(bias);
    LESEG_DISPATCH_DEVICE(
        d, "batch_norm",
        kernels::batch_norm_forward_cpu<scalar_t>(px, mean.data<scalar_t>(), prstd, w, b, y.data<scalar_t>(), N, C, L),
        kernels::batch_norm_forward_cuda<scalar_t>(px, mean.data<scalar_t>(), prstd, w, b, y.data<scalar_t>(), N, C, L,
                                                   current_stream(d)));
  });
  const bool gx = needs_grad(x), gw = needs_grad(weight), gb = needs_grad(bias);
  return record(
      "batch_norm", {x, weight, bias}, y,
      [sx = SavedTensor(x), sw = SavedTensor(weight), mean, rstd, N, C, L, training, gx, gw, gb](const std::vector<Tensor>& g) {
        const Tensor& X = sx.get("batch_norm");
        const Tensor& W = sw.get("batch_norm");
        Tensor dx = gx ? empty_like(X) : Tensor();
        Tensor dw = gw ? Tensor::empty(Shape{C}, X.dtype(), X.device()) : Tensor();
        Tensor db = gb ? Tensor::empty(Shape{C}, X.dtype(), X.device()) : Tensor();
        Device d = X.device();
        LESEG_DISPATCH_FLOAT(X.dtype(), "batch_norm", {
          const scalar_t* w = ptr_or_null<scalar_t>(W);
          LESEG_DISPATCH_DEVICE(
              d, "batch_norm",
              kernels::batch_norm_backward_cpu<scalar_t>(g[0].data<scalar_t>(), X.data<scalar_t>(), mean.data<scalar_t>(),
                                                         rstd.data<scalar_t>(), w, N, C, L, training,
                                                         mut_ptr_or_null<scalar_t>(dx), mut_ptr_or_null<scalar_t>(dw),
                                                         mut_ptr_or_null<scalar_t>(db)),
              {
                Tensor ws = workspace(kernels::batch_norm_workspace_bytes(N, C, L), d);
                kernels::batch_norm_backward_cuda<scalar_t>(
                    g[0].data<scalar_t>(), X.data<scalar_t>(), mean.data<scalar_t>(), rstd.data<scalar_t>(), w, N, C, L,
                    training, mut_ptr_or_null<scalar_t>(dx), mut_ptr_or_null<scalar_t>(dw), mut_ptr_or_null<scalar_t>(db),
                    ws.data_ptr(), current_stream(d));
              });
        });
        return std::vector<Tensor>{dx, dw, db};
      });
}

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  // f16/bf16 input: arithmetic in f32, one rounding at the store (engine/precision.h)
  if (x.defined() && is_half_dtype(x.dtype())) return store_as(dropout(upcast(x), p, training, gen), x.dtype());
  check_float("dropout", x);
  LESEG_CHECK(p >= 0.0 && p <= 1.0, "dropout: probability p = ", p, " outside [0, 1]");
  if (!training || p == 0.0) return x;
  if (p == 1.0) {
    Tensor z = zeros_like(x);
    return record("dropout", {x}, z, [](const std::vector<Tensor>& g) { return std::vector<Tensor>{zeros_like(g[0])}; });
  }
  Device d = x.device();
  Tensor mask = bernoulli_mask(x.shape(), 1.0 - p, gen, d);
  const double scale = 1.0 / (1.0 - p);
  auto apply = [mask, scale, d](const Tensor& in) {
    Tensor out = empty_like(in);
    const int64_t n = in.numel();
    LESEG_DISPATCH_FLOAT(in.dtype(), "dropout", {
      LESEG_DISPATCH_DEVICE(d, "dropout",
                            kernels::dropout_apply_cpu<scalar_t>(in.data<scalar_t>(), mask.data<uint8_t>(),
                                                                 out.data<scalar_t>(), n, scalar_t(scale)),
                            kernels::dropout_apply_cuda<scalar_t>(in.data<scalar_t>(), mask.data<uint8_t>(),
                                                                  out.data<scalar_t>(), n, scalar_t(scale),
                                                                  current_stream(d)));
    });
    return out;
  };
  Tensor y = apply(x);
  return record("dropout", {x}, y, [apply](const std::vector<Tensor>& g) { return std::vector<Tensor>{apply(g[0])}; });
}

Tensor dropout(const Tensor& x, double p, bool training) { return dropout(x, p, training, default_generator()); }

Tensor l2_normalize(const Tensor& x, int dim, double eps) {
  if (x.defined() && is_half_dtype(x.dtype())) return l2_normalize(upcast(x), dim, eps);  // f32 list: f32 out
  check_float("l2_normalize", x);
  LESEG_CHECK(x.ndim() >= 1, "l2_normalize: needs at least one dim, got a scalar");
  LESEG_CHECK(eps > 0, "l2_normalize: eps must be positive, got ", eps);
  Lines l = lines_of(x, dim);
  Tensor y = empty_like(x);
  Tensor norm = Tensor::empty(Shape{l.outer * l.inner}, x.dtype(), x.device());
  Device d = x.device();
  LESEG_DISPATCH_FLOAT(x.dtype(), "l2_normalize", {
    LESEG_DISPATCH_DEVICE(d, "l2_normalize",
                          kernels::l2_normalize_forward_cpu<scalar_t>(x.data<scalar_t>(), y.data<scalar_t>(),
                                                                      norm.data<scalar_t>(), l.outer, l.dim, l.inner, eps),
                          kernels::l2_normalize_forward_cuda<scalar_t>(x.data<scalar_t>(), y.data<scalar_t>(),
                                                                       norm.data<scalar_t>(), l.outer, l.dim, l.inner,
                                                                       eps, current_stream(d)));
  });
  return record("l2_normalize", {x}, y, [sy = SavedTensor(y.detach()), norm, l, eps](const std::vector<Tensor>& g) {
    const Tensor& Y = sy.get("l2_normalize");
    Tensor dx = empty_like(Y);
    Device d = Y.device();
    LESEG_DISPATCH_FLOAT(Y.dtype(), "l2_normalize", {
      LESEG_DISPATCH_DEVICE(d, "l2_normalize",
                            kernels::l2_normalize_backward_cpu<scalar_t>(g[0].data<scalar_t>(), Y.data<scalar_t>(),
                                                                         norm.data<scalar_t>(), dx.data<scalar_t>(),
                                                                         l.outer, l.dim, l.inner, eps),
                            kernels::l2_normalize_backward_cuda<scalar_t>(g[0].data<scalar_t>(), Y.data<scalar_t>(),
                                                                          norm.data<scalar_t>(), dx.data<scalar_t>(),
                                                                          l.outer, l.dim, l.inner, eps,
                                                                          current_stream(d)));
    });
    return std::vector<Tensor>{dx};
  });
}

Tensor cosine_similarity(const Tensor& a, const Tensor& b, int dim, double eps) {
  check_float("cosine_similarity", a);
  check_float("cosine_similarity", b);
  LESEG_CHECK(a.shape() == b.shape(), "cosine_similarity: shapes differ: ", a.shape().str(), " vs ", b.shape().str());
  LESEG_CHECK(a.ndim() >= 1, "cosine_similarity: needs at least one dim");
  const int d = a.shape().norm_dim(dim);
  // Move `dim` last, then one row dot product per line as a batched (1, D)·(D, 1) matmul.
  Tensor na = l2_normalize(a, d, eps), nb = l2_normalize(b, d, eps);
  if (d != a.ndim() - 1) {
    na = transpose(na, d, -1);
    nb = transpose(nb, d, -1);
  }
  Shape out_shape;
  for (int i = 0; i < a.ndim(); ++i)
    if (i != d) out_shape.push_back(a.shape()[i]);
  const int64_t D = a.shape()[d];
  const int64_t rows = out_shape.numel();
  Tensor dots = matmul(na.reshape(Shape{rows, 1, D}), nb.reshape(Shape{rows, 1, D}), false, true);  // (rows, 1, 1)
  return dots.reshape(out_shape);
}

}  // namespace leseg
