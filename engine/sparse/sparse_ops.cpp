// SPDX-License-Identifier: Apache-2.0
// Sparse autograd ops: forward calls the kernel for the device, record() attaches the backward closure.
#include "engine/sparse/sparse_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>
#include <type_traits>

#include "engine/autograd.h"
#include "engine/host_sync.h"
#include "engine/precision.h"
#include "engine/sparse/conv_autotune.h"
#include "engine/determinism.h"
#include "kernels/coord_hash/coord_hash.h"
#include "kernels/sparse_conv/sparse_conv.h"
#include "kernels/sparse_conv/sparse_conv_cpu.h"
#include "kernels/sparse_conv/sparse_conv_tc.h"
#include "kernels/sparse_pool/sparse_pool.h"
#include "kernels/voxelize/point_scatter_sorted.h"
#include "kernels/voxelize/voxelize.h"

namespace leseg {


namespace {

Tensor scratch(size_t bytes, Device d) { return Tensor::empty(Shape{int64_t(bytes > 0 ? bytes : 1)}, DType::u8, d); }

void check_float_feats(const Tensor& f, const char* op) {
  LESEG_CHECK(f.dtype() == DType::f32 || f.dtype() == DType::f64, op, ": must be f32 or f64, got ",
              dtype_name(f.dtype()));
}
// Features of the sparse structure ops: f32, f64 or the half storage types (f16/bf16: f32 arithmetic inside, one
// rounding at the store; engine/precision.h).
void check_feats(const Tensor& f, const char* op) {
  LESEG_CHECK(f.defined() && is_floating(f.dtype()), op, ": features must be f32, f64, bf16 or f16, got ",
              f.defined() ? dtype_name(f.dtype()) : "undefined");
}
bool is_half(DType t) { return t == DType::f16 || t == DType::bf16; }
// The gradient arriving at an op in the dtype of its output (autograd may hand an f32 gradient to a half output).
Tensor grad_as(const Tensor& g, DType dt) { return g.dtype() == dt ? g : g.to(dt); }

// The math of one conv call (engine/precision.h): the compute dtype is the tensors' dtype (already cast under
// autocast); TF32 only for f32 tensors in tf32 mode.
struct ConvCall {
  ConvVariant variant = ConvVariant::GatherGemmScatter;
  kernels::ConvMath math;
};

// CPU conv in the call's precision: f32/f64 -> the CPU conv (TF32-rounded inputs in tf32 mode); bf16/f16 -> the
// low-precision twin (sparse_conv_tc.h).
template <class S>
void cpu_forward(const S* x, const S* w, const S* b, const kernels::ConvMap& m, int64_t n_in, int64_t n_out,
                 int64_t c_in, int64_t c_out, S* y, bool tf32) {
  if constexpr (std::is_same_v<S, bf16_t> || std::is_same_v<S, f16_t>) {
    kernels::sparse_conv_forward_lowp_cpu<S>(x, w, b, m, n_in, n_out, c_in, c_out, y);
  } else {
    if constexpr (std::is_same_v<S, float>)
      if (tf32) return kernels::sparse_conv_forward_tf32_cpu(x, w, b, m, n_in, n_out, c_in, c_out, y);
    // from the caching allocator (no zero fill, no fresh pages per call)
    Tensor ws = scratch(sizeof(S) * size_t(kernels::sparse_conv_cpu_forward_workspace_elems(m, c_in, c_out)), Device::cpu());
    kernels::sparse_conv_forward_cpu<S>(x, w, b, m, n_in, n_out, c_in, c_out, y, static_cast<S*>(ws.data_ptr()));
  }
}
template <class S>
void cpu_backward(const S* x, const S* w, const S* gy, const kernels::ConvMap& m, int64_t n_in, int64_t n_out,
                  int64_t c_in, int64_t c_out, S* gx, S* gw, S* gb, bool tf32) {
  if constexpr (std::is_same_v<S, bf16_t> || std::is_same_v<S, f16_t>) {
    kernels::sparse_conv_backward_lowp_cpu<S>(x, w, gy, m, n_in, n_out, c_in, c_out, gx, gw, gb);
  } else {
    if constexpr (std::is_same_v<S, float>)
      if (tf32) return kernels::sparse_conv_backward_tf32_cpu(x, w, gy, m, n_in, n_out, c_in, c_out, gx, gw, gb);
    Tensor ws = scratch(sizeof(S) * size_t(kernels::sparse_conv_cpu_backward_workspace_elems(m, n_in, c_in, c_out)),
                        Device::cpu());
    kernels::sparse_conv_backward_cpu<S>(x, w, gy, m, n_in, n_out, c_in, c_out, gx, gw, gb, static_cast<S*>(ws.data_ptr()));
  }
}

// Runs the conv kernels on `m` (already oriented: transposed maps come swapped).
Tensor conv_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const kernels::ConvMap& m, int64_t n_out,
                    const ConvCall& call) {
  const Device d = x.device();
  const int64_t n_in = x.size(0), c_in = w.size(1), c_out = w.size(2);
  Tensor y = Tensor::empty(Shape{n_out, c_out}, x.dtype(), d);
  LESEG_DISPATCH_FLOAT_HALF(x.dtype(), "sparse_conv3d", {
    const scalar_t* b = bias.defined() ? bias.data<scalar_t>() : nullptr;
    LESEG_DISPATCH_DEVICE(d, "sparse_conv3d",
        cpu_forward<scalar_t>(x.data<scalar_t>(), w.data<scalar_t>(), b, m, n_in, n_out, c_in, c_out,
                              y.data<scalar_t>(), call.math.allow_tf32),
        {
          Tensor ws = scratch(kernels::sparse_conv_cuda_variant_workspace_bytes(call.variant, m, n_in, n_out, c_in,
                                                                                c_out, sizeof(scalar_t)), d);
          kernels::sparse_conv_forward_cuda<scalar_t>(call.variant, x.data<scalar_t>(), w.data<scalar_t>(), b, m, n_in,
                                                      n_out, c_in, c_out, y.data<scalar_t>(), ws.data_ptr(),
                                                      current_stream(d), call.math);
        });
  });
  return y;
}

void conv_backward(const Tensor& x, const Tensor& w, const Tensor& gy, const kernels::ConvMap& m, const ConvCall& call,
                   Tensor* gx, Tensor* gw, Tensor* gb) {
  const Device d = x.device();
  const int64_t n_in = x.size(0), n_out = gy.size(0), c_in = w.size(1), c_out = w.size(2);
  LESEG_DISPATCH_FLOAT_HALF(x.dtype(), "sparse_conv3d_backward", {
    scalar_t* pgx = gx ? gx->data<scalar_t>() : nullptr;
    scalar_t* pgw = gw ? gw->data<scalar_t>() : nullptr;
    scalar_t* pgb = gb ? gb->data<scalar_t>() : nullptr;
    LESEG_DISPATCH_DEVICE(d, "sparse_conv3d_backward",
        cpu_backward<scalar_t>(x.data<scalar_t>(), w.data<scalar_t>(), gy.data<scalar_t>(), m, n_in, n_out, c_in,
                               c_out, pgx, pgw, pgb, call.math.allow_tf32),
        {
          Tensor ws = scratch(kernels::sparse_conv_cuda_variant_workspace_bytes(call.variant, m, n_in, n_out, c_in,
                                                                                c_out, sizeof(scalar_t)), d);
          kernels::sparse_conv_backward_cuda<scalar_t>(call.variant, x.data<scalar_t>(), w.data<scalar_t>(),
                                                       gy.data<scalar_t>(), m, n_in, n_out, c_in, c_out, pgx, pgw,
                                                       pgb, ws.data_ptr(), current_stream(d), call.math);
        });
  });
}

// Tile masks of the tensor-core variant for one orientation (cached on the map).
Tensor tile_masks_for(const int32_t* nbr, const Tensor& order, int64_t n_rows, int64_t volume, Device d) {
  const int64_t words = kernels::tc::mask_words(volume), tiles = kernels::tc::num_tiles(n_rows);
  Tensor masks = Tensor::empty(Shape{std::max<int64_t>(1, tiles * words)}, DType::i32, d);
  auto* pm = reinterpret_cast<uint32_t*>(masks.data<int32_t>());
  LESEG_DISPATCH_DEVICE(d, "sparse_conv3d tile masks",
      kernels::tile_masks_cpu(nbr, order.data<int32_t>(), n_rows, volume, pm),
      kernels::tile_masks_cuda(nbr, order.data<int32_t>(), n_rows, volume, pm, current_stream(d)));
  return masks;
}

// Fills the tensor-core fields of m (Morton orders of the output / input sets and the tile masks).
void attach_tc_data(kernels::ConvMap& m, const KernelMap& km, bool swap, const CoordinateSet& out_set,
                    const CoordinateSet& in_set, Device d) {
  const Tensor& oo = out_set.morton();
  const Tensor& oi = in_set.morton();
  const int si = swap ? 1 : 0;
  if (!km.tc_mask_fwd[si].defined()) km.tc_mask_fwd[si] = tile_masks_for(m.nbr_out, oo, out_set.size(), m.volume, d);
  if (!km.tc_mask_bwd[si].defined()) km.tc_mask_bwd[si] = tile_masks_for(m.nbr_in, oi, in_set.size(), m.volume, d);
  m.order_out = oo.data<int32_t>();
  m.order_in = oi.data<int32_t>();
  m.tile_mask_out = reinterpret_cast<const uint32_t*>(km.tc_mask_fwd[si].data<int32_t>());
  m.tile_mask_in = reinterpret_cast<const uint32_t*>(km.tc_mask_bwd[si].data<int32_t>());
}

#if LESEG_WITH_CUDA
// Autotune timing: one forward + backward (gx, gW) of variant v on the call's real tensors.
struct TimeCtx {
  const Tensor *x, *w, *bias;
  const kernels::ConvMap* m;
  int64_t n_out;
  ConvCall call;
};
void time_once(void* p) {
  auto* c = static_cast<TimeCtx*>(p);
  Tensor y = conv_forward(*c->x, *c->w, *c->bias, *c->m, c->n_out, c->call);
  Tensor gx = Tensor::empty(c->x->shape(), c->x->dtype(), c->x->device());
  Tensor gw = Tensor::empty(c->w->shape(), c->w->dtype(), c->w->device());
  conv_backward(*c->x, *c->w, y, *c->m, c->call, &gx, &gw, nullptr);
}
#endif

}  // namespace

