// SPDX-License-Identifier: Apache-2.0
// ScanNet's RGB-D stream (.sens, SensorData version 4), read frame by frame (streaming: one frame in memory).
// Layout (little-endian; ScanNet's SensorData.h / SensorData.py):
//   header  u32 version (= 4) · u64 n + n chars sensor name · f32[16] intrinsic_color · f32[16] extrinsic_color ·
//           f32[16] intrinsic_depth · f32[16] extrinsic_depth (4x4 row-major) · i32 color compression
//           (0 raw RGB, 1 PNG, 2 JPEG) · i32 depth compression (0 raw u16, 1 zlib u16) · u32 color width, height ·
//           u32 depth width, height · f32 depth_shift (raw depth / shift = metres, 1000 for ScanNet) · u64 frames
//   frame   f32[16] camera_to_world · u64 colour timestamp · u64 depth timestamp · u64 colour bytes ·
//           u64 depth bytes · colour bytes · depth bytes
//   (IMU records may follow the frames; they are not read.)
// Errors name the file and, inside a frame, the frame index and what was being read; a size that runs past the
// end of the file is reported as truncation before anything is allocated.
#pragma once
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace leseg::io {

struct SensHeader {
  uint32_t version = 4;
  std::string sensor_name;
  float intrinsic_color[16]{}, extrinsic_color[16]{}, intrinsic_depth[16]{}, extrinsic_depth[16]{};
  int32_t color_compression = 2;  // 0 raw, 1 PNG, 2 JPEG
  int32_t depth_compression = 1;  // 0 raw u16, 1 zlib u16
  uint32_t color_width = 0, color_height = 0, depth_width = 0, depth_height = 0;
  float depth_shift = 1000.0f;
  uint64_t num_frames = 0;
};

struct SensFrame {
  float cam_to_world[16]{};
  uint64_t timestamp_color = 0, timestamp_depth = 0;
  std::vector<uint8_t> color, depth;  // compressed bytes as stored
};

class SensReader {
 public:
  explicit SensReader(const std::string& path);
  const SensHeader& header() const { return h_; }
  // Reads the next frame; false after the last one. With `payload` = false the colour and depth bytes are skipped
  // (seeked over) and left empty.
  bool next(SensFrame* f, bool payload = true);
  int64_t frame_index() const { return next_; }  // index of the frame next() returns next
  // (color_height, color_width, 3) u8 / (depth_height, depth_width) f32 metres (0 = invalid) of a read frame.
  Tensor decode_color(const SensFrame& f) const;
  Tensor decode_depth(const SensFrame& f) const;

 private:
  void read(void* dst, uint64_t n, const std::string& what);
  std::string where() const;
  std::string path_;
  std::ifstream in_;
  uint64_t size_ = 0, pos_ = 0;
  int64_t next_ = 0, current_ = -1;
  SensHeader h_;
};

// Writes a .sens file (tests, fixtures). Frames' colour/depth bytes are written as given; encode_sens_frame makes
// them from (H, W, 3) u8 colour (JPEG) and (H, W) f32 metres depth (zlib u16 at header.depth_shift).
void write_sens(const std::string& path, const SensHeader& h, const std::vector<SensFrame>& frames);
SensFrame encode_sens_frame(const SensHeader& h, const Tensor& color, const Tensor& depth_m, const float cam_to_world[16],
                            int jpeg_quality = 95);

}  // namespace leseg::io
