// SPDX-License-Identifier: Apache-2.0
#include "models/spvcnn.h"

#include "engine/ops/autocast.h"
#include "engine/ops/segment.h"
#include "engine/ops/shape_ops.h"

#include <limits>

#include "kernels/device_error/device_error.h"
#include "kernels/pv_index/pv_index.h"

namespace leseg::models {

// The CUDA path of point_voxel_index: composed on the device from the cached kernel maps, no host copy (issue 17). An
// out-of-range inverse entry or a voxel without a parent becomes -1 and is recorded by the device check, read once per
// step by check_device_errors ("point_voxel_index (CUDA): ...").
Tensor point_voxel_index_composed(CoordinateManager& manager, const Tensor& inverse, int32_t stride) {
  const Device d = manager.device();
  LESEG_CHECK(inverse.device() == d, "point_voxel_index: inverse on ", inverse.device().str(), ", manager on ", d.str());
  const int64_t n = inverse.numel();
  const kernels::StreamHandle st = current_stream(d);
  Tensor v = inverse.clone();
  int64_t bound = manager.find(1)->size();
  for (int32_t s = 1; s < stride; s *= 2) {
    LESEG_CHECK(manager.find(2 * s) != nullptr, "point_voxel_index: no coordinate set at stride ", 2 * s,
                " (the network never down-sampled to it)");
    auto km = manager.kernel_map(s, 2 * s, 2, 1);
    LESEG_CHECK(km->num_pairs() == km->n_in, "point_voxel_index: the stride ", s, " -> ", 2 * s, " map has ",
                km->num_pairs(), " pairs for ", km->n_in, " voxels (each voxel must have exactly one parent)");
    Tensor parent = Tensor::full(Shape{std::max<int64_t>(km->n_in, 1)}, -1.0, DType::i32, d);
    const int64_t P = km->num_pairs();
    LESEG_DISPATCH_DEVICE(d, "point_voxel_index",
        (kernels::pv_parent_scatter_cpu(km->in_idx.data<int32_t>(), km->out_idx.data<int32_t>(), P, parent.data<int32_t>()),
         kernels::pv_compose_cpu(v.data<int32_t>(), n, parent.data<int32_t>(), km->n_in)),
        (kernels::pv_parent_scatter_cuda(km->in_idx.data<int32_t>(), km->out_idx.data<int32_t>(), P,
                                         parent.data<int32_t>(), st),
         kernels::pv_compose_cuda(v.data<int32_t>(), n, parent.data<int32_t>(), km->n_in, st)));
    bound = km->n_out;
  }
  Tensor out = Tensor::empty(Shape{n}, DType::i64, d);
  LESEG_DISPATCH_DEVICE(d, "point_voxel_index", kernels::pv_widen_cpu(v.data<int32_t>(), n, out.data<int64_t>()),
                        kernels::pv_widen_cuda(v.data<int32_t>(), n, out.data<int64_t>(), st));
  LESEG_DISPATCH_DEVICE(d, "point_voxel_index", (void)0,
                        kernels::check_ids_cuda(out.data<int64_t>(), n, 0, bound, std::numeric_limits<int64_t>::min(),
                                                kernels::DeviceErrorCode::PointVoxelIndex, st));
  return out;
}

namespace {
void check_pv_args(CoordinateManager& manager, const Tensor& inverse, int32_t stride) {
  LESEG_CHECK(inverse.defined() && inverse.ndim() == 1 && inverse.dtype() == DType::i32,
              "point_voxel_index: inverse must be (N,) i32, got ", inverse.defined() ? inverse.str() : "undefined");
  LESEG_CHECK(stride >= 1 && (stride & (stride - 1)) == 0, "point_voxel_index: stride ", stride,
              " must be a power of two");
  LESEG_CHECK(manager.find(1) != nullptr, "point_voxel_index: the manager has no stride-1 set");
}
}  // namespace

Tensor point_voxel_index(CoordinateManager& manager, const Tensor& inverse, int32_t stride) {
  check_pv_args(manager, inverse, stride);
  Tensor out = point_voxel_index_composed(manager, inverse, stride);
  if (manager.device().is_cuda()) return out;
  // CPU: the composed result is host memory; an entry outside the stride's set (an inverse entry out of range, a voxel
  // without a parent) sends the call to the spec, whose error names the point and the stride.
  const auto set = manager.find(stride);
  const int64_t bound = set ? set->size() : 0, n = out.numel();
  const int64_t* o = out.data<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    if (o[i] < 0 || o[i] >= bound) return point_voxel_index_spec(manager, inverse, stride);
  return out;
}

Tensor point_voxel_index_spec(CoordinateManager& manager, const Tensor& inverse, int32_t stride) {
  check_pv_args(manager, inverse, stride);
  LESEG_CHECK(manager.device().is_cpu(), "point_voxel_index_spec: CPU only");
  std::vector<int32_t> host = inverse.to_vector<int32_t>();
  const int64_t n1 = manager.find(1)->size();
  for (size_t i = 0; i < host.size(); ++i)
    LESEG_CHECK(host[i] >= 0 && host[i] < n1, "point_voxel_index: inverse[", i, "] = ", host[i], " outside [0, ", n1, ")");
  for (int32_t s = 1; s < stride; s *= 2) {
    LESEG_CHECK(manager.find(2 * s) != nullptr, "point_voxel_index: no coordinate set at stride ", 2 * s,
                " (the network never down-sampled to it)");
    auto km = manager.kernel_map(s, 2 * s, 2, 1);
    const auto in = km->in_idx.to_vector<int32_t>();
    const auto out = km->out_idx.to_vector<int32_t>();
    LESEG_CHECK(int64_t(in.size()) == km->n_in, "point_voxel_index: the stride ", s, " -> ", 2 * s, " map has ",
                in.size(), " pairs for ", km->n_in, " voxels (each voxel must have exactly one parent)");
    std::vector<int32_t> parent(size_t(km->n_in), -1);
    for (size_t p = 0; p < in.size(); ++p) parent[size_t(in[p])] = out[p];
    for (int32_t& v : host) {
      v = parent[size_t(v)];
      LESEG_CHECK(v >= 0, "point_voxel_index: a stride-", s, " voxel has no parent at stride ", 2 * s);
    }
  }
  std::vector<int64_t> idx(host.begin(), host.end());
  return Tensor::from_vector(idx, Shape{int64_t(idx.size())}, manager.device());
}

SPVCNN::SPVCNN(const SPVCNNConfig& c) : cfg_(c) {
  LESEG_CHECK(c.in_channels > 0, "SPVCNN: in_channels ", c.in_channels, " must be positive");
  LESEG_CHECK(c.voxel_size > 0, "SPVCNN: voxel size ", c.voxel_size, " must be > 0");
  for (int i = 0; i < 9; ++i) LESEG_CHECK(c.cs[i] > 0, "SPVCNN: cs[", i, "] = ", c.cs[i], " must be positive");
  Generator gen(c.seed);
  auto conv = [&](int64_t in, int64_t out, int k, int stride, bool transposed) {
    return make_sparse_conv(in, out, k, stride, transposed, c.init_weights ? ConvInit::TorchsparseUniform : ConvInit::Zeros, c.dtype, gen);
  };
  auto bn = [&](int64_t ch) { return std::make_shared<SparseBatchNorm>(ch, c.bn_momentum, c.dtype); };
  auto res = [&](int64_t in, int64_t out) {
    BlockSpec b;
    b.in = in;
    b.out = out;
    b.bn_momentum = c.bn_momentum;
    b.init = c.init_weights ? ConvInit::TorchsparseUniform : ConvInit::Zeros;
    b.names = BlockNames::Torchsparse;
    b.dtype = c.dtype;
    return std::make_shared<BasicBlock>(b, gen);
  };
  const auto& cs = c.cs;
  stem_conv0_ = conv(c.in_channels, cs[0], 3, 1, false);
  stem_bn0_ = bn(cs[0]);
  stem_conv1_ = conv(cs[0], cs[0], 3, 1, false);
  stem_bn1_ = bn(cs[0]);
  stem_ = register_module("stem", std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
                                      stem_conv0_, stem_bn0_, std::make_shared<ReLU>(), stem_conv1_, stem_bn1_,
                                      std::make_shared<ReLU>()}));
  // A [de]conv + BN + ReLU block ("net" = {conv, bn, relu}) followed by two residual blocks.
  auto make_stage = [&](int64_t in, int64_t mid, int64_t skip, int64_t out, bool up) {
    Stage s;
    s.conv = conv(in, mid, 2, 2, up);
    s.bn = bn(mid);
    auto head = std::make_shared<Container>();
    head->add("net", std::make_shared<Sequential>(
                         std::vector<std::shared_ptr<Module>>{s.conv, s.bn, std::make_shared<ReLU>()}));
    s.res0 = res(mid + skip, out);
    s.res1 = res(out, out);
    auto root = std::make_shared<Container>();
    root->add("0", head);
    if (up) {
      auto pair = std::make_shared<Container>();
      pair->add("0", s.res0);
      pair->add("1", s.res1);
      root->add("1", pair);
    } else {
      root->add("1", s.res0);
      root->add("2", s.res1);
    }
    s.root = root;
    return s;
  };
  for (int i = 0; i < 4; ++i) {
    down_[i] = make_stage(cs[i], cs[i], 0, cs[i + 1], false);
    register_module("stage" + std::to_string(i + 1), down_[i].root);
  }
  const int64_t skip[4] = {cs[3], cs[2], cs[1], cs[0]};
  for (int i = 0; i < 4; ++i) {
    up_[i] = make_stage(cs[4 + i], cs[5 + i], skip[i], cs[5 + i], true);
    register_module("up" + std::to_string(i + 1), up_[i].root);
  }
  auto pts = std::make_shared<Container>();
  const int64_t pin[3] = {cs[0], cs[4], cs[6]}, pout[3] = {cs[4], cs[6], cs[8]};
  for (int i = 0; i < 3; ++i) {
    point_transforms_[i] = std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
        std::make_shared<Linear>(pin[i], pout[i], true, gen, c.dtype),
        std::make_shared<BatchNorm1d>(pout[i], 1e-5, c.bn_momentum, true, c.dtype), std::make_shared<ReLU>()});
    pts->add(std::to_string(i), point_transforms_[i]);
  }
  register_module("point_transforms", pts);
}

