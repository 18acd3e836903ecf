// SPDX-License-Identifier: Apache-2.0
// CPU vs CUDA parity of the point projection on a rendered synthetic view (RGB-D and LiDAR modes).
#include <gtest/gtest.h>

#include "engine/device.h"
#include "io/geometry/pairing.h"
#include "io/synthetic/generator.h"

using namespace leseg;

TEST(ProjectGpu, MatchesCpuOnSyntheticViews) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  io::synth::IndoorOptions o;
  o.num_views = 2;
  o.geometric_segments = false;
  io::Scene s = io::synth::generate_indoor_scene(4, io::synth::indoor_dataset_info(32).text_embeddings, o);
  Tensor gpu = s.coords.to(Device::cuda());
  for (const io::View& v : s.views)
    for (bool lidar : {false, true}) {
      io::PairingOptions p;
      p.lidar = lidar;
      std::vector<int32_t> a = io::project_to_view(s.coords, v, p).to_vector<int32_t>();
      std::vector<int32_t> b = io::project_to_view(gpu, v, p).to_vector<int32_t>();
      ASSERT_EQ(a.size(), b.size());
      int64_t kept = 0, bad = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        kept += a[i] >= 0;
        if (a[i] != b[i] && bad++ < 5) ADD_FAILURE() << "point " << i << ": cpu " << a[i] << " cuda " << b[i];
      }
      EXPECT_EQ(bad, 0);
      EXPECT_GT(kept, 1000);
    }
}
