// SPDX-License-Identifier: Apache-2.0
#include "engine/ops/shape_ops.h"

#include "kernels/segment/segment_sorted.h"

#include <numeric>

#include "engine/autograd.h"
#include "engine/ops/autocast.h"
#include "engine/ops/linalg.h"
#include "kernels/concat/concat.h"
#include "kernels/device_error/device_error.h"
#include "kernels/index/index.h"

namespace leseg {

namespace {

void copy_rows(const Tensor& src, const Tensor& dst, const kernels::CopyRows& p) {
  Device d = dst.device();
  LESEG_DISPATCH_ALL(dst.dtype(), "concat", {
    LESEG_DISPATCH_DEVICE(d, "concat", kernels::copy_rows_cpu<scalar_t>(src.data<scalar_t>(), dst.data<scalar_t>(), p),
                          kernels::copy_rows_cuda<scalar_t>(src.data<scalar_t>(), dst.data<scalar_t>(), p,
                                                            current_stream(d)));
  });
}

// Pieces of `x` along dim d with the given sizes (no autograd).
std::vector<Tensor> split_raw(const Tensor& x, const std::vector<int64_t>& sizes, int d) {
  const int64_t outer = x.shape().prod(0, d), inner = x.shape().prod(d + 1, x.ndim());
  const int64_t total = x.shape()[d];
  std::vector<Tensor> outs;
  int64_t off = 0;
  for (int64_t s : sizes) {
    Shape sh = x.shape();
    sh[d] = s;
    Tensor o = Tensor::empty(sh, x.dtype(), x.device());
    kernels::CopyRows p{outer, s * inner, total * inner, off * inner, s * inner, 0};
    if (o.numel() > 0) copy_rows(x, o, p);
    outs.push_back(o);
    off += s;
  }
  return outs;
}

Tensor concat_raw(const std::vector<Tensor>& xs, int d) {
  Shape sh = xs[0].shape();
  int64_t total = 0;
  for (const auto& x : xs) total += x.shape()[d];
  sh[d] = total;
  Tensor out = Tensor::empty(sh, xs[0].dtype(), xs[0].device());
  const int64_t outer = sh.prod(0, d), inner = sh.prod(d + 1, sh.ndim());
  int64_t off = 0;
  for (const auto& x : xs) {
    const int64_t s = x.shape()[d];
    kernels::CopyRows p{outer, s * inner, s * inner, 0, total * inner, off * inner};
    if (x.numel() > 0) copy_rows(x, out, p);
    off += s;
  }
  return out;
}

template <class I>
void check_indices_typed(const char* op, const Tensor& idx, int64_t R) {
  const int64_t n = idx.numel();
  int64_t bad = n;
  Device d = idx.device();
  // CUDA: no host read. The check records an offender in the device's error slot (the op, position and value), which
  // check_device_errors reads once per step; the kernels treat the row as absent meanwhile (kernels/index/index.h).
  LESEG_DISPATCH_DEVICE(d, op, bad = kernels::index_first_bad_cpu<I>(idx.data<I>(), n, R), {
    const auto code = std::string_view(op) == "index_add" ? kernels::DeviceErrorCode::IndexAdd
                                                          : kernels::DeviceErrorCode::IndexSelect;
    kernels::index_check_cuda<I>(idx.data<I>(), n, R, int32_t(code), current_stream(d));
  });
  if (bad < n) {
    const int64_t v = int64_t(idx.reshape(Shape{n}).narrow(bad, 1).to_vector<I>()[0]);
    LESEG_FAIL(op, ": index ", v, " at position ", bad, " is out of range [0, ", R, ")");
  }
}

void check_indices(const char* op, const Tensor& idx, int64_t R, Device dev) {
  LESEG_CHECK(idx.defined(), op, ": undefined index tensor");
  LESEG_CHECK(idx.dtype() == DType::i32 || idx.dtype() == DType::i64, op, ": index dtype ", dtype_name(idx.dtype()),
              " not supported (i32, i64)");
  LESEG_CHECK(idx.device() == dev, op, ": index on ", idx.device().str(), ", data on ", dev.str());
  if (idx.numel() == 0) return;
  LESEG_DISPATCH_INDEX(idx.dtype(), op, { check_indices_typed<scalar_t>(op, idx, R); });
}

// out (R, D) += rows of src (n, D) at idx (n): atomics on CUDA unless deterministic().
void index_add_rows(const Tensor& out, const Tensor& idx, const Tensor& src, int64_t R, int64_t D) {
  const int64_t n = idx.numel();
  if (n == 0 || D == 0 || R == 0) return;  // R = 0: every index is out of range (recorded by check_indices)
  Device d = out.device();
  if (d.is_cuda() && deterministic()) {
    // CSR built on the device (kernels/segment/segment_sorted.h: a stable radix sort by target row, run starts by
    // binary search; no host read): sources grouped by target row in increasing position, the CPU twin's order.
    // Out-of-range indices are left out (check_indices recorded them for check_device_errors).
    auto on_cuda = [&] {
#if LESEG_WITH_CUDA
      const Tensor idx64 = idx.dtype() == DType::i64 ? idx : idx.to(DType::i64);
      const size_t bytes = kernels::segment_sorted_cuda_workspace_bytes(n, R);
      Tensor ws = Tensor::empty(Shape{int64_t(bytes / 8 + 1)}, DType::f64, d);
      const int64_t *order = nullptr, *row_ptr = nullptr;
      kernels::segment_csr_cuda(idx64.data<int64_t>(), n, R, ws.data_ptr(), ws.nbytes(), &order, &row_ptr,
                                current_stream(d));
      LESEG_DISPATCH_FLOAT(out.dtype(), "index_add", {
        kernels::index_add_rows_csr_cuda<scalar_t>(out.data<scalar_t>(), R, D, row_ptr, order,
                                                   src.data<scalar_t>(), current_stream(d));
      });
#endif
    };
    (void)on_cuda;
    LESEG_DISPATCH_DEVICE(d, "index_add", LESEG_FAIL("index_add: CSR path is CUDA-only"), on_cuda());
    return;
  }
  LESEG_DISPATCH_FLOAT(out.dtype(), "index_add", {
    using T = scalar_t;
    LESEG_DISPATCH_INDEX(idx.dtype(), "index_add", {
      LESEG_DISPATCH_DEVICE(d, "index_add",
                            (kernels::index_add_rows_cpu<T, scalar_t>(out.data<T>(), R, D, idx.data<scalar_t>(), n,
                                                                      src.data<T>())),
                            (kernels::index_add_rows_cuda<T, scalar_t>(out.data<T>(), R, D, idx.data<scalar_t>(), n,
                                                                       src.data<T>(), current_stream(d))));
    });
  });
}

// rows of x (R, D) at idx -> (n, D) (indices already checked).
Tensor select_rows(const Tensor& x, const Tensor& idx, int64_t R, int64_t D) {
  const int64_t n = idx.numel();
  Tensor out = Tensor::empty(Shape{n, D}, x.dtype(), x.device());
  if (n == 0 || D == 0) return out;
  Device d = x.device();
  LESEG_DISPATCH_ALL(x.dtype(), "index_select", {
    using T = scalar_t;
    LESEG_DISPATCH_INDEX(idx.dtype(), "index_select", {
      LESEG_DISPATCH_DEVICE(d, "index_select",
                            (kernels::index_select_rows_cpu<T, scalar_t>(x.data<T>(), R, D, idx.data<scalar_t>(), n,
                                                                         out.data<T>())),
                            (kernels::index_select_rows_cuda<T, scalar_t>(x.data<T>(), R, D, idx.data<scalar_t>(), n,
                                                                          out.data<T>(), current_stream(d))));
    });
  });
  return out;
}

// scatter-add of g (n, D) rows into zeros (R, D).
Tensor scatter_rows(const Tensor& g, const Tensor& idx, int64_t R, int64_t D) {
  Tensor out = Tensor::zeros(Shape{R, D}, g.dtype(), g.device());
  index_add_rows(out, idx, g, R, D);
  return out;
}

void check_float(const char* op, const Tensor& x) {
  LESEG_CHECK(x.defined(), op, ": undefined input");
  LESEG_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64, op, ": dtype ", dtype_name(x.dtype()),
              " not supported (f32, f64)");
}
}  // namespace

