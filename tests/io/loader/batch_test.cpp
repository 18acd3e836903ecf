// SPDX-License-Identifier: Apache-2.0
// Batch assembly: inverse map (every point lies in its voxel), voxel offsets and labels, per-point
// pseudo-labels against a serial vote over the views, batch-unique SAM / segment ids, pairs, view tensors.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include <filesystem>
#include <unistd.h>

#include "io/datasets/scene_io.h"
#include "io/formats/npy.h"
#include "io/geometry/pairing.h"
#include "io/loader/batch.h"
#include "loader_fixtures.h"

namespace leseg::io::loader {
namespace {

using leseg::testing::tiny_batch_options;
using leseg::testing::tiny_scenes;

TEST(VoxelModeLabels, ModeIgnoresMinusOneAndBreaksTiesLow) {
  //               voxel: 0  0  0  1  1  1  1  2   2  3
  std::vector<int32_t> inv = {0, 0, 0, 1, 1, 1, 1, 2, 2, 3};
  std::vector<int32_t> lab = {5, -1, -1, 3, 2, 2, 3, -1, -1, 7};
  std::vector<int32_t> got =
      voxel_mode_labels(Tensor::from_vector(inv, Shape{10}), Tensor::from_vector(lab, Shape{10}), 4).to_vector<int32_t>();
  EXPECT_EQ(got, (std::vector<int32_t>{5, 2, -1, 7}));
  EXPECT_THROW(voxel_mode_labels(Tensor::from_vector(inv, Shape{10}), Tensor::from_vector(lab, Shape{10}), 3), Error);
}

TEST(Batch, InverseMapPointsLieInTheirVoxels) {
  std::vector<Scene> sc = tiny_scenes(3);
  BatchOptions o = tiny_batch_options();
  o.voxel_size = 0.07;  // not a power of two: boundaries are not exact in binary
  std::vector<BatchItem> items;
  for (size_t i = 0; i < sc.size(); ++i) items.push_back({&sc[i], true, 100 + i});
  Batch b = make_batch(items, o);
  const int64_t N = b.num_points(), M = b.num_voxels();
  ASSERT_EQ(N, sc[0].num_points() + sc[1].num_points() + sc[2].num_points());
  ASSERT_GT(M, 100);
  ASSERT_LT(M, N);
  const float* p = b.points.data<float>();
  const int32_t* inv = b.inverse.data<int32_t>();
  const int32_t* pb = b.point_batch.data<int32_t>();
  const int32_t* vc = b.input.coords().data<int32_t>();
  std::vector<int64_t> count(size_t(M), 0);
  int bad = 0;
  for (int64_t i = 0; i < N; ++i) {
    const int32_t v = inv[i];
    ASSERT_GE(v, 0);
    ASSERT_LT(v, M);
    ++count[size_t(v)];
    if (vc[4 * v] != pb[i]) ++bad;
    for (int k = 0; k < 3; ++k) {
      const double lo = vc[4 * v + 1 + k] * o.voxel_size, hi = lo + o.voxel_size;
      if (!(p[3 * i + k] >= lo - 1e-6 && p[3 * i + k] < hi + 1e-6)) {
        if (bad < 5) ADD_FAILURE() << "point " << i << " axis " << k << " = " << p[3 * i + k] << " not in [" << lo << ", " << hi << ")";
        ++bad;
      }
    }
  }
  EXPECT_EQ(bad, 0);
  // voxel counts, unique coordinates, contiguous scenes
  std::vector<int32_t> counts = b.voxel_counts.to_vector<int32_t>();
  std::set<std::vector<int32_t>> uniq;
  for (int64_t v = 0; v < M; ++v) {
    ASSERT_EQ(counts[size_t(v)], count[size_t(v)]) << "voxel " << v;
    uniq.insert({vc[4 * v], vc[4 * v + 1], vc[4 * v + 2], vc[4 * v + 3]});
  }
  EXPECT_EQ(int64_t(uniq.size()), M);
  ASSERT_EQ(b.voxel_offsets.size(), 4u);
  EXPECT_EQ(b.voxel_offsets[3], M);
  for (int s = 0; s < 3; ++s)
    for (int64_t v = b.voxel_offsets[size_t(s)]; v < b.voxel_offsets[size_t(s) + 1]; ++v) ASSERT_EQ(vc[4 * v], s);
  // mean features: voxel feature = mean of its points' features
  const int64_t C = b.input.channels();
  ASSERT_EQ(C, 3);
  std::vector<double> acc(size_t(M * C), 0.0);
  const float* pf = b.point_feats.data<float>();
  for (int64_t i = 0; i < N; ++i)
    for (int64_t c = 0; c < C; ++c) acc[size_t(inv[i] * C + c)] += pf[i * C + c];
  const float* vf = b.input.feats().data<float>();
  for (int64_t v = 0; v < M; ++v)
    for (int64_t c = 0; c < C; ++c) ASSERT_NEAR(vf[v * C + c], acc[size_t(v * C + c)] / count[size_t(v)], 1e-5);
  // voxel labels are the serial mode
  EXPECT_TRUE(leseg::testing::same_tensor(b.voxel_labels, voxel_mode_labels(b.inverse, b.labels, M)));
}

TEST(Batch, LabelsUntouchedAndIdsUniqueAcrossTheBatch) {
  std::vector<Scene> sc = tiny_scenes(2);
  sc[1] = sc[0];  // same scene twice: its ids must still be disjoint between the two batch elements
  sc[1].name = "copy";
  BatchOptions o = tiny_batch_options();
  std::vector<BatchItem> items = {{&sc[0], true, 1}, {&sc[1], true, 2}};
  Batch b = make_batch(items, o);
  const int64_t n = sc[0].num_points();
  ASSERT_EQ(b.num_points(), 2 * n);
  std::vector<int32_t> lab = b.labels.to_vector<int32_t>(), src = sc[0].labels.to_vector<int32_t>();
  std::vector<int32_t> seg = b.segments.to_vector<int32_t>(), ssrc = sc[0].segments.to_vector<int32_t>();
  int32_t smax = -1;
  for (int32_t s : ssrc) smax = std::max(smax, s);
  ASSERT_GT(smax, 3);
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(lab[size_t(i)], src[size_t(i)]);
    ASSERT_EQ(lab[size_t(n + i)], src[size_t(i)]);
    ASSERT_EQ(seg[size_t(i)], ssrc[size_t(i)]);
    ASSERT_EQ(seg[size_t(n + i)], ssrc[size_t(i)] < 0 ? -1 : ssrc[size_t(i)] + smax + 1);
  }
  EXPECT_EQ(b.num_segments, 2 * (smax + 1));
  // SAM ids: the views' id ranges [sam_offsets[v], sam_offsets[v+1]) are disjoint and hold every id
  ASSERT_EQ(b.num_views(), 4);
  ASSERT_TRUE(b.view_sam_masks.defined());
  const int64_t hw = b.view_sam_masks.size(1) * b.view_sam_masks.size(2);
  std::vector<int32_t> masks = b.view_sam_masks.to_vector<int32_t>();
  int64_t with_mask = 0;
  for (int64_t v = 0; v < 4; ++v)
    for (int64_t i = 0; i < hw; ++i) {
      const int32_t id = masks[size_t(v * hw + i)];
      if (id < 0) continue;
      ++with_mask;
      ASSERT_GE(id, b.sam_offsets[size_t(v)]);
      ASSERT_LT(id, b.sam_offsets[size_t(v) + 1]);
    }
  EXPECT_GT(with_mask, hw);
  std::vector<int32_t> psam = b.point_sam_ids.to_vector<int32_t>();
  int64_t paired = 0;
  for (int64_t i = 0; i < n; ++i)
    if (psam[size_t(i)] >= 0) {
      ++paired;
      ASSERT_LT(psam[size_t(i)], b.sam_offsets[2]) << "scene 0 point with an id of scene 1's views";
      ASSERT_GE(psam[size_t(n + i)], b.sam_offsets[2]);
    }
  EXPECT_GT(paired, n / 10);
}

TEST(Batch, PseudoLabelsAreTheVoteOfThePairedPixels) {
  std::vector<Scene> sc = tiny_scenes(2);
  BatchOptions o = tiny_batch_options();
  o.views.max_views = 1;  // exercise the view choice too
  std::vector<BatchItem> items = {{&sc[0], true, 11}, {&sc[1], true, 12}};
  Batch b = make_batch(items, o);
  ASSERT_EQ(b.num_views(), 2);
  std::vector<int32_t> src = b.view_source.to_vector<int32_t>(), vs = b.view_scene.to_vector<int32_t>();
  std::vector<int32_t> got = b.pseudo_labels.to_vector<int32_t>();
  int64_t labelled = 0;
  for (int s = 0; s < 2; ++s) {
    ASSERT_EQ(vs[size_t(s)], s);
    const View& view = sc[size_t(s)].views[size_t(src[size_t(s)])];
    // serial oracle: one view -> the point's label is its pixel's CLIP label
    std::vector<int32_t> expect(size_t(sc[size_t(s)].num_points()), -1);
    std::vector<int64_t> pr = pair_points(sc[size_t(s)].coords, view).to_vector<int64_t>();
    std::vector<int32_t> cl = view.clip_labels.to_vector<int32_t>();
    for (size_t k = 0; k < pr.size(); k += 2) expect[size_t(pr[k])] = cl[size_t(pr[k + 1])];
    for (size_t i = 0; i < expect.size(); ++i) {
      ASSERT_EQ(got[size_t(b.point_offsets[size_t(s)]) + i], expect[i]) << "scene " << s << " point " << i;
      labelled += expect[i] >= 0;
    }
  }
  EXPECT_GT(labelled, 100);
}

namespace {
// The hand-made scene of the vote tests: points 0, 1, 2 at (0,0,2), (1,0,2), (0,1,2) (pixels (3,3), (3,4), (4,3) of
// an 8x8 camera at the origin looking down +z), point 3 behind the camera.
Scene hand_scene(const std::string& name) {
  Scene s;
  s.name = name;
  s.coords = Tensor::from_vector(std::vector<float>{0, 0, 2, 1, 0, 2, 0, 1, 2, 9, 9, -5}, Shape{4, 3});
  s.colors = Tensor::full(Shape{4, 3}, 100, DType::u8);
  s.labels = Tensor::from_vector(std::vector<int32_t>{0, 1, 1, -1}, Shape{4});
  return s;
}
// One view of that camera (depth 2 everywhere) with the given CLIP labels and SAM masks (8x8 each).
View hand_view(const std::string& name, const std::vector<int32_t>& clip, const std::vector<int32_t>& sam) {
  View view;
  view.name = name;
  view.intrinsics = Tensor::from_vector(std::vector<float>{2, 0, 3, 0, 2, 3, 0, 0, 1}, Shape{3, 3});
  std::vector<float> pose(16, 0.f);
  pose[0] = pose[5] = pose[10] = pose[15] = 1;
  view.cam_to_world = Tensor::from_vector(pose, Shape{4, 4});
  view.depth = Tensor::full(Shape{8, 8}, 2.0, DType::f32);
  view.clip_labels = Tensor::from_vector(clip, Shape{8, 8});
  view.sam_masks = Tensor::from_vector(sam, Shape{8, 8});
  return view;
}
}  // namespace

TEST(Batch, MultiViewVoteOnAHandMadeScene) {
  // Three points seen by three identical-geometry views (camera at the origin looking down +z) whose CLIP
  // maps disagree: votes (2, 2, 5) -> 2; (1, 4, 4) -> 4; (3, 1, -1) -> tie between 1 and 3 -> 1.
  Scene s = hand_scene("hand");
  const int H = 8, W = 8;
  const int32_t votes[3][3] = {{2, 1, 3}, {2, 4, 1}, {5, 4, -1}};
  for (int v = 0; v < 3; ++v) {
    std::vector<int32_t> clip(size_t(H * W), -1), sam(size_t(H * W), -1);
    // point 0 -> pixel (3, 3); point 1 -> (3, 4); point 2 -> (4, 3)
    clip[3 * W + 3] = votes[v][0];
    clip[3 * W + 4] = votes[v][1];
    clip[4 * W + 3] = votes[v][2];
    sam[3 * W + 3] = v == 0 ? -1 : 7;  // point 0: first mask in view 1
    sam[3 * W + 4] = 2;
    s.views.push_back(hand_view(std::to_string(v), clip, sam));
  }
  BatchOptions o;
  o.views.crop = false;
  o.views.hflip = 0;
  o.voxel_size = 0.5;
  Batch b = make_batch({{&s, true, 3}}, o);
  EXPECT_EQ(b.pseudo_labels.to_vector<int32_t>(), (std::vector<int32_t>{2, 4, 1, -1}));
  // SAM ids per view: view 0 has ids 0..2 (max 2), view 1 0..7, view 2 0..7 -> offsets 0, 3, 11, 19
  EXPECT_EQ(b.sam_offsets, (std::vector<int64_t>{0, 3, 11, 19}));
  EXPECT_EQ(b.point_sam_ids.to_vector<int32_t>(), (std::vector<int32_t>{3 + 7, 2, -1, -1}));
  // pairs: every view pairs points 0, 1, 2 at their pixels, in view then point order
  std::vector<int64_t> pr = b.pairs.to_vector<int64_t>();
  ASSERT_EQ(pr.size(), 27u);
  const int64_t pix[3] = {3 * W + 3, 3 * W + 4, 4 * W + 3};
  for (int v = 0; v < 3; ++v)
    for (int p = 0; p < 3; ++p) {
      const size_t r = size_t(3 * (3 * v + p));
      EXPECT_EQ(pr[r], p);
      EXPECT_EQ(pr[r + 1], pix[p]);
      EXPECT_EQ(pr[r + 2], v);
    }
  // uncropped clip maps come through unchanged
  EXPECT_EQ(b.view_clip_labels.size(1), H);
  EXPECT_EQ(b.view_clip_labels.to_vector<int32_t>()[size_t(H * W + 3 * W + 4)], 4);
  // voxel labels: points 1 and 2 share no voxel with 0 at 0.5 m
  EXPECT_EQ(b.voxel_labels.to_vector<int32_t>(), (std::vector<int32_t>{0, 1, 1, -1}));
}

// ViewOptions::vote_in_masks (CNS's order): the CLIP labels are voted inside the view's SAM masks on the full view
// first, then projected. One view: mask 0 covers the pixels of points 0 and 1 and one more pixel, with CLIP labels
// 2, 5, 2 -> all 2; point 2's pixel is in no mask and keeps its 7; point 3 is behind the camera.
TEST(Batch, VoteInMasksBeforeTheProjection) {
  Scene s = hand_scene("hand_vote");
  const int W = 8;
  std::vector<int32_t> clip(64, -1), sam(64, -1);
  clip[3 * W + 3] = 2, clip[3 * W + 4] = 5, clip[4 * W + 3] = 7, clip[5 * W + 5] = 2;
  sam[3 * W + 3] = sam[3 * W + 4] = sam[5 * W + 5] = 0;
  s.views.push_back(hand_view("0", clip, sam));
  BatchOptions o;
  o.views.crop = false;
  o.views.hflip = 0;
  o.voxel_size = 0.5;
  EXPECT_EQ(make_batch({{&s, true, 3}}, o).pseudo_labels.to_vector<int32_t>(), (std::vector<int32_t>{2, 5, 7, -1}));
  o.views.vote_in_masks = true;
  Batch b = make_batch({{&s, true, 3}}, o);
  EXPECT_EQ(b.pseudo_labels.to_vector<int32_t>(), (std::vector<int32_t>{2, 2, 7, -1}));
  // the crops' CLIP maps stay raw: only the projection to points is voted
  EXPECT_EQ(b.view_clip_labels.to_vector<int32_t>()[size_t(3 * W + 4)], 5);
}

TEST(Batch, CropsPairsAndViewTensors) {
  std::vector<Scene> sc = tiny_scenes(2);
  BatchOptions o = tiny_batch_options();
  Batch b = make_batch({{&sc[0], true, 21}, {&sc[1], false, 22}}, o);
  const int64_t V = b.num_views(), h = 24, w = 32;
  ASSERT_EQ(V, 4);
  ASSERT_TRUE(b.images.defined());
  EXPECT_EQ(b.images.shape(), (Shape{V, 3, h, w}));
  EXPECT_EQ(b.view_clip_labels.shape(), (Shape{V, h, w}));
  ASSERT_TRUE(b.view_sam_features.defined());
  EXPECT_EQ(b.view_sam_features.size(0), V);
  EXPECT_EQ(b.view_sam_features.size(1), 3);  // round(24 * 6 / 48)
  EXPECT_EQ(b.view_sam_features.size(2), 4);  // round(32 * 8 / 64)
  ASSERT_TRUE(b.caption_scene.defined());
  EXPECT_EQ(b.caption_scene.shape(), (Shape{V, 16}));
  // images are normalised and non-trivial
  std::vector<float> img = b.images.to_vector<float>();
  float lo = 1e9f, hi = -1e9f;
  for (float x : img) lo = std::min(lo, x), hi = std::max(hi, x);
  EXPECT_LT(lo, -0.5f);
  EXPECT_GT(hi, 0.5f);
  // pairs point into the right scene, inside the crop, in ascending view order
  std::vector<int64_t> pr = b.pairs.to_vector<int64_t>();
  std::vector<int32_t> vs = b.view_scene.to_vector<int32_t>();
  std::vector<int64_t> per_view(size_t(V), 0);
  for (size_t r = 0; r < pr.size(); r += 3) {
    const int64_t p = pr[r], pix = pr[r + 1], v = pr[r + 2];
    ASSERT_GE(v, 0);
    ASSERT_LT(v, V);
    ASSERT_TRUE(pix >= 0 && pix < h * w);
    const int s = vs[size_t(v)];
    ASSERT_TRUE(p >= b.point_offsets[size_t(s)] && p < b.point_offsets[size_t(s) + 1]);
    if (r > 0) {
      ASSERT_GE(v, pr[r - 1]);
    }
    ++per_view[size_t(v)];
  }
  for (int64_t v = 0; v < V; ++v) EXPECT_GT(per_view[size_t(v)], 0) << "view " << v;
  EXPECT_LE(b.crops_below_min, V);
  // unlabelled scene: all -1, flagged
  EXPECT_EQ(b.scene_labelled, (std::vector<uint8_t>{1, 0}));
  std::vector<int32_t> lab = b.labels.to_vector<int32_t>();
  int64_t l0 = 0;
  for (int64_t i = 0; i < b.num_points(); ++i) {
    if (i >= b.point_offsets[1]) ASSERT_EQ(lab[size_t(i)], -1);
    else l0 += lab[size_t(i)] >= 0;
  }
  EXPECT_GT(l0, 0);
}

TEST(Batch, OutdoorIntensityAndFeatureErrors) {
  std::vector<Scene> sc = tiny_scenes(1);
  Scene s = sc[0];
  BatchOptions o = BatchOptions::outdoor();
  o.views.enabled = false;
  try {
    make_batch({{&s, true, 1}}, o);
    ADD_FAILURE() << "expected an error for a scene without intensity";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("room0"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("intensity"), std::string::npos) << e.what();
  }
  std::vector<float> it(size_t(s.num_points()));
  for (size_t i = 0; i < it.size(); ++i) it[i] = float(i % 7);
  s.intensity = Tensor::from_vector(it, Shape{s.num_points()});
  o.reduce = VoxelReduce::First;
  Batch b = make_batch({{&s, true, 1}}, o);
  EXPECT_EQ(b.input.channels(), 1);
  EXPECT_EQ(b.num_views(), 0);
  EXPECT_EQ(b.pairs.size(0), 0);
  // first-point features: voxel v holds the feature of the first point mapping to it
  std::vector<int32_t> inv = b.inverse.to_vector<int32_t>();
  std::vector<float> vf = b.input.feats().to_vector<float>();
  std::vector<char> seen(vf.size(), 0);
  for (size_t i = 0; i < inv.size(); ++i)
    if (!seen[size_t(inv[i])]) {
      seen[size_t(inv[i])] = 1;
      ASSERT_EQ(vf[size_t(inv[i])], it[i]);
    }
  Scene bad = s;
  std::vector<float> c = s.coords.to_vector<float>();
  c[5] = std::nanf("");
  bad.coords = Tensor::from_vector(c, s.coords.shape());
  EXPECT_THROW(make_batch({{&bad, true, 1}}, o), Error);
}

// The rows without a label come with the batch (built on the host where the labels are made), so that a regime
// trains on them without reading its labels back from a device: exactly the rows < 0 of the points, the voxels and
// the view label images read flat, and they travel with Batch::to.
TEST(Batch, UnlabelledRowsComeWithTheBatch) {
  std::vector<Scene> sc = tiny_scenes(2);
  BatchOptions o = tiny_batch_options();
  Batch b = make_batch({{&sc[0], true, 21}, {&sc[1], false, 22}}, o);
  const auto below_zero = [](const Tensor& t) {
    std::vector<int64_t> rows;
    const std::vector<int32_t> v = t.reshape(Shape{t.numel()}).to_vector<int32_t>();
    for (size_t i = 0; i < v.size(); ++i)
      if (v[i] < 0) rows.push_back(int64_t(i));
    return rows;
  };
  ASSERT_TRUE(b.unlabelled_points.defined() && b.unlabelled_voxels.defined() && b.unlabelled_pixels.defined());
  EXPECT_EQ(b.unlabelled_points.dtype(), DType::i64);
  const std::vector<int64_t> pts = below_zero(b.labels);
  EXPECT_EQ(b.unlabelled_points.to_vector<int64_t>(), pts);
  EXPECT_EQ(b.unlabelled_voxels.to_vector<int64_t>(), below_zero(b.voxel_labels));
  EXPECT_EQ(b.unlabelled_pixels.to_vector<int64_t>(), below_zero(b.view_gt_labels));
  // the unlabelled second scene is all in; the labelled first scene is not
  EXPECT_GE(int64_t(pts.size()), b.num_points() - b.point_offsets[1]);
  EXPECT_LT(int64_t(pts.size()), b.num_points());
  Batch c = b.to(Device::cpu());
  EXPECT_EQ(c.unlabelled_pixels.to_vector<int64_t>(), b.unlabelled_pixels.to_vector<int64_t>());
}

TEST(Batch, NormalsFeaturesAndToDevice) {
  std::vector<Scene> sc = tiny_scenes(1);
  BatchOptions o = tiny_batch_options();
  o.features.normals = true;
  Batch b = make_batch({{&sc[0], true, 5}}, o);
  ASSERT_EQ(b.point_feats.size(1), 6);
  std::vector<float> f = b.point_feats.to_vector<float>();
  for (int64_t i = 0; i < b.num_points(); i += 37) {
    const float* n = &f[size_t(6 * i + 3)];
    EXPECT_NEAR(n[0] * n[0] + n[1] * n[1] + n[2] * n[2], 1.0, 1e-4);
  }
  Batch c = b.to(Device::cpu());
  std::string what;
  EXPECT_TRUE(leseg::testing::same_batch(b, c, &what)) << what;
}

}  // namespace
}  // namespace leseg::io::loader

