// SPDX-License-Identifier: Apache-2.0
// ERDA components: BN momentum mapping, prototype EMA on hand-made features (global / non-global, ordering of
// pseudo-labels vs update), soft-CE = H(p) + KL(p‖q) numerically (values and gradients), coadapt gradient
// routing into the projection head, the query-prototype module (shapes, gradients), weak pixel labels of the 2D
// variant (per view and class counts, determinism, keyed by the view).
#include "train/components/erda.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <utility>
#include <vector>

#include "engine/ops/elementwise.h"
#include "engine/ops/linalg.h"
#include "engine/ops/losses.h"
#include "engine/ops/nn_functional.h"
#include "engine/ops/reduce.h"
#include "gradcheck.h"

using namespace leseg;
using namespace leseg::train::erda;

TEST(ErdaProjection, Mlp2ShapesAndBnMomentumMapping) {
  Generator gen(1);
  ProjectionMLP2 m(4, gen);
  EXPECT_NEAR(m.bn->momentum, 0.01, 1e-15);  // ERDA's TF decay 0.99 == our momentum 0.01
  EXPECT_DOUBLE_EQ(m.bn->eps, 1e-6);
  Tensor x = Tensor::randn(Shape{6, 4}, 2);
  EXPECT_EQ(m.forward(x).shape(), (Shape{6, 4}));
  // running_mean after one batch = 0.99·0 + 0.01·batch mean of fc1(x)
  Tensor pre = m.fc1->forward(x);
  Tensor bm = mean(pre, 0);
  auto rm = m.bn->running_mean.to_vector<float>(), bv = bm.to_vector<float>();
  for (int c = 0; c < 4; ++c) EXPECT_NEAR(rm[c], 0.01f * bv[c], 1e-6f);
  EXPECT_EQ(m.named_parameters().size(), 6u);
}

TEST(ErdaPrototypes, GlobalUpdateDecaysAbsentClassesAndUsesPreUpdatePrototypes) {
  Generator gen(0);
  PrototypeOptions o;
  o.num_classes = 3;
  o.dim = 2;
  o.momentum = 0.5;  // hand-checkable
  o.dtype = DType::f64;
  PrototypeMemory mem(o, gen);
  mem.prototypes.copy_(Tensor::from_vector<double>({1, 0, 0, 1, -1, -1}, Shape{3, 2}));
  // labelled rows: class 0 -> (2, 0), (4, 2); class 1 -> (0, 6); class 2 absent; one unlabelled row
  Tensor h = Tensor::from_vector<double>({2, 0, 4, 2, 0, 6, 3, 3}, Shape{4, 2});
  Tensor lab = Tensor::from_vector<int64_t>({0, 0, 1, -1}, Shape{4});
  auto [means, counts] = mem.class_means(h, lab);
  EXPECT_EQ(means.to_vector<double>(), (std::vector<double>{3, 1, 0, 6, 0, 0}));
  EXPECT_EQ(counts.to_vector<int64_t>(), (std::vector<int64_t>{2, 1, 0}));
  Tensor expected_s = mem.similarity(h);  // with the pre-update prototypes
  Tensor s = mem.step(h, lab);
  EXPECT_EQ(s.to_vector<double>(), expected_s.to_vector<double>());
  EXPECT_EQ(mem.prototypes.to_vector<double>(), (std::vector<double>{2, 0.5, 0, 3.5, -0.5, -0.5}));
  // cos values on a hand case: row 3 (3,3) vs P̂ = (1,0), (0,1), (-1,-1)/√2
  auto sv = s.to_vector<double>();
  EXPECT_NEAR(sv[9], 1 / std::sqrt(2.0), 1e-12);
  EXPECT_NEAR(sv[11], -1.0, 1e-12);
}

