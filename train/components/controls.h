// SPDX-License-Identifier: Apache-2.0
// Ablation controls and mechanism statistics shared by every regime (docs/evidence.md, scripts/ablate.sh).
//   data.label_source  pseudo   (default) the regime's own training targets (pseudo-labels, weak labels, ...)
//                      gt       positive control: every target replaced by the ground-truth label of the same
//                               point (targets whose point has no GT label are dropped)
//                      shuffled negative control: every target replaced by a class drawn uniformly at random
//                               (a fresh draw each step, from the regime's "controls" generator)
//   Regimes read the key themselves (a regime that does not honour it leaves the key unread: a config error).
// Mechanism statistics (step_stats, logged as "stats" in metrics.jsonl's train records), over the training rows
// that carry a target, scored against ground truth that the regime never trains on:
//   target_acc / target_miou   accuracy / mIoU of the targets actually used
//   net_acc / net_miou         of the network's argmax on the same rows ("does the network exceed its targets?")
//   n_targets                  number of scored rows
// mIoU here averages the classes present in the GT or predicted on those rows (a batch-level figure).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/rng.h"
#include "engine/tensor.h"

namespace leseg::train {
class Config;
}

namespace leseg::train::controls {

enum class LabelSource { Pseudo, Gt, Shuffled };

LabelSource parse_label_source(const std::string& s);  // error names the key and the choices
// Reads data.label_source (default pseudo).
LabelSource label_source_from_config(const Config& cfg);
const char* label_source_name(LabelSource s);

// targets (R,) i64 CPU (< 0 = no target), gt (R,) i64/i32 CPU (< 0 = unknown) -> (R,) i64 CPU:
// Pseudo: unchanged; Gt: gt where targets >= 0 (else -1); Shuffled: uniform class in [0, C) where targets >= 0.
Tensor apply(const Tensor& targets, const Tensor& gt, LabelSource s, int64_t num_classes, Generator& gen);
// The same on host values (what the regimes call with the batch's host original: no device read, the same draws).
// gt: one label per target, needed for Gt only.
std::vector<int64_t> apply(std::vector<int64_t> targets, const std::vector<int64_t>* gt, LabelSource s,
                           int64_t num_classes, Generator& gen);

struct Agreement {
  double acc = 0.0, miou = 0.0;
  int64_t n = 0;
};
// pred (R,) and gt (R,) (any int dtype, CPU); rows with gt < 0 or pred < 0 are skipped.
Agreement agreement(const Tensor& pred, const Tensor& gt, int64_t num_classes);

// Adds target_acc, target_miou, net_acc, net_miou, n_targets to `stats` (rows: targets >= 0 and gt >= 0).
// net_logits (R, C) any device (argmax taken), targets / gt (R,) CPU.
void add_target_stats(nlohmann::json& stats, const Tensor& targets, const Tensor& gt, const Tensor& net_logits,
                      int64_t num_classes, const std::string& prefix = "");
// The same with the network's argmax already on the host (net_pred, R values).
void add_target_stats(nlohmann::json& stats, const Tensor& targets, const Tensor& gt,
                      const std::vector<int64_t>& net_pred, int64_t num_classes, const std::string& prefix = "");

// argmax over dim 1 of (R, C) logits, as (R,) i64 on the CPU.
Tensor argmax_rows(const Tensor& logits);

}  // namespace leseg::train::controls
