// SPDX-License-Identifier: Apache-2.0
// LASS3D components: τ schedule, reliable/unreliable loss terms vs their unfused composition, SAAF key sets,
// SAAF shapes and finite-difference gradients (f64), feature KD.
#include "train/components/lass3d.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/ops/elementwise.h"
#include "engine/ops/losses.h"
#include "engine/ops/nn_functional.h"
#include "engine/ops/reduce.h"
#include "engine/rng.h"
#include "gradcheck.h"

using namespace leseg;
using namespace leseg::train::lass3d;

TEST(Lass3dSchedule, LinearDecayAndFixed) {
  ThresholdSchedule s(0.9, 0.7, true);
  EXPECT_DOUBLE_EQ(s.at(0, 100), 0.9);
  EXPECT_NEAR(s.at(50, 100), 0.8, 1e-12);
  EXPECT_NEAR(s.at(100, 100), 0.7, 1e-12);
  EXPECT_NEAR(s.at(250, 100), 0.7, 1e-12);  // held after the end
  ThresholdSchedule f(0.9, 0.7, false);
  EXPECT_DOUBLE_EQ(f.at(80, 100), 0.9);
  EXPECT_THROW(ThresholdSchedule(1.2, 0.7), Error);
}

TEST(Lass3dUnlabelledLoss, MatchesUnfusedCompositionAndNamesTerms) {
  // Teacher rows: confident (0.97), confident, unsure, unsure.
  Tensor teacher = Tensor::from_vector<double>({5, 0, 0, 0, 0, 6, 0.2, 0.1, 0, 0, 0.3, 0.1}, Shape{4, 3});
  Tensor student = Tensor::from_vector<double>({1, -1, 0.5, 0.2, 0.3, -0.7, 2, 0, 1, -1, 1.5, 0}, Shape{4, 3});
  student.requires_grad_(true);
  teacher.requires_grad_(true);
  UnlabelledLoss u = unlabelled_loss(student, teacher, 0.9);
  EXPECT_EQ(u.reliable.to_vector<uint8_t>(), (std::vector<uint8_t>{1, 1, 0, 0}));
  EXPECT_EQ(u.pseudo_labels.to_vector<int64_t>(), (std::vector<int64_t>{0, 2, 0, 1}));
  // oracle: CE over rows 0,1 to labels 0,2; NL over rows 2,3 with ȳ = 0,1
  auto sv = student.to_vector<double>();
  auto lsm = [&](int r, int c) {
    double m = std::max({sv[r * 3], sv[r * 3 + 1], sv[r * 3 + 2]}), s = 0;
    for (int k = 0; k < 3; ++k) s += std::exp(sv[r * 3 + k] - m);
    return sv[r * 3 + c] - m - std::log(s);
  };
  double ce = -(lsm(0, 0) + lsm(1, 2)) / 2;
  double nl = -(std::log(1 - std::exp(lsm(2, 0))) + std::log(1 - std::exp(lsm(3, 1)))) / 2;
  EXPECT_NEAR(u.ce.item_double(), ce, 1e-12);
  EXPECT_NEAR(u.nl.item_double(), nl, 1e-12);
  auto terms = u.terms();
  ASSERT_EQ(terms.size(), 2u);
  EXPECT_EQ(terms[0].first, "pseudo_ce");
  EXPECT_EQ(terms[1].first, "neg");
  (u.ce + u.nl).backward();
  EXPECT_TRUE(student.grad().defined());
  EXPECT_FALSE(teacher.grad().defined());  // the teacher is never differentiated
  UnlabelledLoss off = unlabelled_loss(student, teacher, 0.9, false);
  EXPECT_EQ(off.nl.item_double(), 0.0);
  EXPECT_NEAR(off.ce.item_double(), ce, 1e-12);
  // τ = 0.3 is below every row's max probability (≥ 0.37): all rows become reliable.
  EXPECT_EQ(unlabelled_loss(student, teacher, 0.3).reliable.to_vector<uint8_t>(), (std::vector<uint8_t>{1, 1, 1, 1}));
}

namespace {
Tensor unit_rows(int64_t n, int64_t d, uint64_t seed) {
  Tensor t = Tensor::randn(Shape{n, d}, seed, 0, DType::f64);
  return l2_normalize(t, -1);
}
}  // namespace

