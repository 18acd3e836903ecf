// SPDX-License-Identifier: Apache-2.0
#include "io/synthetic/calibration.h"

#include <algorithm>
#include <cstdio>
#include <unordered_map>

namespace leseg::io::synth {

std::string CalibrationReport::str() const {
  char b[512];
  std::snprintf(b, sizeof b,
                "CLIP-like labels: %.1f mIoU 2D (%d classes, %lld px), %.1f mIoU 3D (%d classes, %lld of %lld points "
                "paired); after SAM-mask voting: %.1f 2D, %.1f 3D   [targets ~17 / ~14 / ~24 / ~19]",
                clip_2d, classes_2d, (long long)pixels, clip_3d, classes_3d, (long long)paired_points, (long long)points,
                voted_2d, voted_3d);
  std::string out = b;
  if (set_3d >= 0) {
    std::snprintf(b, sizeof b, "; raw 3D labels voted within geometric sets (HICL intra-set): %.1f 3D", set_3d);
    out += b;
  }
  if (caption_acc >= 0) {
    std::snprintf(b, sizeof b, "; object captions naming their mask's majority GT class: %.1f %% of %lld", caption_acc,
                  (long long)captions);
    out += b;
  }
  return out;
}

std::vector<int32_t> mask_mode_vote(const int32_t* labels, const int32_t* masks, int64_t n, int C) {
  std::unordered_map<int32_t, std::vector<int64_t>> votes;
  for (int64_t i = 0; i < n; ++i) {
    if (masks[i] < 0 || labels[i] < 0 || labels[i] >= C) continue;
    auto& v = votes[masks[i]];
    if (v.empty()) v.assign(size_t(C), 0);
    ++v[size_t(labels[i])];
  }
  std::unordered_map<int32_t, int32_t> winner;
  for (const auto& [m, v] : votes) winner[m] = int32_t(std::max_element(v.begin(), v.end()) - v.begin());
  std::vector<int32_t> out(labels, labels + n);
  for (int64_t i = 0; i < n; ++i) {
    if (masks[i] < 0) continue;
    auto it = winner.find(masks[i]);
    if (it != winner.end()) out[size_t(i)] = it->second;
  }
  return out;
}

void ConfusionMatrix::add(int32_t gt, int32_t pred) {
  if (gt < 0 || gt >= C) return;
  if (pred < 0 || pred >= C) ++missed[size_t(gt)];
  else ++m[size_t(gt) * C + size_t(pred)];
}

double ConfusionMatrix::miou(int* counted) const {
  double sum = 0;
  int n = 0;
  for (int c = 0; c < C; ++c) {
    int64_t tp = m[size_t(c) * C + c], fn = missed[size_t(c)], fp = 0;
    for (int j = 0; j < C; ++j) {
      if (j == c) continue;
      fn += m[size_t(c) * C + j];
      fp += m[size_t(j) * C + c];
    }
    const int64_t uni = tp + fp + fn;
    if (uni == 0) continue;
    sum += double(tp) / double(uni);
    ++n;
  }
  if (counted) *counted = n;
  return n ? 100.0 * sum / n : 0.0;
}

CalibrationReport calibrate(const std::vector<Scene>& scenes, int C, const PairingOptions& pairing,
                            const Tensor& text_embeddings) {
  std::vector<float> text;
  int64_t D = 0;
  if (text_embeddings.defined()) {
    LESEG_CHECK(text_embeddings.ndim() == 2 && text_embeddings.size(0) == C, "calibrate: text embeddings ",
                text_embeddings.shape().str(), " do not have one row per class (", C, ")");
    D = text_embeddings.size(1);
    text = text_embeddings.to(DType::f32).to_vector<float>();
  }
  int64_t cap_right = 0, cap_total = 0;
  ConfusionMatrix raw2(C), vot2(C), raw3(C), vot3(C), set3(C);
  CalibrationReport r;
  bool all_sets = !scenes.empty();
  for (const Scene& s : scenes) all_sets = all_sets && s.segments.defined() && s.segments.numel() == s.num_points();
  for (const Scene& s : scenes) {
    LESEG_CHECK(s.labels.defined(), "calibrate: scene '", s.name, "' has no point labels");
    const int64_t n = s.num_points();
    std::vector<int32_t> gt = s.labels.to_vector<int32_t>();
    std::vector<int32_t> raw_votes(size_t(n) * C, 0), vot_votes(size_t(n) * C, 0);
    for (const View& v : s.views) {
      LESEG_CHECK(v.clip_labels.defined() && v.sam_masks.defined() && v.gt_labels.defined(), "calibrate: view '",
                  v.name, "' of scene '", s.name, "' lacks clip_labels / sam_masks / gt_labels");
      const int64_t hw = v.clip_labels.numel();
      const int32_t* clip = v.clip_labels.data<int32_t>();
      const int32_t* gl = v.gt_labels.data<int32_t>();
      std::vector<int32_t> voted = mask_mode_vote(clip, v.sam_masks.data<int32_t>(), hw, C);
      if (D > 0 && v.caption_objects.defined() && v.caption_object_ids.defined() && v.caption_objects.numel() > 0) {
        LESEG_CHECK(v.caption_objects.ndim() == 2 && v.caption_objects.size(1) == D, "calibrate: view '", v.name,
                    "' of scene '", s.name, "': caption_objects ", v.caption_objects.shape().str(), " vs text dim ", D);
        // majority GT class of every mask
        const int32_t* mk = v.sam_masks.data<int32_t>();
        int32_t nm = 0;
        for (int64_t i = 0; i < hw; ++i) nm = std::max(nm, mk[i] + 1);
        std::vector<int64_t> gv(size_t(nm) * C, 0);
        for (int64_t i = 0; i < hw; ++i)
          if (mk[i] >= 0 && gl[i] >= 0 && gl[i] < C) ++gv[size_t(mk[i]) * C + size_t(gl[i])];
        const std::vector<float> caps = v.caption_objects.to(DType::f32).to_vector<float>();
        const std::vector<int64_t> ids = v.caption_object_ids.to(DType::i64).to_vector<int64_t>();
        for (size_t k = 0; k < ids.size(); ++k) {
          if (ids[k] < 0 || ids[k] >= nm) continue;
          const int64_t* row = &gv[size_t(ids[k]) * C];
          const int64_t g = std::max_element(row, row + C) - row;
          if (row[g] == 0) continue;  // a mask over unlabelled pixels only
          int64_t best = 0;
          double best_dot = -1e300;
          for (int64_t c = 0; c < C; ++c) {
            double dot = 0;
            for (int64_t j = 0; j < D; ++j) dot += double(caps[k * size_t(D) + size_t(j)]) * text[size_t(c * D + j)];
            if (dot > best_dot) best_dot = dot, best = c;
          }
          cap_right += best == g;
          ++cap_total;
        }
      }
      for (int64_t i = 0; i < hw; ++i) {
        raw2.add(gl[i], clip[i]);
        vot2.add(gl[i], voted[size_t(i)]);
        r.pixels += gl[i] >= 0;
      }
      PairingOptions po = pairing;
      if (!v.depth.defined()) po.lidar = true;  // cameras without depth (LiDAR scenes), as the loader's auto_lidar
      std::vector<int64_t> pairs = pair_points(s.coords, v, po).to_vector<int64_t>();
      for (size_t k = 0; k + 1 < pairs.size(); k += 2) {
        const int64_t p = pairs[k], px = pairs[k + 1];
        if (clip[px] >= 0 && clip[px] < C) ++raw_votes[size_t(p) * C + size_t(clip[px])];
        if (voted[size_t(px)] >= 0 && voted[size_t(px)] < C) ++vot_votes[size_t(p) * C + size_t(voted[size_t(px)])];
      }
    }
    std::vector<int32_t> raw_point(size_t(n), -1);
    for (int64_t p = 0; p < n; ++p) {
      auto pick = [&](const std::vector<int32_t>& votes) {
        const int32_t* row = &votes[size_t(p) * C];
        const int32_t c = int32_t(std::max_element(row, row + C) - row);
        return row[c] > 0 ? c : -1;
      };
      const int32_t a = pick(raw_votes), b = pick(vot_votes);
      raw_point[size_t(p)] = a;
      raw3.add(gt[size_t(p)], a);
      vot3.add(gt[size_t(p)], b);
      r.points += gt[size_t(p)] >= 0;
      r.paired_points += gt[size_t(p)] >= 0 && (a >= 0 || b >= 0);
    }
    if (all_sets) {
      std::vector<int32_t> in_set = mask_mode_vote(raw_point.data(), s.segments.to_vector<int32_t>().data(), n, C);
      for (int64_t p = 0; p < n; ++p) set3.add(gt[size_t(p)], in_set[size_t(p)]);
    }
  }
  if (all_sets) r.set_3d = set3.miou();
  r.clip_2d = raw2.miou(&r.classes_2d);
  r.voted_2d = vot2.miou();
  r.clip_3d = raw3.miou(&r.classes_3d);
  r.voted_3d = vot3.miou();
  r.captions = cap_total;
  if (cap_total > 0) r.caption_acc = 100.0 * double(cap_right) / double(cap_total);
  return r;
}

}  // namespace leseg::io::synth
