// SPDX-License-Identifier: Apache-2.0
#include "io/loader/batch.h"

#include <algorithm>
#include <limits>
#include <cmath>
#include <cstring>

#include "engine/autograd.h"
#include "io/synthetic/calibration.h"
#include "io/synthetic/random.h"

namespace leseg::io::loader {

namespace {

using synth::hash_combine;

constexpr uint64_t kSeedTransform = 1, kSeedViewChoice = 2, kSeedFlip = 3, kSeedCrop = 100;

std::string undefined_or(const Tensor& t) { return t.defined() ? t.str() : std::string("undefined"); }

// Rows (n,) i32 of a tensor that may be undefined (-1 everywhere then).
std::vector<int32_t> ids_or_ignore(const Tensor& t, int64_t n, const std::string& scene, const char* what) {
  if (!t.defined()) return std::vector<int32_t>(size_t(n), -1);
  LESEG_CHECK(t.numel() == n && t.dtype() == DType::i32, "loader: scene '", scene, "': ", what, " must be (", n,
              ",) i32, got ", t.str());
  return t.to_vector<int32_t>();
}

struct ViewSize {
  int h = 0, w = 0;
};
ViewSize view_size(const View& v) {
  if (v.height() > 0) return {v.height(), v.width()};
  if (v.clip_labels.defined() && v.clip_labels.ndim() == 2) return {int(v.clip_labels.size(0)), int(v.clip_labels.size(1))};
  return {};
}

// One cropped view, on its way into the batch.
struct ViewOut {
  int32_t scene = 0, source = 0;
  std::vector<int64_t> pairs;  // (point row in the scene, pixel in the crop) flat
  std::vector<float> image;    // (3, oh, ow)
  std::vector<int32_t> clip, sam, gt;  // (oh, ow)
  std::vector<float> sam_feat;         // (hf, wf, F)
  int hf = 0, wf = 0, nf = 0;
  std::vector<float> clip_feat;        // (hc, wc, D)
  int hc = 0, wc = 0, nc = 0;
  bool has_clip_feat = false;
  Tensor caption_scene, caption_objects, caption_ids;
  bool has_image = false, has_clip = false, has_sam = false, has_gt = false, has_feat = false, has_cap = false,
       has_obj = false;
  int32_t sam_max = -1;  // largest mask id in the view (crop or pairs), for batch-unique ids
};

// Source pixel row/col of output pixel o along an axis of crop extent c (starting at `start`), nearest.
inline int nearest_src(int o, int out, int c, int start) {
  return start + std::min(c - 1, int((int64_t(2 * o + 1) * c) / (2 * int64_t(out))));
}

// Bilinear sample position (align_corners = False) of output o: source coordinate in [0, c - 1].
inline double bilinear_src(int o, int out, int c) {
  const double s = (o + 0.5) * double(c) / double(out) - 0.5;
  return std::clamp(s, 0.0, double(c - 1));
}

struct Crop {
  int top = 0, left = 0, h = 0, w = 0, oh = 0, ow = 0;
  bool flip = false;
};

std::vector<int32_t> crop_nearest_i32(const Tensor& map, const Crop& c, int H, int W) {
  const int32_t* m = map.data<int32_t>();
  std::vector<int32_t> out(size_t(c.oh) * c.ow);
  for (int yo = 0; yo < c.oh; ++yo) {
    const int ys = nearest_src(yo, c.oh, c.h, c.top);
    for (int xo = 0; xo < c.ow; ++xo) {
      const int xs = nearest_src(c.flip ? c.ow - 1 - xo : xo, c.ow, c.w, c.left);
      out[size_t(yo) * c.ow + xo] = m[int64_t(ys) * W + xs];
    }
  }
  return out;
}

// Dense CLIP logits (h, w, C) at patch resolution -> the class of every output pixel of the crop, as CLIP2Scene does
// (resize the logits to the crop, then argmax): each output pixel's centre is mapped into the full view the way the
// image crop maps it (crop window, resize, flip), then into the logit grid with half-pixel centres (align_corners
// false, clamped at the border); the four neighbouring logit vectors are blended bilinearly; the first maximum wins.
std::vector<int32_t> crop_logits_argmax(const Tensor& lg, const Crop& c, int H, int W) {
  const int hl = int(lg.size(0)), wl = int(lg.size(1));
  const int64_t C = lg.size(2);
  const float* L = lg.data<float>();
  std::vector<int32_t> out(size_t(c.oh) * c.ow);
  auto grid = [](double full, int n_full, int n_grid, int& i0, int& i1, double& f) {
    const double g = std::clamp(full * double(n_grid) / double(n_full) - 0.5, 0.0, double(n_grid - 1));
    i0 = int(g);
    i1 = std::min(i0 + 1, n_grid - 1);
    f = g - i0;
  };
  for (int yo = 0; yo < c.oh; ++yo) {
    int y0, y1;
    double fy;
    grid(c.top + (yo + 0.5) * double(c.h) / double(c.oh), H, hl, y0, y1, fy);
    for (int xo = 0; xo < c.ow; ++xo) {
      const int xi = c.flip ? c.ow - 1 - xo : xo;
      int x0, x1;
      double fx;
      grid(c.left + (xi + 0.5) * double(c.w) / double(c.ow), W, wl, x0, x1, fx);
      const float* a = L + (int64_t(y0) * wl + x0) * C;
      const float* b = L + (int64_t(y0) * wl + x1) * C;
      const float* d = L + (int64_t(y1) * wl + x0) * C;
      const float* e = L + (int64_t(y1) * wl + x1) * C;
      int32_t best = 0;
      double best_v = -std::numeric_limits<double>::infinity();
      for (int64_t k = 0; k < C; ++k) {
        const double v = (1 - fy) * ((1 - fx) * a[k] + fx * b[k]) + fy * ((1 - fx) * d[k] + fx * e[k]);
        if (v > best_v) best_v = v, best = int32_t(k);
      }
      out[size_t(yo) * c.ow + xo] = best;
    }
  }
  return out;
}

// (H, W, 3) u8 -> (3, oh, ow) f32 normalised.
std::vector<float> crop_image(const Tensor& img, const Crop& c, int W, const ViewOptions& vo) {
  const uint8_t* p = img.data<uint8_t>();
  std::vector<float> out(size_t(3) * c.oh * c.ow);
  for (int yo = 0; yo < c.oh; ++yo) {
    const double sy = bilinear_src(yo, c.oh, c.h);
    const int y0 = int(sy), y1 = std::min(y0 + 1, c.h - 1);
    const double fy = sy - y0;
    for (int xo = 0; xo < c.ow; ++xo) {
      const double sx = bilinear_src(c.flip ? c.ow - 1 - xo : xo, c.ow, c.w);
      const int x0 = int(sx), x1 = std::min(x0 + 1, c.w - 1);
      const double fx = sx - x0;
      for (int ch = 0; ch < 3; ++ch) {
        auto at = [&](int y, int x) { return double(p[(int64_t(c.top + y) * W + (c.left + x)) * 3 + ch]); };
        const double v = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
        out[(size_t(ch) * c.oh + yo) * c.ow + xo] = float((v / 255.0 - vo.mean[ch]) / vo.std[ch]);
      }
    }
  }
  return out;
}

// Feature map (fh, fw, F) over an H x W view (SAM or dense CLIP features) -> (hf, wf, F) over the crop, bilinear in
// feature space.
void crop_features(const Tensor& feat, const Crop& c, int H, int W, std::vector<float>& out, int& hf_out, int& wf_out,
                   int& nf_out) {
  const int fh = int(feat.size(0)), fw = int(feat.size(1)), nf = int(feat.size(2));
  const double ry = double(fh) / H, rx = double(fw) / W;
  const int hf = std::max(1, int(std::lround(c.oh * ry))), wf = std::max(1, int(std::lround(c.ow * rx)));
  hf_out = hf, wf_out = wf, nf_out = nf;
  const float* f = feat.data<float>();
  out.assign(size_t(hf) * wf * nf, 0.f);
  for (int yo = 0; yo < hf; ++yo) {
    // centre of output cell in crop pixels -> source pixels -> feature cells
    const double py = c.top + (yo + 0.5) * double(c.h) / hf;
    const double sy = std::clamp(py * ry - 0.5, 0.0, double(fh - 1));
    const int y0 = int(sy), y1 = std::min(y0 + 1, fh - 1);
    const double ty = sy - y0;
    for (int xo = 0; xo < wf; ++xo) {
      const int xi = c.flip ? wf - 1 - xo : xo;
      const double px = c.left + (xi + 0.5) * double(c.w) / wf;
      const double sx = std::clamp(px * rx - 0.5, 0.0, double(fw - 1));
      const int x0 = int(sx), x1 = std::min(x0 + 1, fw - 1);
      const double tx = sx - x0;
      float* o = &out[(size_t(yo) * wf + xo) * nf];
      for (int k = 0; k < nf; ++k) {
        auto at = [&](int y, int x) { return double(f[(int64_t(y) * fw + x) * nf + k]); };
        o[k] = float((1 - ty) * ((1 - tx) * at(y0, x0) + tx * at(y0, x1)) + ty * ((1 - tx) * at(y1, x0) + tx * at(y1, x1)));
      }
    }
  }
}

bool is_map(const Tensor& t, int H, int W) {
  return t.defined() && t.ndim() == 2 && t.size(0) == H && t.size(1) == W && t.dtype() == DType::i32;
}

// Everything of one scene but the voxelization.
struct SceneOut {
  int64_t n = 0;
  Tensor points, feats;
  std::vector<int32_t> labels, segments, pseudo, sam_ids;  // sam_ids: view-local (view index in `views`)
  std::vector<int32_t> sam_view;                           // view (local) of sam_ids, -1 none
  std::vector<ViewOut> views;
  int64_t crops_below_min = 0;
};

SceneOut prepare_scene(const BatchItem& item, int32_t scene_row, const BatchOptions& opt) {
  const Scene& sc = *item.scene;
  const std::string& name = sc.name;
  LESEG_CHECK(sc.coords.defined() && sc.coords.ndim() == 2 && sc.coords.size(1) == 3 &&
                  sc.coords.dtype() == DType::f32 && sc.coords.device().is_cpu(),
              "loader: scene '", name, "': coords must be (N, 3) f32 on the CPU, got ", undefined_or(sc.coords));
  SceneOut out;
  const int64_t n = out.n = sc.coords.size(0);
  LESEG_CHECK(n > 0, "loader: scene '", name, "' has no points");
  {
    const float* p = sc.coords.data<float>();
    for (int64_t i = 0; i < 3 * n; ++i)
      LESEG_CHECK(std::isfinite(p[i]), "loader: scene '", name, "': non-finite coordinate at point ", i / 3);
  }
  // ---- 3D side: augmentation and features ----
  const uint64_t tseed = hash_combine(item.seed, kSeedTransform);
  const PointTransform t = draw_transform(sc.coords, opt.augment, tseed);
  out.points = augment_coords(sc.coords, t, opt.augment, tseed);
  const FeatureOptions& fo = opt.features;
  const int64_t nc = fo.channels();
  LESEG_CHECK(nc > 0, "loader: no input features enabled (color, normals, intensity)");
  out.feats = Tensor::empty(Shape{n, nc}, DType::f32);
  float* fp = out.feats.data<float>();
  int64_t col = 0;
  auto put = [&](const Tensor& src, int64_t k) {
    const float* s = src.data<float>();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < k; ++j) fp[i * nc + col + j] = s[i * k + j];
    col += k;
  };
  if (fo.color) {
    LESEG_CHECK(sc.colors.defined() && sc.colors.numel() == 3 * n, "loader: scene '", name,
                "' has no colours (features.color is on; outdoor data uses intensity)");
    put(color_features(sc.colors, t, opt.augment, tseed), 3);
  }
  if (fo.normals) {
    LESEG_CHECK(sc.normals.defined() && sc.normals.numel() == 3 * n, "loader: scene '", name,
                "' has no normals (features.normals is on)");
    put(augment_normals(sc.normals, t), 3);
  }
  if (fo.intensity) {
    LESEG_CHECK(sc.intensity.defined() && sc.intensity.numel() == n && sc.intensity.dtype() == DType::f32,
                "loader: scene '", name, "' has no (N,) f32 intensity (features.intensity is on)");
    Tensor s = sc.intensity.clone();
    float* q = s.data<float>();
    for (int64_t i = 0; i < n; ++i) q[i] = float(q[i] * fo.intensity_scale);
    put(s, 1);
  }
  out.labels = ids_or_ignore(sc.labels, n, name, "labels");
  if (!item.labelled) std::fill(out.labels.begin(), out.labels.end(), -1);
  out.segments = ids_or_ignore(sc.segments, n, name, "segments");

