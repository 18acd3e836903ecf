// SPDX-License-Identifier: Apache-2.0
#include "io/geometry/neighbors.h"

#include <algorithm>
#include <cmath>

namespace leseg::io {

namespace {
void check_points(const Tensor& t, const char* what) {
  LESEG_CHECK(t.defined() && t.ndim() == 2 && t.size(1) == 3, "neighbors: ", what, " must be (N, 3), got ",
              t.defined() ? t.shape().str() : std::string("undefined"));
  LESEG_CHECK(t.dtype() == DType::f32, "neighbors: ", what, " must be f32, got ", dtype_name(t.dtype()));
}
}  // namespace

float auto_cell_size(const Tensor& points, double per_cell) {
  check_points(points, "points");
  const int64_t n = points.size(0);
  if (n < 2) return 1.f;
  std::vector<float> p = points.to_vector<float>();
  double lo[3] = {1e300, 1e300, 1e300}, hi[3] = {-1e300, -1e300, -1e300};
  for (int64_t i = 0; i < n; ++i)
    for (int a = 0; a < 3; ++a) {
      lo[a] = std::min(lo[a], double(p[3 * i + a]));
      hi[a] = std::max(hi[a], double(p[3 * i + a]));
    }
  const double ex = hi[0] - lo[0], ey = hi[1] - lo[1], ez = hi[2] - lo[2];
  const double area = std::max(2.0 * (ex * ey + ey * ez + ex * ez), 1e-12);
  double cell = std::sqrt(area / double(n) * per_cell);
  const double extent = std::max({ex, ey, ez, 1e-6});
  cell = std::max(cell, extent / double(1 << 19));  // keep cell coordinates packable
  return float(cell);
}

NeighborIndex::NeighborIndex(const Tensor& ref, float cell) : ref_(ref) {
  check_points(ref, "reference points");
  if (!(cell > 0.f)) cell = auto_cell_size(ref);
  const int64_t n = ref.size(0);
  Tensor host = ref.device().is_cpu() ? ref : ref.to(Device::cpu());
  capacity_ = kernels::neighbors_grid_capacity(n);
  keys_ = Tensor::empty(Shape{int64_t(capacity_)}, DType::i64);
  start_ = Tensor::empty(Shape{int64_t(capacity_)}, DType::i64);
  count_ = Tensor::empty(Shape{int64_t(capacity_)}, DType::i32);
  sorted_ = Tensor::empty(Shape{n}, DType::i32);
  try {
    kernels::neighbors_grid_build_cpu(host.data<float>(), n, cell, capacity_,
                                      reinterpret_cast<uint64_t*>(keys_.data<int64_t>()), start_.data<int64_t>(),
                                      count_.data<int32_t>(), sorted_.data<int32_t>(), &params_);
  } catch (const std::invalid_argument& e) {
    LESEG_FAIL("NeighborIndex: ", e.what());
  }
  if (ref.device().is_cuda()) {
    keys_ = keys_.to(ref.device());
    start_ = start_.to(ref.device());
    count_ = count_.to(ref.device());
    sorted_ = sorted_.to(ref.device());
  }
}

kernels::GridView NeighborIndex::view() const {
  kernels::GridView g;
  g.keys = reinterpret_cast<const uint64_t*>(keys_.data<int64_t>());
  g.start = start_.data<int64_t>();
  g.count = count_.data<int32_t>();
  g.sorted_idx = sorted_.data<int32_t>();
  g.capacity = capacity_;
  g.params = params_;
  return g;
}

KnnResult NeighborIndex::knn(const Tensor& query, int k) const {
  check_points(query, "query points");
  LESEG_CHECK(k >= 1, "knn: k must be >= 1, got ", k);
  LESEG_CHECK(query.device() == ref_.device(), "knn: query on ", query.device().str(), " but reference on ",
              ref_.device().str());
  const Device dev = ref_.device();
  const int64_t q = query.size(0);
  KnnResult r{Tensor::empty(Shape{q, k}, DType::i32, dev), Tensor::empty(Shape{q, k}, DType::f32, dev)};
  const kernels::GridView g = view();
  LESEG_DISPATCH_DEVICE(dev, "knn",
      kernels::knn_query_cpu(ref_.data<float>(), g, query.data<float>(), q, k, r.idx.data<int32_t>(), r.d2.data<float>()),
      kernels::knn_query_cuda(ref_.data<float>(), g, query.data<float>(), q, k, r.idx.data<int32_t>(), r.d2.data<float>(),
                              current_stream(dev)));
  return r;
}

RadiusResult NeighborIndex::radius(const Tensor& query, float rad) const {
  check_points(query, "query points");
  LESEG_CHECK(rad >= 0.f && std::isfinite(rad), "radius_search: radius must be finite and >= 0, got ", rad);
  LESEG_CHECK(query.device() == ref_.device(), "radius_search: query on ", query.device().str(),
              " but reference on ", ref_.device().str());
  const Device dev = ref_.device();
  const int64_t q = query.size(0);
  const kernels::GridView g = view();
  Tensor counts = Tensor::empty(Shape{q}, DType::i32, dev);
  LESEG_DISPATCH_DEVICE(dev, "radius_search",
      kernels::radius_count_cpu(ref_.data<float>(), g, query.data<float>(), q, rad, counts.data<int32_t>()),
      kernels::radius_count_cuda(ref_.data<float>(), g, query.data<float>(), q, rad, counts.data<int32_t>(),
                                 current_stream(dev)));
  std::vector<int32_t> c = counts.to_vector<int32_t>();
  std::vector<int64_t> off(size_t(q) + 1, 0);
  for (int64_t i = 0; i < q; ++i) off[size_t(i) + 1] = off[size_t(i)] + c[size_t(i)];
  RadiusResult r;
  r.offsets = Tensor::from_vector(off, Shape{q + 1}, dev);
  r.idx = Tensor::empty(Shape{off.back()}, DType::i32, dev);
  r.d2 = Tensor::empty(Shape{off.back()}, DType::f32, dev);
  LESEG_DISPATCH_DEVICE(dev, "radius_search",
      kernels::radius_fill_cpu(ref_.data<float>(), g, query.data<float>(), q, rad, r.offsets.data<int64_t>(),
                               r.idx.data<int32_t>(), r.d2.data<float>()),
      kernels::radius_fill_cuda(ref_.data<float>(), g, query.data<float>(), q, rad, r.offsets.data<int64_t>(),
                                r.idx.data<int32_t>(), r.d2.data<float>(), current_stream(dev)));
  return r;
}

KnnResult knn(const Tensor& ref, const Tensor& query, int k, float cell) { return NeighborIndex(ref, cell).knn(query, k); }
RadiusResult radius_search(const Tensor& ref, const Tensor& query, float r, float cell) {
  return NeighborIndex(ref, cell > 0.f ? cell : std::max(r, auto_cell_size(ref, 1.0))).radius(query, r);
}

}  // namespace leseg::io
