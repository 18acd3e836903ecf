// SPDX-License-Identifier: Apache-2.0
#include "engine/ops/conv2d.h"

#include "engine/autograd.h"
#include "engine/ops/autocast.h"
#include "kernels/conv2d/conv2d.h"
#include "kernels/pool2d/pool2d.h"
#include "kernels/resize/resize.h"

namespace leseg {
namespace {

void check_float(const char* op, const Tensor& t, const char* what) {
  LESEG_CHECK(t.defined(), op, ": ", what, " is undefined");
  LESEG_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f64, op, ": ", what, " dtype ", dtype_name(t.dtype()),
              " not supported (f32, f64)");
}

Tensor workspace(size_t bytes, Device d) { return Tensor::empty(Shape{int64_t(bytes)}, DType::u8, d); }

// Planes view of (N, C, H, W) or (C, H, W): (planes, H, W) plus the leading shape to restore.
int64_t planes_of(const char* op, const Tensor& x) {
  check_float(op, x, "input");
  LESEG_CHECK(x.ndim() == 4 || x.ndim() == 3, op, ": input must be (N, C, H, W) or (C, H, W), got ", x.shape().str());
  return x.shape().prod(0, x.ndim() - 2);
}
Shape with_hw(const Tensor& x, int64_t h, int64_t w) {
  Shape s;
  for (int i = 0; i < x.ndim() - 2; ++i) s.push_back(x.shape()[i]);
  s.push_back(h);
  s.push_back(w);
  return s;
}

// ---- conv2d ----
void conv2d_backward_raw(const Tensor& x, const Tensor& w, const Tensor& dy, Tensor* dx, Tensor* dw, Tensor* db,
                         const kernels::Conv2dShape& s) {
  Device d = x.device();
  if (dx) *dx = Tensor::empty(x.shape(), x.dtype(), d);
  if (dw) *dw = Tensor::empty(w.shape(), w.dtype(), d);
  if (db) *db = Tensor::empty(Shape{s.c_out}, w.dtype(), d);
  const bool tf32 = allow_tf32() && x.dtype() == DType::f32;
  const bool round_in = tf32 && d.is_cpu();  // the CPU twin of TF32: the GEMM inputs rounded
  const Tensor xr = round_in ? round_tf32_copy(x) : x, wr = round_in ? round_tf32_copy(w) : w;
  const Tensor dyr = round_in ? round_tf32_copy(dy) : dy;
  LESEG_DISPATCH_FLOAT(x.dtype(), "conv2d", {
    scalar_t* pdx = dx ? dx->data<scalar_t>() : nullptr;
    scalar_t* pdw = dw ? dw->data<scalar_t>() : nullptr;
    scalar_t* pdb = db ? db->data<scalar_t>() : nullptr;
    LESEG_DISPATCH_DEVICE(
        d, "conv2d",
        {
          Tensor ws = workspace(kernels::conv2d_cpu_workspace_bytes<scalar_t>(s), d);
          kernels::conv2d_backward_cpu<scalar_t>(xr.data<scalar_t>(), wr.data<scalar_t>(), dyr.data<scalar_t>(), pdx,
                                                 pdw, pdb, s, ws.data_ptr());
        },
        {
          const size_t bytes = kernels::conv2d_cuda_workspace_bytes<scalar_t>(s, tf32);
          Tensor ws = workspace(bytes, d);
          kernels::conv2d_backward_cuda<scalar_t>(x.data<scalar_t>(), w.data<scalar_t>(), dy.data<scalar_t>(), pdx,
                                                  pdw, pdb, s, ws.data_ptr(), bytes, tf32, current_stream(d));
        });
  });
}
}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2 stride, Size2 padding, Size2 dilation) {
  LESEG_CHECK(x.defined() && weight.defined(), "conv2d: undefined input or weight");
  // Autocast (bf16/f16): x, W, b cast to autocast_dtype(), f32 arithmetic on the rounded values, output stored in
  // that dtype; half inputs outside autocast likewise in their own dtype (engine/precision.h).
  if (autocast_enabled() && autocast_eligible(x.dtype()) && autocast_eligible(weight.dtype()) &&
      (!bias.defined() || autocast_eligible(bias.dtype()))) {
    const DType dt = autocast_dtype();
    Tensor xl = autocast_in(x), wl = autocast_in(weight), bl = autocast_in(bias);
    PrecisionScope f32_inside(Precision::f32);
    return store_as(conv2d(upcast(xl), upcast(wl), upcast(bl), stride, padding, dilation), dt);
  }
  if (is_half_dtype(x.dtype()) && weight.dtype() == x.dtype() && (!bias.defined() || bias.dtype() == x.dtype()))
    return store_as(conv2d(upcast(x), upcast(weight), upcast(bias), stride, padding, dilation), x.dtype());
  check_float("conv2d", x, "input");
  check_float("conv2d", weight, "weight");
  LESEG_CHECK(x.ndim() == 4, "conv2d: input must be (N, C_in, H, W), got ", x.shape().str());
  LESEG_CHECK(weight.ndim() == 4, "conv2d: weight must be (C_out, C_in, KH, KW), got ", weight.shape().str());
  LESEG_CHECK(x.dtype() == weight.dtype() && x.device() == weight.device(), "conv2d: input ", x.str(), " and weight ",
              weight.str(), " differ in dtype or device");
  LESEG_CHECK(weight.size(1) == x.size(1), "conv2d: weight ", weight.shape().str(), " expects ", weight.size(1),
              " input channels, input ", x.shape().str(), " has ", x.size(1), " (groups = 1 only)");
  LESEG_CHECK(stride.h >= 1 && stride.w >= 1 && dilation.h >= 1 && dilation.w >= 1 && padding.h >= 0 &&
                  padding.w >= 0,
              "conv2d: stride (", stride.h, ", ", stride.w, ") and dilation (", dilation.h, ", ", dilation.w,
              ") must be >= 1, padding (", padding.h, ", ", padding.w, ") >= 0");
  LESEG_CHECK(weight.size(2) >= 1 && weight.size(3) >= 1, "conv2d: empty kernel ", weight.shape().str());
  if (bias.defined()) {
    check_float("conv2d", bias, "bias");
    LESEG_CHECK(bias.ndim() == 1 && bias.size(0) == weight.size(0) && bias.dtype() == x.dtype() &&
                    bias.device() == x.device(),
                "conv2d: bias ", bias.str(), " must be (", weight.size(0), ") with the input's dtype and device");
  }
  kernels::Conv2dShape s;
  s.n = x.size(0), s.c_in = x.size(1), s.h = x.size(2), s.w = x.size(3);
  s.c_out = weight.size(0), s.kh = weight.size(2), s.kw = weight.size(3);
  s.stride_h = stride.h, s.stride_w = stride.w, s.pad_h = padding.h, s.pad_w = padding.w;
  s.dil_h = dilation.h, s.dil_w = dilation.w;
  s.h_out = kernels::conv2d_out_size(s.h, s.kh, s.stride_h, s.pad_h, s.dil_h);
  s.w_out = kernels::conv2d_out_size(s.w, s.kw, s.stride_w, s.pad_w, s.dil_w);
  LESEG_CHECK(s.h_out >= 1 && s.w_out >= 1, "conv2d: input ", x.shape().str(), " is smaller than the dilated kernel ",
              weight.shape().str(), " (dilation ", dilation.h, "x", dilation.w, ", padding ", padding.h, "x", padding.w,
              ")");
  Device d = x.device();
  Tensor y = Tensor::empty(Shape{s.n, s.c_out, s.h_out, s.w_out}, x.dtype(), d);
  const bool tf32 = allow_tf32() && x.dtype() == DType::f32;
  const bool round_in = tf32 && d.is_cpu();  // the CPU twin of TF32: rounded GEMM inputs (the bias add stays f32)
  const Tensor xr = round_in ? round_tf32_copy(x) : x, wr = round_in ? round_tf32_copy(weight) : weight;
  LESEG_DISPATCH_FLOAT(x.dtype(), "conv2d", {
    const scalar_t* pb = bias.defined() ? bias.data<scalar_t>() : nullptr;
    LESEG_DISPATCH_DEVICE(
        d, "conv2d",
        {
          Tensor ws = workspace(kernels::conv2d_cpu_workspace_bytes<scalar_t>(s), d);
          kernels::conv2d_forward_cpu<scalar_t>(xr.data<scalar_t>(), wr.data<scalar_t>(), pb, y.data<scalar_t>(), s,
                                                ws.data_ptr());
        },
        {
          const size_t bytes = kernels::conv2d_cuda_workspace_bytes<scalar_t>(s, tf32);
          Tensor ws = workspace(bytes, d);
          kernels::conv2d_forward_cuda<scalar_t>(x.data<scalar_t>(), weight.data<scalar_t>(), pb, y.data<scalar_t>(),
                                                 s, ws.data_ptr(), bytes, tf32, current_stream(d));
        });
  });
  const bool gx = needs_grad(x), gw = needs_grad(weight), gb = bias.defined() && needs_grad(bias);
  std::vector<Tensor> inputs{x, weight};
  if (bias.defined()) inputs.push_back(bias);
  return record("conv2d", inputs, y,
                [sx = SavedTensor(x), sw = SavedTensor(weight), s, gx, gw, gb, has_bias = bias.defined()](
                    const std::vector<Tensor>& g) {
                  Tensor dx, dw, db;
                  conv2d_backward_raw(sx.get("conv2d"), sw.get("conv2d"), g[0], gx ? &dx : nullptr,
                                      gw ? &dw : nullptr, gb ? &db : nullptr, s);
                  std::vector<Tensor> out{dx, dw};
                  if (has_bias) out.push_back(db);
                  return out;
                });
}