TEST(Lass3dSaaf, KeySetsFromLinks) {
  const int64_t N = 5, C = 3, D = 4;
  Tensor cls = unit_rows(C, D, 1), scn = unit_rows(2, D, 2), obj = unit_rows(3, D, 3);
  // view 0 sees points 0, 1, 2 (scene caption 0), view 1 sees 2, 3 (scene caption 1)
  Tensor p0 = Tensor::from_vector<int64_t>({0, 0, 1, 1, 2, 2}, Shape{3, 2});
  Tensor p1 = Tensor::from_vector<int64_t>({2, 0, 3, 3}, Shape{2, 2});
  Tensor s0 = link_scene_caption(p0, 0), s1 = link_scene_caption(p1, 1);
  std::vector<int64_t> sl = s0.to_vector<int64_t>(), sl1 = s1.to_vector<int64_t>();
  sl.insert(sl.end(), sl1.begin(), sl1.end());
  Tensor scene_links = Tensor::from_vector(sl, Shape{5, 2});
  // view 1 SAM masks (2x2): pixel 0 -> mask 4, pixel 3 -> mask 9; captions describe masks 9, 4, 9
  Tensor masks = Tensor::from_vector<int32_t>({4, -1, -1, 9}, Shape{2, 2});
  Tensor cap_ids = Tensor::from_vector<int32_t>({9, 4, 9}, Shape{3});
  Tensor obj_links = link_object_captions(p1, masks, cap_ids, 0);
  EXPECT_EQ(obj_links.to_vector<int64_t>(), (std::vector<int64_t>{2, 1, 3, 0, 3, 2}));
  SaafKeys k = build_saaf_keys(N, cls, scn, scene_links, obj, obj_links);
  EXPECT_EQ(k.bank.size(0), C + 2 + 3);
  EXPECT_EQ(k.offsets.to_vector<int64_t>(), (std::vector<int64_t>{0, 4, 8, 14, 20, 23}));
  std::vector<int64_t> idx = k.index.to_vector<int64_t>();
  EXPECT_EQ(std::vector<int64_t>(idx.begin() + 8, idx.begin() + 14), (std::vector<int64_t>{0, 1, 2, 3, 4, 6}));
  EXPECT_EQ(std::vector<int64_t>(idx.begin() + 14, idx.begin() + 20), (std::vector<int64_t>{0, 1, 2, 4, 5, 7}));
  SaafKeys so = build_saaf_keys(N, cls, scn, scene_links, obj, obj_links, /*scene_only=*/true);
  EXPECT_EQ(so.offsets.to_vector<int64_t>(), (std::vector<int64_t>{0, 4, 8, 13, 17, 20}));
  Tensor bad = Tensor::from_vector<int64_t>({7, 0}, Shape{1, 2});
  EXPECT_THROW(build_saaf_keys(N, cls, scn, bad, obj, obj_links), Error);
}

TEST(Lass3dSaaf, ShapesGateAndGradcheck) {
  const int64_t N = 4, C = 3, D = 5, F = 6;
  Generator gen(11);
  SaafOptions o;
  o.feat_dim = F;
  o.text_dim = D;
  o.attn_dim = 4;
  o.heads = 2;
  o.dtype = DType::f64;
  SAAF saaf(o, gen);
  Tensor cls = unit_rows(C, D, 4), scn = unit_rows(2, D, 5), obj = unit_rows(2, D, 6);
  Tensor sl = Tensor::from_vector<int64_t>({0, 0, 1, 0, 2, 1, 3, 1}, Shape{4, 2});
  Tensor ol = Tensor::from_vector<int64_t>({1, 0, 2, 1}, Shape{2, 2});
  SaafKeys keys = build_saaf_keys(N, cls, scn, sl, obj, ol);
  Tensor f = Tensor::randn(Shape{N, F}, 9, 0, DType::f64);
  f.requires_grad_(true);
  Tensor out = saaf.forward(f, keys);
  EXPECT_EQ(out.shape(), (Shape{N, F}));
  EXPECT_EQ(saaf.last_text.shape(), (Shape{N, 4}));
  EXPECT_EQ(saaf.last_gate.shape(), (Shape{N, F}));
  for (double g : saaf.last_gate.to_vector<double>()) EXPECT_TRUE(g > 0 && g < 1);
  // f′ − f is non-trivial
  auto ov = out.to_vector<double>(), fv = f.to_vector<double>();
  double diff = 0;
  for (size_t i = 0; i < ov.size(); ++i) diff += std::abs(ov[i] - fv[i]);
  EXPECT_GT(diff, 1e-3);
  Tensor w = Tensor::randn(Shape{N, F}, 10, 0, DType::f64);
  std::vector<Tensor> leaves{f, saaf.q_proj->weight, saaf.k_proj->weight, saaf.v_proj->weight, saaf.o_proj->weight,
                             saaf.gate->weight, saaf.gate->bias};
  leseg::testing::expect_gradcheck([&] { return sum(mul(saaf.forward(f, keys), w)); }, leaves);
  // Another key set changes the output only through the text (scene-only drops object keys of points 1, 2).
  SaafKeys so = build_saaf_keys(N, cls, scn, sl, obj, ol, true);
  auto o2 = saaf.forward(f, so).to_vector<double>();
  for (int64_t j = 0; j < F; ++j) EXPECT_DOUBLE_EQ(o2[size_t(j)], ov[size_t(j)]);  // point 0: same keys
  double d1 = 0;
  for (int64_t j = 0; j < F; ++j) d1 += std::abs(o2[size_t(F + j)] - ov[size_t(F + j)]);
  EXPECT_GT(d1, 1e-9);
  EXPECT_THROW(saaf.forward(Tensor::zeros(Shape{N, F + 1}, DType::f64), keys), Error);
}

