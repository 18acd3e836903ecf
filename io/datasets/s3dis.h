// SPDX-License-Identifier: Apache-2.0
// S3DIS raw rooms: Area_N/<room>/Annotations/<class>_<k>.txt, one point per line "x y z r g b".
// Class from the file name prefix (13 classes, label_maps.h; "stairs" and unknown names -> clutter),
// instance = annotation file index (sorted by name). Lines with a non-finite coordinate are dropped and
// counted; lines with fewer than 6 numbers are an error naming the file and line.
#pragma once
#include <string>
#include <vector>

#include "io/formats/point_cloud.h"
#include "io/scene.h"

namespace leseg::io {

Scene read_s3dis_room(const std::string& room_dir, ReadReport* report = nullptr);
// Rooms of an Area folder (sub-folders having Annotations/), sorted.
std::vector<std::string> list_s3dis_rooms(const std::string& area_dir);

}  // namespace leseg::io