TEST(ErdaPrototypes, NonGlobalUpdatesPresentClassesAndUsesUpdatedPrototypes) {
  Generator gen(0);
  PrototypeOptions o;
  o.num_classes = 3;
  o.dim = 2;
  o.momentum = 0.5;
  o.global = false;
  o.dtype = DType::f64;
  PrototypeMemory mem(o, gen);
  mem.prototypes.copy_(Tensor::from_vector<double>({1, 0, 0, 1, -1, -1}, Shape{3, 2}));
  Tensor h = Tensor::from_vector<double>({2, 0, 4, 2, 0, 6, 3, 3}, Shape{4, 2});
  Tensor lab = Tensor::from_vector<int64_t>({0, 0, 1, -1}, Shape{4});
  Tensor s = mem.step(h, lab);
  EXPECT_EQ(mem.prototypes.to_vector<double>(), (std::vector<double>{2, 0.5, 0, 3.5, -1, -1}));
  EXPECT_EQ(s.to_vector<double>(), mem.similarity(h).to_vector<double>());
  // Default momentum 0.999 with zero init: after one step P = 0.001·c.
  PrototypeOptions d;
  d.num_classes = 2;
  d.dim = 2;
  d.dtype = DType::f64;
  PrototypeMemory m2(d, gen);
  m2.update(Tensor::from_vector<double>({2, 4}, Shape{1, 2}), Tensor::from_vector<int64_t>({1}, Shape{1}));
  auto p = m2.prototypes.to_vector<double>();
  EXPECT_NEAR(p[2], 0.002, 1e-15);
  EXPECT_NEAR(p[3], 0.004, 1e-15);
  EXPECT_THROW(m2.update(Tensor::zeros(Shape{1, 2}, DType::f64), Tensor::from_vector<int64_t>({2}, Shape{1})), Error);
}

TEST(ErdaLoss, SoftCrossEntropyEqualsEntropyPlusKlWithGradients) {
  const int64_t N = 6, C = 4;
  Tensor z = Tensor::randn(Shape{N, C}, 1, 0, DType::f64), s = Tensor::randn(Shape{N, C}, 2, 0, DType::f64);
  z.requires_grad_(true);
  s.requires_grad_(true);
  Tensor rows = Tensor::from_vector<int64_t>({0, 2, 3, 5}, Shape{4});
  ErdaLossOptions o;
  o.weight = 1.0;
  Tensor full = erda_loss(z, s, rows, o);
  o.term = ErdaTerm::er;
  Tensor er = erda_loss(z, s, rows, o);
  o.term = ErdaTerm::da;
  Tensor da = erda_loss(z, s, rows, o);
  EXPECT_NEAR(full.item_double(), er.item_double() + da.item_double(), 1e-12);
  EXPECT_GT(er.item_double(), 0.1);
  EXPECT_GT(da.item_double(), 0.01);
  // Oracle for the full term on the selected rows
  auto zv = z.to_vector<double>(), sv = s.to_vector<double>();
  double ref = 0;
  for (int64_t r : {0, 2, 3, 5}) {
    double zm = 0, sm = 0;
    for (int k = 0; k < C; ++k) { zm += std::exp(zv[r * C + k]); sm += std::exp(sv[r * C + k]); }
    for (int k = 0; k < C; ++k) ref -= std::exp(sv[r * C + k]) / sm * (zv[r * C + k] - std::log(zm));
  }
  EXPECT_NEAR(full.item_double(), ref / 4, 1e-12);
  // Gradients of the full term equal those of ER + DA, in z and in s.
  full.backward();
  Tensor gz = z.grad().clone(), gs = s.grad().clone();
  z.zero_grad();
  s.zero_grad();
  add(er, da).backward();
  auto a = gz.to_vector<double>(), b = z.grad().to_vector<double>();
  auto c = gs.to_vector<double>(), d = s.grad().to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_NEAR(a[i], b[i], 1e-12);
    EXPECT_NEAR(c[i], d[i], 1e-12);
  }
  EXPECT_EQ(a[4], 0.0);  // row 1 not selected
  leseg::testing::expect_gradcheck([&] { return erda_loss(z, s, rows, ErdaLossOptions{0.1, ErdaTerm::erda, true}); }, {z, s});
  // Weight scales; no rows -> 0
  EXPECT_NEAR(erda_loss(z, s, rows, ErdaLossOptions{0.1}).item_double(), 0.1 * ref / 4, 1e-12);
  EXPECT_EQ(erda_loss(z, s, Tensor::zeros(Shape{0}, DType::i64), ErdaLossOptions{}).item_double(), 0.0);
  EXPECT_EQ(unlabelled_rows(Tensor::from_vector<int64_t>({0, -1, 2, -1}, Shape{4})).to_vector<int64_t>(),
            (std::vector<int64_t>{1, 3}));
}