// SAAF as the paper words it (class_weighted): the point's class similarities weight its captions. Hand-computed
// on a small case in f64, a point without captions gets t̃ = 0, and a gradcheck through every projection.
TEST(Lass3dSaaf, ClassWeightedFusionByHand) {
  const int64_t N = 3, C = 3, D = 5, F = 6, A = 4;
  Generator gen(12);
  SaafOptions o;
  o.feat_dim = F;
  o.text_dim = D;
  o.attn_dim = A;
  o.heads = 2;
  o.dtype = DType::f64;
  o.mode = SaafMode::class_weighted;
  o.num_classes = C;
  o.caption_temperature = 0.5;
  SAAF saaf(o, gen);
  Tensor cls = unit_rows(C, D, 4), scn = unit_rows(1, D, 5), obj = unit_rows(2, D, 6);
  Tensor sl = Tensor::from_vector<int64_t>({0, 0, 1, 0}, Shape{2, 2});  // points 0, 1 see the scene caption
  Tensor ol = Tensor::from_vector<int64_t>({0, 1, 0, 0}, Shape{2, 2});  // point 0 also both object captions
  SaafKeys keys = build_saaf_keys(N, cls, scn, sl, obj, ol);
  Tensor f = Tensor::randn(Shape{N, F}, 9, 0, DType::f64);
  f.requires_grad_(true);
  saaf.forward(f, keys);
  const std::vector<double> t = saaf.last_text.to_vector<double>();
  // by hand
  auto rows = [](const Tensor& x) { return x.to(DType::f64).to_vector<double>(); };
  const std::vector<double> bank = rows(keys.bank), fv = rows(f);
  auto lin = [&](const Linear& l, const double* x, int64_t in, int64_t out) {
    std::vector<double> w = rows(l.weight), b = l.bias.defined() ? rows(l.bias) : std::vector<double>(size_t(out), 0.0);
    std::vector<double> y(static_cast<size_t>(out));
    for (int64_t r = 0; r < out; ++r) {
      y[size_t(r)] = b[size_t(r)];
      for (int64_t c = 0; c < in; ++c) y[size_t(r)] += w[size_t(r * in + c)] * x[c];
    }
    return y;
  };
  auto norm = [](std::vector<double> v) {
    double n = 0;
    for (double x : v) n += x * x;
    for (double& x : v) x /= std::sqrt(n);
    return v;
  };
  const std::vector<int64_t> off = keys.offsets.to_vector<int64_t>(), idx = keys.index.to_vector<int64_t>();
  for (int64_t p = 0; p < N; ++p) {
    std::vector<double> q = lin(*saaf.q_proj, &fv[size_t(p * F)], F, A), sc(static_cast<size_t>(C));
    double mx = -1e300, z = 0;
    for (int64_t c = 0; c < C; ++c) {
      std::vector<double> k = lin(*saaf.k_proj, &bank[size_t(c * D)], D, A);
      double d = 0;
      for (int64_t j = 0; j < A; ++j) d += q[size_t(j)] * k[size_t(j)];
      sc[size_t(c)] = d / std::sqrt(double(A));
      mx = std::max(mx, sc[size_t(c)]);
    }
    for (double& x : sc) z += (x = std::exp(x - mx));
    for (double& x : sc) x /= z;
    std::vector<double> tt(static_cast<size_t>(A), 0.0);
    std::vector<std::pair<double, std::vector<double>>> wv;
    double wsum = 0;
    for (int64_t j = off[size_t(p)]; j < off[size_t(p) + 1]; ++j) {
      const int64_t r = idx[size_t(j)];
      if (r < C) continue;
      std::vector<double> cap = norm(std::vector<double>(&bank[size_t(r * D)], &bank[size_t(r * D + D)])), a(static_cast<size_t>(C));
      double az = 0, amx = -1e300;
      for (int64_t c = 0; c < C; ++c) {
        std::vector<double> e = norm(std::vector<double>(&bank[size_t(c * D)], &bank[size_t(c * D + D)]));
        double d = 0;
        for (int64_t k = 0; k < D; ++k) d += cap[size_t(k)] * e[size_t(k)];
        a[size_t(c)] = d / 0.5;
        amx = std::max(amx, a[size_t(c)]);
      }
      for (double& x : a) az += (x = std::exp(x - amx));
      double w = 0;
      for (int64_t c = 0; c < C; ++c) w += sc[size_t(c)] * a[size_t(c)] / az;
      wv.emplace_back(w, lin(*saaf.v_proj, &bank[size_t(r * D)], D, A));
      wsum += w;
    }
    for (auto& [w, v] : wv)
      for (int64_t j = 0; j < A; ++j) tt[size_t(j)] += w / wsum * v[size_t(j)];
    for (int64_t j = 0; j < A; ++j) EXPECT_NEAR(t[size_t(p * A + j)], tt[size_t(j)], 1e-10) << "point " << p;
    if (p == 2) {
      for (int64_t j = 0; j < A; ++j) EXPECT_EQ(t[size_t(p * A + j)], 0.0) << "no caption: no text";
    }
  }
  Tensor w = Tensor::randn(Shape{N, F}, 10, 0, DType::f64);
  std::vector<Tensor> leaves{f, saaf.q_proj->weight, saaf.k_proj->weight, saaf.v_proj->weight, saaf.o_proj->weight,
                             saaf.gate->weight};
  leseg::testing::expect_gradcheck([&] { return sum(mul(saaf.forward(f, keys), w)); }, leaves);
  o.num_classes = 9;
  SAAF bad(o, gen);
  EXPECT_THROW(bad.forward(f, keys), Error);
}

