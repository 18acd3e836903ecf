// SPDX-License-Identifier: Apache-2.0
// SceneBatchSource: a BatchSource over scenes held in memory (read once from a dataset root in leseg's
// layout, io/scene.h). Each epoch visits the scenes in the order randperm(seed ^ epoch) (or in file order
// when shuffle is off), `batch_size` scenes per batch (the last batch may be smaller), voxelized at
// `voxel_size` (mean features per voxel) through engine/sparse voxelize. Features: RGB / 127.5 - 1 (3
// channels; zeros when a scene has no colours) and optionally the normals (3 more).
// Optional augmentation (training): rotation about z by U[0, 2pi) and a random flip of x, drawn from
// Philox(seed, epoch * 2^20 + batch) so a resumed epoch sees the same augmentation.
// Optional weak labels: keep `labels_per_scene` random labelled points per scene (the rest -> -1), chosen once
// from the seed (sparse-label supervision).
#pragma once
#include <string>
#include <vector>

#include "train/batch.h"

namespace leseg::train {

struct SceneSourceOptions {
  int batch_size = 2;
  double voxel_size = 0.05;
  bool shuffle = true;
  bool augment = false;
  bool normals = false;
  int64_t labels_per_scene = -1;  // -1 = every label
  uint64_t seed = 0;
  int max_scenes = -1;            // -1 = all scenes of the split
};

class SceneBatchSource : public BatchSource {
 public:
  SceneBatchSource(std::vector<io::Scene> scenes, const SceneSourceOptions& opt);
  // Reads <root>/<split>.txt and every scene it lists (errors name the missing file).
  static std::vector<io::Scene> read_split_scenes(const std::string& root, const std::string& split, int max_scenes = -1);

  int64_t batches_per_epoch() const override;
  void begin_epoch(int64_t epoch, int64_t start = 0) override;
  std::optional<Batch> next() override;

  int in_channels() const { return opt_.normals ? 6 : 3; }
  const std::vector<io::Scene>& scenes() const { return scenes_; }
  // The batch of scenes `idx` (no augmentation): used by inference on one scene.
  Batch make_batch(const std::vector<int64_t>& idx, bool augment, uint64_t aug_key) const;

 private:
  std::vector<io::Scene> scenes_;
  SceneSourceOptions opt_;
  std::vector<int64_t> order_;
  int64_t epoch_ = 0, cursor_ = 0;
};

// Features of one scene as the networks see them: (N, 3 or 6) f32.
Tensor scene_features(const io::Scene& s, bool normals);

}  // namespace leseg::train
