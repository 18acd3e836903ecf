// SPDX-License-Identifier: Apache-2.0
// Class lists of the synthetic datasets, class-typical colour palettes and the hand-made attribute table
// that gives the text embeddings their semantic structure.
//   indoor: the ScanNet-20 classes in METHODS §3 order (ids 0..19); ceiling and clutter are -1 (ignore).
//   outdoor: road, sidewalk, car, building, vegetation, terrain, pole, person (ids 0..7).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace leseg::io::synth {

namespace indoor_class {
enum : int32_t {
  wall, floor, cabinet, bed, chair, sofa, table, door, window, bookshelf, picture, counter, desk, curtain,
  refrigerator, shower_curtain, toilet, sink, bathtub, other_furniture, count
};
}
namespace outdoor_class {
enum : int32_t { road, sidewalk, car, building, vegetation, terrain, pole, person, count };
}

struct ClassSpec {
  std::string name;
  std::array<uint8_t, 3> color;            // typical colour (palette centre)
  int color_spread;                         // per-instance variation (+- per channel)
  std::vector<std::pair<std::string, float>> attributes;  // semantic attributes and weights
};

const std::vector<ClassSpec>& indoor_classes();
const std::vector<ClassSpec>& outdoor_classes();
std::vector<std::string> class_names(const std::vector<ClassSpec>& specs);

}  // namespace leseg::io::synth
