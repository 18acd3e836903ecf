// SPDX-License-Identifier: Apache-2.0
#include "io/datasets/pointcept.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "io/formats/npy.h"

namespace fs = std::filesystem;

namespace leseg::io {

namespace {

Tensor as_f32(const Tensor& t, const std::string& p, int64_t n, int64_t cols) {
  LESEG_CHECK(is_floating(t.dtype()), p, ": dtype ", dtype_name(t.dtype()), ", expected f4 or f8");
  LESEG_CHECK(t.ndim() == 2 && t.size(1) == cols && (n < 0 || t.size(0) == n), p, ": shape ", t.shape().str(),
              ", expected (", n < 0 ? std::string("N") : std::to_string(n), ", ", cols, ")");
  return t.dtype() == DType::f32 ? t : t.to(DType::f32).detach();
}

Tensor as_labels(const Tensor& t, const std::string& p, int64_t n, int num_classes, int64_t* bad) {
  LESEG_CHECK(is_integral(t.dtype()) && t.dtype() != DType::b8, p, ": dtype ", dtype_name(t.dtype()), ", expected an integer type");
  LESEG_CHECK(t.numel() == n && t.ndim() <= 2, p, ": shape ", t.shape().str(), " for ", n, " points");
  std::vector<int64_t> v = t.to_vector<int64_t>();
  std::vector<int32_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    bool ok = v[i] >= -1 && (num_classes <= 0 ? v[i] <= INT32_MAX : v[i] < num_classes);
    if (!ok) ++*bad;
    out[i] = ok ? int32_t(v[i]) : -1;
  }
  return Tensor::from_vector(out, Shape{n});
}

}  // namespace

Scene read_pointcept_scene(const std::string& dir, const PointceptOptions& opt, ReadReport* report) {
  if (!fs::is_directory(dir)) LESEG_FAIL(dir, ": Pointcept scene folder does not exist");
  fs::path d(dir);
  Scene s;
  s.name = d.filename().string();
  std::string p = (d / "coord.npy").string();
  if (!fs::exists(p)) LESEG_FAIL(dir, ": no coord.npy");
  Tensor c = as_f32(read_npy(p), p, -1, 3);
  const int64_t n0 = c.size(0);
  // drop non-finite coordinates
  std::vector<float> xyz = c.to_vector<float>();
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < n0; ++i)
    if (std::isfinite(xyz[size_t(3 * i)]) && std::isfinite(xyz[size_t(3 * i + 1)]) && std::isfinite(xyz[size_t(3 * i + 2)])) keep.push_back(i);
  ReadReport rep;
  rep.points_in_file = n0;
  rep.nan_dropped = n0 - int64_t(keep.size());
  auto select = [&](const Tensor& t) {
    if (rep.nan_dropped == 0) return t;
    int64_t row = t.numel() / std::max<int64_t>(n0, 1);
    Shape sh = t.shape();
    std::vector<int64_t> dims = sh.vec();
    dims[0] = int64_t(keep.size());
    Tensor r = Tensor::empty(Shape(dims), t.dtype());
    size_t rb = size_t(row) * dtype_size(t.dtype());
    const uint8_t* src = static_cast<const uint8_t*>(t.data_ptr());
    uint8_t* dst = static_cast<uint8_t*>(r.data_ptr());
    for (size_t j = 0; j < keep.size(); ++j) std::memcpy(dst + j * rb, src + size_t(keep[j]) * rb, rb);
    return r;
  };
  s.coords = select(c);
  if (fs::exists(p = (d / "color.npy").string())) {
    Tensor col = read_npy(p);
    LESEG_CHECK(col.ndim() == 2 && col.size(0) == n0 && col.size(1) == 3, p, ": shape ", col.shape().str(), " for ", n0, " points");
    if (col.dtype() != DType::u8) {
      std::vector<double> v = col.to_vector<double>();
      Tensor u = Tensor::empty(col.shape(), DType::u8);
      uint8_t* ud = u.data<uint8_t>();
      for (size_t i = 0; i < v.size(); ++i) ud[i] = uint8_t(std::clamp(std::isfinite(v[i]) ? std::lround(v[i]) : 0L, 0L, 255L));
      col = u;
    }
    s.colors = select(col);
  }
  if (fs::exists(p = (d / "normal.npy").string())) s.normals = select(as_f32(read_npy(p), p, n0, 3));
  for (auto& f : opt.segment_files) {
    if (fs::exists(p = (d / f).string())) {
      s.labels = select(as_labels(read_npy(p), p, n0, opt.num_classes, &rep.labels_out_of_range));
      break;
    }
  }
  if (fs::exists(p = (d / "instance.npy").string())) {
    int64_t bad = 0;
    s.instances = select(as_labels(read_npy(p), p, n0, 0, &bad));
  }
  if (report) *report = rep;
  return s;
}

std::vector<std::string> list_pointcept_scenes(const std::string& root, const std::string& split) {
  fs::path d = fs::path(root) / split;
  if (!fs::is_directory(d)) LESEG_FAIL(root, ": no split folder '", split, "'");
  std::vector<std::string> r;
  for (auto& e : fs::directory_iterator(d))
    if (e.is_directory() && fs::exists(e.path() / "coord.npy")) r.push_back(e.path().filename().string());
  std::sort(r.begin(), r.end());
  return r;
}

}  // namespace leseg::io
