// SPDX-License-Identifier: Apache-2.0
#include "io/formats/point_cloud.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace leseg::io {

std::string ReadReport::str() const {
  return detail::concat("points in file ", points_in_file, ", dropped (non-finite coords) ", nan_dropped,
                        ", kept invalid ", nan_kept_invalid, ", labels out of range -> ignore ", labels_out_of_range);
}

Scene ply_to_scene(const PlyData& ply, ReadReport* report) {
  for (const char* c : {"x", "y", "z"})
    if (!ply.has(c)) LESEG_FAIL("PLY: vertex element has no '", c, "' property (need x y z)");
  const auto &x = ply.get("x"), &y = ply.get("y"), &z = ply.get("z");
  const int64_t n = ply.num_vertices;
  std::vector<int64_t> keep;
  keep.reserve(size_t(n));
  for (int64_t i = 0; i < n; ++i)
    if (std::isfinite(x[size_t(i)]) && std::isfinite(y[size_t(i)]) && std::isfinite(z[size_t(i)])) keep.push_back(i);
  const int64_t m = int64_t(keep.size());
  ReadReport rep;
  rep.points_in_file = n;
  rep.nan_dropped = n - m;
  Scene s;
  s.coords = Tensor::empty(Shape{m, 3}, DType::f32);
  float* c = s.coords.data<float>();
  for (int64_t j = 0; j < m; ++j) {
    size_t i = size_t(keep[size_t(j)]);
    c[3 * j] = float(x[i]); c[3 * j + 1] = float(y[i]); c[3 * j + 2] = float(z[i]);
  }
  const char* rgb_names[2][3] = {{"red", "green", "blue"}, {"r", "g", "b"}};
  for (auto& names : rgb_names) {
    if (!(ply.has(names[0]) && ply.has(names[1]) && ply.has(names[2]))) continue;
    PlyType t = ply.vertex_types.at(names[0]);
    bool unit = false;
    if (t == PlyType::f32 || t == PlyType::f64) {
      double mx = 0;
      for (int k = 0; k < 3; ++k)
        for (double v : ply.get(names[k])) mx = std::max(mx, v);
      unit = mx <= 1.0;
    }
    s.colors = Tensor::empty(Shape{m, 3}, DType::u8);
    uint8_t* col = s.colors.data<uint8_t>();
    for (int k = 0; k < 3; ++k) {
      const auto& v = ply.get(names[k]);
      for (int64_t j = 0; j < m; ++j) {
        double a = v[size_t(keep[size_t(j)])] * (unit ? 255.0 : 1.0);
        col[3 * j + k] = uint8_t(std::clamp(std::lround(std::isfinite(a) ? a : 0.0), 0L, 255L));
      }
    }
    break;
  }
  if (ply.has("nx") && ply.has("ny") && ply.has("nz")) {
    s.normals = Tensor::empty(Shape{m, 3}, DType::f32);
    float* nrm = s.normals.data<float>();
    const char* nn[3] = {"nx", "ny", "nz"};
    for (int k = 0; k < 3; ++k) {
      const auto& v = ply.get(nn[k]);
      for (int64_t j = 0; j < m; ++j) nrm[3 * j + k] = float(v[size_t(keep[size_t(j)])]);
    }
  }
  auto int_column = [&](const char* name) {
    const auto& v = ply.get(name);
    Tensor t = Tensor::empty(Shape{m}, DType::i32);
    int32_t* d = t.data<int32_t>();
    for (int64_t j = 0; j < m; ++j) {
      double a = v[size_t(keep[size_t(j)])];
      bool ok = std::isfinite(a) && a >= -1 && a <= 2147483647.0;
      if (!ok) ++rep.labels_out_of_range;
      d[j] = ok ? int32_t(a) : -1;
    }
    return t;
  };
  if (ply.has("label")) s.labels = int_column("label");
  if (ply.has("instance")) s.instances = int_column("instance");
  else if (ply.has("objectId")) s.instances = int_column("objectId");
  if (report) *report = rep;
  return s;
}