SparseTensor sparse_conv3d(const SparseTensor& x, const Tensor& weight_in, const Tensor& bias_in,
                           const SparseConvOptions& opt) {
  LESEG_CHECK(x.defined(), "sparse_conv3d: undefined input");
  const Tensor& f_in = x.feats();
  LESEG_CHECK(f_in.defined() && is_floating(f_in.dtype()), "sparse_conv3d: features must be f32, f64, bf16 or f16, got ",
              f_in.defined() ? dtype_name(f_in.dtype()) : "undefined");
  const int64_t V = int64_t(opt.kernel_size) * opt.kernel_size * opt.kernel_size;
  LESEG_CHECK(opt.kernel_size >= 1 && opt.kernel_size <= 5, "sparse_conv3d: kernel size ", opt.kernel_size,
              " not in 1..5");
  LESEG_CHECK(opt.dilation >= 1 && opt.dilation <= 3, "sparse_conv3d: dilation ", opt.dilation, " not in 1..3");
  LESEG_CHECK(opt.stride == 1 || opt.stride == 2, "sparse_conv3d: stride ", opt.stride, " not supported (1 or 2)");
  LESEG_CHECK(!opt.transposed || opt.stride == 2, "sparse_conv3d: a transposed conv needs stride 2");
  LESEG_CHECK(weight_in.defined() && weight_in.ndim() == 3 && weight_in.size(0) == V && weight_in.size(1) == f_in.size(1),
              "sparse_conv3d: weight must be (K^3 = ", V, ", C_in = ", f_in.size(1), ", C_out), got ",
              weight_in.defined() ? weight_in.shape().str() : std::string("undefined"));
  LESEG_CHECK(weight_in.device() == f_in.device() && is_floating(weight_in.dtype()), "sparse_conv3d: weight ",
              weight_in.str(), " vs features ", f_in.str());
  if (bias_in.defined())
    LESEG_CHECK(bias_in.ndim() == 1 && bias_in.size(0) == weight_in.size(2) && is_floating(bias_in.dtype()) &&
                    bias_in.device() == f_in.device(),
                "sparse_conv3d: bias must be (C_out = ", weight_in.size(2), ",) on the features' device, got ",
                bias_in.str());
  // Precision (engine/precision.h): under bf16/f16 autocast every floating input is cast to the autocast dtype
  // (f64 stays f64); otherwise weight and bias must match the features.
  const bool autocast = autocast_enabled() && f_in.dtype() != DType::f64;
  const DType cdt = autocast ? autocast_dtype() : f_in.dtype();
  if (!autocast) {
    LESEG_CHECK(weight_in.dtype() == cdt, "sparse_conv3d: weight ", weight_in.str(), " vs features ", f_in.str());
    if (bias_in.defined())
      LESEG_CHECK(bias_in.dtype() == cdt, "sparse_conv3d: bias ", bias_in.str(), " vs features ", f_in.str());
  }
  const Tensor f = f_in.dtype() == cdt ? f_in : f_in.to(cdt);
  const Tensor weight = weight_in.dtype() == cdt ? weight_in : weight_in.to(cdt);
  const Tensor bias = !bias_in.defined() || bias_in.dtype() == cdt ? bias_in : bias_in.to(cdt);
  ConvCall call;
  call.math.allow_tf32 = cdt == DType::f32 && allow_tf32();

  auto mgr = x.manager();
  const int32_t s = x.stride();
  std::shared_ptr<const KernelMap> km;
  std::shared_ptr<const CoordinateSet> out_set;
  bool swap = false;
  ConvKind kind = ConvKind::Submanifold;
  if (opt.transposed) {
    LESEG_CHECK(s % 2 == 0 && mgr->find(s / 2) != nullptr, "sparse_conv3d (transposed): no coordinate set at stride ",
                s / 2, " in the manager (the input at stride ", s, " was not down-sampled from one)");
    km = mgr->kernel_map(s / 2, s, opt.kernel_size, opt.dilation);
    out_set = mgr->find(s / 2);
    swap = true;
    kind = ConvKind::Transposed;
  } else if (opt.stride == 2) {
    km = mgr->kernel_map(s, 2 * s, opt.kernel_size, opt.dilation);
    out_set = mgr->find(2 * s);
    kind = ConvKind::Strided;
  } else {
    km = mgr->kernel_map(s, s, opt.kernel_size, opt.dilation);
    out_set = x.coordinate_set();
  }
  const int64_t n_out = out_set->size();
  const Device dev = f.device();

  // Variant choice (engine/sparse/conv_autotune.h); CPU runs its twin whatever the variant.
  call.variant = opt.variant;
  bool need_tc = false;
  kernels::ConvMap m;
  if (dev.is_cuda()) {
    int cc = 8;
#if LESEG_WITH_CUDA
    cc = kernels::sparse_conv_cuda_cc_major();
#endif
    const auto forced = conv_variant_override();
    const ConvShapeKey key = make_conv_shape_key(cdt, call.math.allow_tf32, weight.size(1), weight.size(2), V, kind,
                                                 f.size(0), n_out);
    if (forced) {
      const std::string why = conv_variant_ineligible(*forced, cdt, call.math.allow_tf32, cc, true);
      LESEG_CHECK(why.empty(), "sparse_conv3d: LESEG_CONV_VARIANT / override ", kernels::conv_variant_name(*forced),
                  " cannot run ", key.str(), ": ", why);
      call.variant = *forced;
    } else {
      const bool requested_ok = conv_variant_ineligible(opt.variant, cdt, call.math.allow_tf32, cc, true).empty();
      if (opt.autotune || conv_autotune_enabled() || !requested_ok) {
        const auto cands = conv_autotune_candidates(cdt, call.math.allow_tf32, cc, deterministic());
#if LESEG_WITH_CUDA
        // every candidate needs its map data: build all of it (cached on the map) before timing
        m = km->conv_map(swap, true);
        if (std::find(cands.begin(), cands.end(), ConvVariant::TensorCoreImplicitGemm) != cands.end())
          attach_tc_data(m, *km, swap, *out_set, *x.coordinate_set(), dev);
        call.variant = conv_autotune_choose(key, cands, [&](ConvVariant v) {
          // Timing waits for the device (CUDA events): once per candidate of a new shape class, counted as such.
          if (host_sync_counting())
            note_host_sync(HostSyncKind::Stream, dev,
                           std::string("sparse_conv autotune: timing ") + kernels::conv_variant_name(v) + " for " +
                               key.str());
          TimeCtx c{&f, &weight, &bias, &m, n_out, call};
          c.call.variant = v;
          return double(kernels::sparse_conv_time_cuda(&time_once, &c, 2, current_stream(dev)));
        });
#else
        call.variant = cands.front();
#endif
      }
    }
    need_tc = call.variant == ConvVariant::TensorCoreImplicitGemm;
  }
  // CPU: the output-stationary form of the f32/f64 conv reads the neighbour tables (built once per map, cached on
  // it); the bf16/f16/TF32 twins do not
  const bool cpu_plain = (cdt == DType::f32 && !call.math.allow_tf32) || cdt == DType::f64;
  const bool need_nbr = dev.is_cuda() ? (call.variant == ConvVariant::ImplicitGemm || need_tc)
                                      : cpu_plain && kernels::sparse_conv_cpu_wants_nbr(weight.size(1), weight.size(2));
  m = km->conv_map(swap, need_nbr);
  if (need_tc) attach_tc_data(m, *km, swap, *out_set, *x.coordinate_set(), dev);
  Tensor y = conv_forward(f, weight, bias, m, n_out, call);
  SavedTensor sx(f), sw(weight);
  const bool has_bias = bias.defined();
  const bool want_gx = needs_grad(f), want_gw = needs_grad(weight), want_gb = has_bias && needs_grad(bias);
  std::shared_ptr<const CoordinateSet> in_set = x.coordinate_set();
  record("sparse_conv3d", {f, weight, bias}, y,
         [sx, sw, km, swap, need_nbr, need_tc, call, out_set, in_set, want_gx, want_gw,
          want_gb](const std::vector<Tensor>& g) {
           const Tensor& x = sx.get("sparse_conv3d");
           const Tensor& w = sw.get("sparse_conv3d");
           kernels::ConvMap m = km->conv_map(swap, need_nbr);
           if (need_tc) attach_tc_data(m, *km, swap, *out_set, *in_set, x.device());
           Tensor gx, gw, gb;
           if (want_gx) gx = Tensor::empty(x.shape(), x.dtype(), x.device());
           if (want_gw) gw = Tensor::empty(w.shape(), w.dtype(), w.device());
           if (want_gb) gb = Tensor::empty(Shape{w.size(2)}, w.dtype(), w.device());
           const Tensor gy = g[0].dtype() == x.dtype() ? g[0] : g[0].to(x.dtype());
           conv_backward(x, w, gy, m, call, gx.defined() ? &gx : nullptr, gw.defined() ? &gw : nullptr,
                         gb.defined() ? &gb : nullptr);
           return std::vector<Tensor>{gx, gw, gb};
         });
  return SparseTensor(out_set, y, mgr);
}

