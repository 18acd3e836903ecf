// SPDX-License-Identifier: Apache-2.0
#include "io/formats/sens.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "io/formats/image.h"

namespace leseg::io {

std::string SensReader::where() const {
  return current_ < 0 ? path_ + " (header)" : path_ + " (frame " + std::to_string(current_) + ")";
}

void SensReader::read(void* dst, uint64_t n, const std::string& what) {
  if (n > size_ - pos_)
    LESEG_FAIL(where(), ": truncated: ", what, " needs ", n, " bytes at offset ", pos_, ", only ", size_ - pos_,
               " left in the file");
  in_.read(static_cast<char*>(dst), std::streamsize(n));
  if (!in_) LESEG_FAIL(where(), ": read error in ", what, " at offset ", pos_);
  pos_ += n;
}

SensReader::SensReader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
  if (!in_) LESEG_FAIL(path, ": cannot open .sens file");
  std::error_code ec;
  size_ = std::filesystem::file_size(path, ec);
  if (ec) LESEG_FAIL(path, ": cannot stat: ", ec.message());
  read(&h_.version, 4, "version");
  if (h_.version != 4) LESEG_FAIL(path, ": .sens version ", h_.version, ", expected 4 (ScanNet SensorData)");
  uint64_t n = 0;
  read(&n, 8, "sensor name length");
  if (n > 4096) LESEG_FAIL(path, ": sensor name length ", n, " is implausible (corrupt header?)");
  h_.sensor_name.resize(size_t(n));
  read(h_.sensor_name.data(), n, "sensor name");
  read(h_.intrinsic_color, 64, "intrinsic_color");
  read(h_.extrinsic_color, 64, "extrinsic_color");
  read(h_.intrinsic_depth, 64, "intrinsic_depth");
  read(h_.extrinsic_depth, 64, "extrinsic_depth");
  read(&h_.color_compression, 4, "color compression type");
  read(&h_.depth_compression, 4, "depth compression type");
  read(&h_.color_width, 4, "color width");
  read(&h_.color_height, 4, "color height");
  read(&h_.depth_width, 4, "depth width");
  read(&h_.depth_height, 4, "depth height");
  read(&h_.depth_shift, 4, "depth shift");
  read(&h_.num_frames, 8, "frame count");
  if (h_.color_compression < 0 || h_.color_compression > 2)
    LESEG_FAIL(path, ": colour compression ", h_.color_compression, " unsupported (0 raw, 1 PNG, 2 JPEG)");
  if (h_.depth_compression < 0 || h_.depth_compression > 1)
    LESEG_FAIL(path, ": depth compression ", h_.depth_compression, " unsupported (0 raw u16, 1 zlib u16; occi is not)");
  if (h_.depth_width == 0 || h_.depth_height == 0 || h_.depth_width > 65536 || h_.depth_height > 65536 ||
      h_.color_width > 65536 || h_.color_height > 65536)
    LESEG_FAIL(path, ": implausible image sizes colour ", h_.color_width, "x", h_.color_height, ", depth ",
               h_.depth_width, "x", h_.depth_height);
  if (!(h_.depth_shift > 0)) LESEG_FAIL(path, ": depth_shift ", h_.depth_shift, " must be positive");
  // Each frame takes at least 112 bytes: a frame count beyond that is a truncated (or corrupt) file.
  if (h_.num_frames > (size_ - pos_) / 112)
    LESEG_FAIL(path, ": truncated: header announces ", h_.num_frames, " frames, the ", size_ - pos_,
               " bytes left hold at most ", (size_ - pos_) / 112);
}

bool SensReader::next(SensFrame* f, bool payload) {
  if (uint64_t(next_) >= h_.num_frames) return false;
  current_ = next_++;
  read(f->cam_to_world, 64, "camera_to_world");
  read(&f->timestamp_color, 8, "colour timestamp");
  read(&f->timestamp_depth, 8, "depth timestamp");
  uint64_t nc = 0, nd = 0;
  read(&nc, 8, "colour size");
  read(&nd, 8, "depth size");
  if (nc > size_ - pos_ || nd > size_ - pos_ - nc)
    LESEG_FAIL(where(), ": truncated: colour ", nc, " + depth ", nd, " bytes announced at offset ", pos_, ", only ",
               size_ - pos_, " left in the file");
  if (payload) {
    f->color.resize(size_t(nc));
    f->depth.resize(size_t(nd));
    read(f->color.data(), nc, "colour data");
    read(f->depth.data(), nd, "depth data");
  } else {
    f->color.clear();
    f->depth.clear();
    in_.seekg(std::streamoff(nc + nd), std::ios::cur);
    pos_ += nc + nd;
  }
  return true;
}

