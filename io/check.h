// SPDX-License-Identifier: Apache-2.0
// Dataset check: library side of `leseg data check ROOT`, also run by `leseg train` / `leseg eval` on every
// scene of the splits they read before any training starts (config key data.check, default true).
// Report only: nothing is written or repaired.
//
// Per scene (io/scene.h layout), every problem names the scene, the file, the field and the first index:
//   coord.npy    present, float dtype, shape (N, 3), N > 0 (an empty scene is an error), every value finite,
//                every point within the voxel grid's range once centred: |p - centroid| * max_scale / voxel_size
//                must stay below 2^20 voxels (engine/sparse's packed coordinate hash; a coordinate of 1e30 is
//                finite but cannot be voxelised)
//   color.npy (N, 3) u1 or float · normal.npy (N, 3) float, finite · intensity.npy (N,) float, finite
//   segment.npy  (N,) integer, every label in [-1, C) with C = the classes of dataset.json (-1 = ignore)
//   instance.npy, geo_segment.npy (N,) integer
//   views/<k>/   intrinsic.txt 3×3 and pose.txt 4×4, present and finite; color.png, depth.png, clip_label.png,
//                label.png and sam_mask.npy of one size (image headers only, pixels are not decoded)
// Per split: the listed scenes exist; warnings when no point of the split carries a label (a supervised run
// would learn nothing; an evaluation would report mIoU over 0 classes).
// Dataset: dataset.json readable; a missing text_embeddings.npy is a warning (only the label-free regimes
// need it).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace leseg::io {

struct CheckOptions {
  std::vector<std::string> splits;  // empty: every <split>.txt under the root
  double voxel_size = 0.02;         // the smallest voxel the data will be cut into (metres)
  double max_scale = 1.1;           // augmentation scale headroom for the range check
  bool views = true;                // check views/ (the loader reads them only with data.views: true)
  int max_per_scene = 8;            // problems reported per scene (the rest are counted)
  int threads = 0;                  // scenes checked in parallel (0: hardware concurrency); same report for any
};

struct CheckProblem {
  std::string scene, file, field;  // scene name (empty for dataset-level problems), file path, field
  int64_t index = -1;              // first offending element (row, point, pixel), -1 when not applicable
  std::string message;
  std::string str() const;
};

struct CheckReport {
  int64_t scenes = 0, points = 0, views = 0;
  std::vector<CheckProblem> errors, warnings;
  std::map<std::string, int64_t> split_scenes, split_labelled;  // per split: scenes, points with a label >= 0
  bool ok() const { return errors.empty(); }
  // Summary line, then every error and warning (at most max_lines of each, then a count).
  std::string str(size_t max_lines = 50) const;
};

// Checks the splits (or every split) of a dataset root.
CheckReport check_dataset(const std::string& root, const CheckOptions& opt = {});
// Checks the named scenes of one split (scene folders under <root>/scenes), accumulating into `rep`.
void check_split(const std::string& root, const std::string& split, const std::vector<std::string>& names,
                 int num_classes, const CheckOptions& opt, CheckReport& rep);
// One scene folder; `num_classes` < 0 skips the label range check.
void check_scene(const std::string& scene_dir, int num_classes, const CheckOptions& opt, CheckReport& rep,
                 int64_t* labelled = nullptr);

}  // namespace leseg::io
