// SPDX-License-Identifier: Apache-2.0
// Reduction ops: shape bookkeeping, kernel dispatch (kernels/reduce), backward closures.
#include "engine/ops/reduce.h"

#include "engine/autograd.h"
#include "engine/ops/autocast.h"
#include "engine/ops/elementwise.h"
#include "kernels/reduce/reduce.h"
#include "kernels/scan/scan.h"

namespace leseg {

namespace {

using kernels::ReduceDims;
using kernels::ReduceOp;
constexpr int kAllDims = -1000;

struct Plan {
  ReduceDims d;
  Shape out_shape;   // what the op returns
  Shape keep_shape;  // same rank as x, reduced dim(s) = 1
};

Plan plan_dim(const Tensor& x, int dim, bool keepdim) {
  LESEG_CHECK(x.ndim() > 0, "reduction over dim ", dim, " of a 0-d tensor ", x.str());
  const int nd = x.shape().norm_dim(dim);
  Plan p;
  p.d = ReduceDims{x.shape().prod(0, nd), x.shape()[nd], x.shape().prod(nd + 1, x.ndim())};
  for (int i = 0; i < x.ndim(); ++i) {
    p.keep_shape.push_back(i == nd ? 1 : x.shape()[i]);
    if (i != nd || keepdim) p.out_shape.push_back(i == nd ? 1 : x.shape()[i]);
  }
  return p;
}
Plan plan_all(const Tensor& x) {
  Plan p;
  p.d = ReduceDims{1, x.numel(), 1};
  for (int i = 0; i < x.ndim(); ++i) p.keep_shape.push_back(1);
  return p;
}

void check_input(const char* name, const Tensor& x) {
  LESEG_CHECK(x.defined(), name, ": undefined input");
  LESEG_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64, name, ": dtype ", dtype_name(x.dtype()),
              " not supported (f32, f64), input ", x.str());
}

// Runs the kernel; returns values (out_shape) and, for max/min, indices.
ValuesIndices run(const char* name, ReduceOp op, const Tensor& x, const Plan& p, int64_t correction = 0) {
  check_input(name, x);
  const Device dev = x.device();
  ValuesIndices r;
  r.values = Tensor::empty(p.out_shape, x.dtype(), dev);
  const bool arg = op == ReduceOp::max || op == ReduceOp::min;
  if (arg) {
    LESEG_CHECK(p.d.r > 0, name, ": reduction over an empty dimension of ", x.str());
    r.indices = Tensor::empty(p.out_shape, DType::i64, dev);
  }
  int64_t* idx = arg ? r.indices.data<int64_t>() : nullptr;
  LESEG_DISPATCH_FLOAT(x.dtype(), name, {
    LESEG_DISPATCH_DEVICE(
        dev, name, kernels::reduce_forward_cpu<scalar_t>(op, x.data<scalar_t>(), r.values.data<scalar_t>(), idx, p.d, correction),
        {
          const size_t ws = kernels::reduce_workspace_bytes_cuda(op, p.d);
          Tensor w = Tensor::empty(Shape{int64_t(ws)}, DType::u8, dev);
          kernels::reduce_forward_cuda<scalar_t>(op, x.data<scalar_t>(), r.values.data<scalar_t>(), idx, p.d, correction,
                                                 ws ? w.data_ptr() : nullptr, ws, current_stream(dev));
        });
  });
  return r;
}

Tensor sum_impl(const char* name, const Tensor& x, const Plan& p, bool is_mean) {
  Tensor out = run(name, is_mean ? ReduceOp::mean : ReduceOp::sum, x, p).values;
  const Shape xs = x.shape(), ks = p.keep_shape;
  const double scale = is_mean ? 1.0 / double(p.d.r) : 1.0;
  return record(name, {x}, out, [xs, ks, scale, is_mean](const std::vector<Tensor>& g) {
    Tensor gx = broadcast_to(g[0].reshape(ks), xs);
    return std::vector<Tensor>{is_mean ? mul(gx, scale) : gx};
  });
}

ValuesIndices arg_impl(const char* name, ReduceOp op, const Tensor& x, const Plan& p) {
  ValuesIndices r = run(name, op, x, p, 0);
  const Shape xs = x.shape();
  const ReduceDims d = p.d;
  Tensor idx = r.indices;
  r.values = record(name, {x}, r.values, [xs, d, idx, name](const std::vector<Tensor>& g) {
    const Tensor& go = g[0];
    Tensor gx = Tensor::empty(xs, go.dtype(), go.device());
    const Device dev = go.device();
    LESEG_DISPATCH_FLOAT(go.dtype(), name, {
      LESEG_DISPATCH_DEVICE(
          dev, name, kernels::reduce_index_backward_cpu<scalar_t>(go.data<scalar_t>(), idx.data<int64_t>(), gx.data<scalar_t>(), d),
          kernels::reduce_index_backward_cuda<scalar_t>(go.data<scalar_t>(), idx.data<int64_t>(), gx.data<scalar_t>(), d,
                                                        current_stream(dev)));
    });
    return std::vector<Tensor>{gx};
  });
  return r;
}

Tensor var_impl(const Tensor& x, const Plan& p, bool unbiased, int dim) {
  const int64_t corr = unbiased ? 1 : 0;
  Tensor out = run("var", ReduceOp::var, x, p, corr).values;
  const Shape xs = x.shape(), ks = p.keep_shape;
  const double den = double(p.d.r - corr);
  SavedTensor sx(x);
  return record("var", {x}, out, [sx, xs, ks, den, dim](const std::vector<Tensor>& g) {
    const Tensor& X = sx.get("var");
    Tensor m = dim == kAllDims ? mean(X).reshape(ks) : mean(X, dim, true);
    Tensor gx = mul(sub(X, m), g[0].reshape(ks));  // broadcasts g over the reduced dim
    return std::vector<Tensor>{mul(gx, 2.0 / den)};
  });
}

}  // namespace

