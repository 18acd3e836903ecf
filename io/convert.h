// SPDX-License-Identifier: Apache-2.0
// Conversion of user datasets into leseg's scene layout (io/scene.h) and inspection of a converted root.
// Library side of `leseg data convert --from FORMAT SRC --to DIR` and `leseg data inspect DIR`.
//   format   SRC
//   pointcept      <root>/<split>/<scene>/coord.npy ... (splits become <split>.txt) or one scene folder
//   scannet        a scan folder <scene>/ (raw files, optional exported frames in <scene>/frames/ or in
//                  <scene>/ itself) or a folder of scan folders; the label tsv is looked up next to the
//                  scans (scannetv2-labels.combined.tsv in SRC, its parent or grandparent)
//   s3dis          a room folder, an Area_N folder or the root holding Area_* folders (scene = Area_N_room)
//   semantickitti  the root with sequences/ (yaml next to it or in SRC) or one sequences/<nn> folder
//   scannet-sens   like scannet, views read straight from <scene>/<scene>.sens (the original release's RGB-D
//                  stream; io/datasets/scannet_sens.h) every --frame-stride frames instead of exported frames
//   nuscenes       a sample folder (lidar .pcd.bin + camera images + calibration.txt); --sweeps N adds the N previous
//                  sweeps listed in sweeps.txt, ego-motion compensated, with time.npy (io/datasets/nuscenes_sweeps.h)
//   kitti          KITTI object (<root>/training|testing/{velodyne,image_2,calib}) or odometry (<root>/sequences/<nn>/
//                  {velodyne,image_2,calib.txt}, SemanticKITTI labels/ when present) layouts: each scan paired with
//                  its image_2 through P2 · R0_rect · Tr_velo_to_cam (io/datasets/kitti.h)
//   mosd           an organised Kinect cloud of the Object Segmentation Database (.pcd, x y z rgba label) or a
//                  folder of them: one scene with its RGB-D view and 2D/3D labels {table, object} (io/datasets/mosd.h)
//   ply | pcd      one file -> one scene, or a folder of .ply / .pcd files -> one scene each (labels kept as
//                  found in the files)
// All scenes go to train.txt unless the source has its own splits (Pointcept; S3DIS Area_5 and SemanticKITTI
// sequence 08 go to val.txt) or a validation split is named: val_scenes (--val a,b,c or --val FILE) or
// val_fraction (--val-fraction F: round(F n) scenes, at least 1, evenly spaced in name order) put those scenes in
// val.txt and every other converted scene in train.txt (the source's own splits are then not written).
// Classes: each format's own list; class_names (--classes FILE, one name per line) or num_classes
// (--num-classes N: class_0 .. class_{N-1}) replace it (for ply / pcd the default is class_0 .. class_K with K the
// largest label present, so pass the list when classes may be absent). Every converted label must lie in
// [-1, C): the conversion fails naming the scene, file and point otherwise.
// No text_embeddings.npy is written (leseg has no text encoder): `leseg data inspect` reports its absence as a
// warning; supervised training does not need it.
#pragma once
#include <string>
#include <vector>

namespace leseg::io {

struct ConvertOptions {
  int max_scenes = -1;         // -1 = all
  int frame_stride = 1;        // ScanNet exported frames
  int max_frames = -1;
  int sweeps = 0;              // nuScenes: previous sweeps aggregated onto each keyframe
  std::vector<std::string> class_names;  // replaces the format's class list (empty: keep it)
  int num_classes = -1;                  // class_0 .. class_{N-1} when no names are given; -1: keep
  std::vector<std::string> val_scenes;   // scenes for val.txt (the rest go to train.txt)
  double val_fraction = -1.0;            // in (0, 1): that share of the scenes goes to val.txt; -1: off
};
// Class names of a --classes file: one per line, blank lines and lines starting with '#' skipped.
std::vector<std::string> read_class_names(const std::string& path);
// --val argument: a file with one scene name per line when `arg` names a file, else comma-separated names.
std::vector<std::string> parse_scene_list(const std::string& arg);

struct ConvertResult {
  int64_t scenes = 0, points = 0, views = 0;
  std::vector<std::string> notes;  // drops, unknown labels, skipped frames
  std::string str() const;
};

ConvertResult convert(const std::string& format, const std::string& src, const std::string& dst_dir,
                      const ConvertOptions& opt = {});

struct InspectReport {
  std::string text;                  // the printable report
  int64_t scenes = 0, points = 0, views = 0;
  std::vector<int64_t> label_histogram;  // per class; index C counts ignore (-1)
  std::vector<std::string> missing;      // one line per missing item or problem (exit status 1)
  std::vector<std::string> warnings;     // reported, exit status 0 (e.g. no text embeddings)
};
InspectReport inspect(const std::string& root);

}  // namespace leseg::io
