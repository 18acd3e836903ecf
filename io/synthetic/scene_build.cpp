// SPDX-License-Identifier: Apache-2.0
#include "io/synthetic/scene_build.h"

#include "io/geometry/oversegment.h"
#include "io/synthetic/random.h"
#include "io/synthetic/text_embeddings.h"

namespace leseg::io::synth {

Scene build_scene(const SceneBuild& sb, const Tensor& text_embeddings, uint64_t seed, const SceneBuildOptions& opt) {
  Scene s;
  s.name = sb.name;
  const PointCloud& p = sb.points;
  const int64_t n = int64_t(p.label.size());
  s.coords = Tensor::from_vector(p.xyz, Shape{n, 3});
  s.normals = Tensor::from_vector(p.normal, Shape{n, 3});
  s.colors = Tensor::from_vector(p.rgb, Shape{n, 3});
  s.labels = Tensor::from_vector(p.label, Shape{n});
  s.instances = Tensor::from_vector(p.instance, Shape{n});
  if (!p.intensity.empty()) s.intensity = Tensor::from_vector(p.intensity, Shape{n});
  if (opt.geometric_segments && n > 0) s.segments = oversegment(s.coords, s.normals);
  const std::vector<double> P = confusion_from_embeddings(text_embeddings, opt.stand_ins.clip.confusion_tau);
  for (size_t v = 0; v < sb.cameras.size(); ++v) {
    const Camera& cam = sb.cameras[v];
    RenderedView r = render(sb.boxes, cam, hash_combine(seed, v));
    View view;
    view.name = std::to_string(v);
    view.image = Tensor::from_vector(r.rgb, Shape{cam.height, cam.width, 3});
    if (opt.rgbd) view.depth = Tensor::from_vector(r.depth, Shape{cam.height, cam.width});
    view.intrinsics = Tensor::from_vector(std::vector<float>{float(cam.fx), 0.f, float(cam.cx), 0.f, float(cam.fy),
                                                             float(cam.cy), 0.f, 0.f, 1.f},
                                          Shape{3, 3});
    std::vector<float> pose(16);
    for (int i = 0; i < 16; ++i) pose[size_t(i)] = float(cam.cam_to_world[size_t(i)]);
    view.cam_to_world = Tensor::from_vector(pose, Shape{4, 4});
    ViewTruth t{cam.height, cam.width, r.label.data(), r.instance.data(), r.part.data()};
    attach_stand_ins(view, t, text_embeddings, P, seed, int(v), opt.stand_ins);
    s.views.push_back(std::move(view));
  }
  return s;
}

}  // namespace leseg::io::synth