Scene read_ply_scene(const std::string& path, ReadReport* report) {
  try {
    return ply_to_scene(read_ply(path), report);
  } catch (const Error& e) {
    std::string msg = e.what();
    if (msg.find(path) == std::string::npos) throw Error(path + ": " + msg);
    throw;
  }
}

void write_ply_scene(const std::string& path, const Scene& scene, PlyFormat format) {
  LESEG_CHECK(scene.coords.defined() && scene.coords.ndim() == 2 && scene.coords.size(1) == 3,
              "write_ply_scene(", path, "): coords must be (N, 3)");
  const int64_t n = scene.coords.size(0);
  std::vector<PlyColumn> cols;
  auto add = [&](const Tensor& t, int64_t comps, const std::vector<std::string>& names, PlyType type) {
    if (!t.defined()) return;
    LESEG_CHECK(t.numel() == n * comps, "write_ply_scene(", path, "): ", names[0], " has shape ", t.shape().str(), " for ", n, " points");
    std::vector<double> v = t.to_vector<double>();
    for (int64_t k = 0; k < comps; ++k) {
      PlyColumn c{names[size_t(k)], type, std::vector<double>(size_t(n))};
      for (int64_t i = 0; i < n; ++i) c.values[size_t(i)] = v[size_t(i * comps + k)];
      cols.push_back(std::move(c));
    }
  };
  add(scene.coords, 3, {"x", "y", "z"}, PlyType::f32);
  add(scene.normals, 3, {"nx", "ny", "nz"}, PlyType::f32);
  add(scene.colors, 3, {"red", "green", "blue"}, PlyType::u8);
  add(scene.labels, 1, {"label"}, PlyType::i32);
  add(scene.instances, 1, {"instance"}, PlyType::i32);
  write_ply(path, cols, format);
}

PcdCloud pcd_to_cloud(const PcdData& pcd, bool drop_invalid, ReadReport* report) {
  int fx = pcd.field_index("x"), fy = pcd.field_index("y"), fz = pcd.field_index("z");
  if (fx < 0 || fy < 0 || fz < 0) LESEG_FAIL("PCD: fields x y z required (have ", pcd.fields.size(), " fields)");
  int frgb = pcd.field_index("rgba");
  if (frgb < 0) frgb = pcd.field_index("rgb");
  if (frgb >= 0 && pcd.fields[size_t(frgb)].size != 4) LESEG_FAIL("PCD: rgb/rgba field must have SIZE 4");
  int flab = pcd.field_index("label");
  const int64_t n = pcd.points;
  ReadReport rep;
  rep.points_in_file = n;
  std::vector<int64_t> idx;
  idx.reserve(size_t(n));
  std::vector<uint8_t> ok(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    ok[size_t(i)] = std::isfinite(pcd.value(fx, i)) && std::isfinite(pcd.value(fy, i)) && std::isfinite(pcd.value(fz, i));
    if (ok[size_t(i)] || !drop_invalid) idx.push_back(i);
    if (!ok[size_t(i)]) ++(drop_invalid ? rep.nan_dropped : rep.nan_kept_invalid);
  }
  const int64_t m = int64_t(idx.size());
  PcdCloud c;
  c.width = pcd.width;
  c.height = pcd.height;
  c.coords = Tensor::empty(Shape{m, 3}, DType::f32);
  c.valid = Tensor::empty(Shape{m}, DType::b8);
  c.index = Tensor::empty(Shape{m}, DType::i64);
  float* xyz = c.coords.data<float>();
  bool* val = c.valid.data<bool>();
  int64_t* ix = c.index.data<int64_t>();
  for (int64_t j = 0; j < m; ++j) {
    int64_t i = idx[size_t(j)];
    bool v = ok[size_t(i)];
    xyz[3 * j] = v ? float(pcd.value(fx, i)) : 0.f;
    xyz[3 * j + 1] = v ? float(pcd.value(fy, i)) : 0.f;
    xyz[3 * j + 2] = v ? float(pcd.value(fz, i)) : 0.f;
    val[j] = v;
    ix[j] = i;
  }
  if (frgb >= 0) {
    c.colors = Tensor::empty(Shape{m, 3}, DType::u8);
    uint8_t* col = c.colors.data<uint8_t>();
    for (int64_t j = 0; j < m; ++j) {
      uint32_t p = pcd.bits32(frgb, idx[size_t(j)]);
      col[3 * j] = uint8_t(p >> 16);
      col[3 * j + 1] = uint8_t(p >> 8);
      col[3 * j + 2] = uint8_t(p);
    }
  }
  if (flab >= 0) {
    c.labels = Tensor::empty(Shape{m}, DType::i32);
    int32_t* l = c.labels.data<int32_t>();
    for (int64_t j = 0; j < m; ++j) {
      double a = pcd.value(flab, idx[size_t(j)]);
      bool good = std::isfinite(a) && a >= -1 && a <= 2147483647.0;
      if (!good) ++rep.labels_out_of_range;
      l[j] = good ? int32_t(a) : -1;
    }
  }
  if (report) *report = rep;
  return c;
}

