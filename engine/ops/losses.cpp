// SPDX-License-Identifier: Apache-2.0
// Engine ops for the fused losses: validate, run the fused kernel (loss + gradient when one is needed)
// into an f64 accumulator pair, finalize the scalar on the device, and record a backward that scales the
// saved gradient by (incoming grad)/(divisor) — no host synchronisation anywhere.
// Half logits (f16/bf16): the kernels read them per element and accumulate like f32; the loss value (and so
// its incoming gradient) and class weights are f32, the gradients come back in the logits' dtype.
#include "engine/ops/losses.h"

#include "engine/autograd.h"
#include "engine/determinism.h"
#include "kernels/losses/losses.h"

namespace leseg {
namespace {

bool is_half(DType t) { return t == DType::f16 || t == DType::bf16; }
// dtype of the loss value, of class weights and of the incoming gradient (kernels::loss_param_t).
DType param_dtype(DType t) { return is_half(t) ? DType::f32 : t; }
template <class T>
using P = kernels::loss_param_t<T>;

void check_logits(const Tensor& z, const char* op, const char* what = "logits") {
  LESEG_CHECK(z.defined(), op, ": ", what, " is undefined");
  LESEG_CHECK(z.ndim() == 2, op, ": ", what, " must be 2-D (N, C), got ", z.shape().str());
  LESEG_CHECK(z.dtype() == DType::f32 || z.dtype() == DType::f64 || is_half(z.dtype()), op, ": ", what,
              " must be f32, f64, f16 or bf16, got ", dtype_name(z.dtype()));
}
void check_same(const Tensor& a, const Tensor& b, const char* op) {
  LESEG_CHECK(b.defined(), op, ": second input is undefined");
  LESEG_CHECK(a.shape() == b.shape(), op, ": shapes differ: ", a.shape().str(), " vs ", b.shape().str());
  LESEG_CHECK(a.dtype() == b.dtype(), op, ": dtypes differ: ", dtype_name(a.dtype()), " vs ", dtype_name(b.dtype()));
  LESEG_CHECK(a.device() == b.device(), op, ": devices differ: ", a.device().str(), " vs ", b.device().str());
}
Tensor check_labels(const Tensor& y, const Tensor& z, const char* op) {
  LESEG_CHECK(y.defined(), op, ": labels are undefined");
  LESEG_CHECK(y.dtype() == DType::i64 || y.dtype() == DType::i32, op, ": labels must be i64 or i32, got ",
              dtype_name(y.dtype()));
  LESEG_CHECK(y.ndim() == 1 && y.size(0) == z.size(0), op, ": labels must be (N,) = (", z.size(0), ",), got ",
              y.shape().str());
  LESEG_CHECK(y.device() == z.device(), op, ": labels on ", y.device().str(), ", logits on ", z.device().str());
  return y.dtype() == DType::i64 ? y : y.to(DType::i64);
}

// Deterministic mode (engine/determinism.h): the CUDA losses' fixed-order two-pass accumulation needs a partials
// buffer (kernels/losses/losses.h); otherwise nullptr (one double atomic per block). The temporary lives until the
// end of the kernel call's full expression; its block returns to the caching allocator stream-ordered.
struct LossPartials {
  Tensor t;
  double* get() const { return t.defined() ? t.data<double>() : nullptr; }
};
[[maybe_unused]] LossPartials loss_partials(Device d) {
  return deterministic() ? LossPartials{Tensor::empty(Shape{kernels::kLossPartials}, DType::f64, d)} : LossPartials{};
}
// Allocates d when `need`, else returns an undefined tensor (the kernel gets nullptr).
Tensor grad_buffer(const Tensor& like, bool need) { return need ? empty_like(like) : Tensor(); }
template <class T>
T* ptr_or_null(const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; }

// The scalar loss, in param_dtype(t) (f32 for half logits).
Tensor finalize(const Tensor& acc, int num, int den, double scale, DType logits_dtype, Device d) {
  const DType t = param_dtype(logits_dtype);
  Tensor loss = Tensor::empty(Shape{}, t, d);
  LESEG_DISPATCH_FLOAT(t, "loss_finalize", {
    LESEG_DISPATCH_DEVICE(d, "loss_finalize",
                          kernels::loss_finalize_cpu<scalar_t>(acc.data<double>(), num, den, scale, loss.data<scalar_t>()),
                          kernels::loss_finalize_cuda<scalar_t>(acc.data<double>(), num, den, scale,
                                                                loss.data<scalar_t>(), current_stream(d)));
  });
  return loss;
}

// The incoming scalar gradient in the kernels' parameter dtype for gradients of dtype `t`.
Tensor grad_param(const Tensor& g, DType t) { return g.dtype() == param_dtype(t) ? g : g.to(param_dtype(t)); }

// d · g / acc[den] · scale (g: incoming scalar gradient), in d's dtype.
Tensor scale_grad(const Tensor& d, const Tensor& g, const Tensor& acc, int den, double scale) {
  Tensor out = empty_like(d);
  Tensor gg = grad_param(g, d.dtype());
  const Device dev = d.device();
  LESEG_DISPATCH_FLOAT_HALF(d.dtype(), "loss_grad_scale", {
    LESEG_DISPATCH_DEVICE(dev, "loss_grad_scale",
                          kernels::loss_grad_scale_cpu<scalar_t>(d.data<scalar_t>(), d.numel(),
                                                                 gg.data<P<scalar_t>>(), acc.data<double>(), den,
                                                                 scale, out.data<scalar_t>()),
                          kernels::loss_grad_scale_cuda<scalar_t>(d.data<scalar_t>(), d.numel(),
                                                                  gg.data<P<scalar_t>>(), acc.data<double>(), den,
                                                                  scale, out.data<scalar_t>(), current_stream(dev)));
  });
  return out;
}

bool wants_grad(const Tensor& t) { return grad_enabled() && needs_grad(t); }

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& labels, const CrossEntropyOptions& o) {
  check_logits(logits, "cross_entropy");
  Tensor y = check_labels(labels, logits, "cross_entropy");
  const int64_t N = logits.size(0), C = logits.size(1);
  const Tensor& w = o.class_weights;
  if (w.defined()) {
    LESEG_CHECK(w.ndim() == 1 && w.size(0) == C, "cross_entropy: class_weights must be (C,) = (", C, ",), got ",
                w.shape().str());
    LESEG_CHECK(w.dtype() == logits.dtype() || (is_half(logits.dtype()) && w.dtype() == DType::f32),
                "cross_entropy: class_weights dtype ", dtype_name(w.dtype()), " must match the logits' (",
                dtype_name(logits.dtype()), "; f32 also accepted for half logits)");
    LESEG_CHECK(w.device() == logits.device(), "cross_entropy: class_weights on ", w.device().str(), ", logits on ",
                logits.device().str());
  }
  // Half logits take f32 weights (kernels::loss_param_t); the weights are not differentiated.
  const Tensor wk = w.defined() ? w.detach().to(param_dtype(logits.dtype())) : Tensor();
  LESEG_CHECK(o.label_smoothing >= 0.0 && o.label_smoothing <= 1.0, "cross_entropy: label_smoothing ",
              o.label_smoothing, " outside [0, 1]");
  const Device dev = logits.device();
  Tensor acc = Tensor::empty(Shape{2}, DType::f64, dev);
  Tensor dz = grad_buffer(logits, wants_grad(logits));
  LESEG_DISPATCH_FLOAT_HALF(logits.dtype(), "cross_entropy", {
    const P<scalar_t>* wp = ptr_or_null<P<scalar_t>>(wk);
    LESEG_DISPATCH_DEVICE(dev, "cross_entropy",
                          kernels::cross_entropy_cpu<scalar_t>(logits.data<scalar_t>(), y.data<int64_t>(), wp, N, C,
                                                               o.ignore_index, o.label_smoothing,
                                                               ptr_or_null<scalar_t>(dz), acc.data<double>()),
                          kernels::cross_entropy_cuda<scalar_t>(logits.data<scalar_t>(), y.data<int64_t>(), wp, N, C,
                                                                o.ignore_index, o.label_smoothing,
                                                                ptr_or_null<scalar_t>(dz), acc.data<double>(),
                                                                current_stream(dev), kernels::LossVariant::Auto,
                                                          loss_partials(dev).get()));
  });
  Tensor loss = finalize(acc, 0, 1, 1.0, logits.dtype(), dev);
  return record("cross_entropy", {logits}, loss, [dz, acc](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{scale_grad(dz, g[0], acc, 1, 1.0)};
  });
}

Tensor soft_cross_entropy(const Tensor& logits, const Tensor& target, bool stop_grad_target) {
  check_logits(logits, "soft_cross_entropy");
  check_same(logits, target, "soft_cross_entropy");
  const int64_t N = logits.size(0), C = logits.size(1);
  const Device dev = logits.device();
  Tensor acc = Tensor::empty(Shape{2}, DType::f64, dev);
  Tensor dz = grad_buffer(logits, wants_grad(logits));
  Tensor dp = grad_buffer(target, !stop_grad_target && wants_grad(target));
  LESEG_DISPATCH_FLOAT_HALF(logits.dtype(), "soft_cross_entropy", {
    LESEG_DISPATCH_DEVICE(dev, "soft_cross_entropy",
                          kernels::soft_cross_entropy_cpu<scalar_t>(logits.data<scalar_t>(), target.data<scalar_t>(), N,
                                                                    C, ptr_or_null<scalar_t>(dz),
                                                                    ptr_or_null<scalar_t>(dp), acc.data<double>()),
                          kernels::soft_cross_entropy_cuda<scalar_t>(logits.data<scalar_t>(), target.data<scalar_t>(),
                                                                     N, C, ptr_or_null<scalar_t>(dz),
                                                                     ptr_or_null<scalar_t>(dp), acc.data<double>(),
                                                                     current_stream(dev), kernels::LossVariant::Auto,
                                                          loss_partials(dev).get()));
  });
  Tensor loss = finalize(acc, 0, 1, 1.0, logits.dtype(), dev);
  std::vector<Tensor> ins{logits};
  if (!stop_grad_target) ins.push_back(target);
  return record("soft_cross_entropy", ins, loss, [dz, dp, acc, stop_grad_target](const std::vector<Tensor>& g) {
    std::vector<Tensor> r{dz.defined() ? scale_grad(dz, g[0], acc, 1, 1.0) : Tensor()};
    if (!stop_grad_target) r.push_back(dp.defined() ? scale_grad(dp, g[0], acc, 1, 1.0) : Tensor());
    return r;
  });
}

Tensor entropy(const Tensor& logits) {
  check_logits(logits, "entropy");
  const int64_t N = logits.size(0), C = logits.size(1);
  const Device dev = logits.device();
  Tensor acc = Tensor::empty(Shape{2}, DType::f64, dev);
  Tensor dz = grad_buffer(logits, wants_grad(logits));
  LESEG_DISPATCH_FLOAT_HALF(logits.dtype(), "entropy", {
    LESEG_DISPATCH_DEVICE(dev, "entropy",
                          kernels::entropy_cpu<scalar_t>(logits.data<scalar_t>(), N, C, ptr_or_null<scalar_t>(dz),
                                                         acc.data<double>()),
                          kernels::entropy_cuda<scalar_t>(logits.data<scalar_t>(), N, C, ptr_or_null<scalar_t>(dz),
                                                          acc.data<double>(), current_stream(dev), kernels::LossVariant::Auto,
                                                          loss_partials(dev).get()));
  });
  Tensor loss = finalize(acc, 0, 1, 1.0, logits.dtype(), dev);
  return record("entropy", {logits}, loss, [dz, acc](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{scale_grad(dz, g[0], acc, 1, 1.0)};
  });
}

Tensor kl_div(const Tensor& logits_p, const Tensor& logits_q, double temperature, KLDirection direction,
              KLReduction reduction) {
  check_logits(logits_p, "kl_div", "logits_p");
  check_same(logits_p, logits_q, "kl_div");
  LESEG_CHECK(temperature > 0.0, "kl_div: temperature ", temperature, " must be > 0");
  const int64_t N = logits_p.size(0), C = logits_p.size(1);
  const Device dev = logits_p.device();
  // The kernel computes KL(first ‖ second).
  const Tensor& a = direction == KLDirection::PQ ? logits_p : logits_q;
  const Tensor& b = direction == KLDirection::PQ ? logits_q : logits_p;
  Tensor acc = Tensor::empty(Shape{2}, DType::f64, dev);
  Tensor da = grad_buffer(a, wants_grad(a)), db = grad_buffer(b, wants_grad(b));
  LESEG_DISPATCH_FLOAT_HALF(a.dtype(), "kl_div", {
    LESEG_DISPATCH_DEVICE(dev, "kl_div",
                          kernels::kl_div_cpu<scalar_t>(a.data<scalar_t>(), b.data<scalar_t>(), N, C, temperature,
                                                        ptr_or_null<scalar_t>(da), ptr_or_null<scalar_t>(db),
                                                        acc.data<double>()),
                          kernels::kl_div_cuda<scalar_t>(a.data<scalar_t>(), b.data<scalar_t>(), N, C, temperature,
                                                         ptr_or_null<scalar_t>(da), ptr_or_null<scalar_t>(db),
                                                         acc.data<double>(), current_stream(dev), kernels::LossVariant::Auto,
                                                          loss_partials(dev).get()));
  });
  // acc[0] / acc[1] = Σ/N; Sum multiplies back by N, Mean divides by C.
  const double scale = reduction == KLReduction::BatchMean ? 1.0
                       : reduction == KLReduction::Sum     ? double(N)
                                                           : (C > 0 ? 1.0 / double(C) : 0.0);
  Tensor loss = finalize(acc, 0, 1, scale, a.dtype(), dev);
  const bool pq = direction == KLDirection::PQ;
  return record("kl_div", {logits_p, logits_q}, loss, [da, db, acc, scale, pq](const std::vector<Tensor>& g) {
    Tensor ga = da.defined() ? scale_grad(da, g[0], acc, 1, scale) : Tensor();
    Tensor gb = db.defined() ? scale_grad(db, g[0], acc, 1, scale) : Tensor();
    return pq ? std::vector<Tensor>{ga, gb} : std::vector<Tensor>{gb, ga};
  });
}

Tensor negative_learning(const Tensor& logits, const Tensor& labels, int64_t ignore_index) {
  check_logits(logits, "negative_learning");
  Tensor y = check_labels(labels, logits, "negative_learning");
  const int64_t N = logits.size(0), C = logits.size(1);
  LESEG_CHECK(C >= 2, "negative_learning: needs C >= 2 classes, logits are ", logits.shape().str());
  const Device dev = logits.device();
  Tensor acc = Tensor::empty(Shape{2}, DType::f64, dev);
  Tensor dz = grad_buffer(logits, wants_grad(logits));
  LESEG_DISPATCH_FLOAT_HALF(logits.dtype(), "negative_learning", {
    LESEG_DISPATCH_DEVICE(dev, "negative_learning",
                          kernels::negative_learning_cpu<scalar_t>(logits.data<scalar_t>(), y.data<int64_t>(), N, C,
                                                                   ignore_index, ptr_or_null<scalar_t>(dz),
                                                                   acc.data<double>()),
                          kernels::negative_learning_cuda<scalar_t>(logits.data<scalar_t>(), y.data<int64_t>(), N, C,
                                                                    ignore_index, ptr_or_null<scalar_t>(dz),
                                                                    acc.data<double>(), current_stream(dev), kernels::LossVariant::Auto,
                                                          loss_partials(dev).get()));
  });
  Tensor loss = finalize(acc, 0, 1, 1.0, logits.dtype(), dev);
  return record("negative_learning", {logits}, loss, [dz, acc](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{scale_grad(dz, g[0], acc, 1, 1.0)};
  });
}

ConfidenceSplit confidence_split(const Tensor& student, const Tensor& teacher, double tau) {
  check_logits(student, "confidence_split", "student_logits");
  check_same(student, teacher, "confidence_split");
  const int64_t N = student.size(0), C = student.size(1);
  LESEG_CHECK(C >= 2, "confidence_split: needs C >= 2 classes, logits are ", student.shape().str());
  const Device dev = student.device();
  Tensor acc = Tensor::empty(Shape{4}, DType::f64, dev);
  Tensor rel = Tensor::empty(Shape{N}, DType::u8, dev), pseudo = Tensor::empty(Shape{N}, DType::i64, dev);
  Tensor dz = grad_buffer(student, wants_grad(student));
  LESEG_DISPATCH_FLOAT_HALF(student.dtype(), "confidence_split", {
    LESEG_DISPATCH_DEVICE(dev, "confidence_split",
                          kernels::confidence_split_cpu<scalar_t>(student.data<scalar_t>(), teacher.data<scalar_t>(), N,
                                                                  C, tau, rel.data<uint8_t>(), pseudo.data<int64_t>(),
                                                                  ptr_or_null<scalar_t>(dz), acc.data<double>()),
                          kernels::confidence_split_cuda<scalar_t>(student.data<scalar_t>(), teacher.data<scalar_t>(),
                                                                   N, C, tau, rel.data<uint8_t>(),
                                                                   pseudo.data<int64_t>(), ptr_or_null<scalar_t>(dz),
                                                                   acc.data<double>(), current_stream(dev), kernels::LossVariant::Auto,
                                                          loss_partials(dev).get()));
  });
  ConfidenceSplit r;
  r.loss_ce = finalize(acc, 0, 1, 1.0, student.dtype(), dev);
  r.loss_nl = finalize(acc, 2, 3, 1.0, student.dtype(), dev);
  r.reliable = rel;
  r.pseudo_labels = pseudo;
  record("confidence_split", {student}, {r.loss_ce, r.loss_nl}, [dz, acc, rel](const std::vector<Tensor>& g) {
    Tensor out = empty_like(dz);
    const int64_t n = dz.size(0), c = dz.size(1);
    const Device d = dz.device();
    Tensor gce = grad_param(g[0], dz.dtype()), gnl = grad_param(g[1], dz.dtype());
    LESEG_DISPATCH_FLOAT_HALF(dz.dtype(), "confidence_split_grad", {
      LESEG_DISPATCH_DEVICE(d, "confidence_split_grad",
                            kernels::confidence_split_grad_cpu<scalar_t>(dz.data<scalar_t>(), rel.data<uint8_t>(), n, c,
                                                                         gce.data<P<scalar_t>>(),
                                                                         gnl.data<P<scalar_t>>(), acc.data<double>(),
                                                                         out.data<scalar_t>()),
                            kernels::confidence_split_grad_cuda<scalar_t>(dz.data<scalar_t>(), rel.data<uint8_t>(), n,
                                                                          c, gce.data<P<scalar_t>>(),
                                                                          gnl.data<P<scalar_t>>(), acc.data<double>(),
                                                                          out.data<scalar_t>(), current_stream(d)));
    });
    return std::vector<Tensor>{out};
  });
  return r;
}

Tensor cosine_embedding_loss(const Tensor& a, const Tensor& b) {
  check_logits(a, "cosine_embedding_loss", "a");
  check_same(a, b, "cosine_embedding_loss");
  const int64_t N = a.size(0), D = a.size(1);
  const Device dev = a.device();
  Tensor acc = Tensor::empty(Shape{2}, DType::f64, dev);
  Tensor da = grad_buffer(a, wants_grad(a)), db = grad_buffer(b, wants_grad(b));
  LESEG_DISPATCH_FLOAT_HALF(a.dtype(), "cosine_embedding_loss", {
    LESEG_DISPATCH_DEVICE(dev, "cosine_embedding_loss",
                          kernels::cosine_embedding_cpu<scalar_t>(a.data<scalar_t>(), b.data<scalar_t>(), N, D,
                                                                  ptr_or_null<scalar_t>(da), ptr_or_null<scalar_t>(db),
                                                                  acc.data<double>()),
                          kernels::cosine_embedding_cuda<scalar_t>(a.data<scalar_t>(), b.data<scalar_t>(), N, D,
                                                                   ptr_or_null<scalar_t>(da),
                                                                   ptr_or_null<scalar_t>(db), acc.data<double>(),
                                                                   current_stream(dev), kernels::LossVariant::Auto,
                                                          loss_partials(dev).get()));
  });
  Tensor loss = finalize(acc, 0, 1, 1.0, a.dtype(), dev);
  return record("cosine_embedding_loss", {a, b}, loss, [da, db, acc](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{da.defined() ? scale_grad(da, g[0], acc, 1, 1.0) : Tensor(),
                               db.defined() ? scale_grad(db, g[0], acc, 1, 1.0) : Tensor()};
  });
}

Tensor mse_loss(const Tensor& a, const Tensor& b) {
  LESEG_CHECK(a.defined(), "mse_loss: a is undefined");
  LESEG_CHECK(a.dtype() == DType::f32 || a.dtype() == DType::f64 || is_half(a.dtype()),
              "mse_loss: dtype must be f32, f64, f16 or bf16, got ", dtype_name(a.dtype()));
  check_same(a, b, "mse_loss");
  const Device dev = a.device();
  Tensor acc = Tensor::empty(Shape{2}, DType::f64, dev);
  Tensor da = grad_buffer(a, wants_grad(a) || wants_grad(b));
  LESEG_DISPATCH_FLOAT_HALF(a.dtype(), "mse_loss", {
    LESEG_DISPATCH_DEVICE(dev, "mse_loss",
                          kernels::mse_cpu<scalar_t>(a.data<scalar_t>(), b.data<scalar_t>(), a.numel(),
                                                     ptr_or_null<scalar_t>(da), acc.data<double>()),
                          kernels::mse_cuda<scalar_t>(a.data<scalar_t>(), b.data<scalar_t>(), a.numel(),
                                                      ptr_or_null<scalar_t>(da), acc.data<double>(),
                                                      current_stream(dev), loss_partials(dev).get()));
  });
  Tensor loss = finalize(acc, 0, 1, 1.0, a.dtype(), dev);
  const bool ga = wants_grad(a), gb = wants_grad(b);
  return record("mse_loss", {a, b}, loss, [da, acc, ga, gb](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{ga ? scale_grad(da, g[0], acc, 1, 1.0) : Tensor(),
                               gb ? scale_grad(da, g[0], acc, 1, -1.0) : Tensor()};
  });
}

}  // namespace leseg