TEST(ErdaLoss, CoadaptRoutesGradientIntoProjectionHead) {
  for (bool coadapt : {true, false}) {
    Generator gen(4);
    const int64_t N = 8, D = 3, C = 3;
    ProjectionMLP2 proj(D, gen);
    PrototypeOptions po;
    po.num_classes = C;
    po.dim = D;
    po.xavier_init = true;
    PrototypeMemory mem(po, gen);
    Tensor feats = Tensor::randn(Shape{N, D}, 5);
    Tensor logits = Tensor::randn(Shape{N, C}, 6);
    logits.requires_grad_(true);
    Tensor lab = Tensor::from_vector<int64_t>({0, 1, 2, -1, -1, -1, -1, -1}, Shape{N});
    Tensor s = mem.step(proj.forward(feats), lab);
    ErdaLossOptions o;
    o.coadapt = coadapt;
    Tensor L = erda_loss(logits, s, unlabelled_rows(lab), o);
    L.backward();
    EXPECT_TRUE(logits.grad().defined());
    Tensor g = proj.fc2->weight.grad();
    if (coadapt) {
      ASSERT_TRUE(g.defined());
      EXPECT_GT(max(abs(g)).item_double(), 1e-6);
    } else {
      EXPECT_FALSE(g.defined() && max(abs(g)).item_double() > 0.0);
    }
  }
}

TEST(ErdaQueryPrototypes, ShapesAndGradients) {
  Generator gen(9);
  QueryPrototypeOptions o;
  o.num_classes = 3;
  o.feat_dim = 4;
  o.proto_dim = 5;
  o.attn_dim = 4;
  o.heads = 2;
  o.dtype = DType::f64;
  QueryPrototypes qp(o, gen);
  Tensor pix = Tensor::randn(Shape{7, 4}, 1, 0, DType::f64);  // two images: 3 and 4 pixels
  pix.requires_grad_(true);
  const std::vector<int64_t> cu = {0, 3, 7};
  Tensor P = qp.forward(pix, cu);
  EXPECT_EQ(P.shape(), (Shape{6, 5}));
  // Image-specific prototypes: the same queries attend to different pixels.
  auto pv = P.to_vector<double>();
  double d = 0;
  for (int j = 0; j < 15; ++j) d += std::abs(pv[j] - pv[15 + j]);
  EXPECT_GT(d, 1e-6);
  Tensor h = Tensor::randn(Shape{7, 5}, 2, 0, DType::f64);
  h.requires_grad_(true);
  Tensor s = qp.similarity(h, P, cu);
  EXPECT_EQ(s.shape(), (Shape{7, 3}));
  for (double v : s.to_vector<double>()) EXPECT_LE(std::abs(v), 1.0 + 1e-12);
  // pixel 4 (image 1) against prototype row 3 + 1
  Tensor ref = cosine_similarity(h.narrow(4, 1), P.narrow(4, 1), -1, 1e-12);
  EXPECT_NEAR(s.to_vector<double>()[4 * 3 + 1], ref.item_double(), 1e-12);
  Tensor w = Tensor::randn(Shape{7, 3}, 3, 0, DType::f64);
  leseg::testing::expect_gradcheck([&] { return sum(mul(qp.similarity(h, qp.forward(pix, cu), cu), w)); },
                            {qp.queries, pix, h, qp.q_proj->weight, qp.k_proj->weight, qp.v_proj->weight,
                             qp.o_proj->weight});
  EXPECT_THROW(qp.forward(pix, std::vector<int64_t>{0}), Error);
  EXPECT_THROW(qp.forward(pix, std::vector<int64_t>{0, 3, 6}), Error);  // ends short of the 7 pixels
  EXPECT_THROW(qp.forward(pix, std::vector<int64_t>{0, 5, 3, 7}), Error);  // decreasing
}