  // ---- 2D side: pairing (original coordinates and poses), votes, crops ----
  out.pseudo.assign(size_t(n), -1);
  out.sam_ids.assign(size_t(n), -1);
  out.sam_view.assign(size_t(n), -1);
  const ViewOptions& vo = opt.views;
  if (!vo.enabled || sc.views.empty()) return out;
  std::vector<int> chosen(sc.views.size());
  for (size_t k = 0; k < chosen.size(); ++k) chosen[k] = int(k);
  if (vo.max_views >= 0 && size_t(vo.max_views) < chosen.size()) {
    synth::Rng rng(hash_combine(item.seed, kSeedViewChoice));
    for (size_t k = 0; k < size_t(vo.max_views); ++k) std::swap(chosen[k], chosen[k + rng.below(chosen.size() - k)]);
    chosen.resize(size_t(vo.max_views));
    std::sort(chosen.begin(), chosen.end());
  }
  std::vector<std::pair<int32_t, int32_t>> votes;  // (point, class)
  synth::Rng flip_rng(hash_combine(item.seed, kSeedFlip));
  for (size_t lv = 0; lv < chosen.size(); ++lv) {
    const View& view = sc.views[size_t(chosen[lv])];
    const bool flip = flip_rng.chance(vo.hflip);
    const ViewSize vs = view_size(view);
    LESEG_CHECK(vs.h > 0 && vs.w > 0, "loader: scene '", name, "' view '", view.name, "' has no image/depth/labels to size it");
    const int H = vs.h, W = vs.w;
    PairingOptions po = vo.pairing;
    if (vo.auto_lidar && !view.depth.defined()) po.lidar = true;
    Tensor full;
    try {
      full = pair_points(sc.coords, view, po);
    } catch (const Error& e) {
      LESEG_FAIL("loader: scene '", name, "': ", e.what());
    }
    const int64_t np = full.size(0);
    const int64_t* fpairs = full.data<int64_t>();
    const bool has_clip = is_map(view.clip_labels, H, W), has_sam = is_map(view.sam_masks, H, W);
    if (has_clip) {
      const int32_t* cl = view.clip_labels.data<int32_t>();
      std::vector<int32_t> voted;
      if (vo.vote_in_masks && has_sam) {
        int32_t nc = 0;
        for (int64_t i = 0; i < H * int64_t(W); ++i) nc = std::max(nc, cl[i] + 1);
        voted = synth::mask_mode_vote(cl, view.sam_masks.data<int32_t>(), H * int64_t(W), int(nc));
        cl = voted.data();
      }
      for (int64_t i = 0; i < np; ++i) {
        const int32_t c = cl[fpairs[2 * i + 1]];
        if (c >= 0) votes.emplace_back(int32_t(fpairs[2 * i]), c);
      }
    }
    ViewOut v;
    v.scene = scene_row;
    v.source = chosen[lv];
    if (has_sam) {
      const int32_t* sm = view.sam_masks.data<int32_t>();
      for (int64_t i = 0; i < H * int64_t(W); ++i) v.sam_max = std::max(v.sam_max, sm[i]);
      for (int64_t i = 0; i < np; ++i) {
        const int64_t p = fpairs[2 * i];
        const int32_t id = sm[fpairs[2 * i + 1]];
        if (id >= 0 && out.sam_view[size_t(p)] < 0) {
          out.sam_ids[size_t(p)] = id;
          out.sam_view[size_t(p)] = int32_t(lv);
        }
      }
    }
    Crop c;
    if (vo.crop) {
      const CropPairs cp = random_crop_pairs(full, H, W, hash_combine(item.seed, kSeedCrop + lv), vo.crop_options);
      if (!cp.ok) ++out.crops_below_min;
      c = Crop{cp.top, cp.left, cp.height, cp.width, vo.crop_options.out_height, vo.crop_options.out_width, flip};
      v.pairs = cp.pairs.to_vector<int64_t>();
    } else {
      c = Crop{0, 0, H, W, H, W, flip};
      v.pairs = full.to_vector<int64_t>();
    }
    if (flip)
      for (size_t i = 1; i < v.pairs.size(); i += 2) {
        const int64_t pix = v.pairs[i], row = pix / c.ow, u = pix % c.ow;
        v.pairs[i] = row * c.ow + (c.ow - 1 - u);
      }
    if (vo.images && view.image.defined()) {
      LESEG_CHECK(view.image.ndim() == 3 && view.image.size(0) == H && view.image.size(1) == W &&
                      view.image.size(2) == 3 && view.image.dtype() == DType::u8,
                  "loader: scene '", name, "' view '", view.name, "': image must be (", H, ", ", W, ", 3) u8, got ",
                  view.image.str());
      v.image = crop_image(view.image, c, W, vo);
      v.has_image = true;
    }
    if (vo.clip_labels && view.clip_logits.defined()) {
      LESEG_CHECK(view.clip_logits.ndim() == 3 && view.clip_logits.dtype() == DType::f32, "loader: scene '", name,
                  "' view '", view.name, "': CLIP logits must be (h, w, C) f32, got ", view.clip_logits.str());
      v.clip = crop_logits_argmax(view.clip_logits, c, H, W);
      v.has_clip = true;
    } else if (vo.clip_labels && has_clip) {
      v.clip = crop_nearest_i32(view.clip_labels, c, H, W);
      v.has_clip = true;
    }
    if (vo.sam_masks && has_sam) {
      v.sam = crop_nearest_i32(view.sam_masks, c, H, W);
      v.has_sam = true;
    }
    if (vo.gt_labels && is_map(view.gt_labels, H, W)) {
      v.gt = crop_nearest_i32(view.gt_labels, c, H, W);
      v.has_gt = true;
    }
    if (vo.sam_features && view.sam_features.defined()) {
      LESEG_CHECK(view.sam_features.ndim() == 3 && view.sam_features.dtype() == DType::f32,
                  "loader: scene '", name, "' view '", view.name, "': SAM features must be (h, w, F) f32, got ",
                  view.sam_features.str());
      crop_features(view.sam_features, c, H, W, v.sam_feat, v.hf, v.wf, v.nf);
      v.has_feat = true;
    }
    if (vo.clip_features && view.clip_features.defined()) {
      const Tensor& cf = view.clip_features;
      LESEG_CHECK(cf.ndim() == 3 && cf.dtype() == DType::f32 && cf.size(0) >= 1 && cf.size(1) >= 1 && cf.size(2) >= 1,
                  "loader: scene '", name, "' view '", view.name, "': dense CLIP features (clip_feat.npy) must be (h, w, D) "
                  "f32 with h, w, D >= 1, got ", cf.str());
      LESEG_CHECK(cf.size(0) <= H && cf.size(1) <= W, "loader: scene '", name, "' view '", view.name,
                  "': dense CLIP features (clip_feat.npy) ", cf.shape().str(), " are finer than the ", H, "x", W, " view");
      crop_features(cf, c, H, W, v.clip_feat, v.hc, v.wc, v.nc);
      v.has_clip_feat = true;
    }
    if (vo.captions && view.caption_scene.defined()) {
      v.caption_scene = view.caption_scene.to(DType::f32).flatten();
      v.has_cap = true;
    }
    if (vo.captions && view.caption_objects.defined() && view.caption_object_ids.defined()) {
      LESEG_CHECK(view.caption_objects.ndim() == 2 && view.caption_object_ids.numel() == view.caption_objects.size(0),
                  "loader: scene '", name, "' view '", view.name, "': caption_objects (M, D) and caption_object_ids (M,) disagree");
      v.caption_objects = view.caption_objects.to(DType::f32);
      v.caption_ids = view.caption_object_ids.to(DType::i32);
      for (int32_t id : v.caption_ids.to_vector<int32_t>()) v.sam_max = std::max(v.sam_max, id);
      v.has_obj = true;
    }
    out.views.push_back(std::move(v));
  }
  // Majority vote per point (counting sort by point, then the mode of each point's votes).
  if (!votes.empty()) {
    std::stable_sort(votes.begin(), votes.end());
    for (size_t a = 0; a < votes.size();) {
      size_t b = a;
      int32_t best = -1;
      size_t best_n = 0;
      while (b < votes.size() && votes[b].first == votes[a].first) {
        size_t e = b;
        while (e < votes.size() && votes[e].first == votes[b].first && votes[e].second == votes[b].second) ++e;
        if (e - b > best_n) {  // ascending class within a point: ties keep the smallest class
          best_n = e - b;
          best = votes[b].second;
        }
        b = e;
      }
      out.pseudo[size_t(votes[a].first)] = best;
      a = b;
    }
  }
  return out;
}

template <class T>
Tensor from_flat(std::vector<T>&& v, const Shape& s) {
  return Tensor::from_vector(v, s);
}

}  // namespace