// ---------------------------------------------------------------- pooling
namespace {
Tensor pool_impl(const SparseTensor& x, bool is_max) {
  LESEG_CHECK(x.defined(), "global_pool: undefined input");
  const Tensor& f = x.feats();
  check_feats(f, is_max ? "global_max_pool" : "global_avg_pool");
  const Device d = f.device();
  const int64_t n = f.size(0), C = f.size(1), B = x.num_batches();
  const DType fdt = f.dtype();
  const int32_t* coords = x.coords().data<int32_t>();
  Tensor y = Tensor::empty(Shape{B, C}, f.dtype(), d);
  Tensor argmax = is_max ? Tensor::empty(Shape{B, C}, DType::i32, d) : Tensor();
  LESEG_DISPATCH_FLOAT_HALF(f.dtype(), "global_pool", {
    if (is_max) {
      LESEG_DISPATCH_DEVICE(d, "global_max_pool",
          kernels::global_max_pool_forward_cpu<scalar_t>(f.data<scalar_t>(), coords, n, C, B, y.data<scalar_t>(),
                                                         argmax.data<int32_t>()),
          kernels::global_max_pool_forward_cuda<scalar_t>(f.data<scalar_t>(), coords, n, C, B, y.data<scalar_t>(),
                                                          argmax.data<int32_t>(), current_stream(d)));
    } else {
      LESEG_DISPATCH_DEVICE(d, "global_avg_pool",
          kernels::global_avg_pool_forward_cpu<scalar_t>(f.data<scalar_t>(), coords, n, C, B, y.data<scalar_t>()),
          kernels::global_avg_pool_forward_cuda<scalar_t>(f.data<scalar_t>(), coords, n, C, B, y.data<scalar_t>(),
                                                          current_stream(d)));
    }
  });
  Tensor coords_t = x.coords();
  record(is_max ? "global_max_pool" : "global_avg_pool", {f}, y,
         [=](const std::vector<Tensor>& g) {
           const Tensor g0 = grad_as(g[0], fdt);
           Tensor gx = Tensor::empty(Shape{n, C}, g0.dtype(), d);
           const int32_t* cp = coords_t.data<int32_t>();
           LESEG_DISPATCH_FLOAT_HALF(g0.dtype(), "global_pool_backward", {
             const scalar_t* gy = g0.data<scalar_t>();
             if (is_max) {
               LESEG_DISPATCH_DEVICE(d, "global_max_pool",
                   kernels::global_max_pool_backward_cpu<scalar_t>(gy, argmax.data<int32_t>(), n, C, B,
                                                                   gx.data<scalar_t>()),
                   kernels::global_max_pool_backward_cuda<scalar_t>(gy, argmax.data<int32_t>(), n, C, B,
                                                                    gx.data<scalar_t>(), current_stream(d)));
             } else {
               LESEG_DISPATCH_DEVICE(d, "global_avg_pool",
                   kernels::global_avg_pool_backward_cpu<scalar_t>(gy, cp, n, C, B, gx.data<scalar_t>()),
                   kernels::global_avg_pool_backward_cuda<scalar_t>(gy, cp, n, C, B, gx.data<scalar_t>(),
                                                                    current_stream(d)));
             }
           });
           return std::vector<Tensor>{gx};
         });
  return y;
}

// CUDA point_scatter: the float-atomic kernel, or in deterministic mode the sorted one (the CPU twin's order and
// bits, no atomics; kernels/voxelize/point_scatter_sorted.h).
template <class T>
[[maybe_unused]] void point_scatter_device(const T* g, const int32_t* idx, const T* w, int64_t n, int corners,
                                           int64_t C, int64_t m, T* gx, Device d) {
  if (deterministic()) {
    const size_t bytes = kernels::point_scatter_sorted_workspace_bytes(n, corners, m);
    Tensor ws = Tensor::empty(Shape{int64_t(bytes / 8 + 1)}, DType::f64, d);
    kernels::point_scatter_sorted_cuda<T>(g, idx, w, n, corners, C, m, gx, ws.data_ptr(), ws.nbytes(),
                                          current_stream(d));
  } else {
    kernels::point_scatter_cuda<T>(g, idx, w, n, corners, C, m, gx, current_stream(d));
  }
}

// The same for half features (f16/bf16, f32 weights): the f32-atomic kernel into the workspace acc, or in
// deterministic mode the sorted one (point_scatter_lowp_cpu's order and bits; acc unused).
template <class T>
[[maybe_unused]] void point_scatter_lowp_device(const T* g, const int32_t* idx, const float* w, int64_t n, int corners,
                                                int64_t C, int64_t m, float* acc, T* gx, Device d) {
  if (deterministic()) {
    const size_t bytes = kernels::point_scatter_sorted_workspace_bytes(n, corners, m);
    Tensor ws = Tensor::empty(Shape{int64_t(bytes / 8 + 1)}, DType::f64, d);
    kernels::point_scatter_lowp_sorted_cuda<T>(g, idx, w, n, corners, C, m, gx, ws.data_ptr(), ws.nbytes(),
                                               current_stream(d));
  } else {
    kernels::point_scatter_lowp_cuda<T>(g, idx, w, n, corners, C, m, acc, gx, current_stream(d));
  }
}

// Raw kernels of the voxel <-> point transfers, by dtype: f32/f64 features take weights of their own dtype; half
// features (f16/bf16) take f32 weights (f32 accumulation, one rounding at the store: kernels/voxelize/voxelize.h).
void gather_raw(const Tensor& x, const Tensor& idx, const Tensor& w, int64_t n, int corners, Tensor& out) {
  const Device d = x.device();
  const int64_t C = x.size(1);
  if (is_half(x.dtype())) {
    const float* pw = w.defined() ? w.data<float>() : nullptr;
    LESEG_DISPATCH_FLOAT_HALF(x.dtype(), "point_gather", {
      if constexpr (std::is_same_v<scalar_t, f16_t> || std::is_same_v<scalar_t, bf16_t>) {
        LESEG_DISPATCH_DEVICE(d, "point_gather",
            kernels::point_gather_lowp_cpu<scalar_t>(x.data<scalar_t>(), idx.data<int32_t>(), pw, n, corners, C,
                                                     out.data<scalar_t>()),
            kernels::point_gather_lowp_cuda<scalar_t>(x.data<scalar_t>(), idx.data<int32_t>(), pw, n, corners, C,
                                                      out.data<scalar_t>(), current_stream(d)));
      }
    });
    return;
  }
  LESEG_DISPATCH_FLOAT(x.dtype(), "point_gather", {
    const scalar_t* pw = w.defined() ? w.data<scalar_t>() : nullptr;
    LESEG_DISPATCH_DEVICE(d, "point_gather",
        kernels::point_gather_cpu<scalar_t>(x.data<scalar_t>(), idx.data<int32_t>(), pw, n, corners, C,
                                            out.data<scalar_t>()),
        kernels::point_gather_cuda<scalar_t>(x.data<scalar_t>(), idx.data<int32_t>(), pw, n, corners, C,
                                             out.data<scalar_t>(), current_stream(d)));
  });
}
void scatter_raw(const Tensor& g, const Tensor& idx, const Tensor& w, int64_t n, int corners, int64_t m, Tensor& out) {
  const Device d = g.device();
  const int64_t C = g.size(1);
  if (is_half(g.dtype())) {
    const float* pw = w.defined() ? w.data<float>() : nullptr;
    // The f32 accumulator: the CPU twin's and the CUDA atomic kernel's; the deterministic CUDA kernel needs none.
    const bool need_acc = d.is_cpu() || !deterministic();
    Tensor acc = need_acc ? Tensor::empty(Shape{std::max<int64_t>(1, m * C)}, DType::f32, d) : Tensor();
    float* pacc = need_acc ? acc.data<float>() : nullptr;
    LESEG_DISPATCH_FLOAT_HALF(g.dtype(), "point_scatter", {
      if constexpr (std::is_same_v<scalar_t, f16_t> || std::is_same_v<scalar_t, bf16_t>) {
        LESEG_DISPATCH_DEVICE(d, "point_scatter",
            kernels::point_scatter_lowp_cpu<scalar_t>(g.data<scalar_t>(), idx.data<int32_t>(), pw, n, corners, C, m,
                                                      pacc, out.data<scalar_t>()),
            point_scatter_lowp_device<scalar_t>(g.data<scalar_t>(), idx.data<int32_t>(), pw, n, corners, C, m, pacc,
                                                out.data<scalar_t>(), d));
      }
    });
    return;
  }
  LESEG_DISPATCH_FLOAT(g.dtype(), "point_scatter", {
    const scalar_t* pw = w.defined() ? w.data<scalar_t>() : nullptr;
    LESEG_DISPATCH_DEVICE(d, "point_scatter",
        kernels::point_scatter_cpu<scalar_t>(g.data<scalar_t>(), idx.data<int32_t>(), pw, n, corners, C, m,
                                             out.data<scalar_t>()),
        point_scatter_device<scalar_t>(g.data<scalar_t>(), idx.data<int32_t>(), pw, n, corners, C, m,
                                       out.data<scalar_t>(), d));
  });
}
// The weights' dtype for features of dtype t: f32 for half features, t otherwise.
DType weight_dtype(DType t) { return is_half(t) ? DType::f32 : t; }

// out (n, C) = sum_c w[i, c] x[idx[i, c]]; differentiable in x (m rows).
Tensor point_gather(const Tensor& x, const Tensor& idx, const Tensor& w, int corners, const char* op) {
  const Device d = x.device();
  const DType xdt = x.dtype();
  const int64_t n = idx.numel() / corners, C = x.size(1), m = x.size(0);
  Tensor out = Tensor::empty(Shape{n, C}, xdt, d);
  gather_raw(x, idx, w, n, corners, out);
  record(op, {x}, out, [=](const std::vector<Tensor>& g) {
    const Tensor g0 = grad_as(g[0], xdt);
    Tensor gx = Tensor::empty(Shape{m, C}, xdt, d);
    scatter_raw(g0, idx, w, n, corners, m, gx);
    return std::vector<Tensor>{gx};
  });
  return out;
}

// out (m, C) = sum_{i: idx[i] = j} w[i] x[i]; differentiable in x (n rows). The adjoint of point_gather.
Tensor point_scatter(const Tensor& x, const Tensor& idx, const Tensor& w, int64_t m, const char* op) {
  const Device d = x.device();
  const DType xdt = x.dtype();
  const int64_t n = x.size(0), C = x.size(1);
  Tensor out = Tensor::empty(Shape{m, C}, xdt, d);
  scatter_raw(x, idx, w, n, 1, m, out);
  record(op, {x}, out, [=](const std::vector<Tensor>& g) {
    const Tensor g0 = grad_as(g[0], xdt);
    Tensor gx = Tensor::empty(Shape{n, C}, xdt, d);
    gather_raw(g0, idx, w, n, 1, gx);
    return std::vector<Tensor>{gx};
  });
  return out;
}
}  // namespace

