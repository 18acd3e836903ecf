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
//   nuscenes       a sample folder (lidar .pcd.bin + camera images + calibration.txt)
//   ply | pcd      one file -> one scene (labels kept as found in the file)
// All scenes go to train.txt unless the source has its own splits (Pointcept).
#pragma once
#include <string>
#include <vector>

namespace leseg::io {

struct ConvertOptions {
  int max_scenes = -1;         // -1 = all
  int frame_stride = 1;        // ScanNet exported frames
  int max_frames = -1;
};

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
  std::vector<std::string> missing;      // one line per missing item
};
InspectReport inspect(const std::string& root);

}  // namespace leseg::io