BatchOptions BatchOptions::indoor() { return BatchOptions{}; }

BatchOptions BatchOptions::outdoor() {
  BatchOptions o;
  o.voxel_size = 0.1;
  o.features.color = false;
  o.features.intensity = true;
  return o;
}

Tensor voxel_mode_labels(const Tensor& inverse, const Tensor& labels, int64_t num_voxels) {
  LESEG_CHECK(inverse.defined() && labels.defined() && inverse.dtype() == DType::i32 && labels.dtype() == DType::i32 &&
                  inverse.numel() == labels.numel(),
              "voxel_mode_labels: inverse and labels must be (N,) i32 of one length, got ", undefined_or(inverse),
              " and ", undefined_or(labels));
  const int64_t n = inverse.numel();
  const int32_t* inv = inverse.data<int32_t>();
  const int32_t* lab = labels.data<int32_t>();
  // CSR of points per voxel.
  std::vector<int64_t> start(size_t(num_voxels) + 1, 0);
  for (int64_t i = 0; i < n; ++i) {
    LESEG_CHECK(inv[i] >= 0 && inv[i] < num_voxels, "voxel_mode_labels: inverse[", i, "] = ", inv[i], " outside [0, ",
                num_voxels, ")");
    ++start[size_t(inv[i]) + 1];
  }
  for (int64_t v = 0; v < num_voxels; ++v) start[size_t(v) + 1] += start[size_t(v)];
  std::vector<int32_t> grouped(static_cast<size_t>(n));
  std::vector<int64_t> fill(start.begin(), start.end() - 1);
  for (int64_t i = 0; i < n; ++i) grouped[size_t(fill[size_t(inv[i])]++)] = lab[i];
  Tensor out = Tensor::empty(Shape{num_voxels}, DType::i32);
  int32_t* o = out.data<int32_t>();
  for (int64_t v = 0; v < num_voxels; ++v) {
    auto b = grouped.begin() + start[size_t(v)], e = grouped.begin() + start[size_t(v) + 1];
    std::sort(b, e);
    int32_t best = -1;
    int64_t best_n = 0;
    for (auto it = b; it != e;) {
      auto jt = it;
      while (jt != e && *jt == *it) ++jt;
      if (*it >= 0 && jt - it > best_n) {
        best_n = jt - it;
        best = *it;
      }
      it = jt;
    }
    o[v] = best;
  }
  return out;
}