// ---- pooling ----
namespace {
enum class PoolKind { max, avg, adaptive };

kernels::Pool2dShape fixed_pool_shape(const char* op, const Tensor& x, Size2 k, Size2 stride, Size2 pad) {
  kernels::Pool2dShape s;
  s.planes = planes_of(op, x);
  s.h = x.size(-2), s.w = x.size(-1);
  if (stride.h == 0) stride.h = k.h;
  if (stride.w == 0) stride.w = k.w;
  LESEG_CHECK(k.h >= 1 && k.w >= 1 && stride.h >= 1 && stride.w >= 1, op, ": kernel (", k.h, ", ", k.w,
              ") and stride (", stride.h, ", ", stride.w, ") must be >= 1");
  LESEG_CHECK(pad.h >= 0 && pad.w >= 0 && 2 * pad.h <= k.h && 2 * pad.w <= k.w, op, ": padding (", pad.h, ", ",
              pad.w, ") must be in [0, kernel / 2] for kernel (", k.h, ", ", k.w, ")");
  s.kh = k.h, s.kw = k.w, s.stride_h = stride.h, s.stride_w = stride.w, s.pad_h = pad.h, s.pad_w = pad.w;
  s.h_out = kernels::pool2d_out_size(s.h, s.kh, s.stride_h, s.pad_h);
  s.w_out = kernels::pool2d_out_size(s.w, s.kw, s.stride_w, s.pad_w);
  LESEG_CHECK(s.h_out >= 1 && s.w_out >= 1, op, ": input ", x.shape().str(), " is smaller than the kernel (", k.h,
              ", ", k.w, ") with padding (", pad.h, ", ", pad.w, ")");
  return s;
}

Tensor avg_backward_raw(PoolKind kind, const Tensor& dy, const Shape& x_shape, const kernels::Pool2dShape& s) {
  Device d = dy.device();
  Tensor dx = Tensor::empty(x_shape, dy.dtype(), d);
  if (dx.numel() == 0) return dx;
  LESEG_DISPATCH_FLOAT(dy.dtype(), "avg_pool2d", {
    const scalar_t* pdy = dy.data<scalar_t>();
    scalar_t* pdx = dx.data<scalar_t>();
    if (kind == PoolKind::avg) {
      LESEG_DISPATCH_DEVICE(d, "avg_pool2d", kernels::avg_pool2d_backward_cpu<scalar_t>(pdy, pdx, s),
                            kernels::avg_pool2d_backward_cuda<scalar_t>(pdy, pdx, s, current_stream(d)));
    } else {
      LESEG_DISPATCH_DEVICE(d, "adaptive_avg_pool2d", kernels::adaptive_avg_pool2d_backward_cpu<scalar_t>(pdy, pdx, s),
                            kernels::adaptive_avg_pool2d_backward_cuda<scalar_t>(pdy, pdx, s, current_stream(d)));
    }
  });
  return dx;
}

Tensor avg_like_pool(PoolKind kind, const Tensor& x, const kernels::Pool2dShape& s) {
  const char* op = kind == PoolKind::avg ? "avg_pool2d" : "adaptive_avg_pool2d";
  Device d = x.device();
  Tensor y = Tensor::empty(with_hw(x, s.h_out, s.w_out), x.dtype(), d);
  if (y.numel() > 0) {
    LESEG_DISPATCH_FLOAT(x.dtype(), op, {
      const scalar_t* px = x.data<scalar_t>();
      scalar_t* py = y.data<scalar_t>();
      if (kind == PoolKind::avg) {
        LESEG_DISPATCH_DEVICE(d, op, kernels::avg_pool2d_forward_cpu<scalar_t>(px, py, s),
                              kernels::avg_pool2d_forward_cuda<scalar_t>(px, py, s, current_stream(d)));
      } else {
        LESEG_DISPATCH_DEVICE(d, op, kernels::adaptive_avg_pool2d_forward_cpu<scalar_t>(px, py, s),
                              kernels::adaptive_avg_pool2d_forward_cuda<scalar_t>(px, py, s, current_stream(d)));
      }
    });
  }
  return record(op, {x}, y, [kind, s, xs = x.shape()](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{avg_backward_raw(kind, g[0], xs, s)};
  });
}
}  // namespace

