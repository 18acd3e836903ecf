// SPDX-License-Identifier: Apache-2.0
// Writes a generated synthetic dataset in leseg's on-disk layout (io/scene.h, via io/datasets/scene_io):
// dataset.json + text_embeddings.npy, train.txt / val.txt, scenes/<name>/... Scene i of split s uses
// seed hash(seed, s, i), so a dataset is reproducible from (seed, sizes, options) alone.
#pragma once
#include <cstdint>
#include <string>

#include "io/synthetic/generator.h"
#include "io/synthetic/parallel.h"

namespace leseg::io::synth {

struct SyntheticDatasetOptions {
  bool outdoor = false;
  int train_scenes = 64, val_scenes = 16;
  uint64_t seed = 0;
  int text_dim = 512;
  IndoorOptions indoor;
  OutdoorOptions lidar;
  int threads = 0;  // scenes generated (and written) in parallel; 0 = hardware concurrency (parallel.h)
};

// Seed of scene `index` in split `split` ("train", "val").
uint64_t scene_seed(uint64_t seed, const std::string& split, int index);

// Generates and writes the dataset (scenes in parallel, each byte-identical to the serial result, split
// files listing scenes in index order); returns its DatasetInfo.
DatasetInfo write_synthetic_dataset(const std::string& root, const SyntheticDatasetOptions& opt = {});

}  // namespace leseg::io::synth
