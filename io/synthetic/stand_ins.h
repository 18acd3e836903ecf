// SPDX-License-Identifier: Apache-2.0
// Foundation-model stand-ins computed per rendered view from its ground truth (label, instance and part
// images). Each kind of error the methods exist to fix has one knob; the defaults are set once so that
// the generated data lands near the CNS Tables 1-2 figures for MaskCLIP/SAM on ScanNet (raw CLIP pixel
// labels ~17 mIoU in 2D / ~14 on points, ~24 / ~19 after SAM-mask voting; see calibration.h), and are
// never tuned per method. Set once (four trial settings, 12 rooms x 6 views, seeds 100-111): measured
// 16.3 / 11.6 / 25.2 / 19.1. The 3D raw figure sits ~2 below its target because points seen by no view
// count as misses and per-view disagreements are resolved by a plain majority.
//
// | knob (ClipLikeOptions)     | default | error it models                                                   |
// |----------------------------|---------|-------------------------------------------------------------------|
// | confusion_tau              | 0.08    | temperature of P(j|i) = softmax_{j!=i}(cos(t_i, t_j)/tau): wrong   |
// |                            |         | classes are semantically close ones (chair->sofa, sink->toilet)    |
// | instance_confusion         | 0.42    | P(a visible instance is labelled with a confused class)           |
// | view_consistency           | 0.5     | P(that decision is shared by all views); else redrawn per view    |
// | blob_cell_px               | 40      | size of the low-frequency noise lattice (pixels)                  |
// | blob_coverage              | 0.18    | fraction of the image covered by coherent wrong blobs             |
// | bleed_px                   | 5       | boundary bleeding: labels dilate across edges by this many pixels |
// | missing                    | 0.02    | fraction of pixels with no label (-1)                              |
//
// | knob (SamLikeOptions)      | default | error it models                                                   |
// |----------------------------|---------|-------------------------------------------------------------------|
// | part_split                 | 0.35    | P(an instance is over-segmented into its parts)                   |
// | large_split_frac / parts   | 0.12/3  | instances above this image fraction split into Voronoi pieces     |
// | large_split                | 0.5     | P(such a large instance is split)                                 |
// | merge_small_frac           | 0.01    | instances below this image fraction may merge with a neighbour    |
// | merge_prob                 | 0.4     | P(a small instance merges into the neighbour it shares most edge) |
// | drop_prob                  | 0.05    | P(an instance region gets no mask, -1)                            |
// | feat_dim / feat_stride     | 32 / 8  | SAM feature map (H/stride, W/stride, F)                           |
// | feat_noise                 | 0.3     | Gaussian noise on the per-instance unit feature                   |
//
// Dense CLIP pixel features (clip_feat.npy, (H/s, W/s, D) f16 with s = clip_feat_stride = 16, CLIP's ViT-B/16 patch
// grid): cell (y, x) = normalize(T[c] + clip_feat_noise * g / sqrt(D)), c = the majority CLIP-like label of the
// cell's s x s pixels (ties -> smallest class), g ~ N(0, I) from a per-cell stream. The noise is halved until
// argmax_j (feature . T_j) = c, so the features agree with the CLIP-like labels cell by cell (MaskCLIP's dense
// logits are feature . T). A cell without any label (all -1) gets a unit random vector. The features carry no
// information beyond the CLIP-like labels (no ground truth): they are the labels' own embedding, plus noise.
// Drawn from their own streams after everything else, so adding them changes no other file of a seed.
//
// Captions, from what a captioner would see (the CLIP-like labels, not the ground truth): scene caption =
// normalize(mean of the text embeddings of the classes the CLIP-like labels give >= 1% of the view
// + caption_noise * g / sqrt(D)); one object caption per SAM mask = the majority CLIP-like class of its pixels
// + noise (masks without any CLIP-like label get none).
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"
#include "io/scene.h"

namespace leseg::io::synth {

struct ClipLikeOptions {
  double confusion_tau = 0.08;
  double instance_confusion = 0.42;
  double view_consistency = 0.5;
  int blob_cell_px = 40;
  double blob_coverage = 0.18;
  int bleed_px = 5;
  double missing = 0.02;
};

struct SamLikeOptions {
  double part_split = 0.35;
  double large_split_frac = 0.12;
  int large_split_parts = 3;
  double large_split = 0.5;
  double merge_small_frac = 0.01;
  double merge_prob = 0.4;
  double drop_prob = 0.05;
  int feat_dim = 32;
  int feat_stride = 8;
  double feat_noise = 0.3;
};

struct StandInOptions {
  ClipLikeOptions clip;
  SamLikeOptions sam;
  double caption_noise = 0.5;
  bool sam_features = true;
  bool captions = true;
  bool clip_features = true;     // View::clip_features (clip_feat.npy)
  int clip_feat_stride = 16;     // pixels per feature cell (ViT-B/16 patches)
  double clip_feat_noise = 0.5;  // Gaussian noise on the label's text embedding (before normalisation)
};

// Ground truth of one view as rendered (H*W each, -1 = none).
struct ViewTruth {
  int height = 0, width = 0;
  const int32_t* label = nullptr;
  const int32_t* instance = nullptr;
  const int32_t* part = nullptr;
};

// CLIP-like pixel labels (H*W, -1 = none). confusion: (C*C) from confusion_from_embeddings.
std::vector<int32_t> clip_like_labels(const ViewTruth& t, int num_classes, const std::vector<double>& confusion,
                                      uint64_t scene_seed, int view_index, const ClipLikeOptions& opt);

// SAM-like mask ids (H*W, -1 = none), ids 0..M-1 in order of first pixel.
std::vector<int32_t> sam_like_masks(const ViewTruth& t, uint64_t scene_seed, int view_index, const SamLikeOptions& opt);

// Dense CLIP-like features (h, w, D) f32 holding f16 values over an H x W label map (see above), h = ceil(H / stride).
Tensor clip_like_features(const std::vector<int32_t>& clip, int H, int W, const Tensor& text_embeddings,
                          uint64_t scene_seed, int view_index, int stride, double noise);

// Fills view.clip_labels, clip_features, sam_masks, sam_features, caption_* (and gt_labels) from the truth.
void attach_stand_ins(View& view, const ViewTruth& t, const Tensor& text_embeddings,
                      const std::vector<double>& confusion, uint64_t scene_seed, int view_index,
                      const StandInOptions& opt);

}  // namespace leseg::io::synth