TEST(Lass3dFeatureKD, MseAndKlThroughHeadTeacherDetached) {
  Generator gen(3);
  const int64_t N = 5, Fs = 4, Ft = 3;
  Tensor s = Tensor::randn(Shape{N, Fs}, 1, 0, DType::f64), t = Tensor::randn(Shape{N, Ft}, 2, 0, DType::f64);
  s.requires_grad_(true);
  t.requires_grad_(true);
  FeatureKD mse(Fs, Ft, KDMode::mse, gen, 1.0, DType::f64);
  Tensor proj = mse.head->forward(s);
  EXPECT_NEAR(mse.loss(s, t).item_double(), mean(square(sub(proj, t))).item_double(), 1e-12);
  mse.loss(s, t).backward();
  EXPECT_TRUE(s.grad().defined());
  EXPECT_TRUE(mse.head->weight.grad().defined());
  EXPECT_FALSE(t.grad().defined());
  FeatureKD kl(Fs, Ft, KDMode::kl, gen, 2.0, DType::f64);
  Tensor ps = softmax(div(kl.head->forward(s), 2.0)), pt = softmax(div(t, 2.0));
  double ref = 4.0 * sum(mul(pt, sub(log(pt), log(ps)))).item_double() / double(N);
  EXPECT_NEAR(kl.loss(s, t).item_double(), ref, 1e-10);
  EXPECT_GT(ref, 0.0);
}

