// SPDX-License-Identifier: Apache-2.0
// HICL building blocks (METHODS §2.3, REFERENCE-CODE §2; no public code):
//   * refine_by_sets: intra-set refinement = per-set mode (vote_mode) of the projected pseudo-labels,
//     unlabelled points (-1) do not vote; points in no set (id < 0) keep their own label. By default only
//     labelled points take the mode ("every projected pseudo-label is replaced"); propagate = true also
//     labels the unlabelled points of a set that has a mode [reading, off by default].
//   * proportional_counts: M_i = M·N_i/N rounded by largest remainder (ties -> lower set index) so Σ M_i = M
//     exactly; when N <= M every point is taken.
//   * sample_scene / sample_batch: M points per scene from the points with a refined label, per set
//     proportionally (points with a label but in no set form one extra pool); inside a pool the points are a
//     prefix of randperm(pool) from the Generator; the result is sorted. Packed into intra-scene sequences
//     (cu offsets per scene) and one inter-scene sequence (all sampled points of the batch).
//   * feedback_kl: KL(teacher ‖ student) with p = softmax(t/T), ×T², /N (CLIP2Scene DistillKL [code]),
//     teacher detached. aggregate_logits: mean of the transformer outputs used as the teacher [reading].
//   * StageSchedule: 0-based epochs; intra_from = 10 is the paper's "from epoch 11", kl_from = 19 its
//     "from epoch 20"; ablation switches turn terms off.
#pragma once
#include <cstdint>
#include <vector>

#include <memory>

#include "engine/optim/scheduler.h"
#include "engine/rng.h"
#include "engine/tensor.h"

namespace leseg::train::hicl {

// labels (N,) i64 (-1 = none), sets (N,) i32/i64 arbitrary ids (< 0 = no set) -> (N,) i64 refined.
Tensor refine_by_sets(const Tensor& labels, const Tensor& sets, int64_t num_classes, bool propagate = false);

std::vector<int64_t> proportional_counts(const std::vector<int64_t>& set_sizes, int64_t M);

// sets (N,), labels (N,) -> sorted (M',) i64 point indices (M' = min(M, #labelled points)).
Tensor sample_scene(const Tensor& sets, const Tensor& labels, int64_t M, Generator& gen);

struct PackedSamples {
  Tensor index;     // (S,) i64 indices into the batch's points (scene offsets added), grouped by scene
  Tensor cu_intra;  // (B + 1,) i64: scene b's samples are index[cu_intra[b] : cu_intra[b+1]]
  Tensor cu_inter;  // (2,) i64 {0, S}: one sequence over all samples of the batch
};
// sets, labels: (N_total,) over the batch; scene_offsets (B + 1,) i64 point offsets of the scenes.
PackedSamples sample_batch(const Tensor& sets, const Tensor& labels, const Tensor& scene_offsets, int64_t M,
                           Generator& gen);

// student_logits, teacher_logits (S, C) -> scalar KL(teacher ‖ student)·T² / S.
Tensor feedback_kl(const Tensor& student_logits, const Tensor& teacher_logits, double temperature = 1.0);
// Mean of the defined logit sets (intra, inter), each (S, C); at least one defined.
Tensor aggregate_logits(const Tensor& intra, const Tensor& inter);

struct Stage {
  bool ce = true;     // L_ce of the 3D model against the refined labels
  bool intra = false; // intra-scene transformer CE
  bool inter = false; // inter-scene transformer CE
  bool kl = false;    // feedback KL into the 3D model
  bool transformers() const { return intra || inter; }
};
struct StageSchedule {
  int intra_from = 10;  // 0-based first epoch with the transformer CE terms (paper: epoch 11)
  int kl_from = 19;     // 0-based first epoch with the feedback KL (paper: epoch 20)
  bool use_intra_scene = true, use_inter_scene = true, use_feedback = true;  // ablation rows
  Stage at(int epoch) const;
};

// The transformers' learning-rate schedule starts when their stage starts: lr(t) = inner.lr_at(base, max(0, t − delay))
// (delay = the stage's first step, or epoch, in the slot's scheduler unit). Before the stage the transformers get no
// gradient and lr stays at the base lr; at the stage start lr = base lr, and `inner` (built over the stage's
// length, not the run's) runs its full course by the end of the run. State = the outer counter t.
class DelayedLR : public LRScheduler {
 public:
  DelayedLR(Optimizer& opt, std::unique_ptr<LRScheduler> inner, int64_t delay);
  double lr_at(double base_lr, int64_t t) const override;
  int64_t delay() const { return delay_; }

 private:
  std::unique_ptr<LRScheduler> inner_;
  int64_t delay_;
};

}  // namespace leseg::train::hicl