// f16/bf16 inputs: the f32 list (engine/precision.h): upcast, computed and returned in f32.
Tensor sum(const Tensor& x) {
  if (x.defined() && is_half_dtype(x.dtype())) return sum(upcast(x));
  check_input("sum", x);
  return sum_impl("sum", x, plan_all(x), false);
}
Tensor sum(const Tensor& x, int dim, bool keepdim) {
  if (x.defined() && is_half_dtype(x.dtype())) return sum(upcast(x), dim, keepdim);
  check_input("sum", x);
  return sum_impl("sum", x, plan_dim(x, dim, keepdim), false);
}
Tensor mean(const Tensor& x) {
  if (x.defined() && is_half_dtype(x.dtype())) return mean(upcast(x));
  check_input("mean", x);
  return sum_impl("mean", x, plan_all(x), true);
}
Tensor mean(const Tensor& x, int dim, bool keepdim) {
  if (x.defined() && is_half_dtype(x.dtype())) return mean(upcast(x), dim, keepdim);
  check_input("mean", x);
  return sum_impl("mean", x, plan_dim(x, dim, keepdim), true);
}
Tensor max(const Tensor& x) {
  if (x.defined() && is_half_dtype(x.dtype())) return max(upcast(x));
  check_input("max", x);
  return arg_impl("max", ReduceOp::max, x, plan_all(x)).values;
}
ValuesIndices max(const Tensor& x, int dim, bool keepdim) {
  if (x.defined() && is_half_dtype(x.dtype())) return max(upcast(x), dim, keepdim);
  check_input("max", x);
  return arg_impl("max", ReduceOp::max, x, plan_dim(x, dim, keepdim));
}
Tensor min(const Tensor& x) {
  if (x.defined() && is_half_dtype(x.dtype())) return min(upcast(x));
  check_input("min", x);
  return arg_impl("min", ReduceOp::min, x, plan_all(x)).values;
}
ValuesIndices min(const Tensor& x, int dim, bool keepdim) {
  if (x.defined() && is_half_dtype(x.dtype())) return min(upcast(x), dim, keepdim);
  check_input("min", x);
  return arg_impl("min", ReduceOp::min, x, plan_dim(x, dim, keepdim));
}
Tensor var(const Tensor& x, bool unbiased) {
  if (x.defined() && is_half_dtype(x.dtype())) return var(upcast(x), unbiased);
  check_input("var", x);
  return var_impl(x, plan_all(x), unbiased, kAllDims);
}
Tensor var(const Tensor& x, int dim, bool unbiased, bool keepdim) {
  if (x.defined() && is_half_dtype(x.dtype())) return var(upcast(x), dim, unbiased, keepdim);
  check_input("var", x);
  return var_impl(x, plan_dim(x, dim, keepdim), unbiased, x.shape().norm_dim(dim));
}
Tensor argmax(const Tensor& x, int dim, bool keepdim) {
  if (x.defined() && is_half_dtype(x.dtype())) return argmax(upcast(x), dim, keepdim);
  check_input("argmax", x);
  return run("argmax", ReduceOp::max, x, plan_dim(x, dim, keepdim), 0).indices;
}
Tensor argmin(const Tensor& x, int dim, bool keepdim) {
  if (x.defined() && is_half_dtype(x.dtype())) return argmin(upcast(x), dim, keepdim);
  check_input("argmin", x);
  return run("argmin", ReduceOp::min, x, plan_dim(x, dim, keepdim), 0).indices;
}

Tensor cumsum(const Tensor& x, bool exclusive) {
  LESEG_CHECK(x.defined(), "cumsum: undefined input");
  LESEG_CHECK(x.ndim() == 1, "cumsum: input must be 1-D, got ", x.str());
  const DType t = x.dtype();
  LESEG_CHECK(t == DType::u8 || t == DType::b8 || t == DType::i32 || t == DType::i64, "cumsum: dtype ",
              dtype_name(t), " not supported (u8, bool, i32, i64)");
  const Device d = x.device();
  const int64_t n = x.numel();  // storage is row-major contiguous (engine/tensor.h): read x in place
  Tensor out = Tensor::empty(Shape{n}, DType::i64, d);
  if (n == 0) return out;
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* in = static_cast<const T*>(x.data_ptr());
    int64_t* o = out.data<int64_t>();
    auto on_cuda = [&] {
#if LESEG_WITH_CUDA
      const size_t bytes = kernels::cumsum_i64_cuda_workspace_bytes(n);
      Tensor ws = Tensor::empty(Shape{int64_t(bytes / 8 + 1)}, DType::f64, d);
      kernels::cumsum_i64_cuda<T>(in, n, exclusive, o, ws.data_ptr(), ws.nbytes(), current_stream(d));
#endif
    };
    (void)on_cuda;
    LESEG_DISPATCH_DEVICE(d, "cumsum", kernels::cumsum_i64_cpu<T>(in, n, exclusive, o), on_cuda());
  };
  if (t == DType::i32)
    run(int32_t{});
  else if (t == DType::i64)
    run(int64_t{});
  else
    run(uint8_t{});  // u8 and bool: one byte, 0 / 1
  return out;
}

}  // namespace leseg