// Mechanism statistics on hand-made rows: 5 unlabelled rows, 2 reliable; ground truth known for 4 of them.
TEST(Lass3dMechanism, CountsByHand) {
  UnlabelledLoss u;
  u.reliable = Tensor::from_vector<uint8_t>({1, 1, 0, 0, 0}, Shape{5});
  u.pseudo_labels = Tensor::from_vector<int64_t>({2, 3, 1, 4, 0}, Shape{5});
  PseudoLabelMechanism m;
  EXPECT_TRUE(m.record().empty());
  m.add(u, {2, 0, 1, -1, 3}, Tensor::from_vector<int64_t>({2, 2, 2, 2, 3}, Shape{5}));
  nlohmann::json j = m.record();
  EXPECT_DOUBLE_EQ(j["reliable_fraction"].get<double>(), 2.0 / 5.0);
  EXPECT_DOUBLE_EQ(j["gt_coverage"].get<double>(), 4.0 / 5.0);
  EXPECT_DOUBLE_EQ(j["reliable_pseudo_accuracy"].get<double>(), 1.0 / 2.0);  // row 0 right, row 1 wrong
  EXPECT_DOUBLE_EQ(j["negative_hits_true"].get<double>(), 1.0 / 2.0);        // row 2's negative label is its class
  EXPECT_DOUBLE_EQ(j["pseudo_accuracy"].get<double>(), 2.0 / 4.0);
  EXPECT_DOUBLE_EQ(j["student_accuracy_unlabelled"].get<double>(), 2.0 / 4.0);  // rows 0 and 4
  // A second batch accumulates; a length mismatch is an error.
  m.add(u, {-1, -1, -1, -1, -1}, Tensor::from_vector<int64_t>({0, 0, 0, 0, 0}, Shape{5}));
  EXPECT_DOUBLE_EQ(m.record()["reliable_fraction"].get<double>(), 4.0 / 10.0);
  EXPECT_DOUBLE_EQ(m.record()["gt_coverage"].get<double>(), 4.0 / 10.0);
  EXPECT_THROW(m.add(u, {1, 2}, Tensor::from_vector<int64_t>({0, 0, 0, 0, 0}, Shape{5})), Error);
}

// The shuffled control's relabelling (swap_argmax_with) equals the host loop it replaced: std::max_element's first
// maximum trades places with the drawn column, ties and a drawn column equal to the maximum's included.
TEST(Lass3dControls, SwapArgmaxWithEqualsTheHostLoop) {
  Generator gen(5);
  const int64_t R = 64, C = 7;
  Tensor z = randn(Shape{R, C}, gen);
  std::vector<float> v = z.to_vector<float>();
  // Ties: rows whose maximum appears twice (the first must move), a constant row, -inf entries.
  for (int64_t r = 0; r < 8; ++r) v[size_t(r * C + 5)] = v[size_t(r * C + 2)] = 9.0f;
  for (int64_t c = 0; c < C; ++c) v[size_t(9 * C + c)] = 1.5f;
  v[size_t(10 * C + 0)] = -INFINITY;
  z = Tensor::from_vector(v, Shape{R, C});
  std::vector<int64_t> drawn(static_cast<size_t>(R));
  for (int64_t r = 0; r < R; ++r) drawn[size_t(r)] = (r * 5 + 3) % C;
  drawn[0] = 2;  // the drawn column is the first maximum: nothing moves
  drawn[1] = 5;  // the drawn column is the second maximum: the two equal values trade places (a no-op in value)
  std::vector<float> want = v;
  for (int64_t r = 0; r < R; ++r) {
    float* row = want.data() + r * C;
    std::swap(row[std::max_element(row, row + C) - row], row[drawn[size_t(r)]]);
  }
  const Tensor got = swap_argmax_with(z, drawn);
  ASSERT_EQ(got.shape(), (Shape{R, C}));
  const std::vector<float> g = got.to_vector<float>();
  for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(g[i], want[i]) << "element " << i;
  EXPECT_FALSE(got.requires_grad());
  // The argmax of every row is now the drawn class (where the maximum is unique or the drawn column holds it).
  const std::vector<int64_t> am = argmax(got, 1).to_vector<int64_t>();
  for (int64_t r = 10; r < R; ++r) EXPECT_EQ(am[size_t(r)], drawn[size_t(r)]) << "row " << r;
  // bf16 logits: the same swap in bf16 (exact: values only move).
  const Tensor zb = z.to(DType::bf16);
  const std::vector<float> vb = zb.to(DType::f32).to_vector<float>();
  std::vector<float> wb = vb;
  for (int64_t r = 0; r < R; ++r) {
    float* row = wb.data() + r * C;
    std::swap(row[std::max_element(row, row + C) - row], row[drawn[size_t(r)]]);
  }
  const Tensor gb = swap_argmax_with(zb, drawn);
  EXPECT_EQ(gb.dtype(), DType::bf16);
  EXPECT_EQ(gb.to(DType::f32).to_vector<float>(), wb);
  // Errors name the argument.
  EXPECT_THROW(swap_argmax_with(z, std::vector<int64_t>(3, 0)), Error);
  std::vector<int64_t> bad = drawn;
  bad[4] = C;
  try {
    swap_argmax_with(z, bad);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("drawn class 7 of row 4"), std::string::npos) << e.what();
  }
}
