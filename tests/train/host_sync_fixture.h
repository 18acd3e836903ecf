// SPDX-License-Identifier: Apache-2.0
// Shared by the host-sync tests of the regimes (host_sync_regimes_test.cpp, host_sync_regimes_gpu_test.cpp): small
// synthetic rooms every regime can train on, and the regime set-ups they count.
#pragma once
#include <filesystem>
#include <string>
#include <utility>
#include <vector>


#include "tests/train/train_fixture.h"
#include "train/config.h"

namespace leseg::train::testing {
// 6 + 1 small rooms with two 48 x 64 RGB-D views each and geometric sets: every regime can train on it.
inline const std::string& data_root() {
  static const std::string root = tiny_views_dataset("sync_regimes", 17, 6, 60, true);
  return root;
}

inline Config regime_config(const std::string& yaml, const std::string& name, const std::vector<std::string>& extra = {}) {
  Config c = Config::from_string(yaml, name + ".yaml");
  const auto out = std::filesystem::path(data_root()).parent_path() / name;
  std::filesystem::remove_all(out);
  c.apply_overrides({"data.root=" + data_root(), "train.out=" + out.string()});
  c.apply_overrides(extra);
  return c;
}

inline const std::string kData = "data: {batch_size: 2, val_batch_size: 1, voxel_size: 0.2, augment: true, workers: 0";
inline const std::string kModel = "model: {name: MinkUNet14A, planes: [8, 8, 8, 8, 8, 8, 8, 8], init_dim: 8}\n";
inline const std::string kOptim = "optim: {name: sgd, lr: 0.05, momentum: 0.9}\ntrain: {epochs: 2, log_every: 1, eval_every: -1}\n";

inline const std::string kErda = "seed: 1\nregime: erda\n" + kData + ", weak_labels: '1%'}\n" + kModel + kOptim;
inline const std::string kErda2d = "seed: 1\nregime: erda2d\n" + kData +
                            ", views: true, crop_height: 24, crop_width: 32, crop_min_pairs: 8, eval_view_crop: false, "
                            "weak_pixel_labels: '5%'}\n"
                            "model2d: {depth: 18, output_stride: 8, aspp_channels: 16}\n"
                            "erda: {temperature: 0.1, attn_dim: 8, heads: 2}\n" + kOptim;


// The regime set-ups held to a sync-free step (every regime with the tiny MinkUNet, and SPVCNN), by name.
inline std::vector<std::pair<std::string, std::string>> sync_free_setups() {
  const std::string views = ", views: true, crop_height: 48, crop_width: 64, crop_min_pairs: 16";
  return {
      {"supervised", "seed: 1\nregime: supervised\n" + kData + "}\n" + kModel + kOptim},
      {"erda", kErda},
      {"erda2d", kErda2d},
      {"lass3d", "seed: 1\nregime: lass3d\n" + kData + views +
                     ", two_views: true, labelled_fraction: 0.4, labelled_per_batch: 1}\n" + kModel +
                     "lass3d: {saaf_attn_dim: 16, saaf_heads: 2, rampup: 0.2}\nteacher: {momentum: auto}\n" + kOptim},
      {"clip2scene", "seed: 1\nregime: clip2scene\n" + kData + ", views: true}\n" + kModel + kOptim},
      {"hicl", "seed: 1\nregime: hicl\n" + kData + ", views: true}\n" + kModel +
                   "hicl: {intra_from: 0, kl_from: 0, samples: 40}\ntransformer: {heads: 2}\n"
                   "optim_transformer: {name: adamw, lr: 0.001, weight_decay: 0.05}\n" + kOptim},
      {"cns", "seed: 1\nregime: cns\n" + kData + views + ", eval_view_crop: false}\n" + kModel +
                  "model2d: {depth: 18, output_stride: 8, aspp_channels: 16}\ncns: {warmup_epochs: 0, sam_dim: 32}\n"
                  "optim2d: {name: sgd, lr: 0.05, momentum: 0.9}\n" + kOptim},
      // SPVCNN (the LiDAR backbone of CLIP2Scene / HICL): it takes the batch's voxelization (same voxel size)
      {"supervised_spvcnn", "seed: 1\nregime: supervised\n" + kData + "}\nmodel: {name: SPVCNN}\n" + kOptim},
      {"clip2scene_spvcnn", "seed: 1\nregime: clip2scene\n" + kData + ", views: true}\nmodel: {name: SPVCNN}\n" + kOptim},
  };
}

}  // namespace leseg::train::testing