Tensor global_avg_pool(const SparseTensor& x) { return pool_impl(x, false); }
Tensor global_max_pool(const SparseTensor& x) { return pool_impl(x, true); }

// ---------------------------------------------------------------- concat
SparseTensor sparse_cat(const SparseTensor& a, const SparseTensor& b) {
  LESEG_CHECK(a.defined() && b.defined(), "sparse_cat: undefined input");
  LESEG_CHECK(a.coordinate_set() == b.coordinate_set(), "sparse_cat: inputs must share one coordinate set (strides ",
              a.stride(), " and ", b.stride(), ", ", a.size(), " and ", b.size(), " rows)");
  const Tensor &fa = a.feats(), &fb = b.feats();
  check_feats(fa, "sparse_cat");
  LESEG_CHECK(fa.dtype() == fb.dtype(), "sparse_cat: dtypes ", dtype_name(fa.dtype()), " and ", dtype_name(fb.dtype()));
  const int64_t n = fa.size(0), ca = fa.size(1), cb = fb.size(1), C = ca + cb;
  const Device d = fa.device();
  Tensor out = Tensor::empty(Shape{n, C}, fa.dtype(), d);
  const DType dt = fa.dtype();
  LESEG_DISPATCH_FLOAT_HALF(dt, "sparse_cat", {
    LESEG_DISPATCH_DEVICE(d, "sparse_cat",
        kernels::column_concat_cpu<scalar_t>(fa.data<scalar_t>(), fb.data<scalar_t>(), n, ca, cb, out.data<scalar_t>()),
        kernels::column_concat_cuda<scalar_t>(fa.data<scalar_t>(), fb.data<scalar_t>(), n, ca, cb,
                                              out.data<scalar_t>(), current_stream(d)));
  });
  record("sparse_cat", {fa, fb}, out, [=](const std::vector<Tensor>& g) {
    const Tensor g0 = grad_as(g[0], dt);
    Tensor ga = Tensor::empty(Shape{n, ca}, dt, d);
    Tensor gb = Tensor::empty(Shape{n, cb}, dt, d);
    LESEG_DISPATCH_FLOAT_HALF(dt, "sparse_cat", {
      LESEG_DISPATCH_DEVICE(d, "sparse_cat",
          kernels::column_split_cpu<scalar_t>(g0.data<scalar_t>(), n, ca, cb, ga.data<scalar_t>(),
                                              gb.data<scalar_t>()),
          kernels::column_split_cuda<scalar_t>(g0.data<scalar_t>(), n, ca, cb, ga.data<scalar_t>(),
                                               gb.data<scalar_t>(), current_stream(d)));
    });
    return std::vector<Tensor>{ga, gb};
  });
  return a.with_feats(out);
}

