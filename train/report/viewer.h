// SPDX-License-Identifier: Apache-2.0
// `leseg view SCENE_OR_PREDICTIONS`: an interactive 3D viewer as a static web page. Writes <out>/index.html with
// the (subsampled) point cloud embedded, and copies three.js (Debian's libjs-three: three.min.js and
// OrbitControls.js) next to it, so the folder opens offline from disk in any WebGL browser. Toggles: colour /
// ground truth / prediction / error (wrong points red) / pseudo-labels, a class legend with per-class
// visibility, point size; orbit with the mouse.
// Inputs:
//   - a scene directory (leseg layout): colour, ground truth, and pseudo-labels = the views' CLIP-like pixel labels
//     projected to the points (per point the most frequent label over the views pairing with it, ties -> smaller
//     class), the labels label-free regimes learn from; --predictions FILE.npy adds a prediction;
//   - a `leseg infer` output folder or its <scene>_pred.ply: prediction ("label") and ground truth ("gt"); the
//     matching <scene>_labels.npy is not needed. The PLY's colours are the prediction's class colours.
// Class names from the dataset.json two folders above a scene (<root>/scenes/<name>), or --dataset ROOT.
// Scenes above max_points are subsampled (deterministic, seed 0) and the page says "showing n of N points".
#pragma once
#include <cstdint>
#include <string>

namespace leseg::train::report {

struct ViewerOptions {
  std::string out_dir;           // default: <input without extension>_view
  std::string predictions;       // optional (N,) integer .npy of predicted labels (scene input)
  std::string dataset;           // dataset root for class names (default: found from the scene path)
  int64_t max_points = 300000;   // subsampling cap
  std::string three_dir = "/usr/share/javascript/three";  // libjs-three
};

struct ViewerResult {
  std::string html_path;
  int64_t points = 0, shown = 0;
  int classes = 0;
  bool has_gt = false, has_pred = false, has_pseudo = false;
};

ViewerResult write_viewer(const std::string& input, const ViewerOptions& opt);

}  // namespace leseg::train::report
