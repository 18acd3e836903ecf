// SPDX-License-Identifier: Apache-2.0
// train.conv_variant / train.conv_autotune: read from a job's Config and applied to the process. Kept out of
// train/config.cpp so that the config parser stays free of the engine (scripts/fuzz.sh builds it alone).
#pragma once
#include <optional>

#include "engine/precision.h"
#include "kernels/sparse_conv/sparse_conv.h"
#include "train/config.h"

namespace leseg::train {

// The sparse-conv variant keys of a training/eval job (docs/sparse-conv.md, engine/sparse/conv_autotune.h):
//   train.conv_variant:  auto | gather_gemm_scatter | implicit_gemm | grouped_gemm | tensor_core_implicit_gemm
//                        (the names LESEG_CONV_VARIANT parses). auto: every conv layer autotuned (timed once per
//                        shape class on the first step, cached); a name: that variant forced on every conv.
//   train.conv_autotune: true | false. true is conv_variant auto; false: no timing, each conv runs the model's
//                        variant (gather_gemm_scatter; autotuned only where that cannot run the dtype, e.g. bf16).
// Absent keys leave the process-wide setting alone (the environment variables LESEG_CONV_VARIANT /
// LESEG_CONV_AUTOTUNE then decide). Errors name the key and the valid values; a forced variant that cannot run
// the job's precision on CUDA (gather_gemm_scatter / implicit_gemm under bf16/f16) and contradictory keys
// (conv_variant <name> with conv_autotune: true, conv_variant auto with conv_autotune: false) are config errors.
// CPU jobs run the CPU twin whatever the variant (the keys are validated all the same).
struct ConvSettings {
  bool variant_set = false;                   // train.conv_variant given
  std::optional<kernels::ConvVariant> variant;  // nullopt = auto
  std::optional<bool> autotune;               // train.conv_autotune given
};
ConvSettings read_conv_settings(const Config& cfg, Precision precision, bool cuda);
// Applies the settings to the process (set_conv_variant_override / set_conv_autotune); no-op for absent keys.
void apply_conv_settings(const ConvSettings& s);

}  // namespace leseg::train
