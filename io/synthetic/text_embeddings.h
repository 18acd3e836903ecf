// SPDX-License-Identifier: Apache-2.0
// Text-embedding stand-ins (CLIP text encoder): class embeddings with semantic structure, scene captions
// per view and object captions per SAM mask.
//   class c: e_c = normalize(own_weight * g_c + sum_a w_{c,a} * g_a + noise * n_c), with g_c, g_a, n_c
//   seeded Gaussian unit directions in R^D and the attribute table of classes.h, so classes sharing
//   attributes (chair / sofa: seating; toilet / sink / bathtub: bathroom fixtures) are closer.
//   With the defaults, cos(chair, sofa) ~ 0.4 and unrelated pairs ~ 0 (about +-0.05 at D = 512),
//   the pattern CLIP text features show (related names 0.7-0.9 in absolute cosine, unrelated ~0.6 after
//   removing the shared offset).
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"
#include "io/synthetic/classes.h"

namespace leseg::io::synth {

struct TextEmbeddingOptions {
  int dim = 512;            // D
  float own_weight = 1.0f;  // weight of the class's own direction
  float noise = 0.25f;      // weight of an extra seeded direction (class-specific idiosyncrasy)
};

// (C, D) f32 unit rows. Deterministic in seed.
Tensor make_text_embeddings(const std::vector<ClassSpec>& classes, uint64_t seed, const TextEmbeddingOptions& opt = {});

// Confusion distribution derived from text similarity: P(j | i) = softmax_{j != i}(cos(e_i, e_j) / tau);
// row i is a (C,) vector summing to 1 with P(i | i) = 0. Returned row-major (C * C).
std::vector<double> confusion_from_embeddings(const Tensor& text_embeddings, double tau);

// normalize(mean_{c in classes} e_c + sigma * g / sqrt(D)); g seeded Gaussian. (D,) f32.
Tensor caption_embedding(const Tensor& text_embeddings, const std::vector<int32_t>& classes, double sigma,
                         uint64_t seed);

}  // namespace leseg::io::synth
