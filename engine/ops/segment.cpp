// SPDX-License-Identifier: Apache-2.0
// Engine ops for segment reductions and voting: validate, call kernels/segment for the device, record
// backward closures (sum ↔ gather are each other's adjoint; mean scales by 1/count; max routes to argmax).
#include "engine/ops/segment.h"

#include "engine/autograd.h"
#include "engine/determinism.h"
#include "kernels/segment/segment_sorted.h"

namespace leseg {
namespace {

struct Rows {
  int64_t N, C;
};
Rows check_x(const Tensor& x, const char* op) {
  LESEG_CHECK(x.defined(), op, ": x is undefined");
  LESEG_CHECK(x.ndim() == 1 || x.ndim() == 2, op, ": x must be (N,) or (N, C), got ", x.shape().str());
  LESEG_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64, op, ": x must be f32 or f64, got ",
              dtype_name(x.dtype()));
  return {x.size(0), x.ndim() == 2 ? x.size(1) : 1};
}
Tensor check_group(const Tensor& group, int64_t N, Device d, const char* op) {
  LESEG_CHECK(group.defined(), op, ": group is undefined");
  LESEG_CHECK(group.dtype() == DType::i64 || group.dtype() == DType::i32, op, ": group must be i64 or i32, got ",
              dtype_name(group.dtype()));
  LESEG_CHECK(group.ndim() == 1 && group.size(0) == N, op, ": group must be (N,) = (", N, ",), got ",
              group.shape().str());
  LESEG_CHECK(group.device() == d, op, ": group on ", group.device().str(), ", data on ", d.str());
  return group.dtype() == DType::i64 ? group : group.to(DType::i64);
}
Shape out_shape(const Tensor& x, int64_t rows) {
  return x.ndim() == 2 ? Shape{rows, x.size(1)} : Shape{rows};
}
[[maybe_unused]] Tensor byte_workspace(size_t bytes, Device d) { return Tensor::empty(Shape{int64_t(bytes / 8 + 1)}, DType::f64, d); }
Tensor f64_workspace(int64_t n) { return Tensor::empty(Shape{std::max<int64_t>(n, 1)}, DType::f64); }

}  // namespace

CompactIds compact_ids(const Tensor& ids) {
  LESEG_CHECK(ids.defined() && ids.ndim() == 1, "compact_ids: ids must be 1-D");
  LESEG_CHECK(ids.dtype() == DType::i64 || ids.dtype() == DType::i32, "compact_ids: ids must be i64 or i32, got ",
              dtype_name(ids.dtype()));
  const Device dev = ids.device();
  Tensor h = ids.dtype() == DType::i64 ? ids : ids.to(DType::i64);
  const int64_t N = h.size(0);
  Tensor comp = Tensor::empty(Shape{N}, DType::i64, dev), uniq = Tensor::empty(Shape{N}, DType::i64, dev);
  int64_t G = 0;
  auto on_cpu = [&] {
    Tensor ws = Tensor::empty(Shape{N}, DType::i64);
    kernels::segment_compact_cpu(h.data<int64_t>(), N, ws.data<int64_t>(), comp.data<int64_t>(),
                                 uniq.data<int64_t>(), &G);
  };
  auto on_cuda = [&] {
#if LESEG_WITH_CUDA
    const size_t bytes = kernels::segment_compact_workspace_bytes(N);
    Tensor ws = Tensor::empty(Shape{int64_t(bytes / 8 + 1)}, DType::f64, dev);
    Tensor ng = Tensor::empty(Shape{1}, DType::i64, dev);
    kernels::segment_compact_cuda(h.data<int64_t>(), N, ws.data_ptr(), ws.nbytes(), comp.data<int64_t>(),
                                  uniq.data<int64_t>(), ng.data<int64_t>(), current_stream(dev));
    G = ng.item<int64_t>();  // the group count is a host value: one synchronisation
#endif
  };
  (void)on_cuda;
  LESEG_DISPATCH_DEVICE(dev, "compact_ids", on_cpu(), on_cuda());
  CompactIds r;
  r.num_groups = G;
  r.compact = comp;
  r.unique = uniq.narrow(0, G).clone();
  return r;
}