SparseTensor SPVCNN::run_stage(const Stage& s, const SparseTensor& x, const SparseTensor* skip) {
  SparseTensor h = sparse_relu((*s.bn)((*s.conv)(x)));
  if (skip) h = sparse_cat(h, *skip);
  return (*s.res1)((*s.res0)(h));
}

Tensor SPVCNN::forward(const Tensor& points, const Tensor& batch, const Tensor& feats, std::vector<StageTrace>* trace) {
  LESEG_CHECK(feats.defined() && feats.ndim() == 2 && feats.size(1) == cfg_.in_channels, "SPVCNN: point features must be (N, ",
              cfg_.in_channels, "), got ", feats.defined() ? feats.str() : std::string("undefined"));
  return forward(voxelize(points, batch, feats, cfg_.voxel_size, VoxelReduce::Mean), points, batch, trace);
}

Tensor SPVCNN::forward(const Voxelized& vox, const Tensor& points, const Tensor& batch, std::vector<StageTrace>* trace) {
  const SparseTensor& x = vox.voxels;
  LESEG_CHECK(x.defined() && x.stride() == 1, "SPVCNN: the voxelised input must be a stride-1 SparseTensor");
  LESEG_CHECK(x.channels() == cfg_.in_channels, "SPVCNN: expected ", cfg_.in_channels, " input channels, got ",
              x.channels());
  LESEG_CHECK(x.feats().dtype() == cfg_.dtype, "SPVCNN: features are ", dtype_name(x.feats().dtype()),
              ", the model is ", dtype_name(cfg_.dtype));
  LESEG_CHECK(points.defined() && points.ndim() == 2 && points.size(1) == 3 && points.dtype() == cfg_.dtype,
              "SPVCNN: points must be (N, 3) ", dtype_name(cfg_.dtype), ", got ",
              points.defined() ? points.str() : std::string("undefined"));
  LESEG_CHECK(vox.inverse.defined() && vox.inverse.numel() == points.size(0), "SPVCNN: the voxelisation's inverse has ",
              vox.inverse.defined() ? vox.inverse.numel() : 0, " entries for ", points.size(0), " points");
  auto push = [&](const char* name, int32_t s, int64_t rows, int64_t ch) {
    if (trace) trace->push_back(StageTrace{name, s, rows, ch});
  };
  const double vs = cfg_.voxel_size;
  CoordinateManager& mgr = *x.manager();
  auto to_voxels = [&](const Tensor& z, const SparseTensor& like) {
    const int64_t n = like.size();
    Tensor idx = like.stride() == 1 ? vox.inverse.to(DType::i64) : point_voxel_index(mgr, vox.inverse, like.stride());
    // segment_mean takes f32/f64: a half z (bf16/f16 autocast) is averaged in f32 and stored back in its dtype
    if (is_half_dtype(z.dtype())) return like.with_feats(store_as(segment_mean(upcast(z), idx, n), z.dtype()));
    return like.with_feats(segment_mean(z, idx, n));
  };
  // stem
  SparseTensor x0 = sparse_relu((*stem_bn0_)((*stem_conv0_)(x)));
  x0 = sparse_relu((*stem_bn1_)((*stem_conv1_)(x0)));
  push("stem", 1, x0.size(), x0.channels());
  Tensor z0 = devoxelize_trilinear(x0, points, batch, vs);
  push("z0", 0, z0.size(0), z0.size(1));
  SparseTensor x1 = to_voxels(z0, x0);
  std::array<SparseTensor, 4> xs;  // x1..x4
  SparseTensor h = x1;
  for (int i = 0; i < 4; ++i) {
    h = run_stage(down_[i], h, nullptr);
    xs[i] = h;
    push(("stage" + std::to_string(i + 1)).c_str(), h.stride(), h.size(), h.channels());
  }
  Tensor z1 = add(devoxelize_trilinear(xs[3], points, batch, vs), point_transforms_[0]->forward(z0));
  push("z1", 0, z1.size(0), z1.size(1));
  SparseTensor y = to_voxels(z1, xs[3]);
  y = run_stage(up_[0], y, &xs[2]);
  push("up1", y.stride(), y.size(), y.channels());
  y = run_stage(up_[1], y, &xs[1]);
  push("up2", y.stride(), y.size(), y.channels());
  Tensor z2 = add(devoxelize_trilinear(y, points, batch, vs), point_transforms_[1]->forward(z1));
  push("z2", 0, z2.size(0), z2.size(1));
  y = to_voxels(z2, y);
  y = run_stage(up_[2], y, &xs[0]);
  push("up3", y.stride(), y.size(), y.channels());
  // up4's skip is the stem output x0 (PCSeg: torchsparse.cat([y4, x0])), not point_to_voxel(z0)
  y = run_stage(up_[3], y, &x0);
  push("up4", y.stride(), y.size(), y.channels());
  Tensor z3 = add(devoxelize_trilinear(y, points, batch, vs), point_transforms_[2]->forward(z2));
  push("z3", 0, z3.size(0), z3.size(1));
  Tensor out = concat({z1, z2, z3}, 1);
  push("output", 0, out.size(0), out.size(1));
  return out;
}

std::vector<StageInfo> SPVCNN::stages() const {
  const auto& cs = cfg_.cs;
  std::vector<StageInfo> out;
  out.push_back({"stem", 1, cfg_.in_channels, cs[0], 0, parameter_count(*stem_)});
  int32_t s = 1;
  for (int i = 0; i < 4; ++i) {
    s *= 2;
    out.push_back({"stage" + std::to_string(i + 1), s, cs[i], cs[i + 1], 2, parameter_count(*down_[i].root)});
  }
  for (int i = 0; i < 4; ++i) {
    s /= 2;
    out.push_back({"up" + std::to_string(i + 1), s, cs[4 + i], cs[5 + i], 2, parameter_count(*up_[i].root)});
  }
  const int64_t pin[3] = {cs[0], cs[4], cs[6]}, pout[3] = {cs[4], cs[6], cs[8]};
  for (int i = 0; i < 3; ++i)
    out.push_back({"point_transforms." + std::to_string(i), 0, pin[i], pout[i], 0,
                   parameter_count(*point_transforms_[i])});
  return out;
}

}  // namespace leseg::models