Tensor SensReader::decode_color(const SensFrame& f) const {
  const int64_t H = h_.color_height, W = h_.color_width;
  Tensor t;
  if (h_.color_compression == 0) {
    if (f.color.size() != size_t(H * W * 3))
      LESEG_FAIL(where(), ": raw colour has ", f.color.size(), " bytes, expected ", H * W * 3);
    t = Tensor::empty(Shape{H, W, 3}, DType::u8);
    std::memcpy(t.data_ptr(), f.color.data(), f.color.size());
  } else {
    t = decode_image_rgb(f.color.data(), f.color.size(), where() + " colour");
  }
  if (t.size(0) != H || t.size(1) != W)
    LESEG_FAIL(where(), ": colour image is ", t.size(1), "x", t.size(0), ", header says ", W, "x", H);
  return t;
}

Tensor SensReader::decode_depth(const SensFrame& f) const {
  const size_t n = size_t(h_.depth_width) * h_.depth_height;
  std::vector<uint16_t> raw(n);
  if (h_.depth_compression == 0) {
    if (f.depth.size() != 2 * n) LESEG_FAIL(where(), ": raw depth has ", f.depth.size(), " bytes, expected ", 2 * n);
    std::memcpy(raw.data(), f.depth.data(), 2 * n);
  } else {
    uLongf len = uLongf(2 * n);
    int rc = uncompress(reinterpret_cast<Bytef*>(raw.data()), &len, f.depth.data(), uLong(f.depth.size()));
    if (rc != Z_OK) LESEG_FAIL(where(), ": zlib depth does not inflate (zlib error ", rc, ")");
    if (len != 2 * n) LESEG_FAIL(where(), ": depth inflates to ", len, " bytes, expected ", 2 * n);
  }
  Tensor t = Tensor::empty(Shape{int64_t(h_.depth_height), int64_t(h_.depth_width)}, DType::f32);
  float* d = t.data<float>();
  const float inv = 1.0f / h_.depth_shift;
  for (size_t i = 0; i < n; ++i) d[i] = float(raw[i]) * inv;
  return t;
}

SensFrame encode_sens_frame(const SensHeader& h, const Tensor& color, const Tensor& depth_m, const float c2w[16],
                            int jpeg_quality) {
  SensFrame f;
  std::memcpy(f.cam_to_world, c2w, 64);
  LESEG_CHECK(color.size(0) == h.color_height && color.size(1) == h.color_width, "encode_sens_frame: colour ",
              color.shape().str(), " vs header ", h.color_width, "x", h.color_height);
  LESEG_CHECK(depth_m.dtype() == DType::f32 && depth_m.size(0) == h.depth_height && depth_m.size(1) == h.depth_width,
              "encode_sens_frame: depth must be (", h.depth_height, ", ", h.depth_width, ") f32");
  if (h.color_compression == 2) f.color = encode_jpeg(color, jpeg_quality);
  else if (h.color_compression == 0) f.color.assign(color.data<uint8_t>(), color.data<uint8_t>() + color.numel());
  else LESEG_FAIL("encode_sens_frame: only raw or JPEG colour is written");
  std::vector<uint16_t> raw(size_t(depth_m.numel()));
  const float* d = depth_m.data<float>();
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = uint16_t(std::lround(std::clamp(d[i] * h.depth_shift, 0.0f, 65535.0f)));
  if (h.depth_compression == 0) {
    f.depth.resize(raw.size() * 2);
    std::memcpy(f.depth.data(), raw.data(), f.depth.size());
  } else {
    uLongf len = compressBound(uLong(raw.size() * 2));
    f.depth.resize(len);
    if (compress(f.depth.data(), &len, reinterpret_cast<const Bytef*>(raw.data()), uLong(raw.size() * 2)) != Z_OK)
      LESEG_FAIL("encode_sens_frame: zlib compress failed");
    f.depth.resize(len);
  }
  return f;
}

void write_sens(const std::string& path, const SensHeader& h, const std::vector<SensFrame>& frames) {
  std::ofstream o(path, std::ios::binary);
  if (!o) LESEG_FAIL(path, ": cannot create .sens file");
  auto w = [&](const void* p, size_t n) { o.write(static_cast<const char*>(p), std::streamsize(n)); };
  uint64_t n = h.sensor_name.size(), nf = frames.size();
  w(&h.version, 4);
  w(&n, 8);
  w(h.sensor_name.data(), n);
  w(h.intrinsic_color, 64);
  w(h.extrinsic_color, 64);
  w(h.intrinsic_depth, 64);
  w(h.extrinsic_depth, 64);
  w(&h.color_compression, 4);
  w(&h.depth_compression, 4);
  w(&h.color_width, 4);
  w(&h.color_height, 4);
  w(&h.depth_width, 4);
  w(&h.depth_height, 4);
  w(&h.depth_shift, 4);
  w(&nf, 8);
  for (auto& f : frames) {
    uint64_t nc = f.color.size(), nd = f.depth.size();
    w(f.cam_to_world, 64);
    w(&f.timestamp_color, 8);
    w(&f.timestamp_depth, 8);
    w(&nc, 8);
    w(&nd, 8);
    w(f.color.data(), nc);
    w(f.depth.data(), nd);
  }
  uint64_t imu = 0;
  w(&imu, 8);
  if (!o) LESEG_FAIL(path, ": write failed");
}

}  // namespace leseg::io