Tensor segment_gather(const Tensor& x, const Tensor& group) {
  LESEG_CHECK(x.defined(), "segment_gather: x is undefined");
  Rows r = check_x(x, "segment_gather");
  LESEG_CHECK(group.defined() && group.ndim() == 1, "segment_gather: group must be 1-D");
  const int64_t N = group.size(0), G = r.N, C = r.C;
  Tensor g = check_group(group, N, x.device(), "segment_gather");
  const Device dev = x.device();
  Tensor out = Tensor::empty(out_shape(x, N), x.dtype(), dev);
  LESEG_DISPATCH_FLOAT(x.dtype(), "segment_gather", {
    LESEG_DISPATCH_DEVICE(dev, "segment_gather",
                          kernels::segment_gather_cpu<scalar_t>(x.data<scalar_t>(), g.data<int64_t>(), N, C, G,
                                                                out.data<scalar_t>()),
                          kernels::segment_gather_cuda<scalar_t>(x.data<scalar_t>(), g.data<int64_t>(), N, C, G,
                                                                 out.data<scalar_t>(), current_stream(dev)));
  });
  return record("segment_gather", {x}, out, [g, G](const std::vector<Tensor>& gr) {
    return std::vector<Tensor>{segment_sum(gr[0], g, G)};
  });
}

Tensor segment_sum(const Tensor& x, const Tensor& group, int64_t G) {
  Rows r = check_x(x, "segment_sum");
  LESEG_CHECK(G >= 0, "segment_sum: G = ", G);
  Tensor g = check_group(group, r.N, x.device(), "segment_sum");
  const Device dev = x.device();
  Tensor out = Tensor::empty(out_shape(x, G), x.dtype(), dev);
  LESEG_DISPATCH_FLOAT(x.dtype(), "segment_sum", {
    LESEG_DISPATCH_DEVICE(dev, "segment_sum",
                          {
                            Tensor ws = f64_workspace(G * r.C);
                            kernels::segment_sum_cpu<scalar_t>(x.data<scalar_t>(), g.data<int64_t>(), r.N, r.C, G,
                                                               ws.data<double>(), out.data<scalar_t>());
                          },
                          {
                            if (deterministic()) {  // sorted runs in the CPU twin's order: no float atomics
                              Tensor ws = byte_workspace(kernels::segment_sorted_cuda_workspace_bytes(r.N, G), dev);
                              kernels::segment_sum_sorted_cuda<scalar_t>(x.data<scalar_t>(), g.data<int64_t>(), r.N,
                                                                         r.C, G, out.data<scalar_t>(), ws.data_ptr(),
                                                                         ws.nbytes(), current_stream(dev));
                            } else {
                              kernels::segment_sum_cuda<scalar_t>(x.data<scalar_t>(), g.data<int64_t>(), r.N, r.C, G,
                                                                  out.data<scalar_t>(), current_stream(dev));
                            }
                          });
  });
  return record("segment_sum", {x}, out, [g](const std::vector<Tensor>& gr) {
    return std::vector<Tensor>{segment_gather(gr[0], g)};
  });
}