// ---------------------------------------------------------------- voxelization
Voxelized voxelize(const Tensor& points, const Tensor& batch, const Tensor& feats, double voxel_size,
                   VoxelReduce reduce) {
  LESEG_CHECK(points.defined() && points.ndim() == 2 && points.size(1) == 3, "voxelize: points must be (N, 3), got ",
              points.defined() ? points.str() : std::string("undefined"));
  check_float_feats(points, "voxelize (points)");
  const int64_t n = points.size(0);
  const Device d = points.device();
  LESEG_CHECK(batch.defined() && batch.dtype() == DType::i32 && batch.numel() == n && batch.device() == d,
              "voxelize: batch must be (N = ", n, ",) i32 on ", d.str(), ", got ",
              batch.defined() ? batch.str() : std::string("undefined"));
  LESEG_CHECK(feats.defined() && feats.ndim() == 2 && feats.size(0) == n && feats.device() == d,
              "voxelize: feats must be (N = ", n, ", C) on ", d.str(), ", got ",
              feats.defined() ? feats.str() : std::string("undefined"));
  check_feats(feats, "voxelize");
  LESEG_CHECK(voxel_size > 0 && std::isfinite(voxel_size), "voxelize: voxel size ", voxel_size, " must be > 0");
  const double inv = 1.0 / voxel_size;
  Tensor coords = Tensor::empty(Shape{n, 4}, DType::i32, d);
  try {
    LESEG_DISPATCH_FLOAT(points.dtype(), "voxelize", {
      LESEG_DISPATCH_DEVICE(d, "voxelize",
          kernels::voxel_coords_cpu<scalar_t>(points.data<scalar_t>(), batch.data<int32_t>(), n, inv,
                                              coords.data<int32_t>()),
          kernels::voxel_coords_cuda<scalar_t>(points.data<scalar_t>(), batch.data<int32_t>(), n, inv,
                                               coords.data<int32_t>(), current_stream(d)));
    });
  } catch (const std::invalid_argument& e) {
    LESEG_FAIL("voxelize: ", e.what());
  }
  int64_t num_batches = 1;
  for (int32_t b : batch.to_vector<int32_t>()) {
    LESEG_CHECK(b >= 0, "voxelize: negative batch index ", b);
    num_batches = std::max<int64_t>(num_batches, int64_t(b) + 1);
  }
  Tensor inverse, rows;
  int64_t m = 0;
  CoordinateManager::build_set(coords, 1, num_batches, &inverse, &rows, &m);
  Tensor vcoords = Tensor::empty(Shape{m, 4}, DType::i32, d);
  LESEG_DISPATCH_DEVICE(d, "voxelize",
      kernels::coord_rows_gather_cpu(coords.data<int32_t>(), rows.data<int32_t>(), m, vcoords.data<int32_t>()),
      kernels::coord_rows_gather_cuda(coords.data<int32_t>(), rows.data<int32_t>(), m, vcoords.data<int32_t>(),
                                      current_stream(d)));
  Tensor counts = Tensor::empty(Shape{m}, DType::i32, d);
  LESEG_DISPATCH_DEVICE(d, "voxelize",
      kernels::voxel_counts_cpu(inverse.data<int32_t>(), n, m, counts.data<int32_t>()),
      kernels::voxel_counts_cuda(inverse.data<int32_t>(), n, m, counts.data<int32_t>(), current_stream(d)));
  Tensor vfeats;
  if (reduce == VoxelReduce::Mean) {
    Tensor w = Tensor::empty(Shape{n}, weight_dtype(feats.dtype()), d);
    LESEG_DISPATCH_FLOAT(w.dtype(), "voxelize", {
      LESEG_DISPATCH_DEVICE(d, "voxelize",
          kernels::mean_weights_cpu<scalar_t>(inverse.data<int32_t>(), counts.data<int32_t>(), n, w.data<scalar_t>()),
          kernels::mean_weights_cuda<scalar_t>(inverse.data<int32_t>(), counts.data<int32_t>(), n, w.data<scalar_t>(),
                                               current_stream(d)));
    });
    vfeats = point_scatter(feats, inverse, w, m, "voxelize_mean");
  } else {
    vfeats = point_gather(feats, rows.clone(), Tensor(), 1, "voxelize_first");
  }
  SparseTensor vox(vcoords, vfeats, 1, num_batches);
  return Voxelized{vox, inverse, counts};
}