namespace {

// Rows of a label tensor (any shape, read flat) that carry no label (< 0), as (K,) i64 on the CPU.
Tensor rows_without_label(const Tensor& labels) {
  if (!labels.defined()) return Tensor();
  const Tensor flat = labels.reshape(Shape{labels.numel()}).to(DType::i64);
  const int64_t* l = flat.data<int64_t>();
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < flat.numel(); ++i)
    if (l[i] < 0) rows.push_back(i);
  return Tensor::from_vector(rows, Shape{int64_t(rows.size())});
}

Batch assemble_batch(const std::vector<BatchItem>& items, const BatchOptions& opt);

}  // namespace

Batch make_batch(const std::vector<BatchItem>& items, const BatchOptions& opt) {
  Batch b = assemble_batch(items, opt);
  // Index sets derived from the labels here, on the host, where the labels are made: a regime that trains on the
  // unlabelled rows gathers them without reading its labels back from a device (docs/execution.md).
  b.unlabelled_points = rows_without_label(b.labels);
  b.unlabelled_voxels = rows_without_label(b.voxel_labels);
  b.unlabelled_pixels = rows_without_label(b.view_gt_labels);
  return b;
}

namespace {

Batch assemble_batch(const std::vector<BatchItem>& items, const BatchOptions& opt) {
  LESEG_CHECK(!items.empty(), "make_batch: no scenes");
  LESEG_CHECK(opt.voxel_size > 0, "make_batch: voxel size ", opt.voxel_size, " must be > 0");
  NoGradGuard no_grad;
  const int64_t B = int64_t(items.size());
  std::vector<SceneOut> outs;
  outs.reserve(items.size());
  Batch b;
  b.num_scenes = B;
  b.point_offsets.assign(1, 0);
  for (int64_t s = 0; s < B; ++s) {
    LESEG_CHECK(items[size_t(s)].scene != nullptr, "make_batch: item ", s, " has no scene");
    outs.push_back(prepare_scene(items[size_t(s)], int32_t(s), opt));
    b.scene_names.push_back(items[size_t(s)].scene->name);
    b.scene_labelled.push_back(items[size_t(s)].labelled ? 1 : 0);
    b.seeds.push_back(items[size_t(s)].seed);
    b.point_offsets.push_back(b.point_offsets.back() + outs.back().n);
  }
  const int64_t N = b.point_offsets.back();
  const int64_t C = opt.features.channels();
  // ---- per point ----
  b.points = Tensor::empty(Shape{N, 3}, DType::f32);
  b.point_feats = Tensor::empty(Shape{N, C}, DType::f32);
  const size_t nn = static_cast<size_t>(N);
  std::vector<int32_t> pb(nn), labels(nn), pseudo(nn), segs(nn), sam(nn, -1);
  // batch-unique SAM ids: views in batch order, each shifted by the ids of the views before it
  b.sam_offsets.assign(1, 0);
  std::vector<std::vector<int64_t>> scene_view_rows(static_cast<size_t>(B));
  for (int64_t s = 0; s < B; ++s)
    for (const ViewOut& v : outs[size_t(s)].views) {
      scene_view_rows[size_t(s)].push_back(int64_t(b.sam_offsets.size()) - 1);
      b.sam_offsets.push_back(b.sam_offsets.back() + int64_t(v.sam_max) + 1);
    }
  b.num_sam_masks = b.sam_offsets.back();
  int64_t seg_base = 0;
  for (int64_t s = 0; s < B; ++s) {
    const SceneOut& o = outs[size_t(s)];
    const int64_t off = b.point_offsets[size_t(s)];
    std::memcpy(b.points.data<float>() + 3 * off, o.points.data<float>(), size_t(3 * o.n) * sizeof(float));
    std::memcpy(b.point_feats.data<float>() + C * off, o.feats.data<float>(), size_t(C * o.n) * sizeof(float));
    int32_t seg_max = -1;
    for (int64_t i = 0; i < o.n; ++i) {
      const size_t r = size_t(off + i);
      pb[r] = int32_t(s);
      labels[r] = o.labels[size_t(i)];
      pseudo[r] = o.pseudo[size_t(i)];
      const int32_t g = o.segments[size_t(i)];
      seg_max = std::max(seg_max, g);
      segs[r] = g < 0 ? -1 : int32_t(seg_base + g);
      if (o.sam_view[size_t(i)] >= 0)
        sam[r] = int32_t(b.sam_offsets[size_t(scene_view_rows[size_t(s)][size_t(o.sam_view[size_t(i)])])] + o.sam_ids[size_t(i)]);
    }
    seg_base += int64_t(seg_max) + 1;
  }
  b.num_segments = seg_base;
  b.point_batch = from_flat(std::move(pb), Shape{N});
  b.labels = from_flat(std::move(labels), Shape{N});
  b.pseudo_labels = from_flat(std::move(pseudo), Shape{N});
  b.segments = from_flat(std::move(segs), Shape{N});
  b.point_sam_ids = from_flat(std::move(sam), Shape{N});

  // ---- voxels ----
  Voxelized vx = voxelize(b.points, b.point_batch, b.point_feats, opt.voxel_size, opt.reduce);
  b.input = vx.voxels;
  b.voxel_size = opt.voxel_size;
  b.inverse = vx.inverse;
  b.voxel_counts = vx.counts;
  const int64_t M = b.input.size();
  b.voxel_labels = voxel_mode_labels(b.inverse, b.labels, M);
  LESEG_CHECK(b.input.num_batches() == B, "make_batch: ", b.input.num_batches(), " batch elements in the voxels for ", B,
              " scenes");
  {
    const int32_t* vc = b.input.coords().data<int32_t>();
    b.voxel_offsets.assign(size_t(B) + 1, 0);
    for (int64_t v = 0; v < M; ++v) ++b.voxel_offsets[size_t(vc[4 * v]) + 1];
    for (int64_t s = 0; s < B; ++s) b.voxel_offsets[size_t(s) + 1] += b.voxel_offsets[size_t(s)];
  }

  // ---- views ----
  std::vector<const ViewOut*> views;
  for (const SceneOut& o : outs) {
    b.crops_below_min += o.crops_below_min;
    for (const ViewOut& v : o.views) views.push_back(&v);
  }
  const int64_t V = int64_t(views.size());
  std::vector<int32_t> vscene, vsource;
  std::vector<int64_t> pairs;
  for (int64_t r = 0; r < V; ++r) {
    const ViewOut& v = *views[size_t(r)];
    vscene.push_back(v.scene);
    vsource.push_back(v.source);
    const int64_t off = b.point_offsets[size_t(v.scene)];
    for (size_t i = 0; i + 1 < v.pairs.size(); i += 2) {
      pairs.push_back(off + v.pairs[i]);
      pairs.push_back(v.pairs[i + 1]);
      pairs.push_back(r);
    }
  }
  b.view_scene = Tensor::from_vector(vscene, Shape{V});
  b.view_source = Tensor::from_vector(vsource, Shape{V});
  b.pairs = Tensor::from_vector(pairs, Shape{int64_t(pairs.size() / 3), 3});
  if (V == 0) return b;
  const int oh = opt.views.crop ? opt.views.crop_options.out_height : 0;
  const int ow = opt.views.crop ? opt.views.crop_options.out_width : 0;
  auto all = [&](bool ViewOut::*flag) {
    for (const ViewOut* v : views)
      if (!(v->*flag)) return false;
    return true;
  };
  // Stacks per-view maps of one size; full (uncropped) views must agree.
  auto stack_maps = [&](std::vector<int32_t> ViewOut::*field, const char* what) {
    const size_t hw = ((*views[0]).*field).size();
    std::vector<int32_t> flat;
    flat.reserve(hw * size_t(V));
    for (const ViewOut* v : views) {
      LESEG_CHECK((v->*field).size() == hw, "make_batch: views of different sizes cannot be stacked (", what,
                  "); enable crops");
      flat.insert(flat.end(), (v->*field).begin(), (v->*field).end());
    }
    return flat;
  };
  int h = oh, w = ow;
  if (!opt.views.crop) {
    const Scene& s0 = *items[size_t(views[0]->scene)].scene;
    const ViewSize vs = view_size(s0.views[size_t(views[0]->source)]);
    h = vs.h;
    w = vs.w;
  }
  if (all(&ViewOut::has_image)) {
    std::vector<float> flat;
    for (const ViewOut* v : views) {
      LESEG_CHECK(v->image.size() == size_t(3) * h * w, "make_batch: views of different sizes cannot be stacked (images); enable crops");
      flat.insert(flat.end(), v->image.begin(), v->image.end());
    }
    b.images = Tensor::from_vector(flat, Shape{V, 3, h, w});
  }
  if (all(&ViewOut::has_clip)) b.view_clip_labels = Tensor::from_vector(stack_maps(&ViewOut::clip, "clip labels"), Shape{V, h, w});
  if (all(&ViewOut::has_gt)) b.view_gt_labels = Tensor::from_vector(stack_maps(&ViewOut::gt, "gt labels"), Shape{V, h, w});
  if (all(&ViewOut::has_sam)) {
    std::vector<int32_t> flat = stack_maps(&ViewOut::sam, "sam masks");
    const size_t hw = size_t(h) * w;
    for (int64_t r = 0; r < V; ++r)
      for (size_t i = 0; i < hw; ++i) {
        int32_t& id = flat[size_t(r) * hw + i];
        if (id >= 0) id = int32_t(b.sam_offsets[size_t(r)] + id);
      }
    b.view_sam_masks = Tensor::from_vector(flat, Shape{V, h, w});
  }
  if (all(&ViewOut::has_feat)) {
    const ViewOut& v0 = *views[0];
    std::vector<float> flat;
    for (const ViewOut* v : views) {
      LESEG_CHECK(v->hf == v0.hf && v->wf == v0.wf && v->nf == v0.nf, "make_batch: SAM feature maps of different sizes (",
                  v->hf, "x", v->wf, "x", v->nf, " vs ", v0.hf, "x", v0.wf, "x", v0.nf, ")");
      flat.insert(flat.end(), v->sam_feat.begin(), v->sam_feat.end());
    }
    b.view_sam_features = Tensor::from_vector(flat, Shape{V, v0.hf, v0.wf, v0.nf});
  }
  if (all(&ViewOut::has_clip_feat)) {
    const ViewOut& v0 = *views[0];
    std::vector<float> flat;
    for (const ViewOut* v : views) {
      LESEG_CHECK(v->hc == v0.hc && v->wc == v0.wc && v->nc == v0.nc, "make_batch: dense CLIP feature maps of different "
                  "sizes (", v->hc, "x", v->wc, "x", v->nc, " vs ", v0.hc, "x", v0.wc, "x", v0.nc, ")");
      flat.insert(flat.end(), v->clip_feat.begin(), v->clip_feat.end());
    }
    b.view_clip_features = Tensor::from_vector(flat, Shape{V, v0.hc, v0.wc, v0.nc});
  }
  if (all(&ViewOut::has_cap)) {
    const int64_t D = views[0]->caption_scene.numel();
    std::vector<float> flat;
    for (const ViewOut* v : views) {
      LESEG_CHECK(v->caption_scene.numel() == D, "make_batch: scene captions of different dims");
      std::vector<float> c = v->caption_scene.to_vector<float>();
      flat.insert(flat.end(), c.begin(), c.end());
    }
    b.caption_scene = Tensor::from_vector(flat, Shape{V, D});
  }
  {
    std::vector<float> emb;
    std::vector<int32_t> ids, vrow;
    int64_t D = -1;
    for (int64_t r = 0; r < V; ++r) {
      const ViewOut& v = *views[size_t(r)];
      if (!v.has_obj) continue;
      const int64_t d = v.caption_objects.size(1);
      LESEG_CHECK(D < 0 || D == d, "make_batch: object captions of different dims (", D, " vs ", d, ")");
      D = d;
      std::vector<float> e = v.caption_objects.to_vector<float>();
      emb.insert(emb.end(), e.begin(), e.end());
      for (int32_t id : v.caption_ids.to_vector<int32_t>()) {
        ids.push_back(id < 0 ? -1 : int32_t(b.sam_offsets[size_t(r)] + id));
        vrow.push_back(int32_t(r));
      }
    }
    if (D >= 0) {
      const int64_t K = int64_t(ids.size());
      b.caption_objects = Tensor::from_vector(emb, Shape{K, D});
      b.caption_object_ids = Tensor::from_vector(ids, Shape{K});
      b.caption_object_view = Tensor::from_vector(vrow, Shape{K});
    }
  }
  return b;
}

}  // namespace

Batch Batch::to(Device device) const {
  Batch o = *this;
  if (!device.is_cpu() && !host_copy) o.host_copy = std::make_shared<const Batch>(*this);
  auto mv = [&](Tensor& t) {
    if (t.defined()) t = t.to(device);
  };
  for (Tensor* t : {&o.inverse, &o.voxel_counts, &o.voxel_labels, &o.points, &o.point_batch, &o.point_feats, &o.labels,
                    &o.pseudo_labels, &o.point_sam_ids, &o.segments, &o.pairs, &o.view_scene, &o.view_source, &o.images,
                    &o.view_clip_labels, &o.view_sam_masks, &o.view_gt_labels, &o.unlabelled_points, &o.unlabelled_voxels, &o.unlabelled_pixels, &o.view_sam_features, &o.view_clip_features, &o.caption_scene,
                    &o.caption_objects, &o.caption_object_ids, &o.caption_object_view})
    mv(*t);
  if (input.defined()) o.input = SparseTensor(input.coords().to(device), input.feats().to(device), 1, num_scenes);
  if (teacher) o.teacher = std::make_shared<Batch>(teacher->to(device));
  return o;
}

}  // namespace leseg::io::loader