TEST(ErdaTerms, ParseAndNameRoundTrip) {
  EXPECT_EQ(parse_term("erda"), ErdaTerm::erda);
  EXPECT_EQ(parse_term("er+da"), ErdaTerm::erda);
  EXPECT_EQ(parse_term("er"), ErdaTerm::er);
  EXPECT_EQ(parse_term("da"), ErdaTerm::da);
  for (ErdaTerm t : {ErdaTerm::erda, ErdaTerm::er, ErdaTerm::da}) EXPECT_EQ(parse_term(term_name(t)), t);
  try {
    parse_term("ent");
    ADD_FAILURE() << "no error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("erda.term"), std::string::npos) << e.what();
  }
}

// The mechanism statistics of both ERDA regimes, on hand-made rows.
TEST(ErdaMechanismStats, LabelledFitAndPseudoDistribution) {
  // 4 rows, 3 classes: argmax 0, 1, 2, 2; labels 0, 2, -1, 2 -> 3 labelled, 2 right
  Tensor z = Tensor::from_vector(std::vector<float>{5, 0, 0, 0, 5, 0, 0, 0, 5, 1, 2, 3}, Shape{4, 3});
  Tensor y = Tensor::from_vector(std::vector<int64_t>{0, 2, -1, 2}, Shape{4});
  nlohmann::json j = nlohmann::json::object();
  labelled_fit_stats(y, z, j);
  EXPECT_DOUBLE_EQ(j["labelled_fit"].get<double>(), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(j["labelled_fraction"].get<double>(), 0.75);
  // uniform logits on row 0, one-hot-ish on row 1; rows {0} only: max p 1/3, H = ln 3
  Tensor p = Tensor::from_vector(std::vector<float>{0, 0, 0, 100, 0, 0}, Shape{2, 3});
  pseudo_distribution_stats(p, Tensor::from_vector(std::vector<int64_t>{0}, Shape{1}), j);
  EXPECT_NEAR(j["p_max"].get<double>(), 1.0 / 3.0, 1e-6);
  EXPECT_NEAR(j["p_entropy"].get<double>(), std::log(3.0), 1e-6);
  // all rows: max p (1/3 + 1) / 2, H (ln 3 + ~0) / 2
  pseudo_distribution_stats(p, Tensor(), j);
  EXPECT_NEAR(j["p_max"].get<double>(), (1.0 / 3.0 + 1.0) / 2.0, 1e-6);
  EXPECT_NEAR(j["p_entropy"].get<double>(), std::log(3.0) / 2.0, 1e-6);
  // an empty row set writes nothing
  nlohmann::json e = nlohmann::json::object();
  pseudo_distribution_stats(p, Tensor::from_vector(std::vector<int64_t>{}, Shape{0}), e);
  EXPECT_TRUE(e.empty());
}

// Accuracy of argmax p on hand-made rows: rows with gt < 0 are not scored, counts accumulate over batches.
TEST(ErdaMechanismStats, PseudoLabelAccuracyOnUnlabelledRows) {
  PseudoLabelAccuracy acc;
  nlohmann::json j = nlohmann::json::object();
  acc.write(j);
  EXPECT_TRUE(j.empty());  // nothing scored yet
  // argmax rows: 2, 0, 1, 1
  Tensor s = Tensor::from_vector(std::vector<float>{0, 1, 5, 3, 1, 0, 0, 2, 1, -1, 4, 0}, Shape{4, 3});
  acc.add(s, Tensor::from_vector(std::vector<int32_t>{2, 1, -1, 1}, Shape{4}));  // right, wrong, unscored, right
  acc.write(j);
  EXPECT_NEAR(j["p_acc"].get<double>(), 2.0 / 3.0, 1e-12);
  EXPECT_EQ(j["p_acc_n"].get<int64_t>(), 3);
  acc.add(Tensor::from_vector(std::vector<float>{0, 0, 9}, Shape{1, 3}), Tensor::from_vector(std::vector<int64_t>{0}, Shape{1}));
  acc.write(j, "pa");
  EXPECT_NEAR(j["pa"].get<double>(), 2.0 / 4.0, 1e-12);
  EXPECT_EQ(j["pa_n"].get<int64_t>(), 4);
  acc.reset();
  nlohmann::json k = nlohmann::json::object();
  acc.write(k);
  EXPECT_TRUE(k.empty());
  EXPECT_THROW(acc.add(s, Tensor::from_vector(std::vector<int32_t>{0, 1}, Shape{2})), Error);
}
