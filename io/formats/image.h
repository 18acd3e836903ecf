// SPDX-License-Identifier: Apache-2.0
// Images through stb (Debian libstb-dev): PNG (8/16-bit, grey/grey+alpha/RGB/RGBA) and JPEG read; PNG write
// (8-bit RGB or grey via stb_image_write, 16-bit grey via our own encoder on stb's zlib compressor).
//   read_image_rgb   -> (H, W, 3) u8 (grey is replicated, alpha dropped; 16-bit is scaled to 8)
//   read_image_u16   -> (H, W) i32 holding the 16-bit samples (depth mm, label ids); an 8-bit file is
//                       read as is (values 0..255); colour files are rejected
//   write_png_rgb    <- (H, W, 3) or (H, W) u8
//   write_png_u16    <- (H, W) i32 or i64 with values in [0, 65535] (checked)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace leseg::io {

Tensor read_image_rgb(const std::string& path);
Tensor read_image_u16(const std::string& path);
// (H, W) of an image file without decoding the pixels.
std::pair<int, int> image_size(const std::string& path);

// Decodes an in-memory PNG/JPEG (e.g. a .sens frame) to (H, W, 3) u8; `what` names it in errors.
Tensor decode_image_rgb(const uint8_t* data, size_t size, const std::string& what);
// Encodes (H, W, 3) u8 as baseline JPEG (stb_image_write), quality 1..100.
std::vector<uint8_t> encode_jpeg(const Tensor& image, int quality = 90);

void write_png_rgb(const std::string& path, const Tensor& image);
void write_png_u16(const std::string& path, const Tensor& values);

}  // namespace leseg::io