namespace leseg::io::loader {
namespace {

// clip_logits.npy (dense CLIP logits at patch resolution): the crop's pixel labels are the argmax of the logits
// resized to the crop (CLIP2Scene), not clip_label.png; the points' projected labels still come from clip_label.png.
// A 2x2 logit grid over the 8x8 view: cell (0,0) says class 2, (0,1) and (1,1) class 1, (1,0) class 0.
TEST(Batch, ClipLogitsArgmaxAfterResizingToTheCrop) {
  Scene s = hand_scene("hand_logits");
  std::vector<int32_t> clip(64, 5), sam(64, -1);
  s.views.push_back(hand_view("0", clip, sam));
  std::vector<float> lg(2 * 2 * 3, 0.f);
  auto at = [&](int y, int x, int k) -> float& { return lg[size_t((y * 2 + x) * 3 + k)]; };
  at(0, 0, 2) = 10, at(0, 1, 1) = 10, at(1, 0, 0) = 10, at(1, 1, 1) = 10;
  // through the scene layout as the exporter writes it: f16 on disk, read back as f32
  const auto dir = std::filesystem::temp_directory_path() / ("leseg_clip_logits_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  s.views[0].clip_logits = Tensor::from_vector(lg, Shape{2, 2, 3}).to(DType::f16);
  write_scene(dir.string(), s);
  Scene back = read_scene(dir.string());
  std::filesystem::remove_all(dir);
  ASSERT_EQ(back.views.size(), 1u);
  ASSERT_TRUE(back.views[0].clip_logits.defined());
  EXPECT_EQ(back.views[0].clip_logits.dtype(), DType::f32);
  EXPECT_EQ(back.views[0].clip_logits.shape(), (Shape{2, 2, 3}));
  back.views[0].cam_to_world = s.views[0].cam_to_world;
  BatchOptions o;
  o.views.crop = false;
  o.views.hflip = 0;
  o.voxel_size = 0.5;
  Batch b = make_batch({{&back, true, 1}}, o);
  const std::vector<int32_t> m = b.view_clip_labels.to_vector<int32_t>();
  ASSERT_EQ(m.size(), 64u);
  auto px = [&](int y, int x) { return m[size_t(y * 8 + x)]; };
  EXPECT_EQ(px(0, 0), 2);  // corners: one cell each (clamped)
  EXPECT_EQ(px(0, 7), 1);
  EXPECT_EQ(px(7, 0), 0);
  EXPECT_EQ(px(7, 7), 1);
  // pixel (3,3): grid coordinate 3.5/4 - 0.5 = 0.375 in both axes: class 2 gets 0.625^2 * 10 = 3.91, class 1
  // (0.625 * 0.375 + 0.375^2) * 10 = 3.75 -> 2; pixel (4,4): 0.625: class 2 1.41, class 1 6.25 -> 1
  EXPECT_EQ(px(3, 3), 2);
  EXPECT_EQ(px(4, 4), 1);
  for (int32_t c : m) EXPECT_NE(c, 5);  // never clip_label.png's class
  // the points' labels still come from clip_label.png (class 5 at every pixel)
  EXPECT_EQ(b.pseudo_labels.to_vector<int32_t>(), (std::vector<int32_t>{5, 5, 5, -1}));
}

TEST(Batch, ClipLogitsOfTheWrongRankAreAClearError) {
  const auto dir = std::filesystem::temp_directory_path() / ("leseg_clip_logits_bad_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  Scene s = hand_scene("hand_bad");
  s.views.push_back(hand_view("0", std::vector<int32_t>(64, 1), std::vector<int32_t>(64, -1)));
  s.views[0].clip_logits = Tensor::zeros(Shape{4, 3}, DType::f32);
  write_scene(dir.string(), s);
  try {
    read_scene(dir.string());
    FAIL() << "2-D logits accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("clip_logits.npy: expected (h, w, C)"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

// clip_feat.npy (dense CLIP pixel features, f16 on disk) reaches the batch as (V, hc, wc, D) f32 over the crop,
// bilinear like the SAM features; a wrong dtype, rank or size is a clear error naming the file / view.
TEST(Batch, ClipFeaturesRoundTripAndReachTheBatch) {
  const auto dir = std::filesystem::temp_directory_path() / ("leseg_clip_feat_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  Scene s = hand_scene("hand_feat");
  s.views.push_back(hand_view("0", std::vector<int32_t>(64, 1), std::vector<int32_t>(64, -1)));
  std::vector<float> f = {1, 0, 0.5f, 0.5f, 0, 1, -1, 0.25f};  // (2, 2, 2)
  s.views[0].clip_features = Tensor::from_vector(f, Shape{2, 2, 2});
  write_scene(dir.string(), s);
  Scene back = read_scene(dir.string());
  EXPECT_EQ(read_npy((dir / "views" / "0" / "clip_feat.npy").string()).dtype(), DType::f16);  // f16 on disk
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(back.views[0].clip_features.defined());
  EXPECT_EQ(back.views[0].clip_features.dtype(), DType::f32);
  EXPECT_EQ(back.views[0].clip_features.to_vector<float>(), f);  // exact in f16
  back.views[0].cam_to_world = s.views[0].cam_to_world;
  BatchOptions o;
  o.views.crop = false;
  o.views.hflip = 0;
  o.voxel_size = 0.5;
  Batch b = make_batch({{&back, true, 1}}, o);
  ASSERT_TRUE(b.view_clip_features.defined());
  EXPECT_EQ(b.view_clip_features.shape(), (Shape{1, 2, 2, 2}));  // round(8 * 2 / 8) cells over the full view
  EXPECT_EQ(b.view_clip_features.to_vector<float>(), f);
  o.views.clip_features = false;
  EXPECT_FALSE(make_batch({{&back, true, 1}}, o).view_clip_features.defined());
  // finer than the view: a loader error naming the view
  o.views.clip_features = true;
  back.views[0].clip_features = Tensor::zeros(Shape{16, 16, 2}, DType::f32);
  try {
    make_batch({{&back, true, 1}}, o);
    FAIL() << "a 16x16 feature map over an 8x8 view was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("are finer than the 8x8 view"), std::string::npos) << e.what();
  }
}

TEST(Batch, ClipFeaturesOfTheWrongDtypeOrRankAreAClearError) {
  const auto dir = std::filesystem::temp_directory_path() / ("leseg_clip_feat_bad_" + std::to_string(::getpid()));
  for (int bad = 0; bad < 2; ++bad) {
    std::filesystem::remove_all(dir);
    Scene s = hand_scene("hand_feat_bad");
    s.views.push_back(hand_view("0", std::vector<int32_t>(64, 1), std::vector<int32_t>(64, -1)));
    write_scene(dir.string(), s);
    const std::string p = (dir / "views" / "0" / "clip_feat.npy").string();
    if (bad == 0) write_npy(p, Tensor::zeros(Shape{2, 2, 3}, DType::i32));
    else write_npy(p, Tensor::zeros(Shape{4, 3}, DType::f16));
    try {
      read_scene(dir.string());
      FAIL() << (bad == 0 ? "i32 features accepted" : "2-D features accepted");
    } catch (const Error& e) {
      const std::string want = bad == 0 ? "clip_feat.npy: dense CLIP features must be f2 or f4"
                                        : "clip_feat.npy: expected (h, w, D)";
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace leseg::io::loader