Tensor concat(const std::vector<Tensor>& xs, int dim) {
  LESEG_CHECK(!xs.empty(), "concat: no tensors");
  {  // f16/bf16 inputs: same half dtype -> that dtype (exact copies); mixed with f32 -> f32
    bool any_half = false, all_eligible = true, same = true;
    for (const Tensor& x : xs) {
      LESEG_CHECK(x.defined(), "concat: undefined input");
      any_half |= is_half_dtype(x.dtype());
      all_eligible &= autocast_eligible(x.dtype());
      same &= x.dtype() == xs[0].dtype();
    }
    if (any_half && all_eligible) {
      std::vector<Tensor> up;
      for (const Tensor& x : xs) up.push_back(upcast(x));
      return store_as(concat(up, dim), same ? xs[0].dtype() : DType::f32);
    }
  }
  LESEG_CHECK(xs[0].defined() && xs[0].ndim() >= 1, "concat: inputs need at least one dim");
  const int d = xs[0].shape().norm_dim(dim);
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    LESEG_CHECK(x.defined(), "concat: input ", i, " is undefined");
    LESEG_CHECK(x.dtype() == xs[0].dtype() && x.device() == xs[0].device(), "concat: input ", i, " is ",
                dtype_name(x.dtype()), " on ", x.device().str(), ", input 0 is ", dtype_name(xs[0].dtype()), " on ",
                xs[0].device().str());
    bool ok = x.ndim() == xs[0].ndim();
    for (int k = 0; ok && k < x.ndim(); ++k) ok = k == d || x.shape()[k] == xs[0].shape()[k];
    LESEG_CHECK(ok, "concat: input ", i, " has shape ", x.shape().str(), ", incompatible with ", xs[0].shape().str(),
                " along dim ", d);
    sizes.push_back(x.shape()[d]);
  }
  Tensor out = concat_raw(xs, d);
  return record("concat", xs, out, [sizes, d](const std::vector<Tensor>& g) { return split_raw(g[0], sizes, d); });
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int dim) {
  LESEG_CHECK(x.defined() && x.ndim() >= 1, "split: input needs at least one dim");
  const int d = x.shape().norm_dim(dim);
  int64_t total = 0;
  for (int64_t s : sizes) {
    LESEG_CHECK(s >= 0, "split: negative size ", s);
    total += s;
  }
  LESEG_CHECK(!sizes.empty() && total == x.shape()[d], "split: sizes sum to ", total, " but dim ", d, " of ",
              x.shape().str(), " has ", x.shape()[d]);
  std::vector<Tensor> outs = split_raw(x, sizes, d);
  record("split", {x}, outs, [d](const std::vector<Tensor>& g) { return std::vector<Tensor>{concat_raw(g, d)}; });
  return outs;
}