Tensor max_pool2d(const Tensor& x, Size2 kernel, Size2 stride, Size2 padding) {
  if (x.defined() && is_half_dtype(x.dtype())) return store_as(max_pool2d(upcast(x), kernel, stride, padding), x.dtype());  // f32 inside
  kernels::Pool2dShape s = fixed_pool_shape("max_pool2d", x, kernel, stride, padding);
  Device d = x.device();
  Tensor y = Tensor::empty(with_hw(x, s.h_out, s.w_out), x.dtype(), d);
  Tensor arg = Tensor::empty(y.shape(), DType::i64, d);
  if (y.numel() > 0) {
    LESEG_DISPATCH_FLOAT(x.dtype(), "max_pool2d", {
      const scalar_t* px = x.data<scalar_t>();
      scalar_t* py = y.data<scalar_t>();
      int64_t* pa = arg.data<int64_t>();
      LESEG_DISPATCH_DEVICE(d, "max_pool2d", kernels::max_pool2d_forward_cpu<scalar_t>(px, py, pa, s),
                            kernels::max_pool2d_forward_cuda<scalar_t>(px, py, pa, s, current_stream(d)));
    });
  }
  return record("max_pool2d", {x}, y, [arg, s, xs = x.shape()](const std::vector<Tensor>& g) {
    const Tensor& dy = g[0];
    Device dd = dy.device();
    Tensor dx = Tensor::empty(xs, dy.dtype(), dd);
    if (dx.numel() > 0) {
      LESEG_DISPATCH_FLOAT(dy.dtype(), "max_pool2d", {
        const scalar_t* pdy = dy.data<scalar_t>();
        scalar_t* pdx = dx.data<scalar_t>();
        const int64_t* pa = arg.data<int64_t>();
        LESEG_DISPATCH_DEVICE(dd, "max_pool2d", kernels::max_pool2d_backward_cpu<scalar_t>(pdy, pa, pdx, s),
                              kernels::max_pool2d_backward_cuda<scalar_t>(pdy, pa, pdx, s, current_stream(dd)));
      });
    }
    return std::vector<Tensor>{dx};
  });
}

