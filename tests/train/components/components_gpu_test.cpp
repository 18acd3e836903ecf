// SPDX-License-Identifier: Apache-2.0
// CPU vs CUDA parity of the components that run engine kernels on the device: SAAF (fused attention with
// per-point key sets), ERDA prototypes + loss, query prototypes, SAM-mask refinement, HICL set refinement.
// Integer label paths must agree exactly; float paths within f32 tolerances (element by element).
#include <gtest/gtest.h>

#include <cmath>

#include "engine/device.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/rng.h"
#include "train/components/cns.h"
#include "train/components/erda.h"
#include "train/components/hicl.h"
#include "train/components/lass3d.h"

using namespace leseg;
using namespace leseg::train;

namespace {
void expect_close(const Tensor& cpu, const Tensor& gpu, double atol, double rtol, const char* what) {
  ASSERT_EQ(cpu.shape(), gpu.shape()) << what;
  std::vector<float> a = cpu.to(DType::f32).to_vector<float>(), b = gpu.to(DType::f32).to_vector<float>();
  int bad = 0;
  double amax = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    amax = std::max(amax, double(std::abs(a[i])));
    if (std::abs(a[i] - b[i]) > atol + rtol * std::abs(a[i]) && bad++ < 5)
      ADD_FAILURE() << what << " element " << i << ": cpu " << a[i] << " cuda " << b[i];
  }
  EXPECT_EQ(bad, 0) << what;
  EXPECT_GT(amax, 0.0) << what << " is trivially zero";
}
}  // namespace

TEST(ComponentsGpu, SaafForwardBackwardParity) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  const Device cuda = Device::cuda();
  const int64_t N = 37, C = 5, D = 32, F = 24;
  Generator gen(1);
  lass3d::SaafOptions o;
  o.feat_dim = F;
  o.text_dim = D;
  o.attn_dim = 32;
  o.heads = 2;  // head_dim 16 (the CUDA kernel's supported sizes)
  lass3d::SAAF cpu(o, gen), gpu(o, gen);
  gpu.load_state_dict(cpu.state_dict());
  gpu.to(cuda);
  Tensor cls = Tensor::randn(Shape{C, D}, 2), scn = Tensor::randn(Shape{3, D}, 3), obj = Tensor::randn(Shape{4, D}, 4);
  std::vector<int64_t> sl, ol;
  for (int64_t p = 0; p < N; ++p) {
    sl.push_back(p); sl.push_back(p % 3);
    if (p % 2) { ol.push_back(p); ol.push_back(p % 4); }
  }
  lass3d::SaafKeys keys = lass3d::build_saaf_keys(N, cls, scn, Tensor::from_vector(sl, Shape{N, 2}), obj,
                                                  Tensor::from_vector(ol, Shape{int64_t(ol.size() / 2), 2}));
  Tensor f = Tensor::randn(Shape{N, F}, 5), w = Tensor::randn(Shape{N, F}, 6);
  Tensor fc = f.detach().clone().requires_grad_(true), fg = f.to(cuda).requires_grad_(true);
  Tensor yc = cpu.forward(fc, keys), yg = gpu.forward(fg, keys);
  expect_close(yc, yg, 1e-5, 1e-4, "saaf output");
  sum(mul(yc, w)).backward();
  sum(mul(yg, w.to(cuda))).backward();
  expect_close(fc.grad(), fg.grad(), 1e-5, 1e-4, "saaf dx");
  expect_close(cpu.k_proj->weight.grad(), gpu.k_proj->weight.grad(), 1e-4, 1e-3, "saaf dWk");
}

TEST(ComponentsGpu, ErdaPrototypesLossAndQueriesParity) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  const Device cuda = Device::cuda();
  Generator gen(2);
  erda::PrototypeOptions po;
  po.num_classes = 4;
  po.dim = 8;
  po.xavier_init = true;
  erda::PrototypeMemory mc(po, gen), mg(po, gen);
  mg.load_state_dict(mc.state_dict());
  mg.to(cuda);
  Tensor h = Tensor::randn(Shape{29, 8}, 7), z = Tensor::randn(Shape{29, 4}, 8);
  std::vector<int64_t> lab(29, -1);
  for (int i = 0; i < 29; i += 3) lab[size_t(i)] = i % 4;
  Tensor L = Tensor::from_vector(lab, Shape{29});
  Tensor sc = mc.step(h, L), sg = mg.step(h.to(cuda), L.to(cuda));
  expect_close(sc, sg, 1e-5, 1e-4, "pseudo logits");
  expect_close(mc.prototypes, mg.prototypes, 1e-6, 1e-4, "prototypes");
  Tensor rows = erda::unlabelled_rows(L);
  expect_close(erda::erda_loss(z, sc, rows, {}), erda::erda_loss(z.to(cuda), sg, rows.to(cuda), {}), 1e-6, 1e-4, "erda loss");
  erda::QueryPrototypeOptions qo;
  qo.num_classes = 3;
  qo.feat_dim = 8;
  qo.proto_dim = 8;
  qo.attn_dim = 16;
  qo.heads = 1;
  erda::QueryPrototypes qc(qo, gen), qg(qo, gen);
  qg.load_state_dict(qc.state_dict());
  qg.to(cuda);
  Tensor pix = Tensor::randn(Shape{41, 8}, 9);
  const std::vector<int64_t> cu = {0, 17, 41};
  expect_close(qc.forward(pix, cu), qg.forward(pix.to(cuda), cu), 1e-5, 1e-4, "query prototypes");
}

