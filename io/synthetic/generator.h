// SPDX-License-Identifier: Apache-2.0
// Synthetic scene generators (METHODS §6), deterministic per seed.
//   Indoor: a procedural room (floor, four walls, optional ceiling, doors, windows, pictures, curtains) of
//   a random type (bedroom, living room, office, kitchen, bathroom, conference room) furnished with
//   ScanNet-20 objects built from boxes (parts: seat / back / legs ...), plus unlabelled clutter (-1),
//   sampled at `point_density` points per m^2 (~50k-150k points per room), with exact face normals and
//   instance ids; RGB-D views along an elliptical camera path around the room (ray-cast at H x W, depth in
//   metres along the optical axis, 3x3 intrinsics, 4x4 camera-to-world pose, GT label image) carrying the
//   foundation-model stand-ins of stand_ins.h.
//   Outdoor: a street (road, sidewalks, terrain, buildings, cars, poles, people, trees/bushes) scanned by a
//   32-beam LiDAR (elevation -30..+10 deg, intensity channel) and six surround cameras (LiDAR pairing: no
//   depth map, depth > 1 m).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/scene.h"
#include "io/synthetic/stand_ins.h"

namespace leseg::io::synth {

struct IndoorOptions {
  int height = 240, width = 320;
  int num_views = 6;
  double point_density = 900.0;   // points per m^2 of visible surface
  double position_noise = 0.002;  // metres, along the normal
  bool ceiling = false;           // ceiling boxes (label -1) on top of the walls
  double clutter = 1.0;           // scale on the number of unlabelled small objects
  bool geometric_segments = true; // Scene::segments from oversegment() on the points
  StandInOptions stand_ins;
};

struct OutdoorOptions {
  int height = 240, width = 320;
  int beams = 32;
  int azimuth_steps = 1024;
  double elevation_lo_deg = -30.0, elevation_hi_deg = 10.0;
  double max_range = 60.0;
  double range_noise = 0.02;
  double sensor_height = 1.8;
  bool geometric_segments = true;
  StandInOptions stand_ins;
};

// Dataset descriptions: class names and text embeddings (TextEmbeddingOptions defaults, D = text_dim).
DatasetInfo indoor_dataset_info(int text_dim = 512, uint64_t seed = 0);
DatasetInfo outdoor_dataset_info(int text_dim = 512, uint64_t seed = 0);

// text_embeddings: (C, D) from the matching dataset info (drives confusions and captions).
Scene generate_indoor_scene(uint64_t seed, const Tensor& text_embeddings, const IndoorOptions& opt = {});
Scene generate_outdoor_scene(uint64_t seed, const Tensor& text_embeddings, const OutdoorOptions& opt = {});

// Batches: scene i uses seeds[i]; scenes are generated in parallel on `threads` threads (0 = hardware
// concurrency, see parallel.h) and each is byte-identical to the single-scene call.
std::vector<Scene> generate_indoor_scenes(const std::vector<uint64_t>& seeds, const Tensor& text_embeddings,
                                          const IndoorOptions& opt = {}, int threads = 0);
std::vector<Scene> generate_outdoor_scenes(const std::vector<uint64_t>& seeds, const Tensor& text_embeddings,
                                           const OutdoorOptions& opt = {}, int threads = 0);

}  // namespace leseg::io::synth
