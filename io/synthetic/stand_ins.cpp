// SPDX-License-Identifier: Apache-2.0
#include "io/synthetic/stand_ins.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <unordered_map>

#include "io/synthetic/random.h"
#include "io/synthetic/text_embeddings.h"

namespace leseg::io::synth {

namespace {
int sample_row(const std::vector<double>& P, int C, int row, double u) {
  double acc = 0;
  for (int j = 0; j < C; ++j) {
    acc += P[size_t(row * C + j)];
    if (u < acc) return j;
  }
  for (int j = C - 1; j >= 0; --j)
    if (P[size_t(row * C + j)] > 0) return j;
  return row;
}
double smooth(double x) { return x * x * (3 - 2 * x); }
}  // namespace

std::vector<int32_t> clip_like_labels(const ViewTruth& t, int C, const std::vector<double>& P, uint64_t seed,
                                      int view, const ClipLikeOptions& opt) {
  LESEG_CHECK(int64_t(P.size()) == int64_t(C) * C, "clip_like_labels: confusion must be C*C");
  LESEG_CHECK(opt.blob_cell_px >= 1 && opt.bleed_px >= 0, "clip_like_labels: bad options");
  const int H = t.height, W = t.width;
  const size_t HW = size_t(H) * W;
  const uint64_t vs = uint64_t(view) + 1;
  std::vector<int32_t> out(HW, -1);
  // 1. Whole-instance confusions (semantically close classes), shared across views or redrawn per view.
  std::unordered_map<int32_t, int32_t> inst_class;
  int32_t last_inst = -1, last_class = -1;  // runs of one instance along a row skip the map
  for (size_t i = 0; i < HW; ++i) {
    const int32_t inst = t.instance[i];
    if (inst < 0) continue;
    if (inst == last_inst) {
      out[i] = last_class;
      continue;
    }
    auto it = inst_class.find(inst);
    if (it == inst_class.end()) {
      const int32_t gt = t.label[i];
      const bool shared = hash_unit(seed, uint64_t(inst), vs, 0xC3) < opt.view_consistency;
      const uint64_t s = shared ? 0 : vs;
      int32_t c = gt;
      if (gt < 0) {
        c = int32_t(hash_unit(seed, uint64_t(inst), s, 0xC4) * C);
      } else if (hash_unit(seed, uint64_t(inst), s, 0xC1) < opt.instance_confusion) {
        c = sample_row(P, C, gt, hash_unit(seed, uint64_t(inst), s, 0xC2));
      }
      it = inst_class.emplace(inst, c).first;
    }
    out[i] = it->second;
    last_inst = inst;
    last_class = it->second;
  }
  // 2. Spatially coherent wrong blobs: value noise on a lattice of blob_cell_px, thresholded at the
  //    (1 - coverage) quantile; a blob pixel takes the confused class drawn at its nearest lattice point.
  if (opt.blob_coverage > 0) {
    const int s = opt.blob_cell_px;
    const int gw = W / s + 2, gh = H / s + 2;
    std::vector<double> lat(size_t(gw * gh));
    std::vector<int32_t> lat_class(size_t(gw * gh));
    for (int gy = 0; gy < gh; ++gy)
      for (int gx = 0; gx < gw; ++gx) {
        lat[size_t(gy * gw + gx)] = hash_unit(seed, vs, uint64_t(gx), uint64_t(gy) + 0xB10B00);
        const int px = std::min(W - 1, gx * s), py = std::min(H - 1, gy * s);
        const int32_t gt = t.label[size_t(py) * W + px];
        const double u = hash_unit(seed, vs, uint64_t(gx), uint64_t(gy) + 0xB10C00);
        lat_class[size_t(gy * gw + gx)] = gt >= 0 ? sample_row(P, C, gt, u) : int32_t(u * C);
      }
    std::vector<double> f(HW);
    for (int v = 0; v < H; ++v)
      for (int u = 0; u < W; ++u) {
        const int gx = u / s, gy = v / s;
        const double ax = smooth(double(u % s) / s), ay = smooth(double(v % s) / s);
        const double a = lat[size_t(gy * gw + gx)], b = lat[size_t(gy * gw + gx + 1)];
        const double c = lat[size_t((gy + 1) * gw + gx)], d = lat[size_t((gy + 1) * gw + gx + 1)];
        f[size_t(v) * W + u] = (a * (1 - ax) + b * ax) * (1 - ay) + (c * (1 - ax) + d * ax) * ay;
      }
    std::vector<double> sorted = f;
    const size_t q = std::min(HW - 1, size_t(double(HW) * (1.0 - opt.blob_coverage)));
    std::nth_element(sorted.begin(), sorted.begin() + std::ptrdiff_t(q), sorted.end());
    const double thr = sorted[q];
    for (int v = 0; v < H; ++v)
      for (int u = 0; u < W; ++u) {
        const size_t i = size_t(v) * W + u;
        if (f[i] <= thr || t.instance[i] < 0) continue;
        const int gx = (u + s / 2) / s, gy = (v + s / 2) / s;
        out[i] = lat_class[size_t(gy * gw + gx)];
      }
  }
  // 3. Boundary bleeding: a per-view class priority; each pixel takes the highest-priority label within
  //    a (2 b + 1)^2 window (separable max filter on priority * 64 + label + 1).
  if (opt.bleed_px > 0) {
    const int b = opt.bleed_px;
    std::vector<int64_t> key(HW), tmp(HW);
    auto class_key = [&](int32_t c) { return int64_t(1 + hash_unit(seed, vs, uint64_t(c), 0xB1EED) * 1e6) * 64 + c + 1; };
    std::vector<int64_t> key_of(size_t(std::max(C, 0)));  // the key depends on the class only: once per class
    for (int c = 0; c < C; ++c) key_of[size_t(c)] = class_key(c);
    for (size_t i = 0; i < HW; ++i) {
      const int32_t c = out[i];
      key[i] = c < 0 ? 0 : c < C ? key_of[size_t(c)] : class_key(c);
    }
    for (int v = 0; v < H; ++v)
      for (int u = 0; u < W; ++u) {
        int64_t m = 0;
        for (int x = std::max(0, u - b); x <= std::min(W - 1, u + b); ++x) m = std::max(m, key[size_t(v) * W + x]);
        tmp[size_t(v) * W + u] = m;
      }
    for (int v = 0; v < H; ++v)
      for (int u = 0; u < W; ++u) {
        int64_t m = 0;
        for (int y = std::max(0, v - b); y <= std::min(H - 1, v + b); ++y) m = std::max(m, tmp[size_t(y) * W + u]);
        const size_t i = size_t(v) * W + u;
        if (t.instance[i] >= 0 && m > 0) out[i] = int32_t(m % 64) - 1;
      }
  }
  // 4. Unlabelled pixels: 8x8 blocks dropped with probability `missing`; no geometry -> -1.
  const int bw = (W + 7) / 8, bh = (H + 7) / 8;
  std::vector<uint8_t> dropped(size_t(bw) * size_t(bh));  // one draw per 8x8 block
  for (int by = 0; by < bh; ++by)
    for (int bx = 0; bx < bw; ++bx)
      dropped[size_t(by) * bw + bx] = hash_unit(seed, vs, uint64_t(bx), uint64_t(by) + 0xD0D0) < opt.missing;
  for (int v = 0; v < H; ++v)
    for (int u = 0; u < W; ++u) {
      const size_t i = size_t(v) * W + u;
      if (t.instance[i] < 0 || dropped[size_t(v / 8) * bw + u / 8]) out[i] = -1;
    }
  return out;
}

std::vector<int32_t> sam_like_masks(const ViewTruth& t, uint64_t seed, int view, const SamLikeOptions& opt) {
  const int H = t.height, W = t.width;
  const size_t HW = size_t(H) * W;
  const uint64_t vs = uint64_t(view) + 1;
  std::map<int32_t, int64_t> area;
  std::map<int32_t, std::map<int32_t, int64_t>> border;
  int32_t last_a = -1;  // runs of one instance reuse the counter (map nodes never move)
  int64_t* last_area = nullptr;
  for (int v = 0; v < H; ++v)
    for (int u = 0; u < W; ++u) {
      const int32_t a = t.instance[size_t(v) * W + u];
      if (a < 0) continue;
      if (a != last_a) {
        last_area = &area[a];
        last_a = a;
      }
      ++*last_area;
      if (u + 1 < W) {
        const int32_t b = t.instance[size_t(v) * W + u + 1];
        if (b >= 0 && b != a) { ++border[a][b]; ++border[b][a]; }
      }
      if (v + 1 < H) {
        const int32_t b = t.instance[size_t(v + 1) * W + u];
        if (b >= 0 && b != a) { ++border[a][b]; ++border[b][a]; }
      }
    }
  // Per-instance decision: 0 keep, 1 split by parts, 2 Voronoi split, 3 merge into `target`, 4 drop.
  struct Plan { int mode = 0; int32_t target = -1; std::vector<std::pair<int, int>> seeds; };
  std::map<int32_t, Plan> plan;
  for (const auto& [inst, a] : area) {
    Plan p;
    const double frac = double(a) / double(HW);
    if (hash_unit(seed, uint64_t(inst), vs, 0x5D) < opt.drop_prob) {
      p.mode = 4;
    } else if (frac > opt.large_split_frac && hash_unit(seed, uint64_t(inst), vs, 0x5B) < opt.large_split) {
      p.mode = 2;
    } else if (frac < opt.merge_small_frac && border.count(inst) && hash_unit(seed, uint64_t(inst), vs, 0x5C) < opt.merge_prob) {
      int64_t best = -1;
      for (const auto& [nb, len] : border[inst])
        if (len > best) { best = len; p.target = nb; }
      p.mode = 3;
    } else if (hash_unit(seed, uint64_t(inst), vs, 0x5A) < opt.part_split) {
      p.mode = 1;
    }
    plan[inst] = p;
  }
  // Voronoi seeds: the k-th seed is the pixel of rank floor(h_k * area) in scan order.
  for (auto& [inst, p] : plan) {
    if (p.mode != 2) continue;
    std::vector<int64_t> ranks;
    for (int k = 0; k < std::max(2, opt.large_split_parts); ++k)
      ranks.push_back(int64_t(hash_unit(seed, uint64_t(inst), vs, 0x5E00 + uint64_t(k)) * double(area[inst])));
    std::vector<int64_t> sorted = ranks;
    std::sort(sorted.begin(), sorted.end());
    int64_t seen = 0;
    size_t next = 0;
    std::vector<std::pair<int, int>> by_rank(sorted.size());
    for (size_t i = 0; i < HW && next < sorted.size(); ++i) {
      if (t.instance[i] != inst) continue;
      while (next < sorted.size() && sorted[next] == seen) by_rank[next++] = {int(i % size_t(W)), int(i / size_t(W))};
      ++seen;
    }
    p.seeds = by_rank;
  }
  std::map<int64_t, int32_t> ids;
  std::vector<int32_t> out(HW, -1);
  int32_t last_inst = -1;  // lookups cached for runs of one instance / one mask key
  const Plan* last_plan = nullptr;
  int64_t last_key = -1;
  int32_t last_id = -1;
  for (size_t i = 0; i < HW; ++i) {
    int32_t inst = t.instance[i];
    if (inst < 0) continue;
    if (inst != last_inst) {
      last_plan = &plan[inst];
      last_inst = inst;
    }
    const Plan* p = last_plan;
    int64_t sub = 0;
    if (p->mode == 4) continue;
    if (p->mode == 3) {
      inst = p->target;
      p = &plan[inst];
      if (p->mode == 4) continue;
    } else if (p->mode == 1) {
      sub = t.part[i] + 1;
    } else if (p->mode == 2) {
      const int u = int(i % size_t(W)), v = int(i / size_t(W));
      int64_t bd = INT64_MAX;
      for (size_t k = 0; k < p->seeds.size(); ++k) {
        const int64_t dx = u - p->seeds[k].first, dy = v - p->seeds[k].second;
        if (dx * dx + dy * dy < bd) { bd = dx * dx + dy * dy; sub = int64_t(k) + 1; }
      }
    }
    const int64_t key = (int64_t(inst) << 20) | sub;
    if (key != last_key) {
      auto it = ids.find(key);
      if (it == ids.end()) it = ids.emplace(key, int32_t(ids.size())).first;
      last_key = key;
      last_id = it->second;
    }
    out[i] = last_id;
  }
  return out;
}

Tensor clip_like_features(const std::vector<int32_t>& clip, int H, int W, const Tensor& text_embeddings,
                          uint64_t seed, int view_index, int stride, double noise) {
  LESEG_CHECK(text_embeddings.ndim() == 2 && text_embeddings.dtype() == DType::f32, "clip_like_features: text "
              "embeddings must be (C, D) f32, got ", text_embeddings.str());
  LESEG_CHECK(stride >= 1 && noise >= 0 && int64_t(clip.size()) == int64_t(H) * W, "clip_like_features: bad options");
  const int C = int(text_embeddings.size(0)), D = int(text_embeddings.size(1));
  const float* T = text_embeddings.data<float>();
  const int h = (H + stride - 1) / stride, w = (W + stride - 1) / stride;
  const uint64_t vs = uint64_t(view_index) + 1;
  std::vector<float> out(size_t(h) * w * D);
  std::vector<int64_t> cnt(static_cast<size_t>(C));
  std::vector<double> g(static_cast<size_t>(D)), f(static_cast<size_t>(D));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      std::fill(cnt.begin(), cnt.end(), 0);
      for (int py = y * stride; py < std::min(H, (y + 1) * stride); ++py)
        for (int px = x * stride; px < std::min(W, (x + 1) * stride); ++px) {
          const int32_t c = clip[size_t(py) * W + px];
          if (c >= 0 && c < C) ++cnt[size_t(c)];
        }
      const int c = int(std::max_element(cnt.begin(), cnt.end()) - cnt.begin());
      const bool labelled = cnt[size_t(c)] > 0;
      Rng r(seed, hash_combine(hash_combine(0xC11FF0000ull, vs), uint64_t(y) * uint64_t(w) + uint64_t(x)));
      for (double& e : g) e = r.normal() / std::sqrt(double(D));
      double s = labelled ? noise : 1.0;
      for (int attempt = 0;; ++attempt) {
        double n = 0;
        for (int k = 0; k < D; ++k) {
          f[size_t(k)] = (labelled ? double(T[size_t(c) * D + k]) : 0.0) + s * g[size_t(k)];
          n += f[size_t(k)] * f[size_t(k)];
        }
        n = std::sqrt(std::max(n, 1e-300));
        for (double& e : f) e /= n;
        if (!labelled) break;
        // c must win by a margin that survives rounding to f16
        double own = 0, other = -1e300;
        for (int j = 0; j < C; ++j) {
          double d = 0;
          for (int k = 0; k < D; ++k) d += f[size_t(k)] * double(T[size_t(j) * D + k]);
          if (j == c) own = d;
          else other = std::max(other, d);
        }
        if (own > other + 1e-3) break;
        if (attempt >= 60) {  // the label's own embedding: argmax is c for distinct unit rows
          for (int k = 0; k < D; ++k) f[size_t(k)] = T[size_t(c) * D + k];
          break;
        }
        s *= 0.5;
      }
      float* o = &out[(size_t(y) * w + x) * D];
      for (int k = 0; k < D; ++k) o[k] = float(f[size_t(k)]);
    }
  // f16 values (the on-disk dtype) held as f32, so a scene in memory and the same scene read back agree
  return Tensor::from_vector(out, Shape{h, w, D}).to(DType::f16).to(DType::f32);
}

