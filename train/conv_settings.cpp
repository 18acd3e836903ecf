// SPDX-License-Identifier: Apache-2.0
#include "train/conv_settings.h"

#include <string>

#include "engine/error.h"
#include "engine/sparse/conv_autotune.h"

namespace leseg::train {

ConvSettings read_conv_settings(const Config& cfg, Precision precision, bool cuda) {
  ConvSettings s;
  if (cfg.has("train.conv_variant")) {
    const std::string v = cfg.get<std::string>("train.conv_variant");
    s.variant_set = true;
    if (v != "auto") {
      std::string valid = "auto";
      for (kernels::ConvVariant c : kernels::kAllConvVariants) {
        valid += std::string(", ") + kernels::conv_variant_name(c);
        if (v == kernels::conv_variant_name(c)) s.variant = c;
      }
      LESEG_CHECK(s.variant.has_value(), "config ", cfg.origin(), ": train.conv_variant '", v, "' is not one of ",
                  valid);
    }
  }
  if (cfg.has("train.conv_autotune")) s.autotune = cfg.get<bool>("train.conv_autotune");
  if (s.variant && s.autotune && *s.autotune)
    LESEG_FAIL("config ", cfg.origin(), ": train.conv_autotune: true contradicts train.conv_variant: ",
               kernels::conv_variant_name(*s.variant), " (a forced variant is never timed; use conv_variant: auto)");
  if (s.variant_set && !s.variant && s.autotune && !*s.autotune)
    LESEG_FAIL("config ", cfg.origin(), ": train.conv_variant: auto contradicts train.conv_autotune: false (auto "
               "is the autotune; drop one of the two keys)");
  if (s.variant && cuda) {
    const DType dt = precision == Precision::bf16 ? DType::bf16 : precision == Precision::f16 ? DType::f16 : DType::f32;
    const std::string why = conv_variant_ineligible(*s.variant, dt, precision == Precision::tf32, 8, true);
    LESEG_CHECK(why.empty(), "config ", cfg.origin(), ": train.conv_variant: ", kernels::conv_variant_name(*s.variant),
                " cannot run train.precision ", precision_name(precision), ": ", why);
  }
  return s;
}

void apply_conv_settings(const ConvSettings& s) {
  if (s.variant_set) {
    set_conv_variant_override(s.variant);
    if (!s.variant) set_conv_autotune(true);
  }
  if (s.autotune) set_conv_autotune(*s.autotune);
}

}  // namespace leseg::train
