// SPDX-License-Identifier: Apache-2.0
// CNS building blocks (METHODS §2.4, REFERENCE-CODE §3; the repo has no code, so this is a paper reading):
//   * refine_by_masks: SAM max-voting — inside every SAM mask all elements take the most frequent valid
//     label of the mask (ties -> smallest class); elements with mask id < 0 keep their label; a mask with no
//     valid label leaves its elements unlabelled. Works on pixel maps (H, W) and on pair lists alike (labels
//     and mask ids of the same shape), so it refines CLIP labels (P*) and network predictions (P̂*).
//   * to_points: refined pixel labels -> per-point labels through the pairs (common::project_pixel_labels).
//   * LabelSourceSampler: during warm-up the target is the refined CLIP label; afterwards it is drawn per
//     batch uniformly over the enabled sources {P*_2D, P*_3D, P̂*_2D, P̂*_3D}; "w/o CLIP" keeps only the
//     predictions (the paper reports that this collapses), other ablations are flag sets.
//   * LatentConsistency: 64-d linear heads θ (2D features), ϕ (3D features), φ (target features: SAM, or
//     CLIP / SAM+CLIP for the LSC ablations);
//       L_f = mean(1 − cos(θ(x), φ(s)/‖φ(s)‖)) + mean(1 − cos(ϕ(p), φ(s)/‖φ(s)‖)),
//     s frozen (detached). φ itself is frozen by default (train_target_head = false): a trainable φ lets all
//     three heads collapse onto one constant direction [reading].
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/nn/layers.h"
#include "engine/nn/module.h"
#include "engine/rng.h"
#include "engine/tensor.h"

namespace leseg::train::cns {

// labels (any shape) i32/i64 (-1 = none), mask_ids (same shape) i32/i64 (< 0 = none) -> i64 of that shape.
// num_masks >= 0: the ids are known to lie in [-1, num_masks) (a batch's SAM ids: Batch::num_sam_masks), so the vote
// runs on the labels' device with no compaction and nothing read back (a label >= C or an id >= num_masks is the vote
// kernels' error: at once on the CPU, through the device error slot on CUDA); -1: any ids, compacted on the host.
Tensor refine_by_masks(const Tensor& labels, const Tensor& mask_ids, int64_t num_classes, int64_t num_masks = -1);

// Refined pixel labels of every view -> per-point labels (N,) (mode over views).
Tensor to_points(int64_t num_points, const std::vector<Tensor>& pairs, const std::vector<Tensor>& refined_pixel_labels,
                 int64_t num_classes);

enum class LabelSource { clip_2d = 0, clip_3d = 1, pred_2d = 2, pred_3d = 3 };
const char* label_source_name(LabelSource s);

struct LabelSourceSampler {
  int warmup_epochs = 10;  // 0-based epochs < warmup_epochs use clip_2d (2D net) / clip_3d (3D net)
  bool use_clip_2d = true, use_clip_3d = true, use_pred_2d = true, use_pred_3d = true;
  static LabelSourceSampler without_clip();  // ablation "w/o CLIP": predictions only
  std::vector<LabelSource> enabled() const;
  // One uniform draw per call after warm-up (none during warm-up). for_3d picks the warm-up source.
  LabelSource draw(int epoch, bool for_3d, Generator& gen) const;
};

// The (point, pixel, view) pairs of one batch: N points, V views of H×W crops (pixel = y·W + x).
struct PairIndex {
  int64_t N = 0, V = 0, H = 0, W = 0;
  std::vector<int64_t> point, pixel, view;
  // Device forms (to_device): the pairs' points and flat pixels (view·H·W + pixel) (P,) i64, and P − i (P,) f64,
  // the key that makes a per-pixel maximum pick the first pair. With them the hand-overs below run on that device
  // and read nothing back; without them (undefined) they run on the host.
  Tensor d_point, d_flat, d_rank;
};
// Fills p's device forms on `dev` from its host vectors (no device read).
void to_device(PairIndex& p, Device dev);
// The four label sources of eq. 6 in their own domains: clip2 / pred2 (V·H·W) i64 pixel maps, clip3 / pred3 (N,) i64
// point labels (-1 = none). A source not computed stays undefined.
struct SourceMaps {
  Tensor clip2, pred2, clip3, pred3;
};
// A pixel map -> per point: the mode over the views that pair the point (ties -> smallest class; -1 unpaired or
// unlabelled). Point labels -> pixels: the point's label at the pixels it pairs (a pixel paired with several points
// takes the first pair's), other pixels -1 [reading].
Tensor pixels_to_points(const Tensor& pixel_labels, const PairIndex& pairs, int64_t num_classes);
Tensor points_to_pixels(const Tensor& point_labels, const PairIndex& pairs);
// The target of the 2D network (V·H·W,) and of the 3D network (N,) for source s: a source in the other domain is
// handed over through the pairs (the two functions above). Throws when s's map is undefined.
Tensor pixel_target(LabelSource s, const SourceMaps& src, const PairIndex& pairs, int64_t num_classes);
Tensor point_target(LabelSource s, const SourceMaps& src, const PairIndex& pairs, int64_t num_classes);
// Negative control: the labelled entries (>= 0) of `labels` permuted among themselves by a permutation drawn from
// `seed` (class frequencies kept, any link to the input removed); -1 entries stay -1. i64 of the same shape.
Tensor shuffle_labels(const Tensor& labels, uint64_t seed);
// Negative control (issue 19's `shuffled`): every labelled entry (>= 0) replaced by a class drawn uniformly from
// [0, num_classes) with a generator seeded by `seed` (the k-th labelled entry in index order takes the k-th draw);
// -1 entries stay -1. i64 of the same shape, on the labels' device, without reading them back.
Tensor random_labels(const Tensor& labels, int64_t num_classes, uint64_t seed);

struct LatentConsistencyOptions {
  int64_t dim_2d = 256, dim_3d = 96, dim_target = 256, latent = 64;
  bool train_target_head = false;
  DType dtype = DType::f32;
};
struct LatentConsistencyLoss {
  Tensor total, term_2d, term_3d;  // scalars, total = term_2d + term_3d
};
class LatentConsistency : public Module {
 public:
  LatentConsistency(const LatentConsistencyOptions& opts, Generator& gen);
  std::string type_name() const override { return "LatentConsistency"; }
  // x (P, dim_2d), p (P, dim_3d), s (P, dim_target): features at the same P pairs.
  LatentConsistencyLoss loss(const Tensor& x, const Tensor& p, const Tensor& s);
  // The parameters to hand to an optimizer: θ and ϕ, plus φ when train_target_head (optimizers reject the
  // frozen φ tensors, which parameters() still lists so that state dicts stay complete).
  std::vector<Tensor> trainable_parameters() const;
  std::shared_ptr<Linear> theta, phi_3d, phi_target;  // θ, ϕ, φ
};

}  // namespace leseg::train::cns