TEST(ComponentsGpu, MaskAndSetRefinementExact) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  const Device cuda = Device::cuda();
  const int64_t H = 24, W = 32, C = 7;
  std::vector<int64_t> lab(H * W), mask(H * W);
  for (int64_t i = 0; i < H * W; ++i) {
    lab[size_t(i)] = (i * 7919 % 13) % (C + 1) - 1;
    mask[size_t(i)] = (i % W) < 2 ? -1 : (i / W) / 4 * 8 + (i % W) / 4;
  }
  Tensor L = Tensor::from_vector(lab, Shape{H, W}), M = Tensor::from_vector(mask, Shape{H, W});
  Tensor rc = cns::refine_by_masks(L, M, C), rg = cns::refine_by_masks(L.to(cuda), M.to(cuda), C);
  EXPECT_EQ(rg.device(), cuda);
  EXPECT_EQ(rc.to_vector<int64_t>(), rg.to_vector<int64_t>());
  Tensor Lf = L.reshape(Shape{H * W}), Mf = M.reshape(Shape{H * W});
  EXPECT_EQ(hicl::refine_by_sets(Lf, Mf, C).to_vector<int64_t>(),
            hicl::refine_by_sets(Lf.to(cuda), Mf.to(cuda), C).to_vector<int64_t>());
}

// CNS on the device: SAM voting with the batch's mask count, and the 2D <-> 3D hand-overs through the pairs' device
// forms, equal the CPU host path exactly (integer votes, a per-pixel maximum: no order dependence).
TEST(ComponentsGpu, CnsDeviceHandOversExact) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  const Device cuda = Device::cuda();
  cns::PairIndex p;
  p.N = 500, p.V = 4, p.H = 24, p.W = 32;
  const int64_t C = 11, P = 3000, hw = p.H * p.W;
  std::vector<int64_t> pix(size_t(p.V * hw)), pts(size_t(p.N)), ids(size_t(p.V * hw));
  for (int64_t i = 0; i < P; ++i) {
    p.point.push_back((i * 7919) % p.N);
    p.pixel.push_back((i * 104729) % hw);
    p.view.push_back((i * 31) % p.V);
  }
  for (size_t i = 0; i < pix.size(); ++i) pix[i] = int64_t(i * 2654435761u % uint64_t(C + 1)) - 1;
  for (size_t i = 0; i < pts.size(); ++i) pts[i] = int64_t(i * 40503u % uint64_t(C + 1)) - 1;
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int64_t(i / 37 % 50) - 1;
  const Tensor tp = Tensor::from_vector(pix, Shape{p.V * hw}), tq = Tensor::from_vector(pts, Shape{p.N});
  const Tensor ti = Tensor::from_vector(ids, Shape{p.V * hw});
  cns::PairIndex d = p;
  cns::to_device(d, cuda);
  EXPECT_EQ(cns::pixels_to_points(tp.to(cuda), d, C).to_vector<int64_t>(),
            cns::pixels_to_points(tp, p, C).to_vector<int64_t>());
  EXPECT_EQ(cns::points_to_pixels(tq.to(cuda), d).to_vector<int64_t>(), cns::points_to_pixels(tq, p).to_vector<int64_t>());
  EXPECT_EQ(cns::refine_by_masks(tp.to(cuda), ti.to(cuda), C, 60).to_vector<int64_t>(),
            cns::refine_by_masks(tp, ti, C).to_vector<int64_t>());
}

// The shuffled control's relabelling on CUDA equals the CPU's bit for bit (values only move).
TEST(ComponentsGpu, Lass3dSwapArgmaxWithExact) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  Generator gen(8);
  const int64_t R = 3000, C = 20;
  const Tensor z = randn(Shape{R, C}, gen);
  std::vector<int64_t> drawn(static_cast<size_t>(R));
  for (int64_t r = 0; r < R; ++r) drawn[size_t(r)] = (r * 7 + 1) % C;
  const Tensor cpu = lass3d::swap_argmax_with(z, drawn);
  const Tensor gpu = lass3d::swap_argmax_with(z.to(Device::cuda()), drawn);
  EXPECT_TRUE(gpu.device().is_cuda());
  EXPECT_EQ(gpu.to(Device::cpu()).to_vector<float>(), cpu.to_vector<float>());
}

// CNS's shuffled control on CUDA: the same draws as on the CPU (ranked on the device).
TEST(ComponentsGpu, CnsRandomLabelsExact) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  std::vector<int64_t> v;
  for (int64_t i = 0; i < 200003; ++i) v.push_back(i % 7 == 3 ? -1 : (i * 13) % 20);
  const Tensor l = Tensor::from_vector(v, Shape{int64_t(v.size())});
  const Tensor cpu = cns::random_labels(l, 20, 99);
  const Tensor gpu = cns::random_labels(l.to(Device::cuda()), 20, 99);
  EXPECT_TRUE(gpu.device().is_cuda());
  EXPECT_EQ(gpu.to(Device::cpu()).to_vector<int64_t>(), cpu.to_vector<int64_t>());
}