Tensor segment_mean(const Tensor& x, const Tensor& group, int64_t G) {
  Rows r = check_x(x, "segment_mean");
  LESEG_CHECK(G >= 0, "segment_mean: G = ", G);
  Tensor g = check_group(group, r.N, x.device(), "segment_mean");
  const Device dev = x.device();
  Tensor out = Tensor::empty(out_shape(x, G), x.dtype(), dev);
  Tensor count = Tensor::empty(Shape{G}, DType::i64, dev);
  LESEG_DISPATCH_FLOAT(x.dtype(), "segment_mean", {
    LESEG_DISPATCH_DEVICE(dev, "segment_mean",
                          {
                            Tensor ws = f64_workspace(G * r.C);
                            kernels::segment_mean_cpu<scalar_t>(x.data<scalar_t>(), g.data<int64_t>(), r.N, r.C, G,
                                                                ws.data<double>(), out.data<scalar_t>(),
                                                                count.data<int64_t>());
                          },
                          {
                            if (deterministic()) {
                              Tensor ws = byte_workspace(kernels::segment_sorted_cuda_workspace_bytes(r.N, G), dev);
                              kernels::segment_mean_sorted_cuda<scalar_t>(x.data<scalar_t>(), g.data<int64_t>(), r.N,
                                                                          r.C, G, out.data<scalar_t>(),
                                                                          count.data<int64_t>(), ws.data_ptr(),
                                                                          ws.nbytes(), current_stream(dev));
                            } else {
                              kernels::segment_mean_cuda<scalar_t>(x.data<scalar_t>(), g.data<int64_t>(), r.N, r.C, G,
                                                                   out.data<scalar_t>(), count.data<int64_t>(),
                                                                   current_stream(dev));
                            }
                          });
  });
  const Shape xs = x.shape();
  return record("segment_mean", {x}, out, [g, count, xs, r, G](const std::vector<Tensor>& gr) {
    const Tensor& d = gr[0];
    Tensor dx = Tensor::empty(xs, d.dtype(), d.device());
    const Device dv = d.device();
    LESEG_DISPATCH_FLOAT(d.dtype(), "segment_mean_backward", {
      LESEG_DISPATCH_DEVICE(dv, "segment_mean_backward",
                            kernels::segment_mean_backward_cpu<scalar_t>(d.data<scalar_t>(), g.data<int64_t>(),
                                                                         count.data<int64_t>(), r.N, r.C, G,
                                                                         dx.data<scalar_t>()),
                            kernels::segment_mean_backward_cuda<scalar_t>(d.data<scalar_t>(), g.data<int64_t>(),
                                                                          count.data<int64_t>(), r.N, r.C, G,
                                                                          dx.data<scalar_t>(), current_stream(dv)));
    });
    return std::vector<Tensor>{dx};
  });
}

Tensor segment_max(const Tensor& x, const Tensor& group, int64_t G) {
  Rows r = check_x(x, "segment_max");
  LESEG_CHECK(G >= 0, "segment_max: G = ", G);
  Tensor g = check_group(group, r.N, x.device(), "segment_max");
  const Device dev = x.device();
  Tensor out = Tensor::empty(out_shape(x, G), x.dtype(), dev);
  Tensor arg = Tensor::empty(Shape{G * r.C}, DType::i64, dev);
  LESEG_DISPATCH_FLOAT(x.dtype(), "segment_max", {
    LESEG_DISPATCH_DEVICE(dev, "segment_max",
                          kernels::segment_max_cpu<scalar_t>(x.data<scalar_t>(), g.data<int64_t>(), r.N, r.C, G,
                                                             out.data<scalar_t>(), arg.data<int64_t>()),
                          kernels::segment_max_cuda<scalar_t>(x.data<scalar_t>(), g.data<int64_t>(), r.N, r.C, G,
                                                              out.data<scalar_t>(), arg.data<int64_t>(),
                                                              current_stream(dev)));
  });
  const Shape xs = x.shape();
  return record("segment_max", {x}, out, [arg, xs, r, G](const std::vector<Tensor>& gr) {
    const Tensor& d = gr[0];
    Tensor dx = Tensor::empty(xs, d.dtype(), d.device());
    const Device dv = d.device();
    LESEG_DISPATCH_FLOAT(d.dtype(), "segment_max_backward", {
      LESEG_DISPATCH_DEVICE(dv, "segment_max_backward",
                            kernels::segment_max_backward_cpu<scalar_t>(d.data<scalar_t>(), arg.data<int64_t>(), r.N,
                                                                        r.C, G, dx.data<scalar_t>()),
                            kernels::segment_max_backward_cuda<scalar_t>(d.data<scalar_t>(), arg.data<int64_t>(), r.N,
                                                                         r.C, G, dx.data<scalar_t>(),
                                                                         current_stream(dv)));
    });
    return std::vector<Tensor>{dx};
  });
}

