// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>

#include "engine/precision.h"

namespace leseg {
namespace {

TEST(Precision, ParseNamesAndRejectsOthers) {
  for (Precision p : {Precision::f32, Precision::tf32, Precision::bf16, Precision::f16})
    EXPECT_EQ(parse_precision(precision_name(p)), p);
  try {
    parse_precision("fp16");
    FAIL() << "fp16 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.precision: 'fp16'"), std::string::npos) << e.what();
  }
}

TEST(Precision, ScopeSetsAndRestoresPerThread) {
  EXPECT_EQ(current_precision(), Precision::f32);
  EXPECT_EQ(autocast_dtype(), DType::f32);
  {
    PrecisionScope outer(Precision::bf16);
    EXPECT_EQ(autocast_dtype(), DType::bf16);
    EXPECT_FALSE(allow_tf32());
    {
      PrecisionScope inner(Precision::tf32);
      EXPECT_TRUE(allow_tf32());
      EXPECT_FALSE(autocast_enabled());
    }
    EXPECT_EQ(current_precision(), Precision::bf16);
    Precision other = Precision::bf16;
    std::thread([&] { other = current_precision(); }).join();
    EXPECT_EQ(other, Precision::f32);  // another thread has its own setting
  }
  EXPECT_EQ(current_precision(), Precision::f32);
}

TEST(Precision, Tf32RoundsToTenMantissaBitsTiesAway) {
  // 1 + 2^-10 is representable; 1 + 2^-11 is the tie between 1 and 1 + 2^-10: away from zero.
  EXPECT_EQ(round_to_tf32(1.0f + std::ldexp(1.0f, -10)), 1.0f + std::ldexp(1.0f, -10));
  EXPECT_EQ(round_to_tf32(1.0f + std::ldexp(1.0f, -11)), 1.0f + std::ldexp(1.0f, -10));
  EXPECT_EQ(round_to_tf32(-(1.0f + std::ldexp(1.0f, -11))), -(1.0f + std::ldexp(1.0f, -10)));
  EXPECT_EQ(round_to_tf32(1.0f + std::ldexp(1.0f, -12)), 1.0f);
  EXPECT_TRUE(std::isinf(round_to_tf32(std::numeric_limits<float>::infinity())));
  EXPECT_TRUE(std::isnan(round_to_tf32(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_EQ(round_through_bf16(1.0f + std::ldexp(1.0f, -8)), 1.0f);  // tie to even
  EXPECT_EQ(round_through_f16(65504.0f), 65504.0f);
}

}  // namespace
}  // namespace leseg