Tensor avg_pool2d(const Tensor& x, Size2 kernel, Size2 stride, Size2 padding, bool count_include_pad) {
  if (x.defined() && is_half_dtype(x.dtype())) return store_as(avg_pool2d(upcast(x), kernel, stride, padding, count_include_pad), x.dtype());  // f32 inside
  kernels::Pool2dShape s = fixed_pool_shape("avg_pool2d", x, kernel, stride, padding);
  s.count_include_pad = count_include_pad;
  return avg_like_pool(PoolKind::avg, x, s);
}

Tensor adaptive_avg_pool2d(const Tensor& x, Size2 output_size) {
  if (x.defined() && is_half_dtype(x.dtype())) return store_as(adaptive_avg_pool2d(upcast(x), output_size), x.dtype());  // f32 inside
  kernels::Pool2dShape s;
  s.planes = planes_of("adaptive_avg_pool2d", x);
  s.h = x.size(-2), s.w = x.size(-1);
  LESEG_CHECK(output_size.h >= 1 && output_size.w >= 1, "adaptive_avg_pool2d: output size (", output_size.h, ", ",
              output_size.w, ") must be >= 1");
  LESEG_CHECK((s.h >= 1 && s.w >= 1) || s.planes == 0, "adaptive_avg_pool2d: empty plane in input ", x.shape().str());
  s.h_out = output_size.h, s.w_out = output_size.w;
  return avg_like_pool(PoolKind::adaptive, x, s);
}

