// SPDX-License-Identifier: Apache-2.0
#include "io/synthetic/classes.h"

namespace leseg::io::synth {

const std::vector<ClassSpec>& indoor_classes() {
  static const std::vector<ClassSpec> k = {
      {"wall", {205, 200, 190}, 25, {{"structure", 1.0f}, {"vertical_plane", 0.8f}}},
      {"floor", {150, 120, 90}, 35, {{"structure", 1.0f}, {"horizontal_plane", 0.8f}}},
      {"cabinet", {140, 100, 70}, 40, {{"furniture", 0.6f}, {"storage", 1.0f}, {"wooden", 0.6f}}},
      {"bed", {200, 190, 220}, 40, {{"furniture", 0.6f}, {"soft", 0.8f}, {"sleeping", 1.0f}}},
      {"chair", {120, 80, 60}, 45, {{"furniture", 0.6f}, {"seating", 1.0f}, {"wooden", 0.4f}}},
      {"sofa", {90, 110, 150}, 45, {{"furniture", 0.6f}, {"seating", 1.0f}, {"soft", 0.8f}}},
      {"table", {160, 120, 80}, 35, {{"furniture", 0.6f}, {"surface_top", 1.0f}, {"wooden", 0.6f}}},
      {"door", {170, 130, 90}, 30, {{"structure", 0.5f}, {"opening", 1.0f}, {"vertical_plane", 0.5f}, {"wooden", 0.5f}}},
      {"window", {180, 210, 230}, 20, {{"structure", 0.5f}, {"opening", 1.0f}, {"wall_mounted", 0.5f}}},
      {"bookshelf", {130, 90, 60}, 30, {{"furniture", 0.6f}, {"storage", 0.8f}, {"shelving", 1.0f}, {"wooden", 0.5f}}},
      {"picture", {110, 120, 100}, 60, {{"wall_mounted", 1.0f}, {"decor", 0.8f}, {"vertical_plane", 0.3f}}},
      {"counter", {190, 185, 175}, 30, {{"surface_top", 1.0f}, {"kitchen", 0.8f}, {"storage", 0.4f}}},
      {"desk", {150, 115, 80}, 35, {{"furniture", 0.6f}, {"surface_top", 1.0f}, {"office", 0.6f}, {"wooden", 0.5f}}},
      {"curtain", {170, 90, 80}, 50, {{"soft", 0.8f}, {"fabric_hanging", 1.0f}, {"wall_mounted", 0.4f}}},
      {"refrigerator", {225, 225, 225}, 15, {{"appliance", 1.0f}, {"kitchen", 0.8f}, {"storage", 0.4f}}},
      {"shower curtain", {200, 220, 235}, 30, {{"fabric_hanging", 1.0f}, {"bathroom", 0.8f}, {"soft", 0.4f}}},
      {"toilet", {240, 240, 238}, 10, {{"bathroom", 1.0f}, {"water_fixture", 0.8f}, {"ceramic", 0.6f}}},
      {"sink", {230, 232, 235}, 12, {{"water_fixture", 1.0f}, {"bathroom", 0.5f}, {"kitchen", 0.5f}, {"ceramic", 0.5f}}},
      {"bathtub", {235, 235, 240}, 10, {{"bathroom", 1.0f}, {"water_fixture", 0.8f}, {"ceramic", 0.5f}}},
      {"other furniture", {120, 110, 100}, 60, {{"furniture", 1.0f}, {"storage", 0.3f}, {"surface_top", 0.3f}}},
  };
  return k;
}

const std::vector<ClassSpec>& outdoor_classes() {
  static const std::vector<ClassSpec> k = {
      {"road", {80, 80, 85}, 10, {{"ground", 1.0f}, {"paved", 1.0f}, {"traffic", 0.5f}}},
      {"sidewalk", {160, 155, 150}, 15, {{"ground", 1.0f}, {"paved", 1.0f}, {"pedestrian", 0.4f}}},
      {"car", {150, 40, 40}, 90, {{"vehicle", 1.0f}, {"traffic", 0.6f}, {"movable", 0.6f}}},
      {"building", {180, 160, 140}, 40, {{"man_made", 1.0f}, {"structure", 1.0f}}},
      {"vegetation", {60, 120, 50}, 25, {{"plant", 1.0f}, {"natural", 0.8f}}},
      {"terrain", {110, 130, 70}, 25, {{"ground", 1.0f}, {"natural", 0.8f}, {"plant", 0.3f}}},
      {"pole", {120, 120, 125}, 15, {{"man_made", 0.8f}, {"thin_vertical", 1.0f}, {"traffic", 0.3f}}},
      {"person", {90, 70, 60}, 60, {{"human", 1.0f}, {"movable", 0.6f}, {"pedestrian", 0.8f}}},
  };
  return k;
}

std::vector<std::string> class_names(const std::vector<ClassSpec>& specs) {
  std::vector<std::string> n;
  for (const auto& s : specs) n.push_back(s.name);
  return n;
}

}  // namespace leseg::io::synth
