// SPDX-License-Identifier: Apache-2.0
// The dense synthetic room the training-step benchmark and the framework-baseline worker both time: one indoor
// room (seed 3, no views) voxelised at the largest voxel size, in 10 % steps down from `start_voxel`, that gives
// at least `target` voxels. Features RGB/127.5 − 1 of the voxel's first point; label of its first point, classes
// outside [0, 20) as −1 (the benchmarks' 20-class head).
#pragma once
#include <cstdint>
#include <vector>

#include "engine/error.h"
#include "engine/sparse/sparse_ops.h"
#include "io/synthetic/generator.h"

namespace leseg::bench {

struct SyntheticRoom {
  Tensor coords, feats, labels;  // (M, 4) i32, (M, 3) f32, (M,) i64
  double voxel_size = 0;
};

inline io::Scene dense_room_scene(double points_per_m2 = 6000) {
  io::synth::IndoorOptions o;
  o.num_views = 0;
  o.geometric_segments = false;
  o.point_density = points_per_m2;
  return io::synth::generate_indoor_scene(3, io::synth::indoor_dataset_info().text_embeddings, o);
}

inline SyntheticRoom voxelize_room(const io::Scene& scene, int64_t target, double start_voxel = 0.05) {
  const int64_t n = scene.num_points();
  Tensor batch = Tensor::zeros(Shape{n}, DType::i32);
  Tensor rgb = scene.colors.to(DType::f32);
  Tensor feats = Tensor::empty(Shape{n, 3});
  {
    const float* c = rgb.data<float>();
    float* f = feats.data<float>();
    for (int64_t i = 0; i < 3 * n; ++i) f[i] = c[i] / 127.5f - 1.f;
  }
  for (double vs = start_voxel; vs > 0.002; vs *= 0.9) {
    Voxelized v = voxelize(scene.coords, batch, feats, vs, VoxelReduce::First);
    if (v.voxels.size() < target) continue;
    SyntheticRoom r;
    r.voxel_size = vs;
    r.coords = v.voxels.coords().clone();
    r.feats = v.voxels.feats().detach().clone();
    const auto inv = v.inverse.to_vector<int32_t>();
    const auto lab = scene.labels.to_vector<int32_t>();
    std::vector<int64_t> vl(size_t(v.voxels.size()), -2);
    for (int64_t i = 0; i < n; ++i)
      if (vl[size_t(inv[i])] == -2) vl[size_t(inv[i])] = lab[size_t(i)];  // the first point's label
    for (auto& l : vl) l = (l >= 0 && l < 20) ? l : -1;
    r.labels = Tensor::from_vector(vl, Shape{int64_t(vl.size())});
    return r;
  }
  LESEG_FAIL("synthetic room: the scene has fewer than ", target, " voxels at any voxel size");
}

}  // namespace leseg::bench