void attach_stand_ins(View& view, const ViewTruth& t, const Tensor& text_embeddings, const std::vector<double>& P,
                      uint64_t seed, int view_index, const StandInOptions& opt) {
  const int H = t.height, W = t.width;
  const int C = int(text_embeddings.size(0));
  const size_t HW = size_t(H) * W;
  view.gt_labels = Tensor::from_vector(std::vector<int32_t>(t.label, t.label + HW), Shape{H, W});
  const std::vector<int32_t> clip = clip_like_labels(t, C, P, seed, view_index, opt.clip);
  view.clip_labels = Tensor::from_vector(clip, Shape{H, W});
  std::vector<int32_t> masks = sam_like_masks(t, seed, view_index, opt.sam);
  view.sam_masks = Tensor::from_vector(masks, Shape{H, W});
  const uint64_t vs = uint64_t(view_index) + 1;
  if (opt.sam_features) {
    const int s = std::max(1, opt.sam.feat_stride), F = std::max(1, opt.sam.feat_dim);
    const int h = (H + s - 1) / s, w = (W + s - 1) / s;
    std::vector<float> feat(size_t(h) * w * F);
    // The per-instance unit direction is the first F normals of Rng(seed, 0xFEA7000000 + inst + 1): drawn
    // once per instance, not once per feature cell.
    std::unordered_map<int32_t, std::vector<double>> base_of;
    std::vector<double> f(static_cast<size_t>(F));
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const int py = std::min(H - 1, y * s + s / 2), px = std::min(W - 1, x * s + s / 2);
        const int32_t inst = t.instance[size_t(py) * W + px];
        const std::vector<double>* base = nullptr;
        if (inst >= 0) {
          auto it = base_of.find(inst);
          if (it == base_of.end()) {
            Rng r(seed, 0xFEA7000000ull + uint64_t(inst + 1));
            std::vector<double> b(static_cast<size_t>(F));
            for (double& e : b) e = r.normal();
            it = base_of.emplace(inst, std::move(b)).first;
          }
          base = &it->second;
        }
        Rng noise(seed, hash_combine(vs, uint64_t(y * w + x)));
        double n = 0;
        for (int k = 0; k < F; ++k) {
          f[size_t(k)] = (base ? (*base)[size_t(k)] / std::sqrt(double(F)) : 0.0) +
                         opt.sam.feat_noise * noise.normal() / std::sqrt(double(F));
          n += f[size_t(k)] * f[size_t(k)];
        }
        n = std::sqrt(std::max(n, 1e-300));
        for (int k = 0; k < F; ++k) feat[(size_t(y) * w + x) * F + size_t(k)] = float(f[size_t(k)] / n);
      }
    view.sam_features = Tensor::from_vector(feat, Shape{h, w, F});
  }
  if (opt.captions) {
    // A captioner sees the image, not the ground truth: the captions name what the CLIP-like labels of the view
    // (scene caption) and of the SAM mask's pixels (object caption) say, so they carry CLIP's confusions and
    // no oracle labels (issue 20; `leseg data inspect` reports how often an object caption names the mask's
    // majority GT class).
    std::vector<int64_t> cnt(size_t(C), 0);
    for (size_t i = 0; i < HW; ++i)
      if (clip[i] >= 0 && clip[i] < C) ++cnt[size_t(clip[i])];
    std::vector<int32_t> present;
    for (int c = 0; c < C; ++c)
      if (double(cnt[size_t(c)]) >= 0.01 * double(HW)) present.push_back(c);
    view.caption_scene = caption_embedding(text_embeddings, present, opt.caption_noise, hash_combine(seed, vs));
    int32_t m_count = 0;
    for (int32_t m : masks) m_count = std::max(m_count, m + 1);
    std::vector<std::vector<int64_t>> votes(size_t(m_count), std::vector<int64_t>(size_t(C), 0));
    for (size_t i = 0; i < HW; ++i)
      if (masks[i] >= 0 && clip[i] >= 0 && clip[i] < C) ++votes[size_t(masks[i])][size_t(clip[i])];
    std::vector<float> caps;
    std::vector<int32_t> ids;
    const int64_t D = text_embeddings.size(1);
    for (int32_t m = 0; m < m_count; ++m) {
      const auto& v = votes[size_t(m)];
      const int32_t c = int32_t(std::max_element(v.begin(), v.end()) - v.begin());
      if (v[size_t(c)] == 0) continue;
      Tensor e = caption_embedding(text_embeddings, {c}, opt.caption_noise, hash_combine(hash_combine(seed, vs), uint64_t(m) + 1));
      const float* ep = e.data<float>();
      caps.insert(caps.end(), ep, ep + D);
      ids.push_back(m);
    }
    view.caption_objects = Tensor::from_vector(caps, Shape{int64_t(ids.size()), D});
    view.caption_object_ids = Tensor::from_vector(ids, Shape{int64_t(ids.size())});
  }
  if (opt.clip_features)
    view.clip_features = clip_like_features(clip, H, W, text_embeddings, seed, view_index, opt.clip_feat_stride,
                                            opt.clip_feat_noise);
}

}  // namespace leseg::io::synth