Tensor index_select(const Tensor& x, int dim, const Tensor& idx) {
  if (x.defined() && is_half_dtype(x.dtype())) return store_as(index_select(upcast(x), dim, idx), x.dtype());  // exact
  LESEG_CHECK(x.defined() && x.ndim() >= 1, "index_select: input needs at least one dim");
  const int d = x.shape().norm_dim(dim);
  if (d != 0) return transpose(index_select(transpose(x, 0, d), 0, idx), 0, d);
  LESEG_CHECK(idx.defined() && idx.ndim() == 1, "index_select: index must be 1-D, got ",
              idx.defined() ? idx.shape().str() : "undefined");
  const int64_t R = x.size(0), D = R > 0 ? x.numel() / R : x.shape().prod(1, x.ndim());
  check_indices("index_select", idx, R, x.device());
  Shape out_shape = x.shape();
  out_shape[0] = idx.numel();
  Tensor out = select_rows(x, idx, R, D).reshape(out_shape);
  Shape x_shape = x.shape();
  return record("index_select", {x}, out, [idx, R, D, x_shape](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{scatter_rows(g[0], idx, R, D).reshape(x_shape)};
  });
}

Tensor index_add(const Tensor& x, const Tensor& idx, const Tensor& src) {
  check_float("index_add", x);
  check_float("index_add", src);
  LESEG_CHECK(x.ndim() >= 1 && idx.defined() && idx.ndim() == 1, "index_add: x needs a dim and idx must be 1-D");
  LESEG_CHECK(src.dtype() == x.dtype() && src.device() == x.device(), "index_add: src is ", dtype_name(src.dtype()),
              " on ", src.device().str(), ", x is ", dtype_name(x.dtype()), " on ", x.device().str());
  Shape expect = x.shape();
  expect[0] = idx.numel();
  LESEG_CHECK(src.shape() == expect, "index_add: src shape ", src.shape().str(), " must be ", expect.str(),
              " (x ", x.shape().str(), ", ", idx.numel(), " indices)");
  const int64_t R = x.size(0), D = x.shape().prod(1, x.ndim());
  check_indices("index_add", idx, R, x.device());
  Tensor out = x.detach().clone();
  index_add_rows(out, idx, src, R, D);
  Shape src_shape = src.shape();
  return record("index_add", {x, src}, out, [idx, R, D, src_shape](const std::vector<Tensor>& g) {
    Tensor gs = select_rows(g[0].reshape(Shape{R, D}), idx, R, D).reshape(src_shape);
    return std::vector<Tensor>{g[0], gs};
  });
}

Tensor scatter_add(int64_t n_rows, const Tensor& idx, const Tensor& src) {
  check_float("scatter_add", src);
  LESEG_CHECK(n_rows >= 0 && src.ndim() >= 1, "scatter_add: needs n_rows >= 0 and src with a dim");
  Shape sh = src.shape();
  sh[0] = n_rows;
  return index_add(Tensor::zeros(sh, src.dtype(), src.device()), idx, src);
}

Tensor embedding(const Tensor& idx, const Tensor& table) {
  check_float("embedding", table);
  LESEG_CHECK(table.ndim() == 2, "embedding: table must be (V, D), got ", table.shape().str());
  LESEG_CHECK(idx.defined(), "embedding: undefined index tensor");
  Shape out_shape = idx.shape();
  out_shape.push_back(table.size(1));
  return index_select(table, 0, idx.reshape(Shape{idx.numel()})).reshape(out_shape);
}

}  // namespace leseg
