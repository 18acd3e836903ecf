// SPDX-License-Identifier: Apache-2.0
// How noisy are the stand-ins? The four figures of METHODS §6 (CNS Tables 1-2 on ScanNet):
//   clip_2d   mIoU of the raw CLIP-like pixel labels vs the GT label images (target ~17)
//   clip_3d   the same labels projected to points (per point: the most frequent label over the views that
//             pair with it, ties -> smaller class; unpaired points count as unlabelled) vs point GT (~14)
//   voted_2d  after SAM-mask voting (each mask takes the mode of its CLIP labels) (~24)
//   voted_3d  voted labels projected to points (~19)
//   set_3d    HICL's intra-set refinement: the projected raw labels (clip_3d) voted within each geometric
//             consistency set (Scene::segments; mode over the set's labelled points) — only when every scene
//             has segments, else -1. Not a METHODS §6 target: it shows whether the over-segmentation helps.
//   caption_acc  LASS3D's object captions: the share of captions whose nearest class text embedding (cosine) is
//             the caption's SAM mask's majority GT class — only when the text embeddings are given and the
//             views carry object captions, else -1. Not a METHODS §6 target: it says how much a caption knows.
// mIoU: one confusion matrix over the whole set, ignore (-1) GT excluded, predictions of -1 count as
// misses; the mean is over classes with a non-empty union.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/geometry/pairing.h"
#include "io/scene.h"

namespace leseg::io::synth {

struct CalibrationReport {
  double clip_2d = 0, clip_3d = 0, voted_2d = 0, voted_3d = 0, set_3d = -1, caption_acc = -1;
  int64_t captions = 0;
  int64_t pixels = 0, points = 0, paired_points = 0;
  int classes_2d = 0, classes_3d = 0;  // classes with a non-empty union (raw labels)
  std::string str() const;
};

// Serial mode vote: out[i] = the most frequent label >= 0 among pixels of mask[i] (ties -> smaller
// label); pixels with mask -1, or masks without any label, keep their own label.
std::vector<int32_t> mask_mode_vote(const int32_t* labels, const int32_t* masks, int64_t n, int num_classes);

// Accumulates confusion (C*C, row = GT) over pairs with gt >= 0; pred < 0 adds to a miss counter per class.
struct ConfusionMatrix {
  int C = 0;
  std::vector<int64_t> m, missed;
  explicit ConfusionMatrix(int c) : C(c), m(size_t(c) * c, 0), missed(size_t(c), 0) {}
  void add(int32_t gt, int32_t pred);
  double miou(int* classes_counted = nullptr) const;
};

// Views without a depth map pair LiDAR-style (depth > pairing.lidar_min_depth, no depth test).
// text_embeddings (C, D), optional: enables caption_acc.
CalibrationReport calibrate(const std::vector<Scene>& scenes, int num_classes, const PairingOptions& pairing = {},
                            const Tensor& text_embeddings = Tensor());

}  // namespace leseg::io::synth