VoteResult vote_mode(const Tensor& group, const Tensor& labels, int64_t G, int64_t C, int64_t ignore,
                     const Tensor& weights, std::optional<VoteVariant> variant) {
  LESEG_CHECK(group.defined() && group.ndim() == 1, "vote_mode: group must be 1-D (N,)");
  const int64_t N = group.size(0);
  const Device dev = group.device();
  LESEG_CHECK(G >= 0 && C >= 1, "vote_mode: G = ", G, ", C = ", C);
  LESEG_CHECK(C < (int64_t(1) << 31), "vote_mode: C = ", C, " too large");
  Tensor g = check_group(group, N, dev, "vote_mode");
  LESEG_CHECK(labels.defined() && labels.ndim() == 1 && labels.size(0) == N, "vote_mode: labels must be (N,) = (", N,
              ",)");
  LESEG_CHECK(labels.device() == dev, "vote_mode: labels and group on different devices");
  Tensor y = labels.dtype() == DType::i64 ? labels : labels.to(DType::i64);
  Tensor w;
  if (weights.defined()) {
    LESEG_CHECK(weights.ndim() == 1 && weights.size(0) == N && weights.device() == dev,
                "vote_mode: weights must be (N,) on the group's device, got ", weights.shape().str());
    w = weights.dtype() == DType::f32 ? weights : weights.to(DType::f32);
  }
  const float* wp = w.defined() ? w.data<float>() : nullptr;
  VoteResult r;
  r.group_mode = Tensor::empty(Shape{G}, DType::i64, dev);
  r.point_mode = Tensor::empty(Shape{N}, DType::i64, dev);
  NoGradGuard ng;
  auto on_cpu = [&] {
    Tensor ws = f64_workspace(G * C);
    kernels::vote_mode_cpu(g.data<int64_t>(), y.data<int64_t>(), wp, N, G, C, ignore, ws.data<double>(),
                           r.group_mode.data<int64_t>(), r.point_mode.data<int64_t>());
  };
  auto on_cuda = [&] {
#if LESEG_WITH_CUDA
    // Deterministic mode: the sort-reduce variant (stable sort, reduce-by-key, integer atomicMax) instead of the
    // shared histogram's double atomics.
    const VoteVariant v = variant.value_or(
        !deterministic() && size_t(G * C) * 8 <= kernels::kVoteSharedBytes ? VoteVariant::SharedHistogram
                                                                            : VoteVariant::SortReduce);
    const size_t bytes = kernels::vote_mode_workspace_bytes(v, N, G, C);
    Tensor ws = Tensor::empty(Shape{int64_t(bytes / 8 + 1)}, DType::f64, dev);
    kernels::vote_mode_cuda(v, g.data<int64_t>(), y.data<int64_t>(), wp, N, G, C, ignore, ws.data_ptr(), ws.nbytes(),
                            r.group_mode.data<int64_t>(), r.point_mode.data<int64_t>(), current_stream(dev));
#endif
  };
  (void)on_cuda;
  LESEG_DISPATCH_DEVICE(dev, "vote_mode", on_cpu(), on_cuda());
  return r;
}

Tensor soft_vote(const Tensor& probs, const Tensor& group, int64_t G) {
  LESEG_CHECK(probs.defined() && probs.ndim() == 2, "soft_vote: probs must be (N, C)");
  return segment_gather(segment_mean(probs, group, G), group);
}

}  // namespace leseg