PcdCloud read_pcd_cloud(const std::string& path, bool drop_invalid, ReadReport* report) {
  PcdData d = read_pcd(path);
  try {
    return pcd_to_cloud(d, drop_invalid, report);
  } catch (const Error& e) {
    std::string msg = e.what();
    if (msg.find(path) == std::string::npos) throw Error(path + ": " + msg);
    throw;
  }
}

PcdData cloud_to_pcd(const Tensor& coords, const Tensor& colors, const Tensor& labels, int64_t width, int64_t height) {
  LESEG_CHECK(coords.defined() && coords.ndim() == 2 && coords.size(1) == 3 && coords.dtype() == DType::f32,
              "cloud_to_pcd: coords must be (N, 3) f32");
  const int64_t n = coords.size(0);
  PcdData p;
  p.height = height;
  p.width = width < 0 ? n / std::max<int64_t>(height, 1) : width;
  p.points = n;
  LESEG_CHECK(p.width * p.height == n, "cloud_to_pcd: width ", p.width, " x height ", p.height, " != ", n, " points");
  std::vector<float> xyz = coords.to_vector<float>();
  for (int k = 0; k < 3; ++k) {
    p.fields.push_back(PcdField{std::string(1, char('x' + k)), 4, 'F', 1});
    std::vector<uint8_t> col(size_t(n) * 4);
    for (int64_t i = 0; i < n; ++i) std::memcpy(col.data() + 4 * i, &xyz[size_t(3 * i + k)], 4);
    p.columns.push_back(std::move(col));
  }
  if (colors.defined()) {
    LESEG_CHECK(colors.dtype() == DType::u8 && colors.numel() == 3 * n, "cloud_to_pcd: colors must be (N, 3) u8");
    std::vector<uint8_t> rgb = colors.to_vector<uint8_t>();
    p.fields.push_back(PcdField{"rgba", 4, 'U', 1});
    std::vector<uint8_t> col(size_t(n) * 4);
    for (int64_t i = 0; i < n; ++i) {
      uint32_t v = 0xFF000000u | uint32_t(rgb[size_t(3 * i)]) << 16 | uint32_t(rgb[size_t(3 * i + 1)]) << 8 | rgb[size_t(3 * i + 2)];
      std::memcpy(col.data() + 4 * i, &v, 4);
    }
    p.columns.push_back(std::move(col));
  }
  if (labels.defined()) {
    LESEG_CHECK(labels.numel() == n, "cloud_to_pcd: labels must be (N,)");
    std::vector<int64_t> lab = labels.to_vector<int64_t>();
    p.fields.push_back(PcdField{"label", 4, 'U', 1});
    std::vector<uint8_t> col(size_t(n) * 4);
    for (int64_t i = 0; i < n; ++i) {
      uint32_t v = uint32_t(lab[size_t(i)]);
      std::memcpy(col.data() + 4 * i, &v, 4);
    }
    p.columns.push_back(std::move(col));
  }
  return p;
}

}  // namespace leseg::io