Tensor devoxelize_nearest(const SparseTensor& x, const Tensor& inverse) {
  LESEG_CHECK(x.defined(), "devoxelize_nearest: undefined input");
  check_feats(x.feats(), "devoxelize_nearest");
  LESEG_CHECK(inverse.defined() && inverse.dtype() == DType::i32 && inverse.ndim() == 1 &&
                  inverse.device() == x.device(),
              "devoxelize_nearest: inverse must be (N,) i32 on ", x.device().str());
  return point_gather(x.feats(), inverse, Tensor(), 1, "devoxelize_nearest");
}

Tensor devoxelize_trilinear(const SparseTensor& x, const Tensor& points, const Tensor& batch, double voxel_size) {
  LESEG_CHECK(x.defined(), "devoxelize_trilinear: undefined input");
  const Tensor& f = x.feats();
  check_feats(f, "devoxelize_trilinear");
  const DType wdt = weight_dtype(f.dtype());
  LESEG_CHECK(points.defined() && points.ndim() == 2 && points.size(1) == 3 && points.dtype() == wdt &&
                  points.device() == f.device(),
              "devoxelize_trilinear: points must be (N, 3) ", dtype_name(wdt), " on the features' device (features ",
              f.str(), "), got ", points.defined() ? points.str() : std::string("undefined"));
  const int64_t n = points.size(0);
  LESEG_CHECK(batch.defined() && batch.dtype() == DType::i32 && batch.numel() == n && batch.device() == f.device(),
              "devoxelize_trilinear: batch must be (N = ", n, ",) i32");
  LESEG_CHECK(voxel_size > 0 && std::isfinite(voxel_size), "devoxelize_trilinear: voxel size ", voxel_size);
  const Device d = f.device();
  Tensor idx = Tensor::empty(Shape{n, 8}, DType::i32, d);
  Tensor w = Tensor::empty(Shape{n, 8}, wdt, d);
  const auto t = x.coordinate_set()->table();
  LESEG_DISPATCH_FLOAT(wdt, "devoxelize_trilinear", {
    LESEG_DISPATCH_DEVICE(d, "devoxelize_trilinear",
        kernels::trilinear_weights_cpu<scalar_t>(t, points.data<scalar_t>(), batch.data<int32_t>(), n,
                                                 1.0 / voxel_size, x.stride(), idx.data<int32_t>(),
                                                 w.data<scalar_t>()),
        kernels::trilinear_weights_cuda<scalar_t>(t, points.data<scalar_t>(), batch.data<int32_t>(), n,
                                                  1.0 / voxel_size, x.stride(), idx.data<int32_t>(),
                                                  w.data<scalar_t>(), current_stream(d)));
  });
  return point_gather(f, idx, w, 8, "devoxelize_trilinear");
}

}  // namespace leseg