// ---- bilinear interpolation ----
Tensor interpolate_bilinear(const Tensor& x, Size2 size, bool align_corners) {
  if (x.defined() && is_half_dtype(x.dtype())) return store_as(interpolate_bilinear(upcast(x), size, align_corners), x.dtype());  // f32 inside
  kernels::ResizeShape s;
  s.planes = planes_of("interpolate_bilinear", x);
  s.h = x.size(-2), s.w = x.size(-1), s.h_out = size.h, s.w_out = size.w, s.align_corners = align_corners;
  LESEG_CHECK(size.h >= 1 && size.w >= 1, "interpolate_bilinear: output size (", size.h, ", ", size.w,
              ") must be >= 1");
  LESEG_CHECK((s.h >= 1 && s.w >= 1) || s.planes == 0, "interpolate_bilinear: empty plane in input ",
              x.shape().str());
  Device d = x.device();
  Tensor y = Tensor::empty(with_hw(x, s.h_out, s.w_out), x.dtype(), d);
  if (y.numel() > 0) {
    LESEG_DISPATCH_FLOAT(x.dtype(), "interpolate_bilinear", {
      LESEG_DISPATCH_DEVICE(
          d, "interpolate_bilinear", kernels::resize_bilinear_forward_cpu<scalar_t>(x.data<scalar_t>(), y.data<scalar_t>(), s),
          kernels::resize_bilinear_forward_cuda<scalar_t>(x.data<scalar_t>(), y.data<scalar_t>(), s, current_stream(d)));
    });
  }
  return record("interpolate_bilinear", {x}, y, [s, xs = x.shape()](const std::vector<Tensor>& g) {
    const Tensor& dy = g[0];
    Device dd = dy.device();
    Tensor dx = Tensor::empty(xs, dy.dtype(), dd);
    if (dx.numel() > 0) {
      LESEG_DISPATCH_FLOAT(dy.dtype(), "interpolate_bilinear", {
        Tensor ws = workspace(kernels::resize_bilinear_workspace_bytes<scalar_t>(s), dd);
        LESEG_DISPATCH_DEVICE(
            dd, "interpolate_bilinear",
            kernels::resize_bilinear_backward_cpu<scalar_t>(dy.data<scalar_t>(), dx.data<scalar_t>(), s, ws.data_ptr()),
            kernels::resize_bilinear_backward_cuda<scalar_t>(dy.data<scalar_t>(), dx.data<scalar_t>(), s, ws.data_ptr(),
                                                             current_stream(dd)));
      });
    }
    return std::vector<Tensor>{dx};
  });
}

}  // namespace leseg
